"""Shared helpers for the bench scripts (stdlib only).

Starting/stopping memcached-compatible servers on free loopback ports, a tiny
text-protocol client, and process cleanup that also runs on failure/signals.
"""
import atexit
import os
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_OURS = os.environ.get("OURS_BIN", os.path.join(REPO, "build", "memcached"))
DEFAULT_REF = os.environ.get("REF_BIN", "/usr/bin/memcached")

_children = []


def _cleanup():
    for p in list(_children):
        stop(p)


def _on_signal(signum, frame):
    _cleanup()
    sys.stderr.write("interrupted (signal %d), servers stopped\n" % signum)
    os._exit(130)


atexit.register(_cleanup)
signal.signal(signal.SIGTERM, _on_signal)
signal.signal(signal.SIGINT, _on_signal)
signal.signal(signal.SIGHUP, _on_signal)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def can_pin():
    try:
        aff = os.sched_getaffinity(0)
    except AttributeError:
        return False
    return {0, 1} <= aff and shutil_which("taskset") is not None


def shutil_which(name):
    import shutil
    return shutil.which(name)


class Server:
    def __init__(self, name, binary, args, port, proc):
        self.name, self.binary, self.args, self.port, self.proc = name, binary, args, port, proc

    @property
    def pid(self):
        return self.proc.pid

    def alive(self):
        return self.proc.poll() is None


def start_server(name, binary, mem_mb=1024, conns=4096, threads=1, extra=(), cpu=None,
                 timeout=10.0):
    """Start binary on a free 127.0.0.1 port; wait until it answers `version`.

    Retries a few ports if the chosen one is taken between probe and bind.
    Raises RuntimeError with the server's stderr if it will not come up.
    """
    if not (os.path.isfile(binary) and os.access(binary, os.X_OK)):
        raise RuntimeError("%s: server binary %s not found or not executable" % (name, binary))
    last_err = ""
    for _attempt in range(3):
        port = free_port()
        args = [binary, "-l", "127.0.0.1", "-p", str(port), "-U", "0", "-m", str(mem_mb),
                "-c", str(conns), "-t", str(threads)]
        if os.geteuid() == 0:
            args += ["-u", "root"]
        args += list(extra)
        cmd = (["taskset", "-c", str(cpu)] if cpu is not None else []) + args
        errf = tempfile.TemporaryFile(mode="w+")
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=errf, stderr=errf,
                                start_new_session=True)
        _children.append(proc)
        srv = Server(name, binary, args, port, proc)
        deadline = time.time() + timeout
        while time.time() < deadline:
            if proc.poll() is not None:
                break
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                    if "-Z" in args:        # TLS: no certificate check, a bench
                        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
                        ctx.check_hostname = False
                        ctx.verify_mode = ssl.CERT_NONE
                        s = ctx.wrap_socket(s)
                    s.sendall(b"version\r\n")
                    if s.recv(100).startswith(b"VERSION"):
                        errf.close()
                        return srv
            except OSError:
                pass
            time.sleep(0.05)
        stop(srv)
        errf.seek(0)
        last_err = errf.read()[-2000:]
        errf.close()
        if "Address already in use" not in last_err:
            break
    raise RuntimeError("%s: server %s did not start (%s)\nstderr: %s"
                       % (name, binary, " ".join(args), last_err.strip()))


def stop(srv):
    proc = srv.proc if isinstance(srv, Server) else srv
    if proc.poll() is None:
        try:
            proc.terminate()
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
        except ProcessLookupError:
            pass
    if proc in _children:
        _children.remove(proc)


class Client:
    """Minimal blocking text-protocol client.  Replies are read from a
    buffer with a moving start (compacted past 1 MB), so long pipelined
    replies cost no quadratic copying."""

    def __init__(self, port, host="127.0.0.1", timeout=30.0):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = bytearray()
        self.pos = 0

    def close(self):
        self.sock.close()

    def send(self, data):
        self.sock.sendall(data)

    def _fill(self):
        if self.pos > (1 << 20):
            del self.buf[:self.pos]
            self.pos = 0
        d = self.sock.recv(1 << 20)
        if not d:
            raise RuntimeError("server closed connection")
        self.buf += d

    def line(self):
        while True:
            i = self.buf.find(b"\r\n", self.pos)
            if i >= 0:
                ln = bytes(self.buf[self.pos:i])
                self.pos = i + 2
                return ln
            self._fill()

    def exact(self, n):
        while len(self.buf) - self.pos < n:
            self._fill()
        d = bytes(self.buf[self.pos:self.pos + n])
        self.pos += n
        return d

    def block(self, n):
        """A data block of n bytes and its CRLF (checked)."""
        d = self.exact(n + 2)
        if d[-2:] != b"\r\n":
            raise RuntimeError("data block not ended by CRLF")
        return d[:-2]

    def stats(self, sub=""):
        self.send(("stats %s\r\n" % sub).strip().encode() + b"\r\n")
        out = {}
        for _ in range(100000):
            ln = self.line()
            if ln == b"END":
                return out
            parts = ln.decode().split(" ", 2)
            if parts[0] != "STAT":
                raise RuntimeError("bad stats line %r" % ln)
            out[parts[1]] = parts[2] if len(parts) > 2 else ""
        raise RuntimeError("stats reply too long")

    def multiget(self, keys):
        """Return {key: value} for the keys the server still holds."""
        self.send(b"get " + b" ".join(keys) + b"\r\n")
        got = {}
        while True:
            ln = self.line()
            if ln == b"END":
                return got
            if not ln.startswith(b"VALUE "):
                raise RuntimeError("bad get reply %r" % ln[:100])
            _, k, _flags, n = ln.split(b" ")[:4]
            data = self.exact(int(n) + 2)
            if data[-2:] != b"\r\n":
                raise RuntimeError("bad data block for %r" % k)
            got[k] = data[:-2]


def run_bounded(cmd, timeout):
    """Run cmd (tracked for cleanup), return (rc, stdout, stderr); kill on timeout."""
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    _children.append(proc)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        err += "\n[killed after %.0f s timeout]" % timeout
        return 124, out, err
    finally:
        if proc in _children:
            _children.remove(proc)
    return proc.returncode, out, err


CLK_TCK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid):
    """user+system CPU seconds used so far by process pid (all threads)."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for ln in f:
            if ln.startswith("VmRSS:"):
                return int(ln.split()[1])
    return 0


def key16(i):
    """16-byte key for item i (i < 10**14)."""
    return b"k%015d" % i


def value_for(i, size):
    """Deterministic value bytes for item i, so a read-back can be verified."""
    seed = b"%015d|" % i
    return (seed * (size // len(seed) + 1))[:size]


def fill_noreply(port, first, count, size, chunk=20000, key=key16):
    """Pipelined `set <key> 0 0 <size> noreply` for items [first, first+count).

    Ends with a `version` round trip so every set has been processed.
    Returns the number of sets sent.
    """
    c = Client(port, timeout=120)
    try:
        hdr_tail = b" 0 0 %d noreply\r\n" % size
        i = first
        end = first + count
        while i < end:
            j = min(end, i + chunk)
            c.send(b"".join(b"set " + key(n) + hdr_tail + value_for(n, size) + b"\r\n"
                            for n in range(i, j)))
            i = j
        c.send(b"version\r\n")
        ln = c.line()
        if not ln.startswith(b"VERSION"):
            raise RuntimeError("unexpected reply after fill: %r" % ln[:200])
    finally:
        c.close()
    return count


def count_retrievable(port, first, count, size, batch=100, sample_every=1, key=key16,
                      window=50):
    """Multiget every sample_every-th item; return (present_and_correct, wrong, checked).

    Requests are pipelined `window` multigets deep.  A value that is present
    but not the bytes written counts as wrong.
    """
    c = Client(port, timeout=120)
    ids = range(first, first + count, sample_every)
    batches = [ids[k:k + batch] for k in range(0, len(ids), batch)]
    ok = wrong = 0
    try:
        for w in range(0, len(batches), window):
            group = batches[w:w + window]
            c.send(b"".join(b"get " + b" ".join(key(n) for n in b_) + b"\r\n" for b_ in group))
            for b_ in group:
                got = _read_get(c)
                for n in b_:
                    v = got.get(key(n))
                    if v is None:
                        continue
                    if v == value_for(n, size):
                        ok += 1
                    else:
                        wrong += 1
                if len(got) > len(b_):
                    wrong += len(got) - len(b_)
    finally:
        c.close()
    return ok, wrong, len(ids)


def _read_get(c):
    got = {}
    while True:
        ln = c.line()
        if ln == b"END":
            return got
        if not ln.startswith(b"VALUE "):
            raise RuntimeError("bad get reply %r" % ln[:100])
        parts = ln.split(b" ")
        data = c.exact(int(parts[3]) + 2)
        if data[-2:] != b"\r\n":
            raise RuntimeError("bad data block for %r" % parts[1])
        got[parts[1]] = data[:-2]
