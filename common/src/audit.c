/*
 * audit.c - events into audit_log rows, the row hash, and the chain: see
 * bs/audit.h for the contract and docs/audit.md for the why.
 *
 * Mapping keeps personal data out of the trail: a row names who (a Clerk
 * user id, "clerk" or "system"), what (action, entity type and id) and a
 * summary of the change built from identifiers and states only (role,
 * version, status, category), never an e-mail, a name or FAQ text.
 *
 * Appending takes five statements per call, whatever the number of rows:
 * lock the product's chain head (FOR UPDATE: concurrent appenders queue
 * here, so no two rows ever get the same place), find which event ids are
 * already in audit_log (under the lock that answer cannot go stale), COPY
 * the new rows with their hashes computed here into a session temporary
 * table, move them into audit_log with one INSERT ... SELECT, and move the
 * head. The hash is computed in C, not in SQL, so that the verifier and
 * the writer share this one function.
 */
#include "bs/audit.h"

#include <inttypes.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bs/error.h"
#include "bs/events.h"

/* Domain separation: a different use of SHA-256 never collides with ours. */
#define HASH_DOMAIN "bs-audit-chain-v1"

/* ---- small helpers ------------------------------------------------------ */

static char *dup_or_null(const char *text)
{
    return text ? strdup(text) : NULL;
}

/* Takes over the string: *dst = src, src becomes NULL. */
static void take(char **dst, char **src)
{
    *dst = *src;
    *src = NULL;
}

void bs_audit_row_clear(struct bs_audit_row *row)
{
    free(row->product);
    free(row->event_id);
    free(row->actor_id);
    free(row->action);
    free(row->entity_type);
    free(row->entity_id);
    free(row->changes);
    free(row->request_id);
    free(row->source_topic);
    memset(row, 0, sizeof(*row));
    row->source_partition = -1;
    row->source_offset = -1;
}

int bs_audit_row_set_source(struct bs_audit_row *row, const char *topic,
                            int32_t partition, int64_t offset)
{
    char *copy = dup_or_null(topic);

    if (topic && !copy)
        return BS_ENOMEM;
    free(row->source_topic);
    row->source_topic = copy;
    row->source_partition = topic ? partition : -1;
    row->source_offset = topic ? offset : -1;
    return BS_OK;
}

int bs_audit_canonical_json(const char *text, char **out, char *errstr,
                            size_t errstr_size)
{
    json_error_t error;
    json_t *value = json_loads(text, JSON_REJECT_DUPLICATES, &error);

    *out = NULL;
    if (!value || !json_is_object(value)) {
        json_decref(value);
        return bs_fail(errstr, errstr_size, BS_EDECODE,
                       "changes is not a JSON object");
    }
    *out = json_dumps(value, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(value);
    if (!*out)
        return bs_fail(errstr, errstr_size, BS_ENOMEM, "out of memory");
    return BS_OK;
}

/* A JSON object's canonical text; takes over `object`. */
static char *dump_object(json_t *object)
{
    char *text =
        object ? json_dumps(object, JSON_COMPACT | JSON_SORT_KEYS) : NULL;

    json_decref(object);
    return text;
}

/* ---- mapping events to rows --------------------------------------------- */

/* The fields every event gives a row; takes over the meta's strings. */
static int row_start(struct bs_audit_row *row, struct bs_event_meta *meta,
                     char *errstr, size_t errstr_size)
{
    if (!meta->event_id || !*meta->event_id || !meta->product)
        return bs_fail(errstr, errstr_size, BS_EDECODE,
                       "event without event id or product");
    take(&row->event_id, &meta->event_id);
    take(&row->product, &meta->product);
    row->occurred_at_us = meta->occurred_at * 1000;
    return BS_OK;
}

/* The actor: `actor` when given, else `fallback`. */
static char *actor_or(char **actor, const char *fallback)
{
    if (*actor && **actor) {
        char *taken;

        take(&taken, actor);
        return taken;
    }
    return strdup(fallback);
}

/* Only Clerk writes user events (through webhook-ingest): its webhooks act
 * as "clerk"; anything else that ever writes them acts as "system". The
 * change keeps the role and Clerk's clock, never e-mail, names or image. */
static int user_row(const struct bs_codec *codec, const void *bytes, size_t len,
                    struct bs_audit_row *row, char *errstr, size_t errstr_size)
{
    struct bs_user_event e = {0};
    json_t *changes;
    char action[32];
    int result;

    result = bs_user_event_decode(codec, bytes, len, &e, errstr, errstr_size);
    if (result != BS_OK)
        return result;
    result = row_start(row, &e.meta, errstr, errstr_size);
    if (result == BS_OK && (!e.clerk_user_id || !*e.clerk_user_id))
        result = bs_fail(errstr, errstr_size, BS_EDECODE,
                         "user event without user id");
    if (result != BS_OK)
        goto out;

    snprintf(action, sizeof(action), "user.%s", bs_user_action_name(e.action));
    changes = json_object();
    if (changes && e.action != BS_USER_DELETED)
        json_object_set_new(changes, "role",
                            e.role ? json_string(e.role) : json_null());
    if (changes && e.has_clerk_updated_at)
        json_object_set_new(changes, "clerk_updated_at",
                            json_integer(e.clerk_updated_at));
    row->actor_id =
        strdup(e.meta.source && strcmp(e.meta.source, "webhook-ingest") == 0
                   ? BS_AUDIT_ACTOR_CLERK
                   : BS_AUDIT_ACTOR_SYSTEM);
    row->action = strdup(action);
    row->entity_type = strdup("user");
    take(&row->entity_id, &e.clerk_user_id);
    row->changes = dump_object(changes);
    if (!row->actor_id || !row->action || !row->entity_type || !row->changes)
        result = bs_fail(errstr, errstr_size, BS_ENOMEM, "out of memory");
out:
    bs_user_event_clear(&e);
    return result;
}

static const char *faq_action(const struct bs_faq_event *e)
{
    switch (e->action) {
    case BS_FAQ_UPSERT:
        /* The gateway numbers versions from 1: version 1 is the creation. */
        return e->version <= 1 ? "faq.created" : "faq.updated";
    case BS_FAQ_DELETE:
        return "faq.deleted";
    case BS_FAQ_REINDEX:
    default:
        return "faq.reindexed";
    }
}

/* The change keeps version, status and category; never title or content. */
static int faq_row(const struct bs_codec *codec, const void *bytes, size_t len,
                   struct bs_audit_row *row, char *errstr, size_t errstr_size)
{
    struct bs_faq_event e = {0};
    json_t *changes;
    int result;

    result = bs_faq_event_decode(codec, bytes, len, &e, errstr, errstr_size);
    if (result != BS_OK)
        return result;
    result = row_start(row, &e.meta, errstr, errstr_size);
    if (result == BS_OK && (!e.document_id || !*e.document_id))
        result = bs_fail(errstr, errstr_size, BS_EDECODE,
                         "faq event without document id");
    if (result != BS_OK)
        goto out;

    changes = json_object();
    if (changes) {
        json_object_set_new(changes, "version", json_integer(e.version));
        if (e.status)
            json_object_set_new(changes, "status", json_string(e.status));
        if (e.category)
            json_object_set_new(changes, "category", json_string(e.category));
    }
    row->actor_id = actor_or(&e.actor_id, BS_AUDIT_ACTOR_SYSTEM);
    row->action = strdup(faq_action(&e));
    row->entity_type = strdup("faq_document");
    take(&row->entity_id, &e.document_id);
    row->changes = dump_object(changes);
    if (!row->actor_id || !row->action || !row->entity_type || !row->changes)
        result = bs_fail(errstr, errstr_size, BS_ENOMEM, "out of memory");
out:
    bs_faq_event_clear(&e);
    return result;
}

/* Audit events are already audit entries: they keep their action and their
 * changes (made canonical), which their publisher keeps free of personal
 * data (the gateway puts changed field names there, not values). */
static int audit_row(const struct bs_codec *codec, const void *bytes,
                     size_t len, struct bs_audit_row *row, char *errstr,
                     size_t errstr_size)
{
    struct bs_audit_event e = {0};
    int result;

    result = bs_audit_event_decode(codec, bytes, len, &e, errstr, errstr_size);
    if (result != BS_OK)
        return result;
    result = row_start(row, &e.meta, errstr, errstr_size);
    if (result == BS_OK &&
        (!e.action || !*e.action || !e.entity_type || !*e.entity_type))
        result = bs_fail(errstr, errstr_size, BS_EDECODE,
                         "audit event without action or entity type");
    if (result == BS_OK && e.changes)
        result = bs_audit_canonical_json(e.changes, &row->changes, errstr,
                                         errstr_size);
    if (result != BS_OK)
        goto out;

    row->actor_id = actor_or(&e.actor_id, BS_AUDIT_ACTOR_SYSTEM);
    take(&row->action, &e.action);
    take(&row->entity_type, &e.entity_type);
    take(&row->entity_id, &e.entity_id);
    take(&row->request_id, &e.request_id);
    if (!row->actor_id)
        result = bs_fail(errstr, errstr_size, BS_ENOMEM, "out of memory");
out:
    bs_audit_event_clear(&e);
    return result;
}

/* The full name ("com.bestays.events.UserEvent") of the schema that wrote
 * the message, from the id in its Confluent framing; NULL when unknown. */
static const char *writer_name(const struct bs_codec *codec, const void *bytes,
                               size_t len, char *buf, size_t size)
{
    const unsigned char *b = bytes;
    avro_schema_t schema;
    int32_t id;

    if (len < BS_CODEC_HEADER_SIZE || b[0] != BS_CODEC_MAGIC)
        return NULL;
    id = (int32_t)((uint32_t)b[1] << 24 | (uint32_t)b[2] << 16 |
                   (uint32_t)b[3] << 8 | (uint32_t)b[4]);
    schema = bs_codec_schema(codec, id);
    if (!schema)
        return NULL;
    snprintf(buf, size, "%s.%s",
             avro_schema_namespace(schema) ? avro_schema_namespace(schema) : "",
             avro_schema_name(schema));
    return buf;
}

int bs_audit_row_from_message(const struct bs_codec *codec, const void *bytes,
                              size_t len, struct bs_audit_row *row,
                              char *errstr, size_t errstr_size)
{
    char name[256];
    const char *full = writer_name(codec, bytes, len, name, sizeof(name));
    int result;

    memset(row, 0, sizeof(*row));
    row->source_partition = -1;
    row->source_offset = -1;
    if (!full)
        return bs_fail(errstr, errstr_size, BS_EDECODE,
                       "not a framed event of a known schema");
    if (strcmp(full, BS_USER_EVENT_NAME) == 0)
        result = user_row(codec, bytes, len, row, errstr, errstr_size);
    else if (strcmp(full, BS_FAQ_EVENT_NAME) == 0)
        result = faq_row(codec, bytes, len, row, errstr, errstr_size);
    else if (strcmp(full, BS_AUDIT_EVENT_NAME) == 0)
        result = audit_row(codec, bytes, len, row, errstr, errstr_size);
    else
        result = bs_fail(errstr, errstr_size, BS_EDECODE,
                         "schema %s is not audited", full);
    if (result != BS_OK)
        bs_audit_row_clear(row);
    return result;
}

/* ---- the hash ------------------------------------------------------------ */

/* Every field is framed: a presence byte, then for bytes an 8-byte
 * big-endian length and the bytes, for integers 8 big-endian bytes. NULL
 * and "" therefore differ, and no field can run into the next. */
static int put_u64(EVP_MD_CTX *ctx, uint64_t value)
{
    unsigned char b[8];

    for (int i = 7; i >= 0; i--) {
        b[i] = (unsigned char)(value & 0xff);
        value >>= 8;
    }
    return EVP_DigestUpdate(ctx, b, sizeof(b));
}

static int put_bytes(EVP_MD_CTX *ctx, const void *data, size_t len)
{
    unsigned char present = data != NULL;

    if (!EVP_DigestUpdate(ctx, &present, 1))
        return 0;
    if (!data)
        return 1;
    return put_u64(ctx, len) && EVP_DigestUpdate(ctx, data, len);
}

static int put_text(EVP_MD_CTX *ctx, const char *text)
{
    return put_bytes(ctx, text, text ? strlen(text) : 0);
}

static int put_int(EVP_MD_CTX *ctx, bool present, int64_t value)
{
    unsigned char flag = present;

    if (!EVP_DigestUpdate(ctx, &flag, 1))
        return 0;
    return !present || put_u64(ctx, (uint64_t)value);
}

int bs_audit_row_hash(const struct bs_audit_row *row, int64_t chain_seq,
                      const unsigned char *prev_hash, unsigned char *out)
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    bool source = row->source_topic != NULL;
    unsigned int len = 0;
    int ok;

    ok = ctx && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) &&
         put_text(ctx, HASH_DOMAIN) && put_text(ctx, row->product) &&
         put_text(ctx, row->event_id) && put_text(ctx, row->actor_id) &&
         put_text(ctx, row->action) && put_text(ctx, row->entity_type) &&
         put_text(ctx, row->entity_id) && put_text(ctx, row->changes) &&
         put_text(ctx, row->request_id) &&
         put_int(ctx, true, row->occurred_at_us) &&
         put_text(ctx, row->source_topic) &&
         put_int(ctx, source, row->source_partition) &&
         put_int(ctx, source, row->source_offset) &&
         put_int(ctx, true, chain_seq) &&
         put_bytes(ctx, prev_hash, BS_AUDIT_HASH_SIZE) &&
         EVP_DigestFinal_ex(ctx, out, &len) && len == BS_AUDIT_HASH_SIZE;
    EVP_MD_CTX_free(ctx);
    return ok ? BS_OK : BS_ENOMEM;
}

static void to_hex(const unsigned char *bytes, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";

    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[bytes[i] >> 4];
        out[2 * i + 1] = digits[bytes[i] & 15];
    }
    out[2 * n] = '\0';
}

/* Hex text (exactly 2 * n digits) into bytes; false when it is not. */
static bool from_hex(const char *hex, unsigned char *out, size_t n)
{
    if (strlen(hex) != 2 * n)
        return false;
    for (size_t i = 0; i < 2 * n; i++) {
        char c = hex[i];
        int v = c >= '0' && c <= '9'   ? c - '0'
                : c >= 'a' && c <= 'f' ? c - 'a' + 10
                : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                       : -1;

        if (v < 0)
            return false;
        if (i % 2 == 0)
            out[i / 2] = (unsigned char)(v << 4);
        else
            out[i / 2] |= (unsigned char)v;
    }
    return true;
}

/* ---- appending ------------------------------------------------------------
 *
 * The rows found new under the head lock travel by COPY into a session
 * temporary table (the stage) and from there into audit_log with one
 * INSERT ... SELECT. COPY straight into audit_log is not possible: it has
 * row-level security, which COPY FROM refuses. The stage has neither RLS,
 * indexes nor WAL, so loading it costs little, and the INSERT keeps its
 * conflict clause and the row count check of before. The text COPY format
 * is cheaper for both sides than the JSON array this replaced (no JSON
 * built, dumped or parsed per row; see docs/audit.md, Figures).
 */

/* The third column says whether this session already has the stage. */
static const char head_lock_sql[] =
    "SELECT last_seq, encode(last_hash, 'hex'),"
    " to_regclass('pg_temp.bs_audit_stage') IS NOT NULL"
    " FROM audit_chain_heads WHERE product = $1 FOR UPDATE";

static const char head_create_sql[] =
    "INSERT INTO audit_chain_heads (product) VALUES ($1)"
    " ON CONFLICT (product) DO NOTHING";

/* $2 is a text[] literal of the call's event ids. One unique-index probe
 * per id, whatever the statistics say: the LIMIT keeps the planner from
 * turning this into a join that reads every row of the product (which it
 * does, for a growing table whose statistics lag behind). */
static const char existing_sql[] =
    "SELECT e.id FROM unnest($2::text[]) AS e(id)"
    " CROSS JOIN LATERAL (SELECT 1 FROM audit_log a"
    " WHERE a.product = $1 AND a.event_id = e.id LIMIT 1) AS found";

/* Created once per session (a rolled-back creation is redone next time).
 * ON COMMIT DELETE ROWS empties it at every commit of a transaction that
 * used it; within one transaction, earlier calls' rows stay and are told
 * apart by chain_seq (insert_sql takes only those past the locked head). */
static const char stage_create_sql[] =
    "CREATE TEMPORARY TABLE bs_audit_stage (event_id text, actor_id text,"
    " action text, entity_type text, entity_id text, changes text,"
    " request_id text, occurred_us bigint, source_topic text,"
    " source_partition integer, source_offset bigint, chain_seq bigint,"
    " prev_hash bytea, hash bytea) ON COMMIT DELETE ROWS";

static const char stage_copy_sql[] = "COPY pg_temp.bs_audit_stage FROM STDIN";

/* Ordered by chain_seq so that ids follow the chain. No conflict clause:
 * under the head lock the event ids are known to be new, and a plain
 * insert is about a quarter cheaper than ON CONFLICT's speculative one. A
 * row written past the lock with one of these event ids makes it fail on
 * audit_log_product_event_id_key, which db_failure() classifies as
 * transient (retrying re-reads what exists). */
static const char insert_sql[] =
    "INSERT INTO audit_log (product, event_id, actor_id, action, entity_type,"
    " entity_id, changes, request_id, occurred_at, source_topic,"
    " source_partition, source_offset, chain_seq, prev_hash, hash)"
    " SELECT $1, event_id, actor_id, action, entity_type, entity_id,"
    " changes::jsonb, request_id,"
    " 'epoch'::timestamptz + occurred_us * interval '1 microsecond',"
    " source_topic, source_partition, source_offset, chain_seq, prev_hash,"
    " hash FROM pg_temp.bs_audit_stage WHERE chain_seq > $2::bigint"
    " ORDER BY chain_seq";

static const char head_move_sql[] =
    "UPDATE audit_chain_heads SET last_seq = $2,"
    " last_hash = decode($3, 'hex'), updated_at = now() WHERE product = $1";

/* The chain's end as the locked head row says. */
struct chain_end {
    int64_t seq;
    bool has_hash;
    unsigned char hash[BS_AUDIT_HASH_SIZE];
};

/* A growing byte buffer; `failed` sticks after an allocation failure so
 * callers check once at the end. */
struct buf {
    char *data;
    size_t len, cap;
    bool failed;
};

static void buf_put(struct buf *b, const char *s, size_t n)
{
    if (b->failed)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        char *data;

        while (b->len + n + 1 > cap)
            cap *= 2;
        data = realloc(b->data, cap);
        if (!data) {
            b->failed = true;
            return;
        }
        b->data = data;
        b->cap = cap;
    }
    memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
}

static void buf_str(struct buf *b, const char *s)
{
    buf_put(b, s, strlen(s));
}

/* `text` as one COPY text-format field: \N for NULL; backslash, newline,
 * carriage return and tab escaped (they would end or misframe the field),
 * every other byte as it is. Unescaped runs go in one piece. */
static void buf_copy_text(struct buf *b, const char *text)
{
    const char *run = text;

    if (!text) {
        buf_str(b, "\\N");
        return;
    }
    for (const char *p = text; *p; p++) {
        const char *esc = *p == '\\'   ? "\\\\"
                          : *p == '\n' ? "\\n"
                          : *p == '\r' ? "\\r"
                          : *p == '\t' ? "\\t"
                                       : NULL;

        if (!esc)
            continue;
        buf_put(b, run, (size_t)(p - run));
        buf_str(b, esc);
        run = p + 1;
    }
    buf_str(b, run);
}

static void buf_int(struct buf *b, bool present, int64_t value)
{
    char digits[24];

    if (!present) {
        buf_str(b, "\\N");
        return;
    }
    snprintf(digits, sizeof(digits), "%" PRId64, value);
    buf_str(b, digits);
}

/* A hash as a bytea field: \x and hex, with the backslash doubled for
 * COPY's own escaping; \N for NULL. */
static void buf_hash(struct buf *b, const unsigned char *hash)
{
    char hex[2 * BS_AUDIT_HASH_SIZE + 1];

    if (!hash) {
        buf_str(b, "\\N");
        return;
    }
    to_hex(hash, BS_AUDIT_HASH_SIZE, hex);
    buf_str(b, "\\\\x");
    buf_str(b, hex);
}

/* One row of the stage, in its column order, as a COPY text line. */
static void buf_copy_row(struct buf *b, const struct bs_audit_row *row,
                         int64_t seq, const unsigned char *prev,
                         const unsigned char *hash)
{
    bool source = row->source_topic != NULL;

    buf_copy_text(b, row->event_id);
    buf_str(b, "\t");
    buf_copy_text(b, row->actor_id);
    buf_str(b, "\t");
    buf_copy_text(b, row->action);
    buf_str(b, "\t");
    buf_copy_text(b, row->entity_type);
    buf_str(b, "\t");
    buf_copy_text(b, row->entity_id);
    buf_str(b, "\t");
    buf_copy_text(b, row->changes);
    buf_str(b, "\t");
    buf_copy_text(b, row->request_id);
    buf_str(b, "\t");
    buf_int(b, true, row->occurred_at_us);
    buf_str(b, "\t");
    buf_copy_text(b, row->source_topic);
    buf_str(b, "\t");
    buf_int(b, source, row->source_partition);
    buf_str(b, "\t");
    buf_int(b, source, row->source_offset);
    buf_str(b, "\t");
    buf_int(b, true, seq);
    buf_str(b, "\t");
    buf_hash(b, prev);
    buf_str(b, "\t");
    buf_hash(b, hash);
    buf_str(b, "\n");
}

/* The unique key of (product, event_id) (migration 0002). */
#define EVENT_ID_KEY "audit_log_product_event_id_key"

/* Records a failed statement's error and what to do about it. */
static int db_failure(PGconn *conn, const PGresult *res,
                      enum bs_db_error_kind *kind, char *errstr,
                      size_t errstr_size)
{
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    const char *constraint =
        res ? PQresultErrorField(res, PG_DIAG_CONSTRAINT_NAME) : NULL;
    bool duplicate = state && strcmp(state, "23505") == 0;

    if (kind)
        *kind = bs_db_error_kind(conn, res);
    if (duplicate && constraint && strcmp(constraint, EVENT_ID_KEY) == 0) {
        /* An event id written past the lock (event ids are checked under
         * it): retrying re-reads what exists and skips it. */
        if (kind)
            *kind = BS_DB_ERROR_TRANSIENT;
        return bs_fail(errstr, errstr_size, BS_EDB,
                       "audit_log changed under the chain lock");
    }
    /* Any other duplicate key here is never one event's fault: it is a
     * chain_seq or head out of step, which dead-lettering events would
     * only make worse. */
    if (kind && duplicate)
        *kind = BS_DB_ERROR_FATAL;
    return bs_db_result_error(conn, res, errstr, errstr_size);
}

/* Runs one statement; on failure fills errstr and *kind. */
static int query(PGconn *conn, const char *sql, int n,
                 const char *const *params, PGresult **out,
                 enum bs_db_error_kind *kind, char *errstr, size_t errstr_size)
{
    PGresult *res = NULL;
    int result = bs_db_query(conn, sql, n, params, &res, errstr, errstr_size);

    if (result != BS_OK) {
        db_failure(conn, res, kind, errstr, errstr_size);
        PQclear(res);
        res = NULL;
    }
    if (out)
        *out = res;
    else
        PQclear(res);
    return result;
}

/* Locks the product's head row, creating it on first use; *staged says
 * whether the session has the stage table already. */
static int lock_head(PGconn *conn, const char *product, struct chain_end *end,
                     bool *staged, enum bs_db_error_kind *kind, char *errstr,
                     size_t errstr_size)
{
    const char *params[] = {product};
    PGresult *res = NULL;
    int result;

    for (int attempt = 0; attempt < 2; attempt++) {
        result = query(conn, head_lock_sql, 1, params, &res, kind, errstr,
                       errstr_size);
        if (result != BS_OK)
            return result;
        if (PQntuples(res) == 1)
            break;
        PQclear(res);
        res = NULL;
        result = query(conn, head_create_sql, 1, params, NULL, kind, errstr,
                       errstr_size);
        if (result != BS_OK)
            return result;
    }
    if (!res) {
        if (kind)
            *kind = BS_DB_ERROR_FATAL;
        return bs_fail(errstr, errstr_size, BS_EDB,
                       "audit chain head of %s not visible", product);
    }
    end->seq = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    end->has_hash = !PQgetisnull(res, 0, 1);
    *staged = strcmp(PQgetvalue(res, 0, 2), "t") == 0;
    if (end->has_hash &&
        !from_hex(PQgetvalue(res, 0, 1), end->hash, BS_AUDIT_HASH_SIZE)) {
        PQclear(res);
        /* Not the data of any one event: every append stops (and the
         * writer reports not ready) until an operator repairs the head. */
        if (kind)
            *kind = BS_DB_ERROR_FATAL;
        return bs_fail(errstr, errstr_size, BS_EDB,
                       "audit chain head of %s has a malformed hash", product);
    }
    PQclear(res);
    return BS_OK;
}

static int by_text(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The event ids as a PostgreSQL array literal: each element quoted, with
 * backslash and double quote escaped (so any id text is one element). */
static void buf_id_array(struct buf *b, const struct bs_audit_row *const *rows,
                         size_t n)
{
    buf_str(b, "{");
    for (size_t i = 0; i < n; i++) {
        const char *run = rows[i]->event_id;

        buf_str(b, i ? ",\"" : "\"");
        for (const char *p = run; *p; p++) {
            if (*p != '\\' && *p != '"')
                continue;
            buf_put(b, run, (size_t)(p - run));
            buf_str(b, "\\");
            run = p; /* the quoted character starts the next run */
        }
        buf_str(b, run);
        buf_str(b, "\"");
    }
    buf_str(b, "}");
}

/* Sorted copies (borrowed pointers) of the event ids audit_log already has
 * among rows[]; *count of them. */
static int find_existing(PGconn *conn, const char *product,
                         const struct bs_audit_row *const *rows, size_t n,
                         PGresult **res, const char ***ids, size_t *count,
                         enum bs_db_error_kind *kind, char *errstr,
                         size_t errstr_size)
{
    struct buf array = {0};
    const char *params[2] = {product, NULL};
    int result;

    buf_id_array(&array, rows, n);
    if (array.failed) {
        free(array.data);
        return bs_fail(errstr, errstr_size, BS_ENOMEM, "out of memory");
    }
    params[1] = array.data;
    result =
        query(conn, existing_sql, 2, params, res, kind, errstr, errstr_size);
    free(array.data);
    if (result != BS_OK)
        return result;
    *count = (size_t)PQntuples(*res);
    *ids = calloc(*count + 1, sizeof(**ids));
    if (!*ids)
        return bs_fail(errstr, errstr_size, BS_ENOMEM, "out of memory");
    for (size_t i = 0; i < *count; i++)
        (*ids)[i] = PQgetvalue(*res, (int)i, 0);
    qsort(*ids, *count, sizeof(**ids), by_text);
    return BS_OK;
}

/* Marks skip[i] for rows whose event id is in `existing` (sorted) or
 * repeats an earlier row of this call. */
static int mark_skips(const struct bs_audit_row *const *rows, size_t n,
                      const char **existing, size_t n_existing, bool *skip)
{
    size_t *order = malloc((n ? n : 1) * sizeof(*order));

    if (!order)
        return BS_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        const char *id = rows[i]->event_id;

        order[i] = i;
        skip[i] = bsearch(&id, existing, n_existing, sizeof(*existing),
                          by_text) != NULL;
    }
    /* Repeats within the call: after a stable sort by id, every row equal
     * to its predecessor is a later copy. Insertion sort keeps it simple;
     * batches are a few hundred rows and usually already distinct. */
    for (size_t i = 1; i < n; i++) {
        size_t cur = order[i], j = i;

        while (j > 0 &&
               strcmp(rows[order[j - 1]]->event_id, rows[cur]->event_id) > 0) {
            order[j] = order[j - 1];
            j--;
        }
        order[j] = cur;
    }
    for (size_t i = 1; i < n; i++)
        if (strcmp(rows[order[i - 1]]->event_id, rows[order[i]]->event_id) == 0)
            skip[order[i]] = true;
    free(order);
    return BS_OK;
}

/* Chains the rows not skipped onto `end` (which moves) as COPY lines. */
static int build_rows(const struct bs_audit_row *const *rows, size_t n,
                      const bool *skip, struct chain_end *end, struct buf *b,
                      size_t *count)
{
    *count = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char hash[BS_AUDIT_HASH_SIZE];
        const unsigned char *prev = end->has_hash ? end->hash : NULL;

        if (skip[i])
            continue;
        if (bs_audit_row_hash(rows[i], end->seq + 1, prev, hash) != BS_OK)
            return BS_ENOMEM;
        buf_copy_row(b, rows[i], end->seq + 1, prev, hash);
        end->seq++;
        end->has_hash = true;
        memcpy(end->hash, hash, sizeof(hash));
        (*count)++;
    }
    return b->failed ? BS_ENOMEM : BS_OK;
}

/* Loads the COPY lines into the stage (created first when the session has
 * none). */
static int stage_rows(PGconn *conn, bool staged, const struct buf *b,
                      enum bs_db_error_kind *kind, char *errstr,
                      size_t errstr_size)
{
    PGresult *res;
    int result = BS_OK;

    if (!staged && (result = query(conn, stage_create_sql, 0, NULL, NULL, kind,
                                   errstr, errstr_size)) != BS_OK)
        return result;
    res = PQexec(conn, stage_copy_sql);
    if (PQresultStatus(res) != PGRES_COPY_IN) {
        result = db_failure(conn, res, kind, errstr, errstr_size);
        PQclear(res);
        return result;
    }
    PQclear(res);
    /* PQputCopyData takes an int length: send large batches in pieces. */
    for (size_t off = 0; off < b->len && result == BS_OK;) {
        size_t piece = b->len - off < (1u << 20) ? b->len - off : (1u << 20);

        if (PQputCopyData(conn, b->data + off, (int)piece) != 1)
            result = BS_EDB;
        off += piece;
    }
    if (PQputCopyEnd(conn, result == BS_OK ? NULL : "client failed") != 1)
        result = BS_EDB;
    if (result != BS_OK) {
        /* The connection failed: nothing else to learn from it. */
        db_failure(conn, NULL, kind, errstr, errstr_size);
        result = BS_EDB;
    }
    while ((res = PQgetResult(conn)) != NULL) {
        if (PQresultStatus(res) != PGRES_COMMAND_OK && result == BS_OK)
            result = db_failure(conn, res, kind, errstr, errstr_size);
        PQclear(res);
    }
    return result;
}

/* Moves the staged rows past `from` into audit_log and the head to `end`. */
static int write_rows(PGconn *conn, const char *product, int64_t from,
                      size_t count, const struct chain_end *end,
                      enum bs_db_error_kind *kind, char *errstr,
                      size_t errstr_size)
{
    char seq[24], hex[2 * BS_AUDIT_HASH_SIZE + 1];
    const char *params[3] = {product, seq, NULL};
    PGresult *res = NULL;
    int result;

    snprintf(seq, sizeof(seq), "%" PRId64, from);
    result =
        query(conn, insert_sql, 2, params, &res, kind, errstr, errstr_size);
    if (result != BS_OK)
        return result;
    if (strtoull(PQcmdTuples(res), NULL, 10) != count) {
        PQclear(res);
        /* A row written past the lock: retrying re-reads what exists. */
        if (kind)
            *kind = BS_DB_ERROR_TRANSIENT;
        return bs_fail(errstr, errstr_size, BS_EDB,
                       "audit_log changed under the chain lock of %s", product);
    }
    PQclear(res);
    snprintf(seq, sizeof(seq), "%" PRId64, end->seq);
    to_hex(end->hash, BS_AUDIT_HASH_SIZE, hex);
    params[2] = hex;
    return query(conn, head_move_sql, 3, params, NULL, kind, errstr,
                 errstr_size);
}

int bs_audit_append(PGconn *conn, const char *product,
                    const struct bs_audit_row *const *rows, size_t n,
                    size_t *appended, enum bs_db_error_kind *kind, char *errstr,
                    size_t errstr_size)
{
    struct chain_end end;
    PGresult *existing = NULL;
    const char **ids = NULL;
    size_t n_ids = 0, count = 0;
    bool *skip = NULL, staged = false;
    struct buf lines = {0};
    int64_t from;
    int result;

    if (appended)
        *appended = 0;
    if (kind)
        *kind = BS_DB_ERROR_NONE;
    for (size_t i = 0; i < n; i++)
        if (!rows[i]->product || strcmp(rows[i]->product, product) != 0 ||
            !rows[i]->event_id) {
            if (kind)
                *kind = BS_DB_ERROR_FATAL;
            return bs_fail(errstr, errstr_size, BS_EINVAL,
                           "an audit row of another product or without an "
                           "event id");
        }
    if (n == 0)
        return BS_OK;

    result = lock_head(conn, product, &end, &staged, kind, errstr, errstr_size);
    if (result == BS_OK)
        result = find_existing(conn, product, rows, n, &existing, &ids, &n_ids,
                               kind, errstr, errstr_size);
    if (result != BS_OK)
        goto out;
    from = end.seq;
    skip = calloc(n, sizeof(*skip));
    if (!skip || mark_skips(rows, n, ids, n_ids, skip) != BS_OK ||
        build_rows(rows, n, skip, &end, &lines, &count) != BS_OK) {
        result = bs_fail(errstr, errstr_size, BS_ENOMEM, "out of memory");
        if (kind)
            *kind = BS_DB_ERROR_TRANSIENT;
        goto out;
    }
    if (count > 0)
        result = stage_rows(conn, staged, &lines, kind, errstr, errstr_size);
    if (count > 0 && result == BS_OK)
        result = write_rows(conn, product, from, count, &end, kind, errstr,
                            errstr_size);
    if (result == BS_OK && appended)
        *appended = count;
out:
    free(lines.data);
    free(skip);
    free(ids);
    PQclear(existing);
    return result;
}

/* ---- verifying ------------------------------------------------------------
 */

/* Columns in this order; hashes and times as text that C can read back
 * exactly (occurred_at in whole microseconds since the epoch). */
static const char walk_sql[] =
    "SELECT id, chain_seq, product, event_id, actor_id, action, entity_type,"
    " entity_id, changes::text, request_id,"
    " (extract(epoch FROM occurred_at) * 1000000)::bigint, source_topic,"
    " source_partition, source_offset, encode(prev_hash, 'hex'),"
    " encode(hash, 'hex')"
    " FROM audit_log WHERE product = $1 AND chain_seq IS NOT NULL"
    " ORDER BY chain_seq";

static const char unchained_sql[] =
    "SELECT id, event_id FROM audit_log"
    " WHERE product = $1 AND chain_seq IS NULL ORDER BY id LIMIT 1";

static const char head_sql[] =
    "SELECT last_seq, encode(last_hash, 'hex') FROM audit_chain_heads"
    " WHERE product = $1";

static const char *value_or_null(const PGresult *res, int col)
{
    return PQgetisnull(res, 0, col) ? NULL : PQgetvalue(res, 0, col);
}

/* The row as stored, for hashing (strings borrowed from res, except the
 * canonical changes, which the caller frees). */
static bool stored_row(const PGresult *res, struct bs_audit_row *row)
{
    const char *changes = value_or_null(res, 8);

    memset(row, 0, sizeof(*row));
    row->product = (char *)value_or_null(res, 2);
    row->event_id = (char *)value_or_null(res, 3);
    row->actor_id = (char *)value_or_null(res, 4);
    row->action = (char *)value_or_null(res, 5);
    row->entity_type = (char *)value_or_null(res, 6);
    row->entity_id = (char *)value_or_null(res, 7);
    row->request_id = (char *)value_or_null(res, 9);
    row->occurred_at_us = strtoll(PQgetvalue(res, 0, 10), NULL, 10);
    row->source_topic = (char *)value_or_null(res, 11);
    row->source_partition =
        row->source_topic ? (int32_t)strtol(PQgetvalue(res, 0, 12), NULL, 10)
                          : -1;
    row->source_offset =
        row->source_topic ? strtoll(PQgetvalue(res, 0, 13), NULL, 10) : -1;
    if (changes &&
        bs_audit_canonical_json(changes, &row->changes, NULL, 0) != BS_OK)
        return false;
    return true;
}

static void fault(struct bs_audit_verify_result *r, const PGresult *res,
                  const char *reason)
{
    r->intact = false;
    r->bad_id = res ? strtoll(PQgetvalue(res, 0, 0), NULL, 10) : -1;
    r->bad_seq = res ? strtoll(PQgetvalue(res, 0, 1), NULL, 10) : -1;
    snprintf(r->bad_event_id, sizeof(r->bad_event_id), "%s",
             res && !PQgetisnull(res, 0, 3) ? PQgetvalue(res, 0, 3) : "");
    snprintf(r->reason, sizeof(r->reason), "%s", reason);
}

/* Checks one row against the chain so far (`end`, which moves on).
 * False (with the fault recorded) when it does not match. */
static bool check_row(const PGresult *res, struct chain_end *end,
                      struct bs_audit_verify_result *r)
{
    unsigned char prev[BS_AUDIT_HASH_SIZE], stored[BS_AUDIT_HASH_SIZE];
    unsigned char computed[BS_AUDIT_HASH_SIZE];
    int64_t seq = strtoll(PQgetvalue(res, 0, 1), NULL, 10);
    bool has_prev = !PQgetisnull(res, 0, 14);
    struct bs_audit_row row;
    bool ok;

    if (seq != end->seq + 1) {
        fault(r, res,
              "chain_seq is not the next one: a row before it is "
              "missing (deleted)");
        return false;
    }
    if (has_prev != end->has_hash ||
        (has_prev && (!from_hex(PQgetvalue(res, 0, 14), prev, sizeof(prev)) ||
                      memcmp(prev, end->hash, sizeof(prev)) != 0))) {
        fault(r, res,
              "prev_hash is not the previous row's hash: the row "
              "before it was changed or removed");
        return false;
    }
    if (PQgetisnull(res, 0, 15) ||
        !from_hex(PQgetvalue(res, 0, 15), stored, sizeof(stored))) {
        fault(r, res, "hash is missing or malformed");
        return false;
    }
    ok =
        stored_row(res, &row) &&
        bs_audit_row_hash(&row, seq, has_prev ? prev : NULL, computed) == BS_OK;
    free(row.changes);
    if (!ok || memcmp(computed, stored, sizeof(stored)) != 0) {
        fault(r, res, "content does not match its hash: the row was altered");
        return false;
    }
    end->seq = seq;
    end->has_hash = true;
    memcpy(end->hash, stored, sizeof(stored));
    r->rows++;
    return true;
}

/* Walks the chain row by row (single-row mode: memory stays flat however
 * long the chain is). */
static int walk(PGconn *conn, const char *product, struct chain_end *end,
                struct bs_audit_verify_result *r, char *errstr,
                size_t errstr_size)
{
    const char *params[] = {product};
    PGresult *res;
    bool checking = true;
    int result = BS_OK;

    if (!PQsendQueryParams(conn, walk_sql, 1, NULL, params, NULL, NULL, 0) ||
        !PQsetSingleRowMode(conn))
        return bs_db_result_error(conn, NULL, errstr, errstr_size);
    while ((res = PQgetResult(conn)) != NULL) {
        ExecStatusType status = PQresultStatus(res);

        if (status == PGRES_SINGLE_TUPLE && checking)
            checking = check_row(res, end, r);
        else if (status != PGRES_SINGLE_TUPLE && status != PGRES_TUPLES_OK &&
                 result == BS_OK)
            result = bs_db_result_error(conn, res, errstr, errstr_size);
        PQclear(res);
    }
    return result;
}

/* After the walk: the head names the last row, and every row is chained. */
static int check_ends(PGconn *conn, const char *product,
                      const struct chain_end *end,
                      struct bs_audit_verify_result *r, char *errstr,
                      size_t errstr_size)
{
    const char *params[] = {product};
    unsigned char head_hash[BS_AUDIT_HASH_SIZE];
    PGresult *res = NULL;
    int result;

    result =
        bs_db_query(conn, unchained_sql, 1, params, &res, errstr, errstr_size);
    if (result == BS_OK && PQntuples(res) == 1) {
        r->intact = false;
        r->bad_id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
        r->bad_seq = -1;
        snprintf(r->bad_event_id, sizeof(r->bad_event_id), "%s",
                 PQgetisnull(res, 0, 1) ? "" : PQgetvalue(res, 0, 1));
        snprintf(r->reason, sizeof(r->reason),
                 "row is not in the chain (no chain_seq)");
    }
    PQclear(res);
    if (result != BS_OK || !r->intact)
        return result;

    res = NULL;
    result = bs_db_query(conn, head_sql, 1, params, &res, errstr, errstr_size);
    if (result == BS_OK) {
        bool head_ok;

        if (PQntuples(res) == 0)
            head_ok = end->seq == 0;
        else
            head_ok = strtoll(PQgetvalue(res, 0, 0), NULL, 10) == end->seq &&
                      (end->seq == 0 ||
                       (!PQgetisnull(res, 0, 1) &&
                        from_hex(PQgetvalue(res, 0, 1), head_hash,
                                 sizeof(head_hash)) &&
                        memcmp(head_hash, end->hash, sizeof(head_hash)) == 0));
        if (!head_ok) {
            fault(r, NULL,
                  "the chain head does not name the last row: rows "
                  "at the end were removed, or the head was altered");
            r->bad_seq = end->seq + 1;
        }
    }
    PQclear(res);
    return result;
}

int bs_audit_verify(PGconn *conn, const char *product,
                    struct bs_audit_verify_result *r, char *errstr,
                    size_t errstr_size)
{
    struct chain_end end = {0};
    int result;

    memset(r, 0, sizeof(*r));
    r->intact = true;
    r->bad_id = -1;
    r->bad_seq = -1;
    result = walk(conn, product, &end, r, errstr, errstr_size);
    if (result == BS_OK && r->intact)
        result = check_ends(conn, product, &end, r, errstr, errstr_size);
    return result;
}
