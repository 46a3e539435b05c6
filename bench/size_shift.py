#!/usr/bin/env python3
"""Slab memory follows the workload: hit ratio over a value-size shift.

Each server (ours, memcached 1.6.45, optionally 1.6.18 and automove=2
variants) is started fresh, ONE AFTER THE OTHER (never two at once: the
machine has 2 cores), with the same flags
`-m 64 -t 2 -c 1024 -U 0 -l 127.0.0.1 -p <free>` (`-u root` as root) and
its default automove (memcached 1.6: slab_reassign + slab_automove=1), and
gets the same deterministic look-aside workload, paced to the same rate:

  prefill   ranks P..1 of key space A (P = --prefill, more than the cache
            holds), ~100 B values: every page belongs to the small classes;
  phase 1   (--p1 s) Zipf(--alpha) over key space A (--keys1 keys),
            values 80-120 B (a function of the key);
  phase 2   (--p2 s) Zipf(--alpha) over a new key space B (--keys2 keys),
            values 8-12 KB (a function of the key).

Look-aside: a window of --window gets is one `get k1 ... kW` line; the
misses of a window are `set` (reply checked: STORED, or a refusal such as
SERVER_ERROR out of memory, counted as set_fail) in the same write as the
next window's get.  The stream of gets is the same for every server (same
seed); windows are paced to --rate gets per second (a window is sent when
its time has come; if the server or client falls behind, it is sent at
once and the achieved rate is reported).  Every value read back is checked
(length and bytes).

Recorded: per second gets, hits, sets, refused sets (CSV
bench/results/size_shift.csv); `stats slabs` total_pages per class every
--slab-every s (bench/results/size_shift_pages.csv); a plot
bench/results/size_shift.svg (drawn by hand, no dependency): hit ratio per
second, one line per server, phase boundary marked, and below it the pages
held by the big-value classes (chunk >= 4 KB).

Reported per server: achieved get rate, phase-1 and phase-2 steady hit
ratio (mean of the last --steady s of each phase), time to recover (first
second of phase 2 from which 5 consecutive seconds are >= 90%, and 98%,
of the server's own phase-2 steady state, and >= 90% of the best server's
steady state), phase-2 hit ratio per value-size third over the steady
window (a starved class shows as a third near 0), pages per class at the
end, slabs_moved, evictions.

A benchmark, not a test: nothing is judged by time.  Exit 1 if a value was
wrong, a reply unparsable or a server died; 2 on setup failure.
"""
import argparse
import bisect
import itertools
import json
import os
import random
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib as bl  # noqa: E402

DEFAULT_REF45 = os.environ.get("REF45_BIN", "/work/shared/reference/memcached-1.6.45")
RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")

PAT = bytes((i * 131 + (i >> 7) * 17 + 7) % 94 + 33 for i in range(1 << 15))


# ---------- keys and values ----------

class Space:
    """A key space: key i -> 16-byte key, value size from [lo, hi]."""

    def __init__(self, tag, nkeys, lo, hi, alpha):
        self.tag, self.n, self.lo, self.hi = tag, nkeys, lo, hi
        w = [1.0 / (k ** alpha) for k in range(1, nkeys + 1)]
        self.cum = list(itertools.accumulate(w))
        self.total = self.cum[-1]

    def key(self, i):
        return b"%s%014d" % (self.tag, i)

    def size(self, i):
        h = (i * 2654435761 + 12345) & 0xFFFFFFFF
        return self.lo + h % (self.hi - self.lo + 1)

    def third(self, i):
        """0, 1, 2: which third of the size range key i's value is in."""
        return min(2, (self.size(i) - self.lo) * 3 // (self.hi - self.lo + 1))

    def value(self, i):
        n = self.size(i)
        head = b"%d|" % i
        off = (i * 7919) % (len(PAT) - n)
        return (head + PAT[off:off + n - len(head)])[:n]

    def draw(self, rng, k):
        """k ranks (0-based key indexes), Zipf by the cumulative weights."""
        cum, tot, n1 = self.cum, self.total, self.n - 1
        rnd = rng.random
        return [min(n1, bisect.bisect(cum, rnd() * tot)) for _ in range(k)]


def class_pages(st):
    """{class id: (chunk_size, total_pages)} from `stats slabs`."""
    out = {}
    for k, v in st.items():
        if ":" not in k:
            continue
        cid, name = k.split(":", 1)
        if not cid.isdigit():
            continue
        d = out.setdefault(int(cid), [0, 0])
        if name == "chunk_size":
            d[0] = int(v)
        elif name == "total_pages":
            d[1] = int(v)
    return {c: tuple(v) for c, v in out.items()}


# ---------- one server's run ----------

def prefill(port, space, count, deadline):
    """Ranks count-1 .. 0 (hottest last), pipelined, replies checked.
    Returns how many sets the server refused for lack of memory (memcached
    with slab_automove=2 does while it moves pages); any other reply but
    STORED is an error."""
    c = bl.Client(port, timeout=60)
    refused = 0
    try:
        ids = list(range(count - 1, -1, -1))
        for a in range(0, len(ids), 4000):
            if time.time() > deadline:
                raise RuntimeError("prefill took too long")
            chunk = ids[a:a + 4000]
            c.send(b"".join(b"set %s 0 0 %d\r\n%s\r\n" % (space.key(i), space.size(i),
                                                                 space.value(i)) for i in chunk))
            for _ in chunk:
                ln = c.line()
                if ln == b"SERVER_ERROR out of memory storing object":
                    refused += 1
                elif ln != b"STORED":
                    raise RuntimeError("prefill set: %r" % ln[:100])
    finally:
        c.close()
    return refused


def run_phase(conn, sconn, space, rng, secs, args, t_run0, rows, pages, label, phase, errs,
              terc):
    """Paced look-aside replay for secs seconds; appends per-second rows."""
    W = args.window
    per_win = W / float(args.rate)
    t0 = time.time()
    end = t0 + secs
    max_windows = int(secs * args.rate / W) + 10
    pending = []                          # (id) misses of the last window, set next
    cur_sec = None
    acc = None
    next_slab = t0
    win = 0
    for win in range(max_windows):
        now = time.time()
        if now >= end:
            break
        due = t0 + win * per_win
        if due > now:
            time.sleep(due - now)
            now = time.time()
            if now >= end:
                break
        if now >= next_slab:
            pg = class_pages(sconn.stats("slabs"))
            for cid, (csize, np) in sorted(pg.items()):
                pages.append((label, round(now - t_run0, 2), phase, cid, csize, np))
            next_slab += args.slab_every
        sec = int(now - t_run0)
        if sec != cur_sec:
            if acc is not None:
                rows.append(acc)
            cur_sec = sec
            acc = {"server": label, "t": sec, "phase": phase, "gets": 0, "hits": 0, "sets": 0,
                   "set_fail": 0, "bad": 0}
        ids = space.draw(rng, W)
        keys = [space.key(i) for i in ids]
        out = [b"set %s 0 0 %d\r\n%s\r\n" % (space.key(i), space.size(i), space.value(i))
               for i in pending]
        out.append(b"get " + b" ".join(keys) + b"\r\n")
        conn.send(b"".join(out))
        for _ in pending:
            ln = conn.line()
            acc["sets"] += 1
            if ln != b"STORED":
                if ln.startswith(b"SERVER_ERROR") or ln == b"NOT_STORED":
                    acc["set_fail"] += 1
                else:
                    raise RuntimeError("%s: set reply %r" % (label, ln[:100]))
        got = {}
        for _ in range(W + 1):
            ln = conn.line()
            if ln == b"END":
                break
            p = ln.split(b" ")
            if len(p) != 4 or p[0] != b"VALUE":
                raise RuntimeError("%s: get reply %r" % (label, ln[:100]))
            got[p[1]] = conn.block(int(p[3]))
        else:
            raise RuntimeError("%s: get reply without END" % label)
        seen = set()
        pending = []
        for i, k in zip(ids, keys):
            v = got.get(k)
            acc["gets"] += 1
            if v is not None and v != space.value(i):
                acc["bad"] += 1
                errs.append("%s: wrong value for %r" % (label, k))
                v = None
            if v is not None:
                acc["hits"] += 1
            elif i not in seen:        # a key twice in a window is set once
                seen.add(i)
                pending.append(i)
            if terc is not None and now >= end - args.steady:
                t = space.third(i)
                terc[t][0] += 1
                terc[t][1] += v is not None
    if acc is not None:
        rows.append(acc)
    return win


def run_server(label, binary, extra, args, sp1, sp2, rows, pages, errs):
    srv = bl.start_server(label, binary, 64, 1024, 2, extra)
    info = {"label": label, "binary": binary, "args": " ".join(srv.args)}
    try:
        t = time.time()
        info["prefill_refused"] = prefill(srv.port, sp1, args.prefill, t + 120)
        info["prefill_s"] = round(time.time() - t, 1)
        if info["prefill_refused"]:
            print("  %s refused %d prefill sets (out of memory)" % (label, info["prefill_refused"]),
                  file=sys.stderr)
        conn = bl.Client(srv.port, timeout=10.0)
        sconn = bl.Client(srv.port, timeout=10.0)
        t_run0 = time.time()
        rng = random.Random(args.seed)
        n1 = len(rows)
        run_phase(conn, sconn, sp1, rng, args.p1, args, t_run0, rows, pages, label, 1, errs, None)
        info["t_shift"] = time.time() - t_run0
        terc = [[0, 0], [0, 0], [0, 0]]
        run_phase(conn, sconn, sp2, rng, args.p2, args, t_run0, rows, pages, label, 2, errs, terc)
        info["thirds"] = [h / g if g else 0.0 for g, h in terc]
        st = sconn.stats()
        pg = class_pages(sconn.stats("slabs"))
        now = time.time()
        for cid, (csize, np) in sorted(pg.items()):
            pages.append((label, round(now - t_run0, 2), 3, cid, csize, np))
        info["end_pages"] = {c: v for c, v in pg.items() if v[1] > 0}
        for k in ("slabs_moved", "evictions", "curr_items"):
            info[k] = int(st.get(k, 0))
        conn.close()
        sconn.close()
        info["alive"] = srv.alive()
        mine = rows[n1:]
        for ph in (1, 2):
            r = [x for x in mine if x["phase"] == ph]
            dur = max(1e-9, (r[-1]["t"] - r[0]["t"] + 1)) if r else 1
            info["rate%d" % ph] = sum(x["gets"] for x in r) / dur
    finally:
        bl.stop(srv)
    return info


# ---------- analysis ----------

def analyse(info, rows, args):
    mine = [r for r in rows if r["server"] == info["label"]]
    p1 = [r for r in mine if r["phase"] == 1 and r["gets"]]
    p2 = [r for r in mine if r["phase"] == 2 and r["gets"]]
    # The last second of each phase is partial: leave it out of steady states.
    def steady(r):
        s = r[-args.steady - 1:-1] if len(r) > args.steady + 1 else r
        g = sum(x["gets"] for x in s)
        return sum(x["hits"] for x in s) / g if g else 0.0
    info["steady1"], info["steady2"] = steady(p1), steady(p2)
    info["p2_series"] = [(r["t"] - p2[0]["t"], r["hits"] / r["gets"]) for r in p2] if p2 else []
    info["set_fail2"] = sum(r["set_fail"] for r in p2)
    info["sets2"] = sum(r["sets"] for r in p2)


def recover_time(series, target, run=5):
    for k in range(len(series) - run + 1):
        if all(h >= target for _, h in series[k:k + run]):
            return series[k][0]
    return None


# ---------- plot (hand-drawn SVG) ----------

COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd"]


def svg_plot(path, infos, rows, pages, args):
    W, H = 900, 620
    L, R = 70, 20
    top = (40, 330)       # hit ratio panel y range
    bot = (390, 570)      # pages panel
    tmax = args.p1 + args.p2
    def X(t):
        return L + (W - L - R) * max(0.0, min(t, tmax)) / tmax
    def Y(v, panel, vmax):
        y0, y1 = panel
        return y1 - (y1 - y0) * max(0.0, min(v, vmax)) / vmax
    out = ['<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" '
           'font-family="sans-serif" font-size="12">' % (W, H),
           '<rect width="100%" height="100%" fill="white"/>',
           '<text x="%d" y="20" font-size="15">Hit ratio per second over a value-size shift '
           '(-m 64, %d gets/s, 100 B -&gt; 10 KB values)</text>' % (L, args.rate)]
    for panel, vmax, ticks, fmt, title in (
            (top, 1.0, [0, 0.2, 0.4, 0.6, 0.8, 1.0], "%.1f", "hit ratio"),
            (bot, 64, [0, 16, 32, 48, 64], "%d", "pages in classes >= 4 KB")):
        y0, y1 = panel
        out.append('<rect x="%d" y="%d" width="%d" height="%d" fill="none" stroke="#444"/>'
                   % (L, y0, W - L - R, y1 - y0))
        for v in ticks:
            y = Y(v, panel, vmax)
            out.append('<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#ddd"/>'
                       % (L, y, W - R, y))
            out.append('<text x="%d" y="%.1f" text-anchor="end">%s</text>'
                       % (L - 6, y + 4, fmt % v))
        out.append('<text x="16" y="%d" transform="rotate(-90 16 %d)" text-anchor="middle">'
                   '%s</text>' % ((y0 + y1) // 2, (y0 + y1) // 2, title))
        for t in range(0, int(tmax) + 1, 15):
            out.append('<text x="%.1f" y="%d" text-anchor="middle">%d</text>'
                       % (X(t), y1 + 15, t))
        xs = X(args.p1)
        out.append('<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#000" '
                   'stroke-dasharray="5,4"/>' % (xs, y0, xs, y1))
    out.append('<text x="%.1f" y="%d" text-anchor="middle">seconds (phase 1: ~100 B values, '
               'phase 2 from the dashed line: ~10 KB values)</text>'
               % ((L + W - R) / 2, bot[1] + 32))
    for n, info in enumerate(infos):
        col = COLORS[n % len(COLORS)]
        lab = info["label"]
        shift = info["t_shift"]
        pts = []
        for r in rows:
            if r["server"] == lab and r["gets"]:
                # phase-aligned time: the shift sits at args.p1 for every server
                t = r["t"] + 0.5 + (args.p1 - shift if r["phase"] == 2 else 0)
                pts.append("%.1f,%.1f" % (X(t), Y(r["hits"] / r["gets"], top, 1.0)))
        out.append('<polyline fill="none" stroke="%s" stroke-width="1.6" points="%s"/>'
                   % (col, " ".join(pts)))
        big = {}
        for (s, t, ph, cid, csize, np) in pages:
            if s == lab and csize >= 4096 and ph in (1, 2):
                tt = t + (args.p1 - shift if ph == 2 else 0)
                big[tt] = big.get(tt, 0) + np
        pts = ["%.1f,%.1f" % (X(t), Y(v, bot, 64)) for t, v in sorted(big.items())]
        out.append('<polyline fill="none" stroke="%s" stroke-width="1.6" points="%s"/>'
                   % (col, " ".join(pts)))
        ly = top[0] + 18 + 18 * n
        out.append('<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="%s" stroke-width="3"/>'
                   % (W - R - 300, ly - 4, W - R - 275, ly - 4, col))
        rt = info.get("recover_own")
        out.append('<text x="%d" y="%d">%s (recovers in %s)</text>'
                   % (W - R - 268, ly, lab.replace("&", "&amp;"),
                      "%d s" % rt if rt is not None else "&gt;%d s" % args.p2))
    out.append("</svg>")
    with open(path, "w") as f:
        f.write("\n".join(out) + "\n")


# ---------- main ----------

def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ours", default=bl.DEFAULT_OURS, help="env OURS_BIN; build/memcached")
    ap.add_argument("--ref45", default=DEFAULT_REF45, help="memcached 1.6.45 (env REF45_BIN)")
    ap.add_argument("--ref", default=bl.DEFAULT_REF, help="memcached 1.6.18 (env REF_BIN)")
    ap.add_argument("--servers", default="ours,mc1.6.45",
                    help="comma list of ours, mc1.6.45, mc1.6.18, ours-am2, mc1.6.45-am2 "
                         "(-am2: -o slab_automove=2); default ours,mc1.6.45")
    ap.add_argument("--p1", type=float, default=40, help="phase 1 seconds (40)")
    ap.add_argument("--p2", type=float, default=90, help="phase 2 seconds (90)")
    ap.add_argument("--rate", type=int, default=20000, help="gets per second (20000)")
    ap.add_argument("--window", type=int, default=100, help="gets per multiget (100)")
    ap.add_argument("--keys1", type=int, default=2000000, help="phase-1 key space (2e6)")
    ap.add_argument("--keys2", type=int, default=50000, help="phase-2 key space (5e4)")
    ap.add_argument("--prefill", type=int, default=700000,
                    help="phase-1 keys set before the clock starts (7e5)")
    ap.add_argument("--alpha", type=float, default=0.99, help="Zipf exponent (0.99)")
    ap.add_argument("--steady", type=int, default=20,
                    help="seconds at the end of a phase that make its steady state (20)")
    ap.add_argument("--slab-every", type=float, default=2.0, help="stats slabs period (2 s)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--server-args", default="", help="extra flags for every server")
    ap.add_argument("--out", default=RESULTS, help="output directory (bench/results)")
    ap.add_argument("--json", help="also write everything to this file")
    args = ap.parse_args()
    if args.p1 < args.steady + 2 or args.p2 < args.steady + 6 or args.rate < args.window:
        ap.error("phases must be longer than --steady + a few seconds; rate >= window")

    known = {"ours": args.ours, "mc1.6.45": args.ref45, "mc1.6.18": args.ref}
    servers = []
    for name in [s for s in args.servers.split(",") if s]:
        base = name[:-4] if name.endswith("-am2") else name
        if base not in known:
            ap.error("unknown server %s" % name)
        extra = args.server_args.split() + (["-o", "slab_automove=2"] if base != name else [])
        if not os.access(known[base], os.X_OK):
            print("note: %s (%s) not found, skipped" % (name, known[base]), file=sys.stderr)
            continue
        servers.append((name, known[base], extra))

    t_all = time.time()
    print("building key spaces ...", file=sys.stderr, flush=True)
    sp1 = Space(b"sa", args.keys1, 80, 120, args.alpha)
    sp2 = Space(b"sb", args.keys2, 8000, 12000, args.alpha)
    rows, pages, errs, infos = [], [], [], []
    try:
        for label, binary, extra in servers:
            print("%-14s prefill + %g s + %g s ..." % (label, args.p1, args.p2), file=sys.stderr,
                  end="", flush=True)
            info = run_server(label, binary, extra, args, sp1, sp2, rows, pages, errs)
            analyse(info, rows, args)
            infos.append(info)
            print(" phase-1 %.3f, phase-2 %.3f, %.0f/%.0f gets/s" % (
                info["steady1"], info["steady2"], info["rate1"], info["rate2"]), file=sys.stderr)
            if not info["alive"]:
                errs.append("%s died" % label)
    except (RuntimeError, OSError) as e:
        print("\nsize_shift: %s" % e, file=sys.stderr)
        return 2
    if not infos:
        return 2
    best = max(i["steady2"] for i in infos)
    for i in infos:
        i["recover_own"] = recover_time(i["p2_series"], 0.9 * i["steady2"])
        i["recover_best"] = recover_time(i["p2_series"], 0.9 * best)
        i["recover_98"] = recover_time(i["p2_series"], 0.98 * i["steady2"])

    os.makedirs(args.out, exist_ok=True)
    csv = os.path.join(args.out, "size_shift.csv")
    with open(csv, "w") as f:
        f.write("server,t,phase,gets,hits,hit_ratio,sets,set_fail\n")
        for r in rows:
            f.write("%s,%d,%d,%d,%d,%.4f,%d,%d\n" % (
                r["server"], r["t"], r["phase"], r["gets"], r["hits"],
                r["hits"] / r["gets"] if r["gets"] else 0, r["sets"], r["set_fail"]))
    pcsv = os.path.join(args.out, "size_shift_pages.csv")
    with open(pcsv, "w") as f:
        f.write("server,t,phase,class,chunk_size,total_pages\n")
        for p in pages:
            if p[5] > 0:
                f.write("%s,%.2f,%d,%d,%d,%d\n" % p)
    svg = os.path.join(args.out, "size_shift.svg")
    svg_plot(svg, infos, rows, pages, args)

    def rt(v):
        return "%d s" % v if v is not None else "> %d s" % args.p2
    print("\nvalue-size shift: -m 64 -t 2, %d gets/s paced (window %d), Zipf(%g); phase 1 %g s "
          "over %d keys (80-120 B), phase 2 %g s over %d keys (8-12 KB); servers run one after "
          "the other\n" % (args.rate, args.window, args.alpha, args.p1, args.keys1, args.p2,
                           args.keys2))
    print("| server | gets/s p1 / p2 | steady hit p1 | steady hit p2 | recover (90% own) | "
          "recover (98% own) | recover (90% best) | "
          "p2 hit by size third (8-9.3 / 9.3-10.7 / 10.7-12 KB) | "
          "sets refused p2 | slabs_moved | evictions | pages at end (chunk size: pages) |")
    print("|---|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|---|")
    for i in infos:
        print("| %s | %.0f / %.0f | %.3f | %.3f | %s | %s | %s | %s | %d of %d | %d | %d | %s |" % (
            i["label"], i["rate1"], i["rate2"], i["steady1"], i["steady2"], rt(i["recover_own"]),
            rt(i["recover_98"]), rt(i["recover_best"]), " / ".join("%.2f" % x for x in i["thirds"]),
            i["set_fail2"], i["sets2"], i["slabs_moved"], i["evictions"],
            ", ".join("%d: %d" % v for _, v in sorted(i["end_pages"].items()))))
    print("\nrecover = first second after the shift from which 5 consecutive seconds have a hit "
          "ratio >= 90%% (98%%) of the server's own phase-2 steady state (own) or of the best "
          "server's (best); steady = last %d s of the phase.\n%s\n%s\n%s\n%.0f s in all"
          % (args.steady, csv, pcsv, svg, time.time() - t_all))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"args": vars(args), "servers": infos, "rows": rows, "pages": pages,
                       "errors": errs}, f, indent=1, default=str)
    if errs:
        print("\nFAILURES:\n  " + "\n  ".join(errs[:20]), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
