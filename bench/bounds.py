#!/usr/bin/env python3
"""What one misbehaving client (or a shutdown) costs each server, side by side.

For our server, Debian's memcached 1.6.18, memcached 1.6.45 (if present) and
optionally an older build of ours (--old-bin), in one run:

 1. multiget: RSS growth while one client that never reads has sent ONE
    `get` line naming a 2 KB item 200,000 times (a 400 KB line; ~400 MB of
    replies); then the socket is closed and the server must still answer.
 2. metadump: RSS growth while `lru_crawler metadump all` of a ~1 GB cache
    is sent to a client that never reads (--cache-mb scales the cache).
 3. shutdown: SIGTERM with 50 busy connections (idle, mid-line, mid-value,
    unread multiget, awaiting STORED): exit code and seconds to exit; ours
    also with -o snapshot_path (was the snapshot written?).
 4. close: items stored after 1000 pipelined `set ... noreply` then close();
    MN lines received after 100 `mn` then shutdown(SHUT_WR).

Stdlib only; loopback, free ports, every loop bounded in count and time,
every server killed at exit (benchlib).  Table, then one JSON line.
Exit status: 0 if every server stayed up and measured, 1 if a server died or
hung where it should not, 2 on setup failure.
"""
import argparse
import datetime
import json
import os
import select
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib  # noqa: E402

REPO = benchlib.REPO
MB = 1024.0 * 1024.0


# ---------------------------------------------------------------- helpers

def small_rcvbuf_conn(port, rcvbuf=64 * 1024, timeout=10.0):
    """Connect with SO_RCVBUF set before connect() (so the window stays small)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.settimeout(timeout)
    s.connect(("127.0.0.1", port))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def send_bounded(sock, data, seconds):
    """Send as much of data as the peer takes within seconds; return bytes sent."""
    sock.setblocking(False)
    sent = 0
    deadline = time.time() + seconds
    view = memoryview(data)
    while sent < len(data) and time.time() < deadline:
        _r, w, _x = select.select([], [sock], [], 0.2)
        if not w:
            continue
        try:
            sent += sock.send(view[sent:sent + (1 << 20)])
        except (BlockingIOError, InterruptedError):
            continue
        except OSError:
            break
    return sent


def rss_mb(pid):
    try:
        return benchlib.rss_kb(pid) / 1024.0
    except OSError:
        return None


def sample_rss_until_flat(pid, max_s=10.0, flat_s=2.0, min_s=1.0, step=0.2):
    """Sample VmRSS until it has not grown for flat_s (after min_s) or max_s; return peak MB."""
    t0 = time.time()
    peak = rss_mb(pid) or 0.0
    last_growth = t0
    for _ in range(int(max_s / step) + 2):
        now = time.time()
        if now - t0 >= max_s:
            break
        if now - t0 >= min_s and now - last_growth >= flat_s:
            break
        time.sleep(step)
        r = rss_mb(pid)
        if r is None:
            break
        if r > peak + 0.25:          # ignore page-level jitter
            last_growth = time.time()
        peak = max(peak, r)
    return peak, time.time() - t0


def answers(port, timeout=5.0):
    """True if a fresh connection gets VERSION within timeout."""
    try:
        c = benchlib.Client(port, timeout=timeout)
        try:
            c.send(b"version\r\n")
            return c.line().startswith(b"VERSION")
        finally:
            c.close()
    except (OSError, RuntimeError):
        return False


def quiet_close(sock):
    try:
        sock.close()
    except OSError:
        pass


def fmt(v, spec="%.1f"):
    if v is None:
        return "-"
    if isinstance(v, bool):
        return "yes" if v else "NO"
    if isinstance(v, float):
        return spec % v
    return str(v)


# ---------------------------------------------------------------- tests

def test_multiget(srv, args):
    """1: one unread 400 KB get line of 200,000 copies of a 2 KB item's key."""
    c = benchlib.Client(srv.port, timeout=10)
    val = b"v" * 2048
    c.send(b"set a 0 0 2048\r\n" + val + b"\r\n")
    if c.line() != b"STORED":
        raise RuntimeError("set a not stored")
    c.close()
    time.sleep(0.3)
    base = rss_mb(srv.pid)
    s = small_rcvbuf_conn(srv.port)
    line = b"get" + b" a" * args.mg_keys + b"\r\n"
    sent = send_bounded(s, line, 10.0)
    peak, secs = sample_rss_until_flat(srv.pid, max_s=10.0)
    quiet_close(s)
    time.sleep(0.5)
    alive = srv.alive()
    ok = alive and answers(srv.port)
    after = rss_mb(srv.pid) if alive else None
    return {"rss_before_mb": base, "rss_peak_mb": peak,
            "grown_mb": (peak - base) if base is not None else None,
            "sampled_s": secs, "line_bytes": len(line), "line_sent": sent,
            "rss_after_close_mb": after, "answers_after": ok}


def fill(port, n_items, vsize, seconds):
    """Pipelined noreply sets of keys m<i>; bounded in time. Returns (sent, secs)."""
    c = benchlib.Client(port, timeout=max(30.0, seconds))
    val = b"x" * vsize
    tail = b" 0 0 %d noreply\r\n" % vsize
    chunk = 10000
    t0 = time.time()
    i = 0
    try:
        while i < n_items and time.time() - t0 < seconds:
            j = min(n_items, i + chunk)
            c.send(b"".join(b"set m%d%s%s\r\n" % (k, tail, val) for k in range(i, j)))
            i = j
        c.send(b"version\r\n")
        if not c.line().startswith(b"VERSION"):
            raise RuntimeError("fill: no VERSION")
    finally:
        c.close()
    return i, time.time() - t0


def test_metadump(srv, args):
    """2: `lru_crawler metadump all` of a ~cache_mb cache, never read."""
    n = int(args.cache_mb * MB / (args.md_value + 100))   # ~100 B key+header+slack
    sent, fsecs = fill(srv.port, n, args.md_value, args.fill_timeout)
    c = benchlib.Client(srv.port, timeout=10)
    items = int(c.stats().get("curr_items", "0"))
    c.close()
    time.sleep(1.0)
    base = rss_mb(srv.pid)
    s = small_rcvbuf_conn(srv.port)
    s.sendall(b"lru_crawler metadump all\r\n")
    peak, secs = sample_rss_until_flat(srv.pid, max_s=args.md_wait, flat_s=3.0, min_s=3.0)
    try:                              # the dump did start (peek, consumes nothing)
        started = b"key=" in s.recv(64, socket.MSG_PEEK | socket.MSG_DONTWAIT)
    except OSError:
        started = False
    quiet_close(s)
    time.sleep(1.0)
    alive = srv.alive()
    ok = alive and answers(srv.port)
    again = alive and dump_again(srv.port)
    return {"items": items, "sets_sent": sent, "fill_s": fsecs,
            "rss_before_mb": base, "rss_peak_mb": peak,
            "grown_mb": (peak - base) if base is not None else None,
            "sampled_s": secs, "dump_started": started, "answers_after": ok,
            "dump_again": again}


def dump_again(port, seconds=10.0):
    """After the unread dump's client closed, does a new metadump start
    (a `key=...` line; 1.6.45 sends `OK` first) within seconds?  Retries
    while the crawler says BUSY."""
    deadline = time.time() + seconds
    for _ in range(50):
        if time.time() >= deadline:
            return False
        try:
            c = benchlib.Client(port, timeout=max(0.5, deadline - time.time()))
        except OSError:
            return False
        try:
            c.send(b"lru_crawler metadump all\r\n")
            ln = c.line()
            if ln == b"OK":
                ln = c.line()
        except (OSError, RuntimeError):
            ln = b""
        finally:
            c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            c.close()                 # RST: the rest of the dump is not wanted
        if ln.startswith(b"key="):
            return True
        if not ln.startswith(b"BUSY"):
            return False
        time.sleep(0.2)
    return False


def test_shutdown(srv, args):
    """3: SIGTERM with 50 busy connections; exit code and time."""
    c = benchlib.Client(srv.port, timeout=10)
    v = b"s" * 4096
    c.send(b"".join(b"set s%d 0 0 4096\r\n%s\r\n" % (i, v) for i in range(1, 21)))
    for _ in range(20):
        if c.line() != b"STORED":
            raise RuntimeError("shutdown test: set not stored")
    c.close()
    socks = {"idle": [], "midline": [], "midvalue": [], "multiget": [], "await": []}
    mg = b"get " + b" ".join(b"s%d" % (1 + k % 20) for k in range(args.sd_keys)) + b"\r\n"
    for i in range(10):
        socks["idle"].append(small_rcvbuf_conn(srv.port))
        s = small_rcvbuf_conn(srv.port)
        s.sendall(b"get s1 s2")
        socks["midline"].append(s)
        s = small_rcvbuf_conn(srv.port)
        s.sendall(b"set z 0 0 100\r\nabc")
        socks["midvalue"].append(s)
        s = small_rcvbuf_conn(srv.port, rcvbuf=16 * 1024)
        send_bounded(s, mg, 2.0)
        socks["multiget"].append(s)
        s = small_rcvbuf_conn(srv.port)
        s.sendall(b"set w%d 0 0 10\r\n0123456789\r\n" % i)
        socks["await"].append(s)
    time.sleep(0.5)
    rss = rss_mb(srv.pid)
    t0 = time.time()
    srv.proc.send_signal(signal.SIGTERM)
    try:
        rc = srv.proc.wait(timeout=args.exit_timeout)
        secs = time.time() - t0
    except subprocess.TimeoutExpired:
        srv.proc.kill()
        srv.proc.wait(timeout=5)
        rc, secs = "killed", None
    stored = 0
    for s in socks["await"]:
        s.settimeout(1.0)
        buf = b""
        try:
            for _ in range(10):
                d = s.recv(4096)
                if not d:
                    break
                buf += d
        except OSError:
            pass
        stored += buf.startswith(b"STORED\r\n")
    for lst in socks.values():
        for s in lst:
            quiet_close(s)
    return {"exit_code": rc, "exit_s": secs, "rss_mb": rss, "await_stored": stored}


def test_close(srv, args):
    """4: 1000 noreply sets then close(); 100 `mn` then shutdown(SHUT_WR)."""
    s = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
    s.sendall(b"".join(b"set k%d 0 0 1 noreply\r\nx\r\n" % i for i in range(args.close_sets)))
    s.close()
    keys = [b"k%d" % i for i in range(args.close_sets)]
    c = benchlib.Client(srv.port, timeout=10)
    prev, count = -1, 0
    for _ in range(15):               # until two counts agree, <= ~5 s
        time.sleep(0.3)
        count = 0
        for b in range(0, len(keys), 250):
            count += len(c.multiget(keys[b:b + 250]))
        if count == prev:
            break
        prev = count
    c.close()

    s = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
    s.sendall(b"mn\r\n" * args.close_mn)
    s.shutdown(socket.SHUT_WR)
    buf = b""
    deadline = time.time() + 5.0
    eof = False
    while time.time() < deadline:
        s.settimeout(max(0.05, deadline - time.time()))
        try:
            d = s.recv(65536)
        except socket.timeout:
            break
        except OSError:
            break
        if not d:
            eof = True
            break
        buf += d
    s.close()
    return {"stored": count, "of": args.close_sets,
            "mn": buf.count(b"MN\r\n"), "mn_of": args.close_mn, "mn_eof": eof}


# ---------------------------------------------------------------- driver

def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bin", default=os.path.join(REPO, "build-he", "memcached"),
                    help="our server (default build-he/memcached)")
    ap.add_argument("--ref", default=benchlib.DEFAULT_REF, help="memcached 1.6.18")
    ap.add_argument("--new-ref", default="/work/shared/reference/memcached-1.6.45",
                    help="memcached 1.6.45 (skipped with a note if absent)")
    ap.add_argument("--old-bin", default=None,
                    help="an older build of ours, shown as 'before this issue'")
    ap.add_argument("--old-label", default="ours before this issue")
    ap.add_argument("--tests", default="1234", help="which tests (default 1234)")
    ap.add_argument("--threads", type=int, default=2, help="-t for every server (2)")
    ap.add_argument("--cache-mb", type=float, default=1024,
                    help="test 2: MB of values to fill (default 1024)")
    ap.add_argument("--md-value", type=int, default=600, help="test 2: value size (600)")
    ap.add_argument("--md-mem", type=int, default=2048, help="test 2: -m (2048)")
    ap.add_argument("--md-wait", type=float, default=8.0,
                    help="test 2: max seconds to watch RSS after the metadump (8)")
    ap.add_argument("--fill-timeout", type=float, default=120.0,
                    help="test 2: max seconds to fill one server (120)")
    ap.add_argument("--mg-keys", type=int, default=200000, help="test 1: keys in the line")
    ap.add_argument("--sd-keys", type=int, default=5000,
                    help="test 3: keys in each unread multiget (5000 x 4 KB)")
    ap.add_argument("--exit-timeout", type=float, default=30.0,
                    help="test 3: SIGKILL after this many seconds")
    ap.add_argument("--close-sets", type=int, default=1000)
    ap.add_argument("--close-mn", type=int, default=100)
    ap.add_argument("--json", help="also write the results here")
    args = ap.parse_args()

    servers = [("ours", args.bin), ("memcached 1.6.18", args.ref)]
    notes = []
    if os.path.isfile(args.new_ref) and os.access(args.new_ref, os.X_OK):
        servers.append(("memcached 1.6.45", args.new_ref))
    else:
        notes.append("memcached 1.6.45 not found at %s: skipped" % args.new_ref)
    if args.old_bin:
        servers.append((args.old_label, args.old_bin))
    for name, b in servers:
        if not (os.path.isfile(b) and os.access(b, os.X_OK)):
            sys.stderr.write("%s: %s not found or not executable\n" % (name, b))
            return 2
    ours_like = {"ours", args.old_label}

    res = {name: {} for name, _ in servers}
    bad = []
    tmp = tempfile.mkdtemp(prefix="bounds-")
    common = dict(threads=args.threads, conns=1024)

    def run(name, binary, test, fn, mem=64, extra=()):
        try:
            srv = benchlib.start_server(name, binary, mem_mb=mem, extra=extra, **common)
        except RuntimeError as e:
            sys.stderr.write("%s\n" % e)
            res[name][test] = {"error": "did not start"}
            bad.append("%s %s: did not start" % (name, test))
            return None
        try:
            r = fn(srv, args)
        except (OSError, RuntimeError) as e:
            r = {"error": str(e)[:200]}
            bad.append("%s %s: %s" % (name, test, e))
        if not test.startswith("shutdown") and not srv.alive():
            r["died"] = True
            bad.append("%s %s: server died (rc %s)" % (name, test, srv.proc.returncode))
        benchlib.stop(srv)
        res[name][test] = r
        print("  %-24s %-9s %s" % (name, test, json.dumps(r, default=str)), flush=True)
        return r

    try:
        for name, binary in servers:
            if "1" in args.tests:
                run(name, binary, "multiget", test_multiget)
                if res[name]["multiget"].get("answers_after") is False:
                    bad.append("%s multiget: no answer after close" % name)
            if "2" in args.tests:
                run(name, binary, "metadump", test_metadump, mem=args.md_mem)
                if res[name]["metadump"].get("answers_after") is False:
                    bad.append("%s metadump: no answer after close" % name)
            if "3" in args.tests:
                run(name, binary, "shutdown", test_shutdown)
                if name in ours_like:
                    snap = os.path.join(tmp, "s-%d.snap" % len(res[name]))
                    r = run(name, binary, "shutdown_snap", test_shutdown,
                            extra=("-o", "snapshot_path=" + snap))
                    if r is not None:
                        r["snapshot_written"] = os.path.isfile(snap) and os.path.getsize(snap) > 0
                        r["snapshot_bytes"] = os.path.getsize(snap) if os.path.isfile(snap) else 0
                        if os.path.isfile(snap):
                            os.unlink(snap)
            if "4" in args.tests:
                run(name, binary, "close", test_close)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    # ---- table
    names = [n for n, _ in servers]
    rows = []

    def row(label, test, fn):
        cells = []
        for n in names:
            r = res[n].get(test)
            if r is None:
                cells.append("")
            elif "error" in r:
                cells.append("ERR")
            else:
                cells.append(fn(r))
        rows.append([label] + cells)

    if "1" in args.tests:
        row("1 multiget 200k x 2 KB unread: RSS grown MB", "multiget",
            lambda r: fmt(r["grown_mb"]))
        row("  RSS before -> peak MB", "multiget",
            lambda r: "%s -> %s" % (fmt(r["rss_before_mb"]), fmt(r["rss_peak_mb"])))
        row("  line bytes taken by server", "multiget",
            lambda r: "%d/%d" % (r["line_sent"], r["line_bytes"]))
        row("  answers after close (RSS MB)", "multiget",
            lambda r: "%s (%s)" % (fmt(r["answers_after"]), fmt(r["rss_after_close_mb"])))
    if "2" in args.tests:
        row("2 metadump unread: RSS grown MB", "metadump", lambda r: fmt(r["grown_mb"]))
        row("  items (fill s)", "metadump",
            lambda r: "%d (%.0f s)" % (r["items"], r["fill_s"]))
        row("  RSS before -> peak MB", "metadump",
            lambda r: "%s -> %s" % (fmt(r["rss_before_mb"]), fmt(r["rss_peak_mb"])))
        row("  dump had started (peeked key=)", "metadump", lambda r: fmt(r["dump_started"]))
        row("  after close: answers / new dump starts", "metadump",
            lambda r: "%s / %s" % (fmt(r["answers_after"]), fmt(r["dump_again"])))
    if "3" in args.tests:
        row("3 SIGTERM, 50 busy conns: exit code, s", "shutdown",
            lambda r: "%s, %s" % (r["exit_code"], fmt(r["exit_s"], "%.2f")))
        row("  RSS with the 50 conns open, MB", "shutdown", lambda r: fmt(r["rss_mb"]))
        row("  awaiting conns that got STORED", "shutdown",
            lambda r: "%d/10" % r["await_stored"])
        row("  with snapshot_path: exit code, s", "shutdown_snap",
            lambda r: "%s, %s" % (r["exit_code"], fmt(r["exit_s"], "%.2f")))
        row("  snapshot written (bytes)", "shutdown_snap",
            lambda r: "%s (%d)" % (fmt(r.get("snapshot_written")), r.get("snapshot_bytes", 0)))
    if "4" in args.tests:
        row("4 noreply sets then close(): stored", "close",
            lambda r: "%d/%d" % (r["stored"], r["of"]))
        row("  mn then SHUT_WR: MN lines", "close",
            lambda r: "%d/%d" % (r["mn"], r["mn_of"]))

    hdr = [""] + names
    widths = [max(len(str(x[i])) for x in rows + [hdr]) for i in range(len(hdr))]
    print()
    print("  ".join(str(h).ljust(w) if i == 0 else str(h).rjust(w)
                    for i, (h, w) in enumerate(zip(hdr, widths))))
    for r in rows:
        print("  ".join(str(c).ljust(w) if i == 0 else str(c).rjust(w)
                        for i, (c, w) in enumerate(zip(r, widths))))
    for n in notes:
        print("note:", n)
    if "2" in args.tests:
        print("note: test 2 filled %d items of %d-byte values (--cache-mb %.0f) into -m %d"
              % (int(args.cache_mb * MB / (args.md_value + 100)), args.md_value,
                 args.cache_mb, args.md_mem))
    for b in bad:
        print("FAILURE:", b)
    out = {"date": datetime.date.today().isoformat(),
           "servers": {n: b for n, b in servers}, "results": res, "notes": notes,
           "failures": bad}
    line = json.dumps(out, default=str, sort_keys=True)
    if args.json:
        with open(args.json, "w") as f:
            f.write(line + "\n")
    print(line)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
