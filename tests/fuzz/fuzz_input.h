/*
 * fuzz_input.h - splitting one libFuzzer input into the fields a harness
 * needs, and failing loudly when an invariant breaks.
 *
 * Harnesses take several strings (header values, a mode, a body) from one
 * byte buffer: a leading mode byte, then newline-separated fields, then the
 * rest as a raw body. Newlines rather than NULs keep the seed files
 * readable and editable by hand. Each field is copied into its own
 * malloc'd, NUL-terminated buffer so ASan catches reads past its end.
 */
#ifndef BS_FUZZ_INPUT_H
#define BS_FUZZ_INPUT_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* libFuzzer's entry points (declared for -Wmissing-prototypes). */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

struct fuzz_input {
    const uint8_t *data;
    size_t size;
};

/* The next byte, or 0 when the input is used up. */
static inline uint8_t fuzz_byte(struct fuzz_input *in)
{
    uint8_t b = 0;

    if (in->size > 0) {
        b = in->data[0];
        in->data++;
        in->size--;
    }
    return b;
}

/* A malloc'd copy of `len` bytes plus a NUL (aborts when out of memory:
 * a harness has nothing better to do). */
static inline char *fuzz_copy(const uint8_t *bytes, size_t len)
{
    char *out = malloc(len + 1);

    if (!out)
        abort();
    if (len > 0)
        memcpy(out, bytes, len);
    out[len] = '\0';
    return out;
}

/* The bytes up to the next newline (not included) as a new string; the
 * whole rest when there is no newline. Caller frees. */
static inline char *fuzz_field(struct fuzz_input *in)
{
    const uint8_t *nl = in->size ? memchr(in->data, '\n', in->size) : NULL;
    size_t len = nl ? (size_t)(nl - in->data) : in->size;
    char *out = fuzz_copy(in->data, len);

    in->data += len;
    in->size -= len;
    if (nl) {
        in->data++;
        in->size--;
    }
    return out;
}

/* Whatever is left as a new buffer of exactly that size (NUL after it so
 * text APIs may be used too). Caller frees. */
static inline char *fuzz_rest(struct fuzz_input *in, size_t *len)
{
    char *out = fuzz_copy(in->data, in->size);

    *len = in->size;
    in->data += in->size;
    in->size = 0;
    return out;
}

/* An invariant the code under test promised does not hold: abort, which
 * libFuzzer records as a crash with this line in its log. */
#define FUZZ_CHECK(cond)                                                       \
    do {                                                                       \
        if (!(cond)) {                                                         \
            fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__,         \
                    __LINE__, #cond);                                          \
            abort();                                                           \
        }                                                                      \
    } while (0)

#endif
