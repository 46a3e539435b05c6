"""The status page at / (-o metrics_listen), in a real browser: Debian's
headless Chromium loads it against a running server under a bounded
background load, its JavaScript renders (virtual time lets the 1 s
refresh run), and the numbers it shows (data-stat/data-value cells of
the page) are checked against `stats`; a screenshot is saved
(status-page.png in the build directory; doc/status-page.png is one).
"""

import os
import random
import re
import shutil
import subprocess
import threading
import time

import harness
from harness import TestFailure, check, eq, free_port
from svc import TempDir

T = harness.TIME_SCALE
SHOT = os.path.join(os.getcwd(), "status-page.png")


def chromium():
    for name in ("chromium", "chromium-browser"):
        p = shutil.which(name)
        if p:
            return p
    raise TestFailure("chromium not installed (scripts/deps.sh test installs it)")


def browse(url, profile, extra, budget_ms=4000):
    """Run headless Chromium on url; returns its stdout.  Bounded in time."""
    cmd = [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
           "--no-first-run", "--user-data-dir=" + profile, "--window-size=1400,1250",
           "--virtual-time-budget=%d" % budget_ms] + extra + [url]
    try:
        p = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=45 * T)
    except subprocess.TimeoutExpired:
        raise TestFailure("chromium did not finish in %ds" % (45 * T))
    check(p.returncode == 0, "chromium rc %d: %s" % (p.returncode, p.stderr[-500:]))
    return p.stdout.decode("utf-8", "replace")


def shown(dom):
    """{stat name: value shown} from the rendered page."""
    check(re.search(r'<body[^>]*data-ready="1"', dom), "page never rendered:\n" + dom[:800])
    dom = re.sub(r"(?s)<script.*?</script>", "", dom)   # the page's code, not its output
    vals = dict(re.findall(r'data-stat="(\w+)" data-value="([^"]*)"', dom))
    check(len(vals) >= 20, "values on the page: %r" % vals)
    return vals


class Load:
    """Bounded background load on already-open connections: gets (hits and
    misses) and touches of existing keys, so curr_items and
    total_connections stay put while the hit counters move (an overwrite
    would not do: while it replaces an item, curr_items can read one low)."""

    def __init__(self, conns, nkeys):
        self.conns, self.nkeys = conns, nkeys
        self.stop = threading.Event()
        self.errors = []
        self.threads = [threading.Thread(target=self.run, args=(c, i), daemon=True)
                        for i, c in enumerate(conns)]

    def run(self, c, seed):
        rnd = random.Random(seed)
        deadline = time.monotonic() + 40 * T
        for _ in range(100000):
            if self.stop.is_set() or time.monotonic() > deadline:
                return
            try:
                keys = b" ".join(b"k%d" % rnd.randrange(self.nkeys * 3 // 2) for _ in range(20))
                harness.transact(c, b"get " + keys + b"\r\ntouch k%d 0\r\n"
                                 % rnd.randrange(self.nkeys))
            except Exception as e:  # noqa: BLE001 -- reported by the test
                self.errors.append(repr(e))
                return
            time.sleep(0.002)

    def __enter__(self):
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *a):
        self.stop.set()
        for t in self.threads:
            t.join(10 * T)


def test_status_page_in_chromium():
    with TempDir() as tmp:
        mport = free_port()
        args = ["-o", "metrics_listen=%d" % mport, "-o", "snapshot_path=" + os.path.join(tmp, "s"),
                "-o", "snapshot_interval=2"]
        url = "http://127.0.0.1:%d/" % mport
        with harness.server(args) as s:
            nkeys = 600
            with s.connect() as c:
                for i in range(0, nkeys, 50):
                    harness.transact(c, b"".join(b"set k%d 0 0 %d\r\n%s\r\n"
                                                 % (j, 20 + 7 * j, b"v" * (20 + 7 * j))
                                                 for j in range(i, i + 50)))
                conns = [s.connect() for _ in range(3)]
                try:
                    with Load(conns, nkeys) as load:
                        time.sleep(4)       # some history for the charts
                        before = harness.stats(c)[0]
                        page = shown(browse(url, os.path.join(tmp, "p1"), ["--dump-dom"]))
                        after = harness.stats(c)[0]
                        browse(url, os.path.join(tmp, "p2"), ["--screenshot=" + SHOT])
                    check(not load.errors, "load: %r" % load.errors[:3])
                    # under load: fixed values exact, moving ones in between
                    for k in ("curr_items", "total_connections", "curr_connections"):
                        eq(page[k], before[k], "%s on the page (stats %s)" % (k, before[k]))
                        eq(after[k], before[k], "%s moved" % k)
                    for k in ("cmd_get", "get_hits", "get_misses", "cmd_touch", "touch_hits"):
                        check(int(before[k]) <= int(page[k]) <= int(after[k]),
                              "%s on the page %s, stats %s..%s" % (k, page[k], before[k], after[k]))
                    check(int(after["get_hits"]) > int(before["get_hits"]), "load ran")
                    # idle: every counter shown equals stats
                    idle = harness.stats(c)[0]
                    page = shown(browse(url, os.path.join(tmp, "p3"), ["--dump-dom"], 2500))
                    again = harness.stats(c)[0]
                    for k in ("curr_items", "total_items", "cmd_get", "get_hits", "get_misses",
                              "cmd_set", "curr_connections", "total_connections", "evictions",
                              "delete_hits", "cas_hits", "read_buf_bytes"):
                        eq(page[k], idle[k], "%s on the idle page" % k)
                    for k in ("curr_items", "get_hits", "cmd_set", "total_connections"):
                        eq(again[k], idle[k], "%s moved on an idle server" % k)
                    snap = harness.stats(c, b"snapshot")[0]
                    check(int(snap["successes"]) >= 1, "a periodic snapshot ran: %r" % snap)
                    eq(page["file_bytes"], snap["file_bytes"], "snapshot file size on the page")
                    check(int(page["last_success"]) > 0, "last success shown")
                finally:
                    for k in conns:
                        k.close()
        with open(SHOT, "rb") as f:
            png = f.read()
        check(png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 20000,
              "screenshot %s: %d bytes" % (SHOT, len(png)))
