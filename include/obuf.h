/*
 * obuf.h -- a connection's pending output: text copied into blocks plus
 * value bytes referenced in place inside items.
 *
 * Replies for a whole batch of pipelined requests accumulate here and go
 * out in as few writev() calls as possible.  Text is appended into 16 KB
 * blocks (contiguous appends share one iovec); values of large items are
 * referenced, not copied: obuf_item() takes over the caller's item
 * reference and drops it once those bytes are written (or on reset).
 *
 * Thread safety: none; an obuf belongs to one connection and its thread.
 */
#ifndef MC_OBUF_H
#define MC_OBUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "sysdeps.h"

struct item;

/* A block of copied text (internal to obuf.c; here for the inline
 * fast paths below). */
struct oblock {
    struct oblock *next;
    size_t         size;            /* bytes of data[] */
    size_t         used;            /* bytes appended */
    char           data[];
};

struct obuf {
    struct iovec  *iov;             /* pending output, in order */
    int            niov;            /* entries used */
    int            iovcap;          /* entries allocated */
    int            iov_done;        /* entries fully written */
    struct oblock *head;            /* text blocks, oldest first */
    struct oblock *tail;            /* block being appended to */
    struct item  **refs;            /* items whose bytes iov points into */
    int            nrefs, refcap;
    size_t         pending;         /* bytes not yet written */
    bool           oom;             /* an allocation failed; output truncated */
};

void obuf_init(struct obuf *o);
/* Drop everything pending and release item references; frees memory
 * beyond one retained block. */
void obuf_reset(struct obuf *o);
void obuf_deinit(struct obuf *o);

/* Append n bytes of text (copied). */
void obuf_add(struct obuf *o, const void *p, size_t n);
static inline void obuf_str(struct obuf *o, const char *s);
/* Reserve room for up to n bytes of text; write into the returned pointer,
 * then obuf_commit() the bytes actually used. NULL on OOM. */
static inline char *obuf_reserve(struct obuf *o, size_t n);
static inline void  obuf_commit(struct obuf *o, size_t used);
/* Their out-of-line parts: a new block; a new iovec. */
char *obuf_reserve_slow(struct obuf *o, size_t n);
void  obuf_commit_slow(struct obuf *o, size_t used);
/* printf-style text, any length. */
void obuf_printf(struct obuf *o, const char *fmt, ...) MC_PRINTF(2, 3);

/* Reference the value bytes of an item: takes over the caller's reference. */
void obuf_item(struct obuf *o, struct item *it);

/* Memory held by the text blocks of every obuf in the process, bytes
 * (any thread; "stats" output_buf_bytes). */
uint64_t obuf_mem_bytes(void);

static inline bool obuf_empty(const struct obuf *o) { return o->pending == 0; }

/* Write as much as the socket takes (writev).  Returns bytes written (>= 0),
 * or -1 on a socket error other than EAGAIN (errno set).  When everything
 * is out, the buffer is reset for reuse. */
long obuf_flush(struct obuf *o, int fd);
/* For writers other than obuf_flush (TLS): the pending output is
 * o->iov[o->iov_done .. o->niov); after writing n bytes of it, consume
 * them (item references are dropped and the buffer reset once all is
 * out). */
void obuf_consume(struct obuf *o, size_t n);

static inline char *
obuf_reserve(struct obuf *o, size_t n)
{
    struct oblock *t = o->tail;
    if (t != NULL && t->size - t->used >= n)
        return t->data + t->used;
    return obuf_reserve_slow(o, n);
}

static inline void
obuf_commit(struct obuf *o, size_t used)
{
    /* the text continues the last pending iovec: extend it */
    struct oblock *t = o->tail;
    if (used > 0 && o->niov > o->iov_done) {
        struct iovec *last = &o->iov[o->niov - 1];
        if ((char *)last->iov_base + last->iov_len == t->data + t->used) {
            last->iov_len += used;
            o->pending += used;
            t->used += used;
            return;
        }
    }
    obuf_commit_slow(o, used);
}

static inline void
obuf_str(struct obuf *o, const char *s)
{
    size_t n = 0;
    while (s[n]) n++;
    obuf_add(o, s, n);
}

#endif
