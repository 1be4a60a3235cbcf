/*
 * test_webhook_ingest.c - the real webhook-ingest binary, over HTTP and Kafka.
 *
 * Two instances run side by side, one per product, each with its own secret
 * and port, on the `broker` fixture. Requests go through libcurl exactly as
 * Svix would send them; what reached Kafka is read back with the broker
 * harness (other tests share the topics, so messages are found by a unique
 * user id or svix id). A third instance points at an address where no
 * broker listens, to see the 503 that makes Svix retry. Every wait is a
 * give-up bound, never a timing assertion.
 */
#include "broker_harness.h"
#include "harness.h"
#include "service_harness.h"

#include "bs/codec.h"
#include "bs/error.h"
#include "bs/events.h"
#include "bs/svix.h"

#include <curl/curl.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define BESTAYS_SECRET    "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
#define REALESTATE_SECRET "whsec_cmVhbGVzdGF0ZS10ZXN0LXNlY3JldC0zMi1ieXRlcyE="
#define TEMPLATE_USER_ID  "user_29w83sxmDNGwOuEthce5gg56FcC"
#define CLERK_PATH        "/api/v1/webhooks/clerk"
#define SCAN_TIMEOUT_MS   60000
#define START_TIMEOUT_MS  30000

/* One running webhook-ingest. */
struct instance {
    pid_t pid;
    unsigned port;
    const char *product;
};

/* What an HTTP exchange returned. */
struct reply {
    long status;
    char *body;
    size_t body_len;
    char product[64];     /* X-Product */
    char retry_after[16]; /* Retry-After */
};

static struct instance bestays, realestate;
static struct bs_codec *codec;
static struct bs_svix_keys *bestays_keys;
static char *user_created; /* tests/data/clerk/user_created.json */

/* ---- processes ---------------------------------------------------------- */

/* A port nobody listens on right now (the kernel's choice). */
static void reply_clear(struct reply *reply)
{
    free(reply->body);
    memset(reply, 0, sizeof(*reply));
}

static size_t on_body(char *data, size_t size, size_t count, void *ctx)
{
    struct reply *reply = ctx;
    char *bigger = realloc(reply->body, reply->body_len + size * count + 1);

    if (!bigger)
        return 0;
    memcpy(bigger + reply->body_len, data, size * count);
    reply->body = bigger;
    reply->body_len += size * count;
    reply->body[reply->body_len] = '\0';
    return size * count;
}

/* Copies `name: value` into buf when the header line is that header. */
static void header_value(const char *line, size_t len, const char *name,
                         char *buf, size_t size)
{
    size_t name_len = strlen(name);

    if (len <= name_len + 1 || strncasecmp(line, name, name_len) != 0 ||
        line[name_len] != ':')
        return;
    line += name_len + 1;
    len -= name_len + 1;
    while (len > 0 && *line == ' ')
        line++, len--;
    while (len > 0 && (line[len - 1] == '\r' || line[len - 1] == '\n'))
        len--;
    snprintf(buf, size, "%.*s", (int)len, line);
}

static size_t on_header(char *data, size_t size, size_t count, void *ctx)
{
    struct reply *reply = ctx;

    header_value(data, size * count, "X-Product", reply->product,
                 sizeof(reply->product));
    header_value(data, size * count, "Retry-After", reply->retry_after,
                 sizeof(reply->retry_after));
    return size * count;
}

/* One request; `headers` is NULL-terminated "Name: value" lines (or NULL);
 * a NULL body makes a GET. Returns the curl result. */
static CURLcode http_call(const struct instance *instance, const char *method,
                          const char *path, const char *const *headers,
                          const void *body, size_t body_len,
                          struct reply *reply)
{
    CURL *curl = curl_easy_init();
    /* Big bodies wait for the server's go-ahead, as the 413 check needs. */
    struct curl_slist *list = curl_slist_append(
        NULL, body_len > 64 * 1024 ? "Expect: 100-continue" : "Expect:");
    char url[256];
    CURLcode result;

    memset(reply, 0, sizeof(*reply));
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
    if (body) {
        curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE,
                         (curl_off_t)body_len);
    }
    if (method)
        curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
    result = curl_easy_perform(curl);
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &reply->status);
    curl_slist_free_all(list);
    curl_easy_cleanup(curl);
    return result;
}

/* Starts the binary with `env` added ("NAME=value"); stdout and stderr go to
 * a log file in the state directory. Waits until /healthz answers. */
static int instance_start(struct instance *instance, const char *product,
                          const char *const *env)
{
    char binary[1024], log_path[1024], name[128], port_env[32];
    struct reply reply;

    bs_test_build_path("services/webhook-ingest/webhook-ingest", binary,
                       sizeof(binary));
    snprintf(name, sizeof(name), "webhook-ingest-%s-%d.log", product,
             (int)getpid());
    bs_test_state_path(name, log_path, sizeof(log_path));
    instance->product = product;
    instance->port = bs_svc_free_port();
    snprintf(port_env, sizeof(port_env), "HTTP_PORT=%u", instance->port);

    instance->pid = fork();
    if (instance->pid < 0)
        return -1;
    if (instance->pid == 0) {
        int fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND, 0644);

        dup2(fd, 1);
        dup2(fd, 2);
        setenv("PRODUCT", product, 1);
        putenv(port_env);
        for (size_t i = 0; env[i]; i++)
            putenv((char *)env[i]);
        execl(binary, binary, (char *)NULL);
        _exit(127);
    }

    /* Up when /healthz answers; give up after the bound. */
    for (int waited = 0; waited < START_TIMEOUT_MS; waited += 100) {
        struct timespec pause = {0, 100 * 1000000L};

        if (http_call(instance, NULL, "/healthz", NULL, NULL, 0, &reply) ==
                CURLE_OK &&
            reply.status == 200) {
            reply_clear(&reply);
            return 0;
        }
        reply_clear(&reply);
        if (waitpid(instance->pid, NULL, WNOHANG) == instance->pid) {
            instance->pid = 0;
            return -1;
        }
        nanosleep(&pause, NULL);
    }
    return -1;
}

/* SIGTERM and wait: the exit status, 128+signal, or -1. */
static int instance_stop(struct instance *instance)
{
    int status;

    if (instance->pid <= 0)
        return -1;
    kill(instance->pid, SIGTERM);
    if (waitpid(instance->pid, &status, 0) != instance->pid)
        return -1;
    instance->pid = 0;
    if (WIFEXITED(status))
        return WEXITSTATUS(status);
    return WIFSIGNALED(status) ? 128 + WTERMSIG(status) : -1;
}

static int start_with_broker(struct instance *instance, const char *product,
                             const char *secret)
{
    char *bootstrap = bs_broker_bootstrap();
    static char bootstrap_env[2][512], secret_env[2][256];
    int slot = strcmp(product, "bestays") == 0 ? 0 : 1;
    /* realestate runs quieter: start-up must not depend on the log level. */
    const char *env[] = {bootstrap_env[slot], secret_env[slot],
                         slot == 0 ? "LOG_LEVEL=info" : "LOG_LEVEL=warn", NULL};

    snprintf(bootstrap_env[slot], sizeof(bootstrap_env[slot]),
             "KAFKA_BOOTSTRAP_SERVERS=%s", bootstrap ? bootstrap : "");
    snprintf(secret_env[slot], sizeof(secret_env[slot]),
             "CLERK_WEBHOOK_SECRET=%s", secret);
    free(bootstrap);
    return instance_start(instance, product, env);
}

/* ---- signing and sending ------------------------------------------------ */

/* A signed webhook's headers, as curl wants them. */
struct signed_headers {
    char id[128], timestamp[128], signature[128];
    const char *list[4];
};

static void sign_as(struct signed_headers *out, const char *prefix,
                    const struct bs_svix_keys *keys, const char *svix_id,
                    int64_t timestamp, const char *body, size_t body_len)
{
    char ts[32], mac[BS_SVIX_SIGNATURE_SIZE];

    snprintf(ts, sizeof(ts), "%" PRId64, timestamp);
    CU_ASSERT_EQUAL(
        bs_svix_sign(keys, 0, svix_id, ts, body, body_len, mac, sizeof(mac)),
        BS_OK);
    snprintf(out->id, sizeof(out->id), "%s-id: %s", prefix, svix_id);
    snprintf(out->timestamp, sizeof(out->timestamp), "%s-timestamp: %s", prefix,
             ts);
    snprintf(out->signature, sizeof(out->signature), "%s-signature: %s", prefix,
             mac);
    out->list[0] = out->id;
    out->list[1] = out->timestamp;
    out->list[2] = out->signature;
    out->list[3] = NULL;
}

/* Signs `body` with bestays' secret now and posts it to `instance`. */
static void post_signed(const struct instance *instance, const char *svix_id,
                        const char *body, struct reply *reply)
{
    struct signed_headers headers;

    sign_as(&headers, "svix", bestays_keys, svix_id, (int64_t)time(NULL), body,
            strlen(body));
    CU_ASSERT_EQUAL(http_call(instance, NULL, CLERK_PATH, headers.list, body,
                              strlen(body), reply),
                    CURLE_OK);
}

/* user_created.json with the user id replaced; the caller frees it. */
static char *user_body(const char *user_id)
{
    const char *at = strstr(user_created, TEMPLATE_USER_ID);
    size_t before = (size_t)(at - user_created);
    size_t len =
        strlen(user_created) - strlen(TEMPLATE_USER_ID) + strlen(user_id) + 1;
    char *body = malloc(len);

    snprintf(body, len, "%.*s%s%s", (int)before, user_created, user_id,
             at + strlen(TEMPLATE_USER_ID));
    return body;
}

/* The JSON body's error.code ("" when there is none). */
static void assert_error(const struct reply *reply, long status,
                         const char *product, const char *code)
{
    json_t *root =
        reply->body ? json_loadb(reply->body, reply->body_len, 0, NULL) : NULL;
    const char *got = json_string_value(
        json_object_get(json_object_get(root, "error"), "code"));

    BS_ASSERT_INT_EQ(reply->status, status);
    BS_ASSERT_STR_EQ(reply->product, product);
    BS_ASSERT_STR_EQ(got ? got : "", code);
    json_decref(root);
}

/* The reply's top-level "status" member. */
static void assert_status(const struct reply *reply, const char *status)
{
    json_t *root =
        reply->body ? json_loadb(reply->body, reply->body_len, 0, NULL) : NULL;
    const char *got = json_string_value(json_object_get(root, "status"));

    BS_ASSERT_INT_EQ(reply->status, 200);
    BS_ASSERT_STR_EQ(got ? got : "", status);
    json_decref(root);
}

/* ---- finding what reached Kafka ----------------------------------------- */

/* Messages keyed `key`, or UserEvents with event id `event_id`, or DLQ
 * entries with svix-id `event_id`; the first match is kept. */
struct wanted {
    const char *key;
    const char *event_id;
    struct bs_user_event event;
    bool decoded;
    char product[64], reason[64], svix_id[128];
    char *value;
};

static void copy_header(const rd_kafka_message_t *message, const char *name,
                        char *buf, size_t size)
{
    rd_kafka_headers_t *headers = NULL;
    const void *value = NULL;
    size_t len = 0;

    buf[0] = '\0';
    if (rd_kafka_message_headers(message, &headers) ==
            RD_KAFKA_RESP_ERR_NO_ERROR &&
        rd_kafka_header_get_last(headers, name, &value, &len) ==
            RD_KAFKA_RESP_ERR_NO_ERROR)
        snprintf(buf, size, "%.*s", (int)len, (const char *)value);
}

static void keep(struct wanted *wanted, const rd_kafka_message_t *message)
{
    if (wanted->value)
        return;
    copy_header(message, "product", wanted->product, sizeof(wanted->product));
    copy_header(message, "reason", wanted->reason, sizeof(wanted->reason));
    wanted->value =
        strndup(message->payload ? message->payload : "", message->len);
}

static bool user_event_matches(const rd_kafka_message_t *message, void *ctx)
{
    struct wanted *wanted = ctx;
    struct bs_user_event event;
    bool match = false;

    if (wanted->key && (message->key_len != strlen(wanted->key) ||
                        memcmp(message->key, wanted->key, message->key_len)))
        return false;
    if (bs_user_event_decode(codec, message->payload, message->len, &event,
                             NULL, 0) != BS_OK)
        return false;
    if (wanted->event_id)
        match = event.meta.event_id &&
                strcmp(event.meta.event_id, wanted->event_id) == 0;
    else
        match = true;
    if (match && !wanted->decoded) {
        keep(wanted, message);
        wanted->event = event;
        wanted->decoded = true;
        return true;
    }
    bs_user_event_clear(&event);
    return match;
}

static bool dlq_entry_matches(const rd_kafka_message_t *message, void *ctx)
{
    struct wanted *wanted = ctx;
    char svix_id[128];

    copy_header(message, "svix-id", svix_id, sizeof(svix_id));
    if (strcmp(svix_id, wanted->event_id) != 0)
        return false;
    keep(wanted, message);
    return true;
}

static int scan(const char *product, const char *topic, bs_broker_match_fn fn,
                struct wanted *wanted)
{
    char errstr[256];
    int matches = -1;

    BS_ASSERT_INT_EQ(bs_broker_scan_topic(product, topic, fn, wanted,
                                          SCAN_TIMEOUT_MS, &matches, errstr,
                                          sizeof(errstr)),
                     BS_OK);
    return matches;
}

static void wanted_clear(struct wanted *wanted)
{
    if (wanted->decoded)
        bs_user_event_clear(&wanted->event);
    free(wanted->value);
    memset(wanted, 0, sizeof(*wanted));
}

/* ---- suites ------------------------------------------------------------- */

/* Shared by both suites: the template body, the codec, bestays' keys. */
static int globals_init(void)
{
    char path[1024], errstr[256];

    curl_global_init(CURL_GLOBAL_DEFAULT);
    user_created = bs_test_read_file(bs_test_source_path(
        "tests/data/clerk/user_created.json", path, sizeof(path)));
    if (!user_created ||
        bs_codec_new_builtin(&codec, errstr, sizeof(errstr)) != BS_OK ||
        bs_svix_keys_parse(BESTAYS_SECRET, &bestays_keys, errstr,
                           sizeof(errstr)) != BS_OK)
        return -1;
    return 0;
}

static void globals_free(void)
{
    bs_svix_keys_free(bestays_keys);
    bs_codec_free(codec);
    free(user_created);
    curl_global_cleanup();
}

static int products_init(void)
{
    if (start_with_broker(&bestays, "bestays", BESTAYS_SECRET) != 0 ||
        start_with_broker(&realestate, "realestate", REALESTATE_SECRET) != 0)
        return -1;
    return 0;
}

static int products_cleanup(void)
{
    instance_stop(&bestays);
    instance_stop(&realestate);
    return 0;
}

static void test_signed_user_created_is_published_to_its_product(void)
{
    char user_id[128], svix_id[128];
    struct wanted wanted = {0};
    struct reply reply;
    char *body;

    bs_broker_unique_name("user_wh", user_id, sizeof(user_id));
    bs_broker_unique_name("msg_wh", svix_id, sizeof(svix_id));
    body = user_body(user_id);
    post_signed(&bestays, svix_id, body, &reply);
    assert_status(&reply, "accepted");
    BS_ASSERT_STR_EQ(reply.product, "bestays");
    reply_clear(&reply);

    /* Exactly that event, keyed by the user, on bestays.users. */
    wanted.key = user_id;
    BS_ASSERT_INT_EQ(
        scan("bestays", "bestays.users", user_event_matches, &wanted), 1);
    CU_ASSERT_TRUE_FATAL(wanted.decoded);
    BS_ASSERT_STR_EQ(wanted.product, "bestays");
    BS_ASSERT_STR_EQ(wanted.event.meta.event_id, svix_id);
    BS_ASSERT_STR_EQ(wanted.event.meta.product, "bestays");
    BS_ASSERT_STR_EQ(wanted.event.meta.source, "webhook-ingest");
    BS_ASSERT_INT_EQ(wanted.event.action, BS_USER_CREATED);
    BS_ASSERT_STR_EQ(wanted.event.clerk_user_id, user_id);
    BS_ASSERT_STR_EQ(wanted.event.email, "example@example.org");
    BS_ASSERT_STR_EQ(wanted.event.first_name, "Example");
    BS_ASSERT_STR_EQ(wanted.event.last_name, "Example");
    BS_ASSERT_INT_EQ(wanted.event.clerk_updated_at, 1654012591835LL);
    wanted_clear(&wanted);

    /* And nothing of it on realestate's topic. */
    wanted.key = user_id;
    BS_ASSERT_INT_EQ(
        scan("realestate", "realestate.users", user_event_matches, &wanted), 0);
    wanted_clear(&wanted);
    free(body);
}

static void test_other_product_refuses_the_signature(void)
{
    char user_id[128], svix_id[128];
    struct wanted wanted = {0};
    struct reply reply;
    char *body;

    bs_broker_unique_name("user_cross", user_id, sizeof(user_id));
    bs_broker_unique_name("msg_cross", svix_id, sizeof(svix_id));
    body = user_body(user_id);
    post_signed(&realestate, svix_id, body, &reply);
    assert_error(&reply, 401, "realestate", "invalid_signature");
    reply_clear(&reply);

    wanted.key = user_id;
    BS_ASSERT_INT_EQ(
        scan("realestate", "realestate.users", user_event_matches, &wanted), 0);
    wanted_clear(&wanted);
    free(body);
}

static void test_missing_signature_headers_are_400(void)
{
    const char *const only_id[] = {"svix-id: msg_x", NULL};
    struct reply reply;

    http_call(&bestays, NULL, CLERK_PATH, NULL, user_created,
              strlen(user_created), &reply);
    assert_error(&reply, 400, "bestays", "missing_signature_headers");
    reply_clear(&reply);
    http_call(&bestays, NULL, "/webhooks/clerk", only_id, user_created,
              strlen(user_created), &reply);
    assert_error(&reply, 400, "bestays", "missing_signature_headers");
    reply_clear(&reply);
}

static void test_bad_signature_is_401(void)
{
    struct signed_headers headers;
    struct reply reply;
    const char *body = user_created;

    /* Signed over other bytes than those sent. */
    sign_as(&headers, "svix", bestays_keys, "msg_bad", (int64_t)time(NULL),
            "{}", 2);
    http_call(&bestays, NULL, CLERK_PATH, headers.list, body, strlen(body),
              &reply);
    assert_error(&reply, 401, "bestays", "invalid_signature");
    reply_clear(&reply);
}

static void test_expired_timestamp_is_401(void)
{
    struct signed_headers headers;
    struct reply reply;
    const char *body = user_created;

    sign_as(&headers, "svix", bestays_keys, "msg_old",
            (int64_t)time(NULL) - 3600, body, strlen(body));
    http_call(&bestays, NULL, CLERK_PATH, headers.list, body, strlen(body),
              &reply);
    assert_error(&reply, 401, "bestays", "invalid_signature");
    reply_clear(&reply);
}

static void test_webhook_header_spelling_is_accepted(void)
{
    char user_id[128], svix_id[128];
    struct signed_headers headers;
    struct reply reply;
    char *body;

    bs_broker_unique_name("user_std", user_id, sizeof(user_id));
    bs_broker_unique_name("msg_std", svix_id, sizeof(svix_id));
    body = user_body(user_id);
    sign_as(&headers, "webhook", bestays_keys, svix_id, (int64_t)time(NULL),
            body, strlen(body));
    http_call(&bestays, NULL, "/webhooks/clerk", headers.list, body,
              strlen(body), &reply);
    assert_status(&reply, "accepted");
    reply_clear(&reply);
    free(body);
}

static void test_body_over_the_limit_is_413(void)
{
    size_t len = 1024 * 1024 + 1;
    char *body = malloc(len);
    struct reply reply;

    memset(body, 'a', len);
    http_call(&bestays, NULL, CLERK_PATH, NULL, body, len, &reply);
    assert_error(&reply, 413, "bestays", "body_too_large");
    reply_clear(&reply);
    free(body);
}

static void test_wrong_method_and_unknown_path(void)
{
    struct reply reply;

    http_call(&bestays, NULL, CLERK_PATH, NULL, NULL, 0, &reply);
    assert_error(&reply, 405, "bestays", "method_not_allowed");
    reply_clear(&reply);
    http_call(&bestays, NULL, "/api/v1/webhooks/stripe", NULL, "{}", 2, &reply);
    assert_error(&reply, 404, "bestays", "not_found");
    reply_clear(&reply);
}

static void test_signed_non_json_goes_to_the_dlq(void)
{
    const char *body = "this is not JSON at all";
    struct wanted wanted = {0};
    char svix_id[128];
    struct reply reply;

    bs_broker_unique_name("msg_dlq", svix_id, sizeof(svix_id));
    post_signed(&bestays, svix_id, body, &reply);
    assert_status(&reply, "dead_lettered");
    reply_clear(&reply);

    wanted.event_id = svix_id;
    BS_ASSERT_INT_EQ(scan("bestays", "bestays.dlq", dlq_entry_matches, &wanted),
                     1);
    BS_ASSERT_STR_EQ(wanted.value, body);
    BS_ASSERT_STR_EQ(wanted.reason, "not_json");
    BS_ASSERT_STR_EQ(wanted.product, "bestays");
    wanted_clear(&wanted);

    wanted.event_id = svix_id;
    BS_ASSERT_INT_EQ(
        scan("bestays", "bestays.users", user_event_matches, &wanted), 0);
    wanted_clear(&wanted);
}

static void test_other_event_types_are_ignored(void)
{
    const char *body = "{\"type\":\"session.created\",\"object\":\"event\","
                       "\"data\":{\"id\":\"sess_1\",\"object\":\"session\"}}";
    struct wanted wanted = {0};
    char svix_id[128];
    struct reply reply;

    bs_broker_unique_name("msg_session", svix_id, sizeof(svix_id));
    post_signed(&bestays, svix_id, body, &reply);
    assert_status(&reply, "ignored");
    reply_clear(&reply);

    wanted.event_id = svix_id;
    BS_ASSERT_INT_EQ(
        scan("bestays", "bestays.users", user_event_matches, &wanted), 0);
    wanted_clear(&wanted);
    wanted.event_id = svix_id;
    BS_ASSERT_INT_EQ(scan("bestays", "bestays.dlq", dlq_entry_matches, &wanted),
                     0);
    wanted_clear(&wanted);
}

static void test_metrics_show_verification_failures(void)
{
    struct reply reply;

    http_call(&bestays, NULL, "/metrics", NULL, NULL, 0, &reply);
    BS_ASSERT_INT_EQ(reply.status, 200);
    CU_ASSERT_PTR_NOT_NULL(reply.body);
    if (reply.body) {
        CU_ASSERT_PTR_NOT_NULL(
            strstr(reply.body, "bs_webhook_verification_failures_total{"));
        CU_ASSERT_PTR_NOT_NULL(strstr(reply.body, "reason=\"no_match\"} "));
        CU_ASSERT_PTR_NOT_NULL(
            strstr(reply.body, "reason=\"timestamp_too_old\"} "));
        CU_ASSERT_PTR_NOT_NULL(
            strstr(reply.body, "bs_webhooks_ignored_total{"));
        CU_ASSERT_PTR_NOT_NULL(
            strstr(reply.body, "bs_webhooks_dead_lettered_total{"));
        CU_ASSERT_PTR_NOT_NULL(
            strstr(reply.body, "bs_publish_duration_seconds_count{"));
    }
    reply_clear(&reply);
}

/* Finds `name: value` after `from` in bsctl's output line. */
static bool extract(const char *output, const char *name, char *buf,
                    size_t size)
{
    const char *at = strstr(output, name);
    size_t len;

    if (!at)
        return false;
    at += strlen(name);
    len = strcspn(at, "'");
    snprintf(buf, size, "%.*s", (int)len, at);
    return true;
}

static void test_bsctl_signature_verifies(void)
{
    char bsctl[1024], file[1024], name[128], user_id[128];
    char id[128], ts[64], sig[128];
    char id_h[160], ts_h[96], sig_h[160];
    const char *const env[] = {"CLERK_WEBHOOK_SECRET=" BESTAYS_SECRET,
                               "LOG_LEVEL=error", NULL};
    const char *argv[] = {bsctl, "webhook", "sign", "--file", file, NULL};
    const char *headers[] = {id_h, ts_h, sig_h, NULL};
    char *output = NULL, *body;
    struct reply reply;
    FILE *out;

    bs_test_build_path("tools/bsctl/bsctl", bsctl, sizeof(bsctl));
    snprintf(name, sizeof(name), "webhook-body-%d.json", (int)getpid());
    bs_test_state_path(name, file, sizeof(file));
    body = user_body(
        bs_broker_unique_name("user_bsctl", user_id, sizeof(user_id)));
    out = fopen(file, "wb");
    CU_ASSERT_PTR_NOT_NULL_FATAL(out);
    fputs(body, out);
    fclose(out);

    BS_ASSERT_INT_EQ(bs_test_run(argv, env, &output), 0);
    CU_ASSERT_TRUE(extract(output, "svix-id: ", id, sizeof(id)) &&
                   extract(output, "svix-timestamp: ", ts, sizeof(ts)) &&
                   extract(output, "svix-signature: ", sig, sizeof(sig)));
    snprintf(id_h, sizeof(id_h), "svix-id: %s", id);
    snprintf(ts_h, sizeof(ts_h), "svix-timestamp: %s", ts);
    snprintf(sig_h, sizeof(sig_h), "svix-signature: %s", sig);

    http_call(&bestays, NULL, CLERK_PATH, headers, body, strlen(body), &reply);
    assert_status(&reply, "accepted");
    reply_clear(&reply);
    unlink(file);
    free(output);
    free(body);
}

static void test_sigterm_exits_zero(void)
{
    BS_ASSERT_INT_EQ(instance_stop(&realestate), 0);
    BS_ASSERT_INT_EQ(instance_stop(&bestays), 0);
}

static CU_TestInfo product_tests[] = {
    {"signed_user_created_is_published_to_its_product",
     test_signed_user_created_is_published_to_its_product},
    {"other_product_refuses_the_signature",
     test_other_product_refuses_the_signature},
    {"missing_signature_headers_are_400",
     test_missing_signature_headers_are_400},
    {"bad_signature_is_401", test_bad_signature_is_401},
    {"expired_timestamp_is_401", test_expired_timestamp_is_401},
    {"webhook_header_spelling_is_accepted",
     test_webhook_header_spelling_is_accepted},
    {"body_over_the_limit_is_413", test_body_over_the_limit_is_413},
    {"wrong_method_and_unknown_path", test_wrong_method_and_unknown_path},
    {"signed_non_json_goes_to_the_dlq", test_signed_non_json_goes_to_the_dlq},
    {"other_event_types_are_ignored", test_other_event_types_are_ignored},
    {"metrics_show_verification_failures",
     test_metrics_show_verification_failures},
    {"bsctl_signature_verifies", test_bsctl_signature_verifies},
    {"sigterm_exits_zero", test_sigterm_exits_zero},
    CU_TEST_INFO_NULL,
};

/* ---- without a broker, and with a bad secret ---------------------------- */

static void test_unacknowledged_webhook_is_503_with_retry_after(void)
{
    const char *const env[] = {"KAFKA_BOOTSTRAP_SERVERS=127.0.0.1:1",
                               "CLERK_WEBHOOK_SECRET=" BESTAYS_SECRET,
                               "PUBLISH_TIMEOUT_MS=1000", NULL};
    struct instance lost = {0};
    char user_id[128], svix_id[128];
    struct reply reply;
    char *body;

    CU_ASSERT_EQUAL_FATAL(instance_start(&lost, "bestays", env), 0);
    body =
        user_body(bs_broker_unique_name("user_lost", user_id, sizeof(user_id)));
    post_signed(&lost,
                bs_broker_unique_name("msg_lost", svix_id, sizeof(svix_id)),
                body, &reply);
    assert_error(&reply, 503, "bestays", "not_acknowledged");
    BS_ASSERT_STR_EQ(reply.retry_after, "5");
    reply_clear(&reply);

    http_call(&lost, NULL, "/readyz", NULL, NULL, 0, &reply);
    BS_ASSERT_INT_EQ(reply.status, 503);
    reply_clear(&reply);
    BS_ASSERT_INT_EQ(instance_stop(&lost), 0);
    free(body);
}

static void test_malformed_secret_exits_2(void)
{
    char binary[1024];
    const char *argv[] = {binary, NULL};
    const char *const env[] = {
        "PRODUCT=bestays", "KAFKA_BOOTSTRAP_SERVERS=127.0.0.1:1",
        "CLERK_WEBHOOK_SECRET=whsec_!!notbase64!!", "HTTP_PORT=0", NULL};
    char *output = NULL;

    bs_test_build_path("services/webhook-ingest/webhook-ingest", binary,
                       sizeof(binary));
    BS_ASSERT_INT_EQ(bs_test_run(argv, env, &output), 2);
    CU_ASSERT_PTR_NOT_NULL(output);
    if (output) {
        CU_ASSERT_PTR_NOT_NULL(strstr(output, "webhook-ingest: "
                                              "CLERK_WEBHOOK_SECRET"));
        CU_ASSERT_PTR_NULL(strstr(output, "notbase64"));
    }
    free(output);
}

static CU_TestInfo failure_tests[] = {
    {"unacknowledged_webhook_is_503_with_retry_after",
     test_unacknowledged_webhook_is_503_with_retry_after},
    {"malformed_secret_exits_2", test_malformed_secret_exits_2},
    CU_TEST_INFO_NULL,
};

static void register_suites(void)
{
    bs_test_add_suite("webhook_ingest_two_products", products_init,
                      products_cleanup, product_tests);
    bs_test_add_suite("webhook_ingest_failures", NULL, NULL, failure_tests);
}

int main(void)
{
    int exit_code;

    if (globals_init() != 0) {
        fprintf(stderr, "test_webhook_ingest: cannot load the test data\n");
        return 1;
    }
    exit_code = bs_test_main(register_suites);
    globals_free();
    return exit_code;
}
