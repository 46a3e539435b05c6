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
#include "feed.h"
#include "net.h"
#include "obuf.h"
#include "proto.h"
#include "stats.h"
#include "tls.h"

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
    struct feed      feed;          /* the byte loop's state (feed.h) */
    /* unconsumed input: our own buffer only while a request is incomplete
     * or complete requests wait their turn; otherwise reads go to the
     * worker's shared buffer */
    char            *rbuf;
    size_t           rsize;         /* bytes allocated */
    size_t           rlen;          /* bytes held */
    struct obuf      out;
    struct proto_conn pc;
    bool             input_waits;   /* complete requests (or a paused reply)
                                     * are buffered: run them before reading */
    bool             eof;           /* the client shut its sending side: run
                                     * what was received, answer, close */
    bool             out_dead;      /* writing failed: replies are dropped, the
                                     * requests received still run */
    bool             draining;      /* server stopping: finish the request in
                                     * flight, then close */
    bool             close_after_write;
    bool             is_unix;
    bool             out_blocked;   /* output left after the last flush */
    rel_time_t       out_since;     /* ... and when it last moved */
    _Atomic rel_time_t last_cmd;    /* shared: last request time */
    _Atomic int      stat_state;    /* shared: feed state, for "stats conns" */
    char             addr[64];      /* shared, immutable: peer */
    char             rip[48];       /* peer address for watch ("unix") */
    unsigned         rport;         /* ... and port (0 for unix) */
    uint8_t          close_reason;  /* enum watch_reason, for conn_close */
    bool             to_watcher;    /* "watch" ran: hand over once output
                                     * is written */
    char             listen_addr[128]; /* shared, immutable */
    struct conn     *prev, *next;   /* worker->conns; worker->lock */
    struct deferred *deferred;      /* while the feed is FEED_DEFERRED */
    struct tls_conn *tls;           /* a TLS listener's connection, else NULL */
    bool             handshaking;   /* TLS: until the handshake is done */
    bool             tls_write_wants_read; /* TLS: output waits for input */
    rel_time_t       created;       /* when accepted (handshake timeout) */
    bool             flush_queued;  /* on worker->flush_head (this thread) */
    size_t           flush_counted; /* its out.pending when queued (flush_bytes) */
    struct conn     *flush_next;
};

struct worker {
    int              id;
    pthread_t        thread;
    struct event_base *base;
    struct event    *notify_ev;
    struct event    *timer_ev;
    struct event    *deadline_ev;   /* shutdown: drain deadline */
    int              notify_rd, notify_wr;
    pthread_mutex_t  lock;          /* queue + conns list */
    struct pending  *queue;         /* lock: connections to adopt */
    struct conn     *conns;         /* lock: open connections */
    char            *rbuf;          /* shared read buffer (this thread only) */
    size_t           rbuf_size;
    struct thread_stats stats;
    bool             stopping;      /* this thread only */
    struct deferred *deferred;      /* this thread only: running slow requests */
    struct udp_conn *udp;           /* this thread only: its UDP descriptors (udp.c) */
    char            *tls_wbuf;      /* this thread only: TLS output coalescing
                                     * (tls_wbuf_size() bytes, on first use) */
    /* this thread only: connections whose replies wait for the end of the
     * loop turn (conn_flush_queued), in the order they ran */
    struct conn     *flush_head, *flush_tail;
    size_t           flush_bytes;   /* sum of their flush_counted */
};

/* conn.c */
struct conn *conn_create(struct worker *w, int fd, bool is_unix, bool tls, const char *listen_addr);
void conn_close(struct conn *c);
/* Server stopping: finish the request in flight and its reply, then
 * close (at once if the connection is between requests with nothing to
 * send).  The worker closes what is left at its drain deadline. */
void conn_drain(struct conn *c);
/* Close connections whose output has not moved for write_timeout secs
 * (their item references are released); idle_timeout as well. */
void conn_check_timeouts(struct conn *c, rel_time_t now, int idle_timeout,
                         int write_timeout);
extern const struct net_options *conn_opts;
/* End of a loop turn (worker thread): write the replies of every
 * connection that ran in it, back to back, and pick what each waits for
 * next (it may close).  See finish() in conn.c for why. */
void conn_flush_queued(struct worker *w);
/* Wait for every running deferred request and deliver its reply (shutdown). */
void conn_finish_deferred(struct worker *w);

/* Register ev on base for fd, mask | EV_PERSIST, calling cb(arg); *cur
 * is what it is registered for now (0: nothing), updated.  Nothing
 * happens when mask is already registered. */
void net_set_events(struct event *ev, short *cur, struct event_base *base, int fd, short mask,
                    event_callback_fn cb, void *arg);

/* udp.c: give worker w a descriptor and a read event for every UDP
 * socket (main thread, before w runs); 0 or -1 with err filled. */
int  udp_worker_attach(struct worker *w, char *err, size_t errlen);
/* Stop reading UDP and drop any reply in progress (worker thread, when it
 * stops). */
void udp_worker_detach(struct worker *w);

#endif
