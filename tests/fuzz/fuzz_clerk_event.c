/*
 * fuzz_clerk_event.c - libFuzzer harness for the Clerk webhook mapper
 * (services/webhook-ingest/clerk_event.h).
 *
 * Input: the raw webhook body, as webhook-ingest would hand it over after
 * the signature checked out. Invariants on a mapped user event: it carries
 * the configured product and the svix id, a non-empty user id within
 * CLERK_MAX_ID, and it survives an Avro encode/decode round trip with the
 * builtin codec (what the service does next), the user id unchanged.
 */
#include "fuzz_input.h"

#include "bs/codec.h"
#include "bs/error.h"
#include "bs/events.h"
#include "clerk_event.h"

#include <stdlib.h>
#include <string.h>

#define SVIX_ID "msg_2fuzzFUZZfuzzFUZZfuzzFUZZ"
#define PRODUCT "bestays"

static struct bs_codec *codec;

static void load_codec(void)
{
    char errstr[256] = "";

    if (bs_codec_new_builtin(&codec, errstr, sizeof(errstr)) != BS_OK) {
        fprintf(stderr, "fuzz_clerk_event: codec: %s\n", errstr);
        abort();
    }
}

static void check_round_trip(const struct bs_user_event *event)
{
    unsigned char *bytes = NULL;
    size_t len = 0;
    struct bs_user_event back;
    char errstr[256] = "";

    FUZZ_CHECK(bs_user_event_encode(codec, event, &bytes, &len, errstr,
                                    sizeof(errstr)) == BS_OK);
    FUZZ_CHECK(bs_user_event_decode(codec, bytes, len, &back, errstr,
                                    sizeof(errstr)) == BS_OK);
    FUZZ_CHECK(strcmp(back.clerk_user_id, event->clerk_user_id) == 0);
    FUZZ_CHECK(strcmp(back.meta.product, PRODUCT) == 0);
    FUZZ_CHECK(back.action == event->action);
    bs_user_event_clear(&back);
    free(bytes);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* An exact-size copy, so reading past the body is an ASan report. */
    char *body = fuzz_copy(data, size);
    struct clerk_map_input input = {
        .body = body,
        .body_len = size,
        .svix_id = SVIX_ID,
        .product = PRODUCT,
        .source = "webhook-ingest",
        .received_at = 1767225600000LL,
    };
    struct bs_user_event event;
    char event_type[64];
    char reason[256];
    enum clerk_map_result result;

    if (!codec)
        load_codec();
    reason[0] = '\0';
    result = clerk_map_webhook(&input, &event, event_type, sizeof(event_type),
                               reason, sizeof(reason));
    FUZZ_CHECK(memchr(event_type, '\0', sizeof(event_type)) != NULL);
    switch (result) {
    case CLERK_MAP_USER_EVENT:
        FUZZ_CHECK(event.clerk_user_id && event.clerk_user_id[0] != '\0');
        FUZZ_CHECK(strlen(event.clerk_user_id) <= CLERK_MAX_ID);
        FUZZ_CHECK(strcmp(event.meta.product, PRODUCT) == 0);
        FUZZ_CHECK(strcmp(event.meta.event_id, SVIX_ID) == 0);
        check_round_trip(&event);
        bs_user_event_clear(&event);
        break;
    case CLERK_MAP_OTHER_TYPE:
        FUZZ_CHECK(event.clerk_user_id == NULL);
        break;
    case CLERK_MAP_INVALID:
        FUZZ_CHECK(event.clerk_user_id == NULL);
        FUZZ_CHECK(reason[0] != '\0');
        FUZZ_CHECK(memchr(reason, '\0', sizeof(reason)) != NULL);
        break;
    }
    free(body);
    return 0;
}
