/*
 * coll_exec.c -- runs ARCUS collection requests (r->coll, parsed by
 * proto/coll.c) through item.h's coll_exec() and composes the replies,
 * with the strings of coll.c's table.
 *
 * A command with a data block (an element value, a mop field list) keeps
 * its request in pc->creq (key and field copied) while the block is read
 * into pc->cbuf, then runs from coll_value_done().
 *
 * Pipelining (ARCUS ch09): a pipelinable command with "pipe" does not
 * reply; its status line is held in pc->pipe_buf.  The next one without
 * "pipe" ends the pipe: "RESPONSE <n>\r\n", the n status lines, "END".  A
 * CLIENT_ERROR or SERVER_ERROR status ends it at once with "PIPE_ERROR
 * bad error" (the rest of the pipe is then skipped, up to the command
 * without "pipe"); more than COLL_PIPE_MAX commands end it with
 * "PIPE_ERROR command overflow" the same way.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "exec.h"
#include "proto.h"

static void
count_cmd(struct thread_stats *ts, enum req_cmd_coll cc)
{
    switch (cc) {
    case CC_LOP_CREATE: STAT_INC(ts, cmd_lop_create); break;
    case CC_LOP_INSERT: STAT_INC(ts, cmd_lop_insert); break;
    case CC_LOP_DELETE: STAT_INC(ts, cmd_lop_delete); break;
    case CC_LOP_GET:    STAT_INC(ts, cmd_lop_get); break;
    case CC_SOP_CREATE: STAT_INC(ts, cmd_sop_create); break;
    case CC_SOP_INSERT: STAT_INC(ts, cmd_sop_insert); break;
    case CC_SOP_DELETE: STAT_INC(ts, cmd_sop_delete); break;
    case CC_SOP_EXIST:  STAT_INC(ts, cmd_sop_exist); break;
    case CC_SOP_GET:    STAT_INC(ts, cmd_sop_get); break;
    case CC_MOP_CREATE: STAT_INC(ts, cmd_mop_create); break;
    case CC_MOP_INSERT: STAT_INC(ts, cmd_mop_insert); break;
    case CC_MOP_UPSERT: STAT_INC(ts, cmd_mop_upsert); break;
    case CC_MOP_UPDATE: STAT_INC(ts, cmd_mop_update); break;
    case CC_MOP_DELETE: STAT_INC(ts, cmd_mop_delete); break;
    case CC_MOP_GET:    STAT_INC(ts, cmd_mop_get); break;
    case CC_GETATTR:    STAT_INC(ts, cmd_getattr); break;
    case CC_SETATTR:    STAT_INC(ts, cmd_setattr); break;
    case CC_BOP_CREATE: STAT_INC(ts, cmd_bop_create); break;
    case CC_BOP_INSERT: STAT_INC(ts, cmd_bop_insert); break;
    case CC_BOP_UPSERT: STAT_INC(ts, cmd_bop_upsert); break;
    case CC_BOP_UPDATE: STAT_INC(ts, cmd_bop_update); break;
    case CC_BOP_DELETE: STAT_INC(ts, cmd_bop_delete); break;
    case CC_BOP_GET:    STAT_INC(ts, cmd_bop_get); break;
    case CC_BOP_COUNT:  STAT_INC(ts, cmd_bop_count); break;
    case CC_BOP_INCR:   STAT_INC(ts, cmd_bop_incr); break;
    case CC_BOP_DECR:   STAT_INC(ts, cmd_bop_decr); break;
    case CC_BOP_MGET:   STAT_INC(ts, cmd_bop_mget); break;
    case CC_BOP_SMGET:  STAT_INC(ts, cmd_bop_smget); break;
    case CC_BOP_POSITION: STAT_INC(ts, cmd_bop_position); break;
    case CC_BOP_GBP:    STAT_INC(ts, cmd_bop_gbp); break;
    case CC_BOP_PWG:    STAT_INC(ts, cmd_bop_pwg); break;
    case CC_NCMDS:      break;
    }
}

/* ---- pipelining ---- */

static void
pipe_hold(struct proto_conn *pc, const char *s)
{
    size_t n = strlen(s);
    if (pc->pipe_len + n + 2 > pc->pipe_cap) {
        size_t cap = pc->pipe_cap ? pc->pipe_cap * 2 : 1024;
        while (cap < pc->pipe_len + n + 2)
            cap *= 2;
        char *b = realloc(pc->pipe_buf, cap);
        if (b == NULL)
            return;                 /* (the count still tells) */
        pc->pipe_buf = b;
        pc->pipe_cap = cap;
    }
    memcpy(pc->pipe_buf + pc->pipe_len, s, n);
    memcpy(pc->pipe_buf + pc->pipe_len + n, "\r\n", 2);
    pc->pipe_len += n + 2;
    pc->pipe_n++;
}

/* Send the held statuses and the end line; the pipe is over. */
static void
pipe_flush(struct proto_conn *pc, const char *end)
{
    obuf_printf(pc->out, "RESPONSE %u\r\n", pc->pipe_n);
    obuf_add(pc->out, pc->pipe_buf, pc->pipe_len);
    proto_reply(pc, false, end);
    pc->pipe_n = 0;
    pc->pipe_len = 0;
    if (pc->pipe_cap > 65536) {
        free(pc->pipe_buf);
        pc->pipe_buf = NULL;
        pc->pipe_cap = 0;
    }
}

static bool
is_error(const char *s)
{
    return strncmp(s, "CLIENT_ERROR", 12) == 0 || strncmp(s, "SERVER_ERROR", 12) == 0;
}

/* A command's one status line: replied, or held in the pipe. */
static void
status(struct proto_conn *pc, bool noreply, bool pipe, const char *s)
{
    if (!pipe && pc->pipe_n == 0) {
        proto_reply(pc, noreply, s);
        return;
    }
    pipe_hold(pc, s);
    if (is_error(s)) {
        pipe_flush(pc, "PIPE_ERROR bad error");
        pc->pipe_drop = pipe;       /* skip the rest of this pipe */
    } else if (!pipe) {
        pipe_flush(pc, "END");
    } else if (pc->pipe_n == COLL_PIPE_MAX) {
        pipe_flush(pc, "PIPE_ERROR command overflow");
        pc->pipe_drop = true;
    }
}

/* A non-pipelined command ends a pipe left open (ours: its statuses are
 * sent before the command's reply). */
void
coll_pipe_end(struct proto_conn *pc)
{
    if (pc->pipe_n > 0)
        pipe_flush(pc, "END");
    pc->pipe_drop = false;
}

/* ---- running ---- */

struct emit_ctx {
    struct proto_conn *pc;
    bool               map;
    bool               pwg;         /* VALUE <position> <flags> <count> <index> */
    const char        *mkey;        /* bop mget: VALUE <key> <status> ...,
                                     * ELEMENT lines */
    size_t             nmkey;
    const struct coll_info *info;   /* filled in before begin() */
};

static void
emit_begin(void *arg, uint32_t flags, uint32_t count)
{
    struct emit_ctx *e = arg;
    char b[64];
    size_t n = 0;
    if (e->mkey != NULL) {
        obuf_add(e->pc->out, "VALUE ", 6);
        obuf_add(e->pc->out, e->mkey, e->nmkey);
        obuf_printf(e->pc->out, " %s %u %u\r\n", e->info->trimmed ? "TRIMMED" : "OK",
                    flags, count);
        return;
    }
    if (e->pwg) {
        obuf_printf(e->pc->out, "VALUE %u %u %u %u\r\n", e->info->position, flags, count,
                    e->info->index);
        return;
    }
    memcpy(b, "VALUE ", 6);
    n = 6 + proto_u64_dec(flags, b + 6);
    b[n++] = ' ';
    n += proto_u64_dec(count, b + n);
    b[n++] = '\r';
    b[n++] = '\n';
    obuf_add(e->pc->out, b, n);
}

/* An element line: the prefix b[0..n) (room for 24 more bytes), then
 * "<bytes> <data>\r\n". */
static void
put_elem(struct obuf *o, char *b, size_t n, const void *data, size_t ndata)
{
    n += proto_u64_dec(ndata, b + n);
    b[n++] = ' ';
    obuf_add(o, b, n);
    obuf_add(o, data, ndata);
    obuf_add(o, "\r\n", 2);
}

/* "[ELEMENT ]<bkey> [<eflag> ]<bytes> <data>" */
static void
emit_belem(void *arg, const struct coll_bkey *bkey, const struct coll_bkey *eflag,
           const void *data, size_t ndata)
{
    struct emit_ctx *e = arg;
    char b[2 * (2 * COLL_BKEY_MAX + 3) + 40];
    size_t n = 0;
    if (e->mkey != NULL) {
        memcpy(b, "ELEMENT ", 8);
        n = 8;
    }
    n += coll_bkey_str(bkey, b + n);
    b[n++] = ' ';
    if (eflag->len > 0) {
        n += coll_bkey_str(eflag, b + n);
        b[n++] = ' ';
    }
    put_elem(e->pc->out, b, n, data, ndata);
}

static void
emit_elem(void *arg, const char *field, size_t nfield, const void *data, size_t ndata)
{
    struct emit_ctx *e = arg;
    char b[COLL_FIELD_MAX + 32];
    size_t n = 0;
    if (field != NULL) {
        memcpy(b, field, nfield);
        n = nfield;
        b[n++] = ' ';
    }
    put_elem(e->pc->out, b, n, data, ndata);
}

static void
getattr_reply(struct proto_conn *pc, const struct coll_req *c, const struct coll_info *in)
{
    uint8_t all[CATTR_NAMES];
    const uint8_t *names = c->names;
    unsigned n = c->nnames;
    unsigned has = in->type == COLL_KV ? CATTR_TYPE + 1 :
                   in->type == COLL_BTREE ? CATTR_NAMES : CATTR_COLL_NAMES;
    if (n == 0) {
        n = has;
        for (unsigned i = 0; i < n; i++)
            all[i] = (uint8_t)i;
        names = all;
    }
    /* a name the type has not: the whole reply is the error */
    for (unsigned i = 0; i < n; i++)
        if (names[i] >= has) {
            proto_reply(pc, false, "ATTR_ERROR not found");
            return;
        }
    for (unsigned i = 0; i < n; i++) {
        enum coll_attr_name a = names[i];
        obuf_printf(pc->out, "ATTR %s=", coll_attr_name(a));
        switch (a) {
        case CATTR_FLAGS:
            obuf_printf(pc->out, "%u\r\n", in->flags);
            break;
        case CATTR_EXPIRETIME: {
            rel_time_t now = clock_now();
            long left = in->sticky ? -1 : in->exptime == 0 ? 0 :
                        in->exptime > now ? (long)(in->exptime - now) : 0;
            obuf_printf(pc->out, "%ld\r\n", left);
            break;
        }
        case CATTR_TYPE:
            obuf_printf(pc->out, "%s\r\n", coll_type_name(in->type));
            break;
        case CATTR_COUNT:
            obuf_printf(pc->out, "%u\r\n", in->count);
            break;
        case CATTR_MAXCOUNT:
            obuf_printf(pc->out, "%u\r\n", in->maxcount);
            break;
        case CATTR_OVERFLOWACTION:
            obuf_printf(pc->out, "%s\r\n", coll_ovfl_name(in->ovfl));
            break;
        case CATTR_READABLE:
            obuf_printf(pc->out, "%s\r\n", in->readable ? "on" : "off");
            break;
        case CATTR_MAXBKEYRANGE: case CATTR_MINBKEY: case CATTR_MAXBKEY: {
            const struct coll_bkey *k = a == CATTR_MAXBKEYRANGE ? &in->maxbkeyrange :
                                        a == CATTR_MINBKEY ? &in->minbkey : &in->maxbkey;
            char b[2 * COLL_BKEY_MAX + 24];
            /* none: maxbkeyrange 0 (unlimited); minbkey, maxbkey of an
             * empty b+tree -1 (ours) */
            size_t len = k->len > 0 ? coll_bkey_str(k, b) :
                         a == CATTR_MAXBKEYRANGE ? (b[0] = '0', 1) : (memcpy(b, "-1", 2), 2);
            b[len++] = '\r';
            b[len++] = '\n';
            obuf_add(pc->out, b, len);
            break;
        }
        case CATTR_TRIMMED:
            obuf_printf(pc->out, "%d\r\n", in->trimmed ? 1 : 0);
            break;
        case CATTR_NAMES:
            break;
        }
    }
    proto_reply(pc, false, "END");
}

static void
run(struct proto_conn *pc, struct coll_req *c, bool noreply)
{
    struct coll_info info;
    memset(&info, 0, sizeof(info));
    struct emit_ctx ec = { .pc = pc, .map = c->op.type == COLL_MAP,
                           .pwg = c->cc == CC_BOP_PWG, .info = &info };
    struct coll_out out = { emit_begin, emit_elem, &ec, emit_belem };
    bool get = c->cc == CC_LOP_GET || c->cc == CC_SOP_GET || c->cc == CC_MOP_GET ||
               c->cc == CC_BOP_GET || c->cc == CC_BOP_GBP || c->cc == CC_BOP_PWG;
    bool bop = c->op.type == COLL_BTREE;
    c->op.reply_max = COLL_REPLY_MAX;
    enum coll_status st = coll_exec(&c->op, get || bop ? &out : NULL, &info);
    if (c->cc == CC_GETATTR && st == COLL_OK) {
        getattr_reply(pc, c, &info);
        return;
    }
    if (get && (st == COLL_OK || st == COLL_DROPPED)) {
        proto_reply(pc, false, coll_get_end(&c->op, st, info.trimmed));
        return;
    }
    if (st == COLL_OK && (c->cc == CC_BOP_INSERT || c->cc == CC_BOP_UPSERT) && info.trimmed) {
        proto_reply(pc, false, "TRIMMED");         /* getrim: after the element */
        return;
    }
    char num[32];
    if (st == COLL_OK && (c->cc == CC_BOP_COUNT || c->cc == CC_BOP_POSITION)) {
        snprintf(num, sizeof(num), "%s=%llu", c->cc == CC_BOP_COUNT ? "COUNT" : "POSITION",
                 (unsigned long long)info.number);
        proto_reply(pc, false, num);
        return;
    }
    if (st == COLL_OK && (c->cc == CC_BOP_INCR || c->cc == CC_BOP_DECR)) {
        snprintf(num, sizeof(num), "%llu", (unsigned long long)info.number);
        status(pc, noreply, c->pipe, num);
        return;
    }
    status(pc, noreply, c->pipe, coll_reply(c->cc, st));
}

/* Is a held pipe still open for this command?  (Not for a command that
 * may not be pipelined.) */
static bool
pipelinable(enum req_cmd_coll cc)
{
    switch (cc) {
    case CC_LOP_INSERT: case CC_LOP_DELETE: case CC_SOP_INSERT: case CC_SOP_DELETE:
    case CC_SOP_EXIST: case CC_MOP_INSERT: case CC_MOP_UPSERT: case CC_MOP_UPDATE:
    case CC_MOP_DELETE: case CC_BOP_INSERT: case CC_BOP_UPSERT: case CC_BOP_UPDATE:
    case CC_BOP_DELETE: case CC_BOP_INCR: case CC_BOP_DECR:
        return true;
    default:
        return false;
    }
}

enum proto_action
coll_line(struct proto_conn *pc, struct request *r)
{
    struct coll_req *c = &r->coll;
    int64_t block = r->error != NULL ? r->vlen : c->dlen;
    count_cmd(pc->stats, c->cc);
    if (pc->pipe_drop) {
        /* the rest of a failed pipe: not run, no reply */
        if (!c->pipe)
            pc->pipe_drop = false;
        if (block >= 0) {
            pc->swallow = (uint64_t)block + 2;
            return PROTO_SWALLOW;
        }
        return PROTO_NEXT;
    }
    if (!pipelinable(c->cc))
        coll_pipe_end(pc);
    if (r->error != NULL) {
        status(pc, r->noreply, c->pipe, r->error);
        if (block >= 0) {
            pc->swallow = (uint64_t)block + 2;
            return PROTO_SWALLOW;
        }
        return PROTO_NEXT;
    }
    if (block < 0) {
        run(pc, c, r->noreply);
        return PROTO_NEXT;
    }
    /* keep the request while its block is read */
    if (pc->creq == NULL)
        pc->creq = malloc(sizeof(*pc->creq));
    size_t need = block > 0 ? (size_t)block : 1;
    if (pc->creq != NULL && pc->cbuf_cap < need) {
        free(pc->cbuf);
        pc->cbuf = malloc(need);
        pc->cbuf_cap = pc->cbuf != NULL ? need : 0;
    }
    if (pc->creq == NULL || pc->cbuf == NULL) {
        STAT_INC(pc->stats, out_of_memory);
        status(pc, r->noreply, c->pipe, "SERVER_ERROR out of memory");
        pc->swallow = (uint64_t)block + 2;
        return PROTO_SWALLOW;
    }
    *pc->creq = *c;
    if (c->op.nkey > 0)             /* (bop mget/smget: keys in the block) */
        memcpy(pc->ckey, c->op.key, c->op.nkey);
    pc->creq->op.key = pc->ckey;
    if (c->op.nfield > 0) {
        memcpy(pc->cfield, c->op.field, c->op.nfield);
        pc->creq->op.field = pc->cfield;
    }
    pc->snoreply = r->noreply;
    pc->viov[0].iov_base = pc->cbuf;
    pc->viov[0].iov_len = (size_t)block;
    pc->nviov = 1;
    pc->vlen = (size_t)block;
    pc->scmd = CMD_COLL;
    return PROTO_READ_VALUE;
}

/* Fields in a mop field list. */
static uint32_t
count_fields(const char *s, size_t n)
{
    uint32_t k = 0;
    bool in = false;
    for (size_t i = 0; i < n; i++) {
        bool sep = s[i] == ' ' || s[i] == ',';
        if (!sep && !in)
            k++;
        in = !sep;
    }
    return k;
}

/* ---- bop mget, smget (ch08): one command over many b+trees ---- */

struct keyref {
    const char *s;
    size_t      n;
};

/* The keys of a mget/smget block (count_fields() of them, checked);
 * false if one is not a valid key. */
static bool
split_keys(const char *s, size_t n, struct keyref *k, uint32_t nk)
{
    uint32_t i = 0;
    size_t p = 0;
    while (p < n && i < nk) {
        while (p < n && (s[p] == ' ' || s[p] == ','))
            p++;
        size_t b = p;
        while (p < n && s[p] != ' ' && s[p] != ',')
            p++;
        k[i].s = s + b;
        k[i].n = p - b;
        if (!text_key_valid(k[i].s, k[i].n))
            return false;
        i++;
    }
    return i == nk;
}

static void
bop_mget(struct proto_conn *pc, struct coll_req *c)
{
    struct keyref *keys = malloc(c->numfields * sizeof(*keys));
    if (keys == NULL) {
        proto_reply(pc, false, "SERVER_ERROR out of memory [writing get response]");
        return;
    }
    if (!split_keys(pc->cbuf, pc->vlen, keys, c->numfields)) {
        free(keys);
        proto_reply(pc, false, "CLIENT_ERROR bad data chunk");
        return;
    }
    for (uint32_t i = 0; i < c->numfields; i++) {
        struct coll_info info;
        memset(&info, 0, sizeof(info));
        struct emit_ctx ec = { .pc = pc, .mkey = keys[i].s, .nmkey = keys[i].n, .info = &info };
        struct coll_out out = { emit_begin, emit_elem, &ec, emit_belem };
        struct coll_op op = c->op;
        op.key = keys[i].s;
        op.nkey = keys[i].n;
        op.reply_max = COLL_REPLY_MAX / c->numfields;     /* the whole reply */
        enum coll_status st = coll_exec(&op, &out, &info);
        if (st != COLL_OK) {
            obuf_add(pc->out, "VALUE ", 6);
            obuf_add(pc->out, keys[i].s, keys[i].n);
            obuf_printf(pc->out, " %s\r\n", coll_reply(CC_BOP_GET, st));
        }
    }
    free(keys);
    proto_reply(pc, false, "END");
}

struct sm_el {
    uint32_t         key;           /* index into the key list */
    uint32_t         flags;
    struct coll_bkey bkey, eflag;
    char            *data;
    uint32_t         n;
};

struct sm_ctx {
    struct sm_el    *v;
    size_t           n, cap;
    uint32_t         key, flags;
    bool             oom;
    const struct keyref *keys;
    bool             desc;
};

static void
sm_begin(void *arg, uint32_t flags, uint32_t count)
{
    struct sm_ctx *s = arg;
    s->flags = flags;
    (void)count;
}

static void
sm_elem(void *arg, const char *f, size_t nf, const void *d, size_t n)
{
    (void)arg; (void)f; (void)nf; (void)d; (void)n;
}

static void
sm_belem(void *arg, const struct coll_bkey *bkey, const struct coll_bkey *eflag,
         const void *data, size_t n)
{
    struct sm_ctx *s = arg;
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 64;
        struct sm_el *v = realloc(s->v, cap * sizeof(*v));
        if (v == NULL) {
            s->oom = true;
            return;
        }
        s->v = v;
        s->cap = cap;
    }
    char *copy = malloc(n > 0 ? n : 1);
    if (copy == NULL) {
        s->oom = true;
        return;
    }
    memcpy(copy, data, n);
    s->v[s->n++] = (struct sm_el){ .key = s->key, .flags = s->flags, .bkey = *bkey,
                                   .eflag = *eflag, .data = copy, .n = (uint32_t)n };
}

static int
bk_order(const struct coll_bkey *a, const struct coll_bkey *b)
{
    int c = memcmp(a->b, b->b, a->len < b->len ? a->len : b->len);
    return c != 0 ? c : (a->len > b->len) - (a->len < b->len);
}

static int
key_order(const struct keyref *a, const struct keyref *b)
{
    int c = memcmp(a->s, b->s, a->n < b->n ? a->n : b->n);
    return c != 0 ? c : (a->n > b->n) - (a->n < b->n);
}

static _Thread_local const struct sm_ctx *sm_sorting;

/* smget order: by bkey (the range's direction), then by key string. */
static int
sm_cmp(const void *pa, const void *pb)
{
    const struct sm_el *a = pa, *b = pb;
    int c = bk_order(&a->bkey, &b->bkey);
    if (c != 0)
        return sm_sorting->desc ? -c : c;
    return key_order(&sm_sorting->keys[a->key], &sm_sorting->keys[b->key]);
}

static int
keyref_cmp(const void *pa, const void *pb)
{
    return key_order(pa, pb);
}

/* Sort, drop repeated bkeys (unique), keep the first max. */
static void
sm_trim(struct sm_ctx *s, bool unique, uint32_t max)
{
    if (s->n == 0)
        return;
    sm_sorting = s;
    qsort(s->v, s->n, sizeof(*s->v), sm_cmp);
    size_t k = 0;
    for (size_t i = 0; i < s->n; i++) {
        if (k == max || (unique && k > 0 && bk_order(&s->v[k - 1].bkey, &s->v[i].bkey) == 0)) {
            free(s->v[i].data);
            continue;
        }
        s->v[k++] = s->v[i];
    }
    s->n = k;
}

struct sm_missed {
    uint32_t    key;
    const char *cause;
};

static void
bop_smget(struct proto_conn *pc, struct coll_req *c)
{
    uint32_t nk = c->numfields;
    struct keyref *keys = malloc(nk * sizeof(*keys));
    struct keyref *sorted = malloc(nk * sizeof(*sorted));
    struct sm_missed *missed = malloc(nk * sizeof(*missed));
    struct sm_el *trimmed = malloc(nk * sizeof(*trimmed));
    struct sm_ctx s = { .keys = keys };
    uint32_t nmissed = 0, ntrimmed = 0;
    const char *fail = NULL;
    if (keys == NULL || sorted == NULL || missed == NULL || trimmed == NULL) {
        fail = "SERVER_ERROR out of memory [writing get response]";
        goto out;
    }
    if (!split_keys(pc->cbuf, pc->vlen, keys, nk)) {
        fail = "CLIENT_ERROR bad data chunk";
        goto out;
    }
    memcpy(sorted, keys, nk * sizeof(*keys));
    qsort(sorted, nk, sizeof(*sorted), keyref_cmp);
    for (uint32_t i = 1; i < nk && fail == NULL; i++)
        if (key_order(&sorted[i - 1], &sorted[i]) == 0)
            fail = "CLIENT_ERROR bad data chunk";   /* a key named twice */
    s.desc = bk_order(&c->op.bkey, &c->op.bkey_to) > 0;
    for (uint32_t i = 0; i < nk && fail == NULL; i++) {
        struct coll_info info;
        memset(&info, 0, sizeof(info));
        struct coll_out out = { sm_begin, sm_elem, &s, sm_belem };
        struct coll_op op = c->op;
        op.key = keys[i].s;
        op.nkey = keys[i].n;
        op.reply_max = COLL_REPLY_MAX;  /* (count <= 2000 elements in all) */
        s.key = i;
        enum coll_status st = coll_exec(&op, &out, &info);
        switch (st) {
        case COLL_OK:
            if (info.trimmed)
                trimmed[ntrimmed++] = (struct sm_el){ .key = i, .bkey = info.edge };
            break;
        case COLL_NO_ELEM:
            break;
        case COLL_NOT_FOUND: case COLL_UNREADABLE: case COLL_OUT_OF_RANGE:
            missed[nmissed++] = (struct sm_missed){ i, coll_reply(CC_BOP_GET, st) };
            break;
        default:                    /* TYPE_MISMATCH, BKEY_MISMATCH, no memory */
            fail = coll_reply(CC_BOP_SMGET, st);
            break;
        }
        if (s.oom)
            fail = "SERVER_ERROR out of memory [writing get response]";
        else if (s.n >= 2 * (size_t)c->op.count)
            sm_trim(&s, c->unique, c->op.count);
    }
    if (fail != NULL)
        goto out;
    sm_trim(&s, c->unique, c->op.count);
    bool dup = false;
    obuf_printf(pc->out, "ELEMENTS %zu\r\n", s.n);
    for (size_t i = 0; i < s.n; i++) {
        const struct sm_el *e = &s.v[i];
        char b[2 * (2 * COLL_BKEY_MAX + 3) + 40];
        size_t n = 0;
        dup = dup || (i > 0 && bk_order(&s.v[i - 1].bkey, &e->bkey) == 0);
        obuf_add(pc->out, keys[e->key].s, keys[e->key].n);
        b[n++] = ' ';
        n += proto_u64_dec(e->flags, b + n);
        b[n++] = ' ';
        n += coll_bkey_str(&e->bkey, b + n);
        b[n++] = ' ';
        if (e->eflag.len > 0) {
            n += coll_bkey_str(&e->eflag, b + n);
            b[n++] = ' ';
        }
        put_elem(pc->out, b, n, e->data, e->n);
    }
    obuf_printf(pc->out, "MISSED_KEYS %u\r\n", nmissed);
    for (uint32_t i = 0; i < nmissed; i++) {
        obuf_add(pc->out, keys[missed[i].key].s, keys[missed[i].key].n);
        obuf_printf(pc->out, " %s\r\n", missed[i].cause);
    }
    sm_sorting = &s;
    if (ntrimmed > 0)
        qsort(trimmed, ntrimmed, sizeof(*trimmed), sm_cmp);
    obuf_printf(pc->out, "TRIMMED_KEYS %u\r\n", ntrimmed);
    for (uint32_t i = 0; i < ntrimmed; i++) {
        char b[2 * COLL_BKEY_MAX + 24];
        size_t n = coll_bkey_str(&trimmed[i].bkey, b);
        obuf_add(pc->out, keys[trimmed[i].key].s, keys[trimmed[i].key].n);
        obuf_add(pc->out, " ", 1);
        obuf_add(pc->out, b, n);
        obuf_add(pc->out, "\r\n", 2);
    }
    proto_reply(pc, false, dup ? "DUPLICATED" : "END");
out:
    if (fail != NULL)
        proto_reply(pc, false, fail);
    for (size_t i = 0; i < s.n; i++)
        free(s.v[i].data);
    free(s.v);
    free(keys);
    free(sorted);
    free(missed);
    free(trimmed);
}

void
coll_value_done(struct proto_conn *pc, bool term_ok)
{
    struct coll_req *c = pc->creq;
    pc->scmd = CMD_UNKNOWN;
    if (!term_ok) {
        status(pc, pc->snoreply, c->pipe, "CLIENT_ERROR bad data chunk");
        return;
    }
    if (c->fields_block) {
        c->op.fields = pc->cbuf;
        c->op.nfields_len = pc->vlen;
        if (count_fields(pc->cbuf, pc->vlen) != c->numfields) {
            status(pc, pc->snoreply, c->pipe, "CLIENT_ERROR bad data chunk");
            return;
        }
        if (c->cc == CC_BOP_MGET || c->cc == CC_BOP_SMGET) {
            if (c->cc == CC_BOP_MGET)
                bop_mget(pc, c);
            else
                bop_smget(pc, c);
            return;
        }
    } else {
        c->op.data = pc->cbuf;
        c->op.ndata = (uint32_t)pc->vlen;
    }
    run(pc, c, pc->snoreply);
    if (pc->cbuf_cap > 65536) {
        free(pc->cbuf);
        pc->cbuf = NULL;
        pc->cbuf_cap = 0;
    }
}

void
coll_conn_deinit(struct proto_conn *pc)
{
    free(pc->creq);
    free(pc->cbuf);
    free(pc->pipe_buf);
    pc->creq = NULL;
    pc->cbuf = NULL;
    pc->pipe_buf = NULL;
    pc->cbuf_cap = pc->pipe_cap = pc->pipe_len = 0;
}
