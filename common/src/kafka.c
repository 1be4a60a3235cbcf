/*
 * kafka.c - librdkafka client set-up with the project's defaults.
 *
 * Builds configurations, creates clients, routes librdkafka's log lines into
 * bs_log, reads and writes the `product` header and waits for a broker. It
 * sends and receives nothing itself.
 */
#include "bs/kafka.h"
#include "bs/error.h"
#include "bs/log.h"
#include "bs/product.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

/* Words that mark a property or a log line as possibly holding a secret. */
static const char *const sensitive_words[] = {"password", "secret", "token",
                                              "sasl.", "ssl.key"};

static bool looks_sensitive(const char *text)
{
    for (size_t i = 0; i < sizeof(sensitive_words) / sizeof(sensitive_words[0]);
         i++)
        if (strstr(text, sensitive_words[i]))
            return true;
    return false;
}

/* librdkafka uses syslog levels: 0-3 errors, 4 warnings, 7 debug. */
static enum bs_log_level level_from_syslog(int level)
{
    if (level <= 3)
        return BS_LOG_ERROR;
    if (level == 4)
        return BS_LOG_WARN;
    if (level <= 6)
        return BS_LOG_INFO;
    return BS_LOG_DEBUG;
}

/* Called from librdkafka's threads; bs_log writes each line at once. */
static void log_cb(const rd_kafka_t *rk, int level, const char *fac,
                   const char *buf)
{
    enum bs_log_level bs_level = level_from_syslog(level);
    char quoted[1024];

    if (!bs_log_enabled(bs_level))
        return;
    if (looks_sensitive(buf))
        buf = "(redacted: the line may name a secret)";
    BS__LOG(bs_level, "kafka_log client=%s fac=%s message=%s",
            rk ? rd_kafka_name(rk) : "-", fac,
            bs_log_quote(buf, quoted, sizeof(quoted)));
}

void bs_kafka_conf_set_logger(rd_kafka_conf_t *conf)
{
    rd_kafka_conf_set_log_cb(conf, log_cb);
}

int bs_kafka_conf_set(rd_kafka_conf_t *conf, const char *name,
                      const char *value, char *errstr, size_t errstr_size)
{
    char rd_errstr[512];

    if (rd_kafka_conf_set(conf, name, value, rd_errstr, sizeof(rd_errstr)) ==
        RD_KAFKA_CONF_OK)
        return BS_OK;

    /* librdkafka's message quotes the value: keep it for plain settings
     * only. */
    if (looks_sensitive(name))
        return bs_fail(errstr, errstr_size, BS_EKAFKA,
                       "librdkafka rejected %s (value not shown)", name);
    return bs_fail(errstr, errstr_size, BS_EKAFKA, "librdkafka: %s", rd_errstr);
}

struct setting {
    const char *name;
    const char *value;
};

#define STRINGIFY(x)       #x
#define STRINGIFY_VALUE(x) STRINGIFY(x)

static const struct setting base_settings[] = {
    {"log.connection.close", "false"},
};

static const struct setting producer_settings[] = {
    {"enable.idempotence", "true"},
    {"acks", "all"},
    {"linger.ms", "5"},
    {"message.timeout.ms", STRINGIFY_VALUE(BS_KAFKA_MESSAGE_TIMEOUT_MS)},
};

static const struct setting consumer_settings[] = {
    {"enable.auto.commit", "false"},
    {"auto.offset.reset", "earliest"},
    {"partition.assignment.strategy", "cooperative-sticky"},
    {"session.timeout.ms", "6000"},
    {"heartbeat.interval.ms", "500"},
};

#define SETTINGS(table) table, sizeof(table) / sizeof(table[0])

static int conf_set_all(rd_kafka_conf_t *conf, const struct setting *settings,
                        size_t count, char *errstr, size_t errstr_size)
{
    for (size_t i = 0; i < count; i++) {
        int result = bs_kafka_conf_set(conf, settings[i].name,
                                       settings[i].value, errstr, errstr_size);
        if (result != BS_OK)
            return result;
    }
    return BS_OK;
}

int bs_kafka_conf_new(rd_kafka_conf_t **out, const char *bootstrap,
                      const char *service, const char *product, char *errstr,
                      size_t errstr_size)
{
    rd_kafka_conf_t *conf = NULL;
    char client_id[128];
    int result;

    *out = NULL;
    if (!bootstrap || !*bootstrap)
        return bs_fail(errstr, errstr_size, BS_EINVAL,
                       "no Kafka bootstrap servers given");
    conf = rd_kafka_conf_new();
    if (!conf)
        return bs_fail(errstr, errstr_size, BS_ENOMEM,
                       "cannot allocate a Kafka configuration");

    /* Where the cluster is and who we are. */
    snprintf(client_id, sizeof(client_id), "%s-%s", service, product);
    result = bs_kafka_conf_set(conf, "bootstrap.servers", bootstrap, errstr,
                               errstr_size);
    if (result == BS_OK)
        result = bs_kafka_conf_set(conf, "client.id", client_id, errstr,
                                   errstr_size);
    if (result == BS_OK)
        result =
            conf_set_all(conf, SETTINGS(base_settings), errstr, errstr_size);
    if (result != BS_OK)
        goto error;

    /* librdkafka's own lines go through bs_log. */
    bs_kafka_conf_set_logger(conf);
    *out = conf;
    return BS_OK;

error:
    rd_kafka_conf_destroy(conf);
    return result;
}

int bs_kafka_producer_conf_new(rd_kafka_conf_t **out, const char *bootstrap,
                               const char *service, const char *product,
                               char *errstr, size_t errstr_size)
{
    int result;

    result = bs_kafka_conf_new(out, bootstrap, service, product, errstr,
                               errstr_size);
    if (result != BS_OK)
        return result;

    result =
        conf_set_all(*out, SETTINGS(producer_settings), errstr, errstr_size);
    if (result != BS_OK) {
        rd_kafka_conf_destroy(*out);
        *out = NULL;
    }
    return result;
}

int bs_kafka_consumer_conf_new(rd_kafka_conf_t **out, const char *bootstrap,
                               const char *service, const char *product,
                               const char *group_id, char *errstr,
                               size_t errstr_size)
{
    int result;

    *out = NULL;
    if (!group_id || !*group_id)
        return bs_fail(errstr, errstr_size, BS_EINVAL,
                       "a consumer needs a group id");
    result = bs_kafka_conf_new(out, bootstrap, service, product, errstr,
                               errstr_size);
    if (result != BS_OK)
        return result;

    result = bs_kafka_conf_set(*out, "group.id", group_id, errstr, errstr_size);
    if (result == BS_OK)
        result = conf_set_all(*out, SETTINGS(consumer_settings), errstr,
                              errstr_size);
    if (result != BS_OK) {
        rd_kafka_conf_destroy(*out);
        *out = NULL;
    }
    return result;
}

static int client_new(rd_kafka_t **out, rd_kafka_type_t type,
                      rd_kafka_conf_t *conf, char *errstr, size_t errstr_size)
{
    char rd_errstr[512];

    *out = rd_kafka_new(type, conf, rd_errstr, sizeof(rd_errstr));
    if (!*out) {
        /* rd_kafka_new() takes the configuration only on success. */
        rd_kafka_conf_destroy(conf);
        return bs_fail(
            errstr, errstr_size, BS_EKAFKA, "cannot create a Kafka %s: %s",
            type == RD_KAFKA_PRODUCER ? "producer" : "consumer", rd_errstr);
    }
    return BS_OK;
}

int bs_kafka_producer_new(rd_kafka_t **out, rd_kafka_conf_t *conf, char *errstr,
                          size_t errstr_size)
{
    return client_new(out, RD_KAFKA_PRODUCER, conf, errstr, errstr_size);
}

int bs_kafka_consumer_new(rd_kafka_t **out, rd_kafka_conf_t *conf, char *errstr,
                          size_t errstr_size)
{
    int result = client_new(out, RD_KAFKA_CONSUMER, conf, errstr, errstr_size);

    if (result != BS_OK)
        return result;

    /* One queue for messages and events: rd_kafka_consumer_poll(). */
    rd_kafka_poll_set_consumer(*out);
    return BS_OK;
}

static long long monotonic_ms(void)
{
    struct timespec now;

    clock_gettime(CLOCK_MONOTONIC, &now);
    return (long long)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

/* One metadata request; true when at least one broker answered. */
static bool metadata_answered(rd_kafka_t *rk, int timeout_ms,
                              rd_kafka_resp_err_t *err)
{
    const struct rd_kafka_metadata *metadata = NULL;
    bool answered;

    *err = rd_kafka_metadata(rk, 0, NULL, &metadata, timeout_ms);
    if (*err != RD_KAFKA_RESP_ERR_NO_ERROR)
        return false;
    answered = metadata->broker_cnt > 0;
    rd_kafka_metadata_destroy(metadata);
    if (!answered)
        *err = RD_KAFKA_RESP_ERR__TRANSPORT;
    return answered;
}

int bs_kafka_wait_ready(rd_kafka_t *rk, int timeout_ms, char *errstr,
                        size_t errstr_size)
{
    long long deadline = monotonic_ms() + timeout_ms;
    rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR__TIMED_OUT;

    /* Ask in slices: a refused connection fails fast, then we retry. */
    for (;;) {
        long long left = deadline - monotonic_ms();
        struct timespec pause = {0, 100 * 1000000L};

        if (left <= 0)
            break;
        if (metadata_answered(rk, left < 1000 ? (int)left : 1000, &err))
            return BS_OK;
        if (deadline - monotonic_ms() > 100)
            nanosleep(&pause, NULL);
    }
    return bs_fail(errstr, errstr_size, BS_EKAFKA,
                   "no broker answered metadata within %d ms: %s", timeout_ms,
                   rd_kafka_err2str(err));
}

int bs_kafka_headers_add_product(rd_kafka_headers_t *headers,
                                 const char *product)
{
    if (!product || !bs_product_name_valid(product))
        return BS_EINVAL;
    if (rd_kafka_header_add(headers, BS_KAFKA_HEADER_PRODUCT, -1, product,
                            -1) != RD_KAFKA_RESP_ERR_NO_ERROR)
        return BS_EINVAL;
    return BS_OK;
}

int bs_kafka_message_product(const rd_kafka_message_t *message, char *product,
                             size_t buf_size)
{
    rd_kafka_headers_t *headers = NULL;
    const void *value = NULL, *second = NULL;
    size_t size = 0, second_size = 0;

    if (buf_size > 0)
        product[0] = '\0';
    if (rd_kafka_message_headers(message, &headers) !=
            RD_KAFKA_RESP_ERR_NO_ERROR ||
        rd_kafka_header_get(headers, 0, BS_KAFKA_HEADER_PRODUCT, &value,
                            &size) != RD_KAFKA_RESP_ERR_NO_ERROR)
        return BS_ENOTFOUND;

    /* Two product headers name no single owner: refuse, never pick one. */
    if (rd_kafka_header_get(headers, 1, BS_KAFKA_HEADER_PRODUCT, &second,
                            &second_size) == RD_KAFKA_RESP_ERR_NO_ERROR)
        return BS_EINVAL;
    if (!value || size == 0 || size >= buf_size ||
        memchr(value, '\0', size) != NULL)
        return BS_EINVAL;

    memcpy(product, value, size);
    product[size] = '\0';
    if (!bs_product_name_valid(product)) {
        product[0] = '\0';
        return BS_EINVAL;
    }
    return BS_OK;
}
