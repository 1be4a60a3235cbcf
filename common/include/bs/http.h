/*
 * http.h - the HTTP layer every service shares, over libmicrohttpd.
 *
 * A service declares a route table and a config; the layer does the rest:
 * listening (thread pool, connection limits, timeouts), routing by method and
 * path, collecting the body up to a limit, request ids, X-Product on every
 * response, JSON error bodies, /healthz, /readyz and /metrics, request
 * metrics and logs, and a graceful drain for SIGTERM.
 *
 *   static void handle_clerk(struct bs_http_request *req) {
 *       ... req->body, req->body_len, bs_http_request_header(req, "svix-id")
 *       bs_http_respond_json_text(req, 200, "{\"status\":\"accepted\"}");
 *   }
 *   static const struct bs_http_route routes[] = {
 *       {"POST", "/api/v1/webhooks/clerk", handle_clerk, 0},
 *       {"GET", "/api/v1/faq/{id}", handle_faq_get, 0},
 *   };
 *
 * Handlers run on the server's worker threads, one request at a time per
 * connection; a handler that blocks (waiting for a broker acknowledgement)
 * holds one worker, so it must bound its own wait. A handler answers by
 * calling one bs_http_respond_*() function; the layer sends it after the
 * handler returns, adding Content-Type, X-Product, X-Request-Id and any
 * headers from bs_http_response_header(). A handler that does not answer
 * produces a 500.
 *
 * Every error the layer itself answers has the body
 *   {"error":{"code":"<code>","message":"<text>","request_id":"<id>"}}
 * with codes bad_request (400), not_found (404), method_not_allowed (405,
 * with Allow), body_too_large (413), not_ready (503 from /readyz) and
 * internal_error (500).
 *
 * Not here: TLS, HTTP/2, CORS, authentication (services do those), and
 * the few protocol errors libmicrohttpd answers on its own before a request
 * reaches the layer (malformed request lines, oversized headers): those
 * carry neither X-Product nor a JSON body. See docs/http.md.
 */
#ifndef BS_HTTP_H
#define BS_HTTP_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "bs/metrics.h"

#define BS_HTTP_MAX_BODY_DEFAULT     (1024 * 1024)
#define BS_HTTP_CONNECTION_LIMIT     1000
#define BS_HTTP_TIMEOUT_DEFAULT_S    30
#define BS_HTTP_THREADS_DEFAULT      2
#define BS_HTTP_REQUEST_ID_MAX       128
#define BS_HTTP_MAX_PARAMS           4
#define BS_HTTP_MAX_RESPONSE_HEADERS 16

/*
 * What a handler sees. Every pointer stays valid until the handler returns;
 * copy what must live longer. The body is exactly the bytes received (it may
 * hold NUL bytes); one extra NUL byte follows it so text bodies can be used
 * as C strings. The body is never NULL (an empty body is "").
 */
struct bs_http_request {
    const char *method;        /* as sent, e.g. "POST" */
    const char *path;          /* percent-decoded, without the query */
    const char *route;         /* the matched route's pattern */
    const unsigned char *body; /* raw bytes, NUL-terminated beyond body_len */
    size_t body_len;
    const char *request_id;  /* echoed as X-Request-Id */
    const char *remote_addr; /* numeric client address, "" if unknown */
    void *ctx;               /* bs_http_config.ctx */
};

typedef void (*bs_http_handler_fn)(struct bs_http_request *req);

/*
 * One route: method (exact, case-sensitive; a GET route also answers HEAD)
 * and path pattern. A pattern is an exact path ("/healthz"), may name
 * single segments ("/faq/{id}", read with bs_http_request_param(req, "id")),
 * and may end with a segment that is a lone asterisk, which matches any
 * rest of the path, empty included (pattern "/static/" followed by "*";
 * read the rest with bs_http_request_param(req, "*")). The pattern is
 * also the route's label in metrics and logs. max_body 0 means the server's
 * max_body. The first matching route wins.
 */
struct bs_http_route {
    const char *method;
    const char *pattern;
    bs_http_handler_fn handler;
    size_t max_body;
};

/*
 * Readiness for GET /readyz: return true when ready; otherwise return false
 * after adding a member per failing dependency to `not_ready`, a JSON object
 * (e.g. json_object_set_new(not_ready, "broker",
 * json_string("unreachable"))). Called on a worker thread; keep it cheap.
 */
typedef bool (*bs_http_ready_fn)(void *ctx, json_t *not_ready);

struct bs_http_config {
    const char *address; /* numeric IPv4 or IPv6; NULL: "127.0.0.1" */
    unsigned port;       /* 0: ephemeral, see bs_http_server_port() */
    const char *product; /* required: sent as X-Product */
    const char *service; /* required: for logs */

    /* The array is copied; the strings and handlers must outlive the
     * server (string literals and functions do). */
    const struct bs_http_route *routes;
    size_t route_count;
    void *ctx; /* handed to handlers as req->ctx and to `ready` */

    size_t max_body;                  /* 0: BS_HTTP_MAX_BODY_DEFAULT */
    unsigned connection_limit;        /* 0: BS_HTTP_CONNECTION_LIMIT */
    unsigned per_ip_connection_limit; /* 0: no per-address limit */
    unsigned connection_timeout_s;    /* idle timeout, half-sent requests
                                       * included; 0: default 30 s */
    unsigned threads;                 /* 0: BS_HTTP_THREADS_DEFAULT */

    /* Where request metrics go and what /metrics serves; may be NULL. The
     * registry must outlive the server. */
    struct bs_metrics *metrics;

    /* Adds GET /healthz, GET /readyz and (with metrics) GET /metrics after
     * the service's routes. */
    bool builtin_endpoints;
    bs_http_ready_fn ready; /* NULL: always ready */
};

struct bs_http_server;

/*
 * Validates the config and route patterns, listens and starts the worker
 * threads. On success *out owns the running server; stop it with
 * bs_http_server_drain() and/or free it with bs_http_server_free(). Returns
 * BS_OK, BS_EINVAL (bad config or pattern), BS_EIO (cannot listen) or
 * BS_ENOMEM, with one line in errstr.
 */
int bs_http_server_start(const struct bs_http_config *config,
                         struct bs_http_server **out, char *errstr,
                         size_t errstr_size);

/* The port actually bound (useful with port 0); 0 once stopped. */
unsigned bs_http_server_port(const struct bs_http_server *server);

/*
 * Graceful stop: closes the listening socket at once (new connections are
 * refused), marks the server draining (/readyz answers 503, responses close
 * their connection), waits up to timeout_ms for requests in flight to be
 * answered, then stops the workers. Returns BS_OK when nothing was cut
 * short, BS_ETIMEDOUT when the timeout passed first (logged; the requests still
 * running are then waited for, since a running handler cannot be
 * interrupted). Call it once; afterwards only bs_http_server_free().
 */
int bs_http_server_drain(struct bs_http_server *server, unsigned timeout_ms);

/* Stops the server at once if still running and frees it. NULL ignored. */
void bs_http_server_free(struct bs_http_server *server);

/* A request header by name, case-insensitively; NULL when absent. */
const char *bs_http_request_header(const struct bs_http_request *req,
                                   const char *name);

/* A query-string argument, percent-decoded; NULL when absent or given
 * without a value. */
const char *bs_http_request_query(const struct bs_http_request *req,
                                  const char *name);

/* The path segment matched by "{name}" in the route pattern, or the rest
 * matched by a trailing "*" (name "*"); NULL when the pattern has none. */
const char *bs_http_request_param(const struct bs_http_request *req,
                                  const char *name);

/*
 * Answers the request. Exactly one answer per request: a second call returns
 * BS_EINVAL and leaves the first in place. The body is copied (the caller
 * keeps its own). Status must be 100-599. Returns BS_OK, BS_EINVAL or
 * BS_ENOMEM.
 *
 *   bs_http_respond           any body and content type
 *   bs_http_respond_json      a jansson value, serialized compactly
 *   bs_http_respond_json_text an already serialized JSON text
 *   bs_http_respond_error     the JSON error body above, with the request id
 */
int bs_http_respond(struct bs_http_request *req, unsigned status,
                    const char *content_type, const void *body, size_t len);
int bs_http_respond_json(struct bs_http_request *req, unsigned status,
                         const json_t *body);
int bs_http_respond_json_text(struct bs_http_request *req, unsigned status,
                              const char *json);
int bs_http_respond_error(struct bs_http_request *req, unsigned status,
                          const char *code, const char *message);

/*
 * Adds a response header (e.g. Retry-After, Location), before or after the
 * answer is set; both strings are copied. Refuses (BS_EINVAL) names that are
 * not tokens, values with control characters, the headers the layer sets
 * itself (Content-Type, Content-Length, X-Product, X-Request-Id) and more
 * than BS_HTTP_MAX_RESPONSE_HEADERS.
 */
int bs_http_response_header(struct bs_http_request *req, const char *name,
                            const char *value);

#endif
