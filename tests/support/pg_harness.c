/*
 * pg_harness.c - the `pg` fixture's cluster as integration tests see it.
 *
 * Reads the env file the fixture wrote, creates and drops one database per
 * test case, connects, runs small queries and the real bsctl. Uses libpq
 * directly (not bs/db.h) so that tests of the shared library do not depend
 * on the code under test to set themselves up.
 */
#include "pg_harness.h"
#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Copies the value of `export NAME='value'` or `NAME=value` into out when
 * the line sets `name`. */
static void env_line_take(const char *line, const char *name, char *out,
                          size_t out_size)
{
    size_t name_len = strlen(name), len;
    const char *value;

    if (strncmp(line, "export ", 7) == 0)
        line += 7;
    if (strncmp(line, name, name_len) != 0 || line[name_len] != '=')
        return;

    value = line + name_len + 1;
    len = strcspn(value, "\n");
    if (len >= 2 && value[0] == '\'' && value[len - 1] == '\'') {
        value++;
        len -= 2;
    }
    snprintf(out, out_size, "%.*s", (int)len, value);
}

int bs_pg_env_load(struct bs_pg_env *env)
{
    char path[1024];
    char *text, *line, *save = NULL;

    memset(env, 0, sizeof(*env));
    bs_test_state_path("pg/env", path, sizeof(path));
    text = bs_test_read_file(path);
    if (!text) {
        fprintf(stderr,
                "pg_harness: cannot read %s (did the pg fixture "
                "run?)\n",
                path);
        return -1;
    }

    for (line = strtok_r(text, "\n", &save); line;
         line = strtok_r(NULL, "\n", &save)) {
        env_line_take(line, "PGHOST", env->host, sizeof(env->host));
        env_line_take(line, "PGPORT", env->port, sizeof(env->port));
        env_line_take(line, "PGUSER", env->user, sizeof(env->user));
        env_line_take(line, "BS_PG_BIN", env->bin, sizeof(env->bin));
    }
    free(text);

    if (!env->host[0] || !env->port[0] || !env->user[0]) {
        fprintf(stderr, "pg_harness: %s lacks PGHOST/PGPORT/PGUSER\n", path);
        return -1;
    }
    if (!env->bin[0])
        snprintf(env->bin, sizeof(env->bin), "/usr/lib/postgresql/15/bin");
    return 0;
}

const char *bs_pg_conninfo(const struct bs_pg_env *env, const char *dbname,
                           const char *user, char *buf, size_t size)
{
    snprintf(buf, size, "host=%s port=%s user=%s dbname=%s", env->host,
             env->port, user ? user : env->user, dbname);
    return buf;
}

PGconn *bs_pg_connect(const struct bs_pg_env *env, const char *dbname,
                      const char *user)
{
    char conninfo[1024];
    PGconn *conn;

    conn = PQconnectdb(
        bs_pg_conninfo(env, dbname, user, conninfo, sizeof(conninfo)));
    if (PQstatus(conn) != CONNECTION_OK) {
        fprintf(stderr, "pg_harness: cannot connect to %s as %s: %s", dbname,
                user ? user : env->user, PQerrorMessage(conn));
        PQfinish(conn);
        return NULL;
    }
    return conn;
}

/* Runs one admin statement on the maintenance database. */
static int admin_exec(const struct bs_pg_env *env, const char *sql)
{
    PGconn *conn = bs_pg_connect(env, "postgres", NULL);
    int result;

    if (!conn)
        return -1;
    result = bs_pg_exec(conn, sql, NULL);
    PQfinish(conn);
    return result;
}

int bs_pg_create_database(const struct bs_pg_env *env, const char *tag,
                          char *name, size_t name_size)
{
    static unsigned counter;
    char sql[256];

    snprintf(name, name_size, "bs_test_%.24s_%ld_%u", tag, (long)getpid(),
             ++counter);
    snprintf(sql, sizeof(sql), "CREATE DATABASE \"%s\"", name);
    return admin_exec(env, sql);
}

void bs_pg_drop_database(const struct bs_pg_env *env, const char *name)
{
    char sql[256];

    snprintf(sql, sizeof(sql), "DROP DATABASE IF EXISTS \"%s\" WITH (FORCE)",
             name);
    admin_exec(env, sql);
}

int bs_pg_exec(PGconn *conn, const char *sql, char *sqlstate)
{
    PGresult *res = PQexec(conn, sql);
    ExecStatusType status = PQresultStatus(res);
    const char *state;
    int result = 0;

    if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
        result = -1;
        state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
        if (sqlstate)
            snprintf(sqlstate, 6, "%s", state ? state : "");
        else
            fprintf(stderr, "pg_harness: %s\n  in: %.200s\n",
                    PQresultErrorMessage(res), sql);
    }
    PQclear(res);
    return result;
}

/* The first cell of a query's result, or NULL (error, no row, SQL NULL). */
static PGresult *first_cell(PGconn *conn, const char *sql)
{
    PGresult *res = PQexec(conn, sql);

    if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) < 1 ||
        PQnfields(res) < 1 || PQgetisnull(res, 0, 0)) {
        if (PQresultStatus(res) != PGRES_TUPLES_OK)
            fprintf(stderr, "pg_harness: %s\n  in: %.200s\n",
                    PQresultErrorMessage(res), sql);
        PQclear(res);
        return NULL;
    }
    return res;
}

long long bs_pg_count(PGconn *conn, const char *sql)
{
    PGresult *res = first_cell(conn, sql);
    long long value;

    if (!res)
        return -1;
    value = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    PQclear(res);
    return value;
}

char *bs_pg_text(PGconn *conn, const char *sql)
{
    PGresult *res = first_cell(conn, sql);
    char *value;

    if (!res)
        return NULL;
    value = strdup(PQgetvalue(res, 0, 0));
    PQclear(res);
    return value;
}

int bs_pg_migrate(const struct bs_pg_env *env, const char *dbname,
                  const char *const args[], char **output)
{
    char bsctl[1024], conninfo[1024], url[1100];
    const char *argv[16] = {NULL};
    const char *envp[] = {url, "PRODUCT=bestays", "LOG_LEVEL=info", NULL};
    size_t n = 0;

    argv[n++] = bs_test_build_path("tools/bsctl/bsctl", bsctl, sizeof(bsctl));
    argv[n++] = "migrate";
    for (size_t i = 0; args && args[i] && n + 1 < 16; i++)
        argv[n++] = args[i];

    snprintf(url, sizeof(url), "DATABASE_URL=%s",
             bs_pg_conninfo(env, dbname, NULL, conninfo, sizeof(conninfo)));
    return bs_test_run(argv, envp, output);
}
