/*
 * fuzz_clerk_jwt.c - libFuzzer harness for Clerk session tokens
 * (services/api-gateway/clerk_jwt.h).
 *
 * Input: one mode byte, then
 *   even mode: "authorization\ncookie\n" and the rest as a raw token. The
 *     headers go through clerk_jwt_token_from_headers() and what it finds
 *     is verified; the raw token is verified too. Mutated tokens almost
 *     never carry a valid signature, so this covers shape, base64url,
 *     header and signature checks.
 *   odd mode: "header JSON\n" and the rest as the payload JSON. The harness
 *     signs them (RS256/384/512 by mode) with the private half of the
 *     verifier's key, so the fuzzer reaches libjwt's parsing and every claim
 *     check past the signature.
 * Invariants: a token found in headers lies inside one of them and is not
 * empty; an accepted token has a non-empty sub and has not
 * expired at NOW. The RSA key is made at start-up (nothing secret-looking
 * is committed); time is the fixed NOW.
 */
#include "fuzz_input.h"

#include "bs/error.h"
#include "clerk_jwt.h"

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define NOW ((int64_t)1767225600) /* 2026-01-01T00:00:00Z */

static EVP_PKEY *signing_key;
static struct clerk_jwt_verifier *verifier;

static char *public_pem(EVP_PKEY *key)
{
    BIO *bio = BIO_new(BIO_s_mem());
    char *data = NULL, *pem = NULL;
    long len;

    if (bio && PEM_write_bio_PUBKEY(bio, key) == 1) {
        len = BIO_get_mem_data(bio, &data);
        pem = fuzz_copy((const uint8_t *)data, (size_t)len);
    }
    BIO_free(bio);
    return pem;
}

static void setup(void)
{
    struct clerk_jwt_config config = {0};
    char errstr[256] = "";
    char *pem;

    signing_key = EVP_RSA_gen(2048);
    pem = signing_key ? public_pem(signing_key) : NULL;
    if (!pem)
        abort();
    config.public_key_pem = pem;
    if (clerk_jwt_verifier_new(&config, &verifier, errstr, sizeof(errstr)) !=
        BS_OK) {
        fprintf(stderr, "fuzz_clerk_jwt: verifier: %s\n", errstr);
        abort();
    }
    free(pem);
}

/* Unpadded base64url of `len` bytes; caller frees. */
static char *b64url(const unsigned char *data, size_t len)
{
    char *out = malloc(4 * ((len + 2) / 3) + 1);
    int n;

    if (!out)
        abort();
    n = EVP_EncodeBlock((unsigned char *)out, data, (int)len);
    while (n > 0 && out[n - 1] == '=')
        n--;
    out[n] = '\0';
    for (char *p = out; *p != '\0'; p++)
        *p = *p == '+' ? '-' : *p == '/' ? '_' : *p;
    return out;
}

/* "<a>.<b>" in a new string; caller frees. */
static char *join(const char *a, const char *b)
{
    size_t len = strlen(a) + 1 + strlen(b) + 1;
    char *out = malloc(len);

    if (!out)
        abort();
    snprintf(out, len, "%s.%s", a, b);
    return out;
}

/* "<b64 header>.<b64 payload>.<b64 signature>" signed with `md`. */
static char *sign_token(const char *header, size_t header_len,
                        const char *payload, size_t payload_len, const char *md)
{
    char *h = b64url((const unsigned char *)header, header_len);
    char *p = b64url((const unsigned char *)payload, payload_len);
    char *input = join(h, p);
    unsigned char sig[1024];
    size_t sig_len = sizeof(sig);
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    char *s, *token;

    if (!ctx ||
        EVP_DigestSignInit_ex(ctx, NULL, md, NULL, NULL, signing_key, NULL) !=
            1 ||
        EVP_DigestSign(ctx, sig, &sig_len, (unsigned char *)input,
                       strlen(input)) != 1)
        abort();
    s = b64url(sig, sig_len);
    token = join(input, s);
    EVP_MD_CTX_free(ctx);
    free(h);
    free(p);
    free(input);
    free(s);
    return token;
}

static void verify(const char *token, size_t len)
{
    struct clerk_jwt_identity identity;
    enum clerk_jwt_result result =
        clerk_jwt_verify(verifier, token, len, NOW, &identity);

    FUZZ_CHECK(strcmp(clerk_jwt_result_name(result), "") != 0);
    if (result == CLERK_JWT_OK) {
        FUZZ_CHECK(identity.sub[0] != '\0');
        FUZZ_CHECK(NOW < identity.exp + CLERK_JWT_SKEW_SECONDS);
    } else {
        FUZZ_CHECK(identity.sub[0] == '\0');
    }
}

static bool inside(const char *p, size_t len, const char *header)
{
    return header && p >= header && p + len <= header + strlen(header);
}

static void fuzz_raw(struct fuzz_input *in)
{
    char *authorization = fuzz_field(in), *cookie = fuzz_field(in);
    size_t token_len;
    char *token = fuzz_rest(in, &token_len);
    /* An empty field stands for an absent header. */
    const char *a = *authorization ? authorization : NULL;
    const char *c = *cookie ? cookie : NULL;
    const char *found = NULL;
    size_t found_len = 0;

    if (clerk_jwt_token_from_headers(a, c, &found, &found_len)) {
        FUZZ_CHECK(found_len > 0);
        /* Not always `a`: a blank Authorization counts as absent and
         * the cookie decides (regressions/blank_authorization_uses_cookie). */
        FUZZ_CHECK(inside(found, found_len, a) || inside(found, found_len, c));
        verify(found, found_len);
    }
    verify(token, token_len);
    free(authorization);
    free(cookie);
    free(token);
}

static void fuzz_signed(struct fuzz_input *in, uint8_t mode)
{
    static const char *const digests[] = {"SHA256", "SHA384", "SHA512"};
    char *header = fuzz_field(in);
    size_t payload_len;
    char *payload = fuzz_rest(in, &payload_len);
    char *token = sign_token(header, strlen(header), payload, payload_len,
                             digests[(mode / 2) % 3]);

    verify(token, strlen(token));
    free(token);
    free(header);
    free(payload);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fuzz_input in = {data, size};
    uint8_t mode = fuzz_byte(&in);

    if (!verifier)
        setup();
    if (mode % 2 == 0)
        fuzz_raw(&in);
    else
        fuzz_signed(&in, mode);
    return 0;
}
