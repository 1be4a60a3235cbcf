/*
 * pool.c - a fixed pool of PostgreSQL connections for the HTTP workers.
 *
 * One slot per worker thread, so a request never waits for another one's
 * connection in practice; the condition variable only matters if the pool
 * is configured smaller than the threads. Connections are made on first use
 * (the gateway starts while PostgreSQL is down, and /readyz says so), with
 * the gateway's hot statements prepared on them, and remade after a
 * failure. A PGconn is used by one thread at a time.
 *
 * Not here: transactions (gateway.c), statement timeouts (set them in
 * DATABASE_URL, e.g. options=-cstatement_timeout=5000).
 */
#include "gateway.h"

#include "bs/db.h"
#include "bs/error.h"

#include <stdlib.h>
#include <string.h>

int gw_pool_init(struct gw_pool *pool, const char *conninfo, size_t size)
{
    memset(pool, 0, sizeof(*pool));
    pool->conns = calloc(size, sizeof(*pool->conns));
    pool->busy = calloc(size, sizeof(*pool->busy));
    pool->conninfo = strdup(conninfo);
    pool->size = size;
    pthread_mutex_init(&pool->lock, NULL);
    pthread_cond_init(&pool->available, NULL);
    if (!pool->conns || !pool->busy || !pool->conninfo)
        return BS_ENOMEM;
    return BS_OK;
}

/* Takes a free slot, waiting for one; returns its index. */
static size_t take_slot(struct gw_pool *pool)
{
    size_t slot;

    pthread_mutex_lock(&pool->lock);
    for (;;) {
        for (slot = 0; slot < pool->size; slot++) {
            if (!pool->busy[slot])
                break;
        }
        if (slot < pool->size)
            break;
        pthread_cond_wait(&pool->available, &pool->lock);
    }
    pool->busy[slot] = true;
    pthread_mutex_unlock(&pool->lock);
    return slot;
}

static void free_slot(struct gw_pool *pool, size_t slot)
{
    pthread_mutex_lock(&pool->lock);
    pool->busy[slot] = false;
    pthread_cond_signal(&pool->available);
    pthread_mutex_unlock(&pool->lock);
}

/* A new connection with the gateway's statements prepared; NULL (errstr)
 * on failure. */
static PGconn *connect_prepared(struct gw_pool *pool, char *errstr,
                                size_t errstr_size)
{
    PGconn *conn =
        bs_db_connect(pool->conninfo, GW_SERVICE, errstr, errstr_size);

    if (conn && gw_prepare_statements(conn, errstr, errstr_size) != BS_OK) {
        PQfinish(conn);
        conn = NULL;
    }
    return conn;
}

PGconn *gw_pool_acquire(struct gw_pool *pool, char *errstr, size_t errstr_size)
{
    size_t slot = take_slot(pool);
    PGconn *conn = pool->conns[slot];

    /* The slot is ours: (re)connect outside the lock. */
    if (conn && PQstatus(conn) != CONNECTION_OK) {
        PQfinish(conn);
        conn = NULL;
    }
    if (!conn)
        conn = connect_prepared(pool, errstr, errstr_size);
    pthread_mutex_lock(&pool->lock);
    pool->conns[slot] = conn;
    pthread_mutex_unlock(&pool->lock);
    if (!conn)
        free_slot(pool, slot);
    return conn;
}

void gw_pool_release(struct gw_pool *pool, PGconn *conn)
{
    size_t slot;

    /* Find the slot under the lock: others write their own slots. */
    pthread_mutex_lock(&pool->lock);
    for (slot = 0; slot < pool->size; slot++) {
        if (pool->busy[slot] && pool->conns[slot] == conn)
            break;
    }
    pthread_mutex_unlock(&pool->lock);
    if (slot == pool->size)
        return;

    /* A broken connection, or one left inside a transaction, is remade. */
    if (PQstatus(conn) != CONNECTION_OK ||
        PQtransactionStatus(conn) != PQTRANS_IDLE) {
        PQfinish(conn);
        pthread_mutex_lock(&pool->lock);
        pool->conns[slot] = NULL;
        pthread_mutex_unlock(&pool->lock);
    }
    free_slot(pool, slot);
}

void gw_pool_destroy(struct gw_pool *pool)
{
    for (size_t slot = 0; pool->conns && slot < pool->size; slot++)
        PQfinish(pool->conns[slot]);
    free(pool->conns);
    free(pool->busy);
    free(pool->conninfo);
    pthread_mutex_destroy(&pool->lock);
    pthread_cond_destroy(&pool->available);
    memset(pool, 0, sizeof(*pool));
}
