/*
 * signals.h - waiting for SIGTERM or SIGINT in a service's main thread.
 *
 * A service blocks the shutdown signals first thing in main(), before any
 * thread exists (threads inherit the mask, so no worker is ever interrupted
 * or killed by them), then starts its work and waits:
 *
 *   bs_signals_block_shutdown();
 *   ... start the HTTP server, consumers ...
 *   bs_signals_wait_for_shutdown(-1);
 *   bs_http_server_drain(server, 10000);  ... flush, free, exit 0
 *
 * Not here: handlers that run asynchronously, SIGHUP reloading.
 */
#ifndef BS_SIGNALS_H
#define BS_SIGNALS_H

/*
 * Blocks SIGTERM and SIGINT in the calling thread and everything it starts
 * later, and ignores SIGPIPE (a closed peer becomes a write error instead
 * of killing the process). Returns BS_OK or BS_EIO.
 */
int bs_signals_block_shutdown(void);

/*
 * Waits for SIGTERM or SIGINT (blocked beforehand with
 * bs_signals_block_shutdown()) and consumes it. timeout_ms < 0 waits for
 * ever. Returns the signal number, 0 when the timeout passed first, or
 * BS_EIO.
 */
int bs_signals_wait_for_shutdown(int timeout_ms);

#endif
