-- 0005 audit_chain: audit_log rows derived from the event log, chained.
--
-- audit-writer appends one audit_log row per event of a product's users,
-- faq and audit topics. Each row now says where it came from (the source
-- topic, partition and offset: replay compares by them) and its place in
-- the product's hash chain:
--   chain_seq  1, 2, 3... per product, no gaps (a gap is a deleted row);
--   prev_hash  the previous row's hash (NULL for chain_seq 1);
--   hash       SHA-256 over a length-prefixed encoding of the row's content,
--              chain_seq and prev_hash (computed in C, common/src/audit.c,
--              so that `bsctl audit verify` checks with the same code).
--
-- audit_chain_heads holds, per product, the last link: appenders lock that
-- row (SELECT ... FOR UPDATE) inside their transaction, so concurrent
-- writers of one product append one after the other and the chain never
-- forks; it also lets verify notice rows deleted from the end of the chain.
--
-- bs_service keeps only SELECT and INSERT on audit_log (0002); it may read,
-- create and move the head of its own product (FORCEd row-level security).
--
-- Runs in one transaction (bsctl migrate): no BEGIN/COMMIT here.

ALTER TABLE audit_log
    ADD COLUMN source_topic     TEXT,
    ADD COLUMN source_partition INTEGER,
    ADD COLUMN source_offset    BIGINT,
    ADD COLUMN chain_seq        BIGINT,
    ADD CONSTRAINT audit_log_product_chain_seq_key UNIQUE (product, chain_seq),
    ADD CONSTRAINT audit_log_chain_seq_check CHECK (chain_seq > 0);

-- Replay looks rows up by where they came from.
CREATE INDEX idx_audit_log_product_source
    ON audit_log (product, source_topic, source_partition, source_offset);

CREATE TABLE audit_chain_heads (
    product    VARCHAR(50) NOT NULL,
    last_seq   BIGINT      NOT NULL DEFAULT 0,
    last_hash  BYTEA,
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT audit_chain_heads_pkey PRIMARY KEY (product),
    CONSTRAINT audit_chain_heads_product_check CHECK (product <> ''),
    CONSTRAINT audit_chain_heads_last_seq_check CHECK (last_seq >= 0)
);

ALTER TABLE audit_chain_heads ENABLE ROW LEVEL SECURITY;
ALTER TABLE audit_chain_heads FORCE ROW LEVEL SECURITY;
CREATE POLICY product_isolation ON audit_chain_heads
    USING (product = current_setting('app.product', true))
    WITH CHECK (product = current_setting('app.product', true));

GRANT SELECT, INSERT, UPDATE ON audit_chain_heads TO bs_service;
