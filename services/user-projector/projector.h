/*
 * projector.h - UserEvents into the users and webhook_events tables.
 *
 * The user-projector's share of the consumer pipeline (bs/consumer.h): how
 * to decode a UserEvent and how to apply it. The pipeline owns the
 * transaction, the tenant checks, the offsets and the dead letters.
 *
 * Rules, per product and Clerk user id:
 *   - a created or updated state is upserted (an update for a user not yet
 *     created creates it), unless the stored state is newer by Clerk's
 *     updated_at (then the event is ignored);
 *   - a delete sets deleted_at: a tombstone that no later create or update
 *     revives; a delete for an unknown user inserts the tombstone;
 *   - every event is recorded once in webhook_events by its event id (the
 *     svix id): 'processed', or 'skipped' when a rule ignored it; an event
 *     id seen before changes nothing.
 */
#ifndef USER_PROJECTOR_PROJECTOR_H
#define USER_PROJECTOR_PROJECTOR_H

#include "bs/codec.h"
#include "bs/consumer.h"

#define PROJECTOR_SERVICE "user-projector"

struct projector {
    struct bs_codec *codec; /* owned */
};

/* Loads the codec. BS_OK or an error with errstr; free with
 * projector_free() either way. */
int projector_init(struct projector *projector, char *errstr,
                   size_t errstr_size);

void projector_free(struct projector *projector);

/* The pipeline callbacks; `projector` must outlive the consumer. */
struct bs_consumer_handler projector_handler(struct projector *projector);

/* The handler's apply: one record, per-record statements (projector.c). */
enum bs_consumer_result projector_apply(void *ctx, PGconn *conn, void *decoded,
                                        const struct bs_consumer_message *msg,
                                        char *reason, size_t reason_size);

/* The handler's apply_batch: records that cannot interact set-based, the
 * rest through projector_apply (projector_batch.c). */
enum bs_consumer_result
projector_apply_batch(void *ctx, PGconn *conn, void *const *decoded,
                      const struct bs_consumer_message *msgs, size_t count,
                      char *reason, size_t reason_size);

/* Prepares projector_batch.c's statements; BS_OK or BS_EDB with errstr. */
int projector_prepare_batch(PGconn *conn, char *errstr, size_t errstr_size);

#endif
