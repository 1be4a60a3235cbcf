/*
 * test_clerk_event.c - Clerk webhook bodies mapped to UserEvent: the
 * reference payloads from Clerk's docs and spec, then hostile ones.
 */
#include "harness.h"

#include "clerk_event.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SVIX_ID     "msg_2Zt1v6Rt3UjG0nn1uPDi6VpQvVs"
#define RECEIVED_AT 1700000000123LL

static enum clerk_map_result map_text(const char *body,
                                      struct bs_user_event *event, char *type,
                                      size_t type_size, char *reason,
                                      size_t reason_size)
{
    struct clerk_map_input input = {
        .body = body,
        .body_len = strlen(body),
        .svix_id = SVIX_ID,
        .product = "realestate",
        .source = "webhook-ingest",
        .received_at = RECEIVED_AT,
    };

    return clerk_map_webhook(&input, event, type, type_size, reason,
                             reason_size);
}

static char *fixture(const char *name)
{
    char relative[256], path[1024];
    char *text;

    snprintf(relative, sizeof(relative), "tests/data/clerk/%s", name);
    text = bs_test_read_file(bs_test_source_path(relative, path, sizeof(path)));
    CU_ASSERT_PTR_NOT_NULL_FATAL(text);
    return text;
}

static void test_reference_user_created_maps_every_field(void)
{
    char *body = fixture("user_created.json");
    struct bs_user_event event;
    char type[64], reason[256];

    BS_ASSERT_INT_EQ(
        map_text(body, &event, type, sizeof(type), reason, sizeof(reason)),
        CLERK_MAP_USER_EVENT);
    BS_ASSERT_STR_EQ(type, "user.created");
    BS_ASSERT_INT_EQ(event.action, BS_USER_CREATED);
    BS_ASSERT_STR_EQ(event.meta.event_id, SVIX_ID);
    BS_ASSERT_STR_EQ(event.meta.product, "realestate");
    BS_ASSERT_STR_EQ(event.meta.source, "webhook-ingest");
    BS_ASSERT_INT_EQ(event.meta.occurred_at, RECEIVED_AT);
    BS_ASSERT_STR_EQ(event.clerk_user_id, "user_29w83sxmDNGwOuEthce5gg56FcC");
    BS_ASSERT_STR_EQ(event.email, "example@example.org");
    BS_ASSERT_STR_EQ(event.first_name, "Example");
    BS_ASSERT_STR_EQ(event.last_name, "Example");
    BS_ASSERT_STR_EQ(event.image_url, "https://img.clerk.com/xxxxxx");
    CU_ASSERT_PTR_NULL(event.role);
    CU_ASSERT_TRUE(event.has_clerk_updated_at);
    BS_ASSERT_INT_EQ(event.clerk_updated_at, 1654012591835LL);
    bs_user_event_clear(&event);
    free(body);
}

static void test_reference_user_updated_without_listed_primary_email(void)
{
    char *body = fixture("user_updated.json");
    struct bs_user_event event;
    char reason[256];

    BS_ASSERT_INT_EQ(map_text(body, &event, NULL, 0, reason, sizeof(reason)),
                     CLERK_MAP_USER_EVENT);
    BS_ASSERT_INT_EQ(event.action, BS_USER_UPDATED);
    BS_ASSERT_STR_EQ(event.clerk_user_id, "user_2g7np7Hrk0SN6kj5EDMLDaKNL0S");
    BS_ASSERT_STR_EQ(event.last_name, "Doe Updated");
    /* The spec's example names a primary address but lists none. */
    CU_ASSERT_PTR_NULL(event.email);
    /* public_metadata holds a department, not a role. */
    CU_ASSERT_PTR_NULL(event.role);
    BS_ASSERT_INT_EQ(event.clerk_updated_at, 1716883500000LL);
    bs_user_event_clear(&event);
    free(body);
}

static void test_reference_user_deleted_is_a_tombstone(void)
{
    char *body = fixture("user_deleted.json");
    struct bs_user_event event;
    char reason[256];

    BS_ASSERT_INT_EQ(map_text(body, &event, NULL, 0, reason, sizeof(reason)),
                     CLERK_MAP_USER_EVENT);
    BS_ASSERT_INT_EQ(event.action, BS_USER_DELETED);
    BS_ASSERT_STR_EQ(event.clerk_user_id, "user_2g7np7Hrk0SN6kj5EDMLDaKNL0S");
    CU_ASSERT_FALSE(event.has_clerk_updated_at);
    CU_ASSERT_PTR_NULL(event.email);
    bs_user_event_clear(&event);
    free(body);
}

static void test_role_comes_from_public_metadata(void)
{
    const char *body =
        "{\"type\":\"user.updated\",\"data\":{\"id\":\"user_1\","
        "\"updated_at\":5,\"public_metadata\":{\"role\":\"admin\"},"
        "\"primary_email_address_id\":\"idn_2\",\"email_addresses\":["
        "{\"id\":\"idn_1\",\"email_address\":\"old@example.org\"},"
        "{\"id\":\"idn_2\",\"email_address\":\"new@example.org\"}]}}";
    struct bs_user_event event;
    char reason[256];

    BS_ASSERT_INT_EQ(map_text(body, &event, NULL, 0, reason, sizeof(reason)),
                     CLERK_MAP_USER_EVENT);
    BS_ASSERT_STR_EQ(event.role, "admin");
    BS_ASSERT_STR_EQ(event.email, "new@example.org");
    bs_user_event_clear(&event);
}

static void test_no_primary_email_gives_event_without_email(void)
{
    const char *body = "{\"type\":\"user.created\",\"data\":{\"id\":\"user_1\","
                       "\"updated_at\":5,\"primary_email_address_id\":null,"
                       "\"email_addresses\":[{\"id\":\"idn_1\","
                       "\"email_address\":\"a@example.org\"}]}}";
    struct bs_user_event event;
    char reason[256];

    BS_ASSERT_INT_EQ(map_text(body, &event, NULL, 0, reason, sizeof(reason)),
                     CLERK_MAP_USER_EVENT);
    CU_ASSERT_PTR_NULL(event.email);
    bs_user_event_clear(&event);
}

static void test_other_event_types_are_reported_not_mapped(void)
{
    const char *body = "{\"type\":\"session.created\",\"object\":\"event\","
                       "\"data\":{\"id\":\"sess_1\"}}";
    struct bs_user_event event;
    char type[64], reason[256];

    BS_ASSERT_INT_EQ(
        map_text(body, &event, type, sizeof(type), reason, sizeof(reason)),
        CLERK_MAP_OTHER_TYPE);
    BS_ASSERT_STR_EQ(type, "session.created");
    CU_ASSERT_PTR_NULL(event.clerk_user_id);
}

/* Each hostile body must be refused with a reason containing `expect`. */
static void expect_invalid(const char *body, const char *expect)
{
    struct bs_user_event event;
    char reason[256] = "";
    enum clerk_map_result result;

    result = map_text(body, &event, NULL, 0, reason, sizeof(reason));
    BS_ASSERT_INT_EQ(result, CLERK_MAP_INVALID);
    if (!strstr(reason, expect))
        BS_ASSERT_STR_EQ(reason, expect);
    CU_ASSERT_PTR_NULL(event.clerk_user_id);
    CU_ASSERT_PTR_NULL(event.meta.event_id);
}

static void test_hostile_bodies_are_invalid_with_a_reason(void)
{
    expect_invalid("", "not JSON");
    expect_invalid("{\"type\":\"user.created\"", "not JSON");
    expect_invalid("[1,2,3]", "envelope");
    expect_invalid("{\"data\":{}}", "envelope");
    expect_invalid("{\"type\":7,\"data\":{}}", "envelope");
    expect_invalid("{\"type\":\"user.created\"}", "'data'");
    expect_invalid("{\"type\":\"user.created\",\"data\":[]}", "'data'");
    expect_invalid("{\"type\":\"user.created\",\"data\":{\"updated_at\":1}}",
                   "data.id");
    expect_invalid("{\"type\":\"user.created\",\"data\":{\"id\":42,"
                   "\"updated_at\":1}}",
                   "data.id");
    expect_invalid("{\"type\":\"user.created\",\"data\":{\"id\":\"\","
                   "\"updated_at\":1}}",
                   "data.id");
    expect_invalid("{\"type\":\"user.updated\",\"data\":{\"id\":\"u\"}}",
                   "updated_at");
    expect_invalid("{\"type\":\"user.updated\",\"data\":{\"id\":\"u\","
                   "\"updated_at\":\"5\"}}",
                   "updated_at");
    expect_invalid("{\"type\":\"user.updated\",\"data\":{\"id\":\"u\","
                   "\"updated_at\":-5}}",
                   "updated_at");
    expect_invalid("{\"type\":\"user.updated\",\"data\":{\"id\":\"u\","
                   "\"updated_at\":5,\"first_name\":{}}}",
                   "first_name");
    expect_invalid("{\"type\":\"user.updated\",\"data\":{\"id\":\"u\","
                   "\"updated_at\":5,\"last_name\":\"a\\u0000b\"}}",
                   "not JSON"); /* an embedded NUL is refused by the parser */
    expect_invalid("{\"type\":\"user.updated\",\"data\":{\"id\":\"u\","
                   "\"updated_at\":5,\"email_addresses\":{},"
                   "\"primary_email_address_id\":\"x\"}}",
                   "email_addresses");
    expect_invalid("{\"type\":\"user.updated\",\"data\":{\"id\":\"u\","
                   "\"updated_at\":5,\"public_metadata\":{\"role\":\"root\"}}}",
                   "role");
    expect_invalid("{\"type\":\"user.updated\",\"data\":{\"id\":\"u\","
                   "\"updated_at\":5,\"public_metadata\":{\"role\":1}}}",
                   "role");
    expect_invalid("{\"type\":\"user.updated\",\"data\":{\"id\":\"u\","
                   "\"updated_at\":5,\"public_metadata\":\"admin\"}}",
                   "public_metadata");
    expect_invalid("{\"type\":\"user.deleted\",\"data\":{\"deleted\":true}}",
                   "data.id");
    expect_invalid("{\"type\":\"user.created\",\"type\":\"user.deleted\","
                   "\"data\":{\"id\":\"u\"}}",
                   "not JSON");
}

static void test_huge_strings_are_refused(void)
{
    size_t size = 3 * CLERK_MAX_TEXT + 200;
    char *body = malloc(size);
    char *name = malloc(2 * CLERK_MAX_TEXT);

    CU_ASSERT_FATAL(body && name);
    memset(name, 'x', 2 * CLERK_MAX_TEXT - 1);
    name[2 * CLERK_MAX_TEXT - 1] = '\0';
    snprintf(body, size,
             "{\"type\":\"user.created\",\"data\":{\"id\":\"u\","
             "\"updated_at\":5,\"first_name\":\"%s\"}}",
             name);
    expect_invalid(body, "longer than");

    snprintf(body, size,
             "{\"type\":\"user.created\",\"data\":{\"id\":\"%s\","
             "\"updated_at\":5}}",
             name);
    expect_invalid(body, "data.id");
    free(name);
    free(body);
}

static CU_TestInfo reference_tests[] = {
    {"user_created_maps_every_field",
     test_reference_user_created_maps_every_field},
    {"user_updated_without_listed_primary_email",
     test_reference_user_updated_without_listed_primary_email},
    {"user_deleted_is_a_tombstone", test_reference_user_deleted_is_a_tombstone},
    {"role_comes_from_public_metadata", test_role_comes_from_public_metadata},
    {"no_primary_email_gives_event_without_email",
     test_no_primary_email_gives_event_without_email},
    {"other_event_types_are_reported_not_mapped",
     test_other_event_types_are_reported_not_mapped},
    CU_TEST_INFO_NULL,
};

static CU_TestInfo hostile_tests[] = {
    {"bodies_are_invalid_with_a_reason",
     test_hostile_bodies_are_invalid_with_a_reason},
    {"huge_strings_are_refused", test_huge_strings_are_refused},
    CU_TEST_INFO_NULL,
};

static void register_suites(void)
{
    bs_test_add_suite("clerk_reference", NULL, NULL, reference_tests);
    bs_test_add_suite("clerk_hostile", NULL, NULL, hostile_tests);
}

int main(void)
{
    return bs_test_main(register_suites);
}
