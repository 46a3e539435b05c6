"""UDP (-U): memcached's 8-byte frame header, replies cut into numbered
datagrams of at most 1400 bytes, compared datagram by datagram (headers
and payloads) with memcached 1.6.18 started with the same flags.

Both servers run with -t 1 for the comparisons: one worker reads the UDP
socket, so datagrams are answered in the order they were sent and a
sentinel datagram ("version", request id SENT_RID) sent after the
datagrams of a step marks the end of their replies without any wait.
doc/udp.md lists the rules and the deliberate differences tested here
(a request left incomplete at the end of a datagram does not swallow the
next datagram; every request of a datagram runs).
"""

import os
import socket
import struct
import time

import binproto as bp
import harness
from harness import (HOST, TIME_SCALE, IO_TIMEOUT, TestFailure, TestSkip, check, eq,
                     free_port)
from svc import Daemon, TempDir, run_fail, settings, write

HDR = struct.Struct(">HHHH")
SENT_RID = 0xfeed
DGRAM_MAX = 1400                    # header included
DATA_MAX = DGRAM_MAX - HDR.size


def free_udp_port():
    return free_port(socket.SOCK_DGRAM)


def udp_bound(port):
    """Local addresses with a UDP socket on port (/proc/net/udp{,6})."""
    found = []
    for path in ("/proc/net/udp", "/proc/net/udp6"):
        try:
            with open(path) as f:
                for ln in f.read().splitlines()[1:]:
                    addr, p = ln.split()[1].split(":")
                    if int(p, 16) == port:
                        found.append(addr)
        except OSError:
            pass
    return sorted(found)


def wait_udp(port, n=1):
    """Bounded wait until n sockets are bound on port (a server binds UDP
    right after it starts listening on TCP)."""
    deadline = time.monotonic() + 5 * TIME_SCALE
    for _ in range(1000):
        if len(udp_bound(port)) >= n or time.monotonic() > deadline:
            break
        time.sleep(0.005)
    check(len(udp_bound(port)) >= n, "UDP port %d bound" % port)


def dgram(payload, rid=1, seq=0, total=1, reserved=0):
    return HDR.pack(rid, seq, total, reserved) + payload


class Udp:
    """A UDP client of one server: send datagrams, read the replies up to
    the sentinel's."""

    def __init__(self, port, family=socket.AF_INET, host=HOST):
        self.addr = (host, port)
        self.sock = socket.socket(family, socket.SOCK_DGRAM)
        self.sock.settimeout(IO_TIMEOUT)
        want = 8 << 20
        for opt in (getattr(socket, "SO_RCVBUFFORCE", None), socket.SO_RCVBUF):
            if opt is None:
                continue
            try:
                self.sock.setsockopt(socket.SOL_SOCKET, opt, want)
                break
            except OSError:
                pass
        self.rcvbuf = self.sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)

    def close(self):
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()

    def send(self, data):
        self.sock.sendto(data, self.addr)

    def exchange(self, *datagrams):
        """Send the datagrams, then the sentinel; return the datagrams
        received before the sentinel's reply (b"<TIMEOUT>" appended if it
        never came)."""
        for d in datagrams:
            self.send(d)
        self.send(dgram(b"version\r\n", rid=SENT_RID))
        got = []
        for _ in range(200000):
            try:
                d = self.sock.recv(65536)
            except socket.timeout:
                got.append(b"<TIMEOUT>")
                break
            if len(d) >= 8 and HDR.unpack(d[:8])[0] == SENT_RID and d[8:].startswith(b"VERSION "):
                break
            got.append(d)
        return got


def mask(dgrams):
    """The version string differs (ours says 1.6.18-ng-...)."""
    out = []
    for d in dgrams:
        if d[8:].startswith(b"VERSION ") and d[8:].endswith(b"\r\n"):
            d = d[:8] + b"VERSION <v>\r\n"
        out.append(d)
    return out


def show(dgrams, n=6):
    rows = []
    for d in dgrams[:n]:
        if len(d) >= 8:
            rows.append("%r %d bytes %r" % (HDR.unpack(d[:8]), len(d), d[8:60]))
        else:
            rows.append(repr(d))
    if len(dgrams) > n:
        rows.append("... %d datagrams" % len(dgrams))
    return "\n    ".join(rows)


def same(ours, ref, what):
    mo, mr = mask(ours), mask(ref)
    if mo != mr:
        i = next((i for i, (a, b) in enumerate(zip(mo, mr)) if a != b), min(len(mo), len(mr)))
        raise TestFailure("%s: datagrams differ at %d (ours %d, reference %d)\n  ours:\n    %s\n"
                          "  ref:\n    %s" % (what, i, len(mo), len(mr), show(mo[i:]), show(mr[i:])))


class UdpPair:
    """Ours and the reference, each with -U on a free port of its own."""

    def __init__(self, args=("-t", "1")):
        self.args = list(args)

    def __enter__(self):
        self.servers = []
        for binary, name in ((harness.MC_BIN, "ours"), (harness.REF_BIN, "reference")):
            port = free_udp_port()
            s = harness.Server(binary, ["-U", str(port)] + self.args, name).start()
            s.udp_port = port
            self.servers.append(s)
            wait_udp(port)
        self.ours, self.ref = self.servers
        return self

    def __exit__(self, *a):
        for s in self.servers:
            s.kill()

    def both(self, fn):
        """fn(server, udp client) on each; returns (ours, ref)."""
        res = []
        for s in self.servers:
            with Udp(s.udp_port) as u:
                res.append(fn(s, u))
        return res[0], res[1]

    def steps(self, steps, what):
        """steps: list of (name, [datagrams]); compare the replies to each."""
        def fn(s, u):
            return [u.exchange(*d) for _, d in steps]
        o, r = self.both(fn)
        for (name, _), a, b in zip(steps, o, r):
            same(a, b, "%s: %s" % (what, name))
        return r


def tcp(server, data, term=b"\r\n"):
    with server.connect() as c:
        return c.request(data, term)


def payloads(dgrams):
    return b"".join(d[8:] for d in dgrams)


# ---- text requests -------------------------------------------------------------

def test_udp_get_set_byte_compared():
    steps = [
        ("set", [dgram(b"set a 0 0 5\r\nhello\r\n", rid=1)]),
        ("set flags", [dgram(b"set b 42 0 1\r\nB\r\n", rid=0)]),
        ("get", [dgram(b"get a\r\n", rid=0x1234)]),
        ("get miss", [dgram(b"get nope\r\n", rid=0xffff)]),
        ("gets", [dgram(b"gets a\r\n", rid=7)]),
        ("multiget", [dgram(b"get a b\r\n", rid=8)]),
        ("multiget first misses", [dgram(b"get nope a nope2 b nope3\r\n", rid=9)]),
        ("multiget last misses", [dgram(b"get a nope\r\n", rid=10)]),
        ("multiget all miss", [dgram(b"get x y z\r\n", rid=11)]),
        ("multiget repeated", [dgram(b"get a a\r\n", rid=12)]),
        ("gat", [dgram(b"gat 0 nope a\r\n", rid=13)]),
        ("gats", [dgram(b"gats 100 a nope\r\n", rid=14)]),
        ("add exists", [dgram(b"add a 0 0 1\r\nx\r\n", rid=15)]),
        ("append", [dgram(b"append a 0 0 1\r\n!\r\n", rid=16)]),
        ("replace miss", [dgram(b"replace nope 0 0 1\r\nx\r\n", rid=17)]),
        ("incr", [dgram(b"set n 0 0 2\r\n10\r\n", rid=18), dgram(b"incr n 5\r\n", rid=19)]),
        ("decr miss", [dgram(b"decr nope 1\r\n", rid=20)]),
        ("touch", [dgram(b"touch a 100\r\n", rid=21)]),
        ("delete", [dgram(b"delete b\r\n", rid=22), dgram(b"get b\r\n", rid=23)]),
        ("cas", [dgram(b"cas a 0 0 1 999\r\nz\r\n", rid=24)]),
        ("meta", [dgram(b"mg a v f t\r\n", rid=25), dgram(b"ms m 2\r\nmm\r\n", rid=26),
                  dgram(b"mg nope v\r\n", rid=27), dgram(b"mn\r\n", rid=28),
                  dgram(b"md m\r\n", rid=29), dgram(b"ma n\r\n", rid=30)]),
        ("errors", [dgram(b"bogus\r\n", rid=31), dgram(b"get " + b"k" * 251 + b"\r\n", rid=32),
                    dgram(b"get nope " + b"k" * 251 + b"\r\n", rid=33),
                    dgram(b"set a 0 0 3\r\nabcd\r\n", rid=34), dgram(b"\n", rid=35)]),
        ("verbosity and version", [dgram(b"verbosity 1\r\n", rid=36), dgram(b"version\r\n", rid=37)]),
        ("stats detail dump", [dgram(b"stats detail dump\r\n", rid=38)]),
    ]
    with UdpPair() as p:
        r = p.steps(steps, "text over UDP")
        # pin a few of memcached's bytes: the frame header and where END goes
        eq(r[2], [dgram(b"VALUE a 0 5\r\nhello\r\nEND\r\n", rid=0x1234)], "get")
        eq(r[6], [dgram(b"", rid=9, total=0), dgram(b"VALUE a 0 5\r\nhello\r\n", rid=9),
                  dgram(b"VALUE b 42 1\r\nB\r\n", rid=9), dgram(b"END\r\n", rid=9)],
           "a get whose first key misses: a bare header first, END on its own")
        eq(r[7], [dgram(b"VALUE a 0 5\r\nhello\r\n", rid=10), dgram(b"END\r\n", rid=10)],
           "last key missed")
        eq(r[9], [dgram(b"VALUE a 0 5\r\nhello\r\n", rid=12),
                  dgram(b"VALUE a 0 5\r\nhello\r\nEND\r\n", rid=12)], "END with the last key's value")


def _multiget_setup(s):
    # values around the datagram size, some far larger, some tiny
    with s.connect() as c:
        for i in range(30):
            n = (0, 1, 100, DATA_MAX - 40, DATA_MAX - 19, DATA_MAX, 3000, 5000, 11)[i % 9]
            v = bytes([97 + i % 26]) * n
            eq(harness.transact(c, b"set k%d %d 0 %d\r\n%s\r\n" % (i, i, n, v)), b"STORED\r\n")


def test_udp_multiget_spans_many_datagrams():
    keys = b" ".join(b"k%d" % i if i % 7 else b"miss%d" % i for i in range(34))

    def fn(s, u):
        _multiget_setup(s)
        out = []
        for rid, req in ((0x0101, b"get " + keys + b"\r\n"),
                         (0x0202, b"get miss " + keys + b" k29\r\n"),
                         (0x0303, b"get k29 k6\r\n"),
                         (0x0404, b"gat 0 k6 k7 nope\r\n")):
            out.append(u.exchange(dgram(req, rid=rid)))
            # the reassembled payload is exactly what TCP answers
            eq(payloads(out[-1]), tcp(s, req, b"END\r\n"), "UDP payload = TCP reply")
        return out
    with UdpPair() as p:
        o, r = p.both(fn)
        for i, (a, b) in enumerate(zip(o, r)):
            same(a, b, "multiget %d" % i)
        check(len(r[0]) > 20, "the reply spans many datagrams (%d)" % len(r[0]))
        for reply, rid in zip(r, (0x0101, 0x0202, 0x0303, 0x0404)):
            check_units(reply, rid)
        eq([HDR.unpack(d[:8]) for d in r[2]],
           [(0x0303, 0, 1, 0)] + [(0x0303, i, 3, 0) for i in range(3)],
           "k29's unit, then k6's (3000 bytes and END): 3 datagrams numbered 0..2")


def check_units(reply, rid):
    """Every datagram: at most 1400 bytes, the request id; units numbered
    0..total-1 in order (a bare header has total 0)."""
    i = 0
    while i < len(reply):
        r, seq, total, res = HDR.unpack(reply[i][:8])
        eq((r, seq, res), (rid, 0, 0), "datagram %d starts a unit" % i)
        if total == 0:
            eq(len(reply[i]), 8, "a bare header")
            i += 1
            continue
        for k in range(total):
            d = reply[i + k]
            eq(HDR.unpack(d[:8]), (rid, k, total, 0), "datagram %d of a unit" % (i + k))
            check(len(d) == DGRAM_MAX if k < total - 1 else 8 < len(d) <= DGRAM_MAX,
                  "datagram %d: %d bytes" % (i + k, len(d)))
        i += total


def test_udp_huge_value_and_multiget_over_one_megabyte():
    def fn(s, u):
        if u.rcvbuf < 6 << 20:
            return None
        v = b"v" * (1024 * 1024 - 512)
        with s.connect() as c:
            eq(harness.transact(c, b"set big 7 0 %d\r\n%s\r\n" % (len(v), v)), b"STORED\r\n")
            for i in range(6):
                eq(harness.transact(c, b"set m%d 0 0 200000\r\n%s\r\n" % (i, b"m" * 200000)),
                   b"STORED\r\n")
        a = u.exchange(dgram(b"get big\r\n", rid=77))
        b = u.exchange(dgram(b"get m0 m1 m2 m3 m4 m5 nope\r\n", rid=78))
        return a, b
    with UdpPair() as p:
        o, r = p.both(fn)
        if r is None or o is None:
            raise TestSkip("the kernel caps this client's UDP receive buffer below 6 MB")
        same(o[0], r[0], "1 MB value")
        same(o[1], r[1], "1.2 MB multiget (paused and resumed)")
        hdrs = [HDR.unpack(d[:8]) for d in r[0]]
        n = len(hdrs)
        eq(hdrs, [(77, i, n, 0) for i in range(n)], "headers of the 1 MB reply")
        eq(n, -(-(len(b"VALUE big 7 %d\r\n" % (1024 * 1024 - 512)) + 1024 * 1024 - 512 + 7)
                // DATA_MAX), "datagram count")


def test_udp_request_filling_a_datagram():
    # a 60 KB multiget request (the largest that fits in one datagram)
    keys = [b"key%05d" % i for i in range(6500)]

    def fn(s, u):
        with s.connect() as c:
            for i in range(0, 6500, 97):
                eq(harness.transact(c, b"set %s 0 0 3\r\nv%02d\r\n" % (keys[i], i % 100)),
                   b"STORED\r\n")
        req = b"get " + b" ".join(keys) + b"\r\n"
        check(len(req) < 65000, "request fits a datagram")
        return u.exchange(dgram(req, rid=5))
    with UdpPair() as p:
        o, r = p.both(fn)
        same(o, r, "60 KB multiget")
        eq(len(r), 68, "a datagram per hit (END with the last)")


# ---- binary requests -------------------------------------------------------------

def test_udp_binary_get_set():
    steps = [
        ("set", [dgram(bp.set_(b"bk", b"value", flags=5, opaque=9), rid=1)]),
        ("get", [dgram(bp.get(b"bk", opaque=7), rid=2)]),
        ("getk", [dgram(bp.get(b"bk", bp.GETK, opaque=8), rid=3)]),
        ("get miss", [dgram(bp.get(b"nope", opaque=10), rid=4)]),
        ("getq miss alone", [dgram(bp.get(b"nope", bp.GETQ), rid=5)]),
        ("getkq pipeline", [dgram(bp.get(b"m1", bp.GETKQ, 1) + bp.get(b"bk", bp.GETKQ, 2) +
                                  bp.get(b"m2", bp.GETKQ, 3) + bp.noop(4), rid=6)]),
        ("setq", [dgram(bp.set_(b"q", b"x", quiet=True), rid=7)]),
        ("add exists", [dgram(bp.store(bp.ADD, b"bk", b"x"), rid=8)]),
        ("delete", [dgram(bp.req(bp.DELETE, b"q", opaque=11), rid=9)]),
        ("incr", [dgram(bp.incr(b"cnt", 5, 100), rid=10), dgram(bp.incr(b"cnt", 5, 100), rid=11)]),
        ("append", [dgram(bp.req(bp.APPEND, b"bk", b"!"), rid=12), dgram(bp.get(b"bk"), rid=13)]),
        ("noop", [dgram(bp.noop(0x55), rid=14)]),
        ("key too long", [dgram(bp.get(b"k" * 251), rid=15)]),
        ("quit", [dgram(bp.req(bp.QUIT, opaque=3), rid=16)]),
        ("quitq", [dgram(bp.req(bp.QUITQ), rid=17)]),
        ("bad magic after a packet", [dgram(bp.noop(1) + bp.req(bp.NOOP, magic=0x81), rid=18)]),
        ("stat group", [dgram(bp.stat(b"sizes"), rid=19)]),
    ]
    with UdpPair() as p:
        r = p.steps(steps, "binary over UDP")
        eq(len(r[1]), 1, "one datagram for a binary get")
        check(r[1][0][8] == 0x81 and r[1][0][-5:] == b"value", "a binary reply")
        eq(r[4], [dgram(b"", rid=5, total=0)], "a quiet miss: a bare header")


def test_udp_text_and_binary_whatever_b_says():
    # memcached decides per datagram from its first byte, whatever -B says
    steps = [("text", [dgram(b"set t 0 0 1\r\nT\r\n", rid=1), dgram(b"get t\r\n", rid=2)]),
             ("binary", [dgram(bp.get(b"t", bp.GETK), rid=3)])]
    for b in ("ascii", "binary"):
        with UdpPair(("-t", "1", "-B", b)) as p:
            p.steps(steps, "-B " + b)


# ---- frames, incomplete and refused requests ---------------------------------------

def test_udp_bad_frames():
    steps = [
        ("set", [dgram(b"set a 0 0 1\r\nA\r\n")]),
        ("spans two datagrams", [dgram(b"get a\r\n", rid=2, total=2)]),
        ("total 0", [dgram(b"get a\r\n", rid=3, total=0)]),
        ("total 256", [dgram(b"get a\r\n", rid=4, total=256)]),
        ("second of two", [dgram(b"get a\r\n", rid=5, seq=1, total=2)]),
        ("sequence 5, total 1", [dgram(b"get a\r\n", rid=6, seq=5)]),
        ("reserved set", [dgram(b"get a\r\n", rid=7, reserved=0xabcd)]),
        ("header only", [dgram(b"", rid=8)]),
        ("truncated header", [b"\x00\x09\x00"]),
        ("empty datagram", [b""]),
        ("one byte of request", [dgram(b"\n", rid=10)]),
        ("not a request", [dgram(bytes(range(256)), rid=11)]),
        ("after", [dgram(b"get a\r\n", rid=12)]),
    ]
    with UdpPair() as p:
        r = p.steps(steps, "frames")
        for i in (1, 2, 3, 4, 7, 8, 9):
            eq(r[i], [], "no reply to %s" % steps[i][0])
        eq(r[5], [dgram(b"VALUE a 0 1\r\nA\r\nEND\r\n", rid=6)], "sequence is not checked")


def test_udp_noreply_and_quiet():
    steps = [
        ("set noreply", [dgram(b"set a 0 0 1 noreply\r\nA\r\n", rid=1)]),
        ("incr noreply", [dgram(b"set n 0 0 1 noreply\r\n5\r\n", rid=2),
                          dgram(b"incr n 2 noreply\r\n", rid=3)]),
        ("flush noreply", [dgram(b"flush_all 0 noreply\r\n", rid=4)]),
        ("meta quiet", [dgram(b"ms q 1 q\r\nQ\r\n", rid=5), dgram(b"mg nope v q\r\n", rid=6)]),
        ("bad data, noreply", [dgram(b"set a 0 0 1 noreply\r\nAB\r\n", rid=7)]),
        ("then", [dgram(b"get a n q\r\n", rid=8)]),
    ]
    with UdpPair() as p:
        r = p.steps(steps, "noreply")
        for i in range(4):
            eq(r[i], [], "no reply to %s" % steps[i][0])


def test_udp_quit_and_closing_requests():
    steps = [
        ("quit", [dgram(b"quit\r\n", rid=1)]),
        ("quit stops the datagram", [dgram(b"quit\r\nset a 0 0 1\r\nA\r\n", rid=2),
                                     dgram(b"get a\r\n", rid=3)]),
        ("http probe", [dgram(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", rid=4)]),
        ("line too long", [dgram(b"x" * 3000, rid=5)]),
        ("incomplete line", [dgram(b"get a", rid=6)]),
        ("long multiget line without its newline", [dgram(b"get " + b"k " * 1500, rid=7)]),
        ("after", [dgram(b"version\r\n", rid=8)]),
    ]
    with UdpPair() as p:
        r = p.steps(steps, "closing")
        eq(r[0], [dgram(b"", rid=1, total=0)], "quit: a bare header")
        for i in (2, 3, 4, 5):
            eq(r[i], [], "no reply to %s" % steps[i][0])


def test_udp_too_large_value_in_one_datagram():
    # -I 1k: the value fits the datagram but not the cache
    args = ("-t", "1", "-I", "1k", "-o", "slab_chunk_max=1024")
    steps = [("too large", [dgram(b"set k 0 0 2000\r\n" + b"x" * 2000 + b"\r\nget k\r\n", rid=1)]),
             ("binary too large", [dgram(bp.set_(b"k", b"y" * 2000), rid=2)])]
    with UdpPair(args) as p:
        r = p.steps(steps, "too large")
        eq(r[0][0], dgram(b"SERVER_ERROR object too large for cache\r\n", rid=1), "refused")


def test_udp_incomplete_request_does_not_swallow_the_next_datagram():
    # memcached 1.6.18 reads the rest of a value cut short by the end of a
    # datagram from whatever datagram comes next (header included), and
    # answers with the old request id; here a datagram is a unit
    inc = dgram(b"get a\r\nset c 0 0 10\r\nabc", rid=0x51)
    nxt = dgram(b"get a\r\n", rid=0x52)
    with UdpPair() as p:
        with Udp(p.ref.udp_port) as u:
            u.send(dgram(b"set a 0 0 1\r\nA\r\n", rid=1))
            eq(u.sock.recv(100), dgram(b"STORED\r\n", rid=1), "reference: stored")
            u.send(inc)
            eq(u.sock.recv(100), dgram(b"VALUE a 0 1\r\nA\r\nEND\r\n", rid=0x51), "reference")
            u.send(nxt)
            eq(u.sock.recv(100), dgram(b"CLIENT_ERROR bad data chunk\r\n", rid=0x51),
               "reference: the next datagram completed the value")
        with Udp(p.ours.udp_port) as u:
            eq(u.exchange(dgram(b"set a 0 0 1\r\nA\r\n", rid=1)), [dgram(b"STORED\r\n", rid=1)])
            eq(u.exchange(inc), [dgram(b"VALUE a 0 1\r\nA\r\nEND\r\n", rid=0x51)],
               "ours: the complete request answered, the incomplete one dropped")
            eq(u.exchange(nxt), [dgram(b"VALUE a 0 1\r\nA\r\nEND\r\n", rid=0x52)],
               "ours: the next datagram is a request of its own")
            eq(u.exchange(dgram(b"set c 0 0 2000000\r\n" + b"x" * 1000, rid=0x53), nxt),
               [dgram(b"VALUE a 0 1\r\nA\r\nEND\r\n", rid=0x52)],
               "ours: a value too large and cut short: no reply, nothing swallowed")
            eq(tcp(p.ours, b"get c\r\n"), b"END\r\n", "nothing stored")


def test_udp_several_requests_in_one_datagram():
    # memcached 1.6.18 runs the requests after a get in the same datagram
    # only sometimes (it depends on earlier datagrams); ours runs them all,
    # each reply cut as memcached cuts it when it runs them
    with UdpPair() as p:
        with Udp(p.ours.udp_port) as u:
            eq(u.exchange(dgram(b"set a 0 0 1\r\nA\r\nset b 0 0 1 noreply\r\nB\r\nget nope b\r\n"
                                b"get a\r\nget nope a\r\nversion\r\n", rid=9)),
               [dgram(b"STORED\r\n", rid=9),
                dgram(b"VALUE b 0 1\r\nB\r\nEND\r\n", rid=9),
                dgram(b"VALUE a 0 1\r\nA\r\nEND\r\n", rid=9),
                dgram(b"", rid=9, total=0),
                dgram(b"VALUE a 0 1\r\nA\r\nEND\r\n", rid=9),
                dgram(b"VERSION %s\r\n" % tcp(p.ours, b"version\r\n")[8:-2], rid=9)],
               "each reply its own datagrams; an empty unit after a get is a bare header")
            many = b"".join(b"incr n 1\r\n" for _ in range(100))
            tcp(p.ours, b"set n 0 0 1\r\n0\r\n")
            r = u.exchange(dgram(many, rid=10))
            eq(len(r), 100, "100 requests, more than -R: all run")
            eq(r[-1], dgram(b"100\r\n", rid=10), "in order")


def test_udp_snapshot_request():
    # the deferred requests run for TCP clients only
    with TempDir() as tmp:
        port, uport = free_port(), free_udp_port()
        with Daemon(["-p", str(port), "-l", HOST, "-U", str(uport), "-t", "1",
                     "-o", "snapshot_path=" + os.path.join(tmp, "s.snap")], port):
            wait_udp(uport)
            with Udp(uport) as u:
                eq(u.exchange(dgram(b"snapshot\r\n", rid=3)),
                   [dgram(b"SERVER_ERROR not available over UDP\r\n", rid=3)], "snapshot")


# ---- sockets, threads, stats ---------------------------------------------------------

def test_udp_many_clients_many_threads():
    # -t 4: every worker reads the socket; replies go to the right client
    # with its request id
    with UdpPair(("-t", "4")) as p:
        def fn(s, _):
            clients = [Udp(s.udp_port) for _ in range(8)]
            try:
                for i, c in enumerate(clients):
                    c.send(dgram(b"set c%d 0 0 %d\r\n%s\r\n" % (i, 2000 + i, b"%d" % (i % 10) * (2000 + i)),
                                 rid=i))
                for i, c in enumerate(clients):
                    eq(c.sock.recv(100), dgram(b"STORED\r\n", rid=i), "client %d stored" % i)
                for rnd in range(20):
                    for i, c in enumerate(clients):
                        c.send(dgram(b"get c%d\r\n" % i, rid=rnd * 8 + i))
                    for i, c in enumerate(clients):
                        got = [c.sock.recv(2000), c.sock.recv(2000)]
                        rid = rnd * 8 + i
                        want = b"VALUE c%d 0 %d\r\n%s\r\nEND\r\n" % (i, 2000 + i, b"%d" % (i % 10) * (2000 + i))
                        eq([HDR.unpack(d[:8]) for d in got], [(rid, 0, 2, 0), (rid, 1, 2, 0)],
                           "headers")
                        eq(payloads(got), want, "client %d round %d" % (i, rnd))
            finally:
                for c in clients:
                    c.close()
            return True
        p.both(fn)


def _stats_around(s, u, traffic):
    with s.connect() as c:
        s0, raw0 = harness.stats(c)
        for d in traffic:
            u.exchange(d)
        s1, _ = harness.stats(c)
    keys = ("bytes_read", "bytes_written", "cmd_get", "cmd_set", "get_hits", "get_misses",
            "cmd_touch", "total_connections")
    delta = {k: int(s1[k]) - int(s0[k]) for k in keys}
    delta["bytes_read"] -= len(b"stats\r\n")
    delta["bytes_written"] -= len(raw0)
    # the sentinels' replies carry the version string, which differs
    delta["bytes_written"] -= len(traffic) * (8 + len(b"VERSION %s\r\n" % s1["version"].encode()))
    for k in ("curr_connections", "connection_structures"):
        delta[k] = int(s1[k])
    return delta


def test_udp_stats():
    traffic = [dgram(b"set a 0 0 5\r\nhello\r\n"), dgram(b"get a\r\n"), dgram(b"get a\r\n", total=2),
               dgram(b""), dgram(b"get nope a nope\r\n"), dgram(b"touch a 0\r\n"),
               dgram(b"set a 0 0 1 noreply\r\nx\r\n"), dgram(bp.get(b"a"))]
    with UdpPair() as p:
        o, r = p.both(lambda s, u: _stats_around(s, u, traffic))
        eq(o, r, "counters after UDP traffic")
    # memcached counts a UDP "connection" per worker thread
    with UdpPair(("-t", "2")) as p:
        o, r = p.both(lambda s, u: {k: v for k, v in _stats_around(s, u, []).items()
                                    if k in ("curr_connections", "connection_structures",
                                             "total_connections")})
        eq(o, r, "connection counters with -t 2")
        eq(r["curr_connections"], 3, "reference: one UDP connection per thread, plus ours")
        with p.ours.connect() as c:
            st, _ = harness.stats(c, b"settings")
            eq((st["udpport"], st["num_threads_per_udp"]), (str(p.ours.udp_port), "2"), "settings")
            raw = c.request(b"stats conns\r\n", b"END\r\n")
        eq(raw.count(b":UDP UDP\r\n"), 2, "stats conns: one UDP line per thread")
        eq(raw.count(b":addr udp:127.0.0.1:%d\r\n" % p.ours.udp_port), 2, "their address")


def test_udp_binds_the_listen_addresses_only():
    port, uport, port2 = free_port(), free_udp_port(), free_port()
    with Daemon(["-p", str(port), "-l", HOST, "-U", str(uport), "-t", "1"], port):
        wait_udp(uport)
        eq(udp_bound(uport), ["0100007F"], "-l 127.0.0.1: UDP on 127.0.0.1 only")
        with Udp(uport) as u:
            eq(u.exchange(dgram(b"get x\r\n")), [dgram(b"END\r\n")], "answers")
    # several addresses, one with a port of its own: as memcached, that
    # port is the UDP port there too
    port = free_port()
    with Daemon(["-p", str(port), "-l", "127.0.0.1,127.0.0.2", "-l", "127.0.0.3:%d" % port2,
                 "-U", str(uport), "-t", "1"], port):
        wait_udp(uport, 2)
        wait_udp(port2)
        eq(udp_bound(uport), ["0100007F", "0200007F"], "UDP on the -l addresses")
        eq(udp_bound(port2), ["0300007F"], "host:port")
        for host, pt in (("127.0.0.2", uport), ("127.0.0.3", port2)):
            with Udp(pt, host=host) as u:
                eq(u.exchange(dgram(b"get x\r\n", rid=4)), [dgram(b"END\r\n", rid=4)],
                   "answers on %s:%d" % (host, pt))
    # the reference binds exactly the same
    ref = harness.Server(harness.REF_BIN, ["-U", str(uport)], "reference").start()
    try:
        wait_udp(uport)
        eq(udp_bound(uport), ["0100007F"], "reference with -l 127.0.0.1")
    finally:
        ref.kill()


def test_udp_ipv6():
    try:
        probe = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
        probe.bind(("::1", 0))
        uport = probe.getsockname()[1]
        probe.close()
    except OSError:
        raise TestSkip("::1 not configured")
    port = free_port()
    with Daemon(["-p", str(port), "-l", "127.0.0.1,[::1]", "-U", str(uport), "-t", "1"], port):
        wait_udp(uport, 2)
        eq(udp_bound(uport), ["00000000000000000000000001000000", "0100007F"], "v4 and v6")
        with Udp(uport, socket.AF_INET6, "::1") as u:
            eq(u.exchange(dgram(b"set k 0 0 2\r\nv6\r\n", rid=6), dgram(b"get k\r\n", rid=7)),
               [dgram(b"STORED\r\n", rid=6), dgram(b"VALUE k 0 2\r\nv6\r\nEND\r\n", rid=7)],
               "over IPv6")
        with harness.Conn(port) as c:
            raw = c.request(b"stats conns\r\n", b"END\r\n")
        check(b"addr udp6:[::1]:%d\r\n" % uport in raw, "stats conns names the v6 socket: %r" % raw)


def test_udp_off_by_default_and_from_config_files():
    port = free_port()
    with Daemon(["-p", str(port), "-l", HOST], port):
        eq(settings(port)["udpport"], "0", "off by default")
        with harness.Conn(port) as c:
            check(b"UDP" not in c.request(b"stats conns\r\n", b"END\r\n"), "no UDP socket")
    with TempDir() as tmp:
        for text in ("port = %d\nlisten = 127.0.0.1\nthreads = 1\nudp_port = %d\n",
                     "-p %d\n-l 127.0.0.1\n-t 1\n-U %d\n"):
            port, uport = free_port(), free_udp_port()
            if text.startswith("-p"):
                uport = port            # Debian's usual "-p 11211 -U 11211"
            conf = write(os.path.join(tmp, "mc.conf"), text % (port, uport))
            with Daemon(["--config=" + conf], port):
                wait_udp(uport)
                eq(settings(port)["udpport"], str(uport), "udpport from %r" % text)
                with Udp(uport) as u:
                    eq(u.exchange(dgram(b"get x\r\n")), [dgram(b"END\r\n")], "answers")


def test_udp_refused_with_sasl():
    rc, _, err = run_fail(["-S", "-p", str(free_port()), "-l", HOST, "-U", str(free_udp_port())])
    check(rc != 0, "refused")
    check("Cannot enable UDP while using binary SASL authentication." in err, err)


def test_udp_port_in_use_is_reported():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((HOST, 0))
    uport = s.getsockname()[1]
    try:
        rc, _, err = run_fail(["-p", str(free_port()), "-l", HOST, "-U", str(uport)])
        check(rc != 0, "non-zero exit")
        check("bind to UDP 127.0.0.1:%d failed: Address already in use" % uport in err, err)
    finally:
        s.close()
