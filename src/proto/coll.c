/*
 * coll.c -- the ARCUS dialect: collection command lines (lop, sop, mop, bop,
 * getattr, setattr) into struct request (r->coll), and the one table of
 * ARCUS reply strings (coll_reply).  No side effects; the executor is
 * proto/coll_exec.c, storage is item.h's coll_exec().
 *
 * Syntax (naver/arcus-memcached docs/ascii-protocol, ch05-ch07, ch09, ch10):
 *   lop create <key> <attributes> [noreply]
 *   lop insert <key> <index> <bytes> [create <attributes>] [noreply|pipe]\r\n<data>
 *   lop delete <key> <index or "index range"> [drop] [noreply|pipe]
 *   lop get <key> <index or "index range"> [delete|drop]
 *   sop create <key> <attributes> [noreply]
 *   sop insert <key> <bytes> [create <attributes>] [noreply|pipe]\r\n<data>
 *   sop delete <key> <bytes> [drop] [noreply|pipe]\r\n<data>
 *   sop exist <key> <bytes> [pipe]\r\n<data>
 *   sop get <key> <count> [delete|drop]
 *   mop create <key> <attributes> [noreply]
 *   mop insert|upsert <key> <field> <bytes> [create <attributes>] [noreply|pipe]\r\n<data>
 *   mop update <key> <field> <bytes> [noreply|pipe]\r\n<data>
 *   mop delete <key> <lenfields> <numfields> [drop] [noreply|pipe]\r\n[<fields>\r\n]
 *   mop get <key> <lenfields> <numfields> [delete|drop]\r\n[<fields>\r\n]
 *   getattr <key> [<name> ...]
 *   setattr <key> <name>=<value> ...
 *   attributes: <flags> <exptime> <maxcount> [<ovflaction>] [unreadable]
 */
#include <string.h>

#include "exec.h"
#include "proto.h"

#define E_FORMAT "CLIENT_ERROR bad command line format"
#define E_LARGE  "CLIENT_ERROR too large value"

/* Longest field list a mop delete/get may send (ours: the most fields a
 * map holds, each of the longest size). */
#define FIELDS_MAX ((size_t)COLL_MAXCOUNT_MAX * (COLL_FIELD_MAX + 1))

static const struct { const char *name; enum coll_ovfl o; } ovfl_names[] = {
    { "error", COLL_OVFL_ERROR }, { "head_trim", COLL_OVFL_HEAD_TRIM },
    { "tail_trim", COLL_OVFL_TAIL_TRIM }, { "smallest_trim", COLL_OVFL_SMALLEST_TRIM },
    { "largest_trim", COLL_OVFL_LARGEST_TRIM },
    { "smallest_silent_trim", COLL_OVFL_SMALLEST_SILENT_TRIM },
    { "largest_silent_trim", COLL_OVFL_LARGEST_SILENT_TRIM },
};

const char *
coll_ovfl_name(enum coll_ovfl o)
{
    for (size_t i = 0; i < sizeof(ovfl_names) / sizeof(ovfl_names[0]); i++)
        if (ovfl_names[i].o == o)
            return ovfl_names[i].name;
    return "error";
}

static bool
ovfl_parse(const struct token *t, enum coll_ovfl *o)
{
    for (size_t i = 0; i < sizeof(ovfl_names) / sizeof(ovfl_names[0]); i++)
        if (token_is(t, ovfl_names[i].name)) {
            *o = ovfl_names[i].o;
            return true;
        }
    return false;
}

static const char *const attr_names[CATTR_NAMES] = {
    "flags", "expiretime", "type", "count", "maxcount", "overflowaction", "readable",
    "maxbkeyrange", "minbkey", "maxbkey", "trimmed",
};

const char *
coll_attr_name(enum coll_attr_name a)
{
    return attr_names[a];
}

/* A client exptime (ARCUS: -1 sticky, 0 never, else memcached's rule). */
static void
set_exptime(struct coll_attrs *a, int32_t e)
{
    a->sticky = e == -1;
    a->exptime = e == -1 ? 0 : clock_exptime(e);
}

/* <flags> <exptime> <maxcount> [<ovflaction>] [unreadable] from t[0..n):
 * how many tokens it took, or -1. */
static int
parse_attrs(const struct token *t, int n, struct coll_attrs *a, bool maxcount_opt)
{
    uint64_t flags, maxcount = 0;
    int32_t exptime;
    int i = 3;
    if (maxcount_opt && n >= 2 && (n == 2 || !text_u64(&t[2], &maxcount)))
        i = 2;                      /* b+tree (ch08): <maxcount> may be left out */
    if (n < i || !text_u64(&t[0], &flags) || flags > UINT32_MAX ||
        !text_i32(&t[1], &exptime) || (i == 3 && !text_u64(&t[2], &maxcount)))
        return -1;
    a->flags = (uint32_t)flags;
    set_exptime(a, exptime);
    a->maxcount = maxcount > COLL_MAXCOUNT_MAX ? COLL_MAXCOUNT_MAX : (uint32_t)maxcount;
    a->ovfl = COLL_OVFL_DEFAULT;
    a->readable = true;
    if (i < n && ovfl_parse(&t[i], &a->ovfl))
        i++;
    if (i < n && token_is(&t[i], "unreadable")) {
        a->readable = false;
        i++;
    }
    return i;
}

/* An index or "index1..index2". */
static bool
parse_range(const struct token *t, int32_t *from, int32_t *to)
{
    const char *dots = NULL;
    for (size_t i = 0; i + 1 < t->n; i++)
        if (t->s[i] == '.' && t->s[i + 1] == '.') {
            dots = t->s + i;
            break;
        }
    if (dots == NULL) {
        if (!text_i32(t, from))
            return false;
        *to = *from;
        return true;
    }
    struct token a = { t->s, (size_t)(dots - t->s) };
    struct token b = { dots + 2, t->n - a.n - 2 };
    return a.n > 0 && b.n > 0 && text_i32(&a, from) && text_i32(&b, to);
}

/* An element length: 0..COLL_ELEM_MAX, or *large when it is a number
 * beyond that (its data is still skipped). */
static bool
parse_len(const struct token *t, struct request *r, bool *large)
{
    uint64_t v;
    *large = false;
    if (!text_u64(t, &v) || v > INT32_MAX)
        return false;
    r->coll.dlen = (int64_t)v;
    r->coll.op.ndata = (uint32_t)v;
    *large = v > COLL_ELEM_MAX;
    return true;
}

/* The optional tail of a line, from t[i]: "create <attributes>" when
 * create_ok, then words out of `allow` ("noreply", "pipe", "drop",
 * "delete"); one of each at most.  False on anything else. */
enum { T_NOREPLY = 1, T_PIPE = 2, T_DROP = 4, T_DELETE = 8, T_GETRIM = 16 };
static bool
parse_tail(struct request *r, int i, bool create_ok, unsigned allow)
{
    const struct token *t = r->tokens;
    int n = r->ntokens;
    unsigned seen = 0;
    if (create_ok && i < n && token_is(&t[i], "create")) {
        int k = parse_attrs(&t[i + 1], n - i - 1, &r->coll.op.attrs,
                            r->coll.op.type == COLL_BTREE);
        if (k < 0)
            return false;
        r->coll.op.create = true;
        i += 1 + k;
    }
    for (; i < n; i++) {
        unsigned w = token_is(&t[i], "noreply") ? T_NOREPLY : token_is(&t[i], "pipe") ? T_PIPE :
                     token_is(&t[i], "drop") ? T_DROP : token_is(&t[i], "delete") ? T_DELETE :
                     token_is(&t[i], "getrim") ? T_GETRIM : 0;
        if (w == 0 || !(allow & w) || (seen & w))
            return false;
        seen |= w;
    }
    /* noreply|pipe and delete|drop are alternatives, and come last */
    unsigned rp = seen & (T_NOREPLY | T_PIPE | T_GETRIM);
    if ((rp & (rp - 1)) != 0 ||
        (seen & (T_DROP | T_DELETE)) == (T_DROP | T_DELETE))
        return false;
    r->noreply = (seen & T_NOREPLY) != 0;
    r->coll.pipe = (seen & T_PIPE) != 0;
    r->coll.op.getrim = (seen & T_GETRIM) != 0;
    r->coll.op.drop = (seen & T_DROP) != 0;
    r->coll.op.del = (seen & (T_DELETE | T_DROP)) != 0 &&
                     (r->coll.op.code == COP_LIST_GET || r->coll.op.code == COP_SET_GET ||
                      r->coll.op.code == COP_MAP_GET || r->coll.op.code == COP_BOP_GET);
    return true;
}

/* ---- b+tree (bop, ch08) ---- */

static int
hexval(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 :
           c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* "0x" and 2..62 hex digits (an even count) into k (bin). */
static bool
parse_hex(const char *s, size_t n, struct coll_bkey *k)
{
    if (n < 4 || s[0] != '0' || (s[1] != 'x' && s[1] != 'X') || (n & 1) ||
        (n - 2) / 2 > COLL_BKEY_MAX)
        return false;
    k->len = (uint8_t)((n - 2) / 2);
    k->bin = true;
    for (size_t i = 0; i < k->len; i++) {
        int h = hexval(s[2 + 2 * i]), l = hexval(s[3 + 2 * i]);
        if (h < 0 || l < 0)
            return false;
        k->b[i] = (uint8_t)(h << 4 | l);
    }
    return true;
}

/* A bkey: an unsigned 64-bit integer (8 bytes, big-endian) or hex. */
static bool
parse_bkey(const char *s, size_t n, struct coll_bkey *k)
{
    if (n >= 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X'))
        return parse_hex(s, n, k);
    uint64_t v;
    struct token t = { s, n };
    if (!text_u64(&t, &v))
        return false;
    k->len = 8;
    k->bin = false;
    for (int i = 7; i >= 0; i--, v >>= 8)
        k->b[i] = (uint8_t)v;
    return true;
}

/* A bkey or "bkey1..bkey2" (both of one type). */
static bool
parse_bkey_range(const struct token *t, struct coll_bkey *a, struct coll_bkey *b)
{
    for (size_t i = 0; i + 1 < t->n; i++)
        if (t->s[i] == '.' && t->s[i + 1] == '.')
            return parse_bkey(t->s, i, a) && parse_bkey(t->s + i + 2, t->n - i - 2, b) &&
                   a->bin == b->bin;
    if (!parse_bkey(t->s, t->n, a))
        return false;
    *b = *a;
    return true;
}

static int
compop_of(const struct token *t)
{
    static const char *const ops[] = { "EQ", "NE", "LT", "LE", "GT", "GE" };
    for (int i = 0; i < 6; i++)
        if (token_is(t, ops[i]))
            return i;
    return -1;
}

static char
bitwop_of(const struct token *t)
{
    return t->n == 1 && (t->s[0] == '&' || t->s[0] == '|' || t->s[0] == '^') ? t->s[0] : 0;
}

/* An eflag filter at t[i] when there is one: tokens taken (0: none), or
 * -1 when it is malformed. */
static int
parse_filter(const struct token *t, int i, int n, struct coll_eflag_filter *f)
{
    uint64_t off;
    if (i + 2 >= n || !text_u64(&t[i], &off) ||
        (bitwop_of(&t[i + 1]) == 0 && compop_of(&t[i + 1]) < 0))
        return 0;
    int k = i + 1;
    struct coll_bkey v;
    f->on = true;
    if ((f->bitwop = bitwop_of(&t[k])) != 0) {
        if (k + 3 >= n || !parse_hex(t[k + 1].s, t[k + 1].n, &v))
            return -1;
        memcpy(f->bitw, v.b, v.len);
        f->len = v.len;
        k += 2;
    }
    int op = compop_of(&t[k]);
    if (op < 0 || k + 1 >= n)
        return -1;
    f->compop = (uint8_t)op;
    /* EQ/NE take a comma separated list (IN, NOT IN) */
    const char *s = t[k + 1].s, *end = s + t[k + 1].n;
    f->nvals = 0;
    while (s <= end) {
        const char *c = memchr(s, ',', (size_t)(end - s));
        const char *e = c != NULL ? c : end;
        if (f->nvals == COLL_EFLAG_IN_MAX || !parse_hex(s, (size_t)(e - s), &v) ||
            (f->bitwop != 0 && v.len != f->len) || (f->nvals > 0 && v.len != f->len))
            return -1;
        f->len = v.len;
        memcpy(f->vals[f->nvals++], v.b, v.len);
        s = e + 1;
    }
    if ((f->nvals > 1 && op != CMP_EQ && op != CMP_NE) || off + f->len > COLL_BKEY_MAX)
        return -1;
    f->offset = (uint8_t)off;
    return k + 2 - i;
}

/* Leading numbers at t[i..]: up to max of them into v; how many. */
static int
parse_nums(const struct token *t, int i, int n, uint64_t *v, int max)
{
    int k = 0;
    while (k < max && i + k < n && text_u64(&t[i + k], &v[k]))
        k++;
    return k;
}

static bool
parse_order(const struct token *t, bool *desc)
{
    *desc = token_is(t, "desc");
    return *desc || token_is(t, "asc");
}

/* A position or "p1..p2" (into from, to). */
static bool
parse_positions(const struct token *t, int32_t *from, int32_t *to)
{
    return parse_range(t, from, to) && *from >= 0 && *to >= 0;
}

/* bop <sub> ...: fills r->coll; false on a syntax error (r->vlen then
 * says what block to skip). */
static bool
parse_bop(struct request *r)
{
    const struct token *t = r->tokens;
    int n = r->ntokens;
    struct coll_req *c = &r->coll;
    struct coll_op *op = &c->op;
    bool large = false;
    uint64_t v[2];
    int i, k;
    switch (c->cc) {
    case CC_BOP_CREATE:
        k = parse_attrs(&t[3], n - 3, &op->attrs, true);
        return k >= 0 && parse_tail(r, 3 + k, false, T_NOREPLY);
    case CC_BOP_INSERT: case CC_BOP_UPSERT:
        if (n < 5 || !parse_bkey(t[3].s, t[3].n, &op->bkey))
            return false;
        i = 4;
        if (t[4].n >= 2 && t[4].s[0] == '0' && (t[4].s[1] == 'x' || t[4].s[1] == 'X')) {
            if (!parse_hex(t[4].s, t[4].n, &op->eflag))
                return false;
            i = 5;
        }
        if (i >= n || !parse_len(&t[i], r, &large) ||
            !parse_tail(r, i + 1, true, T_NOREPLY | T_PIPE | T_GETRIM))
            return false;
        if (large)
            r->error = E_LARGE;
        return true;
    case CC_BOP_UPDATE: {
        if (n < 5 || !parse_bkey(t[3].s, t[3].n, &op->bkey))
            return false;
        int end = n;
        if (token_is(&t[n - 1], "noreply") || token_is(&t[n - 1], "pipe"))
            end--;
        if (end < 5 || !parse_tail(r, end, false, T_NOREPLY | T_PIPE))
            return false;
        struct coll_eflag_update *u = &op->eupd;
        struct coll_bkey h;
        if (end - 5 == 1) {
            u->on = true;
            if (!token_is(&t[4], "0")) {
                if (!parse_hex(t[4].s, t[4].n, &h))
                    return false;
                u->len = h.len;
                memcpy(u->v, h.b, h.len);
            }
        } else if (end - 5 == 3) {
            u->on = u->partial = true;
            if (!text_u64(&t[4], &v[0]) || (u->bitwop = bitwop_of(&t[5])) == 0 ||
                !parse_hex(t[6].s, t[6].n, &h) || v[0] + h.len > COLL_BKEY_MAX)
                return false;
            u->offset = (uint8_t)v[0];
            u->len = h.len;
            memcpy(u->v, h.b, h.len);
        } else if (end != 5) {
            return false;
        }
        if (token_is(&t[end - 1], "-1")) {
            if (!u->on)
                r->error = "NOTHING_TO_UPDATE";
            return true;
        }
        if (!parse_len(&t[end - 1], r, &large))
            return false;
        op->has_data = true;
        if (large)
            r->error = E_LARGE;
        return true;
    }
    case CC_BOP_DELETE: case CC_BOP_GET: case CC_BOP_COUNT:
        if (n < 4 || !parse_bkey_range(&t[3], &op->bkey, &op->bkey_to))
            return false;
        i = 4;
        if ((k = parse_filter(t, i, n, &op->filter)) < 0)
            return false;
        i += k;
        if (c->cc == CC_BOP_COUNT)
            return i == n;
        k = parse_nums(t, i, n, v, c->cc == CC_BOP_GET ? 2 : 1);
        if (k == 2) {
            op->offset = v[0] > UINT32_MAX ? UINT32_MAX : (uint32_t)v[0];
            v[0] = v[1];
        }
        if (k > 0)
            op->count = v[0] > UINT32_MAX ? UINT32_MAX : (uint32_t)v[0];
        return parse_tail(r, i + k, false, c->cc == CC_BOP_GET ? T_DROP | T_DELETE :
                                           T_DROP | T_NOREPLY | T_PIPE);
    case CC_BOP_INCR: case CC_BOP_DECR:
        op->decr = c->cc == CC_BOP_DECR;
        if (n < 5 || !parse_bkey(t[3].s, t[3].n, &op->bkey) || !text_u64(&t[4], &op->delta) ||
            op->delta == 0)
            return false;
        i = 5;
        if (i < n && text_u64(&t[i], &op->initial)) {
            op->has_initial = true;
            i++;
            if (i < n && t[i].n >= 2 && t[i].s[0] == '0' && (t[i].s[1] | 0x20) == 'x') {
                if (!parse_hex(t[i].s, t[i].n, &op->eflag))
                    return false;
                i++;
            }
        }
        return parse_tail(r, i, false, T_NOREPLY | T_PIPE);
    case CC_BOP_POSITION:
        return n == 5 && parse_bkey(t[3].s, t[3].n, &op->bkey) && parse_order(&t[4], &op->desc);
    case CC_BOP_GBP:
        return n == 5 && parse_order(&t[3], &op->desc) &&
               parse_positions(&t[4], &op->from, &op->to);
    case CC_BOP_PWG:
        if (n < 5 || n > 6 || !parse_bkey(t[3].s, t[3].n, &op->bkey) ||
            !parse_order(&t[4], &op->desc))
            return false;
        if (n == 6 && (!text_u64(&t[5], &v[0]) || v[0] > COLL_PWG_COUNT_MAX))
            return false;
        op->count = n == 6 ? (uint32_t)v[0] : 0;
        return true;
    default:
        return false;
    }
}

/* bop mget|smget <lenkeys> <numkeys> <range> [<filter>] ...: the key list
 * follows as a block. */
static bool
parse_bop_multi(struct request *r)
{
    const struct token *t = r->tokens;
    int n = r->ntokens;
    struct coll_req *c = &r->coll;
    struct coll_op *op = &c->op;
    uint64_t len, num, v[2];
    if (n < 6 || !text_u64(&t[2], &len) || !text_u64(&t[3], &num) || len == 0 ||
        len > (uint64_t)COLL_SMGET_KEYS_MAX * (ITEM_KEY_MAX + 1) ||
        !parse_bkey_range(&t[4], &op->bkey, &op->bkey_to))
        return false;
    c->dlen = (int64_t)len;
    c->fields_block = true;
    c->numfields = num > UINT32_MAX ? UINT32_MAX : (uint32_t)num;
    int i = 5, k;
    if ((k = parse_filter(t, i, n, &op->filter)) < 0)
        return false;
    i += k;
    bool smget = c->cc == CC_BOP_SMGET;
    k = parse_nums(t, i, n, v, smget ? 1 : 2);
    if (k == 0)
        return false;
    if (k == 2) {
        op->offset = v[0] > UINT32_MAX ? UINT32_MAX : (uint32_t)v[0];
        v[0] = v[1];
    }
    i += k;
    if (smget) {
        if (i + 1 != n || (!token_is(&t[i], "duplicate") && !token_is(&t[i], "unique")))
            return false;
        c->unique = token_is(&t[i], "unique");
    } else if (i != n) {
        return false;
    }
    if (num == 0 || num > (smget ? COLL_SMGET_KEYS_MAX : COLL_MGET_KEYS_MAX) || v[0] == 0 ||
        v[0] > (smget ? COLL_SMGET_COUNT_MAX : COLL_MGET_COUNT_MAX)) {
        r->error = "CLIENT_ERROR bad value";
        r->vlen = c->dlen;
        return true;
    }
    op->count = (uint32_t)v[0];
    op->smget = smget;
    return true;
}

static const struct {
    const char *word;               /* "lop create" as two tokens */
    const char *sub;
    enum req_cmd_coll cc;
    enum coll_opcode code;
    enum coll_type type;
} cmds[] = {
    { "lop", "create", CC_LOP_CREATE, COP_CREATE, COLL_LIST },
    { "lop", "insert", CC_LOP_INSERT, COP_LIST_INSERT, COLL_LIST },
    { "lop", "delete", CC_LOP_DELETE, COP_LIST_DELETE, COLL_LIST },
    { "lop", "get", CC_LOP_GET, COP_LIST_GET, COLL_LIST },
    { "sop", "create", CC_SOP_CREATE, COP_CREATE, COLL_SET },
    { "sop", "insert", CC_SOP_INSERT, COP_SET_INSERT, COLL_SET },
    { "sop", "delete", CC_SOP_DELETE, COP_SET_DELETE, COLL_SET },
    { "sop", "exist", CC_SOP_EXIST, COP_SET_EXIST, COLL_SET },
    { "sop", "get", CC_SOP_GET, COP_SET_GET, COLL_SET },
    { "mop", "create", CC_MOP_CREATE, COP_CREATE, COLL_MAP },
    { "mop", "insert", CC_MOP_INSERT, COP_MAP_INSERT, COLL_MAP },
    { "mop", "upsert", CC_MOP_UPSERT, COP_MAP_UPSERT, COLL_MAP },
    { "mop", "update", CC_MOP_UPDATE, COP_MAP_UPDATE, COLL_MAP },
    { "mop", "delete", CC_MOP_DELETE, COP_MAP_DELETE, COLL_MAP },
    { "mop", "get", CC_MOP_GET, COP_MAP_GET, COLL_MAP },
    { "bop", "create", CC_BOP_CREATE, COP_CREATE, COLL_BTREE },
    { "bop", "insert", CC_BOP_INSERT, COP_BOP_INSERT, COLL_BTREE },
    { "bop", "upsert", CC_BOP_UPSERT, COP_BOP_UPSERT, COLL_BTREE },
    { "bop", "update", CC_BOP_UPDATE, COP_BOP_UPDATE, COLL_BTREE },
    { "bop", "delete", CC_BOP_DELETE, COP_BOP_DELETE, COLL_BTREE },
    { "bop", "get", CC_BOP_GET, COP_BOP_GET, COLL_BTREE },
    { "bop", "count", CC_BOP_COUNT, COP_BOP_COUNT, COLL_BTREE },
    { "bop", "incr", CC_BOP_INCR, COP_BOP_INCR, COLL_BTREE },
    { "bop", "decr", CC_BOP_DECR, COP_BOP_INCR, COLL_BTREE },
    { "bop", "mget", CC_BOP_MGET, COP_BOP_GET, COLL_BTREE },
    { "bop", "smget", CC_BOP_SMGET, COP_BOP_GET, COLL_BTREE },
    { "bop", "position", CC_BOP_POSITION, COP_BOP_POSITION, COLL_BTREE },
    { "bop", "gbp", CC_BOP_GBP, COP_BOP_GBP, COLL_BTREE },
    { "bop", "pwg", CC_BOP_PWG, COP_BOP_PWG, COLL_BTREE },
};

static void
fail(struct request *r, const char *msg)
{
    r->error = msg;
}

/* getattr <key> [<name> ...] */
static void
parse_getattr(struct request *r)
{
    for (int i = 2; i < r->ntokens; i++) {
        int a = 0;
        while (a < CATTR_NAMES && !token_is(&r->tokens[i], attr_names[a]))
            a++;
        if (a == CATTR_NAMES || r->coll.nnames == sizeof(r->coll.names)) {
            fail(r, "ATTR_ERROR not found");
            return;
        }
        r->coll.names[r->coll.nnames++] = (uint8_t)a;
    }
}

/* setattr <key> <name>=<value> ... */
static void
parse_setattr(struct request *r)
{
    struct coll_op *op = &r->coll.op;
    if (r->ntokens < 3) {
        fail(r, E_FORMAT);
        return;
    }
    for (int i = 2; i < r->ntokens; i++) {
        const struct token *t = &r->tokens[i];
        const char *eq = memchr(t->s, '=', t->n);
        if (eq == NULL) {
            fail(r, E_FORMAT);
            return;
        }
        struct token name = { t->s, (size_t)(eq - t->s) };
        struct token val = { eq + 1, t->n - name.n - 1 };
        int32_t e;
        uint64_t m;
        if (token_is(&name, "expiretime")) {
            if (!text_i32(&val, &e)) {
                fail(r, "ATTR_ERROR bad value");
                return;
            }
            set_exptime(&op->attrs, e);
            op->set_mask |= COLL_SET_EXPTIME;
        } else if (token_is(&name, "maxcount")) {
            if (!text_u64(&val, &m)) {
                fail(r, "ATTR_ERROR bad value");
                return;
            }
            op->attrs.maxcount = m > COLL_MAXCOUNT_MAX ? COLL_MAXCOUNT_MAX : (uint32_t)m;
            op->set_mask |= COLL_SET_MAXCOUNT;
        } else if (token_is(&name, "overflowaction")) {
            if (!ovfl_parse(&val, &op->attrs.ovfl)) {
                fail(r, "ATTR_ERROR bad value");
                return;
            }
            op->set_mask |= COLL_SET_OVFL;
        } else if (token_is(&name, "maxbkeyrange")) {
            struct coll_bkey *k = &op->attrs.maxbkeyrange;
            if (!parse_bkey(val.s, val.n, k)) {
                fail(r, "ATTR_ERROR bad value");
                return;
            }
            bool zero = true;       /* 0: unlimited */
            for (unsigned j = 0; j < k->len; j++)
                zero = zero && k->b[j] == 0;
            if (zero)
                k->len = 0;
            op->set_mask |= COLL_SET_MAXBKEYRANGE;
        } else if (token_is(&name, "readable")) {
            if (!token_is(&val, "on") && !token_is(&val, "off")) {
                fail(r, "ATTR_ERROR bad value");
                return;
            }
            op->attrs.readable = token_is(&val, "on");
            op->set_mask |= COLL_SET_READABLE;
        } else {
            fail(r, "ATTR_ERROR not found");
            return;
        }
    }
}

bool
coll_parse(struct request *r)
{
    const struct token *t = r->tokens;
    int n = r->ntokens;
    struct coll_req *c = &r->coll;
    memset(c, 0, sizeof(*c));
    c->dlen = -1;
    if (token_is(&t[0], "getattr") || token_is(&t[0], "setattr")) {
        bool get = t[0].s[0] == 'g';
        r->cmd = CMD_COLL;
        c->cc = get ? CC_GETATTR : CC_SETATTR;
        c->op.code = get ? COP_GETATTR : COP_SETATTR;
        if (n < 2 || !text_key_valid(t[1].s, t[1].n)) {
            fail(r, E_FORMAT);
            return true;
        }
        c->op.key = r->key = t[1].s;
        c->op.nkey = r->nkey = t[1].n;
        if (get)
            parse_getattr(r);
        else
            parse_setattr(r);
        return true;
    }
    if (n < 2 || t[0].n != 3 || t[0].s[1] != 'o' || t[0].s[2] != 'p')
        return false;
    size_t k = 0;
    while (k < sizeof(cmds) / sizeof(cmds[0]) &&
           !(token_is(&t[0], cmds[k].word) && token_is(&t[1], cmds[k].sub)))
        k++;
    if (k == sizeof(cmds) / sizeof(cmds[0]))
        return false;               /* unknown: ERROR */
    r->cmd = CMD_COLL;
    c->cc = cmds[k].cc;
    c->op.code = cmds[k].code;
    c->op.type = cmds[k].type;
    if (c->cc == CC_BOP_MGET || c->cc == CC_BOP_SMGET) {
        if (!parse_bop_multi(r)) {
            fail(r, E_FORMAT);
            r->vlen = c->dlen;
        }
        return true;
    }
    if (n < 3 || !text_key_valid(t[2].s, t[2].n)) {
        fail(r, E_FORMAT);
        return true;
    }
    c->op.key = r->key = t[2].s;
    c->op.nkey = r->nkey = t[2].n;
    if (c->op.type == COLL_BTREE) {
        if (!parse_bop(r)) {
            fail(r, E_FORMAT);
            r->vlen = c->dlen;
        } else if (r->error != NULL) {
            r->vlen = c->dlen;
        }
        return true;
    }
    bool ok = false, large = false;
    uint64_t v;
    switch (c->op.code) {
    case COP_CREATE: {
        int a = parse_attrs(&t[3], n - 3, &c->op.attrs, false);
        ok = a >= 0 && parse_tail(r, 3 + a, false, T_NOREPLY);
        break;
    }
    case COP_LIST_INSERT:
        ok = n >= 5 && text_i32(&t[3], &c->op.from) && parse_len(&t[4], r, &large) &&
             parse_tail(r, 5, true, T_NOREPLY | T_PIPE);
        break;
    case COP_LIST_DELETE:
        ok = n >= 4 && parse_range(&t[3], &c->op.from, &c->op.to) &&
             parse_tail(r, 4, false, T_NOREPLY | T_PIPE | T_DROP);
        break;
    case COP_LIST_GET:
        ok = n >= 4 && parse_range(&t[3], &c->op.from, &c->op.to) &&
             parse_tail(r, 4, false, T_DROP | T_DELETE);
        break;
    case COP_SET_INSERT:
        ok = n >= 4 && parse_len(&t[3], r, &large) &&
             parse_tail(r, 4, true, T_NOREPLY | T_PIPE);
        break;
    case COP_SET_DELETE:
        ok = n >= 4 && parse_len(&t[3], r, &large) &&
             parse_tail(r, 4, false, T_NOREPLY | T_PIPE | T_DROP);
        break;
    case COP_SET_EXIST:
        ok = n >= 4 && parse_len(&t[3], r, &large) && parse_tail(r, 4, false, T_PIPE);
        break;
    case COP_SET_GET:
        ok = n >= 4 && text_u64(&t[3], &v) && parse_tail(r, 4, false, T_DROP | T_DELETE);
        if (ok && v > COLL_SOP_GET_MAX) {
            fail(r, "CLIENT_ERROR invalid: too many count");
            return true;
        }
        c->op.count = (uint32_t)v;
        break;
    case COP_MAP_INSERT: case COP_MAP_UPSERT: case COP_MAP_UPDATE:
        ok = n >= 5 && t[3].n <= COLL_FIELD_MAX && parse_len(&t[4], r, &large) &&
             parse_tail(r, 5, c->op.code != COP_MAP_UPDATE, T_NOREPLY | T_PIPE);
        c->op.field = t[3].s;
        c->op.nfield = (uint8_t)(t[3].n <= COLL_FIELD_MAX ? t[3].n : 0);
        break;
    case COP_MAP_DELETE: case COP_MAP_GET: {
        uint64_t len, num;
        ok = n >= 5 && text_u64(&t[3], &len) && text_u64(&t[4], &num) &&
             len <= FIELDS_MAX && num <= COLL_MAXCOUNT_MAX && (len == 0) == (num == 0) &&
             parse_tail(r, 5, false, c->op.code == COP_MAP_GET ? T_DROP | T_DELETE :
                                                                 T_NOREPLY | T_PIPE | T_DROP);
        if (ok && len > 0) {
            c->dlen = (int64_t)len;
            c->fields_block = true;
            c->numfields = (uint32_t)num;
        }
        break;
    }
    default:
        break;
    }
    if (!ok) {
        fail(r, E_FORMAT);
        /* a data block whose length was read is skipped, not run */
        r->vlen = c->dlen;
        return true;
    }
    if (large) {
        fail(r, E_LARGE);
        r->vlen = c->dlen;
    }
    return true;
}

/* ---- replies: the one table of ARCUS status strings ---- */

const char *
coll_reply(enum req_cmd_coll cc, enum coll_status st)
{
    bool get = cc == CC_LOP_GET || cc == CC_SOP_GET || cc == CC_MOP_GET || cc == CC_BOP_GET ||
               cc == CC_BOP_INCR || cc == CC_BOP_DECR || cc == CC_BOP_MGET ||
               cc == CC_BOP_SMGET || cc == CC_BOP_GBP || cc == CC_BOP_PWG;
    switch (st) {
    case COLL_OK:
        switch (cc) {
        case CC_LOP_CREATE: case CC_SOP_CREATE: case CC_MOP_CREATE: case CC_BOP_CREATE:
            return "CREATED";
        case CC_LOP_DELETE: case CC_SOP_DELETE: case CC_MOP_DELETE: case CC_BOP_DELETE:
            return "DELETED";
        case CC_MOP_UPDATE: case CC_BOP_UPDATE:
            return "UPDATED";
        case CC_SETATTR:
            return "OK";
        case CC_LOP_GET: case CC_SOP_GET: case CC_MOP_GET: case CC_GETATTR:
            return "END";
        default:
            return "STORED";
        }
    case COLL_CREATED:
        return cc == CC_LOP_CREATE || cc == CC_SOP_CREATE || cc == CC_MOP_CREATE ||
               cc == CC_BOP_CREATE ?
               "CREATED" : "CREATED_STORED";
    case COLL_REPLACED:       return "REPLACED";
    case COLL_DROPPED:        return "DELETED_DROPPED";
    case COLL_NOT_FOUND:      return "NOT_FOUND";
    case COLL_ETYPE:          return "TYPE_MISMATCH";
    case COLL_EXISTS:         return "EXISTS";
    case COLL_ELEM_EXISTS:    return "ELEMENT_EXISTS";
    case COLL_NO_ELEM:        return "NOT_FOUND_ELEMENT";
    case COLL_OVERFLOWED:     return "OVERFLOWED";
    case COLL_OUT_OF_RANGE:   return "OUT_OF_RANGE";
    case COLL_UNREADABLE:     return "UNREADABLE";
    case COLL_ATTR_NOT_FOUND: return "ATTR_ERROR not found";
    case COLL_ATTR_BAD_VALUE: return "ATTR_ERROR bad value";
    case COLL_EXIST:          return "EXIST";
    case COLL_NOT_EXIST:      return "NOT_EXIST";
    case COLL_BKEY_MISMATCH:  return "BKEY_MISMATCH";
    case COLL_EFLAG_MISMATCH: return "EFLAG_MISMATCH";
    case COLL_NOTHING_TO_UPDATE: return "NOTHING_TO_UPDATE";
    case COLL_ENONNUMERIC:
        return "CLIENT_ERROR cannot increment or decrement non-numeric value";
    case COLL_ENOMEM:
        return get ? "SERVER_ERROR out of memory [writing get response]" :
                     "SERVER_ERROR out of memory";
    }
    return "SERVER_ERROR unknown";
}

/* The end line of a get that found elements: END, DELETED or
 * DELETED_DROPPED (bop get: TRIMMED when trimmed). */
const char *
coll_get_end(const struct coll_op *op, enum coll_status st, bool trimmed)
{
    return st == COLL_DROPPED ? "DELETED_DROPPED" : op->del ? "DELETED" :
           trimmed ? "TRIMMED" : "END";
}

/* A bkey as ARCUS prints it: decimal, or "0x" and upper-case hex; the
 * length written (at most 2 + 2 * COLL_BKEY_MAX + 1 with the NUL). */
size_t
coll_bkey_str(const struct coll_bkey *k, char *out)
{
    static const char hex[] = "0123456789ABCDEF";
    if (!k->bin) {
        uint64_t v = 0;
        for (unsigned i = 0; i < k->len; i++)
            v = v << 8 | k->b[i];
        return proto_u64_dec(v, out);
    }
    out[0] = '0';
    out[1] = 'x';
    for (unsigned i = 0; i < k->len; i++) {
        out[2 + 2 * i] = hex[k->b[i] >> 4];
        out[3 + 2 * i] = hex[k->b[i] & 15];
    }
    return 2 + 2 * (size_t)k->len;
}

/* "type" attribute values. */
const char *
coll_type_name(enum coll_type t)
{
    static const char *const names[] = { "kv", "list", "set", "map", "b+tree" };
    return names[t];
}
