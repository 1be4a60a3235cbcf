/*
 * metrics.h - a small thread-safe Prometheus registry.
 *
 * A registry holds metric families (counters, gauges, histograms), each with
 * a fixed list of label names declared once; series are created on first use
 * with the label values given at that moment. Every series also carries the
 * constant labels product="<product>" and service="<service>" fixed when the
 * registry is created. bs_metrics_render() writes the Prometheus text
 * exposition format 0.0.4 (HELP and TYPE lines, escaped label values).
 *
 * Updates take one short mutex per family; call them from any thread.
 * Label values must come from a small, bounded set (a route pattern, an
 * HTTP status, a reason code), never from request data such as ids or
 * paths: a family refuses new series beyond BS_METRICS_MAX_SERIES.
 *
 * Not here: timestamps, summaries, exemplars, pushing, the OpenMetrics
 * format. The HTTP layer (bs/http.h) serves the rendered text on /metrics.
 */
#ifndef BS_METRICS_H
#define BS_METRICS_H

#include <stddef.h>

#define BS_METRICS_MAX_LABELS 8    /* label names per family */
#define BS_METRICS_MAX_SERIES 2048 /* series per family */

/*
 * A NULL-terminated list of label names or values, for example
 * BS_LABELS("method", "route") when registering and BS_LABELS("GET", "/x")
 * when updating. A family without labels takes NULL.
 */
#define BS_LABELS(...) ((const char *const[]){__VA_ARGS__, NULL})

struct bs_metrics;
struct bs_metric;

/* Upper bounds (seconds) for request and publish latencies: 1 ms to 10 s. */
extern const double bs_metrics_latency_buckets[];
extern const size_t bs_metrics_latency_bucket_count;

/*
 * Creates an empty registry whose series all carry product and service as
 * labels (both copied). Returns NULL when out of memory. Free it with
 * bs_metrics_free() after every user of its metrics has stopped.
 */
struct bs_metrics *bs_metrics_new(const char *product, const char *service);

/* Frees the registry and every metric it handed out. NULL is ignored. */
void bs_metrics_free(struct bs_metrics *registry);

/*
 * Registers a family and returns it; the registry owns it (never free it).
 * `name` and each label name must be valid Prometheus names; `label_names`
 * is a NULL-terminated list (BS_LABELS(...)) or NULL for none. Registering
 * the same name again with the same type and labels returns the existing
 * family. Returns NULL (and logs an error) for an invalid or conflicting
 * declaration or when out of memory; updating a NULL metric does nothing.
 *
 * For histograms `bounds` are the bucket upper bounds, finite and strictly
 * increasing (copied); the +Inf bucket is added.
 */
struct bs_metric *bs_metrics_counter(struct bs_metrics *registry,
                                     const char *name, const char *help,
                                     const char *const *label_names);
struct bs_metric *bs_metrics_gauge(struct bs_metrics *registry,
                                   const char *name, const char *help,
                                   const char *const *label_names);
struct bs_metric *bs_metrics_histogram(struct bs_metrics *registry,
                                       const char *name, const char *help,
                                       const char *const *label_names,
                                       const double *bounds,
                                       size_t bound_count);

/*
 * Updates the series named by `label_values`: one value per label name of
 * the family, in the declared order (BS_LABELS(...), or NULL for a family
 * without labels; a NULL value counts as ""). Values are copied when the
 * series is created. Calls that do not fit the family's type (a negative
 * counter increment, set on a counter, observe on a gauge) do nothing.
 *
 *   bs_metric_inc      counter or gauge += 1
 *   bs_metric_add      counter (value >= 0) or gauge += value
 *   bs_metric_set      gauge = value
 *   bs_metric_observe  histogram: counts value in its bucket, sum and count
 */
void bs_metric_inc(struct bs_metric *metric, const char *const *label_values);
void bs_metric_add(struct bs_metric *metric, const char *const *label_values,
                   double value);
void bs_metric_set(struct bs_metric *metric, const char *const *label_values,
                   double value);
void bs_metric_observe(struct bs_metric *metric,
                       const char *const *label_values, double value);

/*
 * The current value of a counter or gauge series, or the observation count
 * of a histogram series; 0 when the series does not exist yet. For tests
 * and readiness logic; does not create the series.
 */
double bs_metric_value(struct bs_metric *metric,
                       const char *const *label_values);

/*
 * Renders every family in registration order, series in creation order, as
 * Prometheus text format 0.0.4. On success *out is a NUL-terminated string
 * the caller frees with free() and *len its length (may be NULL). Returns
 * BS_OK or BS_ENOMEM.
 */
int bs_metrics_render(struct bs_metrics *registry, char **out, size_t *len);

#endif
