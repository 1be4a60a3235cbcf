/*
 * replay.c - `bsctl replay --product P --topic users|faq|audit|all
 *            [--from-offset N | --from-time ISO8601] [--to-time ISO8601]
 *            [--apply | --dry-run]`.
 *
 * Rebuilds P's audit trail from the event log and compares it with the live
 * audit_log. The audit trail is derived from events only (bs/audit.h maps
 * them for audit-writer and for this command alike), so what the log holds
 * is what audit_log must hold.
 *
 * How a run goes:
 *   1. its own consumer (no group offsets read or committed) assigns every
 *      partition of the chosen topics, from the low watermark, from offset
 *      N, or from the broker's offsets-for-times for --from-time, up to the
 *      high watermark read at the start (later events are not waited for);
 *   2. every message is checked like the pipeline does (product header and
 *      the event's product must be P: otherwise it is counted as foreign and
 *      never written), mapped to its row and loaded into a TEMP table (the
 *      session's own; live tables are only read);
 *   3. the comparison, by event id: missing (replayed, not in audit_log),
 *      different (in both, some content differs), extra (in audit_log with a
 *      source position inside a replayed range, but not replayed);
 *   4. --apply appends the missing rows to the chain through the same
 *      idempotent bs_audit_append() audit-writer uses. --dry-run (default)
 *      writes nothing.
 *
 * "different" compares everything but source_offset: an event the log holds
 * twice (a producer retry, a Svix redelivery) has one row, for its first copy,
 * and a replay starting between the copies sees only the second.
 *
 * Seeking by time needs real Kafka: the devbroker (librdkafka's mock cluster,
 * recognised by its cluster id) answers offsets-for-times with nothing
 * useful, so --from-time fails there with a message saying so.
 *
 * Progress (events read of total per partition) goes to stderr, the summary
 * to stdout. Exit codes: 0 the trail agrees with the log (after --apply:
 * nothing left missing and nothing extra or different), 1 it does not, 2 the
 * run failed (nothing compared), 64 usage error.
 */
#include "bsctl.h"

#include "bs/audit.h"
#include "bs/db.h"
#include "bs/error.h"
#include "bs/kafka.h"
#include "bs/log.h"

#include <inttypes.h>
#include <jansson.h>
#include <librdkafka/rdkafka.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* As diff(1) and cmp(1): 1 says "they differ", 2 "could not tell", so a
 * script (or the benchmark) never mistakes a failed run for a finding. */
enum {
    REPLAY_EXIT_AGREE = 0,
    REPLAY_EXIT_DIFFER = 1,
    REPLAY_EXIT_FAILED = 2,
    REPLAY_EXIT_USAGE = 64
};

#define REPLAY_MAX_PARTS    256
#define REPLAY_FLUSH_ROWS   2000 /* rows per INSERT into the temp table */
#define REPLAY_APPLY_ROWS   1000 /* rows per transaction with --apply */
#define REPLAY_WAIT_MS      30000
#define REPLAY_POLL_MS      500
#define REPLAY_IDLE_MAX_MS  60000 /* give up when nothing arrives this long */
#define REPLAY_LIST_MAX     20    /* event ids listed per kind of mismatch */
#define MOCK_CLUSTER_PREFIX "mockCluster"

struct replay_args {
    const char *product;
    const char *topic; /* users, faq, audit or all */
    bool has_from_offset;
    int64_t from_offset;
    bool has_from_time;
    int64_t from_ms;
    bool has_to_time;
    int64_t to_ms;
    bool apply;
};

/* One partition of one topic and what was read from it. */
struct part {
    char topic[128];
    int32_t partition;
    int64_t start; /* first offset to read */
    int64_t high;  /* high watermark at the start: read up to here */
    int64_t end;   /* one past the last offset replayed (range end) */
    long long read;
    bool done;
};

struct replay {
    struct replay_args args;
    PGconn *conn;
    rd_kafka_t *rk;
    struct bs_codec *codec;
    struct part parts[REPLAY_MAX_PARTS];
    size_t nparts;
    json_t *pending; /* rows waiting for the temp table */
    json_t *skipped; /* positions skipped for their timestamp */
    long long read, replayed, foreign, undecodable, out_of_time;
    long long missing, extra, different, restored;
    time_t last_progress;
    char errstr[512];
};

/* ---- arguments -------------------------------------------------------- */

static int usage_error(const char *problem)
{
    fprintf(stderr,
            "bsctl replay: %s\n"
            "usage: bsctl replay --product P --topic users|faq|audit|all\n"
            "         [--from-offset N | --from-time ISO8601]"
            " [--to-time ISO8601]\n"
            "         [--apply | --dry-run]\n",
            problem);
    return REPLAY_EXIT_USAGE;
}

/* "2026-12-03T18:00:00Z", with optional ".fff" and "+hh:mm"/"-hh:mm"
 * instead of Z, into Unix milliseconds. False when it is not that. */
static bool parse_time(const char *text, int64_t *ms)
{
    struct tm tm = {0};
    int year, mon, day, hour, min, sec, used = 0, frac_ms = 0;
    const char *p;
    int64_t offset_s = 0;

    if (sscanf(text, "%4d-%2d-%2dT%2d:%2d:%2d%n", &year, &mon, &day, &hour,
               &min, &sec, &used) != 6 ||
        used != 19)
        return false;
    p = text + used;
    if (*p == '.') {
        int digits = 0;

        for (p++; *p >= '0' && *p <= '9'; p++, digits++)
            if (digits < 3)
                frac_ms = frac_ms * 10 + (*p - '0');
        if (digits == 0)
            return false;
        for (; digits < 3; digits++)
            frac_ms *= 10;
    }
    if (*p == 'Z')
        p++;
    else if (*p == '+' || *p == '-') {
        int oh, om, n = 0;

        if (sscanf(p + 1, "%2d:%2d%n", &oh, &om, &n) != 2 || n != 5)
            return false;
        offset_s = (*p == '-' ? -1 : 1) * (int64_t)(oh * 3600 + om * 60);
        p += 6;
    } else
        return false;
    if (*p || mon < 1 || mon > 12 || day < 1 || day > 31 || hour > 23 ||
        min > 59 || sec > 60)
        return false;
    tm.tm_year = year - 1900;
    tm.tm_mon = mon - 1;
    tm.tm_mday = day;
    tm.tm_hour = hour;
    tm.tm_min = min;
    tm.tm_sec = sec;
    *ms = ((int64_t)timegm(&tm) - offset_s) * 1000 + frac_ms;
    return true;
}

static const char *parse_args(int argc, char **argv, struct replay_args *a)
{
    bool dry_run = false;

    memset(a, 0, sizeof(*a));
    for (int i = 0; i < argc; i++) {
        const char *arg = argv[i];
        const char *value = i + 1 < argc ? argv[i + 1] : NULL;
        char *end;

        if (strcmp(arg, "--apply") == 0)
            a->apply = true;
        else if (strcmp(arg, "--dry-run") == 0)
            dry_run = true;
        else if (!value)
            return "an option is missing its value, or is unknown";
        else if (strcmp(arg, "--product") == 0)
            a->product = argv[++i];
        else if (strcmp(arg, "--topic") == 0)
            a->topic = argv[++i];
        else if (strcmp(arg, "--from-offset") == 0) {
            a->has_from_offset = true;
            a->from_offset = strtoll(value, &end, 10);
            if (*end || !*value || a->from_offset < 0)
                return "--from-offset takes an offset >= 0";
            i++;
        } else if (strcmp(arg, "--from-time") == 0) {
            a->has_from_time = true;
            if (!parse_time(argv[++i], &a->from_ms))
                return "--from-time takes an ISO 8601 time, e.g. "
                       "2026-12-03T18:00:00Z";
        } else if (strcmp(arg, "--to-time") == 0) {
            a->has_to_time = true;
            if (!parse_time(argv[++i], &a->to_ms))
                return "--to-time takes an ISO 8601 time, e.g. "
                       "2026-12-03T18:00:00Z";
        } else
            return "unknown argument";
    }
    if (!a->product || !bs_product_name_valid(a->product))
        return "--product P (a valid product name) is required";
    if (!a->topic ||
        (strcmp(a->topic, "users") != 0 && strcmp(a->topic, "faq") != 0 &&
         strcmp(a->topic, "audit") != 0 && strcmp(a->topic, "all") != 0))
        return "--topic users|faq|audit|all is required";
    if (a->has_from_offset && a->has_from_time)
        return "--from-offset and --from-time exclude each other";
    if (a->apply && dry_run)
        return "--apply and --dry-run exclude each other";
    return NULL;
}

/* ---- the database side ---------------------------------------------- */

/* The session's scratch tables: replayed rows, the ranges read, and the
 * positions skipped for their timestamp (not "extra" when live has them). */
static const char scratch_sql[] =
    "CREATE TEMP TABLE replay_rows ("
    " ord BIGSERIAL, event_id TEXT NOT NULL, actor_id TEXT, action TEXT,"
    " entity_type TEXT, entity_id TEXT, changes JSONB, request_id TEXT,"
    " occurred_at_us BIGINT, source_topic TEXT, source_partition INT,"
    " source_offset BIGINT);"
    "CREATE TEMP TABLE replay_ranges (topic TEXT, part INT,"
    " start_offset BIGINT, end_offset BIGINT);"
    "CREATE TEMP TABLE replay_skipped (topic TEXT, part INT, off BIGINT)";

static const char load_rows_sql[] =
    "INSERT INTO replay_rows (event_id, actor_id, action, entity_type,"
    " entity_id, changes, request_id, occurred_at_us, source_topic,"
    " source_partition, source_offset)"
    " SELECT r->>'e', r->>'a', r->>'c', r->>'t', r->>'i', r->'g', r->>'q',"
    " (r->>'o')::bigint, r->>'st', (r->>'sp')::int, (r->>'so')::bigint"
    " FROM jsonb_array_elements($1::jsonb) WITH ORDINALITY AS x(r, k)"
    " ORDER BY k";

static const char load_skipped_sql[] =
    "INSERT INTO replay_skipped SELECT r->>0, (r->>1)::int, (r->>2)::bigint"
    " FROM jsonb_array_elements($1::jsonb) AS r";

/* One replayed row per event id: its first copy in the log. */
#define REPLAYED                                                               \
    "(SELECT DISTINCT ON (event_id) * FROM replay_rows"                        \
    " ORDER BY event_id, ord)"

static const char missing_sql[] =
    "SELECT r.event_id FROM " REPLAYED " r WHERE NOT EXISTS"
    " (SELECT 1 FROM audit_log a WHERE a.product = $1"
    " AND a.event_id = r.event_id) ORDER BY r.ord";

static const char different_sql[] =
    "SELECT r.event_id FROM " REPLAYED " r JOIN audit_log a"
    " ON a.product = $1 AND a.event_id = r.event_id"
    " WHERE (a.actor_id, a.action, a.entity_type, a.entity_id, a.changes,"
    " a.request_id, (extract(epoch FROM a.occurred_at) * 1000000)::bigint,"
    " a.source_topic, a.source_partition) IS DISTINCT FROM"
    " (r.actor_id, r.action, r.entity_type, r.entity_id, r.changes,"
    " r.request_id, r.occurred_at_us, r.source_topic, r.source_partition)"
    " ORDER BY r.ord";

static const char extra_sql[] =
    "SELECT a.event_id FROM audit_log a JOIN replay_ranges g"
    " ON a.source_topic = g.topic AND a.source_partition = g.part"
    " AND a.source_offset >= g.start_offset AND a.source_offset < g.end_offset"
    " WHERE a.product = $1"
    " AND NOT EXISTS (SELECT 1 FROM replay_rows r"
    " WHERE r.event_id = a.event_id)"
    " AND NOT EXISTS (SELECT 1 FROM replay_skipped s WHERE s.topic ="
    " a.source_topic AND s.part = a.source_partition"
    " AND s.off = a.source_offset) ORDER BY a.id";

/* The missing rows again, in log order, for --apply. */
static const char missing_rows_sql[] =
    "SELECT r.event_id, r.actor_id, r.action, r.entity_type, r.entity_id,"
    " r.changes::text, r.request_id, r.occurred_at_us, r.source_topic,"
    " r.source_partition, r.source_offset FROM " REPLAYED " r"
    " WHERE NOT EXISTS (SELECT 1 FROM audit_log a WHERE a.product = $1"
    " AND a.event_id = r.event_id) ORDER BY r.ord";

static int db_open(struct replay *r, const char *url)
{
    const char *params[] = {r->args.product};

    r->conn = bs_db_connect(url, "bsctl-replay", r->errstr, sizeof(r->errstr));
    if (!r->conn)
        return BS_EDB;
    /* For the whole session: row-level security is FORCEd on the owner. */
    if (bs_db_query(r->conn, "SELECT set_config('app.product', $1, false)", 1,
                    params, NULL, r->errstr, sizeof(r->errstr)) != BS_OK)
        return BS_EDB;
    return bs_db_exec(r->conn, scratch_sql, r->errstr, sizeof(r->errstr));
}

static int load_json(struct replay *r, const char *sql, json_t *array)
{
    char *text = json_dumps(array, JSON_COMPACT);
    const char *params[1] = {text};
    int result;

    if (!text)
        return bs_fail(r->errstr, sizeof(r->errstr), BS_ENOMEM,
                       "out of memory");
    result = bs_db_query(r->conn, sql, 1, params, NULL, r->errstr,
                         sizeof(r->errstr));
    free(text);
    json_array_clear(array);
    return result;
}

static int flush_pending(struct replay *r)
{
    int result = BS_OK;

    if (json_array_size(r->pending) > 0)
        result = load_json(r, load_rows_sql, r->pending);
    if (result == BS_OK && json_array_size(r->skipped) > 0)
        result = load_json(r, load_skipped_sql, r->skipped);
    return result;
}

/* ---- the Kafka side --------------------------------------------------- */

static int kafka_open(struct replay *r, const char *bootstrap)
{
    rd_kafka_conf_t *conf = NULL;
    char group[128];
    int result;

    /* A group id of its own that is never committed: librdkafka wants one
     * for a consumer, and the services' groups must not move. */
    snprintf(group, sizeof(group), "bsctl-replay-%s-%ld", r->args.product,
             (long)getpid());
    result =
        bs_kafka_consumer_conf_new(&conf, bootstrap, "bsctl", r->args.product,
                                   group, r->errstr, sizeof(r->errstr));
    if (result == BS_OK)
        result = bs_kafka_conf_set(conf, "enable.partition.eof", "true",
                                   r->errstr, sizeof(r->errstr));
    if (result != BS_OK) {
        if (conf)
            rd_kafka_conf_destroy(conf);
        return result;
    }
    result = bs_kafka_consumer_new(&r->rk, conf, r->errstr, sizeof(r->errstr));
    if (result == BS_OK)
        result = bs_kafka_wait_ready(r->rk, REPLAY_WAIT_MS, r->errstr,
                                     sizeof(r->errstr));
    return result;
}

/* The devbroker is librdkafka's mock cluster, whose cluster id says so. */
static bool is_devbroker(rd_kafka_t *rk)
{
    char *id = rd_kafka_clusterid(rk, REPLAY_WAIT_MS);
    bool mock = id && strncmp(id, MOCK_CLUSTER_PREFIX,
                              strlen(MOCK_CLUSTER_PREFIX)) == 0;

    if (id)
        rd_kafka_mem_free(rk, id);
    return mock;
}

/* Adds every partition of `kind`'s topic with its watermarks. */
static int add_topic(struct replay *r, const char *kind)
{
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_topic_t *handle;
    rd_kafka_resp_err_t err;
    char topic[128];
    int result = BS_OK;

    if (bs_product_topic(r->args.product, kind, topic, sizeof(topic)) != BS_OK)
        return bs_fail(r->errstr, sizeof(r->errstr), BS_EINVAL,
                       "topic name too long");
    handle = rd_kafka_topic_new(r->rk, topic, NULL);
    err = handle ? rd_kafka_metadata(r->rk, 0, handle, &md, REPLAY_WAIT_MS)
                 : rd_kafka_last_error();
    if (!err && md->topic_cnt == 1)
        err = md->topics[0].err;
    if (err)
        result =
            bs_fail(r->errstr, sizeof(r->errstr), BS_EKAFKA,
                    "no metadata for %s: %s", topic, rd_kafka_err2str(err));
    for (int i = 0; result == BS_OK && i < md->topics[0].partition_cnt; i++) {
        struct part *p = &r->parts[r->nparts];
        int64_t low = 0;

        if (r->nparts == REPLAY_MAX_PARTS) {
            result = bs_fail(r->errstr, sizeof(r->errstr), BS_EINVAL,
                             "more than %d partitions", REPLAY_MAX_PARTS);
            break;
        }
        memset(p, 0, sizeof(*p));
        snprintf(p->topic, sizeof(p->topic), "%s", topic);
        p->partition = md->topics[0].partitions[i].id;
        err = rd_kafka_query_watermark_offsets(r->rk, topic, p->partition, &low,
                                               &p->high, REPLAY_WAIT_MS);
        if (err)
            result = bs_fail(r->errstr, sizeof(r->errstr), BS_EKAFKA,
                             "no watermarks for %s[%d]: %s", topic,
                             p->partition, rd_kafka_err2str(err));
        p->start = low;
        if (r->args.has_from_offset && r->args.from_offset > low)
            p->start =
                r->args.from_offset < p->high ? r->args.from_offset : p->high;
        r->nparts++;
    }
    if (md)
        rd_kafka_metadata_destroy(md);
    if (handle)
        rd_kafka_topic_destroy(handle);
    return result;
}

/* --from-time: each partition starts at the first offset whose timestamp
 * is at or after it (none: nothing to read there). */
static int seek_by_time(struct replay *r)
{
    rd_kafka_topic_partition_list_t *list;
    rd_kafka_resp_err_t err;
    int result = BS_OK;

    list = rd_kafka_topic_partition_list_new((int)r->nparts);
    for (size_t i = 0; i < r->nparts; i++)
        rd_kafka_topic_partition_list_add(list, r->parts[i].topic,
                                          r->parts[i].partition)
            ->offset = r->args.from_ms;
    err = rd_kafka_offsets_for_times(r->rk, list, REPLAY_WAIT_MS);
    for (int i = 0; !err && i < list->cnt; i++) {
        struct part *p = &r->parts[i];

        err = list->elems[i].err;
        if (!err)
            p->start =
                list->elems[i].offset < 0 ? p->high : list->elems[i].offset;
    }
    if (err)
        result = bs_fail(r->errstr, sizeof(r->errstr), BS_EKAFKA,
                         "offsets for times: %s", rd_kafka_err2str(err));
    rd_kafka_topic_partition_list_destroy(list);
    return result;
}

static int plan(struct replay *r)
{
    static const char *const all[] = {"users", "faq", "audit", NULL};
    const char *one[] = {r->args.topic, NULL};
    const char *const *kinds = strcmp(r->args.topic, "all") == 0 ? all : one;
    int result = BS_OK;

    if (r->args.has_from_time && is_devbroker(r->rk))
        return bs_fail(r->errstr, sizeof(r->errstr), BS_EKAFKA,
                       "--from-time needs a real Kafka broker: this broker "
                       "is the devbroker (librdkafka's mock cluster), which "
                       "cannot look offsets up by timestamp; use "
                       "--from-offset, or run against Kafka");
    for (size_t i = 0; result == BS_OK && kinds[i]; i++)
        result = add_topic(r, kinds[i]);
    if (result == BS_OK && r->args.has_from_time)
        result = seek_by_time(r);
    for (size_t i = 0; i < r->nparts; i++) {
        r->parts[i].end = r->parts[i].start;
        r->parts[i].done = r->parts[i].start >= r->parts[i].high;
    }
    return result;
}

static int assign(struct replay *r)
{
    rd_kafka_topic_partition_list_t *list;
    rd_kafka_resp_err_t err;

    list = rd_kafka_topic_partition_list_new((int)r->nparts);
    for (size_t i = 0; i < r->nparts; i++)
        if (!r->parts[i].done)
            rd_kafka_topic_partition_list_add(list, r->parts[i].topic,
                                              r->parts[i].partition)
                ->offset = r->parts[i].start;
    err = rd_kafka_assign(r->rk, list);
    rd_kafka_topic_partition_list_destroy(list);
    if (err)
        return bs_fail(r->errstr, sizeof(r->errstr), BS_EKAFKA,
                       "cannot assign partitions: %s", rd_kafka_err2str(err));
    return BS_OK;
}

/* ---- reading ---------------------------------------------------------- */

static struct part *find_part(struct replay *r, const char *topic,
                              int32_t partition)
{
    for (size_t i = 0; i < r->nparts; i++)
        if (r->parts[i].partition == partition &&
            strcmp(r->parts[i].topic, topic) == 0)
            return &r->parts[i];
    return NULL;
}

static void progress(struct replay *r, bool force)
{
    time_t now = time(NULL);

    if (!force && now == r->last_progress)
        return;
    r->last_progress = now;
    for (size_t i = 0; i < r->nparts; i++) {
        const struct part *p = &r->parts[i];

        fprintf(stderr, "%s%s[%d] %lld/%lld", i ? "  " : "replay: ", p->topic,
                p->partition, p->read, (long long)(p->high - p->start));
    }
    fprintf(stderr, "\n");
}

static bool all_done(const struct replay *r)
{
    for (size_t i = 0; i < r->nparts; i++)
        if (!r->parts[i].done)
            return false;
    return true;
}

/* The row's JSON for load_rows_sql. */
static json_t *row_json(const struct bs_audit_row *row)
{
    json_t *j = json_object();

    if (!j)
        return NULL;
    json_object_set_new(j, "e", json_string(row->event_id));
    json_object_set_new(j, "a", json_string(row->actor_id));
    json_object_set_new(j, "c", json_string(row->action));
    json_object_set_new(j, "t", json_string(row->entity_type));
    if (row->entity_id)
        json_object_set_new(j, "i", json_string(row->entity_id));
    if (row->changes)
        json_object_set_new(j, "g", json_loads(row->changes, 0, NULL));
    if (row->request_id)
        json_object_set_new(j, "q", json_string(row->request_id));
    json_object_set_new(j, "o", json_integer(row->occurred_at_us));
    json_object_set_new(j, "st", json_string(row->source_topic));
    json_object_set_new(j, "sp", json_integer(row->source_partition));
    json_object_set_new(j, "so", json_integer(row->source_offset));
    return j;
}

/* Outside [--from-time, --to-time]? (By the message's timestamp.)
 * --to-time filters rather than ends the read: timestamps are the
 * producers' clocks, so a later offset may carry an earlier time. */
static bool out_of_time(const struct replay *r, const rd_kafka_message_t *m)
{
    int64_t ts = rd_kafka_message_timestamp(m, NULL);

    if (ts < 0)
        return false;
    return (r->args.has_from_time && ts < r->args.from_ms) ||
           (r->args.has_to_time && ts > r->args.to_ms);
}

/* One message of the range: counted, checked, mapped, queued. */
static int take_message(struct replay *r, struct part *p,
                        const rd_kafka_message_t *m)
{
    char header[BS_PRODUCT_MAX + 1], why[256];
    struct bs_audit_row row;
    int result;

    p->read++;
    r->read++;
    if (out_of_time(r, m)) {
        r->out_of_time++;
        return json_array_append_new(
                   r->skipped, json_pack("[siI]", p->topic, (int)p->partition,
                                         (json_int_t)m->offset)) == 0
                   ? BS_OK
                   : BS_ENOMEM;
    }
    p->end = m->offset + 1;
    /* The pipeline's tenant checks: header, then the event's product. */
    if (bs_kafka_message_product(m, header, sizeof(header)) != BS_OK ||
        strcmp(header, r->args.product) != 0) {
        r->foreign++;
        return BS_OK;
    }
    if (bs_audit_row_from_message(r->codec, m->payload, m->len, &row, why,
                                  sizeof(why)) != BS_OK) {
        r->undecodable++;
        return BS_OK;
    }
    if (strcmp(row.product, r->args.product) != 0) {
        r->foreign++;
        bs_audit_row_clear(&row);
        return BS_OK;
    }
    result = bs_audit_row_set_source(&row, p->topic, p->partition, m->offset);
    if (result == BS_OK)
        result = json_array_append_new(r->pending, row_json(&row)) == 0
                     ? BS_OK
                     : BS_ENOMEM;
    bs_audit_row_clear(&row);
    r->replayed++;
    if (result == BS_OK && json_array_size(r->pending) >= REPLAY_FLUSH_ROWS)
        result = flush_pending(r);
    return result;
}

static int handle(struct replay *r, const rd_kafka_message_t *m)
{
    const char *topic = m->rkt ? rd_kafka_topic_name(m->rkt) : "";
    struct part *p = find_part(r, topic, m->partition);
    int result = BS_OK;

    if (m->err && m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
        return bs_fail(r->errstr, sizeof(r->errstr), BS_EKAFKA,
                       "consuming %s[%d]: %s", topic, (int)m->partition,
                       rd_kafka_message_errstr(m));
    if (!p || p->done)
        return BS_OK;
    if (!m->err && m->offset < p->high)
        result = take_message(r, p, m);
    /* Done at the watermark read at the start, or at the partition's end
     * (which is the same place unless the log moved on). */
    if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF || m->offset + 1 >= p->high)
        p->done = true;
    return result;
}

static int consume(struct replay *r)
{
    int idle_ms = 0;
    int result = BS_OK;

    progress(r, true);
    while (result == BS_OK && !all_done(r)) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(r->rk, REPLAY_POLL_MS);

        if (!m) {
            idle_ms += REPLAY_POLL_MS;
            if (idle_ms >= REPLAY_IDLE_MAX_MS)
                result = bs_fail(r->errstr, sizeof(r->errstr), BS_ETIMEDOUT,
                                 "no message for %d s before the end of the "
                                 "range",
                                 REPLAY_IDLE_MAX_MS / 1000);
            continue;
        }
        idle_ms = 0;
        result = handle(r, m);
        rd_kafka_message_destroy(m);
        progress(r, false);
    }
    progress(r, true);
    if (result == BS_OK)
        result = flush_pending(r);
    return result;
}

/* The ranges read, for "extra". */
static int record_ranges(struct replay *r)
{
    json_t *ranges = json_array();
    int result;

    if (!ranges)
        return BS_ENOMEM;
    for (size_t i = 0; i < r->nparts; i++)
        if (r->parts[i].end > r->parts[i].start)
            json_array_append_new(ranges,
                                  json_pack("[siII]", r->parts[i].topic,
                                            (int)r->parts[i].partition,
                                            (json_int_t)r->parts[i].start,
                                            (json_int_t)r->parts[i].end));
    result = load_json(r,
                       "INSERT INTO replay_ranges SELECT r->>0, (r->>1)::int,"
                       " (r->>2)::bigint, (r->>3)::bigint"
                       " FROM jsonb_array_elements($1::jsonb) AS r",
                       ranges);
    json_decref(ranges);
    if (result == BS_OK)
        result = bs_db_exec(r->conn, "ANALYZE replay_rows", r->errstr,
                            sizeof(r->errstr));
    return result;
}

/* ---- comparing and restoring ------------------------------------------ */

/* Runs one of the comparison queries: *count, and the first event ids
 * listed under `title`. */
static int compare_one(struct replay *r, const char *sql, const char *title,
                       long long *count)
{
    const char *params[] = {r->args.product};
    PGresult *res = NULL;
    int result;

    result = bs_db_query(r->conn, sql, 1, params, &res, r->errstr,
                         sizeof(r->errstr));
    if (result == BS_OK) {
        *count = PQntuples(res);
        for (int i = 0; i < PQntuples(res) && i < REPLAY_LIST_MAX; i++)
            printf("  [%s] %s\n", title, PQgetvalue(res, i, 0));
        if (PQntuples(res) > REPLAY_LIST_MAX)
            printf("  [%s] ... %d more\n", title,
                   PQntuples(res) - REPLAY_LIST_MAX);
    }
    PQclear(res);
    return result;
}

static int compare(struct replay *r)
{
    int result;

    printf("comparison with audit_log of %s:\n", r->args.product);
    result = compare_one(r, missing_sql, "missing", &r->missing);

    if (result == BS_OK)
        result = compare_one(r, different_sql, "different", &r->different);
    if (result == BS_OK)
        result = compare_one(r, extra_sql, "extra", &r->extra);
    return result;
}

static char *column(const PGresult *res, int row, int col)
{
    return PQgetisnull(res, row, col) ? NULL
                                      : strdup(PQgetvalue(res, row, col));
}

/* Row `i` of missing_rows_sql as an audit row of the product. */
static int row_from_result(const struct replay *r, const PGresult *res, int i,
                           struct bs_audit_row *row)
{
    memset(row, 0, sizeof(*row));
    row->product = strdup(r->args.product);
    row->event_id = column(res, i, 0);
    row->actor_id = column(res, i, 1);
    row->action = column(res, i, 2);
    row->entity_type = column(res, i, 3);
    row->entity_id = column(res, i, 4);
    row->request_id = column(res, i, 6);
    row->occurred_at_us = strtoll(PQgetvalue(res, i, 7), NULL, 10);
    row->source_topic = column(res, i, 8);
    row->source_partition = (int32_t)strtol(PQgetvalue(res, i, 9), NULL, 10);
    row->source_offset = strtoll(PQgetvalue(res, i, 10), NULL, 10);
    if (!PQgetisnull(res, i, 5))
        return bs_audit_canonical_json(PQgetvalue(res, i, 5), &row->changes,
                                       NULL, 0);
    return row->product && row->event_id ? BS_OK : BS_ENOMEM;
}

/* Appends rows [from, to) of res in one transaction. */
static int apply_slice(struct replay *r, const PGresult *res, int from, int to)
{
    struct bs_audit_row *rows = calloc((size_t)(to - from), sizeof(*rows));
    const struct bs_audit_row **ptrs =
        calloc((size_t)(to - from), sizeof(*ptrs));
    size_t appended = 0;
    int result = rows && ptrs ? BS_OK : BS_ENOMEM;

    for (int i = from; result == BS_OK && i < to; i++) {
        result = row_from_result(r, res, i, &rows[i - from]);
        ptrs[i - from] = &rows[i - from];
    }
    if (result == BS_OK)
        result = bs_db_begin_product(r->conn, r->args.product, r->errstr,
                                     sizeof(r->errstr));
    if (result == BS_OK) {
        result =
            bs_audit_append(r->conn, r->args.product, ptrs, (size_t)(to - from),
                            &appended, NULL, r->errstr, sizeof(r->errstr));
        if (result == BS_OK)
            result = bs_db_commit(r->conn, r->errstr, sizeof(r->errstr));
        else
            bs_db_rollback(r->conn, NULL, 0);
    }
    if (result == BS_OK)
        r->restored += (long long)appended;
    for (int i = 0; rows && i < to - from; i++)
        bs_audit_row_clear(&rows[i]);
    free(rows);
    free(ptrs);
    return result;
}

static int apply_missing(struct replay *r)
{
    const char *params[] = {r->args.product};
    PGresult *res = NULL;
    int result;

    result = bs_db_query(r->conn, missing_rows_sql, 1, params, &res, r->errstr,
                         sizeof(r->errstr));
    for (int i = 0; result == BS_OK && i < PQntuples(res);
         i += REPLAY_APPLY_ROWS) {
        int to = i + REPLAY_APPLY_ROWS < PQntuples(res) ? i + REPLAY_APPLY_ROWS
                                                        : PQntuples(res);

        result = apply_slice(r, res, i, to);
    }
    PQclear(res);
    return result;
}

static void print_summary(const struct replay *r)
{
    printf("\nreplay of %s, topic %s (%s)\n", r->args.product, r->args.topic,
           r->args.apply ? "apply" : "dry run");
    printf("  %-20s %9s %12s %12s %9s\n", "topic", "partition", "from",
           "to (excl.)", "read");
    for (size_t i = 0; i < r->nparts; i++)
        printf("  %-20s %9d %12lld %12lld %9lld\n", r->parts[i].topic,
               r->parts[i].partition, (long long)r->parts[i].start,
               (long long)r->parts[i].end, r->parts[i].read);
    printf("  events read          %lld\n", r->read);
    printf("  replayed             %lld\n", r->replayed);
    printf("  foreign product      %lld (reported, never written)\n",
           r->foreign);
    printf("  undecodable          %lld\n", r->undecodable);
    printf("  outside time range   %lld\n", r->out_of_time);
    printf("  missing              %lld\n", r->missing);
    printf("  different            %lld\n", r->different);
    printf("  extra                %lld\n", r->extra);
    if (r->args.apply)
        printf("  restored             %lld\n", r->restored);
}

/* ---- the command ------------------------------------------------------ */

static int run(struct replay *r, const char *url, const char *bootstrap)
{
    int result;

    result = bs_codec_new_builtin(&r->codec, r->errstr, sizeof(r->errstr));
    if (result == BS_OK)
        result = kafka_open(r, bootstrap);
    if (result == BS_OK)
        result = plan(r);
    if (result == BS_OK)
        result = db_open(r, url);
    if (result == BS_OK)
        result = assign(r);
    if (result == BS_OK)
        result = consume(r);
    if (result == BS_OK)
        result = record_ranges(r);
    if (result == BS_OK)
        result = compare(r);
    if (result == BS_OK && r->args.apply && r->missing > 0)
        result = apply_missing(r);
    return result;
}

static bool agrees(const struct replay *r)
{
    long long left = r->missing - (r->args.apply ? r->restored : 0);

    return left == 0 && r->extra == 0 && r->different == 0;
}

int bsctl_replay(struct bs_program *program, int argc, char **argv)
{
    const char *url = bs_config_get(program->config, "DATABASE_URL");
    const char *bootstrap =
        bs_config_get(program->config, "KAFKA_BOOTSTRAP_SERVERS");
    struct replay *r = calloc(1, sizeof(*r));
    const char *problem;
    char quoted[600];
    int result, exit_code;

    if (!r)
        return REPLAY_EXIT_FAILED;
    problem = parse_args(argc, argv, &r->args);
    if (!problem && (!url || !*url))
        problem = "DATABASE_URL is not set";
    if (!problem && (!bootstrap || !*bootstrap))
        problem = "KAFKA_BOOTSTRAP_SERVERS is not set";
    if (problem) {
        free(r);
        return usage_error(problem);
    }
    r->pending = json_array();
    r->skipped = json_array();
    result = r->pending && r->skipped ? run(r, url, bootstrap) : BS_ENOMEM;
    if (result == BS_OK) {
        print_summary(r);
        exit_code = agrees(r) ? REPLAY_EXIT_AGREE : REPLAY_EXIT_DIFFER;
        printf("  result               %s\n",
               exit_code == REPLAY_EXIT_AGREE ? "AGREE" : "DIFFER");
        fflush(stdout);
    } else {
        fprintf(stderr, "bsctl replay: %s\n", r->errstr);
        bs_log_error("replay_failed error=%s",
                     bs_log_quote(r->errstr, quoted, sizeof(quoted)));
        exit_code = REPLAY_EXIT_FAILED;
    }
    if (r->rk) {
        rd_kafka_consumer_close(r->rk);
        rd_kafka_destroy(r->rk);
    }
    if (r->conn)
        PQfinish(r->conn);
    bs_codec_free(r->codec);
    json_decref(r->pending);
    json_decref(r->skipped);
    free(r);
    return exit_code;
}
