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
#include <sys/uio.h>

struct item;
struct oblock;

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
char *obuf_reserve(struct obuf *o, size_t n);
void  obuf_commit(struct obuf *o, size_t used);
/* printf-style text, any length. */
void obuf_printf(struct obuf *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Reference the value bytes of an item: takes over the caller's reference. */
void obuf_item(struct obuf *o, struct item *it);

static inline bool obuf_empty(const struct obuf *o) { return o->pending == 0; }

/* Write as much as the socket takes (writev).  Returns bytes written (>= 0),
 * or -1 on a socket error other than EAGAIN (errno set).  When everything
 * is out, the buffer is reset for reuse. */
long obuf_flush(struct obuf *o, int fd);

static inline void
obuf_str(struct obuf *o, const char *s)
{
    size_t n = 0;
    while (s[n]) n++;
    obuf_add(o, s, n);
}

#endif
