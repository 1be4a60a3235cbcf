/*
 * product.c - validating the configured product against the allowed set.
 */
#include "bs/product.h"
#include "bs/error.h"

#include <stdio.h>
#include <string.h>

bool bs_product_name_valid(const char *name)
{
    size_t len = 0;

    for (const char *p = name; *p; p++, len++) {
        char c = *p;
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
              c == '-'))
            return false;
    }
    return len >= 1 && len <= BS_PRODUCT_MAX;
}

/* Walks the comma-separated list; returns BS_OK if `value` is one entry. */
static int find_in_allowed(const char *allowed, const char *value, bool *found,
                           char *errstr, size_t errstr_size)
{
    const char *start = allowed;

    *found = false;
    for (;;) {
        const char *comma = strchr(start, ',');
        size_t len = comma ? (size_t)(comma - start) : strlen(start);
        char entry[BS_PRODUCT_MAX + 2];

        if (len == 0 || len > BS_PRODUCT_MAX)
            return bs_fail(errstr, errstr_size, BS_ECONFIG,
                           "ALLOWED_PRODUCTS='%s' has an empty or over-long "
                           "entry",
                           allowed);
        memcpy(entry, start, len);
        entry[len] = '\0';
        if (!bs_product_name_valid(entry))
            return bs_fail(errstr, errstr_size, BS_ECONFIG,
                           "ALLOWED_PRODUCTS='%s': '%s' is not a valid product "
                           "name (1-50 of a-z 0-9 _ -)",
                           allowed, entry);
        if (strcmp(entry, value) == 0)
            *found = true;
        if (!comma)
            return BS_OK;
        start = comma + 1;
    }
}

int bs_product_resolve(const char *value, const char *allowed, char *product,
                       bool *defaulted, char *errstr, size_t errstr_size)
{
    bool found;
    int result;

    if (!allowed)
        allowed = BS_ALLOWED_PRODUCTS_DEFAULT;
    *defaulted = (value == NULL);
    if (!value)
        value = BS_PRODUCT_DEFAULT;

    result = find_in_allowed(allowed, value, &found, errstr, errstr_size);
    if (result != BS_OK)
        return result;
    if (!found)
        return bs_fail(errstr, errstr_size, BS_ECONFIG,
                       "PRODUCT='%s' is not one of ALLOWED_PRODUCTS (%s)",
                       value, allowed);

    snprintf(product, BS_PRODUCT_MAX + 1, "%s", value);
    return BS_OK;
}

int bs_product_topic(const char *product, const char *kind, char *buf,
                     size_t buf_size)
{
    int len = snprintf(buf, buf_size, "%s.%s", product, kind);

    if (len < 0 || (size_t)len >= buf_size)
        return BS_EINVAL;
    return BS_OK;
}
