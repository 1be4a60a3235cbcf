/*
 * audit-writer - one chained audit_log row per event of a product's users,
 * faq and audit topics.
 *
 * The process's life (configuration, metrics, the consumer pipeline, the
 * HTTP server for /healthz, /readyz and /metrics, shutdown on SIGTERM or
 * SIGINT after the batch in progress) is bs/consumer_service.h. The
 * pipeline callbacks are writer.c; mapping and chaining are bs/audit.h.
 */
#include "writer.h"

#include "bs/consumer_service.h"
#include "bs/error.h"

static const char usage[] =
    "usage: audit-writer\n"
    "\n"
    "Appends one row per event of <PRODUCT>.users, <PRODUCT>.faq and\n"
    "<PRODUCT>.audit to the product's hash-chained audit_log. Configured by\n"
    "the environment only.";

static int init(void *state, const struct bs_program *program,
                struct bs_metrics *metrics, struct bs_consumer_handler *handler,
                char *errstr, size_t size)
{
    struct writer *writer = state;
    int result;

    (void)program;
    (void)metrics;
    result = writer_init(writer, errstr, size);
    if (result == BS_OK)
        *handler = writer_handler(writer);
    return result;
}

static void cleanup(void *state)
{
    writer_free(state);
}

int main(int argc, char **argv)
{
    struct writer writer = {0};
    const struct bs_consumer_service service = {
        .name = WRITER_SERVICE,
        .usage = usage,
        .default_http_port = "8041",
        .topic_kinds = BS_LABELS("users", "faq", "audit"),
        .state = &writer,
        .init = init,
        .cleanup = cleanup,
    };

    return bs_consumer_service_main(&service, argc, argv);
}
