-- 0001 initial_bestays, reverted: drops every table of the schema (and, with
-- them, their rows, sequences, indexes and constraints). Referencing tables
-- go first, so no CASCADE can silently reach anything else.
DROP TABLE chat_prompt_history;
DROP TABLE chat_tools;
DROP TABLE chat_prompts;
DROP TABLE messages;
DROP TABLE conversations;
DROP TABLE audit_log;
DROP TABLE webhook_events;
DROP TABLE faq_related_questions;
DROP TABLE faq_analytics;
DROP TABLE faq_embeddings;
DROP TABLE faq_documents;
DROP TABLE faq_categories;
DROP TABLE properties;
DROP TABLE users;
