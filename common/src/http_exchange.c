/*
 * http_exchange.c - one HTTP request and its answer.
 *
 * Routing (patterns with {name} segments and a trailing *), request ids,
 * body collection under a limit, the accessors a handler uses, and the
 * answer it leaves behind for http.c to queue. Nothing here talks to the
 * network except through libmicrohttpd's per-connection lookups.
 */
#include "http_internal.h"

#include "bs/error.h"
#include "bs/log.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <openssl/rand.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

/* One route-pattern match: names point into the pattern, values are
 * offsets into the path. */
#define BODY_PREALLOC_MAX (64 * 1024)

struct capture {
    const char *name;
    size_t name_len;
    size_t value_off;
    size_t value_len;
};

static bool is_param_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9') || c == '_';
}

/* Checks one "{name}" starting at p; returns the closing brace or NULL. */
static const char *param_end(const char *p)
{
    const char *q = p + 1;

    while (is_param_char(*q))
        q++;
    if (*q != '}' || q == p + 1 || (q[1] != '/' && q[1] != '\0'))
        return NULL;
    return q;
}

bool bs__http_pattern_valid(const char *pattern)
{
    size_t params = 0;

    if (!pattern || pattern[0] != '/')
        return false;
    for (const char *p = pattern; *p; p++) {
        if (*p == '}')
            return false;
        if (*p != '{' && *p != '*')
            continue;
        if (p[-1] != '/' || ++params > BS_HTTP_MAX_PARAMS)
            return false;
        if (*p == '*' && p[1] != '\0')
            return false;
        if (*p == '{' && !(p = param_end(p)))
            return false;
    }
    return true;
}

/* Matches path against a valid pattern, recording what {name} and * took
 * when `caps` is not NULL. */
static bool pattern_match(const char *pattern, const char *path,
                          struct capture *caps, size_t *cap_count)
{
    const char *p = pattern;
    const char *u = path;
    size_t count = 0;

    while (*p) {
        struct capture cap = {.name = p, .name_len = 1};

        if (*p == '*') {
            cap.value_off = (size_t)(u - path);
            cap.value_len = strlen(u);
            u += cap.value_len;
            p++;
        } else if (*p == '{') {
            const char *close = strchr(p, '}');

            cap = (struct capture){p + 1, (size_t)(close - p - 1),
                                   (size_t)(u - path), strcspn(u, "/")};
            if (cap.value_len == 0)
                return false;
            u += cap.value_len;
            p = close + 1;
        } else {
            if (*p++ != *u++)
                return false;
            continue;
        }
        if (caps)
            caps[count] = cap;
        count++;
    }
    if (cap_count)
        *cap_count = count;
    return *u == '\0';
}

/* Copies the captured values into one buffer of NUL-separated strings. */
static bool exchange_set_params(struct bs__http_exchange *ex,
                                const struct capture *caps, size_t count)
{
    size_t total = 0;
    char *out;

    for (size_t i = 0; i < count; i++)
        total += caps[i].value_len + 1;
    if (count == 0)
        return true;
    ex->param_values = malloc(total);
    if (!ex->param_values)
        return false;

    out = ex->param_values;
    for (size_t i = 0; i < count; i++) {
        memcpy(out, ex->req.path + caps[i].value_off, caps[i].value_len);
        out[caps[i].value_len] = '\0';
        ex->params[i] =
            (struct bs__http_param){caps[i].name, caps[i].name_len, out};
        out += caps[i].value_len + 1;
    }
    ex->param_count = count;
    return true;
}

static bool request_id_sane(const char *id)
{
    size_t len = 0;

    if (!id)
        return false;
    for (; id[len]; len++) {
        char c = id[len];

        if (len >= BS_HTTP_REQUEST_ID_MAX ||
            !(is_param_char(c) || c == '.' || c == '-'))
            return false;
    }
    return len > 0;
}

/* 128 random bits as 32 hex digits; a clock-and-counter id if the random
 * generator ever fails (an id must exist, it need not be secret). */
static void request_id_generate(char *buf, size_t size)
{
    static atomic_ulong fallback_counter;
    unsigned char bytes[16];

    if (RAND_bytes(bytes, sizeof(bytes)) == 1) {
        for (size_t i = 0; i < sizeof(bytes); i++)
            snprintf(buf + 2 * i, size - 2 * i, "%02x", bytes[i]);
        return;
    }
    snprintf(buf, size, "%016llx%016lx", (unsigned long long)time(NULL),
             atomic_fetch_add(&fallback_counter, 1));
}

static void remote_address(struct MHD_Connection *conn, char *buf, size_t size)
{
    const union MHD_ConnectionInfo *info =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    const struct sockaddr *sa = info ? info->client_addr : NULL;
    socklen_t len;

    buf[0] = '\0';
    if (!sa || (sa->sa_family != AF_INET && sa->sa_family != AF_INET6))
        return;
    len = sa->sa_family == AF_INET ? sizeof(struct sockaddr_in)
                                   : sizeof(struct sockaddr_in6);
    if (getnameinfo(sa, len, buf, (socklen_t)size, NULL, 0, NI_NUMERICHOST))
        buf[0] = '\0';
}

struct bs__http_exchange *bs__http_exchange_new(struct bs_http_server *server,
                                                struct MHD_Connection *conn,
                                                const char *url,
                                                const char *method)
{
    struct bs__http_exchange *ex = calloc(1, sizeof(*ex));
    const char *id;

    if (!ex)
        return NULL;
    clock_gettime(CLOCK_MONOTONIC, &ex->started);
    ex->server = server;
    ex->connection = conn;
    ex->route_label = "unmatched";

    /* A sane incoming id is kept, anything else replaced. */
    id = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "X-Request-Id");
    if (request_id_sane(id))
        snprintf(ex->request_id, sizeof(ex->request_id), "%s", id);
    else
        request_id_generate(ex->request_id, sizeof(ex->request_id));
    remote_address(conn, ex->remote_addr, sizeof(ex->remote_addr));

    ex->req = (struct bs_http_request){.method = method,
                                       .path = url,
                                       .route = "",
                                       .body = (const unsigned char *)"",
                                       .request_id = ex->request_id,
                                       .remote_addr = ex->remote_addr,
                                       .ctx = server->ctx};
    return ex;
}

static bool method_matches(const char *route_method, const char *method)
{
    return strcmp(route_method, method) == 0 ||
           (strcmp(method, "HEAD") == 0 && strcmp(route_method, "GET") == 0);
}

/* Adds `method` to a comma-separated Allow list unless already there. */
static void allow_add(char *allow, size_t size, const char *method)
{
    size_t len = strlen(method);

    for (const char *p = allow; (p = strstr(p, method)); p += len)
        if ((p == allow || p[-1] == ' ') && (p[len] == ',' || !p[len]))
            return;
    snprintf(allow + strlen(allow), size - strlen(allow), "%s%s",
             allow[0] ? ", " : "", method);
}

/* Answers 405 with the methods the path does accept. */
static void answer_not_allowed(struct bs__http_exchange *ex, const char *allow)
{
    bs__http_exchange_error(ex, MHD_HTTP_METHOD_NOT_ALLOWED,
                            "method_not_allowed",
                            "this method is not allowed for this path");
    bs_http_response_header(&ex->req, "Allow", allow);
}

/* Compares Content-Length, when given, with the route's limit. */
static bool declared_length_too_large(struct bs__http_exchange *ex)
{
    const char *value = MHD_lookup_connection_value(
        ex->connection, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    unsigned long long length;
    char *end;

    if (!value || value[0] < '0' || value[0] > '9')
        return false;
    errno = 0;
    length = strtoull(value, &end, 10);
    if (errno != 0 || *end != '\0')
        return false; /* libmicrohttpd refuses such a request itself */
    if (length > ex->max_body)
        return true;

    /* Allocated once for the usual small bodies; a larger declared length
     * is not trusted with memory before its bytes arrive. */
    if (length > BODY_PREALLOC_MAX)
        length = BODY_PREALLOC_MAX;
    ex->body = malloc((size_t)length + 1);
    if (ex->body)
        ex->body_cap = (size_t)length + 1;
    return false;
}

void bs__http_exchange_too_large(struct bs__http_exchange *ex)
{
    char message[96];

    snprintf(message, sizeof(message), "the request body exceeds %zu bytes",
             ex->max_body);
    bs__http_exchange_error(ex, MHD_HTTP_CONTENT_TOO_LARGE, "body_too_large",
                            message);
}

/* First matching route for the method; else the Allow list of the path. */
static const struct bs_http_route *route_find(struct bs__http_exchange *ex,
                                              char *allow, size_t allow_size)
{
    const struct bs_http_server *server = ex->server;

    allow[0] = '\0';
    for (size_t i = 0; i < server->route_count; i++) {
        const struct bs_http_route *route = &server->routes[i];

        if (!pattern_match(route->pattern, ex->req.path, NULL, NULL))
            continue;
        if (method_matches(route->method, ex->req.method))
            return route;
        if (!allow[0])
            ex->route_label = route->pattern;
        allow_add(allow, allow_size, route->method);
        if (strcmp(route->method, "GET") == 0)
            allow_add(allow, allow_size, "HEAD");
    }
    return NULL;
}

bool bs__http_exchange_route(struct bs__http_exchange *ex)
{
    struct capture caps[BS_HTTP_MAX_PARAMS];
    char allow[BS__HTTP_ALLOW_MAX];
    size_t count = 0;

    if (ex->req.path[0] != '/') {
        bs__http_exchange_error(ex, MHD_HTTP_BAD_REQUEST, "bad_request",
                                "the request target must be a path");
        return false;
    }

    /* Unknown path 404, known path with another method 405. */
    ex->route = route_find(ex, allow, sizeof(allow));
    if (!ex->route && !allow[0])
        bs__http_exchange_error(ex, MHD_HTTP_NOT_FOUND, "not_found",
                                "no such resource");
    if (!ex->route && allow[0])
        answer_not_allowed(ex, allow);
    if (!ex->route)
        return false;

    ex->route_label = ex->route->pattern;
    ex->req.route = ex->route->pattern;
    ex->max_body =
        ex->route->max_body ? ex->route->max_body : ex->server->max_body;

    /* Refused before a byte of the body is read. */
    if (declared_length_too_large(ex)) {
        bs__http_exchange_too_large(ex);
        return false;
    }

    pattern_match(ex->route->pattern, ex->req.path, caps, &count);
    if (!exchange_set_params(ex, caps, count)) {
        bs__http_exchange_error(ex, MHD_HTTP_INTERNAL_SERVER_ERROR,
                                "internal_error", "out of memory");
        return false;
    }
    return true;
}

/* Over the limit: what came so far is freed, the rest will be dropped and
 * the answer is 413. */
static void body_drop(struct bs__http_exchange *ex)
{
    ex->too_large = true;
    free(ex->body);
    ex->body = NULL;
    ex->body_len = 0;
    ex->body_cap = 0;
    ex->req.body = (const unsigned char *)"";
    ex->req.body_len = 0;
}

void bs__http_exchange_append(struct bs__http_exchange *ex, const char *data,
                              size_t size)
{
    size_t need;

    if (ex->too_large)
        return;
    if (size > ex->max_body - ex->body_len) {
        body_drop(ex);
        return;
    }

    /* Grow geometrically, never past the limit (plus the NUL). */
    need = ex->body_len + size + 1;
    if (need > ex->body_cap) {
        size_t cap = ex->body_cap ? ex->body_cap * 2 : 4096;
        unsigned char *body;

        if (cap < need)
            cap = need;
        if (cap > ex->max_body + 1)
            cap = ex->max_body + 1;
        body = realloc(ex->body, cap);
        if (!body) {
            body_drop(ex); /* out of memory: 413 rather than a crash */
            return;
        }
        ex->body = body;
        ex->body_cap = cap;
    }
    memcpy(ex->body + ex->body_len, data, size);
    ex->body_len += size;
    ex->body[ex->body_len] = '\0';
    ex->req.body = ex->body;
    ex->req.body_len = ex->body_len;
}

void bs__http_exchange_free(struct bs__http_exchange *ex)
{
    if (!ex)
        return;
    for (size_t i = 0; i < ex->header_count; i++) {
        free(ex->headers[i].name);
        free(ex->headers[i].value);
    }
    free(ex->response_body);
    free(ex->param_values);
    free(ex->body);
    free(ex);
}

static struct bs__http_exchange *exchange_of(const struct bs_http_request *req)
{
    return (struct bs__http_exchange *)req;
}

const char *bs_http_request_header(const struct bs_http_request *req,
                                   const char *name)
{
    return MHD_lookup_connection_value(exchange_of(req)->connection,
                                       MHD_HEADER_KIND, name);
}

const char *bs_http_request_query(const struct bs_http_request *req,
                                  const char *name)
{
    return MHD_lookup_connection_value(exchange_of(req)->connection,
                                       MHD_GET_ARGUMENT_KIND, name);
}

const char *bs_http_request_param(const struct bs_http_request *req,
                                  const char *name)
{
    const struct bs__http_exchange *ex = exchange_of(req);

    for (size_t i = 0; i < ex->param_count; i++) {
        const struct bs__http_param *param = &ex->params[i];

        if (strlen(name) == param->name_len &&
            strncmp(param->name, name, param->name_len) == 0)
            return param->value;
    }
    return NULL;
}

void bs__http_exchange_answer_owned(struct bs__http_exchange *ex,
                                    unsigned status, const char *content_type,
                                    char *body, size_t len)
{
    ex->responded = true;
    ex->status = status;
    snprintf(ex->content_type, sizeof(ex->content_type), "%s", content_type);
    free(ex->response_body);
    ex->response_body = body;
    ex->response_len = len;
}

static bool text_valid(const char *text, size_t max)
{
    size_t len = 0;

    for (; text[len]; len++)
        if ((unsigned char)text[len] < ' ' || text[len] == 0x7f)
            return false;
    return len < max;
}

/* One answer per request, with a status HTTP knows. */
static bool answer_allowed(const struct bs__http_exchange *ex, unsigned status)
{
    if (ex->responded) {
        bs_log_warn("http_second_answer route=%s request_id=%s",
                    ex->route_label, ex->request_id);
        return false;
    }
    return status >= 100 && status <= 599;
}

int bs_http_respond(struct bs_http_request *req, unsigned status,
                    const char *content_type, const void *body, size_t len)
{
    struct bs__http_exchange *ex = exchange_of(req);
    char *copy;

    if (!answer_allowed(ex, status) || !content_type ||
        !text_valid(content_type, sizeof(ex->content_type)) ||
        (len > 0 && !body))
        return BS_EINVAL;

    copy = malloc(len + 1);
    if (!copy)
        return BS_ENOMEM;
    if (len > 0)
        memcpy(copy, body, len);
    copy[len] = '\0';
    bs__http_exchange_answer_owned(ex, status, content_type, copy, len);
    return BS_OK;
}

int bs_http_respond_json_text(struct bs_http_request *req, unsigned status,
                              const char *json)
{
    if (!json)
        return BS_EINVAL;
    return bs_http_respond(req, status, "application/json", json, strlen(json));
}

int bs_http_respond_json(struct bs_http_request *req, unsigned status,
                         const json_t *body)
{
    struct bs__http_exchange *ex = exchange_of(req);
    char *text;

    if (!body || !answer_allowed(ex, status))
        return BS_EINVAL;

    text = json_dumps(body, JSON_COMPACT | JSON_ENCODE_ANY);
    if (!text)
        return BS_ENOMEM;
    bs__http_exchange_answer_owned(ex, status, "application/json", text,
                                   strlen(text));
    return BS_OK;
}

/* {"error":{"code":..,"message":..,"request_id":..}} as a new object. */
static json_t *error_body(const char *code, const char *message,
                          const char *request_id)
{
    return json_pack("{s:{s:s,s:s,s:s}}", "error", "code", code, "message",
                     message, "request_id", request_id);
}

int bs_http_respond_error(struct bs_http_request *req, unsigned status,
                          const char *code, const char *message)
{
    json_t *body;
    int result;

    if (!code || !message)
        return BS_EINVAL;
    body = error_body(code, message, req->request_id);
    if (!body)
        return BS_ENOMEM;
    result = bs_http_respond_json(req, status, body);
    json_decref(body);
    return result;
}

void bs__http_exchange_error(struct bs__http_exchange *ex, unsigned status,
                             const char *code, const char *message)
{
    /* Replaces anything set before: the layer's own errors win. */
    ex->responded = false;
    if (bs_http_respond_error(&ex->req, status, code, message) == BS_OK)
        return;

    /* Out of memory: a fixed body still says what happened. */
    ex->responded = false;
    bs_http_respond_json_text(&ex->req, status,
                              "{\"error\":{\"code\":\"internal_error\"}}");
}

static bool header_name_valid(const char *name)
{
    static const char *const reserved[] = {"Content-Type", "Content-Length",
                                           "X-Product", "X-Request-Id"};

    if (!name || !name[0] || strlen(name) > 64)
        return false;
    for (const char *p = name; *p; p++)
        if (!is_param_char(*p) && *p != '-')
            return false;
    for (size_t i = 0; i < sizeof(reserved) / sizeof(reserved[0]); i++)
        if (strcasecmp(name, reserved[i]) == 0)
            return false;
    return true;
}

int bs_http_response_header(struct bs_http_request *req, const char *name,
                            const char *value)
{
    struct bs__http_exchange *ex = exchange_of(req);
    struct bs__http_header *header;

    if (!header_name_valid(name) || !value || !text_valid(value, 4096) ||
        ex->header_count >= BS_HTTP_MAX_RESPONSE_HEADERS)
        return BS_EINVAL;

    header = &ex->headers[ex->header_count];
    header->name = strdup(name);
    header->value = strdup(value);
    if (!header->name || !header->value) {
        free(header->name);
        free(header->value);
        return BS_ENOMEM;
    }
    ex->header_count++;
    return BS_OK;
}
