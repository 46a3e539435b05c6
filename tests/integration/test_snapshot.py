"""Snapshots (doc/snapshot.md): our server only -- the reference has none.

Restart round trip, kill -9 during a snapshot, damaged files set aside or
refused, a full disk, loading into a smaller cache, and snapshots taken
while another thread writes.  Every loop and wait is bounded.
"""

import glob
import hashlib
import os
import re
import resource
import shutil
import signal
import subprocess
import tempfile
import threading
import time

from harness import (Server, Conn, check, eq, transact, MC_BIN, HOST, TIME_SCALE,
                     TestFailure, free_port)


class SnapServer(Server):
    """Our server with a snapshot path; optional preexec (rlimits)."""

    def __init__(self, path, args=(), preexec=None):
        Server.__init__(self, MC_BIN, ["-o", "snapshot_path=" + path] + list(args), "ours")
        self.preexec = preexec

    def start(self, attempts=3):
        if self.preexec is None:
            return Server.start(self, attempts)
        real = subprocess.Popen

        def popen(*a, **kw):
            kw["preexec_fn"] = self.preexec
            return real(*a, **kw)
        subprocess.Popen = popen
        try:
            return Server.start(self, attempts)
        finally:
            subprocess.Popen = real

    def log(self):
        with open(self.stderr_path, "rb") as f:
            return f.read().decode("latin1")


ROOT = ["-u", "root"] if os.geteuid() == 0 else []


def tmpdir():
    d = tempfile.mkdtemp(prefix="mc-snap-")
    return d


def set_many(c, items, chunk=2000):
    """items: list of (key, flags, exptime, value bytes); pipelined noreply."""
    for i in range(0, len(items), chunk):
        buf = []
        for k, f, e, v in items[i:i + chunk]:
            buf.append(b"set %s %d %d %d noreply\r\n%s\r\n" % (k, f, e, len(v), v))
        out = transact(c, b"".join(buf), timeout=30 * TIME_SCALE)
        eq(out, b"", "replies to noreply sets")


GETS_RX = re.compile(rb"VALUE (\S+) (\d+) (\d+) (\d+)\r\n")


def gets(c, key):
    """(flags, value, cas) or None."""
    c.send(b"gets %s\r\n" % key)
    head = c.read_until(lambda b: b.startswith(b"END\r\n") or b"\r\n" in b)
    if head.startswith(b"END\r\n"):
        return None
    m = GETS_RX.match(head)
    check(m is not None, "gets %r: %r" % (key, head[:200]))
    n = int(m.group(3))
    rest = head[m.end():]
    need = n + 2 + 5
    if len(rest) < need:
        rest += c.read_until(lambda b: len(b) >= need - len(rest), timeout=30 * TIME_SCALE)
    eq(rest[n:n + 7], b"\r\nEND\r\n", "gets %r trailer" % key)
    return int(m.group(2)), rest[:n], int(m.group(4))


def stats_snapshot(c):
    out = c.request(b"stats snapshot\r\n", b"END\r\n")
    return dict(re.findall(rb"STAT (\S+) ([^\r]*)\r\n", out))


def curr_items(c):
    out = c.request(b"stats\r\n", b"END\r\n")
    return int(re.search(rb"STAT curr_items (\d+)", out).group(1))


def snapshot(c, timeout=60):
    return c.request(b"snapshot\r\n", timeout=timeout * TIME_SCALE)


def file_hash(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def test_restart_round_trip():
    d = tmpdir()
    try:
        path = os.path.join(d, "cache.snap")
        binval = bytes(range(256)) * 4 + b"\r\n\0END\r\n"
        big = hashlib.sha256(b"seed").digest() * (1024 * 1024 // 32)   # exactly 1 MB
        s = SnapServer(path, ["-I", "2m"]).start()
        with s.connect() as c:
            set_many(c, [(b"bin", 0xdeadbeef, 0, binval), (b"big", 7, 0, big),
                         (b"short", 1, 2, b"gone soon"), (b"long", 2, 8, b"stays a while")] +
                     [(b"k%d" % i, i, 0, b"v%d" % i) for i in range(500)])
            t_set = time.monotonic()
            before = {k: gets(c, k) for k in (b"bin", b"big", b"long", b"k0", b"k499")}
            eq(snapshot(c), b"OK\r\n", "snapshot")
            st = stats_snapshot(c)
            eq(st[b"successes"], b"1", "successes")
            eq(st[b"in_progress"], b"0", "in_progress")
            # 504, or 503 when "short" (2 s) expired before the snapshot
            # ran (a slow sanitizer build on a loaded machine)
            written = int(st[b"last_items"])
            check(written in (503, 504), "items written: %d" % written)
            check(int(st[b"last_bytes"]) > len(big), "bytes written %r" % st[b"last_bytes"])
            check(abs(int(st[b"last_start"]) - time.time()) < 10, "last_start is unix time")
        eq(s.terminate(), 0, "exit code after SIGTERM")
        s.stop()
        check(os.path.exists(path), "snapshot file after shutdown")
        check(not glob.glob(path + ".tmp.*"), "no temp files left")
        time.sleep(max(0.0, t_set + 3.2 - time.monotonic()))   # "short" expires while down
        s = SnapServer(path, ["-I", "2m"]).start()
        with s.connect() as c:
            for k, v in before.items():
                eq(gets(c, k), v, "%r after restart (flags, value, cas)" % k)
            eq(gets(c, b"short"), None, "short-TTL item expired while down")
            st = stats_snapshot(c)
            eq(st[b"load_result"], b"ok", "load_result")
            eq(st[b"load_items"], b"503", "load_items")
            eq(st[b"load_expired"], b"%d" % (written - 503), "load_expired")
            # the CAS counter resumes above every loaded CAS
            maxcas = max(v[2] for v in before.values())
            transact(c, b"set fresh 0 0 1\r\nx\r\n")
            check(gets(c, b"fresh")[2] > maxcas, "new CAS above loaded ones")
            # cas with a loaded CAS value works
            eq(c.request(b"cas k0 5 0 1 %d\r\ny\r\n" % before[b"k0"][2]), b"STORED\r\n", "cas")
            # "long" (8 s TTL) still expires on schedule
            time.sleep(max(0.0, t_set + 6.0 - time.monotonic()))
            check(gets(c, b"long") is not None, "long-TTL item before its expiry")
            time.sleep(max(0.0, t_set + 9.5 - time.monotonic()))
            eq(gets(c, b"long"), None, "long-TTL item after its expiry")
        s.stop()
    finally:
        shutdown_rm(d)


def test_meta_marks_survive_restart():
    """Stale (md I), won (W handed out) and binary-key (b) marks are saved
    and loaded: after a restart mg answers as memcached 1.6.18 answers
    without one (bytes checked by hand against it).  Before the marks were
    saved, the binary key's record made the whole file unloadable."""
    d = tmpdir()
    try:
        path = os.path.join(d, "cache.snap")
        s = SnapServer(path).start()
        with s.connect() as c:
            eq(transact(c, b"ms s1 1 T0\r\nA\r\nms s2 1\r\nB\r\nms AAEC 1 b\r\nC\r\n"
                           b"md s1 I\r\nmd s2 I\r\nmg s2 v\r\n"),
               b"HD\r\nHD\r\nHD\r\nHD\r\nHD\r\nVA 1 X W\r\nB\r\n", "setup")
        eq(s.terminate(), 0, "exit code after SIGTERM")
        s.stop()
        s = SnapServer(path).start()
        with s.connect() as c:
            st = stats_snapshot(c)
            eq(st[b"load_result"], b"ok", "load_result")
            eq(st[b"load_items"], b"3", "load_items")
            eq(transact(c, b"mg s1 v\r\nmg s1 v\r\nmg s2 v\r\nmg AAEC b k v\r\n"
                           b"mg AAEC k v\r\n"),
               b"VA 1 X W\r\nA\r\n"       # stale, nobody won yet: W
               b"VA 1 Z X\r\nA\r\n"       # the win was handed out
               b"VA 1 Z X\r\nB\r\n"       # won before the restart
               b"VA 1 kAAEC b\r\nC\r\n"   # a binary key comes back base64
               b"EN kAAEC\r\n",            # and is not the text key "AAEC"
               "marks after restart")
        s.stop()
    finally:
        shutdown_rm(d)


def test_collections_round_trip():
    """Lists, sets, maps and b+trees (doc/collections.md) are saved whole,
    under each collection's lock, and come back with their elements, order
    and attributes; a b+tree's trimmed state and bkey type too."""
    d = tmpdir()
    try:
        path = os.path.join(d, "coll.snap")
        s = SnapServer(path).start()
        setup = (b"lop create l 3 0 10 head_trim\r\n" +
                 b"".join(b"lop insert l -1 3\r\nl%02d\r\n" % i for i in range(12)) +
                 b"sop create s 4 0 0 unreadable\r\n" +
                 b"".join(b"sop insert s 3\r\ns%02d\r\n" % i for i in range(40)) +
                 b"".join(b"mop insert m f%d 3 create 5 0 0\r\nm%02d\r\n" % (i, i) for i in range(30)) +
                 b"bop create b 6 0 3\r\n" +
                 b"".join(b"bop insert b %d 0x0%d 2\r\nb%d\r\n" % (i, i, i) for i in range(5)) +
                 b"bop insert h 0xAB01 1 create 7 0 0 largest_trim\r\nh\r\n" +
                 b"setattr h maxbkeyrange=0x10\r\n" +
                 b"bop create e 8 0 0\r\nset kv 9 0 1\r\nx\r\n")
        reads = (b"lop get l 0..-1\r\nsop exist s 3\r\ns39\r\nsop exist s 2\r\nzz\r\n"
                 b"setattr s readable=on\r\nsop exist s 3\r\ns39\r\nsetattr s readable=off\r\n"
                 b"bop get b 0..100\r\nbop get h 0x00..0xFF\r\n"
                 b"getattr l\r\ngetattr s\r\ngetattr b\r\ngetattr h\r\ngetattr e\r\n"
                 b"get kv\r\n")
        with s.connect() as c:
            transact(c, setup)
            before = transact(c, reads)
            mop = transact(c, b"mop get m 0 0\r\n")
            eq(snapshot(c), b"OK\r\n", "snapshot")
            eq(stats_snapshot(c)[b"last_items"], b"7", "items written")
        eq(s.terminate(), 0, "exit code after SIGTERM")
        s.stop()
        s = SnapServer(path).start()
        with s.connect() as c:
            st = stats_snapshot(c)
            eq((st[b"load_result"], st[b"load_items"]), (b"ok", b"7"), "load")
            after = transact(c, reads)
            check(b"VALUE 3 10\r\n3 l02\r\n" in after and b"\r\nEXIST\r\n" in after and b"TRIMMED\r\n" in after and
                  b"ATTR maxbkeyrange=0x10\r\n" in after, "restored: %r" % after)
            eq(after, before, "replies after restart")
            # a map's order is its hash tree's: compare the elements as a set
            eq(sorted(transact(c, b"mop get m 0 0\r\n").split(b"\r\n")),
               sorted(mop.split(b"\r\n")), "map after restart")
            # still working structures
            eq(transact(c, b"bop insert b 9 1\r\nz\r\nbop position b 9 asc\r\n"
                           b"sop insert s 3\r\ns01\r\nlop insert l 0 1\r\nq\r\n"),
               b"STORED\r\nPOSITION=2\r\nELEMENT_EXISTS\r\nSTORED\r\n", "after restart")
        s.stop()
    finally:
        shutdown_rm(d)


def shutdown_rm(d):
    shutil.rmtree(d, ignore_errors=True)


def test_periodic_and_no_shutdown_snapshot():
    d = tmpdir()
    try:
        path = os.path.join(d, "p.snap")
        s = SnapServer(path, ["-o", "snapshot_interval=1,snapshot_on_shutdown=no"]).start()
        with s.connect() as c:
            transact(c, b"set a 0 0 1\r\n1\r\n")
            ok = False
            for _ in range(100):
                if int(stats_snapshot(c)[b"successes"]) >= 1:
                    ok = True
                    break
                time.sleep(0.05 * TIME_SCALE)
            check(ok, "a periodic snapshot within 5 s")
        h = file_hash(path)
        with s.connect() as c:
            transact(c, b"set b 0 0 1\r\n2\r\n")
        s.proc.send_signal(signal.SIGSTOP)     # no more periodic snapshots...
        s.proc.send_signal(signal.SIGKILL)
        s.wait_exit()
        s.stop()
        s = SnapServer(path, ["-o", "snapshot_on_shutdown=no"]).start()
        h = file_hash(path)
        s.terminate()
        s.stop()
        eq(file_hash(path), h, "no snapshot at shutdown with snapshot_on_shutdown=no")
    finally:
        shutdown_rm(d)


def test_kill9_during_snapshot_keeps_previous():
    d = tmpdir()
    try:
        path = os.path.join(d, "k.snap")
        n = 200000
        s = SnapServer(path, ["-m", "512"]).start()
        val = b"x" * 1000
        with s.connect() as c:
            set_many(c, [(b"key:%d" % i, i, 0, val) for i in range(n)])
            eq(snapshot(c), b"OK\r\n", "first snapshot")
            good = file_hash(path)
            transact(c, b"set marker 0 0 1\r\nm\r\n")
            caught = False
            for attempt in range(5):
                c.send(b"snapshot\r\n")
                tmp = []
                for _ in range(4000):
                    tmp = glob.glob(path + ".tmp.*")
                    if tmp:
                        break
                    time.sleep(0.0005)
                if tmp:
                    # a second request while one runs is refused, not queued
                    with s.connect() as c2:
                        r2 = c2.request(b"snapshot\r\n", timeout=30 * TIME_SCALE)
                    still = glob.glob(path + ".tmp.*")
                    if r2 == b"SERVER_ERROR snapshot in progress\r\n" and still:
                        s.proc.send_signal(signal.SIGKILL)
                        caught = True
                        break
                eq(c.read_until(b"\r\n", timeout=60 * TIME_SCALE), b"OK\r\n", "snapshot reply")
                good = file_hash(path)
            check(caught, "could not catch a snapshot in progress in 5 tries")
        s.wait_exit()
        s.stop()
        eq(file_hash(path), good, "snapshot file untouched by the killed snapshot")
        left = glob.glob(path + ".tmp.*")
        check(left, "the killed writer left its temp file")
        s = SnapServer(path, ["-m", "512"]).start()
        eq(glob.glob(path + ".tmp.*"), [], "stale temp file removed at start")
        # (the line is written just after the unlink: wait for it, bounded)
        deadline = time.monotonic() + 10 * TIME_SCALE
        while "left by an interrupted snapshot" not in s.log() and time.monotonic() < deadline:
            time.sleep(0.05)
        check("left by an interrupted snapshot" in s.log(), "removal logged")
        with s.connect() as c:
            eq(curr_items(c), n, "items loaded from the previous snapshot")
            eq(gets(c, b"key:%d" % (n - 1))[:2], (n - 1, val), "last key")
            eq(gets(c, b"marker"), None, "marker only in the killed snapshot")
        s.stop()
    finally:
        shutdown_rm(d)


def make_snapshot(path, n=2000):
    s = SnapServer(path).start()
    with s.connect() as c:
        set_many(c, [(b"key:%d" % i, i, 0, b"value %d" % i) for i in range(n)])
    eq(s.terminate(), 0, "exit")
    s.stop()
    return os.path.getsize(path)


def damaged_case(damage):
    d = tmpdir()
    try:
        path = os.path.join(d, "c.snap")
        size = make_snapshot(path)
        off = damage(path, size)
        shutil.copy(path, path + ".keep")
        # with snapshot_refuse_corrupt: non-zero exit, a message, file untouched
        port = free_port()
        p = subprocess.run([MC_BIN, "-U", "0", "-l", HOST, "-p", str(port)] + ROOT + [
                            "-o", "snapshot_path=%s,snapshot_refuse_corrupt" % path],
                           stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                           stderr=subprocess.PIPE, timeout=20 * TIME_SCALE)
        check(p.returncode != 0, "refuse_corrupt: exit code %d" % p.returncode)
        err = p.stderr.decode("latin1")
        check(path in err and "damaged" in err, "refusal message: %r" % err)
        check(os.path.exists(path), "file kept in place when refusing")
        # default: set aside, start empty, log names the file and the offset
        s = SnapServer(path).start()
        with s.connect() as c:
            eq(curr_items(c), 0, "started empty")
            eq(stats_snapshot(c)[b"load_result"], b"corrupt", "load_result")
            transact(c, b"set a 0 0 1\r\n1\r\n")
            eq(gets(c, b"a")[:2], (0, b"1"), "serving")
        log = s.log()
        m = re.search(r"snapshot (\S+) is damaged: .* at byte (\d+)", log)
        check(m is not None and m.group(1) == path, "log line: %r" % log)
        check(int(m.group(2)) <= off, "reported offset %s, damage at %d" % (m.group(2), off))
        aside = glob.glob(path + ".corrupt-*")
        eq(len(aside), 1, "file set aside")
        eq(file_hash(aside[0]), file_hash(path + ".keep"), "set-aside file intact")
        s.stop()
    finally:
        shutdown_rm(d)


def test_flipped_byte_detected():
    def flip(path, size):
        off = size // 2
        with open(path, "r+b") as f:
            f.seek(off)
            b = f.read(1)
            f.seek(off)
            f.write(bytes([b[0] ^ 0x01]))
        return off
    damaged_case(flip)


def test_truncated_file_detected():
    def trunc(path, size):
        os.truncate(path, size - 100)
        return size - 100
    damaged_case(trunc)


def test_full_disk_keeps_old_snapshot():
    d = tmpdir()
    try:
        path = os.path.join(d, "f.snap")
        limit = 2 * 1024 * 1024

        def lim():
            resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
        s = SnapServer(path, preexec=lim).start()
        with s.connect() as c:
            set_many(c, [(b"small:%d" % i, 0, 0, b"s" * 100) for i in range(1000)])
            eq(snapshot(c), b"OK\r\n", "small snapshot fits")
            good = file_hash(path)
            set_many(c, [(b"big:%d" % i, 0, 0, b"b" * 1000) for i in range(4000)])
            r = snapshot(c)
            check(r.startswith(b"SERVER_ERROR ") and b"File too large" in r, "reply %r" % r)
            st = stats_snapshot(c)
            eq((st[b"successes"], st[b"failures"]), (b"1", b"1"), "counters")
            check(b"File too large" in st[b"last_error"], "last_error %r" % st[b"last_error"])
            eq(file_hash(path), good, "old snapshot kept")
            eq(glob.glob(path + ".tmp.*"), [], "temp file removed")
            eq(gets(c, b"big:5")[1], b"b" * 1000, "still serving")
        check(s.alive(), "server survived EFBIG")
        check("failed, previous snapshot kept" in s.log(), "logged")
        s.proc.send_signal(signal.SIGKILL)
        s.wait_exit()
        s.stop()
    finally:
        shutdown_rm(d)


def test_smaller_memory_keeps_recent():
    d = tmpdir()
    try:
        path = os.path.join(d, "m.snap")
        n, hot = 40000, 2000
        val = b"v" * 1000
        s = SnapServer(path, ["-m", "64"]).start()
        with s.connect() as c:
            set_many(c, [(b"key:%d" % i, 0, 0, val) for i in range(n)])
            # the first-stored keys become the recently used ones
            for i in range(0, hot, 100):
                keys = b" ".join(b"key:%d" % j for j in range(i, i + 100))
                out = c.request(b"get %s\r\n" % keys, b"END\r\n")
                eq(out.count(b"VALUE"), 100, "hot gets")
            eq(curr_items(c), n, "nothing evicted in the big cache")
        eq(s.terminate(), 0, "exit")
        s.stop()
        s = SnapServer(path, ["-m", "16"]).start()
        with s.connect() as c:
            kept = curr_items(c)
            check(hot < kept < n, "items kept %d" % kept)
            missing = []
            for i in range(0, hot, 100):
                keys = b" ".join(b"key:%d" % j for j in range(i, i + 100))
                out = c.request(b"get %s\r\n" % keys, b"END\r\n")
                found = set(re.findall(rb"VALUE (\S+) ", out))
                missing += [j for j in range(i, i + 100) if b"key:%d" % j not in found]
            eq(missing, [], "recently used keys missing after loading into -m 16")
        s.stop()
    finally:
        shutdown_rm(d)


def test_snapshot_during_writes_not_torn():
    d = tmpdir()
    try:
        path = os.path.join(d, "w.snap")
        s = SnapServer(path).start()
        stop = threading.Event()
        errors = []
        counts = [0]

        def value(k, n):
            body = b"%s:%d:" % (k, n) + b"z" * (n % 300)
            return body + hashlib.md5(body).hexdigest().encode()

        def writer():
            try:
                with s.connect() as w:
                    n = 0
                    while not stop.is_set() and n < 10 ** 7:
                        buf = []
                        for j in range(200):
                            k = b"w%d" % ((n + j) % 500)
                            v = value(k, n + j)
                            buf.append(b"set %s 0 0 %d noreply\r\n%s\r\n" % (k, len(v), v))
                            buf.append(b"incr ctr 1 noreply\r\n")
                        n += 200
                        transact(w, b"".join(buf))
                        counts[0] = n
            except Exception as e:  # noqa: BLE001
                errors.append(e)
        with s.connect() as c:
            transact(c, b"set ctr 0 0 10\r\n1000000000\r\n")
            t = threading.Thread(target=writer)
            t.start()
            try:
                for _ in range(20):
                    eq(snapshot(c), b"OK\r\n", "snapshot under writes")
                    time.sleep(0.02)
            finally:
                stop.set()
                t.join(30)
            check(not errors, "writer: %r" % errors)
            check(counts[0] > 0, "writer made progress")
        s.proc.send_signal(signal.SIGKILL)     # keep the last on-demand snapshot
        s.wait_exit()
        s.stop()
        s = SnapServer(path).start()
        with s.connect() as c:
            seen = 0
            for i in range(500):
                k = b"w%d" % i
                r = gets(c, k)
                if r is None:
                    continue
                seen += 1
                v = r[1]
                body, digest = v[:-32], v[-32:]
                eq(hashlib.md5(body).hexdigest().encode(), digest, "checksum of %r" % k)
                check(body.startswith(k + b":"), "key in value %r" % v[:40])
            check(seen > 0, "some written keys loaded")
            r = gets(c, b"ctr")
            check(re.fullmatch(rb"\d+ *", r[1]) is not None, "counter not torn: %r" % r[1])
        s.stop()
    finally:
        shutdown_rm(d)


def test_snapshot_command_does_not_block_its_worker():
    # One worker thread: while "snapshot" runs for one client (off the
    # worker thread), another client of the same worker is still served,
    # and the first client's pipelined request after "snapshot" is answered
    # after the OK, in order.
    d = tmpdir()
    try:
        path = os.path.join(d, "w.snap")
        s = SnapServer(path, ["-m", "512", "-t", "1"]).start()
        val = b"y" * 1000
        with s.connect() as c, s.connect() as other:
            set_many(c, [(b"k:%d" % i, 0, 0, val) for i in range(200000)])
            c.send(b"snapshot\r\nget k:1\r\n")
            for _ in range(20000):           # until the snapshot has begun
                if glob.glob(path + ".tmp.*"):
                    break
                time.sleep(0.0005)
            served_during = 0
            for _ in range(2000):
                eq(other.request(b"get k:2\r\n", b"END\r\n"),
                   b"VALUE k:2 0 1000\r\n" + val + b"\r\nEND\r\n", "other client's get")
                if not glob.glob(path + ".tmp.*"):
                    break
                served_during += 1
            check(served_during > 0, "other client served while the snapshot ran")
            eq(c.read_until(b"END\r\n", timeout=60 * TIME_SCALE),
               b"OK\r\nVALUE k:1 0 1000\r\n" + val + b"\r\nEND\r\n",
               "snapshot reply, then the pipelined get")
        s.stop()
    finally:
        shutdown_rm(d)
