/*
 * codec_resolve.c - reading a record written with one schema version as
 * another.
 *
 * avro-c 1.11's own resolver (avro_resolved_reader/writer) cannot fill a
 * reader field from its default and crashes on some schemas, so this file
 * does the Avro specification's resolution itself on generic values: the
 * writer's record is decoded with the writer's schema first, then copied
 * into a fresh value of the reader's schema. Fields match by name (reader-
 * only fields take their default, see codec_defaults.c; writer-only fields
 * are dropped), enums by symbol (else the reader enum's default), unions by
 * branch type and name, records, enums and fixed by unqualified name, with
 * the int -> long -> float -> double and string <-> bytes promotions.
 *
 * Not supported: aliases.
 */
#include "codec_internal.h"

#include "bs/error.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct resolve {
    const json_t *named; /* the reader schema's named types */
    char *errstr;
    size_t errstr_size;
};

static int resolve_value(struct resolve *r, avro_value_t *wv, avro_schema_t ws,
                         avro_value_t *rv, avro_schema_t rs, int depth);

static bool is_named(avro_type_t type)
{
    return type == AVRO_RECORD || type == AVRO_ENUM || type == AVRO_FIXED;
}

/* Whether a writer value of type `w` can be read as type `r`. */
static bool promotes(avro_type_t w, avro_type_t r)
{
    switch (w) {
    case AVRO_INT32:
        return r == AVRO_INT64 || r == AVRO_FLOAT || r == AVRO_DOUBLE;
    case AVRO_INT64:
        return r == AVRO_FLOAT || r == AVRO_DOUBLE;
    case AVRO_FLOAT:
        return r == AVRO_DOUBLE;
    case AVRO_STRING:
        return r == AVRO_BYTES;
    case AVRO_BYTES:
        return r == AVRO_STRING;
    default:
        return false;
    }
}

/* Same type (and same unqualified name for named types), or a promotion. */
static bool schemas_match(avro_schema_t ws, avro_schema_t rs,
                          bool allow_promotion)
{
    avro_schema_t w = bs__avro_deref(ws);
    avro_schema_t r = bs__avro_deref(rs);

    if (avro_typeof(w) == avro_typeof(r))
        return !is_named(avro_typeof(r)) ||
               strcmp(avro_schema_name(w), avro_schema_name(r)) == 0;
    return allow_promotion && promotes(avro_typeof(w), avro_typeof(r));
}

static int resolve_fail(struct resolve *r, avro_schema_t w, avro_schema_t s)
{
    return bs_fail(r->errstr, r->errstr_size, BS_EDECODE,
                   "writer type %s %s cannot be read as %s %s",
                   avro_schema_type_name(w),
                   is_named(avro_typeof(w)) ? avro_schema_name(w) : "",
                   avro_schema_type_name(s),
                   is_named(avro_typeof(s)) ? avro_schema_name(s) : "");
}

static int resolve_avro_failed(struct resolve *r, int rval)
{
    return bs__avro_failed(rval, r->errstr, r->errstr_size, "resolving");
}

/* The writer's value was of a union: read its current branch. */
static int resolve_from_union(struct resolve *r, avro_value_t *wv,
                              avro_schema_t w, avro_value_t *rv,
                              avro_schema_t rs, int depth)
{
    int discriminant;
    avro_value_t branch;
    int rval = avro_value_get_discriminant(wv, &discriminant);

    if (!rval)
        rval = avro_value_get_current_branch(wv, &branch);
    if (rval)
        return resolve_avro_failed(r, rval);
    return resolve_value(r, &branch, avro_schema_union_branch(w, discriminant),
                         rv, rs, depth + 1);
}

/* The reader's is a union: pick the first branch of the same type, else
 * the first the writer's type promotes to. */
static int resolve_into_union(struct resolve *r, avro_value_t *wv,
                              avro_schema_t w, avro_value_t *rv,
                              avro_schema_t s, int depth)
{
    size_t count = avro_schema_union_size(s);
    size_t i;
    avro_value_t branch;
    int rval;

    for (i = 0; i < count; i++)
        if (schemas_match(w, avro_schema_union_branch(s, (int)i), false))
            break;
    if (i == count)
        for (i = 0; i < count; i++)
            if (schemas_match(w, avro_schema_union_branch(s, (int)i), true))
                break;
    if (i == count)
        return resolve_fail(r, w, s);

    rval = avro_value_set_branch(rv, (int)i, &branch);
    if (rval)
        return resolve_avro_failed(r, rval);
    return resolve_value(r, wv, w, &branch, avro_schema_union_branch(s, (int)i),
                         depth + 1);
}

static int resolve_record(struct resolve *r, avro_value_t *wv, avro_schema_t w,
                          avro_value_t *rv, avro_schema_t s, int depth)
{
    size_t count = avro_schema_record_size(s);

    for (size_t i = 0; i < count; i++) {
        const char *name = avro_schema_record_field_name(s, (int)i);
        avro_schema_t type = avro_schema_record_field_get_by_index(s, (int)i);
        int windex = avro_schema_record_field_get_index(w, name);
        avro_value_t rchild;
        avro_value_t wchild;
        const json_t *def;
        int rval = avro_value_get_by_index(rv, i, &rchild, NULL);
        int result;

        if (rval)
            return resolve_avro_failed(r, rval);
        if (windex >= 0) {
            rval = avro_value_get_by_index(wv, (size_t)windex, &wchild, NULL);
            if (rval)
                return resolve_avro_failed(r, rval);
            result = resolve_value(
                r, &wchild, avro_schema_record_field_get_by_index(w, windex),
                &rchild, type, depth + 1);
        } else if ((def = bs__avro_field_default(r->named, s, name)) != NULL) {
            result = bs__avro_from_json(def, type, &rchild, r->named, r->errstr,
                                        r->errstr_size);
        } else {
            result = bs_fail(r->errstr, r->errstr_size, BS_EDECODE,
                             "reader field %s.%s has no default and the "
                             "writer's schema lacks it",
                             avro_schema_name(s), name);
        }
        if (result != BS_OK)
            return result;
    }
    return BS_OK;
}

static int resolve_enum(struct resolve *r, avro_value_t *wv, avro_schema_t w,
                        avro_value_t *rv, avro_schema_t s)
{
    int windex;
    const char *symbol;
    int rindex;
    const json_t *def;
    int rval = avro_value_get_enum(wv, &windex);

    if (rval)
        return resolve_avro_failed(r, rval);
    symbol = avro_schema_enum_get(w, windex);
    rindex = symbol ? avro_schema_enum_get_by_name(s, symbol) : -1;
    if (rindex < 0) {
        def = json_object_get(bs__avro_declaration(r->named, s), "default");
        if (!json_is_string(def))
            return bs_fail(r->errstr, r->errstr_size, BS_EDECODE,
                           "symbol '%s' is not in reader enum %s and it "
                           "has no default",
                           symbol ? symbol : "?", avro_schema_name(s));
        rindex = avro_schema_enum_get_by_name(s, json_string_value(def));
    }
    rval = avro_value_set_enum(rv, rindex);
    return rval ? resolve_avro_failed(r, rval) : BS_OK;
}

static int resolve_array(struct resolve *r, avro_value_t *wv, avro_schema_t w,
                         avro_value_t *rv, avro_schema_t s, int depth)
{
    size_t count;
    int rval = avro_value_get_size(wv, &count);

    for (size_t i = 0; !rval && i < count; i++) {
        avro_value_t wchild;
        avro_value_t rchild;
        int result;

        rval = avro_value_get_by_index(wv, i, &wchild, NULL);
        if (!rval)
            rval = avro_value_append(rv, &rchild, NULL);
        if (rval)
            break;
        result = resolve_value(r, &wchild, avro_schema_array_items(w), &rchild,
                               avro_schema_array_items(s), depth + 1);
        if (result != BS_OK)
            return result;
    }
    return rval ? resolve_avro_failed(r, rval) : BS_OK;
}

static int resolve_map(struct resolve *r, avro_value_t *wv, avro_schema_t w,
                       avro_value_t *rv, avro_schema_t s, int depth)
{
    size_t count;
    int rval = avro_value_get_size(wv, &count);

    for (size_t i = 0; !rval && i < count; i++) {
        avro_value_t wchild;
        avro_value_t rchild;
        const char *key;
        int result;

        rval = avro_value_get_by_index(wv, i, &wchild, &key);
        if (!rval)
            rval = avro_value_add(rv, key, &rchild, NULL, NULL);
        if (rval)
            break;
        result = resolve_value(r, &wchild, avro_schema_map_values(w), &rchild,
                               avro_schema_map_values(s), depth + 1);
        if (result != BS_OK)
            return result;
    }
    return rval ? resolve_avro_failed(r, rval) : BS_OK;
}

/* Strings and bytes, either way round. */
static int resolve_text(struct resolve *r, avro_value_t *wv, avro_schema_t w,
                        avro_value_t *rv, avro_schema_t s)
{
    const char *str;
    const void *buf;
    size_t size;
    char *copy;
    int rval;

    if (is_avro_string(w)) {
        rval = avro_value_get_string(wv, &str, &size);
        if (!rval)
            rval = is_avro_string(s)
                       ? avro_value_set_string_len(rv, str, size)
                       : avro_value_set_bytes(rv, (void *)str, size - 1);
        return rval ? resolve_avro_failed(r, rval) : BS_OK;
    }
    rval = avro_value_get_bytes(wv, &buf, &size);
    if (!rval && is_avro_bytes(s))
        rval = avro_value_set_bytes(rv, (void *)buf, size);
    else if (!rval && !bs__utf8_valid(buf, size))
        return bs_fail(r->errstr, r->errstr_size, BS_EDECODE,
                       "bytes read as a string are not UTF-8 or hold a NUL");
    else if (!rval) {
        copy = malloc(size + 1);
        if (!copy)
            return bs_fail(r->errstr, r->errstr_size, BS_ENOMEM,
                           "out of memory");
        memcpy(copy, buf, size);
        copy[size] = '\0';
        rval = avro_value_set_string_len(rv, copy, size + 1);
        free(copy);
    }
    return rval ? resolve_avro_failed(r, rval) : BS_OK;
}

/* Numbers, with the int -> long -> float -> double promotions. */
static int resolve_number(struct resolve *r, avro_value_t *wv, avro_schema_t w,
                          avro_value_t *rv, avro_schema_t s)
{
    int32_t i32 = 0;
    int64_t i64 = 0;
    float f = 0;
    double d = 0;
    int rval;

    switch (avro_typeof(w)) {
    case AVRO_INT32:
        rval = avro_value_get_int(wv, &i32);
        i64 = i32, f = (float)i32, d = i32;
        break;
    case AVRO_INT64:
        rval = avro_value_get_long(wv, &i64);
        f = (float)i64, d = (double)i64;
        break;
    case AVRO_FLOAT:
        rval = avro_value_get_float(wv, &f);
        d = f;
        break;
    default:
        rval = avro_value_get_double(wv, &d);
        break;
    }
    if (!rval) {
        switch (avro_typeof(s)) {
        case AVRO_INT32:
            rval = avro_value_set_int(rv, i32);
            break;
        case AVRO_INT64:
            rval = avro_value_set_long(rv, i64);
            break;
        case AVRO_FLOAT:
            rval = avro_value_set_float(rv, f);
            break;
        default:
            rval = avro_value_set_double(rv, d);
            break;
        }
    }
    return rval ? resolve_avro_failed(r, rval) : BS_OK;
}

static int resolve_fixed(struct resolve *r, avro_value_t *wv, avro_schema_t w,
                         avro_value_t *rv, avro_schema_t s)
{
    const void *buf;
    size_t size;
    int rval;

    if (avro_schema_fixed_size(w) != avro_schema_fixed_size(s))
        return resolve_fail(r, w, s);
    rval = avro_value_get_fixed(wv, &buf, &size);
    if (!rval)
        rval = avro_value_set_fixed(rv, (void *)buf, size);
    return rval ? resolve_avro_failed(r, rval) : BS_OK;
}

static int resolve_value(struct resolve *r, avro_value_t *wv, avro_schema_t ws,
                         avro_value_t *rv, avro_schema_t rs, int depth)
{
    avro_schema_t w = bs__avro_deref(ws);
    avro_schema_t s = bs__avro_deref(rs);
    int rval;

    if (depth > BS__CODEC_MAX_DEPTH)
        return bs_fail(r->errstr, r->errstr_size, BS_EDECODE,
                       "nested deeper than %d", BS__CODEC_MAX_DEPTH);
    if (is_avro_union(w))
        return resolve_from_union(r, wv, w, rv, s, depth);
    if (is_avro_union(s))
        return resolve_into_union(r, wv, w, rv, s, depth);
    if (!schemas_match(w, s, true))
        return resolve_fail(r, w, s);

    switch (avro_typeof(s)) {
    case AVRO_NULL:
        rval = avro_value_set_null(rv);
        return rval ? resolve_avro_failed(r, rval) : BS_OK;
    case AVRO_BOOLEAN: {
        int b = 0;
        rval = avro_value_get_boolean(wv, &b);
        if (!rval)
            rval = avro_value_set_boolean(rv, b);
        return rval ? resolve_avro_failed(r, rval) : BS_OK;
    }
    case AVRO_INT32:
    case AVRO_INT64:
    case AVRO_FLOAT:
    case AVRO_DOUBLE:
        return resolve_number(r, wv, w, rv, s);
    case AVRO_STRING:
    case AVRO_BYTES:
        return resolve_text(r, wv, w, rv, s);
    case AVRO_FIXED:
        return resolve_fixed(r, wv, w, rv, s);
    case AVRO_ENUM:
        return resolve_enum(r, wv, w, rv, s);
    case AVRO_RECORD:
        return resolve_record(r, wv, w, rv, s, depth);
    case AVRO_ARRAY:
        return resolve_array(r, wv, w, rv, s, depth);
    case AVRO_MAP:
        return resolve_map(r, wv, w, rv, s, depth);
    default:
        return resolve_fail(r, w, s);
    }
}

int bs__avro_resolve(avro_value_t *writer, avro_schema_t writer_schema,
                     avro_value_t *reader, avro_schema_t reader_schema,
                     const json_t *reader_named, char *errstr,
                     size_t errstr_size)
{
    struct resolve r = {reader_named, errstr, errstr_size};

    return resolve_value(&r, writer, writer_schema, reader, reader_schema, 0);
}
