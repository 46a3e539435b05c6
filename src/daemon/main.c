/*
 * main.c -- parse the command line (and config file), then hand over to
 * the server lifecycle in server.c.
 */
#include <stdio.h>

#include "option.h"
#include "server.h"

#if defined(__SANITIZE_THREAD__)
/* The hash table's expander holds every stripe lock at once (8192), past
 * ThreadSanitizer's deadlock detector limit of 64 held locks; data race
 * detection stays on.  The tests set the same through TSAN_OPTIONS. */
const char *__tsan_default_options(void);
const char *
__tsan_default_options(void)
{
    return "detect_deadlocks=0";
}
#endif

int
main(int argc, char **argv)
{
    struct settings s;
    char err[1024];
    int rc;

    switch (option_parse(&s, argc, argv, err, sizeof(err))) {
    case OPTION_EXIT_OK:
        rc = 0;
        break;
    case OPTION_ERROR:
        fprintf(stderr, "%s\n", err);
        rc = 1;
        break;
    default:
        rc = server_main(&s, argc, argv);
        break;
    }
    option_free(&s);
    return rc;
}
