/*
 * bsctl - the operator's tool: database migrations (and, as the services
 * grow, replay, re-index, audit verification and signing test webhooks).
 *
 * Start-up, then one sub-command, then exit with its code.
 */
#include "bsctl.h"

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
    "  config                 print the effective configuration and exit";

static const struct bs_config_var bsctl_vars[] = {
    {"DATABASE_URL", NULL, BS_CONFIG_CONNINFO,
     "libpq connection string or URI (an owner role, for migrate)"},
    {"KAFKA_BOOTSTRAP_SERVERS", NULL, 0, "broker list"},
    {"CLERK_WEBHOOK_SECRET", NULL, BS_CONFIG_SECRET,
     "whsec_ secret(s), for webhook sign (the first one signs)"},
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
    {"migrate", bsctl_migrate},
    {"webhook", bsctl_webhook},
    {"faq", bsctl_faq},
    {"audit", bsctl_audit},
    {"replay", bsctl_replay},
    {"config", bsctl_config},
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
