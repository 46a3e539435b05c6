/* check_stress.c -- several threads doing random get/set/delete/incr/
 * append/touch on a small cache (so eviction, page moves, the crawler and
 * hash growth all run), checking that every value read is one that was
 * written for that key.  Bounded in operations and in seconds. */
#include "check_storage_util.h"

#include <pthread.h>
#include <time.h>
#include <unistd.h>

#define NTHREADS 4
#define NKEYS    600
#define MAX_OPS  200000
#define MAX_SECS 3

static _Atomic uint64_t seqs;
static time_t deadline;

struct rng { uint64_t s; };

static uint32_t
rnd(struct rng *r)
{
    r->s ^= r->s << 13;
    r->s ^= r->s >> 7;
    r->s ^= r->s << 17;
    return (uint32_t)(r->s >> 11);
}

/* "<key>#<seq>#<len>#" then filler derived from seq, total len bytes. */
static size_t
make_value(char *buf, const char *key, uint64_t seq, size_t len)
{
    int h = snprintf(buf, 128, "%s#%llu#%zu#", key, (unsigned long long)seq, len);
    if ((size_t)h > len)
        len = (size_t)h;
    for (size_t i = (size_t)h; i < len; i++)
        buf[i] = (char)('a' + (seq + i) % 26);
    return len;
}

/* Is v (n bytes) a value make_value could have produced for key? */
static void
check_value(const char *key, const char *v, size_t n)
{
    char hdr[160];
    unsigned long long seq;
    size_t len;
    size_t kl = strlen(key);
    ck_assert_msg(n > kl + 1 && memcmp(v, key, kl) == 0 && v[kl] == '#',
                  "value for %s does not start with its key: %.40s", key, v);
    memcpy(hdr, v, n < sizeof(hdr) - 1 ? n : sizeof(hdr) - 1);
    hdr[n < sizeof(hdr) - 1 ? n : sizeof(hdr) - 1] = 0;
    ck_assert_msg(sscanf(hdr + kl, "#%llu#%zu#", &seq, &len) == 2, "bad header %s", hdr);
    ck_assert_msg(len == n, "value for %s: length %zu, header says %zu", key, n, len);
    const char *p = strchr(strchr(strchr(v + kl + 1, '#') + 1, '#'), '#');
    (void)p;
    size_t h = (size_t)snprintf(hdr, sizeof(hdr), "%s#%llu#%zu#", key, seq, len);
    for (size_t i = h; i < n; i++)
        ck_assert_msg(v[i] == (char)('a' + (seq + i) % 26),
                      "value for %s seq %llu corrupt at byte %zu", key, seq, i);
}

static void *
worker(void *arg)
{
    struct rng r = { 0x9e3779b97f4a7c15ULL * ((uintptr_t)arg + 1) };
    char key[32];
    char *buf = malloc(700 * 1024);
    for (int op = 0; op < MAX_OPS && time(NULL) < deadline; op++) {
        uint32_t x = rnd(&r);
        int k = (int)(x % NKEYS);
        uint32_t what = (x >> 10) % 100;
        if (k < 40) {                           /* counters */
            snprintf(key, sizeof(key), "n%d", k);
            if (what < 10) {
                st_set(key, "100");
            } else if (what < 60) {
                uint64_t res;
                enum item_status st = item_delta(key, strlen(key), what < 40, 3, &res, NULL);
                ck_assert_msg(st == ITEM_OK || st == ITEM_NOT_FOUND || st == ITEM_ENOMEM,
                              "delta %s: %d", key, st);
            } else {
                char *v = st_get(key);
                if (v) {
                    uint64_t n;
                    ck_assert_msg(sscanf(v, "%llu", (unsigned long long *)&n) == 1,
                                  "counter %s = \"%s\"", key, v);
                    free(v);
                }
            }
            continue;
        }
        if (k < 60) {                           /* append lists */
            snprintf(key, sizeof(key), "a%d", k);
            if (what < 5) {
                st_set(key, "");
            } else if (what < 50) {
                char tok[40];
                int tl = snprintf(tok, sizeof(tok), "%s|", key);
                st_store(key, tok, (size_t)tl, 0, 0, (what & 1) ? ITEM_APPEND : ITEM_PREPEND, 0, NULL);
            } else {
                char *v = st_get(key);
                if (v) {
                    char tok[40];
                    size_t tl = (size_t)snprintf(tok, sizeof(tok), "%s|", key);
                    size_t n = strlen(v);
                    ck_assert_msg(n % tl == 0, "append list %s has length %zu", key, n);
                    for (size_t i = 0; i < n; i += tl)
                        ck_assert_msg(memcmp(v + i, tok, tl) == 0, "append list %s corrupt", key);
                    free(v);
                }
            }
            continue;
        }
        snprintf(key, sizeof(key), "key%d", k);
        if (what < 45) {
            struct item *it = item_get(key, strlen(key));
            if (it) {
                struct iovec iov[8];
                int n = item_value_iov(it, iov, 8);
                ck_assert(n >= 1);
                size_t tot = item_nbytes(it);
                char *v = malloc(tot + 1);
                size_t off = 0;
                for (int i = 0; i < n; i++) {
                    memcpy(v + off, iov[i].iov_base, iov[i].iov_len);
                    off += iov[i].iov_len;
                }
                v[off] = 0;
                check_value(key, v, tot);
                free(v);
                item_release(it);
            }
        } else if (what < 85) {
            size_t len = 20 + rnd(&r) % 3000;
            if (what == 84)
                len = 520000 + rnd(&r) % 150000;   /* chained */
            uint64_t seq = atomic_fetch_add(&seqs, 1);
            len = make_value(buf, key, seq, len);
            enum item_status st = st_store(key, buf, len, 0, 0,
                                           what < 80 ? ITEM_SET : ITEM_ADD, 0, NULL);
            ck_assert_msg(st == ITEM_OK || st == ITEM_NOT_STORED || st == ITEM_ENOMEM,
                          "store %s len %zu: %d", key, len, st);
        } else if (what < 95) {
            item_delete(key, strlen(key));
        } else if (what < 98) {
            item_touch(key, strlen(key), clock_exptime(20));
        } else if (what < 99 || op % 64 != 0) {
            struct item *it = item_get_touch(key, strlen(key), 0);
            if (it)
                item_release(it);
        } else if (x % 50 == 0) {
            item_flush(0);
        }
    }
    free(buf);
    return NULL;
}

static int
walk_fn(struct item *it, void *arg)
{
    (void)arg;
    ck_assert(item_nkey(it) >= 2);
    return 0;
}

static void *
walker(void *arg)
{
    (void)arg;
    while (time(NULL) < deadline) {
        item_walk(walk_fn, NULL);
        clock_advance(1);              /* so touched items expire */
        struct item_class_stats s;
        for (unsigned i = 1; i <= item_nclasses(); i++)
            item_class_stats(i, &s);
        usleep(50000);
    }
    return NULL;
}

static void
run(bool use_cas)
{
    struct item_options o;
    item_options_default(&o);
    o.mem_limit = 8 * 1024 * 1024;
    o.hashpower = 4;
    o.use_cas = use_cas;
    o.slab_automove = 2;
    st_start(&o);
    deadline = time(NULL) + MAX_SECS;
    pthread_t t[NTHREADS], w;
    int nt = NTHREADS;
    for (int i = 0; i < nt; i++)
        pthread_create(&t[i], NULL, worker, (void *)(intptr_t)i);
    pthread_create(&w, NULL, walker, NULL);
    for (int i = 0; i < nt; i++)
        pthread_join(t[i], NULL);
    pthread_join(w, NULL);
    struct item_global_stats g = st_stats();
    ck_assert_msg(g.total_malloced <= 8 * 1024 * 1024, "malloced %llu",
                  (unsigned long long)g.total_malloced);
    /* every linked item is counted once */
    uint64_t sum = 0;
    for (unsigned i = 1; i <= item_nclasses(); i++) {
        struct item_class_stats s;
        item_class_stats(i, &s);
        sum += s.number;
    }
    ck_assert_uint_eq(sum, g.curr_items);
    hash_check();
    item_teardown();
}

START_TEST(test_stress)
{
    run(true);
}
END_TEST

START_TEST(test_stress_nocas)
{
    run(false);
}
END_TEST

static Suite *
stress_suite(void)
{
    Suite *s = suite_create("stress");
    TCase *tc = tcase_create("threads");
    tcase_set_timeout(tc, 20);
    tcase_add_test(tc, test_stress);
    tcase_add_test(tc, test_stress_nocas);
    suite_add_tcase(s, tc);
    return s;
}

ST_MAIN(stress_suite)
