/* check_item.c -- item API: store ops, CAS, append/prepend, large
 * chained items, delete, walk, sizes, stats, reference counts. */
#include "check_storage_util.h"

static void
setup(void)
{
    struct item_options o;
    st_opts(&o, 16);
    st_start(&o);
}

static void
teardown(void)
{
    item_teardown();
}

START_TEST(test_set_get)
{
    ck_assert_int_eq(st_store("a", "hello", 5, 42, 0, ITEM_SET, 0, NULL), ITEM_OK);
    struct item *it = item_get("a", 1);
    ck_assert(it != NULL);
    ck_assert_uint_eq(item_flags(it), 42);
    ck_assert_uint_eq(item_nbytes(it), 5);
    ck_assert_uint_eq(item_nkey(it), 1);
    ck_assert_msg(memcmp(item_key(it), "a", 1) == 0, "key");
    ck_assert_msg(item_cas(it) != 0, "cas set");
    ck_assert_int_eq(item_value_segments(it), 1);
    item_release(it);
    ST_EXPECT("a", "hello");
    ck_assert_int_eq(st_set("a", "world!"), ITEM_OK);
    ST_EXPECT("a", "world!");
    ST_EXPECT("nope", NULL);
    ck_assert_int_eq(st_set("empty", ""), ITEM_OK);
    ST_EXPECT("empty", "");
    struct item_global_stats g = st_stats();
    ck_assert_uint_eq(g.curr_items, 2);
    ck_assert_uint_eq(g.total_items, 3);
}
END_TEST

START_TEST(test_add_replace)
{
    ck_assert_int_eq(st_store("k", "1", 1, 0, 0, ITEM_REPLACE, 0, NULL), ITEM_NOT_STORED);
    ST_EXPECT("k", NULL);
    ck_assert_int_eq(st_store("k", "1", 1, 0, 0, ITEM_ADD, 0, NULL), ITEM_OK);
    ck_assert_int_eq(st_store("k", "2", 1, 0, 0, ITEM_ADD, 0, NULL), ITEM_NOT_STORED);
    ST_EXPECT("k", "1");
    ck_assert_int_eq(st_store("k", "3", 1, 0, 0, ITEM_REPLACE, 0, NULL), ITEM_OK);
    ST_EXPECT("k", "3");
}
END_TEST

START_TEST(test_cas)
{
    uint64_t c1 = 0, c2 = 0, c3 = 0;
    ck_assert_int_eq(st_store("c", "v", 1, 0, 0, ITEM_CAS, 1, NULL), ITEM_NOT_FOUND);
    ck_assert_int_eq(st_store("c", "v1", 2, 0, 0, ITEM_SET, 0, &c1), ITEM_OK);
    ck_assert_int_eq(st_store("c", "v2", 2, 0, 0, ITEM_CAS, c1 + 1, NULL), ITEM_EXISTS);
    ST_EXPECT("c", "v1");
    ck_assert_int_eq(st_store("c", "v2", 2, 0, 0, ITEM_CAS, c1, &c2), ITEM_OK);
    ck_assert_msg(c2 > c1, "cas %llu after %llu", (unsigned long long)c2, (unsigned long long)c1);
    ST_EXPECT("c", "v2");
    ck_assert_int_eq(st_store("c", "v3", 2, 0, 0, ITEM_CAS, c1, &c3), ITEM_EXISTS);
    struct item *it = item_get("c", 1);
    ck_assert_uint_eq(item_cas(it), c2);
    item_release(it);
}
END_TEST

START_TEST(test_append_prepend)
{
    ck_assert_int_eq(st_store("x", "b", 1, 0, 0, ITEM_APPEND, 0, NULL), ITEM_NOT_STORED);
    ck_assert_int_eq(st_store("x", "b", 1, 0, 0, ITEM_PREPEND, 0, NULL), ITEM_NOT_STORED);
    ck_assert_int_eq(st_store("x", "mid", 3, 7, 100000, ITEM_SET, 0, NULL), ITEM_OK);
    uint64_t cas = 0;
    ck_assert_int_eq(st_store("x", "END", 3, 99, 5, ITEM_APPEND, 0, &cas), ITEM_OK);
    ck_assert_int_eq(st_store("x", "BEG", 3, 98, 5, ITEM_PREPEND, 0, NULL), ITEM_OK);
    ST_EXPECT("x", "BEGmidEND");
    struct item *it = item_get("x", 1);
    ck_assert_uint_eq(item_flags(it), 7);          /* old flags kept */
    ck_assert_uint_eq(item_exptime(it), 100000);   /* old exptime kept */
    item_release(it);
    ck_assert_msg(cas != 0, "append cas");
}
END_TEST

START_TEST(test_delete)
{
    ck_assert_int_eq(item_delete("d", 1), ITEM_NOT_FOUND);
    st_set("d", "v");
    ck_assert_int_eq(item_delete("d", 1), ITEM_OK);
    ST_EXPECT("d", NULL);
    ck_assert_int_eq(item_delete("d", 1), ITEM_NOT_FOUND);
    ck_assert_uint_eq(st_stats().curr_items, 0);
}
END_TEST

START_TEST(test_ref_survives_delete)
{
    st_set("r", "keepme");
    struct item *it = item_get("r", 1);
    ck_assert(it != NULL);
    ck_assert_int_eq(item_delete("r", 1), ITEM_OK);
    st_set("r", "newval");
    /* the old reference still reads its value */
    ck_assert_msg(memcmp((char *)item_key(it) + 1, "keepme", 6) == 0, "old value intact");
    item_release(it);
    ST_EXPECT("r", "newval");
}
END_TEST

START_TEST(test_key_limits)
{
    char key[300];
    memset(key, 'k', sizeof(key));
    enum item_status st;
    struct item *it = item_alloc(key, 250, 0, 0, 10, &st);
    ck_assert_msg(it != NULL, "250-byte key: %d", st);
    item_release(it);
    it = item_alloc(key, 251, 0, 0, 10, &st);
    ck_assert_msg(it == NULL && st == ITEM_EOVERSIZED, "251-byte key: %d", st);
}
END_TEST

/* Fill a value whose byte i is a function of i and seed. */
static char *
pattern(size_t n, unsigned seed)
{
    char *v = malloc(n + 1);
    for (size_t i = 0; i < n; i++)
        v[i] = (char)('a' + (i * 7 + seed + i / 4096) % 26);
    v[n] = 0;
    return v;
}

START_TEST(test_large_chained)
{
    size_t max = 1024 * 1024;
    const char *key = "large";
    size_t vmax = max - item_overhead(strlen(key));
    char *v = pattern(vmax + 1, 3);
    /* exactly item_size_max (header + key + value) fits */
    ck_assert_int_eq(st_store(key, v, vmax, 0, 0, ITEM_SET, 0, NULL), ITEM_OK);
    struct item *it = item_get(key, strlen(key));
    ck_assert(it != NULL);
    int nseg = item_value_segments(it);
    ck_assert_msg(nseg == 3, "segments for %zu bytes: %d", vmax, nseg);
    struct iovec iov[3];
    ck_assert_int_eq(item_value_iov(it, iov, 2), -1);
    ck_assert_int_eq(item_value_iov(it, iov, 3), 3);
    ck_assert_uint_eq(iov[0].iov_len, 512 * 1024 - DATA_HDR);
    item_release(it);
    char *got = st_get(key);
    ck_assert_msg(got != NULL && strlen(got) == vmax && memcmp(got, v, vmax) == 0,
                  "large value of %zu bytes read back", vmax);
    free(got);
    /* one byte over */
    enum item_status st;
    it = item_alloc(key, strlen(key), 0, 0, (uint32_t)vmax + 1, &st);
    ck_assert_msg(it == NULL && st == ITEM_EOVERSIZED, "item_size_max+1: %d", st);
    /* sizes just around the chaining threshold */
    size_t sizes[] = { 512 * 1024 - 100, 512 * 1024 - 41, 512 * 1024 - 40, 512 * 1024,
                       600000, 1000 * 1000 };
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        char k[32];
        snprintf(k, sizeof(k), "sz%zu", sizes[i]);
        char *w = pattern(sizes[i], (unsigned)i);
        ck_assert_msg(st_store(k, w, sizes[i], 0, 0, ITEM_SET, 0, NULL) == ITEM_OK,
                      "store %zu", sizes[i]);
        got = st_get(k);
        ck_assert_msg(got && strlen(got) == sizes[i] && memcmp(got, w, sizes[i]) == 0,
                      "read back %zu", sizes[i]);
        free(got);
        free(w);
    }
    /* append onto a chained item */
    ck_assert_int_eq(st_store("sz600000", "TAIL", 4, 0, 0, ITEM_APPEND, 0, NULL), ITEM_OK);
    got = st_get("sz600000");
    ck_assert_msg(strlen(got) == 600004 && memcmp(got + 600000, "TAIL", 4) == 0,
                  "append to chained: len %zu", strlen(got));
    free(got);
    ck_assert_int_eq(st_store("sz600000", "HEAD", 4, 0, 0, ITEM_PREPEND, 0, NULL), ITEM_OK);
    got = st_get("sz600000");
    ck_assert_msg(strlen(got) == 600008 && memcmp(got, "HEAD", 4) == 0, "prepend to chained");
    free(got);
    /* deleting frees every chunk */
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        char k[32];
        snprintf(k, sizeof(k), "sz%zu", sizes[i]);
        ck_assert_int_eq(item_delete(k, strlen(k)), ITEM_OK);
    }
    item_delete(key, strlen(key));
    ck_assert_uint_eq(st_stats().curr_items, 0);
    ck_assert_uint_eq(st_stats().bytes, 0);
    for (unsigned id = 1; id <= item_nclasses(); id++) {
        struct item_class_stats s;
        item_class_stats(id, &s);
        ck_assert_msg(s.used_chunks == 0, "class %u still uses %llu chunks", id,
                      (unsigned long long)s.used_chunks);
    }
    free(v);
}
END_TEST

START_TEST(test_large_item_size_max_option)
{
    item_teardown();
    struct item_options o;
    st_opts(&o, 16);
    o.item_size_max = 4 * 1024 * 1024;
    st_start(&o);
    size_t n = 4 * 1024 * 1024 - item_overhead(1);
    char *v = pattern(n, 9);
    ck_assert_int_eq(st_store("L", v, n, 0, 0, ITEM_SET, 0, NULL), ITEM_OK);
    char *got = st_get("L");
    ck_assert_msg(got && memcmp(got, v, n) == 0, "4 MB value");
    free(got);
    free(v);
}
END_TEST

static int
walk_count(struct item *it, void *arg)
{
    ck_assert(item_nkey(it) > 0);
    (*(int *)arg)++;
    return 0;
}

static int
walk_stop(struct item *it, void *arg)
{
    (void)it;
    return ++(*(int *)arg) == 10;
}

START_TEST(test_walk)
{
    char key[32];
    for (int i = 0; i < 3000; i++) {
        snprintf(key, sizeof(key), "w%d", i);
        st_set(key, i % 2 ? "odd" : "an even longer value to use another class");
    }
    int n = 0;
    uint64_t v = item_walk(walk_count, &n);
    ck_assert_msg(n == 3000 && v == 3000, "walk saw %d (%llu)", n, (unsigned long long)v);
    n = 0;
    v = item_walk(walk_stop, &n);
    ck_assert_msg(n == 10 && v == 10, "stopped walk saw %d", n);
    item_flush(0);
    n = 0;
    item_walk(walk_count, &n);
    ck_assert_msg(n == 0, "walk after flush saw %d", n);
}
END_TEST

static void
size_cb(uint32_t size, uint64_t count, void *arg)
{
    uint64_t *h = arg;
    ck_assert_msg(size % 32 == 0, "size %u", size);
    if (size / 32 < 64)
        h[size / 32] += count;
}

START_TEST(test_sizes)
{
    uint64_t h[64] = { 0 };
    st_set("s1", "x");                           /* 36+2+1 = 39 -> 64 */
    st_set("s2", "y");
    char v[100];
    memset(v, 'z', 99);
    v[99] = 0;
    st_set("s3", v);                             /* 36+2+99 = 137 -> 160 */
    item_sizes(size_cb, h);
    ck_assert_msg(h[2] == 2 && h[5] == 1, "sizes: 64:%llu 160:%llu",
                  (unsigned long long)h[2], (unsigned long long)h[5]);
}
END_TEST

START_TEST(test_touch)
{
    ck_assert_int_eq(item_touch("t", 1, 100), ITEM_NOT_FOUND);
    st_set("t", "v");
    ck_assert_int_eq(item_touch("t", 1, 12345), ITEM_OK);
    struct item *it = item_get_touch("t", 1, 777);
    ck_assert(it != NULL);
    item_release(it);
    it = item_get("t", 1);
    ck_assert_uint_eq(item_exptime(it), 777);
    ck_assert_msg(item_atime(it) <= clock_now() && item_atime(it) > 0, "atime %u",
                  item_atime(it));
    item_release(it);
    ck_assert(item_get_touch("none", 4, 1) == NULL);
}
END_TEST

START_TEST(test_no_cas)
{
    item_teardown();
    struct item_options o;
    st_opts(&o, 8);
    o.use_cas = false;
    st_start(&o);
    uint64_t cas = 99;
    ck_assert_int_eq(st_store("n", "v", 1, 0, 0, ITEM_SET, 0, &cas), ITEM_OK);
    ck_assert_uint_eq(cas, 0);
    struct item *it = item_get("n", 1);
    ck_assert_uint_eq(item_cas(it), 0);
    item_release(it);
    ck_assert_int_eq(st_store("n", "w", 1, 0, 0, ITEM_CAS, 0, NULL), ITEM_OK);
    ST_EXPECT("n", "w");
    enum item_status st;
    it = item_alloc("0123456789abcdef", 16, 0, 0, 100, &st);
    struct item_class_stats s;
    item_class_stats(item_class(it), &s);
    ck_assert_msg(s.chunk_size == 152, "no-cas 16+100 in %u (28+116=144)", s.chunk_size);
    item_release(it);
}
END_TEST

START_TEST(test_refs_high)
{
    st_set("hot", "value");
    struct item *first = item_get("hot", 3);
    ck_assert(first != NULL);
    ck_assert(!item_refs_high(first));
    /* The table holds 1, `first` 1: take references up to REF_HIGH. */
    int n = REF_HIGH - 2;
    struct item **held = malloc(sizeof(*held) * (size_t)(n + 1));
    for (int i = 0; i < n; i++) {
        held[i] = item_get("hot", 3);
        ck_assert_msg(held[i] == first, "get %d", i);
    }
    ck_assert_msg(!item_refs_high(first), "REF_HIGH references are not high yet");
    held[n] = item_get("hot", 3);
    ck_assert(held[n] == first);
    ck_assert_msg(item_refs_high(first), "above REF_HIGH references are high");
    ck_assert_msg(REF_HIGH < REF_MAX - 1000, "room left to copy instead of holding");
    /* still served: far from saturation */
    struct item *more = item_get("hot", 3);
    ck_assert(more == first);
    item_release(more);
    for (int i = 0; i <= n; i++)
        item_release(held[i]);
    free(held);
    ck_assert(!item_refs_high(first));
    item_release(first);
}
END_TEST

static rel_time_t
class_age(unsigned id)
{
    struct item_class_stats s;
    ck_assert(item_class_stats(id, &s));
    return s.age;
}

/* `age` is O(1): the first item of an empty class sets it, a crawler
 * pass (the crawler thread is off here) recomputes it from the items left,
 * a restored item with an old atime lowers it. */
START_TEST(test_class_age)
{
    struct item_class_stats s;
    ck_assert(!item_class_stats(0, &s));
    ck_assert(!item_class_stats(item_nclasses() + 1, &s));
    st_set("age1", "v");
    unsigned c = st_class_of_key("age1");
    ck_assert_uint_eq(class_age(c), 0);
    clock_advance(100);
    ck_assert_uint_eq(class_age(c), 100);
    st_set("age2", "w");                 /* newer: the oldest is still age1 */
    clock_advance(5);
    ck_assert_uint_eq(class_age(c), 105);
    ck_assert_int_eq(item_delete("age1", 4), ITEM_OK);
    storage_crawl_once();                /* oldest left: age2, 5 s idle */
    ck_assert_uint_eq(class_age(c), 5);
    clock_advance(30);
    ck_assert_uint_eq(class_age(c), 35);
    ck_assert_int_eq(item_delete("age2", 4), ITEM_OK);
    storage_crawl_once();                /* nothing left */
    ck_assert_uint_eq(class_age(c), 0);
    st_set("age3", "x");                 /* first item of an empty class */
    clock_advance(2);
    ck_assert_uint_eq(class_age(c), 2);
    ck_assert_uint_ge(clock_now(), 130);
    ck_assert_int_eq(item_restore("age4", 4, 0, 0, 0, clock_now() - 120, 0,
                                  "y", 1), ITEM_OK);
    /* (same class as age3: same sizes; a get would bump its atime) */
    ck_assert_uint_eq(class_age(c), 120);
    storage_crawl_once();
    ck_assert_uint_eq(class_age(c), 120);
}
END_TEST

static Suite *
item_suite(void)
{
    Suite *s = suite_create("item");
    TCase *tc = tcase_create("store");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_set_get);
    tcase_add_test(tc, test_add_replace);
    tcase_add_test(tc, test_cas);
    tcase_add_test(tc, test_append_prepend);
    tcase_add_test(tc, test_delete);
    tcase_add_test(tc, test_ref_survives_delete);
    tcase_add_test(tc, test_key_limits);
    tcase_add_test(tc, test_touch);
    tcase_add_test(tc, test_no_cas);
    tcase_add_test(tc, test_refs_high);
    tcase_add_test(tc, test_class_age);
    suite_add_tcase(s, tc);
    tc = tcase_create("large");
    tcase_set_timeout(tc, 20);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_large_chained);
    tcase_add_test(tc, test_large_item_size_max_option);
    suite_add_tcase(s, tc);
    tc = tcase_create("walk");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_walk);
    tcase_add_test(tc, test_sizes);
    suite_add_tcase(s, tc);
    return s;
}

ST_MAIN(item_suite)
