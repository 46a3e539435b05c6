/*
 * watch.c -- the logger behind "watch" (see watch.h, doc/watch.md).
 *
 * Producers (any thread) format a line and put it, with its flag and gid,
 * into a ring of their own (ring.h), created on the thread's first line
 * and registered in `rings`.  The logger thread runs an event_base of its
 * own: a timer drains every ring into the buffers of the watchers whose
 * flags match and writes those buffers to the sockets; a read event per
 * watcher notices a client that went away.  The timer runs only while
 * someone watches; it fires every millisecond while lines flow and backs
 * off to LOGGER_TICK_MAX when they do not.
 */
#include <errno.h>
#include <stdarg.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <event2/util.h>

#include "log.h"
#include "platform.h"
#include "ring.h"
#include "watch.h"

_Atomic unsigned watch_mask;

#define LOGGER_TICK_MIN_US 1000
#define LOGGER_TICK_MAX_US 64000
#define LINE_MAX_BYTES 2048         /* longest line: 3 x 250 key bytes + fields */
#define REC_HDR 9                   /* record: flag byte, gid (8 bytes), line */

/* One producing thread's ring.  The thread writes, the logger reads. */
struct tring {
    struct ring       r;
    struct tring     *next;         /* reg_lock */
    _Atomic bool      orphan;       /* the thread exited: free once drained */
    _Atomic bool      woke;         /* half full: the logger was asked to drain */
    _Atomic uint64_t  written, dropped;
};

struct watcher {
    int               fd;
    unsigned          flags;
    uint64_t          min_gid;      /* lines logged before it began are not its */
    char             *buf;          /* output not yet written (logger thread) */
    size_t            cap, start, len;
    uint64_t          skipped;      /* lines lost since the last "skipped=" */
    struct event     *ev;           /* EV_READ: input or hang-up */
    struct event     *wev;          /* EV_WRITE, added while output waits */
    void            (*closed)(int fd, void *arg);
    void             *arg;
    struct watcher   *next;         /* the pending list (reg_lock) */
};

/* reg_lock: rings, pending, npending, nactive and watch_mask updates.
 * A leaf lock. */
static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
static struct tring   *rings;       /* reg_lock */
static struct watcher *pending;     /* reg_lock: handed over, not adopted yet */
static int             npending;    /* reg_lock */
static int             nactive;     /* reg_lock (written by the logger thread) */

/* logger thread only */
static struct watcher *active[WATCH_MAX];
static struct event_base *base;
static struct event   *tick_ev, *wake_ev;
static long            tick_us = LOGGER_TICK_MIN_US;
static bool            ticking;
static pthread_t       thread;
static _Atomic bool    running;     /* between setup and teardown */

static struct watch_options opts;
static _Atomic uint64_t gid_seq;
static _Atomic uint64_t skipped_total, sent_total;
static pthread_key_t   ring_key;

static _Thread_local struct tring *my_ring;
static _Thread_local int my_cfd = -1;
static _Thread_local struct { unsigned clsid; uint32_t nbytes; } last_found;

/* ---------- arguments ---------- */

unsigned
watch_flag_parse(const char *s, size_t n)
{
    static const struct { const char *w; unsigned f; } words[] = {
        { "fetchers", WATCH_FETCHERS }, { "mutations", WATCH_MUTATIONS },
        { "evictions", WATCH_EVICTIONS }, { "connevents", WATCH_CONNEVENTS },
        { "deletions", WATCH_DELETIONS }, { "rawcmds", WATCH_OTHER },
        { "sysevents", WATCH_OTHER }, { "proxyreqs", WATCH_OTHER },
        { "proxyevents", WATCH_OTHER }, { "proxyuser", WATCH_OTHER },
    };
    for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++)
        if (strlen(words[i].w) == n && memcmp(words[i].w, s, n) == 0)
            return words[i].f;
    return 0;
}

/* ---------- producers ---------- */

static void
ring_orphan(void *p)
{
    struct tring *t = p;
    atomic_store(&t->orphan, true);
}

static struct tring *
thread_ring(void)
{
    if (my_ring != NULL)
        return my_ring;
    if (!atomic_load_explicit(&running, memory_order_acquire))
        return NULL;
    struct tring *t = calloc(1, sizeof(*t));
    if (t == NULL)
        return NULL;
    pthread_mutex_lock(&reg_lock);
    size_t size = opts.thread_buf;
    pthread_mutex_unlock(&reg_lock);
    if (ring_init(&t->r, size) != 0) {
        free(t);
        return NULL;
    }
    pthread_mutex_lock(&reg_lock);
    t->next = rings;
    rings = t;
    pthread_mutex_unlock(&reg_lock);
    pthread_setspecific(ring_key, t);
    my_ring = t;
    return t;
}

void
watch_set_cfd(int fd)
{
    my_cfd = fd;
}

/* Put one formatted line (without its gid prefix) into this thread's
 * ring, under flag.  The line gets "ts=... gid=... " in front here. */
static void
emit(unsigned flag, const char *fmt, ...) MC_PRINTF(2, 3);
static void
emit(unsigned flag, const char *fmt, ...)
{
    struct tring *t = thread_ring();
    if (t == NULL)
        return;
    uint64_t gid = atomic_fetch_add_explicit(&gid_seq, 1, memory_order_relaxed) + 1;
    struct timeval tv;
    evutil_gettimeofday(&tv, NULL);
    char line[LINE_MAX_BYTES];
    int n = snprintf(line, sizeof(line), "ts=%lld.%d gid=%llu ", (long long)tv.tv_sec,
                     (int)tv.tv_usec, (unsigned long long)gid);
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
    va_end(ap);
    if (m < 0 || (size_t)(n + m) >= sizeof(line))
        return;
    unsigned char hdr[REC_HDR];
    hdr[0] = (unsigned char)flag;
    memcpy(hdr + 1, &gid, 8);
    if (ring_put(&t->r, hdr, sizeof(hdr), line, (size_t)(n + m)))
        atomic_fetch_add_explicit(&t->written, 1, memory_order_relaxed);
    else
        atomic_fetch_add_explicit(&t->dropped, 1, memory_order_relaxed);
    /* Half full: wake the logger now rather than at its next tick, so a
     * burst reaches the watchers (where a slow one is told what it
     * skipped) instead of being dropped here.  Once per drain. */
    if (ring_used(&t->r) > t->r.cap / 2 &&
        !atomic_exchange_explicit(&t->woke, true, memory_order_relaxed))
        event_active(wake_ev, EV_READ, 0);
}

/* memcached's uriencode: letters, digits and "-._~" as they are, every
 * other byte as %XX.  out holds 3 * n + 1 bytes. */
static const char *
uri_key(const char *key, size_t n, char *out)
{
    static const char hex[] = "0123456789ABCDEF";
    char *p = out;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)key[i];
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '.' || c == '_' || c == '~') {
            *p++ = (char)c;
        } else {
            *p++ = '%';
            *p++ = hex[c >> 4];
            *p++ = hex[c & 15];
        }
    }
    *p = '\0';
    return out;
}

#define KEYBUF (3 * 256 + 1)

void
watch_fetch(const char *key, size_t nkey, int status, unsigned clsid, uint32_t nbytes)
{
    static const char *const names[] = { "not_found", "found", "flushed", "expired" };
    if (status != 1)
        clsid = 0, nbytes = 0;
    last_found.clsid = clsid;
    last_found.nbytes = nbytes;
    if (!watch_enabled_for(WATCH_FETCHERS))
        return;
    char kb[KEYBUF];
    emit(WATCH_FETCHERS, "type=item_get key=%s status=%s clsid=%u cfd=%d size=%u\n",
         uri_key(key, nkey, kb), names[status & 3], clsid, my_cfd, nbytes);
}

void
watch_store(const char *key, size_t nkey, enum watch_store_status st,
            enum watch_store_cmd cmd, rel_time_t exptime, unsigned clsid, uint32_t nbytes)
{
    static const char *const sts[] = { "not_stored", "stored", "exists", "not_found",
                                       "too_large", "no_memory" };
    static const char *const cmds[] = { "null", "add", "set", "replace", "append",
                                        "prepend", "cas" };
    char kb[KEYBUF];
    uint32_t ttl = exptime != 0 ? (uint32_t)(exptime - clock_now()) : 0;
    emit(WATCH_MUTATIONS,
         "type=item_store key=%s status=%s cmd=%s ttl=%u clsid=%u cfd=%d size=%u\n",
         uri_key(key, nkey, kb), sts[st], cmds[cmd], ttl, clsid, my_cfd, nbytes);
}

void
watch_evict(const char *key, size_t nkey, bool fetched, rel_time_t exptime,
            rel_time_t atime, unsigned clsid, uint32_t nbytes)
{
    char kb[KEYBUF];
    rel_time_t now = clock_now();
    long long ttl = exptime != 0 ? (long long)exptime - (long long)now : -1;
    emit(WATCH_EVICTIONS, "type=eviction key=%s fetch=%s ttl=%lld la=%d clsid=%u size=%u\n",
         uri_key(key, nkey, kb), fetched ? "yes" : "no", ttl, (int)(now - atime), clsid,
         nbytes);
}

void
watch_deleted(const char *key, size_t nkey, const char *cmd)
{
    char kb[KEYBUF];
    emit(WATCH_DELETIONS, "type=deleted key=%s cmd=%s clsid=%u size=%u\n",
         uri_key(key, nkey, kb), cmd, last_found.clsid, last_found.nbytes);
}

void
watch_conn(bool open, const char *rip, unsigned rport, enum watch_transport t,
           enum watch_reason reason, int cfd)
{
    static const char *const tr[] = { "local", "tcp", "udp" };
    static const char *const why[] = { "error", "normal", "idle_timeout", "shutdown" };
    if (open)
        emit(WATCH_CONNEVENTS, "type=conn_new rip=%s rport=%u transport=%s cfd=%d\n",
             rip, rport, tr[t], cfd);
    else
        emit(WATCH_CONNEVENTS,
             "type=conn_close rip=%s rport=%u transport=%s reason=%s cfd=%d\n",
             rip, rport, tr[t], why[reason], cfd);
}

/* ---------- watchers (logger thread) ---------- */

static void
set_mask_locked(void)
{
    unsigned m = 0;
    for (int i = 0; i < WATCH_MAX; i++)
        if (active[i] != NULL)
            m |= active[i]->flags;
    for (struct watcher *w = pending; w != NULL; w = w->next)
        m |= w->flags;
    atomic_store_explicit(&watch_mask, m, memory_order_relaxed);
}

static void
watcher_free(struct watcher *w)
{
    if (w->ev != NULL)
        event_free(w->ev);
    if (w->wev != NULL)
        event_free(w->wev);
    w->closed(w->fd, w->arg);
    free(w->buf);
    free(w);
}

static void
watcher_close(int slot)
{
    struct watcher *w = active[slot];
    active[slot] = NULL;
    pthread_mutex_lock(&reg_lock);
    nactive--;
    set_mask_locked();
    pthread_mutex_unlock(&reg_lock);
    watcher_free(w);
}

/* Write what w has buffered.  False if the watcher is gone (closed). */
static bool
watcher_flush(int slot)
{
    struct watcher *w = active[slot];
    while (w->len > 0) {
        ssize_t n = platform_send(w->fd, w->buf + w->start, w->len);
        if (n > 0) {
            w->start += (size_t)n;
            w->len -= (size_t)n;
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
            break;
        watcher_close(slot);
        return false;
    }
    if (w->len == 0) {
        w->start = 0;
        if (w->wev != NULL)
            event_del(w->wev);
    } else if (w->wev != NULL && !event_pending(w->wev, EV_WRITE, NULL)) {
        event_add(w->wev, NULL);    /* go on as soon as the socket takes more */
    }
    return true;
}

static void
on_watcher_write(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    watcher_flush((int)(intptr_t)arg);
}

/* Room for n more bytes at the end of w's buffer (moving what is there
 * to the front if needed)? */
static bool
watcher_room(struct watcher *w, size_t n)
{
    if (w->cap - w->start - w->len >= n)
        return true;
    if (w->cap - w->len < n)
        return false;
    memmove(w->buf, w->buf + w->start, w->len);
    w->start = 0;
    return true;
}

static void
watcher_append(struct watcher *w, const char *p, size_t n)
{
    memcpy(w->buf + w->start + w->len, p, n);
    w->len += n;
}

/* One line for every watcher that wants it.  As memcached: a watcher
 * without room for the line plus 128 bytes (after a write attempt) skips
 * it; the next line it gets is preceded by "skipped=N". */
static void
deliver(unsigned flag, uint64_t gid, const char *line, size_t n)
{
    for (int i = 0; i < WATCH_MAX; i++) {
        struct watcher *w = active[i];
        if (w == NULL || !(w->flags & flag) || gid < w->min_gid)
            continue;
        if (!watcher_room(w, n + 128)) {
            if (!watcher_flush(i))
                continue;
            if (!watcher_room(w, n + 128)) {
                w->skipped++;
                atomic_fetch_add_explicit(&skipped_total, 1, memory_order_relaxed);
                continue;
            }
        }
        if (w->skipped > 0) {
            char s[64];
            int k = snprintf(s, sizeof(s), "skipped=%llu\n", (unsigned long long)w->skipped);
            watcher_append(w, s, (size_t)k);
            w->skipped = 0;
        }
        watcher_append(w, line, n);
        atomic_fetch_add_explicit(&sent_total, 1, memory_order_relaxed);
    }
}

/* Input from a watcher: discarded; end of stream or an error closes it. */
static void
on_watcher_read(evutil_socket_t fd, short what, void *arg)
{
    (void)what;
    int slot = (int)(intptr_t)arg;
    char buf[512];
    for (int i = 0; i < 16; i++) {
        ssize_t n = platform_read((int)fd, buf, sizeof(buf));
        if (n > 0)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
            return;
        watcher_close(slot);
        return;
    }
}

static void schedule(bool busy);

/* Take over the watchers handed over since the last call. */
static void
adopt(void)
{
    pthread_mutex_lock(&reg_lock);
    struct watcher *list = pending;
    pending = NULL;
    for (struct watcher *w = list; w != NULL;) {
        struct watcher *next = w->next;
        int slot = 0;
        while (active[slot] != NULL)
            slot++;                 /* npending + nactive <= WATCH_MAX */
        active[slot] = w;
        npending--;
        nactive++;
        w->next = NULL;
        w->ev = event_new(base, w->fd, EV_READ | EV_PERSIST, on_watcher_read,
                          (void *)(intptr_t)slot);
        if (w->ev != NULL)
            event_add(w->ev, NULL);
        w->wev = event_new(base, w->fd, EV_WRITE | EV_PERSIST, on_watcher_write,
                           (void *)(intptr_t)slot);
        w = next;
    }
    pthread_mutex_unlock(&reg_lock);
}

/* Drain every ring; free the rings of threads that exited.  Returns the
 * lines moved.  Rings are only ever prepended by producers and unlinked
 * here, so the list past a head read under reg_lock can be walked
 * without it (deliver() may close a watcher, which takes reg_lock). */
static uint64_t
drain(void)
{
    static char rec[RING_RECORD_MAX];
    uint64_t moved = 0;
    bool orphans = false;
    pthread_mutex_lock(&reg_lock);
    struct tring *head = rings;
    pthread_mutex_unlock(&reg_lock);
    for (struct tring *t = head; t != NULL; t = t->next) {
        size_t n;
        orphans |= atomic_load(&t->orphan);
        while ((n = ring_take(&t->r, rec)) > 0) {
            uint64_t gid;
            memcpy(&gid, rec + 1, 8);
            deliver((unsigned char)rec[0], gid, rec + REC_HDR, n - REC_HDR);
            moved++;
        }
        atomic_store_explicit(&t->woke, false, memory_order_relaxed);
    }
    if (!orphans)
        return moved;
    /* a thread that exited writes no more: once drained, its ring goes
     * (its counters with it) */
    pthread_mutex_lock(&reg_lock);
    for (struct tring **pp = &rings; *pp != NULL;) {
        struct tring *t = *pp;
        if (atomic_load(&t->orphan) && ring_used(&t->r) == 0) {
            *pp = t->next;
            ring_deinit(&t->r);
            free(t);
            continue;
        }
        pp = &t->next;
    }
    pthread_mutex_unlock(&reg_lock);
    return moved;
}

static void
on_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
    ticking = false;
    adopt();
    uint64_t moved = drain();
    int n = 0;
    for (int i = 0; i < WATCH_MAX; i++)
        if (active[i] != NULL && watcher_flush(i))
            n++;
    if (n > 0)
        schedule(moved > 0);
}

/* Run the next tick: soon while lines flow, later and later when not. */
static void
schedule(bool busy)
{
    if (busy)
        tick_us = LOGGER_TICK_MIN_US;
    else if (tick_us < LOGGER_TICK_MAX_US)
        tick_us *= 2;
    struct timeval tv = { 0, tick_us };
    event_add(tick_ev, &tv);
    ticking = true;
}

static void
on_wake(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
    on_tick(-1, 0, NULL);           /* adopt new watchers, drain, write */
}

static void *
logger_main(void *arg)
{
    (void)arg;
    event_base_loop(base, EVLOOP_NO_EXIT_ON_EMPTY);
    return NULL;
}

enum watch_add_status
watch_add(int fd, unsigned flags, const void *pend, size_t npend,
          void (*closed)(int fd, void *arg), void *arg)
{
    if (!atomic_load(&running))
        return WATCH_ADD_FAILED;
    struct watcher *w = calloc(1, sizeof(*w));
    if (w == NULL)
        return WATCH_ADD_FAILED;
    pthread_mutex_lock(&reg_lock);
    w->cap = opts.watcher_buf + npend + 4;
    pthread_mutex_unlock(&reg_lock);
    w->buf = malloc(w->cap);
    if (w->buf == NULL) {
        free(w);
        return WATCH_ADD_FAILED;
    }
    if (npend > 0)
        memcpy(w->buf, pend, npend);
    memcpy(w->buf + npend, "OK\r\n", 4);
    w->len = npend + 4;
    w->fd = fd;
    w->flags = flags;
    w->closed = closed;
    w->arg = arg;
    pthread_mutex_lock(&reg_lock);
    if (npending + nactive >= WATCH_MAX) {
        pthread_mutex_unlock(&reg_lock);
        free(w->buf);
        free(w);
        return WATCH_ADD_TOO_MANY;
    }
    w->min_gid = atomic_fetch_add(&gid_seq, 1) + 1;
    w->next = pending;
    pending = w;
    npending++;
    set_mask_locked();
    pthread_mutex_unlock(&reg_lock);
    event_active(wake_ev, EV_READ, 0);      /* thread-safe (evthread_use_pthreads) */
    return WATCH_ADD_OK;
}

void
watch_stats(struct watch_stats *s)
{
    memset(s, 0, sizeof(*s));
    pthread_mutex_lock(&reg_lock);
    for (struct tring *t = rings; t != NULL; t = t->next) {
        s->worker_written += atomic_load_explicit(&t->written, memory_order_relaxed);
        s->worker_dropped += atomic_load_explicit(&t->dropped, memory_order_relaxed);
    }
    s->watchers = (uint64_t)nactive;
    pthread_mutex_unlock(&reg_lock);
    s->watcher_skipped = atomic_load_explicit(&skipped_total, memory_order_relaxed);
    s->watcher_sent = atomic_load_explicit(&sent_total, memory_order_relaxed);
}

int
watch_setup(const struct watch_options *o, char *err, size_t errlen)
{
    pthread_mutex_lock(&reg_lock);
    opts = *o;
    if (opts.watcher_buf < 4096)
        opts.watcher_buf = 4096;
    pthread_mutex_unlock(&reg_lock);
    if (pthread_key_create(&ring_key, ring_orphan) != 0) {
        snprintf(err, errlen, "watch: cannot create a thread key");
        return -1;
    }
    base = event_base_new();
    if (base == NULL) {
        snprintf(err, errlen, "watch: cannot create an event base");
        pthread_key_delete(ring_key);
        return -1;
    }
    tick_ev = evtimer_new(base, on_tick, NULL);
    wake_ev = event_new(base, -1, 0, on_wake, NULL);
    if (tick_ev == NULL || wake_ev == NULL) {
        snprintf(err, errlen, "watch: out of memory");
        goto fail;
    }
    atomic_store(&running, true);
    int rc = pthread_create(&thread, NULL, logger_main, NULL);
    if (rc != 0) {
        atomic_store(&running, false);
        snprintf(err, errlen, "watch: cannot start the logger thread: %s", strerror(rc));
        goto fail;
    }
    return 0;
fail:
    if (tick_ev != NULL)
        event_free(tick_ev);
    if (wake_ev != NULL)
        event_free(wake_ev);
    tick_ev = wake_ev = NULL;
    event_base_free(base);
    base = NULL;
    pthread_key_delete(ring_key);
    return -1;
}

void
watch_teardown(void)
{
    if (!atomic_load(&running))
        return;
    event_base_loopbreak(base);
    pthread_join(thread, NULL);
    atomic_store(&running, false);
    adopt();
    for (int i = 0; i < WATCH_MAX; i++)
        if (active[i] != NULL)
            watcher_close(i);
    pthread_key_delete(ring_key);
    pthread_mutex_lock(&reg_lock);
    while (rings != NULL) {
        struct tring *t = rings;
        rings = t->next;
        ring_deinit(&t->r);
        free(t);
    }
    pthread_mutex_unlock(&reg_lock);
    my_ring = NULL;
    event_free(tick_ev);
    event_free(wake_ev);
    tick_ev = wake_ev = NULL;
    event_base_free(base);
    base = NULL;
    atomic_store(&watch_mask, 0);
}
