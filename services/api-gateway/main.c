/*
 * api-gateway - the frontend's door to one product.
 *
 * Start-up (configuration, the Clerk key, codec, metrics, publisher,
 * connection pool, HTTP server), serve until SIGTERM or SIGINT, drain the
 * requests in flight, flush the producer, exit 0. A configuration error
 * exits 2 with one line on stderr. What the endpoints do is in users.c,
 * faqs.c, properties.c, search.c (public FAQ search) and audit.c (the
 * audit trail); identity, CORS and publishing in gateway.c.
 */
#include "gateway.h"

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
    "usage: api-gateway\n"
    "\n"
    "Serves the product's frontend: reads users, FAQs and properties from\n"
    "PostgreSQL under the product's row-level security, and turns FAQ\n"
    "writes into FaqDocumentEvents on <PRODUCT>.faq (audited on\n"
    "<PRODUCT>.audit). Callers sign in with the product's Clerk session\n"
    "tokens. Public FAQ search ranks the product's published documents by\n"
    "cosine similarity to the query, embedded like faq-indexer embeds\n"
    "documents (EMBEDDER...). Configured by the environment only; see\n"
    "docs/api-gateway.md.";

static const struct bs_config_var vars[] = {
    {"DATABASE_URL", NULL, BS_CONFIG_CONNINFO | BS_CONFIG_REQUIRED,
     "PostgreSQL as the bs_service role"},
    {"KAFKA_BOOTSTRAP_SERVERS", NULL, BS_CONFIG_REQUIRED, "broker list"},
    {"CLERK_JWT_KEY", NULL, BS_CONFIG_SECRET | BS_CONFIG_REQUIRED,
     "the product's Clerk PEM public key (or CLERK_JWT_KEY_FILE)"},
    {"CLERK_AUTHORIZED_PARTIES", NULL, 0,
     "comma-separated origins accepted as the token's azp (unset: any)"},
    {"CLERK_ISSUER", NULL, 0, "the token's required iss (unset: any)"},
    {"CORS_ALLOWED_ORIGINS", "", 0,
     "comma-separated frontend origins allowed by CORS"},
    {"HTTP_ADDR", "127.0.0.1", 0, "address to listen on (numeric)"},
    {"HTTP_PORT", "8011", 0, "port to listen on (0: any free port)"},
    {"HTTP_THREADS", "16", 0,
     "HTTP worker threads; each may wait for one broker acknowledgement"},
    {"HTTP_MAX_BODY", "262144", 0, "largest request body in bytes"},
    {"HTTP_TIMEOUT_S", "30", 0,
     "seconds a connection may stay idle or half-sent (slow clients are "
     "closed)"},
    {"DB_POOL_SIZE", "0", 0,
     "PostgreSQL connections (0: one per HTTP worker thread)"},
    {"PUBLISH_TIMEOUT_MS", "5000", 0,
     "how long a write waits for the broker's acknowledgement"},
    {"CALLER_CACHE_MS", "1000", 0,
     "how long a caller's user row is reused by reads (0: never); a role "
     "change or deletion reaches reads within this time"},
    /* FAQ search embeds queries like faq-indexer embeds documents. */
    BS_EMBEDDER_CONFIG_VARS,
};

/* Numeric settings, checked once at start. */
struct settings {
    const char *address;
    unsigned port;
    unsigned threads;
    size_t max_body;
    unsigned timeout_s;
    size_t pool_size;
    int publish_timeout_ms;
    unsigned caller_cache_ms;
};

/* Everything main() creates, freed in reverse order by service_free(). */
struct service {
    struct bs_metrics *metrics;
    struct clerk_jwt_verifier *verifier;
    struct bs_codec *codec;
    struct bs_publisher *publisher;
    struct bs_http_server *server;
    struct gateway gw;
    bool pool_ready;
    bool callers_ready;
};

/* Specific routes before the patterns that would also match them. */
static const struct bs_http_route routes[] = {
    {"GET", "/api/health", gw_handle_health, 0},
    {"GET", "/api/v1/users/me", gw_handle_user_me, 0},
    {"GET", "/api/v1/users/{id}", gw_handle_user_get, 0},
    {"GET", "/api/v1/users", gw_handle_user_list, 0},
    {"GET", "/api/v1/admin/faqs", gw_handle_faq_list, 0},
    {"POST", "/api/v1/admin/faqs", gw_handle_faq_create, 0},
    {"GET", "/api/v1/admin/faqs/{id}", gw_handle_faq_get, 0},
    {"PATCH", "/api/v1/admin/faqs/{id}", gw_handle_faq_update, 0},
    {"DELETE", "/api/v1/admin/faqs/{id}", gw_handle_faq_delete, 0},
    {"GET", "/api/v1/properties", gw_handle_property_list, 0},
    {"GET", "/api/v1/properties/{id}", gw_handle_property_get, 0},
    /* Public FAQ reads: search before {id}, which would also match it. */
    {"GET", "/api/v1/faqs/search", gw_handle_faq_search, 0},
    {"POST", "/api/v1/faqs/context", gw_handle_faq_context, 0},
    {"GET", "/api/v1/faqs/{id}", gw_handle_faq_public_get, 0},
    {"GET", "/api/v1/admin/audit", gw_handle_audit_list, 0},
    /* CORS preflight per pattern (not a catch-all "/api/" star, which turns
     * every unknown path into a 405 instead of a 404). */
    {"OPTIONS", "/api/health", gw_handle_preflight, 0},
    {"OPTIONS", "/api/v1/users/me", gw_handle_preflight, 0},
    {"OPTIONS", "/api/v1/users/{id}", gw_handle_preflight, 0},
    {"OPTIONS", "/api/v1/users", gw_handle_preflight, 0},
    {"OPTIONS", "/api/v1/admin/faqs", gw_handle_preflight, 0},
    {"OPTIONS", "/api/v1/admin/faqs/{id}", gw_handle_preflight, 0},
    {"OPTIONS", "/api/v1/properties", gw_handle_preflight, 0},
    {"OPTIONS", "/api/v1/properties/{id}", gw_handle_preflight, 0},
    {"OPTIONS", "/api/v1/faqs/search", gw_handle_preflight, 0},
    {"OPTIONS", "/api/v1/faqs/context", gw_handle_preflight, 0},
    {"OPTIONS", "/api/v1/faqs/{id}", gw_handle_preflight, 0},
    {"OPTIONS", "/api/v1/admin/audit", gw_handle_preflight, 0},
};

static int settings_load(const struct bs_program *program,
                         struct settings *settings, char *errstr,
                         size_t errstr_size)
{
    const struct bs_config *config = program->config;
    long port, threads, max_body, idle, pool, timeout, cache_ms;
    int result;

    result = bs_config_get_number(config, "HTTP_PORT", 0, 65535, &port, errstr,
                                  errstr_size);
    if (result == BS_OK)
        result = bs_config_get_number(config, "HTTP_THREADS", 1, 1024, &threads,
                                      errstr, errstr_size);
    if (result == BS_OK)
        result = bs_config_get_number(config, "HTTP_MAX_BODY", 1024,
                                      16L * 1024 * 1024, &max_body, errstr,
                                      errstr_size);
    if (result == BS_OK)
        result = bs_config_get_number(config, "HTTP_TIMEOUT_S", 1, 3600, &idle,
                                      errstr, errstr_size);
    if (result == BS_OK)
        result = bs_config_get_number(config, "DB_POOL_SIZE", 0, 1024, &pool,
                                      errstr, errstr_size);
    if (result == BS_OK)
        result = bs_config_get_number(config, "PUBLISH_TIMEOUT_MS", 1, 60000,
                                      &timeout, errstr, errstr_size);
    if (result == BS_OK)
        result = bs_config_get_number(config, "CALLER_CACHE_MS", 0,
                                      GW_CALLER_CACHE_TTL_MAX, &cache_ms,
                                      errstr, errstr_size);
    if (result != BS_OK)
        return result;

    settings->address = bs_config_get(program->config, "HTTP_ADDR");
    settings->port = (unsigned)port;
    settings->threads = (unsigned)threads;
    settings->max_body = (size_t)max_body;
    settings->timeout_s = (unsigned)idle;
    settings->pool_size = (size_t)(pool ? pool : threads);
    settings->publish_timeout_ms = (int)timeout;
    settings->caller_cache_ms = (unsigned)cache_ms;
    return BS_OK;
}

/* The Clerk key, the codec, the metrics and the publisher. */
static int service_prepare(struct service *service,
                           const struct bs_program *program, char *errstr,
                           size_t errstr_size)
{
    const struct clerk_jwt_config jwt = {
        .public_key_pem = bs_config_get(program->config, "CLERK_JWT_KEY"),
        .authorized_parties =
            bs_config_get(program->config, "CLERK_AUTHORIZED_PARTIES"),
        .issuer = bs_config_get(program->config, "CLERK_ISSUER"),
    };
    int result;

    result =
        clerk_jwt_verifier_new(&jwt, &service->verifier, errstr, errstr_size);
    if (result != BS_OK)
        return result;
    result = bs_codec_new_builtin(&service->codec, errstr, errstr_size);
    if (result != BS_OK)
        return result;
    service->metrics = bs_metrics_new(program->product, GW_SERVICE);
    if (!service->metrics)
        return bs_fail(errstr, errstr_size, BS_ENOMEM, "out of memory");
    return bs_publisher_new(
        &service->publisher,
        bs_config_get(program->config, "KAFKA_BOOTSTRAP_SERVERS"), GW_SERVICE,
        program->product, service->metrics, errstr, errstr_size);
}

/* The handlers' shared context. */
static int gateway_prepare(struct service *service,
                           const struct bs_program *program,
                           const struct settings *settings, char *errstr,
                           size_t errstr_size)
{
    struct gateway *gw = &service->gw;

    if (gw_init(gw, program->product, service->metrics) != BS_OK)
        return bs_fail(errstr, errstr_size, BS_EINVAL, "bad product topics");
    /* The pool's mutex exists once gw_pool_init() ran: destroy it then. */
    service->pool_ready = true;
    if (gw_pool_init(&gw->pool, bs_config_get(program->config, "DATABASE_URL"),
                     settings->pool_size) != BS_OK ||
        gw_cors_parse(gw, bs_config_get(program->config,
                                        "CORS_ALLOWED_ORIGINS")) != BS_OK ||
        gw_token_cache_init(&gw->tokens) != BS_OK ||
        gw_caller_cache_init(&gw->caller_cache, settings->caller_cache_ms) !=
            BS_OK)
        return bs_fail(errstr, errstr_size, BS_ENOMEM, "out of memory");
    if (gw_caller_queue_init(&gw->callers, program->product) != BS_OK)
        return bs_fail(errstr, errstr_size, BS_ENOMEM, "out of memory");
    service->callers_ready = true;
    if (gw_search_init(gw, program->config, service->metrics, errstr,
                       errstr_size) != BS_OK)
        return BS_ECONFIG;
    gw->publish_timeout_ms = settings->publish_timeout_ms;
    gw->verifier = service->verifier;
    gw->codec = service->codec;
    gw->publisher = service->publisher;
    return BS_OK;
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
        .service = GW_SERVICE,
        .routes = routes,
        .route_count = sizeof(routes) / sizeof(routes[0]),
        .ctx = &service->gw,
        .max_body = settings->max_body,
        .connection_timeout_s = settings->timeout_s,
        .threads = settings->threads,
        .metrics = service->metrics,
        .builtin_endpoints = true,
        .ready = gw_ready,
    };

    return bs_http_server_start(&config, &service->server, errstr, errstr_size);
}

/* Drains the server (if any), then flushes the producer, then the rest. */
static void service_free(struct service *service)
{
    if (service->server)
        bs_http_server_drain(service->server, DRAIN_TIMEOUT_MS);
    bs_http_server_free(service->server);
    if (service->pool_ready)
        gw_pool_destroy(&service->gw.pool);
    /* No request runs any more: the lookup queue is empty. */
    if (service->callers_ready)
        gw_caller_queue_destroy(&service->gw.callers);
    gw_search_destroy(&service->gw);
    gw_token_cache_destroy(&service->gw.tokens);
    gw_caller_cache_destroy(&service->gw.caller_cache);
    gw_cors_free(&service->gw);
    bs_publisher_free(service->publisher);
    bs_codec_free(service->codec);
    clerk_jwt_verifier_free(service->verifier);
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
    if (!bs_program_start(&program, GW_SERVICE, usage, vars,
                          sizeof(vars) / sizeof(vars[0]), argc, argv,
                          &exit_code))
        return exit_code;

    /* Start-up: a bad setting or key stops here with exit code 2. */
    exit_code = EXIT_CONFIG;
    if (settings_load(&program, &settings, errstr, sizeof(errstr)) != BS_OK ||
        service_prepare(&service, &program, errstr, sizeof(errstr)) != BS_OK ||
        gateway_prepare(&service, &program, &settings, errstr,
                        sizeof(errstr)) != BS_OK)
        goto fail;
    exit_code = 1;
    if (service_listen(&service, &program, &settings, errstr, sizeof(errstr)) !=
        BS_OK)
        goto fail;
    bs_log_info("api_gateway_started port=%u faq_topic=%s audit_topic=%s",
                bs_http_server_port(service.server), service.gw.faq_topic,
                service.gw.audit_topic);

    /* Serve until asked to stop, then drain and flush. */
    signal_number = bs_signals_wait_for_shutdown(-1);
    bs_log_info("shutdown_requested signal=%d", signal_number);
    service_free(&service);
    bs_log_info("api_gateway_stopped");
    bs_program_end(&program);
    return 0;

fail:
    fprintf(stderr, "%s: %s\n", GW_SERVICE, errstr);
    bs_log_error("start_failed reason=\"%s\"", errstr);
    service_free(&service);
    bs_program_end(&program);
    return exit_code;
}
