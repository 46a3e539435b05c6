/*
 * process.c -- run parsed text-protocol requests through item.h and
 * compose the replies (see proto.h).
 *
 * Replies are byte-for-byte those of memcached 1.6.18 (see
 * tests/integration); the few deliberate differences are listed in
 * doc/protocol.md.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "hotkeys.h"
#include "item.h"
#include "log.h"
#include "proto.h"
#include "exec.h"
#include "authfile.h"
#include "watch.h"
#include "sasl.h"

struct proto_env proto_env = {
    .flush_enabled = true,
    .dump_enabled = true,
    .use_cas = true,
    .item_size_max = 1024 * 1024,
    .version = "1.6.18",
};

/* Values up to this size are copied into the reply buffer and the item
 * released at once; larger ones are written from item memory. */
#define COPY_MAX 2048

void
proto_conn_init(struct proto_conn *pc, struct obuf *out,
                struct thread_stats *ts, int id)
{
    memset(pc, 0, sizeof(*pc));
    pc->out = out;
    pc->stats = ts;
    pc->id = id;
    pc->authenticated = !proto_env.sasl && !proto_env.ascii_auth;
}

static void
drop_pending(struct proto_conn *pc)
{
    if (pc->it != NULL) {
        item_release(pc->it);
        pc->it = NULL;
    }
    free(pc->viov_big);
    pc->viov_big = NULL;
    pc->nviov = 0;
    free(pc->auth_buf);
    pc->auth_buf = NULL;
}

void
proto_conn_deinit(struct proto_conn *pc)
{
    drop_pending(pc);
    coll_conn_deinit(pc);
    sasl_conn_free(pc);
}

/* Append "s\r\n" unless noreply. */
void
proto_reply(struct proto_conn *pc, bool noreply, const char *s)
{
    if (noreply)
        return;
    size_t n = strlen(s);
    char *p = obuf_reserve(pc->out, n + 2);
    if (p == NULL)
        return;
    memcpy(p, s, n);
    p[n] = '\r';
    p[n + 1] = '\n';
    obuf_commit(pc->out, n + 2);
}

/* ---- retrieval ---- */

/* Copy it's value to p; false if out of memory (a chained value). */
static bool
copy_value_to(struct item *it, char *p)
{
    struct iovec small[4], *v = small;
    int nseg = item_value_segments(it);
    if (nseg > 4 && (v = malloc((size_t)nseg * sizeof(*v))) == NULL)
        return false;
    int n = item_value_iov(it, v, nseg);
    for (int i = 0; i < n; i++) {
        memcpy(p, v[i].iov_base, v[i].iov_len);
        p += v[i].iov_len;
    }
    if (v != small)
        free(v);
    return true;
}

/* Append it's value (and "\r\n" if crlf) to the reply; takes over it.
 * A large value is written from item memory (a reference held until
 * sent), except on an item many references already hold: one key asked
 * for thousands of times must not saturate its count (then it would miss
 * for all). */
void
proto_emit_value(struct proto_conn *pc, struct item *it, bool crlf)
{
    uint32_t nbytes = item_nbytes(it);
    size_t tail = crlf ? 2 : 0;
    if (nbytes > COPY_MAX && !item_refs_high(it)) {
        obuf_item(pc->out, it);
        if (crlf)
            obuf_add(pc->out, "\r\n", 2);
        return;
    }
    char *p = obuf_reserve(pc->out, (size_t)nbytes + tail);
    if (p == NULL || !copy_value_to(it, p)) {
        pc->out->oom = true;
        item_release(it);
        return;
    }
    if (crlf) {
        p[nbytes] = '\r';
        p[nbytes + 1] = '\n';
    }
    obuf_commit(pc->out, (size_t)nbytes + tail);
    item_release(it);
}

void
proto_emit_data(struct proto_conn *pc, struct item *it)
{
    proto_emit_value(pc, it, true);
}

/* "VALUE <key> <flags> <bytes>[ <cas>]\r\n<data>\r\n"; takes over it.
 * A small value goes into the same reservation as its header (one
 * reserve, one commit per hit); a large one is proto_emit_data()'s. */
static void
emit_value(struct proto_conn *pc, struct item *it, bool with_cas)
{
    uint8_t nkey = item_nkey(it);
    uint32_t nbytes = item_nbytes(it);
    size_t hmax = 6 + nkey + 1 + 10 + 1 + 10 + 21 + 2;
    bool inline_value = nbytes <= COPY_MAX;
    char *p = obuf_reserve(pc->out, hmax + (inline_value ? (size_t)nbytes + 2 : 0));
    if (p == NULL) {
        item_release(it);
        return;
    }
    char *s = p;
    memcpy(p, "VALUE ", 6);
    p += 6;
    memcpy(p, item_key(it), nkey);
    p += nkey;
    *p++ = ' ';
    p += proto_u64_dec(item_flags(it), p);
    *p++ = ' ';
    p += proto_u64_dec(nbytes, p);
    if (with_cas) {
        *p++ = ' ';
        p += proto_u64_dec(item_cas(it), p);
    }
    *p++ = '\r';
    *p++ = '\n';
    if (inline_value) {
        struct iovec v[4];
        int n = item_value_iov(it, v, 4);
        if (n >= 0) {
            for (int i = 0; i < n; i++) {
                memcpy(p, v[i].iov_base, v[i].iov_len);
                p += v[i].iov_len;
            }
            *p++ = '\r';
            *p++ = '\n';
            obuf_commit(pc->out, (size_t)(p - s));
            item_release(it);
            return;
        }
    }
    obuf_commit(pc->out, (size_t)(p - s));
    proto_emit_data(pc, it);
}

/* Count one lookup of a get/gets/gat/gats (and offer its key to the hot
 * keys sampler). */
void
proto_count_lookup(struct proto_conn *pc, const char *key, size_t nkey,
                   const struct item *it, bool touch)
{
    struct thread_stats *ts = pc->stats;
    if (key != NULL)
        hotkeys_lookup(key, nkey);
    if (touch)
        STAT_INC(ts, cmd_touch);
    else
        STAT_INC(ts, cmd_get);
    if (it == NULL) {
        if (touch)
            STAT_INC(ts, touch_misses);
        else
            STAT_INC(ts, get_misses);
        return;
    }
    if (touch) {
        STAT_INC(ts, touch_hits);
        STAT_CLS_INC(ts, item_class(it), touch_hits);
    } else {
        STAT_INC(ts, get_hits);
        STAT_CLS_INC(ts, item_class(it), get_hits);
    }
}

/* Count and emit one lookup result of a get/gets/gat/gats. */
static void
get_result(struct proto_conn *pc, const char *key, size_t nkey, struct item *it,
           bool touch, bool with_cas)
{
    proto_count_lookup(pc, key, nkey, it, touch);
    if (it != NULL)
        emit_value(pc, it, with_cas);
}

/* Next key of a get-family key list at *p (spaces skipped); false at the
 * end of the list. */
static bool
next_key(const char **p, const char *end, const char **k, size_t *nk)
{
    const char *q = *p;
    while (q < end && *q == ' ')
        q++;
    *p = q;
    if (q == end)
        return false;
    *k = q;
    while (q < end && *q != ' ')
        q++;
    *nk = (size_t)(q - *k);
    *p = q;
    return true;
}

/* Keys of a get line the validation pass remembers, so the lookups need
 * not scan the line again (a longer list is scanned again past these). */
#define GET_KEYS_KEPT 128

/*
 * get/gets/gat/gats.  The reply is produced in pieces: when the output
 * pending on the connection reaches PROTO_OUT_HIGH, the position in the
 * key list is kept in pc->resume and PROTO_PAUSE returned; the connection
 * calls again with the same line once the client has read.
 */
static enum proto_action
do_get(struct proto_conn *pc, const struct request *r)
{
    bool touch = r->cmd == CMD_GAT || r->cmd == CMD_GATS;
    bool with_cas = r->cmd == CMD_GETS || r->cmd == CMD_GATS;
    rel_time_t exptime = touch ? clock_exptime(r->exptime) : 0;
    const char *p = r->keys, *end = r->keys + r->nkeys_len;
    const char *kept[GET_KEYS_KEPT];
    size_t nkept[GET_KEYS_KEPT];
    int nk = 0, ki = 0;             /* keys kept; the next one to look up */
    const char *keys[ITEM_BATCH_MAX];
    size_t nkeys[ITEM_BATCH_MAX];
    struct item *found[ITEM_BATCH_MAX];

    if (pc->resume == 0) {
        /* A bad key anywhere refuses the whole request before any value
         * goes out (memcached takes back the values it had queued).  One
         * pass splits and checks the keys (text_key_valid's rule) and
         * keeps the first GET_KEYS_KEPT of them. */
        const char *q = p;
        for (;;) {
            while (q < end && *q == ' ')
                q++;
            if (q == end)
                break;
            const char *k = q;
            unsigned bad = 0;
            while (q < end && *q != ' ') {
                unsigned char c = (unsigned char)*q++;
                bad |= (unsigned)(c < 0x20) | (unsigned)(c == 0x7f);
            }
            size_t n = (size_t)(q - k);
            if (bad || n > ITEM_KEY_MAX) {
                /* memcached has looked up (counted, touched) the keys
                 * before the bad one when it meets it */
                const char *q2 = r->keys, *k2;
                size_t nk2;
                while (next_key(&q2, end, &k2, &nk2) && k2 != k) {
                    struct item *it = touch ? item_get_touch(k2, nk2, exptime)
                                            : item_get(k2, nk2);
                    proto_count_lookup(pc, k2, nk2, it, touch);
                    if (it != NULL)
                        item_release(it);
                }
                proto_reply(pc, false, "CLIENT_ERROR bad command line format");
                return PROTO_NEXT;
            }
            if (nk < GET_KEYS_KEPT) {
                kept[nk] = k;
                nkept[nk++] = n;
                p = q;              /* the scan goes on after the kept keys */
            }
        }
    } else {
        p += pc->resume;
        pc->resume = 0;
    }
    /* Keys go to storage in batches so their cache misses overlap. */
    for (;;) {
        if (ki == nk && p == end)
            break;
        if (pc->out->pending >= PROTO_OUT_HIGH) {
            pc->resume = (size_t)((ki < nk ? kept[ki] : p) - r->keys);
            return PROTO_PAUSE;
        }
        const char *const *bk;
        const size_t *bn;
        int n = 0;
        if (ki < nk) {
            n = nk - ki < ITEM_BATCH_MAX ? nk - ki : ITEM_BATCH_MAX;
            bk = kept + ki;
            bn = nkept + ki;
            ki += n;
        } else {
            while (n < ITEM_BATCH_MAX && next_key(&p, end, &keys[n], &nkeys[n]))
                n++;
            bk = keys;
            bn = nkeys;
            if (n == 0)
                break;
        }
        if (touch) {
            for (int i = 0; i < n; i++)
                get_result(pc, bk[i], bn[i], item_get_touch(bk[i], bn[i], exptime), true, with_cas);
        } else if (n == 1) {
            get_result(pc, bk[0], bn[0], item_get(bk[0], bn[0]), false, with_cas);
        } else {
            item_get_many(bk, bn, n, found);
            for (int i = 0; i < n; i++)
                get_result(pc, bk[i], bn[i], found[i], false, with_cas);
        }
    }
    obuf_add(pc->out, "END\r\n", 5);
    return PROTO_NEXT;
}

/* ---- storage ---- */

static enum item_store_op
store_op(enum req_cmd c)
{
    switch (c) {
    case CMD_ADD:     return ITEM_ADD;
    case CMD_REPLACE: return ITEM_REPLACE;
    case CMD_APPEND:  return ITEM_APPEND;
    case CMD_PREPEND: return ITEM_PREPEND;
    case CMD_CAS:     return ITEM_CAS;
    default:          return ITEM_SET;
    }
}

/* What "watch mutations" calls the operation. */
static enum watch_store_cmd
watch_cmd(enum item_store_op op, bool compare)
{
    if (compare)
        return WATCH_CMD_CAS;
    switch (op) {
    case ITEM_ADD:     return WATCH_CMD_ADD;
    case ITEM_REPLACE: return WATCH_CMD_REPLACE;
    case ITEM_APPEND:  return WATCH_CMD_APPEND;
    case ITEM_PREPEND: return WATCH_CMD_PREPEND;
    case ITEM_CAS:     return WATCH_CMD_CAS;
    default:           return WATCH_CMD_SET;
    }
}

void
proto_watch_store(const struct item *it, const struct item_mset *m, enum item_status st)
{
    enum watch_store_status ws;
    switch (st) {
    case ITEM_OK:         ws = WATCH_STORED; break;
    case ITEM_EXISTS:     ws = WATCH_EXISTS; break;
    case ITEM_NOT_FOUND:  ws = WATCH_NOT_FOUND; break;
    case ITEM_ENOMEM:     ws = WATCH_NO_MEMORY; break;
    case ITEM_EOVERSIZED: ws = WATCH_TOO_LARGE; break;
    default:              ws = WATCH_NOT_STORED; break;
    }
    /* memcached logs the combined item of a successful append/prepend */
    uint32_t size = st == ITEM_OK ? m->nbytes_out : item_nbytes(it);
    watch_store(item_key(it), item_nkey(it), ws, watch_cmd(m->op, m->compare),
                item_exptime(it), item_class(it), size);
}

/* The size memcached 1.6 would give this item: its 48-byte header, 8 bytes
 * of CAS, key + NUL, 4 bytes of client flags when non-zero, value + CRLF.
 * -I is enforced on this figure so that exactly the same values fit as in
 * memcached, although our items are smaller (doc/protocol.md). */
static uint64_t
memcached_item_size(const struct request *r)
{
    return 48 + (proto_env.use_cas ? 8 : 0) + r->nkey + 1 + (r->flags ? 4 : 0) +
           (uint64_t)r->vlen + 2;
}

enum proto_action
proto_store(struct proto_conn *pc, const struct request *r)
{
    enum item_status st;
    struct item *it = NULL;
    if (memcached_item_size(r) > proto_env.item_size_max)
        st = ITEM_EOVERSIZED;
    else
        it = item_alloc(r->key, r->nkey, r->flags,
                                 clock_exptime(r->exptime),
                                 (uint32_t)r->vlen, &st);
    /* the bytes after the value: "\r\n" in text, none in binary */
    uint64_t tail = pc->binary ? 0 : 2;
    if (it == NULL) {
        bool quiet = r->noreply && r->cmd != CMD_MS;  /* ms q hides success only */
        if (watch_enabled_for(WATCH_MUTATIONS))
            watch_store(r->key, r->nkey,
                        st == ITEM_EOVERSIZED ? WATCH_TOO_LARGE : WATCH_NO_MEMORY,
                        watch_cmd(r->cmd == CMD_MS ? ITEM_SET : store_op(r->cmd),
                                  r->cmd == CMD_CAS),
                        0, 0, 0);
        if (st == ITEM_EOVERSIZED) {
            if (pc->binary) {
                bin_error(pc, BIN_E2BIG);   /* never quiet, not counted (1.6.18) */
            } else {
                STAT_INC(pc->stats, store_too_large);
                proto_reply(pc, quiet, "SERVER_ERROR object too large for cache");
            }
        } else {
            STAT_INC(pc->stats, store_no_memory);
            if (pc->binary)
                bin_error(pc, BIN_ENOMEM);
            else
                proto_reply(pc, quiet, "SERVER_ERROR out of memory storing object");
        }
        /* Like memcached: a failed set must not leave the old value
         * readable. */
        if (r->cmd == CMD_SET ||
            (r->cmd == CMD_MS && (!(r->meta.seen & META_BIT('M')) || r->meta.mode == 'S')))
            item_delete(r->key, r->nkey);
        pc->swallow = (uint64_t)r->vlen + tail;
        return PROTO_SWALLOW;
    }
    pc->it = it;
    pc->scmd = r->cmd;
    pc->scas = r->cas;
    pc->snoreply = r->noreply;
    pc->vlen = (size_t)r->vlen;
    int nseg = item_value_segments(it);
    if (nseg > (int)(sizeof(pc->viov) / sizeof(pc->viov[0]))) {
        pc->viov_big = malloc((size_t)nseg * sizeof(struct iovec));
        if (pc->viov_big == NULL) {
            drop_pending(pc);
            STAT_INC(pc->stats, out_of_memory);
            if (pc->binary)
                bin_error(pc, BIN_ENOMEM);
            else
                proto_reply(pc, r->noreply, "SERVER_ERROR out of memory storing object");
            pc->swallow = (uint64_t)r->vlen + tail;
            return PROTO_SWALLOW;
        }
    }
    pc->nviov = item_value_iov(it, proto_value_iov(pc), nseg);
    return PROTO_READ_VALUE;
}

void
proto_defer_done(struct proto_conn *pc, const char *err)
{
    pc->defer = NULL;
    if (err == NULL)
        proto_reply(pc, false, "OK");
    else
        obuf_printf(pc->out, "SERVER_ERROR %s\r\n", err);
}

/* ---- -Y: ASCII authentication (memcached 1.6.18's rules) ---- */

/* Credentials longer than this are refused unread (memcached reads any
 * length; an entry of its file holds at most 256 bytes). */
#define AUTH_VALUE_MAX 4096

/* Split s[0..n) on spaces (empty tokens skipped); returns the count, at
 * most max filled. */
static int
split_spaces(const char *s, size_t n, struct token *t, int max)
{
    int k = 0;
    size_t i = 0;
    while (i < n) {
        while (i < n && s[i] == ' ')
            i++;
        size_t b = i;
        while (i < n && s[i] != ' ')
            i++;
        if (i > b) {
            if (k < max)
                t[k] = (struct token){ s + b, i - b };
            k++;
        }
    }
    return k;
}

/* A line before authenticating: only "set <any> <any> <any> <len>" (its
 * value is "<user> <pass>") is the way in; anything else is answered
 * "CLIENT_ERROR unauthenticated" and the connection closes. */
static enum proto_action
auth_line(struct proto_conn *pc, const char *line, size_t len)
{
    struct token t[6];
    int n = split_spaces(line, len, t, 6);
    uint64_t vlen = 0;
    bool ok = n >= 5 && token_is(&t[0], "set") && t[4].n <= 20;
    for (size_t i = 0; ok && i < t[4].n; i++) {
        ok = t[4].s[i] >= '0' && t[4].s[i] <= '9';
        vlen = vlen * 10 + (uint64_t)(t[4].s[i] - '0');
    }
    if (!ok || vlen > UINT32_MAX) {
        proto_reply(pc, false, "CLIENT_ERROR unauthenticated");
        return PROTO_CLOSE;
    }
    if (vlen > AUTH_VALUE_MAX) {
        STAT_INC(pc->stats, auth_cmds);
        STAT_INC(pc->stats, auth_errors);
        proto_reply(pc, false, "CLIENT_ERROR authentication failure");
        pc->swallow = vlen + 2;
        return PROTO_SWALLOW;
    }
    pc->auth_buf = malloc(vlen > 0 ? vlen : 1);
    if (pc->auth_buf == NULL) {
        proto_reply(pc, false, "SERVER_ERROR out of memory");
        return PROTO_CLOSE;
    }
    pc->viov[0].iov_base = pc->auth_buf;
    pc->viov[0].iov_len = vlen;
    pc->nviov = 1;
    pc->vlen = vlen;
    return PROTO_READ_VALUE;
}

/* The credentials have been read. */
static void
auth_value_done(struct proto_conn *pc, bool term_ok)
{
    struct token t[2];
    int n = split_spaces(pc->auth_buf, pc->vlen, t, 2);
    if (!term_ok) {
        proto_reply(pc, false, "CLIENT_ERROR bad command line termination");
    } else if (n < 2) {
        proto_reply(pc, false, "CLIENT_ERROR bad authentication token format");
    } else {
        STAT_INC(pc->stats, auth_cmds);
        if (authfile_check(t[0].s, t[0].n, t[1].s, t[1].n)) {
            pc->authenticated = true;
            proto_reply(pc, false, "STORED");       /* noreply or not */
        } else {
            STAT_INC(pc->stats, auth_errors);
            proto_reply(pc, false, "CLIENT_ERROR authentication failure");
        }
    }
    drop_pending(pc);
}

void
proto_value_done(struct proto_conn *pc, bool term_ok)
{
    struct item *it = pc->it;
    bool noreply = pc->snoreply;
    if (pc->auth_buf != NULL) {
        auth_value_done(pc, term_ok);
        return;
    }
    if (pc->scmd == CMD_COLL) {
        coll_value_done(pc, term_ok);
        return;
    }
    if (it == NULL)
        return;
    unsigned cls = item_class(it);
    struct thread_stats *ts = pc->stats;
    /* memcached counts the set before it checks the data's "\r\n" */
    STAT_INC(ts, cmd_set);
    STAT_CLS_INC(ts, cls, cmd_set);
    if (!term_ok) {
        /* (q hides only success for ms: errors are always sent) */
        proto_reply(pc, noreply && pc->scmd != CMD_MS, "CLIENT_ERROR bad data chunk");
        drop_pending(pc);
        return;
    }
    if (pc->scmd == CMD_MS) {
        meta_store_done(pc, it);
        drop_pending(pc);
        return;
    }
    if (pc->binary) {
        bin_store_done(pc, it);
        drop_pending(pc);
        return;
    }
    uint64_t cas = 0;
    enum item_store_op op = store_op(pc->scmd);
    struct item_mset ms = { .op = op == ITEM_CAS ? ITEM_SET : op, .compare = op == ITEM_CAS,
                            .cas_in = pc->scas };
    enum item_status st = item_mstore(it, &ms, &cas);   /* = item_store() */
    if (watch_enabled_for(WATCH_MUTATIONS))
        proto_watch_store(it, &ms, st);
    /* memcached answers NOT_STORED when the combined value of an
     * append/prepend cannot be allocated (too large, or no memory) */
    if ((pc->scmd == CMD_APPEND || pc->scmd == CMD_PREPEND) &&
        (st == ITEM_ENOMEM || st == ITEM_EOVERSIZED))
        st = ITEM_NOT_STORED;
    switch (st) {
    case ITEM_OK:
        if (pc->scmd == CMD_CAS) {
            STAT_INC(ts, cas_hits);
            STAT_CLS_INC(ts, cls, cas_hits);
        }
        proto_reply(pc, noreply, "STORED");
        break;
    case ITEM_EXISTS:
        STAT_INC(ts, cas_badval);
        STAT_CLS_INC(ts, cls, cas_badval);
        proto_reply(pc, noreply, "EXISTS");
        break;
    case ITEM_NOT_FOUND:
        STAT_INC(ts, cas_misses);
        proto_reply(pc, noreply, "NOT_FOUND");
        break;
    case ITEM_ENOMEM:
        STAT_INC(ts, store_no_memory);
        proto_reply(pc, noreply, "SERVER_ERROR out of memory storing object");
        break;
    case ITEM_EOVERSIZED:
        STAT_INC(ts, store_too_large);
        proto_reply(pc, noreply, "SERVER_ERROR object too large for cache");
        break;
    case ITEM_ETYPE:                /* a collection (ARCUS ch04) */
        proto_reply(pc, noreply, "TYPE_MISMATCH");
        break;
    default:
        proto_reply(pc, noreply, "NOT_STORED");
        break;
    }
    drop_pending(pc);
}

/* ---- other single-key commands ---- */

static void
do_delete(struct proto_conn *pc, const struct request *r)
{
    if (item_delete(r->key, r->nkey) == ITEM_OK) {
        if (watch_enabled_for(WATCH_DELETIONS))
            watch_deleted(r->key, r->nkey, "delete");
        STAT_INC(pc->stats, delete_hits);
        proto_reply(pc, r->noreply, "DELETED");
    } else {
        STAT_INC(pc->stats, delete_misses);
        proto_reply(pc, r->noreply, "NOT_FOUND");
    }
}

static void
do_delta(struct proto_conn *pc, const struct request *r)
{
    bool incr = r->cmd == CMD_INCR;
    uint64_t v = 0;
    enum item_status st = item_delta(r->key, r->nkey, incr, r->delta, &v, NULL);
    struct thread_stats *ts = pc->stats;
    switch (st) {
    case ITEM_OK: {
        if (incr)
            STAT_INC(ts, incr_hits);
        else
            STAT_INC(ts, decr_hits);
        if (r->noreply)
            break;
        char buf[24];
        size_t n = proto_u64_dec(v, buf);
        buf[n++] = '\r';
        buf[n++] = '\n';
        obuf_add(pc->out, buf, n);
        break;
    }
    case ITEM_NOT_FOUND:
        if (incr)
            STAT_INC(ts, incr_misses);
        else
            STAT_INC(ts, decr_misses);
        proto_reply(pc, r->noreply, "NOT_FOUND");
        break;
    case ITEM_ENONNUMERIC:
        proto_reply(pc, r->noreply, "CLIENT_ERROR cannot increment or decrement non-numeric value");
        break;
    case ITEM_ETYPE:                /* a collection (ARCUS ch04) */
        proto_reply(pc, r->noreply, "TYPE_MISMATCH");
        break;
    default:
        STAT_INC(ts, out_of_memory);
        proto_reply(pc, r->noreply, "SERVER_ERROR out of memory");
        break;
    }
}

static void
do_touch(struct proto_conn *pc, const struct request *r)
{
    STAT_INC(pc->stats, cmd_touch);
    if (item_touch(r->key, r->nkey, clock_exptime(r->exptime)) == ITEM_OK) {
        STAT_INC(pc->stats, touch_hits);
        proto_reply(pc, r->noreply, "TOUCHED");
    } else {
        STAT_INC(pc->stats, touch_misses);
        proto_reply(pc, r->noreply, "NOT_FOUND");
    }
}

/* Flush what was stored before the delay given (0: now), as memcached. */
void
proto_flush_at(int64_t exptime)
{
    if (exptime > 0) {
        /* memcached (with CAS) invalidates what was stored up to one
         * second before the time given: "flush_all 1" acts at once, and
         * a time already past (realtime() gives 1) flushes nothing */
        rel_time_t when = clock_exptime(exptime);
        if (proto_env.use_cas)
            when--;
        if (when != 0)
            item_flush(when);
    } else {
        item_flush(0);
    }
}

/* flush_all; also called for a flush_all whose delay is invalid (error
 * set): memcached counts it and checks -F first. */
static void
do_flush(struct proto_conn *pc, const struct request *r, const char *error)
{
    STAT_INC(pc->stats, cmd_flush);
    if (!proto_env.flush_enabled) {
        proto_reply(pc, r->noreply, "CLIENT_ERROR flush_all not allowed");
        return;
    }
    if (error != NULL) {
        proto_reply(pc, r->noreply, error);
        return;
    }
    proto_flush_at(r->exptime);
    proto_reply(pc, r->noreply, "OK");
}

/* ---- admin ---- */

static void
do_slabs(struct proto_conn *pc, const struct request *r)
{
    if (r->admin.sub == SUB_SLABS_AUTOMOVE) {
        item_slabs_automove((int)r->admin.level);
        proto_reply(pc, r->noreply, "OK");
        return;
    }
    if (r->admin.sub == SUB_SLABS_AUTOMOVE_RATIO) {
        /* we have no ratio to tune: a valid one is accepted */
        proto_reply(pc, r->noreply, "OK");
        return;
    }
    static const char *const msg[] = {
        [REASSIGN_OK] = "OK",
        [REASSIGN_RUNNING] = "BUSY currently processing reassign request",
        [REASSIGN_BADCLASS] = "BADCLASS invalid src or dst class id",
        [REASSIGN_NOSPARE] = "NOSPARE source class has no spare pages",
        [REASSIGN_NOTFULL] = "NOTFULL source class has no full pages",
        [REASSIGN_UNSAFE] = "UNSAFE src class is being moved",
        [REASSIGN_SAME] = "SAME src and dst class are identical",
        [REASSIGN_DISABLED] = "CLIENT_ERROR slab reassignment disabled",
    };
    int32_t a = r->admin.src, b = r->admin.dst;
    enum item_reassign_status st = item_slabs_reassign(a, b);
    /* memcached's source 0 is its global page pool; we take no page
     * back from ours, so it never has a spare one */
    if (st == REASSIGN_BADCLASS && a == 0 && b > 0 && (unsigned)b <= item_nclasses())
        st = REASSIGN_NOSPARE;
    /* source -1 (any class) that finds none is a bad class there */
    if (st == REASSIGN_NOSPARE && a == -1)
        st = REASSIGN_BADCLASS;
    proto_reply(pc, false, msg[st]);
}

void
proto_uri_key(struct obuf *o, const char *k, size_t n)
{
    static const char hex[] = "0123456789ABCDEF";
    char buf[ITEM_KEY_MAX * 3];
    size_t j = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)k[i];
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
            (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' || c == '~') {
            buf[j++] = (char)c;
        } else {
            buf[j++] = '%';
            buf[j++] = hex[c >> 4];
            buf[j++] = hex[c & 15];
        }
    }
    obuf_add(o, buf, j);
}

static int
metadump_one(struct item *it, void *arg)
{
    struct obuf *o = arg;
    obuf_add(o, "key=", 4);
    proto_uri_key(o, item_key(it), item_nkey(it));
    rel_time_t e = item_exptime(it);
    obuf_printf(o, " exp=%lld la=%lld cas=%" PRIu64 " fetch=%s cls=%u size=%zu\n",
                e == 0 ? -1LL : (long long)clock_to_unix(e),
                (long long)clock_to_unix(item_atime(it)), item_cas(it),
                item_fetched(it) ? "yes" : "no", item_class(it),
                item_total_size(it));
    return 0;
}

/* Items a metadump visits per call before it lets the worker's other
 * clients run (it goes on through PROTO_PAUSE). */
#define METADUMP_STEP_ITEMS 4096

/* "lru_crawler metadump ...": streamed in bounded steps (all, hash, or a
 * class list: we dump everything for each).  The walk position lives in
 * pc->walk_cursor while the reply waits for the client to read. */
static enum proto_action
do_metadump(struct proto_conn *pc, const struct request *r)
{
    if (pc->resume == 0) {
        if (!proto_env.dump_enabled) {
            proto_reply(pc, false, "ERROR metadump not allowed");
            return PROTO_NEXT;
        }
        /* refused after other requests of the same batch whose replies
         * are still queued (memcached: responses stacked before it);
         * requests after it simply wait for the dump */
        if (pc->out->pending > 0) {
            proto_reply(pc, false, "ERROR cannot pipeline other commands before metadump");
            return PROTO_NEXT;
        }
        if (r->admin.late_error != NULL) {
            proto_reply(pc, false, r->admin.late_error);
            return PROTO_NEXT;
        }
        pc->walk_cursor = 0;
    }
    pc->resume = 0;
    uint64_t visited = 0;
    while (pc->walk_cursor != ITEM_WALK_DONE) {
        if (pc->out->pending >= PROTO_OUT_HIGH || visited >= METADUMP_STEP_ITEMS) {
            pc->resume = 1;
            return PROTO_PAUSE;
        }
        visited += item_walk_step(&pc->walk_cursor, metadump_one, pc->out);
    }
    proto_reply(pc, false, "END");
    return PROTO_NEXT;
}

void proto_stats(struct proto_conn *pc, const struct request *r);

/* A request whose parse failed: reply r->error, or what memcached does
 * instead. */
static enum proto_action
parse_error(struct proto_conn *pc, const struct request *r)
{
    if (r->cmd == CMD_FLUSH_ALL) {
        do_flush(pc, r, r->error);
        return PROTO_NEXT;
    }
    if (r->http_probe)
        return PROTO_CLOSE_NOW;         /* an HTTP client: hang up, as memcached */
    if (r->meta.late_error != NULL && r->error == r->meta.late_error &&
        (r->cmd == CMD_MG || r->cmd == CMD_MA))
        meta_run_silently(pc, r);
    /* q never hides a meta command's error */
    bool meta = r->cmd >= CMD_MG && r->cmd <= CMD_ME;
    proto_reply(pc, r->noreply && !meta, r->error);
    if (r->vlen >= 0) {
        /* a refused storage command whose length is known: its data is
         * not commands (ms; the classic ones as memcached 1.6.45) */
        pc->swallow = (uint64_t)r->vlen + 2;
        return PROTO_SWALLOW;
    }
    return PROTO_NEXT;
}

enum proto_action
proto_line(struct proto_conn *pc, const char *line, size_t len)
{
    struct request r;
    if (!pc->authenticated && proto_env.ascii_auth) {
        log_debug("<%d (not authenticated) %.*s", pc->id, (int)(len > 300 ? 300 : len), line);
        return auth_line(pc, line, len);
    }
    text_parse(line, len, &r);
    log_debug("<%d %.*s", pc->id, (int)(len > 300 ? 300 : len), line);

    if (r.cmd == CMD_COLL)
        return coll_line(pc, &r);
    if (__builtin_expect(pc->pipe_n != 0 || pc->pipe_drop, 0))
        coll_pipe_end(pc);
    if (r.error != NULL)
        return parse_error(pc, &r);
    switch (r.cmd) {
    case CMD_GET: case CMD_GETS: case CMD_GAT: case CMD_GATS:
        return do_get(pc, &r);
    case CMD_SET: case CMD_ADD: case CMD_REPLACE:
    case CMD_APPEND: case CMD_PREPEND: case CMD_CAS:
        return proto_store(pc, &r);
    case CMD_DELETE:
        do_delete(pc, &r);
        break;
    case CMD_INCR: case CMD_DECR:
        do_delta(pc, &r);
        break;
    case CMD_TOUCH:
        do_touch(pc, &r);
        break;
    case CMD_FLUSH_ALL:
        do_flush(pc, &r, NULL);
        break;
    case CMD_VERSION:
        obuf_printf(pc->out, "VERSION %s\r\n", proto_env.version);
        break;
    case CMD_VERBOSITY:
        log_set_level((int)r.flags);
        proto_reply(pc, r.noreply, "OK");
        break;
    case CMD_QUIT:
        pc->close_reason = WATCH_CLOSE_NORMAL;
        return PROTO_CLOSE;
    case CMD_WATCH:
        if (!proto_env.watch_enabled) {
            proto_reply(pc, r.noreply, "CLIENT_ERROR watch commands not allowed");
            break;
        }
        if (r.admin.late_error != NULL) {
            proto_reply(pc, r.noreply, r.admin.late_error);
            break;
        }
        pc->watch_flags = r.admin.level;
        return PROTO_WATCH;
    case CMD_SHUTDOWN:
        if (!proto_env.enable_shutdown || proto_env.shutdown == NULL) {
            proto_reply(pc, false, "ERROR: shutdown not enabled");
            break;
        }
        if (r.admin.late_error != NULL) {
            proto_reply(pc, false, r.admin.late_error);
            break;
        }
        proto_env.shutdown();
        pc->close_reason = WATCH_CLOSE_SHUTDOWN;
        return PROTO_CLOSE;
    case CMD_CACHE_MEMLIMIT:
        if (r.flags < 8) {
            proto_reply(pc, r.noreply, "MEMLIMIT_TOO_SMALL cannot set maxbytes to less than 8m");
            break;
        }
        if (r.flags > 1000000000) {
            proto_reply(pc, r.noreply, "MEMLIMIT_ADJUST_FAILED input value is megabytes not bytes");
            break;
        }
        if (proto_env.set_memlimit != NULL &&
            proto_env.set_memlimit((size_t)r.flags * 1024 * 1024) != 0) {
            proto_reply(pc, r.noreply, "MEMLIMIT_ADJUST_FAILED out of bounds or unable to adjust");
            break;
        }
        proto_reply(pc, r.noreply, "OK");
        break;
    case CMD_STATS:
        proto_stats(pc, &r);
        break;
    case CMD_SLABS:
        do_slabs(pc, &r);
        break;
    case CMD_LRU_CRAWLER:
        if (r.admin.sub == SUB_CRAWLER_METADUMP)
            return do_metadump(pc, &r);
        /* crawl: every class now (class layouts differ from memcached's,
         * as for metadump); the settings: nothing to change */
        if (r.admin.sub == SUB_CRAWLER_CRAWL)
            item_crawl_request(0);
        proto_reply(pc, false, "OK");
        break;
    case CMD_REFRESH_CERTS: {
        /* memcached's replies: OK, or the loader's message ("Error TLS
         * not enabled" without -Z, as Debian's TLS build says) */
        char err[1024];
        if (proto_env.refresh_certs == NULL)
            proto_reply(pc, false, "Error TLS not enabled");
        else if (proto_env.refresh_certs(err, sizeof(err)))
            proto_reply(pc, false, "OK");
        else
            proto_reply(pc, false, err);
        break;
    }
    case CMD_SNAPSHOT: {
        if (proto_env.snapshot == NULL) {
            proto_reply(pc, false, "SERVER_ERROR snapshots not configured");
            break;
        }
        /* Slow (it writes the whole cache): the connection runs it off
         * the worker thread and calls proto_defer_done() with the result. */
        pc->defer = proto_env.snapshot;
        return PROTO_DEFER;
    }
    case CMD_MN:
        /* memcached 1.6.18 does not count mn in cmd_meta */
        obuf_add(pc->out, "MN\r\n", 4);
        break;
    case CMD_MG:
        meta_get(pc, &r);
        break;
    case CMD_MS:
        return meta_set(pc, &r);
    case CMD_MD:
        meta_delete(pc, &r);
        break;
    case CMD_MA:
        meta_arith(pc, &r);
        break;
    case CMD_ME:
        STAT_INC(pc->stats, cmd_meta);  /* the one meta command 1.6.18 counts */
        meta_debug(pc, &r);
        break;
    case CMD_NOOP: case CMD_SASL_LIST: case CMD_SASL_AUTH: case CMD_SASL_STEP: case CMD_COLL:
    case CMD_UNKNOWN:               /* (the first four: binary only) */
        proto_reply(pc, false, "ERROR");
        break;
    }
    return PROTO_NEXT;
}
