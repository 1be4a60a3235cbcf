/*
 * embed_server.c - the fake /v1/embeddings endpoint of embed_server.h.
 *
 * MHD calls on_request once when a request's headers are in (the request
 * is numbered and recorded then), once per piece of body, and once more
 * with nothing left: the answer is chosen and sent then, from the script
 * and the refuse marker, under the lock.
 */
#include "embed_server.h"

#include <arpa/inet.h>
#include <jansson.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define SCRIPT_MAX 32

struct bs_embed_server {
    struct MHD_Daemon *daemon;
    unsigned short port;
    size_t dimension;
    pthread_mutex_t lock;
    enum bs_embed_answer script[SCRIPT_MAX]; /* for requests 1, 2, ... */
    size_t script_len;
    enum bs_embed_answer otherwise; /* after the script */
    char *marker;                   /* refuse inputs containing it */
    size_t requests;
    size_t refused;
    struct bs_embed_request seen[BS_EMBED_SEEN_MAX];
};

/* One request being received. */
struct upload {
    char *data;
    size_t len;
    size_t request; /* 0-based number since the last script */
    char authorization[128];
    bool no_memory;
};

static double now_seconds(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static enum MHD_Result send_text(struct MHD_Connection *connection,
                                 unsigned status, const char *type,
                                 const char *text, const char *retry_after)
{
    struct MHD_Response *response = MHD_create_response_from_buffer(
        strlen(text), (void *)text, MHD_RESPMEM_MUST_COPY);
    enum MHD_Result result;

    if (!response)
        return MHD_NO;
    MHD_add_response_header(response, "Content-Type", type);
    if (retry_after)
        MHD_add_response_header(response, "Retry-After", retry_after);
    result = MHD_queue_response(connection, status, response);
    MHD_destroy_response(response);
    return result;
}

static enum MHD_Result send_json(struct MHD_Connection *connection,
                                 unsigned status, const char *text)
{
    return send_text(connection, status, "application/json", text, NULL);
}

/* Where the canned vector of `input` has its one value. */
static size_t hot_position(const char *input, size_t dimension)
{
    uint64_t hash = UINT64_C(14695981039346656037);

    if (input[0] == 't' && input[1] >= '0' && input[1] <= '9' &&
        input[1 + strspn(input + 1, "0123456789")] == '\0')
        return (size_t)strtoul(input + 1, NULL, 10) % dimension;
    for (const char *p = input; *p; p++)
        hash = (hash ^ (unsigned char)*p) * UINT64_C(1099511628211);
    return (size_t)(hash % dimension);
}

/* {"data":[...]} for `inputs`, in reverse order (caller frees). */
static char *canned_answer(const json_t *inputs, size_t dimension,
                           enum bs_embed_answer answer)
{
    size_t count = json_array_size(inputs);
    size_t items =
        answer == BS_EMBED_WRONG_COUNT && count > 0 ? count - 1 : count;
    json_t *data = json_array(), *root;
    char *text;

    for (size_t n = 0; n < items; n++) {
        size_t i = count - 1 - n;
        const char *input = json_string_value(json_array_get(inputs, i));
        size_t hot = hot_position(input ? input : "", dimension);
        size_t width = dimension;
        json_t *embedding = json_array();

        if (answer == BS_EMBED_WRONG_DIM ||
            (answer == BS_EMBED_MIXED_DIM && n == 0))
            width = dimension + 1;
        else if (answer == BS_EMBED_EMPTY_DIM)
            width = 0;
        for (size_t d = 0; d < width; d++)
            json_array_append_new(embedding, json_real(d == hot ? 2.0 : 0));
        json_array_append_new(
            data, json_pack("{s:s, s:I, s:o}", "object", "embedding", "index",
                            (json_int_t)i, "embedding", embedding));
    }
    root = json_pack("{s:s, s:o, s:s}", "object", "list", "data", data, "model",
                     "fake");
    text = root ? json_dumps(root, JSON_COMPACT) : NULL;
    json_decref(root);
    return text;
}

static bool contains_marker(const json_t *inputs, const char *marker)
{
    size_t i;
    const json_t *input;

    if (!marker)
        return false;
    json_array_foreach(inputs, i, input)
    {
        const char *text = json_string_value(input);

        if (text && strstr(text, marker))
            return true;
    }
    return false;
}

/* Chooses and sends the answer to a fully received request. */
static enum MHD_Result answer_request(struct bs_embed_server *s,
                                      struct MHD_Connection *connection,
                                      const struct upload *upload)
{
    json_t *body =
        json_loadb(upload->data ? upload->data : "", upload->len, 0, NULL);
    const json_t *inputs = json_object_get(body, "input");
    const char *model = json_string_value(json_object_get(body, "model"));
    enum bs_embed_answer answer;
    enum MHD_Result result;
    bool refused;
    char *text;

    pthread_mutex_lock(&s->lock);
    answer = upload->request < s->script_len ? s->script[upload->request]
                                             : s->otherwise;
    refused = contains_marker(inputs, s->marker);
    if (refused)
        s->refused++;
    if (upload->request < BS_EMBED_SEEN_MAX) {
        struct bs_embed_request *seen = &s->seen[upload->request];

        seen->inputs = json_array_size(inputs);
        seen->refused = refused;
        snprintf(seen->model, sizeof(seen->model), "%s", model ? model : "");
    }
    pthread_mutex_unlock(&s->lock);

    if (refused)
        answer = BS_EMBED_400;
    switch (answer) {
    case BS_EMBED_500:
        result = send_json(connection, 500, "{\"error\":\"boom\"}");
        break;
    case BS_EMBED_503:
        result = send_text(connection, 503, "text/plain", "overloaded", NULL);
        break;
    case BS_EMBED_429:
        result = send_text(connection, 429, "application/json",
                           "{\"error\":\"slow down\"}", "1");
        break;
    case BS_EMBED_400:
        result =
            send_json(connection, 400,
                      refused ? "{\"error\":{\"message\":\"input refused\"}}"
                              : "{\"error\":{\"message\":\"input too long\"}}");
        break;
    case BS_EMBED_400_MODEL:
        result = send_json(connection, 400,
                           "{\"error\":{\"message\":\"model not found\","
                           "\"type\":\"invalid_request_error\"}}");
        break;
    case BS_EMBED_400_ECHO: {
        char echo[256];

        snprintf(echo, sizeof(echo),
                 "{\"error\":\"bad request, you sent: %s\"}",
                 upload->authorization);
        result = send_json(connection, 400, echo);
        break;
    }
    case BS_EMBED_401:
        result =
            send_json(connection, 401, "{\"error\":{\"message\":\"bad key\"}}");
        break;
    case BS_EMBED_TRUNCATED:
        result = send_json(connection, 200,
                           "{\"data\":[{\"index\":0,\"embedding\":[0.1,");
        break;
    case BS_EMBED_NOT_JSON:
        result = send_text(connection, 200, "text/html",
                           "<html><body>Please sign in</body></html>", NULL);
        break;
    case BS_EMBED_SLOW:
        usleep(BS_EMBED_SLOW_MS * 1000);
        /* fall through */
    default:
        text = canned_answer(inputs, s->dimension, answer);
        result = text ? send_json(connection, 200, text) : MHD_NO;
        free(text);
        break;
    }
    json_decref(body);
    return result;
}

/* Numbers and records a request whose headers are in. */
static struct upload *upload_new(struct bs_embed_server *s,
                                 struct MHD_Connection *connection)
{
    const char *auth = MHD_lookup_connection_value(connection, MHD_HEADER_KIND,
                                                   "Authorization");
    struct upload *upload = calloc(1, sizeof(*upload));

    if (!upload)
        return NULL;
    pthread_mutex_lock(&s->lock);
    snprintf(upload->authorization, sizeof(upload->authorization), "%s",
             auth ? auth : "(none)");
    upload->request = s->requests++;
    if (upload->request < BS_EMBED_SEEN_MAX) {
        struct bs_embed_request *seen = &s->seen[upload->request];

        memset(seen, 0, sizeof(*seen));
        seen->at = now_seconds();
        snprintf(seen->authorization, sizeof(seen->authorization), "%s",
                 auth ? auth : "(none)");
    }
    pthread_mutex_unlock(&s->lock);
    return upload;
}

static void upload_free(struct upload *upload)
{
    if (upload) {
        free(upload->data);
        free(upload);
    }
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *connection,
                                  const char *url, const char *method,
                                  const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    struct bs_embed_server *s = cls;
    struct upload *upload = *con_cls;
    enum MHD_Result result;

    (void)url, (void)method, (void)version;
    if (!upload) {
        *con_cls = upload = upload_new(s, connection);
        return upload ? MHD_YES : MHD_NO;
    }
    if (*upload_data_size > 0) {
        char *grown = realloc(upload->data, upload->len + *upload_data_size);

        if (!grown)
            return MHD_NO;
        memcpy(grown + upload->len, upload_data, *upload_data_size);
        upload->data = grown;
        upload->len += *upload_data_size;
        *upload_data_size = 0;
        return MHD_YES;
    }
    result = answer_request(s, connection, upload);
    upload_free(upload);
    *con_cls = NULL;
    return result;
}

/* A request abandoned half-way (the client timed out): free its upload. */
static void on_completed(void *cls, struct MHD_Connection *connection,
                         void **con_cls, enum MHD_RequestTerminationCode code)
{
    (void)cls, (void)connection, (void)code;
    upload_free(*con_cls);
    *con_cls = NULL;
}

int bs_embed_server_start(size_t dimension, struct bs_embed_server **out)
{
    struct sockaddr_in addr = {0};
    const union MHD_DaemonInfo *info;
    struct bs_embed_server *s = calloc(1, sizeof(*s));

    *out = NULL;
    if (!s || dimension == 0) {
        free(s);
        return -1;
    }
    s->dimension = dimension;
    pthread_mutex_init(&s->lock, NULL);
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    s->daemon = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION, 0,
        NULL, NULL, on_request, s, MHD_OPTION_SOCK_ADDR, &addr,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, s, MHD_OPTION_END);
    info = s->daemon ? MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_BIND_PORT)
                     : NULL;
    s->port = info ? info->port : 0;
    if (!s->port) {
        bs_embed_server_stop(s);
        return -1;
    }
    *out = s;
    return 0;
}

void bs_embed_server_stop(struct bs_embed_server *server)
{
    if (!server)
        return;
    if (server->daemon)
        MHD_stop_daemon(server->daemon);
    pthread_mutex_destroy(&server->lock);
    free(server->marker);
    free(server);
}

unsigned short bs_embed_server_port(const struct bs_embed_server *server)
{
    return server->port;
}

const char *bs_embed_server_url(const struct bs_embed_server *server, char *buf,
                                size_t size)
{
    snprintf(buf, size, "http://127.0.0.1:%u/v1/embeddings",
             (unsigned)server->port);
    return buf;
}

void bs_embed_server_script(struct bs_embed_server *server,
                            enum bs_embed_answer otherwise, size_t n,
                            const enum bs_embed_answer *answers)
{
    pthread_mutex_lock(&server->lock);
    server->requests = 0;
    server->refused = 0;
    server->otherwise = otherwise;
    server->script_len = n < SCRIPT_MAX ? n : SCRIPT_MAX;
    for (size_t i = 0; i < server->script_len; i++)
        server->script[i] = answers[i];
    memset(server->seen, 0, sizeof(server->seen));
    pthread_mutex_unlock(&server->lock);
}

void bs_embed_server_refuse(struct bs_embed_server *server, const char *marker)
{
    char *copy = marker ? strdup(marker) : NULL;

    pthread_mutex_lock(&server->lock);
    free(server->marker);
    server->marker = copy;
    pthread_mutex_unlock(&server->lock);
}

size_t bs_embed_server_requests(struct bs_embed_server *server)
{
    size_t n;

    pthread_mutex_lock(&server->lock);
    n = server->requests;
    pthread_mutex_unlock(&server->lock);
    return n;
}

size_t bs_embed_server_refused(struct bs_embed_server *server)
{
    size_t n;

    pthread_mutex_lock(&server->lock);
    n = server->refused;
    pthread_mutex_unlock(&server->lock);
    return n;
}

bool bs_embed_server_request(struct bs_embed_server *server, size_t i,
                             struct bs_embed_request *out)
{
    bool found;

    pthread_mutex_lock(&server->lock);
    found = i < server->requests && i < BS_EMBED_SEEN_MAX;
    if (found)
        *out = server->seen[i];
    pthread_mutex_unlock(&server->lock);
    return found;
}
