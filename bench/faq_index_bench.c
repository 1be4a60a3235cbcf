/*
 * faq_index_bench - FAQ documents indexed per second by faq-indexer's apply
 * path with the hash embedder, on a real PostgreSQL.
 *
 * Runs the service's own code (faq_indexer_core: the rules, the chunker,
 * the embedder and the set-based SQL) on batches of generated documents,
 * one transaction per batch with app.product set, exactly as the consumer
 * pipeline calls it; only Kafka is left out (the pipeline's own cost is
 * measured by bench/projector-bench.sh). Three phases:
 *   new        N new documents (upserts), chunked, embedded and written;
 *   unchanged  the same N re-published: hashed and compared, not embedded;
 *   embed      chunk + embed alone, no database (the CPU share).
 * It prints figures and asserts nothing.
 *
 *   DATABASE_URL=<bs_service conninfo of a migrated, throwaway database> \
 *       faq_index_bench [-n 10000] [-b 500] [-d 256]
 *
 * e.g. scripts/pg-cluster.sh start /tmp/pg; . /tmp/pg/env;
 * DATABASE_URL=$BS_PG_ADMIN_URL build/tools/bsctl/bsctl migrate up;
 * DATABASE_URL="host=$PGHOST port=$PGPORT user=bs_service dbname=postgres"
 * build/bench/faq_index_bench. PRODUCT (default bestays) names the product.
 */
#include "indexer.h"

#include "bs/chunker.h"
#include "bs/db.h"
#include "bs/embedder.h"
#include "bs/error.h"
#include "bs/events.h"

#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char *const sentences[] = {
    "Guests may check in from two in the afternoon.",
    "The front desk keeps luggage until the room is ready.",
    "Breakfast is served on the terrace from seven to ten.",
    "Cancellations made a week ahead are refunded in full.",
    "Pets under ten kilograms are welcome in garden rooms.",
    "The deposit is returned within five working days after checkout.",
    "Parking is free for one car per booking.",
    "Late arrivals should call the property before eight in the evening.",
};

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A document of 3-6 paragraphs (about 500-1,100 bytes: 1-2 chunks). */
static char *make_content(long i)
{
    size_t size = 2048, n = 0;
    char *text = malloc(size);
    int paragraphs = 3 + (int)(i % 4);

    for (int p = 0; p < paragraphs && text; p++) {
        for (int s = 0; s < 3; s++)
            n += (size_t)snprintf(
                text + n, size - n, "%s ",
                sentences[(size_t)(i + p * 3 + s) %
                          (sizeof(sentences) / sizeof(sentences[0]))]);
        n +=
            (size_t)snprintf(text + n, size - n, "Reference %ld-%d.\n\n", i, p);
    }
    return text;
}

static void make_id(char out[37])
{
    unsigned char b[16];

    RAND_bytes(b, sizeof(b));
    snprintf(out, 37,
             "%02x%02x%02x%02x-%02x%02x-4%x%02x-8%x%02x-%02x%02x%02x%02x%02x"
             "%02x",
             b[0], b[1], b[2], b[3], b[4], b[5], b[6] & 15, b[7], b[8] & 3,
             b[9], b[10], b[11], b[12], b[13], b[14], b[15]);
}

/* One transaction per batch, like the pipeline. Returns seconds, or < 0. */
static double apply_all(struct indexer *indexer, PGconn *conn,
                        struct bs_faq_event *events, long count, long batch)
{
    struct bs_consumer_message *msgs = calloc((size_t)batch, sizeof(*msgs));
    void **decoded = calloc((size_t)batch, sizeof(*decoded));
    char errstr[512], reason[512];
    double start = now_s();

    for (long i = 0; i < batch && msgs; i++)
        msgs[i].topic = "bench.faq";
    for (long at = 0; at < count && msgs && decoded; at += batch) {
        long n = count - at < batch ? count - at : batch;
        enum bs_consumer_result result;

        for (long i = 0; i < n; i++) {
            decoded[i] = &events[at + i];
            msgs[i].offset = at + i;
        }
        if (bs_db_begin_product(conn, indexer->product, errstr,
                                sizeof(errstr)) != BS_OK) {
            fprintf(stderr, "begin: %s\n", errstr);
            return -1;
        }
        result = indexer_apply_batch(indexer, conn, decoded, msgs, (size_t)n,
                                     reason, sizeof(reason));
        if (result != BS_CONSUMER_APPLIED ||
            bs_db_exec(conn, "COMMIT", errstr, sizeof(errstr)) != BS_OK) {
            fprintf(stderr, "apply: %s %s\n", reason, errstr);
            return -1;
        }
    }
    free(msgs);
    free(decoded);
    return now_s() - start;
}

/* Chunk + embed every document, no database. Returns seconds, chunk count. */
static double embed_only(struct indexer *indexer, struct bs_faq_event *events,
                         long count, long *chunks)
{
    size_t dimension = bs_embedder_dimension(indexer->embedder);
    float *vectors = malloc(64 * dimension * sizeof(float));
    char errstr[256];
    double start = now_s();

    *chunks = 0;
    for (long i = 0; i < count && vectors; i++) {
        struct bs_chunk_list list = {0};
        const char *texts[64];
        size_t n = 0;

        if (bs_chunk_text(events[i].content, strlen(events[i].content), NULL,
                          &list, errstr, sizeof(errstr)) != BS_OK)
            break;
        for (; n < list.count && n < 64; n++)
            texts[n] = list.chunks[n].text;
        bs_embedder_embed(indexer->embedder, texts, n, vectors, errstr,
                          sizeof(errstr));
        *chunks += (long)n;
        bs_chunk_list_free(&list);
    }
    free(vectors);
    return now_s() - start;
}

static long scalar(PGconn *conn, const char *product, const char *sql)
{
    const char *params[1] = {product};
    PGresult *res = NULL;
    char errstr[256];
    long value = -1;

    if (bs_db_begin_product(conn, product, errstr, sizeof(errstr)) == BS_OK &&
        bs_db_query(conn, sql, 1, params, &res, errstr, sizeof(errstr)) ==
            BS_OK)
        value = strtol(PQgetvalue(res, 0, 0), NULL, 10);
    PQclear(res);
    bs_db_exec(conn, "ROLLBACK", errstr, sizeof(errstr));
    return value;
}

int main(int argc, char **argv)
{
    const char *conninfo = getenv("DATABASE_URL");
    const char *product = getenv("PRODUCT") ? getenv("PRODUCT") : "bestays";
    long count = 10000, batch = 500, dimension = 256, chunks = 0;
    struct indexer indexer;
    struct bs_embedder *embedder = NULL;
    struct bs_faq_event *events;
    char errstr[512];
    PGconn *conn;
    double t_new, t_same, t_embed;
    int opt;

    while ((opt = getopt(argc, argv, "n:b:d:")) != -1) {
        if (opt == 'n')
            count = atol(optarg);
        else if (opt == 'b')
            batch = atol(optarg);
        else if (opt == 'd')
            dimension = atol(optarg);
        else
            return 64;
    }
    if (!conninfo || count < 1 || batch < 1 || dimension < 1) {
        fprintf(stderr, "usage: DATABASE_URL=... faq_index_bench [-n N] "
                        "[-b BATCH] [-d DIM]\n");
        return 64;
    }
    conn = bs_db_connect(conninfo, "faq-index-bench", errstr, sizeof(errstr));
    if (!conn ||
        bs_embedder_new_hash((size_t)dimension, &embedder, errstr,
                             sizeof(errstr)) != BS_OK ||
        indexer_init(&indexer, product, embedder, NULL, errstr,
                     sizeof(errstr)) != BS_OK ||
        indexer_prepare(&indexer, conn, errstr, sizeof(errstr)) != BS_OK) {
        fprintf(stderr, "faq_index_bench: %s\n", errstr);
        return 1;
    }

    events = calloc((size_t)count, sizeof(*events));
    for (long i = 0; i < count && events; i++) {
        char id[37], title[64];

        make_id(id);
        snprintf(title, sizeof(title), "Question %ld about the stay?", i);
        events[i] = (struct bs_faq_event){
            .meta = {.product = (char *)product},
            .action = BS_FAQ_UPSERT,
            .document_id = strdup(id),
            .title = strdup(title),
            .content = make_content(i),
            .status = strdup("published"),
            .version = 1,
        };
    }

    t_new = apply_all(&indexer, conn, events, count, batch);
    for (long i = 0; i < count; i++)
        events[i].version = 2;
    t_same = apply_all(&indexer, conn, events, count, batch);
    t_embed = embed_only(&indexer, events, count, &chunks);
    if (t_new < 0 || t_same < 0)
        return 1;

    printf("faq_index_bench: %ld documents, batches of %ld, %s, chunker v%d\n",
           count, batch, bs_embedder_model(embedder), BS_CHUNKER_VERSION);
    printf("  embeddings rows in the product now: %ld\n",
           scalar(conn, product,
                  "SELECT count(*) FROM faq_embeddings WHERE product = $1"));
    printf("  new documents:        %8.0f documents/s (%.2f s, %.1f ms per "
           "batch)\n",
           (double)count / t_new, t_new,
           1000.0 * t_new * (double)batch / (double)count);
    printf("  unchanged re-publish: %8.0f documents/s (%.2f s)\n",
           (double)count / t_same, t_same);
    printf("  chunk + embed only:   %8.0f documents/s (%ld chunks, %.2f s)\n",
           (double)count / t_embed, chunks, t_embed);

    for (long i = 0; i < count; i++) {
        events[i].meta.product = NULL;
        bs_faq_event_clear(&events[i]);
    }
    free(events);
    indexer_free(&indexer);
    PQfinish(conn);
    return 0;
}
