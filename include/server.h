/*
 * server.h -- the daemon's lifecycle (src/daemon/server.c).
 */
#ifndef MC_SERVER_H
#define MC_SERVER_H

#include "option.h"

/* Run the server with parsed settings until it is stopped; returns the
 * process exit code.  argc/argv are kept for SIGHUP, which re-parses
 * them over the re-read config file (command line still wins). */
int  server_main(struct settings *s, int argc, char **argv);
/* Re-read the config file and apply what can change at run time. */
void server_reload(void);

#endif
