/*
 * broker_harness.c - reading the broker fixture's record and the producing
 * and consuming helpers integration tests share.
 */
#include "broker_harness.h"
#include "harness.h"

#include "bs/error.h"
#include "bs/kafka.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define TEST_SERVICE "test"

/* A delivery still waiting for its report. */
#define DELIVERY_PENDING RD_KAFKA_RESP_ERR__IN_PROGRESS

char *bs_broker_bootstrap(void)
{
    char path[1024];
    char *bootstrap;

    bootstrap = bs_test_read_file(
        bs_test_state_path("broker/bootstrap", path, sizeof(path)));
    if (bootstrap && !*bootstrap) {
        free(bootstrap);
        return NULL;
    }
    return bootstrap;
}

const char *bs_broker_kind(void)
{
    char path[1024];
    char *kind;
    const char *result = NULL;

    kind = bs_test_read_file(
        bs_test_state_path("broker/kind", path, sizeof(path)));
    if (kind && strcmp(kind, BS_BROKER_KIND_KAFKA) == 0)
        result = BS_BROKER_KIND_KAFKA;
    else if (kind && strcmp(kind, BS_BROKER_KIND_DEVBROKER) == 0)
        result = BS_BROKER_KIND_DEVBROKER;
    free(kind);
    return result;
}

bool bs_broker_is_devbroker(void)
{
    const char *kind = bs_broker_kind();

    return kind && strcmp(kind, BS_BROKER_KIND_DEVBROKER) == 0;
}

const char *bs_broker_unique_name(const char *prefix, char *buf, size_t size)
{
    static unsigned counter;
    struct timespec now;

    clock_gettime(CLOCK_REALTIME, &now);
    snprintf(buf, size, "%s-%ld-%lld%09ld-%u", prefix, (long)getpid(),
             (long long)now.tv_sec, now.tv_nsec, ++counter);
    return buf;
}

/* Stores each message's delivery result where its opaque points. */
static void delivery_cb(rd_kafka_t *rk, const rd_kafka_message_t *message,
                        void *opaque)
{
    rd_kafka_resp_err_t *status = message->_private;

    if (status)
        *status = message->err;
}

int bs_broker_producer_new(rd_kafka_t **out, const char *product, char *errstr,
                           size_t errstr_size)
{
    char *bootstrap = bs_broker_bootstrap();
    rd_kafka_conf_t *conf = NULL;
    int result;

    *out = NULL;
    if (!bootstrap)
        return bs_fail(errstr, errstr_size, BS_ENOTFOUND,
                       "the broker fixture recorded no bootstrap");
    result = bs_kafka_producer_conf_new(&conf, bootstrap, TEST_SERVICE, product,
                                        errstr, errstr_size);
    if (result != BS_OK)
        goto out;
    rd_kafka_conf_set_dr_msg_cb(conf, delivery_cb);
    result = bs_kafka_producer_new(out, conf, errstr, errstr_size);

out:
    free(bootstrap);
    return result;
}

/* A consumer configuration plus optional extra name/value settings. */
static int consumer_new(rd_kafka_t **out, const char *product,
                        const char *group_id, const char *extra_name,
                        const char *extra_value, char *errstr,
                        size_t errstr_size)
{
    char *bootstrap = bs_broker_bootstrap();
    rd_kafka_conf_t *conf = NULL;
    int result;

    *out = NULL;
    if (!bootstrap)
        return bs_fail(errstr, errstr_size, BS_ENOTFOUND,
                       "the broker fixture recorded no bootstrap");
    result = bs_kafka_consumer_conf_new(&conf, bootstrap, TEST_SERVICE, product,
                                        group_id, errstr, errstr_size);
    if (result == BS_OK && extra_name)
        result = bs_kafka_conf_set(conf, extra_name, extra_value, errstr,
                                   errstr_size);
    if (result != BS_OK) {
        if (conf)
            rd_kafka_conf_destroy(conf);
        goto out;
    }
    result = bs_kafka_consumer_new(out, conf, errstr, errstr_size);

out:
    free(bootstrap);
    return result;
}

int bs_broker_consumer_new(rd_kafka_t **out, const char *product,
                           const char *group_id, char *errstr,
                           size_t errstr_size)
{
    return consumer_new(out, product, group_id, NULL, NULL, errstr,
                        errstr_size);
}

int bs_broker_produce(rd_kafka_t *producer, const char *topic, const char *key,
                      const void *value, size_t len,
                      rd_kafka_headers_t *headers, char *errstr,
                      size_t errstr_size)
{
    rd_kafka_resp_err_t status = DELIVERY_PENDING;
    rd_kafka_resp_err_t err;

    if (!headers)
        headers = rd_kafka_headers_new(0);

    /* Queue it; on success librdkafka owns the headers. */
    err = rd_kafka_producev(producer, RD_KAFKA_V_TOPIC(topic),
                            RD_KAFKA_V_KEY(key, key ? strlen(key) : 0),
                            RD_KAFKA_V_VALUE((void *)value, len),
                            RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                            RD_KAFKA_V_HEADERS(headers),
                            RD_KAFKA_V_OPAQUE(&status), RD_KAFKA_V_END);
    if (err) {
        rd_kafka_headers_destroy(headers);
        return bs_fail(errstr, errstr_size, BS_EKAFKA,
                       "cannot queue a message for %s: %s", topic,
                       rd_kafka_err2str(err));
    }

    /* Wait for the acknowledgement (acks=all) or the delivery error. */
    rd_kafka_flush(producer, BS_BROKER_WAIT_MS);
    if (status == DELIVERY_PENDING) {
        /* The report still points at `status`: purge so nothing writes
         * there after we return. */
        rd_kafka_purge(producer,
                       RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
        rd_kafka_flush(producer, BS_BROKER_WAIT_MS);
    }
    if (status != RD_KAFKA_RESP_ERR_NO_ERROR)
        return bs_fail(errstr, errstr_size, BS_EKAFKA,
                       "delivery to %s failed: %s", topic,
                       rd_kafka_err2str(status));
    return BS_OK;
}

static long long monotonic_ms(void)
{
    struct timespec now;

    clock_gettime(CLOCK_MONOTONIC, &now);
    return (long long)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

int bs_broker_consume_until(rd_kafka_t *consumer, int timeout_ms,
                            bs_broker_match_fn match, void *ctx,
                            rd_kafka_message_t **found)
{
    long long deadline = monotonic_ms() + timeout_ms;

    *found = NULL;
    while (monotonic_ms() < deadline) {
        rd_kafka_message_t *message = rd_kafka_consumer_poll(consumer, 500);

        if (!message)
            continue;
        if (message->err && message->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
            fprintf(stderr, "consume: %s (still waiting)\n",
                    rd_kafka_message_errstr(message));
        if (!message->err && match(message, ctx)) {
            *found = message;
            return BS_OK;
        }
        rd_kafka_message_destroy(message);
    }
    return BS_ENOTFOUND;
}

/* Assigns every partition of `topic` from the beginning; *count gets the
 * number of partitions. */
static int assign_whole_topic(rd_kafka_t *consumer, const char *topic,
                              int *count, char *errstr, size_t errstr_size)
{
    const struct rd_kafka_metadata *metadata = NULL;
    rd_kafka_topic_partition_list_t *partitions = NULL;
    rd_kafka_topic_t *handle = rd_kafka_topic_new(consumer, topic, NULL);
    rd_kafka_resp_err_t err;
    int result = BS_OK;

    err = rd_kafka_metadata(consumer, 0, handle, &metadata, BS_BROKER_WAIT_MS);
    if (!err && metadata->topic_cnt == 1)
        err = metadata->topics[0].err;
    if (err) {
        result =
            bs_fail(errstr, errstr_size, BS_EKAFKA, "no metadata for %s: %s",
                    topic, rd_kafka_err2str(err));
        goto out;
    }

    *count = metadata->topics[0].partition_cnt;
    partitions = rd_kafka_topic_partition_list_new(*count);
    for (int i = 0; i < *count; i++)
        rd_kafka_topic_partition_list_add(partitions, topic, i)->offset =
            RD_KAFKA_OFFSET_BEGINNING;
    err = rd_kafka_assign(consumer, partitions);
    if (err)
        result = bs_fail(errstr, errstr_size, BS_EKAFKA, "cannot assign %s: %s",
                         topic, rd_kafka_err2str(err));

out:
    if (partitions)
        rd_kafka_topic_partition_list_destroy(partitions);
    if (metadata)
        rd_kafka_metadata_destroy(metadata);
    rd_kafka_topic_destroy(handle);
    return result;
}

/* Reads until every partition reported its end (partition EOF). */
static int read_to_end(rd_kafka_t *consumer, int partition_count,
                       bs_broker_match_fn match, void *ctx, int timeout_ms,
                       int *matches, char *errstr, size_t errstr_size)
{
    long long deadline = monotonic_ms() + timeout_ms;
    bool *at_end = calloc((size_t)partition_count, sizeof(*at_end));
    int ended = 0, result = BS_OK;

    if (!at_end)
        return BS_ENOMEM;
    while (ended < partition_count) {
        rd_kafka_message_t *message;

        if (monotonic_ms() >= deadline) {
            result = bs_fail(errstr, errstr_size, BS_EKAFKA,
                             "%d of %d partitions read to the end in %d ms",
                             ended, partition_count, timeout_ms);
            break;
        }
        message = rd_kafka_consumer_poll(consumer, 500);
        if (!message)
            continue;
        if (message->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            if (message->partition >= 0 &&
                message->partition < partition_count &&
                !at_end[message->partition]) {
                at_end[message->partition] = true;
                ended++;
            }
        } else if (message->err) {
            fprintf(stderr, "scan: %s (still reading)\n",
                    rd_kafka_message_errstr(message));
        } else if (match(message, ctx)) {
            (*matches)++;
        }
        rd_kafka_message_destroy(message);
    }
    free(at_end);
    return result;
}

int bs_broker_scan_topic(const char *product, const char *topic,
                         bs_broker_match_fn match, void *ctx, int timeout_ms,
                         int *matches, char *errstr, size_t errstr_size)
{
    rd_kafka_t *consumer = NULL;
    char group[128];
    int partition_count = 0;
    int result;

    *matches = 0;
    result = consumer_new(
        &consumer, product,
        bs_broker_unique_name("bs-test-scan", group, sizeof(group)),
        "enable.partition.eof", "true", errstr, errstr_size);
    if (result != BS_OK)
        return result;

    result = assign_whole_topic(consumer, topic, &partition_count, errstr,
                                errstr_size);
    if (result == BS_OK)
        result = read_to_end(consumer, partition_count, match, ctx, timeout_ms,
                             matches, errstr, errstr_size);

    rd_kafka_consumer_close(consumer);
    rd_kafka_destroy(consumer);
    return result;
}
