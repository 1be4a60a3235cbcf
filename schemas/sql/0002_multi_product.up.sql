-- 0002 multi_product: one database for several products, applied in place to
-- a live 0001 database. Every existing row becomes 'bestays'.
--
-- The database's share of the four isolation layers:
--   1. a NOT NULL, non-empty product column on all 14 tables;
--   2. keys that include product, and composite foreign keys, so a row can
--      only reference a row of its own product (even for the owner);
--   3. row-level security, FORCEd, matching current_setting('app.product'):
--      a session that did not set it sees nothing and can write nothing;
--   4. bs_service, the role services log in as: owns nothing, bypasses
--      nothing, may only read and write rows (audit_log: read and append).
--
-- Runs in one transaction (bsctl migrate): no BEGIN/COMMIT here. The ALTERs
-- take ACCESS EXCLUSIVE locks; on a big live database run it in a quiet
-- window. 0002_multi_product.down.sql undoes all of it.

-- 1. The product column. ADD COLUMN with a constant default fills every
-- existing row without rewriting the table; dropping the default right after
-- keeps those values and makes every later INSERT name its product: no
-- service can ever rely on a default tenant.
DO $$
DECLARE
    t TEXT;
BEGIN
    FOREACH t IN ARRAY ARRAY['users', 'properties', 'faq_categories',
        'faq_documents', 'faq_embeddings', 'faq_analytics',
        'faq_related_questions', 'webhook_events', 'audit_log',
        'conversations', 'messages', 'chat_prompts', 'chat_tools',
        'chat_prompt_history']
    LOOP
        EXECUTE format('ALTER TABLE %I ADD COLUMN product VARCHAR(50) '
                       'NOT NULL DEFAULT %L', t, 'bestays');
        EXECUTE format('ALTER TABLE %I ALTER COLUMN product DROP DEFAULT', t);
        EXECUTE format('ALTER TABLE %I ADD CONSTRAINT %I '
                       'CHECK (product <> %L)', t, t || '_product_check', '');
    END LOOP;
END
$$;

-- 2. Foreign keys on one column go; they come back below with product.
ALTER TABLE properties DROP CONSTRAINT properties_owner_id_fkey;
ALTER TABLE faq_documents DROP CONSTRAINT faq_documents_category_id_fkey;
ALTER TABLE faq_embeddings DROP CONSTRAINT faq_embeddings_document_id_fkey;
ALTER TABLE faq_analytics DROP CONSTRAINT faq_analytics_document_id_fkey;
ALTER TABLE faq_related_questions
    DROP CONSTRAINT faq_related_questions_document_id_fkey,
    DROP CONSTRAINT faq_related_questions_related_document_id_fkey;
ALTER TABLE conversations DROP CONSTRAINT conversations_user_id_fkey;
ALTER TABLE messages DROP CONSTRAINT messages_conversation_id_fkey;
ALTER TABLE chat_prompt_history
    DROP CONSTRAINT chat_prompt_history_prompt_id_fkey;

-- 3. Primary and unique keys include product: two products may use the same
-- Clerk id, slug, Svix id or prompt name.
ALTER TABLE users DROP CONSTRAINT users_pkey,
    ADD CONSTRAINT users_pkey PRIMARY KEY (product, id);
ALTER TABLE properties DROP CONSTRAINT properties_pkey,
    ADD CONSTRAINT properties_pkey PRIMARY KEY (product, id);
ALTER TABLE faq_categories DROP CONSTRAINT faq_categories_pkey,
    ADD CONSTRAINT faq_categories_pkey PRIMARY KEY (product, id),
    DROP CONSTRAINT faq_categories_slug_key,
    ADD CONSTRAINT faq_categories_product_slug_key UNIQUE (product, slug);
ALTER TABLE faq_documents DROP CONSTRAINT faq_documents_pkey,
    ADD CONSTRAINT faq_documents_pkey PRIMARY KEY (product, id);
ALTER TABLE faq_embeddings DROP CONSTRAINT faq_embeddings_pkey,
    ADD CONSTRAINT faq_embeddings_pkey PRIMARY KEY (product, id),
    DROP CONSTRAINT faq_embeddings_document_id_chunk_index_key,
    ADD CONSTRAINT faq_embeddings_product_document_id_chunk_index_key
        UNIQUE (product, document_id, chunk_index);
ALTER TABLE faq_analytics DROP CONSTRAINT faq_analytics_pkey,
    ADD CONSTRAINT faq_analytics_pkey PRIMARY KEY (product, id);
ALTER TABLE faq_related_questions
    DROP CONSTRAINT faq_related_questions_pkey,
    ADD CONSTRAINT faq_related_questions_pkey
        PRIMARY KEY (product, document_id, related_document_id);
ALTER TABLE webhook_events DROP CONSTRAINT webhook_events_pkey,
    ADD CONSTRAINT webhook_events_pkey PRIMARY KEY (product, id),
    DROP CONSTRAINT webhook_events_svix_id_key,
    ADD CONSTRAINT webhook_events_product_svix_id_key
        UNIQUE (product, svix_id);
ALTER TABLE audit_log DROP CONSTRAINT audit_log_pkey,
    ADD CONSTRAINT audit_log_pkey PRIMARY KEY (product, id),
    DROP CONSTRAINT audit_log_event_id_key,
    ADD CONSTRAINT audit_log_product_event_id_key UNIQUE (product, event_id);
ALTER TABLE conversations DROP CONSTRAINT conversations_pkey,
    ADD CONSTRAINT conversations_pkey PRIMARY KEY (product, id);
ALTER TABLE messages DROP CONSTRAINT messages_pkey,
    ADD CONSTRAINT messages_pkey PRIMARY KEY (product, id);
ALTER TABLE chat_prompts DROP CONSTRAINT chat_prompts_pkey,
    ADD CONSTRAINT chat_prompts_pkey PRIMARY KEY (product, id),
    DROP CONSTRAINT chat_prompts_name_key,
    ADD CONSTRAINT chat_prompts_product_name_key UNIQUE (product, name);
ALTER TABLE chat_tools DROP CONSTRAINT chat_tools_pkey,
    ADD CONSTRAINT chat_tools_pkey PRIMARY KEY (product, id),
    DROP CONSTRAINT chat_tools_name_key,
    ADD CONSTRAINT chat_tools_product_name_key UNIQUE (product, name);
ALTER TABLE chat_prompt_history DROP CONSTRAINT chat_prompt_history_pkey,
    ADD CONSTRAINT chat_prompt_history_pkey PRIMARY KEY (product, id),
    DROP CONSTRAINT chat_prompt_history_prompt_id_version_key,
    ADD CONSTRAINT chat_prompt_history_product_prompt_id_version_key
        UNIQUE (product, prompt_id, version);

-- 4. Composite foreign keys: a row references a row of its own product or
-- nothing. SET NULL names its column, so product itself is never nulled.
ALTER TABLE properties ADD CONSTRAINT properties_product_owner_id_fkey
    FOREIGN KEY (product, owner_id) REFERENCES users (product, id)
    ON DELETE RESTRICT;
ALTER TABLE faq_documents ADD CONSTRAINT faq_documents_product_category_id_fkey
    FOREIGN KEY (product, category_id) REFERENCES faq_categories (product, id)
    ON DELETE SET NULL (category_id);
ALTER TABLE faq_embeddings
    ADD CONSTRAINT faq_embeddings_product_document_id_fkey
    FOREIGN KEY (product, document_id) REFERENCES faq_documents (product, id)
    ON DELETE CASCADE;
ALTER TABLE faq_analytics ADD CONSTRAINT faq_analytics_product_document_id_fkey
    FOREIGN KEY (product, document_id) REFERENCES faq_documents (product, id)
    ON DELETE SET NULL (document_id);
ALTER TABLE faq_related_questions
    ADD CONSTRAINT faq_related_questions_product_document_id_fkey
    FOREIGN KEY (product, document_id) REFERENCES faq_documents (product, id)
    ON DELETE CASCADE,
    ADD CONSTRAINT faq_related_questions_product_related_document_id_fkey
    FOREIGN KEY (product, related_document_id)
    REFERENCES faq_documents (product, id) ON DELETE CASCADE;
ALTER TABLE conversations ADD CONSTRAINT conversations_product_user_id_fkey
    FOREIGN KEY (product, user_id) REFERENCES users (product, id)
    ON DELETE CASCADE;
ALTER TABLE messages ADD CONSTRAINT messages_product_conversation_id_fkey
    FOREIGN KEY (product, conversation_id)
    REFERENCES conversations (product, id) ON DELETE CASCADE;
ALTER TABLE chat_prompt_history
    ADD CONSTRAINT chat_prompt_history_product_prompt_id_fkey
    FOREIGN KEY (product, prompt_id) REFERENCES chat_prompts (product, id)
    ON DELETE CASCADE;

-- 5. Indexes led by product. idx_audit_log_product_entity supersedes 0001's
-- idx_audit_log_entity.
CREATE INDEX idx_users_product_role ON users (product, role);
CREATE INDEX idx_users_product_email ON users (product, email);
CREATE INDEX idx_properties_product_published
    ON properties (product, is_published);
CREATE INDEX idx_faq_documents_product_status
    ON faq_documents (product, status);
CREATE INDEX idx_faq_embeddings_product_document
    ON faq_embeddings (product, document_id);
DROP INDEX idx_audit_log_entity;
CREATE INDEX idx_audit_log_product_entity
    ON audit_log (product, entity_type, entity_id);
CREATE INDEX idx_faq_categories_product ON faq_categories (product);
CREATE INDEX idx_faq_analytics_product ON faq_analytics (product);
CREATE INDEX idx_faq_related_questions_product
    ON faq_related_questions (product);
CREATE INDEX idx_webhook_events_product ON webhook_events (product);
CREATE INDEX idx_conversations_product ON conversations (product);
CREATE INDEX idx_messages_product ON messages (product);
CREATE INDEX idx_chat_prompts_product ON chat_prompts (product);
CREATE INDEX idx_chat_tools_product ON chat_tools (product);
CREATE INDEX idx_chat_prompt_history_product
    ON chat_prompt_history (product);

-- 6. Row-level security, forced on the owner too. current_setting(..., true)
-- is NULL when app.product was never set and '' after a SET LOCAL ended:
-- neither matches a row (product <> '' is checked above).
DO $$
DECLARE
    t TEXT;
BEGIN
    FOREACH t IN ARRAY ARRAY['users', 'properties', 'faq_categories',
        'faq_documents', 'faq_embeddings', 'faq_analytics',
        'faq_related_questions', 'webhook_events', 'audit_log',
        'conversations', 'messages', 'chat_prompts', 'chat_tools',
        'chat_prompt_history']
    LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format('CREATE POLICY product_isolation ON %I '
            'USING (product = current_setting(''app.product'', true)) '
            'WITH CHECK (product = current_setting(''app.product'', true))',
            t);
    END LOOP;
END
$$;

-- 7. The services' role. Roles are cluster-wide: it may exist already
-- (another database, or created by an operator with a password). An existing
-- role with powers that defeat the isolation is refused, not altered.
DO $$
DECLARE
    r pg_roles%ROWTYPE;
BEGIN
    SELECT * INTO r FROM pg_roles WHERE rolname = 'bs_service';
    IF NOT FOUND THEN
        BEGIN
            CREATE ROLE bs_service LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB
                NOCREATEROLE NOREPLICATION;
        EXCEPTION WHEN duplicate_object OR unique_violation THEN
            NULL; -- created concurrently by a migration of another database
        END;
        SELECT * INTO r FROM pg_roles WHERE rolname = 'bs_service';
    END IF;
    IF r.rolsuper OR r.rolbypassrls OR r.rolcreaterole OR r.rolcreatedb
       OR r.rolreplication THEN
        RAISE EXCEPTION 'role bs_service exists with SUPERUSER, BYPASSRLS, '
            'CREATEROLE, CREATEDB or REPLICATION; refusing to grant it '
            'tenant tables';
    END IF;
END
$$;

GRANT USAGE ON SCHEMA public TO bs_service;
GRANT SELECT, INSERT, UPDATE, DELETE ON
    users, properties, faq_categories, faq_documents, faq_embeddings,
    faq_analytics, faq_related_questions, webhook_events, conversations,
    messages, chat_prompts, chat_tools, chat_prompt_history
    TO bs_service;
-- The audit trail is append-only for services.
GRANT SELECT, INSERT ON audit_log TO bs_service;
GRANT USAGE ON SEQUENCE
    faq_categories_id_seq, faq_embeddings_id_seq, faq_analytics_id_seq,
    webhook_events_id_seq, audit_log_id_seq, messages_id_seq,
    chat_prompts_id_seq, chat_tools_id_seq, chat_prompt_history_id_seq
    TO bs_service;
