/*
 * coll.c -- collections (ARCUS list, set, map, b+tree): the storage side of
 * coll_exec() (contract in include/item.h, design in doc/collections.md).
 *
 * A collection is a head item (item.c: nbytes carries NB_COLL) whose
 * value holds struct coll, 8-aligned after the key:
 *
 *   head item  [hdr | key | pad | struct coll: lock, counts, root/head/tail]
 *                                        |
 *   element    [32-byte chunk hdr: h_next = head, iflags IF_DATA | struct celem | field | value]
 *   hash node  [32-byte chunk hdr: h_next = head, iflags IF_DATA | struct hnode ]
 *
 * Elements and hash nodes are slab chunks (counted against -m) marked as
 * data chunks of the head, so a CLOCK sweep or a page move that meets one
 * evicts the collection whole, exactly as for a chained value's chunks,
 * and item_free() frees them before the head.
 *
 * Structures:
 *   list: doubly linked (ARCUS's); a position is reached from the nearer end.
 *   b+tree: a treap of the elements with subtree counts (see "b+tree" below).
 *   set, map: a hash tree.  A node has 16 slots, each a chain of elements
 *     or a child node (tagged pointer, low bit); slot i of a node at depth
 *     d takes hash bits [4d, 4d+4).  A chain longer than HT_SPLIT (8) is
 *     split into a child (bounded work: 9 elements), so a lookup is
 *     O(depth + 8) with depth <= 8, and growing never rehashes the whole
 *     set.  Each slot counts the elements below it, so the n-th element
 *     (sop get's random start) is found in O(16 * depth).
 *
 * LOCKS: struct coll.lock (a mutex in the head) serialises commands on one
 * collection; it is taken with a reference held and no storage lock held,
 * and before any storage lock (stripe, class, pool; storage.h).  Under it
 * we allocate chunks (slab_alloc: class lock, only TRIES stripe locks) and
 * take the head's stripe lock for accounting (item_account) or a drop.
 * Nothing takes a collection lock while holding a storage lock: the sweeps
 * skip a collection somebody references, and the last reference frees it
 * with the lock unused.  reap_lock (the queue of large collections to
 * free) is a leaf.
 */
#include <assert.h>
#include <stdio.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "storage.h"

#define HT_FAN      16
#define HT_BITS     4
#define HT_SPLIT    8               /* a longer chain becomes a child node */
#define HT_DEPTH    8               /* 32 hash bits / 4 */
#define FREE_INLINE 256             /* larger collections are freed by coll_reap() */

struct celem {
    struct celem *next;             /* list: next; set/map: hash chain */
    struct celem *prev;             /* list: previous */
    uint32_t      hash;             /* set/map: of the value / field */
    uint32_t      nbytes;           /* value length */
    uint8_t       nfield;           /* map: field length */
    char          data[];           /* field, then value */
};

struct hnode {
    uintptr_t slot[HT_FAN];         /* struct celem * chain, or child | 1 */
    uint16_t  cnt[HT_FAN];          /* elements below each slot (<= 50,000) */
};

struct coll {
    pthread_mutex_t  lock;          /* commands on this collection */
    _Atomic uint64_t acct;          /* element + node bytes in the stats
                                     * (stripe lock; item_account()) */
    uint8_t          type;          /* enum coll_type */
    uint8_t          ovfl;          /* enum coll_ovfl, resolved */
    bool             readable;
    bool             sticky;
    uint32_t         count;         /* elements */
    uint32_t         maxcount;
    uint32_t         nodes;         /* hash nodes */
    uint8_t          bktype;        /* b+tree: BK_NONE (empty), _INT, _BIN */
    uint8_t          trimmed;       /* b+tree: TRIM_NONE, _SMALL, _LARGE: the side
                                     * an overflow trim removed from */
    struct coll_bkey maxbkeyrange;  /* b+tree; len 0: unlimited */
    union {
        struct { struct celem *head, *tail; } l;
        struct hnode *root;         /* set, map */
        struct belem *broot;        /* b+tree */
    } u;
};

static _Atomic uint64_t type_count[COLL_BTREE + 1];    /* coll_type_counts() */

/* A command in progress: the collection and its byte delta. */
struct ctx {
    struct item *it;
    struct coll *co;
    int64_t      delta;             /* chunk bytes added (removed) */
};

static inline size_t
coll_off(uint8_t nkey)
{
    return (sconf.hdr + nkey + 7) & ~(size_t)7;
}

static inline struct coll *
coll_of(const struct item *it)
{
    return (struct coll *)((char *)it + coll_off(it->nkey));
}

size_t
coll_acct_bytes(const struct item *it)
{
    return atomic_load_explicit(&coll_of(it)->acct, memory_order_relaxed);
}

static inline struct item *
chunk_of(const void *p)
{
    return (struct item *)((char *)p - DATA_HDR);
}

/* ---------- chunks ---------- */

/* A chunk of at least size bytes past DATA_HDR, not yet owned: refcount
 * 1, iflags 0 (the sweeps skip it) until chunk_attach(). */
static void *
chunk_new(size_t size)
{
    unsigned id = slab_class_for(DATA_HDR + size);
    if (id == 0)
        return NULL;
    struct item *c = slab_alloc_reap(id, 0, SQ_NONE);
    return c == NULL ? NULL : (char *)c + DATA_HDR;
}

static void
chunk_attach(struct ctx *x, void *p)
{
    struct item *c = chunk_of(p);
    c->h_next = x->it;
    atomic_store(&c->refcount, 0);
    atomic_store(&c->iflags, IF_DATA);   /* after h_next: the sweep reads it */
    x->delta += slab_chunk_size(slab_class_of(c));
}

/* Free a chunk, attached (x counts it) or not (x NULL). */
static void
chunk_free(struct ctx *x, void *p)
{
    struct item *c = chunk_of(p);
    if (x != NULL)
        x->delta -= slab_chunk_size(slab_class_of(c));
    atomic_store(&c->refcount, 0);
    slab_free(c);
}

static uint32_t
elem_hash(const char *k, size_t n)
{
    uint64_t h = hash_key(k, n);
    return (uint32_t)(h ^ (h >> 32));
}

/* The element's identity: a map's field, a set's value. */
static inline const char *
ekey(const struct coll *co, const struct celem *e, size_t *n)
{
    *n = co->type == COLL_MAP ? e->nfield : e->nbytes;
    return e->data;
}

/* ---------- hash tree (set, map) ---------- */

static inline unsigned
slot_at(uint32_t hash, unsigned depth)
{
    return (hash >> (HT_BITS * depth)) & (HT_FAN - 1);
}

static struct hnode *
node_new(struct ctx *x)
{
    struct hnode *n = chunk_new(sizeof(*n));
    if (n == NULL)
        return NULL;
    memset(n, 0, sizeof(*n));
    chunk_attach(x, n);
    x->co->nodes++;
    return n;
}

/* Where ht_find() found an element: the pointer that points at it (for
 * unlinking or replacing), and the nodes and slots from the root. */
struct ht_pos {
    struct celem **link;
    struct hnode  *path[HT_DEPTH];
    unsigned       idx[HT_DEPTH];
    unsigned       depth;
};

/* Find the element with key k (its position into *pos), or NULL. */
static struct celem *
ht_find(const struct coll *co, const char *k, size_t n, uint32_t hash, struct ht_pos *pos)
{
    struct hnode **path = pos->path;
    unsigned *idx = pos->idx;
    struct hnode *node = co->u.root;
    unsigned d = 0;
    for (;;) {
        unsigned i = slot_at(hash, d);
        path[d] = node;
        idx[d] = i;
        d++;
        if (node->slot[i] & 1) {
            node = (struct hnode *)(node->slot[i] & ~(uintptr_t)1);
            continue;
        }
        pos->depth = d;
        struct celem **pp = (struct celem **)&node->slot[i];
        for (struct celem *e = *pp; e != NULL; pp = &e->next, e = e->next) {
            size_t en;
            const char *ek = ekey(co, e, &en);
            if (e->hash == hash && en == n && memcmp(ek, k, n) == 0) {
                pos->link = pp;
                return e;
            }
        }
        return NULL;
    }
}

/* Add e (absent: the caller looked). */
static void
ht_insert(struct ctx *x, struct celem *e)
{
    struct hnode *node = x->co->u.root;
    for (unsigned d = 0;; d++) {
        unsigned i = slot_at(e->hash, d);
        node->cnt[i]++;
        if (node->slot[i] & 1) {
            node = (struct hnode *)(node->slot[i] & ~(uintptr_t)1);
            continue;
        }
        e->next = (struct celem *)node->slot[i];
        node->slot[i] = (uintptr_t)e;
        if (node->cnt[i] > HT_SPLIT && d + 1 < HT_DEPTH) {
            struct hnode *ch = node_new(x);       /* no memory: stays a chain */
            if (ch != NULL) {
                struct celem *c = (struct celem *)node->slot[i];
                while (c != NULL) {
                    struct celem *nx = c->next;
                    unsigned j = slot_at(c->hash, d + 1);
                    c->next = (struct celem *)ch->slot[j];
                    ch->slot[j] = (uintptr_t)c;
                    ch->cnt[j]++;
                    c = nx;
                }
                node->slot[i] = (uintptr_t)ch | 1;
            }
        }
        return;
    }
}

/* Free an emptied subtree's nodes. */
static void
nodes_free(struct ctx *x, struct hnode *n)
{
    for (unsigned i = 0; i < HT_FAN; i++)
        if (n->slot[i] & 1)
            nodes_free(x, (struct hnode *)(n->slot[i] & ~(uintptr_t)1));
    x->co->nodes--;
    chunk_free(x, n);
}

/* Unlink e, found by ht_find() at pos, and free it. */
static void
ht_remove(struct ctx *x, struct celem *e, const struct ht_pos *pos)
{
    *pos->link = e->next;
    x->co->count--;
    for (unsigned d = 0; d < pos->depth; d++) {
        struct hnode *n = pos->path[d];
        unsigned i = pos->idx[d];
        n->cnt[i]--;
        if (n->cnt[i] == 0 && (n->slot[i] & 1)) {
            nodes_free(x, (struct hnode *)(n->slot[i] & ~(uintptr_t)1));
            n->slot[i] = 0;
            break;
        }
    }
    chunk_free(x, e);
}

/* Collect elements in tree order: skip *skip of them, then up to want
 * into out[got..]; returns the new got. */
static uint32_t
ht_collect(const struct hnode *n, uint32_t *skip, uint32_t want,
           struct celem **out, uint32_t got)
{
    for (unsigned i = 0; i < HT_FAN && got < want; i++) {
        if (n->cnt[i] == 0)
            continue;
        if (*skip >= n->cnt[i]) {
            *skip -= n->cnt[i];
            continue;
        }
        if (n->slot[i] & 1) {
            got = ht_collect((const struct hnode *)(n->slot[i] & ~(uintptr_t)1),
                             skip, want, out, got);
            continue;
        }
        for (struct celem *e = (struct celem *)n->slot[i]; e != NULL && got < want;
             e = e->next) {
            if (*skip > 0) {
                (*skip)--;
                continue;
            }
            out[got++] = e;
        }
    }
    return got;
}

/* Remove element e of a set/map (looked up again for its path). */
static void
ht_delete_elem(struct ctx *x, struct celem *e)
{
    struct ht_pos pos;
    size_t n;
    const char *k = ekey(x->co, e, &n);
    struct celem *f = ht_find(x->co, k, n, e->hash, &pos);
    assert(f == e);
    (void)f;
    ht_remove(x, e, &pos);
}

/* Add *ne (its key absent), unless the collection is full. */
static enum coll_status
ht_add(struct ctx *x, struct celem **ne)
{
    if (x->co->count >= x->co->maxcount)
        return COLL_OVERFLOWED;
    chunk_attach(x, *ne);
    ht_insert(x, *ne);
    x->co->count++;
    *ne = NULL;
    return COLL_OK;
}

/* ---------- list ---------- */

/* The element at position pos (0 <= pos < count), from the nearer end. */
static struct celem *
list_at(const struct coll *co, uint32_t pos)
{
    struct celem *e;
    if (pos < co->count / 2) {
        e = co->u.l.head;
        while (pos-- > 0)
            e = e->next;
    } else {
        e = co->u.l.tail;
        for (uint32_t k = co->count - 1; k > pos; k--)
            e = e->prev;
    }
    return e;
}

/* Insert e so that it is at position pos (0 <= pos <= count). */
static void
list_insert_at(struct coll *co, struct celem *e, uint32_t pos)
{
    struct celem *after = pos == co->count ? NULL : list_at(co, pos);
    struct celem *before = after != NULL ? after->prev : co->u.l.tail;
    e->prev = before;
    e->next = after;
    if (before != NULL)
        before->next = e;
    else
        co->u.l.head = e;
    if (after != NULL)
        after->prev = e;
    else
        co->u.l.tail = e;
    co->count++;
}

static void
list_unlink(struct ctx *x, struct celem *e)
{
    struct coll *co = x->co;
    if (e->prev != NULL)
        e->prev->next = e->next;
    else
        co->u.l.head = e->next;
    if (e->next != NULL)
        e->next->prev = e->prev;
    else
        co->u.l.tail = e->prev;
    co->count--;
    chunk_free(x, e);
}

/* An ARCUS index (negative: from the end, -1 = last) as a position;
 * false if it is outside 0..count-1 (or 0..count with insert). */
static bool
list_pos(const struct coll *co, int32_t index, bool insert, uint32_t *pos)
{
    int64_t n = (int64_t)co->count + (insert ? 1 : 0);
    int64_t p = index < 0 ? n + index : index;
    if (p < 0 || p >= n)
        return false;
    *pos = (uint32_t)p;
    return true;
}

/* A range from..to clipped to the list as ARCUS does: positions p1, p2
 * (p1 > p2: backward).  False when nothing is in range. */
static bool
list_range(const struct coll *co, int32_t from, int32_t to, uint32_t *p1, uint32_t *p2)
{
    int64_t n = co->count;
    if (n == 0)
        return false;
    int64_t a = from < 0 ? n + from : from;
    int64_t b = to < 0 ? n + to : to;
    if (a <= b) {
        if (b < 0 || a >= n)
            return false;
        if (a < 0) a = 0;
        if (b >= n) b = n - 1;
    } else {
        if (a < 0 || b >= n)
            return false;
        if (a >= n) a = n - 1;
        if (b < 0) b = 0;
    }
    *p1 = (uint32_t)a;
    *p2 = (uint32_t)b;
    return true;
}

/* ---------- creating, freeing ---------- */

static enum coll_ovfl
ovfl_default(enum coll_type t)
{
    switch (t) {
    case COLL_LIST:  return COLL_OVFL_TAIL_TRIM;
    case COLL_BTREE: return COLL_OVFL_SMALLEST_TRIM;
    default:         return COLL_OVFL_ERROR;
    }
}

static bool
ovfl_allowed(enum coll_type t, enum coll_ovfl o)
{
    switch (o) {
    case COLL_OVFL_ERROR:
        return true;
    case COLL_OVFL_HEAD_TRIM: case COLL_OVFL_TAIL_TRIM:
        return t == COLL_LIST;
    case COLL_OVFL_SMALLEST_TRIM: case COLL_OVFL_LARGEST_TRIM:
    case COLL_OVFL_SMALLEST_SILENT_TRIM: case COLL_OVFL_LARGEST_SILENT_TRIM:
        return t == COLL_BTREE;
    default:
        return false;
    }
}

static uint32_t
maxcount_of(uint32_t m)
{
    return m == 0 ? COLL_MAXCOUNT_DEFAULT : m > COLL_MAXCOUNT_MAX ? COLL_MAXCOUNT_MAX : m;
}

/* A new, unlinked, empty collection (one reference), or NULL with *st. */
static struct item *
coll_new(const struct coll_op *op, enum coll_status *st)
{
    enum item_status ist;
    size_t pad = coll_off((uint8_t)op->nkey) - (sconf.hdr + op->nkey);
    if (op->nkey > ITEM_KEY_MAX) {
        *st = COLL_ENOMEM;
        return NULL;
    }
    struct item *it = item_alloc_coll(op->key, op->nkey, op->attrs.flags, op->attrs.exptime,
                                      (uint32_t)(pad + sizeof(struct coll)), &ist);
    if (it == NULL) {
        *st = COLL_ENOMEM;
        return NULL;
    }
    struct coll *co = coll_of(it);
    memset(co, 0, sizeof(*co));
    pthread_mutex_init(&co->lock, NULL);
    co->type = (uint8_t)op->type;
    co->ovfl = (uint8_t)(op->attrs.ovfl == COLL_OVFL_DEFAULT ? ovfl_default(op->type)
                                                              : op->attrs.ovfl);
    co->readable = op->attrs.readable;
    co->sticky = op->attrs.sticky;
    co->maxcount = maxcount_of(op->attrs.maxcount);
    atomic_fetch_add_explicit(&type_count[op->type], 1, memory_order_relaxed);
    if (op->type == COLL_BTREE)
        co->maxbkeyrange = op->attrs.maxbkeyrange;
    if (op->type == COLL_SET || op->type == COLL_MAP) {
        struct ctx x = { .it = it, .co = co };
        co->u.root = node_new(&x);
        if (co->u.root == NULL) {
            item_release(it);
            *st = COLL_ENOMEM;
            return NULL;
        }
        item_account(it, x.delta, &co->acct);  /* unlinked: the field only */
    }
    return it;
}

static void bt_free_all(struct coll *co);

void
coll_type_counts(uint64_t out[COLL_BTREE + 1])
{
    for (int t = 0; t <= COLL_BTREE; t++)
        out[t] = atomic_load_explicit(&type_count[t], memory_order_relaxed);
}

/* Free every element and node of co (nobody references it). */
static void
free_all(struct coll *co)
{
    atomic_fetch_sub_explicit(&type_count[co->type], 1, memory_order_relaxed);
    struct ctx x = { .co = co };
    if (co->type == COLL_BTREE) {
        bt_free_all(co);
    } else if (co->type == COLL_LIST) {
        struct celem *e = co->u.l.head;
        while (e != NULL) {
            struct celem *nx = e->next;
            chunk_free(NULL, e);
            e = nx;
        }
        co->u.l.head = co->u.l.tail = NULL;
    } else if (co->u.root != NULL) {
        /* chains first, then the nodes */
        struct hnode *stack[HT_DEPTH * HT_FAN + 32];
        unsigned sp = 0;
        stack[sp++] = co->u.root;
        while (sp > 0) {
            struct hnode *n = stack[--sp];
            for (unsigned i = 0; i < HT_FAN; i++) {
                if (n->slot[i] & 1) {
                    stack[sp++] = (struct hnode *)(n->slot[i] & ~(uintptr_t)1);
                    n->slot[i] = 0;
                } else {
                    struct celem *e = (struct celem *)n->slot[i];
                    while (e != NULL) {
                        struct celem *nx = e->next;
                        chunk_free(NULL, e);
                        e = nx;
                    }
                    n->slot[i] = 0;
                }
            }
            chunk_free(&x, n);
        }
        co->u.root = NULL;
    }
    co->count = 0;
    pthread_mutex_destroy(&co->lock);
}

static pthread_mutex_t reap_lock = PTHREAD_MUTEX_INITIALIZER; /* reap_list; leaf */
static struct item *reap_list;      /* heads to free, linked by h_next */
static _Atomic bool reap_pending;

bool
coll_free_elems(struct item *it)
{
    struct coll *co = coll_of(it);
    if (co->count + co->nodes <= FREE_INLINE) {
        free_all(co);
        return true;
    }
    pthread_mutex_lock(&reap_lock);
    it->h_next = reap_list;
    reap_list = it;
    atomic_store(&reap_pending, true);
    pthread_mutex_unlock(&reap_lock);
    return false;
}

struct item *
slab_alloc_reap(unsigned id, uint64_t hv, enum slab_q q)
{
    struct item *c = slab_alloc(id, hv, q);
    if (c == NULL && atomic_load(&reap_pending)) {
        /* evicted collections wait to be freed: free them, once more */
        coll_reap(UINT32_MAX);
        c = slab_alloc(id, hv, q);
    }
    return c;
}

void
coll_reap(uint32_t max)
{
    uint32_t done = 0;
    while (done < max && atomic_load_explicit(&reap_pending, memory_order_relaxed)) {
        pthread_mutex_lock(&reap_lock);
        struct item *it = reap_list;
        if (it != NULL)
            reap_list = it->h_next;
        if (reap_list == NULL)
            atomic_store(&reap_pending, false);
        pthread_mutex_unlock(&reap_lock);
        if (it == NULL)
            break;
        struct coll *co = coll_of(it);
        done += co->count + co->nodes;
        free_all(co);
        slab_free(it);
    }
}

/* ---------- commands ---------- */

/* Is op an element insert that may create the collection? */
static bool
is_insert(enum coll_opcode c)
{
    return c == COP_LIST_INSERT || c == COP_SET_INSERT || c == COP_MAP_INSERT ||
           c == COP_MAP_UPSERT || c == COP_BOP_INSERT || c == COP_BOP_UPSERT;
}

static enum coll_type
type_of(enum coll_opcode c)
{
    switch (c) {
    case COP_LIST_INSERT: case COP_LIST_DELETE: case COP_LIST_GET:
        return COLL_LIST;
    case COP_SET_INSERT: case COP_SET_DELETE: case COP_SET_EXIST: case COP_SET_GET:
        return COLL_SET;
    case COP_MAP_INSERT: case COP_MAP_UPSERT: case COP_MAP_UPDATE:
    case COP_MAP_DELETE: case COP_MAP_GET:
        return COLL_MAP;
    case COP_BOP_INSERT: case COP_BOP_UPSERT: case COP_BOP_UPDATE: case COP_BOP_DELETE:
    case COP_BOP_GET: case COP_BOP_COUNT: case COP_BOP_INCR: case COP_BOP_POSITION:
    case COP_BOP_GBP: case COP_BOP_PWG:
        return COLL_BTREE;
    default:
        return COLL_KV;
    }
}

/* A new element holding op's field and value (unattached), or NULL. */
static struct celem *
elem_make(const struct coll_op *op, enum coll_type t)
{
    size_t nf = t == COLL_MAP ? op->nfield : 0;
    struct celem *e = chunk_new(sizeof(*e) + nf + op->ndata);
    if (e == NULL)
        return NULL;
    e->next = e->prev = NULL;
    e->nfield = (uint8_t)nf;
    e->nbytes = op->ndata;
    if (nf > 0)
        memcpy(e->data, op->field, nf);
    memcpy(e->data + nf, op->data, op->ndata);
    e->hash = t == COLL_MAP ? elem_hash(op->field, nf) :
              t == COLL_SET ? elem_hash(op->data, op->ndata) : 0;
    return e;
}

static uint32_t xorshift_state(void);

static enum coll_status
list_insert(struct ctx *x, const struct coll_op *op, struct celem **ne)
{
    struct coll *co = x->co;
    uint32_t pos;
    if (!list_pos(co, op->from, true, &pos))
        return COLL_OUT_OF_RANGE;
    if (co->count >= co->maxcount) {
        if (co->ovfl == COLL_OVFL_HEAD_TRIM) {
            list_unlink(x, co->u.l.head);
            pos = pos > 0 ? pos - 1 : 0;
        } else if (co->ovfl == COLL_OVFL_TAIL_TRIM) {
            list_unlink(x, co->u.l.tail);
            if (pos > co->count)
                pos = co->count;
        } else {
            return COLL_OVERFLOWED;
        }
    }
    chunk_attach(x, *ne);
    list_insert_at(co, *ne, pos);
    *ne = NULL;
    return COLL_OK;
}

/* Elements of a get, collected under the lock before any is removed. */
struct picked {
    struct celem **v;
    uint32_t       n;
};

/* Reply bytes an element takes, about: its bytes and a line's overhead. */
#define REPLY_LINE 32

/* Would p's elements make a reply within op->reply_max? */
static bool
reply_fits(const struct coll_op *op, const struct picked *p)
{
    uint64_t n = 0;
    for (uint32_t i = 0; i < p->n && op->reply_max != 0; i++)
        n += (uint64_t)p->v[i]->nbytes + 2u * p->v[i]->nfield + REPLY_LINE;
    return op->reply_max == 0 || n <= op->reply_max;
}

static void
emit(const struct ctx *x, const struct coll_out *out, const struct picked *p)
{
    if (out == NULL)
        return;
    out->begin(out->arg, x->it->flags, p->n);
    for (uint32_t i = 0; i < p->n; i++) {
        const struct celem *e = p->v[i];
        out->elem(out->arg, x->co->type == COLL_MAP ? e->data : NULL, e->nfield,
                  e->data + e->nfield, e->nbytes);
    }
}

static enum coll_status
list_get_delete(struct ctx *x, const struct coll_op *op, const struct coll_out *out,
                bool get, struct picked *p)
{
    struct coll *co = x->co;
    uint32_t a, b;
    if (!list_range(co, op->from, op->to, &a, &b))
        return COLL_NO_ELEM;
    uint32_t n = (a <= b ? b - a : a - b) + 1;
    p->v = malloc((size_t)n * sizeof(*p->v));
    if (p->v == NULL)
        return COLL_ENOMEM;
    struct celem *e = list_at(co, a);
    for (uint32_t i = 0; i < n; i++) {
        p->v[p->n++] = e;
        e = a <= b ? e->next : e->prev;
    }
    if (get && !reply_fits(op, p))
        return COLL_ENOMEM;         /* nothing deleted */
    if (get)
        emit(x, out, p);
    if (!get || op->del)
        for (uint32_t i = 0; i < p->n; i++)
            list_unlink(x, p->v[i]);
    return COLL_OK;
}

static enum coll_status
set_op(struct ctx *x, const struct coll_op *op, struct celem **ne)
{
    struct ht_pos pos;
    uint32_t h = elem_hash(op->data, op->ndata);
    struct celem *e = ht_find(x->co, op->data, op->ndata, h, &pos);
    switch (op->code) {
    case COP_SET_INSERT:
        return e != NULL ? COLL_ELEM_EXISTS : ht_add(x, ne);
    case COP_SET_DELETE:
        if (e == NULL)
            return COLL_NO_ELEM;
        ht_remove(x, e, &pos);
        return COLL_OK;
    default:                        /* COP_SET_EXIST */
        return e != NULL ? COLL_EXIST : COLL_NOT_EXIST;
    }
}

static enum coll_status
set_get(struct ctx *x, const struct coll_op *op, const struct coll_out *out,
        struct picked *p)
{
    struct coll *co = x->co;
    if (co->count == 0)
        return COLL_NO_ELEM;
    uint32_t want = op->count == 0 || op->count > co->count ? co->count : op->count;
    p->v = malloc((size_t)want * sizeof(*p->v));
    if (p->v == NULL)
        return COLL_ENOMEM;
    /* a random start, then on in tree order (wrapping): a random-looking
     * pick at the cost of what is returned */
    uint32_t skip = want < co->count ? xorshift_state() % co->count : 0;
    p->n = ht_collect(co->u.root, &skip, want, p->v, 0);
    if (p->n < want) {
        skip = 0;
        p->n = ht_collect(co->u.root, &skip, want, p->v, p->n);
    }
    if (!reply_fits(op, p))
        return COLL_ENOMEM;
    emit(x, out, p);
    if (op->del)
        for (uint32_t i = 0; i < p->n; i++)
            ht_delete_elem(x, p->v[i]);
    return COLL_OK;
}

/* Next field of a space (or comma) separated list; false at the end. */
static bool
next_field(const char **s, const char *end, const char **f, size_t *n)
{
    const char *p = *s;
    while (p < end && (*p == ' ' || *p == ','))
        p++;
    if (p == end)
        return false;
    const char *b = p;
    while (p < end && *p != ' ' && *p != ',')
        p++;
    *f = b;
    *n = (size_t)(p - b);
    *s = p;
    return true;
}

static enum coll_status
map_put(struct ctx *x, const struct coll_op *op, struct celem **ne)
{
    struct ht_pos pos;
    struct celem *e = ht_find(x->co, op->field, op->nfield, (*ne)->hash, &pos);
    if (e != NULL) {
        if (op->code == COP_MAP_INSERT)
            return COLL_ELEM_EXISTS;
        /* upsert, update: the new element takes the old one's place */
        chunk_attach(x, *ne);
        (*ne)->next = e->next;
        *pos.link = *ne;
        *ne = NULL;
        chunk_free(x, e);
        return op->code == COP_MAP_UPSERT ? COLL_REPLACED : COLL_OK;
    }
    return op->code == COP_MAP_UPDATE ? COLL_NO_ELEM : ht_add(x, ne);
}

static enum coll_status
map_get_delete(struct ctx *x, const struct coll_op *op, const struct coll_out *out,
               bool get, struct picked *p)
{
    struct coll *co = x->co;
    if (co->count == 0)
        return COLL_NO_ELEM;
    if (op->nfields_len == 0) {
        p->v = malloc((size_t)co->count * sizeof(*p->v));
        if (p->v == NULL)
            return COLL_ENOMEM;
        uint32_t skip = 0;
        p->n = ht_collect(co->u.root, &skip, co->count, p->v, 0);
    } else {
        /* at most one pick per field named */
        uint32_t cap = 0;
        const char *s = op->fields, *end = op->fields + op->nfields_len, *f;
        size_t fn;
        while (next_field(&s, end, &f, &fn))
            cap++;
        p->v = malloc((size_t)(cap ? cap : 1) * sizeof(*p->v));
        if (p->v == NULL)
            return COLL_ENOMEM;
        s = op->fields;
        while (next_field(&s, end, &f, &fn)) {
            struct ht_pos pos;
            struct celem *e = ht_find(co, f, fn, elem_hash(f, fn), &pos);
            if (e == NULL)
                continue;
            bool dup = false;           /* a field named twice counts once */
            for (uint32_t i = 0; i < p->n && !dup; i++)
                dup = p->v[i] == e;
            if (!dup)
                p->v[p->n++] = e;
        }
    }
    if (p->n == 0)
        return COLL_NO_ELEM;
    if (get && !reply_fits(op, p))
        return COLL_ENOMEM;
    if (get)
        emit(x, out, p);
    if (!get || op->del)
        for (uint32_t i = 0; i < p->n; i++)
            ht_delete_elem(x, p->v[i]);
    return COLL_OK;
}

/* ---------- b+tree: a treap of elements, ordered by bkey ----------
 *
 * ARCUS keeps a b+tree whose inner nodes count the elements below them.
 * Ours keeps no inner nodes: each element is a node of a treap, ordered
 * by bkey and heap-ordered by a random priority (so its depth is O(log n)
 * expected whatever the insert order, and no client can choose it), and
 * counts its subtree.  Lookup, insert, delete, rank (bop position) and
 * select (bop gbp) are O(log n); a range of m elements is walked by
 * position in O(m log n).  Recursion depth is the tree's depth.
 */
enum { BK_NONE, BK_INT, BK_BIN };
enum { TRIM_NONE, TRIM_SMALL, TRIM_LARGE };

struct belem {
    struct belem *l, *r;            /* smaller, larger bkeys */
    uint32_t      size;             /* elements in this subtree */
    uint32_t      prio;             /* a parent's >= its children's */
    uint32_t      nbytes;           /* value length */
    uint8_t       nbkey, neflag;    /* bytes of each in data[] */
    uint8_t       data[];           /* bkey, eflag, value */
};

static uint32_t xorshift_state(void);

static inline uint32_t bsz(const struct belem *t) { return t != NULL ? t->size : 0; }
static inline void bupd(struct belem *t) { t->size = 1 + bsz(t->l) + bsz(t->r); }
static inline const uint8_t *bval(const struct belem *e) { return e->data + e->nbkey + e->neflag; }

/* Bytewise, then the shorter first (ARCUS ch02; integers are stored
 * big-endian in 8 bytes, so this is their numeric order too). */
static int
bkcmp(const uint8_t *a, size_t na, const uint8_t *b, size_t nb)
{
    int c = memcmp(a, b, na < nb ? na : nb);
    return c != 0 ? c : (na > nb) - (na < nb);
}

static inline int
bcmp_key(const struct belem *e, const struct coll_bkey *k)
{
    return bkcmp(e->data, e->nbkey, k->b, k->len);
}

static inline int
bcmp_elem(const struct belem *a, const struct belem *b)
{
    return bkcmp(a->data, a->nbkey, b->data, b->nbkey);
}

static void
bk_of(const struct coll *co, const struct belem *e, struct coll_bkey *k)
{
    k->len = e->nbkey;
    k->bin = co->bktype == BK_BIN;
    memcpy(k->b, e->data, e->nbkey);
}

/* Split t into the elements < k (*a) and >= k (*b). */
static void
bt_split(struct belem *t, const uint8_t *k, size_t nk, struct belem **a, struct belem **b)
{
    if (t == NULL) {
        *a = *b = NULL;
        return;
    }
    if (bkcmp(t->data, t->nbkey, k, nk) < 0) {
        bt_split(t->r, k, nk, &t->r, b);
        *a = t;
    } else {
        bt_split(t->l, k, nk, a, &t->l);
        *b = t;
    }
    bupd(t);
}

/* Join a and b (every bkey of a below every bkey of b). */
static struct belem *
bt_merge(struct belem *a, struct belem *b)
{
    if (a == NULL)
        return b;
    if (b == NULL)
        return a;
    if (a->prio >= b->prio) {
        a->r = bt_merge(a->r, b);
        bupd(a);
        return a;
    }
    b->l = bt_merge(a, b->l);
    bupd(b);
    return b;
}

/* Add n (its bkey absent) to t; returns the new root. */
static struct belem *
bt_insert(struct belem *t, struct belem *n)
{
    if (t == NULL || n->prio > t->prio) {
        bt_split(t, n->data, n->nbkey, &n->l, &n->r);
        bupd(n);
        return n;
    }
    if (bcmp_elem(t, n) < 0)
        t->r = bt_insert(t->r, n);
    else
        t->l = bt_insert(t->l, n);
    bupd(t);
    return t;
}

/* Take e (present) out of t; returns the new root. */
static struct belem *
bt_erase(struct belem *t, const struct belem *e)
{
    if (t == e)
        return bt_merge(t->l, t->r);
    if (bcmp_elem(t, e) < 0)
        t->r = bt_erase(t->r, e);
    else
        t->l = bt_erase(t->l, e);
    bupd(t);
    return t;
}

static struct belem *
bt_find(struct belem *t, const struct coll_bkey *k)
{
    while (t != NULL) {
        int c = bcmp_key(t, k);
        if (c == 0)
            return t;
        t = c < 0 ? t->r : t->l;
    }
    return NULL;
}

/* Elements below k (incl: or equal to k). */
static uint32_t
bt_rank(const struct belem *t, const uint8_t *k, size_t nk, bool incl)
{
    uint32_t r = 0;
    while (t != NULL) {
        int c = bkcmp(t->data, t->nbkey, k, nk);
        if (c < 0 || (incl && c == 0)) {
            r += bsz(t->l) + 1;
            t = t->r;
        } else {
            t = t->l;
        }
    }
    return r;
}

/* The element at position i (ascending, 0-based), or NULL. */
static struct belem *
bt_at(struct belem *t, uint32_t i)
{
    while (t != NULL) {
        uint32_t ls = bsz(t->l);
        if (i < ls) {
            t = t->l;
        } else if (i == ls) {
            return t;
        } else {
            i -= ls + 1;
            t = t->r;
        }
    }
    return NULL;
}

/* A new element (unattached), or NULL. */
static struct belem *
bel_new(const uint8_t *bk, uint8_t nbk, const uint8_t *ef, uint8_t nef,
        const void *data, uint32_t n)
{
    struct belem *e = chunk_new(sizeof(*e) + nbk + nef + n);
    if (e == NULL)
        return NULL;
    e->l = e->r = NULL;
    e->size = 1;
    e->prio = xorshift_state();
    e->nbytes = n;
    e->nbkey = nbk;
    e->neflag = nef;
    memcpy(e->data, bk, nbk);
    if (nef > 0)
        memcpy(e->data + nbk, ef, nef);
    if (n > 0)
        memcpy(e->data + nbk + nef, data, n);
    return e;
}

static void
bt_unlink(struct ctx *x, struct belem *e)
{
    x->co->u.broot = bt_erase(x->co->u.broot, e);
    x->co->count--;
    chunk_free(x, e);
}

/* New takes old's place (same bkey). */
static void
bt_replace(struct ctx *x, struct belem *old, struct belem *nw)
{
    struct coll *co = x->co;
    co->u.broot = bt_erase(co->u.broot, old);
    chunk_free(x, old);
    chunk_attach(x, nw);
    co->u.broot = bt_insert(co->u.broot, nw);
}

static void
bt_free_all(struct coll *co)
{
    /* rotate left children up until there are none: no stack */
    struct belem *t = co->u.broot;
    while (t != NULL) {
        if (t->l != NULL) {
            struct belem *l = t->l;
            t->l = l->r;
            l->r = t;
            t = l;
        } else {
            struct belem *nx = t->r;
            chunk_free(NULL, t);
            t = nx;
        }
    }
    co->u.broot = NULL;
}

static bool
bk_type_ok(const struct coll *co, const struct coll_bkey *k)
{
    return co->bktype == BK_NONE || (co->bktype == BK_BIN) == k->bin;
}

/* Does e's eflag pass f (ch02)?  An eflag too short (or none) passes NE
 * only. */
static bool
filter_ok(const struct coll_eflag_filter *f, const struct belem *e)
{
    if (!f->on)
        return true;
    if ((size_t)f->offset + f->len > e->neflag)
        return f->compop == CMP_NE;
    uint8_t v[COLL_BKEY_MAX];
    const uint8_t *p = e->data + e->nbkey + f->offset;
    for (unsigned i = 0; i < f->len; i++)
        v[i] = f->bitwop == '&' ? p[i] & f->bitw[i] : f->bitwop == '|' ? p[i] | f->bitw[i] :
               f->bitwop == '^' ? p[i] ^ f->bitw[i] : p[i];
    if (f->compop == CMP_EQ || f->compop == CMP_NE) {
        bool any = false;
        for (unsigned j = 0; j < f->nvals && !any; j++)
            any = memcmp(v, f->vals[j], f->len) == 0;
        return f->compop == CMP_EQ ? any : !any;
    }
    int c = memcmp(v, f->vals[0], f->len);
    switch (f->compop) {
    case CMP_LT: return c < 0;
    case CMP_LE: return c <= 0;
    case CMP_GT: return c > 0;
    default:     return c >= 0;
    }
}

/* a - r (sub) or a + r, as big-endian numbers of n bytes, into out;
 * false when it leaves 0..2^(8n)-1 (then no bound applies). */
static bool
bk_shift(const uint8_t *a, size_t n, const struct coll_bkey *r, bool sub, uint8_t *out)
{
    uint8_t rb[COLL_BKEY_MAX];
    if (r->len > n) {
        for (size_t i = 0; i < r->len - n; i++)
            if (r->b[i] != 0)
                return false;
        memcpy(rb, r->b + r->len - n, n);
    } else {
        memset(rb, 0, n - r->len);
        memcpy(rb + n - r->len, r->b, r->len);
    }
    int carry = 0;
    for (size_t i = n; i-- > 0;) {
        int v = sub ? a[i] - rb[i] - carry : a[i] + rb[i] + carry;
        carry = sub ? v < 0 : v > 255;
        out[i] = (uint8_t)(v & 0xff);
    }
    return carry == 0;
}

static bool
ovfl_small(uint8_t o)
{
    return o == COLL_OVFL_SMALLEST_TRIM || o == COLL_OVFL_SMALLEST_SILENT_TRIM;
}

static bool
ovfl_large(uint8_t o)
{
    return o == COLL_OVFL_LARGEST_TRIM || o == COLL_OVFL_LARGEST_SILENT_TRIM;
}

static void
emit_b(const struct coll *co, const struct coll_out *out, const struct belem *e)
{
    struct coll_bkey k, ef;
    bk_of(co, e, &k);
    ef.len = e->neflag;
    ef.bin = true;
    memcpy(ef.b, e->data + e->nbkey, e->neflag);
    out->belem(out->arg, &k, &ef, bval(e), e->nbytes);
}

/* Add n (unattached, bkey absent) under maxbkeyrange and maxcount (ARCUS
 * ch03): every check first, then the changes, so a refused insert changes
 * nothing.  Takes n on COLL_OK.  getrim: a trimmed element goes to out
 * and info->trimmed is set. */
static enum coll_status
bt_add(struct ctx *x, struct belem *n, bool getrim, const struct coll_out *out,
       struct coll_info *info)
{
    struct coll *co = x->co;
    uint8_t o = co->ovfl;
    uint32_t cut_lo = 0, cut_hi = 0;   /* maxbkeyrange removals at each end */
    if (co->maxbkeyrange.len > 0 && co->count > 0) {
        struct belem *mn = bt_at(co->u.broot, 0), *mx = bt_at(co->u.broot, co->count - 1);
        const struct belem *lo = bcmp_elem(n, mn) < 0 ? n : mn;
        const struct belem *hi = bcmp_elem(n, mx) > 0 ? n : mx;
        uint8_t t[COLL_BKEY_MAX];
        if (ovfl_large(o)) {
            /* keep lo .. lo + range */
            if (bk_shift(lo->data, lo->nbkey, &co->maxbkeyrange, false, t)) {
                if (bkcmp(n->data, n->nbkey, t, lo->nbkey) > 0)
                    return COLL_OUT_OF_RANGE;
                cut_hi = co->count - bt_rank(co->u.broot, t, lo->nbkey, true);
            }
        } else if (bk_shift(hi->data, hi->nbkey, &co->maxbkeyrange, true, t)) {
            /* keep hi - range .. hi */
            if (bkcmp(lo->data, lo->nbkey, t, hi->nbkey) < 0) {
                if (!ovfl_small(o))
                    return COLL_OVERFLOWED;
                if (bkcmp(n->data, n->nbkey, t, hi->nbkey) < 0)
                    return COLL_OUT_OF_RANGE;
                cut_lo = bt_rank(co->u.broot, t, hi->nbkey, false);
            }
        }
    }
    struct belem *victim = NULL;
    if (co->count - cut_lo - cut_hi >= co->maxcount) {
        if (ovfl_small(o)) {
            victim = bt_at(co->u.broot, cut_lo);
            if (bcmp_elem(n, victim) < 0)
                return COLL_OUT_OF_RANGE;
        } else if (ovfl_large(o)) {
            victim = bt_at(co->u.broot, co->count - 1 - cut_hi);
            if (bcmp_elem(n, victim) > 0)
                return COLL_OUT_OF_RANGE;
        } else {
            return COLL_OVERFLOWED;
        }
    }
    while (cut_lo-- > 0)
        bt_unlink(x, bt_at(co->u.broot, 0));
    while (cut_hi-- > 0)
        bt_unlink(x, bt_at(co->u.broot, co->count - 1));
    if (victim != NULL) {
        if (getrim && out != NULL && out->belem != NULL) {
            out->begin(out->arg, x->it->flags, 1);
            emit_b(co, out, victim);
            info->trimmed = true;
        }
        if (o == COLL_OVFL_SMALLEST_TRIM)
            co->trimmed = TRIM_SMALL;
        else if (o == COLL_OVFL_LARGEST_TRIM)
            co->trimmed = TRIM_LARGE;
        bt_unlink(x, victim);
    }
    chunk_attach(x, n);
    co->u.broot = bt_insert(co->u.broot, n);
    co->count++;
    return COLL_OK;
}

/* bop insert, upsert */
static enum coll_status
bt_put(struct ctx *x, const struct coll_op *op, const struct coll_out *out,
       struct coll_info *info)
{
    struct coll *co = x->co;
    if (!bk_type_ok(co, &op->bkey))
        return COLL_BKEY_MISMATCH;
    struct belem *old = bt_find(co->u.broot, &op->bkey);
    if (old != NULL && op->code == COP_BOP_INSERT)
        return COLL_ELEM_EXISTS;
    struct belem *n = bel_new(op->bkey.b, op->bkey.len, op->eflag.b, op->eflag.len,
                              op->data, op->ndata);
    if (n == NULL)
        return COLL_ENOMEM;
    if (old != NULL) {
        bt_replace(x, old, n);
        return COLL_REPLACED;
    }
    enum coll_status st = bt_add(x, n, op->getrim, out, info);
    if (st != COLL_OK) {
        chunk_free(NULL, n);
        return st;
    }
    co->bktype = op->bkey.bin ? BK_BIN : BK_INT;
    return COLL_OK;
}

/* bop update */
static enum coll_status
bt_update(struct ctx *x, const struct coll_op *op)
{
    struct coll *co = x->co;
    if (!bk_type_ok(co, &op->bkey))
        return COLL_BKEY_MISMATCH;
    struct belem *e = bt_find(co->u.broot, &op->bkey);
    if (e == NULL)
        return COLL_NO_ELEM;
    uint8_t ef[COLL_BKEY_MAX];
    uint8_t nef = e->neflag;
    memcpy(ef, e->data + e->nbkey, nef);
    const struct coll_eflag_update *u = &op->eupd;
    if (u->on && u->partial) {
        if ((size_t)u->offset + u->len > nef)
            return COLL_EFLAG_MISMATCH;
        for (unsigned i = 0; i < u->len; i++) {
            uint8_t *p = &ef[u->offset + i];
            *p = u->bitwop == '&' ? *p & u->v[i] : u->bitwop == '|' ? *p | u->v[i] : *p ^ u->v[i];
        }
    } else if (u->on) {
        nef = u->len;
        memcpy(ef, u->v, nef);
    }
    struct belem *n = bel_new(e->data, e->nbkey, ef, nef, op->has_data ? op->data : bval(e),
                              op->has_data ? op->ndata : e->nbytes);
    if (n == NULL)
        return COLL_ENOMEM;
    bt_replace(x, e, n);
    return COLL_OK;
}

/* bop incr, decr */
static enum coll_status
bt_incr(struct ctx *x, const struct coll_op *op, struct coll_info *info)
{
    struct coll *co = x->co;
    if (!bk_type_ok(co, &op->bkey))
        return COLL_BKEY_MISMATCH;
    struct belem *e = bt_find(co->u.broot, &op->bkey);
    char num[24];
    if (e == NULL) {
        if (!op->has_initial)
            return COLL_NO_ELEM;
        int len = snprintf(num, sizeof(num), "%llu", (unsigned long long)op->initial);
        struct belem *n = bel_new(op->bkey.b, op->bkey.len, op->eflag.b, op->eflag.len,
                                  num, (uint32_t)len);
        if (n == NULL)
            return COLL_ENOMEM;
        enum coll_status st = bt_add(x, n, false, NULL, info);
        if (st != COLL_OK) {
            chunk_free(NULL, n);
            return st;
        }
        co->bktype = op->bkey.bin ? BK_BIN : BK_INT;
        info->number = op->initial;
        return COLL_OK;
    }
    /* memcached's rule: decimal digits, at most 2^64-1 */
    const uint8_t *v = bval(e);
    uint64_t cur = 0;
    if (e->nbytes == 0 || e->nbytes > 20)
        return COLL_ENONNUMERIC;
    for (uint32_t i = 0; i < e->nbytes; i++) {
        if (v[i] < '0' || v[i] > '9' || cur > (UINT64_MAX - (uint64_t)(v[i] - '0')) / 10)
            return COLL_ENONNUMERIC;
        cur = cur * 10 + (uint64_t)(v[i] - '0');
    }
    cur = op->decr ? (cur > op->delta ? cur - op->delta : 0) : cur + op->delta;
    int len = snprintf(num, sizeof(num), "%llu", (unsigned long long)cur);
    struct belem *n = bel_new(e->data, e->nbkey, e->data + e->nbkey, e->neflag, num, (uint32_t)len);
    if (n == NULL)
        return COLL_ENOMEM;
    bt_replace(x, e, n);
    info->number = cur;
    return COLL_OK;
}

/* The positions [*first .. *last] (in scan order, *asc) of op's bkey
 * range; false when none is in it. */
static bool
bt_range(const struct coll *co, const struct coll_op *op, uint32_t *first, uint32_t *last,
         bool *asc)
{
    const struct coll_bkey *a = &op->bkey, *b = &op->bkey_to;
    *asc = bkcmp(a->b, a->len, b->b, b->len) <= 0;
    const struct coll_bkey *lo = *asc ? a : b, *hi = *asc ? b : a;
    uint32_t s = bt_rank(co->u.broot, lo->b, lo->len, false);
    uint32_t e = bt_rank(co->u.broot, hi->b, hi->len, true);
    if (s >= e)
        return false;
    *first = *asc ? s : e - 1;
    *last = *asc ? e - 1 : s;
    return true;
}

/* Does the range reach into the area an overflow trim emptied: at the
 * start of the scan (*start) or at its end (*end)? */
static void
bt_trim_overlap(const struct coll *co, const struct coll_op *op, bool *start, bool *end)
{
    *start = *end = false;
    if (co->trimmed == TRIM_NONE || co->count == 0)
        return;
    const struct coll_bkey *a = &op->bkey, *b = &op->bkey_to;
    bool asc = bkcmp(a->b, a->len, b->b, b->len) <= 0;
    const struct coll_bkey *lo = asc ? a : b, *hi = asc ? b : a;
    bool overlap;
    if (co->trimmed == TRIM_SMALL) {
        struct belem *mn = bt_at(co->u.broot, 0);
        overlap = bkcmp(lo->b, lo->len, mn->data, mn->nbkey) < 0;
        *start = overlap && asc;
    } else {
        struct belem *mx = bt_at(co->u.broot, co->count - 1);
        overlap = bkcmp(hi->b, hi->len, mx->data, mx->nbkey) > 0;
        *start = overlap && !asc;
    }
    *end = overlap && !*start;
}

/* Elements of bop get/delete/count in range order: matching the filter,
 * `skip` of them passed over, at most `want` (0: all) into p (p NULL:
 * counted only).  *stopped: want was reached before the range's end. */
static uint32_t
bt_scan(const struct coll *co, const struct coll_op *op, uint32_t skip, uint32_t want,
        struct picked *p, bool *stopped)
{
    uint32_t first, last, got = 0;
    bool asc;
    *stopped = false;
    if (!bt_range(co, op, &first, &last, &asc))
        return 0;
    if (!op->filter.on && p == NULL)
        return (asc ? last - first : first - last) + 1;
    if (p != NULL) {
        uint32_t n = (asc ? last - first : first - last) + 1;
        if (want != 0 && want < n)
            n = want;
        p->v = malloc((size_t)n * sizeof(*p->v));
        if (p->v == NULL)
            return UINT32_MAX;
    }
    for (uint32_t i = first;; i = asc ? i + 1 : i - 1) {
        if (want != 0 && got == want) {
            *stopped = true;
            break;
        }
        struct belem *e = bt_at(co->u.broot, i);
        if (filter_ok(&op->filter, e)) {
            if (skip > 0) {
                skip--;
            } else {
                if (p != NULL)
                    p->v[p->n++] = (struct celem *)(void *)e;
                got++;
            }
        }
        if (i == last)
            break;
    }
    return got;
}

/* bop get, delete, count */
static enum coll_status
bt_get(struct ctx *x, const struct coll_op *op, const struct coll_out *out,
       struct coll_info *info, struct picked *p)
{
    struct coll *co = x->co;
    if (!bk_type_ok(co, &op->bkey))
        return COLL_BKEY_MISMATCH;
    bool stopped;
    if (op->code == COP_BOP_COUNT) {
        info->number = bt_scan(co, op, 0, 0, NULL, &stopped);
        return COLL_OK;
    }
    bool get = op->code == COP_BOP_GET;
    uint32_t n = bt_scan(co, op, get ? op->offset : 0, op->count, p, &stopped);
    if (n == UINT32_MAX)
        return COLL_ENOMEM;
    bool tstart, tend;
    bt_trim_overlap(co, op, &tstart, &tend);
    if (get && op->smget && tstart)
        return COLL_OUT_OF_RANGE;
    if (n == 0)
        return get && (tstart || tend) && !op->smget ? COLL_OUT_OF_RANGE : COLL_NO_ELEM;
    if (get) {
        if (op->smget) {
            if (tend && !stopped) {
                info->trimmed = true;
                bk_of(co, bt_at(co->u.broot, co->trimmed == TRIM_SMALL ? 0 : co->count - 1),
                      &info->edge);
            }
        } else {
            info->trimmed = !op->del && (tstart || (tend && !stopped));
        }
        uint64_t bytes = 0;
        for (uint32_t i = 0; i < n && op->reply_max != 0; i++) {
            const struct belem *e = (const struct belem *)(void *)p->v[i];
            bytes += (uint64_t)e->nbytes + 2u * (e->nbkey + e->neflag) + REPLY_LINE;
        }
        if (op->reply_max != 0 && bytes > op->reply_max)
            return COLL_ENOMEM;     /* nothing deleted */
        if (out != NULL) {
            out->begin(out->arg, x->it->flags, n);
            for (uint32_t i = 0; i < n; i++)
                emit_b(co, out, (const struct belem *)(void *)p->v[i]);
        }
    }
    if (!get || op->del)
        for (uint32_t i = 0; i < n; i++)
            bt_unlink(x, (struct belem *)(void *)p->v[i]);
    return COLL_OK;
}

/* bop position, gbp, pwg */
static enum coll_status
bt_pos(struct ctx *x, const struct coll_op *op, const struct coll_out *out,
       struct coll_info *info)
{
    struct coll *co = x->co;
    uint32_t cnt = co->count;
    if (op->code == COP_BOP_GBP) {
        uint32_t a = (uint32_t)op->from, b = (uint32_t)op->to;
        if ((a <= b ? a : b) >= cnt)
            return COLL_NO_ELEM;
        if (a >= cnt)
            a = cnt - 1;
        if (b >= cnt)
            b = cnt - 1;
        uint32_t n = (a <= b ? b - a : a - b) + 1;
        uint64_t bytes = 0;
        for (uint32_t k = 0; k < n && op->reply_max != 0; k++) {
            uint32_t i = a <= b ? a + k : a - k;
            const struct belem *e = bt_at(co->u.broot, op->desc ? cnt - 1 - i : i);
            bytes += (uint64_t)e->nbytes + 2u * (e->nbkey + e->neflag) + REPLY_LINE;
        }
        if (op->reply_max != 0 && bytes > op->reply_max)
            return COLL_ENOMEM;
        out->begin(out->arg, x->it->flags, n);
        for (uint32_t k = 0; k < n; k++) {
            uint32_t i = a <= b ? a + k : a - k;
            emit_b(co, out, bt_at(co->u.broot, op->desc ? cnt - 1 - i : i));
        }
        return COLL_OK;
    }
    if (!bk_type_ok(co, &op->bkey))
        return COLL_BKEY_MISMATCH;
    if (bt_find(co->u.broot, &op->bkey) == NULL)
        return COLL_NO_ELEM;
    uint32_t r = bt_rank(co->u.broot, op->bkey.b, op->bkey.len, false);
    uint32_t pos = op->desc ? cnt - 1 - r : r;
    info->number = pos;
    if (op->code == COP_BOP_POSITION)
        return COLL_OK;
    uint32_t lo = pos > op->count ? pos - op->count : 0;
    uint32_t hi = cnt - 1 - pos > op->count ? pos + op->count : cnt - 1;
    info->position = pos;
    info->index = pos - lo;
    out->begin(out->arg, x->it->flags, hi - lo + 1);
    for (uint32_t i = lo; i <= hi; i++)
        emit_b(co, out, bt_at(co->u.broot, op->desc ? cnt - 1 - i : i));
    return COLL_OK;
}

static enum coll_status
bt_run(struct ctx *x, const struct coll_op *op, const struct coll_out *out,
       struct coll_info *info, struct picked *p)
{
    enum coll_status st;
    switch (op->code) {
    case COP_BOP_INSERT: case COP_BOP_UPSERT:
        st = bt_put(x, op, out, info);
        break;
    case COP_BOP_UPDATE:
        st = bt_update(x, op);
        break;
    case COP_BOP_INCR:
        st = bt_incr(x, op, info);
        break;
    case COP_BOP_DELETE: case COP_BOP_GET: case COP_BOP_COUNT:
        st = bt_get(x, op, out, info, p);
        break;
    default:
        st = bt_pos(x, op, out, info);
        break;
    }
    if (x->co->count == 0) {
        x->co->bktype = BK_NONE;    /* an empty b+tree takes either type */
        x->co->trimmed = TRIM_NONE;
    }
    return st;
}

static _Thread_local uint32_t rnd;

static uint32_t
xorshift_state(void)
{
    uint32_t s = rnd;
    if (s == 0)
        s = (uint32_t)(uintptr_t)&rnd ^ 0x9e3779b9u;
    s ^= s << 13;
    s ^= s >> 17;
    s ^= s << 5;
    rnd = s;
    return s;
}

/* getattr / setattr on any item. */
static enum coll_status
attr_op(const struct coll_op *op, struct coll_info *info)
{
    struct item *it = item_get_any(op->key, op->nkey);
    if (it == NULL)
        return COLL_NOT_FOUND;
    enum coll_status st = COLL_OK;
    if (!is_coll(it)) {
        if (op->code == COP_GETATTR) {
            memset(info, 0, sizeof(*info));
            info->type = COLL_KV;
            info->flags = item_flags(it);
            info->exptime = item_exptime(it);
        } else if (op->set_mask & ~COLL_SET_EXPTIME) {
            st = COLL_ATTR_NOT_FOUND;
        } else {
            item_set_exptime(it, op->attrs.exptime);
        }
        item_release(it);
        return st;
    }
    struct coll *co = coll_of(it);
    pthread_mutex_lock(&co->lock);
    if (op->code == COP_GETATTR) {
        info->type = (enum coll_type)co->type;
        info->flags = it->flags;
        info->exptime = item_exptime(it);
        info->sticky = co->sticky;
        info->count = co->count;
        info->maxcount = co->maxcount;
        info->ovfl = (enum coll_ovfl)co->ovfl;
        info->readable = co->readable;
        if (co->type == COLL_BTREE) {
            info->maxbkeyrange = co->maxbkeyrange;
            info->maxbkeyrange.bin = co->maxbkeyrange.bin;
            info->trimmed = co->trimmed != TRIM_NONE;
            info->minbkey.len = info->maxbkey.len = 0;
            if (co->count > 0) {
                bk_of(co, bt_at(co->u.broot, 0), &info->minbkey);
                bk_of(co, bt_at(co->u.broot, co->count - 1), &info->maxbkey);
            }
        }
    } else {
        /* check everything, then change: all or nothing */
        uint32_t mc = maxcount_of(op->attrs.maxcount);
        if ((op->set_mask & COLL_SET_OVFL) &&
            !ovfl_allowed((enum coll_type)co->type, op->attrs.ovfl))
            st = COLL_ATTR_BAD_VALUE;
        if ((op->set_mask & COLL_SET_MAXCOUNT) && mc < co->count)
            st = COLL_ATTR_BAD_VALUE;
        if ((op->set_mask & COLL_SET_MAXBKEYRANGE) && co->type != COLL_BTREE)
            st = COLL_ATTR_NOT_FOUND;
        else if ((op->set_mask & COLL_SET_MAXBKEYRANGE) && op->attrs.maxbkeyrange.len > 0 &&
                 co->bktype != BK_NONE &&
                 op->attrs.maxbkeyrange.bin != (co->bktype == BK_BIN))
            st = COLL_ATTR_BAD_VALUE;
        if (st == COLL_OK) {
            if (op->set_mask & COLL_SET_MAXCOUNT)
                co->maxcount = mc;
            if (op->set_mask & COLL_SET_OVFL)
                co->ovfl = (uint8_t)op->attrs.ovfl;
            if (op->set_mask & COLL_SET_READABLE)
                co->readable = op->attrs.readable;
            if (op->set_mask & COLL_SET_MAXBKEYRANGE)
                co->maxbkeyrange = op->attrs.maxbkeyrange;
            if (op->set_mask & COLL_SET_EXPTIME) {
                co->sticky = op->attrs.sticky;
                item_set_exptime(it, op->attrs.exptime);
            }
        }
    }
    pthread_mutex_unlock(&co->lock);
    item_release(it);
    return st;
}

static enum coll_status
create(const struct coll_op *op)
{
    enum coll_status st;
    struct item *it = coll_new(op, &st);
    if (it == NULL)
        return st;
    enum item_status ist = item_store(it, ITEM_ADD, 0, NULL);
    item_release(it);
    return ist == ITEM_OK ? COLL_CREATED : ist == ITEM_ENOMEM ? COLL_ENOMEM : COLL_EXISTS;
}

static bool
is_read(enum coll_opcode c)
{
    return c == COP_LIST_GET || c == COP_SET_GET || c == COP_SET_EXIST || c == COP_MAP_GET ||
           c == COP_BOP_GET || c == COP_BOP_COUNT || c == COP_BOP_POSITION ||
           c == COP_BOP_GBP || c == COP_BOP_PWG;
}

/* Run op on the locked collection x. */
static enum coll_status
run_locked(struct ctx *x, const struct coll_op *op, const struct coll_out *out,
           struct coll_info *info, struct celem **ne, struct picked *p)
{
    if (is_read(op->code) && !x->co->readable)
        return COLL_UNREADABLE;
    if (x->co->type == COLL_BTREE)
        return bt_run(x, op, out, info, p);
    switch (op->code) {
    case COP_LIST_INSERT:
        return list_insert(x, op, ne);
    case COP_LIST_DELETE:
        return list_get_delete(x, op, out, false, p);
    case COP_LIST_GET:
        return list_get_delete(x, op, out, true, p);
    case COP_SET_INSERT: case COP_SET_DELETE: case COP_SET_EXIST:
        return set_op(x, op, ne);
    case COP_SET_GET:
        return set_get(x, op, out, p);
    case COP_MAP_INSERT: case COP_MAP_UPSERT: case COP_MAP_UPDATE:
        return map_put(x, op, ne);
    case COP_MAP_DELETE:
        return map_get_delete(x, op, out, false, p);
    case COP_MAP_GET:
        return map_get_delete(x, op, out, true, p);
    default:
        return COLL_NOT_FOUND;
    }
}

enum coll_status
coll_exec(const struct coll_op *op, const struct coll_out *out, struct coll_info *info)
{
    /* big collections freed lately: a bounded share, before any lock */
    coll_reap(4096);
    if (op->code == COP_CREATE)
        return create(op);
    if (op->code == COP_GETATTR || op->code == COP_SETATTR)
        return attr_op(op, info);
    enum coll_type t = type_of(op->code);
    /* (b+tree elements are made under the lock, once the bkey is known
     * to be new) */
    bool needs_elem = (is_insert(op->code) && t != COLL_BTREE) || op->code == COP_MAP_UPDATE;
    struct celem *ne = NULL;
    if (needs_elem) {
        ne = elem_make(op, t);
        if (ne == NULL)
            return COLL_ENOMEM;
    }
    enum coll_status st;
    struct item *it = item_get_any(op->key, op->nkey);
    if (it == NULL) {
        if (!(op->create && is_insert(op->code))) {
            st = COLL_NOT_FOUND;
            goto out;
        }
        /* build it with its element, unlinked, then publish both at once */
        struct coll_op cop = *op;
        cop.type = t;
        it = coll_new(&cop, &st);
        if (it == NULL)
            goto out;
        struct ctx x = { .it = it, .co = coll_of(it) };
        struct picked p = { 0 };
        st = run_locked(&x, op, NULL, info, &ne, &p);
        free(p.v);
        item_account(it, x.delta, &x.co->acct);
        if (st == COLL_OK || st == COLL_REPLACED) {
            enum item_status ist = item_store(it, ITEM_ADD, 0, NULL);
            if (ist == ITEM_OK) {
                st = COLL_CREATED;
            } else if (ist == ITEM_ENOMEM) {
                st = COLL_ENOMEM;
            } else {
                /* created (or set) by someone else meanwhile: once more,
                 * into theirs */
                item_release(it);
                struct coll_op again = *op;
                again.create = false;
                return coll_exec(&again, out, info);
            }
        }
        item_release(it);
        goto out;
    }
    if (!is_coll(it) || coll_of(it)->type != t) {
        item_release(it);
        st = COLL_ETYPE;
        goto out;
    }
    struct ctx x = { .it = it, .co = coll_of(it) };
    struct picked p = { 0 };
    pthread_mutex_lock(&x.co->lock);
    if (!item_is_linked(it)) {
        st = COLL_NOT_FOUND;        /* deleted, expired or evicted meanwhile */
    } else {
        st = run_locked(&x, op, out, info, &ne, &p);
        if (x.delta != 0)
            item_account(it, x.delta, &x.co->acct);
        if (st == COLL_OK && op->drop && x.co->count == 0 &&
            (op->code == COP_LIST_DELETE || op->code == COP_SET_DELETE ||
             op->code == COP_MAP_DELETE || op->code == COP_BOP_DELETE || op->del)) {
            item_unlink_this(it);
            st = COLL_DROPPED;
        }
    }
    pthread_mutex_unlock(&x.co->lock);
    free(p.v);
    item_release(it);
out:
    if (ne != NULL)
        chunk_free(NULL, ne);
    return st;
}

/* ---------- snapshot images ----------
 *
 * A collection is saved as one snapshot record whose value is its image
 * (ITEM_MARK_COLL), all integers little-endian:
 *
 *   0  u8 version (1) | u8 type | u8 ovfl | u8 readable | u8 sticky |
 *   5  u8 bktype | u8 trimmed | u8 maxbkeyrange len | u8 its bin |
 *   9  31 bytes maxbkeyrange | 40 u32 maxcount | 44 u32 count    (48 bytes)
 *   then count elements, in list / hash tree / bkey order:
 *     list, set: u32 nbytes | value
 *     map:       u8 nfield | u32 nbytes | field | value
 *     b+tree:    u8 nbkey | u8 neflag | u32 nbytes | bkey | eflag | value
 */
#define IMG_VERSION 1
#define IMG_HDR     48

struct img_w {
    uint8_t *p;
    size_t   len, cap;              /* bytes the image takes; written while
                                     * they fit in cap */
};

static void
img_put(struct img_w *w, const void *s, size_t n)
{
    if (w->len + n <= w->cap && n > 0)
        memcpy(w->p + w->len, s, n);
    w->len += n;
}

static void
img_u32(struct img_w *w, uint32_t v)
{
    uint8_t b[4] = { (uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24) };
    img_put(w, b, 4);
}

static uint32_t
img_get32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void
img_celem(const struct coll *co, const struct celem *e, struct img_w *w)
{
    if (co->type == COLL_MAP)
        img_put(w, &e->nfield, 1);
    img_u32(w, e->nbytes);
    img_put(w, e->data, (size_t)e->nfield + e->nbytes);
}

static void
img_hnode(const struct coll *co, const struct hnode *n, struct img_w *w)
{
    for (unsigned i = 0; i < HT_FAN; i++) {
        if (n->slot[i] & 1) {
            img_hnode(co, (const struct hnode *)(n->slot[i] & ~(uintptr_t)1), w);
            continue;
        }
        for (const struct celem *e = (const struct celem *)n->slot[i]; e != NULL; e = e->next)
            img_celem(co, e, w);
    }
}

static void
img_btree(const struct belem *t, struct img_w *w)
{
    if (t == NULL)
        return;
    img_btree(t->l, w);
    uint8_t h[2] = { t->nbkey, t->neflag };
    img_put(w, h, 2);
    img_u32(w, t->nbytes);
    img_put(w, t->data, (size_t)t->nbkey + t->neflag + t->nbytes);
    img_btree(t->r, w);
}

static void
img_write(const struct coll *co, struct img_w *w)
{
    uint8_t h[40] = { IMG_VERSION, co->type, co->ovfl, co->readable, co->sticky, co->bktype,
                      co->trimmed, co->maxbkeyrange.len, co->maxbkeyrange.bin };
    memcpy(h + 9, co->maxbkeyrange.b, COLL_BKEY_MAX);
    img_put(w, h, sizeof(h));
    img_u32(w, co->maxcount);
    img_u32(w, co->count);
    if (co->type == COLL_LIST) {
        for (const struct celem *e = co->u.l.head; e != NULL; e = e->next)
            img_celem(co, e, w);
    } else if (co->type == COLL_BTREE) {
        img_btree(co->u.broot, w);
    } else {
        img_hnode(co, co->u.root, w);
    }
}

int
coll_copy_image(struct item *it, struct item_image *img, void *buf, size_t cap, size_t *need)
{
    struct coll *co = coll_of(it);
    int rc = 0;
    pthread_mutex_lock(&co->lock);
    if (item_is_linked(it) && item_is_live(it, clock_now())) {
        struct img_w w = { (uint8_t *)buf + it->nkey, 0, cap > it->nkey ? cap - it->nkey : 0 };
        img_write(co, &w);
        *need = it->nkey + w.len;
        if (*need > cap) {
            rc = -1;
        } else {
            item_image_meta(it, img);
            img->marks = (uint8_t)((img->marks & ~ITEM_MARK_PROBATION) | ITEM_MARK_COLL);
            img->nbytes = (uint32_t)w.len;
            memcpy(buf, item_key(it), it->nkey);
            rc = 1;
        }
    }
    pthread_mutex_unlock(&co->lock);
    return rc;
}

/* Walk an image's elements: each one's fields into *e (pointers into the
 * image); false on the first malformed one. */
struct img_elem {
    uint8_t        nfield, nbkey, neflag;
    uint32_t       nbytes;
    const uint8_t *data;            /* field or bkey, eflag, then value */
};

static bool
img_next(uint8_t type, const uint8_t **p, const uint8_t *end, struct img_elem *e)
{
    size_t h = type == COLL_MAP ? 5 : type == COLL_BTREE ? 6 : 4;
    if ((size_t)(end - *p) < h)
        return false;
    const uint8_t *q = *p;
    e->nfield = type == COLL_MAP ? q[0] : 0;
    e->nbkey = type == COLL_BTREE ? q[0] : 0;
    e->neflag = type == COLL_BTREE ? q[1] : 0;
    e->nbytes = img_get32(q + h - 4);
    e->data = q + h;
    size_t n = (size_t)e->nfield + e->nbkey + e->neflag + e->nbytes;
    if (e->nbytes > COLL_ELEM_MAX || e->nfield > COLL_FIELD_MAX ||
        (type == COLL_MAP && e->nfield == 0) || e->nbkey > COLL_BKEY_MAX ||
        e->neflag > COLL_BKEY_MAX || (type == COLL_BTREE && e->nbkey == 0) ||
        (size_t)(end - e->data) < n)
        return false;
    *p = e->data + n;
    return true;
}

bool
item_coll_image_valid(const void *img, size_t n)
{
    const uint8_t *p = img, *end = p + n;
    if (n < IMG_HDR)
        return false;
    uint8_t type = p[1], bktype = p[5];
    uint32_t maxcount = img_get32(p + 40), count = img_get32(p + 44);
    if (p[0] != IMG_VERSION || type < COLL_LIST || type > COLL_BTREE ||
        !ovfl_allowed((enum coll_type)type, (enum coll_ovfl)p[2]) || p[3] > 1 || p[4] > 1 ||
        bktype > BK_BIN || p[6] > TRIM_LARGE || p[7] > COLL_BKEY_MAX || p[8] > 1 ||
        maxcount == 0 || maxcount > COLL_MAXCOUNT_MAX || count > maxcount ||
        (type == COLL_BTREE && (bktype == BK_NONE) != (count == 0)))
        return false;
    const uint8_t *q = p + IMG_HDR;
    struct img_elem e, prev = { 0 };
    for (uint32_t i = 0; i < count; i++) {
        if (!img_next(type, &q, end, &e))
            return false;
        /* b+tree: bkeys of the tree's type, strictly ascending */
        if (type == COLL_BTREE &&
            ((bktype == BK_INT && e.nbkey != 8) ||
             (i > 0 && bkcmp(prev.data, prev.nbkey, e.data, e.nbkey) >= 0)))
            return false;
        prev = e;
    }
    return q == end;
}

struct item *
coll_restore(const char *key, size_t nkey, uint32_t flags, rel_time_t exptime,
             const void *img, uint32_t n, enum item_status *st)
{
    const uint8_t *p = img, *end = p + n;
    if (!item_coll_image_valid(img, n)) {
        *st = ITEM_ETYPE;
        return NULL;
    }
    struct coll_op op;
    memset(&op, 0, sizeof(op));
    op.key = key;
    op.nkey = nkey;
    op.type = (enum coll_type)p[1];
    op.attrs = (struct coll_attrs){ .flags = flags, .exptime = exptime, .sticky = p[4],
                                    .maxcount = img_get32(p + 40),
                                    .ovfl = (enum coll_ovfl)p[2], .readable = p[3] };
    op.attrs.maxbkeyrange.len = p[7];
    op.attrs.maxbkeyrange.bin = p[8];
    memcpy(op.attrs.maxbkeyrange.b, p + 9, COLL_BKEY_MAX);
    enum coll_status cst;
    struct item *it = coll_new(&op, &cst);
    if (it == NULL) {
        *st = ITEM_ENOMEM;
        return NULL;
    }
    struct ctx x = { .it = it, .co = coll_of(it) };
    struct coll *co = x.co;
    co->bktype = p[5];
    co->trimmed = p[6];
    uint32_t count = img_get32(p + 44);
    const uint8_t *q = p + IMG_HDR;
    struct img_elem e;
    for (uint32_t i = 0; i < count && img_next(co->type, &q, end, &e); i++) {
        if (co->type == COLL_BTREE) {
            struct belem *b = bel_new(e.data, e.nbkey, e.data + e.nbkey, e.neflag,
                                      e.data + e.nbkey + e.neflag, e.nbytes);
            if (b == NULL)
                goto nomem;
            chunk_attach(&x, b);
            co->u.broot = bt_insert(co->u.broot, b);
            co->count++;
            continue;
        }
        struct coll_op eop = { .field = (const char *)e.data, .nfield = e.nfield,
                               .data = e.data + e.nfield, .ndata = e.nbytes };
        struct celem *c = elem_make(&eop, (enum coll_type)co->type);
        if (c == NULL)
            goto nomem;
        if (co->type == COLL_LIST) {
            chunk_attach(&x, c);
            list_insert_at(co, c, co->count);
            continue;
        }
        struct ht_pos pos;
        size_t kn;
        const char *k = ekey(co, c, &kn);
        if (ht_find(co, k, kn, c->hash, &pos) != NULL) {
            chunk_free(NULL, c);    /* (a repeated value or field: once) */
            continue;
        }
        chunk_attach(&x, c);
        ht_insert(&x, c);
        co->count++;
    }
    item_account(it, x.delta, &co->acct);
    return it;
nomem:
    item_account(it, x.delta, &co->acct);
    item_release(it);
    *st = ITEM_ENOMEM;
    return NULL;
}
