/*
 * db.h - small libpq helpers every service shares.
 *
 * Connecting with an application name, running a statement and checking its
 * status, the per-product transaction (BEGIN + app.product for row-level
 * security), the same transaction sent as one pipeline, and sorting errors by
 * SQLSTATE into "try again later" and "this input can never be applied". libpq
 * does the work; this module only gives it one error convention: BS_EDB with
 * the server's message in errstr, never the connection string (which may hold a
 * password) and never the error's DETAIL (which may quote row values such as an
 * e-mail address).
 *
 * Not here: pooling, retries, reconnection, or any SQL of the services.
 * A PGconn is not thread-safe: one connection per thread.
 */
#ifndef BS_DB_H
#define BS_DB_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>

/* What a caller should do about a failed statement. */
enum bs_db_error_kind {
    BS_DB_ERROR_NONE = 0,  /* it did not fail */
    BS_DB_ERROR_TRANSIENT, /* connection, shutdown, serialization, deadlock,
                            * resources: roll back and retry later */
    BS_DB_ERROR_DATA,      /* class 22 (data) or 23 (integrity): this input
                            * can never be applied; set it aside */
    BS_DB_ERROR_FATAL      /* anything else (syntax, privileges, a missing
                            * table...): a bug or misconfiguration */
};

/*
 * Connects with `conninfo` (a libpq URI or key=value string; its own
 * application_name wins over `application_name`). Server notices and
 * warnings on the connection are logged (event db_notice) instead of being
 * printed by libpq. Returns a connection the caller owns (release with
 * PQfinish), or NULL with the server's or libpq's message in errstr.
 */
PGconn *bs_db_connect(const char *conninfo, const char *application_name,
                      char *errstr, size_t errstr_size);

/*
 * Runs `sql` (one or more statements, no parameters) and checks that it
 * succeeded. Returns BS_OK, or BS_EDB with the message in errstr.
 */
int bs_db_exec(PGconn *conn, const char *sql, char *errstr, size_t errstr_size);

/*
 * Runs one statement with text parameters ($1..$n; a NULL value is SQL NULL).
 * On success returns BS_OK and, if `result` is not NULL, *result holds the
 * result (the caller frees it with PQclear). On failure returns BS_EDB with
 * the message in errstr; if `result` is not NULL, *result holds the failed
 * result for bs_db_error_kind() (NULL when there is none, e.g. the connection
 * was lost) and the caller still frees it.
 */
int bs_db_query(PGconn *conn, const char *sql, int nparams,
                const char *const *params, PGresult **result, char *errstr,
                size_t errstr_size);

/*
 * BEGIN, then set app.product for this transaction only
 * (set_config('app.product', $1, true), a bind parameter). The product must
 * be a valid product name (bs_product_name_valid); BS_EINVAL otherwise, with
 * nothing sent. On a database error the transaction is rolled back and
 * BS_EDB returned.
 */
int bs_db_begin_product(PGconn *conn, const char *product, char *errstr,
                        size_t errstr_size);

/* One parameterised statement of bs_db_run_in_product(). */
struct bs_db_statement {
    const char *sql;           /* constant text with $1..$n placeholders */
    int nparams;               /* how many values in params */
    const char *const *params; /* text values; a NULL value is SQL NULL */
    const char *prepared;      /* NULL: sql is parsed and planned each time;
                                * else the name of a statement this
                                * connection prepared with bs_db_prepare()
                                * (then sql is not sent) */
};

/*
 * Prepares `sql` ($1..$nparams, types inferred) as the named statement
 * `name` on this connection (PQprepare), for bs_db_statement.prepared. A
 * name lives as long as the connection: prepare again after reconnecting.
 * Returns BS_OK, or BS_EDB with the message in errstr.
 */
int bs_db_prepare(PGconn *conn, const char *name, const char *sql, int nparams,
                  char *errstr, size_t errstr_size);

/*
 * Prepares, once per connection, the set_config statement that
 * bs_db_run_in_product() sends, and marks the connection (libpq instance
 * data) so that it uses the prepared one from then on: one statement less
 * for the server to parse and plan per transaction. A connection reset
 * (PQreset) clears the mark. Returns BS_OK, or BS_EDB with errstr.
 */
int bs_db_prepare_product(PGconn *conn, char *errstr, size_t errstr_size);

/*
 * Runs BEGIN, set_config('app.product', product, true), the `n` statements
 * in order, and COMMIT as one libpq pipeline: one round trip to the server
 * for the whole transaction, with the same row-level-security context as
 * bs_db_begin_product() + bs_db_query() + bs_db_commit(). The connection
 * must be idle (not in a transaction, not in pipeline mode); it is left in
 * normal (non-pipeline) mode, outside any transaction, whatever happens.
 *
 * On success returns BS_OK and results[i] holds statement i's result (the
 * caller frees each with PQclear). On any failure nothing is committed,
 * every results[i] is NULL, errstr holds the first error, *kind (if not
 * NULL) says what to do about it (bs_db_error_kind: TRANSIENT for a lost
 * connection) and the return is BS_EDB; BS_EINVAL (nothing sent, kind
 * FATAL) for an invalid product name, n == 0 or a connection that is not
 * idle. On success *kind is BS_DB_ERROR_NONE.
 */
int bs_db_run_in_product(PGconn *conn, const char *product,
                         const struct bs_db_statement *stmts, size_t n,
                         PGresult **results, enum bs_db_error_kind *kind,
                         char *errstr, size_t errstr_size);

/* COMMIT. A failed commit leaves nothing applied: BS_EDB. */
int bs_db_commit(PGconn *conn, char *errstr, size_t errstr_size);

/* ROLLBACK; harmless outside a transaction. Returns BS_OK or BS_EDB. */
int bs_db_rollback(PGconn *conn, char *errstr, size_t errstr_size);

/*
 * Writes the error of a failed `result` on `conn` into errstr (primary
 * message and SQLSTATE, or libpq's message when result is NULL or carries no
 * server message) and returns BS_EDB. Consumes nothing.
 */
int bs_db_result_error(PGconn *conn, const PGresult *result, char *errstr,
                       size_t errstr_size);

/* Sorts a SQLSTATE (five characters); NULL or "" gives FATAL. */
enum bs_db_error_kind bs_db_sqlstate_kind(const char *sqlstate);

/*
 * Sorts the outcome of a statement on `conn`. A successful `result` gives
 * NONE. No result, a result without SQLSTATE, or a connection that is no
 * longer CONNECTION_OK gives TRANSIENT; otherwise the SQLSTATE decides.
 * Neither argument is consumed.
 */
enum bs_db_error_kind bs_db_error_kind(const PGconn *conn,
                                       const PGresult *result);

/* True when `result` failed in a way worth retrying: no result at all, or a
 * SQLSTATE sorted TRANSIENT. */
bool bs_db_error_is_transient(const PGresult *result);

#endif
