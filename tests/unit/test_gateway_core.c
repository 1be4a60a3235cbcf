/*
 * test_gateway_core.c - api-gateway's request-independent pieces.
 *
 * UUIDv7 layout and uniqueness, UUID and Clerk id checks, If-Match
 * versions, limits and keyset cursors (round trip and every kind of
 * malformed cursor), and the FAQ body rules (shape, unknown fields, types,
 * lengths in characters, status values, create vs update), and that every
 * route of main.c is in docs/api-gateway.md. Token extraction from headers
 * is covered by test_clerk_jwt. The token and caller caches are driven
 * with explicit clock values, so expiry is tested without sleeping.
 */
#include "harness.h"

#include "gw_faq_input.h"
#include "gw_ids.h"
#include "gw_page.h"
#include "gw_text.h"
#include "gw_caller_cache.h"
#include "gw_token_cache.h"

#include "bs/error.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- ids ------------------------------------------------------------------
 */

static void test_uuid_v7_has_time_version_and_variant(void)
{
    char id[GW_UUID_SIZE];

    /* 2026-01-01T00:00:00Z = 1767225600000 ms = 0x019b76daa800. */
    BS_ASSERT_INT_EQ(gw_uuid_v7(1767225600000LL, id), BS_OK);
    BS_ASSERT_INT_EQ((long long)strlen(id), 36);
    CU_ASSERT_EQUAL(strncmp(id, "019b76da-a800-7", 15), 0);
    CU_ASSERT_PTR_NOT_NULL(strchr("89ab", id[19]));
    CU_ASSERT_TRUE(gw_uuid_parse(id, NULL));
}

static void test_uuid_v7_ids_differ_and_sort_by_time(void)
{
    char a[GW_UUID_SIZE], b[GW_UUID_SIZE], c[GW_UUID_SIZE];

    BS_ASSERT_INT_EQ(gw_uuid_v7(1000, a), BS_OK);
    BS_ASSERT_INT_EQ(gw_uuid_v7(1000, b), BS_OK);
    BS_ASSERT_INT_EQ(gw_uuid_v7(1001, c), BS_OK);
    CU_ASSERT_NOT_EQUAL(strcmp(a, b), 0);
    CU_ASSERT_TRUE(strcmp(a, c) < 0 && strcmp(b, c) < 0);
    BS_ASSERT_INT_EQ(gw_uuid_v7_now(a), BS_OK);
    CU_ASSERT_TRUE(gw_uuid_parse(a, NULL));
}

static void test_uuid_parse_lowercases_and_refuses_other_shapes(void)
{
    char out[GW_UUID_SIZE];

    CU_ASSERT_TRUE(gw_uuid_parse("0190F0A4-1B2C-7D3E-8F40-5A6B7C8D9E0F", out));
    BS_ASSERT_STR_EQ(out, "0190f0a4-1b2c-7d3e-8f40-5a6b7c8d9e0f");
    CU_ASSERT_FALSE(gw_uuid_parse(NULL, out));
    CU_ASSERT_FALSE(gw_uuid_parse("", out));
    CU_ASSERT_FALSE(gw_uuid_parse("not-a-uuid", out));
    CU_ASSERT_FALSE(gw_uuid_parse("0190f0a4-1b2c-7d3e-8f40-5a6b7c8d9e0", out));
    CU_ASSERT_FALSE(gw_uuid_parse("0190f0a41b2c-7d3e-8f40-5a6b7c8d9e0f0", out));
    CU_ASSERT_FALSE(gw_uuid_parse("0190f0a4-1b2c-7d3e-8f40-5a6b7c8d9e0g", out));
    CU_ASSERT_FALSE(gw_uuid_parse("../../../../../../../../../etc/pass", out));
}

static void test_clerk_id_shape(void)
{
    char long_id[GW_CLERK_ID_MAX + 2];

    CU_ASSERT_TRUE(gw_clerk_id_valid("user_2abcDEF123"));
    CU_ASSERT_FALSE(gw_clerk_id_valid(""));
    CU_ASSERT_FALSE(gw_clerk_id_valid(NULL));
    CU_ASSERT_FALSE(gw_clerk_id_valid("user 1"));
    CU_ASSERT_FALSE(gw_clerk_id_valid("../etc"));
    CU_ASSERT_FALSE(gw_clerk_id_valid("user_1'; DROP TABLE users;--"));
    memset(long_id, 'a', sizeof(long_id) - 1);
    long_id[sizeof(long_id) - 1] = '\0';
    CU_ASSERT_FALSE(gw_clerk_id_valid(long_id));
    long_id[GW_CLERK_ID_MAX] = '\0';
    CU_ASSERT_TRUE(gw_clerk_id_valid(long_id));
}

static void test_if_match_forms(void)
{
    int64_t version = 0;

    BS_ASSERT_INT_EQ(gw_if_match_parse("3", &version), BS_OK);
    BS_ASSERT_INT_EQ(version, 3);
    BS_ASSERT_INT_EQ(gw_if_match_parse("\"12\"", &version), BS_OK);
    BS_ASSERT_INT_EQ(version, 12);
    BS_ASSERT_INT_EQ(gw_if_match_parse("W/\"7\"", &version), BS_OK);
    BS_ASSERT_INT_EQ(version, 7);
    BS_ASSERT_INT_EQ(gw_if_match_parse("*", &version), BS_EINVAL);
    BS_ASSERT_INT_EQ(gw_if_match_parse("0", &version), BS_EINVAL);
    BS_ASSERT_INT_EQ(gw_if_match_parse("-1", &version), BS_EINVAL);
    BS_ASSERT_INT_EQ(gw_if_match_parse("\"1\", \"2\"", &version), BS_EINVAL);
    BS_ASSERT_INT_EQ(gw_if_match_parse("\"\"", &version), BS_EINVAL);
    BS_ASSERT_INT_EQ(gw_if_match_parse("99999999999999999999", &version),
                     BS_EINVAL);
    BS_ASSERT_INT_EQ(gw_if_match_parse(NULL, &version), BS_EINVAL);
}

/* ---- pages ----------------------------------------------------------------
 */

static void test_limit_default_bounds_and_junk(void)
{
    unsigned limit = 0;

    BS_ASSERT_INT_EQ(gw_limit_parse(NULL, &limit), BS_OK);
    BS_ASSERT_INT_EQ(limit, GW_LIMIT_DEFAULT);
    BS_ASSERT_INT_EQ(gw_limit_parse("1", &limit), BS_OK);
    BS_ASSERT_INT_EQ(limit, 1);
    BS_ASSERT_INT_EQ(gw_limit_parse("100", &limit), BS_OK);
    BS_ASSERT_INT_EQ(limit, 100);
    BS_ASSERT_INT_EQ(gw_limit_parse("0", &limit), BS_EINVAL);
    BS_ASSERT_INT_EQ(gw_limit_parse("101", &limit), BS_EINVAL);
    BS_ASSERT_INT_EQ(gw_limit_parse("1000", &limit), BS_EINVAL);
    BS_ASSERT_INT_EQ(gw_limit_parse("", &limit), BS_EINVAL);
    BS_ASSERT_INT_EQ(gw_limit_parse("-5", &limit), BS_EINVAL);
    BS_ASSERT_INT_EQ(gw_limit_parse("1e2", &limit), BS_EINVAL);
    BS_ASSERT_INT_EQ(gw_limit_parse(" 5", &limit), BS_EINVAL);
}

static void test_cursor_round_trips_keys_of_every_length(void)
{
    char key[GW_KEY_MAX], cursor[GW_CURSOR_MAX], back[GW_KEY_MAX];

    for (size_t len = 1; len < GW_KEY_MAX; len++) {
        for (size_t i = 0; i < len; i++)
            key[i] = (char)('!' + (i * 7 + len) % 94);
        key[len] = '\0';
        BS_ASSERT_INT_EQ(gw_cursor_encode(key, cursor, sizeof(cursor)), BS_OK);
        CU_ASSERT_PTR_NULL(strpbrk(cursor, "+/="));
        BS_ASSERT_INT_EQ(gw_cursor_decode(cursor, back, sizeof(back)), BS_OK);
        BS_ASSERT_STR_EQ(back, key);
    }
}

static void test_cursor_refuses_what_it_did_not_write(void)
{
    char cursor[GW_CURSOR_MAX], key[GW_KEY_MAX];

    /* Not base64url, bad length, wrong prefix, empty key, control bytes. */
    BS_ASSERT_INT_EQ(gw_cursor_decode("", key, sizeof(key)), BS_EINVAL);
    BS_ASSERT_INT_EQ(gw_cursor_decode(NULL, key, sizeof(key)), BS_EINVAL);
    BS_ASSERT_INT_EQ(gw_cursor_decode("!!!!", key, sizeof(key)), BS_EINVAL);
    BS_ASSERT_INT_EQ(gw_cursor_decode("dj", key, sizeof(key)), BS_EINVAL);
    BS_ASSERT_INT_EQ(gw_cursor_decode("a", key, sizeof(key)), BS_EINVAL);
    BS_ASSERT_INT_EQ(gw_cursor_decode("dXNlcl8x", key, sizeof(key)),
                     BS_EINVAL); /* "user_1" without v1: */
    BS_ASSERT_INT_EQ(gw_cursor_decode("djE6", key, sizeof(key)),
                     BS_EINVAL); /* "v1:" */
    BS_ASSERT_INT_EQ(gw_cursor_decode("djE6YQo", key, sizeof(key)),
                     BS_EINVAL); /* "v1:a\n" */
    BS_ASSERT_INT_EQ(gw_cursor_decode("djE6YQ==", key, sizeof(key)),
                     BS_EINVAL); /* padding is not base64url */
    BS_ASSERT_INT_EQ(gw_cursor_encode("", cursor, sizeof(cursor)), BS_EINVAL);
    BS_ASSERT_INT_EQ(gw_cursor_encode("abc", cursor, 4), BS_EINVAL);

    /* A valid one for contrast. */
    BS_ASSERT_INT_EQ(gw_cursor_decode("djE6YQ", key, sizeof(key)), BS_OK);
    BS_ASSERT_STR_EQ(key, "a");
}

/* ---- FAQ bodies -----------------------------------------------------------
 */

/* Parses `body`; returns the result and leaves the message in `message`. */
static int parse(const char *body, enum gw_faq_mode mode,
                 struct gw_faq_input *input, char *message)
{
    message[0] = '\0';
    return gw_faq_input_parse(body, strlen(body), mode, input, message, 256);
}

static void test_faq_create_takes_all_fields(void)
{
    struct gw_faq_input in;
    char message[256];

    BS_ASSERT_INT_EQ(parse("{\"title\":\"Pets?\",\"content\":\"Yes.\","
                           "\"status\":\"published\",\"category\":\"house-"
                           "rules\"}",
                           GW_FAQ_CREATE, &in, message),
                     BS_OK);
    BS_ASSERT_STR_EQ(in.title, "Pets?");
    BS_ASSERT_STR_EQ(in.content, "Yes.");
    BS_ASSERT_STR_EQ(in.status, "published");
    BS_ASSERT_STR_EQ(in.category, "house-rules");
    CU_ASSERT_TRUE(in.has_category);
    gw_faq_input_clear(&in);
}

static void test_faq_create_needs_title_and_content(void)
{
    struct gw_faq_input in;
    char message[256];

    BS_ASSERT_INT_EQ(parse("{\"content\":\"x\"}", GW_FAQ_CREATE, &in, message),
                     BS_EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(message, "'title' is required"));
    BS_ASSERT_INT_EQ(parse("{\"title\":\"x\"}", GW_FAQ_CREATE, &in, message),
                     BS_EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(message, "'content' is required"));
    CU_ASSERT_PTR_NULL(in.title);
}

static void test_faq_unknown_field_is_named(void)
{
    struct gw_faq_input in;
    char message[256];

    BS_ASSERT_INT_EQ(parse("{\"title\":\"t\",\"content\":\"c\",\"product\":"
                           "\"realestate\"}",
                           GW_FAQ_CREATE, &in, message),
                     BS_EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(message, "unknown field 'product'"));
    CU_ASSERT_PTR_NULL(in.title);
}

static void test_faq_bad_json_shapes_and_types(void)
{
    struct gw_faq_input in;
    char message[256];

    BS_ASSERT_INT_EQ(parse("title=x", GW_FAQ_CREATE, &in, message), BS_EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(message, "not valid JSON"));
    BS_ASSERT_INT_EQ(parse("[1]", GW_FAQ_CREATE, &in, message), BS_EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(message, "JSON object"));
    BS_ASSERT_INT_EQ(
        parse("{\"title\":1,\"content\":\"c\"}", GW_FAQ_CREATE, &in, message),
        BS_EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(message, "'title' must be a string"));
    BS_ASSERT_INT_EQ(parse("{\"title\":\"a\",\"title\":\"b\",\"content\":"
                           "\"c\"}",
                           GW_FAQ_CREATE, &in, message),
                     BS_EINVAL);
    BS_ASSERT_INT_EQ(parse("{\"title\":\"a\\u0000b\",\"content\":\"c\"}",
                           GW_FAQ_CREATE, &in, message),
                     BS_EINVAL);
    BS_ASSERT_INT_EQ(parse("", GW_FAQ_CREATE, &in, message), BS_EINVAL);
}

static void test_faq_lengths_count_characters(void)
{
    char body[2048], title[1024], message[256];
    struct gw_faq_input in;

    /* 200 two-byte characters pass, 201 do not, "" does not. */
    title[0] = '\0';
    for (int i = 0; i < 200; i++)
        strcat(title, "\xc3\xa9");
    snprintf(body, sizeof(body), "{\"title\":\"%s\",\"content\":\"c\"}", title);
    BS_ASSERT_INT_EQ(parse(body, GW_FAQ_CREATE, &in, message), BS_OK);
    BS_ASSERT_INT_EQ((long long)gw_utf8_length(in.title), 200);
    gw_faq_input_clear(&in);
    strcat(title, "x");
    snprintf(body, sizeof(body), "{\"title\":\"%s\",\"content\":\"c\"}", title);
    BS_ASSERT_INT_EQ(parse(body, GW_FAQ_CREATE, &in, message), BS_EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(message, "'title' must be 1 to 200"));
    BS_ASSERT_INT_EQ(parse("{\"title\":\"\",\"content\":\"c\"}", GW_FAQ_CREATE,
                           &in, message),
                     BS_EINVAL);
}

static void test_faq_content_limit(void)
{
    size_t size = GW_FAQ_CONTENT_MAX + 64;
    char *body = malloc(size), message[256];
    struct gw_faq_input in;
    int n = snprintf(body, size, "{\"title\":\"t\",\"content\":\"");

    memset(body + n, 'a', GW_FAQ_CONTENT_MAX);
    strcpy(body + n + GW_FAQ_CONTENT_MAX, "\"}");
    BS_ASSERT_INT_EQ(parse(body, GW_FAQ_CREATE, &in, message), BS_OK);
    gw_faq_input_clear(&in);
    memset(body + n, 'a', GW_FAQ_CONTENT_MAX + 1);
    strcpy(body + n + GW_FAQ_CONTENT_MAX + 1, "\"}");
    BS_ASSERT_INT_EQ(parse(body, GW_FAQ_CREATE, &in, message), BS_EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(message, "'content'"));
    free(body);
}

static void test_faq_status_and_category_values(void)
{
    struct gw_faq_input in;
    char message[256];

    BS_ASSERT_INT_EQ(
        parse("{\"status\":\"live\"}", GW_FAQ_UPDATE, &in, message), BS_EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(message, "'status' must be one of"));
    BS_ASSERT_INT_EQ(
        parse("{\"category\":\"House Rules\"}", GW_FAQ_UPDATE, &in, message),
        BS_EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(message, "'category'"));
    BS_ASSERT_INT_EQ(parse("{\"category\":null}", GW_FAQ_UPDATE, &in, message),
                     BS_OK);
    CU_ASSERT_TRUE(in.has_category);
    CU_ASSERT_PTR_NULL(in.category);
    gw_faq_input_clear(&in);
}

static void test_faq_update_takes_a_subset_but_not_nothing(void)
{
    struct gw_faq_input in;
    char message[256];

    BS_ASSERT_INT_EQ(
        parse("{\"status\":\"archived\"}", GW_FAQ_UPDATE, &in, message), BS_OK);
    BS_ASSERT_STR_EQ(in.status, "archived");
    CU_ASSERT_PTR_NULL(in.title);
    CU_ASSERT_FALSE(in.has_category);
    gw_faq_input_clear(&in);
    BS_ASSERT_INT_EQ(parse("{}", GW_FAQ_UPDATE, &in, message), BS_EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(message, "nothing to change"));
}

/* ---- token cache ----------------------------------------------------------
 */

static void test_token_cache_hits_only_the_same_token_until_expiry(void)
{
    struct gw_token_cache cache;
    struct clerk_jwt_identity in = {.sub = "user_1", .exp = 1000}, out;
    const char *token = "aaa.bbb.ccc";

    BS_ASSERT_INT_EQ(gw_token_cache_init(&cache), BS_OK);
    CU_ASSERT_FALSE(gw_token_cache_get(&cache, token, 11, 900, &out));
    gw_token_cache_put(&cache, token, 11, &in);
    CU_ASSERT_TRUE(gw_token_cache_get(&cache, token, 11, 900, &out));
    BS_ASSERT_STR_EQ(out.sub, "user_1");

    /* Another token, a prefix, and the same token once expired. */
    CU_ASSERT_FALSE(gw_token_cache_get(&cache, "aaa.bbb.ccd", 11, 900, &out));
    CU_ASSERT_FALSE(gw_token_cache_get(&cache, token, 10, 900, &out));
    CU_ASSERT_TRUE(gw_token_cache_get(&cache, token, 11,
                                      1000 + CLERK_JWT_SKEW_SECONDS - 1, &out));
    CU_ASSERT_FALSE(gw_token_cache_get(&cache, token, 11,
                                       1000 + CLERK_JWT_SKEW_SECONDS, &out));
    CU_ASSERT_FALSE(gw_token_cache_get(&cache, token, 11, 900, &out));
    gw_token_cache_destroy(&cache);
}

/* A hit's role and row, checked and freed; false on a miss. */
static bool caller_hit(struct gw_caller_cache *cache, const char *user_id,
                       int64_t now, const char *role, const char *json)
{
    char got_role[GW_CALLER_ROLE_MAX + 1] = "";
    char *got_json = NULL;

    if (!gw_caller_cache_get(cache, user_id, now, got_role, &got_json))
        return false;
    BS_ASSERT_STR_EQ(got_role, role);
    BS_ASSERT_STR_EQ(got_json, json);
    free(got_json);
    return true;
}

static void test_caller_cache_serves_a_row_until_ttl_after_the_read(void)
{
    struct gw_caller_cache cache;

    BS_ASSERT_INT_EQ(gw_caller_cache_init(&cache, 300), BS_OK);
    CU_ASSERT_FALSE(caller_hit(&cache, "user_a", 1000, "", ""));
    /* Read by a lookup that started at 1000: served until 1300. */
    gw_caller_cache_put(&cache, "user_a", "admin", "{\"id\":\"user_a\"}", 1000);
    CU_ASSERT_TRUE(
        caller_hit(&cache, "user_a", 1000, "admin", "{\"id\":\"user_a\"}"));
    CU_ASSERT_TRUE(
        caller_hit(&cache, "user_a", 1299, "admin", "{\"id\":\"user_a\"}"));
    CU_ASSERT_FALSE(caller_hit(&cache, "user_a", 1300, "", ""));
    /* The expired entry was dropped, not revived by an earlier clock. */
    CU_ASSERT_FALSE(caller_hit(&cache, "user_a", 1000, "", ""));
    /* Other ids, prefixes and extensions miss. */
    gw_caller_cache_put(&cache, "user_a", "user", "{}", 2000);
    CU_ASSERT_FALSE(caller_hit(&cache, "user_", 2000, "", ""));
    CU_ASSERT_FALSE(caller_hit(&cache, "user_ab", 2000, "", ""));
    CU_ASSERT_TRUE(caller_hit(&cache, "user_a", 2000, "user", "{}"));
    gw_caller_cache_destroy(&cache);
}

static void test_caller_cache_keeps_the_later_read(void)
{
    struct gw_caller_cache cache;

    BS_ASSERT_INT_EQ(gw_caller_cache_init(&cache, 300), BS_OK);
    /* A lookup started at 2000 (role agent) lands first; a slower one
     * that started at 1900 (still admin) must not replace it. */
    gw_caller_cache_put(&cache, "user_a", "agent", "{\"r\":2}", 2000);
    gw_caller_cache_put(&cache, "user_a", "admin", "{\"r\":1}", 1900);
    CU_ASSERT_TRUE(caller_hit(&cache, "user_a", 2100, "agent", "{\"r\":2}"));
    /* A "no such user" read that started before the entry's read keeps
     * it; one that started later drops it. */
    gw_caller_cache_forget(&cache, "user_a", 1950);
    CU_ASSERT_TRUE(caller_hit(&cache, "user_a", 2100, "agent", "{\"r\":2}"));
    gw_caller_cache_forget(&cache, "user_a", 2050);
    CU_ASSERT_FALSE(caller_hit(&cache, "user_a", 2100, "", ""));
    /* Forgetting stores nothing negative: the next read is cached. */
    gw_caller_cache_put(&cache, "user_a", "user", "{\"r\":3}", 2060);
    CU_ASSERT_TRUE(caller_hit(&cache, "user_a", 2100, "user", "{\"r\":3}"));
    gw_caller_cache_destroy(&cache);
}

static void test_caller_cache_disabled_and_bounded(void)
{
    struct gw_caller_cache cache;
    char id[32], json[64];
    size_t kept = 0;

    BS_ASSERT_INT_EQ(gw_caller_cache_init(&cache, 0), BS_OK);
    gw_caller_cache_put(&cache, "user_a", "admin", "{}", 1000);
    CU_ASSERT_FALSE(caller_hit(&cache, "user_a", 1000, "", ""));
    gw_caller_cache_forget(&cache, "user_a", 1000);
    gw_caller_cache_destroy(&cache);
    BS_ASSERT_INT_EQ(gw_caller_cache_init(&cache, GW_CALLER_CACHE_TTL_MAX + 1),
                     BS_EINVAL);
    gw_caller_cache_destroy(&cache);

    /* Three times the capacity: at most the capacity is kept, each hit is
     * its own user's row, and the last user put is always there. */
    BS_ASSERT_INT_EQ(gw_caller_cache_init(&cache, 1000), BS_OK);
    for (int i = 0; i < 3 * GW_CALLER_CACHE_ENTRIES; i++) {
        snprintf(id, sizeof(id), "user_%d", i);
        snprintf(json, sizeof(json), "{\"id\":\"%s\"}", id);
        gw_caller_cache_put(&cache, id, "user", json, 1000);
    }
    for (int i = 0; i < 3 * GW_CALLER_CACHE_ENTRIES; i++) {
        snprintf(id, sizeof(id), "user_%d", i);
        snprintf(json, sizeof(json), "{\"id\":\"%s\"}", id);
        kept += caller_hit(&cache, id, 1500, "user", json);
    }
    CU_ASSERT_TRUE(kept > 0 && kept <= GW_CALLER_CACHE_ENTRIES);
    CU_ASSERT_TRUE(caller_hit(&cache, id, 1500, "user", json));
    gw_caller_cache_destroy(&cache);
}

/* Threads putting, reading and forgetting overlapping users: every hit
 * must be that user's own row (the sanitizers watch the locking). */
#define CACHE_THREADS 8
#define CACHE_ROUNDS  20000

struct cache_worker {
    struct gw_caller_cache *cache;
    int seed;
    int wrong;
};

static void *cache_worker_run(void *arg)
{
    struct cache_worker *w = arg;
    char id[32], want[64], role[GW_CALLER_ROLE_MAX + 1];
    char *json;

    for (int i = 0; i < CACHE_ROUNDS; i++) {
        int user = (i * 7 + w->seed) % 200;

        snprintf(id, sizeof(id), "user_%d", user);
        snprintf(want, sizeof(want), "{\"id\":\"%s\"}", id);
        if (i % 3 == 0)
            gw_caller_cache_put(w->cache, id, "user", want, i);
        else if (i % 17 == 0)
            gw_caller_cache_forget(w->cache, id, i);
        else if (gw_caller_cache_get(w->cache, id, i, role, &json)) {
            w->wrong += strcmp(json, want) != 0 || strcmp(role, "user") != 0;
            free(json);
        }
    }
    return NULL;
}

static void test_caller_cache_concurrent_hits_are_own_rows(void)
{
    struct gw_caller_cache cache;
    struct cache_worker workers[CACHE_THREADS];
    pthread_t threads[CACHE_THREADS];

    BS_ASSERT_INT_EQ(gw_caller_cache_init(&cache, 1000), BS_OK);
    for (int i = 0; i < CACHE_THREADS; i++) {
        workers[i] = (struct cache_worker){.cache = &cache, .seed = i * 31};
        CU_ASSERT_EQUAL_FATAL(
            pthread_create(&threads[i], NULL, cache_worker_run, &workers[i]),
            0);
    }
    for (int i = 0; i < CACHE_THREADS; i++) {
        pthread_join(threads[i], NULL);
        BS_ASSERT_INT_EQ(workers[i].wrong, 0);
    }
    gw_caller_cache_destroy(&cache);
}

static CU_TestInfo cache_tests[] = {
    {"token_cache_hits_only_the_same_token_until_expiry",
     test_token_cache_hits_only_the_same_token_until_expiry},
    {"caller_cache_serves_a_row_until_ttl_after_the_read",
     test_caller_cache_serves_a_row_until_ttl_after_the_read},
    {"caller_cache_keeps_the_later_read",
     test_caller_cache_keeps_the_later_read},
    {"caller_cache_disabled_and_bounded",
     test_caller_cache_disabled_and_bounded},
    {"caller_cache_concurrent_hits_are_own_rows",
     test_caller_cache_concurrent_hits_are_own_rows},
    CU_TEST_INFO_NULL,
};

/* ---- documentation ------------------------------------------------------- */

/* Every {"METHOD", "/path", handler} of main.c's route table must appear as
 * `METHOD /path` in docs/api-gateway.md. Returns the routes checked. */
static int check_routes_documented(const char *source, const char *docs)
{
    const char *at = strstr(source, "routes[] = {");
    const char *end = at ? strstr(at, "};") : NULL;
    int checked = 0;

    while (at && end && (at = strstr(at, "{\"")) && at < end) {
        char method[16], path[128], wanted[160];

        if (sscanf(at, "{\"%15[A-Z]\", \"%127[^\"]\"", method, path) == 2) {
            snprintf(wanted, sizeof(wanted), "`%s %s`", method, path);
            if (!strstr(docs, wanted))
                fprintf(stderr, "not documented: %s\n", wanted);
            CU_ASSERT_PTR_NOT_NULL(strstr(docs, wanted));
            checked++;
        }
        at += 2;
    }
    return checked;
}

static void test_every_route_is_documented(void)
{
    char path[1024];
    char *source = bs_test_read_file(
        bs_test_source_path("services/api-gateway/main.c", path, sizeof(path)));
    char *docs = bs_test_read_file(
        bs_test_source_path("docs/api-gateway.md", path, sizeof(path)));

    CU_ASSERT_PTR_NOT_NULL_FATAL(source);
    CU_ASSERT_PTR_NOT_NULL_FATAL(docs);
    CU_ASSERT_TRUE(check_routes_documented(source, docs) >= 11);
    CU_ASSERT_PTR_NOT_NULL(strstr(docs, "`GET /healthz`"));
    CU_ASSERT_PTR_NOT_NULL(strstr(docs, "`GET /readyz`"));
    CU_ASSERT_PTR_NOT_NULL(strstr(docs, "`GET /metrics`"));
    free(source);
    free(docs);
}

static CU_TestInfo doc_tests[] = {
    {"every_route_is_documented", test_every_route_is_documented},
    CU_TEST_INFO_NULL,
};

static CU_TestInfo id_tests[] = {
    {"uuid_v7_has_time_version_and_variant",
     test_uuid_v7_has_time_version_and_variant},
    {"uuid_v7_ids_differ_and_sort_by_time",
     test_uuid_v7_ids_differ_and_sort_by_time},
    {"uuid_parse_lowercases_and_refuses_other_shapes",
     test_uuid_parse_lowercases_and_refuses_other_shapes},
    {"clerk_id_shape", test_clerk_id_shape},
    {"if_match_forms", test_if_match_forms},
    CU_TEST_INFO_NULL,
};

/* Query text: well-formed UTF-8 of bounded length; absent is the caller's
 * business. The bad forms are what `%FF`, `%C3%28` and `%C0%AF` decode to. */
static void test_text_valid_refuses_malformed_utf8(void)
{
    CU_ASSERT_TRUE(gw_text_valid(NULL, 10));
    CU_ASSERT_TRUE(gw_text_valid("plain", 10));
    CU_ASSERT_TRUE(gw_text_valid("caf\xc3\xa9", 10));      /* é */
    CU_ASSERT_TRUE(gw_text_valid("\xe0\xb8\x81", 10));     /* Thai ko kai */
    CU_ASSERT_TRUE(gw_text_valid("\xf0\x9f\x8f\xa0", 10)); /* U+1F3E0 */
    CU_ASSERT_FALSE(gw_text_valid("", 10));
    CU_ASSERT_FALSE(gw_text_valid("\xff", 10));
    CU_ASSERT_FALSE(gw_text_valid("a\xc3\x28", 10));    /* bad continuation */
    CU_ASSERT_FALSE(gw_text_valid("\xc0\xaf", 10));     /* overlong '/' */
    CU_ASSERT_FALSE(gw_text_valid("\xe0\x80\xaf", 10)); /* overlong, 3 bytes */
    CU_ASSERT_FALSE(gw_text_valid("\xed\xa0\x80", 10)); /* surrogate */
    CU_ASSERT_FALSE(gw_text_valid("\xf4\x90\x80\x80", 10)); /* > U+10FFFF */
    CU_ASSERT_FALSE(gw_text_valid("caf\xc3", 10));          /* truncated */
}

static void test_text_valid_bounds_bytes(void)
{
    CU_ASSERT_TRUE(gw_text_valid("abcde", 5));
    CU_ASSERT_FALSE(gw_text_valid("abcdef", 5));
    /* Bytes, not characters: "éé" is 4 bytes. */
    CU_ASSERT_TRUE(gw_text_valid("\xc3\xa9\xc3\xa9", 4));
    CU_ASSERT_FALSE(gw_text_valid("\xc3\xa9\xc3\xa9", 3));
}

static CU_TestInfo page_tests[] = {
    {"text_valid_refuses_malformed_utf8",
     test_text_valid_refuses_malformed_utf8},
    {"text_valid_bounds_bytes", test_text_valid_bounds_bytes},
    {"limit_default_bounds_and_junk", test_limit_default_bounds_and_junk},
    {"cursor_round_trips_keys_of_every_length",
     test_cursor_round_trips_keys_of_every_length},
    {"cursor_refuses_what_it_did_not_write",
     test_cursor_refuses_what_it_did_not_write},
    CU_TEST_INFO_NULL,
};

static CU_TestInfo faq_tests[] = {
    {"faq_create_takes_all_fields", test_faq_create_takes_all_fields},
    {"faq_create_needs_title_and_content",
     test_faq_create_needs_title_and_content},
    {"faq_unknown_field_is_named", test_faq_unknown_field_is_named},
    {"faq_bad_json_shapes_and_types", test_faq_bad_json_shapes_and_types},
    {"faq_lengths_count_characters", test_faq_lengths_count_characters},
    {"faq_content_limit", test_faq_content_limit},
    {"faq_status_and_category_values", test_faq_status_and_category_values},
    {"faq_update_takes_a_subset_but_not_nothing",
     test_faq_update_takes_a_subset_but_not_nothing},
    CU_TEST_INFO_NULL,
};

static void register_suites(void)
{
    bs_test_add_suite("gateway_ids", NULL, NULL, id_tests);
    bs_test_add_suite("gateway_page", NULL, NULL, page_tests);
    bs_test_add_suite("gateway_faq_input", NULL, NULL, faq_tests);
    bs_test_add_suite("gateway_token_cache", NULL, NULL, cache_tests);
    bs_test_add_suite("gateway_docs", NULL, NULL, doc_tests);
}

int main(void)
{
    return bs_test_main(register_suites);
}
