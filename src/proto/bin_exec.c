/*
 * bin_exec.c -- run binary-protocol requests (parsed by binary.c into a
 * struct request) through item.h and compose binary responses, as
 * memcached 1.6.18 answers them.
 *
 * Shared with the text executor (exec.h): storage goes through
 * proto_store() / proto_value_done() (the value streams into the item),
 * lookups are counted by proto_count_lookup(), values are emitted by
 * proto_emit_value(), stats groups are composed by stats_cmd.c and cut
 * into one packet per stat here.  Quiet (Q) opcodes suppress success
 * only (and misses for GetQ/GetKQ/GATQ/GATKQ); errors are always sent.
 */
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "exec.h"
#include "watch.h"
#include "item.h"
#include "log.h"
#include "proto.h"
#include "sasl.h"

/* Get, GetK, GAT, GATK, Touch and their quiet forms. */
static void
bin_get(struct proto_conn *pc, const struct request *r, bool touch, bool with_value)
{
    struct item *it = touch ? item_get_touch(r->key, r->nkey, clock_exptime(r->exptime))
                            : item_get(r->key, r->nkey);
    /* Get, GetK, GAT, GATK are reads of the key; Touch is not (as the
     * text touch) */
    proto_count_lookup(pc, with_value ? r->key : NULL, r->nkey, it, touch);
    uint16_t nk = pc->bin.with_key ? (uint16_t)r->nkey : 0;
    if (it == NULL) {
        if (pc->bin.quiet)
            return;
        if (nk > 0) {               /* GetK: the key instead of a message */
            bin_header(pc, BIN_ENOENT, 0, nk, nk, 0);
            obuf_add(pc->out, r->key, nk);
        } else {
            bin_error(pc, BIN_ENOENT);
        }
        return;
    }
    uint32_t nb = with_value ? item_nbytes(it) : 0;
    bin_header(pc, BIN_SUCCESS, 4, nk, 4 + nk + nb, item_cas(it));
    unsigned char fl[4];
    bin_put32(fl, item_flags(it));
    obuf_add(pc->out, fl, 4);
    if (nk > 0)
        obuf_add(pc->out, r->key, nk);
    if (with_value)
        proto_emit_value(pc, it, false);
    else
        item_release(it);
}

void
bin_store_done(struct proto_conn *pc, struct item *it)
{
    struct thread_stats *ts = pc->stats;
    unsigned cls = item_class(it);
    enum req_cmd cmd = pc->scmd;
    struct item_mset m = { .op = ITEM_SET };
    switch (cmd) {
    case CMD_ADD:     m.op = ITEM_ADD; break;
    case CMD_REPLACE: m.op = ITEM_REPLACE; break;
    case CMD_APPEND:  m.op = ITEM_APPEND; break;
    case CMD_PREPEND: m.op = ITEM_PREPEND; break;
    default:          break;
    }
    /* memcached: a CAS in the header makes set/add/replace a cas, and
     * append/prepend check it too */
    if (pc->scas != 0) {
        m.compare = true;
        m.cas_in = pc->scas;
        if (cmd != CMD_APPEND && cmd != CMD_PREPEND)
            m.op = ITEM_SET;
    }
    uint64_t cas = 0;
    enum item_status st = item_mstore(it, &m, &cas);
    if (watch_enabled_for(WATCH_MUTATIONS))
        proto_watch_store(it, &m, st);
    bool concat = cmd == CMD_APPEND || cmd == CMD_PREPEND;
    if (concat && (st == ITEM_ENOMEM || st == ITEM_EOVERSIZED))
        st = ITEM_NOT_STORED;
    switch (st) {
    case ITEM_OK:
        if (m.compare) {
            STAT_INC(ts, cas_hits);
            STAT_CLS_INC(ts, cls, cas_hits);
        }
        if (!pc->bin.quiet)
            bin_ok(pc, cas);
        return;
    case ITEM_EXISTS:
        STAT_INC(ts, cas_badval);
        STAT_CLS_INC(ts, cls, cas_badval);
        bin_error(pc, BIN_EEXISTS);
        return;
    case ITEM_NOT_FOUND:
        /* (a CAS on a missing key; append/prepend: not stored) */
        STAT_INC(ts, cas_misses);
        bin_error(pc, concat ? BIN_NOT_STORED : BIN_ENOENT);
        return;
    case ITEM_ENOMEM:
        STAT_INC(ts, store_no_memory);
        bin_error(pc, BIN_ENOMEM);
        return;
    case ITEM_EOVERSIZED:
        bin_error(pc, BIN_E2BIG);
        return;
    default:
        /* NOT_STORED: an add finds the key, a replace does not */
        bin_error(pc, cmd == CMD_ADD ? BIN_EEXISTS :
                      cmd == CMD_REPLACE ? BIN_ENOENT : BIN_NOT_STORED);
        return;
    }
}

static void
bin_delete(struct proto_conn *pc, const struct request *r)
{
    struct item_mdel m = { .compare = r->cas != 0, .cas_in = r->cas };
    enum item_status st = item_mdelete(r->key, r->nkey, &m);
    switch (st) {
    case ITEM_OK:
        if (watch_enabled_for(WATCH_DELETIONS))
            watch_deleted(r->key, r->nkey, "delete");
        STAT_INC(pc->stats, delete_hits);
        if (!pc->bin.quiet)
            bin_ok(pc, 0);
        return;
    case ITEM_EXISTS:
        bin_error(pc, BIN_EEXISTS);
        return;
    default:
        STAT_INC(pc->stats, delete_misses);
        bin_error(pc, BIN_ENOENT);
        return;
    }
}

static void
bin_delta(struct proto_conn *pc, const struct request *r)
{
    bool incr = r->cmd == CMD_INCR;
    struct item_marith m = {
        .incr = incr, .delta = r->delta,
        .compare = r->cas != 0, .cas_in = r->cas,
        /* an expiration of all ones: do not create a missing key */
        .vivify = r->bin.delta_exptime != 0xffffffffu,
        .vivify_exptime = clock_exptime(r->exptime),
        .initial = r->bin.initial,
    };
    uint64_t v = 0, cas = 0;
    rel_time_t exp_before;
    bool created = false;
    enum item_status st = item_marith(r->key, r->nkey, &m, &v, &cas, &exp_before, &created);
    struct thread_stats *ts = pc->stats;
    /* memcached counts no hit and no miss for an item it creates */
    if (st == ITEM_OK && !created) {
        if (incr)
            STAT_INC(ts, incr_hits);
        else
            STAT_INC(ts, decr_hits);
    } else if (st == ITEM_NOT_FOUND) {
        if (incr)
            STAT_INC(ts, incr_misses);
        else
            STAT_INC(ts, decr_misses);
    }
    switch (st) {
    case ITEM_OK: {
        if (pc->bin.quiet)
            return;
        unsigned char b[8];
        bin_put64(b, v);
        bin_header(pc, BIN_SUCCESS, 0, 0, 8, cas);
        obuf_add(pc->out, b, 8);
        return;
    }
    case ITEM_NOT_FOUND:
        bin_error(pc, BIN_ENOENT);
        return;
    case ITEM_EXISTS:
        bin_error(pc, BIN_EEXISTS);
        return;
    case ITEM_ENONNUMERIC:
        bin_error(pc, BIN_DELTA_BADVAL);
        return;
    case ITEM_NOT_STORED:
    case ITEM_ETYPE:                /* a collection (doc/collections.md) */
        bin_error(pc, BIN_NOT_STORED);
        return;
    default:
        STAT_INC(ts, out_of_memory);
        bin_error(pc, BIN_ENOMEM);
        return;
    }
}

/* Does the stat key start with word?  (memcached 1.6.18 compares
 * prefixes for reset, settings and detail, whole keys for the rest.) */
static bool
key_prefix(const struct request *r, const char *word)
{
    size_t n = strlen(word);
    return r->nkey >= n && memcmp(r->key, word, n) == 0;
}

static bool
key_is(const struct request *r, const char *word)
{
    return r->nkey == strlen(word) && key_prefix(r, word);
}

/* Cut "STAT <name> <value>\r\n" lines into one packet each. */
static void
stat_packets(struct proto_conn *pc, struct obuf *text)
{
    size_t total = text->pending, off = 0;
    char *buf = malloc(total + 1);
    if (buf == NULL) {
        pc->out->oom = true;
        return;
    }
    for (int i = 0; i < text->niov; i++) {
        memcpy(buf + off, text->iov[i].iov_base, text->iov[i].iov_len);
        off += text->iov[i].iov_len;
    }
    char *p = buf, *end = buf + off;
    while (p < end) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        if (nl == NULL)
            break;
        char *line = p, *le = nl;
        p = nl + 1;
        if (le > line && le[-1] == '\r')
            le--;
        if (le - line < 5 || memcmp(line, "STAT ", 5) != 0)
            continue;
        line += 5;
        char *sp = memchr(line, ' ', (size_t)(le - line));
        size_t nk = sp != NULL ? (size_t)(sp - line) : (size_t)(le - line);
        const char *val = sp != NULL ? sp + 1 : le;
        size_t nv = (size_t)(le - val);
        bin_header(pc, BIN_SUCCESS, 0, (uint16_t)nk, (uint32_t)(nk + nv), 0);
        obuf_add(pc->out, line, nk);
        obuf_add(pc->out, val, nv);
    }
    free(buf);
}

static void
bin_stats(struct proto_conn *pc, const struct request *r)
{
    enum req_sub sub = SUB_NONE;
    if (r->nkey == 0) {
        sub = SUB_STATS_GENERAL;
    } else if (key_prefix(r, "reset")) {
        proto_stats_reset();
    } else if (key_prefix(r, "settings")) {
        sub = SUB_STATS_SETTINGS;
    } else if (key_prefix(r, "detail")) {
        /* per-prefix stats are not kept: on/off accepted, an empty dump */
        struct request d = *r;
        d.key += 6;
        d.nkey -= 6;
        if (key_prefix(&d, " dump")) {
            /* one stat "detailed" holding the text dump (empty: END) */
            static const char k[] = "detailed", end[] = "END\r\n";
            bin_header(pc, BIN_SUCCESS, 0, sizeof(k) - 1, sizeof(k) - 1 + sizeof(end) - 1, 0);
            obuf_add(pc->out, k, sizeof(k) - 1);
            obuf_add(pc->out, end, sizeof(end) - 1);
            bin_header(pc, BIN_SUCCESS, 0, 0, 0, 0);
            return;
        }
        if (!key_prefix(&d, " on") && !key_prefix(&d, " off")) {
            bin_error(pc, BIN_ENOENT);
            return;
        }
    } else if (key_is(r, "items")) {
        sub = SUB_STATS_ITEMS;
    } else if (key_is(r, "slabs")) {
        sub = SUB_STATS_SLABS;
    } else if (key_is(r, "sizes")) {
        sub = SUB_STATS_SIZES;
    } else if (key_is(r, "hotkeys")) {
        sub = SUB_STATS_HOTKEYS;    /* ours; the default N */
    } else {
        bin_error(pc, BIN_ENOENT);
        return;
    }
    if (sub != SUB_NONE) {
        struct obuf text;
        obuf_init(&text);
        proto_stats_lines(&text, sub);
        stat_packets(pc, &text);
        obuf_deinit(&text);
    }
    bin_header(pc, BIN_SUCCESS, 0, 0, 0, 0);   /* the end of the stats */
}

enum proto_action
proto_packet(struct proto_conn *pc, const char *pkt, size_t n)
{
    struct request r;
    binary_parse((const unsigned char *)pkt, n, &r);
    bin_set_context(pc, &r);
    log_debug("<%d binary opcode 0x%02x key %.*s", pc->id, r.bin.opcode,
              (int)(r.nkey > 250 ? 250 : r.nkey), r.key != NULL ? r.key : "");
    if (r.bin.status == 0 && r.bin.close)
        return PROTO_CLOSE_NOW;     /* not a request packet, or too large */
    if (r.bin.frame_error) {
        bin_error(pc, r.bin.status);
        return PROTO_CLOSE;
    }
    /* with -S, nothing but SASL (and version) before authentication:
     * memcached checks this before the opcode and its lengths */
    uint8_t op = r.bin.opcode;
    if (!pc->authenticated && op != BIN_SASL_LIST && op != BIN_SASL_AUTH &&
        op != BIN_SASL_STEP && op != BIN_VERSION) {
        bin_error(pc, BIN_AUTH_ERROR);
        return PROTO_CLOSE;
    }
    if (r.bin.status != 0) {
        bin_error(pc, r.bin.status);
        if (r.bin.close)
            return PROTO_CLOSE;
        if (r.bin.swallow > 0) {
            pc->swallow = r.bin.swallow;
            return PROTO_SWALLOW;
        }
        return PROTO_NEXT;
    }
    switch (r.cmd) {
    case CMD_GET:
        bin_get(pc, &r, false, true);
        break;
    case CMD_GAT:
        bin_get(pc, &r, true, true);
        break;
    case CMD_TOUCH:
        bin_get(pc, &r, true, false);
        break;
    case CMD_STATS:
        bin_stats(pc, &r);
        break;
    case CMD_SET: case CMD_ADD: case CMD_REPLACE: case CMD_CAS:
    case CMD_APPEND: case CMD_PREPEND:
        return proto_store(pc, &r);
    case CMD_DELETE:
        bin_delete(pc, &r);
        break;
    case CMD_INCR: case CMD_DECR:
        bin_delta(pc, &r);
        break;
    case CMD_QUIT:
        pc->close_reason = WATCH_CLOSE_NORMAL;
        if (!pc->bin.quiet)
            bin_ok(pc, 0);
        return PROTO_CLOSE;
    case CMD_FLUSH_ALL:
        if (!proto_env.flush_enabled) {
            bin_error(pc, BIN_AUTH_ERROR);  /* (not counted, as memcached) */
            break;
        }
        STAT_INC(pc->stats, cmd_flush);
        proto_flush_at(r.exptime);
        if (!pc->bin.quiet)
            bin_ok(pc, 0);
        break;
    case CMD_NOOP:
        bin_ok(pc, 0);
        break;
    case CMD_VERSION: {
        size_t nv = strlen(proto_env.version);
        bin_header(pc, BIN_SUCCESS, 0, 0, (uint32_t)nv, 0);
        obuf_add(pc->out, proto_env.version, nv);
        break;
    }
    case CMD_SASL_LIST: case CMD_SASL_AUTH: case CMD_SASL_STEP:
        return sasl_packet(pc, &r);
    default:
        bin_error(pc, BIN_UNKNOWN_COMMAND);
        break;
    }
    if (r.bin.swallow > 0) {
        /* Touch/GAT/Stat carrying a value: memcached reads those bytes as
         * the next request (a desync); we skip them */
        pc->swallow = r.bin.swallow;
        return PROTO_SWALLOW;
    }
    return PROTO_NEXT;
}
