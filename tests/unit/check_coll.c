/* check_coll.c -- collections (src/storage/coll.c): list, set and map
 * structures through coll_exec(), their limits and overflow actions,
 * accounting (stats bytes, memory freed), the plain-value commands on a
 * collection, eviction as a whole, and concurrent commands on one
 * collection (atomic per command). */
#include <pthread.h>

#include "check_storage_util.h"

static void
setup(void)
{
    struct item_options o;
    st_opts(&o, 16);
    st_start(&o);
}

/* Elements a get returned, as "field=value" or "value" joined by ','. */
struct got {
    char     buf[65536];
    size_t   len;
    uint32_t begin_count, n;
    uint32_t flags;
};

static void
g_begin(void *arg, uint32_t flags, uint32_t count)
{
    struct got *g = arg;
    g->flags = flags;
    g->begin_count = count;
}

static void
g_elem(void *arg, const char *field, size_t nfield, const void *data, size_t n)
{
    struct got *g = arg;
    if (g->len > 0)
        g->buf[g->len++] = ',';
    if (field != NULL) {
        memcpy(g->buf + g->len, field, nfield);
        g->len += nfield;
        g->buf[g->len++] = '=';
    }
    memcpy(g->buf + g->len, data, n);
    g->len += n;
    g->buf[g->len] = 0;
    g->n++;
}

static struct coll_op
op_of(enum coll_opcode code, const char *key)
{
    struct coll_op op;
    memset(&op, 0, sizeof(op));
    op.code = code;
    op.key = key;
    op.nkey = strlen(key);
    op.attrs.readable = true;
    return op;
}

static enum coll_status
create(const char *key, enum coll_type t, uint32_t maxcount, enum coll_ovfl o)
{
    struct coll_op op = op_of(COP_CREATE, key);
    op.type = t;
    op.attrs.maxcount = maxcount;
    op.attrs.ovfl = o;
    op.attrs.flags = 7;
    return coll_exec(&op, NULL, NULL);
}

static enum coll_status
lins(const char *key, int32_t index, const char *v)
{
    struct coll_op op = op_of(COP_LIST_INSERT, key);
    op.from = index;
    op.data = v;
    op.ndata = (uint32_t)strlen(v);
    return coll_exec(&op, NULL, NULL);
}

static enum coll_status
lget(const char *key, int32_t from, int32_t to, bool del, bool drop, struct got *g)
{
    struct coll_op op = op_of(COP_LIST_GET, key);
    op.from = from;
    op.to = to;
    op.del = del;
    op.drop = drop;
    memset(g, 0, sizeof(*g));
    struct coll_out out = { g_begin, g_elem, g, NULL };
    return coll_exec(&op, &out, NULL);
}

static enum coll_status
sop(enum coll_opcode code, const char *key, const char *v)
{
    struct coll_op op = op_of(code, key);
    op.data = v;
    op.ndata = (uint32_t)strlen(v);
    return coll_exec(&op, NULL, NULL);
}

static enum coll_status
mput(enum coll_opcode code, const char *key, const char *f, const char *v)
{
    struct coll_op op = op_of(code, key);
    op.field = f;
    op.nfield = (uint8_t)strlen(f);
    op.data = v;
    op.ndata = (uint32_t)strlen(v);
    return coll_exec(&op, NULL, NULL);
}

static enum coll_status
mget(const char *key, const char *fields, bool del, bool drop, struct got *g)
{
    struct coll_op op = op_of(COP_MAP_GET, key);
    op.fields = fields;
    op.nfields_len = strlen(fields);
    op.del = del;
    op.drop = drop;
    memset(g, 0, sizeof(*g));
    struct coll_out out = { g_begin, g_elem, g, NULL };
    return coll_exec(&op, &out, NULL);
}

static struct coll_info
info_of(const char *key)
{
    struct coll_op op = op_of(COP_GETATTR, key);
    struct coll_info in;
    memset(&in, 0, sizeof(in));
    ck_assert_int_eq(coll_exec(&op, NULL, &in), COLL_OK);
    return in;
}

START_TEST(test_list_basic)
{
    struct got g;
    ck_assert_int_eq(lins("l", 0, "a"), COLL_NOT_FOUND);
    ck_assert_int_eq(create("l", COLL_LIST, 0, COLL_OVFL_DEFAULT), COLL_CREATED);
    ck_assert_int_eq(create("l", COLL_LIST, 0, COLL_OVFL_DEFAULT), COLL_EXISTS);
    ck_assert_int_eq(lget("l", 0, -1, false, false, &g), COLL_NO_ELEM);
    ck_assert_int_eq(lins("l", 1, "a"), COLL_OUT_OF_RANGE);
    ck_assert_int_eq(lins("l", 0, "b"), COLL_OK);      /* b */
    ck_assert_int_eq(lins("l", 0, "a"), COLL_OK);      /* a b */
    ck_assert_int_eq(lins("l", -1, "d"), COLL_OK);     /* a b d */
    ck_assert_int_eq(lins("l", -2, "c"), COLL_OK);     /* a b c d */
    ck_assert_int_eq(lins("l", -6, "x"), COLL_OUT_OF_RANGE);
    ck_assert_int_eq(lget("l", 0, -1, false, false, &g), COLL_OK);
    ck_assert_str_eq(g.buf, "a,b,c,d");
    ck_assert_uint_eq(g.begin_count, 4);
    ck_assert_uint_eq(g.flags, 7);
    ck_assert_int_eq(lget("l", -1, 0, false, false, &g), COLL_OK);
    ck_assert_str_eq(g.buf, "d,c,b,a");
    ck_assert_int_eq(lget("l", 1, 2, false, false, &g), COLL_OK);
    ck_assert_str_eq(g.buf, "b,c");
    ck_assert_int_eq(lget("l", 2, 100, false, false, &g), COLL_OK);   /* clipped */
    ck_assert_str_eq(g.buf, "c,d");
    ck_assert_int_eq(lget("l", 4, 10, false, false, &g), COLL_NO_ELEM);
    ck_assert_int_eq(lget("l", 1, 1, true, false, &g), COLL_OK);       /* delete b */
    ck_assert_str_eq(g.buf, "b");
    ck_assert_int_eq(lget("l", 0, -1, false, false, &g), COLL_OK);
    ck_assert_str_eq(g.buf, "a,c,d");
    struct coll_op d = op_of(COP_LIST_DELETE, "l");
    d.from = 0; d.to = -1; d.drop = true;
    ck_assert_int_eq(coll_exec(&d, NULL, NULL), COLL_DROPPED);
    ck_assert_int_eq(lget("l", 0, -1, false, false, &g), COLL_NOT_FOUND);
}
END_TEST

START_TEST(test_list_overflow)
{
    struct got g;
    ck_assert_int_eq(create("t", COLL_LIST, 3, COLL_OVFL_DEFAULT), COLL_CREATED);
    ck_assert_int_eq(info_of("t").ovfl, COLL_OVFL_TAIL_TRIM);
    for (const char *v = "abcd"; *v; v++) {
        char s[2] = { *v, 0 };
        ck_assert_int_eq(lins("t", 0, s), COLL_OK);    /* prepend: d c b (a trimmed) */
    }
    ck_assert_int_eq(lget("t", 0, -1, false, false, &g), COLL_OK);
    ck_assert_str_eq(g.buf, "d,c,b");
    ck_assert_int_eq(create("h", COLL_LIST, 3, COLL_OVFL_HEAD_TRIM), COLL_CREATED);
    for (const char *v = "abcd"; *v; v++) {
        char s[2] = { *v, 0 };
        ck_assert_int_eq(lins("h", -1, s), COLL_OK);   /* append: b c d */
    }
    ck_assert_int_eq(lget("h", 0, -1, false, false, &g), COLL_OK);
    ck_assert_str_eq(g.buf, "b,c,d");
    ck_assert_int_eq(create("e", COLL_LIST, 2, COLL_OVFL_ERROR), COLL_CREATED);
    ck_assert_int_eq(lins("e", 0, "a"), COLL_OK);
    ck_assert_int_eq(lins("e", 0, "b"), COLL_OK);
    ck_assert_int_eq(lins("e", 0, "c"), COLL_OVERFLOWED);
    ck_assert_uint_eq(info_of("e").count, 2);
    /* maxcount: 0 is the default, above the hard limit is the limit */
    ck_assert_int_eq(create("d0", COLL_LIST, 0, COLL_OVFL_DEFAULT), COLL_CREATED);
    ck_assert_uint_eq(info_of("d0").maxcount, COLL_MAXCOUNT_DEFAULT);
    ck_assert_int_eq(create("d1", COLL_LIST, 1000000, COLL_OVFL_DEFAULT), COLL_CREATED);
    ck_assert_uint_eq(info_of("d1").maxcount, COLL_MAXCOUNT_MAX);
}
END_TEST

START_TEST(test_set)
{
    struct got g;
    ck_assert_int_eq(create("s", COLL_SET, 0, COLL_OVFL_DEFAULT), COLL_CREATED);
    char v[32];
    /* enough to split hash-tree slots several levels down */
    for (int i = 0; i < 3000; i++) {
        snprintf(v, sizeof(v), "v%d", i);
        ck_assert_int_eq(sop(COP_SET_INSERT, "s", v), COLL_OK);
    }
    ck_assert_int_eq(sop(COP_SET_INSERT, "s", "v17"), COLL_ELEM_EXISTS);
    for (int i = 0; i < 3000; i += 7) {
        snprintf(v, sizeof(v), "v%d", i);
        ck_assert_int_eq(sop(COP_SET_EXIST, "s", v), COLL_EXIST);
    }
    ck_assert_int_eq(sop(COP_SET_EXIST, "s", "nope"), COLL_NOT_EXIST);
    for (int i = 0; i < 3000; i += 2) {
        snprintf(v, sizeof(v), "v%d", i);
        ck_assert_int_eq(sop(COP_SET_DELETE, "s", v), COLL_OK);
    }
    ck_assert_int_eq(sop(COP_SET_DELETE, "s", "v0"), COLL_NO_ELEM);
    ck_assert_uint_eq(info_of("s").count, 1500);
    /* get all: each odd value once */
    struct coll_op op = op_of(COP_SET_GET, "s");
    memset(&g, 0, sizeof(g));
    struct coll_out out = { g_begin, g_elem, &g, NULL };
    ck_assert_int_eq(coll_exec(&op, &out, NULL), COLL_OK);
    ck_assert_uint_eq(g.n, 1500);
    ck_assert_uint_eq(g.begin_count, 1500);
    /* get 10 with delete: 10 distinct, gone afterwards */
    op.count = 10;
    op.del = true;
    memset(&g, 0, sizeof(g));
    ck_assert_int_eq(coll_exec(&op, &out, NULL), COLL_OK);
    ck_assert_uint_eq(g.n, 10);
    ck_assert_uint_eq(info_of("s").count, 1490);
    char *save = NULL;
    for (char *p = strtok_r(g.buf, ",", &save); p != NULL; p = strtok_r(NULL, ",", &save))
        ck_assert_int_eq(sop(COP_SET_EXIST, "s", p), COLL_NOT_EXIST);
    /* overflow: error only */
    ck_assert_int_eq(create("small", COLL_SET, 2, COLL_OVFL_DEFAULT), COLL_CREATED);
    ck_assert_int_eq(sop(COP_SET_INSERT, "small", "a"), COLL_OK);
    ck_assert_int_eq(sop(COP_SET_INSERT, "small", "b"), COLL_OK);
    ck_assert_int_eq(sop(COP_SET_INSERT, "small", "c"), COLL_OVERFLOWED);
    /* delete everything, then the tree holds only its root again */
    for (int i = 1; i < 3000; i += 2) {
        snprintf(v, sizeof(v), "v%d", i);
        sop(COP_SET_DELETE, "s", v);
    }
    ck_assert_uint_eq(info_of("s").count, 0);
}
END_TEST

START_TEST(test_map)
{
    struct got g;
    ck_assert_int_eq(mput(COP_MAP_INSERT, "m", "f", "v"), COLL_NOT_FOUND);
    struct coll_op op = op_of(COP_MAP_INSERT, "m");
    op.create = true;
    op.attrs.flags = 3;
    op.attrs.readable = true;
    op.field = "f1";
    op.nfield = 2;
    op.data = "one";
    op.ndata = 3;
    ck_assert_int_eq(coll_exec(&op, NULL, NULL), COLL_CREATED);
    ck_assert_int_eq(mput(COP_MAP_INSERT, "m", "f1", "x"), COLL_ELEM_EXISTS);
    ck_assert_int_eq(mput(COP_MAP_INSERT, "m", "f2", "two"), COLL_OK);
    ck_assert_int_eq(mput(COP_MAP_UPSERT, "m", "f2", "TWO"), COLL_REPLACED);
    ck_assert_int_eq(mput(COP_MAP_UPSERT, "m", "f3", "three"), COLL_OK);
    ck_assert_int_eq(mput(COP_MAP_UPDATE, "m", "f3", "3"), COLL_OK);
    ck_assert_int_eq(mput(COP_MAP_UPDATE, "m", "f4", "4"), COLL_NO_ELEM);
    ck_assert_int_eq(mget("m", "f3 f1 nope,f2 f1", false, false, &g), COLL_OK);
    ck_assert_str_eq(g.buf, "f3=3,f1=one,f2=TWO");
    ck_assert_uint_eq(g.flags, 3);
    ck_assert_int_eq(mget("m", "nope", false, false, &g), COLL_NO_ELEM);
    ck_assert_int_eq(mget("m", "", false, false, &g), COLL_OK);
    ck_assert_uint_eq(g.n, 3);
    ck_assert_int_eq(mget("m", "f1", true, false, &g), COLL_OK);
    ck_assert_int_eq(mget("m", "f1", false, false, &g), COLL_NO_ELEM);
    struct coll_op d = op_of(COP_MAP_DELETE, "m");
    d.fields = "f2 zz";
    d.nfields_len = 5;
    ck_assert_int_eq(coll_exec(&d, NULL, NULL), COLL_OK);
    ck_assert_int_eq(coll_exec(&d, NULL, NULL), COLL_NO_ELEM);
    d.fields = NULL;
    d.nfields_len = 0;
    d.drop = true;
    ck_assert_int_eq(coll_exec(&d, NULL, NULL), COLL_DROPPED);
    ck_assert_int_eq(mget("m", "", false, false, &g), COLL_NOT_FOUND);
}
END_TEST

START_TEST(test_types_and_kv)
{
    struct got g;
    ck_assert_int_eq(st_set("kv", "12"), ITEM_OK);
    ck_assert_int_eq(lins("kv", 0, "a"), COLL_ETYPE);
    ck_assert_int_eq(create("kv", COLL_SET, 0, COLL_OVFL_DEFAULT), COLL_EXISTS);
    ck_assert_int_eq(create("s", COLL_SET, 0, COLL_OVFL_DEFAULT), COLL_CREATED);
    ck_assert_int_eq(lget("s", 0, -1, false, false, &g), COLL_ETYPE);
    ck_assert_int_eq(mput(COP_MAP_INSERT, "s", "f", "v"), COLL_ETYPE);
    /* a collection to the plain commands */
    ST_EXPECT("s", NULL);                                   /* get: a miss */
    ck_assert_int_eq(st_set("s", "x"), ITEM_ETYPE);
    ck_assert_int_eq(st_store("s", "x", 1, 0, 0, ITEM_ADD, 0, NULL), ITEM_ETYPE);
    uint64_t v;
    ck_assert_int_eq(item_delta("s", 1, true, 1, &v, NULL), ITEM_ETYPE);
    ck_assert_int_eq(item_touch("s", 1, 100), ITEM_OK);
    ck_assert_uint_eq(info_of("s").exptime, 100);
    ck_assert_int_eq(item_delete("s", 1), ITEM_OK);
    ck_assert_int_eq(sop(COP_SET_INSERT, "s", "a"), COLL_NOT_FOUND);
    /* getattr on a plain item */
    struct coll_info in = info_of("kv");
    ck_assert_int_eq(in.type, COLL_KV);
    /* setattr: maxcount on a plain item is not an attribute of it */
    struct coll_op sa = op_of(COP_SETATTR, "kv");
    sa.set_mask = COLL_SET_MAXCOUNT;
    ck_assert_int_eq(coll_exec(&sa, NULL, NULL), COLL_ATTR_NOT_FOUND);
    /* overflowaction per type */
    ck_assert_int_eq(create("l", COLL_LIST, 0, COLL_OVFL_DEFAULT), COLL_CREATED);
    sa = op_of(COP_SETATTR, "l");
    sa.set_mask = COLL_SET_OVFL;
    sa.attrs.ovfl = COLL_OVFL_SMALLEST_TRIM;
    ck_assert_int_eq(coll_exec(&sa, NULL, NULL), COLL_ATTR_BAD_VALUE);
    sa.attrs.ovfl = COLL_OVFL_HEAD_TRIM;
    ck_assert_int_eq(coll_exec(&sa, NULL, NULL), COLL_OK);
    ck_assert_int_eq(info_of("l").ovfl, COLL_OVFL_HEAD_TRIM);
    /* readable off: reads refused, writes go on */
    sa.set_mask = COLL_SET_READABLE;
    sa.attrs.readable = false;
    ck_assert_int_eq(coll_exec(&sa, NULL, NULL), COLL_OK);
    ck_assert_int_eq(lins("l", 0, "a"), COLL_OK);
    ck_assert_int_eq(lget("l", 0, -1, false, false, &g), COLL_UNREADABLE);
}
END_TEST

/* Stats bytes follow the elements; deleting gives every chunk back. */
START_TEST(test_accounting)
{
    struct item_global_stats g0 = st_stats();
    ck_assert_int_eq(create("l", COLL_LIST, 50000, COLL_OVFL_DEFAULT), COLL_CREATED);
    struct item_global_stats g1 = st_stats();
    ck_assert_uint_eq(g1.curr_items, g0.curr_items + 1);
    char v[101];
    memset(v, 'x', 100);
    v[100] = 0;
    for (int i = 0; i < 1000; i++)
        ck_assert_int_eq(lins("l", -1, v), COLL_OK);
    struct item_global_stats g2 = st_stats();
    ck_assert_uint_eq(g2.curr_items, g1.curr_items);
    ck_assert_msg(g2.bytes >= g1.bytes + 1000 * 100, "bytes %llu -> %llu",
                  (unsigned long long)g1.bytes, (unsigned long long)g2.bytes);
    uint64_t per = (g2.bytes - g1.bytes) / 1000;
    ck_assert_msg(per <= 192, "bytes per 100-byte element: %llu", (unsigned long long)per);
    ck_assert_int_eq(item_delete("l", 1), ITEM_OK);
    coll_reap(UINT32_MAX);
    struct item_global_stats g3 = st_stats();
    ck_assert_uint_eq(g3.bytes, g0.bytes);
    ck_assert_uint_eq(g3.curr_items, g0.curr_items);
    /* every chunk back: used chunks as before */
    uint64_t used = 0;
    for (unsigned id = 1; id <= item_nclasses(); id++) {
        struct item_class_stats cs;
        if (item_class_stats(id, &cs))
            used += cs.used_chunks;
    }
    ck_assert_uint_eq(used, 0);
}
END_TEST

/* A full cache evicts collections whole (through any of their chunks),
 * and inserts go on. */
START_TEST(test_eviction)
{
    char key[32], v[1001];
    memset(v, 'y', 1000);
    v[1000] = 0;
    for (int k = 0; k < 40; k++) {
        snprintf(key, sizeof(key), "c%d", k);
        ck_assert_int_eq(create(key, COLL_LIST, 1000, COLL_OVFL_DEFAULT), COLL_CREATED);
        for (int i = 0; i < 1000; i++) {
            /* 40 MB into 16: evictions make room; a list being filled
             * may be the victim itself (then it is gone: NOT_FOUND),
             * never a half of one, never "out of memory" */
            enum coll_status st = lins(key, -1, v);
            ck_assert_msg(st == COLL_OK || st == COLL_NOT_FOUND, "%s #%d: %d", key, i, st);
            if (st == COLL_NOT_FOUND)
                break;
        }
    }
    struct item_global_stats g = st_stats();
    ck_assert_msg(g.evictions > 0, "evictions");
    ck_assert_msg(g.bytes <= 16u * 1024 * 1024, "bytes %llu", (unsigned long long)g.bytes);
    /* what is left is whole */
    int left = 0;
    for (int k = 0; k < 40; k++) {
        snprintf(key, sizeof(key), "c%d", k);
        struct coll_op op = op_of(COP_GETATTR, key);
        struct coll_info in;
        if (coll_exec(&op, NULL, &in) == COLL_OK) {
            left++;
            ck_assert_msg(in.count == 1000 || k == 39, "%s: %u elements", key, in.count);
        }
    }
    ck_assert_msg(left > 0 && left < 40, "%d collections left", left);
}
END_TEST

/* Many threads on one list and one set: each command atomic. */
struct worker_arg { int id; };

static void *
worker(void *arg)
{
    int id = ((struct worker_arg *)arg)->id;
    char v[32];
    for (int i = 0; i < 2000; i++) {
        snprintf(v, sizeof(v), "%d-%d", id, i);
        ck_assert_int_eq(lins("L", -1, v), COLL_OK);
        ck_assert_int_eq(sop(COP_SET_INSERT, "S", v), COLL_OK);
        if (i % 2)
            ck_assert_int_eq(sop(COP_SET_DELETE, "S", v), COLL_OK);
        struct got *g = malloc(sizeof(*g));
        if (i % 100 == 0)
            ck_assert_int_eq(lget("L", -3, -1, false, false, g), COLL_OK);
        free(g);
    }
    return NULL;
}

START_TEST(test_concurrent)
{
    ck_assert_int_eq(create("L", COLL_LIST, 50000, COLL_OVFL_ERROR), COLL_CREATED);
    ck_assert_int_eq(create("S", COLL_SET, 50000, COLL_OVFL_ERROR), COLL_CREATED);
    pthread_t th[4];
    struct worker_arg a[4];
    for (int i = 0; i < 4; i++) {
        a[i].id = i;
        pthread_create(&th[i], NULL, worker, &a[i]);
    }
    for (int i = 0; i < 4; i++)
        pthread_join(th[i], NULL);
    ck_assert_uint_eq(info_of("L").count, 8000);
    ck_assert_uint_eq(info_of("S").count, 4000);
}
END_TEST


/* ---- b+tree ---- */

static struct coll_bkey
ikey(uint64_t v)
{
    struct coll_bkey k = { .len = 8 };
    for (int i = 7; i >= 0; i--, v >>= 8)
        k.b[i] = (uint8_t)v;
    return k;
}

static uint64_t
ival(const struct coll_bkey *k)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < k->len; i++)
        v = v << 8 | k->b[i];
    return v;
}

/* bkeys a b+tree get returned, in order */
struct bgot {
    uint64_t bk[4096];
    uint32_t n, begin_count;
    uint8_t  eflag0;                /* first byte of the last eflag seen */
};

static void
b_begin(void *arg, uint32_t flags, uint32_t count)
{
    (void)flags;
    ((struct bgot *)arg)->begin_count = count;
}

static void
b_elem(void *arg, const struct coll_bkey *bk, const struct coll_bkey *ef, const void *d, size_t n)
{
    struct bgot *g = arg;
    (void)d; (void)n;
    if (g->n < 4096)
        g->bk[g->n++] = ival(bk);
    if (ef->len > 0)
        g->eflag0 = ef->b[0];
}

static enum coll_status
bput(enum coll_opcode code, const char *key, uint64_t bk, const char *v, bool getrim,
     struct bgot *g)
{
    struct coll_op op = op_of(code, key);
    op.bkey = ikey(bk);
    op.data = v;
    op.ndata = (uint32_t)strlen(v);
    op.getrim = getrim;
    struct coll_out out = { b_begin, g_elem, g, b_elem };
    struct coll_info in;
    memset(&in, 0, sizeof(in));
    if (g != NULL)
        memset(g, 0, sizeof(*g));
    return coll_exec(&op, g != NULL ? &out : NULL, &in);
}

static enum coll_status
bget(enum coll_opcode code, const char *key, uint64_t from, uint64_t to, uint32_t offset,
     uint32_t count, struct bgot *g, struct coll_info *in)
{
    struct coll_op op = op_of(code, key);
    op.bkey = ikey(from);
    op.bkey_to = ikey(to);
    op.offset = offset;
    op.count = count;
    struct coll_out out = { b_begin, g_elem, g, b_elem };
    memset(g, 0, sizeof(*g));
    memset(in, 0, sizeof(*in));
    return coll_exec(&op, &out, in);
}

START_TEST(test_btree_order_positions)
{
    ck_assert_int_eq(create("B", COLL_BTREE, 5000, COLL_OVFL_ERROR), COLL_CREATED);
    /* 3000 bkeys in a scrambled order (a multiplicative permutation) */
    for (uint64_t i = 0; i < 3000; i++) {
        uint64_t bk = (i * 7919) % 3000 * 10;
        ck_assert_int_eq(bput(COP_BOP_INSERT, "B", bk, "v", false, NULL), COLL_OK);
    }
    ck_assert_int_eq(bput(COP_BOP_INSERT, "B", 100, "v", false, NULL), COLL_ELEM_EXISTS);
    struct bgot *g = malloc(sizeof(*g));
    struct coll_info in;
    ck_assert_int_eq(bget(COP_BOP_GET, "B", 0, UINT64_MAX, 0, 0, g, &in), COLL_OK);
    ck_assert_uint_eq(g->n, 3000);
    for (uint32_t i = 0; i < 3000; i++)
        ck_assert_msg(g->bk[i] == i * 10, "#%u: %llu", i, (unsigned long long)g->bk[i]);
    /* descending, offset, count */
    ck_assert_int_eq(bget(COP_BOP_GET, "B", 1000, 0, 2, 3, g, &in), COLL_OK);
    ck_assert_uint_eq(g->n, 3);
    ck_assert(g->bk[0] == 980 && g->bk[2] == 960);
    ck_assert_int_eq(bget(COP_BOP_COUNT, "B", 5, 95, 0, 0, g, &in), COLL_OK);
    ck_assert_uint_eq(in.number, 9);
    /* position and select agree everywhere */
    for (uint32_t i = 0; i < 3000; i += 37) {
        struct coll_op op = op_of(COP_BOP_POSITION, "B");
        op.bkey = ikey(i * 10);
        op.desc = (i & 1) != 0;
        memset(&in, 0, sizeof(in));
        ck_assert_int_eq(coll_exec(&op, NULL, &in), COLL_OK);
        ck_assert_uint_eq(in.number, op.desc ? 2999 - i : i);
        op = op_of(COP_BOP_GBP, "B");
        op.from = op.to = (int32_t)i;
        struct coll_out out = { b_begin, g_elem, g, b_elem };
        memset(g, 0, sizeof(*g));
        ck_assert_int_eq(coll_exec(&op, &out, &in), COLL_OK);
        ck_assert(g->n == 1 && g->bk[0] == i * 10);
    }
    /* delete every other one, by ranges of one */
    for (uint64_t i = 0; i < 3000; i += 2) {
        struct coll_op op = op_of(COP_BOP_DELETE, "B");
        op.bkey = op.bkey_to = ikey(i * 10);
        ck_assert_int_eq(coll_exec(&op, NULL, &in), COLL_OK);
    }
    ck_assert_int_eq(bget(COP_BOP_GET, "B", 0, 100, 0, 0, g, &in), COLL_OK);
    ck_assert(g->n == 5 && g->bk[0] == 10 && g->bk[4] == 90);
    ck_assert_uint_eq(info_of("B").count, 1500);
    free(g);
}
END_TEST

START_TEST(test_btree_overflow_and_filter)
{
    struct bgot *g = malloc(sizeof(*g));
    struct coll_info in;
    ck_assert_int_eq(create("S", COLL_BTREE, 3, COLL_OVFL_DEFAULT), COLL_CREATED);
    for (uint64_t b = 1; b <= 3; b++)
        ck_assert_int_eq(bput(COP_BOP_INSERT, "S", b, "x", false, NULL), COLL_OK);
    ck_assert_int_eq(bput(COP_BOP_INSERT, "S", 0, "x", false, NULL), COLL_OUT_OF_RANGE);
    ck_assert_int_eq(bput(COP_BOP_INSERT, "S", 9, "x", true, g), COLL_OK);
    ck_assert(g->begin_count == 1 && g->n == 1 && g->bk[0] == 1);     /* getrim */
    ck_assert_int_eq(bget(COP_BOP_GET, "S", 0, 100, 0, 0, g, &in), COLL_OK);
    ck_assert(g->n == 3 && g->bk[0] == 2 && in.trimmed);
    ck_assert_int_eq(bget(COP_BOP_GET, "S", 0, 1, 0, 0, g, &in), COLL_OUT_OF_RANGE);
    ck_assert_int_eq(bget(COP_BOP_GET, "S", 2, 100, 0, 0, g, &in), COLL_OK);
    ck_assert(!in.trimmed);
    struct coll_info a = info_of("S");
    ck_assert(a.trimmed && ival(&a.minbkey) == 2 && ival(&a.maxbkey) == 9);

    ck_assert_int_eq(create("L", COLL_BTREE, 3, COLL_OVFL_LARGEST_TRIM), COLL_CREATED);
    for (uint64_t b = 1; b <= 3; b++)
        ck_assert_int_eq(bput(COP_BOP_INSERT, "L", b, "x", false, NULL), COLL_OK);
    ck_assert_int_eq(bput(COP_BOP_INSERT, "L", 9, "x", false, NULL), COLL_OUT_OF_RANGE);
    ck_assert_int_eq(bput(COP_BOP_INSERT, "L", 0, "x", false, NULL), COLL_OK);
    ck_assert_int_eq(bget(COP_BOP_GET, "L", 0, 100, 0, 0, g, &in), COLL_OK);
    ck_assert(g->n == 3 && g->bk[2] == 2 && in.trimmed);

    ck_assert_int_eq(create("E", COLL_BTREE, 1, COLL_OVFL_ERROR), COLL_CREATED);
    ck_assert_int_eq(bput(COP_BOP_INSERT, "E", 1, "x", false, NULL), COLL_OK);
    ck_assert_int_eq(bput(COP_BOP_INSERT, "E", 2, "x", false, NULL), COLL_OVERFLOWED);
    ck_assert_int_eq(bput(COP_BOP_UPSERT, "E", 1, "y", false, NULL), COLL_REPLACED);

    /* eflag filter: elements with eflag 0x0N, N = bkey; & 0x01 EQ 0x01: odd */
    ck_assert_int_eq(create("F", COLL_BTREE, 100, COLL_OVFL_ERROR), COLL_CREATED);
    for (uint64_t b = 0; b < 10; b++) {
        struct coll_op op = op_of(COP_BOP_INSERT, "F");
        op.bkey = ikey(b);
        op.eflag.len = 1;
        op.eflag.bin = true;
        op.eflag.b[0] = (uint8_t)b;
        op.data = "d";
        op.ndata = 1;
        ck_assert_int_eq(coll_exec(&op, NULL, &in), COLL_OK);
    }
    struct coll_op op = op_of(COP_BOP_GET, "F");
    op.bkey = ikey(0);
    op.bkey_to = ikey(9);
    op.filter = (struct coll_eflag_filter){ .on = true, .bitwop = '&', .compop = CMP_EQ,
                                            .len = 1, .nvals = 1 };
    op.filter.bitw[0] = 1;
    op.filter.vals[0][0] = 1;
    op.offset = 1;
    op.count = 2;
    struct coll_out out = { b_begin, g_elem, g, b_elem };
    memset(g, 0, sizeof(*g));
    ck_assert_int_eq(coll_exec(&op, &out, &in), COLL_OK);
    ck_assert(g->n == 2 && g->bk[0] == 3 && g->bk[1] == 5);
    op.code = COP_BOP_COUNT;
    op.offset = op.count = 0;
    ck_assert_int_eq(coll_exec(&op, NULL, &in), COLL_OK);
    ck_assert_uint_eq(in.number, 5);
    /* a mismatched bkey type */
    op.bkey.bin = op.bkey_to.bin = true;
    ck_assert_int_eq(coll_exec(&op, NULL, &in), COLL_BKEY_MISMATCH);
    free(g);
}
END_TEST


/* reply_max: a get whose reply would pass it is refused, nothing deleted;
 * coll_type_counts() follows creates and frees. */
START_TEST(test_reply_max_and_counts)
{
    uint64_t before[COLL_BTREE + 1], after[COLL_BTREE + 1];
    coll_type_counts(before);
    ck_assert_int_eq(create("R", COLL_LIST, 100, COLL_OVFL_DEFAULT), COLL_CREATED);
    ck_assert_int_eq(create("RB", COLL_BTREE, 100, COLL_OVFL_DEFAULT), COLL_CREATED);
    for (int i = 0; i < 10; i++) {
        ck_assert_int_eq(lins("R", -1, "0123456789"), COLL_OK);
        ck_assert_int_eq(bput(COP_BOP_INSERT, "RB", (uint64_t)i, "0123456789", false, NULL),
                         COLL_OK);
    }
    coll_type_counts(after);
    ck_assert(after[COLL_LIST] == before[COLL_LIST] + 1 &&
              after[COLL_BTREE] == before[COLL_BTREE] + 1);
    struct got *g = malloc(sizeof(*g));
    struct coll_op op = op_of(COP_LIST_GET, "R");
    op.from = 0;
    op.to = -1;
    op.del = true;
    op.reply_max = 10 * (10 + 32) - 1;   /* one byte short of the estimate */
    struct coll_out out = { g_begin, g_elem, g, NULL };
    memset(g, 0, sizeof(*g));
    ck_assert_int_eq(coll_exec(&op, &out, NULL), COLL_ENOMEM);
    ck_assert_uint_eq(g->n, 0);
    ck_assert_uint_eq(info_of("R").count, 10);
    op.reply_max += 1;
    ck_assert_int_eq(coll_exec(&op, &out, NULL), COLL_OK);
    ck_assert_uint_eq(g->n, 10);
    struct bgot *bg = malloc(sizeof(*bg));
    struct coll_info in;
    op = op_of(COP_BOP_GET, "RB");
    op.bkey = ikey(0);
    op.bkey_to = ikey(9);
    op.reply_max = 100;
    struct coll_out bout = { b_begin, g_elem, bg, b_elem };
    memset(&in, 0, sizeof(in));
    ck_assert_int_eq(coll_exec(&op, &bout, &in), COLL_ENOMEM);
    op.code = COP_BOP_GBP;
    op.from = 0;
    op.to = 9;
    ck_assert_int_eq(coll_exec(&op, &bout, &in), COLL_ENOMEM);
    op.reply_max = 0;
    memset(bg, 0, sizeof(*bg));
    ck_assert_int_eq(coll_exec(&op, &bout, &in), COLL_OK);
    ck_assert_uint_eq(bg->n, 10);
    ck_assert(item_delete("RB", 2) == ITEM_OK);
    coll_type_counts(after);
    ck_assert(after[COLL_BTREE] == before[COLL_BTREE]);
    free(g);
    free(bg);
}
END_TEST

/* Threads inserting into and deleting from one b+tree: atomic commands,
 * and the count agrees with what was left. */
static void *
bworker(void *arg)
{
    int id = ((struct worker_arg *)arg)->id;
    for (uint64_t i = 0; i < 2000; i++) {
        uint64_t bk = i * 4 + (uint64_t)id;
        ck_assert_int_eq(bput(COP_BOP_INSERT, "T", bk, "value", false, NULL), COLL_OK);
        if (i % 2) {
            struct coll_op op = op_of(COP_BOP_DELETE, "T");
            op.bkey = op.bkey_to = ikey(bk);
            ck_assert_int_eq(coll_exec(&op, NULL, NULL), COLL_OK);
        }
    }
    return NULL;
}

START_TEST(test_btree_concurrent)
{
    ck_assert_int_eq(create("T", COLL_BTREE, 50000, COLL_OVFL_ERROR), COLL_CREATED);
    pthread_t th[4];
    struct worker_arg a[4];
    for (int i = 0; i < 4; i++) {
        a[i].id = i;
        pthread_create(&th[i], NULL, bworker, &a[i]);
    }
    for (int i = 0; i < 4; i++)
        pthread_join(th[i], NULL);
    ck_assert_uint_eq(info_of("T").count, 4000);
    struct bgot *g = malloc(sizeof(*g));
    struct coll_info in;
    ck_assert_int_eq(bget(COP_BOP_COUNT, "T", 0, UINT64_MAX, 0, 0, g, &in), COLL_OK);
    ck_assert_uint_eq(in.number, 4000);
    free(g);
}
END_TEST

static Suite *
coll_suite(void)
{
    Suite *s = suite_create("coll");
    TCase *tc = tcase_create("structures");
    tcase_add_checked_fixture(tc, setup, st_teardown);
    tcase_add_test(tc, test_list_basic);
    tcase_add_test(tc, test_list_overflow);
    tcase_add_test(tc, test_set);
    tcase_add_test(tc, test_map);
    tcase_add_test(tc, test_types_and_kv);
    tcase_add_test(tc, test_btree_order_positions);
    tcase_add_test(tc, test_btree_overflow_and_filter);
    tcase_add_test(tc, test_reply_max_and_counts);
    suite_add_tcase(s, tc);
    tc = tcase_create("memory");
    tcase_set_timeout(tc, 60);
    tcase_add_checked_fixture(tc, setup, st_teardown);
    tcase_add_test(tc, test_accounting);
    tcase_add_test(tc, test_eviction);
    tcase_add_test(tc, test_concurrent);
    tcase_add_test(tc, test_btree_concurrent);
    suite_add_tcase(s, tc);
    return s;
}

ST_MAIN(coll_suite)
