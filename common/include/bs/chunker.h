/*
 * chunker.h - splits a FAQ document's text into overlapping chunks to embed.
 *
 * Paragraphs (blank lines) first, then sentences, then words: a chunk is a
 * run of whole paragraphs/sentences up to max_bytes; a sentence longer than
 * that is cut between words, and a single word longer than that between
 * UTF-8 code points (never inside one). Consecutive chunks share about
 * overlap_bytes of text (whole words) so a passage cut in two is still found;
 * a chunk that ends at a paragraph end cut nothing, so the next one starts
 * with the next paragraph.
 * Whitespace is collapsed; a text with no visible characters has no chunks.
 *
 * BS_CHUNKER_VERSION names this algorithm and its default sizes. It is
 * stored with every embedded document so re-indexing can find documents
 * chunked by an older version (bsctl faq reindex --stale): change it
 * whenever a change here would produce different chunks.
 */
#ifndef BS_CHUNKER_H
#define BS_CHUNKER_H

#include <stddef.h>

#define BS_CHUNKER_VERSION 1

#define BS_CHUNKER_MAX_BYTES_DEFAULT     800
#define BS_CHUNKER_OVERLAP_BYTES_DEFAULT 120

struct bs_chunker_config {
    size_t max_bytes;     /* 0: BS_CHUNKER_MAX_BYTES_DEFAULT; at least 16 */
    size_t overlap_bytes; /* below max_bytes / 2 */
};

struct bs_chunk {
    char *text; /* NUL-terminated, valid UTF-8, owned by the list */
    size_t len; /* bytes, without the NUL */
};

struct bs_chunk_list {
    struct bs_chunk *chunks;
    size_t count;
};

/*
 * Splits text[0..len) into *out (zeroed first; release with
 * bs_chunk_list_free). config NULL: the defaults. Returns BS_OK (count may
 * be 0 for empty or whitespace-only text), BS_EINVAL with a line in errstr
 * for invalid UTF-8 or a NUL byte (a data error: that document cannot be
 * indexed), or BS_ENOMEM.
 */
int bs_chunk_text(const char *text, size_t len,
                  const struct bs_chunker_config *config,
                  struct bs_chunk_list *out, char *errstr, size_t errstr_size);

void bs_chunk_list_free(struct bs_chunk_list *list);

#endif
