"""Nothing lost, nothing unbounded: clients that pipeline and close, that
half-close, that never read; shutdown with busy connections; read buffer
limits; long lines in replies.  Where memcached 1.6.18 has the behaviour
the two are compared; where we go beyond it (bounded output, write
timeout, read-buffer limits) ours is checked on its own."""

import os
import socket
import tempfile
import time

import harness
from harness import (HOST, TIME_SCALE, check, compare, eq, pair, run_both, server,
                     stats, transact)


_rss_kb = harness.rss_kb


def _raw(port):
    s = socket.create_connection((HOST, port), timeout=10 * TIME_SCALE)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def _read_all(s, limit=64 << 20):
    """Read until EOF (bounded in bytes and by the socket timeout)."""
    out = []
    n = 0
    while n < limit:
        try:
            b = s.recv(1 << 20)
        except (ConnectionResetError, socket.timeout):
            break
        if not b:
            break
        out.append(b)
        n += len(b)
    return b"".join(out)


def _count_keys(s, prefix, n):
    """How many of prefix0..prefix{n-1} are stored (one multiget)."""
    keys = b" ".join(b"%s%d" % (prefix, i) for i in range(n))
    with s.connect() as c:
        r = transact(c, b"get " + keys + b"\r\n")
    return r.count(b"VALUE ")


def test_pipelined_noreply_sets_then_close(srv):
    """1000 pipelined noreply sets, then close(): every one is stored."""
    def fn(s):
        sock = _raw(s.port)
        sock.sendall(b"".join(b"set k%d 0 0 1 noreply\r\nx\r\n" % i for i in range(1000)))
        sock.close()
        for _ in range(100):                    # let the server catch up
            if _count_keys(s, b"k", 1000) == 1000:
                break
            time.sleep(0.05)
        return _count_keys(s, b"k", 1000)
    o, r = run_both(fn, srv=srv)
    eq(r, 1000, "reference stores every set")
    eq(o, r, "sets stored after a pipelined close")


def test_mn_then_half_close_all_answered(srv):
    """100 mn then shutdown(SHUT_WR): 100 MN come back, then EOF."""
    def fn(s):
        sock = _raw(s.port)
        sock.sendall(b"mn\r\n" * 100)
        sock.shutdown(socket.SHUT_WR)
        data = _read_all(sock)
        sock.close()
        return data
    o, r = run_both(fn, srv=srv)
    eq(r, b"MN\r\n" * 100, "reference")
    eq(o, r, "replies after half-close")


def test_half_close_after_yields():
    """-R 2 makes the connection yield every 2 requests; EOF arriving
    between turns must not drop the requests still buffered."""
    with pair(["-R", "2"]) as srv:
        def fn(s):
            sock = _raw(s.port)
            batch = b"".join(b"set y%d 0 0 2\r\n%02d\r\n" % (i, i % 100) for i in range(300))
            batch += b"get y0 y299\r\n"
            sock.sendall(batch)
            sock.shutdown(socket.SHUT_WR)
            data = _read_all(sock)
            sock.close()
            return data
        o, r = run_both(fn, srv=srv)
    eq(r, b"STORED\r\n" * 300 + b"VALUE y0 0 2\r\n00\r\nVALUE y299 0 2\r\n99\r\nEND\r\n",
       "reference")
    eq(o, r, "replies with -R 2 and a half-close")


def test_many_ready_connections_some_reset():
    """Replies are written at the end of the worker's turn, for every
    connection that ran in it: 24 connections send their pipelines at once
    (one worker, so they share turns) and every third resets its socket
    right after sending.  Each survivor gets exactly its own replies, in
    order; the resets cost nobody else a byte."""
    def fn(s):
        with s.connect() as c:
            transact(c, b"".join(b"set rk%d 0 0 3\r\nv%02d\r\n" % (i, i) for i in range(48)))
        socks = [_raw(s.port) for _ in range(24)]
        want = {}
        for n, sock in enumerate(socks):
            req = b"".join(b"get rk%d rk%d\r\n" % ((n + j) % 48, (n + 2 * j) % 48)
                           for j in range(40))
            want[n] = b"".join(b"VALUE rk%d 0 3\r\nv%02d\r\nVALUE rk%d 0 3\r\nv%02d\r\nEND\r\n"
                               % ((n + j) % 48, (n + j) % 48, (n + 2 * j) % 48,
                                  (n + 2 * j) % 48) for j in range(40))
            sock.sendall(req)
        for n, sock in enumerate(socks):
            if n % 3 == 0:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
                sock.close()
        got = {}
        for n, sock in enumerate(socks):
            if n % 3 == 0:
                continue
            data = b""
            while len(data) < len(want[n]):
                b = sock.recv(65536)
                if not b:
                    break
                data += b
            got[n] = data == want[n]
            sock.close()
        with s.connect() as c:
            alive = transact(c, b"get rk7\r\n")
        return sorted(got.items()), alive
    o, r = run_both(fn, args=["-t", "1"])
    eq(r[0], [(n, True) for n in range(24) if n % 3], "reference answers every survivor")
    eq(o, r, "every surviving connection gets its own replies")


def test_get_with_trailing_spaces(srv):
    """Found by the fuzzer: a key list ending in spaces hung the worker."""
    compare([b"set a 0 0 1\r\n1\r\nget a \r\ngets a   \r\nget a  a \r\n"], srv=srv)


def test_close_mid_value_keeps_earlier_requests(srv):
    """A client that dies in the middle of a value: what came before it is
    stored, the torn value is not."""
    def fn(s):
        sock = _raw(s.port)
        sock.sendall(b"set a1 0 0 1 noreply\r\n1\r\nset a2 0 0 1 noreply\r\n2\r\n"
                     b"set a3 0 0 10 noreply\r\n12345")
        sock.close()
        # the server runs what the dead client sent in its own time: ask
        # until a1 and a2 are there (bounded), then once more for the answer
        deadline = time.monotonic() + 10 * TIME_SCALE
        with s.connect() as c:
            while (b"VALUE a2" not in transact(c, b"get a1 a2\r\n") and
                   time.monotonic() < deadline):
                time.sleep(0.05)
            return transact(c, b"get a1 a2 a3\r\n")
    o, r = run_both(fn, srv=srv)
    eq(r, b"VALUE a1 0 1\r\n1\r\nVALUE a2 0 1\r\n2\r\nEND\r\n", "reference")
    eq(o, r, "stored after a death mid-value")


def test_append_past_item_size_is_not_stored(srv):
    """An append whose result exceeds -I: memcached says NOT_STORED (a
    SERVER_ERROR would make clients eject the server)."""
    big = b"a" * 1000000
    def fn(s):
        with s.connect() as c:
            return [transact(c, b"set big 0 0 %d\r\n%s\r\n" % (len(big), big)),
                    transact(c, b"append big 0 0 100000\r\n%s\r\n" % (b"b" * 100000)),
                    transact(c, b"prepend big 0 0 100000\r\n%s\r\n" % (b"b" * 100000)),
                    transact(c, b"get big\r\n")[:30]]
    o, r = run_both(fn, srv=srv)
    eq(r[:3], [b"STORED\r\n", b"NOT_STORED\r\n", b"NOT_STORED\r\n"], "reference")
    eq(o, r, "append past the item size limit")


def test_stats_settings_long_lines():
    """A long snapshot_path must not lose its line end in stats settings."""
    d = tempfile.mkdtemp(prefix="mc-long-")
    sub = os.path.join(d, *(["p" * 200] * 7))
    os.makedirs(sub)
    path = os.path.join(sub, "x.snap")
    conf = os.path.join(d, "long.conf")
    with open(conf, "w") as f:
        f.write("snapshot_path = %s\n" % path)
    try:
        with server(["--config=" + conf]) as s:
            with s.connect() as c:
                st, raw = stats(c, b"settings")
                eq(st["snapshot_path"], path, "long snapshot_path")
                check(raw.count(b"\r\n") == raw.count(b"STAT ") + 1, "framing")
                eq(transact(c, b"version\r\n")[:8], b"VERSION ", "still in sync")
    finally:
        import shutil
        shutil.rmtree(d, ignore_errors=True)


def _fill(c, prefix, n, size):
    val = b"v" * size
    c.send(b"".join(b"set %s%d 0 0 %d noreply\r\n%s\r\n" % (prefix, i, size, val)
                    for i in range(n)))
    eq(transact(c, b"mn\r\n"), b"MN\r\n", "filled")


def test_huge_multiget_unread_is_bounded():
    """A multiget whose reply is ~80 MB, never read: the server's memory
    stays bounded (the reply is produced as the client reads); then read in
    full it is complete and well framed, and other clients are served."""
    with server(["-m", "256"]) as s:
        with s.connect() as c:
            _fill(c, b"h", 10, 2000)
        keys = b" ".join(b"h%d" % (i % 10) for i in range(40000))
        sock = _raw(s.port)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
        base = _rss_kb(s.proc.pid)
        sock.sendall(b"get " + keys + b"\r\n")
        time.sleep(1.0 * TIME_SCALE)
        grown = _rss_kb(s.proc.pid) - base
        check(grown < 16 * 1024, "RSS grew by %d KB for an unread 80 MB reply" % grown)
        with s.connect() as other:
            eq(transact(other, b"get h1\r\n"), b"VALUE h1 0 2000\r\n" + b"v" * 2000 +
               b"\r\nEND\r\n", "another client is served meanwhile")
        sock.sendall(b"mn\r\n")
        want = 40000 * (len(b"VALUE h0 0 2000\r\n") + 2002) + 5 + 4
        got = bytearray()
        while len(got) < want:
            b = sock.recv(1 << 20)
            if not b:
                break
            got += b
        sock.close()
        got = bytes(got)
        eq(len(got), want, "reply length")
        check(got.endswith(b"END\r\nMN\r\n"), "reply ends with END, then MN")
        eq(got.count(b"VALUE h"), 40000, "values")


def test_one_key_asked_65000_times_cannot_saturate():
    """A line naming one key 65,000 times, never read, must not make the
    key miss for everyone else (its reference count must not saturate)."""
    with server(["-m", "256"]) as s:
        with s.connect() as c:
            _fill(c, b"r", 1, 3000)
        socks = []
        for _ in range(3):
            sock = _raw(s.port)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            sock.sendall(b"get " + b" ".join([b"r0"] * 65000) + b"\r\n")
            socks.append(sock)
        time.sleep(0.5 * TIME_SCALE)
        with s.connect() as other:
            r = transact(other, b"get r0\r\n")
        for sock in socks:
            sock.close()
        eq(r[:17], b"VALUE r0 0 3000\r\n", "the key is still a hit for others")


def test_write_timeout_closes_stuck_reader():
    """-o write_timeout: a client that stopped reading is closed once its
    output has not moved for that long, and it is counted."""
    with server(["-m", "128", "-o", "write_timeout=1"]) as s:
        with s.connect() as c:
            _fill(c, b"w", 10, 5000)
            sock = _raw(s.port)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            sock.sendall(b"get " + b" ".join(b"w%d" % (i % 10) for i in range(20000)) + b"\r\n")
            closed = False
            for _ in range(int(60 * TIME_SCALE)):
                time.sleep(0.2)
                st = stats(c)[0]
                if st["write_timeouts"] == "1":
                    closed = True
                    break
            check(closed, "write_timeouts did not move: %s" % st.get("write_timeouts"))
            eq(st["curr_connections"], "1", "the stuck client is gone")
            sock.close()


def test_read_buffer_cap_per_connection():
    """A multiget line longer than read_buf_max: memcached's error, then
    the connection closes; others are unaffected."""
    with server(["-o", "read_buf_max=1"]) as s:
        sock = _raw(s.port)
        line = b"get " + b" ".join(b"key%06d" % i for i in range(200000))
        try:
            sock.sendall(line)
        except OSError:
            pass
        data = _read_all(sock)
        sock.close()
        eq(data, b"SERVER_ERROR out of memory reading request\r\n", "refused")
        with s.connect() as c:
            eq(transact(c, b"version\r\n")[:8], b"VERSION ", "others served")
            check(int(stats(c)[0]["read_buf_oom"]) >= 1, "counted")


def test_read_buffer_global_limit():
    """Many slow clients each holding a long partial multiget line: the
    global read-buffer limit refuses some, memory stays bounded, and a
    normal client is still served."""
    with server(["-o", "read_buf_mem_limit=4", "-c", "400"]) as s:
        part = b"get " + b" ".join(b"key%06d" % i for i in range(30000))   # ~300 KB
        socks = []
        for _ in range(60):
            sock = _raw(s.port)
            try:
                sock.sendall(part)
            except OSError:
                pass
            socks.append(sock)
        time.sleep(0.5 * TIME_SCALE)
        with s.connect() as c:
            eq(transact(c, b"set n 0 0 1\r\n1\r\nget n\r\n"),
               b"STORED\r\nVALUE n 0 1\r\n1\r\nEND\r\n", "a normal client is served")
            st = stats(c)[0]
        check(int(st["read_buf_oom"]) > 0, "some clients refused")
        check(int(st["read_buf_bytes"]) <= (4 << 20) + 400 * 16384,
              "read buffers bounded: %s" % st["read_buf_bytes"])
        refused = 0
        for sock in socks:
            sock.settimeout(0.5)
            try:
                if sock.recv(100) == b"SERVER_ERROR out of memory reading request\r\n":
                    refused += 1
            except (socket.timeout, ConnectionResetError):
                pass
            sock.close()
        check(refused > 0, "refused clients got memcached's error")


def test_sigterm_drains_busy_connections_with_deadline():
    """SIGTERM with 50 open connections (idle, mid-line, mid-value, with
    unread replies): exit 0, the drain bounded by shutdown_timeout, a
    final snapshot written, and requests that were complete answered."""
    d = tempfile.mkdtemp(prefix="mc-drain-")
    path = os.path.join(d, "c.snap")
    try:
        with server(["-m", "128", "-o", "snapshot_path=" + path,
                     "-o", "shutdown_timeout=1"]) as s:
            with s.connect() as c:
                _fill(c, b"s", 20, 4000)
            socks = []
            for i in range(50):
                sock = _raw(s.port)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
                kind = i % 5
                if kind == 1:
                    sock.sendall(b"get s1 s2")                       # mid-line
                elif kind == 2:
                    sock.sendall(b"set z%d 0 0 100\r\nabc" % i)      # mid-value
                elif kind == 3:                                      # unread replies
                    sock.sendall(b"get " + b" ".join(b"s%d" % (j % 20) for j in range(5000)) + b"\r\n")
                elif kind == 4:
                    sock.sendall(b"set done%d 0 0 1\r\n1\r\n" % i)   # complete
                socks.append(sock)
            time.sleep(0.3 * TIME_SCALE)
            t0 = time.monotonic()
            rc = s.terminate(timeout=30)
            took = time.monotonic() - t0
            eq(rc, 0, "exit code")
            check(os.path.exists(path), "shutdown snapshot written")
            answered = 0
            for i, sock in enumerate(socks):
                if i % 5 == 4:
                    sock.settimeout(2)
                    try:
                        if sock.recv(100) == b"STORED\r\n":
                            answered += 1
                    except OSError:
                        pass
                sock.close()
            eq(answered, 10, "complete requests answered before the close")
            print("    (SIGTERM with 50 busy connections: exit after %.2f s)" % took)
    finally:
        import shutil
        shutil.rmtree(d, ignore_errors=True)


def test_snapshot_command_during_shutdown():
    """A `snapshot` command still running when SIGTERM arrives: its thread
    is joined before storage is freed (no crash, no sanitizer report), the
    client gets its reply or a close, and the process exits 0."""
    d = tempfile.mkdtemp(prefix="mc-snapdrain-")
    path = os.path.join(d, "c.snap")
    try:
        with server(["-m", "256", "-o", "snapshot_path=" + path]) as s:
            with s.connect() as c:
                c.send(b"".join(b"set sd%d 0 0 100 noreply\r\n%s\r\n" % (i, b"v" * 100)
                                for i in range(200000)))
                eq(transact(c, b"mn\r\n"), b"MN\r\n", "filled")
            sock = _raw(s.port)
            sock.sendall(b"snapshot\r\n")
            time.sleep(0.01)
            rc = s.terminate(timeout=60)
            reply = _read_all(sock)
            sock.close()
            eq(rc, 0, "exit code")
            check(reply in (b"", b"OK\r\n") or reply.startswith(b"SERVER_ERROR"),
                  "snapshot reply: %r" % reply)
            check(os.path.exists(path), "snapshot written")
    finally:
        import shutil
        shutil.rmtree(d, ignore_errors=True)


def test_metadump_unread_is_bounded():
    """lru_crawler metadump of a cache larger than the output bound, never
    read: memory stays bounded; read, it is complete.  (A first dump, read
    in full, is the baseline: it also touches every item once, which
    sanitizer builds shadow.)"""
    def dump_all(sock):
        got = bytearray()
        while not got.endswith(b"END\r\n") and len(got) < (64 << 20):
            b = sock.recv(1 << 20)
            if not b:
                break
            got += b
        return bytes(got)

    with server(["-m", "512"]) as s:
        with s.connect() as c:
            n = 300000
            c.send(b"".join(b"set md%d 0 0 1 noreply\r\nx\r\n" % i for i in range(n)))
            eq(transact(c, b"mn\r\n"), b"MN\r\n", "filled")
        sock = _raw(s.port)
        sock.sendall(b"lru_crawler metadump all\r\n")
        got = dump_all(sock)
        eq(got.count(b"key=md"), n, "every item dumped once")
        check(got.endswith(b"END\r\n"), "dump ends with END")
        sock.close()
        sock = _raw(s.port)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
        base = _rss_kb(s.proc.pid)
        sock.sendall(b"lru_crawler metadump all\r\n")
        time.sleep(0.5 * TIME_SCALE)
        grown = _rss_kb(s.proc.pid) - base
        check(grown < 8 * 1024, "RSS grew by %d KB during an unread metadump" % grown)
        got = dump_all(sock)
        sock.close()
        eq(got.count(b"key=md"), n, "the unread dump, read at last, is complete")
