/*
 * embed.h - files compiled into a binary by cmake/Embed.cmake.
 *
 * Schemas and migrations are checked in as text and embedded at build time, so
 * a binary never reads the source tree. Each file's data is NUL-terminated
 * (not counted in size) and lives for the whole program.
 */
#ifndef BS_EMBED_H
#define BS_EMBED_H

#include <stddef.h>

struct bs_embedded_file {
    const char *name; /* base name, e.g. "0001_initial.up.sql" */
    const char *data; /* NUL-terminated contents */
    size_t size;      /* bytes, without the terminating NUL */
};

#endif
