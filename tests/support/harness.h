/*
 * harness.h - what every test program shares: the CUnit runner, assertions
 * that print both values, paths to what the fixtures started, and running a
 * real binary as a subprocess.
 */
#ifndef BS_TEST_HARNESS_H
#define BS_TEST_HARNESS_H

#include <CUnit/CUnit.h>
#include <stdbool.h>
#include <stddef.h>

/* Initialises CUnit, calls `register_suites`, runs everything verbosely and
 * prints CUnit's summary. Returns the process exit code (0: all passed). */
int bs_test_main(void (*register_suites)(void));

/* Adds a suite with the given tests (NULL-terminated name/function pairs
 * in a CU_TestInfo array). Aborts the program if CUnit cannot. */
void bs_test_add_suite(const char *name, CU_InitializeFunc init,
                       CU_CleanupFunc cleanup, CU_TestInfo *tests);

void bs__assert_int_eq(long long actual, long long expected,
                       const char *actual_text, const char *expected_text,
                       const char *file, unsigned line);
void bs__assert_str_eq(const char *actual, const char *expected,
                       const char *actual_text, const char *expected_text,
                       const char *file, unsigned line);

/* Fail the test, showing both values. */
#define BS_ASSERT_INT_EQ(actual, expected)                                     \
    bs__assert_int_eq((long long)(actual), (long long)(expected), #actual,     \
                      #expected, __FILE__, __LINE__)
#define BS_ASSERT_STR_EQ(actual, expected)                                     \
    bs__assert_str_eq((actual), (expected), #actual, #expected, __FILE__,      \
                      __LINE__)

/* $BS_TEST_STATE_DIR/<relative>, $BS_BUILD_DIR/<relative>,
 * $BS_SOURCE_DIR/<relative> into buf; returns buf. */
const char *bs_test_state_path(const char *relative, char *buf, size_t size);
const char *bs_test_build_path(const char *relative, char *buf, size_t size);
const char *bs_test_source_path(const char *relative, char *buf, size_t size);

/* Reads a whole file; the caller frees the result. NULL if unreadable.
 * A single trailing newline is removed. */
char *bs_test_read_file(const char *path);

/*
 * Runs argv[0] (a path) with argv, adding `env` ("NAME=value" strings,
 * NULL-terminated, may be NULL; "NAME" without "=" removes NAME) to this
 * process's environment. Waits for it.
 * If `output` is not NULL it receives stdout and stderr together (caller
 * frees). Returns the exit status, 128+signal if killed, or -1 if it could
 * not be started.
 */
int bs_test_run(const char *const argv[], const char *const env[],
                char **output);

/* bs_test_run with the child's stdout in *out and its stderr in *err, kept
 * apart (both set, possibly to NULL on failure; the caller frees both). */
int bs_test_run_split(const char *const argv[], const char *const env[],
                      char **out, char **err);

#endif
