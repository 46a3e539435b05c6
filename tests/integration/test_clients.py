"""Real client libraries against the server under test (MC_BIN):
memccapable (ascii and binary), pymemcache, pylibmc (text protocol).  These need only
our server; memccapable's results are also checked against the reference
so we only require the tests the reference itself passes."""

import os
import re
import shutil
import subprocess
import sys

from harness import (server, Server, REF_BIN, MC_BIN, eq, check, TestSkip, TestFailure,
                     TIME_SCALE)

DIST = "/usr/lib/python3/dist-packages"


def _import(name):
    try:
        return __import__(name)
    except ImportError:
        if os.path.isdir(DIST) and DIST not in sys.path:
            sys.path.append(DIST)
        try:
            return __import__(name)
        except ImportError as e:
            raise TestSkip("%s not importable: %s" % (name, e))


def _memccapable(port, proto="ascii"):
    exe = shutil.which("memccapable") or "/usr/bin/memccapable"
    p = subprocess.run([exe, "-a" if proto == "ascii" else "-b", "-h", "127.0.0.1",
                        "-p", str(port), "-t", str(int(5 * TIME_SCALE))],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       timeout=90 * TIME_SCALE)
    out = p.stdout.decode(errors="replace")
    res = dict(re.findall(r"^(%s [\w ]+?)\s+\[(\w+)\]\s*$" % proto, out, re.M))
    return p.returncode, res, out


def _memccapable_both(proto):
    """memccapable -a or -b against ours and the reference at once: every
    test the reference passes must pass on ours."""
    if not (shutil.which("memccapable") or os.path.exists("/usr/bin/memccapable")):
        raise TestFailure("memccapable not installed (libmemcached-tools; scripts/deps.sh test)")
    import threading
    with server(name="ours") as ours, server(binary=REF_BIN, name="reference") as ref:
        box = {}
        t = threading.Thread(target=lambda: box.update(ref=_memccapable(ref.port, proto)),
                             daemon=True)
        t.start()
        o_rc, o_res, o_out = _memccapable(ours.port, proto)
        t.join(120 * TIME_SCALE)
        check("ref" in box, "memccapable against the reference hung")
        r_rc, r_res, r_out = box["ref"]
    ref_pass = sorted(k for k, v in r_res.items() if v == "pass")
    check(len(ref_pass) >= 20, "reference ran memccapable's %s tests:\n%s" % (proto, r_out[-2000:]))
    failed = [k for k in ref_pass if o_res.get(k) != "pass"]
    if failed:
        raise TestFailure("memccapable tests the reference passes but ours does not: %s\n%s"
                          % (failed, o_out[-2000:]))
    if "All tests passed" in r_out:
        check("All tests passed" in o_out and o_rc == 0,
              "memccapable summary (rc=%d):\n%s" % (o_rc, o_out[-1000:]))
    return ref_pass


def test_memccapable_ascii():
    _memccapable_both("ascii")


def test_memccapable_binary():
    # every binary sub-test (noop quit quitq set setq flush flushq add addq
    # replace replaceq delete deleteq get getq getk getkq incr incrq decr
    # decrq version append appendq prepend prependq stat)
    passed = _memccapable_both("binary")
    check(len(passed) >= 27, "binary sub-tests passed on both: %s" % passed)


def test_pymemcache():
    pm = _import("pymemcache")
    from pymemcache.client.base import Client
    with server() as s:
        c = Client(("127.0.0.1", s.port), connect_timeout=5, timeout=5 * TIME_SCALE)
        try:
            eq(c.set("k", b"v1", noreply=False), True, "set")
            eq(c.get("k"), b"v1", "get")
            eq(c.get("missing"), None, "get miss")
            val, cas = c.gets("k")
            eq(val, b"v1", "gets value")
            check(cas is not None and int(cas) > 0, "gets cas %r" % cas)
            eq(c.cas("k", b"v2", cas, noreply=False), True, "cas ok")
            eq(c.cas("k", b"v3", cas, noreply=False), False, "cas stale -> EXISTS")
            eq(c.cas("nokey", b"v3", cas, noreply=False), None, "cas missing -> NOT_FOUND")
            eq(c.get("k"), b"v2", "after cas")
            c.set("n", b"10")
            eq(c.incr("n", 5), 15, "incr")
            eq(c.decr("n", 20), 0, "decr floor")
            eq(c.incr("nope", 1), None, "incr miss")
            eq(c.add("k", b"x", noreply=False), False, "add existing")
            eq(c.add("a", b"x", noreply=False), True, "add new")
            eq(c.replace("zz", b"x", noreply=False), False, "replace missing")
            eq(c.append("a", b"y", noreply=False), True, "append")
            eq(c.prepend("a", b"w", noreply=False), True, "prepend")
            eq(c.get("a"), b"wxy", "append/prepend")
            eq(c.set_many({"m1": b"1", "m2": b"2", "m3": b"3"}, noreply=False), [], "set_many")
            eq(c.get_many(["m1", "m2", "m3", "m4"]), {"m1": b"1", "m2": b"2", "m3": b"3"},
               "get_many")
            eq(c.touch("m1", 100, noreply=False), True, "touch hit")
            eq(c.touch("m9", 100, noreply=False), False, "touch miss")
            eq(c.delete("m1", noreply=False), True, "delete hit")
            eq(c.delete("m1", noreply=False), False, "delete miss")
            big = os.urandom(1000 * 1000)
            eq(c.set("big", big, noreply=False), True, "set 1MB-ish")
            eq(c.get("big"), big, "get large value")
            # noreply storage (pymemcache default) then a synchronous read
            for i in range(50):
                c.set("nr%d" % i, b"%d" % i, noreply=True)
            eq(c.get("nr49"), b"49", "after 50 noreply sets")
            st = c.stats()
            check(int(st[b"cmd_set"]) >= 60 and b"curr_items" in st, "stats %r" % st)
            check(re.fullmatch(rb"\d+\.\d+\.\d+\S*", c.version()) is not None, "version")
            eq(c.flush_all(noreply=False), True, "flush_all")
            eq(c.get("k"), None, "after flush_all")
        finally:
            c.close()


def test_pylibmc_text():
    pylibmc = _import("pylibmc")
    with server() as s:
        mc = pylibmc.Client(["127.0.0.1:%d" % s.port], binary=False,
                            behaviors={"cas": True, "connect_timeout": 5000,
                                       "receive_timeout": int(5e6 * TIME_SCALE),
                                       "send_timeout": int(5e6 * TIME_SCALE)})
        try:
            check(mc.set("k", "v1"), "set")
            eq(mc.get("k"), "v1", "get")
            eq(mc.get("missing"), None, "get miss")
            mc.set_multi({"a": "1", "b": "2"})
            eq(mc.get_multi(["a", "b", "c"]), {"a": "1", "b": "2"}, "get_multi")
            mc.set("n", 10)
            eq(mc.incr("n", 5), 15, "incr")
            eq(mc.decr("n", 20), 0, "decr floor")
            try:
                mc.incr("nope")
                raise TestFailure("incr on missing key did not raise")
            except pylibmc.NotFound:
                pass
            val, cas = mc.gets("k")
            eq(val, "v1", "gets")
            check(mc.cas("k", "v2", cas), "cas ok")
            check(not mc.cas("k", "v3", cas), "cas stale")
            eq(mc.get("k"), "v2", "after cas")
            check(mc.append("k", "+"), "append")
            check(mc.prepend("k", "-"), "prepend")
            eq(mc.get("k"), "-v2+", "append/prepend")
            check(not mc.add("k", "x"), "add existing")
            check(mc.add("new", "x"), "add new")
            check(not mc.replace("zz", "x"), "replace missing")
            check(mc.replace("new", "y"), "replace existing")
            eq(mc.get("new"), "y", "after replace")
            check(mc.delete("new"), "delete")
            check(not mc.delete("new"), "delete miss")
            big = b"x" * (500 * 1024)
            check(mc.set("big", big), "set large")
            eq(mc.get("big"), big, "get large")
            check(mc.flush_all(), "flush_all")
            eq(mc.get("k"), None, "after flush")
        finally:
            mc.disconnect_all()
