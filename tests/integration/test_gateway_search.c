/*
 * test_gateway_search.c - public FAQ search on the real api-gateway, two
 * products side by side.
 *
 * One fresh database holds FAQ documents of BOTH products with the SAME
 * titles and texts, written as the superuser the way faq-indexer writes
 * them: faq_documents rows, faq_embeddings rows whose vectors come from the
 * real hash embedder, and faq_index_state bumped. Two gateways (bestays,
 * realestate) run as bs_service. Documents are told apart by id: every
 * bestays id ends in "b", every realestate id in "e". The test checks that
 * each gateway finds only its product's published documents, picks up a new
 * generation, refuses a model mismatch with 503 naming both models, and
 * answers bad input with 400.
 */
#include "broker_harness.h"
#include "harness.h"
#include "pg_harness.h"
#include "service_harness.h"
#include "session_token.h"

#include "bs/embedder.h"
#include "bs/error.h"

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FRONTEND "http://localhost:3000"
#define DIM      256

/* Ids: the same document in both products differs in its last letter. */
#define PETS      "0190f0a4-0000-7000-8000-00000000001"
#define CHECKOUT  "0190f0a4-0000-7000-8000-00000000002"
#define PARKING   "0190f0a4-0000-7000-8000-00000000003"
#define DRAFT     "0190f0a4-0000-7000-8000-00000000004"
#define DELETED   "0190f0a4-0000-7000-8000-00000000005"
#define SAUNA     "0190f0a4-0000-7000-8000-00000000006"
#define ARCHIVING "0190f0a4-0000-7000-8000-00000000007"

struct doc {
    const char *id; /* without the product letter */
    const char *title;
    const char *content;
    const char *status;
    bool deleted;
};

/* The same FAQ set in both products. */
static const struct doc docs[] = {
    {PETS, "Are pets allowed?",
     "Small dogs and cats are welcome. Please tell us in advance.", "published",
     false},
    {CHECKOUT, "When is checkout?",
     "Checkout is at eleven in the morning. Late checkout on request.",
     "published", false},
    {PARKING, "Is there parking?",
     "Free parking for one car per villa, next to the entrance.", "published",
     false},
    {DRAFT, "Secret zebra draft", "Zebra zebra zebra: not yet published.",
     "draft", false},
    {DELETED, "Deleted zebra page", "Zebra stripes: this page was deleted.",
     "published", true},
    {ARCHIVING, "Is there a gym?",
     "A small gym with treadmills is open all day.", "published", false},
};

static struct bs_pg_env pg_env;
static char dbname[64];
static struct bs_svc bestays, realestate;
static EVP_PKEY *bestays_key;
static struct bs_embedder *embedder;

/* ---- seeding ------------------------------------------------------------- */

/* "{v0,v1,...}" of `text` embedded by `emb`; the caller frees. */
static char *vector_literal(struct bs_embedder *emb, const char *text)
{
    size_t dim = bs_embedder_dimension(emb);
    float *vector = malloc(dim * sizeof(float));
    char *literal = malloc(dim * 20 + 3);
    char errstr[256] = "out of memory";
    size_t len = 0;

    /* No CUnit assertion here: suite set-up uses it too. */
    if (!vector || !literal ||
        bs_embedder_embed(emb, &text, 1, vector, errstr, sizeof(errstr)) !=
            BS_OK) {
        fprintf(stderr, "embedding failed: %s\n", errstr);
        free(vector);
        free(literal);
        return NULL;
    }
    literal[len++] = '{';
    for (size_t i = 0; i < dim; i++)
        len += (size_t)sprintf(literal + len, "%s%.9g", i ? "," : "",
                               (double)vector[i]);
    literal[len++] = '}';
    literal[len] = '\0';
    free(vector);
    return literal;
}

/* Runs SQL with parameters as the superuser; 0 or -1. */
static int exec_params(PGconn *conn, const char *sql, int n,
                       const char *const *params)
{
    PGresult *res = PQexecParams(conn, sql, n, NULL, params, NULL, NULL, 0);
    int ok = PQresultStatus(res) == PGRES_COMMAND_OK ||
             PQresultStatus(res) == PGRES_TUPLES_OK;

    if (!ok)
        fprintf(stderr, "seed failed: %s", PQerrorMessage(conn));
    PQclear(res);
    return ok ? 0 : -1;
}

/* A document of `product` with two chunks (title, content) embedded by
 * `emb`, as faq-indexer writes it. */
static int insert_doc(PGconn *conn, const char *product, const struct doc *doc,
                      struct bs_embedder *emb)
{
    char id[64];
    const char *texts[2] = {doc->title, doc->content};
    const char *model = bs_embedder_model(emb);
    int result;

    snprintf(id, sizeof(id), "%s%c", doc->id,
             strcmp(product, "bestays") == 0 ? 'b' : 'e');
    {
        const char *params[] = {product,     id,
                                doc->title,  doc->content,
                                doc->status, doc->deleted ? "yes" : NULL,
                                model};

        result = exec_params(
            conn,
            "INSERT INTO faq_documents (product, id, title, content, status, "
            "version, embedding_model, deleted_at) VALUES ($1, $2, $3, $4, "
            "$5, 1, $7, CASE WHEN $6::text IS NULL THEN NULL ELSE now() END)",
            7, params);
    }
    for (int i = 0; result == 0 && i < 2; i++) {
        char *vector = vector_literal(emb, texts[i]);
        char index[8];
        const char *params[] = {product, id, index, texts[i], vector, model};

        snprintf(index, sizeof(index), "%d", i);
        if (!vector)
            return -1;
        result = exec_params(
            conn,
            "INSERT INTO faq_embeddings (product, document_id, chunk_index, "
            "chunk_text, embedding, model) VALUES ($1, $2, $3::int, $4, "
            "$5::real[], $6)",
            6, params);
        free(vector);
    }
    return result;
}

/* Bumps the product's generation and sets its model (upsert). */
static int bump(PGconn *conn, const char *product, const char *model)
{
    const char *params[] = {product, model};

    return exec_params(
        conn,
        "INSERT INTO faq_index_state (product, generation, model) "
        "VALUES ($1, 1, $2) ON CONFLICT (product) DO UPDATE SET "
        "generation = faq_index_state.generation + 1, model = $2, "
        "updated_at = now()",
        2, params);
}

static PGconn *superuser(void)
{
    return bs_pg_connect(&pg_env, dbname, NULL);
}

/* ---- HTTP ---------------------------------------------------------------- */

struct reply {
    long status;
    json_t *json;
    char *body;
};

static void request(struct bs_svc *svc, const char *method, const char *path,
                    const char *const headers[], const char *body,
                    struct reply *reply)
{
    reply->body = NULL;
    reply->status = bs_svc_http(svc, method, path, headers, body,
                                body ? strlen(body) : 0, &reply->body);
    reply->json = reply->body ? json_loads(reply->body, 0, NULL) : NULL;
}

static void get(struct bs_svc *svc, const char *path, struct reply *reply)
{
    request(svc, "GET", path, NULL, NULL, reply);
}

static void reply_clear(struct reply *reply)
{
    json_decref(reply->json);
    free(reply->body);
    memset(reply, 0, sizeof(*reply));
}

static const char *error_code(const struct reply *reply)
{
    const char *code = json_string_value(
        json_object_get(json_object_get(reply->json, "error"), "code"));

    return code ? code : "";
}

static void expect_400(struct bs_svc *svc, const char *path, const char *code)
{
    struct reply reply;

    get(svc, path, &reply);
    BS_ASSERT_INT_EQ(reply.status, 400);
    BS_ASSERT_STR_EQ(error_code(&reply), code);
    reply_clear(&reply);
}

/* The document ids of a search answer ("results" or "passages"),
 * comma-joined, into buf; also checks every id ends in `letter`. */
static const char *hit_ids(const struct reply *reply, const char *member,
                           char letter, char *buf, size_t size)
{
    json_t *list = json_object_get(reply->json, member);
    json_t *hit;
    size_t i;

    buf[0] = '\0';
    CU_ASSERT_TRUE(json_is_array(list));
    json_array_foreach(list, i, hit)
    {
        const char *id = json_string_value(json_object_get(hit, "document_id"));

        CU_ASSERT_PTR_NOT_NULL(id);
        if (!id)
            continue;
        CU_ASSERT_EQUAL(id[strlen(id) - 1], letter);
        if (buf[0])
            strncat(buf, ",", size - strlen(buf) - 1);
        strncat(buf, id, size - strlen(buf) - 1);
    }
    return buf;
}

/* The first result's id of a search for q (URL-encoded) with k=20. */
static void search(struct bs_svc *svc, const char *q, struct reply *reply)
{
    char path[512];

    snprintf(path, sizeof(path), "/api/v1/faqs/search?q=%s&k=20", q);
    get(svc, path, reply);
}

static const char *top_id(const struct reply *reply)
{
    const char *id = json_string_value(json_object_get(
        json_array_get(json_object_get(reply->json, "results"), 0),
        "document_id"));

    return id ? id : "";
}

/* ---- tests --------------------------------------------------------------- */

static void test_each_product_finds_only_its_documents(void)
{
    struct reply reply;
    char ids[2048];

    search(&bestays, "are%20dogs%20allowed", &reply);
    BS_ASSERT_INT_EQ(reply.status, 200);
    BS_ASSERT_STR_EQ(json_string_value(json_object_get(reply.json, "product")),
                     "bestays");
    BS_ASSERT_STR_EQ(json_string_value(json_object_get(reply.json, "model")),
                     bs_embedder_model(embedder));
    hit_ids(&reply, "results", 'b', ids, sizeof(ids));
    BS_ASSERT_STR_EQ(top_id(&reply), PETS "b");
    {
        json_t *first =
            json_array_get(json_object_get(reply.json, "results"), 0);

        BS_ASSERT_STR_EQ(json_string_value(json_object_get(first, "title")),
                         "Are pets allowed?");
        CU_ASSERT_TRUE(json_is_real(json_object_get(first, "score")));
        CU_ASSERT_TRUE(json_is_string(json_object_get(first, "chunk")));
        CU_ASSERT_TRUE(json_is_integer(json_object_get(first, "chunk_index")));
        CU_ASSERT_TRUE(json_is_null(json_object_get(first, "category")));
    }
    reply_clear(&reply);

    search(&realestate, "are%20dogs%20allowed", &reply);
    BS_ASSERT_INT_EQ(reply.status, 200);
    BS_ASSERT_STR_EQ(json_string_value(json_object_get(reply.json, "product")),
                     "realestate");
    hit_ids(&reply, "results", 'e', ids, sizeof(ids));
    BS_ASSERT_STR_EQ(top_id(&reply), PETS "e");
    reply_clear(&reply);
}

static void test_unpublished_documents_never_appear(void)
{
    struct reply reply;
    char ids[2048];

    /* Only the draft and the deleted page say "zebra". */
    search(&bestays, "zebra%20zebra%20stripes", &reply);
    BS_ASSERT_INT_EQ(reply.status, 200);
    hit_ids(&reply, "results", 'b', ids, sizeof(ids));
    CU_ASSERT_PTR_NULL(strstr(ids, DRAFT));
    CU_ASSERT_PTR_NULL(strstr(ids, DELETED));
    /* k=20 shows every published document: exactly the four. */
    BS_ASSERT_INT_EQ(json_array_size(json_object_get(reply.json, "results")),
                     4);
    reply_clear(&reply);
}

static void test_public_get_is_published_and_product_scoped(void)
{
    struct reply reply;

    get(&bestays, "/api/v1/faqs/" PETS "b", &reply);
    BS_ASSERT_INT_EQ(reply.status, 200);
    BS_ASSERT_STR_EQ(json_string_value(json_object_get(reply.json, "content")),
                     docs[0].content);
    BS_ASSERT_INT_EQ(json_integer_value(json_object_get(reply.json, "version")),
                     1);
    reply_clear(&reply);

    get(&realestate, "/api/v1/faqs/" PETS "b", &reply); /* bestays' id */
    BS_ASSERT_INT_EQ(reply.status, 404);
    BS_ASSERT_STR_EQ(error_code(&reply), "not_found");
    reply_clear(&reply);
    get(&bestays, "/api/v1/faqs/" DRAFT "b", &reply);
    BS_ASSERT_INT_EQ(reply.status, 404);
    reply_clear(&reply);
    get(&bestays, "/api/v1/faqs/" DELETED "b", &reply);
    BS_ASSERT_INT_EQ(reply.status, 404);
    reply_clear(&reply);
    expect_400(&bestays, "/api/v1/faqs/not-a-uuid", "invalid_id");

    /* /faqs/context is POST only; it is not taken for an {id}. */
    get(&bestays, "/api/v1/faqs/context", &reply);
    BS_ASSERT_INT_EQ(reply.status, 405);
    reply_clear(&reply);
    request(&bestays, "OPTIONS", "/api/v1/faqs/search", NULL, NULL, &reply);
    BS_ASSERT_INT_EQ(reply.status, 204);
    reply_clear(&reply);
}

static void test_new_generation_is_picked_up(void)
{
    static const struct doc sauna = {
        SAUNA, "Is there a sauna?",
        "A wood-fired sauna is free for guests every evening.", "published",
        false};
    PGconn *conn = superuser();
    struct reply reply;
    char ids[2048];

    /* Warm the index, then change the rows and bump the generation. */
    search(&bestays, "sauna", &reply);
    reply_clear(&reply);
    CU_ASSERT_EQUAL_FATAL(insert_doc(conn, "bestays", &sauna, embedder), 0);
    CU_ASSERT_EQUAL(bs_pg_exec(conn,
                               "UPDATE faq_documents SET status = 'archived' "
                               "WHERE product = 'bestays' AND id = '" ARCHIVING
                               "b'",
                               NULL),
                    0);
    CU_ASSERT_EQUAL(bump(conn, "bestays", bs_embedder_model(embedder)), 0);
    PQfinish(conn);

    search(&bestays, "wood%20fired%20sauna", &reply);
    BS_ASSERT_INT_EQ(reply.status, 200);
    BS_ASSERT_STR_EQ(top_id(&reply), SAUNA "b");
    hit_ids(&reply, "results", 'b', ids, sizeof(ids));
    CU_ASSERT_PTR_NULL(strstr(ids, ARCHIVING)); /* archived: gone */
    reply_clear(&reply);

    /* realestate has no sauna and still its gym. */
    search(&realestate, "wood%20fired%20sauna", &reply);
    hit_ids(&reply, "results", 'e', ids, sizeof(ids));
    CU_ASSERT_PTR_NULL(strstr(ids, SAUNA));
    CU_ASSERT_PTR_NOT_NULL(strstr(ids, ARCHIVING));
    reply_clear(&reply);
}

static void test_bad_queries_are_400(void)
{
    expect_400(&bestays, "/api/v1/faqs/search", "invalid_query");
    expect_400(&bestays, "/api/v1/faqs/search?q=", "invalid_query");
    expect_400(&bestays, "/api/v1/faqs/search?q=pets&k=0", "invalid_k");
    expect_400(&bestays, "/api/v1/faqs/search?q=pets&k=21", "invalid_k");
    expect_400(&bestays, "/api/v1/faqs/search?q=pets&k=abc", "invalid_k");
    expect_400(&bestays, "/api/v1/faqs/search?q=pets&k=-1", "invalid_k");
    expect_400(&bestays,
               "/api/v1/faqs/search?q=pets&category=", "invalid_category");
    expect_400(&bestays, "/api/v1/faqs/search?q=%FF%FEpets", "invalid_query");
    {
        char path[700] = "/api/v1/faqs/search?q=";
        size_t len = strlen(path);

        memset(path + len, 'a', 501);
        path[len + 501] = '\0';
        expect_400(&bestays, path, "invalid_query");
    }
}

static void test_category_filter_and_k(void)
{
    struct reply reply;

    get(&bestays, "/api/v1/faqs/search?q=checkout&k=1", &reply);
    BS_ASSERT_INT_EQ(reply.status, 200);
    BS_ASSERT_INT_EQ(json_array_size(json_object_get(reply.json, "results")),
                     1);
    BS_ASSERT_STR_EQ(top_id(&reply), CHECKOUT "b");
    reply_clear(&reply);
    get(&bestays, "/api/v1/faqs/search?q=checkout&category=house-rules",
        &reply);
    BS_ASSERT_INT_EQ(reply.status, 200);
    BS_ASSERT_INT_EQ(json_array_size(json_object_get(reply.json, "results")),
                     1);
    BS_ASSERT_STR_EQ(top_id(&reply), PARKING "b");
    reply_clear(&reply);
}

static void test_context_returns_passages(void)
{
    const char *headers[] = {"Content-Type: application/json", NULL};
    struct reply reply;
    char ids[2048];

    request(&bestays, "POST", "/api/v1/faqs/context", headers,
            "{\"question\":\"when is checkout\",\"k\":2}", &reply);
    BS_ASSERT_INT_EQ(reply.status, 200);
    BS_ASSERT_STR_EQ(json_string_value(json_object_get(reply.json, "product")),
                     "bestays");
    hit_ids(&reply, "passages", 'b', ids, sizeof(ids));
    BS_ASSERT_INT_EQ(json_array_size(json_object_get(reply.json, "passages")),
                     2);
    BS_ASSERT_STR_EQ(
        json_string_value(json_object_get(
            json_array_get(json_object_get(reply.json, "passages"), 0),
            "document_id")),
        CHECKOUT "b");
    reply_clear(&reply);

    request(&bestays, "POST", "/api/v1/faqs/context", headers,
            "{\"question\":\"pets\",\"extra\":1}", &reply);
    BS_ASSERT_INT_EQ(reply.status, 400);
    BS_ASSERT_STR_EQ(error_code(&reply), "invalid_body");
    reply_clear(&reply);
    request(&bestays, "POST", "/api/v1/faqs/context", headers, "{\"k\":2}",
            &reply);
    BS_ASSERT_INT_EQ(reply.status, 400);
    reply_clear(&reply);
    request(&bestays, "POST", "/api/v1/faqs/context", headers,
            "{\"question\":\"pets\",\"k\":\"2\"}", &reply);
    BS_ASSERT_INT_EQ(reply.status, 400);
    reply_clear(&reply);
    request(&bestays, "POST", "/api/v1/faqs/context", headers, "not json",
            &reply);
    BS_ASSERT_INT_EQ(reply.status, 400);
    reply_clear(&reply);
}

static void test_tokens_are_optional_but_checked(void)
{
    char *token = bs_test_session_token(bestays_key, "user_x", FRONTEND, 300);
    char auth[8192];
    const char *good[] = {auth, NULL};
    const char *bad[] = {"Authorization: Bearer not.a.token", NULL};
    struct reply reply;

    snprintf(auth, sizeof(auth), "Authorization: Bearer %s", token);
    request(&bestays, "GET", "/api/v1/faqs/search?q=pets", good, NULL, &reply);
    BS_ASSERT_INT_EQ(reply.status, 200);
    reply_clear(&reply);
    request(&bestays, "GET", "/api/v1/faqs/search?q=pets", bad, NULL, &reply);
    BS_ASSERT_INT_EQ(reply.status, 401);
    BS_ASSERT_STR_EQ(error_code(&reply), "unauthenticated");
    reply_clear(&reply);
    free(token);
}

/* Last: realestate's rows move to another model than its gateway's. */
static void test_model_mismatch_is_503_naming_both(void)
{
    struct bs_embedder *small;
    PGconn *conn = superuser();
    struct reply reply;
    char errstr[256];
    const char *other;

    CU_ASSERT_EQUAL_FATAL(
        bs_embedder_new_hash(128, &small, errstr, sizeof(errstr)), BS_OK);
    other = bs_embedder_model(small);
    CU_ASSERT_EQUAL(bs_pg_exec(conn,
                               "DELETE FROM faq_embeddings "
                               "WHERE product = 'realestate'",
                               NULL),
                    0);
    {
        /* A document embedded with the new model, as an indexer would. */
        struct doc moved = docs[0];

        moved.id = "0190f0a4-0000-7000-8000-00000000009";
        CU_ASSERT_EQUAL(insert_doc(conn, "realestate", &moved, small), 0);
    }
    CU_ASSERT_EQUAL(bump(conn, "realestate", other), 0);
    PQfinish(conn);

    search(&realestate, "pets", &reply);
    BS_ASSERT_INT_EQ(reply.status, 503);
    BS_ASSERT_STR_EQ(error_code(&reply), "embedding_model_mismatch");
    CU_ASSERT_PTR_NOT_NULL(strstr(reply.body ? reply.body : "", other));
    CU_ASSERT_PTR_NOT_NULL(
        strstr(reply.body ? reply.body : "", bs_embedder_model(embedder)));
    reply_clear(&reply);

    /* bestays is not affected. */
    search(&bestays, "pets", &reply);
    BS_ASSERT_INT_EQ(reply.status, 200);
    reply_clear(&reply);
    bs_embedder_free(small);
}

/* ---- suite --------------------------------------------------------------- */

static int seed(void)
{
    const char *const products[] = {"bestays", "realestate"};
    PGconn *conn = superuser();
    int result = conn ? 0 : -1;

    if (result == 0)
        result = bs_pg_exec(conn,
                            "INSERT INTO faq_categories (product, id, slug, "
                            "name) VALUES ('bestays', 1, 'house-rules', "
                            "'House rules'), ('realestate', 2, 'house-rules', "
                            "'House rules')",
                            NULL);
    for (size_t p = 0; result == 0 && p < 2; p++) {
        for (size_t i = 0; result == 0 && i < sizeof(docs) / sizeof(docs[0]);
             i++)
            result = insert_doc(conn, products[p], &docs[i], embedder);
        if (result == 0)
            result = bump(conn, products[p], bs_embedder_model(embedder));
    }
    /* Parking is the only house rule in each product. */
    if (result == 0)
        result = bs_pg_exec(
            conn,
            "UPDATE faq_documents SET category_id = CASE product "
            "WHEN 'bestays' THEN 1 ELSE 2 END WHERE id::text LIKE '" PARKING
            "_'",
            NULL);
    PQfinish(conn);
    return result;
}

static int start_gateway(struct bs_svc *svc, const char *product, EVP_PKEY *key)
{
    char product_env[64], db_env[600], kafka_env[600], key_env[4096],
        conninfo[512];
    char *bootstrap = bs_broker_bootstrap();
    char *pem = bs_test_public_pem(key);
    const char *env[] = {product_env,
                         db_env,
                         kafka_env,
                         key_env,
                         "CLERK_AUTHORIZED_PARTIES=" FRONTEND,
                         "EMBEDDER=hash",
                         "EMBEDDINGS_DIM=256",
                         "HTTP_THREADS=4",
                         NULL};
    int result;

    bs_pg_conninfo(&pg_env, dbname, BS_PG_SERVICE_ROLE, conninfo,
                   sizeof(conninfo));
    snprintf(product_env, sizeof(product_env), "PRODUCT=%s", product);
    snprintf(db_env, sizeof(db_env), "DATABASE_URL=%s", conninfo);
    snprintf(kafka_env, sizeof(kafka_env), "KAFKA_BOOTSTRAP_SERVERS=%s",
             bootstrap ? bootstrap : "");
    snprintf(key_env, sizeof(key_env), "CLERK_JWT_KEY=%s", pem);
    result = bs_svc_start(svc, "services/api-gateway/api-gateway",
                          strcmp(product, "bestays") == 0
                              ? "gateway-search-bestays"
                              : "gateway-search-realestate",
                          env);
    free(bootstrap);
    free(pem);
    return result;
}

static int search_init(void)
{
    const char *const up[] = {"up", NULL};
    char errstr[256];
    EVP_PKEY *re_key;
    int result;

    if (bs_embedder_new_hash(DIM, &embedder, errstr, sizeof(errstr)) != BS_OK ||
        bs_pg_env_load(&pg_env) != 0 ||
        bs_pg_create_database(&pg_env, "gws", dbname, sizeof(dbname)) != 0 ||
        bs_pg_migrate(&pg_env, dbname, up, NULL) != 0 || seed() != 0)
        return -1;
    bestays_key = EVP_RSA_gen(2048);
    re_key = EVP_RSA_gen(2048);
    result = start_gateway(&bestays, "bestays", bestays_key) == 0 &&
                     start_gateway(&realestate, "realestate", re_key) == 0
                 ? 0
                 : -1;
    EVP_PKEY_free(re_key);
    return result;
}

static int search_cleanup(void)
{
    int bs = bs_svc_stop(&bestays, SIGTERM);
    int re = bs_svc_stop(&realestate, SIGTERM);

    EVP_PKEY_free(bestays_key);
    bs_embedder_free(embedder);
    if (dbname[0])
        bs_pg_drop_database(&pg_env, dbname);
    if (bs != 0 || re != 0) {
        fprintf(stderr, "api-gateway exit codes: %d %d\n", bs, re);
        return -1;
    }
    return 0;
}

static CU_TestInfo search_tests[] = {
    {"each_product_finds_only_its_documents",
     test_each_product_finds_only_its_documents},
    {"unpublished_documents_never_appear",
     test_unpublished_documents_never_appear},
    {"public_get_is_published_and_product_scoped",
     test_public_get_is_published_and_product_scoped},
    {"category_filter_and_k", test_category_filter_and_k},
    {"new_generation_is_picked_up", test_new_generation_is_picked_up},
    {"bad_queries_are_400", test_bad_queries_are_400},
    {"context_returns_passages", test_context_returns_passages},
    {"tokens_are_optional_but_checked", test_tokens_are_optional_but_checked},
    {"model_mismatch_is_503_naming_both",
     test_model_mismatch_is_503_naming_both},
    CU_TEST_INFO_NULL,
};

static void register_suites(void)
{
    bs_test_add_suite("gateway_search_two_products", search_init,
                      search_cleanup, search_tests);
}

int main(void)
{
    return bs_test_main(register_suites);
}
