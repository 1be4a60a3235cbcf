/*
 * test_broker_smoke.c - one Avro event through whichever broker is in use.
 *
 * Runs against the `broker` fixture: real Apache Kafka when
 * KAFKA_BOOTSTRAP_SERVERS is set, else the devbroker. A UserEvent encoded
 * with the events API goes to bestays.users (key: the Clerk user id, header
 * product=bestays) through an idempotent acks=all producer, comes back
 * through a fresh consumer group with every field intact, and is not on
 * realestate.users. Other tests share these topics, so messages are found
 * by event_id and everything else is skipped.
 */
#include "broker_harness.h"
#include "harness.h"

#include "bs/codec.h"
#include "bs/error.h"
#include "bs/events.h"
#include "bs/kafka.h"
#include "bs/product.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* What the produce test sent, for the tests that look for it. */
static struct {
    bool produced;
    char event_id[128];
    char clerk_user_id[128];
    struct bs_codec *codec;
} sent;

/* Fills `event` with a recognisable value in every field; the strings
 * point into `sent` or are literals (encoding takes no ownership). */
static void make_event(struct bs_user_event *event)
{
    static char product[] = "bestays", source[] = "test_broker_smoke",
                email[] = "smoke@example.test", first_name[] = "Ada",
                last_name[] = "Lovelace", role[] = "admin",
                image_url[] = "https://img.example.test/ada.png";

    memset(event, 0, sizeof(*event));
    event->meta.event_id = sent.event_id;
    event->meta.product = product;
    event->meta.occurred_at = 1796313600123;
    event->meta.source = source;
    event->action = BS_USER_UPDATED;
    event->clerk_user_id = sent.clerk_user_id;
    event->email = email;
    event->first_name = first_name;
    event->last_name = last_name;
    event->role = role;
    event->image_url = image_url;
    event->has_clerk_updated_at = true;
    event->clerk_updated_at = 1796313599000;
}

/* Matches a message whose value decodes to a UserEvent with our event_id;
 * anything else on the topic (other tests' events) is skipped. */
static bool is_sent_event(const rd_kafka_message_t *message, void *ctx)
{
    struct bs_user_event event;
    char errstr[256];
    bool match;

    (void)ctx;
    if (bs_user_event_decode(sent.codec, message->payload, message->len, &event,
                             errstr, sizeof(errstr)) != BS_OK)
        return false;
    match =
        event.meta.event_id && strcmp(event.meta.event_id, sent.event_id) == 0;
    bs_user_event_clear(&event);
    return match;
}

/* Matches a message whose value is the string `ctx`. */
static bool has_value(const rd_kafka_message_t *message, void *ctx)
{
    const char *value = ctx;

    return message->len == strlen(value) &&
           memcmp(message->payload, value, message->len) == 0;
}

static int suite_init(void)
{
    char errstr[256];

    if (bs_codec_new_builtin(&sent.codec, errstr, sizeof(errstr)) != BS_OK) {
        fprintf(stderr, "codec: %s\n", errstr);
        return 1;
    }
    return 0;
}

static int suite_cleanup(void)
{
    bs_codec_free(sent.codec);
    sent.codec = NULL;
    return 0;
}

static void test_fixture_reports_which_broker_is_used(void)
{
    const char *kind = bs_broker_kind();
    const char *env_bootstrap = getenv("KAFKA_BOOTSTRAP_SERVERS");
    char *bootstrap = bs_broker_bootstrap();

    printf("\n    broker kind=%s bootstrap=%s\n", kind ? kind : "(none)",
           bootstrap ? bootstrap : "(none)");
    CU_ASSERT_PTR_NOT_NULL(bootstrap);
    if (env_bootstrap && *env_bootstrap) {
        BS_ASSERT_STR_EQ(kind, BS_BROKER_KIND_KAFKA);
        BS_ASSERT_STR_EQ(bootstrap, env_bootstrap);
    } else {
        BS_ASSERT_STR_EQ(kind, BS_BROKER_KIND_DEVBROKER);
    }
    free(bootstrap);
}

static void test_broker_answers_metadata(void)
{
    rd_kafka_t *producer = NULL;
    char errstr[256] = "";

    BS_ASSERT_INT_EQ(
        bs_broker_producer_new(&producer, "bestays", errstr, sizeof(errstr)),
        BS_OK);
    CU_ASSERT_PTR_NOT_NULL_FATAL(producer);
    BS_ASSERT_INT_EQ(bs_kafka_wait_ready(producer, BS_BROKER_WAIT_MS, errstr,
                                         sizeof(errstr)),
                     BS_OK);
    BS_ASSERT_STR_EQ(errstr, "");
    rd_kafka_destroy(producer);
}

static void test_user_event_is_acknowledged_on_bestays_users(void)
{
    struct bs_user_event event;
    rd_kafka_headers_t *headers = rd_kafka_headers_new(1);
    rd_kafka_t *producer = NULL;
    unsigned char *bytes = NULL;
    size_t len = 0;
    char errstr[256] = "";
    int result;

    bs_broker_unique_name("smoke-event", sent.event_id, sizeof(sent.event_id));
    bs_broker_unique_name("user_smoke", sent.clerk_user_id,
                          sizeof(sent.clerk_user_id));
    make_event(&event);
    BS_ASSERT_INT_EQ(bs_user_event_encode(sent.codec, &event, &bytes, &len,
                                          errstr, sizeof(errstr)),
                     BS_OK);
    BS_ASSERT_INT_EQ(bs_kafka_headers_add_product(headers, "bestays"), BS_OK);
    BS_ASSERT_INT_EQ(
        bs_broker_producer_new(&producer, "bestays", errstr, sizeof(errstr)),
        BS_OK);
    if (!bytes || !producer) {
        rd_kafka_headers_destroy(headers);
        goto out;
    }

    /* Returns once the broker acknowledged it (acks=all). */
    result = bs_broker_produce(producer, "bestays.users", sent.clerk_user_id,
                               bytes, len, headers, errstr, sizeof(errstr));
    BS_ASSERT_INT_EQ(result, BS_OK);
    BS_ASSERT_STR_EQ(errstr, "");
    sent.produced = (result == BS_OK);

out:
    if (producer)
        rd_kafka_destroy(producer);
    free(bytes);
}

/* Every field as make_event() wrote it. */
static void assert_event_intact(const struct bs_user_event *got)
{
    struct bs_user_event want;

    make_event(&want);
    BS_ASSERT_STR_EQ(got->meta.event_id, want.meta.event_id);
    BS_ASSERT_STR_EQ(got->meta.product, want.meta.product);
    BS_ASSERT_INT_EQ(got->meta.occurred_at, want.meta.occurred_at);
    BS_ASSERT_STR_EQ(got->meta.source, want.meta.source);
    BS_ASSERT_INT_EQ(got->action, want.action);
    BS_ASSERT_STR_EQ(got->clerk_user_id, want.clerk_user_id);
    BS_ASSERT_STR_EQ(got->email, want.email);
    BS_ASSERT_STR_EQ(got->first_name, want.first_name);
    BS_ASSERT_STR_EQ(got->last_name, want.last_name);
    BS_ASSERT_STR_EQ(got->role, want.role);
    BS_ASSERT_STR_EQ(got->image_url, want.image_url);
    BS_ASSERT_INT_EQ(got->has_clerk_updated_at, want.has_clerk_updated_at);
    BS_ASSERT_INT_EQ(got->clerk_updated_at, want.clerk_updated_at);
}

static void test_fresh_group_reads_event_back_with_key_header_and_fields(void)
{
    rd_kafka_topic_partition_list_t *topics;
    rd_kafka_message_t *message = NULL;
    struct bs_user_event event = {0};
    rd_kafka_t *consumer = NULL;
    char group[128], product[BS_PRODUCT_MAX + 1], errstr[256] = "";

    CU_ASSERT_TRUE_FATAL(sent.produced);

    /* A group no run used before starts at the earliest offset. */
    BS_ASSERT_INT_EQ(
        bs_broker_consumer_new(
            &consumer, "bestays",
            bs_broker_unique_name("bs-test-smoke", group, sizeof(group)),
            errstr, sizeof(errstr)),
        BS_OK);
    CU_ASSERT_PTR_NOT_NULL_FATAL(consumer);
    topics = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(topics, "bestays.users",
                                      RD_KAFKA_PARTITION_UA);
    BS_ASSERT_INT_EQ(rd_kafka_subscribe(consumer, topics), 0);
    rd_kafka_topic_partition_list_destroy(topics);

    BS_ASSERT_INT_EQ(bs_broker_consume_until(consumer, BS_BROKER_WAIT_MS,
                                             is_sent_event, NULL, &message),
                     BS_OK);
    if (!message)
        goto out;

    /* Topic, key and header as produced. */
    BS_ASSERT_STR_EQ(rd_kafka_topic_name(message->rkt), "bestays.users");
    BS_ASSERT_INT_EQ(message->key_len, strlen(sent.clerk_user_id));
    CU_ASSERT_EQUAL(memcmp(message->key, sent.clerk_user_id, message->key_len),
                    0);
    BS_ASSERT_INT_EQ(
        bs_kafka_message_product(message, product, sizeof(product)), BS_OK);
    BS_ASSERT_STR_EQ(product, "bestays");

    /* Every field of the record. */
    BS_ASSERT_INT_EQ(bs_user_event_decode(sent.codec, message->payload,
                                          message->len, &event, errstr,
                                          sizeof(errstr)),
                     BS_OK);
    assert_event_intact(&event);
    bs_user_event_clear(&event);
    rd_kafka_message_destroy(message);

out:
    rd_kafka_consumer_close(consumer);
    rd_kafka_destroy(consumer);
}

static void test_event_is_not_on_realestate_users(void)
{
    char errstr[256] = "";
    int matches = -1;

    CU_ASSERT_TRUE_FATAL(sent.produced);
    BS_ASSERT_INT_EQ(bs_broker_scan_topic(
                         "realestate", "realestate.users", is_sent_event, NULL,
                         BS_BROKER_WAIT_MS, &matches, errstr, sizeof(errstr)),
                     BS_OK);
    BS_ASSERT_STR_EQ(errstr, "");
    BS_ASSERT_INT_EQ(matches, 0);
}

/* The header helpers refuse what names no single product: a duplicate
 * header, a value that is not a product name, no header at all. Written to
 * a test-only topic so no service's consumer sees them. */
static void test_product_header_must_name_exactly_one_valid_product(void)
{
    static const char topic[] = "bs-test.headers";
    struct {
        const char *values[2];
        int expected;
    } cases[] = {
        {{"bestays", NULL}, BS_OK},
        {{"bestays", "realestate"}, BS_EINVAL},
        {{"Bestays", NULL}, BS_EINVAL},
        {{NULL, NULL}, BS_ENOTFOUND},
    };
    char marker[128], group[128], errstr[256] = "";
    rd_kafka_t *producer = NULL, *consumer = NULL;
    rd_kafka_topic_partition_list_t *topics;

    BS_ASSERT_INT_EQ(
        bs_broker_producer_new(&producer, "bestays", errstr, sizeof(errstr)),
        BS_OK);
    CU_ASSERT_PTR_NOT_NULL_FATAL(producer);
    bs_broker_unique_name("headers", marker, sizeof(marker));
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        rd_kafka_headers_t *headers = rd_kafka_headers_new(2);
        char value[160];

        for (size_t v = 0; v < 2 && cases[i].values[v]; v++)
            rd_kafka_header_add(headers, BS_KAFKA_HEADER_PRODUCT, -1,
                                cases[i].values[v], -1);
        snprintf(value, sizeof(value), "%s-%zu", marker, i);
        BS_ASSERT_INT_EQ(bs_broker_produce(producer, topic, marker, value,
                                           strlen(value), headers, errstr,
                                           sizeof(errstr)),
                         BS_OK);
    }
    rd_kafka_destroy(producer);

    /* Read each back and ask the helper. */
    BS_ASSERT_INT_EQ(
        bs_broker_consumer_new(
            &consumer, "bestays",
            bs_broker_unique_name("bs-test-headers", group, sizeof(group)),
            errstr, sizeof(errstr)),
        BS_OK);
    CU_ASSERT_PTR_NOT_NULL_FATAL(consumer);
    topics = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(topics, topic, RD_KAFKA_PARTITION_UA);
    rd_kafka_subscribe(consumer, topics);
    rd_kafka_topic_partition_list_destroy(topics);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char value[160], product[BS_PRODUCT_MAX + 1];
        rd_kafka_message_t *message = NULL;

        snprintf(value, sizeof(value), "%s-%zu", marker, i);
        BS_ASSERT_INT_EQ(bs_broker_consume_until(consumer, BS_BROKER_WAIT_MS,
                                                 has_value, value, &message),
                         BS_OK);
        if (!message)
            break;
        BS_ASSERT_INT_EQ(
            bs_kafka_message_product(message, product, sizeof(product)),
            cases[i].expected);
        rd_kafka_message_destroy(message);
    }
    rd_kafka_consumer_close(consumer);
    rd_kafka_destroy(consumer);
}

static CU_TestInfo smoke_tests[] = {
    {"fixture reports which broker is used",
     test_fixture_reports_which_broker_is_used},
    {"broker answers metadata", test_broker_answers_metadata},
    {"user event is acknowledged on bestays.users",
     test_user_event_is_acknowledged_on_bestays_users},
    {"fresh group reads the event back with key, header and fields",
     test_fresh_group_reads_event_back_with_key_header_and_fields},
    {"event is not on realestate.users", test_event_is_not_on_realestate_users},
    {"product header must name exactly one valid product",
     test_product_header_must_name_exactly_one_valid_product},
    CU_TEST_INFO_NULL,
};

static void register_suites(void)
{
    bs_test_add_suite("broker_smoke", suite_init, suite_cleanup, smoke_tests);
}

int main(void)
{
    return bs_test_main(register_suites);
}
