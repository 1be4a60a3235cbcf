/*
 * test_gateway_webhook_users.c - the api-gateway serving users that came
 * through the real webhook path, and the gateway's connection limits.
 *
 * For bestays and for realestate the real webhook-ingest, user-projector
 * and api-gateway run side by side on one fresh database (as bs_service)
 * and the fixture's broker. Users are created, promoted and deleted only by
 * posting Svix-signed Clerk webhooks to their product's webhook-ingest; the
 * test then asks the gateways, with session tokens it mints itself (one RSA
 * key per product stands for its Clerk instance). The projection is
 * asynchronous, so every check after a webhook waits, with a give-up bound,
 * for the gateway to show the change: never a timing assertion.
 *
 * The second half opens raw TCP connections to the bestays gateway: too
 * many headers, one huge header, a NUL byte in the request line, and
 * slow-loris connections that send half a request line. It does not test
 * the idle timeout itself: the gateway has no setting for it (the HTTP
 * layer's default, 30 s, applies), so it checks only that other clients are
 * served while such connections hang.
 */
#include "broker_harness.h"
#include "harness.h"
#include "session_token.h"
#include "pg_harness.h"
#include "service_harness.h"

#include "bs/svix.h"

#include <arpa/inet.h>
#include <errno.h>
#include <jansson.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define DEADLINE_MS       60000
#define SOCKET_WAIT_MS    30000
#define LORIS_COUNT       32
#define BESTAYS_SECRET    "whsec_Z2F0ZXdheS13ZWJob29rLWJlc3RheXMtc2VjcmV0"
#define REALESTATE_SECRET "whsec_Z2F0ZXdheS13ZWJob29rLXJlYWxlc3RhdGUtc2Vj"

/* One product's deployment and the users this run created in it. */
struct stack {
    const char *product;
    const char *secret;
    struct bs_svix_keys *keys;
    EVP_PKEY *jwt_key; /* its "Clerk instance" */
    struct bs_svc ingest;
    struct bs_svc projector;
    struct bs_svc gateway;
    char admin[128];    /* role admin from the start */
    char user[128];     /* a plain user */
    char leaver[128];   /* deleted by a webhook */
    char promoted[128]; /* user, then admin by a webhook */
};

static struct bs_pg_env pg;
static char db[64];
static char run_tag[64];
static struct stack bestays = {.product = "bestays", .secret = BESTAYS_SECRET};
static struct stack realestate = {.product = "realestate",
                                  .secret = REALESTATE_SECRET};

static void pause_ms(long ms)
{
    struct timespec pause = {ms / 1000, (ms % 1000) * 1000000L};

    nanosleep(&pause, NULL);
}

/* ---- tokens ------------------------------------------------------------- */

/* An RS256 session token for `sub`, signed by `key`. Caller frees. */
static char *mint(EVP_PKEY *key, const char *sub)
{
    return bs_test_session_token(key, sub, NULL, 600);
}

/* ---- the stacks -----------------------------------------------------------
 */

static int stack_start(struct stack *stack, const char *bootstrap)
{
    char conninfo[512], v_product[64], v_db[600], v_kafka[512], v_secret[128];
    char v_group[160], tag[128], *pem, *v_key;
    const char *ingest_env[] = {v_product, v_kafka, v_secret, NULL};
    const char *projector_env[] = {v_product, v_kafka, v_db, v_group, NULL};
    const char *gateway_env[] = {v_product, v_kafka, v_db, NULL, NULL};
    char errstr[256];
    int result = -1;

    if (bs_svix_keys_parse(stack->secret, &stack->keys, errstr,
                           sizeof(errstr)) != 0)
        return -1;
    stack->jwt_key = EVP_RSA_gen(2048);
    pem = stack->jwt_key ? bs_test_public_pem(stack->jwt_key) : NULL;
    v_key = pem ? malloc(strlen(pem) + 32) : NULL;
    if (!v_key)
        goto out;
    sprintf(v_key, "CLERK_JWT_KEY=%s", pem);
    gateway_env[3] = v_key;

    bs_pg_conninfo(&pg, db, BS_PG_SERVICE_ROLE, conninfo, sizeof(conninfo));
    snprintf(v_product, sizeof(v_product), "PRODUCT=%s", stack->product);
    snprintf(v_db, sizeof(v_db), "DATABASE_URL=%s", conninfo);
    snprintf(v_kafka, sizeof(v_kafka), "KAFKA_BOOTSTRAP_SERVERS=%s", bootstrap);
    snprintf(v_secret, sizeof(v_secret), "CLERK_WEBHOOK_SECRET=%s",
             stack->secret);
    /* A group of this run's own: it reads the topic from the start, so
     * earlier runs' users land in this fresh database too (harmless: the
     * checks look only at this run's ids). */
    snprintf(v_group, sizeof(v_group), "CONSUMER_GROUP=gwwh-%s-%s", run_tag,
             stack->product);

    snprintf(tag, sizeof(tag), "gwwh-webhook-ingest-%s", stack->product);
    if (bs_svc_start(&stack->ingest, "services/webhook-ingest/webhook-ingest",
                     tag, ingest_env) != 0)
        goto out;
    snprintf(tag, sizeof(tag), "gwwh-user-projector-%s", stack->product);
    if (bs_svc_start(&stack->projector,
                     "services/user-projector/user-projector", tag,
                     projector_env) != 0)
        goto out;
    snprintf(tag, sizeof(tag), "gwwh-api-gateway-%s", stack->product);
    result = bs_svc_start(&stack->gateway, "services/api-gateway/api-gateway",
                          tag, gateway_env);
out:
    free(pem);
    free(v_key);
    return result;
}

/* Stops the stack; -1 when the gateway did not exit 0 on SIGTERM. */
static int stack_stop(struct stack *stack)
{
    int gateway =
        stack->gateway.pid > 0 ? bs_svc_stop(&stack->gateway, SIGTERM) : 0;

    bs_svc_stop(&stack->ingest, SIGTERM);
    bs_svc_stop(&stack->projector, SIGTERM);
    bs_svix_keys_free(stack->keys);
    stack->keys = NULL;
    EVP_PKEY_free(stack->jwt_key);
    stack->jwt_key = NULL;
    if (gateway != 0)
        fprintf(stderr, "%s api-gateway exit code %d; see %s\n", stack->product,
                gateway, stack->gateway.log_path);
    return gateway == 0 ? 0 : -1;
}

static void stack_name_users(struct stack *stack)
{
    const char *p = stack->product;

    snprintf(stack->admin, sizeof(stack->admin), "user_%s_%s_admin", run_tag,
             p);
    snprintf(stack->user, sizeof(stack->user), "user_%s_%s_plain", run_tag, p);
    snprintf(stack->leaver, sizeof(stack->leaver), "user_%s_%s_leaver", run_tag,
             p);
    snprintf(stack->promoted, sizeof(stack->promoted), "user_%s_%s_promoted",
             run_tag, p);
}

static int suite_init(void)
{
    char *bootstrap = bs_broker_bootstrap();
    int result = -1;

    /* Digits only: part of user ids, e-mails and the `q` filter. */
    snprintf(run_tag, sizeof(run_tag), "gw%ld%d", (long)time(NULL),
             (int)getpid());
    stack_name_users(&bestays);
    stack_name_users(&realestate);
    if (!bootstrap || bs_pg_env_load(&pg) != 0 ||
        bs_pg_create_database(&pg, "gwwh", db, sizeof(db)) != 0 ||
        bs_pg_migrate(&pg, db, (const char *[]){"up", NULL}, NULL) != 0)
        goto out;
    if (stack_start(&bestays, bootstrap) == 0 &&
        stack_start(&realestate, bootstrap) == 0)
        result = 0;
out:
    free(bootstrap);
    return result;
}

static int suite_cleanup(void)
{
    int bs = stack_stop(&bestays);
    int re = stack_stop(&realestate);

    if (db[0])
        bs_pg_drop_database(&pg, db);
    return bs == 0 && re == 0 ? 0 : -1;
}

/* ---- webhooks -------------------------------------------------------------
 */

/* Signs `body` as Svix would, now, with the stack's secret and a fresh
 * svix-id, and posts it to the stack's webhook-ingest. The HTTP status. */
static long post_webhook(const struct stack *stack, const char *body)
{
    static int counter;
    char svix_id[128], timestamp[32], signature[BS_SVIX_SIGNATURE_SIZE];
    char h_id[160], h_ts[64], h_sig[96];
    const char *headers[] = {"Content-Type: application/json", h_id, h_ts,
                             h_sig, NULL};

    snprintf(svix_id, sizeof(svix_id), "msg_%s_%d", run_tag, ++counter);
    snprintf(timestamp, sizeof(timestamp), "%ld", (long)time(NULL));
    if (bs_svix_sign(stack->keys, 0, svix_id, timestamp, body, strlen(body),
                     signature, sizeof(signature)) != 0)
        return -1;
    snprintf(h_id, sizeof(h_id), "svix-id: %s", svix_id);
    snprintf(h_ts, sizeof(h_ts), "svix-timestamp: %s", timestamp);
    snprintf(h_sig, sizeof(h_sig), "svix-signature: %s", signature);
    return bs_svc_http(&stack->ingest, "POST", "/api/v1/webhooks/clerk",
                       headers, body, strlen(body), NULL);
}

/* A Clerk user.created / user.updated for `id` with public_metadata.role. */
static long post_user(const struct stack *stack, const char *type,
                      const char *id, const char *role, long long updated_at)
{
    char body[1024];

    snprintf(body, sizeof(body),
             "{\"type\":\"%s\",\"object\":\"event\",\"data\":{"
             "\"id\":\"%s\",\"object\":\"user\",\"first_name\":\"Test\","
             "\"last_name\":\"User\",\"primary_email_address_id\":\"idn_1\","
             "\"email_addresses\":[{\"id\":\"idn_1\","
             "\"email_address\":\"%s@example.org\"}],"
             "\"public_metadata\":{\"role\":\"%s\"},\"updated_at\":%lld}}",
             type, id, id, role, updated_at);
    return post_webhook(stack, body);
}

static long post_user_deleted(const struct stack *stack, const char *id)
{
    char body[512];

    snprintf(body, sizeof(body),
             "{\"type\":\"user.deleted\",\"object\":\"event\",\"data\":{"
             "\"id\":\"%s\",\"object\":\"user\",\"deleted\":true}}",
             id);
    return post_webhook(stack, body);
}

/* ---- asking the gateways ------------------------------------------------- */

/* GET `path` on `stack`'s gateway as `sub`, with a token of `signer`'s
 * Clerk key. The status; *body (if not NULL) is the caller's. */
static long gw_get(const struct stack *stack, const struct stack *signer,
                   const char *sub, const char *path, char **body)
{
    char *token = mint(signer->jwt_key, sub);
    char *auth = malloc(strlen(token) + 32);
    const char *headers[] = {auth, NULL};
    long status;

    sprintf(auth, "Authorization: Bearer %s", token);
    status = bs_svc_http(&stack->gateway, "GET", path, headers, NULL, 0, body);
    free(auth);
    free(token);
    return status;
}

/* Repeats gw_get until it answers `expected` or the deadline passes (a
 * give-up bound); returns the last status. */
static long gw_wait_status(const struct stack *stack, const char *sub,
                           const char *path, long expected)
{
    long status = 0;

    for (int waited = 0; waited < DEADLINE_MS; waited += 100) {
        status = gw_get(stack, stack, sub, path, NULL);
        if (status == expected)
            break;
        pause_ms(100);
    }
    return status;
}

/* This run's user ids in `admin`'s list of its gateway (filtered by the
 * run tag), comma-joined in list order, into buf; "" on any failure. */
static const char *listed_ids(const struct stack *stack, const char *admin,
                              char *buf, size_t size)
{
    char path[256], *body = NULL;
    json_t *page = NULL, *item;
    size_t i;

    buf[0] = '\0';
    snprintf(path, sizeof(path), "/api/v1/users?q=%s&limit=100", run_tag);
    if (gw_get(stack, stack, admin, path, &body) == 200)
        page = json_loads(body ? body : "", 0, NULL);
    json_array_foreach(json_object_get(page, "items"), i, item)
    {
        const char *id = json_string_value(json_object_get(item, "id"));

        if (buf[0])
            strncat(buf, ",", size - strlen(buf) - 1);
        strncat(buf, id ? id : "?", size - strlen(buf) - 1);
    }
    json_decref(page);
    free(body);
    return buf;
}

/* "/api/v1/users/<id>" into buf. */
static const char *user_path(const char *id, char *buf, size_t size)
{
    snprintf(buf, size, "/api/v1/users/%s", id);
    return buf;
}

/* ---- users through the webhook path ---------------------------------------
 */

static void create_users(const struct stack *stack)
{
    BS_ASSERT_INT_EQ(
        post_user(stack, "user.created", stack->admin, "admin", 1000), 200);
    BS_ASSERT_INT_EQ(
        post_user(stack, "user.created", stack->user, "user", 1000), 200);
    BS_ASSERT_INT_EQ(
        post_user(stack, "user.created", stack->leaver, "user", 1000), 200);
    BS_ASSERT_INT_EQ(
        post_user(stack, "user.created", stack->promoted, "user", 1000), 200);
}

static void test_webhook_created_users_sign_in_to_their_gateway(void)
{
    const struct stack *stacks[] = {&bestays, &realestate};

    create_users(&bestays);
    create_users(&realestate);

    for (size_t i = 0; i < 2; i++) {
        const struct stack *s = stacks[i];

        BS_ASSERT_INT_EQ(gw_wait_status(s, s->admin, "/api/v1/users/me", 200),
                         200);
        BS_ASSERT_INT_EQ(gw_wait_status(s, s->user, "/api/v1/users/me", 200),
                         200);
        BS_ASSERT_INT_EQ(gw_wait_status(s, s->leaver, "/api/v1/users/me", 200),
                         200);
        BS_ASSERT_INT_EQ(
            gw_wait_status(s, s->promoted, "/api/v1/users/me", 200), 200);
    }
}

static void test_role_comes_from_public_metadata(void)
{
    char *body = NULL;
    json_t *me;

    BS_ASSERT_INT_EQ(
        gw_get(&bestays, &bestays, bestays.admin, "/api/v1/users/me", &body),
        200);
    me = json_loads(body ? body : "", 0, NULL);
    BS_ASSERT_STR_EQ(json_string_value(json_object_get(me, "role")), "admin");
    json_decref(me);
    free(body);

    BS_ASSERT_INT_EQ(
        gw_get(&bestays, &bestays, bestays.user, "/api/v1/users", NULL), 403);
    BS_ASSERT_INT_EQ(gw_get(&realestate, &realestate, realestate.user,
                            "/api/v1/users", NULL),
                     403);
}

/* Both products' users of this run, in key order: only the admin's own. */
static void test_each_admin_lists_only_its_products_users(void)
{
    char ids[2048], expected[1024];

    snprintf(expected, sizeof(expected), "%s,%s,%s,%s", bestays.admin,
             bestays.leaver, bestays.user, bestays.promoted);
    /* Keyset order is the Clerk id: admin < leaver < plain < promoted. */
    BS_ASSERT_STR_EQ(listed_ids(&bestays, bestays.admin, ids, sizeof(ids)),
                     expected);
    snprintf(expected, sizeof(expected), "%s,%s,%s,%s", realestate.admin,
             realestate.leaver, realestate.user, realestate.promoted);
    BS_ASSERT_STR_EQ(
        listed_ids(&realestate, realestate.admin, ids, sizeof(ids)), expected);
}

static void test_bestays_token_on_realestate_gateway_is_401(void)
{
    BS_ASSERT_INT_EQ(
        gw_get(&realestate, &bestays, bestays.admin, "/api/v1/users/me", NULL),
        401);
    BS_ASSERT_INT_EQ(gw_get(&bestays, &realestate, realestate.user,
                            "/api/v1/users/me", NULL),
                     401);
}

static void test_bestays_user_id_on_realestate_gateway_is_404(void)
{
    char path[256];

    BS_ASSERT_INT_EQ(gw_get(&realestate, &realestate, realestate.admin,
                            user_path(bestays.user, path, sizeof(path)), NULL),
                     404);
    BS_ASSERT_INT_EQ(gw_get(&bestays, &bestays, bestays.admin,
                            user_path(realestate.user, path, sizeof(path)),
                            NULL),
                     404);
    /* Its own product's user, for contrast. */
    BS_ASSERT_INT_EQ(gw_get(&bestays, &bestays, bestays.admin,
                            user_path(bestays.user, path, sizeof(path)), NULL),
                     200);
}

static void test_deleted_user_is_403_and_404_to_the_admin(void)
{
    char path[256];

    BS_ASSERT_INT_EQ(post_user_deleted(&bestays, bestays.leaver), 200);
    BS_ASSERT_INT_EQ(
        gw_wait_status(&bestays, bestays.leaver, "/api/v1/users/me", 403), 403);
    BS_ASSERT_INT_EQ(gw_get(&bestays, &bestays, bestays.admin,
                            user_path(bestays.leaver, path, sizeof(path)),
                            NULL),
                     404);

    /* The same-named user of the other product is untouched. */
    BS_ASSERT_INT_EQ(gw_get(&realestate, &realestate, realestate.leaver,
                            "/api/v1/users/me", NULL),
                     200);
}

static void test_promotion_to_admin_opens_the_user_list(void)
{
    char path[256];

    BS_ASSERT_INT_EQ(gw_get(&bestays, &bestays, bestays.promoted,
                            user_path(bestays.user, path, sizeof(path)), NULL),
                     403);
    BS_ASSERT_INT_EQ(
        post_user(&bestays, "user.updated", bestays.promoted, "admin", 2000),
        200);

    BS_ASSERT_INT_EQ(
        gw_wait_status(&bestays, bestays.promoted, "/api/v1/users", 200), 200);
    BS_ASSERT_INT_EQ(gw_get(&bestays, &bestays, bestays.promoted,
                            user_path(bestays.user, path, sizeof(path)), NULL),
                     200);
    /* Still nothing of the other product. */
    BS_ASSERT_INT_EQ(gw_get(&bestays, &bestays, bestays.promoted,
                            user_path(realestate.user, path, sizeof(path)),
                            NULL),
                     404);
    BS_ASSERT_INT_EQ(gw_get(&realestate, &realestate, realestate.promoted,
                            "/api/v1/users", NULL),
                     403);
}

/* ---- raw connections ------------------------------------------------------
 */

static int tcp_connect(unsigned port)
{
    struct sockaddr_in addr = {.sin_family = AF_INET,
                               .sin_port = htons((uint16_t)port),
                               .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    if (fd >= 0 && connect(fd, (struct sockaddr *)&addr, sizeof(addr)) != 0) {
        close(fd);
        fd = -1;
    }
    return fd;
}

/* Sends all of `data` (the server may stop reading: errors are ignored). */
static void send_all(int fd, const char *data, size_t len)
{
    while (len > 0) {
        ssize_t n = send(fd, data, len, MSG_NOSIGNAL);

        if (n <= 0)
            return;
        data += n;
        len -= (size_t)n;
    }
}

/*
 * Sends `request` on a fresh connection and reads the answer's status line.
 * The status, 0 when the server closed or reset the connection without an
 * answer, -1 when it could not connect or nothing came within the bound.
 */
static long raw_request(unsigned port, const char *request, size_t len)
{
    char buf[256];
    size_t got = 0;
    long status = -1;
    int fd = tcp_connect(port);

    if (fd < 0)
        return -1;
    send_all(fd, request, len);
    while (got < sizeof(buf) - 1) {
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        ssize_t n;

        if (poll(&pfd, 1, SOCKET_WAIT_MS) <= 0)
            break;
        n = recv(fd, buf + got, sizeof(buf) - 1 - got, 0);
        if (n <= 0) {
            status = 0;
            break;
        }
        got += (size_t)n;
        buf[got] = '\0';
        if (strstr(buf, "\r\n"))
            break;
    }
    buf[got] = '\0';
    if (got > 0 && sscanf(buf, "HTTP/1.%*d %ld", &status) != 1)
        status = 0;
    close(fd);
    return status;
}

/* The bestays gateway still answers a plain and an authenticated read. */
static void assert_still_serving(void)
{
    BS_ASSERT_INT_EQ(bs_svc_http(&bestays.gateway, "GET", "/api/health", NULL,
                                 NULL, 0, NULL),
                     200);
    BS_ASSERT_INT_EQ(
        gw_get(&bestays, &bestays, bestays.user, "/api/v1/users/me", NULL),
        200);
}

/* A request whose header block is `count` lines of `value_len` bytes. */
static char *request_with_headers(size_t count, size_t value_len, size_t *len)
{
    const char *start = "GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\n";
    size_t size = strlen(start) + count * (value_len + 32) + 3;
    char *request = malloc(size);
    size_t at;

    if (!request)
        return NULL;
    at = (size_t)sprintf(request, "%s", start);
    for (size_t i = 0; i < count; i++) {
        at += (size_t)sprintf(request + at, "X-Pad-%zu: ", i);
        memset(request + at, 'a', value_len);
        at += value_len;
        at += (size_t)sprintf(request + at, "\r\n");
    }
    at += (size_t)sprintf(request + at, "\r\n");
    *len = at;
    return request;
}

static void assert_refused_with_4xx(size_t count, size_t value_len)
{
    size_t len = 0;
    char *request = request_with_headers(count, value_len, &len);
    long status;

    CU_ASSERT_PTR_NOT_NULL_FATAL(request);
    status = raw_request(bestays.gateway.port, request, len);
    if (status < 400 || status > 499)
        fprintf(stderr, "%zu headers of %zu bytes: status %ld\n", count,
                value_len, status);
    CU_ASSERT_TRUE(status >= 400 && status <= 499);
    free(request);
}

static void test_too_many_headers_is_4xx_and_server_keeps_serving(void)
{
    /* 400 headers of 100 bytes: past libmicrohttpd's 32 KiB per connection. */
    assert_refused_with_4xx(400, 100);
    assert_still_serving();
}

static void test_one_huge_header_is_4xx_and_server_keeps_serving(void)
{
    assert_refused_with_4xx(1, 64 * 1024);
    assert_still_serving();
}

/*
 * A NUL byte sent raw in the request target. libmicrohttpd 0.9.75 hands
 * the HTTP layer the target as a C string, so it is cut at the NUL: here
 * the part before it is the caller's own id, which is then served (200).
 * That is a known gap (docs/api-gateway.md, "Not done yet"); what is
 * asserted is that it is never a 5xx or a crash. A percent-encoded %00 is
 * refused with a 4xx (test_api_gateway.c).
 */
static void test_raw_nul_byte_in_request_line_is_no_server_error(void)
{
    char *token = mint(bestays.jwt_key, bestays.user);
    size_t size = strlen(token) + 512, len;
    char *request = malloc(size);
    long status;

    CU_ASSERT_PTR_NOT_NULL_FATAL(request);
    len = (size_t)snprintf(request, size,
                           "GET /api/v1/users/%s%cx HTTP/1.1\r\n"
                           "Host: 127.0.0.1\r\n"
                           "Authorization: Bearer %s\r\n\r\n",
                           bestays.user, '\0', token);
    status = raw_request(bestays.gateway.port, request, len);
    if (status < 0 || status >= 500)
        fprintf(stderr, "NUL in request line: status %ld\n", status);
    CU_ASSERT_TRUE(status >= 0 && status < 500);
    free(request);
    free(token);
    assert_still_serving();
}

static void test_slow_loris_connections_do_not_block_other_clients(void)
{
    int loris[LORIS_COUNT];
    int opened = 0;

    /* Half a request line each, and then nothing. */
    for (int i = 0; i < LORIS_COUNT; i++) {
        loris[i] = tcp_connect(bestays.gateway.port);
        if (loris[i] >= 0) {
            send_all(loris[i], "GET /api/hea", 12);
            opened++;
        }
    }
    BS_ASSERT_INT_EQ(opened, LORIS_COUNT);

    assert_still_serving();
    BS_ASSERT_INT_EQ(gw_get(&realestate, &realestate, realestate.user,
                            "/api/v1/users/me", NULL),
                     200);

    for (int i = 0; i < LORIS_COUNT; i++)
        if (loris[i] >= 0)
            close(loris[i]);
}

static CU_TestInfo tests[] = {
    {"webhook_created_users_sign_in_to_their_gateway",
     test_webhook_created_users_sign_in_to_their_gateway},
    {"role_comes_from_public_metadata", test_role_comes_from_public_metadata},
    {"each_admin_lists_only_its_products_users",
     test_each_admin_lists_only_its_products_users},
    {"bestays_token_on_realestate_gateway_is_401",
     test_bestays_token_on_realestate_gateway_is_401},
    {"bestays_user_id_on_realestate_gateway_is_404",
     test_bestays_user_id_on_realestate_gateway_is_404},
    {"deleted_user_is_403_and_404_to_the_admin",
     test_deleted_user_is_403_and_404_to_the_admin},
    {"promotion_to_admin_opens_the_user_list",
     test_promotion_to_admin_opens_the_user_list},
    {"too_many_headers_is_4xx_and_server_keeps_serving",
     test_too_many_headers_is_4xx_and_server_keeps_serving},
    {"one_huge_header_is_4xx_and_server_keeps_serving",
     test_one_huge_header_is_4xx_and_server_keeps_serving},
    {"raw_nul_byte_in_request_line_is_no_server_error",
     test_raw_nul_byte_in_request_line_is_no_server_error},
    {"slow_loris_connections_do_not_block_other_clients",
     test_slow_loris_connections_do_not_block_other_clients},
    CU_TEST_INFO_NULL,
};

static void register_suites(void)
{
    bs_test_add_suite("gateway_webhook_users", suite_init, suite_cleanup,
                      tests);
}

int main(void)
{
    return bs_test_main(register_suites);
}
