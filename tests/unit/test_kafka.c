/*
 * test_kafka.c - the Kafka client defaults of bs/kafka.h, without a broker.
 *
 * Checks the configuration every producer and consumer starts from, that a
 * rejected setting never echoes a secret-looking value, the `product`
 * header writer, and that waiting for an unreachable broker gives up with
 * an error. Reading headers back needs a broker: see test_broker_smoke.
 */
#include "harness.h"

#include "bs/error.h"
#include "bs/kafka.h"

#include <string.h>

/* The value of `name` in conf, or "" when unset. */
static const char *conf_value(const rd_kafka_conf_t *conf, const char *name,
                              char *buf, size_t size)
{
    size_t len = size;

    if (rd_kafka_conf_get(conf, name, buf, &len) != RD_KAFKA_CONF_OK)
        buf[0] = '\0';
    return buf;
}

static void test_producer_conf_is_idempotent_with_acks_all(void)
{
    rd_kafka_conf_t *conf = NULL;
    char errstr[256], value[256];

    BS_ASSERT_INT_EQ(bs_kafka_producer_conf_new(&conf, "127.0.0.1:9092",
                                                "webhook-ingest", "bestays",
                                                errstr, sizeof(errstr)),
                     BS_OK);
    CU_ASSERT_PTR_NOT_NULL_FATAL(conf);
    BS_ASSERT_STR_EQ(
        conf_value(conf, "bootstrap.servers", value, sizeof(value)),
        "127.0.0.1:9092");
    BS_ASSERT_STR_EQ(conf_value(conf, "client.id", value, sizeof(value)),
                     "webhook-ingest-bestays");
    BS_ASSERT_STR_EQ(
        conf_value(conf, "enable.idempotence", value, sizeof(value)), "true");
    BS_ASSERT_STR_EQ(conf_value(conf, "acks", value, sizeof(value)), "-1");
    BS_ASSERT_STR_EQ(
        conf_value(conf, "message.timeout.ms", value, sizeof(value)), "30000");
    rd_kafka_conf_destroy(conf);
}

static void test_consumer_conf_commits_by_hand_from_earliest(void)
{
    rd_kafka_conf_t *conf = NULL;
    char errstr[256], value[256];

    BS_ASSERT_INT_EQ(bs_kafka_consumer_conf_new(&conf, "127.0.0.1:9092",
                                                "user-projector", "realestate",
                                                "user-projector-realestate",
                                                errstr, sizeof(errstr)),
                     BS_OK);
    CU_ASSERT_PTR_NOT_NULL_FATAL(conf);
    BS_ASSERT_STR_EQ(conf_value(conf, "client.id", value, sizeof(value)),
                     "user-projector-realestate");
    BS_ASSERT_STR_EQ(conf_value(conf, "group.id", value, sizeof(value)),
                     "user-projector-realestate");
    BS_ASSERT_STR_EQ(
        conf_value(conf, "enable.auto.commit", value, sizeof(value)), "false");
    BS_ASSERT_STR_EQ(
        conf_value(conf, "auto.offset.reset", value, sizeof(value)),
        "smallest");
    BS_ASSERT_STR_EQ(
        conf_value(conf, "partition.assignment.strategy", value, sizeof(value)),
        "cooperative-sticky");
    BS_ASSERT_STR_EQ(
        conf_value(conf, "session.timeout.ms", value, sizeof(value)), "6000");
    BS_ASSERT_STR_EQ(
        conf_value(conf, "heartbeat.interval.ms", value, sizeof(value)), "500");
    rd_kafka_conf_destroy(conf);
}

static void test_missing_bootstrap_or_group_is_refused(void)
{
    rd_kafka_conf_t *conf = (rd_kafka_conf_t *)1;
    char errstr[256];

    BS_ASSERT_INT_EQ(bs_kafka_producer_conf_new(&conf, "", "svc", "bestays",
                                                errstr, sizeof(errstr)),
                     BS_EINVAL);
    CU_ASSERT_PTR_NULL(conf);
    BS_ASSERT_INT_EQ(bs_kafka_consumer_conf_new(&conf, NULL, "svc", "bestays",
                                                "g", errstr, sizeof(errstr)),
                     BS_EINVAL);
    CU_ASSERT_PTR_NULL(conf);
    BS_ASSERT_INT_EQ(bs_kafka_consumer_conf_new(&conf, "127.0.0.1:9092", "svc",
                                                "bestays", "", errstr,
                                                sizeof(errstr)),
                     BS_EINVAL);
    CU_ASSERT_PTR_NULL(conf);
}

static void test_rejected_setting_names_it_but_hides_secret_values(void)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    char errstr[256] = "";

    BS_ASSERT_INT_EQ(bs_kafka_conf_set(conf, "no.such.property", "x", errstr,
                                       sizeof(errstr)),
                     BS_EKAFKA);
    CU_ASSERT_PTR_NOT_NULL(strstr(errstr, "no.such.property"));

    BS_ASSERT_INT_EQ(bs_kafka_conf_set(conf, "sasl.oauthbearer.method",
                                       "hunter2", errstr, sizeof(errstr)),
                     BS_EKAFKA);
    CU_ASSERT_PTR_NOT_NULL(strstr(errstr, "sasl.oauthbearer.method"));
    CU_ASSERT_PTR_NULL(strstr(errstr, "hunter2"));
    rd_kafka_conf_destroy(conf);
}

static void test_product_header_is_written_only_for_valid_products(void)
{
    rd_kafka_headers_t *headers = rd_kafka_headers_new(2);
    const void *value = NULL;
    size_t size = 0;

    BS_ASSERT_INT_EQ(bs_kafka_headers_add_product(headers, "Bestays"),
                     BS_EINVAL);
    BS_ASSERT_INT_EQ(bs_kafka_headers_add_product(headers, ""), BS_EINVAL);
    BS_ASSERT_INT_EQ(bs_kafka_headers_add_product(headers, NULL), BS_EINVAL);
    BS_ASSERT_INT_EQ(rd_kafka_header_cnt(headers), 0);

    BS_ASSERT_INT_EQ(bs_kafka_headers_add_product(headers, "realestate"),
                     BS_OK);
    BS_ASSERT_INT_EQ(
        rd_kafka_header_get_last(headers, "product", &value, &size),
        RD_KAFKA_RESP_ERR_NO_ERROR);
    BS_ASSERT_INT_EQ(size, strlen("realestate"));
    BS_ASSERT_STR_EQ((const char *)value, "realestate");
    rd_kafka_headers_destroy(headers);
}

static void test_wait_ready_gives_up_on_unreachable_broker(void)
{
    rd_kafka_conf_t *conf = NULL;
    rd_kafka_t *producer = NULL;
    char errstr[256] = "";

    /* Port 1 on loopback: nothing listens there. */
    BS_ASSERT_INT_EQ(bs_kafka_producer_conf_new(&conf, "127.0.0.1:1", "test",
                                                "bestays", errstr,
                                                sizeof(errstr)),
                     BS_OK);
    BS_ASSERT_INT_EQ(
        bs_kafka_conf_set(conf, "log_level", "0", errstr, sizeof(errstr)),
        BS_OK);
    BS_ASSERT_INT_EQ(
        bs_kafka_producer_new(&producer, conf, errstr, sizeof(errstr)), BS_OK);
    CU_ASSERT_PTR_NOT_NULL_FATAL(producer);

    BS_ASSERT_INT_EQ(bs_kafka_wait_ready(producer, 300, errstr, sizeof(errstr)),
                     BS_EKAFKA);
    CU_ASSERT_PTR_NOT_NULL(strstr(errstr, "no broker answered"));
    rd_kafka_destroy(producer);
}

static CU_TestInfo kafka_tests[] = {
    {"producer conf is idempotent with acks=all",
     test_producer_conf_is_idempotent_with_acks_all},
    {"consumer conf commits by hand from earliest",
     test_consumer_conf_commits_by_hand_from_earliest},
    {"missing bootstrap or group is refused",
     test_missing_bootstrap_or_group_is_refused},
    {"rejected setting names it but hides secret values",
     test_rejected_setting_names_it_but_hides_secret_values},
    {"product header is written only for valid products",
     test_product_header_is_written_only_for_valid_products},
    {"wait_ready gives up on an unreachable broker",
     test_wait_ready_gives_up_on_unreachable_broker},
    CU_TEST_INFO_NULL,
};

static void register_suites(void)
{
    bs_test_add_suite("kafka", NULL, NULL, kafka_tests);
}

int main(void)
{
    return bs_test_main(register_suites);
}
