/*
 * gw_ids.h - identifiers the gateway makes and checks.
 *
 * UUIDv7 generation (RFC 9562: 48-bit Unix milliseconds, version 7, 74
 * random bits from OpenSSL's RAND_bytes) for event ids and new FAQ document
 * ids; UUID parsing to the canonical lowercase form; the shape of a Clerk
 * user id; the version in an If-Match header. Pure functions, no I/O besides
 * the random bytes, thread-safe.
 *
 * Not here: monotonicity within one millisecond (ids made in the same
 * millisecond are ordered by their random bits only).
 */
#ifndef GW_IDS_H
#define GW_IDS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx" plus the NUL. */
#define GW_UUID_SIZE 37

/* Longest Clerk user id accepted in a path or a cursor. */
#define GW_CLERK_ID_MAX 255

/*
 * Writes a fresh UUIDv7 for the time `unix_ms` into out (GW_UUID_SIZE
 * bytes). Returns BS_OK, or BS_EIO when OpenSSL has no randomness.
 */
int gw_uuid_v7(int64_t unix_ms, char out[GW_UUID_SIZE]);

/* gw_uuid_v7() with the current time. */
int gw_uuid_v7_now(char out[GW_UUID_SIZE]);

/*
 * True when `text` is a UUID in the 8-4-4-4-12 hex form (either case);
 * then out (if not NULL) holds it in lowercase. Any version is accepted.
 */
bool gw_uuid_parse(const char *text, char out[GW_UUID_SIZE]);

/* True for 1..GW_CLERK_ID_MAX characters of [A-Za-z0-9_-]. */
bool gw_clerk_id_valid(const char *text);

/*
 * Reads the version of an If-Match value: 3, "3" or W/"3" (a positive whole
 * number). Returns BS_OK with *version, or BS_EINVAL (a list, "*", or
 * anything else).
 */
int gw_if_match_parse(const char *value, int64_t *version);

#endif
