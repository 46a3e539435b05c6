/*
 * feed.c -- the socket-free byte loop of a connection (see feed.h).
 */
#include "feed.h"

#include <string.h>

#include "clock.h"
#include "item.h"

void
feed_init(struct feed *f)
{
    memset(f, 0, sizeof(*f));
    f->state = FEED_LINE;
}

/* Could this incomplete line be a legal long multiget? */
static bool
multiget_prefix(const char *p, size_t n)
{
    size_t i = 0;
    while (i < n && i <= 100 && p[i] == ' ')
        i++;
    if (i > 100)
        return false;
    return (n - i >= 4 && memcmp(p + i, "get ", 4) == 0) ||
           (n - i >= 5 && memcmp(p + i, "gets ", 5) == 0);
}

/* Account for n value bytes having landed in the item. */
void
feed_value_advance(struct feed *f, struct proto_conn *pc, size_t n)
{
    struct iovec *v = proto_value_iov(pc);
    f->vleft -= n;
    while (n > 0) {
        size_t room = v[f->vseg].iov_len - f->vsegoff;
        if (n >= room) {
            n -= room;
            f->vseg++;
            f->vsegoff = 0;
        } else {
            f->vsegoff += n;
            n = 0;
        }
    }
    if (f->vleft == 0)
        f->state = FEED_VALUE_END;
}

int
feed_value_iov(const struct feed *f, struct proto_conn *pc, struct iovec *iov, int max)
{
    struct iovec *v = proto_value_iov(pc);
    size_t want = f->vleft;
    int n = 0;
    for (int i = f->vseg; i < pc->nviov && n < max && want > 0; i++) {
        size_t off = i == f->vseg ? f->vsegoff : 0;
        size_t k = v[i].iov_len - off;
        if (k > want)
            k = want;
        iov[n].iov_base = (char *)v[i].iov_base + off;
        iov[n].iov_len = k;
        want -= k;
        n++;
    }
    return n;
}

/* Copy value bytes into the pending item; returns bytes used. */
static size_t
copy_value(struct feed *f, struct proto_conn *pc, const char *p, size_t n)
{
    struct iovec iov[8];
    size_t used = 0;
    while (f->vleft > 0 && used < n) {
        int cnt = feed_value_iov(f, pc, iov, 8);
        size_t k = 0;
        for (int i = 0; i < cnt && used + k < n; i++) {
            size_t m = iov[i].iov_len;
            if (m > n - used - k)
                m = n - used - k;
            memcpy(iov[i].iov_base, p + used + k, m);
            k += m;
        }
        feed_value_advance(f, pc, k);
        used += k;
    }
    return used;
}

void
feed_defer_done(struct feed *f, struct proto_conn *pc, const char *err)
{
    proto_defer_done(pc, err);
    if (f->state == FEED_DEFERRED)
        f->state = FEED_LINE;
}

/* Act on what a request asked for; returns false to stop with *st. */
static bool
run_action(struct feed *f, struct proto_conn *pc, enum proto_action a,
           enum feed_status *st)
{
    switch (a) {
    case PROTO_NEXT:
        return true;
    case PROTO_READ_VALUE:
        f->vleft = pc->vlen;
        f->vseg = 0;
        f->vsegoff = 0;
        f->state = f->vleft == 0 ? FEED_VALUE_END : FEED_VALUE;
        return true;
    case PROTO_SWALLOW:
        f->state = FEED_SWALLOW;
        f->swallow = pc->swallow;
        return true;
    case PROTO_PAUSE:
        *st = FEED_OUTPUT_FULL;
        return false;
    case PROTO_CLOSE:
    case PROTO_CLOSE_NOW:
        f->state = FEED_CLOSING;
        *st = FEED_CLOSE;
        return false;
    case PROTO_DEFER:
        f->state = FEED_DEFERRED;
        *st = FEED_DEFER;
        return false;
    case PROTO_WATCH:
        f->state = FEED_CLOSING;    /* nothing more is parsed */
        *st = FEED_WATCH;
        return false;
    }
    return true;
}

/* Binary: the keys of the complete packets from p on (at most
 * ITEM_BATCH_MAX) are prefetched, so the lookups of a pipeline of Gets
 * overlap their cache misses as a text multiget's do (the lines of a
 * text pipeline: prefetch_lines).  Returns how many
 * packets it looked at (their keys are warm until they run). */
static int
prefetch_packets(const char *p, size_t n)
{
    const char *keys[ITEM_BATCH_MAX];
    size_t nkeys[ITEM_BATCH_MAX];
    bool store[ITEM_BATCH_MAX];
    int npk = 0, nk = 0;
    size_t off = 0;
    while (npk < ITEM_BATCH_MAX && n - off >= BIN_HDR_LEN) {
        const unsigned char *h = (const unsigned char *)p + off;
        size_t keylen = (size_t)h[2] << 8 | h[3], extlen = h[4];
        size_t body = (size_t)h[8] << 24 | (size_t)h[9] << 16 | (size_t)h[10] << 8 | h[11];
        if (h[0] != BIN_REQ_MAGIC || extlen + keylen > body || body > n - off - BIN_HDR_LEN)
            break;
        if (keylen > 0 && keylen <= ITEM_KEY_MAX) {
            keys[nk] = p + off + BIN_HDR_LEN + extlen;
            store[nk] = h[1] == BIN_SET || h[1] == BIN_SETQ;
            nkeys[nk++] = keylen;
        }
        off += BIN_HDR_LEN + body;
        npk++;
    }
    if (nk > 1)
        item_prefetch(keys, nkeys, store, nk);
    return npk;
}

/* Text: the same for the complete lines from p on that read one key
 * first (get/gets/mg, the first key of a line: a multiget's others are
 * prefetched by item_get_many; set and ms, whose store looks the key up
 * too; a data block that happens to look like one costs a useless hint).
 * Returns how many lines it looked at. */
static int
prefetch_lines(const char *p, size_t n)
{
    const char *keys[ITEM_BATCH_MAX];
    size_t nkeys[ITEM_BATCH_MAX];
    bool store[ITEM_BATCH_MAX];
    int nl = 0, nk = 0;
    const char *end = p + n;
    while (nl < ITEM_BATCH_MAX && p < end) {
        const char *e = memchr(p, '\n', (size_t)(end - p));
        if (e == NULL)
            break;
        size_t skip = (e - p > 4 && memcmp(p, "get ", 4) == 0) ? 4 :
                      (e - p > 5 && memcmp(p, "gets ", 5) == 0) ? 5 :
                      (e - p > 3 && memcmp(p, "mg ", 3) == 0) ? 3 :
                      (e - p > 4 && memcmp(p, "set ", 4) == 0) ? 4 :
                      (e - p > 3 && memcmp(p, "ms ", 3) == 0) ? 3 : 0;
        if (skip > 0) {
            const char *k = p + skip, *q = k;
            while (q < e && *q != ' ' && *q != '\r')
                q++;
            if (q > k && q - k <= ITEM_KEY_MAX) {
                keys[nk] = k;
                store[nk] = *p == 's' || (p[0] == 'm' && p[1] == 's');
                nkeys[nk++] = (size_t)(q - k);
            }
        }
        p = e + 1;
        nl++;
    }
    if (nk > 1)
        item_prefetch(keys, nkeys, store, nk);
    return nl;
}

/* Run one request line buf[pos..nl); returns false to stop with *st. */
static bool
run_line(struct feed *f, struct proto_conn *pc, char *line, size_t l,
         bool last, enum feed_status *st)
{
    if (l > 0 && line[l - 1] == '\r')
        l--;
    pc->last_in_batch = last;
    return run_action(f, pc, proto_line(pc, line, l), st);
}

size_t
feed_run(struct feed *f, struct proto_conn *pc, char *buf, size_t len,
         int max_reqs, enum feed_status *st)
{
    size_t pos = 0;
    int nreq = 0;
    *st = FEED_NEED_INPUT;
    for (;;) {
        switch (f->state) {
        case FEED_LINE: {
            if (pos == len)
                return pos;
            if (pc->out->pending >= PROTO_OUT_HIGH) {
                *st = FEED_OUTPUT_FULL;
                return pos;
            }
            if (nreq >= max_reqs) {
                *st = FEED_YIELD;
                return pos;
            }
            if (f->proto == FEED_PROTO_AUTO)
                f->proto = (unsigned char)buf[pos] == BIN_REQ_MAGIC ? FEED_PROTO_BINARY
                                                                     : FEED_PROTO_TEXT;
            if (f->proto == FEED_PROTO_BINARY) {
                /* a packet: its header, then what binary_need() asks for */
                pc->binary = true;
                if (len - pos < BIN_HDR_LEN)
                    return pos;
                size_t need = binary_need((const unsigned char *)buf + pos);
                if (len - pos < need)
                    return pos;
                if (f->prefetched == 0)
                    f->prefetched = prefetch_packets(buf + pos, len - pos);
                if (f->prefetched > 0)
                    f->prefetched--;
                nreq++;
                pc->last_in_batch = pos + need == len;
                if (!run_action(f, pc, proto_packet(pc, buf + pos, need), st)) {
                    if (*st != FEED_OUTPUT_FULL)
                        pos += need;
                    return pos;
                }
                pos += need;
                break;
            }
            size_t skip = pos == 0 ? f->rscan : 0;
            char *nl = memchr(buf + pos + skip, '\n', len - pos - skip);
            if (nl == NULL) {
                f->rscan = len - pos;
                if (len - pos > FEED_LINE_MAX_PLAIN && !multiget_prefix(buf + pos, len - pos)) {
                    f->line_too_long = true;
                    f->state = FEED_CLOSING;
                    *st = FEED_CLOSE;
                }
                return pos;
            }
            f->rscan = 0;
            char *line = buf + pos;
            size_t l = (size_t)(nl - line);
            if (f->prefetched == 0 && (size_t)(nl - buf) + 1 < len)
                f->prefetched = prefetch_lines(line, len - pos);
            if (f->prefetched > 0)
                f->prefetched--;
            nreq++;
            if (!run_line(f, pc, line, l, pos + l + 1 == len, st)) {
                /* a paused multiget keeps its line for the resume */
                if (*st != FEED_OUTPUT_FULL)
                    pos += l + 1;
                else
                    f->rscan = l;
                return pos;
            }
            pos += l + 1;
            break;
        }
        case FEED_VALUE:
            pos += copy_value(f, pc, buf + pos, len - pos);
            if (f->vleft > 0)
                return pos;
            break;
        case FEED_VALUE_END: {
            if (f->proto == FEED_PROTO_BINARY) {
                /* a binary value ends with the packet: no "\r\n" */
                f->state = FEED_LINE;
                proto_value_done(pc, true);
                break;
            }
            if (len - pos < 2)
                return pos;
            bool ok = buf[pos] == '\r' && buf[pos + 1] == '\n';
            pos += 2;
            f->state = FEED_LINE;
            proto_value_done(pc, ok);
            break;
        }
        case FEED_SWALLOW: {
            size_t k = len - pos;
            if (k > f->swallow)
                k = (size_t)f->swallow;
            pos += k;
            f->swallow -= k;
            if (f->swallow > 0)
                return pos;
            f->state = FEED_LINE;
            break;
        }
        case FEED_DEFERRED:
            *st = FEED_DEFER;
            return pos;
        case FEED_CLOSING:
            *st = FEED_CLOSE;
            return pos;
        }
    }
}
