"""Transport behaviour: pipelining, arbitrary request splitting, large
values, large multigets, connection limit, idle timeout, SIGTERM."""

import time

from harness import (compare, compare_fn, expect, eq, check, transact, pair, run_both,
                     stats, TIME_SCALE)


def _mixed_batch(n):
    parts = []
    for i in range(n):
        k = b"key%d" % (i % 17)
        m = i % 10
        if m == 0:
            parts.append(b"set %s %d 0 %d\r\n%s\r\n" % (k, i, len(b"v%d" % i), b"v%d" % i))
        elif m == 1:
            parts.append(b"get %s key%d nokey\r\n" % (k, (i + 3) % 17))
        elif m == 2:
            parts.append(b"add %s 0 0 2\r\nad\r\n" % k)
        elif m == 3:
            parts.append(b"append %s 0 0 1\r\n+\r\n" % k)
        elif m == 4:
            parts.append(b"set n%d 0 0 2\r\n%d\r\nincr n%d 7\r\n" % (i % 5, 10 + i % 80, i % 5))
        elif m == 5:
            parts.append(b"delete key%d\r\n" % ((i * 7) % 17))
        elif m == 6:
            parts.append(b"bogus command %d\r\n" % i)
        elif m == 7:
            parts.append(b"touch %s 100\r\nprepend %s 0 0 1 noreply\r\n-\r\n" % (k, k))
        elif m == 8:
            parts.append(b"decr n%d 3\r\nreplace %s 0 0 1\r\nr\r\n" % (i % 5, k))
        else:
            parts.append(b"set big%d 0 0 3000\r\n%s\r\nget big%d\r\n" % (i % 3, bytes([65 + i % 26]) * 3000, i % 3))
    return b"".join(parts)


def test_pipelined_batch_one_write(srv):
    batch = _mixed_batch(150)
    r = compare([batch, b"get key1 key2 key3 n0 n1\r\n"], srv=srv)
    check(r[0].count(b"\r\n") > 150, "reference answered the batch")


def test_batch_sent_byte_by_byte(srv):
    batch = _mixed_batch(40)

    def whole(s):
        with s.connect() as c:
            return transact(c, batch)

    def bytewise(s):
        with s.connect() as c:
            for i in range(len(batch)):
                c.send(batch[i:i + 1])
                if i % 8 == 0:
                    time.sleep(0.0005)
            return transact(c, b"")
    o1, r1 = run_both(whole, srv=srv)
    with pair() as srv2:
        o2, r2 = run_both(bytewise, srv=srv2)
    from harness import mask
    eq(mask(o1), mask(r1), "whole batch ours vs reference")
    eq(mask(o2), mask(r1), "ours byte-by-byte vs reference whole")
    eq(mask(r2), mask(r1), "reference byte-by-byte vs whole")


def test_all_two_way_splits(srv):
    batch = (b"set a 1 0 3\r\nabc\r\nget a b\r\nincr n 1\r\n"
             b"set n 0 0 1\r\n7\r\nincr n 5\r\ngets a\r\ndelete a\r\nbogus\r\n")

    def fn(s):
        outs = []
        for cut in range(1, len(batch)):
            with s.connect() as c:
                transact(c, b"flush_all\r\n")
                c.send(batch[:cut])
                time.sleep(0.002)
                outs.append(transact(c, batch[cut:]))
        return outs
    from harness import mask
    o, r = run_both(fn, srv=srv)
    want = b"STORED\r\nVALUE a 1 3\r\nabc\r\nEND\r\nNOT_FOUND\r\nSTORED\r\n12\r\n" \
           b"VALUE a 1 3 <CAS>\r\nabc\r\nEND\r\nDELETED\r\nERROR\r\n"
    for cut, (a, b) in enumerate(zip(o, r), 1):
        eq(mask(a), want, "ours, split at byte %d" % cut)
        eq(mask(b), want, "reference, split at byte %d" % cut)


def test_one_megabyte_values(srv):
    m = 1048514  # the reference's max for key "big", flags 0, -I 1m
    val = bytes((i * 7) & 0xFF for i in range(m))
    expect(srv, [b"set big 0 0 %d\r\n%s\r\n" % (m, val), b"get big\r\n",
                 b"set big2 0 0 %d\r\n%s\r\n" % (m + 1, val + b"x"), b"get big2 big\r\n"],
           [b"STORED\r\n", b"VALUE big 0 %d\r\n%s\r\nEND\r\n" % (m, val),
            b"SERVER_ERROR object too large for cache\r\n",
            b"VALUE big 0 %d\r\n%s\r\nEND\r\n" % (m, val)])


def test_large_multiget_100_keys(srv):
    keys = [b"mk%03d" % i for i in range(100)]
    sets = b"".join(b"set %s %d 0 %d\r\n%s\r\n" % (k, i, 100 + i, k * ((100 + i) // 5 + 1))
                    if False else b"set %s %d 0 %d\r\n%s\r\n" % (k, i, 5 * (i + 1), k * (i + 1))
                    for i, k in enumerate(keys) if i % 3)
    r = compare([sets, b"get " + b" ".join(keys) + b"\r\n",
                 b"gets " + b" ".join(reversed(keys)) + b"\r\n"], srv=srv)
    eq(r[1].count(b"VALUE "), 66, "hits in reference multiget")


def test_connection_limit():
    # -t 1 -c 20: the reference reserves fds (6 + 4 per worker thread) and
    # accepts 8 clients; the next gets "ERROR Too many open connections"
    # and is closed.  Closing one client frees a slot.
    args = ["-t", "1", "-c", "20"]

    def fn(s):
        conns, log = [], []
        try:
            for i in range(12):
                c = s.connect()
                conns.append(c)
                c.send(b"version\r\n")
                r = c.read_until(b"\r\n", timeout=2)
                if not r.startswith(b"VERSION "):
                    r += c.read_for(0.2)
                    log.append((i, r, c.eof))
                else:
                    log.append((i, b"VERSION", c.eof))
            conns[0].close()
            time.sleep(0.2)
            c = s.connect()
            conns.append(c)
            st = stats(c)[0]
            log.append(("after-close", st["rejected_connections"], st["curr_connections"]))
            return log
        finally:
            for c in conns:
                c.close()
    with pair(args) as srv:
        o, r = run_both(fn, srv=srv)
    eq(r[:8], [(i, b"VERSION", False) for i in range(8)], "reference accepted clients")
    eq(r[8], (8, b"ERROR Too many open connections\r\n", True), "reference rejection")
    eq(o, r, "connection limit transcript (ours vs reference)")


def test_idle_timeout_closes_idle_clients():
    # The reference closes a client idle for > N seconds (checked about
    # once per second, so ~N+1 s), silently; an active client stays.
    def fn(s):
        with s.connect() as idle, s.connect() as busy:
            t0 = time.monotonic()
            closed_at = None
            for _ in range(40):
                busy.send(b"version\r\n")
                busy.read_until(b"\r\n")
                if idle.is_closed(timeout=0.25):
                    closed_at = time.monotonic() - t0
                    break
            busy_open = not busy.is_closed(timeout=0.05)
            return [closed_at is not None and 0.9 < closed_at < 6 * TIME_SCALE,
                    busy_open, idle.read_to_eof(timeout=0.2)]
    with pair(["-o", "idle_timeout=1"]) as srv:
        o, r = run_both(fn, srv=srv)
    eq(r, [True, True, b""], "reference idle-timeout outcome")
    eq(o, r, "idle-timeout outcome (ours vs reference)")


def test_sigterm_with_open_connections(srv):
    def fn(s):
        c1, c2 = s.connect(), s.connect()
        try:
            transact(c1, b"set a 0 0 1\r\n1\r\n")
            c2.send(b"set b 0 0 5\r\nab")   # mid-request
            time.sleep(0.1)
            rc = s.terminate(timeout=10)
            return [rc, c1.read_to_eof(timeout=2), c1.eof, c2.read_to_eof(timeout=2), c2.eof]
        finally:
            c1.close()
            c2.close()
    o, r = run_both(fn, srv=srv)
    eq(r, [0, b"", True, b"", True], "reference SIGTERM outcome")
    eq(o, r, "SIGTERM outcome (ours vs reference)")


def test_sigint_exit_code(srv):
    import signal

    def fn(s):
        s.proc.send_signal(signal.SIGINT)
        return s.wait_exit(10)
    o, r = run_both(fn, srv=srv)
    eq(r, 0, "reference exit code on SIGINT")
    eq(o, r, "exit code on SIGINT")


def test_many_concurrent_clients(srv):
    def fn(s):
        conns = [s.connect() for _ in range(40)]
        try:
            for i, c in enumerate(conns):
                c.send(b"set c%d 0 0 %d\r\n%d\r\n" % (i, len(b"%d" % i), i))
            outs = [c.read_until(b"\r\n") for c in conns]
            r = transact(conns[0], b"get " + b" ".join(b"c%d" % i for i in range(40)) + b"\r\n")
            return outs, r
        finally:
            for c in conns:
                c.close()
    o, r = run_both(fn, srv=srv)
    eq(o, r, "concurrent clients")
    eq(r[0], [b"STORED\r\n"] * 40, "reference")
