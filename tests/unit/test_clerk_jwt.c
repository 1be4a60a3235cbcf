/*
 * test_clerk_jwt.c - Clerk session-token verification (api-gateway).
 *
 * Every token is minted here: RSA keys are generated at start-up (nothing
 * secret-looking is checked in), header and payload JSON are written by
 * hand and signed with OpenSSL, so malicious variants (alg none, HS256 with
 * the public key as secret, tampered payloads) are as easy to make as good
 * ones. Time is the fixed NOW, never the wall clock.
 */
#include "harness.h"

#include "bs/error.h"
#include "clerk_jwt.h"

#include <jwt.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NOW ((int64_t)1767225600) /* 2026-01-01T00:00:00Z */

#define HEADER_RS256 "{\"alg\":\"RS256\",\"typ\":\"JWT\",\"kid\":\"ins_test\"}"
#define AZP          "https://app.bestays.test"
#define ISS          "https://clerk.bestays.test"

static EVP_PKEY *signing_key;               /* the "Clerk instance" */
static EVP_PKEY *other_key;                 /* another instance */
static char *public_pem;                    /* signing_key's public half */
static struct clerk_jwt_verifier *verifier; /* no azp/iss checks */

/* ---- minting ------------------------------------------------------------ */

static char *pem_of(EVP_PKEY *key, bool private_key)
{
    BIO *bio = BIO_new(BIO_s_mem());
    char *data;
    long len;
    char *pem;

    if (private_key)
        PEM_write_bio_PrivateKey(bio, key, NULL, NULL, 0, NULL, NULL);
    else
        PEM_write_bio_PUBKEY(bio, key);
    len = BIO_get_mem_data(bio, &data);
    pem = strndup(data, (size_t)len);
    BIO_free(bio);
    return pem;
}

static char *b64url(const unsigned char *data, size_t len)
{
    char *out = malloc(4 * ((len + 2) / 3) + 1);
    int n = EVP_EncodeBlock((unsigned char *)out, data, (int)len);

    while (n > 0 && out[n - 1] == '=')
        n--;
    out[n] = '\0';
    for (char *p = out; *p != '\0'; p++)
        *p = *p == '+' ? '-' : *p == '/' ? '_' : *p;
    return out;
}

/* "<b64 header>.<b64 payload>" */
static char *signing_input(const char *header, const char *payload)
{
    char *h = b64url((const unsigned char *)header, strlen(header));
    char *p = b64url((const unsigned char *)payload, strlen(payload));
    char *input = malloc(strlen(h) + strlen(p) + 2);

    sprintf(input, "%s.%s", h, p);
    free(h);
    free(p);
    return input;
}

static char *append_signature(char *input, const unsigned char *sig,
                              size_t sig_len)
{
    char *s = b64url(sig, sig_len);
    char *token = malloc(strlen(input) + strlen(s) + 2);

    sprintf(token, "%s.%s", input, s);
    free(s);
    free(input);
    return token;
}

/* Signs with an RSA key and digest `md` ("SHA256"...), whatever the header
 * says; md NULL leaves the signature empty. Caller frees. */
static char *mint(EVP_PKEY *key, const char *md, const char *header,
                  const char *payload)
{
    char *input = signing_input(header, payload);
    unsigned char sig[1024];
    size_t sig_len = 0;
    EVP_MD_CTX *ctx;

    if (md != NULL) {
        ctx = EVP_MD_CTX_new();
        sig_len = sizeof(sig);
        CU_ASSERT_FATAL(
            EVP_DigestSignInit_ex(ctx, NULL, md, NULL, NULL, key, NULL) == 1);
        CU_ASSERT_FATAL(EVP_DigestSign(ctx, sig, &sig_len,
                                       (unsigned char *)input,
                                       strlen(input)) == 1);
        EVP_MD_CTX_free(ctx);
    }
    return append_signature(input, sig, sig_len);
}

/* HMAC-SHA256 with `secret` as the key (the key-confusion attack). */
static char *mint_hmac(const char *secret, const char *header,
                       const char *payload)
{
    char *input = signing_input(header, payload);
    unsigned char sig[EVP_MAX_MD_SIZE];
    unsigned int sig_len = 0;

    HMAC(EVP_sha256(), secret, (int)strlen(secret), (unsigned char *)input,
         strlen(input), sig, &sig_len);
    return append_signature(input, sig, sig_len);
}

/* Claims with exp/nbf/iat relative to NOW; `extra` is appended inside. */
static char *claims(long exp, long nbf, long iat, const char *extra)
{
    char *json = malloc(1024);

    snprintf(json, 1024,
             "{\"sub\":\"user_2abc\",\"sid\":\"sess_1\",\"azp\":\"" AZP
             "\",\"iss\":\"" ISS "\",\"exp\":%lld,\"nbf\":%lld,"
             "\"iat\":%lld%s}",
             (long long)(NOW + exp), (long long)(NOW + nbf),
             (long long)(NOW + iat), extra);
    return json;
}

static char *mint_valid(const char *extra)
{
    char *payload = claims(60, -10, -10, extra);
    char *token = mint(signing_key, "SHA256", HEADER_RS256, payload);

    free(payload);
    return token;
}

static enum clerk_jwt_result verify_at(const struct clerk_jwt_verifier *v,
                                       const char *token, int64_t now)
{
    struct clerk_jwt_identity id;

    return clerk_jwt_verify(v, token, strlen(token), now, &id);
}

/* Mints RS256 over `payload` and verifies it with `v` at NOW; frees both. */
static enum clerk_jwt_result verify_payload(const struct clerk_jwt_verifier *v,
                                            char *payload)
{
    char *token = mint(signing_key, "SHA256", HEADER_RS256, payload);
    enum clerk_jwt_result result = verify_at(v, token, NOW);

    free(token);
    free(payload);
    return result;
}

static enum clerk_jwt_result verify_header(const char *header)
{
    char *payload = claims(60, -10, -10, "");
    char *token = mint(signing_key, "SHA256", header, payload);
    enum clerk_jwt_result result = verify_at(verifier, token, NOW);

    free(token);
    free(payload);
    return result;
}

static struct clerk_jwt_verifier *verifier_with(const char *parties,
                                                const char *issuer)
{
    struct clerk_jwt_config config = {public_pem, parties, issuer};
    struct clerk_jwt_verifier *v = NULL;
    char errstr[256];

    BS_ASSERT_INT_EQ(
        clerk_jwt_verifier_new(&config, &v, errstr, sizeof(errstr)), BS_OK);
    CU_ASSERT_PTR_NOT_NULL_FATAL(v);
    return v;
}

static int suite_init(void)
{
    signing_key = EVP_RSA_gen(2048);
    other_key = EVP_RSA_gen(2048);
    if (signing_key == NULL || other_key == NULL)
        return 1;
    public_pem = pem_of(signing_key, false);

    struct clerk_jwt_config config = {public_pem, NULL, NULL};
    return clerk_jwt_verifier_new(&config, &verifier, NULL, 0) != BS_OK;
}

static int suite_cleanup(void)
{
    clerk_jwt_verifier_free(verifier);
    free(public_pem);
    EVP_PKEY_free(signing_key);
    EVP_PKEY_free(other_key);
    return 0;
}

/* ---- valid tokens ------------------------------------------------------- */

static void test_valid_rs256_token_gives_identity(void)
{
    char *token = mint_valid("");
    struct clerk_jwt_identity id;

    BS_ASSERT_INT_EQ(clerk_jwt_verify(verifier, token, strlen(token), NOW, &id),
                     CLERK_JWT_OK);
    BS_ASSERT_STR_EQ(id.sub, "user_2abc");
    BS_ASSERT_STR_EQ(id.sid, "sess_1");
    BS_ASSERT_STR_EQ(id.azp, AZP);
    BS_ASSERT_INT_EQ(id.exp, NOW + 60);
    free(token);
}

static void test_rs384_and_rs512_are_accepted(void)
{
    char *payload = claims(60, -10, -10, "");
    char *t384 = mint(signing_key, "SHA384", "{\"alg\":\"RS384\"}", payload);
    char *t512 = mint(signing_key, "SHA512", "{\"alg\":\"RS512\"}", payload);

    BS_ASSERT_INT_EQ(verify_at(verifier, t384, NOW), CLERK_JWT_OK);
    BS_ASSERT_INT_EQ(verify_at(verifier, t512, NOW), CLERK_JWT_OK);
    free(t384);
    free(t512);
    free(payload);
}

/* Header and payload of every base64url length residue reach libjwt (whose
 * base64 decoding is checked by running this under valgrind). */
static void test_parts_of_every_length_are_verified(void)
{
    char extra[32];
    char header[64];

    for (int n = 0; n < 6; n++) {
        char *payload;
        char *token;

        snprintf(extra, sizeof(extra), ",\"p\":\"%.*s\"", n, "xxxxxx");
        snprintf(header, sizeof(header), "{\"alg\":\"RS256\",\"k\":\"%.*s\"}",
                 n, "xxxxxx");
        payload = claims(60, -10, -10, extra);
        token = mint(signing_key, "SHA256", header, payload);
        BS_ASSERT_INT_EQ(verify_at(verifier, token, NOW), CLERK_JWT_OK);
        free(token);
        free(payload);
    }
}

static void test_token_not_nul_terminated_is_verified_by_length(void)
{
    char *token = mint_valid("");
    size_t len = strlen(token);
    char *padded = malloc(len + 8);
    struct clerk_jwt_identity id;

    memcpy(padded, token, len);
    memcpy(padded + len, "garbage", 8);
    BS_ASSERT_INT_EQ(clerk_jwt_verify(verifier, padded, len, NOW, &id),
                     CLERK_JWT_OK);
    free(padded);
    free(token);
}

static void test_claims_without_sid_azp_nbf_iat_are_enough(void)
{
    char payload[128];
    struct clerk_jwt_identity id;
    char *token;

    snprintf(payload, sizeof(payload), "{\"sub\":\"user_x\",\"exp\":%lld}",
             (long long)NOW + 30);
    token = mint(signing_key, "SHA256", "{\"alg\":\"RS256\"}", payload);
    BS_ASSERT_INT_EQ(clerk_jwt_verify(verifier, token, strlen(token), NOW, &id),
                     CLERK_JWT_OK);
    BS_ASSERT_STR_EQ(id.sid, "");
    BS_ASSERT_STR_EQ(id.azp, "");
    free(token);
}

/* ---- time ---------------------------------------------------------------- */

static void test_expired_token_is_refused(void)
{
    BS_ASSERT_INT_EQ(verify_payload(verifier, claims(-60, -120, -120, "")),
                     CLERK_JWT_EXPIRED);
}

static void test_exp_within_skew_is_accepted_beyond_is_expired(void)
{
    BS_ASSERT_INT_EQ(verify_payload(verifier, claims(-4, -70, -70, "")),
                     CLERK_JWT_OK);
    BS_ASSERT_INT_EQ(verify_payload(verifier, claims(-5, -70, -70, "")),
                     CLERK_JWT_EXPIRED);
    BS_ASSERT_INT_EQ(verify_payload(verifier, claims(-6, -70, -70, "")),
                     CLERK_JWT_EXPIRED);
}

static void test_nbf_beyond_skew_is_not_yet_valid(void)
{
    BS_ASSERT_INT_EQ(verify_payload(verifier, claims(60, 5, -10, "")),
                     CLERK_JWT_OK);
    BS_ASSERT_INT_EQ(verify_payload(verifier, claims(60, 6, -10, "")),
                     CLERK_JWT_NOT_YET_VALID);
}

static void test_iat_beyond_skew_is_issued_in_future(void)
{
    BS_ASSERT_INT_EQ(verify_payload(verifier, claims(60, -10, 5, "")),
                     CLERK_JWT_OK);
    BS_ASSERT_INT_EQ(verify_payload(verifier, claims(60, -10, 6, "")),
                     CLERK_JWT_ISSUED_IN_FUTURE);
}

static void test_missing_exp_is_missing_expiry(void)
{
    char *payload = strdup("{\"sub\":\"user_2abc\"}");

    BS_ASSERT_INT_EQ(verify_payload(verifier, payload),
                     CLERK_JWT_MISSING_EXPIRY);
}

static void test_time_claims_of_wrong_type_are_malformed(void)
{
    char payload[160];

    snprintf(payload, sizeof(payload), "{\"sub\":\"u\",\"exp\":\"%lld\"}",
             (long long)NOW + 60);
    BS_ASSERT_INT_EQ(verify_payload(verifier, strdup(payload)),
                     CLERK_JWT_MALFORMED);
    snprintf(payload, sizeof(payload),
             "{\"sub\":\"u\",\"exp\":%lld,\"nbf\":\"x\"}", (long long)NOW + 60);
    BS_ASSERT_INT_EQ(verify_payload(verifier, strdup(payload)),
                     CLERK_JWT_MALFORMED);
    snprintf(payload, sizeof(payload),
             "{\"sub\":\"u\",\"exp\":%lld,\"iat\":null}", (long long)NOW + 60);
    BS_ASSERT_INT_EQ(verify_payload(verifier, strdup(payload)),
                     CLERK_JWT_MALFORMED);
}

/* ---- signature and algorithm ------------------------------------------- */

static void test_token_of_another_key_is_bad_signature(void)
{
    char *payload = claims(60, -10, -10, "");
    char *token = mint(other_key, "SHA256", HEADER_RS256, payload);

    BS_ASSERT_INT_EQ(verify_at(verifier, token, NOW), CLERK_JWT_BAD_SIGNATURE);
    free(token);
    free(payload);
}

static void test_alg_none_with_empty_signature_is_bad_algorithm(void)
{
    char *payload = claims(60, -10, -10, "");
    const char *headers[] = {"{\"alg\":\"none\"}", "{\"alg\":\"None\"}",
                             "{\"alg\":\"NONE\",\"typ\":\"JWT\"}"};

    for (size_t i = 0; i < 3; i++) {
        char *token = mint(signing_key, NULL, headers[i], payload);

        CU_ASSERT_EQUAL(token[strlen(token) - 1], '.');
        BS_ASSERT_INT_EQ(verify_at(verifier, token, NOW),
                         CLERK_JWT_BAD_ALGORITHM);
        free(token);
    }
    free(payload);
}

/*
 * The key-confusion attack: HS256 "signed" with the public PEM as the HMAC
 * secret. Bare libjwt 1.10 accepts it (that is why the header is checked
 * first); the verifier must not.
 */
static void test_hs256_signed_with_public_pem_is_bad_algorithm(void)
{
    char *payload = claims(60, -10, -10, "");
    char *token =
        mint_hmac(public_pem, "{\"alg\":\"HS256\",\"typ\":\"JWT\"}", payload);
    jwt_t *jwt = NULL;

    BS_ASSERT_INT_EQ(jwt_decode(&jwt, token, (unsigned char *)public_pem,
                                (int)strlen(public_pem)),
                     0);
    jwt_free(jwt);

    BS_ASSERT_INT_EQ(verify_at(verifier, token, NOW), CLERK_JWT_BAD_ALGORITHM);
    free(token);
    free(payload);
}

static void test_rsa_signature_of_wrong_length_is_bad_signature(void)
{
    char *token = mint_valid("");
    char *sig = strrchr(token, '.') + 1;

    /* Empty: libjwt 1.10.2 itself would overrun a buffer on this one. */
    sig[0] = '\0';
    BS_ASSERT_INT_EQ(verify_at(verifier, token, NOW), CLERK_JWT_BAD_SIGNATURE);
    sig[0] = 'A';
    sig[1] = 'A';
    sig[2] = '\0';
    BS_ASSERT_INT_EQ(verify_at(verifier, token, NOW), CLERK_JWT_BAD_SIGNATURE);
    free(token);
}

static void test_other_algorithms_are_bad_algorithm(void)
{
    const char *headers[] = {
        "{\"alg\":\"ES256\"}", "{\"alg\":\"PS256\"}",  "{\"alg\":\"HS512\"}",
        "{\"alg\":\"rs256\"}", "{\"alg\":\"RS256 \"}", "{\"alg\":256}",
        "{\"typ\":\"JWT\"}",   "{\"alg\":null}",
    };

    for (size_t i = 0; i < sizeof(headers) / sizeof(headers[0]); i++)
        BS_ASSERT_INT_EQ(verify_header(headers[i]), CLERK_JWT_BAD_ALGORITHM);
}

static void test_typ_other_than_jwt_is_bad_type(void)
{
    BS_ASSERT_INT_EQ(verify_header("{\"alg\":\"RS256\",\"typ\":\"at+jwt\"}"),
                     CLERK_JWT_BAD_TYPE);
    BS_ASSERT_INT_EQ(verify_header("{\"alg\":\"RS256\",\"typ\":1}"),
                     CLERK_JWT_BAD_TYPE);
    BS_ASSERT_INT_EQ(verify_header("{\"alg\":\"RS256\"}"), CLERK_JWT_OK);
}

static void test_duplicate_header_names_are_malformed(void)
{
    BS_ASSERT_INT_EQ(verify_header("{\"alg\":\"RS256\",\"alg\":\"HS256\"}"),
                     CLERK_JWT_MALFORMED);
    BS_ASSERT_INT_EQ(verify_header("[\"RS256\"]"), CLERK_JWT_MALFORMED);
    BS_ASSERT_INT_EQ(verify_header("not json"), CLERK_JWT_MALFORMED);
}

static void test_tampered_payload_is_bad_signature(void)
{
    char *good = mint_valid("");
    char *evil_payload = claims(60, -10, -10, ",\"role\":\"admin\"");
    char *evil = mint(other_key, "SHA256", HEADER_RS256, evil_payload);
    const char *good_sig = strrchr(good, '.');
    char *evil_sig = strrchr(evil, '.');
    char *forged = malloc(strlen(evil) + strlen(good) + 1);

    /* The forged payload with the original, genuine signature. */
    *evil_sig = '\0';
    sprintf(forged, "%s%s", evil, good_sig);
    BS_ASSERT_INT_EQ(verify_at(verifier, forged, NOW), CLERK_JWT_BAD_SIGNATURE);
    free(forged);
    free(evil);
    free(evil_payload);
    free(good);
}

/* ---- shape -------------------------------------------------------------- */

static void test_every_truncation_is_refused(void)
{
    char *token = mint_valid("");
    size_t len = strlen(token);
    struct clerk_jwt_identity id;
    char *payload_end = strrchr(token, '.');

    /* Cut inside the payload: fewer than three parts. */
    BS_ASSERT_INT_EQ(clerk_jwt_verify(verifier, token,
                                      (size_t)(payload_end - token) - 3, NOW,
                                      &id),
                     CLERK_JWT_MALFORMED);

    /* Any shorter prefix at all: never accepted. */
    for (size_t n = 0; n < len; n++) {
        enum clerk_jwt_result result =
            clerk_jwt_verify(verifier, token, n, NOW, &id);

        CU_ASSERT_NOT_EQUAL(result, CLERK_JWT_OK);
        CU_ASSERT(result == CLERK_JWT_MALFORMED ||
                  result == CLERK_JWT_BAD_SIGNATURE);
        BS_ASSERT_STR_EQ(id.sub, "");
    }
    free(token);
}

static void test_wrong_shapes_are_malformed(void)
{
    char *token = mint_valid("");
    char *dot = strchr(token, '.');
    char buf[8192];
    const char *bad[] = {"", ".", "..", "...", "a.b", "a.b.c.d", "a..c"};

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        BS_ASSERT_INT_EQ(verify_at(verifier, bad[i], NOW), CLERK_JWT_MALFORMED);

    /* Two parts; four parts. */
    *strrchr(token, '.') = '\0';
    BS_ASSERT_INT_EQ(verify_at(verifier, token, NOW), CLERK_JWT_MALFORMED);
    free(token);
    token = mint_valid("");
    snprintf(buf, sizeof(buf), "%s.AAAA", token);
    BS_ASSERT_INT_EQ(verify_at(verifier, buf, NOW), CLERK_JWT_MALFORMED);

    /* Characters outside base64url, padding included. */
    dot = strchr(token, '.');
    for (const char *c = "+/= \t\"%"; *c != '\0'; c++) {
        snprintf(buf, sizeof(buf), "%s", token);
        buf[dot - token + 3] = *c;
        BS_ASSERT_INT_EQ(verify_at(verifier, buf, NOW), CLERK_JWT_MALFORMED);
    }
    free(token);
}

static void test_nul_byte_inside_token_is_malformed(void)
{
    char *token = mint_valid("");
    size_t len = strlen(token);
    struct clerk_jwt_identity id;

    token[len / 2] = '\0';
    BS_ASSERT_INT_EQ(clerk_jwt_verify(verifier, token, len, NOW, &id),
                     CLERK_JWT_MALFORMED);
    free(token);
}

static void test_oversized_token_is_malformed(void)
{
    size_t size = 100 * 1024;
    char *pad = malloc(size);
    char *payload = malloc(size + 128);
    char *token;

    memset(pad, 'x', size - 1);
    pad[size - 1] = '\0';
    snprintf(payload, size + 128, "{\"sub\":\"u\",\"exp\":%lld,\"pad\":\"%s\"}",
             (long long)NOW + 60, pad);
    token = mint(signing_key, "SHA256", HEADER_RS256, payload);
    CU_ASSERT(strlen(token) > 100 * 1024);
    BS_ASSERT_INT_EQ(verify_at(verifier, token, NOW), CLERK_JWT_MALFORMED);
    free(token);
    free(payload);
    free(pad);
}

/* ---- subject, authorized party, issuer ---------------------------------- */

static void test_missing_or_empty_sub_is_missing_subject(void)
{
    const char *subs[] = {"", "\"sub\":\"\",", "\"sub\":42,", "\"sub\":null,"};
    char payload[160];

    for (size_t i = 0; i < sizeof(subs) / sizeof(subs[0]); i++) {
        snprintf(payload, sizeof(payload), "{%s\"exp\":%lld}", subs[i],
                 (long long)NOW + 60);
        BS_ASSERT_INT_EQ(verify_payload(verifier, strdup(payload)),
                         CLERK_JWT_MISSING_SUBJECT);
    }
}

static void test_overlong_sub_is_malformed(void)
{
    char sub[CLERK_JWT_MAX_ID + 2];
    char payload[CLERK_JWT_MAX_ID + 64];

    memset(sub, 'u', sizeof(sub) - 1);
    sub[sizeof(sub) - 1] = '\0';
    snprintf(payload, sizeof(payload), "{\"sub\":\"%s\",\"exp\":%lld}", sub,
             (long long)NOW + 60);
    BS_ASSERT_INT_EQ(verify_payload(verifier, strdup(payload)),
                     CLERK_JWT_MALFORMED);
}

static void test_fractional_exp_is_a_numeric_date(void)
{
    char payload[128];

    snprintf(payload, sizeof(payload), "{\"sub\":\"u\",\"exp\":%lld.5}",
             (long long)NOW - 5);
    BS_ASSERT_INT_EQ(verify_payload(verifier, strdup(payload)), CLERK_JWT_OK);
    snprintf(payload, sizeof(payload), "{\"sub\":\"u\",\"exp\":%lld.5}",
             (long long)NOW - 6);
    BS_ASSERT_INT_EQ(verify_payload(verifier, strdup(payload)),
                     CLERK_JWT_EXPIRED);
}

static void test_azp_must_be_a_configured_party(void)
{
    struct clerk_jwt_verifier *v =
        verifier_with(" https://other.test , " AZP ",", NULL);
    char payload[160];

    BS_ASSERT_INT_EQ(verify_payload(v, claims(60, -10, -10, "")), CLERK_JWT_OK);

    snprintf(payload, sizeof(payload),
             "{\"sub\":\"u\",\"exp\":%lld,\"azp\":\"https://evil.test\"}",
             (long long)NOW + 60);
    BS_ASSERT_INT_EQ(verify_payload(v, strdup(payload)),
                     CLERK_JWT_BAD_AUTHORIZED_PARTY);

    snprintf(payload, sizeof(payload), "{\"sub\":\"u\",\"exp\":%lld}",
             (long long)NOW + 60);
    BS_ASSERT_INT_EQ(verify_payload(v, strdup(payload)),
                     CLERK_JWT_BAD_AUTHORIZED_PARTY);
    clerk_jwt_verifier_free(v);
}

static void test_any_azp_is_accepted_without_configured_parties(void)
{
    char payload[160];

    snprintf(payload, sizeof(payload),
             "{\"sub\":\"u\",\"exp\":%lld,\"azp\":\"https://any.test\"}",
             (long long)NOW + 60);
    BS_ASSERT_INT_EQ(verify_payload(verifier, strdup(payload)), CLERK_JWT_OK);
}

static void test_iss_must_equal_configured_issuer(void)
{
    struct clerk_jwt_verifier *pinned = verifier_with(NULL, ISS);
    struct clerk_jwt_verifier *other =
        verifier_with(NULL, "https://clerk.realestate.test");
    char payload[160];

    BS_ASSERT_INT_EQ(verify_payload(pinned, claims(60, -10, -10, "")),
                     CLERK_JWT_OK);
    BS_ASSERT_INT_EQ(verify_payload(other, claims(60, -10, -10, "")),
                     CLERK_JWT_BAD_ISSUER);

    snprintf(payload, sizeof(payload), "{\"sub\":\"u\",\"exp\":%lld}",
             (long long)NOW + 60);
    BS_ASSERT_INT_EQ(verify_payload(pinned, strdup(payload)),
                     CLERK_JWT_BAD_ISSUER);
    clerk_jwt_verifier_free(other);
    clerk_jwt_verifier_free(pinned);
}

/* ---- configuration ------------------------------------------------------ */

static void assert_config_error(const char *pem)
{
    struct clerk_jwt_config config = {pem, NULL, NULL};
    struct clerk_jwt_verifier *v = (struct clerk_jwt_verifier *)&config;
    char errstr[256] = "";

    BS_ASSERT_INT_EQ(
        clerk_jwt_verifier_new(&config, &v, errstr, sizeof(errstr)),
        BS_ECONFIG);
    CU_ASSERT_PTR_NULL(v);
    CU_ASSERT(errstr[0] != '\0');
    CU_ASSERT_PTR_NULL(strstr(errstr, "MII"));
    CU_ASSERT_PTR_NULL(strstr(errstr, "BEGIN"));
}

static void test_invalid_key_is_config_error(void)
{
    char *private_pem = pem_of(signing_key, true);
    EVP_PKEY *ec = EVP_EC_gen("P-256");
    EVP_PKEY *small = EVP_RSA_gen(1024);
    char *ec_pem = pem_of(ec, false);
    char *small_pem = pem_of(small, false);

    assert_config_error(NULL);
    assert_config_error("");
    assert_config_error("-----BEGIN PUBLIC KEY-----\nMIIBnope\n"
                        "-----END PUBLIC KEY-----\n");
    assert_config_error(private_pem);
    assert_config_error(ec_pem);
    assert_config_error(small_pem);

    free(small_pem);
    free(ec_pem);
    free(private_pem);
    EVP_PKEY_free(small);
    EVP_PKEY_free(ec);
}

static void test_key_on_one_line_with_escaped_newlines_is_accepted(void)
{
    char *escaped = malloc(2 * strlen(public_pem) + 1);
    char *out = escaped;
    struct clerk_jwt_config config = {NULL, NULL, NULL};
    struct clerk_jwt_verifier *v = NULL;
    char *token = mint_valid("");

    for (const char *p = public_pem; *p != '\0'; p++) {
        if (*p == '\n') {
            *out++ = '\\';
            *out++ = 'n';
        } else {
            *out++ = *p;
        }
    }
    *out = '\0';
    config.public_key_pem = escaped;
    BS_ASSERT_INT_EQ(clerk_jwt_verifier_new(&config, &v, NULL, 0), BS_OK);
    BS_ASSERT_INT_EQ(verify_at(v, token, NOW), CLERK_JWT_OK);
    clerk_jwt_verifier_free(v);
    free(token);
    free(escaped);
}

static void test_result_names_are_snake_case(void)
{
    BS_ASSERT_STR_EQ(clerk_jwt_result_name(CLERK_JWT_OK), "ok");
    BS_ASSERT_STR_EQ(clerk_jwt_result_name(CLERK_JWT_BAD_SIGNATURE),
                     "bad_signature");
    BS_ASSERT_STR_EQ(clerk_jwt_result_name(CLERK_JWT_BAD_AUTHORIZED_PARTY),
                     "bad_authorized_party");
    BS_ASSERT_STR_EQ(clerk_jwt_result_name((enum clerk_jwt_result)99),
                     "unknown");
}

/* ---- threads ------------------------------------------------------------ */

struct thread_work {
    const char *good;
    const char *bad;
    int failures;
};

static void *verify_many(void *arg)
{
    struct thread_work *work = arg;
    struct clerk_jwt_identity id;

    for (int i = 0; i < 50; i++) {
        if (clerk_jwt_verify(verifier, work->good, strlen(work->good), NOW,
                             &id) != CLERK_JWT_OK ||
            strcmp(id.sub, "user_2abc") != 0)
            work->failures++;
        if (clerk_jwt_verify(verifier, work->bad, strlen(work->bad), NOW,
                             &id) != CLERK_JWT_BAD_SIGNATURE)
            work->failures++;
    }
    return NULL;
}

static void test_one_verifier_serves_several_threads(void)
{
    char *good = mint_valid("");
    char *payload = claims(60, -10, -10, "");
    char *bad = mint(other_key, "SHA256", HEADER_RS256, payload);
    struct thread_work work[4];
    pthread_t threads[4];

    for (int i = 0; i < 4; i++) {
        work[i] = (struct thread_work){good, bad, 0};
        CU_ASSERT_FATAL(
            pthread_create(&threads[i], NULL, verify_many, &work[i]) == 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(threads[i], NULL);
        BS_ASSERT_INT_EQ(work[i].failures, 0);
    }
    free(bad);
    free(payload);
    free(good);
}

/* ---- finding the token -------------------------------------------------- */

static void assert_found(const char *authorization, const char *cookie,
                         const char *expected)
{
    const char *token = NULL;
    size_t len = 0;
    bool found =
        clerk_jwt_token_from_headers(authorization, cookie, &token, &len);
    char copy[256] = "";

    if (found)
        snprintf(copy, sizeof(copy), "%.*s", (int)len, token);
    CU_ASSERT_EQUAL(found, expected != NULL);
    const char *want = expected == NULL ? "" : expected;

    BS_ASSERT_STR_EQ(copy, want);
}

static void test_bearer_header_gives_token(void)
{
    assert_found("Bearer abc.def.ghi", NULL, "abc.def.ghi");
    assert_found("bearer abc.def.ghi", NULL, "abc.def.ghi");
    assert_found("BEARER \t abc.def.ghi  ", NULL, "abc.def.ghi");
    assert_found("  Bearer x", NULL, "x");
}

static void test_session_cookie_gives_token(void)
{
    assert_found(NULL, "__session=xyz", "xyz");
    assert_found(NULL, "a=1; __session=xyz; b=2", "xyz");
    assert_found(NULL, "a=1;__session = xyz ;b=2", "xyz");
    assert_found(NULL, "a=1; __session=\"xyz\"", "xyz");
    assert_found("", "__session=xyz", "xyz");
    assert_found(NULL, "__session=; __session=second", "second");
}

static void test_header_wins_over_cookie(void)
{
    assert_found("Bearer from-header", "__session=from-cookie", "from-header");
}

static void test_no_token_without_bearer_or_session_cookie(void)
{
    assert_found(NULL, NULL, NULL);
    assert_found("Basic dXNlcjpwYXNz", NULL, NULL);
    assert_found("Basic dXNlcjpwYXNz", "__session=xyz", NULL);
    assert_found("Bearer", NULL, NULL);
    assert_found("Bearer   ", NULL, NULL);
    assert_found("Bearerabc", NULL, NULL);
    assert_found(NULL, "a=1; b=2", NULL);
    assert_found(NULL, "__session=", NULL);
    assert_found(NULL, "__session=\"\"", NULL);
    assert_found(NULL, "x__session=abc; __session_abc=def", NULL);
    assert_found(NULL, "__session", NULL);
}

static CU_TestInfo verify_tests[] = {
    {"valid_rs256_token_gives_identity", test_valid_rs256_token_gives_identity},
    {"rs384_and_rs512_are_accepted", test_rs384_and_rs512_are_accepted},
    {"parts_of_every_length_are_verified",
     test_parts_of_every_length_are_verified},
    {"token_not_nul_terminated_is_verified_by_length",
     test_token_not_nul_terminated_is_verified_by_length},
    {"claims_without_sid_azp_nbf_iat_are_enough",
     test_claims_without_sid_azp_nbf_iat_are_enough},
    {"expired_token_is_refused", test_expired_token_is_refused},
    {"exp_within_skew_is_accepted_beyond_is_expired",
     test_exp_within_skew_is_accepted_beyond_is_expired},
    {"nbf_beyond_skew_is_not_yet_valid", test_nbf_beyond_skew_is_not_yet_valid},
    {"iat_beyond_skew_is_issued_in_future",
     test_iat_beyond_skew_is_issued_in_future},
    {"missing_exp_is_missing_expiry", test_missing_exp_is_missing_expiry},
    {"time_claims_of_wrong_type_are_malformed",
     test_time_claims_of_wrong_type_are_malformed},
    {"token_of_another_key_is_bad_signature",
     test_token_of_another_key_is_bad_signature},
    {"alg_none_with_empty_signature_is_bad_algorithm",
     test_alg_none_with_empty_signature_is_bad_algorithm},
    {"hs256_signed_with_public_pem_is_bad_algorithm",
     test_hs256_signed_with_public_pem_is_bad_algorithm},
    {"rsa_signature_of_wrong_length_is_bad_signature",
     test_rsa_signature_of_wrong_length_is_bad_signature},
    {"other_algorithms_are_bad_algorithm",
     test_other_algorithms_are_bad_algorithm},
    {"typ_other_than_jwt_is_bad_type", test_typ_other_than_jwt_is_bad_type},
    {"duplicate_header_names_are_malformed",
     test_duplicate_header_names_are_malformed},
    {"tampered_payload_is_bad_signature",
     test_tampered_payload_is_bad_signature},
    {"every_truncation_is_refused", test_every_truncation_is_refused},
    {"wrong_shapes_are_malformed", test_wrong_shapes_are_malformed},
    {"nul_byte_inside_token_is_malformed",
     test_nul_byte_inside_token_is_malformed},
    {"oversized_token_is_malformed", test_oversized_token_is_malformed},
    {"missing_or_empty_sub_is_missing_subject",
     test_missing_or_empty_sub_is_missing_subject},
    {"overlong_sub_is_malformed", test_overlong_sub_is_malformed},
    {"fractional_exp_is_a_numeric_date", test_fractional_exp_is_a_numeric_date},
    {"azp_must_be_a_configured_party", test_azp_must_be_a_configured_party},
    {"any_azp_is_accepted_without_configured_parties",
     test_any_azp_is_accepted_without_configured_parties},
    {"iss_must_equal_configured_issuer", test_iss_must_equal_configured_issuer},
    {"invalid_key_is_config_error", test_invalid_key_is_config_error},
    {"key_on_one_line_with_escaped_newlines_is_accepted",
     test_key_on_one_line_with_escaped_newlines_is_accepted},
    {"result_names_are_snake_case", test_result_names_are_snake_case},
    {"one_verifier_serves_several_threads",
     test_one_verifier_serves_several_threads},
    CU_TEST_INFO_NULL,
};

static CU_TestInfo extract_tests[] = {
    {"bearer_header_gives_token", test_bearer_header_gives_token},
    {"session_cookie_gives_token", test_session_cookie_gives_token},
    {"header_wins_over_cookie", test_header_wins_over_cookie},
    {"no_token_without_bearer_or_session_cookie",
     test_no_token_without_bearer_or_session_cookie},
    CU_TEST_INFO_NULL,
};

static void register_suites(void)
{
    bs_test_add_suite("clerk_jwt_verify", suite_init, suite_cleanup,
                      verify_tests);
    bs_test_add_suite("clerk_jwt_token_from_headers", NULL, NULL,
                      extract_tests);
}

int main(void)
{
    return bs_test_main(register_suites);
}
