/*
 * fuzz_meta.c -- a structure-aware fuzz target for the meta protocol
 * (proto/meta.c parses, proto/meta_exec.c runs).
 *
 * The input bytes are not sent as they are: they are choices.  Each
 * request takes a command (mg ms md ma mn me, or a near miss), a key (from
 * a small pool so that requests meet the same items; base64 with b;
 * invalid, overlong, binary, or raw input bytes), up to 31 flags from the
 * whole flag alphabet of memcached 1.6.45's meta commands and some bogus
 * letters, each with a token (none, small, negative, huge, overlong
 * opaque, modes, garbage), and for ms a length (right, off by one,
 * wrapping, negative, not a number) and a data block (small, up to past
 * the 64 KB item limit, a good or bad terminator).  The requests become a
 * stream run through feed_run() against a real storage engine exactly as
 * fuzz_text.c does (fuzz_common.c), flushed first so an input replays the
 * same way.
 *
 * Checks, on top of no crash and no sanitizer report:
 *   - every request line goes through text_parse() on its own, in a
 *     buffer of its exact size (a read past the line is an ASan report),
 *     into a struct request filled with garbage first, twice with the same
 *     result, and the result keeps struct request's promises (check_parse);
 *   - every reply is framed (fuzz_feed) and every reply line is a legal
 *     meta reply: HD VA EN NS EX NF with well-formed return flags, MN, ME
 *     <key> <fields>, CLIENT_ERROR ..., SERVER_ERROR ..., ERROR
 *     (check_reply).  Data blocks are made of bytes that can only form
 *     meta commands or unknown ones, so a block of the wrong length, run
 *     as commands, gets legal replies too.
 *
 * `make check` builds it as fuzz_meta_replay (tests/fuzz/corpus-meta/);
 * tests/fuzz/build.sh meta builds and runs the libFuzzer target.  With
 * FUZZ_META_PRINT=1 in the environment each input's stream is written to
 * stderr (what a crash file means).
 */
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "item.h"
#include "proto.h"

/* ---- the generator --------------------------------------------------------- */

/* The letters of 1.6.45's meta flags, then letters no command takes. */
static const char FLAGS[] = "bcCEfFhIJklMNOPLqRsStTuvxD" "aAgjmnorwyzBGHKQUVWXYZ!0";
/* Keys requests share, plain and (with b) base64 encoded.  Binary ones
 * can only be sent base64 encoded. */
static const char *const POOL[] = { "a", "k1", "key:2", "x/y", "k1\x01", "a b", "\0\r\n" };
#define POOL_PLAIN 4
static const size_t POOL_LEN[] = { 1, 2, 5, 3, 3, 3, 3 };
/* Data bytes: with a wrong length a block runs as request lines; these
 * can only make meta commands ("mg", "mn", ...) or unknown ones. */
static const char DATA[] = "0123456789xyz \r\nmgn";

static const char *const BAD_CMD[] = { "m", "mx", "MG", "mgg", "mnn", "me\x01", "ms\r" };
static const char *const BAD_B64[] = {
    "a", "ab=", "====", "a===", "ab=c", "!!!!", "YQ==YQ==", "YWJj\x01", "YQ", "YWJjZA=",
};
static const char *const NEG[] = { "-1", "-100", "-0", "-2147483648", "-2147483649",
                                   "-9223372036854775808", "-9223372036854775809" };
static const char *const HUGE[] = {
    "2147483647", "2147483648", "4294967295", "4294967296", "4294967297",
    "9223372036854775807", "9223372036854775808", "18446744073709551615",
    "18446744073709551616", "99999999999999999999999999999999999999",
    "0000000000000000000000000000000000000005",
};
static const char *const MODES[] = { "E", "A", "P", "R", "S", "I", "+", "D", "-",
                                     "e", "a", "p", "r", "s", "i", "d", "X", "SS", "II", "\x01" };
static const char *const GARBAGE[] = { "1x", "0x10", "+5", "1.5", "\x01", "\r", "5 ", "1e3",
                                       "12345678901234567890123456789012" };
static const char *const LINE_END[] = { "\r\n", "\r\n", "\r\n", "\r\n", "\r\n", "\r\n",
                                        "\r\n", "\r\n", "\n", "\r\r\n", " \r\n", "  \r\n" };

/* n bytes of input mapped into alphabet a (no ' ' or '\n' unless a has). */
static void
add_bytes(struct fuzz_buf *b, struct src *s, size_t n, const char *a)
{
    size_t na = strlen(a);
    for (size_t i = 0; i < n; i++) {
        char c = a[pick(s, 256) % na];
        fuzz_buf_add(b, &c, 1);
    }
}

static void
add_b64(struct fuzz_buf *b, const char *k, size_t n)
{
    char out[4 * ((1024 + 2) / 3)];
    fuzz_buf_add(b, out, meta_b64_encode(k, n, out));
}

/* The key token; returns whether the flags must include b. */
static bool
gen_key(struct fuzz_buf *b, struct src *s)
{
    static const char KEYCH[] = "abcdefghijklmnopqrstuvwxyz0123456789_:/-.ABCZ\x01\x7f\r\t";
    char big[1024];
    unsigned k = pick(s, 16);
    switch (k) {
    case 0: case 1: case 2: case 3: case 4: case 5: case 6: {
        unsigned i = pick(s, POOL_PLAIN);
        fuzz_buf_add(b, POOL[i], POOL_LEN[i]);
        return false;
    }
    case 7: case 8: case 9: {               /* the pool, base64 */
        unsigned i = pick(s, sizeof(POOL) / sizeof(POOL[0]));
        add_b64(b, POOL[i], POOL_LEN[i]);
        return true;
    }
    case 10: {                              /* around the 250-byte limit */
        static const size_t len[] = { 249, 250, 251, 300, 1000 };
        size_t n = len[pick(s, 5)];
        memset(big, 'L', n);
        fuzz_buf_add(b, big, n);
        return false;
    }
    case 11: {                              /* base64 of a long key */
        static const size_t len[] = { 1, 2, 3, 186, 187, 188, 250, 251, 600 };
        size_t n = len[pick(s, 9)];
        memset(big, 'B', n);
        add_b64(b, big, n);
        return true;
    }
    case 12:
        fuzz_buf_str(b, PICK(s, BAD_B64));
        return true;
    case 13:                                /* control characters */
        fuzz_buf_str(b, pick(s, 2) ? "k\x01y" : "k\x7f");
        return false;
    default: {                              /* raw: 0 bytes = no key at all */
        size_t n = pick(s, 13);
        add_bytes(b, s, n, KEYCH);
        return pick(s, 4) == 0;
    }
    }
}

static void
gen_token(struct fuzz_buf *b, struct src *s)
{
    static const char OPQ[] = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";
    char num[16];
    switch (pick(s, 16)) {
    case 6: case 7: case 8:
        snprintf(num, sizeof(num), "%u", pick(s, 256));
        fuzz_buf_str(b, num);
        break;
    case 9:
        fuzz_buf_str(b, PICK(s, NEG));
        break;
    case 10:
        fuzz_buf_str(b, PICK(s, HUGE));
        break;
    case 11:                                /* an opaque, up to past 32 */
        add_bytes(b, s, pick(s, 48), OPQ);
        break;
    case 12: case 13:
        fuzz_buf_str(b, PICK(s, MODES));
        break;
    case 14:
        fuzz_buf_str(b, PICK(s, GARBAGE));
        break;
    default:                                /* no token */
        break;
    }
}

/* One request.  Its line, as feed_run() finds it (up to the "\n"), is
 * left in line. */
static void
gen_request(struct fuzz_buf *b, struct fuzz_buf *line, struct src *s)
{
    static const char *const CMDS[] = { "mg", "mg", "mg", "ms", "ms", "ms", "md", "md",
                                        "ma", "ma", "mn", "me", "mg", "ms", "ma" };
    line->len = 0;
    if (pick(s, 16) == 0)
        fuzz_buf_str(line, " ");
    unsigned c = pick(s, 16);
    const char *cmd = c < 15 ? CMDS[c] : PICK(s, BAD_CMD);
    fuzz_buf_str(line, cmd);
    bool ms = strcmp(cmd, "ms") == 0;
    bool b64 = false;
    if (strcmp(cmd, "mn") != 0 || pick(s, 4) == 0) {
        fuzz_buf_str(line, " ");
        b64 = gen_key(line, s);
    }
    /* ms: the data block and its length token */
    size_t dlen = 0;
    if (ms) {
        static const size_t big[] = { 1000, 16384, 65000, 65536, 70000 };
        unsigned d = pick(s, 16);
        dlen = d < 12 ? d : d < 15 ? pick(s, 256) : big[pick(s, 5)];
        char num[24];
        unsigned l = pick(s, 16);
        if (l < 10)
            snprintf(num, sizeof(num), "%zu", dlen);
        else if (l == 10)
            snprintf(num, sizeof(num), "%zu", dlen + 1);
        else if (l == 11)
            snprintf(num, sizeof(num), "%lld", (long long)dlen - 1);
        else if (l == 12)
            snprintf(num, sizeof(num), "%s", PICK(s, HUGE));
        else if (l == 13)
            snprintf(num, sizeof(num), "%s", PICK(s, NEG));
        else if (l == 14)
            snprintf(num, sizeof(num), "%s", PICK(s, GARBAGE));
        else
            num[0] = '\0';                  /* none */
        if (num[0] != '\0') {
            fuzz_buf_str(line, " ");
            fuzz_buf_str(line, num);
        }
    }
    unsigned nflags = pick(s, 16);
    if (nflags >= 12)
        nflags = 12 + pick(s, 20);          /* past the 24 tokens a line has */
    bool b_done = false;
    for (unsigned i = 0; i < nflags || (b64 && !b_done); i++) {
        char f = i < nflags ? FLAGS[pick(s, sizeof(FLAGS) - 1)] : 'b';
        fuzz_buf_str(line, pick(s, 16) == 0 ? "  " : " ");
        fuzz_buf_add(line, &f, 1);
        gen_token(line, s);
        b_done |= f == 'b';
    }
    const char *end = LINE_END[pick(s, sizeof(LINE_END) / sizeof(LINE_END[0]))];
    fuzz_buf_add(line, end, strlen(end) - 1);   /* the line as feed_run() sees it */
    fuzz_buf_add(b, line->p, line->len);
    fuzz_buf_str(b, "\n");
    if (ms) {
        if (dlen <= 256) {
            add_bytes(b, s, dlen, DATA);
        } else {
            char *p = malloc(dlen);
            if (p == NULL)
                abort();
            memset(p, 'x', dlen);
            fuzz_buf_add(b, p, dlen);
            free(p);
        }
        static const char *const END[] = { "\r\n", "\r\n", "\r\n", "\r\n", "\r\n",
                                           "\r\n", "\n", "", "xy", "\r" };
        fuzz_buf_str(b, PICK(s, END));
    }
}

/* ---- text_parse() on one line ---------------------------------------------- */

static const char *const ERRORS[] = {
    "ERROR",
    "CLIENT_ERROR bad command line format",
    "CLIENT_ERROR bad token in command line format",
    "CLIENT_ERROR invalid flag",
    "CLIENT_ERROR duplicate flag",
    "CLIENT_ERROR invalid or duplicate flag",
    "CLIENT_ERROR opaque token too long",
    "CLIENT_ERROR error decoding key",
    "CLIENT_ERROR incorrect length for M token",
    "CLIENT_ERROR invalid mode for ms M token",
    "CLIENT_ERROR invalid mode for ma M token",
    "CLIENT_ERROR invalid numeric delta value",
    "CLIENT_ERROR invalid numeric initial value",
    "CLIENT_ERROR options flags are too long",
    "CLIENT_ERROR options flags too long",
};

static bool
inside(const char *p, size_t n, const char *base, size_t len)
{
    return p >= base && p <= base + len && n <= (size_t)(base + len - p);
}

#define PARSE_CHECK(c, what) \
    do { if (!(c)) fuzz_fail("text_parse(\"%.*s\"): %s", (int)(len > 200 ? 200 : len), \
                             line, what); } while (0)

/* The meta command a line starts with (the test's own reading of it). */
static enum req_cmd
meta_cmd(const char *line, size_t len)
{
    static const struct {
        char         name[3];
        enum req_cmd cmd;
    } meta[] = { { "mg", CMD_MG }, { "ms", CMD_MS }, { "md", CMD_MD },
                 { "ma", CMD_MA }, { "mn", CMD_MN }, { "me", CMD_ME } };
    size_t i = 0;
    while (i < len && line[i] == ' ')
        i++;
    if (len - i < 2 || (len - i > 2 && line[i + 2] != ' '))
        return CMD_UNKNOWN;
    for (size_t k = 0; k < sizeof(meta) / sizeof(meta[0]); k++)
        if (memcmp(line + i, meta[k].name, 2) == 0)
            return meta[k].cmd;
    return CMD_UNKNOWN;
}

/* A decoded base64 key decodes back from its own encoding. */
static bool
b64_roundtrip(const char *key, size_t nkey)
{
    char line[8 + 4 * ((ITEM_KEY_MAX_DECODED + 2) / 3)];
    memcpy(line, "mg ", 3);
    size_t n = 3 + meta_b64_encode(key, nkey, line + 3);
    memcpy(line + n, " b", 2);
    static struct request r;
    text_parse(line, n + 2, &r);
    return r.error == NULL && r.nkey == nkey && memcmp(r.key, key, nkey) == 0;
}

static void
parse_one(const char *line, size_t len, struct request *r, int fill)
{
    memset(r, fill, sizeof(*r));
    text_parse(line, len, r);
}

static void
check_parse(const char *src, size_t len)
{
    /* exactly len bytes on the heap: ASan sees any read past the line */
    char *line = malloc(len > 0 ? len : 1);
    if (line == NULL)
        abort();
    memcpy(line, src, len);
    static struct request r, r2;
    parse_one(line, len, &r, 0xa5);
    parse_one(line, len, &r2, 0x5a);

    PARSE_CHECK(r.ntokens >= 0 && r.ntokens <= PROTO_MAX_TOKENS, "token count");
    for (int i = 0; i < r.ntokens; i++) {
        PARSE_CHECK(r.tokens[i].n > 0 && inside(r.tokens[i].s, r.tokens[i].n, line, len),
                    "token outside the line");
        PARSE_CHECK(memchr(r.tokens[i].s, ' ', r.tokens[i].n) == NULL, "token with a space");
    }
    bool known = r.error == NULL;
    for (size_t i = 0; i < sizeof(ERRORS) / sizeof(ERRORS[0]) && !known; i++)
        known = strcmp(r.error, ERRORS[i]) == 0;
    PARSE_CHECK(known, "unknown error string");

    /* the same line parses the same way, whatever was in the struct */
    PARSE_CHECK(r.cmd == r2.cmd && r.error == r2.error && r.noreply == r2.noreply &&
                r.nkey == r2.nkey && r.vlen == r2.vlen, "two parses differ");
    if (r.key == r.meta.keybuf)             /* a decoded base64 key */
        PARSE_CHECK(r2.key == r2.meta.keybuf && memcmp(r.key, r2.key, r.nkey) == 0,
                    "two parses differ (base64 key)");
    else
        PARSE_CHECK(r.key == r2.key, "two parses differ (key)");

    enum req_cmd want = meta_cmd(line, len);
    if (want == CMD_UNKNOWN) {
        PARSE_CHECK(r.cmd == CMD_UNKNOWN && r.error != NULL && strcmp(r.error, "ERROR") == 0,
                    "not a meta command, not ERROR");
        free(line);
        return;
    }
    PARSE_CHECK(r.cmd == want || (r.cmd == CMD_UNKNOWN && r.error != NULL &&
                                  strcmp(r.error, "ERROR") == 0), "wrong command");
    if (r.cmd == CMD_UNKNOWN || r.cmd == CMD_MN) {
        free(line);
        return;
    }
    const struct meta_req *m = &r.meta;
    PARSE_CHECK(m->seen == r2.meta.seen && m->norder == r2.meta.norder &&
                m->opaque.n == r2.meta.opaque.n && m->late_error == r2.meta.late_error,
                "two parses differ (meta)");
    PARSE_CHECK(m->norder >= 0 && m->norder <= (int)sizeof(m->order), "flag order count");
    for (int i = 0; i < m->norder; i++) {
        PARSE_CHECK(strchr("bcCDEfFhIJklMNOqRstTuvxPL", m->order[i]) != NULL &&
                    m->order[i] != '\0', "a flag in the order that no command takes");
        PARSE_CHECK(m->seen & META_BIT(m->order[i]), "a flag in the order, not seen");
        PARSE_CHECK(memchr(m->order, m->order[i], (size_t)i) == NULL,
                    "a flag twice in the order");
    }
    if (m->late_error != NULL)
        PARSE_CHECK(r.error == m->late_error && (r.cmd == CMD_MG || r.cmd == CMD_MA),
                    "late error not the error, or not mg/ma");
    if (r.cmd == CMD_MS && r.vlen >= 0)
        PARSE_CHECK(r.vlen <= INT32_MAX - 2, "ms length out of range");
    if (r.error != NULL && r.error != m->late_error) {
        free(line);
        return;
    }
    /* accepted (or refused late, after running): a key that can be used */
    PARSE_CHECK(r.key != NULL && r.nkey >= 1 && r.nkey <= ITEM_KEY_MAX, "key length");
    PARSE_CHECK(r.ntokens >= 2, "a key without a token");
    if (m->seen & META_BIT('b')) {
        PARSE_CHECK(r.key == m->keybuf, "base64 key not in keybuf");
        PARSE_CHECK(r.nkey <= r.tokens[1].n / 4 * 3, "base64 key longer than its token says");
        PARSE_CHECK(b64_roundtrip(r.key, r.nkey), "base64 key does not come back encoded");
    } else {
        PARSE_CHECK(r.key == r.tokens[1].s && r.nkey == r.tokens[1].n, "key not its token");
        PARSE_CHECK(text_key_valid(r.key, r.nkey), "invalid key accepted");
    }
    if (r.cmd == CMD_ME) {
        free(line);
        return;
    }
    PARSE_CHECK(r.noreply == ((m->seen & META_BIT('q')) != 0), "noreply is not q");
    PARSE_CHECK(r.ntokens < 20, "a line of 20 tokens accepted");
    if (r.error == NULL) {
        PARSE_CHECK(m->opaque.n <= 31, "O token longer than 32 bytes accepted");
        if (m->seen & META_BIT('O'))
            PARSE_CHECK(m->opaque.n == 0 || inside(m->opaque.s, m->opaque.n, line, len),
                        "opaque outside the line");
        if (r.cmd == CMD_MS) {
            PARSE_CHECK(r.vlen >= 0, "ms accepted without a length");
            if (m->seen & META_BIT('M'))
                PARSE_CHECK(m->mode != '\0' && strchr("EAPRS", m->mode) != NULL,
                            "bad ms mode accepted");
        }
        if (r.cmd == CMD_MA && (m->seen & META_BIT('M')))
            PARSE_CHECK(m->mode != '\0' && strchr("I+D-", m->mode) != NULL,
                        "bad ma mode accepted");
    }
    free(line);
}

/* ---- the replies ------------------------------------------------------------ */

#define REPLY_CHECK(c, what) \
    do { if (!(c)) fuzz_fail("illegal meta reply \"%.*s\": %s", (int)(n > 200 ? 200 : n), \
                             line, what); } while (0)

static bool
digits(const char *p, size_t n, bool sign)
{
    if (sign && n > 1 && p[0] == '-') {
        p++;
        n--;
    }
    if (n == 0 || n > 20)
        return false;
    for (size_t i = 0; i < n; i++)
        if (p[i] < '0' || p[i] > '9')
            return false;
    return true;
}

static bool
starts(const char *p, size_t n, const char *s)
{
    size_t k = strlen(s);
    return n >= k && memcmp(p, s, k) == 0;
}

/* The return flags after HD VA EN NS EX NF (p[0..n) starts at a ' '). */
static bool
ret_flags_ok(const char *p, size_t n, const char **why)
{
    bool tail = false;                      /* Z X W come last */
    size_t i = 0;
    while (i < n) {
        if (p[i] != ' ' || i + 1 == n) {
            *why = "flags not separated by one space";
            return false;
        }
        i++;
        const char *t = p + i;
        size_t k = 0;
        while (i + k < n && p[i + k] != ' ')
            k++;
        i += k;
        if (k == 0) {
            *why = "empty flag";
            return false;
        }
        char f = t[0];
        const char *a = t + 1;
        size_t na = k - 1;
        bool ok;
        switch (f) {
        case 'c': case 'f': case 's': case 'h': case 'l':
            ok = digits(a, na, false);
            break;
        case 't':
            ok = digits(a, na, true);
            break;
        case 'k':                           /* plain, or base64 */
            ok = na > 0 && na <= 4 * ((ITEM_KEY_MAX + 2) / 3);
            for (size_t j = 0; j < na && ok; j++)
                ok = (unsigned char)a[j] >= 0x20 && a[j] != 0x7f;
            break;
        case 'O':                           /* the client's bytes, echoed */
            ok = na <= 31;
            break;
        case 'b':
            ok = na == 0;
            break;
        case 'Z': case 'X': case 'W':
            ok = na == 0;
            tail = true;
            break;
        default:
            ok = false;
        }
        if (ok && tail && strchr("ZXW", f) == NULL)
            ok = false;
        if (!ok) {
            *why = "bad return flag";
            return false;
        }
    }
    return true;
}

static void
check_reply(const char *line, size_t n, bool long_line, void *arg)
{
    (void)arg;
    REPLY_CHECK(!long_line, "reply line over 1 KB");
    REPLY_CHECK(n >= 2 && line[n - 2] == '\r' && line[n - 1] == '\n', "no \\r\\n");
    n -= 2;
    if ((n == 5 && memcmp(line, "ERROR", 5) == 0) || (n == 2 && memcmp(line, "MN", 2) == 0))
        return;
    if (starts(line, n, "CLIENT_ERROR ") || starts(line, n, "SERVER_ERROR ")) {
        REPLY_CHECK(n > 13 && memchr(line, '\r', n) == NULL, "error message");
        return;
    }
    if (starts(line, n, "ME ")) {
        /* ME <key> exp= la= cas= fetch= cls= size= */
        static const char *const field[] = { " exp=", " la=", " cas=", " fetch=", " cls=",
                                             " size=" };
        const char *p = memchr(line + 3, ' ', n - 3);
        REPLY_CHECK(p != NULL && p > line + 3, "ME without a key");
        for (size_t i = 0; i < 6; i++) {
            size_t rest = (size_t)(line + n - p);
            REPLY_CHECK(starts(p, rest, field[i]), "ME fields");
            p += strlen(field[i]);
            const char *e = memchr(p, ' ', (size_t)(line + n - p));
            if (e == NULL)
                e = line + n;
            if (i == 3)
                REPLY_CHECK((e - p == 3 && memcmp(p, "yes", 3) == 0) ||
                            (e - p == 2 && memcmp(p, "no", 2) == 0), "ME fetch=");
            else
                REPLY_CHECK(digits(p, (size_t)(e - p), i == 0), "ME number");
            p = e;
        }
        REPLY_CHECK(p == line + n, "ME: more after size=");
        return;
    }
    static const char *const CODES[] = { "HD", "VA", "EN", "NS", "EX", "NF" };
    bool code = false;
    for (size_t i = 0; i < 6 && !code; i++)
        code = n >= 2 && memcmp(line, CODES[i], 2) == 0 && (n == 2 || line[2] == ' ');
    REPLY_CHECK(code, "not a meta reply code");
    const char *p = line + 2;
    size_t rest = n - 2;
    if (line[0] == 'V') {                   /* VA <len> */
        REPLY_CHECK(rest > 1, "VA without a length");
        const char *e = memchr(p + 1, ' ', rest - 1);
        size_t k = e != NULL ? (size_t)(e - p - 1) : rest - 1;
        REPLY_CHECK(digits(p + 1, k, false), "VA length");
        p += 1 + k;
        rest -= 1 + k;
    }
    const char *why = NULL;
    REPLY_CHECK(ret_flags_ok(p, rest, &why), why);
}

/* ---- the target -------------------------------------------------------------- */

/* Input layout: byte 0 picks -R (1..16), byte 1 the chunk-size seed, the
 * rest the requests (at most 64 an input). */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int print = -1;
    if (print < 0)
        print = getenv("FUZZ_META_PRINT") != NULL;
    fuzz_setup();
    if (size < 2)
        return 0;
    item_flush(0);                          /* every input starts empty */
    struct src s = { data + 2, size - 2 };
    struct fuzz_buf stream = { NULL, 0, 0 }, line = { NULL, 0, 0 };
    for (int i = 0; i < 64 && s.n > 0; i++) {
        gen_request(&stream, &line, &s);
        /* what proto_line() gets: without the line's last "\r" */
        size_t l = line.len;
        if (l > 0 && line.p[l - 1] == '\r')
            l--;
        check_parse(line.p, l);
    }
    fuzz_run_stream(&stream, data, print, check_reply, NULL);
    fuzz_buf_free(&stream);
    fuzz_buf_free(&line);
    return 0;
}

#ifdef FUZZ_REPLAY
int
main(int argc, char **argv)
{
    return fuzz_replay_main(argc, argv, "fuzz_meta_replay", FUZZ_CORPUS, NULL, 20000);
}
#endif
