/*
 * gw_page.c - limits and base64url cursors (OpenSSL's base64 underneath).
 */
#include "gw_page.h"

#include "bs/error.h"

#include <ctype.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>

#define CURSOR_PREFIX     "v1:"
#define CURSOR_PREFIX_LEN 3

int gw_limit_parse(const char *text, unsigned *limit)
{
    unsigned value = 0;
    size_t len;

    if (!text) {
        *limit = GW_LIMIT_DEFAULT;
        return BS_OK;
    }
    len = strlen(text);
    if (len == 0 || len > 3)
        return BS_EINVAL;
    for (size_t i = 0; i < len; i++) {
        if (!isdigit((unsigned char)text[i]))
            return BS_EINVAL;
        value = value * 10 + (unsigned)(text[i] - '0');
    }
    if (value < 1 || value > GW_LIMIT_MAX)
        return BS_EINVAL;
    *limit = value;
    return BS_OK;
}

int gw_cursor_encode(const char *key, char *out, size_t out_size)
{
    unsigned char plain[GW_KEY_MAX + CURSOR_PREFIX_LEN];
    unsigned char encoded[((GW_KEY_MAX + CURSOR_PREFIX_LEN + 2) / 3) * 4 + 1];
    size_t key_len = key ? strlen(key) : 0;
    int n;

    if (key_len == 0 || key_len >= GW_KEY_MAX)
        return BS_EINVAL;
    memcpy(plain, CURSOR_PREFIX, CURSOR_PREFIX_LEN);
    memcpy(plain + CURSOR_PREFIX_LEN, key, key_len);
    n = EVP_EncodeBlock(encoded, plain, (int)(key_len + CURSOR_PREFIX_LEN));

    /* base64 to base64url without padding. */
    while (n > 0 && encoded[n - 1] == '=')
        n--;
    if ((size_t)n >= out_size)
        return BS_EINVAL;
    for (int i = 0; i < n; i++)
        out[i] = encoded[i] == '+'   ? '-'
                 : encoded[i] == '/' ? '_'
                                     : (char)encoded[i];
    out[n] = '\0';
    return BS_OK;
}

/* base64url (unpadded) to standard padded base64; false on a bad byte or
 * an impossible length. */
static bool to_base64(const char *cursor, size_t len, char *out)
{
    size_t i;

    if (len % 4 == 1)
        return false;
    for (i = 0; i < len; i++) {
        char c = cursor[i];

        if (c == '-')
            c = '+';
        else if (c == '_')
            c = '/';
        else if (!isalnum((unsigned char)c))
            return false;
        out[i] = c;
    }
    while (i % 4 != 0)
        out[i++] = '=';
    out[i] = '\0';
    return true;
}

int gw_cursor_decode(const char *cursor, char *key, size_t key_size)
{
    char padded[GW_CURSOR_MAX + 4];
    unsigned char plain[GW_CURSOR_MAX];
    size_t len = cursor ? strlen(cursor) : 0;
    size_t padding, plain_len;
    int n;

    /* Back to bytes. */
    if (len == 0 || len > GW_CURSOR_MAX || !to_base64(cursor, len, padded))
        return BS_EINVAL;
    n = EVP_DecodeBlock(plain, (const unsigned char *)padded,
                        (int)strlen(padded));
    if (n < 0)
        return BS_EINVAL;
    padding = (4 - len % 4) % 4;
    plain_len = (size_t)n - padding;

    /* "v1:" and a printable key that fits. */
    if (plain_len <= CURSOR_PREFIX_LEN ||
        memcmp(plain, CURSOR_PREFIX, CURSOR_PREFIX_LEN) != 0 ||
        plain_len - CURSOR_PREFIX_LEN >= key_size)
        return BS_EINVAL;
    for (size_t i = CURSOR_PREFIX_LEN; i < plain_len; i++) {
        if (plain[i] < 0x21 || plain[i] > 0x7e)
            return BS_EINVAL;
    }
    memcpy(key, plain + CURSOR_PREFIX_LEN, plain_len - CURSOR_PREFIX_LEN);
    key[plain_len - CURSOR_PREFIX_LEN] = '\0';
    return BS_OK;
}
