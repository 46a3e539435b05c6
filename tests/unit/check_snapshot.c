/* check_snapshot.c -- snapshot format: round trip, checksum detection of
 * flipped bytes and truncation, expired items, CAS resume, recency order,
 * I/O failure keeps the old file. */
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check_storage_util.h"
#include "snapshot.h"

static char dir[64], path[128];
static struct snapshot_options so;

static void
start(size_t mb)
{
    struct item_options o;
    st_opts(&o, mb);
    st_start(&o);
}

static void
setup(void)
{
    snprintf(dir, sizeof(dir), "/tmp/check_snapshot.XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/cache.snap", dir);
    memset(&so, 0, sizeof(so));
    so.mem_limit = 16u << 20;
    so.item_size_max = 1u << 20;
    so.chunk_min = 48;
    so.factor = 1.25;
    so.use_cas = true;
    start(16);
}

static void
teardown(void)
{
    item_teardown();
    char cmd[200];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    ck_assert_int_eq(system(cmd), 0);
}

/* Restart the engine empty (same process: the clock keeps its skew). */
static void
restart(size_t mb)
{
    item_teardown();
    struct item_options o;
    st_opts(&o, mb);
    char err[256] = "";
    ck_assert_msg(item_setup(&o, err, sizeof(err)) == 0, "item_setup: %s", err);
}

static uint64_t
curr_items(void)
{
    return st_stats().curr_items;
}

static void
fill(int n)
{
    char k[32], v[64];
    for (int i = 0; i < n; i++) {
        snprintf(k, sizeof(k), "key:%d", i);
        int vl = snprintf(v, sizeof(v), "value-%d-%d", i, i * 7);
        ck_assert_int_eq(st_store(k, v, (size_t)vl, (uint32_t)i, 0, ITEM_SET, 0, NULL), ITEM_OK);
    }
}

static void
expect_fill(int n)
{
    char k[32], v[64];
    for (int i = 0; i < n; i++) {
        snprintf(k, sizeof(k), "key:%d", i);
        snprintf(v, sizeof(v), "value-%d-%d", i, i * 7);
        struct item *it = item_get(k, strlen(k));
        ck_assert_msg(it != NULL, "missing %s", k);
        ck_assert_uint_eq(item_flags(it), (uint32_t)i);
        struct iovec iov[1];
        ck_assert_int_eq(item_value_iov(it, iov, 1), 1);
        ck_assert_msg(iov[0].iov_len == strlen(v) && memcmp(iov[0].iov_base, v, strlen(v)) == 0,
                      "value of %s", k);
        item_release(it);
    }
}

static off_t
file_size(void)
{
    struct stat sb;
    ck_assert_int_eq(stat(path, &sb), 0);
    return sb.st_size;
}

START_TEST(test_round_trip)
{
    fill(1000);
    /* a chained (large) binary value too */
    size_t big = 700 * 1024;
    char *bv = malloc(big);
    for (size_t i = 0; i < big; i++)
        bv[i] = (char)(i * 31 + 7);
    uint64_t bigcas = 0;
    ck_assert_int_eq(st_store("big", bv, big, 9, clock_now() + 1000, ITEM_SET, 0, &bigcas), ITEM_OK);
    struct item *it = item_get("key:5", 5);
    uint64_t cas5 = item_cas(it);
    rel_time_t at5 = item_atime(it);
    item_release(it);

    struct snapshot_result r;
    ck_assert_int_eq(snapshot_write(path, &so, &r), SNAP_OK);
    ck_assert_uint_eq(r.items, 1001);
    ck_assert_uint_eq(r.bytes, (uint64_t)file_size());

    restart(16);
    ck_assert_uint_eq(curr_items(), 0);
    ck_assert_int_eq(snapshot_read(path, &r), SNAP_OK);
    ck_assert_uint_eq(r.items, 1001);
    ck_assert_uint_eq(curr_items(), 1001);
    expect_fill(1000);
    it = item_get("key:5", 5);
    ck_assert_uint_eq(item_cas(it), cas5);
    ck_assert_uint_eq(item_atime(it), at5);
    item_release(it);
    it = item_get("big", 3);
    ck_assert_ptr_nonnull(it);
    ck_assert_uint_eq(item_nbytes(it), big);
    ck_assert_uint_eq(item_cas(it), bigcas);
    ck_assert_uint_eq(item_flags(it), 9);
    ck_assert_uint_eq(item_exptime(it), clock_now() + 1000);
    struct iovec iov[8];
    int n = item_value_iov(it, iov, 8);
    size_t off = 0;
    for (int i = 0; i < n; i++) {
        ck_assert_msg(memcmp(iov[i].iov_base, bv + off, iov[i].iov_len) == 0, "seg %d", i);
        off += iov[i].iov_len;
    }
    ck_assert_uint_eq(off, big);
    item_release(it);
    free(bv);
}
END_TEST

START_TEST(test_cas_resume)
{
    fill(50);
    uint64_t maxcas = st_stats().curr_cas;
    struct snapshot_result r;
    ck_assert_int_eq(snapshot_write(path, &so, &r), SNAP_OK);
    restart(16);
    ck_assert_int_eq(snapshot_read(path, &r), SNAP_OK);
    ck_assert_uint_eq(r.max_cas, maxcas);
    uint64_t c = 0;
    ck_assert_int_eq(st_store("new", "x", 1, 0, 0, ITEM_SET, 0, &c), ITEM_OK);
    ck_assert_msg(c > maxcas, "new cas %llu must exceed loaded max %llu",
                  (unsigned long long)c, (unsigned long long)maxcas);
    /* a CAS operation with the loaded CAS value still works */
    struct item *it = item_get("key:7", 5);
    uint64_t c7 = item_cas(it);
    item_release(it);
    ck_assert_int_eq(st_store("key:7", "y", 1, 0, 0, ITEM_CAS, c7, NULL), ITEM_OK);
}
END_TEST

START_TEST(test_expired)
{
    fill(10);
    ck_assert_int_eq(st_store("short", "s", 1, 0, clock_now() + 5, ITEM_SET, 0, NULL), ITEM_OK);
    ck_assert_int_eq(st_store("gone", "g", 1, 0, clock_now() + 1, ITEM_SET, 0, NULL), ITEM_OK);
    ck_assert_int_eq(st_store("long", "l", 1, 0, clock_now() + 100, ITEM_SET, 0, NULL), ITEM_OK);
    clock_advance(2);               /* "gone" has expired: not written */
    struct snapshot_result r;
    ck_assert_int_eq(snapshot_write(path, &so, &r), SNAP_OK);
    ck_assert_uint_eq(r.items, 12);
    restart(16);
    clock_advance(10);              /* down for 10 s: "short" expired meanwhile */
    ck_assert_int_eq(snapshot_read(path, &r), SNAP_OK);
    ck_assert_uint_eq(r.items, 11);
    ck_assert_uint_eq(r.skipped_expired, 1);
    ST_EXPECT("short", NULL);
    ST_EXPECT("gone", NULL);
    ST_EXPECT("long", "l");
    struct item *it = item_get("long", 4);
    ck_assert_int_le(item_exptime(it) - clock_now(), 88);
    ck_assert_int_ge(item_exptime(it) - clock_now(), 87);
    item_release(it);
}
END_TEST

static void
copy_file(const char *src, const char *dst)
{
    char cmd[400];
    snprintf(cmd, sizeof(cmd), "cp '%s' '%s'", src, dst);
    ck_assert_int_eq(system(cmd), 0);
}

START_TEST(test_flipped_byte)
{
    fill(3000);
    struct snapshot_result r;
    ck_assert_int_eq(snapshot_write(path, &so, &r), SNAP_OK);
    off_t size = file_size();
    char good[160];
    snprintf(good, sizeof(good), "%s.good", path);
    copy_file(path, good);
    off_t offs[] = { 0, 9, 30, 63, 64, 70, 100, 500, size / 2, size - 40, size - 1 };
    for (size_t i = 0; i < sizeof(offs) / sizeof(offs[0]); i++) {
        copy_file(good, path);
        int fd = open(path, O_RDWR);
        ck_assert_int_ge(fd, 0);
        unsigned char c;
        ck_assert_int_eq(pread(fd, &c, 1, offs[i]), 1);
        c ^= 0x10;
        ck_assert_int_eq(pwrite(fd, &c, 1, offs[i]), 1);
        close(fd);
        restart(16);
        enum snapshot_status st = snapshot_read(path, &r);
        ck_assert_msg(st == SNAP_ECORRUPT, "flip at %lld: status %d", (long long)offs[i], st);
        ck_assert_msg(r.bad_offset <= (uint64_t)offs[i], "flip at %lld reported at %llu",
                      (long long)offs[i], (unsigned long long)r.bad_offset);
        ck_assert_msg(curr_items() == 0, "flip at %lld: %llu items loaded",
                      (long long)offs[i], (unsigned long long)curr_items());
        ck_assert_ptr_nonnull(strstr(r.err, "at byte"));
    }
    copy_file(good, path);
    restart(16);
    ck_assert_int_eq(snapshot_read(path, &r), SNAP_OK);
    ck_assert_uint_eq(curr_items(), 3000);
}
END_TEST

START_TEST(test_truncated)
{
    fill(3000);
    struct snapshot_result r;
    ck_assert_int_eq(snapshot_write(path, &so, &r), SNAP_OK);
    off_t size = file_size();
    off_t lens[] = { 0, 1, 63, 64, 65, 96, 1000, size / 2, size - 33, size - 32, size - 1 };
    for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
        char good[160];
        snprintf(good, sizeof(good), "%s.good", path);
        if (i == 0)
            copy_file(path, good);
        copy_file(good, path);
        ck_assert_int_eq(truncate(path, lens[i]), 0);
        restart(16);
        enum snapshot_status st = snapshot_read(path, &r);
        ck_assert_msg(st == SNAP_ECORRUPT, "truncated to %lld: status %d", (long long)lens[i], st);
        ck_assert_msg(curr_items() == 0, "truncated to %lld: items loaded", (long long)lens[i]);
    }
    /* trailing garbage is damage too */
    char good[160];
    snprintf(good, sizeof(good), "%s.good", path);
    copy_file(good, path);
    FILE *f = fopen(path, "a");
    fputs("x", f);
    fclose(f);
    restart(16);
    ck_assert_int_eq(snapshot_read(path, &r), SNAP_ECORRUPT);
    ck_assert_uint_eq(r.bad_offset, (uint64_t)size);
}
END_TEST

START_TEST(test_missing_and_io_error)
{
    struct snapshot_result r;
    ck_assert_int_eq(snapshot_read(path, &r), SNAP_ENOENT);
    fill(10);
    ck_assert_int_eq(snapshot_write(path, &so, &r), SNAP_OK);
    off_t size = file_size();
    fill(20);
    /* the directory disappears: the write fails and leaves nothing */
    char bad[200];
    snprintf(bad, sizeof(bad), "%s/nodir/x.snap", dir);
    ck_assert_int_eq(snapshot_write(bad, &so, &r), SNAP_EIO);
    ck_assert_ptr_nonnull(strstr(r.err, "open"));
    ck_assert_int_eq(file_size(), size);
}
END_TEST

START_TEST(test_recency_smaller_memory)
{
    /* 4 MB of 1000-byte items, the first 300 marked hot; reload into 2 MB */
    char k[32], v[1000];
    memset(v, 'v', sizeof(v));
    int n = 4000;
    for (int i = 0; i < n; i++) {
        snprintf(k, sizeof(k), "k%d", i);
        ck_assert_int_eq(st_store(k, v, sizeof(v), 0, 0, ITEM_SET, 0, NULL), ITEM_OK);
    }
    for (int i = 0; i < 300; i++) {
        snprintf(k, sizeof(k), "k%d", i);
        struct item *it = item_get(k, strlen(k));
        ck_assert_ptr_nonnull(it);
        item_release(it);
    }
    struct snapshot_result r;
    ck_assert_int_eq(snapshot_write(path, &so, &r), SNAP_OK);
    restart(2);
    ck_assert_int_eq(snapshot_read(path, &r), SNAP_OK);
    ck_assert_msg(curr_items() < (uint64_t)n, "all %llu fit?", (unsigned long long)curr_items());
    int kept = 0;
    for (int i = 0; i < 300; i++) {
        snprintf(k, sizeof(k), "k%d", i);
        struct item *it = item_get(k, strlen(k));
        if (it != NULL) {
            kept++;
            item_release(it);
        }
    }
    ck_assert_msg(kept == 300, "hot kept: %d of 300 (%llu items)", kept,
                  (unsigned long long)curr_items());
}
END_TEST

static Suite *
snapshot_suite(void)
{
    Suite *s = suite_create("snapshot");
    TCase *tc = tcase_create("format");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_round_trip);
    tcase_add_test(tc, test_cas_resume);
    tcase_add_test(tc, test_expired);
    tcase_add_test(tc, test_missing_and_io_error);
    tcase_add_test(tc, test_recency_smaller_memory);
    suite_add_tcase(s, tc);
    TCase *tcc = tcase_create("damage");
    tcase_add_checked_fixture(tcc, setup, teardown);
    tcase_set_timeout(tcc, 60);
    tcase_add_test(tcc, test_flipped_byte);
    tcase_add_test(tcc, test_truncated);
    suite_add_tcase(s, tcc);
    return s;
}

int
main(void)
{
    SRunner *sr = srunner_create(snapshot_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
