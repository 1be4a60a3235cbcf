/*
 * audit.c - GET /api/v1/admin/audit: the product's audit trail, for admins.
 *
 * Rows of audit_log (written by audit-writer), newest first, filtered by
 * entity_type, entity_id, actor, and occurred_at within [from, to) given
 * in RFC 3339. Keyset pagination on the row id (ids grow as rows are
 * appended, so "newest first" is id descending and a page is "ids below
 * the cursor's"); the cursor is the gateway's opaque "v1:<id>".
 *
 * Each row is served as to_jsonb() of the row, so whatever columns the
 * schema has (source_topic/partition/offset since migration 0005) are shown
 * without this file naming them; the hashes are shown as hex.
 *
 * Reading the trail is reading other users' data: an audit.read AuditEvent
 * (which filters were used, never their values, and the row count) is
 * published before the page is served; 503 if the broker does not take it.
 */
#include "gateway.h"

#include "bs/error.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#define FILTER_MAX 255

#define AUDIT_LIST_SQL                                                         \
    "SELECT (to_jsonb(a) - 'hash' - 'prev_hash' || jsonb_build_object("        \
    "'hash', encode(a.hash, 'hex'), 'prev_hash', "                             \
    "encode(a.prev_hash, 'hex')))::text, a.id::text FROM audit_log a "         \
    "WHERE a.product = $1 AND ($2::text IS NULL OR a.entity_type = $2) "       \
    "AND ($3::text IS NULL OR a.entity_id = $3) "                              \
    "AND ($4::text IS NULL OR a.actor_id = $4) "                               \
    "AND ($5::timestamptz IS NULL OR a.occurred_at >= $5::timestamptz) "       \
    "AND ($6::timestamptz IS NULL OR a.occurred_at < $6::timestamptz) "        \
    "AND ($7::bigint IS NULL OR a.id < $7::bigint) "                           \
    "ORDER BY a.id DESC LIMIT $8::int + 1"

struct audit_filters {
    const char *entity_type, *entity_id, *actor, *from, *to;
};

static void respond_error(struct bs_http_request *req, const char *code,
                          const char *message)
{
    gw_cors_apply(req);
    bs_http_respond_error(req, 400, code, message);
}

/* ---- RFC 3339 ------------------------------------------------------------ */

/* `n` digits at *p as a number, advancing *p; -1 when they are not. */
static int digits(const char **p, int n)
{
    int value = 0;

    for (int i = 0; i < n; i++) {
        if (!isdigit((unsigned char)(*p)[i]))
            return -1;
        value = value * 10 + ((*p)[i] - '0');
    }
    *p += n;
    return value;
}

static int days_in_month(int year, int month)
{
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;

    return month == 2 && leap ? 29 : days[month - 1];
}

/* Expects character c at *p, advancing. Only upper-case T and Z: what
 * PostgreSQL is sure to read back. */
static bool expect_char(const char **p, char c)
{
    if (**p != c)
        return false;
    (*p)++;
    return true;
}

/* "Z" or "+hh:mm"/"-hh:mm" at p, ending the text. */
static bool offset_valid(const char *p)
{
    int hours, minutes;

    if (expect_char(&p, 'Z'))
        return *p == '\0';
    if (*p != '+' && *p != '-')
        return false;
    p++;
    hours = digits(&p, 2);
    if (hours < 0 || hours > 23 || !expect_char(&p, ':'))
        return false;
    minutes = digits(&p, 2);
    return minutes >= 0 && minutes <= 59 && *p == '\0';
}

/* True for an RFC 3339 date-time: 2026-12-03T18:00:00(.123)?(Z|+01:00). */
static bool rfc3339_valid(const char *text)
{
    const char *p = text;
    int year, month, day, hour, minute, second;

    if (strlen(text) > 40)
        return false;
    year = digits(&p, 4);
    if (year < 1 || !expect_char(&p, '-') || (month = digits(&p, 2)) < 1 ||
        month > 12 || !expect_char(&p, '-') || (day = digits(&p, 2)) < 1 ||
        day > days_in_month(year, month) || !expect_char(&p, 'T'))
        return false;
    hour = digits(&p, 2);
    if (hour < 0 || hour > 23 || !expect_char(&p, ':') ||
        (minute = digits(&p, 2)) < 0 || minute > 59 || !expect_char(&p, ':') ||
        (second = digits(&p, 2)) < 0 || second > 59)
        return false;
    if (*p == '.') {
        p++;
        if (!isdigit((unsigned char)*p))
            return false;
        for (int n = 0; isdigit((unsigned char)*p); n++, p++) {
            if (n == 9)
                return false;
        }
    }
    return offset_valid(p);
}

/* ---- parameters ---------------------------------------------------------- */

/* 1..FILTER_MAX bytes of valid UTF-8 without control characters (the
 * database refuses invalid UTF-8 as an error, which must not become a
 * 500). */
static bool text_filter_valid(const char *value)
{
    const utf8proc_uint8_t *p = (const utf8proc_uint8_t *)value;
    utf8proc_ssize_t left, step;
    utf8proc_int32_t cp;

    if (!value)
        return true;
    left = (utf8proc_ssize_t)strlen(value);
    if (left == 0 || left > FILTER_MAX)
        return false;
    while (left > 0) {
        step = utf8proc_iterate(p, left, &cp);
        if (step < 1 || cp < 0x20 || (cp >= 0x7f && cp < 0xa0))
            return false;
        p += step;
        left -= step;
    }
    return true;
}

/* The filters; false after answering 400. */
static bool audit_params(struct bs_http_request *req,
                         struct audit_filters *filters)
{
    filters->entity_type = bs_http_request_query(req, "entity_type");
    filters->entity_id = bs_http_request_query(req, "entity_id");
    filters->actor = bs_http_request_query(req, "actor");
    filters->from = bs_http_request_query(req, "from");
    filters->to = bs_http_request_query(req, "to");
    if (!text_filter_valid(filters->entity_type) ||
        !text_filter_valid(filters->entity_id) ||
        !text_filter_valid(filters->actor)) {
        respond_error(req, "invalid_filter",
                      "entity_type, entity_id and actor must be 1 to 255 "
                      "bytes of UTF-8 text without control characters");
        return false;
    }
    if ((filters->from && !rfc3339_valid(filters->from)) ||
        (filters->to && !rfc3339_valid(filters->to))) {
        respond_error(req, "invalid_time",
                      "from and to must be RFC 3339 date-times, e.g. "
                      "2026-12-03T18:00:00Z");
        return false;
    }
    return true;
}

/* limit and cursor (an id: digits only); false after answering 400. */
static bool audit_page(struct bs_http_request *req, unsigned *limit,
                       char after[GW_KEY_MAX])
{
    size_t len;

    if (!gw_page_params(req, false, limit, after))
        return false;
    len = strlen(after);
    for (size_t i = 0; i < len; i++) {
        if (!isdigit((unsigned char)after[i]) || len > 18) {
            respond_error(req, "invalid_cursor",
                          "cursor is not one this API returned");
            return false;
        }
    }
    return true;
}

/* ---- the handler --------------------------------------------------------- */

/* Which filters were given (never their values) and the row count. */
static void audit_changes(const struct audit_filters *f, size_t count,
                          char *buf, size_t size)
{
#define GIVEN(v) ((v) ? "true" : "false")
    snprintf(buf, size,
             "{\"filters\":{\"entity_type\":%s,\"entity_id\":%s,\"actor\":%s,"
             "\"from\":%s,\"to\":%s},\"count\":%zu}",
             GIVEN(f->entity_type), GIVEN(f->entity_id), GIVEN(f->actor),
             GIVEN(f->from), GIVEN(f->to), count);
#undef GIVEN
}

static void list_audit(struct gw_call *call, const struct audit_filters *f,
                       unsigned limit, const char *after)
{
    char limit_text[16], changes[256];
    const char *params[] = {call->gw->product,
                            f->entity_type,
                            f->entity_id,
                            f->actor,
                            f->from,
                            f->to,
                            after[0] ? after : NULL,
                            limit_text};
    PGresult *res;
    json_t *page;
    size_t count;

    snprintf(limit_text, sizeof(limit_text), "%u", limit);
    res = gw_call_query(call, AUDIT_LIST_SQL, 8, params);
    if (!res)
        return;
    page = gw_page_json(res, limit, &count);
    PQclear(res);
    if (!page) {
        gw_respond_internal(call->req, "audit page not built");
        return;
    }

    /* Audited before it is served. */
    audit_changes(f, count, changes, sizeof(changes));
    if (gw_publish_audit(call, "audit.read", "audit_log", "*", changes) !=
        BS_OK) {
        json_decref(page);
        gw_respond_unavailable(call->req);
        return;
    }
    gw_respond_json(call->req, 200, page);
}

void gw_handle_audit_list(struct bs_http_request *req)
{
    struct audit_filters filters;
    char after[GW_KEY_MAX];
    unsigned limit;
    struct gw_call call;

    if (!gw_call_begin(req, &call))
        return;
    if (gw_call_require_admin(&call) && audit_params(req, &filters) &&
        audit_page(req, &limit, after))
        list_audit(&call, &filters, limit, after);
    gw_call_end(&call);
}
