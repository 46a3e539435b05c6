/*
 * snapshot.c -- write the cache to a file and load it back (snapshot.h;
 * the format and its guarantees are in doc/snapshot.md).
 *
 * File layout (all integers little-endian):
 *
 *   +-------------------+  64 bytes: magic "MCSNAP\r\n", version, creation
 *   | file header       |  time, -m -I -n -f use_cas, XXH3 of bytes 0..55
 *   +-------------------+
 *   | block header  32  |  "SBLK", kind (1 items, 2 end), slot, payload
 *   | payload           |  length, record count, XXH3(payload), XXH3(hdr)
 *   +-------------------+
 *   | ... more blocks   |  each payload <= SLOT_CAP unless one record is
 *   +-------------------+  larger (then it is alone in its block)
 *   | end block         |  items, blocks, chained hash of every payload
 *   +-------------------+  hash, offset of the end block; then EOF
 *
 *   record: nkey u8 | rflags u8 (ITEM_MARK_*: 1 hot, 2 fetched, 4 stale,
 *           8 won, 16 binary key, 32 probation, 64 collection: the value
 *           is its image, written under its lock; storage/coll.c) |
 *           0 u16 | flags u32 |
 *           nbytes u32 | 0 u32 | exptime i64 (unix, 0 never) |
 *           atime i64 (unix) | cas u64 | key | value          (40 + n bytes)
 *
 * Recency: the writer keeps one buffer per "slot" = (age bucket of the
 * item's atime, hot bit).  Age buckets are [0,1) [1,2) [2,4) [4,8) ...
 * minutes.  Every block holds records of one slot.  The loader inserts
 * the oldest slot first and the hottest last; since the CLOCK hand sweeps
 * chunks in allocation order and spares items with the reference bit, a
 * cache smaller than the file evicts the least recently used items.
 *
 * Loading: pass 1 checks every checksum and every field of every record
 * (check_records(): a checksum proves the file intact, not honest), pass 2
 * inserts, fixing up clock-dependent values (past expiries skipped, later
 * than a client could set clamped; CAS 0 replaced by a fresh CAS).
 *
 * Threads: snapshot_write() runs in the periodic thread, in a worker (the
 * "snapshot" command) or in the main thread (shutdown); `mu` makes sure
 * only one runs at a time.
 */
#include "snapshot.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include <xxhash.h>

#include "clock.h"
#include "item.h"
#include "log.h"
#include "obuf.h"
#include "platform.h"

#define FILE_MAGIC    "MCSNAP\r\n"
#define FILE_VERSION  1
#define FILE_HDR      64
#define BLK_MAGIC     0x4b4c4253u       /* "SBLK" */
#define BLK_HDR       32
#define BLK_ITEMS     1
#define BLK_END       2
#define END_PAYLOAD   32
#define REC_HDR       40
#define NAGE          16                 /* age buckets */
#define NSLOTS        (NAGE * 2)         /* x hot bit */
#define SLOT_CAP      (128u * 1024)      /* usual block payload, bytes */
#define BLK_MAX       ((uint64_t)REC_HDR + 255 + (1u << 30))  /* sanity */
#define HDR_USE_CAS   0x01u              /* file header flags */
/* Largest CAS a file may carry.  The server hands out CAS values from a
 * 64-bit counter that a load raises to the largest loaded CAS: anything
 * near 2^64 would make it wrap (new items with CAS 0, flush_all missing
 * same-second items).  A real counter advancing a billion times a second
 * needs 292 years to reach 2^63, so larger values can only be forged. */
#define CAS_LIMIT     ((uint64_t)1 << 63)
/* No record is shorter than its header and a 1-byte key. */
#define REC_MIN       (REC_HDR + 1)
/* No item takes less memory than this (header, 1-byte key, 8-byte
 * alignment): at most mem_limit / ITEM_MIN_MEM items fit in the cache. */
#define ITEM_MIN_MEM  32

/* ---------- little-endian encoding ---------- */

static void
put16(unsigned char *p, uint16_t v)
{
    p[0] = (unsigned char)v;
    p[1] = (unsigned char)(v >> 8);
}

static void
put32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static void
put64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static uint16_t
get16(const unsigned char *p)
{
    return (uint16_t)(p[0] | (p[1] << 8));
}

static uint32_t
get32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t
get64(const unsigned char *p)
{
    return (uint64_t)get32(p) | (uint64_t)get32(p + 4) << 32;
}

static double
mono_secs(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Age bucket for an item last used `age` seconds ago. */
static unsigned
age_bucket(int64_t age)
{
    if (age < 60)
        return 0;
    unsigned b = 1;
    for (int64_t m = age / 60; m > 1 && b < NAGE - 1; m >>= 1)
        b++;
    return b;
}

/* ---------- writing ---------- */

struct slotbuf {
    unsigned char *buf;
    size_t len, cap;
    uint32_t count;
};

struct writer {
    int fd;
    const char *tmp;
    uint64_t off;                   /* bytes written so far */
    uint64_t chain;                 /* hash chain over payload hashes */
    uint64_t blocks, items;
    time_t now_unix;
    struct slotbuf slot[NSLOTS];
    unsigned char *scratch;         /* key+value copy of one item */
    size_t scratch_cap;
    int failed;                     /* errno-ish; 0 = fine */
    char err[256];
};

static int
write_all(struct writer *w, const void *p, size_t n)
{
    const char *c = p;
    while (n > 0) {
        ssize_t k = platform_file_write(w->fd, c, n);
        if (k < 0) {
            if (errno == EINTR)
                continue;
            w->failed = errno;
            snprintf(w->err, sizeof(w->err), "write %s: %s", w->tmp, strerror(errno));
            return -1;
        }
        c += k;
        n -= (size_t)k;
        w->off += (uint64_t)k;
    }
    return 0;
}

static int
write_block(struct writer *w, uint16_t kind, uint16_t slot, const unsigned char *payload,
            uint32_t len, uint32_t count)
{
    unsigned char h[BLK_HDR];
    uint64_t ph = XXH3_64bits(payload, len);
    put32(h, BLK_MAGIC);
    put16(h + 4, kind);
    put16(h + 6, slot);
    put32(h + 8, len);
    put32(h + 12, count);
    put64(h + 16, ph);
    put64(h + 24, XXH3_64bits(h, 24));
    w->chain = XXH3_64bits_withSeed(&ph, sizeof(ph), w->chain);
    w->blocks++;
    if (write_all(w, h, sizeof(h)) < 0 || write_all(w, payload, len) < 0)
        return -1;
    return 0;
}

static int
flush_slot(struct writer *w, unsigned s)
{
    struct slotbuf *b = &w->slot[s];
    if (b->count == 0)
        return 0;
    int rc = write_block(w, BLK_ITEMS, (uint16_t)s, b->buf, (uint32_t)b->len, b->count);
    b->len = 0;
    b->count = 0;
    if (b->cap > SLOT_CAP) {
        /* a huge record grew this buffer: give the memory back */
        unsigned char *nb = realloc(b->buf, SLOT_CAP);
        if (nb != NULL) {
            b->buf = nb;
            b->cap = SLOT_CAP;
        }
    }
    return rc;
}

static int
grow(unsigned char **buf, size_t *cap, size_t need)
{
    if (*cap >= need)
        return 0;
    unsigned char *nb = realloc(*buf, need);
    if (nb == NULL)
        return -1;
    *buf = nb;
    *cap = need;
    return 0;
}

/* item_walk callback: append one item to its slot's buffer. */
static int
walk_one(struct item *it, void *arg)
{
    struct writer *w = arg;
    struct item_image img;
    size_t n = (size_t)item_nkey(it) + item_nbytes(it);
    for (int tries = 0;; tries++) {
        if (grow(&w->scratch, &w->scratch_cap, n) < 0) {
            w->failed = ENOMEM;
            snprintf(w->err, sizeof(w->err), "out of memory copying a %zu-byte item", n);
            return 1;
        }
        int rc = item_copy_image(it, &img, w->scratch, w->scratch_cap, &n);
        if (rc == 0 || (rc < 0 && tries >= 8))
            return 0;               /* gone (or resized under us forever) */
        if (rc > 0)
            break;
    }
    time_t atime = clock_to_unix(img.atime);
    if (atime > w->now_unix)
        atime = w->now_unix;
    unsigned s = age_bucket((int64_t)(w->now_unix - atime)) * 2 + ((img.marks & ITEM_MARK_HOT) ? 1 : 0);
    struct slotbuf *b = &w->slot[s];
    size_t rec = REC_HDR + n;
    if (b->len + rec > b->cap && flush_slot(w, s) < 0)
        return 1;
    if (grow(&b->buf, &b->cap, rec) < 0) {
        w->failed = ENOMEM;
        snprintf(w->err, sizeof(w->err), "out of memory buffering a %zu-byte item", rec);
        return 1;
    }
    unsigned char *p = b->buf + b->len;
    p[0] = img.nkey;
    p[1] = img.marks;
    put16(p + 2, 0);
    put32(p + 4, img.flags);
    put32(p + 8, img.nbytes);
    put32(p + 12, 0);
    put64(p + 16, img.exptime ? (uint64_t)clock_to_unix(img.exptime) : 0);
    put64(p + 24, (uint64_t)atime);
    put64(p + 32, img.cas);
    memcpy(p + REC_HDR, w->scratch, n);
    b->len += rec;
    b->count++;
    w->items++;
    return 0;
}

static void
writer_free(struct writer *w)
{
    for (unsigned s = 0; s < NSLOTS; s++)
        free(w->slot[s].buf);
    free(w->scratch);
}

enum snapshot_status
snapshot_write(const char *path, const struct snapshot_options *o, struct snapshot_result *r)
{
    memset(r, 0, sizeof(*r));
    size_t tl = strlen(path) + 32;
    char *tmp = malloc(tl);
    if (tmp == NULL) {
        snprintf(r->err, sizeof(r->err), "out of memory");
        return SNAP_ENOMEM;
    }
    snprintf(tmp, tl, "%s.tmp.%ld", path, platform_getpid());
    struct writer w;
    memset(&w, 0, sizeof(w));
    w.tmp = tmp;
    w.now_unix = clock_to_unix(clock_now());
    for (unsigned s = 0; s < NSLOTS; s++) {
        w.slot[s].buf = malloc(SLOT_CAP);
        w.slot[s].cap = SLOT_CAP;
        if (w.slot[s].buf == NULL) {
            writer_free(&w);
            free(tmp);
            snprintf(r->err, sizeof(r->err), "out of memory for write buffers");
            return SNAP_ENOMEM;
        }
    }
    enum snapshot_status st = SNAP_EIO;
    w.fd = platform_file_open(tmp, PLATFORM_CREATE);
    if (w.fd < 0) {
        snprintf(r->err, sizeof(r->err), "open %s: %s", tmp, strerror(errno));
        writer_free(&w);
        free(tmp);
        return SNAP_EIO;
    }
    unsigned char h[FILE_HDR];
    memset(h, 0, sizeof(h));
    memcpy(h, FILE_MAGIC, 8);
    put32(h + 8, FILE_VERSION);
    put32(h + 12, FILE_HDR);
    put64(h + 16, (uint64_t)time(NULL));
    put64(h + 24, o->mem_limit);
    put32(h + 32, o->item_size_max);
    put32(h + 36, o->chunk_min);
    double f1000 = o->factor * 1000 + 0.5;   /* informational; -f may be huge */
    put32(h + 40, f1000 >= 4294967295.0 ? UINT32_MAX : f1000 > 0 ? (uint32_t)f1000 : 0);
    put32(h + 44, o->use_cas ? HDR_USE_CAS : 0);
    put64(h + 56, XXH3_64bits(h, 56));
    double t0 = mono_secs();
    if (write_all(&w, h, sizeof(h)) < 0)
        goto fail;
    item_walk(walk_one, &w);
    if (w.failed)
        goto fail;
    for (unsigned s = 0; s < NSLOTS; s++)
        if (flush_slot(&w, s) < 0)
            goto fail;
    unsigned char end[END_PAYLOAD];
    uint64_t end_off = w.off;
    put64(end, w.items);
    put64(end + 8, w.blocks);
    put64(end + 16, w.chain);
    put64(end + 24, end_off);
    if (write_block(&w, BLK_END, 0, end, sizeof(end), 0) < 0)
        goto fail;
    double t1 = mono_secs();
    r->write_secs = t1 - t0;
    if (platform_file_sync(w.fd) != 0) {
        snprintf(w.err, sizeof(w.err), "fsync %s: %s", tmp, strerror(errno));
        goto fail;
    }
    if (platform_file_close(w.fd) != 0) {
        w.fd = -1;
        snprintf(w.err, sizeof(w.err), "close %s: %s", tmp, strerror(errno));
        goto fail;
    }
    w.fd = -1;
    if (platform_rename_durable(tmp, path, w.err, sizeof(w.err)) != 0)
        goto fail;
    r->sync_secs = mono_secs() - t1;
    r->items = w.items;
    r->bytes = w.off;
    st = SNAP_OK;
    goto out;
fail:
    if (w.failed == ENOMEM)
        st = SNAP_ENOMEM;
    snprintf(r->err, sizeof(r->err), "%s", w.err[0] ? w.err : "unknown error");
    r->items = w.items;
    r->bytes = w.off;
    if (w.fd >= 0)
        platform_file_close(w.fd);
    platform_unlink(tmp);                   /* the previous snapshot stays */
out:
    writer_free(&w);
    free(tmp);
    return st;
}

/* ---------- reading ---------- */

struct blk {
    uint64_t off;                   /* payload offset */
    uint32_t len, count;
    uint64_t hash;
    uint16_t slot;
};

static int
read_at(int fd, void *buf, size_t n, uint64_t off)
{
    char *c = buf;
    while (n > 0) {
        ssize_t k = platform_file_pread(fd, c, n, off);
        if (k < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        if (k == 0) {
            errno = 0;              /* short file */
            return -1;
        }
        c += k;
        n -= (size_t)k;
        off += (uint64_t)k;
    }
    return 0;
}

static enum snapshot_status
corrupt(struct snapshot_result *r, uint64_t off, const char *why)
{
    r->bad_offset = off;
    snprintf(r->err, sizeof(r->err), "%s at byte %" PRIu64, why, off);
    return SNAP_ECORRUPT;
}

/* A key the text protocol could have stored: 1..250 bytes, no space, no
 * control character, no DEL. */
static bool
key_ok(const unsigned char *k, unsigned n)
{
    if (n == 0 || n > ITEM_KEY_MAX)
        return false;
    for (unsigned i = 0; i < n; i++)
        if (k[i] <= 0x20 || k[i] == 0x7f)
            return false;
    return true;
}

/* Check that a checksum-verified payload parses into exactly count
 * records, each of which this server could have written: every field is
 * validated here, before anything is inserted (doc/snapshot.md, "What a
 * load validates").  Returns NULL, or why not with *bad = the offset of
 * the offending record in the payload.  *max_cas gets the largest CAS. */
static const char *
check_records(const unsigned char *p, uint32_t len, uint32_t count, bool file_cas,
              uint64_t *bad, uint64_t *max_cas)
{
    uint32_t pos = 0, n = 0;
    while (pos < len) {
        const unsigned char *q = p + pos;
        *bad = pos;
        if (len - pos < REC_HDR)
            return "malformed record";
        uint8_t nkey = q[0];
        uint64_t rec = (uint64_t)REC_HDR + nkey + get32(q + 8);
        if (nkey == 0 || nkey > ITEM_KEY_MAX || rec > len - pos)
            return "malformed record";
        /* a binary key (meta b) may hold any byte */
        if (!(q[1] & ITEM_MARK_BINKEY) && !key_ok(q + REC_HDR, nkey))
            return "record key has a space or control character";
        if ((q[1] & ~ITEM_MARKS_ALL) != 0 || get16(q + 2) != 0 || get32(q + 12) != 0)
            return "record has unknown flags or non-zero reserved fields";
        if ((q[1] & ITEM_MARK_COLL) &&
            !item_coll_image_valid(q + REC_HDR + nkey, get32(q + 8)))
            return "record holds a malformed collection image";
        if ((int64_t)get64(q + 16) < 0)
            return "record expiry is negative";
        if ((int64_t)get64(q + 24) < 0)
            return "record access time is negative";
        uint64_t cas = get64(q + 32);
        if (cas >= CAS_LIMIT)
            return "record CAS out of range (2^63 or more)";
        if (cas != 0 && !file_cas)
            return "record CAS in a file written without CAS";
        if (cas > *max_cas)
            *max_cas = cas;
        pos += (uint32_t)rec;
        n++;
    }
    *bad = pos;
    return n == count ? NULL : "malformed record";
}

/* Pass 1: verify everything; fill the block index and the largest CAS.
 * Nothing is stored. */
static enum snapshot_status
verify(int fd, uint64_t size, struct blk **idx, size_t *nidx, uint64_t *maxlen,
       uint64_t *max_cas, struct snapshot_result *r)
{
    unsigned char h[FILE_HDR];
    if (size < FILE_HDR || read_at(fd, h, FILE_HDR, 0) < 0)
        return corrupt(r, size < FILE_HDR ? size : 0, "file shorter than its header");
    if (memcmp(h, FILE_MAGIC, 8) != 0)
        return corrupt(r, 0, "not a snapshot (bad magic)");
    if (XXH3_64bits(h, 56) != get64(h + 56))
        return corrupt(r, 0, "header checksum mismatch");
    if (get32(h + 8) != FILE_VERSION || get32(h + 12) != FILE_HDR)
        return corrupt(r, 8, "unsupported format version");
    if ((get32(h + 44) & ~HDR_USE_CAS) != 0 || get64(h + 48) != 0)
        return corrupt(r, 44, "unknown header flags or non-zero reserved field");
    bool file_cas = (get32(h + 44) & HDR_USE_CAS) != 0;
    *max_cas = 0;
    size_t cap = 0;
    struct blk *b = NULL;
    size_t n = 0;
    unsigned char *buf = NULL;
    size_t bufcap = 0;
    uint64_t off = FILE_HDR, chain = 0, items = 0;
    enum snapshot_status st = SNAP_OK;
    *maxlen = 0;
    for (;;) {
        unsigned char bh[BLK_HDR];
        if (off == size) {
            st = corrupt(r, off, "truncated: no end record");
            break;
        }
        if (size - off < BLK_HDR || read_at(fd, bh, BLK_HDR, off) < 0) {
            st = corrupt(r, off, "truncated block header");
            break;
        }
        if (get32(bh) != BLK_MAGIC || XXH3_64bits(bh, 24) != get64(bh + 24)) {
            st = corrupt(r, off, "block header checksum mismatch");
            break;
        }
        uint16_t kind = get16(bh + 4), slot = get16(bh + 6);
        uint32_t len = get32(bh + 8), count = get32(bh + 12);
        uint64_t ph = get64(bh + 16);
        if ((kind != BLK_ITEMS && kind != BLK_END) || slot >= NSLOTS || len > BLK_MAX) {
            st = corrupt(r, off, "bad block header");
            break;
        }
        if (size - off - BLK_HDR < len) {
            st = corrupt(r, off, "truncated block");
            break;
        }
        if (grow(&buf, &bufcap, len ? len : 1) < 0) {
            snprintf(r->err, sizeof(r->err), "out of memory for a %u-byte block", len);
            st = SNAP_ENOMEM;
            break;
        }
        if (read_at(fd, buf, len, off + BLK_HDR) < 0) {
            snprintf(r->err, sizeof(r->err), "read at byte %" PRIu64 ": %s", off,
                     errno ? strerror(errno) : "short read");
            st = SNAP_EIO;
            break;
        }
        if (XXH3_64bits(buf, len) != ph) {
            st = corrupt(r, off, "block checksum mismatch");
            break;
        }
        if (kind == BLK_END) {
            if (len != END_PAYLOAD || get64(buf) != items || get64(buf + 8) != n ||
                get64(buf + 16) != chain || get64(buf + 24) != off) {
                st = corrupt(r, off, "end record does not match the blocks");
                break;
            }
            if (off + BLK_HDR + len != size) {
                st = corrupt(r, off + BLK_HDR + len, "data after the end record");
                break;
            }
            break;
        }
        uint64_t bad = 0;
        const char *why = check_records(buf, len, count, file_cas, &bad, max_cas);
        if (why != NULL) {
            st = corrupt(r, off + BLK_HDR + bad, why);
            break;
        }
        if (n == cap) {
            size_t nc = cap ? cap * 2 : 256;
            struct blk *nb = realloc(b, nc * sizeof(*b));
            if (nb == NULL) {
                snprintf(r->err, sizeof(r->err), "out of memory for the block index");
                st = SNAP_ENOMEM;
                break;
            }
            b = nb;
            cap = nc;
        }
        b[n++] = (struct blk){ off + BLK_HDR, len, count, ph, slot };
        if (len > *maxlen)
            *maxlen = len;
        chain = XXH3_64bits_withSeed(&ph, sizeof(ph), chain);
        items += count;
        off += BLK_HDR + (uint64_t)len;
    }
    free(buf);
    if (st != SNAP_OK) {
        free(b);
        return st;
    }
    *idx = b;
    *nidx = n;
    return SNAP_OK;
}

/* Time-dependent limits of one load (pass 2). */
struct load_ctx {
    time_t   now_unix;
    int64_t  exp_max;               /* latest expiry a client could have set */
    uint64_t next_cas;              /* last CAS given to a record without one */
};

/* The latest absolute expiry a client can set at `now`: the protocol's
 * exptime is a signed 32-bit number, either seconds from now (at most 30
 * days) or a unix time (at most 2^31-1, January 2038).  Later expiries in
 * a file are clamped to it: the server keeps expiries as 32-bit seconds
 * since its start, and a larger value would wrap (even to 0, "never"). */
static int64_t
exptime_max(time_t now)
{
    int64_t rel = (int64_t)now + CLOCK_MAX_DELTA;
    return rel > INT32_MAX ? rel : INT32_MAX;
}

/* Insert a verified block's records (check_records() accepted them). */
static void
load_block(const unsigned char *p, uint32_t len, struct load_ctx *ctx,
           struct snapshot_result *r)
{
    uint32_t pos = 0;
    int64_t now = (int64_t)ctx->now_unix;
    while (pos < len) {
        const unsigned char *q = p + pos;
        uint8_t nkey = q[0], rfl = q[1];
        uint32_t flags = get32(q + 4), nbytes = get32(q + 8);
        int64_t exp = (int64_t)get64(q + 16), at = (int64_t)get64(q + 24);
        uint64_t cas = get64(q + 32);
        pos += REC_HDR + nkey + nbytes;
        if (exp != 0 && exp <= now) {
            r->skipped_expired++;
            continue;
        }
        if (exp > ctx->exp_max) {
            exp = ctx->exp_max;
            r->clamped_exptime++;
        }
        if (at > now)
            at = now;
        if (at < 1)
            at = 1;                 /* 0 is no time at all: oldest possible */
        if (cas == 0) {
            /* written without CAS (-C, or by a server that loaded such a
             * file): a fresh CAS above every one in the file, never 0,
             * which flush_all could not tell from a newer item */
            cas = ++ctx->next_cas;
            r->fresh_cas++;
        }
        rel_time_t rexp = exp ? clock_from_unix((time_t)exp) : 0;
        enum item_status st = item_restore((const char *)q + REC_HDR, nkey, flags, rexp, cas,
                                           clock_from_unix((time_t)at), rfl,
                                           q + REC_HDR + nkey, nbytes);
        if (st == ITEM_EXISTS)      /* a newer copy of the key was loaded */
            continue;
        if (st != ITEM_OK) {
            r->skipped_nomem++;
            continue;
        }
        if (cas > r->max_cas)
            r->max_cas = cas;
        r->items++;
    }
}

enum snapshot_status
snapshot_read(const char *path, struct snapshot_result *r)
{
    memset(r, 0, sizeof(*r));
    int fd = platform_file_open(path, PLATFORM_READ);
    if (fd < 0) {
        snprintf(r->err, sizeof(r->err), "open %s: %s", path, strerror(errno));
        return errno == ENOENT ? SNAP_ENOENT : SNAP_EIO;
    }
    uint64_t fsize;
    if (platform_file_fsize(fd, &fsize) != 0) {
        snprintf(r->err, sizeof(r->err), "stat %s: %s", path, strerror(errno));
        platform_file_close(fd);
        return SNAP_EIO;
    }
    struct blk *idx = NULL;
    size_t nidx = 0;
    uint64_t maxlen = 0, file_max_cas = 0;
    enum snapshot_status st = verify(fd, fsize, &idx, &nidx, &maxlen,
                                     &file_max_cas, r);
    if (st != SNAP_OK) {
        platform_file_close(fd);
        return st;
    }
    unsigned char *buf = malloc(maxlen ? maxlen : 1);
    if (buf == NULL) {
        snprintf(r->err, sizeof(r->err), "out of memory for a %" PRIu64 "-byte block", maxlen);
        free(idx);
        platform_file_close(fd);
        return SNAP_ENOMEM;
    }
    /* Pass 2: oldest age bucket first, cold before hot within a bucket,
     * so the most recently used items are inserted last. */
    struct load_ctx ctx;
    ctx.now_unix = clock_to_unix(clock_now());
    ctx.exp_max = exptime_max(ctx.now_unix);
    ctx.next_cas = file_max_cas;
    for (int a = NAGE - 1; a >= 0 && st == SNAP_OK; a--)
        for (unsigned hot = 0; hot < 2 && st == SNAP_OK; hot++)
            for (size_t i = 0; i < nidx; i++) {
                if (idx[i].slot != (unsigned)a * 2 + hot)
                    continue;
                /* re-check: the file must not have changed since pass 1 */
                if (read_at(fd, buf, idx[i].len, idx[i].off) < 0 ||
                    XXH3_64bits(buf, idx[i].len) != idx[i].hash) {
                    st = corrupt(r, idx[i].off - BLK_HDR, "block changed while loading");
                    break;
                }
                load_block(buf, idx[i].len, &ctx, r);
            }
    if (st != SNAP_OK) {
        item_flush(0);              /* serve nothing from this file */
        r->items = 0;
    } else {
        item_cas_floor(r->max_cas);
        r->bytes = fsize;
    }
    free(buf);
    free(idx);
    platform_file_close(fd);
    return st;
}

uint64_t
snapshot_peek_items(const char *path)
{
    int fd = platform_file_open(path, PLATFORM_READ);
    if (fd < 0)
        return 0;
    uint64_t fsize;
    unsigned char t[BLK_HDR + END_PAYLOAD];
    uint64_t n = 0;
    if (platform_file_fsize(fd, &fsize) == 0 && fsize >= FILE_HDR + sizeof(t) &&
        read_at(fd, t, sizeof(t), fsize - sizeof(t)) == 0 &&
        get32(t) == BLK_MAGIC && get16(t + 4) == BLK_END &&
        get32(t + 8) == END_PAYLOAD &&
        XXH3_64bits(t, 24) == get64(t + 24) &&
        XXH3_64bits(t + BLK_HDR, END_PAYLOAD) == get64(t + 16) &&
        get64(t + BLK_HDR + 24) == fsize - sizeof(t)) {
        /* Nothing else is verified yet: never claim more records than
         * the file has room for. */
        uint64_t room = (fsize - FILE_HDR - sizeof(t)) / REC_MIN;
        n = get64(t + BLK_HDR);
        if (n > room)
            n = room;
    }
    platform_file_close(fd);
    return n;
}

uint64_t
snapshot_peek_items_max(const char *path, uint64_t mem_limit)
{
    uint64_t n = snapshot_peek_items(path);
    uint64_t fit = mem_limit / ITEM_MIN_MEM;
    return n < fit ? n : fit;
}

enum snapshot_status
snapshot_reseal(const char *path, struct snapshot_result *r)
{
    memset(r, 0, sizeof(*r));
    int fd = platform_file_open(path, PLATFORM_RDWR);
    if (fd < 0) {
        snprintf(r->err, sizeof(r->err), "open %s: %s", path, strerror(errno));
        return errno == ENOENT ? SNAP_ENOENT : SNAP_EIO;
    }
    uint64_t size = 0;
    unsigned char *f = NULL;
    enum snapshot_status st = SNAP_EIO;
    if (platform_file_fsize(fd, &size) != 0 || size < FILE_HDR) {
        snprintf(r->err, sizeof(r->err), "stat %s: too short or unreadable", path);
        goto out;
    }
    f = malloc(size);
    if (f == NULL) {
        st = SNAP_ENOMEM;
        snprintf(r->err, sizeof(r->err), "out of memory");
        goto out;
    }
    if (read_at(fd, f, size, 0) < 0) {
        snprintf(r->err, sizeof(r->err), "read %s failed", path);
        goto out;
    }
    /* Same sums as snapshot_write(): block by block, trusting lengths. */
    uint64_t off = FILE_HDR, chain = 0, items = 0, blocks = 0;
    st = SNAP_ECORRUPT;
    for (;;) {
        if (size - off < BLK_HDR) {
            corrupt(r, off, "no room for a block header");
            goto out;
        }
        unsigned char *bh = f + off;
        uint32_t len = get32(bh + 8);
        if (size - off - BLK_HDR < len) {
            corrupt(r, off, "block longer than the file");
            goto out;
        }
        if (get16(bh + 4) == BLK_END && len == END_PAYLOAD) {
            unsigned char *e = bh + BLK_HDR;
            put64(e, items);
            put64(e + 8, blocks);
            put64(e + 16, chain);
            put64(e + 24, off);
            put64(bh + 16, XXH3_64bits(e, END_PAYLOAD));
            put64(bh + 24, XXH3_64bits(bh, 24));
            break;
        }
        uint64_t ph = XXH3_64bits(bh + BLK_HDR, len);
        put64(bh + 16, ph);
        put64(bh + 24, XXH3_64bits(bh, 24));
        chain = XXH3_64bits_withSeed(&ph, sizeof(ph), chain);
        items += get32(bh + 12);
        blocks++;
        off += BLK_HDR + (uint64_t)len;
    }
    put64(f + 56, XXH3_64bits(f, 56));
    st = SNAP_EIO;
    if (platform_file_pwrite(fd, f, size, 0) != (ssize_t)size || platform_file_sync(fd) != 0) {
        snprintf(r->err, sizeof(r->err), "write %s: %s", path, strerror(errno));
        goto out;
    }
    r->items = items;
    r->bytes = size;
    st = SNAP_OK;
out:
    free(f);
    platform_file_close(fd);
    return st;
}

/* ---------- the daemon side ---------- */

static struct snapshot_options opts;    /* path points to opt_path */
static char *opt_path;

/* mu protects everything below, and `running` makes snapshots exclusive. */
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static bool running;                    /* a snapshot is being written */
static bool thr_started, thr_stop;
static pthread_t thr;
static time_t last_start;               /* unix */
static time_t last_success;             /* unix, end of the last good one; 0 = none */
static double last_duration;            /* secs */
static double last_write_secs, last_sync_secs; /* split of the last one */
static uint64_t last_items, last_bytes, successes, failures;
static char last_error[256];
static struct snapshot_result load_res;
static double load_duration;
static const char *load_state = "none"; /* none, ok, missing, corrupt, error */

int
snapshot_setup(const struct snapshot_options *o, char *err, size_t errlen)
{
    opts = *o;
    opt_path = NULL;
    if (o->path != NULL) {
        opt_path = strdup(o->path);
        if (opt_path == NULL) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
    }
    opts.path = opt_path;
    running = false;
    thr_started = thr_stop = false;
    last_start = 0;
    last_success = 0;
    last_duration = 0;
    last_items = last_bytes = successes = failures = 0;
    snprintf(last_error, sizeof(last_error), "none");
    load_state = "none";
    return 0;
}

/* Remove <path>.tmp.<pid> files left by a writer that was killed (their
 * process is gone): each may be as large as the cache. */
static void
remove_stale_temps(const char *path)
{
    char *copy = strdup(path);
    if (copy == NULL)
        return;
    char *slash = platform_last_separator(copy);
    const char *dir = ".", *base = copy;
    if (slash != NULL) {
        *slash = '\0';
        dir = slash == copy ? "/" : copy;
        base = slash + 1;
    }
    size_t bl = strlen(base);
    DIR *d = opendir(dir);
    if (d == NULL) {
        free(copy);
        return;
    }
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strncmp(e->d_name, base, bl) != 0 || strncmp(e->d_name + bl, ".tmp.", 5) != 0)
            continue;
        char *end;
        long pid = strtol(e->d_name + bl + 5, &end, 10);
        if (*end != '\0' || pid <= 0)
            continue;
        if (pid != platform_getpid() && platform_process_alive(pid))
            continue;               /* another live process is writing it */
        char full[4096];
        snprintf(full, sizeof(full), "%s/%s", dir, e->d_name);
        if (platform_unlink(full) == 0)
            log_notice("snapshot: removed %s, left by an interrupted snapshot", full);
    }
    closedir(d);
    free(copy);
}

int
snapshot_load_at_start(char *err, size_t errlen)
{
    if (opts.path == NULL)
        return 0;
    remove_stale_temps(opts.path);
    if (!opts.load)
        return 0;
    double t0 = mono_secs();
    struct snapshot_result r;
    enum snapshot_status st = snapshot_read(opts.path, &r);
    load_duration = mono_secs() - t0;
    load_res = r;
    switch (st) {
    case SNAP_OK:
        load_state = "ok";
        log_notice("snapshot %s: loaded %" PRIu64 " items in %.3f s (%" PRIu64
                   " expired while down, %" PRIu64 " did not fit)", opts.path, r.items,
                   load_duration, r.skipped_expired, r.skipped_nomem);
        if (r.clamped_exptime > 0)
            log_warn("snapshot %s: %" PRIu64 " expiry times later than a client can "
                     "set were clamped", opts.path, r.clamped_exptime);
        if (r.fresh_cas > 0)
            log_notice("snapshot %s: %" PRIu64 " items without a CAS got a new one",
                       opts.path, r.fresh_cas);
        return 0;
    case SNAP_ENOENT:
        load_state = "missing";
        log_notice("snapshot %s: no file yet, starting empty", opts.path);
        return 0;
    case SNAP_ECORRUPT:
        load_state = "corrupt";
        log_error("snapshot %s is damaged: %s", opts.path, r.err);
        if (opts.refuse_corrupt) {
            snprintf(err, errlen, "snapshot %s is damaged: %s (snapshot_refuse_corrupt is set)",
                     opts.path, r.err);
            return -1;
        }
        {
            size_t l = strlen(opts.path) + 40;
            char *aside = malloc(l);
            if (aside == NULL) {
                snprintf(err, errlen, "out of memory");
                return -1;
            }
            snprintf(aside, l, "%s.corrupt-%ld", opts.path, (long)time(NULL));
            char rerr[512];
            if (platform_rename_durable(opts.path, aside, rerr, sizeof(rerr)) != 0)
                log_error("snapshot: could not set the damaged file aside: %s", rerr);
            else
                log_warn("snapshot: moved the damaged file to %s; starting empty", aside);
            free(aside);
        }
        return 0;
    default:
        load_state = "error";
        log_error("snapshot %s: cannot load: %s", opts.path, r.err);
        if (opts.refuse_corrupt) {
            snprintf(err, errlen, "snapshot %s: cannot load: %s (snapshot_refuse_corrupt is set)",
                     opts.path, r.err);
            return -1;
        }
        log_warn("snapshot: starting empty; %s is left in place", opts.path);
        return 0;
    }
}

/* Write one snapshot unless one is running.  Fills msg on failure. */
static enum snapshot_status
run_once(const char *why, char *msg, size_t msglen)
{
    pthread_mutex_lock(&mu);
    if (opts.path == NULL) {
        pthread_mutex_unlock(&mu);
        snprintf(msg, msglen, "snapshots not configured");
        return SNAP_EIO;
    }
    if (running) {
        pthread_mutex_unlock(&mu);
        snprintf(msg, msglen, "snapshot in progress");
        return SNAP_EBUSY;
    }
    running = true;
    last_start = time(NULL);
    pthread_mutex_unlock(&mu);

    double t0 = mono_secs();
    struct snapshot_result r;
    enum snapshot_status st = snapshot_write(opts.path, &opts, &r);
    double dt = mono_secs() - t0;

    pthread_mutex_lock(&mu);
    running = false;
    last_duration = dt;
    last_write_secs = r.write_secs;
    last_sync_secs = r.sync_secs;
    last_items = r.items;
    last_bytes = r.bytes;
    if (st == SNAP_OK) {
        successes++;
        last_success = time(NULL);
    } else {
        failures++;
        snprintf(last_error, sizeof(last_error), "%s", r.err);
        snprintf(msg, msglen, "%s", r.err);
    }
    pthread_cond_broadcast(&cv);
    pthread_mutex_unlock(&mu);
    if (st == SNAP_OK)
        log_info("snapshot (%s): %" PRIu64 " items, %" PRIu64 " bytes in %.3f s to %s",
                 why, r.items, r.bytes, dt, opts.path);
    else
        log_error("snapshot (%s) failed, previous snapshot kept: %s", why, r.err);
    return st;
}

static void *
periodic_main(void *arg)
{
    platform_background_thread();
    (void)arg;
    char msg[256];
    pthread_mutex_lock(&mu);
    time_t due = opts.interval > 0 ? time(NULL) + opts.interval : 0;
    while (!thr_stop) {
        if (opts.interval <= 0) {
            due = 0;
            pthread_cond_wait(&cv, &mu);
            continue;
        }
        if (due == 0 || due > time(NULL) + opts.interval)
            due = time(NULL) + opts.interval;       /* interval changed */
        if (time(NULL) < due) {
            struct timespec ts = { due, 0 };
            pthread_cond_timedwait(&cv, &mu, &ts);
            continue;
        }
        pthread_mutex_unlock(&mu);
        run_once("periodic", msg, sizeof(msg));
        pthread_mutex_lock(&mu);
        due = time(NULL) + opts.interval;
    }
    pthread_mutex_unlock(&mu);
    return NULL;
}

int
snapshot_start(char *err, size_t errlen)
{
    if (opts.path == NULL)
        return 0;
    if (pthread_create(&thr, NULL, periodic_main, NULL) != 0) {
        snprintf(err, errlen, "cannot start the snapshot thread: %s", strerror(errno));
        return -1;
    }
    thr_started = true;
    return 0;
}

void
snapshot_configure(int interval, bool on_shutdown)
{
    pthread_mutex_lock(&mu);
    opts.interval = interval;
    opts.on_shutdown = on_shutdown;
    pthread_cond_broadcast(&cv);
    pthread_mutex_unlock(&mu);
}

const char *
snapshot_request(void)
{
    /* runs on a thread of its own (the connection's deferred request) */
    platform_background_thread();
    static _Thread_local char msg[256];
    if (run_once("requested", msg, sizeof(msg)) == SNAP_OK)
        return NULL;
    return msg;
}

/* Disk use: the snapshot file's size now (0 when there is none) and the
 * space of the filesystem it is written to (its directory's, so it is
 * known before the first snapshot).  Outside mu: stat() may be slow. */
static void
disk_lines(struct obuf *o, const char *path)
{
    uint64_t size = 0, avail = 0, total = 0;
    if (path != NULL) {
        (void)platform_file_size(path, &size);
        char dir[4096];
        snprintf(dir, sizeof(dir), "%s", path);
        char *slash = strrchr(dir, '/');
        if (slash == NULL)
            snprintf(dir, sizeof(dir), ".");
        else
            slash[slash == dir] = '\0';    /* "/x" -> "/" */
        (void)platform_fs_space(dir, &avail, &total);
    }
    obuf_printf(o, "STAT file_bytes %" PRIu64 "\r\n", size);
    obuf_printf(o, "STAT fs_avail_bytes %" PRIu64 "\r\n", avail);
    obuf_printf(o, "STAT fs_total_bytes %" PRIu64 "\r\n", total);
}

void
snapshot_stats(struct obuf *o)
{
    pthread_mutex_lock(&mu);
    obuf_printf(o, "STAT path %s\r\n", opts.path ? opts.path : "NULL");
    obuf_printf(o, "STAT interval %d\r\n", opts.interval);
    obuf_printf(o, "STAT in_progress %d\r\n", running ? 1 : 0);
    obuf_printf(o, "STAT last_start %ld\r\n", (long)last_start);
    obuf_printf(o, "STAT last_duration %.6f\r\n", last_duration);
    obuf_printf(o, "STAT last_write_duration %.6f\r\n", last_write_secs);
    obuf_printf(o, "STAT last_sync_duration %.6f\r\n", last_sync_secs);
    obuf_printf(o, "STAT last_items %" PRIu64 "\r\n", last_items);
    obuf_printf(o, "STAT last_bytes %" PRIu64 "\r\n", last_bytes);
    obuf_printf(o, "STAT successes %" PRIu64 "\r\n", successes);
    obuf_printf(o, "STAT failures %" PRIu64 "\r\n", failures);
    obuf_printf(o, "STAT last_error %s\r\n", last_error);
    obuf_printf(o, "STAT load_result %s\r\n", load_state);
    obuf_printf(o, "STAT load_items %" PRIu64 "\r\n", load_res.items);
    obuf_printf(o, "STAT load_expired %" PRIu64 "\r\n", load_res.skipped_expired);
    obuf_printf(o, "STAT load_skipped %" PRIu64 "\r\n", load_res.skipped_nomem);
    obuf_printf(o, "STAT load_duration %.6f\r\n", load_duration);
    obuf_printf(o, "STAT last_success %ld\r\n", (long)last_success);
    const char *path = opts.path;
    pthread_mutex_unlock(&mu);
    disk_lines(o, path);
}

void
snapshot_shutdown(void)
{
    if (thr_started) {
        pthread_mutex_lock(&mu);
        thr_stop = true;
        pthread_cond_broadcast(&cv);
        pthread_mutex_unlock(&mu);
        pthread_join(thr, NULL);            /* waits for a running snapshot */
        thr_started = false;
    }
    pthread_mutex_lock(&mu);
    bool go = opts.path != NULL && opts.on_shutdown;
    while (running)                         /* a worker's request, if any */
        pthread_cond_wait(&cv, &mu);
    pthread_mutex_unlock(&mu);
    if (!go)
        return;
    char msg[256];
    double t0 = mono_secs();
    if (run_once("shutdown", msg, sizeof(msg)) == SNAP_OK)
        log_notice("snapshot written to %s at shutdown: %" PRIu64 " items in %.3f s",
                   opts.path, last_items, mono_secs() - t0);
}

void
snapshot_teardown(void)
{
    free(opt_path);
    opt_path = NULL;
    opts.path = NULL;
}
