/*
 * conn.c -- the connection state machine (worker thread).
 *
 * Input: a read goes into the worker's shared buffer; complete requests
 * are run at once and only an incomplete tail is copied into a buffer of
 * the connection's own, so an idle connection holds no read buffer.
 * Values are copied straight into item memory, and a large value whose
 * bytes have not arrived yet is read from the socket directly into it.
 *
 * Output: the replies of everything parsed from one read are queued in
 * the connection's obuf and written with one sendmsg() (more only if the
 * socket is full).  While output is blocked, nothing more is read
 * (bounded memory per client).
 *
 * Fairness: at most -R requests per event; then the connection yields
 * (event_active) so other clients of this worker get their turn.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "conn.h"
#include "log.h"

const struct net_options *conn_opts;

/* Stop parsing new requests while this much output is queued. */
#define OUT_HIGH (4u << 20)
/* A request line longer than this without '\n' must be a multiget, or
 * the client is dropped (memcached's rule). */
#define LINE_MAX_PLAIN 2048
/* Values at least this large are read from the socket straight into the
 * item when no input is buffered. */
#define DIRECT_READ_MIN 16384

static void on_event(evutil_socket_t fd, short what, void *arg);

static void
set_events(struct conn *c, short mask)
{
    if (c->evmask == mask)
        return;
    if (c->evmask != 0)
        event_del(&c->ev);
    event_assign(&c->ev, c->w->base, c->fd, mask | EV_PERSIST, on_event, c);
    event_add(&c->ev, NULL);
    c->evmask = mask;
}

static void
peer_name(int fd, bool is_unix, char *buf, size_t size)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    if (is_unix) {
        snprintf(buf, size, "unix:");
        return;
    }
    if (getpeername(fd, (struct sockaddr *)&ss, &len) != 0) {
        snprintf(buf, size, "tcp:?");
        return;
    }
    char host[INET6_ADDRSTRLEN];
    if (ss.ss_family == AF_INET6) {
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
        inet_ntop(AF_INET6, &s6->sin6_addr, host, sizeof(host));
        snprintf(buf, size, "tcp6:[%s]:%u", host, ntohs(s6->sin6_port));
    } else {
        struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
        inet_ntop(AF_INET, &s4->sin_addr, host, sizeof(host));
        snprintf(buf, size, "tcp:%s:%u", host, ntohs(s4->sin_port));
    }
}

struct conn *
conn_create(struct worker *w, int fd, bool is_unix, const char *listen_addr)
{
    struct conn *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return NULL;
    c->fd = fd;
    c->w = w;
    c->state = CONN_LINE;
    c->is_unix = is_unix;
    obuf_init(&c->out);
    proto_conn_init(&c->pc, &c->out, &w->stats, fd);
    peer_name(fd, is_unix, c->addr, sizeof(c->addr));
    snprintf(c->listen_addr, sizeof(c->listen_addr), "%s", listen_addr);
    atomic_store(&c->last_cmd, clock_now());
    atomic_store(&c->stat_state, CONN_LINE);
    c->evmask = EV_READ;
    event_assign(&c->ev, w->base, fd, EV_READ | EV_PERSIST, on_event, c);
    if (event_add(&c->ev, NULL) != 0) {
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
    return c;
}

void
conn_close(struct conn *c)
{
    struct worker *w = c->w;
    pthread_mutex_lock(&w->lock);
    if (c->prev != NULL)
        c->prev->next = c->next;
    else
        w->conns = c->next;
    if (c->next != NULL)
        c->next->prev = c->prev;
    pthread_mutex_unlock(&w->lock);

    if (c->deferred != NULL)
        c->deferred->c = NULL;      /* its result will be dropped */
    event_del(&c->ev);
    proto_conn_deinit(&c->pc);
    obuf_deinit(&c->out);
    free(c->rbuf);
    log_info("<%d connection closed", c->fd);
    evutil_closesocket(c->fd);
    atomic_fetch_sub(&net_counters.curr_conns, 1);
    free(c);
}

/* Copy value bytes into the pending item; returns bytes used. */
static size_t
copy_value(struct conn *c, const char *p, size_t n)
{
    struct iovec *v = proto_value_iov(&c->pc);
    size_t used = 0;
    while (c->vleft > 0 && used < n) {
        struct iovec *seg = &v[c->vseg];
        size_t room = seg->iov_len - c->vsegoff;
        size_t k = n - used;
        if (k > room) k = room;
        if (k > c->vleft) k = c->vleft;
        memcpy((char *)seg->iov_base + c->vsegoff, p + used, k);
        used += k;
        c->vleft -= k;
        c->vsegoff += k;
        if (c->vsegoff == seg->iov_len) {
            c->vseg++;
            c->vsegoff = 0;
        }
    }
    return used;
}

static void drive(struct conn *c, char *buf, size_t len, size_t scan);

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

/* The helper thread is done (worker thread): reply and resume. */
static void
deferred_complete(struct deferred *d)
{
    struct worker *w = d->w;
    pthread_join(d->thread, NULL);
    struct deferred **pp = &w->deferred;
    while (*pp != d)
        pp = &(*pp)->next;
    *pp = d->next;
    event_del(&d->ev);
    struct conn *c = d->c;
    if (c != NULL) {
        c->deferred = NULL;
        proto_defer_done(&c->pc, d->failed ? d->err : NULL);
        c->state = CONN_LINE;
        atomic_store_explicit(&c->stat_state, CONN_LINE, memory_order_relaxed);
    }
    free(d);
    if (c != NULL && !w->stopping)
        drive(c, c->rbuf, c->rlen, c->rscan);
}

static void
on_deferred(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    deferred_complete(arg);
}

/* Run pc.defer on a thread of its own; input waits.  False if no thread
 * could be started (the request is then answered with an error). */
static bool
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
            c->state = CONN_DEFERRED;
            atomic_store_explicit(&c->stat_state, CONN_DEFERRED, memory_order_relaxed);
            return true;
        }
        free(d);
    }
    proto_defer_done(&c->pc, "cannot start a thread for the request");
    return false;
}

void
conn_finish_deferred(struct worker *w)
{
    while (w->deferred != NULL) {
        struct deferred *d = w->deferred;
        pthread_join(d->thread, NULL);
        struct conn *c = d->c;
        w->deferred = d->next;
        event_del(&d->ev);
        if (c != NULL) {
            c->deferred = NULL;
            proto_defer_done(&c->pc, d->failed ? d->err : NULL);
            c->state = CONN_LINE;
        }
        free(d);
    }
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

/*
 * Run the requests in buf[0..len).  Returns the bytes consumed; *yield is
 * set when it stopped with complete requests left (fairness or output
 * high-water).  scan: bytes at the start already known to hold no '\n'.
 */
static size_t
process(struct conn *c, char *buf, size_t len, size_t scan, bool *yield)
{
    size_t pos = 0;
    int nreq = 0;
    *yield = false;
    while (!c->close_after_write) {
        switch (c->state) {
        case CONN_LINE: {
            if (pos == len)
                return pos;
            if (nreq >= conn_opts->reqs_per_event || c->out.pending > OUT_HIGH) {
                *yield = true;
                return pos;
            }
            size_t skip = pos == 0 ? scan : 0;
            char *nl = memchr(buf + pos + skip, '\n', len - pos - skip);
            if (nl == NULL) {
                c->rscan = len - pos;
                if (len - pos > LINE_MAX_PLAIN && !multiget_prefix(buf + pos, len - pos)) {
                    log_info("<%d request line too long; closing", c->fd);
                    c->close_after_write = true;
                    c->state = CONN_CLOSING;
                }
                return pos;
            }
            c->rscan = 0;
            char *line = buf + pos;
            size_t l = (size_t)(nl - line);
            pos += l + 1;
            if (l > 0 && line[l - 1] == '\r')
                l--;
            c->pc.last_in_batch = pos == len;
            nreq++;
            atomic_store_explicit(&c->last_cmd, clock_now(), memory_order_relaxed);
            switch (proto_line(&c->pc, line, l)) {
            case PROTO_NEXT:
                break;
            case PROTO_READ_VALUE:
                c->state = CONN_VALUE;
                c->vleft = c->pc.vlen;
                c->vseg = 0;
                c->vsegoff = 0;
                if (c->vleft == 0)
                    c->state = CONN_VALUE_END;
                break;
            case PROTO_SWALLOW:
                c->state = CONN_SWALLOW;
                c->swallow = c->pc.swallow;
                break;
            case PROTO_CLOSE:
            case PROTO_CLOSE_NOW:
                c->close_after_write = true;
                return pos;
            case PROTO_DEFER:
                if (start_deferred(c))
                    return pos;
                break;
            }
            break;
        }
        case CONN_VALUE:
            pos += copy_value(c, buf + pos, len - pos);
            if (c->vleft > 0)
                return pos;
            c->state = CONN_VALUE_END;
            break;
        case CONN_VALUE_END: {
            if (len - pos < 2)
                return pos;
            bool ok = buf[pos] == '\r' && buf[pos + 1] == '\n';
            pos += 2;
            proto_value_done(&c->pc, ok);
            c->state = CONN_LINE;
            break;
        }
        case CONN_SWALLOW: {
            size_t k = len - pos;
            if (k > c->swallow)
                k = (size_t)c->swallow;
            pos += k;
            c->swallow -= k;
            if (c->swallow > 0)
                return pos;
            c->state = CONN_LINE;
            break;
        }
        case CONN_DEFERRED:
        case CONN_CLOSING:
            return pos;
        }
    }
    return pos;
}

/* Keep buf[from..len) as this connection's own pending input. */
static bool
keep_tail(struct conn *c, const char *buf, size_t from, size_t len)
{
    size_t n = len - from;
    if (c->rbuf != NULL && buf == c->rbuf) {
        memmove(c->rbuf, c->rbuf + from, n);
        c->rlen = n;
        if (n == 0 && c->rsize > 65536) {
            free(c->rbuf);
            c->rbuf = NULL;
            c->rsize = 0;
        }
        return true;
    }
    if (n == 0)
        return true;
    size_t size = n < 4096 ? 4096 : n * 2;
    char *p = malloc(size);
    if (p == NULL)
        return false;
    memcpy(p, buf + from, n);
    free(c->rbuf);
    c->rbuf = p;
    c->rsize = size;
    c->rlen = n;
    return true;
}

/* Write what is queued and pick the events to wait for.  Returns false if
 * the connection was closed. */
static bool
flush(struct conn *c)
{
    if (!obuf_empty(&c->out)) {
        long n = obuf_flush(&c->out, c->fd);
        if (n < 0) {
            log_info("<%d write failed: %s", c->fd, strerror(errno));
            conn_close(c);
            return false;
        }
        STAT_ADD(&c->w->stats, bytes_written, (uint64_t)n);
    }
    if (obuf_empty(&c->out)) {
        if (c->close_after_write) {
            conn_close(c);
            return false;
        }
        if (c->state == CONN_DEFERRED) {
            /* nothing to do until the slow request is done; input waits
             * in the kernel */
            if (c->evmask != 0) {
                event_del(&c->ev);
                c->evmask = 0;
            }
            return true;
        }
        set_events(c, EV_READ);
    } else {
        set_events(c, EV_WRITE);
    }
    return true;
}

/* Run buffered input, then flush. */
static void
drive(struct conn *c, char *buf, size_t len, size_t scan)
{
    bool yield = false;
    size_t used = process(c, buf, len, scan, &yield);
    if (!keep_tail(c, buf, used, len)) {
        STAT_INC(&c->w->stats, out_of_memory);
        c->close_after_write = true;
    }
    if (c->out.oom) {
        /* a reply could not be built in full: the client would lose sync,
         * so it gets what there is and the connection closes */
        STAT_INC(&c->w->stats, out_of_memory);
        log_warn("<%d out of memory building a reply; closing", c->fd);
        c->close_after_write = true;
    }
    if (!flush(c))
        return;
    if (yield && c->evmask == EV_READ) {
        STAT_INC(&c->w->stats, conn_yields);
        event_active(&c->ev, EV_READ, 0);
    }
}

/* Read a large value straight into the item. */
static ssize_t
read_direct(struct conn *c)
{
    struct iovec *v = proto_value_iov(&c->pc);
    struct iovec iov[16];
    int n = 0;
    size_t want = c->vleft;
    for (int i = c->vseg; i < c->pc.nviov && n < 16 && want > 0; i++) {
        size_t off = i == c->vseg ? c->vsegoff : 0;
        size_t k = v[i].iov_len - off;
        if (k > want) k = want;
        iov[n].iov_base = (char *)v[i].iov_base + off;
        iov[n].iov_len = k;
        want -= k;
        n++;
    }
    ssize_t r = readv(c->fd, iov, n);
    if (r <= 0)
        return r;
    size_t left = (size_t)r;
    c->vleft -= left;
    while (left > 0) {
        size_t room = v[c->vseg].iov_len - c->vsegoff;
        if (left >= room) {
            left -= room;
            c->vseg++;
            c->vsegoff = 0;
        } else {
            c->vsegoff += left;
            left = 0;
        }
    }
    if (c->vleft == 0)
        c->state = CONN_VALUE_END;
    return r;
}

static void
on_read(struct conn *c)
{
    struct worker *w = c->w;
    ssize_t n;

    if (c->rlen == 0 && c->state == CONN_VALUE && c->vleft >= DIRECT_READ_MIN) {
        n = read_direct(c);
        if (n > 0) {
            STAT_ADD(&w->stats, bytes_read, (uint64_t)n);
            if (c->state == CONN_VALUE)
                return;             /* more of the value to come */
            drive(c, w->rbuf, 0, 0);
            return;
        }
    } else if (c->rlen > 0) {
        if (c->rlen == c->rsize) {
            size_t size = c->rsize * 2;
            if (size > conn_opts->rbuf_max) {
                log_info("<%d request too large; closing", c->fd);
                c->close_after_write = true;
                drive(c, c->rbuf, 0, 0);
                return;
            }
            char *p = realloc(c->rbuf, size);
            if (p == NULL) {
                STAT_INC(&w->stats, out_of_memory);
                conn_close(c);
                return;
            }
            c->rbuf = p;
            c->rsize = size;
        }
        n = read(c->fd, c->rbuf + c->rlen, c->rsize - c->rlen);
        if (n > 0) {
            STAT_ADD(&w->stats, bytes_read, (uint64_t)n);
            c->rlen += (size_t)n;
        }
        if (n > 0 || (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))) {
            size_t scan = c->rscan;
            drive(c, c->rbuf, c->rlen, scan);
            return;
        }
    } else {
        n = read(c->fd, w->rbuf, w->rbuf_size);
        if (n > 0) {
            STAT_ADD(&w->stats, bytes_read, (uint64_t)n);
            drive(c, w->rbuf, (size_t)n, 0);
            return;
        }
    }
    if (n == 0) {
        conn_close(c);              /* client went away */
        return;
    }
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
        return;
    log_info("<%d read failed: %s", c->fd, strerror(errno));
    conn_close(c);
}

static void
on_event(evutil_socket_t fd, short what, void *arg)
{
    struct conn *c = arg;
    (void)fd;
    if (what & EV_WRITE) {
        if (!flush(c))
            return;
        /* output drained: run input that waited for it */
        if (c->evmask == EV_READ && c->rlen > 0)
            drive(c, c->rbuf, c->rlen, c->rscan);
        return;
    }
    if (what & EV_READ)
        on_read(c);
}

void
conn_shutdown(struct conn *c)
{
    /* Run what was already read, then push the replies out with a short
     * blocking send so in-flight requests get their answers. */
    if (c->rlen > 0 && c->state == CONN_LINE) {
        bool yield;
        size_t used = process(c, c->rbuf, c->rlen, c->rscan, &yield);
        (void)used;
    }
    if (!obuf_empty(&c->out)) {
        for (int i = 0; i < 100 && !obuf_empty(&c->out); i++) {
            long n = obuf_flush(&c->out, c->fd);
            if (n < 0)
                break;
            if (!obuf_empty(&c->out))
                usleep(10000);
        }
    }
    conn_close(c);
}
