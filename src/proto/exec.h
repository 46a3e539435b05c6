/*
 * exec.h -- internal to src/proto: the executor's pieces shared by
 * process.c (classic commands), meta_exec.c (meta commands) and
 * bin_exec.c (binary packets).  Both run
 * requests through item.h only; the reply composers live here once.
 */
#ifndef MC_PROTO_EXEC_H
#define MC_PROTO_EXEC_H

#include <string.h>

#include "proto.h"

/* Append "s\r\n" unless noreply. */
void   proto_reply(struct proto_conn *pc, bool noreply, const char *s);
/* Decimal u64 into p (no NUL); returns its length.  Inline: every hit's
 * VALUE line formats two numbers.  Two digits per step from the end of a
 * scratch buffer (the usual flags and lengths take one or two steps). */
static inline size_t
proto_u64_dec(uint64_t v, char *p)
{
    static const char d2[201] =
        "00010203040506070809101112131415161718192021222324252627282930313233343536373839"
        "40414243444546474849505152535455565758596061626364656667686970717273747576777879"
        "8081828384858687888990919293949596979899";
    char tmp[20];
    char *e = tmp + sizeof(tmp), *q = e;
    while (v >= 100) {
        unsigned d = (unsigned)(v % 100);
        v /= 100;
        q -= 2;
        memcpy(q, d2 + 2 * d, 2);
    }
    if (v >= 10) {
        q -= 2;
        memcpy(q, d2 + 2 * v, 2);
    } else {
        *--q = (char)('0' + v);
    }
    size_t n = (size_t)(e - q);
    memcpy(p, q, n);
    return n;
}
/* Append it's value and "\r\n"; takes over the reference. */
void   proto_emit_data(struct proto_conn *pc, struct item *it);
/* The same, with "\r\n" only if crlf (binary values have none). */
void   proto_emit_value(struct proto_conn *pc, struct item *it, bool crlf);
/* Count one lookup of a get/gets/gat/gats (touch: a gat/gats); a key not
 * NULL goes to the hot keys sampler (hotkeys.h). */
void   proto_count_lookup(struct proto_conn *pc, const char *key, size_t nkey,
                          const struct item *it, bool touch);
/* Append key k[0..n) as memcached's metadump prints keys: URI-encoded
 * (all but A-Z a-z 0-9 - . _ ~ as %XX). */
void   proto_uri_key(struct obuf *o, const char *k, size_t n);
/* Flush what was stored before the delay given (0: now), as memcached. */
void   proto_flush_at(int64_t exptime);
/* stats_cmd.c: "stats reset" (proto_stats_lines() is in proto.h). */
void   proto_stats_reset(void);
/* "watch mutations": log the outcome st of storing it as m said. */
void   proto_watch_store(const struct item *it, const struct item_mset *m,
                         enum item_status st);
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
 * writing the reply, so the command has run (with the flags before the
 * O).  Runs it with the reply thrown away; the caller sends the error. */
void meta_run_silently(struct proto_conn *pc, const struct request *r);
/* The value of a pending ms arrived intact: store it and reply. */
void meta_store_done(struct proto_conn *pc, struct item *it);

/* coll.c: the ARCUS dialect's reply strings (one table) */
const char *coll_reply(enum req_cmd_coll cc, enum coll_status st);
const char *coll_get_end(const struct coll_op *op, enum coll_status st, bool trimmed);
size_t coll_bkey_str(const struct coll_bkey *k, char *out);
const char *coll_type_name(enum coll_type t);
const char *coll_ovfl_name(enum coll_ovfl o);
const char *coll_attr_name(enum coll_attr_name a);
/* coll_exec.c: run a CMD_COLL line (errors included); the data block of
 * a PROTO_READ_VALUE arrived (pc->scmd == CMD_COLL); a plain command
 * ends any pipe; free the connection's collection buffers. */
enum proto_action coll_line(struct proto_conn *pc, struct request *r);
void coll_value_done(struct proto_conn *pc, bool term_ok);
void coll_pipe_end(struct proto_conn *pc);
void coll_conn_deinit(struct proto_conn *pc);

/* binary.c: response writers; they answer the packet recorded in pc->bin
 * (opcode, opaque) by bin_set_context(). */
void bin_set_context(struct proto_conn *pc, const struct request *r);
void bin_header(struct proto_conn *pc, uint16_t status, uint8_t extlen, uint16_t keylen,
                uint32_t bodylen, uint64_t cas);
/* A response with no body but the CAS. */
void bin_ok(struct proto_conn *pc, uint64_t cas);
/* An error response whose body is memcached's text for status. */
void bin_error(struct proto_conn *pc, uint16_t status);
const char *bin_status_text(uint16_t status);
/* Big-endian numbers into p. */
void bin_put32(unsigned char *p, uint32_t v);
void bin_put64(unsigned char *p, uint64_t v);
/* bin_exec.c: the value of a pending binary store arrived: store, reply. */
void bin_store_done(struct proto_conn *pc, struct item *it);

#endif
