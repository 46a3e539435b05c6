/*
 * check_storage_util.h -- helpers shared by the storage unit tests.
 * Each test's fixture calls st_setup()/st_teardown(), which run the real
 * item_setup()/item_teardown().
 */
#ifndef CHECK_STORAGE_UTIL_H
#define CHECK_STORAGE_UTIL_H

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "item.h"
#include "../../src/storage/storage.h"

/* The eviction policy st_opts() asks for (a fixture may change it). */
static int st_policy = EVICT_S3FIFO;

/* Options for deterministic tests: no background threads unless asked. */
static inline void
st_opts(struct item_options *o, size_t mb)
{
    item_options_default(o);
    o->policy = st_policy;
    o->mem_limit = mb * 1024 * 1024;
    o->crawler = false;
    o->slab_automove = 0;
    o->hash_expand = false;
}

static inline void
st_start(const struct item_options *o)
{
    char err[256] = "";
    clock_setup();
    clock_freeze();                 /* only clock_advance() moves time */
    int rc = item_setup(o, err, sizeof(err));
    ck_assert_msg(rc == 0, "item_setup: %s", err);
}

/* The slab class of a stored key (a lookup: counts as a hit). */
static inline unsigned
st_class_of_key(const char *key)
{
    struct item *it = item_get(key, strlen(key));
    ck_assert_msg(it != NULL, "%s missing", key);
    unsigned c = item_class(it);
    item_release(it);
    return c;
}

/* Fixture pieces of the eviction and rebalancing tests. */
static inline void
st_teardown(void)
{
    item_teardown();
}

static inline void
st_start_mb(size_t mb, bool evict, int reassign)
{
    struct item_options o;
    st_opts(&o, mb);
    o.evict = evict;
    o.slab_reassign = reassign;
    st_start(&o);
}

/* A malloc'd value of n bytes c (NUL-terminated); the caller frees it. */
static inline char *
val_of(size_t n, char c)
{
    char *v = malloc(n + 1);
    memset(v, c, n);
    v[n] = 0;
    return v;
}

/* 36 + 6 + 100 = 142 -> 152-byte chunks, 6898 per page */
#define PER_PAGE_152 6898

/* Store key=val with op; returns the status. */
static inline enum item_status
st_store(const char *key, const char *val, size_t vlen, uint32_t flags,
         rel_time_t exptime, enum item_store_op op, uint64_t cas_in,
         uint64_t *cas_out)
{
    enum item_status st;
    struct item *it = item_alloc(key, strlen(key), flags, exptime, (uint32_t)vlen, &st);
    if (it == NULL)
        return st;
    struct iovec iov[4096];
    int n = item_value_iov(it, iov, 4096);
    ck_assert_msg(n > 0, "item_value_iov %s: %d", key, n);
    size_t off = 0;
    for (int i = 0; i < n; i++) {
        memcpy(iov[i].iov_base, val + off, iov[i].iov_len);
        off += iov[i].iov_len;
    }
    ck_assert_msg(off == vlen, "iov total %zu != %zu for %s", off, vlen, key);
    st = item_store(it, op, cas_in, cas_out);
    item_release(it);
    return st;
}

static inline enum item_status
st_set(const char *key, const char *val)
{
    return st_store(key, val, strlen(val), 0, 0, ITEM_SET, 0, NULL);
}

/* Copy key's value into a malloc'd NUL-terminated string (NULL on miss). */
static inline char *
st_get(const char *key)
{
    struct item *it = item_get(key, strlen(key));
    if (it == NULL)
        return NULL;
    char *s = malloc(item_nbytes(it) + 1);
    struct iovec iov[4096];
    int n = item_value_iov(it, iov, 4096);
    size_t off = 0;
    for (int i = 0; i < n; i++) {
        memcpy(s + off, iov[i].iov_base, iov[i].iov_len);
        off += iov[i].iov_len;
    }
    s[off] = '\0';
    item_release(it);
    return s;
}

/* ck_assert that key holds exactly want (or is missing if want NULL). */
static inline void
st_expect(const char *key, const char *want, int line)
{
    char *got = st_get(key);
    if (want == NULL)
        ck_assert_msg(got == NULL, "line %d: get %s: want miss, got \"%s\"", line, key,
                      got ? got : "");
    else
        ck_assert_msg(got != NULL && strcmp(got, want) == 0,
                      "line %d: get %s: want \"%s\", got \"%s\"", line, key, want,
                      got ? got : "(miss)");
    free(got);
}
#define ST_EXPECT(key, want) st_expect((key), (want), __LINE__)

static inline struct item_global_stats
st_stats(void)
{
    struct item_global_stats s;
    item_global_stats(&s);
    return s;
}

#define ST_MAIN(suite_fn)                                                   \
    int main(void)                                                          \
    {                                                                       \
        SRunner *sr = srunner_create(suite_fn());                           \
        srunner_run_all(sr, CK_NORMAL);                                     \
        int nf = srunner_ntests_failed(sr);                                 \
        srunner_free(sr);                                                   \
        return nf == 0 ? 0 : 1;                                             \
    }

#endif
