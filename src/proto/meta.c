/*
 * meta.c -- parse one meta-protocol request line (mg, ms, md, ma, mn, me)
 * into the struct request the text parser fills (see proto.h).
 *
 * Syntax: "<cm> <key> [<datalen>] <flag>*", each flag one letter with an
 * optional token glued to it ("T30", "Oabc").  The flags accepted, and the
 * errors for bad ones, are memcached 1.6.18's (one common set of letters;
 * mg and ms name the problem, md and ma answer "invalid or duplicate
 * flag" to all); the flags only 1.6.45 has (E, x) are 1.6.45's.  No side
 * effects: errors are reported in r->error as the line the client gets.
 */
#include <ctype.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "item.h"
#include "proto.h"

#define E_FORMAT    "CLIENT_ERROR bad command line format"
#define E_FLAG      "CLIENT_ERROR invalid flag"
#define E_DUP       "CLIENT_ERROR duplicate flag"
#define E_OPAQUE    "CLIENT_ERROR opaque token too long"
#define E_TOKEN     "CLIENT_ERROR bad token in command line format"
#define E_DECODE    "CLIENT_ERROR error decoding key"
#define E_MODE      "CLIENT_ERROR invalid mode for ms M token"

#define OPAQUE_MAX 31                /* bytes after the O (the token is <= 32) */

/* The flag letters every meta command accepts (memcached 1.6.18's common
 * set, plus 1.6.45's E and x).  A command ignores the ones it has no use
 * for; P and L are proxy hints. */
#define ACCEPTED "bcCDEfFhIJklMNOqRstTuvxPL"

/* md and ma answer every flag problem with one message (1.6.18). */
#define E_MDMA "CLIENT_ERROR invalid or duplicate flag"

/* A line of 20 tokens or more (1.6.18; mg's message has an "are"). */
#define META_TOKENS_MAX 19
#define E_TOO_LONG_MG "CLIENT_ERROR options flags are too long"
#define E_TOO_LONG    "CLIENT_ERROR options flags too long"

static int
b64_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
}

/* Decode base64 s[0..n) into out (cap bytes) the way memcached does:
 * bytes outside the alphabet are skipped; '=' is a digit worth 0 that
 * also pads, and the first group of four digits holding padding is the
 * last (one '=': two bytes from it, two: one byte, more: an error); the
 * digits, counted over the whole token, must make whole groups.  So
 * "a:bcd" is "abcd" and "YQ==YQ==" is "a".  Returns the length, or -1. */
static long
b64_decode(const char *s, size_t n, char *out, size_t cap)
{
    size_t digits = 0;
    for (size_t i = 0; i < n; i++)
        if (s[i] == '=' || b64_value((unsigned char)s[i]) >= 0)
            digits++;
    if (digits == 0 || digits % 4 != 0)
        return -1;
    uint32_t w = 0;
    int k = 0, pad = 0;
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        int v = c == '=' ? 0 : b64_value(c);
        if (v < 0)
            continue;
        pad += c == '=';
        w = w << 6 | (uint32_t)v;
        if (++k < 4)
            continue;
        if (pad > 2)
            return -1;
        char b[3] = { (char)(w >> 16), (char)(w >> 8), (char)w };
        for (int j = 0; j < 3 - pad; j++) {
            if (o == cap)
                return -1;
            out[o++] = b[j];
        }
        if (pad > 0)
            break;
        k = 0;
        w = 0;
    }
    return (long)o;
}

size_t
meta_b64_encode(const char *in, size_t n, char *out)
{
    static const char tab[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t o = 0;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t w = (uint32_t)(unsigned char)in[i] << 16;
        if (i + 1 < n) w |= (uint32_t)(unsigned char)in[i + 1] << 8;
        if (i + 2 < n) w |= (uint32_t)(unsigned char)in[i + 2];
        out[o++] = tab[(w >> 18) & 63];
        out[o++] = tab[(w >> 12) & 63];
        out[o++] = i + 1 < n ? tab[(w >> 6) & 63] : '=';
        out[o++] = i + 2 < n ? tab[w & 63] : '=';
    }
    return o;
}

/* A number in a flag token, read as memcached's safe_strto* read it:
 * white space and a sign may lead, at least one digit, and the number
 * ends with the token or with a white-space (or NUL) byte; a number past
 * 64 bits fails.  *mag gets its magnitude, *neg whether it had a '-'. */
static bool
scan_num(const char *s, size_t n, uint64_t *mag, bool *neg)
{
    size_t i = 0;
    while (i < n && isspace((unsigned char)s[i]))
        i++;
    *neg = false;
    if (i < n && (s[i] == '+' || s[i] == '-'))
        *neg = s[i++] == '-';
    size_t first = i;
    uint64_t v = 0;
    for (; i < n && s[i] >= '0' && s[i] <= '9'; i++) {
        unsigned d = (unsigned)(s[i] - '0');
        if (v > (UINT64_MAX - d) / 10)
            return false;
        v = v * 10 + d;
    }
    if (i == first)
        return false;
    if (i < n && s[i] != '\0' && !isspace((unsigned char)s[i]))
        return false;
    *mag = v;
    return true;
}

/* A token's number, unsigned (C E D J F) as strtoull reads it plus
 * memcached's check (a '-' only where the result is still a positive
 * 64-bit number: "-0"), or signed (T N R, the ms length) as strtol on a
 * 64-bit system. */
static bool
tok_num(const char *s, size_t n, bool sign, int64_t *sv, uint64_t *uv)
{
    uint64_t mag;
    bool neg;
    if (!scan_num(s, n, &mag, &neg))
        return false;
    uint64_t v = neg ? (uint64_t)0 - mag : mag;
    if (sign) {
        if (mag > (uint64_t)INT64_MAX + (neg ? 1 : 0))
            return false;
        *sv = (int64_t)v;
    } else {
        if (neg && (int64_t)v < 0)
            return false;
        *uv = v;
    }
    return true;
}

/* What the flags of a line came to (memcached 1.6.18 reads them all
 * before it looks at the command: a letter no command takes, or one given
 * twice, stops it at once; a bad token does not, and the last bad token's
 * message is the one sent). */
struct flag_scan {
    const char *fatal;              /* invalid or duplicate flag */
    bool        bad;                /* a bad token (or a key b cannot decode) */
    const char *msg;                /* its message (NULL: F's, which has none) */
    bool        opaque_long;        /* O longer than 32 bytes (found later) */
};

/* One flag token t (flag letter + argument) into r->meta. */
static void
parse_flag(struct request *r, const struct token *t, struct flag_scan *fs)
{
    struct meta_req *m = &r->meta;
    unsigned char f = (unsigned char)t->s[0];
    const char *arg = t->s + 1;
    size_t n = t->n - 1;
    /* 1.6.18 calls any byte from 127 on a duplicate */
    if (f >= 0x7f || (f != '\0' && strchr(ACCEPTED, f) != NULL && (m->seen & META_BIT(f)))) {
        fs->fatal = E_DUP;
        return;
    }
    if (f == '\0' || strchr(ACCEPTED, f) == NULL) {
        fs->fatal = E_FLAG;
        return;
    }
    m->seen |= META_BIT(f);
    if (m->norder < (int)sizeof(m->order))
        m->order[m->norder++] = (char)f;
    const char *bad = NULL;
    int64_t sv = 0;
    uint64_t uv = 0;
    switch (f) {
    case 'O':
        if (n > OPAQUE_MAX) {
            fs->opaque_long = true;
        } else {
            m->opaque.s = arg;
            m->opaque.n = n;
        }
        return;
    case 'M':
        if (n != 1)
            bad = "CLIENT_ERROR incorrect length for M token";
        else
            m->mode = arg[0];
        break;
    case 'b': {                     /* the key is decoded where b stands */
        long k = b64_decode(r->tokens[1].s, r->tokens[1].n, m->keybuf, ITEM_KEY_MAX);
        if (k <= 0) {
            bad = E_DECODE;
        } else {
            r->key = m->keybuf;
            r->nkey = (size_t)k;
        }
        break;
    }
    case 'T': case 'N': case 'R':
        /* 1.6.18 wraps numbers past 32 bits (an item that expires at
         * once); refused as 1.6.45 does */
        if (!tok_num(arg, n, true, &sv, NULL) || sv < INT32_MIN || sv > INT32_MAX)
            bad = E_TOKEN;
        else if (f == 'T')
            m->ttl = sv;
        else if (f == 'N')
            m->vivify_ttl = sv;
        else
            m->recache_ttl = sv;
        break;
    case 'F':                       /* 32 bits; larger values wrap (1.6.18) */
        if (!tok_num(arg, n, false, NULL, &uv)) {
            fs->bad = true;         /* (no message of its own) */
            return;
        }
        m->client_flags = (uint32_t)uv;
        break;
    case 'C': case 'E':
        if (!tok_num(arg, n, false, NULL, &uv))
            bad = E_TOKEN;
        else if (f == 'C')
            m->cas = uv;
        else
            m->new_cas = uv;
        break;
    case 'D':
        if (!tok_num(arg, n, false, NULL, &uv))
            bad = "CLIENT_ERROR invalid numeric delta value";
        else
            m->delta = uv;
        break;
    case 'J':
        if (!tok_num(arg, n, false, NULL, &uv))
            bad = "CLIENT_ERROR invalid numeric initial value";
        else
            m->initial = uv;
        break;
    default:                        /* no token */
        break;
    }
    if (bad != NULL) {
        fs->bad = true;
        fs->msg = bad;
    }
}

void
meta_parse(enum req_cmd cmd, const char *line, size_t len, struct request *r)
{
    (void)line;
    (void)len;
    struct meta_req *m = &r->meta;
    memset(m, 0, sizeof(*m));
    m->delta = 1;
    const struct token *t = r->tokens;
    int n = r->ntokens;
    r->cmd = cmd;
    if (cmd == CMD_MN)
        return;
    if (n < 2) {
        if (cmd == CMD_ME) {        /* (1.6.18) */
            r->error = E_FORMAT;
            return;
        }
        r->cmd = CMD_UNKNOWN;
        r->error = "ERROR";
        return;
    }
    if (t[1].n > ITEM_KEY_MAX) {
        r->error = E_FORMAT;
        return;
    }
    if (cmd == CMD_ME) {
        /* me <key> [b]: (1.6.18) a b anywhere else, or "bb", is ignored */
        if (n > 2 && token_is(&t[2], "b")) {
            m->seen |= META_BIT('b');
            long k = b64_decode(t[1].s, t[1].n, m->keybuf, ITEM_KEY_MAX);
            if (k <= 0) {
                r->error = E_FORMAT;
                return;
            }
            r->key = m->keybuf;
            r->nkey = (size_t)k;
        } else if (!text_key_valid(t[1].s, t[1].n)) {
            r->error = E_FORMAT;
        } else {
            r->key = t[1].s;
            r->nkey = t[1].n;
        }
        return;
    }
    if (n > META_TOKENS_MAX) {      /* (an ms's data is not swallowed) */
        r->error = cmd == CMD_MG ? E_TOO_LONG_MG : E_TOO_LONG;
        return;
    }
    int first = 2;
    if (cmd == CMD_MS) {
        /* memcached 1.6.18 reads the length as a 32-bit int: larger
         * numbers wrap (4294967297 is 1), negative ones are refused */
        int64_t v;
        if (n < 3 || !tok_num(t[2].s, t[2].n, true, &v, NULL)) {
            r->error = E_FORMAT;
            return;
        }
        int32_t len = (int32_t)(uint32_t)(uint64_t)v;
        if (len < 0 || len > INT32_MAX - 2) {
            r->error = E_FORMAT;
            return;
        }
        r->vlen = len;
        first = 3;
    }
    bool mdma = cmd == CMD_MD || cmd == CMD_MA;
    struct flag_scan fs = { NULL, false, NULL, false };
    for (int i = first; i < n && fs.fatal == NULL; i++)
        parse_flag(r, &t[i], &fs);
    if (fs.fatal != NULL) {
        /* E and x exist only in 1.6.45: its message for them */
        char f = t[first + m->norder].s[0];
        bool new_letter = strcmp(fs.fatal, E_DUP) == 0 && (f == 'E' || f == 'x');
        r->error = mdma && !new_letter ? E_MDMA : fs.fatal;
        return;
    }
    if (fs.bad) {
        r->error = mdma ? E_MDMA : fs.msg != NULL ? fs.msg : E_FORMAT;
        return;
    }
    r->noreply = (m->seen & META_BIT('q')) != 0;
    if (!(m->seen & META_BIT('b'))) {
        if (!text_key_valid(t[1].s, t[1].n)) {
            r->error = E_FORMAT;
            return;
        }
        r->key = t[1].s;
        r->nkey = t[1].n;
    }
    if (cmd == CMD_MS && (m->seen & META_BIT('M')) && strchr("EAPRS", m->mode) == NULL) {
        r->error = E_MODE;
        return;
    }
    if (cmd == CMD_MA && (m->seen & META_BIT('M')) && strchr("I+D-", m->mode) == NULL) {
        r->error = "CLIENT_ERROR invalid mode for ma M token";
        return;
    }
    if (fs.opaque_long) {
        /* mg and ma: memcached 1.6.18 finds this after the lookup (mg)
         * or the increment (ma), which happen */
        if (cmd == CMD_MG || cmd == CMD_MA)
            m->late_error = E_OPAQUE;
        r->error = E_OPAQUE;
    }
}
