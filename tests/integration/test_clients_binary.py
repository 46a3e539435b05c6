"""Real binary-protocol clients against our server and memcached 1.6.18
(issue 10, "Real clients"): pylibmc with binary=True, Debian's
python3-binary-memcached (bmemcached), Debian's ruby-dalli 3.0.6 (binary
only; client_scripts/dalli_scenario.rb) and memjs from the npm registry
under the machine's Node.js (client_scripts/memjs_scenario.js).

Each test runs one client scenario against both servers, started with the
same flags in the same test, and records what the client returned at each
step (values, booleans, exceptions with their messages).  The two
transcripts must be identical, and the reference's must equal the
expected one written here, so a test also fails if both servers go wrong
the same way.  CAS values are compared by behaviour (present, accepted,
refused), never by number.

SASL (-S): both servers get the same Cyrus setup in a temporary
directory (sasl_setup.py; nothing under /etc is touched).  For each
client (pylibmc too: libmemcached logs in with Cyrus' client side) the
right password runs the whole scenario; a wrong password, no credentials at
all, and a text-protocol client must fail exactly as against memcached;
stats auth_cmds/auth_errors are compared afterwards.  Our
MEMCACHED_SASL_PWDB mode is compared with memcached using a sasldb holding
the same user (Debian's memcached is built without that mode).

Every client must be installed (scripts/deps.sh test): a missing one is a
failure, never a skip.
"""

import contextlib
import hashlib
import json
import os
import random
import re
import struct
import subprocess
import threading

import harness
import sasl_setup
from harness import (MC_BIN, REF_BIN, Server, TestFailure, TestSkip, TIME_SCALE, check, eq,
                     run_both)

HERE = os.path.dirname(os.path.abspath(__file__))
SRCDIR = os.path.dirname(os.path.dirname(HERE))
SCRIPTS = os.path.join(HERE, "client_scripts")
# memjs lives here (scripts/deps.sh test installs it; never committed).
NPM_DIR = os.environ.get("MC_NPM_DIR", os.path.join(SRCDIR, "build", "npm"))
MEMJS_VERSION = "1.3.2"
OURS = os.path.realpath(MC_BIN) != os.path.realpath(REF_BIN)    # else proving the tests
CLIENT_TIMEOUT = 5 * TIME_SCALE
RUN_TIMEOUT = 40 * TIME_SCALE
BIG = random.Random(500).randbytes(500 * 1024)


# ---- clients ---------------------------------------------------------------

_import = harness.import_debian
_tool = harness.tool


_npm_lock = threading.Lock()


def _memjs_dir():
    """build/npm/node_modules/memjs, installed from the npm registry by
    scripts/deps.sh test; installed here too when missing, so a single
    file can be run by hand."""
    mods = os.path.join(NPM_DIR, "node_modules")
    with _npm_lock:     # both sides of run_both() ask at once
        if not os.path.isfile(os.path.join(mods, "memjs", "package.json")):
            _npm_install()
    return mods


def _npm_install():
    npm = _tool("npm", "npm")
    p = subprocess.run([npm, "install", "--prefix", NPM_DIR, "--no-audit", "--no-fund",
                        "--loglevel=error", "memjs@" + MEMJS_VERSION],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=120)
    if p.returncode != 0:
        raise TestFailure("npm install memjs failed: %s" % p.stdout.decode(errors="replace"))


def _show(v):
    """A client's answer as JSON-like data (what the ruby/node scripts print)."""
    if isinstance(v, (bytes, bytearray)):
        if len(v) > 64:
            return "%d bytes sha256 %s" % (len(v), hashlib.sha256(v).hexdigest())
        return bytes(v).decode("latin1")
    if isinstance(v, str) and len(v) > 64:
        return _show(v.encode("latin1"))
    if isinstance(v, dict):
        return {str(k): _show(x) for k, x in sorted(v.items())}
    if isinstance(v, (list, tuple)):
        return [_show(x) for x in v]
    return v


def _norm_msg(s):
    s = re.sub(r"\(0x[0-9a-f]+\)", "(0x...)", s)        # libmemcached's pointers
    return re.sub(r"127\.0\.0\.1:\d+", "127.0.0.1:PORT", s)


class Steps:
    """Collects [step, outcome] pairs; an exception is an outcome too."""

    def __init__(self):
        self.out = []

    def __call__(self, name, fn):
        try:
            v = _show(fn())
        except Exception as e:  # noqa: BLE001 -- the client's error is the outcome
            v = "raise %s: %s" % (type(e).__name__, _norm_msg(str(e)))
        self.out.append([name, v])
        return v


def _run_script(argv, env=None):
    """Run a client script; its stdout is one JSON [step, outcome] per line."""
    e = dict(os.environ)
    e["MC_CLIENT_TIMEOUT"] = str(CLIENT_TIMEOUT)
    e.update(env or {})
    try:
        p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=e,
                           timeout=RUN_TIMEOUT)
    except subprocess.TimeoutExpired:
        raise TestFailure("client script hung: %s" % " ".join(argv))
    out = []
    for line in p.stdout.decode(errors="replace").splitlines():
        try:
            out.append(json.loads(line))
        except ValueError:
            out.append(["unparsed output", line])
    if p.returncode != 0:
        out.append(["exit status", p.returncode, p.stderr.decode(errors="replace")[-1500:]])
    return out


_dalli_checked = []


def dalli(port, mode="full", creds=()):
    ruby = _tool("ruby", "ruby")
    if not _dalli_checked:
        r = subprocess.run([ruby, "-e", "require 'dalli'; print Dalli::VERSION"],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=30)
        if r.returncode != 0:
            raise TestFailure("ruby cannot load dalli (Debian package ruby-dalli): %r"
                              % r.stdout)
        _dalli_checked.append(r.stdout.decode())
    return _run_script([ruby, os.path.join(SCRIPTS, "dalli_scenario.rb"), str(port), mode]
                       + list(creds))


def memjs(port, mode="full", creds=()):
    node = _tool("node", "nodejs")
    mods = _memjs_dir()
    return _run_script([node, os.path.join(SCRIPTS, "memjs_scenario.js"), str(port), mode]
                       + list(creds), env={"NODE_PATH": mods})


# A multi-get of 200 hits and 10 misses (a pipeline of quiet gets).
MANY = {"many-%03d" % i: "value-%d" % (i * i) for i in range(200)}
MANY_KEYS = sorted(MANY) + ["many-missing-%d" % i for i in range(10)]


def _many_seen(got):
    return [len(got), got == MANY]


def bmemcached_client(port, creds=()):
    bm = _import("bmemcached", "python3-binary-memcached")
    return bm.Client(["127.0.0.1:%d" % port], *creds, socket_timeout=CLIENT_TIMEOUT)


# Steps pylibmc and bmemcached share (same method names, same arguments).

def _store_and_multiget(s, c):
    s("set k1", lambda: c.set("k1", "v1"))
    s("get k1", lambda: c.get("k1"))
    s("get missing", lambda: c.get("missing"))
    s("add k1 (exists)", lambda: c.add("k1", "x"))
    s("add k2", lambda: c.add("k2", "v2"))
    s("replace missing", lambda: c.replace("missing", "x"))
    s("replace k2", lambda: c.replace("k2", "w2"))
    s("get_multi", lambda: c.get_multi(["k1", "k2", "missing"]))
    s("set_multi", lambda: c.set_multi({"m1": "1", "m2": b"\x00\r\n"}))
    s("get_multi m", lambda: c.get_multi(["m1", "m2"]))
    s("set_multi 200", lambda: c.set_multi(MANY))
    s("get_multi 200 + 10 missing", lambda: _many_seen(c.get_multi(MANY_KEYS)))
    s("set n", lambda: c.set("n", 10))
    s("get n", lambda: c.get("n"))
    s("incr n 5", lambda: c.incr("n", 5))
    s("decr n 20", lambda: c.decr("n", 20))


def _gets_and_cas(s, c):
    """gets, then cas with the unique and with a stale one; returns the
    unique."""
    box = {}

    def gets():
        box["v"], box["cas"] = c.gets("k1")
        return [box["v"], isinstance(box["cas"], int) and box["cas"] > 0]
    s("gets k1", gets)
    s("cas current", lambda: c.cas("k1", "v1-cas", box["cas"]))
    s("cas stale", lambda: c.cas("k1", "stale", box["cas"]))
    return box["cas"]


def _big_stats_flush(s, c, stats):
    s("set 500 KB", lambda: c.set("big", BIG))
    s("get 500 KB", lambda: c.get("big"))
    s("set 2 MB (server refuses)", lambda: c.set("huge", os.urandom(2 << 20)))
    s("stats", lambda: _counters(stats()))
    s("flush_all", lambda: c.flush_all())
    s("get k2 after flush", lambda: c.get("k2"))
    s("get_multi after flush", lambda: c.get_multi(["k2", "n", "big"]))


def bmemcached(port, mode="full", creds=()):
    s = Steps()
    c = bmemcached_client(port, creds)
    try:
        if mode == "probe":
            s("get", lambda: c.get("k"))
            s("set", lambda: c.set("k", "v"))
            return s.out
        _store_and_multiget(s, c)
        s("incr missing (default 42)", lambda: c.incr("ctr", 1, default=42))
        s("incr ctr", lambda: c.incr("ctr", 8))
        s("incr non-numeric", lambda: c.incr("k1", 1))
        cas = _gets_and_cas(s, c)
        s("cas missing", lambda: c.cas("missing", "x", cas))
        s("get k1 after cas", lambda: c.get("k1"))
        s("delete with stale cas", lambda: c.delete("k1", cas))
        s("delete k1", lambda: c.delete("k1"))
        s("delete k1 again", lambda: c.delete("k1"))
        s("delete_multi (+ Noop)", lambda: c.delete_multi(["m1", "m2", "missing"]))
        s("get k1 deleted", lambda: c.get("k1"))
        s("set object", lambda: c.set("obj", {"a": [1, 2]}))
        s("get object", lambda: c.get("obj"))
        _big_stats_flush(s, c, c.stats)
        return s.out
    finally:
        c.disconnect_all()


COUNTERS = ("cmd_get", "get_hits", "get_misses", "cmd_set", "cmd_touch", "touch_hits",
            "touch_misses", "incr_hits", "incr_misses", "decr_hits", "decr_misses",
            "delete_hits", "delete_misses", "cas_hits", "cas_misses", "cas_badval",
            "curr_items", "total_items")


def _counters(st):
    """stats() of bmemcached or get_stats() of pylibmc, one server ->
    the counters (pylibmc knows only some of them)."""
    st = dict(st)
    if len(st) != 1:
        return st
    (one,) = st.values()
    one = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in one.items()}
    out = {k: one[k] for k in COUNTERS if one.get(k) is not None}
    out["version"] = (one.get("version") or "").split("-")[0]
    return out


def pylibmc_binary(port, mode="full", creds=()):
    pylibmc = _import("pylibmc", "python3-pylibmc")
    s = Steps()

    def client():
        login = dict(zip(("username", "password"), creds))
        return pylibmc.Client(["127.0.0.1:%d" % port], binary=True,
                              behaviors={"cas": True,
                                         "connect_timeout": int(1000 * CLIENT_TIMEOUT),
                                         "receive_timeout": int(1e6 * CLIENT_TIMEOUT),
                                         "send_timeout": int(1e6 * CLIENT_TIMEOUT)},
                              **login)

    def one_shot(fn):
        # after an incr error libmemcached (binary) sometimes answers the
        # next gets with another key's value or a miss, against memcached
        # too: the failing incr gets a client of its own
        other = client()
        try:
            return fn(other)
        finally:
            other.disconnect_all()
    mc = client()
    try:
        if mode == "probe":
            # a client each: after a failure libmemcached marks the server
            # down for its retry timeout (2 s), so a second request's
            # outcome would depend on the time between them
            s("get", lambda: one_shot(lambda c: c.get("k")))
            s("set", lambda: one_shot(lambda c: c.set("k", "v")))
            return s.out
        _store_and_multiget(s, mc)
        s("incr missing", lambda: mc.incr("missing", 1))
        s("incr non-numeric", lambda: one_shot(lambda c: c.incr("k1", 1)))
        _gets_and_cas(s, mc)
        s("get k1 after cas", lambda: mc.get("k1"))
        s("append k1", lambda: mc.append("k1", "+"))
        s("prepend k1", lambda: mc.prepend("k1", "-"))
        s("get k1 after concat", lambda: mc.get("k1"))
        s("append missing", lambda: mc.append("missing", "+"))
        s("touch k1", lambda: mc.touch("k1", 300))
        s("touch missing", lambda: mc.touch("missing", 300))
        s("delete k1", lambda: mc.delete("k1"))
        s("delete k1 again", lambda: mc.delete("k1"))
        s("delete_multi", lambda: mc.delete_multi(["m1", "m2", "missing"]))
        s("get k1 deleted", lambda: mc.get("k1"))
        _big_stats_flush(s, mc, mc.get_stats)
        return s.out
    finally:
        mc.disconnect_all()


# ---- comparison --------------------------------------------------------------

def _steps_differ(what, a, b, a_name, b_name):
    """TestFailure naming the first step where transcripts a and b differ."""
    for i, (x, y) in enumerate(zip(a, b)):
        if x != y:
            if len(x) == len(y) == 2 and isinstance(x[1], dict) and isinstance(y[1], dict):
                x, y = ({k: d[1].get(k) for k in set(x[1]) | set(y[1])
                         if x[1].get(k) != y[1].get(k)} for d in (x, y))
            return TestFailure("%s, step %d %r: %s %s, %s %s"
                               % (what, i, a[i][0], a_name, harness.short(x), b_name,
                                  harness.short(y)))
    if len(a) != len(b):
        return TestFailure("%s: %s %d steps, %s %d:\n %s: %s\n %s: %s"
                           % (what, a_name, len(a), b_name, len(b), a_name,
                              harness.short(a, 2000), b_name, harness.short(b, 2000)))
    return None


def same_outcomes(what, ours, ref, want):
    """ours == reference step by step, then reference == expected."""
    err = (_steps_differ(what, ours, ref, "ours", "memcached")
           or _steps_differ(what + " (memcached vs expected)", ref, want, "memcached",
                            "expected"))
    if err:
        raise err


def both(client, args=(), mode="full", creds=()):
    """Run client(port, mode, creds) against ours and memcached started with
    args (concurrently); returns (ours, ref)."""
    return run_both(lambda s: client(s.port, mode, creds), args)


# ---- expected transcripts ----------------------------------------------------

BIG_SHOW = _show(BIG)


def want_store_and_multiget(replace_missing):
    """What _store_and_multiget() gives with pylibmc or bmemcached."""
    return [
        ['set k1', True],
        ['get k1', 'v1'],
        ['get missing', None],
        ['add k1 (exists)', False],
        ['add k2', True],
        ['replace missing', replace_missing],
        ['replace k2', True],
        ['get_multi', {'k1': 'v1', 'k2': 'w2'}],
        ['set_multi', []],
        ['get_multi m', {'m1': '1', 'm2': '\x00\r\n'}],
        ['set_multi 200', []],
        ['get_multi 200 + 10 missing', [200, True]],
        ['set n', True],
        ['get n', 10],
        ['incr n 5', 15],
        ['decr n 20', 0],
    ]


WANT_PYLIBMC = want_store_and_multiget(
    'raise NotFound: error 16 from memcached_replace') + [
    ['incr missing', 'raise NotFound: 1 keys not found'],
    ['incr non-numeric', 'raise UnknownReadFailure: 1 keys failed'],
    ['gets k1', ['v1', True]],
    ['cas current', True],
    ['cas stale', False],
    ['get k1 after cas', 'v1-cas'],
    ['append k1', True],
    ['prepend k1', True],
    ['get k1 after concat', '-v1-cas+'],
    ['append missing', False],
    ['touch k1', True],
    ['touch missing', False],
    ['delete k1', True],
    ['delete k1 again', False],
    ['delete_multi', False],
    ['get k1 deleted', None],
    ['set 500 KB', True],
    ['get 500 KB', BIG_SHOW],
    ['set 2 MB (server refuses)', 'raise TooBig: '],
    ['stats', {'cmd_get': '223', 'cmd_set': '214', 'curr_items': '203', 'get_hits': '210',
               'get_misses': '13', 'total_items': '210', 'version': '1.6.18'}],
    ['flush_all', True],
    ['get k2 after flush', None],
    ['get_multi after flush', {}],
]


WANT_BMEMCACHED = want_store_and_multiget(False) + [
    ['incr missing (default 42)', 42],
    ['incr ctr', 50],
    ['incr non-numeric', 'raise MemcachedException: ("Code: 6 Message: b\'Non-numeric '
                         'server-side value for incr or decr\'", 6)'],
    ['gets k1', ['v1', True]],
    ['cas current', True],
    ['cas stale', False],
    ['cas missing', False],
    ['get k1 after cas', 'v1-cas'],
    ['delete with stale cas', False],
    ['delete k1', True],
    ['delete k1 again', True],
    ['delete_multi (+ Noop)', False],
    ['get k1 deleted', None],
    ['set object', True],
    ['get object', {'a': [1, 2]}],
    ['set 500 KB', True],
    ['get 500 KB', BIG_SHOW],
    ['set 2 MB (server refuses)',
     'raise MemcachedException: ("Code: 3 Message: b\'Too large.\'", 3)'],
    ['stats', {'cas_badval': '1', 'cas_hits': '1', 'cas_misses': '1', 'cmd_get': '223',
               'cmd_set': '213', 'cmd_touch': '0', 'curr_items': '205', 'decr_hits': '1',
               'decr_misses': '0', 'delete_hits': '3', 'delete_misses': '2',
               'get_hits': '210', 'get_misses': '13', 'incr_hits': '2', 'incr_misses': '0',
               'total_items': '210', 'touch_hits': '0', 'touch_misses': '0',
               'version': '1.6.18'}],
    ['flush_all', True],
    ['get k2 after flush', None],
    ['get_multi after flush', {}],
]


WANT_DALLI = [
    ['set k1', 'stored'],
    ['get k1', 'v1'],
    ['get missing', None],
    ['add k1 (exists)', False],
    ['add k2', 'stored'],
    ['replace missing', 0],
    ['replace k2', 'stored'],
    ['get_multi', {'k1': 'v1', 'k2': 'w2'}],
    ['multi: 200 quiet sets', 'done'],
    ['get_multi 200 + 10 missing', [200, True]],
    ['set n', 'stored'],
    ['incr n 5', 15],
    ['decr n 20', 0],
    ['incr missing', None],
    ['incr missing with default', 42],
    ['incr ctr', 50],
    ['incr non-numeric',
     'raise Dalli::DalliError: Response error 6: Incr/decr on a non-numeric value'],
    ['get_cas k1', ['v1', True]],
    ['set_cas current', 'stored'],
    ['set_cas stale', False],
    ['cas block', 'stored'],
    ['cas block missing', None],
    ['append k1', True],
    ['prepend k1', True],
    ['get k1 after concat', '-v1-cas+'],
    ['append missing', False],
    ['touch k1', True],
    ['touch missing', None],
    ['gat k2', 'w2!'],
    ['gat missing', None],
    ['delete k1', True],
    ['delete k1 again', None],
    ['get k1 deleted', None],
    ['set object', 'stored'],
    ['get object', {'a': [1, 2]}],
    ['set 500 KB', 'stored'],
    ['get 500 KB', '512000 bytes sha256 '
                   '345bf1f635ad79f474debb68e02b0961f4e52d90fafd836e0d9c7950193d74cd'],
    ['get 500 KB equal', True],
    ['set 2 MB (server refuses)', 'raise Dalli::DalliError: Response error 3: Value too large'],
    ['stats', {'cas_badval': '1', 'cas_hits': '2', 'cas_misses': '0', 'cmd_get': '224',
               'cmd_set': '214', 'cmd_touch': '4', 'curr_items': '205', 'decr_hits': '1',
               'decr_misses': '0', 'delete_hits': '1', 'delete_misses': '1',
               'get_hits': '210', 'get_misses': '14', 'incr_hits': '2', 'incr_misses': '1',
               'total_items': '211', 'touch_hits': '2', 'touch_misses': '2',
               'version': '1.6.18'}],
    ['flush', [True]],
    ['get k2 after flush', None],
    ['get_multi after flush', {}],
]


WANT_MEMJS = [
    ['set k1', True],
    ['get k1', 'v1'],
    ['get missing', None],
    ['add k1 (exists)', False],
    ['add k2', True],
    ['replace missing', False],
    ['replace k2', True],
    ['parallel gets', ['v1', 'w2', None]],
    ['set n', True],
    ['increment n 5', {'success': True, 'value': 15}],
    ['decrement n 20', {'success': True, 'value': 0}],
    ['increment missing (initial 42)', {'success': True, 'value': 42}],
    ['increment ctr', {'success': True, 'value': 50}],
    ['increment non-numeric', 'error: MemJS INCREMENT: Incr/Decr on non-numeric value'],
    ['append k1', True],
    ['prepend k1 (sent as append)', True],
    ['get k1 after concat', 'v1+-'],
    ['append missing', 'error: MemJS APPEND: Item not stored'],
    ['touch k1', True],
    ['touch missing', False],
    ['delete k1', True],
    ['delete k1 again', False],
    ['get k1 deleted', None],
    ['set 500 KB', True],
    ['get 500 KB', '512000 bytes sha256 '
                   'b2b5d00c8d268fea7047ad2f1b484a7044a1a068c3c34d72dcbd44e7a8b5b1f8'],
    ['get 500 KB equal', True],
    ['set 2 MB (server refuses)', 'error: MemJS SET: Value too large'],
    ['stats', {'cas_badval': '0', 'cas_hits': '0', 'cas_misses': '0', 'cmd_get': '9',
               'cmd_set': '10', 'cmd_touch': '2', 'curr_items': '4', 'decr_hits': '1',
               'decr_misses': '0', 'delete_hits': '1', 'delete_misses': '1', 'get_hits': '6',
               'get_misses': '3', 'incr_hits': '2', 'incr_misses': '0', 'total_items': '8',
               'touch_hits': '1', 'touch_misses': '1', 'version': '1.6.18'}],
    ['flush', {'127.0.0.1:PORT': True}],
    ['get k2 after flush', None],
]


# ---- the scenarios without SASL ----------------------------------------------

def test_pylibmc_binary():
    o, r = both(pylibmc_binary)
    same_outcomes("pylibmc binary=True", o, r, WANT_PYLIBMC)


def test_bmemcached():
    o, r = both(bmemcached)
    same_outcomes("bmemcached", o, r, WANT_BMEMCACHED)


def test_dalli():
    o, r = both(dalli)
    same_outcomes("dalli", o, r, WANT_DALLI)


def test_memjs():
    o, r = both(memjs)
    same_outcomes("memjs", o, r, WANT_MEMJS)


# ---- SASL ----------------------------------------------------------------------

CREDS = (sasl_setup.USER, sasl_setup.PASSWORD)
WRONG = (sasl_setup.USER, "not-the-password")


@contextlib.contextmanager
def sasl_servers(ours_mode="sasldb"):
    """Ours and memcached, both with -S and a SASL setup holding USER /
    PASSWORD: memcached always through a sasldb; ours through a sasldb too
    or, with ours_mode="pwdb", through MEMCACHED_SASL_PWDB."""
    with sasl_setup.sasldb() as ref_env:
        with (sasl_setup.pwdb() if ours_mode == "pwdb" else sasl_setup.sasldb()) as ours_env:
            ours = Server(MC_BIN, ["-S"], "ours")
            ref = Server(REF_BIN, ["-S"], "reference")
            try:
                sasl_setup.start(ours, ours_env)
                sasl_setup.start(ref, ref_env)
                yield ours, ref
            finally:
                ref.kill()
                ours.kill()


def auth_stats(srv):
    """auth_cmds / auth_errors of each server, read on a connection that
    authenticates first (that auth is counted too)."""
    def fn(s):
        with s.connect() as c:
            eq(bin_request(c, 0x21, b"PLAIN", ("\0%s\0%s" % CREDS).encode()),
               (0, b"Authenticated"), "auth for stats")
            c.send(struct.pack("!BBHBBHLLQ", 0x80, 0x10, 0, 0, 0, 0, 0, 0, 0))
            st = {}
            for _ in range(1000):
                status, key, val = bin_reply(c)
                if status != 0 or not key:
                    break
                st[key.decode()] = val.decode()
            return {k: st.get(k) for k in ("auth_cmds", "auth_errors")}
    return run_both(fn, srv=srv)


def bin_reply(c):
    """One binary reply packet: (status, key, value); (None, b'', b'<EOF>')
    when the server closed."""
    hdr = c.read_until(lambda b: len(b) >= 24)
    if len(hdr) < 24:
        return None, b"", b"<EOF>"
    _, _, keylen, extlen, _, status, bodylen, _, _ = struct.unpack("!BBHBBHLLQ", hdr[:24])
    rest = hdr[24:]
    if len(rest) < bodylen:
        rest += c.read_until(lambda b: len(rest) + len(b) >= bodylen)
    c.buf = rest[bodylen:]
    body = rest[:bodylen]
    return status, body[extlen:extlen + keylen], body[extlen + keylen:]


def bin_request(c, opcode, key=b"", value=b""):
    c.send(struct.pack("!BBHBBHLLQ", 0x80, opcode, len(key), 0, 0, 0, len(key) + len(value),
                       0, 0) + key + value)
    status, _, val = bin_reply(c)
    return status, val


def sasl_client_test(client, want_full, want_wrong, want_none, want_stats, ours_mode="sasldb"):
    with sasl_servers(ours_mode) as srv:
        o, r = run_both(lambda s: client(s.port, "full", CREDS), srv=srv)
        same_outcomes("right password", o, r, want_full)
        o, r = run_both(lambda s: client(s.port, "probe", WRONG), srv=srv)
        same_outcomes("wrong password", o, r, want_wrong)
        o, r = run_both(lambda s: client(s.port, "probe", ()), srv=srv)
        same_outcomes("no credentials", o, r, want_none)
        o, r = auth_stats(srv)
        eq(o, r, "auth stats, ours vs memcached")
        eq(r, want_stats, "memcached's auth stats")


# What each client reports when the server refuses it: a wrong password
# (the SASL auth gets 0x20 "Auth failure.") or no credentials at all (the
# first request gets 0x20 and the connection is closed).
WANT_BMEMCACHED_REFUSED = [
    ["get", "raise MemcachedException: (\"Code: 32 Message: b'Auth failure.'\", 32)"],
    ["set", "raise MemcachedException: (\"Code: 32 Message: b'Auth failure.'\", 32)"],
]
WANT_BMEMCACHED_NO_AUTH = [
    ["get", "raise MemcachedException: (\"Code: 32 Message: b'Auth failure.'\", 32)"],
    ["set", False],             # the connection was closed: bmemcached says "not stored"
]
WANT_DALLI_REFUSED = [
    ["get", "raise Dalli::DalliError: Error authenticating: 0x20"],
    ["set", "raise Dalli::DalliError: Response error 32: Authentication required"],
]
WANT_DALLI_NO_AUTH = [
    ["get", "raise Dalli::DalliError: Response error 32: Authentication required"],
    ["set", "raise Dalli::RingError: No server available"],    # closed: marked down
]
WANT_MEMJS_REFUSED = [
    ["get", "error: Memcached server authentication failed!"],
    ["set", "error: Memcached server authentication failed!"],
]


_LIBMEMCACHED_AUTH = ("(0x...) AUTHENTICATION FAILURE,  host: 127.0.0.1:PORT -> "
                      "./src/libmemcached/sasl.cc:257")
WANT_PYLIBMC_REFUSED = [
    ["get", "raise Error: error 41 from memcached_get(k): " + _LIBMEMCACHED_AUTH],
    ["set", "raise Error: error 41 from memcached_set: " + _LIBMEMCACHED_AUTH],
]
WANT_PYLIBMC_NO_AUTH = [
    ["get", None],              # libmemcached takes the 0x20 reply for a miss
    ["set", "raise Error: error 41 from memcached_set"],
]


def test_sasl_pylibmc():
    sasl_client_test(pylibmc_binary, WANT_PYLIBMC, WANT_PYLIBMC_REFUSED, WANT_PYLIBMC_NO_AUTH,
                     {"auth_cmds": "5", "auth_errors": "2"})


def test_sasl_bmemcached():
    sasl_client_test(bmemcached, WANT_BMEMCACHED, WANT_BMEMCACHED_REFUSED,
                     WANT_BMEMCACHED_NO_AUTH, {"auth_cmds": "3", "auth_errors": "1"})


def test_sasl_dalli():
    sasl_client_test(dalli, WANT_DALLI, WANT_DALLI_REFUSED, WANT_DALLI_NO_AUTH,
                     {"auth_cmds": "4", "auth_errors": "1"})


def test_sasl_memjs():
    sasl_client_test(memjs, WANT_MEMJS, WANT_MEMJS_REFUSED, WANT_MEMJS_REFUSED,
                     {"auth_cmds": "4", "auth_errors": "2"})


def test_sasl_pwdb_mode():
    # Ours with MEMCACHED_SASL_PWDB (user:password file) against memcached
    # with a sasldb holding the same user: the clients cannot tell.
    if not OURS:
        raise TestSkip("MEMCACHED_SASL_PWDB is ours only (Debian's memcached ignores it)")
    for client, full, refused, no_auth, stats in (
            (bmemcached, WANT_BMEMCACHED, WANT_BMEMCACHED_REFUSED, WANT_BMEMCACHED_NO_AUTH,
             {"auth_cmds": "3", "auth_errors": "1"}),
            (dalli, WANT_DALLI, WANT_DALLI_REFUSED, WANT_DALLI_NO_AUTH,
             {"auth_cmds": "4", "auth_errors": "1"}),
            (memjs, WANT_MEMJS, WANT_MEMJS_REFUSED, WANT_MEMJS_REFUSED,
             {"auth_cmds": "4", "auth_errors": "2"})):
        sasl_client_test(client, full, refused, no_auth, stats, ours_mode="pwdb")


# A text command on a -S server: memcached serves only the binary protocol
# then (-S implies -B binary) and closes a connection whose first 24 bytes
# are not a binary request, authenticated or not.  Every text command used
# here is at least 24 bytes long (a shorter one would only wait for more).
TEXT_SET = b"set text-key 0 0 20\r\n" + b"x" * 20 + b"\r\n"
LONG_KEY = "text-protocol-key-of-30-bytes!"


def _raw_text(s, authenticate):
    with s.connect() as c:
        out = Steps()
        if authenticate:
            out("auth", lambda: bin_request(c, 0x21, b"PLAIN",
                                            ("\0%s\0%s" % CREDS).encode()))
        c.send(TEXT_SET)
        out("text set: reply", lambda: c.read_to_eof())
        out("connection", lambda: "closed" if c.eof else "open")
        return out.out


def _bmemcached_then_text(s):
    # bmemcached authenticates, then its own connection gets a text command
    c = bmemcached_client(s.port, CREDS)
    try:
        out = Steps()
        out("set", lambda: c.set("k", "v"))
        conn = next(iter(c.servers)).connection
        out("text set on the authenticated connection", lambda: conn.sendall(TEXT_SET))
        out("get", lambda: c.get("k"))
        out("get after reconnecting", lambda: c.get("k"))
        return out.out
    finally:
        c.disconnect_all()


def _pymemcache(s):
    from pymemcache.client.base import Client
    _import("pymemcache", "python3-pymemcache")
    c = Client(("127.0.0.1", s.port), connect_timeout=CLIENT_TIMEOUT, timeout=CLIENT_TIMEOUT)
    try:
        out = Steps()
        out("set", lambda: c.set("text-key", "x" * 20, noreply=False))
        out("get", lambda: c.get(LONG_KEY))
        return out.out
    finally:
        c.close()


def _pylibmc_text(s):
    pylibmc = _import("pylibmc", "python3-pylibmc")
    mc = pylibmc.Client(["127.0.0.1:%d" % s.port], binary=False,
                        behaviors={"connect_timeout": int(1000 * CLIENT_TIMEOUT),
                                   "receive_timeout": int(1e6 * CLIENT_TIMEOUT),
                                   "send_timeout": int(1e6 * CLIENT_TIMEOUT)})
    try:
        out = Steps()
        out("set", lambda: mc.set("text-key", "x" * 20))
        out("get", lambda: mc.get(LONG_KEY))
        return out.out
    finally:
        mc.disconnect_all()


def test_sasl_text_commands_close():
    with sasl_servers() as srv:
        o, r = run_both(lambda s: _raw_text(s, False), srv=srv)
        same_outcomes("raw text command, no auth", o, r,
                      [["text set: reply", ""], ["connection", "closed"]])
        o, r = run_both(lambda s: _raw_text(s, True), srv=srv)
        same_outcomes("raw text command after auth", o, r,
                      [["auth", [0, "Authenticated"]], ["text set: reply", ""],
                       ["connection", "closed"]])
        o, r = run_both(_bmemcached_then_text, srv=srv)
        same_outcomes("bmemcached, then text on its connection", o, r, [
            ["set", True], ["text set on the authenticated connection", None],
            ["get", None],              # closed: bmemcached reports a miss ...
            ["get after reconnecting", "v"]])   # ... and logs in again
        o, r = run_both(_pymemcache, srv=srv)
        same_outcomes("pymemcache (text)", o, r, [
            ["set", "raise MemcacheUnexpectedCloseError: "],
            ["get", "raise MemcacheUnexpectedCloseError: "]])
        o, r = run_both(_pylibmc_text, srv=srv)
        closed = ("(0x...) CONNECTION FAILURE, ::rec() returned zero, server has "
                  "disconnected,  host: 127.0.0.1:PORT -> ./src/libmemcached/io.cc:433")
        same_outcomes("pylibmc (text)", o, r, [
            ["set", "raise ConnectionError: error 3 from memcached_set: " + closed],
            ["get", "raise ConnectionError: error 3 from memcached_get(%s): %s"
             % (LONG_KEY, closed)]])
        o, r = auth_stats(srv)
        eq(o, r, "auth stats, ours vs memcached")
        eq(r, {"auth_cmds": "4", "auth_errors": "0"}, "memcached's auth stats")


def _start_status(binary, env):
    """Exit status and stderr of a -S server that should refuse to start
    (None if it is still running after 5 s: it started)."""
    cmd = [binary, "-S", "-U", "0", "-l", harness.HOST, "-p", str(harness.free_port())]
    if os.geteuid() == 0:
        cmd += ["-u", "root"]
    e = {k: v for k, v in os.environ.items() if k not in sasl_setup.SASL_VARS}
    e.update(env)
    try:
        p = subprocess.run(cmd, env=e, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=5 * TIME_SCALE)
    except subprocess.TimeoutExpired:
        return None, b""
    return p.returncode, p.stdout + p.stderr


def test_sasl_without_configuration_refuses_to_start():
    # No SASL_CONF_PATH and no /etc/sasl{,2}/memcached.conf: memcached
    # refuses to start ("Error initializing sasl.", exit 1); so do we, and
    # say where the configuration is looked for.
    etc = [d for d in ("/etc/sasl", "/etc/sasl2")
           if os.path.exists(os.path.join(d, "memcached.conf"))]
    if etc:
        raise TestSkip("this machine has %s/memcached.conf" % etc[0])
    for env in ({}, {"MEMCACHED_SASL_PWDB": "/nonexistent"}):
        rc_ref, _ = _start_status(REF_BIN, env)
        rc, err = _start_status(MC_BIN, env)
        eq(rc, rc_ref, "exit status, ours vs memcached (%r)" % env)
        eq(rc_ref, 1, "memcached's exit status")
        if OURS:
            check(b"SASL_CONF_PATH" in err and b"/etc/sasl2" in err,
                  "our message names where memcached.conf is looked for: %r" % err)
