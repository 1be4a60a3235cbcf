/*
 * test_chunker.c - bs_chunk_text: edge cases (empty, whitespace only, one
 * huge word, multi-byte UTF-8 at a boundary, invalid UTF-8) and the
 * properties every chunking must have: chunks within the size limit, valid
 * UTF-8, in order, covering every word, overlapping by whole words.
 */
#include "harness.h"

#include "bs/chunker.h"
#include "bs/error.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

static bool valid_utf8(const char *text, size_t len)
{
    size_t pos = 0;

    while (pos < len) {
        utf8proc_int32_t cp;
        utf8proc_ssize_t n =
            utf8proc_iterate((const utf8proc_uint8_t *)text + pos,
                             (utf8proc_ssize_t)(len - pos), &cp);

        if (n < 1)
            return false;
        pos += (size_t)n;
    }
    return true;
}

static int chunk(const char *text, size_t max_bytes, size_t overlap_bytes,
                 struct bs_chunk_list *out, char *errstr, size_t errstr_size)
{
    struct bs_chunker_config config = {max_bytes, overlap_bytes};

    return bs_chunk_text(text, text ? strlen(text) : 0, &config, out, errstr,
                         errstr_size);
}

/* Splits a copy of text at single spaces (chunks are space-joined). */
static size_t split_words(char *text, char **words, size_t max_words)
{
    size_t count = 0;

    for (char *w = strtok(text, " \t\r\n"); w && count < max_words;
         w = strtok(NULL, " \t\r\n"))
        words[count++] = w;
    return count;
}

/*
 * Asserts the chunks tile the words of `text` in order: each chunk is a run
 * of consecutive input words, starts after the previous one starts and no
 * later than just after it ends, and the last ends at the last word; shared
 * words total at most overlap_bytes. For texts without over-long words.
 */
static void assert_chunks_tile(const char *text,
                               const struct bs_chunk_list *list,
                               size_t max_bytes, size_t overlap_bytes)
{
    static char *words[4096], *chunk_words[4096];
    char *copy = strdup(text);
    size_t count = split_words(copy, words, 4096), next = 0, previous = 0;
    bool first = true;

    for (size_t c = 0; c < list->count; c++) {
        char *chunk_copy = strdup(list->chunks[c].text);
        size_t n = split_words(chunk_copy, chunk_words, 4096), start = SIZE_MAX;
        size_t shared = 0;

        CU_ASSERT(list->chunks[c].len <= max_bytes);
        CU_ASSERT(list->chunks[c].len == strlen(list->chunks[c].text));
        CU_ASSERT(valid_utf8(list->chunks[c].text, list->chunks[c].len));
        /* the earliest start allowed is right after the previous start */
        for (size_t s = first ? 0 : previous + 1; s <= next && s < count; s++)
            if (n > 0 && s + n <= count &&
                strcmp(words[s], chunk_words[0]) == 0) {
                bool all = true;

                for (size_t k = 1; k < n && all; k++)
                    all = strcmp(words[s + k], chunk_words[k]) == 0;
                if (all) {
                    start = s;
                    break;
                }
            }
        CU_ASSERT_FATAL(start != SIZE_MAX);
        for (size_t k = start; k < next; k++)
            shared += strlen(words[k]) + 1;
        CU_ASSERT(shared <= overlap_bytes + 1);
        previous = start;
        next = start + n;
        first = false;
        free(chunk_copy);
    }
    BS_ASSERT_INT_EQ(next, count);
    free(copy);
}

static void test_empty_text_has_no_chunks(void)
{
    struct bs_chunk_list list = {(void *)1, 7};
    char errstr[256];

    BS_ASSERT_INT_EQ(bs_chunk_text("", 0, NULL, &list, errstr, sizeof(errstr)),
                     BS_OK);
    BS_ASSERT_INT_EQ(list.count, 0);
    CU_ASSERT_PTR_NULL(list.chunks);
    BS_ASSERT_INT_EQ(
        bs_chunk_text(NULL, 0, NULL, &list, errstr, sizeof(errstr)), BS_OK);
    BS_ASSERT_INT_EQ(list.count, 0);
    bs_chunk_list_free(&list);
}

static void test_whitespace_only_text_has_no_chunks(void)
{
    /* ASCII spaces, tab, CR LF, NBSP, ideographic space, line separator,
     * BOM, zero width space */
    const char *text = "  \t\r\n\n \xc2\xa0 \xe3\x80\x80 \xe2\x80\xa8 \n"
                       "\xef\xbb\xbf\xe2\x80\x8b";
    struct bs_chunk_list list;
    char errstr[256];

    BS_ASSERT_INT_EQ(chunk(text, 0, 0, &list, errstr, sizeof(errstr)), BS_OK);
    BS_ASSERT_INT_EQ(list.count, 0);
    bs_chunk_list_free(&list);
}

static void test_short_text_is_one_chunk_with_whitespace_collapsed(void)
{
    struct bs_chunk_list list;
    char errstr[256];

    BS_ASSERT_INT_EQ(bs_chunk_text("  Check-in\tis at\n\n 3 pm.  ", 26, NULL,
                                   &list, errstr, sizeof(errstr)),
                     BS_OK);
    BS_ASSERT_INT_EQ(list.count, 1);
    BS_ASSERT_STR_EQ(list.chunks[0].text, "Check-in is at 3 pm.");
    BS_ASSERT_INT_EQ(list.chunks[0].len, 20);
    bs_chunk_list_free(&list);

    /* a leading byte order mark is not part of the first word */
    BS_ASSERT_INT_EQ(
        chunk("\xef\xbb\xbfWelcome home", 0, 0, &list, errstr, sizeof(errstr)),
        BS_OK);
    BS_ASSERT_INT_EQ(list.count, 1);
    BS_ASSERT_STR_EQ(list.chunks[0].text, "Welcome home");
    bs_chunk_list_free(&list);
}

static void test_paragraphs_are_kept_whole_without_overlap(void)
{
    const char *text = "Pets are welcome in most villas. Ask first.\n\n"
                       "Cleaning is included twice a week. Extra cleaning "
                       "costs a small fee.";
    struct bs_chunk_list list;
    char errstr[256];

    BS_ASSERT_INT_EQ(chunk(text, 80, 20, &list, errstr, sizeof(errstr)), BS_OK);
    BS_ASSERT_INT_EQ(list.count, 2);
    BS_ASSERT_STR_EQ(list.chunks[0].text,
                     "Pets are welcome in most villas. Ask first.");
    BS_ASSERT_STR_EQ(list.chunks[1].text,
                     "Cleaning is included twice a week. Extra cleaning "
                     "costs a small fee.");
    bs_chunk_list_free(&list);
}

static void test_small_paragraphs_share_a_chunk(void)
{
    const char *text = "One.\n\nTwo.\r\n\r\nThree.";
    struct bs_chunk_list list;
    char errstr[256];

    BS_ASSERT_INT_EQ(chunk(text, 100, 10, &list, errstr, sizeof(errstr)),
                     BS_OK);
    BS_ASSERT_INT_EQ(list.count, 1);
    BS_ASSERT_STR_EQ(list.chunks[0].text, "One. Two. Three.");
    bs_chunk_list_free(&list);
}

static void test_long_paragraph_is_cut_at_sentence_ends_with_overlap(void)
{
    const char *text =
        "The deposit is returned within seven days. We inspect the villa "
        "after you leave. Damage is deducted with photos as proof. Keys "
        "lost cost a replacement fee. Late check-out is possible on request.";
    struct bs_chunk_list list;
    char errstr[256];

    BS_ASSERT_INT_EQ(chunk(text, 100, 30, &list, errstr, sizeof(errstr)),
                     BS_OK);
    CU_ASSERT(list.count >= 3);
    /* the first chunk ends at a sentence end, not mid-sentence */
    BS_ASSERT_STR_EQ(list.chunks[0].text,
                     "The deposit is returned within seven days. We inspect "
                     "the villa after you leave.");
    /* the second one starts with the end of the first */
    CU_ASSERT(strncmp(list.chunks[1].text, "the villa after you leave. Damage",
                      33) == 0);
    assert_chunks_tile(text, &list, 100, 30);
    bs_chunk_list_free(&list);
}

static void test_overlap_starts_at_a_sentence_start_when_close(void)
{
    const char *text = "Towels are provided. Bring a beach towel. Linen is "
                       "changed weekly. The cot is free. Ask the host.";
    struct bs_chunk_list list;
    char errstr[256];

    BS_ASSERT_INT_EQ(chunk(text, 64, 31, &list, errstr, sizeof(errstr)), BS_OK);
    CU_ASSERT_FATAL(list.count >= 2);
    BS_ASSERT_STR_EQ(list.chunks[0].text,
                     "Towels are provided. Bring a beach towel.");
    /* "Bring a beach towel." (20 bytes) fits the overlap: the whole
     * sentence is repeated, not "a beach towel." */
    CU_ASSERT(strncmp(list.chunks[1].text, "Bring a beach towel. Linen", 26) ==
              0);
    assert_chunks_tile(text, &list, 64, 31);
    bs_chunk_list_free(&list);
}

/* xorshift32: a fixed sequence, so a failure reproduces. */
static unsigned next_random(unsigned *state)
{
    *state ^= *state << 13;
    *state ^= *state >> 17;
    *state ^= *state << 5;
    return *state;
}

/* A random text of distinct words (ASCII and multi-byte letters and a
 * number, at most 16 bytes), spaces, line breaks and sentence marks. */
static void random_text(unsigned *state, char *text, size_t size)
{
    static const char *const pieces[] = {"a", "b", "é", "€", "ж", "🏠", "9"};
    static const char *const gaps[] = {" ",  "  ", "\n", "\n\n",  "\t",
                                       ". ", "? ", "! ", ".\n\n", ", "};
    size_t len = 0, words = 0;

    text[0] = '\0';
    while (len + 64 < size) {
        size_t letters = 1 + next_random(state) % 3;

        for (size_t i = 0; i < letters; i++)
            len += (size_t)snprintf(text + len, size - len, "%s",
                                    pieces[next_random(state) % 7]);
        len += (size_t)snprintf(text + len, size - len, "%zu", words++);
        len += (size_t)snprintf(text + len, size - len, "%s",
                                gaps[next_random(state) % 10]);
    }
}

static void test_random_texts_are_tiled_within_limits(void)
{
    unsigned state = 20261203;
    static char text[3000];
    struct bs_chunk_list list;
    char errstr[256];

    for (int round = 0; round < 300; round++) {
        size_t max = 16 + next_random(&state) % 200;
        size_t overlap = next_random(&state) % (max / 2);

        random_text(&state, text,
                    64 + next_random(&state) % (sizeof(text) - 64));
        BS_ASSERT_INT_EQ(
            chunk(text, max, overlap, &list, errstr, sizeof(errstr)), BS_OK);
        assert_chunks_tile(text, &list, max, overlap);
        bs_chunk_list_free(&list);
    }
}

static void test_sentence_longer_than_limit_is_cut_between_words(void)
{
    char text[2048] = "";
    struct bs_chunk_list list;
    char errstr[256];

    for (int i = 0; i < 120; i++) {
        char word[16];

        snprintf(word, sizeof(word), "word%d ", i);
        strcat(text, word);
    }
    BS_ASSERT_INT_EQ(chunk(text, 64, 16, &list, errstr, sizeof(errstr)), BS_OK);
    CU_ASSERT(list.count > 10);
    assert_chunks_tile(text, &list, 64, 16);
    bs_chunk_list_free(&list);
}

static void test_huge_word_is_cut_into_pieces_of_the_limit(void)
{
    char text[2001];
    char joined[2001] = "";
    struct bs_chunk_list list;
    char errstr[256];

    memset(text, 'a', 2000);
    text[2000] = '\0';
    BS_ASSERT_INT_EQ(chunk(text, 100, 20, &list, errstr, sizeof(errstr)),
                     BS_OK);
    BS_ASSERT_INT_EQ(list.count, 20);
    for (size_t i = 0; i < list.count; i++) {
        BS_ASSERT_INT_EQ(list.chunks[i].len, 100);
        strcat(joined, list.chunks[i].text);
    }
    BS_ASSERT_STR_EQ(joined, text);
    bs_chunk_list_free(&list);
}

static void test_huge_multibyte_word_is_cut_between_code_points(void)
{
    /* 300 x "€" (3 bytes) and a 4-byte emoji every so often */
    char text[1400] = "", joined[1400] = "";
    struct bs_chunk_list list;
    char errstr[256];

    for (int i = 0; i < 300; i++)
        strcat(text, i % 7 == 3 ? "\xf0\x9f\x8f\xa0" : "\xe2\x82\xac");
    BS_ASSERT_INT_EQ(chunk(text, 16, 4, &list, errstr, sizeof(errstr)), BS_OK);
    CU_ASSERT(list.count > 50);
    for (size_t i = 0; i < list.count; i++) {
        CU_ASSERT(list.chunks[i].len <= 16);
        CU_ASSERT(list.chunks[i].len >= 13);
        CU_ASSERT(valid_utf8(list.chunks[i].text, list.chunks[i].len));
        strcat(joined, list.chunks[i].text);
    }
    BS_ASSERT_STR_EQ(joined, text);
    bs_chunk_list_free(&list);
}

static void test_multibyte_words_at_chunk_boundaries_stay_whole(void)
{
    const char *text =
        "Zoë’s café in Łódź serves crème brûlée. Straße und Größe sind "
        "schön. Ελληνικά γράμματα εδώ. 日本語の テキスト です。 Ещё немного "
        "текста по-русски. 🏠 villa near the beach with 🌊 views.";
    struct bs_chunk_list list;
    char errstr[256];

    for (size_t max = 19; max <= 70; max += 3) {
        BS_ASSERT_INT_EQ(
            chunk(text, max, max / 2 - 1, &list, errstr, sizeof(errstr)),
            BS_OK);
        CU_ASSERT(list.count > 1);
        assert_chunks_tile(text, &list, max, max / 2 - 1);
        bs_chunk_list_free(&list);
    }
}

static void assert_rejected(const char *text, size_t len, const char *what)
{
    struct bs_chunk_list list;
    char errstr[256] = "";

    BS_ASSERT_INT_EQ(
        bs_chunk_text(text, len, NULL, &list, errstr, sizeof(errstr)),
        BS_EINVAL);
    BS_ASSERT_INT_EQ(list.count, 0);
    CU_ASSERT_PTR_NULL(list.chunks);
    if (!strstr(errstr, what))
        BS_ASSERT_STR_EQ(errstr, what);
}

static void test_invalid_utf8_is_rejected_with_its_offset(void)
{
    assert_rejected("abc \xff def", 9, "invalid UTF-8 at byte 4");
    assert_rejected("price 5\xe2\x82", 9, "invalid UTF-8 at byte 7");
    assert_rejected("\xc0\xaf overlong", 11, "invalid UTF-8 at byte 0");
    assert_rejected("surrogate \xed\xa0\x80", 13, "invalid UTF-8 at byte 10");
    assert_rejected("ok\x80", 3, "invalid UTF-8 at byte 2");
}

static void test_nul_byte_is_rejected(void)
{
    assert_rejected("before\0after", 12, "NUL byte at byte 6");
}

static void test_bad_sizes_are_rejected_and_zero_means_default(void)
{
    struct bs_chunk_list list;
    char errstr[256], text[2000];

    BS_ASSERT_INT_EQ(chunk("text", 8, 0, &list, errstr, sizeof(errstr)),
                     BS_EINVAL);
    BS_ASSERT_INT_EQ(chunk("text", 100, 50, &list, errstr, sizeof(errstr)),
                     BS_EINVAL);
    BS_ASSERT_INT_EQ(chunk("text", 100, 49, &list, errstr, sizeof(errstr)),
                     BS_OK);
    bs_chunk_list_free(&list);

    /* 0: the default size */
    for (size_t i = 0; i < sizeof(text) - 1; i++)
        text[i] = i % 10 == 9 ? ' ' : 'x';
    text[sizeof(text) - 1] = '\0';
    BS_ASSERT_INT_EQ(chunk(text, 0, 0, &list, errstr, sizeof(errstr)), BS_OK);
    CU_ASSERT(list.count >= 3);
    for (size_t i = 0; i < list.count; i++)
        CU_ASSERT(list.chunks[i].len <= BS_CHUNKER_MAX_BYTES_DEFAULT);
    CU_ASSERT(list.chunks[0].len > BS_CHUNKER_MAX_BYTES_DEFAULT - 10);
    bs_chunk_list_free(&list);
}

static void test_default_chunking_of_a_faq_document_tiles_it(void)
{
    char text[8192] = "";
    struct bs_chunk_list list;
    char errstr[256];

    for (int p = 0; p < 6; p++) {
        for (int s = 0; s < 5 + p; s++) {
            char sentence[128];

            snprintf(sentence, sizeof(sentence),
                     "Paragraph %d sentence %d says something about the "
                     "villa, its pool and the deposit. ",
                     p, s);
            strcat(text, sentence);
        }
        strcat(text, "\n\n");
    }
    BS_ASSERT_INT_EQ(
        bs_chunk_text(text, strlen(text), NULL, &list, errstr, sizeof(errstr)),
        BS_OK);
    CU_ASSERT(list.count >= 6);
    assert_chunks_tile(text, &list, BS_CHUNKER_MAX_BYTES_DEFAULT,
                       BS_CHUNKER_OVERLAP_BYTES_DEFAULT);
    bs_chunk_list_free(&list);
}

static CU_TestInfo chunker_tests[] = {
    {"empty text has no chunks", test_empty_text_has_no_chunks},
    {"whitespace-only text has no chunks",
     test_whitespace_only_text_has_no_chunks},
    {"short text is one chunk with whitespace collapsed",
     test_short_text_is_one_chunk_with_whitespace_collapsed},
    {"paragraphs are kept whole without overlap",
     test_paragraphs_are_kept_whole_without_overlap},
    {"small paragraphs share a chunk", test_small_paragraphs_share_a_chunk},
    {"long paragraph is cut at sentence ends with overlap",
     test_long_paragraph_is_cut_at_sentence_ends_with_overlap},
    {"overlap starts at a sentence start when close",
     test_overlap_starts_at_a_sentence_start_when_close},
    {"random texts are tiled within limits",
     test_random_texts_are_tiled_within_limits},
    {"sentence longer than the limit is cut between words",
     test_sentence_longer_than_limit_is_cut_between_words},
    {"huge word is cut into pieces of the limit",
     test_huge_word_is_cut_into_pieces_of_the_limit},
    {"huge multi-byte word is cut between code points",
     test_huge_multibyte_word_is_cut_between_code_points},
    {"multi-byte words at chunk boundaries stay whole",
     test_multibyte_words_at_chunk_boundaries_stay_whole},
    {"invalid UTF-8 is rejected with its offset",
     test_invalid_utf8_is_rejected_with_its_offset},
    {"NUL byte is rejected", test_nul_byte_is_rejected},
    {"bad sizes are rejected and zero means the default",
     test_bad_sizes_are_rejected_and_zero_means_default},
    {"default chunking of a FAQ document tiles it",
     test_default_chunking_of_a_faq_document_tiles_it},
    CU_TEST_INFO_NULL,
};

static void register_suites(void)
{
    bs_test_add_suite("chunker", NULL, NULL, chunker_tests);
}

int main(void)
{
    return bs_test_main(register_suites);
}
