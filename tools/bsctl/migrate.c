/*
 * migrate.c - `bsctl migrate up [--to N] | down --to N | status`.
 *
 * Migrations are the SQL files compiled into bsctl from schemas/sql/:
 * NNNN_<name>.up.sql and NNNN_<name>.down.sql, numbered 1, 2, 3... without
 * gaps. The table schema_migrations records which are applied, with the
 * SHA-256 of each up file as it was applied.
 *
 * How a run goes: connect with DATABASE_URL (an owner or superuser role),
 * take a session advisory lock (a second concurrent run waits here, then
 * finds nothing left to do), create schema_migrations if missing, read it,
 * and refuse to go on if an applied migration is unknown to this binary or
 * its file changed since it was applied. Then apply (or revert) one
 * migration per transaction, recording it in the same transaction, so a
 * failure leaves the database at the last good version.
 *
 * `status` only reads: it takes no lock and creates nothing.
 *
 * Not here: the SQL itself, reverting a migration whose down file changed
 * (only up files are checksummed), locking out the services while a
 * migration runs.
 *
 * Exit codes: 0 done, 1 failed (nothing half-applied), 64 usage error.
 */
#include "bsctl.h"

#include "bs/db.h"
#include "bs/embed.h"
#include "bs/error.h"
#include "bs/log.h"

#include <openssl/evp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

extern const struct bs_embedded_file bs_embedded_sql_files[];
extern const size_t bs_embedded_sql_count;

enum { MIGRATE_EXIT_OK = 0, MIGRATE_EXIT_FAILED = 1, MIGRATE_EXIT_USAGE = 64 };

#define MIGRATE_VERSION_MAX 9999 /* four digits in the file name */
#define MIGRATE_NAME_MAX    63
#define MIGRATE_SHA256_HEX  64

/* pg_advisory_lock key of migration runs: "bs_migra" as a big-endian int64.
 * Advisory locks are per database, so migrations of different databases of
 * one cluster do not wait for each other. */
#define MIGRATE_LOCK_KEY "7094118761563124321"

enum migrate_command { MIGRATE_UP, MIGRATE_DOWN, MIGRATE_STATUS };

struct migrate_args {
    enum migrate_command command;
    int target; /* -1: not given */
};

/* One embedded migration and what the database says about it. */
struct migration {
    int version;
    char name[MIGRATE_NAME_MAX + 1];
    const char *up_sql;
    const char *down_sql;
    char checksum[MIGRATE_SHA256_HEX + 1]; /* of up_sql */
    bool applied;
    bool checksum_mismatch;
    char applied_at[32];
};

struct migrator {
    PGconn *conn;
    struct migration *list; /* list[i].version == i + 1 */
    int count;
    int current; /* highest applied version, 0 when none */
    bool locked;
    char errstr[512];
};

static int usage_error(const char *message)
{
    fprintf(stderr, "bsctl migrate: %s (see bsctl --help)\n", message);
    return MIGRATE_EXIT_USAGE;
}

/* Parses a version number 0..MIGRATE_VERSION_MAX; -1 when it is not one. */
static int parse_version(const char *text)
{
    char *end;
    long value;

    if (!text || *text < '0' || *text > '9')
        return -1;
    value = strtol(text, &end, 10);
    if (*end != '\0' || value > MIGRATE_VERSION_MAX)
        return -1;
    return (int)value;
}

/* up [--to N] | down --to N | status. Returns NULL, or what is wrong. */
static const char *parse_args(int argc, char **argv, struct migrate_args *args)
{
    const char *to_text = NULL;

    args->target = -1;
    if (argc < 1)
        return "missing sub-command: up, down or status";
    if (strcmp(argv[0], "up") == 0)
        args->command = MIGRATE_UP;
    else if (strcmp(argv[0], "down") == 0)
        args->command = MIGRATE_DOWN;
    else if (strcmp(argv[0], "status") == 0)
        args->command = MIGRATE_STATUS;
    else
        return "unknown sub-command";

    /* The only option: --to N or --to=N, once, not for status. */
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--to") == 0 && i + 1 < argc && !to_text)
            to_text = argv[++i];
        else if (strncmp(argv[i], "--to=", 5) == 0 && !to_text)
            to_text = argv[i] + 5;
        else
            return "unexpected argument";
    }
    if (to_text && args->command == MIGRATE_STATUS)
        return "status takes no --to";
    if (!to_text && args->command == MIGRATE_DOWN)
        return "down needs --to N (0 reverts everything)";
    if (to_text && (args->target = parse_version(to_text)) < 0)
        return "--to needs a version number";
    return NULL;
}

/* SHA-256 of `data` as lowercase hex into hex (65 bytes). */
static int sha256_hex(const char *data, size_t size, char *hex)
{
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int len = 0;

    if (!EVP_Digest(data, size, digest, &len, EVP_sha256(), NULL) ||
        len * 2 != MIGRATE_SHA256_HEX)
        return BS_EIO;
    for (unsigned int i = 0; i < len; i++)
        snprintf(hex + 2 * i, 3, "%02x", digest[i]);
    return BS_OK;
}

/*
 * Splits "NNNN_<name>.up.sql" / "NNNN_<name>.down.sql" (name: [a-z0-9_]).
 * Returns BS_OK, or BS_EINVAL for any other file name.
 */
static int parse_file_name(const char *file, int *version, char *name,
                           bool *is_up)
{
    const char *rest = file + 5, *suffix;
    size_t len;

    for (int i = 0; i < 4; i++)
        if (file[i] < '0' || file[i] > '9')
            return BS_EINVAL;
    if (file[4] != '_')
        return BS_EINVAL;
    *version = atoi(file);

    /* The suffix says the direction; the name is what lies between. */
    suffix = strchr(rest, '.');
    if (!suffix || suffix == rest)
        return BS_EINVAL;
    if (strcmp(suffix, ".up.sql") == 0)
        *is_up = true;
    else if (strcmp(suffix, ".down.sql") == 0)
        *is_up = false;
    else
        return BS_EINVAL;
    len = (size_t)(suffix - rest);
    if (len > MIGRATE_NAME_MAX || strspn(rest, "abcdefghijklmnopqrstuvwxyz"
                                               "0123456789_") != len)
        return BS_EINVAL;
    memcpy(name, rest, len);
    name[len] = '\0';
    return BS_OK;
}

/* Files one embedded file into m->list (sized for the highest version). */
static int migrations_add_file(struct migrator *m,
                               const struct bs_embedded_file *file)
{
    char name[MIGRATE_NAME_MAX + 1];
    struct migration *mig;
    int version;
    bool is_up;

    if (parse_file_name(file->name, &version, name, &is_up) != BS_OK ||
        version < 1 || version > m->count)
        return bs_fail(m->errstr, sizeof(m->errstr), BS_EINVAL,
                       "bad migration file name %s", file->name);

    mig = &m->list[version - 1];
    if (mig->version && strcmp(mig->name, name) != 0)
        return bs_fail(m->errstr, sizeof(m->errstr), BS_EINVAL,
                       "migration %04d has two names", version);
    if ((is_up && mig->up_sql) || (!is_up && mig->down_sql))
        return bs_fail(m->errstr, sizeof(m->errstr), BS_EINVAL,
                       "migration %04d appears twice", version);

    mig->version = version;
    snprintf(mig->name, sizeof(mig->name), "%s", name);
    if (!is_up) {
        mig->down_sql = file->data;
        return BS_OK;
    }
    mig->up_sql = file->data;
    return sha256_hex(file->data, file->size, mig->checksum);
}

/* Builds m->list from the embedded files: versions 1..count, each with an
 * up and a down file. */
static int migrations_load(struct migrator *m)
{
    int version, status;
    char name[MIGRATE_NAME_MAX + 1];
    bool is_up;

    /* The highest version sizes the list; a gap shows up as a hole. */
    m->count = 0;
    for (size_t i = 0; i < bs_embedded_sql_count; i++)
        if (parse_file_name(bs_embedded_sql_files[i].name, &version, name,
                            &is_up) == BS_OK &&
            version > m->count)
            m->count = version;
    if (m->count == 0)
        return bs_fail(m->errstr, sizeof(m->errstr), BS_EINVAL,
                       "no migrations compiled in");
    m->list = calloc((size_t)m->count, sizeof(*m->list));
    if (!m->list)
        return bs_fail(m->errstr, sizeof(m->errstr), BS_ENOMEM,
                       "out of memory");

    for (size_t i = 0; i < bs_embedded_sql_count; i++) {
        status = migrations_add_file(m, &bs_embedded_sql_files[i]);
        if (status != BS_OK)
            return status;
    }
    for (int i = 0; i < m->count; i++)
        if (!m->list[i].up_sql || !m->list[i].down_sql)
            return bs_fail(m->errstr, sizeof(m->errstr), BS_EINVAL,
                           "migration %04d lacks its up or down file", i + 1);
    return BS_OK;
}

/* Session advisory lock; says so in the log when it has to wait. */
static int migrator_lock(struct migrator *m)
{
    PGresult *res = NULL;
    bool got;
    int status;

    status = bs_db_query(m->conn,
                         "SELECT pg_try_advisory_lock(" MIGRATE_LOCK_KEY ")", 0,
                         NULL, &res, m->errstr, sizeof(m->errstr));
    got = status == BS_OK && strcmp(PQgetvalue(res, 0, 0), "t") == 0;
    PQclear(res);
    if (status != BS_OK)
        return status;

    if (!got) {
        bs_log_info("migration_lock_wait reason=another_migration_running");
        status =
            bs_db_exec(m->conn, "SELECT pg_advisory_lock(" MIGRATE_LOCK_KEY ")",
                       m->errstr, sizeof(m->errstr));
        if (status != BS_OK)
            return status;
    }
    m->locked = true;
    return BS_OK;
}

/* True when schema_migrations exists (in the search path). */
static int state_table_exists(struct migrator *m, bool *exists)
{
    PGresult *res = NULL;
    int status;

    status = bs_db_query(m->conn,
                         "SELECT to_regclass('schema_migrations') IS NOT NULL",
                         0, NULL, &res, m->errstr, sizeof(m->errstr));
    if (status == BS_OK)
        *exists = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
    PQclear(res);
    return status;
}

/* Creates schema_migrations if missing (under the lock: no race). */
static int state_table_create(struct migrator *m)
{
    bool exists = false;
    int status = state_table_exists(m, &exists);

    if (status != BS_OK || exists)
        return status;
    return bs_db_exec(m->conn,
                      "CREATE TABLE schema_migrations ("
                      " version INTEGER PRIMARY KEY,"
                      " name TEXT NOT NULL,"
                      " checksum TEXT NOT NULL,"
                      " applied_at TIMESTAMPTZ NOT NULL DEFAULT now())",
                      m->errstr, sizeof(m->errstr));
}

/* Marks one schema_migrations row on its migration. */
static int state_apply_row(struct migrator *m, const PGresult *res, int row)
{
    int version = atoi(PQgetvalue(res, row, 0));
    struct migration *mig;

    if (version < 1 || version > m->count)
        return bs_fail(m->errstr, sizeof(m->errstr), BS_EINVAL,
                       "the database has migration %d, which this bsctl "
                       "does not know (a newer bsctl applied it?)",
                       version);
    mig = &m->list[version - 1];
    mig->applied = true;
    mig->checksum_mismatch =
        strcmp(PQgetvalue(res, row, 1), mig->checksum) != 0;
    snprintf(mig->applied_at, sizeof(mig->applied_at), "%s",
             PQgetvalue(res, row, 2));
    return BS_OK;
}

/* Reads schema_migrations (if it exists) into m->list and m->current;
 * applied versions must be 1..current without holes. */
static int state_read(struct migrator *m)
{
    PGresult *res = NULL;
    bool exists = false;
    int status;

    status = state_table_exists(m, &exists);
    if (status != BS_OK || !exists)
        return status;

    status = bs_db_query(m->conn,
                         "SELECT version, checksum, to_char(applied_at AT "
                         "TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') "
                         "FROM schema_migrations ORDER BY version",
                         0, NULL, &res, m->errstr, sizeof(m->errstr));
    for (int row = 0; status == BS_OK && row < PQntuples(res); row++)
        status = state_apply_row(m, res, row);
    PQclear(res);
    if (status != BS_OK)
        return status;

    m->current = 0;
    for (int i = 0; i < m->count && m->list[i].applied; i++)
        m->current = i + 1;
    for (int i = m->current; i < m->count; i++)
        if (m->list[i].applied)
            return bs_fail(m->errstr, sizeof(m->errstr), BS_EINVAL,
                           "schema_migrations has %04d but not %04d", i + 1,
                           m->current + 1);
    return BS_OK;
}

/* Refuses when an applied migration's file changed since it was applied. */
static int state_verify(struct migrator *m)
{
    int mismatches = 0;

    for (int i = 0; i < m->count; i++) {
        if (!m->list[i].checksum_mismatch)
            continue;
        bs_log_error("migration_checksum_mismatch version=%d name=%s",
                     m->list[i].version, m->list[i].name);
        mismatches++;
    }
    if (mismatches)
        return bs_fail(m->errstr, sizeof(m->errstr), BS_EINVAL,
                       "%d applied migration(s) differ from their file: "
                       "an applied migration was edited; restore the file "
                       "and write a new migration instead",
                       mismatches);
    return BS_OK;
}

/* Connects; for changes also locks and creates schema_migrations. */
static int migrator_open(struct migrator *m, const char *url, bool change)
{
    int status;

    m->conn = bs_db_connect(url, "bsctl-migrate", m->errstr, sizeof(m->errstr));
    if (!m->conn)
        return BS_EDB;
    if (change) {
        status = migrator_lock(m);
        if (status == BS_OK)
            status = state_table_create(m);
        if (status != BS_OK)
            return status;
    }
    return state_read(m);
}

static void migrator_close(struct migrator *m)
{
    if (m->conn && m->locked)
        PQclear(
            PQexec(m->conn, "SELECT pg_advisory_unlock(" MIGRATE_LOCK_KEY ")"));
    if (m->conn)
        PQfinish(m->conn);
    free(m->list);
}

/* Appends where in `sql` a failure happened: the statement's number and,
 * when the server gives a position, its line. */
static void describe_failure(struct migrator *m, const char *sql,
                             const PGresult *failed, int statement)
{
    const char *position =
        PQresultErrorField(failed, PG_DIAG_STATEMENT_POSITION);
    size_t len = strlen(m->errstr);
    int line = 1;

    for (long i = 0; position && i < atol(position) - 1 && sql[i]; i++)
        line += sql[i] == '\n';
    if (len + 1 >= sizeof(m->errstr))
        return;
    if (position)
        snprintf(m->errstr + len, sizeof(m->errstr) - len,
                 " in statement %d at line %d", statement, line);
    else
        snprintf(m->errstr + len, sizeof(m->errstr) - len, " in statement %d",
                 statement);
}

/* Runs a migration file. libpq returns one result per statement, so on an
 * error the count of results before it says which statement failed. */
static int run_sql_file(struct migrator *m, const char *sql)
{
    PGresult *res, *failed = NULL;
    ExecStatusType result_status;
    int done = 0, status = BS_OK;

    if (!PQsendQuery(m->conn, sql))
        return bs_db_result_error(m->conn, NULL, m->errstr, sizeof(m->errstr));

    while ((res = PQgetResult(m->conn)) != NULL) {
        result_status = PQresultStatus(res);
        if (!failed && result_status != PGRES_COMMAND_OK &&
            result_status != PGRES_TUPLES_OK) {
            failed = res;
            continue;
        }
        done++;
        PQclear(res);
    }

    if (failed) {
        status =
            bs_db_result_error(m->conn, failed, m->errstr, sizeof(m->errstr));
        describe_failure(m, sql, failed, done + 1);
        PQclear(failed);
    }
    return status;
}

static long elapsed_ms(const struct timespec *start)
{
    struct timespec now;

    clock_gettime(CLOCK_MONOTONIC, &now);
    return (now.tv_sec - start->tv_sec) * 1000L +
           (now.tv_nsec - start->tv_nsec) / 1000000L;
}

/* Applies or reverts one migration and records it, in one transaction. */
static int migration_run(struct migrator *m, const struct migration *mig,
                         bool up)
{
    char version[16];
    const char *insert_params[] = {version, mig->name, mig->checksum};
    struct timespec start;
    int status;

    clock_gettime(CLOCK_MONOTONIC, &start);
    snprintf(version, sizeof(version), "%d", mig->version);

    status = bs_db_exec(m->conn, "BEGIN", m->errstr, sizeof(m->errstr));
    if (status == BS_OK)
        status = run_sql_file(m, up ? mig->up_sql : mig->down_sql);
    if (status == BS_OK && up)
        status =
            bs_db_query(m->conn,
                        "INSERT INTO schema_migrations "
                        "(version, name, checksum) VALUES ($1, $2, $3)",
                        3, insert_params, NULL, m->errstr, sizeof(m->errstr));
    if (status == BS_OK && !up)
        status = bs_db_query(
            m->conn, "DELETE FROM schema_migrations WHERE version = $1", 1,
            insert_params, NULL, m->errstr, sizeof(m->errstr));
    if (status == BS_OK)
        status = bs_db_commit(m->conn, m->errstr, sizeof(m->errstr));

    if (status != BS_OK) {
        if (PQtransactionStatus(m->conn) != PQTRANS_IDLE)
            bs_db_rollback(m->conn, NULL, 0);
        bs_log_error("migration_failed version=%d name=%s direction=%s",
                     mig->version, mig->name, up ? "up" : "down");
        return status;
    }
    bs_log_info("migration_applied version=%d name=%s direction=%s ms=%ld",
                mig->version, mig->name, up ? "up" : "down",
                elapsed_ms(&start));
    return BS_OK;
}

static int migrate_up(struct migrator *m, int target)
{
    int status = state_verify(m);

    if (status != BS_OK)
        return status;
    if (target <= m->current) {
        bs_log_info("migrations_current version=%d target=%d", m->current,
                    target);
        return BS_OK;
    }
    for (int v = m->current + 1; v <= target; v++) {
        status = migration_run(m, &m->list[v - 1], true);
        if (status != BS_OK)
            return status;
    }
    return BS_OK;
}

static int migrate_down(struct migrator *m, int target)
{
    int status = state_verify(m);

    if (status != BS_OK)
        return status;
    if (target >= m->current) {
        bs_log_info("migrations_current version=%d target=%d", m->current,
                    target);
        return BS_OK;
    }
    for (int v = m->current; v > target; v--) {
        status = migration_run(m, &m->list[v - 1], false);
        if (status != BS_OK)
            return status;
    }
    return BS_OK;
}

/* One line per migration on stdout; a changed file fails the command. */
static int migrate_status(struct migrator *m)
{
    printf("%-7s  %-24s  %-8s  %-20s  %s\n", "version", "name", "state",
           "applied_at", "checksum");
    for (int i = 0; i < m->count; i++) {
        const struct migration *mig = &m->list[i];

        printf("%04d     %-24s  %-8s  %-20s  %s\n", mig->version, mig->name,
               mig->applied ? "applied" : "pending",
               mig->applied ? mig->applied_at : "-",
               !mig->applied            ? "-"
               : mig->checksum_mismatch ? "MISMATCH"
                                        : "ok");
    }
    fflush(stdout);
    return state_verify(m);
}

int bsctl_migrate(struct bs_program *program, int argc, char **argv)
{
    struct migrator m = {0};
    struct migrate_args args;
    const char *url = bs_config_get(program->config, "DATABASE_URL");
    const char *problem = parse_args(argc, argv, &args);
    char quoted[600];
    int status, exit_code;

    if (problem)
        return usage_error(problem);
    if (!url || !*url)
        return usage_error("DATABASE_URL is not set");

    /* What this binary carries, then what the database has. */
    status = migrations_load(&m);
    if (status == BS_OK && args.command == MIGRATE_UP && args.target < 0)
        args.target = m.count;
    if (status == BS_OK && args.target > m.count) {
        exit_code = usage_error("--to is beyond the newest migration");
        goto out;
    }
    if (status == BS_OK)
        status = migrator_open(&m, url, args.command != MIGRATE_STATUS);

    if (status == BS_OK && args.command == MIGRATE_UP)
        status = migrate_up(&m, args.target);
    else if (status == BS_OK && args.command == MIGRATE_DOWN)
        status = migrate_down(&m, args.target);
    else if (status == BS_OK)
        status = migrate_status(&m);

    if (status != BS_OK)
        bs_log_error("migrate_failed error=%s",
                     bs_log_quote(m.errstr, quoted, sizeof(quoted)));
    exit_code = status == BS_OK ? MIGRATE_EXIT_OK : MIGRATE_EXIT_FAILED;

out:
    migrator_close(&m);
    return exit_code;
}
