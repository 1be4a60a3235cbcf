/*
 * clerk_event.c - Clerk's user webhooks mapped onto UserEvent with jansson.
 *
 * Strict about what the event needs (the user's id, Clerk's updated_at for
 * ordering, the types of the fields it copies) and lenient about the rest:
 * Clerk adds fields over time and they are ignored. The primary e-mail is the
 * entry of email_addresses whose id is primary_email_address_id; a user may
 * have none, and then the event carries no e-mail.
 */
#include "clerk_event.h"

#include "bs/error.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const known_roles[] = {"admin", "agent", "user"};

/* Copies an optional string member: absent or null → NULL. */
static int copy_optional_string(json_t *object, const char *key, size_t max_len,
                                char **out, char *reason, size_t reason_size)
{
    json_t *value = json_object_get(object, key);

    *out = NULL;
    if (!value || json_is_null(value))
        return BS_OK;
    if (!json_is_string(value))
        return bs_fail(reason, reason_size, BS_EINVAL,
                       "data.%s must be a string or null", key);
    if (json_string_length(value) > max_len)
        return bs_fail(reason, reason_size, BS_EINVAL,
                       "data.%s is longer than %zu bytes", key, max_len);
    *out = strdup(json_string_value(value));
    return *out ? BS_OK : BS_ENOMEM;
}

static int copy_required_id(json_t *data, char **out, char *reason,
                            size_t reason_size)
{
    int result = copy_optional_string(data, "id", CLERK_MAX_ID, out, reason,
                                      reason_size);

    if (result == BS_OK && (!*out || !**out)) {
        free(*out);
        *out = NULL;
        return bs_fail(reason, reason_size, BS_EINVAL,
                       "data.id is missing or empty");
    }
    return result;
}

/* The primary address, if the user has one. */
static int copy_primary_email(json_t *data, char **out, char *reason,
                              size_t reason_size)
{
    json_t *primary = json_object_get(data, "primary_email_address_id");
    json_t *addresses = json_object_get(data, "email_addresses");
    json_t *entry;
    size_t index;

    *out = NULL;
    if (!primary || json_is_null(primary))
        return BS_OK;
    if (!json_is_string(primary))
        return bs_fail(reason, reason_size, BS_EINVAL,
                       "data.primary_email_address_id must be a string");
    if (addresses && !json_is_array(addresses))
        return bs_fail(reason, reason_size, BS_EINVAL,
                       "data.email_addresses must be an array");

    json_array_foreach(addresses, index, entry)
    {
        json_t *id = json_object_get(entry, "id");

        if (json_is_string(id) &&
            strcmp(json_string_value(id), json_string_value(primary)) == 0)
            return copy_optional_string(entry, "email_address", CLERK_MAX_TEXT,
                                        out, reason, reason_size);
    }
    return BS_OK;
}

static int copy_role(json_t *data, char **out, char *reason, size_t reason_size)
{
    json_t *metadata = json_object_get(data, "public_metadata");
    int result;

    *out = NULL;
    if (!metadata || json_is_null(metadata))
        return BS_OK;
    if (!json_is_object(metadata))
        return bs_fail(reason, reason_size, BS_EINVAL,
                       "data.public_metadata must be an object");
    result =
        copy_optional_string(metadata, "role", 32, out, reason, reason_size);
    if (result != BS_OK || !*out)
        return result;

    for (size_t i = 0; i < sizeof(known_roles) / sizeof(known_roles[0]); i++)
        if (strcmp(*out, known_roles[i]) == 0)
            return BS_OK;
    free(*out);
    *out = NULL;
    return bs_fail(reason, reason_size, BS_EINVAL,
                   "data.public_metadata.role is not admin, agent or user");
}

static int copy_updated_at(json_t *data, struct bs_user_event *event,
                           char *reason, size_t reason_size)
{
    json_t *value = json_object_get(data, "updated_at");

    if (!json_is_integer(value) || json_integer_value(value) < 0)
        return bs_fail(reason, reason_size, BS_EINVAL,
                       "data.updated_at must be a non-negative integer (ms)");
    event->has_clerk_updated_at = true;
    event->clerk_updated_at = json_integer_value(value);
    return BS_OK;
}

/* user.created / user.updated: the user's whole state. */
static int map_user_state(json_t *data, struct bs_user_event *event,
                          char *reason, size_t reason_size)
{
    int result;

    result = copy_required_id(data, &event->clerk_user_id, reason, reason_size);
    if (result == BS_OK)
        result = copy_updated_at(data, event, reason, reason_size);
    if (result == BS_OK)
        result = copy_primary_email(data, &event->email, reason, reason_size);
    if (result == BS_OK)
        result = copy_optional_string(data, "first_name", CLERK_MAX_TEXT,
                                      &event->first_name, reason, reason_size);
    if (result == BS_OK)
        result = copy_optional_string(data, "last_name", CLERK_MAX_TEXT,
                                      &event->last_name, reason, reason_size);
    if (result == BS_OK)
        result = copy_optional_string(data, "image_url", CLERK_MAX_URL,
                                      &event->image_url, reason, reason_size);
    if (result == BS_OK)
        result = copy_role(data, &event->role, reason, reason_size);
    return result;
}

static int fill_meta(const struct clerk_map_input *input,
                     struct bs_user_event *event)
{
    event->meta.event_id = strdup(input->svix_id);
    event->meta.product = strdup(input->product);
    event->meta.source = strdup(input->source);
    event->meta.occurred_at = input->received_at;
    if (!event->meta.event_id || !event->meta.product || !event->meta.source)
        return BS_ENOMEM;
    return BS_OK;
}

static bool parse_action(const char *type, enum bs_user_action *action)
{
    if (strcmp(type, "user.created") == 0)
        *action = BS_USER_CREATED;
    else if (strcmp(type, "user.updated") == 0)
        *action = BS_USER_UPDATED;
    else if (strcmp(type, "user.deleted") == 0)
        *action = BS_USER_DELETED;
    else
        return false;
    return true;
}

enum clerk_map_result clerk_map_webhook(const struct clerk_map_input *input,
                                        struct bs_user_event *event,
                                        char *event_type,
                                        size_t event_type_size, char *reason,
                                        size_t reason_size)
{
    enum clerk_map_result outcome = CLERK_MAP_INVALID;
    json_error_t json_error;
    json_t *root, *type, *data;
    int result;

    memset(event, 0, sizeof(*event));
    if (event_type && event_type_size)
        event_type[0] = '\0';

    /* Without JSON_ALLOW_NUL jansson refuses "\u0000", so every string
     * below is a proper C string. */
    root = json_loadb(input->body, input->body_len, JSON_REJECT_DUPLICATES,
                      &json_error);
    if (!root) {
        bs_fail(reason, reason_size, BS_EINVAL,
                "body is not JSON (line %d column %d)", json_error.line,
                json_error.column);
        return CLERK_MAP_INVALID;
    }

    /* The envelope: an object with a string type and an object data. */
    type = json_object_get(root, "type");
    data = json_object_get(root, "data");
    if (!json_is_object(root) || !json_is_string(type)) {
        bs_fail(reason, reason_size, BS_EINVAL,
                "body is not a webhook envelope with a string 'type'");
        goto out;
    }
    if (event_type && event_type_size)
        snprintf(event_type, event_type_size, "%s", json_string_value(type));
    if (!parse_action(json_string_value(type), &event->action)) {
        outcome = CLERK_MAP_OTHER_TYPE;
        goto out;
    }
    if (!json_is_object(data)) {
        bs_fail(reason, reason_size, BS_EINVAL, "'data' is not an object");
        goto out;
    }

    /* The user: a deletion carries only the id; the others the state. */
    if (event->action == BS_USER_DELETED)
        result =
            copy_required_id(data, &event->clerk_user_id, reason, reason_size);
    else
        result = map_user_state(data, event, reason, reason_size);
    if (result == BS_OK)
        result = fill_meta(input, event);
    if (result == BS_ENOMEM)
        bs_fail(reason, reason_size, BS_ENOMEM, "out of memory");
    if (result == BS_OK)
        outcome = CLERK_MAP_USER_EVENT;

out:
    if (outcome != CLERK_MAP_USER_EVENT)
        bs_user_event_clear(event);
    json_decref(root);
    return outcome;
}
