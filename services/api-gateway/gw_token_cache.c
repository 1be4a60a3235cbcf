/*
 * gw_token_cache.c - a direct-mapped cache of verified session tokens.
 */
#include "gw_token_cache.h"

#include "bs/error.h"

#include <stdlib.h>
#include <string.h>

int gw_token_cache_init(struct gw_token_cache *cache)
{
    cache->slots = calloc(GW_TOKEN_CACHE_SLOTS, sizeof(*cache->slots));
    if (!cache->slots)
        return BS_ENOMEM;
    pthread_mutex_init(&cache->lock, NULL);
    return BS_OK;
}

void gw_token_cache_destroy(struct gw_token_cache *cache)
{
    if (!cache->slots)
        return;
    for (size_t i = 0; i < GW_TOKEN_CACHE_SLOTS; i++)
        free(cache->slots[i].token);
    free(cache->slots);
    cache->slots = NULL;
    pthread_mutex_destroy(&cache->lock);
}

/* FNV-1a of the token's last 64 bytes (the signature: what differs). */
static size_t slot_of(const char *token, size_t token_len)
{
    size_t start = token_len > 64 ? token_len - 64 : 0;
    uint64_t hash = 1469598103934665603ull;

    for (size_t i = start; i < token_len; i++) {
        hash ^= (unsigned char)token[i];
        hash *= 1099511628211ull;
    }
    return (size_t)(hash % GW_TOKEN_CACHE_SLOTS);
}

bool gw_token_cache_get(struct gw_token_cache *cache, const char *token,
                        size_t token_len, int64_t now,
                        struct clerk_jwt_identity *identity)
{
    struct gw_token_slot *slot = &cache->slots[slot_of(token, token_len)];
    bool hit = false;

    pthread_mutex_lock(&cache->lock);
    if (slot->token && slot->token_len == token_len &&
        memcmp(slot->token, token, token_len) == 0) {
        if (now < slot->identity.exp + CLERK_JWT_SKEW_SECONDS) {
            *identity = slot->identity;
            hit = true;
        } else {
            free(slot->token);
            memset(slot, 0, sizeof(*slot));
        }
    }
    pthread_mutex_unlock(&cache->lock);
    return hit;
}

void gw_token_cache_put(struct gw_token_cache *cache, const char *token,
                        size_t token_len,
                        const struct clerk_jwt_identity *identity)
{
    struct gw_token_slot *slot = &cache->slots[slot_of(token, token_len)];
    char *copy = malloc(token_len);
    char *old;

    if (!copy)
        return;
    memcpy(copy, token, token_len);
    pthread_mutex_lock(&cache->lock);
    old = slot->token;
    slot->token = copy;
    slot->token_len = token_len;
    slot->identity = *identity;
    pthread_mutex_unlock(&cache->lock);
    free(old);
}
