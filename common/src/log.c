/*
 * log.c - key=value lines on stderr.
 *
 * A line is formatted into one buffer and written with a single fputs, so
 * lines from different threads never interleave. The level is read without a
 * lock: it is set once at start-up.
 */
#include "bs/log.h"
#include "bs/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define BS_LOG_LINE_MAX 2048

static enum bs_log_level log_level = BS_LOG_INFO;
static char log_service[64] = "-";
static char log_product[64] = "-";

static const char *const level_names[] = {"error", "warn", "info", "debug"};

void bs_log_init(const char *service, const char *product,
                 enum bs_log_level level)
{
    snprintf(log_service, sizeof(log_service), "%s", service ? service : "-");
    snprintf(log_product, sizeof(log_product), "%s", product ? product : "-");
    log_level = level;
}

int bs_log_level_parse(const char *text, enum bs_log_level *level)
{
    for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++) {
        if (text && strcmp(text, level_names[i]) == 0) {
            *level = (enum bs_log_level)i;
            return BS_OK;
        }
    }
    return BS_EINVAL;
}

bool bs_log_enabled(enum bs_log_level level)
{
    return level <= log_level;
}

static size_t format_timestamp(char *buf, size_t size)
{
    struct timespec now;
    struct tm tm;
    size_t len;

    clock_gettime(CLOCK_REALTIME, &now);
    gmtime_r(&now.tv_sec, &tm);
    len = strftime(buf, size, "%Y-%m-%dT%H:%M:%S", &tm);
    len += (size_t)snprintf(buf + len, size - len, ".%03ldZ",
                            now.tv_nsec / 1000000L);
    return len;
}

void bs__log_write(enum bs_log_level level, const char *fmt, ...)
{
    char line[BS_LOG_LINE_MAX];
    char ts[40];
    va_list ap;
    int len;

    format_timestamp(ts, sizeof(ts));
    len = snprintf(line, sizeof(line),
                   "ts=%s level=%s service=%s product=%s event=", ts,
                   level_names[level], log_service, log_product);

    va_start(ap, fmt);
    vsnprintf(line + len, sizeof(line) - (size_t)len - 1, fmt, ap);
    va_end(ap);

    /* A too-long line is cut, but always ends with its newline. */
    strcat(line, "\n");
    fputs(line, stderr);
}

static bool is_plain_token(const char *value)
{
    if (*value == '\0')
        return false;
    for (const char *p = value; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if (c <= ' ' || c == '"' || c == '\\' || c == '=' || c >= 0x7f)
            return false;
    }
    return true;
}

const char *bs_log_quote(const char *value, char *buf, size_t buf_size)
{
    size_t out = 0;

    if (buf_size < 3) {
        if (buf_size > 0)
            buf[0] = '\0';
        return buf;
    }
    if (!value)
        value = "";
    if (is_plain_token(value)) {
        snprintf(buf, buf_size, "%s", value);
        return buf;
    }

    buf[out++] = '"';
    for (const char *p = value; *p && out + 5 < buf_size; p++) {
        unsigned char c = (unsigned char)*p;
        if (c == '"' || c == '\\') {
            buf[out++] = '\\';
            buf[out++] = (char)c;
        } else if (c < ' ' || c == 0x7f) {
            out += (size_t)snprintf(buf + out, buf_size - out, "\\x%02x", c);
        } else {
            buf[out++] = (char)c;
        }
    }
    buf[out++] = '"';
    buf[out] = '\0';
    return buf;
}
