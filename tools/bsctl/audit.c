/*
 * audit.c - `bsctl audit verify --product P`.
 *
 * Walks P's audit chain in order with the code audit-writer appends with
 * (bs/audit.h) and says whether it is intact: every row's chain_seq follows
 * the previous one, its prev_hash is the previous row's hash, its hash is
 * its content's, the chain head names the last row and no row of P is
 * outside the chain. The first row that does not match is printed (id,
 * chain_seq, event_id and why); an intact chain prints its row count.
 *
 * DATABASE_URL is an owner role (as for migrate); row-level security is
 * FORCEd even for the owner, so the session sets app.product to P. The walk
 * runs in one REPEATABLE READ, READ ONLY transaction: rows appended while
 * it runs are not half-seen, and nothing is written.
 *
 * Exit codes: 0 intact, 1 not intact or failed, 64 usage error.
 */
#include "bsctl.h"

#include "bs/audit.h"
#include "bs/db.h"
#include "bs/error.h"
#include "bs/log.h"

#include <stdio.h>
#include <string.h>

enum { AUDIT_EXIT_OK = 0, AUDIT_EXIT_FAILED = 1, AUDIT_EXIT_USAGE = 64 };

static int usage_error(const char *problem)
{
    fprintf(stderr,
            "bsctl audit: %s\n"
            "usage: bsctl audit verify --product P\n",
            problem);
    return AUDIT_EXIT_USAGE;
}

/* The product argument, or NULL with *problem set. */
static const char *parse_args(int argc, char **argv, const char **problem)
{
    const char *product = NULL;

    *problem = NULL;
    if (argc < 1 || strcmp(argv[0], "verify") != 0) {
        *problem = "the only command is verify";
        return NULL;
    }
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--product") == 0 && i + 1 < argc)
            product = argv[++i];
        else {
            *problem = "unknown argument";
            return NULL;
        }
    }
    if (!product || !bs_product_name_valid(product)) {
        *problem = "--product P (a valid product name) is required";
        return NULL;
    }
    return product;
}

static void print_result(const char *product,
                         const struct bs_audit_verify_result *r)
{
    if (r->intact) {
        printf("audit chain of %s intact: %lld rows\n", product, r->rows);
        return;
    }
    printf("audit chain of %s BROKEN after %lld good rows\n", product, r->rows);
    if (r->bad_id >= 0)
        printf("  first bad row: id=%lld chain_seq=%lld event_id=%s\n",
               r->bad_id, r->bad_seq, r->bad_event_id);
    else
        printf("  at chain_seq=%lld\n", r->bad_seq);
    printf("  why: %s\n", r->reason);
}

static int verify(PGconn *conn, const char *product,
                  struct bs_audit_verify_result *r, char *errstr,
                  size_t errstr_size)
{
    const char *params[] = {product};
    int result;

    result = bs_db_exec(conn, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
                        errstr, errstr_size);
    if (result == BS_OK)
        result = bs_db_query(conn, "SELECT set_config('app.product', $1, true)",
                             1, params, NULL, errstr, errstr_size);
    if (result == BS_OK)
        result = bs_audit_verify(conn, product, r, errstr, errstr_size);
    bs_db_rollback(conn, NULL, 0);
    return result;
}

int bsctl_audit(struct bs_program *program, int argc, char **argv)
{
    const char *url = bs_config_get(program->config, "DATABASE_URL");
    struct bs_audit_verify_result r;
    const char *problem;
    const char *product = parse_args(argc, argv, &problem);
    char errstr[512], quoted[600];
    PGconn *conn;
    int result;

    if (!product)
        return usage_error(problem);
    if (!url || !*url)
        return usage_error("DATABASE_URL is not set");

    conn = bs_db_connect(url, "bsctl-audit", errstr, sizeof(errstr));
    result = conn ? verify(conn, product, &r, errstr, sizeof(errstr)) : BS_EDB;
    if (conn)
        PQfinish(conn);
    if (result != BS_OK) {
        bs_log_error("audit_verify_failed error=%s",
                     bs_log_quote(errstr, quoted, sizeof(quoted)));
        return AUDIT_EXIT_FAILED;
    }
    print_result(product, &r);
    fflush(stdout);
    return r.intact ? AUDIT_EXIT_OK : AUDIT_EXIT_FAILED;
}
