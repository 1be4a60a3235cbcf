/*
 * gw_page.h - keyset pagination: the limit and the opaque cursor.
 *
 * Every list is ordered by its primary key within the product (a Clerk id
 * or a UUID), so a page is "rows whose key is greater than the cursor's,
 * first `limit` of them" and the cursor is the last key of the page. A
 * cursor is base64url (no padding) of "v1:<key>": opaque to clients, and
 * versioned so the sort key may change later. Decoding checks the prefix
 * and the key's shape; the caller checks the key for its list (UUID or
 * Clerk id). Pure functions, thread-safe.
 */
#ifndef GW_PAGE_H
#define GW_PAGE_H

#include <stdbool.h>
#include <stddef.h>

#define GW_LIMIT_DEFAULT 20
#define GW_LIMIT_MAX     100

/* Room for the cursor of a key of up to 255 bytes, and its NUL. */
#define GW_CURSOR_MAX 360
#define GW_KEY_MAX    256

/*
 * The `limit` query value: NULL gives GW_LIMIT_DEFAULT; otherwise 1 to 3
 * decimal digits in 1..GW_LIMIT_MAX. Returns BS_OK or BS_EINVAL.
 */
int gw_limit_parse(const char *text, unsigned *limit);

/*
 * Writes the cursor of `key` (1..GW_KEY_MAX-1 bytes, no NUL) into out.
 * Returns BS_OK, or BS_EINVAL when the key or the buffer does not fit.
 */
int gw_cursor_encode(const char *key, char *out, size_t out_size);

/*
 * Reads a cursor back into key (GW_KEY_MAX bytes are enough). Returns
 * BS_OK, or BS_EINVAL for anything that is not a cursor this module wrote:
 * not base64url, wrong prefix, an empty key or one with bytes outside
 * printable ASCII.
 */
int gw_cursor_decode(const char *cursor, char *key, size_t key_size);

#endif
