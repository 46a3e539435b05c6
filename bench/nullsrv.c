/*
 * nullsrv.c -- the load rig's ceiling: a "server" with no storage engine.
 *
 * Speaks just enough of the text protocol for mcload's text workloads
 * (`get`/`gets`, `set`, `version`) over one epoll loop on one thread, with
 * the same system calls per batch as a real server (one read, one write
 * per ready connection).  Values live in a flat array indexed by the
 * number at the end of the key (mcload's keys are PREFIX<index>): a
 * lookup is an array index, with no hashing, no lock, no expiry, no
 * eviction, no accounting.  Whatever throughput it reaches under a
 * workload is the most any server can reach on this machine with this
 * client (bench/compare.py --ours build/bench/nullsrv): the kernel's and
 * the client's part of the cost, measured in the same run as the servers.
 *
 * Accepts memcached's command line and ignores everything but -p/-l;
 * listens on loopback only.  Not a cache: never use it for anything else.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fmt.h"

#define NKEYS (1u << 21)      /* key indexes >= this are misses */
#define VMAX 2048             /* longer values are refused */

#define INLINE 48             /* values up to this size live in the slot */

struct slot {
    uint32_t flags;
    uint32_t len;             /* 0: never set */
    char *data;               /* small[] or a VMAX-byte allocation */
    char small[INLINE];
};
static struct slot *slots;

struct conn {
    int fd;
    char *in;
    size_t ilen, icap;
    char *out;
    size_t olen, ooff, ocap;
    int want_out;
};

static void *xrealloc(void *p, size_t n)
{
    p = realloc(p, n);
    if (p == NULL) {
        perror("nullsrv: realloc");
        exit(1);
    }
    return p;
}

static void out_room(struct conn *c, size_t n)
{
    if (c->olen + n > c->ocap) {
        while (c->olen + n > c->ocap)
            c->ocap = c->ocap ? c->ocap * 2 : 65536;
        c->out = xrealloc(c->out, c->ocap);
    }
}

static void out_put(struct conn *c, const void *p, size_t n)
{
    out_room(c, n);
    memcpy(c->out + c->olen, p, n);
    c->olen += n;
}

/* Index from the key's trailing digits; NKEYS if none or too large. */
static uint32_t key_index(const char *k, size_t n)
{
    size_t i = n;
    while (i > 0 && k[i - 1] >= '0' && k[i - 1] <= '9')
        i--;
    if (i == n || n - i > 7)
        return NKEYS;
    uint32_t v = 0;
    for (; i < n; i++)
        v = v * 10 + (uint32_t)(k[i] - '0');
    return v < NKEYS ? v : NKEYS;
}

/* Two passes, as a server that overlaps its cache misses would: find the
 * keys and prefetch their slots, then answer. */
static void do_get(struct conn *c, const char *p, const char *end)
{
    enum { BATCH = 128 };
    const char *ks[BATCH];
    size_t ns[BATCH];
    uint32_t ix[BATCH];
    while (p < end) {
        int n = 0;
        while (p < end && n < BATCH) {
            while (p < end && *p == ' ')
                p++;
            const char *k = p;
            while (p < end && *p != ' ')
                p++;
            if (p == k)
                break;
            ks[n] = k;
            ns[n] = (size_t)(p - k);
            ix[n] = key_index(k, ns[n]);
            if (ix[n] != NKEYS)
                __builtin_prefetch(&slots[ix[n]]);
            n++;
        }
        for (int i = 0; i < n; i++) {
            if (ix[i] == NKEYS || slots[ix[i]].len == 0)
                continue;
            struct slot *s = &slots[ix[i]];
            out_room(c, ns[i] + s->len + 40);
            char *o = c->out + c->olen;
            memcpy(o, "VALUE ", 6);
            o += 6;
            memcpy(o, ks[i], ns[i]);
            o += ns[i];
            *o++ = ' ';
            o = u32_fmt(o, s->flags);
            *o++ = ' ';
            o = u32_fmt(o, s->len);
            *o++ = '\r';
            *o++ = '\n';
            memcpy(o, s->data, s->len);
            o += s->len;
            *o++ = '\r';
            *o++ = '\n';
            c->olen = (size_t)(o - c->out);
        }
    }
    out_put(c, "END\r\n", 5);
}

static int num(const char **pp, const char *end, uint32_t *v)
{
    const char *p = *pp;
    while (p < end && *p == ' ')
        p++;
    if (p == end || *p < '0' || *p > '9')
        return -1;
    uint64_t x = 0;
    while (p < end && *p >= '0' && *p <= '9' && x < 0xffffffffu)
        x = x * 10 + (uint64_t)(*p++ - '0');
    *v = (uint32_t)x;
    *pp = p;
    return 0;
}

/* Handle the complete requests at the start of c->in; returns bytes used
 * or -1 to close. */
static long process(struct conn *c)
{
    size_t pos = 0;
    for (;;) {
        char *line = c->in + pos;
        char *nl = memchr(line, '\n', c->ilen - pos);
        if (nl == NULL)
            break;
        char *end = nl > line && nl[-1] == '\r' ? nl - 1 : nl;
        size_t used = (size_t)(nl + 1 - line);
        if (end - line > 4 && memcmp(line, "get ", 4) == 0) {
            do_get(c, line + 4, end);
        } else if (end - line > 5 && memcmp(line, "gets ", 5) == 0) {
            do_get(c, line + 5, end);
        } else if (end - line > 4 && memcmp(line, "set ", 4) == 0) {
            const char *p = line + 4;
            while (p < end && *p == ' ')
                p++;
            const char *k = p;
            while (p < end && *p != ' ')
                p++;
            size_t nk = (size_t)(p - k);
            uint32_t fl, ex, len;
            if (nk == 0 || num(&p, end, &fl) || num(&p, end, &ex) || num(&p, end, &len) ||
                len > VMAX) {
                out_put(c, "CLIENT_ERROR bad command line format\r\n", 38);
                return -1;
            }
            int noreply = end - p >= 8 && memcmp(end - 7, "noreply", 7) == 0;
            if (c->ilen - pos - used < (size_t)len + 2)
                break;                      /* data block not here yet */
            uint32_t ix = key_index(k, nk);
            if (ix != NKEYS) {
                struct slot *s = &slots[ix];
                if (len <= INLINE && (s->data == NULL || s->data == s->small))
                    s->data = s->small;
                else if (s->data == NULL || s->data == s->small)
                    s->data = xrealloc(NULL, VMAX);
                memcpy(s->data, nl + 1, len);
                s->len = len;
                s->flags = fl;
            }
            used += (size_t)len + 2;
            if (!noreply)
                out_put(c, "STORED\r\n", 8);
        } else if (end - line == 7 && memcmp(line, "version", 7) == 0) {
            out_put(c, "VERSION nullsrv\r\n", 17);
        } else if (end - line == 4 && memcmp(line, "quit", 4) == 0) {
            return -1;
        } else {
            out_put(c, "ERROR\r\n", 7);
        }
        pos += used;
    }
    return (long)pos;
}

static int flush_out(struct conn *c)
{
    while (c->ooff < c->olen) {
        ssize_t n = send(c->fd, c->out + c->ooff, c->olen - c->ooff, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN)
                return 1;
            return -1;
        }
        c->ooff += (size_t)n;
    }
    c->olen = c->ooff = 0;
    return 0;
}

/* Replies are written after every ready connection of an epoll_wait has
 * been read, back to back, as our server does (src/net/conn.c finish());
 * env NULLSRV_BATCH=0 writes each connection's reply right after its read,
 * to measure what that batching is worth. */
static int batch;
static struct conn *pending[256];
static int npending;

static void conn_close(int ep, struct conn *c)
{
    for (int i = 0; i < npending; i++)
        if (pending[i] == c)
            pending[i] = NULL;
    epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    free(c->in);
    free(c->out);
    free(c);
}

static void after_read(int ep, struct conn *c);

static void on_readable(int ep, struct conn *c)
{
    for (;;) {
        if (c->icap - c->ilen < 16384) {
            c->icap = c->icap ? c->icap * 2 : 65536;
            c->in = xrealloc(c->in, c->icap);
        }
        ssize_t n = read(c->fd, c->in + c->ilen, c->icap - c->ilen);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
            conn_close(ep, c);
            return;
        }
        if (n < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        c->ilen += (size_t)n;
        long used = process(c);
        if (used < 0) {
            flush_out(c);
            conn_close(ep, c);
            return;
        }
        size_t room = c->icap - c->ilen;
        memmove(c->in, c->in + used, c->ilen - (size_t)used);
        c->ilen -= (size_t)used;
        if (room > 0)
            break;                          /* short read: drained */
    }
    if (batch && npending < 256) {
        pending[npending++] = c;
        return;
    }
    after_read(ep, c);
}

static void after_read(int ep, struct conn *c)
{
    int r = flush_out(c);
    if (r < 0) {
        conn_close(ep, c);
        return;
    }
    int want = r == 1;
    if (want != c->want_out) {
        struct epoll_event ev = { .events = EPOLLIN | (want ? EPOLLOUT : 0), .data.ptr = c };
        epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
        c->want_out = want;
    }
}

int main(int argc, char **argv)
{
    int port = 11211;
    const char *host = "127.0.0.1";
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-p") == 0 && i + 1 < argc)
            port = atoi(argv[++i]);
        else if (strcmp(argv[i], "-l") == 0 && i + 1 < argc)
            host = argv[++i];
    }
    if (strcmp(host, "127.0.0.1") != 0) {
        fprintf(stderr, "nullsrv: loopback only (-l 127.0.0.1)\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    batch = getenv("NULLSRV_BATCH") == NULL || atoi(getenv("NULLSRV_BATCH")) != 0;
    slots = calloc(NKEYS, sizeof(*slots));
    int ls = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (slots == NULL || ls < 0 || bind(ls, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
        listen(ls, 1024) != 0) {
        perror("nullsrv: Address already in use or setup failed");
        return 1;
    }
    int ep = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event lev = { .events = EPOLLIN, .data.ptr = NULL };
    epoll_ctl(ep, EPOLL_CTL_ADD, ls, &lev);
    struct epoll_event evs[256];
    for (;;) {
        int n = epoll_wait(ep, evs, 256, -1);
        for (int i = 0; i < n; i++) {
            struct conn *c = evs[i].data.ptr;
            if (c == NULL) {
                int fd;
                while ((fd = accept4(ls, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
                    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
                    c = calloc(1, sizeof(*c));
                    if (c == NULL) {
                        close(fd);
                        continue;
                    }
                    c->fd = fd;
                    struct epoll_event ev = { .events = EPOLLIN, .data.ptr = c };
                    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
                }
                continue;
            }
            if (evs[i].events & EPOLLOUT) {
                int r = flush_out(c);
                if (r < 0) {
                    conn_close(ep, c);
                    continue;
                }
                if (r == 0 && c->want_out) {
                    struct epoll_event ev = { .events = EPOLLIN, .data.ptr = c };
                    epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
                    c->want_out = 0;
                }
                if (!(evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
                    continue;
            }
            on_readable(ep, c);
        }
        for (int i = 0; i < npending; i++)
            if (pending[i] != NULL)
                after_read(ep, pending[i]);
        npending = 0;
    }
}
