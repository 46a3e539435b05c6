#!/usr/bin/env python3
"""Soak test: mixed load with faults, our server and reference memcached.

  bench/soak.py                       # 2 minutes, both servers concurrently
  bench/soak.py --seconds 20          # short run
  bench/soak.py --minutes 1 --mode sequential --bin build/memcached

Both servers get the same load (same seed, same operation mix, same fault
rates), by default CONCURRENTLY (one driver process per server, started at
the same moment; --mode sequential runs ours first, then the reference).
Each driver runs --workers threads; every worker owns its own keys (blob keys
and counter keys), so the driver knows the exact expected state of every key:

  load    set (1 B..512 KB, some with a 1-3 s TTL), get, gets/multiget (2-100
          keys), delete, append, incr, counter set, pipelined sets
  faults  kill_value  a set whose value is cut off, then close (FIN or RST)
          kill_line   a command line without its "\\n", then close
          unread_mg   20 x 50-key multigets on a small receive buffer, never
                      read, closed 0.5-5 s later (at most 3 parked per worker)
          halfclose   25-150 pipelined `set ... noreply` (values of 1-100 B
                      on half of these connections, so that more than -R
                      requests arrive in one read; else up to 8 or 64 KB),
                      60% followed by a get of some of them, then
                      shutdown(SHUT_WR), read to EOF, and verify that every
                      one of those values is stored
          garbage     junk lines on a fresh connection (ERROR/CLIENT_ERROR or
                      a close are fine, anything else is an error); also
                      an unknown command on the main connection
          sighup      every 2-8 s (ours re-reads its --config file, which
                      toggles conn-limit; memcached 1.6.18 installs a SIGHUP
                      handler, checked in /proc before sending, and does
                      nothing with it)
          snapshot    `snapshot` command every 5-15 s (ours only)
  end     every key of every worker is read back and verified; then 200 idle
          connections and 100 stuck on unread multigets (10 x 20 keys of
          64 KB, 4 KB receive buffer) stay open while the server gets SIGTERM: exit code
          and time to exit (SIGKILL after --exit-timeout, reported "timeout")

Verification: values are a deterministic function of (key, version, size)
and the flags carry the version, so every value read is recomputed and
compared byte for byte.  lost = a value acknowledged STORED (or a
half-closed noreply set the server finished) and not since overwritten,
deleted or expired reads back missing (or delete/append/incr say NOT_FOUND /
NOT_STORED) while `stats evictions` is 0 (with evictions it is counted as
miss_evicted instead).  corrupt = a value that reads back with bytes or
flags that no write could have produced (wrong bytes, a stale version, a
deleted key coming back, a wrong incr result), whatever the eviction state.
Keys with a write in flight when a client was killed accept the old or the
new value (never a partial one) until the next acknowledged write.

Output: a table, lost/corrupt details, RSS over time, and a final JSON line.
Exit status 1 if lost or corrupt > 0 or a server did not exit 0 after
SIGTERM (within --exit-timeout); 2 on setup failure.  An exit slower than
--slow-exit seconds is a WARNING only.
"""
import argparse
import collections
import json
import multiprocessing as mp
import os
import random
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib as bl  # noqa: E402

DEFAULT_BIN = os.path.join(bl.REPO, "build-hc", "memcached")
MAX_VALUE = 512 * 1024
MAX_APPENDED = 900 * 1024          # appends stop growing a value past this
MAX_CANDS = 12

# ---------------------------------------------------------------- values

_BASE = random.Random(0x50AC).randbytes((1 << 20) + (1 << 16))


def blob(key, ver, size):
    """Value bytes for (key, version, size): a header naming all three, then
    pseudo-random bytes from an offset that depends on them."""
    h = b"%d:%s:%d:" % (ver, key, size)
    if size <= len(h):
        return h[:size]
    off = (ver * 2654435761 + size * 40503 + sum(key)) % 65536
    return h + _BASE[off:off + size - len(h)]


def materialize(key, cand):
    """cand = (flags, payload): payload is an int (counter) or a tuple of
    segments, each (version, size) or raw bytes."""
    p = cand[1]
    if isinstance(p, int):
        return b"%d" % p
    return b"".join(s if isinstance(s, bytes) else blob(key, s[0], s[1]) for s in p)


def cand_len(cand):
    p = cand[1]
    if isinstance(p, int):
        return len(b"%d" % p)
    return sum(len(s) if isinstance(s, bytes) else s[1] for s in p)


def dedup(cands):
    out = []
    for c in cands:
        if c not in out:
            out.append(c)
    if len(out) > MAX_CANDS:
        out = out[:1] + out[-(MAX_CANDS - 1):]
    return out


# ---------------------------------------------------------------- client

class ConnLost(Exception):
    pass


class BadReply(Exception):
    pass


class Conn:
    def __init__(self, port, timeout, rcvbuf=None):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            s.settimeout(timeout)
            if rcvbuf:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
            s.connect(("127.0.0.1", port))
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError as e:
            s.close()
            raise ConnLost("connect: %s" % e)
        self.s = s
        self.buf = bytearray()

    def close(self, rst=False):
        try:
            if rst:
                self.s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.s.close()
        except OSError:
            pass

    def send(self, data):
        try:
            self.s.sendall(data)
        except OSError as e:
            raise ConnLost("send: %s" % e)

    def _fill(self):
        try:
            d = self.s.recv(1 << 18)
        except OSError as e:
            raise ConnLost("recv: %s" % e)
        if not d:
            raise ConnLost("EOF")
        self.buf += d

    def line(self, maxlen=65536):
        start = 0
        while True:
            i = self.buf.find(b"\r\n", start)
            if i >= 0:
                ln = bytes(self.buf[:i])
                del self.buf[:i + 2]
                return ln
            if len(self.buf) > maxlen:
                raise BadReply("line longer than %d bytes: %r" % (maxlen, bytes(self.buf[:80])))
            start = max(0, len(self.buf) - 1)
            self._fill()

    def exact(self, n):
        while len(self.buf) < n:
            self._fill()
        d = bytes(self.buf[:n])
        del self.buf[:n]
        return d

    def read_to_eof(self, cap, deadline):
        """Everything until EOF (bounded by cap bytes and deadline)."""
        out = bytes(self.buf)
        self.buf = bytearray()
        while len(out) <= cap:
            if time.monotonic() > deadline:
                raise ConnLost("no EOF before deadline")
            try:
                d = self.s.recv(1 << 18)
            except OSError as e:
                raise ConnLost("recv: %s" % e)
            if not d:
                return out
            out += d
        raise BadReply("more than %d bytes before EOF" % cap)

    def read_get(self, keys):
        """Parse a get/gets reply for keys (request order): {key: (flags, data)}."""
        got = {}
        pos = 0
        for _ in range(len(keys) + 1):
            ln = self.line()
            if ln == b"END":
                return got
            parts = ln.split(b" ")
            if parts[0] != b"VALUE" or len(parts) not in (4, 5):
                raise BadReply("get: unexpected line %r" % ln[:120])
            k = parts[1]
            try:
                flags, n = int(parts[2]), int(parts[3])
            except ValueError:
                raise BadReply("get: bad VALUE line %r" % ln[:120])
            try:
                pos = keys.index(k, pos) + 1
            except ValueError:
                raise BadReply("get: key %r not requested or out of order" % k)
            data = self.exact(n + 2)
            if data[-2:] != b"\r\n":
                raise BadReply("get: data block of %r not terminated by CRLF" % k)
            got[k] = (flags, data[:-2])
        raise BadReply("get: more VALUE blocks than keys")

    def stats(self):
        self.send(b"stats\r\n")
        out = {}
        for _ in range(1000):
            ln = self.line()
            if ln == b"END":
                return out
            p = ln.split(b" ", 2)
            if p[0] != b"STAT" or len(p) < 3:
                raise BadReply("stats: %r" % ln[:120])
            out[p[1].decode()] = p[2].decode(errors="replace")
        raise BadReply("stats: no END")


def server_alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except OSError:
        return False


def sighup_disposition(pid):
    """'caught', 'ignored' or 'default' for SIGHUP in process pid."""
    with open("/proc/%d/status" % pid) as f:
        st = {ln.split(":")[0]: ln.split(":")[1].strip() for ln in f if ":" in ln}
    bit = 1 << (signal.SIGHUP - 1)
    if int(st.get("SigCgt", "0"), 16) & bit:
        return "caught"
    if int(st.get("SigIgn", "0"), 16) & bit:
        return "ignored"
    return "default"


# ---------------------------------------------------------------- driver

class KeyState:
    __slots__ = ("cands", "volatile", "origin", "t_write", "fault", "taint_until")

    def __init__(self):
        self.cands = [None]          # possible current values; None = absent
        self.volatile = False        # written with a TTL: may also be absent
        self.origin = "never"        # what wrote the expected value
        self.t_write = 0.0
        self.fault = None            # (fault kind, time) touching the key since
        self.taint_until = 0.0       # a write may still be in flight until then


class Driver:
    """Runs the load against one server (in its own process)."""

    def __init__(self, name, port, pid, a, ours, cfg_path):
        self.name, self.port, self.pid, self.a, self.ours = name, port, pid, a, ours
        self.cfg_path = cfg_path
        self.t0 = time.monotonic()
        self.deadline = self.t0 + a.duration
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.n = collections.Counter()
        self.details = []
        self.events = []             # (kind, t) of sighup / snapshot
        self.rss = []                # (t, kB)
        self.stats_samples = []
        self.server_dead = False
        self.load_end = None

    def now(self):
        return time.monotonic() - self.t0

    def count(self, what, k=1):
        with self.lock:
            self.n[what] += k

    def detail(self, kind, text, group=None):
        """Keep at most 8 details per (kind, group) and 80 in all."""
        with self.lock:
            g = "%s/%s" % (kind, group)
            self.n["detail:" + g] += 1
            if self.n["detail:" + g] <= 8 and len(self.details) < 80:
                self.details.append("%7.1fs %s: %s" % (self.now(), kind, text))

    def error(self, kind, text):
        with self.lock:
            self.n["errors"] += 1
            self.n["err:" + kind] += 1
        self.detail("error", "%s: %s" % (kind, text[:300]), kind)

    def events_between(self, t1, t2):
        with self.lock:
            c = collections.Counter(k for k, t in self.events if t1 <= t <= t2)
        return dict(c)

    # -- helper threads
    def rss_sampler(self):
        while not self.stop.wait(1.0):
            if not server_alive(self.pid):
                break
            try:
                self.rss.append((round(self.now(), 1), bl.rss_kb(self.pid)))
            except OSError:
                break

    def injector(self):
        rng = random.Random(self.a.seed * 7919 + 17)
        disp = sighup_disposition(self.pid)
        self.hup_disposition = disp
        send_hup = self.a.fault_scale > 0 and (self.ours or disp in ("caught", "ignored"))
        t_hup = self.now() + rng.uniform(2, 8)
        t_snap = self.now() + rng.uniform(5, 15)
        t_stats = self.now() + 2
        hups = 0
        for _ in range(int(self.a.duration * 10) + 100):
            if self.stop.wait(0.1) or time.monotonic() >= self.deadline:
                break
            now = self.now()
            if not server_alive(self.pid):
                self.server_dead = True
                self.error("server_died", "process %d is gone" % self.pid)
                self.stop.set()
                break
            if send_hup and now >= t_hup:
                t_hup = now + rng.uniform(2, 8) / max(self.a.fault_scale, 0.01)
                hups += 1
                if self.ours:
                    tmp = self.cfg_path + ".tmp"
                    with open(tmp, "w") as f:
                        f.write(config_text(self.a, 4096 if hups % 2 == 0 else 4000))
                    os.replace(tmp, self.cfg_path)
                os.kill(self.pid, signal.SIGHUP)
                with self.lock:
                    self.events.append(("sighup", now))
                self.count("fault:sighup")
            if self.ours and self.a.fault_scale > 0 and now >= t_snap:
                t_snap = now + rng.uniform(5, 15) / max(self.a.fault_scale, 0.01)
                t1 = time.monotonic()
                try:
                    c = Conn(self.port, self.a.snapshot_timeout)
                    c.send(b"snapshot\r\n")
                    ln = c.line()
                    c.close()
                except (ConnLost, BadReply) as e:
                    self.error("snapshot", "snapshot command: %s" % e)
                    continue
                dt = time.monotonic() - t1
                with self.lock:
                    self.events.append(("snapshot", now))
                    self.n["fault:snapshot"] += 1
                    self.n["snapshot_secs_max_ms"] = max(self.n["snapshot_secs_max_ms"],
                                                         int(dt * 1000))
                if ln == b"SERVER_ERROR snapshot in progress":
                    self.count("snapshot_busy")
                elif ln != b"OK":
                    self.error("snapshot", "snapshot replied %r" % ln[:200])
            if now >= t_stats:
                t_stats = now + 5
                try:
                    c = Conn(self.port, 10)
                    st = c.stats()
                    c.close()
                    self.stats_samples.append((round(now, 1), {
                        k: st.get(k) for k in ("evictions", "curr_items", "bytes",
                                               "curr_connections", "total_connections")}))
                except (ConnLost, BadReply) as e:
                    self.error("stats", "stats: %s" % e)

    def run(self):
        threads = [threading.Thread(target=self.rss_sampler, daemon=True),
                   threading.Thread(target=self.injector, daemon=True)]
        workers = [Worker(self, w) for w in range(self.a.workers)]
        threads += [threading.Thread(target=w.run, daemon=True) for w in workers]
        for t in threads:
            t.start()
        for t in threads[2:]:
            t.join(self.a.duration + 600)
            if t.is_alive():
                self.error("hang", "a worker did not finish (%.0f s after the end)" %
                           (time.monotonic() - self.deadline))
        self.load_end = self.load_end or self.now()
        self.stop.set()
        threads[1].join(self.a.snapshot_timeout + 5)
        threads[0].join(3)
        try:
            c = Conn(self.port, 10)
            st = c.stats()
            c.close()
        except (ConnLost, BadReply):
            st = {}
        n = dict(self.n)
        return {
            "name": self.name,
            "load_seconds": round(min(self.load_end, self.a.duration + 600), 1),
            "sweep_seconds": round(self.now() - self.load_end, 1),
            "counts": n,
            "details": self.details,
            "rss": self.rss,
            "stats_samples": self.stats_samples,
            "final_stats": {k: st.get(k) for k in ("evictions", "curr_items", "bytes",
                                                   "total_connections", "curr_connections",
                                                   "expired_unfetched", "reclaimed")},
            "sighup": getattr(self, "hup_disposition", "?"),
            "server_dead": self.server_dead,
        }


class Worker:
    OPS = [  # (name, weight, is_fault)
        ("set", 20, False), ("get", 18, False), ("mget", 12, False), ("delete", 5, False),
        ("append", 9, False), ("incr", 9, False), ("cset", 1, False), ("mset", 4, False),
        ("main_garbage", 0.5, True),
        ("kill_value", 1.2, True), ("kill_line", 0.6, True), ("unread_mg", 0.4, True),
        ("halfclose", 0.6, True), ("garbage", 0.5, True),
    ]
    MIN_INTERVAL = {"kill_value": 0.02, "kill_line": 0.02, "unread_mg": 0.25,
                    "halfclose": 0.1, "garbage": 0.05, "main_garbage": 0.02}

    def __init__(self, drv, wid):
        self.d, self.a, self.wid, self.port = drv, drv.a, wid, drv.port
        self.rng = random.Random(self.a.seed * 1000003 + wid)
        self.blob_keys = [b"soak:w%d:b%d" % (wid, i) for i in range(self.a.keys)]
        self.ctr_keys = [b"soak:w%d:c%d" % (wid, i) for i in range(self.a.counters)]
        self.all_keys = self.blob_keys + self.ctr_keys
        self.state = {k: KeyState() for k in self.all_keys}
        self.ver = wid << 40
        self.c = None
        self.parked = []
        self.inflight = []
        self.last_fault = {}
        ops = [(n, w * (self.a.fault_scale if f else 1.0)) for n, w, f in self.OPS]
        self.ops = [(n, w) for n, w in ops if w > 0]
        self.total_w = sum(w for _, w in self.ops)

    # -- plumbing
    def next_ver(self):
        self.ver += 1
        return self.ver

    def pick_size(self, big=True):
        r = self.rng.random()
        if r < 0.6 or not big:
            return self.rng.randint(1, 1024)
        if r < 0.85:
            return self.rng.randint(1025, 16384)
        if r < 0.97:
            return self.rng.randint(16385, 131072)
        return self.rng.randint(131073, MAX_VALUE)

    def connect(self):
        for attempt in range(5):
            try:
                self.c = Conn(self.port, self.a.op_timeout)
                return
            except ConnLost as e:
                err = e
                if not server_alive(self.d.pid):
                    break
                time.sleep(0.2 * (attempt + 1))
        self.d.server_dead = not server_alive(self.d.pid)
        raise ConnLost("cannot connect: %s" % err)

    def begin(self, key, new_cands):
        st = self.state[key]
        st.cands = dedup(st.cands + new_cands)
        self.inflight.append(key)

    def commit(self, key, cands, origin, volatile=False):
        st = self.state[key]
        now = time.monotonic()
        if now < st.taint_until:
            st.cands = dedup(st.cands + cands)
        else:
            st.cands = dedup(cands)
        st.volatile = volatile
        st.origin = origin
        st.t_write = self.d.now()

    def absent_ok(self, st):
        return st.volatile or None in st.cands

    def present_ok(self, st):
        return any(c is not None for c in st.cands)

    def describe(self, key, st):
        t = self.d.now()
        s = "key %s written by %s %.1fs ago" % (key.decode(), st.origin, t - st.t_write)
        if st.fault:
            s += ", last fault on the key: %s at %.1fs (%+.1fs from the write)" % (
                st.fault[0], st.fault[1], st.fault[1] - st.t_write)
        ev = self.d.events_between(st.t_write, t)
        if ev:
            s += ", events since write: %s" % ev
        return s

    def lost(self, key, how, quiet=False):
        """A value that must exist is gone: lost unless the server evicted."""
        st = self.state[key]
        ev = -1
        try:
            c = Conn(self.port, self.a.op_timeout)
            try:
                ev = int(c.stats().get("evictions", "-1"))
            finally:
                c.close()
        except (ConnLost, BadReply, ValueError):
            pass
        if ev <= 0:
            if ev < 0:
                how += ", evictions unknown (stats failed)"
            self.d.count("lost")
            by = st.origin
            if st.fault and st.fault[1] >= st.t_write:
                by += "(+%s)" % st.fault[0]
            self.d.count("lost_by:" + by)
            if not quiet:
                self.d.detail("LOST", "%s (%s)" % (self.describe(key, st), how), by)
        else:
            self.d.count("miss_evicted")
        st.cands = [None]
        st.volatile = False

    def corrupt(self, key, what, got=None):
        st = self.state[key]
        self.d.count("corrupt")
        self.d.count("corrupt_by:%s" % st.origin)
        self.d.detail("CORRUPT", "%s: %s" % (self.describe(key, st), what), st.origin)
        if got is not None:
            st.cands = [(got[0], (got[1],))]

    def check_read(self, key, got):
        """got: None (miss) or (flags, data)."""
        st = self.state[key]
        self.d.count("values_checked")
        if got is None:
            if self.absent_ok(st):
                st.cands = [None]
                st.volatile = False
                return
            self.lost(key, "get: miss")
            return
        flags, data = got
        for c in st.cands:
            if c is not None and c[0] == flags and len(data) == cand_len(c) \
                    and materialize(key, c) == data:
                if not st.volatile and time.monotonic() >= st.taint_until:
                    st.cands = [c]
                return
        self.corrupt(key, "read %d bytes flags %d %r..., expected one of %s" % (
            len(data), flags, data[:40], self.cand_summary(key, st)), got)

    def cand_summary(self, key, st):
        out = []
        for c in st.cands[:4]:
            if c is None:
                out.append("absent")
            else:
                out.append("%d bytes flags %d %r..." % (cand_len(c), c[0],
                                                        materialize(key, c)[:24]))
        return "[" + ", ".join(out) + "]" + (" (ttl)" if st.volatile else "")

    def reset_conn(self):
        if self.c:
            self.c.close()
        self.c = None
        now = time.monotonic()
        for k in self.inflight:
            self.state[k].taint_until = now + 30
        self.inflight = []

    # -- main loop
    def run(self):
        try:
            self.connect()
            max_steps = int(self.a.duration * 200000) + 1000
            for _ in range(max_steps):
                if self.d.stop.is_set() or time.monotonic() >= self.d.deadline:
                    break
                self.step()
            self.d.load_end = self.d.load_end or self.d.now()
            for p in self.parked:
                p[0].close()
            self.parked = []
            if not self.d.server_dead:
                self.final_sweep()
        except Exception as e:  # bug in the soak itself or server gone: report, never hang
            if not self.d.server_dead:
                self.d.error("worker", "worker %d: %s\n%s" % (self.wid, e,
                                                               traceback.format_exc()[-800:]))
        finally:
            for p in self.parked:
                p[0].close()
            if self.c:
                self.c.close()

    def step(self):
        r = self.rng.random() * self.total_w
        for name, w in self.ops:
            r -= w
            if r < 0:
                break
        now = time.monotonic()
        if name in self.MIN_INTERVAL:
            if now - self.last_fault.get(name, 0) < self.MIN_INTERVAL[name] / max(
                    self.a.fault_scale, 0.01) or (name == "unread_mg" and len(self.parked) >= 3):
                name = "get"
            else:
                self.last_fault[name] = now
        while self.parked and self.parked[0][1] <= now:
            s, _t, rst = self.parked.pop(0)
            if rst:
                try:
                    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                except OSError:
                    pass
            s.close()
        try:
            if self.c is None:
                self.connect()
            getattr(self, "op_" + name)()
            self.inflight = []
        except BadReply as e:
            self.d.error("reply:" + name, str(e))
            self.reset_conn()
        except ConnLost as e:
            if not server_alive(self.d.pid):
                self.d.server_dead = True
                self.d.error("server_died", "during %s: %s" % (name, e))
                self.d.stop.set()
                return
            self.d.error("conn:" + name, str(e))
            self.reset_conn()

    def unexpected(self, op, ln, key=None):
        self.d.error("unexpected:" + op, "%s%s -> %r" % (
            op, " " + key.decode() if key else "", ln[:200]))

    # -- load
    def op_set(self, key=None, origin="set"):
        key = key or self.rng.choice(self.blob_keys)
        ver = self.next_ver()
        size = self.pick_size()
        exp = self.rng.randint(1, 3) if self.rng.random() < 0.04 else 0
        cand = (ver & 0xffffffff, ((ver, size),))
        self.begin(key, [cand])
        self.c.send(b"".join((b"set %s %d %d %d\r\n" % (key, cand[0], exp, size),
                              blob(key, ver, size), b"\r\n")))
        ln = self.c.line()
        self.d.count("ops")
        if ln != b"STORED":
            self.unexpected("set", ln, key)
            self.state[key].cands.append(None)   # a failed set may drop the old value
            return
        self.commit(key, [cand], origin, volatile=exp > 0)

    def op_cset(self, key=None):
        key = key or self.rng.choice(self.ctr_keys)
        ver = self.next_ver()
        v = self.rng.randint(0, 1 << 40)
        exp = self.rng.randint(1, 3) if self.rng.random() < 0.05 else 0
        cand = (ver & 0xffffffff, v)
        data = b"%d" % v
        self.begin(key, [cand])
        self.c.send(b"set %s %d %d %d\r\n%s\r\n" % (key, cand[0], exp, len(data), data))
        ln = self.c.line()
        self.d.count("ops")
        if ln != b"STORED":
            self.unexpected("set", ln, key)
            self.state[key].cands.append(None)
            return
        self.commit(key, [cand], "cset", volatile=exp > 0)

    def op_get(self):
        key = self.rng.choice(self.blob_keys if self.rng.random() < 0.85 else self.ctr_keys)
        self.c.send(b"get %s\r\n" % key)
        got = self.c.read_get([key])
        self.d.count("ops")
        self.check_read(key, got.get(key))

    def op_mget(self, keys=None, cmd=None):
        keys = keys or self.rng.sample(self.all_keys, self.rng.randint(2, 100))
        cmd = cmd or (b"gets" if self.rng.random() < 0.3 else b"get")
        self.c.send(cmd + b" " + b" ".join(keys) + b"\r\n")
        got = self.c.read_get(keys)
        self.d.count("ops")
        for k in keys:
            self.check_read(k, got.get(k))
        return got

    def op_delete(self):
        key = self.rng.choice(self.blob_keys if self.rng.random() < 0.9 else self.ctr_keys)
        st = self.state[key]
        was_present, was_absent = self.present_ok(st), self.absent_ok(st)
        self.begin(key, [None])
        self.c.send(b"delete %s\r\n" % key)
        ln = self.c.line()
        self.d.count("ops")
        if ln == b"DELETED":
            if not was_present:
                self.corrupt(key, "delete said DELETED but the key should not exist")
        elif ln == b"NOT_FOUND":
            if not was_absent:
                self.lost(key, "delete: NOT_FOUND")
        else:
            self.unexpected("delete", ln, key)
            return
        self.commit(key, [None], "delete")

    def op_append(self):
        key = self.rng.choice(self.blob_keys)
        st = self.state[key]
        if any(c is not None and cand_len(c) > MAX_APPENDED for c in st.cands):
            return self.op_get()
        ver = self.next_ver()
        psize = self.rng.randint(1, 2000)
        piece = (ver, psize)
        appended = [(c[0], c[1] + (piece,)) for c in st.cands if c is not None]
        was_present, was_absent = self.present_ok(st), self.absent_ok(st)
        self.begin(key, appended)
        self.c.send(b"".join((b"append %s 0 0 %d\r\n" % (key, psize), blob(key, ver, psize),
                              b"\r\n")))
        ln = self.c.line()
        self.d.count("ops")
        if ln == b"STORED":
            if not was_present:
                self.corrupt(key, "append said STORED but the key should not exist")
                self.state[key].cands = [None]   # unknown base: accept nothing but a miss
                self.state[key].origin = "append"
                return
            self.commit(key, appended, "append", volatile=st.volatile)
        elif ln == b"NOT_STORED":
            if not was_absent:
                self.lost(key, "append: NOT_STORED")
            self.commit(key, [None], "append")
        else:
            self.unexpected("append", ln, key)

    def op_incr(self):
        key = self.rng.choice(self.ctr_keys)
        st = self.state[key]
        delta = self.rng.randint(1, 1000)
        was_absent = self.absent_ok(st)
        new = []
        for c in st.cands:
            if c is None:
                continue
            if isinstance(c[1], int):
                new.append((c[0], c[1] + delta))
            else:
                try:
                    new.append((c[0], int(materialize(key, c)) + delta))
                except ValueError:
                    pass
        self.begin(key, new)
        self.c.send(b"incr %s %d\r\n" % (key, delta))
        ln = self.c.line()
        self.d.count("ops")
        if ln == b"NOT_FOUND":
            if not was_absent:
                self.lost(key, "incr: NOT_FOUND")
            self.commit(key, [None], "incr")
            self.op_cset(key)
            return
        if not ln.isdigit():
            self.unexpected("incr", ln, key)
            return
        v = int(ln)
        match = [c for c in new if c[1] == v]
        if not match:
            self.corrupt(key, "incr by %d returned %d, expected one of %s" % (
                delta, v, [c[1] for c in new] or "NOT_FOUND"))
            flags = new[0][0] if new else 0
            self.commit(key, [(flags, v)], "incr")
            return
        self.commit(key, match, "incr", volatile=st.volatile)

    def op_mset(self):
        keys = self.rng.sample(self.blob_keys, self.rng.randint(5, 40))
        parts, cands = [], []
        for k in keys:
            ver = self.next_ver()
            size = self.pick_size(big=False)
            c = (ver & 0xffffffff, ((ver, size),))
            self.begin(k, [c])
            cands.append(c)
            parts += [b"set %s %d 0 %d\r\n" % (k, c[0], size), blob(k, ver, size), b"\r\n"]
        self.c.send(b"".join(parts))
        for k, c in zip(keys, cands):
            ln = self.c.line()
            self.d.count("ops")
            if ln != b"STORED":
                self.unexpected("mset", ln, k)
                self.state[k].cands.append(None)
                continue
            self.commit(k, [c], "mset")

    def op_main_garbage(self):
        self.count_fault("main_garbage")
        self.c.send(b"xyzzy%d plugh\r\n" % self.rng.randint(0, 999))
        ln = self.c.line()
        self.d.count("ops")
        if ln != b"ERROR":
            self.unexpected("unknown command", ln)

    # -- faults (each on its own connection; the main connection is untouched)
    def count_fault(self, kind):
        self.d.count("fault:" + kind)

    def side_conn(self, kind, timeout=None, rcvbuf=None):
        try:
            return Conn(self.port, timeout or self.a.op_timeout, rcvbuf)
        except ConnLost as e:
            self.d.error("fault_conn:" + kind, str(e))
            return None

    def op_kill_value(self):
        key = self.rng.choice(self.blob_keys)
        ver = self.next_ver()
        size = max(2, self.pick_size())
        cut = self.rng.randint(0, size - 1)
        rst = self.rng.random() < 0.5
        pause = self.rng.random() < 0.3
        c = self.side_conn("kill_value")
        if c is None:
            return
        self.count_fault("kill_value")
        cand = (ver & 0xffffffff, ((ver, size),))
        st = self.state[key]
        st.cands = dedup(st.cands + [cand])       # uncertain until the next acked write
        st.fault = ("kill_value", self.d.now())
        try:
            c.s.sendall(b"".join((b"set %s %d 0 %d\r\n" % (key, cand[0], size),
                                  blob(key, ver, size)[:cut])))
            if pause:
                time.sleep(0.005)
        except OSError:
            pass
        c.close(rst)

    def op_kill_line(self):
        key = self.rng.choice(self.blob_keys)
        line = self.rng.choice([b"delete %s" % key, b"incr %s 5" % key,
                                b"get %s %s" % (key, self.rng.choice(self.blob_keys)),
                                b"set %s 0 0 10" % key, b"touch %s 1" % key,
                                b"append %s 0 0 3" % key])
        line += self.rng.choice([b"", b"\r"])
        c = self.side_conn("kill_line")
        if c is None:
            return
        self.count_fault("kill_line")
        self.state[key].fault = ("kill_line", self.d.now())
        try:
            c.s.sendall(line)
            if self.rng.random() < 0.3:
                time.sleep(0.005)
        except OSError:
            pass
        c.close(self.rng.random() < 0.5)

    def op_unread_mg(self):
        c = self.side_conn("unread_mg", timeout=3, rcvbuf=4096)
        if c is None:
            return
        self.count_fault("unread_mg")
        lines = [b"get " + b" ".join(self.rng.sample(self.blob_keys, min(50, len(self.blob_keys))))
                 + b"\r\n" for _ in range(20)]
        try:
            c.s.sendall(b"".join(lines))
        except OSError:
            c.close()
            return
        self.parked.append((c.s, time.monotonic() + self.rng.uniform(0.5, 5),
                            self.rng.random() < 0.5))
        self.parked.sort(key=lambda p: p[1])

    def op_halfclose(self):
        n = self.rng.randint(25, 150)
        keys = self.rng.sample(self.blob_keys, min(n, len(self.blob_keys)))
        with_get = self.rng.random() < 0.6
        getkeys = keys[:min(len(keys), self.rng.randint(1, 100))] if with_get else []
        parts, new = [], {}
        # tiny values put many requests into one read (more than -R per turn)
        sizes = self.rng.choice(((1, 100), (1, 100), (1, 8192), (1, 65536)))
        for k in keys:
            ver = self.next_ver()
            size = self.rng.randint(*sizes)
            c = (ver & 0xffffffff, ((ver, size),))
            new[k] = c
            parts += [b"set %s %d 0 %d noreply\r\n" % (k, c[0], size), blob(k, ver, size),
                      b"\r\n"]
        if getkeys:
            parts.append(b"get " + b" ".join(getkeys) + b"\r\n")
        hc = self.side_conn("halfclose", timeout=self.a.op_timeout)
        if hc is None:
            return
        self.count_fault("halfclose")
        self.d.count("halfclose_sets", len(keys))
        old = {k: list(self.state[k].cands) for k in keys}
        old_volatile = {k: self.state[k].volatile for k in keys}
        for k in keys:
            self.begin(k, [new[k]])
        got, problem = {}, None
        try:
            hc.send(b"".join(parts))
            hc.s.shutdown(socket.SHUT_WR)
            if getkeys:
                got = hc.read_get(getkeys)
            rest = hc.read_to_eof(1 << 20, time.monotonic() + self.a.op_timeout)
            if rest:
                problem = "%d unexpected bytes after the replies: %r" % (len(rest), rest[:80])
        except ConnLost as e:
            problem = "half-closed connection: %s (after %d of %d get values)" % (
                e, len(got), len(getkeys))
        except BadReply as e:
            problem = "half-closed connection: %s" % e
        except OSError as e:
            problem = "shutdown: %s" % e
        hc.close()
        if problem:
            self.d.error("halfclose", problem)
        self.d.count("ops", len(keys) + (1 if getkeys else 0))
        # every set must now be stored: check the get reply, then the rest
        # over the main connection (multigets of up to 100 keys)
        unseen = [k for k in keys if k not in got]
        for i in range(0, len(unseen), 100):
            chunk = unseen[i:i + 100]
            self.c.send(b"get " + b" ".join(chunk) + b"\r\n")
            got.update(self.c.read_get(chunk))
            self.d.count("ops")
        self.inflight = []
        bad = []
        for k in keys:
            st = self.state[k]
            g = got.get(k)
            self.d.count("values_checked")
            exp = new[k]
            if g is not None and g[0] == exp[0] and g[1] == materialize(k, exp):
                self.commit(k, [exp], "halfclose")
                continue
            bad.append(k)
            st.origin, st.t_write = "halfclose", self.d.now()
            if g is None:
                st.cands = [exp]
                self.lost(k, "noreply set on a half-closed connection: miss", quiet=True)
            elif any(c is not None and c[0] == g[0] and materialize(k, c) == g[1]
                     for c in old[k]):
                st.cands = [exp]
                self.lost(k, "noreply set on a half-closed connection: old value",
                          quiet=True)
                st.cands = [g[:1] + ((g[1],),)]
                st.volatile = old_volatile[k]
            else:
                st.cands = [exp]
                self.corrupt(k, "after half-close: %d bytes flags %d %r..." % (
                    len(g[1]), g[0], g[1][:40]), g)
        if bad:
            self.d.detail("LOST", "half-close: %d of %d pipelined noreply sets of %d-%d B "
                          "not stored (%s; sets #%d.. of the pipeline; %s)" % (
                              len(bad), len(keys), sizes[0], sizes[1],
                              "then a get of %d" % len(getkeys) if getkeys else "no get",
                              keys.index(bad[0]) + 1, problem or "no connection error"),
                          "halfclose")

    def op_garbage(self):
        c = self.side_conn("garbage", timeout=5)
        if c is None:
            return
        self.count_fault("garbage")
        rng = self.rng
        junk = bytes(rng.choice(b"abcdefghijklmnopqrstuvwxyz0123456789 !#$%&()*+,-./:;<=>?@[]^_")
                     for _ in range(rng.randint(1, 500)))
        menu = [b"xyzzy plugh\r\n", b"q" + junk + b"\r\n", b"get " + b"k" * 300 + b"\r\n",
                b"set soakjunk 0 0 notanumber\r\n", b"incr\r\n", b"get\r\n", b"\r\n",
                b"incr soakjunk abc\r\n", b"delete soakjunk 0 0 0 0\r\n",
                b"ge\x00t soakjunk\r\n", b"\x01\x02\x03\xff\xfe\r\n",
                b"x" * rng.randint(2100, 5000) + b"\r\n"]
        picks = [rng.choice(menu) for _ in range(rng.randint(1, 3))]
        try:
            c.send(b"version\r\n")
            ln = c.line()
            if not ln.startswith(b"VERSION"):
                self.unexpected("version", ln)
                c.close()
                return
            for g in picks:
                c.send(g + b"version\r\n")
                for _ in range(10):
                    ln = c.line(maxlen=8192)
                    if ln.startswith(b"VERSION"):
                        break
                    if not (ln == b"ERROR" or ln.startswith(b"CLIENT_ERROR")
                            or ln.startswith(b"SERVER_ERROR")):
                        self.unexpected("garbage %r" % g[:30], ln)
                        break
        except ConnLost:
            self.d.count("garbage_closed_by_server")
        except BadReply as e:
            self.d.error("garbage", str(e))
        c.close()

    # -- end
    def final_sweep(self):
        if self.c is None:
            self.connect()
        for i in range(0, len(self.all_keys), 100):
            try:
                self.op_mget(self.all_keys[i:i + 100], b"get")
                self.d.count("sweep_keys", len(self.all_keys[i:i + 100]))
            except (ConnLost, BadReply) as e:
                self.d.error("sweep", str(e))
                self.reset_conn()
                self.connect()


def config_text(a, conns):
    return ("# bench/soak.py: re-read on SIGHUP\nmemory-limit = %d\nconn-limit = %d\n"
            % (a.mem, conns))


def drive(name, port, pid, a, ours, cfg_path, q):
    """Child-process entry: run the load, put the result dict on q."""
    for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(s, signal.SIG_DFL)
    bl._children.clear()
    try:
        import ctypes
        ctypes.CDLL(None).prctl(1, signal.SIGKILL)     # PR_SET_PDEATHSIG
    except Exception:
        pass
    try:
        q.put(Driver(name, port, pid, a, ours, cfg_path).run())
    except Exception as e:
        q.put({"name": name, "fatal": "%s\n%s" % (e, traceback.format_exc())})


# ---------------------------------------------------------------- servers

class Soak:
    def __init__(self, a):
        self.a = a
        self.tmp = tempfile.mkdtemp(prefix="soak-")
        self.procs = {}
        self.logs = {}
        self.drivers = []

    def cleanup(self):
        for p in self.drivers:
            if p.is_alive():
                p.kill()
                p.join(5)
        for proc in list(self.procs.values()):
            bl.stop(proc)
        shutil.rmtree(self.tmp, ignore_errors=True)

    def start(self, name):
        a = self.a
        ours = name == "ours"
        binary = a.bin if ours else a.ref
        if not (os.path.isfile(binary) and os.access(binary, os.X_OK)):
            raise RuntimeError("%s: %s not found or not executable" % (name, binary))
        cfg = os.path.join(self.tmp, "ours.conf")
        if ours:
            with open(cfg, "w") as f:
                f.write(config_text(a, 4096))
        for _attempt in range(3):
            port = bl.free_port()
            argv = [binary, "-l", "127.0.0.1", "-p", str(port), "-U", "0", "-t", str(a.threads)]
            if os.geteuid() == 0:
                argv += ["-u", "root"]
            if ours:
                argv += ["--config", cfg, "-o",
                         "snapshot_path=%s" % os.path.join(self.tmp, "x.snap")]
            else:
                argv += ["-m", str(a.mem), "-c", "4096"]
            argv += a.ours_args.split() if ours else a.ref_args.split()
            log = os.path.join(self.tmp, name + ".log")
            logf = open(log, "w+")
            proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=logf, stderr=logf,
                                    start_new_session=True)
            logf.close()
            bl._children.append(proc)
            self.procs[name] = proc
            self.logs[name] = log
            t_end = time.time() + 10
            while time.time() < t_end and proc.poll() is None:
                try:
                    c = Conn(port, 1)
                    c.send(b"version\r\n")
                    ok = c.line().startswith(b"VERSION")
                    c.close()
                    if ok:
                        return {"port": port, "pid": proc.pid, "argv": argv, "cfg": cfg}
                except (ConnLost, BadReply):
                    pass
                time.sleep(0.05)
            bl.stop(proc)
            err = open(log).read()[-2000:]
            if "in use" not in err:
                break
        raise RuntimeError("%s: %s did not start\n%s" % (name, " ".join(argv), err))

    def shutdown(self, name, port):
        """SIGTERM with idle and stuck connections open: exit code, seconds."""
        proc = self.procs[name]
        socks = []
        out = {"idle_conns": 0, "stuck_conns": 0}
        keys = [b"soak:exit:%d" % j for j in range(20)]
        if proc.poll() is None and self.a.stuck_at_exit:
            try:      # 20 x 64 KB values for the stuck connections to ask for
                c = Conn(port, 10)
                for k in keys:
                    c.send(b"set %s 0 0 65536\r\n%s\r\n" % (k, blob(k, 1, 65536)))
                    c.line()
                c.close()
            except (ConnLost, BadReply):
                pass
        if proc.poll() is None:
            for i in range(self.a.idle_at_exit + self.a.stuck_at_exit):
                stuck = i < self.a.stuck_at_exit
                try:
                    c = Conn(port, 5, rcvbuf=4096 if stuck else None)
                    c.send(b"version\r\n")
                    c.line()
                    if stuck:
                        c.s.sendall(b"".join(b"get " + b" ".join(keys) + b"\r\n"
                                             for _ in range(10)))
                    socks.append(c)
                    out["stuck_conns" if stuck else "idle_conns"] += 1
                except (ConnLost, BadReply, OSError):
                    break
            time.sleep(0.3)
        out["rss_kb_at_sigterm"] = bl.rss_kb(proc.pid) if proc.poll() is None else None
        t0 = time.monotonic()
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        try:
            rc = proc.wait(timeout=self.a.exit_timeout)
            out["exit_code"] = rc
            out["exit_seconds"] = round(time.monotonic() - t0, 2)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
            out["exit_code"] = "timeout"
            out["exit_seconds"] = round(time.monotonic() - t0, 2)
        for c in socks:
            c.close()
        if proc in bl._children:
            bl._children.remove(proc)
        snap = os.path.join(self.tmp, "x.snap")
        if name == "ours" and os.path.exists(snap):
            out["snapshot_bytes_at_exit"] = os.path.getsize(snap)
        try:
            with open(self.logs[name], errors="replace") as f:
                out["log_tail"] = f.read()[-1500:]
        except OSError:
            out["log_tail"] = ""
        return out

    def run_drivers(self, names, infos):
        ctx = mp.get_context("fork")
        q = ctx.Queue()
        self.drivers = []
        for name in names:
            i = infos[name]
            p = ctx.Process(target=drive, args=(name, i["port"], i["pid"], self.a,
                                                name == "ours", i["cfg"], q), daemon=True)
            p.start()
            self.drivers.append(p)
        res = {}
        t_end = time.monotonic() + self.a.duration + 900
        while len(res) < len(names) and time.monotonic() < t_end:
            try:
                r = q.get(timeout=1)
                res[r["name"]] = r
            except Exception:
                if not any(p.is_alive() for p in self.drivers) and q.empty():
                    break
        for p in self.drivers:
            p.join(5)
            if p.is_alive():
                p.kill()
                p.join(5)
        for name in names:
            res.setdefault(name, {"name": name, "fatal": "driver process gave no result"})
        return res


# ---------------------------------------------------------------- report

def summarize(name, a, r, ex, info):
    n = r.get("counts", {})
    rss = [kb for _, kb in r.get("rss", [])]
    faults = {k.split(":", 1)[1]: v for k, v in n.items() if k.startswith("fault:")}
    s = {
        "server": name,
        "binary": info["argv"][0],
        "argv": " ".join(info["argv"]),
        "minutes": round(r.get("load_seconds", 0) / 60, 2),
        "sweep_seconds": r.get("sweep_seconds"),
        "ops": n.get("ops", 0),
        "ops_per_sec": round(n.get("ops", 0) / max(r.get("load_seconds", 1), 1e-9)),
        "values_checked": n.get("values_checked", 0),
        "lost": n.get("lost", 0),
        "corrupt": n.get("corrupt", 0),
        "miss_evicted": n.get("miss_evicted", 0),
        "errors": n.get("errors", 0),
        "errors_by": {k[4:]: v for k, v in n.items() if k.startswith("err:")},
        "lost_by": {k[8:]: v for k, v in n.items() if k.startswith("lost_by:")},
        "corrupt_by": {k[11:]: v for k, v in n.items() if k.startswith("corrupt_by:")},
        "faults": faults,
        "halfclose_sets": n.get("halfclose_sets", 0),
        "garbage_closed_by_server": n.get("garbage_closed_by_server", 0),
        "snapshot_busy": n.get("snapshot_busy", 0),
        "snapshot_max_ms": n.get("snapshot_secs_max_ms", 0),
        "sighup": "sent (%s)" % r.get("sighup") if faults.get("sighup") else
                  "not sent (%s)" % r.get("sighup"),
        "mem_limit_mb": a.mem,
        "rss_peak_mb": round(max(rss) / 1024, 1) if rss else None,
        "rss_peak_vs_m": round(max(rss) / 1024 / a.mem, 3) if rss else None,
        "rss_start_mb": round(rss[0] / 1024, 1) if rss else None,
        "rss_end_mb": round(rss[-1] / 1024, 1) if rss else None,
        "rss_every_10s_mb": [round(kb / 1024, 1) for t, kb in r.get("rss", [])[::10]],
        "evictions": (r.get("final_stats") or {}).get("evictions"),
        "curr_items": (r.get("final_stats") or {}).get("curr_items"),
        "server_died": bool(r.get("server_dead")),
        "exit_code": ex.get("exit_code"),
        "exit_seconds": ex.get("exit_seconds"),
        "exit_with_conns": "%d idle + %d stuck" % (ex.get("idle_conns", 0),
                                                   ex.get("stuck_conns", 0)),
        "snapshot_bytes_at_exit": ex.get("snapshot_bytes_at_exit"),
        "details": r.get("details", []),
        "fatal": r.get("fatal"),
    }
    s["ok"] = (s["lost"] == 0 and s["corrupt"] == 0 and s["exit_code"] == 0
               and not s["fatal"])
    return s


def print_report(a, sums, exits):
    names = [s["server"] for s in sums]
    rows = [
        ("minutes run", "minutes"), ("operations", "ops"), ("ops/s", "ops_per_sec"),
        ("values verified", "values_checked"), ("LOST values", "lost"),
        ("CORRUPT values", "corrupt"), ("misses after evictions", "miss_evicted"),
        ("errors (unexpected replies)", "errors"), ("evictions (stats)", "evictions"),
        ("items at end", "curr_items"), ("-m (MB)", "mem_limit_mb"),
        ("RSS start (MB)", "rss_start_mb"), ("RSS peak (MB)", "rss_peak_mb"),
        ("RSS peak / -m", "rss_peak_vs_m"), ("RSS end (MB)", "rss_end_mb"),
        ("SIGHUP", "sighup"), ("snapshot cmds (busy)", None),
        ("exit code after SIGTERM", "exit_code"), ("time to exit (s)", "exit_seconds"),
        ("conns open at SIGTERM", "exit_with_conns"),
    ]
    w = max(24, max(len(str(s.get(k))) for s in sums for _, k in rows if k) + 2)
    print("\n%-30s" % "" + "".join("%*s" % (w, n) for n in names))
    for label, k in rows:
        if k is None:
            vals = ["%d (%d)" % (s["faults"].get("snapshot", 0), s["snapshot_busy"])
                    if s["server"] == "ours" else "-" for s in sums]
        else:
            vals = [s.get(k) for s in sums]
        print("%-30s" % label + "".join("%*s" % (w, "-" if v is None else v) for v in vals))
    kinds = sorted({k for s in sums for k in s["faults"]})
    print("%-30s" % "faults injected:")
    for k in kinds:
        print("%-30s" % ("  " + k) + "".join("%*s" % (w, s["faults"].get(k, 0)) for s in sums))
    for s in sums:
        print("\n[%s] %s" % (s["server"], s["argv"]))
        print("  RSS every 10 s (MB): %s" % " ".join(str(x) for x in s["rss_every_10s_mb"]))
        if s["lost_by"]:
            print("  lost by origin (+fault): %s" % s["lost_by"])
        if s["corrupt_by"]:
            print("  corrupt by origin: %s" % s["corrupt_by"])
        if s["errors_by"]:
            print("  errors by kind: %s" % s["errors_by"])
        if s["fatal"]:
            print("  FATAL: %s" % s["fatal"])
        for d in sorted(s["details"], key=lambda d: " error: " in d)[:40]:
            print("  " + d.replace("\n", "\n    "))
        if s["exit_code"] != 0:
            print("  server log tail:\n    " +
                  exits[s["server"]].get("log_tail", "").replace("\n", "\n    "))


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", "--ours", dest="bin", default=DEFAULT_BIN,
                    help="our server (default build-hc/memcached in the repo)")
    ap.add_argument("--ref", default=bl.DEFAULT_REF, help="reference (/usr/bin/memcached)")
    ap.add_argument("--minutes", type=float, default=2, help="load time per server (2)")
    ap.add_argument("--seconds", type=float, help="load time in seconds (overrides --minutes)")
    ap.add_argument("--mode", choices=("concurrent", "sequential"), default="concurrent",
                    help="both servers at once (default) or ours then the reference")
    ap.add_argument("--only", choices=("ours", "ref"), help="run one server only")
    ap.add_argument("--workers", type=int, default=4, help="load threads per server (4)")
    ap.add_argument("--keys", type=int, default=1500, help="blob keys per worker (1500)")
    ap.add_argument("--counters", type=int, default=50, help="counter keys per worker (50)")
    ap.add_argument("--mem", type=int, default=1024, help="-m / memory-limit in MB (1024)")
    ap.add_argument("--threads", type=int, default=4, help="server -t (4)")
    ap.add_argument("--fault-scale", type=float, default=1.0,
                    help="multiply every fault rate (0 = no faults; 1)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--op-timeout", type=float, default=20, help="socket timeout, s (20)")
    ap.add_argument("--snapshot-timeout", type=float, default=60)
    ap.add_argument("--idle-at-exit", type=int, default=200,
                    help="idle connections open at SIGTERM (200)")
    ap.add_argument("--stuck-at-exit", type=int, default=100,
                    help="connections with an unread multiget reply at SIGTERM (100)")
    ap.add_argument("--slow-exit", type=float, default=5,
                    help="warn when the exit after SIGTERM takes longer (5 s)")
    ap.add_argument("--exit-timeout", type=float, default=30,
                    help="SIGKILL after this many s without exit (30)")
    ap.add_argument("--ours-args", default="", help="extra flags for our server")
    ap.add_argument("--ref-args", default="", help="extra flags for the reference")
    ap.add_argument("--json", help="also write the full results to this file")
    a = ap.parse_args()
    a.duration = a.seconds if a.seconds is not None else a.minutes * 60
    if not 1 <= a.duration <= 24 * 3600:
        ap.error("duration must be 1 s .. 24 h")
    if not (1 <= a.workers <= 64 and 100 <= a.keys <= 1000000 and 1 <= a.counters <= 100000):
        ap.error("--workers 1..64, --keys 100..1e6, --counters 1..1e5")
    if a.fault_scale < 0 or a.fault_scale > 20:
        ap.error("--fault-scale 0..20")
    return a


def main():
    a = parse_args()
    try:
        import resource
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        want = min(hard, max(soft, a.idle_at_exit + 4096))
        if want > soft:
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    except (ImportError, ValueError, OSError):
        pass
    soak = Soak(a)

    def on_signal(signum, frame):
        soak.cleanup()
        sys.stderr.write("interrupted (signal %d), servers stopped\n" % signum)
        os._exit(130)

    for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(s, on_signal)
    names = [a.only] if a.only else ["ours", "ref"]
    results, exits, infos = {}, {}, {}
    try:
        print("soak: %s, %.0f s of load per server, %d workers x (%d blob + %d counter keys), "
              "-t %d, -m %d, fault scale %g, seed %d" % (
                  "one server" if a.only else a.mode, a.duration, a.workers, a.keys,
                  a.counters, a.threads, a.mem, a.fault_scale, a.seed), flush=True)
        groups = [names] if a.mode == "concurrent" else [[n] for n in names]
        for g in groups:
            for n in g:
                infos[n] = soak.start(n)
                print("  %s: pid %d port %d: %s" % (n, infos[n]["pid"], infos[n]["port"],
                                                    " ".join(infos[n]["argv"])), flush=True)
            results.update(soak.run_drivers(g, infos))
            for n in g:
                exits[n] = soak.shutdown(n, infos[n]["port"])
    except RuntimeError as e:
        print("setup failed: %s" % e, file=sys.stderr)
        soak.cleanup()
        return 2
    finally:
        soak.cleanup()
    sums = [summarize(n, a, results[n], exits[n], infos[n]) for n in names]
    print_report(a, sums, exits)
    ok = all(s["ok"] for s in sums)
    for s in sums:
        if isinstance(s["exit_seconds"], (int, float)) and s["exit_seconds"] > a.slow_exit:
            print("WARNING: %s took %.1f s to exit after SIGTERM (%s open)" % (
                s["server"], s["exit_seconds"], s["exit_with_conns"]))
    print("\nRESULT: %s" % ("PASS" if ok else "FAIL (" + "; ".join(
        "%s: lost %d, corrupt %d, exit %s%s" % (s["server"], s["lost"], s["corrupt"],
                                                s["exit_code"],
                                                ", driver failed" if s["fatal"] else "")
        for s in sums if not s["ok"]) + ")"))
    out = {"mode": a.mode if not a.only else "single", "seconds": a.duration,
           "workers": a.workers, "keys_per_worker": a.keys + a.counters, "seed": a.seed,
           "ok": ok,
           "servers": {s["server"]: {k: v for k, v in s.items()
                                     if k not in ("details", "argv", "binary")} for s in sums}}
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"summary": out, "full": sums, "rss": {n: results[n].get("rss")
                                                             for n in names}}, f, indent=1)
    print(json.dumps(out, sort_keys=True))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
