/*
 * embedder_hash.c - the "hash" embedder: a deterministic lexical embedding
 * that needs no model and nothing running.
 *
 * For each text:
 *   1. normalize: NFKC + case folding with utf8proc, so "Zoë", "ZOË" and
 *      "Ｚｏë" are one word. Done run by run between ASCII separators, and
 *      runs of plain ASCII letters and digits are only lower-cased (their
 *      NFKC case fold): utf8proc costs ~80 ns a byte, too slow for a whole
 *      text when most of it is ASCII;
 *   2. tokenize: a word starts with a letter or digit (Unicode general
 *      category L*, N*) and goes on with those and combining marks (M*);
 *      everything else separates;
 *   3. features: each word that is not a stop word, each pair of adjacent
 *      such words, and each character 3-gram of such a word with its
 *      boundaries marked ("^ca", "cat", "at$") - the 3-grams let "booking"
 *      meet "book" and survive typos;
 *   4. each distinct feature is hashed (FNV-1a 64 then a 64-bit finalizer,
 *      both written out here) to a bucket and a sign, weighted by its kind
 *      and by 1 + ln(count) (sublinear tf), summed; the vector is
 *      L2-normalized.
 * Nothing depends on the machine, pointers or a random seed, so the same
 * text always gives bitwise the same vector. No state is shared between
 * calls, so it is thread-safe. Change HASH_VERSION (the "v1" in the model
 * name) whenever a change here changes any vector.
 */
#include "bs/embedder.h"
#include "bs/error.h"

#include "embedder_impl.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#define HASH_VERSION  1
#define DIMENSION_MIN 16
#define DIMENSION_MAX 65536

/* Feature weights, tuned on tests/data/faq/retrieval.json. */
#define WEIGHT_WORD    1.0f
#define WEIGHT_BIGRAM  0.25f
#define WEIGHT_TRIGRAM 0.5f

/* Feature kinds, hashed in first so a word and a 3-gram never share a key. */
enum feature_kind { KIND_WORD = 'w', KIND_BIGRAM = 'b', KIND_TRIGRAM = 't' };

/* Word boundary marks around a word for its 3-grams (never in a word). */
#define MARK_START 0x01
#define MARK_END   0x02

#define FNV_OFFSET UINT64_C(14695981039346656037)
#define FNV_PRIME  UINT64_C(1099511628211)

struct token {
    size_t start; /* byte offset in words.bytes */
    size_t len;
    bool stop;
};

/* The normalized words of one text, back to back (no separators). */
struct words {
    char *bytes;
    size_t len, size;
    struct token *tokens;
    size_t count, capacity;
    size_t longest; /* bytes of the longest word */
};

struct feature {
    uint64_t key; /* 0: empty slot */
    float weight;
    unsigned count;
};

/* Open-addressing table of the distinct features of one text, kept at
 * most half full. */
struct feature_table {
    struct feature *slots;
    size_t mask;
    size_t used;
    bool no_memory; /* a growth failed: the embedding is abandoned */
};

#define TABLE_INITIAL_MAX 4096 /* slots; a chunk of text fits in these */

/*
 * Common English function words, plus question words that queries carry
 * and answers do not. Compared after case folding.
 */
static const char *const stop_words[] = {
    "a",    "about", "an",    "and",   "any",   "are",   "as",   "at",
    "be",   "by",    "can",   "could", "do",    "does",  "for",  "from",
    "has",  "have",  "how",   "i",     "if",    "in",    "is",   "it",
    "its",  "me",    "my",    "of",    "on",    "or",    "our",  "should",
    "so",   "that",  "the",   "their", "then",  "there", "this", "to",
    "was",  "we",    "what",  "when",  "where", "which", "who",  "why",
    "will", "with",  "would", "you",   "your",
};

#define STOP_WORD_MAX 6 /* bytes of the longest stop word */

struct hash_embedder {
    struct bs_embedder base;
};

/* FNV-1a 64 over bytes, continuing from `h`. */
static uint64_t fnv1a(uint64_t h, const void *data, size_t len)
{
    const unsigned char *p = data;

    for (size_t i = 0; i < len; i++) {
        h ^= p[i];
        h *= FNV_PRIME;
    }
    return h;
}

/* MurmurHash3's fmix64: spreads FNV's weak low bits over the whole word. */
static uint64_t mix64(uint64_t h)
{
    h ^= h >> 33;
    h *= UINT64_C(0xff51afd7ed558ccd);
    h ^= h >> 33;
    h *= UINT64_C(0xc4ceb9fe1a85ec53);
    h ^= h >> 33;
    return h;
}

/* 1 + ln(count) for count >= 1, capped at 32 repeats. A table rather than
 * logf(): libm's log is not required to round the same way everywhere, and
 * a vector must be bitwise the same on every machine. */
static float sublinear_tf(unsigned count)
{
    static const float table[] = {
        0.0f,      1.0f,      1.693147f, 2.098612f, 2.386294f, 2.609438f,
        2.791759f, 2.945910f, 3.079442f, 3.197225f, 3.302585f, 3.397895f,
        3.484907f, 3.564949f, 3.639057f, 3.708050f, 3.772589f, 3.833213f,
        3.890372f, 3.944439f, 3.995732f, 4.044522f, 4.091042f, 4.135494f,
        4.178054f, 4.218876f, 4.258097f, 4.295837f, 4.332205f, 4.367296f,
        4.401197f, 4.433987f, 4.465736f,
    };
    size_t last = sizeof(table) / sizeof(table[0]) - 1;

    return table[count < last ? count : last];
}

static bool is_stop_word(const char *word, size_t len)
{
    if (len > STOP_WORD_MAX)
        return false;
    for (size_t i = 0; i < sizeof(stop_words) / sizeof(stop_words[0]); i++)
        if (stop_words[i][0] == word[0] && strlen(stop_words[i]) == len &&
            memcmp(stop_words[i], word, len) == 0)
            return true;
    return false;
}

static bool is_ascii_alnum(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9');
}

/* Letters and digits start words; combining marks only continue them. */
static bool starts_word(utf8proc_category_t category)
{
    switch (category) {
    case UTF8PROC_CATEGORY_LU:
    case UTF8PROC_CATEGORY_LL:
    case UTF8PROC_CATEGORY_LT:
    case UTF8PROC_CATEGORY_LM:
    case UTF8PROC_CATEGORY_LO:
    case UTF8PROC_CATEGORY_ND:
    case UTF8PROC_CATEGORY_NL:
    case UTF8PROC_CATEGORY_NO:
        return true;
    default:
        return false;
    }
}

static bool continues_word(utf8proc_category_t category)
{
    return starts_word(category) || category == UTF8PROC_CATEGORY_MN ||
           category == UTF8PROC_CATEGORY_MC || category == UTF8PROC_CATEGORY_ME;
}

static int words_reserve(struct words *words, size_t bytes)
{
    if (words->len + bytes > words->size) {
        size_t size = (words->len + bytes) * 2;
        char *grown = realloc(words->bytes, size);

        if (!grown)
            return BS_ENOMEM;
        words->bytes = grown;
        words->size = size;
    }
    if (words->count == words->capacity) {
        size_t capacity = words->capacity ? words->capacity * 2 : 64;
        struct token *grown = realloc(words->tokens, capacity * sizeof(*grown));

        if (!grown)
            return BS_ENOMEM;
        words->tokens = grown;
        words->capacity = capacity;
    }
    return BS_OK;
}

/* Appends one word of `len` bytes, lower-casing ASCII on the way. */
static int words_add(struct words *words, const char *word, size_t len)
{
    char *out;

    if (words_reserve(words, len) != BS_OK)
        return BS_ENOMEM;
    out = words->bytes + words->len;
    for (size_t i = 0; i < len; i++)
        out[i] = word[i] >= 'A' && word[i] <= 'Z' ? (char)(word[i] - 'A' + 'a')
                                                  : word[i];
    words->tokens[words->count++] =
        (struct token){words->len, len, is_stop_word(out, len)};
    words->len += len;
    if (len > words->longest)
        words->longest = len;
    return BS_OK;
}

/* The words of an already normalized piece, split by Unicode category. */
static int words_add_normalized(struct words *words, const char *text,
                                size_t len)
{
    size_t pos = 0, start = 0;
    bool in_word = false;

    while (pos < len) {
        utf8proc_int32_t cp;
        utf8proc_ssize_t n =
            utf8proc_iterate((const utf8proc_uint8_t *)text + pos,
                             (utf8proc_ssize_t)(len - pos), &cp);
        utf8proc_category_t category;

        if (n < 1) /* cannot happen on utf8proc_map output */
            return BS_EINVAL;
        category = utf8proc_category(cp);
        if (in_word && !continues_word(category)) {
            if (words_add(words, text + start, pos - start) != BS_OK)
                return BS_ENOMEM;
            in_word = false;
        }
        if (!in_word && starts_word(category)) {
            start = pos;
            in_word = true;
        }
        pos += (size_t)n;
    }
    if (in_word && words_add(words, text + start, pos - start) != BS_OK)
        return BS_ENOMEM;
    return BS_OK;
}

/*
 * Steps 1 and 2 for a run of the raw text between ASCII separators. Plain
 * ASCII letters and digits are their own NFKC form and fold to lower case,
 * so only runs with other characters go through utf8proc. ASCII
 * punctuation and spaces never compose with what follows, so normalizing
 * run by run is normalizing the whole text.
 */
static int words_add_run(struct words *words, const char *run, size_t len,
                         bool ascii)
{
    utf8proc_uint8_t *mapped = NULL;
    utf8proc_ssize_t n;
    int result;

    if (ascii)
        return words_add(words, run, len);
    n = utf8proc_map((const utf8proc_uint8_t *)run, (utf8proc_ssize_t)len,
                     &mapped,
                     UTF8PROC_STABLE | UTF8PROC_COMPOSE | UTF8PROC_COMPAT |
                         UTF8PROC_CASEFOLD | UTF8PROC_IGNORE);
    if (n == UTF8PROC_ERROR_NOMEM)
        return BS_ENOMEM;
    if (n < 0)
        return BS_EINVAL;
    result = words_add_normalized(words, (const char *)mapped, (size_t)n);
    free(mapped);
    return result;
}

/* Steps 1 and 2: the normalized words of text. */
static int words_scan(struct words *words, const char *text, size_t len)
{
    size_t pos = 0;

    while (pos < len) {
        size_t start;
        bool ascii = true;

        while (pos < len && (unsigned char)text[pos] < 0x80 &&
               !is_ascii_alnum((unsigned char)text[pos]))
            pos++;
        start = pos;
        while (pos < len && ((unsigned char)text[pos] >= 0x80 ||
                             is_ascii_alnum((unsigned char)text[pos]))) {
            ascii = ascii && (unsigned char)text[pos] < 0x80;
            pos++;
        }
        if (pos > start) {
            int result = words_add_run(words, text + start, pos - start, ascii);

            if (result != BS_OK)
                return result;
        }
    }
    return BS_OK;
}

static struct feature *table_find(struct feature *slots, size_t mask,
                                  uint64_t key)
{
    size_t i = (size_t)key & mask;

    while (slots[i].key != 0 && slots[i].key != key)
        i = (i + 1) & mask;
    return &slots[i];
}

/* Doubles the table, moving entries in slot order (deterministic). */
static bool table_grow(struct feature_table *table)
{
    size_t mask = table->mask * 2 + 1;
    struct feature *slots = calloc(mask + 1, sizeof(*slots));

    if (!slots)
        return false;
    for (size_t i = 0; i <= table->mask; i++)
        if (table->slots[i].key != 0)
            *table_find(slots, mask, table->slots[i].key) = table->slots[i];
    free(table->slots);
    table->slots = slots;
    table->mask = mask;
    return true;
}

/* Counts one occurrence of feature `key`. */
static void table_add(struct feature_table *table, uint64_t key, float weight)
{
    struct feature *f;

    if (key == 0) /* 0 marks an empty slot */
        key = 1;
    if (table->no_memory)
        return;
    if ((table->used + 1) * 2 > table->mask + 1 && !table_grow(table)) {
        table->no_memory = true;
        return;
    }
    f = table_find(table->slots, table->mask, key);
    if (f->key == 0) {
        *f = (struct feature){key, weight, 0};
        table->used++;
    }
    f->count++;
}

static uint64_t feature_key(enum feature_kind kind, const char *bytes,
                            size_t len)
{
    unsigned char k = (unsigned char)kind;

    return mix64(fnv1a(fnv1a(FNV_OFFSET, &k, 1), bytes, len));
}

/* Step 3 for one word: its boundary-marked character 3-grams. */
static void add_trigrams(struct feature_table *table, const char *word,
                         size_t len, char *scratch, size_t *starts)
{
    size_t cps = 0, pos = 0;

    /* scratch = MARK_START word MARK_END; starts[] = code point offsets */
    scratch[0] = MARK_START;
    memcpy(scratch + 1, word, len);
    scratch[len + 1] = MARK_END;
    starts[cps++] = 0;
    pos = 1;
    while (pos < len + 1) {
        starts[cps++] = pos;
        pos++;
        while (pos < len + 1 && ((unsigned char)scratch[pos] & 0xC0) == 0x80)
            pos++;
    }
    starts[cps++] = len + 1;
    starts[cps] = len + 2;

    for (size_t i = 0; i + 3 <= cps; i++)
        table_add(table,
                  feature_key(KIND_TRIGRAM, scratch + starts[i],
                              starts[i + 3] - starts[i]),
                  WEIGHT_TRIGRAM);
}

/* Step 3: every feature of the tokens into the table. */
static void add_features(struct feature_table *table, const char *text,
                         const struct token *tokens, size_t count,
                         char *scratch, size_t *starts)
{
    const struct token *previous = NULL;

    for (size_t i = 0; i < count; i++) {
        const struct token *t = &tokens[i];
        const char *word = text + t->start;

        if (t->stop)
            continue;
        table_add(table, feature_key(KIND_WORD, word, t->len), WEIGHT_WORD);
        add_trigrams(table, word, t->len, scratch, starts);
        if (previous) {
            /* the two words are adjacent in the text minus stop words */
            unsigned char kind = KIND_BIGRAM;
            uint64_t h = fnv1a(FNV_OFFSET, &kind, 1);

            h = fnv1a(h, text + previous->start, previous->len);
            h = fnv1a(h, " ", 1);
            h = fnv1a(h, word, t->len);
            table_add(table, mix64(h), WEIGHT_BIGRAM);
        }
        previous = t;
    }
}

/* Step 4: the distinct features into signed buckets. */
static void table_project(const struct feature_table *table, float *vector,
                          size_t dimension)
{
    for (size_t i = 0; i <= table->mask; i++) {
        const struct feature *f = &table->slots[i];
        float value;

        if (f->key == 0)
            continue;
        value = f->weight * sublinear_tf(f->count);
        vector[f->key % dimension] += (f->key >> 63) ? -value : value;
    }
}

/* Room for every feature of a chunk-sized text without growing: a word, a
 * bigram and at most (bytes) 3-grams per word. Longer texts grow it. */
static int table_init(struct feature_table *table, const struct words *words)
{
    size_t features = 2 * words->count + words->len, slots = 16;

    while (slots < 2 * features && slots < TABLE_INITIAL_MAX)
        slots *= 2;
    table->slots = calloc(slots, sizeof(*table->slots));
    table->mask = slots - 1;
    return table->slots ? BS_OK : BS_ENOMEM;
}

/* All four steps for one text; scratch space is allocated per text so that
 * concurrent callers share nothing. */
static int embed_one(const char *text, size_t dimension, float *vector)
{
    struct words words = {0};
    struct feature_table table = {0};
    char *scratch = NULL;
    size_t *starts = NULL;
    int result;

    memset(vector, 0, dimension * sizeof(*vector));
    result = words_scan(&words, text, strlen(text));
    if (result != BS_OK || words.count == 0)
        goto out;

    scratch = malloc(words.longest + 3);
    starts = malloc((words.longest + 3) * sizeof(*starts));
    if (!scratch || !starts || table_init(&table, &words) != BS_OK) {
        result = BS_ENOMEM;
        goto out;
    }
    add_features(&table, words.bytes, words.tokens, words.count, scratch,
                 starts);
    if (table.no_memory) {
        result = BS_ENOMEM;
        goto out;
    }
    table_project(&table, vector, dimension);
    bs__embedding_normalize(vector, dimension);

out:
    free(table.slots);
    free(starts);
    free(scratch);
    free(words.tokens);
    free(words.bytes);
    return result;
}

static int hash_embed(struct bs_embedder *embedder, const char *const *texts,
                      size_t count, float *vectors, char *errstr,
                      size_t errstr_size)
{
    size_t dimension = embedder->dimension;

    for (size_t i = 0; i < count; i++) {
        int result = embed_one(texts[i], dimension, vectors + i * dimension);

        if (result == BS_EINVAL)
            return bs_fail(errstr, errstr_size, BS_EINVAL,
                           "text %zu of %zu is not valid UTF-8", i, count);
        if (result != BS_OK)
            return bs_fail(errstr, errstr_size, result,
                           "out of memory embedding text %zu", i);
    }
    return BS_OK;
}

static void hash_free(struct bs_embedder *embedder)
{
    free(embedder);
}

static const struct bs__embedder_ops hash_ops = {hash_embed, hash_free};

int bs_embedder_new_hash(size_t dimension, struct bs_embedder **out,
                         char *errstr, size_t errstr_size)
{
    struct hash_embedder *hash;

    *out = NULL;
    if (dimension < DIMENSION_MIN || dimension > DIMENSION_MAX)
        return bs_fail(errstr, errstr_size, BS_EINVAL,
                       "hash embedder dimension %zu is not from %d to %d",
                       dimension, DIMENSION_MIN, DIMENSION_MAX);
    hash = calloc(1, sizeof(*hash));
    if (!hash)
        return bs_fail(errstr, errstr_size, BS_ENOMEM, "out of memory");
    hash->base.ops = &hash_ops;
    hash->base.dimension = dimension;
    snprintf(hash->base.model, sizeof(hash->base.model), "hash-v%d-d%zu",
             HASH_VERSION, dimension);
    *out = &hash->base;
    return BS_OK;
}
