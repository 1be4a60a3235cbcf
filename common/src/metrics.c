/*
 * metrics.c - counters, gauges and histograms rendered for Prometheus.
 *
 * Each family keeps its series in creation order (for rendering) and in a
 * small hash table keyed by the label values (for updates). A series stores
 * its label set already escaped and joined, constant labels first, so
 * rendering only concatenates. One mutex per family guards its series and
 * values; the registry's mutex guards the list of families.
 *
 * Not here: removing series or families, summaries, timestamps.
 */
#include "bs/metrics.h"
#include "bs/error.h"
#include "bs/log.h"

#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SERIES_BUCKETS 64

enum metric_type { METRIC_COUNTER, METRIC_GAUGE, METRIC_HISTOGRAM };

static const char *const type_names[] = {"counter", "gauge", "histogram"};

const double bs_metrics_latency_buckets[] = {
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
const size_t bs_metrics_latency_bucket_count =
    sizeof(bs_metrics_latency_buckets) / sizeof(bs_metrics_latency_buckets[0]);

struct series {
    struct series *next;      /* creation order */
    struct series *hash_next; /* same hash bucket */
    uint64_t hash;
    char **values;     /* one per label name */
    char *labels_text; /* product="..",service="..",name="..": escaped */
    double value;      /* counter or gauge value; histogram sum */
    uint64_t count;    /* histogram: observations */
    uint64_t *buckets; /* histogram: per bound, not cumulative */
};

struct bs_metric {
    struct bs_metric *next;
    struct bs_metrics *registry;
    enum metric_type type;
    char *name;
    char *help;
    size_t label_count;
    char *label_names[BS_METRICS_MAX_LABELS];
    double *bounds;
    size_t bound_count;

    pthread_mutex_t lock;
    struct series *first;
    struct series *last;
    struct series *table[SERIES_BUCKETS];
    size_t series_count;
    bool overflow_logged;
};

struct bs_metrics {
    pthread_mutex_t lock;
    char *const_labels; /* product="..",service=".." */
    struct bs_metric *first;
    struct bs_metric *last;
};

/* A growable string; after an allocation failure it stays failed. */
struct strbuf {
    char *data;
    size_t len;
    size_t cap;
    bool failed;
};

static void sb_append(struct strbuf *sb, const char *text, size_t len)
{
    if (sb->failed)
        return;
    if (sb->len + len + 1 > sb->cap) {
        size_t cap = sb->cap ? sb->cap : 256;
        char *data;

        while (cap < sb->len + len + 1)
            cap *= 2;
        data = realloc(sb->data, cap);
        if (!data) {
            sb->failed = true;
            return;
        }
        sb->data = data;
        sb->cap = cap;
    }
    memcpy(sb->data + sb->len, text, len);
    sb->len += len;
    sb->data[sb->len] = '\0';
}

static void sb_puts(struct strbuf *sb, const char *text)
{
    sb_append(sb, text, strlen(text));
}

/*
 * Label values escape backslash, double quote and newline; HELP text
 * escapes backslash and newline only.
 */
static void sb_escaped(struct strbuf *sb, const char *text, bool quote)
{
    for (const char *p = text; *p; p++) {
        if (*p == '\\')
            sb_puts(sb, "\\\\");
        else if (*p == '\n')
            sb_puts(sb, "\\n");
        else if (*p == '"' && quote)
            sb_puts(sb, "\\\"");
        else
            sb_append(sb, p, 1);
    }
}

/* Integers print without a fraction; other values as the shortest text
 * that reads back as the same double. */
static void format_value(double value, char *buf, size_t size)
{
    if (isnan(value)) {
        snprintf(buf, size, "NaN");
        return;
    }
    if (isinf(value)) {
        snprintf(buf, size, "%sInf", value > 0 ? "+" : "-");
        return;
    }
    if (value > -1e15 && value < 1e15 && value == (double)(long long)value) {
        snprintf(buf, size, "%lld", (long long)value);
        return;
    }
    for (int precision = 1; precision <= 17; precision++) {
        snprintf(buf, size, "%.*g", precision, value);
        if (strtod(buf, NULL) == value)
            return;
    }
}

static void sb_value(struct strbuf *sb, double value)
{
    char buf[40];

    format_value(value, buf, sizeof(buf));
    sb_puts(sb, buf);
}

static void sb_uint(struct strbuf *sb, uint64_t value)
{
    char buf[24];

    snprintf(buf, sizeof(buf), "%llu", (unsigned long long)value);
    sb_puts(sb, buf);
}

static bool name_valid(const char *name, bool allow_colon)
{
    if (!name || !*name)
        return false;
    for (const char *p = name; *p; p++) {
        char c = *p;
        bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                     c == '_' || (allow_colon && c == ':');
        bool digit = c >= '0' && c <= '9';

        if (!alpha && !(digit && p != name))
            return false;
    }
    return true;
}

static bool label_name_valid(const char *name, enum metric_type type)
{
    if (!name_valid(name, false) || strncmp(name, "__", 2) == 0)
        return false;
    if (strcmp(name, "product") == 0 || strcmp(name, "service") == 0)
        return false;
    return !(type == METRIC_HISTOGRAM && strcmp(name, "le") == 0);
}

struct bs_metrics *bs_metrics_new(const char *product, const char *service)
{
    struct bs_metrics *registry = calloc(1, sizeof(*registry));
    struct strbuf sb = {0};

    if (!registry)
        return NULL;

    /* The constant labels are escaped once, here. */
    sb_puts(&sb, "product=\"");
    sb_escaped(&sb, product ? product : "", true);
    sb_puts(&sb, "\",service=\"");
    sb_escaped(&sb, service ? service : "", true);
    sb_puts(&sb, "\"");
    if (sb.failed) {
        free(sb.data);
        free(registry);
        return NULL;
    }

    registry->const_labels = sb.data;
    pthread_mutex_init(&registry->lock, NULL);
    return registry;
}

static void series_free(struct series *series, size_t label_count)
{
    for (size_t i = 0; series->values && i < label_count; i++)
        free(series->values[i]);
    free(series->values);
    free(series->labels_text);
    free(series->buckets);
    free(series);
}

static void metric_free(struct bs_metric *metric)
{
    struct series *series = metric->first;

    while (series) {
        struct series *next = series->next;

        series_free(series, metric->label_count);
        series = next;
    }
    for (size_t i = 0; i < metric->label_count; i++)
        free(metric->label_names[i]);
    pthread_mutex_destroy(&metric->lock);
    free(metric->name);
    free(metric->help);
    free(metric->bounds);
    free(metric);
}

void bs_metrics_free(struct bs_metrics *registry)
{
    struct bs_metric *metric;

    if (!registry)
        return;
    metric = registry->first;
    while (metric) {
        struct bs_metric *next = metric->next;

        metric_free(metric);
        metric = next;
    }
    pthread_mutex_destroy(&registry->lock);
    free(registry->const_labels);
    free(registry);
}

static size_t count_labels(const char *const *labels)
{
    size_t count = 0;

    while (labels && labels[count])
        count++;
    return count;
}

/* True when an existing family matches a new declaration exactly. */
static bool same_declaration(const struct bs_metric *metric,
                             enum metric_type type,
                             const char *const *label_names,
                             const double *bounds, size_t bound_count)
{
    if (metric->type != type ||
        metric->label_count != count_labels(label_names))
        return false;
    for (size_t i = 0; i < metric->label_count; i++)
        if (strcmp(metric->label_names[i], label_names[i]) != 0)
            return false;
    if (type != METRIC_HISTOGRAM)
        return true;
    if (metric->bound_count != bound_count)
        return false;
    for (size_t i = 0; i < bound_count; i++)
        if (metric->bounds[i] != bounds[i])
            return false;
    return true;
}

static bool declaration_valid(const char *name, enum metric_type type,
                              const char *const *label_names,
                              const double *bounds, size_t bound_count)
{
    size_t label_count = count_labels(label_names);

    if (!name_valid(name, true) || label_count > BS_METRICS_MAX_LABELS)
        return false;
    for (size_t i = 0; i < label_count; i++) {
        if (!label_name_valid(label_names[i], type))
            return false;
        for (size_t j = 0; j < i; j++)
            if (strcmp(label_names[i], label_names[j]) == 0)
                return false;
    }
    if (type != METRIC_HISTOGRAM)
        return true;
    if (bound_count > 0 && !bounds)
        return false;
    for (size_t i = 0; i < bound_count; i++) {
        if (!isfinite(bounds[i]) || (i > 0 && bounds[i] <= bounds[i - 1]))
            return false;
    }
    return true;
}

static struct bs_metric *metric_new(struct bs_metrics *registry,
                                    const char *name, const char *help,
                                    enum metric_type type,
                                    const char *const *label_names,
                                    const double *bounds, size_t bound_count)
{
    struct bs_metric *metric = calloc(1, sizeof(*metric));

    if (!metric)
        return NULL;
    pthread_mutex_init(&metric->lock, NULL);
    metric->registry = registry;
    metric->type = type;
    metric->name = strdup(name);
    metric->help = strdup(help ? help : "");
    if (!metric->name || !metric->help)
        goto fail;

    /* Copy the label names, then the bucket bounds. */
    for (size_t i = 0; label_names && label_names[i]; i++) {
        metric->label_names[i] = strdup(label_names[i]);
        if (!metric->label_names[i])
            goto fail;
        metric->label_count++;
    }
    if (type == METRIC_HISTOGRAM && bound_count > 0) {
        metric->bounds = malloc(bound_count * sizeof(double));
        if (!metric->bounds)
            goto fail;
        memcpy(metric->bounds, bounds, bound_count * sizeof(double));
        metric->bound_count = bound_count;
    }
    return metric;

fail:
    metric_free(metric);
    return NULL;
}

static struct series *series_find_or_create(struct bs_metric *metric,
                                            const char *const *values,
                                            bool create);

static struct bs_metric *metrics_register(struct bs_metrics *registry,
                                          const char *name, const char *help,
                                          enum metric_type type,
                                          const char *const *label_names,
                                          const double *bounds,
                                          size_t bound_count)
{
    struct bs_metric *metric = NULL;

    if (!registry ||
        !declaration_valid(name, type, label_names, bounds, bound_count)) {
        char quoted[128];

        bs_log_error("metric_invalid name=%s",
                     bs_log_quote(name, quoted, sizeof(quoted)));
        return NULL;
    }

    pthread_mutex_lock(&registry->lock);

    /* The same declaration twice shares one family; a clash is refused. */
    for (metric = registry->first; metric; metric = metric->next) {
        if (strcmp(metric->name, name) != 0)
            continue;
        if (!same_declaration(metric, type, label_names, bounds, bound_count)) {
            bs_log_error("metric_conflict name=%s", name);
            metric = NULL;
        }
        goto out;
    }

    metric = metric_new(registry, name, help, type, label_names, bounds,
                        bound_count);
    if (!metric)
        goto out;
    if (registry->last)
        registry->last->next = metric;
    else
        registry->first = metric;
    registry->last = metric;

    /* A family without labels shows its single series from the start. */
    if (metric->label_count == 0) {
        pthread_mutex_lock(&metric->lock);
        series_find_or_create(metric, NULL, true);
        pthread_mutex_unlock(&metric->lock);
    }

out:
    pthread_mutex_unlock(&registry->lock);
    return metric;
}

struct bs_metric *bs_metrics_counter(struct bs_metrics *registry,
                                     const char *name, const char *help,
                                     const char *const *label_names)
{
    return metrics_register(registry, name, help, METRIC_COUNTER, label_names,
                            NULL, 0);
}

struct bs_metric *bs_metrics_gauge(struct bs_metrics *registry,
                                   const char *name, const char *help,
                                   const char *const *label_names)
{
    return metrics_register(registry, name, help, METRIC_GAUGE, label_names,
                            NULL, 0);
}

struct bs_metric *bs_metrics_histogram(struct bs_metrics *registry,
                                       const char *name, const char *help,
                                       const char *const *label_names,
                                       const double *bounds, size_t bound_count)
{
    return metrics_register(registry, name, help, METRIC_HISTOGRAM, label_names,
                            bounds, bound_count);
}

static const char *label_value(const char *const *values, size_t i)
{
    return values && values[i] ? values[i] : "";
}

/* FNV-1a over the values, each followed by a 0xff separator. */
static uint64_t values_hash(const char *const *values, size_t count)
{
    uint64_t hash = 1469598103934665603ULL;

    for (size_t i = 0; i < count; i++) {
        for (const char *p = label_value(values, i); *p; p++) {
            hash ^= (unsigned char)*p;
            hash *= 1099511628211ULL;
        }
        hash ^= 0xff;
        hash *= 1099511628211ULL;
    }
    return hash;
}

static bool series_matches(const struct series *series,
                           const char *const *values, size_t count)
{
    for (size_t i = 0; i < count; i++)
        if (strcmp(series->values[i], label_value(values, i)) != 0)
            return false;
    return true;
}

static char *series_labels_text(const struct bs_metric *metric,
                                const char *const *values)
{
    struct strbuf sb = {0};

    sb_puts(&sb, metric->registry->const_labels);
    for (size_t i = 0; i < metric->label_count; i++) {
        sb_puts(&sb, ",");
        sb_puts(&sb, metric->label_names[i]);
        sb_puts(&sb, "=\"");
        sb_escaped(&sb, label_value(values, i), true);
        sb_puts(&sb, "\"");
    }
    if (sb.failed) {
        free(sb.data);
        return NULL;
    }
    return sb.data;
}

static struct series *series_new(const struct bs_metric *metric,
                                 const char *const *values, uint64_t hash)
{
    struct series *series = calloc(1, sizeof(*series));

    if (!series)
        return NULL;
    series->hash = hash;
    series->values = calloc(metric->label_count + 1, sizeof(char *));
    series->labels_text = series_labels_text(metric, values);
    if (!series->values || !series->labels_text)
        goto fail;
    for (size_t i = 0; i < metric->label_count; i++) {
        series->values[i] = strdup(label_value(values, i));
        if (!series->values[i])
            goto fail;
    }
    if (metric->type == METRIC_HISTOGRAM) {
        series->buckets = calloc(metric->bound_count + 1, sizeof(uint64_t));
        if (!series->buckets)
            goto fail;
    }
    return series;

fail:
    series_free(series, metric->label_count);
    return NULL;
}

/* Called with metric->lock held. Returns NULL when absent and `create` is
 * false, when the family is full, or when out of memory. */
static struct series *series_find_or_create(struct bs_metric *metric,
                                            const char *const *values,
                                            bool create)
{
    uint64_t hash = values_hash(values, metric->label_count);
    struct series **slot = &metric->table[hash % SERIES_BUCKETS];
    struct series *series;

    for (series = *slot; series; series = series->hash_next)
        if (series->hash == hash &&
            series_matches(series, values, metric->label_count))
            return series;
    if (!create)
        return NULL;

    /* Bounded cardinality: refuse, and say so once. */
    if (metric->series_count >= BS_METRICS_MAX_SERIES) {
        if (!metric->overflow_logged)
            bs_log_warn("metric_series_limit name=%s limit=%d", metric->name,
                        BS_METRICS_MAX_SERIES);
        metric->overflow_logged = true;
        return NULL;
    }

    series = series_new(metric, values, hash);
    if (!series)
        return NULL;
    series->hash_next = *slot;
    *slot = series;
    if (metric->last)
        metric->last->next = series;
    else
        metric->first = series;
    metric->last = series;
    metric->series_count++;
    return series;
}

static void histogram_observe(const struct bs_metric *metric,
                              struct series *series, double value)
{
    size_t i = 0;

    while (i < metric->bound_count && value > metric->bounds[i])
        i++;
    series->buckets[i]++;
    series->count++;
    series->value += value;
}

enum update_kind { UPDATE_ADD, UPDATE_SET, UPDATE_OBSERVE };

static bool update_allowed(const struct bs_metric *metric,
                           enum update_kind kind, double value)
{
    switch (kind) {
    case UPDATE_ADD:
        return metric->type == METRIC_GAUGE ||
               (metric->type == METRIC_COUNTER && value >= 0);
    case UPDATE_SET:
        return metric->type == METRIC_GAUGE;
    case UPDATE_OBSERVE:
        return metric->type == METRIC_HISTOGRAM && !isnan(value);
    }
    return false;
}

static void metric_update(struct bs_metric *metric, const char *const *values,
                          enum update_kind kind, double value)
{
    struct series *series;

    if (!metric || !update_allowed(metric, kind, value))
        return;

    pthread_mutex_lock(&metric->lock);
    series = series_find_or_create(metric, values, true);
    if (series && kind == UPDATE_ADD)
        series->value += value;
    else if (series && kind == UPDATE_SET)
        series->value = value;
    else if (series)
        histogram_observe(metric, series, value);
    pthread_mutex_unlock(&metric->lock);
}

void bs_metric_inc(struct bs_metric *metric, const char *const *label_values)
{
    metric_update(metric, label_values, UPDATE_ADD, 1.0);
}

void bs_metric_add(struct bs_metric *metric, const char *const *label_values,
                   double value)
{
    metric_update(metric, label_values, UPDATE_ADD, value);
}

void bs_metric_set(struct bs_metric *metric, const char *const *label_values,
                   double value)
{
    metric_update(metric, label_values, UPDATE_SET, value);
}

void bs_metric_observe(struct bs_metric *metric,
                       const char *const *label_values, double value)
{
    metric_update(metric, label_values, UPDATE_OBSERVE, value);
}

double bs_metric_value(struct bs_metric *metric,
                       const char *const *label_values)
{
    struct series *series;
    double value = 0;

    if (!metric)
        return 0;
    pthread_mutex_lock(&metric->lock);
    series = series_find_or_create(metric, label_values, false);
    if (series)
        value = metric->type == METRIC_HISTOGRAM ? (double)series->count
                                                 : series->value;
    pthread_mutex_unlock(&metric->lock);
    return value;
}

/* name{labels[,le="bound"]} value */
static void render_line(struct strbuf *sb, const char *name, const char *suffix,
                        const char *labels, const char *le)
{
    sb_puts(sb, name);
    sb_puts(sb, suffix);
    sb_puts(sb, "{");
    sb_puts(sb, labels);
    if (le) {
        sb_puts(sb, ",le=\"");
        sb_puts(sb, le);
        sb_puts(sb, "\"");
    }
    sb_puts(sb, "} ");
}

static void render_histogram_series(struct strbuf *sb,
                                    const struct bs_metric *metric,
                                    const struct series *series)
{
    uint64_t cumulative = 0;
    char le[40];

    for (size_t i = 0; i < metric->bound_count; i++) {
        cumulative += series->buckets[i];
        format_value(metric->bounds[i], le, sizeof(le));
        render_line(sb, metric->name, "_bucket", series->labels_text, le);
        sb_uint(sb, cumulative);
        sb_puts(sb, "\n");
    }
    render_line(sb, metric->name, "_bucket", series->labels_text, "+Inf");
    sb_uint(sb, series->count);
    sb_puts(sb, "\n");

    render_line(sb, metric->name, "_sum", series->labels_text, NULL);
    sb_value(sb, series->value);
    sb_puts(sb, "\n");
    render_line(sb, metric->name, "_count", series->labels_text, NULL);
    sb_uint(sb, series->count);
    sb_puts(sb, "\n");
}

static void render_family(struct strbuf *sb, struct bs_metric *metric)
{
    sb_puts(sb, "# HELP ");
    sb_puts(sb, metric->name);
    sb_puts(sb, " ");
    sb_escaped(sb, metric->help, false);
    sb_puts(sb, "\n# TYPE ");
    sb_puts(sb, metric->name);
    sb_puts(sb, " ");
    sb_puts(sb, type_names[metric->type]);
    sb_puts(sb, "\n");

    pthread_mutex_lock(&metric->lock);
    for (struct series *s = metric->first; s; s = s->next) {
        if (metric->type == METRIC_HISTOGRAM) {
            render_histogram_series(sb, metric, s);
            continue;
        }
        render_line(sb, metric->name, "", s->labels_text, NULL);
        sb_value(sb, s->value);
        sb_puts(sb, "\n");
    }
    pthread_mutex_unlock(&metric->lock);
}

int bs_metrics_render(struct bs_metrics *registry, char **out, size_t *len)
{
    struct strbuf sb = {0};

    *out = NULL;
    if (len)
        *len = 0;
    sb_append(&sb, "", 0); /* an empty registry renders as "" */

    pthread_mutex_lock(&registry->lock);
    for (struct bs_metric *m = registry->first; m; m = m->next)
        render_family(&sb, m);
    pthread_mutex_unlock(&registry->lock);

    if (sb.failed) {
        free(sb.data);
        return BS_ENOMEM;
    }
    *out = sb.data;
    if (len)
        *len = sb.len;
    return BS_OK;
}
