-- 0003 consumer_offsets: where each consumer pipeline resumes.
--
-- A consumer applies a batch of events and stores the next offset of each
-- partition in the same transaction, so the database, not Kafka, says what
-- has been applied: a crash at any instant neither loses nor doubles a row.
-- One row per (product, consumer group, topic, partition).
--
-- Tenant data like the rest: the product column, FORCEd row-level security
-- on app.product, and bs_service may read, insert and update (never delete).
--
-- Runs in one transaction (bsctl migrate): no BEGIN/COMMIT here.

CREATE TABLE consumer_offsets (
    product        VARCHAR(50) NOT NULL,
    consumer_group TEXT        NOT NULL,
    topic          TEXT        NOT NULL,
    partition      INT         NOT NULL,
    next_offset    BIGINT      NOT NULL,
    updated_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT consumer_offsets_pkey
        PRIMARY KEY (product, consumer_group, topic, partition),
    CONSTRAINT consumer_offsets_product_check CHECK (product <> ''),
    CONSTRAINT consumer_offsets_partition_check CHECK (partition >= 0),
    CONSTRAINT consumer_offsets_next_offset_check CHECK (next_offset >= 0)
);

ALTER TABLE consumer_offsets ENABLE ROW LEVEL SECURITY;
ALTER TABLE consumer_offsets FORCE ROW LEVEL SECURITY;
CREATE POLICY product_isolation ON consumer_offsets
    USING (product = current_setting('app.product', true))
    WITH CHECK (product = current_setting('app.product', true));

GRANT SELECT, INSERT, UPDATE ON consumer_offsets TO bs_service;
