/*
 * session_token.h - Clerk-style session tokens minted by tests.
 *
 * Integration tests play the part of a product's Clerk instance: they make
 * an RSA key, give the gateway its public half (CLERK_JWT_KEY) and sign
 * RS256 tokens with the private half. Every string returned is malloc'd;
 * the caller frees it.
 */
#ifndef BS_TEST_SESSION_TOKEN_H
#define BS_TEST_SESSION_TOKEN_H

#include <openssl/evp.h>
#include <stddef.h>

/* Unpadded base64url of `len` bytes. */
char *bs_test_b64url(const unsigned char *data, size_t len);

/*
 * An RS256 token for `sub` signed by `key`: sid "sess_1", `azp` when not
 * NULL, issued and valid from 10 s ago, expiring in `lifetime_s`.
 */
char *bs_test_session_token(EVP_PKEY *key, const char *sub, const char *azp,
                            long lifetime_s);

/* The PEM text of the public half of `key`. */
char *bs_test_public_pem(EVP_PKEY *key);

#endif
