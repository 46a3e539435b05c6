/* check_snapshot.c -- snapshot format: round trip, checksum detection of
 * flipped bytes and truncation, expired items, CAS resume, recency order,
 * I/O failure keeps the old file; hostile files with valid checksums
 * (forged with snapshot_reseal()): every field validated or sanitised. */
#include <fcntl.h>
#include <stdint.h>
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


/* Collections: a b+tree of 2000 elements and a list come back whole
 * (elements, order, attributes); a damaged image is refused. */
static void
cnt_begin(void *arg, uint32_t flags, uint32_t count)
{
    (void)flags;
    *(uint32_t *)arg = count;
}

static void
cnt_elem(void *arg, const char *f, size_t nf, const void *d, size_t n)
{
    (void)arg; (void)f; (void)nf; (void)d; (void)n;
}

static void
cnt_belem(void *arg, const struct coll_bkey *k, const struct coll_bkey *e, const void *d, size_t n)
{
    (void)arg; (void)k; (void)e; (void)d; (void)n;
}

START_TEST(test_collections)
{
    struct coll_op op;
    memset(&op, 0, sizeof(op));
    op.code = COP_CREATE;
    op.type = COLL_BTREE;
    op.key = "bt";
    op.nkey = 2;
    op.attrs.readable = true;
    op.attrs.maxcount = 5000;
    op.attrs.flags = 11;
    ck_assert_int_eq(coll_exec(&op, NULL, NULL), COLL_CREATED);
    op.code = COP_BOP_INSERT;
    op.bkey.len = 8;
    op.data = "element";
    op.ndata = 7;
    for (uint32_t i = 0; i < 2000; i++) {
        op.bkey.b[6] = (uint8_t)(i * 13 >> 8);
        op.bkey.b[7] = (uint8_t)(i * 13);
        ck_assert_int_eq(coll_exec(&op, NULL, NULL), COLL_OK);
    }
    op.code = COP_LIST_INSERT;
    op.key = "li";
    op.create = true;
    op.type = COLL_LIST;
    op.from = -1;
    ck_assert_int_eq(coll_exec(&op, NULL, NULL), COLL_CREATED);
    struct snapshot_result r;
    ck_assert_int_eq(snapshot_write(path, &so, &r), SNAP_OK);
    ck_assert_uint_eq(r.items, 2);

    restart(16);
    ck_assert_int_eq(snapshot_read(path, &r), SNAP_OK);
    ck_assert_uint_eq(r.items, 2);
    struct coll_info in;
    memset(&op, 0, sizeof(op));
    op.code = COP_GETATTR;
    op.key = "bt";
    op.nkey = 2;
    ck_assert_int_eq(coll_exec(&op, NULL, &in), COLL_OK);
    ck_assert(in.type == COLL_BTREE && in.count == 2000 && in.maxcount == 5000 && in.flags == 11);
    /* positions agree with the bkeys: the tree is whole and ordered */
    op.code = COP_BOP_POSITION;
    op.bkey.len = 8;
    op.bkey.b[6] = (uint8_t)(1000 * 13 >> 8);
    op.bkey.b[7] = (uint8_t)(1000 * 13);
    ck_assert_int_eq(coll_exec(&op, NULL, &in), COLL_OK);
    ck_assert_uint_eq(in.number, 1000);
    uint32_t got = 0;
    struct coll_out out = { cnt_begin, cnt_elem, &got, cnt_belem };
    op.code = COP_LIST_GET;
    op.key = "li";
    op.from = 0;
    op.to = -1;
    ck_assert_int_eq(coll_exec(&op, &out, &in), COLL_OK);
    ck_assert_uint_eq(got, 1);

    /* images: a good one passes, each damage is caught */
    unsigned char img[64] = { 1, COLL_LIST, COLL_OVFL_ERROR, 1, 0 };
    img[40] = 10;                   /* maxcount */
    img[44] = 1;                    /* count */
    img[48] = 2;                    /* element: 2 bytes */
    img[52] = 'h';
    img[53] = 'i';
    ck_assert(item_coll_image_valid(img, 54));
    ck_assert(!item_coll_image_valid(img, 53));        /* short */
    ck_assert(!item_coll_image_valid(img, 55));        /* trailing byte */
    img[2] = COLL_OVFL_SMALLEST_TRIM;                  /* not a list's */
    ck_assert(!item_coll_image_valid(img, 54));
    img[2] = COLL_OVFL_ERROR;
    img[44] = 11;                                      /* count > maxcount */
    ck_assert(!item_coll_image_valid(img, 54));
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

/* Probation or main (S3-FIFO) and the hit marks survive a restart: a
 * 2 MB cache overfilled with a working set that is read, saved, loaded
 * into the same size, looks the same item for item. */
static unsigned
marks_of(const char *k)
{
    struct item_mget m = { .no_bump = true };
    struct item *it = item_mget(k, strlen(k), &m);
    if (it == NULL)
        return 0xff;
    struct item_image img;
    char buf[2048];
    size_t need;
    ck_assert_int_eq(item_copy_image(it, &img, buf, sizeof(buf), &need), 1);
    item_release(it);
    return img.marks;
}

START_TEST(test_queues_survive_restart)
{
    restart(2);
    char k[32], v[100];
    memset(v, 'q', sizeof(v));
    int n = 30000;
    for (int i = 0; i < n; i++) {
        snprintf(k, sizeof(k), "q%05d", i);
        ck_assert_int_eq(st_store(k, v, sizeof(v), 0, 0, ITEM_SET, 0, NULL), ITEM_OK);
        if (i % 3 == 0 && i >= 40) {        /* a working set, read */
            snprintf(k, sizeof(k), "q%05d", i - 40);
            struct item *it = item_get(k, strlen(k));
            if (it != NULL)
                item_release(it);
        }
    }
    static unsigned char before[30000];
    int probation = 0, main_ = 0, hot = 0;
    for (int i = 0; i < n; i++) {
        snprintf(k, sizeof(k), "q%05d", i);
        before[i] = (unsigned char)marks_of(k);
        if (before[i] == 0xff)
            continue;
        if (before[i] & ITEM_MARK_PROBATION)
            probation++;
        else
            main_++;
        if (before[i] & ITEM_MARK_HOT)
            hot++;
    }
    ck_assert_msg(probation > 100 && main_ > 100 && hot > 100,
                  "a mix: %d on probation, %d in main, %d hot", probation, main_, hot);
    struct item_global_stats g = st_stats();
    struct snapshot_result r;
    ck_assert_int_eq(snapshot_write(path, &so, &r), SNAP_OK);
    restart(2);
    ck_assert_int_eq(snapshot_read(path, &r), SNAP_OK);
    ck_assert_uint_eq(curr_items(), g.curr_items);
    ck_assert_uint_eq(st_stats().probation_items, g.probation_items);
    for (int i = 0; i < n; i++) {
        snprintf(k, sizeof(k), "q%05d", i);
        ck_assert_msg(marks_of(k) == before[i], "%s: marks %#x, were %#x", k, marks_of(k),
                      before[i]);
    }
}
END_TEST

/* ---------- hostile files: valid checksums, forged fields ---------- */

/* Record layout offsets (doc/snapshot.md). */
#define R_NKEY   0
#define R_RFL    1
#define R_RES16  2
#define R_FLAGS  4
#define R_NBYTES 8
#define R_RES32  12
#define R_EXP    16
#define R_ATIME  24
#define R_CAS    32
#define R_KEY    40

/* Byte offset in the file of the record holding key (unique in the file). */
static off_t
rec_offset(const char *key)
{
    off_t size = file_size();
    unsigned char *f = malloc((size_t)size);
    int fd = open(path, O_RDONLY);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(pread(fd, f, (size_t)size, 0), size);
    close(fd);
    size_t n = strlen(key);
    off_t found = -1;
    for (off_t i = 64 + R_KEY; i + (off_t)n <= size; i++)
        if (memcmp(f + i, key, n) == 0 && f[i - R_KEY] == n) {
            ck_assert_msg(found < 0, "key %s twice in the file", key);
            found = i - R_KEY;
        }
    free(f);
    ck_assert_msg(found >= 0, "record of %s not found", key);
    return found;
}

static void
patch(off_t off, const void *p, size_t n)
{
    int fd = open(path, O_RDWR);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(pwrite(fd, p, n, off), (ssize_t)n);
    close(fd);
}

static void
patch64(off_t off, uint64_t v)
{
    unsigned char b[8];
    for (int i = 0; i < 8; i++)
        b[i] = (unsigned char)(v >> (8 * i));
    patch(off, b, 8);
}

static void
patch8(off_t off, unsigned char v)
{
    patch(off, &v, 1);
}

static uint64_t
read64(off_t off)
{
    unsigned char b[8];
    int fd = open(path, O_RDONLY);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(pread(fd, b, 8, off), 8);
    close(fd);
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | b[i];
    return v;
}

/* Make the edited file's checksums valid again. */
static void
reseal(void)
{
    struct snapshot_result r;
    ck_assert_msg(snapshot_reseal(path, &r) == SNAP_OK, "reseal: %s", r.err);
}

/* A snapshot of "victim" plus 20 other items; returns the victim's record. */
static off_t
write_with_victim(void)
{
    fill(20);
    ck_assert_int_eq(st_store("victim", "precious", 8, 7, 0, ITEM_SET, 0, NULL), ITEM_OK);
    struct snapshot_result r;
    ck_assert_int_eq(snapshot_write(path, &so, &r), SNAP_OK);
    ck_assert_uint_eq(r.items, 21);
    /* resealing an untouched file changes nothing and it loads */
    char before[160];
    snprintf(before, sizeof(before), "%s.orig", path);
    copy_file(path, before);
    reseal();
    char cmd[400];
    snprintf(cmd, sizeof(cmd), "cmp -s '%s' '%s'", path, before);
    ck_assert_int_eq(system(cmd), 0);
    return rec_offset("victim");
}

/* New stores get increasing non-zero CAS values above floor, and an
 * immediate flush_all invalidates every item, even one stored in the
 * same second (told apart by CAS). */
static void
expect_cas_and_flush_work(uint64_t floor)
{
    uint64_t c1 = 0, c2 = 0;
    ck_assert_int_eq(st_store("after1", "a", 1, 0, 0, ITEM_SET, 0, &c1), ITEM_OK);
    ck_assert_int_eq(st_store("after2", "b", 1, 0, 0, ITEM_SET, 0, &c2), ITEM_OK);
    ck_assert_msg(c1 != 0 && c1 > floor, "new CAS %llu above %llu",
                  (unsigned long long)c1, (unsigned long long)floor);
    ck_assert_msg(c2 > c1, "CAS increases: %llu then %llu",
                  (unsigned long long)c1, (unsigned long long)c2);
    item_flush(0);                  /* same second as the stores */
    ST_EXPECT("after1", NULL);
    ST_EXPECT("after2", NULL);
    ST_EXPECT("victim", NULL);
    ST_EXPECT("key:3", NULL);
    uint64_t c3 = 0;
    ck_assert_int_eq(st_store("after3", "c", 1, 0, 0, ITEM_SET, 0, &c3), ITEM_OK);
    ck_assert_msg(c3 > c2, "CAS after flush %llu > %llu", (unsigned long long)c3,
                  (unsigned long long)c2);
    ST_EXPECT("after3", "c");
}

/* Load path (after restart) and expect it refused as damaged with `why`,
 * at the byte offset `at` (or anywhere if at < 0), nothing loaded. */
static void
expect_refused(const char *why, off_t at)
{
    struct snapshot_result r;
    restart(16);
    enum snapshot_status st = snapshot_read(path, &r);
    ck_assert_msg(st == SNAP_ECORRUPT, "%s: status %d (%s)", why, st, r.err);
    ck_assert_msg(strstr(r.err, why) != NULL, "want '%s' in '%s'", why, r.err);
    if (at >= 0)
        ck_assert_msg(r.bad_offset == (uint64_t)at, "%s: at %llu, want %lld", why,
                      (unsigned long long)r.bad_offset, (long long)at);
    ck_assert_uint_eq(curr_items(), 0);
    ck_assert_uint_eq(r.items, 0);
}

START_TEST(test_hostile_cas)
{
    off_t v = write_with_victim();
    char good[160];
    snprintf(good, sizeof(good), "%s.good", path);
    copy_file(path, good);

    /* 2^64-1 used to raise the counter to its end: the next CAS was 0 and
     * flush_all (flush_cas = counter + 1 = 0) stopped working */
    patch64(v + R_CAS, UINT64_MAX);
    reseal();
    expect_refused("record CAS out of range", v);
    expect_cas_and_flush_work(0);
    ck_assert_uint_lt(st_stats().curr_cas, 100);   /* counter not raised */

    copy_file(good, path);
    patch64(v + R_CAS, (uint64_t)1 << 63);
    reseal();
    expect_refused("record CAS out of range", v);

    /* the largest accepted CAS: the counter goes on above it */
    copy_file(good, path);
    patch64(v + R_CAS, ((uint64_t)1 << 63) - 1);
    reseal();
    restart(16);
    struct snapshot_result r;
    ck_assert_int_eq(snapshot_read(path, &r), SNAP_OK);
    ck_assert_uint_eq(r.items, 21);
    ck_assert_uint_eq(r.max_cas, ((uint64_t)1 << 63) - 1);
    struct item *it = item_get("victim", 6);
    ck_assert_ptr_nonnull(it);
    ck_assert_uint_eq(item_cas(it), ((uint64_t)1 << 63) - 1);
    item_release(it);
    expect_cas_and_flush_work(((uint64_t)1 << 63) - 1);
}
END_TEST

START_TEST(test_hostile_cas_zero)
{
    /* CAS 0 (a file written with -C, or by an older server that loaded
     * one): the item gets a fresh CAS above the file's, so that gets
     * shows a real unique and flush_all in the same second catches it */
    off_t v = write_with_victim();
    uint64_t file_max = 0;
    for (int i = 0; i < 20; i++) {
        char k[32];
        snprintf(k, sizeof(k), "key:%d", i);
        uint64_t c = read64(rec_offset(k) + R_CAS);
        if (c > file_max)
            file_max = c;
    }
    patch64(v + R_CAS, 0);
    reseal();
    restart(16);
    struct snapshot_result r;
    ck_assert_int_eq(snapshot_read(path, &r), SNAP_OK);
    ck_assert_uint_eq(r.items, 21);
    struct item *it = item_get("victim", 6);
    ck_assert_ptr_nonnull(it);
    ck_assert_msg(item_cas(it) == file_max + 1, "victim CAS %llu, file max %llu",
                  (unsigned long long)item_cas(it), (unsigned long long)file_max);
    item_release(it);
    ck_assert_uint_eq(r.fresh_cas, 1);
    ck_assert_uint_eq(r.max_cas, file_max + 1);
    expect_cas_and_flush_work(file_max + 1);
}
END_TEST

START_TEST(test_hostile_exptime)
{
    off_t v = write_with_victim();
    char good[160];
    snprintf(good, sizeof(good), "%s.good", path);
    copy_file(path, good);
    time_t now = clock_to_unix(clock_now());
    int64_t exp_max = (int64_t)now + CLOCK_MAX_DELTA > INT32_MAX
                      ? (int64_t)now + CLOCK_MAX_DELTA : INT32_MAX;

    /* 2^32 seconds after the process start used to wrap to 0: "never" */
    int64_t hostile[] = { (int64_t)clock_process_started() + ((int64_t)1 << 32),
                          INT64_MAX, exp_max + 1 };
    for (size_t i = 0; i < sizeof(hostile) / sizeof(hostile[0]); i++) {
        copy_file(good, path);
        patch64(v + R_EXP, (uint64_t)hostile[i]);
        reseal();
        restart(16);
        struct snapshot_result r;
        ck_assert_int_eq(snapshot_read(path, &r), SNAP_OK);
        ck_assert_uint_eq(r.items, 21);
        struct item *it = item_get("victim", 6);
        ck_assert_ptr_nonnull(it);
        ck_assert_msg(item_exptime(it) == clock_from_unix((time_t)exp_max),
                      "exptime %lld: loaded as %u, want %u (clamped)", (long long)hostile[i],
                      item_exptime(it), clock_from_unix((time_t)exp_max));
        ck_assert_uint_ne(item_exptime(it), 0);
        item_release(it);
        ck_assert_uint_eq(r.clamped_exptime, 1);
    }

    /* the latest expiry a client can set is kept as it is */
    copy_file(good, path);
    patch64(v + R_EXP, (uint64_t)exp_max);
    reseal();
    restart(16);
    struct snapshot_result r;
    ck_assert_int_eq(snapshot_read(path, &r), SNAP_OK);
    ck_assert_uint_eq(r.clamped_exptime, 0);
    struct item *it = item_get("victim", 6);
    ck_assert_ptr_nonnull(it);
    ck_assert_uint_eq(item_exptime(it), clock_from_unix((time_t)exp_max));
    item_release(it);

    /* in the past: skipped as expired */
    copy_file(good, path);
    patch64(v + R_EXP, (uint64_t)now - 1);
    reseal();
    restart(16);
    ck_assert_int_eq(snapshot_read(path, &r), SNAP_OK);
    ck_assert_uint_eq(r.items, 20);
    ck_assert_uint_eq(r.skipped_expired, 1);
    ST_EXPECT("victim", NULL);

    /* negative: no server writes that */
    copy_file(good, path);
    patch64(v + R_EXP, (uint64_t)-5);
    reseal();
    expect_refused("record expiry is negative", v);

    /* access times: in the future = now, negative = damaged */
    copy_file(good, path);
    patch64(v + R_ATIME, (uint64_t)now + 1000000);
    reseal();
    restart(16);
    ck_assert_int_eq(snapshot_read(path, &r), SNAP_OK);
    it = item_get("victim", 6);
    ck_assert_ptr_nonnull(it);
    ck_assert_uint_le(item_atime(it), clock_now());
    item_release(it);
    copy_file(good, path);
    patch64(v + R_ATIME, (uint64_t)INT64_MIN);
    reseal();
    expect_refused("record access time is negative", v);
}
END_TEST

START_TEST(test_hostile_keys_and_fields)
{
    off_t v = write_with_victim();
    char good[160];
    snprintf(good, sizeof(good), "%s.good", path);
    copy_file(path, good);
    /* keys the text protocol cannot carry */
    const unsigned char bad_key_bytes[] = { ' ', '\n', '\r', 0, 0x01, 0x7f };
    for (size_t i = 0; i < sizeof(bad_key_bytes); i++) {
        copy_file(good, path);
        patch8(v + R_KEY + 2, bad_key_bytes[i]);
        reseal();
        expect_refused("record key has a space or control character", v);
    }
    /* a key length that disagrees with the record: malformed */
    copy_file(good, path);
    patch8(v + R_NKEY, 0);
    reseal();
    expect_refused("malformed record", v);
    /* unknown record flags, non-zero reserved fields */
    copy_file(good, path);
    patch8(v + R_RFL, 0x80);
    reseal();
    expect_refused("record has unknown flags or non-zero reserved fields", v);
    copy_file(good, path);
    patch8(v + R_RES16 + 1, 1);
    reseal();
    expect_refused("record has unknown flags or non-zero reserved fields", v);
    copy_file(good, path);
    patch8(v + R_RES32 + 3, 0x80);
    reseal();
    expect_refused("record has unknown flags or non-zero reserved fields", v);
    /* a value length past the block: malformed */
    copy_file(good, path);
    patch(v + R_NBYTES, "\xf0\xff\xff\xff", 4);
    reseal();
    expect_refused("malformed record", v);
    /* file header: unknown flag bits, reserved field, CAS without the
     * header's CAS flag */
    copy_file(good, path);
    patch8(44, 0x03);
    reseal();
    expect_refused("unknown header flags or non-zero reserved field", 44);
    copy_file(good, path);
    patch8(50, 1);
    reseal();
    expect_refused("unknown header flags or non-zero reserved field", 44);
    copy_file(good, path);
    patch8(44, 0x00);
    reseal();
    expect_refused("record CAS in a file written without CAS", -1);

    /* client flags are 32 bits: every value is valid */
    copy_file(good, path);
    patch(v + R_FLAGS, "\xff\xff\xff\xff", 4);
    reseal();
    restart(16);
    struct snapshot_result r;
    ck_assert_int_eq(snapshot_read(path, &r), SNAP_OK);
    struct item *it = item_get("victim", 6);
    ck_assert_ptr_nonnull(it);
    ck_assert_uint_eq(item_flags(it), UINT32_MAX);
    item_release(it);
    ST_EXPECT("victim", "precious");
}
END_TEST

START_TEST(test_hostile_item_count)
{
    /* The daemon sizes its hash table from the end record before
     * anything is verified: a forged count must not make it huge. */
    fill(10);
    struct snapshot_result r;
    ck_assert_int_eq(snapshot_write(path, &so, &r), SNAP_OK);
    ck_assert_uint_eq(snapshot_peek_items(path), 10);
    ck_assert_uint_eq(snapshot_peek_items_max(path, 16u << 20), 10);
    /* the first block's record count says 4 billion; resealed, the end
     * record adds it up with valid checksums */
    patch(64 + 12, "\xff\xff\xff\xff", 4);
    reseal();
    uint64_t room = ((uint64_t)file_size() - 64 - 64) / 41;
    uint64_t n = snapshot_peek_items(path);
    ck_assert_msg(n <= room, "peek %llu for a %lld-byte file", (unsigned long long)n,
                  (long long)file_size());
    /* and by what the memory limit can hold (32 bytes an item at least) */
    ck_assert_uint_eq(snapshot_peek_items_max(path, 64), 2);
    ck_assert_uint_le(snapshot_peek_items_max(path, 16u << 20), room);
    /* the load itself refuses it */
    expect_refused("malformed record", -1);
}
END_TEST

START_TEST(test_header_factor_saturates)
{
    /* -f is informational in the header (x 1000 in 32 bits): a huge
     * factor saturates instead of an undefined conversion */
    fill(3);
    so.factor = 1e300;
    struct snapshot_result r;
    ck_assert_int_eq(snapshot_write(path, &so, &r), SNAP_OK);
    unsigned char b[4];
    int fd = open(path, O_RDONLY);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(pread(fd, b, 4, 40), 4);
    close(fd);
    ck_assert_uint_eq((uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 |
                      (uint32_t)b[3] << 24, UINT32_MAX);
    restart(16);
    ck_assert_int_eq(snapshot_read(path, &r), SNAP_OK);
    ck_assert_uint_eq(r.items, 3);
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
    tcase_add_test(tc, test_collections);
    tcase_add_test(tc, test_queues_survive_restart);
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
    TCase *tch = tcase_create("hostile");
    tcase_add_checked_fixture(tch, setup, teardown);
    tcase_set_timeout(tch, 60);
    tcase_add_test(tch, test_hostile_cas);
    tcase_add_test(tch, test_hostile_cas_zero);
    tcase_add_test(tch, test_hostile_exptime);
    tcase_add_test(tch, test_hostile_keys_and_fields);
    tcase_add_test(tch, test_hostile_item_count);
    tcase_add_test(tch, test_header_factor_saturates);
    suite_add_tcase(s, tch);
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
