/*
 * db.c - libpq helpers: connect, run, per-product transactions (also as one
 * pipeline), error kinds.
 *
 * Messages put into errstr are the server's primary message and SQLSTATE
 * (or libpq's own message), one line. DETAIL, HINT and the connection
 * string are never copied: they may hold row values or a password.
 */
#include "bs/db.h"
#include "bs/error.h"
#include "bs/log.h"
#include "bs/product.h"

#include <libpq-events.h>
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

int bs_db_prepare(PGconn *conn, const char *name, const char *sql, int nparams,
                  char *errstr, size_t errstr_size)
{
    PGresult *res = PQprepare(conn, name, sql, nparams, NULL);
    int status = BS_OK;

    if (!result_ok(res))
        status = bs_db_result_error(conn, res, errstr, errstr_size);
    PQclear(res);
    return status;
}

/* ---- one transaction as one pipeline ------------------------------------
 */

#define SET_PRODUCT_SQL  "SELECT set_config('app.product', $1, true)"
#define SET_PRODUCT_STMT "bs_db_set_product"

/* libpq event procedure: its instance data on a connection is non-NULL
 * while SET_PRODUCT_STMT is prepared there. */
static int db_event(PGEventId event, void *info, void *pass_through)
{
    (void)pass_through;
    if (event == PGEVT_CONNRESET)
        PQsetInstanceData(((PGEventConnReset *)info)->conn, db_event, NULL);
    return 1;
}

int bs_db_prepare_product(PGconn *conn, char *errstr, size_t errstr_size)
{
    static char marked;
    int status;

    if (PQinstanceData(conn, db_event))
        return BS_OK;
    status = bs_db_prepare(conn, SET_PRODUCT_STMT, SET_PRODUCT_SQL, 1, errstr,
                           errstr_size);
    if (status != BS_OK)
        return status;

    /* Registering twice fails: the procedure may already be there. */
    PQregisterEventProc(conn, db_event, "bs_db", NULL);
    if (!PQsetInstanceData(conn, db_event, &marked))
        return bs_fail(errstr, errstr_size, BS_EDB,
                       "cannot mark the connection as prepared");
    return BS_OK;
}

/* Sends every query of the transaction and the sync; false on failure. */
static bool pipeline_send(PGconn *conn, const char *product,
                          const struct bs_db_statement *stmts, size_t n)
{
    const char *params[] = {product};

    if (!PQsendQueryParams(conn, "BEGIN", 0, NULL, NULL, NULL, NULL, 0))
        return false;
    /* is_local = true: the setting ends with the transaction. */
    if (PQinstanceData(conn, db_event)) {
        if (!PQsendQueryPrepared(conn, SET_PRODUCT_STMT, 1, params, NULL, NULL,
                                 0))
            return false;
    } else if (!PQsendQueryParams(conn, SET_PRODUCT_SQL, 1, NULL, params, NULL,
                                  NULL, 0)) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        const struct bs_db_statement *stmt = &stmts[i];
        int sent;

        if (stmt->prepared)
            sent = PQsendQueryPrepared(conn, stmt->prepared, stmt->nparams,
                                       stmt->params, NULL, NULL, 0);
        else
            sent = PQsendQueryParams(conn, stmt->sql, stmt->nparams, NULL,
                                     stmt->params, NULL, NULL, 0);
        if (!sent)
            return false;
    }
    if (!PQsendQueryParams(conn, "COMMIT", 0, NULL, NULL, NULL, NULL, 0))
        return false;
    return PQpipelineSync(conn) == 1;
}

/* The next query's result, its NULL terminator consumed; NULL when the
 * connection gave none. */
static PGresult *pipeline_next(PGconn *conn)
{
    PGresult *res = PQgetResult(conn);
    PGresult *extra;

    if (!res || PQresultStatus(res) == PGRES_PIPELINE_SYNC)
        return res;
    while ((extra = PQgetResult(conn)) != NULL)
        PQclear(extra);
    return res;
}

/* Keeps the first failure: its message and kind. */
static void pipeline_note(PGconn *conn, const PGresult *res, int *status,
                          enum bs_db_error_kind *kind, char *errstr,
                          size_t errstr_size)
{
    if (*status != BS_OK)
        return;
    *status = bs_db_result_error(conn, res, errstr, errstr_size);
    *kind = bs_db_error_kind(conn, res);
}

/*
 * Reads the results of BEGIN, set_config, the statements and COMMIT, then
 * the sync. Statement results go to results[]; the rest are freed.
 */
static int pipeline_collect(PGconn *conn, size_t n, PGresult **results,
                            enum bs_db_error_kind *kind, char *errstr,
                            size_t errstr_size)
{
    int status = BS_OK;
    PGresult *res;

    for (size_t i = 0; i < n + 3 && PQstatus(conn) == CONNECTION_OK; i++) {
        res = pipeline_next(conn);
        if (!result_ok(res))
            pipeline_note(conn, res, &status, kind, errstr, errstr_size);
        else if (i == n + 2 && strcmp(PQcmdStatus(res), "COMMIT") != 0 &&
                 status == BS_OK)
            status = bs_fail(errstr, errstr_size, BS_EDB,
                             "database error: transaction was rolled back");

        /* Statement i - 2 is the caller's; BEGIN, set_config, COMMIT not. */
        if (i >= 2 && i < n + 2)
            results[i - 2] = res;
        else
            PQclear(res);
    }

    /* The sync ends the pipeline; a lost connection never sends it. */
    res = PQstatus(conn) == CONNECTION_OK ? pipeline_next(conn) : NULL;
    if (PQresultStatus(res) != PGRES_PIPELINE_SYNC)
        pipeline_note(conn, res, &status, kind, errstr, errstr_size);
    PQclear(res);
    return status;
}

/*
 * Back to normal mode and outside any transaction, on a live connection:
 * syncs if the sending stopped short, drains what is left, rolls back a
 * transaction an error left open. A lost connection is left as it is.
 */
static void pipeline_leave(PGconn *conn, bool synced)
{
    if (!synced && PQstatus(conn) == CONNECTION_OK)
        PQpipelineSync(conn);
    while (!PQexitPipelineMode(conn) && PQstatus(conn) == CONNECTION_OK)
        PQclear(PQgetResult(conn));
    if (PQstatus(conn) == CONNECTION_OK &&
        PQtransactionStatus(conn) != PQTRANS_IDLE)
        PQclear(PQexec(conn, "ROLLBACK"));
}

int bs_db_run_in_product(PGconn *conn, const char *product,
                         const struct bs_db_statement *stmts, size_t n,
                         PGresult **results, enum bs_db_error_kind *kind,
                         char *errstr, size_t errstr_size)
{
    enum bs_db_error_kind ignored;
    bool sent;
    int status;

    if (!kind)
        kind = &ignored;
    *kind = BS_DB_ERROR_FATAL;
    if (!product || !bs_product_name_valid(product) || n == 0)
        return bs_fail(errstr, errstr_size, BS_EINVAL,
                       "invalid product name or no statement to run");
    if (PQstatus(conn) == CONNECTION_OK &&
        (PQtransactionStatus(conn) != PQTRANS_IDLE ||
         PQpipelineStatus(conn) != PQ_PIPELINE_OFF))
        return bs_fail(errstr, errstr_size, BS_EINVAL,
                       "connection is not idle: cannot run a pipeline");
    for (size_t i = 0; i < n; i++)
        results[i] = NULL;

    /* One round trip: send everything, then read everything. */
    if (!PQenterPipelineMode(conn))
        return bs_db_result_error(conn, NULL, errstr, errstr_size);
    *kind = BS_DB_ERROR_NONE;
    sent = pipeline_send(conn, product, stmts, n);
    if (sent) {
        status = pipeline_collect(conn, n, results, kind, errstr, errstr_size);
    } else {
        status = bs_db_result_error(conn, NULL, errstr, errstr_size);
        *kind = PQstatus(conn) == CONNECTION_OK ? BS_DB_ERROR_FATAL
                                                : BS_DB_ERROR_TRANSIENT;
    }
    pipeline_leave(conn, sent);

    /* All or nothing: no partial results after a failure. */
    if (status != BS_OK) {
        for (size_t i = 0; i < n; i++) {
            PQclear(results[i]);
            results[i] = NULL;
        }
    }
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
