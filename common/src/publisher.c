/*
 * publisher.c - one idempotent producer, and a wait for each message's ack.
 *
 * bs_publisher_send_sync() gives every message a small completion (mutex,
 * condition variable, result) as its opaque and waits on it; a background
 * thread polls librdkafka so delivery reports are served even when no sender
 * is waiting. The completion is shared by two owners, the waiter and the
 * delivery report, and freed by whichever lets go last: a waiter that gives
 * up does not leave the report writing into freed memory.
 *
 * Topics are named per message (RD_KAFKA_V_TOPIC); librdkafka keeps the
 * topic handles itself. Readiness is a broker metadata request, asked at
 * most once a second and otherwise answered from the last result.
 *
 * Not here: transactions, batching APIs, choosing partitions (the key
 * does), retrying a send that timed out (the caller's sender retries).
 */
#include "bs/publisher.h"

#include "bs/error.h"
#include "bs/kafka.h"
#include "bs/log.h"
#include "bs/product.h"

#include <librdkafka/rdkafka.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define READY_CHECK_INTERVAL_MS 1000
#define READY_CHECK_TIMEOUT_MS  500
#define FREE_FLUSH_TIMEOUT_MS   10000

/* One message in flight: shared by the waiter and the delivery report. */
struct completion {
    pthread_mutex_t mutex;
    pthread_cond_t done_cond;
    int refs; /* 2 while both the waiter and the report hold it */
    bool done;
    rd_kafka_resp_err_t err;
};

struct bs_publisher {
    rd_kafka_t *rk;
    char product[BS_PRODUCT_MAX + 1];
    pthread_t poller;
    atomic_bool stopping;

    /* Readiness: the last answer and when it was asked (monotonic ms). */
    pthread_mutex_t ready_mutex;
    atomic_bool ready;
    long long ready_checked_ms;

    struct bs_metric *publish_total;    /* {topic, result} */
    struct bs_metric *publish_duration; /* {topic} */
};

static long long monotonic_ms(void)
{
    struct timespec now;

    clock_gettime(CLOCK_MONOTONIC, &now);
    return (long long)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

static double monotonic_seconds(void)
{
    struct timespec now;

    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)now.tv_sec + (double)now.tv_nsec / 1e9;
}

static struct completion *completion_new(void)
{
    struct completion *completion = calloc(1, sizeof(*completion));
    pthread_condattr_t attr;

    if (!completion)
        return NULL;
    pthread_mutex_init(&completion->mutex, NULL);
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&completion->done_cond, &attr);
    pthread_condattr_destroy(&attr);
    completion->refs = 2;
    return completion;
}

static void completion_destroy(struct completion *completion)
{
    pthread_mutex_destroy(&completion->mutex);
    pthread_cond_destroy(&completion->done_cond);
    free(completion);
}

/* Drops one owner's reference; the last one frees. */
static void completion_release(struct completion *completion)
{
    int refs;

    pthread_mutex_lock(&completion->mutex);
    refs = --completion->refs;
    pthread_mutex_unlock(&completion->mutex);
    if (refs == 0)
        completion_destroy(completion);
}

/* Delivery report: records the result, wakes the waiter, lets go. */
static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *message,
                        void *conf_opaque)
{
    struct completion *completion = message->_private;

    (void)rk;
    (void)conf_opaque;
    if (!completion)
        return;

    pthread_mutex_lock(&completion->mutex);
    completion->done = true;
    completion->err = message->err;
    pthread_cond_signal(&completion->done_cond);
    pthread_mutex_unlock(&completion->mutex);
    completion_release(completion);
}

/* Waits for the report until the deadline; true when it came. */
static bool completion_wait(struct completion *completion, int timeout_ms,
                            rd_kafka_resp_err_t *err)
{
    struct timespec deadline;
    bool done;

    clock_gettime(CLOCK_MONOTONIC, &deadline);
    deadline.tv_sec += timeout_ms / 1000;
    deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (deadline.tv_nsec >= 1000000000L) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000L;
    }

    pthread_mutex_lock(&completion->mutex);
    while (!completion->done &&
           pthread_cond_timedwait(&completion->done_cond, &completion->mutex,
                                  &deadline) == 0)
        ;
    done = completion->done;
    *err = completion->err;
    pthread_mutex_unlock(&completion->mutex);
    return done;
}

static void *poll_loop(void *arg)
{
    struct bs_publisher *publisher = arg;

    while (!atomic_load(&publisher->stopping))
        rd_kafka_poll(publisher->rk, 100);
    return NULL;
}

static void register_metrics(struct bs_publisher *publisher,
                             struct bs_metrics *metrics)
{
    if (!metrics)
        return;
    publisher->publish_total = bs_metrics_counter(
        metrics, "bs_publish_total",
        "Messages published, by topic and result (ok, timeout, error).",
        BS_LABELS("topic", "result"));
    publisher->publish_duration = bs_metrics_histogram(
        metrics, "bs_publish_duration_seconds",
        "Time from send to the broker's answer, by topic.", BS_LABELS("topic"),
        bs_metrics_latency_buckets, bs_metrics_latency_bucket_count);
}

int bs_publisher_new(struct bs_publisher **out, const char *bootstrap,
                     const char *service, const char *product,
                     struct bs_metrics *metrics, char *errstr,
                     size_t errstr_size)
{
    struct bs_publisher *publisher = NULL;
    rd_kafka_conf_t *conf = NULL;
    int result;

    *out = NULL;
    if (!product || !bs_product_name_valid(product))
        return bs_fail(errstr, errstr_size, BS_EINVAL,
                       "a publisher needs a valid product name");
    publisher = calloc(1, sizeof(*publisher));
    if (!publisher)
        return bs_fail(errstr, errstr_size, BS_ENOMEM, "out of memory");
    snprintf(publisher->product, sizeof(publisher->product), "%s", product);
    pthread_mutex_init(&publisher->ready_mutex, NULL);
    atomic_init(&publisher->stopping, false);
    atomic_init(&publisher->ready, false);
    register_metrics(publisher, metrics);

    /* The producer, with our delivery report. */
    result = bs_kafka_producer_conf_new(&conf, bootstrap, service, product,
                                        errstr, errstr_size);
    if (result != BS_OK)
        goto error;
    rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
    result = bs_kafka_producer_new(&publisher->rk, conf, errstr, errstr_size);
    if (result != BS_OK)
        goto error;

    /* The thread that serves delivery reports. */
    if (pthread_create(&publisher->poller, NULL, poll_loop, publisher) != 0) {
        result = bs_fail(errstr, errstr_size, BS_ENOMEM,
                         "cannot start the delivery-report thread");
        goto error;
    }
    *out = publisher;
    return BS_OK;

error:
    if (publisher->rk)
        rd_kafka_destroy(publisher->rk);
    pthread_mutex_destroy(&publisher->ready_mutex);
    free(publisher);
    return result;
}

/* "<product>." followed by a non-empty kind. */
static bool topic_is_ours(const struct bs_publisher *publisher,
                          const char *topic)
{
    size_t len = strlen(publisher->product);

    return topic && strncmp(topic, publisher->product, len) == 0 &&
           topic[len] == '.' && topic[len + 1] != '\0';
}

/* The product header plus the caller's; NULL when out of memory. */
static rd_kafka_headers_t *
headers_build(const struct bs_publisher *publisher,
              const struct bs_publisher_header *headers, size_t header_count)
{
    rd_kafka_headers_t *list = rd_kafka_headers_new(header_count + 1);

    if (!list)
        return NULL;
    if (bs_kafka_headers_add_product(list, publisher->product) != BS_OK)
        goto error;
    for (size_t i = 0; i < header_count; i++) {
        if (rd_kafka_header_add(list, headers[i].name, -1, headers[i].value,
                                (ssize_t)headers[i].len) !=
            RD_KAFKA_RESP_ERR_NO_ERROR)
            goto error;
    }
    return list;

error:
    rd_kafka_headers_destroy(list);
    return NULL;
}

static void count(struct bs_publisher *publisher, const char *topic,
                  const char *outcome, double started)
{
    bs_metric_inc(publisher->publish_total, BS_LABELS(topic, outcome));
    if (started > 0)
        bs_metric_observe(publisher->publish_duration, BS_LABELS(topic),
                          monotonic_seconds() - started);
}

/* Hands the message to librdkafka; on success the headers and one
 * reference of the completion are librdkafka's. */
static rd_kafka_resp_err_t produce(struct bs_publisher *publisher,
                                   const char *topic, const void *key,
                                   size_t key_len, const void *value,
                                   size_t value_len, rd_kafka_headers_t *list,
                                   struct completion *completion)
{
    return rd_kafka_producev(publisher->rk, RD_KAFKA_V_TOPIC(topic),
                             RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                             RD_KAFKA_V_KEY((void *)key, key_len),
                             RD_KAFKA_V_VALUE((void *)value, value_len),
                             RD_KAFKA_V_HEADERS(list),
                             RD_KAFKA_V_OPAQUE(completion), RD_KAFKA_V_END);
}

int bs_publisher_send_sync(struct bs_publisher *publisher, const char *topic,
                           const void *key, size_t key_len, const void *value,
                           size_t value_len,
                           const struct bs_publisher_header *headers,
                           size_t header_count, int timeout_ms, char *errstr,
                           size_t errstr_size)
{
    double started = monotonic_seconds();
    struct completion *completion = NULL;
    rd_kafka_headers_t *list = NULL;
    rd_kafka_resp_err_t err;
    int result;

    /* Only this product's topics. */
    if (!topic_is_ours(publisher, topic))
        return bs_fail(errstr, errstr_size, BS_EINVAL,
                       "topic %s is not a %s topic", topic ? topic : "(null)",
                       publisher->product);

    /* The message, its headers and its completion. */
    completion = completion_new();
    list = headers_build(publisher, headers, header_count);
    if (!completion || !list) {
        result = bs_fail(errstr, errstr_size, BS_ENOMEM,
                         "cannot build the message for %s", topic);
        goto error;
    }
    err = produce(publisher, topic, key, key_len, value, value_len, list,
                  completion);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        result =
            bs_fail(errstr, errstr_size, BS_EKAFKA, "cannot publish to %s: %s",
                    topic, rd_kafka_err2str(err));
        count(publisher, topic, "error", 0);
        goto error;
    }

    /* Wait for the broker; the report may outlive our wait. */
    if (!completion_wait(completion, timeout_ms, &err)) {
        completion_release(completion);
        count(publisher, topic, "timeout", 0);
        return bs_fail(errstr, errstr_size, BS_ETIMEDOUT,
                       "no acknowledgement from the broker for %s within "
                       "%d ms",
                       topic, timeout_ms);
    }
    completion_release(completion);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        count(publisher, topic, "error", started);
        return bs_fail(errstr, errstr_size, BS_EKAFKA,
                       "the broker refused a message for %s: %s", topic,
                       rd_kafka_err2str(err));
    }
    count(publisher, topic, "ok", started);
    return BS_OK;

error:
    if (list)
        rd_kafka_headers_destroy(list);
    if (completion)
        completion_destroy(completion);
    return result;
}

/* One broker-level metadata request: true when a broker answered. */
static bool metadata_answered(rd_kafka_t *rk)
{
    const struct rd_kafka_metadata *metadata = NULL;
    bool answered;

    if (rd_kafka_metadata(rk, 0, NULL, &metadata, READY_CHECK_TIMEOUT_MS) !=
        RD_KAFKA_RESP_ERR_NO_ERROR)
        return false;
    answered = metadata->broker_cnt > 0;
    rd_kafka_metadata_destroy(metadata);
    return answered;
}

bool bs_publisher_ready(struct bs_publisher *publisher)
{
    long long now = monotonic_ms();
    bool ready;

    /* Someone else is asking: their answer will do, use the last one. */
    if (pthread_mutex_trylock(&publisher->ready_mutex) != 0)
        return atomic_load(&publisher->ready);

    if (publisher->ready_checked_ms == 0 ||
        now - publisher->ready_checked_ms >= READY_CHECK_INTERVAL_MS) {
        atomic_store(&publisher->ready, metadata_answered(publisher->rk));
        publisher->ready_checked_ms = monotonic_ms();
    }
    ready = atomic_load(&publisher->ready);
    pthread_mutex_unlock(&publisher->ready_mutex);
    return ready;
}

int bs_publisher_flush(struct bs_publisher *publisher, int timeout_ms,
                       char *errstr, size_t errstr_size)
{
    if (rd_kafka_flush(publisher->rk, timeout_ms) == RD_KAFKA_RESP_ERR_NO_ERROR)
        return BS_OK;
    return bs_fail(errstr, errstr_size, BS_ETIMEDOUT,
                   "%d message(s) still unacknowledged after %d ms",
                   rd_kafka_outq_len(publisher->rk), timeout_ms);
}

void bs_publisher_free(struct bs_publisher *publisher)
{
    char errstr[256];

    if (!publisher)
        return;

    /* Stop our poller; flush polls by itself from here on. */
    atomic_store(&publisher->stopping, true);
    pthread_join(publisher->poller, NULL);
    if (bs_publisher_flush(publisher, FREE_FLUSH_TIMEOUT_MS, errstr,
                           sizeof(errstr)) != BS_OK)
        bs_log_error("publisher_flush_incomplete reason=\"%s\"", errstr);

    /* Whatever is left fails now, so each completion gets its report. */
    rd_kafka_purge(publisher->rk,
                   RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
    rd_kafka_flush(publisher->rk, 1000);
    rd_kafka_destroy(publisher->rk);
    pthread_mutex_destroy(&publisher->ready_mutex);
    free(publisher);
}
