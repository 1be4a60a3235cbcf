/*
 * gateway_bench - authenticated reads through a running api-gateway.
 *
 * Mints one Clerk-style RS256 session token for `sub` with the given RSA
 * private key (the gateway must run with the matching CLERK_JWT_KEY and
 * have a user row `sub` in its product), then runs two phases over K
 * keep-alive connections, one thread per connection: N x GET /api/health
 * (the product context and HTTP overhead, no token, no database) and
 * N x GET /api/v1/users/{sub} (token verification, then the caller's row:
 * from the gateway's caller cache when CALLER_CACHE_MS > 0, else one
 * batched lookup transaction with app.product per request). Prints
 * requests/s and p50/p99/max latency per phase. Asserts nothing.
 * bench/gateway-bench.sh sets up PostgreSQL, a broker and a gateway.
 *
 * The client shares the machine's cores with the gateway and PostgreSQL,
 * so its own CPU per request lowers what it measures. The default client
 * is therefore a minimal HTTP/1.1 keep-alive loop over a plain socket
 * (one request in flight per connection, Content-Length bodies, like the
 * gateway sends); `--client curl` uses libcurl instead, as earlier figures
 * did, for comparison. `--phase health|users` runs one phase only.
 *
 *   gateway_bench --key private.pem --sub user_bs_admin \
 *       [--url http://127.0.0.1:8011] [-n 20000] [-c 16] \
 *       [--client raw|curl] [--phase both|health|users]
 */
#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_URL         "http://127.0.0.1:8011"
#define DEFAULT_COUNT       20000
#define DEFAULT_CONNECTIONS 16
#define MAX_CONNECTIONS     256

struct phase {
    const char *name;
    char url[512];
    const char *auth; /* "Authorization: Bearer ..." or NULL */
    bool raw;         /* the socket client, not libcurl */
    struct sockaddr_in addr;
    char request[4096]; /* the raw client's request bytes */
    size_t request_len;
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

/* ---- the raw client -------------------------------------------------------
 */

static int raw_connect(const struct phase *phase)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;

    if (fd < 0)
        return -1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (connect(fd, (const struct sockaddr *)&phase->addr,
                sizeof(phase->addr)) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* Header value of `name` (with ": ") in a header block, or NULL. */
static const char *header_value(const char *head, const char *name)
{
    size_t len = strlen(name);

    for (const char *p = head; *p; p++)
        if (strncasecmp(p, name, len) == 0)
            return p + len;
    return NULL;
}

/*
 * Sends the request and reads one response; returns its status, 0 when the
 * connection failed. *keep says whether the connection may be reused.
 */
static long raw_call(const struct phase *phase, int fd, bool *keep)
{
    char buf[16384];
    size_t used = 0, need = 0;
    const char *end = NULL, *value;

    *keep = false;
    if (send(fd, phase->request, phase->request_len, MSG_NOSIGNAL) !=
        (ssize_t)phase->request_len)
        return 0;
    for (;;) {
        ssize_t n = recv(fd, buf + used, sizeof(buf) - 1 - used, 0);

        if (n <= 0)
            return 0;
        used += (size_t)n;
        buf[used] = '\0';
        if (!end && (end = strstr(buf, "\r\n\r\n")) != NULL) {
            value = header_value(buf, "\r\nContent-Length: ");
            need = (size_t)(end + 4 - buf) +
                   (value ? strtoul(value, NULL, 10) : 0);
        }
        if (end && used >= need)
            break;
        if (used + 1 >= sizeof(buf))
            return 0; /* bigger than the bench expects */
    }
    value = header_value(buf, "\r\nConnection: ");
    *keep = !value || strncasecmp(value, "close", 5) != 0;
    return strncmp(buf, "HTTP/1.1 ", 9) == 0 ? strtol(buf + 9, NULL, 10) : 0;
}

static void *raw_worker(void *arg)
{
    struct phase *phase = arg;
    int fd = -1;
    int i;

    while ((i = atomic_fetch_add(&phase->next, 1)) < phase->count) {
        double start = now_seconds();
        long status = 0;
        bool keep = false;

        if (fd < 0)
            fd = raw_connect(phase);
        if (fd >= 0)
            status = raw_call(phase, fd, &keep);
        if (!keep && fd >= 0) {
            close(fd);
            fd = -1;
        }
        phase->latencies[i] = now_seconds() - start;
        atomic_fetch_add(status == 200 ? &phase->ok : &phase->failed, 1);
    }
    if (fd >= 0)
        close(fd);
    return NULL;
}

/* Fills the raw client's address and request from the phase's URL
 * ("http://<numeric IPv4>:<port>/path"); false when it has another form. */
static bool raw_prepare(struct phase *phase)
{
    char host[64];
    unsigned port;
    int path_at = 0;
    int len;

    if (sscanf(phase->url, "http://%63[0-9.]:%u%n", host, &port, &path_at) !=
            2 ||
        port > 65535 || phase->url[path_at] != '/')
        return false;
    memset(&phase->addr, 0, sizeof(phase->addr));
    phase->addr.sin_family = AF_INET;
    phase->addr.sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, host, &phase->addr.sin_addr) != 1)
        return false;
    len = snprintf(phase->request, sizeof(phase->request),
                   "GET %s HTTP/1.1\r\nHost: %s:%u\r\n%s%s\r\n",
                   phase->url + path_at, host, port,
                   phase->auth ? phase->auth : "", phase->auth ? "\r\n" : "");
    if (len < 0 || (size_t)len >= sizeof(phase->request))
        return false;
    phase->request_len = (size_t)len;
    return true;
}

/* ---- the curl client ------------------------------------------------------
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
        pthread_create(&threads[i], NULL, phase->raw ? raw_worker : worker,
                       phase);
    for (int i = 0; i < connections; i++)
        pthread_join(threads[i], NULL);
    elapsed = now_seconds() - start;

    qsort(phase->latencies, (size_t)n, sizeof(double), compare);
    printf("%-24s %-4s %7d requests %3d connections  %9.0f req/s  "
           "p50 %7.3f ms  p99 %7.3f ms  max %7.3f ms  ok %d failed %d\n",
           phase->name, phase->raw ? "raw" : "curl", n, connections,
           n / elapsed, phase->latencies[n / 2] * 1e3,
           phase->latencies[(int)(n * 0.99)] * 1e3,
           phase->latencies[n - 1] * 1e3, atomic_load(&phase->ok),
           atomic_load(&phase->failed));
    free(phase->latencies);
}

int main(int argc, char **argv)
{
    const char *url = DEFAULT_URL, *key = NULL, *sub = NULL;
    int count = DEFAULT_COUNT, connections = DEFAULT_CONNECTIONS;
    struct phase health = {.name = "GET /api/health"};
    struct phase user = {.name = "GET /api/v1/users/{id}"};
    const char *client = "raw", *which = "both";
    bool raw;
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
        else if (strcmp(argv[i], "--client") == 0)
            client = argv[i + 1];
        else if (strcmp(argv[i], "--phase") == 0)
            which = argv[i + 1];
    }
    raw = strcmp(client, "raw") == 0;
    if (!key || !sub || count < 1 || connections < 1 ||
        connections > MAX_CONNECTIONS ||
        (!raw && strcmp(client, "curl") != 0) ||
        (strcmp(which, "both") != 0 && strcmp(which, "health") != 0 &&
         strcmp(which, "users") != 0)) {
        fprintf(stderr,
                "usage: gateway_bench --key private.pem --sub <clerk user id> "
                "[--url URL] [-n N] [-c 1..256] [--client raw|curl] "
                "[--phase both|health|users]\n");
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
    health.raw = user.raw = raw;
    if (raw && (!raw_prepare(&health) || !raw_prepare(&user))) {
        fprintf(stderr, "gateway_bench: the raw client needs a URL "
                        "http://<IPv4>:<port>\n");
        curl_global_cleanup();
        free(auth);
        return 2;
    }
    if (strcmp(which, "users") != 0)
        run_phase(&health, connections);
    if (strcmp(which, "health") != 0)
        run_phase(&user, connections);
    curl_global_cleanup();
    free(auth);
    return 0;
}
