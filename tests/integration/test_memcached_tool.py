"""Debian's memcached-tool (the memcached package's perl script) against
ours and against the reference, loaded with the same data; the outputs
are compared line by line.

What legitimately differs is masked, each for a stated reason:
- the `#host:port` header: each server has its own port;
- `stats`: process facts (pid uptime time version libevent rusage_*),
  item sizes (`bytes`: our items are smaller, doc/storage.md), what the
  tool's own earlier `stats` replies added to `bytes_written` (ours are
  longer by our extra lines), memory architecture (`read_buf_*`,
  `response_obj_*`: memcached keeps per-thread buffer pools we do not
  have), background threads' activity (`lru_maintainer_juggles`,
  `moves_*`, `lru_crawler_starts`, `lru_crawler_running`,
  `crawler_items_checked`: memcached's LRU maintainer and both crawlers
  run on their own timers; we have no maintainer).  The tool keeps the
  `\r` of each STAT line (it chomps only `\n`), on both sides.  Our
  extra lines (eviction policy counters, `write_timeouts`) are listed and
  removed before comparing; every reference line must be there;
- `settings`: `tcpport`; `hash_algorithm` (we always use xxh3);
  `read_buf_mem_limit` (ours is enforced, 256 MB by default;
  doc/configuration.md); our extra lines at the end (snapshot_*, ...);
- `display`, `keys`: class ids, chunk sizes and item sizes (`#`,
  `Item_Size`, `cls=`, `size=`): our slab ladder and item header differ
  (doc/protocol.md, deliberate differences); `Max_age` is seconds from
  each server's clock, read a moment apart: +-1; `la=` is the time of the
  last access, which the tool's own `dump` (a get per key, one server
  after the other) sets: checked to lie within the test's run;
- `dump`: the tool prints keys in perl's (randomised) hash order: records
  are compared sorted.
"""

import os
import re
import subprocess
import time

from harness import TestSkip, check, eq, pair, stats, HOST

TOOL = "/usr/share/memcached/scripts/memcached-tool"


def tool(srv, *args, timeout=30):
    if not os.path.exists(TOOL):
        raise TestSkip("%s missing (Debian package memcached)" % TOOL)
    p = subprocess.run(["perl", TOOL, "%s:%d" % (HOST, srv.port)] + list(args),
                       stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout)
    eq(p.returncode, 0, "memcached-tool %s exit status (stderr %r)" % (args, p.stderr))
    return p.stdout.decode("latin-1"), p.stderr.decode("latin-1")


def load(srv, script):
    """Send the requests on one connection; wait for the last reply."""
    with srv.connect() as c:
        c.send(script + b"mn\r\n")
        out = c.read_until(b"MN\r\n")
        check(out.endswith(b"MN\r\n"), "load: %r" % out[-200:])
        check(b"ERROR" not in out, "load: %r" % out[-300:])


def both(srvs, fn):
    return fn(srvs[0]), fn(srvs[1])


def header_masked(text):
    return re.sub(r"^#\S+", "#<addr>", text, count=1)


# A data set both servers store alike: keys with bytes the metadump
# URI-encodes, flags, no expiry and an absolute expiry (so the exp= both
# print is the same number), some fetched.
def data_script(exp_at):
    parts = []
    for i in range(40):
        parts.append(b"set key:%d %d 0 %d\r\n%s\r\n" % (i, i * 7, 10 + i, b"v" * (10 + i)))
    parts.append(b"set k%%20pct/\xc3\xa9 5 %d 3\r\nabc\r\n" % exp_at)
    parts.append(b"set expiring 9 %d 4\r\nwxyz\r\n" % exp_at)
    parts.append(b"get key:1 key:2 expiring\r\n")
    return b"".join(parts)


STATS_MASKED = {"pid", "uptime", "time", "version", "libevent", "rusage_user",
                "rusage_system", "bytes", "bytes_written", "read_buf_count",
                "read_buf_bytes", "read_buf_bytes_free", "response_obj_count",
                "response_obj_bytes", "lru_maintainer_juggles", "moves_to_cold",
                "moves_to_warm", "moves_within_lru", "lru_crawler_starts",
                "lru_crawler_running", "crawler_items_checked"}
STATS_OURS_ONLY = {"write_timeouts", "probation_items", "probation_hits", "main_hits",
                   "probation_promoted", "ghost_hits", "evicted_probation", "evicted_main",
                   "evicted_slab_move", "eviction_policy_bytes", "output_buf_bytes"}
SETTINGS_MASKED = {"tcpport", "hash_algorithm", "read_buf_mem_limit"}
SETTINGS_OURS_ONLY = {"snapshot_path", "snapshot_interval", "snapshot_on_shutdown",
                      "snapshot_load", "snapshot_refuse_corrupt", "write_timeout",
                      "shutdown_timeout", "read_buf_max", "eviction_policy", "hotkeys",
                      "hotkeys_sample", "hotkeys_size", "ssl_handshake_timeout", "metrics_listen"}


def field_lines(text, masked, ours_only, ours):
    """The tool's `%Ns %Ms` lines as (name, line) with masked values
    replaced; ours_only names dropped from our side (after checking each
    is there)."""
    lines = text.splitlines()
    out = []
    names = set()
    for ln in lines[1:]:
        m = re.match(r"^\s*(\S+)\s+(.*)$", ln)
        check(m is not None, "odd line %r" % ln)
        name = m.group(1)
        names.add(name)
        if ours and name in ours_only:
            continue
        out.append(name + " <masked>" if name in masked else ln)
    if ours:
        eq(sorted(ours_only - names), [], "our extra lines present")
    return header_masked(lines[0]), out


def test_stats_and_settings():
    with pair() as srvs:
        exp_at = int(time.time()) + 3600
        both(srvs, lambda s: load(s, data_script(exp_at)))
        for mode, masked, ours_only in (("stats", STATS_MASKED, STATS_OURS_ONLY),
                                        ("settings", SETTINGS_MASKED, SETTINGS_OURS_ONLY)):
            o, r = both(srvs, lambda s: tool(s, mode))
            eq(o[1], r[1], "%s stderr" % mode)
            oh, ol = field_lines(o[0], masked, ours_only, True)
            rh, rl = field_lines(r[0], masked, ours_only, False)
            eq(oh, rh, "%s header" % mode)
            eq(ol, rl, "memcached-tool %s" % mode)
        # the values the tool shows are the servers' own
        o, _ = tool(srvs[0], "stats")
        check(re.search(r"^\s+curr_items\s+42\r?$", o, re.M), "curr_items in %s" % o)
        check(re.search(r"^\s+get_hits\s+3\r?$", o, re.M), "get_hits")


def display_rows(text):
    lines = text.splitlines()
    eq(lines[0], "  #  Item_Size  Max_age   Pages   Count   Full?  Evicted Evict_Time OOM",
       "display header")
    rows = []
    for ln in lines[1:]:
        m = re.match(r"^\s*(\d+)\s+(\S+)\s+(\d+)s\s+(\d+)\s+(\d+)\s+(yes| no)\s+(\d+)\s+(\d+)\s+(\d+)$",
                     ln)
        check(m is not None, "display row %r" % ln)
        rows.append(m.groups())
    return rows


def test_display_one_class():
    """Items of one size sit in one class on both servers: the row is the
    same but for the class id and chunk size (ladders differ) and Max_age
    (+-1 s)."""
    with pair() as srvs:
        both(srvs, lambda s: load(s, b"".join(b"set item:%03d 0 0 100\r\n%s\r\n" % (i, b"x" * 100)
                                              for i in range(200))))
        o, r = both(srvs, lambda s: tool(s))
        orows, rrows = display_rows(o[0]), display_rows(r[0])
        eq(len(orows), 1, "our rows: %r" % o[0])
        eq(len(rrows), 1, "reference rows")
        oa, ra = int(orows[0][2]), int(rrows[0][2])
        check(abs(oa - ra) <= 1, "Max_age %d vs %d" % (oa, ra))
        eq(orows[0][3:], rrows[0][3:], "Pages Count Full? Evicted Evict_Time OOM")
        eq(orows[0][3:], ("1", "200", " no", "0", "0", "0"), "the row")


def fill_then_evict(srv):
    """Store 1000-byte items until the cache evicts, wait 2 s, then store
    30 more: their victims are the old items, idle for 2 s or more."""
    with srv.connect() as c:
        for batch in range(200):
            c.send(b"".join(b"set old:%d:%d 0 0 1000 noreply\r\n%s\r\n" % (batch, i, b"o" * 1000)
                            for i in range(50)))
            if int(stats(c)[0]["evictions"]) > 0:
                break
        time.sleep(2.2)
        c.send(b"".join(b"set new:%d 0 0 1000 noreply\r\n%s\r\n" % (i, b"n" * 1000)
                        for i in range(30)))
        check(int(stats(c)[0]["evictions"]) > 1, "evicting")
    return tool(srv)


def test_display_evictions():
    """A cache too small for what is stored: both evict.  Counts differ
    (ladders, item sizes, eviction policy); the tool shows, on both,
    evictions in the class the items use, the last victim's idle time in
    Evict_Time, a full class and no OOM."""
    with pair(["-m", "2"]) as srvs:
        o, r = both(srvs, fill_then_evict)
        for name, text in (("ours", o[0]), ("reference", r[0])):
            rows = display_rows(text)
            big = [row for row in rows if int(row[6]) > 0]
            check(len(big) == 1, "%s: one class evicts: %r" % (name, rows))
            row = big[0]
            check(2 <= int(row[7]) <= 10, "%s: Evict_Time %s in %r" % (name, row[7], rows))
            eq(row[5], "yes", "%s: Full?" % name)
            eq(row[8], "0", "%s: OOM" % name)


def dump_records(text):
    recs = re.findall(r"add (\S+) (\d+) (\d+) (\d+)\r\n", text)
    vals = text.split("\r\n")
    check(len(vals) == 2 * len(recs) + 1, "dump framing: %r" % text[:300])
    return sorted(zip(recs, vals[1::2]))


def test_dump_and_keys():
    with pair() as srvs:
        started = int(time.time())
        exp_at = started + 3600
        both(srvs, lambda s: load(s, data_script(exp_at)))
        o, r = both(srvs, lambda s: tool(s, "dump"))
        eq(o[1], r[1], "dump stderr")
        eq(o[1], "Dumping memcache contents\n", "dump stderr")
        orec, rrec = dump_records(o[0]), dump_records(r[0])
        eq(len(orec), 42, "records")
        eq(orec, rrec, "memcached-tool dump (sorted)")
        check(((u"k%20pct/\u00e9".encode("utf-8").decode("latin-1"), "5", str(exp_at), "3"), "abc")
              in orec, "the URI-encoded key came back: %r" % orec[-3:])
        # the dump's "add" lines load into a fresh server as they are
        # keys: the raw metadump lines
        o, r = both(srvs, lambda s: tool(s, "keys"))
        eq(o[1], r[1], "keys stderr")

        def masked(text):
            out = []
            for ln in text.splitlines():
                m = re.match(r"^key=(\S+) exp=(-?\d+) la=(\d+) cas=(\d+) fetch=(yes|no) "
                             r"cls=\d+ size=\d+$", ln)
                check(m is not None, "keys line %r" % ln)
                out.append(m.groups())
            return sorted(out)
        ok, rk = masked(o[0]), masked(r[0])
        eq(len(ok), 42, "keys lines")
        now = int(time.time())
        for a, b in zip(ok, rk):
            for x in (a, b):
                check(started - 1 <= int(x[2]) <= now + 1, "la= %r (run %d..%d)" % (x, started, now))
            eq((a[0], a[1], a[3], a[4]), (b[0], b[1], b[3], b[4]), "key exp cas fetch")
        # a limit stops reading the dump early and hangs up mid-dump
        o, r = both(srvs, lambda s: tool(s, "dump", "5"))
        eq((len(dump_records(o[0])), len(dump_records(r[0]))), (5, 5), "dump 5")
        eq(o[1], "Dumping memcache contents (limiting to 5 keys)\n", "dump 5 stderr")
        # the server is fine after the client hung up in the middle
        o, r = both(srvs, lambda s: tool(s, "stats"))
        check(re.search(r"^\s+curr_items\s+42\r?$", o[0], re.M), "after dump 5")


def test_sizes():
    """sizes: off by default on both (the same line); with -o track_sizes
    the buckets are item sizes, ours smaller, so only the totals match."""
    with pair() as srvs:
        o, r = both(srvs, lambda s: tool(s, "sizes"))
        eq(header_masked(o[0]), header_masked(r[0]), "sizes, disabled")
        check("sizes_status" in o[0], "disabled line: %r" % o[0])
    with pair(["-o", "track_sizes"]) as srvs:
        exp_at = int(time.time()) + 3600
        both(srvs, lambda s: load(s, data_script(exp_at)))
        o, r = both(srvs, lambda s: tool(s, "sizes"))

        def total(text):
            n = 0
            for ln in text.splitlines()[1:]:
                m = re.match(r"^\s*(\d+)\s+(\d+)$", ln)
                check(m is not None, "sizes line %r" % ln)
                n += int(m.group(2))
            return n
        eq((total(o[0]), total(r[0])), (42, 42), "items counted by size")
