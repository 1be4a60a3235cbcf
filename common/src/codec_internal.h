/*
 * codec_internal.h - what the codec's three files share (not installed).
 *
 *   codec.c          the catalog, the wire header, encode and decode
 *   codec_check.c    a schema-driven pass over Avro binary that proves the
 *                    bytes are one well-formed datum before avro-c reads them
 *   codec_defaults.c the defaults declared in a schema's JSON, and the small
 *                    schema helpers below
 *   codec_resolve.c  writer-to-reader resolution
 */
#ifndef BS_CODEC_INTERNAL_H
#define BS_CODEC_INTERNAL_H

#include <avro.h>
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

/* Deepest nesting of records, unions, arrays and maps the codec accepts. */
#define BS__CODEC_MAX_DEPTH 32

/* Follows links (references to named types) to the schema itself. */
avro_schema_t bs__avro_deref(avro_schema_t schema);

/* Maps an avro-c errno-style failure to BS_ENOMEM or BS_EDECODE. */
int bs__avro_failed(int rval, char *errstr, size_t errstr_size,
                    const char *what);

/*
 * Writes the full name (namespace.name) of a named schema into buf.
 * Returns buf.
 */
const char *bs__avro_full_name(avro_schema_t schema, char *buf, size_t size);

/*
 * Checks that `len` bytes are exactly one datum of `schema` in Avro binary
 * encoding: every length fits in what is left, every union and enum index is
 * in range, strings are UTF-8 without NUL bytes, array and map blocks
 * add up, nesting stays within BS__CODEC_MAX_DEPTH and no byte is left over.
 * Allocates nothing. Returns BS_OK or BS_EDECODE with the reason.
 */
int bs__avro_check(avro_schema_t schema, const void *bytes, size_t len,
                   char *errstr, size_t errstr_size);

/* Strict UTF-8 (no overlong forms, surrogates or code points past
 * U+10FFFF) without NUL bytes: what a string must be to become a C string. */
bool bs__utf8_valid(const void *bytes, size_t len);

/*
 * Collects the named types (records, enums, fixed) of a schema's parsed
 * JSON into a new object mapping each full name to its JSON object, so the
 * defaults a schema declares can be found from avro-c's schema. Returns
 * NULL (with errstr) when the JSON is not a schema. The caller owns the
 * result (json_decref).
 */
json_t *bs__avro_named_types(json_t *root, char *errstr, size_t errstr_size);

/* The JSON declaration of a named schema (record, enum, fixed), or NULL. */
const json_t *bs__avro_declaration(const json_t *named, avro_schema_t schema);

/* The "default" of field `name` of `record`, or NULL when it has none. */
const json_t *bs__avro_field_default(const json_t *named, avro_schema_t record,
                                     const char *name);

/*
 * Fills `value` (an empty generic value of `schema`) from a JSON default.
 * BS_EINVAL when the JSON does not fit the schema, BS_ENOMEM.
 */
int bs__avro_from_json(const json_t *json, avro_schema_t schema,
                       avro_value_t *value, const json_t *named, char *errstr,
                       size_t errstr_size);

/*
 * Checks that every default declared in `schema` fits its field's type and
 * every enum default is one of its symbols. `named` comes from
 * bs__avro_named_types() of the same schema's JSON.
 */
int bs__avro_check_defaults(avro_schema_t schema, const json_t *named,
                            char *errstr, size_t errstr_size);

/*
 * Fills `reader` (an empty generic value of `reader_schema`) from `writer`
 * (a value of `writer_schema`) by the Avro resolution rules: fields matched
 * by name, reader-only fields from their defaults in `reader_named`,
 * writer-only fields dropped, enums by symbol, unions by branch type,
 * int/long/float/double promotions, string <-> bytes. Returns BS_OK,
 * BS_EDECODE when the two schemas do not resolve, or BS_ENOMEM.
 */
int bs__avro_resolve(avro_value_t *writer, avro_schema_t writer_schema,
                     avro_value_t *reader, avro_schema_t reader_schema,
                     const json_t *reader_named, char *errstr,
                     size_t errstr_size);

#endif
