/*
 * audit_bench - how fast the audit trail grows and is rebuilt.
 *
 *   1. append: rows per second through bs_audit_append() with the hash
 *      chain on, in transactions of --batch rows (audit-writer's default
 *      batch is 500), as the service role with app.product set; then the
 *      rows per second `bs_audit_verify` walks.
 *   2. replay: --events AuditEvents produced to <product>.audit, then the
 *      wall time of the real `bsctl replay --topic audit` over them, dry
 *      run (read, map, load, compare) and --apply (plus appending them all).
 *
 * Prints figures, asserts nothing. bench/audit-bench.sh starts a throwaway
 * PostgreSQL and the devbroker and runs this against them.
 *
 * Environment: DATABASE_URL (owner, for bsctl), SERVICE_DATABASE_URL
 * (bs_service, for the appends), KAFKA_BOOTSTRAP_SERVERS, PRODUCT
 * (default bestays).
 */
#include "bs/audit.h"
#include "bs/db.h"
#include "bs/error.h"
#include "bs/events.h"
#include "bs/kafka.h"

#include <inttypes.h>
#include <librdkafka/rdkafka.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

struct options {
    long rows;
    long batch;
    long events;
    const char *bsctl;
    const char *product;
};

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int64_t wall_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- 1. append -------------------------------------------------------- */

static void fill_row(struct bs_audit_row *row, const char *product, long i,
                     char *event_id, size_t size)
{
    snprintf(event_id, size, "bench-%ld-%ld", (long)getpid(), i);
    *row = (struct bs_audit_row){
        .product = (char *)product,
        .event_id = event_id,
        .actor_id = "user_bench",
        .action = "faq.updated",
        .entity_type = "faq_document",
        .entity_id = "0192f2c4-0000-7000-8000-000000000001",
        .changes = "{\"category\":\"billing\",\"status\":\"published\","
                   "\"version\":2}",
        .request_id = "req-bench",
        .occurred_at_us = wall_ms() * 1000,
        .source_topic = "bench",
        .source_partition = 0,
        .source_offset = i,
    };
}

static int append_batch(PGconn *conn, const struct options *o, long first,
                        long n)
{
    struct bs_audit_row *rows = calloc((size_t)n, sizeof(*rows));
    const struct bs_audit_row **ptrs = calloc((size_t)n, sizeof(*ptrs));
    char(*ids)[64] = calloc((size_t)n, sizeof(*ids));
    char errstr[512] = "";
    int result = rows && ptrs && ids ? BS_OK : BS_ENOMEM;

    for (long i = 0; result == BS_OK && i < n; i++) {
        fill_row(&rows[i], o->product, first + i, ids[i], sizeof(ids[i]));
        ptrs[i] = &rows[i];
    }
    if (result == BS_OK)
        result = bs_db_begin_product(conn, o->product, errstr, sizeof(errstr));
    if (result == BS_OK)
        result = bs_audit_append(conn, o->product, ptrs, (size_t)n, NULL, NULL,
                                 errstr, sizeof(errstr));
    if (result == BS_OK)
        result = bs_db_commit(conn, errstr, sizeof(errstr));
    else
        bs_db_rollback(conn, NULL, 0);
    if (result != BS_OK)
        fprintf(stderr, "audit_bench: append: %s\n", errstr);
    free(rows);
    free(ptrs);
    free(ids);
    return result;
}

static int bench_append(const struct options *o)
{
    const char *url = getenv("SERVICE_DATABASE_URL");
    struct bs_audit_verify_result r;
    char errstr[512];
    PGconn *conn;
    double t0, t1;
    int result = BS_OK;

    conn = bs_db_connect(url ? url : "", "audit_bench", errstr, sizeof(errstr));
    if (!conn) {
        fprintf(stderr, "audit_bench: %s\n", errstr);
        return 1;
    }
    t0 = now_s();
    for (long done = 0; result == BS_OK && done < o->rows; done += o->batch)
        result =
            append_batch(conn, o, done,
                         o->rows - done < o->batch ? o->rows - done : o->batch);
    t1 = now_s();
    if (result == BS_OK)
        printf("append:  %ld rows in batches of %ld: %.2f s, %.0f rows/s "
               "(target 20000/s)\n",
               o->rows, o->batch, t1 - t0, (double)o->rows / (t1 - t0));

    if (result == BS_OK)
        result = bs_db_begin_product(conn, o->product, errstr, sizeof(errstr));
    t0 = now_s();
    if (result == BS_OK)
        result = bs_audit_verify(conn, o->product, &r, errstr, sizeof(errstr));
    t1 = now_s();
    bs_db_rollback(conn, NULL, 0);
    if (result == BS_OK)
        printf("verify:  %lld rows %s: %.2f s, %.0f rows/s\n", r.rows,
               r.intact ? "intact" : "BROKEN", t1 - t0,
               (double)r.rows / (t1 - t0));
    else
        fprintf(stderr, "audit_bench: verify: %s\n", errstr);
    PQfinish(conn);
    return result == BS_OK ? 0 : 1;
}

/* ---- 2. replay ---------------------------------------------------------- */

static int produce_events(const struct options *o, const char *bootstrap)
{
    struct bs_codec *codec = NULL;
    rd_kafka_conf_t *conf = NULL;
    rd_kafka_t *rk = NULL;
    char errstr[512], topic[128], id[64], entity[32];
    int result;

    snprintf(topic, sizeof(topic), "%s.audit", o->product);
    result = bs_codec_new_builtin(&codec, errstr, sizeof(errstr));
    if (result == BS_OK)
        result = bs_kafka_producer_conf_new(&conf, bootstrap, "audit_bench",
                                            o->product, errstr, sizeof(errstr));
    if (result == BS_OK)
        result = bs_kafka_producer_new(&rk, conf, errstr, sizeof(errstr));
    for (long i = 0; result == BS_OK && i < o->events; i++) {
        struct bs_audit_event e = {
            .meta = {.event_id = id,
                     .product = (char *)o->product,
                     .occurred_at = wall_ms(),
                     .source = "audit_bench"},
            .actor_id = "user_bench",
            .action = "user.read",
            .entity_type = "user",
            .entity_id = entity,
            .changes = "{\"fields\":[\"role\"]}",
        };
        rd_kafka_headers_t *headers = rd_kafka_headers_new(1);
        unsigned char *value = NULL;
        size_t len = 0;
        rd_kafka_resp_err_t err;

        snprintf(id, sizeof(id), "replay-bench-%ld-%ld", (long)getpid(), i);
        snprintf(entity, sizeof(entity), "user_%ld", i % 1000);
        bs_kafka_headers_add_product(headers, o->product);
        result = bs_audit_event_encode(codec, &e, &value, &len, errstr,
                                       sizeof(errstr));
        do {
            err = result == BS_OK
                      ? rd_kafka_producev(
                            rk, RD_KAFKA_V_TOPIC(topic),
                            RD_KAFKA_V_KEY(entity, strlen(entity)),
                            RD_KAFKA_V_VALUE(value, len),
                            RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                            RD_KAFKA_V_HEADERS(headers), RD_KAFKA_V_END)
                      : RD_KAFKA_RESP_ERR_NO_ERROR;
            if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL)
                rd_kafka_poll(rk, 100);
        } while (err == RD_KAFKA_RESP_ERR__QUEUE_FULL);
        if (err) {
            rd_kafka_headers_destroy(headers);
            result = bs_fail(errstr, sizeof(errstr), BS_EKAFKA, "%s",
                             rd_kafka_err2str(err));
        } else if (result != BS_OK)
            rd_kafka_headers_destroy(headers);
        free(value);
        rd_kafka_poll(rk, 0);
    }
    if (result == BS_OK && rd_kafka_flush(rk, 120000) != 0)
        result =
            bs_fail(errstr, sizeof(errstr), BS_ETIMEDOUT, "flush timed out");
    if (result != BS_OK)
        fprintf(stderr, "audit_bench: produce: %s\n", errstr);
    if (rk)
        rd_kafka_destroy(rk);
    bs_codec_free(codec);
    return result;
}

/* The number after `label` in bsctl replay's summary, or -1. */
static long long summary_value(const char *summary, const char *label)
{
    const char *at = strstr(summary, label);

    return at ? atoll(at + strlen(label)) : -1;
}

/* All of `file` from its start, NUL-terminated (caller frees), or NULL. */
static char *read_all(FILE *file)
{
    long size;
    char *data;

    if (fseek(file, 0, SEEK_END) != 0 || (size = ftell(file)) < 0)
        return NULL;
    rewind(file);
    data = malloc((size_t)size + 1);
    if (data)
        data[fread(data, 1, (size_t)size, file)] = '\0';
    return data;
}

/*
 * Runs bsctl replay and returns its wall time, or a negative number when it
 * could not run or did not end as expected: exit code `expected_exit` with
 * `expected_missing` rows reported missing. A replay that failed (exit 2)
 * or compared something else than this bench produced must not print a
 * figure. Its output goes to a temporary file, shown on a mismatch.
 */
static double run_replay(const struct options *o, const char *mode,
                         int expected_exit, long expected_missing)
{
    char *argv[] = {(char *)o->bsctl,   "replay",  "--product",
                    (char *)o->product, "--topic", "audit",
                    (char *)mode,       NULL};
    posix_spawn_file_actions_t actions;
    FILE *output = tmpfile();
    char *summary;
    double t0 = now_s(), elapsed = -1;
    pid_t pid;
    int status = 0, spawned;

    if (!output)
        return -1;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, fileno(output), 1);
    posix_spawn_file_actions_adddup2(&actions, fileno(output), 2);
    spawned = posix_spawn(&pid, o->bsctl, &actions, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&actions);
    if (spawned != 0) {
        fprintf(stderr, "audit_bench: cannot run %s\n", o->bsctl);
        fclose(output);
        return -1;
    }
    if (waitpid(pid, &status, 0) == pid)
        elapsed = now_s() - t0;

    /* The output is small: progress lines and the summary. */
    summary = read_all(output);
    if (elapsed < 0 || !summary || !WIFEXITED(status) ||
        WEXITSTATUS(status) != expected_exit ||
        summary_value(summary, "missing ") != expected_missing) {
        fprintf(stderr,
                "audit_bench: bsctl replay %s: expected exit %d with %ld "
                "missing; it said:\n%s",
                mode, expected_exit, expected_missing,
                summary ? summary : "(nothing readable)\n");
        elapsed = -1;
    }
    free(summary);
    fclose(output);
    return elapsed;
}

static int bench_replay(const struct options *o)
{
    const char *bootstrap = getenv("KAFKA_BOOTSTRAP_SERVERS");
    double dry, apply;

    if (!bootstrap || !*bootstrap) {
        fprintf(stderr, "audit_bench: KAFKA_BOOTSTRAP_SERVERS is not set\n");
        return 1;
    }
    if (produce_events(o, bootstrap) != BS_OK)
        return 1;

    /* No audit-writer runs: every produced event is missing from the live
     * trail, so the dry run differs (exit 1) and --apply restores them all
     * (exit 0). The append phase's rows name no Kafka topic: not "extra". */
    dry = run_replay(o, "--dry-run", 1, o->events);
    apply = dry < 0 ? -1 : run_replay(o, "--apply", 0, o->events);
    if (dry < 0 || apply < 0) {
        fprintf(stderr, "audit_bench: bsctl replay failed: no figure\n");
        return 1;
    }
    printf("replay:  %ld events, dry run: %.2f s, %.0f events/s "
           "(target < 10 s)\n",
           o->events, dry, (double)o->events / dry);
    printf("replay:  %ld events, --apply (all missing): %.2f s, %.0f "
           "events/s\n",
           o->events, apply, (double)o->events / apply);
    return 0;
}

static long number(const char *text)
{
    char *end;
    long v = strtol(text, &end, 10);

    return *end || v <= 0 ? -1 : v;
}

int main(int argc, char **argv)
{
    struct options o = {.rows = 100000,
                        .batch = 500,
                        .events = 100000,
                        .bsctl = "./build/tools/bsctl/bsctl",
                        .product =
                            getenv("PRODUCT") ? getenv("PRODUCT") : "bestays"};
    int failed = 0;

    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--rows") == 0)
            o.rows = number(argv[i + 1]);
        else if (strcmp(argv[i], "--batch") == 0)
            o.batch = number(argv[i + 1]);
        else if (strcmp(argv[i], "--events") == 0)
            o.events = number(argv[i + 1]);
        else if (strcmp(argv[i], "--bsctl") == 0)
            o.bsctl = argv[i + 1];
    }
    if (o.rows < 0 || o.batch < 0 || o.events < 0) {
        fprintf(stderr, "usage: audit_bench [--rows N] [--batch N] "
                        "[--events N] [--bsctl PATH]\n");
        return 64;
    }
    failed |= bench_append(&o);
    failed |= bench_replay(&o);
    return failed;
}
