/*
 * sasl.h -- SASL authentication for the binary protocol (-S), through
 * Cyrus SASL (libsasl2) as memcached does, so that existing setups carry
 * over: the SASL application name is "memcached", its configuration file
 * memcached.conf is looked for in $SASL_CONF_PATH, else /etc/sasl and
 * /etc/sasl2; with $MEMCACHED_SASL_PWDB set, PLAIN passwords are checked
 * against that file's "user:password" lines (read on every check).  See
 * doc/security.md.
 *
 * Threads: proto_sasl_setup() (proto.h) runs once in the main thread before the workers
 * start; each connection's session belongs to its worker.
 */
#ifndef MC_PROTO_SASL_H
#define MC_PROTO_SASL_H

#include <stdbool.h>
#include <stddef.h>

#include "proto.h"

/* Free a connection's SASL session (pc->sasl), if any. */
void sasl_conn_free(struct proto_conn *pc);
/* SASL list mechanisms / auth / step; without -S "Unknown command". */
enum proto_action sasl_packet(struct proto_conn *pc, const struct request *r);

#endif
