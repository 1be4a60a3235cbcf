/*
 * consumer_service.h - the whole life of a consumer service's process.
 *
 * user-projector, faq-indexer and audit-writer differ only in what they
 * consume and how a record becomes rows; the rest is the same and lives
 * here:
 *
 *   block SIGTERM/SIGINT (they are waited for, not delivered)
 *   -> configuration: the consumer variables below plus the service's own
 *      (bs_program_start: --help, NAME_FILE, the product check)
 *   -> metrics, the service's init (builds its bs_consumer_handler), the
 *      pipeline (bs/consumer.h), the HTTP server for /healthz, /readyz
 *      (ready while the pipeline is) and /metrics
 *   -> consume on a thread until SIGTERM/SIGINT
 *   -> finish the batch in progress, drain HTTP, leave the group, the
 *      service's cleanup; exit 0. Any start-up error: one line, exit 2.
 *
 * Variables every consumer reads: DATABASE_URL and KAFKA_BOOTSTRAP_SERVERS
 * (required), HTTP_ADDR, HTTP_PORT (default per service), CONSUMER_GROUP,
 * BATCH_SIZE, BATCH_WAIT_MS.
 */
#ifndef BS_CONSUMER_SERVICE_H
#define BS_CONSUMER_SERVICE_H

#include <stddef.h>

#include "bs/config.h"
#include "bs/consumer.h"
#include "bs/metrics.h"

struct bs_consumer_service {
    const char *name;              /* e.g. "user-projector" */
    const char *usage;             /* --help text before the variables */
    const char *default_http_port; /* e.g. "8021" */
    /* NULL-terminated topic kinds: subscribes to "<product>.<kind>". */
    const char *const *topic_kinds;
    /* The service's own variables (may be NULL / 0). */
    const struct bs_config_var *vars;
    size_t var_count;

    void *state; /* handed to init and cleanup */
    /*
     * Builds the service's state and its pipeline callbacks once the
     * configuration and metrics exist. BS_OK, or an error with a line in
     * errstr (the process exits 2). cleanup runs either way.
     */
    int (*init)(void *state, const struct bs_program *program,
                struct bs_metrics *metrics, struct bs_consumer_handler *handler,
                char *errstr, size_t errstr_size);
    /* Releases what init made; runs after the pipeline is freed. */
    void (*cleanup)(void *state);
};

/* Runs the service (see above); returns the process exit code. */
int bs_consumer_service_main(const struct bs_consumer_service *service,
                             int argc, char **argv);

#endif
