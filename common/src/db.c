/*
 * db.c - libpq helpers: connect, run, per-product transactions, error kinds.
 *
 * Messages put into errstr are the server's primary message and SQLSTATE
 * (or libpq's own message), one line. DETAIL, HINT and the connection
 * string are never copied: they may hold row values or a password.
 */
#include "bs/db.h"
#include "bs/error.h"
#include "bs/log.h"
#include "bs/product.h"

#include <stdio.h>
#include <string.h>

/* Copies `message` into errstr as one line, without trailing whitespace. */
static int db_fail(char *errstr, size_t errstr_size, const char *what,
                   const char *message)
{
    char line[512];
    size_t len;

    snprintf(line, sizeof(line), "%s", message ? message : "unknown error");
    for (char *p = line; *p; p++)
        if (*p == '\n' || *p == '\r' || *p == '\t')
            *p = ' ';
    len = strlen(line);
    while (len > 0 && line[len - 1] == ' ')
        line[--len] = '\0';
    return bs_fail(errstr, errstr_size, BS_EDB, "%s: %s", what, line);
}

int bs_db_result_error(PGconn *conn, const PGresult *result, char *errstr,
                       size_t errstr_size)
{
    const char *primary = NULL, *sqlstate = NULL;
    char message[512];

    if (result) {
        primary = PQresultErrorField(result, PG_DIAG_MESSAGE_PRIMARY);
        sqlstate = PQresultErrorField(result, PG_DIAG_SQLSTATE);
    }
    if (!primary)
        return db_fail(errstr, errstr_size, "database error",
                       PQerrorMessage(conn));

    snprintf(message, sizeof(message), "%s (SQLSTATE %s)", primary,
             sqlstate ? sqlstate : "none");
    return db_fail(errstr, errstr_size, "database error", message);
}

static bool result_ok(const PGresult *result)
{
    ExecStatusType status = PQresultStatus(result);

    return result && (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK);
}

/* Notice receiver: a server NOTICE or WARNING becomes one log line. */
static void db_log_notice(void *arg, const PGresult *notice)
{
    const char *severity = PQresultErrorField(notice, PG_DIAG_SEVERITY);
    const char *primary = PQresultErrorField(notice, PG_DIAG_MESSAGE_PRIMARY);
    char quoted[512];

    bs_log_quote(primary, quoted, sizeof(quoted));
    if (severity && strcmp(severity, "WARNING") == 0)
        bs_log_warn("db_notice severity=warning message=%s", quoted);
    else
        bs_log_info("db_notice severity=notice message=%s", quoted);
}

PGconn *bs_db_connect(const char *conninfo, const char *application_name,
                      char *errstr, size_t errstr_size)
{
    const char *keywords[] = {"fallback_application_name", "dbname", NULL};
    const char *values[] = {application_name, conninfo, NULL};
    PGconn *conn;

    if (!conninfo) {
        bs_fail(errstr, errstr_size, BS_EINVAL, "no connection string");
        return NULL;
    }

    /* expand_dbname: the dbname value is a whole conninfo or URI. */
    conn = PQconnectdbParams(keywords, values, 1);
    if (!conn) {
        bs_fail(errstr, errstr_size, BS_ENOMEM, "cannot allocate connection");
        return NULL;
    }
    if (PQstatus(conn) != CONNECTION_OK) {
        db_fail(errstr, errstr_size, "cannot connect", PQerrorMessage(conn));
        PQfinish(conn);
        return NULL;
    }
    PQsetNoticeReceiver(conn, db_log_notice, NULL);
    return conn;
}

int bs_db_query(PGconn *conn, const char *sql, int nparams,
                const char *const *params, PGresult **result, char *errstr,
                size_t errstr_size)
{
    PGresult *res;
    int status = BS_OK;

    res = PQexecParams(conn, sql, nparams, NULL, params, NULL, NULL, 0);
    if (!result_ok(res))
        status = bs_db_result_error(conn, res, errstr, errstr_size);

    if (result)
        *result = res;
    else
        PQclear(res);
    return status;
}

int bs_db_exec(PGconn *conn, const char *sql, char *errstr, size_t errstr_size)
{
    PGresult *res = PQexec(conn, sql);
    int status = BS_OK;

    if (!result_ok(res))
        status = bs_db_result_error(conn, res, errstr, errstr_size);
    PQclear(res);
    return status;
}

int bs_db_begin_product(PGconn *conn, const char *product, char *errstr,
                        size_t errstr_size)
{
    const char *params[] = {product};
    int status;

    if (!product || !bs_product_name_valid(product))
        return bs_fail(errstr, errstr_size, BS_EINVAL,
                       "invalid product name for a transaction");

    status = bs_db_exec(conn, "BEGIN", errstr, errstr_size);
    if (status != BS_OK)
        return status;

    /* is_local = true: the setting ends with the transaction. */
    status = bs_db_query(conn, "SELECT set_config('app.product', $1, true)", 1,
                         params, NULL, errstr, errstr_size);
    if (status != BS_OK)
        PQclear(PQexec(conn, "ROLLBACK"));
    return status;
}

int bs_db_commit(PGconn *conn, char *errstr, size_t errstr_size)
{
    PGresult *res = PQexec(conn, "COMMIT");
    int status = BS_OK;

    /* COMMIT of a failed transaction answers ROLLBACK, not an error. */
    if (!result_ok(res))
        status = bs_db_result_error(conn, res, errstr, errstr_size);
    else if (strcmp(PQcmdStatus(res), "COMMIT") != 0)
        status = bs_fail(errstr, errstr_size, BS_EDB,
                         "database error: transaction was rolled back");
    PQclear(res);
    return status;
}

int bs_db_rollback(PGconn *conn, char *errstr, size_t errstr_size)
{
    return bs_db_exec(conn, "ROLLBACK", errstr, errstr_size);
}

enum bs_db_error_kind bs_db_sqlstate_kind(const char *sqlstate)
{
    static const char *const transient[] = {
        "40001", /* serialization_failure */
        "40P01", /* deadlock_detected */
        "40003", /* statement_completion_unknown */
        "55P03", /* lock_not_available (lock_timeout) */
        "57014", /* query_canceled (statement_timeout) */
        "57P01", /* admin_shutdown */
        "57P02", /* crash_shutdown */
        "57P03", /* cannot_connect_now */
        "57P04", /* database_dropped */
    };

    if (!sqlstate || strlen(sqlstate) != 5)
        return BS_DB_ERROR_FATAL;
    for (size_t i = 0; i < sizeof(transient) / sizeof(transient[0]); i++)
        if (strcmp(sqlstate, transient[i]) == 0)
            return BS_DB_ERROR_TRANSIENT;

    /* Classes: 08 connection, 53 insufficient resources, 58 system (I/O);
     * 22 data exception, 23 integrity constraint violation. */
    if (strncmp(sqlstate, "08", 2) == 0 || strncmp(sqlstate, "53", 2) == 0 ||
        strncmp(sqlstate, "58", 2) == 0)
        return BS_DB_ERROR_TRANSIENT;
    if (strncmp(sqlstate, "22", 2) == 0 || strncmp(sqlstate, "23", 2) == 0)
        return BS_DB_ERROR_DATA;
    return BS_DB_ERROR_FATAL;
}

static enum bs_db_error_kind result_kind(const PGresult *result)
{
    const char *sqlstate;

    if (!result)
        return BS_DB_ERROR_TRANSIENT;
    if (result_ok(result))
        return BS_DB_ERROR_NONE;

    /* libpq's own errors (a lost connection) carry no SQLSTATE. */
    sqlstate = PQresultErrorField(result, PG_DIAG_SQLSTATE);
    if (!sqlstate)
        return BS_DB_ERROR_TRANSIENT;
    return bs_db_sqlstate_kind(sqlstate);
}

enum bs_db_error_kind bs_db_error_kind(const PGconn *conn,
                                       const PGresult *result)
{
    if (result_ok(result))
        return BS_DB_ERROR_NONE;
    if (!conn || PQstatus(conn) != CONNECTION_OK)
        return BS_DB_ERROR_TRANSIENT;
    return result_kind(result);
}

bool bs_db_error_is_transient(const PGresult *result)
{
    return result_kind(result) == BS_DB_ERROR_TRANSIENT;
}
