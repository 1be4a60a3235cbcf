/*
 * harness.c - the CUnit runner and subprocess helpers shared by all tests.
 */
#include "harness.h"

#include <CUnit/Basic.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

int bs_test_main(void (*register_suites)(void))
{
    unsigned failures;

    if (CU_initialize_registry() != CUE_SUCCESS) {
        fprintf(stderr, "cannot initialise CUnit: %s\n", CU_get_error_msg());
        return 2;
    }
    register_suites();
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    failures = CU_get_number_of_failures() + CU_get_number_of_suites_failed() +
               CU_get_number_of_tests_failed();
    CU_cleanup_registry();
    return failures == 0 ? 0 : 1;
}

void bs_test_add_suite(const char *name, CU_InitializeFunc init,
                       CU_CleanupFunc cleanup, CU_TestInfo *tests)
{
    CU_pSuite suite = CU_add_suite(name, init, cleanup);

    if (!suite) {
        fprintf(stderr, "cannot add suite %s: %s\n", name, CU_get_error_msg());
        exit(2);
    }
    for (CU_TestInfo *t = tests; t->pName; t++) {
        if (!CU_add_test(suite, t->pName, t->pTestFunc)) {
            fprintf(stderr, "cannot add test %s: %s\n", t->pName,
                    CU_get_error_msg());
            exit(2);
        }
    }
}

void bs__assert_int_eq(long long actual, long long expected,
                       const char *actual_text, const char *expected_text,
                       const char *file, unsigned line)
{
    char message[512];

    snprintf(message, sizeof(message), "%s == %s: got %lld, expected %lld",
             actual_text, expected_text, actual, expected);
    CU_assertImplementation(actual == expected, line, message, file, "",
                            CU_FALSE);
}

void bs__assert_str_eq(const char *actual, const char *expected,
                       const char *actual_text, const char *expected_text,
                       const char *file, unsigned line)
{
    char message[1024];
    bool equal = (actual == NULL && expected == NULL) ||
                 (actual && expected && strcmp(actual, expected) == 0);

    snprintf(message, sizeof(message),
             "%s == %s: got \"%.400s\", expected \"%.400s\"", actual_text,
             expected_text, actual ? actual : "(null)",
             expected ? expected : "(null)");
    CU_assertImplementation(equal, line, message, file, "", CU_FALSE);
}

static const char *env_path(const char *var, const char *relative, char *buf,
                            size_t size)
{
    const char *base = getenv(var);

    snprintf(buf, size, "%s/%s", base ? base : ".", relative);
    return buf;
}

const char *bs_test_state_path(const char *relative, char *buf, size_t size)
{
    return env_path("BS_TEST_STATE_DIR", relative, buf, size);
}

const char *bs_test_build_path(const char *relative, char *buf, size_t size)
{
    return env_path("BS_BUILD_DIR", relative, buf, size);
}

const char *bs_test_source_path(const char *relative, char *buf, size_t size)
{
    return env_path("BS_SOURCE_DIR", relative, buf, size);
}

char *bs_test_read_file(const char *path)
{
    FILE *file = fopen(path, "rb");
    char *data = NULL;
    size_t len = 0, cap = 0, got;

    if (!file)
        return NULL;
    do {
        if (len + 4096 + 1 > cap) {
            char *bigger;
            cap = cap ? cap * 2 : 8192;
            bigger = realloc(data, cap);
            if (!bigger) {
                free(data);
                fclose(file);
                return NULL;
            }
            data = bigger;
        }
        got = fread(data + len, 1, 4096, file);
        len += got;
    } while (got > 0);
    fclose(file);
    if (!data)
        return NULL;
    if (len > 0 && data[len - 1] == '\n')
        len--;
    data[len] = '\0';
    return data;
}

/* Reads everything from fd into a growing buffer. */
static char *drain_fd(int fd)
{
    char *data = NULL;
    size_t len = 0, cap = 0;
    ssize_t got;

    for (;;) {
        if (len + 4096 + 1 > cap) {
            char *bigger;
            cap = cap ? cap * 2 : 8192;
            bigger = realloc(data, cap);
            if (!bigger)
                break;
            data = bigger;
        }
        got = read(fd, data + len, 4096);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0)
            break;
        len += (size_t)got;
    }
    if (data)
        data[len] = '\0';
    return data;
}

/* Everything left in `file`, from its start (a growing buffer). */
static char *drain_file(FILE *file)
{
    fflush(file);
    if (lseek(fileno(file), 0, SEEK_SET) < 0)
        return NULL;
    return drain_fd(fileno(file));
}

/*
 * The child's stdout goes to a pipe read here; its stderr to the same pipe
 * (`err_file` NULL) or to `err_file`, an unlinked temporary file. A file
 * and not a second pipe: draining two pipes one after the other would hang
 * once the child filled the one not being read.
 */
static int run_child(const char *const argv[], const char *const env[],
                     char **output, FILE *err_file)
{
    int pipe_fds[2] = {-1, -1};
    int status;
    pid_t pid;

    if (output && pipe(pipe_fds) != 0)
        return -1;
    pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        if (output) {
            dup2(pipe_fds[1], STDOUT_FILENO);
            dup2(err_file ? fileno(err_file) : pipe_fds[1], STDERR_FILENO);
            close(pipe_fds[0]);
            close(pipe_fds[1]);
        }
        for (size_t i = 0; env && env[i]; i++)
            putenv((char *)env[i]);
        execv(argv[0], (char *const *)argv);
        fprintf(stderr, "cannot run %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }

    if (output) {
        close(pipe_fds[1]);
        *output = drain_fd(pipe_fds[0]);
        close(pipe_fds[0]);
    }
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            return -1;
    if (WIFSIGNALED(status))
        return 128 + WTERMSIG(status);
    return WEXITSTATUS(status);
}

int bs_test_run(const char *const argv[], const char *const env[],
                char **output)
{
    return run_child(argv, env, output, NULL);
}

int bs_test_run_split(const char *const argv[], const char *const env[],
                      char **out, char **err)
{
    FILE *err_file = tmpfile();
    int code;

    *out = NULL;
    *err = NULL;
    if (!err_file)
        return -1;
    code = run_child(argv, env, out, err_file);
    *err = drain_file(err_file);
    fclose(err_file);
    return code;
}
