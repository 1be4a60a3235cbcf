/*
 * projector_batch.c - a whole batch of UserEvents in two statements.
 *
 * The set-based path of projector.h's rules. A record whose user id and
 * event id each occur once in the batch cannot interact with another
 * record of the batch, so all such records are applied together: one
 * statement over arrays (unnest) records their event ids in webhook_events
 * and upserts or tombstones their users with the same WHERE clauses as the
 * per-record statements, and returns the event ids a rule ignored; a second
 * statement marks those 'skipped'. The remaining records (a user or an
 * event id seen more than once in the batch) go through the per-record
 * statements in consumption order, so their outcome is exactly the
 * sequential one; they touch no user and no event id of the set-based part.
 *
 * A data error anywhere is returned as such: the pipeline rolls back and
 * redoes the batch one record at a time, so only the bad record is
 * dead-lettered. Not here: choosing a "newest state" among several states of
 * one user (those take the per-record path instead).
 */
#include "projector.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bs/db.h"
#include "bs/error.h"
#include "bs/events.h"

#define BATCH_COLUMNS 11

/* $1 product; arrays: $2 event id, $3 type, $4 user id, $5 clerk
 * updated_at, $6 occurred_at, $7 email, $8 first name, $9 last name, $10
 * role, $11 image url, $12 is a delete. Returns the ignored event ids. */
static const char batch_apply_sql[] =
    "WITH input AS ("
    " SELECT * FROM unnest($2::text[], $3::text[], $4::text[],"
    " $5::bigint[], $6::bigint[], $7::text[], $8::text[], $9::text[],"
    " $10::text[], $11::text[], $12::boolean[])"
    " AS t(event_id, event_type, user_id, updated, occurred, email,"
    " first_name, last_name, role, image_url, is_delete)), "
    "ev AS ("
    " INSERT INTO webhook_events"
    " (product, svix_id, event_type, status, received_at, processed_at)"
    " SELECT $1::text, event_id, event_type, 'processed',"
    " COALESCE(to_timestamp(NULLIF(occurred, 0) / 1000.0), now()), now()"
    " FROM input"
    " ON CONFLICT (product, svix_id) DO NOTHING RETURNING svix_id), "
    "fresh AS ("
    " SELECT input.* FROM input JOIN ev ON ev.svix_id = input.event_id), "
    "up AS ("
    " INSERT INTO users AS u (product, id, email, first_name, last_name,"
    " role, image_url, clerk_updated_at)"
    " SELECT $1::text, user_id, email, first_name, last_name,"
    " COALESCE(role, 'user'), image_url, updated FROM fresh"
    " WHERE NOT is_delete"
    " ON CONFLICT (product, id) DO UPDATE SET email = EXCLUDED.email,"
    " first_name = EXCLUDED.first_name, last_name = EXCLUDED.last_name,"
    " role = EXCLUDED.role, image_url = EXCLUDED.image_url,"
    " clerk_updated_at = EXCLUDED.clerk_updated_at, updated_at = now()"
    " WHERE u.deleted_at IS NULL AND (u.clerk_updated_at IS NULL"
    " OR EXCLUDED.clerk_updated_at IS NULL"
    " OR u.clerk_updated_at <= EXCLUDED.clerk_updated_at)"
    " RETURNING u.id), "
    "del AS ("
    " INSERT INTO users AS u (product, id, clerk_updated_at, deleted_at)"
    " SELECT $1::text, user_id, updated, now() FROM fresh WHERE is_delete"
    " ON CONFLICT (product, id) DO UPDATE SET deleted_at = now(),"
    " updated_at = now(), clerk_updated_at ="
    " GREATEST(u.clerk_updated_at, EXCLUDED.clerk_updated_at)"
    " WHERE u.deleted_at IS NULL"
    " RETURNING u.id) "
    "SELECT f.event_id FROM fresh f WHERE NOT EXISTS"
    " (SELECT 1 FROM up WHERE up.id = f.user_id) AND NOT EXISTS"
    " (SELECT 1 FROM del WHERE del.id = f.user_id)";

static const char batch_skip_sql[] =
    "UPDATE webhook_events SET status = 'skipped'"
    " WHERE product = $1 AND svix_id = ANY($2::text[])";

int projector_prepare_batch(PGconn *conn, char *errstr, size_t errstr_size)
{
    const char *const names[] = {"projector_batch_apply",
                                 "projector_batch_skip"};
    const char *const sql[] = {batch_apply_sql, batch_skip_sql};

    for (size_t i = 0; i < 2; i++) {
        PGresult *res = PQprepare(conn, names[i], sql[i], 0, NULL);
        int ok = PQresultStatus(res) == PGRES_COMMAND_OK;

        if (!ok)
            bs_db_result_error(conn, res, errstr, errstr_size);
        PQclear(res);
        if (!ok)
            return BS_EDB;
    }
    return BS_OK;
}

/* ---- which records may go set-based ------------------------------------- */

struct keyed {
    const char *key;
    size_t index;
};

static int compare_keyed(const void *a, const void *b)
{
    return strcmp(((const struct keyed *)a)->key,
                  ((const struct keyed *)b)->key);
}

/* Clears single[i] for every record whose key occurs more than once. */
static void mark_repeated(struct keyed *keys, size_t count, bool *single)
{
    qsort(keys, count, sizeof(*keys), compare_keyed);
    for (size_t i = 1; i < count; i++)
        if (strcmp(keys[i - 1].key, keys[i].key) == 0) {
            single[keys[i - 1].index] = false;
            single[keys[i].index] = false;
        }
}

/* single[i]: record i's user id and event id each occur once. */
static int find_singles(struct bs_user_event *const *events, size_t count,
                        bool *single)
{
    struct keyed *keys = calloc(count, sizeof(*keys));

    if (!keys)
        return BS_ENOMEM;
    for (size_t i = 0; i < count; i++) {
        single[i] = true;
        keys[i] = (struct keyed){events[i]->clerk_user_id, i};
    }
    mark_repeated(keys, count, single);
    for (size_t i = 0; i < count; i++)
        keys[i] = (struct keyed){events[i]->meta.event_id, i};
    mark_repeated(keys, count, single);
    free(keys);
    return BS_OK;
}

/* ---- array literals ------------------------------------------------------ */

/* A growing text buffer; `failed` once an allocation failed. */
struct text {
    char *data;
    size_t len, cap;
    bool failed;
};

static void text_put(struct text *t, const char *s, size_t n)
{
    if (t->failed)
        return;
    if (t->len + n + 1 > t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 4096;
        char *grown;

        while (cap < t->len + n + 1)
            cap *= 2;
        grown = realloc(t->data, cap);
        if (!grown) {
            t->failed = true;
            return;
        }
        t->data = grown;
        t->cap = cap;
    }
    memcpy(t->data + t->len, s, n);
    t->len += n;
    t->data[t->len] = '\0';
}

/* Appends one element of a PostgreSQL array literal: NULL, or the value
 * double-quoted with " and \ escaped. */
static void text_put_element(struct text *t, const char *value)
{
    text_put(t, t->len > 1 ? "," : "", t->len > 1 ? 1 : 0);
    if (!value) {
        text_put(t, "NULL", 4);
        return;
    }
    text_put(t, "\"", 1);
    for (const char *p = value; *p; p++) {
        size_t run = strcspn(p, "\"\\");

        text_put(t, p, run);
        p += run;
        if (!*p)
            break;
        text_put(t, "\\", 1);
        text_put(t, p, 1);
    }
    text_put(t, "\"", 1);
}

/* The BATCH_COLUMNS arrays of the set-based statement, one literal each. */
static void put_event(struct text *cols, const struct bs_user_event *e)
{
    char type[32], updated[24], occurred[24];
    bool deleted = e->action == BS_USER_DELETED;

    snprintf(type, sizeof(type), "user.%s", bs_user_action_name(e->action));
    snprintf(updated, sizeof(updated), "%" PRId64, e->clerk_updated_at);
    snprintf(occurred, sizeof(occurred), "%" PRId64, e->meta.occurred_at);
    text_put_element(&cols[0], e->meta.event_id);
    text_put_element(&cols[1], type);
    text_put_element(&cols[2], e->clerk_user_id);
    text_put_element(&cols[3], e->has_clerk_updated_at ? updated : NULL);
    text_put_element(&cols[4], occurred);
    text_put_element(&cols[5], deleted ? NULL : e->email);
    text_put_element(&cols[6], deleted ? NULL : e->first_name);
    text_put_element(&cols[7], deleted ? NULL : e->last_name);
    text_put_element(&cols[8], deleted ? NULL : e->role);
    text_put_element(&cols[9], deleted ? NULL : e->image_url);
    text_put_element(&cols[10], deleted ? "t" : "f");
}

/* ---- the two statements -------------------------------------------------- */

static enum bs_consumer_result exec(PGconn *conn, const char *name, int n,
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

/* Marks the ignored event ids (rows of `ignored`) as skipped. */
static enum bs_consumer_result mark_skipped(PGconn *conn, const char *product,
                                            const PGresult *ignored,
                                            char *reason, size_t reason_size)
{
    struct text ids = {0};
    enum bs_consumer_result result;
    const char *params[2];
    PGresult *res = NULL;

    text_put(&ids, "{", 1);
    for (int i = 0; i < PQntuples(ignored); i++)
        text_put_element(&ids, PQgetvalue(ignored, i, 0));
    text_put(&ids, "}", 1);
    if (ids.failed) {
        free(ids.data);
        snprintf(reason, reason_size, "infrastructure: out of memory");
        return BS_CONSUMER_INFRA_ERROR;
    }
    params[0] = product;
    params[1] = ids.data;
    result = exec(conn, "projector_batch_skip", 2, params, &res, reason,
                  reason_size);
    PQclear(res);
    free(ids.data);
    return result;
}

/* Applies the records marked single with the two set-based statements. */
static enum bs_consumer_result
apply_singles(PGconn *conn, struct bs_user_event *const *events,
              const bool *single, size_t count, char *reason,
              size_t reason_size)
{
    struct text cols[BATCH_COLUMNS] = {{0}};
    const char *params[BATCH_COLUMNS + 1];
    enum bs_consumer_result result = BS_CONSUMER_INFRA_ERROR;
    PGresult *res = NULL;
    bool failed = false;

    for (size_t c = 0; c < BATCH_COLUMNS; c++)
        text_put(&cols[c], "{", 1);
    for (size_t i = 0; i < count; i++)
        if (single[i])
            put_event(cols, events[i]);
    for (size_t c = 0; c < BATCH_COLUMNS; c++) {
        text_put(&cols[c], "}", 1);
        failed = failed || cols[c].failed;
        params[c + 1] = cols[c].data;
    }
    if (failed) {
        snprintf(reason, reason_size, "infrastructure: out of memory");
        goto out;
    }

    /* Every record of the batch has the pipeline's product. */
    params[0] = events[0]->meta.product;
    result = exec(conn, "projector_batch_apply", BATCH_COLUMNS + 1, params,
                  &res, reason, reason_size);
    if (result == BS_CONSUMER_APPLIED && PQntuples(res) > 0)
        result = mark_skipped(conn, params[0], res, reason, reason_size);
out:
    PQclear(res);
    for (size_t c = 0; c < BATCH_COLUMNS; c++)
        free(cols[c].data);
    return result;
}

enum bs_consumer_result
projector_apply_batch(void *ctx, PGconn *conn, void *const *decoded,
                      const struct bs_consumer_message *msgs, size_t count,
                      char *reason, size_t reason_size)
{
    struct bs_user_event *const *events =
        (struct bs_user_event *const *)decoded;
    enum bs_consumer_result result = BS_CONSUMER_APPLIED;
    bool *single = calloc(count, sizeof(*single));
    size_t singles = 0;

    if (!single || find_singles(events, count, single) != BS_OK) {
        free(single);
        snprintf(reason, reason_size, "infrastructure: out of memory");
        return BS_CONSUMER_INFRA_ERROR;
    }
    for (size_t i = 0; i < count; i++)
        singles += single[i];

    /* Independent records together, then the rest in order. */
    if (singles > 0)
        result =
            apply_singles(conn, events, single, count, reason, reason_size);
    for (size_t i = 0; i < count && result == BS_CONSUMER_APPLIED; i++)
        if (!single[i])
            result = projector_apply(ctx, conn, decoded[i], &msgs[i], reason,
                                     reason_size);
    free(single);
    return result;
}
