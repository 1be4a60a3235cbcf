/*
 * gateway.h - what api-gateway's handlers share, and the handlers.
 *
 * main.c builds one struct gateway at start-up and hands it to the HTTP
 * layer as the routes' context; afterwards it is only read (the pool, the
 * publisher, the verifier and the metrics are thread-safe).
 *
 * A handler's life: gw_call_begin() authenticates the caller (Clerk session
 * token, then the caller's user row in this product, inside a transaction
 * with app.product set, shared with concurrent requests' lookups: see
 * gw_caller_batch.h, or from the short-lived caller cache:
 * gw_caller_cache.h); the handler reads with gw_call_query() (each
 * statement its own product transaction, one pipelined round trip; the
 * request's pooled connection is taken on first use, so a request served
 * from the caller cache touches no connection at all), publishes what it
 * must, answers, and gw_call_end() returns the connection.
 */
#ifndef GATEWAY_H
#define GATEWAY_H

#include "clerk_jwt.h"
#include "faq_index.h"
#include "gw_caller_batch.h"
#include "gw_caller_cache.h"
#include "gw_ids.h"
#include "gw_page.h"
#include "gw_text.h"
#include "gw_token_cache.h"

#include "bs/codec.h"
#include "bs/config.h"
#include "bs/embedder.h"
#include "bs/http.h"
#include "bs/metrics.h"
#include "bs/product.h"
#include "bs/publisher.h"

#include <libpq-fe.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

#define GW_SERVICE   "api-gateway"
#define GW_TOPIC_MAX (BS_PRODUCT_MAX + 16)
#define GW_ROLE_MAX  GW_CALLER_ROLE_MAX

/* A fixed set of PostgreSQL connections, made on first use, one per
 * request at a time. */
struct gw_pool {
    pthread_mutex_t lock;
    pthread_cond_t available;
    PGconn **conns;
    bool *busy;
    size_t size;
    char *conninfo;
};

struct gateway {
    char product[BS_PRODUCT_MAX + 1];
    char faq_topic[GW_TOPIC_MAX];
    char audit_topic[GW_TOPIC_MAX];
    int publish_timeout_ms;
    char **cors_origins; /* NULL-terminated; NULL: no CORS */

    struct gw_pool pool;
    struct gw_caller_queue callers;      /* batched caller lookups */
    struct gw_caller_cache caller_cache; /* CALLER_CACHE_MS */
    struct gw_token_cache tokens;
    const struct clerk_jwt_verifier *verifier;
    const struct bs_codec *codec;
    struct bs_publisher *publisher;

    struct bs_metric *auth_failures; /* {reason} */
    struct bs_metric *events;        /* {topic, result} */

    /* FAQ search (search.c): the query embedder (same configuration as
     * faq-indexer), serialized when it is not thread-safe (openai), and
     * the product's in-memory index. */
    struct bs_embedder *embedder;
    bool embed_serial;
    bool search_ready; /* lock and slot initialised */
    pthread_mutex_t embed_lock;
    struct faq_index_slot faq_index;
    struct bs_metric *index_loads; /* {result} */
};

/* The authenticated caller of one request. */
struct gw_call {
    struct gateway *gw;
    struct bs_http_request *req;
    PGconn *conn; /* NULL until first used; idle between statements */
    char user_id[CLERK_JWT_MAX_ID + 1];
    char role[GW_ROLE_MAX + 1];
    char *self_json; /* the caller's user as JSON text (owned) */
};

/* ---- pool.c ---- */

/* Makes room for `size` connections to `conninfo` (copied). BS_OK or
 * BS_ENOMEM. */
int gw_pool_init(struct gw_pool *pool, const char *conninfo, size_t size);

/* Waits for a free slot and returns its connection, (re)connecting when
 * needed; NULL (errstr) when PostgreSQL cannot be reached (slot released). */
PGconn *gw_pool_acquire(struct gw_pool *pool, char *errstr, size_t errstr_size);

/* Gives a connection back; a broken one is closed and made again later. */
void gw_pool_release(struct gw_pool *pool, PGconn *conn);

/* Closes every connection. No acquire may still be running. */
void gw_pool_destroy(struct gw_pool *pool);

/* ---- gateway.c ---- */

/* Prepares the statements every request runs (app.product's set_config,
 * the caller lookup) on a new connection. BS_OK or BS_EDB (errstr). */
int gw_prepare_statements(PGconn *conn, char *errstr, size_t errstr_size);

/* Fills topics and metrics. BS_OK or BS_EINVAL. */
int gw_init(struct gateway *gw, const char *product,
            struct bs_metrics *metrics);

/* Splits CORS_ALLOWED_ORIGINS (comma or space separated); BS_ENOMEM. */
int gw_cors_parse(struct gateway *gw, const char *origins);
void gw_cors_free(struct gateway *gw);

/* Adds Access-Control-Allow-Origin + Vary when the Origin is allowed. */
void gw_cors_apply(struct bs_http_request *req);

/*
 * Authenticates the request; the caller's row may come from the caller
 * cache (at most CALLER_CACHE_MS old). On true the call must be ended with
 * gw_call_end() (it may hold a pooled connection, idle, outside any
 * transaction); on false the request has been answered (401, 403, 503,
 * 500) and nothing is held.
 */
bool gw_call_begin(struct bs_http_request *req, struct gw_call *call);

/* gw_call_begin() with the caller's row read from PostgreSQL, never from
 * the cache (writes: a role change or deletion counts at once). The row
 * read refreshes the cache. */
bool gw_call_begin_fresh(struct bs_http_request *req, struct gw_call *call);

/*
 * For public endpoints: no token is needed, but one that is present must
 * verify (else 401); no user row is looked up (call->user_id is the token's
 * subject or "", call->role ""). On true the call holds a pooled connection
 * and must be ended with gw_call_end(); on false the request was answered.
 */
bool gw_call_begin_public(struct bs_http_request *req, struct gw_call *call);

/* Releases the connection and the caller's row. */
void gw_call_end(struct gw_call *call);

/* True when the caller's role is `role`, or admin. */
bool gw_call_is(const struct gw_call *call, const char *role);

/* 403 unless the caller is an admin; false after answering. */
bool gw_call_require_admin(struct gw_call *call);

/* Runs a parameterised statement on the call's connection in its own
 * transaction with app.product set (bs_db_run_in_product: one round trip).
 * The caller PQclears the result. NULL (after logging and answering 500 or
 * 503) on error. */
PGresult *gw_call_query(struct gw_call *call, const char *sql, int nparams,
                        const char *const *params);

/*
 * Publishes an AuditEvent (action, entity, the call's user and request id,
 * `changes` JSON text or NULL) and waits for the broker. BS_OK, or an error
 * (logged; the caller answers 503 with gw_respond_unavailable()).
 */
int gw_publish_audit(struct gw_call *call, const char *action,
                     const char *entity_type, const char *entity_id,
                     const char *changes);

/* Publishes an encoded event to `topic` keyed `key`; as above. */
int gw_publish(struct gw_call *call, const char *topic, const char *key,
               const unsigned char *value, size_t len);

/* 503 + Retry-After: the broker did not acknowledge. */
void gw_respond_unavailable(struct bs_http_request *req);

/* 500, logged with the request id; `what` names the fault (no data). */
void gw_respond_internal(struct bs_http_request *req, const char *what);

/* Answers `body` (reference stolen) with status; 500 when body is NULL. */
void gw_respond_json(struct bs_http_request *req, unsigned status,
                     json_t *body);

/* /readyz: PostgreSQL answers and the publisher has a broker. */
bool gw_ready(void *ctx, json_t *not_ready);

/*
 * Reads `limit` and `cursor` from the query; the cursor's key must be a
 * UUID (uuid_keys) or a Clerk id. On false the request was answered 400.
 * key is "" when there is no cursor.
 */
bool gw_page_params(struct bs_http_request *req, bool uuid_keys,
                    unsigned *limit, char key[GW_KEY_MAX]);

/*
 * A page from rows of (json text, sort key), fetched with LIMIT limit + 1:
 * {"items":[...],"next_cursor":"..."|null}. *count gets the items. NULL
 * when out of memory or a row is not JSON.
 */
json_t *gw_page_json(const PGresult *res, unsigned limit, size_t *count);

/* The first column of row 0 (JSON text) parsed; NULL on failure. */
json_t *gw_row_json(const PGresult *res, int row);

/* ---- handlers ---- */
void gw_handle_health(struct bs_http_request *req);
void gw_handle_preflight(struct bs_http_request *req);
void gw_handle_user_me(struct bs_http_request *req);
void gw_handle_user_get(struct bs_http_request *req);
void gw_handle_user_list(struct bs_http_request *req);
void gw_handle_faq_list(struct bs_http_request *req);
void gw_handle_faq_get(struct bs_http_request *req);
void gw_handle_faq_create(struct bs_http_request *req);
void gw_handle_faq_update(struct bs_http_request *req);
void gw_handle_faq_delete(struct bs_http_request *req);
void gw_handle_property_list(struct bs_http_request *req);
void gw_handle_property_get(struct bs_http_request *req);

/* search.c: public, product-scoped FAQ reads. gw_search_init creates the
 * embedder from the configuration (BS_EMBEDDER_CONFIG_VARS), the index slot
 * and its metric: BS_OK, or BS_ECONFIG/BS_ENOMEM with errstr. Destroy after
 * the HTTP server stopped (safe after a failed or skipped init). */
int gw_search_init(struct gateway *gw, const struct bs_config *config,
                   struct bs_metrics *metrics, char *errstr,
                   size_t errstr_size);
void gw_search_destroy(struct gateway *gw);
void gw_handle_faq_search(struct bs_http_request *req);
void gw_handle_faq_public_get(struct bs_http_request *req);
void gw_handle_faq_context(struct bs_http_request *req);

/* audit.c: the product's audit trail, for admins. */
void gw_handle_audit_list(struct bs_http_request *req);

#endif
