/*
 * binary.c -- parse memcached binary-protocol request packets into a
 * struct request (see proto.h), and write binary response headers.
 *
 * A request packet: a 24-byte header (magic 0x80, opcode, key length,
 * extras length, data type, vbucket, total body length, opaque, CAS), then
 * extras, key and value.  binary_need() tells the byte loop how much of a
 * packet must be buffered before binary_parse() runs: the header alone
 * when the header already decides the answer (bad lengths, unknown
 * opcode), header + extras + key for storage commands (their value then
 * streams into the item like a text command's), the whole packet
 * otherwise.  Lengths are checked as memcached 1.6.18 checks them: a key
 * over 250 bytes or lengths that do not fit the command are a protocol
 * error (EINVAL, then the connection is closed); an unknown opcode is
 * answered "Unknown command" and its body skipped.
 *
 * No side effects; numbers in the packet are big-endian.
 */
#include <string.h>

#include "exec.h"
#include "item.h"
#include "proto.h"

static uint16_t
get16(const unsigned char *p)
{
    return (uint16_t)((p[0] << 8) | p[1]);
}

static uint32_t
get32(const unsigned char *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

static uint64_t
get64(const unsigned char *p)
{
    return ((uint64_t)get32(p) << 32) | get32(p + 4);
}

static void
put16(unsigned char *p, uint16_t v)
{
    p[0] = (unsigned char)(v >> 8);
    p[1] = (unsigned char)v;
}

void
bin_put32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

void
bin_put64(unsigned char *p, uint64_t v)
{
    bin_put32(p, (uint32_t)(v >> 32));
    bin_put32(p + 4, (uint32_t)v);
}

/* What each opcode is: the command it runs and the shape its packet must
 * have (memcached 1.6.18's checks). */
enum shape {
    S_NONE,                         /* unknown opcode */
    S_EMPTY,                        /* no extras, key or value */
    S_GET,                          /* key only */
    S_STORE,                        /* 8 bytes of extras, key, value */
    S_CONCAT,                       /* key, value */
    S_DELETE,                       /* key only */
    S_DELTA,                        /* 20 bytes of extras, key */
    S_FLUSH,                        /* 0 or 4 bytes of extras */
    S_STAT,                         /* optional key */
    S_TOUCH,                        /* 4 bytes of extras, key */
    S_SASL_LIST,                    /* nothing */
    S_SASL_DATA,                    /* key (mechanism), value (data) */
};

struct opdef {
    enum req_cmd cmd;
    enum shape   shape;
    bool         quiet;
    bool         with_key;          /* GetK, GATK: the key in the reply */
};

static const struct opdef ops[256] = {
    [BIN_GET]       = { CMD_GET, S_GET, false, false },
    [BIN_GETQ]      = { CMD_GET, S_GET, true, false },
    [BIN_GETK]      = { CMD_GET, S_GET, false, true },
    [BIN_GETKQ]     = { CMD_GET, S_GET, true, true },
    [BIN_SET]       = { CMD_SET, S_STORE, false, false },
    [BIN_SETQ]      = { CMD_SET, S_STORE, true, false },
    [BIN_ADD]       = { CMD_ADD, S_STORE, false, false },
    [BIN_ADDQ]      = { CMD_ADD, S_STORE, true, false },
    [BIN_REPLACE]   = { CMD_REPLACE, S_STORE, false, false },
    [BIN_REPLACEQ]  = { CMD_REPLACE, S_STORE, true, false },
    [BIN_APPEND]    = { CMD_APPEND, S_CONCAT, false, false },
    [BIN_APPENDQ]   = { CMD_APPEND, S_CONCAT, true, false },
    [BIN_PREPEND]   = { CMD_PREPEND, S_CONCAT, false, false },
    [BIN_PREPENDQ]  = { CMD_PREPEND, S_CONCAT, true, false },
    [BIN_DELETE]    = { CMD_DELETE, S_DELETE, false, false },
    [BIN_DELETEQ]   = { CMD_DELETE, S_DELETE, true, false },
    [BIN_INCR]      = { CMD_INCR, S_DELTA, false, false },
    [BIN_INCRQ]     = { CMD_INCR, S_DELTA, true, false },
    [BIN_DECR]      = { CMD_DECR, S_DELTA, false, false },
    [BIN_DECRQ]     = { CMD_DECR, S_DELTA, true, false },
    [BIN_QUIT]      = { CMD_QUIT, S_EMPTY, false, false },
    [BIN_QUITQ]     = { CMD_QUIT, S_EMPTY, true, false },
    [BIN_FLUSH]     = { CMD_FLUSH_ALL, S_FLUSH, false, false },
    [BIN_FLUSHQ]    = { CMD_FLUSH_ALL, S_FLUSH, true, false },
    [BIN_NOOP]      = { CMD_NOOP, S_EMPTY, false, false },
    [BIN_VERSION]   = { CMD_VERSION, S_EMPTY, false, false },
    [BIN_STAT]      = { CMD_STATS, S_STAT, false, false },
    /* BIN_VERBOSITY: memcached 1.6.18 answers it "Unknown command" */
    [BIN_TOUCH]     = { CMD_TOUCH, S_TOUCH, false, false },
    [BIN_GAT]       = { CMD_GAT, S_TOUCH, false, false },
    [BIN_GATQ]      = { CMD_GAT, S_TOUCH, true, false },
    [BIN_GATK]      = { CMD_GAT, S_TOUCH, false, true },
    [BIN_GATKQ]     = { CMD_GAT, S_TOUCH, true, true },
    [BIN_SASL_LIST] = { CMD_SASL_LIST, S_SASL_LIST, false, false },
    [BIN_SASL_AUTH] = { CMD_SASL_AUTH, S_SASL_DATA, false, false },
    [BIN_SASL_STEP] = { CMD_SASL_STEP, S_SASL_DATA, false, false },
};

/* Do the header's lengths fit the opcode? */
static bool
shape_ok(enum shape s, uint8_t extlen, uint16_t keylen, uint32_t bodylen)
{
    switch (s) {
    case S_EMPTY:
    case S_SASL_LIST:
        return extlen == 0 && keylen == 0 && bodylen == 0;
    case S_GET:
    case S_DELETE:
        return extlen == 0 && keylen > 0 && bodylen == keylen;
    case S_STORE:
        return extlen == 8 && keylen > 0 && bodylen >= (uint32_t)keylen + 8;
    case S_CONCAT:
        return extlen == 0 && keylen > 0 && bodylen >= keylen;
    case S_DELTA:
        return extlen == 20 && keylen > 0 && bodylen == (uint32_t)keylen + 20;
    case S_FLUSH:
        return keylen == 0 && bodylen == extlen && (extlen == 0 || extlen == 4);
    case S_STAT:
        return extlen == 0;         /* a value is skipped (see binary_need) */
    case S_TOUCH:
        return extlen == 4 && keylen > 0;
    case S_SASL_DATA:
        return extlen == 0 && keylen > 0 && bodylen >= keylen &&
               bodylen - keylen <= BIN_SASL_DATA_MAX;
    case S_NONE:
        break;
    }
    return false;
}

/* Does the header frame hold together: extras and key inside the body,
 * and within memcached's 16 KB read buffer? */
static bool
frame_ok(uint8_t extlen, uint16_t keylen, uint32_t bodylen)
{
    return (uint32_t)extlen + keylen <= bodylen &&
           BIN_HDR_LEN + (size_t)extlen + keylen <= BIN_FRAME_MAX;
}

size_t
binary_need(const unsigned char *h)
{
    const struct opdef *d = &ops[h[1]];
    uint8_t extlen = h[4];
    uint16_t keylen = get16(h + 2);
    uint32_t bodylen = get32(h + 8);
    if (h[0] != BIN_REQ_MAGIC || !frame_ok(extlen, keylen, bodylen) ||
        keylen > ITEM_KEY_MAX || !shape_ok(d->shape, extlen, keylen, bodylen))
        return BIN_HDR_LEN;         /* answered from the header alone */
    if (d->shape == S_STORE || d->shape == S_CONCAT || d->shape == S_STAT ||
        d->shape == S_TOUCH)
        return BIN_HDR_LEN + extlen + keylen;   /* a value follows (or is skipped) */
    return BIN_HDR_LEN + (size_t)bodylen;
}

void
binary_parse(const unsigned char *p, size_t n, struct request *r)
{
    const struct opdef *d = &ops[p[1]];
    uint8_t extlen = p[4];
    uint16_t keylen = get16(p + 2);
    uint32_t bodylen = get32(p + 8);
    memset(&r->bin, 0, sizeof(r->bin));
    r->error = NULL;
    r->key = r->keys = NULL;
    r->nkey = r->nkeys_len = 0;
    r->vlen = -1;
    r->ntokens = 0;
    r->http_probe = false;
    r->admin.sub = SUB_NONE;
    r->admin.late_error = NULL;
    r->bin.opcode = p[1];
    r->bin.opaque = get32(p + 12);
    r->bin.quiet = d->quiet;
    r->bin.with_key = d->with_key;
    r->cas = get64(p + 16);
    r->cmd = d->cmd;
    r->noreply = d->quiet;
    if (p[0] != BIN_REQ_MAGIC) {
        r->bin.close = true;        /* memcached hangs up without a word */
        return;
    }
    if (!frame_ok(extlen, keylen, bodylen)) {
        /* memcached: a header whose extras and key overflow the body is
         * "Unknown command", one whose extras and key overflow its read
         * buffer gets no reply; both close the connection */
        r->bin.frame_error = true;
        r->bin.close = true;
        if ((uint32_t)extlen + keylen <= bodylen)
            return;
        r->bin.status = BIN_UNKNOWN_COMMAND;
        return;
    }
    if (d->shape == S_NONE) {
        r->cmd = CMD_UNKNOWN;
        r->bin.status = BIN_UNKNOWN_COMMAND;
        r->bin.swallow = bodylen;
        return;
    }
    if (keylen > ITEM_KEY_MAX || !shape_ok(d->shape, extlen, keylen, bodylen) ||
        n < binary_need(p)) {
        r->bin.status = BIN_EINVAL;
        r->bin.close = true;
        return;
    }
    const unsigned char *ext = p + BIN_HDR_LEN;
    r->key = (const char *)ext + extlen;
    r->nkey = keylen;
    r->keys = r->key;
    r->nkeys_len = keylen;
    /* binary expiration times are unsigned 32-bit numbers */
    switch (d->shape) {
    case S_STORE:
        r->flags = get32(ext);
        r->exptime = get32(ext + 4);
        /* fall through */
    case S_CONCAT:
        r->vlen = (int64_t)bodylen - extlen - keylen;
        if (r->cmd == CMD_SET && r->cas != 0)
            r->cmd = CMD_CAS;       /* a set with a CAS is memcached's cas */
        break;
    case S_DELTA:
        r->delta = get64(ext);
        r->bin.initial = get64(ext + 8);
        r->bin.delta_exptime = get32(ext + 16);
        r->exptime = r->bin.delta_exptime;
        break;
    case S_FLUSH:
        r->exptime = extlen == 4 ? get32(ext) : 0;
        break;
    case S_TOUCH:
        r->exptime = get32(ext);
        r->bin.swallow = bodylen - extlen - keylen;    /* a value is skipped */
        break;
    case S_STAT:
        r->bin.swallow = bodylen - keylen;
        break;
    case S_SASL_DATA:
        r->bin.data = (const char *)ext + keylen;
        r->bin.ndata = bodylen - keylen;
        break;
    default:
        break;
    }
}

/* ---- responses ---- */

void
bin_header(struct proto_conn *pc, uint16_t status, uint8_t extlen, uint16_t keylen,
           uint32_t bodylen, uint64_t cas)
{
    unsigned char *h = (unsigned char *)obuf_reserve(pc->out, BIN_HDR_LEN);
    if (h == NULL)
        return;
    h[0] = BIN_RES_MAGIC;
    h[1] = pc->bin.opcode;
    put16(h + 2, keylen);
    h[4] = extlen;
    h[5] = 0;
    put16(h + 6, status);
    bin_put32(h + 8, bodylen);
    memcpy(h + 12, &pc->bin.opaque_be, 4);
    bin_put64(h + 16, cas);
    obuf_commit(pc->out, BIN_HDR_LEN);
}

const char *
bin_status_text(uint16_t status)
{
    switch (status) {
    case BIN_ENOENT:          return "Not found";
    case BIN_EEXISTS:         return "Data exists for key.";
    case BIN_E2BIG:           return "Too large.";
    case BIN_EINVAL:          return "Invalid arguments";
    case BIN_NOT_STORED:      return "Not stored.";
    case BIN_DELTA_BADVAL:    return "Non-numeric server-side value for incr or decr";
    case BIN_AUTH_ERROR:      return "Auth failure.";
    case BIN_UNKNOWN_COMMAND: return "Unknown command";
    case BIN_ENOMEM:          return "Out of memory allocating item";
    default:                  return "UNHANDLED ERROR";
    }
}

void
bin_error(struct proto_conn *pc, uint16_t status)
{
    const char *s = bin_status_text(status);
    size_t n = strlen(s);
    bin_header(pc, status, 0, 0, (uint32_t)n, 0);
    obuf_add(pc->out, s, n);
}

void
bin_ok(struct proto_conn *pc, uint64_t cas)
{
    bin_header(pc, BIN_SUCCESS, 0, 0, 0, cas);
}

void
bin_set_context(struct proto_conn *pc, const struct request *r)
{
    pc->bin.opcode = r->bin.opcode;
    unsigned char be[4];
    bin_put32(be, r->bin.opaque);
    memcpy(&pc->bin.opaque_be, be, 4);
    pc->bin.quiet = r->bin.quiet;
    pc->bin.with_key = r->bin.with_key;
}
