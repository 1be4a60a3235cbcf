/*
 * embedder.c - choosing an embedder from the configuration, dispatching to
 * it, and the vector helpers every implementation shares.
 *
 * Reads EMBEDDER and the EMBEDDINGS_* variables (BS_EMBEDDER_CONFIG_VARS),
 * checks every number and required value up front so a misconfigured
 * program refuses to start (BS_ECONFIG) instead of failing per document.
 * Makes no network call. Never puts the API key in errstr.
 */
#include "bs/embedder.h"
#include "bs/error.h"

#include "embedder_impl.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

#define DIM_MAX        65536L
#define TIMEOUT_MS_MAX 600000L
#define RETRIES_MAX    20L
#define BATCH_MAX      2048L

static int openai_from_config(const struct bs_config *config, long dimension,
                              struct bs_embedder **out, char *errstr,
                              size_t errstr_size)
{
    struct bs__openai_params params = {0};
    long timeout_ms, retries, batch;
    int result;

    params.url = bs_config_get(config, "EMBEDDINGS_URL");
    params.model = bs_config_get(config, "EMBEDDINGS_MODEL");
    params.api_key = bs_config_get(config, "EMBEDDINGS_API_KEY");
    if (!params.url || !*params.url)
        return bs_fail(errstr, errstr_size, BS_ECONFIG,
                       "EMBEDDER=openai needs EMBEDDINGS_URL");
    if (!params.model || !*params.model)
        return bs_fail(errstr, errstr_size, BS_ECONFIG,
                       "EMBEDDER=openai needs EMBEDDINGS_MODEL");
    if (params.api_key && !*params.api_key)
        params.api_key = NULL;

    result =
        bs_config_get_number(config, "EMBEDDINGS_TIMEOUT_MS", 1, TIMEOUT_MS_MAX,
                             &timeout_ms, errstr, errstr_size);
    if (result == BS_OK)
        result =
            bs_config_get_number(config, "EMBEDDINGS_MAX_RETRIES", 0,
                                 RETRIES_MAX, &retries, errstr, errstr_size);
    if (result == BS_OK)
        result = bs_config_get_number(config, "EMBEDDINGS_BATCH_SIZE", 1,
                                      BATCH_MAX, &batch, errstr, errstr_size);
    if (result != BS_OK)
        return result;

    params.dimension = (size_t)dimension;
    params.timeout_ms = timeout_ms;
    params.max_retries = retries;
    params.batch_size = (size_t)batch;
    return bs__embedder_new_openai(&params, out, errstr, errstr_size);
}

int bs_embedder_from_config(const struct bs_config *config,
                            struct bs_embedder **out, char *errstr,
                            size_t errstr_size)
{
    const char *kind = bs_config_get(config, "EMBEDDER");
    long dimension;
    int result;

    *out = NULL;
    if (!kind || !*kind)
        kind = "hash";
    result = bs_config_get_number(config, "EMBEDDINGS_DIM", 1, DIM_MAX,
                                  &dimension, errstr, errstr_size);
    if (result != BS_OK)
        return result;

    if (strcmp(kind, "hash") == 0) {
        result =
            bs_embedder_new_hash((size_t)dimension, out, errstr, errstr_size);
        /* a bad dimension is the configuration's fault here */
        return result == BS_EINVAL ? BS_ECONFIG : result;
    }
    if (strcmp(kind, "openai") == 0)
        return openai_from_config(config, dimension, out, errstr, errstr_size);
    return bs_fail(errstr, errstr_size, BS_ECONFIG,
                   "EMBEDDER='%s' is not hash or openai", kind);
}

const char *bs_embedder_model(const struct bs_embedder *embedder)
{
    return embedder->model;
}

size_t bs_embedder_dimension(const struct bs_embedder *embedder)
{
    return embedder->dimension;
}

int bs_embedder_embed(struct bs_embedder *embedder, const char *const *texts,
                      size_t count, float *vectors, char *errstr,
                      size_t errstr_size)
{
    if (count == 0)
        return BS_OK;
    if (!texts || !vectors)
        return bs_fail(errstr, errstr_size, BS_EINVAL, "no texts to embed");
    for (size_t i = 0; i < count; i++)
        if (!texts[i])
            return bs_fail(errstr, errstr_size, BS_EINVAL,
                           "text %zu of %zu is NULL", i, count);
    return embedder->ops->embed(embedder, texts, count, vectors, errstr,
                                errstr_size);
}

void bs_embedder_free(struct bs_embedder *embedder)
{
    if (embedder)
        embedder->ops->free(embedder);
}

float bs_embedding_cosine(const float *a, const float *b, size_t dimension)
{
    float sum = 0.0f;

    for (size_t i = 0; i < dimension; i++)
        sum += a[i] * b[i];
    return sum;
}

void bs__embedding_normalize(float *v, size_t dimension)
{
    double sum = 0.0;
    float scale;

    for (size_t i = 0; i < dimension; i++)
        sum += (double)v[i] * v[i];
    if (!(sum > 0.0) || sum > 1e300)
        return;
    scale = (float)(1.0 / sqrt(sum)); /* IEEE: correctly rounded */
    for (size_t i = 0; i < dimension; i++)
        v[i] *= scale;
}
