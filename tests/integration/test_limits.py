"""Limits: sizes and counts the machine cannot hold are refused at start
with one clear line on stderr and exit status 1, never a crash (the
reported case: `-m 4294967297 -L` used to map one page and clear 4 PB);
a SIGHUP reload with such a value keeps the running settings; a snapshot
file with valid checksums but forged fields is refused or sanitised.

Runs against our server and against the reference (MC_BIN=/usr/bin/memcached):
with the reference only the cases it refuses too are run, and where
memcached 1.6.18 refuses a value with a real sentence of its own (not an
artefact of its own integer wraparound) ours carries the same sentence.
The snapshot and reload cases are ours only.
"""

import ctypes
import os
import signal
import struct
import subprocess
import time

import harness
from harness import TestSkip, check, eq, free_port, transact
from svc import AS_ROOT, Daemon, TempDir, run_fail, settings, wait_for, write

MB = 1 << 20


def _is_ours():
    try:
        out = subprocess.run([harness.MC_BIN, "-V"], stdin=subprocess.DEVNULL,
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                             timeout=10 * harness.TIME_SCALE).stdout
    except (OSError, subprocess.TimeoutExpired):
        return True
    return b"-ng-" in out


OURS = _is_ours()

# -m: at most 64 TiB on 64-bit systems (OPTION_MAXBYTES_MAX, option.h)
if struct.calcsize("P") == 8:
    MAX_MB, MAX_HUMAN = 1 << 26, "64 TiB"
else:
    MAX_MB, MAX_HUMAN = 1 << 11, "2 GiB"


def too_big_m(v):
    return ('memory-limit: "%s" is too large: at most %dm (%s) on this system'
            % (v, MAX_MB, MAX_HUMAN))


def _phys_mb():
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") >> 20
    except (ValueError, OSError):
        return 0


PHYS_MB = _phys_mb()

# memcached 1.6.18's lines for values it refuses through its own integer
# wraparound (atoi): it refuses, but for a reason that has nothing to do
# with the value given; ours names the real problem.
HALF = "Cannot set item size limit higher than 1/2 of memory max."
LESS_1K = "Item max size cannot be less than 1024 bytes."
GIGA = "Cannot set item size limit higher than a gigabyte."

# (args, our exact message, what memcached prints or None if it starts,
#  whether ours carries memcached's sentence)
CASES = [
    # the reported bug, with and without -L, and values past 2^64 bytes
    (["-m", "4294967297", "-L"], too_big_m("4294967297"), HALF, False),
    (["-m", "4294967297"], too_big_m("4294967297"), HALF, False),
    (["-m", "17592186044416"], too_big_m("17592186044416"), HALF, False),
    (["-m", "17592186044415"], too_big_m("17592186044415"), None, False),
    (["-m", "99999999999999999999"], too_big_m("99999999999999999999"), None, False),
    (["-m", "70000g"], too_big_m("70000g"), None, False),
    # -I: memcached's own sentences
    (["-I", "2000m", "-m", "8000"], 'max-item-size: "2000m": ' + GIGA, GIGA, True),
    (["-I", "99999999999999999999"],
     'max-item-size: "99999999999999999999": ' + GIGA, LESS_1K, False),
    (["-I", "4095m", "-m", "8192"], 'max-item-size: "4095m": ' + GIGA, LESS_1K, False),
    (["-I", "512"], 'max-item-size: "512": ' + LESS_1K, LESS_1K, True),
    # below 512k -I is also the largest chunk (memcached refuses -I 1025
    # because of its default slab_chunk_max; we lower that one instead)
    (["-I", "1025"], "max-item-size: 1025 must be a multiple of 8 when below "
     "slab_chunk_max (524288)", "slab_chunk_max (bytes: 524288) cannot be larger "
     "than -I (item_size_max 1025)", False),
    # slab_chunk_max: one slab page at most
    (["-o", "slab_chunk_max=2097152", "-I", "2m", "-m", "1024"],
     'slab_chunk_max: "2097152": slab_chunk_max (bytes: 2097152) must divide evenly '
     "into 1048576 (slab_page_size)",
     "slab_chunk_max (bytes: 2097152) must divide evenly into 1048576 (slab_page_size)",
     True),
    (["-o", "slab_chunk_max=4294967297"],
     'slab_chunk_max: "4294967297": slab_chunk_max (bytes: 4294967297) must divide '
     "evenly into 1048576 (slab_page_size)", None, False),
    # -n: what the slab allocator accepts (it used to fail after parsing)
    (["-n", "300000"], "slab-min-size: 300000 must be at most 262096 (slab_chunk_max "
     "524288 / 2 - 48)", None, False),
    (["-n", "2147483648"], 'slab-min-size: "2147483648" is too large', None, False),
    # hashpower: 12..32, as memcached
    (["-o", "hashpower=33"], 'hashpower: "33": Initial hashtable multiplier of 33 is '
     "too high (at most 32)", "Initial hashtable multiplier of 33 is too high", True),
    (["-o", "hashpower=64"], 'hashpower: "64": Initial hashtable multiplier of 64 is '
     "too high (at most 32)", "Initial hashtable multiplier of 64 is too high", True),
    (["-o", "hashpower=11"], 'hashpower: "11": Initial hashtable multiplier of 11 is '
     "too low (at least 12, or 0 for the default)",
     "Initial hashtable multiplier of 11 is too low", True),
    # counts
    (["-c", "2147483648"], 'conn-limit: "2147483648" is too large',
     "Maximum connections must be greater than 0", False),
    (["-c", "99999999999999999999"], 'conn-limit: "99999999999999999999" is too large',
     None, False),
    (["-t", "100000"], 'threads: "100000" is too many: at most 1024', None, False),
    (["-t", "4294967297"], 'threads: "4294967297" is too many: at most 1024', None, False),
    (["-R", "4294967297"], 'max-reqs-per-event: "4294967297" is too large', None, False),
    (["-b", "4294967297"], 'listen-backlog: "4294967297" is too large', None, False),
    (["-o", "read_buf_mem_limit=2147483648"],
     'read_buf_mem_limit: "2147483648" is too large', None, False),
]

if 0 < PHYS_MB < MAX_MB:
    # -L touches all of -m at start: never more than the machine has
    # (memcached would try; not run against it)
    CASES.append((["-m", str(PHYS_MB + 1), "-L"],
                  "enable-largepages: memory-limit (%dm) is more than the physical "
                  "memory (%dm); -L allocates all of it at start" % (PHYS_MB + 1, PHYS_MB),
                  None, False))


def _start_fails(args):
    """Start MC_BIN with args on a free port; it must exit by itself.
    Returns (rc, stderr text)."""
    port = free_port()
    cmd = ([harness.MC_BIN, "-U", "0", "-l", "127.0.0.1", "-p", str(port)] + AS_ROOT
           + args)
    env = dict(os.environ)
    env.pop("MEMCACHED_CONFIG", None)
    p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, env=env)
    try:
        out, err = p.communicate(timeout=10 * harness.TIME_SCALE)
    except subprocess.TimeoutExpired:
        p.kill()
        p.communicate()
        raise harness.TestFailure("%r started (it should have been refused)" % (args,))
    return p.returncode, err.decode("utf-8", "replace")


def _no_crash(args, rc, err):
    check(rc > 0, "%r: exit status %d (a signal?): %s" % (args, rc, err[-2000:]))
    for marker in ("AddressSanitizer", "LeakSanitizer", "runtime error:", "ThreadSanitizer"):
        check(marker not in err, "%r: sanitizer report:\n%s" % (args, err[-3000:]))


def test_limits_refused_at_start():
    ran = 0
    for args, ours, ref, same in CASES:
        if same:
            check(ref in ours, "case %r: ours must carry memcached's sentence" % (args,))
        if not OURS and ref is None:
            continue                # the reference starts with these values
        rc, err = _start_fails(args)
        _no_crash(args, rc, err)
        lines = err.strip().splitlines()
        check(lines, "%r: nothing on stderr" % (args,))
        if OURS:
            eq(rc, 1, "%r: exit status" % (args,))
            eq(lines[-1], ours, "%r: message" % (args,))
        else:
            check(ref in err, "%r: reference printed %r, expected %r" % (args, err, ref))
        ran += 1
    check(ran > 0, "no case ran")


def test_large_memory_without_prealloc_starts():
    """A large -m is only reserved, not touched: 1 TiB starts (both) and
    stats report it; the largest accepted value is in the unit tests.
    A build without MAP_NORESERVE (--enable-portable) reserves with a
    plain mapping, which Linux's default overcommit refuses beyond
    RAM + swap: there half the physical memory must start."""
    if PHYS_MB == 0:
        raise TestSkip("physical memory unknown")
    mb = 1048576
    if OURS and harness.built_with("HAVE_DECL_MAP_NORESERVE") is False:
        mb = PHYS_MB // 2
    with harness.server(["-m", str(mb)], binary=harness.MC_BIN,
                        name="ours" if OURS else "ref") as s:
        with s.connect() as c:
            st = harness.stats(c)[0]
            eq(st["limit_maxbytes"], str(mb << 20), "limit_maxbytes")
            eq(transact(c, b"set k 0 0 2\r\nhi\r\nget k\r\n"),
               b"STORED\r\nVALUE k 0 2\r\nhi\r\nEND\r\n", "serves")


def test_config_file_and_reload_refuse_too_large():
    if not OURS:
        raise TestSkip("config files are ours only")
    port = free_port()
    with TempDir() as tmp:
        conf = write(os.path.join(tmp, "big.conf"), "memory-limit = 4294967297\n")
        rc, out, err = run_fail(["--config=" + conf, "-p", str(port), "-l", "127.0.0.1",
                                 "-U", "0"])
        _no_crash(["--config"], rc, err)
        eq(rc, 1, "exit status")
        eq(err, "%s:1: %s\n" % (conf, too_big_m("4294967297")), "stderr")
        # SIGHUP with the same value: rejected, the running limit stays
        write(conf, "memory-limit = 32\n")
        with Daemon(["--config=" + conf, "-p", str(port), "-l", "127.0.0.1", "-U", "0"],
                    port) as d:
            before = settings(port)
            eq(before["maxbytes"], str(32 * MB), "maxbytes")
            write(conf, "memory-limit = 4294967297\n")
            d.signal(signal.SIGHUP)
            want = ("ERROR reload rejected, keeping the running settings: %s:1: %s"
                    % (conf, too_big_m("4294967297")))
            wait_for(lambda: want in d.err(), what="rejection in the log:\n" + want)
            eq(settings(port), before, "stats settings after the rejected reload")
            with harness.Conn(port) as c:
                eq(transact(c, b"set k 0 0 1\r\nx\r\nget k\r\n"),
                   b"STORED\r\nVALUE k 0 1\r\nx\r\nEND\r\n", "still serving")
            check(d.alive(), "server died on the reload")


# ---- forged snapshots (doc/snapshot.md, "What a load validates") ---------------

def _xxh3():
    for name in ("libxxhash.so.0", "libxxhash.so", "libxxhash.dylib"):
        try:
            lib = ctypes.CDLL(name)
        except OSError:
            continue
        f, g = lib.XXH3_64bits, lib.XXH3_64bits_withSeed
        f.restype, g.restype = ctypes.c_uint64, ctypes.c_uint64
        f.argtypes = [ctypes.c_char_p, ctypes.c_size_t]
        g.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_uint64]
        return (lambda b: f(bytes(b), len(b))), (lambda b, s: g(bytes(b), len(b), s))
    raise TestSkip("libxxhash not found (needed to forge checksums)")


def _reseal(data):
    """Recompute every checksum of a snapshot, as snapshot_reseal() does."""
    h, hs = _xxh3()
    off, chain, items, blocks = 64, 0, 0, 0
    while True:
        kind, = struct.unpack_from("<H", data, off + 4)
        ln, cnt = struct.unpack_from("<II", data, off + 8)
        p = off + 32
        if kind == 2:
            struct.pack_into("<QQQQ", data, p, items, blocks, chain, off)
            struct.pack_into("<Q", data, off + 16, h(data[p:p + 32]))
            struct.pack_into("<Q", data, off + 24, h(data[off:off + 24]))
            break
        ph = h(data[p:p + ln])
        struct.pack_into("<Q", data, off + 16, ph)
        struct.pack_into("<Q", data, off + 24, h(data[off:off + 24]))
        chain = hs(struct.pack("<Q", ph), chain)
        items += cnt
        blocks += 1
        off = p + ln
    struct.pack_into("<Q", data, 56, h(data[:56]))


def _record_of(data, key):
    """Offset of the record holding key (doc/snapshot.md: key at +40)."""
    i = data.find(key, 64)
    while i >= 0 and data[i - 40] != len(key):
        i = data.find(key, i + 1)
    check(i >= 0, "record of %r not found" % key)
    return i - 40


def _make_snapshot(tmp, port):
    path = os.path.join(tmp, "cache.snap")
    with Daemon(["-p", str(port), "-l", "127.0.0.1", "-U", "0",
                 "-o", "snapshot_path=%s,snapshot_on_shutdown=no" % path], port):
        with harness.Conn(port) as c:
            for i in range(20):
                transact(c, b"set key%d 0 0 5\r\nvalue\r\n" % i)
            eq(transact(c, b"set victim 7 0 8\r\nprecious\r\n"), b"STORED\r\n")
            eq(transact(c, b"snapshot\r\n"), b"OK\r\n", "snapshot")
    with open(path, "rb") as f:
        return path, bytearray(f.read())


def _gets_cas(c, key):
    r = transact(c, b"gets " + key + b"\r\n")
    check(r.startswith(b"VALUE "), "gets %r: %r" % (key, r))
    return int(r.split(b"\r\n")[0].split()[4])


def test_forged_snapshot_cas_refused():
    """A CAS of 2^64-1 (checksums valid) used to push the counter to its
    end: new items got CAS 0 and flush_all missed them.  Now the file is
    damaged: refused with snapshot_refuse_corrupt, else set aside."""
    if not OURS:
        raise TestSkip("snapshots are ours only")
    _xxh3()
    port = free_port()
    with TempDir() as tmp:
        path, data = _make_snapshot(tmp, port)
        v = _record_of(data, b"victim")
        struct.pack_into("<Q", data, v + 32, (1 << 64) - 1)
        _reseal(data)
        with open(path, "wb") as f:
            f.write(data)
        rc, out, err = run_fail(["-p", str(port), "-l", "127.0.0.1", "-U", "0", "-o",
                                 "snapshot_path=%s,snapshot_refuse_corrupt" % path])
        _no_crash(["snapshot_refuse_corrupt"], rc, err)
        eq(rc, 1, "exit status")
        eq(err.strip().splitlines()[-1],
           "snapshot %s is damaged: record CAS out of range (2^63 or more) at byte %d "
           "(snapshot_refuse_corrupt is set)" % (path, v), "refusal")
        # without refuse_corrupt: starts empty; CAS and flush_all work
        with Daemon(["-p", str(port), "-l", "127.0.0.1", "-U", "0", "-o",
                     "snapshot_path=%s,snapshot_on_shutdown=no" % path], port):
            with harness.Conn(port) as c:
                eq(transact(c, b"get victim key3\r\n"), b"END\r\n", "nothing loaded")
                eq(transact(c, b"set a 0 0 1\r\na\r\n"), b"STORED\r\n")
                eq(transact(c, b"set b 0 0 1\r\nb\r\n"), b"STORED\r\n")
                ca, cb = _gets_cas(c, b"a"), _gets_cas(c, b"b")
                check(0 < ca < cb < 1000, "CAS values %d, %d" % (ca, cb))
                eq(transact(c, b"flush_all\r\n"), b"OK\r\n")
                eq(transact(c, b"get a b\r\n"), b"END\r\n", "flushed in the same second")


def test_forged_snapshot_expiry_clamped():
    """An expiry 2^40 s away used to wrap the server's 32-bit clock (even
    to 0, "never"); now it is clamped to the latest a client can set."""
    if not OURS:
        raise TestSkip("snapshots are ours only")
    _xxh3()
    port = free_port()
    with TempDir() as tmp:
        path, data = _make_snapshot(tmp, port)
        v = _record_of(data, b"victim")
        struct.pack_into("<q", data, v + 16, 1 << 40)
        _reseal(data)
        with open(path, "wb") as f:
            f.write(data)
        with Daemon(["-p", str(port), "-l", "127.0.0.1", "-U", "0", "-o",
                     "snapshot_path=%s,snapshot_on_shutdown=no" % path], port) as d:
            with harness.Conn(port) as c:
                eq(transact(c, b"get victim\r\n"), b"VALUE victim 7 8\r\nprecious\r\nEND\r\n")
                dump = c.request(b"lru_crawler metadump all\r\n", b"END\r\n")
                line = [ln for ln in dump.split(b"\n") if ln.startswith(b"key=victim ")]
                check(line, "victim in metadump: %r" % dump)
                want = max(2 ** 31 - 1, int(time.time()) + 30 * 86400)
                exp = int(line[0].split(b" exp=")[1].split()[0])
                check(abs(exp - want) <= 5, "exp=%d, want about %d: %r" % (exp, want, line[0]))
                st = harness.stats(c, b"snapshot")[0]
                eq(st["load_items"], "21", "load_items")
            wait_for(lambda: "expiry times later than a client can set were clamped"
                     in d.err(), what="clamp warning in the log")
