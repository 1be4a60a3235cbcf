-- 0004 faq_index, reverted: faq_index_state (with its policy and grants)
-- and the two faq_documents columns go. Embeddings already written stay;
-- the gateway then has no generation to watch.
--
-- Runs in one transaction (bsctl migrate): no BEGIN/COMMIT here.

DROP TABLE faq_index_state;
DROP INDEX idx_faq_documents_product_embedded;
ALTER TABLE faq_documents
    DROP COLUMN chunker_version,
    DROP COLUMN embedded_at;
