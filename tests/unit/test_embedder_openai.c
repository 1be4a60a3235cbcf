/*
 * test_embedder_openai.c - the openai embedder against an in-process HTTP
 * server (libmicrohttpd, its own threads, a free port on 127.0.0.1) that
 * plays an OpenAI-compatible /v1/embeddings endpoint: canned vectors, 500s,
 * 429 with Retry-After, slow answers (timeouts), truncated JSON, wrong
 * dimensions, wrong counts and 400. Each test scripts the answers, then
 * checks the request count (batching, retries), the Authorization header
 * and the status code the embedder returns.
 *
 * Canned vectors: the input "t<k>" gets 2.0 at position k % DIM and 0
 * elsewhere, and answers list the items in reverse order, so the test sees
 * both the reordering by "index" and the L2 normalization (1.0).
 */
#include "harness.h"

#include "bs/config.h"
#include "bs/embedder.h"
#include "bs/error.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <jansson.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define DIM        8
#define API_KEY    "sk-test-0123456789abcdef"
#define MAX_SCRIPT 16
#define MAX_SEEN   32

enum answer {
    ANSWER_OK,
    ANSWER_500,
    ANSWER_503,
    ANSWER_429, /* with Retry-After: 1 */
    ANSWER_400,
    ANSWER_401,        /* a wrong API key */
    ANSWER_SLOW,       /* OK, but after SLOW_MS (beyond the client timeout) */
    ANSWER_TRUNCATED,  /* 200 with half a JSON document */
    ANSWER_WRONG_DIM,  /* DIM + 1 values per embedding */
    ANSWER_WRONG_COUNT /* one embedding fewer than inputs */
};

#define SLOW_MS           1200
#define CLIENT_TIMEOUT_MS 300

/* The fake endpoint: the answers to give, and what it saw. */
struct fake_server {
    struct MHD_Daemon *daemon;
    unsigned short port;
    pthread_mutex_t lock;
    enum answer script[MAX_SCRIPT]; /* answers for requests 1, 2, ... */
    size_t script_len;
    enum answer otherwise; /* after the script */
    size_t requests;
    size_t inputs[MAX_SEEN];  /* input count of each request */
    double seen_at[MAX_SEEN]; /* monotonic seconds of each request */
    char authorization[MAX_SEEN][128];
    char model[64];
};

static struct fake_server server;

struct upload {
    char *data;
    size_t len;
    size_t request; /* 0-based number of this request */
};

static double now_seconds(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static enum MHD_Result send_text(struct MHD_Connection *connection,
                                 unsigned status, const char *text,
                                 const char *retry_after)
{
    struct MHD_Response *response = MHD_create_response_from_buffer(
        strlen(text), (void *)text, MHD_RESPMEM_MUST_COPY);
    enum MHD_Result result;

    MHD_add_response_header(response, "Content-Type", "application/json");
    if (retry_after)
        MHD_add_response_header(response, "Retry-After", retry_after);
    result = MHD_queue_response(connection, status, response);
    MHD_destroy_response(response);
    return result;
}

/* {"data":[...]} for the inputs of `request`, in reverse order. */
static char *canned_answer(json_t *inputs, enum answer answer)
{
    size_t count = json_array_size(inputs);
    size_t items = answer == ANSWER_WRONG_COUNT ? count - 1 : count;
    size_t dimension = answer == ANSWER_WRONG_DIM ? DIM + 1 : DIM;
    json_t *data = json_array(), *root;
    char *text;

    for (size_t n = 0; n < items; n++) {
        size_t i = count - 1 - n;
        const char *input = json_string_value(json_array_get(inputs, i));
        long k = input && input[0] == 't' ? atol(input + 1) : 0;
        json_t *embedding = json_array();

        for (size_t d = 0; d < dimension; d++)
            json_array_append_new(embedding,
                                  json_real(d == (size_t)(k % DIM) ? 2.0 : 0));
        json_array_append_new(
            data, json_pack("{s:s, s:I, s:o}", "object", "embedding", "index",
                            (json_int_t)i, "embedding", embedding));
    }
    root = json_pack("{s:o, s:s}", "data", data, "model", "fake");
    text = json_dumps(root, JSON_COMPACT);
    json_decref(root);
    return text;
}

static enum MHD_Result answer_request(struct MHD_Connection *connection,
                                      struct upload *upload)
{
    json_t *body =
        json_loadb(upload->data ? upload->data : "", upload->len, 0, NULL);
    json_t *inputs = json_object_get(body, "input");
    enum answer answer;
    enum MHD_Result result;
    char *text;

    pthread_mutex_lock(&server.lock);
    answer = upload->request < server.script_len
                 ? server.script[upload->request]
                 : server.otherwise;
    if (upload->request < MAX_SEEN)
        server.inputs[upload->request] = json_array_size(inputs);
    snprintf(server.model, sizeof(server.model), "%s",
             json_string_value(json_object_get(body, "model"))
                 ? json_string_value(json_object_get(body, "model"))
                 : "");
    pthread_mutex_unlock(&server.lock);

    switch (answer) {
    case ANSWER_500:
        result = send_text(connection, 500, "{\"error\":\"boom\"}", NULL);
        break;
    case ANSWER_503:
        result = send_text(connection, 503, "overloaded", NULL);
        break;
    case ANSWER_429:
        result = send_text(connection, 429, "{\"error\":\"slow down\"}", "1");
        break;
    case ANSWER_400:
        result =
            send_text(connection, 400,
                      "{\"error\":{\"message\":\"input too long\"}}", NULL);
        break;
    case ANSWER_401:
        result = send_text(connection, 401,
                           "{\"error\":{\"message\":\"bad key\"}}", NULL);
        break;
    case ANSWER_TRUNCATED:
        result = send_text(connection, 200,
                           "{\"data\":[{\"index\":0,\"embedding\":[0.1,", NULL);
        break;
    case ANSWER_SLOW:
        usleep(SLOW_MS * 1000);
        /* fall through */
    default:
        text = canned_answer(inputs, answer);
        result = send_text(connection, 200, text, NULL);
        free(text);
        break;
    }
    json_decref(body);
    return result;
}

/* MHD calls this once when the headers are in, then per body piece, then
 * once more with nothing left: answer then. */
static enum MHD_Result on_request(void *cls, struct MHD_Connection *connection,
                                  const char *url, const char *method,
                                  const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    struct upload *upload = *con_cls;
    enum MHD_Result result;

    (void)cls, (void)url, (void)method, (void)version;
    if (!upload) {
        const char *auth = MHD_lookup_connection_value(
            connection, MHD_HEADER_KIND, "Authorization");

        upload = calloc(1, sizeof(*upload));
        pthread_mutex_lock(&server.lock);
        upload->request = server.requests++;
        if (upload->request < MAX_SEEN) {
            server.seen_at[upload->request] = now_seconds();
            snprintf(server.authorization[upload->request], 128, "%s",
                     auth ? auth : "(none)");
        }
        pthread_mutex_unlock(&server.lock);
        *con_cls = upload;
        return MHD_YES;
    }
    if (*upload_data_size > 0) {
        upload->data = realloc(upload->data, upload->len + *upload_data_size);
        memcpy(upload->data + upload->len, upload_data, *upload_data_size);
        upload->len += *upload_data_size;
        *upload_data_size = 0;
        return MHD_YES;
    }
    result = answer_request(connection, upload);
    free(upload->data);
    free(upload);
    *con_cls = NULL;
    return result;
}

static int server_start(void)
{
    struct sockaddr_in addr = {0};
    const union MHD_DaemonInfo *info;

    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    pthread_mutex_init(&server.lock, NULL);
    server.daemon = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION, 0,
        NULL, NULL, on_request, NULL, MHD_OPTION_SOCK_ADDR, &addr,
        MHD_OPTION_END);
    if (!server.daemon)
        return 1;
    info = MHD_get_daemon_info(server.daemon, MHD_DAEMON_INFO_BIND_PORT);
    server.port = info ? info->port : 0;
    return server.port ? 0 : 1;
}

static int server_stop(void)
{
    MHD_stop_daemon(server.daemon);
    pthread_mutex_destroy(&server.lock);
    return 0;
}

/* Resets what the server saw and scripts its next answers. */
static void script(enum answer otherwise, size_t n, const enum answer *answers)
{
    pthread_mutex_lock(&server.lock);
    server.requests = 0;
    server.otherwise = otherwise;
    server.script_len = n;
    for (size_t i = 0; i < n; i++)
        server.script[i] = answers[i];
    memset(server.authorization, 0, sizeof(server.authorization));
    pthread_mutex_unlock(&server.lock);
}

static size_t requests_seen(void)
{
    size_t n;

    pthread_mutex_lock(&server.lock);
    n = server.requests;
    pthread_mutex_unlock(&server.lock);
    return n;
}

struct openai_options {
    unsigned short port;
    long batch_size;
    long max_retries;
    bool with_key;
};

/* An openai embedder pointed at the fake server, through the config. */
static struct bs_embedder *new_openai(const struct openai_options *o)
{
    static const struct bs_config_var vars[] = {BS_EMBEDDER_CONFIG_VARS};
    char url[128], batch[64], retries[64], timeout[64], dim[64];
    struct bs_config *config = NULL;
    struct bs_embedder *embedder = NULL;
    char errstr[256];

    snprintf(url, sizeof(url), "http://127.0.0.1:%u/v1/embeddings",
             (unsigned)o->port);
    snprintf(batch, sizeof(batch), "%ld", o->batch_size);
    snprintf(retries, sizeof(retries), "%ld", o->max_retries);
    snprintf(timeout, sizeof(timeout), "%d", CLIENT_TIMEOUT_MS);
    snprintf(dim, sizeof(dim), "%d", DIM);
    setenv("EMBEDDER", "openai", 1);
    setenv("EMBEDDINGS_URL", url, 1);
    setenv("EMBEDDINGS_MODEL", "test-model", 1);
    setenv("EMBEDDINGS_DIM", dim, 1);
    setenv("EMBEDDINGS_BATCH_SIZE", batch, 1);
    setenv("EMBEDDINGS_MAX_RETRIES", retries, 1);
    setenv("EMBEDDINGS_TIMEOUT_MS", timeout, 1);
    if (o->with_key)
        setenv("EMBEDDINGS_API_KEY", API_KEY, 1);
    else
        unsetenv("EMBEDDINGS_API_KEY");

    BS_ASSERT_INT_EQ(bs_config_load(&config, vars,
                                    sizeof(vars) / sizeof(vars[0]), errstr,
                                    sizeof(errstr)),
                     BS_OK);
    BS_ASSERT_INT_EQ(
        bs_embedder_from_config(config, &embedder, errstr, sizeof(errstr)),
        BS_OK);
    bs_config_free(config);
    CU_ASSERT_PTR_NOT_NULL_FATAL(embedder);
    return embedder;
}

static const char *const ten_texts[] = {"t0", "t1", "t2", "t3", "t4",
                                        "t5", "t6", "t7", "t8", "t9"};

/* Embeds `count` of ten_texts; returns the status, errstr checked for the
 * key. */
static int embed_texts(struct bs_embedder *embedder, size_t count,
                       float *vectors, char *errstr, size_t errstr_size)
{
    int result = bs_embedder_embed(embedder, ten_texts, count, vectors, errstr,
                                   errstr_size);

    CU_ASSERT_PTR_NULL(strstr(errstr, API_KEY));
    return result;
}

static void test_inputs_are_batched_and_put_back_in_order(void)
{
    struct openai_options o = {server.port, 4, 0, true};
    struct bs_embedder *embedder = new_openai(&o);
    float vectors[10 * DIM];
    char errstr[256] = "";

    script(ANSWER_OK, 0, NULL);
    BS_ASSERT_INT_EQ(embed_texts(embedder, 10, vectors, errstr, sizeof(errstr)),
                     BS_OK);
    BS_ASSERT_INT_EQ(requests_seen(), 3);
    BS_ASSERT_INT_EQ(server.inputs[0], 4);
    BS_ASSERT_INT_EQ(server.inputs[1], 4);
    BS_ASSERT_INT_EQ(server.inputs[2], 2);
    BS_ASSERT_STR_EQ(server.model, "test-model");
    for (size_t i = 0; i < 3; i++)
        BS_ASSERT_STR_EQ(server.authorization[i], "Bearer " API_KEY);
    /* row i: 1.0 (2.0 normalized) at i % DIM */
    for (size_t i = 0; i < 10; i++)
        for (size_t d = 0; d < DIM; d++)
            CU_ASSERT(vectors[i * DIM + d] == (d == i % DIM ? 1.0f : 0.0f));
    BS_ASSERT_STR_EQ(bs_embedder_model(embedder), "openai:test-model/8");
    bs_embedder_free(embedder);
}

static void test_without_a_key_no_authorization_is_sent(void)
{
    struct openai_options o = {server.port, 64, 0, false};
    struct bs_embedder *embedder = new_openai(&o);
    float vectors[3 * DIM];
    char errstr[256] = "";

    script(ANSWER_OK, 0, NULL);
    BS_ASSERT_INT_EQ(embed_texts(embedder, 3, vectors, errstr, sizeof(errstr)),
                     BS_OK);
    BS_ASSERT_INT_EQ(requests_seen(), 1);
    BS_ASSERT_INT_EQ(server.inputs[0], 3);
    BS_ASSERT_STR_EQ(server.authorization[0], "(none)");
    bs_embedder_free(embedder);
}

static void test_blank_texts_are_not_sent_and_stay_zero(void)
{
    const char *texts[] = {"t1", "  \n", "t3", ""};
    struct openai_options o = {server.port, 64, 0, true};
    struct bs_embedder *embedder = new_openai(&o);
    float vectors[4 * DIM];
    char errstr[256] = "";

    script(ANSWER_OK, 0, NULL);
    BS_ASSERT_INT_EQ(
        bs_embedder_embed(embedder, texts, 4, vectors, errstr, sizeof(errstr)),
        BS_OK);
    BS_ASSERT_INT_EQ(requests_seen(), 1);
    BS_ASSERT_INT_EQ(server.inputs[0], 2);
    CU_ASSERT(vectors[0 * DIM + 1] == 1.0f);
    CU_ASSERT(vectors[2 * DIM + 3] == 1.0f);
    for (size_t d = 0; d < DIM; d++) {
        CU_ASSERT(vectors[1 * DIM + d] == 0.0f);
        CU_ASSERT(vectors[3 * DIM + d] == 0.0f);
    }

    /* nothing to send: no request at all */
    script(ANSWER_OK, 0, NULL);
    BS_ASSERT_INT_EQ(bs_embedder_embed(embedder, texts + 1, 1, vectors, errstr,
                                       sizeof(errstr)),
                     BS_OK);
    BS_ASSERT_INT_EQ(requests_seen(), 0);
    bs_embedder_free(embedder);
}

static void test_server_errors_are_retried_until_success(void)
{
    const enum answer answers[] = {ANSWER_500, ANSWER_503};
    struct openai_options o = {server.port, 64, 3, true};
    struct bs_embedder *embedder = new_openai(&o);
    float vectors[2 * DIM];
    char errstr[256] = "";

    script(ANSWER_OK, 2, answers);
    BS_ASSERT_INT_EQ(embed_texts(embedder, 2, vectors, errstr, sizeof(errstr)),
                     BS_OK);
    BS_ASSERT_INT_EQ(requests_seen(), 3);
    CU_ASSERT(vectors[1 * DIM + 1] == 1.0f);
    /* every retry carries the key again */
    BS_ASSERT_STR_EQ(server.authorization[2], "Bearer " API_KEY);
    bs_embedder_free(embedder);
}

static void test_server_errors_through_every_retry_are_unavailable(void)
{
    struct openai_options o = {server.port, 64, 2, true};
    struct bs_embedder *embedder = new_openai(&o);
    float vectors[2 * DIM];
    char errstr[256] = "";

    script(ANSWER_500, 0, NULL);
    BS_ASSERT_INT_EQ(embed_texts(embedder, 2, vectors, errstr, sizeof(errstr)),
                     BS_EUNAVAILABLE);
    BS_ASSERT_INT_EQ(requests_seen(), 3);
    CU_ASSERT_PTR_NOT_NULL(strstr(errstr, "HTTP 500"));
    bs_embedder_free(embedder);
}

static void test_429_waits_for_retry_after(void)
{
    const enum answer answers[] = {ANSWER_429};
    struct openai_options o = {server.port, 64, 1, true};
    struct bs_embedder *embedder = new_openai(&o);
    float vectors[2 * DIM];
    char errstr[256] = "";

    script(ANSWER_OK, 1, answers);
    BS_ASSERT_INT_EQ(embed_texts(embedder, 2, vectors, errstr, sizeof(errstr)),
                     BS_OK);
    BS_ASSERT_INT_EQ(requests_seen(), 2);
    /* Retry-After: 1 was honoured (our own backoff would wait < 0.2 s) */
    CU_ASSERT(server.seen_at[1] - server.seen_at[0] >= 0.95);
    bs_embedder_free(embedder);
}

static void test_429_through_every_retry_is_unavailable(void)
{
    struct openai_options o = {server.port, 64, 1, true};
    struct bs_embedder *embedder = new_openai(&o);
    float vectors[2 * DIM];
    char errstr[256] = "";

    script(ANSWER_429, 0, NULL);
    BS_ASSERT_INT_EQ(embed_texts(embedder, 2, vectors, errstr, sizeof(errstr)),
                     BS_EUNAVAILABLE);
    BS_ASSERT_INT_EQ(requests_seen(), 2);
    bs_embedder_free(embedder);
}

static void test_slow_answers_time_out_and_are_retried(void)
{
    const enum answer answers[] = {ANSWER_SLOW};
    struct openai_options o = {server.port, 64, 1, true};
    struct bs_embedder *embedder = new_openai(&o);
    float vectors[2 * DIM];
    char errstr[256] = "";

    /* one slow answer, then a good one: recovered */
    script(ANSWER_OK, 1, answers);
    BS_ASSERT_INT_EQ(embed_texts(embedder, 2, vectors, errstr, sizeof(errstr)),
                     BS_OK);
    BS_ASSERT_INT_EQ(requests_seen(), 2);

    /* slow every time: unavailable */
    script(ANSWER_SLOW, 0, NULL);
    BS_ASSERT_INT_EQ(embed_texts(embedder, 2, vectors, errstr, sizeof(errstr)),
                     BS_EUNAVAILABLE);
    BS_ASSERT_INT_EQ(requests_seen(), 2);
    CU_ASSERT_PTR_NOT_NULL(strstr(errstr, "imed out"));
    bs_embedder_free(embedder);
}

/* A data error: one request, no retry, BS_EINVAL with `expected` in errstr. */
static void assert_data_error(enum answer answer, const char *expected)
{
    struct openai_options o = {server.port, 64, 3, true};
    struct bs_embedder *embedder = new_openai(&o);
    float vectors[3 * DIM];
    char errstr[256] = "";

    script(answer, 0, NULL);
    BS_ASSERT_INT_EQ(embed_texts(embedder, 3, vectors, errstr, sizeof(errstr)),
                     BS_EINVAL);
    BS_ASSERT_INT_EQ(requests_seen(), 1);
    if (!strstr(errstr, expected))
        BS_ASSERT_STR_EQ(errstr, expected);
    bs_embedder_free(embedder);
}

static void test_400_is_a_data_error_without_retry(void)
{
    assert_data_error(ANSWER_400, "HTTP 400");
}

/* A wrong key is the deployment's fault: the pipeline must pause, not
 * dead-letter every document. One request, no retry here (the pipeline
 * backs off and tries the batch again). */
static void test_401_is_unavailable_not_a_data_error(void)
{
    struct openai_options o = {server.port, 64, 3, true};
    struct bs_embedder *embedder = new_openai(&o);
    float vectors[3 * DIM];
    char errstr[256] = "";

    script(ANSWER_401, 0, NULL);
    BS_ASSERT_INT_EQ(embed_texts(embedder, 3, vectors, errstr, sizeof(errstr)),
                     BS_EUNAVAILABLE);
    BS_ASSERT_INT_EQ(requests_seen(), 1);
    CU_ASSERT_PTR_NOT_NULL(strstr(errstr, "HTTP 401"));
    bs_embedder_free(embedder);
}

static void test_truncated_json_is_a_data_error(void)
{
    assert_data_error(ANSWER_TRUNCATED, "not JSON");
}

static void test_wrong_dimension_is_a_data_error(void)
{
    assert_data_error(ANSWER_WRONG_DIM, "9 dimensions, EMBEDDINGS_DIM is 8");
}

static void test_wrong_count_is_a_data_error(void)
{
    assert_data_error(ANSWER_WRONG_COUNT, "2 embeddings for 3 inputs");
}

static void test_invalid_utf8_is_refused_before_any_request(void)
{
    const char *texts[] = {"t1", "bad \xff"};
    struct openai_options o = {server.port, 64, 0, true};
    struct bs_embedder *embedder = new_openai(&o);
    float vectors[2 * DIM];
    char errstr[256] = "";

    script(ANSWER_OK, 0, NULL);
    BS_ASSERT_INT_EQ(
        bs_embedder_embed(embedder, texts, 2, vectors, errstr, sizeof(errstr)),
        BS_EINVAL);
    BS_ASSERT_INT_EQ(requests_seen(), 0);
    bs_embedder_free(embedder);
}

static void test_unreachable_endpoint_is_unavailable(void)
{
    struct MHD_Daemon *closed;
    const union MHD_DaemonInfo *info;
    struct openai_options o = {0, 64, 1, true};
    struct bs_embedder *embedder;
    float vectors[2 * DIM];
    char errstr[256] = "";

    /* a port that was free a moment ago and has nobody listening now */
    closed = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD, 0, NULL, NULL,
                              on_request, NULL, MHD_OPTION_END);
    CU_ASSERT_PTR_NOT_NULL_FATAL(closed);
    info = MHD_get_daemon_info(closed, MHD_DAEMON_INFO_BIND_PORT);
    o.port = info->port;
    MHD_stop_daemon(closed);

    embedder = new_openai(&o);
    BS_ASSERT_INT_EQ(embed_texts(embedder, 2, vectors, errstr, sizeof(errstr)),
                     BS_EUNAVAILABLE);
    CU_ASSERT_PTR_NOT_NULL(strstr(errstr, "after 2 attempts"));
    bs_embedder_free(embedder);
}

static CU_TestInfo openai_tests[] = {
    {"inputs are batched and put back in order",
     test_inputs_are_batched_and_put_back_in_order},
    {"without a key no Authorization is sent",
     test_without_a_key_no_authorization_is_sent},
    {"blank texts are not sent and stay zero",
     test_blank_texts_are_not_sent_and_stay_zero},
    {"server errors are retried until success",
     test_server_errors_are_retried_until_success},
    {"server errors through every retry are unavailable",
     test_server_errors_through_every_retry_are_unavailable},
    {"429 waits for Retry-After", test_429_waits_for_retry_after},
    {"429 through every retry is unavailable",
     test_429_through_every_retry_is_unavailable},
    {"slow answers time out and are retried",
     test_slow_answers_time_out_and_are_retried},
    {"400 is a data error without retry",
     test_400_is_a_data_error_without_retry},
    {"401 is unavailable, not a data error",
     test_401_is_unavailable_not_a_data_error},
    {"truncated JSON is a data error", test_truncated_json_is_a_data_error},
    {"wrong dimension is a data error", test_wrong_dimension_is_a_data_error},
    {"wrong count is a data error", test_wrong_count_is_a_data_error},
    {"invalid UTF-8 is refused before any request",
     test_invalid_utf8_is_refused_before_any_request},
    {"unreachable endpoint is unavailable",
     test_unreachable_endpoint_is_unavailable},
    CU_TEST_INFO_NULL,
};

static void register_suites(void)
{
    bs_test_add_suite("openai embedder", server_start, server_stop,
                      openai_tests);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    return bs_test_main(register_suites);
}
