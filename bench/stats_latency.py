#!/usr/bin/env python3
"""Latency of `get` while another connection loops `stats items` / `stats slabs`.

A `stats items` or `stats slabs` that walks every item under a storage lock
stalls the server for a time that grows with the cache; memcached answers
both in O(number of slab classes).  This measures it, side by side:

The servers (ours, optionally --old = another build of ours, and the
reference memcached) run side by side with the same flags (-m M -t T
-c 4096 -U 0 -l 127.0.0.1, -u root as root):
  1. each is filled with --items items (16-byte keys, --value-size byte
     values), pipelined over --fill-conns connections, and checked;
  2. then --rounds rounds, each running on every server in turn (so a
     change in the machine's load hits all of them alike):
     phase "idle":  --get-conns connections each send `get <random key>`,
                    one request in flight, for --secs seconds (closed loop);
     phase "stats": the same, while one more connection sends
                    `stats items` and `stats slabs` back to back.
It prints p50/p99/p99.9/max get latency per server and phase (all rounds
pooled, and the median of the per-round p99s), how long one stats command
took, and the ratios ours/ref with the stats loop running.
Every loop is bounded in count and in time; every server is stopped at the
end (also on error or Ctrl-C).  Standard library only.

Absolute numbers depend on the machine (and on this Python client, which
adds tens of microseconds per request): compare the rows of one run only.

Examples:
  bench/stats_latency.py --items 1000000 --secs 3
  bench/stats_latency.py --ours build/memcached --old /tmp/old/build/memcached -m 2048
"""
import argparse
import array
import json
import multiprocessing as mp
import os
import random
import socket
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib as bl  # noqa: E402


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ours", default=bl.DEFAULT_OURS,
                    help="our server binary (env OURS_BIN; default build/memcached)")
    ap.add_argument("--old", default=None,
                    help="another build of ours to measure too (e.g. before a change)")
    ap.add_argument("--ref", default=bl.DEFAULT_REF,
                    help="reference binary (env REF_BIN; default /usr/bin/memcached); "
                         "'none' to skip")
    ap.add_argument("--items", type=int, default=10_000_000, help="items to fill (10M)")
    ap.add_argument("--value-size", type=int, default=10, help="value bytes (10)")
    ap.add_argument("-m", "--mem", type=int, default=2048, help="server -m in MB (2048)")
    ap.add_argument("-t", "--server-threads", type=int, default=4, help="server -t (4)")
    ap.add_argument("--get-conns", type=int, default=4,
                    help="get connections, one process each (4: with -t 4 one of them "
                         "shares a worker thread with the stats connection)")
    ap.add_argument("--fill-conns", type=int, default=2, help="fill connections (2)")
    ap.add_argument("--secs", type=float, default=4.0, help="seconds per phase (4)")
    ap.add_argument("--rounds", type=int, default=3, help="rounds over all servers (3)")
    ap.add_argument("--max-gets", type=int, default=2_000_000,
                    help="cap on gets per connection per phase (2M)")
    ap.add_argument("--max-stats", type=int, default=100_000,
                    help="cap on stats commands per phase (100k)")
    ap.add_argument("--fill-timeout", type=float, default=1800,
                    help="give up if filling one server takes longer (s, 1800)")
    ap.add_argument("--json", help="also write the results to this file")
    a = ap.parse_args()
    if not 1 <= a.items <= 100_000_000:
        ap.error("--items must be in 1..100M")
    if not 1 <= a.value_size <= 100_000:
        ap.error("--value-size must be in 1..100000")
    if not 0 < a.secs <= 300 or not 1 <= a.rounds <= 20:
        ap.error("--secs must be in (0, 300], --rounds in 1..20")
    if not 1 <= a.get_conns <= 64 or not 1 <= a.fill_conns <= 16:
        ap.error("--get-conns must be 1..64, --fill-conns 1..16")
    return a


# ---------------------------------------------------------------- workers

def _recv_until_end(sock, buf, deadline):
    """Read until the reply ends with END\\r\\n; returns (reply bytes, rest)."""
    while True:
        i = buf.find(b"END\r\n")
        # END must start a line (a value could contain "END\r\n")
        while i >= 0 and not (i == 0 or buf[i - 2:i] == b"\r\n"):
            i = buf.find(b"END\r\n", i + 1)
        if i >= 0:
            return buf[:i + 5], buf[i + 5:]
        if time.monotonic() > deadline:
            raise RuntimeError("no END within the time limit")
        d = sock.recv(1 << 20)
        if not d:
            raise RuntimeError("server closed the connection")
        buf += d


def _connect(port):
    s = socket.create_connection(("127.0.0.1", port), timeout=60)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def get_worker(port, nitems, seed, start_at, secs, max_gets, q):
    """Closed-loop gets of random keys from start_at for secs seconds."""
    try:
        s = _connect(port)
        rnd = random.Random(seed)
        lat = array.array("Q")
        hits = 0
        buf = b""
        while time.time() < start_at:
            time.sleep(0.001)
        end = time.monotonic() + secs
        n = 0
        while n < max_gets and time.monotonic() < end:
            t0 = time.perf_counter_ns()
            s.sendall(b"get " + bl.key16(rnd.randrange(nitems)) + b"\r\n")
            reply, buf = _recv_until_end(s, buf, time.monotonic() + 60)
            lat.append(time.perf_counter_ns() - t0)
            if reply.startswith(b"VALUE "):
                hits += 1
            n += 1
        s.close()
        q.put(("get", lat.tobytes(), hits, None))
    except Exception as e:  # reported by the parent
        q.put(("get", b"", 0, "%s: %s" % (type(e).__name__, e)))


def stats_worker(port, start_at, secs, max_stats, q):
    """`stats items` / `stats slabs` back to back from start_at - 0.2 s for
    secs + 0.4 s (so the gets of the phase always run alongside)."""
    try:
        s = _connect(port)
        lat = array.array("Q")
        buf = b""
        lines = 0
        while time.time() < start_at - 0.2:
            time.sleep(0.001)
        end = time.monotonic() + secs + 0.4
        n = 0
        while n < max_stats and time.monotonic() < end:
            cmd = b"stats items\r\n" if n % 2 == 0 else b"stats slabs\r\n"
            t0 = time.perf_counter_ns()
            s.sendall(cmd)
            reply, buf = _recv_until_end(s, buf, time.monotonic() + 120)
            lat.append(time.perf_counter_ns() - t0)
            lines += reply.count(b"\r\n")
            n += 1
        s.close()
        q.put(("stats", lat.tobytes(), lines, None))
    except Exception as e:
        q.put(("stats", b"", 0, "%s: %s" % (type(e).__name__, e)))


def fill_worker(port, first, count, size, q):
    try:
        bl.fill_noreply(port, first, count, size)
        q.put(("fill", None))
    except Exception as e:
        q.put(("fill", "%s: %s" % (type(e).__name__, e)))


# ---------------------------------------------------------------- helpers

def pct(sorted_ns, p):
    if not sorted_ns:
        return float("nan")
    i = max(0, min(len(sorted_ns) - 1, int(-(-p * len(sorted_ns) // 100)) - 1))
    return sorted_ns[i]


def summarize(ns):
    v = sorted(ns)
    return {"n": len(v), "p50_us": pct(v, 50) / 1e3, "p99_us": pct(v, 99) / 1e3,
            "p999_us": pct(v, 99.9) / 1e3, "max_us": (v[-1] / 1e3) if v else float("nan")}


def collect(q, procs, want, timeout):
    """Wait for `want` messages (bounded), then join the processes."""
    out = []
    deadline = time.monotonic() + timeout
    while len(out) < want:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        try:
            out.append(q.get(timeout=min(left, 1.0)))
        except Exception:
            if not any(p.is_alive() for p in procs) and q.empty():
                break
    for p in procs:
        p.join(timeout=5)
        if p.is_alive():
            p.terminate()
            p.join(timeout=5)
    if len(out) < want:
        raise RuntimeError("only %d of %d workers reported within %.0f s"
                           % (len(out), want, timeout))
    return out


def fill(a, port, ctx):
    q = ctx.Queue()
    per = -(-a.items // a.fill_conns)
    procs = []
    for i in range(a.fill_conns):
        first = i * per
        count = min(per, a.items - first)
        if count <= 0:
            continue
        p = ctx.Process(target=fill_worker, args=(port, first, count, a.value_size, q))
        p.start()
        procs.append(p)
    res = collect(q, procs, len(procs), a.fill_timeout)
    errs = [r[1] for r in res if r[1]]
    if errs:
        raise RuntimeError("fill failed: %s" % errs[0])


def wait_settled(port, timeout=120):
    """Wait (bounded) until the server is not growing its hash table."""
    c = bl.Client(port, timeout=60)
    try:
        end = time.monotonic() + timeout
        st = c.stats()
        while st.get("hash_is_expanding", "0") != "0" and time.monotonic() < end:
            time.sleep(0.5)
            st = c.stats()
        return st
    finally:
        c.close()


def phase(a, port, with_stats, ctx, seed):
    q = ctx.Queue()
    start_at = time.time() + 0.5
    procs = []
    for i in range(a.get_conns):
        p = ctx.Process(target=get_worker,
                        args=(port, a.items, seed * 1000 + i, start_at, a.secs, a.max_gets, q))
        p.start()
        procs.append(p)
    if with_stats:
        p = ctx.Process(target=stats_worker, args=(port, start_at, a.secs, a.max_stats, q))
        p.start()
        procs.append(p)
    res = collect(q, procs, len(procs), a.secs + 300)
    gets, hits, stats_ns, stats_lines = array.array("Q"), 0, array.array("Q"), 0
    for kind, raw, count, err in res:
        if err:
            raise RuntimeError("%s worker: %s" % (kind, err))
        arr = array.array("Q")
        arr.frombytes(raw)
        if kind == "get":
            gets.extend(arr)
            hits += count
        else:
            stats_ns.extend(arr)
            stats_lines += count
    r = {"gets": summarize(gets), "hits": hits, "raw_gets": gets, "raw_stats": stats_ns}
    if with_stats:
        r["stats"] = summarize(stats_ns)
        r["stats_lines_per_cmd"] = stats_lines / max(1, len(stats_ns))
    return r


def start_and_fill(a, name, binary, ctx):
    print("%s: %s -m %d -t %d: filling %d items of %d bytes ..."
          % (name, binary, a.mem, a.server_threads, a.items, a.value_size), flush=True)
    srv = bl.start_server(name, binary, a.mem, 4096, a.server_threads)
    t0 = time.monotonic()
    fill(a, srv.port, ctx)
    st = wait_settled(srv.port)
    fill_s = time.monotonic() - t0
    curr, ev = int(st.get("curr_items", 0)), int(st.get("evictions", 0))
    print("  filled in %.0f s: curr_items %d, evictions %d, rss %d MB"
          % (fill_s, curr, ev, bl.rss_kb(srv.pid) // 1024), flush=True)
    if curr < a.items or ev:
        print("  WARNING: not every item is held (raise -m)", flush=True)
    return srv, {"binary": binary, "curr_items": curr, "evictions": ev, "fill_s": fill_s}


def run_round(a, rnd, sides, servers, ctx, pooled):
    for i, (name, _) in enumerate(sides):
        srv = servers[name]
        for ph, with_stats in (("idle", False), ("stats", True)):
            r = phase(a, srv.port, with_stats, ctx, seed=rnd * 100 + i + 1)
            acc = pooled[name][ph]
            acc["gets"].extend(r["raw_gets"])
            acc["stats"].extend(r["raw_stats"])
            acc["hits"] += r["hits"]
            acc["p99s"].append(r["gets"]["p99_us"])
            g = r["gets"]
            extra = ""
            if with_stats:
                st = r["stats"]
                extra = ("  | %d stats cmds, p50 %.2f ms, max %.2f ms"
                         % (st["n"], st["p50_us"] / 1e3, st["max_us"] / 1e3))
            print("  round %d %-4s %-5s %7d gets  p50 %8.1f us  p99 %9.1f us  max %9.1f us%s"
                  % (rnd + 1, name, ph, g["n"], g["p50_us"], g["p99_us"], g["max_us"], extra),
                  flush=True)
            if not srv.alive():
                raise RuntimeError("%s died (exit %s)" % (name, srv.proc.returncode))


def ratio(x, y):
    return x / y if y else float("nan")


def main():
    a = parse_args()
    ctx = mp.get_context("fork")
    sides = [("ours", a.ours)]
    if a.old:
        sides.append(("old", a.old))
    if a.ref and a.ref != "none":
        sides.append(("ref", a.ref))
    t0 = time.time()
    servers, info = {}, {}
    pooled = {name: {ph: {"gets": array.array("Q"), "stats": array.array("Q"), "hits": 0,
                          "p99s": []} for ph in ("idle", "stats")} for name, _ in sides}
    try:
        for name, binary in sides:
            servers[name], info[name] = start_and_fill(a, name, binary, ctx)
        for rnd in range(a.rounds):
            run_round(a, rnd, sides, servers, ctx, pooled)
    except (RuntimeError, OSError) as e:
        print("stats_latency: %s" % e, file=sys.stderr)
        return 2
    finally:
        for srv in servers.values():
            bl.stop(srv)
    res = {}
    for name, _ in sides:
        res[name] = dict(info[name])
        for ph in ("idle", "stats"):
            acc = pooled[name][ph]
            res[name][ph] = {"gets": summarize(acc["gets"]), "hits": acc["hits"],
                             "p99_median_us": statistics.median(acc["p99s"]),
                             "p99_rounds_us": acc["p99s"]}
            if ph == "stats":
                res[name][ph]["stats"] = summarize(acc["stats"])
    hdr = "%-5s %-6s %9s %9s %10s %11s %11s %12s %13s %13s" % (
        "side", "phase", "gets", "p50 us", "p99 us", "p99 med us", "p99.9 us", "max us",
        "stats p50 ms", "stats max ms")
    print()
    print("%d items, %d-byte values, -m %d -t %d, %d get conns, %d rounds x %.0f s per phase"
          % (a.items, a.value_size, a.mem, a.server_threads, a.get_conns, a.rounds, a.secs))
    print("(p99 us: all rounds pooled; p99 med: median of the per-round p99s)")
    print(hdr)
    print("-" * len(hdr))
    for name, _ in sides:
        for ph in ("idle", "stats"):
            g = res[name][ph]["gets"]
            st = res[name][ph].get("stats")
            print("%-5s %-6s %9d %9.1f %10.1f %11.1f %11.1f %12.1f %13s %13s" % (
                name, ph, g["n"], g["p50_us"], g["p99_us"], res[name][ph]["p99_median_us"],
                g["p999_us"], g["max_us"],
                "%.3f" % (st["p50_us"] / 1e3) if st else "-",
                "%.2f" % (st["max_us"] / 1e3) if st else "-"))
    print()
    for name, _ in sides:
        r = res[name]
        print("%-4s p99 of get with the stats loop / without: %.2f" % (
            name, ratio(r["stats"]["gets"]["p99_us"], r["idle"]["gets"]["p99_us"])))
    if "ref" in res:
        ref = res["ref"]["stats"]
        for name in ("ours", "old"):
            if name in res:
                o = res[name]["stats"]
                print("%-4s/ref with the stats loop: get p99 %.2f, p99.9 %.2f, max %.2f; "
                      "stats command p50 %.2f" % (
                          name, ratio(o["gets"]["p99_us"], ref["gets"]["p99_us"]),
                          ratio(o["gets"]["p999_us"], ref["gets"]["p999_us"]),
                          ratio(o["gets"]["max_us"], ref["gets"]["max_us"]),
                          ratio(o["stats"]["p50_us"], ref["stats"]["p50_us"])))
    print("(%.0f s in all)" % (time.time() - t0))
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"args": vars(a), "results": res}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
