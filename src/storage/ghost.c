/*
 * ghost.c -- the ghost table of the S3-FIFO policy: fingerprints of the
 * keys recently evicted from probation without a hit (contract in
 * storage.h).  A key stored again while its ghost is remembered was
 * evicted too soon, so it goes straight into the main queue.
 *
 * Layout: buckets of 16 relaxed-atomic 32-bit words (one 64-byte cache
 * line): word 0 is the bucket's round-robin cursor, words 1..15 hold
 * fingerprints (the top 32 bits of the key hash, never 0).  The bucket is
 * chosen by the low bits of the hash.  No locks: a race between two
 * writers of one bucket at worst loses a ghost, which only costs a
 * probation stay.
 */
#include "storage.h"

#include <stdlib.h>

#include "platform.h"

#define GHOST_WAYS       16         /* words per bucket (cursor + 15) */
#define GHOST_BYTES_PER  128        /* one ghost per this many bytes of -m */

static _Atomic uint32_t *table;
static uint64_t mask;               /* buckets - 1 */

static inline uint32_t
fingerprint(uint64_t hv)
{
    return (uint32_t)(hv >> 32) | 1u;
}

int
ghost_setup(size_t mem_limit)
{
    uint64_t want = mem_limit / GHOST_BYTES_PER / (GHOST_WAYS - 1);
    uint64_t n = 64;                /* buckets: a power of two, <= want */
    while (n * 2 <= want && n < ((uint64_t)1 << 32))
        n <<= 1;
    /* Reserved, not allocated: its pages cost memory only as ghosts land
     * in them (a 1 TB -m reserves 32 GB and touches what evictions use). */
    table = platform_reserve(n * GHOST_WAYS * sizeof(*table));
    if (table == NULL)
        return -1;
    mask = n - 1;
    return 0;
}

void
ghost_teardown(void)
{
    platform_unreserve((void *)table, ghost_bytes());
    table = NULL;
    mask = 0;
}

size_t
ghost_bytes(void)
{
    return table == NULL ? 0 : (size_t)(mask + 1) * GHOST_WAYS * sizeof(*table);
}

void
ghost_add(uint64_t hv)
{
    if (table == NULL)
        return;
    _Atomic uint32_t *b = table + (hv & mask) * GHOST_WAYS;
    uint32_t way = atomic_fetch_add_explicit(&b[0], 1, memory_order_relaxed) % (GHOST_WAYS - 1);
    atomic_store_explicit(&b[1 + way], fingerprint(hv), memory_order_relaxed);
}

void
ghost_prefetch(uint64_t hv)
{
    if (table != NULL)      /* never touched yet: the hint is dropped, no fault */
        __builtin_prefetch((const void *)(table + (hv & mask) * GHOST_WAYS), 1);
}

bool
ghost_take(uint64_t hv)
{
    if (table == NULL)
        return false;
    _Atomic uint32_t *b = table + (hv & mask) * GHOST_WAYS;
    uint32_t fp = fingerprint(hv);
    for (int i = 1; i < GHOST_WAYS; i++) {
        uint32_t cur = atomic_load_explicit(&b[i], memory_order_relaxed);
        if (cur == fp &&
            atomic_compare_exchange_strong_explicit(&b[i], &cur, 0, memory_order_relaxed,
                                                    memory_order_relaxed))
            return true;
    }
    return false;
}
