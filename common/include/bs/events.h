/*
 * events.h - the three events of the contract as plain C structs.
 *
 * Services fill or read these structs; the functions here map them to and
 * from the newest schema version of the compiled-in catalog through the
 * codec. Every event carries event_id, product, occurred_at (Unix ms) and
 * source (the service that wrote it).
 *
 * Strings are owned by the struct: bs_*_event_clear() frees them (and zeroes
 * the struct). Nullable strings are NULL when absent. Encoding never takes
 * ownership of the struct's strings.
 */
#ifndef BS_EVENTS_H
#define BS_EVENTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bs/codec.h"

#define BS_USER_EVENT_NAME  "com.bestays.events.UserEvent"
#define BS_FAQ_EVENT_NAME   "com.bestays.events.FaqDocumentEvent"
#define BS_AUDIT_EVENT_NAME "com.bestays.events.AuditEvent"

/* Fields every event carries. */
struct bs_event_meta {
    char *event_id;      /* svix-id for webhooks, a UUIDv7 otherwise */
    char *product;       /* the product that owns the event */
    int64_t occurred_at; /* Unix milliseconds */
    char *source;        /* e.g. "webhook-ingest" */
};

enum bs_user_action { BS_USER_CREATED, BS_USER_UPDATED, BS_USER_DELETED };

struct bs_user_event {
    struct bs_event_meta meta;
    enum bs_user_action action;
    char *clerk_user_id;
    char *email;      /* nullable: no primary email */
    char *first_name; /* nullable */
    char *last_name;  /* nullable */
    char *role;       /* nullable: public_metadata.role */
    char *image_url;  /* nullable */
    bool has_clerk_updated_at;
    int64_t clerk_updated_at; /* Clerk's data.updated_at, Unix ms */
};

enum bs_faq_action { BS_FAQ_UPSERT, BS_FAQ_DELETE, BS_FAQ_REINDEX };

struct bs_faq_event {
    struct bs_event_meta meta;
    enum bs_faq_action action;
    char *document_id;
    char *category; /* nullable: a category slug */
    char *title;    /* nullable for delete/reindex */
    char *content;  /* nullable for delete/reindex */
    char *status;   /* nullable: "draft", "published", "archived" */
    int64_t version;
    char *actor_id; /* nullable: who changed it */
};

struct bs_audit_event {
    struct bs_event_meta meta;
    char *actor_id; /* nullable: system actions have no actor */
    char *action;   /* e.g. "faq.create", "user.read" */
    char *entity_type;
    char *entity_id;
    char *changes;    /* nullable JSON object text */
    char *request_id; /* nullable */
};

/* Encode to the wire format with the newest schema version. *out is
 * malloc'd; the caller frees it. */
int bs_user_event_encode(const struct bs_codec *codec,
                         const struct bs_user_event *event, unsigned char **out,
                         size_t *out_len, char *errstr, size_t errstr_size);
int bs_faq_event_encode(const struct bs_codec *codec,
                        const struct bs_faq_event *event, unsigned char **out,
                        size_t *out_len, char *errstr, size_t errstr_size);
int bs_audit_event_encode(const struct bs_codec *codec,
                          const struct bs_audit_event *event,
                          unsigned char **out, size_t *out_len, char *errstr,
                          size_t errstr_size);

/* Decode bytes written with any catalog version. On success *event owns its
 * strings (release with the matching _clear); on failure it is left zeroed
 * and the result is BS_EDECODE (or BS_ENOMEM; BS_ENOTFOUND only when the
 * codec has no schema of that name, which the builtin codec always has).
 * Bytes of another event's schema are BS_EDECODE. */
int bs_user_event_decode(const struct bs_codec *codec, const void *bytes,
                         size_t len, struct bs_user_event *event, char *errstr,
                         size_t errstr_size);
int bs_faq_event_decode(const struct bs_codec *codec, const void *bytes,
                        size_t len, struct bs_faq_event *event, char *errstr,
                        size_t errstr_size);
int bs_audit_event_decode(const struct bs_codec *codec, const void *bytes,
                          size_t len, struct bs_audit_event *event,
                          char *errstr, size_t errstr_size);

void bs_user_event_clear(struct bs_user_event *event);
void bs_faq_event_clear(struct bs_faq_event *event);
void bs_audit_event_clear(struct bs_audit_event *event);

/* Names used in the Avro enums and in logs: "created", "upsert", ... */
const char *bs_user_action_name(enum bs_user_action action);
const char *bs_faq_action_name(enum bs_faq_action action);

#endif
