/* check_clock_evict.c -- CLOCK eviction, references under memory
 * pressure, -M, large items.  Page moves: check_rebalance.c. */
#include "check_storage_util.h"

START_TEST(test_evict_when_full)
{
    st_start_mb(4, true, 0);
    char *v = val_of(100, 'e');
    char key[32];
    int n = 4 * PER_PAGE_152 * 3;
    for (int i = 0; i < n; i++) {
        snprintf(key, sizeof(key), "k%05d", i);
        enum item_status st = st_set(key, v);
        ck_assert_msg(st == ITEM_OK, "set %s with eviction: %d", key, st);
    }
    struct item_global_stats g = st_stats();
    ck_assert_msg(g.curr_items == 4 * PER_PAGE_152, "curr_items %llu",
                  (unsigned long long)g.curr_items);
    ck_assert_uint_eq(g.evictions, (uint64_t)n - 4 * PER_PAGE_152);
    ck_assert_uint_eq(g.evicted_unfetched, g.evictions);
    ck_assert_uint_eq(g.total_malloced, 4 * 1024 * 1024);
    for (int i = n - 1000; i < n; i++) {
        snprintf(key, sizeof(key), "k%05d", i);
        ST_EXPECT(key, v);
    }
    snprintf(key, sizeof(key), "k%05d", 0);
    ST_EXPECT(key, NULL);
    free(v);
}
END_TEST

START_TEST(test_second_chance)
{
    st_start_mb(2, true, 0);
    char *v = val_of(100, 's');
    char key[32];
    int cap = 2 * PER_PAGE_152;
    for (int i = 0; i < cap; i++) {
        snprintf(key, sizeof(key), "k%05d", i);
        ck_assert_int_eq(st_set(key, v), ITEM_OK);
    }
    ck_assert_uint_eq(st_stats().evictions, 0);
    for (int i = 0; i < 1000; i++) {          /* hits: reference bits */
        snprintf(key, sizeof(key), "k%05d", i);
        ST_EXPECT(key, v);
    }
    for (int i = cap; i < cap + 2000; i++) {
        snprintf(key, sizeof(key), "k%05d", i);
        ck_assert_int_eq(st_set(key, v), ITEM_OK);
    }
    for (int i = 0; i < 1000; i++) {
        snprintf(key, sizeof(key), "k%05d", i);
        ST_EXPECT(key, v);                    /* hit items survived */
    }
    for (int i = 1000; i < 3000; i++) {
        snprintf(key, sizeof(key), "k%05d", i);
        ST_EXPECT(key, NULL);                 /* the cold ones went */
    }
    struct item_global_stats g = st_stats();
    ck_assert_uint_eq(g.evictions, 2000);
    ck_assert_uint_eq(g.evicted_unfetched, 2000);
    ck_assert_uint_eq(g.evicted_active, 0);
    free(v);
}
END_TEST

START_TEST(test_referenced_not_evicted)
{
    st_start_mb(2, true, 0);
    char *v = val_of(100, 'r');
    char key[32];
    int cap = 2 * PER_PAGE_152;
    struct item **held = malloc(sizeof(*held) * (size_t)cap);
    for (int i = 0; i < cap; i++) {
        snprintf(key, sizeof(key), "k%05d", i);
        ck_assert_int_eq(st_set(key, v), ITEM_OK);
        held[i] = item_get(key, strlen(key));
        ck_assert(held[i] != NULL);
    }
    /* every chunk of the class is referenced: ENOMEM, no crash */
    ck_assert_int_eq(st_set("k99999", v), ITEM_ENOMEM);
    enum item_status st;
    ck_assert(item_alloc("k99998", 6, 0, 0, 100, &st) == NULL);
    ck_assert_int_eq(st, ITEM_ENOMEM);
    struct item_class_stats cs;
    item_class_stats(item_class(held[0]), &cs);
    ck_assert_msg(cs.outofmemory >= 2, "outofmemory %llu", (unsigned long long)cs.outofmemory);
    /* deleting a held item does not free it under its holder */
    ck_assert_int_eq(item_delete("k00000", 6), ITEM_OK);
    ck_assert_int_eq(st_set("k99999", v), ITEM_ENOMEM);
    ck_assert_msg(memcmp(item_key(held[0]), "k00000", 6) == 0, "held key intact");
    for (int i = 0; i < cap; i++)
        item_release(held[i]);
    ck_assert_int_eq(st_set("k99999", v), ITEM_OK);   /* the deleted chunk */
    ck_assert_int_eq(st_set("k99998", v), ITEM_OK);   /* evicts */
    free(held);
    free(v);
}
END_TEST

START_TEST(test_no_evict)
{
    st_start_mb(2, false, 1);
    char *v = val_of(100, 'm');
    char key[32];
    int i;
    for (i = 0; i < 3 * PER_PAGE_152; i++) {
        snprintf(key, sizeof(key), "k%05d", i);
        if (st_store(key, v, 100, 0, clock_exptime(5), ITEM_SET, 0, NULL) != ITEM_OK)
            break;
    }
    ck_assert_msg(i == 2 * PER_PAGE_152, "stored %d with -M", i);
    ck_assert_uint_eq(st_stats().evictions, 0);
    ck_assert_int_eq(st_set("x00001", v), ITEM_ENOMEM);
    /* expired items are still reclaimed with -M */
    clock_advance(6);
    ck_assert_int_eq(st_set("x00001", v), ITEM_OK);
    ck_assert_int_eq(st_set("x00002", v), ITEM_OK);
    ck_assert_uint_eq(st_stats().evictions, 0);
    ck_assert_msg(st_stats().reclaimed >= 2, "reclaimed");
    free(v);
}
END_TEST

START_TEST(test_large_items_evict)
{
    st_start_mb(4, true, 1);
    char *v = val_of(600000, 'L');
    char key[32];
    for (int i = 0; i < 20; i++) {
        snprintf(key, sizeof(key), "big%02d", i);
        ck_assert_msg(st_set(key, v) == ITEM_OK, "set %s", key);
        ST_EXPECT(key, v);
    }
    ck_assert_msg(st_stats().evictions > 0, "large items evicted");
    ck_assert_msg(st_stats().total_malloced <= 4 * 1024 * 1024, "under the limit");
    /* small items can still take pages back */
    char *s = val_of(100, 's');
    for (int i = 0; i < 10000; i++) {
        snprintf(key, sizeof(key), "s%05d", i);
        ck_assert_msg(st_set(key, s) == ITEM_OK, "small set %d after large", i);
    }
    snprintf(key, sizeof(key), "s%05d", 9999);
    ST_EXPECT(key, s);
    free(s);
    free(v);
}
END_TEST

/* With the crawler off, the CLOCK hand's laps give `age`: the longest idle
 * time of the items it met (they are the next victims, like memcached's
 * LRU tail), published when it completes a lap. */
START_TEST(test_age_from_clock_lap)
{
    st_start_mb(2, true, 0);
    char *v = val_of(100, 'l');
    char key[32];
    int cap = 2 * PER_PAGE_152, k = 0;
    for (int i = 0; i < cap; i++, k++) {
        snprintf(key, sizeof(key), "k%05d", k);
        ck_assert_int_eq(st_set(key, v), ITEM_OK);
    }
    unsigned c = slab_class_for(142);
    struct item_class_stats s;
    clock_advance(40);
    for (int i = 0; i < cap; i++, k++) {       /* lap 1: meets items 40 s idle */
        snprintf(key, sizeof(key), "k%05d", k);
        ck_assert_int_eq(st_set(key, v), ITEM_OK);
    }
    ck_assert_uint_eq(st_stats().evictions, (uint64_t)cap);
    clock_advance(25);
    for (int i = 0; i < cap + 1; i++, k++) {   /* lap 2: items 25 s idle */
        snprintf(key, sizeof(key), "k%05d", k);
        ck_assert_int_eq(st_set(key, v), ITEM_OK);
        if (i == 0) {                          /* lap 1 just ended */
            item_class_stats(c, &s);
            ck_assert_msg(s.age == 40, "age after lap 1: %u", s.age);
        }
    }
    item_class_stats(c, &s);
    ck_assert_msg(s.age == 25, "age after lap 2: %u", s.age);
    clock_advance(3);
    item_class_stats(c, &s);
    ck_assert_msg(s.age == 28, "age grows between laps: %u", s.age);
    free(v);
}
END_TEST

static Suite *
evict_suite(void)
{
    Suite *s = suite_create("clock_evict");
    TCase *tc = tcase_create("clock");
    tcase_set_timeout(tc, 30);
    tcase_add_checked_fixture(tc, NULL, st_teardown);
    tcase_add_test(tc, test_evict_when_full);
    tcase_add_test(tc, test_second_chance);
    tcase_add_test(tc, test_referenced_not_evicted);
    tcase_add_test(tc, test_no_evict);
    tcase_add_test(tc, test_large_items_evict);
    tcase_add_test(tc, test_age_from_clock_lap);
    suite_add_tcase(s, tc);
    return s;
}

ST_MAIN(evict_suite)
