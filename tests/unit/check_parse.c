/* check_parse.c -- the two request parsers, table-driven: a line in, the
 * request fields or the exact error line out.  text_parse() (classic
 * commands) and meta_parse() (reached through text_parse()). */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto.h"

struct text_case {
    const char *line;
    enum req_cmd cmd;
    const char *error;              /* NULL: parses */
    const char *key;                /* expected key (NULL: none) */
    int64_t vlen;                   /* storage: value length, -1 = none */
    bool noreply;
};

static const struct text_case text_cases[] = {
    { "get a", CMD_GET, NULL, NULL, -1, false },
    { "gets a b c", CMD_GETS, NULL, NULL, -1, false },
    { "set k 1 2 3", CMD_SET, NULL, "k", 3, false },
    { "set k 1 2 3 noreply", CMD_SET, NULL, "k", 3, true },
    { "set k 1 2", CMD_UNKNOWN, "ERROR", NULL, -1, false },
    { "set k x 2 3", CMD_SET, "CLIENT_ERROR bad command line format", NULL, -1, false },
    { "set k 1 2 -1", CMD_SET, "CLIENT_ERROR bad command line format", NULL, -1, false },
    { "cas k 1 2 3 99", CMD_CAS, NULL, "k", 3, false },
    { "delete k", CMD_DELETE, NULL, "k", -1, false },
    { "delete k 0", CMD_DELETE, NULL, "k", -1, false },
    { "delete k 5", CMD_DELETE,
      "CLIENT_ERROR bad command line format.  Usage: delete <key> [noreply]", NULL, -1, false },
    { "incr k 5", CMD_INCR, NULL, "k", -1, false },
    { "incr k x", CMD_INCR, "CLIENT_ERROR invalid numeric delta argument", NULL, -1, false },
    { "touch k x", CMD_TOUCH, "CLIENT_ERROR invalid exptime argument", NULL, -1, false },
    { "bogus", CMD_UNKNOWN, "ERROR", NULL, -1, false },
    { "", CMD_UNKNOWN, "ERROR", NULL, -1, false },
};

START_TEST(test_text_table)
{
    const struct text_case *c = &text_cases[_i];
    struct request r;
    text_parse(c->line, strlen(c->line), &r);
    ck_assert_msg(r.cmd == c->cmd, "%s: cmd %d, want %d", c->line, r.cmd, c->cmd);
    if (c->error == NULL) {
        ck_assert_msg(r.error == NULL, "%s: unexpected error %s", c->line, r.error);
        ck_assert_msg(r.noreply == c->noreply, "%s: noreply", c->line);
        if (c->key != NULL)
            ck_assert_msg(r.nkey == strlen(c->key) && memcmp(r.key, c->key, r.nkey) == 0,
                          "%s: key %.*s", c->line, (int)r.nkey, r.key);
        if (c->vlen >= 0)
            ck_assert_msg(r.vlen == c->vlen, "%s: vlen %lld", c->line, (long long)r.vlen);
    } else {
        ck_assert_msg(r.error != NULL && strcmp(r.error, c->error) == 0,
                      "%s: error %s, want %s", c->line, r.error ? r.error : "(none)", c->error);
    }
}
END_TEST

struct meta_case {
    const char *line;
    enum req_cmd cmd;
    const char *error;              /* NULL: parses */
    const char *key;                /* the (decoded) key */
    const char *order;              /* flags in request order */
    const char *opaque;
    int64_t ttl;                    /* T */
    uint64_t cas;                   /* C */
    uint64_t delta;                 /* D */
    char mode;                      /* M */
    int64_t vlen;                   /* ms */
    bool noreply;
};

static const struct meta_case meta_cases[] = {
    { "mn", CMD_MN, NULL, NULL, "", NULL, 0, 0, 1, 0, -1, false },
    { "mg a", CMD_MG, NULL, "a", "", NULL, 0, 0, 1, 0, -1, false },
    { "mg a v k O123 T30 q", CMD_MG, NULL, "a", "vkOTq", "123", 30, 0, 1, 0, -1, true },
    { "mg a P L v", CMD_MG, NULL, "a", "PLv", NULL, 0, 0, 1, 0, -1, false },
    { "mg YWJj b v", CMD_MG, NULL, "abc", "bv", NULL, 0, 0, 1, 0, -1, false },
    { "mg YQ== b", CMD_MG, NULL, "a", "b", NULL, 0, 0, 1, 0, -1, false },
    { "mg a b", CMD_MG, "CLIENT_ERROR error decoding key", NULL, NULL, NULL, 0, 0, 1, 0, -1, false },
    { "mg a v v", CMD_MG, "CLIENT_ERROR duplicate flag", NULL, NULL, NULL, 0, 0, 1, 0, -1, false },
    { "mg a zz", CMD_MG, "CLIENT_ERROR invalid flag", NULL, NULL, NULL, 0, 0, 1, 0, -1, false },
    { "mg a Oxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", CMD_MG, "CLIENT_ERROR opaque token too long",
      NULL, NULL, NULL, 0, 0, 1, 0, -1, false },
    { "mg a Tx", CMD_MG, "CLIENT_ERROR bad token in command line format",
      NULL, NULL, NULL, 0, 0, 1, 0, -1, false },
    { "mg", CMD_UNKNOWN, "ERROR", NULL, NULL, NULL, 0, 0, 1, 0, -1, false },
    { "ms k 5 T10 F3 C99 MA", CMD_MS, NULL, "k", "TFCM", NULL, 10, 99, 1, 'A', 5, false },
    { "ms k x", CMD_MS, "CLIENT_ERROR bad command line format", NULL, NULL, NULL, 0, 0, 1, 0, -1, false },
    { "ms k 2 MX", CMD_MS, "CLIENT_ERROR invalid mode for ms M token", NULL, NULL, NULL, 0, 0, 1, 0, 2, false },
    { "ms k 2 z", CMD_MS, "CLIENT_ERROR invalid flag", NULL, NULL, NULL, 0, 0, 1, 0, 2, false },
    { "ms k 2 v v", CMD_MS, "CLIENT_ERROR duplicate flag", NULL, NULL, NULL, 0, 0, 1, 0, 2, false },
    { "ms k 2 Fx", CMD_MS, "CLIENT_ERROR bad command line format", NULL, NULL, NULL, 0, 0, 1, 0, 2, false },
    { "ms k 2 v", CMD_MS, NULL, "k", "v", NULL, 0, 0, 1, 0, 2, false },
    { "md k z", CMD_MD, "CLIENT_ERROR invalid or duplicate flag", NULL, NULL, NULL, 0, 0, 1, 0, -1, false },
    { "md k q q", CMD_MD, "CLIENT_ERROR invalid or duplicate flag", NULL, NULL, NULL, 0, 0, 1, 0, -1, false },
    { "md k b", CMD_MD, "CLIENT_ERROR invalid or duplicate flag", NULL, NULL, NULL, 0, 0, 1, 0, -1, false },
    { "md k I T30 q", CMD_MD, NULL, "k", "ITq", NULL, 30, 0, 1, 0, -1, true },
    { "ma k D5 MD N0 J7 v", CMD_MA, NULL, "k", "DMNJv", NULL, 0, 0, 5, 'D', -1, false },
    { "ma k D-5", CMD_MA, "CLIENT_ERROR invalid or duplicate flag",
      NULL, NULL, NULL, 0, 0, 1, 0, -1, false },
    { "me k", CMD_ME, NULL, "k", "", NULL, 0, 0, 1, 0, -1, false },
};

START_TEST(test_meta_table)
{
    const struct meta_case *c = &meta_cases[_i];
    struct request r;
    text_parse(c->line, strlen(c->line), &r);
    ck_assert_msg(r.cmd == c->cmd, "%s: cmd %d, want %d", c->line, r.cmd, c->cmd);
    if (c->error != NULL) {
        ck_assert_msg(r.error != NULL && strcmp(r.error, c->error) == 0,
                      "%s: error %s, want %s", c->line, r.error ? r.error : "(none)", c->error);
        if (c->vlen >= 0)
            ck_assert_msg(r.vlen == c->vlen, "%s: vlen (to swallow) %lld", c->line,
                          (long long)r.vlen);
        return;
    }
    ck_assert_msg(r.error == NULL, "%s: unexpected error %s", c->line, r.error);
    const struct meta_req *m = &r.meta;
    if (c->key != NULL)
        ck_assert_msg(r.nkey == strlen(c->key) && memcmp(r.key, c->key, r.nkey) == 0,
                      "%s: key %.*s", c->line, (int)r.nkey, r.key);
    ck_assert_msg((size_t)m->norder == strlen(c->order) &&
                  memcmp(m->order, c->order, (size_t)m->norder) == 0,
                  "%s: flags %.*s, want %s", c->line, m->norder, m->order, c->order);
    for (const char *f = c->order; *f; f++)
        ck_assert_msg(m->seen & META_BIT(*f), "%s: flag %c not seen", c->line, *f);
    if (c->opaque != NULL)
        ck_assert_msg(m->opaque.n == strlen(c->opaque) &&
                      memcmp(m->opaque.s, c->opaque, m->opaque.n) == 0, "%s: opaque", c->line);
    ck_assert_msg(m->ttl == c->ttl, "%s: ttl %lld", c->line, (long long)m->ttl);
    ck_assert_msg(m->cas == c->cas, "%s: cas", c->line);
    ck_assert_msg(m->delta == c->delta, "%s: delta %llu", c->line, (unsigned long long)m->delta);
    ck_assert_msg(m->mode == c->mode, "%s: mode %c", c->line, m->mode);
    ck_assert_msg(r.noreply == c->noreply, "%s: noreply", c->line);
    if (c->vlen >= 0)
        ck_assert_msg(r.vlen == c->vlen, "%s: vlen %lld", c->line, (long long)r.vlen);
}
END_TEST

START_TEST(test_base64_round_trip)
{
    const char in[] = "\x00\x01\xfe\xff key with spaces\r\n";
    char enc[64];
    size_t n = meta_b64_encode(in, sizeof(in) - 1, enc);
    enc[n] = '\0';
    char line[128];
    snprintf(line, sizeof(line), "mg %s b v", enc);
    struct request r;
    text_parse(line, strlen(line), &r);
    ck_assert_msg(r.error == NULL, "decode %s: %s", enc, r.error);
    ck_assert_uint_eq(r.nkey, sizeof(in) - 1);
    ck_assert(memcmp(r.key, in, r.nkey) == 0);
}
END_TEST

/* Admin commands: what text_parse() reads from their arguments. */
struct admin_case {
    const char *line;
    enum req_cmd cmd;
    const char *error;              /* NULL: parses */
    enum req_sub sub;
    const char *late_error;         /* reported after the executor's checks */
    bool noreply;
    int32_t a, b;                   /* reassign src/dst, or automove level in a */
};

static const struct admin_case admin_cases[] = {
    { "stats", CMD_STATS, NULL, SUB_STATS_GENERAL, NULL, false, 0, 0 },
    { "stats items", CMD_STATS, NULL, SUB_STATS_ITEMS, NULL, false, 0, 0 },
    { "stats slabs extra words", CMD_STATS, NULL, SUB_STATS_SLABS, NULL, false, 0, 0 },
    { "stats reset", CMD_STATS, NULL, SUB_STATS_RESET, NULL, false, 0, 0 },
    { "stats detail on", CMD_STATS, NULL, SUB_STATS_DETAIL_SET, NULL, false, 0, 0 },
    { "stats detail dump", CMD_STATS, NULL, SUB_STATS_DETAIL_DUMP, NULL, false, 0, 0 },
    { "stats detail", CMD_STATS, "CLIENT_ERROR usage: stats detail on|off|dump", SUB_NONE, NULL, false, 0, 0 },
    { "stats detail maybe", CMD_STATS, "CLIENT_ERROR usage: stats detail on|off|dump", SUB_NONE, NULL, false, 0, 0 },
    { "stats bogus", CMD_STATS, "ERROR", SUB_NONE, NULL, false, 0, 0 },
    { "slabs reassign 1 2", CMD_SLABS, NULL, SUB_SLABS_REASSIGN, NULL, false, 1, 2 },
    { "slabs reassign -1 7", CMD_SLABS, NULL, SUB_SLABS_REASSIGN, NULL, false, -1, 7 },
    { "slabs reassign 1 x", CMD_SLABS, "CLIENT_ERROR bad command line format", SUB_NONE, NULL, false, 0, 0 },
    { "slabs reassign 1 2 3", CMD_SLABS, "ERROR", SUB_NONE, NULL, false, 0, 0 },
    { "slabs automove 2", CMD_SLABS, NULL, SUB_SLABS_AUTOMOVE, NULL, false, 2, 0 },
    { "slabs automove 1 a b noreply", CMD_SLABS, NULL, SUB_SLABS_AUTOMOVE, NULL, true, 1, 0 },
    { "slabs automove 3 noreply", CMD_SLABS, "ERROR", SUB_NONE, NULL, true, 0, 0 },
    { "slabs automove x", CMD_SLABS, "CLIENT_ERROR bad command line format", SUB_NONE, NULL, false, 0, 0 },
    { "slabs automove ratio 0.8", CMD_SLABS, NULL, SUB_SLABS_AUTOMOVE_RATIO, NULL, false, 0, 0 },
    { "slabs automove ratio", CMD_SLABS, "ERROR", SUB_NONE, NULL, false, 0, 0 },
    { "slabs automove ratio z", CMD_SLABS, "ERROR", SUB_NONE, NULL, false, 0, 0 },
    { "slabs", CMD_SLABS, "ERROR", SUB_NONE, NULL, false, 0, 0 },
    { "lru_crawler crawl all", CMD_LRU_CRAWLER, NULL, SUB_CRAWLER_CRAWL, NULL, false, 0, 0 },
    { "lru_crawler crawl 1,,3", CMD_LRU_CRAWLER, NULL, SUB_CRAWLER_CRAWL, NULL, false, 0, 0 },
    { "lru_crawler crawl 64", CMD_LRU_CRAWLER, "BADCLASS invalid class id", SUB_NONE, NULL, false, 0, 0 },
    { "lru_crawler crawl ,", CMD_LRU_CRAWLER, "NOTSTARTED no items to crawl", SUB_NONE, NULL, false, 0, 0 },
    { "lru_crawler crawl hash", CMD_LRU_CRAWLER, "ERROR an unknown error happened", SUB_NONE, NULL, false, 0, 0 },
    { "lru_crawler metadump all", CMD_LRU_CRAWLER, NULL, SUB_CRAWLER_METADUMP, NULL, false, 0, 0 },
    { "lru_crawler metadump 0", CMD_LRU_CRAWLER, NULL, SUB_CRAWLER_METADUMP, "BADCLASS invalid class id", false, 0, 0 },
    { "lru_crawler sleep 1000000", CMD_LRU_CRAWLER, NULL, SUB_CRAWLER_SETTING, NULL, false, 0, 0 },
    { "lru_crawler sleep 1000001", CMD_LRU_CRAWLER, "CLIENT_ERROR sleep must be one second or less", SUB_NONE, NULL, false, 0, 0 },
    { "lru_crawler tocrawl -", CMD_LRU_CRAWLER, "CLIENT_ERROR bad command line format", SUB_NONE, NULL, false, 0, 0 },
    { "lru_crawler enable", CMD_LRU_CRAWLER, NULL, SUB_CRAWLER_SETTING, NULL, false, 0, 0 },
    { "lru_crawler enable now", CMD_LRU_CRAWLER, "ERROR", SUB_NONE, NULL, false, 0, 0 },
    { "shutdown", CMD_SHUTDOWN, NULL, SUB_NONE, NULL, false, 0, 0 },
    { "shutdown graceful", CMD_SHUTDOWN, NULL, SUB_NONE, NULL, false, 0, 0 },
    { "shutdown now", CMD_SHUTDOWN, NULL, SUB_NONE, "CLIENT_ERROR invalid shutdown mode", false, 0, 0 },
    { "refresh_certs", CMD_REFRESH_CERTS, NULL, SUB_NONE, NULL, false, 0, 0 },
};

START_TEST(test_admin_table)
{
    const struct admin_case *c = &admin_cases[_i];
    struct request r;
    text_parse(c->line, strlen(c->line), &r);
    ck_assert_msg(r.cmd == c->cmd, "%s: cmd %d, want %d", c->line, r.cmd, c->cmd);
    ck_assert_msg(r.noreply == c->noreply, "%s: noreply", c->line);
    if (c->error != NULL) {
        ck_assert_msg(r.error != NULL && strcmp(r.error, c->error) == 0,
                      "%s: error %s, want %s", c->line, r.error ? r.error : "(none)", c->error);
        return;
    }
    ck_assert_msg(r.error == NULL, "%s: unexpected error %s", c->line, r.error);
    ck_assert_msg(r.admin.sub == c->sub, "%s: sub %d, want %d", c->line, r.admin.sub, c->sub);
    if (c->late_error == NULL)
        ck_assert_msg(r.admin.late_error == NULL, "%s: late error %s", c->line, r.admin.late_error);
    else
        ck_assert_msg(r.admin.late_error != NULL && strcmp(r.admin.late_error, c->late_error) == 0,
                      "%s: late error %s", c->line, r.admin.late_error ? r.admin.late_error : "(none)");
    if (c->sub == SUB_SLABS_REASSIGN) {
        ck_assert_int_eq(r.admin.src, c->a);
        ck_assert_int_eq(r.admin.dst, c->b);
    }
    if (c->sub == SUB_SLABS_AUTOMOVE)
        ck_assert_uint_eq(r.admin.level, (uint32_t)c->a);
}
END_TEST

/* Lines memcached hangs up on as HTTP requests, and near misses. */
START_TEST(test_http_probe)
{
    static const struct { const char *line; bool probe; } cases[] = {
        { "GET / HTTP/1.1", true },
        { "HEAD /index.html HTTP/1.0", true },
        { "get / HTTP/1.1", false },        /* a multiget of two keys */
        { "replace / HTTP/1.1", false },    /* a command, wrong token count */
        { "X / HTTP/1.1", false },          /* too short a word */
        { "POST /x HTTP", false },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct request r;
        text_parse(cases[i].line, strlen(cases[i].line), &r);
        ck_assert_msg(r.http_probe == cases[i].probe, "%s", cases[i].line);
    }
}
END_TEST

static Suite *
parse_suite(void)
{
    Suite *s = suite_create("parse");
    TCase *tc = tcase_create("text");
    tcase_add_loop_test(tc, test_text_table, 0, (int)(sizeof(text_cases) / sizeof(text_cases[0])));
    tcase_add_loop_test(tc, test_admin_table, 0, (int)(sizeof(admin_cases) / sizeof(admin_cases[0])));
    tcase_add_test(tc, test_http_probe);
    suite_add_tcase(s, tc);
    tc = tcase_create("meta");
    tcase_add_loop_test(tc, test_meta_table, 0, (int)(sizeof(meta_cases) / sizeof(meta_cases[0])));
    tcase_add_test(tc, test_base64_round_trip);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    SRunner *sr = srunner_create(parse_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
