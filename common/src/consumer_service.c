/*
 * consumer_service.c - start-up, serving and shutdown shared by every
 * consumer service (bs/consumer_service.h).
 */
#include "bs/consumer_service.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bs/error.h"
#include "bs/http.h"
#include "bs/log.h"
#include "bs/signals.h"

#define EXIT_CONFIG      2
#define DRAIN_TIMEOUT_MS 10000
#define WAIT_SLICE_MS    500

/* The consumer variables; HTTP_PORT's default is the service's. */
static const struct bs_config_var consumer_vars[] = {
    {"DATABASE_URL", NULL, BS_CONFIG_REQUIRED | BS_CONFIG_CONNINFO,
     "PostgreSQL connection (the bs_service role)"},
    {"KAFKA_BOOTSTRAP_SERVERS", NULL, BS_CONFIG_REQUIRED, "broker list"},
    {"HTTP_ADDR", "127.0.0.1", 0, "address for /healthz /readyz /metrics"},
    {"HTTP_PORT", NULL, 0, "port for /healthz /readyz /metrics (0: any)"},
    {"CONSUMER_GROUP", NULL, 0, "consumer group (default <service>-<product>)"},
    {"BATCH_SIZE", "500", 0, "most events applied in one transaction"},
    {"BATCH_WAIT_MS", "100", 0, "longest wait to fill a batch"},
};
#define CONSUMER_VAR_COUNT (sizeof(consumer_vars) / sizeof(consumer_vars[0]))

/* Everything a run creates, released in reverse order by run_free(). */
struct run {
    const struct bs_consumer_service *service;
    struct bs_config_var *vars;
    struct bs_metrics *metrics;
    struct bs_consumer *consumer;
    struct bs_http_server *server;
    pthread_t thread;
    bool thread_started;
    bool initialized;     /* service->init was called */
    atomic_bool finished; /* the consumer thread has returned */
};

/* The consumer variables followed by the service's own. */
static struct bs_config_var *all_vars(const struct bs_consumer_service *service)
{
    size_t count = CONSUMER_VAR_COUNT + service->var_count;
    struct bs_config_var *vars = calloc(count, sizeof(*vars));

    if (!vars)
        return NULL;
    memcpy(vars, consumer_vars, sizeof(consumer_vars));
    for (size_t i = 0; i < CONSUMER_VAR_COUNT; i++)
        if (strcmp(vars[i].name, "HTTP_PORT") == 0)
            vars[i].default_value = service->default_http_port;
    if (service->var_count > 0)
        memcpy(vars + CONSUMER_VAR_COUNT, service->vars,
               service->var_count * sizeof(*vars));
    return vars;
}

static bool ready(void *ctx, json_t *not_ready)
{
    struct run *run = ctx;

    if (bs_consumer_ready(run->consumer))
        return true;
    json_object_set_new(not_ready, "pipeline",
                        json_string("database or broker unavailable"));
    return false;
}

static int start_consumer(struct run *run, const struct bs_program *program,
                          char *errstr, size_t size)
{
    const struct bs_config *cfg = program->config;
    struct bs_consumer_config config = {
        .bootstrap = bs_config_get(cfg, "KAFKA_BOOTSTRAP_SERVERS"),
        .service = run->service->name,
        .product = program->product,
        .group_id = bs_config_get(cfg, "CONSUMER_GROUP"),
        .topic_kinds = run->service->topic_kinds,
        .conninfo = bs_config_get(cfg, "DATABASE_URL"),
        .metrics = run->metrics,
    };
    long batch_size, batch_wait;
    int result;

    result = bs_config_get_number(cfg, "BATCH_SIZE", 1, 100000, &batch_size,
                                  errstr, size);
    if (result == BS_OK)
        result = bs_config_get_number(cfg, "BATCH_WAIT_MS", 1, 60000,
                                      &batch_wait, errstr, size);
    if (result != BS_OK)
        return result;
    config.batch_size = (int)batch_size;
    config.batch_wait_ms = (int)batch_wait;

    run->initialized = true;
    result = run->service->init(run->service->state, program, run->metrics,
                                &config.handler, errstr, size);
    if (result != BS_OK)
        return result;
    return bs_consumer_new(&run->consumer, &config, errstr, size);
}

static int start_http(struct run *run, const struct bs_program *program,
                      char *errstr, size_t size)
{
    struct bs_http_config config = {
        .address = bs_config_get(program->config, "HTTP_ADDR"),
        .product = program->product,
        .service = run->service->name,
        .ctx = run,
        .metrics = run->metrics,
        .builtin_endpoints = true,
        .ready = ready,
    };
    long port;
    int result;

    result = bs_config_get_number(program->config, "HTTP_PORT", 0, 65535, &port,
                                  errstr, size);
    if (result != BS_OK)
        return result;
    config.port = (unsigned)port;
    result = bs_http_server_start(&config, &run->server, errstr, size);
    if (result == BS_OK)
        bs_log_info("http_listening port=%u", bs_http_server_port(run->server));
    return result;
}

static void *consume(void *arg)
{
    struct run *run = arg;

    bs_consumer_run(run->consumer);
    atomic_store(&run->finished, true);
    return NULL;
}

/* Until SIGTERM/SIGINT (or the consumer thread ending on its own). */
static void wait_for_shutdown(struct run *run)
{
    int sig = 0;

    while (sig == 0 && !atomic_load(&run->finished))
        sig = bs_signals_wait_for_shutdown(WAIT_SLICE_MS);
    bs_log_info("shutdown signal=%d", sig);
}

/* Stops consuming (the batch in progress finishes), then the rest. */
static void run_free(struct run *run)
{
    if (run->thread_started) {
        bs_consumer_stop(run->consumer);
        pthread_join(run->thread, NULL);
    }
    if (run->server)
        bs_http_server_drain(run->server, DRAIN_TIMEOUT_MS);
    bs_http_server_free(run->server);
    bs_consumer_free(run->consumer);
    if (run->initialized && run->service->cleanup)
        run->service->cleanup(run->service->state);
    bs_metrics_free(run->metrics);
}

int bs_consumer_service_main(const struct bs_consumer_service *service,
                             int argc, char **argv)
{
    struct run run = {.service = service};
    struct bs_program program;
    char errstr[512] = "out of memory";
    int exit_code;

    /* Before any thread exists: SIGTERM is waited for, not delivered. */
    if (bs_signals_block_shutdown() != BS_OK)
        return 1;
    run.vars = all_vars(service);
    if (!run.vars)
        return 1;
    if (!bs_program_start(&program, service->name, service->usage, run.vars,
                          CONSUMER_VAR_COUNT + service->var_count, argc, argv,
                          &exit_code)) {
        free(run.vars);
        return exit_code;
    }
    atomic_init(&run.finished, false);

    /* Start-up: the service's state, PostgreSQL, the broker, HTTP. */
    exit_code = EXIT_CONFIG;
    run.metrics = bs_metrics_new(program.product, service->name);
    if (!run.metrics ||
        start_consumer(&run, &program, errstr, sizeof(errstr)) != BS_OK ||
        start_http(&run, &program, errstr, sizeof(errstr)) != BS_OK)
        goto out;
    if (pthread_create(&run.thread, NULL, consume, &run) != 0) {
        snprintf(errstr, sizeof(errstr), "cannot start the consumer thread");
        goto out;
    }
    run.thread_started = true;

    /* Serve until asked to stop. */
    wait_for_shutdown(&run);
    exit_code = 0;
out:
    if (exit_code != 0)
        bs_log_error("start_failed error=\"%s\"", errstr);
    run_free(&run);
    bs_program_end(&program);
    free(run.vars);
    return exit_code;
}
