/* check_rebalance.c -- page rebalancing: size shifts, slabs reassign,
 * background automove, shrinking the memory limit. */
#include "check_storage_util.h"

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
    for (int i = 0; i < nbig; i++) {
        snprintf(key, sizeof(key), "big%04d", i);
        ST_EXPECT(key, big);
    }
    g = st_stats();
    ck_assert_msg(g.slabs_moved >= 3, "slabs_moved %llu", (unsigned long long)g.slabs_moved);
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
    suite_add_tcase(s, tc);
    tc = tcase_create("automove");
    tcase_set_timeout(tc, 30);
    tcase_add_checked_fixture(tc, NULL, st_teardown);
    tcase_add_test(tc, test_automove_mode2);
    tcase_add_test(tc, test_automove_mode1);
    suite_add_tcase(s, tc);
    return s;
}

ST_MAIN(rebalance_suite)
