/*
 * storage.h -- internals shared by the storage modules (slab.c, hash.c,
 * item.c).  Nothing outside src/storage/ (except unit tests) includes it;
 * the protocol layer sees only include/item.h.
 *
 * Item layout (one slab chunk; 8-byte aligned; offsets in bytes):
 *
 *   0        8        12       16       20       24   26   27   28       36
 *   +--------+--------+--------+--------+--------+----+----+----+--------+-----+-------+
 *   | h_next |exptime | atime  | flags  | nbytes |ref |nkey|ifl | cas    | key | value |
 *   +--------+--------+--------+--------+--------+----+----+----+--------+-----+-------+
 *    hash     rel secs  rel secs client   value   u16  u8   u8   u64, only
 *    chain    0=never   (bumped  flags    length  atomic    atomic when
 *                        <=1/60s)         (no \r\n)             use_cas
 *
 *   Header: 28 bytes without CAS, 36 with.  The key follows the header
 *   (no NUL), the value follows the key (no "\r\n": the protocol layer adds
 *   it).  A 16-byte key + 100-byte value needs 36+16+100 = 152 bytes: one
 *   152-byte chunk (memcached: 48+8+17+suffix+102 -> 192-byte chunk).
 *
 *   Other uses of the same memory:
 *   - free chunk (IF_FREE): h_next = next free chunk, f_prev (overlaying
 *     exptime/atime) = previous free chunk: a doubly linked free list per
 *     class, so a page being moved can pull its free chunks out in O(1).
 *   - data chunk of a chained item (IF_DATA): h_next = owning head item;
 *     value bytes start at DATA_HDR (32).
 *   - chained head (IF_CHAINED): after the key, padded to 8, a table of
 *     item_value_segments() data chunk pointers; nbytes is the total value
 *     length.  All data chunks but the last have the last class's size;
 *     the last one is the best-fitting class for the remaining bytes.
 *
 * Pages: 1 MB, 1 MB-aligned, carved from large mmap'd regions.  A side
 * table (struct page per page, one array per region) maps a chunk address
 * to its page and so to its class; pages hold no in-band header, so two
 * 512 KB chunks fit in one page.
 *
 * LOCKS AND THEIR ORDER (the only place this is written down):
 *
 *   hash stripe lock  stripes[hv & stripe_mask] (hash.c): the hash chains
 *                     of buckets mapping to the stripe, h_next of items in
 *                     them, IF_LINKED transitions, exptime/cas changes of
 *                     linked items.
 *     -> slab class lock  class[id].lock (slab.c): the class's free list,
 *                     page list, clock hand, IF_FREE transitions of its
 *                     chunks; taking new references through a page scan
 *                     (walk, crawler) happens under it.
 *       -> page pool lock  pool.lock (slab.c): free page slots, page counts.
 *
 *   Never two class locks at once.  Code holding a class lock may only
 *   TRY a stripe lock (sweep, crawler, page moves); on failure it skips the
 *   item.  The expander takes all stripe locks in index order, holding no
 *   other lock.  Chained victims found under a class lock are unlinked and
 *   released after the class lock is dropped ("deferred"), so freeing their
 *   chunks (other classes) never nests class locks.
 *
 * Reference counts: the hash table holds one reference on each linked
 * item (refcount 1 = only the table).  New references are taken only under
 * the item's stripe lock (lookups) or its class lock (walk); so a thread
 * holding both, seeing refcount 1, may free the item.
 */
#ifndef MC_STORAGE_H
#define MC_STORAGE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "item.h"

#define PAGE_SHIFT  20
#define PAGE_SIZE   ((size_t)1 << PAGE_SHIFT)   /* slab page, bytes */
#define MAX_CLASSES 200                         /* ids 1..MAX_CLASSES-1 */
#define DATA_HDR    32                          /* data chunk header */
#define REF_MAX     0xFFF0                      /* refcount saturation */
#define REF_HIGH    (REF_MAX / 2)               /* item_refs_high() above this */

/* iflags bits */
#define IF_LINKED   0x01    /* in the hash table */
#define IF_CHAINED  0x02    /* head of a chained (large) item */
#define IF_FREE     0x04    /* chunk is free */
#define IF_REF      0x08    /* CLOCK reference bit (set by hits) */
#define IF_FETCHED  0x10    /* read at least once since stored */
#define IF_DATA     0x20    /* data chunk of a chained item */

struct item {
    struct item *h_next;            /* hash chain | free next | data owner */
    union {
        struct {
            _Atomic uint32_t exptime;   /* rel secs, 0 = never */
            _Atomic uint32_t atime;     /* last access, rel secs */
        };
        struct item *f_prev;        /* free list prev (IF_FREE only) */
    };
    uint32_t flags;                 /* client flags */
    uint32_t nbytes;                /* value length, bytes */
    _Atomic uint16_t refcount;      /* references, incl. the table's */
    uint8_t nkey;                   /* key length */
    _Atomic uint8_t iflags;         /* IF_* */
    char data[];                    /* [cas] key value */
};
#define ITEM_HDR_BASE 28
_Static_assert(offsetof(struct item, data) == ITEM_HDR_BASE, "item header");

/* Engine-wide settings fixed at setup (read-only afterwards). */
struct storage_conf {
    struct item_options o;
    uint32_t hdr;                   /* 28 or 36 */
    uint32_t cas_len;               /* 0 or 8 */
};
extern struct storage_conf sconf;

/* ---- slab.c ---- */
int  slab_setup(const struct item_options *o, char *err, size_t errlen);
void slab_teardown(void);
/* Smallest class holding size bytes, 0 if none. */
unsigned slab_class_for(size_t size);
unsigned slab_nclasses(void);
uint32_t slab_chunk_size(unsigned id);
unsigned slab_largest(void);
/* A chunk of class id with refcount 1 and iflags 0, or NULL with *st =
 * ITEM_ENOMEM.  May evict or move a page.  Never blocks on stripe locks. */
struct item *slab_alloc(unsigned id);
/* Return a chunk (refcount 0, unlinked) to its class. */
void slab_free(struct item *chunk);
unsigned slab_class_of(const void *p);
int  slab_set_mem_limit(size_t bytes);
void slab_stats(struct item_global_stats *s);
/* Zero the cumulative per-class counters ("stats reset"). */
void slab_stats_reset(void);
bool slab_class_stats(unsigned id, struct item_class_stats *s);
void slab_count_evict(unsigned id, int reason, uint8_t iflags, rel_time_t exptime);
/* For assertions: is the lock of chunk's class held (by someone)? */
/* Debug builds (MC_DEBUG_LOCKS, on in sanitizer builds): is the chunk's
 * class lock held?  A trylock, so too costly for the request path. */
bool slab_lock_held(const void *chunk);
/* Linked-item accounting of class id (dir +1 link, -1 unlink). */
void slab_count_link(unsigned id, int64_t bytes, int dir);
enum item_reassign_status slab_reassign(int src, int dst);
/* Background maintenance: one automove decision (mode 1/2). */
void slab_automove_tick(int mode);
/* Scan every page once, reclaiming expired/flushed items. */
uint64_t slab_crawl(void);
/* Walk: fn for each live item with a reference held.  */
uint64_t slab_walk(item_walk_fn fn, void *arg);
/* One bounded step of a walk: visits at most one batch (256 items) from
 * *cursor (0 = start) and advances it; ITEM_WALK_DONE when finished (or
 * when fn returned non-zero).  Returns the items visited.  Pages moved
 * between classes between steps may make a walk miss or repeat items. */
uint64_t slab_walk_step(uint64_t *cursor, item_walk_fn fn, void *arg);
void slab_sizes(uint64_t *hist, size_t nbuckets);

/* ---- hash.c ---- */
int  hash_setup(uint32_t power, bool expand);
void hash_teardown(void);
uint64_t hash_key(const char *key, size_t nkey);
void hash_lock(uint64_t hv);
void hash_unlock(uint64_t hv);
bool hash_trylock(uint64_t hv);
struct item *hash_find_locked(const char *key, size_t nkey, uint64_t hv);
/* Start loading the stripe lock and bucket of hv into the cache (no lock
 * needed; a hint). */
void hash_prefetch(uint64_t hv);
/* Prefetch the first item of hv's chain (takes the stripe lock briefly). */
void hash_prefetch_chain(uint64_t hv);
void hash_insert_locked(struct item *it, uint64_t hv);
void hash_delete_locked(struct item *it, uint64_t hv);
void hash_items_changed(uint64_t nitems);
void hash_stats(uint64_t *bytes, uint32_t *power, bool *expanding);
/* Debug: abort if a table entry is not a linked, referenced item. */
void hash_check(void);

/* ---- item.c (called by slab.c with a class lock held) ---- */
enum victim_mode { VM_EVICT, VM_RECLAIM, VM_CRAWL, VM_FORCE };
enum victim_res  { V_SKIP, V_FREED, V_DEFERRED };
/* Chunk c belongs to the class whose lock the caller holds.  Tries to get
 * rid of the item owning it (per mode).  V_FREED: c is now unlinked with
 * refcount 0 and not on any list (the caller owns the chunk).
 * V_DEFERRED: the owning item was unlinked and *defer holds its reference
 * (release it after dropping the class lock).  V_SKIP: nothing done. */
enum victim_res item_victim_locked(struct item *c, enum victim_mode mode,
                                   struct item **defer);
bool item_is_live(const struct item *it, rel_time_t now);
uint64_t item_hv(const struct item *it);
size_t item_total_size(const struct item *it);
/* Bytes of header + key for a non-chained item (tests). */
static inline size_t item_overhead(size_t nkey) { return sconf.hdr + nkey; }
/* Tests: run one crawler pass now; returns items reclaimed. */
uint64_t storage_crawl_once(void);

#endif
