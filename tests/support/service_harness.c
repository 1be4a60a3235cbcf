/*
 * service_harness.c - start, stop and call the real service binaries.
 */
#include "service_harness.h"

#include "harness.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define START_TIMEOUT_MS 30000

unsigned bs_svc_free_port(void)
{
    struct sockaddr_in addr = {.sin_family = AF_INET,
                               .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(addr);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    unsigned port = 0;

    if (fd < 0)
        return 0;
    if (bind(fd, (struct sockaddr *)&addr, sizeof(addr)) == 0 &&
        getsockname(fd, (struct sockaddr *)&addr, &len) == 0)
        port = ntohs(addr.sin_port);
    close(fd);
    return port;
}

/* In the child: log file as stdout and stderr, the extra environment, exec. */
static void exec_service(const char *binary, const char *log_path,
                         const char *port_env, const char *const env[])
{
    int fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND, 0644);

    if (fd >= 0) {
        dup2(fd, STDOUT_FILENO);
        dup2(fd, STDERR_FILENO);
        close(fd);
    }
    putenv((char *)port_env);
    for (size_t i = 0; env && env[i]; i++)
        putenv((char *)env[i]);
    execl(binary, binary, (char *)NULL);
    _exit(127);
}

static void pause_ms(long ms)
{
    struct timespec pause = {ms / 1000, (ms % 1000) * 1000000L};

    nanosleep(&pause, NULL);
}

int bs_svc_start(struct bs_svc *svc, const char *binary, const char *log_tag,
                 const char *const env[])
{
    char path[1024], name[256], port_env[32];

    memset(svc, 0, sizeof(*svc));
    bs_test_build_path(binary, path, sizeof(path));
    snprintf(name, sizeof(name), "%s.log", log_tag);
    bs_test_state_path(name, svc->log_path, sizeof(svc->log_path));
    svc->port = bs_svc_free_port();
    snprintf(port_env, sizeof(port_env), "HTTP_PORT=%u", svc->port);

    svc->pid = fork();
    if (svc->pid < 0) {
        svc->pid = 0;
        return -1;
    }
    if (svc->pid == 0)
        exec_service(path, svc->log_path, port_env, env);

    for (int waited = 0; waited < START_TIMEOUT_MS; waited += 100) {
        if (bs_svc_http(svc, "GET", "/healthz", NULL, NULL, 0, NULL) == 200)
            return 0;
        if (waitpid(svc->pid, NULL, WNOHANG) == svc->pid) {
            fprintf(stderr, "%s exited at start; see %s\n", binary,
                    svc->log_path);
            svc->pid = 0;
            return -1;
        }
        pause_ms(100);
    }
    fprintf(stderr, "%s did not answer /healthz; see %s\n", binary,
            svc->log_path);
    bs_svc_stop(svc, SIGKILL);
    return -1;
}

int bs_svc_stop(struct bs_svc *svc, int sig)
{
    int status;

    if (svc->pid <= 0)
        return -1;
    kill(svc->pid, sig);
    if (waitpid(svc->pid, &status, 0) != svc->pid)
        return -1;
    svc->pid = 0;
    if (WIFEXITED(status))
        return WEXITSTATUS(status);
    return WIFSIGNALED(status) ? 128 + WTERMSIG(status) : -1;
}

struct buffer {
    char *data;
    size_t len;
};

static size_t collect(char *data, size_t size, size_t count, void *ctx)
{
    struct buffer *buffer = ctx;
    size_t n = size * count;
    char *bigger = realloc(buffer->data, buffer->len + n + 1);

    if (!bigger)
        return 0;
    memcpy(bigger + buffer->len, data, n);
    buffer->data = bigger;
    buffer->len += n;
    buffer->data[buffer->len] = '\0';
    return n;
}

long bs_svc_http(const struct bs_svc *svc, const char *method, const char *path,
                 const char *const headers[], const void *body, size_t body_len,
                 char **response)
{
    struct buffer buffer = {NULL, 0};
    struct curl_slist *list = NULL;
    CURL *curl = curl_easy_init();
    char url[1024];
    long status = 0;

    if (response)
        *response = NULL;
    if (!curl)
        return 0;
    snprintf(url, sizeof(url), "http://127.0.0.1:%u%s", svc->port, path);
    for (size_t i = 0; headers && headers[i]; i++)
        list = curl_slist_append(list, headers[i]);

    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, list);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, 30000L);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &buffer);
    if (body) {
        curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, (long)body_len);
    }
    if (curl_easy_perform(curl) == CURLE_OK)
        curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);

    curl_slist_free_all(list);
    curl_easy_cleanup(curl);
    if (response)
        *response = buffer.data;
    else
        free(buffer.data);
    return status;
}
