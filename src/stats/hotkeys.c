/*
 * hotkeys.c -- sampled Space-Saving sketches per thread, merged when read
 * (see hotkeys.h for the contract and the error bounds).
 *
 * A sketch is Space-Saving's "stream summary" (Metwally et al., section
 * 3.1), so that every update is O(1) whatever the key distribution:
 *
 *   bucket list, ascending count (bhead: the smallest)
 *     [count 3] <-> [count 5] <-> [count 9]
 *        |             |             |
 *      slot 4        slot 0        slot 2        slots with that count,
 *      slot 7                                    a doubly linked list
 *
 *   slot[0..used)   key hash, error, its bucket, its neighbours, key length
 *   keys[0..used)   the keys, HOTKEYS_KEY_MAX bytes each (touched only when
 *                   a key enters the sketch, is compared, or is read)
 *   bucket[]        count, first slot, neighbours; at most one per slot
 *                   (a free list holds the unused ones)
 *   index[0..mask]  open addressing by hash, linear probing: slot + 1,
 *                   0 = empty; removal shifts the run back (no tombstones)
 *
 * A hit moves its slot to the bucket of count + 1 (made when missing;
 * a bucket left empty is freed); a new key takes a slot of the smallest
 * bucket and does the same.  A heap instead would sink every new key
 * (count min + 1) through all its levels when counts are alike, the
 * usual case under a flat key distribution.
 */
#include "hotkeys.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#define NIL UINT32_MAX

struct slot {
    uint64_t hash;                  /* XXH3 of the key */
    uint64_t error;                 /* the count this slot had when the key
                                     * took it over */
    uint32_t bucket;                /* its count's bucket */
    uint32_t prev, next;            /* slots of the same bucket (NIL ends) */
    uint8_t  nkey;
};

struct bucket {
    uint64_t count;                 /* sampled lookups of each of its slots,
                                     * an upper bound */
    uint32_t first;                 /* its first slot */
    uint32_t prev, next;            /* buckets, ascending count; next also
                                     * links the free list */
};

struct sketch {
    pthread_mutex_t lock;           /* everything below; taken by the owning
                                     * thread on a sampled lookup and by
                                     * readers.  Order: reg_lock -> lock */
    uint32_t        cap;            /* slots (and buckets) */
    uint32_t        used;           /* slots in use */
    uint32_t        mask;           /* index size - 1 (a power of 2 >= 2 cap) */
    uint32_t        bhead;          /* the smallest count's bucket, or NIL */
    uint32_t        bfree;          /* free buckets, linked by next */
    uint64_t        sampled;        /* samples since the last reset */
    struct slot    *slot;
    char          (*keys)[HOTKEYS_KEY_MAX];
    struct bucket  *bucket;
    uint32_t       *index;
    struct sketch  *next;           /* reg_lock */
};

static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
static struct sketch *sketches;     /* reg_lock */

/* Written by hotkeys_setup() before the release store of gen; read after
 * an acquire load of it. */
static struct hotkeys_options opts;
static _Atomic uint32_t gen = 1;    /* bumped by setup and teardown */
static _Atomic uint64_t seed_next;  /* a different sampler seed per thread */

/* Per thread: the countdown (hotkeys.h) and what the slow path needs. */
_Thread_local int32_t hotkeys_countdown_;
static _Thread_local struct {
    uint32_t       gen;             /* the setup this state belongs to */
    uint64_t       rng;             /* xorshift64 state, never 0 */
    struct sketch *sk;              /* NULL: disabled or out of memory */
} tls;

/* ---- one sketch ---- */

static uint64_t
sketch_bytes(uint32_t cap, uint32_t mask)
{
    return sizeof(struct sketch) +
           (uint64_t)cap * (sizeof(struct slot) + HOTKEYS_KEY_MAX + sizeof(struct bucket)) +
           ((uint64_t)mask + 1) * sizeof(uint32_t);
}

static void
sketch_clear_locked(struct sketch *s)
{
    s->used = 0;
    s->sampled = 0;
    s->bhead = NIL;
    for (uint32_t i = 0; i < s->cap; i++)
        s->bucket[i].next = i + 1 < s->cap ? i + 1 : NIL;
    s->bfree = 0;
    memset(s->index, 0, ((size_t)s->mask + 1) * sizeof(*s->index));
}

static struct sketch *
sketch_create(uint32_t cap)
{
    struct sketch *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return NULL;
    uint32_t isize = 1;
    while (isize < 2 * cap)
        isize <<= 1;
    s->cap = cap;
    s->mask = isize - 1;
    s->slot = calloc(cap, sizeof(*s->slot));
    s->keys = malloc((size_t)cap * HOTKEYS_KEY_MAX);
    s->bucket = calloc(cap, sizeof(*s->bucket));
    s->index = calloc(isize, sizeof(*s->index));
    if (s->slot == NULL || s->keys == NULL || s->bucket == NULL || s->index == NULL) {
        free(s->slot);
        free(s->keys);
        free(s->bucket);
        free(s->index);
        free(s);
        return NULL;
    }
    sketch_clear_locked(s);
    pthread_mutex_init(&s->lock, NULL);
    return s;
}

static void
sketch_destroy(struct sketch *s)
{
    pthread_mutex_destroy(&s->lock);
    free(s->slot);
    free(s->keys);
    free(s->bucket);
    free(s->index);
    free(s);
}

/* The index position holding slot number+1 of this key, or of the empty
 * position where it would go. */
static uint32_t
index_find(const struct sketch *s, uint64_t h, const char *key, size_t nkey)
{
    uint32_t i = (uint32_t)h & s->mask;
    for (;;) {
        uint32_t v = s->index[i];
        if (v == 0)
            return i;
        const struct slot *sl = &s->slot[v - 1];
        if (sl->hash == h && sl->nkey == nkey && memcmp(s->keys[v - 1], key, nkey) == 0)
            return i;
        i = (i + 1) & s->mask;
    }
}

/* The index position of slot n (its key is in the index). */
static uint32_t
index_of_slot(const struct sketch *s, uint32_t n)
{
    uint32_t i = (uint32_t)s->slot[n].hash & s->mask;
    while (s->index[i] != n + 1)
        i = (i + 1) & s->mask;
    return i;
}

/* Remove the entry at index position i; the entries after it in its
 * probe run move back so that every key stays reachable from its home. */
static void
index_remove(struct sketch *s, uint32_t i)
{
    uint32_t j = i;
    for (;;) {
        s->index[i] = 0;
        for (;;) {
            j = (j + 1) & s->mask;
            uint32_t v = s->index[j];
            if (v == 0)
                return;
            uint32_t home = (uint32_t)s->slot[v - 1].hash & s->mask;
            /* v may fill the hole at i unless its home lies cyclically
             * in (i, j] */
            bool stays = i <= j ? (home > i && home <= j) : (home > i || home <= j);
            if (!stays)
                break;
        }
        s->index[i] = s->index[j];
        i = j;
    }
}

/* A bucket of this count, linked after bucket `after` (NIL: at the head). */
static uint32_t
bucket_new(struct sketch *s, uint64_t count, uint32_t after)
{
    uint32_t b = s->bfree;          /* never NIL: no more buckets than slots */
    struct bucket *bk = &s->bucket[b];
    s->bfree = bk->next;
    bk->count = count;
    bk->first = NIL;
    bk->prev = after;
    bk->next = after == NIL ? s->bhead : s->bucket[after].next;
    if (bk->next != NIL)
        s->bucket[bk->next].prev = b;
    if (after == NIL)
        s->bhead = b;
    else
        s->bucket[after].next = b;
    return b;
}

static void
bucket_free(struct sketch *s, uint32_t b)
{
    struct bucket *bk = &s->bucket[b];
    if (bk->prev == NIL)
        s->bhead = bk->next;
    else
        s->bucket[bk->prev].next = bk->next;
    if (bk->next != NIL)
        s->bucket[bk->next].prev = bk->prev;
    bk->next = s->bfree;
    s->bfree = b;
}

static void
slot_push(struct sketch *s, uint32_t n, uint32_t b)
{
    struct slot *sl = &s->slot[n];
    sl->bucket = b;
    sl->prev = NIL;
    sl->next = s->bucket[b].first;
    if (sl->next != NIL)
        s->slot[sl->next].prev = n;
    s->bucket[b].first = n;
}

static void
slot_pull(struct sketch *s, uint32_t n)
{
    struct slot *sl = &s->slot[n];
    if (sl->prev == NIL)
        s->bucket[sl->bucket].first = sl->next;
    else
        s->slot[sl->prev].next = sl->next;
    if (sl->next != NIL)
        s->slot[sl->next].prev = sl->prev;
}

/* Slot n's count goes up by one: it moves to the next bucket. */
static void
slot_bump(struct sketch *s, uint32_t n)
{
    uint32_t b = s->slot[n].bucket;
    struct bucket *bk = &s->bucket[b];
    uint32_t nb = bk->next;
    bool alone = bk->first == n && s->slot[n].next == NIL;
    bool next_fits = nb != NIL && s->bucket[nb].count == bk->count + 1;
    if (alone && !next_fits) {
        bk->count++;                /* the bucket moves up with its slot */
        return;
    }
    slot_pull(s, n);
    if (!next_fits)
        nb = bucket_new(s, bk->count + 1, b);
    slot_push(s, n, nb);
    if (alone)
        bucket_free(s, b);
}

/* One sampled lookup of key (Space-Saving's update). */
static void
sketch_add_locked(struct sketch *s, uint64_t h, const char *key, size_t nkey)
{
    s->sampled++;
    uint32_t i = index_find(s, h, key, nkey);
    uint32_t v = s->index[i];
    if (v != 0) {
        slot_bump(s, v - 1);
        return;
    }
    uint32_t n;
    struct slot *sl;
    if (s->used < s->cap) {
        n = s->used++;
        sl = &s->slot[n];
        sl->error = 0;
        uint32_t b = s->bhead;
        if (b == NIL || s->bucket[b].count != 1)
            b = bucket_new(s, 1, NIL);
        slot_push(s, n, b);
    } else {
        /* take over a slot of the smallest count */
        n = s->bucket[s->bhead].first;
        sl = &s->slot[n];
        index_remove(s, index_of_slot(s, n));
        sl->error = s->bucket[s->bhead].count;
        slot_bump(s, n);
        i = index_find(s, h, key, nkey);    /* the removal may have moved it */
    }
    sl->hash = h;
    sl->nkey = (uint8_t)nkey;
    memcpy(s->keys[n], key, nkey);
    s->index[i] = n + 1;
}

/* ---- the sampler ---- */

static uint64_t
splitmix64(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

/* The gap to the next sample: uniform in 1 .. 2*sample-1 (mean: sample). */
static int32_t
next_gap(uint32_t sample)
{
    uint64_t x = tls.rng;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    tls.rng = x;
    return (int32_t)(1 + x % (2 * (uint64_t)sample - 1));
}

/* This thread's state for the current setup: a sketch when enabled. */
static void
thread_start(uint32_t g)
{
    tls.gen = g;
    tls.sk = NULL;
    tls.rng = splitmix64(atomic_fetch_add(&seed_next, 1)) | 1;
    if (!opts.enabled)
        return;
    struct sketch *s = sketch_create(opts.size);
    if (s == NULL)
        return;                     /* no sketch for this thread: its keys
                                     * go uncounted (hotkeys_info shows it) */
    pthread_mutex_lock(&reg_lock);
    s->next = sketches;
    sketches = s;
    pthread_mutex_unlock(&reg_lock);
    tls.sk = s;
}

void
hotkeys_sample_(const char *key, size_t nkey)
{
    uint32_t g = atomic_load_explicit(&gen, memory_order_acquire);
    if (tls.gen != g)
        thread_start(g);
    struct sketch *s = tls.sk;
    if (s == NULL) {
        hotkeys_countdown_ = INT32_MAX; /* disabled: look again in 2^31 */
        return;
    }
    hotkeys_countdown_ = next_gap(opts.sample);
    if (nkey == 0 || nkey > HOTKEYS_KEY_MAX)
        return;
    uint64_t h = XXH3_64bits(key, nkey);
    pthread_mutex_lock(&s->lock);
    sketch_add_locked(s, h, key, nkey);
    pthread_mutex_unlock(&s->lock);
}

/* ---- module ---- */

int
hotkeys_setup(const struct hotkeys_options *o)
{
    hotkeys_teardown();
    opts = *o;
    if (opts.sample < 1)
        opts.sample = 1;
    if (opts.sample > HOTKEYS_SAMPLE_MAX)
        opts.sample = HOTKEYS_SAMPLE_MAX;
    if (opts.size < HOTKEYS_SIZE_MIN)
        opts.size = HOTKEYS_SIZE_MIN;
    if (opts.size > HOTKEYS_SIZE_MAX)
        opts.size = HOTKEYS_SIZE_MAX;
    atomic_fetch_add_explicit(&gen, 1, memory_order_release);
    hotkeys_countdown_ = 0;         /* this thread starts again at once */
    return 0;
}

void
hotkeys_teardown(void)
{
    pthread_mutex_lock(&reg_lock);
    struct sketch *s = sketches;
    sketches = NULL;
    pthread_mutex_unlock(&reg_lock);
    while (s != NULL) {
        struct sketch *next = s->next;
        sketch_destroy(s);
        s = next;
    }
    opts.enabled = false;
    atomic_fetch_add_explicit(&gen, 1, memory_order_release);
    hotkeys_countdown_ = 0;
    tls.sk = NULL;
}

void
hotkeys_reset(void)
{
    pthread_mutex_lock(&reg_lock);
    for (struct sketch *s = sketches; s != NULL; s = s->next) {
        pthread_mutex_lock(&s->lock);
        sketch_clear_locked(s);
        pthread_mutex_unlock(&s->lock);
    }
    pthread_mutex_unlock(&reg_lock);
}

void
hotkeys_info(struct hotkeys_info *out)
{
    memset(out, 0, sizeof(*out));
    out->enabled = opts.enabled;
    out->sample = opts.sample;
    out->size = opts.size;
    pthread_mutex_lock(&reg_lock);
    for (struct sketch *s = sketches; s != NULL; s = s->next) {
        pthread_mutex_lock(&s->lock);
        out->sampled += s->sampled;
        pthread_mutex_unlock(&s->lock);
        out->bytes += sketch_bytes(s->cap, s->mask);
        out->sketches++;
    }
    pthread_mutex_unlock(&reg_lock);
}

/* ---- merging ---- */

/* One monitored key of one sketch, copied out. */
struct entry {
    uint64_t hash, count, error;
    uint64_t min_here;              /* the minimum of its sketch if full */
    uint8_t  nkey;
    char     key[HOTKEYS_KEY_MAX];
};

static int
cmp_key(const void *a, const void *b)
{
    const struct entry *x = a, *y = b;
    if (x->hash != y->hash)
        return x->hash < y->hash ? -1 : 1;
    if (x->nkey != y->nkey)
        return x->nkey < y->nkey ? -1 : 1;
    return memcmp(x->key, y->key, x->nkey);
}

static int
cmp_count(const void *a, const void *b)
{
    const struct entry *x = a, *y = b;
    if (x->count != y->count)
        return x->count > y->count ? -1 : 1;
    size_t n = x->nkey < y->nkey ? x->nkey : y->nkey;
    int c = memcmp(x->key, y->key, n);
    if (c != 0)
        return c;
    return (int)x->nkey - (int)y->nkey;
}

size_t
hotkeys_top(size_t n, struct hotkey *out)
{
    if (n > HOTKEYS_TOP_MAX)
        n = HOTKEYS_TOP_MAX;
    if (n == 0 || !opts.enabled)
        return 0;
    pthread_mutex_lock(&reg_lock);
    size_t cap = 0;
    for (struct sketch *s = sketches; s != NULL; s = s->next)
        cap += s->cap;
    struct entry *e = cap > 0 ? malloc(cap * sizeof(*e)) : NULL;
    size_t ne = 0;
    uint64_t min_total = 0;         /* sum of the minima of full sketches */
    for (struct sketch *s = e != NULL ? sketches : NULL; s != NULL; s = s->next) {
        pthread_mutex_lock(&s->lock);
        uint64_t min = s->used == s->cap && s->used > 0 ? s->bucket[s->bhead].count : 0;
        min_total += min;
        for (uint32_t i = 0; i < s->used; i++) {
            struct entry *x = &e[ne++];
            x->hash = s->slot[i].hash;
            x->count = s->bucket[s->slot[i].bucket].count;
            x->error = s->slot[i].error;
            x->min_here = min;
            x->nkey = s->slot[i].nkey;
            memcpy(x->key, s->keys[i], x->nkey);
        }
        pthread_mutex_unlock(&s->lock);
    }
    pthread_mutex_unlock(&reg_lock);
    if (ne == 0) {
        free(e);
        return 0;
    }
    /* the same key from several sketches: add up into its first copy */
    qsort(e, ne, sizeof(*e), cmp_key);
    size_t nm = 0;
    for (size_t i = 0; i < ne; i++) {
        if (nm > 0 && cmp_key(&e[nm - 1], &e[i]) == 0) {
            e[nm - 1].count += e[i].count;
            e[nm - 1].error += e[i].error;
            e[nm - 1].min_here += e[i].min_here;
        } else if (nm != i) {
            e[nm++] = e[i];
        } else {
            nm++;
        }
    }
    qsort(e, nm, sizeof(*e), cmp_count);
    if (n > nm)
        n = nm;
    uint64_t k = opts.sample;
    for (size_t i = 0; i < n; i++) {
        /* full sketches that do not monitor the key may have seen it up
         * to their minimum times */
        out[i].count = e[i].count * k;
        out[i].error = (e[i].error + (min_total - e[i].min_here)) * k;
        out[i].nkey = e[i].nkey;
        memcpy(out[i].key, e[i].key, e[i].nkey);
    }
    free(e);
    return n;
}
