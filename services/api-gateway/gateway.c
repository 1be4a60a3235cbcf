/*
 * gateway.c - what every api-gateway handler does the same way.
 *
 * Identity: the Clerk session token (Authorization: Bearer, else the
 * __session cookie) is verified against this product's key; a token that
 * does not verify is 401 with WWW-Authenticate. The caller is then the
 * non-deleted user row with the token's `sub` in this product, read inside
 * a transaction with app.product set, so row-level security answers "not
 * in this product" exactly like "does not exist": 403. Lookups of
 * concurrent requests share one such transaction (gw_caller_batch.h).
 *
 * Caller cache: a row found is kept for CALLER_CACHE_MS (gw_caller_cache.h),
 * and reads authenticate from it, so a request whose caller is cached runs
 * no statement for its identity, and /users/me (or /users/{own id}) runs
 * none at all. The price is staleness bounded by the TTL: a role change or
 * a deletion reaches reads within CALLER_CACHE_MS. Writes
 * (gw_call_begin_fresh()) always read the row. Failed lookups are never
 * cached, and neither is "not a user of this product" (403): it is rare
 * (a deleted user, or one the projector has not written yet), and caching
 * it would only keep a user who just signed up locked out for the TTL.
 * The request's connection is taken from the pool on first use, so a
 * cached caller needs none for the identity.
 *
 * Statements: each one runs in its own transaction with app.product set
 * (SET LOCAL semantics), sent as one libpq pipeline (BEGIN, set_config, the
 * statement, COMMIT) by bs_db_run_in_product(): one round trip. Reads need
 * no more: under READ COMMITTED every statement takes its own snapshot
 * anyway, so one transaction per statement sees what one per request did.
 *
 * Publishing: events are encoded with the builtin codec and sent with
 * bs_publisher_send_sync(); a handler answers 2xx only after BS_OK.
 * Errors: 500 only for the server's own faults, logged with the request id;
 * 503 + Retry-After when PostgreSQL or the broker is unavailable.
 *
 * Never logged: tokens, e-mail addresses, bodies.
 */
#include "gateway.h"

#include "bs/db.h"
#include "bs/error.h"
#include "bs/events.h"
#include "bs/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define RETRY_AFTER_SECONDS "5"

int gw_init(struct gateway *gw, const char *product, struct bs_metrics *metrics)
{
    snprintf(gw->product, sizeof(gw->product), "%s", product);
    if (bs_product_topic(product, "faq", gw->faq_topic,
                         sizeof(gw->faq_topic)) != BS_OK ||
        bs_product_topic(product, "audit", gw->audit_topic,
                         sizeof(gw->audit_topic)) != BS_OK)
        return BS_EINVAL;
    gw->auth_failures = bs_metrics_counter(
        metrics, "bs_gateway_auth_failures_total",
        "Requests refused by authentication, by reason.", BS_LABELS("reason"));
    gw->events = bs_metrics_counter(metrics, "bs_gateway_events_total",
                                    "Events published by the gateway.",
                                    BS_LABELS("topic", "result"));
    return BS_OK;
}

/* ---- CORS ---------------------------------------------------------------- */

int gw_cors_parse(struct gateway *gw, const char *origins)
{
    char *copy = strdup(origins ? origins : "");
    char *save = NULL;
    size_t count = 0;
    int result = BS_ENOMEM;

    if (!copy)
        return BS_ENOMEM;
    gw->cors_origins = calloc(strlen(copy) / 2 + 2, sizeof(char *));
    if (!gw->cors_origins)
        goto out;
    for (char *tok = strtok_r(copy, ", ", &save); tok;
         tok = strtok_r(NULL, ", ", &save)) {
        gw->cors_origins[count] = strdup(tok);
        if (!gw->cors_origins[count++])
            goto out;
    }
    result = BS_OK;

out:
    free(copy);
    return result;
}

void gw_cors_free(struct gateway *gw)
{
    for (size_t i = 0; gw->cors_origins && gw->cors_origins[i]; i++)
        free(gw->cors_origins[i]);
    free(gw->cors_origins);
    gw->cors_origins = NULL;
}

/* The request's Origin when it is one of the allowed ones, else NULL. */
static const char *allowed_origin(const struct bs_http_request *req)
{
    const struct gateway *gw = req->ctx;
    const char *origin = bs_http_request_header(req, "Origin");

    for (size_t i = 0; origin && gw->cors_origins && gw->cors_origins[i]; i++) {
        if (strcmp(origin, gw->cors_origins[i]) == 0)
            return origin;
    }
    return NULL;
}

void gw_cors_apply(struct bs_http_request *req)
{
    const char *origin = allowed_origin(req);

    if (!origin)
        return;
    bs_http_response_header(req, "Access-Control-Allow-Origin", origin);
    bs_http_response_header(req, "Access-Control-Expose-Headers",
                            "Location, X-Product, X-Request-Id, Retry-After");
    bs_http_response_header(req, "Vary", "Origin");
}

void gw_handle_preflight(struct bs_http_request *req)
{
    const char *origin = allowed_origin(req);

    if (origin &&
        bs_http_request_header(req, "Access-Control-Request-Method")) {
        gw_cors_apply(req);
        bs_http_response_header(req, "Access-Control-Allow-Methods",
                                "GET, POST, PATCH, DELETE, OPTIONS");
        bs_http_response_header(req, "Access-Control-Allow-Headers",
                                "Authorization, Content-Type, If-Match, "
                                "X-Request-Id");
        bs_http_response_header(req, "Access-Control-Max-Age", "600");
    }
    bs_http_response_header(req, "Allow", "GET, POST, PATCH, DELETE, OPTIONS");
    bs_http_respond(req, 204, "text/plain", "", 0);
}

/* ---- answers --------------------------------------------------------------
 */

void gw_respond_unavailable(struct bs_http_request *req)
{
    gw_cors_apply(req);
    bs_http_response_header(req, "Retry-After", RETRY_AFTER_SECONDS);
    bs_http_respond_error(req, 503, "unavailable",
                          "a dependency is unavailable; retry later");
}

void gw_respond_internal(struct bs_http_request *req, const char *what)
{
    bs_log_error("internal_error what=\"%s\" route=%s request_id=%s", what,
                 req->route, req->request_id);
    gw_cors_apply(req);
    bs_http_respond_error(req, 500, "internal_error",
                          "the server failed; the request id is logged");
}

void gw_respond_json(struct bs_http_request *req, unsigned status, json_t *body)
{
    if (!body) {
        gw_respond_internal(req, "out of memory");
        return;
    }
    gw_cors_apply(req);
    bs_http_respond_json(req, status, body);
    json_decref(body);
}

/* ---- identity --------------------------------------------------------------
 */

static void refuse_token(struct bs_http_request *req, const char *reason)
{
    struct gateway *gw = req->ctx;

    bs_metric_inc(gw->auth_failures, BS_LABELS(reason));
    bs_log_info("auth_refused reason=%s request_id=%s", reason,
                req->request_id);
    gw_cors_apply(req);
    bs_http_response_header(req, "WWW-Authenticate",
                            "Bearer error=\"invalid_token\"");
    bs_http_respond_error(req, 401, "unauthenticated",
                          "a valid session token of this product is required");
}

/* The token's subject; false after answering 401 (or 500). */
static bool verify_token(struct bs_http_request *req,
                         struct clerk_jwt_identity *identity)
{
    struct gateway *gw = req->ctx;
    const char *token = NULL;
    size_t token_len = 0;
    enum clerk_jwt_result result;
    int64_t now;

    if (!clerk_jwt_token_from_headers(
            bs_http_request_header(req, "Authorization"),
            bs_http_request_header(req, "Cookie"), &token, &token_len)) {
        refuse_token(req, "missing_token");
        return false;
    }
    now = (int64_t)time(NULL);
    if (gw_token_cache_get(&gw->tokens, token, token_len, now, identity))
        return true;
    result = clerk_jwt_verify(gw->verifier, token, token_len, now, identity);
    if (result == CLERK_JWT_INTERNAL) {
        gw_respond_internal(req, "token verification out of memory");
        return false;
    }
    if (result != CLERK_JWT_OK) {
        refuse_token(req, clerk_jwt_result_name(result));
        return false;
    }
    gw_token_cache_put(&gw->tokens, token, token_len, identity);
    return true;
}

/* Takes the request's pooled connection unless it has one; false after
 * answering 503. */
static bool call_connect(struct gw_call *call)
{
    char errstr[256];

    if (call->conn)
        return true;
    call->conn = gw_pool_acquire(&call->gw->pool, errstr, sizeof(errstr));
    if (call->conn)
        return true;
    bs_log_warn("db_unavailable reason=\"%s\" request_id=%s", errstr,
                call->req->request_id);
    gw_respond_unavailable(call->req);
    return false;
}

/* gw_call_query() for a statement that may be prepared. */
static PGresult *gw_call_run(struct gw_call *call,
                             const struct bs_db_statement *stmt)
{
    enum bs_db_error_kind kind;
    PGresult *res = NULL;
    char errstr[256];

    if (!call_connect(call))
        return NULL;
    /* BEGIN, app.product, the statement, COMMIT: one round trip. */
    if (bs_db_run_in_product(call->conn, call->gw->product, stmt, 1, &res,
                             &kind, errstr, sizeof(errstr)) == BS_OK)
        return res;

    /* Unreachable is 503; anything else is our fault. */
    if (kind == BS_DB_ERROR_TRANSIENT) {
        bs_log_warn("db_query_failed reason=\"%s\" request_id=%s", errstr,
                    call->req->request_id);
        gw_respond_unavailable(call->req);
    } else {
        bs_log_error("db_query_failed reason=\"%s\" request_id=%s", errstr,
                     call->req->request_id);
        gw_respond_internal(call->req, "database query failed");
    }
    return NULL;
}

int gw_prepare_statements(PGconn *conn, char *errstr, size_t errstr_size)
{
    int result = bs_db_prepare_product(conn, errstr, errstr_size);

    if (result == BS_OK)
        result = gw_caller_batch_prepare(conn, errstr, errstr_size);
    return result;
}

/* Answers a failed caller lookup like a failed statement: 503 when
 * PostgreSQL is unavailable, else 500. */
static void respond_lookup_error(struct gw_call *call,
                                 const struct gw_caller_row *row)
{
    if (row->kind == BS_DB_ERROR_TRANSIENT) {
        bs_log_warn("db_query_failed reason=\"%s\" request_id=%s", row->errstr,
                    call->req->request_id);
        gw_respond_unavailable(call->req);
    } else {
        bs_log_error("db_query_failed reason=\"%s\" request_id=%s", row->errstr,
                     call->req->request_id);
        gw_respond_internal(call->req, "database query failed");
    }
}

/*
 * The caller's row in this product: from the cache when `cached` and it
 * has a fresh entry, else looked up (batched with other requests' lookups,
 * gw_caller_batch.h) and remembered. False after answering.
 */
static bool load_caller(struct gw_call *call, bool cached)
{
    struct gw_caller_cache *cache = &call->gw->caller_cache;
    struct gw_caller_row row;
    int64_t started = gw_caller_cache_now_ms();

    if (cached && gw_caller_cache_get(cache, call->user_id, started, call->role,
                                      &call->self_json))
        return true;
    if (!call_connect(call))
        return false;
    gw_caller_lookup(&call->gw->callers, call->conn, call->user_id, &row);
    if (row.found == GW_CALLER_ERROR) {
        respond_lookup_error(call, &row);
        return false;
    }
    if (row.found == GW_CALLER_FOUND) {
        /* Expires TTL after `started`: before the lookup's snapshot. */
        gw_caller_cache_put(cache, call->user_id, row.role, row.json, started);
        snprintf(call->role, sizeof(call->role), "%s", row.role);
        call->self_json = row.json;
        return true;
    }
    gw_caller_cache_forget(cache, call->user_id, started);
    bs_metric_inc(call->gw->auth_failures, BS_LABELS("unknown_user"));
    gw_cors_apply(call->req);
    bs_http_respond_error(call->req, 403, "forbidden",
                          "the signed-in user is not a user of this product");
    return false;
}

/* True when the request carries a session token (header or cookie). */
static bool has_token(const struct bs_http_request *req)
{
    const char *token = NULL;
    size_t token_len = 0;

    return clerk_jwt_token_from_headers(
               bs_http_request_header(req, "Authorization"),
               bs_http_request_header(req, "Cookie"), &token, &token_len) ||
           bs_http_request_header(req, "Authorization");
}

bool gw_call_begin_public(struct bs_http_request *req, struct gw_call *call)
{
    struct gateway *gw = req->ctx;
    struct clerk_jwt_identity identity;
    char errstr[256];

    memset(call, 0, sizeof(*call));
    call->gw = gw;
    call->req = req;

    /* Anonymous is fine; a token that is there must be valid. */
    if (has_token(req)) {
        if (!verify_token(req, &identity))
            return false;
        snprintf(call->user_id, sizeof(call->user_id), "%s", identity.sub);
    }
    call->conn = gw_pool_acquire(&gw->pool, errstr, sizeof(errstr));
    if (!call->conn) {
        bs_log_warn("db_unavailable reason=\"%s\" request_id=%s", errstr,
                    req->request_id);
        gw_respond_unavailable(req);
        return false;
    }
    return true;
}

/* The token, then the caller's row (cached or not). */
static bool call_begin(struct bs_http_request *req, struct gw_call *call,
                       bool cached)
{
    struct clerk_jwt_identity identity;

    memset(call, 0, sizeof(*call));
    call->gw = req->ctx;
    call->req = req;
    if (!verify_token(req, &identity))
        return false;
    snprintf(call->user_id, sizeof(call->user_id), "%s", identity.sub);
    if (load_caller(call, cached))
        return true;
    gw_call_end(call);
    return false;
}

bool gw_call_begin(struct bs_http_request *req, struct gw_call *call)
{
    return call_begin(req, call, true);
}

bool gw_call_begin_fresh(struct bs_http_request *req, struct gw_call *call)
{
    return call_begin(req, call, false);
}

void gw_call_end(struct gw_call *call)
{
    free(call->self_json);
    call->self_json = NULL;
    if (!call->conn)
        return;
    gw_pool_release(&call->gw->pool, call->conn);
    call->conn = NULL;
}

bool gw_call_is(const struct gw_call *call, const char *role)
{
    return strcmp(call->role, "admin") == 0 || strcmp(call->role, role) == 0;
}

bool gw_call_require_admin(struct gw_call *call)
{
    if (strcmp(call->role, "admin") == 0)
        return true;
    gw_cors_apply(call->req);
    bs_http_respond_error(call->req, 403, "forbidden",
                          "this action needs the admin role");
    return false;
}

PGresult *gw_call_query(struct gw_call *call, const char *sql, int nparams,
                        const char *const *params)
{
    const struct bs_db_statement stmt = {
        .sql = sql, .nparams = nparams, .params = params, .prepared = NULL};

    return gw_call_run(call, &stmt);
}

/* ---- publishing ------------------------------------------------------------
 */

int gw_publish(struct gw_call *call, const char *topic, const char *key,
               const unsigned char *value, size_t len)
{
    struct gateway *gw = call->gw;
    char errstr[256];
    int result;

    result = bs_publisher_send_sync(gw->publisher, topic, key, strlen(key),
                                    value, len, NULL, 0, gw->publish_timeout_ms,
                                    errstr, sizeof(errstr));
    bs_metric_inc(gw->events,
                  BS_LABELS(topic, result == BS_OK ? "acked" : "failed"));
    if (result != BS_OK)
        bs_log_warn("publish_failed topic=%s reason=\"%s\" request_id=%s",
                    topic, errstr, call->req->request_id);
    return result;
}

static int64_t now_ms(void)
{
    struct timespec now;

    clock_gettime(CLOCK_REALTIME, &now);
    return (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

int gw_publish_audit(struct gw_call *call, const char *action,
                     const char *entity_type, const char *entity_id,
                     const char *changes)
{
    char event_id[GW_UUID_SIZE], errstr[256];
    struct bs_audit_event event = {0};
    unsigned char *value = NULL;
    size_t len = 0;
    int result;

    result = gw_uuid_v7_now(event_id);
    if (result != BS_OK)
        return result;
    event.meta.event_id = event_id;
    event.meta.product = call->gw->product;
    event.meta.occurred_at = now_ms();
    event.meta.source = GW_SERVICE;
    event.actor_id = call->user_id;
    event.action = (char *)action;
    event.entity_type = (char *)entity_type;
    event.entity_id = (char *)entity_id;
    event.changes = (char *)changes;
    event.request_id = (char *)call->req->request_id;

    result = bs_audit_event_encode(call->gw->codec, &event, &value, &len,
                                   errstr, sizeof(errstr));
    if (result != BS_OK) {
        bs_log_error("audit_encode_failed reason=\"%s\"", errstr);
        return result;
    }
    result = gw_publish(call, call->gw->audit_topic, entity_id, value, len);
    free(value);
    return result;
}

/* ---- health ----------------------------------------------------------------
 */

void gw_handle_health(struct bs_http_request *req)
{
    struct gateway *gw = req->ctx;

    gw_respond_json(
        req, 200,
        json_pack("{s:s, s:s}", "status", "ok", "product", gw->product));
}

bool gw_ready(void *ctx, json_t *not_ready)
{
    struct gateway *gw = ctx;
    char errstr[256];
    PGconn *conn = gw_pool_acquire(&gw->pool, errstr, sizeof(errstr));
    bool ready = true;

    if (!conn ||
        bs_db_exec(conn, "SELECT 1", errstr, sizeof(errstr)) != BS_OK) {
        json_object_set_new(not_ready, "postgresql",
                            json_string("unreachable"));
        ready = false;
    }
    if (conn)
        gw_pool_release(&gw->pool, conn);
    if (!bs_publisher_ready(gw->publisher)) {
        json_object_set_new(not_ready, "broker", json_string("unreachable"));
        ready = false;
    }
    return ready;
}

/* ---- pages ------------------------------------------------------------------
 */

bool gw_page_params(struct bs_http_request *req, bool uuid_keys,
                    unsigned *limit, char key[GW_KEY_MAX])
{
    const char *cursor = bs_http_request_query(req, "cursor");
    char uuid[GW_UUID_SIZE];

    key[0] = '\0';
    if (gw_limit_parse(bs_http_request_query(req, "limit"), limit) != BS_OK) {
        gw_cors_apply(req);
        bs_http_respond_error(req, 400, "invalid_limit",
                              "limit must be a whole number from 1 to 100");
        return false;
    }
    if (!cursor)
        return true;
    if (gw_cursor_decode(cursor, key, GW_KEY_MAX) != BS_OK ||
        (uuid_keys ? !gw_uuid_parse(key, uuid) : !gw_clerk_id_valid(key))) {
        key[0] = '\0';
        gw_cors_apply(req);
        bs_http_respond_error(req, 400, "invalid_cursor",
                              "cursor is not one this API returned");
        return false;
    }
    return true;
}

json_t *gw_row_json(const PGresult *res, int row)
{
    return json_loads(PQgetvalue(res, row, 0), 0, NULL);
}

json_t *gw_page_json(const PGresult *res, unsigned limit, size_t *count)
{
    int rows = PQntuples(res);
    int shown = rows > (int)limit ? (int)limit : rows;
    json_t *items = json_array();
    char cursor[GW_CURSOR_MAX];

    *count = 0;
    for (int i = 0; items && i < shown; i++) {
        json_t *item = gw_row_json(res, i);

        if (!item || json_array_append_new(items, item) != 0) {
            json_decref(items);
            return NULL;
        }
    }
    *count = (size_t)shown;

    /* A row beyond the limit means there is a next page. */
    if (rows > (int)limit && gw_cursor_encode(PQgetvalue(res, shown - 1, 1),
                                              cursor, sizeof(cursor)) == BS_OK)
        return json_pack("{s:o, s:s}", "items", items, "next_cursor", cursor);
    return json_pack("{s:o, s:n}", "items", items, "next_cursor");
}
