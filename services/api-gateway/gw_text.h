/*
 * gw_text.h - checks on free text taken from a request's query string.
 *
 * Query values are percent-decoded by the HTTP layer, so `?q=%FF` arrives
 * as the byte 0xFF. PostgreSQL refuses such a parameter with an encoding
 * error, which would surface as a 500; the handlers check their text with
 * gw_text_valid() first and answer 400 instead. Pure functions,
 * thread-safe.
 */
#ifndef GW_TEXT_H
#define GW_TEXT_H

#include <stdbool.h>
#include <stddef.h>

/*
 * True when `text` is well-formed UTF-8 (no overlong forms, no UTF-16
 * surrogates, nothing above U+10FFFF) of 1 to max_bytes bytes. NULL (the
 * parameter is absent) is valid: whether it is required is the caller's
 * business.
 */
bool gw_text_valid(const char *text, size_t max_bytes);

#endif
