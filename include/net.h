/*
 * net.h -- listeners (main thread), worker threads and connections.
 *
 * The main thread owns the listening sockets and their event_base: it
 * accepts, enforces -c, and hands each new socket to one of -t workers
 * round-robin through that worker's queue + notify pipe.  Each worker runs
 * its own event_base, touched by no other thread, with every connection it
 * was given (src/net/conn.c runs the per-connection state machine).
 *
 * A connection (conn.c) reads into the worker's buffer, runs what it read
 * through the socket-free byte loop (feed.h) and writes the replies; its
 * memory is bounded (read buffers: rbuf_max each, rbuf_mem_limit all
 * together; output: PROTO_OUT_HIGH) and so is its time (idle_timeout,
 * write_timeout for a client that stopped reading).
 *
 * UDP (-U, udp.c, doc/udp.md): listener_setup() also binds one UDP
 * socket per -l address; every worker reads every UDP socket through a
 * descriptor of its own and answers each datagram by itself (memcached's
 * 8-byte frame header, replies cut into datagrams of at most 1400 bytes).
 * A datagram is a unit: nothing it leaves incomplete carries over to the
 * next one, and the memory it takes is bounded like a connection's.
 *
 * Locks: worker->lock protects the worker's hand-off queue and its list of
 * connections (read by "stats conns" from other workers).  It is a leaf:
 * nothing else is taken while holding it.
 */
#ifndef MC_NET_H
#define MC_NET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <event2/event.h>

#include "obuf.h"
#include "proto.h"

struct net_options {
    int      nthreads;              /* -t */
    int      reqs_per_event;        /* -R */
    int      maxconns;              /* -c */
    int      idle_timeout;          /* secs, 0 = off */
    int      write_timeout;         /* secs without output progress, 0 = off */
    int      shutdown_timeout;      /* secs to drain connections at stop */
    int      backlog;               /* -b */
    size_t   rbuf_max;              /* read buffer of one connection (the
                                     * longest multiget line it may send) */
    size_t   rbuf_mem_limit;        /* all read buffers above RBUF_SMALL, 0 = no limit */
    int      protocol;              /* -B: 0 auto, 1 ascii, 2 binary (enum feed_proto) */
    int      tls_handshake_timeout; /* secs a TLS handshake may take */
};

/* Read buffers up to this size are always granted; larger ones count
 * against net_options.rbuf_mem_limit. */
#define RBUF_SMALL 16384

/* ---- listener.c (main thread) ---- */

/* Bind one listening socket per address.  addrs: "host", "host:port",
 * "[v6]:port", comma lists allowed; port used where none is given
 * (0: no TCP).  udp_port non-zero: also one UDP socket per address (a
 * port in the address is used for UDP too, as memcached does), handed to
 * udp_add_socket().  unix_path non-NULL: a unix socket instead (mode =
 * -a; no TCP, no UDP).  tls: TCP connections speak TLS (tls.h), except
 * on addresses given as "notls:<addr>"; unix and UDP sockets never do.
 * 0 or -1 with a message in err. */
int  listener_setup(struct event_base *base, char **addrs, int naddrs, int port,
                    int udp_port, const char *unix_path, int mode, int backlog, bool tls,
                    char *err, size_t errlen);
/* Stop accepting new connections (sockets stay open). */
void listener_pause(void);
/* Close the listening sockets (and the UDP ones); workers must be
 * stopped already. */
void listener_close(void);
/* Lines for "stats conns" about the listeners. */
void listener_stats_conns(struct obuf *o);

/* ---- worker.c ---- */

int  worker_setup(const struct net_options *o, char *err, size_t errlen);
/* Give a new connection to the next worker (main thread). */
void worker_dispatch(int fd, bool is_unix, bool tls, const char *listen_addr);
/* Stop: every connection finishes the request in flight and its reply,
 * then closes; what is left after shutdown_timeout secs is closed.  Joins
 * the worker threads (and any deferred request threads). */
void worker_shutdown(void);
/* Runtime-changeable settings (SIGHUP). */
void worker_set_idle_timeout(int secs);
void worker_set_write_timeout(int secs);
void worker_set_maxconns(int n);

/* Connection accounting shared by listener and workers. */
struct net_counters {
    _Atomic uint64_t curr_conns;        /* open client connections */
    _Atomic uint64_t total_conns;
    _Atomic uint64_t rejected_conns;
    _Atomic uint64_t conn_structures;
    _Atomic uint64_t listen_disabled_num;
    _Atomic int      maxconns;
    _Atomic int      accepting;
    _Atomic int      listeners;         /* listening sockets */
    _Atomic int      reserved_fds;      /* descriptors -c keeps back */
    _Atomic uint64_t rbuf_bytes;        /* connection read buffers allocated */
    _Atomic uint64_t rbuf_big_bytes;    /* ... of them, in buffers > RBUF_SMALL */
    _Atomic uint64_t rbuf_count;        /* connections holding a read buffer */
};
extern struct net_counters net_counters;

/* "stats conns" (any worker thread). */
void worker_stats_conns(struct obuf *o);

/* ---- udp.c ---- */

/* Take over a bound, non-blocking UDP socket; name as "stats conns" shows
 * it ("udp:127.0.0.1:11211").  Main thread, before worker_setup(), which
 * gives every worker a descriptor of its own for it. */
int  udp_add_socket(int fd, const char *name, char *err, size_t errlen);
/* Close the UDP sockets and free what the workers used for them; after
 * worker_shutdown() (main thread). */
void udp_close(void);
/* Lines for "stats conns" about each worker's UDP descriptors (any
 * worker thread). */
void udp_stats_conns(struct obuf *o);

#endif
