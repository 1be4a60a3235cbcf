/*
 * clerk_jwt.c - Clerk session-token verification over libjwt and jansson.
 *
 * libjwt 1.10 verifies a token with whatever `alg` the token names: given an
 * HS256 token it would use our public PEM as an HMAC secret, which anyone can
 * do. So the header is decoded and checked here first (alg in the RSA set,
 * typ), and libjwt only ever sees tokens that claim an allowed RSA alg; its
 * decoded alg is checked again afterwards. The claims are then read with
 * jansson from the payload libjwt has just verified, because
 * jwt_get_grant_int() returns 0 without an error for a claim of the wrong
 * type ("nbf": "x" would pass as 1970).
 *
 * Nothing here logs or keeps a token.
 */
#include "clerk_jwt.h"

#include "bs/error.h"

#include <errno.h>
#include <jansson.h>
#include <jwt.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Claim times beyond 2^53 are not exact doubles: refuse them as malformed. */
#define CLAIM_TIME_LIMIT 9007199254740992.0

struct clerk_jwt_verifier {
    char *pem; /* normalised PEM text handed to libjwt */
    size_t pem_len;
    size_t signature_len; /* base64url length of one RSA signature */
    char **parties;       /* authorized parties; nparties == 0: any azp */
    size_t nparties;
    char *issuer; /* NULL: not checked */
};

/* A token split into its three parts (pointers into the token). */
struct token_parts {
    const char *part[3];
    size_t len[3];
};

static const struct {
    const char *name;
    jwt_alg_t alg;
} allowed_algs[] = {
    {"RS256", JWT_ALG_RS256},
    {"RS384", JWT_ALG_RS384},
    {"RS512", JWT_ALG_RS512},
};

static const char *const result_names[] = {
    [CLERK_JWT_OK] = "ok",
    [CLERK_JWT_MALFORMED] = "malformed",
    [CLERK_JWT_BAD_ALGORITHM] = "bad_algorithm",
    [CLERK_JWT_BAD_TYPE] = "bad_type",
    [CLERK_JWT_BAD_SIGNATURE] = "bad_signature",
    [CLERK_JWT_MISSING_EXPIRY] = "missing_expiry",
    [CLERK_JWT_EXPIRED] = "expired",
    [CLERK_JWT_NOT_YET_VALID] = "not_yet_valid",
    [CLERK_JWT_ISSUED_IN_FUTURE] = "issued_in_future",
    [CLERK_JWT_MISSING_SUBJECT] = "missing_subject",
    [CLERK_JWT_BAD_AUTHORIZED_PARTY] = "bad_authorized_party",
    [CLERK_JWT_BAD_ISSUER] = "bad_issuer",
    [CLERK_JWT_INTERNAL] = "internal",
};

const char *clerk_jwt_result_name(enum clerk_jwt_result result)
{
    size_t count = sizeof(result_names) / sizeof(result_names[0]);

    if ((size_t)result >= count || result_names[result] == NULL)
        return "unknown";
    return result_names[result];
}

/* ---- creation ---------------------------------------------------------- */

/* Copies the PEM text, turning each two-character "\n" into a newline. */
static char *pem_normalise(const char *pem, size_t *len)
{
    size_t in_len = strlen(pem);
    char *out = malloc(in_len + 1);
    size_t n = 0;

    if (out == NULL)
        return NULL;
    for (size_t i = 0; i < in_len; i++) {
        if (pem[i] == '\\' && pem[i + 1] == 'n') {
            out[n++] = '\n';
            i++;
        } else {
            out[n++] = pem[i];
        }
    }
    out[n] = '\0';
    *len = n;
    return out;
}

/*
 * BS_OK when `pem` holds an RSA public key of at least the minimum size;
 * *signature_len is then the base64url length of its signatures.
 */
static int pem_check_rsa_public(const char *pem, size_t len,
                                size_t *signature_len, char *errstr,
                                size_t errstr_size)
{
    BIO *bio = BIO_new_mem_buf(pem, (int)len);
    EVP_PKEY *key = NULL;
    int status = BS_OK;

    if (bio == NULL) {
        status = bs_fail(errstr, errstr_size, BS_ENOMEM, "out of memory");
        goto out;
    }
    key = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
    if (key == NULL) {
        status = bs_fail(errstr, errstr_size, BS_ECONFIG,
                         "CLERK_JWT_KEY is not a PEM public key");
        goto out;
    }
    if (EVP_PKEY_get_base_id(key) != EVP_PKEY_RSA) {
        status = bs_fail(errstr, errstr_size, BS_ECONFIG,
                         "CLERK_JWT_KEY is not an RSA public key");
        goto out;
    }
    if (EVP_PKEY_get_bits(key) < CLERK_JWT_MIN_KEY_BITS) {
        status = bs_fail(errstr, errstr_size, BS_ECONFIG,
                         "CLERK_JWT_KEY has %d bits, fewer than %d",
                         EVP_PKEY_get_bits(key), CLERK_JWT_MIN_KEY_BITS);
        goto out;
    }
    *signature_len = ((size_t)EVP_PKEY_get_size(key) * 4 + 2) / 3;

out:
    EVP_PKEY_free(key);
    BIO_free(bio);
    ERR_clear_error();
    return status;
}

static bool is_blank(char c)
{
    return c == ' ' || c == '\t';
}

/* [start, end) with blanks removed at both ends. */
static void trim(const char **start, const char **end)
{
    while (*start < *end && is_blank(**start))
        (*start)++;
    while (*end > *start && is_blank((*end)[-1]))
        (*end)--;
}

/* Splits "a, b,,c" into trimmed, non-empty entries. */
static int parties_parse(struct clerk_jwt_verifier *v, const char *list)
{
    const char *p = list;

    while (*p != '\0') {
        const char *start = p;
        const char *end = strchr(p, ',');
        char **grown;

        if (end == NULL)
            end = p + strlen(p);
        p = *end == ',' ? end + 1 : end;
        trim(&start, &end);
        if (start == end)
            continue;

        grown = realloc(v->parties, (v->nparties + 1) * sizeof(*grown));
        if (grown == NULL)
            return BS_ENOMEM;
        v->parties = grown;
        v->parties[v->nparties] = strndup(start, (size_t)(end - start));
        if (v->parties[v->nparties] == NULL)
            return BS_ENOMEM;
        v->nparties++;
    }
    return BS_OK;
}

int clerk_jwt_verifier_new(const struct clerk_jwt_config *config,
                           struct clerk_jwt_verifier **out, char *errstr,
                           size_t errstr_size)
{
    struct clerk_jwt_verifier *v = NULL;
    int status;

    *out = NULL;
    if (config->public_key_pem == NULL || config->public_key_pem[0] == '\0')
        return bs_fail(errstr, errstr_size, BS_ECONFIG,
                       "CLERK_JWT_KEY (or CLERK_JWT_KEY_FILE) is not set");

    /* The key: kept as PEM text, because libjwt takes it that way. */
    status = BS_ENOMEM;
    v = calloc(1, sizeof(*v));
    if (v == NULL)
        goto out;
    v->pem = pem_normalise(config->public_key_pem, &v->pem_len);
    if (v->pem == NULL)
        goto out;
    status = pem_check_rsa_public(v->pem, v->pem_len, &v->signature_len, errstr,
                                  errstr_size);
    if (status != BS_OK)
        goto out;

    /* The optional checks. */
    status = BS_ENOMEM;
    if (config->authorized_parties != NULL &&
        parties_parse(v, config->authorized_parties) != BS_OK)
        goto out;
    if (config->issuer != NULL && config->issuer[0] != '\0') {
        v->issuer = strdup(config->issuer);
        if (v->issuer == NULL)
            goto out;
    }
    status = BS_OK;

out:
    if (status == BS_ENOMEM)
        bs_fail(errstr, errstr_size, BS_ENOMEM, "out of memory");
    if (status != BS_OK) {
        clerk_jwt_verifier_free(v);
        return status;
    }
    *out = v;
    return BS_OK;
}

void clerk_jwt_verifier_free(struct clerk_jwt_verifier *verifier)
{
    if (verifier == NULL)
        return;
    for (size_t i = 0; i < verifier->nparties; i++)
        free(verifier->parties[i]);
    free(verifier->parties);
    free(verifier->pem);
    free(verifier->issuer);
    free(verifier);
}

/* ---- token shape and header -------------------------------------------- */

static bool is_base64url(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
           (c >= '0' && c <= '9') || c == '-' || c == '_';
}

/*
 * Three base64url parts without padding; header and payload non-empty. An
 * empty signature passes here: the alg check refuses "none", the signature
 * length check everything else.
 */
static bool token_split(const char *token, size_t len, struct token_parts *tp)
{
    size_t part = 0;
    size_t start = 0;

    if (len == 0 || len > CLERK_JWT_MAX_TOKEN)
        return false;
    for (size_t i = 0; i <= len; i++) {
        if (i < len && token[i] != '.') {
            if (!is_base64url(token[i]))
                return false;
            continue;
        }
        if (part == 3)
            return false;
        tp->part[part] = token + start;
        tp->len[part] = i - start;
        if (tp->len[part] % 4 == 1)
            return false;
        part++;
        start = i + 1;
    }
    return part == 3 && tp->len[0] > 0 && tp->len[1] > 0;
}

/* Decodes one base64url part and parses it as a JSON object (duplicate
 * names refused). Returns NULL when it is not one; sets *oom on ENOMEM. */
static json_t *part_to_json(const char *part, size_t len, bool *oom)
{
    size_t padded = (len + 3) / 4 * 4;
    unsigned char *text = malloc(padded + 1);
    unsigned char *raw = malloc(padded / 4 * 3 + 1);
    json_t *json = NULL;
    int decoded;

    if (text == NULL || raw == NULL) {
        *oom = true;
        goto out;
    }

    /* base64url -> base64 with padding, then OpenSSL decodes it. */
    for (size_t i = 0; i < padded; i++) {
        char c = i < len ? part[i] : '=';
        text[i] = (unsigned char)(c == '-' ? '+' : c == '_' ? '/' : c);
    }
    decoded = EVP_DecodeBlock(raw, text, (int)padded);
    if (decoded < 0)
        goto out;
    decoded -= (int)(padded - len); /* the '=' padding decodes to zeros */

    json = json_loadb((const char *)raw, (size_t)decoded,
                      JSON_REJECT_DUPLICATES, NULL);
    if (json != NULL && !json_is_object(json)) {
        json_decref(json);
        json = NULL;
    }

out:
    free(text);
    free(raw);
    return json;
}

/* Checks alg and typ; on success *alg is the header's (allowed) alg. */
static enum clerk_jwt_result header_check(const struct token_parts *tp,
                                          jwt_alg_t *alg)
{
    bool oom = false;
    json_t *header = part_to_json(tp->part[0], tp->len[0], &oom);
    const char *name;
    json_t *typ;
    enum clerk_jwt_result result = CLERK_JWT_BAD_ALGORITHM;

    if (header == NULL)
        return oom ? CLERK_JWT_INTERNAL : CLERK_JWT_MALFORMED;

    /* alg: one of the RSA set, nothing else. */
    name = json_string_value(json_object_get(header, "alg"));
    for (size_t i = 0;
         name != NULL && i < sizeof(allowed_algs) / sizeof(allowed_algs[0]);
         i++) {
        if (strcmp(name, allowed_algs[i].name) == 0) {
            *alg = allowed_algs[i].alg;
            result = CLERK_JWT_OK;
        }
    }

    /* typ: absent or exactly "JWT". */
    typ = json_object_get(header, "typ");
    if (result == CLERK_JWT_OK && typ != NULL &&
        (!json_is_string(typ) || strcmp(json_string_value(typ), "JWT") != 0))
        result = CLERK_JWT_BAD_TYPE;

    json_decref(header);
    return result;
}

/* ---- signature ---------------------------------------------------------- */

/*
 * libjwt checks the signature with the configured key and the header's
 * (already allowed) alg; the alg it decoded must be that same one. A
 * signature of another length than the key's is refused first: libjwt
 * 1.10.2 writes past its buffer when decoding an empty one (valgrind).
 */
static enum clerk_jwt_result signature_check(const struct clerk_jwt_verifier *v,
                                             const char *token, size_t len,
                                             const struct token_parts *tp,
                                             jwt_alg_t alg)
{
    char *copy = NULL;
    jwt_t *jwt = NULL;
    enum clerk_jwt_result result = CLERK_JWT_BAD_SIGNATURE;
    int rc;

    if (tp->len[2] != v->signature_len)
        goto out;

    /* libjwt wants a NUL-terminated token. */
    result = CLERK_JWT_INTERNAL;
    copy = strndup(token, len);
    if (copy == NULL)
        goto out;
    rc = jwt_decode(&jwt, copy, (const unsigned char *)v->pem, (int)v->pem_len);
    ERR_clear_error();
    if (rc == ENOMEM)
        goto out;

    result = CLERK_JWT_BAD_SIGNATURE;
    if (rc == 0 && jwt != NULL)
        result =
            jwt_get_alg(jwt) == alg ? CLERK_JWT_OK : CLERK_JWT_BAD_ALGORITHM;

out:
    jwt_free(jwt);
    free(copy);
    return result;
}

/* ---- claims ------------------------------------------------------------- */

/* Copies an optional string claim; false when present and not a string
 * of at most `max` bytes. */
static bool claim_copy(json_t *claims, const char *name, char *out, size_t max)
{
    json_t *value = json_object_get(claims, name);

    out[0] = '\0';
    if (value == NULL)
        return true;
    if (!json_is_string(value) || json_string_length(value) > max)
        return false;
    memcpy(out, json_string_value(value), json_string_length(value) + 1);
    return true;
}

/* A NumericDate claim: 0 absent, 1 present (in *seconds), -1 bad type. */
static int claim_time(json_t *claims, const char *name, double *seconds)
{
    json_t *value = json_object_get(claims, name);

    if (value == NULL)
        return 0;
    if (!json_is_number(value))
        return -1;
    *seconds = json_number_value(value);
    if (*seconds > CLAIM_TIME_LIMIT || *seconds < -CLAIM_TIME_LIMIT)
        return -1;
    return 1;
}

static enum clerk_jwt_result claims_times(json_t *claims, int64_t now,
                                          struct clerk_jwt_identity *id)
{
    double limit = (double)now + CLERK_JWT_SKEW_SECONDS;
    double exp = 0, nbf = 0, iat = 0;
    int has;

    /* exp: required, and now < exp + skew. */
    has = claim_time(claims, "exp", &exp);
    if (has == 0)
        return CLERK_JWT_MISSING_EXPIRY;
    if (has < 0)
        return CLERK_JWT_MALFORMED;
    if (!((double)now < exp + CLERK_JWT_SKEW_SECONDS))
        return CLERK_JWT_EXPIRED;
    id->exp = (int64_t)exp;

    /* nbf and iat: optional, not after now + skew. */
    has = claim_time(claims, "nbf", &nbf);
    if (has < 0)
        return CLERK_JWT_MALFORMED;
    if (has > 0 && nbf > limit)
        return CLERK_JWT_NOT_YET_VALID;
    has = claim_time(claims, "iat", &iat);
    if (has < 0)
        return CLERK_JWT_MALFORMED;
    if (has > 0 && iat > limit)
        return CLERK_JWT_ISSUED_IN_FUTURE;
    return CLERK_JWT_OK;
}

static enum clerk_jwt_result claims_parties(const struct clerk_jwt_verifier *v,
                                            json_t *claims,
                                            struct clerk_jwt_identity *id)
{
    const char *iss;
    bool listed = v->nparties == 0;

    /* azp: one of the configured parties, when there are any. */
    if (!claim_copy(claims, "azp", id->azp, CLERK_JWT_MAX_AZP))
        return v->nparties > 0 ? CLERK_JWT_BAD_AUTHORIZED_PARTY
                               : CLERK_JWT_MALFORMED;
    for (size_t i = 0; i < v->nparties && id->azp[0] != '\0'; i++)
        listed = listed || strcmp(id->azp, v->parties[i]) == 0;
    if (!listed)
        return CLERK_JWT_BAD_AUTHORIZED_PARTY;

    /* iss: pinned when configured. */
    if (v->issuer == NULL)
        return CLERK_JWT_OK;
    iss = json_string_value(json_object_get(claims, "iss"));
    if (iss == NULL || strcmp(iss, v->issuer) != 0)
        return CLERK_JWT_BAD_ISSUER;
    return CLERK_JWT_OK;
}

/* Reads the verified payload: sub, exp, nbf, iat, azp, iss in that order. */
static enum clerk_jwt_result claims_check(const struct clerk_jwt_verifier *v,
                                          const struct token_parts *tp,
                                          int64_t now,
                                          struct clerk_jwt_identity *id)
{
    bool oom = false;
    json_t *claims = part_to_json(tp->part[1], tp->len[1], &oom);
    json_t *sub;
    enum clerk_jwt_result result;

    if (claims == NULL)
        return oom ? CLERK_JWT_INTERNAL : CLERK_JWT_MALFORMED;

    /* sub: a non-empty string; sid, if any, a string. */
    sub = json_object_get(claims, "sub");
    result = CLERK_JWT_MISSING_SUBJECT;
    if (!json_is_string(sub) || json_string_length(sub) == 0)
        goto out;
    result = CLERK_JWT_MALFORMED;
    if (!claim_copy(claims, "sub", id->sub, CLERK_JWT_MAX_ID) ||
        !claim_copy(claims, "sid", id->sid, CLERK_JWT_MAX_ID))
        goto out;

    result = claims_times(claims, now, id);
    if (result == CLERK_JWT_OK)
        result = claims_parties(v, claims, id);

out:
    json_decref(claims);
    return result;
}

/* ---- verification ------------------------------------------------------- */

enum clerk_jwt_result
clerk_jwt_verify(const struct clerk_jwt_verifier *verifier, const char *token,
                 size_t token_len, int64_t now,
                 struct clerk_jwt_identity *identity)
{
    struct token_parts tp;
    jwt_alg_t alg = JWT_ALG_INVAL;
    enum clerk_jwt_result result;

    memset(identity, 0, sizeof(*identity));

    /* Shape, then header, then signature, then claims. */
    if (token == NULL || !token_split(token, token_len, &tp))
        return CLERK_JWT_MALFORMED;
    result = header_check(&tp, &alg);
    if (result == CLERK_JWT_OK)
        result = signature_check(verifier, token, token_len, &tp, alg);
    if (result == CLERK_JWT_OK)
        result = claims_check(verifier, &tp, now, identity);

    if (result != CLERK_JWT_OK)
        memset(identity, 0, sizeof(*identity));
    return result;
}

/* ---- finding the token in a request ------------------------------------ */

static bool token_from_authorization(const char *value, const char **token,
                                     size_t *token_len)
{
    const char *start = value;
    const char *end = value + strlen(value);

    trim(&start, &end);
    if (end - start < 7 || strncasecmp(start, "Bearer", 6) != 0 ||
        !is_blank(start[6]))
        return false;
    start += 7;
    trim(&start, &end);
    if (start == end)
        return false;
    *token = start;
    *token_len = (size_t)(end - start);
    return true;
}

static bool token_from_cookie(const char *cookie, const char **token,
                              size_t *token_len)
{
    static const char name[] = "__session";
    const char *p = cookie;

    while (*p != '\0') {
        const char *start = p;
        const char *end = strchr(p, ';');
        const char *eq;
        const char *name_end;

        if (end == NULL)
            end = p + strlen(p);
        p = *end == ';' ? end + 1 : end;
        trim(&start, &end);
        eq = memchr(start, '=', (size_t)(end - start));
        if (eq == NULL)
            continue;
        name_end = eq;
        trim(&start, &name_end);
        if ((size_t)(name_end - start) != sizeof(name) - 1 ||
            memcmp(start, name, sizeof(name) - 1) != 0)
            continue;

        /* The value, without blanks or one pair of double quotes. */
        start = eq + 1;
        trim(&start, &end);
        if (end - start >= 2 && *start == '"' && end[-1] == '"') {
            start++;
            end--;
        }
        if (start < end) {
            *token = start;
            *token_len = (size_t)(end - start);
            return true;
        }
    }
    return false;
}

bool clerk_jwt_token_from_headers(const char *authorization, const char *cookie,
                                  const char **token, size_t *token_len)
{
    const char *p = authorization;

    *token = NULL;
    *token_len = 0;
    while (p != NULL && is_blank(*p))
        p++;
    if (p != NULL && *p != '\0')
        return token_from_authorization(p, token, token_len);
    if (cookie != NULL)
        return token_from_cookie(cookie, token, token_len);
    return false;
}
