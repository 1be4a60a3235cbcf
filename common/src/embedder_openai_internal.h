/*
 * embedder_openai_internal.h - what embedder_openai.c exposes to its unit
 * tests: the retry delay and the numbers it is built from. Internal to
 * libbs_common; nothing else should call it.
 */
#ifndef BS_EMBEDDER_OPENAI_INTERNAL_H
#define BS_EMBEDDER_OPENAI_INTERNAL_H

#include <stdint.h>

#define BS__OPENAI_BACKOFF_BASE_MS   200L
#define BS__OPENAI_BACKOFF_MAX_MS    10000L
#define BS__OPENAI_RETRY_AFTER_MAX_S 30L

/*
 * The wait in milliseconds before retry number `retry` (1-based):
 * Retry-After when the answer had one (retry_after_s > 0), at most
 * BS__OPENAI_RETRY_AFTER_MAX_S seconds; otherwise backoff =
 * BASE * 2^(retry - 1), at most BACKOFF_MAX_MS, of which the upper half is
 * random: a value in [backoff / 2, backoff]. *jitter_state is the
 * generator's state (advanced; never 0).
 */
long bs__openai_retry_delay_ms(uint64_t *jitter_state, long retry,
                               long retry_after_s);

#endif
