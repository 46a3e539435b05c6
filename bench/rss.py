#!/usr/bin/env python3
"""Resident memory vs the -m limit, ours vs reference.

Starts each server (one at a time) with -m 1024 (same flags otherwise), fills it
past capacity with 100-byte values and 16-byte keys using pipelined noreply
sets (2.5x the count the reference fits, by default), then reports VmRSS from
/proc/PID/status against the limit, plus `stats` hash_bytes / bytes /
limit_maxbytes / curr_items when the server reports them.  Also samples RSS
right after startup (the fixed overhead).

Exit status: 0 ok, 2 on setup failure or a server dying.
"""
import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib as bl  # noqa: E402

REF_ITEMS_PER_MB_100B = 350000 / 64.0  # reference memcached, 100-byte values


def measure(name, binary, args):
    srv = bl.start_server(name, binary, args.mem, 4096, args.server_threads,
                          args.server_args.split() + getattr(args, name + "_args").split(), None)
    try:
        rss0 = bl.rss_kb(srv.pid)
        writes = int(REF_ITEMS_PER_MB_100B * args.mem * args.overfill)
        t0 = time.time()
        step = 1000000
        for first in range(0, writes, step):
            bl.fill_noreply(srv.port, first, min(step, writes - first), args.value_size)
            if not srv.alive():
                raise RuntimeError("%s died during fill (exit %s)" % (name, srv.proc.returncode))
        fill_s = time.time() - t0
        time.sleep(0.5)
        c = bl.Client(srv.port)
        st = c.stats()
        c.close()
        rss = bl.rss_kb(srv.pid)
    finally:
        bl.stop(srv)

    def stat(k):
        v = st.get(k)
        return int(v) if v is not None and v.isdigit() else None

    return {"name": name, "writes": writes, "fill_s": fill_s, "rss0_kb": rss0, "rss_kb": rss,
            "hash_bytes": stat("hash_bytes"), "bytes": stat("bytes"),
            "limit": stat("limit_maxbytes"), "curr_items": stat("curr_items")}


def mb(x):
    return "-" if x is None else "%.1f" % (x / 2**20)


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ours", default=bl.DEFAULT_OURS, help="env OURS_BIN; default build/memcached")
    ap.add_argument("--ref", default=bl.DEFAULT_REF, help="env REF_BIN; default /usr/bin/memcached")
    ap.add_argument("--mem", type=int, default=1024, help="server -m in MB (1024)")
    ap.add_argument("--value-size", type=int, default=100, help="value bytes (100)")
    ap.add_argument("--overfill", type=float, default=2.5,
                    help="write this multiple of what the reference fits (2.5)")
    ap.add_argument("--server-threads", type=int, default=1, help="server -t (1)")
    ap.add_argument("--server-args", default="", help="extra flags for both servers")
    ap.add_argument("--ours-args", default="", help="extra flags for our server only")
    ap.add_argument("--ref-args", default="", help="extra flags for the reference only")
    args = ap.parse_args()
    if not 1 <= args.mem <= 16384 or not 1 <= args.overfill <= 10:
        ap.error("bad --mem/--overfill")

    rows = []
    for name, binary in (("ours", args.ours), ("ref", args.ref)):
        print("filling %s (-m %d) ..." % (name, args.mem), file=sys.stderr, flush=True)
        try:
            rows.append(measure(name, binary, args))
        except (RuntimeError, OSError) as e:
            print("rss: %s" % e, file=sys.stderr)
            return 2
    limit = args.mem * 2**20
    print("\nRSS after filling past -m %d with %d-byte values (16-byte keys)\n"
          % (args.mem, args.value_size))
    hdr = "%-5s %10s %9s %9s %10s %11s %10s %11s %10s" % (
        "side", "written", "start MB", "RSS MB", "RSS/limit", "hash MB", "bytes MB",
        "curr_items", "fill s")
    print(hdr)
    print("-" * len(hdr))
    for r in rows:
        print("%-5s %10d %9.1f %9.1f %10.3f %11s %10s %11s %10.1f" % (
            r["name"], r["writes"], r["rss0_kb"] / 1024, r["rss_kb"] / 1024,
            r["rss_kb"] * 1024 / limit, mb(r["hash_bytes"]), mb(r["bytes"]),
            "-" if r["curr_items"] is None else r["curr_items"], r["fill_s"]))
    o, f = rows
    print("\nRSS ratio ours/ref: %.3f  (< 1 means we use less memory for the same -m)"
          % (o["rss_kb"] / f["rss_kb"] if f["rss_kb"] else float("nan")))
    print("\nMarkdown:\n")
    print("| side | RSS MB | RSS / limit | hash MB | curr_items |")
    print("|---|---:|---:|---:|---:|")
    for r in rows:
        print("| %s | %.1f | %.3f | %s | %s |" % (
            r["name"], r["rss_kb"] / 1024, r["rss_kb"] * 1024 / limit, mb(r["hash_bytes"]),
            "-" if r["curr_items"] is None else r["curr_items"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
