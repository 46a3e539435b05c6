/*
 * mctrace -- deterministic look-aside trace replayer (text protocol).
 *
 * Generates a request stream on the fly from a fixed seed and replays it
 * against one server as a look-aside cache would be used: `get` the key,
 * and on a miss `set` it with its value (as if fetched from a database).
 *
 *   popularity   Zipf(alpha) over --keys keys (rank 1 most popular), drawn
 *                by rejection-inversion (Hoermann & Derflinger 1996): O(1)
 *                per draw, no table, so 10^7 or 10^8 keys cost no memory;
 *   one-hit      a fraction --ohw of the requests goes to a fresh key that
 *                is never requested again;
 *   value sizes  a deterministic function of the key (--sizes: fixed,
 *                uniform, log-uniform, or the presets "mixed"/"wide"), so a
 *                key always has the same value, like a database row;
 *   values       "<key>|<len>|" followed by bytes of a fixed pseudo-random
 *                pattern at a key-dependent offset; flags are a hash of the
 *                key.  Every value read back is checked byte for byte
 *                (length, flags, content); a wrong one is an error.
 *
 * Replay: one connection, in windows of --window requests.  Each window is
 * written as one batch -- the sets for the previous window's misses, then
 * the window's gets (one `get k1 ... kW` line, or W `get` lines with
 * --pipeline) -- and all of its replies are read before the next batch.
 * The bytes on the wire are therefore a function of the trace and of which
 * gets hit, nothing else: two servers see exactly the same gets in the
 * same order, and each get's miss is set before that key's next window.
 *
 * The first --warmup requests fill the cache and are not counted.
 * Reported (human summary, then one JSON line): requests, measured gets,
 * misses and miss ratio, byte miss ratio, cold misses (first request of a
 * key, which no policy can avoid), the miss ratio in four equal segments of
 * the measured part, sets stored/refused, errors, and a hash of the
 * request stream (equal for equal options, whatever the server).
 *
 * Exit status: 0 ok, 1 if any error was counted (wrong value, protocol,
 * connection, time limit reached), 2 on usage/setup failure.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define MAX_VAL (1000u * 1000u)
#define PAT_SLACK 4096u
#define KEYBUF 64

static struct {
    const char *host, *port, *prefix, *sizes;
    uint64_t keys, requests, warmup;
    double alpha, ohw, max_seconds, io_timeout;
    unsigned window;
    uint64_t seed;
    bool pipeline, quiet;
    uint64_t dump;
} opt = {
    .host = "127.0.0.1", .port = "11211", .prefix = "tr", .sizes = "100",
    .keys = 1000000, .requests = 2000000, .warmup = UINT64_MAX,
    .alpha = 0.99, .ohw = 0.0, .max_seconds = 600, .io_timeout = 30,
    .window = 16, .seed = 1,
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* ------------------------------------------------------------------ */
/* random numbers                                                     */

static inline uint64_t smix(uint64_t z)
{
    /* splitmix64 finaliser */
    z += 0x9e3779b97f4a7c15ull;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

struct rng {
    uint64_t s;
};

static inline uint64_t rnd64(struct rng *r)
{
    r->s += 0x9e3779b97f4a7c15ull;
    return smix(r->s);
}

/* uniform in (0, 1] */
static inline double rnd_unit(struct rng *r)
{
    return (double)((rnd64(r) >> 11) + 1) * (1.0 / 9007199254740992.0);
}

/* ------------------------------------------------------------------ */
/* Zipf(a) on 1..n by rejection-inversion                              */
/*
 * Let h(x) = x^-a and H its antiderivative with H(1) = 0.  The ranks are
 * laid on the x axis as intervals [k-1/2, k+1/2]; a uniform u over
 * [H(n+1/2), H(3/2) - h(1)] is inverted to x = H^-1(u) and rounded to k.
 * Since h is convex, the area of each rank's interval is at least h(k),
 * and the draw is accepted when u falls in the part of the interval whose
 * area is exactly h(k) -- so P(k) is proportional to k^-a.  The interval
 * of rank 1 is shifted so its area is h(1).  Acceptance is near 1.
 * H and H^-1 are written with expm1/log1p so a = 1 (log/exp) needs no
 * special case and a near 1 loses no precision.
 */
struct zipf {
    double a, q; /* q = 1 - a */
    double lo, hi, s;
    uint64_t n;
};

static double expm1_over(double t) /* (e^t - 1) / t */
{
    return fabs(t) > 1e-8 ? expm1(t) / t : 1.0 + t * 0.5;
}

static double log1p_over(double t) /* log(1 + t) / t */
{
    return fabs(t) > 1e-8 ? log1p(t) / t : 1.0 - t * 0.5;
}

static double z_h(const struct zipf *z, double x)
{
    return exp(-z->a * log(x));
}

static double z_H(const struct zipf *z, double x)
{
    double lx = log(x);
    return lx * expm1_over(z->q * lx);
}

static double z_Hinv(const struct zipf *z, double y)
{
    double t = z->q * y;
    if (t < -1.0)
        t = -1.0; /* rounding at the domain edge */
    return exp(y * log1p_over(t));
}

static void zipf_init(struct zipf *z, double a, uint64_t n)
{
    z->a = a;
    z->q = 1.0 - a;
    z->n = n;
    z->hi = z_H(z, 1.5) - 1.0;
    z->lo = z_H(z, (double)n + 0.5);
    z->s = 2.0 - z_Hinv(z, z_H(z, 2.5) - z_h(z, 2.0));
}

static uint64_t zipf_draw(const struct zipf *z, struct rng *r)
{
    for (;;) {
        double u = z->lo + rnd_unit(r) * (z->hi - z->lo);
        double x = z_Hinv(z, u);
        double kd = floor(x + 0.5);
        if (kd < 1.0)
            kd = 1.0;
        else if (kd > (double)z->n)
            kd = (double)z->n;
        if (kd - x <= z->s || u >= z_H(z, kd + 0.5) - z_h(z, kd))
            return (uint64_t)kd;
    }
}

/* ------------------------------------------------------------------ */
/* value sizes                                                        */

enum { SZ_FIXED, SZ_UNIFORM, SZ_LOG, SZ_MIX };

struct sizedist {
    int kind;
    uint32_t lo, hi;
    unsigned ncomp;
    struct {
        unsigned weight; /* cumulative, out of 100 */
        uint32_t lo, hi;
    } comp[4];
};

static struct sizedist sd;

static bool parse_range(const char *s, uint32_t *lo, uint32_t *hi)
{
    char *end;
    unsigned long a = strtoul(s, &end, 10), b = a;
    if (end == s)
        return false;
    if (*end == '-') {
        const char *t = end + 1;
        b = strtoul(t, &end, 10);
        if (end == t)
            return false;
    }
    if (*end || a < 1 || b < a || b > MAX_VAL)
        return false;
    *lo = (uint32_t)a;
    *hi = (uint32_t)b;
    return true;
}

static bool parse_sizes(const char *s)
{
    memset(&sd, 0, sizeof sd);
    if (!strcmp(s, "mixed")) {
        /* mostly small, across many slab classes; mean ~0.5 KB */
        sd.kind = SZ_MIX;
        sd.ncomp = 3;
        sd.comp[0].weight = 60, sd.comp[0].lo = 16, sd.comp[0].hi = 128;
        sd.comp[1].weight = 90, sd.comp[1].lo = 128, sd.comp[1].hi = 1024;
        sd.comp[2].weight = 100, sd.comp[2].lo = 1024, sd.comp[2].hi = 8192;
        return true;
    }
    if (!strcmp(s, "wide"))
        s = "log:64-102400";
    if (!strncmp(s, "log:", 4)) {
        sd.kind = SZ_LOG;
        return parse_range(s + 4, &sd.lo, &sd.hi);
    }
    if (!parse_range(s, &sd.lo, &sd.hi))
        return false;
    sd.kind = sd.lo == sd.hi ? SZ_FIXED : SZ_UNIFORM;
    return true;
}

static uint32_t log_uniform(uint32_t lo, uint32_t hi, uint64_t h)
{
    double u = (double)(h >> 11) * (1.0 / 9007199254740992.0);
    double v = exp(log((double)lo) + u * (log((double)hi + 1.0) - log((double)lo)));
    uint32_t n = (uint32_t)v;
    return n < lo ? lo : n > hi ? hi : n;
}

/* size of key (kind, id): a function of the key only */
static uint32_t value_size(int kind, uint64_t id)
{
    uint64_t h = smix(id * 2 + (uint64_t)kind + 0x51ed27ull);
    switch (sd.kind) {
    case SZ_FIXED:
        return sd.lo;
    case SZ_UNIFORM:
        return sd.lo + (uint32_t)(h % ((uint64_t)sd.hi - sd.lo + 1));
    case SZ_LOG:
        return log_uniform(sd.lo, sd.hi, h);
    default: {
        unsigned pick = (unsigned)(h % 100);
        unsigned c = 0;
        while (c + 1 < sd.ncomp && pick >= sd.comp[c].weight)
            c++;
        return log_uniform(sd.comp[c].lo, sd.comp[c].hi, smix(h));
    }
    }
}

/* ------------------------------------------------------------------ */
/* keys and values                                                    */

enum { K_ZIPF = 0, K_ONCE = 1 };

struct treq {
    uint64_t id;
    uint32_t size;
    uint8_t kind;
    uint8_t klen;
    bool counted; /* after warm-up */
    bool cold;    /* first request of this key */
    char key[KEYBUF];
};

static char *pattern; /* MAX_VAL + PAT_SLACK printable bytes */

static void pattern_init(void)
{
    static const char al[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    pattern = malloc(MAX_VAL + PAT_SLACK);
    if (!pattern) {
        perror("malloc");
        exit(2);
    }
    uint64_t s = 0x7261636574ull;
    for (size_t i = 0; i < MAX_VAL + PAT_SLACK; i++) {
        if (i % 10 == 0)
            s = smix(s);
        pattern[i] = al[(s >> (6 * (i % 10))) & 63];
    }
}

static inline uint64_t key_hash(const struct treq *q)
{
    return smix(q->id ^ ((uint64_t)q->kind << 62) ^ 0x6b6579ull);
}

static inline uint32_t value_flags(const struct treq *q)
{
    return (uint32_t)(key_hash(q) >> 32);
}

/* the value starts with "<key>|<len>|" (cut to len), then pattern bytes */
static unsigned value_head(const struct treq *q, char *buf)
{
    return (unsigned)snprintf(buf, KEYBUF + 16, "%s|%u|", q->key, q->size);
}

static inline const char *value_tail(const struct treq *q)
{
    return pattern + key_hash(q) % PAT_SLACK;
}

/* ------------------------------------------------------------------ */
/* the request stream                                                 */

struct gen {
    struct rng r;
    struct zipf z;
    uint64_t next_once; /* id of the next one-hit wonder */
    uint64_t done;      /* requests generated */
    uint64_t hash;      /* FNV-1a over (kind, id, size) */
    uint8_t *seen;      /* bitmap over zipf ids: requested before */
};

static void gen_init(struct gen *g)
{
    memset(g, 0, sizeof *g);
    g->r.s = smix(opt.seed ^ 0x74726163ull);
    zipf_init(&g->z, opt.alpha, opt.keys);
    g->hash = 0xcbf29ce484222325ull;
    g->seen = calloc(opt.keys / 8 + 1, 1);
    if (!g->seen) {
        perror("calloc");
        exit(2);
    }
}

static inline void fnv(uint64_t *h, uint64_t v)
{
    for (int i = 0; i < 8; i++, v >>= 8) {
        *h ^= v & 0xff;
        *h *= 0x100000001b3ull;
    }
}

static void gen_next(struct gen *g, struct treq *q)
{
    /* both draws are made every time, so --ohw does not shift the zipf
     * sequence of the other requests */
    double u = rnd_unit(&g->r);
    uint64_t rank = zipf_draw(&g->z, &g->r);
    if (u <= opt.ohw) {
        q->kind = K_ONCE;
        q->id = g->next_once++;
        q->cold = true;
    } else {
        q->kind = K_ZIPF;
        q->id = rank - 1;
        q->cold = !(g->seen[q->id >> 3] & (1u << (q->id & 7)));
        g->seen[q->id >> 3] |= (uint8_t)(1u << (q->id & 7));
    }
    q->size = value_size(q->kind, q->id);
    q->counted = g->done >= opt.warmup;
    g->done++;
    int n = snprintf(q->key, KEYBUF, "%s%c%013" PRIu64, opt.prefix,
                     q->kind == K_ZIPF ? 'z' : 'o', q->id);
    q->klen = (uint8_t)n;
    fnv(&g->hash, q->kind);
    fnv(&g->hash, q->id);
    fnv(&g->hash, q->size);
}

/* ------------------------------------------------------------------ */
/* connection                                                         */

static int sock = -1;

static struct {
    char *b;
    size_t cap, len;
} out;

static struct {
    char *b;
    size_t cap, r, w;
} in;

static struct {
    uint64_t requests, measured, misses, hits, cold_misses, ohw_measured;
    uint64_t bytes_req, bytes_missed;
    uint64_t sets, stored, set_refused, set_server_error;
    uint64_t err_value, err_protocol, err_conn;
    uint64_t seg_req[4], seg_miss[4];
    bool time_limit;
    char first_refusal[128];
} st;

static void fatal_conn(const char *what)
{
    fprintf(stderr, "mctrace: %s: %s\n", what, errno ? strerror(errno) : "connection closed");
    st.err_conn++;
}

static bool connect_server(void)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *res, *ai;
    int rc = getaddrinfo(opt.host, opt.port, &hints, &res);
    if (rc) {
        fprintf(stderr, "mctrace: %s:%s: %s\n", opt.host, opt.port, gai_strerror(rc));
        return false;
    }
    for (ai = res; ai; ai = ai->ai_next) {
        sock = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
        if (sock < 0)
            continue;
        if (connect(sock, ai->ai_addr, ai->ai_addrlen) == 0)
            break;
        close(sock);
        sock = -1;
    }
    freeaddrinfo(res);
    if (sock < 0) {
        fprintf(stderr, "mctrace: cannot connect to %s:%s\n", opt.host, opt.port);
        return false;
    }
    int one = 1;
    setsockopt(sock, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct timeval tv = {.tv_sec = (time_t)opt.io_timeout,
                         .tv_usec = (suseconds_t)((opt.io_timeout - floor(opt.io_timeout)) * 1e6)};
    setsockopt(sock, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(sock, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    return true;
}

/* grow buffer *b (capacity *cap) by doubling to at least need bytes */
static void grow(char **b, size_t *cap, size_t need, size_t first)
{
    if (need <= *cap)
        return;
    size_t c = *cap ? *cap : first;
    while (c < need)
        c *= 2;
    *b = realloc(*b, c);
    if (!*b) {
        perror("realloc");
        exit(2);
    }
    *cap = c;
}

static void out_put(const void *p, size_t n)
{
    grow(&out.b, &out.cap, out.len + n, 65536);
    memcpy(out.b + out.len, p, n);
    out.len += n;
}

static bool out_flush(void)
{
    size_t off = 0;
    while (off < out.len) {
        ssize_t n = send(sock, out.b + off, out.len - off, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            fatal_conn("send");
            return false;
        }
        off += (size_t)n;
    }
    out.len = 0;
    return true;
}

/* make at least n unread bytes available in in.b[in.r ..] */
static bool in_need(size_t n)
{
    while (in.w - in.r < n) {
        if (in.r > 0 && (in.cap - in.w < 65536 || in.r + n > in.cap || in.r == in.w)) {
            memmove(in.b, in.b + in.r, in.w - in.r);
            in.w -= in.r;
            in.r = 0;
        }
        /* room for the n bytes wanted and for a 64 KB read; after the
         * compaction above this never exceeds n + 64 KB */
        size_t need = in.r + n > in.w + 65536 ? in.r + n : in.w + 65536;
        grow(&in.b, &in.cap, need, 262144);
        errno = 0;
        ssize_t got = recv(sock, in.b + in.w, in.cap - in.w, 0);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0) {
            fatal_conn(got < 0 ? "recv (timeout?)" : "recv");
            return false;
        }
        in.w += (size_t)got;
    }
    return true;
}

/* next reply line (without CRLF), NUL-terminated in place */
static char *in_line(size_t *len)
{
    size_t scan = in.r;
    for (;;) {
        char *nl = memchr(in.b + scan, '\n', in.w - scan);
        if (nl) {
            char *line = in.b + in.r;
            size_t l = (size_t)(nl - line);
            if (l == 0 || line[l - 1] != '\r') {
                st.err_protocol++;
                fprintf(stderr, "mctrace: line without CRLF\n");
                return NULL;
            }
            line[l - 1] = 0;
            *len = l - 1;
            in.r += l + 1;
            return line;
        }
        if (in.w - in.r > 4096) {
            st.err_protocol++;
            fprintf(stderr, "mctrace: reply line too long\n");
            return NULL;
        }
        size_t have = in.w - in.r;
        if (!in_need(have + 1))
            return NULL;
        scan = in.r + have;
    }
}

/* ------------------------------------------------------------------ */
/* replay                                                             */

static void put_set(const struct treq *q)
{
    char hdr[KEYBUF + 64], head[KEYBUF + 16];
    int n = snprintf(hdr, sizeof hdr, "set %s %u 0 %u\r\n", q->key, value_flags(q), q->size);
    out_put(hdr, (size_t)n);
    unsigned hl = value_head(q, head);
    if (hl > q->size)
        hl = q->size;
    out_put(head, hl);
    out_put(value_tail(q) + hl, q->size - hl);
    out_put("\r\n", 2);
    st.sets++;
}

static bool read_set_reply(void)
{
    size_t l;
    char *line = in_line(&l);
    if (!line)
        return false;
    if (!strcmp(line, "STORED")) {
        st.stored++;
        return true;
    }
    /* a cache may refuse to store (memory full of busy items etc.) */
    if (!strncmp(line, "SERVER_ERROR", 12) || !strcmp(line, "NOT_STORED")) {
        if (line[0] == 'S')
            st.set_server_error++;
        else
            st.set_refused++;
        if (!st.first_refusal[0])
            snprintf(st.first_refusal, sizeof st.first_refusal, "%s", line);
        return true;
    }
    st.err_protocol++;
    fprintf(stderr, "mctrace: unexpected reply to set: %.100s\n", line);
    return false;
}

static bool check_value(const struct treq *q, uint32_t flags, const char *data, uint32_t len)
{
    char head[KEYBUF + 16];
    if (len != q->size || flags != value_flags(q))
        return false;
    unsigned hl = value_head(q, head);
    if (hl > len)
        hl = len;
    return !memcmp(data, head, hl) && !memcmp(data + hl, value_tail(q) + hl, len - hl);
}

/* Replies to the gets of q[0..n): VALUE blocks for hits, in request order,
 * then END (one END for a multiget, one per key with --pipeline).  Sets
 * hit[i]. */
static bool read_get_replies(struct treq *q, unsigned n, bool *hit)
{
    unsigned i = 0;
    memset(hit, 0, n * sizeof *hit);
    unsigned ends = opt.pipeline ? n : 1, end_seen = 0;
    while (end_seen < ends) {
        size_t l;
        char *line = in_line(&l);
        if (!line)
            return false;
        if (!strcmp(line, "END")) {
            end_seen++;
            if (opt.pipeline && i < end_seen)
                i = end_seen; /* that get missed */
            continue;
        }
        char key[256];
        unsigned flags, bytes;
        if (sscanf(line, "VALUE %250s %u %u", key, &flags, &bytes) != 3) {
            st.err_protocol++;
            fprintf(stderr, "mctrace: unexpected get reply: %.100s\n", line);
            return false;
        }
        /* the next requested key with this name (misses are skipped) */
        unsigned limit = opt.pipeline ? end_seen + 1 : n;
        while (i < limit && strcmp(q[i].key, key))
            i++;
        if (i >= limit) {
            st.err_protocol++;
            fprintf(stderr, "mctrace: VALUE for %s, not requested here\n", key);
            return false;
        }
        if (!in_need((size_t)bytes + 2))
            return false;
        const char *data = in.b + in.r;
        if (data[bytes] != '\r' || data[bytes + 1] != '\n') {
            st.err_protocol++;
            fprintf(stderr, "mctrace: data block of %s not ended by CRLF\n", key);
            return false;
        }
        if (check_value(&q[i], flags, data, bytes)) {
            hit[i] = true;
        } else {
            st.err_value++;
            if (st.err_value <= 5)
                fprintf(stderr, "mctrace: wrong value for %s (%u bytes, flags %u; want %u, %u)\n",
                        key, bytes, flags, q[i].size, value_flags(&q[i]));
        }
        in.r += (size_t)bytes + 2;
        i++;
    }
    return true;
}

static void put_gets(const struct treq *q, unsigned n)
{
    if (opt.pipeline) {
        for (unsigned i = 0; i < n; i++) {
            out_put("get ", 4);
            out_put(q[i].key, q[i].klen);
            out_put("\r\n", 2);
        }
        return;
    }
    out_put("get", 3);
    for (unsigned i = 0; i < n; i++) {
        out_put(" ", 1);
        out_put(q[i].key, q[i].klen);
    }
    out_put("\r\n", 2);
}

static void account(const struct treq *q, bool hit, uint64_t idx)
{
    if (!q->counted)
        return;
    uint64_t measured_total = opt.requests - opt.warmup;
    unsigned seg = (unsigned)((idx - opt.warmup) * 4 / measured_total);
    st.measured++;
    st.seg_req[seg]++;
    st.bytes_req += q->size;
    if (q->kind == K_ONCE)
        st.ohw_measured++;
    if (hit) {
        st.hits++;
        return;
    }
    st.misses++;
    st.seg_miss[seg]++;
    st.bytes_missed += q->size;
    if (q->cold)
        st.cold_misses++;
}

static double replay(struct gen *g)
{
    unsigned W = opt.window;
    struct treq *cur = calloc(W, sizeof *cur), *miss = calloc(W, sizeof *miss);
    bool *hit = calloc(W, sizeof *hit);
    if (!cur || !miss || !hit) {
        perror("calloc");
        exit(2);
    }
    unsigned nmiss = 0;
    double t0 = now_s();
    while (g->done < opt.requests) {
        if (now_s() - t0 > opt.max_seconds) {
            st.time_limit = true;
            break;
        }
        uint64_t first = g->done;
        unsigned n = 0;
        while (n < W && g->done < opt.requests)
            gen_next(g, &cur[n++]);
        for (unsigned i = 0; i < nmiss; i++)
            put_set(&miss[i]);
        put_gets(cur, n);
        if (!out_flush())
            break;
        bool ok = true;
        for (unsigned i = 0; i < nmiss && ok; i++)
            ok = read_set_reply();
        if (!ok || !read_get_replies(cur, n, hit))
            break;
        st.requests += n;
        nmiss = 0;
        for (unsigned i = 0; i < n; i++) {
            account(&cur[i], hit[i], first + i);
            if (!hit[i])
                miss[nmiss++] = cur[i];
        }
    }
    /* the last window's sets, so the final state holds them */
    if (nmiss && !st.err_conn && !st.err_protocol) {
        for (unsigned i = 0; i < nmiss; i++)
            put_set(&miss[i]);
        bool ok = out_flush();
        for (unsigned i = 0; i < nmiss && ok; i++)
            ok = read_set_reply();
    }
    free(cur);
    free(miss);
    free(hit);
    return now_s() - t0;
}

/* ------------------------------------------------------------------ */
/* offline checks                                                     */

static int selftest(void)
{
    int bad = 0;
    /* 1: Zipf draws against the exact pmf, for several exponents */
    const double alphas[] = {0.6, 0.99, 1.0, 1.2};
    for (size_t ai = 0; ai < sizeof alphas / sizeof *alphas; ai++) {
        const uint64_t n = 1000, draws = 2000000;
        struct zipf z;
        struct rng r = {.s = 42};
        zipf_init(&z, alphas[ai], n);
        uint64_t *cnt = calloc(n + 1, sizeof *cnt);
        double norm = 0;
        for (uint64_t k = 1; k <= n; k++)
            norm += pow((double)k, -alphas[ai]);
        for (uint64_t d = 0; d < draws; d++) {
            uint64_t k = zipf_draw(&z, &r);
            if (k < 1 || k > n) {
                fprintf(stderr, "selftest: zipf draw %" PRIu64 " out of range\n", k);
                bad++;
                break;
            }
            cnt[k]++;
        }
        /* ranks 1..5 and the tail 501..1000: within 5 standard deviations */
        for (uint64_t k = 1; k <= 6; k++) {
            double p = 0;
            uint64_t c = 0;
            if (k <= 5) {
                p = pow((double)k, -alphas[ai]) / norm;
                c = cnt[k];
            } else {
                for (uint64_t j = 501; j <= n; j++) {
                    p += pow((double)j, -alphas[ai]) / norm;
                    c += cnt[j];
                }
            }
            double mean = p * (double)draws, sdv = sqrt(mean * (1 - p));
            if (fabs((double)c - mean) > 5 * sdv) {
                fprintf(stderr, "selftest: zipf a=%.2f rank %s: %" PRIu64 " draws, expected %.0f\n",
                        alphas[ai], k <= 5 ? "1-5" : "501+", c, mean);
                bad++;
            }
        }
        free(cnt);
    }
    /* 2: huge key spaces stay in range */
    {
        struct zipf z;
        struct rng r = {.s = 7};
        zipf_init(&z, 0.99, 100000000ull);
        for (int d = 0; d < 100000; d++) {
            uint64_t k = zipf_draw(&z, &r);
            if (k < 1 || k > 100000000ull) {
                bad++;
                fprintf(stderr, "selftest: zipf(1e8) draw out of range\n");
                break;
            }
        }
    }
    /* 3: sizes in range for each distribution; values verify, a flipped
     *    byte does not */
    const char *specs[] = {"100", "10-20", "log:64-102400", "mixed", "wide"};
    char *buf = malloc(MAX_VAL);
    for (size_t si = 0; si < sizeof specs / sizeof *specs; si++) {
        if (!parse_sizes(specs[si])) {
            fprintf(stderr, "selftest: cannot parse %s\n", specs[si]);
            bad++;
            continue;
        }
        uint32_t lo = UINT32_MAX, hi = 0;
        for (uint64_t id = 0; id < 20000; id++) {
            struct treq q = {.id = id, .kind = (uint8_t)(id & 1)};
            q.size = value_size(q.kind, q.id);
            q.klen = (uint8_t)snprintf(q.key, KEYBUF, "k%" PRIu64, id);
            lo = q.size < lo ? q.size : lo;
            hi = q.size > hi ? q.size : hi;
            if (q.size != value_size(q.kind, q.id) || q.size < 1 || q.size > MAX_VAL) {
                bad++;
                break;
            }
            char head[KEYBUF + 16];
            unsigned hl = value_head(&q, head);
            hl = hl > q.size ? q.size : hl;
            memcpy(buf, head, hl);
            memcpy(buf + hl, value_tail(&q) + hl, q.size - hl);
            if (!check_value(&q, value_flags(&q), buf, q.size)) {
                fprintf(stderr, "selftest: value of %s does not verify\n", q.key);
                bad++;
                break;
            }
            buf[q.size / 2] ^= 1;
            if (check_value(&q, value_flags(&q), buf, q.size)) {
                fprintf(stderr, "selftest: corrupted value of %s verifies\n", q.key);
                bad++;
                break;
            }
        }
        if (!opt.quiet)
            printf("sizes %-14s min %6u max %6u\n", specs[si], lo, hi);
    }
    free(buf);
    printf("selftest: %s\n", bad ? "FAILED" : "ok");
    return bad ? 1 : 0;
}

/* ------------------------------------------------------------------ */

static void usage(FILE *f)
{
    fprintf(f,
            "usage: mctrace -p PORT [options]\n"
            "  -s/--server HOST      (127.0.0.1)        -p/--port PORT (11211)\n"
            "  -k/--keys N           Zipf key space (1000000)\n"
            "  -a/--alpha A          Zipf exponent (0.99)\n"
            "  -o/--ohw F            fraction of requests to one-hit wonders (0)\n"
            "  -v/--sizes SPEC       N | A-B (uniform) | log:A-B | mixed | wide (100)\n"
            "  -n/--requests N       requests (gets) in total (2000000)\n"
            "  -w/--warmup N         first N requests not counted (default n/4)\n"
            "  -W/--window N         requests per batch (16)\n"
            "  --pipeline            one `get` line per key instead of one multiget per batch\n"
            "  --seed N              trace seed (1)\n"
            "  --key-prefix STR      (tr)\n"
            "  --max-seconds S       stop after S seconds, counted as an error (600)\n"
            "  --io-timeout S        per send/recv (30)\n"
            "  --dump N              print the first N requests (kind id size key) and exit\n"
            "  -q/--quiet            only the JSON line\n"
            "  --selftest            offline check of the Zipf sampler, sizes and values\n");
}

static bool parse_u64(const char *s, uint64_t *v)
{
    char *end;
    errno = 0;
    double d = strtod(s, &end); /* accepts 1e6 */
    if (errno || end == s || *end || d < 0 || d > 1e18 || d != floor(d))
        return false;
    *v = (uint64_t)d;
    return true;
}

int main(int argc, char **argv)
{
    enum { O_SEED = 256, O_PREFIX, O_MAXS, O_IOT, O_DUMP, O_SELF, O_PIPE };
    static const struct option lo[] = {
        {"server", 1, 0, 's'}, {"port", 1, 0, 'p'}, {"keys", 1, 0, 'k'},
        {"alpha", 1, 0, 'a'}, {"ohw", 1, 0, 'o'}, {"sizes", 1, 0, 'v'},
        {"requests", 1, 0, 'n'}, {"warmup", 1, 0, 'w'}, {"window", 1, 0, 'W'},
        {"quiet", 0, 0, 'q'}, {"help", 0, 0, 'h'}, {"seed", 1, 0, O_SEED},
        {"key-prefix", 1, 0, O_PREFIX}, {"max-seconds", 1, 0, O_MAXS},
        {"io-timeout", 1, 0, O_IOT}, {"dump", 1, 0, O_DUMP}, {"selftest", 0, 0, O_SELF},
        {"pipeline", 0, 0, O_PIPE}, {0, 0, 0, 0}};
    bool self = false;
    uint64_t win = opt.window;
    int ch;
    while ((ch = getopt_long(argc, argv, "s:p:k:a:o:v:n:w:W:qh", lo, NULL)) != -1) {
        bool ok = true;
        switch (ch) {
        case 's': opt.host = optarg; break;
        case 'p': opt.port = optarg; break;
        case 'k': ok = parse_u64(optarg, &opt.keys) && opt.keys >= 1 && opt.keys <= (1ull << 40); break;
        case 'a': opt.alpha = atof(optarg); ok = opt.alpha > 0 && opt.alpha <= 5; break;
        case 'o': opt.ohw = atof(optarg); ok = opt.ohw >= 0 && opt.ohw < 1; break;
        case 'v': opt.sizes = optarg; break;
        case 'n': ok = parse_u64(optarg, &opt.requests) && opt.requests >= 1; break;
        case 'w': ok = parse_u64(optarg, &opt.warmup); break;
        case 'W': ok = parse_u64(optarg, &win) && win >= 1 && win <= 10000; break;
        case 'q': opt.quiet = true; break;
        case O_SEED: ok = parse_u64(optarg, &opt.seed); break;
        case O_PREFIX: opt.prefix = optarg; ok = strlen(optarg) <= 32 && !strpbrk(optarg, " \r\n"); break;
        case O_MAXS: opt.max_seconds = atof(optarg); ok = opt.max_seconds > 0; break;
        case O_IOT: opt.io_timeout = atof(optarg); ok = opt.io_timeout > 0; break;
        case O_DUMP: ok = parse_u64(optarg, &opt.dump) && opt.dump >= 1; break;
        case O_SELF: self = true; break;
        case O_PIPE: opt.pipeline = true; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
        if (!ok) {
            fprintf(stderr, "mctrace: bad value for -%c: %s\n", ch < 256 ? ch : '-', optarg);
            return 2;
        }
    }
    if (optind != argc) {
        usage(stderr);
        return 2;
    }
    opt.window = (unsigned)win;
    pattern_init();
    if (self)
        return selftest();
    if (!parse_sizes(opt.sizes)) {
        fprintf(stderr, "mctrace: bad --sizes %s\n", opt.sizes);
        return 2;
    }
    if (opt.warmup == UINT64_MAX)
        opt.warmup = opt.requests / 4;
    if (opt.warmup >= opt.requests) {
        fprintf(stderr, "mctrace: --warmup must be below --requests\n");
        return 2;
    }
    struct gen g;
    gen_init(&g);
    if (opt.dump) {
        struct treq q;
        for (uint64_t i = 0; i < opt.dump && i < opt.requests; i++) {
            gen_next(&g, &q);
            printf("%c %" PRIu64 " %u %s\n", q.kind == K_ZIPF ? 'z' : 'o', q.id, q.size, q.key);
        }
        return 0;
    }
    if (!connect_server())
        return 2;
    double secs = replay(&g);
    close(sock);

    uint64_t errors = st.err_value + st.err_protocol + st.err_conn + (st.time_limit ? 1 : 0);
    double mr = st.measured ? (double)st.misses / (double)st.measured : 0;
    double bmr = st.bytes_req ? (double)st.bytes_missed / (double)st.bytes_req : 0;
    double seg[4];
    for (int i = 0; i < 4; i++)
        seg[i] = st.seg_req[i] ? (double)st.seg_miss[i] / (double)st.seg_req[i] : 0;
    if (!opt.quiet) {
        printf("trace: zipf(%.3g) over %" PRIu64 " keys, %.3g one-hit, sizes %s, seed %" PRIu64
               ", %s of %u\n",
               opt.alpha, opt.keys, opt.ohw, opt.sizes, opt.seed,
               opt.pipeline ? "pipelined gets" : "multigets", opt.window);
        printf("requests %" PRIu64 " (warm-up %" PRIu64 ") in %.2f s (%.0f req/s)\n",
               st.requests, opt.warmup, secs, secs > 0 ? (double)st.requests / secs : 0);
        printf("measured %" PRIu64 ": misses %" PRIu64 " (cold %" PRIu64 "), miss ratio %.4f, "
               "byte miss ratio %.4f\n", st.measured, st.misses, st.cold_misses, mr, bmr);
        printf("miss ratio by quarter: %.4f %.4f %.4f %.4f\n", seg[0], seg[1], seg[2], seg[3]);
        printf("sets %" PRIu64 ": stored %" PRIu64 ", NOT_STORED %" PRIu64 ", SERVER_ERROR %" PRIu64
               "%s%s\n", st.sets, st.stored, st.set_refused, st.set_server_error,
               st.first_refusal[0] ? " -- first: " : "", st.first_refusal);
        printf("errors: value %" PRIu64 ", protocol %" PRIu64 ", connection %" PRIu64 "%s\n",
               st.err_value, st.err_protocol, st.err_conn,
               st.time_limit ? ", TIME LIMIT reached" : "");
    }
    printf("{\"requests\":%" PRIu64 ",\"requests_wanted\":%" PRIu64 ",\"warmup\":%" PRIu64
           ",\"measured\":%" PRIu64 ",\"misses\":%" PRIu64 ",\"hits\":%" PRIu64
           ",\"cold_misses\":%" PRIu64 ",\"ohw_measured\":%" PRIu64 ",\"miss_ratio\":%.6f"
           ",\"byte_miss_ratio\":%.6f,\"miss_ratio_quarters\":[%.6f,%.6f,%.6f,%.6f]"
           ",\"sets\":%" PRIu64 ",\"stored\":%" PRIu64 ",\"not_stored\":%" PRIu64
           ",\"set_server_error\":%" PRIu64 ",\"err_value\":%" PRIu64 ",\"err_protocol\":%" PRIu64
           ",\"err_conn\":%" PRIu64 ",\"time_limit\":%s,\"errors\":%" PRIu64
           ",\"seconds\":%.3f,\"trace_hash\":\"%016" PRIx64 "\",\"keys\":%" PRIu64
           ",\"alpha\":%g,\"ohw\":%g,\"sizes\":\"%s\",\"window\":%u,\"pipeline\":%s,\"seed\":%" PRIu64
           "}\n",
           st.requests, opt.requests, opt.warmup, st.measured, st.misses, st.hits,
           st.cold_misses, st.ohw_measured, mr, bmr, seg[0], seg[1], seg[2], seg[3], st.sets,
           st.stored, st.set_refused, st.set_server_error, st.err_value, st.err_protocol,
           st.err_conn, st.time_limit ? "true" : "false", errors, secs, g.hash, opt.keys,
           opt.alpha, opt.ohw, opt.sizes, opt.window, opt.pipeline ? "true" : "false", opt.seed);
    return errors ? 1 : 0;
}
