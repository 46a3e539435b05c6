/*
 * binary.h -- memcached's binary protocol: packet constants and the
 * parser's contract (src/proto/binary.c).  The parser fills the same
 * struct request (proto.h) as the text and meta parsers; the executor
 * (src/proto/bin_exec.c, sharing exec.h with process.c and meta_exec.c)
 * runs it through item.h.
 *
 * Header, 24 bytes, big-endian:
 *   0 magic (0x80 request, 0x81 response)   1 opcode
 *   2 key length u16   4 extras length u8   5 data type (0)
 *   6 vbucket (request) / status (response) u16
 *   8 total body length u32   12 opaque u32 (echoed)   16 CAS u64
 * then extras, key, value (body length = extras + key + value).
 */
#ifndef MC_BINARY_H
#define MC_BINARY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define BIN_HDR_LEN   24
#define BIN_REQ_MAGIC 0x80
#define BIN_RES_MAGIC 0x81
/* memcached reads header + extras + key into a 16 KB buffer: more closes
 * the connection without a reply. */
#define BIN_FRAME_MAX 16384
/* The most SASL data (auth/step value) a packet may carry. */
#define BIN_SASL_DATA_MAX 2048

enum bin_opcode {
    BIN_GET = 0x00, BIN_SET = 0x01, BIN_ADD = 0x02, BIN_REPLACE = 0x03,
    BIN_DELETE = 0x04, BIN_INCR = 0x05, BIN_DECR = 0x06, BIN_QUIT = 0x07,
    BIN_FLUSH = 0x08, BIN_GETQ = 0x09, BIN_NOOP = 0x0a, BIN_VERSION = 0x0b,
    BIN_GETK = 0x0c, BIN_GETKQ = 0x0d, BIN_APPEND = 0x0e, BIN_PREPEND = 0x0f,
    BIN_STAT = 0x10, BIN_SETQ = 0x11, BIN_ADDQ = 0x12, BIN_REPLACEQ = 0x13,
    BIN_DELETEQ = 0x14, BIN_INCRQ = 0x15, BIN_DECRQ = 0x16, BIN_QUITQ = 0x17,
    BIN_FLUSHQ = 0x18, BIN_APPENDQ = 0x19, BIN_PREPENDQ = 0x1a,
    BIN_VERBOSITY = 0x1b, BIN_TOUCH = 0x1c, BIN_GAT = 0x1d, BIN_GATQ = 0x1e,
    BIN_SASL_LIST = 0x20, BIN_SASL_AUTH = 0x21, BIN_SASL_STEP = 0x22,
    BIN_GATK = 0x23, BIN_GATKQ = 0x24,
};

enum bin_status {
    BIN_SUCCESS = 0x00, BIN_ENOENT = 0x01, BIN_EEXISTS = 0x02, BIN_E2BIG = 0x03,
    BIN_EINVAL = 0x04, BIN_NOT_STORED = 0x05, BIN_DELTA_BADVAL = 0x06,
    BIN_AUTH_ERROR = 0x20, BIN_AUTH_CONTINUE = 0x21,
    BIN_UNKNOWN_COMMAND = 0x81, BIN_ENOMEM = 0x82,
};

/* A binary request's own fields (struct request's `bin`). */
struct bin_req {
    uint8_t     opcode;             /* as sent (quiet forms included) */
    uint32_t    opaque;
    bool        quiet;              /* a Q opcode (also sets r->noreply) */
    bool        with_key;           /* GetK/GetKQ/GATK/GATKQ */
    uint16_t    status;             /* non-zero: answer this error ... */
    bool        close;              /* ... then close (or close at once) */
    bool        frame_error;        /* (the lengths in the header disagree) */
    uint32_t    swallow;            /* ... or skip this many body bytes; also
                                     * for Touch/GAT/Stat: a value they
                                     * ignore, skipped after the reply */
    uint64_t    initial;            /* incr/decr: value when created */
    uint32_t    delta_exptime;      /* incr/decr: 0xffffffff = do not create */
    const char *data;               /* SASL auth/step data */
    uint32_t    ndata;
};

/* Bytes of the packet at h (24 header bytes available) to buffer before
 * binary_parse(): 24 when the header alone decides (bad magic, bad
 * lengths, unknown opcode), header + extras + key for set/add/replace/
 * append/prepend (the value follows, r->vlen bytes) and for Touch/GAT/
 * Stat (a value is skipped: r->bin.swallow), else the packet.  Never more
 * than 24 + 255 + 250 + BIN_SASL_DATA_MAX. */
size_t binary_need(const unsigned char *h);

struct request;
/* Parse the packet at p (n >= binary_need(p) bytes).  Always fills r:
 * r->bin.status/close/swallow report a packet to refuse. */
void binary_parse(const unsigned char *p, size_t n, struct request *r);

#endif
