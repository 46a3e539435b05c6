/*
 * mcload -- a validating load generator for memcached-compatible servers
 * (text protocol, or the meta protocol with --proto meta).
 *
 * One epoll event loop per thread, nonblocking sockets, a fixed number of
 * requests kept in flight on every connection (--pipeline).  Every reply is
 * checked: framing, keys (a multiget's VALUE lines must be an in-order
 * subsequence of the requested keys), and value bytes.  Values are a
 * deterministic function of (key, version, length); the version is stored in
 * the item's 32-bit client flags, so any value read back can be recomputed
 * and compared byte by byte.
 *
 * Meta mode (--proto meta): a get is `mg <key> v` per key (`VA <len>` + data
 * or `EN`), a set `ms <key> <len> T0` (`HD`).  Plain meta replies carry no
 * client flags, so the version is written into the first 6 bytes of the value
 * itself (see meta_value_fill); the rest is the same function as in text
 * mode.  With --meta-quiet, gets are `mg <key> v q k` (misses answer
 * nothing, hits `VA <len> k<key>`), sets `ms <key> <len> q` (success answers
 * nothing), and every window of up to --pipeline requests ends with `mn`,
 * whose `MN` completes the whole window.  Hits are matched to the window's
 * requested keys by their k flag, in request order.
 *
 * Binary mode (--proto binary): a get is one GetK packet per key (a hit
 * carries the key and the version in its flags, a miss is "not found"), a
 * set is Set with the version as flags.  With --bin-quiet gets are GetKQ
 * (misses answer nothing), sets SetQ, and every window ends with Noop,
 * matched like --meta-quiet's mn.
 *
 * Output: human-readable summary, then one final JSON line on stdout.
 * Exit status: 0 ok, 1 if any error was counted, 2 on usage/setup failure.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <netdb.h>
#include "config.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#ifdef HAVE_TLS
#include <openssl/err.h>
#include <openssl/ssl.h>
#endif

#include "fmt.h"

/* ------------------------------------------------------------------ */
/* options                                                            */

static struct {
    const char *host;
    const char *port;
    int threads;
    int conns;
    int pipeline;
    uint32_t keys;
    const char *prefix;
    uint32_t vmin, vmax;
    unsigned get_w, set_w;
    int multiget;
    double duration;
    uint64_t requests;
    bool warmup;
    int idle_conns;
    uint64_t seed;
    double drain_timeout;
    bool quiet;
    bool meta;       /* --proto meta */
    bool tls;        /* --tls: every connection speaks TLS (no verification) */
    bool meta_quiet; /* --meta-quiet: q+k flags, mn ends each window */
    bool binary;     /* --proto binary */
    bool bin_quiet;  /* --bin-quiet: GetKQ/SetQ, Noop ends each window */
    bool windowed;   /* meta_quiet or bin_quiet: replies close per window */
} opt = {
    .host = "127.0.0.1", .port = "11211", .threads = 1, .conns = 50,
    .pipeline = 1, .keys = 10000, .prefix = "mcl:", .vmin = 32, .vmax = 32,
    .get_w = 9, .set_w = 1, .multiget = 1, .duration = 0, .requests = 0,
    .warmup = false, .idle_conns = 0, .seed = 1, .drain_timeout = 5.0,
    .quiet = false,
};

#define MAX_VALUE (1024u * 1024u)
#define MAX_KEYLEN 250

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* ------------------------------------------------------------------ */
/* hashing, rng, deterministic values                                 */

static inline uint64_t mix64(uint64_t z)
{
    z += 0x9e3779b97f4a7c15ull;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static inline uint64_t rng_next(uint64_t *s)
{
    /* xorshift64* */
    uint64_t x = *s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * 0x2545f4914f6cdd1dull;
}

static inline uint32_t rng_below(uint64_t *s, uint32_t n)
{
    return (uint32_t)(((rng_next(s) >> 32) * (uint64_t)n) >> 32);
}

static inline uint32_t value_len(uint32_t key, uint32_t version)
{
    if (opt.vmin == opt.vmax)
        return opt.vmin;
    uint64_t h = mix64(((uint64_t)key << 32) ^ version ^ 0x5bd1e995ull);
    return opt.vmin + (uint32_t)(h % (uint64_t)(opt.vmax - opt.vmin + 1));
}

static const char ALPHA[65] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static void value_fill(char *dst, uint32_t key, uint32_t version, uint32_t len)
{
    uint64_t s = mix64(((uint64_t)key << 32) ^ version) ^ ((uint64_t)len << 7);
    uint32_t i = 0;
    while (i < len) {
        s = mix64(s);
        uint64_t r = s;
        for (int b = 0; b < 10 && i < len; b++, r >>= 6)
            dst[i++] = ALPHA[r & 63];
    }
}

/* Meta mode: plain mg replies carry no client flags, so the version travels
 * in the value: its first META_VHDR bytes are the 32-bit version in base 64
 * (ALPHA, most significant digit first), the rest is value_fill's output.
 * A value is therefore still a function of (key, version, length) and can
 * be checked byte for byte; values need at least META_VHDR bytes. */
#define META_VHDR 6

static void meta_value_fill(char *dst, uint32_t key, uint32_t version, uint32_t len)
{
    value_fill(dst, key, version, len);
    for (int i = 0; i < META_VHDR; i++)
        dst[i] = ALPHA[(version >> (6 * (META_VHDR - 1 - i))) & 63];
}

static inline int alpha_index(char ch)
{
    if (ch >= 'A' && ch <= 'Z')
        return ch - 'A';
    if (ch >= 'a' && ch <= 'z')
        return ch - 'a' + 26;
    if (ch >= '0' && ch <= '9')
        return ch - '0' + 52;
    if (ch == '-')
        return 62;
    if (ch == '_')
        return 63;
    return -1;
}

/* Decode the version header of a meta-mode value. */
static bool meta_value_version(const char *data, uint32_t len, uint32_t *version)
{
    if (len < META_VHDR)
        return false;
    uint64_t v = 0;
    for (int i = 0; i < META_VHDR; i++) {
        int d = alpha_index(data[i]);
        if (d < 0)
            return false;
        v = (v << 6) | (uint64_t)d;
    }
    if (v > 0xffffffffull)
        return false;
    *version = (uint32_t)v;
    return true;
}

/* ------------------------------------------------------------------ */
/* latency histogram: log-linear buckets, ~0.8% relative precision     */

#define H_SUB_BITS 7
#define H_SUB (1u << H_SUB_BITS)          /* 128 */
#define H_LINEAR (2u * H_SUB)             /* values < 256 exact */
#define H_BUCKETS (H_LINEAR + 56u * H_SUB) /* covers all of uint64 */

struct hist {
    uint64_t count;
    uint64_t max;
    uint64_t sum;
    uint64_t b[H_BUCKETS];
};

static inline unsigned h_index(uint64_t v)
{
    if (v < H_LINEAR)
        return (unsigned)v;
    unsigned msb = 63u - (unsigned)__builtin_clzll(v);
    unsigned shift = msb - H_SUB_BITS;
    return H_LINEAR + (shift - 1u) * H_SUB + (unsigned)((v >> shift) - H_SUB);
}

/* highest value that maps into bucket idx */
static uint64_t h_upper(unsigned idx)
{
    if (idx < H_LINEAR)
        return idx;
    unsigned shift = (idx - H_LINEAR) / H_SUB + 1u;
    uint64_t mant = (idx - H_LINEAR) % H_SUB + H_SUB;
    return ((mant + 1) << shift) - 1;
}

static inline void h_add(struct hist *h, uint64_t v)
{
    h->b[h_index(v)]++;
    h->count++;
    h->sum += v;
    if (v > h->max)
        h->max = v;
}

static void h_merge(struct hist *d, const struct hist *s)
{
    for (unsigned i = 0; i < H_BUCKETS; i++)
        d->b[i] += s->b[i];
    d->count += s->count;
    d->sum += s->sum;
    if (s->max > d->max)
        d->max = s->max;
}

static uint64_t h_pct(const struct hist *h, double p)
{
    if (!h->count)
        return 0;
    uint64_t want = (uint64_t)ceil(p / 100.0 * (double)h->count);
    if (want < 1)
        want = 1;
    uint64_t acc = 0;
    for (unsigned i = 0; i < H_BUCKETS; i++) {
        acc += h->b[i];
        if (acc >= want) {
            uint64_t u = h_upper(i);
            return u < h->max ? u : h->max;
        }
    }
    return h->max;
}

/* ------------------------------------------------------------------ */
/* connections and threads                                            */

enum { R_GET = 1, R_SET = 2 };
enum { PH_WARMUP, PH_WAIT, PH_RUN, PH_DRAIN, PH_DONE };

struct req {
    uint8_t type;
    uint16_t nkeys;
    uint16_t pos; /* GET: next requested key a VALUE may match (meta
                   * without q: replies received so far) */
    uint64_t t0;
};

struct stats {
    uint64_t get_reqs, set_reqs, get_keys, hits, stored;
    uint64_t err_server;   /* ERROR / CLIENT_ERROR / SERVER_ERROR lines */
    uint64_t err_proto;    /* malformed/unexpected reply */
    uint64_t err_value;    /* wrong bytes, length or key */
    uint64_t err_conn;     /* connect failure, reset, unexpected EOF */
    uint64_t err_timeout;  /* replies still missing after the drain timeout */
    uint64_t bytes_out, bytes_in;
};

struct thread;

struct conn {
    int fd;
#ifdef HAVE_TLS
    SSL *ssl;        /* --tls */
#endif
    bool dead, idle, want_out;
    struct thread *t;
    uint64_t rng;
    char *out;
    size_t olen, ooff, ocap;
    char *in;
    size_t ilen, ioff, icap;
    struct req *q; /* ring, capacity opt.pipeline */
    uint32_t *qkeys;
    int qhead, qn;
    bool mn_sent; /* meta quiet: this window is closed by an mn */
    int wcur;     /* meta quiet: window request (from qhead) to match next */
};

struct thread {
    int id;
    pthread_t th;
    int ep;
    struct conn *c;
    int nc;
    int nidle;
    struct stats st, wst; /* timed phase / warmup */
    struct hist h;
    int phase;
    uint32_t warm_next; /* next key index to preload (stride threads) */
    char *scratch;
    uint64_t t_start, t_end;
    uint64_t last_reply; /* for stall detection during warmup */
    uint64_t cpu_ns;     /* this thread's CPU time during the timed phase */
};

static struct addrinfo *g_addr;
static pthread_barrier_t g_barrier;
static atomic_uint_fast64_t g_issued;
static atomic_int g_stop; /* set by SIGINT */
static size_t g_prefix_len;
static size_t g_max_req;

static struct stats *cur_stats(struct thread *t)
{
    return t->phase == PH_WARMUP ? &t->wst : &t->st;
}

static int set_nonblock(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    return fl < 0 ? -1 : fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

static int set_blocking_for_handshake(int fd, bool on)
{
    int fl = fcntl(fd, F_GETFL);
    return fl < 0 ? -1 : fcntl(fd, F_SETFL, on ? fl & ~O_NONBLOCK : fl | O_NONBLOCK);
}

static int open_conn(void)
{
    int fd = socket(g_addr->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    /* blocking connect (loopback), bounded by a send timeout */
    struct timeval tv = {5, 0};
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    if (connect(fd, g_addr->ai_addr, g_addr->ai_addrlen) < 0) {
        close(fd);
        return -1;
    }
    if (set_nonblock(fd) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* ---- --tls: the same loop over OpenSSL (a client context, no
 * verification: this measures the server, not the PKI) ---- */
#ifdef HAVE_TLS
static SSL_CTX *g_tls_ctx;

/* Blocking handshake on the fresh (still blocking) socket. */
static SSL *tls_open(int fd)
{
    SSL *s = SSL_new(g_tls_ctx);
    if (s == NULL || !SSL_set_fd(s, fd) || SSL_connect(s) != 1) {
        ERR_print_errors_fp(stderr);
        SSL_free(s);
        return NULL;
    }
    return s;
}

/* send/recv's contract: bytes, 0 at EOF, -1 with errno. */
static ssize_t tls_io(SSL *s, void *buf, size_t n, bool wr)
{
    size_t done = 0;
    int r = wr ? SSL_write_ex(s, buf, n, &done) : SSL_read_ex(s, buf, n, &done);
    if (r > 0)
        return (ssize_t)done;
    switch (SSL_get_error(s, r)) {
    case SSL_ERROR_WANT_READ:
    case SSL_ERROR_WANT_WRITE:
        errno = EAGAIN;
        return -1;
    case SSL_ERROR_ZERO_RETURN:
        return 0;
    default:
        ERR_clear_error();
        errno = ECONNRESET;
        return -1;
    }
}
#endif

static ssize_t conn_send(struct conn *c, const void *p, size_t n)
{
#ifdef HAVE_TLS
    if (c->ssl)
        return tls_io(c->ssl, (void *)p, n, true);
#endif
    return send(c->fd, p, n, MSG_NOSIGNAL);
}

static ssize_t conn_recv(struct conn *c, void *p, size_t n)
{
#ifdef HAVE_TLS
    if (c->ssl)
        return tls_io(c->ssl, p, n, false);
#endif
    return recv(c->fd, p, n, 0);
}

static bool conn_tls(const struct conn *c)
{
#ifdef HAVE_TLS
    return c->ssl != NULL;
#else
    (void)c;
    return false;
#endif
}

static void conn_kill(struct conn *c, uint64_t *counter)
{
    if (c->dead)
        return;
    if (counter)
        (*counter)++;
    epoll_ctl(c->t->ep, EPOLL_CTL_DEL, c->fd, NULL);
#ifdef HAVE_TLS
    if (c->ssl) {
        SSL_free(c->ssl);
        c->ssl = NULL;
    }
#endif
    close(c->fd);
    c->fd = -1;
    c->dead = true;
    c->qn = 0;
}

static inline size_t key_fmt(char *dst, uint32_t k)
{
    memcpy(dst, opt.prefix, g_prefix_len);
    char tmp[16];
    int n = 0;
    do {
        tmp[n++] = (char)('0' + k % 10);
        k /= 10;
    } while (k);
    for (int i = 0; i < n; i++)
        dst[g_prefix_len + i] = tmp[n - 1 - i];
    return g_prefix_len + (size_t)n;
}

static void update_events(struct conn *c)
{
    bool want = c->olen > c->ooff;
    if (want == c->want_out)
        return;
    struct epoll_event ev = {.events = EPOLLIN | (want ? EPOLLOUT : 0),
                             .data.ptr = c};
    epoll_ctl(c->t->ep, EPOLL_CTL_MOD, c->fd, &ev);
    c->want_out = want;
}

static void conn_flush(struct conn *c)
{
    struct stats *st = cur_stats(c->t);
    while (!c->dead && c->ooff < c->olen) {
        ssize_t n = conn_send(c, c->out + c->ooff, c->olen - c->ooff);
        if (n > 0) {
            c->ooff += (size_t)n;
            st->bytes_out += (uint64_t)n;
        } else if (n < 0 && errno == EINTR) {
            continue;
        } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            break;
        } else {
            conn_kill(c, &st->err_conn);
            return;
        }
    }
    if (c->ooff == c->olen)
        c->ooff = c->olen = 0;
    update_events(c);
}

/* A set: its key (the warm-up's, else a random one), a fresh version and
 * the value length they give. */
static uint32_t set_target(struct conn *c, uint32_t key, uint32_t *keys, struct req *rq,
                           uint32_t *ver, uint32_t *len)
{
    if (c->t->phase != PH_WARMUP)
        key = rng_below(&c->rng, opt.keys);
    rq->nkeys = 1;
    keys[0] = key;
    *ver = (uint32_t)(rng_next(&c->rng) >> 32);
    *len = value_len(key, *ver);
    return key;
}

/* Meta form of one request at p; returns the new end. */
static char *gen_meta(struct conn *c, char *p, int type, uint32_t key, uint32_t *keys,
                      struct req *rq)
{
    if (type == R_GET) {
        rq->nkeys = (uint16_t)opt.multiget;
        for (int i = 0; i < opt.multiget; i++) {
            uint32_t k = rng_below(&c->rng, opt.keys);
            keys[i] = k;
            memcpy(p, "mg ", 3);
            p += 3;
            p += key_fmt(p, k);
            if (opt.meta_quiet) {
                memcpy(p, " v q k\r\n", 8);
                p += 8;
            } else {
                memcpy(p, " v\r\n", 4);
                p += 4;
            }
        }
        return p;
    }
    uint32_t ver, len;
    key = set_target(c, key, keys, rq, &ver, &len);
    memcpy(p, "ms ", 3);
    p += 3;
    p += key_fmt(p, key);
    *p++ = ' ';
    p = u32_fmt(p, len);
    if (opt.meta_quiet) {
        memcpy(p, " q\r\n", 4);
        p += 4;
    } else {
        memcpy(p, " T0\r\n", 5);
        p += 5;
    }
    meta_value_fill(p, key, ver, len);
    p += len;
    *p++ = '\r';
    *p++ = '\n';
    return p;
}

/* Binary request header (24 bytes) at p; returns the end. */
static char *bin_hdr(char *p, uint8_t op, uint16_t keylen, uint8_t extlen, uint32_t bodylen)
{
    unsigned char *h = (unsigned char *)p;
    memset(h, 0, 24);
    h[0] = 0x80;
    h[1] = op;
    h[2] = (unsigned char)(keylen >> 8);
    h[3] = (unsigned char)keylen;
    h[4] = extlen;
    h[8] = (unsigned char)(bodylen >> 24);
    h[9] = (unsigned char)(bodylen >> 16);
    h[10] = (unsigned char)(bodylen >> 8);
    h[11] = (unsigned char)bodylen;
    return p + 24;
}

static void put_be32(char *p, uint32_t v)
{
    p[0] = (char)(v >> 24);
    p[1] = (char)(v >> 16);
    p[2] = (char)(v >> 8);
    p[3] = (char)v;
}

static uint32_t get_be32(const char *p)
{
    const unsigned char *u = (const unsigned char *)p;
    return ((uint32_t)u[0] << 24) | ((uint32_t)u[1] << 16) | ((uint32_t)u[2] << 8) | u[3];
}

enum { BOP_SET = 0x01, BOP_NOOP = 0x0a, BOP_GETK = 0x0c, BOP_GETKQ = 0x0d, BOP_SETQ = 0x11 };

/* Binary form of one request at p; returns the new end. */
static char *gen_binary(struct conn *c, char *p, int type, uint32_t key, uint32_t *keys,
                        struct req *rq)
{
    char kb[MAX_KEYLEN + 16];
    if (type == R_GET) {
        rq->nkeys = (uint16_t)opt.multiget;
        for (int i = 0; i < opt.multiget; i++) {
            uint32_t k = rng_below(&c->rng, opt.keys);
            keys[i] = k;
            size_t nk = key_fmt(kb, k);
            p = bin_hdr(p, opt.bin_quiet ? BOP_GETKQ : BOP_GETK, (uint16_t)nk, 0, (uint32_t)nk);
            memcpy(p, kb, nk);
            p += nk;
        }
        return p;
    }
    uint32_t ver, len;
    key = set_target(c, key, keys, rq, &ver, &len);
    size_t nk = key_fmt(kb, key);
    p = bin_hdr(p, opt.bin_quiet ? BOP_SETQ : BOP_SET, (uint16_t)nk, 8, (uint32_t)(8 + nk + len));
    put_be32(p, ver);
    put_be32(p + 4, 0);
    p += 8;
    memcpy(p, kb, nk);
    p += nk;
    value_fill(p, key, ver, len);
    return p + len;
}

/* Queue one request into c->out.  Returns false if nothing to issue. */
static bool gen_request(struct conn *c, uint64_t now)
{
    struct thread *t = c->t;
    if (c->qn >= opt.pipeline || c->mn_sent)
        return false;
    if (c->ocap - c->olen < g_max_req) {
        if (c->ooff > 0) { /* compact */
            memmove(c->out, c->out + c->ooff, c->olen - c->ooff);
            c->olen -= c->ooff;
            c->ooff = 0;
        }
        if (c->ocap - c->olen < g_max_req)
            return false;
    }
    int type;
    uint32_t key = 0;
    if (t->phase == PH_WARMUP) {
        if (t->warm_next >= opt.keys)
            return false;
        type = R_SET;
        key = t->warm_next;
        t->warm_next += (uint32_t)opt.threads;
    } else if (t->phase == PH_RUN) {
        if (opt.requests) {
            uint64_t n = atomic_fetch_add_explicit(&g_issued, 1, memory_order_relaxed);
            if (n >= opt.requests)
                return false;
        }
        uint32_t r = rng_below(&c->rng, opt.get_w + opt.set_w);
        type = r < opt.get_w ? R_GET : R_SET;
    } else {
        return false;
    }

    int slot = (c->qhead + c->qn) % opt.pipeline;
    struct req *rq = &c->q[slot];
    uint32_t *keys = &c->qkeys[(size_t)slot * (size_t)opt.multiget];
    char *p = c->out + c->olen;
    rq->type = (uint8_t)type;
    rq->pos = 0;
    rq->t0 = now;
    if (opt.meta) {
        p = gen_meta(c, p, type, key, keys, rq);
    } else if (opt.binary) {
        p = gen_binary(c, p, type, key, keys, rq);
    } else if (type == R_GET) {
        rq->nkeys = (uint16_t)opt.multiget;
        memcpy(p, "get", 3);
        p += 3;
        for (int i = 0; i < opt.multiget; i++) {
            uint32_t k = rng_below(&c->rng, opt.keys);
            keys[i] = k;
            *p++ = ' ';
            p += key_fmt(p, k);
        }
        *p++ = '\r';
        *p++ = '\n';
    } else {
        uint32_t ver, len;
        key = set_target(c, key, keys, rq, &ver, &len);
        memcpy(p, "set ", 4);
        p += 4;
        p += key_fmt(p, key);
        *p++ = ' ';
        p = u32_fmt(p, ver);
        memcpy(p, " 0 ", 3);
        p += 3;
        p = u32_fmt(p, len);
        *p++ = '\r';
        *p++ = '\n';
        value_fill(p, key, ver, len);
        p += len;
        *p++ = '\r';
        *p++ = '\n';
    }
    c->olen = (size_t)(p - c->out);
    c->qn++;
    return true;
}

static void fill_and_flush(struct conn *c)
{
    if (c->dead || c->idle)
        return;
    uint64_t now = now_ns();
    while (gen_request(c, now))
        ;
    if (opt.windowed && c->qn > 0 && !c->mn_sent) {
        /* close the window; g_max_req reserves room for these bytes */
        if (opt.binary) {
            bin_hdr(c->out + c->olen, BOP_NOOP, 0, 0, 0);
            c->olen += 24;
        } else {
            memcpy(c->out + c->olen, "mn\r\n", 4);
            c->olen += 4;
        }
        c->mn_sent = true;
        c->wcur = 0;
    }
    conn_flush(c);
}

static bool is_error_line(const char *l, size_t n)
{
    return (n >= 5 && memcmp(l, "ERROR", 5) == 0) ||
           (n >= 12 && memcmp(l, "CLIENT_ERROR", 12) == 0) ||
           (n >= 12 && memcmp(l, "SERVER_ERROR", 12) == 0);
}

static bool parse_u32(const char **pp, const char *end, uint32_t *out)
{
    const char *p = *pp;
    uint64_t v = 0;
    if (p >= end || *p < '0' || *p > '9')
        return false;
    while (p < end && *p >= '0' && *p <= '9') {
        v = v * 10 + (uint64_t)(*p - '0');
        if (v > 0xffffffffull)
            return false;
        p++;
    }
    *pp = p;
    *out = (uint32_t)v;
    return true;
}

static void complete_req(struct conn *c, uint64_t now)
{
    struct thread *t = c->t;
    struct req *rq = &c->q[c->qhead];
    t->last_reply = now;
    if (t->phase != PH_WARMUP) {
        h_add(&t->h, now - rq->t0);
        if (rq->type == R_GET) {
            t->st.get_reqs++;
            t->st.get_keys += rq->nkeys;
        } else {
            t->st.set_reqs++;
        }
    }
    c->qhead = (c->qhead + 1) % opt.pipeline;
    c->qn--;
}

static void report_bad(struct conn *c, const char *what, const char *line, size_t n)
{
    static atomic_int shown;
    if (atomic_fetch_add(&shown, 1) < 10) {
        if (n > 120)
            n = 120;
        fprintf(stderr, "mcload: %s (thread %d): '", what, c->t->id);
        for (size_t i = 0; i < n; i++)
            fputc(line[i] >= 32 && line[i] < 127 ? line[i] : '?', stderr);
        fprintf(stderr, "'\n");
    }
}

/* Check one hit's value (key, version in flags); counts hits/err_value. */
static void check_hit(struct conn *c, uint32_t key, uint32_t ver, const char *data, uint32_t len)
{
    struct stats *st = cur_stats(c->t);
    if (len != value_len(key, ver)) {
        report_bad(c, "value length mismatch", data, len);
        st->err_value++;
        return;
    }
    value_fill(c->t->scratch, key, ver, len);
    if (memcmp(c->t->scratch, data, len) != 0) {
        report_bad(c, "value bytes mismatch", data, len);
        st->err_value++;
        return;
    }
    st->hits++;
}

/* The reply line at b (avail bytes buffered): true with *llen (its length
 * with "\r\n") when complete; false when it must wait for more bytes or
 * the connection was killed for a malformed line. */
static bool next_line(struct conn *c, struct stats *st, const char *b, size_t avail,
                      size_t *llen)
{
    const char *nl = memchr(b, '\n', avail);
    if (!nl) {
        if (avail > 2048) {
            report_bad(c, "overlong line", b, avail);
            conn_kill(c, &st->err_proto);
        }
        return false;
    }
    *llen = (size_t)(nl - b) + 1;
    if (*llen < 2 || nl[-1] != '\r') {
        report_bad(c, "line without CRLF", b, *llen);
        conn_kill(c, &st->err_proto);
        return false;
    }
    return true;
}

/* Text protocol: parse as many complete replies as are buffered. */
static void parse_text(struct conn *c, uint64_t now)
{
    struct stats *st = cur_stats(c->t);
    while (!c->dead && c->ioff < c->ilen) {
        char *b = c->in + c->ioff;
        size_t avail = c->ilen - c->ioff, llen;
        if (!next_line(c, st, b, avail, &llen))
            return;
        size_t n = llen - 2; /* line length without CRLF */
        if (c->qn == 0) {
            report_bad(c, "unsolicited reply", b, n);
            conn_kill(c, &st->err_proto);
            return;
        }
        struct req *rq = &c->q[c->qhead];
        if (is_error_line(b, n)) {
            report_bad(c, "error reply", b, n);
            st->err_server++;
            c->ioff += llen;
            complete_req(c, now);
            continue;
        }
        if (rq->type == R_SET) {
            if (n == 6 && memcmp(b, "STORED", 6) == 0) {
                st->stored++;
                c->ioff += llen;
                complete_req(c, now);
                continue;
            }
            report_bad(c, "unexpected reply to set", b, n);
            conn_kill(c, &st->err_proto);
            return;
        }
        /* GET */
        if (n == 3 && memcmp(b, "END", 3) == 0) {
            c->ioff += llen;
            complete_req(c, now);
            continue;
        }
        if (n < 6 || memcmp(b, "VALUE ", 6) != 0) {
            report_bad(c, "unexpected reply to get", b, n);
            conn_kill(c, &st->err_proto);
            return;
        }
        const char *p = b + 6, *e = b + n;
        const char *ks = p;
        while (p < e && *p != ' ')
            p++;
        const char *ke = p;
        uint32_t flags, len;
        if (p >= e || *p++ != ' ' || !parse_u32(&p, e, &flags) || p >= e ||
            *p++ != ' ' || !parse_u32(&p, e, &len)) {
            report_bad(c, "malformed VALUE line", b, n);
            conn_kill(c, &st->err_proto);
            return;
        }
        if (p != e) { /* we never ask for cas, so nothing may follow */
            report_bad(c, "trailing data on VALUE line", b, n);
            conn_kill(c, &st->err_proto);
            return;
        }
        if (len > MAX_VALUE) {
            report_bad(c, "value too large", b, n);
            conn_kill(c, &st->err_proto);
            return;
        }
        if (avail < llen + len + 2)
            return; /* wait for the data block */
        const char *data = b + llen;
        if (data[len] != '\r' || data[len + 1] != '\n') {
            report_bad(c, "data block not terminated by CRLF", b, n);
            conn_kill(c, &st->err_proto);
            return;
        }
        /* key: prefix + decimal index, must be the next requested one
         * (or a later one: misses are skipped) */
        uint32_t key = 0;
        bool keyok = (size_t)(ke - ks) > g_prefix_len &&
                     memcmp(ks, opt.prefix, g_prefix_len) == 0;
        if (keyok) {
            const char *kp = ks + g_prefix_len;
            keyok = parse_u32(&kp, ke, &key) && kp == ke;
        }
        uint32_t *keys = &c->qkeys[(size_t)c->qhead * (size_t)opt.multiget];
        if (keyok) {
            while (rq->pos < rq->nkeys && keys[rq->pos] != key)
                rq->pos++;
            keyok = rq->pos < rq->nkeys;
            if (keyok)
                rq->pos++;
        }
        if (!keyok) {
            report_bad(c, "VALUE for a key not requested (or out of order)", b, n);
            st->err_value++;
        } else {
            check_hit(c, key, flags, data, len);
        }
        c->ioff += llen + len + 2;
    }
}

/* Meta quiet: find key in the open window, at or after the match cursor
 * (hits come back in request order; misses and sets answer nothing). */
static bool window_match(struct conn *c, uint32_t key)
{
    while (c->wcur < c->qn) {
        int slot = (c->qhead + c->wcur) % opt.pipeline;
        struct req *r = &c->q[slot];
        if (r->type == R_GET) {
            const uint32_t *keys = &c->qkeys[(size_t)slot * (size_t)opt.multiget];
            while (r->pos < r->nkeys)
                if (keys[r->pos++] == key)
                    return true;
        }
        c->wcur++;
    }
    return false;
}

/* Meta protocol: parse as many complete replies as are buffered. */
static void parse_meta(struct conn *c, uint64_t now)
{
    struct stats *st = cur_stats(c->t);
    while (!c->dead && c->ioff < c->ilen) {
        char *b = c->in + c->ioff;
        size_t avail = c->ilen - c->ioff, llen;
        if (!next_line(c, st, b, avail, &llen))
            return;
        size_t n = llen - 2;
        if (c->qn == 0 || (opt.meta_quiet && !c->mn_sent)) {
            report_bad(c, "unsolicited reply", b, n);
            conn_kill(c, &st->err_proto);
            return;
        }
        struct req *rq = &c->q[c->qhead];
        if (is_error_line(b, n)) {
            /* one reply per mg/ms line; in a quiet window it answers some
             * request we cannot tell, the window still ends at MN */
            report_bad(c, "error reply", b, n);
            st->err_server++;
            c->ioff += llen;
            if (!opt.meta_quiet && (rq->type != R_GET || ++rq->pos >= rq->nkeys))
                complete_req(c, now);
            continue;
        }
        if (opt.meta_quiet) {
            if (n == 2 && memcmp(b, "MN", 2) == 0) {
                c->ioff += llen;
                while (c->qn) {
                    if (c->q[c->qhead].type == R_SET)
                        st->stored++; /* a failed quiet set would have answered */
                    complete_req(c, now);
                }
                c->mn_sent = false;
                c->wcur = 0;
                continue;
            }
        } else if (rq->type == R_SET) {
            if (n == 2 && memcmp(b, "HD", 2) == 0) {
                st->stored++;
                c->ioff += llen;
                complete_req(c, now);
                continue;
            }
            report_bad(c, "unexpected reply to ms", b, n);
            conn_kill(c, &st->err_proto);
            return;
        } else if (n == 2 && memcmp(b, "EN", 2) == 0) {
            c->ioff += llen;
            if (++rq->pos >= rq->nkeys)
                complete_req(c, now);
            continue;
        }
        if (n < 3 || memcmp(b, "VA ", 3) != 0) {
            report_bad(c, opt.meta_quiet ? "unexpected reply in a q window"
                                         : "unexpected reply to mg", b, n);
            conn_kill(c, &st->err_proto);
            return;
        }
        const char *p = b + 3, *e = b + n;
        const char *ks = NULL, *ke = NULL;
        uint32_t len;
        bool ok = parse_u32(&p, e, &len);
        if (ok && opt.meta_quiet) { /* exactly one return flag: k<key> */
            ok = e - p > 2 && p[0] == ' ' && p[1] == 'k';
            if (ok) {
                ks = p += 2;
                while (p < e && *p != ' ')
                    p++;
                ke = p;
            }
        }
        if (!ok || p != e) { /* we ask for no other flags */
            report_bad(c, "malformed VA line", b, n);
            conn_kill(c, &st->err_proto);
            return;
        }
        if (len > MAX_VALUE) {
            report_bad(c, "value too large", b, n);
            conn_kill(c, &st->err_proto);
            return;
        }
        if (avail < llen + len + 2)
            return; /* wait for the data block */
        const char *data = b + llen;
        if (data[len] != '\r' || data[len + 1] != '\n') {
            report_bad(c, "data block not terminated by CRLF", b, n);
            conn_kill(c, &st->err_proto);
            return;
        }
        uint32_t key = 0, ver = 0;
        bool keyok;
        if (opt.meta_quiet) {
            /* k flag: prefix + decimal index, a requested key of this window,
             * in request order (misses skipped) */
            keyok = (size_t)(ke - ks) > g_prefix_len &&
                    memcmp(ks, opt.prefix, g_prefix_len) == 0;
            if (keyok) {
                const char *kp = ks + g_prefix_len;
                keyok = parse_u32(&kp, ke, &key) && kp == ke;
            }
            if (keyok)
                keyok = window_match(c, key);
        } else { /* one reply per mg line, in order */
            key = c->qkeys[(size_t)c->qhead * (size_t)opt.multiget + rq->pos];
            keyok = true;
        }
        if (!keyok) {
            report_bad(c, "VA for a key not requested (or out of order)", b, n);
            st->err_value++;
        } else if (!meta_value_version(data, len, &ver)) {
            report_bad(c, "value without a version header", data, len);
            st->err_value++;
        } else if (len != value_len(key, ver)) {
            report_bad(c, "value length mismatch", b, n);
            st->err_value++;
        } else {
            meta_value_fill(c->t->scratch, key, ver, len);
            if (memcmp(c->t->scratch, data, len) != 0) {
                report_bad(c, "value bytes mismatch", data, len);
                st->err_value++;
            } else {
                st->hits++;
            }
        }
        c->ioff += llen + len + 2;
        if (!opt.meta_quiet && ++rq->pos >= rq->nkeys)
            complete_req(c, now);
    }
}

/* Binary protocol: parse as many complete response packets as are buffered. */
static void parse_binary(struct conn *c, uint64_t now)
{
    struct stats *st = cur_stats(c->t);
    while (!c->dead && c->ilen - c->ioff >= 24) {
        const unsigned char *h = (const unsigned char *)c->in + c->ioff;
        size_t avail = c->ilen - c->ioff;
        uint8_t op = h[1], extlen = h[4];
        uint16_t keylen = (uint16_t)((h[2] << 8) | h[3]);
        uint16_t status = (uint16_t)((h[6] << 8) | h[7]);
        uint32_t bodylen = get_be32((const char *)h + 8);
        if (h[0] != 0x81 || bodylen < (uint32_t)extlen + keylen || bodylen > MAX_VALUE + 512) {
            report_bad(c, "malformed response header", (const char *)h, 24);
            conn_kill(c, &st->err_proto);
            return;
        }
        if (avail < 24 + (size_t)bodylen)
            return;
        const char *ext = (const char *)h + 24, *key = ext + extlen, *val = key + keylen;
        uint32_t vlen = bodylen - extlen - keylen;
        c->ioff += 24 + bodylen;
        if (c->qn == 0 || (opt.windowed && !c->mn_sent)) {
            report_bad(c, "unsolicited reply", (const char *)h, 24);
            conn_kill(c, &st->err_proto);
            return;
        }
        struct req *rq = &c->q[c->qhead];
        if (opt.windowed && op == BOP_NOOP) {
            while (c->qn) {
                if (c->q[c->qhead].type == R_SET)
                    st->stored++; /* a failed quiet set would have answered */
                complete_req(c, now);
            }
            c->mn_sent = false;
            c->wcur = 0;
            continue;
        }
        bool is_get = op == BOP_GETK || op == BOP_GETKQ;
        if (status != 0 && !(is_get && status == 1)) {
            report_bad(c, "error response", val, vlen);
            st->err_server++;
            if (!opt.windowed && (rq->type != R_GET || ++rq->pos >= rq->nkeys))
                complete_req(c, now);
            continue;
        }
        if (!opt.windowed && rq->type == R_SET) {
            if (op != BOP_SET) {
                report_bad(c, "unexpected reply to set", (const char *)h, 24);
                conn_kill(c, &st->err_proto);
                return;
            }
            st->stored++;
            complete_req(c, now);
            continue;
        }
        if (!is_get || (opt.windowed && status != 0)) {
            report_bad(c, "unexpected response", (const char *)h, 24);
            conn_kill(c, &st->err_proto);
            return;
        }
        /* GetK/GetKQ: the key comes back; a hit has 4 bytes of flags */
        uint32_t k = 0;
        bool keyok = keylen > g_prefix_len && memcmp(key, opt.prefix, g_prefix_len) == 0;
        if (keyok) {
            const char *kp = key + g_prefix_len;
            keyok = parse_u32(&kp, key + keylen, &k) && kp == key + keylen;
        }
        if (keyok) {
            if (opt.windowed)
                keyok = window_match(c, k);
            else
                keyok = k == c->qkeys[(size_t)c->qhead * (size_t)opt.multiget + rq->pos];
        }
        if (!keyok) {
            report_bad(c, "response for a key not requested (or out of order)", key, keylen);
            st->err_value++;
        } else if (status == 0) {
            if (extlen != 4) {
                report_bad(c, "hit without flags", (const char *)h, 24);
                conn_kill(c, &st->err_proto);
                return;
            }
            check_hit(c, k, get_be32(ext), val, vlen);
        }
        if (!opt.windowed && ++rq->pos >= rq->nkeys)
            complete_req(c, now);
    }
}

static void parse_replies(struct conn *c, uint64_t now)
{
    if (opt.binary)
        parse_binary(c, now);
    else if (opt.meta)
        parse_meta(c, now);
    else
        parse_text(c, now);
}

static void conn_read(struct conn *c)
{
    struct stats *st = cur_stats(c->t);
    for (;;) {
        if (c->ioff == c->ilen) {
            c->ioff = c->ilen = 0;
        } else if (c->ioff > 0 && c->icap - c->ilen < c->icap / 4) {
            memmove(c->in, c->in + c->ioff, c->ilen - c->ioff);
            c->ilen -= c->ioff;
            c->ioff = 0;
        }
        if (c->ilen == c->icap) { /* cannot happen with a sane server */
            report_bad(c, "reply does not fit buffer", c->in, 80);
            conn_kill(c, &st->err_proto);
            return;
        }
        ssize_t n = conn_recv(c, c->in + c->ilen, c->icap - c->ilen);
        if (n > 0) {
            c->ilen += (size_t)n;
            st->bytes_in += (uint64_t)n;
            parse_replies(c, now_ns());
            if (c->dead)
                return;
            /* (TLS: read on until OpenSSL says so; records it has
             * decrypted are not reported by epoll) */
            if ((size_t)n < c->icap / 2 && !conn_tls(c))
                return; /* probably drained; epoll will tell us */
        } else if (n == 0) {
            if (c->idle && c->t->phase >= PH_DRAIN)
                conn_kill(c, NULL);
            else
                conn_kill(c, &st->err_conn);
            return;
        } else if (errno == EINTR) {
            continue;
        } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
            return;
        } else {
            conn_kill(c, &st->err_conn);
            return;
        }
    }
}

static int outstanding(struct thread *t)
{
    int n = 0;
    for (int i = 0; i < t->nc; i++)
        if (!t->c[i].dead && !t->c[i].idle)
            n += t->c[i].qn + (t->c[i].olen > t->c[i].ooff);
    return n;
}

static bool any_live(struct thread *t)
{
    for (int i = 0; i < t->nc; i++)
        if (!t->c[i].dead && !t->c[i].idle)
            return true;
    return false;
}

static void run_loop(struct thread *t, uint64_t deadline, bool is_warmup)
{
    struct epoll_event evs[256];
    uint64_t drain_deadline = 0;
    for (int i = 0; i < t->nc; i++)
        fill_and_flush(&t->c[i]);
    for (;;) {
        uint64_t now = now_ns();
        if (!is_warmup && t->phase == PH_RUN &&
            ((deadline && now >= deadline) || atomic_load(&g_stop) ||
             (opt.requests &&
              atomic_load_explicit(&g_issued, memory_order_relaxed) >= opt.requests))) {
            t->phase = PH_DRAIN;
        }
        if (t->phase == PH_DRAIN || is_warmup) {
            int o = outstanding(t);
            if (is_warmup && o == 0 && (t->warm_next >= opt.keys || !any_live(t)))
                return;
            if (is_warmup && o > 0 && now > t->last_reply &&
                now - t->last_reply > (uint64_t)(opt.drain_timeout * 1e9)) {
                fprintf(stderr, "mcload: warmup stalled: no reply for %.1f s\n",
                        opt.drain_timeout);
                for (int i = 0; i < t->nc; i++)
                    if (!t->c[i].dead && !t->c[i].idle && t->c[i].qn) {
                        t->wst.err_timeout += (uint64_t)t->c[i].qn;
                        conn_kill(&t->c[i], NULL);
                    }
                return;
            }
            if (!is_warmup && o == 0)
                return;
            if (t->phase == PH_DRAIN) {
                if (!drain_deadline)
                    drain_deadline = now + (uint64_t)(opt.drain_timeout * 1e9);
                if (now >= drain_deadline) {
                    for (int i = 0; i < t->nc; i++)
                        if (!t->c[i].dead && !t->c[i].idle && t->c[i].qn) {
                            t->st.err_timeout += (uint64_t)t->c[i].qn;
                            conn_kill(&t->c[i], NULL);
                        }
                    return;
                }
            }
        }
        if (is_warmup && atomic_load(&g_stop))
            t->warm_next = opt.keys; /* issue no more; drain what is in flight */
        int n = epoll_wait(t->ep, evs, 256, 50);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            perror("epoll_wait");
            return;
        }
        if (n == 0 && outstanding(t) == 0 && t->phase == PH_RUN) {
            /* all connections dead: nothing will come */
            if (!any_live(t))
                t->phase = PH_DRAIN;
        }
        for (int i = 0; i < n; i++) {
            struct conn *c = evs[i].data.ptr;
            if (c->dead)
                continue;
            if (evs[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP))
                conn_read(c);
            if (c->dead)
                continue;
            if (c->idle) {
                continue;
            }
            if (evs[i].events & EPOLLOUT)
                conn_flush(c);
            fill_and_flush(c);
        }
    }
}

static uint64_t thread_cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void *thread_main(void *arg)
{
    struct thread *t = arg;
    if (opt.warmup) {
        t->phase = PH_WARMUP;
        t->last_reply = now_ns();
        run_loop(t, 0, true);
    }
    pthread_barrier_wait(&g_barrier);
    t->phase = atomic_load(&g_stop) ? PH_DRAIN : PH_RUN;
    t->t_start = now_ns();
    uint64_t cpu0 = thread_cpu_ns();
    uint64_t deadline = opt.duration > 0 ? t->t_start + (uint64_t)(opt.duration * 1e9) : 0;
    run_loop(t, deadline, false);
    t->t_end = now_ns(); /* last reply drained */
    t->cpu_ns = thread_cpu_ns() - cpu0;
    t->phase = PH_DONE;
    return NULL;
}

/* ------------------------------------------------------------------ */
/* setup, reporting                                                   */

/* Offline checks of the histogram and value generator (no server needed). */
static int selftest(void)
{
    int bad = 0;
    uint64_t prev_idx = 0;
    for (uint64_t v = 0; v < 2000000; v++) {
        unsigned i = h_index(v);
        if (i < prev_idx || i >= H_BUCKETS || v > h_upper(i) || (i && v <= h_upper(i - 1)))
            bad++;
        prev_idx = i;
    }
    uint64_t s = 12345;
    for (int k = 0; k < 1000000; k++) {
        uint64_t v = rng_next(&s) >> (rng_next(&s) % 64);
        unsigned i = h_index(v);
        /* bucket width stays within 1/128 of the value */
        if (i >= H_BUCKETS || v > h_upper(i) || (i && v <= h_upper(i - 1)) ||
            (v >= H_LINEAR && (double)(h_upper(i) - v) > (double)v / 127.0))
            bad++;
    }
    if (h_index(UINT64_MAX) >= H_BUCKETS)
        bad++;
    static struct hist h;
    for (uint64_t v = 1; v <= 100000; v++)
        h_add(&h, v * 1000);
    double p50 = (double)h_pct(&h, 50), p99 = (double)h_pct(&h, 99);
    if (fabs(p50 - 50e6) > 50e6 / 100 || fabs(p99 - 99e6) > 99e6 / 100)
        bad++;
    /* values: deterministic, key- and version-dependent, printable */
    char a[300], b[300];
    value_fill(a, 7, 1, 300);
    value_fill(b, 7, 1, 300);
    if (memcmp(a, b, 300))
        bad++;
    value_fill(b, 8, 1, 300);
    if (!memcmp(a, b, 300))
        bad++;
    value_fill(b, 7, 2, 300);
    if (!memcmp(a, b, 300))
        bad++;
    for (int i = 0; i < 300; i++)
        if (!memchr(ALPHA, a[i], 64))
            bad++;
    /* meta values: the version header round-trips, the tail is unchanged */
    static const uint32_t vers[] = {0, 1, 63, 64, 0x12345678u, 0xffffffffu};
    for (size_t i = 0; i < sizeof vers / sizeof vers[0]; i++) {
        uint32_t got = 0;
        value_fill(a, 9, vers[i], 40);
        meta_value_fill(b, 9, vers[i], 40);
        if (!meta_value_version(b, 40, &got) || got != vers[i] ||
            memcmp(a + META_VHDR, b + META_VHDR, 40 - META_VHDR))
            bad++;
    }
    if (meta_value_version("_AAAAA", 6, &(uint32_t){0}) || /* > 32 bits */
        meta_value_version("AAA AA", 6, &(uint32_t){0}) ||
        meta_value_version("AAAAA", 5, &(uint32_t){0}))
        bad++;
    printf("selftest: %s (p50 %.0f ns, p99 %.0f ns)\n", bad ? "FAILED" : "ok", p50, p99);
    return bad ? 1 : 0;
}

static void on_sigint(int sig)
{
    (void)sig;
    atomic_store(&g_stop, 1);
}

static void usage(FILE *f)
{
    fprintf(f,
"usage: mcload [options]\n"
"  -s, --server HOST        server address (127.0.0.1)\n"
"  -p, --port PORT          server port (11211)\n"
"  -t, --threads N          client threads, one event loop each (1)\n"
"  -c, --conns N            active connections in total (50)\n"
"  -P, --pipeline N         requests in flight per connection (1)\n"
"  -k, --keys N             key space size (10000)\n"
"      --key-prefix STR     key prefix (mcl:); keys are PREFIX<index>\n"
"  -v, --value-size N|A-B   value size in bytes, fixed or uniform range (32)\n"
"  -r, --ratio G:S          get:set request mix (9:1)\n"
"  -m, --multiget N         keys per get request (1)\n"
"  -d, --duration SECS      timed phase length (default 10 if no --requests)\n"
"  -n, --requests N         stop after N requests in total\n"
"  -w, --warmup             set every key once before the timed phase\n"
"  -i, --idle-conns N       extra connections that connect and stay idle (0)\n"
"      --seed N             RNG seed (1)\n"
"      --drain-timeout SECS wait this long for replies after stop (5)\n"
"  -q, --quiet              only print the final JSON line\n"
"      --selftest           check histogram and value generator, then exit\n"
"      --proto text|meta|binary  text: get/set; meta: mg <key> v / ms <key> <len> T0 (text)\n"
"      --meta-quiet         meta with q flags: mg <key> v q k, ms <key> <len> q,\n"
"                           each window of --pipeline requests ends with mn\n"
"      --proto binary       binary protocol: GetK per key, Set (flags = version)\n"
"      --bin-quiet          binary with GetKQ/SetQ, each window ends with Noop\n"
"      --tls                speak TLS (OpenSSL, no certificate verification)\n"
"Exit status: 0 ok, 1 if any reply was invalid/missing, 2 on setup failure.\n"
"The last stdout line is a JSON object with all results.\n");
}

static bool parse_uint(const char *s, uint64_t max, uint64_t *out)
{
    char *e;
    errno = 0;
    unsigned long long v = strtoull(s, &e, 10);
    if (errno || e == s || *e || v > max || s[0] == '-')
        return false;
    *out = v;
    return true;
}

#define NEED_UINT(var, lo, hi, name)                                         \
    do {                                                                     \
        uint64_t v_, lo_ = (lo);                                             \
        if (!parse_uint(optarg, (hi), &v_) || v_ < lo_) {                    \
            fprintf(stderr, "mcload: bad %s '%s'\n", name, optarg);         \
            return 2;                                                        \
        }                                                                    \
        var = v_;                                                            \
    } while (0)

int main(int argc, char **argv)
{
    static const struct option lo[] = {
        {"server", required_argument, 0, 's'},
        {"host", required_argument, 0, 's'},
        {"port", required_argument, 0, 'p'},
        {"threads", required_argument, 0, 't'},
        {"conns", required_argument, 0, 'c'},
        {"pipeline", required_argument, 0, 'P'},
        {"keys", required_argument, 0, 'k'},
        {"key-prefix", required_argument, 0, 1000},
        {"value-size", required_argument, 0, 'v'},
        {"ratio", required_argument, 0, 'r'},
        {"multiget", required_argument, 0, 'm'},
        {"duration", required_argument, 0, 'd'},
        {"requests", required_argument, 0, 'n'},
        {"warmup", no_argument, 0, 'w'},
        {"idle-conns", required_argument, 0, 'i'},
        {"seed", required_argument, 0, 1001},
        {"drain-timeout", required_argument, 0, 1002},
        {"quiet", no_argument, 0, 'q'},
        {"selftest", no_argument, 0, 1003},
        {"proto", required_argument, 0, 1004},
        {"meta-quiet", no_argument, 0, 1005},
        {"bin-quiet", no_argument, 0, 1006},
        {"tls", no_argument, 0, 1007},
        {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0},
    };
    int ch;
    uint64_t u;
    bool proto_text = false;
    while ((ch = getopt_long(argc, argv, "s:p:t:c:P:k:v:r:m:d:n:wi:qh", lo, NULL)) != -1) {
        switch (ch) {
        case 's': opt.host = optarg; break;
        case 'p': opt.port = optarg; break;
        case 't': NEED_UINT(opt.threads, 1, 256, "--threads"); break;
        case 'c': NEED_UINT(opt.conns, 0, 100000, "--conns"); break;
        case 'P': NEED_UINT(opt.pipeline, 1, 4096, "--pipeline"); break;
        case 'k': NEED_UINT(opt.keys, 1, 0xffffffffu, "--keys"); break;
        case 1000: opt.prefix = optarg; break;
        case 'v': {
            char *dash = strchr(optarg, '-');
            unsigned long a, b;
            char *e;
            a = strtoul(optarg, &e, 10);
            if (dash) {
                if (e != dash) goto badv;
                b = strtoul(dash + 1, &e, 10);
            } else {
                b = a;
            }
            if (*e || a < 1 || b < a || b > MAX_VALUE) {
            badv:
                fprintf(stderr, "mcload: bad --value-size '%s' (1..%u or A-B)\n",
                        optarg, MAX_VALUE);
                return 2;
            }
            opt.vmin = (uint32_t)a;
            opt.vmax = (uint32_t)b;
            break;
        }
        case 'r': {
            unsigned g, s;
            char extra;
            if (sscanf(optarg, "%u:%u%c", &g, &s, &extra) != 2 || g + s == 0 ||
                g > 1000000 || s > 1000000) {
                fprintf(stderr, "mcload: bad --ratio '%s' (want G:S)\n", optarg);
                return 2;
            }
            opt.get_w = g;
            opt.set_w = s;
            break;
        }
        case 'm': NEED_UINT(opt.multiget, 1, 10000, "--multiget"); break;
        case 'd': {
            char *e;
            opt.duration = strtod(optarg, &e);
            if (*e || !(opt.duration > 0) || opt.duration > 86400) {
                fprintf(stderr, "mcload: bad --duration '%s'\n", optarg);
                return 2;
            }
            break;
        }
        case 'n': NEED_UINT(opt.requests, 1, UINT64_MAX, "--requests"); break;
        case 'w': opt.warmup = true; break;
        case 'i': NEED_UINT(opt.idle_conns, 0, 1000000, "--idle-conns"); break;
        case 1001: NEED_UINT(u, 0, UINT64_MAX, "--seed"); opt.seed = u; break;
        case 1002: {
            char *e;
            opt.drain_timeout = strtod(optarg, &e);
            if (*e || !(opt.drain_timeout > 0) || opt.drain_timeout > 3600) {
                fprintf(stderr, "mcload: bad --drain-timeout '%s'\n", optarg);
                return 2;
            }
            break;
        }
        case 'q': opt.quiet = true; break;
        case 1003: return selftest();
        case 1004:
            if (strcmp(optarg, "text") == 0) {
                proto_text = true;
            } else if (strcmp(optarg, "meta") == 0) {
                opt.meta = true;
            } else if (strcmp(optarg, "binary") == 0) {
                opt.binary = true;
            } else {
                fprintf(stderr, "mcload: bad --proto '%s' (text, meta or binary)\n", optarg);
                return 2;
            }
            break;
        case 1005: opt.meta_quiet = opt.meta = true; break;
        case 1006: opt.bin_quiet = opt.binary = true; break;
        case 1007:
#ifdef HAVE_TLS
            opt.tls = true;
            break;
#else
            fprintf(stderr, "mcload: built without OpenSSL, no --tls\n");
            return 2;
#endif
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind != argc) {
        usage(stderr);
        return 2;
    }
    if ((proto_text && (opt.meta || opt.binary)) || (opt.meta && opt.binary)) {
        fprintf(stderr, "mcload: --meta-quiet needs --proto meta, --bin-quiet --proto binary\n");
        return 2;
    }
    opt.windowed = opt.meta_quiet || opt.bin_quiet;
    if (opt.meta && opt.vmin < META_VHDR) {
        fprintf(stderr, "mcload: --proto meta needs values of at least %d bytes "
                "(they carry their version)\n", META_VHDR);
        return 2;
    }
    if (!opt.duration && !opt.requests)
        opt.duration = 10;
    g_prefix_len = strlen(opt.prefix);
    if (g_prefix_len + 10 > MAX_KEYLEN || strpbrk(opt.prefix, " \t\r\n")) {
        fprintf(stderr, "mcload: --key-prefix too long or contains whitespace\n");
        return 2;
    }
    if (opt.conns < opt.threads && opt.conns > 0)
        opt.threads = opt.conns;
    if (opt.conns == 0) {
        fprintf(stderr, "mcload: need at least one active connection\n");
        return 2;
    }
    if (opt.set_w == 0 && !opt.warmup && !opt.quiet)
        fprintf(stderr, "mcload: note: get-only without --warmup will mostly miss\n");

    /* request size bounds */
    size_t keymax = g_prefix_len + 10;
    size_t getmax = 3 + (size_t)opt.multiget * (keymax + 1) + 2;
    size_t setmax = 4 + keymax + 1 + 10 + 3 + 10 + 2 + opt.vmax + 2;
    if (opt.meta) { /* "mg K v q k\r\n" per key; "ms K LEN T0\r\n" data; + "mn\r\n" */
        getmax = (size_t)opt.multiget * (3 + keymax + 8) + 4;
        setmax = 3 + keymax + 1 + 10 + 5 + opt.vmax + 2 + 4;
    }
    if (opt.binary) { /* 24-byte headers; sets carry 8 bytes of extras; + Noop */
        getmax = (size_t)opt.multiget * (24 + keymax) + 24;
        setmax = 24 + 8 + keymax + opt.vmax + 24;
    }
    g_max_req = getmax > setmax ? getmax : setmax;

    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    signal(SIGPIPE, SIG_IGN);
    struct sigaction sa = {.sa_handler = on_sigint};
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    int gai = getaddrinfo(opt.host, opt.port, &hints, &g_addr);
    if (gai) {
        fprintf(stderr, "mcload: %s:%s: %s\n", opt.host, opt.port, gai_strerror(gai));
        return 2;
    }

    struct thread *th = calloc((size_t)opt.threads, sizeof *th);
    if (!th) {
        perror("calloc");
        return 2;
    }
    size_t ocap = (size_t)opt.pipeline * g_max_req;
    if (ocap > 256 * 1024)
        ocap = 256 * 1024;
    if (ocap < 2 * g_max_req)
        ocap = 2 * g_max_req;
    size_t icap = 2 * ((size_t)opt.vmax + 512);
    if (icap < 64 * 1024)
        icap = 64 * 1024;

    int connect_fail = 0;
    for (int i = 0; i < opt.threads; i++) {
        struct thread *t = &th[i];
        t->id = i;
        t->warm_next = (uint32_t)i;
        t->ep = epoll_create1(EPOLL_CLOEXEC);
        int na = opt.conns / opt.threads + (i < opt.conns % opt.threads);
        int ni = opt.idle_conns / opt.threads + (i < opt.idle_conns % opt.threads);
        t->nc = na + ni;
        t->nidle = ni;
        t->c = calloc((size_t)t->nc, sizeof *t->c);
        t->scratch = malloc(opt.vmax + 16);
        if (t->ep < 0 || !t->c || !t->scratch) {
            perror("setup");
            return 2;
        }
        for (int j = 0; j < t->nc; j++) {
            struct conn *c = &t->c[j];
            c->t = t;
            c->idle = j >= na;
            c->rng = mix64(opt.seed * 0x100000001b3ull + (uint64_t)i * 65536 + (uint64_t)j) | 1;
            c->fd = open_conn();
#ifdef HAVE_TLS
            if (c->fd >= 0 && opt.tls) {
                if (g_tls_ctx == NULL) {
                    g_tls_ctx = SSL_CTX_new(TLS_client_method());
                    SSL_CTX_set_mode(g_tls_ctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
                                                    SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
                }
                set_blocking_for_handshake(c->fd, true);
                c->ssl = tls_open(c->fd);
                set_blocking_for_handshake(c->fd, false);
                if (c->ssl == NULL) {
                    close(c->fd);
                    c->fd = -1;
                    errno = EPROTO;
                }
            }
#endif
            if (c->fd < 0) {
                if (connect_fail++ < 3)
                    fprintf(stderr, "mcload: connect to %s:%s: %s\n", opt.host,
                            opt.port, strerror(errno));
                c->dead = true;
                t->st.err_conn++;
                continue;
            }
            if (!c->idle) {
                c->ocap = ocap;
                c->out = malloc(c->ocap);
                c->icap = icap;
                c->in = malloc(c->icap);
                c->q = calloc((size_t)opt.pipeline, sizeof *c->q);
                c->qkeys = calloc((size_t)opt.pipeline * (size_t)opt.multiget,
                                  sizeof *c->qkeys);
                if (!c->out || !c->in || !c->q || !c->qkeys) {
                    perror("malloc");
                    return 2;
                }
            } else {
                c->icap = 4096;
                c->in = malloc(c->icap);
            }
            struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
            epoll_ctl(t->ep, EPOLL_CTL_ADD, c->fd, &ev);
        }
    }
    if (connect_fail == opt.conns + opt.idle_conns) {
        fprintf(stderr, "mcload: could not connect at all\n");
        return 2;
    }

    pthread_barrier_init(&g_barrier, NULL, (unsigned)opt.threads);
    uint64_t w0 = now_ns();
    for (int i = 0; i < opt.threads; i++)
        if (pthread_create(&th[i].th, NULL, thread_main, &th[i]) != 0) {
            perror("pthread_create");
            return 2;
        }
    for (int i = 0; i < opt.threads; i++)
        pthread_join(th[i].th, NULL);

    /* aggregate */
    struct stats S = {0}, W = {0};
    static struct hist H;
    uint64_t t0 = UINT64_MAX, t1 = 0, cpu = 0;
    for (int i = 0; i < opt.threads; i++) {
        struct thread *t = &th[i];
        uint64_t *d = (uint64_t *)&S, *s = (uint64_t *)&t->st;
        for (size_t k = 0; k < sizeof S / sizeof(uint64_t); k++)
            d[k] += s[k];
        d = (uint64_t *)&W;
        s = (uint64_t *)&t->wst;
        for (size_t k = 0; k < sizeof W / sizeof(uint64_t); k++)
            d[k] += s[k];
        h_merge(&H, &t->h);
        cpu += t->cpu_ns;
        if (t->t_start < t0)
            t0 = t->t_start;
        if (t->t_end > t1)
            t1 = t->t_end;
    }
    double secs = t1 > t0 ? (double)(t1 - t0) / 1e9 : 1e-9;
    double warm_secs = opt.warmup ? (double)(t0 - w0) / 1e9 : 0;
    uint64_t errors = S.err_server + S.err_proto + S.err_value + S.err_conn +
                      S.err_timeout + W.err_server + W.err_proto + W.err_value +
                      W.err_conn + W.err_timeout;
    uint64_t reqs = S.get_reqs + S.set_reqs;
    uint64_t keyops = S.get_keys + S.set_reqs;
    /* fraction of the client's threads' wall time spent on CPU: near 1.0
     * means mcload itself was the bottleneck */
    double cli_util = (double)cpu / 1e9 / (secs * opt.threads);
    double hit_rate = S.get_keys ? (double)S.hits / (double)S.get_keys : 0;
    double p50 = (double)h_pct(&H, 50) / 1e3, p90 = (double)h_pct(&H, 90) / 1e3,
           p99 = (double)h_pct(&H, 99) / 1e3, p999 = (double)h_pct(&H, 99.9) / 1e3,
           pmax = (double)H.max / 1e3,
           mean = H.count ? (double)H.sum / (double)H.count / 1e3 : 0;

    if (!opt.quiet) {
        printf("mcload %s:%s threads=%d conns=%d idle=%d pipeline=%d keys=%u "
               "value=%u-%u ratio=%u:%u multiget=%d proto=%s\n",
               opt.host, opt.port, opt.threads, opt.conns, opt.idle_conns,
               opt.pipeline, opt.keys, opt.vmin, opt.vmax, opt.get_w, opt.set_w,
               opt.multiget, opt.bin_quiet ? "binary-quiet" : opt.binary ? "binary" :
               opt.meta_quiet ? "meta-quiet" : opt.meta ? "meta" : "text");
        if (opt.warmup)
            printf("  warmup     %.2f s, %" PRIu64 " keys stored\n", warm_secs, W.stored);
        printf("  duration   %.3f s\n", secs);
        printf("  requests   %" PRIu64 " (%.0f req/s; get %" PRIu64 ", set %" PRIu64 ")\n",
               reqs, (double)reqs / secs, S.get_reqs, S.set_reqs);
        printf("  key-ops    %" PRIu64 " (%.0f ops/s)\n", keyops, (double)keyops / secs);
        printf("  hit rate   %.4f (%" PRIu64 " of %" PRIu64 " keys)\n", hit_rate, S.hits,
               S.get_keys);
        printf("  latency us p50 %.1f  p90 %.1f  p99 %.1f  p99.9 %.1f  max %.1f  mean %.1f\n",
               p50, p90, p99, p999, pmax, mean);
        printf("  traffic    out %.1f MB/s, in %.1f MB/s\n",
               (double)S.bytes_out / secs / 1e6, (double)S.bytes_in / secs / 1e6);
        printf("  client cpu %.2f s, %.0f%% of %d thread(s)%s\n", (double)cpu / 1e9,
               cli_util * 100, opt.threads,
               cli_util > 0.9 ? "  (client-bound: add --threads / cores)" : "");
        printf("  errors     %" PRIu64 " (server %" PRIu64 ", protocol %" PRIu64
               ", value %" PRIu64 ", conn %" PRIu64 ", timeout %" PRIu64 ")\n",
               errors, S.err_server + W.err_server, S.err_proto + W.err_proto,
               S.err_value + W.err_value, S.err_conn + W.err_conn,
               S.err_timeout + W.err_timeout);
    }
    printf("{\"ops_per_sec\":%.1f,\"req_per_sec\":%.1f,\"duration\":%.3f,"
           "\"requests\":%" PRIu64 ",\"gets\":%" PRIu64 ",\"sets\":%" PRIu64
           ",\"get_keys\":%" PRIu64 ",\"hits\":%" PRIu64 ",\"hit_rate\":%.4f,"
           "\"p50_us\":%.1f,\"p90_us\":%.1f,\"p99_us\":%.1f,\"p999_us\":%.1f,"
           "\"max_us\":%.1f,\"mean_us\":%.1f,\"errors\":%" PRIu64
           ",\"err_server\":%" PRIu64 ",\"err_protocol\":%" PRIu64
           ",\"err_value\":%" PRIu64 ",\"err_conn\":%" PRIu64
           ",\"err_timeout\":%" PRIu64 ",\"warmup_secs\":%.3f,\"warmup_stored\":%" PRIu64
           ",\"threads\":%d,\"conns\":%d,\"idle_conns\":%d,\"pipeline\":%d,"
           "\"multiget\":%d,\"keys\":%u,\"value_min\":%u,\"value_max\":%u,"
           "\"client_cpu_s\":%.3f,\"client_util\":%.3f,\"proto\":\"%s\","
           "\"meta_quiet\":%s}\n",
           (double)keyops / secs, (double)reqs / secs, secs, reqs, S.get_reqs, S.set_reqs,
           S.get_keys, S.hits, hit_rate, p50, p90, p99, p999, pmax, mean, errors,
           S.err_server + W.err_server, S.err_proto + W.err_proto,
           S.err_value + W.err_value, S.err_conn + W.err_conn,
           S.err_timeout + W.err_timeout, warm_secs, W.stored, opt.threads, opt.conns,
           opt.idle_conns, opt.pipeline, opt.multiget, opt.keys, opt.vmin, opt.vmax,
           (double)cpu / 1e9, cli_util, opt.binary ? "binary" : opt.meta ? "meta" : "text",
           opt.meta_quiet ? "true" : "false");
    fflush(stdout);
    for (int i = 0; i < opt.threads; i++) {
        struct thread *t = &th[i];
        for (int j = 0; j < t->nc; j++) {
            struct conn *c = &t->c[j];
            if (!c->dead)
                close(c->fd);
            free(c->out);
            free(c->in);
            free(c->q);
            free(c->qkeys);
        }
        free(t->c);
        free(t->scratch);
        close(t->ep);
    }
    free(th);
    pthread_barrier_destroy(&g_barrier);
    freeaddrinfo(g_addr);
    return errors ? 1 : 0;
}
