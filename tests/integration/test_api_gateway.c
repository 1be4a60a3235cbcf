/*
 * test_api_gateway.c - the real api-gateway binary, two products side by
 * side, over HTTP, PostgreSQL and Kafka.
 *
 * One fresh database (migrated with the real bsctl) holds users, FAQ
 * categories and documents and properties of BOTH products, inserted as the
 * superuser (the rows user-projector and faq-indexer would write). Two
 * gateways run as bs_service on it, bestays and realestate, each with its
 * own RSA key standing for its Clerk instance; the test mints session
 * tokens with those keys. Writes are checked by reading <product>.faq and
 * <product>.audit back with the broker harness (other tests share the
 * topics, so events are found by a unique document id or request id).
 * The main gateways run with the default caller cache (CALLER_CACHE_MS
 * 1000); the caller-cache tests start extra gateways with 300 and 0 and
 * change users as the superuser while they run.
 * Every wait is a give-up bound, never a timing assertion.
 */
#include "broker_harness.h"
#include "harness.h"
#include "service_harness.h"
#include "session_token.h"
#include "pg_harness.h"

#include "bs/codec.h"
#include "bs/error.h"
#include "bs/events.h"

#include <curl/curl.h>
#include <fcntl.h>
#include <jansson.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define SCAN_TIMEOUT_MS  60000
#define START_TIMEOUT_MS 30000
#define FRONTEND         "http://localhost:3000"
#define BS_PROP_PUBLIC   "0190f0a4-1b2c-7d3e-8f40-5a6b7c8d9e11"
#define BS_PROP_DRAFT    "0190f0a4-1b2c-7d3e-8f40-5a6b7c8d9e12"
#define RE_PROP_PUBLIC   "0190f0a4-1b2c-7d3e-8f40-5a6b7c8d9e13"
#define MISSING_UUID     "0190f0a4-1b2c-7d3e-8f40-5a6b7c8d9eff"

/* Rows of both products, as user-projector and faq-indexer would write. */
static const char seed_sql[] =
    "INSERT INTO users (product, id, email, first_name, role, deleted_at) "
    "VALUES ('bestays','user_bs_admin','a@bestays.test','Ann','admin',NULL),"
    "('bestays','user_bs_agent','g@bestays.test','Gus','agent',NULL),"
    "('bestays','user_bs_user','u@bestays.test','Uma','user',NULL),"
    "('bestays','user_bs_gone','d@bestays.test','Dee','user',now()),"
    "('realestate','user_re_admin','a@re.test','Rae','admin',NULL),"
    "('realestate','user_re_user','u@re.test','Roy','user',NULL);"
    "INSERT INTO faq_categories (product, id, slug, name) VALUES "
    "('bestays', 1, 'house-rules', 'House rules'),"
    "('realestate', 2, 'buying', 'Buying');"
    "INSERT INTO properties (product, id, owner_id, title, price, "
    "is_published) VALUES "
    "('bestays','" BS_PROP_PUBLIC "','user_bs_agent','Villa',100,true),"
    "('bestays','" BS_PROP_DRAFT "','user_bs_agent','Draft hut',50,false),"
    "('realestate','" RE_PROP_PUBLIC "','user_re_admin','House',9e5,true);";

struct instance {
    pid_t pid;
    unsigned port;
    const char *product;
    EVP_PKEY *key; /* its "Clerk instance" */
};

struct reply {
    long status;
    char *body;
    size_t body_len;
    char *headers; /* every header line, as received */
    size_t headers_len;
    json_t *json; /* the body parsed, NULL if not JSON */
};

/* FAQ documents, with ids unique to this run: a real Kafka keeps the
 * events of earlier runs, and they are found by document id. */
static const char faq_sql[] =
    "INSERT INTO faq_documents (product, id, category_id, title, content, "
    "status, version) VALUES "
    "('bestays','%s',1,'Pets?','Small ones.','published',3),"
    "('bestays','%s',NULL,'Checkout?','11:00.','draft',1),"
    "('realestate','%s',2,'Deposit?','10%%.','published',1);";

static char faq_versioned[40], faq_other[40], re_faq[40];

static struct instance bestays, realestate;
static struct bs_pg_env pg_env;
static char dbname[64];
static struct bs_codec *codec;

/* ---- tokens ------------------------------------------------------------- */

/* An RS256 session token for `sub`, signed by `key`. Caller frees. */
static char *mint(EVP_PKEY *key, const char *sub)
{
    return bs_test_session_token(key, sub, FRONTEND, 300);
}

/* ---- HTTP --------------------------------------------------------------- */

static void reply_clear(struct reply *reply)
{
    free(reply->body);
    free(reply->headers);
    json_decref(reply->json);
    memset(reply, 0, sizeof(*reply));
}

static size_t append(char **buf, size_t *len, const char *data, size_t n)
{
    char *bigger = realloc(*buf, *len + n + 1);

    if (!bigger)
        return 0;
    memcpy(bigger + *len, data, n);
    *buf = bigger;
    *len += n;
    (*buf)[*len] = '\0';
    return n;
}

static size_t on_body(char *data, size_t size, size_t count, void *ctx)
{
    struct reply *reply = ctx;

    return append(&reply->body, &reply->body_len, data, size * count);
}

static size_t on_header(char *data, size_t size, size_t count, void *ctx)
{
    struct reply *reply = ctx;

    return append(&reply->headers, &reply->headers_len, data, size * count);
}

/* The value of response header `name` ("" when absent), into buf. */
static const char *header_of(const struct reply *reply, const char *name,
                             char *buf, size_t size)
{
    size_t name_len = strlen(name);
    const char *line = reply->headers;

    buf[0] = '\0';
    while (line && *line) {
        const char *end = strstr(line, "\r\n");
        size_t len = end ? (size_t)(end - line) : strlen(line);

        if (len > name_len && strncasecmp(line, name, name_len) == 0 &&
            line[name_len] == ':') {
            const char *value = line + name_len + 1;

            while (*value == ' ')
                value++;
            snprintf(buf, size, "%.*s", (int)(line + len - value), value);
            return buf;
        }
        line = end ? end + 2 : NULL;
    }
    return buf;
}

/*
 * One request. `token` (may be NULL) goes as a Bearer header; `headers` is
 * NULL-terminated "Name: value" lines (or NULL); a NULL body sends none.
 * Every answer must carry X-Product of the instance and an X-Request-Id.
 */
static void call(const struct instance *instance, const char *method,
                 const char *path, const char *token,
                 const char *const *headers, const char *body,
                 struct reply *reply)
{
    CURL *curl = curl_easy_init();
    struct curl_slist *list = curl_slist_append(NULL, "Expect:");
    char url[1024], auth[9000], value[256];

    memset(reply, 0, sizeof(*reply));
    if (token) {
        snprintf(auth, sizeof(auth), "Authorization: Bearer %s", token);
        list = curl_slist_append(list, auth);
    }
    for (size_t i = 0; headers && headers[i]; i++)
        list = curl_slist_append(list, headers[i]);
    snprintf(url, sizeof(url), "http://127.0.0.1:%u%s", instance->port, path);
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, list);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, reply);
    curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(curl, CURLOPT_HEADERDATA, reply);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT, 60L);
    curl_easy_setopt(curl, CURLOPT_PATH_AS_IS, 1L);
    if (body) {
        curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE,
                         (curl_off_t)strlen(body));
    }
    curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
    if (strcmp(method, "HEAD") == 0)
        curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);
    CU_ASSERT_EQUAL(curl_easy_perform(curl), CURLE_OK);
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &reply->status);
    curl_slist_free_all(list);
    curl_easy_cleanup(curl);

    if (reply->body)
        reply->json = json_loadb(reply->body, reply->body_len, 0, NULL);
    BS_ASSERT_STR_EQ(header_of(reply, "X-Product", value, sizeof(value)),
                     instance->product);
    CU_ASSERT_NOT_EQUAL(
        header_of(reply, "X-Request-Id", value, sizeof(value))[0], '\0');
}

static void get(const struct instance *instance, const char *path,
                const char *token, struct reply *reply)
{
    call(instance, "GET", path, token, NULL, NULL, reply);
}

/* Checks status and, for errors, the JSON error code. */
static void expect(const struct reply *reply, long status, const char *code)
{
    const char *got = json_string_value(
        json_object_get(json_object_get(reply->json, "error"), "code"));

    BS_ASSERT_INT_EQ(reply->status, status);
    if (code) {
        BS_ASSERT_STR_EQ(got ? got : "", code);
        CU_ASSERT_PTR_NOT_NULL(
            json_object_get(json_object_get(reply->json, "error"), "message"));
    }
}

/* The "id" members of a page's items, comma-joined, into buf. */
static const char *item_ids(const struct reply *reply, char *buf, size_t size)
{
    json_t *items = json_object_get(reply->json, "items");
    size_t i;
    json_t *item;

    buf[0] = '\0';
    json_array_foreach(items, i, item)
    {
        const char *id = json_string_value(json_object_get(item, "id"));

        if (buf[0])
            strncat(buf, ",", size - strlen(buf) - 1);
        strncat(buf, id ? id : "?", size - strlen(buf) - 1);
    }
    return buf;
}

/* ---- processes ---------------------------------------------------------- */

/* Up when /healthz answers 200. */
static bool instance_up(struct instance *instance)
{
    char url[128];
    long status = 0;
    CURL *curl = curl_easy_init();

    snprintf(url, sizeof(url), "http://127.0.0.1:%u/healthz", instance->port);
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT, 5L);
    if (curl_easy_perform(curl) == CURLE_OK)
        curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(curl);
    return status == 200;
}

#define ENV_SLOTS 5
#define ENV_VARS  10

/* Starts a gateway for `product`; `broker` NULL means the fixture's,
 * `slot` picks the static environment (0 bestays, 1 realestate, 2-4
 * spare), `cache_ms` is its CALLER_CACHE_MS. */
static int instance_start_with(struct instance *instance, const char *product,
                               const char *broker, int slot,
                               const char *cache_ms)
{
    char binary[1024], log_path[1024], name[128], conninfo[512];
    static char env[ENV_SLOTS][ENV_VARS][8192];
    char *bootstrap = broker ? strdup(broker) : bs_broker_bootstrap();
    char *pem;

    bs_test_build_path("services/api-gateway/api-gateway", binary,
                       sizeof(binary));
    snprintf(name, sizeof(name), "api-gateway-%s-%d.log", product,
             (int)getpid());
    bs_test_state_path(name, log_path, sizeof(log_path));
    instance->product = product;
    instance->port = bs_svc_free_port();
    instance->key = EVP_RSA_gen(2048);
    pem = bs_test_public_pem(instance->key);
    bs_pg_conninfo(&pg_env, dbname, BS_PG_SERVICE_ROLE, conninfo,
                   sizeof(conninfo));

    snprintf(env[slot][0], 8192, "PRODUCT=%s", product);
    snprintf(env[slot][1], 8192, "HTTP_PORT=%u", instance->port);
    snprintf(env[slot][2], 8192, "DATABASE_URL=%s", conninfo);
    snprintf(env[slot][3], 8192, "KAFKA_BOOTSTRAP_SERVERS=%s",
             bootstrap ? bootstrap : "");
    snprintf(env[slot][4], 8192, "CLERK_JWT_KEY=%s", pem);
    snprintf(env[slot][5], 8192, "CLERK_AUTHORIZED_PARTIES=%s", FRONTEND);
    snprintf(env[slot][6], 8192, "CORS_ALLOWED_ORIGINS=%s", FRONTEND);
    snprintf(env[slot][7], 8192, "HTTP_MAX_BODY=65536");
    snprintf(env[slot][8], 8192, "PUBLISH_TIMEOUT_MS=%s",
             broker ? "1000" : "5000");
    snprintf(env[slot][9], 8192, "CALLER_CACHE_MS=%s", cache_ms);
    free(bootstrap);
    free(pem);

    instance->pid = fork();
    if (instance->pid < 0)
        return -1;
    if (instance->pid == 0) {
        int fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND, 0644);

        dup2(fd, 1);
        dup2(fd, 2);
        for (size_t i = 0; i < ENV_VARS; i++)
            putenv(env[slot][i]);
        execl(binary, binary, (char *)NULL);
        _exit(127);
    }
    for (int waited = 0; waited < START_TIMEOUT_MS; waited += 100) {
        struct timespec pause = {0, 100 * 1000000L};

        if (instance_up(instance))
            return 0;
        if (waitpid(instance->pid, NULL, WNOHANG) == instance->pid) {
            instance->pid = 0;
            return -1;
        }
        nanosleep(&pause, NULL);
    }
    return -1;
}

static int instance_start_on(struct instance *instance, const char *product,
                             const char *broker, int slot)
{
    return instance_start_with(instance, product, broker, slot, "1000");
}

static int instance_start(struct instance *instance, const char *product)
{
    return instance_start_on(instance, product, NULL,
                             strcmp(product, "bestays") == 0 ? 0 : 1);
}

static int instance_stop(struct instance *instance)
{
    int status = -1;

    EVP_PKEY_free(instance->key);
    instance->key = NULL;
    if (instance->pid <= 0)
        return -1;
    kill(instance->pid, SIGTERM);
    if (waitpid(instance->pid, &status, 0) != instance->pid)
        return -1;
    instance->pid = 0;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* ---- Kafka ----------------------------------------------------------------
 */

/* FAQ events keyed `key`, or audit events of `request_id`. */
struct wanted {
    const char *key;
    const char *request_id;
    char product_header[64];
    struct bs_faq_event faq;
    struct bs_audit_event audit;
    bool kept;
};

static void copy_product_header(const rd_kafka_message_t *message,
                                struct wanted *wanted)
{
    rd_kafka_headers_t *headers = NULL;
    const void *value = NULL;
    size_t len = 0;

    if (rd_kafka_message_headers(message, &headers) ==
            RD_KAFKA_RESP_ERR_NO_ERROR &&
        rd_kafka_header_get_last(headers, "product", &value, &len) ==
            RD_KAFKA_RESP_ERR_NO_ERROR)
        snprintf(wanted->product_header, sizeof(wanted->product_header), "%.*s",
                 (int)len, (const char *)value);
}

static bool faq_matches(const rd_kafka_message_t *message, void *ctx)
{
    struct wanted *wanted = ctx;
    struct bs_faq_event event;

    if (message->key_len != strlen(wanted->key) ||
        memcmp(message->key, wanted->key, message->key_len) != 0 ||
        bs_faq_event_decode(codec, message->payload, message->len, &event, NULL,
                            0) != BS_OK)
        return false;
    if (wanted->kept) {
        bs_faq_event_clear(&event);
    } else {
        wanted->faq = event;
        wanted->kept = true;
        copy_product_header(message, wanted);
    }
    return true;
}

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
        wanted->audit = event;
        wanted->kept = true;
        copy_product_header(message, wanted);
        return true;
    }
    bs_audit_event_clear(&event);
    return match;
}

static int scan(const char *product, const char *kind, bs_broker_match_fn fn,
                struct wanted *wanted)
{
    char topic[64], errstr[256];
    int matches = -1;

    snprintf(topic, sizeof(topic), "%s.%s", product, kind);
    BS_ASSERT_INT_EQ(bs_broker_scan_topic(product, topic, fn, wanted,
                                          SCAN_TIMEOUT_MS, &matches, errstr,
                                          sizeof(errstr)),
                     BS_OK);
    return matches;
}

static void wanted_clear(struct wanted *wanted)
{
    bs_faq_event_clear(&wanted->faq);
    bs_audit_event_clear(&wanted->audit);
    memset(wanted, 0, sizeof(*wanted));
}

/* A unique X-Request-Id header line and its value. */
struct request_id {
    char value[96];
    char line[128];
    const char *list[2];
};

static const char *const *request_id_new(struct request_id *id)
{
    bs_broker_unique_name("gwtest", id->value, sizeof(id->value));
    snprintf(id->line, sizeof(id->line), "X-Request-Id: %s", id->value);
    id->list[0] = id->line;
    id->list[1] = NULL;
    return id->list;
}

/* ---- identity and health ------------------------------------------------- */

static void test_health_names_the_product(void)
{
    struct reply reply;

    get(&bestays, "/api/health", NULL, &reply);
    expect(&reply, 200, NULL);
    BS_ASSERT_STR_EQ(json_string_value(json_object_get(reply.json, "product")),
                     "bestays");
    reply_clear(&reply);
    get(&realestate, "/api/health", NULL, &reply);
    BS_ASSERT_STR_EQ(json_string_value(json_object_get(reply.json, "product")),
                     "realestate");
    reply_clear(&reply);
    get(&bestays, "/readyz", NULL, &reply);
    expect(&reply, 200, NULL);
    reply_clear(&reply);
}

static void test_missing_token_is_401_with_www_authenticate(void)
{
    struct reply reply;
    char value[128];

    get(&bestays, "/api/v1/users/me", NULL, &reply);
    expect(&reply, 401, "unauthenticated");
    CU_ASSERT_EQUAL(
        strncmp(header_of(&reply, "WWW-Authenticate", value, sizeof(value)),
                "Bearer", 6),
        0);
    reply_clear(&reply);
    get(&bestays, "/api/v1/users/me", "not.a.token", &reply);
    expect(&reply, 401, "unauthenticated");
    reply_clear(&reply);
}

static void test_bestays_token_on_realestate_is_401(void)
{
    char *token = mint(bestays.key, "user_re_admin");
    struct reply reply;

    get(&realestate, "/api/v1/users/me", token, &reply);
    expect(&reply, 401, "unauthenticated");
    reply_clear(&reply);
    free(token);
}

static void test_user_of_other_product_is_403(void)
{
    char *token = mint(bestays.key, "user_re_admin");
    char *gone = mint(bestays.key, "user_bs_gone");
    struct reply reply;

    get(&bestays, "/api/v1/users/me", token, &reply);
    expect(&reply, 403, "forbidden");
    reply_clear(&reply);
    get(&bestays, "/api/v1/users/me", gone, &reply);
    expect(&reply, 403, "forbidden");
    reply_clear(&reply);
    free(token);
    free(gone);
}

/* ---- concurrent callers ----------------------------------------------------
 *
 * The gateway batches the caller lookups of concurrent requests into one
 * product transaction. Callers of every kind (three roles, a user of the
 * other product signed with this product's key, a deleted user) hammer
 * /users/me at once; every answer must be the caller's own row or 403,
 * never someone else's. The threads only count (CUnit asserts are not
 * thread-safe); the main thread asserts.
 */

#define CROWD_THREADS  10
#define CROWD_REQUESTS 40

struct crowd_member {
    const char *sub;
    bool member; /* expected 200 with its own id; else 403 */
    char *token;
    int right; /* answers as expected */
    int wrong; /* anything else */
};

static size_t crowd_body(char *data, size_t size, size_t count, void *ctx)
{
    char **body = ctx;
    size_t len = *body ? strlen(*body) : 0;

    return append(body, &len, data, size * count) ? size * count : 0;
}

/* One keep-alive connection, CROWD_REQUESTS x GET /api/v1/users/me. */
static void *crowd_worker(void *arg)
{
    struct crowd_member *m = arg;
    CURL *curl = curl_easy_init();
    struct curl_slist *list = NULL;
    char auth[9000], url[256];

    snprintf(auth, sizeof(auth), "Authorization: Bearer %s", m->token);
    list = curl_slist_append(list, auth);
    snprintf(url, sizeof(url), "http://127.0.0.1:%u/api/v1/users/me",
             bestays.port);
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, list);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, crowd_body);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT, 60L);
    for (int i = 0; i < CROWD_REQUESTS; i++) {
        char *body = NULL;
        long status = 0;
        json_t *json;
        const char *id;

        curl_easy_setopt(curl, CURLOPT_WRITEDATA, &body);
        if (curl_easy_perform(curl) == CURLE_OK)
            curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
        json = body ? json_loads(body, 0, NULL) : NULL;
        id = json_string_value(json_object_get(json, "id"));
        if (m->member ? status == 200 && id && strcmp(id, m->sub) == 0
                      : status == 403 && !id)
            m->right++;
        else
            m->wrong++;
        json_decref(json);
        free(body);
    }
    curl_slist_free_all(list);
    curl_easy_cleanup(curl);
    return NULL;
}

static void test_concurrent_callers_never_mix(void)
{
    static const struct {
        const char *sub;
        bool member;
    } kinds[] = {{"user_bs_admin", true},
                 {"user_bs_agent", true},
                 {"user_bs_user", true},
                 {"user_re_user", false},
                 {"user_bs_gone", false}};
    struct crowd_member crowd[CROWD_THREADS] = {0};
    pthread_t threads[CROWD_THREADS];
    size_t kind_count = sizeof(kinds) / sizeof(kinds[0]);

    for (size_t i = 0; i < CROWD_THREADS; i++) {
        crowd[i].sub = kinds[i % kind_count].sub;
        crowd[i].member = kinds[i % kind_count].member;
        crowd[i].token = mint(bestays.key, crowd[i].sub);
        CU_ASSERT_PTR_NOT_NULL_FATAL(crowd[i].token);
    }
    for (size_t i = 0; i < CROWD_THREADS; i++)
        CU_ASSERT_EQUAL(
            pthread_create(&threads[i], NULL, crowd_worker, &crowd[i]), 0);
    for (size_t i = 0; i < CROWD_THREADS; i++) {
        pthread_join(threads[i], NULL);
        BS_ASSERT_INT_EQ(crowd[i].wrong, 0);
        BS_ASSERT_INT_EQ(crowd[i].right, CROWD_REQUESTS);
        free(crowd[i].token);
    }
}

static void test_session_cookie_is_accepted(void)
{
    char *token = mint(bestays.key, "user_bs_user");
    char cookie[9000];
    const char *headers[] = {cookie, NULL};
    struct reply reply;

    snprintf(cookie, sizeof(cookie), "Cookie: theme=dark; __session=%s", token);
    call(&bestays, "GET", "/api/v1/users/me", NULL, headers, NULL, &reply);
    expect(&reply, 200, NULL);
    BS_ASSERT_STR_EQ(json_string_value(json_object_get(reply.json, "id")),
                     "user_bs_user");
    BS_ASSERT_STR_EQ(json_string_value(json_object_get(reply.json, "role")),
                     "user");
    reply_clear(&reply);
    free(token);
}

/* Writes the private half of `key` as PEM to the state directory. */
static void write_private_pem(EVP_PKEY *key, char *path, size_t size)
{
    char name[64];
    FILE *file;

    snprintf(name, sizeof(name), "gateway-dev-key-%d.pem", (int)getpid());
    bs_test_state_path(name, path, size);
    file = fopen(path, "w");
    CU_ASSERT_PTR_NOT_NULL_FATAL(file);
    CU_ASSERT_EQUAL(PEM_write_PrivateKey(file, key, NULL, NULL, 0, NULL, NULL),
                    1);
    fclose(file);
}

/* `bsctl token sign ...`: its exit status, its stdout in *token. */
static int bsctl_token(const char *const args[], char **token)
{
    char bsctl[1024];
    const char *argv[12] = {bsctl, "token", "sign"};
    const char *const env[] = {"LOG_LEVEL=error", NULL};
    char *err = NULL;
    int status, n = 3;

    bs_test_build_path("tools/bsctl/bsctl", bsctl, sizeof(bsctl));
    for (int i = 0; args[i] && n < 11; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    status = bs_test_run_split(argv, env, token, &err);
    free(err);
    return status;
}

/* The development token of `bsctl token sign` (what scripts/run.sh tells a
 * new user to use) passes the gateway's checks for its product only. */
static void test_bsctl_token_is_accepted_by_its_product_only(void)
{
    char key_path[1024], *token = NULL, *out = NULL;
    struct reply reply;

    write_private_pem(bestays.key, key_path, sizeof(key_path));
    BS_ASSERT_INT_EQ(
        bsctl_token((const char *[]){"--key", key_path, "--sub", "user_bs_user",
                                     "--azp", FRONTEND, NULL},
                    &token),
        0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(token);
    token[strcspn(token, "\n")] = '\0';

    get(&bestays, "/api/v1/users/me", token, &reply);
    expect(&reply, 200, NULL);
    BS_ASSERT_STR_EQ(json_string_value(json_object_get(reply.json, "id")),
                     "user_bs_user");
    reply_clear(&reply);
    get(&realestate, "/api/v1/users/me", token, &reply);
    expect(&reply, 401, "unauthenticated");
    reply_clear(&reply);

    /* No subject, or a key that is not an RSA private key: refused. */
    BS_ASSERT_INT_EQ(
        bsctl_token((const char *[]){"--key", key_path, NULL}, &out), 64);
    free(out);
    out = NULL;
    BS_ASSERT_INT_EQ(bsctl_token((const char *[]){"--key", "/dev/null", "--sub",
                                                  "user_x", NULL},
                                 &out),
                     1);
    CU_ASSERT_TRUE(out == NULL || *out == '\0');
    free(out);
    free(token);
    unlink(key_path);
}

/* ---- users ----------------------------------------------------------------
 */

static void test_each_admin_lists_only_its_users(void)
{
    struct request_id rid;
    struct wanted wanted = {0};
    char *bs = mint(bestays.key, "user_bs_admin");
    char *re = mint(realestate.key, "user_re_admin");
    struct reply reply;
    char ids[1024];

    get(&bestays, "/api/v1/users", bs, &reply);
    expect(&reply, 200, NULL);
    BS_ASSERT_STR_EQ(item_ids(&reply, ids, sizeof(ids)),
                     "user_bs_admin,user_bs_agent,user_bs_user");
    CU_ASSERT_TRUE(json_is_null(json_object_get(reply.json, "next_cursor")));
    reply_clear(&reply);

    get(&realestate, "/api/v1/users", re, &reply);
    expect(&reply, 200, NULL);
    BS_ASSERT_STR_EQ(item_ids(&reply, ids, sizeof(ids)),
                     "user_re_admin,user_re_user");
    reply_clear(&reply);

    call(&bestays, "GET", "/api/v1/users?role=agent", bs, request_id_new(&rid),
         NULL, &reply);
    BS_ASSERT_STR_EQ(item_ids(&reply, ids, sizeof(ids)), "user_bs_agent");
    reply_clear(&reply);
    wanted.request_id = rid.value;
    BS_ASSERT_INT_EQ(scan("bestays", "audit", audit_matches, &wanted), 1);
    if (wanted.kept) {
        BS_ASSERT_STR_EQ(wanted.audit.action, "user.list");
        BS_ASSERT_STR_EQ(wanted.audit.changes,
                         "{\"filters\":{\"role\":true,\"q\":false},"
                         "\"count\":1}");
    }
    wanted_clear(&wanted);
    get(&bestays, "/api/v1/users?q=UMA", bs, &reply);
    BS_ASSERT_STR_EQ(item_ids(&reply, ids, sizeof(ids)), "user_bs_user");
    reply_clear(&reply);
    free(bs);
    free(re);
}

static void test_user_list_pages_with_cursors(void)
{
    char *bs = mint(bestays.key, "user_bs_admin");
    char path[512], all[1024] = "", ids[256];
    struct reply reply;
    int pages = 0;

    snprintf(path, sizeof(path), "/api/v1/users?limit=1");
    for (;;) {
        const char *next;

        get(&bestays, path, bs, &reply);
        expect(&reply, 200, NULL);
        strcat(all, item_ids(&reply, ids, sizeof(ids)));
        strcat(all, ";");
        next = json_string_value(json_object_get(reply.json, "next_cursor"));
        pages++;
        if (!next || pages > 5) {
            reply_clear(&reply);
            break;
        }
        snprintf(path, sizeof(path), "/api/v1/users?limit=1&cursor=%s", next);
        reply_clear(&reply);
    }
    BS_ASSERT_STR_EQ(all, "user_bs_admin;user_bs_agent;user_bs_user;");
    free(bs);
}

static void test_other_products_user_is_404(void)
{
    char *re = mint(realestate.key, "user_re_admin");
    char *bs = mint(bestays.key, "user_bs_admin");
    struct reply reply;

    get(&realestate, "/api/v1/users/user_bs_user", re, &reply);
    expect(&reply, 404, "not_found");
    reply_clear(&reply);
    get(&bestays, "/api/v1/users/user_bs_gone", bs, &reply);
    expect(&reply, 404, "not_found");
    reply_clear(&reply);
    free(re);
    free(bs);
}

static void test_non_admin_reads_only_self(void)
{
    char *user = mint(bestays.key, "user_bs_user");
    struct reply reply;

    get(&bestays, "/api/v1/users/user_bs_user", user, &reply);
    expect(&reply, 200, NULL);
    reply_clear(&reply);
    get(&bestays, "/api/v1/users/user_bs_admin", user, &reply);
    expect(&reply, 403, "forbidden");
    reply_clear(&reply);
    get(&bestays, "/api/v1/users", user, &reply);
    expect(&reply, 403, "forbidden");
    reply_clear(&reply);
    free(user);
}

static void test_admin_reading_another_user_is_audited(void)
{
    char *admin = mint(bestays.key, "user_bs_admin");
    struct request_id id;
    struct wanted wanted = {0};
    struct reply reply;

    call(&bestays, "GET", "/api/v1/users/user_bs_user", admin,
         request_id_new(&id), NULL, &reply);
    expect(&reply, 200, NULL);
    BS_ASSERT_STR_EQ(json_string_value(json_object_get(reply.json, "email")),
                     "u@bestays.test");
    reply_clear(&reply);

    wanted.request_id = id.value;
    BS_ASSERT_INT_EQ(scan("bestays", "audit", audit_matches, &wanted), 1);
    if (wanted.kept) {
        BS_ASSERT_STR_EQ(wanted.audit.action, "user.read");
        BS_ASSERT_STR_EQ(wanted.audit.entity_type, "user");
        BS_ASSERT_STR_EQ(wanted.audit.entity_id, "user_bs_user");
        BS_ASSERT_STR_EQ(wanted.audit.actor_id, "user_bs_admin");
        BS_ASSERT_STR_EQ(wanted.audit.meta.product, "bestays");
        BS_ASSERT_STR_EQ(wanted.product_header, "bestays");
    }
    wanted_clear(&wanted);
    free(admin);
}

/* ---- FAQs -----------------------------------------------------------------
 */

/* "/api/v1/admin/faqs/<id>" in a rotating static buffer. */
static const char *faq_path(const char *id)
{
    static char paths[4][128];
    static int next;
    char *path = paths[next++ % 4];

    snprintf(path, sizeof(paths[0]), "/api/v1/admin/faqs/%s", id);
    return path;
}

static void test_each_admin_lists_only_its_faqs(void)
{
    char *bs = mint(bestays.key, "user_bs_admin");
    char *re = mint(realestate.key, "user_re_admin");
    struct reply reply;
    char ids[1024], faq_pair[128];

    snprintf(faq_pair, sizeof(faq_pair), "%s,%s", faq_versioned, faq_other);
    get(&bestays, "/api/v1/admin/faqs", bs, &reply);
    expect(&reply, 200, NULL);
    BS_ASSERT_STR_EQ(item_ids(&reply, ids, sizeof(ids)), faq_pair);
    reply_clear(&reply);
    get(&bestays, "/api/v1/admin/faqs?status=published&category=house-rules",
        bs, &reply);
    BS_ASSERT_STR_EQ(item_ids(&reply, ids, sizeof(ids)), faq_versioned);
    reply_clear(&reply);
    get(&realestate, "/api/v1/admin/faqs", re, &reply);
    BS_ASSERT_STR_EQ(item_ids(&reply, ids, sizeof(ids)), re_faq);
    reply_clear(&reply);

    get(&bestays, faq_path(faq_versioned), bs, &reply);
    expect(&reply, 200, NULL);
    BS_ASSERT_STR_EQ(json_string_value(json_object_get(reply.json, "category")),
                     "house-rules");
    BS_ASSERT_INT_EQ(json_integer_value(json_object_get(reply.json, "version")),
                     3);
    reply_clear(&reply);
    get(&realestate, faq_path(faq_versioned), re, &reply);
    expect(&reply, 404, "not_found");
    reply_clear(&reply);
    free(bs);
    free(re);
}

static void test_admin_faq_create_publishes_one_event_and_audit(void)
{
    char *admin = mint(bestays.key, "user_bs_admin");
    const char *body = "{\"title\":\"Pool hours?\",\"content\":\"8 to 20.\","
                       "\"status\":\"published\",\"category\":\"house-rules\"}";
    struct request_id rid;
    struct wanted wanted = {0};
    struct reply reply;
    char location[256], expected[256];
    const char *id;

    call(&bestays, "POST", "/api/v1/admin/faqs", admin, request_id_new(&rid),
         body, &reply);
    expect(&reply, 202, NULL);
    id = json_string_value(json_object_get(reply.json, "id"));
    CU_ASSERT_PTR_NOT_NULL_FATAL(id);
    BS_ASSERT_INT_EQ(json_integer_value(json_object_get(reply.json, "version")),
                     1);
    snprintf(expected, sizeof(expected), "/api/v1/admin/faqs/%s", id);
    BS_ASSERT_STR_EQ(header_of(&reply, "Location", location, sizeof(location)),
                     expected);

    /* Exactly one FaqDocumentEvent, keyed by the id, of bestays. */
    wanted.key = id;
    BS_ASSERT_INT_EQ(scan("bestays", "faq", faq_matches, &wanted), 1);
    if (wanted.kept) {
        BS_ASSERT_STR_EQ(wanted.faq.meta.product, "bestays");
        BS_ASSERT_STR_EQ(wanted.product_header, "bestays");
        BS_ASSERT_STR_EQ(wanted.faq.title, "Pool hours?");
        BS_ASSERT_STR_EQ(wanted.faq.status, "published");
        BS_ASSERT_STR_EQ(wanted.faq.category, "house-rules");
        BS_ASSERT_STR_EQ(wanted.faq.actor_id, "user_bs_admin");
        BS_ASSERT_INT_EQ(wanted.faq.version, 1);
        CU_ASSERT_EQUAL(wanted.faq.action, BS_FAQ_UPSERT);
    }
    wanted_clear(&wanted);

    /* Its audit entry names the fields, not the text. */
    wanted.request_id = rid.value;
    BS_ASSERT_INT_EQ(scan("bestays", "audit", audit_matches, &wanted), 1);
    if (wanted.kept) {
        BS_ASSERT_STR_EQ(wanted.audit.action, "faq.create");
        BS_ASSERT_STR_EQ(wanted.audit.entity_id, id);
        CU_ASSERT_PTR_NOT_NULL(wanted.audit.changes);
        CU_ASSERT_PTR_NULL(strstr(
            wanted.audit.changes ? wanted.audit.changes : "", "Pool hours"));
    }
    wanted_clear(&wanted);
    reply_clear(&reply);
    free(admin);
}

static void test_non_admin_write_is_403_and_publishes_nothing(void)
{
    char *agent = mint(bestays.key, "user_bs_agent");
    struct request_id rid;
    struct wanted wanted = {0};
    struct reply reply;

    call(&bestays, "POST", "/api/v1/admin/faqs", agent, request_id_new(&rid),
         "{\"title\":\"x\",\"content\":\"y\"}", &reply);
    expect(&reply, 403, "forbidden");
    reply_clear(&reply);
    call(&bestays, "DELETE", faq_path(faq_versioned), agent, NULL, NULL,
         &reply);
    expect(&reply, 403, "forbidden");
    reply_clear(&reply);

    wanted.request_id = rid.value;
    BS_ASSERT_INT_EQ(scan("bestays", "audit", audit_matches, &wanted), 0);
    wanted_clear(&wanted);
    wanted.key = faq_versioned;
    BS_ASSERT_INT_EQ(scan("bestays", "faq", faq_matches, &wanted), 0);
    wanted_clear(&wanted);
    free(agent);
}

static void test_if_match_stale_is_412_current_is_next_version(void)
{
    char *admin = mint(bestays.key, "user_bs_admin");
    const char *stale[] = {"If-Match: \"2\"", NULL};
    const char *current[] = {"If-Match: \"3\"", NULL};
    struct wanted wanted = {0};
    struct reply reply;

    call(&bestays, "PATCH", faq_path(faq_versioned), admin, stale,
         "{\"status\":\"archived\"}", &reply);
    expect(&reply, 412, "version_mismatch");
    reply_clear(&reply);
    call(&bestays, "PATCH", faq_path(faq_versioned), admin, current,
         "{\"status\":\"archived\"}", &reply);
    expect(&reply, 202, NULL);
    BS_ASSERT_INT_EQ(json_integer_value(json_object_get(reply.json, "version")),
                     4);
    reply_clear(&reply);

    /* The event carries the whole document, merged. */
    wanted.key = faq_versioned;
    BS_ASSERT_INT_EQ(scan("bestays", "faq", faq_matches, &wanted), 1);
    if (wanted.kept) {
        BS_ASSERT_STR_EQ(wanted.faq.status, "archived");
        BS_ASSERT_STR_EQ(wanted.faq.title, "Pets?");
        BS_ASSERT_STR_EQ(wanted.faq.category, "house-rules");
        BS_ASSERT_INT_EQ(wanted.faq.version, 4);
    }
    wanted_clear(&wanted);
    free(admin);
}

static void test_faq_delete_publishes_delete(void)
{
    char *admin = mint(bestays.key, "user_bs_admin");
    struct wanted wanted = {0};
    struct reply reply;

    call(&bestays, "DELETE", faq_path(faq_other), admin, NULL, NULL, &reply);
    expect(&reply, 202, NULL);
    BS_ASSERT_INT_EQ(json_integer_value(json_object_get(reply.json, "version")),
                     2);
    reply_clear(&reply);
    wanted.key = faq_other;
    BS_ASSERT_INT_EQ(scan("bestays", "faq", faq_matches, &wanted), 1);
    if (wanted.kept)
        CU_ASSERT_EQUAL(wanted.faq.action, BS_FAQ_DELETE);
    wanted_clear(&wanted);
    free(admin);
}

/* ---- bad input ------------------------------------------------------------
 */

static void post_faq(const char *token, const char *body, long status,
                     const char *code)
{
    struct reply reply;

    call(&bestays, "POST", "/api/v1/admin/faqs", token, NULL, body, &reply);
    expect(&reply, status, code);
    reply_clear(&reply);
}

static void test_bad_faq_bodies_are_named_4xx(void)
{
    char *admin = mint(bestays.key, "user_bs_admin");
    char body[512], title[256];

    post_faq(admin, "{\"title\":\"t\",\"content\":\"c\",\"product\":\"x\"}",
             400, "invalid_body");
    memset(title, 'a', 201);
    title[201] = '\0';
    snprintf(body, sizeof(body), "{\"title\":\"%s\",\"content\":\"c\"}", title);
    post_faq(admin, body, 400, "invalid_body");
    post_faq(admin, "{\"title\":\"t\",\"content\":\"c\",\"status\":\"live\"}",
             400, "invalid_body");
    post_faq(admin, "{\"title\":\"t\",\"content\":5}", 400, "invalid_body");
    post_faq(admin, "not json at all", 400, "invalid_body");
    post_faq(admin, "", 400, "invalid_body");
    post_faq(admin,
             "{\"title\":\"t\",\"content\":\"c\",\"category\":\"buying\"}", 422,
             "unknown_category");
    free(admin);
}

static void test_bad_query_and_ids_are_400(void)
{
    char *admin = mint(bestays.key, "user_bs_admin");
    static const char *const cases[][2] = {
        {"/api/v1/users?limit=0", "invalid_limit"},
        {"/api/v1/users?limit=1000", "invalid_limit"},
        {"/api/v1/users?limit=abc", "invalid_limit"},
        {"/api/v1/users?cursor=%21%21%21", "invalid_cursor"},
        {"/api/v1/users?cursor=dXNlcl8x", "invalid_cursor"},
        {"/api/v1/users?role=root", "invalid_role"},
        {"/api/v1/admin/faqs?cursor=djE6dXNlcl8x", "invalid_cursor"},
        {"/api/v1/admin/faqs?status=live", "invalid_status"},
        {"/api/v1/admin/faqs/not-a-uuid", "invalid_id"},
        {"/api/v1/properties/42", "invalid_id"},
        {"/api/v1/properties?published=maybe", "invalid_published"},
        /* Invalid UTF-8 (a lone 0xFF, a bad continuation, an overlong '/')
         * is refused before it can reach PostgreSQL: 400, never 500. */
        {"/api/v1/users?q=%FF", "invalid_query"},
        {"/api/v1/users?q=ab%C3%28", "invalid_query"},
        {"/api/v1/users?q=%C0%AF", "invalid_query"},
        {"/api/v1/users?role=%FF", "invalid_role"},
        {"/api/v1/admin/faqs?category=%FF", "invalid_category"},
        {"/api/v1/admin/faqs?category=%C3%28", "invalid_category"},
        {"/api/v1/admin/faqs?category=%C0%AF", "invalid_category"},
        {"/api/v1/admin/faqs?status=%C0%AF", "invalid_status"},
        {"/api/v1/properties?published=%FF", "invalid_published"},
        {"/api/v1/faqs/search?q=%FF", "invalid_query"},
        {"/api/v1/faqs/search?q=%C3%28", "invalid_query"},
        {"/api/v1/faqs/search?q=%C0%AF", "invalid_query"},
        {"/api/v1/faqs/search?q=ok&category=%C0%AF", "invalid_category"},
        {"/api/v1/admin/audit?actor=%FF", "invalid_filter"},
        {"/api/v1/admin/audit?entity_type=%C3%28", "invalid_filter"},
        {"/api/v1/admin/audit?entity_id=%C0%AF", "invalid_filter"},
        {"/api/v1/admin/audit?from=%FF", "invalid_time"},
        {"/api/v1/users/%FF", "invalid_id"},
        {"/api/v1/admin/faqs/%C0%AF", "invalid_id"},
    };
    struct reply reply;

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        get(&bestays, cases[i][0], admin, &reply);
        expect(&reply, 400, cases[i][1]);
        reply_clear(&reply);
    }
    get(&bestays, "/api/v1/admin/faqs/" MISSING_UUID, admin, &reply);
    expect(&reply, 404, "not_found");
    reply_clear(&reply);
    call(&bestays, "PATCH", "/api/v1/admin/faqs/" MISSING_UUID, admin, NULL,
         "{\"title\":\"x\"}", &reply);
    expect(&reply, 404, "not_found");
    reply_clear(&reply);
    free(admin);
}

static void test_hostile_paths_and_bodies_are_4xx(void)
{
    char *admin = mint(bestays.key, "user_bs_admin");
    char *big = malloc(70001);
    struct reply reply;

    get(&bestays, "/api/v1/admin/faqs/..%2F..%2Fetc%2Fpasswd", admin, &reply);
    CU_ASSERT_TRUE(reply.status == 400 || reply.status == 404);
    reply_clear(&reply);
    get(&bestays, "/api/v1/../../etc/passwd", admin, &reply);
    CU_ASSERT_TRUE(reply.status == 400 || reply.status == 404);
    reply_clear(&reply);
    get(&bestays, "/api/v1/nothing/here", admin, &reply);
    expect(&reply, 404, "not_found");
    reply_clear(&reply);
    get(&bestays, "/api/v1/users/a%00b", admin, &reply);
    CU_ASSERT_TRUE(reply.status >= 400 && reply.status < 500);
    reply_clear(&reply);

    memset(big, 'a', 70000);
    big[70000] = '\0';
    call(&bestays, "POST", "/api/v1/admin/faqs", admin, NULL, big, &reply);
    expect(&reply, 413, "body_too_large");
    reply_clear(&reply);
    free(big);
    free(admin);
}

/* ---- properties ------------------------------------------------------------
 */

static void test_properties_published_for_all_drafts_for_agents(void)
{
    char *user = mint(bestays.key, "user_bs_user");
    char *agent = mint(bestays.key, "user_bs_agent");
    char *re = mint(realestate.key, "user_re_user");
    struct reply reply;
    char ids[1024];

    get(&bestays, "/api/v1/properties", user, &reply);
    expect(&reply, 200, NULL);
    BS_ASSERT_STR_EQ(item_ids(&reply, ids, sizeof(ids)), BS_PROP_PUBLIC);
    reply_clear(&reply);
    get(&bestays, "/api/v1/properties", agent, &reply);
    BS_ASSERT_STR_EQ(item_ids(&reply, ids, sizeof(ids)),
                     BS_PROP_PUBLIC "," BS_PROP_DRAFT);
    reply_clear(&reply);
    get(&bestays, "/api/v1/properties?published=false", agent, &reply);
    BS_ASSERT_STR_EQ(item_ids(&reply, ids, sizeof(ids)), BS_PROP_DRAFT);
    reply_clear(&reply);
    get(&realestate, "/api/v1/properties", re, &reply);
    BS_ASSERT_STR_EQ(item_ids(&reply, ids, sizeof(ids)), RE_PROP_PUBLIC);
    reply_clear(&reply);

    get(&bestays, "/api/v1/properties/" BS_PROP_DRAFT, user, &reply);
    expect(&reply, 404, "not_found");
    reply_clear(&reply);
    get(&bestays, "/api/v1/properties/" BS_PROP_DRAFT, agent, &reply);
    expect(&reply, 200, NULL);
    reply_clear(&reply);
    get(&bestays, "/api/v1/properties?published=false", user, &reply);
    expect(&reply, 403, "forbidden");
    reply_clear(&reply);
    get(&realestate, "/api/v1/properties/" BS_PROP_PUBLIC, re, &reply);
    expect(&reply, 404, "not_found");
    reply_clear(&reply);
    free(user);
    free(agent);
    free(re);
}

/* ---- CORS -----------------------------------------------------------------
 */

static void test_cors_only_for_allowed_origins(void)
{
    const char *preflight[] = {"Origin: " FRONTEND,
                               "Access-Control-Request-Method: PATCH", NULL};
    const char *stranger[] = {"Origin: http://evil.test",
                              "Access-Control-Request-Method: PATCH", NULL};
    const char *origin[] = {"Origin: " FRONTEND, NULL};
    char value[256];
    struct reply reply;

    call(&bestays, "OPTIONS", faq_path(faq_versioned), NULL, preflight, NULL,
         &reply);
    expect(&reply, 204, NULL);
    BS_ASSERT_STR_EQ(
        header_of(&reply, "Access-Control-Allow-Origin", value, sizeof(value)),
        FRONTEND);
    CU_ASSERT_PTR_NOT_NULL(strstr(
        header_of(&reply, "Access-Control-Allow-Methods", value, sizeof(value)),
        "PATCH"));
    CU_ASSERT_NOT_EQUAL(
        header_of(&reply, "Access-Control-Max-Age", value, sizeof(value))[0],
        '\0');
    reply_clear(&reply);

    call(&bestays, "OPTIONS", "/api/v1/users", NULL, stranger, NULL, &reply);
    BS_ASSERT_STR_EQ(
        header_of(&reply, "Access-Control-Allow-Origin", value, sizeof(value)),
        "");
    reply_clear(&reply);

    call(&bestays, "GET", "/api/health", NULL, origin, NULL, &reply);
    BS_ASSERT_STR_EQ(
        header_of(&reply, "Access-Control-Allow-Origin", value, sizeof(value)),
        FRONTEND);
    BS_ASSERT_STR_EQ(header_of(&reply, "Vary", value, sizeof(value)), "Origin");
    reply_clear(&reply);
}

/* ---- without a broker ------------------------------------------------------
 */

static void test_unacknowledged_write_is_503_and_not_ready(void)
{
    struct instance lost = {0};
    char *admin, value[32];
    struct reply reply;

    CU_ASSERT_EQUAL_FATAL(instance_start_on(&lost, "bestays", "127.0.0.1:1", 2),
                          0);
    admin = mint(lost.key, "user_bs_admin");
    call(&lost, "POST", "/api/v1/admin/faqs", admin, NULL,
         "{\"title\":\"t\",\"content\":\"c\"}", &reply);
    expect(&reply, 503, "unavailable");
    BS_ASSERT_STR_EQ(header_of(&reply, "Retry-After", value, sizeof(value)),
                     "5");
    reply_clear(&reply);

    /* Reads that need an audit entry are refused too; plain reads work. */
    get(&lost, "/api/v1/users/user_bs_user", admin, &reply);
    expect(&reply, 503, "unavailable");
    reply_clear(&reply);
    get(&lost, "/api/v1/users/me", admin, &reply);
    expect(&reply, 200, NULL);
    reply_clear(&reply);
    get(&lost, "/readyz", NULL, &reply);
    BS_ASSERT_INT_EQ(reply.status, 503);
    reply_clear(&reply);
    BS_ASSERT_INT_EQ(instance_stop(&lost), 0);
    free(admin);
}

/* ---- the caller cache ------------------------------------------------------
 *
 * Reads reuse a caller's row for CALLER_CACHE_MS. Users are changed as the
 * superuser while gateways run; a change must reach reads once the TTL has
 * passed (polled with a generous bound: the outcome is asserted, never a
 * duration), at once with CALLER_CACHE_MS=0, and at once for writes. The
 * rows these tests add are removed again, so the list tests keep their
 * exact expectations whatever the order.
 */

#define CACHE_POLL_MS 20000

static void superuser_exec(const char *sql)
{
    PGconn *conn = bs_pg_connect(&pg_env, dbname, NULL);

    CU_ASSERT_PTR_NOT_NULL_FATAL(conn);
    BS_ASSERT_INT_EQ(bs_pg_exec(conn, sql, NULL), 0);
    PQfinish(conn);
}

/* GET /api/v1/users/me: the status, and the role into `role` ("" when
 * none). */
static long me(const struct instance *instance, const char *token, char *role,
               size_t role_size)
{
    struct reply reply;
    const char *got;
    long status;

    get(instance, "/api/v1/users/me", token, &reply);
    got = json_string_value(json_object_get(reply.json, "role"));
    snprintf(role, role_size, "%s", got ? got : "");
    status = reply.status;
    reply_clear(&reply);
    return status;
}

/* Repeats /users/me until it answers `status` with `role` (NULL: any) or
 * the give-up bound passes; true when it did. */
static bool me_becomes(const struct instance *instance, const char *token,
                       long status, const char *role)
{
    char got[32];

    for (int waited = 0; waited < CACHE_POLL_MS; waited += 50) {
        struct timespec pause = {0, 50 * 1000000L};

        if (me(instance, token, got, sizeof(got)) == status &&
            (!role || strcmp(got, role) == 0))
            return true;
        nanosleep(&pause, NULL);
    }
    return false;
}

static void test_cached_role_change_and_deletion_reach_reads_after_ttl(void)
{
    struct instance short_ttl = {0};
    char *token, role[32];

    superuser_exec("INSERT INTO users (product, id, email, role) VALUES "
                   "('bestays','user_bs_ttl','t@bestays.test','user')");
    CU_ASSERT_EQUAL_FATAL(
        instance_start_with(&short_ttl, "bestays", NULL, 3, "300"), 0);
    token = mint(short_ttl.key, "user_bs_ttl");

    /* Cached as a user; own id served from the cached row too. */
    BS_ASSERT_INT_EQ(me(&short_ttl, token, role, sizeof(role)), 200);
    BS_ASSERT_STR_EQ(role, "user");
    superuser_exec("UPDATE users SET role = 'agent' "
                   "WHERE product = 'bestays' AND id = 'user_bs_ttl'");
    CU_ASSERT_TRUE(me_becomes(&short_ttl, token, 200, "agent"));

    /* Deleted: 403 once the TTL has passed, and the id is then 404 to
     * an admin. */
    superuser_exec("UPDATE users SET deleted_at = now() "
                   "WHERE product = 'bestays' AND id = 'user_bs_ttl'");
    CU_ASSERT_TRUE(me_becomes(&short_ttl, token, 403, NULL));
    {
        char *admin = mint(short_ttl.key, "user_bs_admin");
        struct reply reply;

        get(&short_ttl, "/api/v1/users/user_bs_ttl", admin, &reply);
        expect(&reply, 404, "not_found");
        reply_clear(&reply);
        free(admin);
    }

    /* The 403 is not cached: restored, the user is let in again. */
    superuser_exec("UPDATE users SET deleted_at = NULL "
                   "WHERE product = 'bestays' AND id = 'user_bs_ttl'");
    CU_ASSERT_TRUE(me_becomes(&short_ttl, token, 200, "agent"));

    BS_ASSERT_INT_EQ(instance_stop(&short_ttl), 0);
    superuser_exec("DELETE FROM users WHERE id = 'user_bs_ttl'");
    free(token);
}

static void test_without_cache_changes_are_immediate(void)
{
    struct instance no_cache = {0};
    char *token, role[32];

    superuser_exec("INSERT INTO users (product, id, email, role) VALUES "
                   "('bestays','user_bs_nocache','n@bestays.test','user')");
    CU_ASSERT_EQUAL_FATAL(
        instance_start_with(&no_cache, "bestays", NULL, 4, "0"), 0);
    token = mint(no_cache.key, "user_bs_nocache");

    BS_ASSERT_INT_EQ(me(&no_cache, token, role, sizeof(role)), 200);
    BS_ASSERT_STR_EQ(role, "user");
    superuser_exec("UPDATE users SET role = 'agent' "
                   "WHERE product = 'bestays' AND id = 'user_bs_nocache'");
    BS_ASSERT_INT_EQ(me(&no_cache, token, role, sizeof(role)), 200);
    BS_ASSERT_STR_EQ(role, "agent");
    superuser_exec("UPDATE users SET deleted_at = now() "
                   "WHERE product = 'bestays' AND id = 'user_bs_nocache'");
    BS_ASSERT_INT_EQ(me(&no_cache, token, role, sizeof(role)), 403);

    BS_ASSERT_INT_EQ(instance_stop(&no_cache), 0);
    superuser_exec("DELETE FROM users WHERE id = 'user_bs_nocache'");
    free(token);
}

static void test_demoted_admin_cannot_write_while_cached(void)
{
    char *token = mint(bestays.key, "user_bs_demoted");
    char role[32];
    struct reply reply;

    superuser_exec("INSERT INTO users (product, id, email, role) VALUES "
                   "('bestays','user_bs_demoted','x@bestays.test','admin')");
    /* Now cached as admin (default TTL, 1 s)... */
    BS_ASSERT_INT_EQ(me(&bestays, token, role, sizeof(role)), 200);
    BS_ASSERT_STR_EQ(role, "admin");
    superuser_exec("UPDATE users SET role = 'user' "
                   "WHERE product = 'bestays' AND id = 'user_bs_demoted'");
    /* ...but a write reads the row itself: refused at once. */
    call(&bestays, "POST", "/api/v1/admin/faqs", token, NULL,
         "{\"title\":\"t\",\"content\":\"c\"}", &reply);
    expect(&reply, 403, "forbidden");
    reply_clear(&reply);
    superuser_exec("DELETE FROM users WHERE id = 'user_bs_demoted'");
    free(token);
}

/* One Clerk id in both products, with different rows: each gateway's
 * cache only ever serves its own product's row, and the other product's
 * tokens and ids stay 401 and 404 with the caches warm. */
static void test_caller_cache_never_crosses_products(void)
{
    char *bs = mint(bestays.key, "user_both");
    char *re = mint(realestate.key, "user_both");
    char *re_admin = mint(realestate.key, "user_re_admin");
    char *bs_on_re = mint(bestays.key, "user_bs_user");
    char *bs_user = mint(bestays.key, "user_bs_user");
    struct reply reply;

    superuser_exec("INSERT INTO users (product, id, email, role) VALUES "
                   "('bestays','user_both','both@bestays.test','admin'),"
                   "('realestate','user_both','both@re.test','user')");
    for (int round = 0; round < 3; round++) {
        get(&bestays, "/api/v1/users/user_both", bs, &reply);
        expect(&reply, 200, NULL);
        BS_ASSERT_STR_EQ(
            json_string_value(json_object_get(reply.json, "email")),
            "both@bestays.test");
        reply_clear(&reply);
        get(&realestate, "/api/v1/users/me", re, &reply);
        expect(&reply, 200, NULL);
        BS_ASSERT_STR_EQ(
            json_string_value(json_object_get(reply.json, "email")),
            "both@re.test");
        BS_ASSERT_STR_EQ(json_string_value(json_object_get(reply.json, "role")),
                         "user");
        reply_clear(&reply);

        /* user_bs_user is cached on bestays; realestate knows it not. */
        get(&bestays, "/api/v1/users/me", bs_user, &reply);
        expect(&reply, 200, NULL);
        reply_clear(&reply);
        get(&realestate, "/api/v1/users/me", bs_on_re, &reply);
        expect(&reply, 401, "unauthenticated");
        reply_clear(&reply);
        get(&realestate, "/api/v1/users/user_bs_user", re_admin, &reply);
        expect(&reply, 404, "not_found");
        reply_clear(&reply);
        /* The realestate user is no admin there, whatever bestays says. */
        get(&realestate, "/api/v1/users", re, &reply);
        expect(&reply, 403, "forbidden");
        reply_clear(&reply);
    }
    superuser_exec("DELETE FROM users WHERE id = 'user_both'");
    free(bs);
    free(re);
    free(re_admin);
    free(bs_on_re);
    free(bs_user);
}

/* ---- suites -----------------------------------------------------------------
 */

/* Three FAQ ids sharing a random run part, so they sort 01 < 02 < 03. */
static int seed_faqs(PGconn *conn)
{
    unsigned char run[5];
    char sql[1024], hex[11];

    if (RAND_bytes(run, sizeof(run)) != 1)
        return -1;
    snprintf(hex, sizeof(hex), "%02x%02x%02x%02x%02x", run[0], run[1], run[2],
             run[3], run[4]);
    snprintf(faq_versioned, sizeof(faq_versioned),
             "0190f0a4-1b2c-7d3e-8f40-%s01", hex);
    snprintf(faq_other, sizeof(faq_other), "0190f0a4-1b2c-7d3e-8f40-%s02", hex);
    snprintf(re_faq, sizeof(re_faq), "0190f0a4-1b2c-7d3e-8f40-%s03", hex);
    snprintf(sql, sizeof(sql), faq_sql, faq_versioned, faq_other, re_faq);
    return bs_pg_exec(conn, sql, NULL);
}

static int products_init(void)
{
    const char *const up[] = {"up", NULL};
    PGconn *conn;
    int seeded;

    if (bs_pg_env_load(&pg_env) != 0 ||
        bs_pg_create_database(&pg_env, "gw", dbname, sizeof(dbname)) != 0 ||
        bs_pg_migrate(&pg_env, dbname, up, NULL) != 0)
        return -1;
    conn = bs_pg_connect(&pg_env, dbname, NULL);
    seeded = conn ? bs_pg_exec(conn, seed_sql, NULL) : -1;
    if (seeded == 0)
        seeded = seed_faqs(conn);
    PQfinish(conn);
    if (seeded != 0)
        return -1;
    if (instance_start(&bestays, "bestays") != 0 ||
        instance_start(&realestate, "realestate") != 0)
        return -1;
    return 0;
}

static int products_cleanup(void)
{
    int bs = instance_stop(&bestays);
    int re = instance_stop(&realestate);

    if (dbname[0])
        bs_pg_drop_database(&pg_env, dbname);
    if (bs != 0 || re != 0) {
        fprintf(stderr, "api-gateway exit codes: %d %d\n", bs, re);
        return -1;
    }
    return 0;
}

static CU_TestInfo product_tests[] = {
    {"health_names_the_product", test_health_names_the_product},
    {"missing_token_is_401_with_www_authenticate",
     test_missing_token_is_401_with_www_authenticate},
    {"bestays_token_on_realestate_is_401",
     test_bestays_token_on_realestate_is_401},
    {"user_of_other_product_is_403", test_user_of_other_product_is_403},
    {"concurrent_callers_never_mix", test_concurrent_callers_never_mix},
    {"session_cookie_is_accepted", test_session_cookie_is_accepted},
    {"bsctl_token_is_accepted_by_its_product_only",
     test_bsctl_token_is_accepted_by_its_product_only},
    {"each_admin_lists_only_its_users", test_each_admin_lists_only_its_users},
    {"user_list_pages_with_cursors", test_user_list_pages_with_cursors},
    {"other_products_user_is_404", test_other_products_user_is_404},
    {"non_admin_reads_only_self", test_non_admin_reads_only_self},
    {"admin_reading_another_user_is_audited",
     test_admin_reading_another_user_is_audited},
    {"each_admin_lists_only_its_faqs", test_each_admin_lists_only_its_faqs},
    {"admin_faq_create_publishes_one_event_and_audit",
     test_admin_faq_create_publishes_one_event_and_audit},
    {"non_admin_write_is_403_and_publishes_nothing",
     test_non_admin_write_is_403_and_publishes_nothing},
    {"if_match_stale_is_412_current_is_next_version",
     test_if_match_stale_is_412_current_is_next_version},
    {"faq_delete_publishes_delete", test_faq_delete_publishes_delete},
    {"bad_faq_bodies_are_named_4xx", test_bad_faq_bodies_are_named_4xx},
    {"bad_query_and_ids_are_400", test_bad_query_and_ids_are_400},
    {"hostile_paths_and_bodies_are_4xx", test_hostile_paths_and_bodies_are_4xx},
    {"properties_published_for_all_drafts_for_agents",
     test_properties_published_for_all_drafts_for_agents},
    {"cors_only_for_allowed_origins", test_cors_only_for_allowed_origins},
    {"unacknowledged_write_is_503_and_not_ready",
     test_unacknowledged_write_is_503_and_not_ready},
    {"cached_role_change_and_deletion_reach_reads_after_ttl",
     test_cached_role_change_and_deletion_reach_reads_after_ttl},
    {"without_cache_changes_are_immediate",
     test_without_cache_changes_are_immediate},
    {"demoted_admin_cannot_write_while_cached",
     test_demoted_admin_cannot_write_while_cached},
    {"caller_cache_never_crosses_products",
     test_caller_cache_never_crosses_products},
    CU_TEST_INFO_NULL,
};

static void register_suites(void)
{
    bs_test_add_suite("api_gateway_two_products", products_init,
                      products_cleanup, product_tests);
}

int main(void)
{
    char errstr[256];
    int exit_code;

    curl_global_init(CURL_GLOBAL_DEFAULT);
    if (bs_codec_new_builtin(&codec, errstr, sizeof(errstr)) != BS_OK) {
        fprintf(stderr, "test_api_gateway: %s\n", errstr);
        return 1;
    }
    exit_code = bs_test_main(register_suites);
    bs_codec_free(codec);
    curl_global_cleanup();
    return exit_code;
}
