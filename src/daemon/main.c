/*
 * main.c -- parse the command line (and config file), then hand over to
 * the server lifecycle in server.c.
 */
#include <stdio.h>

#include "option.h"
#include "platform.h"
#include "server.h"

static int
run(int argc, char **argv)
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

int
main(int argc, char **argv)
{
    int rc;
    if (platform_service(argc, argv, run, &rc))  /* Windows service commands */
        return rc;
    return run(argc, argv);
}
