/*
 * codec.c - the schema catalog and the Confluent wire format.
 *
 * A codec is a list of schema versions, each under a stable id: the .avsc
 * text (kept as given, since avro-c loses logicalType when it prints a
 * schema), avro-c's parsed schema, a generic value class for it, and the
 * named types of its JSON (for defaults). The builtin codec reads
 * catalog.json and the .avsc files compiled into the library.
 *
 * Encoding writes magic byte 0, the id in 4 big-endian bytes and the Avro
 * binary. Decoding checks the header, walks the body with the writer's schema
 * (codec_check.c) so that avro-c never sees a length it would trust into a
 * huge allocation, decodes with avro-c, then resolves the writer's record to
 * the reader's schema (codec_resolve.c) unless they are the same.
 *
 * Threads: a codec is never modified after loading. Every call makes its own
 * avro-c values and reader/writer; the only shared state touched is avro-c's
 * reference counts on the value classes, which avro-c changes atomically.
 * avro-c keeps its last error message in one process-wide buffer, so its text
 * in an errstr may be garbled when two threads fail at once; the codec's own
 * messages (all decode errors) are not affected.
 *
 * Not here: the event structs (events.c), a schema registry client, schema
 * fingerprints, aliases.
 */
#include "bs/codec.h"

#include "bs/embed.h"
#include "bs/error.h"
#include "codec_internal.h"

#include <errno.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

extern const struct bs_embedded_file bs_embedded_avro_files[];
extern const size_t bs_embedded_avro_count;

#define CATALOG_FILE "catalog.json"

struct bs_codec_entry {
    int32_t id;
    char *full_name;
    char *json_text; /* the .avsc text as given */
    json_t *named;   /* full name -> JSON of each named type */
    avro_schema_t schema;
    avro_value_iface_t *iface;
};

struct bs_codec {
    struct bs_codec_entry *entries;
    size_t count;
    size_t capacity;
};

static const struct bs_codec_entry *find_entry(const struct bs_codec *codec,
                                               int32_t id)
{
    for (size_t i = 0; i < codec->count; i++)
        if (codec->entries[i].id == id)
            return &codec->entries[i];
    return NULL;
}

static void entry_clear(struct bs_codec_entry *entry)
{
    if (entry->iface)
        avro_value_iface_decref(entry->iface);
    if (entry->schema)
        avro_schema_decref(entry->schema);
    json_decref(entry->named);
    free(entry->full_name);
    free(entry->json_text);
    memset(entry, 0, sizeof(*entry));
}

int bs_codec_new_empty(struct bs_codec **out, char *errstr, size_t errstr_size)
{
    *out = calloc(1, sizeof(**out));
    if (!*out)
        return bs_fail(errstr, errstr_size, BS_ENOMEM, "out of memory");
    return BS_OK;
}

void bs_codec_free(struct bs_codec *codec)
{
    if (!codec)
        return;
    for (size_t i = 0; i < codec->count; i++)
        entry_clear(&codec->entries[i]);
    free(codec->entries);
    free(codec);
}

/*--------------------------------------------------------------------------
 * Adding a schema
 */

/* Parses the text twice: jansson for names and defaults, avro-c for the
 * schema itself. */
static int entry_parse(struct bs_codec_entry *entry, const char *json,
                       char *errstr, size_t errstr_size)
{
    json_error_t jerr;
    json_t *root = json_loads(json, JSON_REJECT_DUPLICATES, &jerr);
    int result = BS_OK;

    if (!root)
        return bs_fail(errstr, errstr_size, BS_EINVAL,
                       "schema JSON line %d: %s", jerr.line, jerr.text);
    if (!json_is_object(root) ||
        !json_is_string(json_object_get(root, "type")) ||
        strcmp(json_string_value(json_object_get(root, "type")), "record")) {
        result =
            bs_fail(errstr, errstr_size, BS_EINVAL, "schema is not a record");
        goto out;
    }
    entry->named = bs__avro_named_types(root, errstr, errstr_size);
    if (!entry->named) {
        result = BS_EINVAL;
        goto out;
    }
    if (avro_schema_from_json_length(json, strlen(json), &entry->schema)) {
        result = bs_fail(errstr, errstr_size, BS_EINVAL, "avro-c: %s",
                         avro_strerror());
        entry->schema = NULL;
        goto out;
    }
    if (!is_avro_record(entry->schema))
        result =
            bs_fail(errstr, errstr_size, BS_EINVAL, "schema is not a record");
out:
    json_decref(root);
    return result;
}

/* Everything but the id: parsed schema, checked defaults, value class. */
static int entry_build(struct bs_codec_entry *entry, const char *json,
                       char *errstr, size_t errstr_size)
{
    char full[512];
    int result = entry_parse(entry, json, errstr, errstr_size);

    if (result != BS_OK)
        return result;
    result = bs__avro_check_defaults(entry->schema, entry->named, errstr,
                                     errstr_size);
    if (result != BS_OK)
        return result;

    entry->iface = avro_generic_class_from_schema(entry->schema);
    if (!entry->iface)
        return bs_fail(errstr, errstr_size, BS_EINVAL, "avro-c: %s",
                       avro_strerror());
    bs__avro_full_name(entry->schema, full, sizeof(full));
    entry->full_name = strdup(full);
    entry->json_text = strdup(json);
    if (!entry->full_name || !entry->json_text)
        return bs_fail(errstr, errstr_size, BS_ENOMEM, "out of memory");
    return BS_OK;
}

static int codec_reserve(struct bs_codec *codec, char *errstr,
                         size_t errstr_size)
{
    size_t capacity = codec->capacity ? codec->capacity * 2 : 8;
    struct bs_codec_entry *entries;

    if (codec->count < codec->capacity)
        return BS_OK;
    entries = realloc(codec->entries, capacity * sizeof(*entries));
    if (!entries)
        return bs_fail(errstr, errstr_size, BS_ENOMEM, "out of memory");
    codec->entries = entries;
    codec->capacity = capacity;
    return BS_OK;
}

int bs_codec_add_schema(struct bs_codec *codec, int32_t id, const char *json,
                        char *errstr, size_t errstr_size)
{
    struct bs_codec_entry entry = {.id = id};
    int result;

    if (id < 1)
        return bs_fail(errstr, errstr_size, BS_EINVAL,
                       "schema id %d is not positive", (int)id);
    if (find_entry(codec, id))
        return bs_fail(errstr, errstr_size, BS_EINVAL, "schema id %d is taken",
                       (int)id);
    if (!json)
        return bs_fail(errstr, errstr_size, BS_EINVAL, "no schema text");

    result = entry_build(&entry, json, errstr, errstr_size);
    if (result == BS_OK)
        result = codec_reserve(codec, errstr, errstr_size);
    if (result != BS_OK) {
        entry_clear(&entry);
        return result;
    }
    codec->entries[codec->count++] = entry;
    return BS_OK;
}

/*--------------------------------------------------------------------------
 * The builtin catalog
 */

static const struct bs_embedded_file *embedded_avro(const char *name)
{
    for (size_t i = 0; i < bs_embedded_avro_count; i++)
        if (strcmp(bs_embedded_avro_files[i].name, name) == 0)
            return &bs_embedded_avro_files[i];
    return NULL;
}

/* Id order must be version order, so the highest id of a name is its
 * newest version; a (name, version) pair appears once. */
static int catalog_check_versions(json_t *catalog, char *errstr,
                                  size_t errstr_size)
{
    size_t i, k;
    json_t *a, *b;

    json_array_foreach(catalog, i, a)
    {
        json_array_foreach(catalog, k, b)
        {
            const char *na = json_string_value(json_object_get(a, "name"));
            const char *nb = json_string_value(json_object_get(b, "name"));
            json_int_t ia = json_integer_value(json_object_get(a, "id"));
            json_int_t ib = json_integer_value(json_object_get(b, "id"));
            json_int_t va = json_integer_value(json_object_get(a, "version"));
            json_int_t vb = json_integer_value(json_object_get(b, "version"));

            if (i == k || strcmp(na, nb) != 0)
                continue;
            if (va == vb || (va < vb) != (ia < ib))
                return bs_fail(errstr, errstr_size, BS_EINVAL,
                               "catalog: %s versions %lld and %lld must "
                               "differ and follow id order",
                               na, (long long)va, (long long)vb);
        }
    }
    return BS_OK;
}

/* Adds one catalog entry {id, name, version, file}. */
static int catalog_add(struct bs_codec *codec, json_t *item, char *errstr,
                       size_t errstr_size)
{
    json_int_t id = json_integer_value(json_object_get(item, "id"));
    const char *name = json_string_value(json_object_get(item, "name"));
    const char *file = json_string_value(json_object_get(item, "file"));
    json_int_t version = json_integer_value(json_object_get(item, "version"));
    const struct bs_embedded_file *avsc;
    char reason[256];
    int result;

    if (!name || !file || id < 1 || id > INT32_MAX || version < 1)
        return bs_fail(errstr, errstr_size, BS_EINVAL,
                       "catalog: an entry lacks a positive id, name, "
                       "version or file");
    avsc = embedded_avro(file);
    if (!avsc)
        return bs_fail(errstr, errstr_size, BS_EINVAL,
                       "catalog: %s is not compiled in", file);
    result = bs_codec_add_schema(codec, (int32_t)id, avsc->data, reason,
                                 sizeof(reason));
    if (result != BS_OK)
        return bs_fail(errstr, errstr_size, result, "catalog: %s: %s", file,
                       reason);
    if (strcmp(codec->entries[codec->count - 1].full_name, name) != 0)
        return bs_fail(errstr, errstr_size, BS_EINVAL,
                       "catalog: %s defines %s, not %s", file,
                       codec->entries[codec->count - 1].full_name, name);
    return BS_OK;
}

/* Every compiled-in .avsc must be in the catalog, or it has no id. */
static int catalog_check_files(json_t *catalog, char *errstr,
                               size_t errstr_size)
{
    for (size_t f = 0; f < bs_embedded_avro_count; f++) {
        const char *name = bs_embedded_avro_files[f].name;
        bool listed = strcmp(name, CATALOG_FILE) == 0;
        size_t i;
        json_t *item;

        json_array_foreach(catalog, i, item)
        {
            const char *file = json_string_value(json_object_get(item, "file"));
            listed = listed || (file && strcmp(file, name) == 0);
        }
        if (!listed)
            return bs_fail(errstr, errstr_size, BS_EINVAL,
                           "catalog: %s has no entry", name);
    }
    return BS_OK;
}

static int codec_load_catalog(struct bs_codec *codec, char *errstr,
                              size_t errstr_size)
{
    const struct bs_embedded_file *file = embedded_avro(CATALOG_FILE);
    json_error_t jerr;
    json_t *catalog;
    json_t *item;
    size_t i;
    int result = BS_OK;

    if (!file)
        return bs_fail(errstr, errstr_size, BS_EINVAL, "no %s compiled in",
                       CATALOG_FILE);
    catalog = json_loadb(file->data, file->size, JSON_REJECT_DUPLICATES, &jerr);
    if (!json_is_array(catalog)) {
        result = bs_fail(errstr, errstr_size, BS_EINVAL,
                         "%s is not a JSON array (line %d: %s)", CATALOG_FILE,
                         jerr.line, catalog ? "" : jerr.text);
        goto out;
    }
    json_array_foreach(catalog, i, item)
    {
        result = catalog_add(codec, item, errstr, errstr_size);
        if (result != BS_OK)
            goto out;
    }
    result = catalog_check_versions(catalog, errstr, errstr_size);
    if (result == BS_OK)
        result = catalog_check_files(catalog, errstr, errstr_size);
out:
    json_decref(catalog);
    return result;
}

int bs_codec_new_builtin(struct bs_codec **out, char *errstr,
                         size_t errstr_size)
{
    int result = bs_codec_new_empty(out, errstr, errstr_size);

    if (result != BS_OK)
        return result;
    result = codec_load_catalog(*out, errstr, errstr_size);
    if (result != BS_OK) {
        bs_codec_free(*out);
        *out = NULL;
    }
    return result;
}

/*--------------------------------------------------------------------------
 * Lookups
 */

int32_t bs_codec_latest_id(const struct bs_codec *codec, const char *full_name)
{
    int32_t latest = BS_ENOTFOUND;

    for (size_t i = 0; i < codec->count; i++) {
        const struct bs_codec_entry *entry = &codec->entries[i];

        if (strcmp(entry->full_name, full_name) == 0 && entry->id > latest)
            latest = entry->id;
    }
    return latest;
}

avro_schema_t bs_codec_schema(const struct bs_codec *codec, int32_t id)
{
    const struct bs_codec_entry *entry = find_entry(codec, id);

    return entry ? entry->schema : NULL;
}

int bs_codec_new_value(const struct bs_codec *codec, int32_t id,
                       avro_value_t *value, char *errstr, size_t errstr_size)
{
    const struct bs_codec_entry *entry = find_entry(codec, id);

    if (!entry)
        return bs_fail(errstr, errstr_size, BS_ENOTFOUND,
                       "no schema with id %d", (int)id);
    if (avro_generic_value_new(entry->iface, value))
        return bs_fail(errstr, errstr_size, BS_ENOMEM, "out of memory");
    return BS_OK;
}

/*--------------------------------------------------------------------------
 * Encoding and decoding
 */

static void header_write(unsigned char *buf, int32_t id)
{
    uint32_t u = (uint32_t)id;

    buf[0] = BS_CODEC_MAGIC;
    buf[1] = (unsigned char)(u >> 24);
    buf[2] = (unsigned char)(u >> 16);
    buf[3] = (unsigned char)(u >> 8);
    buf[4] = (unsigned char)u;
}

static int32_t header_id(const unsigned char *buf)
{
    return (int32_t)((uint32_t)buf[1] << 24 | (uint32_t)buf[2] << 16 |
                     (uint32_t)buf[3] << 8 | (uint32_t)buf[4]);
}

static bool record_has_schema(avro_value_t *record,
                              const struct bs_codec_entry *entry)
{
    avro_schema_t schema = avro_value_get_schema(record);

    return schema == entry->schema ||
           (schema && avro_schema_equal(schema, entry->schema));
}

/* Writes the Avro body after the header into a buffer of the exact size. */
static int encode_body(const struct bs_codec_entry *entry, avro_value_t *record,
                       unsigned char **out, size_t *out_len, char *errstr,
                       size_t errstr_size)
{
    size_t size;
    unsigned char *buf;
    avro_writer_t writer;
    int rval = avro_value_sizeof(record, &size);

    if (rval)
        return bs_fail(errstr, errstr_size, BS_EINVAL,
                       "cannot size the record: %s", avro_strerror());
    buf = malloc(BS_CODEC_HEADER_SIZE + size);
    writer = buf ? avro_writer_memory((const char *)buf + BS_CODEC_HEADER_SIZE,
                                      (int64_t)size)
                 : NULL;
    if (!writer) {
        free(buf);
        return bs_fail(errstr, errstr_size, BS_ENOMEM, "out of memory");
    }
    rval = avro_value_write(writer, record);
    avro_writer_free(writer);
    if (rval) {
        free(buf);
        return bs_fail(errstr, errstr_size, BS_EINVAL,
                       "cannot encode the record: %s", avro_strerror());
    }
    header_write(buf, entry->id);
    *out = buf;
    *out_len = BS_CODEC_HEADER_SIZE + size;
    return BS_OK;
}

int bs_codec_encode(const struct bs_codec *codec, int32_t schema_id,
                    avro_value_t *record, unsigned char **out, size_t *out_len,
                    char *errstr, size_t errstr_size)
{
    const struct bs_codec_entry *entry = find_entry(codec, schema_id);
    char reason[256];
    int result;

    *out = NULL;
    *out_len = 0;
    if (!entry)
        return bs_fail(errstr, errstr_size, BS_EINVAL, "no schema with id %d",
                       (int)schema_id);
    if (!record || !record_has_schema(record, entry))
        return bs_fail(errstr, errstr_size, BS_EINVAL,
                       "the record is not of schema %d (%s)", (int)schema_id,
                       entry->full_name);

    result = encode_body(entry, record, out, out_len, errstr, errstr_size);
    if (result != BS_OK)
        return result;

    /* What we send must pass the same check every reader applies (a string
     * set with a NUL byte or bad UTF-8 would otherwise go to a DLQ). */
    result =
        bs__avro_check(entry->schema, *out + BS_CODEC_HEADER_SIZE,
                       *out_len - BS_CODEC_HEADER_SIZE, reason, sizeof(reason));
    if (result != BS_OK) {
        free(*out);
        *out = NULL;
        *out_len = 0;
        return bs_fail(errstr, errstr_size, BS_EINVAL,
                       "the record would not decode: %s", reason);
    }
    return BS_OK;
}

/* Header and body checks; on success *writer is the writer's entry. */
static int decode_check(const struct bs_codec *codec, const unsigned char *b,
                        size_t len, const struct bs_codec_entry **writer,
                        char *errstr, size_t errstr_size)
{
    int32_t id;

    if (!b || len < BS_CODEC_HEADER_SIZE)
        return bs_fail(errstr, errstr_size, BS_EDECODE,
                       "message of %zu bytes is shorter than the %d-byte "
                       "header",
                       b ? len : 0, BS_CODEC_HEADER_SIZE);
    if (b[0] != BS_CODEC_MAGIC)
        return bs_fail(errstr, errstr_size, BS_EDECODE,
                       "magic byte is 0x%02x, expected 0x%02x", b[0],
                       BS_CODEC_MAGIC);
    id = header_id(b);
    *writer = find_entry(codec, id);
    if (!*writer)
        return bs_fail(errstr, errstr_size, BS_EDECODE, "unknown schema id %d",
                       (int)id);
    return bs__avro_check((*writer)->schema, b + BS_CODEC_HEADER_SIZE,
                          len - BS_CODEC_HEADER_SIZE, errstr, errstr_size);
}

/* Decodes the (already checked) body into a new value of the writer's. */
static int decode_body(const struct bs_codec_entry *writer,
                       const unsigned char *b, size_t len, avro_value_t *out,
                       char *errstr, size_t errstr_size)
{
    avro_reader_t reader;
    int rval;

    if (avro_generic_value_new(writer->iface, out))
        return bs_fail(errstr, errstr_size, BS_ENOMEM, "out of memory");
    reader = avro_reader_memory((const char *)b + BS_CODEC_HEADER_SIZE,
                                (int64_t)(len - BS_CODEC_HEADER_SIZE));
    rval = reader ? avro_value_read(reader, out) : ENOMEM;
    if (reader)
        avro_reader_free(reader);
    if (rval) {
        avro_value_decref(out);
        return bs_fail(errstr, errstr_size,
                       rval == ENOMEM ? BS_ENOMEM : BS_EDECODE,
                       "avro-c cannot read schema %d: %s", (int)writer->id,
                       strerror(rval));
    }
    return BS_OK;
}

int bs_codec_decode(const struct bs_codec *codec, const void *bytes, size_t len,
                    int32_t reader_id, avro_value_t *record, int32_t *writer_id,
                    char *errstr, size_t errstr_size)
{
    const struct bs_codec_entry *reader = find_entry(codec, reader_id);
    const struct bs_codec_entry *writer = NULL;
    avro_value_t written;
    int result;

    if (!reader)
        return bs_fail(errstr, errstr_size, BS_EINVAL,
                       "no reader schema with id %d", (int)reader_id);
    result = decode_check(codec, bytes, len, &writer, errstr, errstr_size);
    if (result == BS_OK)
        result = decode_body(writer, bytes, len, &written, errstr, errstr_size);
    if (result != BS_OK)
        return result;

    if (writer == reader) {
        *record = written;
    } else {
        result =
            bs_codec_new_value(codec, reader_id, record, errstr, errstr_size);
        if (result == BS_OK) {
            result = bs__avro_resolve(&written, writer->schema, record,
                                      reader->schema, reader->named, errstr,
                                      errstr_size);
            if (result != BS_OK)
                avro_value_decref(record);
        }
        avro_value_decref(&written);
    }
    if (result == BS_OK && writer_id)
        *writer_id = writer->id;
    return result;
}
