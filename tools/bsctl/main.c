/*
 * bsctl - the operator's tool: database migrations, FAQ re-indexing, audit
 * chain verification, replay of the event log, signing test webhooks and
 * development session tokens, and health checks.
 *
 * Start-up, then one sub-command, then exit with its code.
 */
#include "bsctl.h"

#include "bs/embedder.h"

#include <stdio.h>
#include <string.h>

static const char usage[] =
    "usage: bsctl <command> [arguments]\n"
    "\n"
    "commands:\n"
    "  migrate up [--to N]    apply migrations (all, or up to version N)\n"
    "  migrate down --to N    revert migrations above version N (0: all)\n"
    "  migrate status         list migrations and whether each is applied\n"
    "  webhook sign [--id MSG_ID] [--timestamp UNIX] [--file BODY]\n"
    "                         print Svix headers (curl -H arguments) signing\n"
    "                         BODY (or stdin) with CLERK_WEBHOOK_SECRET\n"
    "  token sign --key PRIVATE.pem --sub USER_ID [--ttl S] [--azp ORIGIN]\n"
    "             [--iss ISSUER]\n"
    "                         print an RS256 session token for the gateway\n"
    "                         (development keys: run/<product>.jwt-*.pem)\n"
    "  faq reindex --product P [--stale | --all | --document ID]\n"
    "              [--window N] [--no-wait] [--timeout S]\n"
    "                         re-embed FAQ documents (default: the stale\n"
    "                         ones), N at a time (default 1000, 0: all at\n"
    "                         once), and show progress until done\n"
    "  faq import --product P --file FAQS.json [--no-wait] [--timeout S]\n"
    "                         publish the file's FAQ documents (upserts,\n"
    "                         checked as the gateway checks them) and wait\n"
    "                         until they are indexed\n"
    "  audit verify --product P\n"
    "                         walk the product's audit hash chain: exit 0\n"
    "                         and the row count when intact, 1 at the first\n"
    "                         row that does not match\n"
    "  replay --product P --topic users|faq|audit|all\n"
    "         [--from-offset N | --from-time ISO8601] [--to-time ISO8601]\n"
    "         [--apply | --dry-run]\n"
    "                         rebuild audit rows from the topics into a\n"
    "                         scratch table and compare with audit_log\n"
    "                         (exit 0 agree, 1 differ, 2 failed)\n"
    "  health URL             GET URL; exit 0 on a 2xx answer within 3 s\n"
    "                         (container health checks)\n"
    "  config                 print the effective configuration and exit";

static const struct bs_config_var bsctl_vars[] = {
    {"DATABASE_URL", NULL, BS_CONFIG_CONNINFO,
     "libpq connection string or URI (an owner role, for migrate)"},
    {"KAFKA_BOOTSTRAP_SERVERS", NULL, 0, "broker list"},
    {"CLERK_WEBHOOK_SECRET", NULL, BS_CONFIG_SECRET,
     "whsec_ secret(s), for webhook sign (the first one signs)"},
    BS_EMBEDDER_CONFIG_VARS, /* faq reindex: the current model's name */
};

struct bsctl_command {
    const char *name;
    int (*run)(struct bs_program *program, int argc, char **argv);
};

/* `config`: start-up has already logged the configuration. */
static int bsctl_config(struct bs_program *program, int argc, char **argv)
{
    return 0;
}

static const struct bsctl_command commands[] = {
    {"migrate", bsctl_migrate}, {"webhook", bsctl_webhook},
    {"token", bsctl_token},     {"faq", bsctl_faq},
    {"audit", bsctl_audit},     {"replay", bsctl_replay},
    {"health", bsctl_health},   {"config", bsctl_config},
};

int main(int argc, char **argv)
{
    struct bs_program program;
    int exit_code;

    if (!bs_program_start(&program, "bsctl", usage, bsctl_vars,
                          sizeof(bsctl_vars) / sizeof(bsctl_vars[0]), argc,
                          argv, &exit_code))
        return exit_code;

    exit_code = 64; /* EX_USAGE */
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
        if (argc >= 2 && strcmp(argv[1], commands[i].name) == 0) {
            exit_code = commands[i].run(&program, argc - 2, argv + 2);
            goto out;
        }
    }
    fprintf(stderr, "bsctl: unknown or missing command%s%s (see --help)\n",
            argc >= 2 ? ": " : "", argc >= 2 ? argv[1] : "");

out:
    bs_program_end(&program);
    return exit_code;
}
