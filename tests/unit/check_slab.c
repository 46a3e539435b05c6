/* check_slab.c -- slab allocator: ladder, chunk sizes, pages, limits. */
#include "check_storage_util.h"

static void
teardown(void)
{
    item_teardown();
}

START_TEST(test_ladder_default)
{
    struct item_options o;
    st_opts(&o, 8);
    st_start(&o);
    /* factor 1.25, but 1.08 from 512 to 16 KB (LADDER_FINE) */
    static const uint32_t want[] = { 48, 56, 64, 80, 96, 120, 152, 192, 240,
                                     304, 384, 480, 600, 648, 704, 768, 832,
                                     904, 984, 1064, 1152, 1248 };
    unsigned n = item_nclasses();
    ck_assert_msg(n == 71, "nclasses %u", n);
    for (unsigned i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        struct item_class_stats s;
        ck_assert(item_class_stats(i + 1, &s));
        ck_assert_msg(s.chunk_size == want[i], "class %u: size %u want %u",
                      i + 1, s.chunk_size, want[i]);
        ck_assert_msg(s.chunks_per_page == (1024 * 1024) / want[i], "class %u perpage %u",
                      i + 1, s.chunks_per_page);
    }
    struct item_class_stats last;
    ck_assert(item_class_stats(n, &last));
    ck_assert_msg(last.chunk_size == 512 * 1024, "last class %u", last.chunk_size);
    ck_assert(!item_class_stats(n + 1, &last));
    ck_assert(!item_class_stats(0, &last));
    /* strictly increasing */
    uint32_t prev = 0;
    for (unsigned i = 1; i <= n; i++) {
        struct item_class_stats s;
        item_class_stats(i, &s);
        ck_assert_msg(s.chunk_size > prev && s.chunk_size % 8 == 0,
                      "class %u size %u after %u", i, s.chunk_size, prev);
        prev = s.chunk_size;
    }
}
END_TEST

START_TEST(test_ladder_nocas)
{
    struct item_options o;
    st_opts(&o, 8);
    o.use_cas = false;
    st_start(&o);
    struct item_class_stats s;
    item_class_stats(1, &s);
    ck_assert_msg(s.chunk_size == 40, "first class without CAS %u", s.chunk_size);
    ck_assert_uint_eq(item_overhead(0), 28);
}
END_TEST

START_TEST(test_ladder_factor)
{
    struct item_options o;
    st_opts(&o, 8);
    o.chunk_min = 100;
    o.growth_factor = 2.0;
    st_start(&o);
    /* 148 rounds to 152; down: 76 -> 80, then 40 < 48 (header+1+4) stops */
    static const uint32_t want[] = { 80, 152, 304, 608 };
    for (unsigned i = 0; i < 4; i++) {
        struct item_class_stats s;
        item_class_stats(i + 1, &s);
        ck_assert_msg(s.chunk_size == want[i], "f=2 class %u: %u want %u",
                      i + 1, s.chunk_size, want[i]);
    }
}
END_TEST

START_TEST(test_item_chunk_152)
{
    struct item_options o;
    st_opts(&o, 8);
    st_start(&o);
    char val[101];
    memset(val, 'v', 100);
    val[100] = 0;
    enum item_status st;
    struct item *it = item_alloc("0123456789abcdef", 16, 0, 0, 100, &st);
    ck_assert_msg(it != NULL, "alloc 16+100: %d", st);
    struct item_class_stats s;
    item_class_stats(item_class(it), &s);
    ck_assert_msg(s.chunk_size == 152, "16-byte key + 100-byte value in %u-byte chunk",
                  s.chunk_size);
    item_release(it);
    /* 1-byte key + 1-byte value: 38 bytes -> 48 (memcached: 96) */
    it = item_alloc("k", 1, 0, 0, 1, &st);
    item_class_stats(item_class(it), &s);
    ck_assert_msg(s.chunk_size == 48, "1+1 item in %u", s.chunk_size);
    item_release(it);
}
END_TEST

START_TEST(test_alloc_until_full)
{
    struct item_options o;
    st_opts(&o, 4);
    o.evict = false;
    st_start(&o);
    char key[32];
    char val[200];
    memset(val, 'x', 195);   /* 36 + 9 + 195 = 240: one class */
    val[195] = 0;
    int stored = 0;
    enum item_status st = ITEM_OK;
    for (int i = 0; i < 100000; i++) {
        snprintf(key, sizeof(key), "key:%05d", i);
        st = st_set(key, val);
        if (st != ITEM_OK)
            break;
        stored++;
    }
    ck_assert_msg(st == ITEM_ENOMEM, "filling 4 MB with -M ends in ENOMEM, got %d", st);
    struct item_global_stats g = st_stats();
    ck_assert_msg(g.total_malloced <= 4u * 1024 * 1024, "malloced %llu",
                  (unsigned long long)g.total_malloced);
    /* 4 pages of 240-byte chunks */
    ck_assert_msg(stored == 4 * (1048576 / 240), "stored %d", stored);
    ck_assert_uint_eq(g.curr_items, (uint64_t)stored);
    ck_assert_uint_eq(g.evictions, 0);
    /* deleting one makes room for one */
    ck_assert_int_eq(item_delete("key:00000", 9), ITEM_OK);
    ck_assert_int_eq(st_set("again0000", val), ITEM_OK);
    ck_assert_int_eq(st_set("again0002", val), ITEM_ENOMEM);
}
END_TEST

START_TEST(test_class_stats_pages)
{
    struct item_options o;
    st_opts(&o, 8);
    st_start(&o);
    char key[32];
    for (int i = 0; i < 8000; i++) {
        snprintf(key, sizeof(key), "k%06d", i);
        ck_assert_int_eq(st_set(key, "0123456789"), ITEM_OK);
    }
    /* 36 + 7 + 10 = 53 -> 56-byte class (id 2) */
    struct item_class_stats s;
    item_class_stats(2, &s);
    ck_assert_msg(s.number == 8000, "class 2 items %llu", (unsigned long long)s.number);
    ck_assert_uint_eq(s.total_pages, 1);
    ck_assert_uint_eq(s.used_chunks, 8000);
    ck_assert_uint_eq(s.free_chunks, s.total_chunks - 8000);
    ck_assert_uint_eq(s.mem_requested, 8000u * 53);
    struct item_global_stats g = st_stats();
    ck_assert_uint_eq(g.bytes, 8000u * 53);
    ck_assert_uint_eq(g.total_malloced, 1024 * 1024);
    ck_assert_uint_eq(g.limit_maxbytes, 8 * 1024 * 1024);
}
END_TEST

START_TEST(test_prealloc_and_limit)
{
    struct item_options o;
    st_opts(&o, 4);
    o.prealloc = true;
    st_start(&o);
    ck_assert_int_eq(item_set_mem_limit(1024), -1);
    ck_assert_int_eq(item_set_mem_limit(16u * 1024 * 1024), 0);
    struct item_global_stats g = st_stats();
    ck_assert_uint_eq(g.limit_maxbytes, 16u * 1024 * 1024);
    /* the grown limit is usable */
    char *val = malloc(100001);
    memset(val, 'y', 100000);
    val[100000] = 0;
    char key[32];
    for (int i = 0; i < 120; i++) {
        snprintf(key, sizeof(key), "big%d", i);
        ck_assert_int_eq(st_set(key, val), ITEM_OK);
    }
    g = st_stats();
    ck_assert_msg(g.total_malloced > 8u * 1024 * 1024, "malloced %llu after growth",
                  (unsigned long long)g.total_malloced);
    ck_assert_uint_eq(g.evictions, 0);
    free(val);
}
END_TEST

START_TEST(test_bad_options)
{
    struct item_options o;
    char err[256];
    item_options_default(&o);
    o.growth_factor = 1.0;
    ck_assert_int_eq(item_setup(&o, err, sizeof(err)), -1);
    item_options_default(&o);
    o.item_size_max = 100;
    ck_assert_int_eq(item_setup(&o, err, sizeof(err)), -1);
    ck_assert_msg(strstr(err, "item_size_max") != NULL, "err: %s", err);
    /* a good setup so the fixture teardown has something to stop */
    st_opts(&o, 2);
    st_start(&o);
}
END_TEST

/* Items of a 16-byte key and a vlen-byte value that fit in -m 64 with
 * no eviction. */
static int
fill_64mb(uint32_t vlen, uint32_t hashpower)
{
    struct item_options o;
    st_opts(&o, 64);
    o.evict = false;
    o.hashpower = hashpower;
    st_start(&o);
    char key[17];
    char *val = val_of(vlen, 'v');
    int n = 0;
    for (;; n++) {
        snprintf(key, sizeof(key), "key:%012d", n);
        if (st_set(key, val) != ITEM_OK)
            break;
    }
    free(val);
    return n;
}

/* memcached 1.6 holds ~350,000 items of 16-byte key + 100-byte value in
 * 64 MB; we must hold at least 1.15x that. */
START_TEST(test_capacity_vs_memcached)
{
    int n = fill_64mb(100, 20);
    ck_assert_msg(n >= 402500, "64 MB holds %d items of 16+100 bytes (need >= 402500)", n);
    ck_assert_int_eq(n, 64 * 6898);
}
END_TEST

/* memcached 1.6 holds 56,640 items of 16-byte key + 1000-byte value in
 * 64 MB (885 per page: its 1184-byte chunk); the finer ladder above 512
 * bytes puts ours in 1064-byte chunks: 985 per page, 1.11x. */
START_TEST(test_capacity_1000_vs_memcached)
{
    int n = fill_64mb(1000, 17);
    ck_assert_msg(n >= 56640 * 110 / 100, "64 MB holds %d items of 16+1000 bytes", n);
    ck_assert_int_eq(n, 64 * 985);
}
END_TEST

static Suite *
slab_suite(void)
{
    Suite *s = suite_create("slab");
    TCase *tc = tcase_create("ladder");
    tcase_add_checked_fixture(tc, NULL, teardown);
    tcase_add_test(tc, test_ladder_default);
    tcase_add_test(tc, test_ladder_nocas);
    tcase_add_test(tc, test_ladder_factor);
    tcase_add_test(tc, test_item_chunk_152);
    suite_add_tcase(s, tc);
    tc = tcase_create("alloc");
    tcase_add_checked_fixture(tc, NULL, teardown);
    tcase_add_test(tc, test_alloc_until_full);
    tcase_add_test(tc, test_class_stats_pages);
    suite_add_tcase(s, tc);
    tc = tcase_create("capacity");
    tcase_set_timeout(tc, 60);
    tcase_add_checked_fixture(tc, NULL, teardown);
    tcase_add_test(tc, test_capacity_vs_memcached);
    tcase_add_test(tc, test_capacity_1000_vs_memcached);
    suite_add_tcase(s, tc);
    tc = tcase_create("limits");
    tcase_add_checked_fixture(tc, NULL, teardown);
    tcase_add_test(tc, test_prealloc_and_limit);
    tcase_add_test(tc, test_bad_options);
    suite_add_tcase(s, tc);
    return s;
}

ST_MAIN(slab_suite)
