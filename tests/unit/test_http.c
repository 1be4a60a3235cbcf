/*
 * test_http.c - the HTTP layer (bs/http.h) and the shutdown signal helper.
 *
 * Each test starts a real server in-process on 127.0.0.1 with an ephemeral
 * port and talks to it over TCP with libcurl: routing, request ids,
 * X-Product, JSON errors, body limits (declared and chunked), byte-exact
 * bodies, built-in endpoints, metrics, keep-alive and the graceful drain.
 * Raw sockets play what curl will not: half-sent requests (slow-loris) and
 * NUL bytes in the request target.
 * Needs nothing external, hence label "unit".
 */
#include "harness.h"

#include "bs/error.h"
#include "bs/http.h"
#include "bs/metrics.h"
#include "bs/signals.h"

#include <curl/curl.h>
#include <jansson.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <poll.h>
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define PRODUCT     "bestays"
#define SERVICE     "test-http"
#define SMALL_LIMIT 1024
#define BIG_BODY    (64 * 1024)

/* A NULL-terminated list of request header lines. */
#define HEADERS(...) ((const char *const[]){__VA_ARGS__, NULL})

/* What the handlers saw, for the tests to check. */
static atomic_int small_runs;
static atomic_bool busy_refusals_ok;
static atomic_bool ready_flag;
static pthread_mutex_t slow_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t slow_cond = PTHREAD_COND_INITIALIZER;
static bool slow_started;
static bool gate_open; /* /gate answers once the test opens it */

static struct bs_http_server *server;
static struct bs_metrics *metrics;

/* Handlers */

static void handle_hello(struct bs_http_request *req)
{
    bs_http_respond_json_text(req, 200, "{\"hello\":\"world\"}");
}

static void handle_echo(struct bs_http_request *req)
{
    if (req->body[req->body_len] != '\0') {
        bs_http_respond_error(req, 500, "no_nul", "body not NUL-terminated");
        return;
    }
    bs_http_respond(req, 200, "application/octet-stream", req->body,
                    req->body_len);
}

static void handle_small(struct bs_http_request *req)
{
    atomic_fetch_add(&small_runs, 1);
    bs_http_respond_json_text(req, 200, "{}");
}

static void handle_item(struct bs_http_request *req)
{
    const char *q = bs_http_request_query(req, "q");
    const char *header = bs_http_request_header(req, "x-test-header");
    json_t *body = json_pack(
        "{s:s,s:s?,s:s?,s:s,s:s,s:s?}", "id", bs_http_request_param(req, "id"),
        "q", q, "header", header, "remote", req->remote_addr, "route",
        req->route, "missing", bs_http_request_param(req, "nope"));

    bs_http_respond_json(req, 200, body);
    json_decref(body);
}

static void handle_files(struct bs_http_request *req)
{
    json_t *body = json_pack("{s:s}", "rest", bs_http_request_param(req, "*"));

    bs_http_respond_json(req, 200, body);
    json_decref(body);
}

static void handle_busy(struct bs_http_request *req)
{
    bool refused;

    bs_http_response_header(req, "Retry-After", "5");
    bs_http_respond_error(req, 503, "unavailable", "try again later");

    /* A second answer and the layer's own or unsafe headers are refused;
     * checked by the test (CUnit is not for this thread). */
    refused = bs_http_respond_json_text(req, 200, "{}") == BS_EINVAL &&
              bs_http_response_header(req, "X-Product", "other") == BS_EINVAL &&
              bs_http_response_header(req, "Bad\nName", "v") == BS_EINVAL &&
              bs_http_response_header(req, "X-Ok", "a\r\nb") == BS_EINVAL;
    atomic_store(&busy_refusals_ok, refused);
}

static void handle_silent(struct bs_http_request *req)
{
    (void)req; /* answers nothing: the layer must send a 500 */
}

static void handle_slow(struct bs_http_request *req)
{
    struct timespec pause = {0, 300 * 1000000L};

    pthread_mutex_lock(&slow_lock);
    slow_started = true;
    pthread_cond_broadcast(&slow_cond);
    pthread_mutex_unlock(&slow_lock);

    nanosleep(&pause, NULL);
    bs_http_respond_json_text(req, 200, "{\"slow\":true}");
}

static void handle_gate(struct bs_http_request *req)
{
    pthread_mutex_lock(&slow_lock);
    slow_started = true;
    pthread_cond_broadcast(&slow_cond);
    while (!gate_open)
        pthread_cond_wait(&slow_cond, &slow_lock);
    pthread_mutex_unlock(&slow_lock);
    bs_http_respond_json_text(req, 200, "{\"gate\":true}");
}

static bool check_ready(void *ctx, json_t *not_ready)
{
    if (atomic_load(&ready_flag))
        return true;
    json_object_set_new(not_ready, "broker", json_string("unreachable"));
    return false;
}

static const struct bs_http_route routes[] = {
    {"GET", "/hello", handle_hello, 0},
    {"POST", "/echo", handle_echo, 0},
    {"POST", "/small", handle_small, SMALL_LIMIT},
    {"GET", "/items/{id}", handle_item, 0},
    {"DELETE", "/items/{id}", handle_small, 0},
    {"GET", "/files/*", handle_files, 0},
    {"POST", "/busy", handle_busy, 0},
    {"GET", "/silent", handle_silent, 0},
    {"GET", "/slow", handle_slow, 0},
    {"GET", "/gate", handle_gate, 0},
};

/* Server */

static void server_up_with(unsigned per_ip_connection_limit,
                           unsigned connection_timeout_s)
{
    struct bs_http_config config = {
        .address = "127.0.0.1",
        .port = 0,
        .product = PRODUCT,
        .service = SERVICE,
        .routes = routes,
        .route_count = sizeof(routes) / sizeof(routes[0]),
        .builtin_endpoints = true,
        .ready = check_ready,
        .per_ip_connection_limit = per_ip_connection_limit,
        .connection_timeout_s = connection_timeout_s,
    };
    char errstr[256] = "";

    atomic_store(&small_runs, 0);
    atomic_store(&ready_flag, true);
    slow_started = false;
    gate_open = false;
    metrics = bs_metrics_new(PRODUCT, SERVICE);
    config.metrics = metrics;
    BS_ASSERT_INT_EQ(
        bs_http_server_start(&config, &server, errstr, sizeof(errstr)), BS_OK);
    BS_ASSERT_STR_EQ(errstr, "");
    CU_ASSERT_NOT_EQUAL(bs_http_server_port(server), 0);
}

static void server_up_limited(unsigned per_ip_connection_limit)
{
    server_up_with(per_ip_connection_limit, 0);
}

static void server_up(void)
{
    server_up_limited(0);
}

static void server_down(void)
{
    bs_http_server_free(server);
    bs_metrics_free(metrics);
    server = NULL;
    metrics = NULL;
}

/* Client */

struct call {
    const char *method; /* NULL: GET */
    const char *path;
    const char *const *headers; /* NULL-terminated "Name: value" lines */
    const void *body;
    size_t body_len;
    bool chunked; /* send the body with Transfer-Encoding: chunked */
};

struct reply {
    CURLcode result;
    long status;
    long connects;
    char *body;
    size_t body_len;
    char headers[8192];
    size_t headers_len;
};

struct upload {
    const char *data;
    size_t len;
    size_t sent;
};

static size_t on_body(char *data, size_t size, size_t n, void *arg)
{
    struct reply *reply = arg;
    char *grown = realloc(reply->body, reply->body_len + size * n + 1);

    if (!grown)
        return 0;
    memcpy(grown + reply->body_len, data, size * n);
    reply->body = grown;
    reply->body_len += size * n;
    reply->body[reply->body_len] = '\0';
    return size * n;
}

/* Keeps the header block of the final response (a 100 Continue resets). */
static size_t on_header(char *data, size_t size, size_t n, void *arg)
{
    struct reply *reply = arg;
    size_t len = size * n;

    if (len >= 5 && strncmp(data, "HTTP/", 5) == 0)
        reply->headers_len = 0;
    if (reply->headers_len + len < sizeof(reply->headers)) {
        memcpy(reply->headers + reply->headers_len, data, len);
        reply->headers_len += len;
        reply->headers[reply->headers_len] = '\0';
    }
    return len;
}

/* Sends the upload in 1000-byte pieces, so it spans many chunks. */
static size_t on_read(char *buffer, size_t size, size_t n, void *arg)
{
    struct upload *upload = arg;
    size_t len = upload->len - upload->sent;

    if (len > size * n)
        len = size * n;
    if (len > 1000)
        len = 1000;
    memcpy(buffer, upload->data + upload->sent, len);
    upload->sent += len;
    return len;
}

static struct curl_slist *call_headers(const struct call *call)
{
    struct curl_slist *list = NULL;

    for (size_t i = 0; call->headers && call->headers[i]; i++)
        list = curl_slist_append(list, call->headers[i]);
    if (call->chunked) {
        list = curl_slist_append(list, "Transfer-Encoding: chunked");
        list = curl_slist_append(list, "Expect:");
    }
    return list;
}

static void call_body(CURL *curl, const struct call *call,
                      struct upload *upload)
{
    if (!call->body)
        return;
    curl_easy_setopt(curl, CURLOPT_POST, 1L);
    if (call->chunked) {
        *upload = (struct upload){call->body, call->body_len, 0};
        curl_easy_setopt(curl, CURLOPT_READFUNCTION, on_read);
        curl_easy_setopt(curl, CURLOPT_READDATA, upload);
        return;
    }
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, call->body);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE,
                     (curl_off_t)call->body_len);
}

/* Runs one request on `curl` (kept for keep-alive) or on a new handle. */
static void http_call_on(CURL *curl, unsigned port, const struct call *call,
                         struct reply *reply)
{
    CURL *own = curl ? NULL : curl_easy_init();
    struct curl_slist *headers = call_headers(call);
    struct upload upload;
    char url[512];

    memset(reply, 0, sizeof(*reply));
    curl = curl ? curl : own;
    snprintf(url, sizeof(url), "http://127.0.0.1:%u%s", port, call->path);
    curl_easy_reset(curl);
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, reply);
    curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(curl, CURLOPT_HEADERDATA, reply);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT, 30L);
    call_body(curl, call, &upload);
    if (call->method && strcmp(call->method, "HEAD") == 0)
        curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);
    else if (call->method)
        curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, call->method);

    reply->result = curl_easy_perform(curl);
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &reply->status);
    curl_easy_getinfo(curl, CURLINFO_NUM_CONNECTS, &reply->connects);
    curl_slist_free_all(headers);
    if (own)
        curl_easy_cleanup(own);
}

static void http_call(const struct call *call, struct reply *reply)
{
    http_call_on(NULL, bs_http_server_port(server), call, reply);
}

static void reply_free(struct reply *reply)
{
    free(reply->body);
    reply->body = NULL;
}

/* The value of a response header (last one wins), or NULL. */
static const char *reply_header(const struct reply *reply, const char *name,
                                char *buf, size_t size)
{
    const char *found = NULL;
    size_t name_len = strlen(name);

    for (const char *line = reply->headers; *line;) {
        const char *end = strstr(line, "\r\n");
        size_t len = end ? (size_t)(end - line) : strlen(line);

        if (len > name_len && strncasecmp(line, name, name_len) == 0 &&
            line[name_len] == ':') {
            const char *value = line + name_len + 1;

            while (*value == ' ')
                value++;
            snprintf(buf, size, "%.*s", (int)(line + len - value), value);
            found = buf;
        }
        line += len + (end ? 2 : 0);
    }
    return found;
}

static json_t *reply_json(const struct reply *reply)
{
    json_t *json =
        json_loadb(reply->body ? reply->body : "", reply->body_len, 0, NULL);

    CU_ASSERT_PTR_NOT_NULL(json);
    return json;
}

static const char *json_path_string(json_t *json, const char *outer,
                                    const char *inner)
{
    json_t *value = json_object_get(json_object_get(json, outer), inner);

    return json_string_value(value) ? json_string_value(value) : "(none)";
}

/* The layer's headers: X-Product always, X-Request-Id always. */
static void assert_layer_headers(const struct reply *reply)
{
    char buf[256];

    BS_ASSERT_STR_EQ(reply_header(reply, "X-Product", buf, sizeof(buf)),
                     PRODUCT);
    CU_ASSERT_PTR_NOT_NULL(
        reply_header(reply, "X-Request-Id", buf, sizeof(buf)));
}

/* A JSON error body with `code` and the response's request id. */
static void assert_json_error(const struct reply *reply, long status,
                              const char *code)
{
    char content_type[128];
    char request_id[256];
    json_t *json;

    BS_ASSERT_INT_EQ(reply->status, status);
    assert_layer_headers(reply);
    BS_ASSERT_STR_EQ(
        reply_header(reply, "Content-Type", content_type, sizeof(content_type)),
        "application/json");
    json = reply_json(reply);
    BS_ASSERT_STR_EQ(json_path_string(json, "error", "code"), code);
    BS_ASSERT_STR_EQ(
        json_path_string(json, "error", "request_id"),
        reply_header(reply, "X-Request-Id", request_id, sizeof(request_id)));
    CU_ASSERT_NOT_EQUAL(
        strcmp(json_path_string(json, "error", "message"), "(none)"), 0);
    json_decref(json);
}

static bool is_generated_id(const char *id)
{
    if (!id || strlen(id) != 32)
        return false;
    for (const char *p = id; *p; p++)
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
            return false;
    return true;
}

/* Tests */

static void test_get_and_post_routes_answer_with_product_and_request_id(void)
{
    struct reply reply;
    char buf[256];

    server_up();
    http_call(&(struct call){.path = "/hello"}, &reply);
    BS_ASSERT_INT_EQ(reply.result, CURLE_OK);
    BS_ASSERT_INT_EQ(reply.status, 200);
    BS_ASSERT_STR_EQ(reply.body, "{\"hello\":\"world\"}");
    assert_layer_headers(&reply);
    BS_ASSERT_STR_EQ(reply_header(&reply, "Content-Type", buf, sizeof(buf)),
                     "application/json");
    CU_ASSERT_TRUE(
        is_generated_id(reply_header(&reply, "X-Request-Id", buf, 256)));
    reply_free(&reply);

    http_call(&(struct call){.method = "POST",
                             .path = "/echo",
                             .body = "{\"a\":1}",
                             .body_len = 7},
              &reply);
    BS_ASSERT_INT_EQ(reply.status, 200);
    BS_ASSERT_STR_EQ(reply.body, "{\"a\":1}");
    assert_layer_headers(&reply);
    reply_free(&reply);
    server_down();
}

static void test_sane_request_id_is_echoed(void)
{
    char long_id[BS_HTTP_REQUEST_ID_MAX + 1];
    char line[300];
    char buf[300];
    struct reply reply;

    server_up();
    http_call(&(struct call){.path = "/hello",
                             .headers = HEADERS("X-Request-Id: Ab-1_2.z")},
              &reply);
    BS_ASSERT_STR_EQ(reply_header(&reply, "X-Request-Id", buf, sizeof(buf)),
                     "Ab-1_2.z");
    reply_free(&reply);

    /* Exactly 128 characters is still sane. */
    memset(long_id, 'a', BS_HTTP_REQUEST_ID_MAX);
    long_id[BS_HTTP_REQUEST_ID_MAX] = '\0';
    snprintf(line, sizeof(line), "X-Request-Id: %s", long_id);
    http_call(&(struct call){.path = "/nope", .headers = HEADERS(line)},
              &reply);
    BS_ASSERT_STR_EQ(reply_header(&reply, "X-Request-Id", buf, sizeof(buf)),
                     long_id);
    assert_json_error(&reply, 404, "not_found");
    reply_free(&reply);
    server_down();
}

static void test_insane_request_id_is_replaced(void)
{
    char too_long[BS_HTTP_REQUEST_ID_MAX + 20];
    const char *lines[] = {too_long, "X-Request-Id: has space",
                           "X-Request-Id: a/b", "X-Request-Id: <script>",
                           "X-Request-Id;"};
    char first[64] = "";
    char buf[300];
    struct reply reply;

    snprintf(too_long, sizeof(too_long), "X-Request-Id: %0129d", 7);
    server_up();
    for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
        const char *id;

        http_call(
            &(struct call){.path = "/hello", .headers = HEADERS(lines[i])},
            &reply);
        BS_ASSERT_INT_EQ(reply.status, 200);
        id = reply_header(&reply, "X-Request-Id", buf, sizeof(buf));
        CU_ASSERT_TRUE(is_generated_id(id));
        CU_ASSERT_NOT_EQUAL(strcmp(first, id ? id : ""), 0);
        snprintf(first, sizeof(first), "%s", id ? id : "");
        reply_free(&reply);
    }
    server_down();
}

static void test_unknown_path_is_404_json(void)
{
    struct reply reply;

    server_up();
    http_call(&(struct call){.path = "/nope"}, &reply);
    assert_json_error(&reply, 404, "not_found");
    reply_free(&reply);

    /* A {id} segment must be present and a single segment. */
    http_call(&(struct call){.path = "/items/"}, &reply);
    assert_json_error(&reply, 404, "not_found");
    reply_free(&reply);
    http_call(&(struct call){.path = "/items/1/2"}, &reply);
    assert_json_error(&reply, 404, "not_found");
    reply_free(&reply);
    server_down();
}

static void test_wrong_method_is_405_with_allow(void)
{
    struct reply reply;
    char allow[128];

    server_up();
    http_call(
        &(struct call){
            .method = "POST", .path = "/hello", .body = "x", .body_len = 1},
        &reply);
    assert_json_error(&reply, 405, "method_not_allowed");
    BS_ASSERT_STR_EQ(reply_header(&reply, "Allow", allow, sizeof(allow)),
                     "GET, HEAD");
    reply_free(&reply);

    http_call(&(struct call){.method = "PUT", .path = "/items/7"}, &reply);
    assert_json_error(&reply, 405, "method_not_allowed");
    BS_ASSERT_STR_EQ(reply_header(&reply, "Allow", allow, sizeof(allow)),
                     "GET, HEAD, DELETE");
    reply_free(&reply);
    server_down();
}

static void test_head_is_answered_by_get_route_without_body(void)
{
    struct reply reply;

    server_up();
    http_call(&(struct call){.method = "HEAD", .path = "/hello"}, &reply);
    BS_ASSERT_INT_EQ(reply.result, CURLE_OK);
    BS_ASSERT_INT_EQ(reply.status, 200);
    BS_ASSERT_INT_EQ(reply.body_len, 0);
    assert_layer_headers(&reply);
    reply_free(&reply);
    server_down();
}

static void test_declared_body_over_limit_is_413_without_running_handler(void)
{
    char *big = calloc(1, BIG_BODY);
    struct reply reply;
    char connection[64];

    server_up();
    memset(big, 'x', BIG_BODY);
    http_call(&(struct call){.method = "POST",
                             .path = "/small",
                             .headers = HEADERS("Expect: 100-continue"),
                             .body = big,
                             .body_len = BIG_BODY},
              &reply);
    assert_json_error(&reply, 413, "body_too_large");
    BS_ASSERT_INT_EQ(atomic_load(&small_runs), 0);

    /* The unread body cannot stay on the connection. */
    BS_ASSERT_STR_EQ(
        reply_header(&reply, "Connection", connection, sizeof(connection)),
        "close");
    reply_free(&reply);

    /* Exactly the limit is accepted. */
    http_call(&(struct call){.method = "POST",
                             .path = "/small",
                             .body = big,
                             .body_len = SMALL_LIMIT},
              &reply);
    BS_ASSERT_INT_EQ(reply.status, 200);
    BS_ASSERT_INT_EQ(atomic_load(&small_runs), 1);
    reply_free(&reply);
    server_down();
    free(big);
}

static void test_chunked_body_over_limit_is_413_without_running_handler(void)
{
    char *big = calloc(1, BIG_BODY);
    struct reply reply;

    server_up();
    memset(big, 'y', BIG_BODY);
    http_call(&(struct call){.method = "POST",
                             .path = "/small",
                             .body = big,
                             .body_len = BIG_BODY,
                             .chunked = true},
              &reply);
    BS_ASSERT_INT_EQ(reply.result, CURLE_OK);
    assert_json_error(&reply, 413, "body_too_large");
    BS_ASSERT_INT_EQ(atomic_load(&small_runs), 0);
    reply_free(&reply);
    server_down();
    free(big);
}

static void test_body_reaches_handler_byte_for_byte(void)
{
    unsigned char bytes[4 * 256 + 4];
    struct reply reply;

    for (size_t i = 0; i < 4 * 256; i++)
        bytes[i] = (unsigned char)(i % 256); /* NULs, CR, LF, 0xff ... */
    memcpy(bytes + 4 * 256, "\r\n\0\n", 4);

    server_up();
    http_call(&(struct call){.method = "POST",
                             .path = "/echo",
                             .body = bytes,
                             .body_len = sizeof(bytes)},
              &reply);
    BS_ASSERT_INT_EQ(reply.status, 200);
    BS_ASSERT_INT_EQ(reply.body_len, sizeof(bytes));
    CU_ASSERT_EQUAL(memcmp(reply.body, bytes, sizeof(bytes)), 0);
    reply_free(&reply);

    /* The same bytes sent chunked arrive the same. */
    http_call(&(struct call){.method = "POST",
                             .path = "/echo",
                             .body = bytes,
                             .body_len = sizeof(bytes),
                             .chunked = true},
              &reply);
    BS_ASSERT_INT_EQ(reply.status, 200);
    BS_ASSERT_INT_EQ(reply.body_len, sizeof(bytes));
    CU_ASSERT_EQUAL(memcmp(reply.body, bytes, sizeof(bytes)), 0);
    reply_free(&reply);

    /* An empty body is "" to the handler. */
    http_call(
        &(struct call){
            .method = "POST", .path = "/echo", .body = "", .body_len = 0},
        &reply);
    BS_ASSERT_INT_EQ(reply.status, 200);
    BS_ASSERT_INT_EQ(reply.body_len, 0);
    reply_free(&reply);
    server_down();
}

static void test_handler_reads_params_query_headers_and_address(void)
{
    struct reply reply;
    json_t *json;

    server_up();
    http_call(&(struct call){.path = "/items/42?q=hello%20world",
                             .headers = HEADERS("X-TEST-HEADER: v1")},
              &reply);
    BS_ASSERT_INT_EQ(reply.status, 200);
    json = reply_json(&reply);
    BS_ASSERT_STR_EQ(json_string_value(json_object_get(json, "id")), "42");
    BS_ASSERT_STR_EQ(json_string_value(json_object_get(json, "q")),
                     "hello world");
    BS_ASSERT_STR_EQ(json_string_value(json_object_get(json, "header")), "v1");
    BS_ASSERT_STR_EQ(json_string_value(json_object_get(json, "remote")),
                     "127.0.0.1");
    BS_ASSERT_STR_EQ(json_string_value(json_object_get(json, "route")),
                     "/items/{id}");
    CU_ASSERT_TRUE(json_is_null(json_object_get(json, "missing")));
    json_decref(json);
    reply_free(&reply);

    /* A trailing * takes the rest of the path, empty included. */
    http_call(&(struct call){.path = "/files/a/b.txt"}, &reply);
    BS_ASSERT_STR_EQ(reply.body, "{\"rest\":\"a/b.txt\"}");
    reply_free(&reply);
    http_call(&(struct call){.path = "/files/"}, &reply);
    BS_ASSERT_STR_EQ(reply.body, "{\"rest\":\"\"}");
    reply_free(&reply);
    server_down();
}

static void test_extra_headers_and_single_answer(void)
{
    struct reply reply;
    char buf[64];

    server_up();
    http_call(
        &(struct call){
            .method = "POST", .path = "/busy", .body = "{}", .body_len = 2},
        &reply);
    assert_json_error(&reply, 503, "unavailable");
    BS_ASSERT_STR_EQ(reply_header(&reply, "Retry-After", buf, sizeof(buf)),
                     "5");
    CU_ASSERT_TRUE(atomic_load(&busy_refusals_ok));
    reply_free(&reply);
    server_down();
}

static void test_handler_without_answer_gives_500_json(void)
{
    struct reply reply;

    server_up();
    http_call(&(struct call){.path = "/silent"}, &reply);
    assert_json_error(&reply, 500, "internal_error");
    reply_free(&reply);
    server_down();
}

static void test_healthz_and_readyz_report_state(void)
{
    struct reply reply;
    json_t *json;

    server_up();
    http_call(&(struct call){.path = "/healthz"}, &reply);
    BS_ASSERT_INT_EQ(reply.status, 200);
    BS_ASSERT_STR_EQ(reply.body, "{\"status\":\"ok\"}");
    assert_layer_headers(&reply);
    reply_free(&reply);

    http_call(&(struct call){.path = "/readyz"}, &reply);
    BS_ASSERT_INT_EQ(reply.status, 200);
    BS_ASSERT_STR_EQ(reply.body, "{\"status\":\"ready\"}");
    reply_free(&reply);

    /* Not ready: 503 naming the dependency. */
    atomic_store(&ready_flag, false);
    http_call(&(struct call){.path = "/readyz"}, &reply);
    assert_json_error(&reply, 503, "not_ready");
    json = reply_json(&reply);
    BS_ASSERT_STR_EQ(json_path_string(json, "not_ready", "broker"),
                     "unreachable");
    BS_ASSERT_STR_EQ(json_path_string(json, "error", "message"),
                     "not ready: broker");
    json_decref(json);
    reply_free(&reply);
    server_down();
}

static void assert_contains(const char *text, const char *expected)
{
    if (!strstr(text, expected))
        fprintf(stderr, "\nmissing: %s\nin:\n%s\n", expected, text);
    CU_ASSERT_PTR_NOT_NULL(strstr(text, expected));
}

static void test_metrics_count_requests_by_route_and_status(void)
{
    struct reply reply;
    char buf[128];

    server_up();
    http_call(&(struct call){.path = "/hello"}, &reply);
    reply_free(&reply);
    http_call(&(struct call){.path = "/hello"}, &reply);
    reply_free(&reply);
    http_call(&(struct call){.path = "/secret-token-123"}, &reply);
    reply_free(&reply);
    http_call(&(struct call){.method = "DELETE", .path = "/hello"}, &reply);
    reply_free(&reply);

    http_call(&(struct call){.path = "/metrics"}, &reply);
    BS_ASSERT_INT_EQ(reply.status, 200);
    BS_ASSERT_STR_EQ(reply_header(&reply, "Content-Type", buf, sizeof(buf)),
                     "text/plain; version=0.0.4; charset=utf-8");
    assert_layer_headers(&reply);
    assert_contains(reply.body, "# TYPE bs_http_requests_total counter\n");
    assert_contains(reply.body,
                    "bs_http_requests_total{product=\"bestays\","
                    "service=\"test-http\",method=\"GET\",route=\"/hello\","
                    "status=\"200\"} 2\n");
    assert_contains(reply.body, "bs_http_requests_total{product=\"bestays\","
                                "service=\"test-http\",method=\"GET\","
                                "route=\"unmatched\",status=\"404\"} 1\n");
    assert_contains(reply.body, "bs_http_requests_total{product=\"bestays\","
                                "service=\"test-http\",method=\"DELETE\","
                                "route=\"/hello\",status=\"405\"} 1\n");
    assert_contains(reply.body, "bs_http_request_duration_seconds_count{"
                                "product=\"bestays\",service=\"test-http\","
                                "route=\"/hello\"} 3\n");
    CU_ASSERT_PTR_NULL(strstr(reply.body, "secret-token"));
    reply_free(&reply);
    server_down();
}

static void test_keep_alive_serves_several_requests_on_one_connection(void)
{
    CURL *curl = curl_easy_init();
    struct reply reply;

    server_up();
    for (int i = 0; i < 5; i++) {
        http_call_on(curl, bs_http_server_port(server),
                     &(struct call){.path = i % 2 ? "/healthz" : "/hello"},
                     &reply);
        BS_ASSERT_INT_EQ(reply.status, 200);
        BS_ASSERT_INT_EQ(reply.connects, i == 0 ? 1 : 0);
        reply_free(&reply);
    }

    /* An error answered before the body keeps the connection too. */
    http_call_on(curl, bs_http_server_port(server),
                 &(struct call){.path = "/nope"}, &reply);
    BS_ASSERT_INT_EQ(reply.status, 404);
    BS_ASSERT_INT_EQ(reply.connects, 0);
    reply_free(&reply);
    curl_easy_cleanup(curl);
    server_down();
}

static void test_per_address_limit_refuses_a_second_connection(void)
{
    CURL *first = curl_easy_init();
    struct reply reply;

    server_up_limited(1);
    http_call_on(first, bs_http_server_port(server),
                 &(struct call){.path = "/hello"}, &reply);
    BS_ASSERT_INT_EQ(reply.status, 200);
    reply_free(&reply);

    /* `first` keeps its idle keep-alive connection open. */
    http_call(&(struct call){.path = "/hello"}, &reply);
    CU_ASSERT_NOT_EQUAL(reply.result, CURLE_OK);
    CU_ASSERT_NOT_EQUAL(reply.status, 200);
    reply_free(&reply);

    curl_easy_cleanup(first);
    server_down();
}

/* Raw sockets, for what a well-behaved client never sends. */

#define RAW_WAIT_MS 20000 /* a generous bound, never the thing tested */

static int raw_connect(unsigned port)
{
    struct sockaddr_in addr = {.sin_family = AF_INET,
                               .sin_port = htons((uint16_t)port)};
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
    CU_ASSERT_FATAL(fd >= 0);
    CU_ASSERT_FATAL(connect(fd, (struct sockaddr *)&addr, sizeof(addr)) == 0);
    return fd;
}

static void raw_send(int fd, const char *data, size_t len)
{
    CU_ASSERT_EQUAL(send(fd, data, len, MSG_NOSIGNAL), (ssize_t)len);
}

/*
 * Reads until the server closes the connection, keeping up to size - 1
 * bytes (NUL-terminated). Returns false when the server kept it open for
 * RAW_WAIT_MS.
 */
static bool raw_read_until_closed(int fd, char *buf, size_t size)
{
    struct timespec start, now;
    size_t used = 0;

    clock_gettime(CLOCK_MONOTONIC, &start);
    for (;;) {
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        char chunk[4096];
        ssize_t n;
        long waited;

        clock_gettime(CLOCK_MONOTONIC, &now);
        waited = (now.tv_sec - start.tv_sec) * 1000 +
                 (now.tv_nsec - start.tv_nsec) / 1000000;
        if (waited >= RAW_WAIT_MS ||
            poll(&pfd, 1, (int)(RAW_WAIT_MS - waited)) <= 0)
            break;
        n = recv(fd, chunk, sizeof(chunk), 0);
        if (n == 0 || (n < 0 && errno == ECONNRESET)) {
            buf[used] = '\0';
            return true;
        }
        if (n < 0)
            break;
        if (used + (size_t)n < size) {
            memcpy(buf + used, chunk, (size_t)n);
            used += (size_t)n;
        }
    }
    buf[used] = '\0';
    return false;
}

/* Reads one response with a Content-Length body (keep-alive). */
static bool raw_read_response(int fd, char *buf, size_t size)
{
    size_t used = 0;

    while (used + 1 < size) {
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        const char *end, *length;
        ssize_t n;

        if (poll(&pfd, 1, RAW_WAIT_MS) <= 0)
            return false;
        n = recv(fd, buf + used, size - 1 - used, 0);
        if (n <= 0)
            return false;
        used += (size_t)n;
        buf[used] = '\0';
        end = strstr(buf, "\r\n\r\n");
        length = strstr(buf, "\r\nContent-Length: ");
        if (end && length &&
            used >= (size_t)(end + 4 - buf) + strtoul(length + 18, NULL, 10))
            return true;
    }
    return false;
}

/* Sends one raw request (which should say Connection: close) and returns
 * what came back before the server closed. */
static bool raw_exchange(const char *request, size_t len, char *reply,
                         size_t size)
{
    int fd = raw_connect(bs_http_server_port(server));
    bool closed;

    raw_send(fd, request, len);
    closed = raw_read_until_closed(fd, reply, size);
    close(fd);
    return closed;
}

#define RAW(literal) literal, sizeof(literal) - 1

static void test_slow_and_idle_connections_are_closed(void)
{
    static const struct {
        const char *data;
        size_t len;
    } partial[] = {
        {RAW("")}, /* connects, then says nothing */
        {RAW("GET /hel")},
        {RAW("GET /hello HTTP/1.1\r\nHost: x\r\nX-Slow: ")},
        {RAW("POST /small HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n"
             "abc")},
        {RAW("GET /hello HTTP/1.1\r\nHost: x\r\n\r\n")}, /* then idles */
    };
    int fds[sizeof(partial) / sizeof(partial[0])];
    char reply[4096];

    server_up_with(0, 1);
    for (size_t i = 0; i < sizeof(fds) / sizeof(fds[0]); i++) {
        fds[i] = raw_connect(bs_http_server_port(server));
        if (partial[i].len)
            raw_send(fds[i], partial[i].data, partial[i].len);
    }
    /* Each is closed by the server, well before the test's own bound. */
    for (size_t i = 0; i < sizeof(fds) / sizeof(fds[0]); i++) {
        CU_ASSERT_TRUE(raw_read_until_closed(fds[i], reply, sizeof(reply)));
        close(fds[i]);
    }
    /* The complete request was answered before its connection idled out;
     * the half-sent body never reached its handler. */
    CU_ASSERT_PTR_NOT_NULL(strstr(reply, "HTTP/1.1 200"));
    BS_ASSERT_INT_EQ(atomic_load(&small_runs), 0);
    server_down();
}

static void test_keep_alive_client_is_served_under_a_short_timeout(void)
{
    CURL *curl = curl_easy_init();
    struct reply reply;

    server_up_with(0, 1);
    for (int i = 0; i < 5; i++) {
        http_call_on(curl, bs_http_server_port(server),
                     &(struct call){.path = "/hello"}, &reply);
        BS_ASSERT_INT_EQ(reply.status, 200);
        BS_ASSERT_INT_EQ(reply.connects, i == 0 ? 1 : 0);
        reply_free(&reply);
    }
    curl_easy_cleanup(curl);
    server_down();
}

static void assert_raw_status(const char *request, size_t len,
                              const char *status_line)
{
    char reply[8192];

    CU_ASSERT_TRUE(raw_exchange(request, len, reply, sizeof(reply)));
    CU_ASSERT_EQUAL(strncmp(reply, status_line, strlen(status_line)), 0);
    if (strncmp(status_line, "HTTP/1.1 400", 12) == 0) {
        CU_ASSERT_PTR_NOT_NULL(strstr(reply, "\"code\":\"bad_request\""));
        CU_ASSERT_PTR_NOT_NULL(strstr(reply, "X-Product: " PRODUCT));
    }
}

static void test_nul_in_request_target_is_400(void)
{
    char reply[8192];
    int fd;

    server_up();
    /* Raw NUL bytes, in the path and in the query. */
    assert_raw_status(RAW("GET /hello\0/x HTTP/1.1\r\nHost: x\r\n"
                          "Connection: close\r\n\r\n"),
                      "HTTP/1.1 400");
    assert_raw_status(RAW("GET /hello\0 HTTP/1.1 HTTP/1.1\r\nHost: x\r\n"
                          "Connection: close\r\n\r\n"),
                      "HTTP/1.1 400");
    assert_raw_status(RAW("GET /hello?q=a\0b HTTP/1.1\r\nHost: x\r\n"
                          "Connection: close\r\n\r\n"),
                      "HTTP/1.1 400");
    /* Percent-encoded ones. */
    assert_raw_status(RAW("GET /hello%00/x HTTP/1.1\r\nHost: x\r\n"
                          "Connection: close\r\n\r\n"),
                      "HTTP/1.1 400");
    assert_raw_status(RAW("GET /items/a%00b HTTP/1.1\r\nHost: x\r\n"
                          "Connection: close\r\n\r\n"),
                      "HTTP/1.1 400");
    assert_raw_status(RAW("GET /hello?q=%00 HTTP/1.1\r\nHost: x\r\n"
                          "Connection: close\r\n\r\n"),
                      "HTTP/1.1 400");
    /* Clean targets, encoded or not, are unaffected. */
    assert_raw_status(RAW("GET /hello HTTP/1.1\r\nHost: x\r\n"
                          "Connection: close\r\n\r\n"),
                      "HTTP/1.1 200");
    CU_ASSERT_TRUE(raw_exchange(RAW("GET /items/a%41b?q=%2500 HTTP/1.1\r\n"
                                    "Host: x\r\nConnection: close\r\n\r\n"),
                                reply, sizeof(reply)));
    CU_ASSERT_EQUAL(strncmp(reply, "HTTP/1.1 200", 12), 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(reply, "\"id\":\"aAb\""));
    CU_ASSERT_PTR_NOT_NULL(strstr(reply, "\"q\":\"%00\""));

    /* Checked per request: on a keep-alive connection, a clean request
     * is served and the next one, with a NUL, refused (libmicrohttpd then
     * closes the connection, as after any error answered early). */
    fd = raw_connect(bs_http_server_port(server));
    raw_send(fd, RAW("GET /hello?q=%41 HTTP/1.1\r\nHost: x\r\n\r\n"));
    CU_ASSERT_TRUE(raw_read_response(fd, reply, sizeof(reply)));
    CU_ASSERT_EQUAL(strncmp(reply, "HTTP/1.1 200", 12), 0);
    raw_send(fd, RAW("GET /hello%00 HTTP/1.1\r\nHost: x\r\n\r\n"));
    CU_ASSERT_TRUE(raw_read_response(fd, reply, sizeof(reply)));
    CU_ASSERT_EQUAL(strncmp(reply, "HTTP/1.1 400", 12), 0);
    close(fd);
    server_down();
}

struct slow_call {
    pthread_t thread;
    unsigned port;
    const char *path;
    struct reply reply;
};

static void *slow_call_run(void *arg)
{
    struct slow_call *slow = arg;

    http_call_on(NULL, slow->port, &(struct call){.path = slow->path},
                 &slow->reply);
    return NULL;
}

struct drain_call {
    pthread_t thread;
    unsigned timeout_ms;
    int result;
};

static void *drain_call_run(void *arg)
{
    struct drain_call *drain = arg;

    drain->result = bs_http_server_drain(server, drain->timeout_ms);
    return NULL;
}

static void gate_open_now(void)
{
    pthread_mutex_lock(&slow_lock);
    gate_open = true;
    pthread_cond_broadcast(&slow_cond);
    pthread_mutex_unlock(&slow_lock);
}

/* Connects until the port refuses; true when it did. A bounded wait for
 * the drain to begin, not a timing assertion. */
static bool port_refuses_soon(unsigned port)
{
    struct timespec pause = {0, 10 * 1000000L};
    struct reply reply;

    for (int i = 0; i < 3000; i++) {
        http_call_on(NULL, port, &(struct call){.path = "/healthz"}, &reply);
        reply_free(&reply);
        if (reply.result == CURLE_COULDNT_CONNECT)
            return true;
        nanosleep(&pause, NULL);
    }
    return false;
}

static void wait_for_slow_handler(void)
{
    struct timespec deadline;

    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += 30; /* a guard against hanging, not an assertion */
    pthread_mutex_lock(&slow_lock);
    while (!slow_started &&
           pthread_cond_timedwait(&slow_cond, &slow_lock, &deadline) == 0)
        ;
    CU_ASSERT_TRUE(slow_started);
    pthread_mutex_unlock(&slow_lock);
}

static void test_drain_finishes_in_flight_request_then_refuses(void)
{
    struct slow_call slow = {0};
    struct reply reply;
    unsigned port;

    server_up();
    port = bs_http_server_port(server);
    slow.port = port;
    slow.path = "/slow";
    BS_ASSERT_INT_EQ(pthread_create(&slow.thread, NULL, slow_call_run, &slow),
                     0);
    wait_for_slow_handler();

    BS_ASSERT_INT_EQ(bs_http_server_drain(server, 10000), BS_OK);
    pthread_join(slow.thread, NULL);
    BS_ASSERT_INT_EQ(slow.reply.result, CURLE_OK);
    BS_ASSERT_INT_EQ(slow.reply.status, 200);
    BS_ASSERT_STR_EQ(slow.reply.body, "{\"slow\":true}");
    assert_layer_headers(&slow.reply);
    reply_free(&slow.reply);

    BS_ASSERT_INT_EQ(bs_http_server_port(server), 0);
    http_call_on(NULL, port, &(struct call){.path = "/hello"}, &reply);
    BS_ASSERT_INT_EQ(reply.result, CURLE_COULDNT_CONNECT);
    reply_free(&reply);
    server_down();
}

static void test_drain_refuses_new_connections_while_request_in_flight(void)
{
    struct slow_call gated = {0};
    struct drain_call drain = {.timeout_ms = 30000};

    server_up();
    gated.port = bs_http_server_port(server);
    gated.path = "/gate";
    BS_ASSERT_INT_EQ(pthread_create(&gated.thread, NULL, slow_call_run, &gated),
                     0);
    wait_for_slow_handler();
    BS_ASSERT_INT_EQ(
        pthread_create(&drain.thread, NULL, drain_call_run, &drain), 0);

    /* The gated request is still running while new connections fail. */
    CU_ASSERT_TRUE(port_refuses_soon(gated.port));
    gate_open_now();
    pthread_join(gated.thread, NULL);
    pthread_join(drain.thread, NULL);

    BS_ASSERT_INT_EQ(drain.result, BS_OK);
    BS_ASSERT_INT_EQ(gated.reply.status, 200);
    BS_ASSERT_STR_EQ(gated.reply.body, "{\"gate\":true}");
    reply_free(&gated.reply);
    server_down();
}

/*
 * Reads what the process writes to stderr (redirected into `fd`) until a
 * line holding `needle` appears, for at most 30 s. This is how the test
 * knows the drain has given up waiting, without guessing at timing.
 */
static bool stderr_shows(int fd, const char *needle)
{
    char seen[8192];
    size_t len = 0;
    struct pollfd pfd = {.fd = fd, .events = POLLIN};

    for (int waited_ms = 0; waited_ms < 30000; waited_ms += 100) {
        ssize_t got;

        if (poll(&pfd, 1, 100) <= 0)
            continue;
        if (len == sizeof(seen) - 1)
            len = 0; /* keep only recent output */
        got = read(fd, seen + len, sizeof(seen) - 1 - len);
        if (got <= 0)
            return false;
        len += (size_t)got;
        seen[len] = '\0';
        if (strstr(seen, needle))
            return true;
    }
    return false;
}

static void test_drain_reports_requests_outliving_the_timeout(void)
{
    struct slow_call gated = {0};
    struct drain_call drain = {.timeout_ms = 0};
    int log_pipe[2];
    int saved_stderr;

    server_up();
    gated.port = bs_http_server_port(server);
    gated.path = "/gate";
    BS_ASSERT_INT_EQ(pthread_create(&gated.thread, NULL, slow_call_run, &gated),
                     0);
    wait_for_slow_handler();

    /* The drain gives up waiting at once (it logs http_drain_timeout), then
     * stops the workers once the handler returns. The gate opens only after
     * that line, so the request is certainly still running when the drain
     * counts what is in flight. */
    CU_ASSERT_FATAL(pipe(log_pipe) == 0);
    fflush(stderr);
    saved_stderr = dup(STDERR_FILENO);
    dup2(log_pipe[1], STDERR_FILENO);
    BS_ASSERT_INT_EQ(
        pthread_create(&drain.thread, NULL, drain_call_run, &drain), 0);
    CU_ASSERT_TRUE(stderr_shows(log_pipe[0], "event=http_drain_timeout"));
    gate_open_now();
    pthread_join(drain.thread, NULL);
    pthread_join(gated.thread, NULL);
    fflush(stderr);
    dup2(saved_stderr, STDERR_FILENO);
    close(saved_stderr);
    close(log_pipe[0]);
    close(log_pipe[1]);

    BS_ASSERT_INT_EQ(drain.result, BS_ETIMEDOUT);
    reply_free(&gated.reply);
    server_down();
}

static void test_start_refuses_bad_config_and_busy_port(void)
{
    struct bs_http_route bad_routes[] = {{"GET", "/a/{id", handle_hello, 0}};
    struct bs_http_config config = {.product = PRODUCT,
                                    .service = SERVICE,
                                    .routes = bad_routes,
                                    .route_count = 1};
    struct bs_http_server *other = NULL;
    char errstr[256] = "";

    BS_ASSERT_INT_EQ(
        bs_http_server_start(&config, &other, errstr, sizeof(errstr)),
        BS_EINVAL);
    CU_ASSERT_PTR_NULL(other);
    CU_ASSERT_PTR_NOT_NULL(strstr(errstr, "/a/{id"));

    config.route_count = 0;
    config.product = NULL;
    BS_ASSERT_INT_EQ(
        bs_http_server_start(&config, &other, errstr, sizeof(errstr)),
        BS_EINVAL);

    /* The port of a running server is taken. */
    server_up();
    config.product = PRODUCT;
    config.port = bs_http_server_port(server);
    BS_ASSERT_INT_EQ(
        bs_http_server_start(&config, &other, errstr, sizeof(errstr)), BS_EIO);
    CU_ASSERT_PTR_NULL(other);
    CU_ASSERT_PTR_NOT_NULL(strstr(errstr, "cannot listen"));
    server_down();
}

static void test_shutdown_signal_is_waited_for(void)
{
    BS_ASSERT_INT_EQ(bs_signals_block_shutdown(), BS_OK);
    BS_ASSERT_INT_EQ(bs_signals_wait_for_shutdown(0), 0);

    raise(SIGTERM); /* blocked: stays pending until taken */
    BS_ASSERT_INT_EQ(bs_signals_wait_for_shutdown(-1), SIGTERM);
    raise(SIGINT);
    BS_ASSERT_INT_EQ(bs_signals_wait_for_shutdown(5000), SIGINT);
}

static CU_TestInfo http_tests[] = {
    {"GET and POST routes answer with product and request id",
     test_get_and_post_routes_answer_with_product_and_request_id},
    {"sane request id is echoed", test_sane_request_id_is_echoed},
    {"insane request id is replaced", test_insane_request_id_is_replaced},
    {"unknown path is 404 JSON", test_unknown_path_is_404_json},
    {"wrong method is 405 with Allow", test_wrong_method_is_405_with_allow},
    {"HEAD is answered by the GET route without body",
     test_head_is_answered_by_get_route_without_body},
    {"declared body over limit is 413 without running the handler",
     test_declared_body_over_limit_is_413_without_running_handler},
    {"chunked body over limit is 413 without running the handler",
     test_chunked_body_over_limit_is_413_without_running_handler},
    {"body reaches the handler byte for byte",
     test_body_reaches_handler_byte_for_byte},
    {"handler reads params, query, headers and address",
     test_handler_reads_params_query_headers_and_address},
    {"extra headers and a single answer", test_extra_headers_and_single_answer},
    {"handler without answer gives 500 JSON",
     test_handler_without_answer_gives_500_json},
    {"healthz and readyz report state", test_healthz_and_readyz_report_state},
    {"metrics count requests by route and status",
     test_metrics_count_requests_by_route_and_status},
    {"keep-alive serves several requests on one connection",
     test_keep_alive_serves_several_requests_on_one_connection},
    {"per-address limit refuses a second connection",
     test_per_address_limit_refuses_a_second_connection},
    {"slow and idle connections are closed",
     test_slow_and_idle_connections_are_closed},
    {"keep-alive client is served under a short timeout",
     test_keep_alive_client_is_served_under_a_short_timeout},
    {"NUL in the request target is 400", test_nul_in_request_target_is_400},
    {"drain finishes the in-flight request, then refuses",
     test_drain_finishes_in_flight_request_then_refuses},
    {"drain refuses new connections while a request is in flight",
     test_drain_refuses_new_connections_while_request_in_flight},
    {"drain reports requests outliving the timeout",
     test_drain_reports_requests_outliving_the_timeout},
    {"start refuses bad config and a busy port",
     test_start_refuses_bad_config_and_busy_port},
    {"shutdown signal is waited for", test_shutdown_signal_is_waited_for},
    CU_TEST_INFO_NULL};

static int suite_init(void)
{
    return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? 0 : 1;
}

static int suite_cleanup(void)
{
    curl_global_cleanup();
    return 0;
}

static void register_suites(void)
{
    bs_test_add_suite("http", suite_init, suite_cleanup, http_tests);
}

int main(void)
{
    return bs_test_main(register_suites);
}
