/*
 * fuzz_avro_decode.c - libFuzzer harness for the Avro decoders with the
 * Confluent framing (magic byte 0, 4-byte big-endian schema id, Avro
 * binary), bs/events.h, through the builtin codec.
 *
 * Input: bytes as they would arrive in a Kafka message value. Every input
 * goes to all three decoders (UserEvent, FaqDocumentEvent, AuditEvent),
 * since a consumer cannot trust a message to be of its topic's schema.
 * Invariants: failure leaves the struct zeroed; success gives an event that
 * re-encodes with the newest schema and decodes again to the same meta.
 */
#include "fuzz_input.h"

#include "bs/codec.h"
#include "bs/error.h"
#include "bs/events.h"

#include <stdlib.h>
#include <string.h>

static struct bs_codec *codec;

static void load_codec(void)
{
    char errstr[256] = "";

    if (bs_codec_new_builtin(&codec, errstr, sizeof(errstr)) != BS_OK) {
        fprintf(stderr, "fuzz_avro_decode: codec: %s\n", errstr);
        abort();
    }
}

/* True when every byte of the struct is zero. */
static int all_zero(const void *p, size_t len)
{
    const unsigned char *b = p;

    for (size_t i = 0; i < len; i++)
        if (b[i] != 0)
            return 0;
    return 1;
}

static int same_string(const char *a, const char *b)
{
    return (a == NULL && b == NULL) || (a && b && strcmp(a, b) == 0);
}

static void check_meta(const struct bs_event_meta *a,
                       const struct bs_event_meta *b)
{
    FUZZ_CHECK(same_string(a->event_id, b->event_id));
    FUZZ_CHECK(same_string(a->product, b->product));
    FUZZ_CHECK(same_string(a->source, b->source));
    FUZZ_CHECK(a->occurred_at == b->occurred_at);
}

/*
 * One decoder with its round trip. A macro because the three event types
 * share the shape but not the struct; `extra` compares type-specific
 * fields of `event` and `back`.
 */
#define FUZZ_DECODER(type, decode, encode, clear, extra)                       \
    static void fuzz_##type(const uint8_t *data, size_t size)                  \
    {                                                                          \
        struct bs_##type event, back;                                          \
        unsigned char *bytes = NULL;                                           \
        size_t len = 0;                                                        \
        char errstr[256] = "";                                                 \
                                                                               \
        if (decode(codec, data, size, &event, errstr, sizeof(errstr)) !=       \
            BS_OK) {                                                           \
            FUZZ_CHECK(all_zero(&event, sizeof(event)));                       \
            return;                                                            \
        }                                                                      \
        FUZZ_CHECK(encode(codec, &event, &bytes, &len, errstr,                 \
                          sizeof(errstr)) == BS_OK);                           \
        FUZZ_CHECK(decode(codec, bytes, len, &back, errstr, sizeof(errstr)) == \
                   BS_OK);                                                     \
        check_meta(&event.meta, &back.meta);                                   \
        extra;                                                                 \
        clear(&back);                                                          \
        clear(&event);                                                         \
        free(bytes);                                                           \
    }

FUZZ_DECODER(user_event, bs_user_event_decode, bs_user_event_encode,
             bs_user_event_clear,
             FUZZ_CHECK(event.action == back.action &&
                        same_string(event.clerk_user_id, back.clerk_user_id) &&
                        same_string(event.email, back.email)))
FUZZ_DECODER(faq_event, bs_faq_event_decode, bs_faq_event_encode,
             bs_faq_event_clear,
             FUZZ_CHECK(event.action == back.action &&
                        event.version == back.version &&
                        same_string(event.document_id, back.document_id) &&
                        same_string(event.content, back.content)))
FUZZ_DECODER(audit_event, bs_audit_event_decode, bs_audit_event_encode,
             bs_audit_event_clear,
             FUZZ_CHECK(same_string(event.action, back.action) &&
                        same_string(event.entity_id, back.entity_id) &&
                        same_string(event.changes, back.changes)))

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* An exact-size copy, so reading past the message is an ASan report. */
    char *copy = fuzz_copy(data, size);

    if (!codec)
        load_codec();
    fuzz_user_event((const uint8_t *)copy, size);
    fuzz_faq_event((const uint8_t *)copy, size);
    fuzz_audit_event((const uint8_t *)copy, size);
    free(copy);
    return 0;
}
