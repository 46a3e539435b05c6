/*
 * text.c -- parse one memcached text-protocol request line (see proto.h).
 *
 * Tokens are split on ' ' only, as memcached does; empty tokens are
 * skipped.  Numbers follow memcached 1.6.18's strtol/strtoul rules
 * exactly (e.g. 32-bit fields wrap instead of being refused) because
 * clients see the difference.  No side effects: errors are reported in
 * r->error as the line the client must get.
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "hotkeys.h"
#include "item.h"
#include "proto.h"
#include "watch.h"

#define E_FORMAT   "CLIENT_ERROR bad command line format"
#define E_EXPTIME  "CLIENT_ERROR invalid exptime argument"
#define E_DELTA    "CLIENT_ERROR invalid numeric delta argument"
#define E_DELUSAGE "CLIENT_ERROR bad command line format.  Usage: delete <key> [noreply]"
#define E_ERROR    "ERROR"

bool
text_key_valid(const char *k, size_t n)
{
    if (n == 0 || n > ITEM_KEY_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)k[i];
        if (c < 0x20 || c == 0x7f)
            return false;
    }
    return true;
}

/* Copy a token into a NUL-terminated buffer; false if it cannot hold it. */
static bool
tok_cstr(const struct token *t, char *buf, size_t size)
{
    if (t->n >= size)
        return false;
    memcpy(buf, t->s, t->n);
    buf[t->n] = '\0';
    return true;
}

/* memcached's safe_strto* accept a number followed by the end of the
 * token or by any whitespace byte (so "1\t" or the "1\r" of a line ending
 * in "\r\r\n" is 1; a token holds no ' ').  A NUL byte, which ends
 * memcached's whole line, ends the number too. */
static bool
tok_end_ok(const char *buf, const char *end)
{
    return end != buf && (*end == '\0' || isspace((unsigned char)*end));
}

/* memcached's safe_strtoull. */
static bool
tok_u64(const struct token *t, uint64_t *out)
{
    char buf[128], *end;
    if (!tok_cstr(t, buf, sizeof(buf)))
        return false;
    errno = 0;
    unsigned long long v = strtoull(buf, &end, 10);
    if (errno == ERANGE || !tok_end_ok(buf, end))
        return false;
    if ((long long)v < 0 && memchr(buf, '-', (size_t)(end - buf)) != NULL)
        return false;
    *out = v;
    return true;
}

/* memcached's safe_strtoul into a uint32_t: on 64-bit systems its
 * unsigned long is 64 bits, so this is safe_strtoull, then values past 32
 * bits wrap. */
static bool
tok_u32(const struct token *t, uint32_t *out)
{
    uint64_t v;
    if (!tok_u64(t, &v))
        return false;
    *out = (uint32_t)v;
    return true;
}

/* memcached's safe_strtol into an int32_t: values past 32 bits wrap. */
static bool
tok_i32(const struct token *t, int32_t *out)
{
    char buf[128], *end;
    if (!tok_cstr(t, buf, sizeof(buf)))
        return false;
    errno = 0;
    long v = strtol(buf, &end, 10);
    if (errno == ERANGE || !tok_end_ok(buf, end))
        return false;
    *out = (int32_t)v;
    return true;
}

/* The number parsers for the other dialects' parsers (proto.h). */
bool text_u64(const struct token *t, uint64_t *out) { return tok_u64(t, out); }
bool text_i32(const struct token *t, int32_t *out) { return tok_i32(t, out); }

/* memcached's safe_strtod. */
static bool
tok_double(const struct token *t)
{
    char buf[64], *end;
    if (!tok_cstr(t, buf, sizeof(buf)) || t->n == 0)
        return false;
    errno = 0;
    (void)strtod(buf, &end);
    if (errno == ERANGE || end == buf)
        return false;
    return *end == '\0' ? end == buf + t->n : isspace((unsigned char)*end) != 0;
}

static int
tokenize(const char *line, size_t len, struct token *tok, int max)
{
    int n = 0;
    size_t i = 0;
    while (i < len && n < max) {
        while (i < len && line[i] == ' ')
            i++;
        if (i == len)
            break;
        size_t s = i;
        while (i < len && line[i] != ' ')
            i++;
        tok[n].s = line + s;
        tok[n].n = i - s;
        n++;
    }
    return n;
}

static enum req_cmd
lookup(const struct token *t)
{
    const char *s = t->s;
    switch (t->n) {
    case 2:
        if (s[0] == 'm') {
            switch (s[1]) {
            case 'g': return CMD_MG;
            case 's': return CMD_MS;
            case 'd': return CMD_MD;
            case 'a': return CMD_MA;
            case 'n': return CMD_MN;
            case 'e': return CMD_ME;
            }
        }
        break;
    case 3:
        if (memcmp(s, "get", 3) == 0) return CMD_GET;
        if (memcmp(s, "set", 3) == 0) return CMD_SET;
        if (memcmp(s, "add", 3) == 0) return CMD_ADD;
        if (memcmp(s, "cas", 3) == 0) return CMD_CAS;
        if (memcmp(s, "gat", 3) == 0) return CMD_GAT;
        break;
    case 4:
        if (memcmp(s, "gets", 4) == 0) return CMD_GETS;
        if (memcmp(s, "incr", 4) == 0) return CMD_INCR;
        if (memcmp(s, "decr", 4) == 0) return CMD_DECR;
        if (memcmp(s, "gats", 4) == 0) return CMD_GATS;
        if (memcmp(s, "quit", 4) == 0) return CMD_QUIT;
        break;
    case 5:
        if (memcmp(s, "touch", 5) == 0) return CMD_TOUCH;
        if (memcmp(s, "stats", 5) == 0) return CMD_STATS;
        if (memcmp(s, "slabs", 5) == 0) return CMD_SLABS;
        if (memcmp(s, "watch", 5) == 0) return CMD_WATCH;
        break;
    case 6:
        if (memcmp(s, "delete", 6) == 0) return CMD_DELETE;
        if (memcmp(s, "append", 6) == 0) return CMD_APPEND;
        break;
    case 7:
        if (memcmp(s, "replace", 7) == 0) return CMD_REPLACE;
        if (memcmp(s, "prepend", 7) == 0) return CMD_PREPEND;
        if (memcmp(s, "version", 7) == 0) return CMD_VERSION;
        break;
    case 8:
        if (memcmp(s, "shutdown", 8) == 0) return CMD_SHUTDOWN;
        if (memcmp(s, "snapshot", 8) == 0) return CMD_SNAPSHOT;
        break;
    case 9:
        if (memcmp(s, "flush_all", 9) == 0) return CMD_FLUSH_ALL;
        if (memcmp(s, "verbosity", 9) == 0) return CMD_VERBOSITY;
        break;
    case 11:
        if (memcmp(s, "lru_crawler", 11) == 0) return CMD_LRU_CRAWLER;
        break;
    case 13:
        if (memcmp(s, "refresh_certs", 13) == 0) return CMD_REFRESH_CERTS;
        break;
    case 14:
        if (memcmp(s, "cache_memlimit", 14) == 0) return CMD_CACHE_MEMLIMIT;
        break;
    }
    return CMD_UNKNOWN;
}

static void
fail(struct request *r, const char *msg)
{
    r->error = msg;
}

/* Last token "noreply"? */
static bool
noreply_last(const struct request *r)
{
    return r->ntokens > 1 && token_is(&r->tokens[r->ntokens - 1], "noreply");
}

static bool
set_key(struct request *r, const struct token *t)
{
    r->key = t->s;
    r->nkey = t->n;
    return text_key_valid(t->s, t->n);
}

/* The rest of the line after token i (for get-family key lists). */
static void
rest_after(struct request *r, const char *line, size_t len, int i)
{
    const char *p = r->tokens[i].s + r->tokens[i].n;
    r->keys = p;
    r->nkeys_len = (size_t)(line + len - p);
}

static void
parse_storage(struct request *r)
{
    int n = r->ntokens;
    bool cas = r->cmd == CMD_CAS;
    int base = cas ? 6 : 5;
    int32_t exptime, vlen;
    r->vlen = -1;
    if (n != base && n != base + 1) {
        r->cmd = CMD_UNKNOWN;
        fail(r, E_ERROR);
        return;
    }
    /* memcached notes noreply before validating, so errors are silent too */
    r->noreply = n == base + 1 && noreply_last(r);
    bool len_ok = tok_i32(&r->tokens[4], &vlen) && vlen >= 0 && vlen <= INT_MAX - 2;
    if (!set_key(r, &r->tokens[1]) || !len_ok ||
        !tok_u32(&r->tokens[2], &r->flags) || !tok_i32(&r->tokens[3], &exptime) ||
        (cas && !tok_u64(&r->tokens[5], &r->cas))) {
        /* The one rule taken from memcached 1.6.45 (a safety fix): when
         * the length is valid, the refused command's data block is
         * swallowed (r->vlen), not run as commands. */
        if (len_ok)
            r->vlen = vlen;
        fail(r, E_FORMAT);
        return;
    }
    r->exptime = exptime;
    r->vlen = vlen;
}

/* ---- admin commands ---- */

static void
parse_stats(struct request *r)
{
    static const struct { const char *word; enum req_sub sub; } groups[] = {
        { "reset", SUB_STATS_RESET }, { "settings", SUB_STATS_SETTINGS },
        { "items", SUB_STATS_ITEMS }, { "slabs", SUB_STATS_SLABS },
        { "sizes", SUB_STATS_SIZES }, { "conns", SUB_STATS_CONNS },
        { "snapshot", SUB_STATS_SNAPSHOT }, { "collections", SUB_STATS_COLLECTIONS },
    };
    const struct token *t = r->tokens;
    if (r->ntokens == 1) {
        r->admin.sub = SUB_STATS_GENERAL;
        return;
    }
    /* memcached reads the group word only (and detail's next one); more
     * tokens are ignored */
    for (size_t i = 0; i < sizeof(groups) / sizeof(groups[0]); i++) {
        if (token_is(&t[1], groups[i].word)) {
            r->admin.sub = groups[i].sub;
            return;
        }
    }
    if (token_is(&t[1], "hotkeys")) {
        /* ours: "stats hotkeys [N]", N in 1..HOTKEYS_TOP_MAX; a bad or
         * extra argument is refused as memcached refuses a bad
         * "stats cachedump" number */
        uint64_t n = HOTKEYS_TOP_DEFAULT;
        if (r->ntokens > 3 || (r->ntokens == 3 &&
            (!tok_u64(&t[2], &n) || n < 1 || n > HOTKEYS_TOP_MAX))) {
            fail(r, E_FORMAT);
            return;
        }
        r->admin.level = (uint32_t)n;
        r->admin.sub = SUB_STATS_HOTKEYS;
        return;
    }
    if (token_is(&t[1], "detail")) {
        if (r->ntokens >= 3 && (token_is(&t[2], "on") || token_is(&t[2], "off")))
            r->admin.sub = SUB_STATS_DETAIL_SET;
        else if (r->ntokens >= 3 && token_is(&t[2], "dump"))
            r->admin.sub = SUB_STATS_DETAIL_DUMP;
        else
            fail(r, "CLIENT_ERROR usage: stats detail on|off|dump");
        return;
    }
    fail(r, E_ERROR);
}

/* "slabs reassign <src> <dst>" and "slabs automove <0|1|2>" or
 * "slabs automove ratio <float>".  automove takes any number of tokens
 * after the mode, and a last "noreply" silences every reply, errors
 * included, as in memcached. */
static void
parse_slabs(struct request *r)
{
    const struct token *t = r->tokens;
    int n = r->ntokens;
    if (n == 4 && token_is(&t[1], "reassign")) {
        if (!tok_i32(&t[2], &r->admin.src) || !tok_i32(&t[3], &r->admin.dst)) {
            fail(r, E_FORMAT);
            return;
        }
        r->admin.sub = SUB_SLABS_REASSIGN;
        return;
    }
    if (n < 3 || !token_is(&t[1], "automove")) {
        fail(r, E_ERROR);
        return;
    }
    r->noreply = noreply_last(r);
    if (token_is(&t[2], "ratio")) {
        if (n >= 4 && tok_double(&t[3]))
            r->admin.sub = SUB_SLABS_AUTOMOVE_RATIO;
        else
            fail(r, E_ERROR);
        return;
    }
    if (!tok_u32(&t[2], &r->admin.level)) {
        fail(r, E_FORMAT);
        return;
    }
    if (r->admin.level > 2) {
        fail(r, E_ERROR);
        return;
    }
    r->admin.sub = SUB_SLABS_AUTOMOVE;
}

/* The class argument of "lru_crawler crawl|metadump": "all", "hash", or
 * a comma-separated list of memcached class ids (1..63, empty items
 * skipped).  NULL if valid, else memcached's reply. */
static const char *
crawl_classes_error(const struct token *t)
{
    if (token_is(t, "all") || token_is(t, "hash"))
        return NULL;
    bool any = false;
    for (size_t i = 0; i < t->n;) {
        size_t j = i;
        while (j < t->n && t->s[j] != ',')
            j++;
        if (j > i) {
            struct token id = { t->s + i, j - i };
            uint32_t v;
            if (!tok_u32(&id, &v) || v < 1 || v > 63)
                return "BADCLASS invalid class id";
            any = true;
        }
        i = j + 1;
    }
    return any ? NULL : "NOTSTARTED no items to crawl";
}

static void
parse_lru_crawler(struct request *r)
{
    const struct token *t = r->tokens;
    int n = r->ntokens;
    if (n == 3 && token_is(&t[1], "metadump")) {
        /* reported after the -X and pipelining checks */
        r->admin.late_error = crawl_classes_error(&t[2]);
        r->admin.sub = SUB_CRAWLER_METADUMP;
        return;
    }
    if (n == 3 && token_is(&t[1], "crawl")) {
        const char *err = crawl_classes_error(&t[2]);
        /* 1.6.18 cannot start an expiry crawl of the hash table */
        if (err == NULL && token_is(&t[2], "hash"))
            err = "ERROR an unknown error happened";
        if (err != NULL)
            fail(r, err);
        else
            r->admin.sub = SUB_CRAWLER_CRAWL;
        return;
    }
    if (n == 2 && (token_is(&t[1], "enable") || token_is(&t[1], "disable"))) {
        r->admin.sub = SUB_CRAWLER_SETTING;
        return;
    }
    if (n == 3 && (token_is(&t[1], "sleep") || token_is(&t[1], "tocrawl"))) {
        uint32_t v;
        if (!tok_u32(&t[2], &v))
            fail(r, E_FORMAT);
        else if (token_is(&t[1], "sleep") && v > 1000000)
            fail(r, "CLIENT_ERROR sleep must be one second or less");
        else
            r->admin.sub = SUB_CRAWLER_SETTING;
        return;
    }
    fail(r, E_ERROR);
}

/* A line memcached takes for an HTTP request and hangs up on: its last
 * token (memcached splits at most 23) starts with "HTTP/" and its first is
 * no command.  1.6.18 answers ERROR instead for a word shorter than 2
 * bytes, any word of its command families by first letter (g s a c i d t,
 * and the 2-byte m words), and its other commands with the wrong number of
 * tokens. */
static bool
http_request(const struct request *r)
{
    static const char *const cmds[] = {
        "replace", "prepend", "flush_all", "verbosity", "lru", "watch",
        "extstore", "refresh_certs",
    };
    if (r->ntokens == 0)
        return false;
    const struct token *cmd = &r->tokens[0];
    const struct token *last = &r->tokens[(r->ntokens < 23 ? r->ntokens : 23) - 1];
    if (cmd->n < 2 || memchr("gsacidt", cmd->s[0], 7) != NULL ||
        (cmd->s[0] == 'm' && cmd->n == 2))
        return false;
    for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
        if (token_is(cmd, cmds[i]))
            return false;
    return last->n >= 5 && memcmp(last->s, "HTTP/", 5) == 0;
}

static void
parse_line(const char *line, size_t len, struct request *r)
{
    int n = r->ntokens;
    if (n == 0) {
        r->cmd = CMD_UNKNOWN;
        fail(r, E_ERROR);
        return;
    }
    r->cmd = lookup(&r->tokens[0]);
    if (r->cmd == CMD_UNKNOWN && coll_parse(r))
        return;
    struct token *t = r->tokens;
    int32_t i32;

    switch (r->cmd) {
    case CMD_GET:
    case CMD_GETS:
        if (n < 2)
            goto unknown;
        rest_after(r, line, len, 0);
        return;
    case CMD_GAT:
    case CMD_GATS:
        if (n < 2)
            goto unknown;
        if (!tok_i32(&t[1], &i32)) {
            fail(r, E_EXPTIME);
            return;
        }
        r->exptime = i32;
        rest_after(r, line, len, 1);
        return;
    case CMD_SET: case CMD_ADD: case CMD_REPLACE:
    case CMD_APPEND: case CMD_PREPEND: case CMD_CAS:
        parse_storage(r);
        return;
    case CMD_DELETE:
        if (n < 2 || n > 4)
            goto unknown;
        r->noreply = noreply_last(r);
        if (n > 2) {
            bool zero = token_is(&t[2], "0");
            bool ok = (n == 3 && (zero || r->noreply)) || (n == 4 && zero && r->noreply);
            if (!ok) {
                fail(r, E_DELUSAGE);
                return;
            }
        }
        if (!set_key(r, &t[1]))
            fail(r, E_FORMAT);
        return;
    case CMD_INCR:
    case CMD_DECR:
        if (n != 3 && n != 4)
            goto unknown;
        r->noreply = noreply_last(r);
        if (!set_key(r, &t[1])) {
            fail(r, E_FORMAT);
            return;
        }
        if (!tok_u64(&t[2], &r->delta))
            fail(r, E_DELTA);
        return;
    case CMD_TOUCH:
        if (n != 3 && n != 4)
            goto unknown;
        r->noreply = noreply_last(r);
        if (!set_key(r, &t[1])) {
            fail(r, E_FORMAT);
            return;
        }
        if (!tok_i32(&t[2], &i32))
            fail(r, E_EXPTIME);
        r->exptime = i32;
        return;
    case CMD_FLUSH_ALL:
        if (n > 3)
            goto unknown;
        r->noreply = noreply_last(r);
        r->exptime = 0;
        /* As memcached: the second token is the delay unless the line is
         * just "flush_all" or "flush_all noreply" ("flush_all 10 20" is
         * 10, "flush_all noreply 0" an invalid delay). */
        if (n != (r->noreply ? 2 : 1)) {
            if (!tok_i32(&t[1], &i32)) {
                fail(r, E_EXPTIME);
                return;
            }
            r->exptime = i32;
        }
        return;
    case CMD_VERBOSITY:
        if (n != 2 && n != 3)
            goto unknown;
        r->noreply = noreply_last(r);
        if (!tok_u32(&t[1], &r->flags))
            fail(r, E_FORMAT);
        return;
    case CMD_CACHE_MEMLIMIT:
        if (n != 2 && n != 3)
            goto unknown;
        r->noreply = noreply_last(r);
        if (!tok_u32(&t[1], &r->flags)) {
            r->cmd = CMD_UNKNOWN;
            fail(r, E_ERROR);
        }
        return;
    case CMD_WATCH:
        /* memcached: each word a stream, none = fetchers; an unknown
         * word (a trailing noreply too, which silences the reply) is an
         * ERROR reported after the -W check */
        r->noreply = noreply_last(r);
        r->admin.level = n == 1 ? WATCH_FETCHERS : 0;
        for (int i = 1; i < n; i++) {
            unsigned f = watch_flag_parse(t[i].s, t[i].n);
            if (f == 0) {
                r->admin.late_error = "ERROR";
                break;
            }
            r->admin.level |= f;
        }
        return;
    case CMD_STATS:
        parse_stats(r);
        return;
    case CMD_SLABS:
        parse_slabs(r);
        return;
    case CMD_LRU_CRAWLER:
        parse_lru_crawler(r);
        return;
    case CMD_SHUTDOWN:
        /* reported after the -A check */
        if (n > 2 || (n == 2 && !token_is(&t[1], "graceful")))
            r->admin.late_error = "CLIENT_ERROR invalid shutdown mode";
        return;
    case CMD_VERSION: case CMD_QUIT: case CMD_SNAPSHOT: case CMD_REFRESH_CERTS:
        return;
    case CMD_MN: case CMD_MG: case CMD_MS: case CMD_MD: case CMD_MA: case CMD_ME:
        meta_parse(r->cmd, line, len, r);
        return;
    case CMD_NOOP: case CMD_SASL_LIST: case CMD_SASL_AUTH: case CMD_SASL_STEP:
    case CMD_COLL:
    case CMD_UNKNOWN:               /* (binary only) */
        break;
    }
unknown:
    r->cmd = CMD_UNKNOWN;
    fail(r, E_ERROR);
}

void
text_parse(const char *line, size_t len, struct request *r)
{
    r->error = NULL;
    r->noreply = false;
    r->key = r->keys = NULL;
    r->nkey = r->nkeys_len = 0;
    r->vlen = -1;
    r->admin.sub = SUB_NONE;
    r->admin.late_error = NULL;
    /* "get <keys>" / "gets <keys>" with a key: what the general path
     * gives (the keys are the rest of the line after the command word),
     * without tokenizing the key list, which do_get splits anyway. */
    size_t w = len > 4 && memcmp(line, "get", 3) == 0 ?
               (line[3] == ' ' ? 3 : line[3] == 's' && line[4] == ' ' ? 4 : 0) : 0;
    if (w > 0) {
        size_t i = w;
        while (i < len && line[i] == ' ')
            i++;
        if (i < len) {
            r->cmd = w == 3 ? CMD_GET : CMD_GETS;
            r->ntokens = 0;         /* tokens[] not filled (proto.h) */
            r->keys = line + w;
            r->nkeys_len = len - w;
            r->http_probe = false;
            return;
        }
    }
    r->ntokens = tokenize(line, len, r->tokens, PROTO_MAX_TOKENS);
    parse_line(line, len, r);
    r->http_probe = r->cmd == CMD_UNKNOWN && http_request(r);
}
