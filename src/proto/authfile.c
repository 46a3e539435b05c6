/*
 * authfile.c -- the -Y credentials table (see authfile.h).
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "authfile.h"

/* The whole file is kept; entries point into it. */
struct entry {
    const char *user, *pass;
    size_t      ulen, plen;
};

struct table {
    char         *data;
    struct entry *e;
    size_t        n;
};

static pthread_mutex_t table_lock = PTHREAD_MUTEX_INITIALIZER;   /* leaf */
static struct table *current;       /* table_lock */

/* Largest file read: a credentials list, not a database. */
#define AUTHFILE_MAX (4u << 20)

static void
table_free(struct table *t)
{
    if (t == NULL)
        return;
    free(t->data);
    free(t->e);
    free(t);
}

/* Split data (NUL-terminated, len bytes) into entries: every line is
 * "user:password" ("\r\n" or "\n" ends it; the last may lack one).
 * false on a line without ':' or an empty user, as memcached refuses. */
static bool
parse(struct table *t, size_t len)
{
    size_t cap = 8;
    t->e = malloc(cap * sizeof(*t->e));
    if (t->e == NULL)
        return false;
    char *p = t->data, *end = t->data + len;
    while (p < end) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        char *eol = nl != NULL ? nl : end;
        char *q = eol;
        if (q > p && q[-1] == '\r')
            q--;
        char *colon = memchr(p, ':', (size_t)(q - p));
        if (colon == NULL || colon == p)
            return false;
        if (t->n == cap) {
            struct entry *ne = realloc(t->e, 2 * cap * sizeof(*t->e));
            if (ne == NULL)
                return false;
            t->e = ne;
            cap *= 2;
        }
        t->e[t->n++] = (struct entry){ p, colon + 1, (size_t)(colon - p),
                                       (size_t)(q - colon - 1) };
        p = eol + 1;
    }
    return true;
}

int
authfile_load(const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        snprintf(err, errlen, "Could not open authfile [%s] for reading, error %s",
                 path, strerror(errno));
        return -1;
    }
    struct table *t = calloc(1, sizeof(*t));
    size_t len = 0;
    if (t != NULL && (t->data = malloc(AUTHFILE_MAX + 1)) != NULL)
        len = fread(t->data, 1, AUTHFILE_MAX + 1, f);
    bool read_err = ferror(f) != 0;
    fclose(f);
    if (t == NULL || t->data == NULL || read_err || len > AUTHFILE_MAX) {
        snprintf(err, errlen, "Could not read authfile [%s]%s", path,
                 len > AUTHFILE_MAX ? ": larger than 4 MB" : "");
        table_free(t);
        return -1;
    }
    t->data[len] = '\0';
    if (!parse(t, len) || t->n == 0) {
        snprintf(err, errlen, "Authfile [%s] has a malformed entry. Should be 'user:password'",
                 path);
        table_free(t);
        return -1;
    }
    pthread_mutex_lock(&table_lock);
    struct table *old = current;
    current = t;
    pthread_mutex_unlock(&table_lock);
    table_free(old);
    return 0;
}

/* Equal, in time that depends on the lengths only. */
static bool
same(const char *a, const char *b, size_t n)
{
    unsigned char d = 0;
    for (size_t i = 0; i < n; i++)
        d |= (unsigned char)(a[i] ^ b[i]);
    return d == 0;
}

bool
authfile_check(const char *user, size_t ulen, const char *pass, size_t plen)
{
    bool ok = false;
    pthread_mutex_lock(&table_lock);
    for (size_t i = 0; current != NULL && i < current->n; i++) {
        const struct entry *e = &current->e[i];
        /* every entry is looked at: no early exit on a match */
        bool m = e->ulen == ulen && e->plen == plen &&
                 ((int)same(e->user, user, ulen) & (int)same(e->pass, pass, plen));
        ok |= m;
    }
    pthread_mutex_unlock(&table_lock);
    return ok;
}

size_t
authfile_entries(void)
{
    pthread_mutex_lock(&table_lock);
    size_t n = current != NULL ? current->n : 0;
    pthread_mutex_unlock(&table_lock);
    return n;
}

void
authfile_teardown(void)
{
    pthread_mutex_lock(&table_lock);
    struct table *t = current;
    current = NULL;
    pthread_mutex_unlock(&table_lock);
    table_free(t);
}
