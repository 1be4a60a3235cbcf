/*
 * fuzz_gateway_input.c - libFuzzer harness for the gateway's request
 * validation (services/api-gateway/gw_faq_input.h, gw_page.h, gw_ids.h).
 *
 * Input: one mode byte choosing the validator, then the value it gets (a
 * JSON body, a query value, a cursor, a path id or a header value):
 *   0 FAQ create body   1 FAQ update body   2 ?limit=   3 ?cursor=
 *   4 UUID path id      5 Clerk user id     6 If-Match
 * Invariants are the headers' promises: an accepted body is within the
 * documented limits; a limit is 1..GW_LIMIT_MAX; a decoded cursor's key is
 * printable ASCII and encodes back to a cursor that decodes to the same
 * key; a parsed UUID is canonical lowercase and parses again to itself; an
 * If-Match version is positive.
 */
#include "fuzz_input.h"

#include "bs/error.h"
#include "gw_faq_input.h"
#include "gw_ids.h"
#include "gw_page.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static void check_faq_body(const char *body, size_t len, enum gw_faq_mode mode)
{
    struct gw_faq_input input;
    char message[256];
    int result;

    message[0] = '\0';
    result =
        gw_faq_input_parse(body, len, mode, &input, message, sizeof(message));
    if (result != BS_OK) {
        FUZZ_CHECK(result == BS_EINVAL || result == BS_ENOMEM);
        FUZZ_CHECK(input.title == NULL && input.content == NULL &&
                   input.status == NULL && input.category == NULL);
        FUZZ_CHECK(message[0] != '\0');
        return;
    }
    /* A create's default status is the handler's business: NULL here. */
    if (mode == GW_FAQ_CREATE)
        FUZZ_CHECK(input.title && input.content);
    if (input.title)
        FUZZ_CHECK(gw_utf8_length(input.title) >= 1 &&
                   gw_utf8_length(input.title) <= GW_FAQ_TITLE_MAX);
    if (input.content)
        FUZZ_CHECK(gw_utf8_length(input.content) >= 1 &&
                   gw_utf8_length(input.content) <= GW_FAQ_CONTENT_MAX);
    if (input.status)
        FUZZ_CHECK(gw_faq_status_valid(input.status));
    if (input.category) {
        size_t n = strlen(input.category);

        FUZZ_CHECK(input.has_category);
        FUZZ_CHECK(n >= 1 && n <= GW_FAQ_CATEGORY_MAX);
        FUZZ_CHECK(strspn(input.category, "abcdefghijklmnopqrstuvwxyz"
                                          "0123456789-") == n);
    }
    gw_faq_input_clear(&input);
}

static void check_limit(const char *text)
{
    unsigned limit = 0;

    if (gw_limit_parse(text, &limit) == BS_OK)
        FUZZ_CHECK(limit >= 1 && limit <= GW_LIMIT_MAX);
}

static void check_cursor(const char *text)
{
    char key[GW_KEY_MAX], again[GW_KEY_MAX];
    char cursor[GW_CURSOR_MAX + 1];

    if (gw_cursor_decode(text, key, sizeof(key)) != BS_OK)
        return;
    FUZZ_CHECK(key[0] != '\0');
    for (const char *p = key; *p; p++)
        FUZZ_CHECK(*p >= 0x21 && *p <= 0x7e);
    FUZZ_CHECK(gw_cursor_encode(key, cursor, sizeof(cursor)) == BS_OK);
    FUZZ_CHECK(gw_cursor_decode(cursor, again, sizeof(again)) == BS_OK);
    FUZZ_CHECK(strcmp(key, again) == 0);
}

static void check_uuid(const char *text)
{
    char out[GW_UUID_SIZE], again[GW_UUID_SIZE];

    if (!gw_uuid_parse(text, out))
        return;
    FUZZ_CHECK(strlen(out) == GW_UUID_SIZE - 1);
    for (const char *p = out; *p; p++)
        FUZZ_CHECK(!isupper((unsigned char)*p));
    FUZZ_CHECK(gw_uuid_parse(out, again) && strcmp(out, again) == 0);
    FUZZ_CHECK(strncasecmp(text, out, GW_UUID_SIZE) == 0);
}

static void check_clerk_id(const char *text)
{
    size_t n = strlen(text);

    if (!gw_clerk_id_valid(text))
        return;
    FUZZ_CHECK(n >= 1 && n <= GW_CLERK_ID_MAX);
    FUZZ_CHECK(strspn(text, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvw"
                            "xyz0123456789_-") == n);
}

static void check_if_match(const char *text)
{
    int64_t version = 0;

    if (gw_if_match_parse(text, &version) == BS_OK)
        FUZZ_CHECK(version > 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fuzz_input in = {data, size};
    uint8_t mode = fuzz_byte(&in);
    size_t len;
    char *value = fuzz_rest(&in, &len);

    switch (mode % 7) {
    case 0:
        check_faq_body(value, len, GW_FAQ_CREATE);
        break;
    case 1:
        check_faq_body(value, len, GW_FAQ_UPDATE);
        break;
    case 2:
        check_limit(value);
        break;
    case 3:
        check_cursor(value);
        break;
    case 4:
        check_uuid(value);
        break;
    case 5:
        check_clerk_id(value);
        break;
    default:
        check_if_match(value);
        break;
    }
    free(value);
    return 0;
}
