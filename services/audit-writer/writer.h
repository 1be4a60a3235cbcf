/*
 * writer.h - the audit-writer's share of the consumer pipeline.
 *
 * Decoding dispatches on the schema id of each message (users, faq and
 * audit topics carry three different events) through bs/audit.h, which maps
 * the event to one audit_log row; applying appends the rows to the
 * product's hash chain in the pipeline's transaction, so the row and the
 * consumer offset commit together: one row per event whatever crashes or
 * redeliveries happen (an event id already in audit_log is skipped).
 */
#ifndef AUDIT_WRITER_WRITER_H
#define AUDIT_WRITER_WRITER_H

#include "bs/codec.h"
#include "bs/consumer.h"

#define WRITER_SERVICE "audit-writer"

struct writer {
    struct bs_codec *codec; /* owned */
};

/* Loads the codec. BS_OK or an error with errstr; free with writer_free()
 * either way. */
int writer_init(struct writer *writer, char *errstr, size_t errstr_size);

void writer_free(struct writer *writer);

/* The pipeline callbacks; `writer` must outlive the consumer. */
struct bs_consumer_handler writer_handler(struct writer *writer);

#endif
