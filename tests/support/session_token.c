/*
 * session_token.c - signing test session tokens with OpenSSL.
 */
#include "session_token.h"

#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

char *bs_test_b64url(const unsigned char *data, size_t len)
{
    char *out = malloc(4 * ((len + 2) / 3) + 1);
    int n;

    if (!out)
        return NULL;
    n = EVP_EncodeBlock((unsigned char *)out, data, (int)len);
    while (n > 0 && out[n - 1] == '=')
        n--;
    out[n] = '\0';
    for (char *p = out; *p != '\0'; p++)
        *p = *p == '+' ? '-' : *p == '/' ? '_' : *p;
    return out;
}

/* "<a>.<b>" in a new string. */
static char *join(const char *a, const char *b)
{
    char *out = malloc(strlen(a) + strlen(b) + 2);

    if (out)
        sprintf(out, "%s.%s", a, b);
    return out;
}

char *bs_test_session_token(EVP_PKEY *key, const char *sub, const char *azp,
                            long lifetime_s)
{
    static const char header[] = "{\"alg\":\"RS256\",\"typ\":\"JWT\"}";
    long long now = (long long)time(NULL);
    char payload[1024], azp_claim[512] = "";
    unsigned char signature[1024];
    size_t signature_len = sizeof(signature);
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    char *h, *p, *input = NULL, *s = NULL, *token = NULL;

    if (azp)
        snprintf(azp_claim, sizeof(azp_claim), "\"azp\":\"%s\",", azp);
    snprintf(payload, sizeof(payload),
             "{\"sub\":\"%s\",\"sid\":\"sess_1\",%s\"exp\":%lld,"
             "\"nbf\":%lld,\"iat\":%lld}",
             sub, azp_claim, now + lifetime_s, now - 10, now - 10);

    h = bs_test_b64url((const unsigned char *)header, strlen(header));
    p = bs_test_b64url((const unsigned char *)payload, strlen(payload));
    if (ctx && h && p)
        input = join(h, p);
    if (input &&
        EVP_DigestSignInit_ex(ctx, NULL, "SHA256", NULL, NULL, key, NULL) ==
            1 &&
        EVP_DigestSign(ctx, signature, &signature_len,
                       (const unsigned char *)input, strlen(input)) == 1)
        s = bs_test_b64url(signature, signature_len);
    if (s)
        token = join(input, s);

    EVP_MD_CTX_free(ctx);
    free(h);
    free(p);
    free(input);
    free(s);
    return token;
}

char *bs_test_public_pem(EVP_PKEY *key)
{
    BIO *bio = BIO_new(BIO_s_mem());
    char *data = NULL, *pem = NULL;
    long len;

    if (bio && PEM_write_bio_PUBKEY(bio, key) == 1) {
        len = BIO_get_mem_data(bio, &data);
        pem = strndup(data, (size_t)len);
    }
    BIO_free(bio);
    return pem;
}
