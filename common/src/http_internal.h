/*
 * http_internal.h - what http.c (the server and its libmicrohttpd glue) and
 * http_exchange.c (one request: routing, accessors, answers) share.
 *
 * An exchange is one request and its answer. It begins on libmicrohttpd's
 * first call for a request, collects the body, runs the handler, is queued
 * as a response, and is freed by the completion callback. The public
 * struct bs_http_request is its first member, so a handler's request
 * pointer converts back to the exchange.
 */
#ifndef BS_HTTP_INTERNAL_H
#define BS_HTTP_INTERNAL_H

#include "bs/http.h"
#include "bs/metrics.h"

#include <microhttpd.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <time.h>

#define BS__HTTP_ALLOW_MAX        128
#define BS__HTTP_CONTENT_TYPE_MAX 128
#define BS__HTTP_ADDR_MAX         64

struct bs_http_server {
    struct MHD_Daemon *daemon;
    unsigned port;
    char *product;
    char *service;
    struct bs_http_route *routes; /* the service's, then the built-ins */
    size_t route_count;
    void *ctx;
    size_t max_body;
    bs_http_ready_fn ready;

    struct bs_metrics *metrics;
    struct bs_metric *requests_total;
    struct bs_metric *request_duration;

    /* Requests begun and not yet completed; drain waits for zero. */
    pthread_mutex_t lock;
    pthread_cond_t idle;
    size_t in_flight;
    atomic_bool draining;

    /* The last libmicrohttpd message of the starting thread, for errstr. */
    pthread_t starter;
    char start_error[256];
};

struct bs__http_param {
    const char *name; /* points into the route pattern */
    size_t name_len;
    const char *value; /* points into exchange.param_values */
};

struct bs__http_header {
    char *name;
    char *value;
};

struct bs__http_exchange {
    struct bs_http_request req; /* first: handlers get &exchange->req */
    struct bs_http_server *server;
    struct MHD_Connection *connection;
    const struct bs_http_route *route; /* NULL until routed */
    const char *route_label;           /* metrics and logs */
    struct timespec started;

    char request_id[BS_HTTP_REQUEST_ID_MAX + 1];
    char remote_addr[BS__HTTP_ADDR_MAX];
    char *param_values; /* NUL-separated values of params[] */
    struct bs__http_param params[BS_HTTP_MAX_PARAMS];
    size_t param_count;

    unsigned char *body; /* NUL-terminated beyond body_len */
    size_t body_len;
    size_t body_cap;
    size_t max_body;
    bool too_large;

    bool responded;
    bool queued;
    unsigned status;
    char content_type[BS__HTTP_CONTENT_TYPE_MAX];
    char *response_body; /* malloc'd, handed to libmicrohttpd */
    size_t response_len;
    struct bs__http_header headers[BS_HTTP_MAX_RESPONSE_HEADERS];
    size_t header_count;
};

/* http_exchange.c */

/* True when `pattern` is a valid route pattern (see bs_http_route). */
bool bs__http_pattern_valid(const char *pattern);

/*
 * Allocates an exchange for a new request: request id, remote address,
 * start time. Returns NULL when out of memory.
 */
struct bs__http_exchange *bs__http_exchange_new(struct bs_http_server *server,
                                                struct MHD_Connection *conn,
                                                const char *url,
                                                const char *method);

/*
 * Finds the route for the exchange's method and path. Returns true when a
 * handler will run; false when the exchange has been answered already
 * (400, 404, 405 with Allow, 413 from Content-Length).
 */
bool bs__http_exchange_route(struct bs__http_exchange *ex);

/* Appends a body chunk, or drops it once the body is over its limit. */
void bs__http_exchange_append(struct bs__http_exchange *ex, const char *data,
                              size_t size);

/* Answers 413 body_too_large, naming the route's limit. */
void bs__http_exchange_too_large(struct bs__http_exchange *ex);

/* Answers with the JSON error body; the text is copied. */
void bs__http_exchange_error(struct bs__http_exchange *ex, unsigned status,
                             const char *code, const char *message);

/* Answers with a malloc'd body of `len` bytes plus a NUL, taking it. */
void bs__http_exchange_answer_owned(struct bs__http_exchange *ex,
                                    unsigned status, const char *content_type,
                                    char *body, size_t len);

void bs__http_exchange_free(struct bs__http_exchange *ex);

#endif
