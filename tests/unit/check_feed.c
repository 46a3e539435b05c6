/* check_feed.c -- the socket-free byte loop (feed.h): splits at every
 * byte, fairness yields, paused multigets, overlong lines, direct value
 * reads.  Replies are checked byte for byte. */
#include <stdlib.h>
#include <string.h>

#include "check_storage_util.h"
#include "feed.h"
#include "obuf.h"
#include "proto.h"
#include "stats.h"

static struct thread_stats ts;

static void
setup(void)
{
    struct item_options o;
    st_opts(&o, 64);
    st_start(&o);
}

static void
teardown(void)
{
    item_teardown();
}

/* A client connection without a socket: unconsumed input and what the
 * client has read so far. */
struct client {
    struct obuf       out;
    struct proto_conn pc;
    struct feed       f;
    char             *in;
    size_t            inlen, incap;
    char             *got;          /* replies read by the client */
    size_t            gotlen, gotcap;
    int               yields, pauses;
};

static void
client_init(struct client *c)
{
    memset(c, 0, sizeof(*c));
    obuf_init(&c->out);
    proto_conn_init(&c->pc, &c->out, &ts, 0);
    feed_init(&c->f);
}

static void
client_deinit(struct client *c)
{
    proto_conn_deinit(&c->pc);
    obuf_deinit(&c->out);
    free(c->in);
    free(c->got);
}

static void
grow(char **p, size_t *cap, size_t need)
{
    if (need <= *cap)
        return;
    *cap = need * 2;
    *p = realloc(*p, *cap);
    ck_assert(*p != NULL);
}

/* The client reads everything pending. */
static void
client_read(struct client *c)
{
    for (int i = c->out.iov_done; i < c->out.niov; i++) {
        grow(&c->got, &c->gotcap, c->gotlen + c->out.iov[i].iov_len);
        memcpy(c->got + c->gotlen, c->out.iov[i].iov_base, c->out.iov[i].iov_len);
        c->gotlen += c->out.iov[i].iov_len;
    }
    obuf_reset(&c->out);
}

/* n more bytes arrive; run turns (as conn.c does) until the loop needs
 * input.  Returns the last status. */
static enum feed_status
client_send(struct client *c, const char *p, size_t n, int max_reqs)
{
    grow(&c->in, &c->incap, c->inlen + n + 1);
    memcpy(c->in + c->inlen, p, n);
    c->inlen += n;
    enum feed_status st = FEED_NEED_INPUT;
    for (int turn = 0; turn < 1000000; turn++) {
        size_t used = feed_run(&c->f, &c->pc, c->in, c->inlen, max_reqs, &st);
        memmove(c->in, c->in + used, c->inlen - used);
        c->inlen -= used;
        if (st == FEED_YIELD)
            c->yields++;
        if (st == FEED_OUTPUT_FULL) {
            c->pauses++;
            ck_assert_msg(c->out.pending < PROTO_OUT_HIGH + 65536,
                          "output bounded: %zu", c->out.pending);
        }
        client_read(c);
        if (st == FEED_NEED_INPUT || st == FEED_CLOSE || st == FEED_WATCH)
            break;
    }
    return st;
}

static const char script[] =
    "set a 0 0 5\r\nhello\r\n"
    "get a b\r\n"
    "set b 7 0 3 noreply\r\nxyz\r\n"
    "append a 0 0 1\r\n!\r\n"
    "get a b\r\n"
    "set c 0 0 2\r\ntoolong\r\n"
    "bogus\r\n"
    "incr n 1\r\n"
    "set big 0 0 100000 noreply\r\n";

static const char script_reply[] =
    "STORED\r\n"
    "VALUE a 0 5\r\nhello\r\nEND\r\n"
    "STORED\r\n"
    "VALUE a 0 6\r\nhello!\r\nVALUE b 7 3\r\nxyz\r\nEND\r\n"
    "CLIENT_ERROR bad data chunk\r\n"
    "ERROR\r\n"
    "ERROR\r\n"
    "NOT_FOUND\r\n";

/* The same bytes, split at every position into two sends, give the same
 * replies as one send; then the half-sent large value is completed. */
START_TEST(test_split_at_every_byte)
{
    size_t n = strlen(script);
    for (size_t cut = 0; cut <= n; cut++) {
        struct client c;
        client_init(&c);
        item_flush(0);
        client_send(&c, script, cut, 20);
        client_send(&c, script + cut, n - cut, 20);
        ck_assert_msg(c.gotlen == strlen(script_reply) &&
                      memcmp(c.got, script_reply, c.gotlen) == 0,
                      "cut at %zu: got %.*s", cut, (int)c.gotlen, c.got);
        ck_assert_int_eq(c.f.state, FEED_VALUE);
        client_deinit(&c);
    }
}
END_TEST

/* -R: at most max_reqs lines per turn, then FEED_YIELD with the rest left. */
START_TEST(test_yield_after_max_reqs)
{
    struct client c;
    client_init(&c);
    const char *in = "mn\r\nmn\r\nmn\r\nmn\r\nmn\r\n";
    enum feed_status st;
    size_t used = feed_run(&c.f, &c.pc, (char *)in, strlen(in), 2, &st);
    ck_assert_int_eq(st, FEED_YIELD);
    ck_assert_uint_eq(used, 8);
    client_read(&c);
    ck_assert_uint_eq(c.gotlen, 8);
    client_send(&c, in + used, strlen(in) - used, 2);
    ck_assert_uint_eq(c.gotlen, 20);
    ck_assert_int_eq(c.yields, 1);
    client_deinit(&c);
}
END_TEST

/* A multiget whose reply is far larger than PROTO_OUT_HIGH is produced in
 * pieces; the line is consumed only when the reply is complete. */
START_TEST(test_multiget_pauses_and_resumes)
{
    char *v = val_of(3000, 'q');
    ck_assert_int_eq(st_set("k", v), ITEM_OK);
    enum { N = 2000 };
    size_t linelen = 4 + N * 2 + 2;
    char *line = malloc(linelen + 1);
    strcpy(line, "get");
    for (int i = 0; i < N; i++)
        strcat(line, " k");
    strcat(line, "\r\n");
    struct client c;
    client_init(&c);
    enum feed_status st;
    size_t used = feed_run(&c.f, &c.pc, line, strlen(line), 20, &st);
    ck_assert_int_eq(st, FEED_OUTPUT_FULL);
    ck_assert_uint_eq(used, 0);
    client_read(&c);
    client_send(&c, line, strlen(line), 20);
    ck_assert_uint_eq(c.inlen, 0);
    ck_assert_msg(c.pauses > 3, "pauses: %d", c.pauses);
    size_t one = strlen("VALUE k 0 3000\r\n") + 3000 + 2;
    ck_assert_uint_eq(c.gotlen, (size_t)N * one + 5);
    ck_assert(memcmp(c.got + c.gotlen - 5, "END\r\n", 5) == 0);
    for (int i = 0; i < N; i++)
        ck_assert(memcmp(c.got + (size_t)i * one, "VALUE k 0 3000\r\n", 16) == 0);
    client_deinit(&c);
    free(line);
    free(v);
}
END_TEST

/* A non-get line longer than 2048 bytes without '\n' closes; a get line
 * may be longer. */
START_TEST(test_overlong_line)
{
    char buf[3000];
    memset(buf, 'x', sizeof(buf));
    struct client c;
    client_init(&c);
    ck_assert_int_eq(client_send(&c, buf, sizeof(buf), 20), FEED_CLOSE);
    ck_assert(c.f.line_too_long);
    client_deinit(&c);

    memcpy(buf, "get ", 4);
    client_init(&c);
    ck_assert_int_eq(client_send(&c, buf, sizeof(buf), 20), FEED_NEED_INPUT);
    ck_assert(!c.f.line_too_long);
    ck_assert_uint_eq(c.inlen, sizeof(buf));
    client_deinit(&c);
}
END_TEST

/* Value bytes written straight into the item (the connection's direct
 * read), then the terminator through feed_run. */
START_TEST(test_direct_value_read)
{
    struct client c;
    client_init(&c);
    const char *hdr = "set d 0 0 70000\r\n";
    client_send(&c, hdr, strlen(hdr), 20);
    ck_assert_int_eq(c.f.state, FEED_VALUE);
    size_t left = 70000;
    while (left > 0) {
        struct iovec iov[4];
        int n = feed_value_iov(&c.f, &c.pc, iov, 4);
        ck_assert(n > 0);
        size_t k = iov[0].iov_len < 1000 ? iov[0].iov_len : 1000;
        memset(iov[0].iov_base, 'd', k);
        feed_value_advance(&c.f, &c.pc, k);
        left -= k;
    }
    ck_assert_int_eq(c.f.state, FEED_VALUE_END);
    client_send(&c, "\r\n", 2, 20);
    ck_assert_uint_eq(c.gotlen, 8);
    ck_assert(memcmp(c.got, "STORED\r\n", 8) == 0);
    struct item *it = item_get("d", 1);
    ck_assert(it != NULL);
    ck_assert_uint_eq(item_nbytes(it), 70000);
    item_release(it);
    client_deinit(&c);
}
END_TEST

static Suite *
feed_suite(void)
{
    Suite *s = suite_create("feed");
    TCase *tc = tcase_create("loop");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_split_at_every_byte);
    tcase_add_test(tc, test_yield_after_max_reqs);
    tcase_add_test(tc, test_multiget_pauses_and_resumes);
    tcase_add_test(tc, test_overlong_line);
    tcase_add_test(tc, test_direct_value_read);
    suite_add_tcase(s, tc);
    return s;
}

ST_MAIN(feed_suite)
