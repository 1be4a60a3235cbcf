/*
 * health.c - `bsctl health URL`: one GET, exit 0 on a 2xx answer.
 *
 * The runtime image ships no curl or shell tools, so container health
 * checks (compose/docker-compose.yml) ask bsctl. The answer body is
 * discarded; redirects are not followed (a health endpoint answers itself).
 *
 * Exit codes: 0 healthy, 1 no answer or not 2xx, 64 usage error.
 */
#include "bsctl.h"

#include <curl/curl.h>
#include <stdio.h>

#define HEALTH_TIMEOUT_MS 3000

static size_t discard(char *data, size_t size, size_t count, void *ctx)
{
    (void)data;
    (void)ctx;
    return size * count;
}

int bsctl_health(struct bs_program *program, int argc, char **argv)
{
    CURL *curl;
    CURLcode code;
    long status = 0;

    (void)program;
    if (argc != 1) {
        fprintf(stderr, "bsctl health: usage: bsctl health URL\n");
        return 64;
    }
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        return 1;
    curl = curl_easy_init();
    if (curl == NULL) {
        curl_global_cleanup();
        return 1;
    }

    curl_easy_setopt(curl, CURLOPT_URL, argv[0]);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, (long)HEALTH_TIMEOUT_MS);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, discard);
    code = curl_easy_perform(curl);
    if (code == CURLE_OK)
        curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);

    curl_easy_cleanup(curl);
    curl_global_cleanup();
    if (code != CURLE_OK) {
        fprintf(stderr, "bsctl health: %s: %s\n", argv[0],
                curl_easy_strerror(code));
        return 1;
    }
    if (status < 200 || status > 299) {
        fprintf(stderr, "bsctl health: %s answered %ld\n", argv[0], status);
        return 1;
    }
    return 0;
}
