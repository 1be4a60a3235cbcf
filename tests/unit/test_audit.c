/*
 * test_audit.c - bs/audit.h without a database: events into rows (what is
 * kept and what personal data is left out), the canonical JSON, and the row
 * hash (stable, and changed by every field, NULL and "" told apart).
 */
#include "harness.h"

#include "bs/audit.h"
#include "bs/error.h"
#include "bs/events.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct bs_codec *codec;

static int suite_init(void)
{
    char errstr[256];

    return bs_codec_new_builtin(&codec, errstr, sizeof(errstr)) == BS_OK ? 0
                                                                         : -1;
}

static int suite_cleanup(void)
{
    bs_codec_free(codec);
    return 0;
}

/* Encodes with `encode` and maps the bytes back into *row. */
static int map_user(const struct bs_user_event *e, struct bs_audit_row *row)
{
    unsigned char *bytes = NULL;
    size_t len = 0;
    char errstr[256];
    int result =
        bs_user_event_encode(codec, e, &bytes, &len, errstr, sizeof(errstr));

    if (result == BS_OK)
        result = bs_audit_row_from_message(codec, bytes, len, row, errstr,
                                           sizeof(errstr));
    free(bytes);
    return result;
}

static int map_faq(const struct bs_faq_event *e, struct bs_audit_row *row)
{
    unsigned char *bytes = NULL;
    size_t len = 0;
    char errstr[256];
    int result =
        bs_faq_event_encode(codec, e, &bytes, &len, errstr, sizeof(errstr));

    if (result == BS_OK)
        result = bs_audit_row_from_message(codec, bytes, len, row, errstr,
                                           sizeof(errstr));
    free(bytes);
    return result;
}

static int map_audit(const struct bs_audit_event *e, struct bs_audit_row *row)
{
    unsigned char *bytes = NULL;
    size_t len = 0;
    char errstr[256];
    int result =
        bs_audit_event_encode(codec, e, &bytes, &len, errstr, sizeof(errstr));

    if (result == BS_OK)
        result = bs_audit_row_from_message(codec, bytes, len, row, errstr,
                                           sizeof(errstr));
    free(bytes);
    return result;
}

static void test_user_event_row_keeps_no_personal_data(void)
{
    struct bs_user_event e = {
        .meta = {.event_id = "msg_1",
                 .product = "bestays",
                 .occurred_at = 1700000000123,
                 .source = "webhook-ingest"},
        .action = BS_USER_CREATED,
        .clerk_user_id = "user_1",
        .email = "ada@example.org",
        .first_name = "Ada",
        .last_name = "Lovelace",
        .role = "admin",
        .image_url = "https://img.example.org/ada.png",
        .has_clerk_updated_at = true,
        .clerk_updated_at = 1700000000000,
    };
    struct bs_audit_row row;

    BS_ASSERT_INT_EQ(map_user(&e, &row), BS_OK);
    BS_ASSERT_STR_EQ(row.product, "bestays");
    BS_ASSERT_STR_EQ(row.event_id, "msg_1");
    BS_ASSERT_STR_EQ(row.actor_id, "clerk");
    BS_ASSERT_STR_EQ(row.action, "user.created");
    BS_ASSERT_STR_EQ(row.entity_type, "user");
    BS_ASSERT_STR_EQ(row.entity_id, "user_1");
    BS_ASSERT_INT_EQ(row.occurred_at_us, 1700000000123000LL);
    BS_ASSERT_STR_EQ(row.changes,
                     "{\"clerk_updated_at\":1700000000000,\"role\":\"admin\"}");
    CU_ASSERT_PTR_NULL(row.request_id);
    CU_ASSERT_PTR_NULL(row.source_topic);
    BS_ASSERT_INT_EQ(row.source_partition, -1);
    bs_audit_row_clear(&row);

    e.action = BS_USER_DELETED;
    e.meta.source = "backfill";
    BS_ASSERT_INT_EQ(map_user(&e, &row), BS_OK);
    BS_ASSERT_STR_EQ(row.action, "user.deleted");
    BS_ASSERT_STR_EQ(row.actor_id, "system");
    CU_ASSERT_PTR_NULL(strstr(row.changes, "admin"));
    bs_audit_row_clear(&row);
}

static void test_faq_event_actions_and_summary(void)
{
    struct bs_faq_event e = {
        .meta = {.event_id = "evt_1",
                 .product = "realestate",
                 .occurred_at = 1,
                 .source = "api-gateway"},
        .action = BS_FAQ_UPSERT,
        .document_id = "doc-1",
        .category = "billing",
        .title = "Secret title",
        .content = "Secret content",
        .status = "published",
        .version = 1,
        .actor_id = "user_editor",
    };
    static const struct {
        enum bs_faq_action action;
        int64_t version;
        const char *name;
    } cases[] = {
        {BS_FAQ_UPSERT, 1, "faq.created"},
        {BS_FAQ_UPSERT, 2, "faq.updated"},
        {BS_FAQ_DELETE, 3, "faq.deleted"},
        {BS_FAQ_REINDEX, 3, "faq.reindexed"},
    };
    struct bs_audit_row row;

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        e.action = cases[i].action;
        e.version = cases[i].version;
        BS_ASSERT_INT_EQ(map_faq(&e, &row), BS_OK);
        BS_ASSERT_STR_EQ(row.action, cases[i].name);
        BS_ASSERT_STR_EQ(row.actor_id, "user_editor");
        BS_ASSERT_STR_EQ(row.entity_type, "faq_document");
        BS_ASSERT_STR_EQ(row.entity_id, "doc-1");
        CU_ASSERT_PTR_NULL(strstr(row.changes, "Secret"));
        CU_ASSERT_PTR_NOT_NULL(strstr(row.changes, "\"status\":\"published\""));
        bs_audit_row_clear(&row);
    }

    e.actor_id = NULL;
    BS_ASSERT_INT_EQ(map_faq(&e, &row), BS_OK);
    BS_ASSERT_STR_EQ(row.actor_id, "system");
    bs_audit_row_clear(&row);
}

static void test_audit_event_keeps_action_and_canonical_changes(void)
{
    struct bs_audit_event e = {
        .meta = {.event_id = "evt_2",
                 .product = "bestays",
                 .occurred_at = 5,
                 .source = "api-gateway"},
        .actor_id = "user_admin",
        .action = "faq.create",
        .entity_type = "faq_document",
        .entity_id = "doc-2",
        .changes = "{ \"version\" : 1, \"fields\" : [\"title\"] }",
        .request_id = "req-9",
    };
    struct bs_audit_row row;

    BS_ASSERT_INT_EQ(map_audit(&e, &row), BS_OK);
    BS_ASSERT_STR_EQ(row.action, "faq.create");
    BS_ASSERT_STR_EQ(row.request_id, "req-9");
    BS_ASSERT_STR_EQ(row.changes, "{\"fields\":[\"title\"],\"version\":1}");
    bs_audit_row_clear(&row);

    e.changes = "[1, 2]";
    BS_ASSERT_INT_EQ(map_audit(&e, &row), BS_EDECODE);
    e.changes = NULL;
    e.actor_id = NULL;
    BS_ASSERT_INT_EQ(map_audit(&e, &row), BS_OK);
    BS_ASSERT_STR_EQ(row.actor_id, "system");
    CU_ASSERT_PTR_NULL(row.changes);
    bs_audit_row_clear(&row);
}

static void test_garbage_is_a_decode_error(void)
{
    static const unsigned char junk[] = {0, 0, 0, 0, 99, 1, 2, 3};
    static const unsigned char unframed[] = {'{', '}'};
    struct bs_audit_row row;
    char errstr[256];

    BS_ASSERT_INT_EQ(bs_audit_row_from_message(codec, junk, sizeof(junk), &row,
                                               errstr, sizeof(errstr)),
                     BS_EDECODE);
    BS_ASSERT_INT_EQ(bs_audit_row_from_message(codec, unframed,
                                               sizeof(unframed), &row, errstr,
                                               sizeof(errstr)),
                     BS_EDECODE);
    CU_ASSERT_PTR_NULL(row.event_id);
}

static void test_canonical_json_is_stable(void)
{
    char *a = NULL, *b = NULL;

    /* What JSONB gives back (spaces, its own key order) canonicalises to
     * what was written. */
    BS_ASSERT_INT_EQ(
        bs_audit_canonical_json("{\"b\":1,\"a\":\"x\"}", &a, NULL, 0), BS_OK);
    BS_ASSERT_INT_EQ(
        bs_audit_canonical_json("{\"a\": \"x\", \"b\": 1}", &b, NULL, 0),
        BS_OK);
    BS_ASSERT_STR_EQ(a, b);
    BS_ASSERT_STR_EQ(a, "{\"a\":\"x\",\"b\":1}");
    free(a);
    free(b);
    BS_ASSERT_INT_EQ(bs_audit_canonical_json("not json", &a, NULL, 0),
                     BS_EDECODE);
    CU_ASSERT_PTR_NULL(a);
}

static struct bs_audit_row sample_row(void)
{
    return (struct bs_audit_row){
        .product = "bestays",
        .event_id = "evt",
        .actor_id = "user_1",
        .action = "faq.updated",
        .entity_type = "faq_document",
        .entity_id = "doc",
        .changes = "{\"version\":2}",
        .request_id = NULL,
        .occurred_at_us = 42,
        .source_topic = "bestays.faq",
        .source_partition = 1,
        .source_offset = 7,
    };
}

static void hash_of(const struct bs_audit_row *row, int64_t seq,
                    const unsigned char *prev, unsigned char *out)
{
    BS_ASSERT_INT_EQ(bs_audit_row_hash(row, seq, prev, out), BS_OK);
}

static void test_hash_covers_every_field(void)
{
    unsigned char base[BS_AUDIT_HASH_SIZE], other[BS_AUDIT_HASH_SIZE];
    unsigned char prev[BS_AUDIT_HASH_SIZE] = {1};
    struct bs_audit_row row = sample_row();
    char **fields[] = {&row.product, &row.event_id,    &row.actor_id,
                       &row.action,  &row.entity_type, &row.entity_id,
                       &row.changes, &row.source_topic};

    hash_of(&row, 3, prev, base);
    hash_of(&row, 3, prev, other);
    CU_ASSERT_EQUAL(memcmp(base, other, sizeof(base)), 0);

    for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
        char *saved = *fields[i];

        *fields[i] = "changed";
        hash_of(&row, 3, prev, other);
        CU_ASSERT_NOT_EQUAL(memcmp(base, other, sizeof(base)), 0);
        *fields[i] = saved;
    }
    row.occurred_at_us++;
    hash_of(&row, 3, prev, other);
    CU_ASSERT_NOT_EQUAL(memcmp(base, other, sizeof(base)), 0);
    row = sample_row();
    row.source_offset++;
    hash_of(&row, 3, prev, other);
    CU_ASSERT_NOT_EQUAL(memcmp(base, other, sizeof(base)), 0);
    row = sample_row();
    hash_of(&row, 4, prev, other);
    CU_ASSERT_NOT_EQUAL(memcmp(base, other, sizeof(base)), 0);
    hash_of(&row, 3, NULL, other);
    CU_ASSERT_NOT_EQUAL(memcmp(base, other, sizeof(base)), 0);

    /* NULL and "" differ; moving bytes between fields changes the hash. */
    row.request_id = "";
    hash_of(&row, 3, prev, other);
    CU_ASSERT_NOT_EQUAL(memcmp(base, other, sizeof(base)), 0);
    row = sample_row();
    row.action = "faq.updatedfaq";
    row.entity_type = "_document";
    hash_of(&row, 3, prev, other);
    CU_ASSERT_NOT_EQUAL(memcmp(base, other, sizeof(base)), 0);
}

static CU_TestInfo audit_tests[] = {
    {"user_event_row_keeps_no_personal_data",
     test_user_event_row_keeps_no_personal_data},
    {"faq_event_actions_and_summary", test_faq_event_actions_and_summary},
    {"audit_event_keeps_action_and_canonical_changes",
     test_audit_event_keeps_action_and_canonical_changes},
    {"garbage_is_a_decode_error", test_garbage_is_a_decode_error},
    {"canonical_json_is_stable", test_canonical_json_is_stable},
    {"hash_covers_every_field", test_hash_covers_every_field},
    CU_TEST_INFO_NULL,
};

static void register_suites(void)
{
    bs_test_add_suite("audit", suite_init, suite_cleanup, audit_tests);
}

int main(void)
{
    return bs_test_main(register_suites);
}
