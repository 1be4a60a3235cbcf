/*
 * webhook.c - `bsctl webhook sign`: Svix headers for a test webhook.
 *
 * Reads a body (a file or stdin), signs it with the first secret of
 * CLERK_WEBHOOK_SECRET exactly as Svix would, and prints the three headers
 * as curl arguments on one line, ready to paste:
 *
 *   eval curl --data-binary @body.json \
 *       $(bsctl webhook sign --file body.json) URL
 *
 * (eval, so the printed quotes are honoured). The body must be sent byte
 * for byte (curl --data-binary, not -d, which strips newlines). Nothing is
 * sent from here, and the secret is never printed.
 */
#include "bsctl.h"

#include "bs/error.h"
#include "bs/svix.h"

#include <inttypes.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_BODY (64 * 1024 * 1024)

struct sign_args {
    const char *id;
    const char *timestamp;
    const char *file;
};

static int usage_error(const char *what)
{
    fprintf(stderr,
            "bsctl webhook: %s\n"
            "usage: bsctl webhook sign [--id MSG_ID] [--timestamp UNIX] "
            "[--file BODY.json]\n",
            what);
    return 64;
}

static int parse_args(int argc, char **argv, struct sign_args *args)
{
    if (argc < 1 || strcmp(argv[0], "sign") != 0)
        return usage_error("unknown or missing sub-command");
    for (int i = 1; i < argc; i++) {
        const char **slot = NULL;

        if (strcmp(argv[i], "--id") == 0)
            slot = &args->id;
        else if (strcmp(argv[i], "--timestamp") == 0)
            slot = &args->timestamp;
        else if (strcmp(argv[i], "--file") == 0)
            slot = &args->file;
        if (!slot || i + 1 >= argc)
            return usage_error(slot ? "an option lacks its value"
                                    : "unknown argument");
        *slot = argv[++i];
    }
    return 0;
}

/* Printable ASCII without quotes or spaces: safe inside '...' and as a
 * header value. */
static bool header_safe(const char *text)
{
    if (!*text)
        return false;
    for (const char *c = text; *c; c++)
        if (*c <= ' ' || *c > '~' || *c == '\'' || *c == '\\')
            return false;
    return true;
}

/* Reads the whole stream; the caller frees *body. */
static int read_all(FILE *in, char **body, size_t *len)
{
    size_t cap = 4096, used = 0, got;
    char *buf = malloc(cap);

    while (buf && (got = fread(buf + used, 1, cap - used, in)) > 0) {
        used += got;
        if (used == cap) {
            char *bigger = cap < MAX_BODY ? realloc(buf, cap * 2) : NULL;

            if (!bigger) {
                free(buf);
                buf = NULL;
            }
            buf = bigger;
            cap *= 2;
        }
    }
    if (!buf || ferror(in)) {
        free(buf);
        return BS_EIO;
    }
    *body = buf;
    *len = used;
    return BS_OK;
}

static int read_body(const char *file, char **body, size_t *len)
{
    FILE *in = file ? fopen(file, "rb") : stdin;
    int result;

    if (!in) {
        fprintf(stderr, "bsctl webhook: cannot open %s\n", file);
        return BS_EIO;
    }
    result = read_all(in, body, len);
    if (file)
        fclose(in);
    if (result != BS_OK)
        fprintf(stderr, "bsctl webhook: cannot read the body\n");
    return result;
}

/* "msg_" and 32 random hex digits. */
static int random_id(char *buf, size_t size)
{
    unsigned char bytes[16];
    size_t used;

    if (RAND_bytes(bytes, sizeof(bytes)) != 1)
        return BS_EIO;
    used = (size_t)snprintf(buf, size, "msg_");
    for (size_t i = 0; i < sizeof(bytes) && used + 2 < size; i++)
        used += (size_t)snprintf(buf + used, size - used, "%02x", bytes[i]);
    return BS_OK;
}

int bsctl_webhook(struct bs_program *program, int argc, char **argv)
{
    struct sign_args args = {0};
    struct bs_svix_keys *keys = NULL;
    char id[64], timestamp[32], signature[BS_SVIX_SIGNATURE_SIZE];
    char errstr[256];
    char *body = NULL;
    size_t body_len = 0;
    int exit_code = parse_args(argc, argv, &args);

    if (exit_code != 0)
        return exit_code;

    /* The secret, the id and the time. */
    exit_code = 2;
    if (bs_svix_keys_parse(
            bs_config_get(program->config, "CLERK_WEBHOOK_SECRET"), &keys,
            errstr, sizeof(errstr)) != BS_OK) {
        fprintf(stderr, "bsctl webhook: %s\n", errstr);
        goto out;
    }
    exit_code = 1;
    if (args.id)
        snprintf(id, sizeof(id), "%s", args.id);
    else if (random_id(id, sizeof(id)) != BS_OK)
        goto out;
    snprintf(timestamp, sizeof(timestamp), "%s",
             args.timestamp ? args.timestamp : "");
    if (!args.timestamp)
        snprintf(timestamp, sizeof(timestamp), "%" PRId64, (int64_t)time(NULL));
    if (!header_safe(id) || !header_safe(timestamp)) {
        exit_code = usage_error("--id and --timestamp must be printable "
                                "without spaces or quotes");
        goto out;
    }

    /* The body, its signature, the curl arguments. */
    if (read_body(args.file, &body, &body_len) != BS_OK ||
        bs_svix_sign(keys, 0, id, timestamp, body, body_len, signature,
                     sizeof(signature)) != BS_OK)
        goto out;
    printf("-H 'svix-id: %s' -H 'svix-timestamp: %s' "
           "-H 'svix-signature: %s'\n",
           id, timestamp, signature);
    exit_code = 0;

out:
    free(body);
    bs_svix_keys_free(keys);
    return exit_code;
}
