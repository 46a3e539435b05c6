/*
 * check_monitor.c -- src/monitor: parsing stats text, the Prometheus
 * rendering (families, labels, escaping, absent keys), the JSON, and the
 * metrics_listen syntax.  No server: canned stats text goes in.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "option.h"
#include "../../src/monitor/mon.h"

static char *
dup_text(const char *t)
{
    char *c = strdup(t);
    ck_assert_ptr_nonnull(c);
    return c;
}

/* Render s (plus fns) to a NUL-terminated malloc'd string. */
static char *
render(const struct mon_stats *s, const monitor_family_fn *fns, void *const *args, int n)
{
    struct evbuffer *b = evbuffer_new();
    mon_render_metrics(s, b, fns, args, n);
    size_t len = evbuffer_get_length(b);
    char *t = malloc(len + 1);
    evbuffer_remove(b, t, len);
    t[len] = '\0';
    evbuffer_free(b);
    return t;
}

static void
load(struct mon_stats *s, enum mon_group g, const char *text)
{
    ck_assert_int_eq(mon_stats_parse(s, g, dup_text(text), strlen(text)), 0);
}

#define HAS(out, line) ck_assert_msg(strstr(out, line "\n") != NULL, "missing %s in:\n%s", line, out)
#define HASNT(out, s) ck_assert_msg(strstr(out, s) == NULL, "unexpected %s in:\n%s", s, out)

START_TEST(test_parse_classes)
{
    struct mon_stats s;
    memset(&s, 0, sizeof(s));
    load(&s, MG_ITEMS, "STAT items:3:number 5\r\nSTAT items:3:age 7\r\n"
                       "STAT items:12:number 1\r\nbogus line\r\nSTAT items:12:age 0\r\n");
    ck_assert_uint_eq(s.ncls[MG_ITEMS], 2);
    ck_assert_uint_eq(s.cls[MG_ITEMS][0].cls, 3);
    ck_assert_uint_eq(s.cls[MG_ITEMS][1].cls, 12);
    ck_assert_str_eq(mon_stat(&s, MG_ITEMS, 3, "age"), "7");
    ck_assert_str_eq(mon_stat(&s, MG_ITEMS, 12, "number"), "1");
    ck_assert_ptr_null(mon_stat(&s, MG_ITEMS, 4, "number"));
    load(&s, MG_SLABS, "STAT 1:chunk_size 96\r\nSTAT active_slabs 1\r\nSTAT total_malloced 1048576\r\n");
    load(&s, MG_GENERAL, "STAT total_malloced 5\r\nSTAT last_error a b c\r\n");
    /* the slabs group's global lines win, as in the exporter's client */
    ck_assert_str_eq(mon_stat_global(&s, "total_malloced"), "1048576");
    ck_assert_str_eq(mon_stat(&s, MG_SLABS, 1, "chunk_size"), "96");
    ck_assert_str_eq(mon_stat_global(&s, "last_error"), "a b c");
    mon_stats_free(&s);
}
END_TEST

START_TEST(test_commands_and_absent_keys)
{
    struct mon_stats s;
    memset(&s, 0, sizeof(s));
    load(&s, MG_GENERAL, "STAT version 1.6.18-ng-0.1.0\r\nSTAT uptime 42\r\n"
                         "STAT rusage_user 0.123456\r\nSTAT cmd_set 10\r\nSTAT get_hits 4\r\n"
                         "STAT get_misses 3\r\nSTAT cas_misses 1\r\nSTAT cas_hits 1\r\n"
                         "STAT cas_badval 1\r\nSTAT cmd_flush 2\r\nSTAT curr_items 9\r\n");
    load(&s, MG_SETTINGS, "STAT maxconns 1024\r\nSTAT lru_crawler no\r\n");
    char *out = render(&s, NULL, NULL, 0);
    HAS(out, "memcached_up 1");
    HAS(out, "memcached_version{version=\"1.6.18-ng-0.1.0\"} 1");
    HAS(out, "# TYPE memcached_commands_total counter");
    HAS(out, "memcached_commands_total{command=\"get\",status=\"hit\"} 4");
    HAS(out, "memcached_commands_total{command=\"get\",status=\"miss\"} 3");
    HAS(out, "memcached_commands_total{command=\"cas\",status=\"badval\"} 1");
    HAS(out, "memcached_commands_total{command=\"flush\",status=\"hit\"} 2");
    /* set = cmd_set - cas_misses - cas_hits - cas_badval */
    HAS(out, "memcached_commands_total{command=\"set\",status=\"hit\"} 7");
    HAS(out, "memcached_uptime_seconds 42");
    HAS(out, "memcached_process_user_cpu_seconds_total 0.123456");
    HAS(out, "memcached_current_items 9");
    HAS(out, "memcached_max_connections 1024");
    /* no delete_hits in the stats: no sample; no key at all: no family */
    HASNT(out, "command=\"delete\"");
    HASNT(out, "memcached_current_bytes");
    /* the crawler's settings only when lru_crawler is yes */
    HASNT(out, "memcached_lru_crawler_enabled");
    HAS(out, "memcached_snapshot_enabled 0");
    free(out);
    load(&s, MG_SETTINGS, "STAT lru_crawler yes\r\nSTAT lru_maintainer_thread no\r\n"
                          "STAT hot_max_factor 0.20\r\n");
    out = render(&s, NULL, NULL, 0);
    HAS(out, "# TYPE memcached_lru_crawler_enabled gauge");
    HAS(out, "memcached_lru_crawler_enabled 1");
    HAS(out, "memcached_lru_crawler_maintainer_thread 0");
    HAS(out, "memcached_lru_crawler_hot_max_factor 0.20");
    free(out);
    mon_stats_free(&s);
}
END_TEST

START_TEST(test_slab_families)
{
    struct mon_stats s;
    memset(&s, 0, sizeof(s));
    load(&s, MG_ITEMS, "STAT items:1:number 3\r\nSTAT items:1:mem_requested 300\r\n"
                       "STAT items:1:hits_to_cold 8\r\nSTAT items:2:number 1\r\n");
    load(&s, MG_SLABS, "STAT 1:chunk_size 96\r\nSTAT 1:cmd_set 5\r\nSTAT 1:cas_hits 1\r\n"
                       "STAT 1:cas_badval 1\r\nSTAT 1:get_hits 6\r\nSTAT active_slabs 1\r\n");
    char *out = render(&s, NULL, NULL, 0);
    HAS(out, "# TYPE memcached_slab_current_items gauge");
    HAS(out, "memcached_slab_current_items{slab=\"1\"} 3");
    HAS(out, "memcached_slab_current_items{slab=\"2\"} 1");
    HAS(out, "# TYPE memcached_slab_mem_requested_bytes counter");
    HAS(out, "memcached_slab_lru_hits_total{slab=\"1\",lru=\"cold\"} 8");
    HAS(out, "memcached_slab_chunk_size_bytes{slab=\"1\"} 96");
    HAS(out, "memcached_slab_commands_total{slab=\"1\",command=\"get\",status=\"hit\"} 6");
    /* per class the exporter subtracts cas hits and badval only */
    HAS(out, "memcached_slab_commands_total{slab=\"1\",command=\"set\",status=\"hit\"} 3");
    /* a family's HELP/TYPE appear once, its samples together */
    const char *a = strstr(out, "# TYPE memcached_slab_current_items");
    ck_assert_ptr_null(strstr(a + 1, "# TYPE memcached_slab_current_items"));
    free(out);
    mon_stats_free(&s);
}
END_TEST

START_TEST(test_hotkey_families)
{
    struct mon_stats s;
    memset(&s, 0, sizeof(s));
    load(&s, MG_HOTKEYS, "STAT hotkeys_sample 16\r\nSTAT hotkeys_sampled 1200\r\n"
                         "STAT hotkeys_bytes 76800\r\nSTAT hotkey:1:key user%3A42\r\n"
                         "STAT hotkey:1:count 9600\r\nSTAT hotkey:2:key k2\r\n"
                         "STAT hotkey:2:count 160\r\n");
    char *out = render(&s, NULL, NULL, 0);
    HAS(out, "# TYPE memcached_hotkeys_sampled_total counter\nmemcached_hotkeys_sampled_total 1200");
    HAS(out, "memcached_hotkeys_sample_interval 16");
    HAS(out, "memcached_hotkeys_memory_bytes 76800");
    HAS(out, "# TYPE memcached_hotkey_requests gauge\n"
             "memcached_hotkey_requests{key=\"user%3A42\",rank=\"1\"} 9600\n"
             "memcached_hotkey_requests{key=\"k2\",rank=\"2\"} 160");
    free(out);
    mon_stats_free(&s);
    /* -o no_hotkeys: no family at all */
    memset(&s, 0, sizeof(s));
    load(&s, MG_HOTKEYS, "STAT hotkeys_status disabled\r\n");
    out = render(&s, NULL, NULL, 0);
    HASNT(out, "hotkey");
    free(out);
    mon_stats_free(&s);
}
END_TEST

static void
extra_family(struct mon_writer *w, void *arg)
{
    mon_family(w, "memcached_test_keys", "gauge", "A test family.");
    const char *labels[] = { "key", arg, NULL };
    mon_sample_u64(w, 18446744073709551615ull, labels);
    mon_family(w, "memcached_test_empty", "gauge", "Never sampled.");
}

START_TEST(test_registered_family_escaping)
{
    struct mon_stats s;
    memset(&s, 0, sizeof(s));
    monitor_family_fn fns[] = { extra_family };
    void *args[] = { (void *)"a\"b\\c\nd" };
    char *out = render(&s, fns, args, 1);
    HAS(out, "# HELP memcached_test_keys A test family.\n# TYPE memcached_test_keys gauge");
    HAS(out, "memcached_test_keys{key=\"a\\\"b\\\\c\\nd\"} 18446744073709551615");
    HASNT(out, "memcached_test_empty");
    free(out);
}
END_TEST

START_TEST(test_json)
{
    struct mon_stats s;
    memset(&s, 0, sizeof(s));
    load(&s, MG_GENERAL, "STAT version 1.6.18\r\nSTAT uptime 42\r\nSTAT odd 007\r\n"
                         "STAT rusage_user 0.5\r\nSTAT neg -3\r\nSTAT err a\"b\r\n");
    load(&s, MG_ITEMS, "STAT items:4:number 2\r\n");
    struct evbuffer *b = evbuffer_new();
    mon_render_json(&s, b);
    evbuffer_add(b, "}", 2);
    const char *j = (const char *)evbuffer_pullup(b, -1);
    ck_assert_str_eq(j, "{\"stats\":{\"version\":\"1.6.18\",\"uptime\":42,\"odd\":\"007\","
                        "\"rusage_user\":0.5,\"neg\":-3,\"err\":\"a\\\"b\"},\"settings\":{},"
                        "\"snapshot\":null,\"hotkeys\":{},\"items\":{\"4\":{\"number\":2}},\"slabs\":{},"
                        "\"slabs_global\":{}}");
    evbuffer_free(b);
    mon_stats_free(&s);
}
END_TEST

START_TEST(test_host_port)
{
    char host[64], err[128];
    int port = 0;
    ck_assert_int_eq(option_host_port("9150", host, sizeof(host), &port, err, sizeof(err)), 0);
    ck_assert_str_eq(host, "127.0.0.1");
    ck_assert_int_eq(port, 9150);
    ck_assert_int_eq(option_host_port("0.0.0.0:80", host, sizeof(host), &port, err, sizeof(err)), 0);
    ck_assert_str_eq(host, "0.0.0.0");
    ck_assert_int_eq(port, 80);
    ck_assert_int_eq(option_host_port("[::1]:65535", host, sizeof(host), &port, err, sizeof(err)), 0);
    ck_assert_str_eq(host, "::1");
    ck_assert_int_eq(port, 65535);
    static const char *const bad[] = {
        "", "0", "65536", "99999999999", "x", "host:", ":80", "host:0", "h:8o",
        "::1:80", "[::1]", "[]:80", "[::1]80", "a b:80", "-1",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        ck_assert_msg(option_host_port(bad[i], host, sizeof(host), &port, err, sizeof(err)) == -1,
                      "accepted \"%s\"", bad[i]);
}
END_TEST

int
main(void)
{
    Suite *su = suite_create("monitor");
    TCase *tc = tcase_create("parse");
    tcase_add_test(tc, test_parse_classes);
    suite_add_tcase(su, tc);
    tc = tcase_create("prometheus");
    tcase_add_test(tc, test_commands_and_absent_keys);
    tcase_add_test(tc, test_slab_families);
    tcase_add_test(tc, test_hotkey_families);
    tcase_add_test(tc, test_registered_family_escaping);
    suite_add_tcase(su, tc);
    tc = tcase_create("json");
    tcase_add_test(tc, test_json);
    suite_add_tcase(su, tc);
    tc = tcase_create("listen");
    tcase_add_test(tc, test_host_port);
    suite_add_tcase(su, tc);
    SRunner *sr = srunner_create(su);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
