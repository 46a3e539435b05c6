"""Listening: default address, several -l, host:port, IPv6, unix sockets
with -a, -p 0.  Our server only (the reference listens on all interfaces by
default; see doc/protocol.md)."""

import os
import re
import socket
import stat
import subprocess
import tempfile
import time

from harness import MC_BIN, TIME_SCALE, TestSkip, check, eq, free_port


def _start(args):
    cmd = [MC_BIN, "-U", "0"] + (["-u", "root"] if os.geteuid() == 0 else []) + args
    return subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)


def _stop(p):
    if p.poll() is None:
        p.terminate()
        try:
            p.wait(timeout=5 * TIME_SCALE)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(timeout=5)
    err = p.stderr.read() if p.stderr else b""
    check(b"Sanitizer" not in err and b"runtime error" not in err, err.decode("latin1")[-2000:])
    return p.returncode


def _talk(family, addr, data=b"set k 0 0 2\r\nhi\r\nget k\r\n", want=b"END\r\n"):
    deadline = time.monotonic() + 5 * TIME_SCALE
    last = None
    while time.monotonic() < deadline:
        try:
            s = socket.socket(family, socket.SOCK_STREAM)
            s.settimeout(2 * TIME_SCALE)
            s.connect(addr)
            break
        except OSError as e:
            last = e
            s.close()
            time.sleep(0.02)
    else:
        raise AssertionError("cannot connect to %r: %s" % (addr, last))
    with s:
        s.sendall(data)
        out = b""
        while not out.endswith(want):
            d = s.recv(4096)
            if not d:
                break
            out += d
        return out


def _tcp_listeners(port):
    """Local addresses in LISTEN state on port, from /proc/net/tcp{,6}."""
    found = []
    for path, width in (("/proc/net/tcp", 8), ("/proc/net/tcp6", 32)):
        try:
            with open(path) as f:
                for ln in f.read().splitlines()[1:]:
                    parts = ln.split()
                    addr, p = parts[1].split(":")
                    if int(p, 16) == port and parts[3] == "0A":
                        found.append(addr)
        except OSError:
            pass
    return found


def _wait_listening(port, n=1):
    for _ in range(500):
        if len(_tcp_listeners(port)) >= n:
            return
        time.sleep(0.01)


def test_default_listens_on_loopback_only():
    port = free_port()
    p = _start(["-p", str(port)])
    try:
        _wait_listening(port)
        eq(_talk(socket.AF_INET, ("127.0.0.1", port)),
           b"STORED\r\nVALUE k 0 2\r\nhi\r\nEND\r\n", "reply on 127.0.0.1")
        eq(sorted(_tcp_listeners(port)), ["0100007F"], "only 127.0.0.1 listens")
    finally:
        eq(_stop(p), 0, "exit code after SIGTERM")


def test_several_listen_addresses_and_host_port():
    port, port2 = free_port(), free_port()
    # a comma list, a second -l, and an address with its own port
    p = _start(["-p", str(port), "-l", "127.0.0.1,127.0.0.2", "-l", "127.0.0.3:%d" % port2])
    try:
        _wait_listening(port, 2)
        for host, pt in (("127.0.0.1", port), ("127.0.0.2", port), ("127.0.0.3", port2)):
            eq(_talk(socket.AF_INET, (host, pt)), b"STORED\r\nVALUE k 0 2\r\nhi\r\nEND\r\n",
               "reply on %s:%d" % (host, pt))
        eq(sorted(_tcp_listeners(port)), ["0100007F", "0200007F"], "listeners on port")
        eq(_tcp_listeners(port2), ["0300007F"], "listener on the explicit port")
    finally:
        eq(_stop(p), 0, "exit code")


def test_ipv6_loopback():
    if not socket.has_ipv6:
        raise TestSkip("no IPv6")
    try:
        probe = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        probe.bind(("::1", 0))
        probe.close()
    except OSError:
        raise TestSkip("::1 not configured")
    port = free_port()
    p = _start(["-p", str(port), "-l", "[::1]"])
    try:
        for _ in range(500):
            if _tcp_listeners(port):
                break
            time.sleep(0.01)
        eq(_talk(socket.AF_INET6, ("::1", port)), b"STORED\r\nVALUE k 0 2\r\nhi\r\nEND\r\n",
           "reply over IPv6")
        out = _talk(socket.AF_INET6, ("::1", port), b"stats conns\r\n")
        check(b"tcp6:[::1]:%d" % port in out, "stats conns names the v6 listener: %r" % out)
    finally:
        eq(_stop(p), 0, "exit code")


def test_unix_socket_with_mask():
    d = tempfile.mkdtemp(prefix="mc-unix-")
    path = os.path.join(d, "mc.sock")
    p = _start(["-s", path, "-a", "0660"])
    try:
        for _ in range(500):
            if os.path.exists(path):
                break
            time.sleep(0.01)
        check(os.path.exists(path), "socket file created")
        mode = stat.S_IMODE(os.stat(path).st_mode)
        eq(oct(mode), oct(0o660), "socket file mode from -a")
        eq(_talk(socket.AF_UNIX, path), b"STORED\r\nVALUE k 0 2\r\nhi\r\nEND\r\n",
           "reply over the unix socket")
        out = _talk(socket.AF_UNIX, path, b"stats conns\r\n")
        check(b"addr unix:" + path.encode() in out, "stats conns shows the unix listener: %r" % out)
    finally:
        eq(_stop(p), 0, "exit code")
        check(not os.path.exists(path), "socket file removed at exit")
        os.rmdir(d)


def test_bind_failure_is_reported():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(1)
    port = s.getsockname()[1]
    try:
        p = _start(["-p", str(port), "-l", "127.0.0.1"])
        try:
            rc = p.wait(timeout=5 * TIME_SCALE)
        except subprocess.TimeoutExpired:
            p.kill()
            raise AssertionError("server started on a port in use")
        err = p.stderr.read()
        check(rc != 0, "non-zero exit, got %r" % rc)
        check(b"bind to 127.0.0.1:%d failed: Address already in use" % port in err,
              "message names address and reason: %r" % err)
    finally:
        s.close()


def test_root_without_user_is_refused():
    # As memcached: running as root needs -u.  Also -h / -V / a bad value.
    if os.geteuid() != 0:
        raise TestSkip("needs root")
    port = free_port()
    p = subprocess.run([MC_BIN, "-U", "0", "-l", "127.0.0.1", "-p", str(port)],
                       stdin=subprocess.DEVNULL, capture_output=True, timeout=10 * TIME_SCALE)
    check(p.returncode != 0, "exit code %d" % p.returncode)
    eq(p.stderr.strip().splitlines()[-1], b"can't run as root without the -u switch", "message")
    eq(_tcp_listeners(port), [], "nothing listening")


def test_help_version_and_bad_values():
    p = subprocess.run([MC_BIN, "-h"], capture_output=True, timeout=10 * TIME_SCALE)
    eq(p.returncode, 0, "-h exit code")
    for flag in (b"-p, --port=<num>", b"-m, --memory-limit=<num>", b"-c, --conn-limit=<num>",
                 b"-t, --threads=<num>", b"-I, --max-item-size=<num>", b"-o, --extended"):
        check(flag in p.stdout, "-h lists %r" % flag)
    p = subprocess.run([MC_BIN, "-V"], capture_output=True, timeout=10 * TIME_SCALE)
    eq(p.returncode, 0, "-V exit code")
    check(re.fullmatch(rb"memcached 1\.6\.18-ng-\d+\.\d+\.\d+\n", p.stdout), "-V: %r" % p.stdout)
    p = subprocess.run([MC_BIN, "-m", "lots", "-u", "root"], capture_output=True,
                       timeout=10 * TIME_SCALE)
    check(p.returncode != 0, "bad -m refused")
    check(b"memory-limit" in p.stderr and b"lots" in p.stderr, "message names option and value: %r" % p.stderr)
