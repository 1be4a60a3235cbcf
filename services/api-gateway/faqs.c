/*
 * faqs.c - the admin FAQ endpoints: reads from faq_documents, writes as
 * FaqDocumentEvents.
 *
 * The gateway never writes a FAQ row: create, update and delete publish a
 * FaqDocumentEvent on <product>.faq keyed by the document id, and answer
 * 202 {"id","version"} with a Location once the broker has acknowledged it
 * (503 + Retry-After otherwise); faq-indexer applies it. Versions give
 * optimistic concurrency: a create is version 1, an update or delete is the
 * projected version + 1, and If-Match naming another version than the
 * projected one is 412. The check is against the projection, so two writers
 * racing within the projection's lag may both pass; faq-indexer must apply
 * only versions newer than the row's.
 *
 * After the FAQ event, a faq.create / faq.update / faq.delete AuditEvent
 * goes to <product>.audit with the changed field names and the version
 * (never the text). If that one publish fails the change still stands
 * (it is in the log, from which the audit trail is also derived): logged,
 * counted, answered 202.
 *
 * Writes authenticate with gw_call_begin_fresh(): the caller's row is read
 * from PostgreSQL, never from the caller cache, so a demoted or deleted
 * admin cannot change anything even within CALLER_CACHE_MS.
 */
#include "gateway.h"
#include "gw_faq_input.h"

#include "bs/error.h"
#include "bs/events.h"
#include "bs/log.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define FAQ_JSON_BRIEF                                                         \
    "json_build_object('id', d.id, 'title', d.title, 'status', d.status, "     \
    "'category', c.slug, 'version', d.version, 'created_at', d.created_at, "   \
    "'updated_at', d.updated_at)::text"

#define FAQ_JSON_FULL                                                          \
    "json_build_object('id', d.id, 'title', d.title, 'content', d.content, "   \
    "'status', d.status, 'category', c.slug, 'version', d.version, "           \
    "'created_by', d.created_by, 'updated_by', d.updated_by, "                 \
    "'created_at', d.created_at, 'updated_at', d.updated_at)::text"

#define FAQ_FROM                                                               \
    " FROM faq_documents d LEFT JOIN faq_categories c "                        \
    "ON c.product = d.product AND c.id = d.category_id "                       \
    "WHERE d.product = $1 AND d.deleted_at IS NULL"

#define FAQ_LIST_SQL                                                           \
    "SELECT " FAQ_JSON_BRIEF ", d.id::text" FAQ_FROM                           \
    " AND ($2::text IS NULL OR d.status = $2)"                                 \
    " AND ($3::text IS NULL OR c.slug = $3)"                                   \
    " AND ($4::uuid IS NULL OR d.id > $4::uuid)"                               \
    " ORDER BY d.id LIMIT $5::int + 1"

#define FAQ_GET_SQL "SELECT " FAQ_JSON_FULL FAQ_FROM " AND d.id = $2::uuid"

/* What an update or delete starts from. */
#define FAQ_CURRENT_SQL                                                        \
    "SELECT d.version, d.title, d.content, d.status, c.slug" FAQ_FROM          \
    " AND d.id = $2::uuid"

#define CATEGORY_SQL                                                           \
    "SELECT 1 FROM faq_categories WHERE product = $1 AND slug = $2"

#define PATH_PREFIX "/api/v1/admin/faqs/"

/* The projected document an update or delete works on. */
struct faq_current {
    int64_t version;
    char *title, *content, *status, *category;
};

static void respond_error(struct bs_http_request *req, unsigned status,
                          const char *code, const char *message)
{
    gw_cors_apply(req);
    bs_http_respond_error(req, status, code, message);
}

static int64_t now_ms(void)
{
    struct timespec now;

    clock_gettime(CLOCK_REALTIME, &now);
    return (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

/* The {id} of the path as a canonical UUID; false after answering 400. */
static bool path_id(struct bs_http_request *req, char id[GW_UUID_SIZE])
{
    if (gw_uuid_parse(bs_http_request_param(req, "id"), id))
        return true;
    respond_error(req, 400, "invalid_id", "a FAQ id is a UUID");
    return false;
}

/* ---- reads ------------------------------------------------------------------
 */

static bool list_filters(struct bs_http_request *req, const char **status,
                         const char **category)
{
    *status = bs_http_request_query(req, "status");
    *category = bs_http_request_query(req, "category");
    if (*status && !gw_faq_status_valid(*status)) {
        respond_error(req, 400, "invalid_status",
                      "status must be draft, published or archived");
        return false;
    }
    if (!gw_text_valid(*category, 100)) {
        respond_error(req, 400, "invalid_category",
                      "category must be a slug of 1 to 100 characters");
        return false;
    }
    return true;
}

void gw_handle_faq_list(struct bs_http_request *req)
{
    const char *status = NULL, *category = NULL;
    char after[GW_KEY_MAX], limit_text[16];
    unsigned limit;
    size_t count;
    struct gw_call call;
    PGresult *res;

    if (!gw_call_begin(req, &call))
        return;
    if (!gw_call_require_admin(&call) ||
        !list_filters(req, &status, &category) ||
        !gw_page_params(req, true, &limit, after))
        goto out;

    snprintf(limit_text, sizeof(limit_text), "%u", limit);
    {
        const char *params[] = {call.gw->product, status, category,
                                after[0] ? after : NULL, limit_text};

        res = gw_call_query(&call, FAQ_LIST_SQL, 5, params);
    }
    if (res) {
        gw_respond_json(req, 200, gw_page_json(res, limit, &count));
        PQclear(res);
    }

out:
    gw_call_end(&call);
}

void gw_handle_faq_get(struct bs_http_request *req)
{
    char id[GW_UUID_SIZE];
    struct gw_call call;
    PGresult *res;

    if (!gw_call_begin(req, &call))
        return;
    if (!gw_call_require_admin(&call) || !path_id(req, id))
        goto out;
    {
        const char *params[] = {call.gw->product, id};

        res = gw_call_query(&call, FAQ_GET_SQL, 2, params);
    }
    if (!res)
        goto out;
    if (PQntuples(res) == 0) {
        respond_error(req, 404, "not_found", "no such FAQ in this product");
    } else {
        json_t *doc = gw_row_json(res, 0);
        char etag[32];

        snprintf(etag, sizeof(etag), "\"%" JSON_INTEGER_FORMAT "\"",
                 json_integer_value(json_object_get(doc, "version")));
        bs_http_response_header(req, "ETag", etag);
        gw_respond_json(req, 200, doc);
    }
    PQclear(res);

out:
    gw_call_end(&call);
}

/* ---- writes
 * ------------------------------------------------------------------ */

/* 422 unless the category slug exists in this product; NULL passes. */
static bool category_exists(struct gw_call *call, const char *slug)
{
    const char *params[] = {call->gw->product, slug};
    PGresult *res;
    bool found;

    if (!slug)
        return true;
    res = gw_call_query(call, CATEGORY_SQL, 2, params);
    if (!res)
        return false;
    found = PQntuples(res) == 1;
    PQclear(res);
    if (!found)
        respond_error(call->req, 422, "unknown_category",
                      "field 'category' names no category of this product");
    return found;
}

/* {"fields":["title",...],"version":N}: what changed, not the text. */
static void audit_changes(const struct gw_faq_input *input, int64_t version,
                          char *buf, size_t size)
{
    char fields[96] = "";

    if (input && input->title)
        strcat(fields, ",\"title\"");
    if (input && input->content)
        strcat(fields, ",\"content\"");
    if (input && input->status)
        strcat(fields, ",\"status\"");
    if (input && input->has_category)
        strcat(fields, ",\"category\"");
    snprintf(buf, size, "{\"fields\":[%s],\"version\":%" PRId64 "}",
             fields[0] ? fields + 1 : "", version);
}

/* Encodes and publishes the event, then the audit, then answers 202. */
static void publish_change(struct gw_call *call, struct bs_faq_event *event,
                           const char *action, const struct gw_faq_input *input)
{
    struct gateway *gw = call->gw;
    char event_id[GW_UUID_SIZE], errstr[256], changes[160], location[128];
    unsigned char *value = NULL;
    size_t len = 0;

    if (gw_uuid_v7_now(event_id) != BS_OK) {
        gw_respond_internal(call->req, "no randomness for an event id");
        return;
    }
    event->meta.event_id = event_id;
    event->meta.product = gw->product;
    event->meta.occurred_at = now_ms();
    event->meta.source = GW_SERVICE;
    event->actor_id = call->user_id;
    if (bs_faq_event_encode(gw->codec, event, &value, &len, errstr,
                            sizeof(errstr)) != BS_OK) {
        bs_log_error("faq_encode_failed reason=\"%s\"", errstr);
        gw_respond_internal(call->req, "FAQ event encoding failed");
        return;
    }

    /* The change itself: answered only once acknowledged. */
    if (gw_publish(call, gw->faq_topic, event->document_id, value, len) !=
        BS_OK) {
        free(value);
        gw_respond_unavailable(call->req);
        return;
    }
    free(value);
    bs_log_info("faq_published action=%s document_id=%s version=%" PRId64
                " request_id=%s",
                action, event->document_id, event->version,
                call->req->request_id);

    /* Its audit entry: a failure is logged, the change stands. */
    audit_changes(input, event->version, changes, sizeof(changes));
    if (gw_publish_audit(call, action, "faq_document", event->document_id,
                         changes) != BS_OK)
        bs_log_error("audit_not_published action=%s document_id=%s "
                     "request_id=%s",
                     action, event->document_id, call->req->request_id);

    snprintf(location, sizeof(location), PATH_PREFIX "%s", event->document_id);
    bs_http_response_header(call->req, "Location", location);
    gw_respond_json(call->req, 202,
                    json_pack("{s:s, s:I}", "id", event->document_id, "version",
                              (json_int_t)event->version));
}

/* The body, parsed; false after answering 400. */
static bool parse_body(struct bs_http_request *req, enum gw_faq_mode mode,
                       struct gw_faq_input *input)
{
    char message[256];
    int result;

    result = gw_faq_input_parse((const char *)req->body, req->body_len, mode,
                                input, message, sizeof(message));
    if (result == BS_ENOMEM)
        gw_respond_internal(req, "out of memory");
    else if (result != BS_OK)
        respond_error(req, 400, "invalid_body", message);
    return result == BS_OK;
}

void gw_handle_faq_create(struct bs_http_request *req)
{
    struct gw_faq_input input = {0};
    char id[GW_UUID_SIZE];
    struct gw_call call;
    struct bs_faq_event event = {0};

    if (!gw_call_begin_fresh(req, &call))
        return;
    if (!gw_call_require_admin(&call) ||
        !parse_body(req, GW_FAQ_CREATE, &input) ||
        !category_exists(&call, input.category))
        goto out;
    if (gw_uuid_v7_now(id) != BS_OK) {
        gw_respond_internal(req, "no randomness for a document id");
        goto out;
    }

    event.action = BS_FAQ_UPSERT;
    event.document_id = id;
    event.title = input.title;
    event.content = input.content;
    event.status = input.status ? input.status : "draft";
    event.category = input.category;
    event.version = 1;
    publish_change(&call, &event, "faq.create", &input);

out:
    gw_faq_input_clear(&input);
    gw_call_end(&call);
}

static void current_clear(struct faq_current *current)
{
    free(current->title);
    free(current->content);
    free(current->status);
    free(current->category);
    memset(current, 0, sizeof(*current));
}

static char *column(const PGresult *res, int col)
{
    return PQgetisnull(res, 0, col) ? NULL : strdup(PQgetvalue(res, 0, col));
}

/* The projected document, then If-Match; false after answering. */
static bool load_current(struct gw_call *call, const char *id,
                         struct faq_current *current)
{
    const char *params[] = {call->gw->product, id};
    const char *if_match = bs_http_request_header(call->req, "If-Match");
    int64_t expected = 0;
    PGresult *res = gw_call_query(call, FAQ_CURRENT_SQL, 2, params);

    if (!res)
        return false;
    if (PQntuples(res) == 0) {
        PQclear(res);
        respond_error(call->req, 404, "not_found",
                      "no such FAQ in this product");
        return false;
    }
    current->version = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    current->title = column(res, 1);
    current->content = column(res, 2);
    current->status = column(res, 3);
    current->category = column(res, 4);
    PQclear(res);

    if (if_match && gw_if_match_parse(if_match, &expected) != BS_OK) {
        respond_error(call->req, 400, "invalid_if_match",
                      "If-Match must be the document's version, e.g. \"3\"");
        return false;
    }
    if (if_match && expected != current->version) {
        respond_error(call->req, 412, "version_mismatch",
                      "the document changed: If-Match is not its current "
                      "version");
        return false;
    }
    return true;
}

void gw_handle_faq_update(struct bs_http_request *req)
{
    struct gw_faq_input input = {0};
    struct faq_current current = {0};
    char id[GW_UUID_SIZE];
    struct gw_call call;
    struct bs_faq_event event = {0};

    if (!gw_call_begin_fresh(req, &call))
        return;
    if (!gw_call_require_admin(&call) || !path_id(req, id) ||
        !parse_body(req, GW_FAQ_UPDATE, &input) ||
        !load_current(&call, id, &current) ||
        !category_exists(&call, input.category))
        goto out;

    /* The event carries the whole document: the projection merged with
     * what the body changes. */
    event.action = BS_FAQ_UPSERT;
    event.document_id = id;
    event.title = input.title ? input.title : current.title;
    event.content = input.content ? input.content : current.content;
    event.status = input.status ? input.status : current.status;
    event.category = input.has_category ? input.category : current.category;
    event.version = current.version + 1;
    publish_change(&call, &event, "faq.update", &input);

out:
    current_clear(&current);
    gw_faq_input_clear(&input);
    gw_call_end(&call);
}

void gw_handle_faq_delete(struct bs_http_request *req)
{
    struct faq_current current = {0};
    char id[GW_UUID_SIZE];
    struct gw_call call;
    struct bs_faq_event event = {0};

    if (!gw_call_begin_fresh(req, &call))
        return;
    if (!gw_call_require_admin(&call) || !path_id(req, id) ||
        !load_current(&call, id, &current))
        goto out;

    event.action = BS_FAQ_DELETE;
    event.document_id = id;
    event.version = current.version + 1;
    publish_change(&call, &event, "faq.delete", NULL);

out:
    current_clear(&current);
    gw_call_end(&call);
}
