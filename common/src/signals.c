/*
 * signals.c - SIGTERM/SIGINT as something main() waits for.
 *
 * The signals stay blocked and are taken with sigtimedwait(), so nothing
 * runs in signal-handler context and no flag needs polling.
 */
#include "bs/signals.h"
#include "bs/error.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <time.h>

static void shutdown_set(sigset_t *set)
{
    sigemptyset(set);
    sigaddset(set, SIGTERM);
    sigaddset(set, SIGINT);
}

int bs_signals_block_shutdown(void)
{
    struct sigaction ignore = {.sa_handler = SIG_IGN};
    sigset_t set;

    shutdown_set(&set);
    if (pthread_sigmask(SIG_BLOCK, &set, NULL) != 0)
        return BS_EIO;
    sigemptyset(&ignore.sa_mask);
    if (sigaction(SIGPIPE, &ignore, NULL) != 0)
        return BS_EIO;
    return BS_OK;
}

int bs_signals_wait_for_shutdown(int timeout_ms)
{
    struct timespec timeout = {timeout_ms / 1000,
                               (long)(timeout_ms % 1000) * 1000000L};
    sigset_t set;
    int sig;

    shutdown_set(&set);
    do {
        sig = timeout_ms < 0 ? sigwaitinfo(&set, NULL)
                             : sigtimedwait(&set, NULL, &timeout);
    } while (sig < 0 && errno == EINTR);

    if (sig < 0)
        return errno == EAGAIN ? 0 : BS_EIO;
    return sig;
}
