/*
 * indexer_store.c - the faq-indexer's SQL: read a batch's documents, look
 * up category slugs, and write a batch back with a few set-based
 * statements over arrays (unnest), whatever the batch size.
 *
 * Arrays travel as text literals ('{"a","b",NULL}'), except the vectors:
 * every vector of the batch goes end to end in one real[] parameter in
 * PostgreSQL's binary array format (exact, and no float is printed or
 * parsed), sliced per row in SQL, so every chunk of the batch is inserted
 * by one statement.
 */
#include "indexer_internal.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bs/db.h"
#include "bs/error.h"
#include "bs/log.h"

static const char load_sql[] =
    "SELECT id::text, category_id::text, title, content, status, version,"
    " content_hash, embedding_model, chunker_version,"
    " deleted_at IS NOT NULL"
    " FROM faq_documents WHERE product = $1 AND id = ANY($2::uuid[])";

static const char categories_sql[] =
    "SELECT slug, id::text FROM faq_categories"
    " WHERE product = $1 AND slug = ANY($2::text[])";

/*
 * A reindex must not move updated_at (the admin's last change): its rows
 * carry updated_at = '-infinity', which the update turns into "keep".
 * Only existing rows are reindexed, so '-infinity' is never inserted.
 */
static const char write_docs_sql[] =
    "INSERT INTO faq_documents AS d (product, id, category_id, title,"
    " content, status, version, content_hash, embedding_model,"
    " chunker_version, embedded_at, created_by, updated_by, updated_at,"
    " deleted_at)"
    " SELECT $1, x.id, x.category_id, x.title, x.content, x.status,"
    " x.version, x.content_hash, x.model, x.chunker,"
    " CASE WHEN x.embedded THEN now() END, x.actor, x.actor,"
    " CASE WHEN x.touched THEN now() ELSE '-infinity' END,"
    " CASE WHEN x.deleted THEN now() END"
    " FROM unnest($2::uuid[], $3::bigint[], $4::text[], $5::text[],"
    " $6::text[], $7::bigint[], $8::text[], $9::text[], $10::int[],"
    " $11::bool[], $12::text[], $13::bool[], $14::bool[])"
    " AS x(id, category_id, title, content, status, version, content_hash,"
    " model, chunker, embedded, actor, touched, deleted)"
    " ON CONFLICT (product, id) DO UPDATE SET"
    " category_id = EXCLUDED.category_id, title = EXCLUDED.title,"
    " content = EXCLUDED.content, status = EXCLUDED.status,"
    " version = EXCLUDED.version, content_hash = EXCLUDED.content_hash,"
    " embedding_model = EXCLUDED.embedding_model,"
    " chunker_version = EXCLUDED.chunker_version,"
    " embedded_at = COALESCE(EXCLUDED.embedded_at, d.embedded_at),"
    " updated_by = COALESCE(EXCLUDED.updated_by, d.updated_by),"
    " updated_at = CASE WHEN EXCLUDED.updated_at = '-infinity'"
    " THEN d.updated_at ELSE EXCLUDED.updated_at END,"
    " deleted_at = COALESCE(d.deleted_at, EXCLUDED.deleted_at)";

static const char drop_embeddings_sql[] =
    "DELETE FROM faq_embeddings"
    " WHERE product = $1 AND document_id = ANY($2::uuid[])";

/* $5 is every vector of the batch end to end, one flat real[] sent in
 * binary (no float is formatted or parsed as text); row o takes the slice
 * [(o - 1) * $7 + 1, o * $7]. */
static const char insert_embeddings_sql[] =
    "INSERT INTO faq_embeddings (product, document_id, chunk_index,"
    " chunk_text, embedding, model)"
    " SELECT $1, x.d, x.i, x.t,"
    " ($5::real[])[(x.o - 1) * $7::int + 1 : x.o * $7::int], $6"
    " FROM unnest($2::uuid[], $3::int[], $4::text[])"
    " WITH ORDINALITY AS x(d, i, t, o)";

/* $2: the model rows were embedded with now, NULL when none was. */
static const char bump_sql[] =
    "INSERT INTO faq_index_state AS s (product, generation, model)"
    " VALUES ($1, 1, $2)"
    " ON CONFLICT (product) DO UPDATE SET generation = s.generation + 1,"
    " model = COALESCE(EXCLUDED.model, s.model), updated_at = now()";

static const struct {
    const char *name;
    const char *sql;
    int nparams;
} statements[] = {
    {"faq_load", load_sql, 2},
    {"faq_categories", categories_sql, 2},
    {"faq_write_docs", write_docs_sql, 14},
    {"faq_drop_embeddings", drop_embeddings_sql, 2},
    {"faq_insert_embeddings", insert_embeddings_sql, 7},
    {"faq_bump", bump_sql, 2},
};

int store_prepare(PGconn *conn, char *errstr, size_t errstr_size)
{
    for (size_t i = 0; i < sizeof(statements) / sizeof(statements[0]); i++) {
        int result = bs_db_prepare(conn, statements[i].name, statements[i].sql,
                                   statements[i].nparams, errstr, errstr_size);
        if (result != BS_OK)
            return result;
    }
    return BS_OK;
}

/* ---- array literals ----------------------------------------------------- */

/* A growing array literal; `failed` after any allocation failure. */
struct literal {
    char *data;
    size_t len;
    size_t cap;
    size_t items;
    bool failed;
};

static void lit_reserve(struct literal *l, size_t more)
{
    size_t cap = l->cap ? l->cap : 256;
    char *data;

    if (l->failed || l->len + more + 1 <= l->cap)
        return;
    while (cap < l->len + more + 1)
        cap *= 2;
    data = realloc(l->data, cap);
    if (!data) {
        l->failed = true;
        return;
    }
    l->data = data;
    l->cap = cap;
}

static void lit_raw(struct literal *l, const char *s, size_t n)
{
    lit_reserve(l, n);
    if (l->failed)
        return;
    memcpy(l->data + l->len, s, n);
    l->len += n;
    l->data[l->len] = '\0';
}

static void lit_open(struct literal *l)
{
    l->len = 0;
    l->items = 0;
    lit_raw(l, "{", 1);
}

static void lit_close(struct literal *l)
{
    lit_raw(l, "}", 1);
}

static void lit_sep(struct literal *l)
{
    if (l->items++ > 0)
        lit_raw(l, ",", 1);
}

/* A quoted element (" and \ escaped), or NULL. */
static void lit_text(struct literal *l, const char *s)
{
    size_t n;

    lit_sep(l);
    if (!s) {
        lit_raw(l, "NULL", 4);
        return;
    }
    n = strlen(s);
    lit_reserve(l, 2 * n + 2);
    if (l->failed)
        return;
    l->data[l->len++] = '"';
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '"' || s[i] == '\\')
            l->data[l->len++] = '\\';
        l->data[l->len++] = s[i];
    }
    l->data[l->len++] = '"';
    l->data[l->len] = '\0';
}

/* An unquoted element: a number or a boolean. */
static void lit_word(struct literal *l, const char *word)
{
    lit_sep(l);
    lit_raw(l, word, strlen(word));
}

static void lit_int(struct literal *l, int64_t value)
{
    char buf[24];

    snprintf(buf, sizeof(buf), "%" PRId64, value);
    lit_word(l, buf);
}

static void lit_bool(struct literal *l, bool value)
{
    lit_word(l, value ? "t" : "f");
}

static void lits_free(struct literal *lits, size_t count)
{
    for (size_t i = 0; i < count; i++)
        free(lits[i].data);
}

/* ---- statements -----------------------------------------------------------
 */

/* Runs a prepared statement; APPLIED with the result in *out (or freed
 * when out is NULL). */
static enum bs_consumer_result run(PGconn *conn, const char *name, int n,
                                   const char *const *params, PGresult **out,
                                   char *reason, size_t reason_size)
{
    PGresult *res = PQexecPrepared(conn, name, n, params, NULL, NULL, 0);
    ExecStatusType status = PQresultStatus(res);
    enum bs_consumer_result result;

    if (status == PGRES_TUPLES_OK || status == PGRES_COMMAND_OK) {
        if (out)
            *out = res;
        else
            PQclear(res);
        return BS_CONSUMER_APPLIED;
    }
    result = bs_consumer_db_result(conn, res, reason, reason_size);
    PQclear(res);
    if (out)
        *out = NULL;
    return result;
}

static enum bs_consumer_result out_of_memory(char *reason, size_t reason_size)
{
    /* Not the record's fault: retry the batch later. */
    bs_log_error("out_of_memory where=faq_indexer_store");
    snprintf(reason, reason_size, "out of memory");
    return BS_CONSUMER_INFRA_ERROR;
}

static char *dup_value(const PGresult *res, int row, int col)
{
    return PQgetisnull(res, row, col) ? NULL
                                      : strdup(PQgetvalue(res, row, col));
}

static struct faq_doc *find_doc(struct faq_batch *batch, const char *id)
{
    for (size_t i = 0; i < batch->doc_count; i++)
        if (strcmp(batch->docs[i].id, id) == 0)
            return &batch->docs[i];
    return NULL;
}

/* Copies one stored row into its document. false when out of memory. */
static bool load_row(struct faq_doc *doc, const PGresult *res, int row)
{
    doc->found = true;
    doc->category_id = dup_value(res, row, 1);
    doc->title = dup_value(res, row, 2);
    doc->content = dup_value(res, row, 3);
    doc->status = dup_value(res, row, 4);
    doc->version = strtoll(PQgetvalue(res, row, 5), NULL, 10);
    if (!PQgetisnull(res, row, 6))
        snprintf(doc->hash, sizeof(doc->hash), "%s", PQgetvalue(res, row, 6));
    doc->model = dup_value(res, row, 7);
    doc->chunker_version =
        PQgetisnull(res, row, 8) ? 0 : atoi(PQgetvalue(res, row, 8));
    doc->deleted = strcmp(PQgetvalue(res, row, 9), "t") == 0;
    return doc->title && doc->content && doc->status &&
           (doc->category_id || PQgetisnull(res, row, 1)) &&
           (doc->model || PQgetisnull(res, row, 7));
}

enum bs_consumer_result store_load(PGconn *conn, const char *product,
                                   struct faq_batch *batch, char *reason,
                                   size_t reason_size)
{
    struct literal ids = {0};
    enum bs_consumer_result result;
    PGresult *res = NULL;
    const char *params[2];

    lit_open(&ids);
    for (size_t i = 0; i < batch->doc_count; i++)
        lit_text(&ids, batch->docs[i].id);
    lit_close(&ids);
    if (ids.failed) {
        free(ids.data);
        return out_of_memory(reason, reason_size);
    }
    params[0] = product;
    params[1] = ids.data;
    result = run(conn, "faq_load", 2, params, &res, reason, reason_size);
    free(ids.data);
    if (result != BS_CONSUMER_APPLIED)
        return result;
    for (int row = 0; row < PQntuples(res); row++) {
        struct faq_doc *doc = find_doc(batch, PQgetvalue(res, row, 0));

        if (doc && !load_row(doc, res, row)) {
            PQclear(res);
            return out_of_memory(reason, reason_size);
        }
    }
    PQclear(res);
    return BS_CONSUMER_APPLIED;
}

enum bs_consumer_result store_categories(PGconn *conn, const char *product,
                                         const char *const *slugs, size_t count,
                                         char **ids, char *reason,
                                         size_t reason_size)
{
    struct literal lit = {0};
    enum bs_consumer_result result;
    PGresult *res = NULL;
    const char *params[2];

    lit_open(&lit);
    for (size_t i = 0; i < count; i++)
        lit_text(&lit, slugs[i]);
    lit_close(&lit);
    if (lit.failed) {
        free(lit.data);
        return out_of_memory(reason, reason_size);
    }
    params[0] = product;
    params[1] = lit.data;
    result = run(conn, "faq_categories", 2, params, &res, reason, reason_size);
    free(lit.data);
    if (result != BS_CONSUMER_APPLIED)
        return result;
    for (int row = 0; row < PQntuples(res); row++)
        for (size_t i = 0; i < count; i++)
            if (!ids[i] && strcmp(slugs[i], PQgetvalue(res, row, 0)) == 0)
                ids[i] = strdup(PQgetvalue(res, row, 1));
    PQclear(res);
    return BS_CONSUMER_APPLIED;
}

/* The 13 arrays of faq_write_docs, one element per dirty document. */
enum {
    DOC_ID,
    DOC_CATEGORY,
    DOC_TITLE,
    DOC_CONTENT,
    DOC_STATUS,
    DOC_VERSION,
    DOC_HASH,
    DOC_MODEL,
    DOC_CHUNKER,
    DOC_EMBEDDED,
    DOC_ACTOR,
    DOC_TOUCHED,
    DOC_DELETED,
    DOC_ARRAYS
};

static void doc_elements(struct literal *l, const struct faq_doc *d)
{
    lit_text(&l[DOC_ID], d->id);
    if (d->category_id)
        lit_word(&l[DOC_CATEGORY], d->category_id);
    else
        lit_word(&l[DOC_CATEGORY], "NULL");
    lit_text(&l[DOC_TITLE], d->title);
    lit_text(&l[DOC_CONTENT], d->content);
    lit_text(&l[DOC_STATUS], d->status);
    lit_int(&l[DOC_VERSION], d->version);
    lit_text(&l[DOC_HASH], d->hash[0] ? d->hash : NULL);
    lit_text(&l[DOC_MODEL], d->model);
    if (d->chunker_version > 0)
        lit_int(&l[DOC_CHUNKER], d->chunker_version);
    else
        lit_word(&l[DOC_CHUNKER], "NULL");
    lit_bool(&l[DOC_EMBEDDED], d->embed);
    lit_text(&l[DOC_ACTOR], d->updated_by);
    lit_bool(&l[DOC_TOUCHED], d->touched);
    lit_bool(&l[DOC_DELETED], d->deleted);
}

static enum bs_consumer_result write_docs(PGconn *conn, const char *product,
                                          const struct faq_batch *batch,
                                          char *reason, size_t reason_size)
{
    struct literal lits[DOC_ARRAYS] = {{0}};
    const char *params[DOC_ARRAYS + 1] = {product};
    enum bs_consumer_result result;
    bool failed = false;

    for (int a = 0; a < DOC_ARRAYS; a++)
        lit_open(&lits[a]);
    for (size_t i = 0; i < batch->doc_count; i++)
        if (batch->docs[i].dirty)
            doc_elements(lits, &batch->docs[i]);
    for (int a = 0; a < DOC_ARRAYS; a++) {
        lit_close(&lits[a]);
        failed |= lits[a].failed;
        params[a + 1] = lits[a].data;
    }
    if (failed)
        result = out_of_memory(reason, reason_size);
    else
        result = run(conn, "faq_write_docs", DOC_ARRAYS + 1, params, NULL,
                     reason, reason_size);
    lits_free(lits, DOC_ARRAYS);
    return result;
}

/* Removes the embeddings of every document embedded now or deleted. */
static enum bs_consumer_result drop_embeddings(PGconn *conn,
                                               const char *product,
                                               const struct faq_batch *batch,
                                               char *reason, size_t size)
{
    struct literal ids = {0};
    enum bs_consumer_result result = BS_CONSUMER_APPLIED;
    const char *params[2] = {product, NULL};

    lit_open(&ids);
    for (size_t i = 0; i < batch->doc_count; i++)
        if (batch->docs[i].embed || batch->docs[i].drop)
            lit_text(&ids, batch->docs[i].id);
    lit_close(&ids);
    params[1] = ids.data;
    if (ids.failed)
        result = out_of_memory(reason, size);
    else if (ids.items > 0)
        result =
            run(conn, "faq_drop_embeddings", 2, params, NULL, reason, size);
    free(ids.data);
    return result;
}

/* Appends a big-endian 32-bit word. */
static unsigned char *put32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
    return p + 4;
}

/*
 * `count` floats as a one-dimensional float4[] in binary array format:
 * ndim, has-nulls, element type (float4, oid 700), length, lower bound,
 * then per element its byte length (4) and its IEEE 754 bits, big-endian.
 */
static unsigned char *binary_real_array(const float *v, size_t count,
                                        size_t *len)
{
    unsigned char *buf = malloc(20 + 8 * count), *p = buf;

    if (!buf)
        return NULL;
    p = put32(p, 1);
    p = put32(p, 0);
    p = put32(p, 700);
    p = put32(p, (uint32_t)count);
    p = put32(p, 1);
    for (size_t i = 0; i < count; i++) {
        uint32_t bits;

        memcpy(&bits, &v[i], sizeof(bits));
        p = put32(p, 4);
        p = put32(p, bits);
    }
    *len = (size_t)(p - buf);
    return buf;
}

static enum bs_consumer_result insert_embeddings(PGconn *conn,
                                                 const char *product,
                                                 const struct faq_batch *batch,
                                                 size_t dimension, char *reason,
                                                 size_t size)
{
    struct literal lits[3] = {{0}};
    const char *params[7] = {product};
    int lengths[7] = {0}, formats[7] = {0};
    enum bs_consumer_result result;
    unsigned char *vectors;
    size_t vectors_len = 0;
    char dim[24];
    bool failed = false;

    if (batch->chunk_count == 0)
        return BS_CONSUMER_APPLIED;
    for (int a = 0; a < 3; a++)
        lit_open(&lits[a]);
    for (size_t i = 0; i < batch->chunk_count; i++) {
        const struct faq_chunk *c = &batch->chunks[i];

        lit_text(&lits[0], batch->docs[c->doc].id);
        lit_int(&lits[1], c->index);
        lit_text(&lits[2], c->text);
    }
    for (int a = 0; a < 3; a++) {
        lit_close(&lits[a]);
        failed |= lits[a].failed;
        params[a + 1] = lits[a].data;
    }
    /* Chunk i's vector is batch->vectors + i * dimension: one flat array. */
    vectors = binary_real_array(batch->vectors, batch->chunk_count * dimension,
                                &vectors_len);
    snprintf(dim, sizeof(dim), "%zu", dimension);
    params[4] = (const char *)vectors;
    lengths[4] = (int)vectors_len;
    formats[4] = 1;
    params[5] = batch->model;
    params[6] = dim;
    if (failed || !vectors) {
        result = out_of_memory(reason, size);
    } else {
        PGresult *res = PQexecPrepared(conn, "faq_insert_embeddings", 7, params,
                                       lengths, formats, 0);

        result = PQresultStatus(res) == PGRES_COMMAND_OK
                     ? BS_CONSUMER_APPLIED
                     : bs_consumer_db_result(conn, res, reason, size);
        PQclear(res);
    }
    free(vectors);
    lits_free(lits, 3);
    return result;
}

enum bs_consumer_result store_write(PGconn *conn, const char *product,
                                    const struct faq_batch *batch,
                                    size_t dimension, char *reason,
                                    size_t reason_size)
{
    enum bs_consumer_result result;
    bool dirty = false, embedded = false;
    const char *params[2] = {product, NULL};

    for (size_t i = 0; i < batch->doc_count; i++) {
        dirty |= batch->docs[i].dirty;
        embedded |= batch->docs[i].embed;
    }
    if (!dirty)
        return BS_CONSUMER_APPLIED;
    result = write_docs(conn, product, batch, reason, reason_size);
    if (result == BS_CONSUMER_APPLIED)
        result = drop_embeddings(conn, product, batch, reason, reason_size);
    if (result == BS_CONSUMER_APPLIED)
        result = insert_embeddings(conn, product, batch, dimension, reason,
                                   reason_size);
    if (result != BS_CONSUMER_APPLIED)
        return result;
    params[1] = embedded ? batch->model : NULL;
    return run(conn, "faq_bump", 2, params, NULL, reason, reason_size);
}
