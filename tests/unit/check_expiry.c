/* check_expiry.c -- exptime (incl. the 30-day rule), lazy expiry, the
 * crawler, flush now and delayed. */
#include "check_storage_util.h"

#include <time.h>
#include <unistd.h>

static void
setup(void)
{
    struct item_options o;
    st_opts(&o, 8);
    st_start(&o);
}

static void
teardown(void)
{
    item_teardown();
}

START_TEST(test_relative)
{
    ck_assert_int_eq(st_store("e", "v", 1, 0, clock_exptime(2), ITEM_SET, 0, NULL), ITEM_OK);
    ck_assert_int_eq(st_store("p", "v", 1, 0, clock_exptime(0), ITEM_SET, 0, NULL), ITEM_OK);
    ST_EXPECT("e", "v");
    clock_advance(1);
    ST_EXPECT("e", "v");
    clock_advance(1);
    ST_EXPECT("e", NULL);
    ST_EXPECT("p", "v");
    struct item_global_stats g = st_stats();
    ck_assert_uint_eq(g.get_expired, 1);
    ck_assert_uint_eq(g.curr_items, 1);
    clock_advance(1000000);
    ST_EXPECT("p", "v");
}
END_TEST

START_TEST(test_negative_and_absolute)
{
    st_store("neg", "v", 1, 0, clock_exptime(-1), ITEM_SET, 0, NULL);
    ST_EXPECT("neg", NULL);
    /* above 30 days: an absolute unix time */
    time_t now = time(NULL);
    st_store("abs", "v", 1, 0, clock_exptime((int64_t)now + 10), ITEM_SET, 0, NULL);
    st_store("past", "v", 1, 0, clock_exptime((int64_t)now - 10), ITEM_SET, 0, NULL);
    st_store("30d", "v", 1, 0, clock_exptime(CLOCK_MAX_DELTA), ITEM_SET, 0, NULL);
    ST_EXPECT("abs", "v");
    ST_EXPECT("past", NULL);
    clock_advance(12);
    ST_EXPECT("abs", NULL);
    ST_EXPECT("30d", "v");            /* exactly 30 days is still relative */
    clock_advance(CLOCK_MAX_DELTA);
    ST_EXPECT("30d", NULL);
}
END_TEST

START_TEST(test_touch_extends)
{
    st_store("t", "v", 1, 0, clock_exptime(2), ITEM_SET, 0, NULL);
    ck_assert_int_eq(item_touch("t", 1, clock_exptime(10)), ITEM_OK);
    clock_advance(5);
    ST_EXPECT("t", "v");
    struct item *it = item_get_touch("t", 1, clock_exptime(1));
    ck_assert(it != NULL);
    item_release(it);
    clock_advance(2);
    ST_EXPECT("t", NULL);
    ck_assert_int_eq(item_touch("t", 1, 0), ITEM_NOT_FOUND);
}
END_TEST

START_TEST(test_crawler_reclaims)
{
    char key[32];
    for (int i = 0; i < 1000; i++) {
        snprintf(key, sizeof(key), "c%d", i);
        st_store(key, "value", 5, 0, clock_exptime(i < 600 ? 1 : 0), ITEM_SET, 0, NULL);
    }
    ST_EXPECT("c0", "value");               /* fetched: not "unfetched" */
    clock_advance(2);
    uint64_t n = storage_crawl_once();
    ck_assert_msg(n == 600, "crawler reclaimed %llu", (unsigned long long)n);
    struct item_global_stats g = st_stats();
    ck_assert_uint_eq(g.curr_items, 400);
    ck_assert_uint_eq(g.crawler_reclaimed, 600);
    ck_assert_uint_eq(g.expired_unfetched, 599);
    ck_assert_uint_eq(g.get_expired, 0);
    /* the memory is back on the free lists: 36+4+5 = 45 -> 48-byte class */
    struct item_class_stats s;
    item_class_stats(1, &s);
    ck_assert_uint_eq(s.used_chunks, 400);
    ck_assert_uint_eq(s.crawler_reclaimed, 600);
}
END_TEST

START_TEST(test_crawler_thread)
{
    item_teardown();
    struct item_options o;
    st_opts(&o, 8);
    o.crawler = true;
    st_start(&o);
    st_store("bg", "v", 1, 0, clock_exptime(1), ITEM_SET, 0, NULL);
    clock_advance(2);
    for (int i = 0; i < 50 && st_stats().curr_items != 0; i++)
        usleep(100000);
    ck_assert_msg(st_stats().curr_items == 0, "background crawler did not reclaim");
    ck_assert_uint_eq(st_stats().crawler_reclaimed, 1);
}
END_TEST

START_TEST(test_flush_now)
{
    st_set("a", "1");
    st_set("b", "2");
    item_flush(0);
    st_set("c", "3");                /* same second, after the flush */
    ST_EXPECT("a", NULL);
    ST_EXPECT("b", NULL);
    ST_EXPECT("c", "3");
    ck_assert_uint_eq(st_stats().get_flushed, 2);
    clock_advance(1);
    ST_EXPECT("c", "3");
    /* the crawler reclaims flushed items nobody asked for */
    st_set("d", "4");
    item_flush(clock_now());
    ck_assert_uint_eq(storage_crawl_once(), 2);
    ck_assert_uint_eq(st_stats().curr_items, 0);
}
END_TEST

START_TEST(test_flush_delayed)
{
    st_set("a", "1");
    item_flush(clock_now() + 5);
    clock_advance(2);
    st_set("b", "2");
    ST_EXPECT("a", "1");
    clock_advance(3);
    st_set("c", "3");                  /* stored at the flush time: kept */
    ST_EXPECT("a", NULL);
    ST_EXPECT("b", NULL);
    ST_EXPECT("c", "3");
}
END_TEST

START_TEST(test_flush_nocas)
{
    item_teardown();
    struct item_options o;
    st_opts(&o, 8);
    o.use_cas = false;
    st_start(&o);
    st_set("a", "1");
    item_flush(0);
    ST_EXPECT("a", NULL);
    clock_advance(1);
    st_set("b", "2");
    ST_EXPECT("b", "2");
}
END_TEST

static Suite *
expiry_suite(void)
{
    Suite *s = suite_create("expiry");
    TCase *tc = tcase_create("exptime");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_relative);
    tcase_add_test(tc, test_negative_and_absolute);
    tcase_add_test(tc, test_touch_extends);
    suite_add_tcase(s, tc);
    tc = tcase_create("crawler");
    tcase_set_timeout(tc, 15);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_crawler_reclaims);
    tcase_add_test(tc, test_crawler_thread);
    suite_add_tcase(s, tc);
    tc = tcase_create("flush");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_flush_now);
    tcase_add_test(tc, test_flush_delayed);
    tcase_add_test(tc, test_flush_nocas);
    suite_add_tcase(s, tc);
    return s;
}

ST_MAIN(expiry_suite)
