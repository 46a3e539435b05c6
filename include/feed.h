/*
 * feed.h -- the byte loop of one connection, without the socket.
 *
 * feed_run() takes the bytes a connection has read and not yet consumed,
 * finds request lines or, on a binary connection, packets, runs them
 * (proto_line, proto_packet), copies values into items,
 * discards refused values, and stops when it needs more input, when
 * fairness or the output high-water mark says so, or when a request asks
 * for a close or a deferred run.  It never reads or writes a socket:
 * net/conn.c calls it with what it read and flushes pc->out afterwards;
 * the fuzz targets call it with arbitrary splits of their input, so what
 * is fuzzed is what runs.
 *
 * Contract with the caller:
 *   - buf[0..len) is all unconsumed input, oldest first.  feed_run()
 *     returns how many bytes it consumed; the caller keeps the rest and
 *     passes it again, followed by newer bytes, on the next call.
 *   - A paused multiget (FEED_OUTPUT_FULL) is resumed by calling again
 *     with the same unconsumed bytes once output has drained: its request
 *     line is not consumed until its reply is complete.
 *   - Large values may bypass feed_run(): while f->state == FEED_VALUE the
 *     caller may read bytes directly into feed_value_iov() and report them
 *     with feed_value_advance().
 *
 * Thread safety: none; a feed belongs to one connection and its thread.
 */
#ifndef MC_FEED_H
#define MC_FEED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "sysdeps.h"

#include "proto.h"

/* A request line longer than this without '\n' must be a multiget, or
 * the client is dropped (memcached's rule). */
#define FEED_LINE_MAX_PLAIN 2048

enum feed_state {
    FEED_LINE,                      /* waiting for / parsing a request line */
    FEED_VALUE,                     /* copying a value into an item */
    FEED_VALUE_END,                 /* waiting for the "\r\n" after a value */
    FEED_SWALLOW,                   /* discarding a refused value */
    FEED_DEFERRED,                  /* waiting for a PROTO_DEFER request */
    FEED_CLOSING,                   /* nothing more is parsed */
};

enum feed_status {
    FEED_NEED_INPUT,                /* all complete requests ran; the rest is
                                     * part of an unfinished request */
    FEED_YIELD,                     /* max_reqs reached, complete requests left */
    FEED_OUTPUT_FULL,               /* output at PROTO_OUT_HIGH: call again
                                     * once it has drained */
    FEED_DEFER,                     /* run pc->defer off-thread, then
                                     * feed_defer_done() and call again */
    FEED_CLOSE,                     /* flush what is queued, then close */
    FEED_WATCH,                     /* flush what is queued, then hand the
                                     * connection to the logger (watch.h) */
};

/* Which protocol a connection speaks (-B): decided by its first byte
 * (0x80: binary) unless forced. */
enum feed_proto {
    FEED_PROTO_AUTO = 0, FEED_PROTO_TEXT = 1, FEED_PROTO_BINARY = 2,    /* = -B's values */
};

struct feed {
    enum feed_state state;
    enum feed_proto proto;
    size_t          rscan;          /* leading unconsumed bytes known to hold no '\n' */
    size_t          vleft;          /* FEED_VALUE: bytes still to copy */
    int             vseg;           /* current value iovec */
    size_t          vsegoff;        /* offset in it */
    uint64_t        swallow;        /* FEED_SWALLOW: bytes left */
    bool            line_too_long;  /* closed for an overlong non-get line */
    int             prefetched;     /* requests ahead whose keys were prefetched */
};

/* A new connection's loop, protocol FEED_PROTO_AUTO (the caller may set
 * f->proto when -B forces one). */
void feed_init(struct feed *f);

/* Run the requests in buf[0..len), at most max_reqs request lines.
 * Returns the bytes consumed; *st says why it stopped. */
size_t feed_run(struct feed *f, struct proto_conn *pc, char *buf, size_t len,
                int max_reqs, enum feed_status *st);

/* The deferred request finished (err NULL = success): reply, and go back
 * to parsing. */
void feed_defer_done(struct feed *f, struct proto_conn *pc, const char *err);

/* FEED_VALUE: fill iov[0..max) with the item memory still to be written
 * (at most f->vleft bytes); returns the count. */
int  feed_value_iov(const struct feed *f, struct proto_conn *pc, struct iovec *iov, int max);
/* n bytes were written into the memory feed_value_iov() gave. */
void feed_value_advance(struct feed *f, struct proto_conn *pc, size_t n);

/* Is the connection between requests (nothing half-parsed)? */
static inline bool
feed_idle(const struct feed *f)
{
    return f->state == FEED_LINE;
}

#endif
