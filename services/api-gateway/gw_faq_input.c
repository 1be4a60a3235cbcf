/*
 * gw_faq_input.c - FAQ bodies: JSON shape, known members, lengths, values.
 */
#include "gw_faq_input.h"

#include "bs/error.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const statuses[] = {"draft", "published", "archived"};

bool gw_faq_status_valid(const char *status)
{
    for (size_t i = 0; i < sizeof(statuses) / sizeof(statuses[0]); i++) {
        if (status && strcmp(status, statuses[i]) == 0)
            return true;
    }
    return false;
}

size_t gw_utf8_length(const char *text)
{
    size_t count = 0;

    for (; *text; text++) {
        if (((unsigned char)*text & 0xc0) != 0x80)
            count++;
    }
    return count;
}

static bool slug_valid(const char *slug)
{
    size_t len = strlen(slug);

    if (len == 0 || len > GW_FAQ_CATEGORY_MAX)
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = slug[i];

        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'))
            return false;
    }
    return true;
}

/* A string member of 1..max code points, copied into *out. */
static int take_text(json_t *value, const char *name, size_t max, char **out,
                     char *message, size_t message_size)
{
    const char *text = json_string_value(value);
    size_t len;

    if (!json_is_string(value))
        return bs_fail(message, message_size, BS_EINVAL,
                       "field '%s' must be a string", name);
    len = gw_utf8_length(text);
    if (len < 1 || len > max)
        return bs_fail(message, message_size, BS_EINVAL,
                       "field '%s' must be 1 to %zu characters (got %zu)", name,
                       max, len);
    *out = strdup(text);
    return *out ? BS_OK : BS_ENOMEM;
}

static int take_status(json_t *value, struct gw_faq_input *input, char *message,
                       size_t message_size)
{
    if (!json_is_string(value) ||
        !gw_faq_status_valid(json_string_value(value)))
        return bs_fail(message, message_size, BS_EINVAL,
                       "field 'status' must be one of draft, published, "
                       "archived");
    input->status = strdup(json_string_value(value));
    return input->status ? BS_OK : BS_ENOMEM;
}

static int take_category(json_t *value, struct gw_faq_input *input,
                         char *message, size_t message_size)
{
    input->has_category = true;
    if (json_is_null(value))
        return BS_OK;
    if (!json_is_string(value) || !slug_valid(json_string_value(value)))
        return bs_fail(message, message_size, BS_EINVAL,
                       "field 'category' must be null or a slug of 1 to %d "
                       "characters a-z, 0-9 and '-'",
                       GW_FAQ_CATEGORY_MAX);
    input->category = strdup(json_string_value(value));
    return input->category ? BS_OK : BS_ENOMEM;
}

/* One member, by name; unknown names are refused. */
static int take_member(const char *name, json_t *value,
                       struct gw_faq_input *input, char *message,
                       size_t message_size)
{
    if (strcmp(name, "title") == 0)
        return take_text(value, name, GW_FAQ_TITLE_MAX, &input->title, message,
                         message_size);
    if (strcmp(name, "content") == 0)
        return take_text(value, name, GW_FAQ_CONTENT_MAX, &input->content,
                         message, message_size);
    if (strcmp(name, "status") == 0)
        return take_status(value, input, message, message_size);
    if (strcmp(name, "category") == 0)
        return take_category(value, input, message, message_size);
    return bs_fail(message, message_size, BS_EINVAL,
                   "unknown field '%.64s' (allowed: title, content, status, "
                   "category)",
                   name);
}

/* What the mode needs beyond valid members. */
static int check_complete(const struct gw_faq_input *input,
                          enum gw_faq_mode mode, char *message,
                          size_t message_size)
{
    if (mode == GW_FAQ_CREATE && !input->title)
        return bs_fail(message, message_size, BS_EINVAL,
                       "field 'title' is required");
    if (mode == GW_FAQ_CREATE && !input->content)
        return bs_fail(message, message_size, BS_EINVAL,
                       "field 'content' is required");
    if (mode == GW_FAQ_UPDATE && !input->title && !input->content &&
        !input->status && !input->has_category)
        return bs_fail(message, message_size, BS_EINVAL,
                       "nothing to change: give at least one of title, "
                       "content, status, category");
    return BS_OK;
}

int gw_faq_input_parse(const char *body, size_t len, enum gw_faq_mode mode,
                       struct gw_faq_input *input, char *message,
                       size_t message_size)
{
    json_error_t error;
    json_t *root;
    const char *name;
    json_t *value;
    int result = BS_OK;

    memset(input, 0, sizeof(*input));
    root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &error);
    if (!root)
        return bs_fail(message, message_size, BS_EINVAL,
                       "body is not valid JSON (line %d, column %d)",
                       error.line, error.column);
    if (!json_is_object(root)) {
        result = bs_fail(message, message_size, BS_EINVAL,
                         "body must be a JSON object");
        goto out;
    }

    json_object_foreach(root, name, value)
    {
        result = take_member(name, value, input, message, message_size);
        if (result != BS_OK)
            goto out;
    }
    result = check_complete(input, mode, message, message_size);

out:
    json_decref(root);
    if (result != BS_OK)
        gw_faq_input_clear(input);
    return result;
}

void gw_faq_input_clear(struct gw_faq_input *input)
{
    free(input->title);
    free(input->content);
    free(input->status);
    free(input->category);
    memset(input, 0, sizeof(*input));
}
