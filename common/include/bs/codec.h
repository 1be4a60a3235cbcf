/*
 * codec.h - Avro events in the Confluent wire format.
 *
 * A message is: magic byte 0, the writer schema's id as 4 big-endian bytes,
 * then the record in Avro binary encoding. Ids come from the checked-in
 * catalog (schemas/avro/catalog.json, compiled in). A reader decodes with the
 * writer's schema named by the id, then resolves that record to its own
 * schema by field name: fields the writer lacks take the reader schema's
 * default, fields the reader lacks are dropped. (avro-c's resolver cannot
 * fill defaults and crashes on some schemas, so resolution is done here.)
 *
 * A codec is immutable once loaded; encode and decode may run concurrently
 * from several threads on one codec.
 */
#ifndef BS_CODEC_H
#define BS_CODEC_H

#include <avro.h>
#include <stddef.h>
#include <stdint.h>

#define BS_CODEC_MAGIC       0
#define BS_CODEC_HEADER_SIZE 5

struct bs_codec;

/* A codec holding the compiled-in catalog. *out is owned by the caller. */
int bs_codec_new_builtin(struct bs_codec **out, char *errstr,
                         size_t errstr_size);

/* A codec holding no schema yet (tests build their own catalogs). */
int bs_codec_new_empty(struct bs_codec **out, char *errstr, size_t errstr_size);

/*
 * Adds a schema under `id` from its .avsc JSON text (copied). The text is the
 * source of truth: avro-c drops logicalType when it prints a schema.
 * BS_EINVAL when the id is taken or the JSON is not a valid record schema.
 */
int bs_codec_add_schema(struct bs_codec *codec, int32_t id, const char *json,
                        char *errstr, size_t errstr_size);

void bs_codec_free(struct bs_codec *codec);

/*
 * The id of the newest version of the record named `full_name` (e.g.
 * "com.bestays.events.UserEvent"), or BS_ENOTFOUND.
 */
int32_t bs_codec_latest_id(const struct bs_codec *codec, const char *full_name);

/* The schema registered under id (borrowed; valid while the codec lives),
 * or NULL. */
avro_schema_t bs_codec_schema(const struct bs_codec *codec, int32_t id);

/*
 * Makes `value` a fresh, empty generic record of the schema registered under
 * id, ready to fill and pass to bs_codec_encode(). The caller releases it
 * with avro_value_decref(). BS_ENOTFOUND for an unknown id.
 */
int bs_codec_new_value(const struct bs_codec *codec, int32_t id,
                       avro_value_t *value, char *errstr, size_t errstr_size);

/*
 * Encodes `record` (whose schema must be the one registered under
 * `schema_id`) as header + Avro binary. On success *out is a malloc'd buffer
 * of *out_len bytes that the caller frees with free().
 */
int bs_codec_encode(const struct bs_codec *codec, int32_t schema_id,
                    avro_value_t *record, unsigned char **out, size_t *out_len,
                    char *errstr, size_t errstr_size);

/*
 * Decodes `len` bytes written with any schema in the catalog into a new
 * record of the schema registered under `reader_id`. On success `record` is
 * a fresh value the caller releases with avro_value_decref(), and
 * *writer_id (if not NULL) says which schema wrote it. On any malformed
 * input (wrong magic byte, unknown id, truncated or trailing bytes, garbage)
 * returns BS_EDECODE with the reason in errstr and leaves nothing to free.
 */
int bs_codec_decode(const struct bs_codec *codec, const void *bytes, size_t len,
                    int32_t reader_id, avro_value_t *record, int32_t *writer_id,
                    char *errstr, size_t errstr_size);

#endif
