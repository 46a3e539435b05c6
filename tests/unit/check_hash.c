/* check_hash.c -- hash table: lookups, growth, growth during concurrent
 * use. */
#include "check_storage_util.h"

#include <pthread.h>
#include <unistd.h>

static void
teardown(void)
{
    item_teardown();
}

static void
start(uint32_t power, bool expand)
{
    struct item_options o;
    st_opts(&o, 64);
    o.hashpower = power;
    o.hash_expand = expand;
    st_start(&o);
}

static void
wait_expanded(uint32_t want)
{
    for (int i = 0; i < 200; i++) {
        struct item_global_stats g = st_stats();
        if (g.hash_power_level >= want && !g.hash_is_expanding)
            return;
        usleep(20000);
    }
}

START_TEST(test_collisions)
{
    start(4, false);           /* 16 buckets: long chains */
    char key[32], val[32];
    for (int i = 0; i < 2000; i++) {
        snprintf(key, sizeof(key), "c%d", i);
        snprintf(val, sizeof(val), "v%d", i);
        ck_assert_int_eq(st_set(key, val), ITEM_OK);
    }
    for (int i = 0; i < 2000; i += 2) {
        snprintf(key, sizeof(key), "c%d", i);
        ck_assert_int_eq(item_delete(key, strlen(key)), ITEM_OK);
    }
    for (int i = 0; i < 2000; i++) {
        snprintf(key, sizeof(key), "c%d", i);
        snprintf(val, sizeof(val), "v%d", i);
        ST_EXPECT(key, i % 2 ? val : NULL);
    }
    struct item_global_stats g = st_stats();
    ck_assert_uint_eq(g.hash_power_level, 4);
    ck_assert_uint_eq(g.hash_bytes, 16 * sizeof(void *));
}
END_TEST

START_TEST(test_growth)
{
    start(8, true);
    char key[32], val[32];
    int n = 20000;
    for (int i = 0; i < n; i++) {
        snprintf(key, sizeof(key), "g%d", i);
        snprintf(val, sizeof(val), "v%d", i);
        ck_assert_int_eq(st_set(key, val), ITEM_OK);
    }
    /* 20000 items > 1.5 x 2^13 */
    wait_expanded(14);
    struct item_global_stats g = st_stats();
    ck_assert_msg(g.hash_power_level >= 14, "hashpower %u for %d items", g.hash_power_level, n);
    for (int i = 0; i < n; i++) {
        snprintf(key, sizeof(key), "g%d", i);
        snprintf(val, sizeof(val), "v%d", i);
        ST_EXPECT(key, val);
    }
}
END_TEST

#define NWRITERS 4
#define PER_WRITER 12000

static _Atomic int writers_done;

static void *
writer(void *arg)
{
    int id = (int)(intptr_t)arg;
    char key[32], val[32];
    for (int i = 0; i < PER_WRITER; i++) {
        snprintf(key, sizeof(key), "w%d:%d", id, i);
        snprintf(val, sizeof(val), "%d:%d", id, i);
        enum item_status st = st_set(key, val);
        ck_assert_msg(st == ITEM_OK, "set %s: %d", key, st);
        if (i % 3 == 0) {       /* read back one written earlier */
            int j = i / 2;
            snprintf(key, sizeof(key), "w%d:%d", id, j);
            snprintf(val, sizeof(val), "%d:%d", id, j);
            ST_EXPECT(key, val);
        }
        if (i % 5 == 0 && i > 0) {
            snprintf(key, sizeof(key), "w%d:%d", id, i - 1);
            ck_assert_int_eq(item_delete(key, strlen(key)), ITEM_OK);
            snprintf(val, sizeof(val), "%d:%d", id, i - 1);
            ck_assert_int_eq(st_set(key, val), ITEM_OK);
        }
    }
    atomic_fetch_add(&writers_done, 1);
    return NULL;
}

static void *
reader(void *arg)
{
    (void)arg;
    char key[32];
    unsigned seed = 7;
    while (atomic_load(&writers_done) < NWRITERS) {
        seed = seed * 1103515245 + 12345;
        snprintf(key, sizeof(key), "w%u:%u", (seed >> 8) % NWRITERS, (seed >> 12) % PER_WRITER);
        struct item *it = item_get(key, strlen(key));
        if (it != NULL) {
            ck_assert_msg(item_nkey(it) == strlen(key) &&
                          memcmp(item_key(it), key, strlen(key)) == 0, "wrong item for %s", key);
            item_release(it);
        }
    }
    return NULL;
}

START_TEST(test_growth_concurrent)
{
    start(6, true);
    atomic_store(&writers_done, 0);
    pthread_t w[NWRITERS], r[2];
    for (int i = 0; i < NWRITERS; i++)
        pthread_create(&w[i], NULL, writer, (void *)(intptr_t)i);
    for (int i = 0; i < 2; i++)
        pthread_create(&r[i], NULL, reader, NULL);
    for (int i = 0; i < NWRITERS; i++)
        pthread_join(w[i], NULL);
    for (int i = 0; i < 2; i++)
        pthread_join(r[i], NULL);
    wait_expanded(15);
    struct item_global_stats g = st_stats();
    ck_assert_uint_eq(g.curr_items, NWRITERS * PER_WRITER);
    ck_assert_msg(g.hash_power_level >= 15, "hashpower %u", g.hash_power_level);
    char key[32], val[32];
    for (int id = 0; id < NWRITERS; id++)
        for (int i = 0; i < PER_WRITER; i++) {
            snprintf(key, sizeof(key), "w%d:%d", id, i);
            snprintf(val, sizeof(val), "%d:%d", id, i);
            ST_EXPECT(key, val);
        }
}
END_TEST

static Suite *
hash_suite(void)
{
    Suite *s = suite_create("hash");
    TCase *tc = tcase_create("table");
    tcase_set_timeout(tc, 30);
    tcase_add_checked_fixture(tc, NULL, teardown);
    tcase_add_test(tc, test_collisions);
    tcase_add_test(tc, test_growth);
    suite_add_tcase(s, tc);
    tc = tcase_create("concurrent");
    tcase_set_timeout(tc, 30);
    tcase_add_checked_fixture(tc, NULL, teardown);
    tcase_add_test(tc, test_growth_concurrent);
    suite_add_tcase(s, tc);
    return s;
}

ST_MAIN(hash_suite)
