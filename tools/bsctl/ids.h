/*
 * ids.h - ids and clocks the bsctl commands share.
 */
#ifndef BSCTL_IDS_H
#define BSCTL_IDS_H

#include <stdbool.h>

#define BSCTL_UUID_LEN 36

/* Canonical UUID text (8-4-4-4-12 hex digits, either case)? */
bool bsctl_uuid_valid(const char *id);

/* A random (version 4) UUID, lower case. BS_OK, or BS_EIO without
 * randomness. */
int bsctl_uuid_random(char out[BSCTL_UUID_LEN + 1]);

/* A UUID that is a function of (scope, name): the first 16 bytes of
 * SHA-256(scope NUL name), marked version 8 (RFC 9562's custom layout).
 * The same name in the same scope is the same id on every run. */
int bsctl_uuid_from_name(const char *scope, const char *name,
                         char out[BSCTL_UUID_LEN + 1]);

/* Wall-clock milliseconds since the epoch (event times). */
long long bsctl_now_ms(void);

/* Monotonic seconds (timeouts). */
double bsctl_monotonic_s(void);

#endif
