"""Pipelining behaviour that is ours to define: fairness (-R), bounded
buffers for clients that do not read, and exact replies for deep pipelines."""

import os
import socket
import threading
import time

from harness import (TIME_SCALE, check, eq, server, stats, transact)


def _rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for ln in f:
            if ln.startswith("VmRSS:"):
                return int(ln.split()[1])
    return 0


def test_reqs_per_event_yields_but_answers_everything():
    with server(["-R", "1", "-t", "1"]) as s:
        with s.connect() as c:
            batch = b"".join(b"set k%d 0 0 1\r\n%d\r\n" % (i, i % 10) for i in range(200))
            batch += b"".join(b"get k%d\r\n" % i for i in range(200))
            out = transact(c, batch)
            want = b"STORED\r\n" * 200 + b"".join(
                b"VALUE k%d 0 1\r\n%d\r\nEND\r\n" % (i, i % 10) for i in range(200))
            eq(out, want, "replies to 400 pipelined requests with -R 1")
            st = stats(c)[0]
            check(int(st["conn_yields"]) >= 300, "conn_yields counted: %s" % st["conn_yields"])


def test_other_clients_served_while_one_pipelines_heavily():
    with server(["-R", "2", "-t", "1"]) as s:
        with s.connect() as hog, s.connect() as other:
            transact(hog, b"set h 0 0 1\r\nx\r\n")
            hog.send(b"get h\r\n" * 20000)      # a long queue on the same worker
            t0 = time.monotonic()
            eq(transact(other, b"set o 0 0 1\r\ny\r\nget o\r\n"),
               b"STORED\r\nVALUE o 0 1\r\ny\r\nEND\r\n", "other client's reply")
            check(time.monotonic() - t0 < 10 * TIME_SCALE, "other client answered")
            got = hog.read_until(b"END\r\n" * 1, timeout=5)
            check(got.startswith(b"VALUE h 0 1\r\nx\r\nEND\r\n"), "hog still answered")


def test_client_that_does_not_read_is_bounded():
    # 300000 gets of a 2000-byte value (values this small are copied into
    # the reply) = 600 MB of replies; the client reads nothing at first.
    # The server must stop parsing (and reading) once its output queue is
    # full instead of building the whole reply in memory.
    with server(["-t", "1", "-m", "64"]) as s:
        val = os.urandom(2000)
        with s.connect() as c:
            eq(transact(c, b"set big 0 0 %d\r\n%s\r\n" % (len(val), val)), b"STORED\r\n", "set")
        base = _rss_kb(s.proc.pid)
        sk = socket.create_connection(("127.0.0.1", s.port))
        sk.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
        sk.settimeout(10 * TIME_SCALE)
        n = 300000
        req = b"get big\r\n" * n
        # the server stops reading while its output is blocked, so the
        # requests are sent from a thread
        sender = threading.Thread(target=sk.sendall, args=(req,), daemon=True)
        sender.start()
        time.sleep(1.5 * TIME_SCALE)
        grown = _rss_kb(s.proc.pid) - base
        check(grown < 64 * 1024, "server RSS grew by %d KB for an unread 1 GB reply" % grown)
        # now read everything back and check the framing of every reply
        one = b"VALUE big 0 %d\r\n" % len(val) + val + b"\r\nEND\r\n"
        want = len(one) * n
        got = 0
        buf = b""
        deadline = time.monotonic() + 60 * TIME_SCALE
        while got < want and time.monotonic() < deadline:
            d = sk.recv(1 << 20)
            if not d:
                break
            buf += d
            while len(buf) >= len(one):
                check(buf[:len(one)] == one, "reply %d intact" % (got // len(one)))
                buf = buf[len(one):]
                got += len(one)
        sender.join(5)
        sk.close()
        eq(got, want, "bytes of replies read back")


def test_stats_sizes_with_track_sizes():
    # -o track_sizes: a histogram of live item sizes in 32-byte buckets, in
    # memcached's format (our items are smaller, so the buckets differ).
    with server(["-o", "track_sizes"]) as s:
        with s.connect() as c:
            transact(c, b"set a 0 0 5\r\nhello\r\nset b 0 0 100\r\n%s\r\nset c 0 0 100\r\n%s\r\n"
                     % (b"x" * 100, b"y" * 100))
            out = transact(c, b"stats sizes\r\n")
            lines = out.split(b"\r\n")
            eq(lines[-2:], [b"END", b""], "terminated by END")
            sizes = [tuple(int(x) for x in ln.split()[1:]) for ln in lines[:-2]]
            check(all(ln.startswith(b"STAT ") for ln in lines[:-2]), "STAT lines: %r" % out)
            check(all(sz % 32 == 0 for sz, _ in sizes), "32-byte buckets: %r" % sizes)
            eq(sum(n for _, n in sizes), 3, "items counted")
            eq(sizes, sorted(sizes), "smallest first")
