/*
 * slab.c -- page pool, slab classes, CLOCK eviction sweep, page moves,
 * crawler and walk scans.  Locks and their order: storage.h.
 *
 * Memory accounting: every page assigned to a class counts against
 * mem_limit (total_malloced = assigned pages x 1 MB).  The hash table and
 * the per-page side table (struct page, 24 bytes per MB) are outside it.
 *
 * Bounded lock holds: no path holds a class lock for more than one batch
 * of chunks (SCAN_BATCH chunks only read, WORK_BATCH chunks that may be
 * freed), whatever the size of the cache.  Longer jobs (sweeps, page
 * moves, crawler, walk, stats sizes) drop the lock between batches.
 * Per-class statistics read O(1) state; the `age` stat comes from the
 * oldest atime the last full crawler pass or CLOCK lap saw (`oldest`).
 */
#include "config.h"                 /* HAVE_DECL_MADV_DONTNEED */
#include "storage.h"

#include <assert.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/mman.h>

#include "log.h"
#include "platform.h"

#define MAX_REGIONS 64
#define MIN_PAGES   2
#define SCAN_BATCH  4096            /* chunks read per class-lock hold */
#define WORK_BATCH  512             /* chunks swept/crawled/evicted per hold */
#define MAXDEFER    32              /* chained victims released per batch */
/* The class ladder's finer band: values around 1 KB and above waste at
 * most 8% of their chunk instead of 25%.  Only there: every class holds
 * at least a page once used, so a finer ladder everywhere would spread a
 * small cache's pages over too many classes (doc/storage.md). */
#define LADDER_FINE       1.08
#define LADDER_FINE_FROM  512u
#define LADDER_FINE_TO    16384u

/* Side table entry of one 1 MB page. */
struct page {
    char *base;                     /* 1 MB-aligned start */
    _Atomic uint8_t cls;            /* owning class, 0 = in the pool */
    /* idx and moving are written under the owning class's lock but read
     * by page_ours_locked() under another class's lock when the page has
     * moved on meanwhile (the cls check then fails): atomics, so that
     * stale read is a defined one. */
    _Atomic bool moving;            /* page_steal works on it (class lock) */
    bool draining;                  /* being emptied: no new items (class lock) */
    _Atomic uint32_t idx;           /* index in class pages[] (class lock) */
    struct page *next;              /* pool free list (pool lock) */
};

/* A large mmap'd reservation carved into pages. */
struct region {
    char *map; size_t maplen;       /* as mmap'd */
    char *base;                     /* first aligned page */
    uint32_t npages;
    struct page *pages;             /* side table, npages entries */
};
static struct region regions[MAX_REGIONS];  /* [0, nregions) immutable */
static _Atomic unsigned nregions;

struct slab_class {
    pthread_mutex_t lock;           /* everything not atomic below */
    uint32_t size;                  /* chunk size, bytes */
    uint32_t perpage;               /* chunks per page */
    struct page **pages;            /* pages owned */
    uint32_t npages, cap;
    _Atomic uint32_t npages_pub;    /* copy of npages for lock-free peeks */
    struct item *free_head;         /* doubly linked free list */
    uint64_t nfree;
    uint32_t hand_page, hand_chunk; /* CLOCK hand */
    rel_time_t lap_idle;            /* longest idle time of an item the hand
                                     * met in this lap (when it met it) */
    bool lap_seen;                  /* the hand met an item in this lap */
    uint32_t steal_next;            /* next page to try moving away */
    uint32_t ndraining;             /* pages being emptied (page_steal) */
    /* The `age` stat is now - oldest: the atime of the oldest item the last
     * complete crawler pass left in place, or (from a CLOCK lap) now minus
     * the longest idle time of the items the hand met.  ATIME_NONE: no item
     * seen. */
    _Atomic rel_time_t oldest;
    /* statistics (relaxed atomics, any thread) */
    _Atomic uint64_t number, requested;
    _Atomic uint64_t evicted, evicted_nonzero, evicted_unfetched, evicted_active;
    _Atomic uint64_t reclaimed, expired_unfetched, crawler_reclaimed, outofmemory;
    _Atomic uint64_t crawler_checked;   /* linked items the crawler looked at */
    _Atomic rel_time_t evicted_time;    /* idle secs of the last item evicted alive */
    /* Crawler pacing (see slab_crawl_tick).  Written by any thread: */
    _Atomic uint64_t ttl_set;       /* items given an exptime (linked or
                                     * touched), ever */
    _Atomic rel_time_t exp_hint;    /* earliest such exptime since the
                                     * class's last pass began (ATIME_NONE) */
    _Atomic bool crawl_asked;       /* item_crawl_request() */
    /* Crawler only (crawl_lock): */
    rel_time_t crawl_next;          /* next pass due (0: at the first tick) */
    uint64_t ttl_mark;              /* ttl_set when the last pass began */
    _Atomic uint64_t allocs;        /* slab_alloc calls (automove input) */
    _Atomic uint64_t pressure;      /* allocations that had to evict or
                                     * failed (not page-move evictions) */
    /* automove bookkeeping (automove thread only) */
    uint64_t am_last;               /* pressure at last tick */
    uint32_t am_quiet;              /* ticks without evictions */
    uint64_t am_allocs;             /* allocs at last tick */
    uint32_t am_idle;               /* ticks without allocations */
    /* Probation queue (S3-FIFO's small FIFO; see "Eviction" below): a
     * FIFO of segments of QSEG entries, oldest at q_head[q_hi], newest at
     * q_tail[q_ti - 1], each entry a chunk address with 16 bits of its
     * key's hash in the top bits (a tag telling incarnations of a reused
     * chunk apart).  Class lock. */
    struct qseg *q_head, *q_tail, *q_spare;
    uint32_t q_hi, q_ti;
    uint64_t q_len, q_nseg;
    _Atomic uint64_t nsmall;        /* chunks marked ATIME_SMALL */
    _Atomic uint64_t promoted;      /* moved from probation to main */
    _Atomic uint64_t evicted_small; /* evicted from probation (to the ghost) */
    _Atomic uint64_t evicted_main;  /* evicted by the main CLOCK hand */
    _Atomic uint64_t evicted_move;  /* evicted to move their page */
    _Atomic uint64_t ghost_hits;    /* stored straight into main */
    uint32_t am_busy;               /* consecutive ticks with pressure */
    double am_turn;                 /* pressure per page per tick, smoothed */
    /* published by the automove tick for slab_alloc's page stealing */
    _Atomic uint8_t am_pub;         /* AM_IDLE or 0 */
    _Atomic uint64_t am_amark;      /* allocs at the last tick */
};

static struct slab_class classes[MAX_CLASSES];
static unsigned nclasses;                   /* ids 1..nclasses */

/* pool.lock: free page slots and the page counts. */
static struct {
    pthread_mutex_t lock;
    struct page *free;              /* unassigned page slots */
    uint64_t assigned;              /* pages owned by classes */
    uint64_t limit;                 /* max assigned pages */
    uint64_t slots;                 /* page slots in all regions */
} pool = { .lock = PTHREAD_MUTEX_INITIALIZER };

/* region_lock: serialises region_add() (taken before pool.lock). */
static pthread_mutex_t region_lock = PTHREAD_MUTEX_INITIALIZER;

/* crawl_lock: one crawler pass (or scheduler tick) at a time, and the
 * crawler-only fields of the classes.  Taken before any stripe or class
 * lock (storage.h). */
static pthread_mutex_t crawl_lock = PTHREAD_MUTEX_INITIALIZER;
static uint64_t crawl_flush_seen;           /* flush seq already crawled for */
static _Atomic uint64_t crawler_starts;     /* ticks (or requests) that crawled */

static _Atomic int move_running;            /* a reassign is in progress */
static _Atomic uint64_t slabs_moved;

/* ---------- regions and pages ---------- */

/* Reserve address space for n pages plus one for alignment and add them to
 * the pool.  region_lock held.  The mmap, the side table and its page list
 * are made without the pool lock, which is taken only to splice the list
 * in: growing by many GB (cache_memlimit) never stalls allocations. */
static int
region_add(uint32_t n)
{
    unsigned r = atomic_load(&nregions);
    if (r == MAX_REGIONS || n == 0)
        return -1;
    size_t len = (size_t)n * PAGE_SIZE + PAGE_SIZE;
    char *m = platform_reserve(len);
    if (m == NULL)
        return -1;
    struct page *pg = calloc(n, sizeof(*pg));
    if (pg == NULL) {
        platform_unreserve(m, len);
        return -1;
    }
    char *base = (char *)(((uintptr_t)m + PAGE_SIZE - 1) & ~(uintptr_t)(PAGE_SIZE - 1));
    for (uint32_t i = 0; i < n; i++) {
        pg[i].base = base + (size_t)i * PAGE_SIZE;
        pg[i].next = i + 1 < n ? &pg[i + 1] : NULL;
    }
    regions[r] = (struct region){ m, len, base, n, pg };
    pthread_mutex_lock(&pool.lock);
    pg[n - 1].next = pool.free;
    pool.free = &pg[0];
    pool.slots += n;
    atomic_store(&nregions, r + 1);     /* publishes regions[r] to page_of() */
    pthread_mutex_unlock(&pool.lock);
    return 0;
}

static struct page *
page_of(const void *p)
{
    unsigned n = atomic_load_explicit(&nregions, memory_order_acquire);
    for (unsigned r = 0; r < n; r++) {
        const char *b = regions[r].base;
        if ((const char *)p >= b && (const char *)p < b + (size_t)regions[r].npages * PAGE_SIZE)
            return &regions[r].pages[((const char *)p - b) >> PAGE_SHIFT];
    }
    return NULL;
}

unsigned
slab_class_of(const void *p)
{
    struct page *pg = page_of(p);
    return pg ? atomic_load_explicit(&pg->cls, memory_order_relaxed) : 0;
}

/* A page slot if under the limit, counted as assigned. */
static struct page *
pool_get(void)
{
    struct page *p = NULL;
    pthread_mutex_lock(&pool.lock);
    if (pool.assigned < pool.limit && pool.free != NULL) {
        p = pool.free;
        pool.free = p->next;
        pool.assigned++;
    }
    pthread_mutex_unlock(&pool.lock);
    return p;
}

/* Give a page back; its memory is returned to the OS. */
static void
pool_put(struct page *p)
{
    atomic_store(&p->cls, 0);
#if HAVE_DECL_MADV_DONTNEED
    madvise(p->base, PAGE_SIZE, MADV_DONTNEED);
#endif                              /* else the page keeps its memory */
    pthread_mutex_lock(&pool.lock);
    p->next = pool.free;
    pool.free = p;
    pool.assigned--;
    pthread_mutex_unlock(&pool.lock);
}

/* ---------- free lists ---------- */

/* Somebody (ideally the caller) holds class c's lock. */
#ifdef MC_DEBUG_LOCKS
#define ASSERT_CLASS(c) assert(pthread_mutex_trylock(&(c)->lock) != 0)
#else
#define ASSERT_CLASS(c) ((void)0)
#endif

static inline struct item *
chunk_at(struct slab_class *c, struct page *p, uint32_t i)
{
    return (struct item *)(p->base + (size_t)i * c->size);
}

static void
free_push_locked(struct slab_class *c, struct item *ch)
{
    ASSERT_CLASS(c);
    atomic_store(&ch->refcount, 0);
    atomic_store(&ch->iflags, IF_FREE);
    ch->f_prev = NULL;
    ch->h_next = c->free_head;
    if (c->free_head != NULL)
        c->free_head->f_prev = ch;
    c->free_head = ch;
    c->nfree++;
}

static void
free_remove_locked(struct slab_class *c, struct item *ch)
{
    ASSERT_CLASS(c);
    if (ch->f_prev != NULL)
        ch->f_prev->h_next = ch->h_next;
    else
        c->free_head = ch->h_next;
    if (ch->h_next != NULL)
        ch->h_next->f_prev = ch->f_prev;
    ch->h_next = ch->f_prev = NULL;
    c->nfree--;
}

/* Initialise a chunk handed out by slab_alloc(). */
static struct item *
chunk_init(struct item *ch)
{
    ch->h_next = NULL;
    atomic_store_explicit(&ch->exptime, 0, memory_order_relaxed);
    atomic_store_explicit(&ch->atime, 0, memory_order_relaxed);
    atomic_store(&ch->refcount, 1);
    atomic_store(&ch->iflags, 0);
    return ch;
}

/* Is free chunk ch (IF_FREE) on c's free list?  Chunks of a page being
 * emptied are kept off it, with both links NULL. */
static inline bool
on_free_list(struct slab_class *c, struct item *ch)
{
    return ch->f_prev != NULL || c->free_head == ch;
}

/* Mark chunk ch free without putting it on the list (page being emptied). */
static void
free_mark_offlist(struct item *ch)
{
    atomic_store(&ch->refcount, 0);
    atomic_store(&ch->iflags, IF_FREE);
    ch->h_next = ch->f_prev = NULL;
}

/* Free chunk ch of class c (on page pg): onto the free list, unless its
 * page is being emptied by page_steal, which then owns it. */
static void
chunk_free_locked(struct slab_class *c, struct page *pg, struct item *ch)
{
    if (pg->draining)
        free_mark_offlist(ch);
    else
        free_push_locked(c, ch);
}

static struct item *
free_pop_locked(struct slab_class *c)
{
    struct item *ch;
    while ((ch = c->free_head) != NULL) {
        assert(atomic_load(&ch->iflags) == IF_FREE);
        free_remove_locked(c, ch);
        /* A chunk of a page being emptied stays off the list (IF_FREE). */
        if (c->ndraining == 0 || !page_of(ch)->draining)
            return chunk_init(ch);  /* IF_FREE cleared before the unlock */
    }
    return NULL;
}

/* ---------- the probation queue (S3-FIFO) ----------
 *
 * Eviction (policy s3fifo, the default; doc/storage.md "Eviction"): a new
 * item enters its class's probation queue (a FIFO of chunk addresses) and
 * is marked ATIME_SMALL; the main CLOCK hand skips it.  When the class must
 * evict and more than 1/PROBATION_SHARE of its items are on probation, the
 * oldest probation entry is decided: hit since it was stored (IF_REF) ->
 * promoted to main (the mark cleared, nothing moves: main is the CLOCK over
 * the class's chunks); not hit -> evicted, its key's hash remembered in the
 * ghost table (ghost.c), so that a key coming back soon is stored straight
 * into main.  Otherwise the main hand sweeps as plain CLOCK does.
 *
 * The queue grows and shrinks by segments of QSEG entries: while the
 * cache fills every new item waits on probation (as in S3-FIFO, the
 * first evictions then take the oldest fill-time items that nobody read),
 * after that probation holds about 1/10 of the items.  Entries go stale
 * when their item is deleted, promoted or its page moves; they are
 * dropped when met (q_current_locked).  Every chunk marked ATIME_SMALL has
 * an entry; if a segment cannot be allocated the new item goes to main.
 * An earlier version capped the queue at 1/5 of the chunks and promoted
 * the overflow unseen: a cache filled once then kept its fill-time items
 * in main for good (bench/size_shift.py's first phase: 0.195 of gets
 * missed instead of CLOCK's 0.130). */
#define PROBATION_SHARE    10       /* probation target: 1/10 of the items */
#define Q_PTR_MASK  0x0000FFFFFFFFFFFFull
#define QSEG        4095            /* entries per queue segment (32 KB) */

/* Segments are mapped, not malloc'd, so that a queue that shrinks after
 * the cache filled gives its memory back to the system. */
struct qseg {
    struct qseg *next;
    uint64_t e[QSEG];
};
_Static_assert(sizeof(struct qseg) == 32768, "a queue segment is 32 KB");

static void
qseg_free(struct qseg *g)
{
    platform_unreserve(g, sizeof(*g));
}

static inline uint64_t
q_entry(const struct item *ch, uint64_t hv)
{
    return ((uint64_t)(uintptr_t)ch & Q_PTR_MASK) | (hv & ~Q_PTR_MASK);
}

static inline uint64_t
q_pop_locked(struct slab_class *c)
{
    uint64_t e = c->q_head->e[c->q_hi++];
    c->q_len--;
    if (c->q_hi == QSEG || c->q_len == 0) {
        struct qseg *g = c->q_head;
        c->q_head = g->next;
        c->q_hi = 0;
        if (c->q_head == NULL) {
            c->q_tail = NULL;
            c->q_ti = 0;
        }
        c->q_nseg--;
        if (c->q_spare == NULL)
            c->q_spare = g;         /* one kept: no churn at a boundary */
        else
            qseg_free(g);
    }
    return e;
}

/* Append e; false if no segment could be allocated. */
static inline bool
q_put_locked(struct slab_class *c, uint64_t e)
{
    if (c->q_tail == NULL || c->q_ti == QSEG) {
        struct qseg *g = c->q_spare;
        if (g != NULL)
            c->q_spare = NULL;
        else if ((g = platform_reserve(sizeof(*g))) == NULL)
            return false;
        g->next = NULL;
        if (c->q_tail != NULL)
            c->q_tail->next = g;
        else
            c->q_head = g;
        c->q_tail = g;
        c->q_ti = 0;
        c->q_nseg++;
    }
    c->q_tail->e[c->q_ti++] = e;
    c->q_len++;
    return true;
}

static void
q_free(struct slab_class *c)
{
    while (c->q_head != NULL) {
        struct qseg *g = c->q_head;
        c->q_head = g->next;
        qseg_free(g);
    }
    if (c->q_spare != NULL)
        qseg_free(c->q_spare);
    c->q_head = c->q_tail = c->q_spare = NULL;
    c->q_len = c->q_nseg = 0;
    c->q_hi = c->q_ti = 0;
}

/* The chunk of entry e if it is still on probation in class c with the
 * item the entry was made for (by its tag), else NULL.  Class lock. */
static struct item *
q_current_locked(struct slab_class *c, uint64_t e)
{
    struct item *ch = (struct item *)(uintptr_t)(e & Q_PTR_MASK);
    if (atomic_load_explicit(&page_of(ch)->cls, memory_order_relaxed) != (uint8_t)(c - classes))
        return NULL;
    uint8_t f = atomic_load(&ch->iflags);
    if (f & (IF_FREE | IF_DATA))
        return NULL;
    if (!(atomic_load_explicit(&ch->atime, memory_order_relaxed) & ATIME_SMALL))
        return NULL;
    /* Not linked yet: its key is being written (no tag check; the victim
     * test requeues it).  Dropping the entry would leave the item marked
     * with no entry, out of reach of both hands. */
    if (!(f & IF_LINKED))
        return ch;
    if ((item_hv(ch) & ~Q_PTR_MASK) != (e & ~Q_PTR_MASK))
        return NULL;
    return ch;
}

/* Clear ch's probation mark; true if this call cleared it (and so
 * uncounted it). */
static bool
q_unmark(struct slab_class *c, struct item *ch)
{
    if (!(atomic_fetch_and_explicit(&ch->atime, ~ATIME_SMALL, memory_order_relaxed) & ATIME_SMALL))
        return false;
    atomic_fetch_sub_explicit(&c->nsmall, 1, memory_order_relaxed);
    return true;
}

void
slab_small_unmarked(const struct item *ch, bool promoted)
{
    unsigned id = slab_class_of(ch);
    if (id >= 1 && id <= nclasses) {
        atomic_fetch_sub_explicit(&classes[id].nsmall, 1, memory_order_relaxed);
        if (promoted)
            atomic_fetch_add_explicit(&classes[id].promoted, 1, memory_order_relaxed);
    }
}

/* Put fresh chunk ch (from the free list or a sweep) on probation (or,
 * if the queue cannot grow, leave it in main). */
static void
q_push_locked(struct slab_class *c, struct item *ch, uint64_t hv)
{
    ASSERT_CLASS(c);
    if (!q_put_locked(c, q_entry(ch, hv)))
        return;
    atomic_store_explicit(&ch->atime, ATIME_SMALL, memory_order_relaxed);
    uint64_t ns = atomic_fetch_add_explicit(&c->nsmall, 1, memory_order_relaxed) + 1;
    /* Stale entries (overwrites promote at once, deletes) pile up when
     * probation never needs to evict: while more than half the queue is
     * stale, a few old entries per push are dropped, or moved to the tail
     * if still current. */
    for (int n = 0; n < 4 && c->q_len > 2 * ns + QSEG; n++) {
        uint64_t e = q_pop_locked(c);
        if (q_current_locked(c, e) != NULL)
            q_put_locked(c, e);         /* a segment was just freed: fits */
    }
}

/* Is probation over its share of class c's items (evict from it first)? */
static inline bool
q_over(struct slab_class *c)
{
    uint64_t ns = atomic_load_explicit(&c->nsmall, memory_order_relaxed);
    return ns > 0 && ns * PROBATION_SHARE > atomic_load_explicit(&c->number, memory_order_relaxed);
}

/* Decide up to `budget` probation entries, oldest first (see above).
 * Returns a freed chunk or NULL; deferred victims go to d[*nd] as in
 * sweep_locked(). */
static struct item *
q_evict_locked(struct slab_class *c, uint32_t budget, uint64_t *scanned,
               struct item **d, int *nd, int maxd)
{
    ASSERT_CLASS(c);
    for (uint32_t n = 0; n < budget && c->q_len > 0 && q_over(c); n++) {
        uint64_t e = q_pop_locked(c);
        struct item *ch = q_current_locked(c, e);
        if (ch == NULL)
            continue;
        (*scanned)++;
        struct item *v = NULL;
        switch (item_victim_locked(ch, VM_SMALL, &v)) {
        case V_FREED:
            return ch;
        case V_DEFERRED:
            d[(*nd)++] = v;
            if (*nd == maxd)
                return NULL;
            break;
        case V_REQUEUE:                 /* being written or read: later */
            if (!q_put_locked(c, e) && q_unmark(c, ch))   /* (no memory) */
                atomic_fetch_add_explicit(&c->promoted, 1, memory_order_relaxed);
            break;
        case V_PROMOTE:
            if (q_unmark(c, ch))
                atomic_fetch_add_explicit(&c->promoted, 1, memory_order_relaxed);
            break;
        case V_SKIP:
            break;
        }
    }
    return NULL;
}

/* Give page p to class c and put its chunks on the free list. */
static void
assign_page_locked(struct slab_class *c, struct page *p)
{
    ASSERT_CLASS(c);
    if (c->npages == c->cap) {
        uint32_t nc = c->cap ? c->cap * 2 : 16;
        struct page **np = realloc(c->pages, nc * sizeof(*np));
        assert(np != NULL);
        c->pages = np;
        c->cap = nc;
    }
    p->idx = c->npages;
    c->pages[c->npages++] = p;
    atomic_store(&c->npages_pub, c->npages);
    atomic_store(&p->cls, (uint8_t)(c - classes));
    for (uint32_t i = c->perpage; i-- > 0;)
        free_push_locked(c, chunk_at(c, p, i));
}

/* Lower *oldest to the atime of ch if ch is a linked item (head). */
static inline void
note_atime(const struct item *ch, rel_time_t *oldest)
{
    if ((atomic_load_explicit(&((struct item *)ch)->iflags, memory_order_relaxed) &
         (IF_LINKED | IF_DATA)) == IF_LINKED) {
        rel_time_t a = item_atime(ch);
        if (a < *oldest)
            *oldest = a;
    }
}

/* The CLOCK hand completed a lap (or its page went away): the longest idle
 * time it met (the items it meets are the next victims, memcached's LRU
 * tail) becomes the class's age; start the next lap at the first page. */
static void
hand_wrap_locked(struct slab_class *c)
{
    ASSERT_CLASS(c);
    rel_time_t now = clock_now();
    atomic_store_explicit(&c->oldest, !c->lap_seen ? ATIME_NONE :
                          c->lap_idle < now ? now - c->lap_idle : 0,
                          memory_order_relaxed);
    c->lap_idle = 0;
    c->lap_seen = false;
    c->hand_page = 0;
    c->hand_chunk = 0;
}

static void
remove_page_locked(struct slab_class *c, struct page *p)
{
    ASSERT_CLASS(c);
    assert(c->pages[p->idx] == p);
    c->pages[p->idx] = c->pages[--c->npages];
    c->pages[p->idx]->idx = p->idx;
    atomic_store(&c->npages_pub, c->npages);
    if (c->hand_page >= c->npages)
        hand_wrap_locked(c);
}

/* ---------- setup ---------- */

static uint32_t
align8(double v)
{
    uint64_t x = (uint64_t)ceil(v);
    return (uint32_t)((x + 7) & ~(uint64_t)7);
}

int
slab_setup(const struct item_options *o, char *err, size_t errlen)
{
    memset(classes, 0, sizeof(classes));
    atomic_store(&nregions, 0);
    pool.free = NULL;
    pool.assigned = pool.slots = 0;
    atomic_store(&slabs_moved, 0);
    atomic_store(&move_running, 0);

    /* Ladder: memcached's upward sizes from chunk_min + 48 (growth factor
     * -f), but LADDER_FINE steps from LADDER_FINE_FROM to LADDER_FINE_TO
     * bytes, extended downward while a chunk still fits header + 1-byte
     * key + 4 bytes (doc/storage.md "Chunk size ladder"). */
    uint32_t sizes[MAX_CLASSES];
    unsigned n = 0;
    uint32_t minsz = align8(sconf.hdr + 1 + 4);
    uint32_t base = align8(o->chunk_min + 48);
    uint32_t down[MAX_CLASSES];
    unsigned nd = 0;
    for (uint32_t s = base;;) {
        uint32_t t = align8(s / o->growth_factor);
        if (t >= s || t < minsz || nd == MAX_CLASSES / 4)
            break;
        down[nd++] = t;
        s = t;
    }
    while (nd > 0)
        sizes[n++] = down[--nd];
    /* memcached's points, and the fine band in place of those inside it:
     * above the band the ladder is memcached's again, so an item never
     * lands in a larger chunk than memcached would give it. */
    double fine = LADDER_FINE < o->growth_factor ? LADDER_FINE : o->growth_factor;
    uint32_t last = 0;
    for (uint32_t s = base; n < MAX_CLASSES - 2 && s <= o->slab_chunk_max / o->growth_factor;) {
        if (s < LADDER_FINE_FROM || s >= LADDER_FINE_TO) {
            if (s > last)
                sizes[n++] = last = s;
        } else if (s > last) {
            for (uint32_t t = s; n < MAX_CLASSES - 2 && t < LADDER_FINE_TO;) {
                sizes[n++] = last = t;
                uint32_t u = align8(t * fine);
                t = u > t ? u : t + 8;
            }
        }
        uint32_t t = align8(s * o->growth_factor);
        s = t > s ? t : s + 8;
    }
    sizes[n++] = o->slab_chunk_max;
    nclasses = n;
    for (unsigned i = 1; i <= n; i++) {
        struct slab_class *c = &classes[i];
        pthread_mutex_init(&c->lock, NULL);
        c->size = sizes[i - 1];
        c->perpage = (uint32_t)(PAGE_SIZE / c->size);
        atomic_store(&c->oldest, ATIME_NONE);
        atomic_store(&c->exp_hint, ATIME_NONE);
    }
    crawl_flush_seen = 0;
    atomic_store(&crawler_starts, 0);

    uint64_t np = o->mem_limit / PAGE_SIZE;
    if (np < MIN_PAGES)
        np = MIN_PAGES;
    pool.limit = np;
    pthread_mutex_lock(&region_lock);
    int rc = region_add((uint32_t)np);
    pthread_mutex_unlock(&region_lock);
    if (rc < 0) {
        snprintf(err, errlen, "cannot reserve %llu MB for items: %s",
                 (unsigned long long)np, strerror(errno));
        return -1;
    }
    if (o->prealloc)
        memset(regions[0].base, 0, (size_t)np * PAGE_SIZE);
    return 0;
}

void
slab_teardown(void)
{
    for (unsigned i = 1; i <= nclasses; i++) {
        pthread_mutex_destroy(&classes[i].lock);
        free(classes[i].pages);
        classes[i].pages = NULL;
        q_free(&classes[i]);
    }
    unsigned n = atomic_load(&nregions);
    for (unsigned r = 0; r < n; r++) {
        platform_unreserve(regions[r].map, regions[r].maplen);
        free(regions[r].pages);
    }
    atomic_store(&nregions, 0);
    pool.free = NULL;
    nclasses = 0;
}

unsigned slab_nclasses(void) { return nclasses; }
unsigned slab_largest(void) { return nclasses; }

uint32_t
slab_chunk_size(unsigned id)
{
    return id >= 1 && id <= nclasses ? classes[id].size : 0;
}

unsigned
slab_class_for(size_t size)
{
    if (nclasses == 0 || size > classes[nclasses].size)
        return 0;
    unsigned lo = 1, hi = nclasses;
    while (lo < hi) {
        unsigned mid = (lo + hi) / 2;
        if (classes[mid].size >= size)
            hi = mid;
        else
            lo = mid + 1;
    }
    return lo;
}

/* ---------- sweeping, moving ---------- */

static void
release_all(struct item **d, int n)
{
    for (int i = 0; i < n; i++)
        item_release(d[i]);
}

/* CLOCK sweep of class c: inspects at most `budget` chunks, adding them to
 * *scanned (a page being emptied counts as its remaining chunks).  Returns
 * a freed chunk, or NULL; deferred victims are added to d[*nd] (capacity
 * maxd).  Pages being emptied by page_steal are skipped.  The idle time
 * of every item met (evicted or not) feeds lap_idle, which becomes the
 * class's age at the end of the lap. */
static struct item *
sweep_locked(struct slab_class *c, enum victim_mode mode, uint32_t budget,
             uint64_t *scanned, struct item **d, int *nd, int maxd)
{
    ASSERT_CLASS(c);
    rel_time_t now = clock_now();
    for (uint32_t n = 0; n < budget && c->npages > 0; n++) {
        if (c->hand_page >= c->npages)
            hand_wrap_locked(c);
        struct page *p = c->pages[c->hand_page];
        if (p->draining) {
            *scanned += c->perpage - c->hand_chunk;
            c->hand_chunk = 0;
            c->hand_page++;
            continue;
        }
        struct item *ch = chunk_at(c, p, c->hand_chunk);
        if (++c->hand_chunk == c->perpage) {
            c->hand_chunk = 0;
            c->hand_page++;
        }
        (*scanned)++;
        rel_time_t a = ATIME_NONE;
        note_atime(ch, &a);             /* before it is evicted */
        if (a != ATIME_NONE) {
            rel_time_t idle = a < now ? now - a : 0;
            if (idle > c->lap_idle)
                c->lap_idle = idle;
            c->lap_seen = true;
        }
        struct item *v = NULL;
        enum victim_res r = item_victim_locked(ch, mode, &v);
        if (r == V_FREED)
            return ch;
        if (r == V_DEFERRED) {
            d[(*nd)++] = v;
            if (*nd == maxd)
                return NULL;
        }
    }
    return NULL;
}

/* Could chunk ch be freed right now (free, or a linked item nobody else
 * holds)?  Class lock held. */
static bool
chunk_evacuable(struct item *ch)
{
    uint8_t f = atomic_load(&ch->iflags);
    if (f & IF_FREE)
        return true;
    struct item *t = (f & IF_DATA) ? ch->h_next : ch;
    return (atomic_load(&t->iflags) & IF_LINKED) && atomic_load(&t->refcount) == 1;
}

/* Drop class c's lock for a moment (between batches). */
static inline void
class_gap(struct slab_class *c)
{
    pthread_mutex_unlock(&c->lock);
    pthread_mutex_lock(&c->lock);
}

/* Is p (still) a page of class c that nobody is emptying?  Class lock. */
static inline bool
page_ours_locked(struct slab_class *c, struct page *p)
{
    return atomic_load_explicit(&p->cls, memory_order_relaxed) == (uint8_t)(c - classes) &&
           p->idx < c->npages && c->pages[p->idx] == p && !p->moving;
}

/* A hint for page_steal: is every chunk of p evacuable?  Reads SCAN_BATCH
 * chunks per lock hold; false if, in a gap, p was taken by another page
 * move or started being emptied. */
static bool
page_evacuable_locked(struct slab_class *c, struct page *p)
{
    ASSERT_CLASS(c);
    for (uint32_t i = 0; i < c->perpage;) {
        for (uint32_t n = 0; i < c->perpage && n < SCAN_BATCH; i++, n++)
            if (!chunk_evacuable(chunk_at(c, p, i)))
                return false;
        if (i < c->perpage) {
            class_gap(c);
            if (!page_ours_locked(c, p))
                return false;
        }
    }
    return true;
}

/* Empty page p of class c (lock held on entry and exit, dropped between
 * batches of WORK_BATCH chunks).  The page is marked draining first: its
 * free chunks are taken off the free list as they are met, chunks freed
 * meanwhile stay off it (chunk_free_locked, free_pop_locked) and the sweep
 * skips the page, so nothing new is stored in it.  Every item is evicted
 * (VM_FORCE, stripe trylock).  Passes repeat until one finds the page
 * entirely free (success: p is removed from c) or, after 4 passes, items
 * still in use (failure: its free chunks go back on the free list). */
static bool
page_drain_locked(struct slab_class *c, struct page *p)
{
    ASSERT_CLASS(c);
    struct item *d[MAXDEFER];
    p->moving = true;                   /* other page moves leave it alone */
    p->draining = true;
    c->ndraining++;
    bool empty = false;
    for (int pass = 0; pass < 4 && !empty; pass++) {
        uint32_t busy = 0, work = 0;
        for (uint32_t i = 0; i < c->perpage;) {
            int nd = 0;
            for (uint32_t n = 0; i < c->perpage && n < WORK_BATCH && nd < MAXDEFER; i++, n++) {
                struct item *ch = chunk_at(c, p, i);
                if (atomic_load(&ch->iflags) & IF_FREE) {
                    if (on_free_list(c, ch)) {
                        free_remove_locked(c, ch);
                        work++;
                    }
                    continue;
                }
                struct item *v = NULL;
                switch (item_victim_locked(ch, VM_FORCE, &v)) {
                case V_FREED:
                    free_mark_offlist(ch);
                    work++;
                    break;
                case V_DEFERRED:        /* its chunks come back through slab_free */
                    d[nd++] = v;
                    work++;
                    break;
                case V_SKIP:
                case V_REQUEUE:         /* (VM_SMALL only) */
                case V_PROMOTE:
                    busy++;
                    break;
                }
            }
            pthread_mutex_unlock(&c->lock);
            release_all(d, nd);
            if (busy > 0 && i == c->perpage)
                sched_yield();          /* let the holder finish */
            pthread_mutex_lock(&c->lock);
        }
        empty = busy == 0 && work == 0;
    }
    c->ndraining--;
    p->draining = false;
    if (empty) {
        remove_page_locked(c, p);
        p->moving = false;
        return true;
    }
    /* Give the page back to the class: its free chunks go back on the list
     * (chunks freed from now on go there by themselves; `moving` keeps
     * other page moves away until this is done). */
    for (uint32_t i = 0; i < c->perpage;) {
        for (uint32_t n = 0; i < c->perpage && n < WORK_BATCH; i++, n++) {
            struct item *ch = chunk_at(c, p, i);
            if ((atomic_load(&ch->iflags) & IF_FREE) && !on_free_list(c, ch))
                free_push_locked(c, ch);
        }
        if (i < c->perpage)
            class_gap(c);
    }
    p->moving = false;
    return false;
}

/* Take one page away from class sid, evicting its items.  Returns the
 * page (still counted as assigned) or NULL.  No lock held by the caller.
 * Tries up to 8 pages; the class lock is dropped between batches and
 * between pages. */
static struct page *
page_steal(unsigned sid)
{
    struct slab_class *c = &classes[sid];
    struct page *got = NULL;
    pthread_mutex_lock(&c->lock);
    uint32_t tries = c->npages < 8 ? c->npages : 8;
    for (uint32_t t = 0; t < tries && got == NULL; t++) {
        if (t > 0)
            class_gap(c);
        if (c->npages == 0)
            break;
        struct page *p = c->pages[c->steal_next++ % c->npages];
        if (!page_ours_locked(c, p) || !page_evacuable_locked(c, p))
            continue;
        if (page_drain_locked(c, p))
            got = p;
    }
    pthread_mutex_unlock(&c->lock);
    if (got != NULL)
        atomic_fetch_add(&slabs_moved, 1);
    return got;
}

/* Class with the most pages other than id (0 if none has min pages). */
static unsigned
largest_other(unsigned id, uint32_t min)
{
    unsigned best = 0;
    uint32_t bn = 0;
    for (unsigned i = 1; i <= nclasses; i++) {
        uint32_t n = atomic_load_explicit(&classes[i].npages_pub, memory_order_relaxed);
        if (i != id && n >= min && n > bn) {
            best = i;
            bn = n;
        }
    }
    return best;
}

/* What the automove tick (mode 1) last saw of a class, for page stealing
 * (am_pub; 0 with automove off or in mode 2: then only a class with no
 * page steals). */
#define AM_IDLE     1   /* no allocation for AM_TICKS ticks (nor since) */
#define AM_TICKS    3

/* Is class i idle: nobody allocated there for AM_TICKS ticks, nor since? */
static inline bool
am_idle(unsigned i)
{
    struct slab_class *c = &classes[i];
    return (atomic_load_explicit(&c->am_pub, memory_order_relaxed) & AM_IDLE) &&
           atomic_load_explicit(&c->allocs, memory_order_relaxed) ==
           atomic_load_explicit(&c->am_amark, memory_order_relaxed);
}

/* The donor of a synchronous page steal by class id (holding `have`
 * pages, about to evict), 0 if none:
 *  - an idle class (nobody has allocated there for AM_TICKS ticks: its
 *    items only age) with 2 pages or more, whatever its size: dead memory
 *    goes at once, not a page per tick;
 *  - else, for a class with no page at all, the class with the most pages
 *    (at least 2).
 * Classes that have pages and are all in use are balanced by the
 * automove tick alone (by evictions per page): equalising page counts
 * here, as an earlier rule did, starved the small-item classes of a
 * mixed-size cache (every class got about the same number of pages;
 * bench/RESULTS.md, session 4). */
static unsigned
steal_donor(unsigned id, uint32_t have)
{
    unsigned best = 0, idle = 0;
    uint32_t bn = 0, in = 0;
    for (unsigned i = 1; i <= nclasses; i++) {
        if (i == id)
            continue;
        uint32_t n = atomic_load_explicit(&classes[i].npages_pub, memory_order_relaxed);
        if (am_idle(i) && n >= 2 && n > in) {
            idle = i;
            in = n;
        }
        if (have == 0 && n >= 2 && n > bn) {
            best = i;
            bn = n;
        }
    }
    return idle ? idle : best;
}

/* Hand out chunk ch of class c as slab_alloc(..., hv, q) asked. */
static struct item *
handout_locked(struct slab_class *c, struct item *ch, uint64_t hv, enum slab_q q)
{
    if (q == SQ_SMALL && sconf.o.policy == EVICT_S3FIFO)
        q_push_locked(c, ch, hv);
    else if (q == SQ_GHOST)
        atomic_fetch_add_explicit(&c->ghost_hits, 1, memory_order_relaxed);
    pthread_mutex_unlock(&c->lock);
    return ch;
}

struct item *
slab_alloc(unsigned id, uint64_t hv, enum slab_q q)
{
    assert(id >= 1 && id <= nclasses);
    struct slab_class *c = &classes[id];
    struct item *d[MAXDEFER];
    bool stole = false, pressed = false;
    uint64_t scanned = 0;               /* chunks this call's sweep looked at */
    bool reassign = sconf.o.slab_reassign != 0 && sconf.o.evict;
    enum victim_mode mode = sconf.o.evict ? VM_EVICT : VM_RECLAIM;
    /* Two laps find a victim if any item is unreferenced (the first clears
     * reference bits); reclaiming (-M) ignores them, one lap does. */
    uint64_t laps = mode == VM_EVICT ? 2 : 1;

    atomic_fetch_add_explicit(&c->allocs, 1, memory_order_relaxed);
    pthread_mutex_lock(&c->lock);
    for (;;) {
        struct item *ch = free_pop_locked(c);
        if (ch != NULL)
            return handout_locked(c, ch, hv, q);
        struct page *p = pool_get();
        if (p != NULL) {
            assign_page_locked(c, p);
            continue;
        }
        /* Rebalance first if an idle class has pages, or another class
         * holds clearly more (steal_donor): a class under write pressure
         * grows at the expense of idle ones. */
        if (reassign && !stole) {
            unsigned s = steal_donor(id, c->npages);
            if (s != 0) {
                stole = true;
                pthread_mutex_unlock(&c->lock);
                p = page_steal(s);
                pthread_mutex_lock(&c->lock);
                if (p != NULL)
                    assign_page_locked(c, p);
                continue;
            }
        }
        /* Sweep, a batch per lock hold: in between, others allocate and
         * free, and a freed chunk may turn up on the free list. */
        if (scanned < laps * c->npages * c->perpage) {
            int nd = 0;
            if (sconf.o.policy == EVICT_S3FIFO && mode == VM_EVICT && q_over(c)) {
                uint64_t before = scanned;
                ch = q_evict_locked(c, WORK_BATCH, &scanned, d, &nd, MAXDEFER);
                if (ch == NULL && nd == 0 && scanned > before && q_over(c)) {
                    class_gap(c);       /* a batch of promotions: go on */
                    continue;
                }
            }
            if (ch == NULL && nd == 0)
                ch = sweep_locked(c, mode, WORK_BATCH, &scanned, d, &nd, MAXDEFER);
            if ((ch != NULL || nd > 0) && !pressed) {
                pressed = true;
                atomic_fetch_add_explicit(&c->pressure, 1, memory_order_relaxed);
            }
            if (ch != NULL) {
                chunk_init(ch);
                handout_locked(c, ch, hv, q);
                release_all(d, nd);
                return ch;
            }
            pthread_mutex_unlock(&c->lock);
            release_all(d, nd);
            pthread_mutex_lock(&c->lock);
            continue;
        }
        if (reassign && !stole) {
            stole = true;
            unsigned s = largest_other(id, 1);
            if (s != 0) {
                pthread_mutex_unlock(&c->lock);
                p = page_steal(s);
                pthread_mutex_lock(&c->lock);
                if (p != NULL)
                    assign_page_locked(c, p);
                continue;
            }
        }
        pthread_mutex_unlock(&c->lock);
        atomic_fetch_add_explicit(&c->outofmemory, 1, memory_order_relaxed);
        if (!pressed)
            atomic_fetch_add_explicit(&c->pressure, 1, memory_order_relaxed);
        return NULL;
    }
}

void
slab_free(struct item *ch)
{
    struct page *pg = page_of(ch);
    assert(pg != NULL);
    unsigned id = atomic_load_explicit(&pg->cls, memory_order_relaxed);
    assert(id >= 1 && id <= nclasses);
    assert(atomic_load(&ch->refcount) == 0);
    struct slab_class *c = &classes[id];
    pthread_mutex_lock(&c->lock);
    assert(((char *)ch - pg->base) % c->size == 0);
    assert(!(atomic_load(&ch->iflags) & (IF_FREE | IF_LINKED)));
    if (!(atomic_load(&ch->iflags) & IF_DATA))
        q_unmark(c, ch);                /* allocated on probation, never linked */
    chunk_free_locked(c, pg, ch);
    pthread_mutex_unlock(&c->lock);
}

int
slab_set_mem_limit(size_t bytes)
{
    uint64_t np = bytes / PAGE_SIZE;
    if (np < MIN_PAGES)
        return -1;
    int rc = 0;
    pthread_mutex_lock(&region_lock);       /* one grower at a time */
    pthread_mutex_lock(&pool.lock);
    uint64_t slots = pool.slots;
    pthread_mutex_unlock(&pool.lock);
    if (np > slots)
        rc = np - slots > UINT32_MAX ? -1 : region_add((uint32_t)(np - slots));
    if (rc == 0) {
        pthread_mutex_lock(&pool.lock);
        pool.limit = np;
        pthread_mutex_unlock(&pool.lock);
    }
    pthread_mutex_unlock(&region_lock);
    return rc;
}

/* ---------- statistics hooks ---------- */

void
slab_count_link(unsigned id, int64_t bytes, int dir)
{
    struct slab_class *c = &classes[id];
    if (dir > 0) {
        /* The first item of an empty class is its oldest one. */
        if (atomic_fetch_add_explicit(&c->number, 1, memory_order_relaxed) == 0)
            atomic_store_explicit(&c->oldest, clock_now(), memory_order_relaxed);
        atomic_fetch_add_explicit(&c->requested, (uint64_t)bytes, memory_order_relaxed);
    } else {
        atomic_fetch_sub_explicit(&c->number, 1, memory_order_relaxed);
        atomic_fetch_sub_explicit(&c->requested, (uint64_t)bytes, memory_order_relaxed);
    }
}

void
slab_note_atime(unsigned id, rel_time_t atime)
{
    if (id < 1 || id > nclasses)
        return;
    struct slab_class *c = &classes[id];
    rel_time_t cur = atomic_load_explicit(&c->oldest, memory_order_relaxed);
    while ((cur == ATIME_NONE || atime < cur) &&
           !atomic_compare_exchange_weak_explicit(&c->oldest, &cur, atime,
                                                  memory_order_relaxed,
                                                  memory_order_relaxed))
        ;
}

void
slab_note_exptime(unsigned id, rel_time_t exptime)
{
    if (exptime == 0 || id < 1 || id > nclasses)
        return;
    struct slab_class *c = &classes[id];
    /* Same cache line as `number`, which every link bumps anyway. */
    atomic_fetch_add_explicit(&c->ttl_set, 1, memory_order_relaxed);
    rel_time_t cur = atomic_load_explicit(&c->exp_hint, memory_order_relaxed);
    while (exptime < cur &&
           !atomic_compare_exchange_weak_explicit(&c->exp_hint, &cur, exptime,
                                                  memory_order_relaxed,
                                                  memory_order_relaxed))
        ;
}

void
slab_count_evict(unsigned id, int reason, uint8_t f, rel_time_t exptime, rel_time_t idle)
{
    struct slab_class *c = &classes[id];
#define INC(x) atomic_fetch_add_explicit(&c->x, 1, memory_order_relaxed)
    switch (reason) {
    case 3: /* evicted live from probation */
        INC(evicted_small);
        goto live;
    case 4: /* evicted live to move its page */
        INC(evicted_move);
        goto live;
    case 0: /* evicted live by the main hand */
        INC(evicted_main);
    live:
        INC(evicted);
        atomic_store_explicit(&c->evicted_time, idle, memory_order_relaxed);
        if (exptime != 0)
            INC(evicted_nonzero);
        if (!(f & IF_FETCHED))
            INC(evicted_unfetched);
        if (f & IF_REF)
            INC(evicted_active);
        break;
    case 1: /* reclaimed dead by a sweep */
        INC(reclaimed);
        if (!(f & IF_FETCHED))
            INC(expired_unfetched);
        break;
    case 2: /* reclaimed by the crawler */
        INC(crawler_reclaimed);
        INC(reclaimed);
        if (!(f & IF_FETCHED))
            INC(expired_unfetched);
        break;
    }
#undef INC
}

bool
slab_lock_held(const void *chunk)
{
    unsigned id = slab_class_of(chunk);
    return id >= 1 && id <= nclasses && pthread_mutex_trylock(&classes[id].lock) != 0;
}

void
slab_stats(struct item_global_stats *s)
{
    for (unsigned i = 1; i <= nclasses; i++) {
        struct slab_class *c = &classes[i];
        s->evictions += atomic_load(&c->evicted);
        s->reclaimed += atomic_load(&c->reclaimed);
        s->expired_unfetched += atomic_load(&c->expired_unfetched);
        s->evicted_unfetched += atomic_load(&c->evicted_unfetched);
        s->evicted_active += atomic_load(&c->evicted_active);
        s->crawler_reclaimed += atomic_load(&c->crawler_reclaimed);
        s->crawler_items_checked += atomic_load(&c->crawler_checked);
        s->probation_items += atomic_load(&c->nsmall);
        s->promoted += atomic_load(&c->promoted);
        s->ghost_hits += atomic_load(&c->ghost_hits);
        s->evicted_probation += atomic_load(&c->evicted_small);
        s->evicted_main += atomic_load(&c->evicted_main);
        s->evicted_slab_move += atomic_load(&c->evicted_move);
        pthread_mutex_lock(&c->lock);
        s->policy_bytes += (c->q_nseg + (c->q_spare != NULL)) * sizeof(struct qseg);
        pthread_mutex_unlock(&c->lock);
    }
    s->crawler_starts = atomic_load(&crawler_starts);
    pthread_mutex_lock(&pool.lock);
    s->total_malloced = pool.assigned * PAGE_SIZE;
    s->limit_maxbytes = pool.limit * PAGE_SIZE;
    pthread_mutex_unlock(&pool.lock);
    s->slabs_moved = atomic_load(&slabs_moved);
}

bool
slab_class_stats(unsigned id, struct item_class_stats *s)
{
    if (id < 1 || id > nclasses)
        return false;
    struct slab_class *c = &classes[id];
    memset(s, 0, sizeof(*s));
    s->id = id;
    s->chunk_size = c->size;
    s->chunks_per_page = c->perpage;
    pthread_mutex_lock(&c->lock);
    s->total_pages = c->npages;
    s->total_chunks = (uint64_t)c->npages * c->perpage;
    s->free_chunks = c->nfree;
    s->used_chunks = s->total_chunks - c->nfree;
    pthread_mutex_unlock(&c->lock);
    /* O(1): the oldest atime the last crawler pass or CLOCK lap saw (see
     * doc/storage.md), not a scan. */
    rel_time_t now = clock_now();
    rel_time_t oldest = atomic_load_explicit(&c->oldest, memory_order_relaxed);
    s->age = oldest == ATIME_NONE || oldest > now ? 0 : now - oldest;
    s->number = atomic_load(&c->number);
    s->mem_requested = atomic_load(&c->requested);
    s->evicted = atomic_load(&c->evicted);
    s->evicted_nonzero = atomic_load(&c->evicted_nonzero);
    s->evicted_unfetched = atomic_load(&c->evicted_unfetched);
    s->evicted_active = atomic_load(&c->evicted_active);
    s->evicted_time = atomic_load(&c->evicted_time);
    s->reclaimed = atomic_load(&c->reclaimed);
    s->expired_unfetched = atomic_load(&c->expired_unfetched);
    s->crawler_reclaimed = atomic_load(&c->crawler_reclaimed);
    s->crawler_items_checked = atomic_load(&c->crawler_checked);
    s->outofmemory = atomic_load(&c->outofmemory);
    s->probation_items = atomic_load(&c->nsmall);
    s->promoted = atomic_load(&c->promoted);
    s->ghost_hits = atomic_load(&c->ghost_hits);
    s->evicted_probation = atomic_load(&c->evicted_small);
    s->evicted_main = atomic_load(&c->evicted_main);
    s->evicted_slab_move = atomic_load(&c->evicted_move);
    return true;
}

/* ---------- page moves on demand and in the background ---------- */

enum item_reassign_status
slab_reassign(int src, int dst)
{
    if (sconf.o.slab_reassign == 0)
        return REASSIGN_DISABLED;
    if (src == dst)
        return REASSIGN_SAME;
    if (src < -1 || src == 0 || src > (int)nclasses || dst < 0 || dst > (int)nclasses)
        return REASSIGN_BADCLASS;
    if (src == -1) {
        src = (int)largest_other((unsigned)dst, 2);
        if (src == 0)
            return REASSIGN_NOSPARE;
    }
    if (atomic_load(&classes[src].npages_pub) < 2)
        return REASSIGN_NOSPARE;
    int expect = 0;
    if (!atomic_compare_exchange_strong(&move_running, &expect, 1))
        return REASSIGN_RUNNING;
    enum item_reassign_status st = REASSIGN_OK;
    struct page *p = page_steal((unsigned)src);
    if (p == NULL) {
        st = REASSIGN_UNSAFE;
    } else if (dst == 0) {
        pool_put(p);
    } else {
        struct slab_class *c = &classes[dst];
        pthread_mutex_lock(&c->lock);
        assign_page_locked(c, p);
        pthread_mutex_unlock(&c->lock);
    }
    atomic_store(&move_running, 0);
    return st;
}

/* Called about once a second by the maintenance thread.  Mode 1 moves a
 * page to the class that evicted most since the last tick, from the class
 * with the most pages among those that have not evicted for 3 ticks and
 * either have a page worth of free chunks, or more pages than the
 * receiver, or have not allocated at all for AM_IDLE_TICKS (nobody writes
 * there: its items only age).  If there is no such class, it balances the
 * classes under pressure: the busy class with the most evicting
 * allocations per page gets a page from the one, under pressure lately,
 * with the fewest (see am_balance).  Mode 2 takes from the class with the
 * most pages, whatever its state.  Also gives back pages above a lowered
 * memory limit, and publishes each class's state (am_pub) for
 * steal_donor. */
#define AM_IDLE_TICKS 5
/* A move between classes under pressure must leave the donor's predicted
 * evictions per page this much below the receiver's (hysteresis: no
 * page goes back and forth on noise). */
#define AM_MARGIN 1.1

/* Mode 1 balance between classes under pressure: the receiver is the busy
 * class with the most evicting allocations per page (am_turn), the donor
 * the class (under pressure in the last AM_TICKS ticks, 2 pages or more)
 * with the fewest it would have after giving a page (rate x n / (n - 1):
 * the same evictions over fewer pages).  The move is made only if that is
 * below the receiver's rate after receiving it (rate x n / (n + 1)) by
 * AM_MARGIN, so a lone move cannot flip the order.
 *
 * Why per page: an evicting allocation is (in a look-aside cache) a miss,
 * and a class's evictions per page approximate the hits one more page
 * would bring it (each of its chunks is reused about once per lifetime T
 * of its items, and the items on the margin are those requested about
 * once per T).  Equal evictions per page is where moving a page anywhere
 * would lose as many hits as it gains; equal lifetimes (evictions per
 * chunk) would favour big chunks. */
static void
am_balance(void)
{
    unsigned dst = 0;
    double rmax = 0;
    for (unsigned i = 1; i <= nclasses; i++) {
        struct slab_class *c = &classes[i];
        if (c->am_busy >= AM_TICKS && c->npages_pub > 0 && c->am_turn > rmax) {
            rmax = c->am_turn;
            dst = i;
        }
    }
    if (dst == 0)
        return;
    uint32_t dn = atomic_load(&classes[dst].npages_pub);
    double want = rmax * dn / (dn + 1.0);
    unsigned src = 0;
    double smin = 0;
    for (unsigned i = 1; i <= nclasses; i++) {
        struct slab_class *c = &classes[i];
        uint32_t n = atomic_load(&c->npages_pub);
        if (i == dst || n < 2 || c->am_quiet >= AM_TICKS)
            continue;
        double after = c->am_turn * n / (n - 1.0);
        if (after * AM_MARGIN < want && (src == 0 || after < smin)) {
            smin = after;
            src = i;
        }
    }
    if (src != 0)
        slab_reassign((int)src, (int)dst);
}

void
slab_automove_tick(int mode)
{
    unsigned dst = 0;
    uint64_t dmax = 0;
    for (unsigned i = 1; i <= nclasses; i++) {
        struct slab_class *c = &classes[i];
        /* Not `evicted`: that also counts items lost to page moves, which
         * would make a donor look hungry and pages ping-pong. */
        uint64_t ev = atomic_load(&c->pressure);
        uint64_t delta = ev - c->am_last;
        c->am_last = ev;
        c->am_quiet = delta ? 0 : c->am_quiet + 1;
        c->am_busy = delta ? c->am_busy + 1 : 0;
        uint64_t al = atomic_load_explicit(&c->allocs, memory_order_relaxed);
        c->am_idle = al != c->am_allocs ? 0 : c->am_idle + 1;
        c->am_allocs = al;
        uint32_t np = atomic_load(&c->npages_pub);
        c->am_turn = (c->am_turn + (np ? (double)delta / np : 0)) / 2;
        unsigned st = 0;
        if (mode == 1 && sconf.o.slab_reassign != 0) {
            st |= c->am_quiet >= AM_TICKS && c->am_idle >= AM_TICKS ? AM_IDLE : 0;
        }
        atomic_store_explicit(&c->am_amark, al, memory_order_relaxed);
        atomic_store_explicit(&c->am_pub, (uint8_t)st, memory_order_relaxed);
        if (delta > dmax) {
            dmax = delta;
            dst = i;
        }
    }
    /* Above a lowered limit: give back up to 16 pages per tick. */
    bool over = false;
    for (int n = 0; n < 16; n++) {
        pthread_mutex_lock(&pool.lock);
        over = pool.assigned > pool.limit;
        pthread_mutex_unlock(&pool.lock);
        if (!over)
            break;
        unsigned s = largest_other(0, 1);
        struct page *p = s ? page_steal(s) : NULL;
        if (p == NULL)
            break;
        pool_put(p);
    }
    if (over)
        return;
    if (mode == 0 || dst == 0 || sconf.o.slab_reassign == 0)
        return;
    uint32_t dpages = atomic_load(&classes[dst].npages_pub);
    unsigned src = 0;
    uint32_t best = 0;
    for (unsigned i = 1; i <= nclasses; i++) {
        struct slab_class *c = &classes[i];
        uint32_t np = atomic_load(&c->npages_pub);
        if (i == dst || np < 2)
            continue;
        if (mode == 1) {
            if (c->am_quiet < 3)
                continue;
            pthread_mutex_lock(&c->lock);
            uint64_t nfree = c->nfree;
            pthread_mutex_unlock(&c->lock);
            if (nfree < c->perpage && np <= dpages && c->am_idle < AM_IDLE_TICKS)
                continue;
        }
        if (np > best) {
            best = np;
            src = i;
        }
    }
    if (src != 0)
        slab_reassign((int)src, (int)dst);
    else if (mode == 1)
        am_balance();
}

/* ---------- scans: crawler, walk, sizes ---------- */

/* ---- crawler pacing: pure decisions (unit-tested with fake inputs) ---- */

unsigned
crawl_bucket(rel_time_t left)
{
    if (left < CRAWL_FINE_END)
        return left / CRAWL_FINE_STEP;
    if (left < CRAWL_HORIZON)
        return CRAWL_FINE_END / CRAWL_FINE_STEP + (left - CRAWL_FINE_END) / CRAWL_COARSE_STEP;
    return CRAWL_NBUCKETS;
}

rel_time_t
crawl_bucket_end(unsigned b)
{
    unsigned nfine = CRAWL_FINE_END / CRAWL_FINE_STEP;
    if (b < nfine)
        return (b + 1) * CRAWL_FINE_STEP;
    return CRAWL_FINE_END + (b - nfine + 1) * CRAWL_COARSE_STEP;
}

rel_time_t
crawl_wait_max(uint64_t total_chunks)
{
    uint64_t w = total_chunks / CRAWL_IDLE_RATE;
    return w < CRAWL_WAIT_MIN ? CRAWL_WAIT_MIN : w > CRAWL_HORIZON ? CRAWL_HORIZON : (rel_time_t)w;
}

rel_time_t
crawl_wait(const struct crawl_pass *r, uint64_t total_chunks)
{
    rel_time_t cap = crawl_wait_max(total_chunks);
    uint64_t want = r->checked / CRAWL_SHARE + 1, sum = 0;
    for (unsigned b = 0; b < CRAWL_NBUCKETS; b++) {
        sum += r->soon[b];
        if (sum >= want) {
            rel_time_t w = crawl_bucket_end(b);
            return w < CRAWL_WAIT_MIN ? CRAWL_WAIT_MIN : w > cap ? cap : w;
        }
    }
    return cap;
}

bool
crawl_due(rel_time_t now, rel_time_t next, rel_time_t hint_exp,
          uint64_t hint_n, uint64_t items)
{
    if (now >= next)
        return true;
    return hint_exp != ATIME_NONE && now >= hint_exp &&
           hint_n >= items / CRAWL_SHARE + 1;
}

/* ---- the pass ---- */

/* One pass over class id, WORK_BATCH chunks per class-lock hold:
 * reclaims dead items, publishes the class's oldest atime (the items left
 * in place; the `age` stat), and fills *r with what it saw.  crawl_lock
 * held. */
static uint64_t
crawl_class(unsigned id, struct crawl_pass *r)
{
    struct slab_class *c = &classes[id];
    uint64_t reclaimed = 0, checked = 0;
    struct item *d[MAXDEFER];
    rel_time_t oldest = ATIME_NONE;
    memset(r, 0, sizeof(*r));
    /* Items given an exptime from now on feed the next hint; ones given
     * one during the pass may be seen by it too (a harmless double). */
    atomic_store_explicit(&c->exp_hint, ATIME_NONE, memory_order_relaxed);
    c->ttl_mark = atomic_load_explicit(&c->ttl_set, memory_order_relaxed);
    for (uint32_t pi = 0, ci = 0;;) {
        int nd = 0;
        rel_time_t now = clock_now();
        pthread_mutex_lock(&c->lock);
        if (pi >= c->npages) {
            atomic_store_explicit(&c->oldest, oldest, memory_order_relaxed);
            pthread_mutex_unlock(&c->lock);
            break;
        }
        struct page *p = c->pages[pi];
        for (uint32_t n = 0; ci < c->perpage && n < WORK_BATCH && nd < MAXDEFER; ci++, n++) {
            struct item *ch = chunk_at(c, p, ci);
            if ((atomic_load(&ch->iflags) & (IF_LINKED | IF_DATA)) == IF_LINKED)
                checked++;
            struct item *v = NULL;
            enum victim_res res = item_victim_locked(ch, VM_CRAWL, &v);
            if (res == V_FREED) {
                chunk_free_locked(c, p, ch);
                reclaimed++;
            } else if (res == V_DEFERRED) {
                d[nd++] = v;
                reclaimed++;
            } else if ((atomic_load(&ch->iflags) & (IF_LINKED | IF_DATA)) == IF_LINKED) {
                if (!item_is_live(ch, now)) {
                    r->soon[0]++;       /* dead but in use: goes soon */
                    continue;
                }
                note_atime(ch, &oldest);
                rel_time_t e = atomic_load_explicit(&ch->exptime, memory_order_relaxed);
                unsigned b = e == 0 ? CRAWL_NBUCKETS : crawl_bucket(e > now ? e - now : 0);
                if (b < CRAWL_NBUCKETS)
                    r->soon[b]++;
            }
        }
        if (ci == c->perpage) {
            ci = 0;
            pi++;
        }
        pthread_mutex_unlock(&c->lock);
        release_all(d, nd);
    }
    r->checked = checked;
    r->reclaimed = reclaimed;
    atomic_fetch_add_explicit(&c->crawler_checked, checked, memory_order_relaxed);
    return reclaimed;
}

static uint64_t
total_chunks(void)
{
    uint64_t n = 0;
    for (unsigned id = 1; id <= nclasses; id++)
        n += (uint64_t)atomic_load_explicit(&classes[id].npages_pub, memory_order_relaxed) *
             classes[id].perpage;
    return n;
}

/* Crawl class id and schedule its next pass.  crawl_lock held. */
static uint64_t
crawl_and_plan(unsigned id, uint64_t chunks)
{
    struct crawl_pass r;
    uint64_t n = crawl_class(id, &r);
    classes[id].crawl_next = clock_now() + crawl_wait(&r, chunks);
    return n;
}

uint64_t
slab_crawl(void)
{
    uint64_t reclaimed = 0;
    pthread_mutex_lock(&crawl_lock);
    uint64_t chunks = total_chunks();
    for (unsigned id = 1; id <= nclasses; id++) {
        atomic_store_explicit(&classes[id].crawl_asked, false, memory_order_relaxed);
        reclaimed += crawl_and_plan(id, chunks);
    }
    atomic_fetch_add_explicit(&crawler_starts, 1, memory_order_relaxed);
    pthread_mutex_unlock(&crawl_lock);
    return reclaimed;
}

uint64_t
slab_crawl_tick(uint64_t flush_seq, rel_time_t flush_eff)
{
    uint64_t reclaimed = 0;
    bool any = false;
    pthread_mutex_lock(&crawl_lock);
    rel_time_t now = clock_now();
    /* A flush that has taken effect: every class with items is due. */
    bool flushed = false;
    if (flush_seq != crawl_flush_seen && now >= flush_eff) {
        crawl_flush_seen = flush_seq;
        flushed = true;
    }
    uint64_t chunks = total_chunks();
    for (unsigned id = 1; id <= nclasses; id++) {
        struct slab_class *c = &classes[id];
        uint64_t items = atomic_load_explicit(&c->number, memory_order_relaxed);
        bool asked = atomic_exchange_explicit(&c->crawl_asked, false, memory_order_relaxed);
        if (!asked && !(flushed && items > 0) &&
            !crawl_due(now, c->crawl_next,
                       atomic_load_explicit(&c->exp_hint, memory_order_relaxed),
                       atomic_load_explicit(&c->ttl_set, memory_order_relaxed) - c->ttl_mark,
                       items))
            continue;
        reclaimed += crawl_and_plan(id, chunks);
        any = true;
        now = clock_now();
    }
    if (any)
        atomic_fetch_add_explicit(&crawler_starts, 1, memory_order_relaxed);
    pthread_mutex_unlock(&crawl_lock);
    return reclaimed;
}

void
slab_crawl_request(unsigned id)
{
    for (unsigned i = 1; i <= nclasses; i++)
        if (id == 0 || id == i)
            atomic_store_explicit(&classes[i].crawl_asked, true, memory_order_relaxed);
}

#define WALK_BATCH 256                  /* items per step */
#define WALK_LOOK_MAX (16 * SCAN_BATCH) /* chunks a step reads at most */

/* Cursor of a resumable walk: class id, page index, chunk index. */
#define WALK_CUR(id, pi, ci) (((uint64_t)(id) << 56) | ((uint64_t)(pi) << 24) | (uint64_t)(ci))
#define WALK_ID(cur) ((unsigned)((cur) >> 56))
#define WALK_PI(cur) ((uint32_t)((cur) >> 24) & 0xFFFFFFFFu)
#define WALK_CI(cur) ((uint32_t)(cur) & 0xFFFFFFu)

uint64_t
slab_walk_step(uint64_t *cursor, item_walk_fn fn, void *arg)
{
    struct item *b[WALK_BATCH];
    unsigned busy = 0;
    uint64_t looked = 0;                /* chunks read by this call */
    unsigned id = WALK_ID(*cursor);
    uint32_t pi = WALK_PI(*cursor), ci = WALK_CI(*cursor);
    if (id == 0)
        id = 1;
    for (; id <= nclasses; id++, pi = 0, ci = 0) {
        struct slab_class *c = &classes[id];
        for (;;) {
            int nb = 0;
            rel_time_t now = clock_now();
            pthread_mutex_lock(&c->lock);
            if (pi >= c->npages) {
                pthread_mutex_unlock(&c->lock);
                break;
            }
            struct page *p = c->pages[pi];
            uint32_t n = 0;
            for (; ci < c->perpage && nb < WALK_BATCH && n < SCAN_BATCH; ci++, n++) {
                struct item *it = chunk_at(c, p, ci);
                if ((atomic_load(&it->iflags) & (IF_LINKED | IF_DATA)) != IF_LINKED)
                    continue;
                if (!item_is_live(it, now))
                    continue;
                /* Take the reference under the item's stripe lock, so an
                 * in-place incr (which checks for other references under
                 * it) never rewrites a value we read.  The stripe lock can
                 * only be tried here; if busy, end the batch and come back
                 * to this chunk (after many tries, go on without it). */
                uint64_t hv = item_hv(it);
                bool locked = hash_trylock(hv);
                if (!locked && ++busy < 1000)
                    break;
                busy = 0;
                /* The item may be on its way to the free list (refcount 0,
                 * blocked on our class lock): take a reference only while
                 * somebody else holds one. */
                uint16_t rc = atomic_load(&it->refcount);
                bool got = false;
                while (rc != 0 && rc < REF_MAX && !got)
                    got = atomic_compare_exchange_weak(&it->refcount, &rc, rc + 1);
                if (locked)
                    hash_unlock(hv);
                if (got)
                    b[nb++] = it;
            }
            if (ci == c->perpage) {
                ci = 0;
                pi++;
            }
            pthread_mutex_unlock(&c->lock);
            looked += n;
            if (busy > 0 && nb == 0) {
                sched_yield();
                continue;
            }
            if (nb == 0 && looked < WALK_LOOK_MAX)
                continue;
            *cursor = WALK_CUR(id, pi, ci);
            uint64_t visited = 0;
            for (int i = 0; i < nb; i++) {
                if (*cursor != ITEM_WALK_DONE) {
                    visited++;
                    if (fn(b[i], arg) != 0)
                        *cursor = ITEM_WALK_DONE;
                }
                item_release(b[i]);
            }
            return visited;
        }
    }
    *cursor = ITEM_WALK_DONE;
    return 0;
}

uint64_t
slab_walk(item_walk_fn fn, void *arg)
{
    uint64_t visited = 0, cursor = 0;
    while (cursor != ITEM_WALK_DONE)
        visited += slab_walk_step(&cursor, fn, arg);
    return visited;
}

/* SCAN_BATCH chunks per class-lock hold (pages moved meanwhile may be
 * missed or counted twice: the histogram is a snapshot of a moving cache). */
void
slab_sizes(uint64_t *hist, size_t nbuckets)
{
    for (unsigned id = 1; id <= nclasses; id++) {
        struct slab_class *c = &classes[id];
        for (uint32_t pi = 0, ci = 0;;) {
            rel_time_t now = clock_now();
            pthread_mutex_lock(&c->lock);
            if (pi >= c->npages) {
                pthread_mutex_unlock(&c->lock);
                break;
            }
            struct page *p = c->pages[pi];
            for (uint32_t n = 0; ci < c->perpage && n < SCAN_BATCH; ci++, n++) {
                struct item *it = chunk_at(c, p, ci);
                if ((atomic_load(&it->iflags) & (IF_LINKED | IF_DATA)) != IF_LINKED ||
                    !item_is_live(it, now))
                    continue;
                size_t b = (item_total_size(it) + 31) / 32;
                hist[b < nbuckets ? b : nbuckets - 1]++;
            }
            if (ci == c->perpage) {
                ci = 0;
                pi++;
            }
            pthread_mutex_unlock(&c->lock);
        }
    }
}

void
slab_stats_reset(void)
{
    for (unsigned id = 1; id <= nclasses; id++) {
        struct slab_class *c = &classes[id];
        atomic_store(&c->evicted, 0);
        atomic_store(&c->evicted_nonzero, 0);
        atomic_store(&c->evicted_unfetched, 0);
        atomic_store(&c->evicted_active, 0);
        atomic_store(&c->evicted_time, 0);
        atomic_store(&c->reclaimed, 0);
        atomic_store(&c->expired_unfetched, 0);
        atomic_store(&c->crawler_reclaimed, 0);
        atomic_store(&c->crawler_checked, 0);
        atomic_store(&c->outofmemory, 0);
        atomic_store(&c->promoted, 0);
        atomic_store(&c->ghost_hits, 0);
        atomic_store(&c->evicted_small, 0);
        atomic_store(&c->evicted_main, 0);
        atomic_store(&c->evicted_move, 0);
    }
    atomic_store(&crawler_starts, 0);
    atomic_store(&slabs_moved, 0);
}
