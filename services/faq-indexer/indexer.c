/*
 * indexer.c - applies a batch of FaqDocumentEvents: see indexer.h for the
 * rules and indexer_internal.h for the three steps (read, decide in memory,
 * write set-based).
 *
 * The per-record path the pipeline falls back on after a data error is the
 * same code with a batch of one, so both paths have one set of rules.
 * Embedding happens after every event of the batch has been decided: a
 * document changed twice in one batch is embedded once, with its final text.
 */
#include "indexer.h"
#include "indexer_internal.h"

#include <ctype.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bs/error.h"
#include "bs/events.h"
#include "bs/log.h"

/* ---- set-up ----------------------------------------------------------------
 */

int indexer_init(struct indexer *indexer, const char *product,
                 struct bs_embedder *embedder, struct bs_metrics *metrics,
                 char *errstr, size_t errstr_size)
{
    memset(indexer, 0, sizeof(*indexer));
    indexer->embedder = embedder;
    snprintf(indexer->product, sizeof(indexer->product), "%s", product);
    if (metrics)
        indexer->documents = bs_metrics_counter(
            metrics, "bs_faq_documents_total",
            "FAQ documents by outcome: embedded (chunked and embedded), "
            "unchanged (same text, model and chunker: not embedded again), "
            "deleted, ignored (older version, deleted or unknown document); "
            "a retried batch counts again",
            BS_LABELS("outcome"));
    return bs_codec_new_builtin(&indexer->codec, errstr, errstr_size);
}

void indexer_free(struct indexer *indexer)
{
    bs_codec_free(indexer->codec);
    bs_embedder_free(indexer->embedder);
    indexer->codec = NULL;
    indexer->embedder = NULL;
}

int indexer_prepare(void *ctx, PGconn *conn, char *errstr, size_t errstr_size)
{
    (void)ctx;
    return store_prepare(conn, errstr, errstr_size);
}

/* ---- decode ----------------------------------------------------------------
 */

/* A UUID in canonical text form, lowercased in place. */
static bool uuid_canonical(char *id)
{
    if (!id || strlen(id) != INDEXER_UUID_LEN)
        return false;
    for (int i = 0; i < INDEXER_UUID_LEN; i++) {
        bool dash = i == 8 || i == 13 || i == 18 || i == 23;

        if (dash ? id[i] != '-' : !isxdigit((unsigned char)id[i]))
            return false;
        id[i] = (char)tolower((unsigned char)id[i]);
    }
    return true;
}

int indexer_decode(void *ctx, const void *bytes, size_t len, void **decoded,
                   const char **product, char *errstr, size_t errstr_size)
{
    struct indexer *indexer = ctx;
    struct bs_faq_event *event = calloc(1, sizeof(*event));
    int result;

    if (!event)
        return bs_fail(errstr, errstr_size, BS_ENOMEM, "out of memory");
    result = bs_faq_event_decode(indexer->codec, bytes, len, event, errstr,
                                 errstr_size);
    if (result == BS_OK && !uuid_canonical(event->document_id))
        result = bs_fail(errstr, errstr_size, BS_EDECODE,
                         "faq event without a valid document id");
    if (result != BS_OK) {
        bs_faq_event_clear(event);
        free(event);
        return result;
    }
    *decoded = event;
    *product = event->meta.product;
    return BS_OK;
}

void indexer_free_decoded(void *ctx, void *decoded)
{
    (void)ctx;
    bs_faq_event_clear(decoded);
    free(decoded);
}

/* ---- one batch in memory ---------------------------------------------------
 */

static void doc_clear(struct faq_doc *doc)
{
    free(doc->category_id);
    free(doc->title);
    free(doc->content);
    free(doc->status);
    free(doc->model);
    free(doc->updated_by);
}

void faq_batch_clear(struct faq_batch *batch)
{
    for (size_t i = 0; i < batch->doc_count; i++)
        doc_clear(&batch->docs[i]);
    for (size_t i = 0; i < batch->chunk_count; i++)
        free(batch->chunks[i].text);
    free(batch->docs);
    free(batch->chunks);
    free(batch->vectors);
    memset(batch, 0, sizeof(*batch));
}

static struct faq_doc *batch_doc(struct faq_batch *batch, const char *id)
{
    for (size_t i = 0; i < batch->doc_count; i++)
        if (strcmp(batch->docs[i].id, id) == 0)
            return &batch->docs[i];
    return NULL;
}

/* One entry per distinct document id of the events. */
static bool batch_init(struct faq_batch *batch, void *const *decoded,
                       size_t count)
{
    batch->docs = calloc(count, sizeof(*batch->docs));
    if (!batch->docs)
        return false;
    for (size_t i = 0; i < count; i++) {
        const struct bs_faq_event *e = decoded[i];

        if (!batch_doc(batch, e->document_id))
            snprintf(batch->docs[batch->doc_count++].id, INDEXER_UUID_LEN + 1,
                     "%s", e->document_id);
    }
    return true;
}

/* Replaces *slot with a copy of value (NULL stays NULL). */
static bool set_string(char **slot, const char *value)
{
    char *copy = value ? strdup(value) : NULL;

    if (value && !copy)
        return false;
    free(*slot);
    *slot = copy;
    return true;
}

/* The text that is chunked, embedded and hashed: title, blank line,
 * content. Caller frees. */
static char *embedded_text(const struct faq_doc *doc)
{
    size_t tlen = strlen(doc->title), clen = strlen(doc->content);
    char *text = malloc(tlen + clen + 3);

    if (!text)
        return NULL;
    memcpy(text, doc->title, tlen);
    memcpy(text + tlen, "\n\n", 2);
    memcpy(text + tlen + 2, doc->content, clen + 1);
    return text;
}

static bool sha256_hex(const char *text, char hex[INDEXER_SHA256_HEX + 1])
{
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int len = 0;

    if (!EVP_Digest(text, strlen(text), digest, &len, EVP_sha256(), NULL) ||
        len * 2 != INDEXER_SHA256_HEX)
        return false;
    for (unsigned int i = 0; i < len; i++)
        snprintf(hex + 2 * i, 3, "%02x", digest[i]);
    return true;
}

/* Marks the document for embedding with the current model and chunker. */
static bool mark_embed(struct faq_doc *doc, const char *model)
{
    doc->embed = true;
    doc->drop = false;
    doc->chunker_version = BS_CHUNKER_VERSION;
    return set_string(&doc->model, model);
}

static void count_outcome(struct indexer *indexer, const char *outcome)
{
    bs_metric_inc(indexer->documents, BS_LABELS(outcome));
}

static void ignore(struct indexer *indexer, const struct bs_faq_event *e,
                   const struct bs_consumer_message *msg, const char *why)
{
    bs_log_info("faq_event_ignored action=%s document_id=%s version=%lld "
                "reason=%s topic=%s partition=%d offset=%lld",
                bs_faq_action_name(e->action), e->document_id,
                (long long)e->version, why, msg->topic, (int)msg->partition,
                (long long)msg->offset);
    count_outcome(indexer, "ignored");
}

/* Context of one batch's decisions. */
struct plan {
    struct indexer *indexer;
    PGconn *conn;
    struct faq_batch *batch;
    char *reason;
    size_t reason_size;
    /* The category slugs the batch's upserts name, looked up at once:
     * slug_ids[i] is the id of slugs[i], NULL when this product has none. */
    const char **slugs;
    char **slug_ids;
    size_t slug_count;
};

static enum bs_consumer_result no_memory(struct plan *p)
{
    bs_log_error("out_of_memory where=faq_indexer");
    snprintf(p->reason, p->reason_size, "out of memory");
    return BS_CONSUMER_INFRA_ERROR;
}

/* Looks up every slug the batch's upserts name, in one statement. */
static enum bs_consumer_result
load_categories(struct plan *p, void *const *decoded, size_t count)
{
    p->slugs = calloc(count, sizeof(*p->slugs));
    p->slug_ids = calloc(count, sizeof(*p->slug_ids));
    if (!p->slugs || !p->slug_ids)
        return no_memory(p);
    for (size_t i = 0; i < count; i++) {
        const struct bs_faq_event *e = decoded[i];
        bool seen = false;

        if (e->action != BS_FAQ_UPSERT || !e->category)
            continue;
        for (size_t j = 0; j < p->slug_count && !seen; j++)
            seen = strcmp(p->slugs[j], e->category) == 0;
        if (!seen)
            p->slugs[p->slug_count++] = e->category;
    }
    if (p->slug_count == 0)
        return BS_CONSUMER_APPLIED;
    return store_categories(p->conn, p->indexer->product, p->slugs,
                            p->slug_count, p->slug_ids, p->reason,
                            p->reason_size);
}

static void free_categories(struct plan *p)
{
    for (size_t i = 0; i < p->slug_count; i++)
        free(p->slug_ids[i]);
    free(p->slug_ids);
    free(p->slugs);
}

/* A copy of the category id of a slug of this product (NULL for no slug);
 * a data error when the product has no such category. */
static enum bs_consumer_result category_id(struct plan *p, const char *slug,
                                           char **id)
{
    *id = NULL;
    if (!slug)
        return BS_CONSUMER_APPLIED;
    for (size_t i = 0; i < p->slug_count; i++) {
        if (strcmp(p->slugs[i], slug) != 0)
            continue;
        if (!p->slug_ids[i])
            break;
        *id = strdup(p->slug_ids[i]);
        return *id ? BS_CONSUMER_APPLIED : no_memory(p);
    }
    snprintf(p->reason, p->reason_size, "unknown_category: %s", slug);
    return BS_CONSUMER_DATA_ERROR;
}

static enum bs_consumer_result
apply_upsert(struct plan *p, const struct bs_faq_event *e,
             const struct bs_consumer_message *msg, struct faq_doc *doc)
{
    const char *model = bs_embedder_model(p->indexer->embedder);
    char hash[INDEXER_SHA256_HEX + 1], *text, *category = NULL;
    enum bs_consumer_result result;
    bool unchanged;

    if (!e->title || !e->content) {
        snprintf(p->reason, p->reason_size,
                 "invalid_data: upsert without title or content");
        return BS_CONSUMER_DATA_ERROR;
    }
    if (doc->deleted) {
        ignore(p->indexer, e, msg, "deleted");
        return BS_CONSUMER_APPLIED;
    }
    if (doc->found && e->version < doc->version) {
        ignore(p->indexer, e, msg, "older_version");
        return BS_CONSUMER_APPLIED;
    }
    result = category_id(p, e->category, &category);
    if (result != BS_CONSUMER_APPLIED)
        return result;
    free(doc->category_id);
    doc->category_id = category;
    if (!set_string(&doc->title, e->title) ||
        !set_string(&doc->content, e->content) ||
        !set_string(&doc->status,
                    e->status ? e->status
                              : (doc->status ? doc->status : "draft")) ||
        !set_string(&doc->updated_by, e->actor_id) ||
        !(text = embedded_text(doc)))
        return no_memory(p);
    if (!sha256_hex(text, hash)) {
        free(text);
        return no_memory(p);
    }
    free(text);
    unchanged = doc->found && strcmp(hash, doc->hash) == 0 && doc->model &&
                strcmp(doc->model, model) == 0 &&
                doc->chunker_version == BS_CHUNKER_VERSION;
    memcpy(doc->hash, hash, sizeof(hash));
    doc->version = e->version;
    doc->found = doc->dirty = doc->touched = true;
    if (unchanged) {
        count_outcome(p->indexer, "unchanged");
        return BS_CONSUMER_APPLIED;
    }
    return mark_embed(doc, model) ? BS_CONSUMER_APPLIED : no_memory(p);
}

static enum bs_consumer_result
apply_delete(struct plan *p, const struct bs_faq_event *e,
             const struct bs_consumer_message *msg, struct faq_doc *doc)
{
    if (!doc->found || doc->deleted) {
        ignore(p->indexer, e, msg, doc->found ? "deleted" : "unknown");
        return BS_CONSUMER_APPLIED;
    }
    if (e->version < doc->version) {
        ignore(p->indexer, e, msg, "older_version");
        return BS_CONSUMER_APPLIED;
    }
    if (!set_string(&doc->updated_by, e->actor_id))
        return no_memory(p);
    doc->version = e->version;
    doc->deleted = doc->dirty = doc->touched = doc->drop = true;
    doc->embed = false;
    count_outcome(p->indexer, "deleted");
    return BS_CONSUMER_APPLIED;
}

static enum bs_consumer_result
apply_reindex(struct plan *p, const struct bs_faq_event *e,
              const struct bs_consumer_message *msg, struct faq_doc *doc)
{
    char *text;
    bool ok;

    if (!doc->found || doc->deleted) {
        ignore(p->indexer, e, msg, doc->found ? "deleted" : "unknown");
        return BS_CONSUMER_APPLIED;
    }
    /* The hash too: a row written before faq-indexer may have none. */
    text = embedded_text(doc);
    ok = text && sha256_hex(text, doc->hash);
    free(text);
    if (!ok || !mark_embed(doc, bs_embedder_model(p->indexer->embedder)))
        return no_memory(p);
    doc->dirty = true;
    return BS_CONSUMER_APPLIED;
}

/* ---- embedding ----------------------------------------------------------- */

/* Chunks one document's text onto batch->chunks. */
static enum bs_consumer_result chunk_doc(struct plan *p, size_t d,
                                         size_t *capacity)
{
    struct faq_batch *batch = p->batch;
    struct bs_chunk_list list = {0};
    char errstr[256], *text = embedded_text(&batch->docs[d]);
    int result;

    if (!text)
        return no_memory(p);
    result =
        bs_chunk_text(text, strlen(text), NULL, &list, errstr, sizeof(errstr));
    free(text);
    if (result == BS_EINVAL) {
        snprintf(p->reason, p->reason_size, "invalid_text: %s", errstr);
        return BS_CONSUMER_DATA_ERROR;
    }
    if (result != BS_OK)
        return no_memory(p);
    if (batch->chunk_count + list.count > *capacity) {
        size_t cap = 2 * (batch->chunk_count + list.count);
        struct faq_chunk *chunks =
            realloc(batch->chunks, cap * sizeof(*chunks));

        if (!chunks) {
            bs_chunk_list_free(&list);
            return no_memory(p);
        }
        batch->chunks = chunks;
        *capacity = cap;
    }
    /* The chunk texts move to the batch: the list keeps nothing. */
    for (size_t i = 0; i < list.count; i++) {
        batch->chunks[batch->chunk_count++] = (struct faq_chunk){
            .doc = d, .index = (int)i, .text = list.chunks[i].text};
        list.chunks[i].text = NULL;
    }
    bs_chunk_list_free(&list);
    count_outcome(p->indexer, "embedded");
    return BS_CONSUMER_APPLIED;
}

/* Chunks and embeds every document marked for it, in one embedder call. */
static enum bs_consumer_result embed_all(struct plan *p)
{
    struct faq_batch *batch = p->batch;
    struct bs_embedder *embedder = p->indexer->embedder;
    size_t dimension = bs_embedder_dimension(embedder), capacity = 0;
    enum bs_consumer_result result = BS_CONSUMER_APPLIED;
    const char **texts;
    char errstr[256];
    int status;

    batch->model = bs_embedder_model(embedder);
    for (size_t d = 0; d < batch->doc_count && result == BS_CONSUMER_APPLIED;
         d++)
        if (batch->docs[d].embed)
            result = chunk_doc(p, d, &capacity);
    if (result != BS_CONSUMER_APPLIED || batch->chunk_count == 0)
        return result;

    texts = malloc(batch->chunk_count * sizeof(*texts));
    batch->vectors = malloc(batch->chunk_count * dimension * sizeof(float));
    if (!texts || !batch->vectors) {
        free(texts);
        return no_memory(p);
    }
    for (size_t i = 0; i < batch->chunk_count; i++) {
        texts[i] = batch->chunks[i].text;
        batch->chunks[i].vector = batch->vectors + i * dimension;
    }
    status = bs_embedder_embed(embedder, texts, batch->chunk_count,
                               batch->vectors, errstr, sizeof(errstr));
    free(texts);
    if (status == BS_OK)
        return BS_CONSUMER_APPLIED;
    snprintf(p->reason, p->reason_size, "%s: %s",
             status == BS_EINVAL ? "embedding_failed" : "embedder_unavailable",
             errstr);
    if (status == BS_EINVAL)
        return BS_CONSUMER_DATA_ERROR;
    /* Unavailable (or out of memory): the pipeline pauses and retries. */
    bs_log_error("embedder_unavailable error=\"%s\"", errstr);
    return BS_CONSUMER_INFRA_ERROR;
}

/* ---- the pipeline's entry points -------------------------------------- */

static enum bs_consumer_result decide(struct plan *p,
                                      const struct bs_faq_event *e,
                                      const struct bs_consumer_message *msg)
{
    struct faq_doc *doc = batch_doc(p->batch, e->document_id);

    switch (e->action) {
    case BS_FAQ_UPSERT:
        return apply_upsert(p, e, msg, doc);
    case BS_FAQ_DELETE:
        return apply_delete(p, e, msg, doc);
    case BS_FAQ_REINDEX:
        return apply_reindex(p, e, msg, doc);
    }
    snprintf(p->reason, p->reason_size, "invalid_data: unknown action");
    return BS_CONSUMER_DATA_ERROR;
}

enum bs_consumer_result
indexer_apply_batch(void *ctx, PGconn *conn, void *const *decoded,
                    const struct bs_consumer_message *msgs, size_t count,
                    char *reason, size_t reason_size)
{
    struct indexer *indexer = ctx;
    struct faq_batch batch = {0};
    struct plan p = {indexer, conn, &batch, reason, reason_size, NULL, NULL, 0};
    enum bs_consumer_result result;

    if (!batch_init(&batch, decoded, count))
        return no_memory(&p);
    result = store_load(conn, indexer->product, &batch, reason, reason_size);
    if (result == BS_CONSUMER_APPLIED)
        result = load_categories(&p, decoded, count);
    for (size_t i = 0; i < count && result == BS_CONSUMER_APPLIED; i++)
        result = decide(&p, decoded[i], &msgs[i]);
    if (result == BS_CONSUMER_APPLIED)
        result = embed_all(&p);
    if (result == BS_CONSUMER_APPLIED)
        result = store_write(conn, indexer->product, &batch,
                             bs_embedder_dimension(indexer->embedder), reason,
                             reason_size);
    free_categories(&p);
    faq_batch_clear(&batch);
    return result;
}

static enum bs_consumer_result apply(void *ctx, PGconn *conn, void *decoded,
                                     const struct bs_consumer_message *msg,
                                     char *reason, size_t reason_size)
{
    void *const records[1] = {decoded};

    return indexer_apply_batch(ctx, conn, records, msg, 1, reason, reason_size);
}

struct bs_consumer_handler indexer_handler(struct indexer *indexer)
{
    return (struct bs_consumer_handler){
        .ctx = indexer,
        .decode = indexer_decode,
        .apply = apply,
        .free_decoded = indexer_free_decoded,
        .prepare = indexer_prepare,
        .apply_batch = indexer_apply_batch,
    };
}
