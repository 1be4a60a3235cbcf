/*
 * users.c - GET /api/v1/users/me, /api/v1/users/{id}, /api/v1/users.
 *
 * Users are the rows user-projector keeps from Clerk's webhooks; the gateway
 * only reads them, inside the product's transaction, with the product also
 * in the WHERE clause so the (product, id) primary key serves the lookup.
 * A deleted user, a user of the other product (invisible under row-level
 * security) and a user that never existed are the same 404. Reading
 * someone else's row (an admin) publishes a user.read AuditEvent first,
 * and listing publishes user.list; no data is served unaudited.
 */
#include "gateway.h"

#include "bs/error.h"

#include <stdio.h>
#include <string.h>

#define USER_JSON                                                              \
    "json_build_object('id', id, 'email', email, 'first_name', first_name, "   \
    "'last_name', last_name, 'role', role, 'image_url', image_url, "           \
    "'created_at', created_at, 'updated_at', updated_at)::text"

#define USER_SQL                                                               \
    "SELECT " USER_JSON " FROM users WHERE product = $1 AND id = $2 "          \
    "AND deleted_at IS NULL"

/* q matches e-mail, first or last name as a case-insensitive substring
 * (strpos, so '%' and '_' in q are plain characters). */
#define USER_LIST_SQL                                                          \
    "SELECT " USER_JSON ", id FROM users WHERE product = $1 "                  \
    "AND deleted_at IS NULL AND ($2::text IS NULL OR role = $2) "              \
    "AND ($3::text IS NULL OR strpos(lower(coalesce(email, '') || ' ' || "     \
    "coalesce(first_name, '') || ' ' || coalesce(last_name, '')), "            \
    "lower($3)) > 0) AND ($4::text IS NULL OR id > $4) "                       \
    "ORDER BY id LIMIT $5::int + 1"

#define QUERY_MAX 100

/* The caller's own row, read with the identity. PostgreSQL built it with
 * json_build_object(), so it is sent as it came (parsing and serializing
 * it again only cost CPU on the hottest read). */
static void respond_self(struct gw_call *call)
{
    if (!call->self_json) {
        gw_respond_internal(call->req, "out of memory");
        return;
    }
    gw_cors_apply(call->req);
    if (bs_http_respond_json_text(call->req, 200, call->self_json) != BS_OK)
        gw_respond_internal(call->req, "out of memory");
}

void gw_handle_user_me(struct bs_http_request *req)
{
    struct gw_call call;

    if (!gw_call_begin(req, &call))
        return;
    respond_self(&call);
    gw_call_end(&call);
}

/* An admin reads another user: audit first, and only then the row. */
static void read_other_user(struct gw_call *call, const char *user_id)
{
    const char *params[] = {call->gw->product, user_id};
    PGresult *res = gw_call_query(call, USER_SQL, 2, params);

    if (!res)
        return;
    if (PQntuples(res) == 0) {
        gw_cors_apply(call->req);
        bs_http_respond_error(call->req, 404, "not_found",
                              "no such user in this product");
    } else if (gw_publish_audit(call, "user.read", "user", user_id, NULL) !=
               BS_OK) {
        gw_respond_unavailable(call->req);
    } else {
        gw_respond_json(call->req, 200, gw_row_json(res, 0));
    }
    PQclear(res);
}

void gw_handle_user_get(struct bs_http_request *req)
{
    const char *user_id = bs_http_request_param(req, "id");
    struct gw_call call;

    if (!gw_call_begin(req, &call))
        return;
    if (!gw_clerk_id_valid(user_id)) {
        gw_cors_apply(req);
        bs_http_respond_error(req, 400, "invalid_id",
                              "a user id is 1 to 255 characters of letters, "
                              "digits, '_' and '-'");
    } else if (strcmp(user_id, call.user_id) == 0) {
        respond_self(&call);
    } else if (gw_call_require_admin(&call)) {
        read_other_user(&call, user_id);
    }
    gw_call_end(&call);
}

/* role and q from the query; false after answering 400. */
static bool list_filters(struct bs_http_request *req, const char **role,
                         const char **q)
{
    *role = bs_http_request_query(req, "role");
    *q = bs_http_request_query(req, "q");
    if (*role && strcmp(*role, "admin") != 0 && strcmp(*role, "agent") != 0 &&
        strcmp(*role, "user") != 0) {
        gw_cors_apply(req);
        bs_http_respond_error(req, 400, "invalid_role",
                              "role must be admin, agent or user");
        return false;
    }
    if (!gw_text_valid(*q, QUERY_MAX)) {
        gw_cors_apply(req);
        bs_http_respond_error(req, 400, "invalid_query",
                              "q must be 1 to 100 bytes of UTF-8 text");
        return false;
    }
    return true;
}

/* Runs the list query and answers the page, audited. */
static void list_users(struct gw_call *call, const char *role, const char *q,
                       unsigned limit, const char *after)
{
    char limit_text[16], changes[128];
    const char *params[] = {call->gw->product, role, q, after[0] ? after : NULL,
                            limit_text};
    PGresult *res;
    json_t *page;
    size_t count;

    snprintf(limit_text, sizeof(limit_text), "%u", limit);
    res = gw_call_query(call, USER_LIST_SQL, 5, params);
    if (!res)
        return;
    page = gw_page_json(res, limit, &count);
    PQclear(res);

    /* The audit says which filters were used, never their values. */
    snprintf(changes, sizeof(changes),
             "{\"filters\":{\"role\":%s,\"q\":%s},\"count\":%zu}",
             role ? "true" : "false", q ? "true" : "false", count);
    if (page &&
        gw_publish_audit(call, "user.list", "user", "*", changes) != BS_OK) {
        json_decref(page);
        gw_respond_unavailable(call->req);
        return;
    }
    gw_respond_json(call->req, 200, page);
}

void gw_handle_user_list(struct bs_http_request *req)
{
    const char *role, *q;
    char after[GW_KEY_MAX];
    unsigned limit;
    struct gw_call call;

    if (!gw_call_begin(req, &call))
        return;
    if (gw_call_require_admin(&call) && list_filters(req, &role, &q) &&
        gw_page_params(req, false, &limit, after))
        list_users(&call, role, q, limit, after);
    gw_call_end(&call);
}
