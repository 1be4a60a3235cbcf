/*
 * writer.c - decode any audited event into a row, append rows to the chain.
 *
 * A batch is appended with one bs_audit_append() call (five statements
 * whatever its size); a data error there makes the pipeline redo the batch
 * one record at a time, each through the same call, so only the bad record
 * is dead-lettered.
 */
#include "writer.h"

#include <stdlib.h>

#include "bs/audit.h"
#include "bs/error.h"

int writer_init(struct writer *writer, char *errstr, size_t errstr_size)
{
    writer->codec = NULL;
    return bs_codec_new_builtin(&writer->codec, errstr, errstr_size);
}

void writer_free(struct writer *writer)
{
    bs_codec_free(writer->codec);
    writer->codec = NULL;
}

static int decode(void *ctx, const void *bytes, size_t len, void **decoded,
                  const char **product, char *errstr, size_t errstr_size)
{
    struct writer *writer = ctx;
    struct bs_audit_row *row = malloc(sizeof(*row));
    int result;

    if (!row)
        return bs_fail(errstr, errstr_size, BS_ENOMEM, "out of memory");
    result = bs_audit_row_from_message(writer->codec, bytes, len, row, errstr,
                                       errstr_size);
    if (result != BS_OK) {
        free(row);
        return result;
    }
    *decoded = row;
    *product = row->product;
    return BS_OK;
}

static void free_decoded(void *ctx, void *decoded)
{
    (void)ctx;
    bs_audit_row_clear(decoded);
    free(decoded);
}

/* A failed append as the pipeline wants it: data errors are dead-lettered,
 * everything else is retried. */
static enum bs_consumer_result failed(enum bs_db_error_kind kind,
                                      const char *errstr, char *reason,
                                      size_t reason_size)
{
    if (kind == BS_DB_ERROR_DATA) {
        snprintf(reason, reason_size, "invalid_data: %s", errstr);
        return BS_CONSUMER_DATA_ERROR;
    }
    snprintf(reason, reason_size, "%s", errstr);
    return BS_CONSUMER_INFRA_ERROR;
}

static enum bs_consumer_result append(PGconn *conn, void *const *decoded,
                                      const struct bs_consumer_message *msgs,
                                      size_t count, char *reason,
                                      size_t reason_size)
{
    const struct bs_audit_row **rows = calloc(count ? count : 1, sizeof(*rows));
    enum bs_db_error_kind kind = BS_DB_ERROR_NONE;
    char errstr[512] = "";
    int result = rows ? BS_OK : BS_ENOMEM;

    for (size_t i = 0; result == BS_OK && i < count; i++) {
        struct bs_audit_row *row = decoded[i];

        result = bs_audit_row_set_source(row, msgs[i].topic, msgs[i].partition,
                                         msgs[i].offset);
        rows[i] = row;
    }
    if (result == BS_OK)
        result = bs_audit_append(conn, rows[0]->product, rows, count, NULL,
                                 &kind, errstr, sizeof(errstr));
    free(rows);
    if (result == BS_OK)
        return BS_CONSUMER_APPLIED;
    if (result == BS_ENOMEM)
        snprintf(errstr, sizeof(errstr), "out of memory");
    return failed(kind, errstr, reason, reason_size);
}

static enum bs_consumer_result apply(void *ctx, PGconn *conn, void *decoded,
                                     const struct bs_consumer_message *msg,
                                     char *reason, size_t reason_size)
{
    (void)ctx;
    return append(conn, &decoded, msg, 1, reason, reason_size);
}

static enum bs_consumer_result
apply_batch(void *ctx, PGconn *conn, void *const *decoded,
            const struct bs_consumer_message *msgs, size_t count, char *reason,
            size_t reason_size)
{
    (void)ctx;
    if (count == 0)
        return BS_CONSUMER_APPLIED;
    return append(conn, decoded, msgs, count, reason, reason_size);
}

struct bs_consumer_handler writer_handler(struct writer *writer)
{
    return (struct bs_consumer_handler){
        .ctx = writer,
        .decode = decode,
        .apply = apply,
        .free_decoded = free_decoded,
        .apply_batch = apply_batch,
    };
}
