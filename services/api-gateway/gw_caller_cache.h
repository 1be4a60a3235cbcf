/*
 * gw_caller_cache.h - a short-lived cache of callers' user rows.
 *
 * Every authenticated request needs its caller's user row in this product
 * (role, deleted or not, and the row the /users/me read serves). Even
 * batched (gw_caller_batch.h), that PostgreSQL round trip is what limits
 * authenticated reads, and a frontend sends many requests per second for
 * the same signed-in user. So the gateway keeps each caller's row for
 * CALLER_CACHE_MS after reading it.
 *
 * The trade-off: a role change or a deletion takes effect within the TTL,
 * not at once. The bound is strict: an entry expires TTL after the lookup
 * that read it *started*, so whatever it serves was read by a snapshot
 * taken less than TTL before it stops being served; a slower lookup that
 * read older data never replaces an entry read later.
 *
 * Isolation: a gateway serves one product and owns one cache (in struct
 * gateway), so the key is the Clerk user id alone; every row in it was
 * read by the batched lookup under this product's row-level security.
 * Only found users are kept: failed lookups never, and "not a user of this
 * product" (403) is not cached either (see gw_caller_cache_forget()).
 *
 * Sharded: GW_CALLER_CACHE_SHARDS shards, each with its own mutex and
 * GW_CALLER_CACHE_WAYS direct-mapped slots (a newer user evicts the one in
 * its slot), so at most SHARDS x WAYS rows are held and concurrent
 * requests rarely share a lock. No global lock on the hot path.
 *
 * Times are milliseconds of CLOCK_MONOTONIC (gw_caller_cache_now_ms()),
 * passed in so tests need no sleeping.
 */
#ifndef GW_CALLER_CACHE_H
#define GW_CALLER_CACHE_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define GW_CALLER_ROLE_MAX      20
#define GW_CALLER_CACHE_SHARDS  64
#define GW_CALLER_CACHE_WAYS    64
#define GW_CALLER_CACHE_ENTRIES (GW_CALLER_CACHE_SHARDS * GW_CALLER_CACHE_WAYS)
#define GW_CALLER_CACHE_DEFAULT 1000
#define GW_CALLER_CACHE_TTL_MAX 60000

struct gw_caller_entry {
    char *user_id; /* malloc'd; NULL: empty slot */
    char role[GW_CALLER_ROLE_MAX + 1];
    char *json;         /* the user row as JSON text, malloc'd */
    int64_t expires_ms; /* lookup start + TTL */
};

struct gw_caller_shard {
    pthread_mutex_t lock;
    struct gw_caller_entry slots[GW_CALLER_CACHE_WAYS];
};

struct gw_caller_cache {
    int64_t ttl_ms;                 /* 0: disabled */
    struct gw_caller_shard *shards; /* NULL when disabled */
};

/* A cache keeping rows for `ttl_ms` (0 disables it: every get misses).
 * BS_OK, BS_EINVAL (ttl over GW_CALLER_CACHE_TTL_MAX) or BS_ENOMEM. */
int gw_caller_cache_init(struct gw_caller_cache *cache, unsigned ttl_ms);

/* Frees every entry; safe on a zeroed or disabled cache. */
void gw_caller_cache_destroy(struct gw_caller_cache *cache);

/* Now, in milliseconds of CLOCK_MONOTONIC. */
int64_t gw_caller_cache_now_ms(void);

/*
 * True when `user_id` has an entry that has not expired at `now_ms`: role
 * is filled and *json gets a malloc'd copy of the row (the caller frees).
 * An expired entry is dropped. False on a miss or when out of memory.
 */
bool gw_caller_cache_get(struct gw_caller_cache *cache, const char *user_id,
                         int64_t now_ms, char role[GW_CALLER_ROLE_MAX + 1],
                         char **json);

/*
 * Remembers the row a lookup that started at `started_ms` found (copied),
 * valid until started_ms + TTL. An entry for the same user read by a later
 * lookup is kept instead. Out of memory: nothing is kept.
 */
void gw_caller_cache_put(struct gw_caller_cache *cache, const char *user_id,
                         const char *role, const char *json,
                         int64_t started_ms);

/*
 * A lookup that started at `started_ms` found no such user in this
 * product: drops an entry for `user_id` read before it (a later read's
 * entry stays). Nothing negative is stored.
 */
void gw_caller_cache_forget(struct gw_caller_cache *cache, const char *user_id,
                            int64_t started_ms);

#endif
