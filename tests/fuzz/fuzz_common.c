/*
 * fuzz_common.c -- the pieces every fuzz target shares (see fuzz_common.h).
 */
#include "fuzz_common.h"

#include <dirent.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "binary.h"
#include "clock.h"
#include "feed.h"
#include "item.h"
#include "log.h"
#include "obuf.h"
#include "proto.h"
#include "stats.h"

static struct thread_stats ts;

void
fuzz_fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("fuzz: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    abort();
}

void
fuzz_setup(void)
{
    static int done;
    if (done)
        return;
    done = 1;
    clock_setup();
    struct item_options o;
    item_options_default(&o);
    o.mem_limit = 8u << 20;
    o.item_size_max = 64 * 1024;
    o.slab_chunk_max = 16 * 1024;
    o.crawler = false;
    o.hash_expand = false;
    o.slab_automove = 0;
    char err[256];
    if (item_setup(&o, err, sizeof(err)) != 0)
        fuzz_fail("item_setup: %s", err);
    proto_env.item_size_max = 64 * 1024;
}

void
fuzz_buf_add(struct fuzz_buf *b, const void *p, size_t n)
{
    if (b->len + n > b->cap) {
        size_t cap = (b->len + n) * 2;
        char *q = realloc(b->p, cap);
        if (q == NULL)
            abort();
        b->p = q;
        b->cap = cap;
    }
    if (n > 0)
        memcpy(b->p + b->len, p, n);
    b->len += n;
}

void
fuzz_buf_str(struct fuzz_buf *b, const char *s)
{
    fuzz_buf_add(b, s, strlen(s));
}

void
fuzz_buf_free(struct fuzz_buf *b)
{
    free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
}

/* What a client would read: checked for framing as it arrives. */
struct reader {
    char         line[1024];        /* the reply line being read */
    size_t       nline;
    uint64_t     data;              /* VALUE: data bytes still to come */
    int          crlf;              /* then this many bytes of "\r\n" */
    bool         line_long;         /* the current line passed sizeof(line) */
    bool         binary;            /* a binary protocol connection: packets */
    fuzz_line_fn on_line;
    void        *arg;
};

bool fuzz_value_lines;

void
fuzz_run_stream(const struct fuzz_buf *stream, const uint8_t *data, bool print,
                fuzz_line_fn on_line, void *arg)
{
    if (print) {
        fprintf(stderr, "---- stream (%zu bytes):\n", stream->len);
        fwrite(stream->p, 1, stream->len, stderr);
        fputs("\n---- end\n", stderr);
    }
    fuzz_feed((const uint8_t *)stream->p, stream->len, 1 + data[0] % 16, data[1], on_line, arg);
}

static void
framing_error(const char *what, const struct reader *r)
{
    fuzz_fail("reply not framed: %s (line %.*s)", what,
              (int)(r->nline > 80 ? 80 : r->nline), r->line);
}

/* A complete reply line arrived. */
static void
reply_line(struct reader *r)
{
    /* metadump lines end in a bare "\n", as memcached's do */
    bool dump = r->nline >= 4 && memcmp(r->line, "key=", 4) == 0;
    /* (an ARCUS element line may pass the buffer: only its start is here) */
    bool whole = !(fuzz_value_lines && r->line_long);
    if (!dump && whole && (r->nline < 2 || r->line[r->nline - 2] != '\r'))
        framing_error("line without \\r\\n", r);
    if (!fuzz_value_lines && r->nline >= 6 && memcmp(r->line, "VALUE ", 6) == 0 &&
        !r->line_long) {
        /* VALUE <key> <flags> <bytes>[ <cas>] */
        char buf[sizeof(r->line)];
        memcpy(buf, r->line, r->nline - 2);
        buf[r->nline - 2] = '\0';
        char *tok[6];
        int n = 0;
        for (char *save = NULL, *t = strtok_r(buf, " ", &save); t && n < 6;
             t = strtok_r(NULL, " ", &save))
            tok[n++] = t;
        if (n != 4 && n != 5)
            framing_error("VALUE line with wrong field count", r);
        char *end;
        unsigned long long len = strtoull(tok[3], &end, 10);
        if (*end != '\0')
            framing_error("VALUE length not a number", r);
        r->data = len;
        r->crlf = 2;
    } else if (r->nline >= 4 && memcmp(r->line, "VA ", 3) == 0 && !r->line_long) {
        /* meta: VA <len> <flags>* */
        char *end;
        unsigned long long len = strtoull(r->line + 3, &end, 10);
        if (end == r->line + 3 || (*end != ' ' && *end != '\r'))
            framing_error("VA length not a number", r);
        r->data = len;
        r->crlf = 2;
    }
    if (r->on_line != NULL)
        r->on_line(r->line, r->nline, r->line_long, r->arg);
}

/* A binary connection's replies: packets of a 24-byte header (response
 * magic, body length at bytes 8..11) and the body. */
static size_t
read_packet_bytes(struct reader *r, const char *p, size_t n)
{
    size_t i = 0;
    while (i < n && r->data == 0) {
        r->line[r->nline++] = p[i++];
        if (r->nline < BIN_HDR_LEN)
            continue;
        const unsigned char *h = (const unsigned char *)r->line;
        if (h[0] != BIN_RES_MAGIC)
            framing_error("binary reply without the response magic", r);
        r->data = (uint64_t)h[8] << 24 | (uint64_t)h[9] << 16 | (uint64_t)h[10] << 8 | h[11];
        if (r->on_line != NULL)         /* a binary target sees each header */
            r->on_line(r->line, BIN_HDR_LEN, false, r->arg);
        r->nline = 0;
    }
    return i;
}

static void
read_reply(struct reader *r, const char *p, size_t n)
{
    size_t i = 0;
    while (i < n) {
        if (r->binary && r->data == 0) {
            i += read_packet_bytes(r, p + i, n - i);
            continue;
        }
        if (r->data > 0) {
            size_t k = n - i < r->data ? n - i : (size_t)r->data;
            r->data -= k;
            i += k;
            continue;
        }
        if (r->crlf > 0) {
            if (p[i++] != "\r\n"[2 - r->crlf])
                framing_error("value not followed by \\r\\n", r);
            r->crlf--;
            continue;
        }
        char c = p[i++];
        if (r->nline < sizeof(r->line))
            r->line[r->nline++] = c;
        else
            r->line_long = true;
        if (c == '\n') {
            reply_line(r);
            r->nline = 0;
            r->line_long = false;
        }
    }
}

/* The client reads everything pending. */
static void
drain(struct obuf *o, struct reader *r)
{
    for (int i = o->iov_done; i < o->niov; i++)
        read_reply(r, o->iov[i].iov_base, o->iov[i].iov_len);
    obuf_reset(o);
}

void
fuzz_feed(const uint8_t *data, size_t size, int max_reqs, uint32_t split,
          fuzz_line_fn on_line, void *arg)
{
    struct obuf out;
    struct proto_conn pc;
    struct feed f;
    struct reader rd;
    struct fuzz_buf in = { NULL, 0, 0 };
    memset(&rd, 0, sizeof(rd));
    rd.on_line = on_line;
    rd.arg = arg;
    obuf_init(&out);
    proto_conn_init(&pc, &out, &ts, 0);
    feed_init(&f);

    size_t pos = 0;
    bool closed = false;
    while (!closed) {
        /* deliver the next chunk */
        if (pos < size) {
            size_t k = size - pos;
            if (split != 0) {
                split = split * 1103515245u + 12345u;
                size_t c = 1 + (split >> 16) % 64;
                if (c < k)
                    k = c;
            }
            fuzz_buf_add(&in, data + pos, k);
            pos += k;
        }
        /* run until it needs input (as conn.c does, turn after turn) */
        for (int turn = 0; turn < 100000; turn++) {
            enum feed_status st;
            size_t used = feed_run(&f, &pc, in.p != NULL ? in.p : (char *)"", in.len,
                                   max_reqs, &st);
            if (used > 0) {
                memmove(in.p, in.p + used, in.len - used);
                in.len -= used;
            }
            rd.binary = f.proto == FEED_PROTO_BINARY;
            drain(&out, &rd);
            if (st == FEED_CLOSE || st == FEED_WATCH) {
                closed = true;
                break;
            }
            if (st == FEED_DEFER)
                feed_defer_done(&f, &pc, "no deferred requests here");
            else if (st == FEED_NEED_INPUT)
                break;
        }
        if (pos == size)
            break;                  /* EOF: what is left is incomplete */
    }
    /* at EOF a client has read whole replies only */
    if (rd.nline != 0 || rd.data != 0 || rd.crlf != 0)
        framing_error("reply cut short", &rd);
    proto_conn_deinit(&pc);
    obuf_deinit(&out);
    fuzz_buf_free(&in);
    log_set_level(0);               /* an input may have sent "verbosity 3" */
}

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static uint64_t
next(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static size_t
load(const char *path, uint8_t *buf, size_t cap)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return 0;
    size_t n = fread(buf, 1, cap, f);
    fclose(f);
    return n;
}

int
fuzz_replay_main(int argc, char **argv, const char *name, const char *corpus,
                 const char *alphabet, int runs)
{
    const char *dir = argc > 1 ? argv[1] : corpus;
    static uint8_t seeds[64][4096];
    static size_t seedlen[64];
    static uint8_t buf[1 << 20];
    static char every[256];         /* NULL alphabet: every byte but NUL */
    if (alphabet == NULL) {
        for (int i = 0; i < 255; i++)
            every[i] = (char)(i + 1);
        alphabet = every;
    }
    size_t nalpha = strlen(alphabet);
    int nseeds = 0, files = 0;
#ifdef __SANITIZE_THREAD__
    /* Under TSan: the replay drives one connection on one thread, so races
     * are the integration suite's to find; a tenth of the mutations keeps
     * the corpus and some mutations under TSan for a tenth of its time
     * (the binary replay alone was the longest part of `make test-tsan`). */
    runs /= 10;
#elif defined(__SANITIZE_ADDRESS__)
    /* Under gcc's ASan: `make test-fuzz` already fuzzes every target with
     * clang's ASan+UBSan; a quarter of the mutations keeps the corpus
     * and a share of mutations under gcc's instrumentation too. */
    runs /= 4;
#endif
    DIR *d = opendir(dir);
    if (d == NULL) {
        fprintf(stderr, "%s: cannot open corpus %s\n", name, dir);
        return 1;
    }
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        char path[4096];
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        size_t n = load(path, buf, sizeof(buf));
        LLVMFuzzerTestOneInput(buf, n);
        files++;
        if (nseeds < 64 && n <= sizeof(seeds[0])) {
            memcpy(seeds[nseeds], buf, n);
            seedlen[nseeds++] = n;
        }
    }
    closedir(d);
    for (int r = 0; r < runs && nseeds > 0; r++) {
        int s = (int)(next() % (uint64_t)nseeds);
        size_t n = seedlen[s];
        memcpy(buf, seeds[s], n);
        int muts = 1 + (int)(next() % 8);
        for (int m = 0; m < muts; m++) {
            switch (next() % 4) {
            case 0: if (n) buf[next() % n] = (uint8_t)next(); break;
            case 1: if (n < sizeof(seeds[0])) buf[n++] = (uint8_t)alphabet[next() % nalpha]; break;
            case 2: if (n) n = next() % n; break;
            case 3: {   /* splice in part of another seed */
                int o = (int)(next() % (uint64_t)nseeds);
                size_t k = seedlen[o] / 2;
                if (n + k <= sizeof(seeds[0])) { memcpy(buf + n, seeds[o], k); n += k; }
                break;
            }
            }
        }
        LLVMFuzzerTestOneInput(buf, n);
    }
    item_teardown();
    printf("%s: %d corpus files and %d mutations replayed\n", name, files, runs);
    return 0;
}
