/*
 * user-projector - <product>.users into the users table, for one product.
 *
 * The process's life (configuration, metrics, the consumer pipeline, the
 * HTTP server for /healthz, /readyz and /metrics, shutdown on SIGTERM or
 * SIGINT after the batch in progress) is bs/consumer_service.h. How an
 * event becomes rows is projector.c; batches, offsets and dead letters are
 * bs/consumer.h.
 */
#include "projector.h"

#include "bs/consumer_service.h"
#include "bs/error.h"

static const char usage[] =
    "usage: user-projector\n"
    "\n"
    "Consumes UserEvents from <PRODUCT>.users and applies them to the\n"
    "product's users and webhook_events rows. Configured by the environment\n"
    "only.";

static int init(void *state, const struct bs_program *program,
                struct bs_metrics *metrics, struct bs_consumer_handler *handler,
                char *errstr, size_t size)
{
    struct projector *projector = state;
    int result;

    (void)program;
    (void)metrics;
    result = projector_init(projector, errstr, size);
    if (result == BS_OK)
        *handler = projector_handler(projector);
    return result;
}

static void cleanup(void *state)
{
    projector_free(state);
}

int main(int argc, char **argv)
{
    struct projector projector = {0};
    const struct bs_consumer_service service = {
        .name = PROJECTOR_SERVICE,
        .usage = usage,
        .default_http_port = "8021",
        .topic_kinds = BS_LABELS("users"),
        .state = &projector,
        .init = init,
        .cleanup = cleanup,
    };

    return bs_consumer_service_main(&service, argc, argv);
}
