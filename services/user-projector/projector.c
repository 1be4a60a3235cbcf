/*
 * projector.c - applies one UserEvent: see projector.h for the rules.
 *
 * Per record, one prepared statement: a data-modifying CTE records the
 * event id in webhook_events (ON CONFLICT DO NOTHING) and upserts the user
 * only when that insert happened, with the ordering and tombstone rules in
 * the upsert's WHERE clause. Only an event a rule ignored costs a second
 * statement (marking it 'skipped'). Whole batches take the set-based path
 * of projector_batch.c, which falls back on this one where records of the
 * batch interact.
 */
#include "projector.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bs/db.h"
#include "bs/error.h"
#include "bs/events.h"

/* $1 product, $2 event id, $3 event type, $4 user id, then per statement. */
#define RECORD_EVENT                                                           \
    "WITH ev AS ("                                                             \
    " INSERT INTO webhook_events"                                              \
    " (product, svix_id, event_type, status, received_at, processed_at)"       \
    " VALUES ($1, $2, $3, 'processed',"                                        \
    " COALESCE(to_timestamp(NULLIF($6::bigint, 0) / 1000.0), now()), now())"   \
    " ON CONFLICT (product, svix_id) DO NOTHING RETURNING id), "

#define COUNT_BOTH                                                             \
    " SELECT (SELECT count(*) FROM ev), (SELECT count(*) FROM up)"

/* $5 clerk_updated_at, $6 occurred_at, $7 email, $8 first name, $9 last
 * name, $10 role, $11 image url. */
static const char upsert_state_sql[] = RECORD_EVENT
    "up AS ("
    " INSERT INTO users AS u (product, id, email, first_name, last_name,"
    " role, image_url, clerk_updated_at)"
    " SELECT $1, $4, $7, $8, $9, COALESCE($10, 'user'), $11, $5::bigint"
    " WHERE EXISTS (SELECT 1 FROM ev)"
    " ON CONFLICT (product, id) DO UPDATE SET email = EXCLUDED.email,"
    " first_name = EXCLUDED.first_name, last_name = EXCLUDED.last_name,"
    " role = EXCLUDED.role, image_url = EXCLUDED.image_url,"
    " clerk_updated_at = EXCLUDED.clerk_updated_at, updated_at = now()"
    " WHERE u.deleted_at IS NULL AND (u.clerk_updated_at IS NULL"
    " OR EXCLUDED.clerk_updated_at IS NULL"
    " OR u.clerk_updated_at <= EXCLUDED.clerk_updated_at)"
    " RETURNING 1)" COUNT_BOTH;

/* $5 clerk_updated_at, $6 occurred_at. */
static const char delete_sql[] = RECORD_EVENT
    "up AS ("
    " INSERT INTO users AS u (product, id, clerk_updated_at, deleted_at)"
    " SELECT $1, $4, $5::bigint, now()"
    " WHERE EXISTS (SELECT 1 FROM ev)"
    " ON CONFLICT (product, id) DO UPDATE SET deleted_at = now(),"
    " updated_at = now(), clerk_updated_at ="
    " GREATEST(u.clerk_updated_at, EXCLUDED.clerk_updated_at)"
    " WHERE u.deleted_at IS NULL"
    " RETURNING 1)" COUNT_BOTH;

static const char skip_sql[] = "UPDATE webhook_events SET status = 'skipped'"
                               " WHERE product = $1 AND svix_id = $2";

static const struct {
    const char *name;
    const char *sql;
} statements[] = {
    {"projector_upsert", upsert_state_sql},
    {"projector_delete", delete_sql},
    {"projector_skip", skip_sql},
};

int projector_init(struct projector *projector, char *errstr,
                   size_t errstr_size)
{
    projector->codec = NULL;
    return bs_codec_new_builtin(&projector->codec, errstr, errstr_size);
}

void projector_free(struct projector *projector)
{
    bs_codec_free(projector->codec);
    projector->codec = NULL;
}

static int prepare(void *ctx, PGconn *conn, char *errstr, size_t errstr_size)
{
    for (size_t i = 0; i < sizeof(statements) / sizeof(statements[0]); i++) {
        PGresult *res =
            PQprepare(conn, statements[i].name, statements[i].sql, 0, NULL);
        int ok = PQresultStatus(res) == PGRES_COMMAND_OK;

        if (!ok)
            bs_db_result_error(conn, res, errstr, errstr_size);
        PQclear(res);
        if (!ok)
            return BS_EDB;
    }
    return projector_prepare_batch(conn, errstr, errstr_size);
}

static int decode(void *ctx, const void *bytes, size_t len, void **decoded,
                  const char **product, char *errstr, size_t errstr_size)
{
    struct projector *projector = ctx;
    struct bs_user_event *event = calloc(1, sizeof(*event));
    int result;

    if (!event)
        return bs_fail(errstr, errstr_size, BS_ENOMEM, "out of memory");
    result = bs_user_event_decode(projector->codec, bytes, len, event, errstr,
                                  errstr_size);
    if (result == BS_OK && (!event->clerk_user_id || !*event->clerk_user_id ||
                            !event->meta.event_id || !*event->meta.event_id))
        result = bs_fail(errstr, errstr_size, BS_EDECODE,
                         "user event without user id or event id");
    if (result != BS_OK) {
        bs_user_event_clear(event);
        free(event);
        return result;
    }
    *decoded = event;
    *product = event->meta.product;
    return BS_OK;
}

static void free_decoded(void *ctx, void *decoded)
{
    bs_user_event_clear(decoded);
    free(decoded);
}

/* Runs a prepared statement; BS_CONSUMER_APPLIED with the result in *out. */
static enum bs_consumer_result run(PGconn *conn, const char *name, int n,
                                   const char *const *params, PGresult **out,
                                   char *reason, size_t reason_size)
{
    PGresult *res = PQexecPrepared(conn, name, n, params, NULL, NULL, 0);
    ExecStatusType status = PQresultStatus(res);
    enum bs_consumer_result result;

    if (status == PGRES_TUPLES_OK || status == PGRES_COMMAND_OK) {
        *out = res;
        return BS_CONSUMER_APPLIED;
    }
    result = bs_consumer_db_result(conn, res, reason, reason_size);
    PQclear(res);
    *out = NULL;
    return result;
}

enum bs_consumer_result projector_apply(void *ctx, PGconn *conn, void *decoded,
                                        const struct bs_consumer_message *msg,
                                        char *reason, size_t reason_size)
{
    const struct bs_user_event *e = decoded;
    char type[32], updated[24], occurred[24];
    const char *params[11] = {e->meta.product,
                              e->meta.event_id,
                              type,
                              e->clerk_user_id,
                              NULL,
                              occurred,
                              e->email,
                              e->first_name,
                              e->last_name,
                              e->role,
                              e->image_url};
    bool deleted = e->action == BS_USER_DELETED;
    enum bs_consumer_result result;
    PGresult *res = NULL;
    bool skipped;

    snprintf(type, sizeof(type), "user.%s", bs_user_action_name(e->action));
    snprintf(occurred, sizeof(occurred), "%" PRId64, e->meta.occurred_at);
    if (e->has_clerk_updated_at) {
        snprintf(updated, sizeof(updated), "%" PRId64, e->clerk_updated_at);
        params[4] = updated;
    }

    result = run(conn, deleted ? "projector_delete" : "projector_upsert",
                 deleted ? 6 : 11, params, &res, reason, reason_size);
    if (result != BS_CONSUMER_APPLIED)
        return result;

    /* Recorded now, but a rule ignored it: say so. */
    skipped = PQntuples(res) == 1 && strcmp(PQgetvalue(res, 0, 0), "1") == 0 &&
              strcmp(PQgetvalue(res, 0, 1), "0") == 0;
    PQclear(res);
    if (!skipped)
        return BS_CONSUMER_APPLIED;
    result = run(conn, "projector_skip", 2, params, &res, reason, reason_size);
    PQclear(res);
    return result;
}

struct bs_consumer_handler projector_handler(struct projector *projector)
{
    return (struct bs_consumer_handler){
        .ctx = projector,
        .decode = decode,
        .apply = projector_apply,
        .free_decoded = free_decoded,
        .prepare = prepare,
        .apply_batch = projector_apply_batch,
    };
}
