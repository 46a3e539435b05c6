"""watch: memcached's live log streams (doc/watch.md), byte for byte
against 1.6.18 with only the varying fields masked (ts, gid, cfd, rport);
several watchers, a watcher that never reads, a watcher that goes away."""

import difflib
import re
import time

import binproto as bp
import harness
from harness import (check, eq, pair, run_both, server, stats, diff_msg,
                     TestFailure, TIME_SCALE)

# ts=S.U gid=N ... cfd=F / rport=P: what differs from run to run
_VARY = [(re.compile(rb"^ts=\d+\.\d+ gid=\d+ ", re.M), b"ts=<TS> gid=<GID> "),
         (re.compile(rb" cfd=-?\d+"), b" cfd=<FD>"),
         (re.compile(rb" rport=\d+"), b" rport=<PORT>")]


def mask_lines(data):
    for rx, rep in _VARY:
        data = rx.sub(rep, data)
    return data


def by_gid(data):
    """Log lines put back in gid order (lines of different threads may
    arrive out of order, in memcached too)."""
    lines = [l for l in data.split(b"\n") if l]
    key = lambda l: int(re.search(rb" gid=(\d+) ", l).group(1)) if l.startswith(b"ts=") else 0
    return b"".join(l + b"\n" for l in sorted(lines, key=key))


def watcher(s, what):
    c = s.connect()
    eq(c.request(b"watch " + what + b"\r\n"), b"OK\r\n", "watch reply")
    return c


def lines_until(c, needle, n=1):
    """Watcher output up to the n-th line containing needle."""
    return c.read_until(lambda b: b.count(needle) >= n and b.endswith(b"\n"))


def compare_both(fn, srv):
    o, r = run_both(fn, srv=srv)
    mo, mr = mask_lines(o), mask_lines(r)
    if mo != mr:
        raise TestFailure(diff_msg(mo, mr, "watch output"))
    return r


def test_watch_arguments(srv):
    """The replies to watch's arguments, each on a fresh connection: OK
    (then nothing more: a watcher runs no commands), ERROR for an unknown
    word, silence for noreply (and the connection stays a client)."""
    cases = [b"watch\r\n", b"watch fetchers mutations evictions connevents\r\n",
             b"watch rawcmds sysevents proxyreqs proxyevents proxyuser\r\n",
             b"watch fetchers fetchers\r\n", b"watch  fetchers \r\n", b"watch\n",
             b"watch foo\r\n", b"watch fetchers foo\r\n", b"WATCH\r\n",
             b"watch fetchers noreply\r\nget x\r\n", b"watch noreply\r\nget x\r\n",
             b"get x\r\nwatch\r\n", b"watch\r\nget x\r\nversion\r\n"]

    def fn(s):
        out = []
        for case in cases:
            with s.connect() as c:
                c.send(case)
                got = c.read_for(0.3)
            # (lines about other connections are test_connevents' matter:
            # when memcached notices a watcher's close depends on timing)
            got = re.sub(rb"ts=[^\n]*\n", b"", got)
            out.append(case + b" -> " + got)
        return b"\n".join(out)
    r = compare_both(fn, srv)
    check(b"watch\r\nget x\r\nversion\r\n -> OK\r\n" in r, r)
    check(b"watch foo\r\n -> ERROR\r\n" in r, r)
    check(b"watch noreply\r\nget x\r\n -> END\r\n" in r, r)
    check(b"get x\r\nwatch\r\n -> END\r\nOK\r\n" in r, r)


def test_watch_deletions_is_ours():
    """"deletions" (memcached 1.6.45's stream; 1.6.18 answers ERROR): a
    delete and an md that remove a key, as 1.6.45 prints them."""
    with server() as s:
        w = watcher(s, b"deletions")
        with s.connect() as c:
            eq(c.request(b"set a 0 0 3\r\nabc\r\ndelete a\r\ndelete a\r\n",
                         b"NOT_FOUND\r\n"), b"STORED\r\nDELETED\r\nNOT_FOUND\r\n")
            eq(c.request(b"ms b 2\r\nxy\r\nmd b\r\nmd b I\r\nmn\r\n", b"MN\r\n"),
               b"HD\r\nHD\r\nNF\r\nMN\r\n")
        got = mask_lines(lines_until(w, b"type=deleted", 2))
        eq(got, b"ts=<TS> gid=<GID> type=deleted key=a cmd=delete clsid=1 size=3\n"
                b"ts=<TS> gid=<GID> type=deleted key=b cmd=md clsid=1 size=2\n")


# What one client does while "watch fetchers mutations" looks on; what it
# logs is compared line by line (the reference's lines are pinned below).
SCRIPT = [
    b"set a 0 0 1\r\nx\r\n", b"get a b\r\n", b"gets a\r\n", b"gat 100 a\r\n",
    b"delete a\r\n", b"delete a\r\n", b"mg a v\r\n", b"ms b 2 T10\r\nxx\r\n",
    b"mg b v t\r\n", b"md b\r\n", b"add c 5 100 3\r\nabc\r\n", b"add c 5 100 3\r\nabc\r\n",
    b"append zz 0 0 1\r\nx\r\n", b"cas c 0 0 1 999\r\nx\r\n", b"incr c 1\r\n",
    b"touch c 10\r\n", b"set k%20,x~_-. 0 0 1\r\nx\r\n", b"set n 0 0 2\r\n10\r\n",
    b"incr n 95\r\n", b"decr n 1\r\n", b"incr zz 1\r\n", b"touch zz 1\r\n",
    b"ms m 1 MA\r\nx\r\n", b"ms n 1 MP\r\nx\r\n", b"ms n 1 MR\r\nx\r\n",
    b"ms n 1 ME\r\nx\r\n", b"ms nn 1 MS I\r\nx\r\n", b"ms n 1 C1\r\nx\r\n",
    b"replace q2 0 0 1\r\nx\r\n", b"prepend n 0 0 1\r\nx\r\n", b"mg n s v c\r\n",
    b"md n q\r\nmn\r\n", b"me n\r\n", b"set sp 0 0 1 noreply\r\nx\r\nmn\r\n",
    b"set t 0 2592000 1\r\nx\r\n", b"flush_all\r\n", b"get t\r\n",
    b"set big 0 0 2000000 noreply\r\n" + b"v" * 2000000 + b"\r\n",
]
WANT = b"""type=item_get key=a status=not_found clsid=0 cfd=<FD> size=0
type=item_store key=a status=stored cmd=set ttl=0 clsid=1 cfd=<FD> size=1
type=item_get key=a status=found clsid=1 cfd=<FD> size=1
type=item_get key=b status=not_found clsid=0 cfd=<FD> size=0
type=item_get key=a status=found clsid=1 cfd=<FD> size=1
type=item_get key=a status=found clsid=1 cfd=<FD> size=1
type=item_get key=a status=found clsid=1 cfd=<FD> size=1
type=item_get key=a status=not_found clsid=0 cfd=<FD> size=0
type=item_get key=a status=not_found clsid=0 cfd=<FD> size=0
type=item_get key=b status=not_found clsid=0 cfd=<FD> size=0
type=item_store key=b status=stored cmd=set ttl=10 clsid=1 cfd=<FD> size=2
type=item_get key=b status=found clsid=1 cfd=<FD> size=2
type=item_get key=b status=found clsid=1 cfd=<FD> size=2
type=item_get key=c status=not_found clsid=0 cfd=<FD> size=0
type=item_store key=c status=stored cmd=add ttl=100 clsid=1 cfd=<FD> size=3
type=item_get key=c status=found clsid=1 cfd=<FD> size=3
type=item_store key=c status=not_stored cmd=add ttl=100 clsid=1 cfd=<FD> size=3
type=item_get key=zz status=not_found clsid=0 cfd=<FD> size=0
type=item_store key=zz status=not_stored cmd=append ttl=0 clsid=1 cfd=<FD> size=1
type=item_get key=c status=found clsid=1 cfd=<FD> size=3
type=item_store key=c status=exists cmd=cas ttl=0 clsid=1 cfd=<FD> size=1
type=item_get key=c status=found clsid=1 cfd=<FD> size=3
type=item_get key=c status=found clsid=1 cfd=<FD> size=3
type=item_get key=k%2520%2Cx~_-. status=not_found clsid=0 cfd=<FD> size=0
type=item_store key=k%2520%2Cx~_-. status=stored cmd=set ttl=0 clsid=1 cfd=<FD> size=1
type=item_get key=n status=not_found clsid=0 cfd=<FD> size=0
type=item_store key=n status=stored cmd=set ttl=0 clsid=1 cfd=<FD> size=2
type=item_get key=n status=found clsid=1 cfd=<FD> size=2
type=item_get key=n status=found clsid=1 cfd=<FD> size=3
type=item_get key=zz status=not_found clsid=0 cfd=<FD> size=0
type=item_get key=zz status=not_found clsid=0 cfd=<FD> size=0
type=item_get key=m status=not_found clsid=0 cfd=<FD> size=0
type=item_store key=m status=not_stored cmd=append ttl=0 clsid=1 cfd=<FD> size=1
type=item_get key=n status=found clsid=1 cfd=<FD> size=3
type=item_store key=n status=stored cmd=prepend ttl=0 clsid=1 cfd=<FD> size=4
type=item_get key=n status=found clsid=1 cfd=<FD> size=4
type=item_store key=n status=stored cmd=replace ttl=0 clsid=1 cfd=<FD> size=1
type=item_get key=n status=found clsid=1 cfd=<FD> size=1
type=item_store key=n status=not_stored cmd=add ttl=0 clsid=1 cfd=<FD> size=1
type=item_get key=nn status=not_found clsid=0 cfd=<FD> size=0
type=item_store key=nn status=stored cmd=set ttl=0 clsid=1 cfd=<FD> size=1
type=item_get key=n status=found clsid=1 cfd=<FD> size=1
type=item_store key=n status=exists cmd=cas ttl=0 clsid=1 cfd=<FD> size=1
type=item_get key=q2 status=not_found clsid=0 cfd=<FD> size=0
type=item_store key=q2 status=not_stored cmd=replace ttl=0 clsid=1 cfd=<FD> size=1
type=item_get key=n status=found clsid=1 cfd=<FD> size=1
type=item_store key=n status=stored cmd=prepend ttl=0 clsid=1 cfd=<FD> size=2
type=item_get key=n status=found clsid=1 cfd=<FD> size=2
type=item_get key=n status=found clsid=1 cfd=<FD> size=2
type=item_get key=n status=not_found clsid=0 cfd=<FD> size=0
type=item_get key=sp status=not_found clsid=0 cfd=<FD> size=0
type=item_store key=sp status=stored cmd=set ttl=0 clsid=1 cfd=<FD> size=1
type=item_get key=t status=not_found clsid=0 cfd=<FD> size=0
type=item_store key=t status=stored cmd=set ttl=2592000 clsid=1 cfd=<FD> size=1
type=item_get key=t status=<FLUSHED> clsid=0 cfd=<FD> size=0
type=item_store key=big status=too_large cmd=set ttl=0 clsid=<CLS> cfd=<FD> size=0
type=item_get key=big status=not_found clsid=0 cfd=<FD> size=0
type=item_get key=end status=not_found clsid=0 cfd=<FD> size=0
"""


def _too_large_mask(data):
    # memcached 1.6.18 logs a refused oversized set with its arguments
    # shifted (clsid= shows the fd, cfd= stack garbage); ours logs clsid=0
    return re.sub(rb"(status=too_large cmd=set ttl=0) clsid=\d+ cfd=<FD>",
                  rb"\1 clsid=<CLS> cfd=<FD>", data)


def test_fetchers_and_mutations_lines(srv):
    def fn(s):
        w = watcher(s, b"fetchers mutations")
        with s.connect() as c:
            for cmd in SCRIPT:
                c.send(cmd)
                if cmd.startswith(b"set big"):
                    c.read_for(0.1)
                else:
                    c.read_until(lambda b: b.endswith(b"\r\n"))
            c.request(b"get end\r\n")
        out = lines_until(w, b"key=end ")
        w.close()
        return re.sub(rb"^ts=<TS> gid=<GID> ", b"", mask_lines(out), flags=re.M)
    o, r = run_both(fn, srv=srv)
    o, r = _too_large_mask(o), _too_large_mask(r)
    # after flush_all: flushed when the lookup meets the item, not_found
    # when a background thread (memcached's LRU maintainer, our crawler)
    # removed it first
    o, r = (re.sub(rb"key=t status=(flushed|not_found) (?=[^\n]*\n[^\n]*key=big )",
                   b"key=t status=<FLUSHED> ", x)
            for x in (o, r))
    if o != r:
        raise TestFailure(diff_msg(o, r, "watch output"))
    if r != WANT:
        d = difflib.unified_diff(WANT.decode().splitlines(), r.decode().splitlines(),
                                 "pinned", "reference", lineterm="", n=1)
        raise TestFailure("reference lines differ from the pinned ones:\n" + "\n".join(d))


def test_expired_item(srv):
    """An expired item is reported as such (one second of ttl: sleeps)."""
    def fn(s):
        w = watcher(s, b"fetchers")
        with s.connect() as c:
            eq(c.request(b"set e 0 1 1\r\nx\r\n"), b"STORED\r\n")
            time.sleep(2.2)
            eq(c.request(b"get e\r\n"), b"END\r\n")
        return mask_lines(lines_until(w, b"key=e ", 2))
    o, r = run_both(fn, srv=srv)
    # expired when the lookup meets the item; not_found when a background
    # thread (memcached's LRU maintainer, our crawler) reclaimed it first
    last = re.compile(rb"key=e status=(expired|not_found) (clsid=0 cfd=<FD> size=0\n)$")
    o, r = (last.sub(rb"key=e status=<EXPIRED> \2", x) for x in (o, r))
    eq(o, r)
    check(o.endswith(b" type=item_get key=e status=<EXPIRED> clsid=0 cfd=<FD> size=0\n"), o)


def test_binary_requests_are_logged(srv):
    """There is no watch in the binary protocol; a text watcher sees what
    binary requests fetch and store."""
    def fn(s):
        w = watcher(s, b"fetchers mutations")
        with s.connect() as c:
            c.send(bp.set_(b"bk", b"hello") + bp.get(b"bk") + bp.get(b"none"))
            c.read_until(lambda b: len(b) >= 3 * 24 + 4 + 5 + 9)
        return mask_lines(lines_until(w, b"key=none "))
    r = compare_both(fn, srv)
    check(b"type=item_store key=bk status=stored cmd=set ttl=0 clsid=1 cfd=<FD> size=5" in r, r)


def test_connevents():
    """Opened and closed connections with memcached's close reasons:
    quit and a client's FIN are normal, a line too long an error, an
    idle connection idle_timeout; a watcher that leaves is an error."""
    def fn(s):
        w = watcher(s, b"connevents")
        n = 0
        with s.connect() as c:
            c.request(b"version\r\n")
            c.send(b"quit\r\n")
            c.read_to_eof()
        n += 2
        lines_until(w, b"type=conn", n)
        out = b""
        # (read each step's lines before the next step: one order)
        with s.connect() as c:
            c.request(b"get x\r\n", b"END\r\n")
        out += lines_until(w, b"type=conn", 2)
        with s.connect() as c:
            c.send(b"x" * 3000)
            c.read_to_eof()
        out += lines_until(w, b"type=conn", 2)
        with s.connect() as c:
            c.read_to_eof(timeout=10 * TIME_SCALE)  # idle_timeout=1
        out += lines_until(w, b"type=conn", 2)
        w2 = watcher(s, b"fetchers")
        out += lines_until(w, b"type=conn", 1)
        w2.close()
        out += lines_until(w, b"type=conn", 1)
        return mask_lines(by_gid(out))
    with pair(("-o", "idle_timeout=1")) as srv:
        r = compare_both(fn, srv)
    for reason in (b"normal", b"error", b"idle_timeout"):
        check(b" reason=" + reason + b" " in r, r)


def test_watcher_limit_and_cleanup(srv):
    """20 watchers at once; the 21st gets memcached's error (and stays a
    client); a watcher that disconnects frees its place."""
    def fn(s):
        ws = [watcher(s, b"mutations") for _ in range(20)]
        with s.connect() as extra:
            out = extra.request(b"watch\r\n")
            out += extra.request(b"get a\r\n")
        ws.pop().close()
        # its place comes back once the server has seen it go (bounded)
        for _ in range(200):
            with s.connect() as c:
                r = c.request(b"watch mutations\r\n")
            if r == b"OK\r\n":
                break
            time.sleep(0.02)
        out += r
        for w in ws:
            w.close()
        return out
    r = compare_both(fn, srv)
    eq(r, b"WATCHER_TOO_MANY log watcher limit reached\r\nEND\r\nOK\r\n")


def test_watch_disabled():
    def fn(s):
        with s.connect() as c:
            return c.request(b"watch\r\n") + c.request(b"watch foo\r\n")
    with pair(("-W",)) as srv:
        r = compare_both(fn, srv)
    eq(r, b"CLIENT_ERROR watch commands not allowed\r\n" * 2)


def test_several_watchers_own_filters():
    with server() as s:
        wf = watcher(s, b"fetchers")
        wm = watcher(s, b"mutations")
        wb = watcher(s, b"mutations fetchers")
        with s.connect() as c:
            eq(c.request(b"set a 0 0 1\r\nx\r\nget a\r\n", b"END\r\n"),
               b"STORED\r\nVALUE a 0 1\r\nx\r\nEND\r\n")
            c.request(b"get end\r\nset end 0 0 1\r\nx\r\n", b"STORED\r\n")
        f = mask_lines(lines_until(wf, b"key=end ", 2))
        m = mask_lines(lines_until(wm, b"key=end "))
        b = mask_lines(lines_until(wb, b"key=end ", 3))
        g1 = b"ts=<TS> gid=<GID> type=item_get key=a status=not_found clsid=0 cfd=<FD> size=0\n"
        g2 = b"ts=<TS> gid=<GID> type=item_get key=a status=found clsid=1 cfd=<FD> size=1\n"
        ge = b"ts=<TS> gid=<GID> type=item_get key=end status=not_found clsid=0 cfd=<FD> size=0\n"
        sa = (b"ts=<TS> gid=<GID> type=item_store key=a status=stored cmd=set ttl=0 "
              b"clsid=1 cfd=<FD> size=1\n")
        eq(f, g1 + g2 + ge + ge, "fetchers watcher")   # (set looks up too)
        eq(m, sa + sa.replace(b"key=a", b"key=end"), "mutations watcher")
        eq(b, g1 + sa + g2 + ge + ge + sa.replace(b"key=a", b"key=end"), "both")


_rss_kb = harness.rss_kb


def test_slow_watcher_is_bounded_and_told_what_it_missed():
    """A watcher that never reads: the server keeps serving the others at
    full speed, its memory stays bounded (lines are dropped, not queued),
    and when the watcher reads again it is told "skipped=N" first."""
    with server(("-o", "watcher_logbuf_size=64")) as s:
        w = s.connect()
        eq(w.request(b"watch fetchers\r\n"), b"OK\r\n")
        with s.connect() as c:
            c.request(b"set k 0 0 1\r\nx\r\n")
            rss0 = _rss_kb(s.proc.pid)
            batch = b"get " + b" ".join(b"k" for _ in range(1000)) + b"\r\n"
            for i in range(400):        # 400,000 lookups = ~32 MB of lines
                r = c.request(batch, b"END\r\n")
                eq(r.count(b"VALUE k 0 1\r\n"), 1000, "batch %d" % i)
            rss1 = _rss_kb(s.proc.pid)
        st = stats(s.connect())[0]
        check(int(st["log_watcher_skipped"]) > 0, st)
        check(rss1 - rss0 < 8 * 1024, "RSS grew by %d KB" % (rss1 - rss0))
        # now read: what was buffered, then the skip report before new lines
        # (a line logged while the buffer is still full is skipped too:
        # keep logging until one gets through)
        data = w.read_for(0.5)
        with s.connect() as c:
            for _ in range(500):
                c.request(b"get after\r\n")
                data += w.read_for(0.05)
                if b"key=after " in data:
                    break
        m = re.search(rb"\nskipped=(\d+)\n", data)
        check(m is not None and int(m.group(1)) > 0, data[-300:])
        # what was queued for it: its 64 KB buffer and the kernel's socket
        # buffers (a few MB), not the ~32 MB of lines logged
        check(len(data) < 16 * 1024 * 1024, "got %d bytes" % len(data))
        w.close()


def test_watcher_goes_away():
    """A watcher that disconnects is closed and counted out."""
    with server() as s:
        with s.connect() as c:
            base = int(stats(c)[0]["curr_connections"])
            for _ in range(5):
                w = watcher(s, b"fetchers")
                c.request(b"get a\r\n")
                w.close()
            for _ in range(300):
                st = stats(c)[0]
                if st["log_watchers"] == "0" and int(st["curr_connections"]) == base:
                    break
                time.sleep(0.01)
            eq(st["log_watchers"], "0", "log_watchers")
            eq(int(st["curr_connections"]), base, "curr_connections")
