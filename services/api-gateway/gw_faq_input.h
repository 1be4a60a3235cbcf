/*
 * gw_faq_input.h - the body of a FAQ create or update, checked.
 *
 * Accepts a JSON object with only these members: "title" (1..200
 * characters), "content" (1..20000 characters), "status" ("draft",
 * "published" or "archived") and "category" (a slug of 1..100 characters
 * [a-z0-9-], or null for none). Characters are Unicode code points (jansson
 * has already refused invalid UTF-8 and NUL). Duplicate members are refused.
 * A create needs title and content (status defaults to "draft"); an update
 * needs at least one member.
 *
 * Not here: whether the category exists in this product (a database
 * question, answered 422 by the handler).
 */
#ifndef GW_FAQ_INPUT_H
#define GW_FAQ_INPUT_H

#include <stdbool.h>
#include <stddef.h>

#define GW_FAQ_TITLE_MAX    200
#define GW_FAQ_CONTENT_MAX  20000
#define GW_FAQ_CATEGORY_MAX 100

enum gw_faq_mode { GW_FAQ_CREATE, GW_FAQ_UPDATE };

/* What the body said. Strings are malloc'd copies (NULL when absent);
 * free them with gw_faq_input_clear(). */
struct gw_faq_input {
    char *title;
    char *content;
    char *status;
    char *category;    /* NULL: absent or null */
    bool has_category; /* the member was given (null included) */
};

/*
 * Parses and checks `body` (len bytes). On BS_OK *input owns its strings.
 * On BS_EINVAL `message` holds one line naming the problem (the field and
 * the rule; never the value) and *input is empty. BS_ENOMEM when out of
 * memory.
 */
int gw_faq_input_parse(const char *body, size_t len, enum gw_faq_mode mode,
                       struct gw_faq_input *input, char *message,
                       size_t message_size);

/* Frees the strings and zeroes the struct. */
void gw_faq_input_clear(struct gw_faq_input *input);

/* True for "draft", "published" and "archived". */
bool gw_faq_status_valid(const char *status);

/* Code points in a valid UTF-8 string. */
size_t gw_utf8_length(const char *text);

#endif
