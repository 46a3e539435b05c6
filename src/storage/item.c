/*
 * item.c -- the item API (include/item.h): lookups, stores, deletes,
 * deltas, expiry and flush, victim selection for the slab sweeps, and the
 * maintenance thread (crawler + automove).  Layout and locks: storage.h.
 */
#include "storage.h"

#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "log.h"

struct storage_conf sconf;

/* Global statistics (relaxed atomics). */
static _Atomic uint64_t curr_items, total_items, total_bytes;
static _Atomic uint64_t get_expired, get_flushed;
static _Atomic uint64_t cas_next;            /* last CAS handed out */

/* Flush state: an item is flushed when now >= flush_eff and (its atime <
 * flush_lt, or its CAS is below flush_cas).  See item_flush(). */
static _Atomic rel_time_t flush_eff, flush_lt;
static _Atomic uint64_t flush_cas;
static _Atomic uint64_t flush_seq;           /* item_flush() calls (the crawler) */

static uint32_t data_cap;                    /* value bytes per data chunk */

/* Maintenance thread (crawler + automove). */
static pthread_t maint;
static bool maint_running;
static pthread_mutex_t maint_lock = PTHREAD_MUTEX_INITIALIZER;  /* maint_stop */
static pthread_cond_t maint_cond = PTHREAD_COND_INITIALIZER;
static bool maint_stop;
static bool maint_woken;                     /* item_crawl_request() (maint_lock) */
static _Atomic int automove_mode;

#define BUMP_SECS 60        /* atime is refreshed at most once per minute */

void
item_options_default(struct item_options *o)
{
    memset(o, 0, sizeof(*o));
    o->mem_limit = 64 * 1024 * 1024;
    o->chunk_min = 48;
    o->growth_factor = 1.25;
    o->item_size_max = 1024 * 1024;
    o->slab_chunk_max = PAGE_SIZE / 2;
    o->prealloc = false;
    o->evict = true;
    o->use_cas = true;
    o->hashpower = 16;
    o->hash_expand = true;
    o->crawler = true;
    o->slab_reassign = 1;
    o->slab_automove = 1;
}

/* ---------- small helpers ---------- */

static inline char *
key_of(const struct item *it)
{
    return (char *)it->data + sconf.cas_len;
}

static inline char *
value_of(const struct item *it)
{
    return key_of(it) + it->nkey;
}

static inline size_t
table_off(uint8_t nkey)
{
    return (sconf.hdr + nkey + 7) & ~(size_t)7;
}

static inline struct item **
chunk_table(const struct item *it)
{
    return (struct item **)((char *)it + table_off(it->nkey));
}

static inline uint32_t
ndata_for(uint32_t nbytes)
{
    return (nbytes + data_cap - 1) / data_cap;
}

uint64_t
item_hv(const struct item *it)
{
    return hash_key(key_of(it), it->nkey);
}

size_t
item_total_size(const struct item *it)
{
    if (__builtin_expect(is_coll(it), 0))
        return sconf.hdr + it->nkey + (it->nbytes & ~NB_COLL) + coll_acct_bytes(it);
    return sconf.hdr + it->nkey + (size_t)it->nbytes;
}

/* The CAS sits at offset 28 (4-aligned, not 8-aligned) and is read by
 * scans that hold only a class lock (flush test) while incr rewrites it
 * under the stripe lock: it is accessed as two relaxed-atomic 32-bit
 * halves.  A scan may see a half-updated value of an item being
 * incremented right then; it only filters, and every decision that
 * matters is taken again under the stripe lock. */
static void
set_cas(struct item *it, uint64_t cas)
{
    if (sconf.cas_len) {
        uint32_t *w = (uint32_t *)(void *)it->data;
        __atomic_store_n(&w[0], (uint32_t)cas, __ATOMIC_RELAXED);
        __atomic_store_n(&w[1], (uint32_t)(cas >> 32), __ATOMIC_RELAXED);
    }
}

uint64_t
item_cas(const struct item *it)
{
    if (!sconf.cas_len)
        return 0;
    const uint32_t *w = (const uint32_t *)(const void *)it->data;
    uint64_t lo = __atomic_load_n(&w[0], __ATOMIC_RELAXED);
    uint64_t hi = __atomic_load_n(&w[1], __ATOMIC_RELAXED);
    return lo | hi << 32;
}

const char *item_key(const struct item *it) { return key_of(it); }
uint8_t  item_nkey(const struct item *it) { return it->nkey; }
uint32_t item_flags(const struct item *it) { return it->flags; }
uint32_t item_nbytes(const struct item *it) { return it->nbytes & ~NB_COLL; }
unsigned item_class(const struct item *it) { return slab_class_of(it); }

bool
item_refs_high(const struct item *it)
{
    return atomic_load_explicit(&((struct item *)it)->refcount, memory_order_relaxed) > REF_HIGH;
}

rel_time_t
item_exptime(const struct item *it)
{
    return atomic_load_explicit(&((struct item *)it)->exptime, memory_order_relaxed);
}

rel_time_t
item_atime(const struct item *it)
{
    return atomic_load_explicit(&((struct item *)it)->atime, memory_order_relaxed) &
           ~ATIME_FLAGS;
}

bool
item_key_binary(const struct item *it)
{
    return (atomic_load_explicit(&((struct item *)it)->atime, memory_order_relaxed) &
            ATIME_BINKEY) != 0;
}

void
item_set_key_binary(struct item *it)
{
    atomic_fetch_or_explicit(&it->atime, ATIME_BINKEY, memory_order_relaxed);
}

/* Set atime to t, keeping the flag bits (ATIME_FLAGS), which a probation
 * decision may clear at the same moment: hence the CAS. */
static void
set_atime(struct item *it, rel_time_t t)
{
    uint32_t cur = atomic_load_explicit(&it->atime, memory_order_relaxed);
    while (!atomic_compare_exchange_weak_explicit(&it->atime, &cur,
                                                  (t & ~ATIME_FLAGS) | (cur & ATIME_FLAGS),
                                                  memory_order_relaxed, memory_order_relaxed))
        ;
}

/* Is the item on probation (policy s3fifo)? */
static inline bool
on_probation(const struct item *it)
{
    return (atomic_load_explicit(&((struct item *)it)->atime, memory_order_relaxed) &
            ATIME_SMALL) != 0;
}

/* Take it off probation (promoted: into main; else it is being
 * unlinked); whoever's AND finds the mark uncounts it. */
static inline void
leave_probation(struct item *it, bool promoted)
{
    if (atomic_fetch_and_explicit(&it->atime, ~ATIME_SMALL, memory_order_relaxed) & ATIME_SMALL)
        slab_small_unmarked(it, promoted);
}

static bool
is_flushed(const struct item *it, rel_time_t now)
{
    rel_time_t eff = atomic_load_explicit(&flush_eff, memory_order_relaxed);
    if (eff == 0 || now < eff)
        return false;
    if (item_atime(it) < atomic_load_explicit(&flush_lt, memory_order_relaxed))
        return true;
    uint64_t fc = atomic_load_explicit(&flush_cas, memory_order_relaxed);
    uint64_t c = item_cas(it);
    return fc != 0 && c != 0 && c < fc;
}

static bool
is_expired(const struct item *it, rel_time_t now)
{
    rel_time_t e = item_exptime(it);
    return e != 0 && e <= now;
}

bool
item_is_live(const struct item *it, rel_time_t now)
{
    return !is_expired(it, now) && !is_flushed(it, now);
}

/* ---------- references and freeing ---------- */

static void
item_free(struct item *it)
{
    assert(!(atomic_load(&it->iflags) & IF_LINKED));
    if (is_coll(it)) {
        /* its elements first (the same rule as data chunks); a large
         * one is queued for coll_reap(), off any lock of the caller */
        if (!coll_free_elems(it))
            return;
    } else if (atomic_load(&it->iflags) & IF_CHAINED) {
        /* Data chunks go first: while one is in use its owner is intact
         * (the slab sweep relies on that). */
        struct item **tbl = chunk_table(it);
        uint32_t n = ndata_for(it->nbytes);
        for (uint32_t i = 0; i < n; i++)
            if (tbl[i] != NULL)
                slab_free(tbl[i]);
    }
    slab_free(it);
}

void
item_release(struct item *it)
{
    uint16_t old = atomic_fetch_sub(&it->refcount, 1);
    assert(old > 0);
    if (old == 1)
        item_free(it);
}

/* ---------- linking (stripe lock held) ---------- */

/* A fresh CAS, or `given` when non-zero (meta E). */
static uint64_t
next_cas(uint64_t given)
{
    return given != 0 ? given : atomic_fetch_add(&cas_next, 1) + 1;
}

/* Link it with CAS next_cas(cas). */
static void
link_cas_locked(struct item *it, uint64_t hv, uint64_t cas)
{
    assert(!(atomic_load(&it->iflags) & IF_LINKED));
    if (sconf.cas_len)
        set_cas(it, next_cas(cas));
    set_atime(it, clock_now());
    atomic_fetch_add(&it->refcount, 1);              /* the table's */
    atomic_fetch_and(&it->iflags, (uint8_t)~(IF_REF | IF_FETCHED | IF_STALE | IF_WON));
    atomic_fetch_or(&it->iflags, IF_LINKED);
    hash_insert_locked(it, hv);
    size_t sz = item_total_size(it);
    uint64_t n = atomic_fetch_add_explicit(&curr_items, 1, memory_order_relaxed) + 1;
    atomic_fetch_add_explicit(&total_items, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&total_bytes, sz, memory_order_relaxed);
    unsigned id = slab_class_of(it);
    slab_count_link(id, (int64_t)sz, 1);
    slab_note_exptime(id, item_exptime(it));    /* crawler pacing */
    hash_items_changed(n);
}

/* New exptime of a linked item (stripe lock held); tells the crawler. */
static void
set_exptime_locked(struct item *it, rel_time_t exptime)
{
    atomic_store_explicit(&it->exptime, exptime, memory_order_relaxed);
    slab_note_exptime(slab_class_of(it), exptime);
}

/* Remove from the table; the table's reference now belongs to the caller. */
static void
unlink_locked(struct item *it, uint64_t hv)
{
    assert(atomic_load(&it->iflags) & IF_LINKED);
    hash_delete_locked(it, hv);
    atomic_fetch_and(&it->iflags, (uint8_t)~IF_LINKED);
    leave_probation(it, false);
    size_t sz = item_total_size(it);
    atomic_fetch_sub_explicit(&curr_items, 1, memory_order_relaxed);
    atomic_fetch_sub_explicit(&total_bytes, sz, memory_order_relaxed);
    slab_count_link(slab_class_of(it), (int64_t)sz, -1);
}

static void
unlink_release_locked(struct item *it, uint64_t hv)
{
    unlink_locked(it, hv);
    item_release(it);
}

/* The observer (item_set_observer); obs_mask points at a word that stays
 * 0 when none is installed. */
static const _Atomic unsigned no_observer;
static struct item_observer obs = { .mask = &no_observer };

void
item_set_observer(const struct item_observer *o)
{
    if (o != NULL)
        obs = *o;
    else
        obs = (struct item_observer){ .mask = &no_observer };
}

/* Tell the fetch observer, if one watches (the one load on the hot path). */
static inline void
observe_fetch(const char *key, size_t nkey, enum item_fetch_result r, const struct item *it)
{
    if (__builtin_expect((atomic_load_explicit(obs.mask, memory_order_relaxed) &
                          obs.fetch_bits) != 0, 0))
        obs.fetch(key, nkey, r, it);
}

/* The live item for key, or NULL; dead ones are unlinked on the way (and
 * counted as get_expired/get_flushed when count is set).  A lookup made
 * for a command (observe) is reported to the fetch observer. */
static struct item *
find_live_locked(const char *key, size_t nkey, uint64_t hv, rel_time_t now,
                 bool count, bool observe)
{
    struct item *it = hash_find_locked(key, nkey, hv);
    enum item_fetch_result r = ITEM_FETCH_NOT_FOUND;
    if (it == NULL)
        goto out;
    if (is_expired(it, now)) {
        if (count)
            atomic_fetch_add_explicit(&get_expired, 1, memory_order_relaxed);
        unlink_release_locked(it, hv);
        it = NULL;
        r = ITEM_FETCH_EXPIRED;
        goto out;
    }
    if (is_flushed(it, now)) {
        if (count)
            atomic_fetch_add_explicit(&get_flushed, 1, memory_order_relaxed);
        unlink_release_locked(it, hv);
        it = NULL;
        r = ITEM_FETCH_FLUSHED;
        goto out;
    }
    r = ITEM_FETCH_FOUND;
out:
    if (observe)
        observe_fetch(key, nkey, r, it);
    return it;
}

static void
replace_cas_locked(struct item *old, struct item *it, uint64_t hv, uint64_t cas)
{
    /* A new version of a key in main stays in main: an overwrite is a use
     * (and must not push the key back through probation). */
    if (old != NULL && !on_probation(old))
        leave_probation(it, true);
    if (old != NULL)
        unlink_release_locked(old, hv);
    link_cas_locked(it, hv, cas);
}

static void
replace_locked(struct item *old, struct item *it, uint64_t hv)
{
    replace_cas_locked(old, it, hv, 0);
}

/* Hits by queue, counted per thread (no shared cache line on the hit
 * path): each thread registers a block on its first hit; stats add them
 * up.  A block belongs to one engine setup (hits_gen): a thread that
 * outlives an item_teardown(), which frees the blocks, registers anew
 * (its my_gen is compared before its block is touched). */
struct hit_count {
    _Atomic uint64_t n[2];          /* [1] on probation, [0] in main */
    struct hit_count *next;
};
static pthread_mutex_t hits_lock = PTHREAD_MUTEX_INITIALIZER;   /* hits_all */
static struct hit_count *hits_all;
static uint64_t hits_gen;           /* item_setup() calls (hits_lock) */
static _Atomic uint64_t hits_gen_pub;
static _Thread_local struct hit_count *my_hits;
static _Thread_local uint64_t my_gen;       /* hits_gen of my_hits */

static struct hit_count *
hits_register(void)
{
    struct hit_count *h = calloc(1, sizeof(*h));
    if (h == NULL)
        return NULL;
    pthread_mutex_lock(&hits_lock);
    my_gen = hits_gen;
    h->next = hits_all;
    hits_all = h;
    pthread_mutex_unlock(&hits_lock);
    return my_hits = h;
}

static inline void
count_hit(bool probation)
{
    struct hit_count *h = my_hits;
    if (h == NULL || my_gen != atomic_load_explicit(&hits_gen_pub, memory_order_relaxed)) {
        h = hits_register();
        if (h == NULL)
            return;
    }
    _Atomic uint64_t *c = &h->n[probation];
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + 1,
                          memory_order_relaxed);
}

/* Sum (reset=false) or zero (reset=true) the hit counts. */
static void
hits_sum(uint64_t *probation, uint64_t *main_, bool reset)
{
    pthread_mutex_lock(&hits_lock);
    for (struct hit_count *h = hits_all; h != NULL; h = h->next) {
        if (reset) {
            atomic_store(&h->n[0], 0);
            atomic_store(&h->n[1], 0);
        } else {
            *main_ += atomic_load_explicit(&h->n[0], memory_order_relaxed);
            *probation += atomic_load_explicit(&h->n[1], memory_order_relaxed);
        }
    }
    pthread_mutex_unlock(&hits_lock);
}

static void
hits_free_all(void)
{
    pthread_mutex_lock(&hits_lock);
    while (hits_all != NULL) {
        struct hit_count *h = hits_all;
        hits_all = h->next;
        free(h);
    }
    hits_gen++;
    atomic_store(&hits_gen_pub, hits_gen);
    pthread_mutex_unlock(&hits_lock);
}

/* A hit: take a reference and mark the item for CLOCK.  No relinking;
 * the flag write is skipped when the bits are already set. */
static struct item *
hit_locked(struct item *it, rel_time_t now)
{
    if (atomic_load_explicit(&it->refcount, memory_order_relaxed) >= REF_MAX)
        return NULL;      /* last resort: report a miss rather than wrap */
    atomic_fetch_add_explicit(&it->refcount, 1, memory_order_relaxed);
    uint8_t f = atomic_load_explicit(&it->iflags, memory_order_relaxed);
    if ((f & (IF_REF | IF_FETCHED)) != (IF_REF | IF_FETCHED))
        atomic_fetch_or_explicit(&it->iflags, IF_REF | IF_FETCHED, memory_order_relaxed);
    uint32_t a = atomic_load_explicit(&it->atime, memory_order_relaxed);
    count_hit((a & ATIME_SMALL) != 0);
    if (now - (a & ~ATIME_FLAGS) >= BUMP_SECS)
        set_atime(it, now);
    return it;
}

/* ---------- victims for the slab sweeps (class lock held) ---------- */

enum victim_res
item_victim_locked(struct item *c, enum victim_mode mode, struct item **defer)
{
#ifdef MC_DEBUG_LOCKS
    assert(slab_lock_held(c));
#endif
    uint8_t f = atomic_load(&c->iflags);
    if (f & IF_FREE)
        return V_SKIP;
    struct item *t = c;
    if (f & IF_DATA) {
        /* The owner cannot be freed while this data chunk is in use:
         * item_free() releases data chunks before the head. */
        t = c->h_next;
        f = atomic_load(&t->iflags);
    }
    if (!(f & IF_LINKED) || atomic_load(&t->refcount) != 1)
        return mode == VM_SMALL ? V_REQUEUE : V_SKIP;
    rel_time_t now = clock_now();
    /* The flush test reads the CAS, which only the stripe lock keeps
     * still (incr rewrites it), so decide "dead" for sure under that lock;
     * before it, only rule items in or out cheaply. */
    rel_time_t eff = atomic_load_explicit(&flush_eff, memory_order_relaxed);
    bool maybe_dead = is_expired(t, now) || (eff != 0 && now >= eff);
    switch (mode) {
    case VM_RECLAIM:
    case VM_CRAWL:
        if (!maybe_dead)
            return V_SKIP;
        break;
    case VM_EVICT:
        if (!maybe_dead && on_probation(t))
            return V_SKIP;                                    /* VM_SMALL's */
        if (!maybe_dead && (f & IF_REF)) {
            atomic_fetch_and(&t->iflags, (uint8_t)~IF_REF);   /* second chance */
            return V_SKIP;
        }
        break;
    case VM_SMALL:
        if (!maybe_dead && (f & IF_REF)) {
            atomic_fetch_and(&t->iflags, (uint8_t)~IF_REF);   /* hit: into main */
            return V_PROMOTE;
        }
        break;
    case VM_FORCE:
        break;
    }
    uint64_t hv = item_hv(t);
    if (!hash_trylock(hv))
        return mode == VM_SMALL ? V_REQUEUE : V_SKIP;
    f = atomic_load(&t->iflags);
    if (!(f & IF_LINKED) || atomic_load(&t->refcount) != 1) {
        hash_unlock(hv);
        return mode == VM_SMALL ? V_REQUEUE : V_SKIP;
    }
    bool dead = !item_is_live(t, now);
    if (!dead && (mode == VM_RECLAIM || mode == VM_CRAWL)) {
        hash_unlock(hv);
        return V_SKIP;
    }
    if (!dead && mode == VM_EVICT && (f & IF_REF)) {
        atomic_fetch_and(&t->iflags, (uint8_t)~IF_REF);       /* second chance */
        hash_unlock(hv);
        return V_SKIP;
    }
    if (!dead && mode == VM_SMALL && (f & IF_REF)) {
        atomic_fetch_and(&t->iflags, (uint8_t)~IF_REF);
        hash_unlock(hv);
        return V_PROMOTE;
    }
    int reason = dead ? (mode == VM_CRAWL ? 2 : 1) :
                 mode == VM_SMALL ? 3 : mode == VM_FORCE ? 4 : 0;
    if (reason == 3)
        ghost_add(hv);
    if (!dead && __builtin_expect((atomic_load_explicit(obs.mask, memory_order_relaxed) &
                                   obs.evict_bits) != 0, 0))
        obs.evict(t);
    rel_time_t at = item_atime(t);
    slab_count_evict(slab_class_of(t), reason, f, item_exptime(t), now > at ? now - at : 0);
    unlink_locked(t, hv);
    if (t == c && !(f & IF_CHAINED)) {
        uint16_t one = 1;
        if (atomic_compare_exchange_strong(&t->refcount, &one, 0)) {
            hash_unlock(hv);
            return V_FREED;
        }
    }
    hash_unlock(hv);
    *defer = t;
    return V_DEFERRED;
}

/* ---------- setup ---------- */

static void *maint_main(void *arg);

int
item_setup(const struct item_options *o, char *err, size_t errlen)
{
    if (o->policy != EVICT_S3FIFO && o->policy != EVICT_CLOCK) {
        snprintf(err, errlen, "unknown eviction policy %d", o->policy);
        return -1;
    }
    if (o->growth_factor <= 1.0) {
        snprintf(err, errlen, "growth factor %.2f must be above 1.0", o->growth_factor);
        return -1;
    }
    if (o->slab_chunk_max < 1024 || o->slab_chunk_max > PAGE_SIZE ||
        o->slab_chunk_max % 8 != 0) {
        snprintf(err, errlen, "slab_chunk_max %u must be a multiple of 8 in 1 KB..1 MB",
                 o->slab_chunk_max);
        return -1;
    }
    if (o->item_size_max < 1024 || o->item_size_max > 1024u * 1024 * 1024) {
        snprintf(err, errlen, "item_size_max %u must be in 1 KB..1 GB", o->item_size_max);
        return -1;
    }
    if (o->chunk_min < 1 || o->chunk_min + 48 > o->slab_chunk_max / 2) {
        snprintf(err, errlen, "chunk_min %u out of range", o->chunk_min);
        return -1;
    }
    memset(&sconf, 0, sizeof(sconf));
    sconf.o = *o;
    sconf.cas_len = o->use_cas ? 8 : 0;
    sconf.hdr = ITEM_HDR_BASE + sconf.cas_len;
    atomic_store(&curr_items, 0);
    atomic_store(&total_items, 0);
    atomic_store(&total_bytes, 0);
    atomic_store(&get_expired, 0);
    atomic_store(&get_flushed, 0);
    atomic_store(&cas_next, 0);
    atomic_store(&flush_eff, 0);
    atomic_store(&flush_lt, 0);
    atomic_store(&flush_cas, 0);
    atomic_store(&automove_mode, o->slab_automove);
    if (slab_setup(o, err, errlen) < 0)
        return -1;
    data_cap = slab_chunk_size(slab_largest()) - DATA_HDR;
    if (hash_setup(o->hashpower, o->hash_expand) < 0) {
        snprintf(err, errlen, "cannot allocate the hash table (2^%u)", o->hashpower);
        slab_teardown();
        return -1;
    }
    if (o->policy == EVICT_S3FIFO && ghost_setup(o->mem_limit) < 0) {
        snprintf(err, errlen, "cannot allocate the ghost table");
        hash_teardown();
        slab_teardown();
        return -1;
    }
    maint_stop = false;
    maint_woken = false;
    maint_running = false;
    atomic_store(&flush_seq, 0);
    if (o->crawler || o->slab_reassign) {
        if (pthread_create(&maint, NULL, maint_main, NULL) != 0) {
            snprintf(err, errlen, "cannot start the maintenance thread: %s", strerror(errno));
            ghost_teardown();
            hash_teardown();
            slab_teardown();
            return -1;
        }
        maint_running = true;
    }
    return 0;
}

void
item_teardown(void)
{
    if (maint_running) {
        pthread_mutex_lock(&maint_lock);
        maint_stop = true;
        pthread_cond_signal(&maint_cond);
        pthread_mutex_unlock(&maint_lock);
        pthread_join(maint, NULL);
        maint_running = false;
    }
    coll_reap(UINT32_MAX);
    ghost_teardown();
    hash_teardown();
    slab_teardown();
    hits_free_all();
}

static uint64_t
crawl_tick(void)
{
    /* A flush's pass waits until every item it invalidates is stored:
     * flush_lt is a second after flush_eff with -C. */
    uint64_t seq = atomic_load(&flush_seq);
    rel_time_t eff = atomic_load(&flush_eff), lt = atomic_load(&flush_lt);
    return slab_crawl_tick(seq, eff > lt ? eff : lt);
}

/* Once a second: the paced crawler (it decides which classes are due) and
 * an automove decision.  item_crawl_request() wakes it early for the
 * crawler alone. */
static void *
maint_main(void *arg)
{
    (void)arg;
    struct timeval tv;
    gettimeofday(&tv, NULL);
    struct timespec due = { tv.tv_sec + 1, tv.tv_usec * 1000 };
    pthread_mutex_lock(&maint_lock);
    while (!maint_stop) {
        int rc = 0;
        if (!maint_woken)
            rc = pthread_cond_timedwait(&maint_cond, &maint_lock, &due);
        if (maint_stop)
            break;
        bool woken = maint_woken;
        maint_woken = false;
        pthread_mutex_unlock(&maint_lock);
        gettimeofday(&tv, NULL);
        bool second = rc == ETIMEDOUT || tv.tv_sec > due.tv_sec ||
                      (tv.tv_sec == due.tv_sec && tv.tv_usec * 1000 >= due.tv_nsec);
        if (sconf.o.crawler && (second || woken))
            crawl_tick();
        if (second) {
            coll_reap(UINT32_MAX);
            slab_automove_tick(atomic_load(&automove_mode));
            due.tv_sec = tv.tv_sec + 1;
            due.tv_nsec = tv.tv_usec * 1000;
        }
        pthread_mutex_lock(&maint_lock);
    }
    pthread_mutex_unlock(&maint_lock);
    return NULL;
}

void
item_crawl_request(unsigned id)
{
    if (!sconf.o.crawler || !maint_running)
        return;
    slab_crawl_request(id);
    pthread_mutex_lock(&maint_lock);
    maint_woken = true;
    pthread_cond_signal(&maint_cond);
    pthread_mutex_unlock(&maint_lock);
}

uint64_t
storage_crawl_once(void)
{
    return slab_crawl();
}

uint64_t
storage_crawl_tick(void)
{
    return crawl_tick();
}

/* ---------- allocation ---------- */

/* Which queue a new item for key goes to (policy s3fifo): main if its
 * key was evicted from probation lately (a ghost), else probation. */
static enum slab_q
new_item_queue(uint64_t hv)
{
    if (sconf.o.policy != EVICT_S3FIFO || !sconf.o.evict)
        return SQ_MAIN;
    return ghost_take(hv) ? SQ_GHOST : SQ_SMALL;
}

/* Allocate an item; q says where it goes (SQ_NONE: decide by the ghost
 * table). */
static struct item *
alloc_item_q(const char *key, size_t nkey, uint32_t flags, rel_time_t exptime,
             uint32_t nbytes, enum slab_q q, enum item_status *st)
{
    size_t total = sconf.hdr + nkey + (size_t)nbytes;
    if (nkey > ITEM_KEY_MAX || total > sconf.o.item_size_max) {
        *st = ITEM_EOVERSIZED;
        return NULL;
    }
    unsigned largest = slab_largest();
    bool chained = total > slab_chunk_size(largest);
    uint32_t nd = chained ? ndata_for(nbytes) : 0;
    size_t hsize = chained ? table_off((uint8_t)nkey) + (size_t)nd * sizeof(void *) : total;
    unsigned id = slab_class_for(hsize);
    if (id == 0) {
        *st = ITEM_EOVERSIZED;
        return NULL;
    }
    uint64_t hv = hash_key(key, nkey);
    if (q == SQ_NONE)
        q = new_item_queue(hv);
    /* A chained item's data chunks are evicted by their class's main hand,
     * which cannot see probation in the head's class: no probation. */
    if (chained && q == SQ_SMALL)
        q = SQ_MAIN;
    struct item *it = slab_alloc_reap(id, hv, q);
    if (it == NULL) {
        *st = ITEM_ENOMEM;
        return NULL;
    }
    it->nkey = (uint8_t)nkey;
    it->nbytes = nbytes;
    it->flags = flags;
    atomic_store_explicit(&it->exptime, exptime, memory_order_relaxed);
    /* OR: a probation decision may clear ATIME_SMALL meanwhile. */
    atomic_fetch_or_explicit(&it->atime, clock_now() & ~ATIME_FLAGS, memory_order_relaxed);
    set_cas(it, 0);
    memcpy(key_of(it), key, nkey);
    if (chained) {
        struct item **tbl = chunk_table(it);
        memset(tbl, 0, (size_t)nd * sizeof(*tbl));
        atomic_store(&it->iflags, IF_CHAINED);
        uint32_t left = nbytes;
        for (uint32_t i = 0; i < nd; i++) {
            uint32_t len = left < data_cap ? left : data_cap;
            struct item *d = slab_alloc_reap(slab_class_for(DATA_HDR + (size_t)len), 0, SQ_NONE);
            if (d == NULL) {
                atomic_store(&it->refcount, 0);
                item_free(it);
                *st = ITEM_ENOMEM;
                return NULL;
            }
            d->h_next = it;
            atomic_store(&d->refcount, 0);
            atomic_store(&d->iflags, IF_DATA);
            tbl[i] = d;
            left -= len;
        }
    }
    *st = ITEM_OK;
    return it;
}

static struct item *
alloc_item(const char *key, size_t nkey, uint32_t flags, rel_time_t exptime,
           uint32_t nbytes, enum item_status *st)
{
    return alloc_item_q(key, nkey, flags, exptime, nbytes, SQ_NONE, st);
}

struct item *
item_alloc(const char *key, size_t nkey, uint32_t flags, rel_time_t exptime,
           uint32_t nbytes, enum item_status *st)
{
    return alloc_item(key, nkey, flags, exptime, nbytes, st);
}

int
item_value_segments(const struct item *it)
{
    if (atomic_load_explicit(&((struct item *)it)->iflags, memory_order_relaxed) & IF_CHAINED)
        return (int)ndata_for(it->nbytes);
    return 1;
}

int
item_value_iov(struct item *it, struct iovec *iov, int iovmax)
{
    int n = item_value_segments(it);
    if (n > iovmax)
        return -1;
    if (!(atomic_load_explicit(&it->iflags, memory_order_relaxed) & IF_CHAINED)) {
        iov[0].iov_base = value_of(it);
        iov[0].iov_len = it->nbytes;
        return 1;
    }
    struct item **tbl = chunk_table(it);
    uint32_t left = it->nbytes;
    for (int i = 0; i < n; i++) {
        uint32_t len = left < data_cap ? left : data_cap;
        iov[i].iov_base = (char *)tbl[i] + DATA_HDR;
        iov[i].iov_len = len;
        left -= len;
    }
    return n;
}

/* Copy len bytes of src's value starting at soff into dst's value at doff. */
static void
value_copy(struct item *dst, size_t doff, struct item *src, size_t soff, size_t len)
{
    struct iovec sv[item_value_segments(src)], dv[item_value_segments(dst)];
    int ns = item_value_iov(src, sv, (int)(sizeof(sv) / sizeof(sv[0])));
    int ndv = item_value_iov(dst, dv, (int)(sizeof(dv) / sizeof(dv[0])));
    int si = 0, di = 0;
    /* position both cursors */
    while (si < ns && soff >= sv[si].iov_len) { soff -= sv[si].iov_len; si++; }
    while (di < ndv && doff >= dv[di].iov_len) { doff -= dv[di].iov_len; di++; }
    while (len > 0) {
        assert(si < ns && di < ndv);
        size_t a = sv[si].iov_len - soff, b = dv[di].iov_len - doff;
        size_t n = a < b ? a : b;
        if (n > len)
            n = len;
        memcpy((char *)dv[di].iov_base + doff, (char *)sv[si].iov_base + soff, n);
        len -= n;
        soff += n;
        doff += n;
        if (soff == sv[si].iov_len) { si++; soff = 0; }
        if (doff == dv[di].iov_len) { di++; doff = 0; }
    }
}

/* ---------- the API ---------- */

/* A lookup that counts as a hit; a collection is a miss unless any. */
static struct item *
get_hit(const char *key, size_t nkey, bool any)
{
    uint64_t hv = hash_key(key, nkey);
    rel_time_t now = clock_now();
    hash_lock(hv);
    struct item *it = find_live_locked(key, nkey, hv, now, true, true);
    if (it != NULL)
        it = is_coll(it) && !any ? NULL : hit_locked(it, now);
    hash_unlock(hv);
    return it;
}

struct item *
item_get(const char *key, size_t nkey)
{
    return get_hit(key, nkey, false);
}

/* Hash n keys into hv[] and prefetch their locks and buckets, then the
 * first item of each chain while the buckets arrive, so that the cache
 * misses of several lookups overlap instead of queueing up. */
static void
prefetch_keys(const char *const *keys, const size_t *nkeys, int n, uint64_t *hv)
{
    for (int i = 0; i < n; i++) {
        hv[i] = hash_key(keys[i], nkeys[i]);
        hash_prefetch(hv[i]);
    }
    for (int i = 0; i < n; i++)
        hash_prefetch_chain(hv[i]);
}

void
item_prefetch(const char *const *keys, const size_t *nkeys, const bool *store, int n)
{
    uint64_t hv[ITEM_BATCH_MAX];
    if (n > ITEM_BATCH_MAX)
        n = ITEM_BATCH_MAX;
    prefetch_keys(keys, nkeys, n, hv);
    if (store == NULL || sconf.o.policy != EVICT_S3FIFO || !sconf.o.evict)
        return;
    for (int i = 0; i < n; i++)
        if (store[i])
            ghost_prefetch(hv[i]);
}

void
item_get_many(const char *const *keys, const size_t *nkeys, int n, struct item **out)
{
    uint64_t hv[ITEM_BATCH_MAX];
    assert(n <= ITEM_BATCH_MAX);
    prefetch_keys(keys, nkeys, n, hv);
    rel_time_t now = clock_now();
    for (int i = 0; i < n; i++) {
        hash_lock(hv[i]);
        struct item *it = find_live_locked(keys[i], nkeys[i], hv[i], now, true, true);
        if (it != NULL)
            it = is_coll(it) ? NULL : hit_locked(it, now);
        hash_unlock(hv[i]);
        out[i] = it;
    }
}

struct item *
item_get_touch(const char *key, size_t nkey, rel_time_t exptime)
{
    uint64_t hv = hash_key(key, nkey);
    rel_time_t now = clock_now();
    hash_lock(hv);
    struct item *it = find_live_locked(key, nkey, hv, now, true, true);
    if (it != NULL) {
        it = is_coll(it) ? NULL : hit_locked(it, now);
        if (it != NULL)
            set_exptime_locked(it, exptime);
    }
    hash_unlock(hv);
    return it;
}

struct item *
item_mget(const char *key, size_t nkey, struct item_mget *m)
{
    uint64_t hv = hash_key(key, nkey);
    rel_time_t now = clock_now();
    struct item *ni = NULL;         /* N: the empty item, made unlocked */
    enum item_status st;
    m->won = m->stale = m->win_sent = m->created = false;
    m->fetched_before = false;
    m->atime_before = now;
    m->exptime_before = m->vivify_exptime;
    hash_lock(hv);
retry:;
    /* (a lookup again after making the N item is not a second fetch) */
    struct item *it = find_live_locked(key, nkey, hv, now, true, ni == NULL);
    if (it != NULL && is_coll(it)) {
        it = NULL;                  /* a collection: a miss, never vivified over */
        goto out;
    }
    if (it == NULL) {
        if (!m->vivify)
            goto out;
        if (ni == NULL) {
            hash_unlock(hv);
            ni = alloc_item(key, nkey, 0, m->vivify_exptime, 0, &st);
            hash_lock(hv);
            if (ni == NULL)
                goto out;
            goto retry;
        }
        /* the caller gets our allocation reference; the table its own */
        if (m->binary_key)
            item_set_key_binary(ni);
        link_cas_locked(ni, hv, m->new_cas);
        if (!m->no_win)
            atomic_fetch_or(&ni->iflags, IF_WON);
        m->won = m->created = true;
        it = ni;
        ni = NULL;
        goto out;
    }
    uint8_t f = atomic_load_explicit(&it->iflags, memory_order_relaxed);
    m->fetched_before = (f & IF_FETCHED) != 0;
    m->atime_before = item_atime(it);
    m->exptime_before = item_exptime(it);
    if (m->touch)
        set_exptime_locked(it, m->exptime);
    m->stale = (f & IF_STALE) != 0;
    if (f & IF_WON) {
        m->win_sent = true;
    } else {
        rel_time_t e = item_exptime(it);
        bool expiring = m->recache && e != 0 && e - now < m->recache_secs;
        if (m->stale || expiring) {
            if (!m->no_win)
                atomic_fetch_or(&it->iflags, IF_WON);
            m->won = true;
        }
    }
    if (m->no_bump) {
        if (atomic_load_explicit(&it->refcount, memory_order_relaxed) >= REF_MAX)
            it = NULL;
        else
            atomic_fetch_add_explicit(&it->refcount, 1, memory_order_relaxed);
    } else {
        it = hit_locked(it, now);
    }
out:
    hash_unlock(hv);
    if (ni != NULL)
        item_release(ni);
    return it;
}

enum item_status
item_mdelete(const char *key, size_t nkey, const struct item_mdel *m)
{
    uint64_t hv = hash_key(key, nkey);
    enum item_status st = ITEM_OK;
    struct item *ni = NULL;
    if (m->empty) {
        /* x: the empty replacement, made before taking the lock */
        ni = alloc_item(key, nkey, 0, 0, 0, &st);
        if (ni == NULL)
            return ITEM_ENOMEM;
        st = ITEM_OK;
    }
    hash_lock(hv);
    struct item *it = find_live_locked(key, nkey, hv, clock_now(), false, true);
    if (it == NULL || (is_coll(it) && (m->empty || m->invalidate))) {
        st = it == NULL ? ITEM_NOT_FOUND : ITEM_ETYPE;
        goto out;
    }
    if (m->compare && item_cas(it) != m->cas_in) {
        st = ITEM_EXISTS;
        goto out;
    }
    if (ni != NULL) {
        /* x: an empty value, client flags 0, no expiry, the same CAS
         * unless E or I give a new one (as 1.6.45) */
        uint64_t keep = item_cas(it);
        replace_cas_locked(it, ni, hv, m->new_cas ? m->new_cas : m->invalidate ? 0 : keep);
        it = ni;
    }
    if (m->invalidate) {
        /* stale, with a new CAS; the next mg wins the recache */
        if (ni == NULL && sconf.cas_len)
            set_cas(it, next_cas(m->new_cas));
        atomic_fetch_and(&it->iflags, (uint8_t)~IF_WON);
        atomic_fetch_or(&it->iflags, IF_STALE);
    } else if (ni == NULL) {
        unlink_release_locked(it, hv);
        goto out;
    }
    if (m->touch)                   /* T: with I or x */
        set_exptime_locked(it, m->exptime);
out:
    hash_unlock(hv);
    if (ni != NULL)
        item_release(ni);
    return st;
}

enum item_status
item_touch(const char *key, size_t nkey, rel_time_t exptime)
{
    uint64_t hv = hash_key(key, nkey);
    rel_time_t now = clock_now();
    enum item_status st = ITEM_NOT_FOUND;
    hash_lock(hv);
    struct item *it = find_live_locked(key, nkey, hv, now, false, true);
    if (it != NULL) {
        set_exptime_locked(it, exptime);
        atomic_fetch_or_explicit(&it->iflags, IF_REF | IF_FETCHED, memory_order_relaxed);
        st = ITEM_OK;
    }
    hash_unlock(hv);
    return st;
}

enum item_status
item_delete(const char *key, size_t nkey)
{
    uint64_t hv = hash_key(key, nkey);
    enum item_status st = ITEM_NOT_FOUND;
    hash_lock(hv);
    struct item *it = find_live_locked(key, nkey, hv, clock_now(), false, true);
    if (it != NULL) {
        unlink_release_locked(it, hv);
        st = ITEM_OK;
    }
    hash_unlock(hv);
    return st;
}

/* append/prepend: build old+new in a fresh item and swap it in.  The
 * allocation (which may sweep and evict) runs without the stripe lock,
 * holding a reference on old; if old was replaced meanwhile, retry. */
static enum item_status
concat_locked(struct item *old, struct item *it, bool append, uint64_t hv,
              uint64_t new_cas, uint64_t *cas_out)
{
    for (;;) {
        uint64_t n = (uint64_t)old->nbytes + it->nbytes;
        if (n > UINT32_MAX)
            return ITEM_ENOMEM;
        if (atomic_load(&old->refcount) >= REF_MAX)
            return ITEM_ENOMEM;
        atomic_fetch_add(&old->refcount, 1);
        hash_unlock(hv);
        enum item_status st;
        struct item *ni = alloc_item(key_of(old), old->nkey, old->flags,
                                     item_exptime(old), (uint32_t)n, &st);
        hash_lock(hv);
        struct item *cur = find_live_locked(key_of(it), it->nkey, hv, clock_now(), false, false);
        if (cur != old || ni == NULL) {
            item_release(old);
            if (ni != NULL)
                item_release(ni);
            if (ni == NULL)
                return ITEM_ENOMEM;
            if (cur == NULL)
                return ITEM_NOT_STORED;
            old = cur;
            continue;
        }
        if (append) {
            value_copy(ni, 0, old, 0, old->nbytes);
            value_copy(ni, old->nbytes, it, 0, it->nbytes);
        } else {
            value_copy(ni, 0, it, 0, it->nbytes);
            value_copy(ni, it->nbytes, old, 0, old->nbytes);
        }
        replace_cas_locked(old, ni, hv, new_cas);
        item_release(old);
        if (cas_out)
            *cas_out = item_cas(ni);
        item_release(ni);
        return ITEM_OK;
    }
}

enum item_status
item_store(struct item *it, enum item_store_op op, uint64_t cas_in,
           uint64_t *cas_out)
{
    struct item_mset m = {
        .op = op == ITEM_CAS ? ITEM_SET : op,
        .compare = op == ITEM_CAS,
        .cas_in = cas_in,
    };
    return item_mstore(it, &m, cas_out);
}

enum item_status
item_mstore(struct item *it, struct item_mset *m, uint64_t *cas_out)
{
    uint64_t hv = item_hv(it);
    enum item_status st = ITEM_OK;
    bool stale = false;
    hash_lock(hv);
    struct item *old = find_live_locked(key_of(it), it->nkey, hv, clock_now(), false, true);
    bool concat = m->op == ITEM_APPEND || m->op == ITEM_PREPEND;
    if (old != NULL && is_coll(old) != is_coll(it)) {
        st = ITEM_ETYPE;            /* a collection is not a value, nor the reverse */
        goto out;
    }
    m->nbytes_out = it->nbytes;
    /* (append with N on a missing key creates it whatever C says) */
    if (m->compare && !(old == NULL && concat && m->vivify)) {
        if (old == NULL) {
            st = ITEM_NOT_FOUND;
            goto out;
        }
        uint64_t cur = item_cas(old);
        if (cur != m->cas_in) {
            /* I: an older CAS is accepted, and the value marked stale */
            if (!m->invalidate || m->cas_in > cur) {
                st = ITEM_EXISTS;
                goto out;
            }
            stale = true;
        }
    }
    if (concat && old != NULL)
        m->nbytes_out = old->nbytes + it->nbytes;
    switch (m->op) {
    case ITEM_SET:
    case ITEM_CAS:
        break;
    case ITEM_ADD:
        if (old != NULL) {
            /* memcached bumps the existing item */
            atomic_fetch_or_explicit(&old->iflags, IF_REF, memory_order_relaxed);
            st = ITEM_NOT_STORED;
            goto out;
        }
        break;
    case ITEM_REPLACE:
        if (old == NULL) {
            st = ITEM_NOT_STORED;
            goto out;
        }
        break;
    case ITEM_APPEND:
    case ITEM_PREPEND:
        if (old == NULL) {
            if (!m->vivify) {
                st = ITEM_NOT_STORED;
                goto out;
            }
            atomic_store_explicit(&it->exptime, m->vivify_exptime, memory_order_relaxed);
            break;
        }
        st = concat_locked(old, it, m->op == ITEM_APPEND, hv, m->new_cas, cas_out);
        goto out;
    }
    uint8_t won = stale ? (atomic_load(&old->iflags) & IF_WON) : 0;
    replace_cas_locked(old, it, hv, m->new_cas);
    if (stale)                      /* stale; a win already handed out stays so */
        atomic_fetch_or(&it->iflags, (uint8_t)(IF_STALE | won));
    if (cas_out)
        *cas_out = item_cas(it);
out:
    hash_unlock(hv);
    return st;
}

/* Parse a value as memcached does (strtoull + "next char is space or
 * end"): optional leading whitespace, digits, then end or whitespace.
 * Overflow and a leading '-' are non-numeric. */
static bool
parse_u64(const char *p, size_t n, uint64_t *out)
{
    size_t i = 0;
    while (i < n && isspace((unsigned char)p[i]))
        i++;
    if (i < n && p[i] == '+')
        i++;
    size_t start = i;
    uint64_t v = 0;
    for (; i < n && p[i] >= '0' && p[i] <= '9'; i++) {
        unsigned d = (unsigned)(p[i] - '0');
        if (v > (UINT64_MAX - d) / 10)
            return false;
        v = v * 10 + d;
    }
    if (i == start)
        return false;
    if (i < n && !isspace((unsigned char)p[i]))
        return false;
    *out = v;
    return true;
}

enum item_status
item_delta(const char *key, size_t nkey, bool incr, uint64_t delta,
           uint64_t *result, uint64_t *cas_out)
{
    struct item_marith m = { .incr = incr, .delta = delta };
    rel_time_t exp;
    bool created;
    return item_marith(key, nkey, &m, result, cas_out, &exp, &created);
}

enum item_status
item_marith(const char *key, size_t nkey, const struct item_marith *m,
            uint64_t *value, uint64_t *cas_out, rel_time_t *exptime_out,
            bool *created)
{
    uint64_t hv = hash_key(key, nkey);
    enum item_status st = ITEM_OK;
    struct item *ni = NULL;         /* replacement allocated on a previous try */
    char buf[24];
    int len;
    uint64_t v;
    *created = false;
    hash_lock(hv);
retry:;
    /* (a lookup again after allocating is not a second fetch) */
    struct item *it = find_live_locked(key, nkey, hv, clock_now(), false, ni == NULL);
    if (it != NULL && is_coll(it)) {
        st = ITEM_ETYPE;
        goto out;
    }
    if (it == NULL) {
        if (!m->vivify) {
            st = ITEM_NOT_FOUND;
            goto out;
        }
        /* N: create it holding the initial value (no delta applied) */
        v = m->initial;
        len = snprintf(buf, sizeof(buf), "%" PRIu64, v);
        if (ni == NULL || ni->nbytes != (uint32_t)len || ni->flags != 0) {
            if (ni != NULL)
                item_release(ni);
            hash_unlock(hv);
            ni = alloc_item(key, nkey, 0, 0, (uint32_t)len, &st);
            hash_lock(hv);
            if (ni == NULL) {
                st = ITEM_NOT_STORED;
                goto out;
            }
            goto retry;
        }
        atomic_store_explicit(&ni->exptime, m->vivify_exptime, memory_order_relaxed);
        memcpy(value_of(ni), buf, (size_t)len);
        if (m->binary_key)
            item_set_key_binary(ni);
        link_cas_locked(ni, hv, m->new_cas);
        it = ni;
        *created = true;
        goto done;
    }
    if (m->compare && item_cas(it) != m->cas_in) {
        st = ITEM_EXISTS;
        goto out;
    }
    if ((atomic_load(&it->iflags) & IF_CHAINED) || !parse_u64(value_of(it), it->nbytes, &v)) {
        st = ITEM_ENONNUMERIC;
        goto out;
    }
    if (m->incr)
        v += m->delta;                      /* wraps at 2^64 */
    else
        v = m->delta > v ? 0 : v - m->delta;
    len = snprintf(buf, sizeof(buf), "%" PRIu64, v);
    /* a CLOCK mark, but not "fetched": memcached's incr does not read it */
    atomic_fetch_or_explicit(&it->iflags, IF_REF, memory_order_relaxed);
    if ((uint32_t)len <= it->nbytes && atomic_load(&it->refcount) == 1) {
        /* Nobody else holds it: rewrite in place, space padded. */
        memcpy(value_of(it), buf, (size_t)len);
        memset(value_of(it) + len, ' ', it->nbytes - (size_t)len);
        if (sconf.cas_len)
            set_cas(it, next_cas(m->new_cas));
        *exptime_out = item_exptime(it);
        /* T: applied to an item updated in place only (memcached 1.6.18
         * loses it when the longer result needs a new item) */
        if (m->touch)
            set_exptime_locked(it, m->exptime);
    } else {
        if (ni != NULL && (ni->nbytes != (uint32_t)len || ni->flags != it->flags)) {
            item_release(ni);       /* made for a version replaced since */
            ni = NULL;
        }
        if (ni == NULL) {
            /* Allocate without the stripe lock (the allocation may sweep
             * the class for a while), holding a reference on it so that
             * nobody rewrites it in place meanwhile; then look again. */
            if (atomic_load(&it->refcount) >= REF_MAX) {
                st = ITEM_ENOMEM;
                goto out;
            }
            atomic_fetch_add(&it->refcount, 1);
            uint32_t flags = it->flags;
            hash_unlock(hv);
            ni = alloc_item(key, nkey, flags, 0, (uint32_t)len, &st);
            hash_lock(hv);
            item_release(it);       /* stripe -> class: in lock order */
            if (ni == NULL) {
                st = ITEM_ENOMEM;
                goto out;
            }
            goto retry;
        }
        atomic_store_explicit(&ni->exptime, item_exptime(it), memory_order_relaxed);
        memcpy(value_of(ni), buf, (size_t)len);
        replace_cas_locked(it, ni, hv, m->new_cas);
        it = ni;
        *exptime_out = item_exptime(it);
    }
    goto tail;
done:
    *exptime_out = item_exptime(it);
tail:
    /* (a linked ni is held by the table; our reference goes at out) */
    *value = v;
    if (cas_out)
        *cas_out = item_cas(it);
out:
    hash_unlock(hv);
    if (ni != NULL)
        item_release(ni);
    return st;
}

void
item_flush(rel_time_t when)
{
    rel_time_t now = clock_now();
    if (when == 0 || when <= now) {
        /* Immediate: everything stored so far, including earlier this
         * second (told apart by CAS), is invalid. */
        atomic_store(&flush_cas, sconf.cas_len ? atomic_load(&cas_next) + 1 : 0);
        atomic_store(&flush_lt, sconf.cas_len ? now : now + 1);
        atomic_store(&flush_eff, now);
    } else {
        atomic_store(&flush_cas, 0);
        atomic_store(&flush_lt, when);
        atomic_store(&flush_eff, when);
    }
    atomic_fetch_add(&flush_seq, 1);        /* the crawler reclaims them */
}

int
item_set_mem_limit(size_t bytes)
{
    return slab_set_mem_limit(bytes);
}

uint64_t
item_walk(item_walk_fn fn, void *arg)
{
    return slab_walk(fn, arg);
}

uint64_t
item_walk_step(uint64_t *cursor, item_walk_fn fn, void *arg)
{
    return slab_walk_step(cursor, fn, arg);
}

enum item_reassign_status
item_slabs_reassign(int src, int dst)
{
    return slab_reassign(src, dst);
}

void
item_slabs_automove(int mode)
{
    atomic_store(&automove_mode, mode);
}

void
item_global_stats(struct item_global_stats *s)
{
    memset(s, 0, sizeof(*s));
    s->curr_items = atomic_load(&curr_items);
    s->total_items = atomic_load(&total_items);
    s->bytes = atomic_load(&total_bytes);
    s->get_expired = atomic_load(&get_expired);
    s->get_flushed = atomic_load(&get_flushed);
    s->curr_cas = atomic_load(&cas_next);
    hits_sum(&s->probation_hits, &s->main_hits, false);
    s->policy_bytes = ghost_bytes();
    slab_stats(s);
    hash_stats(&s->hash_bytes, &s->hash_power_level, &s->hash_is_expanding);
}

unsigned
item_nclasses(void)
{
    return slab_nclasses();
}

bool
item_class_stats(unsigned id, struct item_class_stats *s)
{
    return slab_class_stats(id, s);
}

void
item_sizes(void (*fn)(uint32_t size, uint64_t count, void *arg), void *arg)
{
    size_t cap = sconf.o.item_size_max < 4u * 1024 * 1024 ? sconf.o.item_size_max : 4u * 1024 * 1024;
    size_t nb = cap / 32 + 2;
    uint64_t *hist = calloc(nb, sizeof(*hist));
    if (hist == NULL)
        return;
    slab_sizes(hist, nb);
    for (size_t i = 0; i < nb; i++)
        if (hist[i])
            fn((uint32_t)(i * 32), hist[i], arg);
    free(hist);
}

void
item_stats_reset(void)
{
    atomic_store(&total_items, 0);
    atomic_store(&get_expired, 0);
    atomic_store(&get_flushed, 0);
    hits_sum(NULL, NULL, true);
    slab_stats_reset();
}

/* ---------- snapshots (src/persist/snapshot.c) ----------
 * Additive: the three functions below are the storage side of
 * persistence.  See include/item.h for their contracts. */

void
item_image_meta(struct item *t, struct item_image *img)
{
    uint8_t f = atomic_load(&t->iflags);
    img->flags = t->flags;
    img->nbytes = t->nbytes;
    img->nkey = t->nkey;
    img->marks = (uint8_t)(((f & IF_REF) ? ITEM_MARK_HOT : 0) |
                           ((f & IF_FETCHED) ? ITEM_MARK_FETCHED : 0) |
                           ((f & IF_STALE) ? ITEM_MARK_STALE : 0) |
                           ((f & IF_WON) ? ITEM_MARK_WON : 0) |
                           (item_key_binary(t) ? ITEM_MARK_BINKEY : 0) |
                           (on_probation(t) ? ITEM_MARK_PROBATION : 0));
    img->exptime = item_exptime(t);
    img->atime = item_atime(t);
    img->cas = item_cas(t);
}

/* Copy item t (stripe lock held if lock) into img/buf. */
static void
copy_image(struct item *t, struct item_image *img, void *buf)
{
    uint8_t f = atomic_load(&t->iflags);
    item_image_meta(t, img);
    memcpy(buf, key_of(t), t->nkey);
    char *dst = (char *)buf + t->nkey;
    if (!(f & IF_CHAINED)) {
        memcpy(dst, value_of(t), t->nbytes);
        return;
    }
    struct item **tbl = chunk_table(t);
    uint32_t left = t->nbytes, n = ndata_for(t->nbytes);
    for (uint32_t i = 0; i < n; i++) {
        uint32_t len = left < data_cap ? left : data_cap;
        memcpy(dst, (char *)tbl[i] + DATA_HDR, len);
        dst += len;
        left -= len;
    }
}

int
item_copy_image(struct item *it, struct item_image *img, void *buf, size_t cap,
                size_t *need)
{
    uint64_t hv = item_hv(it);
    uint8_t f = atomic_load(&it->iflags);
    rel_time_t now = clock_now();
    if (is_coll(it))
        return coll_copy_image(it, img, buf, cap, need);   /* under its own lock */
    /* Fast path: a linked chained item is never rewritten in place
     * (item_delta refuses them) and its CAS changes only by replacement,
     * so its bytes are stable under our reference: copy it without the
     * stripe lock, so a 1 MB copy never stalls the stripe's other keys. */
    if ((f & IF_CHAINED) && (f & IF_LINKED) && item_is_live(it, now)) {
        *need = (size_t)it->nkey + it->nbytes;
        if (*need > cap)
            return -1;
        copy_image(it, img, buf);
        return 1;
    }
    int rc = 0;
    hash_lock(hv);
    /* The current version of the key: `it` itself, or the item that
     * replaced it after the walk took its reference (a key updated all the
     * time must not drop out of the snapshot).  Looked up without marking
     * it as hit. */
    struct item *t = it;
    if (!(atomic_load(&it->iflags) & IF_LINKED))
        t = hash_find_locked(key_of(it), it->nkey, hv);
    if (t != NULL && item_is_live(t, now) && !is_coll(t)) {
        *need = (size_t)t->nkey + t->nbytes;
        if (*need > cap) {
            rc = -1;
        } else {
            copy_image(t, img, buf);
            rc = 1;
        }
    }
    hash_unlock(hv);
    return rc;
}

void
item_cas_floor(uint64_t floor)
{
    uint64_t cur = atomic_load(&cas_next);
    while (cur < floor && !atomic_compare_exchange_weak(&cas_next, &cur, floor))
        ;
}

enum item_status
item_restore(const char *key, size_t nkey, uint32_t flags, rel_time_t exptime,
             uint64_t cas, rel_time_t atime, unsigned marks,
             const void *value, uint32_t nbytes)
{
    enum item_status st;
    struct item *it;
    if (marks & ITEM_MARK_COLL) {
        /* a collection's image: rebuilt, elements and all, unlinked */
        it = coll_restore(key, nkey, flags, exptime, value, nbytes, &st);
        if (it == NULL)
            return st;
    } else {
        /* Probation or main, as it was saved (a file without the mark: main). */
        enum slab_q q = (marks & ITEM_MARK_PROBATION) && sconf.o.policy == EVICT_S3FIFO &&
                        sconf.o.evict ? SQ_SMALL : SQ_MAIN;
        it = alloc_item_q(key, nkey, flags, exptime, nbytes, q, &st);
        if (it == NULL)
            return st;
        /* Copy the flat value into the item's segment(s). */
        int nseg = item_value_segments(it);
        struct iovec iov[nseg];
        int n = item_value_iov(it, iov, nseg);
        const char *src = value;
        for (int i = 0; i < n; i++) {
            memcpy(iov[i].iov_base, src, iov[i].iov_len);
            src += iov[i].iov_len;
        }
    }
    uint64_t hv = item_hv(it);
    hash_lock(hv);
    struct item *old = find_live_locked(key_of(it), it->nkey, hv, clock_now(), false, false);
    if (old != NULL && sconf.cas_len && cas != 0 && item_cas(old) > cas) {
        /* a newer version of this key is already here: keep it */
        hash_unlock(hv);
        item_release(it);
        return ITEM_EXISTS;
    }
    replace_locked(old, it, hv);
    /* link_locked gave it a fresh CAS, atime and cleared marks: put the
     * saved identity back while still holding the stripe lock. */
    if (sconf.cas_len) {
        set_cas(it, cas);
        item_cas_floor(cas);
    }
    set_atime(it, atime);
    slab_note_atime(slab_class_of(it), atime);
    uint8_t f = (uint8_t)(((marks & ITEM_MARK_HOT) ? IF_REF : 0) |
                          ((marks & ITEM_MARK_FETCHED) ? IF_FETCHED : 0) |
                          ((marks & ITEM_MARK_STALE) ? IF_STALE : 0) |
                          ((marks & ITEM_MARK_WON) ? IF_WON : 0));
    if (f)
        atomic_fetch_or(&it->iflags, f);
    if (marks & ITEM_MARK_BINKEY)
        item_set_key_binary(it);
    hash_unlock(hv);
    item_release(it);
    return ITEM_OK;
}

/* ---------- collections (src/storage/coll.c) ----------
 * The few item-level steps coll.c needs; each takes the stripe lock
 * itself (after any collection lock: storage.h). */

struct item *
item_alloc_coll(const char *key, size_t nkey, uint32_t flags, rel_time_t exptime,
                uint32_t nbytes, enum item_status *st)
{
    /* Main, not probation: its element chunks are evicted by their
     * classes' main hands (as a chained item's data chunks). */
    struct item *it = alloc_item_q(key, nkey, flags, exptime, nbytes, SQ_MAIN, st);
    if (it != NULL)
        it->nbytes |= NB_COLL;
    return it;
}

struct item *
item_get_any(const char *key, size_t nkey)
{
    return get_hit(key, nkey, true);
}

bool
item_is_linked(const struct item *it)
{
    return (atomic_load(&((struct item *)it)->iflags) & IF_LINKED) != 0;
}

bool
item_unlink_this(struct item *it)
{
    uint64_t hv = item_hv(it);
    bool done = false;
    hash_lock(hv);
    if (atomic_load(&it->iflags) & IF_LINKED) {
        unlink_release_locked(it, hv);
        done = true;
    }
    hash_unlock(hv);
    return done;
}

void
item_account(struct item *it, int64_t delta, _Atomic uint64_t *acct)
{
    uint64_t hv = item_hv(it);
    hash_lock(hv);
    atomic_store_explicit(acct, (uint64_t)((int64_t)atomic_load_explicit(acct,
                          memory_order_relaxed) + delta), memory_order_relaxed);
    if (atomic_load(&it->iflags) & IF_LINKED) {
        if (delta >= 0)
            atomic_fetch_add_explicit(&total_bytes, (uint64_t)delta, memory_order_relaxed);
        else
            atomic_fetch_sub_explicit(&total_bytes, (uint64_t)-delta, memory_order_relaxed);
        slab_count_bytes(slab_class_of(it), delta);
    }
    hash_unlock(hv);
}

void
item_set_exptime(struct item *it, rel_time_t exptime)
{
    uint64_t hv = item_hv(it);
    hash_lock(hv);
    set_exptime_locked(it, exptime);
    hash_unlock(hv);
}
