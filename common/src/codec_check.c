/*
 * codec_check.c - proves bytes are one well-formed Avro datum before avro-c
 * reads them.
 *
 * avro-c's binary reader trusts the lengths it reads: a string whose length
 * prefix claims 2^40 bytes makes it try to allocate 2^40 bytes, and an array
 * block claiming 2^60 null items makes it loop that long. So every message is
 * first walked here, driven by the writer's schema, over the raw bytes:
 * lengths must fit in what is left, union and enum indexes must be in range,
 * varints must end within 10 bytes, strings must be UTF-8 without NUL bytes
 * (the events map them to C strings and PostgreSQL text), array and map
 * blocks must add up (and all arrays and maps of a message together hold at
 * most one item per input byte, so zero-byte items cannot loop for ever),
 * nesting stays within BS__CODEC_MAX_DEPTH, and the datum must end exactly
 * at the last byte. Only then does avro-c decode, and whatever it allocates
 * is bounded by the input's size.
 *
 * This pass allocates nothing and does not build values; it does not know
 * about schema resolution (see codec_resolve.c).
 */
#include "codec_internal.h"

#include "bs/error.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

struct check {
    const unsigned char *start;
    const unsigned char *p;
    const unsigned char *end;
    size_t items_left; /* array and map items the input may still hold */
    const char *field; /* the innermost record field being read */
    char *errstr;
    size_t errstr_size;
};

/* Reports `fmt` with the field and the offset where reading stopped. */
static int check_fail(struct check *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int check_fail(struct check *c, const char *fmt, ...)
{
    char reason[192];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(reason, sizeof(reason), fmt, ap);
    va_end(ap);
    return bs_fail(c->errstr, c->errstr_size, BS_EDECODE,
                   "%s (field '%s', Avro byte %zu of %zu)", reason,
                   c->field ? c->field : "-", (size_t)(c->p - c->start),
                   (size_t)(c->end - c->start));
}

static size_t check_left(const struct check *c)
{
    return (size_t)(c->end - c->p);
}

/* Reads a zig-zag varint of at most `max_bytes` bytes. */
static int check_varint(struct check *c, int max_bytes, int64_t *out)
{
    uint64_t raw = 0;

    for (int i = 0;; i++) {
        unsigned char b;

        if (i == max_bytes)
            return check_fail(c, "varint longer than %d bytes", max_bytes);
        if (c->p == c->end)
            return check_fail(c, "truncated varint");
        b = *c->p++;
        if (i == 9 && b > 1)
            return check_fail(c, "varint overflows 64 bits");
        raw |= (uint64_t)(b & 0x7f) << (7 * i);
        if (!(b & 0x80))
            break;
    }
    *out = (int64_t)((raw >> 1) ^ (0 - (raw & 1)));
    return BS_OK;
}

static int check_skip(struct check *c, size_t n, const char *what)
{
    if (n > check_left(c))
        return check_fail(c, "truncated %s: needs %zu bytes, %zu left", what, n,
                          check_left(c));
    c->p += n;
    return BS_OK;
}

/* Reads a length prefix and checks the bytes it announces are there. */
static int check_length(struct check *c, const char *what, size_t *len)
{
    int64_t value = 0;
    int result = check_varint(c, 10, &value);

    if (result != BS_OK)
        return result;
    if (value < 0)
        return check_fail(c, "negative %s length %" PRId64, what, value);
    if ((uint64_t)value > check_left(c))
        return check_fail(c, "%s length %" PRId64 " exceeds the %zu bytes left",
                          what, value, check_left(c));
    *len = (size_t)value;
    return BS_OK;
}

/* Whether the 8 bytes at s are ASCII without NUL (a word at a time). */
static bool ascii8(const unsigned char *s)
{
    const uint64_t high = UINT64_C(0x8080808080808080);
    const uint64_t ones = UINT64_C(0x0101010101010101);
    uint64_t v;

    memcpy(&v, s, sizeof(v));
    return ((v | ((v - ones) & ~v)) & high) == 0;
}

bool bs__utf8_valid(const void *bytes, size_t n)
{
    const unsigned char *s = bytes;
    size_t i = 0;

    while (i < n) {
        unsigned char b = s[i];
        size_t len;
        uint32_t cp;
        uint32_t min;

        if (n - i >= 8 && ascii8(s + i)) {
            i += 8;
            continue;
        }
        if (b == 0)
            return false;
        if (b < 0x80) {
            i++;
            continue;
        }
        if ((b & 0xe0) == 0xc0) {
            len = 2, cp = b & 0x1f, min = 0x80;
        } else if ((b & 0xf0) == 0xe0) {
            len = 3, cp = b & 0x0f, min = 0x800;
        } else if ((b & 0xf8) == 0xf0) {
            len = 4, cp = b & 0x07, min = 0x10000;
        } else {
            return false;
        }
        if (n - i < len)
            return false;
        for (size_t k = 1; k < len; k++) {
            if ((s[i + k] & 0xc0) != 0x80)
                return false;
            cp = (cp << 6) | (s[i + k] & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return false;
        i += len;
    }
    return true;
}

static int check_string(struct check *c)
{
    size_t len = 0;
    int result = check_length(c, "string", &len);

    if (result != BS_OK)
        return result;
    if (!bs__utf8_valid(c->p, len))
        return check_fail(c, "string is not UTF-8 or holds a NUL byte");
    c->p += len;
    return BS_OK;
}

/* Reads a varint index and checks 0 <= index < count. */
static int check_index(struct check *c, const char *what, size_t count,
                       int64_t *index)
{
    int result = check_varint(c, 10, index);

    if (result != BS_OK)
        return result;
    if (*index < 0 || (uint64_t)*index >= count)
        return check_fail(c, "%s index %" PRId64 " is not below %zu", what,
                          *index, count);
    return BS_OK;
}

static int check_value(struct check *c, avro_schema_t schema, int depth);

static int check_int(struct check *c)
{
    int64_t value = 0;
    int result = check_varint(c, 5, &value);

    if (result != BS_OK)
        return result;
    if (value < INT32_MIN || value > INT32_MAX)
        return check_fail(c, "int %" PRId64 " out of range", value);
    return BS_OK;
}

static int check_boolean(struct check *c)
{
    if (c->p == c->end)
        return check_fail(c, "truncated boolean");
    if (*c->p > 1)
        return check_fail(c, "boolean byte 0x%02x", *c->p);
    c->p++;
    return BS_OK;
}

static int check_record(struct check *c, avro_schema_t schema, int depth)
{
    size_t count = avro_schema_record_size(schema);
    const char *outer = c->field;

    for (size_t i = 0; i < count; i++) {
        avro_schema_t field =
            avro_schema_record_field_get_by_index(schema, (int)i);
        int result;

        c->field = avro_schema_record_field_name(schema, (int)i);
        result = check_value(c, field, depth + 1);
        if (result != BS_OK)
            return result;
    }
    c->field = outer;
    return BS_OK;
}

/* Reads one block header: its item count and, when the count is negative,
 * the block's byte size (*size stays -1 otherwise). */
static int check_block_header(struct check *c, int64_t *count, int64_t *size)
{
    int result = check_varint(c, 10, count);

    *size = -1;
    if (result != BS_OK || *count >= 0)
        return result;
    if (*count == INT64_MIN)
        return check_fail(c, "block count out of range");
    *count = -*count;
    result = check_varint(c, 10, size);
    if (result != BS_OK)
        return result;
    if (*size < 0 || (uint64_t)*size > check_left(c))
        return check_fail(c, "block size %" PRId64 " with %zu bytes left",
                          *size, check_left(c));
    return BS_OK;
}

/* Arrays and maps: blocks of items (maps: a string key before each). */
static int check_blocks(struct check *c, avro_schema_t items, bool is_map,
                        int depth)
{
    for (;;) {
        int64_t count;
        int64_t size;
        const unsigned char *block;
        int result = check_block_header(c, &count, &size);

        if (result != BS_OK)
            return result;
        if (count == 0)
            return BS_OK;
        if ((uint64_t)count > c->items_left)
            return check_fail(c,
                              "block of %" PRId64 " items is more than "
                              "the message can hold",
                              count);
        c->items_left -= (size_t)count;

        block = c->p;
        for (int64_t i = 0; i < count; i++) {
            if (is_map && (result = check_string(c)) != BS_OK)
                return result;
            if ((result = check_value(c, items, depth + 1)) != BS_OK)
                return result;
        }
        if (size >= 0 && (uint64_t)size != (uint64_t)(c->p - block))
            return check_fail(c,
                              "block size %" PRId64 " but its items "
                              "take %zu bytes",
                              size, (size_t)(c->p - block));
    }
}

static int check_union(struct check *c, avro_schema_t schema, int depth)
{
    int64_t index = 0;
    int result =
        check_index(c, "union", avro_schema_union_size(schema), &index);

    if (result != BS_OK)
        return result;
    return check_value(c, avro_schema_union_branch(schema, (int)index),
                       depth + 1);
}

static int check_value(struct check *c, avro_schema_t schema, int depth)
{
    avro_schema_t s = bs__avro_deref(schema);
    int64_t index = 0;
    size_t len = 0;

    if (depth > BS__CODEC_MAX_DEPTH)
        return check_fail(c, "nested deeper than %d", BS__CODEC_MAX_DEPTH);

    switch (avro_typeof(s)) {
    case AVRO_NULL:
        return BS_OK;
    case AVRO_BOOLEAN:
        return check_boolean(c);
    case AVRO_INT32:
        return check_int(c);
    case AVRO_INT64:
        return check_varint(c, 10, &index);
    case AVRO_FLOAT:
        return check_skip(c, 4, "float");
    case AVRO_DOUBLE:
        return check_skip(c, 8, "double");
    case AVRO_STRING:
        return check_string(c);
    case AVRO_BYTES:
        if (check_length(c, "bytes", &len) != BS_OK)
            return BS_EDECODE;
        c->p += len;
        return BS_OK;
    case AVRO_FIXED:
        return check_skip(c, (size_t)avro_schema_fixed_size(s), "fixed");
    case AVRO_ENUM:
        return check_index(
            c, "enum", (size_t)avro_schema_enum_number_of_symbols(s), &index);
    case AVRO_UNION:
        return check_union(c, s, depth);
    case AVRO_RECORD:
        return check_record(c, s, depth);
    case AVRO_ARRAY:
        return check_blocks(c, avro_schema_array_items(s), false, depth);
    case AVRO_MAP:
        return check_blocks(c, avro_schema_map_values(s), true, depth);
    default:
        return check_fail(c, "unsupported schema type %d", avro_typeof(s));
    }
}

int bs__avro_check(avro_schema_t schema, const void *bytes, size_t len,
                   char *errstr, size_t errstr_size)
{
    struct check c = {
        .start = bytes,
        .p = bytes,
        .end = (const unsigned char *)bytes + len,
        .items_left = len,
        .errstr = errstr,
        .errstr_size = errstr_size,
    };
    int result = check_value(&c, schema, 0);

    if (result != BS_OK)
        return result;
    if (c.p != c.end)
        return bs_fail(errstr, errstr_size, BS_EDECODE,
                       "%zu trailing bytes after the record (Avro byte %zu "
                       "of %zu)",
                       check_left(&c), (size_t)(c.p - c.start), len);
    return BS_OK;
}
