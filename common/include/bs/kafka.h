/*
 * kafka.h - how every program sets up its librdkafka clients.
 *
 * One place decides the project's client defaults: client.id is
 * "<service>-<product>", librdkafka's own log lines go through bs_log, a
 * producer is idempotent with acks=all and a bounded delivery timeout, a
 * consumer commits by hand and uses cooperative-sticky assignment with a
 * short session timeout (needed by the devbroker's mock cluster, harmless on
 * real Kafka). It also names the `product` header every event carries, and
 * waits until a broker answers metadata (start-up and /readyz).
 *
 * It does not publish or consume events: the publisher and the consumer
 * pipeline are built on top of it. No configuration it sets is secret; a
 * caller adding secrets (SASL) must not log them, and librdkafka lines that
 * mention one are redacted.
 */
#ifndef BS_KAFKA_H
#define BS_KAFKA_H

#include <librdkafka/rdkafka.h>
#include <stddef.h>

#define BS_KAFKA_HEADER_PRODUCT "product"

/* A producer gives up on a message after this long (message.timeout.ms). */
#define BS_KAFKA_MESSAGE_TIMEOUT_MS 30000

/*
 * A new configuration with the project's defaults: bootstrap.servers,
 * client.id "<service>-<product>" and the log callback. On success *out is
 * owned by the caller (rd_kafka_conf_destroy(), or hand it to
 * bs_kafka_producer_new()/bs_kafka_consumer_new()). Returns BS_OK,
 * BS_EINVAL for an empty bootstrap, or BS_EKAFKA with errstr.
 */
int bs_kafka_conf_new(rd_kafka_conf_t **out, const char *bootstrap,
                      const char *service, const char *product, char *errstr,
                      size_t errstr_size);

/* bs_kafka_conf_new() plus enable.idempotence=true, acks=all, linger.ms=5
 * and message.timeout.ms=BS_KAFKA_MESSAGE_TIMEOUT_MS. */
int bs_kafka_producer_conf_new(rd_kafka_conf_t **out, const char *bootstrap,
                               const char *service, const char *product,
                               char *errstr, size_t errstr_size);

/* bs_kafka_conf_new() plus group.id, enable.auto.commit=false,
 * auto.offset.reset=earliest, cooperative-sticky assignment,
 * session.timeout.ms=6000 and heartbeat.interval.ms=500. */
int bs_kafka_consumer_conf_new(rd_kafka_conf_t **out, const char *bootstrap,
                               const char *service, const char *product,
                               const char *group_id, char *errstr,
                               size_t errstr_size);

/* Routes librdkafka's log lines of clients made from `conf` into bs_log
 * (bs_kafka_conf_new() already does; for handles built by hand). */
void bs_kafka_conf_set_logger(rd_kafka_conf_t *conf);

/* Sets one property (the value is not logged). BS_OK or BS_EKAFKA. */
int bs_kafka_conf_set(rd_kafka_conf_t *conf, const char *name,
                      const char *value, char *errstr, size_t errstr_size);

/*
 * Creates a producer (or a consumer that polls through
 * rd_kafka_consumer_poll()). Takes ownership of `conf` whatever the result.
 * On success *out is owned by the caller: rd_kafka_destroy() it (a consumer
 * after rd_kafka_consumer_close()). BS_OK or BS_EKAFKA with errstr.
 */
int bs_kafka_producer_new(rd_kafka_t **out, rd_kafka_conf_t *conf, char *errstr,
                          size_t errstr_size);
int bs_kafka_consumer_new(rd_kafka_t **out, rd_kafka_conf_t *conf, char *errstr,
                          size_t errstr_size);

/*
 * Waits until a broker answers a metadata request, at most `timeout_ms`.
 * Returns BS_OK, or BS_EKAFKA with the last error in errstr.
 */
int bs_kafka_wait_ready(rd_kafka_t *rk, int timeout_ms, char *errstr,
                        size_t errstr_size);

/* Adds the `product` header. `headers` stays the caller's. BS_OK, or
 * BS_EINVAL for an invalid product name or read-only headers. */
int bs_kafka_headers_add_product(rd_kafka_headers_t *headers,
                                 const char *product);

/*
 * Copies the message's `product` header into `product` (buf_size bytes,
 * BS_PRODUCT_MAX + 1 is enough). Returns BS_OK; BS_ENOTFOUND when the
 * message has no such header; BS_EINVAL when it has more than one, or a
 * value that is not a valid product name. The message stays the caller's.
 */
int bs_kafka_message_product(const rd_kafka_message_t *message, char *product,
                             size_t buf_size);

#endif
