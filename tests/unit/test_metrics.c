/*
 * test_metrics.c - the Prometheus registry (bs/metrics.h).
 *
 * Checks the exact exposition text for counters, gauges and histograms, the
 * escaping of label values and help text, refused declarations, and that
 * increments from several threads at once all count.
 */
#include "harness.h"

#include "bs/error.h"
#include "bs/metrics.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define THREADS            8
#define INCREMENTS_PER_RUN 20000

static char *render(struct bs_metrics *registry)
{
    char *text = NULL;
    size_t len = 0;

    BS_ASSERT_INT_EQ(bs_metrics_render(registry, &text, &len), BS_OK);
    BS_ASSERT_INT_EQ(len, strlen(text));
    return text;
}

static void test_empty_registry_renders_empty_text(void)
{
    struct bs_metrics *registry = bs_metrics_new("bestays", "svc");
    char *text = render(registry);

    BS_ASSERT_STR_EQ(text, "");
    free(text);
    bs_metrics_free(registry);
}

static void test_counter_without_labels_shows_zero_then_counts(void)
{
    struct bs_metrics *registry = bs_metrics_new("bestays", "svc");
    struct bs_metric *total =
        bs_metrics_counter(registry, "bs_things_total", "Things seen.", NULL);
    char *text = render(registry);

    BS_ASSERT_STR_EQ(
        text, "# HELP bs_things_total Things seen.\n"
              "# TYPE bs_things_total counter\n"
              "bs_things_total{product=\"bestays\",service=\"svc\"} 0\n");
    free(text);

    bs_metric_inc(total, NULL);
    bs_metric_add(total, NULL, 2);
    text = render(registry);
    BS_ASSERT_STR_EQ(
        text, "# HELP bs_things_total Things seen.\n"
              "# TYPE bs_things_total counter\n"
              "bs_things_total{product=\"bestays\",service=\"svc\"} 3\n");
    free(text);
    bs_metrics_free(registry);
}

static void test_counter_with_labels_renders_series_in_creation_order(void)
{
    struct bs_metrics *registry = bs_metrics_new("realestate", "gateway");
    struct bs_metric *requests = bs_metrics_counter(
        registry, "bs_http_requests_total", "HTTP requests answered.",
        BS_LABELS("method", "route", "status"));
    char *text;

    bs_metric_inc(requests, BS_LABELS("POST", "/webhooks/clerk", "401"));
    bs_metric_inc(requests, BS_LABELS("GET", "/healthz", "200"));
    bs_metric_inc(requests, BS_LABELS("POST", "/webhooks/clerk", "401"));
    text = render(registry);

    BS_ASSERT_STR_EQ(
        text, "# HELP bs_http_requests_total HTTP requests answered.\n"
              "# TYPE bs_http_requests_total counter\n"
              "bs_http_requests_total{product=\"realestate\","
              "service=\"gateway\",method=\"POST\",route=\"/webhooks/clerk\","
              "status=\"401\"} 2\n"
              "bs_http_requests_total{product=\"realestate\","
              "service=\"gateway\",method=\"GET\",route=\"/healthz\","
              "status=\"200\"} 1\n");
    BS_ASSERT_INT_EQ(
        bs_metric_value(requests, BS_LABELS("POST", "/webhooks/clerk", "401")),
        2);
    BS_ASSERT_INT_EQ(
        bs_metric_value(requests, BS_LABELS("GET", "/missing", "200")), 0);
    free(text);
    bs_metrics_free(registry);
}

static void test_counter_ignores_negative_increments_and_set(void)
{
    struct bs_metrics *registry = bs_metrics_new("bestays", "svc");
    struct bs_metric *failures =
        bs_metrics_counter(registry, "bs_webhook_verification_failures_total",
                           "Webhook signatures refused.", BS_LABELS("reason"));

    bs_metric_add(failures, BS_LABELS("timestamp_too_old"), 5);
    bs_metric_add(failures, BS_LABELS("timestamp_too_old"), -1);
    bs_metric_set(failures, BS_LABELS("timestamp_too_old"), 0);
    bs_metric_observe(failures, BS_LABELS("timestamp_too_old"), 1);

    BS_ASSERT_INT_EQ(bs_metric_value(failures, BS_LABELS("timestamp_too_old")),
                     5);
    bs_metrics_free(registry);
}

static void test_gauge_sets_adds_and_renders_fractions(void)
{
    struct bs_metrics *registry = bs_metrics_new("bestays", "projector");
    struct bs_metric *lag = bs_metrics_gauge(
        registry, "bs_consumer_lag", "Messages behind.", BS_LABELS("topic"));
    char *text;

    bs_metric_set(lag, BS_LABELS("bestays.users"), 10);
    bs_metric_add(lag, BS_LABELS("bestays.users"), -2.5);
    bs_metric_inc(lag, BS_LABELS("bestays.faq"));
    bs_metric_set(lag, BS_LABELS("bestays.audit"), 1e20);
    text = render(registry);

    BS_ASSERT_STR_EQ(text, "# HELP bs_consumer_lag Messages behind.\n"
                           "# TYPE bs_consumer_lag gauge\n"
                           "bs_consumer_lag{product=\"bestays\","
                           "service=\"projector\",topic=\"bestays.users\"} "
                           "7.5\n"
                           "bs_consumer_lag{product=\"bestays\","
                           "service=\"projector\",topic=\"bestays.faq\"} 1\n"
                           "bs_consumer_lag{product=\"bestays\","
                           "service=\"projector\",topic=\"bestays.audit\"} "
                           "1e+20\n");
    free(text);
    bs_metrics_free(registry);
}

static void test_histogram_renders_cumulative_buckets_sum_and_count(void)
{
    static const double bounds[] = {0.005, 0.1, 1};
    struct bs_metrics *registry = bs_metrics_new("bestays", "ingest");
    struct bs_metric *latency =
        bs_metrics_histogram(registry, "bs_publish_duration_seconds",
                             "Publish latency.", BS_LABELS("topic"), bounds, 3);
    char *text;

    bs_metric_observe(latency, BS_LABELS("users"), 0.005); /* on a bound */
    bs_metric_observe(latency, BS_LABELS("users"), 0.05);
    bs_metric_observe(latency, BS_LABELS("users"), 0.25);
    bs_metric_observe(latency, BS_LABELS("users"), 3);
    text = render(registry);

    BS_ASSERT_STR_EQ(text,
                     "# HELP bs_publish_duration_seconds Publish latency.\n"
                     "# TYPE bs_publish_duration_seconds histogram\n"
                     "bs_publish_duration_seconds_bucket{product=\"bestays\","
                     "service=\"ingest\",topic=\"users\",le=\"0.005\"} 1\n"
                     "bs_publish_duration_seconds_bucket{product=\"bestays\","
                     "service=\"ingest\",topic=\"users\",le=\"0.1\"} 2\n"
                     "bs_publish_duration_seconds_bucket{product=\"bestays\","
                     "service=\"ingest\",topic=\"users\",le=\"1\"} 3\n"
                     "bs_publish_duration_seconds_bucket{product=\"bestays\","
                     "service=\"ingest\",topic=\"users\",le=\"+Inf\"} 4\n"
                     "bs_publish_duration_seconds_sum{product=\"bestays\","
                     "service=\"ingest\",topic=\"users\"} 3.305\n"
                     "bs_publish_duration_seconds_count{product=\"bestays\","
                     "service=\"ingest\",topic=\"users\"} 4\n");
    BS_ASSERT_INT_EQ(bs_metric_value(latency, BS_LABELS("users")), 4);
    free(text);
    bs_metrics_free(registry);
}

static void test_histogram_without_labels_starts_at_zero(void)
{
    static const double bounds[] = {0.5};
    struct bs_metrics *registry = bs_metrics_new("bestays", "svc");
    char *text;

    bs_metrics_histogram(registry, "bs_batch_seconds", "Batch time.", NULL,
                         bounds, 1);
    text = render(registry);

    BS_ASSERT_STR_EQ(
        text, "# HELP bs_batch_seconds Batch time.\n"
              "# TYPE bs_batch_seconds histogram\n"
              "bs_batch_seconds_bucket{product=\"bestays\",service=\"svc\","
              "le=\"0.5\"} 0\n"
              "bs_batch_seconds_bucket{product=\"bestays\",service=\"svc\","
              "le=\"+Inf\"} 0\n"
              "bs_batch_seconds_sum{product=\"bestays\",service=\"svc\"} 0\n"
              "bs_batch_seconds_count{product=\"bestays\",service=\"svc\"} "
              "0\n");
    free(text);
    bs_metrics_free(registry);
}

static void test_label_values_and_help_are_escaped(void)
{
    struct bs_metrics *registry = bs_metrics_new("be\"st", "s\\v\nc");
    struct bs_metric *odd = bs_metrics_counter(
        registry, "bs_odd_total", "Help with \\ and\nnewline \"kept\".",
        BS_LABELS("reason"));
    char *text;

    bs_metric_inc(odd, BS_LABELS("quote\" back\\slash new\nline"));
    bs_metric_inc(odd, BS_LABELS(NULL));
    text = render(registry);

    BS_ASSERT_STR_EQ(
        text, "# HELP bs_odd_total Help with \\\\ and\\nnewline \"kept\".\n"
              "# TYPE bs_odd_total counter\n"
              "bs_odd_total{product=\"be\\\"st\",service=\"s\\\\v\\nc\","
              "reason=\"quote\\\" back\\\\slash new\\nline\"} 1\n"
              "bs_odd_total{product=\"be\\\"st\",service=\"s\\\\v\\nc\","
              "reason=\"\"} 1\n");
    free(text);
    bs_metrics_free(registry);
}

static void test_invalid_declarations_are_refused(void)
{
    static const double unsorted[] = {1, 0.5};
    static const double with_inf[] = {1, INFINITY};
    static const double ok[] = {1};
    struct bs_metrics *registry = bs_metrics_new("bestays", "svc");

    CU_ASSERT_PTR_NULL(bs_metrics_counter(registry, "1bad", "", NULL));
    CU_ASSERT_PTR_NULL(bs_metrics_counter(registry, "bad-name", "", NULL));
    CU_ASSERT_PTR_NULL(
        bs_metrics_counter(registry, "bs_x", "", BS_LABELS("product")));
    CU_ASSERT_PTR_NULL(
        bs_metrics_counter(registry, "bs_x", "", BS_LABELS("__reserved")));
    CU_ASSERT_PTR_NULL(
        bs_metrics_counter(registry, "bs_x", "", BS_LABELS("a", "a")));
    CU_ASSERT_PTR_NULL(
        bs_metrics_counter(registry, "bs_x", "", BS_LABELS("bad label")));
    CU_ASSERT_PTR_NULL(
        bs_metrics_histogram(registry, "bs_h", "", BS_LABELS("le"), ok, 1));
    CU_ASSERT_PTR_NULL(
        bs_metrics_histogram(registry, "bs_h", "", NULL, unsorted, 2));
    CU_ASSERT_PTR_NULL(
        bs_metrics_histogram(registry, "bs_h", "", NULL, with_inf, 2));

    /* Updating a refused (NULL) metric is harmless. */
    bs_metric_inc(NULL, NULL);
    bs_metric_observe(NULL, NULL, 1);
    BS_ASSERT_INT_EQ(bs_metric_value(NULL, NULL), 0);
    bs_metrics_free(registry);
}

static void test_same_declaration_shares_family_and_clash_is_refused(void)
{
    struct bs_metrics *registry = bs_metrics_new("bestays", "svc");
    struct bs_metric *first =
        bs_metrics_counter(registry, "bs_dup_total", "One.", BS_LABELS("a"));
    struct bs_metric *again =
        bs_metrics_counter(registry, "bs_dup_total", "One.", BS_LABELS("a"));

    CU_ASSERT_PTR_NOT_NULL(first);
    CU_ASSERT_PTR_EQUAL(first, again);
    CU_ASSERT_PTR_NULL(
        bs_metrics_gauge(registry, "bs_dup_total", "One.", BS_LABELS("a")));
    CU_ASSERT_PTR_NULL(
        bs_metrics_counter(registry, "bs_dup_total", "One.", BS_LABELS("b")));
    bs_metrics_free(registry);
}

static void test_series_beyond_the_limit_are_dropped(void)
{
    struct bs_metrics *registry = bs_metrics_new("bestays", "svc");
    struct bs_metric *many =
        bs_metrics_counter(registry, "bs_many_total", "", BS_LABELS("id"));
    char value[32];

    for (int i = 0; i <= BS_METRICS_MAX_SERIES; i++) {
        snprintf(value, sizeof(value), "v%d", i);
        bs_metric_inc(many, BS_LABELS(value));
    }

    BS_ASSERT_INT_EQ(bs_metric_value(many, BS_LABELS("v0")), 1);
    snprintf(value, sizeof(value), "v%d", BS_METRICS_MAX_SERIES);
    BS_ASSERT_INT_EQ(bs_metric_value(many, BS_LABELS(value)), 0);
    bs_metrics_free(registry);
}

struct worker {
    pthread_t thread;
    struct bs_metric *counter;
    struct bs_metric *histogram;
    int id;
};

static void *increment_many(void *arg)
{
    struct worker *worker = arg;
    const char *status = worker->id % 2 ? "200" : "500";

    for (int i = 0; i < INCREMENTS_PER_RUN; i++) {
        bs_metric_inc(worker->counter, BS_LABELS(status));
        bs_metric_observe(worker->histogram, NULL, 0.5);
    }
    return NULL;
}

static void test_concurrent_increments_all_count(void)
{
    struct bs_metrics *registry = bs_metrics_new("bestays", "svc");
    struct worker workers[THREADS];
    struct bs_metric *counter =
        bs_metrics_counter(registry, "bs_c_total", "", BS_LABELS("status"));
    struct bs_metric *histogram = bs_metrics_histogram(
        registry, "bs_h_seconds", "", NULL, bs_metrics_latency_buckets,
        bs_metrics_latency_bucket_count);

    for (int i = 0; i < THREADS; i++) {
        workers[i] = (struct worker){
            .counter = counter, .histogram = histogram, .id = i};
        BS_ASSERT_INT_EQ(pthread_create(&workers[i].thread, NULL,
                                        increment_many, &workers[i]),
                         0);
    }
    for (int i = 0; i < THREADS; i++)
        pthread_join(workers[i].thread, NULL);

    BS_ASSERT_INT_EQ(bs_metric_value(counter, BS_LABELS("200")),
                     THREADS / 2 * INCREMENTS_PER_RUN);
    BS_ASSERT_INT_EQ(bs_metric_value(counter, BS_LABELS("500")),
                     THREADS / 2 * INCREMENTS_PER_RUN);
    BS_ASSERT_INT_EQ(bs_metric_value(histogram, NULL),
                     THREADS * INCREMENTS_PER_RUN);
    bs_metrics_free(registry);
}

static CU_TestInfo metrics_tests[] = {
    {"empty registry renders empty text",
     test_empty_registry_renders_empty_text},
    {"counter without labels shows zero then counts",
     test_counter_without_labels_shows_zero_then_counts},
    {"counter with labels renders series in creation order",
     test_counter_with_labels_renders_series_in_creation_order},
    {"counter ignores negative increments and set",
     test_counter_ignores_negative_increments_and_set},
    {"gauge sets, adds and renders fractions",
     test_gauge_sets_adds_and_renders_fractions},
    {"histogram renders cumulative buckets, sum and count",
     test_histogram_renders_cumulative_buckets_sum_and_count},
    {"histogram without labels starts at zero",
     test_histogram_without_labels_starts_at_zero},
    {"label values and help are escaped",
     test_label_values_and_help_are_escaped},
    {"invalid declarations are refused", test_invalid_declarations_are_refused},
    {"same declaration shares family, clash is refused",
     test_same_declaration_shares_family_and_clash_is_refused},
    {"series beyond the limit are dropped",
     test_series_beyond_the_limit_are_dropped},
    {"concurrent increments all count", test_concurrent_increments_all_count},
    CU_TEST_INFO_NULL};

static void register_suites(void)
{
    bs_test_add_suite("metrics", NULL, NULL, metrics_tests);
}

int main(void)
{
    return bs_test_main(register_suites);
}
