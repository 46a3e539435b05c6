/* check_rebalance.c -- page rebalancing: size shifts, slabs reassign,
 * background automove, shrinking the memory limit, page moves racing
 * writers and readers. */
#include "check_storage_util.h"

#include <pthread.h>
#include <time.h>
#include <unistd.h>

/* Fill with 100-byte items, then write 10 KB items: pages must move. */
static void
shift(int automove)
{
    struct item_options o;
    st_opts(&o, 8);
    o.slab_automove = automove;
    st_start(&o);
    char *v = val_of(100, 'a');
    char key[32];
    for (int i = 0; i < 8 * PER_PAGE_152 + 5000; i++) {
        snprintf(key, sizeof(key), "k%05d", i);
        ck_assert_int_eq(st_set(key, v), ITEM_OK);
    }
    struct item_global_stats g = st_stats();
    ck_assert_uint_eq(g.total_malloced, 8 * 1024 * 1024);
    ck_assert_msg(g.evictions > 0, "cache full of small items");
    char *big = val_of(10 * 1024, 'B');
    int nbig = 250;
    for (int i = 0; i < nbig; i++) {
        snprintf(key, sizeof(key), "big%04d", i);
        enum item_status st = st_set(key, big);
        ck_assert_msg(st == ITEM_OK, "10 KB set %d after small fill: %d", i, st);
    }
    /* The new class took a page at once (no ENOMEM, no class left with
     * none); more pages come from the automove's ticks (test_automove_*),
     * not from equalising page counts on every allocation. */
    for (int i = nbig - 50; i < nbig; i++) {
        snprintf(key, sizeof(key), "big%04d", i);
        ST_EXPECT(key, big);
    }
    g = st_stats();
    ck_assert_msg(g.slabs_moved >= 1, "slabs_moved %llu", (unsigned long long)g.slabs_moved);
    ck_assert_uint_eq(g.total_malloced, 8 * 1024 * 1024);
    free(big);
    free(v);
}

START_TEST(test_rebalance_shift)
{
    shift(0);
}
END_TEST

START_TEST(test_rebalance_shift_automove)
{
    shift(1);
}
END_TEST

START_TEST(test_reassign_api)
{
    st_start_mb(8, true, 0);
    ck_assert_int_eq(item_slabs_reassign(1, 2), REASSIGN_DISABLED);
    item_teardown();
    st_start_mb(8, true, 1);
    char *v = val_of(100, 'a');
    char key[32];
    for (int i = 0; i < 3 * PER_PAGE_152; i++) {
        snprintf(key, sizeof(key), "k%05d", i);
        ck_assert_int_eq(st_set(key, v), ITEM_OK);
    }
    unsigned cls = slab_class_for(142);
    unsigned n = item_nclasses();
    ck_assert_int_eq(item_slabs_reassign((int)cls, (int)cls), REASSIGN_SAME);
    ck_assert_int_eq(item_slabs_reassign(0, 1), REASSIGN_BADCLASS);
    ck_assert_int_eq(item_slabs_reassign((int)n + 1, 1), REASSIGN_BADCLASS);
    ck_assert_int_eq(item_slabs_reassign(1, (int)n + 1), REASSIGN_BADCLASS);
    ck_assert_int_eq(item_slabs_reassign(1, (int)cls), REASSIGN_NOSPARE);
    /* an item held by a reader pins its page */
    struct item *held = item_get("k00000", 6);
    struct item_class_stats a, b;
    item_class_stats(cls, &a);
    ck_assert_uint_eq(a.total_pages, 3);
    ck_assert_int_eq(item_slabs_reassign((int)cls, 5), REASSIGN_OK);
    item_class_stats(cls, &a);
    item_class_stats(5, &b);
    ck_assert_uint_eq(a.total_pages, 2);
    ck_assert_uint_eq(b.total_pages, 1);
    ck_assert_uint_eq(b.free_chunks, b.total_chunks);
    ck_assert_int_eq(item_slabs_reassign(-1, 0), REASSIGN_OK);   /* to the pool */
    struct item_global_stats g = st_stats();
    ck_assert_uint_eq(g.total_malloced, 2 * 1024 * 1024);
    ck_assert_uint_eq(g.slabs_moved, 2);
    ST_EXPECT("k00000", v);
    item_release(held);
    free(v);
}
END_TEST

START_TEST(test_shrink_limit)
{
    struct item_options o;
    st_opts(&o, 8);
    o.slab_automove = 1;
    st_start(&o);
    char *v = val_of(100, 'a');
    char key[32];
    for (int i = 0; i < 8 * PER_PAGE_152; i++) {
        snprintf(key, sizeof(key), "k%05d", i);
        st_set(key, v);
    }
    ck_assert_int_eq(item_set_mem_limit(4 * 1024 * 1024), 0);
    for (int i = 0; i < 100 && st_stats().total_malloced > 4 * 1024 * 1024; i++)
        usleep(100000);
    ck_assert_msg(st_stats().total_malloced == 4 * 1024 * 1024,
                  "pages above the new limit given back: %llu",
                  (unsigned long long)st_stats().total_malloced);
    free(v);
}
END_TEST

/* After a shift the background mover keeps moving pages from the idle
 * small-item class to the evicting 10 KB class. */
static void
automove(int mode, uint32_t want_pages, int secs)
{
    struct item_options o;
    st_opts(&o, 8);
    o.slab_automove = mode;
    st_start(&o);
    char *v = val_of(100, 'a');
    char key[32];
    for (int i = 0; i < 8 * PER_PAGE_152 + 100; i++) {
        snprintf(key, sizeof(key), "k%05d", i);
        ck_assert_int_eq(st_set(key, v), ITEM_OK);
    }
    char *big = val_of(10 * 1024, 'B');
    snprintf(key, sizeof(key), "big%05d", 0);
    st_set(key, big);
    struct item *it = item_get(key, strlen(key));
    unsigned cls = item_class(it);
    item_release(it);
    time_t end = time(NULL) + secs;
    struct item_class_stats s;
    for (int i = 0; time(NULL) < end; i++) {
        snprintf(key, sizeof(key), "big%05d", i % 5000);
        ck_assert_int_eq(st_set(key, big), ITEM_OK);
        item_class_stats(cls, &s);
        if (s.total_pages >= want_pages)
            break;
        if (i % 50 == 0)
            usleep(20000);
    }
    item_class_stats(cls, &s);
    ck_assert_msg(s.total_pages >= want_pages, "automove %d: 10 KB class has %llu pages, want %u",
                  mode, (unsigned long long)s.total_pages, want_pages);
    free(big);
    free(v);
}

START_TEST(test_automove_mode2)
{
    automove(2, 6, 10);
}
END_TEST

START_TEST(test_automove_mode1)
{
    automove(1, 6, 14);
}
END_TEST

/* Two classes that both evict all the time, one written three times as
 * often: pages must follow the evictions (per page) instead of staying
 * split evenly, and the slower class keeps its share.  Before automove
 * balanced busy classes, slab_alloc's steal from the class with 2 pages
 * more kept them at 4 + 4 and mode 1 found no quiet donor. */
START_TEST(test_automove_busy_balance)
{
    struct item_options o;
    st_opts(&o, 8);
    o.slab_automove = 1;
    st_start(&o);
    char *va = val_of(100, 'a');              /* 7-byte key: 152-byte chunk */
    char *vb = val_of(140, 'b');              /* 192-byte chunk */
    char key[32];
    const unsigned ka = 8 * PER_PAGE_152 * 2, kb = 8 * 5461 * 2;
    ck_assert_int_eq(st_set("a000000", va), ITEM_OK);
    ck_assert_int_eq(st_set("b000000", vb), ITEM_OK);
    unsigned ca = st_class_of_key("a000000"), cb = st_class_of_key("b000000");
    ck_assert_uint_ne(ca, cb);
    /* As many writes to each: the pool runs dry, both evict, and the
     * pages end up split about evenly. */
    for (unsigned i = 1; i < ka; i++) {
        snprintf(key, sizeof(key), "a%06u", i);
        ck_assert_int_eq(st_set(key, va), ITEM_OK);
        snprintf(key, sizeof(key), "b%06u", i % kb);
        ck_assert_int_eq(st_set(key, vb), ITEM_OK);
    }
    struct item_class_stats a, b;
    item_class_stats(ca, &a);
    item_class_stats(cb, &b);
    ck_assert_msg(a.total_pages <= 5 && a.total_pages + b.total_pages == 8 && a.evicted > 0 &&
                  b.evicted > 0, "1:1 writes: pages %llu + %llu",
                  (unsigned long long)a.total_pages, (unsigned long long)b.total_pages);
    uint64_t a0 = a.total_pages;
    time_t end = time(NULL) + 25;
    for (unsigned i = 1; time(NULL) < end; i++) {
        snprintf(key, sizeof(key), "a%06u", (3 * i) % ka);
        ck_assert_int_eq(st_set(key, va), ITEM_OK);
        snprintf(key, sizeof(key), "a%06u", (3 * i + 1) % ka);
        ck_assert_int_eq(st_set(key, va), ITEM_OK);
        snprintf(key, sizeof(key), "a%06u", (3 * i + 2) % ka);
        ck_assert_int_eq(st_set(key, va), ITEM_OK);
        snprintf(key, sizeof(key), "b%06u", i % kb);
        ck_assert_int_eq(st_set(key, vb), ITEM_OK);
        if (i % 2048 == 0) {
            item_class_stats(ca, &a);
            if (a.total_pages > a0 && a.total_pages >= 5)
                break;
            usleep(1000);
        }
    }
    item_class_stats(ca, &a);
    item_class_stats(cb, &b);
    ck_assert_msg(a.total_pages > a0 && a.total_pages >= 5 && b.total_pages >= 2,
                  "3:1 writes, both evicting: pages %llu + %llu, want > %llu, >= 5 + >= 2",
                  (unsigned long long)a.total_pages, (unsigned long long)b.total_pages,
                  (unsigned long long)a0);
    free(va);
    free(vb);
}
END_TEST

/* Page moves (emptied a batch at a time, the class lock dropped between
 * batches) while other threads store, delete, read and hold items of the
 * same classes, chained ones included.  Afterwards every chunk is
 * accounted for and every value is intact. */
#define RC_KEYS 30000
static _Atomic bool rc_stop;
static _Atomic int rc_failed;               /* ck_assert is slow in threads */
static char rc_msg[200];

#define RC_CHECK(cond, ...)                                                  \
    do {                                                                     \
        if (!(cond) && atomic_fetch_add(&rc_failed, 1) == 0)                 \
            snprintf(rc_msg, sizeof(rc_msg), __VA_ARGS__);                   \
    } while (0)

static void
rc_value(char *v, size_t n, const char *key)
{
    memset(v, 'x', n);
    memcpy(v, key, strlen(key));
}

static void *
rc_writer(void *arg)
{
    uint64_t r = (uint64_t)(intptr_t)arg * 0x9E3779B97F4A7C15ULL + 1;
    char key[32], v[101], got[101];
    struct item *held = NULL;
    while (!atomic_load(&rc_stop)) {
        r ^= r << 13; r ^= r >> 7; r ^= r << 17;
        snprintf(key, sizeof(key), "c%05u", (unsigned)(r >> 20) % RC_KEYS);
        unsigned what = (unsigned)(r >> 8) % 100;
        if (what < 60) {
            rc_value(v, 100, key);
            enum item_status st;
            struct item *it = item_alloc(key, strlen(key), 0, 0, 100, &st);
            if (it == NULL) {
                RC_CHECK(st == ITEM_ENOMEM, "alloc %s: %d", key, st);
                continue;
            }
            struct iovec iov[1];
            item_value_iov(it, iov, 1);
            memcpy(iov[0].iov_base, v, 100);
            st = item_store(it, ITEM_SET, 0, NULL);
            RC_CHECK(st == ITEM_OK, "set %s: %d", key, st);
            item_release(it);
        } else if (what < 75) {
            item_delete(key, strlen(key));
        } else {
            struct item *it = item_get(key, strlen(key));
            if (it == NULL)
                continue;
            struct iovec iov[1];
            int n = item_value_iov(it, iov, 1);
            RC_CHECK(n == 1 && iov[0].iov_len == 100, "%s: %d segments", key, n);
            memcpy(got, iov[0].iov_base, 100);
            rc_value(v, 100, key);
            RC_CHECK(memcmp(got, v, 100) == 0, "value of %s changed under a page move", key);
            if (held != NULL)
                item_release(held);
            held = what < 80 ? it : NULL;     /* sometimes keep one: pins its page */
            if (held == NULL)
                item_release(it);
        }
    }
    if (held != NULL)
        item_release(held);
    return NULL;
}

static void *
rc_big_writer(void *arg)
{
    (void)arg;
    size_t n = 700 * 1024;                    /* chained: 512 KB + remainder */
    char *v = malloc(n);
    char key[32];
    for (unsigned i = 0; !atomic_load(&rc_stop); i++) {
        snprintf(key, sizeof(key), "big%u", i % 3);
        rc_value(v, n, key);
        enum item_status st;
        struct item *it = item_alloc(key, strlen(key), 0, 0, (uint32_t)n, &st);
        if (it == NULL) {
            RC_CHECK(st == ITEM_ENOMEM, "big alloc: %d", st);
            continue;
        }
        struct iovec iov[4];
        int ns = item_value_iov(it, iov, 4);
        size_t off = 0;
        for (int j = 0; j < ns; j++) {
            memcpy(iov[j].iov_base, v + off, iov[j].iov_len);
            off += iov[j].iov_len;
        }
        RC_CHECK(off == n, "big iov %zu", off);
        st = item_store(it, ITEM_SET, 0, NULL);
        RC_CHECK(st == ITEM_OK, "big set: %d", st);
        item_release(it);
        usleep(2000);
    }
    free(v);
    return NULL;
}

START_TEST(test_reassign_concurrent)
{
    st_start_mb(12, true, 1);
    atomic_store(&rc_stop, false);
    atomic_store(&rc_failed, 0);
    char key[32], v[101];
    for (int i = 0; i < RC_KEYS; i++) {
        snprintf(key, sizeof(key), "c%05d", i);
        rc_value(v, 100, key);
        st_store(key, v, 100, 0, 0, ITEM_SET, 0, NULL);
    }
    unsigned cls = slab_class_for(36 + 6 + 100), big = item_nclasses();
    pthread_t w[3];
    for (int i = 0; i < 2; i++)
        pthread_create(&w[i], NULL, rc_writer, (void *)(intptr_t)(i + 1));
    pthread_create(&w[2], NULL, rc_big_writer, NULL);
    time_t end = time(NULL) + 10;             /* sanitizer builds are slow */
    unsigned ok = 0, unsafe = 0, nospare = 0;
    for (int i = 0; i < 5000 && ok < 40 && time(NULL) < end; i++) {
        int src = i % 3 == 2 ? (int)big : (int)cls;
        enum item_reassign_status st = item_slabs_reassign(src, 0);   /* writers take it back */
        RC_CHECK(st == REASSIGN_OK || st == REASSIGN_UNSAFE || st == REASSIGN_NOSPARE,
                 "reassign %d -> 0: %d", src, st);
        ok += st == REASSIGN_OK;
        unsafe += st == REASSIGN_UNSAFE;
        nospare += st == REASSIGN_NOSPARE;
        if (st != REASSIGN_OK)
            usleep(1000);                     /* let the writers refill it */
    }
    atomic_store(&rc_stop, true);
    for (int i = 0; i < 3; i++)
        pthread_join(w[i], NULL);
    ck_assert_msg(atomic_load(&rc_failed) == 0, "%s", rc_msg);
    ck_assert_msg(ok >= 5, "only %u page moves succeeded (%u unsafe, %u nospare)", ok,
                  unsafe, nospare);
    hash_check();
    struct item_global_stats g = st_stats();
    uint64_t sum = 0;
    for (unsigned i = 1; i <= item_nclasses(); i++) {
        struct item_class_stats s;
        item_class_stats(i, &s);
        sum += s.number;
        ck_assert_uint_eq(s.used_chunks + s.free_chunks, s.total_chunks);
        if (i == cls)                         /* no chunk lost or doubly used */
            ck_assert_msg(s.used_chunks == s.number, "class %u: %llu used, %llu items",
                          i, (unsigned long long)s.used_chunks,
                          (unsigned long long)s.number);
    }
    ck_assert_uint_eq(sum, g.curr_items);
    ck_assert_uint_le(g.total_malloced, 12 * 1024 * 1024);
    for (int i = 0; i < RC_KEYS; i++) {
        snprintf(key, sizeof(key), "c%05d", i);
        char *got = st_get(key);
        if (got != NULL) {
            rc_value(v, 100, key);
            v[100] = 0;
            ck_assert_msg(strcmp(got, v) == 0, "value of %s", key);
        }
        free(got);
    }
}
END_TEST

static Suite *
rebalance_suite(void)
{
    Suite *s = suite_create("rebalance");
    TCase *tc = tcase_create("shift");
    tcase_set_timeout(tc, 30);
    tcase_add_checked_fixture(tc, NULL, st_teardown);
    tcase_add_test(tc, test_rebalance_shift);
    tcase_add_test(tc, test_rebalance_shift_automove);
    suite_add_tcase(s, tc);
    tc = tcase_create("reassign");
    tcase_set_timeout(tc, 30);
    tcase_add_checked_fixture(tc, NULL, st_teardown);
    tcase_add_test(tc, test_reassign_api);
    tcase_add_test(tc, test_shrink_limit);
    tcase_add_test(tc, test_reassign_concurrent);
    suite_add_tcase(s, tc);
    tc = tcase_create("automove");
    tcase_set_timeout(tc, 30);
    tcase_add_checked_fixture(tc, NULL, st_teardown);
    tcase_add_test(tc, test_automove_mode2);
    tcase_add_test(tc, test_automove_mode1);
    tcase_add_test(tc, test_automove_busy_balance);
    suite_add_tcase(s, tc);
    return s;
}

ST_MAIN(rebalance_suite)
