/*
 * audit.h - the audit trail: events into audit_log rows, chained by hash.
 *
 * What audit-writer and `bsctl audit verify` / `bsctl replay` share, so that
 * the service, the verifier and the replay map and hash rows with one code:
 *
 *   - mapping: a UserEvent, FaqDocumentEvent or AuditEvent (told apart by the
 *     schema id in the Confluent framing) becomes one row: actor, action,
 *     entity, a change summary without personal data, where it came from;
 *   - hashing: SHA-256 over a length-prefixed encoding of the row's content,
 *     its chain_seq and the previous row's hash (an unambiguous encoding: no
 *     two different rows give the same bytes);
 *   - appending: rows go onto the end of their product's chain under the lock
 *     of the product's audit_chain_heads row, idempotently by event id;
 *   - verifying: walking a product's chain and reporting the first row that
 *     does not match.
 *
 * Rows are derived from events only, so the trail can be rebuilt from Kafka
 * and compared (bsctl replay). See docs/audit.md.
 */
#ifndef BS_AUDIT_H
#define BS_AUDIT_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bs/codec.h"
#include "bs/db.h"

#define BS_AUDIT_HASH_SIZE 32 /* SHA-256 */

/* The actor of events that name none, and of Clerk's webhooks. */
#define BS_AUDIT_ACTOR_SYSTEM "system"
#define BS_AUDIT_ACTOR_CLERK  "clerk"

/* One audit_log row as derived from one event. Strings are owned (freed by
 * bs_audit_row_clear); nullable ones are NULL when absent. */
struct bs_audit_row {
    char *product;
    char *event_id;
    char *actor_id;    /* never NULL: a user id, "clerk" or "system" */
    char *action;      /* e.g. "user.created", "faq.updated", "faq.create" */
    char *entity_type; /* "user", "faq_document", ... */
    char *entity_id;   /* nullable */
    char *changes;     /* nullable: canonical JSON object text */
    char *request_id;  /* nullable */
    int64_t occurred_at_us; /* Unix microseconds (the column's precision) */
    char *source_topic;     /* nullable: NULL with partition/offset -1 */
    int32_t source_partition;
    int64_t source_offset;
};

/*
 * Decodes one message value (any catalog version of the three events) into
 * *row, with the source fields unset (-1 / NULL: see
 * bs_audit_row_set_source). On failure *row is left zeroed and the result
 * is BS_EDECODE (unknown schema, malformed bytes, missing event id, changes
 * that are not a JSON object) or BS_ENOMEM, with the reason in errstr (never
 * payload contents).
 */
int bs_audit_row_from_message(const struct bs_codec *codec, const void *bytes,
                              size_t len, struct bs_audit_row *row,
                              char *errstr, size_t errstr_size);

/* Records where the event was read (topic is copied). BS_OK or BS_ENOMEM. */
int bs_audit_row_set_source(struct bs_audit_row *row, const char *topic,
                            int32_t partition, int64_t offset);

/* Frees the row's strings and zeroes it. */
void bs_audit_row_clear(struct bs_audit_row *row);

/*
 * `text` (a JSON object) re-serialised canonically: compact, keys sorted,
 * as jansson writes it. The same text whether it was read from an event or
 * back from a JSONB column, which is what makes the hash verifiable.
 * *out is malloc'd. BS_EDECODE when text is not a JSON object.
 */
int bs_audit_canonical_json(const char *text, char **out, char *errstr,
                            size_t errstr_size);

/*
 * The row's hash at position chain_seq after a row whose hash is prev_hash
 * (NULL for the first row of a chain), into out (BS_AUDIT_HASH_SIZE bytes).
 * BS_OK, or BS_ENOMEM when OpenSSL fails.
 */
int bs_audit_row_hash(const struct bs_audit_row *row, int64_t chain_seq,
                      const unsigned char *prev_hash, unsigned char *out);

/*
 * Appends rows[0..n) to their product's chain, in order, inside the caller's
 * transaction (app.product set to `product`; every row must be of that
 * product). Locks the product's chain head first, so concurrent appenders
 * of one product queue here. Rows whose event id is already in audit_log,
 * or repeats an earlier row of this call, are skipped: a redelivered event
 * is one row. *appended (may be NULL) is how many rows were inserted.
 *
 * BS_OK; BS_EINVAL (a row of another product: nothing sent); BS_EDB with
 * errstr and *kind (may be NULL) saying what to do about it
 * (bs_db_error_kind). On an error the transaction must be rolled back.
 *
 * The rows travel by COPY through a temporary table, bs_audit_stage, that
 * the first call creates in the connection's session (ON COMMIT DELETE
 * ROWS); the connection must therefore not be in pipeline mode, and a
 * transaction-pooling proxy between it and PostgreSQL would not do.
 */
int bs_audit_append(PGconn *conn, const char *product,
                    const struct bs_audit_row *const *rows, size_t n,
                    size_t *appended, enum bs_db_error_kind *kind, char *errstr,
                    size_t errstr_size);

/* What bs_audit_verify found. */
struct bs_audit_verify_result {
    long long rows; /* rows walked (all of the chain when intact) */
    bool intact;
    /* The first row that does not match (when !intact): */
    long long bad_id; /* audit_log.id, -1 when the fault is not one row */
    long long bad_seq;
    char bad_event_id[256];
    char reason[256];
};

/*
 * Walks `product`'s chain in chain_seq order (app.product must be set on
 * the connection, or the caller must see every row) and checks each row:
 * its chain_seq follows the previous one, its prev_hash is the previous
 * row's hash, its hash is recomputed equal; then that the chain head names
 * the last row and no row of the product is outside the chain. BS_OK with
 * *result filled (intact or not), or BS_EDB with errstr when reading fails.
 */
int bs_audit_verify(PGconn *conn, const char *product,
                    struct bs_audit_verify_result *result, char *errstr,
                    size_t errstr_size);

#endif
