/*
 * gw_caller_batch.h - the caller lookups of concurrent requests, batched
 * into one product transaction.
 *
 * Every authenticated request needs its caller's user row (from the
 * caller cache, gw_caller_cache.h, when it holds a fresh one; else looked
 * up here), and with one PostgreSQL round trip per request the database is
 * what limits authenticated reads. A gateway serves exactly one product, so
 * lookups that arrive together can share one transaction with that product's
 * app.product: the first waiting request leads, takes everyone queued (up
 * to GW_CALLER_BATCH_MAX) and runs one `id = ANY($2)` lookup on its own
 * pooled connection; the others sleep until their row (or the error) is
 * handed to them. Nobody waits for a timer: a batch is whatever queued
 * while the previous ones ran, so a lone request goes straight through.
 *
 * Isolation is unchanged: the queue belongs to one struct gateway (one
 * product), every batch is one bs_db_run_in_product() transaction for that
 * product, the statement also filters on product, and a returned row whose
 * product is not the queue's fails the lookup (it cannot happen under
 * row-level security; the check makes a mix-up loud, not silent).
 *
 * Bounded waiting: a request still queued (not yet taken by a leader)
 * after GW_CALLER_WAIT_MS gives up with a transient error (503). A request
 * already taken waits for its leader's one round trip, exactly as long as
 * its own lookup would have taken.
 */
#ifndef GW_CALLER_BATCH_H
#define GW_CALLER_BATCH_H

#include "gw_caller_cache.h" /* GW_CALLER_ROLE_MAX */

#include "bs/db.h"
#include "bs/product.h"

#include <libpq-fe.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

#define GW_CALLER_BATCH_MAX 64
#define GW_CALLER_WAIT_MS   10000

struct gw_caller_waiter; /* one queued lookup (gw_caller_batch.c) */

/* The lookups waiting in one gateway. */
struct gw_caller_queue {
    pthread_mutex_t lock;
    pthread_condattr_t clock; /* waits use CLOCK_MONOTONIC */
    struct gw_caller_waiter *head, *tail;
    int leading; /* batches running now */
    char product[BS_PRODUCT_MAX + 1];
};

enum gw_caller_found { GW_CALLER_ERROR, GW_CALLER_MISSING, GW_CALLER_FOUND };

/* What one lookup gives: role and user JSON (malloc'd, the caller frees)
 * when FOUND; the error kind and text (no personal data) when ERROR. */
struct gw_caller_row {
    enum gw_caller_found found;
    char role[GW_CALLER_ROLE_MAX + 1];
    char *json;
    enum bs_db_error_kind kind;
    char errstr[256];
};

/* An empty queue for `product`. BS_OK, or BS_EINVAL / BS_ENOMEM. */
int gw_caller_queue_init(struct gw_caller_queue *queue, const char *product);

/* Frees the queue; no lookup may still be running. */
void gw_caller_queue_destroy(struct gw_caller_queue *queue);

/* Prepares the batch statement on a new pooled connection. BS_OK or
 * BS_EDB (errstr). */
int gw_caller_batch_prepare(PGconn *conn, char *errstr, size_t errstr_size);

/*
 * Looks `user_id` up in the queue's product, maybe together with other
 * requests' lookups. `conn` is this request's pooled connection (idle); it
 * runs the batch when this request leads, and is left idle.
 */
void gw_caller_lookup(struct gw_caller_queue *queue, PGconn *conn,
                      const char *user_id, struct gw_caller_row *row);

#endif
