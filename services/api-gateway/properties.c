/*
 * properties.c - GET /api/v1/properties and /api/v1/properties/{id}.
 *
 * Published listings of this product for every signed-in user; drafts only
 * for agents and admins. A plain user asking for drafts (published=false)
 * is 403; a draft asked for by id by a plain user is 404, as if it did not
 * exist. Deleted listings are never shown. Read-only: listings are written
 * by no endpoint of this gateway yet.
 */
#include "gateway.h"

#include "bs/error.h"

#include <stdio.h>
#include <string.h>

#define PROPERTY_JSON                                                          \
    "json_build_object('id', id, 'owner_id', owner_id, 'title', title, "       \
    "'description', description, 'price', price, 'currency', currency, "       \
    "'address', address, 'city', city, 'region', region, "                     \
    "'country', country, 'latitude', latitude, 'longitude', longitude, "       \
    "'is_published', is_published, 'created_at', created_at, "                 \
    "'updated_at', updated_at)::text"

/* $2: NULL for both, 'true' or 'false' for one kind. */
#define PROPERTY_LIST_SQL                                                      \
    "SELECT " PROPERTY_JSON ", id::text FROM properties WHERE product = $1 "   \
    "AND deleted_at IS NULL AND ($2::boolean IS NULL OR is_published = $2) "   \
    "AND ($3::uuid IS NULL OR id > $3::uuid) ORDER BY id LIMIT $4::int + 1"

#define PROPERTY_GET_SQL                                                       \
    "SELECT " PROPERTY_JSON " FROM properties WHERE product = $1 "             \
    "AND id = $2::uuid AND deleted_at IS NULL "                                \
    "AND ($3::boolean OR is_published)"

static void respond_error(struct bs_http_request *req, unsigned status,
                          const char *code, const char *message)
{
    gw_cors_apply(req);
    bs_http_respond_error(req, status, code, message);
}

/* Which listings the caller asked for and may see: "true", "false" or NULL
 * (both). False after answering. */
static bool published_filter(struct gw_call *call, const char **published)
{
    const char *text = bs_http_request_query(call->req, "published");
    bool may_see_drafts = gw_call_is(call, "agent");

    if (text && strcmp(text, "true") != 0 && strcmp(text, "false") != 0) {
        respond_error(call->req, 400, "invalid_published",
                      "published must be true or false");
        return false;
    }
    if (!may_see_drafts && text && strcmp(text, "false") == 0) {
        respond_error(call->req, 403, "forbidden",
                      "draft listings need the agent or admin role");
        return false;
    }
    *published = may_see_drafts ? text : "true";
    return true;
}

void gw_handle_property_list(struct bs_http_request *req)
{
    const char *published = NULL;
    char after[GW_KEY_MAX], limit_text[16];
    unsigned limit;
    size_t count;
    struct gw_call call;
    PGresult *res;

    if (!gw_call_begin(req, &call))
        return;
    if (!published_filter(&call, &published) ||
        !gw_page_params(req, true, &limit, after))
        goto out;

    snprintf(limit_text, sizeof(limit_text), "%u", limit);
    {
        const char *params[] = {call.gw->product, published,
                                after[0] ? after : NULL, limit_text};

        res = gw_call_query(&call, PROPERTY_LIST_SQL, 4, params);
    }
    if (res) {
        gw_respond_json(req, 200, gw_page_json(res, limit, &count));
        PQclear(res);
    }

out:
    gw_call_end(&call);
}

void gw_handle_property_get(struct bs_http_request *req)
{
    char id[GW_UUID_SIZE];
    struct gw_call call;
    PGresult *res;

    if (!gw_call_begin(req, &call))
        return;
    if (!gw_uuid_parse(bs_http_request_param(req, "id"), id)) {
        respond_error(req, 400, "invalid_id", "a property id is a UUID");
        goto out;
    }
    {
        const char *params[] = {call.gw->product, id,
                                gw_call_is(&call, "agent") ? "true" : "false"};

        res = gw_call_query(&call, PROPERTY_GET_SQL, 3, params);
    }
    if (!res)
        goto out;
    if (PQntuples(res) == 0)
        respond_error(req, 404, "not_found",
                      "no such property in this product");
    else
        gw_respond_json(req, 200, gw_row_json(res, 0));
    PQclear(res);

out:
    gw_call_end(&call);
}
