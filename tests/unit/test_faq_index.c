/*
 * test_faq_index.c - the gateway's in-memory FAQ vector index.
 *
 * Small hand-made vectors (dimension 4) make the expected ranking obvious:
 * documents are ranked by their best chunk, at most k, optionally one
 * category; a query of another model or dimension is refused; an empty
 * index and a zero query find nothing; a slot keeps an old index alive for
 * the readers that hold it. One case runs real text through the hash
 * embedder; one compares every search over 300 random documents with a
 * brute-force ranking computed here in double precision.
 */
#include "faq_index.h"
#include "harness.h"

#include "bs/embedder.h"
#include "bs/error.h"

#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DIM   4
#define MODEL "test-v1-d4"

static const float east[DIM] = {1, 0, 0, 0};
static const float north[DIM] = {0, 1, 0, 0};
static const float up[DIM] = {0, 0, 1, 0};
static const float north_east[DIM] = {1, 1, 0, 0};

/*
 * Three documents:
 *   a (rules): chunk 0 north, chunk 1 east   -> best for an east query: 1.0
 *   b (none):  chunk 0 north-east            -> 0.707
 *   c (rules): chunk 0 up                    -> 0
 */
static struct faq_index *three_documents(void)
{
    struct faq_index_builder *builder;
    struct faq_index *index = NULL;

    CU_ASSERT_EQUAL_FATAL(faq_index_builder_new(MODEL, DIM, 7, &builder),
                          BS_OK);
    CU_ASSERT_EQUAL(
        faq_index_builder_add_document(builder, "a", "Pets?", "rules"), BS_OK);
    CU_ASSERT_EQUAL(faq_index_builder_add_chunk(builder, 0, "a0", north),
                    BS_OK);
    CU_ASSERT_EQUAL(faq_index_builder_add_chunk(builder, 1, "a1", east), BS_OK);
    CU_ASSERT_EQUAL(
        faq_index_builder_add_document(builder, "b", "Parking?", NULL), BS_OK);
    CU_ASSERT_EQUAL(faq_index_builder_add_chunk(builder, 0, "b0", north_east),
                    BS_OK);
    CU_ASSERT_EQUAL(
        faq_index_builder_add_document(builder, "c", "Noise?", "rules"), BS_OK);
    CU_ASSERT_EQUAL(faq_index_builder_add_chunk(builder, 0, "c0", up), BS_OK);
    CU_ASSERT_EQUAL_FATAL(faq_index_builder_finish(builder, &index), BS_OK);
    return index;
}

static void test_documents_are_ranked_by_their_best_chunk(void)
{
    struct faq_index *index = three_documents();
    struct faq_hit hits[FAQ_INDEX_K_MAX];
    size_t count = 99;

    BS_ASSERT_INT_EQ(faq_index_document_count(index), 3);
    BS_ASSERT_INT_EQ(faq_index_chunk_count(index), 4);
    BS_ASSERT_INT_EQ(faq_index_generation(index), 7);
    BS_ASSERT_STR_EQ(faq_index_model(index), MODEL);
    BS_ASSERT_INT_EQ(
        faq_index_search(index, MODEL, east, DIM, NULL, 5, hits, &count),
        BS_OK);
    BS_ASSERT_INT_EQ(count, 3);
    BS_ASSERT_STR_EQ(hits[0].document_id, "a");
    BS_ASSERT_STR_EQ(hits[0].title, "Pets?");
    BS_ASSERT_STR_EQ(hits[0].chunk, "a1");
    BS_ASSERT_INT_EQ(hits[0].chunk_index, 1);
    BS_ASSERT_STR_EQ(hits[0].category, "rules");
    CU_ASSERT_DOUBLE_EQUAL(hits[0].score, 1.0, 1e-5);
    BS_ASSERT_STR_EQ(hits[1].document_id, "b");
    CU_ASSERT_PTR_NULL(hits[1].category);
    CU_ASSERT_DOUBLE_EQUAL(hits[1].score, sqrt(0.5), 1e-5);
    BS_ASSERT_STR_EQ(hits[2].document_id, "c");
    CU_ASSERT_DOUBLE_EQUAL(hits[2].score, 0.0, 1e-5);

    /* A query need not be normalized: the same ranking. */
    {
        const float long_north[DIM] = {0, 5, 0, 0};

        faq_index_search(index, MODEL, long_north, DIM, NULL, 5, hits, &count);
        BS_ASSERT_STR_EQ(hits[0].document_id, "a");
        BS_ASSERT_STR_EQ(hits[0].chunk, "a0");
        CU_ASSERT_DOUBLE_EQUAL(hits[0].score, 1.0, 1e-5);
    }
    faq_index_unref(index);
}

static void test_k_bounds_the_results(void)
{
    struct faq_index *index = three_documents();
    struct faq_hit hits[FAQ_INDEX_K_MAX];
    size_t count = 99;

    BS_ASSERT_INT_EQ(
        faq_index_search(index, MODEL, east, DIM, NULL, 1, hits, &count),
        BS_OK);
    BS_ASSERT_INT_EQ(count, 1);
    BS_ASSERT_STR_EQ(hits[0].document_id, "a");
    BS_ASSERT_INT_EQ(
        faq_index_search(index, MODEL, east, DIM, NULL, 2, hits, &count),
        BS_OK);
    BS_ASSERT_INT_EQ(count, 2);
    BS_ASSERT_STR_EQ(hits[1].document_id, "b");
    BS_ASSERT_INT_EQ(
        faq_index_search(index, MODEL, east, DIM, NULL, 0, hits, &count),
        BS_EINVAL);
    BS_ASSERT_INT_EQ(count, 0);
    BS_ASSERT_INT_EQ(faq_index_search(index, MODEL, east, DIM, NULL,
                                      FAQ_INDEX_K_MAX + 1, hits, &count),
                     BS_EINVAL);
    faq_index_unref(index);
}

static void test_category_filter_keeps_only_that_category(void)
{
    struct faq_index *index = three_documents();
    struct faq_hit hits[FAQ_INDEX_K_MAX];
    size_t count = 99;

    BS_ASSERT_INT_EQ(faq_index_search(index, MODEL, north_east, DIM, "rules", 5,
                                      hits, &count),
                     BS_OK);
    BS_ASSERT_INT_EQ(count, 2);
    BS_ASSERT_STR_EQ(hits[0].document_id, "a");
    BS_ASSERT_STR_EQ(hits[1].document_id, "c");
    BS_ASSERT_INT_EQ(faq_index_search(index, MODEL, north_east, DIM, "nothing",
                                      5, hits, &count),
                     BS_OK);
    BS_ASSERT_INT_EQ(count, 0);
    faq_index_unref(index);
}

static void test_query_of_another_model_is_refused(void)
{
    struct faq_index *index = three_documents();
    struct faq_hit hits[FAQ_INDEX_K_MAX];
    size_t count = 99;
    const float wide[DIM + 1] = {1, 0, 0, 0, 0};

    BS_ASSERT_INT_EQ(faq_index_search(index, "hash-v1-d256", east, DIM, NULL, 5,
                                      hits, &count),
                     FAQ_INDEX_MODEL_MISMATCH);
    BS_ASSERT_INT_EQ(count, 0);
    /* Same name, other dimension: still incompatible. */
    BS_ASSERT_INT_EQ(
        faq_index_search(index, MODEL, wide, DIM + 1, NULL, 5, hits, &count),
        FAQ_INDEX_MODEL_MISMATCH);
    BS_ASSERT_INT_EQ(
        faq_index_search(index, NULL, east, DIM, NULL, 5, hits, &count),
        FAQ_INDEX_MODEL_MISMATCH);
    faq_index_unref(index);
}

static void test_empty_index_finds_nothing(void)
{
    struct faq_index_builder *builder;
    struct faq_index *index;
    struct faq_hit hits[FAQ_INDEX_K_MAX];
    size_t count = 99;

    /* No model at all: a product without embeddings. */
    CU_ASSERT_EQUAL_FATAL(faq_index_builder_new(NULL, DIM, 0, &builder), BS_OK);
    CU_ASSERT_EQUAL_FATAL(faq_index_builder_finish(builder, &index), BS_OK);
    CU_ASSERT_PTR_NULL(faq_index_model(index));
    BS_ASSERT_INT_EQ(
        faq_index_search(index, MODEL, east, DIM, NULL, 5, hits, &count),
        BS_OK);
    BS_ASSERT_INT_EQ(count, 0);
    faq_index_unref(index);

    /* A document without chunks is dropped. */
    CU_ASSERT_EQUAL_FATAL(faq_index_builder_new(MODEL, DIM, 1, &builder),
                          BS_OK);
    faq_index_builder_add_document(builder, "x", "Empty", NULL);
    CU_ASSERT_EQUAL_FATAL(faq_index_builder_finish(builder, &index), BS_OK);
    BS_ASSERT_INT_EQ(faq_index_document_count(index), 0);
    BS_ASSERT_INT_EQ(
        faq_index_search(index, MODEL, east, DIM, NULL, 5, hits, &count),
        BS_OK);
    BS_ASSERT_INT_EQ(count, 0);
    /* Empty but of a model: another model is still a mismatch. */
    BS_ASSERT_INT_EQ(faq_index_search(index, "other-model", east, DIM, NULL, 5,
                                      hits, &count),
                     FAQ_INDEX_MODEL_MISMATCH);
    faq_index_unref(index);

    /* A chunk before any document, or without a model, is refused. */
    CU_ASSERT_EQUAL_FATAL(faq_index_builder_new(MODEL, DIM, 1, &builder),
                          BS_OK);
    BS_ASSERT_INT_EQ(faq_index_builder_add_chunk(builder, 0, "t", east),
                     BS_EINVAL);
    faq_index_builder_free(builder);
    CU_ASSERT_EQUAL_FATAL(faq_index_builder_new(NULL, DIM, 1, &builder), BS_OK);
    faq_index_builder_add_document(builder, "x", "No model", NULL);
    BS_ASSERT_INT_EQ(faq_index_builder_add_chunk(builder, 0, "t", east),
                     BS_EINVAL);
    faq_index_builder_free(builder);
}

static void test_zero_query_vector_matches_nothing(void)
{
    struct faq_index *index = three_documents();
    struct faq_hit hits[FAQ_INDEX_K_MAX];
    const float zero[DIM] = {0};
    size_t count = 99;

    BS_ASSERT_INT_EQ(
        faq_index_search(index, MODEL, zero, DIM, NULL, 5, hits, &count),
        BS_OK);
    BS_ASSERT_INT_EQ(count, 0);
    faq_index_unref(index);
}

static void test_slot_keeps_the_old_index_for_its_readers(void)
{
    struct faq_index_slot slot;
    struct faq_index *first = three_documents(), *held, *now;
    struct faq_index_builder *builder;
    struct faq_index *second;
    struct faq_hit hits[FAQ_INDEX_K_MAX];
    size_t count;

    faq_index_slot_init(&slot);
    CU_ASSERT_PTR_NULL(faq_index_slot_get(&slot));
    CU_ASSERT_TRUE(faq_index_slot_claim(&slot, true));
    CU_ASSERT_FALSE(faq_index_slot_claim(&slot, false)); /* one rebuild */
    faq_index_slot_put(&slot, first);
    held = faq_index_slot_get(&slot);
    CU_ASSERT_PTR_EQUAL(held, first);

    /* A reload swaps in a new index while a reader still holds the old. */
    faq_index_builder_new(MODEL, DIM, 8, &builder);
    faq_index_builder_finish(builder, &second);
    CU_ASSERT_TRUE(faq_index_slot_claim(&slot, false));
    faq_index_slot_put(&slot, second);
    now = faq_index_slot_get(&slot);
    BS_ASSERT_INT_EQ(faq_index_generation(now), 8);
    faq_index_unref(now);
    BS_ASSERT_INT_EQ(
        faq_index_search(held, MODEL, east, DIM, NULL, 5, hits, &count), BS_OK);
    BS_ASSERT_INT_EQ(count, 3);
    BS_ASSERT_STR_EQ(hits[0].chunk, "a1");
    faq_index_unref(held); /* the last reference: freed (ASan checks) */

    CU_ASSERT_TRUE(faq_index_slot_claim(&slot, false));
    faq_index_slot_abandon(&slot);
    CU_ASSERT_TRUE(faq_index_slot_claim(&slot, false));
    faq_index_slot_abandon(&slot);
    faq_index_slot_destroy(&slot);
}

/* Readers searching while a writer keeps swapping indexes in: every
 * reader's index stays whole until it lets go (ASan would see a use after
 * free), and the last index is the one installed last. */
struct stress {
    struct faq_index_slot *slot;
    int rounds;
    int searched, found; /* searches run, and with the expected answer */
};

static void *stress_reader(void *arg)
{
    struct stress *s = arg;
    struct faq_hit hits[FAQ_INDEX_K_MAX];
    size_t count;

    for (int i = 0; i < s->rounds; i++) {
        struct faq_index *index = faq_index_slot_get(s->slot);

        if (!index)
            continue;
        s->searched++;
        if (faq_index_search(index, MODEL, east, DIM, NULL, 3, hits, &count) ==
                BS_OK &&
            count == 3 && strcmp(hits[0].chunk, "a1") == 0)
            s->found++;
        faq_index_unref(index);
    }
    return NULL;
}

static void test_slot_swaps_under_concurrent_readers(void)
{
    struct faq_index_slot slot;
    struct stress readers[4];
    pthread_t threads[4];
    struct faq_index *last;

    faq_index_slot_init(&slot);
    for (int t = 0; t < 4; t++) {
        readers[t] = (struct stress){&slot, 2000, 0, 0};
        pthread_create(&threads[t], NULL, stress_reader, &readers[t]);
    }
    for (int i = 0; i < 200; i++) {
        if (faq_index_slot_claim(&slot, false))
            faq_index_slot_put(&slot, three_documents());
    }
    for (int t = 0; t < 4; t++) {
        pthread_join(threads[t], NULL);
        BS_ASSERT_INT_EQ(readers[t].found, readers[t].searched);
    }
    last = faq_index_slot_get(&slot);
    CU_ASSERT_PTR_NOT_NULL(last);
    if (last)
        BS_ASSERT_INT_EQ(faq_index_document_count(last), 3);
    faq_index_unref(last);
    faq_index_slot_destroy(&slot);
}

/* encode(array_send('{1,-2}'::real[]), 'hex') and broken variants. */
static void test_vector_from_array_send_hex(void)
{
    static const char two[] = "00000001"
                              "00000000"
                              "000002bc"
                              "00000002"
                              "00000001"
                              "00000004"
                              "3f800000"
                              "00000004"
                              "c0000000";
    float out[4] = {0};
    char copy[sizeof(two)];

    BS_ASSERT_INT_EQ(faq_vector_from_hex(two, out, 4), 2);
    CU_ASSERT_DOUBLE_EQUAL(out[0], 1.0, 0);
    CU_ASSERT_DOUBLE_EQUAL(out[1], -2.0, 0);
    BS_ASSERT_INT_EQ(faq_vector_from_hex(two, out, 1), -1); /* too many */
    BS_ASSERT_INT_EQ(faq_vector_from_hex("000000000000000000000"
                                         "2bc",
                                         out, 4),
                     0); /* '{}' */
    BS_ASSERT_INT_EQ(faq_vector_from_hex("", out, 4), -1);
    BS_ASSERT_INT_EQ(faq_vector_from_hex("{1,2}", out, 4), -1);

    memcpy(copy, two, sizeof(two));
    copy[20] = '2'; /* element type 0x2bd: not float4 */
    copy[23] = 'd';
    BS_ASSERT_INT_EQ(faq_vector_from_hex(copy, out, 4), -1);
    memcpy(copy, two, sizeof(two));
    copy[15] = '1'; /* has NULLs */
    BS_ASSERT_INT_EQ(faq_vector_from_hex(copy, out, 4), -1);
    memcpy(copy, two, sizeof(two));
    copy[sizeof(two) - 2] = '\0'; /* truncated */
    BS_ASSERT_INT_EQ(faq_vector_from_hex(copy, out, 4), -1);
    memcpy(copy, two, sizeof(two));
    copy[50] = 'x'; /* not hex */
    BS_ASSERT_INT_EQ(faq_vector_from_hex(copy, out, 4), -1);
}

/* Real text through the hash embedder: the paraphrase finds its FAQ. */
static void test_hash_embedded_question_finds_its_document(void)
{
    static const char *const docs[][2] = {
        {"d1", "Are pets allowed? Small dogs and cats are welcome."},
        {"d2", "When is checkout? Checkout is at 11:00 in the morning."},
        {"d3", "Is there parking? Free parking for one car per villa."},
    };
    const char *query = "are small dogs welcome";
    struct bs_embedder *embedder;
    struct faq_index_builder *builder;
    struct faq_index *index;
    struct faq_hit hits[FAQ_INDEX_K_MAX];
    char errstr[256];
    size_t dim, count = 0;
    float *vector;

    CU_ASSERT_EQUAL_FATAL(
        bs_embedder_new_hash(256, &embedder, errstr, sizeof(errstr)), BS_OK);
    dim = bs_embedder_dimension(embedder);
    vector = malloc(dim * sizeof(float));
    faq_index_builder_new(bs_embedder_model(embedder), dim, 1, &builder);
    for (size_t i = 0; i < 3; i++) {
        const char *text = docs[i][1];

        CU_ASSERT_EQUAL(bs_embedder_embed(embedder, &text, 1, vector, errstr,
                                          sizeof(errstr)),
                        BS_OK);
        faq_index_builder_add_document(builder, docs[i][0], docs[i][1], NULL);
        faq_index_builder_add_chunk(builder, 0, text, vector);
    }
    faq_index_builder_finish(builder, &index);
    CU_ASSERT_EQUAL(
        bs_embedder_embed(embedder, &query, 1, vector, errstr, sizeof(errstr)),
        BS_OK);
    BS_ASSERT_INT_EQ(faq_index_search(index, bs_embedder_model(embedder),
                                      vector, dim, NULL, 3, hits, &count),
                     BS_OK);
    BS_ASSERT_INT_EQ(count, 3);
    if (count > 0) {
        BS_ASSERT_STR_EQ(hits[0].document_id, "d1");
        CU_ASSERT_TRUE(hits[0].score > hits[count - 1].score);
    }
    faq_index_unref(index);
    free(vector);
    bs_embedder_free(embedder);
}

/* ---- against a brute-force ranking --------------------------------------- */

#define RANDOM_DIM  36 /* not a multiple of 8: the dot product's tail runs */
#define RANDOM_DOCS 300
#define TIE_GAP     1e-4

/* One document of the reference: its best chunk's cosine and text. */
struct ref_hit {
    size_t doc;
    double score;
    char chunk[48];
};

static uint64_t random_state = 88172645463325252ULL;

static float random_float(void)
{
    random_state ^= random_state << 13;
    random_state ^= random_state >> 7;
    random_state ^= random_state << 17;
    return (float)((double)(random_state >> 11) / 9007199254740992.0 * 2 - 1);
}

static double cosine_double(const float *a, const float *b, size_t n)
{
    double ab = 0, aa = 0, bb = 0;

    for (size_t i = 0; i < n; i++) {
        ab += (double)a[i] * b[i];
        aa += (double)a[i] * a[i];
        bb += (double)b[i] * b[i];
    }
    return ab / sqrt(aa * bb);
}

static const char *random_category(size_t doc)
{
    static const char *const categories[] = {NULL, "house-rules", "payment"};

    return categories[doc % 3];
}

/* Best score descending, then document order (the index's tie rule). */
static int ref_compare(const void *a, const void *b)
{
    const struct ref_hit *x = a, *y = b;

    if (x->score != y->score)
        return x->score < y->score ? 1 : -1;
    return (x->doc > y->doc) - (x->doc < y->doc);
}

/* The expected hits for `query`: every document of `category` (NULL: all)
 * with its best chunk, sorted. Returns how many. */
static size_t reference_search(const float *vectors, const size_t *first,
                               const float *query, const char *category,
                               struct ref_hit *out)
{
    size_t n = 0;

    for (size_t d = 0; d < RANDOM_DOCS; d++) {
        const char *doc_category = random_category(d);
        struct ref_hit hit = {.doc = d, .score = -2};

        if (category && (!doc_category || strcmp(doc_category, category) != 0))
            continue;
        for (size_t c = first[d]; c < first[d + 1]; c++) {
            double score =
                cosine_double(query, vectors + c * RANDOM_DIM, RANDOM_DIM);

            if (score > hit.score) {
                hit.score = score;
                snprintf(hit.chunk, sizeof(hit.chunk), "d%zu.%zu", d,
                         c - first[d]);
            }
        }
        out[n++] = hit;
    }
    qsort(out, n, sizeof(*out), ref_compare);
    return n;
}

/* Whether position i's order is decided: an exact tie (order = document
 * order, compared) or a gap far above float rounding; a near-tie is not. */
static bool order_decided(const struct ref_hit *ref, size_t n, size_t i)
{
    for (size_t j = i ? i - 1 : i; j <= i + 1 && j < n; j++) {
        double gap = fabs(ref[j].score - ref[i].score);

        if (j != i && gap > 0 && gap < TIE_GAP)
            return false;
    }
    return true;
}

static void assert_same_as_reference(const struct faq_hit *hits, size_t count,
                                     const struct ref_hit *ref, size_t n,
                                     size_t k)
{
    char id[32];

    BS_ASSERT_INT_EQ(count, n < k ? n : k);
    for (size_t i = 0; i < count && i < n; i++) {
        CU_ASSERT_DOUBLE_EQUAL(hits[i].score, ref[i].score, 1e-5);
        if (i > 0)
            CU_ASSERT_TRUE(hits[i - 1].score >= hits[i].score);
        if (!order_decided(ref, n, i))
            continue;
        snprintf(id, sizeof(id), "d%zu", ref[i].doc);
        BS_ASSERT_STR_EQ(hits[i].document_id, id);
        BS_ASSERT_STR_EQ(hits[i].chunk, ref[i].chunk);
    }
}

/*
 * 300 documents of 1 to 4 random chunks, every fifth a copy of the one
 * before (exact ties, which must keep document order), three categories:
 * each search must give exactly the reference's documents, chunks and
 * order, with its scores, for k 1, 5 and 20 and every category filter.
 */
static void test_search_matches_a_brute_force_ranking(void)
{
    static const size_t ks[] = {1, 5, FAQ_INDEX_K_MAX};
    static const char *const filters[] = {NULL, "house-rules", "payment",
                                          "unknown"};
    size_t first[RANDOM_DOCS + 1], chunks = 0;
    float *vectors = malloc(RANDOM_DOCS * 4 * RANDOM_DIM * sizeof(float));
    struct ref_hit *ref = malloc(RANDOM_DOCS * sizeof(*ref));
    struct faq_index_builder *builder;
    struct faq_index *index = NULL;
    struct faq_hit hits[FAQ_INDEX_K_MAX];
    float query[RANDOM_DIM];
    char id[32], text[48];

    CU_ASSERT_PTR_NOT_NULL_FATAL(vectors);
    CU_ASSERT_PTR_NOT_NULL_FATAL(ref);
    CU_ASSERT_EQUAL_FATAL(faq_index_builder_new(MODEL, RANDOM_DIM, 1, &builder),
                          BS_OK);
    for (size_t d = 0; d < RANDOM_DOCS; d++) {
        bool copy = d % 5 == 4;
        size_t n = copy ? chunks - first[d - 1] : 1 + d % 4;

        first[d] = chunks;
        snprintf(id, sizeof(id), "d%zu", d);
        CU_ASSERT_EQUAL(
            faq_index_builder_add_document(builder, id, id, random_category(d)),
            BS_OK);
        for (size_t c = 0; c < n; c++, chunks++) {
            float *row = vectors + chunks * RANDOM_DIM;

            for (size_t i = 0; i < RANDOM_DIM; i++)
                row[i] = copy ? vectors[(first[d - 1] + c) * RANDOM_DIM + i]
                              : random_float();
            snprintf(text, sizeof(text), "d%zu.%zu", d, c);
            CU_ASSERT_EQUAL(
                faq_index_builder_add_chunk(builder, (int)c, text, row), BS_OK);
        }
    }
    first[RANDOM_DOCS] = chunks;
    CU_ASSERT_EQUAL_FATAL(faq_index_builder_finish(builder, &index), BS_OK);
    BS_ASSERT_INT_EQ(faq_index_chunk_count(index), chunks);

    for (size_t q = 0; q < 20; q++) {
        for (size_t i = 0; i < RANDOM_DIM; i++)
            query[i] = random_float();
        for (size_t f = 0; f < 4; f++) {
            size_t n = reference_search(vectors, first, query, filters[f], ref);

            for (size_t k = 0; k < 3; k++) {
                size_t count = 99;

                BS_ASSERT_INT_EQ(faq_index_search(index, MODEL, query,
                                                  RANDOM_DIM, filters[f], ks[k],
                                                  hits, &count),
                                 BS_OK);
                assert_same_as_reference(hits, count, ref, n, ks[k]);
            }
        }
    }
    faq_index_unref(index);
    free(vectors);
    free(ref);
}

static CU_TestInfo index_tests[] = {
    {"documents_are_ranked_by_their_best_chunk",
     test_documents_are_ranked_by_their_best_chunk},
    {"k_bounds_the_results", test_k_bounds_the_results},
    {"category_filter_keeps_only_that_category",
     test_category_filter_keeps_only_that_category},
    {"query_of_another_model_is_refused",
     test_query_of_another_model_is_refused},
    {"empty_index_finds_nothing", test_empty_index_finds_nothing},
    {"zero_query_vector_matches_nothing",
     test_zero_query_vector_matches_nothing},
    {"slot_keeps_the_old_index_for_its_readers",
     test_slot_keeps_the_old_index_for_its_readers},
    {"slot_swaps_under_concurrent_readers",
     test_slot_swaps_under_concurrent_readers},
    {"vector_from_array_send_hex", test_vector_from_array_send_hex},
    {"hash_embedded_question_finds_its_document",
     test_hash_embedded_question_finds_its_document},
    {"search_matches_a_brute_force_ranking",
     test_search_matches_a_brute_force_ranking},
    CU_TEST_INFO_NULL,
};

static void register_suites(void)
{
    bs_test_add_suite("faq_index", NULL, NULL, index_tests);
}

int main(void)
{
    return bs_test_main(register_suites);
}
