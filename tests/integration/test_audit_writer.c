/*
 * test_audit_writer.c - the audit trail through the real binaries.
 *
 * Both products run side by side on one broker and one database: a
 * webhook-ingest and an audit-writer per product. Users arrive as Clerk
 * webhooks signed as Svix signs them; FAQ changes are FaqDocumentEvents
 * published with bs_publisher (what the gateway does); the audit topic gets
 * AuditEvents from a test producer. The test then reads audit_log as the
 * superuser (who sees every product) and runs the real `bsctl audit verify`.
 *
 * The broker is shared and its topics persist, so every event id is unique
 * to this run and the writers (consumer groups of their own) also write rows
 * for earlier events; assertions name this run's ids only. Waits are
 * give-up bounds, never timing assertions.
 */
#include "broker_harness.h"
#include "harness.h"
#include "pg_harness.h"
#include "service_harness.h"

#include "bs/codec.h"
#include "bs/error.h"
#include "bs/events.h"
#include "bs/kafka.h"
#include "bs/publisher.h"
#include "bs/svix.h"

#include <libpq-fe.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define DEADLINE_MS   60000
#define STREAM_EVENTS 1000

#define BESTAYS_SECRET    "whsec_YmVzdGF5cy1hdWRpdC13cml0ZXItc2VjcmV0"
#define REALESTATE_SECRET "whsec_cmVhbGVzdGF0ZS1hdWRpdC13cml0ZXItc2VjcmV0"

struct stack {
    const char *product;
    const char *secret;
    struct bs_svix_keys *keys;
    struct bs_svc ingest;
    struct bs_svc writer;
    struct bs_publisher *publisher;
    char group[128];
};

static struct bs_pg_env pg;
static char db[64];
static char *bootstrap;
static PGconn *owner;
static struct bs_codec *codec;
static rd_kafka_t *producer; /* the test's own, for planted messages */
static char run_tag[64];
static struct stack bestays = {.product = "bestays", .secret = BESTAYS_SECRET};
static struct stack realestate = {.product = "realestate",
                                  .secret = REALESTATE_SECRET};

/* ---- processes ---------------------------------------------------------- */

static int writer_start(struct stack *s, const char *batch_size)
{
    char conninfo[512], v_product[64], v_db[600], v_kafka[512], v_group[200];
    char v_batch[64], tag[64];
    const char *env[] = {v_product, v_db, v_kafka, v_group, v_batch, NULL};

    bs_pg_conninfo(&pg, db, BS_PG_SERVICE_ROLE, conninfo, sizeof(conninfo));
    snprintf(v_product, sizeof(v_product), "PRODUCT=%s", s->product);
    snprintf(v_db, sizeof(v_db), "DATABASE_URL=%s", conninfo);
    snprintf(v_kafka, sizeof(v_kafka), "KAFKA_BOOTSTRAP_SERVERS=%s", bootstrap);
    snprintf(v_group, sizeof(v_group), "CONSUMER_GROUP=%s", s->group);
    snprintf(v_batch, sizeof(v_batch), "BATCH_SIZE=%s", batch_size);
    snprintf(tag, sizeof(tag), "audit-writer-%s", s->product);
    return bs_svc_start(&s->writer, "services/audit-writer/audit-writer", tag,
                        env);
}

static int stack_start(struct stack *s)
{
    char v_product[64], v_kafka[512], v_secret[128], tag[64], errstr[256];
    const char *ingest_env[] = {v_product, v_kafka, v_secret, NULL};

    snprintf(s->group, sizeof(s->group), "audit-test-%s-%s", run_tag,
             s->product);
    if (bs_svix_keys_parse(s->secret, &s->keys, errstr, sizeof(errstr)) != 0 ||
        bs_publisher_new(&s->publisher, bootstrap, "audit-test", s->product,
                         NULL, errstr, sizeof(errstr)) != BS_OK)
        return -1;
    snprintf(v_product, sizeof(v_product), "PRODUCT=%s", s->product);
    snprintf(v_kafka, sizeof(v_kafka), "KAFKA_BOOTSTRAP_SERVERS=%s", bootstrap);
    snprintf(v_secret, sizeof(v_secret), "CLERK_WEBHOOK_SECRET=%s", s->secret);
    snprintf(tag, sizeof(tag), "audit-ingest-%s", s->product);
    if (bs_svc_start(&s->ingest, "services/webhook-ingest/webhook-ingest", tag,
                     ingest_env) != 0)
        return -1;
    return writer_start(s, "500");
}

static void stack_stop(struct stack *s)
{
    bs_svc_stop(&s->ingest, SIGTERM);
    bs_svc_stop(&s->writer, SIGTERM);
    bs_publisher_free(s->publisher);
    s->publisher = NULL;
    bs_svix_keys_free(s->keys);
    s->keys = NULL;
}

static int suite_init(void)
{
    char errstr[256];

    snprintf(run_tag, sizeof(run_tag), "%ld-%d", (long)time(NULL),
             (int)getpid());
    bootstrap = bs_broker_bootstrap();
    if (!bootstrap || bs_pg_env_load(&pg) != 0 ||
        bs_pg_create_database(&pg, "audit", db, sizeof(db)) != 0 ||
        bs_pg_migrate(&pg, db, (const char *[]){"up", NULL}, NULL) != 0)
        return -1;
    owner = bs_pg_connect(&pg, db, NULL);
    if (!owner || bs_codec_new_builtin(&codec, errstr, sizeof(errstr)) != 0 ||
        bs_broker_producer_new(&producer, "bestays", errstr, sizeof(errstr)) !=
            0)
        return -1;
    if (stack_start(&bestays) != 0 || stack_start(&realestate) != 0)
        return -1;
    return 0;
}

static int suite_cleanup(void)
{
    stack_stop(&bestays);
    stack_stop(&realestate);
    if (producer)
        rd_kafka_destroy(producer);
    bs_codec_free(codec);
    if (owner)
        PQfinish(owner);
    bs_pg_drop_database(&pg, db);
    free(bootstrap);
    return 0;
}

/* ---- events ------------------------------------------------------------- */

static const char *unique_id(const char *prefix, char *buf, size_t size)
{
    static int counter;

    snprintf(buf, size, "%s_%s_%d", prefix, run_tag, ++counter);
    return buf;
}

static long long now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Signs `body` as Svix would with the stack's secret and posts it. */
static long post_webhook(const struct stack *s, const char *svix_id,
                         const char *body)
{
    char timestamp[32], signature[BS_SVIX_SIGNATURE_SIZE];
    char h_id[160], h_ts[64], h_sig[96];
    const char *headers[] = {"Content-Type: application/json", h_id, h_ts,
                             h_sig, NULL};

    snprintf(timestamp, sizeof(timestamp), "%ld", (long)time(NULL));
    if (bs_svix_sign(s->keys, 0, svix_id, timestamp, body, strlen(body),
                     signature, sizeof(signature)) != 0)
        return -1;
    snprintf(h_id, sizeof(h_id), "svix-id: %s", svix_id);
    snprintf(h_ts, sizeof(h_ts), "svix-timestamp: %s", timestamp);
    snprintf(h_sig, sizeof(h_sig), "svix-signature: %s", signature);
    return bs_svc_http(&s->ingest, "POST", "/api/v1/webhooks/clerk", headers,
                       body, strlen(body), NULL);
}

static long post_user_created(const struct stack *s, const char *svix_id,
                              const char *user_id)
{
    char body[1024];

    snprintf(body, sizeof(body),
             "{\"type\":\"user.created\",\"object\":\"event\",\"data\":{"
             "\"id\":\"%s\",\"object\":\"user\",\"first_name\":\"Ada\","
             "\"last_name\":\"Secret\",\"primary_email_address_id\":\"idn_1\","
             "\"email_addresses\":[{\"id\":\"idn_1\","
             "\"email_address\":\"ada@example.org\"}],"
             "\"public_metadata\":{\"role\":\"admin\"},\"updated_at\":1000}}",
             user_id);
    return post_webhook(s, svix_id, body);
}

/* Publishes a FaqDocumentEvent as the gateway does. */
static int publish_faq(struct stack *s, const char *event_id,
                       const char *document_id, enum bs_faq_action action,
                       int64_t version)
{
    struct bs_faq_event e = {
        .meta = {.event_id = (char *)event_id,
                 .product = (char *)s->product,
                 .occurred_at = now_ms(),
                 .source = "api-gateway"},
        .action = action,
        .document_id = (char *)document_id,
        .category = "billing",
        .title = action == BS_FAQ_DELETE ? NULL : "Secret title",
        .content = action == BS_FAQ_DELETE ? NULL : "Secret content",
        .status = "published",
        .version = version,
        .actor_id = "user_editor_1",
    };
    char topic[64], errstr[256];
    unsigned char *value = NULL;
    size_t len = 0;
    int result;

    snprintf(topic, sizeof(topic), "%s.faq", s->product);
    result =
        bs_faq_event_encode(codec, &e, &value, &len, errstr, sizeof(errstr));
    if (result == BS_OK)
        result = bs_publisher_send_sync(s->publisher, topic, document_id,
                                        strlen(document_id), value, len, NULL,
                                        0, 10000, errstr, sizeof(errstr));
    if (result != BS_OK)
        fprintf(stderr, "publish_faq: %s\n", errstr);
    free(value);
    return result;
}

/* Produces an AuditEvent of `event_product` to `topic` with the product
 * header `header_product` (a planted message when they differ). */
static int produce_audit(const char *topic, const char *header_product,
                         const char *event_product, const char *event_id)
{
    struct bs_audit_event e = {
        .meta = {.event_id = (char *)event_id,
                 .product = (char *)event_product,
                 .occurred_at = now_ms(),
                 .source = "audit-test"},
        .actor_id = "user_admin_1",
        .action = "user.read",
        .entity_type = "user",
        .entity_id = "user_x",
        .changes = "{\"fields\": [\"role\"]}",
        .request_id = "req-1",
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
        result = bs_broker_produce(producer, topic, "user_x", value, len,
                                   headers, errstr, sizeof(errstr));
    else
        rd_kafka_headers_destroy(headers);
    if (result != BS_OK)
        fprintf(stderr, "produce_audit: %s\n", errstr);
    free(value);
    return result;
}

/* ---- reading rows ------------------------------------------------------- */

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

/* Rows of the product whose event id starts with `prefix`. */
static long long count_prefix(const char *product, const char *prefix,
                              bool distinct)
{
    const char *params[] = {product, prefix};
    PGresult *res = PQexecParams(
        owner,
        distinct ? "SELECT count(DISTINCT event_id) FROM audit_log"
                   " WHERE product = $1 AND starts_with(event_id, $2)"
                 : "SELECT count(*) FROM audit_log"
                   " WHERE product = $1 AND starts_with(event_id, $2)",
        2, NULL, params, NULL, NULL, 0);
    long long count = -1;

    if (PQresultStatus(res) == PGRES_TUPLES_OK)
        count = atoll(PQgetvalue(res, 0, 0));
    PQclear(res);
    return count;
}

static void pause_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

    nanosleep(&ts, NULL);
}

static long long wait_rows(const char *product, const char *event_id,
                           long long expected)
{
    long long count = -1;

    for (int waited = 0; waited < DEADLINE_MS; waited += 50) {
        count = count_rows(product, event_id);
        if (count == expected)
            break;
        pause_ms(50);
    }
    return count;
}

/* One column of the row of `event_id` as text (caller frees), or NULL. */
static char *field(const char *product, const char *event_id,
                   const char *column)
{
    const char *params[] = {product, event_id};
    char sql[256];
    PGresult *res;
    char *value = NULL;

    snprintf(sql, sizeof(sql),
             "SELECT %s FROM audit_log WHERE product = $1 AND event_id = $2",
             column);
    res = PQexecParams(owner, sql, 2, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1 &&
        !PQgetisnull(res, 0, 0))
        value = strdup(PQgetvalue(res, 0, 0));
    PQclear(res);
    return value;
}

static void assert_field(const char *product, const char *event_id,
                         const char *column, const char *expected)
{
    char *value = field(product, event_id, column);

    BS_ASSERT_STR_EQ(value, expected);
    free(value);
}

/* `bsctl audit verify --product P` as the superuser; exit code, output. */
static int verify(const char *product, char **output)
{
    char bsctl[1024], conninfo[512], url[600];
    const char *argv[] = {
        bs_test_build_path("tools/bsctl/bsctl", bsctl, sizeof(bsctl)),
        "audit",
        "verify",
        "--product",
        product,
        NULL};
    const char *env[] = {url, "LOG_LEVEL=warn", NULL};

    snprintf(url, sizeof(url), "DATABASE_URL=%s",
             bs_pg_conninfo(&pg, db, NULL, conninfo, sizeof(conninfo)));
    return bs_test_run(argv, env, output);
}

/* ---- tests --------------------------------------------------------------- */

static void test_users_are_audited_in_their_product_only(void)
{
    char user_b[96], user_r[96], svix_b[96], svix_r[96];

    unique_id("user_audit", user_b, sizeof(user_b));
    unique_id("user_audit", user_r, sizeof(user_r));
    unique_id("msg_audit", svix_b, sizeof(svix_b));
    unique_id("msg_audit", svix_r, sizeof(svix_r));
    BS_ASSERT_INT_EQ(post_user_created(&bestays, svix_b, user_b), 200);
    BS_ASSERT_INT_EQ(post_user_created(&realestate, svix_r, user_r), 200);

    BS_ASSERT_INT_EQ(wait_rows("bestays", svix_b, 1), 1);
    BS_ASSERT_INT_EQ(wait_rows("realestate", svix_r, 1), 1);
    BS_ASSERT_INT_EQ(count_rows("realestate", svix_b), 0);
    BS_ASSERT_INT_EQ(count_rows("bestays", svix_r), 0);

    assert_field("bestays", svix_b, "action", "user.created");
    assert_field("bestays", svix_b, "actor_id", "clerk");
    assert_field("bestays", svix_b, "entity_type", "user");
    assert_field("bestays", svix_b, "entity_id", user_b);
    assert_field("bestays", svix_b, "source_topic", "bestays.users");
    assert_field("realestate", svix_r, "source_topic", "realestate.users");
    /* The summary keeps the role, never the e-mail or the names. */
    assert_field("bestays", svix_b, "changes->>'role'", "admin");
    assert_field("bestays", svix_b,
                 "(changes::text LIKE '%example.org%'"
                 " OR changes::text LIKE '%Ada%'"
                 " OR changes::text LIKE '%Secret%')::text",
                 "false");
}

static void test_faq_changes_are_audited_in_their_product_only(void)
{
    char doc[96], e1[96], e2[96], e3[96], other[96];

    unique_id("doc", doc, sizeof(doc));
    unique_id("faq_evt", e1, sizeof(e1));
    unique_id("faq_evt", e2, sizeof(e2));
    unique_id("faq_evt", e3, sizeof(e3));
    unique_id("faq_evt", other, sizeof(other));
    BS_ASSERT_INT_EQ(publish_faq(&bestays, e1, doc, BS_FAQ_UPSERT, 1), BS_OK);
    BS_ASSERT_INT_EQ(publish_faq(&bestays, e2, doc, BS_FAQ_UPSERT, 2), BS_OK);
    BS_ASSERT_INT_EQ(publish_faq(&bestays, e3, doc, BS_FAQ_DELETE, 3), BS_OK);
    BS_ASSERT_INT_EQ(publish_faq(&realestate, other, doc, BS_FAQ_UPSERT, 1),
                     BS_OK);

    BS_ASSERT_INT_EQ(wait_rows("bestays", e3, 1), 1);
    BS_ASSERT_INT_EQ(wait_rows("realestate", other, 1), 1);
    assert_field("bestays", e1, "action", "faq.created");
    assert_field("bestays", e2, "action", "faq.updated");
    assert_field("bestays", e3, "action", "faq.deleted");
    assert_field("bestays", e2, "actor_id", "user_editor_1");
    assert_field("bestays", e2, "entity_type", "faq_document");
    assert_field("bestays", e2, "entity_id", doc);
    assert_field("bestays", e2, "changes->>'version'", "2");
    assert_field("bestays", e2, "changes->>'category'", "billing");
    assert_field("bestays", e2, "(changes::text LIKE '%Secret%')::text",
                 "false");
    BS_ASSERT_INT_EQ(count_rows("realestate", e1), 0);
    BS_ASSERT_INT_EQ(count_rows("bestays", other), 0);
}

static void test_audit_events_keep_their_action(void)
{
    char id[96];

    unique_id("aud_evt", id, sizeof(id));
    BS_ASSERT_INT_EQ(produce_audit("bestays.audit", "bestays", "bestays", id),
                     BS_OK);
    BS_ASSERT_INT_EQ(wait_rows("bestays", id, 1), 1);
    assert_field("bestays", id, "action", "user.read");
    assert_field("bestays", id, "actor_id", "user_admin_1");
    assert_field("bestays", id, "request_id", "req-1");
    assert_field("bestays", id, "changes::text", "{\"fields\": [\"role\"]}");
    BS_ASSERT_INT_EQ(count_rows("realestate", id), 0);
}

static void test_foreign_product_event_is_not_written(void)
{
    char planted[96], marker[96];

    /* realestate's event (and header) in bestays' topic, then a marker on
     * the same key: once the marker is in, the planted one was consumed. */
    unique_id("planted", planted, sizeof(planted));
    unique_id("marker", marker, sizeof(marker));
    BS_ASSERT_INT_EQ(
        produce_audit("bestays.audit", "realestate", "realestate", planted),
        BS_OK);
    BS_ASSERT_INT_EQ(
        produce_audit("bestays.audit", "bestays", "bestays", marker), BS_OK);
    BS_ASSERT_INT_EQ(wait_rows("bestays", marker, 1), 1);
    BS_ASSERT_INT_EQ(count_rows("bestays", planted), 0);
    BS_ASSERT_INT_EQ(count_rows("realestate", planted), 0);
}

static void test_service_role_cannot_update_or_delete(void)
{
    PGconn *service = bs_pg_connect(&pg, db, BS_PG_SERVICE_ROLE);
    char state[6] = "";

    CU_ASSERT_PTR_NOT_NULL_FATAL(service);
    BS_ASSERT_INT_EQ(bs_pg_exec(service,
                                "BEGIN; SELECT set_config('app.product',"
                                " 'bestays', true);"
                                " UPDATE audit_log SET actor_id = 'mallory'",
                                state),
                     -1);
    BS_ASSERT_STR_EQ(state, "42501");
    bs_pg_exec(service, "ROLLBACK", NULL);
    BS_ASSERT_INT_EQ(bs_pg_exec(service,
                                "BEGIN; SELECT set_config('app.product',"
                                " 'bestays', true); DELETE FROM audit_log",
                                state),
                     -1);
    BS_ASSERT_STR_EQ(state, "42501");
    bs_pg_exec(service, "ROLLBACK", NULL);
    PQfinish(service);
}

static void test_sigkill_mid_stream_leaves_one_row_per_event(void)
{
    char prefix[80], id[128];
    long long seen = 0;

    /* The writer is down while the stream is produced, then restarted with
     * small batches and killed once some of it is in. */
    BS_ASSERT_INT_EQ(bs_svc_stop(&bestays.writer, SIGTERM), 0);
    snprintf(prefix, sizeof(prefix), "kill_%s_", run_tag);
    for (int i = 0; i < STREAM_EVENTS; i++) {
        snprintf(id, sizeof(id), "%s%d", prefix, i);
        CU_ASSERT_EQUAL_FATAL(
            produce_audit("bestays.audit", "bestays", "bestays", id), BS_OK);
    }
    CU_ASSERT_EQUAL_FATAL(writer_start(&bestays, "5"), 0);
    for (int waited = 0; waited < DEADLINE_MS && seen == 0; waited += 5) {
        seen = count_prefix("bestays", prefix, false);
        if (seen == 0)
            pause_ms(5);
    }
    bs_svc_stop(&bestays.writer, SIGKILL);

    /* Mid-stream: the kill came after some rows and before the last, else
     * this would test a clean start or a clean stop, not a crash. */
    seen = count_prefix("bestays", prefix, false);
    printf("\n  killed audit-writer with %lld of %d rows in\n", seen,
           STREAM_EVENTS);
    CU_ASSERT(seen > 0);
    CU_ASSERT(seen < STREAM_EVENTS);

    CU_ASSERT_EQUAL_FATAL(writer_start(&bestays, "500"), 0);
    for (int waited = 0; waited < DEADLINE_MS; waited += 50) {
        if (count_prefix("bestays", prefix, false) >= STREAM_EVENTS)
            break;
        pause_ms(50);
    }
    BS_ASSERT_INT_EQ(count_prefix("bestays", prefix, false), STREAM_EVENTS);
    BS_ASSERT_INT_EQ(count_prefix("bestays", prefix, true), STREAM_EVENTS);
}

static void test_verify_intact_then_finds_the_altered_row(void)
{
    char *output = NULL, *id, expected[128], event[96];

    /* Intact in both products. */
    BS_ASSERT_INT_EQ(verify("bestays", &output), 0);
    CU_ASSERT_PTR_NOT_NULL(output ? strstr(output, "intact") : NULL);
    free(output);
    BS_ASSERT_INT_EQ(verify("realestate", &output), 0);
    free(output);

    /* The superuser alters one row in the middle of bestays' chain. */
    unique_id("aud_evt", event, sizeof(event));
    BS_ASSERT_INT_EQ(
        produce_audit("bestays.audit", "bestays", "bestays", event), BS_OK);
    BS_ASSERT_INT_EQ(wait_rows("bestays", event, 1), 1);
    id = field("bestays", event, "id");
    CU_ASSERT_PTR_NOT_NULL_FATAL(id);
    {
        char sql[256];

        snprintf(sql, sizeof(sql),
                 "UPDATE audit_log SET actor_id = 'mallory' WHERE id = %s", id);
        BS_ASSERT_INT_EQ(bs_pg_exec(owner, sql, NULL), 0);
    }
    output = NULL;
    BS_ASSERT_INT_EQ(verify("bestays", &output), 1);
    snprintf(expected, sizeof(expected), "id=%s ", id);
    CU_ASSERT_PTR_NOT_NULL(output ? strstr(output, expected) : NULL);
    CU_ASSERT_PTR_NOT_NULL(output ? strstr(output, event) : NULL);
    if (output)
        printf("\n%s", output);
    free(output);
    free(id);

    /* realestate's chain is untouched. */
    BS_ASSERT_INT_EQ(verify("realestate", NULL), 0);
}

static CU_TestInfo writer_tests[] = {
    {"users_are_audited_in_their_product_only",
     test_users_are_audited_in_their_product_only},
    {"faq_changes_are_audited_in_their_product_only",
     test_faq_changes_are_audited_in_their_product_only},
    {"audit_events_keep_their_action", test_audit_events_keep_their_action},
    {"foreign_product_event_is_not_written",
     test_foreign_product_event_is_not_written},
    {"service_role_cannot_update_or_delete",
     test_service_role_cannot_update_or_delete},
    {"sigkill_mid_stream_leaves_one_row_per_event",
     test_sigkill_mid_stream_leaves_one_row_per_event},
    /* Last: it tampers with bestays' chain. */
    {"verify_intact_then_finds_the_altered_row",
     test_verify_intact_then_finds_the_altered_row},
    CU_TEST_INFO_NULL,
};

static void register_suites(void)
{
    bs_test_add_suite("audit_writer", suite_init, suite_cleanup, writer_tests);
}

int main(void)
{
    return bs_test_main(register_suites);
}
