/*
 * svix.h - verifying (and, for tests and bsctl, producing) the Svix /
 * Standard Webhooks signatures that Clerk puts on its webhooks.
 *
 * Signed bytes: "{msg-id}.{timestamp}.{raw body}"; MAC: HMAC-SHA256 keyed
 * with the base64-decoded secret (after "whsec_"), written "v1,<base64>".
 * The signature header may hold several space-separated entries (rotation);
 * one matching v1 entry suffices, other versions and malformed entries are
 * skipped. The timestamp is checked (300 s either side, inclusive) before any
 * MAC is computed. Comparison is constant-time. Nothing here logs.
 */
#ifndef BS_SVIX_H
#define BS_SVIX_H

#include <stddef.h>
#include <stdint.h>

#define BS_SVIX_TOLERANCE_SECONDS 300
#define BS_SVIX_MAX_SECRETS       8
#define BS_SVIX_SIGNATURE_SIZE    48 /* "v1," + 44 base64 chars + NUL */

enum bs_svix_result {
    BS_SVIX_OK = 0,
    BS_SVIX_MISSING_HEADER,    /* id, timestamp or signature absent/empty */
    BS_SVIX_BAD_TIMESTAMP,     /* not whole non-negative seconds */
    BS_SVIX_TIMESTAMP_TOO_OLD, /* more than the tolerance in the past */
    BS_SVIX_TIMESTAMP_TOO_NEW, /* more than the tolerance in the future */
    BS_SVIX_NO_MATCH           /* no v1 entry matches any secret */
};

struct bs_svix_keys;

/*
 * Parses one or more space-separated "whsec_<base64>" secrets. Any empty,
 * unprefixed or undecodable secret is a configuration error: returns
 * BS_ECONFIG with a line in errstr that never contains the secret itself.
 * On success *out is owned by the caller (bs_svix_keys_free()).
 */
int bs_svix_keys_parse(const char *secrets, struct bs_svix_keys **out,
                       char *errstr, size_t errstr_size);

/* Wipes and frees the keys; NULL is fine. */
void bs_svix_keys_free(struct bs_svix_keys *keys);

/* How many secrets were configured. */
size_t bs_svix_keys_count(const struct bs_svix_keys *keys);

/*
 * Verifies a webhook. `now` is Unix seconds (injectable for tests). Header
 * values may be NULL when absent. The body is the raw bytes as received.
 */
enum bs_svix_result bs_svix_verify(const struct bs_svix_keys *keys,
                                   const char *msg_id, const char *timestamp,
                                   const char *signature, const void *body,
                                   size_t body_len, int64_t now);

/*
 * Writes "v1,<base64>" for the key at `key_index` into `out`
 * (BS_SVIX_SIGNATURE_SIZE bytes). Returns BS_OK or BS_EINVAL.
 */
int bs_svix_sign(const struct bs_svix_keys *keys, size_t key_index,
                 const char *msg_id, const char *timestamp, const void *body,
                 size_t body_len, char *out, size_t out_size);

/* A short stable name for metrics and logs, e.g. "timestamp_too_old". */
const char *bs_svix_result_name(enum bs_svix_result result);

#endif
