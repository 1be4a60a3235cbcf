/*
 * faq-indexer - <product>.faq into faq_documents and faq_embeddings, for
 * one product.
 *
 * Start-up (configuration, the embedder, metrics, the consumer pipeline,
 * the HTTP server for /healthz, /readyz and /metrics), consume until
 * SIGTERM or SIGINT, finish the batch in progress, leave the group, exit 0.
 * A configuration error exits 2 with one line on stderr. How an event
 * becomes rows and vectors is indexer.c; batches, offsets and dead letters
 * are bs/consumer.h. See docs/faq-indexer.md.
 */
#include "indexer.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#include "bs/config.h"
#include "bs/consumer.h"
#include "bs/embedder.h"
#include "bs/error.h"
#include "bs/http.h"
#include "bs/log.h"
#include "bs/signals.h"

#define EXIT_CONFIG      2
#define DRAIN_TIMEOUT_MS 10000
#define WAIT_SLICE_MS    500

static const char usage[] =
    "usage: faq-indexer\n"
    "\n"
    "Consumes FaqDocumentEvents from <PRODUCT>.faq: writes the product's\n"
    "faq_documents rows, chunks and embeds their text into faq_embeddings\n"
    "and bumps faq_index_state.generation. Configured by the environment\n"
    "only.";

static const struct bs_config_var vars[] = {
    {"DATABASE_URL", NULL, BS_CONFIG_REQUIRED | BS_CONFIG_CONNINFO,
     "PostgreSQL connection (the bs_service role)"},
    {"KAFKA_BOOTSTRAP_SERVERS", NULL, BS_CONFIG_REQUIRED, "broker list"},
    {"HTTP_ADDR", "127.0.0.1", 0, "address for /healthz /readyz /metrics"},
    {"HTTP_PORT", "8031", 0, "port for /healthz /readyz /metrics (0: any)"},
    {"CONSUMER_GROUP", NULL, 0, "consumer group (default <service>-<product>)"},
    {"BATCH_SIZE", "500", 0, "most events applied in one transaction"},
    {"BATCH_WAIT_MS", "100", 0, "longest wait to fill a batch"},
    BS_EMBEDDER_CONFIG_VARS,
};

/* Everything main() creates, freed in reverse order by service_free(). */
struct service {
    struct indexer indexer;
    struct bs_metrics *metrics;
    struct bs_consumer *consumer;
    struct bs_http_server *server;
    pthread_t thread;
    bool thread_started;
    atomic_bool finished; /* the consumer thread has returned */
};

static int number(const struct bs_program *program, const char *name, long min,
                  long max, long *out, char *errstr, size_t size)
{
    return bs_config_get_number(program->config, name, min, max, out, errstr,
                                size);
}

static bool ready(void *ctx, json_t *not_ready)
{
    struct service *service = ctx;

    if (bs_consumer_ready(service->consumer))
        return true;
    json_object_set_new(not_ready, "pipeline",
                        json_string("database or broker unavailable"));
    return false;
}

/* The embedder from EMBEDDER & co., handed to the indexer. */
static int start_indexer(struct service *service,
                         const struct bs_program *program, char *errstr,
                         size_t size)
{
    struct bs_embedder *embedder = NULL;
    int result;

    result = bs_embedder_from_config(program->config, &embedder, errstr, size);
    if (result != BS_OK)
        return result;
    bs_log_info("embedder model=%s dimension=%zu chunker_version=%d",
                bs_embedder_model(embedder), bs_embedder_dimension(embedder),
                BS_CHUNKER_VERSION);
    return indexer_init(&service->indexer, program->product, embedder,
                        service->metrics, errstr, size);
}

static int start_consumer(struct service *service,
                          const struct bs_program *program, char *errstr,
                          size_t size)
{
    struct bs_consumer_config config = {
        .bootstrap = bs_config_get(program->config, "KAFKA_BOOTSTRAP_SERVERS"),
        .service = INDEXER_SERVICE,
        .product = program->product,
        .group_id = bs_config_get(program->config, "CONSUMER_GROUP"),
        .topic_kinds = BS_LABELS("faq"),
        .conninfo = bs_config_get(program->config, "DATABASE_URL"),
        .metrics = service->metrics,
    };
    long batch_size, batch_wait;
    int result;

    result =
        number(program, "BATCH_SIZE", 1, 100000, &batch_size, errstr, size);
    if (result == BS_OK)
        result = number(program, "BATCH_WAIT_MS", 1, 60000, &batch_wait, errstr,
                        size);
    if (result == BS_OK)
        result = start_indexer(service, program, errstr, size);
    if (result != BS_OK)
        return result;
    config.batch_size = (int)batch_size;
    config.batch_wait_ms = (int)batch_wait;
    config.handler = indexer_handler(&service->indexer);
    return bs_consumer_new(&service->consumer, &config, errstr, size);
}

static int start_http(struct service *service, const struct bs_program *program,
                      char *errstr, size_t size)
{
    struct bs_http_config config = {
        .address = bs_config_get(program->config, "HTTP_ADDR"),
        .product = program->product,
        .service = INDEXER_SERVICE,
        .ctx = service,
        .metrics = service->metrics,
        .builtin_endpoints = true,
        .ready = ready,
    };
    long port;
    int result;

    result = number(program, "HTTP_PORT", 0, 65535, &port, errstr, size);
    if (result != BS_OK)
        return result;
    config.port = (unsigned)port;
    result = bs_http_server_start(&config, &service->server, errstr, size);
    if (result == BS_OK)
        bs_log_info("http_listening port=%u",
                    bs_http_server_port(service->server));
    return result;
}

static void *consume(void *arg)
{
    struct service *service = arg;

    bs_consumer_run(service->consumer);
    atomic_store(&service->finished, true);
    return NULL;
}

/* Until SIGTERM/SIGINT (or the consumer thread ending on its own). */
static void wait_for_shutdown(struct service *service)
{
    int sig = 0;

    while (sig == 0 && !atomic_load(&service->finished))
        sig = bs_signals_wait_for_shutdown(WAIT_SLICE_MS);
    bs_log_info("shutdown signal=%d", sig);
}

/* Stops consuming (the batch in progress finishes), then the rest. */
static void service_free(struct service *service)
{
    if (service->thread_started) {
        bs_consumer_stop(service->consumer);
        pthread_join(service->thread, NULL);
    }
    if (service->server)
        bs_http_server_drain(service->server, DRAIN_TIMEOUT_MS);
    bs_http_server_free(service->server);
    bs_consumer_free(service->consumer);
    indexer_free(&service->indexer);
    bs_metrics_free(service->metrics);
}

int main(int argc, char **argv)
{
    struct bs_program program;
    struct service service = {0};
    char errstr[512];
    int exit_code;

    /* Before any thread exists: SIGTERM is waited for, not delivered. */
    if (bs_signals_block_shutdown() != BS_OK)
        return 1;
    if (!bs_program_start(&program, INDEXER_SERVICE, usage, vars,
                          sizeof(vars) / sizeof(vars[0]), argc, argv,
                          &exit_code))
        return exit_code;
    atomic_init(&service.finished, false);

    /* Start-up: the embedder, PostgreSQL, the broker, the HTTP endpoints. */
    exit_code = EXIT_CONFIG;
    service.metrics = bs_metrics_new(program.product, INDEXER_SERVICE);
    if (!service.metrics ||
        start_consumer(&service, &program, errstr, sizeof(errstr)) != BS_OK ||
        start_http(&service, &program, errstr, sizeof(errstr)) != BS_OK)
        goto out;
    if (pthread_create(&service.thread, NULL, consume, &service) != 0) {
        snprintf(errstr, sizeof(errstr), "cannot start the consumer thread");
        goto out;
    }
    service.thread_started = true;

    /* Serve until asked to stop. */
    wait_for_shutdown(&service);
    exit_code = 0;
out:
    if (exit_code != 0)
        bs_log_error("start_failed error=\"%s\"",
                     service.metrics ? errstr : "out of memory");
    service_free(&service);
    bs_program_end(&program);
    return exit_code;
}
