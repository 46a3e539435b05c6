#!/usr/bin/env python3
"""Side-by-side throughput/latency comparison: our server vs reference memcached.

For every workload both servers are started fresh with identical flags
(-t T -m 1024 -c 4096 -U 0 -l 127.0.0.1 -p <free>), pinned to core 0, the key
space is preloaded once, then mcload (pinned to core 1) runs A/B/A/B rounds.
Prints per workload the median ops/s and p99 of each side and ours/ref ratios,
as a table and as a markdown snippet.

--scrape MS: our server also gets -o metrics_listen on a free port and a
scraper thread GETs its /metrics every MS ms during every run; with
--ref pointing at our binary too, the ratio is scraped vs not scraped
(doc/monitoring.md).

Exit status: 0 ok; 1 if any mcload run reported errors or a server died;
2 on setup failure (binary missing, server does not start).
"""
import argparse
import http.client
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib as bl  # noqa: E402

KEYS = 100000

# name -> (description, mcload args)
WORKLOADS = {
    "a": ("9:1 get:set, 32 B, 50 conns, depth 1",
          ["--ratio", "9:1", "--value-size", "32", "--conns", "50", "--pipeline", "1"]),
    "b": ("9:1 get:set, 32 B, 50 conns, depth 16",
          ["--ratio", "9:1", "--value-size", "32", "--conns", "50", "--pipeline", "16"]),
    "c": ("100-key multiget (9:1), 32 B, 50 conns",
          ["--ratio", "9:1", "--value-size", "32", "--conns", "50", "--pipeline", "1",
           "--multiget", "100"]),
    "d": ("1:1 get:set, 1 KB, 50 conns, depth 1",
          ["--ratio", "1:1", "--value-size", "1024", "--conns", "50", "--pipeline", "1"]),
    "e": ("9:1, 32 B, 1000 conns (800 idle)",
          ["--ratio", "9:1", "--value-size", "32", "--conns", "200", "--idle-conns", "800",
           "--pipeline", "1"]),
    # meta protocol, quiet style: b and c with `mg <key> v q k` / `ms <key> <len> q`,
    # every window (16 requests in f, one 100-key multiget in g) closed by `mn`
    "f": ("meta q: 9:1 mg/ms, 32 B, depth 16 + mn",
          ["--ratio", "9:1", "--value-size", "32", "--conns", "50", "--pipeline", "16",
           "--meta-quiet"]),
    "g": ("meta q: 100-key mg + mn (9:1), 32 B",
          ["--ratio", "9:1", "--value-size", "32", "--conns", "50", "--pipeline", "1",
           "--multiget", "100", "--meta-quiet"]),
    # binary protocol against memcached's binary protocol: h like b and f
    # (GetKQ/SetQ windows of 16 closed by Noop), i like c and g (100 GetKQ
    # + Noop), j like d (GetK and Set at depth 1, 1 KB)
    "h": ("binary q: 9:1 GetKQ/SetQ, 32 B, depth 16 + Noop",
          ["--ratio", "9:1", "--value-size", "32", "--conns", "50", "--pipeline", "16",
           "--bin-quiet"]),
    "i": ("binary q: 100-key GetKQ + Noop (9:1), 32 B",
          ["--ratio", "9:1", "--value-size", "32", "--conns", "50", "--pipeline", "1",
           "--multiget", "100", "--bin-quiet"]),
    "j": ("binary: 1:1 GetK:Set, 1 KB, depth 1",
          ["--ratio", "1:1", "--value-size", "1024", "--conns", "50", "--pipeline", "1",
           "--proto", "binary"]),
}


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ours", default=bl.DEFAULT_OURS,
                    help="our server binary (env OURS_BIN; default build/memcached)")
    ap.add_argument("--ref", default=bl.DEFAULT_REF,
                    help="reference binary (env REF_BIN; default /usr/bin/memcached)")
    ap.add_argument("--mcload", default=os.environ.get(
        "MCLOAD", os.path.join(bl.REPO, "build", "bench", "mcload")))
    ap.add_argument("--rounds", type=int, default=3, help="A/B rounds per workload (3)")
    ap.add_argument("--secs", type=float, default=5, help="seconds per run (5)")
    ap.add_argument("--quick", action="store_true", help="2 rounds x 2 s (about 1 minute)")
    ap.add_argument("--workloads", default="abcde",
                    help="subset of %s, e.g. 'bcfg' (abcde; f and g are the meta "
                    "protocol, h i j the binary protocol)" % "".join(WORKLOADS))
    ap.add_argument("--server-threads", type=int, default=1, help="server -t (1)")
    ap.add_argument("--client-threads", type=int, default=1, help="mcload --threads (1)")
    ap.add_argument("--server-args", default="", help="extra flags for both servers")
    ap.add_argument("--ours-args", default="", help="extra flags for our server only")
    ap.add_argument("--ref-args", default="", help="extra flags for the reference only")
    ap.add_argument("--tls", action="store_true",
                    help="both servers with -Z (a throw-away self-signed certificate), "
                    "mcload --tls")
    ap.add_argument("--no-pin", action="store_true", help="do not use taskset")
    ap.add_argument("--json", help="also write all results (every round) to this file")
    ap.add_argument("--watch", default="", metavar="STREAMS",
                    help="attach one `watch STREAMS` client to ours during every run, "
                    "e.g. 'evictions connevents' or 'fetchers'")
    ap.add_argument("--scrape", type=int, default=0, metavar="MS",
                    help="run ours with -o metrics_listen and scrape /metrics every MS ms")
    ap.add_argument("--ceiling", nargs="?", const=os.path.join(bl.REPO, "build", "bench",
                                                              "nullsrv"), default=None,
                    metavar="PATH",
                    help="also run the null server (build/bench/nullsrv: no storage "
                    "engine) in every round, and report ours and ref as fractions of it: "
                    "the most this client and kernel allow (text workloads a-e only)")
    ap.add_argument("-v", "--verbose", action="store_true", help="print every run")
    a = ap.parse_args()
    if a.quick:
        a.rounds, a.secs = 2, 2
    if a.rounds < 1 or a.rounds > 20 or not 0 < a.secs <= 120:
        ap.error("--rounds must be 1..20 and --secs in (0, 120]")
    if a.ceiling and set(a.workloads) - set("abcde"):
        ap.error("--ceiling: the null server speaks text get/set only (workloads a-e)")
    bad = set(a.workloads) - set(WORKLOADS)
    if bad:
        ap.error("unknown workload(s): %s" % "".join(sorted(bad)))
    return a


def mcload(a, port, wargs, extra, timeout, cpu):
    cmd = ([] if cpu is None else ["taskset", "-c", str(cpu)]) + [
        a.mcload, "--port", str(port), "--threads", str(a.client_threads),
        "--keys", str(KEYS), "--quiet"] + (["--tls"] if a.tls else []) + wargs + extra
    rc, out, err = bl.run_bounded(cmd, timeout)
    res = None
    lines = out.strip().splitlines()
    if lines:
        try:
            res = json.loads(lines[-1])
        except ValueError:
            res = None
    if res is None:
        res = {"ops_per_sec": 0.0, "p99_us": 0.0, "errors": -1}
    res["rc"] = rc
    res["stderr"] = err.strip()[-600:]
    return res


class Background:
    """run() on a daemon thread between __enter__ and __exit__; run()
    returns once stop_ev is set."""

    def __init__(self):
        self.stop_ev = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self):
        raise NotImplementedError

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop_ev.set()
        self.thread.join(10)


class Scraper(Background):
    """GET /metrics every `ms` ms on its own thread until stopped (bounded:
    at most one scrape per period, each with a 5 s timeout)."""

    def __init__(self, port, ms):
        self.port, self.period = port, ms / 1000.0
        self.ok = self.failed = 0
        Background.__init__(self)

    def run(self):
        while not self.stop_ev.wait(self.period):
            try:
                c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
                c.request("GET", "/metrics")
                r = c.getresponse()
                body = r.read()
                c.close()
                if r.status == 200 and body.startswith(b"# HELP"):
                    self.ok += 1
                else:
                    self.failed += 1
            except OSError:
                self.failed += 1


class Watcher(Background):
    """A `watch <streams>` client on our server for the length of a run:
    reads and counts the log lines on its own thread (bounded: stops when
    told, the socket has a 1 s timeout)."""

    def __init__(self, port, streams):
        self.port, self.streams = port, streams
        self.lines = 0
        self.ok = False
        Background.__init__(self)

    def run(self):
        try:
            s = socket.create_connection(("127.0.0.1", self.port), timeout=1)
            s.sendall(b"watch %s\r\n" % self.streams.encode())
            buf = b""
            while not self.stop_ev.is_set():
                try:
                    d = s.recv(1 << 16)
                except socket.timeout:
                    continue
                if not d:
                    break
                buf += d
                if not self.ok and buf.startswith(b"OK\r\n"):
                    self.ok = True
                self.lines += d.count(b"\n")
            s.close()
        except OSError:
            pass


def run_workload(a, wname, pin):
    desc, wargs = WORKLOADS[wname]
    srv_cpu, cli_cpu = (0, 1) if pin else (None, None)
    extra = a.server_args.split()
    sides = {}
    scrape_port = None
    ours_extra = []
    if a.scrape:
        scrape_port = bl.free_port()
        ours_extra = ["-o", "metrics_listen=127.0.0.1:%d" % scrape_port]
    try:
        sides["ours"] = bl.start_server("ours", a.ours, 1024, 4096, a.server_threads,
                                        extra + a.ours_args.split() + ours_extra, srv_cpu)
        sides["ref"] = bl.start_server("ref", a.ref, 1024, 4096, a.server_threads,
                                       extra + a.ref_args.split(), srv_cpu)
        if a.ceiling:
            sides["ceil"] = bl.start_server("ceil", a.ceiling, 1024, 4096, 1, [], srv_cpu)
        runs = {side: [] for side in sides}
        failures = []
        # preload the whole key space once per server (pipelined, not timed)
        for side in sides:
            r = mcload(a, sides[side].port, wargs,
                       ["--warmup", "--requests", "1", "--pipeline", "16",
                        "--key-prefix", "w%s:" % wname], 120, cli_cpu)
            if r["rc"] != 0:
                failures.append("%s warmup: rc=%s errors=%s %s" % (
                    side, r["rc"], r.get("errors"), r["stderr"]))
        for rnd in range(a.rounds):
            for side in sides:  # A/B/A/B (A/B/C with --ceiling)
                c0 = bl.cpu_seconds(sides[side].pid)
                scraper = Scraper(scrape_port, a.scrape) if side == "ours" and a.scrape else None
                if scraper:
                    scraper.__enter__()
                watcher = (Watcher(sides[side].port, a.watch) if side == "ours" and a.watch
                           else None)
                if watcher:
                    watcher.__enter__()
                try:
                    r = mcload(a, sides[side].port, wargs,
                               ["--duration", str(a.secs), "--key-prefix", "w%s:" % wname,
                                "--seed", str(rnd + 1)], a.secs + 60, cli_cpu)
                finally:
                    if watcher:
                        watcher.__exit__()
                        if not watcher.ok:
                            failures.append("ours round %d: watch %s was not answered OK"
                                            % (rnd, a.watch))
                    if scraper:
                        scraper.__exit__()
                if scraper:
                    r["scrapes"], r["scrape_failures"] = scraper.ok, scraper.failed
                    if scraper.failed or not scraper.ok:
                        failures.append("ours round %d: %d scrapes, %d failed"
                                        % (rnd, scraper.ok, scraper.failed))
                cpu = bl.cpu_seconds(sides[side].pid) - c0 if sides[side].alive() else 0
                kops = r["ops_per_sec"] * r.get("duration", 0)
                r["server_cpu_s"] = cpu
                r["server_us_per_op"] = cpu * 1e6 / kops if kops else 0.0
                r["round"] = rnd
                runs[side].append(r)
                if a.verbose:
                    print("  %s round %d %-4s ops/s %10.0f  p99 %8.1f us  hit %.3f  "
                          "srv %.2f us/op  cli %3.0f%%  err %s%s"
                          % (wname, rnd, side, r["ops_per_sec"], r["p99_us"],
                             r.get("hit_rate", 0), r["server_us_per_op"],
                             100 * r.get("client_util", 0), r["errors"],
                             "  scrapes %d" % r["scrapes"] if "scrapes" in r else ""),
                          flush=True)
                if r["rc"] != 0 or r["errors"] != 0:
                    failures.append("%s round %d: rc=%s errors=%s %s" % (
                        side, rnd, r["rc"], r["errors"], r["stderr"]))
                if not sides[side].alive():
                    failures.append("%s server died (exit %s)"
                                    % (side, sides[side].proc.returncode))
                    raise RuntimeError(failures[-1])
    finally:
        for s in sides.values():
            bl.stop(s)
    med = {}
    for side in runs:
        med[side] = {
            "ops": statistics.median(r["ops_per_sec"] for r in runs[side]),
            "req": statistics.median(r.get("req_per_sec", 0) for r in runs[side]),
            "p99": statistics.median(r["p99_us"] for r in runs[side]),
            "p50": statistics.median(r.get("p50_us", 0) for r in runs[side]),
            "hit": statistics.median(r.get("hit_rate", 0) for r in runs[side]),
            "cpu_op": statistics.median(r["server_us_per_op"] for r in runs[side]),
            "cli": max(r.get("client_util", 0) for r in runs[side]),
            "errors": sum(max(r["errors"], 0) for r in runs[side]),
        }
    return {"workload": wname, "desc": desc, "median": med, "runs": runs,
            "failures": failures}


def ratio(x, y):
    return x / y if y else float("nan")


S_TIME_CLIENTS = 4


def handshakes(a, pin):
    """--tls: new TLS connections per second, S_TIME_CLIENTS `openssl
    s_time -new` clients at once against each server (A/B alternating),
    and server CPU per handshake."""
    srv_cpu, cli_cpu = (0, 1) if pin else (None, None)
    out = {"ours": [], "ref": []}
    sides = {}
    try:
        sides["ours"] = bl.start_server("ours", a.ours, 64, 4096, a.server_threads,
                                        a.server_args.split() + a.ours_args.split(), srv_cpu)
        sides["ref"] = bl.start_server("ref", a.ref, 64, 4096, a.server_threads,
                                       a.server_args.split() + a.ref_args.split(), srv_cpu)
        secs = max(1, int(a.secs))
        for _ in range(a.rounds):
            for side in ("ours", "ref"):
                c0 = bl.cpu_seconds(sides[side].pid)
                cmd = ([] if cli_cpu is None else ["taskset", "-c", str(cli_cpu)]) + [
                    "openssl", "s_time", "-connect", "127.0.0.1:%d" % sides[side].port,
                    "-new", "-time", str(secs)]
                procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
                         for _ in range(S_TIME_CLIENTS)]
                n = 0
                for p in procs:
                    o, _ = p.communicate(timeout=secs + 60)
                    m = re.search(rb"(\d+) connections in [\d.]+ real seconds", o)
                    n += int(m.group(1)) if m else 0
                cpu = bl.cpu_seconds(sides[side].pid) - c0
                out[side].append((n / secs, cpu * 1e6 / n if n else 0.0))
    finally:
        for s in sides.values():
            bl.stop(s)
    med = {s: (statistics.median(x[0] for x in v), statistics.median(x[1] for x in v))
           for s, v in out.items()}
    return med


def main():
    a = parse_args()
    if not (os.path.isfile(a.mcload) and os.access(a.mcload, os.X_OK)):
        sys.exit("mcload not found at %s (run `make build`, or set MCLOAD)" % a.mcload)
    if a.tls:
        # a throw-away certificate: this measures the servers, not the PKI
        d = tempfile.mkdtemp(prefix="compare-tls-")
        crt, key = os.path.join(d, "c.crt"), os.path.join(d, "c.key")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                        "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key, "-out", crt,
                        "-days", "1", "-subj", "/CN=127.0.0.1"], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=60)
        a.server_args += " -Z -o ssl_chain_cert=%s,ssl_key=%s" % (crt, key)
    pin = not a.no_pin and bl.can_pin()
    if not a.no_pin and not pin:
        print("note: cannot pin to cores 0/1 (taskset missing or affinity restricted); "
              "running unpinned", file=sys.stderr)
    t0 = time.time()
    print("compare: ours=%s ref=%s rounds=%d x %gs server -t %d pin=%s"
          % (a.ours, a.ref, a.rounds, a.secs, a.server_threads, pin), flush=True)
    results = []
    try:
        for w in a.workloads:
            print("workload %s: %s ..." % (w, WORKLOADS[w][0]), flush=True)
            results.append(run_workload(a, w, pin))
    except RuntimeError as e:
        print("compare: %s" % e, file=sys.stderr)
        return 2

    hdr = "%-3s %-40s %11s %11s %6s %9s %9s %6s %7s %7s %6s %5s" % (
        "wl", "workload", "ours ops/s", "ref ops/s", "ratio", "ours p99", "ref p99",
        "p99 r", "ours cpu", "ref cpu", "cpu r", "errs")
    print()
    print(hdr)
    print("-" * len(hdr))
    client_bound = []
    for r in results:
        o, f = r["median"]["ours"], r["median"]["ref"]
        print("%-3s %-40s %11.0f %11.0f %6.3f %7.0fus %7.0fus %6.3f %7.3f %7.3f %6.3f %5d" % (
            r["workload"], r["desc"], o["ops"], f["ops"], ratio(o["ops"], f["ops"]),
            o["p99"], f["p99"], ratio(o["p99"], f["p99"]), o["cpu_op"], f["cpu_op"],
            ratio(o["cpu_op"], f["cpu_op"]), o["errors"] + f["errors"]))
        if max(o["cli"], f["cli"]) > 0.9:
            client_bound.append(r["workload"])
    print("\nops/s = key operations per second (a 100-key multiget counts 100), median of "
          "%d rounds; p99 = median of per-run p99 request latency;\ncpu = server CPU "
          "microseconds (user+sys, all threads) per key op.\nratio = ours/ref: > 1 is "
          "better for ops/s, < 1 is better for p99 and cpu." % a.rounds)
    if client_bound:
        print("WARNING: mcload was CPU-bound (>90%%) in workload(s) %s: throughput ratios "
              "there are understated; try --client-threads 2 --no-pin."
              % ",".join(client_bound))

    print("\nMarkdown:\n")
    print("| workload | ours ops/s | ref ops/s | ops ratio | ours p99 (us) | ref p99 (us) "
          "| p99 ratio | CPU/op ratio |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for r in results:
        o, f = r["median"]["ours"], r["median"]["ref"]
        print("| %s: %s | %.0f | %.0f | %.3f | %.0f | %.0f | %.3f | %.3f |" % (
            r["workload"], r["desc"], o["ops"], f["ops"], ratio(o["ops"], f["ops"]),
            o["p99"], f["p99"], ratio(o["p99"], f["p99"]), ratio(o["cpu_op"], f["cpu_op"])))
    print("\n_%d rounds x %g s, A/B alternating, server -t %d pinned to core 0, "
          "mcload on core 1; total %.0f s._" % (a.rounds, a.secs, a.server_threads,
                                               time.time() - t0))
    if a.ceiling:
        print("\nCeiling (%s, no storage engine, same rounds):\n" % a.ceiling)
        print("| workload | ceiling ops/s | ceiling / ref | ours / ceiling | ref / ceiling "
              "| ceiling CPU us/op |")
        print("|---|---:|---:|---:|---:|---:|")
        for r in results:
            o, f, c = r["median"]["ours"], r["median"]["ref"], r["median"]["ceil"]
            print("| %s | %.0f | %.3f | %.3f | %.3f | %.3f |" % (
                r["workload"], c["ops"], ratio(c["ops"], f["ops"]), ratio(o["ops"], c["ops"]),
                ratio(f["ops"], c["ops"]), c["cpu_op"]))
    if a.tls:
        h = handshakes(a, pin)
        o, f = h["ours"], h["ref"]
        print("\nTLS handshakes (%d x `openssl s_time -new`, median of %d rounds):\n"
              % (S_TIME_CLIENTS, a.rounds))
        print("| | ours | ref | ratio |\n|---|---:|---:|---:|")
        print("| new connections/s | %.0f | %.0f | %.3f |" % (o[0], f[0], ratio(o[0], f[0])))
        print("| server CPU us/handshake | %.0f | %.0f | %.3f |" % (o[1], f[1], ratio(o[1], f[1])))
    failures = [(r["workload"], f) for r in results for f in r["failures"]]
    if failures:
        print("\nFAILURES:")
        for w, f in failures:
            print("  [%s] %s" % (w, f))
    if a.json:
        with open(a.json, "w") as fh:
            json.dump(results, fh, indent=1)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
