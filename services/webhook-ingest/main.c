/*
 * webhook-ingest - Clerk webhooks in, UserEvents out, for one product.
 *
 * Start-up (configuration, secrets, codec, metrics, publisher, HTTP server),
 * serve until SIGTERM or SIGINT, drain the requests in flight, flush the
 * producer, exit 0. A configuration error exits 2 with one line on stderr.
 * The webhook handling itself is in ingest.c.
 */
#include "ingest.h"

#include "bs/config.h"
#include "bs/error.h"
#include "bs/log.h"
#include "bs/signals.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EXIT_CONFIG      2
#define DRAIN_TIMEOUT_MS 10000

static const char usage[] =
    "usage: webhook-ingest\n"
    "\n"
    "Receives Clerk's Svix-signed webhooks on POST /api/v1/webhooks/clerk\n"
    "(and /webhooks/clerk) and publishes user.created, user.updated and\n"
    "user.deleted as UserEvents to <PRODUCT>.users. Configured by the\n"
    "environment only.";

static const struct bs_config_var vars[] = {
    {"KAFKA_BOOTSTRAP_SERVERS", NULL, BS_CONFIG_REQUIRED, "broker list"},
    {"CLERK_WEBHOOK_SECRET", NULL, BS_CONFIG_SECRET | BS_CONFIG_REQUIRED,
     "one or more space-separated whsec_ secrets of the product's Clerk"},
    {"HTTP_ADDR", "127.0.0.1", 0, "address to listen on (numeric)"},
    {"HTTP_PORT", "8001", 0, "port to listen on (0: any free port)"},
    {"PUBLISH_TIMEOUT_MS", "5000", 0,
     "how long a webhook waits for the broker's acknowledgement"},
    {"WEBHOOK_MAX_BODY", "1048576", 0, "largest webhook body in bytes"},
    {"HTTP_THREADS", "64", 0,
     "HTTP worker threads; each holds one webhook while the broker acks"},
};

/* Numeric settings, checked once at start. */
struct settings {
    const char *address;
    unsigned port;
    int publish_timeout_ms;
    size_t max_body;
    unsigned threads;
};

/* Everything main() creates, freed in reverse order by service_free(). */
struct service {
    struct bs_metrics *metrics;
    struct bs_svix_keys *keys;
    struct bs_codec *codec;
    struct bs_publisher *publisher;
    struct bs_http_server *server;
    struct ingest ingest;
};

static const struct bs_http_route routes[] = {
    {"POST", "/api/v1/webhooks/clerk", ingest_handle_clerk, 0},
    {"POST", "/webhooks/clerk", ingest_handle_clerk, 0},
};

static int settings_load(const struct bs_program *program,
                         struct settings *settings, char *errstr,
                         size_t errstr_size)
{
    const struct bs_config *config = program->config;
    long port, timeout, max_body, threads;
    int result;

    result = bs_config_get_number(config, "HTTP_PORT", 0, 65535, &port, errstr,
                                  errstr_size);
    if (result == BS_OK)
        result = bs_config_get_number(config, "PUBLISH_TIMEOUT_MS", 1, 60000,
                                      &timeout, errstr, errstr_size);
    if (result == BS_OK)
        result = bs_config_get_number(config, "WEBHOOK_MAX_BODY", 1024,
                                      64L * 1024 * 1024, &max_body, errstr,
                                      errstr_size);
    if (result == BS_OK)
        result = bs_config_get_number(config, "HTTP_THREADS", 1, 1024, &threads,
                                      errstr, errstr_size);
    if (result != BS_OK)
        return result;

    settings->address = bs_config_get(program->config, "HTTP_ADDR");
    settings->port = (unsigned)port;
    settings->publish_timeout_ms = (int)timeout;
    settings->max_body = (size_t)max_body;
    settings->threads = (unsigned)threads;
    return BS_OK;
}

/* The secrets, the codec, the metrics and the publisher. */
static int service_prepare(struct service *service,
                           const struct bs_program *program,
                           const struct settings *settings, char *errstr,
                           size_t errstr_size)
{
    int result;

    result = bs_svix_keys_parse(
        bs_config_get(program->config, "CLERK_WEBHOOK_SECRET"), &service->keys,
        errstr, errstr_size);
    if (result != BS_OK)
        return result;
    result = bs_codec_new_builtin(&service->codec, errstr, errstr_size);
    if (result != BS_OK)
        return result;
    service->metrics = bs_metrics_new(program->product, INGEST_SERVICE);
    if (!service->metrics)
        return bs_fail(errstr, errstr_size, BS_ENOMEM, "out of memory");
    result = bs_publisher_new(
        &service->publisher,
        bs_config_get(program->config, "KAFKA_BOOTSTRAP_SERVERS"),
        INGEST_SERVICE, program->product, service->metrics, errstr,
        errstr_size);
    if (result != BS_OK)
        return result;

    result = ingest_init(&service->ingest, program->product, service->metrics);
    service->ingest.publish_timeout_ms = settings->publish_timeout_ms;
    service->ingest.keys = service->keys;
    service->ingest.codec = service->codec;
    service->ingest.publisher = service->publisher;
    return result;
}

static int service_listen(struct service *service,
                          const struct bs_program *program,
                          const struct settings *settings, char *errstr,
                          size_t errstr_size)
{
    const struct bs_http_config config = {
        .address = settings->address,
        .port = settings->port,
        .product = program->product,
        .service = INGEST_SERVICE,
        .routes = routes,
        .route_count = sizeof(routes) / sizeof(routes[0]),
        .ctx = &service->ingest,
        .max_body = settings->max_body,
        .threads = settings->threads,
        .metrics = service->metrics,
        .builtin_endpoints = true,
        .ready = ingest_ready,
    };

    return bs_http_server_start(&config, &service->server, errstr, errstr_size);
}

/* Drains the server (if any), then flushes the producer, then the rest. */
static void service_free(struct service *service)
{
    if (service->server)
        bs_http_server_drain(service->server, DRAIN_TIMEOUT_MS);
    bs_http_server_free(service->server);
    bs_publisher_free(service->publisher);
    bs_codec_free(service->codec);
    bs_svix_keys_free(service->keys);
    bs_metrics_free(service->metrics);
}

int main(int argc, char **argv)
{
    struct bs_program program;
    struct service service = {0};
    struct settings settings;
    char errstr[512];
    int exit_code, signal_number;

    /* Before any thread exists: SIGTERM is waited for, not delivered. */
    if (bs_signals_block_shutdown() != BS_OK)
        return 1;
    if (!bs_program_start(&program, INGEST_SERVICE, usage, vars,
                          sizeof(vars) / sizeof(vars[0]), argc, argv,
                          &exit_code))
        return exit_code;

    /* Start-up: a bad setting or secret stops here with exit code 2. */
    exit_code = EXIT_CONFIG;
    if (settings_load(&program, &settings, errstr, sizeof(errstr)) != BS_OK ||
        service_prepare(&service, &program, &settings, errstr,
                        sizeof(errstr)) != BS_OK)
        goto fail;
    exit_code = 1;
    if (service_listen(&service, &program, &settings, errstr, sizeof(errstr)) !=
        BS_OK)
        goto fail;
    bs_log_info("webhook_ingest_started port=%u users_topic=%s",
                bs_http_server_port(service.server),
                service.ingest.users_topic);

    /* Serve until asked to stop, then drain and flush. */
    signal_number = bs_signals_wait_for_shutdown(-1);
    bs_log_info("shutdown_requested signal=%d", signal_number);
    service_free(&service);
    bs_log_info("webhook_ingest_stopped");
    bs_program_end(&program);
    return 0;

fail:
    fprintf(stderr, "%s: %s\n", INGEST_SERVICE, errstr);
    bs_log_error("start_failed reason=\"%s\"", errstr);
    service_free(&service);
    bs_program_end(&program);
    return exit_code;
}
