/*
 * gw_caller_cache.c - sharded, direct-mapped, TTL-bounded caller rows (see
 * the header for the staleness bound and the isolation argument).
 *
 * Strings are copied outside the shard's lock where possible (put) and
 * old ones freed after it is released, so a lock is held for a compare
 * and a copy of one row at most.
 */
#include "gw_caller_cache.h"

#include "bs/error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int gw_caller_cache_init(struct gw_caller_cache *cache, unsigned ttl_ms)
{
    memset(cache, 0, sizeof(*cache));
    if (ttl_ms > GW_CALLER_CACHE_TTL_MAX)
        return BS_EINVAL;
    cache->ttl_ms = ttl_ms;
    if (ttl_ms == 0)
        return BS_OK;
    cache->shards = calloc(GW_CALLER_CACHE_SHARDS, sizeof(*cache->shards));
    if (!cache->shards)
        return BS_ENOMEM;
    for (size_t i = 0; i < GW_CALLER_CACHE_SHARDS; i++)
        pthread_mutex_init(&cache->shards[i].lock, NULL);
    return BS_OK;
}

static void entry_clear(struct gw_caller_entry *entry)
{
    free(entry->user_id);
    free(entry->json);
    memset(entry, 0, sizeof(*entry));
}

void gw_caller_cache_destroy(struct gw_caller_cache *cache)
{
    if (!cache->shards)
        return;
    for (size_t i = 0; i < GW_CALLER_CACHE_SHARDS; i++) {
        for (size_t j = 0; j < GW_CALLER_CACHE_WAYS; j++)
            entry_clear(&cache->shards[i].slots[j]);
        pthread_mutex_destroy(&cache->shards[i].lock);
    }
    free(cache->shards);
    memset(cache, 0, sizeof(*cache));
}

int64_t gw_caller_cache_now_ms(void)
{
    struct timespec now;

    clock_gettime(CLOCK_MONOTONIC, &now);
    return (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

/* The slot of `user_id`: FNV-1a; low bits pick the shard, the next ones
 * the slot in it. The caller locks slot's shard (*shard). */
static struct gw_caller_entry *slot_of(struct gw_caller_cache *cache,
                                       const char *user_id,
                                       struct gw_caller_shard **shard)
{
    uint64_t hash = 1469598103934665603ull;

    for (const char *c = user_id; *c; c++) {
        hash ^= (unsigned char)*c;
        hash *= 1099511628211ull;
    }
    *shard = &cache->shards[hash % GW_CALLER_CACHE_SHARDS];
    return &(*shard)
                ->slots[(hash / GW_CALLER_CACHE_SHARDS) % GW_CALLER_CACHE_WAYS];
}

static bool holds(const struct gw_caller_entry *entry, const char *user_id)
{
    return entry->user_id && strcmp(entry->user_id, user_id) == 0;
}

bool gw_caller_cache_get(struct gw_caller_cache *cache, const char *user_id,
                         int64_t now_ms, char role[GW_CALLER_ROLE_MAX + 1],
                         char **json)
{
    struct gw_caller_shard *shard;
    struct gw_caller_entry *entry, dropped = {0};
    bool hit = false;

    if (!cache->shards)
        return false;
    entry = slot_of(cache, user_id, &shard);
    pthread_mutex_lock(&shard->lock);
    if (holds(entry, user_id)) {
        if (now_ms < entry->expires_ms) {
            *json = strdup(entry->json);
            hit = *json != NULL;
            if (hit)
                memcpy(role, entry->role, GW_CALLER_ROLE_MAX + 1);
        } else {
            dropped = *entry; /* freed below, unlocked */
            memset(entry, 0, sizeof(*entry));
        }
    }
    pthread_mutex_unlock(&shard->lock);
    entry_clear(&dropped);
    return hit;
}

void gw_caller_cache_put(struct gw_caller_cache *cache, const char *user_id,
                         const char *role, const char *json, int64_t started_ms)
{
    struct gw_caller_entry fresh = {0}, *entry;
    struct gw_caller_shard *shard;

    if (!cache->shards || strlen(role) > GW_CALLER_ROLE_MAX)
        return;
    fresh.user_id = strdup(user_id);
    fresh.json = strdup(json);
    snprintf(fresh.role, sizeof(fresh.role), "%s", role);
    fresh.expires_ms = started_ms + cache->ttl_ms;
    if (!fresh.user_id || !fresh.json) {
        entry_clear(&fresh);
        return;
    }
    entry = slot_of(cache, user_id, &shard);
    pthread_mutex_lock(&shard->lock);
    /* A concurrent lookup that started later read newer data: keep it. */
    if (!holds(entry, user_id) || entry->expires_ms <= fresh.expires_ms) {
        struct gw_caller_entry old = *entry;

        *entry = fresh;
        fresh = old; /* freed below */
    }
    pthread_mutex_unlock(&shard->lock);
    entry_clear(&fresh);
}

void gw_caller_cache_forget(struct gw_caller_cache *cache, const char *user_id,
                            int64_t started_ms)
{
    struct gw_caller_entry dropped = {0}, *entry;
    struct gw_caller_shard *shard;

    if (!cache->shards)
        return;
    entry = slot_of(cache, user_id, &shard);
    pthread_mutex_lock(&shard->lock);
    if (holds(entry, user_id) &&
        entry->expires_ms <= started_ms + cache->ttl_ms) {
        dropped = *entry;
        memset(entry, 0, sizeof(*entry));
    }
    pthread_mutex_unlock(&shard->lock);
    entry_clear(&dropped);
}
