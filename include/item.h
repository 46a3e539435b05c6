/*
 * item.h -- the storage API: the one entry point the protocol layer uses.
 *
 * The engine (src/storage/) keeps items in a slab allocator with a hard
 * memory cap, indexes them in an incrementally growing hash table, evicts
 * with a probation queue in front of CLOCK (S3-FIFO style; see
 * doc/storage.md) and reclaims expired items lazily and with a background
 * crawler.  Nothing here knows about sockets.
 *
 * References:
 *   Every function returning `struct item *` gives the caller ONE reference;
 *   the caller must item_release() it exactly once.  A referenced item is
 *   never freed or reused under its holder, even if it is deleted, replaced,
 *   expired or evicted meanwhile (its memory returns to the slab when the
 *   last reference goes).  The value bytes of a linked item never change
 *   while referenced, except through item_delta() on the same item, which
 *   rewrites in place only when no other reference exists.
 *
 * Writing a new value:
 *   it = item_alloc(key, nkey, flags, exptime, nbytes, &st);  // unlinked
 *   fill the value through item_value_iov() (exactly nbytes bytes);
 *   st = item_store(it, ITEM_SET, 0, &cas);   // publishes (or refuses) it
 *   item_release(it);                          // always, stored or not
 *
 * Times: exptime arguments are server-relative seconds (rel_time_t, see
 * clock.h); 0 means never.  Convert client exptimes with clock_exptime().
 *
 * Thread safety: every function but item_setup()/item_teardown() is
 * callable from any thread at once.  Locks (owned by the storage modules,
 * order documented in src/storage/storage.h): item stripe lock -> slab
 * class lock -> page pool lock.  No global lock is taken on the get path,
 * and no call holds a lock for more than a bounded batch of work, whatever
 * the number of items (walks, stats, page moves and sweeps drop their lock
 * between batches).
 */
#ifndef MC_ITEM_H
#define MC_ITEM_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "sysdeps.h"

#include "clock.h"

#define ITEM_KEY_MAX 250            /* longest key, bytes */

struct item;                        /* opaque; layout in src/storage/storage.h */

enum item_status {
    ITEM_OK = 0,
    ITEM_NOT_FOUND,                 /* no such (live) key */
    ITEM_NOT_STORED,                /* add on existing / replace,append,prepend on missing */
    ITEM_EXISTS,                    /* cas mismatch */
    ITEM_ENOMEM,                    /* no memory even after eviction (or -M) */
    ITEM_EOVERSIZED,                /* larger than item_size_max */
    ITEM_ENONNUMERIC,               /* incr/decr on a value that is not a decimal u64 */
    ITEM_ETYPE,                     /* the key holds a collection (or a
                                     * collection meets a plain value) */
};

enum item_store_op {
    ITEM_SET, ITEM_ADD, ITEM_REPLACE, ITEM_APPEND, ITEM_PREPEND, ITEM_CAS
};

struct item_options {
    size_t   mem_limit;             /* bytes of item memory (-m) */
    uint32_t chunk_min;             /* -n (48): the ladder starts at chunk_min + 48 */
    double   growth_factor;         /* -f (1.25) */
    uint32_t item_size_max;         /* -I: largest value+key+header (1 MB) */
    uint32_t slab_chunk_max;        /* largest chunk before chaining (page/2) */
    bool     prealloc;              /* -L: touch all memory at start */
    bool     evict;                 /* false with -M: ENOMEM instead of evicting */
    bool     use_cas;               /* false with -C: no 8-byte CAS per item */
    uint32_t hashpower;             /* initial log2 buckets (16) */
    bool     hash_expand;           /* grow the table in the background */
    bool     crawler;               /* background crawler: reclaims expired
                                     * items, refreshes the `age` stat */
    int      slab_reassign;         /* 1: allow moving pages between classes */
    int      slab_automove;         /* 0 off, 1 background (default), 2 aggressive */
    int      policy;                /* EVICT_S3FIFO (default) or EVICT_CLOCK */
};
/* Eviction policies (doc/storage.md "Eviction"): S3-FIFO-style probation
 * queue + ghost in front of a CLOCK main, or CLOCK alone. */
enum { EVICT_S3FIFO = 0, EVICT_CLOCK = 1 };

void item_options_default(struct item_options *o);

/* Start the engine (allocator, hash table, background threads).  Returns 0
 * or -1 with a message in err (size errlen). */
int  item_setup(const struct item_options *o, char *err, size_t errlen);
/* Stop background threads and free everything; no item may be referenced. */
void item_teardown(void);

/* Look up a live key.  Expired or flushed items are unlinked on the way and
 * reported as misses (counted).  Returns a referenced item or NULL. */
struct item *item_get(const char *key, size_t nkey);
/* Look up n <= ITEM_BATCH_MAX keys at once (a multiget): out[i] is what
 * item_get(keys[i], nkeys[i]) would return (one reference each, or NULL).
 * Faster than n item_get() calls: locks and buckets are prefetched for all
 * keys before the first lookup. */
#define ITEM_BATCH_MAX 16
void item_get_many(const char *const *keys, const size_t *nkeys, int n,
                   struct item **out);
/* A hint: the keys (at most ITEM_BATCH_MAX are used) will be looked up
 * soon; their locks, buckets and first chain items are prefetched so the
 * cache misses of the lookups overlap (pipelined requests, one at a
 * time).  store (may be NULL): store[i] says keys[i] will be stored (a
 * new item: what the eviction policy reads for it is prefetched too).
 * No effect on what any lookup returns. */
void item_prefetch(const char *const *keys, const size_t *nkeys, const bool *store, int n);
/* get-and-touch: as item_get, then set a new exptime (gat/gats). */
struct item *item_get_touch(const char *key, size_t nkey, rel_time_t exptime);

/* Allocate an unlinked item able to hold nbytes of value (nbytes excludes
 * any "\r\n").  May evict.  NULL with *st = ITEM_EOVERSIZED or ITEM_ENOMEM. */
struct item *item_alloc(const char *key, size_t nkey, uint32_t flags,
                        rel_time_t exptime, uint32_t nbytes,
                        enum item_status *st);

/* Publish an item from item_alloc() according to op.  For ITEM_CAS, cas_in
 * is the client's unique value.  On success *cas_out (may be NULL) gets
 * the stored item's CAS.  APPEND/PREPEND keep the old flags and exptime.
 * The caller keeps its reference either way.
 * Returns OK, NOT_STORED, EXISTS, NOT_FOUND (cas on missing key), ENOMEM
 * (append/prepend could not allocate the combined item). */
enum item_status item_store(struct item *it, enum item_store_op op,
                            uint64_t cas_in, uint64_t *cas_out);

/* Drop one reference. */
void item_release(struct item *it);

/* Unlink a key.  OK or NOT_FOUND. */
enum item_status item_delete(const char *key, size_t nkey);

/* incr (incr=true) or decr by delta.  The value must be a decimal u64 as
 * memcached's strtoull check takes it: optional leading whitespace (and
 * '+'), digits, then the end of the value or whitespace ("12abc", "-1" and
 * overflows are non-numeric).  incr wraps at 2^64, decr stops at 0.  On
 * OK, *result is the new value and *cas_out (may be NULL) its CAS.
 * NOT_FOUND, ENONNUMERIC, ENOMEM. */
enum item_status item_delta(const char *key, size_t nkey, bool incr,
                            uint64_t delta, uint64_t *result,
                            uint64_t *cas_out);

/* Set a new exptime.  OK or NOT_FOUND. */
enum item_status item_touch(const char *key, size_t nkey, rel_time_t exptime);

/* lru_crawler crawl: ask the background crawler for a pass over class id
 * (0 = every class) within a second, whatever its pacing.  Returns at
 * once; no effect when the crawler is off (-o no_lru_crawler).  Without
 * requests, passes are paced per class by what the last pass found (see
 * doc/storage.md), so an idle cache costs little CPU whatever its size. */
void item_crawl_request(unsigned id);

/* Invalidate every item stored before `when` (server-relative; 0 or a past
 * time = now).  Memory is reclaimed lazily and by the crawler. */
void item_flush(rel_time_t when);

/* Accessors for a referenced item. */
const char *item_key(const struct item *it);
uint8_t     item_nkey(const struct item *it);
uint32_t    item_flags(const struct item *it);
uint32_t    item_nbytes(const struct item *it);     /* value length */
uint64_t    item_cas(const struct item *it);        /* 0 with -C */
rel_time_t  item_exptime(const struct item *it);    /* 0 = never */
rel_time_t  item_atime(const struct item *it);      /* last access, coarse */
unsigned    item_class(const struct item *it);      /* slab class id */
bool        item_fetched(const struct item *it);    /* read since stored */
size_t      item_total_size(const struct item *it); /* header + key + value bytes
                                                     * (not the chunk size) */
/* True when so many references are held on `it` that a long-lived one
 * (output waiting for a slow client) should not be kept: copy the value
 * instead.  A lookup on an item whose count has saturated reports a miss,
 * so references parked in output buffers must not pile up on one item.
 * A relaxed read: the answer may be stale by the time it is used. */
bool        item_refs_high(const struct item *it);
/* Was the key given in base64 (meta b) when the item was stored?  Meta
 * replies then return it base64.  item_set_key_binary() marks an item
 * from item_alloc() before it is stored. */
bool        item_key_binary(const struct item *it);
void        item_set_key_binary(struct item *it);

/* Fill iov[0..n) with the value's memory segments (several for a chained
 * large item); returns the number used, or -1 if iovmax is too small.
 * Writable for an item from item_alloc() before item_store(); read-only
 * afterwards.  item_value_segments() tells how many entries are needed. */
int item_value_iov(struct item *it, struct iovec *iov, int iovmax);
int item_value_segments(const struct item *it);

/* Change the memory limit at run time (cache_memlimit).  Growing reserves
 * address space at once; shrinking gives pages back in the background (up
 * to 16 a second).  Returns 0, or -1 if the size is below the minimum (2
 * pages) or the address space cannot be reserved. */
int item_set_mem_limit(size_t bytes);

/* --- meta commands (mg, ms, md, ma; see doc/protocol.md) ---
 * Each runs atomically under the key's stripe lock, so stale-while-
 * revalidate decisions (who wins the recache) are made once per item. */

/* mg: options in, what the reply needs out. */
struct item_mget {
    bool       no_bump;             /* u: no hit marks, no atime update */
    bool       touch;               /* T: set exptime on a hit */
    rel_time_t exptime;
    bool       vivify;              /* N: on a miss, create an empty item */
    rel_time_t vivify_exptime;
    bool       recache;             /* R: win when the TTL left is below */
    uint32_t   recache_secs;
    uint64_t   new_cas;             /* E: the CAS of an item N creates */
    bool       no_win;              /* decide W/Z but record no win (the
                                     * reply carrying W will not be sent) */
    bool       binary_key;          /* b: an item N creates has a binary key */
    /* out, as they were before this command */
    rel_time_t exptime_before;      /* (T may change it) */
    /* out, as they were before this command */
    bool       fetched_before;      /* h */
    rel_time_t atime_before;        /* l */
    /* out: the stale-while-revalidate marks for the reply */
    bool       won;                 /* W: this client should recache */
    bool       stale;               /* X */
    bool       win_sent;            /* Z: another client won already */
    bool       created;             /* N made the item just now (a miss) */
};
/* Look key up applying m.  Returns a referenced item (a vivified empty
 * one included) or NULL on a miss.  Counts as item_get() does. */
struct item *item_mget(const char *key, size_t nkey, struct item_mget *m);

/* ms: how to store an item from item_alloc(). */
struct item_mset {
    enum item_store_op op;          /* ITEM_SET/ADD/REPLACE/APPEND/PREPEND */
    bool     compare;               /* C: only if the item's CAS is cas_in */
    uint64_t cas_in;
    bool     invalidate;            /* I: with C, an older cas_in still
                                     * stores, and the item is marked stale */
    uint64_t new_cas;               /* E: this CAS instead of a fresh one (0 = fresh) */
    bool     vivify;                /* N (append/prepend): create when missing */
    rel_time_t vivify_exptime;
    uint32_t nbytes_out;            /* out: the stored value's length */
};
/* Returns OK, NOT_STORED, EXISTS (C mismatch), NOT_FOUND (C on a missing
 * key), ENOMEM, EOVERSIZED.  *cas_out gets the stored CAS on OK. */
enum item_status item_mstore(struct item *it, struct item_mset *m,
                             uint64_t *cas_out);

/* md: delete, or invalidate (mark stale, new CAS), or empty the value. */
struct item_mdel {
    bool       compare;             /* C */
    uint64_t   cas_in;
    bool       invalidate;          /* I: keep it, stale, with a new CAS */
    bool       touch;               /* T (with I): new exptime */
    rel_time_t exptime;
    uint64_t   new_cas;             /* E */
    bool       empty;               /* x: keep the item with an empty value,
                                     * client flags 0, no expiry, its CAS */
};
/* Returns OK, NOT_FOUND, EXISTS (C mismatch), ENOMEM (x). */
enum item_status item_mdelete(const char *key, size_t nkey, const struct item_mdel *m);

/* ma: incr/decr with options. */
struct item_marith {
    bool       incr;
    uint64_t   delta;
    bool       compare;             /* C */
    uint64_t   cas_in;
    uint64_t   new_cas;             /* E */
    bool       vivify;              /* N: create with `initial` when missing */
    rel_time_t vivify_exptime;
    uint64_t   initial;             /* J */
    bool       binary_key;          /* b: an item N creates has a binary key */
    bool       touch;               /* T: new exptime, applied (as memcached
                                     * 1.6.18) only when the value is
                                     * rewritten in place */
    rel_time_t exptime;
};
/* Returns OK (*value, *cas_out set; *exptime_out = the exptime before T;
 * created=true if it was made by N), NOT_FOUND, NOT_STORED (N could not
 * create), EXISTS (C), ENONNUMERIC, ENOMEM. */
enum item_status item_marith(const char *key, size_t nkey, const struct item_marith *m,
                             uint64_t *value, uint64_t *cas_out,
                             rel_time_t *exptime_out, bool *created);

/* --- collections (ARCUS list, set, map, b+tree; doc/collections.md) ---
 *
 * A collection is one cache item to the rest of the engine (one hash
 * entry, one expiry, evicted and deleted as a whole, `bytes` counting
 * its elements); its elements live in slab chunks of their own, counted
 * against the memory limit.  Plain-value calls above see a collection as
 * a miss (get family, mg) or refuse it with ITEM_ETYPE (stores,
 * incr/decr, md I/x); item_delete() and item_touch() take it whole.
 *
 * Atomicity: coll_exec() runs one command on one collection under that
 * collection's own lock (a mutex in its head item), so every command is
 * atomic and no reader sees a half-made change.  The lock is taken with
 * no storage lock held and before any (order in src/storage/storage.h).
 * Work under it is what the command asks for: element lookups are
 * O(log n) (set, map: a hash tree of 16-way nodes; b+tree: a treap with
 * subtree counts, so positions too), list positions are
 * reached from the nearer end (ARCUS's doubly linked list), and freeing
 * a large collection is left to the maintenance thread.
 */
#define COLL_MAXCOUNT_DEFAULT 4000  /* ARCUS ch03: maxcount 0 or omitted */
#define COLL_MAXCOUNT_MAX     50000 /* ARCUS ch01/ch03: hard limit */
#define COLL_ELEM_MAX         16382 /* element bytes: 16 KB with "\r\n" (ch01) */
#define COLL_FIELD_MAX        250   /* map field bytes */
#define COLL_SOP_GET_MAX      1000  /* sop get count (ch06) */
#define COLL_BKEY_MAX         31    /* binary bkey, eflag bytes (ch02) */
#define COLL_EFLAG_IN_MAX     100   /* EQ/NE value lists (ch02) */
#define COLL_MGET_KEYS_MAX    200   /* bop mget (ch08) */
#define COLL_MGET_COUNT_MAX   50
#define COLL_SMGET_KEYS_MAX   10000 /* bop smget (ch08) */
#define COLL_SMGET_COUNT_MAX  2000
#define COLL_PWG_COUNT_MAX    100   /* bop pwg (ch08) */

enum coll_type { COLL_KV = 0, COLL_LIST, COLL_SET, COLL_MAP, COLL_BTREE };
enum coll_ovfl {
    COLL_OVFL_DEFAULT = 0,          /* the type's: list tail_trim, set/map error */
    COLL_OVFL_ERROR, COLL_OVFL_HEAD_TRIM, COLL_OVFL_TAIL_TRIM,
    COLL_OVFL_SMALLEST_TRIM, COLL_OVFL_LARGEST_TRIM,
    COLL_OVFL_SMALLEST_SILENT_TRIM, COLL_OVFL_LARGEST_SILENT_TRIM,
};

enum coll_status {
    COLL_OK,                        /* done (STORED, DELETED, UPDATED, OK, ...) */
    COLL_CREATED,                   /* done, and the collection was created */
    COLL_REPLACED,                  /* upsert: an element was replaced */
    COLL_DROPPED,                   /* deleted, and the empty collection dropped */
    COLL_NOT_FOUND,                 /* no such key */
    COLL_ETYPE,                     /* the key holds another type */
    COLL_EXISTS,                    /* create: the key exists */
    COLL_ELEM_EXISTS,               /* set value / map field already there */
    COLL_NO_ELEM,                   /* no element matched */
    COLL_OVERFLOWED,                /* maxcount reached, overflowaction error */
    COLL_OUT_OF_RANGE,              /* list index beyond the list */
    COLL_UNREADABLE,                /* readable=off */
    COLL_ENOMEM,
    COLL_ATTR_NOT_FOUND,            /* getattr/setattr: name not for this type */
    COLL_ATTR_BAD_VALUE,            /* setattr: value not allowed */
    COLL_EXIST,                     /* sop exist: yes (COLL_OK never) */
    COLL_NOT_EXIST,                 /* sop exist: no */
    COLL_BKEY_MISMATCH,             /* bkey type differs from the b+tree's */
    COLL_EFLAG_MISMATCH,            /* bop update: eflag part not there */
    COLL_NOTHING_TO_UPDATE,         /* bop update: neither eflag nor data */
    COLL_ENONNUMERIC,               /* bop incr/decr: value not a number */
};

enum coll_opcode {
    COP_CREATE,                     /* type, attrs */
    COP_LIST_INSERT,                /* index, data; create -> attrs */
    COP_LIST_DELETE,                /* from..to, drop */
    COP_LIST_GET,                   /* from..to, del, drop */
    COP_SET_INSERT,                 /* data; create */
    COP_SET_DELETE,                 /* data, drop */
    COP_SET_EXIST,                  /* data */
    COP_SET_GET,                    /* count (0 = all), del, drop */
    COP_MAP_INSERT, COP_MAP_UPSERT, /* field, data; create */
    COP_MAP_UPDATE,                 /* field, data */
    COP_MAP_DELETE,                 /* fields (none = all), drop */
    COP_MAP_GET,                    /* fields (none = all), del, drop */
    COP_BOP_INSERT, COP_BOP_UPSERT, /* bkey, eflag, data; create; getrim */
    COP_BOP_UPDATE,                 /* bkey, eupd, data (has_data) */
    COP_BOP_DELETE,                 /* bkey..bkey_to, filter, count, drop */
    COP_BOP_GET,                    /* bkey..bkey_to, filter, offset, count,
                                     * del, drop -> out, info->trimmed */
    COP_BOP_COUNT,                  /* bkey..bkey_to, filter -> info->number */
    COP_BOP_INCR,                   /* bkey, delta, decr; initial, eflag
                                     * -> info->number */
    COP_BOP_POSITION,               /* bkey, desc -> info->number */
    COP_BOP_GBP,                    /* from..to (positions), desc -> out */
    COP_BOP_PWG,                    /* bkey, desc, count -> out, info */
    COP_GETATTR,                    /* -> info (any item type) */
    COP_SETATTR,                    /* set: the attributes to change */
};

/* A bkey (or eflag, maxbkeyrange): an 8-byte unsigned integer, stored
 * big-endian in b[0..8) so that memcmp orders it, or 1..31 bytes of a
 * "0x" hex string (bin).  Bkeys compare bytewise, then shorter first. */
struct coll_bkey {
    uint8_t len;                    /* 0: none */
    bool    bin;                    /* hex form (else integer, len 8) */
    uint8_t b[COLL_BKEY_MAX];
};

/* An eflag filter (ch02): <offset> [<bitwop> <bitwvalue>] <compop> <compvalue>. */
enum coll_compop { CMP_EQ, CMP_NE, CMP_LT, CMP_LE, CMP_GT, CMP_GE };
struct coll_eflag_filter {
    bool    on;
    uint8_t offset;                 /* bytes into the eflag */
    char    bitwop;                 /* 0, '&', '|', '^' */
    uint8_t compop;                 /* enum coll_compop */
    uint8_t len;                    /* operand bytes (each value's) */
    uint8_t nvals;                  /* > 1: IN (EQ) / NOT IN (NE) */
    uint8_t bitw[COLL_BKEY_MAX];
    uint8_t vals[COLL_EFLAG_IN_MAX][COLL_BKEY_MAX];
};

/* An eflag update (ch02): [<offset> <bitwop>] <value>; value "0" with no
 * offset removes the eflag (len 0). */
struct coll_eflag_update {
    bool    on;
    bool    partial;                /* offset + bitwop given */
    uint8_t offset;
    char    bitwop;
    uint8_t len;
    uint8_t v[COLL_BKEY_MAX];
};

/* Attributes of a collection (ARCUS ch03). */
struct coll_attrs {
    uint32_t       flags;           /* client flags */
    rel_time_t     exptime;         /* server-relative, 0 = never */
    bool           sticky;          /* exptime -1: never expires (reported -1) */
    uint32_t       maxcount;        /* 0 = COLL_MAXCOUNT_DEFAULT; <= _MAX */
    enum coll_ovfl ovfl;
    bool           readable;
    struct coll_bkey maxbkeyrange;  /* b+tree: len 0 = unlimited */
};

/* What getattr reports (and the numbers bop commands answer). */
struct coll_info {
    enum coll_type type;
    uint32_t       flags;
    rel_time_t     exptime;         /* server-relative, 0 = never */
    bool           sticky;
    uint32_t       count, maxcount;
    enum coll_ovfl ovfl;            /* resolved (never _DEFAULT) */
    bool           readable;
    struct coll_bkey maxbkeyrange, minbkey, maxbkey; /* b+tree (len 0: none) */
    bool           trimmed;         /* b+tree: getattr; bop get: TRIMMED */
    uint64_t       number;          /* bop count, position, incr/decr */
    uint32_t       position, index; /* bop pwg: VALUE line */
    struct coll_bkey edge;          /* bop get (smget): the last bkey before
                                     * the trimmed area, when trimmed */
};

/* setattr: which attributes to change (COLL_SET_*) and their values. */
#define COLL_SET_EXPTIME  0x01u
#define COLL_SET_MAXCOUNT 0x02u
#define COLL_SET_OVFL     0x04u
#define COLL_SET_READABLE 0x08u
#define COLL_SET_MAXBKEYRANGE 0x10u

/* One command.  Pointers are the caller's and read during the call. */
struct coll_op {
    enum coll_opcode code;
    enum coll_type   type;          /* COP_CREATE and create-on-insert */
    const char      *key;
    size_t           nkey;
    const void      *data;          /* element value */
    uint32_t         ndata;         /* <= COLL_ELEM_MAX */
    const char      *field;         /* map field */
    uint8_t          nfield;
    int32_t          from, to;      /* list index (insert: from) or range */
    uint32_t         count;         /* sop get */
    const char      *fields;        /* map delete/get: space or comma separated */
    size_t           nfields_len;   /* 0 = every element */
    bool             create;        /* insert: create it when missing, with attrs */
    struct coll_attrs attrs;        /* create; setattr values */
    unsigned         set_mask;      /* setattr: COLL_SET_* */
    bool             del, drop;     /* get: delete what is returned; drop an emptied one */
    /* b+tree (bop) */
    struct coll_bkey bkey, bkey_to; /* a bkey, or the range bkey..bkey_to
                                     * (descending when bkey > bkey_to) */
    struct coll_bkey eflag;         /* insert, incr initial (len 0: none) */
    struct coll_eflag_filter filter;
    struct coll_eflag_update eupd;
    bool             has_data;      /* bop update: bytes != -1 */
    bool             getrim;        /* bop insert: hand out a trimmed element */
    bool             desc;          /* position, gbp, pwg: desc order */
    bool             smget;         /* bop get for smget: a trimmed start is
                                     * OUT_OF_RANGE */
    uint32_t         offset;        /* bop get: matching elements skipped */
    bool             decr, has_initial;
    uint64_t         delta, initial;
    uint64_t         reply_max;     /* gets: more reply bytes than this (an
                                     * estimate: values, keys, line overhead)
                                     * is COLL_ENOMEM, nothing deleted;
                                     * 0: no limit */
};

/* How a reading command hands out what it found: begin() once with the
 * collection's flags and the number of elements, then elem() for each
 * (field NULL but for maps).  Called with the collection's lock held:
 * they must not call into item.h. */
struct coll_out {
    void (*begin)(void *arg, uint32_t flags, uint32_t count);
    void (*elem)(void *arg, const char *field, size_t nfield,
                 const void *data, size_t ndata);
    void *arg;
    /* b+tree elements (bkey, eflag) instead of elem(); begin() is called
     * after info (trimmed, position, index) is filled in */
    void (*belem)(void *arg, const struct coll_bkey *bkey, const struct coll_bkey *eflag,
                  const void *data, size_t ndata);
};

/* Run op.  out: for the get commands (may be NULL otherwise); info: for
 * COP_GETATTR.  Returns the status the reply is made from; a get that
 * found elements returns COLL_OK (or COLL_DROPPED after del+drop emptied
 * it) after calling out. */
enum coll_status coll_exec(const struct coll_op *op, const struct coll_out *out,
                           struct coll_info *info);

/* Collections in memory by type (index enum coll_type; [COLL_KV] 0):
 * created and not yet freed (so one unlinked and waiting to be freed
 * still counts, for at most a maintenance tick). */
void coll_type_counts(uint64_t out[COLL_BTREE + 1]);

/* --- observers (watch: fetchers, evictions; src/util/watch.c) ---
 * Storage knows nothing about who watches: the daemon installs callbacks
 * here, and a mask word it owns says which are wanted.  When nobody
 * watches, each lookup and each eviction pays one relaxed atomic load of
 * that word. */

enum item_fetch_result {
    ITEM_FETCH_NOT_FOUND = 0, ITEM_FETCH_FOUND, ITEM_FETCH_FLUSHED, ITEM_FETCH_EXPIRED
};
struct item_observer {
    const _Atomic unsigned *mask;   /* read (relaxed) on every lookup/eviction */
    unsigned   fetch_bits;          /* fetch() runs when *mask & fetch_bits */
    unsigned   evict_bits;          /* evict() runs when *mask & evict_bits */
    /* Every key lookup a command makes (as memcached's do_item_get: a get,
     * and the lookup inside a store, delete, touch, incr, meta command);
     * it is the item found (NULL unless FOUND).  Runs on the caller's
     * thread with the key's stripe lock held: it must take no storage
     * lock and not block. */
    void     (*fetch)(const char *key, size_t nkey, enum item_fetch_result r,
                      const struct item *it);
    /* A live item is being evicted (probation, main, or a slab page move);
     * runs on the evicting thread with the class lock and the stripe lock
     * held; same rules. */
    void     (*evict)(const struct item *it);
};
/* Install (o copied) or remove (NULL) the observer.  Call before the
 * worker threads start or after they stopped. */
void item_set_observer(const struct item_observer *o);

/* --- walking (metadump, snapshots) --- */

/* Call fn for every live item (not expired, not flushed), holding a
 * reference during the call (and no lock).  fn returns 0 to go on,
 * non-zero to stop.  Concurrent writers keep working; items stored during
 * the walk may or may not be seen.  Returns the number of items visited. */
typedef int (*item_walk_fn)(struct item *it, void *arg);
uint64_t item_walk(item_walk_fn fn, void *arg);
/* A walk in bounded steps, for callers that must not hold a thread for the
 * whole cache (metadump to a slow client): each call visits at most 256
 * items (reading at most 65,536 chunks) from *cursor (start with 0), then
 * advances it; it is ITEM_WALK_DONE at the end (or once fn returned
 * non-zero).  Returns the items visited by this step (0 is possible before
 * the end).  Items stored, moved or deleted between steps may be missed or
 * seen twice. */
#define ITEM_WALK_DONE UINT64_MAX
uint64_t item_walk_step(uint64_t *cursor, item_walk_fn fn, void *arg);

/* --- slab page management (slabs reassign / slabs automove) --- */

enum item_reassign_status {
    REASSIGN_OK, REASSIGN_RUNNING /* BUSY */, REASSIGN_BADCLASS,
    REASSIGN_NOSPARE, REASSIGN_NOTFULL, REASSIGN_UNSAFE, REASSIGN_SAME,
    REASSIGN_DISABLED
};
/* Move one page from class src (-1 = the class with the most pages, at
 * least 2) to dst (0 = global pool), evicting the items in it.  OK,
 * RUNNING (another reassign is in progress), BADCLASS, NOSPARE (src has
 * fewer than 2 pages), UNSAFE (no page of src could be emptied: items in
 * use), SAME, DISABLED (-o slab_reassign off).  NOTFULL is never returned
 * (it is in the list for memcached's reply table). */
enum item_reassign_status item_slabs_reassign(int src, int dst);
void item_slabs_automove(int mode);               /* 0, 1, 2 */

/* --- statistics --- */

struct item_global_stats {
    uint64_t curr_items, total_items, bytes;          /* bytes: key+value+hdr */
    uint64_t evictions, reclaimed, expired_unfetched, evicted_unfetched;
    uint64_t evicted_active, crawler_reclaimed, slabs_moved;
    uint64_t crawler_items_checked;                   /* items crawler passes looked at */
    uint64_t crawler_starts;                          /* crawler runs (ticks that crawled) */
    uint64_t get_expired, get_flushed;
    uint64_t limit_maxbytes, total_malloced;          /* pages * page size */
    uint64_t hash_bytes; uint32_t hash_power_level; bool hash_is_expanding;
    uint64_t curr_cas;
    /* eviction policy (doc/storage.md "Eviction"; all 0 with clock but
     * main_hits and evicted_main) */
    uint64_t probation_items;                         /* items on probation now */
    uint64_t probation_hits, main_hits;               /* hits by the queue the item was in */
    uint64_t promoted;                                /* probation -> main */
    uint64_t ghost_hits;                              /* stored straight into main */
    uint64_t evicted_probation, evicted_main, evicted_slab_move;  /* evictions by reason */
    uint64_t policy_bytes;                            /* probation queues + ghost table */
};
void item_global_stats(struct item_global_stats *s);
/* "stats reset": zero the cumulative counters (total_items, evictions,
 * reclaimed, ...); gauges such as curr_items and bytes are kept. */
void item_stats_reset(void);

struct item_class_stats {
    unsigned id;
    uint32_t chunk_size, chunks_per_page;
    uint64_t total_pages, total_chunks, used_chunks, free_chunks;
    uint64_t mem_requested;                           /* bytes items use */
    uint64_t number;                                  /* items linked */
    uint64_t evicted, evicted_nonzero, evicted_unfetched, evicted_active;
    uint64_t reclaimed, expired_unfetched, crawler_reclaimed, outofmemory;
    uint64_t crawler_items_checked;                   /* items crawler passes looked at */
    uint64_t probation_items, promoted, ghost_hits;   /* as in item_global_stats */
    uint64_t evicted_probation, evicted_main, evicted_slab_move;
    /* Idle time (secs) of the class's oldest item, memcached's LRU-tail
     * age: from the last full crawler pass (the oldest atime it left in
     * place, aging since) or the last lap of the CLOCK hand (the longest
     * idle time among the items it met, i.e. the next victims), whichever
     * came last; see doc/storage.md.  Not a scan. */
    rel_time_t age;
    rel_time_t evicted_time;        /* seconds the last item evicted alive had
                                     * been idle (memcached's evicted_time) */
};
/* Number of slab classes (ids 1..n). */
unsigned item_nclasses(void);
/* Stats for class id, O(1) (takes the class lock briefly); returns false
 * for an unknown id. */
bool item_class_stats(unsigned id, struct item_class_stats *s);

/* Histogram of live item sizes for "stats sizes": calls fn(size, count)
 * for each non-empty bucket, smallest first; size is header + key + value
 * rounded up to a multiple of 32.  Reads every chunk (O(items), a batch
 * per class-lock hold), so it is slow on a large cache. */
void item_sizes(void (*fn)(uint32_t size, uint64_t count, void *arg), void *arg);

/* --- snapshots (src/persist/snapshot.c; doc/snapshot.md) ---
 * Additive API for persistence; nothing else in storage depends on it. */

/* Marks an item carries besides its data (item_image.marks,
 * item_restore); snapshot records store them as they are. */
#define ITEM_MARK_HOT     0x01u     /* CLOCK reference bit set (recently hit) */
#define ITEM_MARK_FETCHED 0x02u     /* read at least once since stored */
#define ITEM_MARK_STALE   0x04u     /* meta: invalidated, served with X */
#define ITEM_MARK_WON     0x08u     /* meta: a recache W was handed out */
#define ITEM_MARK_BINKEY  0x10u     /* key came base64 (b): any bytes, returned base64 */
#define ITEM_MARK_PROBATION 0x20u   /* on probation (policy s3fifo); without
                                     * it an item is restored into main */
#define ITEM_MARK_COLL    0x40u     /* a collection: the value is its image
                                     * (coll.c; item_coll_image_valid) */
#define ITEM_MARKS_ALL    0x7fu

/* A consistent picture of one item's metadata (see item_copy_image). */
struct item_image {
    uint32_t   flags;               /* client flags */
    uint32_t   nbytes;              /* value length */
    uint8_t    nkey;                /* key length */
    uint8_t    marks;               /* ITEM_MARK_* */
    rel_time_t exptime;             /* server-relative, 0 = never */
    rel_time_t atime;               /* server-relative last access */
    uint64_t   cas;                 /* 0 with -C */
};

/* Copy the current version of a referenced item's key (the caller holds a
 * reference on it, e.g. inside item_walk): metadata into *img, then key and
 * value bytes (img->nkey + img->nbytes) into buf of cap bytes.  If `it`
 * was replaced after the reference was taken, the item now linked under
 * the same key is copied instead (so a key updated all the time is never
 * missed; a walk may then see the same key twice: the larger CAS is the
 * newer).  A single-chunk item is copied under its hash stripe lock, the
 * lock item_delta() holds while it rewrites a value in place, so the
 * image is never torn.  Does not count as a hit.
 * Returns 1 copied; 0 nothing to copy (deleted, expired, flushed);
 * -1 buf too small: *need = bytes required (retry with a bigger buf). */
int item_copy_image(struct item *it, struct item_image *img, void *buf, size_t cap,
                    size_t *need);

/* Store an item with its original identity: SET semantics (replaces any
 * live item with the key), but CAS, atime and the marks (ITEM_MARK_*)
 * come from the arguments instead of being fresh.  exptime/atime are server-
 * relative (clock_from_unix).  Raises the CAS counter to at least cas, so
 * later stores get larger CAS values.  With -C the cas argument is
 * ignored.  May evict like item_alloc.  If a live item with a LARGER CAS
 * already holds the key, it is kept (newest wins) and EXISTS returned.
 * Returns OK, EXISTS, EOVERSIZED, ENOMEM. */
enum item_status item_restore(const char *key, size_t nkey, uint32_t flags,
                              rel_time_t exptime, uint64_t cas,
                              rel_time_t atime, unsigned marks,
                              const void *value, uint32_t nbytes);

/* Is img[0..n) a well-formed collection image (ITEM_MARK_COLL value)?
 * Checks every length and attribute, so a restore cannot fail on it but
 * for memory. */
bool item_coll_image_valid(const void *img, size_t n);

/* Make every CAS handed out from now on larger than floor (no-op if the
 * counter is already there). */
void item_cas_floor(uint64_t floor);

#endif
