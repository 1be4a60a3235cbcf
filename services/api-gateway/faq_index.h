/*
 * faq_index.h - one product's FAQ embeddings held in memory for search.
 *
 * The gateway answers GET /api/v1/faqs/search by cosine similarity between
 * the query's vector and every chunk of the product's published documents.
 * Debian 12 ships no pgvector, so the vectors are held here: one contiguous
 * float array (chunks of a document next to each other), L2-normalized when
 * added, so a score is one dot product. bench/search_bench.c measured this
 * against a cosine computed in SQL over REAL[] (see search.c for the
 * figures and the choice).
 *
 * An index is built once (builder), then immutable and shared between
 * request threads by reference count: a reload builds a new index off to
 * the side and swaps it into a faq_index_slot; readers holding the old one
 * keep using it until they let go, and the last one frees it.
 *
 * Every index records the embedding model its vectors were made with; a
 * search with a query of another model (or dimension) is refused
 * (FAQ_INDEX_MODEL_MISMATCH) rather than comparing incompatible vectors.
 *
 * Not here: SQL, HTTP, embedding the query (search.c does those).
 */
#ifndef FAQ_INDEX_H
#define FAQ_INDEX_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* faq_index_search(): the query's model is not the index's. */
#define FAQ_INDEX_MODEL_MISMATCH 1

#define FAQ_INDEX_K_MAX 20

struct faq_index;
struct faq_index_builder;

/* One search result; the strings belong to the index and stay valid while
 * the caller holds its reference. */
struct faq_hit {
    const char *document_id;
    const char *title;
    const char *category; /* slug or NULL */
    const char *chunk;    /* the best-matching chunk's text */
    int chunk_index;
    float score; /* cosine similarity of that chunk, -1..1 */
};

/*
 * Starts an index of `dimension`-float vectors made by `model` (NULL: the
 * product has no embeddings yet; then only an empty index can be built),
 * loaded at faq_index_state generation `generation`. Returns BS_OK or
 * BS_ENOMEM/BS_EINVAL (dimension 0).
 */
int faq_index_builder_new(const char *model, size_t dimension,
                          int64_t generation, struct faq_index_builder **out);

/*
 * Adds a document (strings copied; category may be NULL). The chunks added
 * next belong to it. Returns BS_OK or BS_ENOMEM.
 */
int faq_index_builder_add_document(struct faq_index_builder *builder,
                                   const char *id, const char *title,
                                   const char *category);

/*
 * Adds a chunk of the last document: its index in the document, its text
 * (copied) and its vector (`dimension` floats, copied and L2-normalized; a
 * zero vector stays zero and never matches). BS_EINVAL when no document
 * was added yet or the builder has no model.
 */
int faq_index_builder_add_chunk(struct faq_index_builder *builder,
                                int chunk_index, const char *text,
                                const float *vector);

/*
 * Turns the builder into an index with one reference held by the caller
 * (the builder is freed either way). Documents without chunks are dropped.
 * Returns BS_OK or BS_ENOMEM.
 */
int faq_index_builder_finish(struct faq_index_builder *builder,
                             struct faq_index **out);

/* Frees a builder that will not be finished. NULL ignored. */
void faq_index_builder_free(struct faq_index_builder *builder);

/*
 * Reads a REAL[] as PostgreSQL's binary array format in hex, i.e. the
 * text of encode(array_send(embedding), 'hex'): one dimension, no NULLs,
 * float4 elements. Decoding this is much cheaper than strtof() over the
 * array's text form (the index reload is dominated by it). Returns the
 * element count (0..max) with the floats in out, or -1 when the text is
 * not such an array or has more than `max` elements.
 */
long faq_vector_from_hex(const char *hex, float *out, size_t max);

/* Takes or drops a reference; the last drop frees the index. NULL ignored. */
struct faq_index *faq_index_ref(struct faq_index *index);
void faq_index_unref(struct faq_index *index);

const char *faq_index_model(const struct faq_index *index); /* may be NULL */
int64_t faq_index_generation(const struct faq_index *index);
size_t faq_index_chunk_count(const struct faq_index *index);
size_t faq_index_document_count(const struct faq_index *index);

/*
 * The documents whose best chunk is most similar to `query` (`dimension`
 * floats of model `query_model`, need not be normalized), best first,
 * at most k (1..FAQ_INDEX_K_MAX) into hits; only documents of `category`
 * when it is not NULL. Ties keep index order (document id). A zero query
 * vector matches nothing (*count 0).
 * Returns BS_OK, FAQ_INDEX_MODEL_MISMATCH (the index is of another model or
 * dimension, even with no chunks; nothing compared; an index without a
 * model matches any query and finds nothing), or BS_EINVAL (k out of
 * range).
 * Thread-safe: an index is never modified after it is built.
 */
int faq_index_search(const struct faq_index *index, const char *query_model,
                     const float *query, size_t dimension, const char *category,
                     size_t k, struct faq_hit *hits, size_t *count);

/*
 * Where the current index of a product lives. Readers take a reference
 * (faq_index_slot_get) and drop it when done; a reload swaps a new index in
 * (faq_index_slot_put). `loading` lets one request rebuild while the others
 * keep serving the old index.
 */
struct faq_index_slot {
    pthread_mutex_t lock;
    pthread_cond_t changed;
    struct faq_index *current; /* NULL before the first load */
    bool loading;
};

void faq_index_slot_init(struct faq_index_slot *slot);
void faq_index_slot_destroy(struct faq_index_slot *slot);

/* The current index with a reference for the caller, or NULL. */
struct faq_index *faq_index_slot_get(struct faq_index_slot *slot);

/*
 * Claims the right to rebuild: true when the caller must build and then
 * call faq_index_slot_put (or faq_index_slot_abandon); false when another
 * thread is rebuilding. With `wait` (used when there is no index at all),
 * a false return comes only after that other rebuild finished.
 */
bool faq_index_slot_claim(struct faq_index_slot *slot, bool wait);

/* Installs `index` (the slot takes the caller's reference) and ends the
 * claim; the previous index is released. */
void faq_index_slot_put(struct faq_index_slot *slot, struct faq_index *index);

/* Ends a claim without a new index (the rebuild failed). */
void faq_index_slot_abandon(struct faq_index_slot *slot);

#endif
