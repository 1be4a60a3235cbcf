/*
 * gw_ids.c - UUIDv7, UUID parsing, Clerk ids and If-Match versions.
 *
 * A UUIDv7 is 48 bits of Unix milliseconds, the version nibble 7, 12 random
 * bits, the variant bits 10 and 62 random bits: ids sort by creation time,
 * which keeps keyset pages and B-tree inserts in order.
 */
#include "gw_ids.h"

#include "bs/error.h"

#include <ctype.h>
#include <errno.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void format_uuid(const unsigned char b[16], char out[GW_UUID_SIZE])
{
    snprintf(out, GW_UUID_SIZE,
             "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-"
             "%02x%02x%02x%02x%02x%02x",
             b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10],
             b[11], b[12], b[13], b[14], b[15]);
}

int gw_uuid_v7(int64_t unix_ms, char out[GW_UUID_SIZE])
{
    unsigned char b[16];
    uint64_t ms = (uint64_t)unix_ms & 0xffffffffffffull;

    /* Random bits first, then the timestamp, version and variant over them. */
    if (RAND_bytes(b, sizeof(b)) != 1)
        return BS_EIO;
    for (int i = 0; i < 6; i++)
        b[i] = (unsigned char)(ms >> (8 * (5 - i)));
    b[6] = (unsigned char)(0x70 | (b[6] & 0x0f));
    b[8] = (unsigned char)(0x80 | (b[8] & 0x3f));

    format_uuid(b, out);
    return BS_OK;
}

int gw_uuid_v7_now(char out[GW_UUID_SIZE])
{
    struct timespec now;

    clock_gettime(CLOCK_REALTIME, &now);
    return gw_uuid_v7((int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000, out);
}

bool gw_uuid_parse(const char *text, char out[GW_UUID_SIZE])
{
    char copy[GW_UUID_SIZE];

    if (!text || strlen(text) != GW_UUID_SIZE - 1)
        return false;
    for (size_t i = 0; i < GW_UUID_SIZE - 1; i++) {
        bool dash = i == 8 || i == 13 || i == 18 || i == 23;

        if (dash ? text[i] != '-' : !isxdigit((unsigned char)text[i]))
            return false;
        copy[i] = (char)tolower((unsigned char)text[i]);
    }
    copy[GW_UUID_SIZE - 1] = '\0';
    if (out)
        memcpy(out, copy, GW_UUID_SIZE);
    return true;
}

bool gw_clerk_id_valid(const char *text)
{
    size_t len = text ? strlen(text) : 0;

    if (len == 0 || len > GW_CLERK_ID_MAX)
        return false;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)text[i];

        if (!isalnum(c) && c != '_' && c != '-')
            return false;
    }
    return true;
}

int gw_if_match_parse(const char *value, int64_t *version)
{
    char digits[24];
    size_t len;
    char *end = NULL;
    long long parsed;

    /* Strip W/ and one pair of quotes. */
    if (!value)
        return BS_EINVAL;
    if (strncmp(value, "W/", 2) == 0)
        value += 2;
    len = strlen(value);
    if (len >= 2 && value[0] == '"' && value[len - 1] == '"') {
        value++;
        len -= 2;
    }

    /* What is left must be a positive whole number. */
    if (len == 0 || len >= sizeof(digits))
        return BS_EINVAL;
    memcpy(digits, value, len);
    digits[len] = '\0';
    for (size_t i = 0; i < len; i++) {
        if (!isdigit((unsigned char)digits[i]))
            return BS_EINVAL;
    }
    errno = 0;
    parsed = strtoll(digits, &end, 10);
    if (errno || *end || parsed < 1)
        return BS_EINVAL;
    *version = parsed;
    return BS_OK;
}
