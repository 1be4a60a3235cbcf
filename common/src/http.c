/*
 * http.c - the HTTP server: libmicrohttpd setup, the request lifecycle,
 * built-in endpoints, request metrics and logs, and the graceful drain.
 *
 * libmicrohttpd calls on_request() several times per request: once after
 * the headers (the exchange is created and routed; 400/404/405/413 are
 * answered right there, without reading the body), once per body chunk,
 * and once more at the end, when the handler runs and its answer is
 * queued. on_completed() frees the exchange and counts the request out of
 * the in-flight total that bs_http_server_drain() waits on.
 *
 * Metrics and the log line are recorded when the answer is queued, before a
 * byte of it is sent, so a client that has read a response can rely on it
 * being counted. Per-request code lives in http_exchange.c.
 *
 * Two further callbacks watch each request line for NUL bytes in the
 * target (see conn_state below), and MHD_OPTION_CONNECTION_TIMEOUT closes
 * connections idle for connection_timeout_s, half-sent requests included
 * (slow-loris clients).
 */
#include "http_internal.h"

#include "bs/error.h"
#include "bs/log.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

static void handle_healthz(struct bs_http_request *req);
static void handle_readyz(struct bs_http_request *req);
static void handle_metrics(struct bs_http_request *req);

static const struct bs_http_route builtin_routes[] = {
    {"GET", "/healthz", handle_healthz, 0},
    {"GET", "/readyz", handle_readyz, 0},
    {"GET", "/metrics", handle_metrics, 0},
};

static double seconds_since(const struct timespec *start)
{
    struct timespec now;

    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)(now.tv_sec - start->tv_sec) +
           (double)(now.tv_nsec - start->tv_nsec) / 1e9;
}

/* Methods outside the usual set share one label, so a client cannot grow
 * the metric's series. */
static const char *method_label(const char *method)
{
    static const char *const known[] = {"GET",    "HEAD",  "POST",   "PUT",
                                        "DELETE", "PATCH", "OPTIONS"};

    for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
        if (strcmp(method, known[i]) == 0)
            return known[i];
    return "other";
}

/* One metric update and one log line per answered request. */
static void exchange_record(const struct bs__http_exchange *ex)
{
    struct bs_http_server *server = ex->server;
    const char *method = method_label(ex->req.method);
    double seconds = seconds_since(&ex->started);
    char status[8];
    enum bs_log_level level = BS_LOG_DEBUG;

    snprintf(status, sizeof(status), "%u", ex->status);
    bs_metric_inc(server->requests_total,
                  BS_LABELS(method, ex->route_label, status));
    bs_metric_observe(server->request_duration, BS_LABELS(ex->route_label),
                      seconds);

    if (ex->status >= 500)
        level = BS_LOG_WARN;
    else if (ex->status >= 400)
        level = BS_LOG_INFO;
    BS__LOG(level,
            "http_request method=%s route=%s status=%u duration_ms=%.3f "
            "request_id=%s",
            method, ex->route_label, ex->status, seconds * 1000.0,
            ex->request_id);
}

static bool response_add_headers(const struct bs__http_exchange *ex,
                                 struct MHD_Response *response)
{
    bool ok = MHD_add_response_header(response, MHD_HTTP_HEADER_CONTENT_TYPE,
                                      ex->content_type) == MHD_YES &&
              MHD_add_response_header(response, "X-Product",
                                      ex->server->product) == MHD_YES &&
              MHD_add_response_header(response, "X-Request-Id",
                                      ex->request_id) == MHD_YES;

    for (size_t i = 0; ok && i < ex->header_count; i++)
        ok = MHD_add_response_header(response, ex->headers[i].name,
                                     ex->headers[i].value) == MHD_YES;

    /* While draining, keep-alive connections end after this answer. */
    if (ok && atomic_load(&ex->server->draining))
        ok = MHD_add_response_header(response, MHD_HTTP_HEADER_CONNECTION,
                                     "close") == MHD_YES;
    return ok;
}

/* Hands the exchange's answer to libmicrohttpd (a 500 if there is none). */
static enum MHD_Result exchange_queue(struct bs__http_exchange *ex)
{
    struct MHD_Response *response;
    enum MHD_Result result;

    if (!ex->responded) {
        bs_log_warn("http_handler_no_answer route=%s request_id=%s",
                    ex->route_label, ex->request_id);
        bs__http_exchange_error(ex, MHD_HTTP_INTERNAL_SERVER_ERROR,
                                "internal_error",
                                "the request could not be completed");
    }

    /* The body buffer belongs to the response once it exists. */
    response = MHD_create_response_from_buffer_with_free_callback(
        ex->response_len, ex->response_body, free);
    if (!response)
        return MHD_NO;
    ex->response_body = NULL;

    if (!response_add_headers(ex, response)) {
        MHD_destroy_response(response);
        return MHD_NO;
    }
    ex->queued = true;
    exchange_record(ex);
    result = MHD_queue_response(ex->connection, ex->status, response);
    MHD_destroy_response(response);
    return result;
}

static void in_flight_add(struct bs_http_server *server)
{
    pthread_mutex_lock(&server->lock);
    server->in_flight++;
    pthread_mutex_unlock(&server->lock);
}

static void in_flight_done(struct bs_http_server *server)
{
    pthread_mutex_lock(&server->lock);
    if (--server->in_flight == 0)
        pthread_cond_broadcast(&server->idle);
    pthread_mutex_unlock(&server->lock);
}

/*
 * NUL bytes in the request target. libmicrohttpd 0.9.75 hands the target
 * out as a C string, so both a raw NUL ("GET /a\0/../b HTTP/1.1") and a
 * decoded one ("/a%00/../b") would cut it short and serve "/a". The layer
 * notices both per connection and answers 400 instead:
 *
 * - the URI log callback sees the raw target before anything else and
 *   records its strlen(). The target and the HTTP version come from one
 *   request line with exactly one NUL (the separating space) between them,
 *   so when the version starts further than strlen + 1 after the target,
 *   the target held a raw NUL;
 * - the unescape callback decodes every %HH in the path and the query with
 *   libmicrohttpd's own decoder and records whether a NUL came out.
 *
 * Both run while libmicrohttpd parses the request line, on the worker that
 * owns the connection, before on_request() sees the request.
 */
struct conn_state {
    size_t raw_target_len;
    bool target_seen;
    bool decoded_nul;
};

static struct conn_state *conn_state_of(struct MHD_Connection *connection)
{
    const union MHD_ConnectionInfo *info =
        MHD_get_connection_info(connection, MHD_CONNECTION_INFO_SOCKET_CONTEXT);

    return info ? info->socket_context : NULL;
}

static void on_connection(void *cls, struct MHD_Connection *connection,
                          void **socket_context,
                          enum MHD_ConnectionNotificationCode code)
{
    (void)cls;
    (void)connection;
    if (code == MHD_CONNECTION_NOTIFY_STARTED)
        *socket_context = calloc(1, sizeof(struct conn_state));
    else if (code == MHD_CONNECTION_NOTIFY_CLOSED) {
        free(*socket_context);
        *socket_context = NULL;
    }
}

static void *on_uri(void *cls, const char *uri, struct MHD_Connection *conn)
{
    struct conn_state *state = conn_state_of(conn);

    (void)cls;
    if (state)
        *state = (struct conn_state){.raw_target_len = strlen(uri),
                                     .target_seen = true};
    return NULL; /* the request's *req_cls: no exchange yet */
}

static size_t on_unescape(void *cls, struct MHD_Connection *conn, char *text)
{
    struct conn_state *state = conn_state_of(conn);
    size_t len = MHD_http_unescape(text);

    (void)cls;
    if (state && memchr(text, '\0', len))
        state->decoded_nul = true;
    return len;
}

/* True when the request's target held a NUL byte, raw or percent-encoded.
 * `url` still points where the raw target began (decoding is in place). */
static bool target_has_nul(struct MHD_Connection *connection, const char *url,
                           const char *version)
{
    const struct conn_state *state = conn_state_of(connection);
    uintptr_t target = (uintptr_t)url;
    uintptr_t after = (uintptr_t)version;

    if (!state || !state->target_seen)
        return false;
    if (state->decoded_nul)
        return true;
    /* A version not after the target tells nothing (libmicrohttpd refuses
     * request lines without one anyway). */
    return after > target && after - target != state->raw_target_len + 1;
}

/* First call for a request: create, route, maybe answer at once. */
static enum MHD_Result request_begin(struct bs_http_server *server,
                                     struct MHD_Connection *connection,
                                     const char *url, const char *method,
                                     bool nul_in_target, void **req_cls)
{
    struct bs__http_exchange *ex =
        bs__http_exchange_new(server, connection, url, method);

    if (!ex)
        return MHD_NO;
    *req_cls = ex;
    in_flight_add(server);

    if (nul_in_target) {
        bs__http_exchange_error(ex, MHD_HTTP_BAD_REQUEST, "bad_request",
                                "the request target holds a NUL byte");
        return exchange_queue(ex);
    }
    if (!bs__http_exchange_route(ex))
        return exchange_queue(ex);
    return MHD_YES;
}

/* Last call: the body is complete (or was over the limit). */
static enum MHD_Result request_finish(struct bs__http_exchange *ex)
{
    if (ex->too_large)
        bs__http_exchange_too_large(ex);
    else
        ex->route->handler(&ex->req);
    return exchange_queue(ex);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *connection,
                                  const char *url, const char *method,
                                  const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **req_cls)
{
    struct bs__http_exchange *ex = *req_cls;

    if (!ex)
        return request_begin(cls, connection, url, method,
                             target_has_nul(connection, url, version), req_cls);

    /* Body chunks are kept up to the limit, then dropped. */
    if (*upload_data_size > 0) {
        if (!ex->queued)
            bs__http_exchange_append(ex, upload_data, *upload_data_size);
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (ex->queued)
        return MHD_YES;
    return request_finish(ex);
}

static void on_completed(void *cls, struct MHD_Connection *connection,
                         void **req_cls, enum MHD_RequestTerminationCode toe)
{
    struct bs__http_exchange *ex = *req_cls;

    if (!ex)
        return;
    if (!ex->queued || toe != MHD_REQUEST_TERMINATED_COMPLETED_OK)
        bs_log_debug("http_request_aborted route=%s request_id=%s reason=%d",
                     ex->route_label, ex->request_id, (int)toe);
    bs__http_exchange_free(ex);
    *req_cls = NULL;
    in_flight_done(cls);
}

/* libmicrohttpd's own messages: debug lines, and the reason a start
 * failed. */
static void on_library_log(void *cls, const char *fmt, va_list ap)
{
    struct bs_http_server *server = cls;
    char text[256];
    char quoted[300];
    size_t len;

    vsnprintf(text, sizeof(text), fmt, ap);
    len = strlen(text);
    while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == '.'))
        text[--len] = '\0';
    if (pthread_equal(pthread_self(), server->starter))
        snprintf(server->start_error, sizeof(server->start_error), "%s", text);
    bs_log_debug("http_library message=%s",
                 bs_log_quote(text, quoted, sizeof(quoted)));
}

static void handle_healthz(struct bs_http_request *req)
{
    bs_http_respond_json_text(req, MHD_HTTP_OK, "{\"status\":\"ok\"}");
}

/* "not ready: broker, database" from the members of not_ready. */
static void not_ready_message(json_t *not_ready, char *buf, size_t size)
{
    const char *separator = ": ";
    const char *key;
    json_t *value;
    size_t len = (size_t)snprintf(buf, size, "not ready");

    json_object_foreach(not_ready, key, value)
    {
        if (len >= size)
            break;
        len += (size_t)snprintf(buf + len, size - len, "%s%s", separator, key);
        separator = ", ";
    }
}

static void answer_not_ready(struct bs_http_request *req, json_t *not_ready)
{
    char message[256];
    json_t *body;

    not_ready_message(not_ready, message, sizeof(message));
    body = json_pack("{s:{s:s,s:s,s:s},s:s,s:O}", "error", "code", "not_ready",
                     "message", message, "request_id", req->request_id,
                     "status", "not_ready", "not_ready", not_ready);
    if (body)
        bs_http_respond_json(req, MHD_HTTP_SERVICE_UNAVAILABLE, body);
    json_decref(body);
}

static void handle_readyz(struct bs_http_request *req)
{
    struct bs_http_server *server = ((struct bs__http_exchange *)req)->server;
    json_t *not_ready = json_object();
    bool ready = true;

    if (!not_ready)
        return;
    if (atomic_load(&server->draining)) {
        json_object_set_new(not_ready, "server", json_string("draining"));
        ready = false;
    }
    if (server->ready && !server->ready(server->ctx, not_ready))
        ready = false;

    if (ready)
        bs_http_respond_json_text(req, MHD_HTTP_OK, "{\"status\":\"ready\"}");
    else
        answer_not_ready(req, not_ready);
    json_decref(not_ready);
}

static void handle_metrics(struct bs_http_request *req)
{
    struct bs__http_exchange *ex = (struct bs__http_exchange *)req;
    char *text;
    size_t len;

    if (bs_metrics_render(ex->server->metrics, &text, &len) != BS_OK)
        return;
    bs__http_exchange_answer_owned(ex, MHD_HTTP_OK, METRICS_CONTENT_TYPE, text,
                                   len);
}

static int config_check(const struct bs_http_config *config, char *errstr,
                        size_t errstr_size)
{
    if (!config->product || !config->product[0] || !config->service ||
        !config->service[0])
        return bs_fail(errstr, errstr_size, BS_EINVAL,
                       "http: product and service are required");
    if (config->route_count > 0 && !config->routes)
        return bs_fail(errstr, errstr_size, BS_EINVAL, "http: no route table");
    if (config->port > 65535)
        return bs_fail(errstr, errstr_size, BS_EINVAL,
                       "http: port %u out of range", config->port);

    for (size_t i = 0; i < config->route_count; i++) {
        const struct bs_http_route *route = &config->routes[i];

        if (!route->method || !route->method[0] || !route->handler ||
            !bs__http_pattern_valid(route->pattern))
            return bs_fail(errstr, errstr_size, BS_EINVAL,
                           "http: invalid route %zu (%s %s)", i,
                           route->method ? route->method : "?",
                           route->pattern ? route->pattern : "?");
    }
    return BS_OK;
}

/* The service's routes first (they may override a built-in), then the
 * built-ins that apply. */
static int routes_copy(struct bs_http_server *server,
                       const struct bs_http_config *config)
{
    size_t builtins = config->builtin_endpoints ? 3 : 0;

    if (builtins && !config->metrics)
        builtins = 2; /* no registry, no /metrics */
    server->routes =
        calloc(config->route_count + builtins, sizeof(*server->routes));
    if (!server->routes)
        return BS_ENOMEM;
    for (size_t i = 0; i < config->route_count; i++)
        server->routes[server->route_count++] = config->routes[i];
    for (size_t i = 0; i < builtins; i++)
        server->routes[server->route_count++] = builtin_routes[i];
    return BS_OK;
}

static int metrics_register(struct bs_http_server *server)
{
    if (!server->metrics)
        return BS_OK;
    server->requests_total = bs_metrics_counter(
        server->metrics, "bs_http_requests_total",
        "HTTP requests answered, by method, route pattern and status.",
        BS_LABELS("method", "route", "status"));
    server->request_duration = bs_metrics_histogram(
        server->metrics, "bs_http_request_duration_seconds",
        "Time from a request's headers to its answer being queued.",
        BS_LABELS("route"), bs_metrics_latency_buckets,
        bs_metrics_latency_bucket_count);
    if (!server->requests_total || !server->request_duration)
        return BS_EINVAL;
    return BS_OK;
}

static struct bs_http_server *server_new(const struct bs_http_config *config)
{
    struct bs_http_server *server = calloc(1, sizeof(*server));
    pthread_condattr_t attr;

    if (!server)
        return NULL;
    pthread_mutex_init(&server->lock, NULL);
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&server->idle, &attr);
    pthread_condattr_destroy(&attr);

    server->product = strdup(config->product);
    server->service = strdup(config->service);
    server->ctx = config->ctx;
    server->ready = config->ready;
    server->metrics = config->metrics;
    server->max_body =
        config->max_body ? config->max_body : BS_HTTP_MAX_BODY_DEFAULT;
    if (!server->product || !server->service) {
        bs_http_server_free(server);
        return NULL;
    }
    return server;
}

static int address_parse(const char *address, unsigned port,
                         struct sockaddr_storage *addr, bool *ipv6)
{
    struct sockaddr_in *v4 = (struct sockaddr_in *)addr;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)addr;

    memset(addr, 0, sizeof(*addr));
    *ipv6 = false;
    if (inet_pton(AF_INET, address, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons((uint16_t)port);
        return BS_OK;
    }
    if (inet_pton(AF_INET6, address, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons((uint16_t)port);
        *ipv6 = true;
        return BS_OK;
    }
    return BS_EINVAL;
}

static unsigned or_default(unsigned value, unsigned fallback)
{
    return value ? value : fallback;
}

static int daemon_start(struct bs_http_server *server,
                        const struct bs_http_config *config,
                        const char *address, char *errstr, size_t errstr_size)
{
    unsigned threads = or_default(config->threads, BS_HTTP_THREADS_DEFAULT);
    unsigned flags =
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ITC | MHD_USE_ERROR_LOG;
    struct sockaddr_storage addr;
    bool ipv6;

    if (address_parse(address, config->port, &addr, &ipv6) != BS_OK)
        return bs_fail(errstr, errstr_size, BS_EINVAL,
                       "http: '%s' is not a numeric IP address", address);
    flags |= ipv6 ? MHD_USE_IPv6 : 0;
    server->starter = pthread_self();
    /* poll(), not epoll: with a thread pool, libmicrohttpd 0.9.75's
     * MHD_quiesce_daemon() races its workers removing the listen socket
     * from their epoll sets and aborts the process ("Failed to remove
     * listen FD from epoll set"), which a drain under load triggered in CI.
     * poll() keeps no such state, and a worker serves few enough
     * connections for it to cost nothing measurable here. */
    flags |= MHD_USE_POLL;

    server->daemon = MHD_start_daemon(
        flags, (uint16_t)config->port, NULL, NULL, on_request, server,
        MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, server,
        MHD_OPTION_NOTIFY_CONNECTION, on_connection, server,
        MHD_OPTION_URI_LOG_CALLBACK, on_uri, server,
        MHD_OPTION_UNESCAPE_CALLBACK, on_unescape, server,
        MHD_OPTION_EXTERNAL_LOGGER, on_library_log, server,
        MHD_OPTION_THREAD_POOL_SIZE, threads, MHD_OPTION_CONNECTION_LIMIT,
        or_default(config->connection_limit, BS_HTTP_CONNECTION_LIMIT),
        MHD_OPTION_PER_IP_CONNECTION_LIMIT, config->per_ip_connection_limit,
        MHD_OPTION_CONNECTION_TIMEOUT,
        or_default(config->connection_timeout_s, BS_HTTP_TIMEOUT_DEFAULT_S),
        MHD_OPTION_END);
    if (!server->daemon)
        return bs_fail(
            errstr, errstr_size, BS_EIO,
            "http: cannot listen on %s port %u: %s", address, config->port,
            server->start_error[0] ? server->start_error : "unknown error");
    server->port =
        MHD_get_daemon_info(server->daemon, MHD_DAEMON_INFO_BIND_PORT)->port;
    return BS_OK;
}

int bs_http_server_start(const struct bs_http_config *config,
                         struct bs_http_server **out, char *errstr,
                         size_t errstr_size)
{
    const char *address = config->address ? config->address : "127.0.0.1";
    struct bs_http_server *server = NULL;
    int status;

    *out = NULL;
    status = config_check(config, errstr, errstr_size);
    if (status != BS_OK)
        return status;

    server = server_new(config);
    if (!server || routes_copy(server, config) != BS_OK) {
        status = bs_fail(errstr, errstr_size, BS_ENOMEM, "http: out of memory");
        goto out;
    }
    status = metrics_register(server);
    if (status != BS_OK) {
        bs_fail(errstr, errstr_size, status,
                "http: cannot register the request metrics");
        goto out;
    }

    status = daemon_start(server, config, address, errstr, errstr_size);
    if (status != BS_OK)
        goto out;
    bs_log_info("http_listening address=%s port=%u routes=%zu", address,
                server->port, server->route_count);
    *out = server;
    server = NULL;

out:
    bs_http_server_free(server);
    return status;
}

unsigned bs_http_server_port(const struct bs_http_server *server)
{
    return server && server->daemon ? server->port : 0;
}

/* Waits until no request is in flight or the deadline passes; returns the
 * number still in flight. */
static size_t in_flight_wait(struct bs_http_server *server, unsigned timeout_ms)
{
    struct timespec deadline;
    size_t left;

    clock_gettime(CLOCK_MONOTONIC, &deadline);
    deadline.tv_sec += timeout_ms / 1000;
    deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (deadline.tv_nsec >= 1000000000L) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000L;
    }

    pthread_mutex_lock(&server->lock);
    while (server->in_flight > 0 &&
           pthread_cond_timedwait(&server->idle, &server->lock, &deadline) !=
               ETIMEDOUT)
        ;
    left = server->in_flight;
    pthread_mutex_unlock(&server->lock);
    return left;
}

int bs_http_server_drain(struct bs_http_server *server, unsigned timeout_ms)
{
    MHD_socket listen_fd;
    size_t left;

    if (!server || !server->daemon)
        return BS_EINVAL;
    atomic_store(&server->draining, true);

    /* Stop accepting; shutting the socket down refuses new connections at
     * once, while the descriptor stays open until the workers are gone. */
    listen_fd = MHD_quiesce_daemon(server->daemon);
    if (listen_fd != MHD_INVALID_SOCKET)
        shutdown(listen_fd, SHUT_RDWR);
    bs_log_info("http_draining timeout_ms=%u", timeout_ms);

    left = in_flight_wait(server, timeout_ms);
    if (left > 0)
        bs_log_warn("http_drain_timeout in_flight=%zu", left);

    MHD_stop_daemon(server->daemon);
    server->daemon = NULL;
    if (listen_fd != MHD_INVALID_SOCKET)
        close(listen_fd);
    bs_log_info("http_stopped");
    return left > 0 ? BS_ETIMEDOUT : BS_OK;
}

void bs_http_server_free(struct bs_http_server *server)
{
    if (!server)
        return;
    if (server->daemon)
        MHD_stop_daemon(server->daemon);
    pthread_cond_destroy(&server->idle);
    pthread_mutex_destroy(&server->lock);
    free(server->routes);
    free(server->product);
    free(server->service);
    free(server);
}
