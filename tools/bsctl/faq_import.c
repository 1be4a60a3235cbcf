/*
 * faq_import.c - `bsctl faq import --product P --file F.json [--no-wait]
 *                [--timeout S]`: FAQ documents from a file, through the log.
 *
 * For seeding a product (scripts/run.sh loads the shipped FAQ set) and for
 * moving content in bulk. Like every other change it goes through the log:
 * one `upsert` FaqDocumentEvent per document on <P>.faq, so faq-indexer
 * embeds it and audit-writer records it (actor "system") exactly as for a
 * write made through the gateway. Nothing here writes a table.
 *
 * The file is a JSON array of documents, or an object with such an array
 * under "documents" (the shape of tests/data/faq/retrieval.json). A
 * document has "title" and "content", optionally "status" (default
 * "published": an import is content to serve), "category" (a slug that
 * must exist in P) and "id"; other members are ignored. Title, content,
 * status and category follow the gateway's rules (gw_faq_input.h). "id" is
 * the document id when it is a UUID; any other text (or, without "id", the
 * title) names the document, and its id is derived from P and that name,
 * so importing the same file again updates the same documents. A document
 * whose "product" member names another product is skipped and counted,
 * never published.
 *
 * Every document is checked before anything is published: one bad document
 * stops the import with its position and the rule it breaks, and nothing
 * is sent. Each document gets the next version after the stored one; one
 * whose title, content, status and category equal the stored ones is
 * unchanged and not sent; a deleted one is reported and not sent (the
 * indexer ignores upserts of deleted documents).
 *
 * Progress on stderr: published n/N, then indexed m/N (read from the
 * database: the version published, embedded). The summary goes to stdout.
 * Exit 0 done, 1 failed or timed out (after --timeout S, default 120), 64
 * usage error. DATABASE_URL is an owner role, as for reindex.
 */
#include "bsctl.h"
#include "ids.h"

#include "bs/db.h"
#include "bs/error.h"
#include "bs/events.h"
#include "bs/log.h"
#include "bs/publisher.h"
#include "gw_faq_input.h"

#include <ctype.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { IMPORT_OK = 0, IMPORT_FAILED = 1, IMPORT_USAGE = 64 };

#define IMPORT_TIMEOUT_DEFAULT_S 120
#define IMPORT_SEND_TIMEOUT_MS   10000
#define IMPORT_POLL_MS           250
#define IMPORT_ID_SCOPE          "bsctl faq import"

struct import_args {
    const char *product;
    const char *file;
    bool no_wait;
    long timeout_s;
};

/* One document of the file, checked. */
struct import_doc {
    char id[BSCTL_UUID_LEN + 1];
    struct gw_faq_input input;
    long long version; /* to publish: stored + 1 */
    bool send;         /* changed and not deleted */
};

struct import {
    struct import_args args;
    char product[BS_PRODUCT_MAX + 1];
    PGconn *conn;
    struct bs_publisher *publisher;
    struct import_doc *docs;
    size_t count;     /* documents of this product */
    size_t foreign;   /* skipped: another product's */
    size_t fresh;     /* not stored before */
    size_t unchanged; /* equal to the stored row */
    size_t deleted;   /* stored as deleted */
    size_t sent;
    char errstr[512];
};

static int usage_error(const char *message)
{
    fprintf(stderr,
            "bsctl faq import: %s\n"
            "usage: bsctl faq import --product P --file FAQS.json"
            " [--no-wait] [--timeout S]\n",
            message);
    return IMPORT_USAGE;
}

static const char *parse_args(int argc, char **argv, struct import_args *a)
{
    memset(a, 0, sizeof(*a));
    a->timeout_s = IMPORT_TIMEOUT_DEFAULT_S;
    for (int i = 1; i < argc; i++) {
        bool has_value = i + 1 < argc;

        if (strcmp(argv[i], "--product") == 0 && has_value)
            a->product = argv[++i];
        else if (strcmp(argv[i], "--file") == 0 && has_value)
            a->file = argv[++i];
        else if (strcmp(argv[i], "--no-wait") == 0)
            a->no_wait = true;
        else if (strcmp(argv[i], "--timeout") == 0 && has_value) {
            char *end;

            a->timeout_s = strtol(argv[++i], &end, 10);
            if (*end || a->timeout_s <= 0)
                return "--timeout needs a number of seconds above 0";
        } else
            return "unexpected argument";
    }
    if (!a->product)
        return "--product P is required";
    if (!a->file)
        return "--file FAQS.json is required";
    return NULL;
}

/* ---- reading the file --------------------------------------------------- */

/* The document id: the "id" member when it is a UUID, else derived from
 * the product and the "id" text or the title. */
static int document_id(struct import *im, json_t *doc, struct import_doc *out)
{
    const char *given = json_string_value(json_object_get(doc, "id"));
    char scope[sizeof(IMPORT_ID_SCOPE) + BS_PRODUCT_MAX + 2];

    if (given && bsctl_uuid_valid(given)) {
        for (int i = 0; i <= BSCTL_UUID_LEN; i++)
            out->id[i] = (char)tolower((unsigned char)given[i]);
        return BS_OK;
    }
    snprintf(scope, sizeof(scope), "%s %s", IMPORT_ID_SCOPE, im->product);
    return bsctl_uuid_from_name(
        scope, given && *given ? given : out->input.title, out->id);
}

/* Checks one document with the gateway's rules; fills *out. */
static int check_document(struct import *im, size_t index, json_t *doc,
                          struct import_doc *out)
{
    json_t *body = json_object();
    const char *members[] = {"title", "content", "status", "category"};
    char *text = NULL, message[256];
    int status = body ? BS_OK : BS_ENOMEM;

    for (size_t i = 0; status == BS_OK && i < 4; i++) {
        json_t *value = json_object_get(doc, members[i]);

        if (value)
            status = json_object_set(body, members[i], value) == 0 ? BS_OK
                                                                   : BS_ENOMEM;
    }
    if (status == BS_OK && !json_object_get(body, "status"))
        status =
            json_object_set_new(body, "status", json_string("published")) == 0
                ? BS_OK
                : BS_ENOMEM;
    if (status == BS_OK)
        text = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    if (status != BS_OK || !text) {
        free(text);
        return bs_fail(im->errstr, sizeof(im->errstr), BS_ENOMEM,
                       "out of memory");
    }
    status = gw_faq_input_parse(text, strlen(text), GW_FAQ_CREATE, &out->input,
                                message, sizeof(message));
    free(text);
    if (status == BS_EINVAL)
        return bs_fail(im->errstr, sizeof(im->errstr), BS_EINVAL,
                       "document %zu of %s: %s", index + 1, im->args.file,
                       message);
    if (status == BS_OK)
        status = document_id(im, doc, out);
    return status == BS_OK
               ? BS_OK
               : bs_fail(im->errstr, sizeof(im->errstr), status,
                         "document %zu of %s: no id", index + 1, im->args.file);
}

/* The documents array of the file: the file itself, or its "documents". */
static json_t *documents_of(json_t *root)
{
    return json_is_array(root) ? root : json_object_get(root, "documents");
}

/* Reads and checks every document of P; nothing is published yet. */
static int read_documents(struct import *im)
{
    json_error_t error;
    json_t *root =
        json_load_file(im->args.file, JSON_REJECT_DUPLICATES, &error);
    json_t *list = root ? documents_of(root) : NULL, *doc;
    size_t index;
    int status = BS_OK;

    if (!root)
        return bs_fail(im->errstr, sizeof(im->errstr), BS_EINVAL,
                       "%s: %s (line %d)", im->args.file, error.text,
                       error.line);
    if (!json_is_array(list)) {
        json_decref(root);
        return bs_fail(im->errstr, sizeof(im->errstr), BS_EINVAL,
                       "%s: neither an array of documents nor an object "
                       "with one under \"documents\"",
                       im->args.file);
    }
    im->docs = calloc(json_array_size(list) + 1, sizeof(*im->docs));
    if (!im->docs)
        status =
            bs_fail(im->errstr, sizeof(im->errstr), BS_ENOMEM, "out of memory");
    json_array_foreach(list, index, doc)
    {
        json_t *named = json_object_get(doc, "product");
        const char *product = json_string_value(named);

        if (status != BS_OK)
            break;
        if (!json_is_object(doc) || (named && !product)) {
            status = bs_fail(im->errstr, sizeof(im->errstr), BS_EINVAL,
                             "document %zu of %s: %s", index + 1, im->args.file,
                             product || !named ? "not an object"
                                               : "\"product\" is not a string");
        } else if (product && strcmp(product, im->product) != 0) {
            im->foreign++;
        } else {
            status = check_document(im, index, doc, &im->docs[im->count]);
            if (status == BS_OK)
                im->count++;
        }
    }
    json_decref(root);
    return status;
}

/* ---- what is stored ----------------------------------------------------- */

/* Connects as the owner, app.product = P for the whole session. */
static int open_db(struct import *im, const char *url)
{
    const char *params[1] = {im->product};

    im->conn =
        bs_db_connect(url, "bsctl-faq-import", im->errstr, sizeof(im->errstr));
    if (!im->conn)
        return BS_EDB;
    return bs_db_query(im->conn, "SELECT set_config('app.product', $1, false)",
                       1, params, NULL, im->errstr, sizeof(im->errstr));
}

/* The documents as a JSON array for the queries below (caller frees), or
 * NULL when out of memory. */
static char *documents_json(const struct import *im)
{
    json_t *array = json_array();
    char *text = NULL;
    bool ok = array != NULL;

    for (size_t i = 0; ok && i < im->count; i++) {
        const struct gw_faq_input *in = &im->docs[i].input;

        ok = json_array_append_new(
                 array,
                 json_pack("{ss ss ss ss ss?}", "id", im->docs[i].id, "title",
                           in->title, "content", in->content, "status",
                           in->status, "category", in->category)) == 0;
    }
    if (ok)
        text = json_dumps(array, JSON_COMPACT);
    json_decref(array);
    return text;
}

/* Every category the documents name must exist in P (else the indexer
 * would dead-letter them): one query, the missing slugs named. */
static int check_categories(struct import *im, const char *docs)
{
    const char *params[2] = {im->product, docs};
    PGresult *res = NULL;
    int status =
        bs_db_query(im->conn,
                    "SELECT string_agg(DISTINCT d->>'category', ', ')"
                    " FROM jsonb_array_elements($2::jsonb) AS d"
                    " WHERE d->>'category' IS NOT NULL AND NOT EXISTS ("
                    "   SELECT 1 FROM faq_categories c"
                    "   WHERE c.product = $1 AND c.slug = d->>'category')",
                    2, params, &res, im->errstr, sizeof(im->errstr));

    if (status == BS_OK && !PQgetisnull(res, 0, 0))
        status = bs_fail(im->errstr, sizeof(im->errstr), BS_EINVAL,
                         "no such category in %s: %s", im->product,
                         PQgetvalue(res, 0, 0));
    PQclear(res);
    return status;
}

/* For each document: the stored version (0: none), whether it is deleted,
 * whether it equals the file's. Sets version and send. */
static int compare_with_stored(struct import *im, const char *docs)
{
    const char *params[2] = {im->product, docs};
    PGresult *res = NULL;
    int status = bs_db_query(
        im->conn,
        "SELECT coalesce(f.version, 0), f.deleted_at IS NOT NULL,"
        " f.id IS NOT NULL AND f.title = d->>'title'"
        " AND f.content = d->>'content' AND f.status = d->>'status'"
        " AND c.slug IS NOT DISTINCT FROM d->>'category'"
        " FROM jsonb_array_elements($2::jsonb) WITH ORDINALITY AS a(d, n)"
        " LEFT JOIN faq_documents f"
        "   ON f.product = $1 AND f.id = (d->>'id')::uuid"
        " LEFT JOIN faq_categories c"
        "   ON c.product = f.product AND c.id = f.category_id"
        " ORDER BY n",
        2, params, &res, im->errstr, sizeof(im->errstr));

    for (int i = 0; status == BS_OK && i < PQntuples(res); i++) {
        struct import_doc *doc = &im->docs[i];
        long long stored = strtoll(PQgetvalue(res, i, 0), NULL, 10);
        bool deleted = PQgetvalue(res, i, 1)[0] == 't';
        bool same = PQgetvalue(res, i, 2)[0] == 't';

        doc->version = stored + 1;
        doc->send = !deleted && !same;
        im->fresh += stored == 0;
        im->deleted += deleted;
        im->unchanged += same && !deleted;
    }
    PQclear(res);
    return status;
}

/* Two documents of the file with one id would be two versions of one
 * document from one import: refused, naming the id. */
static int check_unique_ids(struct import *im)
{
    for (size_t i = 0; i < im->count; i++)
        for (size_t j = i + 1; j < im->count; j++)
            if (strcmp(im->docs[i].id, im->docs[j].id) == 0)
                return bs_fail(im->errstr, sizeof(im->errstr), BS_EINVAL,
                               "documents %zu and %zu of this product have "
                               "one id (%s): give each its own \"id\"",
                               i + 1, j + 1, im->docs[i].id);
    return BS_OK;
}

/* ---- publishing and waiting --------------------------------------------- */

static int publish(struct import *im, const char *bootstrap)
{
    char topic[128], event_id[BSCTL_UUID_LEN + 1];
    struct bs_codec *codec = NULL;
    int status = bs_product_topic(im->product, "faq", topic, sizeof(topic));

    if (status == BS_OK)
        status = bs_codec_new_builtin(&codec, im->errstr, sizeof(im->errstr));
    if (status == BS_OK)
        status =
            bs_publisher_new(&im->publisher, bootstrap, "bsctl", im->product,
                             NULL, im->errstr, sizeof(im->errstr));
    for (size_t i = 0; status == BS_OK && i < im->count; i++) {
        struct import_doc *doc = &im->docs[i];
        struct bs_faq_event event = {0};
        unsigned char *value = NULL;
        size_t len = 0;

        if (!doc->send)
            continue;
        status = bsctl_uuid_random(event_id);
        event.meta.event_id = event_id;
        event.meta.product = im->product;
        event.meta.occurred_at = bsctl_now_ms();
        event.meta.source = "bsctl";
        event.action = BS_FAQ_UPSERT;
        event.document_id = doc->id;
        event.title = doc->input.title;
        event.content = doc->input.content;
        event.status = doc->input.status;
        event.category = doc->input.category;
        event.version = doc->version;
        if (status == BS_OK)
            status = bs_faq_event_encode(codec, &event, &value, &len,
                                         im->errstr, sizeof(im->errstr));
        if (status == BS_OK)
            status = bs_publisher_send_sync(im->publisher, topic, doc->id,
                                            strlen(doc->id), value, len, NULL,
                                            0, IMPORT_SEND_TIMEOUT_MS,
                                            im->errstr, sizeof(im->errstr));
        free(value);
        if (status == BS_OK)
            fprintf(stderr, "\rbsctl faq import: published %zu/%zu", ++im->sent,
                    im->count - im->unchanged - im->deleted);
    }
    if (im->sent > 0)
        fputc('\n', stderr);
    bs_codec_free(codec);
    return status;
}

/* Documents of the file stored at (at least) the version sent, embedded;
 * those not sent count as done. */
static int count_indexed(struct import *im, const char *docs, long *indexed)
{
    const char *params[2] = {im->product, docs};
    PGresult *res = NULL;
    int status = bs_db_query(
        im->conn,
        "SELECT count(*) FROM jsonb_array_elements($2::jsonb) AS d"
        " JOIN faq_documents f ON f.product = $1 AND f.id = (d->>'id')::uuid"
        " WHERE f.version >= (d->>'version')::bigint"
        " AND f.embedded_at IS NOT NULL",
        2, params, &res, im->errstr, sizeof(im->errstr));

    if (status == BS_OK)
        *indexed = strtol(PQgetvalue(res, 0, 0), NULL, 10);
    PQclear(res);
    return status;
}

/* The sent documents with their versions, for count_indexed (caller
 * frees), or NULL when out of memory. */
static char *sent_json(const struct import *im)
{
    json_t *array = json_array();
    char *text = NULL;
    bool ok = array != NULL;

    for (size_t i = 0; ok && i < im->count; i++)
        if (im->docs[i].send)
            ok =
                json_array_append_new(
                    array, json_pack("{ss sI}", "id", im->docs[i].id, "version",
                                     (json_int_t)im->docs[i].version)) == 0;
    if (ok)
        text = json_dumps(array, JSON_COMPACT);
    json_decref(array);
    return text;
}

static int wait_indexed(struct import *im)
{
    struct timespec pause = {0, IMPORT_POLL_MS * 1000000L};
    double deadline = bsctl_monotonic_s() + (double)im->args.timeout_s;
    char *docs = sent_json(im);
    long indexed = 0, shown = -1;
    int status = docs ? BS_OK : BS_ENOMEM;

    while (status == BS_OK) {
        status = count_indexed(im, docs, &indexed);
        if (status != BS_OK)
            break;
        if (indexed != shown)
            fprintf(stderr, "\rbsctl faq import: indexed %ld/%zu", indexed,
                    im->sent);
        shown = indexed;
        if ((size_t)indexed >= im->sent)
            break;
        if (bsctl_monotonic_s() >= deadline)
            status = bs_fail(im->errstr, sizeof(im->errstr), BS_ETIMEDOUT,
                             "timed out: %ld of %zu documents indexed (is "
                             "faq-indexer of %s running?)",
                             indexed, im->sent, im->product);
        else
            nanosleep(&pause, NULL);
    }
    fputc('\n', stderr);
    free(docs);
    return status;
}

/* ---- the command -------------------------------------------------------- */

static int import_run(struct import *im, const struct bs_config *config)
{
    char *docs = NULL;
    int status = read_documents(im);

    if (status == BS_OK)
        status = check_unique_ids(im);
    if (status == BS_OK)
        status = open_db(im, bs_config_get(config, "DATABASE_URL"));
    if (status == BS_OK && !(docs = documents_json(im)))
        status =
            bs_fail(im->errstr, sizeof(im->errstr), BS_ENOMEM, "out of memory");
    if (status == BS_OK)
        status = check_categories(im, docs);
    if (status == BS_OK)
        status = compare_with_stored(im, docs);
    free(docs);
    if (status == BS_OK)
        status = publish(im, bs_config_get(config, "KAFKA_BOOTSTRAP_SERVERS"));
    if (status == BS_OK && !im->args.no_wait && im->sent > 0)
        status = wait_indexed(im);
    return status;
}

int bsctl_faq_import(struct bs_program *program, int argc, char **argv)
{
    struct import im = {0};
    const char *problem = parse_args(argc, argv, &im.args);
    char quoted[600];
    int status;

    if (!problem)
        problem = bsctl_faq_environment(program, im.args.product, im.product,
                                        im.errstr, sizeof(im.errstr));
    if (problem)
        return usage_error(problem);

    status = import_run(&im, program->config);
    if (status == BS_OK)
        printf("bsctl faq import: %s: %zu document(s) in %s, %zu published "
               "(%zu new), %zu unchanged, %zu deleted (not imported), %zu of "
               "another product skipped\n",
               im.product, im.count, im.args.file, im.sent, im.fresh,
               im.unchanged, im.deleted, im.foreign);
    else
        bs_log_error("faq_import_failed error=%s",
                     bs_log_quote(im.errstr, quoted, sizeof(quoted)));
    /* The slot after the last one may hold a document whose id failed. */
    for (size_t i = 0; im.docs && i <= im.count; i++)
        gw_faq_input_clear(&im.docs[i].input);
    free(im.docs);
    bs_publisher_free(im.publisher);
    if (im.conn)
        PQfinish(im.conn);
    return status == BS_OK ? IMPORT_OK : IMPORT_FAILED;
}
