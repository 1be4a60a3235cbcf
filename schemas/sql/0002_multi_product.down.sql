-- 0002 multi_product, reverted: back to exactly the 0001 schema, rows kept.
--
-- Only for a database whose rows are all 'bestays': without the product
-- column, another product's rows would silently become bestays rows. Such a
-- database is refused (nothing changes) until those rows are deleted.
--
-- Runs in one transaction (bsctl migrate): no BEGIN/COMMIT here.

-- 7. The services' role loses every grant here.
DO $$
BEGIN
    IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'bs_service') THEN
        REVOKE ALL ON
            users, properties, faq_categories, faq_documents, faq_embeddings,
            faq_analytics, faq_related_questions, webhook_events, audit_log,
            conversations, messages, chat_prompts, chat_tools,
            chat_prompt_history
            FROM bs_service;
        REVOKE ALL ON SEQUENCE
            faq_categories_id_seq, faq_embeddings_id_seq,
            faq_analytics_id_seq, webhook_events_id_seq, audit_log_id_seq,
            messages_id_seq, chat_prompts_id_seq, chat_tools_id_seq,
            chat_prompt_history_id_seq
            FROM bs_service;
        REVOKE USAGE ON SCHEMA public FROM bs_service;
    END IF;
END
$$;

-- 6. Row-level security off, policies gone.
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
        EXECUTE format('DROP POLICY product_isolation ON %I', t);
        EXECUTE format('ALTER TABLE %I NO FORCE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE %I DISABLE ROW LEVEL SECURITY', t);
    END LOOP;
END
$$;

-- Refuse if any row belongs to another product. Checked with row security
-- off, so that an owner that is not a superuser sees every row too.
DO $$
DECLARE
    t TEXT;
    has_other BOOLEAN;
BEGIN
    FOREACH t IN ARRAY ARRAY['users', 'properties', 'faq_categories',
        'faq_documents', 'faq_embeddings', 'faq_analytics',
        'faq_related_questions', 'webhook_events', 'audit_log',
        'conversations', 'messages', 'chat_prompts', 'chat_tools',
        'chat_prompt_history']
    LOOP
        EXECUTE format('SELECT EXISTS (SELECT FROM %I '
                       'WHERE product <> %L)', t, 'bestays') INTO has_other;
        IF has_other THEN
            RAISE EXCEPTION 'cannot revert 0002: table % has rows of '
                'products other than bestays; delete them first', t
                USING ERRCODE = 'object_not_in_prerequisite_state';
        END IF;
    END LOOP;
END
$$;

-- 5. Product indexes go; 0001's audit index comes back.
DROP INDEX idx_users_product_role, idx_users_product_email,
    idx_properties_product_published, idx_faq_documents_product_status,
    idx_faq_embeddings_product_document, idx_audit_log_product_entity,
    idx_faq_categories_product, idx_faq_analytics_product,
    idx_faq_related_questions_product, idx_webhook_events_product,
    idx_conversations_product, idx_messages_product, idx_chat_prompts_product,
    idx_chat_tools_product, idx_chat_prompt_history_product;
CREATE INDEX idx_audit_log_entity ON audit_log (entity_type, entity_id);

-- 4. Composite foreign keys go.
ALTER TABLE properties DROP CONSTRAINT properties_product_owner_id_fkey;
ALTER TABLE faq_documents
    DROP CONSTRAINT faq_documents_product_category_id_fkey;
ALTER TABLE faq_embeddings
    DROP CONSTRAINT faq_embeddings_product_document_id_fkey;
ALTER TABLE faq_analytics
    DROP CONSTRAINT faq_analytics_product_document_id_fkey;
ALTER TABLE faq_related_questions
    DROP CONSTRAINT faq_related_questions_product_document_id_fkey,
    DROP CONSTRAINT faq_related_questions_product_related_document_id_fkey;
ALTER TABLE conversations DROP CONSTRAINT conversations_product_user_id_fkey;
ALTER TABLE messages DROP CONSTRAINT messages_product_conversation_id_fkey;
ALTER TABLE chat_prompt_history
    DROP CONSTRAINT chat_prompt_history_product_prompt_id_fkey;

-- 3. Keys on the 0001 columns, under their 0001 names.
ALTER TABLE users DROP CONSTRAINT users_pkey,
    ADD CONSTRAINT users_pkey PRIMARY KEY (id);
ALTER TABLE properties DROP CONSTRAINT properties_pkey,
    ADD CONSTRAINT properties_pkey PRIMARY KEY (id);
ALTER TABLE faq_categories DROP CONSTRAINT faq_categories_pkey,
    ADD CONSTRAINT faq_categories_pkey PRIMARY KEY (id),
    DROP CONSTRAINT faq_categories_product_slug_key,
    ADD CONSTRAINT faq_categories_slug_key UNIQUE (slug);
ALTER TABLE faq_documents DROP CONSTRAINT faq_documents_pkey,
    ADD CONSTRAINT faq_documents_pkey PRIMARY KEY (id);
ALTER TABLE faq_embeddings DROP CONSTRAINT faq_embeddings_pkey,
    ADD CONSTRAINT faq_embeddings_pkey PRIMARY KEY (id),
    DROP CONSTRAINT faq_embeddings_product_document_id_chunk_index_key,
    ADD CONSTRAINT faq_embeddings_document_id_chunk_index_key
        UNIQUE (document_id, chunk_index);
ALTER TABLE faq_analytics DROP CONSTRAINT faq_analytics_pkey,
    ADD CONSTRAINT faq_analytics_pkey PRIMARY KEY (id);
ALTER TABLE faq_related_questions
    DROP CONSTRAINT faq_related_questions_pkey,
    ADD CONSTRAINT faq_related_questions_pkey
        PRIMARY KEY (document_id, related_document_id);
ALTER TABLE webhook_events DROP CONSTRAINT webhook_events_pkey,
    ADD CONSTRAINT webhook_events_pkey PRIMARY KEY (id),
    DROP CONSTRAINT webhook_events_product_svix_id_key,
    ADD CONSTRAINT webhook_events_svix_id_key UNIQUE (svix_id);
ALTER TABLE audit_log DROP CONSTRAINT audit_log_pkey,
    ADD CONSTRAINT audit_log_pkey PRIMARY KEY (id),
    DROP CONSTRAINT audit_log_product_event_id_key,
    ADD CONSTRAINT audit_log_event_id_key UNIQUE (event_id);
ALTER TABLE conversations DROP CONSTRAINT conversations_pkey,
    ADD CONSTRAINT conversations_pkey PRIMARY KEY (id);
ALTER TABLE messages DROP CONSTRAINT messages_pkey,
    ADD CONSTRAINT messages_pkey PRIMARY KEY (id);
ALTER TABLE chat_prompts DROP CONSTRAINT chat_prompts_pkey,
    ADD CONSTRAINT chat_prompts_pkey PRIMARY KEY (id),
    DROP CONSTRAINT chat_prompts_product_name_key,
    ADD CONSTRAINT chat_prompts_name_key UNIQUE (name);
ALTER TABLE chat_tools DROP CONSTRAINT chat_tools_pkey,
    ADD CONSTRAINT chat_tools_pkey PRIMARY KEY (id),
    DROP CONSTRAINT chat_tools_product_name_key,
    ADD CONSTRAINT chat_tools_name_key UNIQUE (name);
ALTER TABLE chat_prompt_history DROP CONSTRAINT chat_prompt_history_pkey,
    ADD CONSTRAINT chat_prompt_history_pkey PRIMARY KEY (id),
    DROP CONSTRAINT chat_prompt_history_product_prompt_id_version_key,
    ADD CONSTRAINT chat_prompt_history_prompt_id_version_key
        UNIQUE (prompt_id, version);

-- 2. The 0001 foreign keys, as they were.
ALTER TABLE properties ADD CONSTRAINT properties_owner_id_fkey
    FOREIGN KEY (owner_id) REFERENCES users (id) ON DELETE RESTRICT;
ALTER TABLE faq_documents ADD CONSTRAINT faq_documents_category_id_fkey
    FOREIGN KEY (category_id) REFERENCES faq_categories (id)
    ON DELETE SET NULL;
ALTER TABLE faq_embeddings ADD CONSTRAINT faq_embeddings_document_id_fkey
    FOREIGN KEY (document_id) REFERENCES faq_documents (id)
    ON DELETE CASCADE;
ALTER TABLE faq_analytics ADD CONSTRAINT faq_analytics_document_id_fkey
    FOREIGN KEY (document_id) REFERENCES faq_documents (id)
    ON DELETE SET NULL;
ALTER TABLE faq_related_questions
    ADD CONSTRAINT faq_related_questions_document_id_fkey
    FOREIGN KEY (document_id) REFERENCES faq_documents (id)
    ON DELETE CASCADE,
    ADD CONSTRAINT faq_related_questions_related_document_id_fkey
    FOREIGN KEY (related_document_id) REFERENCES faq_documents (id)
    ON DELETE CASCADE;
ALTER TABLE conversations ADD CONSTRAINT conversations_user_id_fkey
    FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE;
ALTER TABLE messages ADD CONSTRAINT messages_conversation_id_fkey
    FOREIGN KEY (conversation_id) REFERENCES conversations (id)
    ON DELETE CASCADE;
ALTER TABLE chat_prompt_history
    ADD CONSTRAINT chat_prompt_history_prompt_id_fkey
    FOREIGN KEY (prompt_id) REFERENCES chat_prompts (id) ON DELETE CASCADE;

-- 1. The product column (and its CHECK) goes.
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
        EXECUTE format('ALTER TABLE %I DROP COLUMN product', t);
    END LOOP;
END
$$;

-- The role goes too, unless something else still needs it: grants in
-- another database of the cluster, objects it owns, an operator's use.
DO $$
BEGIN
    IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'bs_service') THEN
        DROP ROLE bs_service;
    END IF;
EXCEPTION WHEN dependent_objects_still_exist OR object_in_use THEN
    RAISE NOTICE 'role bs_service kept: %', SQLERRM;
END
$$;
