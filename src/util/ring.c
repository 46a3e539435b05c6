/*
 * ring.c -- the lock-free SPSC record ring (ring.h).
 */
#include <stdlib.h>
#include <string.h>

#include "ring.h"

int
ring_init(struct ring *r, size_t cap)
{
    size_t c = 1;
    while (c < cap || c < 2 * (RING_RECORD_MAX + 4))
        c *= 2;
    r->buf = malloc(c);
    if (r->buf == NULL)
        return -1;
    r->cap = c;
    atomic_init(&r->head, 0);
    atomic_init(&r->tail, 0);
    return 0;
}

void
ring_deinit(struct ring *r)
{
    free(r->buf);
    r->buf = NULL;
    r->cap = 0;
}

/* Copy n bytes to ring offset pos (mod cap), wrapping. */
static void
copy_in(struct ring *r, size_t pos, const void *p, size_t n)
{
    size_t off = pos & (r->cap - 1);
    size_t first = r->cap - off < n ? r->cap - off : n;
    memcpy(r->buf + off, p, first);
    memcpy(r->buf, (const char *)p + first, n - first);
}

static void
copy_out(const struct ring *r, size_t pos, void *p, size_t n)
{
    size_t off = pos & (r->cap - 1);
    size_t first = r->cap - off < n ? r->cap - off : n;
    memcpy(p, r->buf + off, first);
    memcpy((char *)p + first, r->buf, n - first);
}

bool
ring_put(struct ring *r, const void *a, size_t na, const void *b, size_t nb)
{
    size_t n = na + nb;
    if (n == 0 || n > RING_RECORD_MAX)
        return false;
    size_t head = atomic_load_explicit(&r->head, memory_order_relaxed);
    size_t tail = atomic_load_explicit(&r->tail, memory_order_acquire);
    if (r->cap - (head - tail) < n + 4)
        return false;
    uint32_t len = (uint32_t)n;
    copy_in(r, head, &len, 4);
    copy_in(r, head + 4, a, na);
    if (nb > 0)
        copy_in(r, head + 4 + na, b, nb);
    atomic_store_explicit(&r->head, head + 4 + n, memory_order_release);
    return true;
}

size_t
ring_take(struct ring *r, void *out)
{
    size_t tail = atomic_load_explicit(&r->tail, memory_order_relaxed);
    size_t head = atomic_load_explicit(&r->head, memory_order_acquire);
    if (head == tail)
        return 0;
    uint32_t len;
    copy_out(r, tail, &len, 4);
    copy_out(r, tail + 4, out, len);
    atomic_store_explicit(&r->tail, tail + 4 + len, memory_order_release);
    return len;
}

size_t
ring_used(struct ring *r)
{
    size_t tail = atomic_load_explicit(&r->tail, memory_order_acquire);
    size_t head = atomic_load_explicit(&r->head, memory_order_acquire);
    return head - tail;
}
