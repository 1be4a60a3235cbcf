/*
 * codec_defaults.c - the defaults a schema declares, which avro-c drops.
 *
 * avro-c parses a schema but keeps neither field defaults nor enum defaults,
 * so they are read from the schema's own JSON text: bs__avro_named_types()
 * indexes its named types (records, enums, fixed) by full name, following the
 * specification's namespace rules, and a record field's default is then
 * found through its record's full name. Defaults are checked once, when a
 * schema is added (bs__avro_check_defaults), so filling one while decoding
 * (bs__avro_from_json) fails only on memory.
 *
 * A union's default is a value of its first branch (the specification's
 * rule); bytes and fixed defaults are strings whose code points 0-255 are
 * the bytes. Also here: small schema helpers the codec files share.
 */
#include "codec_internal.h"

#include "bs/error.h"

#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NAME_MAX_LEN 512

avro_schema_t bs__avro_deref(avro_schema_t schema)
{
    while (is_avro_link(schema))
        schema = avro_schema_link_target(schema);
    return schema;
}

const char *bs__avro_full_name(avro_schema_t schema, char *buf, size_t size)
{
    const char *space = avro_schema_namespace(schema);
    const char *name = avro_schema_name(schema);

    if (space && *space)
        snprintf(buf, size, "%s.%s", space, name ? name : "");
    else
        snprintf(buf, size, "%s", name ? name : "");
    return buf;
}

int bs__avro_failed(int rval, char *errstr, size_t errstr_size,
                    const char *what)
{
    if (rval == ENOMEM)
        return bs_fail(errstr, errstr_size, BS_ENOMEM, "%s: out of memory",
                       what);
    return bs_fail(errstr, errstr_size, BS_EDECODE, "%s: %s", what,
                   strerror(rval));
}

/*--------------------------------------------------------------------------
 * Named types in a schema's JSON
 */

/* The full name of a named type declared as `name` inside `space`. */
static int json_full_name(const json_t *decl, const char *space, char *buf,
                          size_t size)
{
    const char *name = json_string_value(json_object_get(decl, "name"));
    const char *own = json_string_value(json_object_get(decl, "namespace"));
    int n;

    if (!name || !*name)
        return BS_EINVAL;
    if (strchr(name, '.'))
        n = snprintf(buf, size, "%s", name);
    else if (own) /* "" is the null namespace */
        n = *own ? snprintf(buf, size, "%s.%s", own, name)
                 : snprintf(buf, size, "%s", name);
    else if (space && *space)
        n = snprintf(buf, size, "%s.%s", space, name);
    else
        n = snprintf(buf, size, "%s", name);
    return n > 0 && (size_t)n < size ? BS_OK : BS_EINVAL;
}

static int collect_named(json_t *schema, const char *space, json_t *named,
                         int depth, char *errstr, size_t errstr_size);

/* A named type: index it, then walk a record's fields in its namespace. */
static int collect_declaration(json_t *decl, const char *kind,
                               const char *space, json_t *named, int depth,
                               char *errstr, size_t errstr_size)
{
    char full[NAME_MAX_LEN];
    char inner[NAME_MAX_LEN];
    char *dot;
    json_t *fields;
    size_t i;
    json_t *field;

    if (json_full_name(decl, space, full, sizeof(full)) != BS_OK)
        return bs_fail(errstr, errstr_size, BS_EINVAL,
                       "a %s without a usable name", kind);
    if (json_object_set(named, full, decl) != 0)
        return bs_fail(errstr, errstr_size, BS_ENOMEM, "out of memory");
    if (strcmp(kind, "record") != 0 && strcmp(kind, "error") != 0)
        return BS_OK;

    snprintf(inner, sizeof(inner), "%s", full);
    dot = strrchr(inner, '.');
    if (dot)
        *dot = '\0';
    else
        inner[0] = '\0';
    fields = json_object_get(decl, "fields");
    if (!json_is_array(fields))
        return bs_fail(errstr, errstr_size, BS_EINVAL,
                       "record %s has no fields array", full);
    json_array_foreach(fields, i, field)
    {
        int result = collect_named(json_object_get(field, "type"), inner, named,
                                   depth + 1, errstr, errstr_size);
        if (result != BS_OK)
            return result;
    }
    return BS_OK;
}

static int collect_named(json_t *schema, const char *space, json_t *named,
                         int depth, char *errstr, size_t errstr_size)
{
    json_t *type;
    const char *kind;
    size_t i;
    json_t *branch;

    if (depth > BS__CODEC_MAX_DEPTH)
        return bs_fail(errstr, errstr_size, BS_EINVAL,
                       "schema nested deeper than %d", BS__CODEC_MAX_DEPTH);
    if (json_is_string(schema))
        return BS_OK;
    if (json_is_array(schema)) {
        json_array_foreach(schema, i, branch)
        {
            int result = collect_named(branch, space, named, depth + 1, errstr,
                                       errstr_size);
            if (result != BS_OK)
                return result;
        }
        return BS_OK;
    }
    if (!json_is_object(schema))
        return bs_fail(errstr, errstr_size, BS_EINVAL, "not a schema");

    type = json_object_get(schema, "type");
    if (!json_is_string(type))
        return collect_named(type, space, named, depth + 1, errstr,
                             errstr_size);
    kind = json_string_value(type);
    if (!strcmp(kind, "record") || !strcmp(kind, "error") ||
        !strcmp(kind, "enum") || !strcmp(kind, "fixed"))
        return collect_declaration(schema, kind, space, named, depth, errstr,
                                   errstr_size);
    if (!strcmp(kind, "array"))
        return collect_named(json_object_get(schema, "items"), space, named,
                             depth + 1, errstr, errstr_size);
    if (!strcmp(kind, "map"))
        return collect_named(json_object_get(schema, "values"), space, named,
                             depth + 1, errstr, errstr_size);
    return BS_OK;
}

json_t *bs__avro_named_types(json_t *root, char *errstr, size_t errstr_size)
{
    json_t *named = json_object();

    if (!named) {
        bs_fail(errstr, errstr_size, BS_ENOMEM, "out of memory");
        return NULL;
    }
    if (collect_named(root, "", named, 0, errstr, errstr_size) != BS_OK) {
        json_decref(named);
        return NULL;
    }
    return named;
}

const json_t *bs__avro_declaration(const json_t *named, avro_schema_t schema)
{
    char full[NAME_MAX_LEN];

    bs__avro_full_name(schema, full, sizeof(full));
    return json_object_get(named, full);
}

const json_t *bs__avro_field_default(const json_t *named, avro_schema_t record,
                                     const char *name)
{
    const json_t *fields =
        json_object_get(bs__avro_declaration(named, record), "fields");
    size_t i;
    const json_t *field;

    json_array_foreach(fields, i, field)
    {
        const char *fname = json_string_value(json_object_get(field, "name"));

        if (fname && strcmp(fname, name) == 0)
            return json_object_get(field, "default");
    }
    return NULL;
}

/*--------------------------------------------------------------------------
 * Values from JSON defaults
 */

static int from_json(const json_t *json, avro_schema_t schema,
                     avro_value_t *value, const json_t *named, int depth,
                     char *errstr, size_t errstr_size);

static int json_mismatch(const json_t *json, avro_schema_t schema, char *errstr,
                         size_t errstr_size)
{
    return bs_fail(errstr, errstr_size, BS_EINVAL,
                   "default of JSON type %d does not fit Avro type %s",
                   (int)json_typeof(json), avro_schema_type_name(schema));
}

/* Bytes and fixed defaults are strings whose code points 0-255 are bytes. */
static int json_to_bytes(const json_t *json, unsigned char **out, size_t *len)
{
    const unsigned char *s = (const unsigned char *)json_string_value(json);
    size_t n = json_string_length(json);
    unsigned char *buf = malloc(n + 1);
    size_t k = 0;

    if (!buf)
        return BS_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < 0x80) {
            buf[k++] = s[i];
        } else if ((s[i] == 0xc2 || s[i] == 0xc3) && i + 1 < n) {
            buf[k++] =
                (unsigned char)(((s[i] & 0x1f) << 6) | (s[i + 1] & 0x3f));
            i++;
        } else {
            free(buf);
            return BS_EINVAL;
        }
    }
    *out = buf;
    *len = k;
    return BS_OK;
}

static int bytes_from_json(const json_t *json, avro_schema_t s,
                           avro_value_t *value, char *errstr,
                           size_t errstr_size)
{
    unsigned char *buf = NULL;
    size_t len = 0;
    int result;
    int rval;

    if (!json_is_string(json))
        return json_mismatch(json, s, errstr, errstr_size);
    result = json_to_bytes(json, &buf, &len);
    if (result != BS_OK)
        return bs_fail(errstr, errstr_size, result,
                       "bytes default has a code point above 255");
    if (is_avro_fixed(s) && (int64_t)len != avro_schema_fixed_size(s)) {
        result = bs_fail(errstr, errstr_size, BS_EINVAL,
                         "fixed default of %zu bytes, expected %" PRId64, len,
                         avro_schema_fixed_size(s));
        goto out;
    }
    rval = is_avro_fixed(s) ? avro_value_set_fixed(value, buf, len)
                            : avro_value_set_bytes(value, buf, len);
    if (rval)
        result = bs__avro_failed(rval, errstr, errstr_size, "default");
out:
    free(buf);
    return result;
}

static int record_from_json(const json_t *json, avro_schema_t s,
                            avro_value_t *value, const json_t *named, int depth,
                            char *errstr, size_t errstr_size)
{
    size_t count = avro_schema_record_size(s);

    if (!json_is_object(json))
        return json_mismatch(json, s, errstr, errstr_size);
    for (size_t i = 0; i < count; i++) {
        const char *name = avro_schema_record_field_name(s, (int)i);
        const json_t *field_json = json_object_get(json, name);
        avro_value_t child;
        int result;

        if (!field_json)
            field_json = bs__avro_field_default(named, s, name);
        if (!field_json)
            return bs_fail(errstr, errstr_size, BS_EINVAL,
                           "record default lacks field '%s'", name);
        if (avro_value_get_by_index(value, i, &child, NULL))
            return bs_fail(errstr, errstr_size, BS_EINVAL, "no field %zu", i);
        result = from_json(field_json,
                           avro_schema_record_field_get_by_index(s, (int)i),
                           &child, named, depth + 1, errstr, errstr_size);
        if (result != BS_OK)
            return result;
    }
    return BS_OK;
}

static int array_from_json(const json_t *json, avro_schema_t s,
                           avro_value_t *value, const json_t *named, int depth,
                           char *errstr, size_t errstr_size)
{
    size_t i;
    const json_t *item;

    if (!json_is_array(json))
        return json_mismatch(json, s, errstr, errstr_size);
    json_array_foreach(json, i, item)
    {
        avro_value_t child;
        int rval = avro_value_append(value, &child, NULL);
        int result;

        if (rval)
            return bs__avro_failed(rval, errstr, errstr_size, "default");
        result = from_json(item, avro_schema_array_items(s), &child, named,
                           depth + 1, errstr, errstr_size);
        if (result != BS_OK)
            return result;
    }
    return BS_OK;
}

static int map_from_json(const json_t *json, avro_schema_t s,
                         avro_value_t *value, const json_t *named, int depth,
                         char *errstr, size_t errstr_size)
{
    const char *key;
    const json_t *item;

    if (!json_is_object(json))
        return json_mismatch(json, s, errstr, errstr_size);
    json_object_foreach((json_t *)json, key, item)
    {
        avro_value_t child;
        int rval = avro_value_add(value, key, &child, NULL, NULL);
        int result;

        if (rval)
            return bs__avro_failed(rval, errstr, errstr_size, "default");
        result = from_json(item, avro_schema_map_values(s), &child, named,
                           depth + 1, errstr, errstr_size);
        if (result != BS_OK)
            return result;
    }
    return BS_OK;
}

static int primitive_from_json(const json_t *json, avro_schema_t s,
                               avro_value_t *value, char *errstr,
                               size_t errstr_size)
{
    int rval;

    if (is_avro_null(s) && json_is_null(json))
        rval = avro_value_set_null(value);
    else if (is_avro_boolean(s) && json_is_boolean(json))
        rval = avro_value_set_boolean(value, json_is_true(json));
    else if (is_avro_int32(s) && json_is_integer(json) &&
             json_integer_value(json) >= INT32_MIN &&
             json_integer_value(json) <= INT32_MAX)
        rval = avro_value_set_int(value, (int32_t)json_integer_value(json));
    else if (is_avro_int64(s) && json_is_integer(json))
        rval = avro_value_set_long(value, json_integer_value(json));
    else if (is_avro_float(s) && json_is_number(json))
        rval = avro_value_set_float(value, (float)json_number_value(json));
    else if (is_avro_double(s) && json_is_number(json))
        rval = avro_value_set_double(value, json_number_value(json));
    else if (is_avro_string(s) && json_is_string(json) &&
             strlen(json_string_value(json)) == json_string_length(json))
        rval = avro_value_set_string_len(value, json_string_value(json),
                                         json_string_length(json) + 1);
    else
        return json_mismatch(json, s, errstr, errstr_size);
    return rval ? bs__avro_failed(rval, errstr, errstr_size, "default") : BS_OK;
}

static int enum_from_json(const json_t *json, avro_schema_t s,
                          avro_value_t *value, char *errstr, size_t errstr_size)
{
    int index;
    int rval;

    if (!json_is_string(json))
        return json_mismatch(json, s, errstr, errstr_size);
    index = avro_schema_enum_get_by_name(s, json_string_value(json));
    if (index < 0)
        return bs_fail(errstr, errstr_size, BS_EINVAL,
                       "default '%s' is not a symbol of enum %s",
                       json_string_value(json), avro_schema_name(s));
    rval = avro_value_set_enum(value, index);
    return rval ? bs__avro_failed(rval, errstr, errstr_size, "default") : BS_OK;
}

static int from_json(const json_t *json, avro_schema_t schema,
                     avro_value_t *value, const json_t *named, int depth,
                     char *errstr, size_t errstr_size)
{
    avro_schema_t s = bs__avro_deref(schema);
    avro_value_t branch;
    int rval;

    if (depth > BS__CODEC_MAX_DEPTH)
        return bs_fail(errstr, errstr_size, BS_EINVAL,
                       "default nested deeper than %d", BS__CODEC_MAX_DEPTH);

    switch (avro_typeof(s)) {
    case AVRO_UNION:
        /* A union's default is a value of its first branch. */
        rval = avro_value_set_branch(value, 0, &branch);
        if (rval)
            return bs__avro_failed(rval, errstr, errstr_size, "default");
        return from_json(json, avro_schema_union_branch(s, 0), &branch, named,
                         depth + 1, errstr, errstr_size);
    case AVRO_RECORD:
        return record_from_json(json, s, value, named, depth, errstr,
                                errstr_size);
    case AVRO_ARRAY:
        return array_from_json(json, s, value, named, depth, errstr,
                               errstr_size);
    case AVRO_MAP:
        return map_from_json(json, s, value, named, depth, errstr, errstr_size);
    case AVRO_ENUM:
        return enum_from_json(json, s, value, errstr, errstr_size);
    case AVRO_BYTES:
    case AVRO_FIXED:
        return bytes_from_json(json, s, value, errstr, errstr_size);
    default:
        return primitive_from_json(json, s, value, errstr, errstr_size);
    }
}

int bs__avro_from_json(const json_t *json, avro_schema_t schema,
                       avro_value_t *value, const json_t *named, char *errstr,
                       size_t errstr_size)
{
    return from_json(json, schema, value, named, 0, errstr, errstr_size);
}

/* Fills a throwaway generic value of `schema` from `json`. */
static int try_default(const json_t *json, avro_schema_t schema,
                       const json_t *named, char *errstr, size_t errstr_size)
{
    avro_value_iface_t *iface =
        avro_generic_class_from_schema(bs__avro_deref(schema));
    avro_value_t value;
    int result;

    if (!iface)
        return bs_fail(errstr, errstr_size, BS_EINVAL, "avro-c: %s",
                       avro_strerror());
    if (avro_generic_value_new(iface, &value)) {
        avro_value_iface_decref(iface);
        return bs_fail(errstr, errstr_size, BS_ENOMEM, "out of memory");
    }
    result = from_json(json, schema, &value, named, 0, errstr, errstr_size);
    avro_value_decref(&value);
    avro_value_iface_decref(iface);
    return result;
}

/*--------------------------------------------------------------------------
 * Checking every default of a schema once, when it is added
 */

static int check_defaults(avro_schema_t schema, const json_t *named, int depth,
                          char *errstr, size_t errstr_size);

static int check_record_defaults(avro_schema_t s, const json_t *named,
                                 int depth, char *errstr, size_t errstr_size)
{
    size_t count = avro_schema_record_size(s);

    for (size_t i = 0; i < count; i++) {
        const char *name = avro_schema_record_field_name(s, (int)i);
        avro_schema_t type = avro_schema_record_field_get_by_index(s, (int)i);
        const json_t *def = bs__avro_field_default(named, s, name);
        char reason[256];
        int result;

        if (def && try_default(def, type, named, reason, sizeof(reason)))
            return bs_fail(errstr, errstr_size, BS_EINVAL, "field %s.%s: %s",
                           avro_schema_name(s), name, reason);
        result = check_defaults(type, named, depth + 1, errstr, errstr_size);
        if (result != BS_OK)
            return result;
    }
    return BS_OK;
}

static int check_enum_default(avro_schema_t s, const json_t *named,
                              char *errstr, size_t errstr_size)
{
    const json_t *def =
        json_object_get(bs__avro_declaration(named, s), "default");

    if (!def)
        return BS_OK;
    if (!json_is_string(def) ||
        avro_schema_enum_get_by_name(s, json_string_value(def)) < 0)
        return bs_fail(errstr, errstr_size, BS_EINVAL,
                       "enum %s: default is not one of its symbols",
                       avro_schema_name(s));
    return BS_OK;
}

/* Links are skipped: the type they name is checked where it is declared.
 * Every named type must be found in the JSON under avro-c's full name, or
 * its defaults would be silently missed. */
static int check_defaults(avro_schema_t s, const json_t *named, int depth,
                          char *errstr, size_t errstr_size)
{
    char full[NAME_MAX_LEN];

    if (depth > BS__CODEC_MAX_DEPTH)
        return bs_fail(errstr, errstr_size, BS_EINVAL,
                       "schema nested deeper than %d", BS__CODEC_MAX_DEPTH);
    if ((is_avro_record(s) || is_avro_enum(s)) &&
        !json_is_object(bs__avro_declaration(named, s)))
        return bs_fail(errstr, errstr_size, BS_EINVAL,
                       "cannot find %s in the schema's JSON",
                       bs__avro_full_name(s, full, sizeof(full)));

    switch (avro_typeof(s)) {
    case AVRO_RECORD:
        return check_record_defaults(s, named, depth, errstr, errstr_size);
    case AVRO_ENUM:
        return check_enum_default(s, named, errstr, errstr_size);
    case AVRO_ARRAY:
        return check_defaults(avro_schema_array_items(s), named, depth + 1,
                              errstr, errstr_size);
    case AVRO_MAP:
        return check_defaults(avro_schema_map_values(s), named, depth + 1,
                              errstr, errstr_size);
    case AVRO_UNION:
        for (size_t i = 0; i < avro_schema_union_size(s); i++) {
            int result = check_defaults(avro_schema_union_branch(s, (int)i),
                                        named, depth + 1, errstr, errstr_size);
            if (result != BS_OK)
                return result;
        }
        return BS_OK;
    default:
        return BS_OK;
    }
}

int bs__avro_check_defaults(avro_schema_t schema, const json_t *named,
                            char *errstr, size_t errstr_size)
{
    return check_defaults(schema, named, 0, errstr, errstr_size);
}
