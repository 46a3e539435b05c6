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
#include <errno.h>
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

/* Does cmd read flag f's numeric token? */
static bool
uses_token(enum req_cmd cmd, char f)
{
    switch (cmd) {
    case CMD_MG: return strchr("TNRCE", f) != NULL;
    case CMD_MS: return strchr("TFCEN", f) != NULL;
    case CMD_MD: return strchr("TCE", f) != NULL;
    case CMD_MA: return strchr("NJDTCE", f) != NULL;
    default:     return false;
    }
}

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

/* Decode base64 s[0..n) into out (cap bytes); returns the length, or -1. */
static long
b64_decode(const char *s, size_t n, char *out, size_t cap)
{
    if (n == 0 || n % 4 != 0)
        return -1;
    size_t o = 0;
    for (size_t i = 0; i < n; i += 4) {
        int v[4], pad = 0;
        for (int j = 0; j < 4; j++) {
            unsigned char c = (unsigned char)s[i + j];
            if (c == '=' && i + 4 == n && j >= 2) {
                v[j] = 0;
                pad++;
            } else if (pad > 0 || (v[j] = b64_value(c)) < 0) {
                return -1;
            }
        }
        uint32_t w = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 | (uint32_t)v[3];
        char b[3] = { (char)(w >> 16), (char)(w >> 8), (char)w };
        for (int j = 0; j < 3 - pad; j++) {
            if (o == cap)
                return -1;
            out[o++] = b[j];
        }
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

/* Numbers in flag tokens: all digits (an optional '-' for signed ones),
 * as memcached's safe_strto* accept them. */
static bool
tok_num(const char *s, size_t n, bool sign, int64_t *out_s, uint64_t *out_u)
{
    char buf[32], *end;
    if (n == 0 || n >= sizeof(buf))
        return false;
    memcpy(buf, s, n);
    buf[n] = '\0';
    errno = 0;
    if (sign) {
        long long v = strtoll(buf, &end, 10);
        if (errno == ERANGE || *end != '\0')
            return false;
        *out_s = v;
    } else {
        if (buf[0] == '-')
            return false;
        unsigned long long v = strtoull(buf, &end, 10);
        if (errno == ERANGE || *end != '\0')
            return false;
        *out_u = v;
    }
    return true;
}

/* One flag token t (flag letter + argument) into r->meta. */
static const char *
parse_flag(struct request *r, const struct token *t)
{
    struct meta_req *m = &r->meta;
    bool mdma = r->cmd == CMD_MD || r->cmd == CMD_MA;
    char f = t->s[0];
    const char *arg = t->s + 1;
    size_t n = t->n - 1;
    if (strchr(ACCEPTED, f) == NULL || f == '\0')
        return mdma ? E_MDMA : E_FLAG;
    uint64_t bit = META_BIT(f);
    if (m->seen & bit)             /* E and x exist only in 1.6.45: its message */
        return mdma && f != 'E' && f != 'x' ? E_MDMA : E_DUP;
    m->seen |= bit;
    if (m->norder < (int)sizeof(m->order))
        m->order[m->norder++] = f;
    if (f == 'O') {
        if (n > OPAQUE_MAX)
            return E_OPAQUE;
        m->opaque.s = arg;
        m->opaque.n = n;
        return NULL;
    }
    if (f == 'M') {
        if (n != 1)
            return mdma ? E_MDMA : "CLIENT_ERROR incorrect length for M token";
        m->mode = arg[0];
        return NULL;
    }
    if (!uses_token(r->cmd, f))
        return NULL;
    const char *bad = mdma ? E_MDMA : (f == 'F' ? E_FORMAT : E_TOKEN);
    int64_t sv = 0;
    uint64_t uv = 0;
    switch (f) {
    case 'T': case 'N': case 'R':
        if (!tok_num(arg, n, true, &sv, NULL) || sv < INT32_MIN || sv > INT32_MAX)
            return bad;
        if (f == 'T')
            m->ttl = sv;
        else if (f == 'N')
            m->vivify_ttl = sv;
        else
            m->recache_ttl = sv;
        break;
    case 'F':                       /* 32 bits; larger values wrap (1.6.18) */
        if (!tok_num(arg, n, false, NULL, &uv))
            return bad;
        m->client_flags = (uint32_t)uv;
        break;
    default:                        /* C E D J */
        if (!tok_num(arg, n, false, NULL, &uv))
            return bad;
        if (f == 'C')
            m->cas = uv;
        else if (f == 'E')
            m->new_cas = uv;
        else if (f == 'D')
            m->delta = uv;
        else
            m->initial = uv;
        break;
    }
    return NULL;
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
    if (cmd == CMD_ME) {
        /* me <key> [b] */
        for (int i = 2; i < n; i++)
            if (token_is(&t[i], "b"))
                m->seen |= META_BIT('b');
    } else {
        for (int i = first; i < n; i++) {
            const char *e = parse_flag(r, &t[i]);
            if (e != NULL && strcmp(e, E_OPAQUE) == 0 &&
                (cmd == CMD_MG || cmd == CMD_MA) && m->late_error == NULL) {
                /* memcached 1.6.18 finds this after the lookup (mg) or
                 * the increment (ma) */
                m->late_error = e;
                continue;
            }
            if (e != NULL) {
                r->error = e;
                return;
            }
        }
    }
    r->noreply = (m->seen & META_BIT('q')) != 0;
    if (m->seen & META_BIT('b')) {
        long k = b64_decode(t[1].s, t[1].n, m->keybuf, ITEM_KEY_MAX);
        if (k <= 0) {
            r->error = cmd == CMD_MD || cmd == CMD_MA ? E_MDMA :
                       cmd == CMD_ME ? E_FORMAT : E_DECODE;
            return;
        }
        r->key = m->keybuf;
        r->nkey = (size_t)k;
    } else {
        if (!text_key_valid(t[1].s, t[1].n)) {
            r->error = E_FORMAT;
            return;
        }
        r->key = t[1].s;
        r->nkey = t[1].n;
    }
    if (m->late_error != NULL) {
        r->error = m->late_error;
        return;
    }
    if (cmd == CMD_MS && (m->seen & META_BIT('M'))) {
        if (strchr("EAPRS", m->mode) == NULL)
            r->error = E_MODE;
    }
    if (cmd == CMD_MA && (m->seen & META_BIT('M'))) {
        if (strchr("I+D-", m->mode) == NULL)
            r->error = "CLIENT_ERROR invalid mode for ma M token";
    }
}
