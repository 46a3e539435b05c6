/*
 * worker.c -- worker threads: one event_base each, the hand-off queue from
 * the listener, idle timeouts and shutdown (see net.h).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/thread.h>

#include "conn.h"
#include "log.h"
#include "platform.h"

struct net_counters net_counters;

/* A connection waiting in a worker's queue. */
struct pending {
    struct pending *next;
    int             fd;
    bool            is_unix;
    bool            tls;
    char            listen_addr[128];
};

static struct worker *workers;      /* set up once by the main thread */
static int nworkers;
static unsigned next_worker;        /* main thread only */
static struct net_options opts;
static _Atomic int idle_timeout;    /* secs; runtime */
static _Atomic int write_timeout;   /* secs; runtime */

#define RBUF_SHARED (64 * 1024)

static void
notify(struct worker *w, char cmd)
{
    platform_wake(w->notify_wr, cmd);
}

void
worker_dispatch(int fd, bool is_unix, bool tls, const char *listen_addr)
{
    struct worker *w = &workers[next_worker++ % (unsigned)nworkers];
    struct pending *p = malloc(sizeof(*p));
    if (p == NULL) {
        evutil_closesocket(fd);
        atomic_fetch_sub(&net_counters.curr_conns, 1);
        return;
    }
    p->fd = fd;
    p->is_unix = is_unix;
    p->tls = tls;
    snprintf(p->listen_addr, sizeof(p->listen_addr), "%s", listen_addr);
    pthread_mutex_lock(&w->lock);
    p->next = w->queue;
    w->queue = p;
    pthread_mutex_unlock(&w->lock);
    notify(w, 'c');
}

static void
adopt(struct worker *w)
{
    pthread_mutex_lock(&w->lock);
    struct pending *p = w->queue;
    w->queue = NULL;
    pthread_mutex_unlock(&w->lock);
    /* the queue is LIFO; order does not matter */
    while (p != NULL) {
        struct pending *next = p->next;
        if (w->stopping || conn_create(w, p->fd, p->is_unix, p->tls, p->listen_addr) == NULL) {
            evutil_closesocket(p->fd);
            atomic_fetch_sub(&net_counters.curr_conns, 1);
        }
        free(p);
        p = next;
    }
}

/* The drain deadline passed: close whatever is left. */
static void
on_deadline(evutil_socket_t fd, short what, void *arg)
{
    struct worker *w = arg;
    (void)fd;
    (void)what;
    int n = 0;
    while (w->conns != NULL) {
        conn_close(w->conns);
        n++;
    }
    if (n > 0)
        log_info("shutdown: closed %d connection(s) still busy at the deadline", n);
    event_base_loopbreak(w->base);
}

/* Stop: no new connections; each open one finishes the request in flight
 * and its reply, then closes; whatever is left at the deadline is closed.
 * The loop ends when the last connection is gone. */
static void
stop(struct worker *w)
{
    w->stopping = true;
    udp_worker_detach(w);           /* UDP replies in progress are dropped */
    adopt(w);                       /* closes anything still queued */
    if (w->conns == NULL) {
        event_base_loopbreak(w->base);
        return;
    }
    struct timeval tv = { opts.shutdown_timeout, 0 };
    event_add(w->deadline_ev, &tv);
    /* Only this thread changes the list, so walking it unlocked is safe;
     * conn_drain() may close c. */
    struct conn *c = w->conns, *next;
    for (; c != NULL; c = next) {
        next = c->next;
        conn_drain(c);
    }
}

static void
on_notify(evutil_socket_t fd, short what, void *arg)
{
    struct worker *w = arg;
    char buf[64];
    (void)what;
    ssize_t n = platform_wake_read(fd, buf, sizeof(buf));
    for (ssize_t i = 0; i < n; i++) {
        if (buf[i] == 'c')
            adopt(w);
        else if (buf[i] == 's')
            stop(w);
    }
}

static void
on_timer(evutil_socket_t fd, short what, void *arg)
{
    struct worker *w = arg;
    (void)fd;
    (void)what;
    int idle = atomic_load(&idle_timeout), wr = atomic_load(&write_timeout);
    if (idle <= 0 && wr <= 0)
        return;
    rel_time_t now = clock_now();
    /* Only this thread changes the list, so walking it unlocked is safe. */
    struct conn *c = w->conns, *next;
    for (; c != NULL; c = next) {
        next = c->next;
        conn_check_timeouts(c, now, idle, wr);
    }
}

static void *
worker_main(void *arg)
{
    struct worker *w = arg;
    stats_register(&w->stats);
    /* One turn at a time: the replies of a turn are written at its end
     * (conn_flush_queued), which may also close connections and so end
     * the loop (event_base_loopbreak, seen by got_break until the next
     * turn starts). */
    for (;;) {
        int r = event_base_loop(w->base, EVLOOP_ONCE);
        conn_flush_queued(w);
        if (r != 0 || event_base_got_break(w->base) || event_base_got_exit(w->base))
            break;
    }
    /* a slow request (snapshot) still running is waited for: its thread
     * uses storage, which is torn down after the workers */
    conn_finish_deferred(w);
    return NULL;
}

int
worker_setup(const struct net_options *o, char *err, size_t errlen)
{
    opts = *o;
    conn_opts = &opts;
    atomic_store(&idle_timeout, o->idle_timeout);
    atomic_store(&write_timeout, o->write_timeout);
    atomic_store(&net_counters.maxconns, o->maxconns);
    atomic_store(&net_counters.accepting, 1);
    /* As memcached: stdio, the listener event machinery and 3 per worker. */
    atomic_store(&net_counters.reserved_fds, 8 + 3 * o->nthreads);
    nworkers = o->nthreads;
    workers = calloc((size_t)nworkers, sizeof(*workers));
    if (workers == NULL) {
        snprintf(err, errlen, "out of memory for %d workers", nworkers);
        return -1;
    }
    for (int i = 0; i < nworkers; i++) {
        struct worker *w = &workers[i];
        int fds[2];
        w->id = i;
        pthread_mutex_init(&w->lock, NULL);
        w->base = event_base_new();
        if (w->base == NULL) {
            snprintf(err, errlen, "event_base_new failed");
            return -1;
        }
        if (platform_wake_open(fds, err, errlen) != 0)
            return -1;
        w->notify_rd = fds[0];
        w->notify_wr = fds[1];
        w->notify_ev = event_new(w->base, w->notify_rd, EV_READ | EV_PERSIST, on_notify, w);
        event_add(w->notify_ev, NULL);
        struct timeval tv = { 1, 0 };
        w->timer_ev = event_new(w->base, -1, EV_PERSIST, on_timer, w);
        event_add(w->timer_ev, &tv);
        w->deadline_ev = evtimer_new(w->base, on_deadline, w);
        w->rbuf_size = RBUF_SHARED;   /* also holds a whole UDP datagram */
        w->rbuf = malloc(w->rbuf_size);
        if (w->rbuf == NULL) {
            snprintf(err, errlen, "out of memory for read buffers");
            return -1;
        }
        if (udp_worker_attach(w, err, errlen) != 0)
            return -1;
    }
    for (int i = 0; i < nworkers; i++) {
        int rc = pthread_create(&workers[i].thread, NULL, worker_main, &workers[i]);
        if (rc != 0) {
            snprintf(err, errlen, "pthread_create: %s", strerror(rc));
            return -1;
        }
    }
    return 0;
}

void
worker_shutdown(void)
{
    for (int i = 0; i < nworkers; i++)
        notify(&workers[i], 's');
    for (int i = 0; i < nworkers; i++) {
        struct worker *w = &workers[i];
        pthread_join(w->thread, NULL);
        event_free(w->notify_ev);
        event_free(w->timer_ev);
        event_free(w->deadline_ev);
        event_base_free(w->base);
        platform_wake_close(w->notify_rd, w->notify_wr);
        free(w->rbuf);
        free(w->tls_wbuf);
        pthread_mutex_destroy(&w->lock);
    }
    stats_teardown();
    free(workers);
    workers = NULL;
    nworkers = 0;
}

void
worker_set_idle_timeout(int secs)
{
    atomic_store(&idle_timeout, secs);
}

void
worker_set_write_timeout(int secs)
{
    atomic_store(&write_timeout, secs);
}

void
worker_set_maxconns(int n)
{
    atomic_store(&net_counters.maxconns, n);
}

static const char *
state_name(int st)
{
    switch (st) {
    case FEED_VALUE:
    case FEED_VALUE_END: return "conn_nread";
    case FEED_SWALLOW:   return "conn_swallow";
    case FEED_DEFERRED:  return "conn_waiting";
    case FEED_CLOSING:   return "conn_closing";
    default:             return "conn_parse_cmd";
    }
}

void
worker_stats_conns(struct obuf *o)
{
    rel_time_t now = clock_now();
    listener_stats_conns(o);
    udp_stats_conns(o);
    for (int i = 0; i < nworkers; i++) {
        struct worker *w = &workers[i];
        pthread_mutex_lock(&w->lock);
        for (struct conn *c = w->conns; c != NULL; c = c->next) {
            rel_time_t last = atomic_load_explicit(&c->last_cmd, memory_order_relaxed);
            obuf_printf(o, "STAT %d:addr %s\r\n", c->fd, c->addr);
            obuf_printf(o, "STAT %d:listen_addr %s\r\n", c->fd, c->listen_addr);
            obuf_printf(o, "STAT %d:state %s\r\n", c->fd,
                        state_name(atomic_load_explicit(&c->stat_state, memory_order_relaxed)));
            obuf_printf(o, "STAT %d:secs_since_last_cmd %u\r\n", c->fd,
                        now > last ? now - last : 0);
        }
        pthread_mutex_unlock(&w->lock);
    }
}
