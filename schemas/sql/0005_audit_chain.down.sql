-- 0005 audit_chain, reverted: the chain head table goes, and audit_log loses
-- its source and chain_seq columns (prev_hash and hash are 0001's and stay,
-- as do the rows).
--
-- Runs in one transaction (bsctl migrate): no BEGIN/COMMIT here.

DROP TABLE audit_chain_heads;
DROP INDEX idx_audit_log_product_source;
ALTER TABLE audit_log
    DROP CONSTRAINT audit_log_chain_seq_check,
    DROP CONSTRAINT audit_log_product_chain_seq_key,
    DROP COLUMN chain_seq,
    DROP COLUMN source_offset,
    DROP COLUMN source_partition,
    DROP COLUMN source_topic;
