/* check_delta.c -- incr/decr semantics (as memcached 1.6.18). */
#include "check_storage_util.h"

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

/* delta on key holding init; expect status, result and new value. */
static void
check(const char *init, bool incr, uint64_t delta, enum item_status want_st,
      uint64_t want_res, const char *want_val)
{
    ck_assert_int_eq(st_set("n", init), ITEM_OK);
    uint64_t res = 12345, cas = 0;
    enum item_status st = item_delta("n", 1, incr, delta, &res, &cas);
    ck_assert_msg(st == want_st, "%s \"%s\" by %llu: status %d want %d",
                  incr ? "incr" : "decr", init, (unsigned long long)delta, st, want_st);
    if (st == ITEM_OK) {
        ck_assert_msg(res == want_res, "%s \"%s\" by %llu: %llu want %llu",
                      incr ? "incr" : "decr", init, (unsigned long long)delta,
                      (unsigned long long)res, (unsigned long long)want_res);
        ck_assert_msg(cas != 0, "cas after delta");
    }
    ST_EXPECT("n", want_val);
}

START_TEST(test_basic)
{
    check("1", true, 1, ITEM_OK, 2, "2");
    check("10", false, 3, ITEM_OK, 7, "7 ");
    check("0", true, 0, ITEM_OK, 0, "0");
    check("99", true, 1, ITEM_OK, 100, "100");          /* longer: new length */
    check("100", false, 1, ITEM_OK, 99, "99 ");         /* shorter: padded */
    check("007", true, 1, ITEM_OK, 8, "8  ");
}
END_TEST

START_TEST(test_wrap_floor)
{
    check("18446744073709551615", true, 1, ITEM_OK, 0, "0                   ");
    check("18446744073709551615", true, 2, ITEM_OK, 1, "1                   ");
    check("18446744073709551614", true, 1, ITEM_OK, UINT64_MAX, "18446744073709551615");
    check("5", false, 6, ITEM_OK, 0, "0");
    check("5", false, UINT64_MAX, ITEM_OK, 0, "0");
    check("0", false, 1, ITEM_OK, 0, "0");
    check("1", true, UINT64_MAX, ITEM_OK, 0, "0");
}
END_TEST

START_TEST(test_nonnumeric)
{
    check("12a", true, 1, ITEM_ENONNUMERIC, 0, "12a");
    check("abc", true, 1, ITEM_ENONNUMERIC, 0, "abc");
    check("", true, 1, ITEM_ENONNUMERIC, 0, "");
    check("-12", true, 1, ITEM_ENONNUMERIC, 0, "-12");
    check(" ", false, 1, ITEM_ENONNUMERIC, 0, " ");
    check("118446744073709551615", true, 1, ITEM_ENONNUMERIC, 0, "118446744073709551615");
    check("18446744073709551616", true, 1, ITEM_ENONNUMERIC, 0, "18446744073709551616");
    /* as memcached's strtoull: spaces around are fine */
    check(" 12 ", true, 1, ITEM_OK, 13, "13  ");
    check("12 ", true, 1, ITEM_OK, 13, "13 ");
}
END_TEST

START_TEST(test_missing_and_ref)
{
    uint64_t r;
    ck_assert_int_eq(item_delta("none", 4, true, 1, &r, NULL), ITEM_NOT_FOUND);
    /* with a reader holding the item, the value is not rewritten in place */
    st_set("n", "100");
    struct item *it = item_get("n", 1);
    ck_assert_int_eq(item_delta("n", 1, false, 1, &r, NULL), ITEM_OK);
    ck_assert_uint_eq(r, 99);
    ck_assert_msg(memcmp((char *)item_key(it) + 1, "100", 3) == 0, "held value unchanged");
    item_release(it);
    ST_EXPECT("n", "99");                 /* new item of the exact length */
    st_store("f", "5", 1, 77, 0, ITEM_SET, 0, NULL);
    ck_assert_int_eq(item_delta("f", 1, true, 1000, &r, NULL), ITEM_OK);
    it = item_get("f", 1);
    ck_assert_uint_eq(item_flags(it), 77);
    item_release(it);
    ST_EXPECT("f", "1005");
}
END_TEST

static Suite *
delta_suite(void)
{
    Suite *s = suite_create("delta");
    TCase *tc = tcase_create("incr_decr");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_basic);
    tcase_add_test(tc, test_wrap_floor);
    tcase_add_test(tc, test_nonnumeric);
    tcase_add_test(tc, test_missing_and_ref);
    suite_add_tcase(s, tc);
    return s;
}

ST_MAIN(delta_suite)
