/*
 * publisher.h - publishing events of one product, acknowledged by the broker.
 *
 * One idempotent producer (acks=all) per process, shared by all request
 * threads. bs_publisher_send_sync() hands a message to librdkafka and waits
 * for the broker's acknowledgement (or its failure) up to a bound, so an HTTP
 * handler answers 2xx only for an event that is durably in the log.
 *
 * Every message gets the `product` header of the publisher's product, and a
 * publisher refuses any topic that is not "<its product>.<kind>": a second,
 * independent guard against writing into another product's topics.
 *
 * A send that times out may still be delivered later (librdkafka keeps
 * retrying until message.timeout.ms): callers answer 5xx so the sender
 * retries, and consumers are idempotent by event id, so at worst an event is
 * in the log twice and applied once.
 */
#ifndef BS_PUBLISHER_H
#define BS_PUBLISHER_H

#include <stdbool.h>
#include <stddef.h>

#include "bs/metrics.h"

struct bs_publisher;

/* An extra header (the product header is always added). */
struct bs_publisher_header {
    const char *name;
    const void *value;
    size_t len;
};

/*
 * Creates the producer for `product` (its configuration from
 * bs_kafka_producer_conf_new()) and starts a thread serving delivery reports.
 * `metrics` may be NULL; otherwise bs_publish_total{topic,result} and the
 * bs_publish_duration_seconds histogram are kept there. On success *out is
 * the caller's: release it with bs_publisher_free().
 */
int bs_publisher_new(struct bs_publisher **out, const char *bootstrap,
                     const char *service, const char *product,
                     struct bs_metrics *metrics, char *errstr,
                     size_t errstr_size);

/*
 * Publishes one message and waits up to timeout_ms for the broker's answer.
 * Key, value and headers are copied; the caller keeps them. Returns BS_OK
 * (acknowledged), BS_EINVAL (a topic outside this product), BS_ETIMEDOUT (no
 * answer in time; may still be delivered), or BS_EKAFKA (refused or failed,
 * with librdkafka's reason in errstr). Thread-safe.
 */
int bs_publisher_send_sync(struct bs_publisher *publisher, const char *topic,
                           const void *key, size_t key_len, const void *value,
                           size_t value_len,
                           const struct bs_publisher_header *headers,
                           size_t header_count, int timeout_ms, char *errstr,
                           size_t errstr_size);

/* True when the producer has a broker connection to publish through (for
 * /readyz); never blocks long. */
bool bs_publisher_ready(struct bs_publisher *publisher);

/* Waits up to timeout_ms for every outstanding message. BS_OK or
 * BS_ETIMEDOUT with the count of messages left in errstr. */
int bs_publisher_flush(struct bs_publisher *publisher, int timeout_ms,
                       char *errstr, size_t errstr_size);

/* Flushes (up to 10 s, logging what is left) and frees. NULL ignored. */
void bs_publisher_free(struct bs_publisher *publisher);

#endif
