/*
 * search.c - public FAQ reads: GET /api/v1/faqs/search, GET
 * /api/v1/faqs/{id}, POST /api/v1/faqs/context.
 *
 * Anyone may call them (a token that is present must still verify); they
 * see only this product's published, not deleted documents. A search embeds
 * the query with the gateway's embedder (EMBEDDER etc., the same settings
 * as faq-indexer) and ranks documents by their best chunk's cosine
 * similarity, over an in-memory index of the product's vectors
 * (faq_index.c).
 *
 * Why in memory and not in SQL: measured with bench/search_bench.c
 * (bench/search-bench.sh; dimension 256, three chunks per document, two
 * threads searching at once, Release build, the 2-core development machine
 * at load average 0.6-1.3; docs/faq-indexer.md has the whole table):
 *
 *   chunks   in memory p50 / p99            SQL over REAL[] p50 / p99
 *    1,000   0.02 / 0.03-0.06 ms            19 / 20 ms
 *   10,000   0.33-0.39 / 0.43-0.67 ms       191 / 197-267 ms
 *
 * A whole request through the gateway at 10,000 chunks (HTTP, the
 * generation check, embedding, the scan, JSON) took p50 0.6-1.3 ms, p99
 * 1.1-5.0 ms over two connections. PostgreSQL interprets the per-element
 * arithmetic (unnest + sum per row) and has to detoast and walk every array
 * on every query: 500 times slower, so only the in-memory index can meet
 * the p99 < 5 ms target. Its costs: memory (dimension * 4 bytes per chunk,
 * 10 MB for 10,000 chunks of 256) and a reload after each generation bump
 * (85-140 ms for 10,000 chunks, vectors fetched as the hex of array_send(),
 * which decodes several times faster than parsing the array's text with
 * strtof). Earlier figures of p99 5-14 ms were taken at load average 5-13:
 * the tail was waiting for a core (the bench's per-search thread CPU time
 * stays near 0.45 ms at p99), not the scan's work.
 *
 * Freshness: faq-indexer bumps faq_index_state.generation whenever the
 * product's embeddings or its published set change. Every search reads the
 * generation (one small query under the product's RLS context); when it
 * moved, the request that notices rebuilds the index from the database off
 * to the side and swaps it in, while concurrent searches keep using the old
 * one (reference counted) instead of waiting. Only the very first load makes
 * others wait, since there is nothing to serve before it. The check costs
 * a round trip, ~0.2 ms of a request's p50 (measured by skipping it:
 * p50 0.39-0.85 against 0.56-1.12 ms, p99 0.5-2.6 against 1.1-4.1 ms); it
 * stays per request because it is what makes a change visible to the very
 * next search (test_gateway_search relies on that). Preparing it would save
 * ~5 us of parsing (pgbench), not the round trip.
 *
 * Model: the index holds the vectors of one model, faq_index_state.model
 * (the model the indexer last wrote with) or, before that is set, the most
 * common model of the product's rows. Rows of any other model (documents a
 * re-index has not reached yet) are left out. If the index's model is not
 * the gateway's, search answers 503 embedding_model_mismatch naming both,
 * and never compares the vectors.
 */
#include "gateway.h"

#include "bs/error.h"
#include "bs/log.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define QUERY_MAX      500
#define SEARCH_K_DEF   5
#define CONTEXT_K_DEF  3
#define CATEGORY_MAX   100
#define CONTEXT_FIELDS "question, k, category"

#define STATE_SQL                                                              \
    "SELECT generation, model FROM faq_index_state WHERE product = $1"

/* Before faq_index_state names a model: the one most rows carry. */
#define ROWS_MODEL_SQL                                                         \
    "SELECT e.model FROM faq_embeddings e JOIN faq_documents d "               \
    "ON d.product = e.product AND d.id = e.document_id "                       \
    "WHERE e.product = $1 AND d.status = 'published' "                         \
    "AND d.deleted_at IS NULL GROUP BY e.model "                               \
    "ORDER BY count(*) DESC, e.model LIMIT 1"

/* Ordered by document so each document's chunks are contiguous. */
#define ROWS_SQL                                                               \
    "SELECT d.id::text, d.title, c.slug, e.chunk_index, e.chunk_text, "        \
    "encode(array_send(e.embedding), 'hex') FROM faq_documents d "             \
    "JOIN faq_embeddings e "                                                   \
    "ON e.product = d.product AND e.document_id = d.id "                       \
    "LEFT JOIN faq_categories c ON c.product = d.product "                     \
    "AND c.id = d.category_id WHERE d.product = $1 "                           \
    "AND d.status = 'published' AND d.deleted_at IS NULL AND e.model = $2 "    \
    "ORDER BY d.id, e.chunk_index"

#define PUBLIC_GET_SQL                                                         \
    "SELECT json_build_object('id', d.id, 'title', d.title, "                  \
    "'content', d.content, 'category', c.slug, 'version', d.version, "         \
    "'updated_at', d.updated_at)::text FROM faq_documents d "                  \
    "LEFT JOIN faq_categories c ON c.product = d.product "                     \
    "AND c.id = d.category_id WHERE d.product = $1 AND d.id = $2::uuid "       \
    "AND d.status = 'published' AND d.deleted_at IS NULL"

/* What a search was asked. */
struct search_query {
    const char *text;
    const char *category; /* NULL: every category */
    size_t k;
};

static void respond_error(struct bs_http_request *req, unsigned status,
                          const char *code, const char *message)
{
    gw_cors_apply(req);
    bs_http_respond_error(req, status, code, message);
}

/* ---- set-up -------------------------------------------------------------- */

int gw_search_init(struct gateway *gw, const struct bs_config *config,
                   struct bs_metrics *metrics, char *errstr, size_t errstr_size)
{
    int result =
        bs_embedder_from_config(config, &gw->embedder, errstr, errstr_size);

    if (result != BS_OK)
        return result;
    /* The hash embedder is thread-safe; an HTTP client is not. */
    gw->embed_serial = strncmp(bs_embedder_model(gw->embedder), "hash", 4) != 0;
    pthread_mutex_init(&gw->embed_lock, NULL);
    faq_index_slot_init(&gw->faq_index);
    gw->search_ready = true;
    gw->index_loads = bs_metrics_counter(
        metrics, "bs_gateway_faq_index_loads_total",
        "FAQ search index (re)loads, by result.", BS_LABELS("result"));
    return BS_OK;
}

void gw_search_destroy(struct gateway *gw)
{
    if (gw->search_ready) {
        faq_index_slot_destroy(&gw->faq_index);
        pthread_mutex_destroy(&gw->embed_lock);
        gw->search_ready = false;
    }
    bs_embedder_free(gw->embedder);
    gw->embedder = NULL;
}

/* ---- loading the index --------------------------------------------------- */

/* The product's generation and model (NULL when unset); false after
 * answering. No row yet is generation 0. */
static bool read_state(struct gw_call *call, int64_t *generation, char **model)
{
    const char *params[] = {call->gw->product};
    PGresult *res = gw_call_query(call, STATE_SQL, 1, params);

    *generation = 0;
    *model = NULL;
    if (!res)
        return false;
    if (PQntuples(res) == 1) {
        *generation = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
        if (!PQgetisnull(res, 0, 1))
            *model = strdup(PQgetvalue(res, 0, 1));
    }
    PQclear(res);
    return true;
}

/* The model most of the published rows carry, or NULL (no rows); false
 * after answering. */
static bool read_rows_model(struct gw_call *call, char **model)
{
    const char *params[] = {call->gw->product};
    PGresult *res = gw_call_query(call, ROWS_MODEL_SQL, 1, params);

    *model = NULL;
    if (!res)
        return false;
    if (PQntuples(res) == 1)
        *model = strdup(PQgetvalue(res, 0, 0));
    PQclear(res);
    return true;
}

/* Builds an index from the ROWS_SQL result; NULL when out of memory. Rows
 * whose vector is malformed or of another length are skipped (logged). */
static struct faq_index *build_index(const PGresult *res, const char *model,
                                     size_t default_dimension,
                                     int64_t generation)
{
    int rows = PQntuples(res);
    const char *first_hex = rows > 0 ? PQgetvalue(res, 0, 5) : "";
    /* The first row's length sets the dimension (a 40-digit header, then
     * 16 hex digits per element). */
    size_t dimension = strlen(first_hex) > 40 ? (strlen(first_hex) - 40) / 16
                                              : default_dimension;
    struct faq_index_builder *builder = NULL;
    struct faq_index *index = NULL;
    float *vector = malloc(dimension * sizeof(float));
    const char *last_doc = "";
    size_t skipped = 0;
    int result;

    result = vector
                 ? faq_index_builder_new(model, dimension, generation, &builder)
                 : BS_ENOMEM;
    for (int r = 0; result == BS_OK && r < rows; r++) {
        const char *doc = PQgetvalue(res, r, 0);

        if (faq_vector_from_hex(PQgetvalue(res, r, 5), vector, dimension) !=
            (long)dimension) {
            skipped++;
            continue;
        }
        if (strcmp(doc, last_doc) != 0) {
            result = faq_index_builder_add_document(
                builder, doc, PQgetvalue(res, r, 1),
                PQgetisnull(res, r, 2) ? NULL : PQgetvalue(res, r, 2));
            last_doc = doc;
        }
        if (result == BS_OK)
            result = faq_index_builder_add_chunk(builder,
                                                 atoi(PQgetvalue(res, r, 3)),
                                                 PQgetvalue(res, r, 4), vector);
    }
    if (skipped)
        bs_log_warn("faq_index_rows_skipped count=%zu model=%s reason=\"not "
                    "a vector of dimension %zu\"",
                    skipped, model ? model : "-", dimension);
    if (result == BS_OK)
        faq_index_builder_finish(builder, &index);
    else
        faq_index_builder_free(builder);
    free(vector);
    return index;
}

/* Reads the rows of `model` and builds the index; NULL after answering. */
static struct faq_index *load_index(struct gw_call *call, const char *model,
                                    int64_t generation)
{
    struct gateway *gw = call->gw;
    const char *params[] = {gw->product, model};
    struct faq_index *index;
    PGresult *res = NULL;
    struct faq_index_builder *empty;

    /* No model anywhere: the product has no embeddings yet. */
    if (!model) {
        if (faq_index_builder_new(NULL, bs_embedder_dimension(gw->embedder),
                                  generation, &empty) != BS_OK ||
            faq_index_builder_finish(empty, &index) != BS_OK)
            index = NULL;
    } else {
        res = gw_call_query(call, ROWS_SQL, 2, params);
        if (!res)
            return NULL;
        index = build_index(res, model, bs_embedder_dimension(gw->embedder),
                            generation);
        PQclear(res);
    }
    if (!index) {
        gw_respond_internal(call->req, "out of memory building the index");
        return NULL;
    }
    bs_log_info("faq_index_loaded generation=%" PRId64
                " model=%s documents=%zu chunks=%zu request_id=%s",
                generation, model ? model : "-",
                faq_index_document_count(index), faq_index_chunk_count(index),
                call->req->request_id);
    return index;
}

/* Rebuilds the index for (generation, model) and installs it; the claim
 * must be held. NULL after answering; else a reference for the caller. */
static struct faq_index *rebuild(struct gw_call *call, int64_t generation,
                                 char *model)
{
    struct gateway *gw = call->gw;
    struct faq_index *index;

    if (!model && !read_rows_model(call, &model)) {
        faq_index_slot_abandon(&gw->faq_index);
        bs_metric_inc(gw->index_loads, BS_LABELS("failed"));
        return NULL;
    }
    index = load_index(call, model, generation);
    free(model);
    if (!index) {
        faq_index_slot_abandon(&gw->faq_index);
        bs_metric_inc(gw->index_loads, BS_LABELS("failed"));
        return NULL;
    }
    bs_metric_inc(gw->index_loads, BS_LABELS("ok"));
    faq_index_slot_put(&gw->faq_index, faq_index_ref(index));
    return index;
}

static bool same_model(const char *a, const char *b)
{
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

/*
 * The product's current index with a reference for the caller, rebuilt
 * first when the generation or model moved; NULL after answering.
 */
static struct faq_index *current_index(struct gw_call *call)
{
    struct gateway *gw = call->gw;
    struct faq_index *index;
    int64_t generation;
    char *model;

    if (!read_state(call, &generation, &model))
        return NULL;
    index = faq_index_slot_get(&gw->faq_index);
    if (index && faq_index_generation(index) == generation &&
        (!model || same_model(model, faq_index_model(index)))) {
        free(model);
        return index;
    }

    /* Stale or missing. Someone else rebuilding: serve what there is. */
    if (!faq_index_slot_claim(&gw->faq_index, index == NULL)) {
        free(model);
        if (!index)
            index = faq_index_slot_get(&gw->faq_index);
        if (!index) /* the other rebuild failed */
            gw_respond_unavailable(call->req);
        return index;
    }
    faq_index_unref(index);
    return rebuild(call, generation, model);
}

/* ---- searching ----------------------------------------------------------- */

/* The query's vector into a new array; NULL after answering. */
static float *embed_query(struct gw_call *call, const char *text)
{
    struct gateway *gw = call->gw;
    size_t dimension = bs_embedder_dimension(gw->embedder);
    float *vector = malloc(dimension * sizeof(float));
    char errstr[256];
    int result;

    if (!vector) {
        gw_respond_internal(call->req, "out of memory");
        return NULL;
    }
    if (gw->embed_serial)
        pthread_mutex_lock(&gw->embed_lock);
    result = bs_embedder_embed(gw->embedder, &text, 1, vector, errstr,
                               sizeof(errstr));
    if (gw->embed_serial)
        pthread_mutex_unlock(&gw->embed_lock);
    if (result == BS_OK)
        return vector;
    free(vector);
    if (result == BS_EINVAL) {
        respond_error(call->req, 400, "invalid_query",
                      "the query cannot be embedded (not valid UTF-8?)");
    } else if (result == BS_EUNAVAILABLE) {
        bs_log_warn("embedder_unavailable reason=\"%s\" request_id=%s", errstr,
                    call->req->request_id);
        gw_respond_unavailable(call->req);
    } else {
        bs_log_error("embed_failed reason=\"%s\" request_id=%s", errstr,
                     call->req->request_id);
        gw_respond_internal(call->req, "embedding the query failed");
    }
    return NULL;
}

static void respond_mismatch(struct gw_call *call, const char *index_model)
{
    char message[512];

    snprintf(message, sizeof(message),
             "the FAQ index of this product was built with model '%s' but "
             "this gateway embeds queries with model '%s'; re-index or "
             "configure the same model",
             index_model ? index_model : "-",
             bs_embedder_model(call->gw->embedder));
    respond_error(call->req, 503, "embedding_model_mismatch", message);
}

/*
 * Runs the search; on true *index holds a reference (the hits point into
 * it) and the caller answers; on false the request was answered.
 */
static bool run_search(struct gw_call *call, const struct search_query *query,
                       struct faq_index **index, struct faq_hit *hits,
                       size_t *count)
{
    struct gateway *gw = call->gw;
    float *vector;
    int result;

    *index = current_index(call);
    if (!*index)
        return false;
    vector = embed_query(call, query->text);
    if (!vector) {
        faq_index_unref(*index);
        return false;
    }
    result = faq_index_search(*index, bs_embedder_model(gw->embedder), vector,
                              bs_embedder_dimension(gw->embedder),
                              query->category, query->k, hits, count);
    free(vector);
    if (result == BS_OK)
        return true;
    if (result == FAQ_INDEX_MODEL_MISMATCH)
        respond_mismatch(call, faq_index_model(*index));
    else
        gw_respond_internal(call->req, "search failed");
    faq_index_unref(*index);
    return false;
}

/* ---- validation ---------------------------------------------------------- */

static bool query_text_valid(const char *text)
{
    return text && gw_text_valid(text, QUERY_MAX);
}

/* k as 1 or 2 digits within 1..FAQ_INDEX_K_MAX; NULL gives `def`. */
static bool k_parse(const char *text, size_t def, size_t *k)
{
    size_t len = text ? strlen(text) : 0;

    *k = def;
    if (!text)
        return true;
    if (len == 0 || len > 2 || text[0] < '0' || text[0] > '9' ||
        (len == 2 && (text[1] < '0' || text[1] > '9')))
        return false;
    *k = (size_t)atoi(text);
    return *k >= 1 && *k <= FAQ_INDEX_K_MAX;
}

static bool category_valid(const char *category)
{
    return gw_text_valid(category, CATEGORY_MAX);
}

/* The search's query parameters; false after answering 400. */
static bool search_params(struct bs_http_request *req,
                          struct search_query *query)
{
    query->text = bs_http_request_query(req, "q");
    query->category = bs_http_request_query(req, "category");
    if (!query_text_valid(query->text)) {
        respond_error(req, 400, "invalid_query",
                      "q is required: 1 to 500 bytes of UTF-8 text");
        return false;
    }
    if (!k_parse(bs_http_request_query(req, "k"), SEARCH_K_DEF, &query->k)) {
        respond_error(req, 400, "invalid_k",
                      "k must be a whole number from 1 to 20");
        return false;
    }
    if (!category_valid(query->category)) {
        respond_error(req, 400, "invalid_category",
                      "category must be a slug of 1 to 100 characters");
        return false;
    }
    return true;
}

/* ---- GET /api/v1/faqs/search --------------------------------------------- */

static json_t *hit_json(const struct faq_hit *hit, bool full)
{
    json_t *item = json_pack("{s:s, s:s, s:s, s:f}", "document_id",
                             hit->document_id, "title", hit->title, "chunk",
                             hit->chunk, "score", (double)hit->score);

    if (item && full) {
        json_object_set_new(item, "category",
                            hit->category ? json_string(hit->category)
                                          : json_null());
        json_object_set_new(item, "chunk_index",
                            json_integer(hit->chunk_index));
    }
    return item;
}

/* {"product","model", <member>:[hits]}; NULL when out of memory. */
static json_t *hits_json(const struct gw_call *call, const char *member,
                         const struct faq_hit *hits, size_t count, bool full)
{
    json_t *list = json_array();

    for (size_t i = 0; list && i < count; i++) {
        json_t *item = hit_json(&hits[i], full);

        if (!item || json_array_append_new(list, item) != 0) {
            json_decref(list);
            return NULL;
        }
    }
    if (!list)
        return NULL;
    return json_pack("{s:s, s:s, s:o}", "product", call->gw->product, "model",
                     bs_embedder_model(call->gw->embedder), member, list);
}

void gw_handle_faq_search(struct bs_http_request *req)
{
    struct faq_hit hits[FAQ_INDEX_K_MAX];
    struct search_query query;
    struct faq_index *index;
    struct gw_call call;
    size_t count;

    if (!search_params(req, &query) || !gw_call_begin_public(req, &call))
        return;
    if (run_search(&call, &query, &index, hits, &count)) {
        gw_respond_json(req, 200,
                        hits_json(&call, "results", hits, count, true));
        faq_index_unref(index);
    }
    gw_call_end(&call);
}

/* ---- POST /api/v1/faqs/context ------------------------------------------- */

/* The body {"question": text, "k": 1..20, "category": slug}; false after
 * answering 400. The strings point into *root (caller decrefs). */
static bool context_body(struct bs_http_request *req, json_t **root,
                         struct search_query *query)
{
    json_error_t error;
    const char *key;
    json_t *value, *k;
    char message[160];

    *root = json_loadb((const char *)req->body, req->body_len,
                       JSON_REJECT_DUPLICATES, &error);
    if (!*root || !json_is_object(*root)) {
        respond_error(req, 400, "invalid_body",
                      "the body must be a JSON "
                      "object");
        return false;
    }
    json_object_foreach(*root, key, value)
    {
        if (strcmp(key, "question") != 0 && strcmp(key, "k") != 0 &&
            strcmp(key, "category") != 0) {
            snprintf(message, sizeof(message),
                     "unknown field '%.60s' (allowed: " CONTEXT_FIELDS ")",
                     key);
            respond_error(req, 400, "invalid_body", message);
            return false;
        }
    }
    query->text = json_string_value(json_object_get(*root, "question"));
    if (!query_text_valid(query->text) ||
        strlen(query->text) !=
            json_string_length(json_object_get(*root, "question"))) {
        respond_error(req, 400, "invalid_body",
                      "field 'question' is required: a string of 1 to 500 "
                      "bytes");
        return false;
    }
    k = json_object_get(*root, "k");
    query->k = CONTEXT_K_DEF;
    if (k && (!json_is_integer(k) || json_integer_value(k) < 1 ||
              json_integer_value(k) > FAQ_INDEX_K_MAX)) {
        respond_error(req, 400, "invalid_body",
                      "field 'k' must be a whole number from 1 to 20");
        return false;
    }
    if (k)
        query->k = (size_t)json_integer_value(k);
    value = json_object_get(*root, "category");
    query->category = json_string_value(value);
    if (value && !json_is_null(value) &&
        (!query->category || !category_valid(query->category))) {
        respond_error(req, 400, "invalid_body",
                      "field 'category' must be a slug of 1 to 100 "
                      "characters or null");
        return false;
    }
    return true;
}

void gw_handle_faq_context(struct bs_http_request *req)
{
    struct faq_hit hits[FAQ_INDEX_K_MAX];
    struct search_query query;
    struct faq_index *index;
    struct gw_call call;
    json_t *root = NULL;
    size_t count;

    if (context_body(req, &root, &query) && gw_call_begin_public(req, &call)) {
        if (run_search(&call, &query, &index, hits, &count)) {
            gw_respond_json(req, 200,
                            hits_json(&call, "passages", hits, count, false));
            faq_index_unref(index);
        }
        gw_call_end(&call);
    }
    json_decref(root);
}

/* ---- GET /api/v1/faqs/{id} ----------------------------------------------- */

void gw_handle_faq_public_get(struct bs_http_request *req)
{
    const char *raw = bs_http_request_param(req, "id");
    char id[GW_UUID_SIZE];
    struct gw_call call;
    PGresult *res;

    /* /faqs/context is a POST route; asked with GET it is no {id}. */
    if (strcmp(raw, "context") == 0) {
        bs_http_response_header(req, "Allow", "POST, OPTIONS");
        respond_error(req, 405, "method_not_allowed",
                      "/api/v1/faqs/context answers POST");
        return;
    }
    if (!gw_uuid_parse(raw, id)) {
        respond_error(req, 400, "invalid_id", "a FAQ id is a UUID");
        return;
    }
    if (!gw_call_begin_public(req, &call))
        return;
    {
        const char *params[] = {call.gw->product, id};

        res = gw_call_query(&call, PUBLIC_GET_SQL, 2, params);
    }
    if (res) {
        if (PQntuples(res) == 0)
            respond_error(req, 404, "not_found",
                          "no such published FAQ in this product");
        else
            gw_respond_json(req, 200, gw_row_json(res, 0));
        PQclear(res);
    }
    gw_call_end(&call);
}
