/*
 * test_embedder_openai.c - the openai embedder against an in-process fake
 * OpenAI-compatible /v1/embeddings endpoint (tests/support/embed_server.h):
 * canned vectors, 500s, 429 with Retry-After, slow answers (timeouts),
 * truncated JSON, an HTML page, wrong dimensions and counts, 400s, and
 * inputs it refuses. Each test scripts the answers, then checks the request
 * count (batching, retries, the probe), the Authorization header and the
 * status code the embedder returns. The retry delay is tested on its own
 * (embedder_openai_internal.h), without sleeping.
 *
 * Canned vectors: the input "t<k>" gets 2.0 at position k % DIM and 0
 * elsewhere, and answers list the items in reverse order, so the test sees
 * both the reordering by "index" and the L2 normalization (1.0).
 */
#include "harness.h"
#include "embed_server.h"
#include "service_harness.h"

#include "bs/config.h"
#include "bs/embedder.h"
#include "bs/error.h"

#include "embedder_openai_internal.h"

#include <curl/curl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DIM               8
#define API_KEY           "sk-test-0123456789abcdef"
#define CLIENT_TIMEOUT_MS 300
#define MARKER            "REFUSE-ME"

static struct bs_embed_server *server;

/* errstr must contain `expected`; on failure both are shown. */
#define ASSERT_CONTAINS(text, expected)                                        \
    do {                                                                       \
        if (!strstr((text), (expected)))                                       \
            BS_ASSERT_STR_EQ((text), (expected));                              \
    } while (0)

/* lo <= value <= hi, showing all three on failure. */
static void assert_in_range(long value, long lo, long hi, const char *what,
                            unsigned line)
{
    char message[256];

    snprintf(message, sizeof(message), "%s: %ld not in [%ld, %ld]", what, value,
             lo, hi);
    CU_assertImplementation(value >= lo && value <= hi, line, message, __FILE__,
                            "", CU_FALSE);
}

static int server_start(void)
{
    return bs_embed_server_start(DIM, &server);
}

static int server_stop(void)
{
    bs_embed_server_stop(server);
    server = NULL;
    return 0;
}

/* Resets what the server saw and scripts its next answers. */
static void script(enum bs_embed_answer otherwise, size_t n,
                   const enum bs_embed_answer *answers)
{
    bs_embed_server_script(server, otherwise, n, answers);
}

static size_t requests_seen(void)
{
    return bs_embed_server_requests(server);
}

/* What the server saw of request i (zeroes when it saw none). */
static struct bs_embed_request seen(size_t i)
{
    struct bs_embed_request r = {0};

    bs_embed_server_request(server, i, &r);
    return r;
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

/* Embeds `count` texts; returns the status, errstr checked for the key. */
static int embed(struct bs_embedder *embedder, const char *const *texts,
                 size_t count, float *vectors, char *errstr, size_t errstr_size)
{
    int result =
        bs_embedder_embed(embedder, texts, count, vectors, errstr, errstr_size);

    CU_ASSERT_PTR_NULL(strstr(errstr, API_KEY));
    return result;
}

/* Embeds `count` of ten_texts. */
static int embed_texts(struct bs_embedder *embedder, size_t count,
                       float *vectors, char *errstr, size_t errstr_size)
{
    return embed(embedder, ten_texts, count, vectors, errstr, errstr_size);
}

static struct bs_embedder *new_embedder(long batch_size, long max_retries,
                                        bool with_key)
{
    struct openai_options o = {bs_embed_server_port(server), batch_size,
                               max_retries, with_key};

    return new_openai(&o);
}

/* ---- answers, batching, retries ----------------------------------------- */

static void test_inputs_are_batched_and_put_back_in_order(void)
{
    struct bs_embedder *embedder = new_embedder(4, 0, true);
    float vectors[10 * DIM];
    char errstr[256] = "";

    script(BS_EMBED_OK, 0, NULL);
    BS_ASSERT_INT_EQ(embed_texts(embedder, 10, vectors, errstr, sizeof(errstr)),
                     BS_OK);
    BS_ASSERT_INT_EQ(requests_seen(), 3);
    BS_ASSERT_INT_EQ(seen(0).inputs, 4);
    BS_ASSERT_INT_EQ(seen(1).inputs, 4);
    BS_ASSERT_INT_EQ(seen(2).inputs, 2);
    BS_ASSERT_STR_EQ(seen(0).model, "test-model");
    for (size_t i = 0; i < 3; i++)
        BS_ASSERT_STR_EQ(seen(i).authorization, "Bearer " API_KEY);
    /* row i: 1.0 (2.0 normalized) at i % DIM */
    for (size_t i = 0; i < 10; i++)
        for (size_t d = 0; d < DIM; d++)
            CU_ASSERT(vectors[i * DIM + d] == (d == i % DIM ? 1.0f : 0.0f));
    BS_ASSERT_STR_EQ(bs_embedder_model(embedder), "openai:test-model/8");
    bs_embedder_free(embedder);
}

static void test_without_a_key_no_authorization_is_sent(void)
{
    struct bs_embedder *embedder = new_embedder(64, 0, false);
    float vectors[3 * DIM];
    char errstr[256] = "";

    script(BS_EMBED_OK, 0, NULL);
    BS_ASSERT_INT_EQ(embed_texts(embedder, 3, vectors, errstr, sizeof(errstr)),
                     BS_OK);
    BS_ASSERT_INT_EQ(requests_seen(), 1);
    BS_ASSERT_INT_EQ(seen(0).inputs, 3);
    BS_ASSERT_STR_EQ(seen(0).authorization, "(none)");
    bs_embedder_free(embedder);
}

static void test_blank_texts_are_not_sent_and_stay_zero(void)
{
    const char *texts[] = {"t1", "  \n", "t3", ""};
    struct bs_embedder *embedder = new_embedder(64, 0, true);
    float vectors[4 * DIM];
    char errstr[256] = "";

    script(BS_EMBED_OK, 0, NULL);
    BS_ASSERT_INT_EQ(embed(embedder, texts, 4, vectors, errstr, sizeof(errstr)),
                     BS_OK);
    BS_ASSERT_INT_EQ(requests_seen(), 1);
    BS_ASSERT_INT_EQ(seen(0).inputs, 2);
    CU_ASSERT(vectors[0 * DIM + 1] == 1.0f);
    CU_ASSERT(vectors[2 * DIM + 3] == 1.0f);
    for (size_t d = 0; d < DIM; d++) {
        CU_ASSERT(vectors[1 * DIM + d] == 0.0f);
        CU_ASSERT(vectors[3 * DIM + d] == 0.0f);
    }

    /* nothing to send: no request at all */
    script(BS_EMBED_OK, 0, NULL);
    BS_ASSERT_INT_EQ(
        embed(embedder, texts + 1, 1, vectors, errstr, sizeof(errstr)), BS_OK);
    BS_ASSERT_INT_EQ(requests_seen(), 0);
    bs_embedder_free(embedder);
}

static void test_server_errors_are_retried_until_success(void)
{
    const enum bs_embed_answer answers[] = {BS_EMBED_500, BS_EMBED_503};
    struct bs_embedder *embedder = new_embedder(64, 3, true);
    float vectors[2 * DIM];
    char errstr[256] = "";

    script(BS_EMBED_OK, 2, answers);
    BS_ASSERT_INT_EQ(embed_texts(embedder, 2, vectors, errstr, sizeof(errstr)),
                     BS_OK);
    BS_ASSERT_INT_EQ(requests_seen(), 3);
    CU_ASSERT(vectors[1 * DIM + 1] == 1.0f);
    /* every retry carries the key again */
    BS_ASSERT_STR_EQ(seen(2).authorization, "Bearer " API_KEY);
    bs_embedder_free(embedder);
}

static void test_server_errors_through_every_retry_are_unavailable(void)
{
    struct bs_embedder *embedder = new_embedder(64, 2, true);
    float vectors[2 * DIM];
    char errstr[256] = "";

    script(BS_EMBED_500, 0, NULL);
    BS_ASSERT_INT_EQ(embed_texts(embedder, 2, vectors, errstr, sizeof(errstr)),
                     BS_EUNAVAILABLE);
    BS_ASSERT_INT_EQ(requests_seen(), 3);
    ASSERT_CONTAINS(errstr, "HTTP 500");
    bs_embedder_free(embedder);
}

static void test_429_waits_for_retry_after(void)
{
    const enum bs_embed_answer answers[] = {BS_EMBED_429};
    struct bs_embedder *embedder = new_embedder(64, 1, true);
    float vectors[2 * DIM];
    char errstr[256] = "";

    script(BS_EMBED_OK, 1, answers);
    BS_ASSERT_INT_EQ(embed_texts(embedder, 2, vectors, errstr, sizeof(errstr)),
                     BS_OK);
    BS_ASSERT_INT_EQ(requests_seen(), 2);
    /* Retry-After: 1 was honoured (our own backoff would wait < 0.2 s) */
    CU_ASSERT(seen(1).at - seen(0).at >= 0.95);
    bs_embedder_free(embedder);
}

static void test_429_through_every_retry_is_unavailable(void)
{
    struct bs_embedder *embedder = new_embedder(64, 1, true);
    float vectors[2 * DIM];
    char errstr[256] = "";

    script(BS_EMBED_429, 0, NULL);
    BS_ASSERT_INT_EQ(embed_texts(embedder, 2, vectors, errstr, sizeof(errstr)),
                     BS_EUNAVAILABLE);
    BS_ASSERT_INT_EQ(requests_seen(), 2);
    bs_embedder_free(embedder);
}

static void test_slow_answers_time_out_and_are_retried(void)
{
    const enum bs_embed_answer answers[] = {BS_EMBED_SLOW};
    struct bs_embedder *embedder = new_embedder(64, 1, true);
    float vectors[2 * DIM];
    char errstr[256] = "";

    /* one slow answer, then a good one: recovered */
    script(BS_EMBED_OK, 1, answers);
    BS_ASSERT_INT_EQ(embed_texts(embedder, 2, vectors, errstr, sizeof(errstr)),
                     BS_OK);
    BS_ASSERT_INT_EQ(requests_seen(), 2);

    /* slow every time: unavailable */
    script(BS_EMBED_SLOW, 0, NULL);
    BS_ASSERT_INT_EQ(embed_texts(embedder, 2, vectors, errstr, sizeof(errstr)),
                     BS_EUNAVAILABLE);
    BS_ASSERT_INT_EQ(requests_seen(), 2);
    ASSERT_CONTAINS(errstr, "imed out");
    bs_embedder_free(embedder);
}

/* A wrong key is the deployment's fault: the pipeline must pause, not
 * dead-letter every document. One request, no retry and no probe here (the
 * pipeline backs off and tries the batch again). */
static void test_401_is_unavailable_not_a_data_error(void)
{
    struct bs_embedder *embedder = new_embedder(64, 3, true);
    float vectors[3 * DIM];
    char errstr[256] = "";

    script(BS_EMBED_401, 0, NULL);
    BS_ASSERT_INT_EQ(embed_texts(embedder, 3, vectors, errstr, sizeof(errstr)),
                     BS_EUNAVAILABLE);
    BS_ASSERT_INT_EQ(requests_seen(), 1);
    ASSERT_CONTAINS(errstr, "HTTP 401");
    bs_embedder_free(embedder);
}

static void test_invalid_utf8_is_refused_before_any_request(void)
{
    const char *texts[] = {"t1", "bad \xff"};
    struct bs_embedder *embedder = new_embedder(64, 0, true);
    float vectors[2 * DIM];
    char errstr[256] = "";

    script(BS_EMBED_OK, 0, NULL);
    BS_ASSERT_INT_EQ(embed(embedder, texts, 2, vectors, errstr, sizeof(errstr)),
                     BS_EINVAL);
    BS_ASSERT_INT_EQ(requests_seen(), 0);
    bs_embedder_free(embedder);
}

static void test_unreachable_endpoint_is_unavailable(void)
{
    /* a port that was free a moment ago and has nobody listening now */
    struct openai_options o = {(unsigned short)bs_svc_free_port(), 64, 1, true};
    struct bs_embedder *embedder;
    float vectors[2 * DIM];
    char errstr[256] = "";

    CU_ASSERT_FATAL(o.port != 0);
    embedder = new_openai(&o);
    BS_ASSERT_INT_EQ(embed_texts(embedder, 2, vectors, errstr, sizeof(errstr)),
                     BS_EUNAVAILABLE);
    ASSERT_CONTAINS(errstr, "after 2 attempts");
    bs_embedder_free(embedder);
}

/* ---- these inputs' fault, or the endpoint's: the probe ------------------ */

/*
 * The first request fails with `answer`, the probe (and anything after)
 * works: BS_EINVAL, no retry, two requests (the batch, then the probe of
 * one input), errstr with `expected` and no input text.
 */
static void assert_data_error_after_working_probe(enum bs_embed_answer answer,
                                                  const char *expected)
{
    const enum bs_embed_answer answers[] = {answer};
    struct bs_embedder *embedder = new_embedder(64, 3, true);
    float vectors[3 * DIM];
    char errstr[256] = "";

    script(BS_EMBED_OK, 1, answers);
    BS_ASSERT_INT_EQ(embed_texts(embedder, 3, vectors, errstr, sizeof(errstr)),
                     BS_EINVAL);
    BS_ASSERT_INT_EQ(requests_seen(), 2);
    BS_ASSERT_INT_EQ(seen(0).inputs, 3);
    BS_ASSERT_INT_EQ(seen(1).inputs, 1);
    BS_ASSERT_STR_EQ(seen(1).model, "test-model");
    ASSERT_CONTAINS(errstr, expected);
    CU_ASSERT_PTR_NULL(strstr(errstr, "misconfigured"));
    bs_embedder_free(embedder);
}

static void test_400_for_these_inputs_is_a_data_error_without_retry(void)
{
    assert_data_error_after_working_probe(BS_EMBED_400, "HTTP 400");
}

static void test_truncated_json_for_these_inputs_is_a_data_error(void)
{
    assert_data_error_after_working_probe(BS_EMBED_TRUNCATED, "not JSON");
}

static void test_wrong_count_for_these_inputs_is_a_data_error(void)
{
    assert_data_error_after_working_probe(BS_EMBED_WRONG_COUNT,
                                          "2 embeddings for 3 inputs");
}

/* One vector of another size among right ones is not the model's size. */
static void test_mixed_dimensions_for_these_inputs_are_a_data_error(void)
{
    assert_data_error_after_working_probe(BS_EMBED_MIXED_DIM,
                                          "9 dimensions, EMBEDDINGS_DIM is 8");
}

/* Empty embeddings are no model's dimension: probed, not blamed on the
 * configuration. */
static void test_empty_embeddings_for_these_inputs_are_a_data_error(void)
{
    assert_data_error_after_working_probe(BS_EMBED_EMPTY_DIM,
                                          "0 dimensions, EMBEDDINGS_DIM is 8");
}

/* (a) One input of a batch is refused; the probe works: a data error of
 * these inputs, and the batch without that input is embedded (nothing
 * remembered between calls). */
static void test_input_the_endpoint_refuses_is_a_data_error_if_probe_works(void)
{
    const char *texts[] = {"t0", "t1 " MARKER, "t2"};
    struct bs_embedder *embedder = new_embedder(64, 3, true);
    float vectors[3 * DIM];
    char errstr[256] = "";

    bs_embed_server_refuse(server, MARKER);
    script(BS_EMBED_OK, 0, NULL);
    BS_ASSERT_INT_EQ(embed(embedder, texts, 3, vectors, errstr, sizeof(errstr)),
                     BS_EINVAL);
    BS_ASSERT_INT_EQ(requests_seen(), 2);
    BS_ASSERT_INT_EQ(bs_embed_server_refused(server), 1);
    CU_ASSERT_TRUE(seen(0).refused);
    BS_ASSERT_INT_EQ(seen(1).inputs, 1); /* the probe */
    CU_ASSERT_FALSE(seen(1).refused);
    ASSERT_CONTAINS(errstr, "HTTP 400");
    CU_ASSERT_PTR_NULL(strstr(errstr, MARKER)); /* no input text */

    /* the other two alone: embedded, one request */
    script(BS_EMBED_OK, 0, NULL);
    texts[1] = "t2";
    BS_ASSERT_INT_EQ(embed(embedder, texts, 2, vectors, errstr, sizeof(errstr)),
                     BS_OK);
    BS_ASSERT_INT_EQ(requests_seen(), 1);
    CU_ASSERT(vectors[1 * DIM + 2] == 1.0f);
    bs_embed_server_refuse(server, NULL);
    bs_embedder_free(embedder);
}

/* (b) 400 to everything, the probe too ("model not found"): the
 * configuration's fault, with the probe's answer in errstr; once the
 * endpoint is fixed the same embedder works at once. */
static void test_400_to_the_probe_too_is_unavailable_until_fixed(void)
{
    struct bs_embedder *embedder = new_embedder(64, 3, true);
    float vectors[3 * DIM];
    char errstr[256] = "";

    script(BS_EMBED_400_MODEL, 0, NULL);
    BS_ASSERT_INT_EQ(embed_texts(embedder, 3, vectors, errstr, sizeof(errstr)),
                     BS_EUNAVAILABLE);
    BS_ASSERT_INT_EQ(requests_seen(), 2);
    BS_ASSERT_INT_EQ(seen(1).inputs, 1);
    ASSERT_CONTAINS(errstr, "embeddings endpoint misconfigured");
    ASSERT_CONTAINS(errstr, "HTTP 400");
    ASSERT_CONTAINS(errstr, "model not found");
    BS_ASSERT_STR_EQ(seen(1).authorization, "Bearer " API_KEY);

    script(BS_EMBED_OK, 0, NULL);
    BS_ASSERT_INT_EQ(embed_texts(embedder, 3, vectors, errstr, sizeof(errstr)),
                     BS_OK);
    BS_ASSERT_INT_EQ(requests_seen(), 1);
    CU_ASSERT(vectors[2 * DIM + 2] == 1.0f);
    bs_embedder_free(embedder);
}

/* A probe's refusal is quoted in errstr, but not when it quotes the key
 * back. */
static void test_probe_answer_quoting_the_key_is_not_quoted(void)
{
    struct bs_embedder *embedder = new_embedder(64, 3, true);
    float vectors[3 * DIM];
    char errstr[256] = "";

    script(BS_EMBED_400_ECHO, 0, NULL);
    BS_ASSERT_INT_EQ(embed_texts(embedder, 3, vectors, errstr, sizeof(errstr)),
                     BS_EUNAVAILABLE);
    BS_ASSERT_INT_EQ(requests_seen(), 2);
    BS_ASSERT_STR_EQ(errstr, "embeddings endpoint misconfigured: a probe "
                             "input failed too: embeddings endpoint answered "
                             "HTTP 400");
    bs_embedder_free(embedder);
}

/* (c) Every vector one size other than EMBEDDINGS_DIM: the model's size,
 * so the configuration's fault, said with both sizes; not even probed. */
static void test_wrong_dimension_on_every_vector_is_unavailable(void)
{
    struct bs_embedder *embedder = new_embedder(64, 3, true);
    float vectors[3 * DIM];
    char errstr[256] = "";

    script(BS_EMBED_WRONG_DIM, 0, NULL);
    BS_ASSERT_INT_EQ(embed_texts(embedder, 3, vectors, errstr, sizeof(errstr)),
                     BS_EUNAVAILABLE);
    BS_ASSERT_INT_EQ(requests_seen(), 1);
    ASSERT_CONTAINS(errstr, "misconfigured");
    ASSERT_CONTAINS(errstr, "9 dimensions, EMBEDDINGS_DIM is 8");
    bs_embedder_free(embedder);
}

/* The probe's answer has the wrong size (the batch failed otherwise): the
 * same, both sizes named. */
static void test_probe_of_the_wrong_dimension_is_unavailable(void)
{
    const enum bs_embed_answer answers[] = {BS_EMBED_WRONG_COUNT};
    struct bs_embedder *embedder = new_embedder(64, 3, true);
    float vectors[3 * DIM];
    char errstr[256] = "";

    script(BS_EMBED_WRONG_DIM, 1, answers);
    BS_ASSERT_INT_EQ(embed_texts(embedder, 3, vectors, errstr, sizeof(errstr)),
                     BS_EUNAVAILABLE);
    BS_ASSERT_INT_EQ(requests_seen(), 2);
    ASSERT_CONTAINS(errstr, "9 dimensions, EMBEDDINGS_DIM is 8");
    bs_embedder_free(embedder);
}

/* (d) A 200 that is not JSON (a proxy's sign-in page), the probe too. */
static void test_non_json_200_to_the_probe_too_is_unavailable(void)
{
    struct bs_embedder *embedder = new_embedder(64, 3, true);
    float vectors[3 * DIM];
    char errstr[256] = "";

    script(BS_EMBED_NOT_JSON, 0, NULL);
    BS_ASSERT_INT_EQ(embed_texts(embedder, 3, vectors, errstr, sizeof(errstr)),
                     BS_EUNAVAILABLE);
    BS_ASSERT_INT_EQ(requests_seen(), 2);
    ASSERT_CONTAINS(errstr, "embeddings endpoint misconfigured");
    ASSERT_CONTAINS(errstr, "not JSON");
    bs_embedder_free(embedder);
}

/* The batch is refused, then the endpoint goes down: the probe's retries
 * fail too, so unavailable (nothing is blamed on the inputs). */
static void test_probe_finding_the_endpoint_down_is_unavailable(void)
{
    const enum bs_embed_answer answers[] = {BS_EMBED_400};
    struct bs_embedder *embedder = new_embedder(64, 1, true);
    float vectors[3 * DIM];
    char errstr[256] = "";

    script(BS_EMBED_503, 1, answers);
    BS_ASSERT_INT_EQ(embed_texts(embedder, 3, vectors, errstr, sizeof(errstr)),
                     BS_EUNAVAILABLE);
    BS_ASSERT_INT_EQ(requests_seen(), 3); /* the batch, the probe twice */
    ASSERT_CONTAINS(errstr, "unavailable after 2 attempts");
    bs_embedder_free(embedder);
}

/* ---- the retry delay ------------------------------------------------------
 */

#define SAMPLES 200

/* BASE * 2^(retry - 1), at most MAX. */
static long backoff_of(long retry)
{
    long backoff = BS__OPENAI_BACKOFF_BASE_MS;

    for (long i = 1; i < retry && backoff < BS__OPENAI_BACKOFF_MAX_MS; i++)
        backoff *= 2;
    return backoff < BS__OPENAI_BACKOFF_MAX_MS ? backoff
                                               : BS__OPENAI_BACKOFF_MAX_MS;
}

/* SAMPLES delays of `retry` from *state; their lowest and highest. */
static void sample_delays(uint64_t *state, long retry, long *lo, long *hi)
{
    char what[64];

    snprintf(what, sizeof(what), "delay of retry %ld", retry);
    *lo = LONG_MAX;
    *hi = LONG_MIN;
    for (int i = 0; i < SAMPLES; i++) {
        long delay = bs__openai_retry_delay_ms(state, retry, 0);

        assert_in_range(delay, backoff_of(retry) / 2, backoff_of(retry), what,
                        __LINE__);
        *lo = delay < *lo ? delay : *lo;
        *hi = delay > *hi ? delay : *hi;
    }
}

/* Retry n waits in [B*2^(n-1)/2, B*2^(n-1)]: the upper half random. The
 * range doubles with every retry, and the delays reach beyond the previous
 * retry's whole range. */
static void test_backoff_doubles_per_retry_with_jitter_in_the_upper_half(void)
{
    uint64_t state = UINT64_C(0x9e3779b97f4a7c15);
    long previous_hi = 0;

    BS_ASSERT_INT_EQ(backoff_of(1), BS__OPENAI_BACKOFF_BASE_MS);
    for (long retry = 1; backoff_of(retry) < BS__OPENAI_BACKOFF_MAX_MS;
         retry++) {
        long lo, hi;

        sample_delays(&state, retry, &lo, &hi);
        assert_in_range(hi, previous_hi + 1, LONG_MAX,
                        "highest delay above the previous retry's", __LINE__);
        /* jitter: the samples spread over most of the range */
        assert_in_range(hi - lo, backoff_of(retry) / 4, backoff_of(retry) / 2,
                        "spread of the delays", __LINE__);
        previous_hi = hi;
    }
}

/* From the retry where BASE * 2^(n-1) passes MAX on, the range is
 * [MAX/2, MAX], however many retries. */
static void test_backoff_is_capped_at_the_maximum(void)
{
    const long retries[] = {6, 7, 10, 64, 1000, LONG_MAX};
    uint64_t state = 42;

    BS_ASSERT_INT_EQ(backoff_of(7), BS__OPENAI_BACKOFF_MAX_MS);
    for (size_t i = 0; i < sizeof(retries) / sizeof(retries[0]); i++) {
        long lo, hi;

        sample_delays(&state, retries[i], &lo, &hi);
        if (retries[i] >= 7) {
            assert_in_range(lo, BS__OPENAI_BACKOFF_MAX_MS / 2, LONG_MAX,
                            "lowest capped delay", __LINE__);
            assert_in_range(hi, 0, BS__OPENAI_BACKOFF_MAX_MS,
                            "highest capped delay", __LINE__);
        }
    }
}

/* Consecutive delays of the same retry differ, and two generators (two
 * indexers) do not wait in step; even a zero state is not stuck. */
static void test_jitter_differs_between_calls(void)
{
    uint64_t a = 1, b = 2, zero = 0;
    int same_as_previous = 0, in_step = 0, at_half = 0;
    long previous = -1;

    for (int i = 0; i < SAMPLES; i++) {
        long da = bs__openai_retry_delay_ms(&a, 5, 0);
        long db = bs__openai_retry_delay_ms(&b, 5, 0);

        same_as_previous += da == previous;
        in_step += da == db;
        at_half += bs__openai_retry_delay_ms(&zero, 5, 0) == backoff_of(5) / 2;
        previous = da;
    }
    /* 1 in backoff/2 + 1 = 1601 by chance */
    assert_in_range(same_as_previous, 0, 3, "repeats of the previous delay",
                    __LINE__);
    assert_in_range(in_step, 0, 3, "delays equal between generators", __LINE__);
    assert_in_range(at_half, 0, 3, "zero state: delays at the minimum",
                    __LINE__);
}

/* Retry-After is waited exactly, whatever the retry, up to its maximum. */
static void test_retry_after_overrides_the_backoff_up_to_its_maximum(void)
{
    uint64_t state = 7;

    BS_ASSERT_INT_EQ(bs__openai_retry_delay_ms(&state, 1, 3), 3000);
    BS_ASSERT_INT_EQ(bs__openai_retry_delay_ms(&state, 9, 3), 3000);
    BS_ASSERT_INT_EQ(bs__openai_retry_delay_ms(&state, 1, 1), 1000);
    BS_ASSERT_INT_EQ(
        bs__openai_retry_delay_ms(&state, 2, BS__OPENAI_RETRY_AFTER_MAX_S),
        BS__OPENAI_RETRY_AFTER_MAX_S * 1000);
    BS_ASSERT_INT_EQ(bs__openai_retry_delay_ms(&state, 2, 3600),
                     BS__OPENAI_RETRY_AFTER_MAX_S * 1000);
    /* none (0): the backoff again */
    assert_in_range(bs__openai_retry_delay_ms(&state, 1, 0),
                    BS__OPENAI_BACKOFF_BASE_MS / 2, BS__OPENAI_BACKOFF_BASE_MS,
                    "delay without Retry-After", __LINE__);
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
    {"401 is unavailable, not a data error",
     test_401_is_unavailable_not_a_data_error},
    {"invalid UTF-8 is refused before any request",
     test_invalid_utf8_is_refused_before_any_request},
    {"unreachable endpoint is unavailable",
     test_unreachable_endpoint_is_unavailable},
    CU_TEST_INFO_NULL,
};

static CU_TestInfo probe_tests[] = {
    {"400 for these inputs is a data error without retry",
     test_400_for_these_inputs_is_a_data_error_without_retry},
    {"truncated JSON for these inputs is a data error",
     test_truncated_json_for_these_inputs_is_a_data_error},
    {"wrong count for these inputs is a data error",
     test_wrong_count_for_these_inputs_is_a_data_error},
    {"mixed dimensions for these inputs are a data error",
     test_mixed_dimensions_for_these_inputs_are_a_data_error},
    {"empty embeddings for these inputs are a data error",
     test_empty_embeddings_for_these_inputs_are_a_data_error},
    {"input the endpoint refuses is a data error if the probe works",
     test_input_the_endpoint_refuses_is_a_data_error_if_probe_works},
    {"400 to the probe too is unavailable until fixed",
     test_400_to_the_probe_too_is_unavailable_until_fixed},
    {"probe answer quoting the key is not quoted",
     test_probe_answer_quoting_the_key_is_not_quoted},
    {"wrong dimension on every vector is unavailable",
     test_wrong_dimension_on_every_vector_is_unavailable},
    {"probe of the wrong dimension is unavailable",
     test_probe_of_the_wrong_dimension_is_unavailable},
    {"non-JSON 200 to the probe too is unavailable",
     test_non_json_200_to_the_probe_too_is_unavailable},
    {"probe finding the endpoint down is unavailable",
     test_probe_finding_the_endpoint_down_is_unavailable},
    CU_TEST_INFO_NULL,
};

static CU_TestInfo delay_tests[] = {
    {"backoff doubles per retry with jitter in the upper half",
     test_backoff_doubles_per_retry_with_jitter_in_the_upper_half},
    {"backoff is capped at the maximum", test_backoff_is_capped_at_the_maximum},
    {"jitter differs between calls", test_jitter_differs_between_calls},
    {"Retry-After overrides the backoff up to its maximum",
     test_retry_after_overrides_the_backoff_up_to_its_maximum},
    CU_TEST_INFO_NULL,
};

static void register_suites(void)
{
    bs_test_add_suite("openai embedder", server_start, server_stop,
                      openai_tests);
    bs_test_add_suite("openai embedder: whose fault", server_start, server_stop,
                      probe_tests);
    bs_test_add_suite("openai embedder: retry delay", NULL, NULL, delay_tests);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    return bs_test_main(register_suites);
}
