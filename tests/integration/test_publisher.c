/*
 * test_publisher.c - the publisher against the `broker` fixture.
 *
 * A send returns only after the broker's acknowledgement, and the consumed
 * copy carries the product header and the caller's headers; topics of
 * another product are refused before anything is sent; the metrics count
 * what happened. Against an address where no broker listens, a send gives
 * up after its bound with BS_ETIMEDOUT and the publisher is not ready.
 * Other tests share the topics, so messages are found by a unique key.
 */
#include "broker_harness.h"
#include "harness.h"

#include "bs/error.h"
#include "bs/metrics.h"
#include "bs/publisher.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SEND_TIMEOUT_MS 30000
#define SCAN_TIMEOUT_MS 60000

static struct bs_publisher *publisher;
static struct bs_metrics *metrics;

/* What a scan looks for and what it saw on the first match. */
struct wanted {
    const char *key;
    char product[64];
    char trace[64];
    char value[64];
};

static int suite_init(void)
{
    char errstr[256];
    char *bootstrap = bs_broker_bootstrap();
    int result;

    metrics = bs_metrics_new("bestays", "test_publisher");
    result = bs_publisher_new(&publisher, bootstrap, "test_publisher",
                              "bestays", metrics, errstr, sizeof(errstr));
    free(bootstrap);
    if (result != BS_OK)
        fprintf(stderr, "publisher: %s\n", errstr);
    return result == BS_OK ? 0 : -1;
}

static int suite_cleanup(void)
{
    bs_publisher_free(publisher);
    bs_metrics_free(metrics);
    return 0;
}

static void copy_header(const rd_kafka_message_t *message, const char *name,
                        char *buf, size_t size)
{
    rd_kafka_headers_t *headers = NULL;
    const void *value = NULL;
    size_t len = 0;

    buf[0] = '\0';
    if (rd_kafka_message_headers(message, &headers) ==
            RD_KAFKA_RESP_ERR_NO_ERROR &&
        rd_kafka_header_get_last(headers, name, &value, &len) ==
            RD_KAFKA_RESP_ERR_NO_ERROR)
        snprintf(buf, size, "%.*s", (int)len, (const char *)value);
}

static bool has_key(const rd_kafka_message_t *message, void *ctx)
{
    struct wanted *wanted = ctx;
    size_t len = strlen(wanted->key);

    if (!message->key || message->key_len != len ||
        memcmp(message->key, wanted->key, len) != 0)
        return false;
    copy_header(message, "product", wanted->product, sizeof(wanted->product));
    copy_header(message, "trace", wanted->trace, sizeof(wanted->trace));
    snprintf(wanted->value, sizeof(wanted->value), "%.*s", (int)message->len,
             (const char *)message->payload);
    return true;
}

static void test_send_sync_is_acknowledged_and_consumable(void)
{
    const struct bs_publisher_header extra[] = {{"trace", "t-42", 4}};
    struct wanted wanted = {0};
    char key[128], errstr[256];
    int matches = -1;

    wanted.key = bs_broker_unique_name("pub-key", key, sizeof(key));
    BS_ASSERT_INT_EQ(bs_publisher_send_sync(
                         publisher, "bestays.users", key, strlen(key), "hello",
                         5, extra, 1, SEND_TIMEOUT_MS, errstr, sizeof(errstr)),
                     BS_OK);

    BS_ASSERT_INT_EQ(bs_broker_scan_topic("bestays", "bestays.users", has_key,
                                          &wanted, SCAN_TIMEOUT_MS, &matches,
                                          errstr, sizeof(errstr)),
                     BS_OK);
    BS_ASSERT_INT_EQ(matches, 1);
    BS_ASSERT_STR_EQ(wanted.product, "bestays");
    BS_ASSERT_STR_EQ(wanted.trace, "t-42");
    BS_ASSERT_STR_EQ(wanted.value, "hello");
}

static void test_send_sync_refuses_topics_of_other_products(void)
{
    const char *const refused[] = {"realestate.users", "bestays", "bestays.",
                                   "bestaysx.users",   ".users",  ""};
    char errstr[256];

    for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++)
        BS_ASSERT_INT_EQ(bs_publisher_send_sync(publisher, refused[i], "k", 1,
                                                "v", 1, NULL, 0, 1000, errstr,
                                                sizeof(errstr)),
                         BS_EINVAL);
    BS_ASSERT_INT_EQ(bs_publisher_send_sync(publisher, NULL, "k", 1, "v", 1,
                                            NULL, 0, 1000, errstr,
                                            sizeof(errstr)),
                     BS_EINVAL);
}

static void test_metrics_count_acknowledged_sends(void)
{
    struct bs_metric *total = bs_metrics_counter(
        metrics, "bs_publish_total",
        "Messages published, by topic and result (ok, timeout, error).",
        BS_LABELS("topic", "result"));
    double before = bs_metric_value(total, BS_LABELS("bestays.faq", "ok"));
    char errstr[256];

    BS_ASSERT_INT_EQ(bs_publisher_send_sync(publisher, "bestays.faq", "m", 1,
                                            "v", 1, NULL, 0, SEND_TIMEOUT_MS,
                                            errstr, sizeof(errstr)),
                     BS_OK);
    BS_ASSERT_INT_EQ(bs_metric_value(total, BS_LABELS("bestays.faq", "ok")),
                     before + 1);
}

static void test_ready_with_a_broker(void)
{
    bool ready = false;

    /* Readiness is cached for a second: ask a few times before giving up. */
    for (int i = 0; i < 30 && !ready; i++) {
        struct timespec pause = {0, 200 * 1000000L};

        ready = bs_publisher_ready(publisher);
        if (!ready)
            nanosleep(&pause, NULL);
    }
    CU_ASSERT_TRUE(ready);
    BS_ASSERT_INT_EQ(bs_publisher_flush(publisher, 10000, NULL, 0), BS_OK);
}

static void test_send_sync_times_out_without_a_broker(void)
{
    struct bs_publisher *lost = NULL;
    char errstr[256];

    BS_ASSERT_INT_EQ(bs_publisher_new(&lost, "127.0.0.1:1", "test_publisher",
                                      "bestays", NULL, errstr, sizeof(errstr)),
                     BS_OK);
    if (!lost)
        return;
    BS_ASSERT_INT_EQ(bs_publisher_send_sync(lost, "bestays.users", "k", 1, "v",
                                            1, NULL, 0, 500, errstr,
                                            sizeof(errstr)),
                     BS_ETIMEDOUT);
    CU_ASSERT_FALSE(bs_publisher_ready(lost));
    BS_ASSERT_INT_EQ(bs_publisher_flush(lost, 100, errstr, sizeof(errstr)),
                     BS_ETIMEDOUT);
    bs_publisher_free(lost);
}

static void test_new_refuses_an_invalid_product(void)
{
    struct bs_publisher *bad = NULL;
    char errstr[256];

    BS_ASSERT_INT_EQ(bs_publisher_new(&bad, "127.0.0.1:1", "test_publisher",
                                      "Not A Product", NULL, errstr,
                                      sizeof(errstr)),
                     BS_EINVAL);
    CU_ASSERT_PTR_NULL(bad);
    bs_publisher_free(NULL);
}

static CU_TestInfo tests[] = {
    {"send_sync_is_acknowledged_and_consumable",
     test_send_sync_is_acknowledged_and_consumable},
    {"send_sync_refuses_topics_of_other_products",
     test_send_sync_refuses_topics_of_other_products},
    {"metrics_count_acknowledged_sends", test_metrics_count_acknowledged_sends},
    {"ready_with_a_broker", test_ready_with_a_broker},
    {"send_sync_times_out_without_a_broker",
     test_send_sync_times_out_without_a_broker},
    {"new_refuses_an_invalid_product", test_new_refuses_an_invalid_product},
    CU_TEST_INFO_NULL,
};

static void register_suites(void)
{
    bs_test_add_suite("publisher", suite_init, suite_cleanup, tests);
}

int main(void)
{
    return bs_test_main(register_suites);
}
