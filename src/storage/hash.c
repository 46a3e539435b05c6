/*
 * hash.c -- chained hash table with striped locks and incremental,
 * background expansion (see storage.h for the lock order, doc/storage.md).
 *
 * The table is an array of bucket heads (struct item *).  When the number
 * of items exceeds 1.5 x buckets, the expander thread doubles it:
 *   1. takes every stripe lock, swaps in a new table of 2x buckets, sets
 *      expanding = 1, expand_bucket = 0, releases the locks;
 *   2. moves one old bucket at a time under that bucket's stripe lock,
 *      advancing expand_bucket;
 *   3. takes every stripe lock again, clears expanding, frees the old table.
 * A lookup (under the stripe lock) uses old[hv & oldmask] while that index
 * is >= expand_bucket, the new table otherwise.  Stripes never outnumber
 * old buckets, so an old bucket and both of its new buckets share a stripe.
 */
#include "storage.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "log.h"

#define STRIPE_POWER_MAX 13

/* stripes[i]: buckets b with (b & stripe_mask) == i, in both tables, and
 * the chains hanging off them. */
static pthread_mutex_t *stripes;
static uint64_t stripe_mask;

/* Table pointers and hashpower change only with ALL stripes held, so any
 * stripe holder may read them. */
static struct item **table;          /* current (new) table */
static struct item **old_table;      /* while expanding */
static uint32_t hashpower;           /* log2 buckets of table */
static _Atomic bool expanding;
static _Atomic uint64_t expand_bucket; /* next old bucket to migrate */

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

static inline pthread_mutex_t *
stripe_of(uint64_t hv)
{
    return &stripes[hv & stripe_mask];
}

void hash_lock(uint64_t hv)   { pthread_mutex_lock(stripe_of(hv)); }
void hash_unlock(uint64_t hv) { pthread_mutex_unlock(stripe_of(hv)); }
bool hash_trylock(uint64_t hv) { return pthread_mutex_trylock(stripe_of(hv)) == 0; }

/* Cheap check that somebody holds the stripe (ideally us). */
#define ASSERT_STRIPE(hv) assert(pthread_mutex_trylock(stripe_of(hv)) != 0)

static void
lock_all(void)
{
    for (uint64_t i = 0; i <= stripe_mask; i++)
        pthread_mutex_lock(&stripes[i]);
}

static void
unlock_all(void)
{
    for (uint64_t i = stripe_mask + 1; i-- > 0;)
        pthread_mutex_unlock(&stripes[i]);
}

int
hash_setup(uint32_t power, bool expand)
{
    if (power < 4)
        power = 4;
    if (power > 32)
        power = 32;
    hashpower = power;
    table = calloc((size_t)1 << power, sizeof(*table));
    if (table == NULL)
        return -1;
    old_table = NULL;
    atomic_store(&expanding, false);
    atomic_store(&expand_bucket, 0);
    uint32_t sp = power < STRIPE_POWER_MAX ? power : STRIPE_POWER_MAX;
    stripe_mask = ((uint64_t)1 << sp) - 1;
    stripes = malloc(sizeof(*stripes) * (stripe_mask + 1));
    if (stripes == NULL) {
        free(table);
        return -1;
    }
    for (uint64_t i = 0; i <= stripe_mask; i++)
        pthread_mutex_init(&stripes[i], NULL);
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
    for (uint64_t i = 0; i <= stripe_mask; i++)
        pthread_mutex_destroy(&stripes[i]);
    free(stripes);
    stripes = NULL;
    free(table);
    free(old_table);
    table = old_table = NULL;
}

/* Address of the bucket head for hv.  Stripe lock held. */
static struct item **
bucket_locked(uint64_t hv)
{
    if (atomic_load_explicit(&expanding, memory_order_relaxed)) {
        uint64_t oi = hv & (((uint64_t)1 << (hashpower - 1)) - 1);
        if (oi >= atomic_load_explicit(&expand_bucket, memory_order_relaxed))
            return &old_table[oi];
    }
    return &table[hv & (((uint64_t)1 << hashpower) - 1)];
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
    /* hashpower is only written with all stripes held; a stale read here
     * just delays or repeats a wake-up, which the expander re-checks. */
    if (!expander_running)
        return;
    uint64_t nb = (uint64_t)1 << __atomic_load_n(&hashpower, __ATOMIC_RELAXED);
    if (nitems > nb + nb / 2 && !atomic_load_explicit(&expanding, memory_order_relaxed)) {
        pthread_mutex_lock(&exp_lock);
        exp_wanted = true;
        pthread_cond_signal(&exp_cond);
        pthread_mutex_unlock(&exp_lock);
    }
}

void
hash_stats(uint64_t *bytes, uint32_t *power, bool *exp)
{
    uint32_t hp = __atomic_load_n(&hashpower, __ATOMIC_RELAXED);
    bool e = atomic_load(&expanding);
    *bytes = ((uint64_t)1 << hp) * sizeof(void *) +
             (e ? ((uint64_t)1 << (hp - 1)) * sizeof(void *) : 0);
    *power = hp;
    *exp = e;
}

/* One doubling, run by the expander thread. */
static void
expand_once(void)
{
    uint32_t newpower = hashpower + 1;  /* only this thread writes it */
    if (newpower > 32)
        return;
    struct item **nt = calloc((size_t)1 << newpower, sizeof(*nt));
    if (nt == NULL) {
        log_warn("hash: cannot grow table to 2^%u buckets", newpower);
        return;
    }
    lock_all();
    old_table = table;
    table = nt;
    __atomic_store_n(&hashpower, newpower, __ATOMIC_RELAXED);
    atomic_store(&expand_bucket, 0);
    atomic_store(&expanding, true);
    unlock_all();

    uint64_t oldsize = (uint64_t)1 << (newpower - 1);
    uint64_t newmask = ((uint64_t)1 << newpower) - 1;
    for (uint64_t b = 0; b < oldsize; b++) {
        pthread_mutex_t *m = &stripes[b & stripe_mask];
        pthread_mutex_lock(m);
        struct item *it = old_table[b], *next;
        for (; it != NULL; it = next) {
            next = it->h_next;
            uint64_t nb = item_hv(it) & newmask;
            it->h_next = table[nb];
            table[nb] = it;
        }
        old_table[b] = NULL;
        atomic_store_explicit(&expand_bucket, b + 1, memory_order_relaxed);
        pthread_mutex_unlock(m);
    }

    lock_all();
    atomic_store(&expanding, false);
    struct item **ot = old_table;
    old_table = NULL;
    unlock_all();
    free(ot);
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

/* Debug: every item reachable from the table is linked and referenced.
 * Takes all stripe locks; for tests only. */
void
hash_check(void)
{
    lock_all();
    uint64_t nb = (uint64_t)1 << hashpower;
    for (uint64_t b = 0; b < nb; b++)
        for (struct item *it = table[b]; it != NULL; it = it->h_next) {
            uint8_t f = atomic_load(&it->iflags);
            if (!(f & IF_LINKED) || (f & IF_FREE) || atomic_load(&it->refcount) == 0) {
                fprintf(stderr, "hash_check: bucket %llu item %p key %.*s iflags %x ref %u\n",
                        (unsigned long long)b, (void *)it, it->nkey,
                        it->data + sconf.cas_len, f, atomic_load(&it->refcount));
                abort();
            }
        }
    unlock_all();
}
