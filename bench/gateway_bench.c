/*
 * gateway_bench - authenticated reads through a running api-gateway.
 *
 * Mints one Clerk-style RS256 session token for `sub` with the given RSA
 * private key (the gateway must run with the matching CLERK_JWT_KEY and
 * have a user row `sub` in its product), then runs two phases over K
 * keep-alive connections, one thread and one curl handle per connection:
 * N x GET /api/health (the product context and HTTP overhead, no token, no
 * database) and N x GET /api/v1/users/{sub} (token verification, one
 * transaction with app.product, the caller lookup and the user read).
 * Prints requests/s and p50/p99/max latency per phase. Asserts nothing.
 *
 *   gateway_bench --key private.pem --sub user_bs_admin \
 *       [--url http://127.0.0.1:8011] [-n 20000] [-c 16]
 */
#include <curl/curl.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define DEFAULT_URL         "http://127.0.0.1:8011"
#define DEFAULT_COUNT       20000
#define DEFAULT_CONNECTIONS 16
#define MAX_CONNECTIONS     256

struct phase {
    const char *name;
    char url[512];
    const char *auth; /* "Authorization: Bearer ..." or NULL */
    int count;
    atomic_int next;
    atomic_int ok;
    atomic_int failed;
    double *latencies; /* seconds, one per request */
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

/* ---- the token ------------------------------------------------------------
 */

static char *b64url(const unsigned char *data, size_t len)
{
    char *out = malloc(4 * ((len + 2) / 3) + 1);
    int n = EVP_EncodeBlock((unsigned char *)out, data, (int)len);

    while (n > 0 && out[n - 1] == '=')
        n--;
    out[n] = '\0';
    for (char *p = out; *p; p++)
        *p = *p == '+' ? '-' : *p == '/' ? '_' : *p;
    return out;
}

/* "Authorization: Bearer <token>" valid for an hour; NULL on failure. */
static char *mint_header(const char *key_path, const char *sub)
{
    FILE *file = fopen(key_path, "r");
    EVP_PKEY *key = file ? PEM_read_PrivateKey(file, NULL, NULL, NULL) : NULL;
    const char *header = "{\"alg\":\"RS256\",\"typ\":\"JWT\"}";
    long long now = (long long)time(NULL);
    char payload[512], *h, *p, *s, *input, *out = NULL;
    unsigned char sig[1024];
    size_t sig_len = sizeof(sig);
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();

    if (file)
        fclose(file);
    if (!key)
        goto out;
    snprintf(payload, sizeof(payload),
             "{\"sub\":\"%s\",\"sid\":\"sess_bench\",\"exp\":%lld,"
             "\"nbf\":%lld,\"iat\":%lld}",
             sub, now + 3600, now - 10, now - 10);
    h = b64url((const unsigned char *)header, strlen(header));
    p = b64url((const unsigned char *)payload, strlen(payload));
    input = malloc(strlen(h) + strlen(p) + 2);
    sprintf(input, "%s.%s", h, p);
    if (EVP_DigestSignInit_ex(ctx, NULL, "SHA256", NULL, NULL, key, NULL) ==
            1 &&
        EVP_DigestSign(ctx, sig, &sig_len, (unsigned char *)input,
                       strlen(input)) == 1) {
        s = b64url(sig, sig_len);
        out = malloc(strlen(input) + strlen(s) + 32);
        sprintf(out, "Authorization: Bearer %s.%s", input, s);
        free(s);
    }
    free(h);
    free(p);
    free(input);

out:
    EVP_MD_CTX_free(ctx);
    EVP_PKEY_free(key);
    return out;
}

/* ---- one phase ------------------------------------------------------------
 */

static void *worker(void *arg)
{
    struct phase *phase = arg;
    CURL *curl = curl_easy_init();
    struct curl_slist *headers =
        phase->auth ? curl_slist_append(NULL, phase->auth) : NULL;
    int i;

    curl_easy_setopt(curl, CURLOPT_URL, phase->url);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT, 30L);
    while ((i = atomic_fetch_add(&phase->next, 1)) < phase->count) {
        double start = now_seconds();
        long status = 0;

        if (curl_easy_perform(curl) == CURLE_OK)
            curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
        phase->latencies[i] = now_seconds() - start;
        atomic_fetch_add(status == 200 ? &phase->ok : &phase->failed, 1);
    }
    curl_slist_free_all(headers);
    curl_easy_cleanup(curl);
    return NULL;
}

static int compare(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return (x > y) - (x < y);
}

static void run_phase(struct phase *phase, int connections)
{
    pthread_t threads[MAX_CONNECTIONS];
    double start, elapsed;
    int n = phase->count;

    phase->latencies = calloc((size_t)n, sizeof(double));
    start = now_seconds();
    for (int i = 0; i < connections; i++)
        pthread_create(&threads[i], NULL, worker, phase);
    for (int i = 0; i < connections; i++)
        pthread_join(threads[i], NULL);
    elapsed = now_seconds() - start;

    qsort(phase->latencies, (size_t)n, sizeof(double), compare);
    printf(
        "%-24s %7d requests %3d connections  %9.0f req/s  "
        "p50 %7.3f ms  p99 %7.3f ms  max %7.3f ms  ok %d failed %d\n",
        phase->name, n, connections, n / elapsed, phase->latencies[n / 2] * 1e3,
        phase->latencies[(int)(n * 0.99)] * 1e3, phase->latencies[n - 1] * 1e3,
        atomic_load(&phase->ok), atomic_load(&phase->failed));
    free(phase->latencies);
}

int main(int argc, char **argv)
{
    const char *url = DEFAULT_URL, *key = NULL, *sub = NULL;
    int count = DEFAULT_COUNT, connections = DEFAULT_CONNECTIONS;
    struct phase health = {.name = "GET /api/health"};
    struct phase user = {.name = "GET /api/v1/users/{id}"};
    char *auth;

    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--url") == 0)
            url = argv[i + 1];
        else if (strcmp(argv[i], "--key") == 0)
            key = argv[i + 1];
        else if (strcmp(argv[i], "--sub") == 0)
            sub = argv[i + 1];
        else if (strcmp(argv[i], "-n") == 0)
            count = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "-c") == 0)
            connections = atoi(argv[i + 1]);
    }
    if (!key || !sub || count < 1 || connections < 1 ||
        connections > MAX_CONNECTIONS) {
        fprintf(stderr, "usage: gateway_bench --key private.pem --sub "
                        "<clerk user id> [--url URL] [-n N] [-c 1..256]\n");
        return 2;
    }
    auth = mint_header(key, sub);
    if (!auth) {
        fprintf(stderr, "gateway_bench: cannot read the RSA key %s\n", key);
        return 1;
    }

    curl_global_init(CURL_GLOBAL_DEFAULT);
    health.count = user.count = count;
    snprintf(health.url, sizeof(health.url), "%s/api/health", url);
    snprintf(user.url, sizeof(user.url), "%s/api/v1/users/%s", url, sub);
    user.auth = auth;
    run_phase(&health, connections);
    run_phase(&user, connections);
    curl_global_cleanup();
    free(auth);
    return 0;
}
