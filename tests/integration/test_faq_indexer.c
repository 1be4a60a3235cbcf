/*
 * test_faq_indexer.c - faq-indexer end to end: FaqDocumentEvents published
 * the way the gateway publishes them (bs_publisher), applied by the real
 * faq-indexer binaries (one per product) on the fixtures' PostgreSQL and
 * broker, searched through a real api-gateway, re-indexed by the real
 * bsctl.
 *
 * Both products run side by side with the SAME titles. The broker's topics
 * are shared with other tests (and a fresh database replays them from the
 * beginning), so every document id of this run starts with a run tag and
 * every assertion is about this run's documents; a run-unique word in the
 * texts makes this run's documents the best matches of a search.
 *
 * Order matters: the indexers start with EMBEDDINGS_DIM=128; the re-index
 * test restarts bestays' with 256; the crash test runs on that one. The
 * embedder tests at the end run indexers of their own (EMBEDDER=openai,
 * a fake endpoint from tests/support/embed_server.h), each on a database
 * of its own.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <openssl/rand.h>

#include "broker_harness.h"
#include "embed_server.h"
#include "harness.h"
#include "pg_harness.h"
#include "service_harness.h"
#include "session_token.h"

#include "bs/codec.h"
#include "bs/consumer.h"
#include "bs/embedder.h"
#include "bs/error.h"
#include "bs/events.h"
#include "bs/kafka.h"
#include "bs/publisher.h"

#define DEADLINE_MS  90000
#define CRASH_DOCS   1500
#define REINDEX_DOCS 40
#define PRODUCTS     2

extern char **environ;

static const char *const products[PRODUCTS] = {"bestays", "realestate"};

static struct bs_pg_env pg;
static char db[64];
static char *bootstrap;
static PGconn *owner; /* superuser: sees every product */
static struct bs_codec *codec;
static struct bs_publisher *publishers[PRODUCTS];
static struct bs_svc indexers[PRODUCTS];
static struct bs_svc gateways[PRODUCTS];
static char run_tag[9]; /* 8 hex digits: every document id starts so */
static char word[16];   /* a word no other run's texts contain */
static char group[PRODUCTS][128];
static char model128[64], model256[64];
static long long doc_counter;

/* ---- small helpers ---------------------------------------------------- */

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

    nanosleep(&ts, NULL);
}

/* A fresh document id of this run: <run_tag>-xxxx-4xxx-8xxx-<counter>. */
static void new_doc_id(char out[37])
{
    unsigned char b[4];

    RAND_bytes(b, sizeof(b));
    snprintf(out, 37, "%s-%02x%02x-4%03x-8%03x-%012llx", run_tag, b[0], b[1],
             (unsigned)b[2], (unsigned)b[3], ++doc_counter);
}

static long long countf(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));
static long long countf(const char *fmt, ...)
{
    char sql[2048];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(sql, sizeof(sql), fmt, ap);
    va_end(ap);
    return bs_pg_count(owner, sql);
}

static char *textf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *textf(const char *fmt, ...)
{
    char sql[2048];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(sql, sizeof(sql), fmt, ap);
    va_end(ap);
    return bs_pg_text(owner, sql);
}

/* Polls a count until it equals `expected` (or the deadline passes);
 * returns the last value. */
static long long wait_count(long long expected, const char *sql)
{
    long long value = -1;

    for (int waited = 0; waited < DEADLINE_MS; waited += 100) {
        value = bs_pg_count(owner, sql);
        if (value == expected)
            break;
        sleep_ms(100);
    }
    return value;
}

static int product_index(const char *product)
{
    return strcmp(product, products[0]) == 0 ? 0 : 1;
}

/* ---- events ------------------------------------------------------------- */

struct faq {
    enum bs_faq_action action;
    const char *id;
    const char *category;
    const char *title;
    const char *content;
    const char *status;
    int64_t version;
};

/* Publishes on <product>.faq as the gateway does: bs_publisher, key = id. */
static int publish(const char *product, const struct faq *f)
{
    struct bs_faq_event e = {0};
    char event_id[64], topic[64], errstr[256];
    unsigned char *bytes = NULL;
    size_t len = 0;
    int result;

    e.meta.event_id =
        (char *)bs_broker_unique_name("faq-ev", event_id, sizeof(event_id));
    e.meta.product = (char *)product;
    e.meta.occurred_at = 1700000000000;
    e.meta.source = "test";
    e.action = f->action;
    e.document_id = (char *)f->id;
    e.category = (char *)f->category;
    e.title = (char *)f->title;
    e.content = (char *)f->content;
    e.status = (char *)f->status;
    e.version = f->version;
    e.actor_id = "user_test";
    snprintf(topic, sizeof(topic), "%s.faq", product);
    result =
        bs_faq_event_encode(codec, &e, &bytes, &len, errstr, sizeof(errstr));
    if (result == BS_OK)
        result = bs_publisher_send_sync(publishers[product_index(product)],
                                        topic, f->id, strlen(f->id), bytes, len,
                                        NULL, 0, 10000, errstr, sizeof(errstr));
    if (result != BS_OK)
        fprintf(stderr, "publish: %s\n", errstr);
    free(bytes);
    return result;
}

static int upsert(const char *product, const char *id, const char *title,
                  const char *content, int64_t version)
{
    struct faq f = {BS_FAQ_UPSERT, id,          "general", title,
                    content,       "published", version};

    return publish(product, &f);
}

/* Waits until this document's row has `version` (and is embedded). */
static long long wait_version(const char *product, const char *id,
                              int64_t version)
{
    char sql[512];

    snprintf(sql, sizeof(sql),
             "SELECT count(*) FROM faq_documents WHERE product = '%s'"
             " AND id = '%s' AND version = %" PRId64
             " AND embedded_at IS NOT NULL",
             product, id, version);
    return wait_count(1, sql);
}

/* ---- processes ---------------------------------------------------------- */

static void service_conninfo(char *buf, size_t size)
{
    bs_pg_conninfo(&pg, db, BS_PG_SERVICE_ROLE, buf, size);
}

static int indexer_start(int p, int dimension)
{
    char v_product[64], v_db[600], v_kafka[600], v_group[200], v_dim[64];
    char conninfo[512], tag[64];
    const char *env[] = {v_product,        v_db,  v_kafka,
                         v_group,          v_dim, "BATCH_SIZE=200",
                         "LOG_LEVEL=info", NULL};

    service_conninfo(conninfo, sizeof(conninfo));
    snprintf(v_product, sizeof(v_product), "PRODUCT=%s", products[p]);
    snprintf(v_db, sizeof(v_db), "DATABASE_URL=%s", conninfo);
    snprintf(v_kafka, sizeof(v_kafka), "KAFKA_BOOTSTRAP_SERVERS=%s", bootstrap);
    snprintf(v_group, sizeof(v_group), "CONSUMER_GROUP=%s", group[p]);
    snprintf(v_dim, sizeof(v_dim), "EMBEDDINGS_DIM=%d", dimension);
    snprintf(tag, sizeof(tag), "faq-indexer-%s-%d", products[p], (int)getpid());
    return bs_svc_start(&indexers[p], "services/faq-indexer/faq-indexer", tag,
                        env);
}

static int gateway_start(int p)
{
    char v_product[64], v_db[600], v_kafka[600], v_key[4096];
    char conninfo[512], tag[64], *pem;
    EVP_PKEY *key = EVP_RSA_gen(2048);
    const char *env[] = {v_product,
                         v_db,
                         v_kafka,
                         v_key,
                         "EMBEDDINGS_DIM=128",
                         "CORS_ALLOWED_ORIGINS=http://localhost:3000",
                         "LOG_LEVEL=info",
                         NULL};
    int result;

    pem = bs_test_public_pem(key);
    service_conninfo(conninfo, sizeof(conninfo));
    snprintf(v_product, sizeof(v_product), "PRODUCT=%s", products[p]);
    snprintf(v_db, sizeof(v_db), "DATABASE_URL=%s", conninfo);
    snprintf(v_kafka, sizeof(v_kafka), "KAFKA_BOOTSTRAP_SERVERS=%s", bootstrap);
    snprintf(v_key, sizeof(v_key), "CLERK_JWT_KEY=%s", pem ? pem : "");
    snprintf(tag, sizeof(tag), "api-gateway-faq-%s-%d", products[p],
             (int)getpid());
    result = bs_svc_start(&gateways[p], "services/api-gateway/api-gateway", tag,
                          env);
    free(pem);
    EVP_PKEY_free(key);
    return result;
}

/* Runs bsctl (the owner's DATABASE_URL) with args; output into *output. */
static int bsctl(const char *const args[], const char *dimension, char **output)
{
    char binary[512], conninfo[512], v_db[600], v_kafka[600], v_dim[64];
    const char *argv[16] = {binary};
    const char *env[] = {v_db, v_kafka, v_dim, NULL};
    size_t n = 1;

    bs_test_build_path("tools/bsctl/bsctl", binary, sizeof(binary));
    bs_pg_conninfo(&pg, db, NULL, conninfo, sizeof(conninfo));
    snprintf(v_db, sizeof(v_db), "DATABASE_URL=%s", conninfo);
    snprintf(v_kafka, sizeof(v_kafka), "KAFKA_BOOTSTRAP_SERVERS=%s", bootstrap);
    snprintf(v_dim, sizeof(v_dim), "EMBEDDINGS_DIM=%s", dimension);
    for (size_t i = 0; args[i] && n < 15; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    return bs_test_run(argv, env, output);
}

/* ---- suite -------------------------------------------------------------- */

static int model_name(size_t dimension, char *out, size_t size)
{
    struct bs_embedder *embedder = NULL;
    char errstr[256];

    if (bs_embedder_new_hash(dimension, &embedder, errstr, sizeof(errstr)) !=
        BS_OK)
        return -1;
    snprintf(out, size, "%s", bs_embedder_model(embedder));
    bs_embedder_free(embedder);
    return 0;
}

static int suite_init(void)
{
    const char *const migrate[] = {"up", NULL};
    char errstr[256], name[128];
    unsigned char b[6];

    RAND_bytes(b, sizeof(b));
    snprintf(run_tag, sizeof(run_tag), "%02x%02x%02x%02x", b[0], b[1], b[2],
             b[3]);
    snprintf(word, sizeof(word), "zq%02x%02xk", b[4], b[5]);
    for (int p = 0; p < PRODUCTS; p++)
        snprintf(group[p], sizeof(group[p]), "%s",
                 bs_broker_unique_name("faq-indexer-test", name, sizeof(name)));
    bootstrap = bs_broker_bootstrap();
    if (!bootstrap || bs_pg_env_load(&pg) != 0 ||
        bs_pg_create_database(&pg, "faqidx", db, sizeof(db)) != 0 ||
        bs_pg_migrate(&pg, db, migrate, NULL) != 0)
        return -1;
    owner = bs_pg_connect(&pg, db, NULL);
    if (!owner ||
        bs_pg_exec(owner,
                   "INSERT INTO faq_categories (product, slug, name) VALUES"
                   " ('bestays', 'general', 'General'),"
                   " ('realestate', 'general', 'General'),"
                   " ('bestays', 'stays', 'Stays')",
                   NULL) != 0)
        return -1;
    if (bs_codec_new_builtin(&codec, errstr, sizeof(errstr)) != BS_OK ||
        model_name(128, model128, sizeof(model128)) != 0 ||
        model_name(256, model256, sizeof(model256)) != 0)
        return -1;
    for (int p = 0; p < PRODUCTS; p++) {
        if (bs_publisher_new(&publishers[p], bootstrap, "faq-indexer-test",
                             products[p], NULL, errstr,
                             sizeof(errstr)) != BS_OK) {
            fprintf(stderr, "publisher: %s\n", errstr);
            return -1;
        }
        if (indexer_start(p, 128) != 0) {
            fprintf(stderr, "faq-indexer %s did not start\n", products[p]);
            return -1;
        }
    }
    return 0;
}

static int suite_cleanup(void)
{
    for (int p = 0; p < PRODUCTS; p++) {
        if (indexers[p].pid > 0)
            bs_svc_stop(&indexers[p], SIGTERM);
        if (gateways[p].pid > 0)
            bs_svc_stop(&gateways[p], SIGTERM);
        bs_publisher_free(publishers[p]);
    }
    bs_codec_free(codec);
    if (owner)
        PQfinish(owner);
    if (db[0])
        bs_pg_drop_database(&pg, db);
    free(bootstrap);
    return 0;
}

/* ---- search through the gateway ------------------------------------------ */

/* GET /api/v1/faqs/search on product p's gateway; the results array (the
 * caller json_decref()s the returned root) or NULL. */
static json_t *search(int p, const char *query, long *status)
{
    char path[512], *body = NULL;
    json_t *root;

    snprintf(path, sizeof(path), "/api/v1/faqs/search?q=%s&k=20", query);
    *status = bs_svc_http(&gateways[p], "GET", path, NULL, NULL, 0, &body);
    root = body ? json_loads(body, 0, NULL) : NULL;
    free(body);
    return root;
}

static bool results_contain(json_t *root, const char *id)
{
    json_t *results = json_object_get(root, "results"), *r;
    size_t i;

    json_array_foreach(results, i, r)
    {
        const char *doc = json_string_value(json_object_get(r, "document_id"));

        if (doc && strcmp(doc, id) == 0)
            return true;
    }
    return false;
}

/* Polls the search until `id` is (present) or is not (!present) among the
 * results; returns the last answer (caller frees). */
static json_t *wait_search(int p, const char *query, const char *id,
                           bool present)
{
    json_t *root = NULL;
    long status = 0;

    for (int waited = 0; waited < DEADLINE_MS; waited += 200) {
        json_decref(root);
        root = search(p, query, &status);
        if (status == 200 && root && results_contain(root, id) == present)
            break;
        sleep_ms(200);
    }
    return root;
}

/* Every result is a row of `product` in the database. */
static long long foreign_results(json_t *root, const char *product)
{
    json_t *results = json_object_get(root, "results"), *r;
    long long foreign = 0;
    size_t i;

    json_array_foreach(results, i, r)
    {
        const char *doc = json_string_value(json_object_get(r, "document_id"));

        if (!doc || countf("SELECT count(*) FROM faq_documents WHERE"
                           " product = '%s' AND id = '%s'",
                           product, doc) != 1)
            foreign++;
    }
    return foreign;
}

/* ---- tests -------------------------------------------------------------- */

/* The same three titles in each product; ids[p][t]. */
#define TITLES 3
static const char *const titles[TITLES] = {"How do I cancel my booking?",
                                           "Is breakfast included?",
                                           "Can I bring my pet?"};
static char ids[PRODUCTS][TITLES][37];

static void content_for(int p, int t, int version, char *buf, size_t size)
{
    snprintf(buf, size,
             "%s answer %d for %s, version %d.\n\nThe %s team reviews every "
             "request %s within one day. Contact support for more help.",
             p == 0 ? "Bestays" : "Realestate", t, word, version, products[p],
             word);
}

static void test_products_are_indexed_and_searched_apart(void)
{
    char content[512], query[128];

    for (int p = 0; p < PRODUCTS; p++)
        for (int t = 0; t < TITLES; t++) {
            new_doc_id(ids[p][t]);
            content_for(p, t, 1, content, sizeof(content));
            BS_ASSERT_INT_EQ(
                upsert(products[p], ids[p][t], titles[t], content, 1), BS_OK);
        }
    for (int p = 0; p < PRODUCTS; p++)
        for (int t = 0; t < TITLES; t++)
            BS_ASSERT_INT_EQ(wait_version(products[p], ids[p][t], 1), 1);

    /* Rows, embeddings and the generation: each product's own. */
    for (int p = 0; p < PRODUCTS; p++) {
        BS_ASSERT_INT_EQ(countf("SELECT count(*) FROM faq_embeddings WHERE"
                                " document_id::text LIKE '%s%%'"
                                " AND product = '%s' AND model = '%s'"
                                " AND array_length(embedding, 1) = 128"
                                " AND chunk_index = 0",
                                run_tag, products[p], model128),
                         TITLES);
        BS_ASSERT_INT_EQ(countf("SELECT count(*) FROM faq_index_state WHERE"
                                " product = '%s' AND generation > 0"
                                " AND model = '%s'",
                                products[p], model128),
                         1);
    }
    BS_ASSERT_INT_EQ(countf("SELECT count(*) FROM faq_embeddings e JOIN"
                            " faq_documents d ON d.id = e.document_id"
                            " WHERE d.product <> e.product"),
                     0);

    /* Search: bestays finds only bestays documents, and vice versa. */
    snprintf(query, sizeof(query), "cancel+my+booking+%s", word);
    for (int p = 0; p < PRODUCTS; p++) {
        json_t *root;

        CU_ASSERT_EQUAL_FATAL(gateway_start(p), 0);
        root = wait_search(p, query, ids[p][0], true);
        CU_ASSERT_TRUE(results_contain(root, ids[p][0]));
        for (int t = 0; t < TITLES; t++)
            CU_ASSERT_FALSE(results_contain(root, ids[1 - p][t]));
        BS_ASSERT_INT_EQ(foreign_results(root, products[p]), 0);
        BS_ASSERT_STR_EQ(json_string_value(json_object_get(root, "product")),
                         products[p]);
        json_decref(root);
    }
}

static void test_deleted_document_stops_appearing(void)
{
    struct faq del = {BS_FAQ_DELETE, ids[0][0], NULL, NULL, NULL, NULL, 2};
    char query[128], sql[512];
    json_t *root;

    BS_ASSERT_INT_EQ(publish("bestays", &del), BS_OK);
    snprintf(sql, sizeof(sql),
             "SELECT count(*) FROM faq_documents WHERE product = 'bestays'"
             " AND id = '%s' AND deleted_at IS NOT NULL AND version = 2",
             ids[0][0]);
    BS_ASSERT_INT_EQ(wait_count(1, sql), 1);
    BS_ASSERT_INT_EQ(countf("SELECT count(*) FROM faq_embeddings WHERE"
                            " document_id = '%s'",
                            ids[0][0]),
                     0);

    snprintf(query, sizeof(query), "cancel+my+booking+%s", word);
    root = wait_search(0, query, ids[0][0], false);
    CU_ASSERT_FALSE(results_contain(root, ids[0][0]));
    json_decref(root);
    /* realestate's document of the same title is still found. */
    root = wait_search(1, query, ids[1][0], true);
    CU_ASSERT_TRUE(results_contain(root, ids[1][0]));
    json_decref(root);
}

/* embedded_at, content_hash and the first embedding row id, as one text. */
static char *embedding_state(const char *id)
{
    return textf("SELECT d.embedded_at::text || ' ' || d.content_hash || ' ' ||"
                 " (SELECT string_agg(e.id::text, ',' ORDER BY e.id)"
                 " FROM faq_embeddings e WHERE e.product = d.product"
                 " AND e.document_id = d.id)"
                 " FROM faq_documents d WHERE d.product = 'bestays'"
                 " AND d.id = '%s'",
                 id);
}

static void test_update_reembeds(void)
{
    char content[512], *before, *after;

    before = embedding_state(ids[0][1]);
    CU_ASSERT_PTR_NOT_NULL_FATAL(before);
    snprintf(content, sizeof(content),
             "Breakfast is served from seven %s. It is included in every "
             "stay booked after June.",
             word);
    BS_ASSERT_INT_EQ(upsert("bestays", ids[0][1], titles[1], content, 2),
                     BS_OK);
    BS_ASSERT_INT_EQ(wait_version("bestays", ids[0][1], 2), 1);
    after = embedding_state(ids[0][1]);
    CU_ASSERT_PTR_NOT_NULL(after);
    /* Different embedded_at, hash and embedding rows. */
    CU_ASSERT_TRUE(after && strcmp(before, after) != 0);
    BS_ASSERT_INT_EQ(countf("SELECT count(*) FROM faq_embeddings WHERE"
                            " document_id = '%s' AND chunk_text LIKE"
                            " '%%served from seven%%'",
                            ids[0][1]),
                     1);
    free(before);
    free(after);
}

static void test_unchanged_republish_does_not_reembed(void)
{
    char content[512], old_content[512], *before, *after;

    snprintf(content, sizeof(content),
             "Breakfast is served from seven %s. It is included in every "
             "stay booked after June.",
             word);
    before = embedding_state(ids[0][1]);
    CU_ASSERT_PTR_NOT_NULL_FATAL(before);
    /* Same title and content, newer version: not embedded again. */
    BS_ASSERT_INT_EQ(upsert("bestays", ids[0][1], titles[1], content, 3),
                     BS_OK);
    BS_ASSERT_INT_EQ(wait_version("bestays", ids[0][1], 3), 1);
    after = embedding_state(ids[0][1]);
    BS_ASSERT_STR_EQ(after, before);
    free(after);

    /* An older version with other text is ignored: the following unchanged
     * v4 (same partition, so applied after it) then embeds nothing. */
    content_for(0, 1, 9, old_content, sizeof(old_content));
    BS_ASSERT_INT_EQ(upsert("bestays", ids[0][1], titles[1], old_content, 2),
                     BS_OK);
    BS_ASSERT_INT_EQ(upsert("bestays", ids[0][1], titles[1], content, 4),
                     BS_OK);
    BS_ASSERT_INT_EQ(wait_version("bestays", ids[0][1], 4), 1);
    after = embedding_state(ids[0][1]);
    BS_ASSERT_STR_EQ(after, before);
    free(after);
    free(before);

    /* The indexer counts what it embedded and what it skipped. */
    {
        char *metrics = NULL;

        BS_ASSERT_INT_EQ(bs_svc_http(&indexers[0], "GET", "/metrics", NULL,
                                     NULL, 0, &metrics),
                         200);
        CU_ASSERT_PTR_NOT_NULL(
            metrics ? strstr(metrics, "outcome=\"unchanged\"") : NULL);
        CU_ASSERT_PTR_NOT_NULL(metrics ? strstr(metrics, "outcome=\"embedded\"")
                                       : NULL);
        CU_ASSERT_PTR_NOT_NULL(metrics ? strstr(metrics, "outcome=\"ignored\"")
                                       : NULL);
        free(metrics);
    }
}

/* ---- dead letters ---------------------------------------------------------
 */

struct dlq_match {
    const char *key;
    const char *reason_prefix;
};

static bool dlq_matches(const rd_kafka_message_t *m, void *ctx)
{
    const struct dlq_match *want = ctx;
    rd_kafka_headers_t *headers = NULL;
    const void *value = NULL;
    size_t size = 0;

    if (!m->key || m->key_len != strlen(want->key) ||
        memcmp(m->key, want->key, m->key_len) != 0)
        return false;
    if (rd_kafka_message_headers(m, &headers) != RD_KAFKA_RESP_ERR_NO_ERROR)
        return false;
    /* Every consumer of bestays.faq dead-letters a foreign record on its own
     * (audit-writer too, when another test runs one): count faq-indexer's. */
    if (rd_kafka_header_get_last(headers, BS_DLQ_HEADER_SERVICE, &value,
                                 &size) != RD_KAFKA_RESP_ERR_NO_ERROR ||
        size != strlen("faq-indexer") ||
        memcmp(value, "faq-indexer", size) != 0)
        return false;
    if (rd_kafka_header_get_last(headers, BS_DLQ_HEADER_REASON, &value,
                                 &size) != RD_KAFKA_RESP_ERR_NO_ERROR)
        return false;
    return size >= strlen(want->reason_prefix) &&
           memcmp(value, want->reason_prefix, strlen(want->reason_prefix)) == 0;
}

/* Waits until bestays.dlq holds faq-indexer's message for `key` with that
 * reason; returns how many there are. */
static int wait_dlq(const char *key, const char *reason_prefix)
{
    struct dlq_match want = {key, reason_prefix};
    char errstr[256];
    int matches = 0;

    for (int waited = 0; waited < DEADLINE_MS; waited += 500) {
        if (bs_broker_scan_topic("bestays", "bestays.dlq", dlq_matches, &want,
                                 30000, &matches, errstr,
                                 sizeof(errstr)) == BS_OK &&
            matches > 0)
            break;
        sleep_ms(500);
    }
    return matches;
}

static void test_foreign_product_and_unknown_category_go_to_dlq(void)
{
    struct bs_faq_event e = {0};
    struct faq bad_category = {
        BS_FAQ_UPSERT, NULL, "no-such-slug", "Title", "Content.",
        "published",   1};
    char foreign[37], unknown[37], errstr[256], event_id[64];
    rd_kafka_headers_t *headers = rd_kafka_headers_new(1);
    rd_kafka_t *producer = NULL;
    unsigned char *bytes = NULL;
    size_t len = 0;

    /* A realestate record planted in bestays.faq (with a bestays header). */
    new_doc_id(foreign);
    e.meta.event_id =
        (char *)bs_broker_unique_name("faq-ev", event_id, sizeof(event_id));
    e.meta.product = "realestate";
    e.meta.occurred_at = 1700000000000;
    e.meta.source = "test";
    e.action = BS_FAQ_UPSERT;
    e.document_id = foreign;
    e.category = "general";
    e.title = (char *)titles[0];
    e.content = "Planted.";
    e.status = "published";
    e.version = 1;
    BS_ASSERT_INT_EQ(
        bs_faq_event_encode(codec, &e, &bytes, &len, errstr, sizeof(errstr)),
        BS_OK);
    BS_ASSERT_INT_EQ(
        bs_broker_producer_new(&producer, "bestays", errstr, sizeof(errstr)),
        BS_OK);
    rd_kafka_header_add(headers, BS_KAFKA_HEADER_PRODUCT, -1, "bestays", -1);
    BS_ASSERT_INT_EQ(bs_broker_produce(producer, "bestays.faq", foreign, bytes,
                                       len, headers, errstr, sizeof(errstr)),
                     BS_OK);
    free(bytes);
    rd_kafka_destroy(producer);

    /* A bestays upsert naming a category bestays does not have. */
    new_doc_id(unknown);
    bad_category.id = unknown;
    BS_ASSERT_INT_EQ(publish("bestays", &bad_category), BS_OK);

    BS_ASSERT_INT_EQ(wait_dlq(foreign, "tenant_mismatch"), 1);
    BS_ASSERT_INT_EQ(wait_dlq(unknown, "unknown_category: no-such-slug"), 1);
    BS_ASSERT_INT_EQ(countf("SELECT count(*) FROM faq_documents WHERE id IN"
                            " ('%s', '%s')",
                            foreign, unknown),
                     0);
    BS_ASSERT_INT_EQ(countf("SELECT count(*) FROM faq_embeddings WHERE"
                            " document_id IN ('%s', '%s')",
                            foreign, unknown),
                     0);
}

/* ---- re-indexing ------------------------------------------------------------
 */

/* This run's bestays documents not deleted, and of them how many are
 * fully on `model` (row and every embedding, of the model's dimension). */
static long long live_docs(void)
{
    return countf("SELECT count(*) FROM faq_documents WHERE product ="
                  " 'bestays' AND id::text LIKE '%s%%' AND deleted_at IS NULL",
                  run_tag);
}

static long long docs_not_on(const char *model, int dimension)
{
    return countf("SELECT count(*) FROM faq_documents d WHERE d.product ="
                  " 'bestays' AND d.id::text LIKE '%s%%'"
                  " AND d.deleted_at IS NULL AND (d.embedding_model <> '%s'"
                  " OR EXISTS (SELECT 1 FROM faq_embeddings e WHERE"
                  " e.product = d.product AND e.document_id = d.id AND"
                  " (e.model <> d.embedding_model"
                  " OR array_length(e.embedding, 1) <> %d))"
                  " OR NOT EXISTS (SELECT 1 FROM faq_embeddings e WHERE"
                  " e.product = d.product AND e.document_id = d.id))",
                  run_tag, model, dimension);
}

static void test_reindex_all_moves_every_row_to_the_current_model(void)
{
    char reindex_ids[REINDEX_DOCS][37], content[512], sql[512], *output = NULL;
    const char *const all[] = {"faq",   "reindex",   "--product", "bestays",
                               "--all", "--timeout", "120",       NULL};
    const char *const stale[] = {"faq",     "reindex", "--product",
                                 "bestays", "--stale", NULL};
    const char *const refused[] = {"faq",    "reindex", "--product",
                                   "nosuch", "--all",   NULL};
    int status = -1;
    pid_t child;

    for (int i = 0; i < REINDEX_DOCS; i++) {
        new_doc_id(reindex_ids[i]);
        snprintf(content, sizeof(content),
                 "Re-index answer %d %s.\n\nSecond paragraph.", i, word);
        BS_ASSERT_INT_EQ(
            upsert("bestays", reindex_ids[i], titles[2], content, 1), BS_OK);
    }
    BS_ASSERT_INT_EQ(wait_version("bestays", reindex_ids[REINDEX_DOCS - 1], 1),
                     1);
    snprintf(sql, sizeof(sql),
             "SELECT count(*) FROM faq_documents WHERE product = 'bestays'"
             " AND id::text LIKE '%s%%' AND deleted_at IS NULL"
             " AND embedding_model = '%s'",
             run_tag, model128);
    BS_ASSERT_INT_EQ(wait_count(live_docs(), sql), live_docs());

    /* The new model: the indexer restarts with 256 dimensions. */
    BS_ASSERT_INT_EQ(bs_svc_stop(&indexers[0], SIGTERM), 0);
    CU_ASSERT_EQUAL_FATAL(indexer_start(0, 256), 0);

    /* bsctl re-indexes while new documents and updates keep coming. */
    child = fork();
    if (child == 0)
        _exit(bsctl(all, "256", NULL));
    for (int i = 0; i < REINDEX_DOCS / 2; i++) {
        char id[37];

        new_doc_id(id);
        snprintf(content, sizeof(content), "Written during re-index %d %s.", i,
                 word);
        BS_ASSERT_INT_EQ(upsert("bestays", id, titles[0], content, 1), BS_OK);
        snprintf(content, sizeof(content), "Updated during re-index %d %s.", i,
                 word);
        BS_ASSERT_INT_EQ(
            upsert("bestays", reindex_ids[i], titles[2], content, 2), BS_OK);
    }
    CU_ASSERT_EQUAL(waitpid(child, &status, 0), child);
    CU_ASSERT_TRUE(WIFEXITED(status));
    BS_ASSERT_INT_EQ(WEXITSTATUS(status), 0);

    /* Every live bestays document on the new model, with 256-wide vectors;
     * realestate untouched. */
    snprintf(sql, sizeof(sql),
             "SELECT count(*) FROM faq_documents WHERE product = 'bestays'"
             " AND id::text LIKE '%s%%' AND deleted_at IS NULL"
             " AND embedding_model = '%s'",
             run_tag, model256);
    BS_ASSERT_INT_EQ(wait_count(live_docs(), sql), live_docs());
    BS_ASSERT_INT_EQ(wait_version("bestays", reindex_ids[0], 2), 1);
    BS_ASSERT_INT_EQ(docs_not_on(model256, 256), 0);
    BS_ASSERT_INT_EQ(countf("SELECT count(*) FROM faq_embeddings WHERE"
                            " product = 'realestate' AND document_id::text"
                            " LIKE '%s%%' AND model = '%s'",
                            run_tag, model128),
                     TITLES);
    BS_ASSERT_INT_EQ(countf("SELECT count(*) FROM faq_index_state WHERE"
                            " product = 'bestays' AND model = '%s'",
                            model256),
                     1);

    /* Nothing stale is left; another product is refused. */
    BS_ASSERT_INT_EQ(bsctl(stale, "256", &output), 0);
    CU_ASSERT_PTR_NOT_NULL(output ? strstr(output, "0 document(s)") : NULL);
    free(output);
    BS_ASSERT_INT_EQ(bsctl(refused, "256", NULL), 64);

    /* One document, without waiting; a deleted one is refused. */
    {
        const char *const one[] = {"faq",       "reindex",    "--product",
                                   "bestays",   "--document", reindex_ids[1],
                                   "--no-wait", NULL};
        const char *const gone[] = {"faq",     "reindex",    "--product",
                                    "bestays", "--document", ids[0][0],
                                    NULL};
        char *before = embedding_state(reindex_ids[1]), *after = NULL;

        BS_ASSERT_INT_EQ(bsctl(one, "256", NULL), 0);
        for (int waited = 0; waited < DEADLINE_MS; waited += 100) {
            free(after);
            after = embedding_state(reindex_ids[1]);
            if (after && before && strcmp(after, before) != 0)
                break;
            sleep_ms(100);
        }
        /* Embedded again: new embedded_at and rows, the same hash. */
        CU_ASSERT_TRUE(after && before && strcmp(after, before) != 0);
        BS_ASSERT_INT_EQ(bsctl(gone, "256", NULL), 1);
        free(before);
        free(after);
    }
}

/* ---- a crash mid-batch -------------------------------------------------- */

static void test_killed_mid_batch_leaves_one_set_per_document(void)
{
    static char crash_ids[CRASH_DOCS][37];
    char content[2048], sql[1024];
    long long at_kill;

    /* Queue many multi-chunk documents while the indexer is down. */
    BS_ASSERT_INT_EQ(bs_svc_stop(&indexers[0], SIGTERM), 0);
    for (int i = 0; i < CRASH_DOCS; i++) {
        int n = 0;

        new_doc_id(crash_ids[i]);
        for (int para = 0; para < 6 && n < (int)sizeof(content) - 300; para++)
            n += snprintf(content + n, sizeof(content) - (size_t)n,
                          "Paragraph %d of document %d %s: guests may check "
                          "in from two in the afternoon, and the front desk "
                          "keeps luggage for them until the room is ready. "
                          "Late arrivals should call ahead.\n\n",
                          para, i, word);
        BS_ASSERT_INT_EQ(upsert("bestays", crash_ids[i], titles[0], content, 1),
                         BS_OK);
    }

    /* Start, and SIGKILL as soon as the first batch has committed. */
    CU_ASSERT_EQUAL_FATAL(indexer_start(0, 256), 0);
    for (int waited = 0; waited < DEADLINE_MS; waited += 5) {
        if (countf("SELECT count(*) FROM faq_documents WHERE product ="
                   " 'bestays' AND id = '%s'",
                   crash_ids[0]) > 0)
            break;
        sleep_ms(5);
    }
    bs_svc_stop(&indexers[0], SIGKILL);
    at_kill = countf("SELECT count(*) FROM faq_documents WHERE product ="
                     " 'bestays' AND id::text LIKE '%s%%' AND version = 1"
                     " AND content LIKE 'Paragraph 0 of document%%'",
                     run_tag);
    fprintf(stderr, "crash test: %lld of %d documents indexed at SIGKILL\n",
            at_kill, CRASH_DOCS);
    CU_ASSERT_TRUE(at_kill > 0 && at_kill < CRASH_DOCS);

    /* Restarted, it finishes; each document has exactly one set. */
    CU_ASSERT_EQUAL_FATAL(indexer_start(0, 256), 0);
    snprintf(sql, sizeof(sql),
             "SELECT count(*) FROM faq_documents WHERE product = 'bestays'"
             " AND id::text LIKE '%s%%' AND embedded_at IS NOT NULL"
             " AND content LIKE 'Paragraph 0 of document%%'",
             run_tag);
    BS_ASSERT_INT_EQ(wait_count(CRASH_DOCS, sql), CRASH_DOCS);
    BS_ASSERT_INT_EQ(
        countf("SELECT count(*) FROM (SELECT d.id, count(e.id) AS n,"
               " count(DISTINCT e.chunk_index) AS distinct_n,"
               " min(e.chunk_index) AS lo, max(e.chunk_index) AS hi"
               " FROM faq_documents d LEFT JOIN faq_embeddings e"
               " ON e.product = d.product AND e.document_id = d.id"
               " WHERE d.product = 'bestays' AND d.id::text LIKE '%s%%'"
               " AND d.content LIKE 'Paragraph 0 of document%%'"
               " GROUP BY d.id) s"
               " WHERE n = 0 OR n <> distinct_n OR lo <> 0 OR hi <> n - 1",
               run_tag),
        0);
    /* They are multi-chunk documents, all on the current model. */
    CU_ASSERT_TRUE(countf("SELECT count(*) FROM faq_embeddings WHERE product ="
                          " 'bestays' AND document_id::text LIKE '%s%%'"
                          " AND chunk_index > 0",
                          run_tag) >= CRASH_DOCS);
    BS_ASSERT_INT_EQ(docs_not_on(model256, 256), 0);
}

/* ---- the embedder down -------------------------------------------------- */

static bool log_contains(const struct bs_svc *svc, const char *needle)
{
    char *text = bs_test_read_file(svc->log_path);
    bool found = text && strstr(text, needle);

    free(text);
    return found;
}

/* A prefix of this run's keys with a reason starting "embed". */
static bool embed_dlq_matches(const rd_kafka_message_t *m, void *ctx)
{
    rd_kafka_headers_t *headers = NULL;
    const void *value = NULL;
    size_t size = 0;

    (void)ctx;
    if (!m->key || m->key_len < 8 || memcmp(m->key, run_tag, 8) != 0 ||
        rd_kafka_message_headers(m, &headers) != RD_KAFKA_RESP_ERR_NO_ERROR ||
        rd_kafka_header_get_last(headers, BS_DLQ_HEADER_REASON, &value,
                                 &size) != RD_KAFKA_RESP_ERR_NO_ERROR)
        return false;
    return size >= 5 && memcmp(value, "embed", 5) == 0;
}

/*
 * An indexer whose embedding endpoint refuses connections, on a database of
 * its own (so it replays this run's events from the start): an
 * infrastructure error. It reports not ready and retries; nothing is
 * written, no offset moves, nothing is dead-lettered.
 */
static void test_embedder_down_pauses_without_dead_letters(void)
{
    char other_db[64], conninfo[512], v_db[600], v_kafka[600], v_group[200];
    char v_url[128], name[128], tag[64], errstr[256], *body = NULL;
    const char *const migrate[] = {"up", NULL};
    const char *env[] = {"PRODUCT=bestays",
                         v_db,
                         v_kafka,
                         v_group,
                         "EMBEDDER=openai",
                         v_url,
                         "EMBEDDINGS_MODEL=test-model",
                         "EMBEDDINGS_MAX_RETRIES=0",
                         "EMBEDDINGS_TIMEOUT_MS=500",
                         "LOG_LEVEL=info",
                         NULL};
    struct bs_svc svc = {0};
    PGconn *other;
    long status = 0;
    int matches = -1;

    CU_ASSERT_EQUAL_FATAL(
        bs_pg_create_database(&pg, "faqdown", other_db, sizeof(other_db)), 0);
    CU_ASSERT_EQUAL_FATAL(bs_pg_migrate(&pg, other_db, migrate, NULL), 0);
    other = bs_pg_connect(&pg, other_db, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(other);
    /* The categories too: the events must reach the embedder. */
    CU_ASSERT_EQUAL(bs_pg_exec(other,
                               "INSERT INTO faq_categories (product, slug,"
                               " name) VALUES ('bestays', 'general', 'G')",
                               NULL),
                    0);
    bs_pg_conninfo(&pg, other_db, BS_PG_SERVICE_ROLE, conninfo,
                   sizeof(conninfo));
    snprintf(v_db, sizeof(v_db), "DATABASE_URL=%s", conninfo);
    snprintf(v_kafka, sizeof(v_kafka), "KAFKA_BOOTSTRAP_SERVERS=%s", bootstrap);
    snprintf(v_group, sizeof(v_group), "CONSUMER_GROUP=%s",
             bs_broker_unique_name("faq-indexer-down", name, sizeof(name)));
    snprintf(v_url, sizeof(v_url),
             "EMBEDDINGS_URL=http://127.0.0.1:%u/v1/embeddings",
             bs_svc_free_port());
    snprintf(tag, sizeof(tag), "faq-indexer-down-%d", (int)getpid());
    CU_ASSERT_EQUAL_FATAL(
        bs_svc_start(&svc, "services/faq-indexer/faq-indexer", tag, env), 0);

    for (int waited = 0; waited < DEADLINE_MS; waited += 100) {
        if (log_contains(&svc, "event=embedder_unavailable"))
            break;
        sleep_ms(100);
    }
    CU_ASSERT_TRUE(log_contains(&svc, "event=embedder_unavailable"));
    for (int waited = 0; waited < DEADLINE_MS; waited += 100) {
        status = bs_svc_http(&svc, "GET", "/readyz", NULL, NULL, 0, &body);
        free(body);
        body = NULL;
        if (status == 503)
            break;
        sleep_ms(100);
    }
    BS_ASSERT_INT_EQ(status, 503);

    BS_ASSERT_INT_EQ(bs_pg_count(other, "SELECT count(*) FROM faq_documents"),
                     0);
    BS_ASSERT_INT_EQ(
        bs_pg_count(other, "SELECT count(*) FROM consumer_offsets"), 0);
    PQfinish(other);
    BS_ASSERT_INT_EQ(bs_svc_stop(&svc, SIGTERM), 0);
    BS_ASSERT_INT_EQ(bs_broker_scan_topic("bestays", "bestays.dlq",
                                          embed_dlq_matches, NULL, 30000,
                                          &matches, errstr, sizeof(errstr)),
                     BS_OK);
    BS_ASSERT_INT_EQ(matches, 0);
    bs_pg_drop_database(&pg, other_db);
}

/* ---- an OpenAI-compatible endpoint: whose fault is a failure ------------- */

#define OPENAI_DIM     64
#define OPENAI_MODEL   "openai:test-model/64"
#define OPENAI_DOCS    5
#define MAX_PARTITIONS 64

/* A faq-indexer for bestays with EMBEDDER=openai pointed at a fake
 * endpoint (tests/support/embed_server.h), on a database of its own, its
 * group starting at the current end of bestays.faq (so it sees only the
 * events the test publishes next, not every earlier run's). */
struct openai_indexer {
    struct bs_embed_server *server;
    char db[64];
    PGconn *conn; /* superuser, on db */
    char group[128];
    long long start; /* the group's stored offsets, summed */
    struct bs_svc svc;
};

/* Stores the end of every partition of bestays.faq as `group_id`'s offsets;
 * their sum into *total. 0, or -1. */
static int store_faq_end_offsets(PGconn *conn, const char *group_id,
                                 long long *total)
{
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_t *producer = NULL;
    rd_kafka_topic_t *rkt = NULL;
    char errstr[256], sql[512];
    int result = -1;

    *total = 0;
    if (bs_broker_producer_new(&producer, "bestays", errstr, sizeof(errstr)) !=
        BS_OK)
        return -1;
    rkt = rd_kafka_topic_new(producer, "bestays.faq", NULL);
    if (rkt && rd_kafka_metadata(producer, 0, rkt, &md, DEADLINE_MS) == 0 &&
        md->topic_cnt == 1 && md->topics[0].partition_cnt > 0 &&
        md->topics[0].partition_cnt <= MAX_PARTITIONS)
        result = 0;
    for (int i = 0; result == 0 && i < md->topics[0].partition_cnt; i++) {
        int32_t partition = md->topics[0].partitions[i].id;
        int64_t low = 0, high = 0;

        if (rd_kafka_query_watermark_offsets(producer, "bestays.faq", partition,
                                             &low, &high, DEADLINE_MS) !=
            RD_KAFKA_RESP_ERR_NO_ERROR) {
            result = -1;
            break;
        }
        snprintf(sql, sizeof(sql),
                 "INSERT INTO consumer_offsets (product, consumer_group,"
                 " topic, partition, next_offset) VALUES ('bestays', '%s',"
                 " 'bestays.faq', %d, %" PRId64 ")",
                 group_id, (int)partition, high);
        result = bs_pg_exec(conn, sql, NULL) == 0 ? 0 : -1;
        *total += high;
    }
    if (md)
        rd_kafka_metadata_destroy(md);
    if (rkt)
        rd_kafka_topic_destroy(rkt);
    rd_kafka_destroy(producer);
    return result;
}

/* The fake endpoint answering `answer` to everything, the database, the
 * offsets and the indexer (its log tagged with `name`). 0, or -1 (what was
 * started stays in *x for openai_indexer_stop). */
static int openai_indexer_start(struct openai_indexer *x, const char *name,
                                enum bs_embed_answer answer)
{
    const char *const migrate[] = {"up", NULL};
    char conninfo[512], v_db[600], v_kafka[600], v_group[200], v_url[200];
    char v_dim[64], url[128], unique[128], tag[64];
    const char *env[] = {"PRODUCT=bestays",
                         v_db,
                         v_kafka,
                         v_group,
                         "EMBEDDER=openai",
                         v_url,
                         v_dim,
                         "EMBEDDINGS_MODEL=test-model",
                         "EMBEDDINGS_MAX_RETRIES=0",
                         "EMBEDDINGS_TIMEOUT_MS=10000",
                         "LOG_LEVEL=info",
                         NULL};

    memset(x, 0, sizeof(*x));
    if (bs_embed_server_start(OPENAI_DIM, &x->server) != 0)
        return -1;
    bs_embed_server_script(x->server, answer, 0, NULL);
    if (bs_pg_create_database(&pg, "faqoai", x->db, sizeof(x->db)) != 0 ||
        bs_pg_migrate(&pg, x->db, migrate, NULL) != 0)
        return -1;
    x->conn = bs_pg_connect(&pg, x->db, NULL);
    snprintf(
        x->group, sizeof(x->group), "%s",
        bs_broker_unique_name("faq-indexer-openai", unique, sizeof(unique)));
    if (!x->conn ||
        bs_pg_exec(x->conn,
                   "INSERT INTO faq_categories (product, slug, name)"
                   " VALUES ('bestays', 'general', 'General')",
                   NULL) != 0 ||
        store_faq_end_offsets(x->conn, x->group, &x->start) != 0)
        return -1;

    bs_pg_conninfo(&pg, x->db, BS_PG_SERVICE_ROLE, conninfo, sizeof(conninfo));
    snprintf(v_db, sizeof(v_db), "DATABASE_URL=%s", conninfo);
    snprintf(v_kafka, sizeof(v_kafka), "KAFKA_BOOTSTRAP_SERVERS=%s", bootstrap);
    snprintf(v_group, sizeof(v_group), "CONSUMER_GROUP=%s", x->group);
    snprintf(v_url, sizeof(v_url), "EMBEDDINGS_URL=%s",
             bs_embed_server_url(x->server, url, sizeof(url)));
    snprintf(v_dim, sizeof(v_dim), "EMBEDDINGS_DIM=%d", OPENAI_DIM);
    snprintf(tag, sizeof(tag), "faq-indexer-openai-%s-%d", name, (int)getpid());
    return bs_svc_start(&x->svc, "services/faq-indexer/faq-indexer", tag, env);
}

static void openai_indexer_stop(struct openai_indexer *x)
{
    if (x->svc.pid > 0)
        BS_ASSERT_INT_EQ(bs_svc_stop(&x->svc, SIGTERM), 0);
    if (x->conn)
        PQfinish(x->conn);
    if (x->db[0])
        bs_pg_drop_database(&pg, x->db);
    bs_embed_server_stop(x->server);
}

/* Documents of `docs` embedded in x's database: a row with embedded_at and
 * embeddings of OPENAI_MODEL, OPENAI_DIM wide (and none other). */
static long long openai_embedded(struct openai_indexer *x, char (*docs)[37],
                                 int count)
{
    char sql[4096], list[OPENAI_DOCS * 40 + 1] = "";
    size_t n = 0;

    for (int i = 0; i < count; i++)
        n += (size_t)snprintf(list + n, sizeof(list) - n, "%s'%s'",
                              i ? "," : "", docs[i]);
    snprintf(sql, sizeof(sql),
             "SELECT count(*) FROM faq_documents d WHERE d.product ="
             " 'bestays' AND d.id IN (%s) AND d.embedded_at IS NOT NULL"
             " AND d.embedding_model = '" OPENAI_MODEL "'"
             " AND EXISTS (SELECT 1 FROM faq_embeddings e WHERE"
             " e.product = d.product AND e.document_id = d.id)"
             " AND NOT EXISTS (SELECT 1 FROM faq_embeddings e WHERE"
             " e.product = d.product AND e.document_id = d.id AND"
             " (e.model <> '" OPENAI_MODEL "'"
             " OR array_length(e.embedding, 1) <> %d))",
             list, OPENAI_DIM);
    return bs_pg_count(x->conn, sql);
}

static long long openai_wait_embedded(struct openai_indexer *x,
                                      char (*docs)[37], int count)
{
    long long value = -1;

    for (int waited = 0; waited < DEADLINE_MS; waited += 100) {
        value = openai_embedded(x, docs, count);
        if (value == count)
            break;
        sleep_ms(100);
    }
    return value;
}

/* faq-indexer's dead letters for `key` with that reason prefix, by one
 * read of bestays.dlq to its end (-1 if it could not be read). */
static int dlq_count(const char *key, const char *reason_prefix)
{
    struct dlq_match want = {key, reason_prefix};
    char errstr[256];
    int matches = -1;

    if (bs_broker_scan_topic("bestays", "bestays.dlq", dlq_matches, &want,
                             30000, &matches, errstr, sizeof(errstr)) != BS_OK)
        fprintf(stderr, "dlq scan: %s\n", errstr);
    return matches;
}

/* Polls /readyz until it answers `status`; returns the last answer. */
static long wait_readyz(const struct bs_svc *svc, long status)
{
    long got = 0;

    for (int waited = 0; waited < DEADLINE_MS; waited += 100) {
        got = bs_svc_http(svc, "GET", "/readyz", NULL, NULL, 0, NULL);
        if (got == status)
            break;
        sleep_ms(100);
    }
    return got;
}

/*
 * The endpoint answers 400 to any request holding one document's text and
 * embeds everything else, the probe too: that document's event alone is
 * dead-lettered (embedding_failed), every other document is embedded, and
 * the indexer stays ready.
 */
static void test_openai_refusing_one_document_dead_letters_only_it(void)
{
    struct openai_indexer x;
    char docs[OPENAI_DOCS][37], good[OPENAI_DOCS - 1][37], *bad = docs[2];
    char content[512], marker[32], sql[256];
    int n = 0;

    snprintf(marker, sizeof(marker), "refuse-%s", word);
    CU_ASSERT_EQUAL_FATAL(openai_indexer_start(&x, "one", BS_EMBED_OK), 0);
    bs_embed_server_refuse(x.server, marker);

    /* the refused document in the middle of the others */
    for (int i = 0; i < OPENAI_DOCS; i++) {
        new_doc_id(docs[i]);
        if (docs[i] == bad)
            snprintf(content, sizeof(content),
                     "The endpoint refuses this one: %s.", marker);
        else
            snprintf(content, sizeof(content),
                     "OpenAI-compatible answer %d %s.\n\nSecond paragraph.", i,
                     word);
        BS_ASSERT_INT_EQ(upsert("bestays", docs[i], titles[0], content, 1),
                         BS_OK);
        if (docs[i] != bad)
            memcpy(good[n++], docs[i], sizeof(good[0]));
    }

    BS_ASSERT_INT_EQ(openai_wait_embedded(&x, good, n), OPENAI_DOCS - 1);
    BS_ASSERT_INT_EQ(
        wait_dlq(bad,
                 "embedding_failed: embeddings endpoint answered HTTP 400"),
        1);
    for (int i = 0; i < n; i++)
        BS_ASSERT_INT_EQ(dlq_count(good[i], ""), 0);
    /* the refused document's record was rolled back: no row at all */
    snprintf(sql, sizeof(sql),
             "SELECT count(*) FROM faq_documents WHERE id = '%s'", bad);
    BS_ASSERT_INT_EQ(bs_pg_count(x.conn, sql), 0);
    /* It was refused (with its batch, then alone) and probed each time;
     * the pipeline never paused. */
    CU_ASSERT_TRUE(bs_embed_server_refused(x.server) >= 1);
    CU_ASSERT_TRUE(bs_embed_server_requests(x.server) >
                   bs_embed_server_refused(x.server));
    CU_ASSERT_FALSE(log_contains(&x.svc, "event=embedder_unavailable"));
    BS_ASSERT_INT_EQ(wait_readyz(&x.svc, 200), 200);
    openai_indexer_stop(&x);
}

/*
 * The endpoint answers 400 "model not found" to everything, the probe too
 * (a configuration-shaped failure): nothing is dead-lettered or written,
 * no offset moves, the indexer reports not ready and keeps trying; once
 * the endpoint is fixed every document is embedded and it is ready again.
 */
static void test_openai_refusing_everything_pauses_until_fixed(void)
{
    struct openai_indexer x;
    char docs[3][37], content[512], sql[512];

    CU_ASSERT_EQUAL_FATAL(openai_indexer_start(&x, "all", BS_EMBED_400_MODEL),
                          0);
    for (int i = 0; i < 3; i++) {
        new_doc_id(docs[i]);
        snprintf(content, sizeof(content),
                 "Paused until the endpoint is fixed %d %s.", i, word);
        BS_ASSERT_INT_EQ(upsert("bestays", docs[i], titles[2], content, 1),
                         BS_OK);
    }

    for (int waited = 0; waited < DEADLINE_MS; waited += 100) {
        if (log_contains(&x.svc, "event=embedder_unavailable error=\""
                                 "embeddings endpoint misconfigured") &&
            bs_embed_server_requests(x.server) >= 4)
            break;
        sleep_ms(100);
    }
    /* said why, and tried again (each try: the batch, then the probe) */
    CU_ASSERT_TRUE(log_contains(&x.svc, "event=embedder_unavailable error=\""
                                        "embeddings endpoint misconfigured"));
    CU_ASSERT_TRUE(log_contains(&x.svc, "model not found"));
    CU_ASSERT_TRUE(bs_embed_server_requests(x.server) >= 4);
    BS_ASSERT_INT_EQ(wait_readyz(&x.svc, 503), 503);
    BS_ASSERT_INT_EQ(bs_pg_count(x.conn, "SELECT count(*) FROM faq_documents"),
                     0);
    snprintf(sql, sizeof(sql),
             "SELECT coalesce(sum(next_offset), 0) FROM consumer_offsets"
             " WHERE consumer_group = '%s'",
             x.group);
    BS_ASSERT_INT_EQ(bs_pg_count(x.conn, sql), x.start);

    /* Fixed: everything is embedded, nothing was dead-lettered. */
    bs_embed_server_script(x.server, BS_EMBED_OK, 0, NULL);
    BS_ASSERT_INT_EQ(openai_wait_embedded(&x, docs, 3), 3);
    BS_ASSERT_INT_EQ(wait_readyz(&x.svc, 200), 200);
    for (int i = 0; i < 3; i++)
        BS_ASSERT_INT_EQ(dlq_count(docs[i], ""), 0);
    openai_indexer_stop(&x);
}

static CU_TestInfo faq_tests[] = {
    {"products_are_indexed_and_searched_apart",
     test_products_are_indexed_and_searched_apart},
    {"deleted_document_stops_appearing", test_deleted_document_stops_appearing},
    {"update_reembeds", test_update_reembeds},
    {"unchanged_republish_does_not_reembed",
     test_unchanged_republish_does_not_reembed},
    {"foreign_product_and_unknown_category_go_to_dlq",
     test_foreign_product_and_unknown_category_go_to_dlq},
    {"reindex_all_moves_every_row_to_the_current_model",
     test_reindex_all_moves_every_row_to_the_current_model},
    {"killed_mid_batch_leaves_one_set_per_document",
     test_killed_mid_batch_leaves_one_set_per_document},
    {"embedder_down_pauses_without_dead_letters",
     test_embedder_down_pauses_without_dead_letters},
    {"openai_refusing_one_document_dead_letters_only_it",
     test_openai_refusing_one_document_dead_letters_only_it},
    {"openai_refusing_everything_pauses_until_fixed",
     test_openai_refusing_everything_pauses_until_fixed},
    CU_TEST_INFO_NULL,
};

static void register_suites(void)
{
    bs_test_add_suite("faq_indexer", suite_init, suite_cleanup, faq_tests);
}

int main(void)
{
    return bs_test_main(register_suites);
}
