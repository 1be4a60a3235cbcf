/*
 * error.c - names for the BS_E* codes and the errstr helper.
 */
#include "bs/error.h"

#include <stdarg.h>
#include <stdio.h>

const char *bs_strerror(int status)
{
    switch (status) {
    case BS_OK:
        return "success";
    case BS_EINVAL:
        return "invalid argument";
    case BS_ENOMEM:
        return "out of memory";
    case BS_EIO:
        return "input/output error";
    case BS_ECONFIG:
        return "configuration error";
    case BS_EDB:
        return "database error";
    case BS_EKAFKA:
        return "broker error";
    case BS_EDECODE:
        return "cannot decode";
    case BS_ENOTFOUND:
        return "not found";
    case BS_ETIMEDOUT:
        return "timed out";
    case BS_EUNAVAILABLE:
        return "service unavailable";
    default:
        return "unknown error";
    }
}

int bs_fail(char *errstr, size_t errstr_size, int status, const char *fmt, ...)
{
    va_list ap;

    if (errstr && errstr_size > 0) {
        va_start(ap, fmt);
        vsnprintf(errstr, errstr_size, fmt, ap);
        va_end(ap);
    }
    return status;
}
