#!/usr/bin/env python3
"""Idle CPU with a large cache, and how fast expired items are reclaimed.

Two measurements, every server in the same run, one server at a time:

1. idle: load N small items (16-byte key, 10-byte value, no exptime), let
   the server settle, then read its CPU time (all threads, exact
   sum_exec_runtime from /proc/<pid>/task/*/schedstat; the 10 ms tick
   count of /proc/<pid>/stat is printed too) over a window with no
   traffic: % of one core.
2. reclaim: load M items with a short TTL, then poll `stats` and report
   when curr_items fell below 1% of M and to 0, and the crawler counters.

Servers: ours (--ours, build/memcached), memcached 1.6.18 (--ref,
/usr/bin/memcached) and 1.6.45 (--ref45, /work/shared/reference/...).
Examples:
  bench/idle_cpu.py --items 5000000,50000000 --window 60
  bench/idle_cpu.py --skip-idle --reclaim-items 1000000 --ttl 5
Prints one table per measurement and a JSON line at the end (--json FILE
also writes it).  Numbers are only comparable within one run.
"""
import argparse
import json
import multiprocessing
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib  # noqa: E402

REF45 = "/work/shared/reference/memcached-1.6.45"
VALUE = b"0123456789"


def _fill_range(port, first, end, ttl, chunk=50000):
    c = benchlib.Client(port, timeout=600)
    tail = b" 0 %d %d noreply\r\n%s\r\n" % (ttl, len(VALUE), VALUE)
    i = first
    while i < end:
        j = min(end, i + chunk)
        c.send(b"".join([b"set k%015d%s" % (n, tail) for n in range(i, j)]))
        i = j
    c.send(b"version\r\n")
    ln = c.line()
    c.close()
    if not ln.startswith(b"VERSION"):
        raise RuntimeError("unexpected reply after fill: %r" % ln[:200])


def fill(port, count, ttl=0, procs=2):
    """Set keys 0..count-1 (noreply, procs connections in parallel)."""
    step = (count + procs - 1) // procs
    ps = [multiprocessing.Process(target=_fill_range,
                                  args=(port, k * step, min(count, (k + 1) * step), ttl))
          for k in range(procs) if k * step < count]
    for p in ps:
        p.start()
    for p in ps:
        p.join()
        if p.exitcode != 0:
            raise RuntimeError("fill process failed (%s)" % p.exitcode)


def cpu_ns(pid):
    """CPU time of every thread of pid, ns: sum_exec_runtime from
    /proc/<pid>/task/*/schedstat (exact, unlike the 10 ms ticks of
    /proc/<pid>/stat); threads that exited meanwhile are not counted,
    so use it only on a steady process."""
    total = 0
    for t in os.listdir("/proc/%d/task" % pid):
        try:
            with open("/proc/%d/task/%s/schedstat" % (pid, t)) as f:
                total += int(f.read().split()[0])
        except (OSError, ValueError, IndexError):
            pass
    return total


def stats(port):
    c = benchlib.Client(port, timeout=60)
    try:
        return c.stats()
    finally:
        c.close()


def num(st, k):
    try:
        return int(st.get(k, 0))
    except (TypeError, ValueError):
        return 0


def servers(args):
    out = [("ours", args.ours), ("1.6.18", args.ref), ("1.6.45", args.ref45)]
    return [(n, b) for n, b in out if b and os.path.isfile(b)]


def idle_run(name, binary, n, args):
    mem = max(1024, int(n * 200 / 1e6) + 512)       # MB: room for memcached's chunks
    srv = benchlib.start_server(name, binary, mem_mb=mem, threads=args.threads)
    try:
        t0 = time.time()
        fill(srv.port, n)
        load_s = time.time() - t0
        st = stats(srv.port)
        if num(st, "curr_items") < n * 0.99:
            raise RuntimeError("%s holds %d of %d items" % (name, num(st, "curr_items"), n))
        time.sleep(args.settle)
        c0, t0, w0 = cpu_ns(srv.pid), benchlib.cpu_seconds(srv.pid), time.time()
        time.sleep(args.window)
        c1, t1, w1 = cpu_ns(srv.pid), benchlib.cpu_seconds(srv.pid), time.time()
        st2 = stats(srv.port)
        return {"server": name, "items": n, "load_s": round(load_s, 1),
                "cpu_pct": round(100.0 * (c1 - c0) / 1e9 / (w1 - w0), 4),
                "cpu_s": round((c1 - c0) / 1e9, 4), "window_s": round(w1 - w0, 1),
                "cpu_pct_ticks": round(100.0 * (t1 - t0) / (w1 - w0), 3),
                "rss_mb": benchlib.rss_kb(srv.pid) // 1024,
                "curr_items": num(st2, "curr_items"),
                "crawler_reclaimed": num(st2, "crawler_reclaimed")}
    finally:
        benchlib.stop(srv)


def reclaim_run(name, binary, args):
    n = args.reclaim_items
    mem = max(1024, int(n * 200 / 1e6) + 512)
    srv = benchlib.start_server(name, binary, mem_mb=mem, threads=args.threads)
    try:
        t0 = time.time()
        fill(srv.port, n, ttl=args.ttl)
        t_end = time.time()
        # the last item expires ttl s (plus up to 1 s of clock granularity)
        # after the fill ended: times below are from then
        t_exp = t_end + args.ttl
        first = stats(srv.port)
        t_1pct = t_zero = None
        series = []
        while time.time() - t_exp < args.reclaim_timeout:
            st = stats(srv.port)
            t = time.time() - t_exp
            ci = num(st, "curr_items")
            series.append((round(t, 1), ci))
            if t_1pct is None and ci <= n // 100:
                t_1pct = round(t, 1)
            if ci == 0:
                t_zero = round(t, 1)
                break
            time.sleep(args.poll)
        st = stats(srv.port)
        return {"server": name, "items": n, "ttl": args.ttl,
                "load_s": round(t_end - t0, 1),
                "curr_items_after_load": num(first, "curr_items"),
                "s_to_1pct": t_1pct, "s_to_zero": t_zero,
                "curr_items_end": num(st, "curr_items"),
                "reclaimed": num(st, "reclaimed"),
                "crawler_reclaimed": num(st, "crawler_reclaimed"),
                "series": series[::max(1, len(series) // 20)]}
    finally:
        benchlib.stop(srv)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--ours", default=benchlib.DEFAULT_OURS)
    ap.add_argument("--ref", default=benchlib.DEFAULT_REF)
    ap.add_argument("--ref45", default=os.environ.get("REF45_BIN", REF45))
    ap.add_argument("--items", default="5000000,50000000",
                    help="comma-separated item counts for the idle test")
    ap.add_argument("--threads", type=int, default=4, help="server -t")
    ap.add_argument("--settle", type=float, default=30.0,
                    help="secs after the load before the idle window")
    ap.add_argument("--window", type=float, default=60.0, help="idle window, secs")
    ap.add_argument("--reclaim-items", type=int, default=1000000)
    ap.add_argument("--ttl", type=int, default=5)
    ap.add_argument("--reclaim-timeout", type=float, default=300.0)
    ap.add_argument("--poll", type=float, default=0.5)
    ap.add_argument("--skip-idle", action="store_true")
    ap.add_argument("--skip-reclaim", action="store_true")
    ap.add_argument("--only", default="", help="comma-separated server names to run")
    ap.add_argument("--json", default="")
    args = ap.parse_args()
    srvs = servers(args)
    if args.only:
        keep = set(args.only.split(","))
        srvs = [s for s in srvs if s[0] in keep]
    result = {"idle": [], "reclaim": []}
    if not args.skip_idle:
        for n in [int(x) for x in args.items.split(",") if x]:
            for name, binary in srvs:
                r = idle_run(name, binary, n, args)
                result["idle"].append(r)
                print("idle  %-7s %9d items: %7.4f%% of a core over %.0f s (ticks: %.3f%%; "
                      "load %.0f s, rss %d MB)" % (name, n, r["cpu_pct"], r["window_s"],
                                                   r["cpu_pct_ticks"], r["load_s"],
                                                   r["rss_mb"]), flush=True)
    if not args.skip_reclaim:
        for name, binary in srvs:
            r = reclaim_run(name, binary, args)
            result["reclaim"].append(r)
            print("reclaim %-7s %d items TTL %d s: <=1%% left after %s s, 0 after %s s "
                  "(after the last TTL ran out); crawler_reclaimed %d, reclaimed %d"
                  % (name, r["items"], r["ttl"], r["s_to_1pct"], r["s_to_zero"],
                     r["crawler_reclaimed"], r["reclaimed"]), flush=True)
    line = json.dumps(result)
    print(line)
    if args.json:
        with open(args.json, "w") as f:
            f.write(line + "\n")


if __name__ == "__main__":
    main()
