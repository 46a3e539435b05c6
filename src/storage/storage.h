/*
 * storage.h -- internals shared by the storage modules (slab.c, hash.c,
 * item.c, item_meta.c).  Nothing outside src/storage/ (except unit tests)
 * includes it; the protocol layer sees only include/item.h.
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
 *   crawl_lock (slab.c): one crawler pass or tick at a time, and the
 *                     crawler-only pacing fields of the classes.  Taken
 *                     with no other lock held, before the locks below.
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
 *   region_lock (slab.c) serialises growing the memory limit; it is taken
 *   before pool.lock and with no other lock held.
 *
 *   Never two class locks at once.  Code holding a class lock may only
 *   TRY a stripe lock (sweep, crawler, walk, page moves); on failure it
 *   skips the item.  The hash expander holds one stripe lock at a time (one
 *   bucket's migration), and no other lock.  Chained victims found under a
 *   class lock are unlinked and released after the class lock is dropped
 *   ("deferred"), so freeing their chunks (other classes) never nests class
 *   locks.
 *
 *   Bounded holds: nothing holds a lock for work that grows with the
 *   cache.  Scans of a class (CLOCK sweep, crawler, walk, stats sizes, page
 *   moves) handle one batch of chunks per class-lock hold (slab.c:
 *   SCAN_BATCH read-only, WORK_BATCH when chunks may be freed) and drop the
 *   lock in between; per-class stats are O(1).  No allocation (which may
 *   sweep) runs under a stripe lock: item_delta and append/prepend drop it,
 *   holding a reference on the old item, and check it again after.
 *
 * Reference counts: the hash table holds one reference on each linked
 * item (refcount 1 = only the table).  New references are taken only under
 * the item's stripe lock (lookups, item_delta, append/prepend) or its
 * class lock (walk); so a thread holding both, seeing refcount 1, may free
 * the item.  The count saturates: no new reference is taken at REF_MAX
 * (a lookup reports a miss); item_refs_high() says when it is past
 * REF_HIGH, so that callers copy instead of keeping one for long.
 *
 * Pages being moved (page_steal, slab.c): `moving` keeps other page moves
 * off a page; `draining` marks a page being emptied, whose free chunks
 * are kept off the free list and which the CLOCK hand skips, so the class
 * lock can be dropped between batches of evictions without new items
 * landing in it.
 */
#ifndef MC_STORAGE_H
#define MC_STORAGE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "item.h"
#include "stats.h"

#define PAGE_SHIFT  20
#define PAGE_SIZE   ((size_t)1 << PAGE_SHIFT)   /* slab page, bytes */
#define MAX_CLASSES 200                         /* ids 1..MAX_CLASSES-1 */
_Static_assert(MAX_CLASSES <= STATS_MAX_CLASSES, "per-class stats cover every class");
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
#define IF_STALE    0x40    /* meta: invalidated (md I / ms I), served with X */
#define IF_WON      0x80    /* meta: a client was told W (recache win) */

/* The top bits of atime: flags kept across atime updates (set_atime()
 * preserves them; item_atime() masks them).  atime itself is at most 2^30
 * seconds after start.
 *   ATIME_BINKEY: the key was given in base64 (meta b) when the item was
 *     stored; meta replies return it base64.
 *   ATIME_SMALL: the chunk is in its class's probation queue (S3-FIFO's
 *     small FIFO, see slab.c "Eviction"): set by slab_alloc() under the
 *     class lock together with the queue entry; cleared (atomic AND, whoever
 *     clears it decrements the class's probation count) on promotion, on
 *     unlink and when a never-linked chunk is freed. */
#define ATIME_BINKEY 0x80000000u
#define ATIME_SMALL  0x40000000u
#define ATIME_FLAGS  (ATIME_BINKEY | ATIME_SMALL)

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
/* Where slab_alloc() puts the new chunk (policy s3fifo; with clock every
 * chunk is in main). */
enum slab_q {
    SQ_NONE,        /* not an item (data chunk of a chained item) */
    SQ_SMALL,       /* a new item: on probation, marked ATIME_SMALL */
    SQ_MAIN,        /* an item straight into main (restored as such) */
    SQ_GHOST,       /* as SQ_MAIN, because its key was in the ghost table
                     * (counted as a ghost hit) */
};
/* A chunk of class id with refcount 1 and iflags 0, or NULL when there is
 * no memory (the free list, the pool, a page from another class, up to
 * two CLOCK laps of evictions, or one lap of reclaiming with -M, all came
 * up empty; counted as outofmemory).  May evict (probation first when it
 * is over its share) or move a page.  hv: the hash of the key the item
 * will hold (SQ_SMALL tags its probation entry with it).  atime is 0, or
 * ATIME_SMALL on probation: callers set the time with an atomic OR.
 * Never blocks on stripe locks; callers hold none (a sweep may take a
 * while). */
struct item *slab_alloc(unsigned id, uint64_t hv, enum slab_q q);
/* Item ch's ATIME_SMALL mark was cleared (by whoever's atomic AND found
 * it set): uncount it; promoted: it went to main (an overwrite of a key
 * in main), else it was unlinked. */
void slab_small_unmarked(const struct item *ch, bool promoted);
/* Return a chunk (refcount 0, unlinked) to its class (its free list, or
 * off it if its page is being emptied). */
void slab_free(struct item *chunk);
unsigned slab_class_of(const void *p);
int  slab_set_mem_limit(size_t bytes);
void slab_stats(struct item_global_stats *s);
/* Zero the cumulative per-class counters ("stats reset"). */
void slab_stats_reset(void);
/* item_class_stats(): O(1), the class lock held briefly. */
bool slab_class_stats(unsigned id, struct item_class_stats *s);
/* Count the removal of a linked item of class id by a sweep: reason 0
 * evicted alive by the main hand, 1 reclaimed dead (expired/flushed) by a
 * sweep, 2 reclaimed dead by the crawler, 3 evicted alive from probation,
 * 4 evicted alive to move its page.  iflags/exptime: the item's; idle:
 * seconds since its last access (memcached's evicted_time, kept for the
 * last item evicted alive). */
void slab_count_evict(unsigned id, int reason, uint8_t iflags, rel_time_t exptime,
                      rel_time_t idle);
/* Debug builds (MC_DEBUG_LOCKS, on in sanitizer builds): is the lock of
 * chunk's class held (by someone)?  A trylock, so too costly for the
 * request path. */
bool slab_lock_held(const void *chunk);
/* Linked-item accounting of class id (dir +1 link, -1 unlink). */
void slab_count_link(unsigned id, int64_t bytes, int dir);
/* A linked collection of class id grew (shrank) by bytes of elements. */
void slab_count_bytes(unsigned id, int64_t bytes);
/* An item of class id was linked with an old atime (snapshot restore):
 * lower the class's oldest-atime estimate (the `age` stat) to it. */
void slab_note_atime(unsigned id, rel_time_t atime);
enum item_reassign_status slab_reassign(int src, int dst);
/* Background maintenance: one automove decision (mode 1/2). */
void slab_automove_tick(int mode);
/* Scan every page once, reclaiming expired/flushed items, and publish each
 * class's oldest atime (the `age` stat); schedules each class's next pass
 * as a paced pass would.  Returns items reclaimed. */
uint64_t slab_crawl(void);
/* The paced crawler, once a second on the maintenance thread: crawls the
 * classes that are due (crawl_due(), a request, or a flush whose effective
 * time has come: flush_seq changes with every item_flush(), flush_eff is
 * its effective time) and schedules their next pass (crawl_wait()).
 * Returns items reclaimed. */
uint64_t slab_crawl_tick(uint64_t flush_seq, rel_time_t flush_eff);
/* Ask for a pass over class id (0: all) at the next tick. */
void slab_crawl_request(unsigned id);
/* An item of class id was given exptime (link, touch): counts it and
 * lowers the class's earliest-expiry hint.  No-op for exptime 0. */
void slab_note_exptime(unsigned id, rel_time_t exptime);

/* Crawler pacing (slab.c; doc/storage.md "Expiry, crawler, flush").  After
 * a pass over a class, its live items are counted by time left to expiry
 * in CRAWL_NBUCKETS buckets: 2 s wide up to 60 s, then 60 s wide up to
 * CRAWL_HORIZON.  The next pass is due when 1/CRAWL_SHARE of the items
 * seen (at least one) will have expired, but at least CRAWL_WAIT_MIN and
 * at most crawl_wait_max() later.  Between passes a class is also due
 * once an exptime given since its last pass began has passed
 * (exp_hint) if at least 1/CRAWL_SHARE of its items (at least one) were
 * given one meanwhile.  The pure functions below make these decisions. */
#define CRAWL_FINE_STEP   2u        /* secs, buckets below CRAWL_FINE_END */
#define CRAWL_FINE_END    60u
#define CRAWL_COARSE_STEP 60u       /* secs, buckets up to CRAWL_HORIZON */
#define CRAWL_HORIZON     3600u     /* secs: histogram span, longest wait */
#define CRAWL_NBUCKETS    (CRAWL_FINE_END / CRAWL_FINE_STEP + \
                           (CRAWL_HORIZON - CRAWL_FINE_END) / CRAWL_COARSE_STEP)
#define CRAWL_WAIT_MIN    2u        /* secs between passes over a class, at least */
#define CRAWL_SHARE       100u      /* a pass is worth it for 1% of the items */
#define CRAWL_IDLE_RATE   20000u    /* chunks/s an idle cache's passes read, at most */
struct crawl_pass {
    uint64_t checked;               /* linked items looked at */
    uint64_t reclaimed;
    uint64_t soon[CRAWL_NBUCKETS];  /* live items left, by time to expiry
                                     * (dead ones still in use: soon[0]) */
};
/* Bucket of an item expiring in `left` secs; CRAWL_NBUCKETS beyond the
 * horizon. */
unsigned crawl_bucket(rel_time_t left);
/* Secs from the pass to the end of bucket b (all its items expired). */
rel_time_t crawl_bucket_end(unsigned b);
/* The longest wait between passes over a class: total_chunks (all classes)
 * / CRAWL_IDLE_RATE, within [CRAWL_WAIT_MIN, CRAWL_HORIZON], so passes over
 * an idle cache read at most CRAWL_IDLE_RATE chunks/s whatever its size
 * (and a cache under 40,000 chunks is crawled every 2 s, as before). */
rel_time_t crawl_wait_max(uint64_t total_chunks);
/* Secs from the end of pass r to the next pass over its class. */
rel_time_t crawl_wait(const struct crawl_pass *r, uint64_t total_chunks);
/* Is a class due at now?  next: its scheduled pass; hint_exp: the earliest
 * exptime given to one of its items since its last pass began (ATIME_NONE
 * = none); hint_n: how many were given one since; items: items linked. */
bool crawl_due(rel_time_t now, rel_time_t next, rel_time_t hint_exp,
               uint64_t hint_n, uint64_t items);
#define ATIME_NONE  UINT32_MAX      /* "no time": `oldest`, exp_hint */
/* Walk: fn for each live item with a reference held (no lock held). */
uint64_t slab_walk(item_walk_fn fn, void *arg);
/* One bounded step of a walk: visits at most one batch (256 items) from
 * *cursor (0 = start) and advances it; ITEM_WALK_DONE when finished (or
 * when fn returned non-zero).  Returns the items visited.  Pages moved
 * between classes between steps may make a walk miss or repeat items. */
uint64_t slab_walk_step(uint64_t *cursor, item_walk_fn fn, void *arg);
/* hist[ceil(total size / 32)]++ for every live item (the last bucket
 * takes everything larger). */
void slab_sizes(uint64_t *hist, size_t nbuckets);

/* ---- ghost.c: keys recently evicted from probation ----
 * A fixed table of 32-bit fingerprints of key hashes, 15 per 64-byte
 * bucket (plus the bucket's cursor), about one per 128 bytes of the
 * memory limit at setup (address space reserved; pages are touched as
 * ghosts land); lock-free (relaxed atomics): a lost race only loses or
 * keeps one ghost.  Replacement within a bucket is round-robin by its
 * cursor, so a bucket forgets its oldest ghost first.  ghost_bytes(): the
 * table's size. */
int  ghost_setup(size_t mem_limit);
void ghost_teardown(void);
void ghost_add(uint64_t hv);
/* Was hv's key evicted from probation recently?  Forgets it if so. */
bool ghost_take(uint64_t hv);
/* A hint: ghost_take(hv) will be asked soon (a store of that key). */
void ghost_prefetch(uint64_t hv);
size_t ghost_bytes(void);

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
/* VM_EVICT: a dead item is reclaimed, an item on probation is skipped
 * (it is decided by VM_SMALL), a live one loses its CLOCK reference bit
 * if set (second chance), else is evicted.  VM_SMALL (the oldest
 * probation entry): dead -> reclaimed; hit since stored -> V_PROMOTE (its
 * reference bit cleared; the caller clears the mark); not yet linked, in
 * use or its stripe busy -> V_REQUEUE; else evicted and its key hash put
 * in the ghost table.  VM_RECLAIM (-M) and VM_CRAWL: only dead items
 * (VM_CRAWL counts them as crawler_reclaimed).  VM_FORCE (page moves): any
 * item nobody else holds. */
enum victim_mode { VM_EVICT, VM_RECLAIM, VM_CRAWL, VM_FORCE, VM_SMALL };
enum victim_res  { V_SKIP, V_FREED, V_DEFERRED, V_REQUEUE, V_PROMOTE };
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

/* ---- collections (coll.c; doc/collections.md "Design") ----
 * A collection is one item (its head) whose nbytes carries NB_COLL; its
 * value holds struct coll (coll.c), 8-aligned.  Elements and internal
 * nodes are IF_DATA chunks whose h_next is the head, so the sweeps and
 * page moves evict the whole collection through any of its chunks. */
#define NB_COLL 0x80000000u
static inline bool is_coll(const struct item *it) { return (it->nbytes & NB_COLL) != 0; }
/* Element bytes of collection `it` counted in the stats while linked
 * (changed only under its stripe lock, by item_account()). */
size_t coll_acct_bytes(const struct item *it);
/* item_free() of a collection head: free its elements and return true
 * (the caller frees the head), or queue it for coll_reap() when freeing
 * would take long and return false. */
bool coll_free_elems(struct item *it);
/* Snapshots (item_copy_image, item_restore on ITEM_MARK_COLL): the
 * collection's image (attributes and elements, format in coll.c) after its
 * key, taken under the collection's lock (never torn); 1, 0 (gone), or -1
 * with *need.  coll_restore: an unlinked collection rebuilt from an image
 * (one reference), or NULL with *st (ITEM_ETYPE: a malformed image). */
int coll_copy_image(struct item *it, struct item_image *img, void *buf, size_t cap,
                    size_t *need);
struct item *coll_restore(const char *key, size_t nkey, uint32_t flags, rel_time_t exptime,
                          const void *img, uint32_t n, enum item_status *st);
/* Fill img with t's metadata (no key, no value). */
void item_image_meta(struct item *t, struct item_image *img);
/* Free queued collections, up to max elements' worth (no lock held). */
void coll_reap(uint32_t max);
/* slab_alloc(), and when it finds no memory while evicted collections
 * wait in coll_reap()'s queue, free them and try once more (no lock
 * held but, in coll.c, the collection's own). */
struct item *slab_alloc_reap(unsigned id, uint64_t hv, enum slab_q q);
/* item.c helpers for coll.c (each takes the stripe lock itself): */
struct item *item_alloc_coll(const char *key, size_t nkey, uint32_t flags,
                             rel_time_t exptime, uint32_t nbytes, enum item_status *st);
struct item *item_get_any(const char *key, size_t nkey);   /* a hit, any type */
bool item_is_linked(const struct item *it);
/* Unlink it if it is still linked (true). */
bool item_unlink_this(struct item *it);
/* *acct += delta, and the stats too while it is linked. */
void item_account(struct item *it, int64_t delta, _Atomic uint64_t *acct);
void item_set_exptime(struct item *it, rel_time_t exptime);
/* Tests: run one crawler pass now; returns items reclaimed. */
uint64_t storage_crawl_once(void);
/* Tests (crawler thread off): run one tick of the paced crawler now, as
 * the maintenance thread does once a second; returns items reclaimed. */
uint64_t storage_crawl_tick(void);

#endif
