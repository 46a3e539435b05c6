/* check_clock_evict.c -- eviction: CLOCK (-o eviction_policy=clock) and
 * S3-FIFO (probation, ghosts, the default), references under memory
 * pressure, -M, large items.  Page moves: check_rebalance.c. */
#include "check_storage_util.h"

static void use_clock(void) { st_policy = EVICT_CLOCK; }
static void use_s3fifo(void) { st_policy = EVICT_S3FIFO; }

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

/* ---- S3-FIFO (the default policy; doc/storage.md "Eviction") ---- */

/* Is key stored?  Looked up without a hit (meta u), so it marks nothing. */
static bool
present(const char *key)
{
    struct item_mget m = { .no_bump = true };
    struct item *it = item_mget(key, strlen(key), &m);
    if (it != NULL)
        item_release(it);
    return it != NULL;
}

/* Is key's item on probation (its snapshot mark)? */
static bool
on_probation_key(const char *key)
{
    struct item_mget m = { .no_bump = true };
    struct item *it = item_mget(key, strlen(key), &m);
    ck_assert_msg(it != NULL, "%s missing", key);
    struct item_image img;
    char buf[512];
    size_t need;
    ck_assert_int_eq(item_copy_image(it, &img, buf, sizeof(buf), &need), 1);
    item_release(it);
    return (img.marks & ITEM_MARK_PROBATION) != 0;
}

/* Fill a 2 MB cache of 152-byte items; returns the item count.  While a
 * cache fills, every new item waits on probation. */
static int
fill_2mb(const char *v)
{
    char key[32];
    int cap = 2 * PER_PAGE_152;
    for (int i = 0; i < cap; i++) {
        snprintf(key, sizeof(key), "k%05d", i);
        ck_assert_int_eq(st_set(key, v), ITEM_OK);
    }
    struct item_global_stats g = st_stats();
    ck_assert_uint_eq(g.evictions, 0);
    ck_assert_uint_eq(g.probation_items, (uint64_t)cap);
    ck_assert_uint_eq(g.promoted, 0);
    ck_assert(on_probation_key("k00000"));
    return cap;
}

/* New items nobody reads are evicted first, oldest first; the ones read
 * while on probation move to main when their turn comes. */
START_TEST(test_s3_one_hit_wonders_go_first)
{
    st_start_mb(2, true, 0);
    char *v = val_of(100, 'o');
    char key[32];
    int cap = fill_2mb(v);
    for (int i = 0; i < 1000; i++) {        /* the oldest thousand, read */
        snprintf(key, sizeof(key), "k%05d", i);
        ST_EXPECT(key, v);
    }
    for (int i = 0; i < 2000; i++) {
        snprintf(key, sizeof(key), "n%05d", i);
        ck_assert_int_eq(st_set(key, v), ITEM_OK);
    }
    struct item_global_stats g = st_stats();
    ck_assert_uint_eq(g.evictions, 2000);
    ck_assert_uint_eq(g.evicted_probation, 2000);
    ck_assert_uint_eq(g.evicted_main, 0);
    ck_assert_uint_eq(g.promoted, 1000);
    ck_assert_uint_eq(g.probation_hits, 1000);
    for (int i = 0; i < cap; i++) {
        snprintf(key, sizeof(key), "k%05d", i);
        bool want = i < 1000 || i >= 3000;
        ck_assert_msg(present(key) == want, "%s: present %d, want %d", key, !want, want);
    }
    ck_assert(!on_probation_key("k00000"));
    ck_assert(on_probation_key("k03000"));
    free(v);
}
END_TEST

/* A scan three times the cache's size does not flush items that were hit:
 * they went to main, and the scan's unread keys leave from probation. */
START_TEST(test_s3_scan_keeps_main)
{
    st_start_mb(2, true, 0);
    char *v = val_of(100, 'c');
    char key[32];
    int cap = fill_2mb(v);
    for (int i = 0; i < 1000; i++) {        /* the working set, hit */
        snprintf(key, sizeof(key), "k%05d", 5 * i);
        ST_EXPECT(key, v);
    }
    for (int i = 0; i < 3 * cap; i++) {     /* the scan */
        snprintf(key, sizeof(key), "s%05d", i);
        ck_assert_int_eq(st_set(key, v), ITEM_OK);
    }
    for (int i = 0; i < 1000; i++) {
        snprintf(key, sizeof(key), "k%05d", 5 * i);
        ck_assert_msg(present(key), "%s flushed by the scan", key);
        ck_assert(!on_probation_key(key));
    }
    struct item_global_stats g = st_stats();
    ck_assert_uint_eq(g.evicted_main, 0);
    ck_assert_uint_eq(g.evicted_probation, (uint64_t)3 * cap);
    ck_assert_uint_eq(g.promoted, 1000);
    free(v);
}
END_TEST

/* A key evicted from probation and stored again soon goes straight into
 * main (a ghost hit). */
START_TEST(test_s3_ghost_readmits_to_main)
{
    st_start_mb(2, true, 0);
    char *v = val_of(100, 'g');
    char key[32];
    fill_2mb(v);
    ST_EXPECT("k00001", v);                 /* hit while on probation */
    ck_assert_uint_eq(st_stats().probation_hits, 1);
    for (int i = 0; i < 10; i++) {
        snprintf(key, sizeof(key), "n%05d", i);
        ck_assert_int_eq(st_set(key, v), ITEM_OK);
    }
    struct item_global_stats g = st_stats();
    ck_assert_uint_eq(g.evicted_probation, 10);     /* k00000, k00002..k00010 */
    ck_assert_uint_eq(g.promoted, 1);
    ck_assert_msg(present("k00001") && !on_probation_key("k00001"), "hit item promoted");
    ck_assert(!present("k00000") && !present("k00010") && present("k00011"));
    ck_assert_int_eq(st_set("k00000", v), ITEM_OK);        /* back soon: a ghost */
    ck_assert_uint_eq(st_stats().ghost_hits, 1);
    ck_assert(!on_probation_key("k00000"));
    ck_assert(on_probation_key("n00009"));
    ck_assert_int_eq(st_set("k00005", v), ITEM_OK);        /* evicted too */
    ck_assert_uint_eq(st_stats().ghost_hits, 2);
    ck_assert_int_eq(st_set("k00005", v), ITEM_OK);        /* a ghost is used once */
    ck_assert_uint_eq(st_stats().ghost_hits, 2);
    free(v);
}
END_TEST

/* Under a mixed load (sets, hits, deletes, overwrites) the counters agree
 * with each other and with what is stored. */
static int
count_probation(struct item *it, void *arg)
{
    struct item_image img;
    char buf[512];
    size_t need;
    if (item_copy_image(it, &img, buf, sizeof(buf), &need) == 1 &&
        (img.marks & ITEM_MARK_PROBATION))
        (*(uint64_t *)arg)++;
    return 0;
}

START_TEST(test_s3_counts_add_up)
{
    st_start_mb(2, true, 0);
    char *v = val_of(100, 'a');
    char key[32];
    uint64_t hits = 0;
    unsigned seed = 7;
    for (int i = 0; i < 60000; i++) {
        seed = seed * 1103515245u + 12345u;
        int k = (int)((seed >> 8) % 40000);
        snprintf(key, sizeof(key), "m%05d", k % 3 ? k : k / 7);
        switch ((seed >> 4) % 8) {
        case 0:
            item_delete(key, strlen(key));
            break;
        case 1: case 2: case 3: {
            struct item *it = item_get(key, strlen(key));
            if (it != NULL) {
                hits++;
                item_release(it);
            }
            break;
        }
        default:
            ck_assert_int_eq(st_set(key, v), ITEM_OK);
        }
    }
    for (int i = 0; i < 30000; i++) {       /* then new keys, each read */
        snprintf(key, sizeof(key), "z%05d", i);
        ck_assert_int_eq(st_set(key, v), ITEM_OK);
        struct item *it = item_get(key, strlen(key));
        ck_assert(it != NULL);
        hits++;
        item_release(it);
    }
    struct item_global_stats g = st_stats();
    ck_assert_uint_eq(g.probation_hits + g.main_hits, hits);
    ck_assert_uint_eq(g.evictions, g.evicted_probation + g.evicted_main + g.evicted_slab_move);
    ck_assert_msg(g.evicted_probation > 0 && g.evicted_main > 0 && g.promoted > 0,
                  "both queues evicted (%llu, %llu), promotions %llu",
                  (unsigned long long)g.evicted_probation,
                  (unsigned long long)g.evicted_main, (unsigned long long)g.promoted);
    uint64_t walked = 0;
    item_walk(count_probation, &walked);
    ck_assert_uint_eq(g.probation_items, walked);
    free(v);
}
END_TEST

static Suite *
evict_suite(void)
{
    Suite *s = suite_create("clock_evict");
    TCase *tc = tcase_create("clock");
    tcase_set_timeout(tc, 30);
    tcase_add_checked_fixture(tc, use_clock, st_teardown);
    tcase_add_test(tc, test_evict_when_full);
    tcase_add_test(tc, test_second_chance);
    tcase_add_test(tc, test_referenced_not_evicted);
    tcase_add_test(tc, test_no_evict);
    tcase_add_test(tc, test_large_items_evict);
    tcase_add_test(tc, test_age_from_clock_lap);
    suite_add_tcase(s, tc);
    tc = tcase_create("s3fifo");
    tcase_set_timeout(tc, 30);
    tcase_add_checked_fixture(tc, use_s3fifo, st_teardown);
    tcase_add_test(tc, test_referenced_not_evicted);
    tcase_add_test(tc, test_no_evict);
    tcase_add_test(tc, test_large_items_evict);
    tcase_add_test(tc, test_s3_one_hit_wonders_go_first);
    tcase_add_test(tc, test_s3_scan_keeps_main);
    tcase_add_test(tc, test_s3_ghost_readmits_to_main);
    tcase_add_test(tc, test_s3_counts_add_up);
    suite_add_tcase(s, tc);
    return s;
}

ST_MAIN(evict_suite)
