/*
 * consumer_offsets.c - where the consumer pipeline resumes.
 *
 * The next offset of every partition a batch touched is written into
 * consumer_offsets in the batch's own transaction. On partition assignment
 * the rebalance callback reads those rows (in an app.product transaction) and
 * assigns the partitions at them, or at the beginning when a partition has
 * no row yet; after an infrastructure error the consumer seeks its whole
 * assignment back to them. Kafka's committed offsets are never read.
 *
 * Not here: the batch itself (consumer_batch.c).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bs/db.h"
#include "bs/error.h"
#include "bs/log.h"
#include "consumer_internal.h"

#define SEEK_TIMEOUT_MS 10000

static const char select_offsets_sql[] =
    "SELECT topic, partition, next_offset FROM consumer_offsets"
    " WHERE product = $1 AND consumer_group = $2";

static const char upsert_offset_sql[] =
    "INSERT INTO consumer_offsets"
    " (product, consumer_group, topic, partition, next_offset, updated_at)"
    " VALUES ($1, $2, $3, $4, $5, now())"
    " ON CONFLICT (product, consumer_group, topic, partition)"
    " DO UPDATE SET next_offset = EXCLUDED.next_offset, updated_at = now()";

/* Sets each partition's offset from the rows, the beginning without one. */
static void apply_rows(const PGresult *rows,
                       rd_kafka_topic_partition_list_t *partitions)
{
    for (int i = 0; i < partitions->cnt; i++)
        partitions->elems[i].offset = RD_KAFKA_OFFSET_BEGINNING;
    for (int r = 0; r < PQntuples(rows); r++) {
        rd_kafka_topic_partition_t *p = rd_kafka_topic_partition_list_find(
            partitions, PQgetvalue(rows, r, 0),
            (int32_t)atoi(PQgetvalue(rows, r, 1)));

        if (p)
            p->offset = strtoll(PQgetvalue(rows, r, 2), NULL, 10);
    }
}

int bs__consumer_read_offsets(struct bs_consumer *c,
                              rd_kafka_topic_partition_list_t *partitions,
                              char *errstr, size_t size)
{
    const char *params[] = {c->product, c->group};
    PGresult *rows = NULL;
    int result;

    if (!c->db)
        return bs_fail(errstr, size, BS_EDB, "not connected");
    result = bs_db_begin_product(c->db, c->product, errstr, size);
    if (result != BS_OK)
        return result;
    result =
        bs_db_query(c->db, select_offsets_sql, 2, params, &rows, errstr, size);
    if (result == BS_OK) {
        apply_rows(rows, partitions);
        result = bs_db_commit(c->db, errstr, size);
    } else {
        char ignored[256];

        bs_db_rollback(c->db, ignored, sizeof(ignored));
    }
    PQclear(rows);
    if (result != BS_OK && PQstatus(c->db) != CONNECTION_OK) {
        PQfinish(c->db);
        c->db = NULL;
    }
    return result;
}

/* The next offset of each partition in the batch. */
static rd_kafka_topic_partition_list_t *next_offsets(struct bs_consumer *c)
{
    rd_kafka_topic_partition_list_t *next =
        rd_kafka_topic_partition_list_new(4);

    for (size_t i = 0; i < c->count; i++) {
        const rd_kafka_message_t *rkm = c->batch[i].rkm;
        const char *topic = rd_kafka_topic_name(rkm->rkt);
        rd_kafka_topic_partition_t *p =
            rd_kafka_topic_partition_list_find(next, topic, rkm->partition);

        if (!p)
            p = rd_kafka_topic_partition_list_add(next, topic, rkm->partition);
        if (rkm->offset + 1 > p->offset)
            p->offset = rkm->offset + 1;
    }
    return next;
}

int bs__consumer_store_offsets(struct bs_consumer *c,
                               rd_kafka_topic_partition_list_t **out,
                               char *errstr, size_t size)
{
    rd_kafka_topic_partition_list_t *next = next_offsets(c);
    int result = BS_OK;

    for (int i = 0; i < next->cnt && result == BS_OK; i++) {
        char partition[16], offset[24];
        const char *params[] = {c->product, c->group, next->elems[i].topic,
                                partition, offset};

        snprintf(partition, sizeof(partition), "%" PRId32,
                 next->elems[i].partition);
        snprintf(offset, sizeof(offset), "%" PRId64, next->elems[i].offset);
        result = bs_db_query(c->db, upsert_offset_sql, 5, params, NULL, errstr,
                             size);
    }
    if (result != BS_OK) {
        rd_kafka_topic_partition_list_destroy(next);
        next = NULL;
    }
    *out = next;
    return result;
}

static void log_partitions(const char *event,
                           const rd_kafka_topic_partition_list_t *list)
{
    for (int i = 0; i < list->cnt; i++)
        bs_log_info("%s topic=%s partition=%" PRId32 " offset=%" PRId64, event,
                    list->elems[i].topic, list->elems[i].partition,
                    list->elems[i].offset);
}

int bs__consumer_seek_stored(struct bs_consumer *c, char *errstr, size_t size)
{
    rd_kafka_topic_partition_list_t *assigned = NULL;
    rd_kafka_error_t *error;
    rd_kafka_resp_err_t err;
    int result;

    err = rd_kafka_assignment(c->rk, &assigned);
    if (err)
        return bs_fail(errstr, size, BS_EKAFKA, "assignment: %s",
                       rd_kafka_err2str(err));
    result = assigned->cnt == 0
                 ? BS_OK
                 : bs__consumer_read_offsets(c, assigned, errstr, size);
    if (result != BS_OK || assigned->cnt == 0)
        goto out;

    error = rd_kafka_seek_partitions(c->rk, assigned, SEEK_TIMEOUT_MS);
    if (error) {
        result = bs_fail(errstr, size, BS_EKAFKA, "seek: %s",
                         rd_kafka_error_string(error));
        rd_kafka_error_destroy(error);
        goto out;
    }
    for (int i = 0; i < assigned->cnt && result == BS_OK; i++)
        if (assigned->elems[i].err)
            result =
                bs_fail(errstr, size, BS_EKAFKA, "seek %s [%" PRId32 "]: %s",
                        assigned->elems[i].topic, assigned->elems[i].partition,
                        rd_kafka_err2str(assigned->elems[i].err));
    if (result == BS_OK)
        log_partitions("partition_seek", assigned);
out:
    rd_kafka_topic_partition_list_destroy(assigned);
    return result;
}

static void assign(struct bs_consumer *c, rd_kafka_t *rk,
                   rd_kafka_topic_partition_list_t *partitions,
                   bool cooperative)
{
    char errstr[512];
    rd_kafka_error_t *error = NULL;
    rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR_NO_ERROR;

    /* Without the stored offsets, fetch anyway and seek before applying. */
    if (bs__consumer_read_offsets(c, partitions, errstr, sizeof(errstr)) !=
        BS_OK) {
        bs_log_error("partition_offsets_unreadable error=\"%s\"", errstr);
        for (int i = 0; i < partitions->cnt; i++)
            partitions->elems[i].offset = RD_KAFKA_OFFSET_INVALID;
        c->resync = true;
    }
    log_partitions("partition_assigned", partitions);
    if (cooperative)
        error = rd_kafka_incremental_assign(rk, partitions);
    else
        err = rd_kafka_assign(rk, partitions);
    if (error) {
        bs_log_error("assign_failed error=\"%s\"",
                     rd_kafka_error_string(error));
        rd_kafka_error_destroy(error);
    } else if (err) {
        bs_log_error("assign_failed error=\"%s\"", rd_kafka_err2str(err));
    }
}

static void unassign(struct bs_consumer *c, rd_kafka_t *rk,
                     rd_kafka_topic_partition_list_t *partitions,
                     bool cooperative)
{
    rd_kafka_error_t *error;

    /* Messages of partitions we no longer own are someone else's now. */
    bs__consumer_drop_partitions(c, partitions);
    log_partitions("partition_revoked", partitions);
    if (!cooperative) {
        rd_kafka_assign(rk, NULL);
        return;
    }
    error = rd_kafka_incremental_unassign(rk, partitions);
    if (error) {
        bs_log_error("unassign_failed error=\"%s\"",
                     rd_kafka_error_string(error));
        rd_kafka_error_destroy(error);
    }
}

void bs__consumer_rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                               rd_kafka_topic_partition_list_t *partitions,
                               void *opaque)
{
    struct bs_consumer *c = opaque;
    bool cooperative =
        strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE") == 0;

    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        assign(c, rk, partitions, cooperative);
    } else if (err == RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS) {
        unassign(c, rk, partitions, cooperative);
    } else {
        bs_log_error("rebalance_failed error=\"%s\"", rd_kafka_err2str(err));
        bs__consumer_drop_batch(c);
        if (!cooperative) {
            rd_kafka_assign(rk, NULL);
        } else {
            rd_kafka_error_t *error =
                rd_kafka_incremental_unassign(rk, partitions);

            if (error)
                rd_kafka_error_destroy(error);
        }
    }
}

void bs__consumer_update_lag(struct bs_consumer *c,
                             const rd_kafka_topic_partition_list_t *next)
{
    for (int i = 0; next && i < next->cnt; i++) {
        const rd_kafka_topic_partition_t *p = &next->elems[i];
        int64_t low, high;
        char partition[16];

        if (rd_kafka_get_watermark_offsets(c->rk, p->topic, p->partition, &low,
                                           &high) !=
                RD_KAFKA_RESP_ERR_NO_ERROR ||
            high < 0)
            continue;
        snprintf(partition, sizeof(partition), "%" PRId32, p->partition);
        bs_metric_set(c->m.lag, BS_LABELS(p->topic, partition),
                      high > p->offset ? (double)(high - p->offset) : 0.0);
    }
}
