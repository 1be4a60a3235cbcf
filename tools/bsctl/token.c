/*
 * token.c - `bsctl token sign`: a session token for trying the gateway by
 * hand.
 *
 *   bsctl token sign --key PRIVATE.pem --sub USER_ID [--ttl SECONDS]
 *                    [--azp ORIGIN] [--iss ISSUER]
 *
 * prints one RS256 JWT shaped like a Clerk session token (sub, sid, iat,
 * nbf, exp; azp and iss when given) on stdout:
 *
 *   curl -H "Authorization: Bearer $(bsctl token sign --key K --sub S)" URL
 *
 * It plays the part of a Clerk instance whose private key we hold, which is
 * only ever true in development: scripts/run.sh makes one RSA key pair per
 * product in ./run/ and gives the gateway the public half. In production
 * the gateway has only Clerk's public key, so this command cannot mint a
 * token it accepts. Signing is libjwt's; the key file is read here and
 * wiped after use, and never printed.
 */
#include "bsctl.h"

#include <errno.h>
#include <jwt.h>
#include <openssl/crypto.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define TOKEN_EXIT_FAILED 1
#define TOKEN_EXIT_USAGE  64

#define TOKEN_TTL_DEFAULT_S 600
#define TOKEN_TTL_MAX_S     (24 * 3600)
#define TOKEN_KEY_MAX       (64 * 1024)

/* nbf this far in the past, as Clerk does, so a verifier whose clock is a
 * little behind still accepts the token at once. */
#define TOKEN_NBF_BACKDATE_S 10

struct token_args {
    const char *key_file;
    const char *sub;
    const char *azp;
    const char *iss;
    long ttl_s;
};

static int usage_error(const char *what)
{
    fprintf(stderr,
            "bsctl token: %s\n"
            "usage: bsctl token sign --key PRIVATE.pem --sub USER_ID"
            " [--ttl SECONDS] [--azp ORIGIN] [--iss ISSUER]\n",
            what);
    return TOKEN_EXIT_USAGE;
}

/* NULL when the arguments are usable, else what is wrong with them. */
static const char *parse_args(int argc, char **argv, struct token_args *a)
{
    memset(a, 0, sizeof(*a));
    a->ttl_s = TOKEN_TTL_DEFAULT_S;
    if (argc < 1 || strcmp(argv[0], "sign") != 0)
        return "missing or unknown sub-command (sign)";
    for (int i = 1; i < argc; i++) {
        const char **slot = NULL;
        bool has_value = i + 1 < argc;

        if (strcmp(argv[i], "--key") == 0)
            slot = &a->key_file;
        else if (strcmp(argv[i], "--sub") == 0)
            slot = &a->sub;
        else if (strcmp(argv[i], "--azp") == 0)
            slot = &a->azp;
        else if (strcmp(argv[i], "--iss") == 0)
            slot = &a->iss;
        else if (strcmp(argv[i], "--ttl") == 0 && has_value) {
            char *end;

            a->ttl_s = strtol(argv[++i], &end, 10);
            if (*end || a->ttl_s <= 0 || a->ttl_s > TOKEN_TTL_MAX_S)
                return "--ttl needs a number of seconds from 1 to 86400";
            continue;
        } else
            return "unexpected argument";
        if (!has_value)
            return "an option lacks its value";
        *slot = argv[++i];
    }
    if (!a->key_file)
        return "--key is required (a product's private key, e.g. "
               "run/bestays.jwt-private.pem)";
    if (!a->sub || !*a->sub)
        return "--sub is required (the Clerk user id, e.g. user_...)";
    return NULL;
}

/* The whole key file (NUL-terminated), or NULL with a message printed. */
static unsigned char *read_key(const char *path, size_t *len)
{
    FILE *file = fopen(path, "rb");
    unsigned char *key = NULL;
    size_t n = 0;

    if (!file) {
        fprintf(stderr, "bsctl token: cannot open %s: %s\n", path,
                strerror(errno));
        return NULL;
    }
    key = malloc(TOKEN_KEY_MAX + 1);
    if (key)
        n = fread(key, 1, TOKEN_KEY_MAX + 1, file);
    fclose(file);
    if (!key || n == 0 || n > TOKEN_KEY_MAX) {
        fprintf(stderr, "bsctl token: %s is %s\n", path,
                !key     ? "not readable (out of memory)"
                : n == 0 ? "empty"
                         : "too large for a PEM key");
        if (key)
            OPENSSL_cleanse(key, TOKEN_KEY_MAX + 1);
        free(key);
        return NULL;
    }
    key[n] = '\0';
    *len = n;
    return key;
}

/* The claims of a Clerk session token, valid from now for ttl_s. */
static int add_claims(jwt_t *jwt, const struct token_args *a)
{
    long now = (long)time(NULL);
    char sid[64];
    int rc;

    /* A session id of our own shape, so a dev token is recognisable in
     * logs next to real ones. */
    snprintf(sid, sizeof(sid), "sess_bsctl_%ld", now);
    rc = jwt_add_grant(jwt, "sub", a->sub);
    if (rc == 0)
        rc = jwt_add_grant(jwt, "sid", sid);
    if (rc == 0)
        rc = jwt_add_grant_int(jwt, "iat", now);
    if (rc == 0)
        rc = jwt_add_grant_int(jwt, "nbf", now - TOKEN_NBF_BACKDATE_S);
    if (rc == 0)
        rc = jwt_add_grant_int(jwt, "exp", now + a->ttl_s);
    if (rc == 0 && a->azp)
        rc = jwt_add_grant(jwt, "azp", a->azp);
    if (rc == 0 && a->iss)
        rc = jwt_add_grant(jwt, "iss", a->iss);
    return rc;
}

/* The signed token (caller frees), or NULL with a message. */
static char *sign(const struct token_args *a, const unsigned char *key,
                  size_t key_len)
{
    jwt_t *jwt = NULL;
    char *token = NULL;
    int rc = jwt_new(&jwt);

    if (rc == 0)
        rc = add_claims(jwt, a);
    if (rc == 0)
        rc = jwt_set_alg(jwt, JWT_ALG_RS256, key, (int)key_len);
    if (rc == 0) {
        token = jwt_encode_str(jwt);
        rc = token ? 0 : errno ? errno : EINVAL;
    }
    if (rc != 0)
        fprintf(stderr,
                "bsctl token: cannot sign with %s (%s); it must be an RSA "
                "private key in PEM\n",
                a->key_file, strerror(rc));
    jwt_free(jwt);
    return token;
}

int bsctl_token(struct bs_program *program, int argc, char **argv)
{
    struct token_args args;
    const char *wrong = parse_args(argc, argv, &args);
    unsigned char *key;
    size_t key_len = 0;
    char *token;

    (void)program;
    if (wrong)
        return usage_error(wrong);
    key = read_key(args.key_file, &key_len);
    if (!key)
        return TOKEN_EXIT_FAILED;

    token = sign(&args, key, key_len);
    OPENSSL_cleanse(key, key_len);
    free(key);
    if (!token)
        return TOKEN_EXIT_FAILED;

    printf("%s\n", token);
    free(token); /* libjwt allocates with malloc unless told otherwise */
    return 0;
}
