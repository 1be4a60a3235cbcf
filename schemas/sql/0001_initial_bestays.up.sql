-- 0001 initial_bestays: the original single-product Bestays schema.
--
-- Fourteen tables, no product column (0002 adds it). Every constraint is
-- named so that 0002's down can restore exactly this schema. Run by
-- `bsctl migrate` inside one transaction: no BEGIN/COMMIT here.

-- Users, keyed by their Clerk user id; soft-deleted with deleted_at.
CREATE TABLE users (
    id               TEXT        NOT NULL,
    email            TEXT,
    first_name       TEXT,
    last_name        TEXT,
    role             VARCHAR(20) NOT NULL DEFAULT 'user',
    image_url        TEXT,
    clerk_updated_at BIGINT,
    created_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
    deleted_at       TIMESTAMPTZ,
    CONSTRAINT users_pkey PRIMARY KEY (id),
    CONSTRAINT users_role_check CHECK (role IN ('admin', 'agent', 'user'))
);
COMMENT ON COLUMN users.clerk_updated_at IS
    'Clerk''s updated_at in Unix ms: an event older than this is stale';

-- Rental listings.
CREATE TABLE properties (
    id           UUID          NOT NULL DEFAULT gen_random_uuid(),
    owner_id     TEXT          NOT NULL,
    title        TEXT          NOT NULL,
    description  TEXT,
    price        NUMERIC(14, 2),
    currency     CHAR(3)       NOT NULL DEFAULT 'THB',
    address      TEXT,
    city         TEXT,
    region       TEXT,
    country      CHAR(2),
    latitude     DOUBLE PRECISION,
    longitude    DOUBLE PRECISION,
    is_published BOOLEAN       NOT NULL DEFAULT false,
    created_at   TIMESTAMPTZ   NOT NULL DEFAULT now(),
    updated_at   TIMESTAMPTZ   NOT NULL DEFAULT now(),
    deleted_at   TIMESTAMPTZ,
    CONSTRAINT properties_pkey PRIMARY KEY (id),
    CONSTRAINT properties_owner_id_fkey FOREIGN KEY (owner_id)
        REFERENCES users (id) ON DELETE RESTRICT,
    CONSTRAINT properties_price_check CHECK (price IS NULL OR price >= 0)
);
CREATE INDEX idx_properties_owner ON properties (owner_id);

-- FAQ: categories, documents, their embedded chunks, usage and links.
CREATE TABLE faq_categories (
    id          BIGSERIAL   NOT NULL,
    slug        TEXT        NOT NULL,
    name        TEXT        NOT NULL,
    description TEXT,
    sort_order  INTEGER     NOT NULL DEFAULT 0,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT faq_categories_pkey PRIMARY KEY (id),
    CONSTRAINT faq_categories_slug_key UNIQUE (slug)
);

CREATE TABLE faq_documents (
    id              UUID        NOT NULL,
    category_id     BIGINT,
    title           TEXT        NOT NULL,
    content         TEXT        NOT NULL,
    status          VARCHAR(20) NOT NULL DEFAULT 'draft',
    version         BIGINT      NOT NULL DEFAULT 1,
    content_hash    TEXT,
    embedding_model TEXT,
    created_by      TEXT,
    updated_by      TEXT,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    deleted_at      TIMESTAMPTZ,
    CONSTRAINT faq_documents_pkey PRIMARY KEY (id),
    CONSTRAINT faq_documents_category_id_fkey FOREIGN KEY (category_id)
        REFERENCES faq_categories (id) ON DELETE SET NULL,
    CONSTRAINT faq_documents_status_check
        CHECK (status IN ('draft', 'published', 'archived')),
    CONSTRAINT faq_documents_version_check CHECK (version >= 1)
);
CREATE INDEX idx_faq_documents_category ON faq_documents (category_id);
COMMENT ON COLUMN faq_documents.content_hash IS
    'SHA-256 hex of content: unchanged content is not re-embedded';

CREATE TABLE faq_embeddings (
    id          BIGSERIAL   NOT NULL,
    document_id UUID        NOT NULL,
    chunk_index INTEGER     NOT NULL,
    chunk_text  TEXT        NOT NULL,
    embedding   REAL[]      NOT NULL,
    model       TEXT        NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT faq_embeddings_pkey PRIMARY KEY (id),
    CONSTRAINT faq_embeddings_document_id_chunk_index_key
        UNIQUE (document_id, chunk_index),
    CONSTRAINT faq_embeddings_document_id_fkey FOREIGN KEY (document_id)
        REFERENCES faq_documents (id) ON DELETE CASCADE,
    CONSTRAINT faq_embeddings_chunk_index_check CHECK (chunk_index >= 0)
);

CREATE TABLE faq_analytics (
    id          BIGSERIAL   NOT NULL,
    document_id UUID,
    event_type  VARCHAR(30) NOT NULL,
    query       TEXT,
    user_id     TEXT,
    session_id  TEXT,
    occurred_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT faq_analytics_pkey PRIMARY KEY (id),
    CONSTRAINT faq_analytics_document_id_fkey FOREIGN KEY (document_id)
        REFERENCES faq_documents (id) ON DELETE SET NULL,
    CONSTRAINT faq_analytics_event_type_check CHECK (event_type IN
        ('view', 'search', 'helpful', 'not_helpful'))
);
CREATE INDEX idx_faq_analytics_document ON faq_analytics (document_id);

CREATE TABLE faq_related_questions (
    document_id         UUID        NOT NULL,
    related_document_id UUID        NOT NULL,
    score               REAL,
    created_at          TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT faq_related_questions_pkey
        PRIMARY KEY (document_id, related_document_id),
    CONSTRAINT faq_related_questions_document_id_fkey
        FOREIGN KEY (document_id)
        REFERENCES faq_documents (id) ON DELETE CASCADE,
    CONSTRAINT faq_related_questions_related_document_id_fkey
        FOREIGN KEY (related_document_id)
        REFERENCES faq_documents (id) ON DELETE CASCADE,
    CONSTRAINT faq_related_questions_not_self_check
        CHECK (document_id <> related_document_id)
);

-- Clerk webhooks seen, by Svix message id (a redelivery has the same id).
CREATE TABLE webhook_events (
    id           BIGSERIAL   NOT NULL,
    svix_id      TEXT        NOT NULL,
    event_type   TEXT        NOT NULL,
    status       VARCHAR(20) NOT NULL DEFAULT 'received',
    received_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    processed_at TIMESTAMPTZ,
    error        TEXT,
    CONSTRAINT webhook_events_pkey PRIMARY KEY (id),
    CONSTRAINT webhook_events_svix_id_key UNIQUE (svix_id),
    CONSTRAINT webhook_events_status_check CHECK (status IN
        ('received', 'processed', 'failed', 'skipped'))
);

-- Append-only audit trail. event_id names the event a row was derived from
-- (NULL for rows older than the event log); prev_hash/hash chain the rows.
CREATE TABLE audit_log (
    id          BIGSERIAL   NOT NULL,
    event_id    TEXT,
    actor_id    TEXT,
    action      TEXT        NOT NULL,
    entity_type TEXT        NOT NULL,
    entity_id   TEXT,
    changes     JSONB,
    request_id  TEXT,
    occurred_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    prev_hash   BYTEA,
    hash        BYTEA,
    CONSTRAINT audit_log_pkey PRIMARY KEY (id),
    CONSTRAINT audit_log_event_id_key UNIQUE (event_id)
);
CREATE INDEX idx_audit_log_entity ON audit_log (entity_type, entity_id);

-- Chat: conversations and their messages, prompts and tools.
CREATE TABLE conversations (
    id         UUID        NOT NULL DEFAULT gen_random_uuid(),
    user_id    TEXT        NOT NULL,
    title      TEXT,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    deleted_at TIMESTAMPTZ,
    CONSTRAINT conversations_pkey PRIMARY KEY (id),
    CONSTRAINT conversations_user_id_fkey FOREIGN KEY (user_id)
        REFERENCES users (id) ON DELETE CASCADE
);
CREATE INDEX idx_conversations_user ON conversations (user_id);

CREATE TABLE messages (
    id              BIGSERIAL   NOT NULL,
    conversation_id UUID        NOT NULL,
    role            VARCHAR(20) NOT NULL,
    content         TEXT        NOT NULL,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT messages_pkey PRIMARY KEY (id),
    CONSTRAINT messages_conversation_id_fkey FOREIGN KEY (conversation_id)
        REFERENCES conversations (id) ON DELETE CASCADE,
    CONSTRAINT messages_role_check
        CHECK (role IN ('user', 'assistant', 'system', 'tool'))
);
CREATE INDEX idx_messages_conversation ON messages (conversation_id);

CREATE TABLE chat_prompts (
    id         BIGSERIAL   NOT NULL,
    name       TEXT        NOT NULL,
    content    TEXT        NOT NULL,
    version    INTEGER     NOT NULL DEFAULT 1,
    is_active  BOOLEAN     NOT NULL DEFAULT true,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT chat_prompts_pkey PRIMARY KEY (id),
    CONSTRAINT chat_prompts_name_key UNIQUE (name)
);

CREATE TABLE chat_tools (
    id          BIGSERIAL   NOT NULL,
    name        TEXT        NOT NULL,
    description TEXT,
    parameters  JSONB       NOT NULL DEFAULT '{}'::jsonb,
    is_enabled  BOOLEAN     NOT NULL DEFAULT true,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT chat_tools_pkey PRIMARY KEY (id),
    CONSTRAINT chat_tools_name_key UNIQUE (name)
);

CREATE TABLE chat_prompt_history (
    id         BIGSERIAL   NOT NULL,
    prompt_id  BIGINT      NOT NULL,
    version    INTEGER     NOT NULL,
    content    TEXT        NOT NULL,
    changed_by TEXT,
    changed_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT chat_prompt_history_pkey PRIMARY KEY (id),
    CONSTRAINT chat_prompt_history_prompt_id_version_key
        UNIQUE (prompt_id, version),
    CONSTRAINT chat_prompt_history_prompt_id_fkey FOREIGN KEY (prompt_id)
        REFERENCES chat_prompts (id) ON DELETE CASCADE
);
