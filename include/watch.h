/*
 * watch.h -- memcached's "watch" command: live log streams (fetchers,
 * mutations, evictions, connevents, deletions) to watching connections.
 *
 * Shape (doc/watch.md):
 *
 *   worker / storage thread              logger thread (one)
 *   watch_fetch() etc.  -- format the    drains every thread's ring,
 *   line, put it in this thread's  -->   copies each line into the buffer
 *   ring (ring.h, bounded, lock-free)    of every watcher whose flags match,
 *                                        writes the buffers to the sockets
 *
 * Producers pay nothing when nobody watches: callers test
 * watch_enabled_for(bit), one relaxed atomic load of watch_mask, before
 * calling anything here.  When a thread's ring is full the line is
 * dropped and counted (stats log_worker_dropped).  When a watcher's
 * buffer (watcher_logbuf_size) is full because its client reads slowly,
 * lines for it are skipped and counted, and once there is room again it
 * first gets "skipped=N\n", as memcached does.
 *
 * A watching connection is handed over by its worker (watch_add): from
 * then on only the logger thread touches its descriptor, which it
 * closes when the client goes away (or at watch_teardown), calling the
 * closed callback the worker gave.  Input from a watcher is read and
 * discarded.
 *
 * Lines (memcached 1.6.18's formats; ts is the producer's wall clock,
 * gid a global sequence number; lines of different threads may arrive
 * out of gid order, as in memcached):
 *   ts=S.U gid=N type=item_get key=K status=found|not_found|flushed|expired clsid=C cfd=F size=B
 *   ts=S.U gid=N type=item_store key=K status=stored|not_stored|exists|not_found|too_large|no_memory cmd=set|add|replace|append|prepend|cas ttl=T clsid=C cfd=F size=B
 *   ts=S.U gid=N type=eviction key=K fetch=yes|no ttl=T la=A clsid=C size=B
 *   ts=S.U gid=N type=conn_new rip=IP rport=P transport=tcp|local cfd=F
 *   ts=S.U gid=N type=conn_close rip=IP rport=P transport=tcp|local reason=error|normal|idle_timeout|shutdown cfd=F
 *   ts=S.U gid=N type=deleted key=K cmd=delete|md clsid=C size=B   (1.6.45's)
 * Keys are URI-encoded as memcached does (unreserved bytes kept).
 *
 * Locks: watch.c's `reg_lock` (the list of thread rings and the pending
 * watchers) is a leaf.  No lock is taken by a producer.
 */
#ifndef MC_WATCH_H
#define MC_WATCH_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "clock.h"

/* What a watcher asked for ("watch fetchers mutations ..."). */
enum watch_flag {
    WATCH_FETCHERS   = 1u << 0,
    WATCH_MUTATIONS  = 1u << 1,
    WATCH_EVICTIONS  = 1u << 2,
    WATCH_CONNEVENTS = 1u << 3,
    WATCH_DELETIONS  = 1u << 4,
    WATCH_OTHER      = 1u << 5,     /* rawcmds sysevents proxyreqs proxyevents
                                     * proxyuser: accepted, nothing to log */
};

#define WATCH_MAX 20                /* watchers at once (memcached's limit) */

/* Union of the flags of every watcher (0: nobody watches). */
extern _Atomic unsigned watch_mask;

static inline bool
watch_enabled_for(unsigned bits)
{
    return (atomic_load_explicit(&watch_mask, memory_order_relaxed) & bits) != 0;
}

/* Parse one argument word of "watch": its flag, or 0 if unknown. */
unsigned watch_flag_parse(const char *s, size_t n);

struct watch_options {
    size_t watcher_buf;             /* bytes per watcher (watcher_logbuf_size) */
    size_t thread_buf;              /* bytes per producing thread (worker_logbuf_size) */
};

/* Start the logger thread.  0, or -1 with a message in err. */
int  watch_setup(const struct watch_options *o, char *err, size_t errlen);
/* Stop the logger thread and close every watcher (calling its closed
 * callback).  Producers must have stopped. */
void watch_teardown(void);

enum watch_add_status { WATCH_ADD_OK, WATCH_ADD_TOO_MANY, WATCH_ADD_FAILED };

/* Make fd (a connected, non-blocking socket) a watcher of flags.  First
 * it is sent pending[0..npending) (replies not yet written, may be 0),
 * then "OK\r\n", then the lines logged from now on.  On OK the logger
 * thread owns fd; when it is done with it, it calls closed(fd, arg) on
 * its own thread (closed must close fd).  On an error nothing is kept. */
enum watch_add_status watch_add(int fd, unsigned flags, const void *pending,
                                size_t npending, void (*closed)(int fd, void *arg),
                                void *arg);

/* The client descriptor (cfd=) for lines this thread logs from now on
 * (the connection whose requests it is running). */
void watch_set_cfd(int fd);

/* ---- producers: call only when watch_enabled_for() the matching bit ---- */

/* status: 0 not_found, 1 found, 2 flushed, 3 expired (item.h's
 * enum item_fetch_result); clsid and nbytes of the item found. */
void watch_fetch(const char *key, size_t nkey, int status, unsigned clsid, uint32_t nbytes);

enum watch_store_status {
    WATCH_NOT_STORED, WATCH_STORED, WATCH_EXISTS, WATCH_NOT_FOUND, WATCH_TOO_LARGE,
    WATCH_NO_MEMORY,
};
enum watch_store_cmd {
    WATCH_CMD_SET = 2, WATCH_CMD_ADD = 1, WATCH_CMD_REPLACE = 3, WATCH_CMD_APPEND = 4,
    WATCH_CMD_PREPEND = 5, WATCH_CMD_CAS = 6,
};
/* exptime: server-relative (0 = never). */
void watch_store(const char *key, size_t nkey, enum watch_store_status st,
                 enum watch_store_cmd cmd, rel_time_t exptime, unsigned clsid,
                 uint32_t nbytes);

/* exptime, atime: server-relative. */
void watch_evict(const char *key, size_t nkey, bool fetched, rel_time_t exptime,
                 rel_time_t atime, unsigned clsid, uint32_t nbytes);

/* A delete that removed a key: cmd "delete" or "md".  The class and size
 * are those of the item this thread's last lookup found (the delete's own
 * lookup, reported through watch_fetch()). */
void watch_deleted(const char *key, size_t nkey, const char *cmd);

enum watch_transport { WATCH_LOCAL = 0, WATCH_TCP = 1, WATCH_UDP = 2 };
enum watch_reason { WATCH_CLOSE_ERROR = 0, WATCH_CLOSE_NORMAL, WATCH_CLOSE_IDLE,
                    WATCH_CLOSE_SHUTDOWN };
/* A connection opened (open) or closed (reason).  rip: the peer's address
 * as text ("unix" for a local socket), rport its port (0). */
void watch_conn(bool open, const char *rip, unsigned rport, enum watch_transport t,
                enum watch_reason reason, int cfd);

/* The numbers "stats" shows (log_*). */
struct watch_stats {
    uint64_t worker_dropped;        /* lines lost: a thread's ring was full */
    uint64_t worker_written;        /* lines put in rings */
    uint64_t watcher_skipped;       /* lines a slow watcher did not get */
    uint64_t watcher_sent;          /* lines given to watchers */
    uint64_t watchers;              /* watchers now */
};
void watch_stats(struct watch_stats *s);

#endif
