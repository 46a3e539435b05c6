/*
 * proto.h -- memcached's protocols (text, meta, binary): requests in,
 * replies out.
 *
 * Split in two:
 *   text_parse()   bytes of one request line -> struct request (no side
 *                  effects; src/proto/text.c, meta lines via meta.c);
 *   binary_parse() one binary packet -> the same struct request
 *                  (binary.h, src/proto/binary.c);
 *   proto_*()      runs a request through item.h and composes the reply
 *                  into the connection's obuf (src/proto/process.c,
 *                  meta_exec.c, bin_exec.c).
 *
 * The byte loop (feed.h, src/proto/feed.c) finds line (or packet)
 * boundaries, feeds lines to proto_line() and packets to proto_packet(),
 * and for storage commands copies the value bytes into the iovecs they
 * hand back (PROTO_READ_VALUE), then calls proto_value_done().  proto/
 * never touches sockets or struct conn.
 *
 * Bounded output: a reply that would grow past PROTO_OUT_HIGH (multiget,
 * metadump) is produced in pieces (PROTO_PAUSE) as the client reads.
 *
 * Thread safety: a proto_conn belongs to one worker thread; the global
 * proto_env is set up before workers start and read-only afterwards (the
 * hooks it points to do their own locking).
 */
#ifndef MC_PROTO_H
#define MC_PROTO_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "sysdeps.h"
#include <time.h>

#include "binary.h"
#include "item.h"
#include "obuf.h"
#include "stats.h"

#define PROTO_MAX_TOKENS 24         /* tokens parsed from a non-get line */
#define ITEM_KEY_MAX_DECODED 256    /* a base64 key decodes to at most 250 */

enum req_cmd {
    CMD_UNKNOWN = 0,
    CMD_GET, CMD_GETS, CMD_GAT, CMD_GATS,
    CMD_SET, CMD_ADD, CMD_REPLACE, CMD_APPEND, CMD_PREPEND, CMD_CAS,
    CMD_DELETE, CMD_INCR, CMD_DECR, CMD_TOUCH,
    CMD_FLUSH_ALL, CMD_VERSION, CMD_VERBOSITY, CMD_QUIT, CMD_SHUTDOWN,
    CMD_CACHE_MEMLIMIT, CMD_STATS, CMD_SLABS, CMD_LRU_CRAWLER, CMD_SNAPSHOT,
    CMD_MN, CMD_MG, CMD_MS, CMD_MD, CMD_MA, CMD_ME,
    CMD_REFRESH_CERTS, CMD_WATCH,
    CMD_NOOP, CMD_SASL_LIST, CMD_SASL_AUTH, CMD_SASL_STEP,     /* binary only */
    CMD_COLL,                       /* ARCUS collection command (r->coll) */
};

/* What an admin command (stats, slabs, lru_crawler) asks for, as
 * text_parse() read its arguments. */
enum req_sub {
    SUB_NONE = 0,
    SUB_STATS_GENERAL, SUB_STATS_RESET, SUB_STATS_SETTINGS, SUB_STATS_ITEMS,
    SUB_STATS_SLABS, SUB_STATS_SIZES, SUB_STATS_CONNS, SUB_STATS_SNAPSHOT,
    SUB_STATS_COLLECTIONS,          /* ours: the ARCUS command counters */
    SUB_STATS_DETAIL_SET,           /* "stats detail on|off" */
    SUB_STATS_DETAIL_DUMP,
    SUB_STATS_HOTKEYS,              /* admin.level: N, the keys to list */
    SUB_SLABS_REASSIGN,             /* admin.src -> admin.dst */
    SUB_SLABS_AUTOMOVE,             /* admin.level (0..2) */
    SUB_SLABS_AUTOMOVE_RATIO,       /* a valid ratio: accepted, nothing to tune */
    SUB_CRAWLER_CRAWL,              /* classes valid (we crawl everything) */
    SUB_CRAWLER_METADUMP,           /* admin.late_error: the class list's */
    SUB_CRAWLER_SETTING,            /* enable, disable, sleep, tocrawl: OK */
};

struct token {
    const char *s;
    size_t      n;
};

/* Is token t exactly the string s? */
static inline bool
token_is(const struct token *t, const char *s)
{
    size_t n = 0;
    while (s[n] != '\0')
        n++;
    if (t->n != n)
        return false;
    for (size_t i = 0; i < n; i++)
        if (t->s[i] != s[i])
            return false;
    return true;
}

/* The flags of a meta command (proto/meta.c). */
#define META_BIT(c) ((uint64_t)1 << ((unsigned)((c) - 'A') & 63))
struct meta_req {
    uint64_t     seen;              /* META_BIT() of each flag given */
    char         order[24];         /* the flags, in request order */
    int          norder;
    struct token opaque;            /* O */
    int64_t      ttl;               /* T */
    int64_t      vivify_ttl;        /* N */
    int64_t      recache_ttl;       /* R */
    uint64_t     cas;               /* C */
    uint64_t     new_cas;           /* E */
    uint64_t     delta;             /* D (default 1) */
    uint64_t     initial;           /* J */
    uint32_t     client_flags;      /* F */
    char         mode;              /* M */
    const char  *late_error;        /* an error memcached reports after the
                                     * command ran (mg, ma: O too long):
                                     * r->error, with r->key set */
    char         keybuf[ITEM_KEY_MAX_DECODED]; /* b: the decoded key */
};

/* getattr names (ARCUS ch10), in the order "getattr <key>" lists them. */
enum coll_attr_name {
    CATTR_FLAGS, CATTR_EXPIRETIME, CATTR_TYPE, CATTR_COUNT, CATTR_MAXCOUNT,
    CATTR_OVERFLOWACTION, CATTR_READABLE,
    CATTR_MAXBKEYRANGE, CATTR_MINBKEY, CATTR_MAXBKEY, CATTR_TRIMMED, /* b+tree only */
    CATTR_NAMES
};
#define CATTR_COLL_NAMES (CATTR_READABLE + 1) /* a list, set or map has these */
#define COLL_PIPE_MAX 500           /* commands in one pipe (ARCUS ch09) */
/* A collection get's reply is built whole under the collection's lock (so
 * it is one consistent picture); a larger one is refused with "SERVER_ERROR
 * out of memory [writing get response]" and deletes nothing (ours; ARCUS
 * ch05-ch08 list the reply).  16 MB, as -o read_buf_max's default. */
#define COLL_REPLY_MAX (16u << 20)

/* An ARCUS collection command (proto/coll.c parses it into this). */
struct coll_req {
    struct coll_op op;              /* what storage runs (item.h) */
    enum req_cmd_coll {
        CC_LOP_CREATE, CC_LOP_INSERT, CC_LOP_DELETE, CC_LOP_GET,
        CC_SOP_CREATE, CC_SOP_INSERT, CC_SOP_DELETE, CC_SOP_EXIST, CC_SOP_GET,
        CC_MOP_CREATE, CC_MOP_INSERT, CC_MOP_UPSERT, CC_MOP_UPDATE,
        CC_MOP_DELETE, CC_MOP_GET, CC_GETATTR, CC_SETATTR,
        CC_BOP_CREATE, CC_BOP_INSERT, CC_BOP_UPSERT, CC_BOP_UPDATE, CC_BOP_DELETE,
        CC_BOP_GET, CC_BOP_COUNT, CC_BOP_INCR, CC_BOP_DECR, CC_BOP_MGET, CC_BOP_SMGET,
        CC_BOP_POSITION, CC_BOP_GBP, CC_BOP_PWG, CC_NCMDS
    } cc;
    bool    pipe;                   /* "pipe": the reply joins a RESPONSE */
    int64_t dlen;                   /* data block after the line (-1: none);
                                     * the element value or the field list */
    bool    fields_block;           /* the block is the field list */
    uint32_t numfields;             /* mop delete/get: fields it must hold;
                                     * bop mget/smget: keys */
    bool    unique;                 /* bop smget: unique (else duplicate) */
    uint8_t names[CATTR_NAMES + 8]; /* getattr: the names asked, in order */
    uint8_t nnames;                 /* 0: all of the type's */
};

/* One parsed request line.  Pointers point into the caller's line (or
 * into meta.keybuf for a base64 key). */
struct request {
    enum req_cmd cmd;
    const char  *error;             /* non-NULL: reply with this line */
    bool         noreply;
    const char  *key;               /* single-key commands */
    size_t       nkey;
    const char  *keys;              /* get family: the keys, space separated */
    size_t       nkeys_len;
    uint32_t     flags;
    int64_t      exptime;           /* as the client sent it */
    int64_t      vlen;              /* storage: value bytes to follow */
    uint64_t     cas;
    uint64_t     delta;
    int          ntokens;           /* all tokens, command included; 0 for
                                     * a get/gets line (only keys is set) */
    struct token tokens[PROTO_MAX_TOKENS];
    bool         http_probe;        /* CMD_UNKNOWN that looks like an HTTP
                                     * request line: hang up, as memcached */
    struct {
        enum req_sub sub;
        int32_t      src, dst;      /* slabs reassign */
        uint32_t     level;         /* slabs automove; watch: its flags; stats hotkeys N */
        const char  *late_error;    /* an argument error memcached reports
                                     * only after its own checks pass
                                     * (metadump classes, shutdown mode) */
    } admin;                        /* stats slabs lru_crawler shutdown */
    struct meta_req meta;           /* mg ms md ma me */
    struct coll_req coll;           /* CMD_COLL */
    struct bin_req  bin;            /* binary protocol packets */
};

/* Parse one request line (without its "\r\n"/"\n").  Always fills r:
 * r->cmd == CMD_UNKNOWN and r->error set for a line to answer with an
 * error; for a storage command (classic or ms) with a bad header r->error
 * is set and r->vlen is the length to swallow when the length token was
 * valid (memcached 1.6.45's rule), else < 0. */
void text_parse(const char *line, size_t len, struct request *r);

/* A meta line whose command word text_parse() recognised: flags into
 * r->meta, the key (base64-decoded with b) into r->key (proto/meta.c). */
void meta_parse(enum req_cmd cmd, const char *line, size_t len, struct request *r);
/* An ARCUS collection line (lop, sop, mop, getattr, setattr; its command
 * word is tokens[0]): r->cmd = CMD_COLL and r->coll, or r->error
 * (proto/coll.c).  False if the word is not one of them. */
bool coll_parse(struct request *r);
/* Base64 of in[0..n) into out (4 * ((n + 2) / 3) bytes); returns the length. */
size_t meta_b64_encode(const char *in, size_t n, char *out);

/* The STAT lines of one "stats" group (SUB_STATS_GENERAL, _SETTINGS,
 * _ITEMS, _SLABS, _SIZES, _CONNS, _SNAPSHOT), without the END line: the
 * very text the "stats" command sends.  Thread safety: any thread,
 * workers or not (it reads per-thread counters, storage and daemon hooks
 * that lock for themselves); the monitor thread renders /metrics from it
 * (src/monitor/), so the two can never disagree.  SUB_STATS_CONNS calls
 * a hook that walks the workers' connection lists. */
void proto_stats_lines(struct obuf *o, enum req_sub sub);

/* memcached's number rules (safe_strtoull, safe_strtol into 32 bits),
 * for every dialect's parser. */
bool text_u64(const struct token *t, uint64_t *out);
bool text_i32(const struct token *t, int32_t *out);

/* Keys: 1..250 bytes; we also refuse control characters (protocol.txt). */
bool text_key_valid(const char *k, size_t n);

/* Server-level numbers for "stats", filled by the daemon. */
struct server_stats {
    long     pid;
    time_t   started;               /* unix time the server started */
    uint64_t max_connections, curr_connections, total_connections;
    uint64_t rejected_connections, connection_structures, reserved_fds;
    uint64_t threads, accepting_conns, listen_disabled_num;
    uint64_t time_in_listen_disabled_us;
    uint64_t read_buf_count, read_buf_bytes; /* connection read buffers */
    double   rusage_user, rusage_system;
    bool     ssl_enabled, ssl_session_cache;    /* -Z, ssl_session_cache */
    uint64_t ssl_handshake_errors, ssl_new_sessions;
    uint64_t ssl_cert_age;                      /* secs since the certificates loaded */
};

/* Process-wide protocol settings and hooks, set by the daemon. */
struct proto_env {
    bool   flush_enabled;           /* false with -F */
    bool   dump_enabled;            /* false with -X */
    bool   enable_shutdown;         /* -A */
    bool   use_cas;
    uint32_t item_size_max;
    const char *version;            /* "1.6.18-ng-0.1.0" */
    const char *libevent_version;   /* for "stats" */
    /* "stats" lines owned by the net/daemon layer (connections, threads,
     * settings, ...); called from a worker; may be NULL. */
    bool   track_sizes;             /* -o track_sizes: "stats sizes" enabled */
    bool   sasl;                    /* -S: binary only, authenticate first */
    bool   ascii_auth;              /* -Y: authenticate with a "set" first (authfile.h) */
    bool   watch_enabled;           /* false with -W */
    void (*server_stats)(struct server_stats *s);
    void (*stats_settings)(struct obuf *o);
    void (*stats_conns)(struct obuf *o);
    void (*stats_snapshot)(struct obuf *o);
    void (*stats_reset)(void);      /* connection counters */
    /* "shutdown": ask the daemon to stop (graceful). */
    void (*shutdown)(void);
    /* "cache_memlimit": returns 0, or -1 if too small. */
    int  (*set_memlimit)(size_t bytes);
    /* "refresh_certs": reload the TLS certificates; true, or false with
     * err (memcached's message).  NULL without TLS. */
    bool (*refresh_certs)(char *err, size_t errlen);
    /* "snapshot": start one and wait; returns NULL or an error message. */
    const char *(*snapshot)(void);
};
extern struct proto_env proto_env;

enum proto_action {
    PROTO_NEXT,                     /* go on with the next line */
    PROTO_READ_VALUE,               /* read the value into pc->viov[], then proto_value_done() */
    PROTO_SWALLOW,                  /* discard pc->swallow bytes, then go on */
    PROTO_CLOSE,                    /* flush what is queued and close (quit) */
    PROTO_CLOSE_NOW,                /* close without a reply (HTTP probe) */
    PROTO_DEFER,                    /* run pc->defer() off this thread (it may
                                     * take seconds), then proto_defer_done();
                                     * parse nothing more until then */
    PROTO_WATCH,                    /* the connection becomes a watcher of
                                     * pc->watch_flags (watch.h): write what is
                                     * queued, then hand it to the logger */
    PROTO_PAUSE,                    /* the reply is partial: output reached
                                     * PROTO_OUT_HIGH.  Call proto_line() again
                                     * with the same line once output has
                                     * drained; it goes on where it stopped */
};

/* Output a connection may have queued before it stops running requests.
 * A multiget or metadump whose reply grows past it pauses (PROTO_PAUSE)
 * and goes on as the client reads, so the output pending on a connection
 * stays near this bound whatever the request. */
#define PROTO_OUT_HIGH (1u << 20)

/* Per-connection protocol state (embedded in struct conn). */
struct proto_conn {
    struct obuf         *out;       /* where replies go */
    struct thread_stats *stats;     /* the worker's counters */
    int                  id;        /* connection id (fd) for logs */
    bool                 last_in_batch; /* no more input buffered after this line */
    /* a storage command waiting for its value */
    struct item         *it;
    enum req_cmd         scmd;
    uint64_t             scas;
    bool                 snoreply;
    struct iovec         viov[8];   /* value memory to fill ... */
    struct iovec        *viov_big;  /* ... or this, for chained items */
    int                  nviov;
    size_t               vlen;      /* value bytes expected (no "\r\n") */
    uint64_t             swallow;   /* PROTO_SWALLOW: bytes to discard */
    size_t               resume;    /* PROTO_PAUSE: where the paused request
                                     * goes on (0 = none; for a multiget the
                                     * offset of the next key in its key list) */
    uint64_t             walk_cursor; /* paused metadump: item_walk_step() cursor */
    /* an ms waiting for its value: what its reply needs (the request
     * line is gone by then) */
    struct item_mset     mset;      /* scmd == CMD_MS: how to store it */
    char                 morder[24]; /* its flags, in request order */
    int                  mnorder;
    char                 mopaque[33]; /* its O token */
    uint8_t              mnopaque;
    bool                 mb64;      /* b: return the key base64 encoded */
    /* binary protocol */
    bool                 binary;    /* this connection speaks it */
    bool                 authenticated; /* SASL or -Y done (or not required) */
    char                *auth_buf;  /* -Y: the credentials being read */
    struct {
        uint8_t          opcode;    /* the packet being answered ... */
        uint32_t         opaque_be; /* ... its opaque, as sent */
        bool             quiet;
        bool             with_key;
    } bin;                          /* kept while a store reads its value */
    void                *sasl;      /* the SASL session (proto/sasl.c) */
    bool                 sasl_started; /* an auth is under way (step allowed) */
    const char        *(*defer)(void); /* PROTO_DEFER: the slow part */
    unsigned             watch_flags; /* PROTO_WATCH: what it watches */
    uint8_t              close_reason; /* PROTO_CLOSE: enum watch_reason
                                        * (quit: normal; 0 = error) */
    /* ARCUS collections (proto/coll_exec.c) */
    struct coll_req     *creq;      /* a command waiting for its data block
                                     * (its key and field copied below) */
    char                *cbuf;      /* the data block */
    size_t               cbuf_cap;
    char                 ckey[ITEM_KEY_MAX];
    char                 cfield[COLL_FIELD_MAX];
    char                *pipe_buf;  /* "pipe": status lines held for RESPONSE */
    size_t               pipe_len, pipe_cap;
    uint32_t             pipe_n;    /* statuses held */
    bool                 pipe_drop; /* a pipe failed: skip to its end */
};

void proto_conn_init(struct proto_conn *pc, struct obuf *out,
                     struct thread_stats *ts, int id);
/* Release a pending item (connection closing mid-value). */
void proto_conn_deinit(struct proto_conn *pc);

/* Run one request line; the reply goes to pc->out. */
enum proto_action proto_line(struct proto_conn *pc, const char *line, size_t len);
/* The value of the pending storage command has been copied; term_ok says
 * whether the two bytes after it were "\r\n".  Stores and replies. */
void proto_value_done(struct proto_conn *pc, bool term_ok);
/* The slow part of a PROTO_DEFER request returned err (NULL = success):
 * compose its reply.  Call on the connection's thread. */
void proto_defer_done(struct proto_conn *pc, const char *err);
/* -S: initialise SASL (Cyrus libsasl2, src/proto/sasl.c) and require
 * authentication on every connection.  Call once before the workers
 * start.  Returns 0, or -1 with err filled (no SASL in this build, or the
 * library refused to start). */
int proto_sasl_setup(char *err, size_t errlen);

/* Run one binary packet (pkt[0..n), n = binary_need(pkt)); the reply goes
 * to pc->out.  For PROTO_READ_VALUE the value (pc->vlen bytes, no "\r\n")
 * follows the n bytes; PROTO_SWALLOW discards pc->swallow bytes after them. */
enum proto_action proto_packet(struct proto_conn *pc, const char *pkt, size_t n);

/* The iovecs to fill for PROTO_READ_VALUE. */
static inline struct iovec *
proto_value_iov(struct proto_conn *pc)
{
    return pc->viov_big ? pc->viov_big : pc->viov;
}

#endif
