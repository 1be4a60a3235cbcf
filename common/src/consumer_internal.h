/*
 * consumer_internal.h - the consumer pipeline's state, shared by
 * consumer.c (life cycle and run loop), consumer_batch.c (one batch: checks,
 * dead letters, the transaction) and consumer_offsets.c (offsets stored in
 * PostgreSQL, partition assignment, seeking back).
 */
#ifndef BS_CONSUMER_INTERNAL_H
#define BS_CONSUMER_INTERNAL_H

#include <librdkafka/rdkafka.h>
#include <stdatomic.h>

#include "bs/consumer.h"
#include "bs/product.h"
#include "bs/publisher.h"

#define BS__CONSUMER_NAME_MAX       256
#define BS__CONSUMER_DLQ_TIMEOUT_MS 10000

enum bs__msg_state {
    BS__MSG_APPLY,    /* decoded, for the transaction */
    BS__MSG_REJECTED, /* refused before the transaction (tenant, decode) */
    BS__MSG_DEAD      /* apply said data error */
};

struct bs__consumer_msg {
    rd_kafka_message_t *rkm;
    void *decoded;
    enum bs__msg_state state;
    char label[40]; /* metric reason, e.g. "tenant_mismatch" */
    char reason[BS_CONSUMER_REASON_MAX];
};

struct bs__consumer_metrics {
    struct bs_metric *consumed;
    struct bs_metric *applied;
    struct bs_metric *rejected;
    struct bs_metric *dead_lettered;
    struct bs_metric *batch_duration;
    struct bs_metric *lag;
    struct bs_metric *ready;
};

struct bs_consumer {
    char service[BS__CONSUMER_NAME_MAX];
    char product[BS_PRODUCT_MAX + 1];
    char group[BS__CONSUMER_NAME_MAX];
    char dlq_topic[BS__CONSUMER_NAME_MAX];
    char *conninfo;
    int batch_size;
    int batch_wait_ms;
    struct bs_consumer_handler handler;
    struct bs__consumer_metrics m;

    rd_kafka_t *rk;
    PGconn *db; /* NULL while disconnected */
    struct bs_publisher *publisher;

    struct bs__consumer_msg *batch; /* batch_size slots */
    size_t count;
    /* batch_size slots each, for handler.apply_batch (NULL without it) */
    void **batch_records;
    struct bs_consumer_message *batch_meta;

    bool resync;          /* seek to the stored offsets before the next batch */
    int backoff_ms;       /* the next infrastructure back-off */
    double last_db_check; /* monotonic seconds of the last good statement */
    atomic_bool stop;
    atomic_bool ready;
};

/* consumer_batch.c */
int bs__consumer_collect(struct bs_consumer *c);
int bs__consumer_process(struct bs_consumer *c, char *errstr, size_t size);
void bs__consumer_drop_batch(struct bs_consumer *c);
void bs__consumer_drop_partitions(struct bs_consumer *c,
                                  const rd_kafka_topic_partition_list_t *l);

/* consumer_offsets.c */
int bs__consumer_read_offsets(struct bs_consumer *c,
                              rd_kafka_topic_partition_list_t *partitions,
                              char *errstr, size_t size);
int bs__consumer_store_offsets(struct bs_consumer *c,
                               rd_kafka_topic_partition_list_t **out,
                               char *errstr, size_t size);
int bs__consumer_seek_stored(struct bs_consumer *c, char *errstr, size_t size);
void bs__consumer_rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                               rd_kafka_topic_partition_list_t *partitions,
                               void *opaque);
void bs__consumer_update_lag(struct bs_consumer *c,
                             const rd_kafka_topic_partition_list_t *next);

#endif
