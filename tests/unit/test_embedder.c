/*
 * test_embedder.c - the hash embedder (normalization, determinism, unit
 * length, thread safety), bs_embedder_from_config (choice and refusal of
 * bad configurations) and a retrieval check on tests/data/faq/retrieval.json
 * that prints hit@1 / hit@3 and asserts only a floor, so that a broken
 * embedder fails without pinning the exact quality.
 */
#include "harness.h"

#include "bs/chunker.h"
#include "bs/config.h"
#include "bs/embedder.h"
#include "bs/error.h"

#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DIM 256

static struct bs_embedder *new_hash(size_t dimension)
{
    struct bs_embedder *embedder = NULL;
    char errstr[256];

    BS_ASSERT_INT_EQ(
        bs_embedder_new_hash(dimension, &embedder, errstr, sizeof(errstr)),
        BS_OK);
    CU_ASSERT_PTR_NOT_NULL_FATAL(embedder);
    return embedder;
}

static void embed1(struct bs_embedder *embedder, const char *text,
                   float *vector)
{
    char errstr[256];

    BS_ASSERT_INT_EQ(
        bs_embedder_embed(embedder, &text, 1, vector, errstr, sizeof(errstr)),
        BS_OK);
}

static float norm2(const float *v, size_t dimension)
{
    return bs_embedding_cosine(v, v, dimension);
}

static bool is_zero(const float *v, size_t dimension)
{
    for (size_t i = 0; i < dimension; i++)
        if (v[i] != 0.0f)
            return false;
    return true;
}

static void test_hash_model_name_records_version_and_dimension(void)
{
    struct bs_embedder *embedder = new_hash(DIM);
    struct bs_embedder *wide = new_hash(1024);
    char errstr[256];
    struct bs_embedder *bad = (void *)1;

    BS_ASSERT_STR_EQ(bs_embedder_model(embedder), "hash-v1-d256");
    BS_ASSERT_INT_EQ(bs_embedder_dimension(embedder), 256);
    BS_ASSERT_STR_EQ(bs_embedder_model(wide), "hash-v1-d1024");
    BS_ASSERT_INT_EQ(bs_embedder_new_hash(8, &bad, errstr, sizeof(errstr)),
                     BS_EINVAL);
    CU_ASSERT_PTR_NULL(bad);
    bs_embedder_free(embedder);
    bs_embedder_free(wide);
}

static void test_hash_vectors_are_unit_length_and_deterministic(void)
{
    const char *texts[] = {"How does the security deposit work?",
                           "Pets are welcome in most villas.",
                           "How does the security deposit work?"};
    struct bs_embedder *a = new_hash(DIM), *b = new_hash(DIM);
    float va[3 * DIM], vb[3 * DIM];
    char errstr[256];

    BS_ASSERT_INT_EQ(bs_embedder_embed(a, texts, 3, va, errstr, sizeof(errstr)),
                     BS_OK);
    BS_ASSERT_INT_EQ(bs_embedder_embed(b, texts, 3, vb, errstr, sizeof(errstr)),
                     BS_OK);
    for (int i = 0; i < 3; i++) {
        float n = norm2(va + i * DIM, DIM);

        CU_ASSERT(n > 0.9999f && n < 1.0001f);
    }
    /* bitwise the same: within a batch, across batches and embedders */
    CU_ASSERT(memcmp(va, va + 2 * DIM, DIM * sizeof(float)) == 0);
    CU_ASSERT(memcmp(va, vb, sizeof(va)) == 0);
    CU_ASSERT(bs_embedding_cosine(va, va + DIM, DIM) < 0.5f);
    bs_embedder_free(a);
    bs_embedder_free(b);
}

/*
 * The largest components of a fixed text: changes when the algorithm does,
 * which must also change the model name (HASH_VERSION in embedder_hash.c).
 */
static void test_hash_algorithm_is_pinned_to_its_version(void)
{
    struct bs_embedder *embedder = new_hash(DIM);
    float v[DIM];
    int top = -1, nonzero = 0;
    char actual[64];

    embed1(embedder, "Heated villa pool", v);
    for (int i = 0; i < DIM; i++) {
        if (v[i] != 0.0f)
            nonzero++;
        if (top < 0 || v[i] * v[i] > v[top] * v[top])
            top = i;
    }
    snprintf(actual, sizeof(actual), "%s top=%d:%.4f nonzero=%d",
             bs_embedder_model(embedder), top, (double)v[top], nonzero);
    BS_ASSERT_STR_EQ(actual, "hash-v1-d256 top=26:-0.3814 nonzero=20");
    bs_embedder_free(embedder);
}

static void test_case_and_unicode_forms_are_one_token(void)
{
    const char *forms[] = {
        "Zoë",
        "ZOË",
        "zoë",
        "Zoe\xcc\x88",                      /* e + combining diaeresis (NFD) */
        "\xef\xbc\xba\xef\xbd\x8f\xc3\xab", /* fullwidth Ｚｏ + ë (NFKC) */
    };
    struct bs_embedder *embedder = new_hash(DIM);
    float first[DIM], v[DIM];

    embed1(embedder, forms[0], first);
    CU_ASSERT(!is_zero(first, DIM));
    for (size_t i = 1; i < sizeof(forms) / sizeof(forms[0]); i++) {
        embed1(embedder, forms[i], v);
        if (memcmp(first, v, sizeof(v)) != 0)
            BS_ASSERT_STR_EQ(forms[i], "the same vector as Zoë");
    }
    /* ASCII fast path and utf8proc agree: "ZOE" == "zoe" */
    embed1(embedder, "ZOE", first);
    embed1(embedder, "zoe", v);
    CU_ASSERT(memcmp(first, v, sizeof(v)) == 0);
    /* and punctuation only separates */
    embed1(embedder, "zoe!", v);
    CU_ASSERT(memcmp(first, v, sizeof(v)) == 0);
    bs_embedder_free(embedder);
}

static void test_text_without_words_is_the_zero_vector(void)
{
    const char *texts[] = {"", "   \n\t", "?!... ---", "the of and to"};
    struct bs_embedder *embedder = new_hash(DIM);
    float v[4 * DIM];
    char errstr[256];

    memset(v, 0x7f, sizeof(v));
    BS_ASSERT_INT_EQ(
        bs_embedder_embed(embedder, texts, 4, v, errstr, sizeof(errstr)),
        BS_OK);
    for (int i = 0; i < 4; i++)
        CU_ASSERT(is_zero(v + i * DIM, DIM));
    BS_ASSERT_INT_EQ(
        bs_embedder_embed(embedder, texts, 0, NULL, errstr, sizeof(errstr)),
        BS_OK);
    bs_embedder_free(embedder);
}

static void test_invalid_utf8_is_a_data_error(void)
{
    const char *texts[] = {"fine", "bad \xc3\x28 byte"};
    struct bs_embedder *embedder = new_hash(DIM);
    float v[2 * DIM];
    char errstr[256] = "";

    BS_ASSERT_INT_EQ(
        bs_embedder_embed(embedder, texts, 2, v, errstr, sizeof(errstr)),
        BS_EINVAL);
    BS_ASSERT_STR_EQ(errstr, "text 1 of 2 is not valid UTF-8");
    bs_embedder_free(embedder);
}

static void test_related_texts_score_above_unrelated(void)
{
    struct bs_embedder *embedder = new_hash(DIM);
    float doc[DIM], near[DIM], far[DIM];

    embed1(embedder,
           "Cancellation policy: cancel free of charge up to 14 days "
           "before arrival for a full refund.",
           doc);
    embed1(embedder, "can I get a refund if I cancel my booking", near);
    embed1(embedder, "is there wifi in the apartment", far);
    CU_ASSERT(bs_embedding_cosine(doc, near, DIM) >
              bs_embedding_cosine(doc, far, DIM) + 0.1f);
    bs_embedder_free(embedder);
}

static void test_long_texts_are_embedded_deterministically(void)
{
    size_t size = 300000;
    char *many = malloc(size + 1), *one = malloc(size + 1);
    struct bs_embedder *embedder = new_hash(DIM);
    float a[DIM], b[DIM];
    size_t len = 0;

    /* ~40,000 distinct words: the feature table grows several times */
    for (unsigned i = 0; len + 16 < size; i++)
        len += (size_t)sprintf(many + len, "w%ux ", i * 2654435761u);
    many[len] = '\0';
    memset(one, 'z', size);
    one[size] = '\0';

    embed1(embedder, many, a);
    embed1(embedder, many, b);
    CU_ASSERT(memcmp(a, b, sizeof(a)) == 0);
    CU_ASSERT(norm2(a, DIM) > 0.9999f && norm2(a, DIM) < 1.0001f);
    embed1(embedder, one, a);
    CU_ASSERT(norm2(a, DIM) > 0.9999f && norm2(a, DIM) < 1.0001f);
    free(many);
    free(one);
    bs_embedder_free(embedder);
}

struct thread_job {
    struct bs_embedder *embedder;
    const char *const *texts;
    size_t count;
    float *vectors;
    int result;
};

static void *embed_thread(void *arg)
{
    struct thread_job *job = arg;
    char errstr[256];

    for (int round = 0; round < 50 && job->result == BS_OK; round++)
        job->result = bs_embedder_embed(job->embedder, job->texts, job->count,
                                        job->vectors, errstr, sizeof(errstr));
    return NULL;
}

static void test_hash_embedder_is_thread_safe(void)
{
    const char *texts[] = {"Zoë books boat trips", "villa with heated pool",
                           "Ελληνικά γράμματα", "deposit refund in 7 days"};
    struct bs_embedder *embedder = new_hash(DIM);
    float expected[4 * DIM];
    float got[4][4 * DIM];
    struct thread_job jobs[4];
    pthread_t threads[4];
    char errstr[256];

    BS_ASSERT_INT_EQ(
        bs_embedder_embed(embedder, texts, 4, expected, errstr, sizeof(errstr)),
        BS_OK);
    for (int t = 0; t < 4; t++) {
        jobs[t] = (struct thread_job){embedder, texts, 4, got[t], BS_OK};
        CU_ASSERT_FATAL(
            pthread_create(&threads[t], NULL, embed_thread, &jobs[t]) == 0);
    }
    for (int t = 0; t < 4; t++) {
        pthread_join(threads[t], NULL);
        BS_ASSERT_INT_EQ(jobs[t].result, BS_OK);
        CU_ASSERT(memcmp(got[t], expected, sizeof(expected)) == 0);
    }
    bs_embedder_free(embedder);
}

/* ---- bs_embedder_from_config --------------------------------------- */

static const struct bs_config_var embedder_vars[] = {BS_EMBEDDER_CONFIG_VARS};

static const char *const embedder_var_names[] = {
    "EMBEDDER",
    "EMBEDDINGS_DIM",
    "EMBEDDINGS_URL",
    "EMBEDDINGS_MODEL",
    "EMBEDDINGS_API_KEY",
    "EMBEDDINGS_TIMEOUT_MS",
    "EMBEDDINGS_MAX_RETRIES",
    "EMBEDDINGS_BATCH_SIZE",
};

/*
 * Sets the environment to exactly `settings` ("NAME=value", NULL-ended) for
 * the embedder variables, then calls bs_embedder_from_config. Returns its
 * status; *out is the embedder (NULL on failure).
 */
static int from_env(const char *const *settings, struct bs_embedder **out,
                    char *errstr, size_t errstr_size)
{
    struct bs_config *config = NULL;
    int result;

    for (size_t i = 0; i < sizeof(embedder_var_names) / sizeof(char *); i++)
        unsetenv(embedder_var_names[i]);
    for (size_t i = 0; settings[i]; i++)
        putenv((char *)settings[i]);
    result = bs_config_load(&config, embedder_vars,
                            sizeof(embedder_vars) / sizeof(embedder_vars[0]),
                            errstr, errstr_size);
    BS_ASSERT_INT_EQ(result, BS_OK);
    if (result != BS_OK)
        return result;
    result = bs_embedder_from_config(config, out, errstr, errstr_size);
    bs_config_free(config);
    for (size_t i = 0; i < sizeof(embedder_var_names) / sizeof(char *); i++)
        unsetenv(embedder_var_names[i]);
    return result;
}

static void test_config_defaults_to_hash_256(void)
{
    const char *settings[] = {NULL};
    struct bs_embedder *embedder = NULL;
    char errstr[256];

    BS_ASSERT_INT_EQ(from_env(settings, &embedder, errstr, sizeof(errstr)),
                     BS_OK);
    BS_ASSERT_STR_EQ(bs_embedder_model(embedder), "hash-v1-d256");
    bs_embedder_free(embedder);
}

static void test_config_hash_takes_the_dimension(void)
{
    const char *settings[] = {"EMBEDDER=hash", "EMBEDDINGS_DIM=512", NULL};
    struct bs_embedder *embedder = NULL;
    char errstr[256];

    BS_ASSERT_INT_EQ(from_env(settings, &embedder, errstr, sizeof(errstr)),
                     BS_OK);
    BS_ASSERT_STR_EQ(bs_embedder_model(embedder), "hash-v1-d512");
    BS_ASSERT_INT_EQ(bs_embedder_dimension(embedder), 512);
    bs_embedder_free(embedder);
}

static void test_config_openai_names_model_and_dimension(void)
{
    const char *settings[] = {"EMBEDDER=openai",
                              "EMBEDDINGS_DIM=768",
                              "EMBEDDINGS_URL=http://127.0.0.1:9/v1/embeddings",
                              "EMBEDDINGS_MODEL=nomic-embed-text",
                              "EMBEDDINGS_API_KEY=sk-secret-1",
                              NULL};
    struct bs_embedder *embedder = NULL;
    char errstr[256];

    BS_ASSERT_INT_EQ(from_env(settings, &embedder, errstr, sizeof(errstr)),
                     BS_OK);
    BS_ASSERT_STR_EQ(bs_embedder_model(embedder),
                     "openai:nomic-embed-text/768");
    BS_ASSERT_INT_EQ(bs_embedder_dimension(embedder), 768);
    bs_embedder_free(embedder);
}

static void assert_config_refused(const char *const *settings,
                                  const char *expected_in_errstr)
{
    struct bs_embedder *embedder = (void *)1;
    char errstr[256] = "";

    BS_ASSERT_INT_EQ(from_env(settings, &embedder, errstr, sizeof(errstr)),
                     BS_ECONFIG);
    CU_ASSERT_PTR_NULL(embedder);
    if (!strstr(errstr, expected_in_errstr))
        BS_ASSERT_STR_EQ(errstr, expected_in_errstr);
    CU_ASSERT_PTR_NULL(strstr(errstr, "sk-secret"));
}

static void test_config_errors_are_refused(void)
{
    const char *unknown[] = {"EMBEDDER=word2vec", NULL};
    const char *bad_dim[] = {"EMBEDDINGS_DIM=25six", NULL};
    const char *small_dim[] = {"EMBEDDINGS_DIM=4", NULL};
    const char *no_url[] = {"EMBEDDER=openai", "EMBEDDINGS_MODEL=m",
                            "EMBEDDINGS_API_KEY=sk-secret-2", NULL};
    const char *no_model[] = {"EMBEDDER=openai",
                              "EMBEDDINGS_URL=http://127.0.0.1:9/", NULL};
    const char *bad_url[] = {"EMBEDDER=openai", "EMBEDDINGS_MODEL=m",
                             "EMBEDDINGS_URL=ftp://x/", NULL};
    const char *bad_timeout[] = {"EMBEDDER=openai",
                                 "EMBEDDINGS_MODEL=m",
                                 "EMBEDDINGS_URL=http://127.0.0.1:9/",
                                 "EMBEDDINGS_TIMEOUT_MS=0",
                                 "EMBEDDINGS_API_KEY=sk-secret-3",
                                 NULL};
    const char *bad_batch[] = {"EMBEDDER=openai", "EMBEDDINGS_MODEL=m",
                               "EMBEDDINGS_URL=http://127.0.0.1:9/",
                               "EMBEDDINGS_BATCH_SIZE=lots", NULL};
    const char *bad_retries[] = {"EMBEDDER=openai", "EMBEDDINGS_MODEL=m",
                                 "EMBEDDINGS_URL=http://127.0.0.1:9/",
                                 "EMBEDDINGS_MAX_RETRIES=-1", NULL};

    assert_config_refused(unknown, "EMBEDDER='word2vec'");
    assert_config_refused(bad_dim, "EMBEDDINGS_DIM");
    assert_config_refused(small_dim, "dimension 4");
    assert_config_refused(no_url, "EMBEDDINGS_URL");
    assert_config_refused(no_model, "EMBEDDINGS_MODEL");
    assert_config_refused(bad_url, "EMBEDDINGS_URL");
    assert_config_refused(bad_timeout, "EMBEDDINGS_TIMEOUT_MS");
    assert_config_refused(bad_batch, "EMBEDDINGS_BATCH_SIZE");
    assert_config_refused(bad_retries, "EMBEDDINGS_MAX_RETRIES");
}

/* ---- retrieval check --------------------------------------------------- */

struct retrieval_doc {
    const char *id;
    const char *product;
    char *text; /* title + content */
};

/* Rank of `expected` (0-based) among docs of `product` for query vector q. */
static size_t rank_of(const float *q, const float *doc_vectors,
                      const struct retrieval_doc *docs, size_t ndocs,
                      size_t expected)
{
    float target = bs_embedding_cosine(q, doc_vectors + expected * DIM, DIM);
    size_t rank = 0;

    for (size_t d = 0; d < ndocs; d++)
        if (d != expected &&
            strcmp(docs[d].product, docs[expected].product) == 0 &&
            bs_embedding_cosine(q, doc_vectors + d * DIM, DIM) >= target)
            rank++;
    return rank;
}

static void test_retrieval_on_faq_documents(void)
{
    char path[1024];
    json_error_t error;
    json_t *root =
        json_load_file(bs_test_source_path("tests/data/faq/retrieval.json",
                                           path, sizeof(path)),
                       0, &error);
    json_t *documents = json_object_get(root, "documents");
    size_t ndocs = json_array_size(documents), queries = 0, hit1 = 0, hit3 = 0;
    struct bs_embedder *embedder = new_hash(DIM);
    struct retrieval_doc *docs = calloc(ndocs, sizeof(*docs));
    float *doc_vectors = calloc(ndocs * DIM, sizeof(float)), q[DIM];

    CU_ASSERT_PTR_NOT_NULL_FATAL(root);
    CU_ASSERT_FATAL(ndocs >= 24);
    for (size_t d = 0; d < ndocs; d++) {
        json_t *doc = json_array_get(documents, d);
        const char *title = json_string_value(json_object_get(doc, "title"));
        const char *content =
            json_string_value(json_object_get(doc, "content"));
        size_t size = strlen(title) + strlen(content) + 3;

        docs[d].id = json_string_value(json_object_get(doc, "id"));
        docs[d].product = json_string_value(json_object_get(doc, "product"));
        docs[d].text = malloc(size);
        snprintf(docs[d].text, size, "%s\n\n%s", title, content);
        embed1(embedder, docs[d].text, doc_vectors + d * DIM);
    }

    for (size_t d = 0; d < ndocs; d++) {
        json_t *list = json_object_get(json_array_get(documents, d), "queries");

        for (size_t i = 0; i < json_array_size(list); i++) {
            size_t rank;

            embed1(embedder, json_string_value(json_array_get(list, i)), q);
            rank = rank_of(q, doc_vectors, docs, ndocs, d);
            queries++;
            hit1 += rank == 0;
            hit3 += rank < 3;
            if (rank >= 3)
                printf("\n    miss (rank %zu): %s -> %s", rank + 1,
                       json_string_value(json_array_get(list, i)), docs[d].id);
        }
    }
    printf("\n    retrieval %s: %zu documents, %zu queries, hit@1 %.2f, "
           "hit@3 %.2f\n",
           bs_embedder_model(embedder), ndocs, queries,
           (double)hit1 / (double)queries, (double)hit3 / (double)queries);
    CU_ASSERT(queries >= 40);
    CU_ASSERT((double)hit3 / (double)queries >= 0.6);
    CU_ASSERT((double)hit1 / (double)queries >= 0.4);

    for (size_t d = 0; d < ndocs; d++)
        free(docs[d].text);
    free(docs);
    free(doc_vectors);
    bs_embedder_free(embedder);
    json_decref(root);
}

static CU_TestInfo hash_tests[] = {
    {"model name records version and dimension",
     test_hash_model_name_records_version_and_dimension},
    {"vectors are unit length and deterministic",
     test_hash_vectors_are_unit_length_and_deterministic},
    {"algorithm is pinned to its version",
     test_hash_algorithm_is_pinned_to_its_version},
    {"case and Unicode forms are one token",
     test_case_and_unicode_forms_are_one_token},
    {"text without words is the zero vector",
     test_text_without_words_is_the_zero_vector},
    {"invalid UTF-8 is a data error", test_invalid_utf8_is_a_data_error},
    {"related texts score above unrelated",
     test_related_texts_score_above_unrelated},
    {"long texts are embedded deterministically",
     test_long_texts_are_embedded_deterministically},
    {"hash embedder is thread-safe", test_hash_embedder_is_thread_safe},
    CU_TEST_INFO_NULL,
};

static CU_TestInfo config_tests[] = {
    {"defaults to hash 256", test_config_defaults_to_hash_256},
    {"hash takes the dimension", test_config_hash_takes_the_dimension},
    {"openai names model and dimension",
     test_config_openai_names_model_and_dimension},
    {"configuration errors are refused", test_config_errors_are_refused},
    CU_TEST_INFO_NULL,
};

static CU_TestInfo retrieval_tests[] = {
    {"retrieval on FAQ documents", test_retrieval_on_faq_documents},
    CU_TEST_INFO_NULL,
};

static void register_suites(void)
{
    bs_test_add_suite("hash embedder", NULL, NULL, hash_tests);
    bs_test_add_suite("embedder config", NULL, NULL, config_tests);
    bs_test_add_suite("retrieval", NULL, NULL, retrieval_tests);
}

int main(void)
{
    return bs_test_main(register_suites);
}
