/*
 * ring.h -- a bounded single-producer single-consumer ring of records.
 *
 * One thread puts records (byte strings of 1..RING_RECORD_MAX bytes), one
 * other thread takes them, in order, without a lock: the producer owns
 * `head`, the consumer owns `tail`, each publishes its index with a
 * release store and reads the other's with an acquire load.  A record
 * that does not fit is refused (ring_put() returns false), never
 * overwritten: memory stays at the capacity given to ring_init().
 *
 * Layout: a record is a 4-byte length followed by its bytes, written
 * byte-wise modulo the capacity (a record may wrap around the end).
 *
 *      tail                      head
 *       v                         v
 *   ... [len|bytes....][len|bytes] ............ (free) ...
 *
 * Thread safety: ring_put() from one producer thread, ring_take() from one
 * consumer thread, at the same time; ring_used() from either.  init and
 * deinit while no other thread uses the ring.
 */
#ifndef MC_RING_H
#define MC_RING_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RING_RECORD_MAX 4096        /* longest record, bytes */

struct ring {
    char            *buf;
    size_t           cap;           /* bytes, a power of two */
    _Atomic size_t   head;          /* producer: bytes ever written */
    _Atomic size_t   tail;          /* consumer: bytes ever consumed */
};

/* Allocate a ring of at least cap bytes (rounded up to a power of two,
 * at least 2 * (RING_RECORD_MAX + 4)).  0 or -1 (out of memory). */
int    ring_init(struct ring *r, size_t cap);
void   ring_deinit(struct ring *r);

/* Producer: append one record, the concatenation of a[0..na) and
 * b[0..nb) (b may be NULL when nb is 0).  False, and nothing written,
 * when it does not fit or is empty or longer than RING_RECORD_MAX. */
bool   ring_put(struct ring *r, const void *a, size_t na, const void *b, size_t nb);

/* Consumer: copy the oldest record into out (RING_RECORD_MAX bytes) and
 * remove it; returns its length, 0 when the ring is empty. */
size_t ring_take(struct ring *r, void *out);

/* Bytes in use (records and their length words). */
size_t ring_used(struct ring *r);

#endif
