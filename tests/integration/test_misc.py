"""flush_all, version, verbosity, quit, shutdown, cache_memlimit."""

import re
import time

from harness import (compare, expect, eq, check, transact, pair, run_both, server,
                     REF_BIN, MC_BIN)


def test_version_format(srv):
    def fn(s):
        with s.connect() as c:
            return c.request(b"version\r\n")
    o, r = run_both(fn, srv=srv)
    for who, v in (("ours", o), ("reference", r)):
        check(re.fullmatch(rb"VERSION \d+\.\d+\.\d+[^\r\n ]*\r\n", v) is not None,
              "%s version line %r" % (who, v))


def test_verbosity(srv):
    expect(srv, [b"verbosity 1\r\n", b"verbosity 0 noreply\r\n", b"verbosity\r\n",
                 b"verbosity abc\r\n", b"verbosity 1 2\r\n", b"verbosity 0\r\n"],
           [b"OK\r\n", b"", b"ERROR\r\n",
            b"CLIENT_ERROR bad command line format\r\n", b"OK\r\n", b"OK\r\n"])


def test_flush_all_immediate(srv):
    expect(srv, [b"set a 0 0 1\r\n1\r\nset b 0 0 1\r\n2\r\n", b"flush_all\r\n",
                 b"get a b\r\n", b"set a 0 0 1\r\n3\r\n", b"get a\r\n",
                 b"flush_all noreply\r\n", b"get a\r\n", b"flush_all 0\r\n",
                 b"flush_all -1\r\n", b"flush_all abc\r\n", b"flush_all 0 noreply\r\n",
                 b"flush_all 10 20\r\n"],
           [b"STORED\r\nSTORED\r\n", b"OK\r\n", b"END\r\n", b"STORED\r\n",
            b"VALUE a 0 1\r\n3\r\nEND\r\n", b"", b"END\r\n", b"OK\r\n", b"OK\r\n",
            b"CLIENT_ERROR invalid exptime argument\r\n", b"", b"OK\r\n"])


def test_flush_all_delayed(srv):
    def fn(s):
        with s.connect() as c:
            out = [transact(c, b"set a 0 0 1\r\n1\r\n"), transact(c, b"flush_all 2\r\n"),
                   transact(c, b"get a\r\n")]
            time.sleep(3.1)
            out.append(transact(c, b"get a\r\n"))
            out.append(transact(c, b"set a 0 0 1\r\n2\r\nget a\r\n"))
            return out
    o, r = run_both(fn, srv=srv)
    eq(o, r, "delayed flush transcript (ours vs reference)")
    eq(r, [b"STORED\r\n", b"OK\r\n", b"VALUE a 0 1\r\n1\r\nEND\r\n", b"END\r\n",
           b"STORED\r\nVALUE a 0 1\r\n2\r\nEND\r\n"], "reference")


def test_quit_closes(srv):
    for cmd in (b"quit\r\n", b"quit extra\r\n", b"get a\r\nquit\r\nget a\r\n"):
        r = compare([cmd], srv=srv)
        eq(r, [b"END\r\n" * cmd.count(b"get a") and b"END\r\n<EOF>" or b"<EOF>"],
           "reply to %r" % cmd)


def test_shutdown_disabled_without_A(srv):
    expect(srv, [b"shutdown\r\n", b"shutdown graceful\r\n", b"get a\r\n"],
           [b"ERROR: shutdown not enabled\r\n", b"ERROR: shutdown not enabled\r\n",
            b"END\r\n"])
    check(srv[0].alive() and srv[1].alive(), "servers still running")


def _shutdown(cmd):
    def fn(s):
        with s.connect() as c, s.connect() as other:
            c.send(cmd)
            r = c.read_to_eof(timeout=5)
            rc = s.wait_exit(5)
            r2 = other.read_to_eof(timeout=2)
            return [r, c.eof, rc, r2, other.eof]
    return fn


def test_shutdown_with_A_exits():
    with pair(["-A"]) as srv:
        o, r = run_both(_shutdown(b"shutdown\r\n"), srv=srv)
        eq(o, r, "shutdown outcome")
        eq(r, [b"", True, 0, b"", True], "reference shutdown outcome")
    with pair(["-A"]) as srv:
        o, r = run_both(_shutdown(b"shutdown graceful\r\n"), srv=srv)
        eq(o, r, "shutdown graceful outcome")


def test_shutdown_invalid_mode_with_A():
    with pair(["-A"]) as srv:
        expect(srv, [b"shutdown foo\r\n", b"shutdown noreply\r\n", b"get a\r\n"],
               [b"CLIENT_ERROR invalid shutdown mode\r\n",
                b"CLIENT_ERROR invalid shutdown mode\r\n", b"END\r\n"])


def test_cache_memlimit(srv):
    expect(srv, [b"cache_memlimit 100\r\n", b"cache_memlimit 100 noreply\r\n",
                 b"cache_memlimit\r\n", b"cache_memlimit abc\r\n",
                 b"cache_memlimit 0\r\n", b"cache_memlimit 7\r\n", b"cache_memlimit 8\r\n"],
           [b"OK\r\n", b"", b"ERROR\r\n", b"ERROR\r\n",
            b"MEMLIMIT_TOO_SMALL cannot set maxbytes to less than 8m\r\n",
            b"MEMLIMIT_TOO_SMALL cannot set maxbytes to less than 8m\r\n", b"OK\r\n"])
    # the new limit shows in stats limit_maxbytes (MB -> bytes)
    from harness import stats

    def fn(s):
        with s.connect() as c:
            return stats(c)[0]["limit_maxbytes"]
    o, r = run_both(fn, srv=srv)
    eq(o, r, "limit_maxbytes after cache_memlimit")
    eq(r, str(8 * 1024 * 1024), "reference limit_maxbytes")
