/*
 * hash.c -- chained hash table with striped locks and incremental,
 * background expansion (see storage.h for the lock order, doc/storage.md).
 *
 * The table is an array of bucket heads (struct item *), described by a
 * struct htab published through one atomic pointer.  When the number of
 * items exceeds 1.5 x buckets, the expander thread doubles it:
 *   1. publishes {old = T, cur = 2x table, expanding} with expand_bucket 0;
 *      under it every lookup still uses T, so no lock is needed to switch;
 *   2. moves one old bucket at a time under that bucket's stripe lock,
 *      advancing expand_bucket;
 *   3. publishes {cur = 2x table} (equivalent once every bucket moved),
 *      then locks and unlocks each stripe in turn: a grace period after
 *      which nobody can still be using T, which it frees.
 * A lookup (under the stripe lock) uses old[hv & oldmask] while that index
 * is >= expand_bucket, the new table otherwise.  Stripes never outnumber
 * old buckets, so an old bucket and both of its new buckets share a stripe.
 * (An earlier version took every stripe lock at once for steps 1 and 3;
 * that works but ThreadSanitizer cannot track 8192 held locks.)
 */
#include "storage.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
/* XXH3 inlined (the library call is a measurable part of a lookup); the
 * Windows build sets this on the command line. */
#ifndef XXH_INLINE_ALL
#define XXH_INLINE_ALL
#endif
#include <xxhash.h>

#include "log.h"
#include "platform.h"

#define STRIPE_POWER_MAX 13

/* stripes[i]: buckets b with (b & stripe_mask) == i, in both tables, and
 * the chains hanging off them.  A stripe is a 4-byte spin lock: every
 * critical section under it is a few pointer moves (a lookup, a link, an
 * unlink; allocation and value copies happen outside it), and a lookup
 * takes two of them, so pthread's lock and unlock (two locked
 * instructions and a call each) cost more than the work they guard; the
 * array also shrinks from 320 KB to 32 KB of cache.  A waiter spins
 * briefly, then yields its CPU, so a holder that was preempted (more
 * threads than cores) gets to finish.  Acquire/release atomics:
 * ThreadSanitizer sees the ordering. */
typedef _Atomic uint32_t stripe_t;
static stripe_t *stripes;
static uint64_t stripe_mask;

/* The current table.  Readers load it with a stripe lock held; it is
 * replaced only by the expander (see above). */
struct htab {
    struct item **cur;              /* 2^power buckets */
    struct item **old;              /* 2^(power-1) buckets while expanding */
    uint32_t power;                 /* log2 buckets of cur */
};
static _Atomic(struct htab *) htab;
static _Atomic uint64_t expand_bucket; /* next old bucket to migrate */
/* Copies for lock-free readers (stats, the growth trigger). */
static _Atomic uint32_t pub_power;
static _Atomic bool pub_expanding;
/* Base address of the newest bucket array, only ever used as a prefetch
 * hint (hash_prefetch): it may be stale, it is never dereferenced. */
static _Atomic uintptr_t pub_cur;

/* Expander thread. */
static pthread_t expander;
static bool expander_running;
static pthread_mutex_t exp_lock = PTHREAD_MUTEX_INITIALIZER;  /* exp_* */
static pthread_cond_t exp_cond = PTHREAD_COND_INITIALIZER;
static bool exp_wanted, exp_stop;

static void *expander_main(void *arg);

uint64_t
hash_key(const char *key, size_t nkey)
{
    return XXH3_64bits(key, nkey);
}

static inline stripe_t *
stripe_of(uint64_t hv)
{
    return &stripes[hv & stripe_mask];
}

static inline bool
stripe_trylock(stripe_t *l)
{
    return atomic_load_explicit(l, memory_order_relaxed) == 0 &&
           atomic_exchange_explicit(l, 1, memory_order_acquire) == 0;
}

#define SPINS_BEFORE_YIELD 128

static void
stripe_lock(stripe_t *l)
{
    if (__builtin_expect(atomic_exchange_explicit(l, 1, memory_order_acquire) == 0, 1))
        return;
    for (unsigned spins = 0;; spins++) {
        if (spins < SPINS_BEFORE_YIELD)
            platform_cpu_relax();
        else
            platform_yield();
        if (stripe_trylock(l))
            return;
    }
}

static inline void
stripe_unlock(stripe_t *l)
{
    atomic_store_explicit(l, 0, memory_order_release);
}

void hash_lock(uint64_t hv)   { stripe_lock(stripe_of(hv)); }
void hash_unlock(uint64_t hv) { stripe_unlock(stripe_of(hv)); }
bool hash_trylock(uint64_t hv) { return stripe_trylock(stripe_of(hv)); }

/* Cheap check that somebody holds the stripe (ideally us). */
#ifdef MC_DEBUG_LOCKS
#define ASSERT_STRIPE(hv) assert(atomic_load(stripe_of(hv)) != 0)
#else
#define ASSERT_STRIPE(hv) ((void)0)   /* a trylock per lookup costs ~5% of a get */
#endif

/* Wait until every thread that entered a stripe before now has left it. */
static void
grace_period(void)
{
    for (uint64_t i = 0; i <= stripe_mask; i++) {
        stripe_lock(&stripes[i]);
        stripe_unlock(&stripes[i]);
    }
}

int
hash_setup(uint32_t power, bool expand)
{
    if (power < 4)
        power = 4;
    if (power > 32)
        power = 32;
    struct htab *h = calloc(1, sizeof(*h));
    if (h == NULL)
        return -1;
    h->power = power;
    h->cur = calloc((size_t)1 << power, sizeof(*h->cur));
    if (h->cur == NULL) {
        free(h);
        return -1;
    }
    atomic_store(&htab, h);
    atomic_store(&expand_bucket, 0);
    atomic_store(&pub_power, power);
    atomic_store(&pub_cur, (uintptr_t)h->cur);
    atomic_store(&pub_expanding, false);
    uint32_t sp = power < STRIPE_POWER_MAX ? power : STRIPE_POWER_MAX;
    stripe_mask = ((uint64_t)1 << sp) - 1;
    stripes = malloc(sizeof(*stripes) * (stripe_mask + 1));
    if (stripes == NULL) {
        free(h->cur);
        free(h);
        return -1;
    }
    for (uint64_t i = 0; i <= stripe_mask; i++)
        atomic_init(&stripes[i], 0);
    exp_wanted = exp_stop = false;
    expander_running = false;
    if (expand) {
        if (pthread_create(&expander, NULL, expander_main, NULL) != 0) {
            log_error("hash: cannot start expander thread");
            return -1;
        }
        expander_running = true;
    }
    return 0;
}

void
hash_teardown(void)
{
    if (expander_running) {
        pthread_mutex_lock(&exp_lock);
        exp_stop = true;
        pthread_cond_signal(&exp_cond);
        pthread_mutex_unlock(&exp_lock);
        pthread_join(expander, NULL);
        expander_running = false;
    }
    free(stripes);
    stripes = NULL;
    struct htab *h = atomic_load(&htab);
    free(h->cur);
    free(h->old);
    free(h);
    atomic_store(&htab, NULL);
}

/* Address of the bucket head for hv.  Stripe lock held. */
static struct item **
bucket_locked(uint64_t hv)
{
    struct htab *h = atomic_load_explicit(&htab, memory_order_acquire);
    if (h->old != NULL) {
        uint64_t oi = hv & (((uint64_t)1 << (h->power - 1)) - 1);
        if (oi >= atomic_load_explicit(&expand_bucket, memory_order_relaxed))
            return &h->old[oi];
    }
    return &h->cur[hv & (((uint64_t)1 << h->power) - 1)];
}

void
hash_prefetch(uint64_t hv)
{
    /* A hint only: table and hashpower may be changing under us, so the
     * address is computed without indexing (no out-of-bounds pointer) and
     * never dereferenced.  stripes is fixed after setup. */
    __builtin_prefetch(stripe_of(hv), 1);
    uintptr_t t = atomic_load_explicit(&pub_cur, memory_order_relaxed);
    uint32_t hp = atomic_load_explicit(&pub_power, memory_order_relaxed);
    __builtin_prefetch((const void *)(t + (hv & (((uint64_t)1 << hp) - 1)) * sizeof(void *)));
}

void
hash_prefetch_chain(uint64_t hv)
{
    /* The bucket head can only be read under the stripe lock (the bucket
     * array may be replaced); the item it points to is then prefetched
     * whole (header, key and a small value span up to three lines). */
    stripe_lock(stripe_of(hv));
    const char *it = (const char *)*bucket_locked(hv);
    stripe_unlock(stripe_of(hv));
    if (it != NULL) {
        __builtin_prefetch(it);
        __builtin_prefetch(it + 64);
        __builtin_prefetch(it + 128);
    }
}

struct item *
hash_find_locked(const char *key, size_t nkey, uint64_t hv)
{
    ASSERT_STRIPE(hv);
    size_t off = sconf.cas_len;
    for (struct item *it = *bucket_locked(hv); it != NULL; it = it->h_next) {
        if (it->nkey == nkey && memcmp(it->data + off, key, nkey) == 0)
            return it;
    }
    return NULL;
}

void
hash_insert_locked(struct item *it, uint64_t hv)
{
    ASSERT_STRIPE(hv);
    struct item **b = bucket_locked(hv);
#ifdef HASH_DEBUG
    for (struct item *x = *b; x != NULL; x = x->h_next)
        assert(x != it);
#endif
    it->h_next = *b;
    *b = it;
}

void
hash_delete_locked(struct item *it, uint64_t hv)
{
    ASSERT_STRIPE(hv);
    struct item **pp = bucket_locked(hv);
    while (*pp != NULL && *pp != it)
        pp = &(*pp)->h_next;
    assert(*pp == it);
    if (*pp == it)
        *pp = it->h_next;
    it->h_next = NULL;
}

void
hash_items_changed(uint64_t nitems)
{
    if (!expander_running)
        return;
    uint64_t nb = (uint64_t)1 << atomic_load_explicit(&pub_power, memory_order_relaxed);
    if (nitems > nb + nb / 2 && !atomic_load_explicit(&pub_expanding, memory_order_relaxed)) {
        pthread_mutex_lock(&exp_lock);
        exp_wanted = true;
        pthread_cond_signal(&exp_cond);
        pthread_mutex_unlock(&exp_lock);
    }
}

void
hash_stats(uint64_t *bytes, uint32_t *power, bool *exp)
{
    uint32_t hp = atomic_load(&pub_power);
    bool e = atomic_load(&pub_expanding);
    *bytes = ((uint64_t)1 << hp) * sizeof(void *) +
             (e ? ((uint64_t)1 << (hp - 1)) * sizeof(void *) : 0);
    *power = hp;
    *exp = e;
}

/* One doubling, run by the expander thread (the only writer of htab). */
static void
expand_once(void)
{
    struct htab *h0 = atomic_load(&htab);
    uint32_t newpower = h0->power + 1;
    if (newpower > 32)
        return;
    struct htab *h1 = calloc(1, sizeof(*h1));
    struct htab *h2 = calloc(1, sizeof(*h2));
    struct item **nt = calloc((size_t)1 << newpower, sizeof(*nt));
    if (h1 == NULL || h2 == NULL || nt == NULL) {
        free(h1);
        free(h2);
        free(nt);
        log_warn("hash: cannot grow table to 2^%u buckets", newpower);
        return;
    }
    *h1 = (struct htab){ .cur = nt, .old = h0->cur, .power = newpower };
    *h2 = (struct htab){ .cur = nt, .old = NULL, .power = newpower };
    atomic_store(&expand_bucket, 0);
    atomic_store(&htab, h1);                /* same buckets as h0 for now */
    atomic_store(&pub_expanding, true);
    atomic_store(&pub_cur, (uintptr_t)nt);
    atomic_store(&pub_power, newpower);

    uint64_t oldsize = (uint64_t)1 << (newpower - 1);
    uint64_t newmask = ((uint64_t)1 << newpower) - 1;
    struct item **ot = h0->cur;
    for (uint64_t b = 0; b < oldsize; b++) {
        stripe_t *m = &stripes[b & stripe_mask];
        stripe_lock(m);
        struct item *it = ot[b], *next;
        for (; it != NULL; it = next) {
            next = it->h_next;
            uint64_t nb = item_hv(it) & newmask;
            it->h_next = nt[nb];
            nt[nb] = it;
        }
        ot[b] = NULL;
        atomic_store_explicit(&expand_bucket, b + 1, memory_order_relaxed);
        stripe_unlock(m);
    }

    atomic_store(&htab, h2);                /* same buckets as h1 now */
    grace_period();
    atomic_store(&pub_expanding, false);
    free(ot);
    free(h0);
    free(h1);
    log_info("hash: table grown to 2^%u buckets", newpower);
}

static void *
expander_main(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&exp_lock);
    for (;;) {
        while (!exp_wanted && !exp_stop)
            pthread_cond_wait(&exp_cond, &exp_lock);
        if (exp_stop)
            break;
        exp_wanted = false;
        pthread_mutex_unlock(&exp_lock);
        expand_once();
        pthread_mutex_lock(&exp_lock);
    }
    pthread_mutex_unlock(&exp_lock);
    return NULL;
}

/* Debug: abort unless every item reachable from the table is linked and
 * referenced.  One stripe at a time; for tests. */
void
hash_check(void)
{
    for (uint64_t sidx = 0; sidx <= stripe_mask; sidx++) {
        stripe_lock(&stripes[sidx]);
        struct htab *h = atomic_load(&htab);
        uint64_t nb = (uint64_t)1 << h->power;
        for (uint64_t b = sidx; b < nb; b += stripe_mask + 1)
            for (struct item *it = h->cur[b]; it != NULL; it = it->h_next) {
                uint8_t f = atomic_load(&it->iflags);
                if (!(f & IF_LINKED) || (f & IF_FREE) || atomic_load(&it->refcount) == 0) {
                    fprintf(stderr, "hash_check: bucket %llu item %p iflags %x ref %u\n",
                            (unsigned long long)b, (void *)it, f,
                            (unsigned)atomic_load(&it->refcount));
                    abort();
                }
            }
        stripe_unlock(&stripes[sidx]);
    }
}
