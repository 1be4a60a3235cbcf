-- 0004 faq_index: what faq-indexer needs to keep embeddings current.
--
-- faq_documents gains chunker_version (the BS_CHUNKER_VERSION the rows in
-- faq_embeddings were cut with) and embedded_at (when they were written).
-- With embedding_model they say whether a document is stale: embedded with
-- another model or an older chunking, or never embedded.
--
-- faq_index_state holds one row per product: generation is bumped by
-- faq-indexer in the same transaction whenever that product's embeddings
-- or its set of published documents change, so the gateway knows when to
-- reload its in-memory search index; model is the embedding model the
-- product's rows were last written with.
--
-- Tenant data like the rest: the product column, FORCEd row-level security
-- on app.product, and bs_service may read, insert and update (never delete).
--
-- Runs in one transaction (bsctl migrate): no BEGIN/COMMIT here.

ALTER TABLE faq_documents
    ADD COLUMN chunker_version INTEGER,
    ADD COLUMN embedded_at TIMESTAMPTZ;

-- bsctl faq reindex --stale and its progress bar read these.
CREATE INDEX idx_faq_documents_product_embedded
    ON faq_documents (product, embedding_model, chunker_version);

CREATE TABLE faq_index_state (
    product    VARCHAR(50) NOT NULL,
    generation BIGINT      NOT NULL DEFAULT 0,
    model      TEXT,
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT faq_index_state_pkey PRIMARY KEY (product),
    CONSTRAINT faq_index_state_product_check CHECK (product <> ''),
    CONSTRAINT faq_index_state_generation_check CHECK (generation >= 0)
);

ALTER TABLE faq_index_state ENABLE ROW LEVEL SECURITY;
ALTER TABLE faq_index_state FORCE ROW LEVEL SECURITY;
CREATE POLICY product_isolation ON faq_index_state
    USING (product = current_setting('app.product', true))
    WITH CHECK (product = current_setting('app.product', true));

GRANT SELECT, INSERT, UPDATE ON faq_index_state TO bs_service;
