/*
 * listener.c -- bind, listen and accept on the main thread (see net.h).
 *
 * Past -c open connections a new client gets "ERROR Too many open
 * connections" and is closed (memcached's maxconns_fast).  When accept()
 * runs out of file descriptors the listeners are paused for a moment
 * instead of spinning on EMFILE.  UDP sockets are bound here on the same
 * addresses and handed to udp.c.
 */
#include "config.h"                 /* HAVE_DECL_MSG_NOSIGNAL */

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "clock.h"
#include "log.h"
#include "net.h"
#include "platform.h"

struct listener {
    struct listener *next;
    int              fd;
    struct event    *ev;
    bool             is_unix;
    bool             tls;           /* -Z, and not a "notls:" address */
    char             name[128];     /* "tcp:127.0.0.1:11211" as stats conns shows */
    char             path[108];     /* unix socket path, to unlink */
};

static struct listener *listeners;  /* main thread */
static struct event_base *lbase;
static struct event *retry_ev;      /* re-enables accept after EMFILE */

static const char too_many[] = "ERROR Too many open connections\r\n";

static void
pause_accepting(bool on)
{
    for (struct listener *l = listeners; l != NULL; l = l->next) {
        if (on)
            event_del(l->ev);
        else
            event_add(l->ev, NULL);
    }
    atomic_store(&net_counters.accepting, on ? 0 : 1);
}

static void
on_retry(evutil_socket_t fd, short what, void *arg)
{
    (void)fd; (void)what; (void)arg;
    pause_accepting(false);
}

static void
on_accept(evutil_socket_t lfd, short what, void *arg)
{
    struct listener *l = arg;
    (void)what;
    for (int i = 0; i < 64; i++) {
        int fd = platform_accept(lfd);      /* non-blocking, close-on-exec */
        if (fd < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ||
                errno == ECONNABORTED)
                return;
            if (errno == EMFILE || errno == ENFILE) {
                log_warn("accept: %s; pausing new connections", strerror(errno));
                atomic_fetch_add(&net_counters.listen_disabled_num, 1);
                pause_accepting(true);
                struct timeval tv = { 0, 10000 };
                event_add(retry_ev, &tv);
                return;
            }
            log_error("accept: %s", strerror(errno));
            return;
        }
        atomic_fetch_add(&net_counters.total_conns, 1);
        /* memcached's arithmetic, so -c admits exactly as many clients:
         * the limit counts listeners and reserved descriptors too. */
        uint64_t used = atomic_load(&net_counters.curr_conns) +
                        (uint64_t)atomic_load(&net_counters.listeners) +
                        (uint64_t)atomic_load(&net_counters.reserved_fds);
        if (used >= (uint64_t)atomic_load(&net_counters.maxconns)) {
            ssize_t w = send(fd, too_many, sizeof(too_many) - 1, MSG_DONTWAIT
#if HAVE_DECL_MSG_NOSIGNAL
                             | MSG_NOSIGNAL
#endif
                             );
            (void)w;
            evutil_closesocket(fd);
            atomic_fetch_add(&net_counters.rejected_conns, 1);
            continue;
        }
        atomic_fetch_add(&net_counters.curr_conns, 1);
        if (!l->is_unix) {
            int one = 1;
            setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        }
        worker_dispatch(fd, l->is_unix, l->tls, l->name);
    }
}

static int
add_listener(int fd, bool is_unix, bool tls, const char *name, const char *path,
             char *err, size_t errlen)
{
    struct listener *l = calloc(1, sizeof(*l));
    if (l == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    l->fd = fd;
    l->is_unix = is_unix;
    l->tls = tls;
    snprintf(l->name, sizeof(l->name), "%s", name);
    snprintf(l->path, sizeof(l->path), "%s", path ? path : "");
    l->ev = event_new(lbase, fd, EV_READ | EV_PERSIST, on_accept, l);
    event_add(l->ev, NULL);
    l->next = listeners;
    listeners = l;
    /* memcached counts each listener as a connection in these two */
    atomic_fetch_add(&net_counters.listeners, 1);
    atomic_fetch_add(&net_counters.total_conns, 1);
    atomic_fetch_add(&net_counters.conn_structures, 1);
    return 0;
}

static int
bind_unix(const char *path, int mode, int backlog, char *err, size_t errlen)
{
    struct sockaddr_un sa;
    if (strlen(path) >= sizeof(sa.sun_path)) {
        snprintf(err, errlen, "unix socket path too long: %s", path);
        return -1;
    }
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    if (fd < 0) {
        snprintf(err, errlen, "socket(AF_UNIX): %s", strerror(errno));
        return -1;
    }
    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    strcpy(sa.sun_path, path);
    /* a stale socket file from an earlier run would make bind fail */
    struct stat st;
    if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode))
        unlink(path);
    mode_t old = umask((mode_t)(~mode & 0777));
    int rc = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
    umask(old);
    if (rc != 0 || listen(fd, backlog) != 0) {
        snprintf(err, errlen, "bind to unix socket %s failed: %s", path, strerror(errno));
        close(fd);
        return -1;
    }
    evutil_make_socket_nonblocking(fd);
    evutil_make_socket_closeonexec(fd);
    char name[64];
    snprintf(name, sizeof(name), "unix:%s", path);
    return add_listener(fd, true, false, name, path, err, errlen);
}

/* Split "host", "host:port", "[v6]" or "[v6]:port"; a bare IPv6 literal
 * (two or more colons) has no port. */
static void
split_host_port(const char *spec, char *host, size_t hsize, char *port, size_t psize,
                int default_port)
{
    snprintf(port, psize, "%d", default_port);
    if (spec[0] == '[') {
        const char *end = strchr(spec, ']');
        size_t n = end ? (size_t)(end - spec - 1) : strlen(spec) - 1;
        if (n >= hsize) n = hsize - 1;
        memcpy(host, spec + 1, n);
        host[n] = '\0';
        if (end && end[1] == ':')
            snprintf(port, psize, "%s", end + 2);
        return;
    }
    const char *c = strchr(spec, ':');
    if (c != NULL && strchr(c + 1, ':') == NULL) {
        size_t n = (size_t)(c - spec);
        if (n >= hsize) n = hsize - 1;
        memcpy(host, spec, n);
        host[n] = '\0';
        snprintf(port, psize, "%s", c + 1);
        return;
    }
    snprintf(host, hsize, "%s", spec);
}

/* Bind every address spec resolves to: TCP sockets listen and become
 * listeners; UDP sockets go to udp.c.  A port in spec wins over
 * default_port (for UDP too, as memcached). */
static int
bind_spec(const char *spec, int default_port, bool udp, bool tls, int backlog, char *err,
          size_t errlen)
{
    char host[256], port[32];
    split_host_port(spec, host, sizeof(host), port, sizeof(port), default_port);
    struct addrinfo hints, *res, *ai;
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = udp ? SOCK_DGRAM : SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE;
    int rc = getaddrinfo(host[0] && strcmp(host, "*") != 0 ? host : NULL, port, &hints, &res);
    if (rc != 0) {
        snprintf(err, errlen, "getaddrinfo(%s, %s): %s", host, port, gai_strerror(rc));
        return -1;
    }
    const char *proto = udp ? "udp" : "tcp";
    int bound = 0;
    for (ai = res; ai != NULL; ai = ai->ai_next) {
        int fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
        if (fd < 0)
            continue;
        int one = 1;
        /* not for UDP: there it would let a second process bind the same
         * port and take part of the datagrams */
        if (!udp)
            setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (ai->ai_family == AF_INET6)
            setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
        if (bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || (!udp && listen(fd, backlog) != 0)) {
            snprintf(err, errlen, "bind to %s%s:%s failed: %s", udp ? "UDP " : "", host, port,
                     strerror(errno));
            close(fd);
            freeaddrinfo(res);
            return -1;
        }
        evutil_make_socket_nonblocking(fd);
        evutil_make_socket_closeonexec(fd);
        char name[128], addr[INET6_ADDRSTRLEN];
        if (ai->ai_family == AF_INET6) {
            inet_ntop(AF_INET6, &((struct sockaddr_in6 *)ai->ai_addr)->sin6_addr, addr, sizeof(addr));
            snprintf(name, sizeof(name), "%s6:[%s]:%s", proto, addr, port);
        } else {
            inet_ntop(AF_INET, &((struct sockaddr_in *)ai->ai_addr)->sin_addr, addr, sizeof(addr));
            snprintf(name, sizeof(name), "%s:%s:%s", proto, addr, port);
        }
        if ((udp ? udp_add_socket(fd, name, err, errlen)
                 : add_listener(fd, false, tls, name, NULL, err, errlen)) != 0) {
            close(fd);
            freeaddrinfo(res);
            return -1;
        }
        log_info("listening on %s%s", name, tls ? " (TLS)" : "");
        bound++;
    }
    freeaddrinfo(res);
    if (bound == 0) {
        snprintf(err, errlen, "no usable address for %s%s:%s", udp ? "UDP " : "", host, port);
        return -1;
    }
    return 0;
}

/* Bind every -l address (127.0.0.1 when none) for TCP or UDP.  With
 * TLS on, TCP listeners speak TLS except those given as "notls:<addr>"
 * (memcached's prefix; without -Z it is accepted and means nothing). */
static int
bind_all(char **addrs, int naddrs, int port, bool udp, bool tls, int backlog, char *err,
         size_t errlen)
{
    if (naddrs == 0)
        return bind_spec("127.0.0.1", port, udp, tls && !udp, backlog, err, errlen);
    for (int i = 0; i < naddrs; i++) {
        char *copy = strdup(addrs[i]), *save = NULL;
        if (copy == NULL)
            return -1;
        for (char *a = strtok_r(copy, ",", &save); a != NULL; a = strtok_r(NULL, ",", &save)) {
            while (*a == ' ')
                a++;
            bool this_tls = tls && !udp;
            if (strncmp(a, "notls:", 6) == 0) {
                a += 6;
                this_tls = false;
            }
            if (bind_spec(a, port, udp, this_tls, backlog, err, errlen) != 0) {
                free(copy);
                return -1;
            }
        }
        free(copy);
    }
    return 0;
}

int
listener_setup(struct event_base *base, char **addrs, int naddrs, int port,
               int udp_port, const char *unix_path, int mode, int backlog, bool tls,
               char *err, size_t errlen)
{
    lbase = base;
    retry_ev = evtimer_new(base, on_retry, NULL);
    if (unix_path != NULL)
        return bind_unix(unix_path, mode, backlog, err, errlen);   /* no network */
    /* TCP first, then UDP (memcached's order) */
    if (port != 0 && bind_all(addrs, naddrs, port, false, tls, backlog, err, errlen) != 0)
        return -1;
    if (udp_port != 0 && bind_all(addrs, naddrs, udp_port, true, false, backlog, err, errlen) != 0)
        return -1;
    return 0;
}

void
listener_pause(void)
{
    if (retry_ev != NULL)
        event_del(retry_ev);
    pause_accepting(true);
}

void
listener_close(void)
{
    while (listeners != NULL) {
        struct listener *l = listeners;
        listeners = l->next;
        event_free(l->ev);
        evutil_closesocket(l->fd);
        if (l->is_unix && l->path[0])
            unlink(l->path);
        free(l);
    }
    if (retry_ev != NULL) {
        event_free(retry_ev);
        retry_ev = NULL;
    }
    udp_close();
    atomic_store(&net_counters.accepting, 0);
}

void
listener_stats_conns(struct obuf *o)
{
    /* The list only changes on the main thread at start and exit. */
    for (struct listener *l = listeners; l != NULL; l = l->next) {
        obuf_printf(o, "STAT %d:addr %s\r\n", l->fd, l->name);
        obuf_printf(o, "STAT %d:state conn_listening\r\n", l->fd);
        obuf_printf(o, "STAT %d:secs_since_last_cmd %u\r\n", l->fd, clock_now());
    }
}
