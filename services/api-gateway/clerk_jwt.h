/*
 * clerk_jwt.h - verifying Clerk session tokens (the gateway's identity).
 *
 * A verifier is built once at start-up from the product's PEM public key and
 * the optional authorized parties and issuer; it is immutable afterwards, so
 * any number of threads may call clerk_jwt_verify() on it at once. Checks
 * run in this order and the first failure is the result: token shape (three
 * base64url parts, at most CLERK_JWT_MAX_TOKEN bytes), header `alg` (RS256,
 * RS384 or RS512 only) and `typ` (absent or "JWT"), the RSA signature
 * (libjwt), then the claims `sub`, `exp`, `nbf`, `iat`, `azp`, `iss` with
 * CLERK_JWT_SKEW_SECONDS of clock skew.
 *
 * It does not fetch keys (no JWKS, no network), does not look the user up,
 * and never logs: tokens are secrets, and results are codes the caller logs.
 */
#ifndef CLERK_JWT_H
#define CLERK_JWT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Longest token accepted, in bytes (Clerk's are about 1 KiB). */
#define CLERK_JWT_MAX_TOKEN 8192

/* Clock skew allowed on exp, nbf and iat, in seconds. */
#define CLERK_JWT_SKEW_SECONDS 5

/* Longest sub/sid, and longest azp, copied into an identity. */
#define CLERK_JWT_MAX_ID  255
#define CLERK_JWT_MAX_AZP 1024

/* Smallest RSA key accepted at creation, in bits. */
#define CLERK_JWT_MIN_KEY_BITS 2048

enum clerk_jwt_result {
    CLERK_JWT_OK = 0,
    CLERK_JWT_MALFORMED,        /* not a JWT, too long, or claims of bad type */
    CLERK_JWT_BAD_ALGORITHM,    /* alg missing or not RS256/RS384/RS512 */
    CLERK_JWT_BAD_TYPE,         /* typ present and not "JWT" */
    CLERK_JWT_BAD_SIGNATURE,    /* not signed by the configured key */
    CLERK_JWT_MISSING_EXPIRY,   /* no exp claim */
    CLERK_JWT_EXPIRED,          /* now >= exp + skew */
    CLERK_JWT_NOT_YET_VALID,    /* nbf > now + skew */
    CLERK_JWT_ISSUED_IN_FUTURE, /* iat > now + skew */
    CLERK_JWT_MISSING_SUBJECT,  /* sub absent, not a string, or empty */
    CLERK_JWT_BAD_AUTHORIZED_PARTY, /* azp absent or not a configured one */
    CLERK_JWT_BAD_ISSUER,           /* iss differs from the configured one */
    CLERK_JWT_INTERNAL              /* out of memory: the server's fault */
};

struct clerk_jwt_config {
    const char *public_key_pem;     /* required; a literal "\n" counts as a
                                       newline (keys pasted into one line) */
    const char *authorized_parties; /* comma-separated; NULL or blank: any */
    const char *issuer;             /* NULL or empty: not checked */
};

/* What a valid token says. Strings are copies, "" when the claim is absent. */
struct clerk_jwt_identity {
    char sub[CLERK_JWT_MAX_ID + 1]; /* the Clerk user id */
    char sid[CLERK_JWT_MAX_ID + 1]; /* the Clerk session id */
    char azp[CLERK_JWT_MAX_AZP + 1];
    int64_t exp; /* Unix seconds */
};

struct clerk_jwt_verifier;

/*
 * Builds a verifier. The key must be a PEM RSA public key of at least
 * CLERK_JWT_MIN_KEY_BITS bits, else BS_ECONFIG with one line in errstr that
 * never contains key material. The verifier copies what it needs from
 * `config`; the caller keeps ownership of config and frees *out with
 * clerk_jwt_verifier_free(). Returns BS_OK, BS_ECONFIG or BS_ENOMEM.
 */
int clerk_jwt_verifier_new(const struct clerk_jwt_config *config,
                           struct clerk_jwt_verifier **out, char *errstr,
                           size_t errstr_size);

/* Frees a verifier (NULL is fine). No verify call may still be running. */
void clerk_jwt_verifier_free(struct clerk_jwt_verifier *verifier);

/*
 * Verifies `token` (token_len bytes, need not be NUL-terminated) at `now`
 * (Unix seconds). On CLERK_JWT_OK fills *identity; on any other result
 * *identity is cleared. Thread-safe; the token is not kept.
 */
enum clerk_jwt_result
clerk_jwt_verify(const struct clerk_jwt_verifier *verifier, const char *token,
                 size_t token_len, int64_t now,
                 struct clerk_jwt_identity *identity);

/* A static snake_case name for a result, e.g. "bad_signature", for logs
 * and metric labels. */
const char *clerk_jwt_result_name(enum clerk_jwt_result result);

/*
 * Finds the session token of a request. `authorization` and `cookie` are the
 * raw header values (either may be NULL). When an Authorization header with
 * anything but blanks is present it alone decides: "Bearer <token>" (scheme
 * case-insensitive) gives the token, any other scheme or a bare "Bearer"
 * gives none. Without it (or when it is only blanks, which is treated as
 * absent), the first non-empty `__session` cookie is used (double quotes
 * removed); that token is verified exactly like a Bearer one.
 * On true, *token and *token_len point into the header value given (no copy).
 */
bool clerk_jwt_token_from_headers(const char *authorization, const char *cookie,
                                  const char **token, size_t *token_len);

#endif
