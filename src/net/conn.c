/*
 * conn.c -- a connection's socket side (worker thread): reads, writes,
 * events, timeouts.  The byte loop itself (parse, execute, compose) is
 * feed_run() in src/proto/feed.c; this file feeds it and flushes.
 *
 * Input: a read goes into the worker's shared buffer; complete requests
 * are run at once and only the unconsumed tail is copied into a buffer of
 * the connection's own, so an idle connection holds no read buffer.  Read
 * buffers are bounded per connection (rbuf_max) and, above RBUF_SMALL,
 * all together (rbuf_mem_limit): a request that would pass either gets
 * "SERVER_ERROR out of memory reading request" and the connection closes.
 * Values are copied straight into item memory, and a large value whose
 * bytes have not arrived yet is read from the socket directly into it.
 *
 * Output: the replies of everything run from one read are queued in the
 * connection's obuf and written with one sendmsg() (more only if the
 * socket is full), at the end of the worker's loop turn, after every
 * connection that was ready in it has run (conn_flush_queued; see
 * finish()).  While output is pending nothing more is read or run,
 * and a multiget whose reply reaches PROTO_OUT_HIGH pauses until the
 * client has read: memory per client stays bounded.  Output that does
 * not move for write_timeout seconds closes the connection.
 *
 * TLS (-Z): the same loop, with tls_read/tls_flush (tls.h) in place of
 * read/sendmsg; a TLS connection first runs its handshake from the same
 * events (bounded by ssl_handshake_timeout) and only then reads requests.
 * Decrypted bytes OpenSSL still holds when our buffer filled are not
 * signalled by the socket, so the connection re-arms itself for them.
 *
 * Nothing received is lost: after the client shuts its sending side
 * (EOF), every complete request already received still runs and is
 * answered while the client reads; if writing fails, the requests still
 * run and their replies are dropped.
 *
 * Fairness: at most -R requests per turn; then the connection yields
 * (event_active, input_waits) so other clients of this worker get theirs,
 * and its next turn runs the buffered requests before reading again.  The
 * replies of a yielded turn are written with the next turn's unless they
 * already pass YIELD_FLUSH_MIN.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conn.h"
#include "log.h"
#include "platform.h"
#include "watch.h"

const struct net_options *conn_opts;

/* At a fairness yield, output below this waits for the next turn. */
#define YIELD_FLUSH_MIN (64u << 10)
/* Replies a worker holds for the end of its turn (finish()): a reply of
 * YIELD_FLUSH_MIN or more is written at once (it gains nothing from
 * waiting), and so is any reply that would take the turn's held output
 * past FLUSH_QUEUE_MAX, which bounds what the batching holds per worker. */
#define FLUSH_QUEUE_MAX (1u << 20)

/* Values at least this large are read from the socket straight into the
 * item when no input is buffered. */
#define DIRECT_READ_MIN 16384

static void on_event(evutil_socket_t fd, short what, void *arg);
static void finish(struct conn *c);
static void unqueue_flush(struct conn *c);

void
net_set_events(struct event *ev, short *cur, struct event_base *base, int fd, short mask,
               event_callback_fn cb, void *arg)
{
    if (*cur == mask)
        return;
    if (*cur != 0)
        event_del(ev);
    *cur = mask;
    if (mask == 0)
        return;
    event_assign(ev, base, fd, mask | EV_PERSIST, cb, arg);
    event_add(ev, NULL);
}

static void
set_events(struct conn *c, short mask)
{
    net_set_events(&c->ev, &c->evmask, c->w->base, c->fd, mask, on_event, c);
}

/* The peer: c->addr as "stats conns" shows it, c->rip/c->rport as watch
 * shows them. */
static void
peer_name(struct conn *c)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    if (c->is_unix) {
        snprintf(c->addr, sizeof(c->addr), "unix:");
        snprintf(c->rip, sizeof(c->rip), "unix");
        return;
    }
    if (getpeername(c->fd, (struct sockaddr *)&ss, &len) != 0) {
        snprintf(c->addr, sizeof(c->addr), "tcp:?");
        return;
    }
    if (ss.ss_family == AF_INET6) {
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
        evutil_inet_ntop(AF_INET6, &s6->sin6_addr, c->rip, sizeof(c->rip));
        c->rport = ntohs(s6->sin6_port);
        snprintf(c->addr, sizeof(c->addr), "tcp6:[%s]:%u", c->rip, c->rport);
    } else {
        struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
        evutil_inet_ntop(AF_INET, &s4->sin_addr, c->rip, sizeof(c->rip));
        c->rport = ntohs(s4->sin_port);
        snprintf(c->addr, sizeof(c->addr), "tcp:%s:%u", c->rip, c->rport);
    }
}

struct conn *
conn_create(struct worker *w, int fd, bool is_unix, bool tls, const char *listen_addr)
{
    struct conn *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return NULL;
    if (tls) {
        c->tls = tls_conn_new(fd);
        if (c->tls == NULL) {
            free(c);
            return NULL;
        }
        c->handshaking = true;
    }
    c->created = clock_now();
    c->fd = fd;
    c->w = w;
    c->is_unix = is_unix;
    feed_init(&c->feed);
    c->feed.proto = (enum feed_proto)conn_opts->protocol;
    obuf_init(&c->out);
    proto_conn_init(&c->pc, &c->out, &w->stats, fd);
    peer_name(c);
    snprintf(c->listen_addr, sizeof(c->listen_addr), "%s", listen_addr);
    atomic_store(&c->last_cmd, clock_now());
    atomic_store(&c->stat_state, FEED_LINE);
    c->evmask = EV_READ;
    event_assign(&c->ev, w->base, fd, EV_READ | EV_PERSIST, on_event, c);
    if (event_add(&c->ev, NULL) != 0) {
        tls_conn_free(c->tls);
        free(c);
        return NULL;
    }
    pthread_mutex_lock(&w->lock);
    c->next = w->conns;
    if (w->conns != NULL)
        w->conns->prev = c;
    w->conns = c;
    pthread_mutex_unlock(&w->lock);

    uint64_t cur = atomic_load(&net_counters.curr_conns) +
                   (uint64_t)atomic_load(&net_counters.listeners);
    uint64_t hw = atomic_load(&net_counters.conn_structures);
    while (cur > hw && !atomic_compare_exchange_weak(&net_counters.conn_structures, &hw, cur))
        ;
    log_info("<%d new client connection", fd);
    if (watch_enabled_for(WATCH_CONNEVENTS))
        watch_conn(true, c->rip, c->rport, c->is_unix ? WATCH_LOCAL : WATCH_TCP, 0, fd);
    return c;
}

/* ---- read buffer accounting ---- */

/* May this connection's buffer grow from `from` to `to` bytes?  Accounts
 * for it if so. */
static bool
rbuf_grant(size_t from, size_t to)
{
    if (to > conn_opts->rbuf_max && to > RBUF_SMALL)
        return false;
    uint64_t big_from = from > RBUF_SMALL ? from : 0;
    uint64_t big_to = to > RBUF_SMALL ? to : 0;
    if (big_to > big_from) {
        uint64_t add = big_to - big_from;
        uint64_t limit = conn_opts->rbuf_mem_limit;
        uint64_t now = atomic_fetch_add(&net_counters.rbuf_big_bytes, add) + add;
        if (limit != 0 && now > limit) {
            atomic_fetch_sub(&net_counters.rbuf_big_bytes, add);
            return false;
        }
    } else {
        atomic_fetch_sub(&net_counters.rbuf_big_bytes, big_from - big_to);
    }
    if (from == 0)
        atomic_fetch_add(&net_counters.rbuf_count, 1);
    if (to == 0)
        atomic_fetch_sub(&net_counters.rbuf_count, 1);
    if (to >= from)
        atomic_fetch_add(&net_counters.rbuf_bytes, to - from);
    else
        atomic_fetch_sub(&net_counters.rbuf_bytes, from - to);
    return true;
}

static void
rbuf_free(struct conn *c)
{
    if (c->rbuf == NULL)
        return;
    rbuf_grant(c->rsize, 0);
    free(c->rbuf);
    c->rbuf = NULL;
    c->rsize = 0;
    c->rlen = 0;
}

/* Resize the connection's buffer to size (>= rlen); false if refused or
 * out of memory (counted). */
static bool
rbuf_resize(struct conn *c, size_t size)
{
    if (!rbuf_grant(c->rsize, size)) {
        STAT_INC(&c->w->stats, read_buf_oom);
        return false;
    }
    char *p = realloc(c->rbuf, size);
    if (p == NULL) {
        rbuf_grant(size, c->rsize);
        STAT_INC(&c->w->stats, read_buf_oom);
        return false;
    }
    c->rbuf = p;
    c->rsize = size;
    return true;
}

/* The request cannot be buffered: memcached's reply, then close. */
static void
refuse_input(struct conn *c)
{
    log_info("<%d read buffer limit reached; closing", c->fd);
    obuf_str(&c->out, "SERVER_ERROR out of memory reading request\r\n");
    c->close_after_write = true;
    c->input_waits = false;
    c->feed.state = FEED_CLOSING;
}

/* Take c off its worker: out of the list, its event, its buffers and
 * references; the socket stays open.  Returns whether it was the
 * worker's last connection. */
static bool
conn_detach(struct conn *c)
{
    struct worker *w = c->w;
    pthread_mutex_lock(&w->lock);
    if (c->prev != NULL)
        c->prev->next = c->next;
    else
        w->conns = c->next;
    if (c->next != NULL)
        c->next->prev = c->prev;
    bool last = w->conns == NULL;
    pthread_mutex_unlock(&w->lock);

    if (c->deferred != NULL)
        c->deferred->c = NULL;      /* its result will be dropped */
    if (c->flush_queued)
        unqueue_flush(c);
    event_del(&c->ev);              /* also when only active (a yield) */
    proto_conn_deinit(&c->pc);
    obuf_deinit(&c->out);
    rbuf_free(c);
    tls_conn_free(c->tls);
    c->tls = NULL;
    return last;
}

void
conn_close(struct conn *c)
{
    struct worker *w = c->w;
    bool last = conn_detach(c);
    log_info("<%d connection closed", c->fd);
    if (watch_enabled_for(WATCH_CONNEVENTS))
        watch_conn(false, c->rip, c->rport, c->is_unix ? WATCH_LOCAL : WATCH_TCP,
                   (enum watch_reason)c->close_reason, c->fd);
    evutil_closesocket(c->fd);
    atomic_fetch_sub(&net_counters.curr_conns, 1);
    free(c);
    if (last && w->stopping)
        event_base_loopbreak(w->base);
}

/* ---- watchers ---- */

/* What the logger needs to close a watcher as conn_close() would. */
struct watcher_peer {
    char     rip[48];
    unsigned rport;
    bool     is_unix;
};

/* The logger is done with a watcher (logger thread).  memcached reports a
 * watcher's end as a close for an error. */
static void
watcher_closed(int fd, void *arg)
{
    struct watcher_peer *p = arg;
    if (watch_enabled_for(WATCH_CONNEVENTS))
        watch_conn(false, p->rip, p->rport, p->is_unix ? WATCH_LOCAL : WATCH_TCP,
                   WATCH_CLOSE_ERROR, fd);
    evutil_closesocket(fd);
    atomic_fetch_sub(&net_counters.curr_conns, 1);
    free(p);
}

/* "watch" ran and its output is written: give the socket to the logger
 * thread (the worker never touches it again), or answer memcached's
 * error and go on as a client.  Returns true when handed over (c freed). */
static bool
become_watcher(struct conn *c)
{
    c->to_watcher = false;
    /* Off this worker's base before the logger can see the descriptor
     * (it may close it at once).  finish() registers it again if the
     * hand-over fails. */
    event_del(&c->ev);
    c->evmask = 0;
    /* The logger writes plain bytes to the socket: a TLS connection
     * cannot be handed over (its records are ours to write). */
    struct watcher_peer *p = c->tls == NULL ? calloc(1, sizeof(*p)) : NULL;
    enum watch_add_status st = WATCH_ADD_FAILED;
    if (c->tls != NULL)
        log_info("<%d watch over TLS is not supported", c->fd);
    if (p != NULL) {
        snprintf(p->rip, sizeof(p->rip), "%s", c->rip);
        p->rport = c->rport;
        p->is_unix = c->is_unix;
        st = watch_add(c->fd, c->pc.watch_flags, NULL, 0, watcher_closed, p);
    }
    if (st == WATCH_ADD_OK) {
        struct worker *w = c->w;
        bool last = conn_detach(c);
        log_info("<%d now a watcher", c->fd);
        free(c);
        if (last && w->stopping)
            event_base_loopbreak(w->base);
        return true;
    }
    free(p);
    obuf_str(&c->out, st == WATCH_ADD_TOO_MANY ?
             "WATCHER_TOO_MANY log watcher limit reached\r\n" :
             "WATCHER_FAILED failed to add log watcher\r\n");
    c->feed.state = FEED_LINE;      /* still a client */
    c->input_waits = c->rlen > 0;
    return false;
}

/* ---- deferred requests ---- */

static void run_input(struct conn *c, char *buf, size_t len);

/* Run the input this connection has buffered. */
static void
run_buffered(struct conn *c)
{
    /* (never a NULL buffer, even when empty) */
    run_input(c, c->rbuf != NULL ? c->rbuf : c->w->rbuf, c->rlen);
}

static void *
deferred_main(void *arg)
{
    struct deferred *d = arg;
    const char *err = d->fn();
    if (err != NULL) {
        d->failed = true;
        snprintf(d->err, sizeof(d->err), "%s", err);
    }
    event_active(&d->ev, EV_READ, 0);   /* thread-safe: evthread_use_pthreads */
    return NULL;
}

/* Unlink d from its worker, and deliver its result to its connection
 * (if still open).  The thread has been joined. */
static struct conn *
deferred_reap(struct deferred *d)
{
    struct worker *w = d->w;
    struct deferred **pp = &w->deferred;
    while (*pp != d)
        pp = &(*pp)->next;
    *pp = d->next;
    event_del(&d->ev);
    struct conn *c = d->c;
    if (c != NULL) {
        c->deferred = NULL;
        feed_defer_done(&c->feed, &c->pc, d->failed ? d->err : NULL);
        atomic_store_explicit(&c->stat_state, c->feed.state, memory_order_relaxed);
    }
    free(d);
    return c;
}

/* The helper thread is done (worker thread): reply and resume. */
static void
on_deferred(evutil_socket_t fd, short what, void *arg)
{
    struct deferred *d = arg;
    (void)fd;
    (void)what;
    pthread_join(d->thread, NULL);
    struct conn *c = deferred_reap(d);
    if (c != NULL)
        run_buffered(c);
}

/* Run pc.defer on a thread of its own; input waits.  If no thread can be
 * started, the request is answered with an error at once. */
static void
start_deferred(struct conn *c)
{
    struct deferred *d = calloc(1, sizeof(*d));
    if (d != NULL) {
        d->c = c;
        d->w = c->w;
        d->fn = c->pc.defer;
        event_assign(&d->ev, c->w->base, -1, 0, on_deferred, d);
        if (pthread_create(&d->thread, NULL, deferred_main, d) == 0) {
            d->next = c->w->deferred;
            c->w->deferred = d;
            c->deferred = d;
            return;
        }
        free(d);
    }
    feed_defer_done(&c->feed, &c->pc, "cannot start a thread for the request");
    c->input_waits = true;
}

void
conn_finish_deferred(struct worker *w)
{
    while (w->deferred != NULL) {
        pthread_join(w->deferred->thread, NULL);
        deferred_reap(w->deferred);
    }
}

/* ---- socket or TLS ---- */

/* read(2)'s contract over either transport: bytes, 0 at EOF, or -1 with
 * errno (EAGAIN: nothing now). */
static ssize_t
tls_errno(size_t n, enum tls_io st)
{
    if (n > 0)
        return (ssize_t)n;
    switch (st) {
    case TLS_EOF:
        return 0;
    case TLS_WANT_READ:
    case TLS_WANT_WRITE:
        errno = EAGAIN;
        return -1;
    default:
        errno = ECONNRESET;
        return -1;
    }
}

static ssize_t
conn_read(struct conn *c, void *buf, size_t n)
{
    if (c->tls == NULL)
        return platform_read(c->fd, buf, n);
    enum tls_io st;
    size_t got = tls_read(c->tls, buf, n, &st);
    return tls_errno(got, st);
}

static ssize_t
conn_readv(struct conn *c, const struct iovec *iov, int n)
{
    if (c->tls == NULL)
        return platform_readv(c->fd, iov, n);
    enum tls_io st;
    size_t got = tls_readv(c->tls, iov, n, &st);
    return tls_errno(got, st);
}

/* obuf_flush's contract over either transport. */
static long
conn_write(struct conn *c)
{
    if (c->tls == NULL)
        return obuf_flush(&c->out, c->fd);
    struct worker *w = c->w;
    if (w->tls_wbuf == NULL && (w->tls_wbuf = malloc(tls_wbuf_size())) == NULL) {
        errno = ENOMEM;
        return -1;
    }
    enum tls_io st;
    long n = tls_flush(c->tls, &c->out, w->tls_wbuf, &st);
    c->tls_write_wants_read = n >= 0 && st == TLS_WANT_READ;
    if (n < 0 && errno == 0)
        errno = ECONNRESET;
    return n;
}

/* ---- the loop ---- */

/* Keep buf[from..len) as this connection's own unconsumed input. */
static bool
keep_tail(struct conn *c, const char *buf, size_t from, size_t len)
{
    size_t n = len - from;
    if (c->rbuf != NULL && buf == c->rbuf) {
        memmove(c->rbuf, c->rbuf + from, n);
        c->rlen = n;
        if (n == 0 && c->rsize > RBUF_SMALL)
            rbuf_free(c);
        return true;
    }
    if (n == 0)
        return true;
    size_t size = n < 4096 ? 4096 : n * 2;
    if (size > conn_opts->rbuf_max && n <= conn_opts->rbuf_max)
        size = conn_opts->rbuf_max;
    rbuf_free(c);
    if (!rbuf_resize(c, size))
        return false;
    memcpy(c->rbuf, buf + from, n);
    c->rlen = n;
    return true;
}

/* Run the input buf[0..len) (c->rbuf or the worker's shared buffer), keep
 * what was not consumed, then flush and pick what to wait for. */
static void
run_input(struct conn *c, char *buf, size_t len)
{
    enum feed_status st;
    c->input_waits = false;
    if (watch_enabled_for(~0u))
        watch_set_cfd(c->fd);       /* the cfd= of what these requests log */
    size_t used = feed_run(&c->feed, &c->pc, buf, len, conn_opts->reqs_per_event, &st);
    if (used > 0)
        atomic_store_explicit(&c->last_cmd, clock_now(), memory_order_relaxed);
    atomic_store_explicit(&c->stat_state, c->feed.state, memory_order_relaxed);
    if (!keep_tail(c, buf, used, len)) {
        refuse_input(c);
    } else {
        switch (st) {
        case FEED_NEED_INPUT:
            break;
        case FEED_YIELD:
        case FEED_OUTPUT_FULL:
            c->input_waits = true;
            break;
        case FEED_DEFER:
            start_deferred(c);
            break;
        case FEED_CLOSE:
            if (c->feed.line_too_long)
                log_info("<%d request line too long; closing", c->fd);
            else
                c->close_reason = c->pc.close_reason;
            c->close_after_write = true;
            break;
        case FEED_WATCH:
            c->to_watcher = true;   /* the rest of the input is dropped */
            break;
        }
    }
    if (c->out.oom) {
        /* a reply could not be built in full: the client would lose sync,
         * so it gets what there is and the connection closes */
        STAT_INC(&c->w->stats, out_of_memory);
        log_warn("<%d out of memory building a reply; closing", c->fd);
        c->close_after_write = true;
        c->input_waits = false;
    }
    finish(c);
}

/* Write what is queued.  A failed write marks the output dead: the
 * client is gone, but the requests it sent still run. */
static void
flush(struct conn *c)
{
    if (obuf_empty(&c->out))
        return;
    if (c->out_dead) {
        obuf_reset(&c->out);
        return;
    }
    long n = conn_write(c);
    if (n < 0) {
        log_info("<%d write failed: %s", c->fd, strerror(errno));
        c->out_dead = true;
        obuf_reset(&c->out);
        return;
    }
    STAT_ADD(&c->w->stats, bytes_written, (uint64_t)n);
    if (obuf_empty(&c->out)) {
        c->out_blocked = false;
    } else if (n > 0 || !c->out_blocked) {
        c->out_blocked = true;
        c->out_since = clock_now();
    }
}

/* Our turn is over; the buffered requests run on the next one. */
static void
yield_turn(struct conn *c)
{
    STAT_INC(&c->w->stats, conn_yields);
    set_events(c, c->eof ? 0 : EV_READ);
    event_active(&c->ev, EV_READ, 0);
}

static void complete(struct conn *c);

/* After running input.  Replies are not written here but queued for the
 * end of the loop turn (conn_flush_queued), when every connection that
 * was ready has run: the writes then go out back to back.  On loopback
 * (and any local client) each write to a sleeping reader wakes it, and a
 * cross-CPU wake-up costs several microseconds of the writer's CPU; a
 * burst of writes mostly finds the reader already awake.  Measured with
 * bench/nullsrv.c: 20-25% more pipelined gets per CPU second.  A reply
 * waits at most one turn (-R requests per ready connection). */
static void
finish(struct conn *c)
{
    if (c->input_waits && c->out.pending < YIELD_FLUSH_MIN && !c->close_after_write &&
        c->feed.state != FEED_DEFERRED) {
        /* A fairness yield with little output queued writes nothing yet:
         * the next turn adds to the same batch, so a long pipeline goes
         * out in one sendmsg rather than one per -R requests. */
        yield_turn(c);
        return;
    }
    struct worker *w = c->w;
    if (obuf_empty(&c->out) || c->out_dead ||
        (!c->flush_queued && (c->out.pending >= YIELD_FLUSH_MIN ||
                              w->flush_bytes + c->out.pending > FLUSH_QUEUE_MAX))) {
        complete(c);
        return;
    }
    if (!c->flush_queued) {
        c->flush_counted = c->out.pending;
        w->flush_bytes += c->flush_counted;
        c->flush_queued = true;
        c->flush_next = NULL;
        if (w->flush_tail != NULL)
            w->flush_tail->flush_next = c;
        else
            w->flush_head = c;
        w->flush_tail = c;
    }
}

void
conn_flush_queued(struct worker *w)
{
    struct conn *c;
    while ((c = w->flush_head) != NULL) {
        w->flush_head = c->flush_next;
        if (w->flush_head == NULL)
            w->flush_tail = NULL;
        c->flush_queued = false;
        w->flush_bytes -= c->flush_counted;
        complete(c);
    }
}

/* Take c off the flush queue (it is closing). */
static void
unqueue_flush(struct conn *c)
{
    struct worker *w = c->w;
    struct conn *prev = NULL;
    for (struct conn *x = w->flush_head; x != NULL; prev = x, x = x->flush_next) {
        if (x != c)
            continue;
        if (prev != NULL)
            prev->flush_next = c->flush_next;
        else
            w->flush_head = c->flush_next;
        if (w->flush_tail == c)
            w->flush_tail = prev;
        w->flush_bytes -= c->flush_counted;
        break;
    }
    c->flush_queued = false;
}

/* Write what is queued, then decide what the connection waits for (or
 * close it).  The one place that chooses its events. */
static void
complete(struct conn *c)
{
    flush(c);
    if (!obuf_empty(&c->out)) {
        /* nothing runs until it drains */
        set_events(c, c->tls_write_wants_read ? EV_READ : EV_WRITE);
        return;
    }
    if (c->to_watcher && !c->close_after_write) {
        if (become_watcher(c))
            return;
        flush(c);
        if (!obuf_empty(&c->out)) {
            set_events(c, EV_WRITE);
            return;
        }
    }
    if (c->close_after_write) {
        conn_close(c);
        return;
    }
    if (c->feed.state == FEED_DEFERRED) {
        set_events(c, 0);                   /* input waits in the kernel */
        return;
    }
    if (c->input_waits) {
        yield_turn(c);
        return;
    }
    /* everything complete has run and been answered */
    if (c->eof || (c->draining && feed_idle(&c->feed) && c->rlen == 0)) {
        conn_close(c);
        return;
    }
    set_events(c, EV_READ);
    if (c->tls != NULL && tls_pending(c->tls))
        event_active(&c->ev, EV_READ, 0);   /* decrypted input the socket will not signal */
}

/* Read a large value straight into the item. */
static ssize_t
read_direct(struct conn *c)
{
    struct iovec iov[16];
    int n = feed_value_iov(&c->feed, &c->pc, iov, 16);
    ssize_t r = conn_readv(c, iov, n);
    if (r > 0)
        feed_value_advance(&c->feed, &c->pc, (size_t)r);
    return r;
}

static void
on_read(struct conn *c)
{
    struct worker *w = c->w;
    ssize_t n;

    if (c->rlen == 0 && c->feed.state == FEED_VALUE && c->feed.vleft >= DIRECT_READ_MIN) {
        n = read_direct(c);
        if (n > 0) {
            STAT_ADD(&w->stats, bytes_read, (uint64_t)n);
            if (c->feed.state == FEED_VALUE)
                return;             /* more of the value to come */
            run_input(c, w->rbuf, 0);
            return;
        }
    } else if (c->rlen > 0) {
        if (c->rlen == c->rsize) {
            size_t size = c->rsize * 2;
            if (size > conn_opts->rbuf_max && c->rsize < conn_opts->rbuf_max)
                size = conn_opts->rbuf_max;
            if (!rbuf_resize(c, size)) {
                refuse_input(c);
                finish(c);
                return;
            }
        }
        n = conn_read(c, c->rbuf + c->rlen, c->rsize - c->rlen);
        if (n > 0) {
            STAT_ADD(&w->stats, bytes_read, (uint64_t)n);
            c->rlen += (size_t)n;
            run_input(c, c->rbuf, c->rlen);
            return;
        }
    } else {
        n = conn_read(c, w->rbuf, w->rbuf_size);
        if (n > 0) {
            STAT_ADD(&w->stats, bytes_read, (uint64_t)n);
            run_input(c, w->rbuf, (size_t)n);
            return;
        }
    }
    if (n == 0) {
        /* The client will send nothing more.  What it sent still runs,
         * and is answered while it reads. */
        c->eof = true;
        c->close_reason = WATCH_CLOSE_NORMAL;
        set_events(c, 0);
        run_buffered(c);
        return;
    }
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
        return;
    log_info("<%d read failed: %s", c->fd, strerror(errno));
    conn_close(c);
}

/* Drive a TLS handshake; once done, go on to read what may have come
 * with it. */
static void
handshake(struct conn *c)
{
    switch (tls_handshake(c->tls)) {
    case TLS_DONE:
        c->handshaking = false;
        log_info("<%d TLS %s %s", c->fd, tls_conn_version(c->tls), tls_conn_cipher(c->tls));
        set_events(c, EV_READ);
        on_read(c);
        return;
    case TLS_WANT_READ:
        set_events(c, EV_READ);
        return;
    case TLS_WANT_WRITE:
        set_events(c, EV_WRITE);
        return;
    default:                        /* plaintext, bad certificate, reset, EOF */
        log_info("<%d TLS handshake failed; closing", c->fd);
        conn_close(c);
        return;
    }
}

static void
on_event(evutil_socket_t fd, short what, void *arg)
{
    struct conn *c = arg;
    (void)fd;
    if (c->handshaking) {
        handshake(c);
        return;
    }
    if ((what & EV_WRITE) || (c->tls_write_wants_read && !obuf_empty(&c->out))) {
        finish(c);                  /* flush; resumes waiting input */
        return;
    }
    if (!(what & EV_READ))
        return;
    if (c->input_waits)
        run_buffered(c);
    else if (!c->eof && c->feed.state != FEED_DEFERRED)
        on_read(c);
}

void
conn_drain(struct conn *c)
{
    c->draining = true;
    c->close_reason = WATCH_CLOSE_SHUTDOWN;
    if (c->feed.state == FEED_DEFERRED)
        return;                     /* its reply comes first */
    finish(c);
}

void
conn_check_timeouts(struct conn *c, rel_time_t now, int idle_timeout,
                    int write_timeout)
{
    if (c->feed.state == FEED_DEFERRED)
        return;
    if (c->handshaking) {
        if (now - c->created > (rel_time_t)conn_opts->tls_handshake_timeout) {
            tls_count_handshake_error();
            log_info("<%d TLS handshake not done after %u s; closing", c->fd, now - c->created);
            conn_close(c);
        }
        return;
    }
    if (!obuf_empty(&c->out)) {
        if (write_timeout > 0 && c->out_blocked &&
            now - c->out_since > (rel_time_t)write_timeout) {
            STAT_INC(&c->w->stats, write_timeouts);
            log_info("<%d output stalled for %u s; closing", c->fd, now - c->out_since);
            conn_close(c);
        }
        return;
    }
    rel_time_t last = atomic_load_explicit(&c->last_cmd, memory_order_relaxed);
    if (idle_timeout > 0 && now - last > (rel_time_t)idle_timeout) {
        log_info("<%d idle for %u s; closing", c->fd, now - last);
        c->close_reason = WATCH_CLOSE_IDLE;
        conn_close(c);
    }
}
