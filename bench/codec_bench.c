/*
 * codec_bench.c - how long a UserEvent takes to encode and decode.
 *
 * Times the events API (struct -> wire bytes -> struct) and the decode step
 * alone, on the builtin codec, single-threaded, and prints microseconds per
 * operation. Prints figures; asserts nothing. Usage: codec_bench [rounds].
 */
#include "bs/codec.h"
#include "bs/error.h"
#include "bs/events.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static struct bs_user_event sample_event(void)
{
    struct bs_user_event e = {
        .meta = {"msg_2abcdefghijklmnopqrstuvwxyz", "bestays", 1767225600123,
                 "webhook-ingest"},
        .action = BS_USER_UPDATED,
        .clerk_user_id = "user_29w83sxmDNGwOuEthce5gg56FcC",
        .email = "someone@example.com",
        .first_name = "Zoë",
        .last_name = "Example",
        .role = "admin",
        .image_url = "https://img.clerk.com/abcdefghijklmnop",
        .has_clerk_updated_at = true,
        .clerk_updated_at = 1767225599000,
    };
    return e;
}

/* Encode + decode through the events API, `rounds` times. */
static int bench_round_trip(const struct bs_codec *codec, long rounds,
                            size_t *message_len, double *elapsed_us)
{
    struct bs_user_event in = sample_event();
    char errstr[256];
    double start = now_us();

    for (long i = 0; i < rounds; i++) {
        struct bs_user_event out;
        unsigned char *bytes;
        size_t len;

        in.meta.occurred_at = i;
        if (bs_user_event_encode(codec, &in, &bytes, &len, errstr,
                                 sizeof(errstr)) != BS_OK ||
            bs_user_event_decode(codec, bytes, len, &out, errstr,
                                 sizeof(errstr)) != BS_OK) {
            fprintf(stderr, "codec_bench: %s\n", errstr);
            return 1;
        }
        *message_len = len;
        bs_user_event_clear(&out);
        free(bytes);
    }
    *elapsed_us = now_us() - start;
    return 0;
}

/* Decode only (checks, avro-c decode, struct copy) of one message. */
static int bench_decode(const struct bs_codec *codec, long rounds,
                        double *elapsed_us)
{
    struct bs_user_event in = sample_event();
    unsigned char *bytes;
    size_t len;
    char errstr[256];
    double start;

    if (bs_user_event_encode(codec, &in, &bytes, &len, errstr,
                             sizeof(errstr)) != BS_OK)
        return 1;
    start = now_us();
    for (long i = 0; i < rounds; i++) {
        struct bs_user_event out;

        if (bs_user_event_decode(codec, bytes, len, &out, errstr,
                                 sizeof(errstr)) != BS_OK) {
            free(bytes);
            return 1;
        }
        bs_user_event_clear(&out);
    }
    *elapsed_us = now_us() - start;
    free(bytes);
    return 0;
}

int main(int argc, char **argv)
{
    long rounds = argc > 1 ? atol(argv[1]) : 100000;
    struct bs_codec *codec = NULL;
    char errstr[256];
    size_t message_len = 0;
    double round_trip_us = 0;
    double decode_us = 0;
    int status = 1;

    if (rounds < 1 ||
        bs_codec_new_builtin(&codec, errstr, sizeof(errstr)) != BS_OK)
        return 2;
    if (bench_round_trip(codec, rounds, &message_len, &round_trip_us) ||
        bench_decode(codec, rounds, &decode_us))
        goto out;

    printf("user_event rounds=%ld message_bytes=%zu\n", rounds, message_len);
    printf("round_trip_us=%.3f (encode + decode, events API)\n",
           round_trip_us / (double)rounds);
    printf("decode_us=%.3f\n", decode_us / (double)rounds);
    printf("encode_us=%.3f (difference)\n",
           (round_trip_us - decode_us) / (double)rounds);
    status = 0;
out:
    bs_codec_free(codec);
    return status;
}
