/* check_hotkeys.c -- the hot keys sketch (hotkeys.h): exact counts with
 * sample 1, Space-Saving's bounds on a small sketch under churn, the merge
 * of several threads' sketches (with a reader running alongside), the
 * sampler's scaling, reset, and the disabled state. */
#include <check.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hotkeys.h"

static void
start(bool enabled, uint32_t sample, uint32_t size)
{
    struct hotkeys_options o = { .enabled = enabled, .sample = sample, .size = size };
    ck_assert_int_eq(hotkeys_setup(&o), 0);
}

static void
teardown(void)
{
    hotkeys_teardown();
}

static void
look(const char *k, int times)
{
    for (int i = 0; i < times; i++)
        hotkeys_lookup(k, strlen(k));
}

/* The reported entry for key k, or NULL. */
static const struct hotkey *
find(const struct hotkey *top, size_t n, const char *k)
{
    for (size_t i = 0; i < n; i++)
        if (top[i].nkey == strlen(k) && memcmp(top[i].key, k, top[i].nkey) == 0)
            return &top[i];
    return NULL;
}

static uint64_t
rnd(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* ---- exact (sample 1, more room than keys) ---- */

START_TEST(test_exact_order)
{
    start(true, 1, 64);
    look("a", 5);
    look("bb", 9);
    look("c", 1);
    look("dd", 9);
    look("e", 3);
    struct hotkey top[HOTKEYS_TOP_MAX];
    size_t n = hotkeys_top(3, top);
    ck_assert_uint_eq(n, 3);
    /* equal counts: by key bytes */
    const char *want[] = { "bb", "dd", "a" };
    uint64_t cnt[] = { 9, 9, 5 };
    for (size_t i = 0; i < 3; i++) {
        ck_assert_msg(top[i].nkey == strlen(want[i]) &&
                      memcmp(top[i].key, want[i], top[i].nkey) == 0,
                      "rank %zu: %.*s, want %s", i + 1, top[i].nkey, top[i].key, want[i]);
        ck_assert_uint_eq(top[i].count, cnt[i]);
        ck_assert_uint_eq(top[i].error, 0);
    }
    /* asking for more than is monitored gives what there is */
    ck_assert_uint_eq(hotkeys_top(HOTKEYS_TOP_MAX, top), 5);
    ck_assert_uint_eq(hotkeys_top(0, top), 0);
    struct hotkeys_info hi;
    hotkeys_info(&hi);
    ck_assert(hi.enabled);
    ck_assert_uint_eq(hi.sample, 1);
    ck_assert_uint_eq(hi.size, 64);
    ck_assert_uint_eq(hi.sampled, 27);
    ck_assert_uint_eq(hi.sketches, 1);
    ck_assert_msg(hi.bytes >= 64 * HOTKEYS_KEY_MAX && hi.bytes < 64 * 400,
                  "bytes %llu", (unsigned long long)hi.bytes);
}
END_TEST

START_TEST(test_binary_and_long_keys)
{
    start(true, 1, 16);
    char big[HOTKEYS_KEY_MAX];
    memset(big, 'k', sizeof(big));
    for (int i = 0; i < 4; i++)
        hotkeys_lookup(big, sizeof(big));
    hotkeys_lookup("a\0b", 3);
    hotkeys_lookup("a\0b", 3);
    hotkeys_lookup("a", 1);          /* not the same key as "a\0b" */
    hotkeys_lookup("", 0);           /* ignored */
    struct hotkey top[4];
    size_t n = hotkeys_top(4, top);
    ck_assert_uint_eq(n, 3);
    ck_assert_uint_eq(top[0].nkey, HOTKEYS_KEY_MAX);
    ck_assert(memcmp(top[0].key, big, sizeof(big)) == 0);
    ck_assert_uint_eq(top[0].count, 4);
    ck_assert_uint_eq(top[1].nkey, 3);
    ck_assert(memcmp(top[1].key, "a\0b", 3) == 0);
    ck_assert_uint_eq(top[1].count, 2);
    ck_assert_uint_eq(top[2].nkey, 1);
    ck_assert_uint_eq(top[2].count, 1);
}
END_TEST

START_TEST(test_reset)
{
    start(true, 1, 16);
    look("x", 10);
    hotkeys_reset();
    struct hotkey top[2];
    ck_assert_uint_eq(hotkeys_top(2, top), 0);
    struct hotkeys_info hi;
    hotkeys_info(&hi);
    ck_assert_uint_eq(hi.sampled, 0);
    look("y", 2);
    ck_assert_uint_eq(hotkeys_top(2, top), 1);
    ck_assert_uint_eq(top[0].count, 2);
    ck_assert(top[0].nkey == 1 && top[0].key[0] == 'y');
}
END_TEST

START_TEST(test_disabled)
{
    start(false, 1, 16);
    look("x", 10);
    struct hotkey top[2];
    ck_assert_uint_eq(hotkeys_top(2, top), 0);
    struct hotkeys_info hi;
    hotkeys_info(&hi);
    ck_assert(!hi.enabled);
    ck_assert_uint_eq(hi.bytes, 0);
    ck_assert_uint_eq(hi.sketches, 0);
    /* enabled again (a new setup): counted from then on */
    start(true, 1, 16);
    look("x", 3);
    ck_assert_uint_eq(hotkeys_top(2, top), 1);
    ck_assert_uint_eq(top[0].count, 3);
}
END_TEST

/* ---- Space-Saving under churn: 16 slots, thousands of keys ---- */

#define CHURN_KEYS 5000
#define CHURN_N    200000

START_TEST(test_space_saving_bounds)
{
    enum { M = 16 };
    start(true, 1, M);
    static uint32_t truth[CHURN_KEYS];
    memset(truth, 0, sizeof(truth));
    uint64_t s = 88172645463325252ULL;
    char k[16];
    for (int i = 0; i < CHURN_N; i++) {
        /* 4 heavy keys (30%, 20%, 15%, 10%: each above N/M), the rest
         * spread over all keys */
        uint64_t r = rnd(&s) % 100;
        uint32_t id = r < 30 ? 0 : r < 50 ? 1 : r < 65 ? 2 : r < 75 ? 3
                    : (uint32_t)(rnd(&s) % CHURN_KEYS);
        truth[id]++;
        int nk = snprintf(k, sizeof(k), "key:%u", id);
        hotkeys_lookup(k, (size_t)nk);
    }
    struct hotkey top[HOTKEYS_TOP_MAX];
    size_t n = hotkeys_top(HOTKEYS_TOP_MAX, top);
    /* every slot in use, each key once; the counts add up to the stream
     * (each update adds one; a takeover keeps the old count) */
    ck_assert_uint_eq(n, M);
    uint64_t sum = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned id;
        char kz[32];
        ck_assert(top[i].nkey < sizeof(kz));
        memcpy(kz, top[i].key, top[i].nkey);
        kz[top[i].nkey] = '\0';
        ck_assert_msg(sscanf(kz, "key:%u", &id) == 1 && id < CHURN_KEYS, "bad key %s", kz);
        for (size_t j = 0; j < i; j++)
            ck_assert_msg(!(top[j].nkey == top[i].nkey &&
                            memcmp(top[j].key, top[i].key, top[i].nkey) == 0),
                          "key %.*s twice", top[i].nkey, top[i].key);
        /* count - error <= truth <= count */
        ck_assert_msg(top[i].count >= truth[id] && top[i].count - top[i].error <= truth[id],
                      "key:%u truth %u count %llu error %llu", id, truth[id],
                      (unsigned long long)top[i].count, (unsigned long long)top[i].error);
        if (i > 0)
            ck_assert(top[i - 1].count >= top[i].count);
        sum += top[i].count;
    }
    ck_assert_uint_eq(sum, CHURN_N);
    /* every key seen more than N/M times is monitored (the 4 heavy ones),
     * and they are the top 4 */
    for (unsigned id = 0; id < CHURN_KEYS; id++) {
        if (truth[id] <= CHURN_N / M)
            continue;
        int nk = snprintf(k, sizeof(k), "key:%u", id);
        (void)nk;
        ck_assert_msg(find(top, n, k) != NULL, "%s (%u) not reported", k, truth[id]);
    }
    for (unsigned id = 0; id < 4; id++) {
        snprintf(k, sizeof(k), "key:%u", id);
        ck_assert_msg(top[id].nkey == strlen(k) && memcmp(top[id].key, k, top[id].nkey) == 0,
                      "rank %u is %.*s", id + 1, top[id].nkey, top[id].key);
    }
}
END_TEST

/* ---- sampling ---- */

START_TEST(test_sample_scaled)
{
    start(true, 8, 64);
    look("hot", 80000);
    look("warm", 20000);
    struct hotkey top[2];
    ck_assert_uint_eq(hotkeys_top(2, top), 2);
    ck_assert(top[0].nkey == 3 && memcmp(top[0].key, "hot", 3) == 0);
    ck_assert(top[1].nkey == 4 && memcmp(top[1].key, "warm", 4) == 0);
    /* the gaps are uniform in 1..15: a 100k stream has ~12.5k samples,
     * the count's standard deviation is ~0.6% of it; 3% is five of them */
    ck_assert_msg(top[0].count > 80000 * 97 / 100 && top[0].count < 80000 * 103 / 100,
                  "hot: %llu", (unsigned long long)top[0].count);
    ck_assert_msg(top[1].count > 20000 * 94 / 100 && top[1].count < 20000 * 106 / 100,
                  "warm: %llu", (unsigned long long)top[1].count);
    ck_assert_uint_eq(top[0].count % 8, 0);
    struct hotkeys_info hi;
    hotkeys_info(&hi);
    ck_assert_msg(hi.sampled > 12000 && hi.sampled < 13000, "sampled %llu",
                  (unsigned long long)hi.sampled);
}
END_TEST

/* ---- threads: one sketch each, merged ---- */

#define THREADS 4
#define PER_THREAD 20000

static void *
lookups(void *arg)
{
    int t = (int)(intptr_t)arg;
    char k[16];
    for (int i = 0; i < PER_THREAD; i++) {
        /* "common" from every thread; "own:<t>" from thread t; one-offs */
        if (i % 4 == 0)
            hotkeys_lookup("common", 6);
        else if (i % 4 == 1)
            hotkeys_lookup(k, (size_t)snprintf(k, sizeof(k), "own:%d", t));
        else
            hotkeys_lookup(k, (size_t)snprintf(k, sizeof(k), "x%d:%d", t, i));
    }
    return NULL;
}

static void *
reader(void *arg)
{
    atomic_int *stop = arg;
    struct hotkey top[HOTKEYS_TOP_MAX];
    for (int i = 0; i < 100000 && !atomic_load(stop); i++) {
        size_t n = hotkeys_top(HOTKEYS_TOP_MAX, top);
        for (size_t j = 1; j < n; j++)
            ck_assert(top[j - 1].count >= top[j].count);
        struct hotkeys_info hi;
        hotkeys_info(&hi);
    }
    return NULL;
}

START_TEST(test_threads_merge)
{
    start(true, 1, 64);
    pthread_t th[THREADS], rd;
    atomic_int stop = 0;
    ck_assert_int_eq(pthread_create(&rd, NULL, reader, (void *)&stop), 0);
    for (int t = 0; t < THREADS; t++)
        ck_assert_int_eq(pthread_create(&th[t], NULL, lookups, (void *)(intptr_t)t), 0);
    for (int t = 0; t < THREADS; t++)
        pthread_join(th[t], NULL);
    atomic_store(&stop, 1);
    pthread_join(rd, NULL);
    struct hotkey top[HOTKEYS_TOP_MAX];
    size_t n = hotkeys_top(1 + THREADS, top);
    ck_assert_uint_eq(n, 1 + THREADS);
    ck_assert(top[0].nkey == 6 && memcmp(top[0].key, "common", 6) == 0);
    /* each sketch keeps its two heavy keys from the start (error 0 there);
     * the merge adds the other sketches' minima to the error of a key
     * they do not monitor */
    ck_assert_uint_eq(top[0].count, THREADS * PER_THREAD / 4);
    ck_assert_uint_eq(top[0].error, 0);
    struct hotkeys_info hi;
    hotkeys_info(&hi);
    ck_assert_uint_eq(hi.sketches, THREADS);
    ck_assert_uint_eq(hi.sampled, THREADS * PER_THREAD);
    for (int t = 0; t < THREADS; t++) {
        char k[16];
        snprintf(k, sizeof(k), "own:%d", t);
        const struct hotkey *h = find(top, n, k);
        ck_assert_msg(h != NULL, "%s missing", k);
        ck_assert_uint_eq(h->count, PER_THREAD / 4);
        ck_assert_msg(h->error > 0, "%s: error %llu", k, (unsigned long long)h->error);
    }
    hotkeys_reset();
    hotkeys_info(&hi);
    ck_assert_uint_eq(hi.sampled, 0);
}
END_TEST

static Suite *
hotkeys_suite(void)
{
    Suite *s = suite_create("hotkeys");
    TCase *tc = tcase_create("exact");
    tcase_add_checked_fixture(tc, NULL, teardown);
    tcase_add_test(tc, test_exact_order);
    tcase_add_test(tc, test_binary_and_long_keys);
    tcase_add_test(tc, test_reset);
    tcase_add_test(tc, test_disabled);
    suite_add_tcase(s, tc);
    tc = tcase_create("space_saving");
    tcase_add_checked_fixture(tc, NULL, teardown);
    tcase_add_test(tc, test_space_saving_bounds);
    suite_add_tcase(s, tc);
    tc = tcase_create("sampling");
    tcase_add_checked_fixture(tc, NULL, teardown);
    tcase_add_test(tc, test_sample_scaled);
    suite_add_tcase(s, tc);
    tc = tcase_create("threads");
    tcase_set_timeout(tc, 60);
    tcase_add_checked_fixture(tc, NULL, teardown);
    tcase_add_test(tc, test_threads_merge);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    SRunner *sr = srunner_create(hotkeys_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
