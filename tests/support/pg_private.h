/*
 * pg_private.h - a PostgreSQL cluster of a test's own, to stop and restart.
 *
 * The `pg` fixture's cluster is shared by every integration test, so a test
 * that takes the database away (outage tests) starts its own throwaway
 * cluster with scripts/pg-cluster.sh under $BS_TEST_STATE_DIR/<name>, stops
 * and restarts its server on the same port, and removes it at the end.
 * Helpers return 0 or -1 (with a line on stderr); they never assert.
 */
#ifndef BS_TEST_PG_PRIVATE_H
#define BS_TEST_PG_PRIVATE_H

#include "pg_harness.h"

struct bs_pg_private {
    char state[512];      /* $BS_TEST_STATE_DIR/<name> */
    struct bs_pg_env env; /* as read from <state>/env */
};

/* Starts a fresh cluster under $BS_TEST_STATE_DIR/<name> and loads its env. */
int bs_pg_private_start(struct bs_pg_private *pg, const char *name);

/* Stops the server (fast: sessions are cut), keeping the data. */
int bs_pg_private_server_stop(const struct bs_pg_private *pg);

/* Starts the stopped server again on the same port; waits until ready. */
int bs_pg_private_server_start(const struct bs_pg_private *pg);

/* Stops the server and deletes the cluster. */
void bs_pg_private_destroy(const struct bs_pg_private *pg);

#endif
