/*
 * consumer_batch.c - one batch of the consumer pipeline.
 *
 * Collects up to batch_size messages, refuses those of another product or
 * that cannot be decoded (to the DLQ, acknowledged), then applies the rest
 * in one transaction together with the partitions' next offsets. The batch
 * is first tried without savepoints (the common case costs one statement per
 * record, or a few for the whole batch when the service has apply_batch);
 * when a record is a data error the transaction is rolled back and
 * the batch redone with a savepoint around each record, so that record alone
 * is dead-lettered. Anything else that fails is returned as an
 * infrastructure error for consumer.c to retry; nothing here retries.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bs/db.h"
#include "bs/error.h"
#include "bs/kafka.h"
#include "bs/log.h"
#include "consumer_internal.h"

#define REASON_TENANT "tenant_mismatch"
#define REASON_DECODE "decode_error"

/* What running the transaction came to. */
enum txn_outcome {
    TXN_COMMITTED,
    TXN_DATA_ERROR, /* a record failed without savepoints: redo with them */
    TXN_INFRA_ERROR
};

static double now_seconds(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int bs__consumer_collect(struct bs_consumer *c)
{
    double deadline = now_seconds() + c->batch_wait_ms / 1000.0;

    while (c->count < (size_t)c->batch_size && !atomic_load(&c->stop)) {
        int remaining = (int)((deadline - now_seconds()) * 1000.0);
        rd_kafka_message_t *rkm;

        if (remaining <= 0)
            break;
        rkm = rd_kafka_consumer_poll(c->rk, remaining);
        if (!rkm)
            continue;
        if (rkm->err) {
            if (rkm->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
                bs_log_warn("consume_error error=\"%s\"",
                            rd_kafka_message_errstr(rkm));
            rd_kafka_message_destroy(rkm);
            continue;
        }
        memset(&c->batch[c->count], 0, sizeof(c->batch[c->count]));
        c->batch[c->count++].rkm = rkm;
    }
    if (c->count > 0)
        bs_metric_add(c->m.consumed, NULL, (double)c->count);
    return BS_OK;
}

static void drop_message(struct bs_consumer *c, struct bs__consumer_msg *msg)
{
    if (msg->decoded)
        c->handler.free_decoded(c->handler.ctx, msg->decoded);
    msg->decoded = NULL;
    rd_kafka_message_destroy(msg->rkm);
    msg->rkm = NULL;
}

void bs__consumer_drop_batch(struct bs_consumer *c)
{
    for (size_t i = 0; i < c->count; i++)
        drop_message(c, &c->batch[i]);
    c->count = 0;
}

void bs__consumer_drop_partitions(struct bs_consumer *c,
                                  const rd_kafka_topic_partition_list_t *l)
{
    size_t kept = 0;

    for (size_t i = 0; i < c->count; i++) {
        rd_kafka_message_t *rkm = c->batch[i].rkm;

        if (rd_kafka_topic_partition_list_find(l, rd_kafka_topic_name(rkm->rkt),
                                               rkm->partition))
            drop_message(c, &c->batch[i]);
        else
            c->batch[kept++] = c->batch[i];
    }
    c->count = kept;
}

static void reject(struct bs__consumer_msg *msg, const char *label,
                   const char *reason)
{
    msg->state = BS__MSG_REJECTED;
    snprintf(msg->label, sizeof(msg->label), "%s", label);
    snprintf(msg->reason, sizeof(msg->reason), "%s", reason);
}

static void log_rejected(const struct bs__consumer_msg *msg, const char *detail)
{
    bs_log_error("event_rejected reason=%s topic=%s partition=%" PRId32
                 " offset=%" PRId64 " detail=\"%s\"",
                 msg->label, rd_kafka_topic_name(msg->rkm->rkt),
                 msg->rkm->partition, msg->rkm->offset, detail);
}

/* Header, decode, record: the three checks before any row is touched. */
static void classify(struct bs_consumer *c, struct bs__consumer_msg *msg)
{
    char header[BS_PRODUCT_MAX + 1];
    char errstr[BS_CONSUMER_REASON_MAX - 32];
    const char *product = NULL;
    int result;

    msg->state = BS__MSG_APPLY;
    result = bs_kafka_message_product(msg->rkm, header, sizeof(header));
    if (result != BS_OK || strcmp(header, c->product) != 0) {
        reject(msg, REASON_TENANT, REASON_TENANT);
        log_rejected(msg, result == BS_OK ? "product header differs"
                                          : "no valid product header");
        return;
    }

    result = c->handler.decode(c->handler.ctx, msg->rkm->payload, msg->rkm->len,
                               &msg->decoded, &product, errstr, sizeof(errstr));
    if (result != BS_OK) {
        msg->decoded = NULL;
        reject(msg, REASON_DECODE, "");
        snprintf(msg->reason, sizeof(msg->reason), "%s: %s", REASON_DECODE,
                 errstr);
        log_rejected(msg, errstr);
        return;
    }

    if (!product || strcmp(product, c->product) != 0) {
        reject(msg, REASON_TENANT, REASON_TENANT);
        log_rejected(msg, "record product differs");
    }
}

/* Copies the original headers (but `product`) into out; returns the count
 * written, at most max. */
static size_t original_headers(const rd_kafka_message_t *rkm,
                               struct bs_publisher_header *out, size_t max,
                               struct bs_publisher_header *product)
{
    rd_kafka_headers_t *headers = NULL;
    const char *name;
    const void *value;
    size_t len, n = 0;

    if (rd_kafka_message_headers(rkm, &headers) != RD_KAFKA_RESP_ERR_NO_ERROR)
        return 0;
    for (size_t i = 0;
         n < max && rd_kafka_header_get_all(headers, i, &name, &value, &len) ==
                        RD_KAFKA_RESP_ERR_NO_ERROR;
         i++) {
        struct bs_publisher_header h = {name, value ? value : "", len};

        if (strcmp(name, BS_KAFKA_HEADER_PRODUCT) == 0) {
            h.name = BS_DLQ_HEADER_PRODUCT;
            *product = h;
        } else {
            out[n++] = h;
        }
    }
    return n;
}

#define DLQ_MAX_HEADERS 32

/* Publishes the raw message to <product>.dlq and waits for the broker. */
static int dead_letter(struct bs_consumer *c, struct bs__consumer_msg *msg,
                       char *errstr, size_t size)
{
    struct bs_publisher_header h[DLQ_MAX_HEADERS + 6];
    struct bs_publisher_header product = {NULL, NULL, 0};
    const rd_kafka_message_t *rkm = msg->rkm;
    const char *topic = rd_kafka_topic_name(rkm->rkt);
    char partition[16], offset[24];
    size_t n;

    snprintf(partition, sizeof(partition), "%" PRId32, rkm->partition);
    snprintf(offset, sizeof(offset), "%" PRId64, rkm->offset);
    n = original_headers(rkm, h, DLQ_MAX_HEADERS, &product);
    if (product.name)
        h[n++] = product;
    h[n++] =
        (struct bs_publisher_header){BS_DLQ_HEADER_TOPIC, topic, strlen(topic)};
    h[n++] = (struct bs_publisher_header){BS_DLQ_HEADER_PARTITION, partition,
                                          strlen(partition)};
    h[n++] = (struct bs_publisher_header){BS_DLQ_HEADER_OFFSET, offset,
                                          strlen(offset)};
    h[n++] = (struct bs_publisher_header){BS_DLQ_HEADER_SERVICE, c->service,
                                          strlen(c->service)};
    h[n++] = (struct bs_publisher_header){BS_DLQ_HEADER_REASON, msg->reason,
                                          strlen(msg->reason)};
    return bs_publisher_send_sync(c->publisher, c->dlq_topic, rkm->key,
                                  rkm->key_len, rkm->payload, rkm->len, h, n,
                                  BS__CONSUMER_DLQ_TIMEOUT_MS, errstr, size);
}

static int exec_step(struct bs_consumer *c, const char *sql, char *errstr,
                     size_t size)
{
    return bs_db_exec(c->db, sql, errstr, size);
}

/* Applies one record; with savepoints a data error undoes only it and
 * dead-letters it. */
static enum txn_outcome apply_one(struct bs_consumer *c,
                                  struct bs__consumer_msg *msg, bool savepoints,
                                  char *errstr, size_t size)
{
    const rd_kafka_message_t *rkm = msg->rkm;
    struct bs_consumer_message meta = {rd_kafka_topic_name(rkm->rkt),
                                       rkm->partition, rkm->offset, rkm->key,
                                       rkm->key_len};
    enum bs_consumer_result result;

    if (savepoints && exec_step(c, "SAVEPOINT bs_msg", errstr, size) != BS_OK)
        return TXN_INFRA_ERROR;
    result = c->handler.apply(c->handler.ctx, c->db, msg->decoded, &meta,
                              msg->reason, sizeof(msg->reason));
    if (result == BS_CONSUMER_INFRA_ERROR) {
        snprintf(errstr, size, "%s", msg->reason);
        return TXN_INFRA_ERROR;
    }
    if (result == BS_CONSUMER_APPLIED)
        return savepoints && exec_step(c, "RELEASE SAVEPOINT bs_msg", errstr,
                                       size) != BS_OK
                   ? TXN_INFRA_ERROR
                   : TXN_COMMITTED;
    if (!savepoints)
        return TXN_DATA_ERROR;

    /* A data error: undo this record only, set the message aside. */
    if (exec_step(c, "ROLLBACK TO SAVEPOINT bs_msg; RELEASE SAVEPOINT bs_msg",
                  errstr, size) != BS_OK)
        return TXN_INFRA_ERROR;
    msg->state = BS__MSG_DEAD;
    snprintf(msg->label, sizeof(msg->label), "%.*s",
             (int)strcspn(msg->reason, ":"), msg->reason);
    log_rejected(msg, msg->reason);
    return dead_letter(c, msg, errstr, size) == BS_OK ? TXN_COMMITTED
                                                      : TXN_INFRA_ERROR;
}

/* Kafka's copy of the offsets, for tooling; the lag gauge from the cached
 * watermarks. */
static void after_commit(struct bs_consumer *c,
                         rd_kafka_topic_partition_list_t *next)
{
    rd_kafka_resp_err_t err = rd_kafka_commit(c->rk, next, 1);

    if (err)
        bs_log_warn("kafka_commit_failed error=\"%s\"", rd_kafka_err2str(err));
    bs__consumer_update_lag(c, next);
}

/* Hands every record to apply_batch at once; a data error anywhere sends
 * the batch back to be redone record by record. */
static enum txn_outcome apply_all(struct bs_consumer *c, char *errstr,
                                  size_t size)
{
    char reason[BS_CONSUMER_REASON_MAX];
    enum bs_consumer_result result;
    size_t n = 0;

    for (size_t i = 0; i < c->count; i++) {
        const rd_kafka_message_t *rkm = c->batch[i].rkm;

        if (c->batch[i].state != BS__MSG_APPLY)
            continue;
        c->batch_records[n] = c->batch[i].decoded;
        c->batch_meta[n++] = (struct bs_consumer_message){
            rd_kafka_topic_name(rkm->rkt), rkm->partition, rkm->offset,
            rkm->key, rkm->key_len};
    }
    if (n == 0)
        return TXN_COMMITTED;
    result = c->handler.apply_batch(c->handler.ctx, c->db, c->batch_records,
                                    c->batch_meta, n, reason, sizeof(reason));
    if (result == BS_CONSUMER_APPLIED)
        return TXN_COMMITTED;
    if (result == BS_CONSUMER_DATA_ERROR) {
        bs_log_info("batch_redone_per_record count=%zu reason=\"%s\"", n,
                    reason);
        return TXN_DATA_ERROR;
    }
    snprintf(errstr, size, "%s", reason);
    return TXN_INFRA_ERROR;
}

static enum txn_outcome run_transaction(struct bs_consumer *c, bool savepoints,
                                        char *errstr, size_t size)
{
    rd_kafka_topic_partition_list_t *next = NULL;
    enum txn_outcome outcome = TXN_COMMITTED;

    if (bs_db_begin_product(c->db, c->product, errstr, size) != BS_OK)
        return TXN_INFRA_ERROR;
    if (!savepoints && c->handler.apply_batch)
        outcome = apply_all(c, errstr, size);
    else
        for (size_t i = 0; i < c->count && outcome == TXN_COMMITTED; i++)
            if (c->batch[i].state == BS__MSG_APPLY)
                outcome = apply_one(c, &c->batch[i], savepoints, errstr, size);
    if (outcome != TXN_COMMITTED)
        goto out;

    if (bs__consumer_store_offsets(c, &next, errstr, size) != BS_OK ||
        bs_db_commit(c->db, errstr, size) != BS_OK) {
        outcome = TXN_INFRA_ERROR;
        goto out;
    }
    after_commit(c, next);
out:
    if (next)
        rd_kafka_topic_partition_list_destroy(next);
    if (outcome != TXN_COMMITTED &&
        PQtransactionStatus(c->db) != PQTRANS_IDLE) {
        char ignored[256];

        bs_db_rollback(c->db, ignored, sizeof(ignored));
    }
    return outcome;
}

static void count_outcomes(struct bs_consumer *c)
{
    size_t applied = 0;

    for (size_t i = 0; i < c->count; i++) {
        const struct bs__consumer_msg *msg = &c->batch[i];

        if (msg->state == BS__MSG_APPLY) {
            applied++;
            continue;
        }
        bs_metric_inc(c->m.rejected, BS_LABELS(msg->label));
        bs_metric_inc(c->m.dead_lettered, BS_LABELS(msg->label));
    }
    if (applied > 0)
        bs_metric_add(c->m.applied, NULL, (double)applied);
}

int bs__consumer_process(struct bs_consumer *c, char *errstr, size_t size)
{
    double started = now_seconds();
    enum txn_outcome outcome;
    int result;

    /* Refusals first, acknowledged before the offsets move past them. */
    for (size_t i = 0; i < c->count; i++) {
        classify(c, &c->batch[i]);
        if (c->batch[i].state != BS__MSG_REJECTED)
            continue;
        result = dead_letter(c, &c->batch[i], errstr, size);
        if (result != BS_OK)
            return result;
    }

    outcome = run_transaction(c, false, errstr, size);
    if (outcome == TXN_DATA_ERROR)
        outcome = run_transaction(c, true, errstr, size);
    if (outcome != TXN_COMMITTED)
        return BS_EDB;

    count_outcomes(c);
    bs_metric_observe(c->m.batch_duration, NULL, now_seconds() - started);
    return BS_OK;
}
