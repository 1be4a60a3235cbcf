/*
 * pg_private.c - see pg_private.h. Runs scripts/pg-cluster.sh and pg_ctl
 * through the shell (as the postgres OS user when the tests run as root,
 * since pg_ctl refuses root); every path comes from the harness, never from
 * test data.
 */
#include "pg_private.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

static void take(const char *line, const char *name, char *out, size_t size)
{
    size_t n = strlen(name), len;
    const char *value;

    if (strncmp(line, "export ", 7) == 0)
        line += 7;
    if (strncmp(line, name, n) != 0 || line[n] != '=')
        return;
    value = line + n + 1;
    len = strlen(value);
    if (len >= 2 && value[0] == '\'' && value[len - 1] == '\'') {
        value++;
        len -= 2;
    }
    snprintf(out, size, "%.*s", (int)len, value);
}

static int load_env(struct bs_pg_private *pg)
{
    char path[600];
    char *text, *line, *save = NULL;

    snprintf(path, sizeof(path), "%s/env", pg->state);
    text = bs_test_read_file(path);
    if (!text) {
        fprintf(stderr, "pg_private: cannot read %s\n", path);
        return -1;
    }
    memset(&pg->env, 0, sizeof(pg->env));
    for (line = strtok_r(text, "\n", &save); line;
         line = strtok_r(NULL, "\n", &save)) {
        take(line, "PGHOST", pg->env.host, sizeof(pg->env.host));
        take(line, "PGPORT", pg->env.port, sizeof(pg->env.port));
        take(line, "PGUSER", pg->env.user, sizeof(pg->env.user));
        take(line, "BS_PG_BIN", pg->env.bin, sizeof(pg->env.bin));
    }
    free(text);
    return pg->env.host[0] && pg->env.port[0] && pg->env.user[0] ? 0 : -1;
}

static int shell(const char *command)
{
    int status = system(command);

    if (status != 0)
        fprintf(stderr, "pg_private: '%s' failed (%d)\n", command, status);
    return status == 0 ? 0 : -1;
}

static int script(const struct bs_pg_private *pg, const char *verb)
{
    char script_path[512], command[1200];

    bs_test_source_path("scripts/pg-cluster.sh", script_path,
                        sizeof(script_path));
    snprintf(command, sizeof(command), "'%s' %s '%s'", script_path, verb,
             pg->state);
    return shell(command);
}

/* pg_ctl <args> on the cluster's data directory, as its OS user. */
static int pg_ctl(const struct bs_pg_private *pg, const char *args)
{
    char command[1600];

    snprintf(command, sizeof(command),
             "%s'%s/pg_ctl' -D '%s/data' %s >/dev/null 2>&1",
             geteuid() == 0 ? "cd / && runuser -u postgres -- " : "",
             pg->env.bin[0] ? pg->env.bin : "/usr/lib/postgresql/15/bin",
             pg->env.host, args);
    return shell(command);
}

int bs_pg_private_start(struct bs_pg_private *pg, const char *name)
{
    bs_test_state_path(name, pg->state, sizeof(pg->state));
    if (script(pg, "start") != 0)
        return -1;
    return load_env(pg);
}

int bs_pg_private_server_stop(const struct bs_pg_private *pg)
{
    return pg_ctl(pg, "stop -m fast -w -t 60");
}

int bs_pg_private_server_start(const struct bs_pg_private *pg)
{
    char args[700];

    snprintf(args, sizeof(args), "start -w -t 60 -l '%s/server.log' -o '-p %s'",
             pg->env.host, pg->env.port);
    return pg_ctl(pg, args);
}

void bs_pg_private_destroy(const struct bs_pg_private *pg)
{
    script(pg, "stop");
}
