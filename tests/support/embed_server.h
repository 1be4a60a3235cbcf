/*
 * embed_server.h - a fake OpenAI-compatible POST /v1/embeddings endpoint
 * for tests: libmicrohttpd on its own threads, a free port on 127.0.0.1.
 *
 * It answers what the test scripts: canned vectors, 5xx, 429 with
 * Retry-After, 400s, 401, slow answers, truncated JSON, an HTML page, wrong
 * dimensions and counts. A "refuse marker" makes it answer 400 to any
 * request one of whose inputs contains that text, however the rest is
 * scripted to go. It records what it saw (inputs per request, when, the
 * Authorization header, the model asked for).
 *
 * Canned vectors: the input "t<k>" gets 2.0 at position k % dimension, any
 * other input at a position hashed from its text, 0 elsewhere; answers list
 * the items in reverse order, so a client must put them back by "index"
 * and normalize them (to 1.0).
 *
 * Nothing here asserts; the test decides.
 */
#ifndef BS_TEST_EMBED_SERVER_H
#define BS_TEST_EMBED_SERVER_H

#include <stdbool.h>
#include <stddef.h>

/* How long BS_EMBED_SLOW waits before answering. */
#define BS_EMBED_SLOW_MS 1200

/* The answers kept for bs_embed_server_request(). */
#define BS_EMBED_SEEN_MAX 64

enum bs_embed_answer {
    BS_EMBED_OK,          /* 200, the canned vectors */
    BS_EMBED_500,         /* 500 {"error":"boom"} */
    BS_EMBED_503,         /* 503 overloaded (not JSON) */
    BS_EMBED_429,         /* 429 with Retry-After: 1 */
    BS_EMBED_400,         /* 400 "input too long" */
    BS_EMBED_400_MODEL,   /* 400 "model not found" */
    BS_EMBED_400_ECHO,    /* 400 quoting the Authorization header back */
    BS_EMBED_401,         /* 401: a wrong API key */
    BS_EMBED_SLOW,        /* OK, after BS_EMBED_SLOW_MS */
    BS_EMBED_TRUNCATED,   /* 200 with half a JSON document */
    BS_EMBED_NOT_JSON,    /* 200 text/html, a proxy's page */
    BS_EMBED_WRONG_DIM,   /* dimension + 1 values in every embedding */
    BS_EMBED_MIXED_DIM,   /* the first item dimension + 1, the rest right */
    BS_EMBED_EMPTY_DIM,   /* every embedding [] */
    BS_EMBED_WRONG_COUNT, /* one embedding fewer than inputs */
};

/* What the server saw of one request. */
struct bs_embed_request {
    size_t inputs;           /* items of "input" */
    double at;               /* CLOCK_MONOTONIC seconds, on arrival */
    bool refused;            /* answered 400 for the refuse marker */
    char authorization[128]; /* "(none)" without the header */
    char model[64];
};

struct bs_embed_server;

/* Starts a server whose vectors have `dimension` values. 0, or -1. */
int bs_embed_server_start(size_t dimension, struct bs_embed_server **out);

void bs_embed_server_stop(struct bs_embed_server *server);

unsigned short bs_embed_server_port(const struct bs_embed_server *server);

/* Writes http://127.0.0.1:<port>/v1/embeddings into buf; returns buf. */
const char *bs_embed_server_url(const struct bs_embed_server *server, char *buf,
                                size_t size);

/* Forgets what was seen; requests 1..n get answers[0..n), every later one
 * `otherwise`. The refuse marker stays. */
void bs_embed_server_script(struct bs_embed_server *server,
                            enum bs_embed_answer otherwise, size_t n,
                            const enum bs_embed_answer *answers);

/* From now on a request with an input containing `marker` is answered 400
 * "input refused" (NULL: no marker). */
void bs_embed_server_refuse(struct bs_embed_server *server, const char *marker);

/* Requests since the last script. */
size_t bs_embed_server_requests(struct bs_embed_server *server);

/* Requests since the last script answered 400 for the refuse marker. */
size_t bs_embed_server_refused(struct bs_embed_server *server);

/* Request i (0-based, since the last script) into *out; false when there
 * was none or it is beyond BS_EMBED_SEEN_MAX. */
bool bs_embed_server_request(struct bs_embed_server *server, size_t i,
                             struct bs_embed_request *out);

#endif
