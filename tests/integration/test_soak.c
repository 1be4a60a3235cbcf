/*
 * test_soak.c - the whole-system fault soak (issue 7).
 *
 * Both products' full stacks (webhook-ingest, api-gateway, user-projector,
 * faq-indexer, audit-writer, the real binaries) run on one fresh database
 * and the fixture's broker. For BS_SOAK_SECONDS (default 75) a driver
 * thread sends a seeded mix of Svix-signed Clerk webhooks, authenticated
 * FAQ writes and reads through the gateways, `bsctl faq reindex --no-wait`
 * and planted events (records of the other product, malformed bytes)
 * produced straight into each product's topics. Meanwhile a chaos thread
 * SIGKILLs a random ingest or consumer process every few seconds and starts
 * it again, restarts PostgreSQL once, and restarts the broker once when it
 * can: a real Kafka started by scripts/kafka.sh whose state directory is in
 * BS_KAFKA_STATE_DIR (.ci/run's Kafka stage sets it) is restarted with
 * `kafka.sh restart` (same ports, same data). The devbroker keeps
 * everything in memory (a restart would lose the log the checks read), and
 * any other broker is not this test's to restart: then the test prints why
 * it skips that step.
 *
 * A webhook counts as accepted only when answered 200: like Clerk, the
 * driver retries (same svix-id) until it is. A FAQ write counts when
 * answered 202; a 404 (the document not projected yet) is a rejection with
 * no effect; any other answer leaves the document "uncertain" (the event may
 * or may not have been published) and it is left out of the exact checks.
 *
 * At the end the test waits (bounded) for the consumers, then counts from
 * PostgreSQL and the DLQ topics and prints: accepted, applied, rejected,
 * dead-lettered, lost, duplicated, crossed. Lost, duplicated and crossed
 * must be 0; `bsctl audit verify` and `bsctl replay --topic all` must exit
 * 0 for both products. The randomness is seeded (BS_SOAK_SEED), waits are
 * give-up bounds, and only outcomes are asserted. See docs/soak.md.
 */
#include "broker_harness.h"
#include "harness.h"
#include "pg_harness.h"
#include "service_harness.h"
#include "session_token.h"

#include "bs/codec.h"
#include "bs/consumer.h"
#include "bs/error.h"
#include "bs/events.h"
#include "bs/kafka.h"
#include "bs/svix.h"

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_SECONDS   75
#define DEFAULT_SEED      7
#define USERS_PER_PRODUCT 12 /* live at a time; a deleted one is replaced */
#define MAX_USERS         4096
#define MAX_EVENTS        65536
#define MAX_DOCS          24
#define MAX_PLANTED       1024
#define DELIVER_BOUND_MS  120000
#define CATCH_UP_BOUND_MS 180000
/* Fresh consumer groups read every earlier test's events first. */
#define ADMIN_BOUND_MS    180000
#define SECRET_BESTAYS    "whsec_c29hay13ZWJob29rLWJlc3RheXMtc2VjcmV0LTAx"
#define SECRET_REALESTATE "whsec_c29hay13ZWJob29rLXJlYWxlc3RhdGUtc2VjcmV0"

/* The processes of one product's stack; the first four are chaos victims. */
enum kind { INGEST, PROJECTOR, INDEXER, AUDIT, GATEWAY, KINDS };
#define VICTIM_KINDS 4

static const char *const binaries[KINDS] = {
    "services/webhook-ingest/webhook-ingest",
    "services/user-projector/user-projector",
    "services/faq-indexer/faq-indexer", "services/audit-writer/audit-writer",
    "services/api-gateway/api-gateway"};
static const char *const kind_names[KINDS] = {"webhook-ingest",
                                              "user-projector", "faq-indexer",
                                              "audit-writer", "api-gateway"};

/* What the driver believes of one user of one product. */
struct user_state {
    bool created, deleted;
    const char *role;
    long long updated_at;
};

/* A FAQ document created through a gateway, and its accepted writes. */
struct doc {
    char id[64];
    char title[128];
    int patches, deletes;
    bool deleted, uncertain;
};

/* One product's deployment and what was sent to it. */
struct stack {
    const char *product;
    const char *secret;
    struct bs_svix_keys *keys;
    EVP_PKEY *jwt_key;
    struct bs_svc svc[KINDS]; /* guarded by `lock` */
    char v_product[64], v_db[600], v_kafka[512], v_secret[128];
    char v_group[KINDS][160];
    char *v_jwt;
    char admin[128];
    struct user_state users[MAX_USERS]; /* every user ever sent */
    int user_count;
    int live[USERS_PER_PRODUCT]; /* indexes into users[] */
    struct doc docs[MAX_DOCS];
    int doc_count;
};

/* An accepted webhook: its svix-id is the event id. */
struct accepted_event {
    char svix_id[96];
    int product; /* index into stacks[] */
};

/* An event produced straight into a topic, expected in the DLQ. */
struct planted {
    char key[96];
    char topic[64];
    int product;
    const char *services[2]; /* consumers that must dead-letter it */
    bool seen[2];
};

/* The printed figures. */
struct counts {
    long accepted, applied, rejected, dead_lettered, lost, duplicated, crossed,
        uncertain, unchecked, retries, kills, reads, read_failures, reindexes,
        refused_signatures, not_projected, broker_restarts;
};

static struct bs_pg_env pg;
static char db[64];
static char run_tag[64];
static char *bootstrap;
static struct bs_codec *codec;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static atomic_bool chaos_stop;
static struct stack stacks[2] = {
    {.product = "bestays", .secret = SECRET_BESTAYS},
    {.product = "realestate", .secret = SECRET_REALESTATE}};
static struct accepted_event events[MAX_EVENTS];
static int event_count;
static struct planted planted[MAX_PLANTED];
static int planted_count;
static char rejected_ids[MAX_EVENTS / 4][96];
static int rejected_count;
static struct counts counts;
static unsigned seed = DEFAULT_SEED;
static int soak_seconds = DEFAULT_SECONDS;

/* ---- small helpers ---------------------------------------------------- */

static void pause_ms(long ms)
{
    struct timespec pause = {ms / 1000, (ms % 1000) * 1000000L};

    nanosleep(&pause, NULL);
}

static long long now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int env_int(const char *name, int fallback)
{
    const char *value = getenv(name);

    return value && atoi(value) > 0 ? atoi(value) : fallback;
}

/* A copy of a service's record, taken under the lock. */
static struct bs_svc svc_get(const struct stack *s, enum kind k)
{
    struct bs_svc copy;

    pthread_mutex_lock(&lock);
    copy = s->svc[k];
    pthread_mutex_unlock(&lock);
    return copy;
}

/* Runs bsctl as the superuser against the soak database. */
static int bsctl(const char *const args[], char **output)
{
    char path[1024], conninfo[512], url[600], kafka[512];
    const char *argv[16] = {NULL};
    const char *env[] = {url, kafka, "LOG_LEVEL=warn", NULL};
    size_t n = 0;

    argv[n++] = bs_test_build_path("tools/bsctl/bsctl", path, sizeof(path));
    for (size_t i = 0; args[i] && n + 1 < 16; i++)
        argv[n++] = args[i];
    snprintf(url, sizeof(url), "DATABASE_URL=%s",
             bs_pg_conninfo(&pg, db, NULL, conninfo, sizeof(conninfo)));
    snprintf(kafka, sizeof(kafka), "KAFKA_BOOTSTRAP_SERVERS=%s", bootstrap);
    return bs_test_run(argv, env, output);
}

/* ---- the stacks ---------------------------------------------------------- */

static void stack_env(struct stack *s)
{
    char conninfo[512], *pem = bs_test_public_pem(s->jwt_key);

    bs_pg_conninfo(&pg, db, BS_PG_SERVICE_ROLE, conninfo, sizeof(conninfo));
    snprintf(s->v_product, sizeof(s->v_product), "PRODUCT=%s", s->product);
    snprintf(s->v_db, sizeof(s->v_db), "DATABASE_URL=%s", conninfo);
    snprintf(s->v_kafka, sizeof(s->v_kafka), "KAFKA_BOOTSTRAP_SERVERS=%s",
             bootstrap);
    snprintf(s->v_secret, sizeof(s->v_secret), "CLERK_WEBHOOK_SECRET=%s",
             s->secret);
    /* Groups of this run's own: fresh database, fresh offsets. */
    for (int k = 0; k < KINDS; k++)
        snprintf(s->v_group[k], sizeof(s->v_group[k]),
                 "CONSUMER_GROUP=soak-%s-%s-%s", run_tag, kind_names[k],
                 s->product);
    s->v_jwt = malloc(strlen(pem ? pem : "") + 32);
    if (s->v_jwt)
        sprintf(s->v_jwt, "CLERK_JWT_KEY=%s", pem ? pem : "");
    free(pem);
}

/* Starts one process of the stack (the environment its kind needs). */
static int svc_start(struct stack *s, enum kind k, struct bs_svc *out)
{
    const char *env[8] = {s->v_product, s->v_kafka, "LOG_LEVEL=warn", NULL};
    char tag[128];

    if (k == INGEST)
        env[3] = s->v_secret;
    else if (k == GATEWAY) {
        env[3] = s->v_db;
        env[4] = s->v_jwt;
    } else {
        env[3] = s->v_db;
        env[4] = s->v_group[k];
    }
    snprintf(tag, sizeof(tag), "soak-%s-%s", kind_names[k], s->product);
    memset(out, 0, sizeof(*out));
    return bs_svc_start(out, binaries[k], tag, env);
}

/* Starts it, retrying while PostgreSQL may be restarting (bounded). */
static int svc_start_retrying(struct stack *s, enum kind k)
{
    struct bs_svc fresh;

    for (int attempt = 0; attempt < 30; attempt++) {
        if (svc_start(s, k, &fresh) == 0) {
            pthread_mutex_lock(&lock);
            s->svc[k] = fresh;
            pthread_mutex_unlock(&lock);
            return 0;
        }
        pause_ms(1000);
    }
    fprintf(stderr, "soak: %s %s would not start again\n", s->product,
            kind_names[k]);
    return -1;
}

static int stack_start(struct stack *s)
{
    char errstr[256];

    for (int i = 0; i < USERS_PER_PRODUCT; i++)
        s->live[i] = i;
    s->user_count = USERS_PER_PRODUCT;
    if (bs_svix_keys_parse(s->secret, &s->keys, errstr, sizeof(errstr)) != 0)
        return -1;
    s->jwt_key = EVP_RSA_gen(2048);
    if (!s->jwt_key)
        return -1;
    stack_env(s);
    for (int k = 0; k < KINDS; k++)
        if (svc_start_retrying(s, (enum kind)k) != 0)
            return -1;
    return 0;
}

static void stack_stop(struct stack *s)
{
    for (int k = 0; k < KINDS; k++)
        if (s->svc[k].pid > 0)
            bs_svc_stop(&s->svc[k], SIGTERM);
    bs_svix_keys_free(s->keys);
    EVP_PKEY_free(s->jwt_key);
    free(s->v_jwt);
}

/* ---- webhooks ------------------------------------------------------------ */

/* Posts `body` signed with `keys` under `svix_id`. The HTTP status. */
static long post_signed(const struct stack *s, const struct bs_svix_keys *keys,
                        const char *svix_id, const char *body)
{
    char timestamp[32], signature[BS_SVIX_SIGNATURE_SIZE];
    char h_id[160], h_ts[64], h_sig[96];
    const char *headers[] = {"Content-Type: application/json", h_id, h_ts,
                             h_sig, NULL};
    struct bs_svc ingest = svc_get(s, INGEST);

    snprintf(timestamp, sizeof(timestamp), "%ld", (long)time(NULL));
    if (bs_svix_sign(keys, 0, svix_id, timestamp, body, strlen(body), signature,
                     sizeof(signature)) != 0)
        return -1;
    snprintf(h_id, sizeof(h_id), "svix-id: %s", svix_id);
    snprintf(h_ts, sizeof(h_ts), "svix-timestamp: %s", timestamp);
    snprintf(h_sig, sizeof(h_sig), "svix-signature: %s", signature);
    if (ingest.pid <= 0)
        return 0;
    return bs_svc_http(&ingest, "POST", "/api/v1/webhooks/clerk", headers, body,
                       strlen(body), NULL);
}

/* As Clerk does: the same svix-id again until answered 200 (bounded). */
static bool deliver(int p, const char *svix_id, const char *body)
{
    struct stack *s = &stacks[p];
    long long deadline = now_ms() + DELIVER_BOUND_MS;

    while (now_ms() < deadline) {
        long status = post_signed(s, s->keys, svix_id, body);

        if (status == 200) {
            if (event_count < MAX_EVENTS) {
                snprintf(events[event_count].svix_id,
                         sizeof(events[event_count].svix_id), "%s", svix_id);
                events[event_count++].product = p;
            }
            counts.accepted++;
            return true;
        }
        counts.retries++;
        pause_ms(200);
    }
    fprintf(stderr, "soak: webhook %s never answered 200\n", svix_id);
    return false;
}

static const char *next_svix_id(char *buf, size_t size)
{
    static int counter;

    snprintf(buf, size, "msg_%s_%d", run_tag, ++counter);
    return buf;
}

static void user_body(char *body, size_t size, const char *type, const char *id,
                      const char *role, long long updated_at)
{
    snprintf(body, size,
             "{\"type\":\"%s\",\"object\":\"event\",\"data\":{"
             "\"id\":\"%s\",\"object\":\"user\",\"first_name\":\"Soak\","
             "\"last_name\":\"User\",\"primary_email_address_id\":\"idn_1\","
             "\"email_addresses\":[{\"id\":\"idn_1\","
             "\"email_address\":\"%s@example.org\"}],"
             "\"public_metadata\":{\"role\":\"%s\"},\"updated_at\":%lld}}",
             type, id, id, role, updated_at);
}

static void user_id(int i, char *buf, size_t size)
{
    snprintf(buf, size, "user_%s_%04d", run_tag, i);
}

/* One webhook for a random live user of product p: create, update or
 * delete. A deleted user's slot goes to a new user (a tombstone is final). */
static void drive_webhook(int p, unsigned *rng)
{
    struct stack *s = &stacks[p];
    int slot = (int)(rand_r(rng) % USERS_PER_PRODUCT);
    struct user_state *u = &s->users[s->live[slot]];
    char id[128], svix_id[96], body[1024];
    const char *role = rand_r(rng) % 2 ? "admin" : "user";

    if (u->deleted) {
        if (s->user_count >= MAX_USERS)
            return;
        s->live[slot] = s->user_count++;
        u = &s->users[s->live[slot]];
    }
    user_id(s->live[slot], id, sizeof(id));
    next_svix_id(svix_id, sizeof(svix_id));
    if (u->created && rand_r(rng) % 4 == 0) {
        snprintf(body, sizeof(body),
                 "{\"type\":\"user.deleted\",\"object\":\"event\",\"data\":{"
                 "\"id\":\"%s\",\"object\":\"user\",\"deleted\":true}}",
                 id);
        if (deliver(p, svix_id, body))
            u->deleted = true;
        return;
    }
    user_body(body, sizeof(body), u->created ? "user.updated" : "user.created",
              id, role, u->updated_at + 1000);
    if (deliver(p, svix_id, body)) {
        u->created = true;
        u->role = role;
        u->updated_at += 1000;
    }
}

/* A webhook signed with the other product's secret: must be refused. */
static void drive_foreign_signature(int p)
{
    char svix_id[96], body[1024], id[128];
    long status = 0;

    user_id(0, id, sizeof(id));
    next_svix_id(svix_id, sizeof(svix_id));
    user_body(body, sizeof(body), "user.updated", id, "admin", 999999999);
    for (int tries = 0; tries < 300 && (status == 0 || status >= 500);
         tries++) {
        status = post_signed(&stacks[p], stacks[1 - p].keys, svix_id, body);
        if (status == 0 || status >= 500)
            pause_ms(200);
    }
    if (status >= 400 && status < 500) {
        counts.rejected++;
        counts.refused_signatures++;
        if (rejected_count < (int)(sizeof(rejected_ids) / 96))
            snprintf(rejected_ids[rejected_count++], 96, "%s", svix_id);
    } else {
        fprintf(stderr, "soak: foreign-signed webhook answered %ld\n", status);
        counts.crossed++;
    }
}

/* ---- the gateways -------------------------------------------------------- */

/* A request to product p's gateway as its admin. The status. */
static long gw_call(int p, const char *method, const char *path,
                    const char *body, char **response)
{
    struct stack *s = &stacks[p];
    struct bs_svc gateway = svc_get(s, GATEWAY);
    char *token = bs_test_session_token(s->jwt_key, s->admin, NULL, 600);
    char *auth = malloc(strlen(token ? token : "") + 32);
    const char *headers[] = {auth, "Content-Type: application/json", NULL};
    long status;

    sprintf(auth, "Authorization: Bearer %s", token ? token : "");
    status = bs_svc_http(&gateway, method, path, headers, body,
                         body ? strlen(body) : 0, response);
    free(auth);
    free(token);
    return status;
}

static void faq_create(int p, unsigned *rng)
{
    struct stack *s = &stacks[p];
    struct doc *d = &s->docs[s->doc_count];
    char body[512], *response = NULL;
    long status;

    snprintf(d->title, sizeof(d->title), "Soak %s %s %u", s->product, run_tag,
             rand_r(rng) % 100000);
    snprintf(body, sizeof(body),
             "{\"title\":\"%s\",\"content\":\"How the soak checks %s."
             " Paragraph one.\\n\\nParagraph two.\",\"status\":\"published\"}",
             d->title, s->product);
    status = gw_call(p, "POST", "/api/v1/admin/faqs", body, &response);
    if (status == 202) {
        json_t *json = json_loads(response ? response : "", 0, NULL);
        const char *id = json_string_value(json_object_get(json, "id"));

        snprintf(d->id, sizeof(d->id), "%s", id ? id : "");
        json_decref(json);
        s->doc_count++;
        counts.accepted++;
    } else {
        counts.uncertain++; /* a created id we do not know: not checked */
    }
    free(response);
}

/* A PATCH or DELETE of a random certain, live document of product p. */
static void faq_change(int p, unsigned *rng)
{
    struct stack *s = &stacks[p];
    struct doc *d = &s->docs[rand_r(rng) % (unsigned)s->doc_count];
    bool remove = rand_r(rng) % 5 == 0;
    char path[160], body[256], title[128];
    long status;

    if (d->deleted || d->uncertain)
        return;
    snprintf(path, sizeof(path), "/api/v1/admin/faqs/%s", d->id);
    snprintf(title, sizeof(title), "Soak %s %s v%u", s->product, run_tag,
             rand_r(rng) % 100000);
    snprintf(body, sizeof(body), "{\"title\":\"%s\"}", title);
    status = gw_call(p, remove ? "DELETE" : "PATCH", path, remove ? NULL : body,
                     NULL);
    if (status == 202) {
        counts.accepted++;
        if (remove) {
            d->deletes++;
            d->deleted = true;
        } else {
            d->patches++;
            snprintf(d->title, sizeof(d->title), "%s", title);
        }
    } else if (status == 404) {
        counts.rejected++; /* not projected yet: nothing published */
        counts.not_projected++;
    } else {
        d->uncertain = true;
        counts.uncertain++;
    }
}

static void drive_faq_write(int p, unsigned *rng)
{
    struct stack *s = &stacks[p];

    if (s->doc_count < MAX_DOCS && (s->doc_count < 3 || rand_r(rng) % 3 == 0))
        faq_create(p, rng);
    else if (s->doc_count > 0)
        faq_change(p, rng);
}

/* True when `text` names one of product p's documents. */
static bool mentions_docs_of(int p, const char *text)
{
    for (int i = 0; text && i < stacks[p].doc_count; i++)
        if (stacks[p].docs[i].id[0] && strstr(text, stacks[p].docs[i].id))
            return true;
    return false;
}

/* Admin list and public search of product p: nothing of the other one. */
static void drive_read(int p, unsigned *rng)
{
    const char *paths[] = {"/api/v1/admin/faqs?limit=100",
                           "/api/v1/faqs/search?q=soak+checks&k=20",
                           "/api/v1/users/me"};
    char *response = NULL;
    long status = gw_call(p, "GET", paths[rand_r(rng) % 3], NULL, &response);

    counts.reads++;
    if (status != 200)
        counts.read_failures++;
    else if (mentions_docs_of(1 - p, response)) {
        fprintf(stderr, "soak: %s gateway showed a %s document\n",
                stacks[p].product, stacks[1 - p].product);
        counts.crossed++;
    }
    free(response);
}

static void drive_reindex(int p)
{
    const char *args[] = {"faq",   "reindex",   "--product", stacks[p].product,
                          "--all", "--no-wait", NULL};
    char *output = NULL; /* progress bars: not worth the log */

    if (bsctl(args, &output) == 0)
        counts.reindexes++;
    free(output);
}

/* ---- planted events ------------------------------------------------------ */

static struct planted *plant_new(int p, const char *kind, const char *s1,
                                 const char *s2)
{
    struct planted *pl = &planted[planted_count++];

    snprintf(pl->key, sizeof(pl->key), "plant-%s-%d", run_tag, planted_count);
    snprintf(pl->topic, sizeof(pl->topic), "%s.%s", stacks[p].product, kind);
    pl->product = p;
    pl->services[0] = s1;
    pl->services[1] = s2;
    return pl;
}

/* Produces `value` with a `product` header into the planted topic. */
static int plant_produce(struct planted *pl, const char *header_product,
                         const void *value, size_t len)
{
    rd_kafka_headers_t *headers = rd_kafka_headers_new(1);
    rd_kafka_t *producer = NULL;
    char errstr[256];
    int result;

    rd_kafka_header_add(headers, BS_KAFKA_HEADER_PRODUCT, -1, header_product,
                        -1);
    result = bs_broker_producer_new(&producer, stacks[pl->product].product,
                                    errstr, sizeof(errstr));
    if (result == BS_OK)
        result = bs_broker_produce(producer, pl->topic, pl->key, value, len,
                                   headers, errstr, sizeof(errstr));
    else
        rd_kafka_headers_destroy(headers);
    if (producer)
        rd_kafka_destroy(producer);
    if (result != BS_OK)
        fprintf(stderr, "soak: planting into %s: %s\n", pl->topic, errstr);
    return result;
}

/* A UserEvent whose record names `record_product`, key = the planted key. */
static int plant_user_record(struct planted *pl, const char *header_product,
                             const char *record_product)
{
    struct bs_user_event e = {0};
    unsigned char *bytes = NULL;
    size_t len = 0;
    char errstr[256], uid[128];
    int result;

    snprintf(uid, sizeof(uid), "user_%s_planted", run_tag);
    e.meta.event_id = pl->key;
    e.meta.product = (char *)record_product;
    e.meta.occurred_at = 1700000000000;
    e.meta.source = "soak";
    e.action = BS_USER_CREATED;
    e.clerk_user_id = uid;
    e.role = "admin";
    result =
        bs_user_event_encode(codec, &e, &bytes, &len, errstr, sizeof(errstr));
    if (result == BS_OK)
        result = plant_produce(pl, header_product, bytes, len);
    free(bytes);
    return result;
}

static int plant_faq_record(struct planted *pl, const char *record_product)
{
    struct bs_faq_event e = {0};
    unsigned char *bytes = NULL;
    size_t len = 0;
    char errstr[256];
    int result;

    e.meta.event_id = pl->key;
    e.meta.product = (char *)record_product;
    e.meta.occurred_at = 1700000000000;
    e.meta.source = "soak";
    e.action = BS_FAQ_UPSERT;
    e.document_id = "00000000-0000-7000-8000-00000000beef";
    e.title = "Planted";
    e.content = "Planted.";
    e.status = "published";
    e.version = 1;
    result =
        bs_faq_event_encode(codec, &e, &bytes, &len, errstr, sizeof(errstr));
    if (result == BS_OK)
        result = plant_produce(pl, stacks[pl->product].product, bytes, len);
    free(bytes);
    return result;
}

/* Six planted events for product p, one of each kind. */
static void drive_plant(int p)
{
    const char *me = stacks[p].product, *other = stacks[1 - p].product;
    static const char garbage[] = "\x00\x00\x00\x00\x63not avro at all";

    if (planted_count + 6 > MAX_PLANTED)
        return;
    plant_user_record(plant_new(p, "users", "user-projector", "audit-writer"),
                      me, other);
    plant_user_record(plant_new(p, "users", "user-projector", "audit-writer"),
                      other, me);
    plant_faq_record(plant_new(p, "faq", "faq-indexer", "audit-writer"), other);
    plant_produce(plant_new(p, "users", "user-projector", "audit-writer"), me,
                  garbage, sizeof(garbage) - 1);
    plant_produce(plant_new(p, "faq", "faq-indexer", "audit-writer"), me,
                  garbage, sizeof(garbage) - 1);
    plant_produce(plant_new(p, "audit", "audit-writer", NULL), me, garbage,
                  sizeof(garbage) - 1);
}

/* ---- chaos --------------------------------------------------------------- */

static int restart_postgres(void)
{
    char path[600], base_file[600], data[700], log[700], pg_ctl[400];
    char *base, *output = NULL;
    int code;

    bs_test_state_path("pg/base", base_file, sizeof(base_file));
    base = bs_test_read_file(base_file);
    if (!base)
        return -1;
    snprintf(data, sizeof(data), "%s/data", base);
    snprintf(log, sizeof(log), "%s/server.log", base);
    snprintf(pg_ctl, sizeof(pg_ctl), "%s/pg_ctl", pg.bin);
    snprintf(path, sizeof(path), "%s", "/usr/sbin/runuser");
    if (getuid() == 0)
        code =
            bs_test_run((const char *[]){path, "-u", "postgres", "--", pg_ctl,
                                         "restart", "-D", data, "-m", "fast",
                                         "-w", "-t", "60", "-l", log, NULL},
                        NULL, &output);
    else
        code = bs_test_run((const char *[]){pg_ctl, "restart", "-D", data, "-m",
                                            "fast", "-w", "-t", "60", "-l", log,
                                            NULL},
                           NULL, &output);
    if (code != 0)
        fprintf(stderr, "soak: pg_ctl restart:\n%s\n", output ? output : "");
    free(output);
    free(base);
    return code;
}

/* Why the broker cannot be restarted here, or NULL when it can. */
static const char *broker_restart_skip_reason(void)
{
    const char *dir = getenv("BS_KAFKA_STATE_DIR");

    if (bs_broker_is_devbroker())
        return "the devbroker is an in-memory mock; a restart loses every"
               " topic the checks read";
    if (!dir || !*dir)
        return "BS_KAFKA_STATE_DIR is unset: the Kafka in"
               " KAFKA_BOOTSTRAP_SERVERS is not this test's to restart";
    return NULL;
}

/* scripts/kafka.sh restart: SIGTERM, then the same ports and data. */
static int restart_broker(void)
{
    char script[600];
    char *output = NULL;
    int code;

    snprintf(script, sizeof(script), "%s/scripts/kafka.sh",
             getenv("BS_SOURCE_DIR") ? getenv("BS_SOURCE_DIR") : ".");
    code = bs_test_run(
        (const char *[]){script, "restart", getenv("BS_KAFKA_STATE_DIR"), NULL},
        NULL, &output);
    if (code != 0)
        fprintf(stderr, "soak: kafka.sh restart:\n%s\n", output ? output : "");
    free(output);
    return code;
}

static void kill_and_restart(struct stack *s, enum kind k)
{
    struct bs_svc victim;

    pthread_mutex_lock(&lock);
    victim = s->svc[k];
    s->svc[k].pid = 0;
    pthread_mutex_unlock(&lock);
    if (victim.pid > 0)
        bs_svc_stop(&victim, SIGKILL);
    counts.kills++;
    printf("soak: SIGKILL %s %s\n", s->product, kind_names[k]);
    svc_start_retrying(s, k);
}

static void *chaos_main(void *arg)
{
    unsigned rng = seed * 7919u + 1;
    long long start = now_ms(), pg_at = start + soak_seconds * 400LL;
    long long broker_at = start + soak_seconds * 650LL;
    bool pg_done = false;
    bool broker_done = broker_restart_skip_reason() != NULL;

    (void)arg;
    while (!chaos_stop) {
        long wait = 2000 + (long)(rand_r(&rng) % 3000);

        for (long waited = 0; waited < wait && !chaos_stop; waited += 100)
            pause_ms(100);
        if (chaos_stop)
            break;
        if (!pg_done && now_ms() >= pg_at) {
            pg_done = true;
            printf("soak: restarting PostgreSQL: pg_ctl exit %d\n",
                   restart_postgres());
            continue;
        }
        if (!broker_done && now_ms() >= broker_at) {
            broker_done = true;
            counts.broker_restarts += restart_broker() == 0;
            printf("soak: restarted the broker (kafka.sh restart)\n");
            continue;
        }
        kill_and_restart(&stacks[rand_r(&rng) % 2],
                         (enum kind)(rand_r(&rng) % VICTIM_KINDS));
    }
    return NULL;
}

/* ---- the checks ---------------------------------------------------------- */

static PGconn *owner;

static long long count_params(const char *sql, const char *a, const char *b)
{
    const char *params[] = {a, b};
    PGresult *res =
        PQexecParams(owner, sql, b ? 2 : 1, NULL, params, NULL, NULL, 0);
    long long n = -1;

    if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1)
        n = atoll(PQgetvalue(res, 0, 0));
    else
        fprintf(stderr, "soak: %s: %s\n", sql, PQerrorMessage(owner));
    PQclear(res);
    return n;
}

/* Rows of `table` with event_id = id in `product`. */
static long long event_rows(const char *table, const char *product,
                            const char *id)
{
    /* webhook_events keys the event by its svix_id. */
    const char *column =
        strcmp(table, "webhook_events") == 0 ? "svix_id" : "event_id";
    char sql[256];

    snprintf(sql, sizeof(sql),
             "SELECT count(*) FROM %s WHERE product = $1 AND %s = $2", table,
             column);
    return count_params(sql, product, id);
}

/* Adds one expected effect: n rows where exactly `want` belong. */
static void tally(long long n, long long want, long *missing)
{
    if (n < want)
        *missing += want - n;
    else if (n > want)
        counts.duplicated += n - want;
}

/* Every accepted webhook: one webhook_events and one audit row, in its own
 * product only. Returns how many effects are missing. */
static long check_webhooks(bool final)
{
    long missing = 0;

    for (int i = 0; i < event_count; i++) {
        const char *id = events[i].svix_id;
        const char *mine = stacks[events[i].product].product;
        const char *other = stacks[1 - events[i].product].product;
        long before = missing;

        tally(event_rows("webhook_events", mine, id), 1, &missing);
        tally(event_rows("audit_log", mine, id), 1, &missing);
        if (final) {
            counts.crossed += event_rows("webhook_events", other, id) +
                              event_rows("audit_log", other, id);
            if (missing == before)
                counts.applied++;
        }
    }
    return missing;
}

/* Each user's final row matches the last accepted webhook of its product. */
static void check_user_states(void)
{
    for (int p = 0; p < 2; p++)
        for (int i = 0; i < stacks[p].user_count; i++) {
            const struct user_state *u = &stacks[p].users[i];
            char id[128], sql[256];

            if (!u->created && !u->deleted)
                continue;
            user_id(i, id, sizeof(id));
            snprintf(sql, sizeof(sql),
                     "SELECT count(*) FROM users WHERE product = $1 AND"
                     " id = $2 AND %s",
                     u->deleted ? "deleted_at IS NOT NULL"
                                : "deleted_at IS NULL");
            if (count_params(sql, stacks[p].product, id) != 1) {
                fprintf(stderr, "soak: %s user %s not as last accepted\n",
                        stacks[p].product, id);
                counts.lost++;
            } else if (!u->deleted) {
                char role_sql[256];

                snprintf(role_sql, sizeof(role_sql),
                         "SELECT count(*) FROM users WHERE product = $1 AND"
                         " id = $2 AND role = '%s'",
                         u->role);
                if (count_params(role_sql, stacks[p].product, id) != 1) {
                    fprintf(stderr, "soak: %s user %s role is not %s\n",
                            stacks[p].product, id, u->role);
                    counts.lost++;
                }
            }
        }
}

/* Audit rows of a document with `action`. */
static long long doc_actions(const char *product, const char *id,
                             const char *action)
{
    char sql[256];

    snprintf(sql, sizeof(sql),
             "SELECT count(*) FROM audit_log WHERE product = $1 AND"
             " entity_id = $2 AND action = '%s'",
             action);
    return count_params(sql, product, id);
}

/* One document's effects: rows per action and the projected state. */
static long check_doc(int p, const struct doc *d, bool final)
{
    const char *me = stacks[p].product, *other = stacks[1 - p].product;
    long missing = 0;
    char sql[256];

    tally(doc_actions(me, d->id, "faq.create"), 1, &missing);
    tally(doc_actions(me, d->id, "faq.created"), 1, &missing);
    tally(doc_actions(me, d->id, "faq.update"), d->patches, &missing);
    tally(doc_actions(me, d->id, "faq.updated"), d->patches, &missing);
    tally(doc_actions(me, d->id, "faq.delete"), d->deletes, &missing);
    tally(doc_actions(me, d->id, "faq.deleted"), d->deletes, &missing);
    snprintf(sql, sizeof(sql),
             "SELECT count(*) FROM faq_documents WHERE product = $1 AND"
             " id::text = $2 AND %s",
             d->deleted ? "deleted_at IS NOT NULL"
                        : "deleted_at IS NULL AND title = $3");
    {
        const char *params[] = {me, d->id, d->title};
        PGresult *res = PQexecParams(owner, sql, d->deleted ? 2 : 3, NULL,
                                     params, NULL, NULL, 0);

        if (PQresultStatus(res) != PGRES_TUPLES_OK ||
            atoll(PQgetvalue(res, 0, 0)) != 1)
            missing++;
        PQclear(res);
    }
    if (final) {
        counts.crossed += count_params("SELECT count(*) FROM audit_log WHERE"
                                       " product = $1 AND entity_id = $2",
                                       other, d->id);
        counts.crossed += count_params("SELECT count(*) FROM faq_documents"
                                       " WHERE product = $1 AND id::text = $2",
                                       other, d->id);
    }
    return missing;
}

static long check_docs(bool final)
{
    long missing = 0;

    for (int p = 0; p < 2; p++)
        for (int i = 0; i < stacks[p].doc_count; i++) {
            const struct doc *d = &stacks[p].docs[i];
            long m;

            if (d->uncertain) {
                if (final)
                    counts.unchecked += 1 + d->patches + d->deletes;
                continue;
            }
            m = check_doc(p, d, final);
            missing += m;
            if (final && m == 0)
                counts.applied += 1 + d->patches + d->deletes;
        }
    return missing;
}

/* Bounded wait until every accepted event shows its effects. */
static void wait_caught_up(void)
{
    long long deadline = now_ms() + CATCH_UP_BOUND_MS;
    long missing = 0;

    do {
        long saved = counts.duplicated;

        missing = check_webhooks(false) + check_docs(false);
        counts.duplicated = saved;
        if (missing == 0)
            return;
        pause_ms(1000);
    } while (now_ms() < deadline);
    fprintf(stderr, "soak: %ld effects still missing after the bound\n",
            missing);
}

static bool dlq_match(const rd_kafka_message_t *m, void *ctx)
{
    rd_kafka_headers_t *headers = NULL;
    const void *value = NULL;
    size_t size = 0;

    (void)ctx;
    if (!m->key ||
        rd_kafka_message_headers(m, &headers) != RD_KAFKA_RESP_ERR_NO_ERROR ||
        rd_kafka_header_get_last(headers, BS_DLQ_HEADER_SERVICE, &value,
                                 &size) != RD_KAFKA_RESP_ERR_NO_ERROR)
        return false;
    for (int i = 0; i < planted_count; i++) {
        struct planted *pl = &planted[i];

        if (m->key_len != strlen(pl->key) ||
            memcmp(m->key, pl->key, m->key_len) != 0)
            continue;
        for (int j = 0; j < 2; j++)
            if (pl->services[j] && size == strlen(pl->services[j]) &&
                memcmp(value, pl->services[j], size) == 0)
                pl->seen[j] = true;
        return true;
    }
    return false;
}

/* Scans both DLQs (bounded retries) until every planted event is there. */
static long check_planted(void)
{
    long long deadline = now_ms() + 60000;
    long missing;

    do {
        char errstr[256], topic[64];
        int matches = 0;

        for (int p = 0; p < 2; p++) {
            snprintf(topic, sizeof(topic), "%s.dlq", stacks[p].product);
            if (bs_broker_scan_topic(stacks[p].product, topic, dlq_match, NULL,
                                     30000, &matches, errstr,
                                     sizeof(errstr)) != BS_OK)
                fprintf(stderr, "soak: scanning %s: %s\n", topic, errstr);
        }
        missing = 0;
        for (int i = 0; i < planted_count; i++)
            for (int j = 0; j < 2; j++)
                if (planted[i].services[j] && !planted[i].seen[j])
                    missing++;
        if (missing == 0)
            break;
        pause_ms(2000);
    } while (now_ms() < deadline);
    return missing;
}

/* ---- the suite ----------------------------------------------------------- */

static int create_admins(void)
{
    for (int p = 0; p < 2; p++) {
        struct stack *s = &stacks[p];
        char svix_id[96], body[1024];
        long status = 0;

        snprintf(s->admin, sizeof(s->admin), "user_%s_admin", run_tag);
        user_body(body, sizeof(body), "user.created", s->admin, "admin", 1000);
        if (!deliver(p, next_svix_id(svix_id, sizeof(svix_id)), body))
            return -1;
        for (int waited = 0; waited < ADMIN_BOUND_MS && status != 200;
             waited += 200) {
            status = gw_call(p, "GET", "/api/v1/users/me", NULL, NULL);
            if (status != 200)
                pause_ms(200);
        }
        if (status != 200)
            return -1;
    }
    return 0;
}

static int suite_init(void)
{
    char errstr[256];

    seed = (unsigned)env_int("BS_SOAK_SEED", DEFAULT_SEED);
    soak_seconds = env_int("BS_SOAK_SECONDS", DEFAULT_SECONDS);
    snprintf(run_tag, sizeof(run_tag), "soak%ld%d", (long)time(NULL),
             (int)getpid());
    bootstrap = bs_broker_bootstrap();
    if (!bootstrap || bs_pg_env_load(&pg) != 0 ||
        bs_codec_new_builtin(&codec, errstr, sizeof(errstr)) != BS_OK ||
        bs_pg_create_database(&pg, "soak", db, sizeof(db)) != 0 ||
        bs_pg_migrate(&pg, db, (const char *[]){"up", NULL}, NULL) != 0)
        return -1;
    /* CUnit skips the cleanup when init fails: stop what did start. */
    if (stack_start(&stacks[0]) != 0 || stack_start(&stacks[1]) != 0 ||
        create_admins() != 0) {
        for (int p = 0; p < 2; p++)
            for (int k = 0; k < KINDS; k++)
                if (stacks[p].svc[k].pid > 0)
                    bs_svc_stop(&stacks[p].svc[k], SIGTERM);
        return -1;
    }
    return 0;
}

static int suite_cleanup(void)
{
    stack_stop(&stacks[0]);
    stack_stop(&stacks[1]);
    if (owner)
        PQfinish(owner);
    if (db[0])
        bs_pg_drop_database(&pg, db);
    bs_codec_free(codec);
    free(bootstrap);
    return 0;
}

/* When the next re-index request and the next planting are due. */
static long long next_reindex_ms, next_plant_ms;

/* One step of the mixed stream: re-index requests every ~10 s and planted
 * events every ~20 s, alternating products; otherwise a seeded mix. */
static void drive_step(unsigned *rng)
{
    static int reindex_turn, plant_turn;
    int p = (int)(rand_r(rng) % 2);
    unsigned roll = rand_r(rng) % 100;

    if (now_ms() >= next_plant_ms) {
        drive_plant(plant_turn++ % 2);
        next_plant_ms = now_ms() + 20000;
    } else if (now_ms() >= next_reindex_ms) {
        drive_reindex(reindex_turn++ % 2);
        next_reindex_ms = now_ms() + 10000;
    } else if (roll < 45)
        drive_webhook(p, rng);
    else if (roll < 50)
        drive_foreign_signature(p);
    else if (roll < 75)
        drive_faq_write(p, rng);
    else
        drive_read(p, rng);
}

static void print_counts(long dlq_missing)
{
    printf("\nsoak figures (seed %u, %d s, broker %s):\n"
           "  events accepted      %ld\n"
           "  applied              %ld\n"
           "  rejected             %ld (%ld foreign-signed webhooks, %ld"
           " writes to documents not projected yet)\n"
           "  dead-lettered        %ld of %d planted x consumers\n"
           "  lost                 %ld\n"
           "  duplicated           %ld\n"
           "  crossed products     %ld\n"
           "  uncertain FAQ writes %ld (not 202/404; their documents' %ld"
           " accepted writes are left out of the exact checks)\n"
           "  webhook retries      %ld, processes killed %ld, PostgreSQL"
           " restarted 1, broker restarted %ld\n"
           "  reads %ld (%ld not 200), reindex requests %ld\n",
           seed, soak_seconds, bs_broker_kind() ? bs_broker_kind() : "?",
           counts.accepted, counts.applied, counts.rejected,
           counts.refused_signatures, counts.not_projected,
           counts.dead_lettered, (int)counts.dead_lettered + (int)dlq_missing,
           counts.lost, counts.duplicated, counts.crossed, counts.uncertain,
           counts.unchecked, counts.retries, counts.kills,
           counts.broker_restarts, counts.reads, counts.read_failures,
           counts.reindexes);
}

/* Rejected webhooks left no trace, planted users never became rows. */
static void check_no_trace(void)
{
    char uid[128];

    for (int i = 0; i < rejected_count; i++)
        counts.crossed +=
            count_params("SELECT count(*) FROM webhook_events WHERE"
                         " svix_id = $1",
                         rejected_ids[i], NULL) +
            count_params("SELECT count(*) FROM audit_log WHERE event_id = $1",
                         rejected_ids[i], NULL);
    snprintf(uid, sizeof(uid), "user_%s_planted", run_tag);
    counts.crossed +=
        count_params("SELECT count(*) FROM users WHERE id = $1", uid, NULL);
    for (int i = 0; i < planted_count; i++)
        counts.crossed += count_params("SELECT count(*) FROM audit_log WHERE"
                                       " event_id = $1",
                                       planted[i].key, NULL);
}

static void run_stream(void)
{
    unsigned rng = seed;
    long long end = now_ms() + soak_seconds * 1000LL;
    pthread_t chaos;

    if (broker_restart_skip_reason())
        printf("soak: broker restart skipped: %s\n",
               broker_restart_skip_reason());
    chaos_stop = false;
    CU_ASSERT_FATAL(pthread_create(&chaos, NULL, chaos_main, NULL) == 0);
    next_reindex_ms = now_ms() + 5000;
    next_plant_ms = now_ms() + 8000;
    while (now_ms() < end) {
        drive_step(&rng);
        pause_ms(20);
    }
    /* Planted for sure in both products, whatever the schedule did. */
    drive_plant(0);
    drive_plant(1);
    chaos_stop = true;
    pthread_join(chaos, NULL);
}

static void assert_bsctl_ok(const char *const args[])
{
    char *output = NULL;
    int code = -1;

    /* The replay reads to the high watermark: a consumer may still be on
     * its last batch, so a disagreement is asked again (bounded). */
    for (int attempt = 0; attempt < 5 && code != 0; attempt++) {
        free(output);
        output = NULL;
        code = bsctl(args, &output);
        if (code != 0)
            pause_ms(3000);
    }
    if (code != 0)
        fprintf(stderr, "soak: bsctl %s %s failed:\n%s\n", args[0], args[1],
                output ? output : "");
    BS_ASSERT_INT_EQ(code, 0);
    free(output);
}

static void test_whole_system_soak(void)
{
    long dlq_missing;

    run_stream();
    owner = bs_pg_connect(&pg, db, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(owner);
    wait_caught_up();
    counts.lost += check_webhooks(true) + check_docs(true);
    check_user_states();
    check_no_trace();
    dlq_missing = check_planted();
    for (int i = 0; i < planted_count; i++)
        for (int j = 0; j < 2; j++)
            counts.dead_lettered += planted[i].seen[j] ? 1 : 0;
    counts.lost += dlq_missing;
    print_counts(dlq_missing);

    BS_ASSERT_INT_EQ(counts.lost, 0);
    BS_ASSERT_INT_EQ(counts.duplicated, 0);
    BS_ASSERT_INT_EQ(counts.crossed, 0);
    CU_ASSERT_TRUE(counts.accepted > 0);
    CU_ASSERT_TRUE(planted_count > 0);
    for (int p = 0; p < 2; p++) {
        const char *product = stacks[p].product;

        assert_bsctl_ok(
            (const char *[]){"audit", "verify", "--product", product, NULL});
        assert_bsctl_ok((const char *[]){"replay", "--product", product,
                                         "--topic", "all", NULL});
    }
}

static CU_TestInfo tests[] = {
    {"whole_system_soak", test_whole_system_soak},
    CU_TEST_INFO_NULL,
};

static void register_suites(void)
{
    bs_test_add_suite("soak", suite_init, suite_cleanup, tests);
}

int main(void)
{
    return bs_test_main(register_suites);
}
