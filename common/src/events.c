/*
 * events.c - the three contract events as C structs, mapped to and from the
 * newest catalog version of their schema.
 *
 * Fields are found by name, never by position, and a nullable field's union
 * branch by its type, so a newer schema version that adds fields (with
 * defaults) or reorders them needs no change here; one that renames or
 * retypes a field does. Decoding reads any catalog version: the codec
 * resolves the writer's version to the newest first.
 *
 * Not here: the wire format and resolution (codec.c), topics, keys and
 * headers (the publisher and the consumer pipeline), checking the product.
 */
#include "bs/events.h"

#include "bs/error.h"

#include <stdlib.h>
#include <string.h>

static const char *const user_action_names[] = {"created", "updated",
                                                "deleted"};
static const char *const faq_action_names[] = {"upsert", "delete", "reindex"};

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

const char *bs_user_action_name(enum bs_user_action action)
{
    if ((size_t)action >= COUNT(user_action_names))
        return "unknown";
    return user_action_names[action];
}

const char *bs_faq_action_name(enum bs_faq_action action)
{
    if ((size_t)action >= COUNT(faq_action_names))
        return "unknown";
    return faq_action_names[action];
}

/* The record being filled or read, for the field helpers below. */
struct fields {
    avro_value_t *record;
    char *errstr;
    size_t errstr_size;
};

static int field_get(struct fields *f, const char *name, avro_value_t *field)
{
    if (avro_value_get_by_name(f->record, name, field, NULL))
        return bs_fail(f->errstr, f->errstr_size, BS_EINVAL,
                       "the schema has no field '%s'", name);
    return BS_OK;
}

/* A schema itself, not a link (a reference to a named type). */
static avro_schema_t deref(avro_schema_t schema)
{
    while (is_avro_link(schema))
        schema = avro_schema_link_target(schema);
    return schema;
}

static avro_type_t branch_type(avro_schema_t schema)
{
    return avro_typeof(deref(schema));
}

/* Points `target` at `field` itself, or at its union branch of `type`. */
static int field_pick(struct fields *f, const char *name, avro_value_t *field,
                      avro_type_t type, avro_value_t *target)
{
    avro_schema_t schema = avro_value_get_schema(field);

    if (!is_avro_union(schema)) {
        *target = *field;
        if (branch_type(schema) == type)
            return BS_OK;
    }
    for (size_t i = 0;
         is_avro_union(schema) && i < avro_schema_union_size(schema); i++) {
        if (branch_type(avro_schema_union_branch(schema, (int)i)) == type &&
            avro_value_set_branch(field, (int)i, target) == 0)
            return BS_OK;
    }
    return bs_fail(f->errstr, f->errstr_size, BS_EINVAL,
                   "field '%s' cannot hold a %s", name,
                   type == AVRO_NULL ? "null" : "value of this type");
}

/*--------------------------------------------------------------------------
 * Writing fields
 */

static int put_string(struct fields *f, const char *name, const char *value,
                      bool nullable)
{
    avro_value_t field;
    avro_value_t target;
    int result;

    if (!value && !nullable)
        return bs_fail(f->errstr, f->errstr_size, BS_EINVAL,
                       "field '%s' is required", name);
    result = field_get(f, name, &field);
    if (result == BS_OK)
        result = field_pick(f, name, &field, value ? AVRO_STRING : AVRO_NULL,
                            &target);
    if (result != BS_OK)
        return result;
    if (value ? avro_value_set_string(&target, value)
              : avro_value_set_null(&target))
        return bs_fail(f->errstr, f->errstr_size, BS_ENOMEM,
                       "cannot set field '%s'", name);
    return BS_OK;
}

static int put_long(struct fields *f, const char *name, bool present,
                    int64_t value)
{
    avro_value_t field;
    avro_value_t target;
    int result = field_get(f, name, &field);

    if (result == BS_OK)
        result = field_pick(f, name, &field, present ? AVRO_INT64 : AVRO_NULL,
                            &target);
    if (result != BS_OK)
        return result;
    if (present ? avro_value_set_long(&target, value)
                : avro_value_set_null(&target))
        return bs_fail(f->errstr, f->errstr_size, BS_EINVAL,
                       "cannot set field '%s'", name);
    return BS_OK;
}

static int put_enum(struct fields *f, const char *name, const char *symbol)
{
    avro_value_t field;
    int index;
    int result = field_get(f, name, &field);

    if (result != BS_OK)
        return result;
    index = avro_schema_enum_get_by_name(deref(avro_value_get_schema(&field)),
                                         symbol);
    if (index < 0 || avro_value_set_enum(&field, index))
        return bs_fail(f->errstr, f->errstr_size, BS_EINVAL,
                       "field '%s' has no symbol '%s'", name, symbol);
    return BS_OK;
}

static int put_meta(struct fields *f, const struct bs_event_meta *meta)
{
    int result = put_string(f, "event_id", meta->event_id, false);

    if (result == BS_OK)
        result = put_string(f, "product", meta->product, false);
    if (result == BS_OK)
        result = put_long(f, "occurred_at", true, meta->occurred_at);
    if (result == BS_OK)
        result = put_string(f, "source", meta->source, false);
    return result;
}

/*--------------------------------------------------------------------------
 * Reading fields
 */

/* The field's value, or its current union branch. */
static int field_read(struct fields *f, const char *name, avro_value_t *value)
{
    avro_value_t field;
    int result = field_get(f, name, &field);

    if (result != BS_OK)
        return result;
    if (avro_value_get_type(&field) != AVRO_UNION) {
        *value = field;
        return BS_OK;
    }
    if (avro_value_get_current_branch(&field, value))
        return bs_fail(f->errstr, f->errstr_size, BS_EDECODE,
                       "field '%s' has no branch", name);
    return BS_OK;
}

static int get_string(struct fields *f, const char *name, char **out,
                      bool nullable)
{
    avro_value_t value;
    const char *str;
    size_t size;
    int result = field_read(f, name, &value);

    if (result != BS_OK)
        return result;
    if (nullable && avro_value_get_type(&value) == AVRO_NULL)
        return BS_OK;
    if (avro_value_get_type(&value) != AVRO_STRING ||
        avro_value_get_string(&value, &str, &size))
        return bs_fail(f->errstr, f->errstr_size, BS_EDECODE,
                       "field '%s' is not a string", name);
    *out = strndup(str, size ? size - 1 : 0);
    if (!*out)
        return bs_fail(f->errstr, f->errstr_size, BS_ENOMEM, "out of memory");
    return BS_OK;
}

static int get_long(struct fields *f, const char *name, bool *present,
                    int64_t *out)
{
    avro_value_t value;
    int result = field_read(f, name, &value);

    if (result != BS_OK)
        return result;
    if (present && avro_value_get_type(&value) == AVRO_NULL) {
        *present = false;
        return BS_OK;
    }
    if (avro_value_get_type(&value) != AVRO_INT64 ||
        avro_value_get_long(&value, out))
        return bs_fail(f->errstr, f->errstr_size, BS_EDECODE,
                       "field '%s' is not a long", name);
    if (present)
        *present = true;
    return BS_OK;
}

/* Maps the enum field's symbol to its position in `names`. */
static int get_enum(struct fields *f, const char *name,
                    const char *const names[], size_t count, int *out)
{
    avro_value_t value;
    int index;
    const char *symbol;
    int result = field_read(f, name, &value);

    if (result != BS_OK)
        return result;
    if (avro_value_get_type(&value) != AVRO_ENUM ||
        avro_value_get_enum(&value, &index))
        return bs_fail(f->errstr, f->errstr_size, BS_EDECODE,
                       "field '%s' is not an enum", name);
    symbol = avro_schema_enum_get(deref(avro_value_get_schema(&value)), index);
    for (size_t i = 0; symbol && i < count; i++) {
        if (strcmp(names[i], symbol) == 0) {
            *out = (int)i;
            return BS_OK;
        }
    }
    return bs_fail(f->errstr, f->errstr_size, BS_EDECODE,
                   "field '%s': unknown symbol '%s'", name,
                   symbol ? symbol : "?");
}

static int get_meta(struct fields *f, struct bs_event_meta *meta)
{
    int result = get_string(f, "event_id", &meta->event_id, false);

    if (result == BS_OK)
        result = get_string(f, "product", &meta->product, false);
    if (result == BS_OK)
        result = get_long(f, "occurred_at", NULL, &meta->occurred_at);
    if (result == BS_OK)
        result = get_string(f, "source", &meta->source, false);
    return result;
}

static void meta_clear(struct bs_event_meta *meta)
{
    free(meta->event_id);
    free(meta->product);
    free(meta->source);
}

/*--------------------------------------------------------------------------
 * Encode and decode, shared by the three events
 */

typedef int (*fill_fn)(struct fields *f, const void *event);
typedef int (*read_fn)(struct fields *f, void *event);

static int event_encode(const struct bs_codec *codec, const char *schema_name,
                        fill_fn fill, const void *event, unsigned char **out,
                        size_t *out_len, char *errstr, size_t errstr_size)
{
    int32_t id = bs_codec_latest_id(codec, schema_name);
    avro_value_t record;
    struct fields f = {&record, errstr, errstr_size};
    int result;

    *out = NULL;
    *out_len = 0;
    if (id < 0)
        return bs_fail(errstr, errstr_size, BS_ENOTFOUND,
                       "the codec has no schema %s", schema_name);
    result = bs_codec_new_value(codec, id, &record, errstr, errstr_size);
    if (result != BS_OK)
        return result;
    result = fill(&f, event);
    if (result == BS_OK)
        result = bs_codec_encode(codec, id, &record, out, out_len, errstr,
                                 errstr_size);
    avro_value_decref(&record);
    return result;
}

/* On failure the caller clears the (partly filled) event. */
static int event_decode(const struct bs_codec *codec, const char *schema_name,
                        read_fn read, void *event, const void *bytes,
                        size_t len, char *errstr, size_t errstr_size)
{
    int32_t id = bs_codec_latest_id(codec, schema_name);
    avro_value_t record;
    struct fields f = {&record, errstr, errstr_size};
    int result;

    if (id < 0)
        return bs_fail(errstr, errstr_size, BS_ENOTFOUND,
                       "the codec has no schema %s", schema_name);
    result = bs_codec_decode(codec, bytes, len, id, &record, NULL, errstr,
                             errstr_size);
    if (result != BS_OK)
        return result;
    result = read(&f, event);
    avro_value_decref(&record);
    return result;
}

/*--------------------------------------------------------------------------
 * UserEvent
 */

static int user_fill(struct fields *f, const void *event)
{
    const struct bs_user_event *e = event;
    int result;

    if ((size_t)e->action >= COUNT(user_action_names))
        return bs_fail(f->errstr, f->errstr_size, BS_EINVAL,
                       "user action %d out of range", (int)e->action);
    result = put_meta(f, &e->meta);
    if (result == BS_OK)
        result = put_enum(f, "action", user_action_names[e->action]);
    if (result == BS_OK)
        result = put_string(f, "clerk_user_id", e->clerk_user_id, false);
    if (result == BS_OK)
        result = put_string(f, "email", e->email, true);
    if (result == BS_OK)
        result = put_string(f, "first_name", e->first_name, true);
    if (result == BS_OK)
        result = put_string(f, "last_name", e->last_name, true);
    if (result == BS_OK)
        result = put_string(f, "role", e->role, true);
    if (result == BS_OK)
        result = put_string(f, "image_url", e->image_url, true);
    if (result == BS_OK)
        result = put_long(f, "clerk_updated_at", e->has_clerk_updated_at,
                          e->clerk_updated_at);
    return result;
}

static int user_read(struct fields *f, void *event)
{
    struct bs_user_event *e = event;
    int action = 0;
    int result = get_meta(f, &e->meta);

    if (result == BS_OK)
        result = get_enum(f, "action", user_action_names,
                          COUNT(user_action_names), &action);
    e->action = (enum bs_user_action)action;
    if (result == BS_OK)
        result = get_string(f, "clerk_user_id", &e->clerk_user_id, false);
    if (result == BS_OK)
        result = get_string(f, "email", &e->email, true);
    if (result == BS_OK)
        result = get_string(f, "first_name", &e->first_name, true);
    if (result == BS_OK)
        result = get_string(f, "last_name", &e->last_name, true);
    if (result == BS_OK)
        result = get_string(f, "role", &e->role, true);
    if (result == BS_OK)
        result = get_string(f, "image_url", &e->image_url, true);
    if (result == BS_OK)
        result = get_long(f, "clerk_updated_at", &e->has_clerk_updated_at,
                          &e->clerk_updated_at);
    return result;
}

int bs_user_event_encode(const struct bs_codec *codec,
                         const struct bs_user_event *event, unsigned char **out,
                         size_t *out_len, char *errstr, size_t errstr_size)
{
    return event_encode(codec, BS_USER_EVENT_NAME, user_fill, event, out,
                        out_len, errstr, errstr_size);
}

int bs_user_event_decode(const struct bs_codec *codec, const void *bytes,
                         size_t len, struct bs_user_event *event, char *errstr,
                         size_t errstr_size)
{
    int result;

    memset(event, 0, sizeof(*event));
    result = event_decode(codec, BS_USER_EVENT_NAME, user_read, event, bytes,
                          len, errstr, errstr_size);
    if (result != BS_OK)
        bs_user_event_clear(event);
    return result;
}

void bs_user_event_clear(struct bs_user_event *event)
{
    meta_clear(&event->meta);
    free(event->clerk_user_id);
    free(event->email);
    free(event->first_name);
    free(event->last_name);
    free(event->role);
    free(event->image_url);
    memset(event, 0, sizeof(*event));
}

/*--------------------------------------------------------------------------
 * FaqDocumentEvent
 */

static int faq_fill(struct fields *f, const void *event)
{
    const struct bs_faq_event *e = event;
    int result;

    if ((size_t)e->action >= COUNT(faq_action_names))
        return bs_fail(f->errstr, f->errstr_size, BS_EINVAL,
                       "faq action %d out of range", (int)e->action);
    result = put_meta(f, &e->meta);
    if (result == BS_OK)
        result = put_enum(f, "action", faq_action_names[e->action]);
    if (result == BS_OK)
        result = put_string(f, "document_id", e->document_id, false);
    if (result == BS_OK)
        result = put_string(f, "category", e->category, true);
    if (result == BS_OK)
        result = put_string(f, "title", e->title, true);
    if (result == BS_OK)
        result = put_string(f, "content", e->content, true);
    if (result == BS_OK)
        result = put_string(f, "status", e->status, true);
    if (result == BS_OK)
        result = put_long(f, "version", true, e->version);
    if (result == BS_OK)
        result = put_string(f, "actor_id", e->actor_id, true);
    return result;
}

static int faq_read(struct fields *f, void *event)
{
    struct bs_faq_event *e = event;
    int action = 0;
    int result = get_meta(f, &e->meta);

    if (result == BS_OK)
        result = get_enum(f, "action", faq_action_names,
                          COUNT(faq_action_names), &action);
    e->action = (enum bs_faq_action)action;
    if (result == BS_OK)
        result = get_string(f, "document_id", &e->document_id, false);
    if (result == BS_OK)
        result = get_string(f, "category", &e->category, true);
    if (result == BS_OK)
        result = get_string(f, "title", &e->title, true);
    if (result == BS_OK)
        result = get_string(f, "content", &e->content, true);
    if (result == BS_OK)
        result = get_string(f, "status", &e->status, true);
    if (result == BS_OK)
        result = get_long(f, "version", NULL, &e->version);
    if (result == BS_OK)
        result = get_string(f, "actor_id", &e->actor_id, true);
    return result;
}

int bs_faq_event_encode(const struct bs_codec *codec,
                        const struct bs_faq_event *event, unsigned char **out,
                        size_t *out_len, char *errstr, size_t errstr_size)
{
    return event_encode(codec, BS_FAQ_EVENT_NAME, faq_fill, event, out, out_len,
                        errstr, errstr_size);
}

int bs_faq_event_decode(const struct bs_codec *codec, const void *bytes,
                        size_t len, struct bs_faq_event *event, char *errstr,
                        size_t errstr_size)
{
    int result;

    memset(event, 0, sizeof(*event));
    result = event_decode(codec, BS_FAQ_EVENT_NAME, faq_read, event, bytes, len,
                          errstr, errstr_size);
    if (result != BS_OK)
        bs_faq_event_clear(event);
    return result;
}

void bs_faq_event_clear(struct bs_faq_event *event)
{
    meta_clear(&event->meta);
    free(event->document_id);
    free(event->category);
    free(event->title);
    free(event->content);
    free(event->status);
    free(event->actor_id);
    memset(event, 0, sizeof(*event));
}

/*--------------------------------------------------------------------------
 * AuditEvent
 */

static int audit_fill(struct fields *f, const void *event)
{
    const struct bs_audit_event *e = event;
    int result = put_meta(f, &e->meta);

    if (result == BS_OK)
        result = put_string(f, "actor_id", e->actor_id, true);
    if (result == BS_OK)
        result = put_string(f, "action", e->action, false);
    if (result == BS_OK)
        result = put_string(f, "entity_type", e->entity_type, false);
    if (result == BS_OK)
        result = put_string(f, "entity_id", e->entity_id, false);
    if (result == BS_OK)
        result = put_string(f, "changes", e->changes, true);
    if (result == BS_OK)
        result = put_string(f, "request_id", e->request_id, true);
    return result;
}

static int audit_read(struct fields *f, void *event)
{
    struct bs_audit_event *e = event;
    int result = get_meta(f, &e->meta);

    if (result == BS_OK)
        result = get_string(f, "actor_id", &e->actor_id, true);
    if (result == BS_OK)
        result = get_string(f, "action", &e->action, false);
    if (result == BS_OK)
        result = get_string(f, "entity_type", &e->entity_type, false);
    if (result == BS_OK)
        result = get_string(f, "entity_id", &e->entity_id, false);
    if (result == BS_OK)
        result = get_string(f, "changes", &e->changes, true);
    if (result == BS_OK)
        result = get_string(f, "request_id", &e->request_id, true);
    return result;
}

int bs_audit_event_encode(const struct bs_codec *codec,
                          const struct bs_audit_event *event,
                          unsigned char **out, size_t *out_len, char *errstr,
                          size_t errstr_size)
{
    return event_encode(codec, BS_AUDIT_EVENT_NAME, audit_fill, event, out,
                        out_len, errstr, errstr_size);
}

int bs_audit_event_decode(const struct bs_codec *codec, const void *bytes,
                          size_t len, struct bs_audit_event *event,
                          char *errstr, size_t errstr_size)
{
    int result;

    memset(event, 0, sizeof(*event));
    result = event_decode(codec, BS_AUDIT_EVENT_NAME, audit_read, event, bytes,
                          len, errstr, errstr_size);
    if (result != BS_OK)
        bs_audit_event_clear(event);
    return result;
}

void bs_audit_event_clear(struct bs_audit_event *event)
{
    meta_clear(&event->meta);
    free(event->actor_id);
    free(event->action);
    free(event->entity_type);
    free(event->entity_id);
    free(event->changes);
    free(event->request_id);
    memset(event, 0, sizeof(*event));
}
