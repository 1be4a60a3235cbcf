/*
 * embed_bench.c - how fast FAQ text is chunked and hash-embedded.
 *
 * Builds a synthetic FAQ corpus (sentences in paragraphs, some non-ASCII
 * words), then times, single-threaded:
 *   - the chunker over the whole corpus (MB/s);
 *   - the hash embedder on ~800-byte chunks, plain ASCII and with accented
 *     words (the utf8proc path): chunks/s and microseconds per chunk;
 *   - chunk + embed of whole ~1.5 kB documents (documents/s), the indexer's
 *     CPU work per document.
 * Prints figures; asserts nothing. Usage: embed_bench [seconds-per-figure].
 */
#include "bs/chunker.h"
#include "bs/embedder.h"
#include "bs/error.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define DIMENSION 256

static const char *const sentences[] = {
    "Check-in opens at 3 pm and check-out is at 11 am on departure day.",
    "The refundable security deposit is released within seven days.",
    "Pets are welcome in many villas for a small cleaning fee.",
    "Every listing states its internet speed and the Wi-Fi password.",
    "Free cancellation is possible up to fourteen days before arrival.",
    "A housekeeper changes towels and bed linen once a week.",
    "Private airport transfers can be booked at least two days ahead.",
    "Quiet hours are from ten in the evening until eight in the morning.",
};

static const char *const accented[] = {
    "Zoë, notre concierge, réserve le café et la crème brûlée à Saint-Tropez.",
    "Die Größe der Wohnung beträgt 80 m², mit Balkon und schöner Aussicht.",
};

static double now_seconds(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A text of about `bytes` bytes: sentences, with paragraphs of five
 * sentences when `paragraphs`. */
static char *make_text(size_t bytes, bool with_accents, bool paragraphs)
{
    char *text = malloc(bytes + 256);
    size_t len = 0;

    for (size_t i = 0; len < bytes; i++) {
        const char *s =
            with_accents && i % 3 == 1
                ? accented[i % 2]
                : sentences[i % (sizeof(sentences) / sizeof(sentences[0]))];

        len += (size_t)sprintf(text + len, "%s%s", s,
                               paragraphs && i % 5 == 4 ? "\n\n" : " ");
    }
    return text;
}

static void bench_chunker(double seconds)
{
    char *text = make_text(1 << 20, true, true), errstr[256];
    size_t len = strlen(text), rounds = 0, chunks = 0;
    double start = now_seconds(), elapsed;

    do {
        struct bs_chunk_list list;

        if (bs_chunk_text(text, len, NULL, &list, errstr, sizeof(errstr)) !=
            BS_OK) {
            fprintf(stderr, "embed_bench: %s\n", errstr);
            exit(1);
        }
        chunks = list.count;
        bs_chunk_list_free(&list);
        rounds++;
        elapsed = now_seconds() - start;
    } while (elapsed < seconds);
    printf("chunker: %.1f MB/s (%zu-byte text into %zu chunks, %zu rounds)\n",
           (double)(len * rounds) / elapsed / 1e6, len, chunks, rounds);
    free(text);
}

static void bench_embed_chunk(struct bs_embedder *embedder, bool with_accents,
                              double seconds)
{
    char *text = make_text(4000, with_accents, false), errstr[256];
    struct bs_chunker_config config = {BS_CHUNKER_MAX_BYTES_DEFAULT, 0};
    struct bs_chunk_list list;
    float vector[DIMENSION];
    size_t rounds = 0;
    double start, elapsed;
    const char *chunk;

    bs_chunk_text(text, strlen(text), &config, &list, errstr, sizeof(errstr));
    chunk = list.chunks[0].text;
    start = now_seconds();
    do {
        for (int i = 0; i < 100; i++)
            bs_embedder_embed(embedder, &chunk, 1, vector, errstr,
                              sizeof(errstr));
        rounds += 100;
        elapsed = now_seconds() - start;
    } while (elapsed < seconds);
    printf("hash embed (%s, %zu-byte chunk): %.0f chunks/s, %.1f us/chunk\n",
           with_accents ? "accented" : "ASCII", list.chunks[0].len,
           (double)rounds / elapsed, elapsed * 1e6 / (double)rounds);
    bs_chunk_list_free(&list);
    free(text);
}

static void bench_documents(struct bs_embedder *embedder, double seconds)
{
    char *text = make_text(1500, true, true), errstr[256];
    size_t len = strlen(text), documents = 0, chunks = 0;
    double start = now_seconds(), elapsed;
    float *vectors = NULL;

    do {
        struct bs_chunk_list list;
        const char *texts[16];

        bs_chunk_text(text, len, NULL, &list, errstr, sizeof(errstr));
        vectors = realloc(vectors, list.count * DIMENSION * sizeof(float));
        for (size_t i = 0; i < list.count && i < 16; i++)
            texts[i] = list.chunks[i].text;
        bs_embedder_embed(embedder, texts, list.count < 16 ? list.count : 16,
                          vectors, errstr, sizeof(errstr));
        chunks = list.count;
        bs_chunk_list_free(&list);
        documents++;
        elapsed = now_seconds() - start;
    } while (elapsed < seconds);
    printf("chunk + embed (%zu-byte document, %zu chunks): %.0f documents/s\n",
           len, chunks, (double)documents / elapsed);
    free(vectors);
    free(text);
}

int main(int argc, char **argv)
{
    double seconds = argc > 1 ? atof(argv[1]) : 1.0;
    struct bs_embedder *embedder;
    char errstr[256];

    if (seconds <= 0)
        seconds = 1.0;
    if (bs_embedder_new_hash(DIMENSION, &embedder, errstr, sizeof(errstr)) !=
        BS_OK) {
        fprintf(stderr, "embed_bench: %s\n", errstr);
        return 1;
    }
    printf("model %s, single thread, %.1f s per figure\n",
           bs_embedder_model(embedder), seconds);
    bench_chunker(seconds);
    bench_embed_chunk(embedder, false, seconds);
    bench_embed_chunk(embedder, true, seconds);
    bench_documents(embedder, seconds);
    bs_embedder_free(embedder);
    return 0;
}
