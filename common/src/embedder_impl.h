/*
 * embedder_impl.h - what embedder.c (config, dispatch) shares with the
 * implementations (embedder_hash.c, embedder_openai.c). Internal to
 * libbs_common.
 *
 * Each implementation embeds struct bs_embedder as its first member and
 * fills in the operations; embedder.c only calls through them.
 */
#ifndef BS_EMBEDDER_IMPL_H
#define BS_EMBEDDER_IMPL_H

#include "bs/embedder.h"

#include <stddef.h>

#define BS__EMBEDDER_MODEL_MAX 256

struct bs__embedder_ops {
    /* texts are non-NULL; vectors hold count * dimension floats */
    int (*embed)(struct bs_embedder *embedder, const char *const *texts,
                 size_t count, float *vectors, char *errstr,
                 size_t errstr_size);
    void (*free)(struct bs_embedder *embedder);
};

struct bs_embedder {
    const struct bs__embedder_ops *ops;
    size_t dimension;
    char model[BS__EMBEDDER_MODEL_MAX];
};

/* What the openai embedder is built from (already validated numbers). */
struct bs__openai_params {
    const char *url;
    const char *model;
    const char *api_key; /* NULL: no Authorization header */
    size_t dimension;
    long timeout_ms;
    long max_retries;
    size_t batch_size;
};

int bs__embedder_new_openai(const struct bs__openai_params *params,
                            struct bs_embedder **out, char *errstr,
                            size_t errstr_size);

/* Scales v to unit length; leaves a zero vector as it is. */
void bs__embedding_normalize(float *v, size_t dimension);

#endif
