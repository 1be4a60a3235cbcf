/*
 * fuzz_svix.c - libFuzzer harness for Svix webhook signatures (bs/svix.h).
 *
 * Input: one mode byte, then "msg-id\ntimestamp\nsignature\n" and the raw
 * body. The mode picks what is fuzzed:
 *   0  the secrets too: the first field is handed to bs_svix_keys_parse()
 *      and, when it parses, the rest is verified against those keys;
 *   1  the header values and body against two fixed keys (rotation);
 *   2  as 1, but the harness appends a correct "v1,..." entry for the
 *      fuzzed id/timestamp/body to the fuzzed signature header, so the
 *      matching path runs. Invariant: such a message never gives NO_MATCH,
 *      and with a timestamp of exactly NOW it verifies.
 * Time is the fixed NOW, so a run is reproducible.
 */
#include "fuzz_input.h"

#include "bs/error.h"
#include "bs/svix.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define NOW ((int64_t)1767225600) /* 2026-01-01T00:00:00Z */

/* Two made-up secrets (test vectors, nothing real). */
#define FIXED_SECRETS                                                          \
    "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw whsec_c2Vjb25kIHNlY3JldA=="

static struct bs_svix_keys *fixed_keys;

static void load_fixed_keys(void)
{
    char errstr[256] = "";

    if (bs_svix_keys_parse(FIXED_SECRETS, &fixed_keys, errstr,
                           sizeof(errstr)) != BS_OK) {
        fprintf(stderr, "fuzz_svix: fixed keys: %s\n", errstr);
        abort();
    }
}

/* Mode 0: parse fuzzed secrets, then verify with them. */
static void fuzz_secrets(struct fuzz_input *in)
{
    char *secrets = fuzz_field(in);
    char *id = fuzz_field(in), *ts = fuzz_field(in), *sig = fuzz_field(in);
    size_t body_len;
    char *body = fuzz_rest(in, &body_len);
    struct bs_svix_keys *keys = NULL;
    char errstr[256] = "";

    if (bs_svix_keys_parse(secrets, &keys, errstr, sizeof(errstr)) == BS_OK) {
        size_t count = bs_svix_keys_count(keys);

        FUZZ_CHECK(count >= 1 && count <= BS_SVIX_MAX_SECRETS);
        (void)bs_svix_verify(keys, id, ts, sig, body, body_len, NOW);
        bs_svix_keys_free(keys);
    } else {
        /* The error line must never quote a secret back. */
        FUZZ_CHECK(keys == NULL);
        FUZZ_CHECK(memchr(errstr, '\0', sizeof(errstr)) != NULL);
    }
    free(secrets);
    free(id);
    free(ts);
    free(sig);
    free(body);
}

/* Mode 1 and 2: fixed keys; `add_valid` appends a correct entry. */
static void fuzz_verify(struct fuzz_input *in, bool add_valid, size_t key_index)
{
    char *id = fuzz_field(in), *ts = fuzz_field(in), *sig = fuzz_field(in);
    size_t body_len;
    char *body = fuzz_rest(in, &body_len);
    char good[BS_SVIX_SIGNATURE_SIZE];
    char *header = sig;
    enum bs_svix_result result;

    if (add_valid && bs_svix_sign(fixed_keys, key_index, id, ts, body, body_len,
                                  good, sizeof(good)) == BS_OK) {
        size_t len = strlen(sig) + 1 + strlen(good) + 1;

        header = malloc(len);
        if (!header)
            abort();
        snprintf(header, len, "%s %s", sig, good);
    } else {
        add_valid = false;
    }

    result = bs_svix_verify(fixed_keys, id, ts, header, body, body_len, NOW);
    if (add_valid) {
        FUZZ_CHECK(result != BS_SVIX_NO_MATCH);
        if (*id != '\0' && strcmp(ts, "1767225600") == 0)
            FUZZ_CHECK(result == BS_SVIX_OK);
    }
    FUZZ_CHECK(strcmp(bs_svix_result_name(result), "unknown") != 0);

    if (header != sig)
        free(header);
    free(id);
    free(ts);
    free(sig);
    free(body);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fuzz_input in = {data, size};
    uint8_t mode = fuzz_byte(&in);

    if (!fixed_keys)
        load_fixed_keys();
    switch (mode % 3) {
    case 0:
        fuzz_secrets(&in);
        break;
    case 1:
        fuzz_verify(&in, false, 0);
        break;
    default:
        fuzz_verify(&in, true, (mode / 3) % 2);
        break;
    }
    return 0;
}
