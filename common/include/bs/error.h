/*
 * error.h - the one error convention of the shared library.
 *
 * Functions that can fail return 0 (BS_OK) or a negative BS_E* code. Where a
 * caller needs the details, the function also takes `char *errstr, size_t
 * errstr_size` and writes one human-readable line there (never a secret).
 * bs_strerror() names a code.
 */
#ifndef BS_ERROR_H
#define BS_ERROR_H

#include <stddef.h>

enum bs_status {
    BS_OK = 0,
    BS_EINVAL = -1,       /* bad argument or malformed input */
    BS_ENOMEM = -2,       /* allocation failed */
    BS_EIO = -3,          /* file or socket error */
    BS_ECONFIG = -4,      /* configuration error: refuse to start */
    BS_EDB = -5,          /* PostgreSQL error */
    BS_EKAFKA = -6,       /* broker error */
    BS_EDECODE = -7,      /* bytes that cannot be decoded */
    BS_ENOTFOUND = -8,    /* a named thing does not exist */
    BS_ETIMEDOUT = -9,    /* a bounded wait ran out */
    BS_EUNAVAILABLE = -10 /* a remote service is down: try again later */
};

/* Returns a static name for a BS_E* code, e.g. "invalid argument". */
const char *bs_strerror(int status);

/*
 * Formats into errstr (if not NULL) and returns `status`, so an error can be
 * reported and returned in one statement: `return bs_fail(errstr, size,
 * BS_EINVAL, "bad value %s", v);`.
 */
int bs_fail(char *errstr, size_t errstr_size, int status, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#endif
