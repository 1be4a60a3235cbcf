/*
 * embedder.h - text to vectors, behind one interface.
 *
 * EMBEDDER chooses the implementation:
 *   hash    (default) a deterministic lexical embedding computed here: text
 *           Unicode-normalized (NFKC) and case-folded with utf8proc, word
 *           and character n-grams hashed into `dimension` buckets, weighted,
 *           L2-normalized. Same text, same vector on every machine; needs
 *           nothing running.
 *   openai  any OpenAI-compatible POST {EMBEDDINGS_URL} (/v1/embeddings) over
 *           libcurl: batched inputs, a timeout, retries with exponential
 *           backoff and jitter on 429/5xx honouring Retry-After, the
 *           dimension checked against EMBEDDINGS_DIM; a data-error-shaped
 *           failure is checked with a probe input, so a misconfigured
 *           endpoint is not blamed on the documents (below).
 *
 * The model name (bs_embedder_model) is stored with every embedding row:
 * for hash it records the variant and the dimension ("hash-v1-d256"), for
 * openai it is "openai:" EMBEDDINGS_MODEL "/" dimension. Vectors of two
 * different model names are never compared.
 *
 * Vectors are L2-normalized floats (cosine similarity = dot product); a text
 * with nothing to embed is the zero vector.
 */
#ifndef BS_EMBEDDER_H
#define BS_EMBEDDER_H

#include <stddef.h>

#include "bs/config.h"

/* Entries for a program's bs_config_var table (services and bsctl that
 * embed or need the current model name). */
#define BS_EMBEDDER_CONFIG_VARS                                                \
    {"EMBEDDER", "hash", 0, "embedding implementation: hash or openai"},       \
        {"EMBEDDINGS_DIM", "256", 0,                                           \
         "vector dimension (hash: buckets; openai: checked on every answer)"}, \
        {"EMBEDDINGS_URL", NULL, 0,                                            \
         "openai: endpoint, e.g. http://127.0.0.1:11434/v1/embeddings"},       \
        {"EMBEDDINGS_MODEL", NULL, 0, "openai: the model to ask for"},         \
        {"EMBEDDINGS_API_KEY", NULL, BS_CONFIG_SECRET,                         \
         "openai: bearer token (optional)"},                                   \
        {"EMBEDDINGS_TIMEOUT_MS", "10000", 0,                                  \
         "openai: timeout of one request"},                                    \
        {"EMBEDDINGS_MAX_RETRIES", "5", 0,                                     \
         "openai: retries on 429/5xx/network errors before giving up"},        \
    {                                                                          \
        "EMBEDDINGS_BATCH_SIZE", "64", 0, "openai: most inputs per request"    \
    }

struct bs_embedder;

/*
 * Creates the embedder the configuration names (the variables above must be
 * in the program's table). Makes no network call. Returns BS_OK, or
 * BS_ECONFIG with a line in errstr (never the API key), or BS_ENOMEM.
 */
int bs_embedder_from_config(const struct bs_config *config,
                            struct bs_embedder **out, char *errstr,
                            size_t errstr_size);

/* The hash embedder with `dimension` buckets, 16 to 65536 (tests,
 * benchmarks, tools). BS_EINVAL outside that range. */
int bs_embedder_new_hash(size_t dimension, struct bs_embedder **out,
                         char *errstr, size_t errstr_size);

/* Stable model name, e.g. "hash-v1-d256"; valid while the embedder lives. */
const char *bs_embedder_model(const struct bs_embedder *embedder);

size_t bs_embedder_dimension(const struct bs_embedder *embedder);

/*
 * Embeds texts[0..count) into vectors, count * dimension floats, row i for
 * texts[i] (the caller allocates). Thread-safe for the hash embedder; an
 * openai embedder is used by one thread at a time. Returns:
 *   BS_OK
 *   BS_EINVAL        these inputs can never be embedded: a data error (the
 *                    caller dead-letters them). Invalid UTF-8; or (openai)
 *                    the endpoint refused them with a 4xx other than
 *                    401/403/404/408/429, or answered with a malformed or
 *                    non-JSON body, a wrong count, mixed dimensions or
 *                    numbers that are not floats, AND then embedded a
 *                    known-good probe input correctly: the endpoint works,
 *                    so the failure is these inputs'.
 *   BS_EUNAVAILABLE  the endpoint or its configuration is at fault, not the
 *                    documents: an infrastructure error (the caller pauses
 *                    and retries; nothing is dead-lettered). The endpoint
 *                    stayed unreachable, timed out or answered 429/5xx
 *                    through every retry; or answered 1xx/3xx/401/403/404
 *                    (a wrong key or URL); or every vector has one
 *                    dimension other than EMBEDDINGS_DIM (errstr names
 *                    both); or a failure of the BS_EINVAL kind above
 *                    happened to the probe input too ("embeddings endpoint
 *                    misconfigured: ...", e.g. an unknown model, a proxy's
 *                    HTML page). Nothing is remembered between calls: the
 *                    first call after the endpoint is fixed succeeds.
 *   BS_ENOMEM
 * with a line in errstr (no input text, no key).
 */
int bs_embedder_embed(struct bs_embedder *embedder, const char *const *texts,
                      size_t count, float *vectors, char *errstr,
                      size_t errstr_size);

void bs_embedder_free(struct bs_embedder *embedder);

/* Dot product of two L2-normalized vectors of `dimension` floats. */
float bs_embedding_cosine(const float *a, const float *b, size_t dimension);

#endif
