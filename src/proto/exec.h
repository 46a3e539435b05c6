/*
 * exec.h -- internal to src/proto: the executor's pieces shared by
 * process.c (classic commands) and meta_exec.c (meta commands).  Both run
 * requests through item.h only; the reply composers live here once.
 */
#ifndef MC_PROTO_EXEC_H
#define MC_PROTO_EXEC_H

#include "proto.h"

/* Append "s\r\n" unless noreply. */
void   proto_reply(struct proto_conn *pc, bool noreply, const char *s);
/* Decimal u64 into p (no NUL); returns its length. */
size_t proto_u64_dec(uint64_t v, char *p);
/* Append it's value and "\r\n"; takes over the reference. */
void   proto_emit_data(struct proto_conn *pc, struct item *it);
/* A storage command's line (r->key, flags, exptime, vlen): allocate the
 * item and return PROTO_READ_VALUE, or reply the error and PROTO_SWALLOW. */
enum proto_action proto_store(struct proto_conn *pc, const struct request *r);

/* meta_exec.c */
void meta_get(struct proto_conn *pc, const struct request *r);
enum proto_action meta_set(struct proto_conn *pc, struct request *r);
void meta_delete(struct proto_conn *pc, const struct request *r);
void meta_arith(struct proto_conn *pc, const struct request *r);
void meta_debug(struct proto_conn *pc, const struct request *r);
/* An mg or ma refused for its O token: memcached finds that only while
 * writing the reply, so the command has run (mg: with the flags before
 * O).  Runs it with the reply thrown away; the caller sends the error. */
void meta_run_silently(struct proto_conn *pc, const struct request *r);
/* The value of a pending ms arrived intact: store it and reply. */
void meta_store_done(struct proto_conn *pc, struct item *it);

#endif
