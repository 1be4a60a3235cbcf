/*
 * gw_token_cache.h - remembers session tokens that verified, until they
 * expire.
 *
 * libjwt 1.10 decodes the PEM key on every verification, which under
 * OpenSSL 3 costs about a millisecond of CPU and contends on the
 * provider's locks. A frontend sends the same session token on every
 * request until Clerk refreshes it (about once a minute), so the gateway
 * keeps the identity of each token that verified, keyed by the whole token
 * (compared byte for byte, so no hash collision can stand in for a
 * token), and reuses it while now < exp + skew. Only successes are kept;
 * every other claim check (nbf, iat, azp, iss) can only stay true as time
 * passes, and exp is checked again on every hit.
 *
 * Direct-mapped: GW_TOKEN_CACHE_SLOTS slots, a newer token evicts the one
 * in its slot. One mutex; thread-safe.
 */
#ifndef GW_TOKEN_CACHE_H
#define GW_TOKEN_CACHE_H

#include "clerk_jwt.h"

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define GW_TOKEN_CACHE_SLOTS 4096

struct gw_token_slot {
    char *token; /* malloc'd copy; NULL: empty */
    size_t token_len;
    struct clerk_jwt_identity identity;
};

struct gw_token_cache {
    pthread_mutex_t lock;
    struct gw_token_slot *slots;
};

/* BS_OK or BS_ENOMEM. Free with gw_token_cache_destroy(). */
int gw_token_cache_init(struct gw_token_cache *cache);
void gw_token_cache_destroy(struct gw_token_cache *cache);

/* True (and *identity filled) when `token` verified before and has not
 * expired at `now`; an expired entry is dropped. */
bool gw_token_cache_get(struct gw_token_cache *cache, const char *token,
                        size_t token_len, int64_t now,
                        struct clerk_jwt_identity *identity);

/* Remembers a token that verified (copied). Out of memory: not kept. */
void gw_token_cache_put(struct gw_token_cache *cache, const char *token,
                        size_t token_len,
                        const struct clerk_jwt_identity *identity);

#endif
