/*
 * meta_exec.c -- run meta requests (mg ms md ma me) through item.h and
 * compose their replies: "<CD> <flags>*\r\n" [data "\r\n"].  Return flags
 * come in the order the request gave them; then Z, X, W (as memcached).
 * q hides EN for mg and HD for ms, md and ma (1.6.18 still sends NF).
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "clock.h"
#include "exec.h"
#include "watch.h"
#include "hotkeys.h"
#include "item.h"
#include "proto.h"

#define HAS(m, c) (((m)->seen & META_BIT(c)) != 0)

/* Append " <c><u64>" (a CAS). */
static void
meta_u64(struct obuf *o, char c, uint64_t v)
{
    char buf[24];
    buf[0] = ' ';
    buf[1] = c;
    obuf_add(o, buf, 2 + proto_u64_dec(v, buf + 2));
}

/* Append " <c><decimal>" (signed); c == 0: " <decimal>". */
static void
meta_num(struct obuf *o, char c, int64_t v)
{
    char buf[24];
    size_t n = 0;
    buf[n++] = ' ';
    if (c != 0)
        buf[n++] = c;
    if (v < 0) {
        buf[n++] = '-';
        n += proto_u64_dec((uint64_t)(-(v + 1)) + 1, buf + n);
    } else {
        n += proto_u64_dec((uint64_t)v, buf + n);
    }
    obuf_add(o, buf, n);
}

/* " k<key>"; base64 again when the request's key was, then " b" (as
 * memcached: the b comes right after the key, wherever b was asked). */
static void
meta_key(struct obuf *o, const char *k, size_t nk, bool b64)
{
    char buf[2 + 4 * ((ITEM_KEY_MAX + 2) / 3)];
    buf[0] = ' ';
    buf[1] = 'k';
    size_t n;
    if (b64) {
        n = meta_b64_encode(k, nk, buf + 2);
    } else {
        memcpy(buf + 2, k, nk);
        n = nk;
    }
    obuf_add(o, buf, n + 2);
    if (b64)
        obuf_add(o, " b", 2);
}

static int64_t
ttl_of(rel_time_t exptime)
{
    if (exptime == 0)
        return -1;
    rel_time_t now = clock_now();
    return exptime > now ? (int64_t)(exptime - now) : 0;
}

/* N and T act where they stand in the request (memcached applies them
 * while it writes the reply): an item N has just created starts with no
 * TTL, then N gives it N's and T gives it T's.  Its exptime where flag
 * `upto` stands (upto = norder: the one it is left with). */
static rel_time_t
created_exptime(const struct meta_req *m, int upto, rel_time_t vivify, rel_time_t touch)
{
    rel_time_t e = 0;
    for (int i = 0; i < upto; i++) {
        if (m->order[i] == 'N')
            e = vivify;
        else if (m->order[i] == 'T')
            e = touch;
    }
    return e;
}

/* What a reply's flags are made of. */
struct ret {
    const char *order;              /* request flags, in order */
    int         norder;
    const char *key;
    size_t      nkey;
    bool        b64;
    const char *opaque;
    size_t      nopaque;
    bool        with_cas;           /* c may be answered */
    uint64_t    cas;
    bool        with_ttl;           /* t may be answered */
    int64_t     ttl;
    bool        with_size;          /* s may be answered (ms, 1.6.45) */
    uint32_t    size;
};

/* The return flags ms, md and ma share (k O c t s), in request order. */
static void
ret_flags(struct obuf *o, const struct ret *r)
{
    for (int i = 0; i < r->norder; i++) {
        switch (r->order[i]) {
        case 'k':
            meta_key(o, r->key, r->nkey, r->b64);
            break;
        case 'O':
            obuf_add(o, " O", 2);
            obuf_add(o, r->opaque, r->nopaque);
            break;
        case 'c':
            if (r->with_cas)
                meta_u64(o, 'c', r->cas);
            break;
        case 't':
            if (r->with_ttl)
                meta_num(o, 't', r->ttl);
            break;
        case 's':
            if (r->with_size)
                meta_num(o, 's', r->size);
            break;
        }
    }
}

/* A reply's flags for request r: its flags in order, its key and O. */
static struct ret
req_ret(const struct request *r)
{
    const struct meta_req *m = &r->meta;
    struct ret rt = { .order = m->order, .norder = m->norder, .key = r->key,
                      .nkey = r->nkey, .b64 = HAS(m, 'b'),
                      .opaque = m->opaque.s, .nopaque = m->opaque.n };
    return rt;
}

/* "<code> <flags>*\r\n" */
static void
reply_line(struct obuf *o, const char *code, const struct ret *rt)
{
    obuf_add(o, code, 2);
    ret_flags(o, rt);
    obuf_add(o, "\r\n", 2);
}

void
meta_get(struct proto_conn *pc, const struct request *r)
{
    const struct meta_req *m = &r->meta;
    struct thread_stats *ts = pc->stats;
    struct item_mget g;
    memset(&g, 0, sizeof(g));
    g.no_bump = HAS(m, 'u');
    g.touch = HAS(m, 'T');
    if (g.touch)
        g.exptime = clock_exptime(m->ttl);
    g.vivify = HAS(m, 'N');
    rel_time_t vivify_exptime = 0;
    if (g.vivify) {                 /* (what an item it creates is left with) */
        vivify_exptime = clock_exptime(m->vivify_ttl);
        g.vivify_exptime = created_exptime(m, m->norder, vivify_exptime, g.exptime);
    }
    g.recache = HAS(m, 'R');
    if (g.recache)
        g.recache_secs = m->recache_ttl < 0 ? 0 : (uint32_t)m->recache_ttl;
    g.new_cas = HAS(m, 'E') ? m->new_cas : 0;
    g.no_win = m->late_error != NULL;   /* (meta_run_silently) */
    g.binary_key = HAS(m, 'b');
    struct item *it = item_mget(r->key, r->nkey, &g);
    hotkeys_lookup(r->key, r->nkey);
    /* As memcached 1.6.18 counts: a hit with T is a touch, anything else
     * (a miss with T too) a get; an item N just created counts as a hit. */
    if (g.touch && it != NULL) {
        STAT_INC(ts, cmd_touch);
        STAT_INC(ts, touch_hits);
    } else {
        STAT_INC(ts, cmd_get);
        if (it != NULL) {
            STAT_INC(ts, get_hits);
            STAT_CLS_INC(ts, item_class(it), get_hits);
        } else {
            STAT_INC(ts, get_misses);
        }
    }
    if (it == NULL) {
        /* a miss echoes k and O (so a pipelined client knows which) */
        if (r->noreply)
            return;
        struct ret rt = req_ret(r);
        reply_line(pc->out, "EN", &rt);
        return;
    }
    /* 1.6.45: with C<cas> and v, no value when the client's copy is current */
    bool value = HAS(m, 'v') && !(HAS(m, 'C') && item_cas(it) == m->cas);
    struct obuf *o = pc->out;
    if (value) {
        obuf_add(o, "VA", 2);
        meta_num(o, 0, item_nbytes(it));
    } else {
        obuf_add(o, "HD", 2);
    }
    rel_time_t now = clock_now();
    /* k returns the key as it was stored: base64 if it was given so */
    struct ret rt = { .key = r->key, .nkey = r->nkey, .b64 = item_key_binary(it),
                      .opaque = m->opaque.s, .nopaque = m->opaque.n };
    for (int i = 0; i < m->norder; i++) {
        switch (m->order[i]) {
        case 'c': meta_u64(o, 'c', item_cas(it)); break;
        case 'f': meta_num(o, 'f', item_flags(it)); break;
        case 'h': meta_num(o, 'h', g.fetched_before ? 1 : 0); break;
        case 'l': meta_num(o, 'l', now > g.atime_before ? now - g.atime_before : 0); break;
        case 's': meta_num(o, 's', item_nbytes(it)); break;
        case 't':
            /* T (and N, on the item it creates) take effect where they
             * stand: a t before them sees the TTL before */
            if (g.created)
                meta_num(o, 't', ttl_of(created_exptime(m, i, vivify_exptime, g.exptime)));
            else
                meta_num(o, 't', ttl_of(memchr(m->order, 'T', (size_t)i) != NULL ||
                                        !g.touch ? item_exptime(it) : g.exptime_before));
            break;
        case 'k': case 'O':
            rt.order = &m->order[i];
            rt.norder = 1;
            ret_flags(o, &rt);
            break;
        }
    }
    if (g.win_sent)
        obuf_add(o, " Z", 2);
    if (g.stale)
        obuf_add(o, " X", 2);
    if (g.won)
        obuf_add(o, " W", 2);
    obuf_add(o, "\r\n", 2);
    if (value)
        proto_emit_data(pc, it);
    else
        item_release(it);
}

static enum item_store_op
ms_mode(char mode)
{
    switch (mode) {
    case 'E': case 'e': return ITEM_ADD;
    case 'A': case 'a': return ITEM_APPEND;
    case 'P': case 'p': return ITEM_PREPEND;
    case 'R': case 'r': return ITEM_REPLACE;
    default:            return ITEM_SET;
    }
}

enum proto_action
meta_set(struct proto_conn *pc, struct request *r)
{
    const struct meta_req *m = &r->meta;
    r->flags = m->client_flags;
    r->exptime = HAS(m, 'T') ? m->ttl : 0;
    enum proto_action a = proto_store(pc, r);
    if (a != PROTO_READ_VALUE)
        return a;
    struct item_mset *s = &pc->mset;
    memset(s, 0, sizeof(*s));
    s->op = HAS(m, 'M') ? ms_mode(m->mode) : ITEM_SET;
    s->compare = HAS(m, 'C');
    s->cas_in = m->cas;
    s->invalidate = HAS(m, 'I');
    s->new_cas = HAS(m, 'E') ? m->new_cas : 0;
    s->vivify = HAS(m, 'N');
    if (s->vivify)
        s->vivify_exptime = clock_exptime(m->vivify_ttl);
    memcpy(pc->morder, m->order, sizeof(pc->morder));
    pc->mnorder = m->norder;
    if (HAS(m, 'b'))
        item_set_key_binary(pc->it);
    if (m->opaque.n > 0)
        memcpy(pc->mopaque, m->opaque.s, m->opaque.n);
    pc->mnopaque = (uint8_t)m->opaque.n;
    pc->mb64 = HAS(m, 'b');
    return a;
}

void
meta_store_done(struct proto_conn *pc, struct item *it)
{
    uint64_t cas = 0;
    enum item_status st = item_mstore(it, &pc->mset, &cas);
    if (watch_enabled_for(WATCH_MUTATIONS))
        proto_watch_store(it, &pc->mset, st);
    struct thread_stats *ts = pc->stats;
    bool concat = pc->mset.op == ITEM_APPEND || pc->mset.op == ITEM_PREPEND;
    if (concat && (st == ITEM_ENOMEM || st == ITEM_EOVERSIZED))
        st = ITEM_NOT_STORED;
    const char *code;
    switch (st) {
    case ITEM_OK:
        if (pc->mset.compare)
            STAT_INC(ts, cas_hits);
        code = "HD";
        break;
    case ITEM_EXISTS:
        STAT_INC(ts, cas_badval);
        code = "EX";
        break;
    case ITEM_NOT_FOUND:
        STAT_INC(ts, cas_misses);
        code = "NF";
        break;
    case ITEM_ENOMEM:
        STAT_INC(ts, store_no_memory);
        proto_reply(pc, false, "SERVER_ERROR out of memory storing object");
        return;
    default:
        code = "NS";
        break;
    }
    if (st == ITEM_OK && pc->snoreply)
        return;
    struct ret rt = { .order = pc->morder, .norder = pc->mnorder,
                      .key = item_key(it), .nkey = item_nkey(it), .b64 = pc->mb64,
                      .opaque = pc->mopaque, .nopaque = pc->mnopaque,
                      .with_cas = true, .cas = st == ITEM_OK ? cas : 0,
                      .with_size = true, .size = pc->mset.nbytes_out };
    reply_line(pc->out, code, &rt);
}

void
meta_delete(struct proto_conn *pc, const struct request *r)
{
    const struct meta_req *m = &r->meta;
    struct item_mdel d;
    memset(&d, 0, sizeof(d));
    d.compare = HAS(m, 'C');
    d.cas_in = m->cas;
    d.invalidate = HAS(m, 'I');
    d.touch = HAS(m, 'T');
    if (d.touch)
        d.exptime = clock_exptime(m->ttl);
    d.new_cas = HAS(m, 'E') ? m->new_cas : 0;
    d.empty = HAS(m, 'x');
    enum item_status st = item_mdelete(r->key, r->nkey, &d);
    const char *code;
    switch (st) {
    case ITEM_OK:
        if (!d.invalidate)          /* memcached counts no delete for I */
            STAT_INC(pc->stats, delete_hits);
        if (!d.invalidate && !d.empty && watch_enabled_for(WATCH_DELETIONS))
            watch_deleted(r->key, r->nkey, "md");
        code = "HD";
        break;
    case ITEM_EXISTS:
        STAT_INC(pc->stats, delete_misses);     /* as memcached counts it */
        code = "EX";
        break;
    case ITEM_ENOMEM:
        proto_reply(pc, false, "SERVER_ERROR out of memory");
        return;
    default:
        STAT_INC(pc->stats, delete_misses);
        code = "NF";
        break;
    }
    if (r->noreply && st == ITEM_OK)
        return;
    struct ret rt = req_ret(r);
    reply_line(pc->out, code, &rt);
}

void
meta_arith(struct proto_conn *pc, const struct request *r)
{
    const struct meta_req *m = &r->meta;
    struct item_marith a;
    memset(&a, 0, sizeof(a));
    a.incr = !(HAS(m, 'M') && strchr("Dd-", m->mode) != NULL);
    a.delta = m->delta;
    a.compare = HAS(m, 'C');
    a.cas_in = m->cas;
    a.new_cas = HAS(m, 'E') ? m->new_cas : 0;
    a.initial = m->initial;
    a.binary_key = HAS(m, 'b');
    a.touch = HAS(m, 'T');
    if (a.touch)
        a.exptime = clock_exptime(m->ttl);
    a.vivify = HAS(m, 'N');
    rel_time_t vivify_exptime = 0;
    if (a.vivify) {                 /* (what an item it creates is left with) */
        vivify_exptime = clock_exptime(m->vivify_ttl);
        a.vivify_exptime = created_exptime(m, m->norder, vivify_exptime, a.exptime);
    }
    uint64_t v = 0, cas = 0;
    rel_time_t exp = 0;
    bool created = false;
    enum item_status st = item_marith(r->key, r->nkey, &a, &v, &cas, &exp, &created);
    struct thread_stats *ts = pc->stats;
    const char *code;
    switch (st) {
    case ITEM_OK:
        if (created)
            ;                       /* memcached counts nothing for N */
        else if (a.incr)
            STAT_INC(ts, incr_hits);
        else
            STAT_INC(ts, decr_hits);
        code = HAS(m, 'v') ? "VA" : "HD";
        break;
    case ITEM_NOT_FOUND:
        if (a.incr)
            STAT_INC(ts, incr_misses);
        else
            STAT_INC(ts, decr_misses);
        code = "NF";
        break;
    case ITEM_NOT_STORED:
    case ITEM_ETYPE:                /* a collection (doc/collections.md) */
        code = "NS";
        break;
    case ITEM_EXISTS:
        code = "EX";
        break;
    case ITEM_ENONNUMERIC:
        proto_reply(pc, false, "CLIENT_ERROR cannot increment or decrement non-numeric value");
        return;
    default:
        STAT_INC(ts, out_of_memory);
        proto_reply(pc, false, "SERVER_ERROR out of memory");
        return;
    }
    bool value = st == ITEM_OK && HAS(m, 'v');
    if (r->noreply && st == ITEM_OK && !created)
        return;                     /* (1.6.18 still answers an N creation) */
    /* t where it stands: after T, T's TTL (even when T was lost); on an
     * item N created, what N and T before it gave */
    const char *tpos = memchr(m->order, 't', (size_t)m->norder);
    bool t_after_T = a.touch && tpos != NULL &&
                     memchr(m->order, 'T', (size_t)(tpos - m->order)) != NULL;
    int64_t ttl = ttl_of(created && tpos != NULL ?
                         created_exptime(m, (int)(tpos - m->order), vivify_exptime, a.exptime) :
                         t_after_T ? a.exptime : exp);
    char num[24];
    size_t nlen = proto_u64_dec(v, num);
    obuf_add(pc->out, code, 2);
    if (value)
        meta_num(pc->out, 0, (int64_t)nlen);
    struct ret rt = req_ret(r);
    rt.with_cas = rt.with_ttl = st == ITEM_OK;
    rt.cas = cas;
    rt.ttl = ttl;
    ret_flags(pc->out, &rt);
    obuf_add(pc->out, "\r\n", 2);
    if (value) {
        obuf_add(pc->out, num, nlen);
        obuf_add(pc->out, "\r\n", 2);
    }
}

void
meta_run_silently(struct proto_conn *pc, const struct request *r)
{
    struct request run = *r;
    struct meta_req *m = &run.meta;
    /* memcached finds the bad O while it writes the reply, flag by flag:
     * the flags after it never act (T; N's TTL on an item N creates) */
    const char *o = memchr(m->order, 'O', (size_t)m->norder);
    if (o != NULL) {
        int at = (int)(o - m->order);
        if (memchr(o, 'T', (size_t)(m->norder - at)) != NULL)
            m->seen &= ~META_BIT('T');
        m->norder = at;
    }
    m->opaque.n = 0;
    run.error = NULL;
    struct obuf scratch, *out = pc->out;
    obuf_init(&scratch);
    pc->out = &scratch;
    if (run.cmd == CMD_MG)
        meta_get(pc, &run);
    else
        meta_arith(pc, &run);
    pc->out = out;
    obuf_deinit(&scratch);
}

/* me: memcached's debug line.  size is our item's size (doc/protocol.md). */
void
meta_debug(struct proto_conn *pc, const struct request *r)
{
    struct item_mget g;
    memset(&g, 0, sizeof(g));
    g.no_bump = true;
    struct item *it = item_mget(r->key, r->nkey, &g);
    if (it == NULL) {
        proto_reply(pc, false, "EN");
        return;
    }
    rel_time_t now = clock_now();
    struct obuf *o = pc->out;
    obuf_add(o, "ME ", 3);
    if (item_key_binary(it)) {
        char buf[4 * ((ITEM_KEY_MAX + 2) / 3)];
        obuf_add(o, buf, meta_b64_encode(r->key, r->nkey, buf));
    } else {
        obuf_add(o, r->key, r->nkey);
    }
    /* exp is memcached's: now - exptime (negative while it lives) */
    rel_time_t e = item_exptime(it);
    obuf_printf(o, " exp=%lld la=%u cas=%" PRIu64 " fetch=%s cls=%u size=%zu\r\n",
                e == 0 ? -1LL : (long long)now - (long long)e,
                now > g.atime_before ? now - g.atime_before : 0, item_cas(it),
                g.fetched_before ? "yes" : "no", item_class(it), item_total_size(it));
    item_release(it);
}
