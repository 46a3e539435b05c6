/*
 * conn.h -- internal to src/net: one client connection and its worker.
 *
 * A connection belongs to exactly one worker thread; only that thread
 * touches it, except the fields marked "shared", which "stats conns" reads
 * from other workers under worker->lock or atomically.
 */
#ifndef MC_NET_CONN_H
#define MC_NET_CONN_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include <event2/event.h>
#include <event2/event_struct.h>

#include "clock.h"
#include "net.h"
#include "obuf.h"
#include "proto.h"
#include "stats.h"

enum conn_state {
    CONN_LINE,                      /* waiting for / parsing a request line */
    CONN_VALUE,                     /* copying a value into an item */
    CONN_VALUE_END,                 /* waiting for the "\r\n" after a value */
    CONN_SWALLOW,                   /* discarding a refused value */
    CONN_DEFERRED,                  /* waiting for a PROTO_DEFER request */
    CONN_CLOSING,
};

/* A slow request running on its own thread (PROTO_DEFER).  Owned by the
 * worker: created, completed and freed on the worker thread; the helper
 * thread only runs fn, fills err and activates ev. */
struct deferred {
    struct deferred *next;          /* worker->deferred */
    struct conn     *c;             /* NULL once the connection closed */
    struct worker   *w;
    pthread_t        thread;
    struct event     ev;            /* activated by the helper thread */
    const char    *(*fn)(void);
    bool             failed;
    char             err[256];
};

struct worker;

struct conn {
    int              fd;
    struct worker   *w;
    struct event     ev;
    short            evmask;        /* events ev is registered for */
    enum conn_state  state;
    /* unparsed input: our own buffer only while a request is incomplete;
     * otherwise reads go to the worker's shared buffer */
    char            *rbuf;
    size_t           rsize;         /* bytes allocated */
    size_t           rlen;          /* bytes held */
    size_t           rscan;         /* bytes already searched for '\n' */
    /* value copy progress (CONN_VALUE) */
    size_t           vleft;         /* bytes still to copy */
    int              vseg;          /* current iovec */
    size_t           vsegoff;       /* offset in it */
    uint64_t         swallow;       /* CONN_SWALLOW: bytes left */
    struct obuf      out;
    struct proto_conn pc;
    bool             close_after_write;
    bool             is_unix;
    _Atomic rel_time_t last_cmd;    /* shared: last request time */
    _Atomic int      stat_state;    /* shared: for "stats conns" */
    char             addr[64];      /* shared, immutable: peer */
    char             listen_addr[128]; /* shared, immutable */
    struct conn     *prev, *next;   /* worker->conns; worker->lock */
    struct deferred *deferred;      /* while CONN_DEFERRED */
};

struct worker {
    int              id;
    pthread_t        thread;
    struct event_base *base;
    struct event    *notify_ev;
    struct event    *timer_ev;
    int              notify_rd, notify_wr;
    pthread_mutex_t  lock;          /* queue + conns list */
    struct pending  *queue;         /* lock: connections to adopt */
    struct conn     *conns;         /* lock: open connections */
    char            *rbuf;          /* shared read buffer (this thread only) */
    size_t           rbuf_size;
    struct thread_stats stats;
    bool             stopping;      /* this thread only */
    struct deferred *deferred;      /* this thread only: running slow requests */
};

/* conn.c */
struct conn *conn_create(struct worker *w, int fd, bool is_unix, const char *listen_addr);
void conn_close(struct conn *c);
/* Close soon: stop reading, flush what is queued (bounded), then close. */
void conn_shutdown(struct conn *c);
extern const struct net_options *conn_opts;
/* Wait for every running deferred request and deliver its reply (shutdown). */
void conn_finish_deferred(struct worker *w);

#endif
