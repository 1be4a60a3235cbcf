/*
 * test_gateway_audit.c - GET /api/v1/admin/audit on the real api-gateway,
 * two products side by side.
 *
 * audit_log rows of BOTH products (the same entity ids in each) are inserted
 * as the superuser, as audit-writer would append them. Each product's admin
 * sees only its product's rows, newest first; the filters and keyset pages
 * work; a non-admin is 403; malformed parameters are 400; and every read of
 * the trail publishes an audit.read AuditEvent on <product>.audit (found
 * there by its request id).
 */
#include "broker_harness.h"
#include "harness.h"
#include "pg_harness.h"
#include "service_harness.h"
#include "session_token.h"

#include "bs/codec.h"
#include "bs/error.h"
#include "bs/events.h"

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FRONTEND        "http://localhost:3000"
#define SCAN_TIMEOUT_MS 60000

static const char seed_sql[] =
    "INSERT INTO users (product, id, email, role) VALUES "
    "('bestays', 'user_bs_admin', 'a@bs.test', 'admin'),"
    "('bestays', 'user_bs_user', 'u@bs.test', 'user'),"
    "('realestate', 'user_re_admin', 'a@re.test', 'admin');"
    "INSERT INTO audit_log (product, event_id, actor_id, action, "
    "entity_type, entity_id, changes, request_id, occurred_at, hash, "
    "source_topic, source_partition, source_offset) VALUES "
    "('bestays', 'e1', 'user_bs_admin', 'faq.create', 'faq_document', "
    "'doc1', '{\"fields\":[\"title\"]}', 'r1', '2026-01-01T10:00:00Z', "
    "'\\xab01', 'bestays.faq', 0, 1),"
    "('realestate', 'e5', 'user_re_admin', 'faq.create', 'faq_document', "
    "'doc1', NULL, 'r5', '2026-01-02T10:00:00Z', NULL, 'realestate.faq', 0, "
    "1),"
    "('bestays', 'e2', 'clerk', 'user.created', 'user', 'user_bs_user', "
    "NULL, NULL, '2026-01-02T10:00:00Z', NULL, 'bestays.users', 0, 1),"
    "('bestays', 'e3', 'user_bs_admin', 'faq.update', 'faq_document', "
    "'doc1', NULL, 'r3', '2026-01-03T10:00:00Z', NULL, 'bestays.faq', 0, 2),"
    "('realestate', 'e6', 'clerk', 'user.created', 'user', 'user_re_user', "
    "NULL, NULL, '2026-01-03T10:00:00Z', NULL, 'realestate.users', 0, 1),"
    "('bestays', 'e4', 'system', 'faq.updated', 'faq_document', 'doc2', "
    "NULL, NULL, '2026-01-04T10:00:00Z', NULL, 'bestays.faq', 0, 3);";

static struct bs_pg_env pg_env;
static char dbname[64];
static struct bs_svc bestays, realestate;
static EVP_PKEY *bestays_key, *realestate_key;
static char *bs_admin, *bs_user, *re_admin; /* session tokens */
static struct bs_codec *codec;

/* ---- HTTP ---------------------------------------------------------------- */

struct reply {
    long status;
    json_t *json;
    char *body;
};

/* GET with the token (may be NULL) and an X-Request-Id (may be NULL). */
static void get(struct bs_svc *svc, const char *path, const char *token,
                const char *request_id, struct reply *reply)
{
    char auth[8192], rid[160];
    const char *headers[3] = {NULL, NULL, NULL};
    size_t n = 0;

    if (token) {
        snprintf(auth, sizeof(auth), "Authorization: Bearer %s", token);
        headers[n++] = auth;
    }
    if (request_id) {
        snprintf(rid, sizeof(rid), "X-Request-Id: %s", request_id);
        headers[n++] = rid;
    }
    reply->body = NULL;
    reply->status =
        bs_svc_http(svc, "GET", path, headers, NULL, 0, &reply->body);
    reply->json = reply->body ? json_loads(reply->body, 0, NULL) : NULL;
}

static void reply_clear(struct reply *reply)
{
    json_decref(reply->json);
    free(reply->body);
    memset(reply, 0, sizeof(*reply));
}

/* The event_ids of a page, comma-joined; every item must be of `product`. */
static const char *event_ids(const struct reply *reply, const char *product,
                             char *buf, size_t size)
{
    json_t *items = json_object_get(reply->json, "items");
    json_t *item;
    size_t i;

    buf[0] = '\0';
    CU_ASSERT_TRUE(json_is_array(items));
    json_array_foreach(items, i, item)
    {
        const char *id = json_string_value(json_object_get(item, "event_id"));

        BS_ASSERT_STR_EQ(json_string_value(json_object_get(item, "product")),
                         product);
        if (buf[0])
            strncat(buf, ",", size - strlen(buf) - 1);
        strncat(buf, id ? id : "?", size - strlen(buf) - 1);
    }
    return buf;
}

/* Asserts the event ids a bestays admin gets for `query`. */
static void expect_ids(const char *query, const char *expected)
{
    char path[512], ids[512];
    struct reply reply;

    snprintf(path, sizeof(path), "/api/v1/admin/audit%s", query);
    get(&bestays, path, bs_admin, NULL, &reply);
    BS_ASSERT_INT_EQ(reply.status, 200);
    BS_ASSERT_STR_EQ(event_ids(&reply, "bestays", ids, sizeof(ids)), expected);
    reply_clear(&reply);
}

static void expect_400(const char *query, const char *code)
{
    char path[512];
    struct reply reply;
    const char *got;

    snprintf(path, sizeof(path), "/api/v1/admin/audit%s", query);
    get(&bestays, path, bs_admin, NULL, &reply);
    BS_ASSERT_INT_EQ(reply.status, 400);
    got = json_string_value(
        json_object_get(json_object_get(reply.json, "error"), "code"));
    BS_ASSERT_STR_EQ(got ? got : "", code);
    reply_clear(&reply);
}

/* ---- Kafka --------------------------------------------------------------- */

struct wanted {
    const char *request_id;
    struct bs_audit_event event;
    bool kept;
};

static bool audit_matches(const rd_kafka_message_t *message, void *ctx)
{
    struct wanted *wanted = ctx;
    struct bs_audit_event event;
    bool match;

    if (bs_audit_event_decode(codec, message->payload, message->len, &event,
                              NULL, 0) != BS_OK)
        return false;
    match =
        event.request_id && strcmp(event.request_id, wanted->request_id) == 0;
    if (match && !wanted->kept) {
        wanted->event = event;
        wanted->kept = true;
        return true;
    }
    bs_audit_event_clear(&event);
    return match;
}

/* ---- tests --------------------------------------------------------------- */

static void test_each_admin_sees_only_its_products_rows(void)
{
    struct reply reply;
    char ids[512];
    json_t *first;

    get(&bestays, "/api/v1/admin/audit", bs_admin, NULL, &reply);
    BS_ASSERT_INT_EQ(reply.status, 200);
    BS_ASSERT_STR_EQ(event_ids(&reply, "bestays", ids, sizeof(ids)),
                     "e4,e3,e2,e1");
    CU_ASSERT_TRUE(json_is_null(json_object_get(reply.json, "next_cursor")));
    /* Every column is shown, 0005's source columns included; hashes hex. */
    first = json_array_get(json_object_get(reply.json, "items"), 3);
    BS_ASSERT_STR_EQ(json_string_value(json_object_get(first, "source_topic")),
                     "bestays.faq");
    BS_ASSERT_STR_EQ(json_string_value(json_object_get(first, "hash")), "ab01");
    BS_ASSERT_STR_EQ(json_string_value(json_object_get(first, "action")),
                     "faq.create");
    BS_ASSERT_STR_EQ(json_string_value(json_object_get(first, "actor_id")),
                     "user_bs_admin");
    CU_ASSERT_TRUE(json_is_object(json_object_get(first, "changes")));
    reply_clear(&reply);

    get(&realestate, "/api/v1/admin/audit", re_admin, NULL, &reply);
    BS_ASSERT_INT_EQ(reply.status, 200);
    BS_ASSERT_STR_EQ(event_ids(&reply, "realestate", ids, sizeof(ids)),
                     "e6,e5");
    reply_clear(&reply);

    /* The same entity id in both products: each sees its own row only. */
    get(&realestate, "/api/v1/admin/audit?entity_id=doc1", re_admin, NULL,
        &reply);
    BS_ASSERT_STR_EQ(event_ids(&reply, "realestate", ids, sizeof(ids)), "e5");
    reply_clear(&reply);
}

static void test_filters_select_rows(void)
{
    expect_ids("?entity_type=faq_document&entity_id=doc1", "e3,e1");
    expect_ids("?entity_type=user", "e2");
    expect_ids("?actor=clerk", "e2");
    expect_ids("?actor=user_bs_admin", "e3,e1");
    expect_ids("?from=2026-01-02T00:00:00Z&to=2026-01-04T00:00:00Z", "e3,e2");
    /* from is inclusive, to exclusive; offsets are honoured. */
    expect_ids("?from=2026-01-03T12:00:00%2B02:00", "e4,e3");
    expect_ids("?to=2026-01-02T10:00:00.000Z", "e1");
    expect_ids("?actor=nobody", "");
}

static void test_pages_walk_newest_first(void)
{
    char path[512], all[256] = "", ids[64];
    struct reply reply;
    int pages = 0;

    snprintf(path, sizeof(path), "/api/v1/admin/audit?limit=1");
    for (;;) {
        const char *next;

        get(&bestays, path, bs_admin, NULL, &reply);
        BS_ASSERT_INT_EQ(reply.status, 200);
        strcat(all, event_ids(&reply, "bestays", ids, sizeof(ids)));
        strcat(all, ";");
        next = json_string_value(json_object_get(reply.json, "next_cursor"));
        if (!next || ++pages > 6) {
            reply_clear(&reply);
            break;
        }
        snprintf(path, sizeof(path), "/api/v1/admin/audit?limit=1&cursor=%s",
                 next);
        reply_clear(&reply);
    }
    BS_ASSERT_STR_EQ(all, "e4;e3;e2;e1;");

    /* A cursor with a filter keeps the filter. */
    get(&bestays, "/api/v1/admin/audit?limit=1&actor=user_bs_admin", bs_admin,
        NULL, &reply);
    {
        const char *next =
            json_string_value(json_object_get(reply.json, "next_cursor"));

        snprintf(path, sizeof(path),
                 "/api/v1/admin/audit?limit=1&actor=user_bs_admin&cursor=%s",
                 next ? next : "");
    }
    reply_clear(&reply);
    expect_ids(path + strlen("/api/v1/admin/audit"), "e1");
}

static void test_non_admin_is_403_and_anonymous_401(void)
{
    struct reply reply;

    get(&bestays, "/api/v1/admin/audit", bs_user, NULL, &reply);
    BS_ASSERT_INT_EQ(reply.status, 403);
    reply_clear(&reply);
    get(&bestays, "/api/v1/admin/audit", NULL, NULL, &reply);
    BS_ASSERT_INT_EQ(reply.status, 401);
    reply_clear(&reply);
    /* A bestays admin's token means nothing to realestate. */
    get(&realestate, "/api/v1/admin/audit", bs_admin, NULL, &reply);
    BS_ASSERT_INT_EQ(reply.status, 401);
    reply_clear(&reply);
}

static void test_bad_parameters_are_400(void)
{
    expect_400("?limit=0", "invalid_limit");
    expect_400("?limit=101", "invalid_limit");
    expect_400("?limit=abc", "invalid_limit");
    expect_400("?cursor=garbage!", "invalid_cursor");
    expect_400("?cursor=djE6YWJj", "invalid_cursor"); /* "v1:abc" */
    expect_400("?from=yesterday", "invalid_time");
    expect_400("?from=2026-13-01T00:00:00Z", "invalid_time");
    expect_400("?to=2026-02-30T00:00:00Z", "invalid_time");
    expect_400("?to=2026-01-01", "invalid_time");
    expect_400("?to=2026-01-01T10:00:00", "invalid_time");
    expect_400("?from=2026-01-01T25:00:00Z", "invalid_time");
    expect_400("?entity_type=", "invalid_filter");
    expect_400("?actor=a%01b", "invalid_filter");
    expect_400("?entity_id=%FF%FE", "invalid_filter"); /* not UTF-8 */
    expect_ids("?actor=Zo%C3%AB", "");                 /* UTF-8 is fine */
}

static void test_reading_the_trail_is_audited(void)
{
    char request_id[96], topic[64], errstr[256];
    struct wanted wanted = {0};
    struct reply reply;
    int matches = -1;

    bs_broker_unique_name("gwaudit", request_id, sizeof(request_id));
    get(&bestays, "/api/v1/admin/audit?actor=clerk", bs_admin, request_id,
        &reply);
    BS_ASSERT_INT_EQ(reply.status, 200);
    reply_clear(&reply);

    wanted.request_id = request_id;
    snprintf(topic, sizeof(topic), "bestays.audit");
    BS_ASSERT_INT_EQ(bs_broker_scan_topic("bestays", topic, audit_matches,
                                          &wanted, SCAN_TIMEOUT_MS, &matches,
                                          errstr, sizeof(errstr)),
                     BS_OK);
    BS_ASSERT_INT_EQ(matches, 1);
    if (wanted.kept) {
        BS_ASSERT_STR_EQ(wanted.event.action, "audit.read");
        BS_ASSERT_STR_EQ(wanted.event.entity_type, "audit_log");
        BS_ASSERT_STR_EQ(wanted.event.actor_id, "user_bs_admin");
        BS_ASSERT_STR_EQ(wanted.event.meta.product, "bestays");
        /* Which filters, never their values. */
        BS_ASSERT_STR_EQ(wanted.event.changes,
                         "{\"filters\":{\"entity_type\":false,"
                         "\"entity_id\":false,\"actor\":true,\"from\":false,"
                         "\"to\":false},\"count\":1}");
        bs_audit_event_clear(&wanted.event);
    }
}

/* ---- suite --------------------------------------------------------------- */

static int start_gateway(struct bs_svc *svc, const char *product, EVP_PKEY *key)
{
    char product_env[64], db_env[600], kafka_env[600], key_env[4096],
        conninfo[512];
    char *bootstrap = bs_broker_bootstrap();
    char *pem = bs_test_public_pem(key);
    const char *env[] = {product_env,
                         db_env,
                         kafka_env,
                         key_env,
                         "CLERK_AUTHORIZED_PARTIES=" FRONTEND,
                         "HTTP_THREADS=4",
                         NULL};
    int result;

    bs_pg_conninfo(&pg_env, dbname, BS_PG_SERVICE_ROLE, conninfo,
                   sizeof(conninfo));
    snprintf(product_env, sizeof(product_env), "PRODUCT=%s", product);
    snprintf(db_env, sizeof(db_env), "DATABASE_URL=%s", conninfo);
    snprintf(kafka_env, sizeof(kafka_env), "KAFKA_BOOTSTRAP_SERVERS=%s",
             bootstrap ? bootstrap : "");
    snprintf(key_env, sizeof(key_env), "CLERK_JWT_KEY=%s", pem);
    result = bs_svc_start(svc, "services/api-gateway/api-gateway",
                          strcmp(product, "bestays") == 0
                              ? "gateway-audit-bestays"
                              : "gateway-audit-realestate",
                          env);
    free(bootstrap);
    free(pem);
    return result;
}

static int audit_init(void)
{
    const char *const up[] = {"up", NULL};
    PGconn *conn;
    int seeded;

    if (bs_pg_env_load(&pg_env) != 0 ||
        bs_pg_create_database(&pg_env, "gwa", dbname, sizeof(dbname)) != 0 ||
        bs_pg_migrate(&pg_env, dbname, up, NULL) != 0)
        return -1;
    conn = bs_pg_connect(&pg_env, dbname, NULL);
    seeded = conn ? bs_pg_exec(conn, seed_sql, NULL) : -1;
    PQfinish(conn);
    if (seeded != 0)
        return -1;
    bestays_key = EVP_RSA_gen(2048);
    realestate_key = EVP_RSA_gen(2048);
    bs_admin =
        bs_test_session_token(bestays_key, "user_bs_admin", FRONTEND, 600);
    bs_user = bs_test_session_token(bestays_key, "user_bs_user", FRONTEND, 600);
    re_admin =
        bs_test_session_token(realestate_key, "user_re_admin", FRONTEND, 600);
    if (start_gateway(&bestays, "bestays", bestays_key) != 0 ||
        start_gateway(&realestate, "realestate", realestate_key) != 0)
        return -1;
    return 0;
}

static int audit_cleanup(void)
{
    int bs = bs_svc_stop(&bestays, SIGTERM);
    int re = bs_svc_stop(&realestate, SIGTERM);

    free(bs_admin);
    free(bs_user);
    free(re_admin);
    EVP_PKEY_free(bestays_key);
    EVP_PKEY_free(realestate_key);
    if (dbname[0])
        bs_pg_drop_database(&pg_env, dbname);
    if (bs != 0 || re != 0) {
        fprintf(stderr, "api-gateway exit codes: %d %d\n", bs, re);
        return -1;
    }
    return 0;
}

static CU_TestInfo audit_tests[] = {
    {"each_admin_sees_only_its_products_rows",
     test_each_admin_sees_only_its_products_rows},
    {"filters_select_rows", test_filters_select_rows},
    {"pages_walk_newest_first", test_pages_walk_newest_first},
    {"non_admin_is_403_and_anonymous_401",
     test_non_admin_is_403_and_anonymous_401},
    {"bad_parameters_are_400", test_bad_parameters_are_400},
    {"reading_the_trail_is_audited", test_reading_the_trail_is_audited},
    CU_TEST_INFO_NULL,
};

static void register_suites(void)
{
    bs_test_add_suite("gateway_audit_two_products", audit_init, audit_cleanup,
                      audit_tests);
}

int main(void)
{
    char errstr[256];
    int exit_code;

    if (bs_codec_new_builtin(&codec, errstr, sizeof(errstr)) != BS_OK) {
        fprintf(stderr, "test_gateway_audit: %s\n", errstr);
        return 1;
    }
    exit_code = bs_test_main(register_suites);
    bs_codec_free(codec);
    return exit_code;
}
