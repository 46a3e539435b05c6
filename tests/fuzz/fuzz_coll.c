/*
 * fuzz_coll.c -- a structure-aware fuzz target for the ARCUS collection
 * dialect (proto/coll.c parses, proto/coll_exec.c runs, storage/coll.c
 * keeps lists, sets, maps and b+trees).
 *
 * The input bytes are choices.  Each request is one of ~35 templates
 * (lop/sop/mop/bop commands, getattr, setattr, a plain set, near misses),
 * whose parts are drawn from the input: keys from a small pool (so that
 * requests meet the same collections) or invalid ones, indexes and
 * ranges, integer and hex bkeys (odd, overlong, bad digits), eflags,
 * eflag filters (bitwise and compare operators, IN lists), eflag
 * updates, attributes and overflow actions, trailing words (noreply,
 * pipe, drop, delete, getrim, ...), and data blocks whose length token is
 * right, off by one, -1, huge or garbage, with a good or bad terminator.
 * Any part may be replaced by a garbage token.  The stream runs through
 * feed_run() against a real storage engine (fuzz_common.c), emptied first
 * so that an input replays the same way.
 *
 * Checks, on top of no crash and no sanitizer report:
 *   - every request line goes through text_parse() on its own, in a buffer
 *     of its exact size, twice into structs filled with different garbage,
 *     with the same result, and an error is one of the dialect's forms;
 *   - every reply line ends in "\r\n" and is a legal ARCUS reply: a status
 *     of the reply table, VALUE/ATTR/COUNT=/POSITION=/RESPONSE/ELEMENTS/
 *     MISSED_KEYS/TRIMMED_KEYS/ELEMENT/PIPE_ERROR lines, a number (incr),
 *     an error line, or an element line ("<bytes> <data>", "<field> ...",
 *     "<bkey> ...", "<key> ..." of smget).  Data bytes cannot form "\r\n".
 *
 * `make check` builds it as fuzz_coll_replay (tests/fuzz/corpus-coll/);
 * tests/fuzz/build.sh coll builds and runs the libFuzzer target.  With
 * FUZZ_COLL_PRINT=1 each input's stream is written to stderr.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "item.h"
#include "proto.h"

/* ---- parts ---------------------------------------------------------------- */

static const char *const KEYS[] = { "a", "b", "c", "kv", "a", "b" };
static const char *const FIELDS[] = { "f1", "f2", "f3", "field" };
static const char *const GARBAGE[] = {
    "x", "-", "..", "1..", "..2", "0x", "0xZZ", "0x123", "-1", "-2147483649",
    "18446744073709551616", "99999999999999999999", "1.5", "\x01", "EQ", "&", "create",
    "0x00112233445566778899AABBCCDDEEFF00112233445566778899AABBCCDDEEFF00",
};
static const char *const TAIL[] = { "noreply", "pipe", "drop", "delete", "getrim", "unreadable",
                                    "pipe", "noreply" };
static const char *const OVFL[] = { "error", "head_trim", "tail_trim", "smallest_trim",
                                    "largest_trim", "smallest_silent_trim",
                                    "largest_silent_trim", "bogus_trim" };
static const char *const ATTRS[] = { "flags", "expiretime", "type", "count", "maxcount",
                                     "overflowaction", "readable", "maxbkeyrange", "minbkey",
                                     "maxbkey", "trimmed", "nosuch" };
/* Data bytes: no "\r" or "\n", so element lines stay lines; with a wrong
 * length a block runs as request lines, which can only be unknown. */
static const char DATA[] = "0123456789abxyz ";

static void
num(struct fuzz_buf *b, long long v)
{
    char t[32];
    snprintf(t, sizeof(t), "%lld", v);
    fuzz_buf_str(b, t);
}

static void
sp(struct fuzz_buf *b)
{
    fuzz_buf_str(b, " ");
}

/* A small number, sometimes negative or huge. */
static void
gen_num(struct fuzz_buf *b, struct src *s)
{
    unsigned k = pick(s, 16);
    if (k < 10)
        num(b, k);
    else if (k < 13)
        num(b, pick(s, 256) * 200);
    else if (k == 13)
        num(b, -(long long)pick(s, 8));
    else
        fuzz_buf_str(b, PICK(s, GARBAGE));
}

static void
gen_hex(struct fuzz_buf *b, struct src *s, unsigned maxbytes)
{
    static const char HEX[] = "0123456789ABCDEFabcdefG";
    unsigned n = pick(s, maxbytes + 1);
    fuzz_buf_str(b, "0x");
    for (unsigned i = 0; i < 2 * n + (pick(s, 16) == 0); i++) {
        char c = HEX[pick(s, 16) == 0 ? pick(s, sizeof(HEX) - 1) : pick(s, 16)];
        fuzz_buf_add(b, &c, 1);
    }
}

/* An integer bkey (mostly) or a hex one. */
static void
gen_bkey(struct fuzz_buf *b, struct src *s)
{
    unsigned k = pick(s, 16);
    if (k < 11)
        num(b, pick(s, 64));
    else if (k < 14)
        gen_hex(b, s, k == 13 ? 33 : 3);
    else if (k == 14)
        fuzz_buf_str(b, "18446744073709551615");
    else
        fuzz_buf_str(b, PICK(s, GARBAGE));
}

static void
gen_brange(struct fuzz_buf *b, struct src *s)
{
    gen_bkey(b, s);
    if (pick(s, 4) != 0) {
        fuzz_buf_str(b, "..");
        gen_bkey(b, s);
    }
}

static void
gen_range(struct fuzz_buf *b, struct src *s)
{
    num(b, (long long)pick(s, 12) - 4);
    if (pick(s, 4) != 0) {
        fuzz_buf_str(b, "..");
        num(b, (long long)pick(s, 12) - 4);
    }
}

/* [<eflag_filter>] */
static void
gen_filter(struct fuzz_buf *b, struct src *s)
{
    static const char *const BITW[] = { "&", "|", "^" };
    static const char *const COMP[] = { "EQ", "NE", "LT", "LE", "GT", "GE", "XX" };
    if (pick(s, 3) != 0)
        return;
    sp(b);
    num(b, pick(s, 4));
    if (pick(s, 3) == 0) {
        sp(b);
        fuzz_buf_str(b, PICK(s, BITW));
        sp(b);
        gen_hex(b, s, 2);
    }
    sp(b);
    fuzz_buf_str(b, PICK(s, COMP));
    sp(b);
    for (unsigned i = 0, n = 1 + (pick(s, 4) == 0 ? pick(s, 4) : 0); i < n; i++) {
        if (i > 0)
            fuzz_buf_str(b, ",");
        gen_hex(b, s, 2);
    }
}

/* <flags> <exptime> [<maxcount>] [<ovflaction>] [unreadable] */
static void
gen_attrs(struct fuzz_buf *b, struct src *s)
{
    static const long long MAXC[] = { 0, 1, 2, 3, 5, 50000, 50001 };
    num(b, pick(s, 4));
    sp(b);
    num(b, pick(s, 8) == 0 ? -1 : 0);
    if (pick(s, 8) != 0) {
        sp(b);
        num(b, MAXC[pick(s, 7)]);
    }
    if (pick(s, 3) == 0) {
        sp(b);
        fuzz_buf_str(b, PICK(s, OVFL));
    }
    if (pick(s, 6) == 0)
        fuzz_buf_str(b, " unreadable");
}

static void
gen_tail(struct fuzz_buf *b, struct src *s)
{
    for (unsigned i = 0, n = pick(s, 4) == 0 ? 1 + pick(s, 2) : 0; i < n; i++) {
        sp(b);
        fuzz_buf_str(b, PICK(s, TAIL));
    }
}

static void
gen_create(struct fuzz_buf *b, struct src *s)
{
    if (pick(s, 3) == 0) {
        fuzz_buf_str(b, " create ");
        gen_attrs(b, s);
    }
}

/* A data block's length token for n bytes: right, off, -1, huge, none. */
static void
gen_len(struct fuzz_buf *b, struct src *s, size_t n)
{
    unsigned k = pick(s, 16);
    if (k < 12)
        num(b, (long long)n);
    else if (k == 12)
        num(b, (long long)n + 1);
    else if (k == 13)
        num(b, (long long)n - 1);
    else if (k == 14)
        fuzz_buf_str(b, pick(s, 2) ? "16383" : "-1");
    else
        fuzz_buf_str(b, PICK(s, GARBAGE));
}

static void
gen_data(struct fuzz_buf *d, struct src *s)
{
    static const size_t big[] = { 100, 1000, 16382, 16383 };
    unsigned k = pick(s, 16);
    size_t n = k < 13 ? k : big[pick(s, 4)];
    for (size_t i = 0; i < n; i++) {
        char c = DATA[(k < 13 ? pick(s, 256) : i) % (sizeof(DATA) - 1)];
        fuzz_buf_add(d, &c, 1);
    }
}

/* A space separated list of keys or fields: the block of mop get/delete,
 * bop mget/smget. */
static unsigned
gen_list(struct fuzz_buf *d, struct src *s, const char *const *pool, size_t npool)
{
    unsigned n = 1 + pick(s, 4);
    for (unsigned i = 0; i < n; i++) {
        if (i > 0)
            fuzz_buf_str(d, pick(s, 8) == 0 ? "," : " ");
        fuzz_buf_str(d, pool[pick(s, (unsigned)npool)]);
    }
    return n;
}

/* ---- requests ---------------------------------------------------------------- */

enum block { B_NONE, B_DATA, B_LIST };

/* One request: its line into line (without "\r\n"), its block (if any)
 * into blk; what kind of block follows. */
static enum block
gen_request(struct fuzz_buf *line, struct fuzz_buf *blk, struct src *s)
{
    static const char *const CMDS[] = {
        "lop create", "lop insert", "lop delete", "lop get",
        "sop create", "sop insert", "sop delete", "sop exist", "sop get",
        "mop create", "mop insert", "mop upsert", "mop update", "mop delete", "mop get",
        "bop create", "bop insert", "bop upsert", "bop update", "bop delete", "bop get",
        "bop count", "bop incr", "bop decr", "bop mget", "bop smget", "bop position",
        "bop gbp", "bop pwg", "getattr", "setattr", "set", "bop frob", "lop", "bop insert",
        "bop get", "bop get",
    };
    line->len = blk->len = 0;
    const char *cmd = PICK(s, CMDS);
    fuzz_buf_str(line, cmd);
    enum block bl = B_NONE;
    bool multi = strcmp(cmd, "bop mget") == 0 || strcmp(cmd, "bop smget") == 0;
    if (!multi && pick(s, 32) != 0) {
        sp(line);
        fuzz_buf_str(line, pick(s, 32) == 0 ? PICK(s, GARBAGE) : PICK(s, KEYS));
    }
    const char *sub = strchr(cmd, ' ') != NULL ? strchr(cmd, ' ') + 1 : cmd;
    char c = cmd[0];
    if (strcmp(sub, "create") == 0) {
        sp(line);
        gen_attrs(line, s);
        gen_tail(line, s);
    } else if (strcmp(cmd, "set") == 0) {
        fuzz_buf_str(line, " 0 0 ");
        bl = B_DATA;
    } else if (c == 'l' && strcmp(sub, "insert") == 0) {
        sp(line);
        num(line, (long long)pick(s, 8) - 3);
        sp(line);
        bl = B_DATA;
    } else if (c == 'l' && (strcmp(sub, "get") == 0 || strcmp(sub, "delete") == 0)) {
        sp(line);
        gen_range(line, s);
        gen_tail(line, s);
    } else if (c == 's' && strcmp(sub, "get") == 0) {
        sp(line);
        gen_num(line, s);
        gen_tail(line, s);
    } else if (c == 's') {                  /* insert delete exist */
        sp(line);
        bl = B_DATA;
    } else if (c == 'm' && (strcmp(sub, "get") == 0 || strcmp(sub, "delete") == 0)) {
        bl = pick(s, 3) == 0 ? B_NONE : B_LIST;
        if (bl == B_NONE)
            fuzz_buf_str(line, " 0 0");
    } else if (c == 'm') {                  /* insert upsert update */
        sp(line);
        fuzz_buf_str(line, PICK(s, FIELDS));
        sp(line);
        bl = B_DATA;
    } else if (strcmp(cmd, "bop insert") == 0 || strcmp(cmd, "bop upsert") == 0) {
        sp(line);
        gen_bkey(line, s);
        if (pick(s, 2) == 0) {
            sp(line);
            gen_hex(line, s, 3);
        }
        sp(line);
        bl = B_DATA;
    } else if (strcmp(cmd, "bop update") == 0) {
        sp(line);
        gen_bkey(line, s);
        unsigned u = pick(s, 4);
        if (u == 1) {
            sp(line);
            gen_hex(line, s, 2);
        } else if (u == 2) {
            sp(line);
            num(line, pick(s, 3));
            fuzz_buf_str(line, pick(s, 2) ? " & " : " | ");
            gen_hex(line, s, 2);
        } else if (u == 3) {
            fuzz_buf_str(line, " 0");
        }
        sp(line);
        if (pick(s, 3) == 0)
            fuzz_buf_str(line, "-1");
        else
            bl = B_DATA;
    } else if (strcmp(cmd, "bop delete") == 0 || strcmp(cmd, "bop get") == 0 ||
               strcmp(cmd, "bop count") == 0) {
        sp(line);
        gen_brange(line, s);
        gen_filter(line, s);
        for (unsigned i = 0, n = pick(s, 3); i < n; i++) {
            sp(line);
            num(line, pick(s, 6));
        }
        gen_tail(line, s);
    } else if (strcmp(cmd, "bop incr") == 0 || strcmp(cmd, "bop decr") == 0) {
        sp(line);
        gen_bkey(line, s);
        sp(line);
        gen_num(line, s);
        if (pick(s, 2) == 0) {
            sp(line);
            gen_num(line, s);
            if (pick(s, 2) == 0) {
                sp(line);
                gen_hex(line, s, 2);
            }
        }
        gen_tail(line, s);
    } else if (multi) {
        bl = B_LIST;
    } else if (strcmp(cmd, "bop position") == 0 || strcmp(cmd, "bop pwg") == 0) {
        sp(line);
        gen_bkey(line, s);
        fuzz_buf_str(line, pick(s, 2) ? " asc" : " desc");
        if (cmd[4] == 'p' && cmd[5] == 'w' && pick(s, 2) == 0) {
            sp(line);
            num(line, pick(s, 4) == 0 ? 101 : pick(s, 5));
        }
    } else if (strcmp(cmd, "bop gbp") == 0) {
        fuzz_buf_str(line, pick(s, 2) ? " asc " : " desc ");
        gen_range(line, s);
    } else if (strcmp(cmd, "getattr") == 0) {
        for (unsigned i = 0, n = pick(s, 4); i < n; i++) {
            sp(line);
            fuzz_buf_str(line, PICK(s, ATTRS));
        }
    } else if (strcmp(cmd, "setattr") == 0) {
        for (unsigned i = 0, n = pick(s, 3); i < n; i++) {
            sp(line);
            fuzz_buf_str(line, PICK(s, ATTRS));
            fuzz_buf_str(line, "=");
            unsigned v = pick(s, 6);
            if (v == 0)
                fuzz_buf_str(line, PICK(s, OVFL));
            else if (v == 1)
                fuzz_buf_str(line, pick(s, 2) ? "on" : "off");
            else if (v == 2)
                gen_hex(line, s, 2);
            else
                gen_num(line, s);
        }
    }
    if (bl == B_DATA) {
        gen_data(blk, s);
        gen_len(line, s, blk->len);
        if (strcmp(sub, "insert") == 0 || strcmp(sub, "upsert") == 0)
            gen_create(line, s);
        gen_tail(line, s);
    } else if (bl == B_LIST) {
        unsigned n = multi ? gen_list(blk, s, KEYS, 4) : gen_list(blk, s, FIELDS, 4);
        sp(line);
        gen_len(line, s, blk->len);
        sp(line);
        num(line, pick(s, 8) == 0 ? n + 1 : n);
        if (multi) {
            sp(line);
            gen_brange(line, s);
            gen_filter(line, s);
            for (unsigned i = 0, k = 1 + pick(s, 2); i < k; i++) {
                sp(line);
                num(line, pick(s, 8) == 0 ? 0 : 1 + pick(s, 4));
            }
            if (cmd[4] == 's' && pick(s, 8) != 0)
                fuzz_buf_str(line, pick(s, 2) ? " duplicate" : " unique");
        } else {
            gen_tail(line, s);
        }
    }
    if (pick(s, 32) == 0) {                 /* a garbage token anywhere at the end */
        sp(line);
        fuzz_buf_str(line, PICK(s, GARBAGE));
    }
    return bl;
}

/* ---- text_parse() on one line ------------------------------------------------- */

#define PARSE_CHECK(c, what) \
    do { if (!(c)) fuzz_fail("text_parse(\"%.*s\"): %s", (int)(len > 200 ? 200 : len), \
                             line, what); } while (0)

static bool
starts(const char *p, size_t n, const char *s)
{
    size_t k = strlen(s);
    return n >= k && memcmp(p, s, k) == 0;
}

static void
check_parse(const char *src, size_t len)
{
    char *line = malloc(len > 0 ? len : 1);  /* exact size: ASan sees overreads */
    if (line == NULL)
        abort();
    memcpy(line, src, len);
    static struct request r, r2;
    memset(&r, 0xa5, sizeof(r));
    memset(&r2, 0x5a, sizeof(r2));
    text_parse(line, len, &r);
    text_parse(line, len, &r2);
    PARSE_CHECK(r.cmd == r2.cmd && r.error == r2.error && r.noreply == r2.noreply &&
                r.nkey == r2.nkey, "two parses differ");
    if (r.error != NULL) {
        size_t n = strlen(r.error);
        PARSE_CHECK(starts(r.error, n, "CLIENT_ERROR ") || starts(r.error, n, "ERROR") ||
                    starts(r.error, n, "ATTR_ERROR ") || strcmp(r.error, "NOTHING_TO_UPDATE") == 0,
                    "an error of no known form");
    }
    if (r.cmd == CMD_COLL) {
        const struct coll_req *c = &r.coll, *c2 = &r2.coll;
        PARSE_CHECK(c->cc == c2->cc && c->pipe == c2->pipe && c->op.code == c2->op.code,
                    "two parses differ (collection)");
        if (r.error == NULL) {
            PARSE_CHECK(c->cc < CC_NCMDS, "command");
            PARSE_CHECK(c->dlen == c2->dlen && c->dlen >= -1, "block length");
            PARSE_CHECK(!(r.noreply && c->pipe), "noreply and pipe");
            PARSE_CHECK(c->op.bkey.len <= COLL_BKEY_MAX && c->op.eflag.len <= COLL_BKEY_MAX &&
                        c->op.filter.nvals <= COLL_EFLAG_IN_MAX &&
                        (size_t)c->op.filter.offset + c->op.filter.len <= COLL_BKEY_MAX,
                        "bkey, eflag or filter beyond the limits");
            if (c->cc != CC_BOP_MGET && c->cc != CC_BOP_SMGET)
                PARSE_CHECK(text_key_valid(r.key, r.nkey), "invalid key accepted");
        }
    }
    free(line);
}

/* ---- the replies ----------------------------------------------------------------- */

#define REPLY_CHECK(c, what) \
    do { if (!(c)) fuzz_fail("illegal ARCUS reply \"%.*s\": %s", (int)(n > 200 ? 200 : n), \
                             line, what); } while (0)

static bool
is_num(const char *p, size_t n)
{
    if (n == 0 || n > 20)
        return false;
    for (size_t i = 0; i < n; i++)
        if (p[i] < '0' || p[i] > '9')
            return false;
    return true;
}

static void
check_reply(const char *line, size_t n, bool long_line, void *arg)
{
    (void)arg;
    if (long_line)
        return;                             /* a long element line: its start only */
    REPLY_CHECK(n >= 2 && line[n - 2] == '\r' && line[n - 1] == '\n', "no \\r\\n");
    n -= 2;
    static const char *const STATUS[] = {
        "CREATED", "STORED", "CREATED_STORED", "REPLACED", "UPDATED", "DELETED",
        "DELETED_DROPPED", "EXISTS", "NOT_FOUND", "NOT_FOUND_ELEMENT", "TYPE_MISMATCH",
        "OVERFLOWED", "OUT_OF_RANGE", "ELEMENT_EXISTS", "UNREADABLE", "BKEY_MISMATCH",
        "EFLAG_MISMATCH", "NOTHING_TO_UPDATE", "EXIST", "NOT_EXIST", "END", "TRIMMED",
        "DUPLICATED", "OK", "ERROR", "NOT_STORED",
    };
    for (size_t i = 0; i < sizeof(STATUS) / sizeof(STATUS[0]); i++)
        if (strlen(STATUS[i]) == n && memcmp(line, STATUS[i], n) == 0)
            return;
    static const char *const PREFIX[] = {
        "VALUE ", "ATTR ", "COUNT=", "POSITION=", "RESPONSE ", "ELEMENTS ", "MISSED_KEYS ",
        "TRIMMED_KEYS ", "ELEMENT ", "CLIENT_ERROR ", "SERVER_ERROR ", "ATTR_ERROR ",
        "PIPE_ERROR ",
    };
    for (size_t i = 0; i < sizeof(PREFIX) / sizeof(PREFIX[0]); i++)
        if (starts(line, n, PREFIX[i])) {
            REPLY_CHECK(n > strlen(PREFIX[i]), "nothing after the prefix");
            return;
        }
    /* an element line, an incr value: its first token */
    const char *sp1 = memchr(line, ' ', n);
    size_t k = sp1 != NULL ? (size_t)(sp1 - line) : n;
    if (is_num(line, k) || (k > 2 && line[0] == '0' && line[1] == 'x'))
        return;
    for (size_t i = 0; i < sizeof(FIELDS) / sizeof(FIELDS[0]); i++)
        if (sp1 != NULL && strlen(FIELDS[i]) == k && memcmp(line, FIELDS[i], k) == 0)
            return;
    for (size_t i = 0; i < sizeof(KEYS) / sizeof(KEYS[0]); i++)
        if (sp1 != NULL && strlen(KEYS[i]) == k && memcmp(line, KEYS[i], k) == 0)
            return;                         /* smget: <key> <flags> ... or <key> <cause> */
    REPLY_CHECK(false, "not an ARCUS reply line");
}

/* ---- the target -------------------------------------------------------------------- */

/* Input layout: byte 0 picks -R (1..16), byte 1 the chunk-size seed, the
 * rest the requests (at most 64 an input). */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int print = -1;
    if (print < 0)
        print = getenv("FUZZ_COLL_PRINT") != NULL;
    fuzz_setup();
    fuzz_value_lines = true;
    if (size < 2)
        return 0;
    item_flush(0);                          /* every input starts empty */
    struct src s = { data + 2, size - 2 };
    struct fuzz_buf stream = { NULL, 0, 0 }, line = { NULL, 0, 0 }, blk = { NULL, 0, 0 };
    for (int i = 0; i < 64 && s.n > 0; i++) {
        enum block bl = gen_request(&line, &blk, &s);
        check_parse(line.p, line.len);
        fuzz_buf_add(&stream, line.p, line.len);
        fuzz_buf_str(&stream, "\r\n");
        if (bl != B_NONE) {
            static const char *const END[] = { "\r\n", "\r\n", "\r\n", "\r\n", "\r\n",
                                               "\r\n", "\r\n", "\n", "", "xy" };
            fuzz_buf_add(&stream, blk.p, blk.len);
            fuzz_buf_str(&stream, PICK(&s, END));
        }
    }
    fuzz_run_stream(&stream, data, print, check_reply, NULL);
    fuzz_buf_free(&stream);
    fuzz_buf_free(&line);
    fuzz_buf_free(&blk);
    return 0;
}

#ifdef FUZZ_REPLAY
int
main(int argc, char **argv)
{
    return fuzz_replay_main(argc, argv, "fuzz_coll_replay", FUZZ_CORPUS, NULL, 20000);
}
#endif
