/*
 * service_harness.h - running the real service binaries in integration
 * tests and talking HTTP to them.
 *
 * A service is started with a free loopback port (HTTP_PORT) and the
 * environment the test gives, its output going to a log file in the test
 * state directory; it counts as up once GET /healthz answers 200. Nothing
 * here asserts: functions return a status, the test decides.
 */
#ifndef BS_TEST_SERVICE_HARNESS_H
#define BS_TEST_SERVICE_HARNESS_H

#include <stddef.h>
#include <sys/types.h>

struct bs_svc {
    pid_t pid;          /* 0 when not running */
    unsigned port;      /* its HTTP port */
    char log_path[512]; /* where its stdout and stderr go */
};

/* A loopback port that was free a moment ago (0 on failure). */
unsigned bs_svc_free_port(void);

/*
 * Starts $BS_BUILD_DIR/<binary> (e.g. "services/user-projector/
 * user-projector") with this process's environment plus `env` ("NAME=value",
 * NULL-terminated) and HTTP_PORT set to a free port; the log is
 * <state>/<log_tag>.log (appended). Waits up to 30 s for /healthz. Returns 0,
 * or -1 when it exited or never answered (then it is stopped).
 */
int bs_svc_start(struct bs_svc *svc, const char *binary, const char *log_tag,
                 const char *const env[]);

/* Sends `sig` and waits: the exit status, 128+signal, or -1. */
int bs_svc_stop(struct bs_svc *svc, int sig);

/*
 * One HTTP request to the service. `headers` are "Name: value" lines
 * (NULL-terminated, may be NULL); `body` may be NULL for no body. Returns
 * the status code (0 when there was no answer); *response (if not NULL)
 * receives the body, which the caller frees.
 */
long bs_svc_http(const struct bs_svc *svc, const char *method, const char *path,
                 const char *const headers[], const void *body, size_t body_len,
                 char **response);

#endif
