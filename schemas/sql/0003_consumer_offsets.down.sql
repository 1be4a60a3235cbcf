-- 0003 consumer_offsets, reverted: the table, its policy and grants go.
-- Consumers then start again from their Kafka committed offsets (or the
-- beginning), which the projections tolerate: they are idempotent by event.
--
-- Runs in one transaction (bsctl migrate): no BEGIN/COMMIT here.

DROP TABLE consumer_offsets;
