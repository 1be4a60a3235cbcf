/*
 * consumer.h - the consumer pipeline every projecting service runs.
 *
 * One mechanism: a service supplies only how to decode a message and how to
 * apply a decoded record to PostgreSQL; the pipeline does the rest.
 *
 *   poll up to batch_size messages (or batch_wait_ms)
 *   -> check each message's `product` header, decode, check the record's
 *      product: a mismatch or an undecodable message goes to <product>.dlq
 *   -> one transaction with app.product set (SET LOCAL): apply every record,
 *      store each partition's next offset in consumer_offsets, COMMIT
 *   -> commit the same offsets to Kafka (asynchronously, for tooling only)
 *
 * The database is the source of truth: on partition assignment the consumer
 * starts at the offsets stored in consumer_offsets (the beginning when there
 * is none), so a crash at any instant neither loses nor doubles a row.
 * Dead-letter messages are acknowledged by the broker before the transaction
 * that moves past them commits (at worst a DLQ copy is written twice).
 *
 * A service may also apply a whole batch at once (apply_batch, optional);
 * when that finds a data error the batch is redone record by record.
 *
 * A data error in one record (apply says BS_CONSUMER_DATA_ERROR) sends that
 * message alone to the DLQ and the rest of the batch is applied (the batch is
 * retried with a savepoint around each record). An infrastructure error
 * (PostgreSQL unreachable or a transient SQLSTATE, the DLQ not acknowledged)
 * never goes to the DLQ: the batch is rolled back, the consumer reports
 * not-ready, backs off (100 ms doubling to 5 s, with jitter), reconnects,
 * seeks back to the stored offsets and tries again.
 *
 * Metrics (when a registry is given): bs_events_consumed_total,
 * bs_events_applied_total, bs_events_rejected_total{reason},
 * bs_events_dead_lettered_total{reason}, bs_batch_duration_seconds,
 * bs_consumer_lag{topic,partition}, bs_consumer_ready.
 *
 * Not here: the HTTP endpoints (the service serves them with bs/http.h and
 * asks bs_consumer_ready()), several consumers sharing one connection, or
 * exactly-once towards other systems than PostgreSQL. See docs/pipeline.md.
 */
#ifndef BS_CONSUMER_H
#define BS_CONSUMER_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bs/metrics.h"

#define BS_CONSUMER_BATCH_SIZE_DEFAULT    500
#define BS_CONSUMER_BATCH_WAIT_MS_DEFAULT 100
#define BS_CONSUMER_REASON_MAX            512

/* DLQ headers (besides the publisher's `product` header and every original
 * header except `product`, kept as dlq.original.product). */
#define BS_DLQ_HEADER_TOPIC     "dlq.original.topic"
#define BS_DLQ_HEADER_PARTITION "dlq.original.partition"
#define BS_DLQ_HEADER_OFFSET    "dlq.original.offset"
#define BS_DLQ_HEADER_PRODUCT   "dlq.original.product"
#define BS_DLQ_HEADER_SERVICE   "dlq.service"
#define BS_DLQ_HEADER_REASON    "dlq.reason"

/* Where a message came from; valid during the apply call only. */
struct bs_consumer_message {
    const char *topic;
    int32_t partition;
    int64_t offset;
    const void *key; /* may be NULL */
    size_t key_len;
};

/* What applying one record came to. */
enum bs_consumer_result {
    BS_CONSUMER_APPLIED = 0, /* done (or deliberately ignored) */
    BS_CONSUMER_DATA_ERROR,  /* can never be applied: dead-letter it */
    BS_CONSUMER_INFRA_ERROR  /* try the whole batch again later */
};

struct bs_consumer_handler {
    void *ctx; /* handed to every callback */

    /*
     * Decodes a message value. On BS_OK *decoded is the service's record
     * (released later with free_decoded) and *product points at the product
     * it names (valid while the record lives). Any other result is a data
     * error: the reason (no payload contents) goes in errstr.
     */
    int (*decode)(void *ctx, const void *bytes, size_t len, void **decoded,
                  const char **product, char *errstr, size_t errstr_size);

    /*
     * Applies one record inside the pipeline's transaction (app.product is
     * set). On BS_CONSUMER_DATA_ERROR `reason` says why, starting with a
     * short code: "constraint_violation: ...". The connection must stay in
     * the transaction: do not BEGIN, COMMIT or ROLLBACK here.
     */
    enum bs_consumer_result (*apply)(void *ctx, PGconn *conn, void *decoded,
                                     const struct bs_consumer_message *msg,
                                     char *reason, size_t reason_size);

    /* Releases a record from decode. */
    void (*free_decoded)(void *ctx, void *decoded);

    /* Optional: runs after every (re)connection, outside a transaction
     * (prepare statements here). BS_OK, or an error that is retried. */
    int (*prepare)(void *ctx, PGconn *conn, char *errstr, size_t errstr_size);

    /*
     * Optional: applies the whole batch at once (e.g. a few set-based
     * statements over arrays) inside the pipeline's transaction, with the
     * same outcome as calling apply on each record in order. decoded[i] and
     * msgs[i], i < count, are the records that passed the tenant and decode
     * checks, in consumption order; both arrays and what they point at stay
     * the pipeline's and are valid during the call only. BS_CONSUMER_APPLIED
     * when every record is applied; BS_CONSUMER_DATA_ERROR when any is a
     * data error (the pipeline then rolls back and redoes the batch with
     * apply, one savepoint per record, so that record alone is
     * dead-lettered); BS_CONSUMER_INFRA_ERROR as for apply. When NULL, apply
     * is called per record. Like apply: no BEGIN, COMMIT or ROLLBACK.
     */
    enum bs_consumer_result (*apply_batch)(
        void *ctx, PGconn *conn, void *const *decoded,
        const struct bs_consumer_message *msgs, size_t count, char *reason,
        size_t reason_size);
};

struct bs_consumer_config {
    const char *bootstrap; /* KAFKA_BOOTSTRAP_SERVERS */
    const char *service;   /* e.g. "user-projector" */
    const char *product;   /* the configured product */
    const char *group_id;  /* NULL: "<service>-<product>" */
    /* NULL-terminated topic kinds, e.g. BS_LABELS("users"): subscribes to
     * "<product>.<kind>" for each. */
    const char *const *topic_kinds;
    const char *conninfo;       /* libpq conninfo of the service role */
    int batch_size;             /* 0: BS_CONSUMER_BATCH_SIZE_DEFAULT */
    int batch_wait_ms;          /* 0: BS_CONSUMER_BATCH_WAIT_MS_DEFAULT */
    struct bs_metrics *metrics; /* may be NULL; must outlive the consumer */
    struct bs_consumer_handler handler;
};

struct bs_consumer;

/*
 * Validates the config, connects to PostgreSQL (running handler.prepare),
 * creates the DLQ publisher and the Kafka consumer and subscribes. Every
 * string is copied. On success *out is the caller's: run it with
 * bs_consumer_run() and release it with bs_consumer_free(). Returns BS_OK,
 * BS_EINVAL, BS_EDB, BS_EKAFKA or BS_ENOMEM with a line in errstr.
 */
int bs_consumer_new(struct bs_consumer **out,
                    const struct bs_consumer_config *config, char *errstr,
                    size_t errstr_size);

/*
 * Consumes until bs_consumer_stop() is called; the batch in progress is
 * finished first. Infrastructure errors are retried here, never returned.
 * Returns BS_OK once stopped. Call from one thread only.
 */
int bs_consumer_run(struct bs_consumer *consumer);

/* Asks bs_consumer_run() to return after the current batch. Any thread. */
void bs_consumer_stop(struct bs_consumer *consumer);

/* True while PostgreSQL and the DLQ publisher work (for /readyz). Any
 * thread; never blocks long. */
bool bs_consumer_ready(struct bs_consumer *consumer);

/*
 * Leaves the group (rd_kafka_consumer_close), flushes the DLQ publisher and
 * frees everything. Call after bs_consumer_run() has returned. NULL ignored.
 */
void bs_consumer_free(struct bs_consumer *consumer);

/*
 * For apply callbacks: sorts a failed statement's result into DATA_ERROR
 * (SQLSTATE class 22 or 23, with "constraint_violation: <message>" or
 * "invalid_data: <message>" in reason) or INFRA_ERROR (anything else,
 * logged). Neither argument is consumed.
 */
enum bs_consumer_result bs_consumer_db_result(PGconn *conn,
                                              const PGresult *result,
                                              char *reason, size_t reason_size);

#endif
