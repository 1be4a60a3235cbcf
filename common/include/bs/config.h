/*
 * config.h - 12-factor configuration and program start-up.
 *
 * A program declares the variables it reads in a table; the common ones
 * (PRODUCT, ALLOWED_PRODUCTS, LOG_LEVEL) are added by bs_program_start().
 * Any variable NAME may instead be given as NAME_FILE, the path of a file
 * holding the value (one trailing newline is dropped); giving both is an
 * error. Secrets are printed only as (set)/(unset); connection strings are
 * printed with their password masked.
 */
#ifndef BS_CONFIG_H
#define BS_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "bs/log.h"
#include "bs/product.h"

enum bs_config_flags {
    BS_CONFIG_SECRET = 1 << 0,   /* never printed, only (set)/(unset) */
    BS_CONFIG_CONNINFO = 1 << 1, /* printed with any password masked */
    BS_CONFIG_REQUIRED = 1 << 2  /* start-up fails when unset */
};

struct bs_config_var {
    const char *name;          /* e.g. "DATABASE_URL" */
    const char *default_value; /* NULL: unset unless given */
    unsigned flags;            /* enum bs_config_flags */
    const char *help;          /* one line for --help */
};

struct bs_config;

/*
 * Reads every variable of `vars` from the environment (or NAME_FILE). On
 * success *out owns the values; free it with bs_config_free(). Returns
 * BS_OK, or BS_ECONFIG/BS_EIO/BS_ENOMEM with a line in errstr.
 */
int bs_config_load(struct bs_config **out, const struct bs_config_var *vars,
                   size_t nvars, char *errstr, size_t errstr_size);

/* The value of `name` (or its default); NULL when unset. The string stays
 * valid until bs_config_free(). */
const char *bs_config_get(const struct bs_config *config, const char *name);

/*
 * The value of `name` as a whole decimal number in [min, max] (digits with an
 * optional leading '-', nothing else). Returns BS_OK, or BS_ECONFIG with a
 * line naming the variable, its value and the range.
 */
int bs_config_get_number(const struct bs_config *config, const char *name,
                         long min, long max, long *out, char *errstr,
                         size_t errstr_size);

/* Logs one line per variable, secrets as (set)/(unset). */
void bs_config_log(const struct bs_config *config);

void bs_config_free(struct bs_config *config);

/* Writes `value` with a libpq URI or key=value password masked. */
void bs_config_mask_conninfo(const char *value, char *buf, size_t buf_size);

/* What every program knows after start-up. */
struct bs_program {
    const char *service; /* static name, e.g. "bsctl" */
    char product[BS_PRODUCT_MAX + 1];
    struct bs_config *config;
};

/*
 * Starts a program: --help/-h anywhere in argv prints the usage and every
 * variable; otherwise loads the configuration, resolves the product
 * (exit 2 with one line on stderr when it is not allowed), initialises
 * logging and logs the effective configuration.
 *
 * Returns true when the program should go on (then free with
 * bs_program_end()), false when it should exit now with *exit_code.
 */
bool bs_program_start(struct bs_program *program, const char *service,
                      const char *usage, const struct bs_config_var *vars,
                      size_t nvars, int argc, char **argv, int *exit_code);

void bs_program_end(struct bs_program *program);

/* Prints the usage text and the table of variables (common ones included). */
void bs_program_print_help(FILE *out, const char *service, const char *usage,
                           const struct bs_config_var *vars, size_t nvars);

#endif
