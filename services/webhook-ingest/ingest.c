/*
 * ingest.c - one Clerk webhook: verify, map, publish, answer.
 *
 * The order of the checks is the contract with Svix: a request without
 * signature headers is 400 and one whose signature does not verify is 401
 * (Svix shows both to the operator); a verified body is answered 200 only
 * once its event, or for an unusable body the body itself on the DLQ, is
 * acknowledged by the broker, and 503 with Retry-After otherwise, so Svix
 * delivers it again. Event types other than user.* are acknowledged and
 * counted. One log line per webhook; never the body, an e-mail address, a
 * signature or a secret.
 *
 * Not here: deduplication by svix-id (the consumers are idempotent by
 * event_id), start-up and shutdown (main.c).
 */
#include "ingest.h"

#include "clerk_event.h"

#include "bs/error.h"
#include "bs/events.h"
#include "bs/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define RETRY_AFTER_SECONDS "5"
#define LOG_VALUE_MAX       160

/* Event-type families Clerk sends; anything else is counted as "other". */
static const char *const known_families[] = {"email",
                                             "organization",
                                             "organizationDomain",
                                             "organizationInvitation",
                                             "organizationMembership",
                                             "permission",
                                             "role",
                                             "session",
                                             "sms",
                                             "subscription",
                                             "subscriptionItem",
                                             "paymentAttempt",
                                             "user",
                                             "waitlistEntry"};

/* What happened to one webhook, for the log line and the metric. */
struct outcome {
    const char *name;
    char event_type[64];
    const char *svix_id;
};

int ingest_init(struct ingest *ingest, const char *product,
                struct bs_metrics *metrics)
{
    snprintf(ingest->product, sizeof(ingest->product), "%s", product);
    if (bs_product_topic(product, "users", ingest->users_topic,
                         sizeof(ingest->users_topic)) != BS_OK ||
        bs_product_topic(product, "dlq", ingest->dlq_topic,
                         sizeof(ingest->dlq_topic)) != BS_OK)
        return BS_EINVAL;

    ingest->verification_failures = bs_metrics_counter(
        metrics, "bs_webhook_verification_failures_total",
        "Webhooks refused before verification succeeded, by reason.",
        BS_LABELS("reason"));
    ingest->ignored = bs_metrics_counter(
        metrics, "bs_webhooks_ignored_total",
        "Verified webhooks of types that publish nothing, by type family.",
        BS_LABELS("type"));
    ingest->dead_lettered = bs_metrics_counter(
        metrics, "bs_webhooks_dead_lettered_total",
        "Verified webhooks whose raw body went to the DLQ, by reason.",
        BS_LABELS("reason"));
    ingest->webhooks = bs_metrics_counter(metrics, "bs_webhooks_total",
                                          "Webhooks received, by outcome.",
                                          BS_LABELS("outcome"));
    return BS_OK;
}

bool ingest_ready(void *ctx, json_t *not_ready)
{
    struct ingest *ingest = ctx;

    if (bs_publisher_ready(ingest->publisher))
        return true;
    json_object_set_new(not_ready, "broker", json_string("unreachable"));
    return false;
}

static int64_t now_ms(void)
{
    struct timespec now;

    clock_gettime(CLOCK_REALTIME, &now);
    return (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

/* "session.created" → "session" when it is a known family, else "other". */
static const char *type_family(const char *event_type)
{
    size_t len = strcspn(event_type, ".");

    for (size_t i = 0; i < sizeof(known_families) / sizeof(*known_families);
         i++) {
        if (strlen(known_families[i]) == len &&
            strncmp(event_type, known_families[i], len) == 0)
            return known_families[i];
    }
    return "other";
}

/* A short code for a mapping failure (the label of the DLQ metric). */
static const char *invalid_reason_code(const char *reason)
{
    if (strncmp(reason, "body is not JSON", 16) == 0)
        return "not_json";
    if (strncmp(reason, "body is not a webhook envelope", 30) == 0)
        return "not_an_envelope";
    return "invalid_user_event";
}

/* The header under its svix-* name, else its webhook-* name. */
static const char *signature_header(const struct bs_http_request *req,
                                    const char *suffix)
{
    char name[32];
    const char *value;

    snprintf(name, sizeof(name), "svix-%s", suffix);
    value = bs_http_request_header(req, name);
    if (value && *value)
        return value;
    snprintf(name, sizeof(name), "webhook-%s", suffix);
    return bs_http_request_header(req, name);
}

static void log_outcome(const struct bs_http_request *req,
                        const struct outcome *outcome, unsigned status)
{
    const char *event_type = outcome->event_type[0] ? outcome->event_type : "-";
    const char *svix_id = outcome->svix_id ? outcome->svix_id : "-";
    char type[LOG_VALUE_MAX], id[LOG_VALUE_MAX];

    bs_log_info("webhook event_type=%s svix_id=%s outcome=%s status=%u "
                "request_id=%s",
                bs_log_quote(event_type, type, sizeof(type)),
                bs_log_quote(svix_id, id, sizeof(id)), outcome->name, status,
                req->request_id);
}

/* 503 with Retry-After: the sender must deliver the webhook again. */
static void respond_unavailable(struct bs_http_request *req, const char *errstr)
{
    bs_log_warn("webhook_not_acknowledged reason=\"%s\"", errstr);
    bs_http_response_header(req, "Retry-After", RETRY_AFTER_SECONDS);
    bs_http_respond_error(req, 503, "not_acknowledged",
                          "the event could not be stored; retry later");
}

static void respond_status(struct bs_http_request *req, const char *status,
                           const struct outcome *outcome)
{
    json_t *body =
        json_pack("{s:s, s:s*, s:s*}", "status", status, "type",
                  outcome->event_type[0] ? outcome->event_type : NULL,
                  "event_id", outcome->svix_id);

    if (!body) {
        bs_http_respond_error(req, 500, "internal_error", "out of memory");
        return;
    }
    bs_http_respond_json(req, 200, body);
    json_decref(body);
}

/* A verified body we cannot use: the raw bytes go to the DLQ. */
static unsigned dead_letter(struct ingest *ingest, struct bs_http_request *req,
                            const char *reason, struct outcome *outcome)
{
    const char *code = invalid_reason_code(reason);
    const struct bs_publisher_header headers[] = {
        {"reason", code, strlen(code)},
        {"reason-detail", reason, strlen(reason)},
        {"service", INGEST_SERVICE, strlen(INGEST_SERVICE)},
        {"source", "clerk-webhook", strlen("clerk-webhook")},
        {"svix-id", outcome->svix_id, strlen(outcome->svix_id)},
    };
    char errstr[256];

    if (bs_publisher_send_sync(
            ingest->publisher, ingest->dlq_topic, outcome->svix_id,
            strlen(outcome->svix_id), req->body, req->body_len, headers,
            sizeof(headers) / sizeof(headers[0]), ingest->publish_timeout_ms,
            errstr, sizeof(errstr)) != BS_OK) {
        outcome->name = "unavailable";
        respond_unavailable(req, errstr);
        return 503;
    }
    bs_metric_inc(ingest->dead_lettered, BS_LABELS(code));
    bs_log_warn("webhook_dead_lettered reason=%s", code);
    outcome->name = "dead_lettered";
    respond_status(req, "dead_lettered", outcome);
    return 200;
}

/* A user event: encoded and published, keyed by the Clerk user id. */
static unsigned publish_user_event(struct ingest *ingest,
                                   struct bs_http_request *req,
                                   const struct bs_user_event *event,
                                   struct outcome *outcome)
{
    unsigned char *value = NULL;
    size_t value_len = 0;
    char errstr[256];
    unsigned status = 503;

    if (bs_user_event_encode(ingest->codec, event, &value, &value_len, errstr,
                             sizeof(errstr)) != BS_OK) {
        bs_log_error("webhook_encode_failed reason=\"%s\"", errstr);
        outcome->name = "internal_error";
        bs_http_respond_error(req, 500, "internal_error",
                              "the event could not be encoded");
        status = 500;
        goto out;
    }
    if (bs_publisher_send_sync(
            ingest->publisher, ingest->users_topic, event->clerk_user_id,
            strlen(event->clerk_user_id), value, value_len, NULL, 0,
            ingest->publish_timeout_ms, errstr, sizeof(errstr)) != BS_OK) {
        outcome->name = "unavailable";
        respond_unavailable(req, errstr);
        goto out;
    }
    outcome->name = "published";
    respond_status(req, "accepted", outcome);
    status = 200;

out:
    free(value);
    return status;
}

/* Verified: map the body and act on what it is. */
static unsigned handle_verified(struct ingest *ingest,
                                struct bs_http_request *req,
                                struct outcome *outcome)
{
    const struct clerk_map_input input = {
        .body = (const char *)req->body,
        .body_len = req->body_len,
        .svix_id = outcome->svix_id,
        .product = ingest->product,
        .source = INGEST_SERVICE,
        .received_at = now_ms(),
    };
    struct bs_user_event event;
    char reason[256] = "";
    unsigned status;

    switch (clerk_map_webhook(&input, &event, outcome->event_type,
                              sizeof(outcome->event_type), reason,
                              sizeof(reason))) {
    case CLERK_MAP_USER_EVENT:
        status = publish_user_event(ingest, req, &event, outcome);
        bs_user_event_clear(&event);
        return status;
    case CLERK_MAP_OTHER_TYPE:
        bs_metric_inc(ingest->ignored,
                      BS_LABELS(type_family(outcome->event_type)));
        outcome->name = "ignored";
        respond_status(req, "ignored", outcome);
        return 200;
    case CLERK_MAP_INVALID:
    default:
        return dead_letter(ingest, req, reason, outcome);
    }
}

void ingest_handle_clerk(struct bs_http_request *req)
{
    struct ingest *ingest = req->ctx;
    struct outcome outcome = {.name = "rejected"};
    const char *timestamp = signature_header(req, "timestamp");
    const char *signature = signature_header(req, "signature");
    enum bs_svix_result verified;
    unsigned status;

    /* Fail closed without the three headers. */
    outcome.svix_id = signature_header(req, "id");
    if (!outcome.svix_id || !*outcome.svix_id || !timestamp || !*timestamp ||
        !signature || !*signature) {
        bs_metric_inc(ingest->verification_failures,
                      BS_LABELS(bs_svix_result_name(BS_SVIX_MISSING_HEADER)));
        outcome.name = "missing_headers";
        bs_http_respond_error(req, 400, "missing_signature_headers",
                              "svix-id, svix-timestamp and svix-signature "
                              "are required");
        status = 400;
        goto out;
    }

    /* The signature, over the raw bytes, against every secret. */
    verified =
        bs_svix_verify(ingest->keys, outcome.svix_id, timestamp, signature,
                       req->body, req->body_len, (int64_t)time(NULL));
    if (verified != BS_SVIX_OK) {
        bs_metric_inc(ingest->verification_failures,
                      BS_LABELS(bs_svix_result_name(verified)));
        outcome.name = bs_svix_result_name(verified);
        bs_http_respond_error(req, 401, "invalid_signature",
                              "the webhook signature does not verify");
        status = 401;
        goto out;
    }

    status = handle_verified(ingest, req, &outcome);

out:
    bs_metric_inc(ingest->webhooks, BS_LABELS(outcome.name));
    log_outcome(req, &outcome, status);
}
