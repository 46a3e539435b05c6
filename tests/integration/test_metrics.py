"""-o metrics_listen: Prometheus /metrics, /stats.json, HTTP errors, the
option (off by default, refused values, config file), and memcached
traffic while scraped (doc/monitoring.md).  Our server only: memcached
1.6.18 has no such listener.

EXPORTER below is prometheus/memcached_exporter's list, taken from its
pkg/exporter/exporter.go (v0.16 layout: New() for names and labels,
Collect()/parseStats()/collectSlabMetrics()/parseStatsSettings() for
each metric's type and the stats key it reads).  A metric whose key our
stats do not have is not expected (the exporter skips a missing key);
every other must be there with that type, those labels, and the value
`stats` gives at the same moment.
"""

import http.client
import os
import re
import signal
import socket
import threading
import time

import harness
from harness import HOST, TestFailure, check, eq, free_port
from svc import Daemon, TempDir, listening, run_fail, settings, write

T = harness.TIME_SCALE

# (name, type, label names, group, stats key).  group: "stats" (the
# exporter's client merges the global lines of "stats slabs" into it),
# "settings", "settings_crawler" (only when lru_crawler is yes), "items"
# and "slabs" (per class, label slab=<id>).
EXPORTER = [
    ("memcached_uptime_seconds", "counter", (), "stats", "uptime"),
    ("memcached_time_seconds", "gauge", (), "stats", "time"),
    ("memcached_process_user_cpu_seconds_total", "counter", (), "stats", "rusage_user"),
    ("memcached_process_system_cpu_seconds_total", "counter", (), "stats", "rusage_system"),
    ("memcached_read_bytes_total", "counter", (), "stats", "bytes_read"),
    ("memcached_written_bytes_total", "counter", (), "stats", "bytes_written"),
    ("memcached_current_connections", "gauge", (), "stats", "curr_connections"),
    ("memcached_connections_total", "counter", (), "stats", "total_connections"),
    ("memcached_connections_rejected_total", "counter", (), "stats", "rejected_connections"),
    ("memcached_connections_yielded_total", "counter", (), "stats", "conn_yields"),
    ("memcached_connections_listener_disabled_total", "counter", (), "stats", "listen_disabled_num"),
    ("memcached_current_bytes", "gauge", (), "stats", "bytes"),
    ("memcached_limit_bytes", "gauge", (), "stats", "limit_maxbytes"),
    ("memcached_current_items", "gauge", (), "stats", "curr_items"),
    ("memcached_items_total", "counter", (), "stats", "total_items"),
    ("memcached_items_evicted_total", "counter", (), "stats", "evictions"),
    ("memcached_items_reclaimed_total", "counter", (), "stats", "reclaimed"),
    ("memcached_item_too_large_total", "counter", (), "stats", "store_too_large"),
    ("memcached_item_no_memory_total", "counter", (), "stats", "store_no_memory"),
    ("memcached_lru_crawler_starts_total", "counter", (), "stats", "lru_crawler_starts"),
    ("memcached_direct_reclaims_total", "counter", (), "stats", "direct_reclaims"),
    ("memcached_lru_crawler_items_checked_total", "counter", (), "stats", "crawler_items_checked"),
    ("memcached_lru_crawler_reclaimed_total", "counter", (), "stats", "crawler_reclaimed"),
    ("memcached_lru_crawler_moves_to_cold_total", "counter", (), "stats", "moves_to_cold"),
    ("memcached_lru_crawler_moves_to_warm_total", "counter", (), "stats", "moves_to_warm"),
    ("memcached_lru_crawler_moves_within_lru_total", "counter", (), "stats", "moves_within_lru"),
    ("memcached_malloced_bytes", "gauge", (), "stats", "total_malloced"),
    ("memcached_accepting_connections", "gauge", (), "stats", "accepting_conns"),
    ("memcached_max_connections", "gauge", (), "settings", "maxconns"),
    ("memcached_lru_crawler_enabled", "gauge", (), "settings_crawler", "lru_crawler"),
    ("memcached_lru_crawler_sleep", "gauge", (), "settings_crawler", "lru_crawler_sleep"),
    ("memcached_lru_crawler_to_crawl", "gauge", (), "settings_crawler", "lru_crawler_tocrawl"),
    ("memcached_lru_crawler_maintainer_thread", "gauge", (), "settings_crawler", "lru_maintainer_thread"),
    ("memcached_lru_crawler_hot_percent", "gauge", (), "settings_crawler", "hot_lru_pct"),
    ("memcached_lru_crawler_warm_percent", "gauge", (), "settings_crawler", "warm_lru_pct"),
    ("memcached_lru_crawler_hot_max_factor", "gauge", (), "settings_crawler", "hot_max_factor"),
    ("memcached_lru_crawler_warm_max_factor", "gauge", (), "settings_crawler", "warm_max_factor"),
    # per class, from "stats items" (itemsCounterMetrics / itemsGaugeMetrics)
    ("memcached_slab_current_items", "gauge", ("slab",), "items", "number"),
    ("memcached_slab_items_age_seconds", "gauge", ("slab",), "items", "age"),
    ("memcached_slab_items_crawler_reclaimed_total", "counter", ("slab",), "items", "crawler_reclaimed"),
    ("memcached_slab_items_evicted_total", "counter", ("slab",), "items", "evicted"),
    ("memcached_slab_items_evicted_nonzero_total", "counter", ("slab",), "items", "evicted_nonzero"),
    ("memcached_slab_items_evicted_time_seconds", "counter", ("slab",), "items", "evicted_time"),
    ("memcached_slab_items_evicted_unfetched_total", "counter", ("slab",), "items", "evicted_unfetched"),
    ("memcached_slab_items_expired_unfetched_total", "counter", ("slab",), "items", "expired_unfetched"),
    ("memcached_slab_items_outofmemory_total", "counter", ("slab",), "items", "outofmemory"),
    ("memcached_slab_items_reclaimed_total", "counter", ("slab",), "items", "reclaimed"),
    ("memcached_slab_items_tailrepairs_total", "counter", ("slab",), "items", "tailrepairs"),
    ("memcached_slab_mem_requested_bytes", "counter", ("slab",), "items", "mem_requested"),
    ("memcached_slab_items_moves_to_cold", "counter", ("slab",), "items", "moves_to_cold"),
    ("memcached_slab_items_moves_to_warm", "counter", ("slab",), "items", "moves_to_warm"),
    ("memcached_slab_items_moves_within_lru", "counter", ("slab",), "items", "moves_within_lru"),
    ("memcached_slab_hot_items", "gauge", ("slab",), "items", "number_hot"),
    ("memcached_slab_warm_items", "gauge", ("slab",), "items", "number_warm"),
    ("memcached_slab_cold_items", "gauge", ("slab",), "items", "number_cold"),
    ("memcached_slab_temporary_items", "gauge", ("slab",), "items", "number_temp"),
    ("memcached_slab_hot_age_seconds", "gauge", ("slab",), "items", "age_hot"),
    ("memcached_slab_warm_age_seconds", "gauge", ("slab",), "items", "age_warm"),
    # per class, from "stats slabs" (collectSlabMetrics)
    ("memcached_slab_chunk_size_bytes", "gauge", ("slab",), "slabs", "chunk_size"),
    ("memcached_slab_chunks_per_page", "gauge", ("slab",), "slabs", "chunks_per_page"),
    ("memcached_slab_current_pages", "gauge", ("slab",), "slabs", "total_pages"),
    ("memcached_slab_current_chunks", "gauge", ("slab",), "slabs", "total_chunks"),
    ("memcached_slab_chunks_used", "gauge", ("slab",), "slabs", "used_chunks"),
    ("memcached_slab_chunks_free", "gauge", ("slab",), "slabs", "free_chunks"),
    ("memcached_slab_chunks_free_end", "gauge", ("slab",), "slabs", "free_chunks_end"),
]
# Computed families (same source): memcached_up, memcached_version{version},
# memcached_commands_total{command,status}, memcached_slab_lru_hits_total
# {slab,lru}, memcached_slab_commands_total{slab,command,status}.
OPS = ("get", "delete", "incr", "decr", "cas", "touch")
LRUS = (("hits_to_hot", "hot"), ("hits_to_warm", "warm"), ("hits_to_cold", "cold"),
        ("hits_to_temp", "temporary"))
# Families the exporter emits only for stats we never have: extstore_* (with
# extstore_limit_maxbytes) and proxy_* (with proxy_backend_total).

# Ours (doc/monitoring.md): name -> (type, label names).
OURS = {
    "memcached_read_buffer_bytes": ("gauge", ()),
    "memcached_read_buffers": ("gauge", ()),
    "memcached_read_buffer_oom_total": ("counter", ()),
    "memcached_output_buffer_bytes": ("gauge", ()),
    "memcached_write_timeouts_total": ("counter", ()),
    "memcached_eviction_policy_probation_items": ("gauge", ()),
    "memcached_eviction_policy_hits_total": ("counter", ("queue",)),
    "memcached_eviction_policy_promoted_total": ("counter", ()),
    "memcached_eviction_policy_ghost_hits_total": ("counter", ()),
    "memcached_eviction_policy_evictions_total": ("counter", ("reason",)),
    "memcached_eviction_policy_memory_bytes": ("gauge", ()),
    "memcached_slab_eviction_policy_probation_items": ("gauge", ("slab",)),
    "memcached_slab_eviction_policy_promoted_total": ("counter", ("slab",)),
    "memcached_slab_eviction_policy_ghost_hits_total": ("counter", ("slab",)),
    "memcached_slab_eviction_policy_evictions_total": ("counter", ("slab", "reason")),
    "memcached_snapshot_enabled": ("gauge", ()),
    "memcached_hotkeys_sample_interval": ("gauge", ()),
    "memcached_hotkeys_sampled_total": ("counter", ()),
    "memcached_hotkeys_memory_bytes": ("gauge", ()),
}
# ours that have samples only once some lookup was sampled
OURS_SOMETIMES = {"memcached_hotkey_requests": ("gauge", ("key", "rank"))}
# ours with snapshot_path: family -> "stats snapshot" key
SNAPSHOT = {
    "memcached_snapshot_in_progress": ("gauge", "in_progress"),
    "memcached_snapshot_interval_seconds": ("gauge", "interval"),
    "memcached_snapshot_last_success_timestamp_seconds": ("gauge", "last_success"),
    "memcached_snapshot_last_start_timestamp_seconds": ("gauge", "last_start"),
    "memcached_snapshot_last_duration_seconds": ("gauge", "last_duration"),
    "memcached_snapshot_last_items": ("gauge", "last_items"),
    "memcached_snapshot_last_bytes": ("gauge", "last_bytes"),
    "memcached_snapshot_successes_total": ("counter", "successes"),
    "memcached_snapshot_failures_total": ("counter", "failures"),
    "memcached_snapshot_file_bytes": ("gauge", "file_bytes"),
    "memcached_snapshot_filesystem_avail_bytes": ("gauge", "fs_avail_bytes"),
    "memcached_snapshot_filesystem_size_bytes": ("gauge", "fs_total_bytes"),
}
# values that move on an idle server between two looks (time, our own
# stats requests, CPU, idle ages): range-checked, the rest must be exact
MOVING = {"uptime", "time", "rusage_user", "rusage_system", "bytes_read", "bytes_written",
          "age", "fs_avail_bytes"}


def http_get(port, path, method="GET", timeout=10):
    c = http.client.HTTPConnection(HOST, port, timeout=timeout * T)
    try:
        c.request(method, path)
        r = c.getresponse()
        return r.status, dict((k.lower(), v) for k, v in r.getheaders()), r.read()
    finally:
        c.close()


_SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$')
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"(,|$)')


def parse_exposition(text):
    """{family: (type, help)}, {(name, frozenset(labels)): value}.  Checks the
    text format: HELP then TYPE once per family, a family's samples
    together and after its TYPE, each series once."""
    types, samples, done, cur = {}, {}, set(), None
    for ln in text.split("\n")[:-1]:
        if ln.startswith("# HELP "):
            name = ln.split(" ", 3)[2]
            check(name not in types and name not in done, "family %s twice" % name)
            if cur:
                done.add(cur)
            cur = name
            continue
        if ln.startswith("# TYPE "):
            _, _, name, typ = ln.split(" ")
            eq(name, cur, "TYPE right after its HELP")
            check(typ in ("counter", "gauge"), "type %r" % typ)
            types[name] = typ
            continue
        m = _SAMPLE.match(ln)
        check(m is not None, "bad sample line %r" % ln)
        name, lab, val = m.groups()
        eq(name, cur, "sample %r inside its family" % ln)
        labels = {}
        if lab:
            pos = 0
            for lm in _LABEL.finditer(lab):
                eq(lm.start(), pos, "labels of %r" % ln)
                labels[lm.group(1)] = lm.group(2)
                pos = lm.end()
            eq(pos, len(lab), "labels of %r" % ln)
        float(val)
        key = (name, frozenset(labels.items()))
        check(key not in samples, "series twice: %r" % ln)
        samples[key] = val
    check(text.endswith("\n"), "exposition ends with a newline")
    return types, samples


def all_stats(c):
    groups = {}
    for sub in (b"", b"settings", b"items", b"slabs"):
        groups[sub.decode() or "stats"] = harness.stats(c, sub)[0]
    merged = dict(groups["stats"])
    merged.update({k: v for k, v in groups["slabs"].items() if ":" not in k})
    groups["stats"] = merged
    return groups


def per_class(group, prefix=""):
    out = {}
    for k, v in group.items():
        if ":" not in k or not k.startswith(prefix):
            continue
        cls, name = k[len(prefix):].split(":", 1)
        out.setdefault(cls, {})[name] = v
    return out


def expected(groups):
    """{(name, labels): value from stats} for every exporter sample, plus
    {name: (type, label names)}."""
    want, fam = {}, {}

    def add(name, typ, labels, value):
        fam[name] = (typ, tuple(sorted(l for l, _ in labels)))
        want[(name, frozenset(labels))] = value

    st, se = groups["stats"], groups["settings"]
    items, slabs = per_class(groups["items"], "items:"), per_class(groups["slabs"])
    add("memcached_up", "gauge", (), "1")
    add("memcached_version", "gauge", (("version", st["version"]),), "1")
    for op in OPS:
        for key, status in (("_hits", "hit"), ("_misses", "miss")):
            if op + key in st:
                add("memcached_commands_total", "counter",
                    (("command", op), ("status", status)), st[op + key])
    add("memcached_commands_total", "counter", (("command", "cas"), ("status", "badval")),
        st["cas_badval"])
    add("memcached_commands_total", "counter", (("command", "flush"), ("status", "hit")),
        st["cmd_flush"])
    add("memcached_commands_total", "counter", (("command", "set"), ("status", "hit")),
        str(int(st["cmd_set"]) - int(st["cas_misses"]) - int(st["cas_hits"])
            - int(st["cas_badval"])))
    for name, typ, labels, group, key in EXPORTER:
        if group in ("stats", "settings") or (group == "settings_crawler"
                                              and se.get("lru_crawler") == "yes"):
            src = st if group == "stats" else se
            if key in src:
                v = src[key]
                if v in ("yes", "no"):
                    v = "1" if v == "yes" else "0"
                add(name, typ, (), v)
        elif group in ("items", "slabs"):
            for cls, vals in (items if group == "items" else slabs).items():
                if key in vals:
                    add(name, typ, (("slab", cls),), vals[key])
    for cls, vals in items.items():
        for key, lru in LRUS:
            if key in vals:
                add("memcached_slab_lru_hits_total", "counter", (("slab", cls), ("lru", lru)),
                    vals[key])
    for cls, vals in slabs.items():
        for op in OPS:
            if op + "_hits" in vals:
                add("memcached_slab_commands_total", "counter",
                    (("slab", cls), ("command", op), ("status", "hit")), vals[op + "_hits"])
        add("memcached_slab_commands_total", "counter",
            (("slab", cls), ("command", "cas"), ("status", "badval")), vals["cas_badval"])
        add("memcached_slab_commands_total", "counter",
            (("slab", cls), ("command", "set"), ("status", "hit")),
            str(int(vals["cmd_set"]) - int(vals["cas_hits"]) - int(vals["cas_badval"])))
    return want, fam


def _traffic(c):
    harness.transact(c, b"set a 0 0 1\r\n1\r\nset b 5 0 300\r\n" + b"x" * 300 + b"\r\n"
                        b"get a b nope\r\ndelete a\r\ndelete a\r\nincr n 1\r\n"
                        b"set n 0 0 1\r\n5\r\nincr n 2\r\ndecr n 1\r\ntouch b 100\r\n"
                        b"touch zz 1\r\ngets b\r\n")
    cas = int(harness.transact(c, b"gets n\r\n").split(b"\r\n")[0].split()[4])
    harness.transact(c, b"cas n 0 0 1 %d\r\n9\r\ncas n 0 0 1 %d\r\n8\r\ncas q 0 0 1 1\r\n1\r\n"
                        % (cas, cas))


def _check_values(want, before, after, samples):
    """Each expected sample is there; exact where stats did not move."""
    for key, v in want.items():
        name, labels = key
        check(key in samples, "missing %s%s" % (name, dict(labels)))
        got = samples[key]
        b, a = before.get(key, v), after.get(key, v)
        if b == a:
            eq(float(got), float(b), "%s%s (stats %s)" % (name, dict(labels), b))
        else:
            lo, hi = sorted((float(b), float(a)))
            check(lo <= float(got) <= hi, "%s%s = %s, stats %s..%s" % (name, dict(labels), got, b, a))



def test_exporter_metrics_match_stats():
    mport = free_port()
    with harness.server(["-o", "metrics_listen=%d" % mport]) as s:
        with s.connect() as c:
            _traffic(c)
            g0 = all_stats(c)
            status, hdr, body = http_get(mport, "/metrics")
            g1 = all_stats(c)
    eq(status, 200, "status")
    eq(hdr.get("content-type"), "text/plain; version=0.0.4; charset=utf-8", "content type")
    text = body.decode()
    types, samples = parse_exposition(text)
    try:                            # the Prometheus client's own parser agrees
        from prometheus_client.parser import text_string_to_metric_families
        n = sum(len(f.samples) for f in text_string_to_metric_families(text))
        eq(n, len(samples), "samples the prometheus_client parser reads")
    except ImportError:
        raise TestFailure("python3-prometheus-client missing (scripts/deps.sh test)")
    want0, fam = expected(g0)
    want1, _ = expected(g1)
    eq(set(want1), set(want0), "series in stats before/after")
    check(len(want0) > 100, "expected series: %d" % len(want0))
    for name, (typ, labels) in fam.items():
        eq(types.get(name), typ, "TYPE of %s" % name)
        for (n, ls), _ in samples.items():
            if n == name:
                eq(tuple(sorted(k for k, _ in ls)), labels, "labels of %s" % name)
    # values: exact unless the key is known to move on an idle server
    src = {name: key for name, _, _, _, key in EXPORTER}
    for key in want0:
        if want0[key] != want1[key]:
            check(src.get(key[0]) in MOVING, "%s%s moved on an idle server: %s -> %s"
                  % (key[0], dict(key[1]), want0[key], want1[key]))
    _check_values(want0, want0, want1, samples)
    # the named ones, with values we know
    eq(samples[("memcached_commands_total", frozenset({("command", "get"), ("status", "hit")}))],
       g0["stats"]["get_hits"], "get hits")
    check(int(g0["stats"]["get_hits"]) == 4 and int(g0["stats"]["cas_badval"]) == 1,
          "traffic counted: %r" % g0["stats"])
    eq(samples[("memcached_current_items", frozenset())], "2", "curr_items")
    # nothing else: every family is the exporter's or ours, typed as listed
    for name, typ in types.items():
        if name in fam:
            continue
        check(name in OURS or name in OURS_SOMETIMES, "unexpected family %s" % name)
        eq(typ, (OURS.get(name) or OURS_SOMETIMES[name])[0], "TYPE of %s" % name)
    for name, (typ, labels) in OURS.items():
        check(name in types, "our family %s missing" % name)
        for (n, ls), v in samples.items():
            if n == name:
                eq(tuple(sorted(k for k, _ in ls)), tuple(sorted(labels)), "labels of %s" % n)
    # ours equal their stats lines too
    st = g0["stats"]
    for name, key in (("memcached_read_buffer_bytes", "read_buf_bytes"),
                      ("memcached_output_buffer_bytes", "output_buf_bytes"),
                      ("memcached_eviction_policy_memory_bytes", "eviction_policy_bytes"),
                      ("memcached_write_timeouts_total", "write_timeouts")):
        eq(samples[(name, frozenset())], st[key], name)
    eq(samples[("memcached_eviction_policy_hits_total", frozenset({("queue", "main")}))],
       st["main_hits"], "main hits")
    eq(samples[("memcached_snapshot_enabled", frozenset())], "0", "no snapshots")


def test_stats_json():
    mport = free_port()
    with harness.server(["-o", "metrics_listen=127.0.0.1:%d" % mport]) as s:
        with s.connect() as c:
            _traffic(c)
            g = all_stats(c)
            status, hdr, body = http_get(mport, "/stats.json")
    import json
    eq(status, 200, "status")
    eq(hdr.get("content-type"), "application/json", "content type")
    d = json.loads(body)
    for k in ("curr_items", "total_items", "get_hits", "get_misses", "cmd_set",
              "total_connections", "limit_maxbytes", "evictions"):
        eq(str(d["stats"][k]), g["stats"][k], "json stats " + k)
    eq(d["stats"]["version"], g["stats"]["version"], "version")
    eq(d["snapshot"], None, "no snapshot")
    items = per_class(g["items"], "items:")
    eq(sorted(d["items"]), sorted(items), "item classes")
    for cls, vals in items.items():
        eq(str(d["items"][cls]["number"]), vals["number"], "items %s number" % cls)
    for k in ("t", "cmd_get", "get_hits", "curr_connections", "evictions"):
        check(isinstance(d["history"][k], list) and len(d["history"][k]) >= 1,
              "history %s: %r" % (k, d["history"].get(k)))
    eq(len(d["history"]["t"]), len(d["history"]["cmd_get"]), "history lengths")


def test_http_errors():
    mport = free_port()
    with harness.server(["-o", "metrics_listen=%d" % mport]) as s:
        for path in ("/nope", "/metrics/x", "/stats", "/metricsx"):
            status, _, _ = http_get(mport, path)
            eq(status, 404, "GET %s" % path)
        status, _, _ = http_get(mport, "/metrics?name=x")
        eq(status, 200, "query string ignored")
        status, _, body = http_get(mport, "/metrics", method="HEAD")
        eq((status, body), (200, b""), "HEAD")
        for m in ("POST", "PUT", "DELETE"):
            status, _, _ = http_get(mport, "/metrics", method=m)
            check(status in (405, 501), "%s refused: %d" % (m, status))
        # a garbage request line: the connection is answered or closed, the
        # server lives on
        with socket.create_connection((HOST, mport), timeout=5 * T) as k:
            k.sendall(b"\x00\x01garbage\r\n\r\n")
            try:
                k.recv(100)
            except OSError:
                pass
        status, _, page = http_get(mport, "/")
        eq(status, 200, "status page")
        check(page.startswith(b"<!doctype html>") and b"stats.json" in page, "page")
        check(b"http://" not in page and b"https://" not in page, "nothing fetched from outside")
        with s.connect() as c:
            eq(harness.transact(c, b"set k 0 0 1\r\nv\r\nget k\r\n"),
               b"STORED\r\nVALUE k 0 1\r\nv\r\nEND\r\n", "memcached port")


def _tcp_listeners(pid):
    """Ports on which process pid has a listening TCP socket."""
    inodes = set()
    fd = "/proc/%d/fd" % pid
    for f in os.listdir(fd):
        try:
            t = os.readlink(os.path.join(fd, f))
        except OSError:
            continue
        if t.startswith("socket:["):
            inodes.add(t[8:-1])
    ports = []
    for tab in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(tab) as f:
            for ln in f.read().splitlines()[1:]:
                p = ln.split()
                if p[3] == "0A" and p[9] in inodes:
                    ports.append(int(p[1].split(":")[1], 16))
    return sorted(ports)


def test_off_by_default():
    with harness.server() as s:
        eq(_tcp_listeners(s.proc.pid), [s.port], "listening ports without metrics_listen")
        with s.connect() as c:
            eq(harness.stats(c, b"settings")[0]["metrics_listen"], "NULL", "setting")
    mport = free_port()
    with harness.server(["-o", "metrics_listen=%d" % mport]) as s:
        eq(_tcp_listeners(s.proc.pid), sorted([s.port, mport]), "with metrics_listen")
        with s.connect() as c:
            eq(harness.stats(c, b"settings")[0]["metrics_listen"], str(mport), "setting")


def test_bad_metrics_listen_refused():
    for v, why in (("abc", "port must be a number from 1 to 65535"),
                   ("0", "port must be a number from 1 to 65535"),
                   ("70000", "port must be a number from 1 to 65535"),
                   ("127.0.0.1:", "port must be a number from 1 to 65535"),
                   (":9150", "no host before ':'"),
                   ("::1:9150", "an IPv6 address goes in brackets: [v6address]:port"),
                   ("[::1]", "expected [v6address]:port")):
        port = free_port()
        rc, out, err = run_fail(["-p", str(port), "-l", HOST, "-U", "0",
                                 "-o", "metrics_listen=" + v])
        check(rc != 0, "started with metrics_listen=%s" % v)
        eq(err, 'metrics_listen: "%s": %s\n' % (v, why), "stderr for %s" % v)
        check(not listening(port), "memcached port open after refusing %s" % v)
    # a port in use: refused at start, nothing left listening
    with socket.socket() as busy:
        busy.bind((HOST, 0))
        busy.listen(1)
        bport = busy.getsockname()[1]
        port = free_port()
        rc, out, err = run_fail(["-p", str(port), "-l", HOST, "-U", "0",
                                 "-o", "metrics_listen=%d" % bport])
        check(rc != 0, "started on a busy metrics port")
        eq(err, "failed to listen: metrics_listen %d: cannot listen on 127.0.0.1 port %d: "
                "Address already in use\n" % (bport, bport), "stderr")
        check(not listening(port), "memcached port open")


def test_config_file_sighup_and_graceful_stop():
    with TempDir() as tmp:
        port, mport = free_port(), free_port()
        conf = write(os.path.join(tmp, "m.conf"),
                     "port = %d\nlisten = 127.0.0.1\nudp-port = 0\nmetrics_listen = 127.0.0.1:%d\n"
                     % (port, mport))
        with Daemon(["--config=" + conf], port) as d:
            eq(settings(port)["metrics_listen"], "127.0.0.1:%d" % mport, "from the file")
            status, _, body = http_get(mport, "/metrics")
            eq(status, 200, "scrape")
            check(b"memcached_up 1\n" in body, "up")
            d.signal(signal.SIGHUP)
            # the reload is logged; the listener keeps serving
            for _ in range(200):
                if "SIGHUP: re-read" in d.err():
                    break
                time.sleep(0.02)
            check("SIGHUP: re-read" in d.err(), "reload logged: %s" % d.err())
            status, _, _ = http_get(mport, "/metrics")
            eq(status, 200, "scrape after SIGHUP")
            # a scrape connection left open does not hold up a graceful stop
            idle = socket.create_connection((HOST, mport), timeout=5 * T)
            d.signal(signal.SIGTERM)
            eq(d.wait_exit(10 * T), 0, "exit status")
            idle.close()
            check(not listening(mport), "metrics port closed")


def test_memcached_traffic_while_scraped():
    mport = free_port()
    with harness.server(["-o", "metrics_listen=%d" % mport]) as s:
        stop, results = threading.Event(), []

        def scraper():
            for _ in range(2000):
                if stop.is_set():
                    return
                status, _, body = http_get(mport, "/metrics" if len(results) % 2 else "/stats.json")
                results.append(status)

        th = threading.Thread(target=scraper, daemon=True)
        th.start()
        with s.connect() as c:
            for i in range(300):
                v = b"v%d" % i
                eq(harness.transact(c, b"set k%d 0 0 %d\r\n%s\r\nget k%d\r\n" % (i, len(v), v, i)),
                   b"STORED\r\nVALUE k%d 0 %d\r\n%s\r\nEND\r\n" % (i, len(v), v), "request %d" % i)
        stop.set()
        th.join(30 * T)
        check(not th.is_alive(), "scraper stopped")
        check(len(results) >= 2 and set(results) == {200}, "scrapes: %d, %r"
              % (len(results), set(results)))
        with s.connect() as c:
            eq(harness.stats(c)[0]["curr_items"], "300", "items")


def test_snapshot_metrics():
    with TempDir() as tmp:
        path = os.path.join(tmp, "cache.snap")
        mport = free_port()
        with harness.server(["-o", "metrics_listen=%d" % mport, "-o", "snapshot_path=" + path]) as s:
            with s.connect() as c:
                harness.transact(c, b"set a 0 0 3\r\nabc\r\n")
                eq(c.request(b"snapshot\r\n", timeout=30 * T), b"OK\r\n", "snapshot")
                st0 = harness.stats(c, b"snapshot")[0]
                _, _, body = http_get(mport, "/metrics")
                st1 = harness.stats(c, b"snapshot")[0]
            types, samples = parse_exposition(body.decode())
            eq(samples[("memcached_snapshot_enabled", frozenset())], "1", "enabled")
            for name, (typ, key) in SNAPSHOT.items():
                eq(types.get(name), typ, "TYPE of %s" % name)
                got = float(samples[(name, frozenset())])
                lo, hi = sorted((float(st0[key]), float(st1[key])))
                check(lo <= got <= hi, "%s = %s, stats %s..%s" % (name, got, st0[key], st1[key]))
                if key not in MOVING:
                    eq(st0[key], st1[key], key + " moved")
            size = os.path.getsize(path)
            eq(samples[("memcached_snapshot_file_bytes", frozenset())], str(size), "file size")
            eq(samples[("memcached_snapshot_successes_total", frozenset())], "1", "successes")
            check(float(samples[("memcached_snapshot_last_success_timestamp_seconds",
                                 frozenset())]) >= time.time() - 60, "last success recent")
            vfs = os.statvfs(tmp)
            eq(samples[("memcached_snapshot_filesystem_size_bytes", frozenset())],
               str(vfs.f_blocks * vfs.f_frsize), "filesystem size")


def test_hotkey_metrics_match_stats_hotkeys():
    """memcached_hotkey_requests{key,rank} is `stats hotkeys` (the default
    top 10), read on an idle server so both see the same counts; with
    -o no_hotkeys the families are absent."""
    mport = free_port()
    with harness.server(["-o", "metrics_listen=127.0.0.1:%d,hotkeys_sample=1" % mport]) as s:
        with s.connect() as c:
            # key i asked for 10 * (12 - i) times: a clear ranking
            reqs = b"".join(b"get hk:%d\r\n" % i * (10 * (12 - i)) for i in range(12))
            harness.transact(c, b"set hk:0 0 0 1\r\nx\r\n")
            harness.transact(c, reqs)
            st = harness.stats(c, b"hotkeys")[0]
            status, hdr, body = http_get(mport, "/metrics")
            again = harness.stats(c, b"hotkeys")[0]
        eq(st, again, "no traffic between the two reads")
        eq(status, 200, "status")
        types, samples = parse_exposition(body.decode())
        eq(types.get("memcached_hotkey_requests"), "gauge", "type")
        eq(types.get("memcached_hotkeys_sampled_total"), "counter", "type")
        got = {dict(k[1])["rank"]: (dict(k[1])["key"], v) for k, v in samples.items()
               if k[0] == "memcached_hotkey_requests"}
        want = {str(r): (st["hotkey:%d:key" % r], st["hotkey:%d:count" % r])
                for r in range(1, 11)}
        eq(got, want, "hot keys in /metrics vs stats hotkeys")
        eq(got["1"], ("hk%3A0", "120"), "the hottest key, exactly (every lookup sampled)")
        eq(samples[("memcached_hotkeys_sampled_total", frozenset())], st["hotkeys_sampled"],
           "sampled")
    mport = free_port()
    with harness.server(["-o", "metrics_listen=127.0.0.1:%d,no_hotkeys" % mport]) as s:
        status, hdr, body = http_get(mport, "/metrics")
        check(b"hotkey" not in body, "no hot-key families with no_hotkeys")
