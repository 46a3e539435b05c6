"""Integration-test harness: start servers, talk raw bytes, compare replies.

Python 3 standard library only.  The binary under test comes from $MC_BIN
(run.sh fills it in from the build directory); the reference is
$MC_REF_BIN (default /usr/bin/memcached, Debian's 1.6.18).

Every socket has a timeout, every loop is bounded, and every server started
here is killed at exit (atexit + explicit stop in the `pair()`/`server()`
context managers), even when a test fails.
"""

import atexit
import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REF_BIN = os.environ.get("MC_REF_BIN", "/usr/bin/memcached")
MC_BIN = os.environ.get("MC_BIN") or os.path.join(os.getcwd(), "memcached")
HOST = "127.0.0.1"
# Sanitizer builds are slower; scale every timeout by this factor.
TIME_SCALE = float(os.environ.get("MC_TIME_SCALE", "1"))
# The signal that stops a server gracefully: SIGTERM, or SIGINT for
# memcached.exe under Wine (it becomes Ctrl+C there; SIGTERM kills).
STOP_SIGNAL = getattr(signal, os.environ.get("MC_STOP_SIGNAL", "SIGTERM"))
IO_TIMEOUT = 5.0 * TIME_SCALE

_live = []


class TestFailure(AssertionError):
    pass


class TestSkip(Exception):
    pass


def check(cond, msg="check failed"):
    if not cond:
        raise TestFailure(msg)


def short(x, n=400):
    r = repr(x)
    return r if len(r) <= n else r[:n // 2] + " ...<%d chars>... " % (len(r) - n) + r[-n // 2:]


def eq(got, want, what="value"):
    if got != want:
        if isinstance(got, dict) and isinstance(want, dict):
            diff = {k: (got.get(k), want.get(k)) for k in set(got) | set(want)
                    if got.get(k) != want.get(k)}
            raise TestFailure("%s mismatch (key: (got, want)): %s" % (what, short(diff, 1200)))
        if isinstance(got, list) and isinstance(want, list) and len(got) == len(want):
            for i, (g, w) in enumerate(zip(got, want)):
                if g != w:
                    raise TestFailure("%s mismatch at item %d:\n  got:  %s\n  want: %s"
                                      % (what, i, short(g), short(w)))
        raise TestFailure("%s mismatch:\n  got:  %s\n  want: %s" % (what, short(got), short(want)))


def free_port(kind=socket.SOCK_STREAM):
    """A port free on HOST now (TCP, or UDP with kind=SOCK_DGRAM)."""
    s = socket.socket(socket.AF_INET, kind)
    try:
        s.bind((HOST, 0))
        return s.getsockname()[1]
    finally:
        s.close()


class Server:
    """One memcached-compatible server process on a free loopback port."""

    def __init__(self, binary, args=(), name="server"):
        self.binary = binary
        self.args = list(args)
        self.name = name
        self.port = None
        self.proc = None
        self.stderr_path = None

    def start(self, attempts=3):
        if not os.access(self.binary, os.X_OK):
            raise TestFailure("%s binary not executable: %s" % (self.name, self.binary))
        last = None
        for _ in range(attempts):  # port race with another process: retry
            self.port = free_port()
            cmd = [self.binary, "-U", "0", "-l", HOST, "-p", str(self.port)]
            if os.geteuid() == 0:
                cmd += ["-u", "root"]
            cmd += self.args
            # Our server's stderr is kept to catch sanitizer reports.
            if self.name == "ours":
                fd, self.stderr_path = tempfile.mkstemp(prefix="mc-ours-", suffix=".err")
                os.close(fd)
                errf = open(self.stderr_path, "wb")
            else:
                errf = open(os.devnull, "wb")
            self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL,
                                         stdout=subprocess.DEVNULL, stderr=errf)
            errf.close()
            _live.append(self)
            if self._wait_ready():
                return self
            last = self.proc.poll()
            self.kill()
        raise TestFailure("%s failed to start (%s, rc=%r)" % (self.name, self.binary, last))

    def _listening(self):
        """True once the port is in LISTEN state.  Uses /proc/net/tcp so no
        probe connection is made (it would skew connection stats);
        falls back to connecting where /proc is unavailable."""
        try:
            with open("/proc/net/tcp") as f:
                lines = f.read().splitlines()[1:]
        except OSError:
            try:
                socket.create_connection((HOST, self.port), timeout=0.5).close()
                return True
            except OSError:
                return False
        want = "%08X:%04X" % (0x0100007F, self.port)
        return any(ln.split()[1] == want and ln.split()[3] == "0A" for ln in lines)

    def _wait_ready(self):
        deadline = time.monotonic() + 5.0 * TIME_SCALE
        for _ in range(2000):
            if self.proc.poll() is not None:
                return False
            if self._listening():
                return True
            if time.monotonic() > deadline:
                return False
            time.sleep(0.005)
        return False

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def wait_exit(self, timeout=5.0):
        """Wait (bounded) for the process to exit; return rc or None."""
        try:
            return self.proc.wait(timeout=timeout * TIME_SCALE)
        except subprocess.TimeoutExpired:
            return None

    def terminate(self, timeout=5.0):
        """SIGTERM and wait; returns the exit code (None if it hung)."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(STOP_SIGNAL)
        return self.wait_exit(timeout)

    def kill(self):
        if self.proc is not None and self.proc.poll() is None and self.name == "ours":
            # Graceful stop first so LeakSanitizer gets to run at exit.
            try:
                self.proc.send_signal(STOP_SIGNAL)
                self.proc.wait(timeout=3 * TIME_SCALE)
            except (OSError, subprocess.TimeoutExpired):
                pass
        if self.proc is not None and self.proc.poll() is None:
            try:
                self.proc.kill()
            except OSError:
                pass
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
        if self in _live:
            _live.remove(self)
        self._check_sanitizers()

    def _check_sanitizers(self):
        path, self.stderr_path = self.stderr_path, None
        if not path:
            return
        try:
            with open(path, "rb") as f:
                err = f.read()
        finally:
            os.unlink(path)
        for marker in (b"ERROR: AddressSanitizer", b"ERROR: LeakSanitizer",
                       b"runtime error:", b"WARNING: ThreadSanitizer"):
            if marker in err:
                i = err.index(marker)
                raise TestFailure("sanitizer report from our server:\n" +
                                  err[max(0, i - 200):i + 3000].decode("latin1"))

    stop = kill

    def connect(self, timeout=None):
        return Conn(self.port, timeout)


@atexit.register
def _kill_all():
    for s in list(_live):
        s.kill()


class Conn:
    """A raw client connection: send bytes, read until a terminator."""

    def __init__(self, port, timeout=None):
        self.timeout = timeout or IO_TIMEOUT
        self.sock = socket.create_connection((HOST, port), timeout=self.timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""
        self.eof = False

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()

    def send(self, data):
        self.sock.sendall(data)

    def _fill(self, deadline):
        if self.eof:
            return False
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        self.sock.settimeout(remaining)
        try:
            chunk = self.sock.recv(1 << 20)
        except socket.timeout:
            return False
        except ConnectionResetError:
            self.eof = True
            return False
        if not chunk:
            self.eof = True
            return False
        self.buf += chunk
        return True

    def read_until(self, pred, timeout=None):
        """Read until pred(buffer) is true, EOF, or timeout; return and
        consume the buffer.  pred may be bytes (buffer endswith it), a
        compiled regex (searched at end) or a callable."""
        if isinstance(pred, bytes):
            term = pred
            pred = lambda b: b.endswith(term)
        elif hasattr(pred, "search"):
            rx = pred
            pred = lambda b: rx.search(b) is not None
        deadline = time.monotonic() + (timeout or self.timeout)
        for _ in range(100000):
            if pred(self.buf):
                break
            if not self._fill(deadline):
                break
        out, self.buf = self.buf, b""
        return out

    def read_exact_lines(self, n, timeout=None):
        return self.read_until(lambda b: b.count(b"\r\n") >= n, timeout)

    def request(self, data, term=b"\r\n", timeout=None):
        self.send(data)
        return self.read_until(term, timeout)

    def read_for(self, seconds):
        """Read whatever arrives within `seconds` (or until EOF)."""
        deadline = time.monotonic() + seconds * TIME_SCALE
        for _ in range(100000):
            if not self._fill(deadline):
                break
        out, self.buf = self.buf, b""
        return out

    def read_to_eof(self, timeout=None):
        deadline = time.monotonic() + (timeout or self.timeout)
        for _ in range(100000):
            if not self._fill(deadline):
                break
        out, self.buf = self.buf, b""
        return out

    def is_closed(self, timeout=2.0):
        """True if the peer has closed (EOF/RST) within timeout."""
        self.read_for(timeout) if not self.eof else None
        return self.eof


def built_with(macro):
    """True if config.h beside MC_BIN (the build directory) defines macro
    to a non-zero value, False if it does not; None without a config.h
    (a binary from elsewhere).  Tests of a feature that configure may
    leave out (configure.ac: the Linux-specific features, which
    --enable-portable turns off) check the fallback instead."""
    path = os.path.join(os.path.dirname(os.path.abspath(MC_BIN)), "config.h")
    try:
        with open(path) as f:
            text = f.read()
    except OSError:
        return None
    for line in text.splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[0] == "#define" and parts[1] == macro:
            return len(parts) < 3 or parts[2] != "0"
    return False


def rss_kb(pid):
    """Resident memory of process pid, KB (from /proc)."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def exchange(port, data, term=b"\r\n", timeout=10.0):
    """One fresh plaintext connection: send data, read until the reply ends
    with term (or the server closes, or timeout), close; the bytes read."""
    s = socket.create_connection((HOST, port), timeout=timeout * TIME_SCALE)
    s.sendall(data)
    buf = b""
    deadline = time.monotonic() + timeout * TIME_SCALE
    while not buf.endswith(term) and time.monotonic() < deadline:
        d = s.recv(1 << 20)
        if not d:
            break
        buf += d
    s.close()
    return buf


_DIST = "/usr/lib/python3/dist-packages"


def import_debian(name, package):
    """Import a client library from Debian's python3-* package (the test
    runner may be another Python, so Debian's dist-packages is added)."""
    if os.path.isdir(_DIST) and _DIST not in sys.path:
        sys.path.append(_DIST)
    try:
        return __import__(name)
    except ImportError as e:
        raise TestFailure("%s not importable (Debian package %s; scripts/deps.sh test): %s"
                          % (name, package, e))


def tool(name, package):
    """The path of a command-line tool, or a failure naming its package."""
    path = shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin")
    if path is None:
        raise TestFailure("%s not found (Debian package %s; scripts/deps.sh test)"
                          % (name, package))
    return path


SENTINEL = b"version\r\n"
_SENT_RX = re.compile(rb"VERSION [^\r\n]*\r\n\Z")


def transact(conn, data, timeout=None):
    """Send data followed by a `version` sentinel; return everything the
    server answered before the sentinel's reply.  If the server closed the
    connection, returns what it sent plus b"<EOF>".  If the sentinel never
    came back (out of sync / hang), returns what arrived plus b"<TIMEOUT>"."""
    try:
        conn.send(data + SENTINEL)
    except (BrokenPipeError, ConnectionResetError):
        pass
    out = conn.read_until(_SENT_RX, timeout)
    m = _SENT_RX.search(out)
    if m:
        return out[:m.start()]
    if conn.eof:
        return out + b"<EOF>"
    return out + b"<TIMEOUT>"


# ---- masking of legitimately varying fields -------------------------------

_VALUE_CAS_RX = re.compile(rb"^(VALUE \S+ \d+ \d+) \d+\r\n", re.M)
_STAT_RX = re.compile(rb"^STAT (\S+) ([^\r\n]*)\r\n", re.M)
VARYING_STATS = {
    b"pid", b"uptime", b"time", b"version", b"libevent", b"pointer_size",
    b"rusage_user", b"rusage_system", b"max_connections",
}


def mask_cas(data):
    return _VALUE_CAS_RX.sub(rb"\1 <CAS>\r\n", data)


def mask(data):
    data = mask_cas(data)
    data = re.sub(rb"^VERSION [^\r\n]+\r\n", b"VERSION <v>\r\n", data, flags=re.M)
    data = _STAT_RX.sub(lambda m: b"STAT " + m.group(1) + b" <v>\r\n"
                        if m.group(1) in VARYING_STATS else m.group(0), data)
    return data


def parse_stats(data):
    out = {}
    for m in _STAT_RX.finditer(data):
        out[m.group(1).decode()] = m.group(2).decode()
    return out


def stats(conn, sub=b""):
    cmd = b"stats" + (b" " + sub if sub else b"") + b"\r\n"
    raw = conn.request(cmd, b"END\r\n")
    check(raw.endswith(b"END\r\n"), "stats %r did not end with END: %r" % (sub, raw[-200:]))
    return parse_stats(raw), raw


# ---- server pairs and comparison --------------------------------------------

@contextlib.contextmanager
def server(args=(), binary=None, name="ours"):
    s = Server(binary or MC_BIN, args, name).start()
    try:
        yield s
    finally:
        s.kill()


@contextlib.contextmanager
def pair(args=(), ref_args=None):
    """Start ours and the reference side by side, each on its own port."""
    ours = Server(MC_BIN, args, "ours").start()
    try:
        ref = Server(REF_BIN, args if ref_args is None else ref_args, "reference").start()
        try:
            yield ours, ref
        finally:
            ref.kill()
    finally:
        ours.kill()


def run_both(fn, args=(), srv=None):
    """Run fn(server) against ours and the reference; return (ours, ref)."""
    if srv is None:
        with pair(args) as (o, r):
            return run_both(fn, srv=(o, r))
    # Run both sides concurrently (halves the wall time of sleeping tests).
    res = [None, None]
    err = [None, None]

    def side(i):
        try:
            res[i] = fn(srv[i])
        except BaseException as e:  # re-raised in the caller's thread
            err[i] = e
    t = threading.Thread(target=side, args=(1,), daemon=True)
    t.start()
    side(0)
    t.join(120 * TIME_SCALE)
    if t.is_alive():
        raise TestFailure("reference side of the test hung")
    for e in err:
        if e is not None:
            raise e
    return res[0], res[1]


def diff_msg(a, b, label="reply"):
    # Show where the two byte strings first differ.
    n = 0
    for n in range(min(len(a), len(b))):
        if a[n] != b[n]:
            break
    else:
        n = min(len(a), len(b))
    lo = max(0, n - 80)
    return ("%s differs at byte %d (ours %d bytes, reference %d bytes)\n"
            "  ours: ...%r\n  ref:  ...%r" % (label, n, len(a), len(b),
                                               a[lo:n + 120], b[lo:n + 120]))


def compare_fn(fn, args=(), srv=None, masker=mask):
    """fn(server) -> bytes transcript.  Asserts ours == reference after
    masking; returns the reference transcript (unmasked)."""
    o, r = run_both(fn, args, srv)
    mo, mr = masker(o), masker(r)
    if mo != mr:
        raise TestFailure(diff_msg(mo, mr))
    return r


def swallowed_1645(reply):
    """The one rule taken from memcached 1.6.45 for classic commands (a
    safety fix, doc/protocol.md): the data block of a storage command
    refused for a bad header with a valid length is swallowed, where
    1.6.18 runs it as a command (its "ERROR").  Applied to 1.6.18's reply
    to get the bytes we must send."""
    return reply.replace(b"CLIENT_ERROR bad command line format\r\nERROR\r\n",
                         b"CLIENT_ERROR bad command line format\r\n")


def compare(inputs, args=(), srv=None, masker=mask, timeout=None, ref_fix=None):
    """Send each chunk of `inputs` (bytes or list of bytes) on one fresh
    connection, each followed by a sync sentinel, and assert the byte
    replies of ours and the reference are identical.  Returns the list of
    reference replies (unmasked) so tests can also pin exact bytes.
    ref_fix(reply) turns a reference reply into the one we must send
    where we deliberately follow a newer memcached (swallowed_1645)."""
    if isinstance(inputs, bytes):
        inputs = [inputs]

    def fn(s):
        outs = []
        with s.connect() as c:
            for chunk in inputs:
                outs.append(transact(c, chunk, timeout))
                if c.eof:
                    break
        return outs

    o, r = run_both(fn, args, srv)
    if ref_fix is not None:
        r = [ref_fix(x) for x in r]
    for i, (a, b) in enumerate(zip(o, r)):
        ma, mb = masker(a), masker(b)
        if ma != mb:
            raise TestFailure(diff_msg(ma, mb, "reply to chunk %d %r" % (i, inputs[i][:60])))
    if len(o) != len(r):
        raise TestFailure("ours answered %d chunks, reference %d" % (len(o), len(r)))
    return r


def expect(srv_pair, inputs, want, masker=mask, **kw):
    """compare() and also pin the reference's exact (masked) bytes."""
    got = compare(inputs, srv=srv_pair, masker=masker, **kw)
    if isinstance(want, bytes):
        want = [want]
    got_m = [masker(g) for g in got]
    eq(got_m, want, "reference reply")
    return got


def expect_ours(srv_pair, inputs, want, timeout=None):
    """For documented deliberate differences (doc/protocol.md): send each
    chunk to OUR server only and assert the exact bytes."""
    if isinstance(inputs, bytes):
        inputs = [inputs]
    outs = []
    with srv_pair[0].connect() as c:
        for chunk in inputs:
            outs.append(transact(c, chunk, timeout))
            if c.eof:
                break
    eq([mask(g) for g in outs], want, "our reply")
    return outs
