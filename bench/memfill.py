#!/usr/bin/env python3
"""Memory efficiency: how many items fit in -m 64, ours vs reference.

For each value size (10, 100, 1000 bytes; 16-byte keys) a fresh server of each
kind is started with identical flags (-m 64 -t T -c 4096 -U 0 -l 127.0.0.1),
filled with pipelined noreply sets well past capacity (2.5x the reference's
expected item count by default), and then asked how many items it holds:
`stats` curr_items and a multiget check of every key written (or every Nth with
--sample) that counts only values whose bytes are exactly what was written.

Reference memcached 1.6.18 holds about 699,000 / 350,000 / 56,600 items.
Exit status: 0 ok, 1 if a server returned wrong bytes or died, 2 setup failure.
"""
import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib as bl  # noqa: E402

# value size -> approximate items reference memcached holds in 64 MB
EXPECTED_REF = {10: 699000, 100: 350000, 1000: 56600}


def measure(name, binary, size, args):
    writes = int(EXPECTED_REF.get(size, 64 * 2**20 // (size + 64)) * args.overfill)
    srv = bl.start_server(name, binary, args.mem, 4096, args.server_threads,
                          args.server_args.split() + getattr(args, name + "_args").split(), None)
    try:
        t0 = time.time()
        bl.fill_noreply(srv.port, 0, writes, size)
        fill_s = time.time() - t0
        c = bl.Client(srv.port)
        st = c.stats()
        c.close()
        ok, wrong, checked = bl.count_retrievable(srv.port, 0, writes, size,
                                                  sample_every=args.sample)
        alive = srv.alive()
        rss = bl.rss_kb(srv.pid) if alive else 0
    finally:
        bl.stop(srv)
    held = ok * args.sample  # estimate when sampling
    return {"name": name, "size": size, "writes": writes, "curr_items": _int(st.get("curr_items")),
            "evictions": _int(st.get("evictions")), "held": held, "wrong": wrong,
            "checked": checked, "fill_s": fill_s, "rss_kb": rss, "alive": alive,
            "bytes": _int(st.get("bytes")), "hash_bytes": _int(st.get("hash_bytes"))}


def _int(v):
    """Stat value as int; -1 when missing or not a number."""
    try:
        return int(v)
    except (TypeError, ValueError):
        return -1


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ours", default=bl.DEFAULT_OURS, help="env OURS_BIN; default build/memcached")
    ap.add_argument("--ref", default=bl.DEFAULT_REF, help="env REF_BIN; default /usr/bin/memcached")
    ap.add_argument("--sizes", default="10,100,1000", help="value sizes (10,100,1000)")
    ap.add_argument("--mem", type=int, default=64, help="server -m in MB (64)")
    ap.add_argument("--overfill", type=float, default=2.5,
                    help="write this multiple of the reference's expected count (2.5)")
    ap.add_argument("--sample", type=int, default=1,
                    help="multiget-check every Nth key written (1 = all)")
    ap.add_argument("--server-threads", type=int, default=1, help="server -t (1)")
    ap.add_argument("--server-args", default="", help="extra flags for both servers")
    ap.add_argument("--ours-args", default="", help="extra flags for our server only")
    ap.add_argument("--ref-args", default="", help="extra flags for the reference only")
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    if args.mem != 64:
        print("note: --mem %d; the write count still scales from the 64 MB expectations, "
              "so adjust --overfill by %.1fx" % (args.mem, args.mem / 64), file=sys.stderr)
    if not 1 <= args.overfill <= 20 or args.sample < 1 or any(not 1 <= s <= 1000000 for s in sizes):
        ap.error("bad --overfill/--sample/--sizes")

    rows = []
    bad = False
    for size in sizes:
        pair = {}
        for name, binary in (("ours", args.ours), ("ref", args.ref)):
            print("filling %-4s with %d-byte values ..." % (name, size), file=sys.stderr, flush=True)
            try:
                pair[name] = measure(name, binary, size, args)
            except (RuntimeError, OSError) as e:
                print("memfill: %s" % e, file=sys.stderr)
                return 2
            r = pair[name]
            if r["wrong"] or not r["alive"]:
                bad = True
            if r["held"] >= r["writes"] * 0.9:
                print("warning: %s still holds %d of %d items: not full, raise --overfill"
                      % (name, r["held"], r["writes"]), file=sys.stderr)
        rows.append((size, pair["ours"], pair["ref"]))

    print("\nitems held in -m %d (16-byte keys; held = retrievable with correct bytes%s)\n"
          % (args.mem, "" if args.sample == 1 else ", sampled 1/%d" % args.sample))
    hdr = "%6s %9s %11s %11s %7s %12s %12s %6s %9s %9s %9s" % (
        "value", "written", "ours held", "ref held", "ratio", "ours curr", "ref curr",
        "wrong", "ref-exp", "ours RSS", "ref RSS")
    print(hdr)
    print("-" * len(hdr))
    for size, o, f in rows:
        print("%6d %9d %11d %11d %7.3f %12d %12d %6d %9s %7.1fMB %7.1fMB" % (
            size, o["writes"], o["held"], f["held"], o["held"] / f["held"] if f["held"] else float("nan"),
            o["curr_items"], f["curr_items"], o["wrong"] + f["wrong"],
            EXPECTED_REF.get(size, "-"), o["rss_kb"] / 1024, f["rss_kb"] / 1024))
    print("\nratio = ours/ref items held: > 1 means we store more in the same memory.")
    print("RSS = server VmRSS after the fill; a higher item count only counts as a win if "
          "RSS stays comparable (-m limits item memory, not the process).")
    print("\nMarkdown:\n")
    print("| value bytes | ours items | ref items | ratio | ours curr_items | ref curr_items "
          "| ours RSS MB | ref RSS MB |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    for size, o, f in rows:
        print("| %d | %d | %d | %.3f | %d | %d | %.1f | %.1f |" % (
            size, o["held"], f["held"], o["held"] / f["held"] if f["held"] else float("nan"),
            o["curr_items"], f["curr_items"], o["rss_kb"] / 1024, f["rss_kb"] / 1024))
    if bad:
        print("\nFAILURE: wrong bytes returned or a server died", file=sys.stderr)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
