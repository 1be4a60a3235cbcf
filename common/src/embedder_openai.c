/*
 * embedder_openai.c - the "openai" embedder: any OpenAI-compatible
 * POST /v1/embeddings endpoint (OpenAI, Ollama, vLLM, llama.cpp, TEI...)
 * over libcurl.
 *
 * One call of bs_embedder_embed() becomes requests of at most
 * EMBEDDINGS_BATCH_SIZE inputs, {"model": M, "input": [...]}; the answer's
 * {"data": [{"index": i, "embedding": [...]}]} is put back in input order,
 * checked (count, dimension, numbers) and L2-normalized. Texts with nothing
 * but whitespace are not sent (endpoints reject empty input); they get the
 * zero vector, as with the hash embedder.
 *
 * Failures split in two, because the caller treats them differently: a
 * data error (BS_EINVAL) dead-letters the documents, an infrastructure
 * error (BS_EUNAVAILABLE) pauses the pipeline until it is fixed.
 *   retried, then BS_EUNAVAILABLE: no connection, timeout, 408, 429, 5xx;
 *     the wait doubles from BACKOFF_BASE_MS up to BACKOFF_MAX_MS, half of
 *     it random (jitter, so many indexers do not retry in step), or is what
 *     Retry-After asks for, up to RETRY_AFTER_MAX_S;
 *   at once, BS_EUNAVAILABLE: 1xx/3xx/401/403/404 (a wrong key or URL), and
 *     vectors that all have one dimension other than EMBEDDINGS_DIM (that
 *     is the model's dimension: a wrong EMBEDDINGS_DIM or model, whatever
 *     the input);
 *   probed: any other 4xx, a malformed or non-JSON body, a wrong count,
 *     mixed dimensions, numbers that are not floats. Such a failure may be
 *     these inputs' (too long, refused) or the endpoint's (unknown model, a
 *     proxy's HTML page, a bad server), and servers word their errors
 *     differently (OpenAI, Ollama, vLLM, llama.cpp and TEI all do), so no
 *     error text is matched. Instead one known-good input (PROBE_TEXT) is
 *     sent, with the same model: if the probe is embedded correctly the
 *     endpoint works and the failure belongs to these inputs (BS_EINVAL,
 *     the same inputs would fail again); if the probe fails too, the
 *     endpoint or its configuration is at fault (BS_EUNAVAILABLE, with the
 *     probe's failure in errstr). The probe is sent again on every such
 *     failure and nothing is remembered between calls, so a fixed endpoint
 *     is noticed at the next batch.
 * The API key lives only in the Authorization header list, wiped on free,
 * and never reaches errstr or a log line; neither does input text (the
 * probe's error body may be quoted: it can only echo the probe text).
 *
 * One curl handle per embedder keeps the connection alive between requests,
 * so an embedder is used by one thread at a time. Programs should call
 * curl_global_init() at start-up, before creating threads.
 */
#include "bs/embedder.h"
#include "bs/error.h"
#include "bs/log.h"

#include "embedder_impl.h"
#include "embedder_openai_internal.h"

#include <curl/curl.h>
#include <float.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <utf8proc.h>

#define BACKOFF_BASE_MS   BS__OPENAI_BACKOFF_BASE_MS
#define BACKOFF_MAX_MS    BS__OPENAI_BACKOFF_MAX_MS
#define RETRY_AFTER_MAX_S BS__OPENAI_RETRY_AFTER_MAX_S

/* The known-good input of a probe: short, plain, any model embeds it. */
#define PROBE_TEXT "Hello, world."

/* How much of a refused probe's answer errstr quotes. */
#define PROBE_EXCERPT_MAX 96

/* An answer holds count * dimension numbers of at most ~25 characters. */
#define RESPONSE_BYTES_PER_VALUE 32
#define RESPONSE_BYTES_SLACK     (1024 * 1024)

struct openai_embedder {
    struct bs_embedder base;
    char *url;
    char *request_model;
    long timeout_ms;
    long max_retries;
    size_t batch_size;
    CURL *curl;
    struct curl_slist *headers; /* holds the key: wiped on free */
    uint64_t jitter_state;
};

/* A response body being received, bounded by `limit`. */
struct body {
    char *data;
    size_t len;
    size_t limit;
    bool too_large;
    bool no_memory;
};

/* What one HTTP attempt came to. */
enum attempt_outcome {
    ATTEMPT_OK,         /* 2xx, body received */
    ATTEMPT_RETRY,      /* network error, timeout, 408, 429, 5xx */
    ATTEMPT_REJECTED,   /* another 4xx or an oversized body: probed */
    ATTEMPT_UNEXPECTED, /* 1xx/3xx/401/403/404: misconfigured endpoint */
    ATTEMPT_NO_MEMORY
};

struct attempt {
    enum attempt_outcome outcome;
    long status;        /* HTTP status, 0 without an answer */
    long retry_after_s; /* from Retry-After, 0 when absent */
    char reason[CURL_ERROR_SIZE + 32];
};

static size_t body_write(char *data, size_t size, size_t nmemb, void *user)
{
    struct body *body = user;
    size_t n = size * nmemb;
    char *grown;

    if (body->len + n > body->limit) {
        body->too_large = true;
        return 0; /* aborts the transfer */
    }
    grown = realloc(body->data, body->len + n + 1);
    if (!grown) {
        body->no_memory = true;
        return 0;
    }
    memcpy(grown + body->len, data, n);
    body->data = grown;
    body->len += n;
    body->data[body->len] = '\0';
    return n;
}

/* xorshift64*: jitter only, so quality is not a concern. */
static uint64_t jitter_next(uint64_t *state)
{
    *state ^= *state >> 12;
    *state ^= *state << 25;
    *state ^= *state >> 27;
    return *state * UINT64_C(2685821657736338717);
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

    while (nanosleep(&ts, &ts) != 0)
        ;
}

long bs__openai_retry_delay_ms(uint64_t *jitter_state, long retry,
                               long retry_after_s)
{
    long backoff = BACKOFF_BASE_MS, half;

    if (retry_after_s > 0)
        return (retry_after_s < RETRY_AFTER_MAX_S ? retry_after_s
                                                  : RETRY_AFTER_MAX_S) *
               1000L;
    for (long i = 1; i < retry && backoff < BACKOFF_MAX_MS; i++)
        backoff *= 2;
    if (backoff > BACKOFF_MAX_MS)
        backoff = BACKOFF_MAX_MS;
    half = backoff / 2;
    if (*jitter_state == 0) /* xorshift stays at 0 forever */
        *jitter_state = 1;
    return half + (long)(jitter_next(jitter_state) % (uint64_t)(half + 1));
}

static bool valid_utf8(const char *text)
{
    const utf8proc_uint8_t *p = (const utf8proc_uint8_t *)text;
    utf8proc_ssize_t left = (utf8proc_ssize_t)strlen(text);

    while (left > 0) {
        utf8proc_int32_t cp;
        utf8proc_ssize_t n = utf8proc_iterate(p, left, &cp);

        if (n < 1)
            return false;
        p += n;
        left -= n;
    }
    return true;
}

static bool is_blank(const char *text)
{
    return text[strspn(text, " \t\r\n\v\f")] == '\0';
}

/* {"model": M, "input": [texts[rows[0]], ...]} as a string (caller frees). */
static char *request_body(const struct openai_embedder *e,
                          const char *const *texts, const size_t *rows,
                          size_t count)
{
    json_t *root = json_object(), *input = json_array();
    char *text = NULL;
    bool ok =
        root && input &&
        json_object_set_new(root, "model", json_string(e->request_model)) == 0;

    for (size_t i = 0; ok && i < count; i++)
        ok = json_array_append_new(input, json_string(texts[rows[i]])) == 0;
    if (ok && json_object_set(root, "input", input) == 0)
        text = json_dumps(root, JSON_COMPACT);
    json_decref(input);
    json_decref(root);
    return text;
}

/* One POST of `payload`; the body goes to *body. */
static void attempt_post(struct openai_embedder *e, const char *payload,
                         struct body *body, struct attempt *attempt)
{
    CURL *curl = e->curl;
    curl_off_t retry_after = 0;
    char curl_error[CURL_ERROR_SIZE] = "";
    CURLcode code;

    memset(attempt, 0, sizeof(*attempt));
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, payload);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE,
                     (curl_off_t)strlen(payload));
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, body);
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, curl_error);
    code = curl_easy_perform(curl);
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, NULL);

    if (body->no_memory) {
        attempt->outcome = ATTEMPT_NO_MEMORY;
        return;
    }
    if (body->too_large) {
        attempt->outcome = ATTEMPT_REJECTED;
        snprintf(attempt->reason, sizeof(attempt->reason),
                 "answer larger than %zu bytes", body->limit);
        return;
    }
    if (code != CURLE_OK) {
        attempt->outcome = ATTEMPT_RETRY;
        snprintf(attempt->reason, sizeof(attempt->reason), "request failed: %s",
                 curl_error[0] ? curl_error : curl_easy_strerror(code));
        return;
    }

    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &attempt->status);
    curl_easy_getinfo(curl, CURLINFO_RETRY_AFTER, &retry_after);
    attempt->retry_after_s = retry_after > 0 ? (long)retry_after : 0;
    snprintf(attempt->reason, sizeof(attempt->reason), "answered HTTP %ld",
             attempt->status);
    if (attempt->status >= 200 && attempt->status < 300)
        attempt->outcome = ATTEMPT_OK;
    else if (attempt->status == 408 || attempt->status == 429 ||
             attempt->status >= 500)
        attempt->outcome = ATTEMPT_RETRY;
    else if (attempt->status == 401 || attempt->status == 403 ||
             attempt->status == 404)
        /* A wrong key or URL is the deployment's fault, not the document's:
         * pause the pipeline (nothing is dead-lettered) until it is fixed. */
        attempt->outcome = ATTEMPT_UNEXPECTED;
    else if (attempt->status >= 400)
        attempt->outcome = ATTEMPT_REJECTED;
    else
        attempt->outcome = ATTEMPT_UNEXPECTED;
}

/* POSTs `payload` until a 2xx or a final failure; a 2xx body is in *body. */
static int post_with_retries(struct openai_embedder *e, const char *payload,
                             struct body *body, char *errstr,
                             size_t errstr_size)
{
    struct attempt attempt;

    for (long retry = 0;; retry++) {
        body->len = 0;
        body->too_large = false;
        body->no_memory = false;
        attempt_post(e, payload, body, &attempt);

        switch (attempt.outcome) {
        case ATTEMPT_OK:
            return BS_OK;
        case ATTEMPT_NO_MEMORY:
            return bs_fail(errstr, errstr_size, BS_ENOMEM,
                           "out of memory reading an embeddings answer");
        case ATTEMPT_REJECTED:
            return bs_fail(errstr, errstr_size, BS_EINVAL,
                           "embeddings endpoint %s", attempt.reason);
        case ATTEMPT_UNEXPECTED:
            return bs_fail(errstr, errstr_size, BS_EUNAVAILABLE,
                           "embeddings endpoint %s (not an embeddings API?)",
                           attempt.reason);
        case ATTEMPT_RETRY:
            break;
        }
        if (retry == e->max_retries)
            return bs_fail(errstr, errstr_size, BS_EUNAVAILABLE,
                           "embeddings endpoint unavailable after %ld "
                           "attempts: %s",
                           retry + 1, attempt.reason);

        long delay = bs__openai_retry_delay_ms(&e->jitter_state, retry + 1,
                                               attempt.retry_after_s);
        bs_log_warn("embeddings endpoint %s; retry %ld of %ld in %ld ms",
                    attempt.reason, retry + 1, e->max_retries, delay);
        sleep_ms(delay);
    }
}

/* One "embedding" array into row (dimension floats). */
static int parse_embedding(const json_t *values, float *row, size_t dimension,
                           char *errstr, size_t errstr_size)
{
    if (!json_is_array(values))
        return bs_fail(errstr, errstr_size, BS_EINVAL,
                       "embeddings answer: an embedding is not an array");
    if (json_array_size(values) != dimension)
        return bs_fail(errstr, errstr_size, BS_EINVAL,
                       "embeddings answer has %zu dimensions, "
                       "EMBEDDINGS_DIM is %zu",
                       json_array_size(values), dimension);
    for (size_t d = 0; d < dimension; d++) {
        const json_t *value = json_array_get(values, d);
        double x = json_number_value(value);

        if (!json_is_number(value) || x > FLT_MAX || x < -FLT_MAX)
            return bs_fail(errstr, errstr_size, BS_EINVAL,
                           "embeddings answer: value %zu is not a float", d);
        row[d] = (float)x;
    }
    bs__embedding_normalize(row, dimension);
    return BS_OK;
}

/*
 * Whether every item's embedding is an array of one and the same size other
 * than `dimension` (into *size). A model's vectors all have its one size,
 * whatever the input, so that is EMBEDDINGS_DIM or EMBEDDINGS_MODEL being
 * wrong, and there is nothing to probe. Mixed sizes and empty arrays (no
 * model's dimension; a server may answer one for an input it could not
 * embed) are not: they are probed like any other malformed answer, so
 * that one strange document cannot stop the pipeline for good.
 */
static bool uniform_wrong_dimension(const json_t *data, size_t dimension,
                                    size_t *size)
{
    size_t items = json_array_size(data);

    for (size_t i = 0; i < items; i++) {
        const json_t *values =
            json_object_get(json_array_get(data, i), "embedding");

        if (!json_is_array(values) ||
            (i > 0 && json_array_size(values) != *size))
            return false;
        *size = json_array_size(values);
    }
    return items > 0 && *size > 0 && *size != dimension;
}

/* The answer to a batch of `count` inputs into their rows of vectors. */
static int parse_answer(const struct body *body, const size_t *rows,
                        size_t count, size_t dimension, float *vectors,
                        char *errstr, size_t errstr_size)
{
    json_error_t error;
    json_t *root =
        json_loadb(body->data ? body->data : "", body->len, 0, &error);
    const json_t *data = json_object_get(root, "data");
    bool *seen = calloc(count, sizeof(*seen));
    size_t wrong = 0;
    int result = BS_OK;

    if (!seen)
        result = bs_fail(errstr, errstr_size, BS_ENOMEM, "out of memory");
    else if (!root)
        result = bs_fail(errstr, errstr_size, BS_EINVAL,
                         "embeddings answer is not JSON: %s", error.text);
    else if (!json_is_array(data))
        result = bs_fail(errstr, errstr_size, BS_EINVAL,
                         "embeddings answer has no \"data\" array");
    else if (uniform_wrong_dimension(data, dimension, &wrong))
        result = bs_fail(errstr, errstr_size, BS_EUNAVAILABLE,
                         "embeddings endpoint misconfigured: its vectors have "
                         "%zu dimensions, EMBEDDINGS_DIM is %zu",
                         wrong, dimension);
    else if (json_array_size(data) != count)
        result = bs_fail(errstr, errstr_size, BS_EINVAL,
                         "embeddings answer has %zu embeddings for %zu inputs",
                         json_array_size(data), count);

    for (size_t i = 0; result == BS_OK && i < count; i++) {
        const json_t *item = json_array_get(data, i);
        const json_t *index = json_object_get(item, "index");
        json_int_t at = json_is_integer(index) ? json_integer_value(index) : -1;

        if (at < 0 || (size_t)at >= count || seen[at]) {
            result = bs_fail(errstr, errstr_size, BS_EINVAL,
                             "embeddings answer: item %zu has a missing, "
                             "repeated or out-of-range index",
                             i);
            break;
        }
        seen[at] = true;
        result = parse_embedding(json_object_get(item, "embedding"),
                                 vectors + rows[at] * dimension, dimension,
                                 errstr, errstr_size);
    }
    free(seen);
    json_decref(root);
    return result;
}

/* The API key as sent (in the Authorization header), or NULL. */
static const char *sent_key(const struct openai_embedder *e)
{
    static const char prefix[] = "Authorization: Bearer ";

    for (const struct curl_slist *h = e->headers; h; h = h->next)
        if (strncmp(h->data, prefix, sizeof(prefix) - 1) == 0)
            return h->data + sizeof(prefix) - 1;
    return NULL;
}

/* The start of a refused probe's answer for errstr: printable ASCII only,
 * other bytes made spaces, double quotes single and backslashes slashes
 * (errstr goes into double-quoted log fields); nothing if the answer
 * quotes the key back. */
static void body_excerpt(const struct openai_embedder *e,
                         const struct body *body, char *out, size_t size)
{
    const char *key = sent_key(e);
    size_t n = 0;

    out[0] = '\0';
    if (!body->data || body->len == 0 || (key && strstr(body->data, key)))
        return;
    for (size_t i = 0; i < body->len && n + 1 < size; i++) {
        unsigned char c = (unsigned char)body->data[i];

        if (c == '"')
            c = '\'';
        else if (c == '\\')
            c = '/';
        else if (c < 0x20 || c > 0x7e)
            c = ' ';
        out[n++] = (char)c;
    }
    out[n] = '\0';
}

/*
 * Called after a batch failed in a data-error-shaped way (BS_EINVAL, its
 * reason in errstr): embeds PROBE_TEXT alone, once. Probe embedded
 * correctly: the endpoint works, so the failure was these inputs': returns
 * BS_EINVAL with errstr as it was. Probe failed: the endpoint or its
 * configuration is at fault: BS_EUNAVAILABLE (BS_ENOMEM) with the probe's
 * failure in errstr.
 */
static int probe_endpoint(struct openai_embedder *e, char *errstr,
                          size_t errstr_size)
{
    static const char *const texts[] = {PROBE_TEXT};
    static const size_t rows[] = {0};
    size_t dimension = e->base.dimension;
    struct body body = {0};
    char why[256], quoted[PROBE_EXCERPT_MAX + 1] = "";
    char *payload = request_body(e, texts, rows, 1);
    float *vector = malloc(dimension * sizeof(*vector));
    int result;

    if (!payload || !vector) {
        result = bs_fail(errstr, errstr_size, BS_ENOMEM,
                         "out of memory probing the embeddings endpoint");
        goto out;
    }
    body.limit = dimension * RESPONSE_BYTES_PER_VALUE + RESPONSE_BYTES_SLACK;
    result = post_with_retries(e, payload, &body, why, sizeof(why));
    if (result == BS_EINVAL) /* a refusal: its body says why */
        body_excerpt(e, &body, quoted, sizeof(quoted));
    else if (result == BS_OK)
        result =
            parse_answer(&body, rows, 1, dimension, vector, why, sizeof(why));

    if (result == BS_OK)
        result = BS_EINVAL; /* these inputs' fault: errstr stays */
    else if (result == BS_EINVAL)
        result = bs_fail(errstr, errstr_size, BS_EUNAVAILABLE,
                         "embeddings endpoint misconfigured: a probe input "
                         "failed too: %s%s%s",
                         why, quoted[0] ? ": " : "", quoted);
    else /* already says unavailable or misconfigured, or out of memory */
        result = bs_fail(errstr, errstr_size, result, "%s", why);
out:
    free(body.data);
    free(vector);
    free(payload);
    return result;
}

static int embed_batch(struct openai_embedder *e, const char *const *texts,
                       const size_t *rows, size_t count, float *vectors,
                       char *errstr, size_t errstr_size)
{
    size_t dimension = e->base.dimension;
    struct body body = {0};
    char *payload = request_body(e, texts, rows, count);
    int result;

    if (!payload)
        return bs_fail(errstr, errstr_size, BS_ENOMEM,
                       "out of memory building an embeddings request");
    body.limit =
        count * dimension * RESPONSE_BYTES_PER_VALUE + RESPONSE_BYTES_SLACK;
    result = post_with_retries(e, payload, &body, errstr, errstr_size);
    if (result == BS_OK)
        result = parse_answer(&body, rows, count, dimension, vectors, errstr,
                              errstr_size);
    free(body.data);
    free(payload);
    /* these inputs' fault, or the endpoint's? */
    if (result == BS_EINVAL)
        result = probe_endpoint(e, errstr, errstr_size);
    return result;
}

static int openai_embed(struct bs_embedder *embedder, const char *const *texts,
                        size_t count, float *vectors, char *errstr,
                        size_t errstr_size)
{
    struct openai_embedder *e = (struct openai_embedder *)embedder;
    size_t dimension = embedder->dimension, sent = 0;
    size_t *rows = malloc(count * sizeof(*rows));
    int result = BS_OK;

    if (!rows)
        return bs_fail(errstr, errstr_size, BS_ENOMEM, "out of memory");

    /* check everything before the first request; blank texts stay zero */
    memset(vectors, 0, count * dimension * sizeof(*vectors));
    for (size_t i = 0; i < count; i++) {
        if (!valid_utf8(texts[i])) {
            free(rows);
            return bs_fail(errstr, errstr_size, BS_EINVAL,
                           "text %zu of %zu is not valid UTF-8", i, count);
        }
        if (!is_blank(texts[i]))
            rows[sent++] = i;
    }

    for (size_t first = 0; result == BS_OK && first < sent;
         first += e->batch_size) {
        size_t n = sent - first < e->batch_size ? sent - first : e->batch_size;

        result = embed_batch(e, texts, rows + first, n, vectors, errstr,
                             errstr_size);
    }
    free(rows);
    return result;
}

static void openai_free(struct bs_embedder *embedder)
{
    struct openai_embedder *e = (struct openai_embedder *)embedder;

    if (e->curl)
        curl_easy_cleanup(e->curl);
    for (struct curl_slist *h = e->headers; h; h = h->next)
        OPENSSL_cleanse(h->data, strlen(h->data));
    curl_slist_free_all(e->headers);
    free(e->url);
    free(e->request_model);
    free(e);
}

static const struct bs__embedder_ops openai_ops = {openai_embed, openai_free};

/* Appends a header line; on failure the list stays as it was. */
static bool header_add(struct curl_slist **list, const char *line)
{
    struct curl_slist *grown = curl_slist_append(*list, line);

    if (grown)
        *list = grown;
    return grown != NULL;
}

/* Content-Type, no Expect (so curl does not wait for 100-continue before a
 * big body) and, with a key, Authorization; the key copy is wiped. */
static bool build_headers(struct openai_embedder *e, const char *api_key)
{
    size_t size;
    char *line;
    bool ok;

    if (!header_add(&e->headers, "Content-Type: application/json") ||
        !header_add(&e->headers, "Expect:"))
        return false;
    if (!api_key)
        return true;

    size = strlen("Authorization: Bearer ") + strlen(api_key) + 1;
    line = malloc(size);
    if (!line)
        return false;
    snprintf(line, size, "Authorization: Bearer %s", api_key);
    ok = header_add(&e->headers, line);
    OPENSSL_cleanse(line, size);
    free(line);
    return ok;
}

static bool setup_curl(struct openai_embedder *e)
{
    CURL *curl = curl_easy_init();

    e->curl = curl;
    if (!curl)
        return false;
    curl_easy_setopt(curl, CURLOPT_URL, e->url);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, e->headers);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, body_write);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, e->timeout_ms);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, e->timeout_ms);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
    return true;
}

int bs__embedder_new_openai(const struct bs__openai_params *params,
                            struct bs_embedder **out, char *errstr,
                            size_t errstr_size)
{
    struct openai_embedder *e;
    struct timespec now;

    *out = NULL;
    if (strncmp(params->url, "http://", 7) != 0 &&
        strncmp(params->url, "https://", 8) != 0)
        return bs_fail(errstr, errstr_size, BS_ECONFIG,
                       "EMBEDDINGS_URL is not an http:// or https:// URL");
    if (strlen(params->model) + 32 > BS__EMBEDDER_MODEL_MAX ||
        !valid_utf8(params->model))
        return bs_fail(errstr, errstr_size, BS_ECONFIG,
                       "EMBEDDINGS_MODEL is not UTF-8 of at most %d bytes",
                       BS__EMBEDDER_MODEL_MAX - 32);

    e = calloc(1, sizeof(*e));
    if (!e)
        return bs_fail(errstr, errstr_size, BS_ENOMEM, "out of memory");
    e->base.ops = &openai_ops;
    e->base.dimension = params->dimension;
    snprintf(e->base.model, sizeof(e->base.model), "openai:%s/%zu",
             params->model, params->dimension);
    e->timeout_ms = params->timeout_ms;
    e->max_retries = params->max_retries;
    e->batch_size = params->batch_size;
    clock_gettime(CLOCK_REALTIME, &now);
    e->jitter_state = ((uint64_t)now.tv_nsec << 20) ^ (uint64_t)now.tv_sec ^
                      ((uint64_t)getpid() << 40) ^ 1;

    e->url = strdup(params->url);
    e->request_model = strdup(params->model);
    if (!e->url || !e->request_model || !build_headers(e, params->api_key) ||
        !setup_curl(e)) {
        openai_free(&e->base);
        return bs_fail(errstr, errstr_size, BS_ENOMEM,
                       "out of memory creating the openai embedder");
    }
    *out = &e->base;
    return BS_OK;
}
