#!/usr/bin/env python3
"""Cache quality: miss ratio on deterministic look-aside traces, ours vs memcached.

For each trace, every server (ours, Debian's memcached 1.6.18, and memcached
1.6.45 when present) is started fresh with identical flags
(-m 64 -t 2 -U 0 -l 127.0.0.1 -p <free>, -u root as root) and gets exactly
the same request stream from build/bench/mctrace (same seed): `get`, and
`set` on a miss.  Reported per trace and server: requests, miss ratio after
the warm-up, cold misses (first requests of a key: no policy avoids them),
byte miss ratio, `stats` curr_items and evictions at the end, and the miss
ratio of ours divided by each reference's (below 1.0 = we miss less).

Traces (all Zipf popularity, --alpha 0.99 over --keys 10^7 by default):
  zipf      100-byte values
  zipf+ohw  the same, 30% of requests go to one-hit wonders (keys seen once)
  mixed     mixed sizes: 60% 16-128 B, 30% 128 B-1 KB, 10% 1-8 KB (log-uniform)
  wide      log-uniform 64 B - 100 KB (a quarter of the requests: big values)

Then "items held": bench/memfill.py's fill of -m 64 with 10/100/1000-byte
values, for each server, with the same flags.

A benchmark, not a test: nothing is judged by time.  Exit status 1 if a
replay counted an error (wrong value, protocol, connection, time limit), the
request streams differed, or a server died; 2 on setup failure.
"""
import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib as bl  # noqa: E402
import memfill  # noqa: E402

DEFAULT_REF45 = os.environ.get("REF45_BIN", "/work/shared/reference/memcached-1.6.45")
DEFAULT_MCTRACE = os.environ.get("MCTRACE", os.path.join(bl.REPO, "build", "bench", "mctrace"))

# name -> (mctrace --sizes, one-hit fraction, share of --requests)
TRACES = {
    "zipf": ("100", 0.0, 1.0),
    "zipf+ohw": ("100", 0.3, 1.0),
    "mixed": ("mixed", 0.0, 1.0),
    "wide": ("wide", 0.0, 0.25),
}


def replay(srv, trace, args):
    sizes, ohw, share = TRACES[trace]
    n = max(1000, int(args.requests * share))
    cmd = [args.mctrace, "-p", str(srv.port), "-q", "-k", str(args.keys), "-a", str(args.alpha),
           "-o", str(ohw), "-v", sizes, "-n", str(n), "-w", str(int(n * args.warmup)),
           "-W", str(args.window), "--seed", str(args.seed), "--max-seconds", str(args.max_seconds)]
    if args.pipeline:
        cmd.append("--pipeline")
    rc, out, err = bl.run_bounded(cmd, args.max_seconds + 60)
    lines = out.strip().splitlines()
    try:
        res = json.loads(lines[-1])
    except (IndexError, ValueError):
        raise RuntimeError("mctrace gave no result (rc %d): %s" % (rc, err.strip()[-1000:]))
    res["rc"] = rc
    res["stderr"] = err.strip()[-1000:]
    return res


def run_trace(trace, servers, args):
    rows = []
    for name, label, binary in servers:
        print("%-9s %-12s ..." % (trace, label), file=sys.stderr, end="", flush=True)
        srv = bl.start_server(name, binary, 64, 1024, 2, args.server_args.split())
        try:
            res = replay(srv, trace, args)
            res["alive"] = srv.alive()
            if res["alive"]:
                c = bl.Client(srv.port)
                stt = c.stats()
                c.close()
            else:
                stt = {}
        finally:
            bl.stop(srv)
        for k in ("curr_items", "evictions", "get_hits", "get_misses", "total_items"):
            res[k] = memfill._int(stt.get(k))
        res["server"], res["label"], res["trace"] = name, label, trace
        print(" miss ratio %.4f, %d items, %.1f s" % (res["miss_ratio"], res["curr_items"],
                                                     res["seconds"]), file=sys.stderr)
        rows.append(res)
    return rows


def items_held(servers, args):
    ns = argparse.Namespace(mem=64, overfill=2.5, sample=args.held_sample, server_threads=2,
                            server_args=args.server_args, **{n + "_args": "" for n, _, _ in servers})
    out = []
    for size in [int(s) for s in args.held_sizes.split(",")]:
        row = {"size": size}
        for name, label, binary in servers:
            print("items held %4d B %-12s ..." % (size, label), file=sys.stderr, end="", flush=True)
            row[name] = memfill.measure(name, binary, size, ns)
            print(" %d" % row[name]["curr_items"], file=sys.stderr)
        out.append(row)
    return out


def fmt_ratio(a, b):
    return "%.3f" % (a / b) if b else "-"


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ours", default=bl.DEFAULT_OURS, help="env OURS_BIN; default build/memcached")
    ap.add_argument("--ref", default=bl.DEFAULT_REF, help="env REF_BIN; default /usr/bin/memcached")
    ap.add_argument("--ref45", default=DEFAULT_REF45,
                    help="memcached 1.6.45 (env REF45_BIN); skipped if absent or 'none'")
    ap.add_argument("--mctrace", default=DEFAULT_MCTRACE, help="env MCTRACE; build/bench/mctrace")
    ap.add_argument("--traces", default=",".join(TRACES), help="comma list (%s)" % ",".join(TRACES))
    ap.add_argument("--requests", type=float, default=4e6,
                    help="requests per trace (4e6; wide gets a quarter)")
    ap.add_argument("--keys", type=float, default=1e7, help="Zipf key space (1e7)")
    ap.add_argument("--alpha", type=float, default=0.99, help="Zipf exponent (0.99)")
    ap.add_argument("--warmup", type=float, default=0.25,
                    help="fraction of each trace not counted (0.25)")
    ap.add_argument("--window", type=int, default=32, help="gets per batch (32)")
    ap.add_argument("--pipeline", action="store_true",
                    help="one `get` line per key instead of a multiget per batch")
    ap.add_argument("--seed", type=int, default=1, help="trace seed (1)")
    ap.add_argument("--max-seconds", type=float, default=300, help="per replay (300)")
    ap.add_argument("--server-args", default="", help="extra flags for every server")
    ap.add_argument("--no-held", action="store_true", help="skip the items-held fill")
    ap.add_argument("--held-only", action="store_true", help="only the items-held fill")
    ap.add_argument("--held-sizes", default="10,100,1000", help="items-held value sizes")
    ap.add_argument("--held-sample", type=int, default=1,
                    help="items held: verify every Nth key (memfill --sample; 1)")
    ap.add_argument("--quick", action="store_true",
                    help="2e6 requests, items held sampled 1/10 (~2-3 min)")
    ap.add_argument("--steady", action="store_true",
                    help="steady state: 1e6 keys, 16e6 requests (the cache full and the "
                         "popular keys seen before the count starts; ~20 min with three "
                         "servers); the default short traces are mostly cold misses")
    ap.add_argument("--json", help="write all results to this file")
    args = ap.parse_args()
    if args.steady:
        args.keys, args.requests = 1e6, 16e6
    if args.quick:
        args.requests = min(args.requests, 2e6)
        args.held_sample = max(args.held_sample, 10)
    traces = [t for t in args.traces.split(",") if t]
    if any(t not in TRACES for t in traces) or not 0 <= args.warmup < 1 or args.requests < 1000:
        ap.error("bad --traces/--warmup/--requests")
    args.requests, args.keys = int(args.requests), int(args.keys)
    if not os.access(args.mctrace, os.X_OK):
        print("trace: %s not built (make bench/mctrace)" % args.mctrace, file=sys.stderr)
        return 2

    servers = [("ours", "ours", args.ours), ("ref", "mc 1.6.18", args.ref)]
    if args.ref45 != "none" and os.access(args.ref45, os.X_OK):
        servers.append(("ref45", "mc 1.6.45", args.ref45))
    else:
        print("note: %s not found, comparing with 1.6.18 only" % args.ref45, file=sys.stderr)
    refs = servers[1:]

    t0 = time.time()
    results, held, bad = {}, [], []
    try:
        if not args.held_only:
            for t in traces:
                results[t] = run_trace(t, servers, args)
        if not args.no_held:
            held = items_held(servers, args)
    except (RuntimeError, OSError) as e:
        print("trace: %s" % e, file=sys.stderr)
        return 2

    for t, rows in results.items():
        if len({r["trace_hash"] for r in rows}) != 1:
            bad.append("%s: request streams differ between servers" % t)
        for r in rows:
            if r["errors"] or r["rc"] or not r["alive"]:
                bad.append("%s/%s: rc %d, errors %d (value %d, protocol %d, conn %d, time limit %s), "
                           "alive %s: %s" % (t, r["label"], r["rc"], r["errors"], r["err_value"],
                                             r["err_protocol"], r["err_conn"], r["time_limit"],
                                             r["alive"], r["stderr"]))
    for row in held:
        for name, label, _ in servers:
            if row[name]["wrong"] or not row[name]["alive"]:
                bad.append("items held %d B/%s: %d wrong values, alive %s"
                           % (row["size"], label, row[name]["wrong"], row[name]["alive"]))

    if results:
        print("\nlook-aside replay: Zipf(%g) over %d keys, -m 64 -t 2, window %d (%s), seed %d, "
              "warm-up %.0f%% not counted\n" % (args.alpha, args.keys, args.window,
                                                 "pipelined gets" if args.pipeline else "multiget",
                                                 args.seed, args.warmup * 100))
        hdr = "%-9s %-10s %9s %8s %8s %8s %9s %9s %7s" % (
            "trace", "server", "requests", "miss", "cold", "bytemiss", "items", "evictions", "secs")
        print(hdr)
        print("-" * len(hdr))
        for t, rows in results.items():
            for r in rows:
                print("%-9s %-10s %9d %8.4f %8.4f %8.4f %9d %9d %7.1f" % (
                    t, r["label"], r["requests"], r["miss_ratio"],
                    r["cold_misses"] / r["measured"] if r["measured"] else 0,
                    r["byte_miss_ratio"], r["curr_items"], r["evictions"], r["seconds"]))
        print("\nmiss = misses / gets after the warm-up; cold = first requests of a key (the floor "
              "no policy gets below); bytemiss = missed value bytes / requested bytes.\n")
        print("| trace | requests | " + " | ".join("%s miss" % s[1] for s in servers)
              + " | " + " | ".join("ours/%s" % s[1][3:] for s in refs) + " | cold | "
              + " | ".join("non-cold ours/%s" % s[1][3:] for s in refs) + " | "
              + " | ".join("%s items" % s[1] for s in servers) + " | "
              + " | ".join("%s evictions" % s[1] for s in servers) + " |")
        print("|---|" + "---:|" * (1 + 3 * len(servers) + 2 * len(refs) + 1))
        for t, rows in results.items():
            by = {r["server"]: r for r in rows}
            o = by["ours"]
            print("| %s | %d | %s | %s | %.4f | %s | %s | %s |" % (
                t, o["requests"],
                " | ".join("%.4f" % by[s[0]]["miss_ratio"] for s in servers),
                " | ".join(fmt_ratio(o["miss_ratio"], by[s[0]]["miss_ratio"]) for s in refs),
                o["cold_misses"] / o["measured"] if o["measured"] else 0,
                " | ".join(fmt_ratio(o["misses"] - o["cold_misses"],
                                     by[s[0]]["misses"] - by[s[0]]["cold_misses"]) for s in refs),
                " | ".join("%d" % by[s[0]]["curr_items"] for s in servers),
                " | ".join("%d" % by[s[0]]["evictions"] for s in servers)))
        print("\nours/x = our miss ratio / x's: below 1.0 we miss less. non-cold = the same "
              "for the misses that were not a key's first request (the part a policy decides).")
    if held:
        print("\nitems held in -m 64 (-t 2; 16-byte keys; curr_items after writing 2.5x what "
              "1.6.18 holds%s)\n" % ("" if args.held_sample == 1
                                     else "; values verified on 1/%d" % args.held_sample))
        print("| value | " + " | ".join("%s items" % s[1] for s in servers) + " | "
              + " | ".join("ours/%s" % s[1][3:] for s in refs) + " |")
        print("|---:|" + "---:|" * (len(servers) + len(refs)))
        for row in held:
            o = row["ours"]["curr_items"]
            print("| %d B | %s | %s |" % (
                row["size"], " | ".join("%d" % row[s[0]]["curr_items"] for s in servers),
                " | ".join(fmt_ratio(o, row[s[0]]["curr_items"]) for s in refs)))
    print("\n%.0f s in all" % (time.time() - t0))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"args": vars(args), "traces": results, "held": held, "failures": bad}, f,
                      indent=1)
    if bad:
        print("\nFAILURES:\n  " + "\n  ".join(bad), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
