/*
 * clerk_event.h - turning a verified Clerk webhook body into a UserEvent.
 *
 * Only user.created, user.updated and user.deleted become events; every
 * other type is reported as such so the caller can acknowledge and count it.
 * A body that is not JSON, or that lacks what a user event needs, is reported
 * as invalid with a reason fit for a dead-letter header (no personal data).
 */
#ifndef CLERK_EVENT_H
#define CLERK_EVENT_H

#include <stddef.h>
#include <stdint.h>

#include "bs/events.h"

enum clerk_map_result {
    CLERK_MAP_USER_EVENT, /* *event filled; caller clears it */
    CLERK_MAP_OTHER_TYPE, /* a valid envelope of another type */
    CLERK_MAP_INVALID     /* reason says why; nothing to clear */
};

/* Longest value we accept per field (Clerk's own are far shorter). */
#define CLERK_MAX_ID   255
#define CLERK_MAX_TEXT 1024
#define CLERK_MAX_URL  4096

struct clerk_map_input {
    const char *body; /* raw bytes as received, not NUL-terminated */
    size_t body_len;
    const char *svix_id; /* becomes event_id */
    const char *product; /* the configured product */
    const char *source;  /* e.g. "webhook-ingest" */
    int64_t received_at; /* Unix ms: the event's occurred_at */
};

/*
 * Maps one webhook. `event_type` (may be NULL) receives the envelope's type
 * when there is one, truncated to its size. Strings in *event are copies.
 */
enum clerk_map_result clerk_map_webhook(const struct clerk_map_input *input,
                                        struct bs_user_event *event,
                                        char *event_type,
                                        size_t event_type_size, char *reason,
                                        size_t reason_size);

#endif
