/*
 * test_faq_reindex.c - `bsctl faq reindex` and `bsctl faq import` against
 * the real faq-indexer: what --stale selects, the progress line, windows,
 * --no-wait and --timeout; what import publishes, skips and refuses.
 *
 * One bestays faq-indexer (a consumer group of its own) on the fixtures'
 * PostgreSQL and broker. The test publishes documents as the gateway does,
 * waits until they are embedded, then makes some of them stale the ways a
 * deployment does (another model, an older chunker, never embedded) by
 * editing their rows as the superuser, and runs the real bsctl.
 *
 * The topic is shared with other tests and a fresh group reads it from the
 * start, so the database may also hold other runs' documents. They are
 * embedded with the current model, so --stale never picks them: the
 * selection is exactly the documents this test made stale.
 */
#include "broker_harness.h"
#include "harness.h"
#include "pg_harness.h"
#include "service_harness.h"

#include "bs/chunker.h"
#include "bs/codec.h"
#include "bs/embedder.h"
#include "bs/error.h"
#include "bs/events.h"
#include "bs/publisher.h"

#include <libpq-fe.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define DEADLINE_MS 60000
#define DOCS        8

static struct bs_pg_env pg;
static char db[64];
static char *bootstrap;
static PGconn *owner; /* superuser */
static struct bs_codec *codec;
static struct bs_publisher *publisher;
static struct bs_svc indexer;
static char group[128];
static char model[64];
static char ids[DOCS][37];

/* ---- helpers ------------------------------------------------------------- */

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

    nanosleep(&ts, NULL);
}

/* A fresh document id: a v4-shaped UUID from the pid, time and `n`. */
static void new_doc_id(char out[37], int n)
{
    snprintf(out, 37, "%08x-%04x-4000-8000-%012x", (unsigned)getpid(),
             (unsigned)(time(NULL) & 0xffff), (unsigned)n);
}

/* Publishes an upsert on bestays.faq as the gateway does. */
static int upsert(const char *id, int n)
{
    char event_id[64], title[64], content[256], errstr[256];
    struct bs_faq_event e = {0};
    unsigned char *bytes = NULL;
    size_t len = 0;
    int result;

    snprintf(title, sizeof(title), "Reindex question %d", n);
    snprintf(content, sizeof(content),
             "Answer %d about check-in times and deposits. A second "
             "sentence so the text has more than one.",
             n);
    e.meta.event_id =
        (char *)bs_broker_unique_name("reidx-ev", event_id, sizeof(event_id));
    e.meta.product = "bestays";
    e.meta.occurred_at = 1700000000000;
    e.meta.source = "test";
    e.action = BS_FAQ_UPSERT;
    e.document_id = (char *)id;
    e.category = "general";
    e.title = title;
    e.content = content;
    e.status = "published";
    e.version = 1;
    e.actor_id = "user_test";
    result =
        bs_faq_event_encode(codec, &e, &bytes, &len, errstr, sizeof(errstr));
    if (result == BS_OK)
        result = bs_publisher_send_sync(publisher, "bestays.faq", id,
                                        strlen(id), bytes, len, NULL, 0, 10000,
                                        errstr, sizeof(errstr));
    if (result != BS_OK)
        fprintf(stderr, "upsert: %s\n", errstr);
    free(bytes);
    return result;
}

/* A count from the superuser's connection; `id` is $1 (may be NULL). */
static long long count_for(const char *sql, const char *id)
{
    const char *params[] = {id};
    PGresult *res =
        PQexecParams(owner, sql, id ? 1 : 0, NULL, params, NULL, NULL, 0);
    long long count = -1;

    if (PQresultStatus(res) == PGRES_TUPLES_OK)
        count = atoll(PQgetvalue(res, 0, 0));
    else
        fprintf(stderr, "count_for: %s", PQerrorMessage(owner));
    PQclear(res);
    return count;
}

static bool embedded(const char *id)
{
    return count_for("SELECT count(*) FROM faq_documents WHERE id = $1::uuid"
                     " AND embedded_at IS NOT NULL",
                     id) == 1;
}

static bool wait_embedded(const char *id)
{
    for (int waited = 0; waited < DEADLINE_MS; waited += 100) {
        if (embedded(id))
            return true;
        sleep_ms(100);
    }
    return false;
}

/* Runs the superuser's `sql` with `id` as $1; the rows it changed. */
static long long edit(const char *sql, const char *id)
{
    const char *params[] = {id};
    PGresult *res = PQexecParams(owner, sql, 1, NULL, params, NULL, NULL, 0);
    long long changed = -1;

    if (PQresultStatus(res) == PGRES_COMMAND_OK)
        changed = atoll(PQcmdTuples(res));
    else
        fprintf(stderr, "edit: %s", PQerrorMessage(owner));
    PQclear(res);
    return changed;
}

/* embedded_at of `id` as text (caller frees), or NULL. */
static char *embedded_at(const char *id)
{
    const char *params[] = {id};
    PGresult *res = PQexecParams(owner,
                                 "SELECT embedded_at::text FROM faq_documents"
                                 " WHERE id = $1::uuid",
                                 1, NULL, params, NULL, NULL, 0);
    char *value = NULL;

    if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1 &&
        !PQgetisnull(res, 0, 0))
        value = strdup(PQgetvalue(res, 0, 0));
    PQclear(res);
    return value;
}

/* Runs bsctl faq <args...> on the test's database and broker; stdout and
 * stderr apart. */
static int faq_command(const char *const args[], char **out, char **err)
{
    char binary[512], conninfo[512], v_db[600], v_kafka[600];
    const char *argv[16] = {binary, "faq"};
    const char *env[] = {v_db, v_kafka, "EMBEDDINGS_DIM=256", "LOG_LEVEL=warn",
                         NULL};
    size_t n = 2;

    bs_test_build_path("tools/bsctl/bsctl", binary, sizeof(binary));
    bs_pg_conninfo(&pg, db, NULL, conninfo, sizeof(conninfo));
    snprintf(v_db, sizeof(v_db), "DATABASE_URL=%s", conninfo);
    snprintf(v_kafka, sizeof(v_kafka), "KAFKA_BOOTSTRAP_SERVERS=%s", bootstrap);
    for (size_t i = 0; args[i] && n < 15; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    return bs_test_run_split(argv, env, out, err);
}

/* `bsctl faq reindex --product bestays` with `extra` arguments. */
static int reindex(const char *const extra[], char **out, char **err)
{
    const char *args[16] = {"reindex", "--product", "bestays"};
    size_t n = 3;

    for (size_t i = 0; extra[i] && n < 15; i++)
        args[n++] = extra[i];
    args[n] = NULL;
    return faq_command(args, out, err);
}

/* Makes documents [0, 3) stale in each of the three ways, one each:
 * another model, an older chunker, never embedded. */
static void make_three_stale(void)
{
    BS_ASSERT_INT_EQ(edit("UPDATE faq_documents SET embedding_model ="
                          " 'openai:old-model/256' WHERE id = $1::uuid",
                          ids[0]),
                     1);
    BS_ASSERT_INT_EQ(edit("UPDATE faq_documents SET chunker_version ="
                          " chunker_version - 1 WHERE id = $1::uuid",
                          ids[1]),
                     1);
    BS_ASSERT_INT_EQ(edit("UPDATE faq_documents SET embedded_at = NULL"
                          " WHERE id = $1::uuid",
                          ids[2]),
                     1);
}

/* Documents of bestays with the current model and chunker. */
static long long current_documents(void)
{
    char sql[256];

    snprintf(sql, sizeof(sql),
             "SELECT count(*) FROM faq_documents WHERE product = 'bestays'"
             " AND embedded_at IS NOT NULL AND embedding_model = '%s'"
             " AND chunker_version = %d AND deleted_at IS NULL",
             model, BS_CHUNKER_VERSION);
    return count_for(sql, NULL);
}

/* ---- set-up ---------------------------------------------------------- */

static int indexer_start(void)
{
    char conninfo[512], v_db[600], v_kafka[600], v_group[200];
    const char *env[] = {"PRODUCT=bestays",    v_db, v_kafka, v_group,
                         "EMBEDDINGS_DIM=256", NULL};

    bs_pg_conninfo(&pg, db, BS_PG_SERVICE_ROLE, conninfo, sizeof(conninfo));
    snprintf(v_db, sizeof(v_db), "DATABASE_URL=%s", conninfo);
    snprintf(v_kafka, sizeof(v_kafka), "KAFKA_BOOTSTRAP_SERVERS=%s", bootstrap);
    snprintf(v_group, sizeof(v_group), "CONSUMER_GROUP=%s", group);
    return bs_svc_start(&indexer, "services/faq-indexer/faq-indexer",
                        "reindex-faq-indexer", env);
}

static int model_name(void)
{
    struct bs_embedder *embedder = NULL;
    char errstr[256];

    if (bs_embedder_new_hash(256, &embedder, errstr, sizeof(errstr)) != BS_OK)
        return -1;
    snprintf(model, sizeof(model), "%s", bs_embedder_model(embedder));
    bs_embedder_free(embedder);
    return 0;
}

static int suite_init(void)
{
    char errstr[256];

    bs_broker_unique_name("faq-reindex-test", group, sizeof(group));
    bootstrap = bs_broker_bootstrap();
    if (!bootstrap || bs_pg_env_load(&pg) != 0 ||
        bs_pg_create_database(&pg, "reindex", db, sizeof(db)) != 0 ||
        bs_pg_migrate(&pg, db, (const char *[]){"up", NULL}, NULL) != 0)
        return -1;
    owner = bs_pg_connect(&pg, db, NULL);
    if (!owner || model_name() != 0 ||
        bs_pg_exec(owner,
                   "INSERT INTO faq_categories (product, slug, name) VALUES"
                   " ('bestays', 'general', 'General'),"
                   " ('bestays', 'stays', 'Stays')",
                   NULL) != 0 ||
        bs_codec_new_builtin(&codec, errstr, sizeof(errstr)) != BS_OK ||
        bs_publisher_new(&publisher, bootstrap, "faq-reindex-test", "bestays",
                         NULL, errstr, sizeof(errstr)) != BS_OK)
        return -1;
    if (indexer_start() != 0)
        return -1;
    for (int i = 0; i < DOCS; i++) {
        new_doc_id(ids[i], i);
        if (upsert(ids[i], i) != BS_OK)
            return -1;
    }
    for (int i = 0; i < DOCS; i++)
        if (!wait_embedded(ids[i]))
            return -1;
    return 0;
}

static int suite_cleanup(void)
{
    if (indexer.pid > 0)
        bs_svc_stop(&indexer, SIGTERM);
    bs_publisher_free(publisher);
    bs_codec_free(codec);
    if (owner)
        PQfinish(owner);
    if (db[0])
        bs_pg_drop_database(&pg, db);
    free(bootstrap);
    return 0;
}

/* ---- tests --------------------------------------------------------------- */

static void test_stale_picks_other_model_older_chunker_and_never_embedded(void)
{
    char *out = NULL, *err = NULL, *fresh_before = embedded_at(ids[5]);
    char *fresh_after;
    long long current = current_documents();

    make_three_stale();
    BS_ASSERT_INT_EQ(current_documents(), current - 3);

    BS_ASSERT_INT_EQ(reindex((const char *[]){"--stale", NULL}, &out, &err), 0);
    CU_ASSERT_PTR_NOT_NULL(err ? strstr(err, "3 document(s) of bestays")
                               : NULL);
    CU_ASSERT_PTR_NOT_NULL(err ? strstr(err, model) : NULL);

    /* All three carry the current model and chunker again; a document that
     * was not stale was not embedded again. */
    BS_ASSERT_INT_EQ(current_documents(), current);
    for (int i = 0; i < 3; i++)
        CU_ASSERT(embedded(ids[i]));
    fresh_after = embedded_at(ids[5]);
    CU_ASSERT_PTR_NOT_NULL_FATAL(fresh_before);
    CU_ASSERT_PTR_NOT_NULL_FATAL(fresh_after);
    BS_ASSERT_STR_EQ(fresh_after, fresh_before);
    free(fresh_before);
    free(fresh_after);
    free(out);
    free(err);

    /* Nothing is stale now: nothing to queue, done at once. */
    out = err = NULL;
    BS_ASSERT_INT_EQ(reindex((const char *[]){NULL}, &out, &err), 0);
    CU_ASSERT_PTR_NOT_NULL(err ? strstr(err, "0 document(s) of bestays")
                               : NULL);
    free(out);
    free(err);
}

static void test_progress_shows_queued_then_re_embedded(void)
{
    char *out = NULL, *err = NULL;

    make_three_stale();
    BS_ASSERT_INT_EQ(reindex((const char *[]){"--stale", NULL}, &out, &err), 0);

    /* One line redrawn with \r on stderr; the bar fills with the
     * re-embedded share; nothing on stdout. */
    CU_ASSERT_PTR_NOT_NULL(err ? strstr(err, "\r[") : NULL);
    CU_ASSERT_PTR_NOT_NULL(err ? strstr(err, "queued 3/3 re-embedded 3/3\n")
                               : NULL);
    CU_ASSERT_PTR_NOT_NULL(
        err ? strstr(err, "[##############################] queued 3/3")
            : NULL);
    BS_ASSERT_STR_EQ(out ? out : "", "");
    free(out);
    free(err);
}

static void test_window_keeps_at_most_two_windows_in_flight(void)
{
    char *out = NULL, *err = NULL;

    make_three_stale();
    BS_ASSERT_INT_EQ(
        reindex((const char *[]){"--stale", "--window", "1", NULL}, &out, &err),
        0);
    CU_ASSERT_PTR_NOT_NULL(err ? strstr(err, "1 at a time") : NULL);

    /* Never more than two windows ahead of what is re-embedded: the third
     * is queued only once the first is embedded. */
    CU_ASSERT_PTR_NULL(err ? strstr(err, "queued 3/3 re-embedded 0/3") : "");
    CU_ASSERT_PTR_NOT_NULL(err ? strstr(err, "queued 3/3 re-embedded 1/3")
                               : NULL);
    CU_ASSERT_PTR_NOT_NULL(err ? strstr(err, "queued 3/3 re-embedded 3/3\n")
                               : NULL);
    BS_ASSERT_INT_EQ(current_documents() >= DOCS, 1);
    free(out);
    free(err);
}

static void test_no_wait_returns_once_queued_and_timeout_fails(void)
{
    char *out = NULL, *err = NULL;

    /* The indexer is down: nothing gets re-embedded. */
    BS_ASSERT_INT_EQ(bs_svc_stop(&indexer, SIGTERM), 0);
    make_three_stale();

    BS_ASSERT_INT_EQ(
        reindex((const char *[]){"--stale", "--timeout", "1", NULL}, &out,
                &err),
        1);
    CU_ASSERT_PTR_NOT_NULL(err ? strstr(err, "timed out: 3 of 3 documents"
                                             " queued, 0 re-embedded")
                               : NULL);
    free(out);
    free(err);

    out = err = NULL;
    BS_ASSERT_INT_EQ(
        reindex((const char *[]){"--stale", "--no-wait", NULL}, &out, &err), 0);
    CU_ASSERT_PTR_NOT_NULL(err ? strstr(err, "queued 3/3 re-embedded 0/3\n")
                               : NULL);
    free(out);
    free(err);

    /* Back up, the indexer works off what was queued. */
    CU_ASSERT_EQUAL_FATAL(indexer_start(), 0);
    for (int i = 0; i < 3; i++)
        CU_ASSERT(wait_embedded(ids[i]));
    out = err = NULL;
    BS_ASSERT_INT_EQ(reindex((const char *[]){"--stale", NULL}, &out, &err), 0);
    free(out);
    free(err);
}

static void test_usage_errors_exit_64(void)
{
    char *out = NULL, *err = NULL;

    BS_ASSERT_INT_EQ(
        reindex((const char *[]){"--window", "-1", NULL}, &out, &err), 64);
    CU_ASSERT_PTR_NOT_NULL(err ? strstr(err, "--window") : NULL);
    free(out);
    free(err);
    out = err = NULL;
    BS_ASSERT_INT_EQ(
        reindex((const char *[]){"--all", "--stale", NULL}, &out, &err), 64);
    free(out);
    free(err);
}

/* ---- bsctl faq import ---------------------------------------------------- */

/* Writes `text` to a file of the state directory named `name`. */
static const char *write_state_file(const char *name, const char *text,
                                    char *path, size_t size)
{
    FILE *file;

    bs_test_state_path(name, path, size);
    file = fopen(path, "w");
    CU_ASSERT_PTR_NOT_NULL_FATAL(file);
    fputs(text, file);
    fclose(file);
    return path;
}

/* `bsctl faq import --product bestays --file <path>`. */
static int import_file(const char *path, char **out, char **err)
{
    return faq_command((const char *[]){"import", "--product", "bestays",
                                        "--file", path, NULL},
                       out, err);
}

/* Bestays rows whose title starts with `tag`, with `where` added. */
static long long titled(const char *tag, const char *where)
{
    char sql[512];

    snprintf(sql, sizeof(sql),
             "SELECT count(*) FROM faq_documents WHERE product = 'bestays'"
             " AND starts_with(title, $1) AND %s",
             where);
    return count_for(sql, tag);
}

/* The import file of the cases below: three bestays documents (a UUID id,
 * a name id with a category, no id), two realestate ones. `answer` is the
 * first document's content. Titles start with `tag`. */
static void import_document_set(const char *tag, const char *uuid,
                                const char *answer, char *path, size_t size)
{
    char text[4096], name[96];

    snprintf(text, sizeof(text),
             "{\"about\": \"test\", \"documents\": ["
             "{\"id\": \"%s\", \"product\": \"bestays\", \"title\": \"%s one\","
             " \"content\": \"%s\", \"queries\": [\"ignored\"]},"
             "{\"id\": \"%s-two\", \"title\": \"%s two\", \"category\":"
             " \"stays\", \"content\": \"Keys are in the lockbox.\"},"
             "{\"title\": \"%s three\", \"content\": \"Towels are provided.\"},"
             "{\"product\": \"realestate\", \"title\": \"%s four\","
             " \"content\": \"A survey costs money.\"},"
             "{\"product\": \"realestate\", \"title\": \"%s five\","
             " \"content\": \"Deposits are two months.\"}]}",
             uuid, tag, answer, tag, tag, tag, tag, tag);
    snprintf(name, sizeof(name), "%s.json", tag);
    write_state_file(name, text, path, size);
}

/* Import publishes its own product's documents, which are indexed; the
 * other product's are skipped, never published as bestays'. Importing
 * again sends nothing; an edit sends the next version. */
static void test_import_publishes_own_documents_and_skips_others(void)
{
    char tag[64], uuid[37], path[1024], *out = NULL, *err = NULL;

    snprintf(tag, sizeof(tag), "Import %d-%ld", (int)getpid(),
             (long)time(NULL));
    new_doc_id(uuid, 900);
    import_document_set(tag, uuid, "Check-in is at three.", path, sizeof(path));

    BS_ASSERT_INT_EQ(import_file(path, &out, &err), 0);
    CU_ASSERT_PTR_NOT_NULL(out ? strstr(out, "3 published (3 new)") : NULL);
    CU_ASSERT_PTR_NOT_NULL(out ? strstr(out, "2 of another product skipped")
                               : NULL);
    CU_ASSERT_PTR_NOT_NULL(err ? strstr(err, "indexed 3/3") : NULL);
    free(out);
    free(err);
    /* Indexed when it returns: published, embedded, the UUID kept, the
     * category resolved; nothing of the realestate documents. */
    BS_ASSERT_INT_EQ(titled(tag, "embedded_at IS NOT NULL AND status ="
                                 " 'published' AND version = 1"),
                     3);
    BS_ASSERT_INT_EQ(count_for("SELECT count(*) FROM faq_documents"
                               " WHERE id = $1::uuid",
                               uuid),
                     1);
    BS_ASSERT_INT_EQ(titled(tag,
                            "category_id = (SELECT id FROM faq_categories WHERE"
                            " product = 'bestays' AND slug = 'stays')"),
                     1);
    BS_ASSERT_INT_EQ(count_for("SELECT count(*) FROM faq_documents WHERE"
                               " title LIKE '%' || $1 || ' f%'",
                               tag),
                     0);

    /* Again: nothing to send. */
    out = err = NULL;
    BS_ASSERT_INT_EQ(import_file(path, &out, &err), 0);
    CU_ASSERT_PTR_NOT_NULL(out ? strstr(out, "0 published") : NULL);
    CU_ASSERT_PTR_NOT_NULL(out ? strstr(out, "3 unchanged") : NULL);
    free(out);
    free(err);

    /* One answer edited: that document only, as version 2. */
    import_document_set(tag, uuid, "Check-in is at four now.", path,
                        sizeof(path));
    out = err = NULL;
    BS_ASSERT_INT_EQ(import_file(path, &out, &err), 0);
    CU_ASSERT_PTR_NOT_NULL(out ? strstr(out, "1 published (0 new)") : NULL);
    free(out);
    free(err);
    BS_ASSERT_INT_EQ(count_for("SELECT count(*) FROM faq_documents WHERE"
                               " id = $1::uuid AND version = 2 AND content"
                               " = 'Check-in is at four now.'",
                               uuid),
                     1);
    BS_ASSERT_INT_EQ(titled(tag, "version = 1"), 2);
    unlink(path);
}

/* A file with one bad document publishes nothing and names it; an unknown
 * category is named before anything is sent. */
static void test_import_refuses_bad_file_whole(void)
{
    char tag[64], text[1024], path[1024], marker[1024], name[96];
    char *out = NULL, *err = NULL;

    snprintf(tag, sizeof(tag), "Refused %d-%ld", (int)getpid(),
             (long)time(NULL));
    snprintf(text, sizeof(text),
             "[{\"title\": \"%s ok\", \"content\": \"Fine.\"},"
             " {\"title\": \"%s bad\", \"content\": \"\"}]",
             tag, tag);
    snprintf(name, sizeof(name), "%s-bad.json", tag);
    write_state_file(name, text, path, sizeof(path));
    BS_ASSERT_INT_EQ(import_file(path, &out, &err), 1);
    CU_ASSERT_PTR_NOT_NULL(err ? strstr(err, "document 2") : NULL);
    CU_ASSERT_PTR_NOT_NULL(err ? strstr(err, "content") : NULL);
    free(out);
    free(err);
    unlink(path);

    snprintf(text, sizeof(text),
             "[{\"title\": \"%s cat\", \"content\": \"Fine.\","
             " \"category\": \"no-such-slug\"}]",
             tag);
    snprintf(name, sizeof(name), "%s-cat.json", tag);
    write_state_file(name, text, path, sizeof(path));
    out = err = NULL;
    BS_ASSERT_INT_EQ(import_file(path, &out, &err), 1);
    CU_ASSERT_PTR_NOT_NULL(err ? strstr(err, "no-such-slug") : NULL);
    free(out);
    free(err);
    unlink(path);

    /* Not JSON, and a usage error. */
    snprintf(name, sizeof(name), "%s-text.json", tag);
    write_state_file(name, "not json", path, sizeof(path));
    out = err = NULL;
    BS_ASSERT_INT_EQ(import_file(path, &out, &err), 1);
    free(out);
    free(err);
    unlink(path);
    out = err = NULL;
    BS_ASSERT_INT_EQ(
        faq_command((const char *[]){"import", "--product", "bestays", NULL},
                    &out, &err),
        64);
    free(out);
    free(err);

    /* A later good import is indexed; by then nothing refused is there. */
    snprintf(text, sizeof(text),
             "[{\"title\": \"%s marker\", \"content\": \"Fine.\"}]", tag);
    snprintf(name, sizeof(name), "%s-marker.json", tag);
    write_state_file(name, text, marker, sizeof(marker));
    out = err = NULL;
    BS_ASSERT_INT_EQ(import_file(marker, &out, &err), 0);
    free(out);
    free(err);
    unlink(marker);
    BS_ASSERT_INT_EQ(titled(tag, "true"), 1);
}

static CU_TestInfo reindex_tests[] = {
    {"stale_picks_other_model_older_chunker_and_never_embedded",
     test_stale_picks_other_model_older_chunker_and_never_embedded},
    {"progress_shows_queued_then_re_embedded",
     test_progress_shows_queued_then_re_embedded},
    {"window_keeps_at_most_two_windows_in_flight",
     test_window_keeps_at_most_two_windows_in_flight},
    {"no_wait_returns_once_queued_and_timeout_fails",
     test_no_wait_returns_once_queued_and_timeout_fails},
    {"usage_errors_exit_64", test_usage_errors_exit_64},
    {"import_publishes_own_documents_and_skips_others",
     test_import_publishes_own_documents_and_skips_others},
    {"import_refuses_bad_file_whole", test_import_refuses_bad_file_whole},
    CU_TEST_INFO_NULL,
};

static void register_suites(void)
{
    bs_test_add_suite("faq_reindex", suite_init, suite_cleanup, reindex_tests);
}

int main(void)
{
    return bs_test_main(register_suites);
}
