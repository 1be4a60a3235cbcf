/*
 * gw_text.c - UTF-8 and length checks for query text (utf8proc decodes;
 * it refuses overlong forms, surrogates and values above U+10FFFF).
 */
#include "gw_text.h"

#include <string.h>
#include <utf8proc.h>

bool gw_text_valid(const char *text, size_t max_bytes)
{
    const utf8proc_uint8_t *p = (const utf8proc_uint8_t *)text;
    size_t left;

    if (!text)
        return true;
    left = strlen(text);
    if (left == 0 || left > max_bytes)
        return false;
    while (left > 0) {
        utf8proc_int32_t cp;
        utf8proc_ssize_t step =
            utf8proc_iterate(p, (utf8proc_ssize_t)left, &cp);

        if (step < 1)
            return false;
        p += step;
        left -= (size_t)step;
    }
    return true;
}
