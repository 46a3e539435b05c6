/*
 * fuzz_binary.c -- a structure-aware fuzz target for the binary protocol
 * (proto/binary.c parses, proto/bin_exec.c runs).
 *
 * The input bytes are choices.  Each packet takes an opcode (every one
 * memcached serves, their quiet forms, Verbosity, SASL, unknown ones), a
 * key (from a small pool so that packets meet the same items; empty, 250
 * and 251 bytes, larger than memcached's read buffer, random bytes),
 * extras of the right length for the opcode or a wrong one, a value
 * (none, small, around the 64 KB item limit of the fuzz setup), a CAS (0,
 * one recently handed out, random), and a header that mostly agrees with
 * the body (sometimes the body length is off, the magic wrong, the data
 * type or vbucket set).  Every packet's opaque is its index.  The packets
 * become one stream run through feed_run() against a real storage engine
 * (fuzz_common.c), flushed first so an input replays the same way.
 *
 * Checks, on top of no crash and no sanitizer report:
 *   - every packet goes through binary_parse() on its own, in a buffer of
 *     exactly binary_need() bytes (a read past it is an ASan report), into
 *     a struct request filled with garbage first: the key lies inside the
 *     packet, a storage command's value length adds up to the body, a
 *     refused packet says how (status, close or swallow);
 *   - every reply is a framed packet (fuzz_feed) with a known status,
 *     extras and key inside its body, and it answers a request: its opaque
 *     is a packet index not below the previous reply's (replies come in
 *     request order; quiet packets may have none, Stat several) and its
 *     opcode is that packet's.
 *
 * `make check` builds it as fuzz_binary_replay (tests/fuzz/corpus-binary/);
 * tests/fuzz/build.sh binary builds and runs the libFuzzer target.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "binary.h"
#include "fuzz_common.h"
#include "item.h"
#include "proto.h"

#define MAX_PACKETS 64

static uint32_t
pick32(struct src *s)
{
    uint32_t v = 0;
    for (int i = 0; i < 4; i++)
        v = v << 8 | pick(s, 256);
    return v;
}

static void
put16(unsigned char *p, uint16_t v)
{
    p[0] = (unsigned char)(v >> 8);
    p[1] = (unsigned char)v;
}

static void
put32(unsigned char *p, uint32_t v)
{
    put16(p, (uint16_t)(v >> 16));
    put16(p + 2, (uint16_t)v);
}

static uint32_t
get32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Opcodes and the extras length each expects. */
static const struct { uint8_t op, ext; } OPS[] = {
    { BIN_GET, 0 }, { BIN_GETQ, 0 }, { BIN_GETK, 0 }, { BIN_GETKQ, 0 },
    { BIN_SET, 8 }, { BIN_SETQ, 8 }, { BIN_ADD, 8 }, { BIN_ADDQ, 8 },
    { BIN_REPLACE, 8 }, { BIN_REPLACEQ, 8 }, { BIN_APPEND, 0 }, { BIN_APPENDQ, 0 },
    { BIN_PREPEND, 0 }, { BIN_PREPENDQ, 0 }, { BIN_DELETE, 0 }, { BIN_DELETEQ, 0 },
    { BIN_INCR, 20 }, { BIN_INCRQ, 20 }, { BIN_DECR, 20 }, { BIN_DECRQ, 20 },
    { BIN_FLUSH, 4 }, { BIN_FLUSHQ, 0 }, { BIN_NOOP, 0 }, { BIN_VERSION, 0 },
    { BIN_STAT, 0 }, { BIN_VERBOSITY, 4 }, { BIN_TOUCH, 4 }, { BIN_GAT, 4 },
    { BIN_GATQ, 4 }, { BIN_GATK, 4 }, { BIN_GATKQ, 4 }, { BIN_SASL_LIST, 0 },
    { BIN_SASL_AUTH, 0 }, { BIN_SASL_STEP, 0 }, { 0x1f, 0 }, { 0x40, 0 }, { 0xff, 2 },
    { BIN_QUIT, 0 }, { BIN_QUITQ, 0 },
};

static const char *const POOL[] = { "a", "k1", "n", "items", "slabs", "settings", "detail dump",
                                    "reset", "PLAIN", "sizes" };

static bool
takes_value(uint8_t op)
{
    switch (op) {
    case BIN_SET: case BIN_SETQ: case BIN_ADD: case BIN_ADDQ: case BIN_REPLACE:
    case BIN_REPLACEQ: case BIN_APPEND: case BIN_APPENDQ: case BIN_PREPEND:
    case BIN_PREPENDQ: case BIN_SASL_AUTH: case BIN_SASL_STEP:
        return true;
    default:
        return false;
    }
}

/* One packet into b; returns its opcode (the magic may be wrong). */
static uint8_t
gen_packet(struct fuzz_buf *b, struct src *s, uint32_t index)
{
    unsigned o = pick(s, sizeof(OPS) / sizeof(OPS[0]));
    uint8_t op = OPS[o].op, ext = OPS[o].ext;
    if (op == BIN_FLUSH && pick(s, 2))
        ext = 0;
    if (pick(s, 16) == 0)
        ext = (uint8_t)pick(s, 24);             /* a wrong extras length */

    static char key[20000];
    size_t nkey = 0;
    switch (pick(s, 12)) {
    case 0:
        break;                                  /* no key */
    case 1: case 2: {
        nkey = pick(s, 24);                     /* random bytes */
        for (size_t i = 0; i < nkey; i++)
            key[i] = (char)pick(s, 256);
        break;
    }
    case 3: {
        static const size_t len[] = { 250, 251, 1000, 16360, 16361, 19000 };
        nkey = len[pick(s, 6)];
        memset(key, 'k', nkey);
        break;
    }
    default: {
        const char *k = POOL[pick(s, sizeof(POOL) / sizeof(POOL[0]))];
        nkey = strlen(k);
        memcpy(key, k, nkey);
        break;
    }
    }

    size_t nval = 0;
    unsigned v = pick(s, 8);
    if (takes_value(op) || v == 0) {
        static const size_t big[] = { 65000, 65535, 65536, 70000 };
        nval = v < 5 ? pick(s, 40) : v < 7 ? pick(s, 256) * 8 : big[pick(s, 4)];
    }

    uint32_t body = (uint32_t)(ext + nkey + nval);
    unsigned h = pick(s, 32);
    if (h == 0)
        body = body > 0 ? body - 1 - pick(s, body < 8 ? body : 8) : 0;     /* too short */
    else if (h == 1)
        body += 1 + pick(s, 8);                 /* announces more than comes */
    else if (h == 2)
        body = pick32(s);                       /* anything */

    unsigned char hdr[BIN_HDR_LEN];
    memset(hdr, 0, sizeof(hdr));
    hdr[0] = pick(s, 64) == 0 ? (uint8_t)pick(s, 256) : BIN_REQ_MAGIC;
    hdr[1] = op;
    put16(hdr + 2, (uint16_t)nkey);
    hdr[4] = ext;
    if (pick(s, 16) == 0) {
        hdr[5] = (uint8_t)pick(s, 256);         /* data type, vbucket: ignored */
        put16(hdr + 6, (uint16_t)pick32(s));
    }
    put32(hdr + 8, body);
    put32(hdr + 12, index);
    unsigned c = pick(s, 8);
    uint32_t cas = c < 5 ? 0 : c < 7 ? pick(s, 8) : pick32(s);
    put32(hdr + 20, cas);
    fuzz_buf_add(b, hdr, sizeof(hdr));

    unsigned char extras[24];
    for (unsigned i = 0; i < ext && i < sizeof(extras); i++)
        extras[i] = (unsigned char)(pick(s, 4) == 0 ? pick(s, 256) : 0);
    if (ext >= 4 && pick(s, 4) == 0)
        put32(extras + ext - 4, pick(s, 2) ? 0xffffffffu : 1 + pick(s, 4));   /* expirations */
    fuzz_buf_add(b, extras, ext);
    fuzz_buf_add(b, key, nkey);
    for (size_t i = 0; i < nval; i++) {
        char ch = (char)(i < 40 ? "0123456789\0PLAIN\0u\0p"[pick(s, 21)] : 'v');
        fuzz_buf_add(b, &ch, 1);
    }
    return op;
}

/* binary_parse() on one packet, alone in a buffer of exactly what
 * binary_need() asks for. */
static void
check_parse(const unsigned char *pkt, size_t avail)
{
    if (avail < BIN_HDR_LEN)
        return;
    size_t need = binary_need(pkt);
    if (need < BIN_HDR_LEN || need > BIN_HDR_LEN + 255 + ITEM_KEY_MAX + BIN_SASL_DATA_MAX)
        fuzz_fail("binary_need %zu out of bounds", need);
    if (need > avail)
        return;
    unsigned char *copy = malloc(need);
    if (copy == NULL)
        abort();
    memcpy(copy, pkt, need);
    struct request r;
    memset(&r, 0xa5, sizeof(r));
    binary_parse(copy, need, &r);
    uint32_t body = get32(copy + 8);
    if (r.bin.status != 0 || r.bin.close) {
        if (r.bin.status != 0 && r.bin.status != BIN_UNKNOWN_COMMAND &&
            r.bin.status != BIN_EINVAL)
            fuzz_fail("parse refused with status 0x%x", r.bin.status);
    } else {
        if (r.nkey > ITEM_KEY_MAX)
            fuzz_fail("key of %zu bytes accepted", r.nkey);
        if (r.nkey > 0 && ((const unsigned char *)r.key < copy + BIN_HDR_LEN ||
                           (const unsigned char *)r.key + r.nkey > copy + need))
            fuzz_fail("key outside the packet");
        if (r.vlen >= 0 && (uint64_t)r.vlen + copy[4] + r.nkey != body)
            fuzz_fail("value length %lld does not add up to the body %u",
                      (long long)r.vlen, body);
        if (r.vlen >= 0 && need != BIN_HDR_LEN + copy[4] + r.nkey)
            fuzz_fail("a store buffers its value");
        if (r.bin.ndata > BIN_SASL_DATA_MAX)
            fuzz_fail("SASL data of %u bytes", r.bin.ndata);
    }
    free(copy);
}

/* What the replies are checked against. */
struct expect {
    uint8_t  op[MAX_PACKETS];
    uint32_t n;
    int64_t  last;                  /* opaque of the previous reply */
};

static void
check_reply(const char *line, size_t n, bool long_line, void *arg)
{
    struct expect *e = arg;
    (void)long_line;
    if (n != BIN_HDR_LEN)
        fuzz_fail("a text reply on a binary connection");
    const unsigned char *h = (const unsigned char *)line;
    uint16_t status = (uint16_t)(h[6] << 8 | h[7]);
    uint32_t body = get32(h + 8), opaque = get32(h + 12);
    uint16_t keylen = (uint16_t)(h[2] << 8 | h[3]);
    switch (status) {
    case BIN_SUCCESS: case BIN_ENOENT: case BIN_EEXISTS: case BIN_E2BIG: case BIN_EINVAL:
    case BIN_NOT_STORED: case BIN_DELTA_BADVAL: case BIN_AUTH_ERROR:
    case BIN_AUTH_CONTINUE: case BIN_UNKNOWN_COMMAND: case BIN_ENOMEM:
        break;
    default:
        fuzz_fail("reply with unknown status 0x%x", status);
    }
    if ((uint32_t)h[4] + keylen > body)
        fuzz_fail("reply extras and key beyond its body");
    if (h[5] != 0)
        fuzz_fail("reply data type %u", h[5]);
    if (opaque >= e->n || (int64_t)opaque < e->last)
        fuzz_fail("reply opaque %u out of order (previous %lld, %u packets)", opaque,
                  (long long)e->last, e->n);
    if (h[1] != e->op[opaque])
        fuzz_fail("reply opcode 0x%02x to packet %u (opcode 0x%02x)", h[1], opaque,
                  e->op[opaque]);
    e->last = opaque;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_setup();
    if (size < 2)
        return 0;
    item_flush(0);                              /* every input starts empty */
    struct src s = { data + 2, size - 2 };
    struct fuzz_buf stream = { NULL, 0, 0 };
    struct expect e = { .n = 0, .last = 0 };
    while (e.n < MAX_PACKETS && s.n > 0) {
        size_t at = stream.len;
        e.op[e.n] = gen_packet(&stream, &s, e.n);
        check_parse((const unsigned char *)stream.p + at, stream.len - at);
        e.n++;
    }
    if (stream.len > 0 && (unsigned char)stream.p[0] == BIN_REQ_MAGIC)
        fuzz_feed((const uint8_t *)stream.p, stream.len, 1 + data[0] % 16, data[1],
                  check_reply, &e);
    fuzz_buf_free(&stream);
    return 0;
}

#ifdef FUZZ_REPLAY
int
main(int argc, char **argv)
{
    return fuzz_replay_main(argc, argv, "fuzz_binary_replay", FUZZ_CORPUS, NULL, 20000);
}
#endif
