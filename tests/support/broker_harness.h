/*
 * broker_harness.h - the broker the `broker` fixture started, for tests.
 *
 * scripts/test-broker.sh records in $BS_TEST_STATE_DIR/broker which broker
 * the integration tests use (real Kafka from KAFKA_BOOTSTRAP_SERVERS, or the
 * devbroker) and its bootstrap list. These helpers read that record, build
 * clients with the project's defaults (bs/kafka.h), produce and wait for the
 * broker's acknowledgement, and find messages again: other tests write to
 * the same topics, so finding means skipping everything that does not match.
 *
 * Deadlines here are give-up bounds for waiting, never timing assertions.
 */
#ifndef BS_TEST_BROKER_HARNESS_H
#define BS_TEST_BROKER_HARNESS_H

#include <librdkafka/rdkafka.h>
#include <stdbool.h>
#include <stddef.h>

#define BS_BROKER_KIND_KAFKA     "kafka"
#define BS_BROKER_KIND_DEVBROKER "devbroker"

/* How long helpers wait for a broker before giving up. */
#define BS_BROKER_WAIT_MS 60000

/* The fixture's bootstrap list (caller frees), or NULL when there is none. */
char *bs_broker_bootstrap(void);

/* BS_BROKER_KIND_KAFKA or BS_BROKER_KIND_DEVBROKER (static strings), or NULL
 * when the fixture recorded neither. */
const char *bs_broker_kind(void);

/* True on the devbroker: features it lacks are tested on Kafka only. */
bool bs_broker_is_devbroker(void);

/* Writes "<prefix>-<pid>-<nanoseconds>-<counter>" into buf: a name no other
 * run or call used (consumer groups, event ids). Returns buf. */
const char *bs_broker_unique_name(const char *prefix, char *buf, size_t size);

/*
 * An idempotent acks=all producer for `product` on the fixture's broker,
 * whose delivery reports bs_broker_produce() reads. On success *out is the
 * caller's (rd_kafka_destroy()). BS_OK or a BS_E* code with errstr.
 */
int bs_broker_producer_new(rd_kafka_t **out, const char *product, char *errstr,
                           size_t errstr_size);

/* A consumer in `group_id` for `product` on the fixture's broker (not yet
 * subscribed). The caller closes and destroys it. */
int bs_broker_consumer_new(rd_kafka_t **out, const char *product,
                           const char *group_id, char *errstr,
                           size_t errstr_size);

/*
 * Produces one message and waits for the broker's acknowledgement.
 * `headers` (may be NULL) is taken over whatever the result. BS_OK, or
 * BS_EKAFKA with the delivery error in errstr.
 */
int bs_broker_produce(rd_kafka_t *producer, const char *topic, const char *key,
                      const void *value, size_t len,
                      rd_kafka_headers_t *headers, char *errstr,
                      size_t errstr_size);

/* Says whether a message is the one a test looks for. */
typedef bool (*bs_broker_match_fn)(const rd_kafka_message_t *message,
                                   void *ctx);

/*
 * Polls a subscribed consumer until `match` accepts a message, skipping all
 * others, for at most timeout_ms. On BS_OK *found is the caller's
 * (rd_kafka_message_destroy()); BS_ENOTFOUND when the deadline passed.
 */
int bs_broker_consume_until(rd_kafka_t *consumer, int timeout_ms,
                            bs_broker_match_fn match, void *ctx,
                            rd_kafka_message_t **found);

/*
 * Reads every partition of `topic` from the beginning to its current end
 * (with a fresh, uncommitted consumer for `product`) and counts the
 * messages `match` accepts into *matches. BS_OK once every partition was
 * read to its end; BS_EKAFKA (errstr) on an error or after timeout_ms.
 */
int bs_broker_scan_topic(const char *product, const char *topic,
                         bs_broker_match_fn match, void *ctx, int timeout_ms,
                         int *matches, char *errstr, size_t errstr_size);

#endif
