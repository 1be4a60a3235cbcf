/*
 * gw_caller_batch.c - leader/follower batching of caller lookups (see the
 * header for why and for the guarantees).
 *
 * A lookup queues a waiter (on its own stack) and then, under the queue's
 * lock, either leads - when fewer than LEADERS_MAX batches run - or sleeps
 * on its own condition variable. A leader takes the queue's first
 * GW_CALLER_BATCH_MAX waiters (itself among them unless the queue was
 * longer), runs the lookup unlocked, hands every waiter its row, and wakes
 * the next waiter to lead the next batch.
 */
#include "gw_caller_batch.h"

#include "bs/error.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Two batches at once, so the next batch's round trip can overlap the
 * current one's; one and four measured within the noise of the 2-core
 * machine (docs/api-gateway.md, Bench). */
#define LEADERS_MAX 2

#define BATCH_STMT "gw_caller_batch"
#define BATCH_SQL                                                              \
    "SELECT id, product, role, json_build_object('id', id, 'email', email, "   \
    "'first_name', first_name, 'last_name', last_name, 'role', role, "         \
    "'image_url', image_url, 'created_at', created_at, "                       \
    "'updated_at', updated_at)::text FROM users WHERE product = $1 "           \
    "AND id = ANY($2::text[]) AND deleted_at IS NULL"

struct gw_caller_waiter {
    const char *user_id;
    struct gw_caller_row *row;
    bool taken; /* a leader has it: it will be answered */
    bool done;  /* its row is filled */
    pthread_cond_t wake;
    struct gw_caller_waiter *next;
};

int gw_caller_queue_init(struct gw_caller_queue *queue, const char *product)
{
    memset(queue, 0, sizeof(*queue));
    if (strlen(product) > BS_PRODUCT_MAX)
        return BS_EINVAL;
    snprintf(queue->product, sizeof(queue->product), "%s", product);
    if (pthread_condattr_init(&queue->clock) != 0)
        return BS_ENOMEM;
    if (pthread_condattr_setclock(&queue->clock, CLOCK_MONOTONIC) != 0 ||
        pthread_mutex_init(&queue->lock, NULL) != 0) {
        pthread_condattr_destroy(&queue->clock);
        return BS_ENOMEM;
    }
    return BS_OK;
}

void gw_caller_queue_destroy(struct gw_caller_queue *queue)
{
    pthread_mutex_destroy(&queue->lock);
    pthread_condattr_destroy(&queue->clock);
    memset(queue, 0, sizeof(*queue));
}

int gw_caller_batch_prepare(PGconn *conn, char *errstr, size_t errstr_size)
{
    return bs_db_prepare(conn, BATCH_STMT, BATCH_SQL, 2, errstr, errstr_size);
}

/* ---- the batch's statement ---------------------------------------------- */

/* {"a","b"}: a text[] literal, each id quoted with \ and " escaped. */
static char *ids_literal(struct gw_caller_waiter *const *batch, size_t n)
{
    size_t size = 3;
    char *out, *p;

    for (size_t i = 0; i < n; i++)
        size += 2 * strlen(batch[i]->user_id) + 3;
    out = malloc(size);
    if (!out)
        return NULL;
    p = out;
    *p++ = '{';
    for (size_t i = 0; i < n; i++) {
        if (i)
            *p++ = ',';
        *p++ = '"';
        for (const char *c = batch[i]->user_id; *c; c++) {
            if (*c == '"' || *c == '\\')
                *p++ = '\\';
            *p++ = *c;
        }
        *p++ = '"';
    }
    *p++ = '}';
    *p = '\0';
    return out;
}

static void fail_row(struct gw_caller_row *row, enum bs_db_error_kind kind,
                     const char *errstr)
{
    row->found = GW_CALLER_ERROR;
    row->kind = kind;
    snprintf(row->errstr, sizeof(row->errstr), "%s", errstr);
}

/* Fills `row` for `user_id` from the batch's result. */
static void fill_row(const struct gw_caller_queue *queue, const PGresult *res,
                     const char *user_id, struct gw_caller_row *row)
{
    row->found = GW_CALLER_MISSING;
    for (int r = 0; r < PQntuples(res); r++) {
        if (strcmp(PQgetvalue(res, r, 0), user_id) != 0)
            continue;
        /* Row-level security and the WHERE clause make this impossible;
         * a mix-up must never become an answer. */
        if (strcmp(PQgetvalue(res, r, 1), queue->product) != 0) {
            fail_row(row, BS_DB_ERROR_FATAL, "caller row of another product");
            return;
        }
        snprintf(row->role, sizeof(row->role), "%s", PQgetvalue(res, r, 2));
        row->json = strdup(PQgetvalue(res, r, 3));
        if (!row->json)
            fail_row(row, BS_DB_ERROR_FATAL, "out of memory");
        else
            row->found = GW_CALLER_FOUND;
        return;
    }
}

/* Runs one lookup for the batch (unlocked) and fills every waiter's row. */
static void run_batch(const struct gw_caller_queue *queue, PGconn *conn,
                      struct gw_caller_waiter *const *batch, size_t n)
{
    char *ids = ids_literal(batch, n);
    const char *params[] = {queue->product, ids};
    const struct bs_db_statement stmt = {.sql = BATCH_SQL,
                                         .nparams = 2,
                                         .params = params,
                                         .prepared = BATCH_STMT};
    PGresult *res = NULL;
    enum bs_db_error_kind kind = BS_DB_ERROR_FATAL;
    char errstr[256] = "out of memory";
    bool ok =
        ids && bs_db_run_in_product(conn, queue->product, &stmt, 1, &res, &kind,
                                    errstr, sizeof(errstr)) == BS_OK;

    for (size_t i = 0; i < n; i++) {
        if (ok)
            fill_row(queue, res, batch[i]->user_id, batch[i]->row);
        else
            fail_row(batch[i]->row, kind, errstr);
    }
    PQclear(res);
    free(ids);
}

/* ---- the queue (callers hold queue->lock) -------------------------------- */

static void enqueue(struct gw_caller_queue *queue,
                    struct gw_caller_waiter *waiter)
{
    if (queue->tail)
        queue->tail->next = waiter;
    else
        queue->head = waiter;
    queue->tail = waiter;
}

/* Takes up to GW_CALLER_BATCH_MAX waiters from the head into batch. */
static size_t take_batch(struct gw_caller_queue *queue,
                         struct gw_caller_waiter **batch)
{
    size_t n = 0;

    while (queue->head && n < GW_CALLER_BATCH_MAX) {
        batch[n] = queue->head;
        batch[n]->taken = true;
        queue->head = queue->head->next;
        n++;
    }
    if (!queue->head)
        queue->tail = NULL;
    return n;
}

/* Removes a waiter that no leader has taken (it gives up). */
static void unlink_waiter(struct gw_caller_queue *queue,
                          struct gw_caller_waiter *waiter)
{
    struct gw_caller_waiter **link = &queue->head, *previous = NULL;

    while (*link && *link != waiter) {
        previous = *link;
        link = &(*link)->next;
    }
    if (!*link)
        return;
    *link = waiter->next;
    if (queue->tail == waiter)
        queue->tail = previous;
}

/* Leads one batch: runs it unlocked, then answers its waiters and wakes
 * the next leader. Called and returns with the lock held. */
static void lead(struct gw_caller_queue *queue, PGconn *conn,
                 struct gw_caller_waiter *self)
{
    struct gw_caller_waiter *batch[GW_CALLER_BATCH_MAX];
    size_t n;

    queue->leading++;
    n = take_batch(queue, batch);
    pthread_mutex_unlock(&queue->lock);
    run_batch(queue, conn, batch, n);
    pthread_mutex_lock(&queue->lock);
    for (size_t i = 0; i < n; i++) {
        batch[i]->done = true;
        if (batch[i] != self)
            pthread_cond_signal(&batch[i]->wake);
    }
    queue->leading--;
    if (queue->head)
        pthread_cond_signal(&queue->head->wake);
}

static struct timespec deadline_after_ms(long ms)
{
    struct timespec deadline;

    clock_gettime(CLOCK_MONOTONIC, &deadline);
    deadline.tv_sec += ms / 1000;
    deadline.tv_nsec += (ms % 1000) * 1000000L;
    if (deadline.tv_nsec >= 1000000000L) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000L;
    }
    return deadline;
}

void gw_caller_lookup(struct gw_caller_queue *queue, PGconn *conn,
                      const char *user_id, struct gw_caller_row *row)
{
    struct gw_caller_waiter self = {.user_id = user_id, .row = row};
    struct timespec deadline = deadline_after_ms(GW_CALLER_WAIT_MS);
    bool timed_out = false;

    memset(row, 0, sizeof(*row));
    if (pthread_cond_init(&self.wake, &queue->clock) != 0) {
        fail_row(row, BS_DB_ERROR_FATAL, "out of resources");
        return;
    }
    pthread_mutex_lock(&queue->lock);
    enqueue(queue, &self);
    while (!self.done) {
        if (!self.taken && queue->leading < LEADERS_MAX) {
            lead(queue, conn, &self);
        } else if (timed_out && !self.taken) {
            /* Still queued behind busy leaders: give up (503) rather than
             * wait without bound. The leaders wake the next head. */
            unlink_waiter(queue, &self);
            fail_row(row, BS_DB_ERROR_TRANSIENT,
                     "caller lookup queue wait timed out");
            break;
        } else if (timed_out) {
            /* Taken: the leader's one round trip answers it. */
            pthread_cond_wait(&self.wake, &queue->lock);
        } else if (pthread_cond_timedwait(&self.wake, &queue->lock,
                                          &deadline) == ETIMEDOUT) {
            timed_out = true;
        }
    }
    pthread_mutex_unlock(&queue->lock);
    pthread_cond_destroy(&self.wake);
}
