/*
 * test_audit_replay.c - `bsctl replay` against the real audit-writer.
 *
 * One database and one bestays audit-writer (a consumer group of its own).
 * The test publishes AuditEvents, waits until the writer has appended them,
 * and then runs the real bsctl: a replay of a log the trail agrees with
 * exits 0; rows the superuser deleted are reported missing and restored by
 * --apply (exactly them, once); a foreign-product message planted in the
 * topic is counted as foreign and written nowhere; --from-time reads only
 * events at or after it (real Kafka only: on the devbroker the command must
 * refuse with a clear message, and the test says it skipped that case);
 * --from-offset and --to-time bound what is read; a row the superuser
 * altered is "different", one whose event id is in no event is "extra";
 * progress goes to stderr and the summary to stdout; exit codes 0 agree,
 * 1 differ, 2 failed, 64 usage.
 *
 * The broker's topics are shared with other tests: the writer also appends
 * their events, so a full replay compares everything in the topics. The
 * test waits for the writer to have caught up with the log (its stored
 * offsets reach the high watermarks) before each replay.
 */
#include "broker_harness.h"
#include "harness.h"
#include "pg_harness.h"
#include "service_harness.h"

#include "bs/audit.h"
#include "bs/codec.h"
#include "bs/db.h"
#include "bs/error.h"
#include "bs/events.h"
#include "bs/kafka.h"

#include <libpq-fe.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define DEADLINE_MS 60000

static struct bs_pg_env pg;
static char db[64];
static char *bootstrap;
static PGconn *owner;
static struct bs_codec *codec;
static rd_kafka_t *producer;
static struct bs_svc writer;
static char run_tag[64];
static char group[128];

/* ---- set-up ---------------------------------------------------------- */

static int writer_start(void)
{
    char conninfo[512], v_db[600], v_kafka[512], v_group[200];
    const char *env[] = {"PRODUCT=bestays", v_db, v_kafka, v_group, NULL};

    bs_pg_conninfo(&pg, db, BS_PG_SERVICE_ROLE, conninfo, sizeof(conninfo));
    snprintf(v_db, sizeof(v_db), "DATABASE_URL=%s", conninfo);
    snprintf(v_kafka, sizeof(v_kafka), "KAFKA_BOOTSTRAP_SERVERS=%s", bootstrap);
    snprintf(v_group, sizeof(v_group), "CONSUMER_GROUP=%s", group);
    return bs_svc_start(&writer, "services/audit-writer/audit-writer",
                        "replay-audit-writer", env);
}

static int suite_init(void)
{
    char errstr[256];

    snprintf(run_tag, sizeof(run_tag), "%ld-%d", (long)time(NULL),
             (int)getpid());
    snprintf(group, sizeof(group), "audit-replay-%s", run_tag);
    bootstrap = bs_broker_bootstrap();
    if (!bootstrap || bs_pg_env_load(&pg) != 0 ||
        bs_pg_create_database(&pg, "replay", db, sizeof(db)) != 0 ||
        bs_pg_migrate(&pg, db, (const char *[]){"up", NULL}, NULL) != 0)
        return -1;
    owner = bs_pg_connect(&pg, db, NULL);
    if (!owner || bs_codec_new_builtin(&codec, errstr, sizeof(errstr)) != 0 ||
        bs_broker_producer_new(&producer, "bestays", errstr, sizeof(errstr)) !=
            0)
        return -1;
    return writer_start();
}

static int suite_cleanup(void)
{
    bs_svc_stop(&writer, SIGTERM);
    if (producer)
        rd_kafka_destroy(producer);
    bs_codec_free(codec);
    if (owner)
        PQfinish(owner);
    bs_pg_drop_database(&pg, db);
    free(bootstrap);
    return 0;
}

/* ---- helpers ------------------------------------------------------------- */

static const char *unique_id(const char *prefix, char *buf, size_t size)
{
    static int counter;

    snprintf(buf, size, "%s_%s_%d", prefix, run_tag, ++counter);
    return buf;
}

static void pause_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

    nanosleep(&ts, NULL);
}

static long long now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* An AuditEvent of `event_product` with the header `header_product`. */
static int produce_audit(const char *header_product, const char *event_product,
                         const char *event_id)
{
    struct bs_audit_event e = {
        .meta = {.event_id = (char *)event_id,
                 .product = (char *)event_product,
                 .occurred_at = now_ms(),
                 .source = "replay-test"},
        .actor_id = "user_admin_1",
        .action = "user.read",
        .entity_type = "user",
        .entity_id = (char *)event_id,
        .request_id = "req-replay",
    };
    rd_kafka_headers_t *headers = rd_kafka_headers_new(1);
    unsigned char *value = NULL;
    size_t len = 0;
    char errstr[256];
    int result;

    bs_kafka_headers_add_product(headers, header_product);
    result =
        bs_audit_event_encode(codec, &e, &value, &len, errstr, sizeof(errstr));
    if (result == BS_OK)
        result = bs_broker_produce(producer, "bestays.audit", event_id, value,
                                   len, headers, errstr, sizeof(errstr));
    else
        rd_kafka_headers_destroy(headers);
    if (result != BS_OK)
        fprintf(stderr, "produce_audit: %s\n", errstr);
    free(value);
    return result;
}

static long long count_rows(const char *product, const char *event_id)
{
    const char *params[] = {product, event_id};
    PGresult *res = PQexecParams(owner,
                                 "SELECT count(*) FROM audit_log"
                                 " WHERE product = $1 AND event_id = $2",
                                 2, NULL, params, NULL, NULL, 0);
    long long count = -1;

    if (PQresultStatus(res) == PGRES_TUPLES_OK)
        count = atoll(PQgetvalue(res, 0, 0));
    PQclear(res);
    return count;
}

static long long wait_rows(const char *event_id, long long expected)
{
    long long count = -1;

    for (int waited = 0; waited < DEADLINE_MS; waited += 50) {
        count = count_rows("bestays", event_id);
        if (count == expected)
            break;
        pause_ms(50);
    }
    return count;
}

/* The sum of the high watermarks of bestays' three topics. */
static long long log_end(void)
{
    static const char *const topics[] = {"bestays.users", "bestays.faq",
                                         "bestays.audit"};
    long long total = 0;

    for (size_t t = 0; t < 3; t++)
        for (int p = 0; p < 3; p++) {
            int64_t low = 0, high = 0;

            if (rd_kafka_query_watermark_offsets(producer, topics[t], p, &low,
                                                 &high, 10000) != 0)
                return -1;
            total += high;
        }
    return total;
}

/* Waits until the writer's stored offsets reach the log's end. */
static void wait_caught_up(void)
{
    const char *params[] = {group};

    for (int waited = 0; waited < DEADLINE_MS; waited += 100) {
        PGresult *res = PQexecParams(owner,
                                     "SELECT coalesce(sum(next_offset), 0)"
                                     " FROM consumer_offsets"
                                     " WHERE consumer_group = $1",
                                     1, NULL, params, NULL, NULL, 0);
        long long stored = PQresultStatus(res) == PGRES_TUPLES_OK
                               ? atoll(PQgetvalue(res, 0, 0))
                               : -1;

        PQclear(res);
        if (stored >= log_end())
            return;
        pause_ms(100);
    }
}

/* bsctl's argv and environment (as the superuser) for `args`. */
struct bsctl_call {
    char path[1024], conninfo[512], url[600], kafka[512];
    const char *argv[16];
    const char *env[4];
};

static void bsctl_prepare(struct bsctl_call *c, const char *const args[])
{
    size_t n = 0;

    memset(c, 0, sizeof(*c));
    c->argv[n++] =
        bs_test_build_path("tools/bsctl/bsctl", c->path, sizeof(c->path));
    for (size_t i = 0; args[i] && n + 1 < 16; i++)
        c->argv[n++] = args[i];
    snprintf(c->url, sizeof(c->url), "DATABASE_URL=%s",
             bs_pg_conninfo(&pg, db, NULL, c->conninfo, sizeof(c->conninfo)));
    snprintf(c->kafka, sizeof(c->kafka), "KAFKA_BOOTSTRAP_SERVERS=%s",
             bootstrap);
    c->env[0] = c->url;
    c->env[1] = c->kafka;
    c->env[2] = "LOG_LEVEL=warn";
}

/* Runs bsctl with `args` (NULL-terminated); stdout and stderr together. */
static int bsctl(const char *const args[], char **output)
{
    struct bsctl_call c;

    bsctl_prepare(&c, args);
    return bs_test_run(c.argv, c.env, output);
}

/* The same with stdout in *out and stderr in *err. */
static int bsctl_split(const char *const args[], char **out, char **err)
{
    struct bsctl_call c;

    bsctl_prepare(&c, args);
    return bs_test_run_split(c.argv, c.env, out, err);
}

/* The number after `label` in bsctl replay's summary, or -1. */
static long long summary_value(const char *output, const char *label)
{
    const char *at = output ? strstr(output, label) : NULL;

    return at ? atoll(at + strlen(label)) : -1;
}

static void delete_row(const char *event_id)
{
    const char *params[] = {event_id};

    PQclear(PQexecParams(owner,
                         "DELETE FROM audit_log WHERE product = 'bestays'"
                         " AND event_id = $1",
                         1, NULL, params, NULL, NULL, 0));
}

/* The superuser's edit of bestays' row `event_id`: `assignment` is the SET
 * clause ($2 is `value`). Returns the number of rows changed. */
static long long tamper(const char *event_id, const char *assignment,
                        const char *value)
{
    const char *params[] = {event_id, value};
    char sql[256];
    PGresult *res;
    long long changed = -1;

    snprintf(sql, sizeof(sql),
             "UPDATE audit_log SET %s WHERE product = 'bestays'"
             " AND event_id = $1",
             assignment);
    res = PQexecParams(owner, sql, 2, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(res) == PGRES_COMMAND_OK)
        changed = atoll(PQcmdTuples(res));
    else
        fprintf(stderr, "tamper: %s", PQerrorMessage(owner));
    PQclear(res);
    return changed;
}

/* Where bestays' row of `event_id` says it was read from, or false. */
static bool source_of(const char *event_id, int *partition, long long *offset)
{
    const char *params[] = {event_id};
    PGresult *res = PQexecParams(owner,
                                 "SELECT source_partition, source_offset"
                                 " FROM audit_log WHERE product = 'bestays'"
                                 " AND event_id = $1",
                                 1, NULL, params, NULL, NULL, 0);
    bool found = PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1;

    if (found) {
        *partition = atoi(PQgetvalue(res, 0, 0));
        *offset = atoll(PQgetvalue(res, 0, 1));
    }
    PQclear(res);
    return found;
}

/* Produces `n` AuditEvents with ids from `prefix` and waits until the
 * writer holds them all and has caught up with the log. */
static void produce_and_wait(const char *prefix, char ids[][96], int n)
{
    for (int i = 0; i < n; i++)
        CU_ASSERT_EQUAL_FATAL(
            produce_audit("bestays", "bestays", unique_id(prefix, ids[i], 96)),
            BS_OK);
    for (int i = 0; i < n; i++)
        CU_ASSERT_EQUAL_FATAL(wait_rows(ids[i], 1), 1);
    wait_caught_up();
}

/* A dry run of bestays.audit finds nothing missing, extra or different. */
static void assert_audit_trail_agrees(void)
{
    char *output = NULL;

    BS_ASSERT_INT_EQ(bsctl((const char *[]){"replay", "--product", "bestays",
                                            "--topic", "audit", NULL},
                           &output),
                     0);
    free(output);
}

/* Every missing row of bestays.audit restored: the trail agrees again. */
static void restore_all(long long expected_restored)
{
    char *output = NULL;

    BS_ASSERT_INT_EQ(
        bsctl((const char *[]){"replay", "--product", "bestays", "--topic",
                               "audit", "--apply", NULL},
              &output),
        0);
    BS_ASSERT_INT_EQ(summary_value(output, "restored "), expected_restored);
    free(output);
}

/* ---- tests --------------------------------------------------------------- */

static void test_replay_agrees_with_the_live_trail(void)
{
    char id[96], *out = NULL, *err = NULL;

    BS_ASSERT_INT_EQ(
        produce_audit("bestays", "bestays", unique_id("agree", id, sizeof(id))),
        BS_OK);
    BS_ASSERT_INT_EQ(wait_rows(id, 1), 1);
    wait_caught_up();

    BS_ASSERT_INT_EQ(
        bsctl_split((const char *[]){"replay", "--product", "bestays",
                                     "--topic", "all", NULL},
                    &out, &err),
        0);
    BS_ASSERT_INT_EQ(summary_value(out, "missing "), 0);
    BS_ASSERT_INT_EQ(summary_value(out, "extra "), 0);
    BS_ASSERT_INT_EQ(summary_value(out, "different "), 0);
    CU_ASSERT(summary_value(out, "replayed ") >= 1);
    CU_ASSERT_PTR_NOT_NULL(out ? strstr(out, "result               AGREE")
                               : NULL);

    /* Progress, per partition of every topic read, goes to stderr only:
     * stdout stays the summary a script can parse. */
    CU_ASSERT_PTR_NOT_NULL(err ? strstr(err, "replay: bestays.users[0] ")
                               : NULL);
    CU_ASSERT_PTR_NOT_NULL(err ? strstr(err, "bestays.faq[2] ") : NULL);
    CU_ASSERT_PTR_NOT_NULL(err ? strstr(err, "bestays.audit[2] ") : NULL);
    CU_ASSERT_PTR_NULL(out ? strstr(out, "replay: bestays.") : "no stdout");
    free(out);
    free(err);
}

static void test_usage_errors_exit_64(void)
{
    char *output = NULL;

    BS_ASSERT_INT_EQ(
        bsctl((const char *[]){"replay", "--product", "bestays", "--topic",
                               "audit", "--from-offset", "5", "--from-time",
                               "2026-01-01T00:00:00Z", NULL},
              &output),
        64);
    CU_ASSERT_PTR_NOT_NULL(output ? strstr(output, "exclude each other")
                                  : NULL);
    free(output);
    output = NULL;
    BS_ASSERT_INT_EQ(bsctl((const char *[]){"replay", "--product", "bestays",
                                            "--topic", "everything", NULL},
                           &output),
                     64);
    free(output);
}

static void test_deleted_rows_are_reported_and_restored(void)
{
    char ids[5][96], *output = NULL;
    long long before;

    for (int i = 0; i < 5; i++)
        BS_ASSERT_INT_EQ(
            produce_audit("bestays", "bestays", unique_id("del", ids[i], 96)),
            BS_OK);
    BS_ASSERT_INT_EQ(wait_rows(ids[4], 1), 1);
    BS_ASSERT_INT_EQ(wait_rows(ids[0], 1), 1);
    wait_caught_up();
    before = bs_pg_count(owner, "SELECT count(*) FROM audit_log");

    /* The superuser removes two rows. */
    delete_row(ids[1]);
    delete_row(ids[3]);

    /* A dry run reports exactly them, and writes nothing. */
    BS_ASSERT_INT_EQ(
        bsctl((const char *[]){"replay", "--product", "bestays", "--topic",
                               "audit", "--dry-run", NULL},
              &output),
        1);
    BS_ASSERT_INT_EQ(summary_value(output, "missing "), 2);
    CU_ASSERT_PTR_NOT_NULL(output ? strstr(output, ids[1]) : NULL);
    CU_ASSERT_PTR_NOT_NULL(output ? strstr(output, ids[3]) : NULL);
    BS_ASSERT_INT_EQ(count_rows("bestays", ids[1]), 0);
    free(output);

    /* Without --apply or --dry-run it is a dry run too. */
    output = NULL;
    BS_ASSERT_INT_EQ(bsctl((const char *[]){"replay", "--product", "bestays",
                                            "--topic", "audit", NULL},
                           &output),
                     1);
    CU_ASSERT_PTR_NOT_NULL(output ? strstr(output, "(dry run)") : NULL);
    BS_ASSERT_INT_EQ(summary_value(output, "missing "), 2);
    CU_ASSERT_PTR_NULL(output ? strstr(output, "restored ") : "no output");
    free(output);
    BS_ASSERT_INT_EQ(count_rows("bestays", ids[1]), 0);
    BS_ASSERT_INT_EQ(count_rows("bestays", ids[3]), 0);

    /* --apply restores exactly them, once. */
    output = NULL;
    BS_ASSERT_INT_EQ(
        bsctl((const char *[]){"replay", "--product", "bestays", "--topic",
                               "audit", "--apply", NULL},
              &output),
        0);
    BS_ASSERT_INT_EQ(summary_value(output, "restored "), 2);
    free(output);
    for (int i = 0; i < 5; i++)
        BS_ASSERT_INT_EQ(count_rows("bestays", ids[i]), 1);
    BS_ASSERT_INT_EQ(bs_pg_count(owner, "SELECT count(*) FROM audit_log"),
                     before);

    /* Now they agree; the chain itself still shows where rows were cut. */
    assert_audit_trail_agrees();
    output = NULL;
    BS_ASSERT_INT_EQ(
        bsctl((const char *[]){"audit", "verify", "--product", "bestays", NULL},
              &output),
        1);
    free(output);
}

static void test_foreign_event_is_reported_not_written(void)
{
    char planted[96], marker[96], *output = NULL;

    unique_id("planted", planted, sizeof(planted));
    unique_id("marker", marker, sizeof(marker));
    BS_ASSERT_INT_EQ(produce_audit("realestate", "realestate", planted), BS_OK);
    BS_ASSERT_INT_EQ(produce_audit("bestays", "realestate", planted), BS_OK);
    BS_ASSERT_INT_EQ(produce_audit("bestays", "bestays", marker), BS_OK);
    BS_ASSERT_INT_EQ(wait_rows(marker, 1), 1);
    wait_caught_up();

    BS_ASSERT_INT_EQ(
        bsctl((const char *[]){"replay", "--product", "bestays", "--topic",
                               "audit", "--apply", NULL},
              &output),
        0);
    CU_ASSERT(summary_value(output, "foreign product ") >= 2);
    free(output);
    BS_ASSERT_INT_EQ(count_rows("bestays", planted), 0);
    BS_ASSERT_INT_EQ(count_rows("realestate", planted), 0);
}

static void test_replay_from_time_reads_only_later_events(void)
{
    char early[96], late[96], from[64], *output = NULL;
    time_t boundary;
    struct tm tm;
    int code;

    if (bs_broker_is_devbroker()) {
        /* The command must refuse clearly; the case itself needs Kafka. */
        code = bsctl((const char *[]){"replay", "--product", "bestays",
                                      "--topic", "audit", "--from-time",
                                      "2026-01-01T00:00:00Z", NULL},
                     &output);
        BS_ASSERT_INT_EQ(code, 2); /* failed, not "differ" */
        CU_ASSERT_PTR_NOT_NULL(output ? strstr(output, "devbroker") : NULL);
        free(output);
        printf("\n  SKIPPED replay --from-time: the broker is the devbroker "
               "(librdkafka's mock cluster cannot look offsets up by "
               "timestamp); runs on real Kafka\n");
        return;
    }

    BS_ASSERT_INT_EQ(produce_audit("bestays", "bestays",
                                   unique_id("early", early, sizeof(early))),
                     BS_OK);
    /* A boundary strictly between the two events' timestamps. */
    pause_ms(1100);
    boundary = time(NULL);
    pause_ms(1100);
    BS_ASSERT_INT_EQ(produce_audit("bestays", "bestays",
                                   unique_id("late", late, sizeof(late))),
                     BS_OK);
    BS_ASSERT_INT_EQ(wait_rows(late, 1), 1);
    BS_ASSERT_INT_EQ(wait_rows(early, 1), 1);
    wait_caught_up();

    /* Both deleted; a replay from the boundary restores only the later. */
    delete_row(early);
    delete_row(late);
    gmtime_r(&boundary, &tm);
    strftime(from, sizeof(from), "%Y-%m-%dT%H:%M:%SZ", &tm);
    BS_ASSERT_INT_EQ(
        bsctl((const char *[]){"replay", "--product", "bestays", "--topic",
                               "audit", "--from-time", from, "--apply", NULL},
              &output),
        0);
    free(output);
    BS_ASSERT_INT_EQ(count_rows("bestays", late), 1);
    BS_ASSERT_INT_EQ(count_rows("bestays", early), 0);

    /* Leave the trail agreeing with the log for the tests after this. */
    restore_all(1);
    BS_ASSERT_INT_EQ(count_rows("bestays", early), 1);
}

static void test_altered_row_is_reported_different(void)
{
    char ids[1][96], *output = NULL;

    produce_and_wait("alter", ids, 1);
    BS_ASSERT_INT_EQ(tamper(ids[0], "action = $2", "user.deleted"), 1);

    /* Reported as different, and --apply leaves it alone: restoring only
     * adds what is missing, it never rewrites the trail. */
    BS_ASSERT_INT_EQ(
        bsctl((const char *[]){"replay", "--product", "bestays", "--topic",
                               "audit", "--apply", NULL},
              &output),
        1);
    BS_ASSERT_INT_EQ(summary_value(output, "different "), 1);
    BS_ASSERT_INT_EQ(summary_value(output, "missing "), 0);
    BS_ASSERT_INT_EQ(summary_value(output, "extra "), 0);
    BS_ASSERT_INT_EQ(summary_value(output, "restored "), 0);
    CU_ASSERT_PTR_NOT_NULL(output ? strstr(output, ids[0]) : NULL);
    CU_ASSERT_PTR_NOT_NULL(output ? strstr(output, "DIFFER") : NULL);
    free(output);
    BS_ASSERT_INT_EQ(count_rows("bestays", ids[0]), 1);

    /* Put back, the trail agrees again. */
    BS_ASSERT_INT_EQ(tamper(ids[0], "action = $2", "user.read"), 1);
    assert_audit_trail_agrees();
}

static void test_forged_row_is_reported_extra(void)
{
    char ids[1][96], forged[128], *output = NULL;

    /* A row whose event id is in no event of the log, at a position the
     * replay reads: its own event is missing and the forged one extra. */
    produce_and_wait("forge", ids, 1);
    snprintf(forged, sizeof(forged), "%s_forged", ids[0]);
    BS_ASSERT_INT_EQ(tamper(ids[0], "event_id = $2", forged), 1);

    BS_ASSERT_INT_EQ(bsctl((const char *[]){"replay", "--product", "bestays",
                                            "--topic", "audit", NULL},
                           &output),
                     1);
    BS_ASSERT_INT_EQ(summary_value(output, "extra "), 1);
    BS_ASSERT_INT_EQ(summary_value(output, "missing "), 1);
    BS_ASSERT_INT_EQ(summary_value(output, "different "), 0);
    CU_ASSERT_PTR_NOT_NULL(output ? strstr(output, forged) : NULL);
    free(output);

    BS_ASSERT_INT_EQ(tamper(forged, "event_id = $2", ids[0]), 1);
    assert_audit_trail_agrees();
}

static void test_replay_from_offset_reads_only_later_offsets(void)
{
    char ids[6][96], from[32], *output = NULL;
    int partition[6], early = -1, late = -1;
    long long offset[6];

    /* Six events over three partitions: one partition holds two of them. */
    produce_and_wait("offset", ids, 6);
    for (int i = 0; i < 6; i++)
        CU_ASSERT_FATAL(source_of(ids[i], &partition[i], &offset[i]));
    for (int i = 0; i < 6 && late < 0; i++)
        for (int j = 0; j < 6 && late < 0; j++)
            if (i != j && partition[i] == partition[j] && offset[i] < offset[j])
                early = i, late = j;
    CU_ASSERT_FATAL(late >= 0);

    /* Both deleted; reading every partition from the later one's offset
     * restores it and not the earlier. */
    delete_row(ids[early]);
    delete_row(ids[late]);
    snprintf(from, sizeof(from), "%lld", offset[late]);
    BS_ASSERT_INT_EQ(
        bsctl((const char *[]){"replay", "--product", "bestays", "--topic",
                               "audit", "--from-offset", from, "--apply", NULL},
              &output),
        0);
    BS_ASSERT_INT_EQ(summary_value(output, "restored "), 1);
    free(output);
    BS_ASSERT_INT_EQ(count_rows("bestays", ids[late]), 1);
    BS_ASSERT_INT_EQ(count_rows("bestays", ids[early]), 0);

    /* A replay of the whole log finds the other one. */
    restore_all(1);
    BS_ASSERT_INT_EQ(count_rows("bestays", ids[early]), 1);
}

static void test_replay_to_time_skips_later_events(void)
{
    char early[1][96], late[1][96], to[64], *output = NULL;
    time_t boundary;
    struct tm tm;

    /* --to-time filters by each message's timestamp, so it works on the
     * devbroker too. A boundary strictly between the two events. */
    produce_and_wait("before", early, 1);
    pause_ms(1100);
    boundary = time(NULL);
    pause_ms(1100);
    produce_and_wait("after", late, 1);

    delete_row(early[0]);
    delete_row(late[0]);
    gmtime_r(&boundary, &tm);
    strftime(to, sizeof(to), "%Y-%m-%dT%H:%M:%SZ", &tm);
    BS_ASSERT_INT_EQ(
        bsctl((const char *[]){"replay", "--product", "bestays", "--topic",
                               "audit", "--to-time", to, "--apply", NULL},
              &output),
        0);
    BS_ASSERT_INT_EQ(summary_value(output, "restored "), 1);
    /* It read on past the boundary (timestamps need not grow with the
     * offset) and counted what it skipped. */
    CU_ASSERT(summary_value(output, "outside time range ") >= 1);
    free(output);
    BS_ASSERT_INT_EQ(count_rows("bestays", early[0]), 1);
    BS_ASSERT_INT_EQ(count_rows("bestays", late[0]), 0);

    restore_all(1);
    BS_ASSERT_INT_EQ(count_rows("bestays", late[0]), 1);
}

/* ---- concurrent appenders ------------------------------------------------ */

#define APPENDERS       4
#define APPEND_EVENTS   1000
#define APPEND_PER_CALL 20

struct appender {
    int index;
    int failures;
};

/* Appends every event id of the shared set, in its own order and its own
 * transactions, through its own connection as the service role. */
static void *append_all(void *arg)
{
    struct appender *a = arg;
    char conninfo[512], errstr[512];
    PGconn *conn;

    bs_pg_conninfo(&pg, db, BS_PG_SERVICE_ROLE, conninfo, sizeof(conninfo));
    conn = bs_db_connect(conninfo, "audit-test", errstr, sizeof(errstr));
    if (!conn) {
        a->failures++;
        return NULL;
    }
    for (int first = 0; first < APPEND_EVENTS; first += APPEND_PER_CALL) {
        struct bs_audit_row rows[APPEND_PER_CALL];
        const struct bs_audit_row *ptrs[APPEND_PER_CALL];
        char ids[APPEND_PER_CALL][96];

        for (int i = 0; i < APPEND_PER_CALL; i++) {
            /* Each appender walks the ids from a different place. */
            int n = (first + i + a->index * APPEND_EVENTS / APPENDERS) %
                    APPEND_EVENTS;

            snprintf(ids[i], sizeof(ids[i]), "conc_%s_%d", run_tag, n);
            rows[i] = (struct bs_audit_row){
                .product = "realestate",
                .event_id = ids[i],
                .actor_id = "system",
                .action = "user.read",
                .entity_type = "user",
                .occurred_at_us = n,
                .source_partition = -1,
                .source_offset = -1,
            };
            ptrs[i] = &rows[i];
        }
        if (bs_db_begin_product(conn, "realestate", errstr, sizeof(errstr)) !=
                BS_OK ||
            bs_audit_append(conn, "realestate", ptrs, APPEND_PER_CALL, NULL,
                            NULL, errstr, sizeof(errstr)) != BS_OK ||
            bs_db_commit(conn, errstr, sizeof(errstr)) != BS_OK) {
            fprintf(stderr, "appender %d: %s\n", a->index, errstr);
            bs_db_rollback(conn, NULL, 0);
            a->failures++;
        }
    }
    PQfinish(conn);
    return NULL;
}

static void test_concurrent_appenders_keep_one_chain(void)
{
    pthread_t threads[APPENDERS];
    struct appender appenders[APPENDERS];
    struct bs_audit_verify_result r;
    char errstr[512], like[256];
    long long total, distinct;

    for (int i = 0; i < APPENDERS; i++) {
        appenders[i] = (struct appender){.index = i};
        CU_ASSERT_EQUAL_FATAL(
            pthread_create(&threads[i], NULL, append_all, &appenders[i]), 0);
    }
    for (int i = 0; i < APPENDERS; i++) {
        pthread_join(threads[i], NULL);
        BS_ASSERT_INT_EQ(appenders[i].failures, 0);
    }

    snprintf(like, sizeof(like),
             "SELECT count(*) FROM audit_log WHERE product = 'realestate'"
             " AND event_id LIKE 'conc_%s_%%'",
             run_tag);
    total = bs_pg_count(owner, like);
    snprintf(like, sizeof(like),
             "SELECT count(DISTINCT event_id) FROM audit_log WHERE product ="
             " 'realestate' AND event_id LIKE 'conc_%s_%%'",
             run_tag);
    distinct = bs_pg_count(owner, like);
    BS_ASSERT_INT_EQ(total, APPEND_EVENTS);
    BS_ASSERT_INT_EQ(distinct, APPEND_EVENTS);

    /* One unbroken chain, checked by the code bsctl uses. */
    BS_ASSERT_INT_EQ(
        bs_audit_verify(owner, "realestate", &r, errstr, sizeof(errstr)),
        BS_OK);
    CU_ASSERT_TRUE(r.intact);
    BS_ASSERT_INT_EQ(r.rows, bs_pg_count(owner, "SELECT count(*) FROM"
                                                " audit_log WHERE product ="
                                                " 'realestate'"));
}

/* ---- the append path: text that COPY must escape, races past the lock -- */

/* A connection as the service role, as audit-writer has. */
static PGconn *service_connect(void)
{
    char conninfo[512], errstr[512];

    bs_pg_conninfo(&pg, db, BS_PG_SERVICE_ROLE, conninfo, sizeof(conninfo));
    return bs_db_connect(conninfo, "audit-test", errstr, sizeof(errstr));
}

/* One transaction of bs_audit_append() calls for realestate; the count
 * appended by each call goes into appended[]. BS_OK or the first error. */
static int append_in_one_transaction(PGconn *conn,
                                     const struct bs_audit_row *const *rows,
                                     const size_t *sizes, size_t calls,
                                     size_t *appended,
                                     enum bs_db_error_kind *kind)
{
    char errstr[512];
    int result =
        bs_db_begin_product(conn, "realestate", errstr, sizeof(errstr));

    for (size_t i = 0; result == BS_OK && i < calls; i++) {
        result = bs_audit_append(conn, "realestate", rows, sizes[i],
                                 &appended[i], kind, errstr, sizeof(errstr));
        rows += sizes[i];
    }
    if (result == BS_OK)
        result = bs_db_commit(conn, errstr, sizeof(errstr));
    else
        bs_db_rollback(conn, NULL, 0);
    return result;
}

/* The stored row of `event_id` as one line of its fields ('~' for NULL),
 * read back by the superuser; the caller frees it. */
static char *stored_fields(const char *event_id)
{
    const char *params[] = {event_id};
    PGresult *res = PQexecParams(
        owner,
        "SELECT concat_ws('|', coalesce(actor_id, '~'), action, entity_type,"
        " coalesce(entity_id, '~'), coalesce(changes::text, '~'),"
        " coalesce(request_id, '~'), coalesce(source_topic, '~'),"
        " coalesce(source_partition::text, '~'),"
        " coalesce(source_offset::text, '~'),"
        " (extract(epoch FROM occurred_at) * 1000000)::bigint)"
        " FROM audit_log WHERE product = 'realestate' AND event_id = $1",
        1, NULL, params, NULL, NULL, 0);
    char *text = PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1
                     ? strdup(PQgetvalue(res, 0, 0))
                     : NULL;

    PQclear(res);
    return text;
}

static void assert_realestate_chain_intact(void)
{
    struct bs_audit_verify_result r;
    char errstr[512];

    BS_ASSERT_INT_EQ(
        bs_audit_verify(owner, "realestate", &r, errstr, sizeof(errstr)),
        BS_OK);
    CU_ASSERT_TRUE(r.intact);
    if (!r.intact)
        fprintf(stderr, "chain broken: %s\n", r.reason);
}

/* Every character COPY's text format treats specially (backslash, tab,
 * newline, carriage return, a field that reads "\N") and every one an
 * array literal does (quote, backslash, comma, braces) arrives unchanged,
 * hashes verify, and NULL stays NULL while "" stays "". Two calls in one
 * transaction, then a redelivery of all of it. */
static void test_awkward_text_survives_the_append(void)
{
    char id_awk[128], id_plain[128], id_late[128], *changes = NULL;
    char errstr[256], *stored;
    PGconn *conn = service_connect();
    struct bs_audit_row rows[4];
    const struct bs_audit_row *ptrs[7];
    size_t appended[2] = {9, 9};

    CU_ASSERT_PTR_NOT_NULL_FATAL(conn);
    snprintf(id_awk, sizeof(id_awk), "awk_%s_q\"u\\o,t{e} ", run_tag);
    snprintf(id_plain, sizeof(id_plain), "awk_%s_plain", run_tag);
    snprintf(id_late, sizeof(id_late), "awk_%s_late", run_tag);
    BS_ASSERT_INT_EQ(bs_audit_canonical_json("{\"k\":\"t\\tn\\nr\\rb\\\\ "
                                             "\\\"q\\\" \\u00e9\",\"n\":null}",
                                             &changes, errstr, sizeof(errstr)),
                     BS_OK);
    rows[0] = (struct bs_audit_row){.product = "realestate",
                                    .event_id = id_awk,
                                    .actor_id = "a\tb\\c",
                                    .action = "x.y\n",
                                    .entity_type = "t\r",
                                    .entity_id = "\\N",
                                    .changes = changes,
                                    .request_id = "",
                                    .occurred_at_us = 1700000000123456,
                                    .source_topic = "to\\pic",
                                    .source_partition = 3,
                                    .source_offset = 42};
    rows[1] = (struct bs_audit_row){.product = "realestate",
                                    .event_id = id_plain,
                                    .actor_id = "system",
                                    .action = "user.read",
                                    .entity_type = "user",
                                    .occurred_at_us = -5,
                                    .source_partition = -1,
                                    .source_offset = -1};
    rows[2] = rows[1]; /* a repeat within the call */
    rows[3] = rows[1];
    rows[3].event_id = id_late;
    for (int i = 0; i < 4; i++)
        ptrs[i] = &rows[i];
    /* The redelivery: all three again. */
    ptrs[4] = &rows[0];
    ptrs[5] = &rows[1];
    ptrs[6] = &rows[3];

    BS_ASSERT_INT_EQ(append_in_one_transaction(conn, ptrs, (size_t[]){3, 1}, 2,
                                               appended, NULL),
                     BS_OK);
    BS_ASSERT_INT_EQ(appended[0], 2);
    BS_ASSERT_INT_EQ(appended[1], 1);
    BS_ASSERT_INT_EQ(append_in_one_transaction(conn, ptrs + 4, (size_t[]){3}, 1,
                                               appended, NULL),
                     BS_OK);
    BS_ASSERT_INT_EQ(appended[0], 0);

    stored = stored_fields(id_awk);
    BS_ASSERT_STR_EQ(stored,
                     "a\tb\\c|x.y\n|t\r|\\N|{\"k\": \"t\\tn\\nr\\rb\\\\"
                     " \\\"q\\\" \xc3\xa9\", \"n\": null}||to\\pic|3|42|"
                     "1700000000123456");
    free(stored);
    stored = stored_fields(id_plain);
    BS_ASSERT_STR_EQ(stored, "system|user.read|user|~|~|~|~|~|~|-5");
    free(stored);
    assert_realestate_chain_intact();
    free(changes);
    PQfinish(conn);
}

struct blocked_append {
    PGconn *conn;
    const char *event_id;
    int result;
    enum bs_db_error_kind kind;
};

static void *append_one(void *arg)
{
    struct blocked_append *b = arg;
    struct bs_audit_row row = {.product = "realestate",
                               .event_id = (char *)b->event_id,
                               .actor_id = "system",
                               .action = "user.read",
                               .entity_type = "user",
                               .source_partition = -1,
                               .source_offset = -1};
    const struct bs_audit_row *ptr = &row;
    size_t appended;

    b->result = append_in_one_transaction(b->conn, &ptr, (size_t[]){1}, 1,
                                          &appended, &b->kind);
    return NULL;
}

/* Waits (no time limit but the test's own) until the backend `pid` waits
 * for a lock. */
static bool wait_until_blocked(int pid)
{
    char sql[160];
    long long deadline = now_ms() + DEADLINE_MS;

    snprintf(sql, sizeof(sql),
             "SELECT count(*) FROM pg_stat_activity WHERE pid = %d"
             " AND wait_event_type = 'Lock'",
             pid);
    while (bs_pg_count(owner, sql) != 1)
        if (now_ms() > deadline)
            return false;
        else
            pause_ms(10);
    return true;
}

/* An event id written without the head lock between the appender's check
 * and its insert (here: by a transaction the appender must wait for) is
 * not the event's fault: the append fails as transient, to be retried. */
static void test_event_id_written_past_the_lock_is_transient(void)
{
    char id[128], sql[512];
    struct blocked_append b = {.conn = service_connect(), .event_id = id};
    PGconn *other = bs_pg_connect(&pg, db, NULL);
    pthread_t thread;

    CU_ASSERT_PTR_NOT_NULL_FATAL(b.conn);
    CU_ASSERT_PTR_NOT_NULL_FATAL(other);
    snprintf(id, sizeof(id), "past_%s", run_tag);
    snprintf(sql, sizeof(sql),
             "BEGIN; INSERT INTO audit_log (product, event_id, action,"
             " entity_type) VALUES ('realestate', '%s', 'user.read', 'user')",
             id);
    BS_ASSERT_INT_EQ(bs_pg_exec(other, sql, NULL), 0);
    CU_ASSERT_EQUAL_FATAL(pthread_create(&thread, NULL, append_one, &b), 0);
    CU_ASSERT_TRUE(wait_until_blocked(PQbackendPID(b.conn)));
    BS_ASSERT_INT_EQ(bs_pg_exec(other, "COMMIT", NULL), 0);
    pthread_join(thread, NULL);
    BS_ASSERT_INT_EQ(b.result, BS_EDB);
    BS_ASSERT_INT_EQ(b.kind, BS_DB_ERROR_TRANSIENT);

    /* Without the stray row the same append goes through. */
    snprintf(sql, sizeof(sql),
             "DELETE FROM audit_log WHERE product = 'realestate'"
             " AND event_id = '%s'",
             id);
    BS_ASSERT_INT_EQ(bs_pg_exec(owner, sql, NULL), 0);
    append_one(&b);
    BS_ASSERT_INT_EQ(b.result, BS_OK);
    assert_realestate_chain_intact();
    PQfinish(other);
    PQfinish(b.conn);
}

/* A chain place taken past the lock is the chain's fault, not the event's:
 * fatal (the writer stops and reports not ready; nothing dead-lettered). */
static void test_chain_place_taken_past_the_lock_is_fatal(void)
{
    char id[128], sql[512];
    struct blocked_append b = {.conn = service_connect(), .event_id = id};
    long long next = bs_pg_count(
        owner, "SELECT coalesce((SELECT last_seq FROM audit_chain_heads"
               " WHERE product = 'realestate'), 0) + 1");

    CU_ASSERT_PTR_NOT_NULL_FATAL(b.conn);
    snprintf(id, sizeof(id), "seq_%s", run_tag);
    snprintf(sql, sizeof(sql),
             "INSERT INTO audit_log (product, event_id, action, entity_type,"
             " chain_seq) VALUES ('realestate', 'stray_%s', 'user.read',"
             " 'user', %lld)",
             run_tag, next);
    BS_ASSERT_INT_EQ(bs_pg_exec(owner, sql, NULL), 0);
    append_one(&b);
    BS_ASSERT_INT_EQ(b.result, BS_EDB);
    BS_ASSERT_INT_EQ(b.kind, BS_DB_ERROR_FATAL);

    snprintf(sql, sizeof(sql),
             "DELETE FROM audit_log WHERE product = 'realestate'"
             " AND event_id = 'stray_%s'",
             run_tag);
    BS_ASSERT_INT_EQ(bs_pg_exec(owner, sql, NULL), 0);
    append_one(&b);
    BS_ASSERT_INT_EQ(b.result, BS_OK);
    assert_realestate_chain_intact();
    PQfinish(b.conn);
}

static CU_TestInfo replay_tests[] = {
    {"concurrent_appenders_keep_one_chain",
     test_concurrent_appenders_keep_one_chain},
    {"awkward_text_survives_the_append", test_awkward_text_survives_the_append},
    {"event_id_written_past_the_lock_is_transient",
     test_event_id_written_past_the_lock_is_transient},
    {"chain_place_taken_past_the_lock_is_fatal",
     test_chain_place_taken_past_the_lock_is_fatal},
    {"replay_agrees_with_the_live_trail",
     test_replay_agrees_with_the_live_trail},
    {"deleted_rows_are_reported_and_restored",
     test_deleted_rows_are_reported_and_restored},
    {"foreign_event_is_reported_not_written",
     test_foreign_event_is_reported_not_written},
    {"replay_from_time_reads_only_later_events",
     test_replay_from_time_reads_only_later_events},
    {"usage_errors_exit_64", test_usage_errors_exit_64},
    {"altered_row_is_reported_different",
     test_altered_row_is_reported_different},
    {"forged_row_is_reported_extra", test_forged_row_is_reported_extra},
    {"replay_from_offset_reads_only_later_offsets",
     test_replay_from_offset_reads_only_later_offsets},
    {"replay_to_time_skips_later_events",
     test_replay_to_time_skips_later_events},
    CU_TEST_INFO_NULL,
};

static void register_suites(void)
{
    bs_test_add_suite("audit_replay", suite_init, suite_cleanup, replay_tests);
}

int main(void)
{
    return bs_test_main(register_suites);
}
