/*
 * obuf.c -- pending output of a connection (see obuf.h).
 */
#include "config.h"                 /* HAVE_DECL_MSG_NOSIGNAL */
#include "obuf.h"

#include <assert.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "item.h"

#define OBLOCK_SIZE 16384
#if HAVE_DECL_MSG_NOSIGNAL
#define SEND_FLAGS MSG_NOSIGNAL     /* a dead client must not raise SIGPIPE */
#else
#define SEND_FLAGS 0                /* SIGPIPE is ignored (platform_ignore_sigpipe) */
#endif
#ifndef IOV_MAX
#define IOV_MAX 1024
#endif

/* Bytes of text blocks allocated by every obuf (for "stats"
 * output_buf_bytes); touched only when a block is allocated or freed. */
static _Atomic uint64_t block_bytes;

uint64_t
obuf_mem_bytes(void)
{
    return atomic_load_explicit(&block_bytes, memory_order_relaxed);
}

static void
block_free(struct oblock *b)
{
    if (b == NULL)
        return;
    atomic_fetch_sub_explicit(&block_bytes, sizeof(*b) + b->size, memory_order_relaxed);
    free(b);
}

void
obuf_init(struct obuf *o)
{
    memset(o, 0, sizeof(*o));
}

static struct oblock *
block_new(size_t size)
{
    struct oblock *b = malloc(sizeof(*b) + size);
    if (b == NULL)
        return NULL;
    b->next = NULL;
    b->size = size;
    b->used = 0;
    atomic_fetch_add_explicit(&block_bytes, sizeof(*b) + size, memory_order_relaxed);
    return b;
}

static void
release_refs(struct obuf *o, int from)
{
    for (int i = from; i < o->nrefs; i++)
        item_release(o->refs[i]);
    o->nrefs = from;
}

void
obuf_reset(struct obuf *o)
{
    release_refs(o, 0);
    /* Keep the first block if it is a standard one; free the rest. */
    struct oblock *b = o->head, *keep = NULL;
    while (b != NULL) {
        struct oblock *n = b->next;
        if (keep == NULL && b->size == OBLOCK_SIZE) {
            keep = b;
            keep->next = NULL;
            keep->used = 0;
        } else {
            block_free(b);
        }
        b = n;
    }
    o->head = o->tail = keep;
    o->niov = 0;
    o->iov_done = 0;
    o->pending = 0;
    o->oom = false;
    if (o->iovcap > 256) {          /* a huge batch: give the memory back */
        free(o->iov);
        o->iov = NULL;
        o->iovcap = 0;
    }
    if (o->refcap > 256) {
        free(o->refs);
        o->refs = NULL;
        o->refcap = 0;
    }
}

void
obuf_deinit(struct obuf *o)
{
    obuf_reset(o);
    block_free(o->head);
    free(o->iov);
    free(o->refs);
    memset(o, 0, sizeof(*o));
}

static bool
iov_push(struct obuf *o, void *base, size_t len)
{
    if (o->niov == o->iovcap) {
        int cap = o->iovcap ? o->iovcap * 2 : 64;
        struct iovec *n = realloc(o->iov, (size_t)cap * sizeof(*n));
        if (n == NULL) {
            o->oom = true;
            return false;
        }
        o->iov = n;
        o->iovcap = cap;
    }
    o->iov[o->niov].iov_base = base;
    o->iov[o->niov].iov_len = len;
    o->niov++;
    o->pending += len;
    return true;
}

char *
obuf_reserve_slow(struct obuf *o, size_t n)
{
    struct oblock *t = o->tail;
    if (t == NULL || t->size - t->used < n) {
        size_t size = n > OBLOCK_SIZE ? n : OBLOCK_SIZE;
        struct oblock *b = block_new(size);
        if (b == NULL) {
            o->oom = true;
            return NULL;
        }
        if (t == NULL)
            o->head = b;
        else
            t->next = b;
        o->tail = t = b;
    }
    return t->data + t->used;
}

void
obuf_commit_slow(struct obuf *o, size_t used)
{
    struct oblock *t = o->tail;
    if (used == 0)
        return;
    assert(t != NULL && t->size - t->used >= used);
    char *p = t->data + t->used;
    /* Extend the last iovec when it ends exactly where this text starts. */
    if (o->niov > o->iov_done) {
        struct iovec *last = &o->iov[o->niov - 1];
        if ((char *)last->iov_base + last->iov_len == p) {
            last->iov_len += used;
            o->pending += used;
            t->used += used;
            return;
        }
    }
    if (iov_push(o, p, used))
        t->used += used;
}

void
obuf_add(struct obuf *o, const void *src, size_t n)
{
    if (n == 0)
        return;                     /* (src may then be NULL) */
    char *p = obuf_reserve(o, n);
    if (p == NULL)
        return;
    memcpy(p, src, n);
    obuf_commit(o, n);
}

void
obuf_printf(struct obuf *o, const char *fmt, ...)
{
    /* Most lines fit in 256 bytes; a longer one (a long path or listen
     * list in "stats settings") is measured and formatted again in full,
     * never cut: a line without its "\r\n" would desync the client. */
    size_t room = 256;
    for (int pass = 0; pass < 2; pass++) {
        char *p = obuf_reserve(o, room);
        if (p == NULL)
            return;
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(p, room, fmt, ap);
        va_end(ap);
        if (n < 0)
            return;
        if ((size_t)n < room) {
            obuf_commit(o, (size_t)n);
            return;
        }
        room = (size_t)n + 1;
    }
}

void
obuf_item(struct obuf *o, struct item *it)
{
    struct iovec seg[16];
    struct iovec *v = seg;
    int nseg = item_value_segments(it);
    if (nseg > 16) {
        v = malloc((size_t)nseg * sizeof(*v));
        if (v == NULL) {
            o->oom = true;
            item_release(it);
            return;
        }
    }
    int n = item_value_iov(it, v, nseg);
    if (o->nrefs == o->refcap) {
        int cap = o->refcap ? o->refcap * 2 : 16;
        struct item **r = realloc(o->refs, (size_t)cap * sizeof(*r));
        if (r == NULL) {
            o->oom = true;
            item_release(it);
            goto out;
        }
        o->refs = r;
        o->refcap = cap;
    }
    o->refs[o->nrefs++] = it;
    for (int i = 0; i < n; i++)
        if (v[i].iov_len > 0 && !iov_push(o, v[i].iov_base, v[i].iov_len))
            break;
out:
    if (v != seg)
        free(v);
}

void
obuf_consume(struct obuf *o, size_t n)
{
    o->pending -= n;
    size_t left = n;
    while (left > 0) {
        struct iovec *v = &o->iov[o->iov_done];
        if (left >= v->iov_len) {
            left -= v->iov_len;
            o->iov_done++;
        } else {
            v->iov_base = (char *)v->iov_base + left;
            v->iov_len -= left;
            left = 0;
        }
    }
    /* skip zero-length entries */
    while (o->iov_done < o->niov && o->iov[o->iov_done].iov_len == 0)
        o->iov_done++;
    if (o->iov_done == o->niov)
        obuf_reset(o);
}

long
obuf_flush(struct obuf *o, int fd)
{
    long total = 0;
    while (o->iov_done < o->niov) {
        int cnt = o->niov - o->iov_done;
        if (cnt > IOV_MAX)
            cnt = IOV_MAX;
        struct msghdr msg;
        memset(&msg, 0, sizeof(msg));
        msg.msg_iov = o->iov + o->iov_done;
        msg.msg_iovlen = (size_t)cnt;
        ssize_t n = sendmsg(fd, &msg, SEND_FLAGS);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return total;
            return -1;
        }
        total += n;
        obuf_consume(o, (size_t)n);
    }
    obuf_reset(o);
    return total;
}
