/*
 * reindex_bench - how long a FAQ write waits while `bsctl faq reindex`
 * runs, with everything queued at once versus queued in windows.
 *
 * The indexer reads each partition of <product>.faq in order, so a write
 * published during a re-index is applied only after the reindex events
 * queued before it on its partition. How long that is depends on how much
 * faster bsctl queues than the indexer embeds, so the bench runs the real
 * faq-indexer twice: with the hash embedder (fast: about as fast as bsctl
 * publishes) and with EMBEDDER=openai against a simulated model server
 * served here, which answers every input after --embed-ms milliseconds
 * (default 1: about 1,000 chunks/s, a small model on a GPU; a CPU model is
 * slower still). For each embedder:
 *   1. N documents are in faq_documents (seeded straight in SQL once), all
 *      stale for the embedder's model, and one probe document;
 *   2. for each --windows value: the real `bsctl faq reindex --stale
 *      --window W` runs, and meanwhile a new version of the probe document
 *      is published every 200 ms and timed until faq-indexer has stored it;
 *   3. it prints the re-index's wall time and documents/s and the probe
 *      writes' p50/p99/max (publish to stored), next to the same probe with
 *      no re-index running.
 * It prints figures and asserts nothing; bench/reindex-bench.sh starts
 * PostgreSQL and the devbroker around it.
 *
 *   DATABASE_URL=<owner conninfo> SERVICE_DATABASE_URL=<bs_service conninfo>
 *   KAFKA_BOOTSTRAP_SERVERS=... reindex_bench --bsctl PATH --indexer PATH
 *       [-n 20000] [--windows 0,1000] [--embed-ms 1]
 */
#include "bs/codec.h"
#include "bs/db.h"
#include "bs/error.h"
#include "bs/events.h"
#include "bs/http.h"
#include "bs/log.h"
#include "bs/product.h"
#include "bs/publisher.h"

#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#define PROBE_ID         "00000000-0000-4000-8000-00000000beef"
#define PROBE_EVERY_MS   200
#define PROBE_POLL_MS    5
#define PROBE_MAX_WAIT_S 300
#define PROBES_MAX       4096
#define IDLE_PROBES      10
#define WINDOWS_MAX      8
#define DIMENSION        256
#define INDEXER_GROUP    "reindex-bench"

struct options {
    long documents;
    long windows[WINDOWS_MAX];
    int nwindows;
    long embed_ms;
    const char *bsctl;
    const char *indexer;
    const char *product;
};

struct bench {
    struct options o;
    PGconn *conn;
    struct bs_codec *codec;
    struct bs_publisher *publisher;
    char topic[128];
    int64_t probe_version;
    struct bs_http_server *model_server;
    pid_t indexer;
    char errstr[512];
};

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

    nanosleep(&ts, NULL);
}

/* ---- set-up ------------------------------------------------------------- */

static int connect_db(struct bench *b)
{
    const char *params[] = {b->o.product};
    PGresult *res = NULL;
    int result;

    b->conn = bs_db_connect(getenv("DATABASE_URL"), "reindex_bench", b->errstr,
                            sizeof(b->errstr));
    if (!b->conn)
        return BS_EDB;
    result = bs_db_query(b->conn, "SELECT set_config('app.product', $1, false)",
                         1, params, &res, b->errstr, sizeof(b->errstr));
    PQclear(res);
    return result;
}

/* N documents of about 700 bytes (one or two chunks), never embedded. */
static int seed_documents(struct bench *b)
{
    char count[32];
    const char *params[] = {b->o.product, count};
    PGresult *res = NULL;
    int result;

    snprintf(count, sizeof(count), "%ld", b->o.documents);
    result = bs_db_query(
        b->conn,
        "INSERT INTO faq_documents (product, id, title, content, status)"
        " SELECT $1, gen_random_uuid(), 'Question ' || i,"
        " repeat('Guests may check in from two in the afternoon. ', 6)"
        " || E'\\n\\n' || repeat('Deposit ' || i || ' is returned after"
        " checkout. ', 6), 'published'"
        " FROM generate_series(1, $2::int) AS i",
        2, params, &res, b->errstr, sizeof(b->errstr));
    PQclear(res);
    return result;
}

static int mark_all_stale(struct bench *b)
{
    const char *params[] = {b->o.product, PROBE_ID};
    PGresult *res = NULL;
    int result = bs_db_query(b->conn,
                             "UPDATE faq_documents SET embedding_model ="
                             " 'reindex-bench-old' WHERE product = $1"
                             " AND id <> $2::uuid",
                             2, params, &res, b->errstr, sizeof(b->errstr));

    PQclear(res);
    return result;
}

/* ---- the simulated model server ----------------------------------------- */

/* POST /v1/embeddings: {"input": [...]} answered after embed_ms per input,
 * each with a vector that is 1 at a place hashed from its text. */
static void handle_embeddings(struct bs_http_request *req)
{
    const struct bench *b = req->ctx;
    json_t *body = json_loadb((const char *)req->body, req->body_len, 0, NULL);
    json_t *inputs = json_object_get(body, "input"), *data = json_array();
    json_t *answer, *item;
    size_t i;

    if (!json_is_array(inputs) || !data) {
        json_decref(body);
        json_decref(data);
        bs_http_respond_error(req, 400, "bad_request", "no input array");
        return;
    }
    sleep_ms(b->o.embed_ms * (long)json_array_size(inputs));
    json_array_foreach(inputs, i, item)
    {
        const char *text = json_string_value(item);
        uint32_t hash = 2166136261u; /* FNV-1a */
        json_t *vector = json_array();

        for (const char *c = text ? text : ""; *c; c++)
            hash = (hash ^ (unsigned char)*c) * 16777619u;
        for (size_t d = 0; d < DIMENSION; d++)
            json_array_append_new(vector,
                                  json_real(d == hash % DIMENSION ? 1.0 : 0.0));
        json_array_append_new(data,
                              json_pack("{s:I,s:o}", "index", (json_int_t)i,
                                        "embedding", vector));
    }
    answer = json_pack("{s:o,s:s}", "data", data, "model", "bench-model");
    bs_http_respond_json(req, 200, answer);
    json_decref(answer);
    json_decref(body);
}

static int model_server_start(struct bench *b)
{
    static const struct bs_http_route routes[] = {
        {"POST", "/v1/embeddings", handle_embeddings, 0},
    };
    struct bs_http_config config = {.product = b->o.product,
                                    .service = "reindex_bench",
                                    .routes = routes,
                                    .route_count = 1,
                                    .ctx = b};

    return bs_http_server_start(&config, &b->model_server, b->errstr,
                                sizeof(b->errstr));
}

/* The embedder variables for faq-indexer and bsctl alike (bsctl names the
 * current model from them); `simulated`: the model server above. */
static void set_embedder_env(const struct bench *b, bool simulated)
{
    char url[128];

    snprintf(url, sizeof(url), "http://127.0.0.1:%u/v1/embeddings",
             bs_http_server_port(b->model_server));
    setenv("EMBEDDER", simulated ? "openai" : "hash", 1);
    setenv("EMBEDDINGS_DIM", "256", 1);
    setenv("EMBEDDINGS_URL", url, 1);
    setenv("EMBEDDINGS_MODEL", "bench-model", 1);
}

/* Starts faq-indexer (the same consumer group each time, so a restart
 * resumes where the last one stopped). */
static int indexer_start(struct bench *b)
{
    char *argv[] = {(char *)b->o.indexer, NULL};
    posix_spawn_file_actions_t actions;
    int spawned;

    setenv("PRODUCT", b->o.product, 1);
    setenv("DATABASE_URL", getenv("SERVICE_DATABASE_URL"), 1);
    setenv("CONSUMER_GROUP", INDEXER_GROUP, 1);
    setenv("HTTP_PORT", "0", 1);
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
    spawned =
        posix_spawn(&b->indexer, b->o.indexer, &actions, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&actions);
    setenv("DATABASE_URL", getenv("OWNER_DATABASE_URL"), 1);
    if (spawned != 0) {
        b->indexer = 0;
        snprintf(b->errstr, sizeof(b->errstr), "cannot start %s", b->o.indexer);
        return BS_EIO;
    }
    return BS_OK;
}

static void indexer_stop(struct bench *b)
{
    int status;

    if (b->indexer <= 0)
        return;
    kill(b->indexer, SIGTERM);
    waitpid(b->indexer, &status, 0);
    b->indexer = 0;
}

/* ---- the probe write ------------------------------------------------ */

static int publish_probe(struct bench *b, int64_t version)
{
    char event_id[64], title[64];
    struct bs_faq_event e = {0};
    unsigned char *value = NULL;
    size_t len = 0;
    int result;

    snprintf(event_id, sizeof(event_id), "reindex-bench-%ld-%" PRId64,
             (long)getpid(), version);
    snprintf(title, sizeof(title), "Probe question, version %" PRId64, version);
    e.meta.event_id = event_id;
    e.meta.product = (char *)b->o.product;
    e.meta.occurred_at = (int64_t)time(NULL) * 1000;
    e.meta.source = "reindex_bench";
    e.action = BS_FAQ_UPSERT;
    e.document_id = PROBE_ID;
    e.category = "general";
    e.title = title;
    e.content = "Where do I leave the keys when I check out early?";
    e.status = "published";
    e.version = version;
    result = bs_faq_event_encode(b->codec, &e, &value, &len, b->errstr,
                                 sizeof(b->errstr));
    if (result == BS_OK)
        result = bs_publisher_send_sync(b->publisher, b->topic, PROBE_ID,
                                        strlen(PROBE_ID), value, len, NULL, 0,
                                        10000, b->errstr, sizeof(b->errstr));
    free(value);
    return result;
}

static int64_t stored_probe_version(struct bench *b)
{
    const char *params[] = {PROBE_ID};
    PGresult *res = NULL;
    int64_t version = -1;

    if (bs_db_query(b->conn,
                    "SELECT coalesce(max(version), 0) FROM faq_documents"
                    " WHERE id = $1::uuid AND embedded_at IS NOT NULL",
                    1, params, &res, b->errstr, sizeof(b->errstr)) == BS_OK)
        version = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    PQclear(res);
    return version;
}

/* Publishes the next probe version and waits until it is stored; the
 * wait in milliseconds, or a negative number. */
static double probe_once(struct bench *b)
{
    int64_t version = ++b->probe_version;
    double t0 = now_s();

    if (publish_probe(b, version) != BS_OK)
        return -1;
    while (now_s() - t0 < PROBE_MAX_WAIT_S) {
        int64_t stored = stored_probe_version(b);

        if (stored < 0)
            return -1;
        if (stored >= version)
            return (now_s() - t0) * 1000;
        sleep_ms(PROBE_POLL_MS);
    }
    snprintf(b->errstr, sizeof(b->errstr),
             "probe version %" PRId64 " not stored within %d s", version,
             PROBE_MAX_WAIT_S);
    return -1;
}

/* ---- figures ------------------------------------------------------------- */

static int compare_ms(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return (x > y) - (x < y);
}

/* "p50 a ms, p99 b ms, max c ms (n writes)"; sorts ms. */
static void print_waits(const char *what, double *ms, size_t n)
{
    if (n == 0) {
        printf("%-28s no probe write completed\n", what);
        return;
    }
    qsort(ms, n, sizeof(*ms), compare_ms);
    printf("%-28s write stored after p50 %8.1f ms  p99 %8.1f ms  max "
           "%8.1f ms  (%zu writes)\n",
           what, ms[n / 2], ms[(n * 99) / 100 < n ? (n * 99) / 100 : n - 1],
           ms[n - 1], n);
}

/* ---- one re-index ------------------------------------------------------- */

static int spawn_reindex(struct bench *b, long window, pid_t *pid)
{
    char window_text[32];
    char *argv[] = {(char *)b->o.bsctl,
                    "faq",
                    "reindex",
                    "--product",
                    (char *)b->o.product,
                    "--stale",
                    "--window",
                    window_text,
                    NULL};
    posix_spawn_file_actions_t actions;
    int spawned;

    snprintf(window_text, sizeof(window_text), "%ld", window);
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0);
    spawned = posix_spawn(pid, b->o.bsctl, &actions, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&actions);
    return spawned == 0 ? BS_OK : BS_EIO;
}

/* Probes while bsctl runs; prints the figures of one window size. */
static int bench_window(struct bench *b, long window)
{
    double *waits = calloc(PROBES_MAX, sizeof(*waits)), t0, elapsed;
    size_t n = 0;
    pid_t pid;
    int status = 0, result = mark_all_stale(b);
    char what[64];

    if (!waits)
        return BS_ENOMEM;
    t0 = now_s();
    if (result == BS_OK)
        result = spawn_reindex(b, window, &pid);
    while (result == BS_OK && waitpid(pid, &status, WNOHANG) == 0) {
        double ms = probe_once(b);

        if (ms < 0)
            result = BS_EIO;
        else if (n < PROBES_MAX)
            waits[n++] = ms;
        sleep_ms(PROBE_EVERY_MS);
    }
    elapsed = now_s() - t0;
    if (result == BS_OK && (!WIFEXITED(status) || WEXITSTATUS(status) != 0)) {
        snprintf(b->errstr, sizeof(b->errstr),
                 "bsctl faq reindex --window %ld exited %d", window,
                 WIFEXITED(status) ? WEXITSTATUS(status) : -1);
        result = BS_EIO;
    }
    if (result == BS_OK) {
        snprintf(what, sizeof(what), "window %ld%s:", window,
                 window == 0 ? " (all at once)" : "");
        printf("%-28s %ld documents re-indexed in %.1f s, %.0f/s\n", what,
               b->o.documents, elapsed, (double)b->o.documents / elapsed);
        print_waits("", waits, n);
    }
    free(waits);
    return result;
}

static int bench_idle(struct bench *b)
{
    double waits[IDLE_PROBES];

    for (size_t i = 0; i < IDLE_PROBES; i++) {
        waits[i] = probe_once(b);
        if (waits[i] < 0)
            return BS_EIO;
        sleep_ms(PROBE_EVERY_MS);
    }
    print_waits("no re-index:", waits, IDLE_PROBES);
    return BS_OK;
}

/* ---- main --------------------------------------------------------------- */

static int parse_windows(struct options *o, const char *text)
{
    char *copy = strdup(text), *save = NULL;

    o->nwindows = 0;
    for (char *t = copy ? strtok_r(copy, ",", &save) : NULL;
         t && o->nwindows < WINDOWS_MAX; t = strtok_r(NULL, ",", &save))
        o->windows[o->nwindows++] = strtol(t, NULL, 10);
    free(copy);
    return o->nwindows > 0 ? 0 : -1;
}

/* One embedder: the indexer started with it, caught up, then the probe
 * alone and during each window's re-index. */
static int bench_embedder(struct bench *b, bool simulated)
{
    int result;

    set_embedder_env(b, simulated);
    if (simulated)
        printf("\nembedder: simulated model server, %ld ms per input\n",
               b->o.embed_ms);
    else
        printf("\nembedder: hash\n");
    fflush(stdout);
    result = indexer_start(b);
    if (result == BS_OK)
        result = probe_once(b) < 0 ? BS_EIO : BS_OK;
    if (result == BS_OK)
        result = bench_idle(b);
    for (int i = 0; result == BS_OK && i < b->o.nwindows; i++)
        result = bench_window(b, b->o.windows[i]);
    indexer_stop(b);
    return result;
}

static int run(struct bench *b)
{
    const char *bootstrap = getenv("KAFKA_BOOTSTRAP_SERVERS");
    int result = connect_db(b);

    if (result == BS_OK)
        result = bs_codec_new_builtin(&b->codec, b->errstr, sizeof(b->errstr));
    if (result == BS_OK)
        result =
            bs_publisher_new(&b->publisher, bootstrap, "reindex_bench",
                             b->o.product, NULL, b->errstr, sizeof(b->errstr));
    if (result == BS_OK)
        result =
            bs_product_topic(b->o.product, "faq", b->topic, sizeof(b->topic));
    if (result == BS_OK)
        result = model_server_start(b);
    if (result == BS_OK)
        result = seed_documents(b);
    if (result == BS_OK)
        result = bench_embedder(b, false);
    if (result == BS_OK)
        result = bench_embedder(b, true);
    return result;
}

int main(int argc, char **argv)
{
    struct bench b = {
        .o = {.documents = 20000,
              .embed_ms = 1,
              .bsctl = "./build/tools/bsctl/bsctl",
              .indexer = "./build/services/faq-indexer/faq-indexer",
              .product = getenv("PRODUCT") ? getenv("PRODUCT") : "bestays"}};
    int result;

    parse_windows(&b.o, "0,1000");
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "-n") == 0)
            b.o.documents = strtol(argv[i + 1], NULL, 10);
        else if (strcmp(argv[i], "--embed-ms") == 0)
            b.o.embed_ms = strtol(argv[i + 1], NULL, 10);
        else if (strcmp(argv[i], "--windows") == 0 &&
                 parse_windows(&b.o, argv[i + 1]) != 0)
            b.o.documents = -1;
        else if (strcmp(argv[i], "--bsctl") == 0)
            b.o.bsctl = argv[i + 1];
        else if (strcmp(argv[i], "--indexer") == 0)
            b.o.indexer = argv[i + 1];
    }
    if (b.o.documents <= 0 || b.o.embed_ms < 0 || !getenv("DATABASE_URL") ||
        !getenv("SERVICE_DATABASE_URL") || !getenv("KAFKA_BOOTSTRAP_SERVERS")) {
        fprintf(stderr, "usage: DATABASE_URL=... SERVICE_DATABASE_URL=... "
                        "KAFKA_BOOTSTRAP_SERVERS=... reindex_bench [-n N] "
                        "[--windows 0,1000] [--embed-ms MS] [--bsctl PATH] "
                        "[--indexer PATH]\n");
        return 64;
    }
    bs_log_init("reindex_bench", b.o.product, BS_LOG_WARN);
    setenv("OWNER_DATABASE_URL", getenv("DATABASE_URL"), 1);
    printf("reindex_bench: %s, %ld documents, a probe write every %d ms\n",
           b.o.product, b.o.documents, PROBE_EVERY_MS);
    result = run(&b);
    if (result != BS_OK)
        fprintf(stderr, "reindex_bench: %s\n", b.errstr);
    indexer_stop(&b);
    if (b.model_server) {
        bs_http_server_drain(b.model_server, 1000);
        bs_http_server_free(b.model_server);
    }
    bs_publisher_free(b.publisher);
    bs_codec_free(b.codec);
    if (b.conn)
        PQfinish(b.conn);
    return result == BS_OK ? 0 : 1;
}
