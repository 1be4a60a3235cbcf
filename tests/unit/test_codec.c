/*
 * test_codec.c - the Avro codec, the schema catalog and the event structs.
 *
 * Round trips of every contract schema (generic values and the events API),
 * schema evolution between the test-only Widget versions of
 * tests/data/avro/ (ids 101-104 in an empty codec), and malformed input:
 * every truncation, unknown ids, wrong magic, trailing bytes, random and
 * mutated bytes, lying length prefixes. Malformed input must give
 * BS_EDECODE; crashes and leaks are caught by running this under ASan+UBSan
 * and valgrind.
 */
#include "harness.h"

#include "bs/codec.h"
#include "bs/error.h"
#include "bs/events.h"

#include <avro.h>
#include <jansson.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WIDGET_V1 101
#define WIDGET_V2 102
#define WIDGET_V3 103
#define WIDGET_V4 104

#define UNICODE_TEXT "Zoë – 東京 🏠 naïve"

static struct bs_codec *builtin;
static struct bs_codec *widgets;

/*--------------------------------------------------------------------------
 * Fixtures and helpers
 */

static int add_schema_file(struct bs_codec *codec, int32_t id,
                           const char *relative)
{
    char path[1024];
    char errstr[256] = "";
    char *json =
        bs_test_read_file(bs_test_source_path(relative, path, sizeof(path)));
    int result =
        json ? bs_codec_add_schema(codec, id, json, errstr, sizeof(errstr))
             : BS_EIO;

    if (result != BS_OK)
        fprintf(stderr, "cannot add %s: %s\n", path, errstr);
    free(json);
    return result;
}

static int codecs_init(void)
{
    char errstr[256] = "";

    if (bs_codec_new_builtin(&builtin, errstr, sizeof(errstr)) != BS_OK) {
        fprintf(stderr, "builtin codec: %s\n", errstr);
        return 1;
    }
    if (bs_codec_new_empty(&widgets, errstr, sizeof(errstr)) != BS_OK)
        return 1;
    if (add_schema_file(widgets, WIDGET_V1, "tests/data/avro/widget.v1.avsc") ||
        add_schema_file(widgets, WIDGET_V2, "tests/data/avro/widget.v2.avsc") ||
        add_schema_file(widgets, WIDGET_V3, "tests/data/avro/widget.v3.avsc") ||
        add_schema_file(widgets, WIDGET_V4, "tests/data/avro/widget.v4.avsc"))
        return 1;
    return 0;
}

static int codecs_cleanup(void)
{
    bs_codec_free(builtin);
    bs_codec_free(widgets);
    builtin = widgets = NULL;
    return 0;
}

static avro_schema_t deref(avro_schema_t schema)
{
    while (is_avro_link(schema))
        schema = avro_schema_link_target(schema);
    return schema;
}

/* A field of a record value (fails the test if there is none). */
static avro_value_t field(avro_value_t *record, const char *name)
{
    avro_value_t child;

    CU_ASSERT_FATAL(avro_value_get_by_name(record, name, &child, NULL) == 0);
    return child;
}

/* The current branch of a union value. */
static avro_value_t branch(avro_value_t *value)
{
    avro_value_t child;

    CU_ASSERT_FATAL(avro_value_get_current_branch(value, &child) == 0);
    return child;
}

static const char *string_of(avro_value_t *value)
{
    const char *str = NULL;
    size_t size;

    CU_ASSERT_FATAL(avro_value_get_string(value, &str, &size) == 0);
    return str;
}

static int64_t long_of(avro_value_t *value)
{
    int64_t out = 0;

    CU_ASSERT_FATAL(avro_value_get_long(value, &out) == 0);
    return out;
}

static int int_of(avro_value_t *value)
{
    int32_t out = 0;

    CU_ASSERT_FATAL(avro_value_get_int(value, &out) == 0);
    return out;
}

/* The symbol of an enum value. */
static const char *symbol_of(avro_value_t *value)
{
    int index = -1;

    CU_ASSERT_FATAL(avro_value_get_enum(value, &index) == 0);
    return avro_schema_enum_get(avro_value_get_schema(value), index);
}

enum fill {
    FILL_NULLS,   /* unions take null; strings are ASCII */
    FILL_UNICODE, /* unions take a value; strings are non-ASCII */
    FILL_EMPTY    /* unions take a value; strings are empty */
};

static const char *fill_text(enum fill how)
{
    return how == FILL_UNICODE ? UNICODE_TEXT : how == FILL_EMPTY ? "" : "x";
}

static void fill_value(avro_value_t *value, avro_schema_t schema,
                       enum fill how);

static void fill_union(avro_value_t *value, avro_schema_t s, enum fill how)
{
    size_t pick = 0;
    avro_value_t child;

    for (size_t i = 0; i < avro_schema_union_size(s); i++) {
        bool is_null = is_avro_null(deref(avro_schema_union_branch(s, i)));
        if (is_null == (how == FILL_NULLS)) {
            pick = i;
            break;
        }
    }
    CU_ASSERT_FATAL(avro_value_set_branch(value, (int)pick, &child) == 0);
    fill_value(&child, avro_schema_union_branch(s, (int)pick), how);
}

static void fill_compound(avro_value_t *value, avro_schema_t s, enum fill how)
{
    avro_value_t child;

    if (is_avro_record(s)) {
        for (size_t i = 0; i < avro_schema_record_size(s); i++) {
            CU_ASSERT_FATAL(avro_value_get_by_index(value, i, &child, NULL) ==
                            0);
            fill_value(&child, avro_schema_record_field_get_by_index(s, i),
                       how);
        }
    } else if (is_avro_array(s)) {
        for (int i = 0; i < 2; i++) {
            CU_ASSERT_FATAL(avro_value_append(value, &child, NULL) == 0);
            fill_value(&child, avro_schema_array_items(s), how);
        }
    } else if (is_avro_map(s)) {
        CU_ASSERT_FATAL(avro_value_add(value, "ключ", &child, NULL, NULL) == 0);
        fill_value(&child, avro_schema_map_values(s), how);
    } else {
        fill_union(value, s, how);
    }
}

/* Fills any value generically: every field, every branch kind. */
static void fill_value(avro_value_t *value, avro_schema_t schema, enum fill how)
{
    avro_schema_t s = deref(schema);
    char fixed[64] = "0123456789abcdef";
    int rval;

    switch (avro_typeof(s)) {
    case AVRO_STRING:
        rval = avro_value_set_string(value, fill_text(how));
        break;
    case AVRO_BYTES:
        rval = avro_value_set_bytes(value, "\x00\xff\x01", 3);
        break;
    case AVRO_INT32:
        rval = avro_value_set_int(value, -42);
        break;
    case AVRO_INT64:
        rval = avro_value_set_long(value, INT64_C(1767225600123));
        break;
    case AVRO_FLOAT:
        rval = avro_value_set_float(value, 1.5f);
        break;
    case AVRO_DOUBLE:
        rval = avro_value_set_double(value, -2.25);
        break;
    case AVRO_BOOLEAN:
        rval = avro_value_set_boolean(value, 1);
        break;
    case AVRO_NULL:
        rval = avro_value_set_null(value);
        break;
    case AVRO_ENUM:
        rval = avro_value_set_enum(value,
                                   avro_schema_enum_number_of_symbols(s) - 1);
        break;
    case AVRO_FIXED:
        rval = avro_value_set_fixed(value, fixed,
                                    (size_t)avro_schema_fixed_size(s));
        break;
    default:
        fill_compound(value, s, how);
        rval = 0;
        break;
    }
    CU_ASSERT_FATAL(rval == 0);
}

/* Encodes a value of `id` filled `how`; *out is malloc'd. */
static void encode_filled(struct bs_codec *codec, int32_t id, enum fill how,
                          unsigned char **out, size_t *len)
{
    avro_value_t value;
    char errstr[256] = "";

    BS_ASSERT_INT_EQ(
        bs_codec_new_value(codec, id, &value, errstr, sizeof(errstr)), BS_OK);
    fill_value(&value, bs_codec_schema(codec, id), how);
    BS_ASSERT_INT_EQ(
        bs_codec_encode(codec, id, &value, out, len, errstr, sizeof(errstr)),
        BS_OK);
    BS_ASSERT_STR_EQ(errstr, "");
    avro_value_decref(&value);
    CU_ASSERT_FATAL(*out != NULL);
}

/* Copies `len` bytes into a buffer of exactly that size, so that reading
 * past the end is caught by ASan and valgrind. */
static unsigned char *exact_copy(const unsigned char *bytes, size_t len)
{
    unsigned char *copy = malloc(len ? len : 1);

    CU_ASSERT_FATAL(copy != NULL);
    memcpy(copy, bytes, len);
    return copy;
}

/* Decodes with the generic codec; frees any record. */
static int decode_status(struct bs_codec *codec, const unsigned char *bytes,
                         size_t len, int32_t reader_id, char *errstr,
                         size_t errstr_size)
{
    avro_value_t record;
    int result = bs_codec_decode(codec, bytes, len, reader_id, &record, NULL,
                                 errstr, errstr_size);

    if (result == BS_OK)
        avro_value_decref(&record);
    return result;
}

/* A contract message carrying `id` and `body` (a zig-zag varint string
 * length and so on), for hand-made malformed input. */
static size_t make_message(unsigned char *buf, int32_t id,
                           const unsigned char *body, size_t body_len)
{
    buf[0] = 0;
    buf[1] = (unsigned char)(id >> 24);
    buf[2] = (unsigned char)(id >> 16);
    buf[3] = (unsigned char)(id >> 8);
    buf[4] = (unsigned char)id;
    memcpy(buf + 5, body, body_len);
    return 5 + body_len;
}

/* Avro's zig-zag varint of `value` into buf; returns the byte count. */
static size_t put_varint(unsigned char *buf, int64_t value)
{
    uint64_t raw = ((uint64_t)value << 1) ^ (uint64_t)(value >> 63);
    size_t n = 0;

    do {
        buf[n] = (unsigned char)(raw & 0x7f);
        raw >>= 7;
        if (raw)
            buf[n] |= 0x80;
        n++;
    } while (raw);
    return n;
}

/* A fixed-seed xorshift, so every run sees the same "random" bytes. */
static uint64_t rng_next(uint64_t *state)
{
    uint64_t x = *state;

    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *state = x;
}

/*--------------------------------------------------------------------------
 * Events used by several suites
 */

static struct bs_user_event user_full(void)
{
    struct bs_user_event e = {
        .meta = {"msg_2abc", "bestays", INT64_C(1767225600123),
                 "webhook-ingest"},
        .action = BS_USER_UPDATED,
        .clerk_user_id = "user_29w83sxmDNGwOuEthce5gg56FcC",
        .email = "zoë@example.com",
        .first_name = "Zoë",
        .last_name = "東京",
        .role = "admin",
        .image_url = "https://img.example.com/u/1.png",
        .has_clerk_updated_at = true,
        .clerk_updated_at = INT64_C(1767225599000),
    };
    return e;
}

static struct bs_faq_event faq_full(void)
{
    struct bs_faq_event e = {
        .meta = {"0190d5a0-7b1c-7cc3-98c4-dc0c0c07398f", "realestate",
                 INT64_C(1767225600999), "api-gateway"},
        .action = BS_FAQ_UPSERT,
        .document_id = "doc-42",
        .category = "check-in",
        .title = "Когда заезд? 🏠",
        .content = "Check-in is from 15:00.\nLate arrivals: call us.",
        .status = "published",
        .version = 3,
        .actor_id = "user_admin",
    };
    return e;
}

static struct bs_audit_event audit_full(void)
{
    struct bs_audit_event e = {
        .meta = {"0190d5a0-7b1c-7cc3-98c4-dc0c0c0739a0", "bestays",
                 INT64_C(1767225601000), "api-gateway"},
        .actor_id = "user_admin",
        .action = "faq.create",
        .entity_type = "faq_document",
        .entity_id = "doc-42",
        .changes = "{\"title\":[null,\"Когда заезд?\"]}",
        .request_id = "req-7f3a",
    };
    return e;
}

static void assert_meta_eq(const struct bs_event_meta *got,
                           const struct bs_event_meta *want)
{
    BS_ASSERT_STR_EQ(got->event_id, want->event_id);
    BS_ASSERT_STR_EQ(got->product, want->product);
    BS_ASSERT_INT_EQ(got->occurred_at, want->occurred_at);
    BS_ASSERT_STR_EQ(got->source, want->source);
}

static void assert_user_eq(const struct bs_user_event *got,
                           const struct bs_user_event *want)
{
    assert_meta_eq(&got->meta, &want->meta);
    BS_ASSERT_INT_EQ(got->action, want->action);
    BS_ASSERT_STR_EQ(got->clerk_user_id, want->clerk_user_id);
    BS_ASSERT_STR_EQ(got->email, want->email);
    BS_ASSERT_STR_EQ(got->first_name, want->first_name);
    BS_ASSERT_STR_EQ(got->last_name, want->last_name);
    BS_ASSERT_STR_EQ(got->role, want->role);
    BS_ASSERT_STR_EQ(got->image_url, want->image_url);
    BS_ASSERT_INT_EQ(got->has_clerk_updated_at, want->has_clerk_updated_at);
    if (want->has_clerk_updated_at)
        BS_ASSERT_INT_EQ(got->clerk_updated_at, want->clerk_updated_at);
}

static void assert_faq_eq(const struct bs_faq_event *got,
                          const struct bs_faq_event *want)
{
    assert_meta_eq(&got->meta, &want->meta);
    BS_ASSERT_INT_EQ(got->action, want->action);
    BS_ASSERT_STR_EQ(got->document_id, want->document_id);
    BS_ASSERT_STR_EQ(got->category, want->category);
    BS_ASSERT_STR_EQ(got->title, want->title);
    BS_ASSERT_STR_EQ(got->content, want->content);
    BS_ASSERT_STR_EQ(got->status, want->status);
    BS_ASSERT_INT_EQ(got->version, want->version);
    BS_ASSERT_STR_EQ(got->actor_id, want->actor_id);
}

static void assert_audit_eq(const struct bs_audit_event *got,
                            const struct bs_audit_event *want)
{
    assert_meta_eq(&got->meta, &want->meta);
    BS_ASSERT_STR_EQ(got->actor_id, want->actor_id);
    BS_ASSERT_STR_EQ(got->action, want->action);
    BS_ASSERT_STR_EQ(got->entity_type, want->entity_type);
    BS_ASSERT_STR_EQ(got->entity_id, want->entity_id);
    BS_ASSERT_STR_EQ(got->changes, want->changes);
    BS_ASSERT_STR_EQ(got->request_id, want->request_id);
}

/*--------------------------------------------------------------------------
 * Suite: catalog
 */

static const char *const event_names[] = {BS_USER_EVENT_NAME, BS_FAQ_EVENT_NAME,
                                          BS_AUDIT_EVENT_NAME};

static void test_builtin_catalog_ids_never_change(void)
{
    /* Ids are forever: these are what v1 events on every topic carry. */
    char name[256];

    for (int32_t id = 1; id <= 3; id++) {
        avro_schema_t schema = bs_codec_schema(builtin, id);

        CU_ASSERT_FATAL(schema != NULL);
        snprintf(name, sizeof(name), "%s.%s", avro_schema_namespace(schema),
                 avro_schema_name(schema));
        BS_ASSERT_STR_EQ(name, event_names[id - 1]);
    }
}

static void test_each_event_name_resolves_to_its_newest_catalog_id(void)
{
    char path[1024];
    json_error_t jerr;
    json_t *catalog = json_load_file(
        bs_test_source_path("schemas/avro/catalog.json", path, sizeof(path)), 0,
        &jerr);
    size_t i;
    json_t *item;

    CU_ASSERT_FATAL(json_is_array(catalog));
    for (size_t n = 0; n < 3; n++) {
        json_int_t newest = -1;

        json_array_foreach(catalog, i, item)
        {
            json_int_t id = json_integer_value(json_object_get(item, "id"));
            const char *name = json_string_value(json_object_get(item, "name"));

            CU_ASSERT_PTR_NOT_NULL(bs_codec_schema(builtin, (int32_t)id));
            if (name && strcmp(name, event_names[n]) == 0 && id > newest)
                newest = id;
        }
        BS_ASSERT_INT_EQ(bs_codec_latest_id(builtin, event_names[n]), newest);
    }
    json_decref(catalog);
}

static void test_unknown_names_and_ids_are_not_found(void)
{
    avro_value_t value;
    char errstr[256];

    BS_ASSERT_INT_EQ(bs_codec_latest_id(builtin, "com.bestays.events.Nope"),
                     BS_ENOTFOUND);
    BS_ASSERT_INT_EQ(bs_codec_latest_id(builtin, "UserEvent"), BS_ENOTFOUND);
    CU_ASSERT_PTR_NULL(bs_codec_schema(builtin, 999));
    BS_ASSERT_INT_EQ(
        bs_codec_new_value(builtin, 999, &value, errstr, sizeof(errstr)),
        BS_ENOTFOUND);
}

static void test_add_schema_refuses_taken_id_and_bad_text(void)
{
    struct bs_codec *codec = NULL;
    char errstr[256] = "";
    const char *ok = "{\"type\":\"record\",\"name\":\"R\",\"fields\":"
                     "[{\"name\":\"a\",\"type\":\"int\"}]}";

    BS_ASSERT_INT_EQ(bs_codec_new_empty(&codec, errstr, sizeof(errstr)), BS_OK);
    BS_ASSERT_INT_EQ(bs_codec_add_schema(codec, 7, ok, errstr, sizeof(errstr)),
                     BS_OK);
    BS_ASSERT_INT_EQ(bs_codec_add_schema(codec, 7, ok, errstr, sizeof(errstr)),
                     BS_EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(errstr, "taken"));
    BS_ASSERT_INT_EQ(bs_codec_add_schema(codec, 0, ok, errstr, sizeof(errstr)),
                     BS_EINVAL);
    BS_ASSERT_INT_EQ(
        bs_codec_add_schema(codec, 8, "{\"type\":", errstr, sizeof(errstr)),
        BS_EINVAL);
    BS_ASSERT_INT_EQ(
        bs_codec_add_schema(codec, 8, "\"string\"", errstr, sizeof(errstr)),
        BS_EINVAL);
    BS_ASSERT_INT_EQ(bs_codec_add_schema(codec, 8,
                                         "{\"type\":\"record\",\"name\":\"R\","
                                         "\"fields\":[{\"name\":\"a\","
                                         "\"type\":\"Unknown\"}]}",
                                         errstr, sizeof(errstr)),
                     BS_EINVAL);
    BS_ASSERT_INT_EQ(bs_codec_latest_id(codec, "R"), 7);
    bs_codec_free(codec);
}

static void test_add_schema_refuses_default_that_does_not_fit(void)
{
    struct bs_codec *codec = NULL;
    char errstr[256] = "";
    const char *bad[] = {
        /* a union's default must be of its first branch */
        "{\"type\":\"record\",\"name\":\"R\",\"fields\":[{\"name\":\"a\","
        "\"type\":[\"null\",\"string\"],\"default\":\"x\"}]}",
        "{\"type\":\"record\",\"name\":\"R\",\"fields\":[{\"name\":\"a\","
        "\"type\":\"int\",\"default\":\"7\"}]}",
        "{\"type\":\"record\",\"name\":\"R\",\"fields\":[{\"name\":\"a\","
        "\"type\":\"int\",\"default\":4294967296}]}",
        "{\"type\":\"record\",\"name\":\"R\",\"fields\":[{\"name\":\"a\","
        "\"type\":{\"type\":\"enum\",\"name\":\"E\",\"symbols\":[\"X\"]},"
        "\"default\":\"Y\"}]}",
        "{\"type\":\"record\",\"name\":\"R\",\"fields\":[{\"name\":\"a\","
        "\"type\":{\"type\":\"enum\",\"name\":\"E\",\"symbols\":[\"X\"],"
        "\"default\":\"Y\"}}]}",
    };

    BS_ASSERT_INT_EQ(bs_codec_new_empty(&codec, errstr, sizeof(errstr)), BS_OK);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        BS_ASSERT_INT_EQ(
            bs_codec_add_schema(codec, 1, bad[i], errstr, sizeof(errstr)),
            BS_EINVAL);
    CU_ASSERT_PTR_NULL(bs_codec_schema(codec, 1));
    bs_codec_free(codec);
}

static CU_TestInfo catalog_tests[] = {
    {"builtin_catalog_ids_never_change", test_builtin_catalog_ids_never_change},
    {"each_event_name_resolves_to_its_newest_catalog_id",
     test_each_event_name_resolves_to_its_newest_catalog_id},
    {"unknown_names_and_ids_are_not_found",
     test_unknown_names_and_ids_are_not_found},
    {"add_schema_refuses_taken_id_and_bad_text",
     test_add_schema_refuses_taken_id_and_bad_text},
    {"add_schema_refuses_default_that_does_not_fit",
     test_add_schema_refuses_default_that_does_not_fit},
    CU_TEST_INFO_NULL,
};

/*--------------------------------------------------------------------------
 * Suite: wire (generic codec round trips)
 */

/* Encodes a value filled `how`, decodes it with the same id, compares. */
static void round_trip(struct bs_codec *codec, int32_t id, enum fill how)
{
    avro_value_t original;
    avro_value_t decoded;
    unsigned char *bytes = NULL;
    size_t len = 0;
    int32_t writer = 0;
    char errstr[256] = "";

    BS_ASSERT_INT_EQ(
        bs_codec_new_value(codec, id, &original, errstr, sizeof(errstr)),
        BS_OK);
    fill_value(&original, bs_codec_schema(codec, id), how);
    BS_ASSERT_INT_EQ(bs_codec_encode(codec, id, &original, &bytes, &len, errstr,
                                     sizeof(errstr)),
                     BS_OK);
    CU_ASSERT_FATAL(bytes != NULL && len > BS_CODEC_HEADER_SIZE);
    BS_ASSERT_INT_EQ(bytes[0], 0);
    BS_ASSERT_INT_EQ(
        (bytes[1] << 24) | (bytes[2] << 16) | (bytes[3] << 8) | bytes[4], id);

    BS_ASSERT_INT_EQ(bs_codec_decode(codec, bytes, len, id, &decoded, &writer,
                                     errstr, sizeof(errstr)),
                     BS_OK);
    BS_ASSERT_INT_EQ(writer, id);
    CU_ASSERT_TRUE(avro_value_equal(&original, &decoded));
    avro_value_decref(&decoded);
    avro_value_decref(&original);
    free(bytes);
}

static void test_every_contract_schema_round_trips_all_fields(void)
{
    for (int32_t id = 1; id <= 3; id++) {
        round_trip(builtin, id, FILL_NULLS);
        round_trip(builtin, id, FILL_UNICODE);
        round_trip(builtin, id, FILL_EMPTY);
    }
}

static void test_every_avro_type_round_trips(void)
{
    for (int32_t id = WIDGET_V1; id <= WIDGET_V4; id++) {
        round_trip(widgets, id, FILL_NULLS);
        round_trip(widgets, id, FILL_UNICODE);
    }
}

static void test_encode_refuses_record_of_another_schema(void)
{
    avro_value_t record;
    unsigned char *bytes = (unsigned char *)"not touched";
    size_t len = 1;
    char errstr[256] = "";

    BS_ASSERT_INT_EQ(
        bs_codec_new_value(builtin, 1, &record, errstr, sizeof(errstr)), BS_OK);
    fill_value(&record, bs_codec_schema(builtin, 1), FILL_UNICODE);
    BS_ASSERT_INT_EQ(bs_codec_encode(builtin, 2, &record, &bytes, &len, errstr,
                                     sizeof(errstr)),
                     BS_EINVAL);
    CU_ASSERT_PTR_NULL(bytes);
    BS_ASSERT_INT_EQ(bs_codec_encode(builtin, 999, &record, &bytes, &len,
                                     errstr, sizeof(errstr)),
                     BS_EINVAL);
    avro_value_decref(&record);
}

static void test_encode_refuses_string_that_is_not_utf8(void)
{
    struct bs_user_event e = user_full();
    unsigned char *bytes = NULL;
    size_t len = 0;
    char errstr[256] = "";

    e.first_name = "caf\xe9"; /* Latin-1, not UTF-8 */
    BS_ASSERT_INT_EQ(
        bs_user_event_encode(builtin, &e, &bytes, &len, errstr, sizeof(errstr)),
        BS_EINVAL);
    CU_ASSERT_PTR_NULL(bytes);
    CU_ASSERT_PTR_NOT_NULL(strstr(errstr, "UTF-8"));
}

static void test_decode_with_unknown_reader_id_is_invalid(void)
{
    unsigned char *bytes = NULL;
    size_t len = 0;
    char errstr[256] = "";

    encode_filled(builtin, 1, FILL_UNICODE, &bytes, &len);
    BS_ASSERT_INT_EQ(
        decode_status(builtin, bytes, len, 999, errstr, sizeof(errstr)),
        BS_EINVAL);
    free(bytes);
}

static CU_TestInfo wire_tests[] = {
    {"every_contract_schema_round_trips_all_fields",
     test_every_contract_schema_round_trips_all_fields},
    {"every_avro_type_round_trips", test_every_avro_type_round_trips},
    {"encode_refuses_record_of_another_schema",
     test_encode_refuses_record_of_another_schema},
    {"encode_refuses_string_that_is_not_utf8",
     test_encode_refuses_string_that_is_not_utf8},
    {"decode_with_unknown_reader_id_is_invalid",
     test_decode_with_unknown_reader_id_is_invalid},
    CU_TEST_INFO_NULL,
};

/*--------------------------------------------------------------------------
 * Suite: events (the struct API)
 */

static void test_user_event_round_trips_with_every_field_set(void)
{
    struct bs_user_event in = user_full();
    struct bs_user_event out;
    unsigned char *bytes = NULL;
    size_t len = 0;
    char errstr[256] = "";

    BS_ASSERT_INT_EQ(bs_user_event_encode(builtin, &in, &bytes, &len, errstr,
                                          sizeof(errstr)),
                     BS_OK);
    BS_ASSERT_INT_EQ(bytes[4], bs_codec_latest_id(builtin, BS_USER_EVENT_NAME));
    BS_ASSERT_INT_EQ(
        bs_user_event_decode(builtin, bytes, len, &out, errstr, sizeof(errstr)),
        BS_OK);
    assert_user_eq(&out, &in);
    bs_user_event_clear(&out);
    CU_ASSERT_PTR_NULL(out.meta.event_id);
    free(bytes);
}

static void test_user_event_round_trips_with_nulls_and_empty_strings(void)
{
    struct bs_user_event in = {
        .meta = {"", "realestate", -1, ""},
        .action = BS_USER_DELETED,
        .clerk_user_id = "",
        .email = "",
    };
    struct bs_user_event out;
    unsigned char *bytes = NULL;
    size_t len = 0;
    char errstr[256] = "";

    BS_ASSERT_INT_EQ(bs_user_event_encode(builtin, &in, &bytes, &len, errstr,
                                          sizeof(errstr)),
                     BS_OK);
    BS_ASSERT_INT_EQ(
        bs_user_event_decode(builtin, bytes, len, &out, errstr, sizeof(errstr)),
        BS_OK);
    assert_user_eq(&out, &in);
    CU_ASSERT_PTR_NULL(out.first_name);
    CU_ASSERT_FALSE(out.has_clerk_updated_at);
    bs_user_event_clear(&out);
    free(bytes);
}

static void test_faq_event_round_trips_every_action(void)
{
    for (int action = BS_FAQ_UPSERT; action <= BS_FAQ_REINDEX; action++) {
        struct bs_faq_event in = faq_full();
        struct bs_faq_event out;
        unsigned char *bytes = NULL;
        size_t len = 0;
        char errstr[256] = "";

        in.action = (enum bs_faq_action)action;
        if (action != BS_FAQ_UPSERT)
            in.category = in.title = in.content = in.status = in.actor_id =
                NULL;
        BS_ASSERT_INT_EQ(bs_faq_event_encode(builtin, &in, &bytes, &len, errstr,
                                             sizeof(errstr)),
                         BS_OK);
        BS_ASSERT_INT_EQ(bs_faq_event_decode(builtin, bytes, len, &out, errstr,
                                             sizeof(errstr)),
                         BS_OK);
        assert_faq_eq(&out, &in);
        bs_faq_event_clear(&out);
        free(bytes);
    }
}

static void test_audit_event_round_trips_with_and_without_nullables(void)
{
    for (int variant = 0; variant < 2; variant++) {
        struct bs_audit_event in = audit_full();
        struct bs_audit_event out;
        unsigned char *bytes = NULL;
        size_t len = 0;
        char errstr[256] = "";

        if (variant == 1)
            in.actor_id = in.changes = in.request_id = NULL;
        BS_ASSERT_INT_EQ(bs_audit_event_encode(builtin, &in, &bytes, &len,
                                               errstr, sizeof(errstr)),
                         BS_OK);
        BS_ASSERT_INT_EQ(bs_audit_event_decode(builtin, bytes, len, &out,
                                               errstr, sizeof(errstr)),
                         BS_OK);
        assert_audit_eq(&out, &in);
        bs_audit_event_clear(&out);
        free(bytes);
    }
}

static void test_encode_refuses_missing_required_field(void)
{
    struct bs_user_event user = user_full();
    struct bs_audit_event audit = audit_full();
    unsigned char *bytes = NULL;
    size_t len = 0;
    char errstr[256] = "";

    user.meta.product = NULL;
    BS_ASSERT_INT_EQ(bs_user_event_encode(builtin, &user, &bytes, &len, errstr,
                                          sizeof(errstr)),
                     BS_EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(errstr, "product"));
    CU_ASSERT_PTR_NULL(bytes);
    audit.entity_id = NULL;
    BS_ASSERT_INT_EQ(bs_audit_event_encode(builtin, &audit, &bytes, &len,
                                           errstr, sizeof(errstr)),
                     BS_EINVAL);
    user = user_full();
    user.action = (enum bs_user_action)7;
    BS_ASSERT_INT_EQ(bs_user_event_encode(builtin, &user, &bytes, &len, errstr,
                                          sizeof(errstr)),
                     BS_EINVAL);
}

static void test_decoding_another_events_bytes_fails_and_leaves_zeroes(void)
{
    struct bs_faq_event faq = faq_full();
    struct bs_user_event user;
    unsigned char *bytes = NULL;
    size_t len = 0;
    char errstr[256] = "";

    BS_ASSERT_INT_EQ(bs_faq_event_encode(builtin, &faq, &bytes, &len, errstr,
                                         sizeof(errstr)),
                     BS_OK);
    memset(&user, 0xab, sizeof(user));
    BS_ASSERT_INT_EQ(bs_user_event_decode(builtin, bytes, len, &user, errstr,
                                          sizeof(errstr)),
                     BS_EDECODE);
    CU_ASSERT_PTR_NULL(user.meta.event_id);
    CU_ASSERT_PTR_NULL(user.email);
    BS_ASSERT_INT_EQ(user.meta.occurred_at, 0);
    free(bytes);
}

static void test_action_names_match_the_schema_symbols(void)
{
    avro_schema_t user = bs_codec_schema(builtin, 1);
    avro_schema_t faq = bs_codec_schema(builtin, 2);
    avro_schema_t user_enum = avro_schema_record_field_get(user, "action");
    avro_schema_t faq_enum = avro_schema_record_field_get(faq, "action");

    BS_ASSERT_STR_EQ(bs_user_action_name(BS_USER_CREATED), "created");
    BS_ASSERT_STR_EQ(bs_user_action_name(BS_USER_UPDATED), "updated");
    BS_ASSERT_STR_EQ(bs_user_action_name(BS_USER_DELETED), "deleted");
    BS_ASSERT_STR_EQ(bs_faq_action_name(BS_FAQ_UPSERT), "upsert");
    BS_ASSERT_STR_EQ(bs_faq_action_name(BS_FAQ_DELETE), "delete");
    BS_ASSERT_STR_EQ(bs_faq_action_name(BS_FAQ_REINDEX), "reindex");
    BS_ASSERT_STR_EQ(bs_user_action_name((enum bs_user_action)9), "unknown");
    for (int i = 0; i < 3; i++) {
        BS_ASSERT_STR_EQ(avro_schema_enum_get(user_enum, i),
                         bs_user_action_name((enum bs_user_action)i));
        BS_ASSERT_STR_EQ(avro_schema_enum_get(faq_enum, i),
                         bs_faq_action_name((enum bs_faq_action)i));
    }
}

struct thread_result {
    int failures;
};

static void *round_trips_in_thread(void *arg)
{
    struct thread_result *r = arg;

    for (int i = 0; i < 300; i++) {
        struct bs_user_event in = user_full();
        struct bs_user_event out;
        unsigned char *bytes = NULL;
        size_t len = 0;
        char errstr[256];

        in.meta.occurred_at = i;
        if (bs_user_event_encode(builtin, &in, &bytes, &len, errstr,
                                 sizeof(errstr)) != BS_OK ||
            bs_user_event_decode(builtin, bytes, len, &out, errstr,
                                 sizeof(errstr)) != BS_OK) {
            r->failures++;
        } else {
            r->failures +=
                out.meta.occurred_at != i || strcmp(out.email, in.email) != 0;
            bs_user_event_clear(&out);
        }
        free(bytes);
    }
    return NULL;
}

static void test_one_codec_serves_several_threads(void)
{
    pthread_t threads[4];
    struct thread_result results[4] = {{0}};

    for (int i = 0; i < 4; i++)
        CU_ASSERT_FATAL(pthread_create(&threads[i], NULL, round_trips_in_thread,
                                       &results[i]) == 0);
    for (int i = 0; i < 4; i++) {
        pthread_join(threads[i], NULL);
        BS_ASSERT_INT_EQ(results[i].failures, 0);
    }
}

static CU_TestInfo events_tests[] = {
    {"user_event_round_trips_with_every_field_set",
     test_user_event_round_trips_with_every_field_set},
    {"user_event_round_trips_with_nulls_and_empty_strings",
     test_user_event_round_trips_with_nulls_and_empty_strings},
    {"faq_event_round_trips_every_action",
     test_faq_event_round_trips_every_action},
    {"audit_event_round_trips_with_and_without_nullables",
     test_audit_event_round_trips_with_and_without_nullables},
    {"encode_refuses_missing_required_field",
     test_encode_refuses_missing_required_field},
    {"decoding_another_events_bytes_fails_and_leaves_zeroes",
     test_decoding_another_events_bytes_fails_and_leaves_zeroes},
    {"action_names_match_the_schema_symbols",
     test_action_names_match_the_schema_symbols},
    {"one_codec_serves_several_threads", test_one_codec_serves_several_threads},
    CU_TEST_INFO_NULL,
};

/*--------------------------------------------------------------------------
 * Suite: evolution (test-only Widget versions)
 */

/* A v1 Widget with known values; `kind` 0 is A, 1 is B. */
static void widget_v1_encode(const char *note, int kind, unsigned char **out,
                             size_t *len)
{
    avro_value_t w, f, c;
    char errstr[256] = "";

    BS_ASSERT_INT_EQ(
        bs_codec_new_value(widgets, WIDGET_V1, &w, errstr, sizeof(errstr)),
        BS_OK);
    f = field(&w, "id"), avro_value_set_string(&f, "w-1");
    f = field(&w, "count"), avro_value_set_int(&f, 41);
    f = field(&w, "legacy"), avro_value_set_string(&f, "kept");
    f = field(&w, "kind"), avro_value_set_enum(&f, kind);
    f = field(&w, "dim");
    c = field(&f, "w"), avro_value_set_int(&c, 3);
    c = field(&f, "h"), avro_value_set_int(&c, 4);
    f = field(&w, "tags");
    avro_value_append(&f, &c, NULL), avro_value_set_string(&c, "t1");
    avro_value_append(&f, &c, NULL), avro_value_set_string(&c, "té2");
    f = field(&w, "attrs");
    avro_value_add(&f, "a", &c, NULL, NULL), avro_value_set_int(&c, -2);
    f = field(&w, "note");
    avro_value_set_branch(&f, note ? 1 : 0, &c);
    if (note)
        avro_value_set_string(&c, note);
    else
        avro_value_set_null(&c);
    f = field(&w, "ratio"), avro_value_set_float(&f, 0.5f);
    f = field(&w, "blob"), avro_value_set_bytes(&f, "xyz", 3);
    f = field(&w, "ok"), avro_value_set_boolean(&f, 1);
    f = field(&w, "hash"), avro_value_set_fixed(&f, "abcd", 4);
    BS_ASSERT_INT_EQ(bs_codec_encode(widgets, WIDGET_V1, &w, out, len, errstr,
                                     sizeof(errstr)),
                     BS_OK);
    avro_value_decref(&w);
}

static void test_v1_bytes_read_as_v2_fill_new_fields_from_defaults(void)
{
    unsigned char *bytes = NULL;
    size_t len = 0;
    avro_value_t r, f, c;
    int32_t writer = 0;
    const void *buf;
    size_t size;
    char errstr[256] = "";

    widget_v1_encode("hello", 0, &bytes, &len);
    BS_ASSERT_INT_EQ(bs_codec_decode(widgets, bytes, len, WIDGET_V2, &r,
                                     &writer, errstr, sizeof(errstr)),
                     BS_OK);
    BS_ASSERT_STR_EQ(errstr, "");
    BS_ASSERT_INT_EQ(writer, WIDGET_V1);

    /* fields both versions have */
    f = field(&r, "id"), BS_ASSERT_STR_EQ(string_of(&f), "w-1");
    f = field(&r, "count"), BS_ASSERT_INT_EQ(int_of(&f), 41);
    f = field(&r, "kind"), BS_ASSERT_STR_EQ(symbol_of(&f), "A");
    f = field(&r, "dim");
    c = field(&f, "w"), BS_ASSERT_INT_EQ(int_of(&c), 3);
    c = field(&f, "h"), BS_ASSERT_INT_EQ(int_of(&c), 4);
    c = field(&f, "d"), BS_ASSERT_INT_EQ(int_of(&c), 1);
    f = field(&r, "note"), c = branch(&f);
    BS_ASSERT_STR_EQ(string_of(&c), "hello");
    f = field(&r, "tags");
    CU_ASSERT_FATAL(avro_value_get_by_index(&f, 1, &c, NULL) == 0);
    BS_ASSERT_STR_EQ(string_of(&c), "té2");

    /* fields only v2 has: their defaults */
    f = field(&r, "color"), c = branch(&f);
    BS_ASSERT_INT_EQ(avro_value_get_type(&c), AVRO_NULL);
    f = field(&r, "size"), BS_ASSERT_INT_EQ(long_of(&f), 7);
    f = field(&r, "label"), BS_ASSERT_STR_EQ(string_of(&f), "none");
    f = field(&r, "origin");
    c = field(&f, "w"), BS_ASSERT_INT_EQ(int_of(&c), 0);
    c = field(&f, "d"), BS_ASSERT_INT_EQ(int_of(&c), 1);
    f = field(&r, "extra");
    CU_ASSERT_FATAL(avro_value_get_by_name(&f, "a", &c, NULL) == 0);
    BS_ASSERT_STR_EQ(string_of(&c), "b");
    f = field(&r, "raw");
    CU_ASSERT_FATAL(avro_value_get_bytes(&f, &buf, &size) == 0);
    BS_ASSERT_INT_EQ(size, 2);
    CU_ASSERT(memcmp(buf, "\xff\x01", 2) == 0);
    f = field(&r, "grade"), c = branch(&f);
    BS_ASSERT_INT_EQ(avro_value_get_type(&c), AVRO_NULL);

    avro_value_decref(&r);
    free(bytes);
}

static void test_v2_bytes_read_as_v1_drop_new_fields(void)
{
    unsigned char *bytes = NULL;
    size_t len = 0;
    avro_value_t r, f, c;
    char errstr[256] = "";

    encode_filled(widgets, WIDGET_V2, FILL_UNICODE, &bytes, &len);
    BS_ASSERT_INT_EQ(bs_codec_decode(widgets, bytes, len, WIDGET_V1, &r, NULL,
                                     errstr, sizeof(errstr)),
                     BS_OK);
    BS_ASSERT_STR_EQ(errstr, "");
    f = field(&r, "id"), BS_ASSERT_STR_EQ(string_of(&f), UNICODE_TEXT);
    f = field(&r, "legacy"), BS_ASSERT_STR_EQ(string_of(&f), "old");
    f = field(&r, "kind"), BS_ASSERT_STR_EQ(symbol_of(&f), "B");
    f = field(&r, "dim");
    c = field(&f, "w"), BS_ASSERT_INT_EQ(int_of(&c), -42);
    f = field(&r, "note"), c = branch(&f);
    BS_ASSERT_STR_EQ(string_of(&c), UNICODE_TEXT);
    avro_value_decref(&r);
    free(bytes);
}

static void test_v1_bytes_read_with_promotions_and_enum_default(void)
{
    unsigned char *bytes = NULL;
    size_t len = 0;
    avro_value_t r, f, c;
    double d = 0;
    float fl = 0;
    const char *str;
    size_t size;
    const void *buf;
    char errstr[256] = "";

    widget_v1_encode("hi", 1, &bytes, &len);
    BS_ASSERT_INT_EQ(bs_codec_decode(widgets, bytes, len, WIDGET_V3, &r, NULL,
                                     errstr, sizeof(errstr)),
                     BS_OK);
    BS_ASSERT_STR_EQ(errstr, "");
    f = field(&r, "count"), BS_ASSERT_INT_EQ(long_of(&f), 41);
    f = field(&r, "kind"), BS_ASSERT_STR_EQ(symbol_of(&f), "Z");
    f = field(&r, "dim"), c = field(&f, "w");
    CU_ASSERT(avro_value_get_double(&c, &d) == 0 && d == 3.0);
    c = field(&f, "h");
    CU_ASSERT(avro_value_get_float(&c, &fl) == 0 && fl == 4.0f);
    f = field(&r, "ratio");
    CU_ASSERT(avro_value_get_double(&f, &d) == 0 && d == 0.5);
    f = field(&r, "attrs");
    CU_ASSERT_FATAL(avro_value_get_by_name(&f, "a", &c, NULL) == 0);
    BS_ASSERT_INT_EQ(long_of(&c), -2);
    f = field(&r, "blob");
    CU_ASSERT(avro_value_get_string(&f, &str, &size) == 0);
    BS_ASSERT_STR_EQ(str, "xyz");
    f = field(&r, "note"), c = branch(&f);
    CU_ASSERT(avro_value_get_bytes(&c, &buf, &size) == 0 && size == 2 &&
              memcmp(buf, "hi", 2) == 0);
    avro_value_decref(&r);
    free(bytes);
}

static void test_reader_field_without_default_missing_in_writer_fails(void)
{
    unsigned char *bytes = NULL;
    size_t len = 0;
    char errstr[256] = "";

    widget_v1_encode(NULL, 0, &bytes, &len);
    BS_ASSERT_INT_EQ(
        decode_status(widgets, bytes, len, WIDGET_V4, errstr, sizeof(errstr)),
        BS_EDECODE);
    CU_ASSERT_PTR_NOT_NULL(strstr(errstr, "required_new"));
    free(bytes);
}

static void test_symbol_unknown_to_reader_enum_without_default_fails(void)
{
    avro_value_t w, f;
    unsigned char *bytes = NULL;
    size_t len = 0;
    char errstr[256] = "";

    BS_ASSERT_INT_EQ(
        bs_codec_new_value(widgets, WIDGET_V2, &w, errstr, sizeof(errstr)),
        BS_OK);
    fill_value(&w, bs_codec_schema(widgets, WIDGET_V2), FILL_NULLS);
    f = field(&w, "kind"), avro_value_set_enum(&f, 0); /* C */
    BS_ASSERT_INT_EQ(bs_codec_encode(widgets, WIDGET_V2, &w, &bytes, &len,
                                     errstr, sizeof(errstr)),
                     BS_OK);
    BS_ASSERT_INT_EQ(
        decode_status(widgets, bytes, len, WIDGET_V1, errstr, sizeof(errstr)),
        BS_EDECODE);
    CU_ASSERT_PTR_NOT_NULL(strstr(errstr, "'C'"));
    avro_value_decref(&w);
    free(bytes);
}

static void test_contract_event_cannot_be_read_as_another_record(void)
{
    unsigned char *bytes = NULL;
    size_t len = 0;
    char errstr[256] = "";

    encode_filled(builtin, 1, FILL_UNICODE, &bytes, &len);
    BS_ASSERT_INT_EQ(
        decode_status(builtin, bytes, len, 3, errstr, sizeof(errstr)),
        BS_EDECODE);
    CU_ASSERT_PTR_NOT_NULL(strstr(errstr, "UserEvent"));
    free(bytes);
}

static void test_defaults_of_nested_types_are_found_in_any_namespace(void)
{
    struct bs_codec *codec = NULL;
    avro_value_t w, r, f, c;
    unsigned char *bytes = NULL;
    size_t len = 0;
    char errstr[256] = "";

    BS_ASSERT_INT_EQ(bs_codec_new_empty(&codec, errstr, sizeof(errstr)), BS_OK);
    BS_ASSERT_INT_EQ(
        bs_codec_add_schema(codec, 1,
                            "{\"type\":\"record\",\"name\":\"a.b.R\","
                            "\"fields\":[{\"name\":\"x\",\"type\":\"int\"}]}",
                            errstr, sizeof(errstr)),
        BS_OK);
    BS_ASSERT_INT_EQ(
        bs_codec_add_schema(
            codec, 2,
            "{\"type\":\"record\",\"name\":\"R\",\"namespace\":\"a.b\","
            "\"fields\":[{\"name\":\"x\",\"type\":\"int\"},"
            "{\"name\":\"in\",\"default\":{},\"type\":{\"type\":\"record\","
            "\"name\":\"In\",\"namespace\":\"\",\"fields\":[{\"name\":\"y\","
            "\"type\":\"int\",\"default\":5}]}},"
            "{\"name\":\"d\",\"default\":{},\"type\":{\"type\":\"record\","
            "\"name\":\"c.D\",\"fields\":[{\"name\":\"z\",\"type\":"
            "\"string\",\"default\":\"zz\"}]}}]}",
            errstr, sizeof(errstr)),
        BS_OK);

    BS_ASSERT_INT_EQ(bs_codec_new_value(codec, 1, &w, errstr, sizeof(errstr)),
                     BS_OK);
    f = field(&w, "x"), avro_value_set_int(&f, 1);
    BS_ASSERT_INT_EQ(
        bs_codec_encode(codec, 1, &w, &bytes, &len, errstr, sizeof(errstr)),
        BS_OK);
    BS_ASSERT_INT_EQ(
        bs_codec_decode(codec, bytes, len, 2, &r, NULL, errstr, sizeof(errstr)),
        BS_OK);
    f = field(&r, "in"), c = field(&f, "y");
    BS_ASSERT_INT_EQ(int_of(&c), 5);
    f = field(&r, "d"), c = field(&f, "z");
    BS_ASSERT_STR_EQ(string_of(&c), "zz");
    avro_value_decref(&r);
    avro_value_decref(&w);
    free(bytes);
    bs_codec_free(codec);
}

static CU_TestInfo evolution_tests[] = {
    {"v1_bytes_read_as_v2_fill_new_fields_from_defaults",
     test_v1_bytes_read_as_v2_fill_new_fields_from_defaults},
    {"v2_bytes_read_as_v1_drop_new_fields",
     test_v2_bytes_read_as_v1_drop_new_fields},
    {"v1_bytes_read_with_promotions_and_enum_default",
     test_v1_bytes_read_with_promotions_and_enum_default},
    {"reader_field_without_default_missing_in_writer_fails",
     test_reader_field_without_default_missing_in_writer_fails},
    {"symbol_unknown_to_reader_enum_without_default_fails",
     test_symbol_unknown_to_reader_enum_without_default_fails},
    {"defaults_of_nested_types_are_found_in_any_namespace",
     test_defaults_of_nested_types_are_found_in_any_namespace},
    {"contract_event_cannot_be_read_as_another_record",
     test_contract_event_cannot_be_read_as_another_record},
    CU_TEST_INFO_NULL,
};

/*--------------------------------------------------------------------------
 * Suite: malformed (bytes that must give BS_EDECODE)
 */

static void test_every_truncation_of_a_valid_message_fails(void)
{
    struct {
        struct bs_codec *codec;
        int32_t id;
    } cases[] = {{builtin, 1}, {builtin, 2}, {builtin, 3}, {widgets, 102}};
    char errstr[256];

    for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
        unsigned char *bytes = NULL;
        size_t len = 0;
        int ok = 0;

        encode_filled(cases[k].codec, cases[k].id, FILL_UNICODE, &bytes, &len);
        for (size_t n = 0; n < len; n++) {
            unsigned char *prefix = exact_copy(bytes, n);

            ok += decode_status(cases[k].codec, prefix, n, cases[k].id, errstr,
                                sizeof(errstr)) != BS_EDECODE;
            free(prefix);
        }
        BS_ASSERT_INT_EQ(ok, 0);
        free(bytes);
    }
}

static void test_truncated_event_fails_through_events_api(void)
{
    struct bs_user_event in = user_full();
    struct bs_user_event out;
    unsigned char *bytes = NULL;
    size_t len = 0;
    int ok = 0;
    char errstr[256] = "";

    BS_ASSERT_INT_EQ(bs_user_event_encode(builtin, &in, &bytes, &len, errstr,
                                          sizeof(errstr)),
                     BS_OK);
    for (size_t n = 0; n < len; n++) {
        unsigned char *prefix = exact_copy(bytes, n);

        ok += bs_user_event_decode(builtin, prefix, n, &out, errstr,
                                   sizeof(errstr)) != BS_EDECODE;
        ok += out.meta.event_id != NULL;
        free(prefix);
    }
    BS_ASSERT_INT_EQ(ok, 0);
    free(bytes);
}

static void test_unknown_schema_id_fails(void)
{
    unsigned char *bytes = NULL;
    size_t len = 0;
    char errstr[256] = "";

    encode_filled(builtin, 1, FILL_UNICODE, &bytes, &len);
    bytes[4] = 99;
    BS_ASSERT_INT_EQ(
        decode_status(builtin, bytes, len, 1, errstr, sizeof(errstr)),
        BS_EDECODE);
    CU_ASSERT_PTR_NOT_NULL(strstr(errstr, "unknown schema id 99"));
    bytes[1] = 0x80; /* negative id */
    BS_ASSERT_INT_EQ(
        decode_status(builtin, bytes, len, 1, errstr, sizeof(errstr)),
        BS_EDECODE);
    free(bytes);
}

static void test_wrong_magic_byte_fails(void)
{
    unsigned char *bytes = NULL;
    size_t len = 0;
    char errstr[256] = "";

    encode_filled(builtin, 2, FILL_UNICODE, &bytes, &len);
    bytes[0] = 1;
    BS_ASSERT_INT_EQ(
        decode_status(builtin, bytes, len, 2, errstr, sizeof(errstr)),
        BS_EDECODE);
    CU_ASSERT_PTR_NOT_NULL(strstr(errstr, "magic"));
    bytes[0] = '{'; /* JSON on the topic */
    BS_ASSERT_INT_EQ(
        decode_status(builtin, bytes, len, 2, errstr, sizeof(errstr)),
        BS_EDECODE);
    BS_ASSERT_INT_EQ(decode_status(builtin, NULL, 0, 2, errstr, sizeof(errstr)),
                     BS_EDECODE);
    free(bytes);
}

static void test_trailing_bytes_fail(void)
{
    unsigned char *bytes = NULL;
    size_t len = 0;
    unsigned char *longer;
    char errstr[256] = "";

    encode_filled(builtin, 3, FILL_NULLS, &bytes, &len);
    longer = malloc(len + 1);
    CU_ASSERT_FATAL(longer != NULL);
    memcpy(longer, bytes, len);
    longer[len] = 0;
    BS_ASSERT_INT_EQ(
        decode_status(builtin, longer, len + 1, 3, errstr, sizeof(errstr)),
        BS_EDECODE);
    CU_ASSERT_PTR_NOT_NULL(strstr(errstr, "trailing"));
    free(longer);
    free(bytes);
}

static void test_strings_with_nul_or_bad_utf8_fail(void)
{
    unsigned char *bytes = NULL;
    size_t len = 0;
    char errstr[256] = "";
    const unsigned char bad[] = {0x00, 0xff, 0xc0, 0xed};

    /* body starts with event_id: a 1-byte length, then its text */
    encode_filled(builtin, 1, FILL_UNICODE, &bytes, &len);
    for (size_t i = 0; i < sizeof(bad); i++) {
        unsigned char saved = bytes[6];

        bytes[6] = bad[i];
        BS_ASSERT_INT_EQ(
            decode_status(builtin, bytes, len, 1, errstr, sizeof(errstr)),
            BS_EDECODE);
        CU_ASSERT_PTR_NOT_NULL(strstr(errstr, "UTF-8"));
        bytes[6] = saved;
    }
    free(bytes);
}

static void test_nul_or_stray_byte_anywhere_in_a_string_fails(void)
{
    struct bs_user_event e = user_full();
    unsigned char *bytes = NULL;
    size_t len = 0;
    unsigned char *at = NULL;
    size_t id_len = strlen(e.clerk_user_id);
    int ok = 0;
    char errstr[256] = "";

    BS_ASSERT_INT_EQ(
        bs_user_event_encode(builtin, &e, &bytes, &len, errstr, sizeof(errstr)),
        BS_OK);
    for (size_t i = 0; i + id_len <= len && !at; i++)
        if (memcmp(bytes + i, e.clerk_user_id, id_len) == 0)
            at = bytes + i;
    CU_ASSERT_FATAL(at != NULL);

    /* every position, whether or not it starts an 8-byte word */
    for (size_t k = 0; k < id_len; k++) {
        const unsigned char bad[] = {0x00, 0x80, 0xc3, 0xf8};
        unsigned char saved = at[k];

        for (size_t b = 0; b < sizeof(bad); b++) {
            at[k] = bad[b];
            ok += decode_status(builtin, bytes, len, 1, errstr,
                                sizeof(errstr)) != BS_EDECODE;
        }
        at[k] = saved;
    }
    BS_ASSERT_INT_EQ(ok, 0);
    BS_ASSERT_INT_EQ(
        decode_status(builtin, bytes, len, 1, errstr, sizeof(errstr)), BS_OK);
    free(bytes);
}

static size_t largest_avro_allocation;
static struct avro_allocator_state default_allocator;

static void *tracking_allocator(void *ud, void *ptr, size_t osize, size_t nsize)
{
    if (nsize > largest_avro_allocation)
        largest_avro_allocation = nsize;
    return default_allocator.alloc(default_allocator.user_data, ptr, osize,
                                   nsize);
}

static void test_lying_string_length_causes_no_big_allocation(void)
{
    unsigned char body[32];
    unsigned char msg[64];
    size_t body_len = put_varint(body, INT64_C(1) << 40);
    size_t len;
    struct bs_user_event event;
    char errstr[256] = "";

    memcpy(body + body_len, "abc", 3);
    len = make_message(msg, 1, body, body_len + 3);

    default_allocator = AVRO_CURRENT_ALLOCATOR;
    largest_avro_allocation = 0;
    avro_set_allocator(tracking_allocator, NULL);
    BS_ASSERT_INT_EQ(
        decode_status(builtin, msg, len, 1, errstr, sizeof(errstr)),
        BS_EDECODE);
    BS_ASSERT_INT_EQ(
        bs_user_event_decode(builtin, msg, len, &event, errstr, sizeof(errstr)),
        BS_EDECODE);
    avro_set_allocator(default_allocator.alloc, default_allocator.user_data);

    CU_ASSERT_PTR_NOT_NULL(strstr(errstr, "1099511627776"));
    CU_ASSERT(largest_avro_allocation < 4096);
}

static void test_lying_array_count_and_deep_nesting_fail_fast(void)
{
    struct bs_codec *codec = NULL;
    unsigned char body[256];
    unsigned char msg[300];
    size_t n;
    char errstr[256] = "";

    BS_ASSERT_INT_EQ(bs_codec_new_empty(&codec, errstr, sizeof(errstr)), BS_OK);
    BS_ASSERT_INT_EQ(
        bs_codec_add_schema(codec, 1,
                            "{\"type\":\"record\",\"name\":\"Nulls\","
                            "\"fields\":[{\"name\":\"n\",\"type\":{\"type\":"
                            "\"array\",\"items\":\"null\"}}]}",
                            errstr, sizeof(errstr)),
        BS_OK);
    BS_ASSERT_INT_EQ(
        bs_codec_add_schema(codec, 2,
                            "{\"type\":\"record\",\"name\":\"Node\","
                            "\"fields\":[{\"name\":\"next\",\"type\":"
                            "[\"null\",\"Node\"]}]}",
                            errstr, sizeof(errstr)),
        BS_OK);

    /* 2^60 null items, then the end of the array */
    n = put_varint(body, INT64_C(1) << 60);
    body[n++] = 0;
    BS_ASSERT_INT_EQ(decode_status(codec, msg, make_message(msg, 1, body, n), 1,
                                   errstr, sizeof(errstr)),
                     BS_EDECODE);

    /* 200 nested Nodes: branch 1 (varint 2) each time, then null */
    memset(body, 2, 200);
    body[200] = 0;
    BS_ASSERT_INT_EQ(decode_status(codec, msg, make_message(msg, 2, body, 201),
                                   2, errstr, sizeof(errstr)),
                     BS_EDECODE);
    CU_ASSERT_PTR_NOT_NULL(strstr(errstr, "deeper"));

    /* 10 nested Nodes are fine */
    memset(body, 2, 10);
    body[10] = 0;
    BS_ASSERT_INT_EQ(decode_status(codec, msg, make_message(msg, 2, body, 11),
                                   2, errstr, sizeof(errstr)),
                     BS_OK);
    bs_codec_free(codec);
}

static void test_random_bytes_fail(void)
{
    uint64_t state = 0x5eedb0a7c0dec5ULL;
    int ok = 0;
    char errstr[256];

    for (int i = 0; i < 4000; i++) {
        size_t len = (size_t)(rng_next(&state) % 96);
        unsigned char *bytes = malloc(len ? len : 1);
        struct bs_codec *codec = i % 2 ? builtin : widgets;
        int32_t id = i % 2 ? 1 + (int32_t)(rng_next(&state) % 3)
                           : WIDGET_V1 + (int32_t)(rng_next(&state) % 4);

        CU_ASSERT_FATAL(bytes != NULL);
        for (size_t k = 0; k < len; k++)
            bytes[k] = (unsigned char)rng_next(&state);
        if (len >= 5 && i % 4 != 3) /* mostly get past the header */
            make_message(bytes, id, bytes + 5, 0);
        ok += decode_status(codec, bytes, len, id, errstr, sizeof(errstr)) !=
              BS_EDECODE;
        free(bytes);
    }
    BS_ASSERT_INT_EQ(ok, 0);
}

static void test_mutated_messages_decode_or_fail_cleanly(void)
{
    uint64_t state = 0xfeedfacecafef00dULL;
    int unexpected = 0;
    char errstr[256];

    for (int32_t id = 1; id <= 3; id++) {
        unsigned char *valid = NULL;
        size_t len = 0;

        encode_filled(builtin, id, FILL_UNICODE, &valid, &len);
        for (int i = 0; i < 1000; i++) {
            unsigned char *bytes = exact_copy(valid, len);
            struct bs_user_event event;
            int result;

            for (int flips = 1 + (int)(rng_next(&state) % 3); flips > 0;
                 flips--)
                bytes[BS_CODEC_HEADER_SIZE +
                      rng_next(&state) % (len - BS_CODEC_HEADER_SIZE)] =
                    (unsigned char)rng_next(&state);
            result =
                decode_status(builtin, bytes, len, 1, errstr, sizeof(errstr));
            unexpected += result != BS_OK && result != BS_EDECODE;
            result = bs_user_event_decode(builtin, bytes, len, &event, errstr,
                                          sizeof(errstr));
            unexpected += result != BS_OK && result != BS_EDECODE;
            if (result == BS_OK)
                bs_user_event_clear(&event);
            free(bytes);
        }
        free(valid);
    }
    BS_ASSERT_INT_EQ(unexpected, 0);
}

static CU_TestInfo malformed_tests[] = {
    {"every_truncation_of_a_valid_message_fails",
     test_every_truncation_of_a_valid_message_fails},
    {"truncated_event_fails_through_events_api",
     test_truncated_event_fails_through_events_api},
    {"unknown_schema_id_fails", test_unknown_schema_id_fails},
    {"wrong_magic_byte_fails", test_wrong_magic_byte_fails},
    {"trailing_bytes_fail", test_trailing_bytes_fail},
    {"strings_with_nul_or_bad_utf8_fail",
     test_strings_with_nul_or_bad_utf8_fail},
    {"nul_or_stray_byte_anywhere_in_a_string_fails",
     test_nul_or_stray_byte_anywhere_in_a_string_fails},
    {"lying_string_length_causes_no_big_allocation",
     test_lying_string_length_causes_no_big_allocation},
    {"lying_array_count_and_deep_nesting_fail_fast",
     test_lying_array_count_and_deep_nesting_fail_fast},
    {"random_bytes_fail", test_random_bytes_fail},
    {"mutated_messages_decode_or_fail_cleanly",
     test_mutated_messages_decode_or_fail_cleanly},
    CU_TEST_INFO_NULL,
};

static void register_suites(void)
{
    bs_test_add_suite("catalog", codecs_init, codecs_cleanup, catalog_tests);
    bs_test_add_suite("wire", codecs_init, codecs_cleanup, wire_tests);
    bs_test_add_suite("events", codecs_init, codecs_cleanup, events_tests);
    bs_test_add_suite("evolution", codecs_init, codecs_cleanup,
                      evolution_tests);
    bs_test_add_suite("malformed", codecs_init, codecs_cleanup,
                      malformed_tests);
}

int main(void)
{
    return bs_test_main(register_suites);
}
