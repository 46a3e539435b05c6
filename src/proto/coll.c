/*
 * coll.c -- the ARCUS dialect: collection command lines (lop, sop, mop,
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
parse_attrs(const struct token *t, int n, struct coll_attrs *a)
{
    uint64_t flags, maxcount;
    int32_t exptime;
    if (n < 3 || !text_u64(&t[0], &flags) || flags > UINT32_MAX ||
        !text_i32(&t[1], &exptime) || !text_u64(&t[2], &maxcount))
        return -1;
    a->flags = (uint32_t)flags;
    set_exptime(a, exptime);
    a->maxcount = maxcount > COLL_MAXCOUNT_MAX ? COLL_MAXCOUNT_MAX : (uint32_t)maxcount;
    a->ovfl = COLL_OVFL_DEFAULT;
    a->readable = true;
    int i = 3;
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
enum { T_NOREPLY = 1, T_PIPE = 2, T_DROP = 4, T_DELETE = 8 };
static bool
parse_tail(struct request *r, int i, bool create_ok, unsigned allow)
{
    const struct token *t = r->tokens;
    int n = r->ntokens;
    unsigned seen = 0;
    if (create_ok && i < n && token_is(&t[i], "create")) {
        int k = parse_attrs(&t[i + 1], n - i - 1, &r->coll.op.attrs);
        if (k < 0)
            return false;
        r->coll.op.create = true;
        i += 1 + k;
    }
    for (; i < n; i++) {
        unsigned w = token_is(&t[i], "noreply") ? T_NOREPLY : token_is(&t[i], "pipe") ? T_PIPE :
                     token_is(&t[i], "drop") ? T_DROP : token_is(&t[i], "delete") ? T_DELETE : 0;
        if (w == 0 || !(allow & w) || (seen & w))
            return false;
        seen |= w;
    }
    /* noreply|pipe and delete|drop are alternatives, and come last */
    if ((seen & (T_NOREPLY | T_PIPE)) == (T_NOREPLY | T_PIPE) ||
        (seen & (T_DROP | T_DELETE)) == (T_DROP | T_DELETE))
        return false;
    r->noreply = (seen & T_NOREPLY) != 0;
    r->coll.pipe = (seen & T_PIPE) != 0;
    r->coll.op.drop = (seen & T_DROP) != 0;
    r->coll.op.del = (seen & (T_DELETE | T_DROP)) != 0 &&
                     (r->coll.op.code == COP_LIST_GET || r->coll.op.code == COP_SET_GET ||
                      r->coll.op.code == COP_MAP_GET);
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
        return false;               /* "bop ..." too: ERROR, as unknown */
    r->cmd = CMD_COLL;
    c->cc = cmds[k].cc;
    c->op.code = cmds[k].code;
    c->op.type = cmds[k].type;
    if (n < 3 || !text_key_valid(t[2].s, t[2].n)) {
        fail(r, E_FORMAT);
        return true;
    }
    c->op.key = r->key = t[2].s;
    c->op.nkey = r->nkey = t[2].n;
    bool ok = false, large = false;
    uint64_t v;
    switch (c->op.code) {
    case COP_CREATE: {
        int a = parse_attrs(&t[3], n - 3, &c->op.attrs);
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
    bool get = cc == CC_LOP_GET || cc == CC_SOP_GET || cc == CC_MOP_GET;
    switch (st) {
    case COLL_OK:
        switch (cc) {
        case CC_LOP_CREATE: case CC_SOP_CREATE: case CC_MOP_CREATE:
            return "CREATED";
        case CC_LOP_DELETE: case CC_SOP_DELETE: case CC_MOP_DELETE:
            return "DELETED";
        case CC_MOP_UPDATE:
            return "UPDATED";
        case CC_SETATTR:
            return "OK";
        case CC_LOP_GET: case CC_SOP_GET: case CC_MOP_GET: case CC_GETATTR:
            return "END";
        default:
            return "STORED";
        }
    case COLL_CREATED:
        return cc == CC_LOP_CREATE || cc == CC_SOP_CREATE || cc == CC_MOP_CREATE ?
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
    case COLL_ENOMEM:
        return get ? "SERVER_ERROR out of memory [writing get response]" :
                     "SERVER_ERROR out of memory";
    }
    return "SERVER_ERROR unknown";
}

/* The end line of a get that found elements: END, DELETED or
 * DELETED_DROPPED. */
const char *
coll_get_end(const struct coll_op *op, enum coll_status st)
{
    return st == COLL_DROPPED ? "DELETED_DROPPED" : op->del ? "DELETED" : "END";
}

/* "type" attribute values. */
const char *
coll_type_name(enum coll_type t)
{
    static const char *const names[] = { "kv", "list", "set", "map", "b+tree" };
    return names[t];
}
