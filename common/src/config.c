/*
 * config.c - reading variables from the environment or NAME_FILE, and the
 * start-up sequence every program shares.
 */
#include "bs/config.h"
#include "bs/error.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define BS_CONFIG_FILE_MAX (64 * 1024)

struct bs_config_entry {
    const struct bs_config_var *var;
    char *value;    /* owned; NULL when unset and without default */
    bool from_file; /* given as NAME_FILE */
    bool defaulted; /* value is the declared default */
};

struct bs_config {
    size_t count;
    struct bs_config_var *vars; /* owned copy of the table */
    struct bs_config_entry *entries;
};

static const struct bs_config_var common_vars[] = {
    {"PRODUCT", NULL, 0,
     "the product this process serves (unset: bestays, with a warning)"},
    {"ALLOWED_PRODUCTS", BS_ALLOWED_PRODUCTS_DEFAULT, 0,
     "comma-separated products a deployment may serve"},
    {"LOG_LEVEL", "info", 0, "error, warn, info or debug"},
};

#define COMMON_VAR_COUNT (sizeof(common_vars) / sizeof(common_vars[0]))

/* Reads a whole (small) file; drops one trailing newline. */
static int read_value_file(const char *name, const char *path, char **out,
                           char *errstr, size_t errstr_size)
{
    FILE *file = fopen(path, "rb");
    char *buf = NULL;
    size_t len;
    int result = BS_OK;

    if (!file)
        return bs_fail(errstr, errstr_size, BS_EIO,
                       "%s_FILE: cannot open '%s': %s", name, path,
                       strerror(errno));
    buf = malloc(BS_CONFIG_FILE_MAX + 1);
    if (!buf) {
        result = BS_ENOMEM;
        goto out;
    }
    len = fread(buf, 1, BS_CONFIG_FILE_MAX + 1, file);
    if (ferror(file) || len > BS_CONFIG_FILE_MAX) {
        result = bs_fail(errstr, errstr_size, BS_EIO,
                         "%s_FILE: cannot read '%s' (or over %d bytes)", name,
                         path, BS_CONFIG_FILE_MAX);
        goto out;
    }
    if (len > 0 && buf[len - 1] == '\n')
        len--;
    if (len > 0 && buf[len - 1] == '\r')
        len--;
    buf[len] = '\0';
    *out = buf;
    buf = NULL;
out:
    free(buf);
    fclose(file);
    return result;
}

static int load_entry(struct bs_config_entry *entry, char *errstr,
                      size_t errstr_size)
{
    const char *name = entry->var->name;
    char file_var[128];
    const char *direct = getenv(name);
    const char *path;

    snprintf(file_var, sizeof(file_var), "%s_FILE", name);
    path = getenv(file_var);

    if (direct && path)
        return bs_fail(errstr, errstr_size, BS_ECONFIG,
                       "both %s and %s are set; give only one", name, file_var);
    if (path) {
        entry->from_file = true;
        return read_value_file(name, path, &entry->value, errstr, errstr_size);
    }
    if (direct)
        entry->value = strdup(direct);
    else if (entry->var->default_value) {
        entry->value = strdup(entry->var->default_value);
        entry->defaulted = true;
    } else
        return BS_OK;
    return entry->value ? BS_OK : BS_ENOMEM;
}

int bs_config_load(struct bs_config **out, const struct bs_config_var *vars,
                   size_t nvars, char *errstr, size_t errstr_size)
{
    struct bs_config *config = calloc(1, sizeof(*config));
    int result = BS_ENOMEM;

    *out = NULL;
    if (!config)
        return BS_ENOMEM;
    config->vars = calloc(nvars ? nvars : 1, sizeof(*config->vars));
    config->entries = calloc(nvars ? nvars : 1, sizeof(*config->entries));
    if (!config->vars || !config->entries)
        goto error;
    memcpy(config->vars, vars, nvars * sizeof(*vars));
    config->count = nvars;

    for (size_t i = 0; i < nvars; i++) {
        config->entries[i].var = &config->vars[i];
        result = load_entry(&config->entries[i], errstr, errstr_size);
        if (result != BS_OK)
            goto error;
        if ((vars[i].flags & BS_CONFIG_REQUIRED) && !config->entries[i].value) {
            result = bs_fail(errstr, errstr_size, BS_ECONFIG,
                             "%s is required (see --help)", vars[i].name);
            goto error;
        }
    }
    *out = config;
    return BS_OK;

error:
    bs_config_free(config);
    return result;
}

const char *bs_config_get(const struct bs_config *config, const char *name)
{
    for (size_t i = 0; i < config->count; i++)
        if (strcmp(config->entries[i].var->name, name) == 0)
            return config->entries[i].value;
    return NULL;
}

int bs_config_get_number(const struct bs_config *config, const char *name,
                         long min, long max, long *out, char *errstr,
                         size_t errstr_size)
{
    const char *text = bs_config_get(config, name);
    char *end = NULL;
    long value;

    errno = 0;
    value = text ? strtol(text, &end, 10) : 0;
    if (!text || end == text || *end || errno || value < min || value > max ||
        isspace((unsigned char)text[0]) || text[0] == '+')
        return bs_fail(errstr, errstr_size, BS_ECONFIG,
                       "%s='%s' is not a whole number from %ld to %ld", name,
                       text ? text : "", min, max);
    *out = value;
    return BS_OK;
}

void bs_config_free(struct bs_config *config)
{
    if (!config)
        return;
    if (config->entries)
        for (size_t i = 0; i < config->count; i++)
            free(config->entries[i].value);
    free(config->entries);
    free(config->vars);
    free(config);
}

/* Masks "password=..." in key=value strings. */
static void mask_keyword_password(const char *value, char *buf, size_t buf_size)
{
    const char *hit = strstr(value, "password=");
    const char *end;

    if (!hit) {
        snprintf(buf, buf_size, "%s", value);
        return;
    }
    end = hit + strlen("password=");
    if (*end == '\'') {
        end++;
        while (*end && *end != '\'')
            end += (*end == '\\' && end[1]) ? 2 : 1;
        if (*end)
            end++;
    } else {
        end += strcspn(end, " \t&");
    }
    snprintf(buf, buf_size, "%.*spassword=***%s", (int)(hit - value), value,
             end);
}

void bs_config_mask_conninfo(const char *value, char *buf, size_t buf_size)
{
    const char *scheme_end = strstr(value, "://");
    const char *at, *colon, *host_start;

    if (!scheme_end) {
        mask_keyword_password(value, buf, buf_size);
        return;
    }

    /* URI: mask the password in user:password@host, and any password=
     * query parameter. */
    host_start = scheme_end + 3;
    at = strchr(host_start, '@');
    colon = at ? memchr(host_start, ':', (size_t)(at - host_start)) : NULL;
    if (colon) {
        char tmp[1024];
        snprintf(tmp, sizeof(tmp), "%.*s:***%s", (int)(colon - value), value,
                 at);
        mask_keyword_password(tmp, buf, buf_size);
        return;
    }
    mask_keyword_password(value, buf, buf_size);
}

void bs_config_log(const struct bs_config *config)
{
    for (size_t i = 0; i < config->count; i++) {
        const struct bs_config_entry *entry = &config->entries[i];
        char shown[1024], quoted[1100];

        if (entry->var->flags & BS_CONFIG_SECRET)
            snprintf(shown, sizeof(shown), "%s",
                     entry->value ? "(set)" : "(unset)");
        else if (!entry->value)
            snprintf(shown, sizeof(shown), "(unset)");
        else if (entry->var->flags & BS_CONFIG_CONNINFO)
            bs_config_mask_conninfo(entry->value, shown, sizeof(shown));
        else
            snprintf(shown, sizeof(shown), "%s", entry->value);

        bs_log_info("config name=%s value=%s source=%s", entry->var->name,
                    bs_log_quote(shown, quoted, sizeof(quoted)),
                    entry->from_file   ? "file"
                    : entry->defaulted ? "default"
                    : entry->value     ? "env"
                                       : "none");
    }
}

void bs_program_print_help(FILE *out, const char *service, const char *usage,
                           const struct bs_config_var *vars, size_t nvars)
{
    fprintf(out,
            "%s\n\nEnvironment (any NAME may be given as NAME_FILE, a "
            "file holding the value):\n",
            usage);
    for (size_t i = 0; i < COMMON_VAR_COUNT + nvars; i++) {
        const struct bs_config_var *var = i < COMMON_VAR_COUNT
                                              ? &common_vars[i]
                                              : &vars[i - COMMON_VAR_COUNT];
        fprintf(out, "  %-26s %s", var->name, var->help);
        if (var->default_value)
            fprintf(out, " [default: %s]", var->default_value);
        if (var->flags & BS_CONFIG_REQUIRED)
            fprintf(out, " [required]");
        if (var->flags & BS_CONFIG_SECRET)
            fprintf(out, " [secret]");
        fputc('\n', out);
    }
    (void)service;
}

static bool wants_help(int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
            return true;
    return false;
}

bool bs_program_start(struct bs_program *program, const char *service,
                      const char *usage, const struct bs_config_var *vars,
                      size_t nvars, int argc, char **argv, int *exit_code)
{
    struct bs_config_var *all = NULL;
    enum bs_log_level level = BS_LOG_INFO;
    char errstr[512];
    bool defaulted = false;

    memset(program, 0, sizeof(*program));
    program->service = service;
    *exit_code = 0;

    if (wants_help(argc, argv)) {
        bs_program_print_help(stdout, service, usage, vars, nvars);
        return false;
    }

    /* The common variables come first, so they are also logged first. */
    all = calloc(COMMON_VAR_COUNT + nvars, sizeof(*all));
    if (!all)
        goto fail;
    memcpy(all, common_vars, sizeof(common_vars));
    if (nvars)
        memcpy(all + COMMON_VAR_COUNT, vars, nvars * sizeof(*vars));
    if (bs_config_load(&program->config, all, COMMON_VAR_COUNT + nvars, errstr,
                       sizeof(errstr)) != BS_OK)
        goto fail;

    if (bs_product_resolve(bs_config_get(program->config, "PRODUCT"),
                           bs_config_get(program->config, "ALLOWED_PRODUCTS"),
                           program->product, &defaulted, errstr,
                           sizeof(errstr)) != BS_OK)
        goto fail;

    if (bs_log_level_parse(bs_config_get(program->config, "LOG_LEVEL"),
                           &level) != BS_OK) {
        snprintf(errstr, sizeof(errstr),
                 "LOG_LEVEL='%s' is not one of error, warn, info, debug",
                 bs_config_get(program->config, "LOG_LEVEL"));
        goto fail;
    }

    bs_log_init(service, program->product, level);
    if (defaulted)
        bs_log_warn("product_defaulted product=%s reason=\"PRODUCT unset\"",
                    program->product);
    bs_config_log(program->config);
    free(all);
    return true;

fail:
    fprintf(stderr, "%s: %s\n", service,
            all ? errstr : "out of memory reading the configuration");
    free(all);
    bs_config_free(program->config);
    program->config = NULL;
    *exit_code = 2;
    return false;
}

void bs_program_end(struct bs_program *program)
{
    bs_config_free(program->config);
    program->config = NULL;
}
