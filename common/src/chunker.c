/*
 * chunker.c - splits a document's text into overlapping chunks to embed.
 *
 * Three passes over the text:
 *   1. scan: validate UTF-8 (utf8proc) and cut the text into words (runs of
 *      non-whitespace), remembering for each word whether a sentence or a
 *      paragraph ends after it. A word longer than max_bytes is cut into
 *      pieces between code points here, so later passes only see words that
 *      fit in a chunk.
 *   2. pack: greedily take words from a start word while they fit, then
 *      move the end back to the last paragraph end in that window, else the
 *      last sentence end, else keep the last word that fits.
 *   3. overlap: the next chunk starts a few whole words before the end of
 *      the previous one (about overlap_bytes, at a sentence start if one is
 *      that close) unless the cut fell on a paragraph end, where nothing
 *      was cut in two.
 * Words are joined with one space, so all whitespace is collapsed. Sizes
 * come from a prefix sum over word lengths, so packing is linear.
 */
#include "bs/chunker.h"
#include "bs/error.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#define MIN_MAX_BYTES 16

enum word_flags { WORD_ENDS_SENTENCE = 1 << 0, WORD_ENDS_PARAGRAPH = 1 << 1 };

struct word {
    const char *start;
    size_t len;
    unsigned flags;
};

struct word_list {
    struct word *words;
    size_t count;
    size_t capacity;
};

/* Whitespace for splitting: Unicode separators, C0/C1 controls, and the
 * invisible zero width space, word joiner and byte order mark (an editor's
 * BOM would otherwise stick to the first word). */
static bool is_space(utf8proc_int32_t cp)
{
    utf8proc_category_t category;

    if (cp < 0x80)
        return cp <= 0x20 || cp == 0x7f;
    if (cp == 0x200B || cp == 0x2060 || cp == 0xFEFF)
        return true;
    category = utf8proc_category(cp);
    return category == UTF8PROC_CATEGORY_ZS ||
           category == UTF8PROC_CATEGORY_ZL ||
           category == UTF8PROC_CATEGORY_ZP || category == UTF8PROC_CATEGORY_CC;
}

/* Characters that may follow a sentence's final mark: closing quotes and
 * brackets ("Done." or (see above.) ). */
static bool is_closing(utf8proc_int32_t cp)
{
    return cp == '"' || cp == '\'' || cp == ')' || cp == ']' || cp == 0x2019 ||
           cp == 0x201D || cp == 0x00BB;
}

static bool is_sentence_mark(utf8proc_int32_t cp)
{
    return cp == '.' || cp == '!' || cp == '?' || cp == 0x2026 ||
           cp == 0x3002 || cp == 0xFF01 || cp == 0xFF1F;
}

static int word_list_push(struct word_list *list, const char *start, size_t len)
{
    if (list->count == list->capacity) {
        size_t capacity = list->capacity ? list->capacity * 2 : 64;
        struct word *words = realloc(list->words, capacity * sizeof(*words));

        if (!words)
            return BS_ENOMEM;
        list->words = words;
        list->capacity = capacity;
    }
    list->words[list->count++] = (struct word){start, len, 0};
    return BS_OK;
}

/* Adds one word, cut between code points into pieces of at most max_bytes.
 * The word is valid UTF-8 (checked by the scan). */
static int add_word(struct word_list *list, const char *start, size_t len,
                    size_t max_bytes)
{
    while (len > max_bytes) {
        size_t cut = max_bytes;

        /* back off continuation bytes (10xxxxxx) to a code point start */
        while (cut > 0 && ((unsigned char)start[cut] & 0xC0) == 0x80)
            cut--;
        if (word_list_push(list, start, cut) != BS_OK)
            return BS_ENOMEM;
        start += cut;
        len -= cut;
    }
    return word_list_push(list, start, len);
}

/* Whether the word ends a sentence: a final mark, maybe then closers. */
static bool word_ends_sentence(const char *start, size_t len)
{
    size_t end = len;

    while (end > 0) {
        size_t begin = end - 1;
        utf8proc_int32_t cp;

        while (begin > 0 && ((unsigned char)start[begin] & 0xC0) == 0x80)
            begin--;
        utf8proc_iterate((const utf8proc_uint8_t *)start + begin,
                         (utf8proc_ssize_t)(end - begin), &cp);
        if (is_sentence_mark(cp))
            return true;
        if (!is_closing(cp))
            return false;
        end = begin;
    }
    return false;
}

/*
 * Pass 1: validates and splits text into words. A paragraph ends at a
 * whitespace run holding two line breaks (or U+2029) and at the end of the
 * text.
 */
static int scan_words(const char *text, size_t len, size_t max_bytes,
                      struct word_list *list, char *errstr, size_t errstr_size)
{
    size_t pos = 0, word_start = 0, newlines = 0;
    bool in_word = false;

    while (pos < len) {
        utf8proc_int32_t cp;
        utf8proc_ssize_t n =
            utf8proc_iterate((const utf8proc_uint8_t *)text + pos,
                             (utf8proc_ssize_t)(len - pos), &cp);

        if (n < 0)
            return bs_fail(errstr, errstr_size, BS_EINVAL,
                           "invalid UTF-8 at byte %zu", pos);
        if (cp == 0)
            return bs_fail(errstr, errstr_size, BS_EINVAL,
                           "NUL byte at byte %zu", pos);

        if (!is_space(cp)) {
            if (!in_word && newlines >= 2 && list->count > 0)
                list->words[list->count - 1].flags |= WORD_ENDS_PARAGRAPH;
            if (!in_word)
                word_start = pos;
            in_word = true;
            newlines = 0;
        } else {
            if (in_word && add_word(list, text + word_start, pos - word_start,
                                    max_bytes) != BS_OK)
                return BS_ENOMEM;
            in_word = false;
            if (cp == '\n')
                newlines++;
            else if (cp == 0x2029)
                newlines += 2;
        }
        pos += (size_t)n;
    }
    if (in_word &&
        add_word(list, text + word_start, pos - word_start, max_bytes) != BS_OK)
        return BS_ENOMEM;

    for (size_t i = 0; i < list->count; i++)
        if (word_ends_sentence(list->words[i].start, list->words[i].len))
            list->words[i].flags |= WORD_ENDS_SENTENCE;
    if (list->count > 0)
        list->words[list->count - 1].flags |= WORD_ENDS_PARAGRAPH;
    return BS_OK;
}

/* Bytes of words [first, last] joined by single spaces; offsets[i] is the
 * joined length of words [0, i) plus i. */
static size_t span_bytes(const size_t *offsets, size_t first, size_t last)
{
    return offsets[last + 1] - offsets[first] - 1;
}

/*
 * Pass 2: the last word of the chunk starting at `first`: as many words as
 * fit, then back to the last paragraph end, else the last sentence end.
 */
static size_t pack_end(const struct word_list *list, const size_t *offsets,
                       size_t first, size_t max_bytes)
{
    size_t last = first, sentence_end = SIZE_MAX, paragraph_end = SIZE_MAX;

    while (last + 1 < list->count &&
           span_bytes(offsets, first, last + 1) <= max_bytes)
        last++;
    if (last + 1 == list->count)
        return last;
    for (size_t i = first; i <= last; i++) {
        if (list->words[i].flags & WORD_ENDS_PARAGRAPH)
            paragraph_end = i;
        if (list->words[i].flags & WORD_ENDS_SENTENCE)
            sentence_end = i;
    }
    if (paragraph_end != SIZE_MAX)
        return paragraph_end;
    if (sentence_end != SIZE_MAX)
        return sentence_end;
    return last;
}

/*
 * Pass 3: where the chunk after [first, last] starts: whole words from the
 * end of this one worth at most overlap_bytes, while the next word still
 * fits after them, and always after `first` so the chunker moves on. Within
 * that budget, the overlap starts at a sentence start when there is one, so
 * a chunk rarely opens mid-sentence.
 */
static size_t next_start(const struct word_list *list, const size_t *offsets,
                         size_t first, size_t last,
                         const struct bs_chunker_config *config)
{
    size_t start = last + 1, sentence_start = SIZE_MAX;

    if (list->words[last].flags & WORD_ENDS_PARAGRAPH)
        return start;
    while (start - 1 > first &&
           span_bytes(offsets, start - 1, last) <= config->overlap_bytes &&
           span_bytes(offsets, start - 1, last + 1) <= config->max_bytes) {
        start--;
        if (list->words[start - 1].flags & WORD_ENDS_SENTENCE)
            sentence_start = start;
    }
    return sentence_start != SIZE_MAX ? sentence_start : start;
}

static int chunk_list_push(struct bs_chunk_list *out, const struct word *words,
                           size_t count, size_t bytes)
{
    struct bs_chunk *chunks;
    char *text, *p;

    chunks = realloc(out->chunks, (out->count + 1) * sizeof(*chunks));
    if (!chunks)
        return BS_ENOMEM;
    out->chunks = chunks;
    text = malloc(bytes + 1);
    if (!text)
        return BS_ENOMEM;

    p = text;
    for (size_t i = 0; i < count; i++) {
        if (i > 0)
            *p++ = ' ';
        memcpy(p, words[i].start, words[i].len);
        p += words[i].len;
    }
    *p = '\0';
    out->chunks[out->count++] = (struct bs_chunk){text, bytes};
    return BS_OK;
}

static int check_config(const struct bs_chunker_config *config,
                        struct bs_chunker_config *effective, char *errstr,
                        size_t errstr_size)
{
    if (!config) {
        effective->max_bytes = BS_CHUNKER_MAX_BYTES_DEFAULT;
        effective->overlap_bytes = BS_CHUNKER_OVERLAP_BYTES_DEFAULT;
        return BS_OK;
    }
    *effective = *config;
    if (effective->max_bytes == 0)
        effective->max_bytes = BS_CHUNKER_MAX_BYTES_DEFAULT;
    if (effective->max_bytes < MIN_MAX_BYTES)
        return bs_fail(errstr, errstr_size, BS_EINVAL,
                       "chunk size %zu is below %d bytes", effective->max_bytes,
                       MIN_MAX_BYTES);
    if (effective->overlap_bytes >= effective->max_bytes / 2)
        return bs_fail(errstr, errstr_size, BS_EINVAL,
                       "chunk overlap %zu is not below half the size %zu",
                       effective->overlap_bytes, effective->max_bytes);
    return BS_OK;
}

int bs_chunk_text(const char *text, size_t len,
                  const struct bs_chunker_config *config,
                  struct bs_chunk_list *out, char *errstr, size_t errstr_size)
{
    struct bs_chunker_config effective;
    struct word_list list = {0};
    size_t *offsets = NULL;
    int result;

    memset(out, 0, sizeof(*out));
    result = check_config(config, &effective, errstr, errstr_size);
    if (result == BS_OK && len > 0 && !text)
        result = bs_fail(errstr, errstr_size, BS_EINVAL, "no text");
    if (result == BS_OK)
        result = scan_words(text, len, effective.max_bytes, &list, errstr,
                            errstr_size);
    if (result != BS_OK || list.count == 0)
        goto out;

    offsets = malloc((list.count + 1) * sizeof(*offsets));
    if (!offsets) {
        result = BS_ENOMEM;
        goto out;
    }
    offsets[0] = 0;
    for (size_t i = 0; i < list.count; i++)
        offsets[i + 1] = offsets[i] + list.words[i].len + 1;

    for (size_t first = 0; first < list.count;) {
        size_t last = pack_end(&list, offsets, first, effective.max_bytes);

        result = chunk_list_push(out, list.words + first, last - first + 1,
                                 span_bytes(offsets, first, last));
        if (result != BS_OK)
            goto out;
        if (last + 1 == list.count)
            break;
        first = next_start(&list, offsets, first, last, &effective);
    }

out:
    if (result == BS_ENOMEM)
        bs_fail(errstr, errstr_size, BS_ENOMEM, "out of memory chunking");
    if (result != BS_OK)
        bs_chunk_list_free(out);
    free(offsets);
    free(list.words);
    return result;
}

void bs_chunk_list_free(struct bs_chunk_list *list)
{
    if (!list)
        return;
    for (size_t i = 0; i < list->count; i++)
        free(list->chunks[i].text);
    free(list->chunks);
    list->chunks = NULL;
    list->count = 0;
}
