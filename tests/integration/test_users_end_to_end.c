/*
 * test_users_end_to_end.c - Clerk users through the whole system.
 *
 * Both products run side by side with the real binaries: webhook-ingest and
 * user-projector for bestays and for realestate, each product with its own
 * webhook secret, on one broker and one database. Webhooks are signed here
 * exactly as Svix signs them and posted over HTTP; the test then reads the
 * rows the projectors wrote, as the database owner (who sees every product)
 * and as the service role inside each product's context.
 */
#include "harness.h"
#include "pg_harness.h"
#include "service_harness.h"
#include "broker_harness.h"

#include "bs/svix.h"

#include <libpq-fe.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define DEADLINE_MS 60000

#define BESTAYS_SECRET    "whsec_YmVzdGF5cy1lbmQtdG8tZW5kLXNlY3JldA=="
#define REALESTATE_SECRET "whsec_cmVhbGVzdGF0ZS1lbmQtdG8tZW5kLXNlY3JldA=="

struct product_stack {
    const char *product;
    const char *secret;
    struct bs_svix_keys *keys;
    struct bs_svc ingest;
    struct bs_svc projector;
};

static struct bs_pg_env pg;
static char db[64];
static PGconn *owner; /* the superuser: sees every product's rows */
static struct product_stack bestays = {.product = "bestays",
                                       .secret = BESTAYS_SECRET};
static struct product_stack realestate = {.product = "realestate",
                                          .secret = REALESTATE_SECRET};
static char run_tag[64];

/* ---- the stacks ----------------------------------------------------- */

static int stack_start(struct product_stack *stack, const char *bootstrap)
{
    char conninfo[512], v_product[64], v_db[600], v_kafka[512], v_secret[128];
    char v_group[128], tag[128];
    const char *ingest_env[] = {v_product, v_kafka, v_secret, NULL};
    const char *projector_env[] = {v_product, v_kafka, v_db, v_group, NULL};
    char errstr[256];

    if (bs_svix_keys_parse(stack->secret, &stack->keys, errstr,
                           sizeof(errstr)) != 0)
        return -1;
    bs_pg_conninfo(&pg, db, BS_PG_SERVICE_ROLE, conninfo, sizeof(conninfo));
    snprintf(v_product, sizeof(v_product), "PRODUCT=%s", stack->product);
    snprintf(v_db, sizeof(v_db), "DATABASE_URL=%s", conninfo);
    snprintf(v_kafka, sizeof(v_kafka), "KAFKA_BOOTSTRAP_SERVERS=%s", bootstrap);
    snprintf(v_secret, sizeof(v_secret), "CLERK_WEBHOOK_SECRET=%s",
             stack->secret);
    /* A group of its own: earlier runs' events on the shared broker are
     * applied to this run's fresh database too, which is harmless. */
    snprintf(v_group, sizeof(v_group), "CONSUMER_GROUP=e2e-%s-%s", run_tag,
             stack->product);

    snprintf(tag, sizeof(tag), "e2e-webhook-ingest-%s", stack->product);
    if (bs_svc_start(&stack->ingest, "services/webhook-ingest/webhook-ingest",
                     tag, ingest_env) != 0)
        return -1;
    snprintf(tag, sizeof(tag), "e2e-user-projector-%s", stack->product);
    return bs_svc_start(&stack->projector,
                        "services/user-projector/user-projector", tag,
                        projector_env);
}

static void stack_stop(struct product_stack *stack)
{
    bs_svc_stop(&stack->ingest, SIGTERM);
    bs_svc_stop(&stack->projector, SIGTERM);
    bs_svix_keys_free(stack->keys);
    stack->keys = NULL;
}

static int suite_init(void)
{
    char *bootstrap = bs_broker_bootstrap();
    int result = -1;

    snprintf(run_tag, sizeof(run_tag), "%ld-%d", (long)time(NULL),
             (int)getpid());
    if (!bootstrap || bs_pg_env_load(&pg) != 0 ||
        bs_pg_create_database(&pg, "e2e", db, sizeof(db)) != 0 ||
        bs_pg_migrate(&pg, db, (const char *[]){"up", NULL}, NULL) != 0)
        goto out;
    owner = bs_pg_connect(&pg, db, NULL);
    if (owner && stack_start(&bestays, bootstrap) == 0 &&
        stack_start(&realestate, bootstrap) == 0)
        result = 0;
out:
    free(bootstrap);
    return result;
}

static int suite_cleanup(void)
{
    stack_stop(&bestays);
    stack_stop(&realestate);
    if (owner)
        PQfinish(owner);
    bs_pg_drop_database(&pg, db);
    return 0;
}

/* ---- webhooks ------------------------------------------------------- */

static const char *unique_id(const char *prefix, char *buf, size_t size)
{
    static int counter;

    snprintf(buf, size, "%s_%s_%d", prefix, run_tag, ++counter);
    return buf;
}

/* A Clerk user.created/user.updated body for `user_id`. */
static void user_body(char *buf, size_t size, const char *type,
                      const char *user_id, const char *first_name,
                      long long updated_at)
{
    snprintf(buf, size,
             "{\"type\":\"%s\",\"object\":\"event\",\"data\":{"
             "\"id\":\"%s\",\"object\":\"user\",\"first_name\":\"%s\","
             "\"last_name\":\"Tester\",\"primary_email_address_id\":\"idn_1\","
             "\"email_addresses\":[{\"id\":\"idn_1\","
             "\"email_address\":\"%s@example.org\"}],"
             "\"public_metadata\":{},\"updated_at\":%lld}}",
             type, user_id, first_name, user_id, updated_at);
}

/* Signs `body` as Svix would, now, with the stack's secret (or `keys`),
 * and posts it. Returns the HTTP status. */
static long post_webhook(const struct product_stack *stack,
                         const struct bs_svix_keys *keys, const char *svix_id,
                         const char *body)
{
    char timestamp[32], signature[BS_SVIX_SIGNATURE_SIZE];
    char h_id[160], h_ts[64], h_sig[96];
    const char *headers[] = {"Content-Type: application/json", h_id, h_ts,
                             h_sig, NULL};

    snprintf(timestamp, sizeof(timestamp), "%ld", (long)time(NULL));
    if (bs_svix_sign(keys, 0, svix_id, timestamp, body, strlen(body), signature,
                     sizeof(signature)) != 0)
        return -1;
    snprintf(h_id, sizeof(h_id), "svix-id: %s", svix_id);
    snprintf(h_ts, sizeof(h_ts), "svix-timestamp: %s", timestamp);
    snprintf(h_sig, sizeof(h_sig), "svix-signature: %s", signature);
    return bs_svc_http(&stack->ingest, "POST", "/api/v1/webhooks/clerk",
                       headers, body, strlen(body), NULL);
}

/* ---- reading the rows --------------------------------------------------- */

static long long count_where(const char *table, const char *product,
                             const char *column, const char *value)
{
    const char *params[] = {product, value};
    char sql[256];
    PGresult *result;
    long long count = -1;

    snprintf(sql, sizeof(sql),
             "SELECT count(*) FROM %s WHERE product = $1 AND %s = $2", table,
             column);
    result = PQexecParams(owner, sql, 2, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(result) == PGRES_TUPLES_OK && PQntuples(result) == 1)
        count = atoll(PQgetvalue(result, 0, 0));
    PQclear(result);
    return count;
}

/* Waits until `count_where` reaches `expected` (bounded, not a timing
 * assertion), and returns the last count. */
static long long wait_rows(const char *table, const char *product,
                           const char *column, const char *value,
                           long long expected)
{
    long long count = -1;

    for (int waited = 0; waited < DEADLINE_MS; waited += 50) {
        struct timespec pause = {0, 50 * 1000000L};

        count = count_where(table, product, column, value);
        if (count == expected)
            break;
        nanosleep(&pause, NULL);
    }
    return count;
}

static char *user_field(const char *product, const char *id, const char *column)
{
    const char *params[] = {product, id};
    char sql[256];
    PGresult *result;
    char *value = NULL;

    snprintf(sql, sizeof(sql),
             "SELECT %s FROM users WHERE product = $1 AND id = $2", column);
    result = PQexecParams(owner, sql, 2, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(result) == PGRES_TUPLES_OK && PQntuples(result) == 1 &&
        !PQgetisnull(result, 0, 0))
        value = strdup(PQgetvalue(result, 0, 0));
    PQclear(result);
    return value;
}

/* Rows of `users` with this id that the service role sees in `product`'s
 * context: row-level security, not a WHERE clause, decides. */
static long long visible_to_service(const char *product, const char *id)
{
    PGconn *service = bs_pg_connect(&pg, db, BS_PG_SERVICE_ROLE);
    const char *params[] = {product};
    const char *id_param[] = {id};
    PGresult *result;
    long long count = -1;

    if (!service)
        return -1;
    PQclear(PQexec(service, "BEGIN"));
    PQclear(PQexecParams(service, "SELECT set_config('app.product', $1, true)",
                         1, NULL, params, NULL, NULL, 0));
    result = PQexecParams(service, "SELECT count(*) FROM users WHERE id = $1",
                          1, NULL, id_param, NULL, NULL, 0);
    if (PQresultStatus(result) == PGRES_TUPLES_OK)
        count = atoll(PQgetvalue(result, 0, 0));
    PQclear(result);
    PQclear(PQexec(service, "COMMIT"));
    PQfinish(service);
    return count;
}

/* ---- tests ------------------------------------------------------------- */

static void test_bestays_signup_appears_only_in_bestays(void)
{
    char user[128], svix[128], body[1024];

    unique_id("user_e2e", user, sizeof(user));
    user_body(body, sizeof(body), "user.created", user, "Ada", 1000);
    BS_ASSERT_INT_EQ(post_webhook(&bestays, bestays.keys,
                                  unique_id("msg", svix, sizeof(svix)), body),
                     200);

    BS_ASSERT_INT_EQ(wait_rows("users", "bestays", "id", user, 1), 1);
    BS_ASSERT_INT_EQ(count_where("users", "realestate", "id", user), 0);
    BS_ASSERT_INT_EQ(visible_to_service("bestays", user), 1);
    BS_ASSERT_INT_EQ(visible_to_service("realestate", user), 0);
    BS_ASSERT_INT_EQ(wait_rows("webhook_events", "bestays", "svix_id", svix, 1),
                     1);
    BS_ASSERT_INT_EQ(
        count_where("webhook_events", "realestate", "svix_id", svix), 0);
}

static void test_realestate_signup_appears_only_in_realestate(void)
{
    char user[128], svix[128], body[1024];

    unique_id("user_e2e", user, sizeof(user));
    user_body(body, sizeof(body), "user.created", user, "Grace", 1000);
    BS_ASSERT_INT_EQ(post_webhook(&realestate, realestate.keys,
                                  unique_id("msg", svix, sizeof(svix)), body),
                     200);

    BS_ASSERT_INT_EQ(wait_rows("users", "realestate", "id", user, 1), 1);
    BS_ASSERT_INT_EQ(count_where("users", "bestays", "id", user), 0);
    BS_ASSERT_INT_EQ(visible_to_service("bestays", user), 0);
}

static void test_redelivered_webhook_gives_one_row(void)
{
    char user[128], svix[128], body[1024], later_svix[128];

    unique_id("user_e2e", user, sizeof(user));
    unique_id("msg", svix, sizeof(svix));
    user_body(body, sizeof(body), "user.created", user, "Alan", 1000);

    /* Svix redelivers with the same svix-id and a fresh signature. */
    for (int i = 0; i < 3; i++)
        BS_ASSERT_INT_EQ(post_webhook(&bestays, bestays.keys, svix, body), 200);

    /* A later webhook for the same user (same key, same partition) marks
     * the point by which the redeliveries have all been consumed. */
    user_body(body, sizeof(body), "user.updated", user, "Alan M.", 2000);
    unique_id("msg", later_svix, sizeof(later_svix));
    BS_ASSERT_INT_EQ(post_webhook(&bestays, bestays.keys, later_svix, body),
                     200);
    BS_ASSERT_INT_EQ(
        wait_rows("webhook_events", "bestays", "svix_id", later_svix, 1), 1);

    BS_ASSERT_INT_EQ(count_where("users", "bestays", "id", user), 1);
    BS_ASSERT_INT_EQ(count_where("webhook_events", "bestays", "svix_id", svix),
                     1);
}

static void test_update_and_delete_follow_clerk_ordering(void)
{
    char user[128], svix[128], body[1024];
    char *name, *deleted;

    unique_id("user_e2e", user, sizeof(user));
    user_body(body, sizeof(body), "user.created", user, "Barbara", 1000);
    BS_ASSERT_INT_EQ(post_webhook(&bestays, bestays.keys,
                                  unique_id("msg", svix, sizeof(svix)), body),
                     200);

    /* An update Clerk made earlier arrives late: ignored. */
    user_body(body, sizeof(body), "user.updated", user, "Stale", 500);
    BS_ASSERT_INT_EQ(post_webhook(&bestays, bestays.keys,
                                  unique_id("msg", svix, sizeof(svix)), body),
                     200);
    BS_ASSERT_INT_EQ(wait_rows("webhook_events", "bestays", "svix_id", svix, 1),
                     1);
    name = user_field("bestays", user, "first_name");
    BS_ASSERT_STR_EQ(name, "Barbara");
    free(name);

    /* The deletion is a tombstone; a late update does not resurrect. */
    snprintf(body, sizeof(body),
             "{\"type\":\"user.deleted\",\"data\":{\"id\":\"%s\","
             "\"object\":\"user\",\"deleted\":true}}",
             user);
    BS_ASSERT_INT_EQ(post_webhook(&bestays, bestays.keys,
                                  unique_id("msg", svix, sizeof(svix)), body),
                     200);
    user_body(body, sizeof(body), "user.updated", user, "Zombie", 9000);
    BS_ASSERT_INT_EQ(post_webhook(&bestays, bestays.keys,
                                  unique_id("msg", svix, sizeof(svix)), body),
                     200);
    BS_ASSERT_INT_EQ(wait_rows("webhook_events", "bestays", "svix_id", svix, 1),
                     1);

    deleted = user_field("bestays", user, "deleted_at IS NOT NULL");
    BS_ASSERT_STR_EQ(deleted, "t");
    name = user_field("bestays", user, "first_name");
    CU_ASSERT_TRUE(name == NULL || strcmp(name, "Zombie") != 0);
    free(deleted);
    free(name);
}

static void test_other_products_signature_is_refused_and_nothing_applied(void)
{
    char user[128], svix[128], body[1024], marker_svix[128];

    /* realestate's secret on bestays' door. */
    unique_id("user_e2e", user, sizeof(user));
    unique_id("msg", svix, sizeof(svix));
    user_body(body, sizeof(body), "user.created", user, "Mallory", 1000);
    BS_ASSERT_INT_EQ(post_webhook(&bestays, realestate.keys, svix, body), 401);

    /* Then a good webhook for the same user id: once it is applied, the
     * refused one would have been too, had it reached the log. */
    unique_id("msg", marker_svix, sizeof(marker_svix));
    user_body(body, sizeof(body), "user.updated", user, "Marker", 2000);
    BS_ASSERT_INT_EQ(post_webhook(&bestays, bestays.keys, marker_svix, body),
                     200);
    BS_ASSERT_INT_EQ(
        wait_rows("webhook_events", "bestays", "svix_id", marker_svix, 1), 1);
    BS_ASSERT_INT_EQ(count_where("webhook_events", "bestays", "svix_id", svix),
                     0);
    BS_ASSERT_INT_EQ(
        count_where("webhook_events", "realestate", "svix_id", svix), 0);
}

static CU_TestInfo end_to_end_tests[] = {
    {"bestays_signup_appears_only_in_bestays",
     test_bestays_signup_appears_only_in_bestays},
    {"realestate_signup_appears_only_in_realestate",
     test_realestate_signup_appears_only_in_realestate},
    {"redelivered_webhook_gives_one_row",
     test_redelivered_webhook_gives_one_row},
    {"update_and_delete_follow_clerk_ordering",
     test_update_and_delete_follow_clerk_ordering},
    {"other_products_signature_is_refused_and_nothing_applied",
     test_other_products_signature_is_refused_and_nothing_applied},
    CU_TEST_INFO_NULL,
};

static void register_suites(void)
{
    bs_test_add_suite("users_end_to_end", suite_init, suite_cleanup,
                      end_to_end_tests);
}

int main(void)
{
    return bs_test_main(register_suites);
}
