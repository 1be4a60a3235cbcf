/*
 * indexer_internal.h - what indexer.c (the rules) and indexer_store.c (the
 * SQL) share: one batch's documents as the rules leave them.
 *
 * A batch is applied in three steps: read every document it names (one
 * statement), apply the events to those in-memory rows in consumption order
 * (indexer.c), then write the rows that changed, their embeddings and the
 * generation with a few set-based statements (indexer_store.c). A batch
 * naming one document several times therefore has exactly the sequential
 * outcome, and costs the same handful of statements as a batch of one.
 */
#ifndef FAQ_INDEXER_INDEXER_INTERNAL_H
#define FAQ_INDEXER_INDEXER_INTERNAL_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bs/consumer.h"

#define INDEXER_UUID_LEN   36
#define INDEXER_SHA256_HEX 64

/* One document: the stored row, then as the batch's events changed it.
 * Strings are owned (malloc); NULL is SQL NULL. */
struct faq_doc {
    char id[INDEXER_UUID_LEN + 1];
    bool found;        /* a row exists (stored, or created by this batch) */
    bool deleted;      /* deleted_at is set */
    char *category_id; /* decimal faq_categories.id */
    char *title;
    char *content;
    char *status;
    int64_t version;
    char hash[INDEXER_SHA256_HEX + 1]; /* "" when none */
    char *model;                       /* embedding_model */
    int chunker_version;               /* 0 when none */
    char *updated_by;
    bool dirty;   /* write the row back */
    bool touched; /* an upsert or delete changed it (updated_at = now()) */
    bool embed;   /* chunk, embed and replace its embeddings */
    bool drop;    /* remove its embeddings (deleted) */
};

/* One chunk to store: which document, its index, text and vector. */
struct faq_chunk {
    size_t doc;          /* index into faq_batch.docs */
    int index;           /* chunk_index, 0..n-1 per document */
    char *text;          /* owned */
    const float *vector; /* into faq_batch.vectors */
};

struct faq_batch {
    struct faq_doc *docs;
    size_t doc_count;
    struct faq_chunk *chunks;
    size_t chunk_count;
    float *vectors;    /* chunk_count * dimension */
    const char *model; /* the embedder's, for rows embedded now */
};

void faq_batch_clear(struct faq_batch *batch);

/* Prepares the statements below on a new connection. */
int store_prepare(PGconn *conn, char *errstr, size_t errstr_size);

/* Fills batch->docs (their ids set, the rest zero) from the stored rows. */
enum bs_consumer_result store_load(PGconn *conn, const char *product,
                                   struct faq_batch *batch, char *reason,
                                   size_t reason_size);

/*
 * Looks up the ids of `count` category slugs of this product: ids[i] is a
 * malloc'd decimal id, or NULL for an unknown slug.
 */
enum bs_consumer_result store_categories(PGconn *conn, const char *product,
                                         const char *const *slugs, size_t count,
                                         char **ids, char *reason,
                                         size_t reason_size);

/*
 * Writes the dirty rows, replaces the embeddings of the embedded and
 * dropped ones, and bumps the product's generation when anything changed.
 */
enum bs_consumer_result store_write(PGconn *conn, const char *product,
                                    const struct faq_batch *batch,
                                    size_t dimension, char *reason,
                                    size_t reason_size);

#endif
