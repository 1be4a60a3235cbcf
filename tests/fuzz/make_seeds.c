/*
 * make_seeds.c - writes the binary seed corpus of fuzz_avro_decode: valid
 * events of each contract schema (newest version) in the Confluent framing,
 * with and without their nullable fields, so the fuzzer starts from inputs
 * that reach deep into the decoder rather than the magic-byte check.
 *
 *   fuzz_make_seeds tests/fuzz/corpus/avro_decode
 *
 * Run by hand when the contract changes (docs/fuzzing.md); the output is
 * committed. The text seeds of the other harnesses are written by hand.
 */
#include "bs/codec.h"
#include "bs/error.h"
#include "bs/events.h"

#include <stdio.h>
#include <stdlib.h>

static const char *dir;

static int write_seed(const char *name, unsigned char *bytes, size_t len,
                      int result, const char *errstr)
{
    char path[1024];
    FILE *f;

    if (result != BS_OK) {
        fprintf(stderr, "make_seeds: %s: %s\n", name, errstr);
        return 1;
    }
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    f = fopen(path, "wb");
    if (!f || fwrite(bytes, 1, len, f) != len || fclose(f) != 0) {
        fprintf(stderr, "make_seeds: cannot write %s\n", path);
        return 1;
    }
    free(bytes);
    return 0;
}

#define META(id, src)                                                          \
    {                                                                          \
        .event_id = (id), .product = "bestays",                                \
        .occurred_at = 1767225600000LL, .source = (src)                        \
    }

static int user_seeds(const struct bs_codec *codec)
{
    struct bs_user_event full = {
        .meta = META("msg_2fuzz", "webhook-ingest"),
        .action = BS_USER_UPDATED,
        .clerk_user_id = "user_29w83sxmDNGwOuEthce5gg56FcC",
        .email = "example@example.org",
        .first_name = "Zoë",
        .last_name = "Example",
        .role = "admin",
        .image_url = "https://img.clerk.com/x",
        .has_clerk_updated_at = true,
        .clerk_updated_at = 1654012591835LL,
    };
    struct bs_user_event bare = {
        .meta = META("msg_2fuzz2", "webhook-ingest"),
        .action = BS_USER_DELETED,
        .clerk_user_id = "user_2",
    };
    unsigned char *bytes = NULL;
    size_t len = 0;
    char errstr[256] = "";
    int r;

    r = bs_user_event_encode(codec, &full, &bytes, &len, errstr,
                             sizeof(errstr));
    if (write_seed("user_updated.bin", bytes, len, r, errstr))
        return 1;
    r = bs_user_event_encode(codec, &bare, &bytes, &len, errstr,
                             sizeof(errstr));
    return write_seed("user_deleted.bin", bytes, len, r, errstr);
}

static int faq_seeds(const struct bs_codec *codec)
{
    struct bs_faq_event upsert = {
        .meta = META("0192d5b0-7c1e-7000-8000-000000000001", "api-gateway"),
        .action = BS_FAQ_UPSERT,
        .document_id = "0192d5b0-7c1e-7000-8000-000000000002",
        .category = "check-in",
        .title = "When can I check in?",
        .content = "From 15:00. Early check-in on request.",
        .status = "published",
        .version = 3,
        .actor_id = "user_2",
    };
    struct bs_faq_event reindex = {
        .meta = META("0192d5b0-7c1e-7000-8000-000000000003", "bsctl"),
        .action = BS_FAQ_REINDEX,
        .document_id = "0192d5b0-7c1e-7000-8000-000000000002",
        .version = 1,
    };
    unsigned char *bytes = NULL;
    size_t len = 0;
    char errstr[256] = "";
    int r;

    r = bs_faq_event_encode(codec, &upsert, &bytes, &len, errstr,
                            sizeof(errstr));
    if (write_seed("faq_upsert.bin", bytes, len, r, errstr))
        return 1;
    r = bs_faq_event_encode(codec, &reindex, &bytes, &len, errstr,
                            sizeof(errstr));
    return write_seed("faq_reindex.bin", bytes, len, r, errstr);
}

static int audit_seeds(const struct bs_codec *codec)
{
    struct bs_audit_event event = {
        .meta = META("0192d5b0-7c1e-7000-8000-000000000004", "api-gateway"),
        .actor_id = "user_2",
        .action = "faq.update",
        .entity_type = "faq",
        .entity_id = "0192d5b0-7c1e-7000-8000-000000000002",
        .changes = "{\"title\":[\"a\",\"b\"]}",
        .request_id = "req-1",
    };
    unsigned char *bytes = NULL;
    size_t len = 0;
    char errstr[256] = "";
    int r = bs_audit_event_encode(codec, &event, &bytes, &len, errstr,
                                  sizeof(errstr));

    return write_seed("audit_faq_update.bin", bytes, len, r, errstr);
}

int main(int argc, char **argv)
{
    struct bs_codec *codec = NULL;
    char errstr[256] = "";
    int failed;

    if (argc != 2) {
        fprintf(stderr, "usage: %s <corpus dir>\n", argv[0]);
        return 2;
    }
    dir = argv[1];
    if (bs_codec_new_builtin(&codec, errstr, sizeof(errstr)) != BS_OK) {
        fprintf(stderr, "make_seeds: codec: %s\n", errstr);
        return 1;
    }
    failed = user_seeds(codec) || faq_seeds(codec) || audit_seeds(codec);
    bs_codec_free(codec);
    return failed;
}
