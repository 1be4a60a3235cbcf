/*
 * webhook_bench - signed webhooks through a running webhook-ingest.
 *
 * Sends N user.created webhooks (each a new user and svix id, signed with
 * the first secret of CLERK_WEBHOOK_SECRET) over K keep-alive connections,
 * one thread and one curl handle per connection, and prints how many were
 * accepted per second and the p50/p99/max latency of a request. It asserts
 * nothing; figures depend on the machine and the broker.
 *
 *   CLERK_WEBHOOK_SECRET=whsec_... webhook_bench \
 *       [--url http://127.0.0.1:8001/api/v1/webhooks/clerk] [-n 20000] [-c 64]
 */
#include "bs/error.h"
#include "bs/svix.h"

#include <curl/curl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_URL         "http://127.0.0.1:8001/api/v1/webhooks/clerk"
#define DEFAULT_COUNT       20000
#define DEFAULT_CONNECTIONS 64
#define MAX_CONNECTIONS     256

static const char body_format[] =
    "{\"data\":{\"created_at\":1654012591514,\"email_addresses\":[{"
    "\"email_address\":\"bench%d@example.org\",\"id\":\"idn_bench\","
    "\"linked_to\":[],\"object\":\"email_address\"}],\"first_name\":"
    "\"Bench\",\"id\":\"user_bench_%d_%d\",\"image_url\":null,\"last_name\":"
    "\"Mark\",\"object\":\"user\",\"primary_email_address_id\":"
    "\"idn_bench\",\"public_metadata\":{},\"updated_at\":1654012591835},"
    "\"object\":\"event\",\"type\":\"user.created\"}";

struct bench {
    const char *url;
    int count;
    struct bs_svix_keys *keys;
    atomic_int next;     /* the next webhook to send */
    atomic_int accepted; /* answered 2xx */
    atomic_int refused;  /* answered otherwise, or failed */
    double *latencies;   /* seconds, one per webhook */
};

static double now_seconds(void)
{
    struct timespec now;

    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)now.tv_sec + (double)now.tv_nsec / 1e9;
}

static size_t discard(char *data, size_t size, size_t count, void *ctx)
{
    (void)data;
    (void)ctx;
    return size * count;
}

/* Signs and sends webhook number i on `curl`; true when answered 2xx. */
static bool send_one(struct bench *bench, CURL *curl, int i)
{
    char body[1024], id[64], ts[32], signature[BS_SVIX_SIGNATURE_SIZE];
    char id_h[96], ts_h[64], sig_h[96];
    struct curl_slist *headers = NULL;
    long status = 0;
    int len;

    len = snprintf(body, sizeof(body), body_format, i, (int)getpid(), i);
    snprintf(id, sizeof(id), "msg_bench_%d_%d", (int)getpid(), i);
    snprintf(ts, sizeof(ts), "%" PRId64, (int64_t)time(NULL));
    if (bs_svix_sign(bench->keys, 0, id, ts, body, (size_t)len, signature,
                     sizeof(signature)) != BS_OK)
        return false;
    snprintf(id_h, sizeof(id_h), "svix-id: %s", id);
    snprintf(ts_h, sizeof(ts_h), "svix-timestamp: %s", ts);
    snprintf(sig_h, sizeof(sig_h), "svix-signature: %s", signature);
    headers = curl_slist_append(headers, id_h);
    headers = curl_slist_append(headers, ts_h);
    headers = curl_slist_append(headers, sig_h);
    headers = curl_slist_append(headers, "Content-Type: application/json");
    headers = curl_slist_append(headers, "Expect:");

    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, (long)len);
    if (curl_easy_perform(curl) == CURLE_OK)
        curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(headers);
    return status >= 200 && status < 300;
}

/* One connection: takes webhooks until all are sent. */
static void *connection_run(void *arg)
{
    struct bench *bench = arg;
    CURL *curl = curl_easy_init();
    int i;

    if (!curl)
        return NULL;
    curl_easy_setopt(curl, CURLOPT_URL, bench->url);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT, 30L);
    curl_easy_setopt(curl, CURLOPT_TCP_NODELAY, 1L);

    while ((i = atomic_fetch_add(&bench->next, 1)) < bench->count) {
        double started = now_seconds();
        bool ok = send_one(bench, curl, i);

        bench->latencies[i] = now_seconds() - started;
        atomic_fetch_add(ok ? &bench->accepted : &bench->refused, 1);
    }
    curl_easy_cleanup(curl);
    return NULL;
}

static int compare_doubles(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return (x > y) - (x < y);
}

static double percentile(const double *sorted, int count, double p)
{
    int index = (int)(p * (count - 1) + 0.5);

    return count > 0 ? sorted[index] : 0;
}

static int parse_args(int argc, char **argv, struct bench *bench,
                      int *connections)
{
    for (int i = 1; i < argc; i++) {
        if (i + 1 >= argc)
            return -1;
        if (strcmp(argv[i], "--url") == 0)
            bench->url = argv[++i];
        else if (strcmp(argv[i], "-n") == 0)
            bench->count = atoi(argv[++i]);
        else if (strcmp(argv[i], "-c") == 0)
            *connections = atoi(argv[++i]);
        else
            return -1;
    }
    return bench->count > 0 && *connections > 0 &&
                   *connections <= MAX_CONNECTIONS
               ? 0
               : -1;
}

static void report(const struct bench *bench, int connections, double wall)
{
    qsort(bench->latencies, (size_t)bench->count, sizeof(double),
          compare_doubles);
    printf("webhook_bench url=%s webhooks=%d connections=%d\n", bench->url,
           bench->count, connections);
    printf("  accepted      %d (refused or failed %d)\n",
           atomic_load(&bench->accepted), atomic_load(&bench->refused));
    printf("  wall time     %.2f s\n", wall);
    printf("  accepted/s    %.0f\n", atomic_load(&bench->accepted) / wall);
    printf("  latency p50   %.2f ms\n",
           percentile(bench->latencies, bench->count, 0.50) * 1e3);
    printf("  latency p99   %.2f ms\n",
           percentile(bench->latencies, bench->count, 0.99) * 1e3);
    printf("  latency max   %.2f ms\n",
           bench->latencies[bench->count - 1] * 1e3);
}

int main(int argc, char **argv)
{
    struct bench bench = {.url = getenv("WEBHOOK_URL"), .count = DEFAULT_COUNT};
    pthread_t threads[MAX_CONNECTIONS];
    int connections = DEFAULT_CONNECTIONS;
    char errstr[256];
    double started;

    if (!bench.url)
        bench.url = DEFAULT_URL;
    if (parse_args(argc, argv, &bench, &connections) != 0) {
        fprintf(stderr, "usage: CLERK_WEBHOOK_SECRET=whsec_... webhook_bench "
                        "[--url URL] [-n COUNT] [-c CONNECTIONS]\n");
        return 64;
    }
    if (bs_svix_keys_parse(getenv("CLERK_WEBHOOK_SECRET"), &bench.keys, errstr,
                           sizeof(errstr)) != BS_OK) {
        fprintf(stderr, "webhook_bench: %s\n", errstr);
        return 2;
    }
    bench.latencies = calloc((size_t)bench.count, sizeof(double));
    curl_global_init(CURL_GLOBAL_DEFAULT);

    /* K connections, each sending until the N webhooks are gone. */
    started = now_seconds();
    for (int i = 0; i < connections; i++)
        pthread_create(&threads[i], NULL, connection_run, &bench);
    for (int i = 0; i < connections; i++)
        pthread_join(threads[i], NULL);
    report(&bench, connections, now_seconds() - started);

    curl_global_cleanup();
    free(bench.latencies);
    bs_svix_keys_free(bench.keys);
    return 0;
}
