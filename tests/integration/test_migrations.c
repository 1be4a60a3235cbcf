/*
 * test_migrations.c - the schema migrations and the database's share of
 * product isolation, against the real PostgreSQL cluster of the `pg`
 * fixture, driven through the real bsctl binary.
 *
 * Every test case works in its own fresh database and drops it at the end.
 * Rows are loaded into a 0001 (single-product) database before 0002 runs,
 * as on a live upgrade.
 */
#include "harness.h"
#include "pg_harness.h"

#include "bs/db.h"
#include "bs/error.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NTABLES 14
/* Migrations in schemas/sql/, and tenant tables they add after 0002
 * (0003: consumer_offsets; 0004: faq_index_state; 0005: audit_chain_heads). */
#define NMIGRATIONS   5
#define NLATER_TABLES 3

static const char *const later_tables[NLATER_TABLES] = {
    "consumer_offsets",
    "faq_index_state",
    "audit_chain_heads",
};

static const char *const tables[NTABLES] = {
    "users",
    "properties",
    "faq_categories",
    "faq_documents",
    "faq_embeddings",
    "faq_analytics",
    "faq_related_questions",
    "webhook_events",
    "audit_log",
    "conversations",
    "messages",
    "chat_prompts",
    "chat_tools",
    "chat_prompt_history",
};

#define DOC_A "'00000000-0000-4000-8000-00000000000a'"
#define DOC_B "'00000000-0000-4000-8000-00000000000b'"
#define DOC_R "'00000000-0000-4000-8000-0000000000a1'"
#define DOC_S "'00000000-0000-4000-8000-0000000000a2'"

/* Rows of a live single-product (0001) database: every table has some. */
static const char seed_0001[] =
    "INSERT INTO users (id, email, first_name, role) VALUES"
    " ('user_a', 'a@example.com', 'Ann', 'admin'),"
    " ('user_b', NULL, 'Bob', 'user'),"
    " ('user_c', 'c@example.com', NULL, 'agent');"
    "INSERT INTO properties (owner_id, title, price, is_published) VALUES"
    " ('user_a', 'Villa', 1000, true), ('user_c', 'Condo', 500, false);"
    "INSERT INTO faq_categories (slug, name) VALUES"
    " ('general', 'General'), ('payments', 'Payments');"
    "INSERT INTO faq_documents (id, category_id, title, content, status)"
    " SELECT " DOC_A ", id, 'How to book', 'Pick dates.', 'published'"
    " FROM faq_categories WHERE slug = 'general';"
    "INSERT INTO faq_documents (id, title, content) VALUES"
    " (" DOC_B ", 'How to pay', 'By card.');"
    "INSERT INTO faq_embeddings (document_id, chunk_index, chunk_text,"
    " embedding, model) VALUES"
    " (" DOC_A ", 0, 'Pick', '{0.1,0.2,0.3}', 'test'),"
    " (" DOC_A ", 1, 'dates', '{0.4,0.5,0.6}', 'test'),"
    " (" DOC_B ", 0, 'By card', '{0.7,0.8,0.9}', 'test');"
    "INSERT INTO faq_analytics (document_id, event_type, query) VALUES"
    " (" DOC_A ", 'search', 'book'), (NULL, 'search', 'pets');"
    "INSERT INTO faq_related_questions (document_id, related_document_id,"
    " score) VALUES (" DOC_A ", " DOC_B ", 0.9);"
    "INSERT INTO webhook_events (svix_id, event_type, status) VALUES"
    " ('msg_1', 'user.created', 'processed');"
    "INSERT INTO audit_log (event_id, actor_id, action, entity_type,"
    " entity_id, changes) VALUES"
    " ('evt_1', 'user_a', 'faq.create', 'faq_document', 'a',"
    "  '{\"title\": \"How to book\"}'),"
    " (NULL, NULL, 'user.sync', 'user', 'user_b', NULL);"
    "INSERT INTO conversations (id, user_id, title) VALUES"
    " ('00000000-0000-4000-8000-0000000000c1', 'user_b', 'Help');"
    "INSERT INTO messages (conversation_id, role, content) VALUES"
    " ('00000000-0000-4000-8000-0000000000c1', 'user', 'hi'),"
    " ('00000000-0000-4000-8000-0000000000c1', 'assistant', 'hello');"
    "INSERT INTO chat_prompts (name, content) VALUES ('system', 'Help.');"
    "INSERT INTO chat_tools (name, parameters) VALUES"
    " ('faq_search', '{\"type\": \"object\"}');"
    "INSERT INTO chat_prompt_history (prompt_id, version, content)"
    " SELECT id, 1, 'Help.' FROM chat_prompts;";

/* Realestate rows, added after 0002 by the owner (who must name the
 * product). Some keys deliberately equal bestays keys. */
static const char seed_realestate[] =
    "INSERT INTO users (product, id, email, role) VALUES"
    " ('realestate', 'user_a', 'ra@example.com', 'agent'),"
    " ('realestate', 'user_r', 'r@example.com', 'user');"
    "INSERT INTO properties (product, owner_id, title, is_published) VALUES"
    " ('realestate', 'user_r', 'House', true);"
    "INSERT INTO faq_categories (product, slug, name) VALUES"
    " ('realestate', 'general', 'General');"
    "INSERT INTO faq_documents (product, id, category_id, title, content)"
    " SELECT 'realestate', " DOC_R ", id, 'How to buy', 'Make an offer.'"
    " FROM faq_categories WHERE product = 'realestate';"
    "INSERT INTO faq_documents (product, id, title, content) VALUES"
    " ('realestate', " DOC_S ", 'How to sell', 'List it.');"
    "INSERT INTO faq_embeddings (product, document_id, chunk_index,"
    " chunk_text, embedding, model) VALUES"
    " ('realestate', " DOC_R ", 0, 'offer', '{1,2,3}', 'test');"
    "INSERT INTO faq_analytics (product, document_id, event_type) VALUES"
    " ('realestate', " DOC_R ", 'view');"
    "INSERT INTO faq_related_questions (product, document_id,"
    " related_document_id) VALUES ('realestate', " DOC_R ", " DOC_S ");"
    "INSERT INTO webhook_events (product, svix_id, event_type) VALUES"
    " ('realestate', 'msg_1', 'user.created');"
    "INSERT INTO audit_log (product, event_id, action, entity_type,"
    " entity_id) VALUES ('realestate', 'evt_1', 'user.sync', 'user', 'r');"
    "INSERT INTO conversations (product, id, user_id) VALUES"
    " ('realestate', '00000000-0000-4000-8000-0000000000c2', 'user_r');"
    "INSERT INTO messages (product, conversation_id, role, content) VALUES"
    " ('realestate', '00000000-0000-4000-8000-0000000000c2', 'user', 'hi');"
    "INSERT INTO chat_prompts (product, name, content) VALUES"
    " ('realestate', 'system', 'Sell.');"
    "INSERT INTO chat_tools (product, name) VALUES"
    " ('realestate', 'faq_search');"
    "INSERT INTO chat_prompt_history (product, prompt_id, version, content)"
    " SELECT product, id, 1, 'Sell.' FROM chat_prompts"
    " WHERE product = 'realestate';";

static struct bs_pg_env pg;

static int suite_init(void)
{
    return bs_pg_env_load(&pg) == 0 ? 0 : -1;
}

/* bsctl migrate <a> [<b> [<c>]] on db; prints the output when the exit code
 * is not the expected one. */
static int migrate(const char *db, const char *a, const char *b, const char *c,
                   char **output)
{
    const char *args[] = {a, b, c, NULL};
    char *text = NULL;
    int code = bs_pg_migrate(&pg, db, args, &text);

    if (output)
        *output = text;
    else
        free(text);
    return code;
}

/* Asserts that `bsctl migrate ...` exits with `expected`, showing its
 * output when it does not. */
#define ASSERT_MIGRATE(expected, db, a, b, c)                                  \
    do {                                                                       \
        char *out_ = NULL;                                                     \
        int code_ = migrate(db, a, b, c, &out_);                               \
        if (code_ != (expected))                                               \
            fprintf(stderr, "\nbsctl migrate %s: exit %d\n%s\n", a, code_,     \
                    out_ ? out_ : "");                                         \
        BS_ASSERT_INT_EQ(code_, expected);                                     \
        free(out_);                                                            \
    } while (0)

/* What a fresh test database holds. */
enum seed {
    SEED_0001,     /* at 0001 with the single-product rows */
    SEED_UPGRADED, /* the same, then upgraded to the newest version */
    SEED_PRODUCTS  /* upgraded, plus realestate rows */
};

static int database_with_rows(const char *tag, enum seed seed, char *db,
                              size_t size)
{
    PGconn *conn;
    int result;

    if (bs_pg_create_database(&pg, tag, db, size) != 0)
        return -1;
    if (migrate(db, "up", "--to", "1", NULL) != 0)
        return -1;
    conn = bs_pg_connect(&pg, db, NULL);
    if (!conn)
        return -1;
    result = bs_pg_exec(conn, seed_0001, NULL);
    if (result == 0 && seed != SEED_0001)
        result = migrate(db, "up", NULL, NULL, NULL) == 0 ? 0 : -1;
    if (result == 0 && seed == SEED_PRODUCTS)
        result = bs_pg_exec(conn, seed_realestate, NULL);
    PQfinish(conn);
    return result;
}

static long long count_of(PGconn *conn, const char *fmt, const char *a,
                          const char *b)
{
    char sql[1024];

    snprintf(sql, sizeof(sql), fmt, a, b);
    return bs_pg_count(conn, sql);
}

static const char *sqlstate_of(PGconn *conn, const char *sql, char *state)
{
    if (bs_pg_exec(conn, sql, state) == 0)
        snprintf(state, 6, "ok");
    return state;
}

/* --- upgrade ---------------------------------------------------------- */

static void test_upgrade_marks_every_existing_row_bestays(void)
{
    char db[64];
    PGconn *conn;

    CU_ASSERT_FATAL(database_with_rows("backfill", SEED_0001, db, sizeof(db)) ==
                    0);
    ASSERT_MIGRATE(0, db, "up", NULL, NULL);
    conn = bs_pg_connect(&pg, db, NULL);
    CU_ASSERT_FATAL(conn != NULL);

    for (int i = 0; i < NTABLES; i++) {
        long long all =
            count_of(conn, "SELECT count(*) FROM %s", tables[i], NULL);
        CU_ASSERT(all > 0);
        BS_ASSERT_INT_EQ(count_of(conn,
                                  "SELECT count(*) FROM %s"
                                  " WHERE product = 'bestays'",
                                  tables[i], NULL),
                         all);
    }
    PQfinish(conn);
    bs_pg_drop_database(&pg, db);
}

static void test_upgrade_column_is_required_and_has_no_default(void)
{
    char db[64], state[6];
    PGconn *conn;

    CU_ASSERT_FATAL(
        database_with_rows("column", SEED_UPGRADED, db, sizeof(db)) == 0);
    conn = bs_pg_connect(&pg, db, NULL);
    CU_ASSERT_FATAL(conn != NULL);

    BS_ASSERT_INT_EQ(
        bs_pg_count(conn, "SELECT count(*) FROM information_schema.columns"
                          " WHERE table_schema = 'public'"
                          " AND column_name = 'product'"
                          " AND data_type = 'character varying'"
                          " AND character_maximum_length = 50"
                          " AND is_nullable = 'NO'"
                          " AND column_default IS NULL"),
        NTABLES + NLATER_TABLES);

    /* Every insert must say its product, and say a real one. */
    BS_ASSERT_STR_EQ(sqlstate_of(conn,
                                 "INSERT INTO chat_tools (name)"
                                 " VALUES ('x')",
                                 state),
                     "23502");
    BS_ASSERT_STR_EQ(sqlstate_of(conn,
                                 "INSERT INTO chat_tools (product, name)"
                                 " VALUES ('', 'x')",
                                 state),
                     "23514");
    PQfinish(conn);
    bs_pg_drop_database(&pg, db);
}

static void test_upgrade_creates_named_indexes(void)
{
    static const char *const expected[][2] = {
        {"idx_users_product_role", "(product, role)"},
        {"idx_users_product_email", "(product, email)"},
        {"idx_properties_product_published", "(product, is_published)"},
        {"idx_faq_documents_product_status", "(product, status)"},
        {"idx_faq_embeddings_product_document", "(product, document_id)"},
        {"idx_audit_log_product_entity", "(product, entity_type, entity_id)"},
        {"idx_faq_categories_product", "(product)"},
        {"idx_faq_analytics_product", "(product)"},
        {"idx_faq_related_questions_product", "(product)"},
        {"idx_webhook_events_product", "(product)"},
        {"idx_conversations_product", "(product)"},
        {"idx_messages_product", "(product)"},
        {"idx_chat_prompts_product", "(product)"},
        {"idx_chat_tools_product", "(product)"},
        {"idx_chat_prompt_history_product", "(product)"},
    };
    char db[64], sql[256];
    PGconn *conn;

    CU_ASSERT_FATAL(
        database_with_rows("indexes", SEED_UPGRADED, db, sizeof(db)) == 0);
    conn = bs_pg_connect(&pg, db, NULL);
    CU_ASSERT_FATAL(conn != NULL);

    for (size_t i = 0; i < sizeof(expected) / sizeof(expected[0]); i++) {
        char *def;

        snprintf(sql, sizeof(sql),
                 "SELECT substring(indexdef from '\\(.*\\)$')"
                 " FROM pg_indexes WHERE schemaname = 'public'"
                 " AND indexname = '%s'",
                 expected[i][0]);
        def = bs_pg_text(conn, sql);
        BS_ASSERT_STR_EQ(def, expected[i][1]);
        free(def);
    }
    PQfinish(conn);
    bs_pg_drop_database(&pg, db);
}

static void test_upgrade_forces_row_security_on_every_table(void)
{
    char db[64];
    PGconn *conn;

    CU_ASSERT_FATAL(database_with_rows("rls", SEED_UPGRADED, db, sizeof(db)) ==
                    0);
    conn = bs_pg_connect(&pg, db, NULL);
    CU_ASSERT_FATAL(conn != NULL);

    for (int i = 0; i < NTABLES + NLATER_TABLES; i++) {
        const char *table = i < NTABLES ? tables[i] : later_tables[i - NTABLES];

        BS_ASSERT_INT_EQ(count_of(conn,
                                  "SELECT count(*) FROM pg_class"
                                  " WHERE oid = '%s'::regclass"
                                  " AND relrowsecurity"
                                  " AND relforcerowsecurity",
                                  table, NULL),
                         1);
        BS_ASSERT_INT_EQ(
            count_of(conn,
                     "SELECT count(*) FROM pg_policies"
                     " WHERE tablename = '%s' AND cmd = 'ALL'"
                     " AND qual LIKE '%%current_setting(''app.product''"
                     "::text, true)%%'"
                     " AND with_check = qual",
                     table, NULL),
            1);
    }
    PQfinish(conn);
    bs_pg_drop_database(&pg, db);
}

/* --- isolation -------------------------------------------------------- */

static void test_service_role_without_product_sees_and_writes_nothing(void)
{
    char db[64], state[6], errstr[256];
    PGconn *conn;

    CU_ASSERT_FATAL(
        database_with_rows("noproduct", SEED_PRODUCTS, db, sizeof(db)) == 0);
    conn = bs_pg_connect(&pg, db, BS_PG_SERVICE_ROLE);
    CU_ASSERT_FATAL(conn != NULL);

    for (int i = 0; i < NTABLES; i++)
        BS_ASSERT_INT_EQ(
            count_of(conn, "SELECT count(*) FROM %s", tables[i], NULL), 0);
    BS_ASSERT_STR_EQ(sqlstate_of(conn,
                                 "INSERT INTO users (product, id)"
                                 " VALUES ('bestays', 'user_x')",
                                 state),
                     "42501");

    /* After a product transaction ends the setting reads '': still nothing
     * visible, and '' is no product (the CHECK refuses it first). */
    BS_ASSERT_INT_EQ(
        bs_db_begin_product(conn, "bestays", errstr, sizeof(errstr)), BS_OK);
    BS_ASSERT_INT_EQ(bs_db_commit(conn, errstr, sizeof(errstr)), BS_OK);
    BS_ASSERT_INT_EQ(bs_pg_count(conn, "SELECT count(*) FROM users"), 0);
    BS_ASSERT_STR_EQ(sqlstate_of(conn,
                                 "INSERT INTO users (product, id)"
                                 " VALUES ('', 'user_x')",
                                 state),
                     "23514");
    PQfinish(conn);
    bs_pg_drop_database(&pg, db);
}

/* As bs_service in a `product` transaction: every table shows exactly the
 * rows the owner counts for that product. */
static void assert_sees_only(PGconn *service, PGconn *owner,
                             const char *product)
{
    char errstr[256];

    BS_ASSERT_INT_EQ(
        bs_db_begin_product(service, product, errstr, sizeof(errstr)), BS_OK);
    for (int i = 0; i < NTABLES; i++) {
        long long expected = count_of(owner,
                                      "SELECT count(*) FROM %s"
                                      " WHERE product = '%s'",
                                      tables[i], product);
        CU_ASSERT(expected > 0);
        BS_ASSERT_INT_EQ(
            count_of(service, "SELECT count(*) FROM %s", tables[i], NULL),
            expected);
    }
    BS_ASSERT_INT_EQ(bs_db_rollback(service, errstr, sizeof(errstr)), BS_OK);
}

static void test_service_role_sees_only_its_product(void)
{
    char db[64];
    PGconn *service, *owner;

    CU_ASSERT_FATAL(database_with_rows("sees", SEED_PRODUCTS, db, sizeof(db)) ==
                    0);
    service = bs_pg_connect(&pg, db, BS_PG_SERVICE_ROLE);
    owner = bs_pg_connect(&pg, db, NULL);
    CU_ASSERT_FATAL(service != NULL && owner != NULL);

    assert_sees_only(service, owner, "bestays");
    assert_sees_only(service, owner, "realestate");

    PQfinish(service);
    PQfinish(owner);
    bs_pg_drop_database(&pg, db);
}

static void test_service_role_writes_only_its_product(void)
{
    char db[64], state[6], errstr[256];
    PGconn *conn;

    CU_ASSERT_FATAL(
        database_with_rows("writes", SEED_PRODUCTS, db, sizeof(db)) == 0);
    conn = bs_pg_connect(&pg, db, BS_PG_SERVICE_ROLE);
    CU_ASSERT_FATAL(conn != NULL);

    BS_ASSERT_INT_EQ(
        bs_db_begin_product(conn, "bestays", errstr, sizeof(errstr)), BS_OK);
    BS_ASSERT_STR_EQ(sqlstate_of(conn,
                                 "INSERT INTO users (product, id)"
                                 " VALUES ('realestate', 'user_x')",
                                 state),
                     "42501");
    BS_ASSERT_INT_EQ(bs_db_rollback(conn, errstr, sizeof(errstr)), BS_OK);

    /* Its own product: insert, move to the other product (refused),
     * update, delete. */
    BS_ASSERT_INT_EQ(
        bs_db_begin_product(conn, "bestays", errstr, sizeof(errstr)), BS_OK);
    BS_ASSERT_STR_EQ(sqlstate_of(conn,
                                 "INSERT INTO users (product, id)"
                                 " VALUES ('bestays', 'user_x')",
                                 state),
                     "ok");
    BS_ASSERT_STR_EQ(sqlstate_of(conn,
                                 "UPDATE users SET product = 'realestate'"
                                 " WHERE id = 'user_x'",
                                 state),
                     "42501");
    BS_ASSERT_INT_EQ(bs_db_rollback(conn, errstr, sizeof(errstr)), BS_OK);

    /* A realestate transaction cannot touch bestays rows: they are not
     * there for it. */
    BS_ASSERT_INT_EQ(
        bs_db_begin_product(conn, "realestate", errstr, sizeof(errstr)), BS_OK);
    BS_ASSERT_INT_EQ(bs_pg_count(conn, "WITH d AS (DELETE FROM users"
                                       " WHERE id = 'user_b' RETURNING 1)"
                                       " SELECT count(*) FROM d"),
                     0);
    BS_ASSERT_INT_EQ(bs_db_commit(conn, errstr, sizeof(errstr)), BS_OK);
    PQfinish(conn);

    conn = bs_pg_connect(&pg, db, NULL);
    CU_ASSERT_FATAL(conn != NULL);
    BS_ASSERT_INT_EQ(bs_pg_count(conn, "SELECT count(*) FROM users"
                                       " WHERE id = 'user_b'"),
                     1);
    PQfinish(conn);
    bs_pg_drop_database(&pg, db);
}

static void test_cross_product_reference_is_refused_by_foreign_key(void)
{
    static const char *const crossing[] = {
        "INSERT INTO faq_embeddings (product, document_id, chunk_index,"
        " chunk_text, embedding, model) VALUES"
        " ('realestate', " DOC_A ", 5, 'x', '{1}', 'test')",
        "INSERT INTO properties (product, owner_id, title) VALUES"
        " ('realestate', 'user_b', 'Stolen')",
        "INSERT INTO conversations (product, user_id) VALUES"
        " ('realestate', 'user_c')",
        "INSERT INTO faq_related_questions (product, document_id,"
        " related_document_id) VALUES ('realestate', " DOC_R ", " DOC_A ")",
        "UPDATE faq_documents SET category_id = (SELECT id FROM"
        " faq_categories WHERE product = 'bestays' AND slug = 'payments')"
        " WHERE product = 'realestate'",
    };
    char db[64], state[6], errstr[256];
    PGconn *owner, *service;

    CU_ASSERT_FATAL(
        database_with_rows("crossfk", SEED_PRODUCTS, db, sizeof(db)) == 0);
    owner = bs_pg_connect(&pg, db, NULL);
    service = bs_pg_connect(&pg, db, BS_PG_SERVICE_ROLE);
    CU_ASSERT_FATAL(owner != NULL && service != NULL);

    /* The superuser bypasses row security: only the keys stop it. */
    for (size_t i = 0; i < sizeof(crossing) / sizeof(crossing[0]); i++)
        BS_ASSERT_STR_EQ(sqlstate_of(owner, crossing[i], state), "23503");

    /* The service in a realestate transaction is stopped the same way. */
    BS_ASSERT_INT_EQ(
        bs_db_begin_product(service, "realestate", errstr, sizeof(errstr)),
        BS_OK);
    BS_ASSERT_STR_EQ(sqlstate_of(service, crossing[0], state), "23503");
    BS_ASSERT_INT_EQ(bs_db_rollback(service, errstr, sizeof(errstr)), BS_OK);

    /* The same document id may exist in both products. */
    BS_ASSERT_STR_EQ(sqlstate_of(owner,
                                 "INSERT INTO faq_documents (product, id,"
                                 " title, content) VALUES"
                                 " ('realestate', " DOC_A ", 't', 'c')",
                                 state),
                     "ok");
    PQfinish(service);
    PQfinish(owner);
    bs_pg_drop_database(&pg, db);
}

static void test_service_role_only_appends_to_audit_log(void)
{
    char db[64], state[6], errstr[256];
    PGconn *conn;

    CU_ASSERT_FATAL(
        database_with_rows("audit", SEED_PRODUCTS, db, sizeof(db)) == 0);
    conn = bs_pg_connect(&pg, db, BS_PG_SERVICE_ROLE);
    CU_ASSERT_FATAL(conn != NULL);

    BS_ASSERT_INT_EQ(
        bs_db_begin_product(conn, "bestays", errstr, sizeof(errstr)), BS_OK);
    BS_ASSERT_STR_EQ(sqlstate_of(conn,
                                 "INSERT INTO audit_log (product, event_id,"
                                 " action, entity_type) VALUES"
                                 " ('bestays', 'evt_2', 'user.read', 'user')",
                                 state),
                     "ok");
    BS_ASSERT_STR_EQ(
        sqlstate_of(conn, "UPDATE audit_log SET action = 'forged'", state),
        "42501");
    BS_ASSERT_INT_EQ(bs_db_rollback(conn, errstr, sizeof(errstr)), BS_OK);

    BS_ASSERT_INT_EQ(
        bs_db_begin_product(conn, "bestays", errstr, sizeof(errstr)), BS_OK);
    BS_ASSERT_STR_EQ(sqlstate_of(conn, "DELETE FROM audit_log", state),
                     "42501");
    BS_ASSERT_INT_EQ(bs_db_rollback(conn, errstr, sizeof(errstr)), BS_OK);
    BS_ASSERT_STR_EQ(sqlstate_of(conn, "TRUNCATE audit_log", state), "42501");
    PQfinish(conn);
    bs_pg_drop_database(&pg, db);
}

static void test_service_role_owns_nothing_and_bypasses_nothing(void)
{
    char db[64], state[6];
    PGconn *owner, *service;

    CU_ASSERT_FATAL(database_with_rows("role", SEED_PRODUCTS, db, sizeof(db)) ==
                    0);
    owner = bs_pg_connect(&pg, db, NULL);
    service = bs_pg_connect(&pg, db, BS_PG_SERVICE_ROLE);
    CU_ASSERT_FATAL(owner != NULL && service != NULL);

    BS_ASSERT_INT_EQ(bs_pg_count(owner,
                                 "SELECT count(*) FROM pg_roles"
                                 " WHERE rolname = 'bs_service'"
                                 " AND rolcanlogin AND NOT rolsuper"
                                 " AND NOT rolbypassrls AND NOT rolcreatedb"
                                 " AND NOT rolcreaterole"),
                     1);
    BS_ASSERT_INT_EQ(bs_pg_count(owner, "SELECT (SELECT count(*) FROM pg_class"
                                        "  WHERE relowner = r.oid)"
                                        " + (SELECT count(*) FROM pg_namespace"
                                        "  WHERE nspowner = r.oid)"
                                        " + (SELECT count(*) FROM pg_proc"
                                        "  WHERE proowner = r.oid)"
                                        " FROM pg_roles r"
                                        " WHERE rolname = 'bs_service'"),
                     0);

    /* No bookkeeping, no DDL, no privileges beyond rows. */
    BS_ASSERT_STR_EQ(
        sqlstate_of(service, "SELECT * FROM schema_migrations", state),
        "42501");
    BS_ASSERT_STR_EQ(
        sqlstate_of(service, "CREATE TABLE public.mine (x int)", state),
        "42501");
    BS_ASSERT_STR_EQ(sqlstate_of(service,
                                 "ALTER TABLE users DISABLE ROW LEVEL"
                                 " SECURITY",
                                 state),
                     "42501");
    BS_ASSERT_INT_EQ(
        bs_pg_count(owner, "SELECT count(*) FROM pg_class c"
                           " JOIN pg_namespace n ON n.oid = c.relnamespace"
                           " WHERE n.nspname = 'public' AND c.relkind = 'r'"
                           " AND (has_table_privilege('bs_service', c.oid,"
                           "  'TRUNCATE, REFERENCES, TRIGGER'))"),
        0);
    PQfinish(service);
    PQfinish(owner);
    bs_pg_drop_database(&pg, db);
}

/* --- reversal --------------------------------------------------------- */

/* pg_dump --schema-only of db without schema_migrations, with psql's
 * per-run \restrict key lines removed. The caller frees it. */
static char *schema_dump(const char *db)
{
    char pg_dump[512], conninfo[512];
    const char *argv[] = {
        pg_dump, "--schema-only",     "--no-owner", "--no-privileges",
        "-T",    "schema_migrations", "-d",         conninfo,
        NULL};
    char *text = NULL, *out, *line, *save = NULL;

    snprintf(pg_dump, sizeof(pg_dump), "%s/pg_dump", pg.bin);
    bs_pg_conninfo(&pg, db, NULL, conninfo, sizeof(conninfo));
    if (bs_test_run(argv, NULL, &text) != 0 || !text) {
        fprintf(stderr, "pg_dump failed: %s\n", text ? text : "");
        free(text);
        return NULL;
    }

    out = calloc(1, strlen(text) + 1);
    for (line = strtok_r(text, "\n", &save); out && line;
         line = strtok_r(NULL, "\n", &save)) {
        if (strncmp(line, "\\restrict", 9) == 0 ||
            strncmp(line, "\\unrestrict", 11) == 0)
            continue;
        strcat(strcat(out, line), "\n");
    }
    free(text);
    return out;
}

/* Prints the first line where two dumps differ, to show a failure. */
static void print_first_difference(const char *a, const char *b)
{
    size_t line_start = 0, i = 0;

    while (a[i] && a[i] == b[i]) {
        if (a[i] == '\n')
            line_start = i + 1;
        i++;
    }
    if (a[i] || b[i])
        fprintf(stderr,
                "\nschemas differ:\n  got:      %.120s\n"
                "  expected: %.120s\n",
                a + line_start, b + line_start);
}

/* One md5 over every table's rows (as text, sorted), for "data intact". */
static char *data_fingerprint(PGconn *conn)
{
    char sql[4096] = "SELECT md5(concat(";

    for (int i = 0; i < NTABLES; i++) {
        char part[256];

        snprintf(part, sizeof(part),
                 "%s(SELECT string_agg(t::text, '|' ORDER BY t::text)"
                 " FROM %s t)",
                 i ? ", " : "", tables[i]);
        strcat(sql, part);
    }
    strcat(sql, "))");
    return bs_pg_text(conn, sql);
}

static void test_down_to_1_restores_the_0001_schema_with_rows(void)
{
    char upgraded[64], fresh[64];
    char *before = NULL, *after = NULL, *dump_a = NULL, *dump_b = NULL;
    PGconn *conn;

    CU_ASSERT_FATAL(database_with_rows("downa", SEED_0001, upgraded,
                                       sizeof(upgraded)) == 0);
    CU_ASSERT_FATAL(bs_pg_create_database(&pg, "downb", fresh, sizeof(fresh)) ==
                    0);
    ASSERT_MIGRATE(0, fresh, "up", "--to", "1");

    conn = bs_pg_connect(&pg, upgraded, NULL);
    CU_ASSERT_FATAL(conn != NULL);
    before = data_fingerprint(conn);
    ASSERT_MIGRATE(0, upgraded, "up", NULL, NULL);
    ASSERT_MIGRATE(0, upgraded, "down", "--to", "1");
    after = data_fingerprint(conn);
    CU_ASSERT_PTR_NOT_NULL(before);
    BS_ASSERT_STR_EQ(after, before);

    /* Same catalog as a database that never saw 0002. */
    dump_a = schema_dump(upgraded);
    dump_b = schema_dump(fresh);
    CU_ASSERT_FATAL(dump_a != NULL && dump_b != NULL);
    print_first_difference(dump_a, dump_b);
    CU_ASSERT(strcmp(dump_a, dump_b) == 0);
    BS_ASSERT_INT_EQ(bs_pg_count(conn, "SELECT count(*) FROM pg_policies"), 0);

    /* And it can go up again. */
    ASSERT_MIGRATE(0, upgraded, "up", NULL, NULL);
    BS_ASSERT_INT_EQ(bs_pg_count(conn, "SELECT count(*) FROM users"
                                       " WHERE product = 'bestays'"),
                     3);

    free(before);
    free(after);
    free(dump_a);
    free(dump_b);
    PQfinish(conn);
    bs_pg_drop_database(&pg, upgraded);
    bs_pg_drop_database(&pg, fresh);
}

static void test_down_to_0_empties_the_schema(void)
{
    char db[64];
    PGconn *conn;

    CU_ASSERT_FATAL(
        database_with_rows("downzero", SEED_UPGRADED, db, sizeof(db)) == 0);
    ASSERT_MIGRATE(0, db, "down", "--to", "0");
    conn = bs_pg_connect(&pg, db, NULL);
    CU_ASSERT_FATAL(conn != NULL);

    /* Only the (empty) bookkeeping table is left. */
    BS_ASSERT_INT_EQ(
        bs_pg_count(conn, "SELECT count(*) FROM pg_class c"
                          " JOIN pg_namespace n ON n.oid = c.relnamespace"
                          " WHERE n.nspname = 'public' AND c.relname NOT IN"
                          " ('schema_migrations', 'schema_migrations_pkey')"),
        0);
    BS_ASSERT_INT_EQ(
        bs_pg_count(conn, "SELECT count(*) FROM schema_migrations"), 0);
    PQfinish(conn);
    bs_pg_drop_database(&pg, db);
}

static void test_down_refuses_while_other_products_have_rows(void)
{
    char db[64];
    char *out = NULL;
    PGconn *conn;

    CU_ASSERT_FATAL(
        database_with_rows("downother", SEED_PRODUCTS, db, sizeof(db)) == 0);
    BS_ASSERT_INT_EQ(migrate(db, "down", "--to", "1", &out), 1);
    CU_ASSERT(out && strstr(out, "other than bestays"));
    free(out);

    /* Still fully at 0002; without the realestate rows it goes down. */
    conn = bs_pg_connect(&pg, db, NULL);
    CU_ASSERT_FATAL(conn != NULL);
    BS_ASSERT_INT_EQ(bs_pg_count(conn, "SELECT max(version)"
                                       " FROM schema_migrations"),
                     2);
    BS_ASSERT_INT_EQ(bs_pg_count(conn, "SELECT count(*) FROM pg_policies"),
                     NTABLES);
    for (int i = NTABLES - 1; i >= 0; i--) {
        char sql[256];

        snprintf(sql, sizeof(sql),
                 "DELETE FROM %s WHERE product = 'realestate'", tables[i]);
        CU_ASSERT(bs_pg_exec(conn, sql, NULL) == 0);
    }
    ASSERT_MIGRATE(0, db, "down", "--to", "1");
    PQfinish(conn);
    bs_pg_drop_database(&pg, db);
}

/* --- runner ----------------------------------------------------------- */

static void test_edited_applied_migration_is_refused(void)
{
    char db[64];
    char *out = NULL;
    PGconn *conn;

    CU_ASSERT_FATAL(bs_pg_create_database(&pg, "checksum", db, sizeof(db)) ==
                    0);
    ASSERT_MIGRATE(0, db, "up", "--to", "1");
    conn = bs_pg_connect(&pg, db, NULL);
    CU_ASSERT_FATAL(conn != NULL);
    CU_ASSERT(bs_pg_exec(conn,
                         "UPDATE schema_migrations SET checksum = "
                         "repeat('0', 64) WHERE version = 1",
                         NULL) == 0);

    BS_ASSERT_INT_EQ(migrate(db, "up", NULL, NULL, &out), 1);
    CU_ASSERT(out && strstr(out, "checksum_mismatch"));
    free(out);
    BS_ASSERT_INT_EQ(migrate(db, "status", NULL, NULL, &out), 1);
    CU_ASSERT(out && strstr(out, "MISMATCH"));
    free(out);
    ASSERT_MIGRATE(1, db, "down", "--to", "0");

    /* Nothing was applied or reverted. */
    BS_ASSERT_INT_EQ(bs_pg_count(conn, "SELECT max(version)"
                                       " FROM schema_migrations"),
                     1);
    BS_ASSERT_INT_EQ(bs_pg_count(conn, "SELECT count(*) FROM"
                                       " information_schema.columns"
                                       " WHERE column_name = 'product'"),
                     0);
    PQfinish(conn);
    bs_pg_drop_database(&pg, db);
}

struct concurrent_run {
    const char *db;
    int code;
    char *output;
};

static void *run_up(void *arg)
{
    struct concurrent_run *run = arg;

    run->code = migrate(run->db, "up", NULL, NULL, &run->output);
    return NULL;
}

static int count_substrings(const char *text, const char *needle)
{
    int n = 0;

    for (const char *p = text; p && (p = strstr(p, needle)); p++)
        n++;
    return n;
}

static void test_concurrent_up_applies_each_migration_once(void)
{
    struct concurrent_run runs[2];
    pthread_t threads[2];
    char db[64];
    PGconn *conn;

    CU_ASSERT_FATAL(bs_pg_create_database(&pg, "concurrent", db, sizeof(db)) ==
                    0);
    for (int i = 0; i < 2; i++) {
        runs[i] = (struct concurrent_run){db, -1, NULL};
        CU_ASSERT_FATAL(pthread_create(&threads[i], NULL, run_up, &runs[i]) ==
                        0);
    }
    for (int i = 0; i < 2; i++)
        pthread_join(threads[i], NULL);

    BS_ASSERT_INT_EQ(runs[0].code, 0);
    BS_ASSERT_INT_EQ(runs[1].code, 0);
    BS_ASSERT_INT_EQ(count_substrings(runs[0].output, "migration_applied") +
                         count_substrings(runs[1].output, "migration_applied"),
                     NMIGRATIONS);
    conn = bs_pg_connect(&pg, db, NULL);
    CU_ASSERT_FATAL(conn != NULL);
    BS_ASSERT_INT_EQ(bs_pg_count(conn, "SELECT count(*) FROM"
                                       " schema_migrations"),
                     NMIGRATIONS);
    BS_ASSERT_INT_EQ(bs_pg_count(conn, "SELECT count(*) FROM pg_policies"),
                     NTABLES + NLATER_TABLES);
    free(runs[0].output);
    free(runs[1].output);
    PQfinish(conn);
    bs_pg_drop_database(&pg, db);
}

/* True when one line of `text` contains all of a, b and c. */
static int has_line_with(const char *text, const char *a, const char *b,
                         const char *c)
{
    const char *line = text;

    while (line && *line) {
        const char *end = strchr(line, '\n');
        size_t len = end ? (size_t)(end - line) : strlen(line);
        char buf[512];

        snprintf(buf, sizeof(buf), "%.*s", (int)len, line);
        if (strstr(buf, a) && strstr(buf, b) && strstr(buf, c))
            return 1;
        line = end ? end + 1 : NULL;
    }
    return 0;
}

static void test_status_lists_both_migrations(void)
{
    char db[64];
    char *out = NULL;

    CU_ASSERT_FATAL(bs_pg_create_database(&pg, "status", db, sizeof(db)) == 0);
    BS_ASSERT_INT_EQ(migrate(db, "status", NULL, NULL, &out), 0);
    CU_ASSERT(has_line_with(out, "0001", "initial_bestays", "pending"));
    CU_ASSERT(has_line_with(out, "0002", "multi_product", "pending"));
    free(out);

    ASSERT_MIGRATE(0, db, "up", "--to", "1");
    BS_ASSERT_INT_EQ(migrate(db, "status", NULL, NULL, &out), 0);
    CU_ASSERT(has_line_with(out, "0001", "initial_bestays", "applied"));
    CU_ASSERT(has_line_with(out, "0002", "multi_product", "pending"));
    free(out);
    bs_pg_drop_database(&pg, db);
}

static void test_up_when_current_changes_nothing(void)
{
    char db[64];
    char *out = NULL;

    CU_ASSERT_FATAL(bs_pg_create_database(&pg, "current", db, sizeof(db)) == 0);
    ASSERT_MIGRATE(0, db, "up", NULL, NULL);
    BS_ASSERT_INT_EQ(migrate(db, "up", NULL, NULL, &out), 0);
    BS_ASSERT_INT_EQ(count_substrings(out, "migration_applied"), 0);
    CU_ASSERT(out && strstr(out, "migrations_current"));
    free(out);
    bs_pg_drop_database(&pg, db);
}

static void test_failed_migration_leaves_last_good_version(void)
{
    char db[64];
    char *out = NULL;
    PGconn *conn;

    /* A name 0002 wants is taken: 0002 fails half-way. */
    CU_ASSERT_FATAL(database_with_rows("failed", SEED_0001, db, sizeof(db)) ==
                    0);
    conn = bs_pg_connect(&pg, db, NULL);
    CU_ASSERT_FATAL(conn != NULL);
    CU_ASSERT(bs_pg_exec(conn,
                         "CREATE INDEX idx_messages_product"
                         " ON messages (role)",
                         NULL) == 0);

    BS_ASSERT_INT_EQ(migrate(db, "up", NULL, NULL, &out), 1);
    CU_ASSERT(out && strstr(out, "42P07"));
    CU_ASSERT(out && strstr(out, "in statement"));
    free(out);
    BS_ASSERT_INT_EQ(bs_pg_count(conn, "SELECT max(version)"
                                       " FROM schema_migrations"),
                     1);
    BS_ASSERT_INT_EQ(bs_pg_count(conn, "SELECT count(*) FROM"
                                       " information_schema.columns"
                                       " WHERE column_name = 'product'"),
                     0);
    PQfinish(conn);
    bs_pg_drop_database(&pg, db);
}

static void test_usage_errors_exit_64(void)
{
    static const char *const cases[][3] = {
        {NULL, NULL, NULL},      {"sideways", NULL, NULL},
        {"down", NULL, NULL},    {"up", "--to", "x"},
        {"up", "--to", "99"},    {"status", "--to", "1"},
        {"up", "--force", NULL},
    };
    char bsctl[1024];
    const char *argv[] = {
        bs_test_build_path("tools/bsctl/bsctl", bsctl, sizeof(bsctl)),
        "migrate", "status", NULL};
    const char *no_url[] = {"DATABASE_URL", "PRODUCT=bestays", NULL};
    char *out = NULL;

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        BS_ASSERT_INT_EQ(
            migrate("postgres", cases[i][0], cases[i][1], cases[i][2], NULL),
            64);

    /* DATABASE_URL unset is a usage error too. */
    BS_ASSERT_INT_EQ(bs_test_run(argv, no_url, &out), 64);
    CU_ASSERT(out && strstr(out, "DATABASE_URL is not set"));
    free(out);
}

static void test_db_error_kinds_by_sqlstate(void)
{
    BS_ASSERT_INT_EQ(bs_db_sqlstate_kind("08006"), BS_DB_ERROR_TRANSIENT);
    BS_ASSERT_INT_EQ(bs_db_sqlstate_kind("57P01"), BS_DB_ERROR_TRANSIENT);
    BS_ASSERT_INT_EQ(bs_db_sqlstate_kind("40001"), BS_DB_ERROR_TRANSIENT);
    BS_ASSERT_INT_EQ(bs_db_sqlstate_kind("40P01"), BS_DB_ERROR_TRANSIENT);
    BS_ASSERT_INT_EQ(bs_db_sqlstate_kind("22P02"), BS_DB_ERROR_DATA);
    BS_ASSERT_INT_EQ(bs_db_sqlstate_kind("23503"), BS_DB_ERROR_DATA);
    BS_ASSERT_INT_EQ(bs_db_sqlstate_kind("42501"), BS_DB_ERROR_FATAL);
    BS_ASSERT_INT_EQ(bs_db_sqlstate_kind(NULL), BS_DB_ERROR_FATAL);
}

static void test_db_errors_name_the_server_message_not_the_conninfo(void)
{
    char db[64], conninfo[512], errstr[256] = "";
    PGresult *res = NULL;
    PGconn *conn;

    CU_ASSERT_FATAL(
        database_with_rows("dberr", SEED_PRODUCTS, db, sizeof(db)) == 0);
    bs_pg_conninfo(&pg, db, BS_PG_SERVICE_ROLE, conninfo, sizeof(conninfo));
    conn = bs_db_connect(conninfo, "test", errstr, sizeof(errstr));
    CU_ASSERT_FATAL(conn != NULL);

    /* A foreign key violation is data; its DETAIL (row values) stays out. */
    BS_ASSERT_INT_EQ(
        bs_db_begin_product(conn, "realestate", errstr, sizeof(errstr)), BS_OK);
    BS_ASSERT_INT_EQ(
        bs_db_query(conn,
                    "INSERT INTO properties (product, owner_id,"
                    " title) VALUES ($1, $2, 't')",
                    2, (const char *const[]){"realestate", "user_secret_b"},
                    &res, errstr, sizeof(errstr)),
        BS_EDB);
    BS_ASSERT_INT_EQ(bs_db_error_kind(conn, res), BS_DB_ERROR_DATA);
    CU_ASSERT_PTR_NOT_NULL(strstr(errstr, "23503"));
    CU_ASSERT_PTR_NULL(strstr(errstr, "user_secret_b"));
    PQclear(res);
    BS_ASSERT_INT_EQ(bs_db_commit(conn, errstr, sizeof(errstr)), BS_EDB);

    /* Refused before anything is sent. */
    BS_ASSERT_INT_EQ(
        bs_db_begin_product(conn, "x'; --", errstr, sizeof(errstr)), BS_EINVAL);
    PQfinish(conn);

    /* A failed connection does not echo its connection string. */
    CU_ASSERT_PTR_NULL(bs_db_connect("host=/nonexistent password=hunter2",
                                     "test", errstr, sizeof(errstr)));
    CU_ASSERT_PTR_NULL(strstr(errstr, "hunter2"));
    bs_pg_drop_database(&pg, db);
}

static CU_TestInfo upgrade_tests[] = {
    {"marks_every_existing_row_bestays",
     test_upgrade_marks_every_existing_row_bestays},
    {"column_is_required_and_has_no_default",
     test_upgrade_column_is_required_and_has_no_default},
    {"creates_named_indexes", test_upgrade_creates_named_indexes},
    {"forces_row_security_on_every_table",
     test_upgrade_forces_row_security_on_every_table},
    CU_TEST_INFO_NULL,
};

static CU_TestInfo isolation_tests[] = {
    {"service_role_without_product_sees_and_writes_nothing",
     test_service_role_without_product_sees_and_writes_nothing},
    {"service_role_sees_only_its_product",
     test_service_role_sees_only_its_product},
    {"service_role_writes_only_its_product",
     test_service_role_writes_only_its_product},
    {"cross_product_reference_is_refused_by_foreign_key",
     test_cross_product_reference_is_refused_by_foreign_key},
    {"service_role_only_appends_to_audit_log",
     test_service_role_only_appends_to_audit_log},
    {"service_role_owns_nothing_and_bypasses_nothing",
     test_service_role_owns_nothing_and_bypasses_nothing},
    CU_TEST_INFO_NULL,
};

static CU_TestInfo reversal_tests[] = {
    {"down_to_1_restores_the_0001_schema_with_rows",
     test_down_to_1_restores_the_0001_schema_with_rows},
    {"down_to_0_empties_the_schema", test_down_to_0_empties_the_schema},
    {"down_refuses_while_other_products_have_rows",
     test_down_refuses_while_other_products_have_rows},
    CU_TEST_INFO_NULL,
};

static CU_TestInfo runner_tests[] = {
    {"edited_applied_migration_is_refused",
     test_edited_applied_migration_is_refused},
    {"concurrent_up_applies_each_migration_once",
     test_concurrent_up_applies_each_migration_once},
    {"status_lists_both_migrations", test_status_lists_both_migrations},
    {"up_when_current_changes_nothing", test_up_when_current_changes_nothing},
    {"failed_migration_leaves_last_good_version",
     test_failed_migration_leaves_last_good_version},
    {"usage_errors_exit_64", test_usage_errors_exit_64},
    CU_TEST_INFO_NULL,
};

static CU_TestInfo db_tests[] = {
    {"error_kinds_by_sqlstate", test_db_error_kinds_by_sqlstate},
    {"errors_name_the_server_message_not_the_conninfo",
     test_db_errors_name_the_server_message_not_the_conninfo},
    CU_TEST_INFO_NULL,
};

static void register_suites(void)
{
    bs_test_add_suite("upgrade", suite_init, NULL, upgrade_tests);
    bs_test_add_suite("isolation", suite_init, NULL, isolation_tests);
    bs_test_add_suite("reversal", suite_init, NULL, reversal_tests);
    bs_test_add_suite("runner", suite_init, NULL, runner_tests);
    bs_test_add_suite("db", suite_init, NULL, db_tests);
}

int main(void)
{
    return bs_test_main(register_suites);
}
