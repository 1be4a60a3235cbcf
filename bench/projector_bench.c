/*
 * projector_bench - UserEvents per second applied by the real user-projector.
 *
 * Produces N UserEvents into <PRODUCT>.users (idempotent producer,
 * acks=all): mostly user.created for distinct users, some user.updated of
 * users created earlier (with a newer Clerk updated_at) and a few
 * user.deleted. Then starts the user-projector binary with a consumer group
 * of its own (so it reads the topic from the beginning) and polls its
 * /metrics until bs_events_applied_total plus the dead-lettered count
 * reaches every message the topic holds. Prints the figures of both phases;
 * it asserts nothing (figures depend on the machine, the broker and the
 * database). bench/projector-bench.sh sets up PostgreSQL and the devbroker.
 *
 *   KAFKA_BOOTSTRAP_SERVERS=... DATABASE_URL=<bs_service conninfo> \
 *       projector_bench --projector PATH [-n 100000]
 *
 * PRODUCT (default bestays) names the product; BATCH_SIZE and BATCH_WAIT_MS,
 * when set, reach the projector through the environment.
 */
#include "bs/codec.h"
#include "bs/error.h"
#include "bs/events.h"
#include "bs/kafka.h"

#include <curl/curl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_COUNT 100000
#define POLL_MS       50
#define DEADLINE_S    600
#define WATERMARK_MS  10000
#define SERVICE       "projector-bench"

extern char **environ;

struct bench {
    const char *projector; /* the binary */
    const char *bootstrap;
    const char *conninfo;
    const char *product;
    char topic[128];
    char prefix[64]; /* makes ids unique to this run */
    long count;
    long delivered;
    long failed;
};

static double now_seconds(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m,
                        void *opaque)
{
    struct bench *bench = opaque;

    (void)rk;
    if (m->err)
        bench->failed++;
    else
        bench->delivered++;
}

/* ---- produce ------------------------------------------------------------ */

/*
 * Event i of the mix: of every 100, 85 create a new user, 12 update and 3
 * delete a user created earlier (picked by a multiplicative hash of i, so
 * spread over every user so far). Fills *e (strings in the buffers).
 */
static void make_event(const struct bench *bench, long i,
                       struct bs_user_event *e, char *id, char *event_id,
                       size_t size)
{
    long slot = i % 100, created = (i / 100) * 85 + (slot < 85 ? slot : 84);
    long earlier = created > 0
                       ? (long)(((uint64_t)i * 2654435761u) % (uint64_t)created)
                       : 0;
    long user = created;

    e->action = BS_USER_CREATED;
    if (slot >= 97 && created > 0) {
        e->action = BS_USER_DELETED;
        user = earlier;
    } else if (slot >= 85 && created > 0) {
        e->action = BS_USER_UPDATED;
        user = earlier;
    }
    snprintf(id, size, "%s-user-%ld", bench->prefix, user);
    snprintf(event_id, size, "%s-msg-%ld", bench->prefix, i);
    e->meta.event_id = event_id;
    e->meta.product = (char *)bench->product;
    e->meta.occurred_at = 1700000000000 + i;
    e->meta.source = SERVICE;
    e->clerk_user_id = id;
    e->email = e->action == BS_USER_DELETED ? NULL : "bench@example.org";
    e->first_name = e->action == BS_USER_DELETED ? NULL : "Bench";
    e->last_name = e->action == BS_USER_DELETED ? NULL : "Mark";
    e->has_clerk_updated_at = true;
    e->clerk_updated_at = 1700000000000 + i;
}

static int produce_one(struct bench *bench, rd_kafka_t *rk,
                       const struct bs_codec *codec, long i, char *errstr,
                       size_t size)
{
    struct bs_user_event e = {0};
    char id[128], event_id[128];
    unsigned char *bytes = NULL;
    size_t len = 0;
    rd_kafka_headers_t *headers;
    rd_kafka_resp_err_t err;
    int result;

    make_event(bench, i, &e, id, event_id, sizeof(id));
    result = bs_user_event_encode(codec, &e, &bytes, &len, errstr, size);
    if (result != BS_OK)
        return result;
    headers = rd_kafka_headers_new(1);
    bs_kafka_headers_add_product(headers, bench->product);
    do {
        err = rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(bench->topic),
                                RD_KAFKA_V_KEY(id, strlen(id)),
                                RD_KAFKA_V_VALUE(bytes, len),
                                RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_FREE),
                                RD_KAFKA_V_HEADERS(headers), RD_KAFKA_V_END);
        if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL)
            rd_kafka_poll(rk, 10);
    } while (err == RD_KAFKA_RESP_ERR__QUEUE_FULL);
    if (err) {
        free(bytes);
        rd_kafka_headers_destroy(headers);
        return bs_fail(errstr, size, BS_EKAFKA, "produce: %s",
                       rd_kafka_err2str(err));
    }
    rd_kafka_poll(rk, 0);
    return BS_OK;
}

/* Every message the topic holds (the sum of its partitions' high
 * watermarks); -1 on failure. */
static long topic_messages(rd_kafka_t *rk, const char *topic)
{
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
    long total = 0;

    if (!rkt || rd_kafka_metadata(rk, 0, rkt, &md, WATERMARK_MS) != 0 ||
        md->topic_cnt != 1)
        total = -1;
    for (int p = 0; total >= 0 && p < md->topics[0].partition_cnt; p++) {
        int64_t low = 0, high = 0;

        if (rd_kafka_query_watermark_offsets(
                rk, topic, md->topics[0].partitions[p].id, &low, &high,
                WATERMARK_MS) != RD_KAFKA_RESP_ERR_NO_ERROR)
            total = -1;
        else
            total += (long)(high - low);
    }
    if (md)
        rd_kafka_metadata_destroy(md);
    if (rkt)
        rd_kafka_topic_destroy(rkt);
    return total;
}

/* Produces the N events and waits for every acknowledgement. Returns the
 * message count of the topic afterwards, -1 on failure. */
static long produce_all(struct bench *bench, double *seconds)
{
    rd_kafka_conf_t *conf = NULL;
    struct bs_codec *codec = NULL;
    rd_kafka_t *rk = NULL;
    char errstr[512];
    long total = -1;
    double started;
    int result;

    result = bs_codec_new_builtin(&codec, errstr, sizeof(errstr));
    if (result == BS_OK)
        result =
            bs_kafka_producer_conf_new(&conf, bench->bootstrap, SERVICE,
                                       bench->product, errstr, sizeof(errstr));
    if (result == BS_OK) {
        rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
        rd_kafka_conf_set_opaque(conf, bench);
        result = bs_kafka_producer_new(&rk, conf, errstr, sizeof(errstr));
    }
    if (result != BS_OK)
        goto out;

    started = now_seconds();
    for (long i = 0; i < bench->count && result == BS_OK; i++)
        result = produce_one(bench, rk, codec, i, errstr, sizeof(errstr));
    while (result == BS_OK && rd_kafka_outq_len(rk) > 0)
        rd_kafka_poll(rk, 50);
    *seconds = now_seconds() - started;
    if (result == BS_OK)
        total = topic_messages(rk, bench->topic);
out:
    if (result != BS_OK)
        fprintf(stderr, "projector_bench: %s\n", errstr);
    if (rk)
        rd_kafka_destroy(rk);
    bs_codec_free(codec);
    return total;
}

/* ---- the projector ------------------------------------------------------ */

/* A free loopback port (bound and released: good enough for a bench). */
static unsigned free_port(void)
{
    struct sockaddr_in addr = {.sin_family = AF_INET};
    socklen_t len = sizeof(addr);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    unsigned port = 0;

    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd >= 0 && bind(fd, (struct sockaddr *)&addr, sizeof(addr)) == 0 &&
        getsockname(fd, (struct sockaddr *)&addr, &len) == 0)
        port = ntohs(addr.sin_port);
    if (fd >= 0)
        close(fd);
    return port;
}

static pid_t projector_start(const struct bench *bench, unsigned port)
{
    char v_group[160], v_port[32];
    pid_t pid;

    snprintf(v_group, sizeof(v_group), "%s-%s", SERVICE, bench->prefix);
    snprintf(v_port, sizeof(v_port), "%u", port);
    pid = fork();
    if (pid != 0)
        return pid;
    setenv("PRODUCT", bench->product, 1);
    setenv("DATABASE_URL", bench->conninfo, 1);
    setenv("KAFKA_BOOTSTRAP_SERVERS", bench->bootstrap, 1);
    setenv("CONSUMER_GROUP", v_group, 1);
    setenv("HTTP_ADDR", "127.0.0.1", 1);
    setenv("HTTP_PORT", v_port, 1);
    if (!getenv("LOG_LEVEL"))
        setenv("LOG_LEVEL", "warn", 1);
    execv(bench->projector, (char *const[]){(char *)bench->projector, NULL});
    _exit(127);
}

static size_t collect(char *data, size_t size, size_t n, void *ctx)
{
    char **text = ctx;
    size_t old = *text ? strlen(*text) : 0;
    char *grown = realloc(*text, old + size * n + 1);

    if (!grown)
        return 0;
    memcpy(grown + old, data, size * n);
    grown[old + size * n] = '\0';
    *text = grown;
    return size * n;
}

/* The sum of every series of metric `name` in the text (the value is the
 * line's last field). */
static double metric_sum(const char *text, const char *name)
{
    size_t n = strlen(name);
    double sum = 0;

    for (const char *p = text; p && *p;) {
        const char *end = strchr(p, '\n');
        const char *last = NULL;

        if (strncmp(p, name, n) == 0 && (p[n] == '{' || p[n] == ' '))
            for (const char *q = p; *q && q != end; q++)
                if (*q == ' ')
                    last = q;
        if (last)
            sum += strtod(last + 1, NULL);
        p = end ? end + 1 : NULL;
    }
    return sum;
}

struct apply_figures {
    double applied, dead;
    double batch_s, batches; /* time spent in batches, and their count */
    double total_s;          /* from the projector's start */
    double first_s;          /* when the first applied record showed */
    bool complete;
};

/* Applied and dead-lettered so far; false when /metrics did not answer. */
static bool read_metrics(CURL *curl, struct apply_figures *f)
{
    char *text = NULL;
    long status = 0;

    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &text);
    if (curl_easy_perform(curl) == CURLE_OK)
        curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    if (status == 200) {
        f->applied = metric_sum(text, "bs_events_applied_total");
        f->dead = metric_sum(text, "bs_events_dead_lettered_total");
        f->batch_s = metric_sum(text, "bs_batch_duration_seconds_sum");
        f->batches = metric_sum(text, "bs_batch_duration_seconds_count");
    }
    free(text);
    return status == 200;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

    nanosleep(&ts, NULL);
}

/* Polls /metrics until `target` records are applied or dead-lettered. */
static void wait_applied(pid_t pid, unsigned port, long target,
                         struct apply_figures *f)
{
    char url[128];
    CURL *curl = curl_easy_init();
    double started = now_seconds();
    int status;

    snprintf(url, sizeof(url), "http://127.0.0.1:%u/metrics", port);
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, 5000L);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, collect);
    f->first_s = -1;
    while (now_seconds() - started < DEADLINE_S &&
           waitpid(pid, &status, WNOHANG) == 0) {
        if (read_metrics(curl, f)) {
            if (f->first_s < 0 && f->applied > 0)
                f->first_s = now_seconds() - started;
            if (f->applied + f->dead >= (double)target) {
                f->complete = true;
                break;
            }
        }
        sleep_ms(POLL_MS);
    }
    f->total_s = now_seconds() - started;
    curl_easy_cleanup(curl);
}

static int projector_stop(pid_t pid)
{
    int status = 0;

    kill(pid, SIGTERM);
    if (waitpid(pid, &status, 0) != pid)
        return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* ---- main --------------------------------------------------------------- */

static int parse_args(int argc, char **argv, struct bench *bench)
{
    for (int i = 1; i < argc; i++) {
        if (i + 1 >= argc)
            return -1;
        if (strcmp(argv[i], "-n") == 0)
            bench->count = atol(argv[++i]);
        else if (strcmp(argv[i], "--projector") == 0)
            bench->projector = argv[++i];
        else
            return -1;
    }
    return bench->count > 0 && bench->projector && bench->bootstrap &&
                   bench->conninfo
               ? 0
               : -1;
}

static void report(const struct bench *bench, double produce_s, long target,
                   const struct apply_figures *f)
{
    double steady = f->total_s - (f->first_s > 0 ? f->first_s : 0);

    printf("projector_bench product=%s events=%ld topic_messages=%ld\n",
           bench->product, bench->count, target);
    if (target < bench->count)
        printf(
            "  note          the topic keeps only %ld messages (the devbroker"
            " bounds each partition's log): the apply figures are over"
            " those\n",
            target);
    printf("  produce       %ld acknowledged (%ld failed) in %.2f s:"
           " %.0f events/s\n",
           bench->delivered, bench->failed, produce_s,
           bench->count / produce_s);
    printf("  apply         %.0f applied + %.0f dead-lettered%s\n", f->applied,
           f->dead, f->complete ? "" : " (INCOMPLETE)");
    printf("  apply total   %.2f s from the projector's start: %.0f events/s\n",
           f->total_s, (f->applied + f->dead) / f->total_s);
    if (f->first_s >= 0 && steady > 0)
        printf("  apply steady  %.2f s from the first applied record:"
               " %.0f events/s\n",
               steady, (f->applied + f->dead) / steady);
    if (f->batches > 0)
        printf("  batches       %.0f, %.2f s inside them (%.1f ms each,"
               " %.0f events/s inside)\n",
               f->batches, f->batch_s, f->batch_s * 1e3 / f->batches,
               (f->applied + f->dead) / f->batch_s);
}

int main(int argc, char **argv)
{
    struct bench bench = {.count = DEFAULT_COUNT,
                          .bootstrap = getenv("KAFKA_BOOTSTRAP_SERVERS"),
                          .conninfo = getenv("DATABASE_URL"),
                          .product = getenv("PRODUCT")};
    struct apply_figures figures = {0};
    double produce_s = 0;
    unsigned port;
    long target;
    pid_t pid;

    if (!bench.product || !*bench.product)
        bench.product = "bestays";
    if (parse_args(argc, argv, &bench) != 0) {
        fprintf(stderr, "usage: KAFKA_BOOTSTRAP_SERVERS=... DATABASE_URL=..."
                        " projector_bench --projector PATH [-n COUNT]\n");
        return 64;
    }
    snprintf(bench.topic, sizeof(bench.topic), "%s.users", bench.product);
    snprintf(bench.prefix, sizeof(bench.prefix), "pb%ld-%d", (long)time(NULL),
             (int)getpid());
    curl_global_init(CURL_GLOBAL_DEFAULT);

    /* Phase 1: the events into Kafka. */
    target = produce_all(&bench, &produce_s);
    if (target < 0)
        return 1;

    /* Phase 2: the projector reads the whole topic. */
    port = free_port();
    pid = projector_start(&bench, port);
    if (pid < 0 || port == 0) {
        fprintf(stderr, "projector_bench: cannot start %s\n", bench.projector);
        return 1;
    }
    wait_applied(pid, port, target, &figures);
    report(&bench, produce_s, target, &figures);
    if (projector_stop(pid) != 0)
        fprintf(stderr, "projector_bench: the projector did not exit 0\n");
    curl_global_cleanup();
    return figures.complete ? 0 : 1;
}
