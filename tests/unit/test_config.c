/*
 * test_config.c - the product context and configuration loading.
 *
 * In-process tests of bs_product_resolve() and bs_config_load(), plus the
 * start-up contract of a real program (bsctl): exit code 2 and one line on
 * stderr for a product outside ALLOWED_PRODUCTS, a warning when PRODUCT is
 * unset, secrets never printed.
 */
#include "harness.h"

#include "bs/config.h"
#include "bs/error.h"
#include "bs/product.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void test_product_unset_defaults_to_bestays(void)
{
    char product[BS_PRODUCT_MAX + 1] = "";
    char errstr[256];
    bool defaulted = false;

    BS_ASSERT_INT_EQ(bs_product_resolve(NULL, NULL, product, &defaulted, errstr,
                                        sizeof(errstr)),
                     BS_OK);
    BS_ASSERT_STR_EQ(product, "bestays");
    CU_ASSERT_TRUE(defaulted);
}

static void test_product_in_allowed_set_is_taken(void)
{
    char product[BS_PRODUCT_MAX + 1] = "";
    char errstr[256];
    bool defaulted = true;

    BS_ASSERT_INT_EQ(bs_product_resolve("realestate", NULL, product, &defaulted,
                                        errstr, sizeof(errstr)),
                     BS_OK);
    BS_ASSERT_STR_EQ(product, "realestate");
    CU_ASSERT_FALSE(defaulted);
}

static void test_product_outside_allowed_set_is_refused(void)
{
    char product[BS_PRODUCT_MAX + 1] = "";
    char errstr[256] = "";
    bool defaulted;

    BS_ASSERT_INT_EQ(bs_product_resolve("rentals", NULL, product, &defaulted,
                                        errstr, sizeof(errstr)),
                     BS_ECONFIG);
    BS_ASSERT_STR_EQ(product, "");
    CU_ASSERT_PTR_NOT_NULL(strstr(errstr, "'rentals'"));
    CU_ASSERT_PTR_NOT_NULL(strstr(errstr, "bestays,realestate"));
}

static void test_product_comparison_is_case_sensitive_and_untrimmed(void)
{
    const char *near_misses[] = {"Bestays",  "BESTAYS", " bestays",
                                 "bestays ", "",        "bestays,realestate"};
    char product[BS_PRODUCT_MAX + 1];
    char errstr[256];
    bool defaulted;

    for (size_t i = 0; i < sizeof(near_misses) / sizeof(near_misses[0]); i++) {
        product[0] = '\0';
        BS_ASSERT_INT_EQ(bs_product_resolve(near_misses[i], NULL, product,
                                            &defaulted, errstr, sizeof(errstr)),
                         BS_ECONFIG);
        BS_ASSERT_STR_EQ(product, "");
    }
}

static void test_product_custom_allowed_list(void)
{
    char product[BS_PRODUCT_MAX + 1] = "";
    char errstr[256];
    bool defaulted;

    BS_ASSERT_INT_EQ(bs_product_resolve("realestate", "bestays", product,
                                        &defaulted, errstr, sizeof(errstr)),
                     BS_ECONFIG);
    BS_ASSERT_INT_EQ(bs_product_resolve("land", "bestays,land", product,
                                        &defaulted, errstr, sizeof(errstr)),
                     BS_OK);
    BS_ASSERT_STR_EQ(product, "land");
}

static void test_allowed_list_with_invalid_entry_is_refused(void)
{
    char product[BS_PRODUCT_MAX + 1];
    char errstr[256];
    bool defaulted;

    BS_ASSERT_INT_EQ(bs_product_resolve("bestays", "bestays,Real Estate",
                                        product, &defaulted, errstr,
                                        sizeof(errstr)),
                     BS_ECONFIG);
    BS_ASSERT_INT_EQ(bs_product_resolve("bestays", "bestays,,realestate",
                                        product, &defaulted, errstr,
                                        sizeof(errstr)),
                     BS_ECONFIG);
}

static void test_topic_names(void)
{
    char topic[64];
    char tiny[8];

    BS_ASSERT_INT_EQ(bs_product_topic("bestays", "users", topic, sizeof(topic)),
                     BS_OK);
    BS_ASSERT_STR_EQ(topic, "bestays.users");
    BS_ASSERT_INT_EQ(bs_product_topic("realestate", "dlq", tiny, sizeof(tiny)),
                     BS_EINVAL);
}

static const struct bs_config_var test_vars[] = {
    {"BS_TEST_PLAIN", "fallback", 0, "a plain value"},
    {"BS_TEST_SECRET", NULL, BS_CONFIG_SECRET, "a secret"},
};

static void test_config_reads_env_default_and_file(void)
{
    char path[] = "/tmp/bs-test-config-XXXXXX";
    int fd = mkstemp(path);
    struct bs_config *config = NULL;
    char errstr[256];

    CU_ASSERT_FATAL(fd >= 0);
    CU_ASSERT_FATAL(write(fd, "s3cret\n", 7) == 7);
    close(fd);

    unsetenv("BS_TEST_PLAIN");
    unsetenv("BS_TEST_SECRET");
    setenv("BS_TEST_SECRET_FILE", path, 1);

    BS_ASSERT_INT_EQ(
        bs_config_load(&config, test_vars, 2, errstr, sizeof(errstr)), BS_OK);
    BS_ASSERT_STR_EQ(bs_config_get(config, "BS_TEST_PLAIN"), "fallback");
    BS_ASSERT_STR_EQ(bs_config_get(config, "BS_TEST_SECRET"), "s3cret");
    bs_config_free(config);

    unsetenv("BS_TEST_SECRET_FILE");
    unlink(path);
}

static void test_config_refuses_both_value_and_file(void)
{
    struct bs_config *config = NULL;
    char errstr[256] = "";

    setenv("BS_TEST_SECRET", "a", 1);
    setenv("BS_TEST_SECRET_FILE", "/nonexistent", 1);
    BS_ASSERT_INT_EQ(
        bs_config_load(&config, test_vars, 2, errstr, sizeof(errstr)),
        BS_ECONFIG);
    CU_ASSERT_PTR_NULL(config);
    CU_ASSERT_PTR_NOT_NULL(strstr(errstr, "BS_TEST_SECRET_FILE"));
    unsetenv("BS_TEST_SECRET");
    unsetenv("BS_TEST_SECRET_FILE");
}

static void test_conninfo_password_is_masked(void)
{
    char shown[256];

    bs_config_mask_conninfo("postgresql://svc:hunter2@db:5432/app", shown,
                            sizeof(shown));
    BS_ASSERT_STR_EQ(shown, "postgresql://svc:***@db:5432/app");
    bs_config_mask_conninfo("host=db user=svc password=hunter2 dbname=app",
                            shown, sizeof(shown));
    BS_ASSERT_STR_EQ(shown, "host=db user=svc password=*** dbname=app");
    bs_config_mask_conninfo("host=/tmp dbname=app", shown, sizeof(shown));
    BS_ASSERT_STR_EQ(shown, "host=/tmp dbname=app");
}

/* Runs bsctl with `env`, returning its exit code and its output. */
static int run_bsctl(const char *const env[], char **output)
{
    char bsctl[1024];
    const char *argv[] = {
        bs_test_build_path("tools/bsctl/bsctl", bsctl, sizeof(bsctl)), "config",
        NULL};

    return bs_test_run(argv, env, output);
}

static void test_program_refuses_unknown_product_with_exit_2(void)
{
    const char *env[] = {"PRODUCT=Bestays", "ALLOWED_PRODUCTS", NULL};
    char *output = NULL;
    int lines = 0;

    BS_ASSERT_INT_EQ(run_bsctl(env, &output), 2);
    CU_ASSERT_FATAL(output != NULL);
    for (const char *p = output; *p; p++)
        lines += (*p == '\n');
    BS_ASSERT_INT_EQ(lines, 1);
    CU_ASSERT_PTR_NOT_NULL(strstr(output, "PRODUCT='Bestays'"));
    CU_ASSERT_PTR_NOT_NULL(strstr(output, "bestays,realestate"));
    free(output);
}

static void test_program_warns_when_product_unset(void)
{
    const char *env[] = {"PRODUCT", "ALLOWED_PRODUCTS", NULL};
    char *output = NULL;

    BS_ASSERT_INT_EQ(run_bsctl(env, &output), 0);
    CU_ASSERT_FATAL(output != NULL);
    CU_ASSERT_PTR_NOT_NULL(strstr(output, "level=warn"));
    CU_ASSERT_PTR_NOT_NULL(strstr(output, "product=bestays"));
    free(output);
}

static void test_program_never_prints_database_password(void)
{
    const char *env[] = {"PRODUCT=realestate",
                         "DATABASE_URL=postgresql://svc:topsecretpw@h/db",
                         NULL};
    char *output = NULL;

    BS_ASSERT_INT_EQ(run_bsctl(env, &output), 0);
    CU_ASSERT_FATAL(output != NULL);
    CU_ASSERT_PTR_NULL(strstr(output, "topsecretpw"));
    CU_ASSERT_PTR_NOT_NULL(strstr(output, "product=realestate"));
    free(output);
}

static void test_config_numbers_are_whole_and_in_range(void)
{
    static const struct bs_config_var number_vars[] = {
        {"BS_TEST_NUMBER", NULL, 0, "a number"},
    };
    const char *bad[] = {"",     "12x",   " 7", "+7",
                         "0x10", "65536", "-1", "99999999999999999999"};
    struct bs_config *config = NULL;
    char errstr[256] = "";
    long value = 0;

    setenv("BS_TEST_NUMBER", "8080", 1);
    BS_ASSERT_INT_EQ(
        bs_config_load(&config, number_vars, 1, errstr, sizeof(errstr)), BS_OK);
    BS_ASSERT_INT_EQ(bs_config_get_number(config, "BS_TEST_NUMBER", 0, 65535,
                                          &value, errstr, sizeof(errstr)),
                     BS_OK);
    BS_ASSERT_INT_EQ(value, 8080);
    bs_config_free(config);

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        setenv("BS_TEST_NUMBER", bad[i], 1);
        BS_ASSERT_INT_EQ(
            bs_config_load(&config, number_vars, 1, errstr, sizeof(errstr)),
            BS_OK);
        BS_ASSERT_INT_EQ(bs_config_get_number(config, "BS_TEST_NUMBER", 0,
                                              65535, &value, errstr,
                                              sizeof(errstr)),
                         BS_ECONFIG);
        CU_ASSERT_PTR_NOT_NULL(strstr(errstr, "BS_TEST_NUMBER"));
        bs_config_free(config);
    }
    unsetenv("BS_TEST_NUMBER");
}

/* Captures what bs_config_log() writes to stderr. */
static char *log_config_to_string(const struct bs_config *config)
{
    char path[] = "/tmp/bs-test-log-XXXXXX";
    int fd = mkstemp(path);
    int saved = dup(STDERR_FILENO);
    char *text;

    fflush(stderr);
    dup2(fd, STDERR_FILENO);
    bs_config_log(config);
    fflush(stderr);
    dup2(saved, STDERR_FILENO);
    close(saved);
    close(fd);
    text = bs_test_read_file(path);
    unlink(path);
    return text;
}

static void test_config_log_shows_secret_only_as_set(void)
{
    struct bs_config *config = NULL;
    char errstr[256];
    char *logged;

    setenv("BS_TEST_SECRET", "whsec_dG9wc2VjcmV0", 1);
    BS_ASSERT_INT_EQ(
        bs_config_load(&config, test_vars, 2, errstr, sizeof(errstr)), BS_OK);
    logged = log_config_to_string(config);
    CU_ASSERT_FATAL(logged != NULL);
    CU_ASSERT_PTR_NULL(strstr(logged, "dG9wc2VjcmV0"));
    CU_ASSERT_PTR_NOT_NULL(strstr(logged, "name=BS_TEST_SECRET value=(set)"));
    free(logged);
    bs_config_free(config);
    unsetenv("BS_TEST_SECRET");
}

static void test_program_help_lists_every_variable(void)
{
    char bsctl[1024];
    const char *argv[] = {
        bs_test_build_path("tools/bsctl/bsctl", bsctl, sizeof(bsctl)), "--help",
        NULL};
    const char *names[] = {"PRODUCT", "ALLOWED_PRODUCTS", "LOG_LEVEL",
                           "DATABASE_URL", "KAFKA_BOOTSTRAP_SERVERS"};
    char *output = NULL;

    BS_ASSERT_INT_EQ(bs_test_run(argv, NULL, &output), 0);
    CU_ASSERT_FATAL(output != NULL);
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        CU_ASSERT_PTR_NOT_NULL(strstr(output, names[i]));
    free(output);
}

static CU_TestInfo product_tests[] = {
    {"unset_defaults_to_bestays", test_product_unset_defaults_to_bestays},
    {"in_allowed_set_is_taken", test_product_in_allowed_set_is_taken},
    {"outside_allowed_set_is_refused",
     test_product_outside_allowed_set_is_refused},
    {"comparison_is_case_sensitive_and_untrimmed",
     test_product_comparison_is_case_sensitive_and_untrimmed},
    {"custom_allowed_list", test_product_custom_allowed_list},
    {"allowed_list_with_invalid_entry_is_refused",
     test_allowed_list_with_invalid_entry_is_refused},
    {"topic_names", test_topic_names},
    CU_TEST_INFO_NULL,
};

static CU_TestInfo config_tests[] = {
    {"reads_env_default_and_file", test_config_reads_env_default_and_file},
    {"refuses_both_value_and_file", test_config_refuses_both_value_and_file},
    {"conninfo_password_is_masked", test_conninfo_password_is_masked},
    {"log_shows_secret_only_as_set", test_config_log_shows_secret_only_as_set},
    {"numbers_are_whole_and_in_range",
     test_config_numbers_are_whole_and_in_range},
    CU_TEST_INFO_NULL,
};

static CU_TestInfo program_tests[] = {
    {"refuses_unknown_product_with_exit_2",
     test_program_refuses_unknown_product_with_exit_2},
    {"warns_when_product_unset", test_program_warns_when_product_unset},
    {"never_prints_database_password",
     test_program_never_prints_database_password},
    {"help_lists_every_variable", test_program_help_lists_every_variable},
    CU_TEST_INFO_NULL,
};

static void register_suites(void)
{
    bs_test_add_suite("product", NULL, NULL, product_tests);
    bs_test_add_suite("config", NULL, NULL, config_tests);
    bs_test_add_suite("program", NULL, NULL, program_tests);
}

int main(void)
{
    return bs_test_main(register_suites);
}
