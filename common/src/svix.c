/*
 * svix.c - Svix webhook signatures over OpenSSL's HMAC and base64.
 *
 * Each secret gets an HMAC-SHA256 context keyed once at start-up; a request
 * duplicates it and feeds the three signed parts in turn, so the body is
 * never copied and the key schedule is not recomputed per request. Our expected
 * "v1,<base64>" text has a fixed length, so each candidate entry is compared
 * with CRYPTO_memcmp only when its length matches (the length of a public
 * string leaks nothing).
 */
#include "bs/svix.h"
#include "bs/error.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/core_names.h>
#include <openssl/params.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define SECRET_PREFIX    "whsec_"
#define SECRET_MAX_BYTES 256
#define MAC_SIZE         32

struct bs_svix_key {
    unsigned char bytes[SECRET_MAX_BYTES];
    size_t len;
    EVP_MAC_CTX *keyed; /* HMAC-SHA256 initialised with the key; each
                           verification works on a duplicate */
};

struct bs_svix_keys {
    size_t count;
    struct bs_svix_key keys[BS_SVIX_MAX_SECRETS];
};

static bool is_base64_char(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
           (c >= '0' && c <= '9') || c == '+' || c == '/';
}

/*
 * Strict standard base64: length a multiple of 4, alphabet only, '=' only as
 * the last one or two characters. Returns the decoded length or -1.
 */
static int base64_decode_strict(const char *text, size_t len,
                                unsigned char *out, size_t out_size)
{
    size_t padding = 0;
    int decoded;

    if (len == 0 || len % 4 != 0 || len / 4 * 3 > out_size)
        return -1;
    if (text[len - 1] == '=')
        padding = text[len - 2] == '=' ? 2 : 1;
    for (size_t i = 0; i < len - padding; i++)
        if (!is_base64_char(text[i]))
            return -1;

    decoded = EVP_DecodeBlock(out, (const unsigned char *)text, (int)len);
    if (decoded < 0)
        return -1;
    return decoded - (int)padding;
}

static int key_context_init(struct bs_svix_key *key, char *errstr,
                            size_t errstr_size)
{
    EVP_MAC *hmac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, "SHA256", 0),
        OSSL_PARAM_construct_end()};
    int result = BS_OK;

    key->keyed = hmac ? EVP_MAC_CTX_new(hmac) : NULL;
    if (!key->keyed || !EVP_MAC_init(key->keyed, key->bytes, key->len, params))
        result = bs_fail(errstr, errstr_size, BS_ECONFIG,
                         "OpenSSL cannot provide HMAC-SHA256");
    EVP_MAC_free(hmac);
    return result;
}

static int parse_one_secret(const char *text, size_t len,
                            struct bs_svix_key *key, size_t position,
                            char *errstr, size_t errstr_size)
{
    size_t prefix_len = strlen(SECRET_PREFIX);
    int decoded;

    if (len <= prefix_len || strncmp(text, SECRET_PREFIX, prefix_len) != 0)
        return bs_fail(errstr, errstr_size, BS_ECONFIG,
                       "CLERK_WEBHOOK_SECRET: secret #%zu does not start "
                       "with whsec_ followed by base64",
                       position);
    decoded = base64_decode_strict(text + prefix_len, len - prefix_len,
                                   key->bytes, sizeof(key->bytes));
    if (decoded <= 0)
        return bs_fail(errstr, errstr_size, BS_ECONFIG,
                       "CLERK_WEBHOOK_SECRET: secret #%zu is not valid "
                       "base64 after whsec_ (or is empty or too long)",
                       position);
    key->len = (size_t)decoded;
    return key_context_init(key, errstr, errstr_size);
}

int bs_svix_keys_parse(const char *secrets, struct bs_svix_keys **out,
                       char *errstr, size_t errstr_size)
{
    struct bs_svix_keys *keys;
    const char *p = secrets ? secrets : "";
    int result = BS_OK;

    *out = NULL;
    keys = calloc(1, sizeof(*keys));
    if (!keys)
        return BS_ENOMEM;

    while (*p) {
        size_t len;

        p += strspn(p, " ");
        len = strcspn(p, " ");
        if (len == 0)
            break;
        if (keys->count == BS_SVIX_MAX_SECRETS) {
            result = bs_fail(errstr, errstr_size, BS_ECONFIG,
                             "CLERK_WEBHOOK_SECRET: more than %d secrets",
                             BS_SVIX_MAX_SECRETS);
            goto out;
        }
        result = parse_one_secret(p, len, &keys->keys[keys->count],
                                  keys->count + 1, errstr, errstr_size);
        if (result != BS_OK)
            goto out;
        keys->count++;
        p += len;
    }
    if (keys->count == 0)
        result = bs_fail(errstr, errstr_size, BS_ECONFIG,
                         "CLERK_WEBHOOK_SECRET is empty: at least one "
                         "whsec_ secret is required");

out:
    if (result != BS_OK) {
        bs_svix_keys_free(keys);
        return result;
    }
    *out = keys;
    return BS_OK;
}

void bs_svix_keys_free(struct bs_svix_keys *keys)
{
    if (!keys)
        return;
    for (size_t i = 0; i < BS_SVIX_MAX_SECRETS; i++)
        EVP_MAC_CTX_free(keys->keys[i].keyed);
    OPENSSL_cleanse(keys, sizeof(*keys));
    free(keys);
}

size_t bs_svix_keys_count(const struct bs_svix_keys *keys)
{
    return keys->count;
}

/* Whole non-negative seconds, digits only, no overflow. */
static bool parse_timestamp(const char *text, int64_t *seconds)
{
    int64_t value = 0;

    if (!*text || strlen(text) > 18)
        return false;
    for (const char *p = text; *p; p++) {
        if (*p < '0' || *p > '9')
            return false;
        value = value * 10 + (*p - '0');
    }
    *seconds = value;
    return true;
}

/* Writes "v1,<base64 of HMAC>" (47 chars + NUL). */
static int compute_signature(const struct bs_svix_key *key, const char *msg_id,
                             const char *timestamp, const void *body,
                             size_t body_len, char *out)
{
    unsigned char mac[MAC_SIZE];
    size_t mac_len = 0;
    EVP_MAC_CTX *ctx = EVP_MAC_CTX_dup(key->keyed);
    int ok;

    if (!ctx)
        return BS_ENOMEM;
    ok = EVP_MAC_update(ctx, (const unsigned char *)msg_id, strlen(msg_id)) &&
         EVP_MAC_update(ctx, (const unsigned char *)".", 1) &&
         EVP_MAC_update(ctx, (const unsigned char *)timestamp,
                        strlen(timestamp)) &&
         EVP_MAC_update(ctx, (const unsigned char *)".", 1) &&
         EVP_MAC_update(ctx, body, body_len) &&
         EVP_MAC_final(ctx, mac, &mac_len, sizeof(mac));
    EVP_MAC_CTX_free(ctx);
    if (!ok || mac_len != MAC_SIZE)
        return BS_EINVAL;

    memcpy(out, "v1,", 3);
    EVP_EncodeBlock((unsigned char *)out + 3, mac, MAC_SIZE);
    OPENSSL_cleanse(mac, sizeof(mac));
    return BS_OK;
}

/* True when one space-separated entry of `header` equals `expected`. */
static bool header_has_entry(const char *header, const char *expected)
{
    size_t expected_len = strlen(expected);
    bool found = false;

    for (const char *p = header; *p;) {
        size_t len;

        p += strspn(p, " ");
        len = strcspn(p, " ");
        /* Visit every entry, matching or not, so timing does not depend on
         * where a match sits. */
        if (len == expected_len && CRYPTO_memcmp(p, expected, len) == 0)
            found = true;
        p += len;
    }
    return found;
}

static bool present(const char *value)
{
    return value && *value;
}

enum bs_svix_result bs_svix_verify(const struct bs_svix_keys *keys,
                                   const char *msg_id, const char *timestamp,
                                   const char *signature, const void *body,
                                   size_t body_len, int64_t now)
{
    char expected[BS_SVIX_SIGNATURE_SIZE];
    bool matched = false;
    int64_t sent;

    if (!present(msg_id) || !present(timestamp) || !present(signature))
        return BS_SVIX_MISSING_HEADER;

    /* The clock first: a stale or future request costs no HMAC. */
    if (!parse_timestamp(timestamp, &sent))
        return BS_SVIX_BAD_TIMESTAMP;
    if (sent < now - BS_SVIX_TOLERANCE_SECONDS)
        return BS_SVIX_TIMESTAMP_TOO_OLD;
    if (sent > now + BS_SVIX_TOLERANCE_SECONDS)
        return BS_SVIX_TIMESTAMP_TOO_NEW;

    for (size_t i = 0; i < keys->count; i++) {
        if (compute_signature(&keys->keys[i], msg_id, timestamp, body, body_len,
                              expected) != BS_OK)
            continue;
        if (header_has_entry(signature, expected))
            matched = true;
    }
    OPENSSL_cleanse(expected, sizeof(expected));
    return matched ? BS_SVIX_OK : BS_SVIX_NO_MATCH;
}

int bs_svix_sign(const struct bs_svix_keys *keys, size_t key_index,
                 const char *msg_id, const char *timestamp, const void *body,
                 size_t body_len, char *out, size_t out_size)
{
    if (key_index >= keys->count || out_size < BS_SVIX_SIGNATURE_SIZE)
        return BS_EINVAL;
    return compute_signature(&keys->keys[key_index], msg_id, timestamp, body,
                             body_len, out);
}

const char *bs_svix_result_name(enum bs_svix_result result)
{
    switch (result) {
    case BS_SVIX_OK:
        return "ok";
    case BS_SVIX_MISSING_HEADER:
        return "missing_header";
    case BS_SVIX_BAD_TIMESTAMP:
        return "bad_timestamp";
    case BS_SVIX_TIMESTAMP_TOO_OLD:
        return "timestamp_too_old";
    case BS_SVIX_TIMESTAMP_TOO_NEW:
        return "timestamp_too_new";
    case BS_SVIX_NO_MATCH:
        return "no_match";
    }
    return "unknown";
}
