/*
 * search_bench.c - FAQ search latency: the gateway's in-memory index versus
 * a cosine computed by PostgreSQL over REAL[].
 *
 *   search_bench [-n SEARCHES] [-q SQL_SEARCHES] [-t THREADS] [-d DIM]
 *   search_bench -s CHUNKS        (DATABASE_URL: a migrated database)
 *   search_bench -u URL [-n N] [-t CONNECTIONS]
 *
 * For 1,000 and 10,000 chunks (three chunks per document, random unit
 * vectors of DIM = 256 floats, a fixed seed):
 *   memory      faq_index_search() alone (what a search costs once the
 *               index is loaded), on THREADS threads at once (default 2,
 *               the target machine's cores), p50/p99/max per search, and
 *               the p50/p99/max of the CPU time the searching thread got
 *               (CLOCK_THREAD_CPUTIME_ID): a wall-clock tail far above the
 *               CPU tail is time spent waiting for a core, not work;
 *   embed+mem   the same plus embedding a short query with the hash
 *               embedder, as the gateway does per request;
 *   load        building the index from the rows' vectors as the
 *               gateway receives them (hex of array_send), as a reload
 *               after a generation bump does;
 *   sql         when DATABASE_URL is set (a throwaway PostgreSQL; see
 *               bench/search-bench.sh): the rows in a temporary table and
 *               the ranking done in SQL (dot product via unnest, best
 *               chunk per document, top 5), p50/p99/max per query.
 * -s seeds $PRODUCT (default bestays) with CHUNKS published chunks of
 * random vectors under the hash embedder's model and bumps its generation;
 * -u then times GET /api/v1/faqs/search through a gateway serving it (the
 * whole request: HTTP, the generation check in PostgreSQL, embedding, the
 * scan), N requests per keep-alive connection. bench/search-bench.sh runs
 * all three. Every run starts with the load average, since figures on a
 * shared machine mean little without it. Prints figures, asserts nothing.
 * Target (issue 5): p99 < 5 ms at 10,000 chunks on 2 cores.
 */
#include "faq_index.h"

#include "bs/embedder.h"
#include "bs/error.h"

#include <curl/curl.h>
#include <libpq-fe.h>
#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MODEL          "bench-d256"
#define CHUNKS_PER_DOC 3
#define K              5

struct options {
    size_t searches, sql_searches, threads, dimension;
    size_t seed;     /* -s: seed this many chunks, then exit */
    const char *url; /* -u: search through the gateway at this URL */
};

/* ---- figures ------------------------------------------------------------- */

static double clock_us(clockid_t clock)
{
    struct timespec t;

    clock_gettime(clock, &t);
    return (double)t.tv_sec * 1e6 + (double)t.tv_nsec / 1e3;
}

static double now_us(void)
{
    return clock_us(CLOCK_MONOTONIC);
}

/* CPU time the calling thread has been given so far. */
static double thread_cpu_us(void)
{
    return clock_us(CLOCK_THREAD_CPUTIME_ID);
}

/* The 1/5/15-minute load averages, or "?" where unknown. */
static void print_load(const char *when)
{
    double load[3];

    if (getloadavg(load, 3) == 3)
        printf("load average %s: %.2f %.2f %.2f\n", when, load[0], load[1],
               load[2]);
    else
        printf("load average %s: ?\n", when);
}

static int compare_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return (x > y) - (x < y);
}

/* Prints p50/p99/max of n latencies in microseconds (sorts them). */
static void report(const char *what, size_t chunks, double *us, size_t n)
{
    qsort(us, n, sizeof(double), compare_double);
    if (chunks == 0) {
        printf("%-10s n=%-6zu p50 %8.3f ms  p99 %8.3f ms  max %8.3f ms\n", what,
               n, us[n / 2] / 1e3, us[(n * 99) / 100] / 1e3, us[n - 1] / 1e3);
        return;
    }
    printf("%-10s %6zu chunks  n=%-6zu p50 %8.3f ms  p99 %8.3f ms  max "
           "%8.3f ms\n",
           what, chunks, n, us[n / 2] / 1e3, us[(n * 99) / 100] / 1e3,
           us[n - 1] / 1e3);
}

/* Prints p50/p99/max of n per-search thread CPU times in microseconds
 * (sorts them), the line under report()'s for the same searches. */
static void report_cpu(size_t chunks, double *us, size_t n)
{
    qsort(us, n, sizeof(double), compare_double);
    printf("%-10s %6zu chunks  n=%-6zu p50 %8.3f ms  p99 %8.3f ms  max "
           "%8.3f ms\n",
           "  cpu", chunks, n, us[n / 2] / 1e3, us[(n * 99) / 100] / 1e3,
           us[n - 1] / 1e3);
}

/* ---- data ---------------------------------------------------------------- */

/* xorshift64*: reproducible vectors without libc's rand() state. */
static double next_uniform(uint64_t *state)
{
    *state ^= *state >> 12;
    *state ^= *state << 25;
    *state ^= *state >> 27;
    return (double)((*state * 2685821657736338717ULL) >> 11) /
           9007199254740992.0;
}

static void random_vector(uint64_t *state, float *out, size_t dimension)
{
    for (size_t i = 0; i < dimension; i++)
        out[i] = (float)(next_uniform(state) * 2 - 1);
}

/* chunks * dimension random floats. */
static float *random_vectors(size_t chunks, size_t dimension, uint64_t seed)
{
    float *vectors = malloc(chunks * dimension * sizeof(float));
    uint64_t state = seed;

    for (size_t c = 0; vectors && c < chunks; c++)
        random_vector(&state, vectors + c * dimension, dimension);
    return vectors;
}

static struct faq_index *build(const float *vectors, size_t chunks,
                               size_t dimension)
{
    struct faq_index_builder *builder;
    struct faq_index *index = NULL;
    char id[64], title[64];

    if (faq_index_builder_new(MODEL, dimension, 1, &builder) != BS_OK)
        return NULL;
    for (size_t c = 0; c < chunks; c++) {
        if (c % CHUNKS_PER_DOC == 0) {
            snprintf(id, sizeof(id), "00000000-0000-7000-8000-%012zx",
                     c / CHUNKS_PER_DOC);
            snprintf(title, sizeof(title), "Question %zu", c / CHUNKS_PER_DOC);
            faq_index_builder_add_document(builder, id, title,
                                           c % 2 ? "rules" : NULL);
        }
        faq_index_builder_add_chunk(builder, (int)(c % CHUNKS_PER_DOC),
                                    "chunk text of about this length",
                                    vectors + c * dimension);
    }
    faq_index_builder_finish(builder, &index);
    return index;
}

/* ---- in memory ----------------------------------------------------------- */

struct worker {
    const struct faq_index *index;
    struct bs_embedder *embedder; /* NULL: random query vectors */
    size_t dimension, searches;
    uint64_t seed;
    double *us, *cpu_us; /* wall-clock and thread CPU time per search */
};

static const char *const questions[] = {
    "are pets allowed in the villa", "when is checkout",
    "is there free parking", "can I pay the deposit by card",
    "how far is the beach"};

static void *worker_run(void *arg)
{
    struct worker *w = arg;
    float *query = malloc(w->dimension * sizeof(float));
    struct faq_hit hits[K];
    uint64_t state = w->seed;
    size_t count;
    char errstr[128];

    for (size_t i = 0; query && i < w->searches; i++) {
        double start, cpu_start;

        if (!w->embedder)
            random_vector(&state, query, w->dimension);
        cpu_start = thread_cpu_us();
        start = now_us();
        if (w->embedder) {
            const char *q = questions[i % 5];

            bs_embedder_embed(w->embedder, &q, 1, query, errstr,
                              sizeof(errstr));
        }
        faq_index_search(w->index,
                         w->embedder ? bs_embedder_model(w->embedder) : MODEL,
                         query, w->dimension, NULL, K, hits, &count);
        w->us[i] = now_us() - start;
        w->cpu_us[i] = thread_cpu_us() - cpu_start;
    }
    free(query);
    return NULL;
}

/* Runs `threads` workers at once; all latencies are reported together. */
static void bench_memory(const char *what, const struct faq_index *index,
                         struct bs_embedder *embedder,
                         const struct options *opt)
{
    size_t total = opt->searches * opt->threads;
    double *us = calloc(total, sizeof(double));
    double *cpu_us = calloc(total, sizeof(double));
    struct worker *workers = calloc(opt->threads, sizeof(*workers));
    pthread_t *tids = calloc(opt->threads, sizeof(*tids));
    bool ready = us && cpu_us && workers && tids;

    for (size_t t = 0; ready && t < opt->threads; t++) {
        workers[t] = (struct worker){
            .index = index,
            .embedder = embedder,
            .dimension = opt->dimension,
            .searches = opt->searches,
            .seed = 42 + t,
            .us = us + t * opt->searches,
            .cpu_us = cpu_us + t * opt->searches,
        };
        pthread_create(&tids[t], NULL, worker_run, &workers[t]);
    }
    for (size_t t = 0; ready && t < opt->threads; t++)
        pthread_join(tids[t], NULL);
    if (ready) {
        report(what, faq_index_chunk_count(index), us, total);
        report_cpu(faq_index_chunk_count(index), cpu_us, total);
    }
    free(us);
    free(cpu_us);
    free(workers);
    free(tids);
}

/* ---- SQL ----------------------------------------------------------------- */

/* "{v,v,...}" of a vector into buf (dimension * 16 bytes are enough). */
static void vector_text(const float *v, size_t dimension, char *buf)
{
    size_t len = 0;

    buf[len++] = '{';
    for (size_t i = 0; i < dimension; i++)
        len += (size_t)sprintf(buf + len, "%s%.7g", i ? "," : "", (double)v[i]);
    buf[len++] = '}';
    buf[len] = '\0';
}

/* encode(array_send(v), 'hex') of a vector into buf (40 + 16 * dimension
 * bytes and a NUL). */
static void vector_hex(const float *v, size_t dimension, char *buf)
{
    size_t len = (size_t)sprintf(buf, "%08x%08x%08x%08x%08x", 1u, 0u, 700u,
                                 (unsigned)dimension, 1u);

    for (size_t i = 0; i < dimension; i++) {
        uint32_t bits;

        memcpy(&bits, &v[i], sizeof(bits));
        len += (size_t)sprintf(buf + len, "%08x%08x", 4u, (unsigned)bits);
    }
}

/* Index load cost: decode the rows' vectors as search.c does (the hex of
 * array_send; the texts are made first and not timed: libpq hands them
 * over), and build. */
static void bench_load(const float *vectors, size_t chunks, size_t dimension)
{
    size_t stride = 40 + dimension * 16 + 1;
    char *texts = malloc(chunks * stride);
    float *parsed = malloc(chunks * dimension * sizeof(float));
    double start, us;
    struct faq_index *index;

    if (!texts || !parsed)
        goto out;
    for (size_t c = 0; c < chunks; c++)
        vector_hex(vectors + c * dimension, dimension, texts + c * stride);
    start = now_us();
    for (size_t c = 0; c < chunks; c++)
        faq_vector_from_hex(texts + c * stride, parsed + c * dimension,
                            dimension);
    index = build(parsed, chunks, dimension);
    us = now_us() - start;
    printf("%-10s %6zu chunks  %.1f ms (decode array_send hex + build, "
           "without the query)\n",
           "load", chunks, us / 1e3);
    faq_index_unref(index);
out:
    free(texts);
    free(parsed);
}

/* COPYs the vectors into a temporary table; BS_OK or BS_EDB. */
static int sql_fill(PGconn *conn, const float *vectors, size_t chunks,
                    size_t dimension)
{
    char *line = malloc(dimension * 16 + 64);
    PGresult *res;
    int result = BS_OK;

    res = PQexec(conn, "DROP TABLE IF EXISTS bench_chunks; CREATE TEMP TABLE "
                       "bench_chunks (doc INT NOT NULL, chunk INT NOT NULL, "
                       "embedding REAL[] NOT NULL)");
    PQclear(res);
    res = PQexec(conn, "COPY bench_chunks FROM STDIN");
    if (PQresultStatus(res) != PGRES_COPY_IN || !line)
        result = BS_EDB;
    PQclear(res);
    for (size_t c = 0; result == BS_OK && c < chunks; c++) {
        int len =
            sprintf(line, "%zu\t%zu\t", c / CHUNKS_PER_DOC, c % CHUNKS_PER_DOC);

        vector_text(vectors + c * dimension, dimension, line + len);
        strcat(line, "\n");
        if (PQputCopyData(conn, line, (int)strlen(line)) != 1)
            result = BS_EDB;
    }
    if (PQputCopyEnd(conn, NULL) != 1)
        result = BS_EDB;
    res = PQgetResult(conn);
    if (PQresultStatus(res) != PGRES_COMMAND_OK)
        result = BS_EDB;
    PQclear(res);
    while ((res = PQgetResult(conn)))
        PQclear(res);
    res = PQexec(conn, "ANALYZE bench_chunks");
    PQclear(res);
    free(line);
    return result;
}

/* The best chunk per document, top K, computed by PostgreSQL (vectors are
 * unit length here, so the dot product is the cosine). */
#define SQL_SEARCH                                                             \
    "SELECT doc, max(score) AS best FROM (SELECT doc, (SELECT sum(a * b) "     \
    "FROM unnest(embedding, $1::real[]) AS t(a, b)) AS score "                 \
    "FROM bench_chunks) s GROUP BY doc ORDER BY best DESC LIMIT 5"

static void bench_sql(PGconn *conn, const float *vectors, size_t chunks,
                      const struct options *opt)
{
    char *text = malloc(opt->dimension * 16 + 3);
    double *us = calloc(opt->sql_searches, sizeof(double));
    float *query = malloc(opt->dimension * sizeof(float));
    uint64_t state = 7;
    size_t done = 0;

    if (!text || !us || !query ||
        sql_fill(conn, vectors, chunks, opt->dimension) != BS_OK) {
        fprintf(stderr, "search_bench: SQL set-up failed: %s",
                PQerrorMessage(conn));
        goto out;
    }
    for (size_t i = 0; i < opt->sql_searches; i++) {
        const char *params[1] = {text};
        double start;
        PGresult *res;

        random_vector(&state, query, opt->dimension);
        vector_text(query, opt->dimension, text);
        start = now_us();
        res = PQexecParams(conn, SQL_SEARCH, 1, NULL, params, NULL, NULL, 0);
        us[done] = now_us() - start;
        if (PQresultStatus(res) == PGRES_TUPLES_OK)
            done++;
        else
            fprintf(stderr, "search_bench: %s", PQerrorMessage(conn));
        PQclear(res);
    }
    if (done)
        report("sql", chunks, us, done);
out:
    free(text);
    free(us);
    free(query);
}

/* ---- main ---------------------------------------------------------------- */

static void quiet(void *arg, const char *message)
{
    (void)arg;
    (void)message;
}

/* embed+mem: the same vectors under the hash embedder's model name, and
 * each search embeds a short question first. */
static void bench_embedded(const float *vectors, size_t chunks,
                           struct bs_embedder *embedder,
                           const struct options *opt)
{
    struct faq_index_builder *b;
    struct faq_index *named = NULL;
    size_t dim = opt->dimension;

    if (faq_index_builder_new(bs_embedder_model(embedder), dim, 1, &b) != BS_OK)
        return;
    for (size_t c = 0; c < chunks; c++) {
        if (c % CHUNKS_PER_DOC == 0)
            faq_index_builder_add_document(b, "doc", "title", NULL);
        faq_index_builder_add_chunk(b, 0, "chunk", vectors + c * dim);
    }
    faq_index_builder_finish(b, &named);
    if (named)
        bench_memory("embed+mem", named, embedder, opt);
    faq_index_unref(named);
}

/* ---- seeding a product for the HTTP phase ------------------------------- */

/* COPYs rows into `table` from lines made by make(i, line). */
static int copy_rows(PGconn *conn, const char *copy_sql, size_t rows,
                     void (*make)(size_t, char *, const void *),
                     const void *ctx, size_t line_size)
{
    char *line = malloc(line_size);
    PGresult *res = PQexec(conn, copy_sql);
    int result = PQresultStatus(res) == PGRES_COPY_IN && line ? BS_OK : BS_EDB;

    PQclear(res);
    for (size_t i = 0; result == BS_OK && i < rows; i++) {
        make(i, line, ctx);
        if (PQputCopyData(conn, line, (int)strlen(line)) != 1)
            result = BS_EDB;
    }
    if (PQputCopyEnd(conn, NULL) != 1)
        result = BS_EDB;
    while ((res = PQgetResult(conn))) {
        if (PQresultStatus(res) != PGRES_COMMAND_OK)
            result = BS_EDB;
        PQclear(res);
    }
    free(line);
    return result;
}

struct seed {
    const char *product, *model;
    const float *vectors;
    size_t dimension;
};

static void doc_id(size_t doc, char *out)
{
    sprintf(out, "00000000-0000-7000-8000-%012zx", doc);
}

static void make_document(size_t doc, char *line, const void *ctx)
{
    const struct seed *seed = ctx;
    char id[64];

    doc_id(doc, id);
    sprintf(line, "%s\t%s\tQuestion %zu?\tAnswer %zu.\tpublished\n",
            seed->product, id, doc, doc);
}

static void make_chunk(size_t chunk, char *line, const void *ctx)
{
    const struct seed *seed = ctx;
    char id[64];
    int len;

    doc_id(chunk / CHUNKS_PER_DOC, id);
    len = sprintf(line, "%s\t%s\t%zu\tchunk %zu\t%s\t", seed->product, id,
                  chunk % CHUNKS_PER_DOC, chunk, seed->model);
    vector_text(seed->vectors + chunk * seed->dimension, seed->dimension,
                line + len);
    strcat(line, "\n");
}

/*
 * Writes `chunks` published chunks of random vectors for $PRODUCT (default
 * bestays) under the hash embedder's model name, as faq-indexer would, and
 * bumps faq_index_state. DATABASE_URL must be an owner or superuser of a
 * migrated database. Returns 0 or 1.
 */
static int seed_product(PGconn *conn, size_t chunks, size_t dimension,
                        const char *model)
{
    const char *product = getenv("PRODUCT") ? getenv("PRODUCT") : "bestays";
    float *vectors = random_vectors(chunks, dimension, 99);
    struct seed seed = {product, model, vectors, dimension};
    const char *params[] = {product, model};
    PGresult *res;
    int result = vectors ? BS_OK : BS_ENOMEM;

    if (result == BS_OK)
        result = copy_rows(conn,
                           "COPY faq_documents (product, id, title, content, "
                           "status) FROM STDIN",
                           (chunks + CHUNKS_PER_DOC - 1) / CHUNKS_PER_DOC,
                           make_document, &seed, 256);
    if (result == BS_OK)
        result = copy_rows(conn,
                           "COPY faq_embeddings (product, document_id, "
                           "chunk_index, chunk_text, model, embedding) "
                           "FROM STDIN",
                           chunks, make_chunk, &seed, dimension * 16 + 256);
    if (result == BS_OK) {
        res = PQexecParams(conn,
                           "INSERT INTO faq_index_state (product, generation, "
                           "model) VALUES ($1, 1, $2) ON CONFLICT (product) DO "
                           "UPDATE SET generation = faq_index_state.generation "
                           "+ 1, model = $2",
                           2, NULL, params, NULL, NULL, 0);
        if (PQresultStatus(res) != PGRES_COMMAND_OK)
            result = BS_EDB;
        PQclear(res);
    }
    free(vectors);
    if (result != BS_OK) {
        fprintf(stderr, "search_bench: seeding failed: %s",
                PQerrorMessage(conn));
        return 1;
    }
    printf("seeded %zu chunks of %s for %s\n", chunks, model, product);
    return 0;
}

/* ---- through a running gateway --------------------------------------------
 */

static size_t discard(char *data, size_t size, size_t count, void *ctx)
{
    (void)data;
    (void)ctx;
    return size * count;
}

struct http_worker {
    const char *base;
    size_t requests, failed;
    double *us;
};

/* GET /api/v1/faqs/search over one keep-alive connection. */
static void *http_run(void *arg)
{
    struct http_worker *w = arg;
    CURL *curl = curl_easy_init();
    char url[1024], *q;

    for (size_t i = 0; curl && i < w->requests; i++) {
        double start = now_us();
        long status = 0;

        q = curl_easy_escape(curl, questions[i % 5], 0);
        snprintf(url, sizeof(url), "%s/api/v1/faqs/search?q=%s&k=5", w->base,
                 q ? q : "x");
        curl_free(q);
        curl_easy_setopt(curl, CURLOPT_URL, url);
        curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, discard);
        if (curl_easy_perform(curl) != CURLE_OK ||
            curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status) !=
                CURLE_OK ||
            status != 200)
            w->failed++;
        w->us[i] = now_us() - start;
    }
    curl_easy_cleanup(curl);
    return NULL;
}

/* -n requests on each of -t connections at once against `base`. */
static int bench_http(const char *base, const struct options *opt)
{
    size_t total = opt->searches * opt->threads, failed = 0;
    double *us = calloc(total, sizeof(double));
    struct http_worker *workers = calloc(opt->threads, sizeof(*workers));
    pthread_t *tids = calloc(opt->threads, sizeof(*tids));
    double start = now_us(), elapsed;

    if (!us || !workers || !tids)
        return 1;
    print_load("at start");
    for (size_t t = 0; t < opt->threads; t++) {
        workers[t] = (struct http_worker){base, opt->searches, 0,
                                          us + t * opt->searches};
        pthread_create(&tids[t], NULL, http_run, &workers[t]);
    }
    for (size_t t = 0; t < opt->threads; t++) {
        pthread_join(tids[t], NULL);
        failed += workers[t].failed;
    }
    elapsed = now_us() - start;
    printf("http: GET /api/v1/faqs/search over %zu keep-alive connection(s): "
           "%.0f req/s, %zu not 200\n",
           opt->threads, (double)total / (elapsed / 1e6), failed);
    report("http", 0, us, total);
    print_load("at end");
    free(us);
    free(workers);
    free(tids);
    return failed ? 1 : 0;
}

static int parse_options(int argc, char **argv, struct options *opt)
{
    int c;

    *opt = (struct options){2000, 50, 2, 256, 0, NULL};
    while ((c = getopt(argc, argv, "n:q:t:d:s:u:")) != -1) {
        long value = atol(optarg ? optarg : "0");

        if (c == 'u') {
            opt->url = optarg;
            continue;
        }
        if (value <= 0)
            return -1;
        if (c == 'n')
            opt->searches = (size_t)value;
        else if (c == 'q')
            opt->sql_searches = (size_t)value;
        else if (c == 't')
            opt->threads = (size_t)value;
        else if (c == 'd')
            opt->dimension = (size_t)value;
        else if (c == 's')
            opt->seed = (size_t)value;
        else
            return -1;
    }
    return 0;
}

/* The in-memory, load and SQL figures at 1,000 and 10,000 chunks. */
static void bench_local(const struct options *opt, struct bs_embedder *embedder,
                        PGconn *conn)
{
    static const size_t sizes[] = {1000, 10000};

    print_load("at start");
    printf("dimension %zu, %zu chunks per document, k %d, %zu thread(s) "
           "searching at once, %ld CPUs online\n",
           opt->dimension, (size_t)CHUNKS_PER_DOC, K, opt->threads,
           sysconf(_SC_NPROCESSORS_ONLN));
    for (size_t s = 0; s < 2; s++) {
        float *vectors = random_vectors(sizes[s], opt->dimension, 1 + s);
        struct faq_index *index =
            vectors ? build(vectors, sizes[s], opt->dimension) : NULL;

        if (!index) {
            fprintf(stderr, "search_bench: out of memory\n");
            free(vectors);
            break;
        }
        bench_memory("memory", index, NULL, opt);
        bench_embedded(vectors, sizes[s], embedder, opt);
        bench_load(vectors, sizes[s], opt->dimension);
        if (conn)
            bench_sql(conn, vectors, sizes[s], opt);
        faq_index_unref(index);
        free(vectors);
    }
    if (!conn)
        printf("sql: skipped (set DATABASE_URL, or run "
               "bench/search-bench.sh)\n");
    print_load("at end");
}

int main(int argc, char **argv)
{
    const char *conninfo = getenv("DATABASE_URL");
    struct bs_embedder *embedder = NULL;
    PGconn *conn = NULL;
    struct options opt;
    char errstr[256];
    int exit_code = 0;

    if (parse_options(argc, argv, &opt) != 0) {
        fprintf(stderr, "usage: search_bench [-n SEARCHES] [-q SQL_SEARCHES] "
                        "[-t THREADS] [-d DIM] [-s SEED_CHUNKS | -u URL]\n");
        return 2;
    }
    if (opt.url) {
        curl_global_init(CURL_GLOBAL_DEFAULT);
        exit_code = bench_http(opt.url, &opt);
        curl_global_cleanup();
        return exit_code;
    }
    if (bs_embedder_new_hash(opt.dimension, &embedder, errstr,
                             sizeof(errstr)) != BS_OK) {
        fprintf(stderr, "search_bench: %s\n", errstr);
        return 1;
    }
    if (conninfo && conninfo[0]) {
        conn = PQconnectdb(conninfo);
        PQsetNoticeProcessor(conn, quiet, NULL);
        if (PQstatus(conn) != CONNECTION_OK) {
            fprintf(stderr, "search_bench: %s", PQerrorMessage(conn));
            PQfinish(conn);
            conn = NULL;
        }
    }
    if (opt.seed)
        exit_code = conn ? seed_product(conn, opt.seed, opt.dimension,
                                        bs_embedder_model(embedder))
                         : 1;
    else
        bench_local(&opt, embedder, conn);
    PQfinish(conn);
    bs_embedder_free(embedder);
    return exit_code;
}
