/*
 * udp.c -- memcached's UDP protocol (-U): a request datagram in, its
 * replies out in numbered datagrams (see net.h; doc/udp.md has the wire
 * format and every rule taken from memcached 1.6.18, doc/security.md why
 * UDP is off unless asked for).
 *
 * Sockets: listener.c binds one UDP socket per -l address and hands it to
 * udp_add_socket().  udp_worker_attach() gives every worker a descriptor
 * of its own for every socket (the first worker the socket itself, the
 * others a dup, as memcached does) with an EV_READ event: every worker
 * reads every UDP socket and the kernel gives each datagram to one of
 * them.  Each (worker, descriptor) pair is a struct udp_conn, counted in
 * curr_connections as memcached counts its UDP "connections".
 *
 * A datagram: 8 bytes of frame header (request id, sequence number,
 * datagram count, reserved; big-endian u16s), then requests.  As memcached:
 * a datagram of 8 bytes or less is ignored, one whose count is not 1 is
 * dropped silently (requests spanning datagrams are not supported), the
 * sequence number and the reserved field are not looked at.  The requests
 * run through the connection byte loop, feed_run(), one at a time, with a
 * struct feed and proto_conn of the datagram's own: text, meta or binary
 * (first byte 0x80, whatever -B says: memcached decides per datagram).
 * Nothing carries over from one datagram to the next: a request left
 * incomplete at its end (a value cut short, a line without its newline) is
 * dropped with whatever it had answered, and "quit" or an error that
 * closes a TCP connection ends the datagram.
 *
 * Replies, as memcached 1.6.18 cuts them: every reply is a "unit", and a
 * unit of n bytes goes out as ceil(n / 1392) datagrams (1400 bytes with
 * the header), numbered 0..total-1, each carrying the request id.  A
 * request's reply is one unit, except a text get/gets/gat/gats: one unit
 * per key found ("VALUE ...\r\n<data>\r\n"), "END\r\n" joined to the unit
 * of the last key when that key was found, else a unit of its own.  A
 * request that answers nothing is no unit (noreply, meta q) or an empty
 * unit (text quit, a binary quiet command, a get whose first key missed):
 * an empty unit is one datagram of just a header (count 0) when it comes
 * first in a batch of replies, else nothing.  A text get ends a batch.
 *
 * Bounds: a datagram is at most 64 KB of requests.  Its replies are cut
 * into datagrams as they are produced; a multiget pauses at PROTO_OUT_HIGH
 * like on TCP and goes on once what it produced is sent.  When the socket
 * is full (EAGAIN) the descriptor waits for EV_WRITE (it reads nothing
 * meanwhile; the other workers go on reading) with at most one paused
 * reply held; a send that fails otherwise drops the rest of that
 * datagram's replies (its requests still run).  At most -R requests run
 * per turn, then the descriptor yields to the worker's other clients.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conn.h"
#include "log.h"
#include "platform.h"

#define UDP_HDR         8
#define UDP_DGRAM_MAX   1400            /* header included (memcached's UDP_MAX_PAYLOAD_SIZE) */
#define UDP_DATA_MAX    (UDP_DGRAM_MAX - UDP_HDR)
#define UDP_BATCH       32              /* datagrams built before they are sent */
#define UDP_READS       16              /* datagrams read per event */
#define UDP_SNDBUF      (4 << 20)       /* asked for; the system may grant less */
#define KEY_COPY        250             /* longest valid key */
#define PEEK_MAX        320             /* a "VALUE <key> <flags> <bytes> <cas>\r\n" line */

/* One bound UDP socket (main thread; read-only while workers run). */
struct udp_sock {
    struct udp_sock *next;
    int              fd;
    char             name[128];
};

/* What kind of reply the request being run gives (how it is cut). */
enum reply_kind {
    REPLY_ONE,                          /* one unit, no unit if empty */
    REPLY_BINARY,                       /* one unit, an empty one if empty */
    REPLY_QUIT,                         /* text quit: an empty unit */
    REPLY_GET,                          /* text get family: a unit per hit */
};

/* A worker's descriptor for one UDP socket, and the datagram it answers. */
struct udp_conn {
    struct udp_conn *next;              /* worker->udp */
    struct udp_conn *all_next;          /* every udp_conn, for stats conns */
    struct worker   *w;
    const struct udp_sock *sock;
    int              fd;
    bool             own_fd;            /* a dup, closed at detach */
    struct event     ev;
    short            evmask;
    _Atomic rel_time_t last_cmd;        /* shared: "stats conns" */

    /* the datagram being answered */
    bool             busy;
    char            *held;              /* its requests not run yet, while */
    size_t           held_len;          /* its turn is suspended */
    struct sockaddr_storage peer;
    socklen_t        peerlen;
    uint16_t         rid;               /* request id, echoed */
    bool             done;              /* nothing more of it runs */
    bool             dead;              /* sending failed: replies dropped */
    struct feed      feed;
    struct proto_conn pc;
    struct obuf      out;

    /* the request being run, and how its reply is cut */
    bool             in_req;            /* started (a paused multiget) */
    enum reply_kind  kind;
    bool             final;             /* its reply is complete */
    bool             first;             /* get: no unit cut from it yet */
    size_t           nkeys;             /* get: keys asked for */
    char             key0[KEY_COPY], keyn[KEY_COPY]; /* get: first, last */
    size_t           nkey0, nkeyn;
    bool             batch_head;        /* the next unit starts a batch */
    bool             end_batch;         /* the request ends one (get) */

    /* the unit being cut into datagrams */
    bool             empty_due;         /* an empty unit to send */
    size_t           unit_left;         /* bytes of it still in out */
    uint16_t         seq, total;

    /* datagrams built, not sent yet: dgram[sent..built) */
    char           (*dgram)[UDP_DGRAM_MAX];
    struct iovec     dv[UDP_BATCH];
    int              built, sent;
};

static struct udp_sock *socks;          /* main thread */
static struct udp_conn *all;            /* built before workers run */

int
udp_add_socket(int fd, const char *name, char *err, size_t errlen)
{
    struct udp_sock *s = calloc(1, sizeof(*s));
    if (s == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    s->fd = fd;
    snprintf(s->name, sizeof(s->name), "%s", name);
    /* a reply of a few hundred datagrams goes out without EAGAIN */
    platform_udp_sndbuf(fd, UDP_SNDBUF);
    /* appended: stats conns lists the sockets in binding order */
    struct udp_sock **pp = &socks;
    while (*pp != NULL)
        pp = &(*pp)->next;
    *pp = s;
    return 0;
}

static void on_event(evutil_socket_t fd, short what, void *arg);

static void
set_events(struct udp_conn *u, short mask)
{
    net_set_events(&u->ev, &u->evmask, u->w->base, u->fd, mask, on_event, u);
}

int
udp_worker_attach(struct worker *w, char *err, size_t errlen)
{
    for (const struct udp_sock *s = socks; s != NULL; s = s->next) {
        struct udp_conn *u = calloc(1, sizeof(*u));
        if (u == NULL) {
            snprintf(err, errlen, "out of memory for UDP");
            return -1;
        }
        u->w = w;
        u->sock = s;
        u->own_fd = w->id != 0;
        u->fd = u->own_fd ? platform_dup(s->fd) : s->fd;
        if (u->fd < 0) {
            snprintf(err, errlen, "dup of UDP socket %s: %s", s->name, strerror(errno));
            free(u);
            return -1;
        }
        obuf_init(&u->out);
        atomic_store(&u->last_cmd, clock_now());
        u->next = w->udp;
        w->udp = u;
        struct udp_conn **pp = &all;    /* in attach order, for stats conns */
        while (*pp != NULL)
            pp = &(*pp)->all_next;
        *pp = u;
        set_events(u, EV_READ);
        /* memcached counts each thread's UDP descriptor as a connection */
        atomic_fetch_add(&net_counters.curr_conns, 1);
        atomic_fetch_add(&net_counters.total_conns, 1);
        atomic_fetch_add(&net_counters.conn_structures, 1);
    }
    return 0;
}

/* The datagram is over: release what it held. */
static void
end_datagram(struct udp_conn *u)
{
    proto_conn_deinit(&u->pc);
    obuf_reset(&u->out);
    free(u->held);
    u->held = NULL;
    u->held_len = 0;
    u->busy = false;
    u->in_req = false;
    u->empty_due = false;
    u->unit_left = 0;
    u->built = u->sent = 0;
}

void
udp_worker_detach(struct worker *w)
{
    for (struct udp_conn *u = w->udp; u != NULL; u = u->next) {
        set_events(u, 0);
        if (u->busy)
            end_datagram(u);
        obuf_deinit(&u->out);
        free(u->dgram);
        u->dgram = NULL;
        if (u->own_fd)
            evutil_closesocket(u->fd);
        atomic_fetch_sub(&net_counters.curr_conns, 1);
    }
    /* the structs stay until udp_close(): stats conns may read them */
}

void
udp_close(void)
{
    while (all != NULL) {
        struct udp_conn *u = all;
        all = u->all_next;
        free(u);
    }
    while (socks != NULL) {
        struct udp_sock *s = socks;
        socks = s->next;
        evutil_closesocket(s->fd);
        free(s);
    }
}

void
udp_stats_conns(struct obuf *o)
{
    rel_time_t now = clock_now();
    for (const struct udp_conn *u = all; u != NULL; u = u->all_next) {
        rel_time_t last = atomic_load_explicit(&u->last_cmd, memory_order_relaxed);
        /* memcached's lines, "UDP UDP" included */
        obuf_printf(o, "STAT %d:UDP UDP\r\n", u->fd);
        obuf_printf(o, "STAT %d:addr %s\r\n", u->fd, u->sock->name);
        obuf_printf(o, "STAT %d:state conn_read\r\n", u->fd);
        obuf_printf(o, "STAT %d:secs_since_last_cmd %u\r\n", u->fd, now > last ? now - last : 0);
    }
}

/* ---- queued output ---- */

/* Copy n bytes from offset off of the queued output (no more than it
 * holds); returns the count. */
static size_t
out_peek(const struct obuf *o, size_t off, char *dst, size_t n)
{
    size_t got = 0;
    for (int i = o->iov_done; i < o->niov && got < n; i++) {
        const struct iovec *v = &o->iov[i];
        if (off >= v->iov_len) {
            off -= v->iov_len;
            continue;
        }
        size_t k = v->iov_len - off;
        if (k > n - got)
            k = n - got;
        memcpy(dst + got, (const char *)v->iov_base + off, k);
        got += k;
        off = 0;
    }
    return got;
}

/* Move the first n bytes of the queued output to dst (NULL: drop them).
 * Once everything is taken the obuf is reset, which releases the items
 * whose values were referenced. */
static void
out_take(struct obuf *o, char *dst, size_t n)
{
    while (n > 0 && o->iov_done < o->niov) {
        struct iovec *v = &o->iov[o->iov_done];
        size_t k = v->iov_len < n ? v->iov_len : n;
        if (dst != NULL) {
            memcpy(dst, v->iov_base, k);
            dst += k;
        }
        v->iov_base = (char *)v->iov_base + k;
        v->iov_len -= k;
        o->pending -= k;
        n -= k;
        if (v->iov_len == 0)
            o->iov_done++;
    }
    if (o->pending == 0)
        obuf_reset(o);
}

/* ---- sending ---- */

/* Send the datagrams built; false while the socket is full. */
static bool
send_built(struct udp_conn *u)
{
    while (u->sent < u->built) {
        int n = platform_udp_send(u->fd, (struct sockaddr *)&u->peer, u->peerlen,
                                  u->dv + u->sent, u->built - u->sent);
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return false;
            /* the peer cannot be reached: the rest of the replies of
             * this datagram are dropped, its requests still run */
            log_info("<%d UDP send failed: %s", u->fd, strerror(errno));
            u->dead = true;
            break;
        }
        for (int i = u->sent; i < u->sent + n; i++)
            STAT_ADD(&u->w->stats, bytes_written, (uint64_t)u->dv[i].iov_len);
        u->sent += n;
    }
    u->built = u->sent = 0;
    return true;
}

/* Room for one more datagram in the batch (sending a full one); false
 * while the socket is full. */
static bool
room(struct udp_conn *u)
{
    if (u->dgram == NULL) {
        u->dgram = malloc(sizeof(*u->dgram) * UDP_BATCH);
        if (u->dgram == NULL) {
            STAT_INC(&u->w->stats, out_of_memory);
            u->dead = true;
            return true;
        }
    }
    if (u->built < UDP_BATCH)
        return true;
    return send_built(u);
}

static void
put_u16(char *p, uint16_t v)
{
    p[0] = (char)(v >> 8);
    p[1] = (char)(v & 0xff);
}

/* Start a datagram of the current unit: its header; returns its start. */
static char *
new_dgram(struct udp_conn *u, uint16_t seq, uint16_t total)
{
    char *d = u->dgram[u->built];
    put_u16(d, u->rid);
    put_u16(d + 2, seq);
    put_u16(d + 4, total);
    put_u16(d + 6, 0);
    return d;
}

/* Cut the current unit (or the empty one due) into datagrams, as far as
 * the socket takes them; false while it is full. */
static bool
cut_unit(struct udp_conn *u)
{
    if (u->dead) {
        out_take(&u->out, NULL, u->unit_left);
        u->unit_left = 0;
        u->empty_due = false;
        return true;
    }
    if (u->empty_due) {
        if (!room(u))
            return false;
        if (!u->dead) {
            new_dgram(u, 0, 0);
            u->dv[u->built].iov_base = u->dgram[u->built];
            u->dv[u->built].iov_len = UDP_HDR;
            u->built++;
        }
        u->empty_due = false;
    }
    while (u->unit_left > 0) {
        if (!room(u))
            return false;
        if (u->dead) {
            out_take(&u->out, NULL, u->unit_left);
            u->unit_left = 0;
            break;
        }
        size_t k = u->unit_left < UDP_DATA_MAX ? u->unit_left : UDP_DATA_MAX;
        char *d = new_dgram(u, u->seq++, u->total);
        out_take(&u->out, d + UDP_HDR, k);
        u->dv[u->built].iov_base = d;
        u->dv[u->built].iov_len = UDP_HDR + k;
        u->built++;
        u->unit_left -= k;
    }
    return true;
}

/* The next unit is n bytes of queued output. */
static void
unit(struct udp_conn *u, size_t n)
{
    size_t dgrams = (n + UDP_DATA_MAX - 1) / UDP_DATA_MAX;
    u->unit_left = n;
    u->seq = 0;
    u->total = dgrams > 0xffff ? 0xffff : (uint16_t)dgrams;     /* as memcached */
    u->batch_head = false;
}

/* An empty unit: a bare header if it starts the batch. */
static void
empty_unit(struct udp_conn *u)
{
    if (u->batch_head)
        u->empty_due = true;
    u->batch_head = false;
}

/* ---- cutting replies into units ---- */

/* Parse a "VALUE <key> <flags> <bytes>[ <cas>]\r\n" line at p[0..n):
 * the key, and the bytes of the whole value block (line, data, "\r\n").
 * false if p does not hold one. */
static bool
value_block(const char *p, size_t n, const char **key, size_t *nkey, size_t *block)
{
    if (n < 6 || memcmp(p, "VALUE ", 6) != 0)
        return false;
    const char *k = p + 6, *end = p + n;
    const char *q = memchr(k, ' ', (size_t)(end - k));
    if (q == NULL)
        return false;
    *key = k;
    *nkey = (size_t)(q - k);
    q = memchr(q + 1, ' ', (size_t)(end - q - 1));      /* past the flags */
    if (q == NULL)
        return false;
    uint64_t bytes = 0;
    for (q++; q < end && *q >= '0' && *q <= '9'; q++)
        bytes = bytes * 10 + (uint64_t)(*q - '0');
    const char *nl = memchr(q, '\n', (size_t)(end - q));
    if (nl == NULL)
        return false;
    *block = (size_t)(nl + 1 - p) + bytes + 2;
    return true;
}

/* Decide the next unit of a get's queued output (at a point where the
 * output holds whole value blocks, plus END once final). */
static void
next_get_unit(struct udp_conn *u)
{
    char head[PEEK_MAX];
    size_t pending = u->out.pending;
    size_t n = out_peek(&u->out, 0, head, sizeof(head));
    const char *key;
    size_t nkey, block;
    bool value = value_block(head, n, &key, &nkey, &block) && block <= pending;
    bool end = n == 5 && pending == 5 && memcmp(head, "END\r\n", 5) == 0;
    if (u->first) {
        u->first = false;
        /* the first key's unit is empty when it missed (memcached starts
         * a unit per key; the last key's takes the END) */
        if (u->nkeys >= 2 && (end || (value && (nkey != u->nkey0 ||
                                                memcmp(key, u->key0, nkey) != 0)))) {
            empty_unit(u);
            return;
        }
    }
    if (!value) {
        unit(u, pending);               /* END, or an error line */
        return;
    }
    /* the last key found: END joins its unit */
    if (u->final && pending == block + 5 && nkey == u->nkeyn &&
        memcmp(key, u->keyn, nkey) == 0) {
        char tail[5];
        if (out_peek(&u->out, block, tail, 5) == 5 && memcmp(tail, "END\r\n", 5) == 0)
            block += 5;
    }
    unit(u, block);
}

/* Cut the queued output into units and datagrams, as far as the socket
 * takes them; false while it is full.  Called where the byte loop
 * stopped: a request's reply is complete (u->final) or paused. */
static bool
cut_output(struct udp_conn *u)
{
    for (;;) {
        if (!cut_unit(u))
            return false;
        if (u->out.pending == 0)
            break;
        if (u->kind == REPLY_GET)
            next_get_unit(u);
        else
            unit(u, u->out.pending);
    }
    if (u->final && u->end_batch) {
        u->batch_head = true;           /* memcached flushes after a get */
        u->end_batch = false;
    }
    return true;
}

/* ---- running a datagram ---- */

/* Copy a key token into dst (at most KEY_COPY bytes kept). */
static void
keep_key(char *dst, size_t *n, const char *k, size_t nk)
{
    *n = nk < KEY_COPY ? nk : KEY_COPY;
    memcpy(dst, k, *n);
}

/* Look at the request at p[0..n) before it runs: how its reply is cut. */
static void
classify(struct udp_conn *u, const char *p, size_t n)
{
    u->in_req = true;
    u->final = false;
    u->first = true;
    u->end_batch = false;
    bool binary = u->feed.proto == FEED_PROTO_BINARY ||
                  (u->feed.proto == FEED_PROTO_AUTO && (unsigned char)p[0] == BIN_REQ_MAGIC);
    if (binary) {
        u->kind = REPLY_BINARY;
        return;
    }
    u->kind = REPLY_ONE;
    const char *nl = memchr(p, '\n', n);
    const char *end = nl != NULL ? nl : p + n;
    if (end > p && end[-1] == '\r')
        end--;
    /* tokens are separated by spaces (memcached's tokenizer) */
    int t = 0;
    const char *q = p;
    size_t nkeys = 0;
    int skip = 1;                       /* tokens before the keys */
    while (q < end) {
        while (q < end && *q == ' ')
            q++;
        if (q == end)
            break;
        const char *s = q;
        while (q < end && *q != ' ')
            q++;
        size_t len = (size_t)(q - s);
        t++;
        if (t == 1) {
            if (len == 4 && memcmp(s, "quit", 4) == 0) {
                u->kind = REPLY_QUIT;
                return;
            }
            bool get = (len == 3 && memcmp(s, "get", 3) == 0) ||
                       (len == 4 && memcmp(s, "gets", 4) == 0);
            bool gat = (len == 3 && memcmp(s, "gat", 3) == 0) ||
                       (len == 4 && memcmp(s, "gats", 4) == 0);
            if (!get && !gat)
                return;
            skip = gat ? 2 : 1;
            u->kind = REPLY_GET;
            u->end_batch = true;
            continue;
        }
        if (t <= skip)
            continue;
        if (nkeys == 0)
            keep_key(u->key0, &u->nkey0, s, len);
        keep_key(u->keyn, &u->nkeyn, s, len);
        nkeys++;
    }
    u->nkeys = nkeys;
}

/* The request ran to its end (closing: it ended the datagram). */
static void
request_done(struct udp_conn *u, const char *p, bool closing)
{
    u->in_req = false;
    u->final = true;
    if (u->out.pending > 0)
        return;
    switch (u->kind) {
    case REPLY_QUIT:
        empty_unit(u);
        break;
    case REPLY_BINARY:
        /* quiet commands answer with an empty unit; a packet that closes
         * without a reply (bad magic) with nothing, QuitQ excepted */
        if (!closing || ((unsigned char)p[0] == BIN_REQ_MAGIC && (unsigned char)p[1] == 0x17))
            empty_unit(u);
        break;
    default:
        break;                          /* noreply, meta q: no unit */
    }
}

/* Keep buf[from..len) for the datagram's next turn. */
static bool
hold(struct udp_conn *u, const char *buf, size_t from, size_t len)
{
    size_t n = len - from;
    if (buf == u->held) {
        memmove(u->held, u->held + from, n);
        u->held_len = n;
        return true;
    }
    char *p = malloc(n > 0 ? n : 1);
    if (p == NULL)
        return false;
    memcpy(p, buf + from, n);
    free(u->held);
    u->held = p;
    u->held_len = n;
    return true;
}

/*
 * Run the datagram's requests from buf[0..len) (the worker's read buffer
 * or u->held) and send their replies, until every request has run and
 * every reply is sent; or until the socket is full (wait for EV_WRITE) or
 * the turn is over (yield).  What has not run is then kept in u->held.
 */
static void
run(struct udp_conn *u, char *buf, size_t len)
{
    size_t pos = 0;
    int turn = 0;
    for (;;) {
        if (!cut_output(u)) {
            if (!hold(u, buf, pos, len))
                break;
            set_events(u, EV_WRITE);
            return;
        }
        if (u->done || (pos == len && !u->in_req))
            break;
        if (turn >= conn_opts->reqs_per_event) {
            if (!hold(u, buf, pos, len))
                break;
            set_events(u, EV_READ);
            event_active(&u->ev, EV_READ, 0);   /* our next turn */
            return;
        }
        turn++;
        if (!u->in_req)
            classify(u, buf + pos, len - pos);
        const char *req = buf + pos;
        enum feed_status st;
        pos += feed_run(&u->feed, &u->pc, buf + pos, len - pos, 1, &st);
        if (u->out.oom) {
            /* a reply could not be built in full: drop it, stop here */
            STAT_INC(&u->w->stats, out_of_memory);
            obuf_reset(&u->out);
            u->done = true;
            u->in_req = false;
            continue;
        }
        switch (st) {
        case FEED_YIELD:
            request_done(u, req, false);
            break;
        case FEED_NEED_INPUT:
            if (u->feed.state == FEED_LINE && pos == len) {
                request_done(u, req, false);
            } else {
                /* incomplete: memcached answers nothing for it */
                obuf_reset(&u->out);
                u->in_req = false;
                u->done = true;
            }
            break;
        case FEED_OUTPUT_FULL:
            break;                      /* a paused multiget: cut, then resume */
        case FEED_DEFER:
            /* the slow requests (snapshot) run on a thread of their own
             * for TCP clients only */
            feed_defer_done(&u->feed, &u->pc, "not available over UDP");
            request_done(u, req, false);
            break;
        case FEED_CLOSE:
        case FEED_WATCH:            /* a datagram cannot become a watcher */
            request_done(u, req, true);
            u->done = true;
            break;
        }
    }
    /* everything has run: send the rest */
    if (!send_built(u)) {
        u->done = true;
        if (hold(u, buf, len, len)) {
            set_events(u, EV_WRITE);
            return;
        }
    }
    end_datagram(u);
    set_events(u, EV_READ);
}

/* A datagram of n > 8 bytes arrived in buf. */
static void
datagram(struct udp_conn *u, char *buf, size_t n)
{
    const unsigned char *h = (const unsigned char *)buf;
    STAT_ADD(&u->w->stats, bytes_read, (uint64_t)n);
    if (h[4] != 0 || h[5] != 1)
        return;                         /* spans datagrams: dropped, as memcached */
    atomic_store_explicit(&u->last_cmd, clock_now(), memory_order_relaxed);
    u->rid = (uint16_t)(h[0] << 8 | h[1]);
    u->busy = true;
    u->done = false;
    u->dead = false;
    u->in_req = false;
    u->batch_head = true;
    feed_init(&u->feed);                /* FEED_PROTO_AUTO: per datagram */
    proto_conn_init(&u->pc, &u->out, &u->w->stats, u->fd);
    run(u, buf + UDP_HDR, n - UDP_HDR);
}

static void
on_event(evutil_socket_t fd, short what, void *arg)
{
    struct udp_conn *u = arg;
    struct worker *w = u->w;
    (void)what;
    if (u->busy) {
        /* writable again, or our turn again: go on with the datagram */
        run(u, u->held, u->held_len);
        return;
    }
    for (int i = 0; i < UDP_READS && !u->busy; i++) {
        socklen_t plen = sizeof(u->peer);
        bool truncated = false;
        ssize_t n = platform_udp_recv(fd, w->rbuf, w->rbuf_size, &u->peer, &plen, &truncated);
        if (n < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                log_info("<%d UDP receive failed: %s", u->fd, strerror(errno));
            return;
        }
        if (n <= UDP_HDR || truncated)
            continue;                   /* no request, or more than fits */
        u->peerlen = plen;
        datagram(u, w->rbuf, (size_t)n);
    }
}
