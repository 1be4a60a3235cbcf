/*
 * test_user_projector.c - the consumer pipeline through the real
 * user-projector binary, on the fixtures' PostgreSQL and broker.
 *
 * The suite migrates one database and runs one projector per product on it
 * (each with its own consumer group, so other tests' consumers never take
 * its partitions). Tests produce UserEvents with a test producer and wait
 * (generous deadlines, never timed assertions) for the rows they expect.
 * The broker is shared and its topics persist: every test uses user and
 * event ids no other run used, and waits for a later "marker" event on the
 * same key (same partition) before asserting that something did not happen.
 */
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "broker_harness.h"
#include "harness.h"
#include "pg_harness.h"
#include "pg_private.h"

#include "bs/codec.h"
#include "bs/consumer.h"
#include "bs/error.h"
#include "bs/events.h"
#include "bs/kafka.h"

#define DEADLINE_MS     60000
#define STREAM_USERS    1000
#define STREAM_VERSIONS 3

extern char **environ;

static struct bs_pg_env pg;
static char *bootstrap;
static struct bs_codec *codec;
static rd_kafka_t *producer;
static char db[64];
static PGconn *owner; /* superuser: sees every product */
static pid_t projectors[2];

/* ---- processes ---------------------------------------------------------- */

/* Starts user-projector for `product` on `dbname`, output appended to a log
 * file in the state directory. Returns the pid, -1 on failure. */
static pid_t projector_start(const char *product, const struct bs_pg_env *env,
                             const char *dbname, const char *group,
                             const char *tag)
{
    char binary[512], conninfo[512], logpath[512], name[128];
    char v_product[64], v_db[600], v_kafka[512], v_group[300];
    const char *extra[] = {v_product, v_db,          v_kafka,
                           v_group,   "HTTP_PORT=0", "LOG_LEVEL=info",
                           NULL};
    const char **envp;
    size_t n = 0, i = 0;
    pid_t pid;

    bs_test_build_path("services/user-projector/user-projector", binary,
                       sizeof(binary));
    bs_pg_conninfo(env, dbname, BS_PG_SERVICE_ROLE, conninfo, sizeof(conninfo));
    snprintf(v_product, sizeof(v_product), "PRODUCT=%s", product);
    snprintf(v_db, sizeof(v_db), "DATABASE_URL=%s", conninfo);
    snprintf(v_kafka, sizeof(v_kafka), "KAFKA_BOOTSTRAP_SERVERS=%s", bootstrap);
    snprintf(v_group, sizeof(v_group), "CONSUMER_GROUP=%s", group);
    snprintf(name, sizeof(name), "user-projector-%s.log", tag);
    bs_test_state_path(name, logpath, sizeof(logpath));

    while (environ[n])
        n++;
    envp = calloc(n + 8, sizeof(*envp));
    for (size_t k = 0; k < n; k++)
        if (strncmp(environ[k], "PRODUCT=", 8) != 0 &&
            strncmp(environ[k], "DATABASE_URL=", 13) != 0 &&
            strncmp(environ[k], "KAFKA_BOOTSTRAP_SERVERS=", 24) != 0 &&
            strncmp(environ[k], "HTTP_PORT=", 10) != 0)
            envp[i++] = environ[k];
    for (size_t k = 0; extra[k]; k++)
        envp[i++] = extra[k];

    pid = fork();
    if (pid == 0) {
        FILE *log = fopen(logpath, "w");

        if (log) {
            dup2(fileno(log), 1);
            dup2(fileno(log), 2);
        }
        execve(binary, (char *const[]){binary, NULL}, (char *const *)envp);
        _exit(127);
    }
    free(envp);
    return pid;
}

/* SIGTERM, then waits; returns the exit status (or -1). */
static int projector_stop(pid_t pid, int sig)
{
    int status = 0;

    if (pid <= 0)
        return -1;
    kill(pid, sig);
    if (waitpid(pid, &status, 0) != pid)
        return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* ---- events ------------------------------------------------------------- */

struct user {
    const char *header_product; /* NULL: no product header */
    const char *record_product;
    enum bs_user_action action;
    const char *id;
    const char *event_id;
    int64_t updated_at;
    const char *first_name;
    const char *role;
};

static int produce(const char *topic, const struct user *u)
{
    struct bs_user_event e = {0};
    unsigned char *bytes = NULL;
    size_t len = 0;
    rd_kafka_headers_t *headers = rd_kafka_headers_new(1);
    char errstr[256];
    int result;

    e.meta.event_id = (char *)u->event_id;
    e.meta.product = (char *)u->record_product;
    e.meta.occurred_at = 1700000000000;
    e.meta.source = "test";
    e.action = u->action;
    e.clerk_user_id = (char *)u->id;
    e.first_name = (char *)u->first_name;
    e.role = (char *)u->role;
    e.has_clerk_updated_at = true;
    e.clerk_updated_at = u->updated_at;
    result =
        bs_user_event_encode(codec, &e, &bytes, &len, errstr, sizeof(errstr));
    if (result == BS_OK && u->header_product)
        rd_kafka_header_add(headers, BS_KAFKA_HEADER_PRODUCT, -1,
                            u->header_product, -1);
    if (result == BS_OK)
        result = bs_broker_produce(producer, topic, u->id, bytes, len, headers,
                                   errstr, sizeof(errstr));
    else
        rd_kafka_headers_destroy(headers);
    if (result != BS_OK)
        fprintf(stderr, "produce: %s\n", errstr);
    free(bytes);
    return result;
}

/* A bestays event on bestays.users. */
static int produce_bestays(enum bs_user_action action, const char *id,
                           const char *event_id, int64_t updated_at,
                           const char *first_name)
{
    struct user u = {"bestays", "bestays",  action,     id,
                     event_id,  updated_at, first_name, NULL};

    return produce("bestays.users", &u);
}

static const char *unique(const char *prefix, char *buf, size_t size)
{
    return bs_broker_unique_name(prefix, buf, size);
}

/* ---- waiting ------------------------------------------------------------ */

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

    nanosleep(&ts, NULL);
}

/* Polls `sql` (a count, as the superuser) until it equals expected or the
 * deadline passes; returns the last value. */
static long long wait_count(PGconn *conn, const char *sql, long long expected)
{
    long long value = -1;

    for (int waited = 0; waited < DEADLINE_MS; waited += 100) {
        value = bs_pg_count(conn, sql);
        if (value == expected)
            break;
        sleep_ms(100);
    }
    return value;
}

static long long countf(PGconn *conn, const char *fmt, const char *a,
                        const char *b)
{
    char sql[1024];

    snprintf(sql, sizeof(sql), fmt, a, b);
    return bs_pg_count(conn, sql);
}

/* Waits until the event was recorded with `status`. */
static long long wait_event(const char *product, const char *event_id,
                            const char *status)
{
    char sql[1024];

    snprintf(sql, sizeof(sql),
             "SELECT count(*) FROM webhook_events WHERE product = '%s'"
             " AND svix_id = '%s' AND status = '%s'",
             product, event_id, status);
    return wait_count(owner, sql, 1);
}

static char *user_field(const char *product, const char *id, const char *field)
{
    char sql[512];

    snprintf(sql, sizeof(sql),
             "SELECT %s::text FROM users WHERE product = '%s' AND id = '%s'",
             field, product, id);
    return bs_pg_text(owner, sql);
}

/* The HTTP port the projector logged under `tag` (0 if not yet). */
static unsigned projector_port(const char *tag)
{
    char name[128], path[512];
    char *text, *line;
    unsigned port = 0;

    snprintf(name, sizeof(name), "user-projector-%s.log", tag);
    text = bs_test_read_file(bs_test_state_path(name, path, sizeof(path)));
    line = text ? strstr(text, "event=http_listening port=") : NULL;
    if (line)
        port = (unsigned)strtoul(line + strlen("event=http_listening port="),
                                 NULL, 10);
    free(text);
    return port;
}

static size_t collect_body(char *data, size_t size, size_t n, void *ctx)
{
    char **body = ctx;
    size_t old = *body ? strlen(*body) : 0;
    char *grown = realloc(*body, old + size * n + 1);

    if (!grown)
        return 0;
    memcpy(grown + old, data, size * n);
    grown[old + size * n] = '\0';
    *body = grown;
    return size * n;
}

/* GET http://127.0.0.1:<port><path>: the status (0 on failure) and the
 * body in *body (caller frees) when body is not NULL. */
static long http_get(unsigned port, const char *path, char **body)
{
    char url[256];
    char *text = NULL;
    long status = 0;
    CURL *curl = curl_easy_init();

    snprintf(url, sizeof(url), "http://127.0.0.1:%u%s", port, path);
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, 5000L);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, collect_body);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &text);
    if (curl_easy_perform(curl) == CURLE_OK)
        curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(curl);
    if (body)
        *body = text;
    else
        free(text);
    return status;
}

/* Waits until GET <path> answers `expected`; returns the last status. */
static long wait_http(const char *tag, const char *path, long expected)
{
    long status = 0;

    for (int waited = 0; waited < DEADLINE_MS; waited += 100) {
        unsigned port = projector_port(tag);

        status = port ? http_get(port, path, NULL) : 0;
        if (status == expected)
            break;
        sleep_ms(100);
    }
    return status;
}

/* A series' value in /metrics text: the first line of metric `name` that
 * contains `label` (e.g. reason="tenant_mismatch"; NULL: any); -1 when
 * absent. */
static double metric_value(const char *text, const char *name,
                           const char *label)
{
    size_t n = strlen(name);

    for (const char *p = text; p && *p; p = strchr(p, '\n')) {
        const char *end;

        if (*p == '\n')
            p++;
        end = strchr(p, '\n');
        if (strncmp(p, name, n) != 0 || (p[n] != '{' && p[n] != ' '))
            continue;
        if (label) {
            const char *hit = strstr(p, label);

            if (!hit || (end && hit > end))
                continue;
        }
        end = strchr(p, ' ');
        return end ? strtod(end + 1, NULL) : -1;
    }
    return -1;
}

/* ---- suite -------------------------------------------------------------- */

static int migrate_new_database(const struct bs_pg_env *env, const char *tag,
                                char *name, size_t size)
{
    const char *const up[] = {"up", NULL};

    if (bs_pg_create_database(env, tag, name, size) != 0)
        return -1;
    return bs_pg_migrate(env, name, up, NULL) == 0 ? 0 : -1;
}

static int suite_init(void)
{
    char errstr[256], group[128];
    const char *products[] = {"bestays", "realestate"};

    if (bs_pg_env_load(&pg) != 0 || !(bootstrap = bs_broker_bootstrap()))
        return -1;
    if (bs_codec_new_builtin(&codec, errstr, sizeof(errstr)) != BS_OK ||
        bs_broker_producer_new(&producer, "bestays", errstr, sizeof(errstr)) !=
            BS_OK) {
        fprintf(stderr, "suite: %s\n", errstr);
        return -1;
    }
    if (migrate_new_database(&pg, "projector", db, sizeof(db)) != 0 ||
        !(owner = bs_pg_connect(&pg, db, NULL)))
        return -1;
    for (int i = 0; i < 2; i++) {
        unique("test-projector", group, sizeof(group));
        projectors[i] =
            projector_start(products[i], &pg, db, group, products[i]);
        if (projectors[i] < 0)
            return -1;
    }
    return 0;
}

static int suite_cleanup(void)
{
    int failed = 0;

    for (int i = 0; i < 2; i++)
        if (projector_stop(projectors[i], SIGTERM) != 0)
            failed = -1;
    if (owner)
        PQfinish(owner);
    bs_pg_drop_database(&pg, db);
    if (producer)
        rd_kafka_destroy(producer);
    bs_codec_free(codec);
    free(bootstrap);
    return failed;
}

/* ---- tests -------------------------------------------------------------- */

static void test_created_updated_deleted_are_applied(void)
{
    char id[96], e1[96], e2[96], e3[96];
    char *name;

    unique("user", id, sizeof(id));
    CU_ASSERT_FATAL(produce_bestays(BS_USER_CREATED, id,
                                    unique("ev", e1, sizeof(e1)), 1000,
                                    "Ann") == BS_OK);
    BS_ASSERT_INT_EQ(wait_event("bestays", e1, "processed"), 1);
    name = user_field("bestays", id, "first_name");
    BS_ASSERT_STR_EQ(name, "Ann");
    free(name);

    CU_ASSERT_FATAL(produce_bestays(BS_USER_UPDATED, id,
                                    unique("ev", e2, sizeof(e2)), 2000,
                                    "Bea") == BS_OK);
    BS_ASSERT_INT_EQ(wait_event("bestays", e2, "processed"), 1);
    name = user_field("bestays", id, "first_name");
    BS_ASSERT_STR_EQ(name, "Bea");
    free(name);

    CU_ASSERT_FATAL(produce_bestays(BS_USER_DELETED, id,
                                    unique("ev", e3, sizeof(e3)), 3000,
                                    NULL) == BS_OK);
    BS_ASSERT_INT_EQ(wait_event("bestays", e3, "processed"), 1);
    BS_ASSERT_INT_EQ(countf(owner,
                            "SELECT count(*) FROM users WHERE id = '%s'"
                            " AND deleted_at IS NOT NULL%s",
                            id, ""),
                     1);

    /* Healthy, ready, and counting. */
    char *metrics = NULL;
    unsigned port = projector_port("bestays");
    BS_ASSERT_INT_EQ(http_get(port, "/healthz", NULL), 200);
    BS_ASSERT_INT_EQ(http_get(port, "/readyz", NULL), 200);
    BS_ASSERT_INT_EQ(http_get(port, "/metrics", &metrics), 200);
    CU_ASSERT(metric_value(metrics, "bs_events_applied_total", NULL) >= 3);
    CU_ASSERT(metric_value(metrics, "bs_events_consumed_total", NULL) >= 3);
    CU_ASSERT(metric_value(metrics, "bs_consumer_ready", NULL) == 1);
    free(metrics);
}

static void test_stale_update_is_ignored(void)
{
    char id[96], e1[96], e2[96];
    char *name;

    unique("user", id, sizeof(id));
    CU_ASSERT_FATAL(produce_bestays(BS_USER_CREATED, id,
                                    unique("ev", e1, sizeof(e1)), 2000,
                                    "New") == BS_OK);
    CU_ASSERT_FATAL(produce_bestays(BS_USER_UPDATED, id,
                                    unique("ev", e2, sizeof(e2)), 1000,
                                    "Old") == BS_OK);
    BS_ASSERT_INT_EQ(wait_event("bestays", e2, "skipped"), 1);
    name = user_field("bestays", id, "first_name");
    BS_ASSERT_STR_EQ(name, "New");
    free(name);
}

static void test_late_update_after_delete_does_not_resurrect(void)
{
    char id[96], e1[96], e2[96], e3[96], e4[96];

    /* A known user, deleted, then a newer update. */
    unique("user", id, sizeof(id));
    CU_ASSERT_FATAL(produce_bestays(BS_USER_CREATED, id,
                                    unique("ev", e1, sizeof(e1)), 1000,
                                    "Ann") == BS_OK);
    CU_ASSERT_FATAL(produce_bestays(BS_USER_DELETED, id,
                                    unique("ev", e2, sizeof(e2)), 2000,
                                    NULL) == BS_OK);
    CU_ASSERT_FATAL(produce_bestays(BS_USER_UPDATED, id,
                                    unique("ev", e3, sizeof(e3)), 9000,
                                    "Zombie") == BS_OK);
    BS_ASSERT_INT_EQ(wait_event("bestays", e3, "skipped"), 1);
    BS_ASSERT_INT_EQ(countf(owner,
                            "SELECT count(*) FROM users WHERE id = '%s'"
                            " AND deleted_at IS NOT NULL"
                            " AND first_name = 'Ann'%s",
                            id, ""),
                     1);

    /* A delete before any create leaves a tombstone a create cannot undo. */
    unique("user", id, sizeof(id));
    CU_ASSERT_FATAL(produce_bestays(BS_USER_DELETED, id,
                                    unique("ev", e1, sizeof(e1)), 2000,
                                    NULL) == BS_OK);
    CU_ASSERT_FATAL(produce_bestays(BS_USER_CREATED, id,
                                    unique("ev", e4, sizeof(e4)), 3000,
                                    "Late") == BS_OK);
    BS_ASSERT_INT_EQ(wait_event("bestays", e4, "skipped"), 1);
    BS_ASSERT_INT_EQ(countf(owner,
                            "SELECT count(*) FROM users WHERE id = '%s'"
                            " AND deleted_at IS NOT NULL"
                            " AND first_name IS NULL%s",
                            id, ""),
                     1);
}

static void test_update_before_create_creates_the_user(void)
{
    char id[96], e1[96], e2[96];
    char *name;

    unique("user", id, sizeof(id));
    CU_ASSERT_FATAL(produce_bestays(BS_USER_UPDATED, id,
                                    unique("ev", e1, sizeof(e1)), 2000,
                                    "Upd") == BS_OK);
    CU_ASSERT_FATAL(produce_bestays(BS_USER_CREATED, id,
                                    unique("ev", e2, sizeof(e2)), 1000,
                                    "Crt") == BS_OK);
    BS_ASSERT_INT_EQ(wait_event("bestays", e1, "processed"), 1);
    BS_ASSERT_INT_EQ(wait_event("bestays", e2, "skipped"), 1);
    name = user_field("bestays", id, "first_name");
    BS_ASSERT_STR_EQ(name, "Upd");
    free(name);
}

static void test_same_event_three_times_gives_one_row(void)
{
    char id[96], e1[96], marker[96];

    unique("user", id, sizeof(id));
    unique("ev", e1, sizeof(e1));
    for (int i = 0; i < 3; i++)
        CU_ASSERT_FATAL(
            produce_bestays(BS_USER_CREATED, id, e1, 1000, "Once") == BS_OK);
    CU_ASSERT_FATAL(produce_bestays(BS_USER_UPDATED, id,
                                    unique("ev", marker, sizeof(marker)), 1000,
                                    "Once") == BS_OK);
    BS_ASSERT_INT_EQ(wait_event("bestays", marker, "processed"), 1);
    BS_ASSERT_INT_EQ(
        countf(owner, "SELECT count(*) FROM users WHERE id = '%s'%s", id, ""),
        1);
    BS_ASSERT_INT_EQ(countf(owner,
                            "SELECT count(*) FROM webhook_events"
                            " WHERE svix_id = '%s'%s",
                            e1, ""),
                     1);
}

/* DLQ matching: the key and the dlq.reason header's prefix. */
struct dlq_match {
    const char *key;
    const char *reason;
};

static bool header_is(const rd_kafka_message_t *m, const char *name,
                      const char *prefix)
{
    rd_kafka_headers_t *headers = NULL;
    const void *value;
    size_t len;

    if (rd_kafka_message_headers(m, &headers) ||
        rd_kafka_header_get_last(headers, name, &value, &len))
        return false;
    return len >= strlen(prefix) && memcmp(value, prefix, strlen(prefix)) == 0;
}

static bool match_dlq(const rd_kafka_message_t *m, void *ctx)
{
    const struct dlq_match *want = ctx;

    return m->key_len == strlen(want->key) &&
           memcmp(m->key, want->key, m->key_len) == 0 &&
           header_is(m, BS_DLQ_HEADER_REASON, want->reason) &&
           header_is(m, BS_DLQ_HEADER_TOPIC, "bestays.users") &&
           header_is(m, BS_DLQ_HEADER_SERVICE, "user-projector") &&
           header_is(m, BS_KAFKA_HEADER_PRODUCT, "bestays");
}

static int dlq_count(const char *key, const char *reason)
{
    struct dlq_match want = {key, reason};
    char errstr[256];
    int matches = 0;

    if (bs_broker_scan_topic("bestays", "bestays.dlq", match_dlq, &want,
                             DEADLINE_MS, &matches, errstr,
                             sizeof(errstr)) != BS_OK)
        fprintf(stderr, "scan: %s\n", errstr);
    return matches;
}

static void test_other_product_event_goes_to_dlq_and_no_table(void)
{
    char id1[96], id2[96], e1[96], e2[96], marker[96];
    struct user by_header = {"realestate",
                             "realestate",
                             BS_USER_CREATED,
                             unique("user", id1, sizeof(id1)),
                             unique("ev", e1, sizeof(e1)),
                             1000,
                             "Leak",
                             NULL};
    struct user by_record = {"bestays",
                             "realestate",
                             BS_USER_CREATED,
                             unique("user", id2, sizeof(id2)),
                             unique("ev", e2, sizeof(e2)),
                             1000,
                             "Leak",
                             NULL};

    CU_ASSERT_FATAL(produce("bestays.users", &by_header) == BS_OK);
    CU_ASSERT_FATAL(produce("bestays.users", &by_record) == BS_OK);
    /* Markers on the same keys: once applied, the refusals are behind. */
    CU_ASSERT_FATAL(produce_bestays(BS_USER_CREATED, id1,
                                    unique("ev", marker, sizeof(marker)), 1,
                                    "Marker") == BS_OK);
    BS_ASSERT_INT_EQ(wait_event("bestays", marker, "processed"), 1);
    CU_ASSERT_FATAL(produce_bestays(BS_USER_CREATED, id2,
                                    unique("ev", marker, sizeof(marker)), 1,
                                    "Marker") == BS_OK);
    BS_ASSERT_INT_EQ(wait_event("bestays", marker, "processed"), 1);

    BS_ASSERT_INT_EQ(countf(owner,
                            "SELECT count(*) FROM users WHERE id IN"
                            " ('%s', '%s') AND first_name = 'Leak'",
                            id1, id2),
                     0);
    BS_ASSERT_INT_EQ(countf(owner,
                            "SELECT count(*) FROM webhook_events WHERE"
                            " svix_id IN ('%s', '%s')",
                            e1, e2),
                     0);
    CU_ASSERT(dlq_count(id1, "tenant_mismatch") >= 1);
    CU_ASSERT(dlq_count(id2, "tenant_mismatch") >= 1);

    /* Counted, by reason. */
    char *metrics = NULL;
    BS_ASSERT_INT_EQ(http_get(projector_port("bestays"), "/metrics", &metrics),
                     200);
    CU_ASSERT(metric_value(metrics, "bs_events_rejected_total",
                           "reason=\"tenant_mismatch\"") >= 2);
    CU_ASSERT(metric_value(metrics, "bs_events_dead_lettered_total",
                           "reason=\"tenant_mismatch\"") >= 2);
    free(metrics);
}

static void test_constraint_violation_goes_to_dlq_rest_applied(void)
{
    char bad[96], good[96], e1[96], e2[96];
    struct user invalid = {"bestays",
                           "bestays",
                           BS_USER_CREATED,
                           unique("user", bad, sizeof(bad)),
                           unique("ev", e1, sizeof(e1)),
                           1000,
                           "Bad",
                           "superhero"};

    CU_ASSERT_FATAL(produce("bestays.users", &invalid) == BS_OK);
    CU_ASSERT_FATAL(
        produce_bestays(BS_USER_CREATED, unique("user", good, sizeof(good)),
                        unique("ev", e2, sizeof(e2)), 1000, "Good") == BS_OK);
    BS_ASSERT_INT_EQ(wait_event("bestays", e2, "processed"), 1);
    CU_ASSERT(dlq_count(bad, "constraint_violation") >= 1);
    BS_ASSERT_INT_EQ(
        countf(owner, "SELECT count(*) FROM users WHERE id = '%s'%s", bad, ""),
        0);
}

static void test_undecodable_message_goes_to_dlq(void)
{
    char id[96], marker[96], errstr[256];
    const char garbage[] = "\x00\x00\x00\x7fnot avro";
    rd_kafka_headers_t *headers = rd_kafka_headers_new(1);

    unique("user", id, sizeof(id));
    rd_kafka_header_add(headers, BS_KAFKA_HEADER_PRODUCT, -1, "bestays", -1);
    CU_ASSERT_FATAL(bs_broker_produce(producer, "bestays.users", id, garbage,
                                      sizeof(garbage) - 1, headers, errstr,
                                      sizeof(errstr)) == BS_OK);
    CU_ASSERT_FATAL(produce_bestays(BS_USER_CREATED, id,
                                    unique("ev", marker, sizeof(marker)), 1,
                                    "After") == BS_OK);
    BS_ASSERT_INT_EQ(wait_event("bestays", marker, "processed"), 1);
    CU_ASSERT(dlq_count(id, "decode_error") >= 1);
}

static void test_products_side_by_side_stay_apart(void)
{
    char b[96], r[96], e1[96], e2[96];
    struct user re = {"realestate",
                      "realestate",
                      BS_USER_CREATED,
                      unique("user", r, sizeof(r)),
                      unique("ev", e2, sizeof(e2)),
                      1000,
                      "Re",
                      NULL};

    CU_ASSERT_FATAL(
        produce_bestays(BS_USER_CREATED, unique("user", b, sizeof(b)),
                        unique("ev", e1, sizeof(e1)), 1000, "Be") == BS_OK);
    CU_ASSERT_FATAL(produce("realestate.users", &re) == BS_OK);
    BS_ASSERT_INT_EQ(wait_event("bestays", e1, "processed"), 1);
    BS_ASSERT_INT_EQ(wait_event("realestate", e2, "processed"), 1);
    BS_ASSERT_INT_EQ(countf(owner,
                            "SELECT count(*) FROM users WHERE id = '%s'"
                            " AND product <> 'bestays'%s",
                            b, ""),
                     0);
    BS_ASSERT_INT_EQ(countf(owner,
                            "SELECT count(*) FROM users WHERE id = '%s'"
                            " AND product <> 'realestate'%s",
                            r, ""),
                     0);
}

/* ---- several records of one batch ---------------------------------------- */

#define MAX_PARTITIONS 64

/* Where each partition of bestays.users ends. */
struct topic_mark {
    int count;
    int64_t high[MAX_PARTITIONS];
};

/* Reads every partition's high watermark; 0, or -1 on failure. */
static int topic_mark(struct topic_mark *mark)
{
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(producer, "bestays.users", NULL);
    int result = 0;

    mark->count = 0;
    if (rd_kafka_metadata(producer, 0, rkt, &md, DEADLINE_MS) != 0 ||
        md->topic_cnt != 1 || md->topics[0].partition_cnt > MAX_PARTITIONS)
        result = -1;
    for (int p = 0; result == 0 && p < md->topics[0].partition_cnt; p++) {
        int64_t low = 0;

        if (md->topics[0].partitions[p].id != p ||
            rd_kafka_query_watermark_offsets(producer, "bestays.users", p, &low,
                                             &mark->high[p], DEADLINE_MS) !=
                RD_KAFKA_RESP_ERR_NO_ERROR)
            result = -1;
        else
            mark->count = p + 1;
    }
    if (md)
        rd_kafka_metadata_destroy(md);
    rd_kafka_topic_destroy(rkt);
    return result;
}

static long long mark_total(const struct topic_mark *mark)
{
    long long total = 0;

    for (int p = 0; p < mark->count; p++)
        total += mark->high[p];
    return total;
}

/* Stores `mark` as `group`'s offsets, so its projector starts there. */
static int store_offsets(PGconn *conn, const char *group,
                         const struct topic_mark *mark)
{
    char sql[512];

    for (int p = 0; p < mark->count; p++) {
        snprintf(sql, sizeof(sql),
                 "INSERT INTO consumer_offsets (product, consumer_group,"
                 " topic, partition, next_offset) VALUES ('bestays', '%s',"
                 " 'bestays.users', %d, %" PRId64 ")",
                 group, p, mark->high[p]);
        if (bs_pg_exec(conn, sql, NULL) != 0)
            return -1;
    }
    return 0;
}

/* Waits until `group` has stored offsets up to `end` in total. */
static bool wait_caught_up(PGconn *conn, const char *group, long long end)
{
    char sql[512];

    snprintf(sql, sizeof(sql),
             "SELECT least(coalesce(sum(next_offset), 0), %lld)"
             " FROM consumer_offsets WHERE consumer_group = '%s'"
             " AND topic = 'bestays.users'",
             end, group);
    return end >= 0 && wait_count(conn, sql, end) == end;
}

/* The status webhook_events holds for an event id (NULL: none). */
static char *event_status(PGconn *conn, const char *event_id)
{
    char sql[512];

    snprintf(sql, sizeof(sql),
             "SELECT string_agg(status, ',') FROM webhook_events"
             " WHERE svix_id = '%s'",
             event_id);
    return bs_pg_text(conn, sql);
}

static void assert_status(PGconn *conn, const char *event_id,
                          const char *expected)
{
    char *status = event_status(conn, event_id);

    BS_ASSERT_STR_EQ(status, expected);
    free(status);
}

static void assert_user(PGconn *conn, const char *id, const char *first_name,
                        bool deleted)
{
    char sql[512];
    char *text;

    snprintf(sql, sizeof(sql),
             "SELECT coalesce(first_name, '-') || (CASE WHEN deleted_at IS"
             " NULL THEN '' ELSE ' (deleted)' END) FROM users"
             " WHERE product = 'bestays' AND id = '%s'",
             id);
    text = bs_pg_text(conn, sql);
    snprintf(sql, sizeof(sql), "%s%s", first_name, deleted ? " (deleted)" : "");
    BS_ASSERT_STR_EQ(text, sql);
    free(text);
}

/*
 * What the test produced since `from` waits in the topic; then a projector
 * with a new group starts on a new database (seeded by `seed` if not NULL)
 * at `from`, so those records alone arrive, in as few batches as the batch
 * size allows. Returns the owner connection to that database (the caller
 * finishes it and drops the database).
 */
static PGconn *project_afresh(const struct topic_mark *from, const char *seed,
                              char *dbname, size_t size)
{
    struct topic_mark end;
    char group[128];
    PGconn *conn;
    pid_t pid;

    if (topic_mark(&end) != 0 ||
        migrate_new_database(&pg, "batch", dbname, size) != 0 ||
        !(conn = bs_pg_connect(&pg, dbname, NULL)))
        return NULL;
    unique("test-batch", group, sizeof(group));
    CU_ASSERT(store_offsets(conn, group, from) == 0);
    if (seed)
        CU_ASSERT(bs_pg_exec(conn, seed, NULL) == 0);
    pid = projector_start("bestays", &pg, dbname, group, "batch");
    CU_ASSERT(wait_caught_up(conn, group, mark_total(&end)));
    BS_ASSERT_INT_EQ(projector_stop(pid, SIGTERM), 0);
    return conn;
}

static void test_one_batch_of_states_of_one_user_ends_as_the_rules_say(void)
{
    char a[96], b[96], c[96], d[96], e[96], f[96], ghost[96], seed[1024];
    char ev[9][96], batch_db[64];
    struct topic_mark from;
    PGconn *conn;

    CU_ASSERT_FATAL(topic_mark(&from) == 0);

    /* One user, out of order, a delete in the middle, a redelivery. */
    unique("user", a, sizeof(a));
    for (int i = 0; i < 9; i++)
        unique("ev", ev[i], sizeof(ev[i]));
    CU_ASSERT_FATAL(produce_bestays(BS_USER_CREATED, a, ev[0], 1000, "A1") ==
                    BS_OK);
    CU_ASSERT_FATAL(produce_bestays(BS_USER_UPDATED, a, ev[1], 3000, "A3") ==
                    BS_OK);
    CU_ASSERT_FATAL(produce_bestays(BS_USER_UPDATED, a, ev[2], 2000, "A2") ==
                    BS_OK);
    CU_ASSERT_FATAL(produce_bestays(BS_USER_UPDATED, a, ev[1], 3000, "A3") ==
                    BS_OK);
    CU_ASSERT_FATAL(produce_bestays(BS_USER_DELETED, a, ev[3], 2500, NULL) ==
                    BS_OK);
    CU_ASSERT_FATAL(produce_bestays(BS_USER_UPDATED, a, ev[4], 4000, "A4") ==
                    BS_OK);

    /* Users seen once in the batch, some against a stored state. */
    unique("user", b, sizeof(b));
    unique("user", c, sizeof(c));
    unique("user", d, sizeof(d));
    unique("user", e, sizeof(e));
    unique("user", f, sizeof(f));
    unique("ev", ghost, sizeof(ghost));
    CU_ASSERT_FATAL(produce_bestays(BS_USER_UPDATED, b, ev[5], 5000, "B") ==
                    BS_OK);
    CU_ASSERT_FATAL(produce_bestays(BS_USER_DELETED, c, ev[6], 5000, NULL) ==
                    BS_OK);
    CU_ASSERT_FATAL(produce_bestays(BS_USER_UPDATED, d, ev[7], 4000, "Old") ==
                    BS_OK);
    CU_ASSERT_FATAL(
        produce_bestays(BS_USER_CREATED, e, ev[8], 9000, "Zombie") == BS_OK);
    CU_ASSERT_FATAL(produce_bestays(BS_USER_CREATED, f, ghost, 1000, "Ghost") ==
                    BS_OK);
    snprintf(seed, sizeof(seed),
             "INSERT INTO users (product, id, first_name, clerk_updated_at,"
             " deleted_at) VALUES ('bestays', '%s', 'Stored', 5000, NULL),"
             " ('bestays', '%s', 'Gone', 5000, now());"
             " INSERT INTO webhook_events (product, svix_id, event_type,"
             " status) VALUES ('bestays', '%s', 'user.created', 'failed')",
             d, e, ghost);

    conn = project_afresh(&from, seed, batch_db, sizeof(batch_db));
    CU_ASSERT_FATAL(conn != NULL);

    /* A: the newest state before the delete, then the tombstone. */
    assert_user(conn, a, "A3", true);
    assert_status(conn, ev[0], "processed");
    assert_status(conn, ev[1], "processed");
    assert_status(conn, ev[2], "skipped");
    assert_status(conn, ev[3], "processed");
    assert_status(conn, ev[4], "skipped");
    assert_user(conn, b, "B", false);
    assert_user(conn, c, "-", true);
    assert_status(conn, ev[6], "processed");
    assert_user(conn, d, "Stored", false);
    assert_status(conn, ev[7], "skipped");
    assert_user(conn, e, "Gone", true);
    assert_status(conn, ev[8], "skipped");
    /* An event id seen before changes nothing. */
    BS_ASSERT_INT_EQ(
        countf(conn, "SELECT count(*) FROM users WHERE id = '%s'%s", f, ""), 0);
    assert_status(conn, ghost, "failed");

    PQfinish(conn);
    bs_pg_drop_database(&pg, batch_db);
}

static void test_one_batch_with_a_bad_record_applies_the_others(void)
{
    char good[2][96], bad[96], twice[96], ev[5][96], batch_db[64];
    struct user invalid = {"bestays", "bestays", BS_USER_CREATED, bad,
                           ev[2],     1000,      "Bad",           "superhero"};
    struct topic_mark from;
    PGconn *conn;

    CU_ASSERT_FATAL(topic_mark(&from) == 0);
    for (int i = 0; i < 5; i++)
        unique("ev", ev[i], sizeof(ev[i]));
    unique("user", good[0], sizeof(good[0]));
    unique("user", good[1], sizeof(good[1]));
    unique("user", bad, sizeof(bad));
    unique("user", twice, sizeof(twice));
    CU_ASSERT_FATAL(produce_bestays(BS_USER_CREATED, good[0], ev[0], 1000,
                                    "Good0") == BS_OK);
    CU_ASSERT_FATAL(produce_bestays(BS_USER_CREATED, twice, ev[1], 1000,
                                    "Twice1") == BS_OK);
    CU_ASSERT_FATAL(produce("bestays.users", &invalid) == BS_OK);
    CU_ASSERT_FATAL(produce_bestays(BS_USER_UPDATED, twice, ev[3], 2000,
                                    "Twice2") == BS_OK);
    CU_ASSERT_FATAL(produce_bestays(BS_USER_CREATED, good[1], ev[4], 1000,
                                    "Good1") == BS_OK);

    conn = project_afresh(&from, NULL, batch_db, sizeof(batch_db));
    CU_ASSERT_FATAL(conn != NULL);
    assert_user(conn, good[0], "Good0", false);
    assert_user(conn, good[1], "Good1", false);
    assert_user(conn, twice, "Twice2", false);
    assert_status(conn, ev[1], "processed");
    BS_ASSERT_INT_EQ(
        countf(conn, "SELECT count(*) FROM users WHERE id = '%s'%s", bad, ""),
        0);
    BS_ASSERT_INT_EQ(countf(conn,
                            "SELECT count(*) FROM webhook_events"
                            " WHERE svix_id = '%s'%s",
                            ev[2], ""),
                     0);
    CU_ASSERT(dlq_count(bad, "constraint_violation") >= 1);

    PQfinish(conn);
    bs_pg_drop_database(&pg, batch_db);
}

/* ---- crash and outage ---------------------------------------------------- */

/* Produces versions [from, to) of every user of the stream, async. */
static int produce_stream(const char *prefix, int from, int to)
{
    for (int v = from; v < to; v++)
        for (int i = 0; i < STREAM_USERS; i++) {
            char id[160], ev[200], name[16];
            struct user u = {"bestays",
                             "bestays",
                             v == 0 ? BS_USER_CREATED : BS_USER_UPDATED,
                             id,
                             ev,
                             1000 + v,
                             name,
                             NULL};

            snprintf(id, sizeof(id), "%s-u%d", prefix, i);
            snprintf(ev, sizeof(ev), "%s-u%d-v%d", prefix, i, v);
            snprintf(name, sizeof(name), "v%d", v);
            if (produce("bestays.users", &u) != BS_OK)
                return -1;
        }
    return 0;
}

static bool match_key_prefix(const rd_kafka_message_t *m, void *ctx)
{
    const char *prefix = ctx;

    return m->key_len >= strlen(prefix) &&
           memcmp(m->key, prefix, strlen(prefix)) == 0;
}

/* Waits until all STREAM_USERS * STREAM_VERSIONS events of the stream are
 * in, every user at its last version. */
static void assert_stream_complete(PGconn *conn, const char *like)
{
    char sql[512];

    snprintf(sql, sizeof(sql),
             "SELECT count(*) FROM webhook_events WHERE svix_id LIKE '%s'",
             like);
    BS_ASSERT_INT_EQ(wait_count(conn, sql, STREAM_USERS * STREAM_VERSIONS),
                     STREAM_USERS * STREAM_VERSIONS);
    snprintf(sql, sizeof(sql),
             "SELECT count(*) FROM users WHERE id LIKE '%s'"
             " AND first_name = 'v%d'",
             like, STREAM_VERSIONS - 1);
    BS_ASSERT_INT_EQ(wait_count(conn, sql, STREAM_USERS), STREAM_USERS);
    snprintf(sql, sizeof(sql), "SELECT count(*) FROM users WHERE id LIKE '%s'",
             like);
    BS_ASSERT_INT_EQ(bs_pg_count(conn, sql), STREAM_USERS);
}

static void test_sigkill_mid_stream_loses_and_doubles_nothing(void)
{
    char stream_db[64], prefix[96], group[128], like[128];
    pid_t pid;

    CU_ASSERT_FATAL(
        migrate_new_database(&pg, "kill", stream_db, sizeof(stream_db)) == 0);
    PGconn *conn = bs_pg_connect(&pg, stream_db, NULL);
    CU_ASSERT_FATAL(conn != NULL);
    unique("kill", prefix, sizeof(prefix));
    unique("test-kill", group, sizeof(group));
    snprintf(like, sizeof(like), "%s-%%", prefix);

    pid = projector_start("bestays", &pg, stream_db, group, "kill");
    CU_ASSERT_FATAL(pid > 0);
    CU_ASSERT_FATAL(produce_stream(prefix, 0, 2) == 0);

    /* Kill it while it is applying the stream. */
    char sql[512];
    snprintf(sql, sizeof(sql),
             "SELECT least(count(*), 1) FROM webhook_events"
             " WHERE svix_id LIKE '%s'",
             like);
    BS_ASSERT_INT_EQ(wait_count(conn, sql, 1), 1);
    BS_ASSERT_INT_EQ(projector_stop(pid, SIGKILL), 128 + SIGKILL);
    CU_ASSERT_FATAL(produce_stream(prefix, 2, STREAM_VERSIONS) == 0);

    pid = projector_start("bestays", &pg, stream_db, group, "kill");
    CU_ASSERT_FATAL(pid > 0);
    assert_stream_complete(conn, like);

    BS_ASSERT_INT_EQ(projector_stop(pid, SIGTERM), 0);
    PQfinish(conn);
    bs_pg_drop_database(&pg, stream_db);
}

static bool log_has(const char *tag, const char *needle)
{
    char name[128], path[512];
    char *text;
    bool found;

    snprintf(name, sizeof(name), "user-projector-%s.log", tag);
    text = bs_test_read_file(bs_test_state_path(name, path, sizeof(path)));
    found = text && strstr(text, needle);
    free(text);
    return found;
}

static bool wait_log(const char *tag, const char *needle)
{
    for (int waited = 0; waited < DEADLINE_MS; waited += 100) {
        if (log_has(tag, needle))
            return true;
        sleep_ms(100);
    }
    return false;
}

static void test_second_member_takes_partitions_at_stored_offsets(void)
{
    char stream_db[64], prefix[96], group[128], like[128], sql[512];
    PGconn *conn;
    pid_t a, b;

    CU_ASSERT_FATAL(
        migrate_new_database(&pg, "scale", stream_db, sizeof(stream_db)) == 0);
    conn = bs_pg_connect(&pg, stream_db, NULL);
    CU_ASSERT_FATAL(conn != NULL);
    unique("scale", prefix, sizeof(prefix));
    unique("test-scale", group, sizeof(group));
    snprintf(like, sizeof(like), "%s-%%", prefix);

    a = projector_start("bestays", &pg, stream_db, group, "scale-a");
    CU_ASSERT_FATAL(a > 0);
    CU_ASSERT_FATAL(produce_stream(prefix, 0, 2) == 0);
    snprintf(sql, sizeof(sql),
             "SELECT least(count(*), 1) FROM webhook_events"
             " WHERE svix_id LIKE '%s'",
             like);
    BS_ASSERT_INT_EQ(wait_count(conn, sql, 1), 1);

    /* A second member joins the group: partitions move at stored offsets. */
    b = projector_start("bestays", &pg, stream_db, group, "scale-b");
    CU_ASSERT_FATAL(b > 0);
    CU_ASSERT(wait_log("scale-b", "event=partition_assigned"));
    CU_ASSERT(wait_log("scale-a", "event=partition_revoked"));
    CU_ASSERT_FATAL(produce_stream(prefix, 2, STREAM_VERSIONS) == 0);
    assert_stream_complete(conn, like);

    BS_ASSERT_INT_EQ(projector_stop(b, SIGTERM), 0);
    BS_ASSERT_INT_EQ(projector_stop(a, SIGTERM), 0);
    PQfinish(conn);
    bs_pg_drop_database(&pg, stream_db);
}

static void test_postgres_restart_mid_stream_loses_nothing(void)
{
    struct bs_pg_private priv;
    char stream_db[64], prefix[96], group[128], like[128], sql[512];
    char errstr[256];
    PGconn *conn;
    pid_t pid;
    int dead = -1;

    CU_ASSERT_FATAL(bs_pg_private_start(&priv, "pg-outage") == 0);
    CU_ASSERT_FATAL(migrate_new_database(&priv.env, "outage", stream_db,
                                         sizeof(stream_db)) == 0);
    conn = bs_pg_connect(&priv.env, stream_db, NULL);
    CU_ASSERT_FATAL(conn != NULL);
    unique("outage", prefix, sizeof(prefix));
    unique("test-outage", group, sizeof(group));
    snprintf(like, sizeof(like), "%s-%%", prefix);

    pid = projector_start("bestays", &priv.env, stream_db, group, "outage");
    CU_ASSERT_FATAL(pid > 0);
    CU_ASSERT_FATAL(produce_stream(prefix, 0, 2) == 0);
    snprintf(sql, sizeof(sql),
             "SELECT least(count(*), 1) FROM webhook_events"
             " WHERE svix_id LIKE '%s'",
             like);
    BS_ASSERT_INT_EQ(wait_count(conn, sql, 1), 1);

    /* The database goes away while events keep coming. */
    PQfinish(conn);
    CU_ASSERT_FATAL(bs_pg_private_server_stop(&priv) == 0);
    CU_ASSERT_FATAL(produce_stream(prefix, 2, STREAM_VERSIONS) == 0);
    BS_ASSERT_INT_EQ(wait_http("outage", "/readyz", 503), 503);
    CU_ASSERT_FATAL(bs_pg_private_server_start(&priv) == 0);

    conn = bs_pg_connect(&priv.env, stream_db, NULL);
    CU_ASSERT_FATAL(conn != NULL);
    assert_stream_complete(conn, like);
    BS_ASSERT_INT_EQ(wait_http("outage", "/readyz", 200), 200);
    BS_ASSERT_INT_EQ(projector_stop(pid, SIGTERM), 0);

    /* An outage is never a data error: nothing was dead-lettered. */
    CU_ASSERT(bs_broker_scan_topic("bestays", "bestays.dlq", match_key_prefix,
                                   prefix, DEADLINE_MS, &dead, errstr,
                                   sizeof(errstr)) == BS_OK);
    BS_ASSERT_INT_EQ(dead, 0);
    PQfinish(conn);
    bs_pg_drop_database(&priv.env, stream_db);
    bs_pg_private_destroy(&priv);
}

static void test_refuses_to_start_misconfigured(void)
{
    char binary[512];
    const char *argv[] = {binary, NULL};
    const char *no_db[] = {"PRODUCT=bestays", "DATABASE_URL",
                           "KAFKA_BOOTSTRAP_SERVERS=127.0.0.1:9", NULL};
    const char *bad_product[] = {"PRODUCT=nosuchproduct",
                                 "DATABASE_URL=dbname=x",
                                 "KAFKA_BOOTSTRAP_SERVERS=127.0.0.1:9", NULL};
    const char *bad_batch[] = {"PRODUCT=bestays", "DATABASE_URL=dbname=x",
                               "KAFKA_BOOTSTRAP_SERVERS=127.0.0.1:9",
                               "BATCH_SIZE=0", NULL};

    bs_test_build_path("services/user-projector/user-projector", binary,
                       sizeof(binary));
    BS_ASSERT_INT_EQ(bs_test_run(argv, no_db, NULL), 2);
    BS_ASSERT_INT_EQ(bs_test_run(argv, bad_product, NULL), 2);
    BS_ASSERT_INT_EQ(bs_test_run(argv, bad_batch, NULL), 2);
}

static CU_TestInfo pipeline_tests[] = {
    {"refuses_to_start_misconfigured", test_refuses_to_start_misconfigured},
    {"created_updated_deleted_are_applied",
     test_created_updated_deleted_are_applied},
    {"stale_update_is_ignored", test_stale_update_is_ignored},
    {"late_update_after_delete_does_not_resurrect",
     test_late_update_after_delete_does_not_resurrect},
    {"update_before_create_creates_the_user",
     test_update_before_create_creates_the_user},
    {"same_event_three_times_gives_one_row",
     test_same_event_three_times_gives_one_row},
    {"other_product_event_goes_to_dlq_and_no_table",
     test_other_product_event_goes_to_dlq_and_no_table},
    {"constraint_violation_goes_to_dlq_rest_applied",
     test_constraint_violation_goes_to_dlq_rest_applied},
    {"undecodable_message_goes_to_dlq", test_undecodable_message_goes_to_dlq},
    {"products_side_by_side_stay_apart", test_products_side_by_side_stay_apart},
    {"one_batch_of_states_of_one_user_ends_as_the_rules_say",
     test_one_batch_of_states_of_one_user_ends_as_the_rules_say},
    {"one_batch_with_a_bad_record_applies_the_others",
     test_one_batch_with_a_bad_record_applies_the_others},
    {"sigkill_mid_stream_loses_and_doubles_nothing",
     test_sigkill_mid_stream_loses_and_doubles_nothing},
    {"second_member_takes_partitions_at_stored_offsets",
     test_second_member_takes_partitions_at_stored_offsets},
    {"postgres_restart_mid_stream_loses_nothing",
     test_postgres_restart_mid_stream_loses_nothing},
    CU_TEST_INFO_NULL,
};

static void register_suites(void)
{
    bs_test_add_suite("user_projector", suite_init, suite_cleanup,
                      pipeline_tests);
}

int main(void)
{
    return bs_test_main(register_suites);
}
