/* bsctl replay: being written (issue work in progress). */
#include "bsctl.h"

#include <stdio.h>

int bsctl_replay(struct bs_program *program, int argc, char **argv)
{
    (void)program;
    (void)argc;
    (void)argv;
    fprintf(stderr, "bsctl: replay is not available yet\n");
    return 64;
}
