/* check_expiry.c -- exptime (incl. the 30-day rule), lazy expiry, the
 * crawler and its pacing, flush now and delayed. */
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

/* The pacing decisions, from made-up passes and clocks (no server time). */
START_TEST(test_pace_buckets)
{
    ck_assert_uint_eq(crawl_bucket(0), 0);
    ck_assert_uint_eq(crawl_bucket(1), 0);
    ck_assert_uint_eq(crawl_bucket(2), 1);
    ck_assert_uint_eq(crawl_bucket(59), 29);
    ck_assert_uint_eq(crawl_bucket(60), 30);
    ck_assert_uint_eq(crawl_bucket(119), 30);
    ck_assert_uint_eq(crawl_bucket(120), 31);
    ck_assert_uint_eq(crawl_bucket(3599), CRAWL_NBUCKETS - 1);
    ck_assert_uint_eq(crawl_bucket(3600), CRAWL_NBUCKETS);
    ck_assert_uint_eq(crawl_bucket(UINT32_MAX), CRAWL_NBUCKETS);
    /* every item of a bucket has expired at its end */
    for (rel_time_t left = 0; left < CRAWL_HORIZON; left++)
        ck_assert_uint_ge(crawl_bucket_end(crawl_bucket(left)), left + 1);
    ck_assert_uint_eq(crawl_bucket_end(0), 2);
    ck_assert_uint_eq(crawl_bucket_end(29), 60);
    ck_assert_uint_eq(crawl_bucket_end(30), 120);
    ck_assert_uint_eq(crawl_bucket_end(CRAWL_NBUCKETS - 1), CRAWL_HORIZON);
}
END_TEST

START_TEST(test_pace_wait)
{
    /* the longest wait grows with the cache: idle passes read at most
     * CRAWL_IDLE_RATE chunks a second, up to the horizon */
    ck_assert_uint_eq(crawl_wait_max(0), CRAWL_WAIT_MIN);
    ck_assert_uint_eq(crawl_wait_max(40000), 2);
    ck_assert_uint_eq(crawl_wait_max(5000000), 250);
    ck_assert_uint_eq(crawl_wait_max(50000000), 2500);
    ck_assert_uint_eq(crawl_wait_max(1000000000), CRAWL_HORIZON);

    static struct crawl_pass r;
    memset(&r, 0, sizeof(r));
    r.checked = 1000000;                  /* 1% + 1 = 10,001 items wanted */
    ck_assert_uint_eq(crawl_wait(&r, 5000000), 250);     /* nothing expires */
    ck_assert_uint_eq(crawl_wait(&r, 50000000), 2500);
    r.soon[crawl_bucket(5)] = 10000;      /* 1%: not yet worth a pass */
    ck_assert_uint_eq(crawl_wait(&r, 50000000), 2500);
    r.soon[crawl_bucket(30)] = 1;         /* 10,001 expired 32 s from now */
    ck_assert_uint_eq(crawl_wait(&r, 50000000), 32);
    r.soon[0] = 20000;                    /* enough in the first bucket */
    ck_assert_uint_eq(crawl_wait(&r, 50000000), CRAWL_WAIT_MIN);
    memset(&r, 0, sizeof(r));
    r.checked = 1000000;
    r.soon[crawl_bucket(1800)] = 50000;   /* half an hour away */
    ck_assert_uint_eq(crawl_wait(&r, 50000000), 1860);
    ck_assert_uint_eq(crawl_wait(&r, 5000000), 250);     /* capped */
    /* a small class: one item is worth a pass */
    memset(&r, 0, sizeof(r));
    r.checked = 50;
    r.soon[crawl_bucket(700)] = 1;
    ck_assert_uint_eq(crawl_wait(&r, 1000000000), 720);
    r.checked = 0;                        /* an empty class */
    r.soon[crawl_bucket(700)] = 0;
    ck_assert_uint_eq(crawl_wait(&r, 1000000000), CRAWL_HORIZON);
}
END_TEST

START_TEST(test_pace_due)
{
    /* scheduled */
    ck_assert(crawl_due(100, 100, ATIME_NONE, 0, 1000));
    ck_assert(!crawl_due(99, 100, ATIME_NONE, 0, 1000));
    /* an exptime given since the last pass has passed: due if at least
     * 1% (+1) of the items were given one */
    ck_assert(!crawl_due(50, 100, 60, 5000, 100000));      /* not yet */
    ck_assert(crawl_due(60, 100, 60, 1001, 100000));
    ck_assert(!crawl_due(60, 100, 60, 1000, 100000));
    ck_assert(crawl_due(60, 100, 60, 1, 0));               /* tiny class */
    ck_assert(!crawl_due(60, 100, 60, 0, 0));
}
END_TEST

static uint64_t
checked(void)
{
    return st_stats().crawler_items_checked;
}

/* The scheduler with the fake clock: a class is crawled when due, when an
 * exptime given since its last pass runs out (if enough items got one),
 * after a flush, and on request; not otherwise. */
START_TEST(test_pace_tick)
{
    char k[32];
    ck_assert_uint_eq(storage_crawl_tick(), 0);      /* first tick: all due */
    uint64_t starts = st_stats().crawler_starts;
    ck_assert_uint_eq(starts, 1);
    /* a class with 1000 items and no exptime */
    for (int i = 0; i < 1000; i++) {
        snprintf(k, sizeof(k), "p%d", i);
        st_set(k, "v");
    }
    unsigned id = st_class_of_key("p0");
    ck_assert_uint_eq(storage_crawl_tick(), 0);      /* not due yet */
    ck_assert_uint_eq(checked(), 0);
    clock_advance(2);                                /* scheduled (2 s) */
    ck_assert_uint_eq(storage_crawl_tick(), 0);
    ck_assert_uint_eq(checked(), 1000);
    ck_assert_uint_eq(storage_crawl_tick(), 0);      /* same second: not due */
    ck_assert_uint_eq(checked(), 1000);
    /* 5 items expiring in 1 s: 5 < 1% + 1 of the class, no early pass */
    for (int i = 0; i < 5; i++) {
        snprintf(k, sizeof(k), "s%d", i);
        st_store(k, "v", 1, 0, clock_exptime(1), ITEM_SET, 0, NULL);
    }
    ck_assert_uint_eq(st_class_of_key("s0"), id);
    clock_advance(1);
    ck_assert_uint_eq(storage_crawl_tick(), 0);
    ck_assert_uint_eq(checked(), 1000);
    clock_advance(1);                                /* scheduled (2 s) */
    ck_assert_uint_eq(storage_crawl_tick(), 5);
    ck_assert_uint_eq(checked(), 2005);
    /* 20 items expiring in 1 s are enough: a pass before the schedule */
    for (int i = 0; i < 20; i++) {
        snprintf(k, sizeof(k), "t%d", i);
        st_store(k, "v", 1, 0, clock_exptime(1), ITEM_SET, 0, NULL);
    }
    clock_advance(1);
    ck_assert_uint_eq(storage_crawl_tick(), 20);
    ck_assert_uint_eq(st_stats().crawler_reclaimed, 25);
    /* a touch to a short exptime counts too */
    for (int i = 0; i < 20; i++) {
        snprintf(k, sizeof(k), "p%d", i);
        ck_assert_int_eq(item_touch(k, strlen(k), clock_exptime(1)), ITEM_OK);
    }
    clock_advance(1);
    ck_assert_uint_eq(storage_crawl_tick(), 20);
    /* a flush: crawled at once, though not scheduled */
    ck_assert_uint_eq(storage_crawl_tick(), 0);      /* same second: not due */
    item_flush(0);
    ck_assert_uint_eq(storage_crawl_tick(), 980);
    ck_assert_uint_eq(st_stats().curr_items, 0);
    /* on request */
    st_set("r", "v");
    ck_assert_uint_eq(storage_crawl_tick(), 0);
    uint64_t c0 = checked();
    slab_crawl_request(0);
    ck_assert_uint_eq(storage_crawl_tick(), 0);
    ck_assert_uint_eq(checked(), c0 + 1);
    ck_assert_uint_gt(st_stats().crawler_starts, starts);
    struct item_class_stats cs;
    ck_assert(item_class_stats(id, &cs));
    ck_assert_uint_eq(cs.crawler_reclaimed, 1025);
    ck_assert_uint_ge(cs.crawler_items_checked, 1000);
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
    tcase_add_test(tc, test_pace_buckets);
    tcase_add_test(tc, test_pace_wait);
    tcase_add_test(tc, test_pace_due);
    tcase_add_test(tc, test_pace_tick);
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
