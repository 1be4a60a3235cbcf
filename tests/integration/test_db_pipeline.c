/*
 * test_db_pipeline.c - bs_db_run_in_product(): a product transaction sent
 * as one libpq pipeline, against the real PostgreSQL of the `pg` fixture.
 *
 * Every test case works in its own fresh, migrated database with users of
 * both products (inserted by the owner), connects as bs_service (no
 * BYPASSRLS, so row-level security decides what it sees), and drops the
 * database at the end.
 */
#include "harness.h"
#include "pg_harness.h"

#include "bs/db.h"
#include "bs/error.h"

#include <stdio.h>
#include <string.h>

static struct bs_pg_env pg;

static const char seed[] =
    "INSERT INTO users (product, id, email, first_name, role) VALUES"
    " ('bestays', 'user_bs_1', 'a@bestays.test', 'Ann', 'admin'),"
    " ('bestays', 'user_bs_2', 'b@bestays.test', 'Bob', 'user'),"
    " ('realestate', 'user_re_1', 'c@realestate.test', 'Cy', 'user')";

static int suite_init(void)
{
    return bs_pg_env_load(&pg) == 0 ? 0 : -1;
}

/* A fresh migrated database with the seed rows, and a bs_service
 * connection to it (NULL on failure). */
static PGconn *open_database(const char *tag, char *db, size_t db_size)
{
    const char *args[] = {"up", NULL};
    PGconn *owner, *service = NULL;

    if (bs_pg_create_database(&pg, tag, db, db_size) != 0)
        return NULL;
    if (bs_pg_migrate(&pg, db, args, NULL) != 0)
        return NULL;
    owner = bs_pg_connect(&pg, db, NULL);
    if (owner && bs_pg_exec(owner, seed, NULL) == 0)
        service = bs_pg_connect(&pg, db, BS_PG_SERVICE_ROLE);
    PQfinish(owner);
    return service;
}

/* How many rows the owner (no RLS) counts for `sql`. */
static long long owner_count(const char *db, const char *sql)
{
    PGconn *owner = bs_pg_connect(&pg, db, NULL);
    long long count = owner ? bs_pg_count(owner, sql) : -1;

    PQfinish(owner);
    return count;
}

/* The connection is back in normal mode, outside a transaction, and runs
 * an ordinary statement. */
static void assert_connection_usable(PGconn *conn)
{
    char errstr[256];

    BS_ASSERT_INT_EQ(PQstatus(conn), CONNECTION_OK);
    BS_ASSERT_INT_EQ(PQpipelineStatus(conn), PQ_PIPELINE_OFF);
    BS_ASSERT_INT_EQ(PQtransactionStatus(conn), PQTRANS_IDLE);
    BS_ASSERT_INT_EQ(bs_db_exec(conn, "SELECT 1", errstr, sizeof(errstr)),
                     BS_OK);
}

static void clear_all(PGresult **results, size_t n)
{
    for (size_t i = 0; i < n; i++)
        PQclear(results[i]);
}

static void test_pipeline_runs_statements_with_the_product_set(void)
{
    const char *const params[] = {"user_bs_2"};
    const struct bs_db_statement stmts[] = {
        {"SELECT current_setting('app.product')", 0, NULL, NULL},
        {"SELECT id FROM users ORDER BY id", 0, NULL, NULL},
        {"SELECT first_name FROM users WHERE id = $1", 1, params, NULL},
    };
    PGresult *results[3];
    enum bs_db_error_kind kind = BS_DB_ERROR_FATAL;
    char db[64], errstr[256];
    PGconn *conn = open_database("pipe_ok", db, sizeof(db));

    CU_ASSERT_FATAL(conn != NULL);
    BS_ASSERT_INT_EQ(bs_db_run_in_product(conn, "bestays", stmts, 3, results,
                                          &kind, errstr, sizeof(errstr)),
                     BS_OK);
    BS_ASSERT_INT_EQ(kind, BS_DB_ERROR_NONE);
    BS_ASSERT_STR_EQ(PQgetvalue(results[0], 0, 0), "bestays");

    /* Row-level security shows this product's users only. */
    BS_ASSERT_INT_EQ(PQntuples(results[1]), 2);
    BS_ASSERT_STR_EQ(PQgetvalue(results[1], 0, 0), "user_bs_1");
    BS_ASSERT_STR_EQ(PQgetvalue(results[1], 1, 0), "user_bs_2");
    BS_ASSERT_STR_EQ(PQgetvalue(results[2], 0, 0), "Bob");
    clear_all(results, 3);

    /* SET LOCAL semantics: the setting ended with the transaction. */
    BS_ASSERT_INT_EQ(bs_pg_count(conn, "SELECT count(*) FROM users"), 0);
    assert_connection_usable(conn);
    PQfinish(conn);
    bs_pg_drop_database(&pg, db);
}

static void test_pipeline_other_product_sees_only_its_rows(void)
{
    const struct bs_db_statement stmt = {"SELECT id FROM users", 0, NULL, NULL};
    PGresult *result = NULL;
    char db[64], errstr[256];
    PGconn *conn = open_database("pipe_re", db, sizeof(db));

    CU_ASSERT_FATAL(conn != NULL);
    BS_ASSERT_INT_EQ(bs_db_run_in_product(conn, "realestate", &stmt, 1, &result,
                                          NULL, errstr, sizeof(errstr)),
                     BS_OK);
    BS_ASSERT_INT_EQ(PQntuples(result), 1);
    BS_ASSERT_STR_EQ(PQgetvalue(result, 0, 0), "user_re_1");
    PQclear(result);
    PQfinish(conn);
    bs_pg_drop_database(&pg, db);
}

static void test_pipeline_commits_writes_of_its_product(void)
{
    const struct bs_db_statement stmt = {
        "INSERT INTO users (product, id, role) VALUES ('bestays', 'user_new',"
        " 'user')",
        0, NULL, NULL};
    PGresult *result = NULL;
    char db[64], errstr[256];
    PGconn *conn = open_database("pipe_write", db, sizeof(db));

    CU_ASSERT_FATAL(conn != NULL);
    BS_ASSERT_INT_EQ(bs_db_run_in_product(conn, "bestays", &stmt, 1, &result,
                                          NULL, errstr, sizeof(errstr)),
                     BS_OK);
    BS_ASSERT_STR_EQ(PQcmdStatus(result), "INSERT 0 1");
    PQclear(result);
    BS_ASSERT_INT_EQ(
        owner_count(db, "SELECT count(*) FROM users WHERE id = 'user_new'"), 1);
    PQfinish(conn);
    bs_pg_drop_database(&pg, db);
}

static void test_pipeline_failure_in_the_middle_commits_nothing(void)
{
    const struct bs_db_statement stmts[] = {
        {"INSERT INTO users (product, id, role)"
         " VALUES ('bestays', 'user_p1', 'user')",
         0, NULL, NULL},
        {"SELECT 1 / 0", 0, NULL, NULL},
        {"INSERT INTO users (product, id, role)"
         " VALUES ('bestays', 'user_p2', 'user')",
         0, NULL, NULL},
    };
    PGresult *results[3] = {NULL, NULL, NULL};
    enum bs_db_error_kind kind = BS_DB_ERROR_NONE;
    char db[64], errstr[256] = "";
    PGconn *conn = open_database("pipe_fail", db, sizeof(db));

    CU_ASSERT_FATAL(conn != NULL);
    BS_ASSERT_INT_EQ(bs_db_run_in_product(conn, "bestays", stmts, 3, results,
                                          &kind, errstr, sizeof(errstr)),
                     BS_EDB);
    BS_ASSERT_INT_EQ(kind, BS_DB_ERROR_DATA); /* 22012 division_by_zero */
    CU_ASSERT(strstr(errstr, "22012") != NULL);
    CU_ASSERT(results[0] == NULL && results[1] == NULL && results[2] == NULL);

    /* Neither the statement before nor the one after was committed. */
    BS_ASSERT_INT_EQ(owner_count(db, "SELECT count(*) FROM users"
                                     " WHERE id IN ('user_p1', 'user_p2')"),
                     0);
    assert_connection_usable(conn);
    PQfinish(conn);
    bs_pg_drop_database(&pg, db);
}

static void test_pipeline_refuses_a_row_of_another_product(void)
{
    const struct bs_db_statement stmts[] = {
        {"INSERT INTO users (product, id, role)"
         " VALUES ('bestays', 'user_ok', 'user')",
         0, NULL, NULL},
        {"INSERT INTO users (product, id, role)"
         " VALUES ('realestate', 'user_leak', 'user')",
         0, NULL, NULL},
    };
    PGresult *results[2];
    enum bs_db_error_kind kind = BS_DB_ERROR_NONE;
    char db[64], errstr[256] = "";
    PGconn *conn = open_database("pipe_leak", db, sizeof(db));

    CU_ASSERT_FATAL(conn != NULL);
    BS_ASSERT_INT_EQ(bs_db_run_in_product(conn, "bestays", stmts, 2, results,
                                          &kind, errstr, sizeof(errstr)),
                     BS_EDB);
    CU_ASSERT(strstr(errstr, "42501") != NULL); /* row-level security */
    BS_ASSERT_INT_EQ(kind, BS_DB_ERROR_FATAL);
    BS_ASSERT_INT_EQ(owner_count(db, "SELECT count(*) FROM users"
                                     " WHERE id IN ('user_ok', 'user_leak')"),
                     0);
    assert_connection_usable(conn);
    PQfinish(conn);
    bs_pg_drop_database(&pg, db);
}

static void test_pipeline_leaves_connection_usable_for_transactions(void)
{
    const struct bs_db_statement bad = {"SELECT * FROM no_such_table", 0, NULL,
                                        NULL};
    const struct bs_db_statement good = {"SELECT count(*) FROM users", 0, NULL,
                                         NULL};
    PGresult *result = NULL;
    char db[64], errstr[256];
    PGconn *conn = open_database("pipe_reuse", db, sizeof(db));

    CU_ASSERT_FATAL(conn != NULL);
    BS_ASSERT_INT_EQ(bs_db_run_in_product(conn, "bestays", &bad, 1, &result,
                                          NULL, errstr, sizeof(errstr)),
                     BS_EDB);
    CU_ASSERT(result == NULL);

    /* The classic helpers and the pipeline both work afterwards. */
    BS_ASSERT_INT_EQ(
        bs_db_begin_product(conn, "realestate", errstr, sizeof(errstr)), BS_OK);
    BS_ASSERT_INT_EQ(bs_pg_count(conn, "SELECT count(*) FROM users"), 1);
    BS_ASSERT_INT_EQ(bs_db_commit(conn, errstr, sizeof(errstr)), BS_OK);
    BS_ASSERT_INT_EQ(bs_db_run_in_product(conn, "bestays", &good, 1, &result,
                                          NULL, errstr, sizeof(errstr)),
                     BS_OK);
    BS_ASSERT_STR_EQ(PQgetvalue(result, 0, 0), "2");
    PQclear(result);
    PQfinish(conn);
    bs_pg_drop_database(&pg, db);
}

static void test_pipeline_refuses_bad_input_without_sending(void)
{
    const struct bs_db_statement stmt = {"SELECT 1", 0, NULL, NULL};
    PGresult *result = NULL;
    char db[64], errstr[256];
    PGconn *conn = open_database("pipe_inval", db, sizeof(db));

    CU_ASSERT_FATAL(conn != NULL);
    BS_ASSERT_INT_EQ(bs_db_run_in_product(conn, "x'; --", &stmt, 1, &result,
                                          NULL, errstr, sizeof(errstr)),
                     BS_EINVAL);
    BS_ASSERT_INT_EQ(bs_db_run_in_product(conn, "bestays", &stmt, 0, &result,
                                          NULL, errstr, sizeof(errstr)),
                     BS_EINVAL);

    /* Inside the caller's own transaction: refused, that one untouched. */
    BS_ASSERT_INT_EQ(bs_db_exec(conn, "BEGIN", errstr, sizeof(errstr)), BS_OK);
    BS_ASSERT_INT_EQ(bs_db_run_in_product(conn, "bestays", &stmt, 1, &result,
                                          NULL, errstr, sizeof(errstr)),
                     BS_EINVAL);
    BS_ASSERT_INT_EQ(PQtransactionStatus(conn), PQTRANS_INTRANS);
    BS_ASSERT_INT_EQ(bs_db_rollback(conn, errstr, sizeof(errstr)), BS_OK);
    CU_ASSERT(result == NULL);
    PQfinish(conn);
    bs_pg_drop_database(&pg, db);
}

static void test_pipeline_on_a_dead_connection_is_transient(void)
{
    const struct bs_db_statement stmt = {"SELECT count(*) FROM users", 0, NULL,
                                         NULL};
    PGresult *result = NULL;
    enum bs_db_error_kind kind = BS_DB_ERROR_NONE;
    char db[64], errstr[256], sql[128];
    PGconn *conn = open_database("pipe_dead", db, sizeof(db));
    PGconn *owner = bs_pg_connect(&pg, db, NULL);

    CU_ASSERT_FATAL(conn != NULL && owner != NULL);

    /* The server ends the session (waiting until it is gone). */
    snprintf(sql, sizeof(sql), "SELECT pg_terminate_backend(%d, 60000)",
             PQbackendPID(conn));
    BS_ASSERT_INT_EQ(bs_pg_exec(owner, sql, NULL), 0);
    PQfinish(owner);

    BS_ASSERT_INT_EQ(bs_db_run_in_product(conn, "bestays", &stmt, 1, &result,
                                          &kind, errstr, sizeof(errstr)),
                     BS_EDB);
    BS_ASSERT_INT_EQ(kind, BS_DB_ERROR_TRANSIENT);
    CU_ASSERT(result == NULL);

    /* Once libpq knows, a second try fails the same way. */
    BS_ASSERT_INT_EQ(bs_db_run_in_product(conn, "bestays", &stmt, 1, &result,
                                          &kind, errstr, sizeof(errstr)),
                     BS_EDB);
    BS_ASSERT_INT_EQ(kind, BS_DB_ERROR_TRANSIENT);
    CU_ASSERT(result == NULL);
    PQfinish(conn);
    bs_pg_drop_database(&pg, db);
}

static void test_pipeline_runs_many_statements(void)
{
    enum { COUNT = 200 };
    static struct bs_db_statement stmts[COUNT];
    static PGresult *results[COUNT];
    char db[64], errstr[256];
    PGconn *conn = open_database("pipe_many", db, sizeof(db));
    int ok = 0;

    CU_ASSERT_FATAL(conn != NULL);
    for (size_t i = 0; i < COUNT; i++)
        stmts[i] = (struct bs_db_statement){"SELECT count(*) FROM users", 0,
                                            NULL, NULL};
    BS_ASSERT_INT_EQ(bs_db_run_in_product(conn, "bestays", stmts, COUNT,
                                          results, NULL, errstr,
                                          sizeof(errstr)),
                     BS_OK);
    for (size_t i = 0; i < COUNT; i++)
        ok += results[i] && strcmp(PQgetvalue(results[i], 0, 0), "2") == 0;
    BS_ASSERT_INT_EQ(ok, COUNT);
    clear_all(results, COUNT);
    assert_connection_usable(conn);
    PQfinish(conn);
    bs_pg_drop_database(&pg, db);
}

/* Prepared statements (set_config and the caller's) with cached, eventually
 * generic plans still apply the product of each transaction: run them often
 * enough for PostgreSQL to switch to a generic plan, alternating products. */
static void test_pipeline_prepared_statement_keeps_products_apart(void)
{
    const char *const params[] = {"user_re_1"};
    const struct bs_db_statement stmts[] = {
        {NULL, 0, NULL, "t_count"},
        {NULL, 1, params, "t_by_id"},
    };
    PGresult *results[2];
    char db[64], errstr[256];
    PGconn *conn = open_database("pipe_prep", db, sizeof(db));
    int right = 0;

    CU_ASSERT_FATAL(conn != NULL);
    BS_ASSERT_INT_EQ(bs_db_prepare_product(conn, errstr, sizeof(errstr)),
                     BS_OK);
    BS_ASSERT_INT_EQ(bs_db_prepare_product(conn, errstr, sizeof(errstr)),
                     BS_OK); /* once is enough; twice is harmless */
    BS_ASSERT_INT_EQ(bs_db_prepare(conn, "t_count",
                                   "SELECT count(*) FROM users", 0, errstr,
                                   sizeof(errstr)),
                     BS_OK);
    BS_ASSERT_INT_EQ(bs_db_prepare(conn, "t_by_id",
                                   "SELECT id FROM users WHERE id = $1", 1,
                                   errstr, sizeof(errstr)),
                     BS_OK);
    for (int i = 0; i < 20; i++) {
        const char *product = i % 2 ? "realestate" : "bestays";
        const char *count = i % 2 ? "1" : "2";
        int rows = i % 2 ? 1 : 0;

        if (bs_db_run_in_product(conn, product, stmts, 2, results, NULL, errstr,
                                 sizeof(errstr)) != BS_OK)
            break;
        right += strcmp(PQgetvalue(results[0], 0, 0), count) == 0 &&
                 PQntuples(results[1]) == rows;
        clear_all(results, 2);
    }
    BS_ASSERT_INT_EQ(right, 20);
    assert_connection_usable(conn);
    PQfinish(conn);
    bs_pg_drop_database(&pg, db);
}

static CU_TestInfo pipeline_tests[] = {
    {"pipeline runs statements with the product set",
     test_pipeline_runs_statements_with_the_product_set},
    {"pipeline other product sees only its rows",
     test_pipeline_other_product_sees_only_its_rows},
    {"pipeline commits writes of its product",
     test_pipeline_commits_writes_of_its_product},
    {"pipeline failure in the middle commits nothing",
     test_pipeline_failure_in_the_middle_commits_nothing},
    {"pipeline refuses a row of another product",
     test_pipeline_refuses_a_row_of_another_product},
    {"pipeline leaves connection usable for transactions",
     test_pipeline_leaves_connection_usable_for_transactions},
    {"pipeline refuses bad input without sending",
     test_pipeline_refuses_bad_input_without_sending},
    {"pipeline on a dead connection is transient",
     test_pipeline_on_a_dead_connection_is_transient},
    {"pipeline runs many statements", test_pipeline_runs_many_statements},
    {"pipeline prepared statement keeps products apart",
     test_pipeline_prepared_statement_keeps_products_apart},
    CU_TEST_INFO_NULL,
};

static void register_suites(void)
{
    bs_test_add_suite("db_pipeline", suite_init, NULL, pipeline_tests);
}

int main(void)
{
    return bs_test_main(register_suites);
}
