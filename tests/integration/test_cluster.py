"""Beyond one machine: three of our servers behind twemproxy (Debian's
nutcracker, ketama), behind client-side consistent hashing (pylibmc's
ketama, the npm `memcached` client's hash ring), a rolling restart with
snapshots, and data shared between Python, Perl and Node.js applications.

Every server, proxy and client runs on 127.0.0.1 on free ports; every
loop is bounded.  The counts each test measures are printed (run.py -v
shows them) and summarised in doc/scaling.md."""

import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

from harness import (HOST, MC_BIN, TIME_SCALE, TestFailure, check, eq, exchange, free_port,
                     import_debian, tool)

HERE = os.path.dirname(os.path.abspath(__file__))
SRCDIR = os.path.dirname(os.path.dirname(HERE))
NPM_DIR = os.environ.get("MC_NPM_DIR", os.path.join(SRCDIR, "build", "npm"))
NKEYS = 3000


def _note(msg):
    print("    # " + msg, flush=True)


def _wait_port(port, proc, timeout=10.0):
    deadline = time.monotonic() + timeout * TIME_SCALE
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        try:
            socket.create_connection((HOST, port), timeout=1).close()
            return True
        except OSError:
            time.sleep(0.05)
    return False


class Node:
    """One of our servers on a fixed port (it comes back on the same port
    after a restart), with a snapshot file."""

    def __init__(self, d, i):
        self.port = free_port()
        self.snap = os.path.join(d, "node%d.snap" % i)
        self.name = "node%d" % i
        self.proc = None

    def start(self):
        cmd = [MC_BIN, "-U", "0", "-l", HOST, "-p", str(self.port), "-t", "2",
               "-o", "snapshot_path=" + self.snap]
        if os.geteuid() == 0:
            cmd += ["-u", "root"]
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE)
        if not _wait_port(self.port, self.proc):
            err = self.proc.stderr.read().decode(errors="replace") if self.proc.poll() is not None else ""
            raise TestFailure("%s did not start on %d: %s" % (self.name, self.port, err[-500:]))
        return self

    def stop(self, sig=signal.SIGTERM):
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(sig)
        try:
            self.proc.wait(timeout=20 * TIME_SCALE)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=5)
        err = self.proc.stderr.read()
        check(b"Sanitizer" not in err and b"runtime error" not in err,
              err.decode("latin1")[-2000:])

    def stats(self):
        return _stats(self.port)


def _stats(port):
    out = exchange(port, b"stats\r\n", b"END\r\n")
    return {l.split()[1].decode(): l.split()[2].decode()
            for l in out.split(b"\r\n") if l.startswith(b"STAT ")}


class Proxy:
    """nutcracker (twemproxy) in front of the nodes, ketama distribution."""

    def __init__(self, d, nodes, eject=True):
        self.port = free_port()
        self.stats_port = free_port()
        self.conf = os.path.join(d, "nutcracker.yml")
        self.log = os.path.join(d, "nutcracker.log")
        with open(self.conf, "w") as f:
            f.write("cache:\n"
                    "  listen: %s:%d\n"
                    "  hash: md5\n"
                    "  distribution: ketama\n"
                    "  timeout: %d\n"
                    "  auto_eject_hosts: %s\n"
                    "  server_retry_timeout: 2000\n"
                    "  server_failure_limit: 1\n"
                    "  servers:\n" % (HOST, self.port, int(2000 * TIME_SCALE),
                                      "true" if eject else "false"))
            for n in nodes:
                f.write("   - %s:%d:1 %s\n" % (HOST, n.port, n.name))
        self.proc = subprocess.Popen(
            [tool("nutcracker", "nutcracker"), "-c", self.conf, "-s", str(self.stats_port),
             "-a", HOST, "-o", self.log, "-v", "4"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if not _wait_port(self.port, self.proc):
            raise TestFailure("nutcracker did not start: %s" % open(self.log).read()[-1000:])

    def alive(self):
        return self.proc.poll() is None

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()


class Cluster:
    def __init__(self, eject=True):
        self.dir = tempfile.mkdtemp(prefix="mc-cluster-")
        self.nodes = [Node(self.dir, i) for i in range(3)]
        self.proxy = None
        self.eject = eject

    def __enter__(self):
        for n in self.nodes:
            n.start()
        self.proxy = Proxy(self.dir, self.nodes, self.eject)
        return self

    def __exit__(self, *a):
        if self.proxy:
            self.proxy.stop()
        for n in self.nodes:
            n.stop(signal.SIGKILL)
        shutil.rmtree(self.dir, ignore_errors=True)


class ProxyConn:
    """A text-protocol connection through the proxy, one request at a time."""

    def __init__(self, port):
        self.s = socket.create_connection((HOST, port), timeout=10 * TIME_SCALE)
        self.buf = b""

    def _line(self):
        deadline = time.monotonic() + 10 * TIME_SCALE
        while b"\r\n" not in self.buf:
            if time.monotonic() > deadline:
                raise TestFailure("no reply from the proxy")
            d = self.s.recv(65536)
            if not d:
                raise TestFailure("proxy closed the connection")
            self.buf += d
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def _exact(self, n):
        while len(self.buf) < n:
            d = self.s.recv(65536)
            if not d:
                raise TestFailure("proxy closed the connection")
            self.buf += d
        data, self.buf = self.buf[:n], self.buf[n:]
        return data

    def cmd(self, data):
        self.s.sendall(data)
        return self._line()

    def get_many(self, keys):
        """{key: value} for hits; 'ERR' in the dict's None key on a server error."""
        self.s.sendall(b"get " + b" ".join(keys) + b"\r\n")
        out = {}
        while True:
            line = self._line()
            if line == b"END":
                return out
            if line.startswith(b"VALUE "):
                _, k, _flags, n = line.split()[:4]
                out[k] = self._exact(int(n) + 2)[:-2]
                continue
            out[None] = line            # SERVER_ERROR ...: the proxy could not reach a node
            return out

    def close(self):
        self.s.close()


def _keys(prefix="k"):
    return [b"%s:%d" % (prefix.encode(), i) for i in range(NKEYS)]


def _value(k):
    return b"v=" + k + b"=" + (k * 3)[:40]


def _fill(pc, keys):
    for k in keys:
        eq(pc.cmd(b"set %s 0 0 %d\r\n%s\r\n" % (k, len(_value(k)), _value(k))), b"STORED",
           "set %r through the proxy" % k)


def _scan(port, keys, batch=50):
    """Look every key up through the proxy, batch keys per get (a new
    connection when the proxy closed one).  Returns (hits, misses,
    errors); a wrong value fails the test."""
    hits = misses = errors = 0
    pc = ProxyConn(port)
    try:
        for i in range(0, len(keys), batch):
            part = keys[i:i + batch]
            for k in part:           # one key per get: a node error hides only that key
                try:
                    r = pc.get_many([k])
                except TestFailure:
                    pc.close()
                    pc = ProxyConn(port)
                    errors += 1
                    continue
                if None in r:
                    errors += 1
                elif k in r:
                    eq(r[k], _value(k), "value of %r" % k)
                    hits += 1
                else:
                    misses += 1
    finally:
        pc.close()
    return hits, misses, errors


def test_twemproxy_ketama_spread_eject_and_recover():
    with Cluster(eject=True) as cl:
        keys = _keys()
        pc = ProxyConn(cl.proxy.port)
        _fill(pc, keys)
        # multiget across the nodes, incr, delete
        got = pc.get_many(keys[:200])
        eq(len(got), 200, "200-key multiget through the proxy")
        check(all(got[k] == _value(k) for k in keys[:200]), "multiget values")
        eq(pc.cmd(b"set counter 0 0 1\r\n5\r\n"), b"STORED", "set counter")
        eq(pc.cmd(b"incr counter 37\r\n"), b"42", "incr through the proxy")
        eq(pc.cmd(b"delete %s\r\n" % keys[0]), b"DELETED", "delete")
        eq(pc.cmd(b"set %s 0 0 %d\r\n%s\r\n" % (keys[0], len(_value(keys[0])),
                                                 _value(keys[0]))), b"STORED", "set back")
        pc.close()
        spread = [int(n.stats()["curr_items"]) for n in cl.nodes]
        _note("keys per node through twemproxy/ketama: %s (of %d + counter)" % (spread, NKEYS))
        eq(sum(spread), NKEYS + 1, "every key stored once")
        check(min(spread) > NKEYS // 6, "every node holds a share: %s" % spread)
        before = _scan(cl.proxy.port, keys)
        eq(before, (NKEYS, 0, 0), "all hits before")

        # one node dies: the proxy ejects it; its keys miss (or error once),
        # no key ever returns a wrong value, the proxy stays up
        victim = cl.nodes[1]
        # the test's keys that live on the victim (not the counter), asked of it directly
        vc = ProxyConn(victim.port)
        victim_keys = sum(len(vc.get_many(keys[i:i + 100])) for i in range(0, NKEYS, 100))
        vc.close()
        victim.stop(signal.SIGTERM)          # writes its snapshot
        during = _scan(cl.proxy.port, keys)
        _note("node1 down (%d keys): hits %d, misses %d, errors %d" %
              ((victim_keys,) + during))
        check(cl.proxy.alive(), "proxy alive")
        check(during[0] >= NKEYS - victim_keys - 5, "the other nodes' keys still hit: %s" % (during,))
        check(during[0] <= NKEYS - victim_keys, "no key of the dead node hits elsewhere")

        # it comes back from its snapshot; after server_retry_timeout the
        # proxy uses it again and its keys hit
        victim.start()
        check(int(victim.stats()["curr_items"]) >= victim_keys, "node1 reloaded its snapshot")
        deadline = time.monotonic() + 20 * TIME_SCALE
        after = (0, 0, 0)
        while time.monotonic() < deadline:
            time.sleep(0.5)
            after = _scan(cl.proxy.port, keys)
            if after == (NKEYS, 0, 0):
                break
        _note("node1 back from its snapshot: hits %d, misses %d, errors %d" % after)
        eq(after, (NKEYS, 0, 0), "every key hits again after the node returned")
        check(cl.proxy.alive(), "proxy alive")


def test_rolling_restart_loses_no_keys():
    """Each node in turn: SIGTERM (snapshot), restart (load it).  The proxy
    does not eject (auto_eject_hosts: false), so a key's node never
    changes; while a node is down its keys get a server error."""
    with Cluster(eject=False) as cl:
        keys = _keys("r")
        pc = ProxyConn(cl.proxy.port)
        _fill(pc, keys)
        pc.close()
        eq(_scan(cl.proxy.port, keys), (NKEYS, 0, 0), "before")
        ratios = []
        for n in cl.nodes:
            held = int(n.stats()["curr_items"])
            n.stop(signal.SIGTERM)
            during = _scan(cl.proxy.port, keys)
            n.start()
            deadline = time.monotonic() + 20 * TIME_SCALE
            after = (0, 0, 0)
            while time.monotonic() < deadline:
                after = _scan(cl.proxy.port, keys)
                if after[0] == NKEYS:
                    break
                time.sleep(0.3)
            ratios.append((n.name, held, during[0] / NKEYS, after[0] / NKEYS))
            eq(during[1], 0, "no miss while %s is down (its keys error, others hit)" % n.name)
            eq(after, (NKEYS, 0, 0), "all keys back after restarting %s" % n.name)
        for name, held, d, a in ratios:
            _note("%s (%d keys) restarted: hit ratio during %.3f, after %.3f" % (name, held, d, a))
        eq(_scan(cl.proxy.port, keys), (NKEYS, 0, 0), "keys lost in the rolling restart: 0")


def _client_hits(nodes, removed, lookup):
    total = NKEYS
    held = [int(n.stats()["curr_items"]) for n in nodes]
    hits = lookup([n for n in nodes if n is not removed])
    return held, hits, total


def test_pylibmc_ketama_across_three_nodes():
    pylibmc = import_debian("pylibmc", "python3-pylibmc")
    d = tempfile.mkdtemp(prefix="mc-ketama-")
    nodes = [Node(d, i).start() for i in range(3)]
    try:
        addrs = ["%s:%d" % (HOST, n.port) for n in nodes]
        behaviors = {"ketama": True, "remove_failed": 0}
        c = pylibmc.Client(addrs, behaviors=behaviors)
        keys = ["p:%d" % i for i in range(NKEYS)]
        for k in keys:
            check(c.set(k, _value(k.encode())), "set %s" % k)
        held = [int(n.stats()["curr_items"]) for n in nodes]
        _note("pylibmc ketama, keys per node: %s" % held)
        eq(sum(held), NKEYS, "every key once")
        check(min(held) > NKEYS // 6, "spread: %s" % held)
        c.disconnect_all()
        # the node with the most keys leaves the ring: the worst case
        gone = max(range(3), key=lambda i: held[i])
        c2 = pylibmc.Client([a for i, a in enumerate(addrs) if i != gone], behaviors=behaviors)
        hits = 0
        for k in keys:
            v = c2.get(k)
            if v is not None:
                eq(v, _value(k.encode()), "value of %s" % k)
                hits += 1
        c2.disconnect_all()
        _note("pylibmc ketama, node %d (%d keys) removed: %d of %d keys still hit (%.3f)"
              % (gone, held[gone], hits, NKEYS, hits / NKEYS))
        eq(hits, NKEYS - held[gone], "exactly the keys of the remaining nodes still hit")
        check(hits / NKEYS >= 0.60, "most keys still hit")
    finally:
        for n in nodes:
            n.stop(signal.SIGKILL)
        shutil.rmtree(d, ignore_errors=True)


NODE_RING = r"""
const Memcached = require('memcached');
// node -e: the script's arguments start at process.argv[1]
const [mode, servers, nkeys] = [process.argv[1], JSON.parse(process.argv[2]), +process.argv[3]];
const mc = new Memcached(servers, {retries: 0, timeout: 5000, poolSize: 4});
const keys = Array.from({length: nkeys}, (_, i) => 'n:' + i);
const val = k => 'v=' + k + '=' + (k + k + k).slice(0, 40);
let hits = 0, bad = 0, i = 0;
// one request at a time: the client refuses more at once than its pool
function next() {
  if (i === nkeys) { console.log(JSON.stringify({hits, bad})); mc.end(); process.exit(0); }
  const k = keys[i++];
  if (mode === 'set') {
    mc.set(k, val(k), 0, err => { if (err) bad++; next(); });
  } else {
    mc.get(k, (err, v) => {
      if (err) bad++; else if (v !== undefined) { if (v === val(k)) hits++; else bad++; }
      next();
    });
  }
}
next();
"""


def _node_ring(mode, addrs):
    node = tool("node", "nodejs")
    mods = os.path.join(NPM_DIR, "node_modules")
    if not os.path.isfile(os.path.join(mods, "memcached", "package.json")):
        p = subprocess.run([tool("npm", "npm"), "install", "--prefix", NPM_DIR, "--no-audit",
                            "--no-fund", "--loglevel=error", "memcached@2.2.2"],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=180)
        if p.returncode != 0:
            raise TestFailure("npm install memcached: %s" % p.stdout.decode(errors="replace"))
    p = subprocess.run([node, "-e", NODE_RING, mode, json.dumps(addrs), str(NKEYS)],
                       env=dict(os.environ, NODE_PATH=mods), stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=120 * TIME_SCALE)
    check(p.returncode == 0, "node: %s" % p.stderr.decode(errors="replace")[-1000:])
    return json.loads(p.stdout.decode().strip().splitlines()[-1])


def test_node_memcached_hash_ring_across_three_nodes():
    d = tempfile.mkdtemp(prefix="mc-ring-")
    nodes = [Node(d, i).start() for i in range(3)]
    try:
        addrs = ["%s:%d" % (HOST, n.port) for n in nodes]
        r = _node_ring("set", addrs)
        eq(r["bad"], 0, "node sets")
        held = [int(n.stats()["curr_items"]) for n in nodes]
        _note("npm memcached hash ring, keys per node: %s" % held)
        eq(sum(held), NKEYS, "every key once")
        check(min(held) > NKEYS // 6, "spread: %s" % held)
        gone = max(range(3), key=lambda i: held[i])
        r = _node_ring("get", [a for i, a in enumerate(addrs) if i != gone])
        _note("npm memcached, node %d (%d keys) removed: %d of %d keys still hit (%.3f)"
              % (gone, held[gone], r["hits"], NKEYS, r["hits"] / NKEYS))
        eq(r["bad"], 0, "no wrong value, no error")
        eq(r["hits"], NKEYS - held[gone], "exactly the keys of the remaining nodes still hit")
    finally:
        for n in nodes:
            n.stop(signal.SIGKILL)
        shutil.rmtree(d, ignore_errors=True)


PERL_READ = r"""
use strict; use warnings;
use Cache::Memcached::Fast;
my $mc = Cache::Memcached::Fast->new({servers => [$ARGV[0]], utf8 => 0});
my $h = $mc->get_multi('share:json', 'share:counter', 'share:bin', 'share:from_node');
binmode STDOUT;
for my $k (sort keys %$h) { printf "%s %d %s\n", $k, length($h->{$k}), unpack('H*', $h->{$k}); }
my $n = $mc->incr('share:counter', 8);
print "incr $n\n";
$mc->set('share:from_perl', 'written by perl') or die;
"""

NODE_SHARE = r"""
const Memcached = require('memcached');
const mc = new Memcached(process.argv[1], {retries: 0, timeout: 5000});   // node -e: argv[1]
mc.getMulti(['share:json', 'share:counter', 'share:from_perl'], (err, d) => {
  if (err) { console.error(err); process.exit(1); }
  mc.set('share:from_node', 'written by node', 0, e2 => {
    if (e2) { console.error(e2); process.exit(1); }
    console.log(JSON.stringify(d)); mc.end(); process.exit(0);
  });
});
"""


def test_data_shared_between_python_perl_and_node():
    """One application writes with pymemcache, the others read the same
    keys with Cache::Memcached::Fast (Perl) and the npm memcached client,
    all through the twemproxy cluster: raw bytes with flags 0 and decimal
    counters are portable (doc/scaling.md, "Sharing data")."""
    import_debian("pymemcache", "python3-pymemcache")
    from pymemcache.client.base import Client
    perl = tool("perl", "perl")
    chk = subprocess.run([perl, "-MCache::Memcached::Fast", "-e", "1"], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    if chk.returncode != 0:
        raise TestFailure("Cache::Memcached::Fast missing (libcache-memcached-fast-perl)")
    with Cluster(eject=False) as cl:
        addr = "%s:%d" % (HOST, cl.proxy.port)
        py = Client((HOST, cl.proxy.port), connect_timeout=5, timeout=10)
        doc = json.dumps({"user": 7, "name": "Zoë"}).encode("utf-8")
        blob = bytes(range(256))
        py.set("share:json", doc)              # bytes, no serde: flags 0
        py.set("share:counter", b"34")
        py.set("share:bin", blob)
        p = subprocess.run([perl, "-e", PERL_READ, addr], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=60 * TIME_SCALE)
        check(p.returncode == 0, "perl: %s" % p.stderr.decode(errors="replace"))
        lines = p.stdout.decode().splitlines()
        got = {l.split()[0]: bytes.fromhex(l.split()[2]) for l in lines if l.startswith("share:")}
        eq(got.get("share:json"), doc, "Perl reads Python's JSON bytes")
        eq(got.get("share:counter"), b"34", "Perl reads the counter")
        eq(got.get("share:bin"), blob, "Perl reads 256 binary bytes")
        check("incr 42" in lines, "Perl incr of Python's counter: %r" % lines)
        node = tool("node", "nodejs")
        mods = os.path.join(NPM_DIR, "node_modules")
        if not os.path.isfile(os.path.join(mods, "memcached", "package.json")):
            _node_ring("set", [addr])       # installs the client
        p = subprocess.run([node, "-e", NODE_SHARE, addr], env=dict(os.environ, NODE_PATH=mods),
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60 * TIME_SCALE)
        check(p.returncode == 0, "node: %s" % p.stderr.decode(errors="replace")[-800:])
        d = json.loads(p.stdout.decode().strip().splitlines()[-1])
        eq(d.get("share:json"), doc.decode("utf-8"), "Node reads Python's JSON text")
        eq(str(d.get("share:counter")), "42", "Node reads the counter Perl incremented")
        eq(d.get("share:from_perl"), "written by perl", "Node reads Perl's value")
        eq(py.get("share:from_node"), b"written by node", "Python reads Node's value")
        eq(py.get("share:from_perl"), b"written by perl", "Python reads Perl's value")
        eq(py.incr("share:counter", 1), 43, "Python incr after Perl")
        py.close()
