/*
 * bsctl.h - the operator tool's commands. Each takes the started program and
 * the arguments after its own name, and returns the process exit code.
 */
#ifndef BSCTL_H
#define BSCTL_H

#include "bs/config.h"

/* bsctl migrate up [--to N] | down --to N | status */
int bsctl_migrate(struct bs_program *program, int argc, char **argv);

/* bsctl webhook sign [--id MSG_ID] [--timestamp UNIX] [--file BODY] */
int bsctl_webhook(struct bs_program *program, int argc, char **argv);

/* bsctl token sign --key PRIVATE.pem --sub USER_ID [--ttl S] ...: a
 * development session token for the gateway. */
int bsctl_token(struct bs_program *program, int argc, char **argv);

/* bsctl faq reindex --product P [--stale | --all | --document ID] ... */
int bsctl_faq(struct bs_program *program, int argc, char **argv);

/* What both faq sub-commands need before they start: DATABASE_URL and
 * KAFKA_BOOTSTRAP_SERVERS set, and `product` allowed (copied to `resolved`).
 * NULL when so, else the problem (possibly in errstr) for a usage error. */
const char *bsctl_faq_environment(const struct bs_program *program,
                                  const char *product,
                                  char resolved[BS_PRODUCT_MAX + 1],
                                  char *errstr, size_t errstr_size);

/* bsctl faq import --product P --file FAQS.json ... (called by bsctl_faq) */
int bsctl_faq_import(struct bs_program *program, int argc, char **argv);

/* bsctl audit verify --product P */
int bsctl_audit(struct bs_program *program, int argc, char **argv);

/* bsctl replay --product P --topic users|faq|audit|all ... */
int bsctl_replay(struct bs_program *program, int argc, char **argv);

/* bsctl health URL: exit 0 when GET URL answers 2xx (health checks). */
int bsctl_health(struct bs_program *program, int argc, char **argv);

#endif
