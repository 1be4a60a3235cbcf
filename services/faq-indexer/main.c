/*
 * faq-indexer - <product>.faq into faq_documents and faq_embeddings, for
 * one product.
 *
 * The process's life (configuration, metrics, the consumer pipeline, the
 * HTTP server for /healthz, /readyz and /metrics, shutdown on SIGTERM or
 * SIGINT after the batch in progress) is bs/consumer_service.h; this file
 * adds the embedder. How an event becomes rows and vectors is indexer.c;
 * batches, offsets and dead letters are bs/consumer.h. See
 * docs/faq-indexer.md.
 */
#include "indexer.h"

#include "bs/consumer_service.h"
#include "bs/embedder.h"
#include "bs/error.h"
#include "bs/log.h"

static const char usage[] =
    "usage: faq-indexer\n"
    "\n"
    "Consumes FaqDocumentEvents from <PRODUCT>.faq: writes the product's\n"
    "faq_documents rows, chunks and embeds their text into faq_embeddings\n"
    "and bumps faq_index_state.generation. Configured by the environment\n"
    "only.";

static const struct bs_config_var vars[] = {BS_EMBEDDER_CONFIG_VARS};

/* The embedder from EMBEDDER & co., handed to the indexer. */
static int init(void *state, const struct bs_program *program,
                struct bs_metrics *metrics, struct bs_consumer_handler *handler,
                char *errstr, size_t size)
{
    struct indexer *indexer = state;
    struct bs_embedder *embedder = NULL;
    int result;

    result = bs_embedder_from_config(program->config, &embedder, errstr, size);
    if (result != BS_OK)
        return result;
    bs_log_info("embedder model=%s dimension=%zu chunker_version=%d",
                bs_embedder_model(embedder), bs_embedder_dimension(embedder),
                BS_CHUNKER_VERSION);

    result = indexer_init(indexer, program->product, embedder, metrics, errstr,
                          size);
    if (result == BS_OK)
        *handler = indexer_handler(indexer);
    return result;
}

static void cleanup(void *state)
{
    indexer_free(state);
}

int main(int argc, char **argv)
{
    struct indexer indexer = {0};
    const struct bs_consumer_service service = {
        .name = INDEXER_SERVICE,
        .usage = usage,
        .default_http_port = "8031",
        .topic_kinds = BS_LABELS("faq"),
        .vars = vars,
        .var_count = sizeof(vars) / sizeof(vars[0]),
        .state = &indexer,
        .init = init,
        .cleanup = cleanup,
    };

    return bs_consumer_service_main(&service, argc, argv);
}
