/*
 * pg_harness.h - what integration tests need from the `pg` fixture.
 *
 * The fixture (scripts/pg-cluster.sh) writes $BS_TEST_STATE_DIR/pg/env; a
 * test loads it once, then gives each test case its own fresh database
 * (bs_pg_create_database), migrates it with the real bsctl (bs_pg_migrate),
 * connects as the superuser or as bs_service (bs_pg_connect), and drops the
 * database at the end. Nothing here asserts: helpers return a status and
 * print what went wrong on stderr, the test decides.
 */
#ifndef BS_TEST_PG_HARNESS_H
#define BS_TEST_PG_HARNESS_H

#include <libpq-fe.h>
#include <stddef.h>

#define BS_PG_SERVICE_ROLE "bs_service"

/* Where the fixture's cluster is. */
struct bs_pg_env {
    char host[256]; /* PGHOST: the socket directory */
    char port[16];  /* PGPORT */
    char user[64];  /* PGUSER: the superuser */
    char bin[256];  /* BS_PG_BIN: server binaries (pg_dump) */
};

/* Reads $BS_TEST_STATE_DIR/pg/env. Returns 0, or -1 (message on stderr). */
int bs_pg_env_load(struct bs_pg_env *env);

/* "host=... port=... user=... dbname=..." into buf (user NULL: the
 * superuser). Returns buf. */
const char *bs_pg_conninfo(const struct bs_pg_env *env, const char *dbname,
                           const char *user, char *buf, size_t size);

/*
 * Creates an empty database named bs_test_<tag>_<pid>_<n> (tag: lowercase
 * letters, digits, '_'; keep it short) and writes its name into `name`
 * (64 bytes are enough). Returns 0 or -1.
 */
int bs_pg_create_database(const struct bs_pg_env *env, const char *tag,
                          char *name, size_t name_size);

/* Drops the database, closing any session still connected to it. */
void bs_pg_drop_database(const struct bs_pg_env *env, const char *name);

/* Connects to `dbname` as `user` (NULL: the superuser). The caller owns the
 * connection (PQfinish). NULL on failure. */
PGconn *bs_pg_connect(const struct bs_pg_env *env, const char *dbname,
                      const char *user);

/*
 * Runs `sql` (one or more statements). Returns 0, or -1 with the failing
 * SQLSTATE written into `sqlstate` (6 bytes, "" when there is none) if it is
 * not NULL; the message goes to stderr only when sqlstate is NULL (the
 * caller did not expect a failure).
 */
int bs_pg_exec(PGconn *conn, const char *sql, char *sqlstate);

/* The first column of the first row as an integer; -1 on error or when
 * there is no row. */
long long bs_pg_count(PGconn *conn, const char *sql);

/* The first column of the first row as a string the caller frees; NULL on
 * error, no row or SQL NULL. */
char *bs_pg_text(PGconn *conn, const char *sql);

/*
 * Runs `bsctl migrate <args...>` (args NULL-terminated) from the build tree
 * against `dbname` as the superuser. *output (if not NULL) receives stdout
 * and stderr; the caller frees it. Returns bsctl's exit code, -1 if it
 * could not run.
 */
int bs_pg_migrate(const struct bs_pg_env *env, const char *dbname,
                  const char *const args[], char **output);

#endif
