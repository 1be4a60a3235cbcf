/*
 * faq.c - `bsctl faq reindex --product P [--stale | --all | --document ID]
 *          [--window N] [--no-wait] [--timeout S]`.
 *
 * Re-indexing goes through the log like every other change: bsctl picks the
 * documents in the database, publishes one `reindex` FaqDocumentEvent per
 * document on <P>.faq (keyed by the document id, so it is ordered with that
 * document's writes), and faq-indexer embeds them again with its current
 * model, batch by batch, between other writes; nothing is locked here.
 *
 * --stale (the default) picks the documents not deleted whose
 * embedding_model differs from the current model (EMBEDDER and
 * EMBEDDINGS_*, as faq-indexer is configured), whose chunker_version
 * differs from BS_CHUNKER_VERSION, or that were never embedded; --all every
 * document not deleted; --document one.
 *
 * Windows: the events are published --window N documents at a time
 * (default 1000), and window k+1 only once the indexer has re-embedded
 * window k-1. The indexer reads a partition in order, so a write that
 * arrives during a re-index waits behind at most two windows of reindex
 * events, not behind the whole selection (which, with an embedder slower
 * than the publisher, is minutes: bench/reindex-bench.sh). A window that
 * makes no progress for FAQ_WINDOW_STALL_S (its events dead-lettered, the
 * indexer down or far behind on other writes) does not hold the rest back:
 * the next one is queued, and the final wait below still counts every
 * document. --window 0 queues everything at once.
 *
 * Progress goes to stderr: documents queued n/N and re-embedded m/N read
 * from the database (embedded_at at or after the start with the current
 * model; a document deleted since counts as done), until all are done
 * (exit 0), --no-wait (exit 0 once the last window is queued) or --timeout
 * S seconds for the whole run (exit 1).
 *
 * DATABASE_URL is an owner role (as for migrate); row-level security is
 * FORCEd, so the session sets app.product to P. P must be in
 * ALLOWED_PRODUCTS, and the publisher refuses any topic of another product.
 *
 * Exit codes: 0 done, 1 failed or timed out, 64 usage error.
 */
#include "bsctl.h"
#include "ids.h"

#include "bs/chunker.h"
#include "bs/db.h"
#include "bs/embedder.h"
#include "bs/error.h"
#include "bs/events.h"
#include "bs/log.h"
#include "bs/publisher.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { FAQ_EXIT_OK = 0, FAQ_EXIT_FAILED = 1, FAQ_EXIT_USAGE = 64 };

#define FAQ_SEND_TIMEOUT_MS 10000
#define FAQ_POLL_MS         250
#define FAQ_WINDOW_DEFAULT  1000
#define FAQ_WINDOW_STALL_S  30
#define FAQ_BAR_WIDTH       30

enum faq_selection { SELECT_STALE, SELECT_ALL, SELECT_DOCUMENT };

struct reindex_args {
    const char *product;
    enum faq_selection selection;
    const char *document;
    bool no_wait;
    long timeout_s; /* 0: none */
    long window;    /* documents queued at a time; 0: all at once */
};

struct reindex {
    struct reindex_args args;
    char product[BS_PRODUCT_MAX + 1];
    char model[256];
    PGconn *conn;
    struct bs_publisher *publisher;
    char started[64];  /* clock_timestamp() before anything was queued */
    PGresult *ids;     /* the chosen document ids */
    char *ids_literal; /* the same as a uuid[] literal */
    double deadline;   /* monotonic; 0: no --timeout */
    long queued;       /* events acknowledged so far */
    long done;         /* documents of finished windows re-embedded */
    char errstr[512];
};

static int usage_error(const char *message)
{
    fprintf(stderr, "bsctl faq: %s (see bsctl --help)\n", message);
    return FAQ_EXIT_USAGE;
}

static const char *parse_args(int argc, char **argv, struct reindex_args *a)
{
    int selections = 0;

    memset(a, 0, sizeof(*a));
    a->window = FAQ_WINDOW_DEFAULT;
    if (argc < 1 || strcmp(argv[0], "reindex") != 0)
        return "missing or unknown sub-command (reindex or import)";
    for (int i = 1; i < argc; i++) {
        bool has_value = i + 1 < argc;

        if (strcmp(argv[i], "--product") == 0 && has_value)
            a->product = argv[++i];
        else if (strcmp(argv[i], "--stale") == 0 && ++selections)
            a->selection = SELECT_STALE;
        else if (strcmp(argv[i], "--all") == 0 && ++selections)
            a->selection = SELECT_ALL;
        else if (strcmp(argv[i], "--document") == 0 && has_value &&
                 ++selections) {
            a->selection = SELECT_DOCUMENT;
            a->document = argv[++i];
        } else if (strcmp(argv[i], "--no-wait") == 0)
            a->no_wait = true;
        else if (strcmp(argv[i], "--timeout") == 0 && has_value) {
            char *end;

            a->timeout_s = strtol(argv[++i], &end, 10);
            if (*end || a->timeout_s <= 0)
                return "--timeout needs a number of seconds above 0";
        } else if (strcmp(argv[i], "--window") == 0 && has_value) {
            char *end;

            a->window = strtol(argv[++i], &end, 10);
            if (*end || a->window < 0)
                return "--window needs a number of documents, 0 or more";
        } else
            return "unexpected argument";
    }
    if (!a->product)
        return "--product P is required";
    if (selections > 1)
        return "choose one of --stale, --all, --document ID";
    return NULL;
}

/* "\r[#####.....] queued q/N re-embedded d/N" on stderr (the bar is the
 * re-embedded share); a newline when `last`. */
static void progress(long queued, long done, long total, bool last)
{
    int filled =
        total > 0 ? (int)(FAQ_BAR_WIDTH * done / total) : FAQ_BAR_WIDTH;
    char bar[FAQ_BAR_WIDTH + 1];

    memset(bar, '#', (size_t)filled);
    memset(bar + filled, '.', (size_t)(FAQ_BAR_WIDTH - filled));
    bar[FAQ_BAR_WIDTH] = '\0';
    fprintf(stderr, "\r[%s] queued %ld/%ld re-embedded %ld/%ld", bar, queued,
            total, done, total);
    if (last)
        fputc('\n', stderr);
    fflush(stderr);
}

/* Connects as the owner, app.product = P for the whole session. */
static int open_db(struct reindex *r, const char *url)
{
    const char *params[1] = {r->product};
    PGresult *res = NULL;
    int status;

    r->conn = bs_db_connect(url, "bsctl-faq", r->errstr, sizeof(r->errstr));
    if (!r->conn)
        return BS_EDB;
    status = bs_db_query(r->conn,
                         "SELECT set_config('app.product', $1, false),"
                         " clock_timestamp()::text",
                         1, params, &res, r->errstr, sizeof(r->errstr));
    if (status == BS_OK)
        snprintf(r->started, sizeof(r->started), "%s", PQgetvalue(res, 0, 1));
    PQclear(res);
    return status;
}

/* Rows [from, to) of r->ids as a uuid[] literal (caller frees), or NULL. */
static char *ids_literal(const struct reindex *r, long from, long to)
{
    size_t size = 3 + (size_t)(to - from) * (BSCTL_UUID_LEN + 1);
    char *literal = malloc(size), *pos = literal;

    if (!literal)
        return NULL;
    /* Ids are canonical UUID text: nothing to quote. */
    *pos++ = '{';
    for (long i = from; i < to; i++) {
        if (i > from)
            *pos++ = ',';
        memcpy(pos, PQgetvalue(r->ids, (int)i, 0), BSCTL_UUID_LEN);
        pos += BSCTL_UUID_LEN;
    }
    *pos++ = '}';
    *pos = '\0';
    return literal;
}

/* The ids of the chosen documents, and the same as a uuid[] literal. */
static int choose_documents(struct reindex *r)
{
    static const char base[] = "SELECT id::text FROM faq_documents"
                               " WHERE product = $1 AND deleted_at IS NULL";
    char sql[512], version[16];
    const char *params[3] = {r->product, NULL, NULL};
    int nparams = 1, status;

    if (r->args.selection == SELECT_STALE) {
        snprintf(version, sizeof(version), "%d", BS_CHUNKER_VERSION);
        snprintf(sql, sizeof(sql),
                 "%s AND (embedded_at IS NULL"
                 " OR embedding_model IS DISTINCT FROM $2"
                 " OR chunker_version IS DISTINCT FROM $3::int) ORDER BY id",
                 base);
        params[1] = r->model;
        params[2] = version;
        nparams = 3;
    } else if (r->args.selection == SELECT_DOCUMENT) {
        snprintf(sql, sizeof(sql), "%s AND id = $2::uuid", base);
        params[1] = r->args.document;
        nparams = 2;
    } else
        snprintf(sql, sizeof(sql), "%s ORDER BY id", base);
    status = bs_db_query(r->conn, sql, nparams, params, &r->ids, r->errstr,
                         sizeof(r->errstr));
    if (status != BS_OK)
        return status;
    r->ids_literal = ids_literal(r, 0, PQntuples(r->ids));
    if (!r->ids_literal)
        return bs_fail(r->errstr, sizeof(r->errstr), BS_ENOMEM,
                       "out of memory");
    return BS_OK;
}

/* Publishing threads: each waits for the broker's acknowledgement of one
 * event at a time, so several keep the producer busy (one at a time is a
 * round trip per document, ~150/s on the devbroker). */
#define FAQ_PUBLISH_THREADS 16

/* What the publishing threads share. */
struct publish_work {
    struct reindex *r;
    struct bs_codec *codec; /* thread-safe (bs/codec.h) */
    char topic[128];
    long end;         /* one past the last row of this window */
    atomic_long next; /* next row of r->ids to take */
    atomic_long sent; /* acknowledged, in this window */
    atomic_bool failed;
    pthread_mutex_t lock; /* guards r->errstr */
};

static int publish_one(struct publish_work *w, const char *id, char *errstr,
                       size_t errstr_size)
{
    char event_id[BSCTL_UUID_LEN + 1];
    struct bs_faq_event event = {0};
    unsigned char *value = NULL;
    size_t len = 0;
    int status = bsctl_uuid_random(event_id);

    event.meta.event_id = event_id;
    event.meta.product = w->r->product;
    event.meta.occurred_at = bsctl_now_ms();
    event.meta.source = "bsctl";
    event.action = BS_FAQ_REINDEX;
    event.document_id = (char *)id;
    if (status == BS_OK)
        status = bs_faq_event_encode(w->codec, &event, &value, &len, errstr,
                                     errstr_size);
    if (status == BS_OK)
        status = bs_publisher_send_sync(
            w->r->publisher, w->topic, id, strlen(id), value, len, NULL, 0,
            FAQ_SEND_TIMEOUT_MS, errstr, errstr_size);
    free(value);
    return status;
}

/* A thread: takes the next document until none is left or one failed.
 * The ids result is only read, which libpq allows from several threads. */
static void *publish_worker(void *arg)
{
    struct publish_work *w = arg;
    long i;
    char errstr[512];
    int status = BS_OK;

    while (!atomic_load(&w->failed) &&
           (i = atomic_fetch_add(&w->next, 1)) < w->end) {
        status = publish_one(w, PQgetvalue(w->r->ids, (int)i, 0), errstr,
                             sizeof(errstr));
        if (status != BS_OK)
            break;
        atomic_fetch_add(&w->sent, 1);
    }
    if (status != BS_OK && !atomic_exchange(&w->failed, true)) {
        pthread_mutex_lock(&w->lock);
        snprintf(w->r->errstr, sizeof(w->r->errstr), "%s", errstr);
        pthread_mutex_unlock(&w->lock);
    }
    return NULL;
}

/* One reindex event for each of rows [from, to) of r->ids, each
 * acknowledged by the broker; "queued" moves while they go. */
static int publish_window(struct reindex *r, struct publish_work *w, long from,
                          long to)
{
    pthread_t threads[FAQ_PUBLISH_THREADS];
    struct timespec pause = {0, 100 * 1000000L};
    long total = PQntuples(r->ids);
    int started = 0;

    w->end = to;
    atomic_store(&w->next, from);
    atomic_store(&w->sent, 0);
    while (started < FAQ_PUBLISH_THREADS &&
           pthread_create(&threads[started], NULL, publish_worker, w) == 0)
        started++;
    if (started == 0)
        publish_worker(w); /* no thread to be had: this one */
    while (started > 0 && atomic_load(&w->sent) < to - from &&
           !atomic_load(&w->failed)) {
        progress(r->queued + atomic_load(&w->sent), r->done, total, false);
        nanosleep(&pause, NULL);
    }
    for (int i = 0; i < started; i++)
        pthread_join(threads[i], NULL);
    r->queued += atomic_load(&w->sent);
    progress(r->queued, r->done, total, false);
    return atomic_load(&w->failed) ? BS_EKAFKA : BS_OK;
}

/* Documents of `literal` (a uuid[] of the selection) re-embedded, or
 * deleted, since the start. */
static int count_done(struct reindex *r, const char *literal, long *done)
{
    const char *params[4] = {r->product, literal, r->started, r->model};
    PGresult *res = NULL;
    int status = bs_db_query(
        r->conn,
        "SELECT count(*) FROM faq_documents WHERE product = $1"
        " AND id = ANY($2::uuid[]) AND (deleted_at IS NOT NULL"
        " OR (embedded_at >= $3::timestamptz AND embedding_model = $4))",
        4, params, &res, r->errstr, sizeof(r->errstr));

    if (status == BS_OK)
        *done = strtol(PQgetvalue(res, 0, 0), NULL, 10);
    PQclear(res);
    return status;
}

static bool timed_out(const struct reindex *r)
{
    return r->deadline > 0 && bsctl_monotonic_s() >= r->deadline;
}

static int fail_timed_out(struct reindex *r, long done)
{
    fputc('\n', stderr);
    return bs_fail(r->errstr, sizeof(r->errstr), BS_ETIMEDOUT,
                   "timed out: %ld of %ld documents queued, %ld re-embedded",
                   r->queued, (long)PQntuples(r->ids), done);
}

/* Waits until the documents of rows [from, to) are re-embedded, or made no
 * progress for FAQ_WINDOW_STALL_S (then the caller goes on: the final wait
 * still counts them). */
static int wait_window(struct reindex *r, long from, long to)
{
    struct timespec pause = {0, FAQ_POLL_MS * 1000000L};
    char *literal = ids_literal(r, from, to);
    long total = PQntuples(r->ids), done = 0, seen = -1;
    double stalled_since = bsctl_monotonic_s();
    int status = literal ? BS_OK : BS_ENOMEM;

    while (status == BS_OK) {
        status = count_done(r, literal, &done);
        if (status != BS_OK || done >= to - from)
            break;
        if (done != seen) {
            progress(r->queued, r->done + done, total, false);
            stalled_since = bsctl_monotonic_s();
            seen = done;
        } else if (bsctl_monotonic_s() - stalled_since >= FAQ_WINDOW_STALL_S)
            break;
        if (timed_out(r))
            status = fail_timed_out(r, r->done + done);
        else
            nanosleep(&pause, NULL);
    }
    r->done += done;
    free(literal);
    return status;
}

/* Queues the selection window by window (see the top of this file). */
static int publish_all(struct reindex *r, const char *bootstrap)
{
    struct publish_work w = {.r = r};
    long total = PQntuples(r->ids);
    long window = r->args.window > 0 ? r->args.window : total;
    int status;

    atomic_init(&w.next, 0);
    atomic_init(&w.sent, 0);
    atomic_init(&w.failed, false);
    status = bs_product_topic(r->product, "faq", w.topic, sizeof(w.topic));
    if (status == BS_OK)
        status = bs_codec_new_builtin(&w.codec, r->errstr, sizeof(r->errstr));
    if (status == BS_OK)
        status = bs_publisher_new(&r->publisher, bootstrap, "bsctl", r->product,
                                  NULL, r->errstr, sizeof(r->errstr));
    if (status != BS_OK || total == 0) {
        bs_codec_free(w.codec);
        return status;
    }
    /* Two windows in flight: while the indexer embeds one, the next is
     * published, so the two overlap instead of taking turns (one window at
     * a time ran at about 60% of the speed of queueing everything). */
    pthread_mutex_init(&w.lock, NULL);
    for (long from = 0; status == BS_OK && from < total; from += window) {
        long to = from + window < total ? from + window : total;

        status = publish_window(r, &w, from, to);
        /* The one before, unless this was the last (wait_done's). */
        if (status == BS_OK && from > 0 && to < total)
            status = wait_window(r, from - window, from);
    }
    pthread_mutex_destroy(&w.lock);
    bs_codec_free(w.codec);
    if (r->args.no_wait || status != BS_OK)
        progress(r->queued, r->done, total, true);
    return status;
}

/* Polls until every document is done or the timeout passes. */
static int wait_done(struct reindex *r)
{
    long total = PQntuples(r->ids), done = 0, shown = -1;
    struct timespec pause = {0, FAQ_POLL_MS * 1000000L};
    int status;

    for (;;) {
        status = count_done(r, r->ids_literal, &done);
        if (status != BS_OK)
            return status;
        if (done != shown || done >= total)
            progress(r->queued, done, total, done >= total);
        shown = done;
        if (done >= total)
            return BS_OK;
        if (timed_out(r))
            return fail_timed_out(r, done);
        nanosleep(&pause, NULL);
    }
}

/* The current model's name, from the same variables faq-indexer reads. */
static int current_model(struct reindex *r, const struct bs_config *config)
{
    struct bs_embedder *embedder = NULL;
    int status = bs_embedder_from_config(config, &embedder, r->errstr,
                                         sizeof(r->errstr));

    if (status == BS_OK)
        snprintf(r->model, sizeof(r->model), "%s", bs_embedder_model(embedder));
    bs_embedder_free(embedder);
    return status;
}

static int reindex_run(struct reindex *r, struct bs_program *program)
{
    const char *url = bs_config_get(program->config, "DATABASE_URL");
    const char *bootstrap =
        bs_config_get(program->config, "KAFKA_BOOTSTRAP_SERVERS");
    int status = current_model(r, program->config);

    if (status == BS_OK)
        status = open_db(r, url);
    if (status == BS_OK)
        status = choose_documents(r);
    if (status == BS_OK && r->args.selection == SELECT_DOCUMENT &&
        PQntuples(r->ids) == 0)
        status = bs_fail(r->errstr, sizeof(r->errstr), BS_ENOTFOUND,
                         "no document %s in %s (or it is deleted)",
                         r->args.document, r->product);
    if (status != BS_OK)
        return status;
    fprintf(stderr,
            "bsctl faq: %d document(s) of %s to re-index with %s, %ld at a "
            "time\n",
            PQntuples(r->ids), r->product, r->model,
            r->args.window > 0 ? r->args.window : (long)PQntuples(r->ids));
    if (r->args.timeout_s > 0)
        r->deadline = bsctl_monotonic_s() + (double)r->args.timeout_s;
    status = publish_all(r, bootstrap);
    if (status == BS_OK && !r->args.no_wait)
        status = wait_done(r);
    return status;
}

const char *bsctl_faq_environment(const struct bs_program *program,
                                  const char *product,
                                  char resolved[BS_PRODUCT_MAX + 1],
                                  char *errstr, size_t errstr_size)
{
    const char *url = bs_config_get(program->config, "DATABASE_URL");
    const char *bootstrap =
        bs_config_get(program->config, "KAFKA_BOOTSTRAP_SERVERS");
    bool defaulted;

    if (!url || !*url)
        return "DATABASE_URL is not set";
    if (!bootstrap || !*bootstrap)
        return "KAFKA_BOOTSTRAP_SERVERS is not set";
    if (bs_product_resolve(product,
                           bs_config_get(program->config, "ALLOWED_PRODUCTS"),
                           resolved, &defaulted, errstr, errstr_size) != BS_OK)
        return errstr;
    return NULL;
}

int bsctl_faq(struct bs_program *program, int argc, char **argv)
{
    struct reindex r = {0};
    const char *problem;
    char quoted[600];
    int status;

    if (argc >= 1 && strcmp(argv[0], "import") == 0)
        return bsctl_faq_import(program, argc, argv);
    problem = parse_args(argc, argv, &r.args);
    if (!problem && r.args.document && !bsctl_uuid_valid(r.args.document))
        problem = "--document needs a document id (a UUID)";
    if (!problem)
        problem = bsctl_faq_environment(program, r.args.product, r.product,
                                        r.errstr, sizeof(r.errstr));
    if (problem)
        return usage_error(problem);

    status = reindex_run(&r, program);
    if (status != BS_OK)
        bs_log_error("faq_reindex_failed error=%s",
                     bs_log_quote(r.errstr, quoted, sizeof(quoted)));
    bs_publisher_free(r.publisher);
    PQclear(r.ids);
    free(r.ids_literal);
    if (r.conn)
        PQfinish(r.conn);
    return status == BS_OK ? FAQ_EXIT_OK : FAQ_EXIT_FAILED;
}
