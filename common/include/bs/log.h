/*
 * log.h - one logging macro family, levels checked before formatting.
 *
 * Every line is key=value on stderr and names the service and the product:
 *
 *   ts=2026-12-03T15:48:47.123Z level=info service=bsctl product=bestays
 *   event=migrated version=2
 *
 * The caller's format starts with the event's name, then key=value pairs:
 * bs_log_info("migrated version=%d", v). Never pass secrets, tokens,
 * signatures, e-mail addresses or whole payloads; values that may hold spaces
 * go through bs_log_quote().
 */
#ifndef BS_LOG_H
#define BS_LOG_H

#include <stdbool.h>
#include <stddef.h>

enum bs_log_level {
    BS_LOG_ERROR = 0,
    BS_LOG_WARN = 1,
    BS_LOG_INFO = 2,
    BS_LOG_DEBUG = 3
};

/* Sets the service and product named on every line; both strings are copied.
 * Before this is called lines say service=- product=-. */
void bs_log_init(const char *service, const char *product,
                 enum bs_log_level level);

/* Parses "error", "warn", "info" or "debug". Returns BS_OK or BS_EINVAL. */
int bs_log_level_parse(const char *text, enum bs_log_level *level);

bool bs_log_enabled(enum bs_log_level level);

void bs__log_write(enum bs_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/*
 * Writes `value` into buf as a log value: unchanged if it is a plain token,
 * else double-quoted with `"`, `\` and control characters escaped; truncated
 * to fit. Returns buf.
 */
const char *bs_log_quote(const char *value, char *buf, size_t buf_size);

#define BS__LOG(level, ...)                                                    \
    do {                                                                       \
        if (bs_log_enabled(level))                                             \
            bs__log_write(level, __VA_ARGS__);                                 \
    } while (0)

#define bs_log_error(...) BS__LOG(BS_LOG_ERROR, __VA_ARGS__)
#define bs_log_warn(...)  BS__LOG(BS_LOG_WARN, __VA_ARGS__)
#define bs_log_info(...)  BS__LOG(BS_LOG_INFO, __VA_ARGS__)
#define bs_log_debug(...) BS__LOG(BS_LOG_DEBUG, __VA_ARGS__)

#endif
