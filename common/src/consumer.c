/*
 * consumer.c - the consumer pipeline's life cycle and run loop.
 *
 * Creates the PostgreSQL connection, the DLQ publisher and the Kafka
 * consumer; runs batches until stopped; on an infrastructure error rolls
 * back, reports not-ready, backs off, reconnects and seeks back to the
 * offsets stored in PostgreSQL. A batch itself is consumer_batch.c; the
 * stored offsets and partition assignment are consumer_offsets.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bs/db.h"
#include "bs/error.h"
#include "bs/kafka.h"
#include "bs/log.h"
#include "consumer_internal.h"

#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 5000
#define IDLE_PING_S    5.0

static void register_metrics(struct bs_consumer *c, struct bs_metrics *reg)
{
    c->m.consumed = bs_metrics_counter(reg, "bs_events_consumed_total",
                                       "Messages polled from Kafka", NULL);
    c->m.applied = bs_metrics_counter(reg, "bs_events_applied_total",
                                      "Records applied and committed", NULL);
    c->m.rejected = bs_metrics_counter(reg, "bs_events_rejected_total",
                                       "Messages not applied, by reason",
                                       BS_LABELS("reason"));
    c->m.dead_lettered = bs_metrics_counter(
        reg, "bs_events_dead_lettered_total",
        "Messages written to the dead-letter topic, by reason",
        BS_LABELS("reason"));
    c->m.batch_duration = bs_metrics_histogram(
        reg, "bs_batch_duration_seconds", "Time to process one batch", NULL,
        bs_metrics_latency_buckets, bs_metrics_latency_bucket_count);
    c->m.lag = bs_metrics_gauge(reg, "bs_consumer_lag",
                                "Messages behind the partition's end",
                                BS_LABELS("topic", "partition"));
    c->m.ready = bs_metrics_gauge(reg, "bs_consumer_ready",
                                  "1 when PostgreSQL and Kafka work", NULL);
}

static void set_ready(struct bs_consumer *c, bool ready)
{
    atomic_store(&c->ready, ready);
    bs_metric_set(c->m.ready, NULL, ready ? 1 : 0);
}

/* Connects to PostgreSQL and prepares the service's statements. */
static int connect_db(struct bs_consumer *c, char *errstr, size_t size)
{
    int result;

    if (c->db) {
        PQfinish(c->db);
        c->db = NULL;
    }
    c->db = bs_db_connect(c->conninfo, c->service, errstr, size);
    if (!c->db)
        return BS_EDB;
    if (!c->handler.prepare)
        return BS_OK;
    result = c->handler.prepare(c->handler.ctx, c->db, errstr, size);
    if (result != BS_OK) {
        PQfinish(c->db);
        c->db = NULL;
    }
    return result;
}

static int copy_config(struct bs_consumer *c,
                       const struct bs_consumer_config *config, char *errstr,
                       size_t size)
{
    const struct bs_consumer_handler *h = &config->handler;

    if (!config->bootstrap || !*config->bootstrap || !config->service ||
        !config->conninfo || !config->topic_kinds || !config->topic_kinds[0] ||
        !h->decode || !h->apply || !h->free_decoded)
        return bs_fail(errstr, size, BS_EINVAL, "incomplete consumer config");
    if (!config->product || !bs_product_name_valid(config->product))
        return bs_fail(errstr, size, BS_EINVAL, "invalid product");
    snprintf(c->service, sizeof(c->service), "%s", config->service);
    snprintf(c->product, sizeof(c->product), "%s", config->product);
    if (config->group_id)
        snprintf(c->group, sizeof(c->group), "%s", config->group_id);
    else
        snprintf(c->group, sizeof(c->group), "%.200s-%s", c->service,
                 c->product);
    if (bs_product_topic(c->product, "dlq", c->dlq_topic,
                         sizeof(c->dlq_topic)) != BS_OK)
        return bs_fail(errstr, size, BS_EINVAL, "cannot name the DLQ topic");
    c->batch_size = config->batch_size > 0 ? config->batch_size
                                           : BS_CONSUMER_BATCH_SIZE_DEFAULT;
    c->batch_wait_ms = config->batch_wait_ms > 0
                           ? config->batch_wait_ms
                           : BS_CONSUMER_BATCH_WAIT_MS_DEFAULT;
    c->handler = *h;
    c->conninfo = strdup(config->conninfo);
    c->batch = calloc((size_t)c->batch_size, sizeof(*c->batch));
    if (h->apply_batch) {
        c->batch_records =
            calloc((size_t)c->batch_size, sizeof(*c->batch_records));
        c->batch_meta = calloc((size_t)c->batch_size, sizeof(*c->batch_meta));
        if (!c->batch_records || !c->batch_meta)
            return bs_fail(errstr, size, BS_ENOMEM, "out of memory");
    }
    if (!c->conninfo || !c->batch)
        return bs_fail(errstr, size, BS_ENOMEM, "out of memory");
    return BS_OK;
}

static int subscribe(struct bs_consumer *c,
                     const struct bs_consumer_config *config, char *errstr,
                     size_t size)
{
    rd_kafka_topic_partition_list_t *topics;
    rd_kafka_resp_err_t err;
    char topic[BS__CONSUMER_NAME_MAX];
    int result = BS_OK;
    size_t n = 0;

    while (config->topic_kinds[n])
        n++;
    topics = rd_kafka_topic_partition_list_new((int)n);
    for (size_t i = 0; i < n && result == BS_OK; i++) {
        result = bs_product_topic(c->product, config->topic_kinds[i], topic,
                                  sizeof(topic));
        if (result != BS_OK)
            result = bs_fail(errstr, size, BS_EINVAL, "invalid topic kind");
        else
            rd_kafka_topic_partition_list_add(topics, topic,
                                              RD_KAFKA_PARTITION_UA);
    }
    if (result == BS_OK) {
        err = rd_kafka_subscribe(c->rk, topics);
        if (err)
            result = bs_fail(errstr, size, BS_EKAFKA, "subscribe: %s",
                             rd_kafka_err2str(err));
    }
    rd_kafka_topic_partition_list_destroy(topics);
    return result;
}

static int create_kafka(struct bs_consumer *c,
                        const struct bs_consumer_config *config, char *errstr,
                        size_t size)
{
    rd_kafka_conf_t *conf = NULL;
    int result;

    result = bs_publisher_new(&c->publisher, config->bootstrap, c->service,
                              c->product, config->metrics, errstr, size);
    if (result != BS_OK)
        return result;
    result = bs_kafka_consumer_conf_new(&conf, config->bootstrap, c->service,
                                        c->product, c->group, errstr, size);
    if (result != BS_OK)
        return result;
    rd_kafka_conf_set_rebalance_cb(conf, bs__consumer_rebalance_cb);
    rd_kafka_conf_set_opaque(conf, c);
    result = bs_kafka_consumer_new(&c->rk, conf, errstr, size);
    if (result != BS_OK)
        return result;
    return subscribe(c, config, errstr, size);
}

int bs_consumer_new(struct bs_consumer **out,
                    const struct bs_consumer_config *config, char *errstr,
                    size_t errstr_size)
{
    struct bs_consumer *c;
    int result;

    *out = NULL;
    c = calloc(1, sizeof(*c));
    if (!c)
        return bs_fail(errstr, errstr_size, BS_ENOMEM, "out of memory");
    atomic_init(&c->stop, false);
    atomic_init(&c->ready, false);
    c->backoff_ms = BACKOFF_MIN_MS;

    result = copy_config(c, config, errstr, errstr_size);
    if (result != BS_OK)
        goto out;
    register_metrics(c, config->metrics);

    /* PostgreSQL first: without it nothing can be applied. */
    result = connect_db(c, errstr, errstr_size);
    if (result != BS_OK)
        goto out;
    result = create_kafka(c, config, errstr, errstr_size);
    if (result != BS_OK)
        goto out;

    set_ready(c, true);
    bs_log_info("consumer_started group=%s batch_size=%d batch_wait_ms=%d",
                c->group, c->batch_size, c->batch_wait_ms);
    *out = c;
    c = NULL;
out:
    bs_consumer_free(c);
    return result;
}

/* Sleeps ms milliseconds in slices, returning early when stopped. */
static void sleep_unless_stopped(struct bs_consumer *c, int ms)
{
    while (ms > 0 && !atomic_load(&c->stop)) {
        int slice = ms < 100 ? ms : 100;
        struct timespec ts = {0, (long)slice * 1000000L};

        nanosleep(&ts, NULL);
        ms -= slice;
    }
}

/* Waits the current back-off (with up to 50 % jitter) and doubles it. */
static void back_off(struct bs_consumer *c)
{
    int jitter = rand() % (c->backoff_ms / 2 + 1);

    sleep_unless_stopped(c, c->backoff_ms / 2 + jitter);
    c->backoff_ms *= 2;
    if (c->backoff_ms > BACKOFF_MAX_MS)
        c->backoff_ms = BACKOFF_MAX_MS;
}

/* After an infrastructure error: nothing of the batch is kept; the next
 * batch starts from the offsets PostgreSQL holds. */
static void infra_failed(struct bs_consumer *c, const char *step,
                         const char *errstr)
{
    char ignored[256];

    bs_log_error("consumer_infra_error step=%s error=\"%s\" retry_ms=%d", step,
                 errstr, c->backoff_ms);
    if (c->db && PQtransactionStatus(c->db) != PQTRANS_IDLE)
        bs_db_rollback(c->db, ignored, sizeof(ignored));
    if (c->db && PQstatus(c->db) != CONNECTION_OK) {
        PQfinish(c->db);
        c->db = NULL;
    }
    bs__consumer_drop_batch(c);
    c->resync = true;
    set_ready(c, false);
    back_off(c);
}

/* Reconnects if needed and seeks back to the stored offsets. */
static int recover(struct bs_consumer *c, char *errstr, size_t size)
{
    int result = BS_OK;

    if (!c->db)
        result = connect_db(c, errstr, size);
    if (result == BS_OK && c->resync)
        result = bs__consumer_seek_stored(c, errstr, size);
    if (result == BS_OK) {
        if (c->resync)
            bs_log_info("consumer_resumed group=%s", c->group);
        c->resync = false;
    }
    return result;
}

static double monotonic_seconds(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* With nothing to apply, checks the connection now and then, so /readyz
 * tells the truth about an idle consumer too. */
static int ping_when_idle(struct bs_consumer *c, char *errstr, size_t size)
{
    double now = monotonic_seconds();

    if (now - c->last_db_check < IDLE_PING_S)
        return BS_OK;
    c->last_db_check = now;
    return bs_db_exec(c->db, "SELECT 1", errstr, size);
}

int bs_consumer_run(struct bs_consumer *c)
{
    char errstr[512];

    while (!atomic_load(&c->stop)) {
        if ((!c->db || c->resync) &&
            recover(c, errstr, sizeof(errstr)) != BS_OK) {
            infra_failed(c, "reconnect", errstr);
            continue;
        }

        /* A rebalance inside the poll may ask for a resync. */
        bs__consumer_collect(c);
        if (c->resync) {
            bs__consumer_drop_batch(c);
            continue;
        }
        if (c->count == 0) {
            if (ping_when_idle(c, errstr, sizeof(errstr)) != BS_OK)
                infra_failed(c, "ping", errstr);
            continue;
        }

        if (bs__consumer_process(c, errstr, sizeof(errstr)) != BS_OK) {
            infra_failed(c, "batch", errstr);
            continue;
        }
        bs__consumer_drop_batch(c);
        c->last_db_check = monotonic_seconds();
        c->backoff_ms = BACKOFF_MIN_MS;
        if (!atomic_load(&c->ready)) {
            set_ready(c, true);
            bs_log_info("consumer_ready group=%s", c->group);
        }
    }
    bs__consumer_drop_batch(c);
    return BS_OK;
}

void bs_consumer_stop(struct bs_consumer *consumer)
{
    atomic_store(&consumer->stop, true);
}

bool bs_consumer_ready(struct bs_consumer *consumer)
{
    return atomic_load(&consumer->ready) &&
           bs_publisher_ready(consumer->publisher);
}

void bs_consumer_free(struct bs_consumer *c)
{
    if (!c)
        return;
    bs__consumer_drop_batch(c);
    if (c->rk) {
        rd_kafka_consumer_close(c->rk);
        rd_kafka_destroy(c->rk);
    }
    bs_publisher_free(c->publisher);
    if (c->db)
        PQfinish(c->db);
    free(c->batch);
    free(c->batch_records);
    free(c->batch_meta);
    free(c->conninfo);
    free(c);
}

enum bs_consumer_result bs_consumer_db_result(PGconn *conn,
                                              const PGresult *result,
                                              char *reason, size_t reason_size)
{
    char message[BS_CONSUMER_REASON_MAX - 32];
    const char *state;

    bs_db_result_error(conn, result, message, sizeof(message));
    if (bs_db_error_kind(conn, result) != BS_DB_ERROR_DATA) {
        bs_log_error("apply_failed error=\"%s\"", message);
        snprintf(reason, reason_size, "infrastructure: %s", message);
        return BS_CONSUMER_INFRA_ERROR;
    }
    state = PQresultErrorField(result, PG_DIAG_SQLSTATE);
    snprintf(reason, reason_size, "%s: %s",
             state && strncmp(state, "23", 2) == 0 ? "constraint_violation"
                                                   : "invalid_data",
             message);
    return BS_CONSUMER_DATA_ERROR;
}
