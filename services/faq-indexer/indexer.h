/*
 * indexer.h - FaqDocumentEvents into faq_documents and faq_embeddings.
 *
 * The faq-indexer's share of the consumer pipeline (bs/consumer.h): how to
 * decode a FaqDocumentEvent and how to apply a batch of them. The pipeline
 * owns the transaction, the tenant checks, the offsets and the dead letters;
 * everything here runs inside its transaction, so a document's row, its
 * embeddings and faq_index_state.generation change together or not at all.
 *
 * Rules, per product and document id (docs/faq-indexer.md):
 *   - upsert: an event older (by version) than the stored row is ignored; a
 *     deleted document stays deleted. The category slug must name one of
 *     this product's faq_categories (otherwise a data error,
 *     "unknown_category: <slug>"). The embedded text is title, a blank line,
 *     content; content_hash is its SHA-256 hex. When that hash, the
 *     embedding model and BS_CHUNKER_VERSION all match the row, nothing is
 *     embedded again; otherwise the text is chunked and embedded and the
 *     document's faq_embeddings rows are replaced.
 *   - delete: deleted_at is set and the embeddings are removed.
 *   - reindex: the stored text is embedded again with the current model
 *     (an unknown or deleted document is ignored).
 *   - any change bumps faq_index_state.generation (and records the model).
 * Ignored events are applied (their offsets move on) and logged.
 */
#ifndef FAQ_INDEXER_INDEXER_H
#define FAQ_INDEXER_INDEXER_H

#include "bs/chunker.h"
#include "bs/codec.h"
#include "bs/consumer.h"
#include "bs/embedder.h"
#include "bs/metrics.h"
#include "bs/product.h"

#define INDEXER_SERVICE "faq-indexer"

struct indexer {
    char product[BS_PRODUCT_MAX + 1];
    struct bs_codec *codec;       /* owned */
    struct bs_embedder *embedder; /* owned */
    struct bs_metric *documents;  /* bs_faq_documents_total{outcome} */
};

/*
 * Loads the codec and takes ownership of `embedder` (freed by
 * indexer_free, even when this fails). `metrics` may be NULL. BS_OK or an
 * error with errstr; call indexer_free() either way.
 */
int indexer_init(struct indexer *indexer, const char *product,
                 struct bs_embedder *embedder, struct bs_metrics *metrics,
                 char *errstr, size_t errstr_size);

void indexer_free(struct indexer *indexer);

/* The pipeline callbacks; `indexer` must outlive the consumer. */
struct bs_consumer_handler indexer_handler(struct indexer *indexer);

/*
 * The handler's callbacks, public for the benchmark: prepare the
 * statements on a new connection; apply `count` decoded events inside an
 * open transaction with app.product set (indexer_apply is the count == 1
 * case). decode/free_decoded as in bs/consumer.h.
 */
int indexer_prepare(void *ctx, PGconn *conn, char *errstr, size_t errstr_size);
int indexer_decode(void *ctx, const void *bytes, size_t len, void **decoded,
                   const char **product, char *errstr, size_t errstr_size);
void indexer_free_decoded(void *ctx, void *decoded);
enum bs_consumer_result
indexer_apply_batch(void *ctx, PGconn *conn, void *const *decoded,
                    const struct bs_consumer_message *msgs, size_t count,
                    char *reason, size_t reason_size);

#endif
