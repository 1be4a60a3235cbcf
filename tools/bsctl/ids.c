/*
 * ids.c - ids and clocks the bsctl commands share (see ids.h).
 */
#include "ids.h"

#include "bs/error.h"

#include <ctype.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

bool bsctl_uuid_valid(const char *id)
{
    if (strlen(id) != BSCTL_UUID_LEN)
        return false;
    for (int i = 0; i < BSCTL_UUID_LEN; i++) {
        bool dash = i == 8 || i == 13 || i == 18 || i == 23;

        if (dash ? id[i] != '-' : !isxdigit((unsigned char)id[i]))
            return false;
    }
    return true;
}

/* 16 bytes as UUID text, with the version nibble and the RFC variant. */
static void uuid_format(unsigned char b[16], unsigned version,
                        char out[BSCTL_UUID_LEN + 1])
{
    b[6] = (unsigned char)((b[6] & 0x0f) | (version << 4));
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
    snprintf(out, BSCTL_UUID_LEN + 1,
             "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-"
             "%02x%02x%02x%02x%02x%02x",
             b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10],
             b[11], b[12], b[13], b[14], b[15]);
}

int bsctl_uuid_random(char out[BSCTL_UUID_LEN + 1])
{
    unsigned char b[16];

    if (RAND_bytes(b, sizeof(b)) != 1)
        return BS_EIO;
    uuid_format(b, 4, out);
    return BS_OK;
}

int bsctl_uuid_from_name(const char *scope, const char *name,
                         char out[BSCTL_UUID_LEN + 1])
{
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int digest_len = 0;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    int ok = ctx && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1 &&
             EVP_DigestUpdate(ctx, scope, strlen(scope) + 1) == 1 &&
             EVP_DigestUpdate(ctx, name, strlen(name)) == 1 &&
             EVP_DigestFinal_ex(ctx, digest, &digest_len) == 1;

    EVP_MD_CTX_free(ctx);
    if (!ok)
        return BS_EIO;
    uuid_format(digest, 8, out);
    return BS_OK;
}

long long bsctl_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

double bsctl_monotonic_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}
