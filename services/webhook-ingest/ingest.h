/*
 * ingest.h - the Clerk webhook handler of webhook-ingest and what it needs.
 *
 * The handler verifies the Svix signature over the raw body, maps the body
 * to a UserEvent and publishes it to "<product>.users", answering only once
 * the broker has acknowledged it. Bodies that are signed but unusable go to
 * "<product>.dlq" as they came. main.c builds a struct ingest, hands it to
 * the HTTP layer as the routes' context, and frees it after the drain.
 */
#ifndef INGEST_H
#define INGEST_H

#include "bs/codec.h"
#include "bs/http.h"
#include "bs/metrics.h"
#include "bs/product.h"
#include "bs/publisher.h"
#include "bs/svix.h"

#include <stdbool.h>
#include <stddef.h>

#define INGEST_SERVICE "webhook-ingest"

/* Everything the handler reads; set up once, then only read (the metrics
 * and the publisher are thread-safe). Nothing here is owned by the struct:
 * main.c creates and frees each part. */
struct ingest {
    char product[BS_PRODUCT_MAX + 1];
    char users_topic[BS_PRODUCT_MAX + 16];
    char dlq_topic[BS_PRODUCT_MAX + 16];
    int publish_timeout_ms;

    const struct bs_svix_keys *keys;
    const struct bs_codec *codec;
    struct bs_publisher *publisher;

    struct bs_metric *verification_failures; /* {reason} */
    struct bs_metric *ignored;               /* {type} */
    struct bs_metric *dead_lettered;         /* {reason} */
    struct bs_metric *webhooks;              /* {outcome} */
};

/*
 * Fills the topic names and registers the service's metrics in `metrics`.
 * The other members are the caller's to set. Returns BS_OK or BS_EINVAL.
 */
int ingest_init(struct ingest *ingest, const char *product,
                struct bs_metrics *metrics);

/* POST /api/v1/webhooks/clerk and /webhooks/clerk; req->ctx is a struct
 * ingest. */
void ingest_handle_clerk(struct bs_http_request *req);

/* /readyz: the publisher can reach a broker. ctx is a struct ingest. */
bool ingest_ready(void *ctx, json_t *not_ready);

#endif
