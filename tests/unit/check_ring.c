/*
 * check_ring.c -- the SPSC record ring (include/ring.h): bounds, order,
 * wrap-around, and one producer against one consumer on two threads.
 */
#include <check.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ring.h"

START_TEST(test_put_take)
{
    struct ring r;
    ck_assert_int_eq(ring_init(&r, 100), 0);
    ck_assert_msg(r.cap >= 2 * (RING_RECORD_MAX + 4), "cap %zu", r.cap);
    char out[RING_RECORD_MAX];
    ck_assert_uint_eq(ring_take(&r, out), 0);
    ck_assert(ring_put(&r, "ab", 2, "cde", 3));
    ck_assert(ring_put(&r, "x", 1, NULL, 0));
    ck_assert_uint_eq(ring_used(&r), 4 + 5 + 4 + 1);
    ck_assert_uint_eq(ring_take(&r, out), 5);
    ck_assert_msg(memcmp(out, "abcde", 5) == 0, "got %.5s", out);
    ck_assert_uint_eq(ring_take(&r, out), 1);
    ck_assert_int_eq(out[0], 'x');
    ck_assert_uint_eq(ring_take(&r, out), 0);
    ck_assert_uint_eq(ring_used(&r), 0);
    /* empty and oversized records are refused */
    ck_assert(!ring_put(&r, "", 0, NULL, 0));
    static char big[RING_RECORD_MAX + 1];
    ck_assert(!ring_put(&r, big, sizeof(big), NULL, 0));
    ck_assert(ring_put(&r, big, RING_RECORD_MAX, NULL, 0));
    ck_assert_uint_eq(ring_take(&r, out), RING_RECORD_MAX);
    ring_deinit(&r);
}
END_TEST

/* Full: a record that does not fit is refused and nothing is overwritten;
 * taking one makes room again.  Records wrap around the end intact. */
START_TEST(test_full_and_wrap)
{
    struct ring r;
    ck_assert_int_eq(ring_init(&r, 0), 0);
    size_t cap = r.cap;
    char rec[100], out[RING_RECORD_MAX];
    int put = 0;
    for (;;) {
        memset(rec, 'a' + put % 26, sizeof(rec));
        if (!ring_put(&r, rec, sizeof(rec), NULL, 0))
            break;
        put++;
        ck_assert_msg(ring_used(&r) <= cap, "used %zu > cap %zu", ring_used(&r), cap);
    }
    ck_assert_int_eq(put, (int)(cap / 104));
    /* wrap: take one, put one, many times over; order and bytes kept */
    int taken = 0;
    for (int i = 0; i < 5000; i++) {
        char want[sizeof(rec)];
        memset(want, 'a' + taken % 26, sizeof(want));
        size_t n = ring_take(&r, out);
        if (n != sizeof(rec) || memcmp(out, want, sizeof(want)) != 0)
            ck_abort_msg("record %d: %zu bytes, first %c", taken, n, out[0]);
        taken++;
        memset(rec, 'a' + put % 26, sizeof(rec));
        if (!ring_put(&r, rec, 37, rec + 37, sizeof(rec) - 37))
            ck_abort_msg("put %d refused", put);
        put++;
    }
    while (ring_take(&r, out) > 0)
        taken++;
    ck_assert_int_eq(taken, put);
    ring_deinit(&r);
}
END_TEST

#define NREC 200000

static void *
producer(void *arg)
{
    struct ring *r = arg;
    char rec[64];
    for (uint32_t i = 0; i < NREC;) {
        int n = snprintf(rec, sizeof(rec), "%u:", i);
        size_t len = (size_t)n + i % 40;
        memset(rec + n, 'z', i % 40);
        if (ring_put(r, rec, len, NULL, 0))
            i++;
        else
            sched_yield();
    }
    return NULL;
}

/* One producer thread, one consumer: every record arrives once, in
 * order, intact (and TSan sees the acquire/release pairs). */
START_TEST(test_two_threads)
{
    struct ring r;
    ck_assert_int_eq(ring_init(&r, 16384), 0);
    pthread_t t;
    ck_assert_int_eq(pthread_create(&t, NULL, producer, &r), 0);
    char out[RING_RECORD_MAX];
    uint32_t next = 0;
    for (long spins = 0; next < NREC && spins < 2000000000L; spins++) {
        size_t n = ring_take(&r, out);
        if (n == 0) {
            sched_yield();
            continue;
        }
        char want[128];
        int k = snprintf(want, sizeof(want), "%u:", next);
        memset(want + k, 'z', next % 40);
        if (n != (size_t)k + next % 40 || memcmp(out, want, n) != 0)
            ck_abort_msg("record %u: %zu bytes: %.*s", next, n, (int)n, out);
        next++;
    }
    pthread_join(t, NULL);
    ck_assert_uint_eq(next, NREC);
    ck_assert_uint_eq(ring_used(&r), 0);
    ring_deinit(&r);
}
END_TEST

static Suite *
ring_suite(void)
{
    Suite *s = suite_create("ring");
    TCase *tc = tcase_create("records");
    tcase_add_test(tc, test_put_take);
    tcase_add_test(tc, test_full_and_wrap);
    suite_add_tcase(s, tc);
    tc = tcase_create("threads");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_two_threads);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    SRunner *sr = srunner_create(ring_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
