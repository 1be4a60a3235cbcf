/*
 * faq_index.c - the in-memory FAQ vector index (see faq_index.h).
 *
 * Layout: documents[] in the order added, each owning a contiguous run of
 * chunks; vectors[] holds chunk i's normalized vector at i * dimension. A
 * search is one pass over the chunks: the best score of each document's run,
 * then a small insertion-sorted top-k (k <= 20); it allocates only the
 * normalized query and its cost is chunks * dimension multiply-adds.
 *
 * Why it is left this simple (issue 5, measured with bench/search_bench.c
 * on the 2-core machine, load average ~1, Release; figures in
 * docs/faq-indexer.md, "Search latency"): at 10,000 chunks of 256 floats a
 * search reads 10 MB of vectors in ~0.35 ms, about 30 GB/s, what one core
 * of that VM reads from memory; with the vectors in cache (1,000 chunks) a
 * chunk costs little more than half as much (~20 against ~35 ns). The dot
 * product below already compiles to SSE mulps/addps at -O2 as at -O3 (checked
 * with objdump), and a kernel scoring four chunks per pass over the query (same
 * arithmetic per lane, identical scores) was 1.4 times faster in cache but no
 * faster at 10,000 chunks, so it was not kept. Sampling the gateway under the
 * HTTP bench put ~74% of its CPU time here and nothing else above 5%: the
 * insertion top-k (most documents fail the first comparison once the list
 * is full), the one malloc per search and the slot's mutex (held for a
 * reference increment) do not show. The p99 misses seen before came from
 * waiting for a core on a loaded machine (the bench's thread-CPU figures
 * stay at ~0.45 ms while wall-clock p99 grows with the load), not from
 * work a different layout would save.
 */
#include "faq_index.h"

#include "bs/error.h"

#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

struct faq_doc {
    char *id, *title, *category;
    size_t first_chunk, chunk_count;
};

struct faq_chunk {
    char *text;
    int chunk_index;
    size_t document; /* into documents[] */
};

struct faq_index {
    atomic_long refs;
    char *model;
    size_t dimension;
    int64_t generation;

    struct faq_doc *documents;
    size_t document_count, document_cap;
    struct faq_chunk *chunks;
    size_t chunk_count, chunk_cap;
    float *vectors;
};

/* The builder is an index under construction. */
struct faq_index_builder {
    struct faq_index index;
};

/* ---- building ------------------------------------------------------------ */

int faq_index_builder_new(const char *model, size_t dimension,
                          int64_t generation, struct faq_index_builder **out)
{
    struct faq_index_builder *builder;

    *out = NULL;
    if (dimension == 0)
        return BS_EINVAL;
    builder = calloc(1, sizeof(*builder));
    if (!builder)
        return BS_ENOMEM;
    builder->index.dimension = dimension;
    builder->index.generation = generation;
    if (model && !(builder->index.model = strdup(model))) {
        free(builder);
        return BS_ENOMEM;
    }
    *out = builder;
    return BS_OK;
}

/* Makes room for one more element of `size` bytes in *array. */
static bool grow(void **array, size_t *cap, size_t count, size_t size)
{
    size_t cap_new;
    void *bigger;

    if (count < *cap)
        return true;
    cap_new = *cap ? *cap * 2 : 64;
    bigger = realloc(*array, cap_new * size);
    if (!bigger)
        return false;
    *array = bigger;
    *cap = cap_new;
    return true;
}

int faq_index_builder_add_document(struct faq_index_builder *builder,
                                   const char *id, const char *title,
                                   const char *category)
{
    struct faq_index *index = &builder->index;
    struct faq_doc *doc;

    if (!grow((void **)&index->documents, &index->document_cap,
              index->document_count, sizeof(*index->documents)))
        return BS_ENOMEM;
    doc = &index->documents[index->document_count];
    memset(doc, 0, sizeof(*doc));
    doc->id = strdup(id);
    doc->title = strdup(title);
    doc->category = category ? strdup(category) : NULL;
    doc->first_chunk = index->chunk_count;
    index->document_count++; /* counted now so that its strings are freed */
    if (!doc->id || !doc->title || (category && !doc->category))
        return BS_ENOMEM;
    return BS_OK;
}

/* Room for one more vector: the vector array grows with the chunk array. */
static bool grow_chunks(struct faq_index *index)
{
    size_t cap = index->chunk_cap;
    float *bigger;

    if (!grow((void **)&index->chunks, &index->chunk_cap, index->chunk_count,
              sizeof(*index->chunks)))
        return false;
    if (cap == index->chunk_cap && index->vectors)
        return true;
    bigger = realloc(index->vectors,
                     index->chunk_cap * index->dimension * sizeof(float));
    if (!bigger)
        return false;
    index->vectors = bigger;
    return true;
}

static void normalize(float *vector, size_t dimension)
{
    double sum = 0;

    for (size_t i = 0; i < dimension; i++)
        sum += (double)vector[i] * vector[i];
    if (sum <= 0 || !isfinite(sum)) {
        memset(vector, 0, dimension * sizeof(float));
        return;
    }
    sum = 1 / sqrt(sum);
    for (size_t i = 0; i < dimension; i++)
        vector[i] = (float)(vector[i] * sum);
}

int faq_index_builder_add_chunk(struct faq_index_builder *builder,
                                int chunk_index, const char *text,
                                const float *vector)
{
    struct faq_index *index = &builder->index;
    struct faq_chunk *chunk;
    float *row;

    if (index->document_count == 0 || !index->model)
        return BS_EINVAL;
    if (!grow_chunks(index))
        return BS_ENOMEM;
    chunk = &index->chunks[index->chunk_count];
    chunk->text = strdup(text);
    if (!chunk->text)
        return BS_ENOMEM;
    chunk->chunk_index = chunk_index;
    chunk->document = index->document_count - 1;
    row = index->vectors + index->chunk_count * index->dimension;
    memcpy(row, vector, index->dimension * sizeof(float));
    normalize(row, index->dimension);
    index->chunk_count++;
    index->documents[chunk->document].chunk_count++;
    return BS_OK;
}

/* Frees what the index owns (not the struct). */
static void index_clear(struct faq_index *index)
{
    for (size_t i = 0; i < index->document_count; i++) {
        free(index->documents[i].id);
        free(index->documents[i].title);
        free(index->documents[i].category);
    }
    for (size_t i = 0; i < index->chunk_count; i++)
        free(index->chunks[i].text);
    free(index->documents);
    free(index->chunks);
    free(index->vectors);
    free(index->model);
}

void faq_index_builder_free(struct faq_index_builder *builder)
{
    if (!builder)
        return;
    index_clear(&builder->index);
    free(builder);
}

/* Drops documents that got no chunk (their strings are freed). */
static void drop_empty_documents(struct faq_index *index)
{
    size_t kept = 0;

    for (size_t i = 0; i < index->document_count; i++) {
        struct faq_doc *doc = &index->documents[i];

        if (doc->chunk_count == 0) {
            free(doc->id);
            free(doc->title);
            free(doc->category);
            continue;
        }
        for (size_t c = 0; c < doc->chunk_count; c++)
            index->chunks[doc->first_chunk + c].document = kept;
        index->documents[kept++] = *doc;
    }
    index->document_count = kept;
}

int faq_index_builder_finish(struct faq_index_builder *builder,
                             struct faq_index **out)
{
    struct faq_index *index = malloc(sizeof(*index));

    *out = NULL;
    if (!index) {
        faq_index_builder_free(builder);
        return BS_ENOMEM;
    }
    *index = builder->index;
    free(builder);
    drop_empty_documents(index);
    atomic_init(&index->refs, 1);
    *out = index;
    return BS_OK;
}

/* ---- vectors from PostgreSQL --------------------------------------------- */

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* The big-endian 32-bit word at hex[0..8); false when not hex. */
static bool hex_u32(const char *hex, uint32_t *out)
{
    uint32_t value = 0;

    for (int i = 0; i < 8; i++) {
        int digit = hex_value(hex[i]);

        if (digit < 0)
            return false;
        value = value << 4 | (uint32_t)digit;
    }
    *out = value;
    return true;
}

#define FLOAT4_OID 700

long faq_vector_from_hex(const char *hex, float *out, size_t max)
{
    size_t len = strlen(hex);
    uint32_t ndim, flags, oid, count, lbound, elem_len, bits;

    /* Header: ndim, has-nulls flag, element type; an empty array has
     * ndim 0 and nothing else. */
    if (len < 24 || !hex_u32(hex, &ndim) || !hex_u32(hex + 8, &flags) ||
        !hex_u32(hex + 16, &oid) || flags != 0 || oid != FLOAT4_OID)
        return -1;
    if (ndim == 0)
        return len == 24 ? 0 : -1;
    if (ndim != 1 || len < 40 || !hex_u32(hex + 24, &count) ||
        !hex_u32(hex + 32, &lbound) || count > max ||
        len != 40 + (size_t)count * 16)
        return -1;

    /* Each element: its length (4) and the float's bits. */
    hex += 40;
    for (uint32_t i = 0; i < count; i++, hex += 16) {
        if (!hex_u32(hex, &elem_len) || elem_len != 4 ||
            !hex_u32(hex + 8, &bits))
            return -1;
        memcpy(&out[i], &bits, sizeof(float));
    }
    return (long)count;
}

/* ---- references and facts ------------------------------------------------ */

struct faq_index *faq_index_ref(struct faq_index *index)
{
    if (index)
        atomic_fetch_add(&index->refs, 1);
    return index;
}

void faq_index_unref(struct faq_index *index)
{
    if (!index || atomic_fetch_sub(&index->refs, 1) != 1)
        return;
    index_clear(index);
    free(index);
}

const char *faq_index_model(const struct faq_index *index)
{
    return index->model;
}

int64_t faq_index_generation(const struct faq_index *index)
{
    return index->generation;
}

size_t faq_index_chunk_count(const struct faq_index *index)
{
    return index->chunk_count;
}

size_t faq_index_document_count(const struct faq_index *index)
{
    return index->document_count;
}

/* ---- search -------------------------------------------------------------- */

/* Dot product with eight independent sums, which the compiler can keep in
 * vector registers (a single running sum serializes on its adds). */
static float dot(const float *a, const float *b, size_t n)
{
    float s[8] = {0};
    size_t i = 0;

    for (; i + 8 <= n; i += 8) {
        for (size_t j = 0; j < 8; j++)
            s[j] += a[i + j] * b[i + j];
    }
    for (; i < n; i++)
        s[0] += a[i] * b[i];
    return ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
}

/* Inserts (doc, chunk, score) into the top list best[0..*n) of capacity k,
 * kept sorted by score descending; equal scores keep arrival order. */
static void top_insert(struct faq_hit *best, size_t *n, size_t k,
                       const struct faq_index *index, size_t doc, size_t chunk,
                       float score)
{
    size_t pos = *n;

    if (*n == k && score <= best[k - 1].score)
        return;
    while (pos > 0 && best[pos - 1].score < score)
        pos--;
    if (*n < k)
        (*n)++;
    memmove(&best[pos + 1], &best[pos], (*n - 1 - pos) * sizeof(*best));
    best[pos] = (struct faq_hit){
        .document_id = index->documents[doc].id,
        .title = index->documents[doc].title,
        .category = index->documents[doc].category,
        .chunk = index->chunks[chunk].text,
        .chunk_index = index->chunks[chunk].chunk_index,
        .score = score,
    };
}

static bool category_matches(const struct faq_doc *doc, const char *category)
{
    return !category || (doc->category && strcmp(doc->category, category) == 0);
}

/* Copies the query, normalized; false when it is the zero vector. */
static bool query_normalized(const float *query, size_t dimension, float *out)
{
    memcpy(out, query, dimension * sizeof(float));
    normalize(out, dimension);
    for (size_t i = 0; i < dimension; i++) {
        if (out[i] != 0)
            return true;
    }
    return false;
}

int faq_index_search(const struct faq_index *index, const char *query_model,
                     const float *query, size_t dimension, const char *category,
                     size_t k, struct faq_hit *hits, size_t *count)
{
    float *unit;

    *count = 0;
    if (k == 0 || k > FAQ_INDEX_K_MAX)
        return BS_EINVAL;
    /* No model: the product has no embeddings, nothing to compare. */
    if (!index->model)
        return BS_OK;
    if (!query_model || strcmp(query_model, index->model) != 0 ||
        dimension != index->dimension)
        return FAQ_INDEX_MODEL_MISMATCH;
    if (index->chunk_count == 0)
        return BS_OK;

    unit = malloc(dimension * sizeof(float));
    if (!unit)
        return BS_ENOMEM;
    if (!query_normalized(query, dimension, unit)) {
        free(unit);
        return BS_OK;
    }

    /* Each document's best chunk, then the top k documents. */
    for (size_t d = 0; d < index->document_count; d++) {
        const struct faq_doc *doc = &index->documents[d];
        size_t best_chunk = doc->first_chunk;
        float best = -2;

        if (!category_matches(doc, category))
            continue;
        for (size_t c = doc->first_chunk;
             c < doc->first_chunk + doc->chunk_count; c++) {
            float score = dot(unit, index->vectors + c * dimension, dimension);

            if (score > best) {
                best = score;
                best_chunk = c;
            }
        }
        top_insert(hits, count, k, index, d, best_chunk, best);
    }
    free(unit);
    return BS_OK;
}

/* ---- the slot ------------------------------------------------------------ */

void faq_index_slot_init(struct faq_index_slot *slot)
{
    pthread_mutex_init(&slot->lock, NULL);
    pthread_cond_init(&slot->changed, NULL);
    slot->current = NULL;
    slot->loading = false;
}

void faq_index_slot_destroy(struct faq_index_slot *slot)
{
    faq_index_unref(slot->current);
    slot->current = NULL;
    pthread_mutex_destroy(&slot->lock);
    pthread_cond_destroy(&slot->changed);
}

struct faq_index *faq_index_slot_get(struct faq_index_slot *slot)
{
    struct faq_index *index;

    pthread_mutex_lock(&slot->lock);
    index = faq_index_ref(slot->current);
    pthread_mutex_unlock(&slot->lock);
    return index;
}

bool faq_index_slot_claim(struct faq_index_slot *slot, bool wait)
{
    bool claimed = false;

    pthread_mutex_lock(&slot->lock);
    if (!slot->loading) {
        slot->loading = true;
        claimed = true;
    } else if (wait) {
        while (slot->loading)
            pthread_cond_wait(&slot->changed, &slot->lock);
    }
    pthread_mutex_unlock(&slot->lock);
    return claimed;
}

void faq_index_slot_put(struct faq_index_slot *slot, struct faq_index *index)
{
    struct faq_index *old;

    pthread_mutex_lock(&slot->lock);
    old = slot->current;
    slot->current = index;
    slot->loading = false;
    pthread_cond_broadcast(&slot->changed);
    pthread_mutex_unlock(&slot->lock);
    /* Outside the lock: freeing a large index must not stall readers. */
    faq_index_unref(old);
}

void faq_index_slot_abandon(struct faq_index_slot *slot)
{
    pthread_mutex_lock(&slot->lock);
    slot->loading = false;
    pthread_cond_broadcast(&slot->changed);
    pthread_mutex_unlock(&slot->lock);
}
