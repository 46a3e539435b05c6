/*
 * coll_exec.c -- runs ARCUS collection requests (r->coll, parsed by
 * proto/coll.c) through item.h's coll_exec() and composes the replies,
 * with the strings of coll.c's table.
 *
 * A command with a data block (an element value, a mop field list) keeps
 * its request in pc->creq (key and field copied) while the block is read
 * into pc->cbuf, then runs from coll_value_done().
 *
 * Pipelining (ARCUS ch09): a pipelinable command with "pipe" does not
 * reply; its status line is held in pc->pipe_buf.  The next one without
 * "pipe" ends the pipe: "RESPONSE <n>\r\n", the n status lines, "END".  A
 * CLIENT_ERROR or SERVER_ERROR status ends it at once with "PIPE_ERROR
 * bad error" (the rest of the pipe is then skipped, up to the command
 * without "pipe"); more than COLL_PIPE_MAX commands end it with
 * "PIPE_ERROR command overflow" the same way.
 */
#include <stdlib.h>
#include <string.h>

#include "exec.h"
#include "proto.h"

static void
count_cmd(struct thread_stats *ts, enum req_cmd_coll cc)
{
    switch (cc) {
    case CC_LOP_CREATE: STAT_INC(ts, cmd_lop_create); break;
    case CC_LOP_INSERT: STAT_INC(ts, cmd_lop_insert); break;
    case CC_LOP_DELETE: STAT_INC(ts, cmd_lop_delete); break;
    case CC_LOP_GET:    STAT_INC(ts, cmd_lop_get); break;
    case CC_SOP_CREATE: STAT_INC(ts, cmd_sop_create); break;
    case CC_SOP_INSERT: STAT_INC(ts, cmd_sop_insert); break;
    case CC_SOP_DELETE: STAT_INC(ts, cmd_sop_delete); break;
    case CC_SOP_EXIST:  STAT_INC(ts, cmd_sop_exist); break;
    case CC_SOP_GET:    STAT_INC(ts, cmd_sop_get); break;
    case CC_MOP_CREATE: STAT_INC(ts, cmd_mop_create); break;
    case CC_MOP_INSERT: STAT_INC(ts, cmd_mop_insert); break;
    case CC_MOP_UPSERT: STAT_INC(ts, cmd_mop_upsert); break;
    case CC_MOP_UPDATE: STAT_INC(ts, cmd_mop_update); break;
    case CC_MOP_DELETE: STAT_INC(ts, cmd_mop_delete); break;
    case CC_MOP_GET:    STAT_INC(ts, cmd_mop_get); break;
    case CC_GETATTR:    STAT_INC(ts, cmd_getattr); break;
    case CC_SETATTR:    STAT_INC(ts, cmd_setattr); break;
    case CC_NCMDS:      break;
    }
}

/* ---- pipelining ---- */

static void
pipe_hold(struct proto_conn *pc, const char *s)
{
    size_t n = strlen(s);
    if (pc->pipe_len + n + 2 > pc->pipe_cap) {
        size_t cap = pc->pipe_cap ? pc->pipe_cap * 2 : 1024;
        while (cap < pc->pipe_len + n + 2)
            cap *= 2;
        char *b = realloc(pc->pipe_buf, cap);
        if (b == NULL)
            return;                 /* (the count still tells) */
        pc->pipe_buf = b;
        pc->pipe_cap = cap;
    }
    memcpy(pc->pipe_buf + pc->pipe_len, s, n);
    memcpy(pc->pipe_buf + pc->pipe_len + n, "\r\n", 2);
    pc->pipe_len += n + 2;
    pc->pipe_n++;
}

/* Send the held statuses and the end line; the pipe is over. */
static void
pipe_flush(struct proto_conn *pc, const char *end)
{
    obuf_printf(pc->out, "RESPONSE %u\r\n", pc->pipe_n);
    obuf_add(pc->out, pc->pipe_buf, pc->pipe_len);
    proto_reply(pc, false, end);
    pc->pipe_n = 0;
    pc->pipe_len = 0;
    if (pc->pipe_cap > 65536) {
        free(pc->pipe_buf);
        pc->pipe_buf = NULL;
        pc->pipe_cap = 0;
    }
}

static bool
is_error(const char *s)
{
    return strncmp(s, "CLIENT_ERROR", 12) == 0 || strncmp(s, "SERVER_ERROR", 12) == 0;
}

/* A command's one status line: replied, or held in the pipe. */
static void
status(struct proto_conn *pc, bool noreply, bool pipe, const char *s)
{
    if (!pipe && pc->pipe_n == 0) {
        proto_reply(pc, noreply, s);
        return;
    }
    pipe_hold(pc, s);
    if (is_error(s)) {
        pipe_flush(pc, "PIPE_ERROR bad error");
        pc->pipe_drop = pipe;       /* skip the rest of this pipe */
    } else if (!pipe) {
        pipe_flush(pc, "END");
    } else if (pc->pipe_n == COLL_PIPE_MAX) {
        pipe_flush(pc, "PIPE_ERROR command overflow");
        pc->pipe_drop = true;
    }
}

/* A non-pipelined command ends a pipe left open (ours: its statuses are
 * sent before the command's reply). */
void
coll_pipe_end(struct proto_conn *pc)
{
    if (pc->pipe_n > 0)
        pipe_flush(pc, "END");
    pc->pipe_drop = false;
}

/* ---- running ---- */

struct emit_ctx {
    struct proto_conn *pc;
    bool               map;
};

static void
emit_begin(void *arg, uint32_t flags, uint32_t count)
{
    struct emit_ctx *e = arg;
    char b[64];
    size_t n = 0;
    memcpy(b, "VALUE ", 6);
    n = 6 + proto_u64_dec(flags, b + 6);
    b[n++] = ' ';
    n += proto_u64_dec(count, b + n);
    b[n++] = '\r';
    b[n++] = '\n';
    obuf_add(e->pc->out, b, n);
}

static void
emit_elem(void *arg, const char *field, size_t nfield, const void *data, size_t ndata)
{
    struct emit_ctx *e = arg;
    char b[COLL_FIELD_MAX + 32];
    size_t n = 0;
    if (field != NULL) {
        memcpy(b, field, nfield);
        n = nfield;
        b[n++] = ' ';
    }
    n += proto_u64_dec(ndata, b + n);
    b[n++] = ' ';
    obuf_add(e->pc->out, b, n);
    obuf_add(e->pc->out, data, ndata);
    obuf_add(e->pc->out, "\r\n", 2);
}

static void
getattr_reply(struct proto_conn *pc, const struct coll_req *c, const struct coll_info *in)
{
    uint8_t all[CATTR_NAMES];
    const uint8_t *names = c->names;
    unsigned n = c->nnames;
    if (n == 0) {
        n = in->type == COLL_KV ? CATTR_TYPE + 1 : CATTR_NAMES;
        for (unsigned i = 0; i < n; i++)
            all[i] = (uint8_t)i;
        names = all;
    }
    /* a name the type has not: the whole reply is the error */
    for (unsigned i = 0; i < n; i++)
        if (in->type == COLL_KV && names[i] > CATTR_TYPE) {
            proto_reply(pc, false, "ATTR_ERROR not found");
            return;
        }
    for (unsigned i = 0; i < n; i++) {
        enum coll_attr_name a = names[i];
        obuf_printf(pc->out, "ATTR %s=", coll_attr_name(a));
        switch (a) {
        case CATTR_FLAGS:
            obuf_printf(pc->out, "%u\r\n", in->flags);
            break;
        case CATTR_EXPIRETIME: {
            rel_time_t now = clock_now();
            long left = in->sticky ? -1 : in->exptime == 0 ? 0 :
                        in->exptime > now ? (long)(in->exptime - now) : 0;
            obuf_printf(pc->out, "%ld\r\n", left);
            break;
        }
        case CATTR_TYPE:
            obuf_printf(pc->out, "%s\r\n", coll_type_name(in->type));
            break;
        case CATTR_COUNT:
            obuf_printf(pc->out, "%u\r\n", in->count);
            break;
        case CATTR_MAXCOUNT:
            obuf_printf(pc->out, "%u\r\n", in->maxcount);
            break;
        case CATTR_OVERFLOWACTION:
            obuf_printf(pc->out, "%s\r\n", coll_ovfl_name(in->ovfl));
            break;
        case CATTR_READABLE:
            obuf_printf(pc->out, "%s\r\n", in->readable ? "on" : "off");
            break;
        case CATTR_NAMES:
            break;
        }
    }
    proto_reply(pc, false, "END");
}

static void
run(struct proto_conn *pc, struct coll_req *c, bool noreply)
{
    struct emit_ctx ec = { .pc = pc, .map = c->op.type == COLL_MAP };
    struct coll_out out = { emit_begin, emit_elem, &ec };
    struct coll_info info;
    bool get = c->cc == CC_LOP_GET || c->cc == CC_SOP_GET || c->cc == CC_MOP_GET;
    enum coll_status st = coll_exec(&c->op, get ? &out : NULL, &info);
    if (c->cc == CC_GETATTR && st == COLL_OK) {
        getattr_reply(pc, c, &info);
        return;
    }
    if (get && (st == COLL_OK || st == COLL_DROPPED)) {
        proto_reply(pc, false, coll_get_end(&c->op, st));
        return;
    }
    status(pc, noreply, c->pipe, coll_reply(c->cc, st));
}

/* Is a held pipe still open for this command?  (Not for a command that
 * may not be pipelined.) */
static bool
pipelinable(enum req_cmd_coll cc)
{
    switch (cc) {
    case CC_LOP_INSERT: case CC_LOP_DELETE: case CC_SOP_INSERT: case CC_SOP_DELETE:
    case CC_SOP_EXIST: case CC_MOP_INSERT: case CC_MOP_UPSERT: case CC_MOP_UPDATE:
    case CC_MOP_DELETE:
        return true;
    default:
        return false;
    }
}

enum proto_action
coll_line(struct proto_conn *pc, struct request *r)
{
    struct coll_req *c = &r->coll;
    int64_t block = r->error != NULL ? r->vlen : c->dlen;
    count_cmd(pc->stats, c->cc);
    if (pc->pipe_drop) {
        /* the rest of a failed pipe: not run, no reply */
        if (!c->pipe)
            pc->pipe_drop = false;
        if (block >= 0) {
            pc->swallow = (uint64_t)block + 2;
            return PROTO_SWALLOW;
        }
        return PROTO_NEXT;
    }
    if (!pipelinable(c->cc))
        coll_pipe_end(pc);
    if (r->error != NULL) {
        status(pc, r->noreply, c->pipe, r->error);
        if (block >= 0) {
            pc->swallow = (uint64_t)block + 2;
            return PROTO_SWALLOW;
        }
        return PROTO_NEXT;
    }
    if (block < 0) {
        run(pc, c, r->noreply);
        return PROTO_NEXT;
    }
    /* keep the request while its block is read */
    if (pc->creq == NULL)
        pc->creq = malloc(sizeof(*pc->creq));
    size_t need = block > 0 ? (size_t)block : 1;
    if (pc->creq != NULL && pc->cbuf_cap < need) {
        free(pc->cbuf);
        pc->cbuf = malloc(need);
        pc->cbuf_cap = pc->cbuf != NULL ? need : 0;
    }
    if (pc->creq == NULL || pc->cbuf == NULL) {
        STAT_INC(pc->stats, out_of_memory);
        status(pc, r->noreply, c->pipe, "SERVER_ERROR out of memory");
        pc->swallow = (uint64_t)block + 2;
        return PROTO_SWALLOW;
    }
    *pc->creq = *c;
    memcpy(pc->ckey, c->op.key, c->op.nkey);
    pc->creq->op.key = pc->ckey;
    if (c->op.nfield > 0) {
        memcpy(pc->cfield, c->op.field, c->op.nfield);
        pc->creq->op.field = pc->cfield;
    }
    pc->snoreply = r->noreply;
    pc->viov[0].iov_base = pc->cbuf;
    pc->viov[0].iov_len = (size_t)block;
    pc->nviov = 1;
    pc->vlen = (size_t)block;
    pc->scmd = CMD_COLL;
    return PROTO_READ_VALUE;
}

/* Fields in a mop field list. */
static uint32_t
count_fields(const char *s, size_t n)
{
    uint32_t k = 0;
    bool in = false;
    for (size_t i = 0; i < n; i++) {
        bool sep = s[i] == ' ' || s[i] == ',';
        if (!sep && !in)
            k++;
        in = !sep;
    }
    return k;
}

void
coll_value_done(struct proto_conn *pc, bool term_ok)
{
    struct coll_req *c = pc->creq;
    pc->scmd = CMD_UNKNOWN;
    if (!term_ok) {
        status(pc, pc->snoreply, c->pipe, "CLIENT_ERROR bad data chunk");
        return;
    }
    if (c->fields_block) {
        c->op.fields = pc->cbuf;
        c->op.nfields_len = pc->vlen;
        if (count_fields(pc->cbuf, pc->vlen) != c->numfields) {
            status(pc, pc->snoreply, c->pipe, "CLIENT_ERROR bad data chunk");
            return;
        }
    } else {
        c->op.data = pc->cbuf;
        c->op.ndata = (uint32_t)pc->vlen;
    }
    run(pc, c, pc->snoreply);
    if (pc->cbuf_cap > 65536) {
        free(pc->cbuf);
        pc->cbuf = NULL;
        pc->cbuf_cap = 0;
    }
}

void
coll_conn_deinit(struct proto_conn *pc)
{
    free(pc->creq);
    free(pc->cbuf);
    free(pc->pipe_buf);
    pc->creq = NULL;
    pc->cbuf = NULL;
    pc->pipe_buf = NULL;
    pc->cbuf_cap = pc->pipe_cap = pc->pipe_len = 0;
}
