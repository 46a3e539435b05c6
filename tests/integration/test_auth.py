"""ASCII authentication (-Y <authfile>), byte for byte against Debian's
memcached 1.6.18: the "set" that authenticates, the replies before and
after, binary and meta commands refused, counters, settings, start-up
errors; then what memcached does with the file on SIGHUP (re-read it, keep
the old credentials when the new file is broken), and -Y over TLS."""

import os
import signal
import socket
import tempfile
import time

from harness import (HOST, MC_BIN, REF_BIN, TIME_SCALE, Server, check, eq, free_port,
                     parse_stats)


def _authfile(text):
    fd, path = tempfile.mkstemp(prefix="mc-auth-", suffix=".txt")
    os.write(fd, text)
    os.close(fd)
    os.chmod(path, 0o600)
    return path


def _session(port, data, timeout=5.0):
    """Send data, shut our sending side, read everything until the server
    closes (it runs what it received, then closes: both servers)."""
    s = socket.create_connection((HOST, port), timeout=timeout * TIME_SCALE)
    s.sendall(data)
    s.shutdown(socket.SHUT_WR)
    buf = b""
    deadline = time.monotonic() + timeout * TIME_SCALE
    while time.monotonic() < deadline:
        try:
            d = s.recv(65536)
        except ConnectionResetError:
            break
        except socket.timeout:
            break
        if not d:
            break
        buf += d
    s.close()
    return buf


CASES = [
    b"get a\r\n",
    b"version\r\n",
    b"quit\r\n",
    b"stats\r\n",
    b"set x 0 0 12\r\nalice secret\r\n",
    b"set x 0 0 12\r\nalice secret\r\nget a\r\nset a 0 0 1\r\nz\r\nget a\r\n",
    b"set x 0 0 9\r\nalice bad\r\n",
    b"set x 0 0 12\r\nmallory evil\r\n",
    b"set x 0 0 5\r\nalice\r\n",
    b"set x 0 0 5\r\nbob  \r\n",
    b"set x 0 0 10\r\nbob pw2 zz\r\n",
    b"set x 0 0 7 noreply\r\nbob pw2\r\nget a\r\n",
    b"set k abc def 7\r\nbob pw2\r\nmn\r\n",
    b"set x 0 0 7\r\nbob pw2XX",
    b"set x 0 0 abc\r\n",
    b"set x 0 0\r\n",
    b"add x 0 0 12\r\nalice secret\r\n",
    b"mg a v\r\n",
    b"ms a 2\r\nhi\r\n",
    b"\x80\x0a\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00",
    b"garbage \x01\x02\r\n",
    b"set x 0 0 12\r\nalice secret\r\nset x 0 0 9\r\nalice bad\r\nget x\r\n",
]


def test_replies_match_reference():
    path = _authfile(b"alice:secret\nbob:pw2\n")
    try:
        ours = Server(MC_BIN, ["-Y", path], "ours").start()
        ref = Server(REF_BIN, ["-Y", path], "ref").start()
        for data in CASES:
            eq(_session(ours.port, data), _session(ref.port, data), "reply to %r" % data)
        # counters: 3 attempts, 2 failures on each side
        for srv in (ours, ref):
            _session(srv.port, b"set x 0 0 9\r\nalice bad\r\n")
        so = parse_stats(_session(ours.port, b"set x 0 0 7\r\nbob pw2\r\nstats\r\n"))
        sr = parse_stats(_session(ref.port, b"set x 0 0 7\r\nbob pw2\r\nstats\r\n"))
        for k in ("auth_cmds", "auth_errors"):
            eq(so[k], sr[k], k)
        set_o = _session(ours.port, b"set x 0 0 7\r\nbob pw2\r\nstats settings\r\n")
        set_r = _session(ref.port, b"set x 0 0 7\r\nbob pw2\r\nstats settings\r\n")
        for k in ("auth_enabled_ascii", "auth_enabled_sasl"):
            eq(parse_stats(set_o)[k], parse_stats(set_r)[k], k)
        eq(parse_stats(set_o)["auth_enabled_ascii"], path, "the file's path")
    finally:
        os.unlink(path)


def test_start_errors_match_reference():
    bad = _authfile(b"alice:secret\n\nbob:pw2\n")
    nocolon = _authfile(b"alice\n")
    try:
        for path in (bad, nocolon, "/nonexistent/authfile"):
            outs = []
            for b in (MC_BIN, REF_BIN):
                cmd = [b, "-U", "0", "-l", HOST, "-p", str(free_port()), "-Y", path]
                if os.geteuid() == 0:
                    cmd += ["-u", "root"]
                import subprocess
                r = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, timeout=20 * TIME_SCALE)
                outs.append((r.returncode, r.stderr.decode()[:40]))
            eq(outs[0], outs[1], "start with -Y %s" % path)
    finally:
        os.unlink(bad)
        os.unlink(nocolon)


def test_sighup_rereads_the_file_and_keeps_it_when_broken():
    path = _authfile(b"alice:secret\n")
    try:
        srv = Server(MC_BIN, ["-Y", path], "ours").start()
        eq(_session(srv.port, b"set x 0 0 12\r\nalice secret\r\n"), b"STORED\r\n", "alice")
        # a connection authenticated before the reload stays authenticated
        s = socket.create_connection((HOST, srv.port), timeout=5 * TIME_SCALE)
        s.sendall(b"set x 0 0 12\r\nalice secret\r\n")
        eq(s.recv(100), b"STORED\r\n", "long-lived connection")
        with open(path, "wb") as f:
            f.write(b"carol:x\n")
        os.kill(srv.proc.pid, signal.SIGHUP)
        deadline = time.monotonic() + 10 * TIME_SCALE
        while (_session(srv.port, b"set x 0 0 7\r\ncarol x\r\n") != b"STORED\r\n" and
               time.monotonic() < deadline):
            time.sleep(0.1)
        eq(_session(srv.port, b"set x 0 0 7\r\ncarol x\r\n"), b"STORED\r\n", "carol after SIGHUP")
        eq(_session(srv.port, b"set x 0 0 12\r\nalice secret\r\n"),
           b"CLIENT_ERROR authentication failure\r\n", "alice removed")
        s.sendall(b"get x\r\n")
        eq(s.recv(100), b"END\r\n", "the old connection goes on")
        s.close()
        with open(path, "wb") as f:
            f.write(b"no colon here\n")
        os.kill(srv.proc.pid, signal.SIGHUP)
        time.sleep(0.5)
        eq(_session(srv.port, b"set x 0 0 7\r\ncarol x\r\n"), b"STORED\r\n",
           "a broken file keeps the credentials loaded before")
        check(srv.alive(), "server alive")
    finally:
        os.unlink(path)


def test_auth_over_tls():
    import test_tls
    path = _authfile(b"alice:secret\n")
    try:
        srv = Server(MC_BIN, test_tls._tls_args() + ["-Y", path], "ours").start()
        c = test_tls.TConn(srv.port)
        eq(c.request(b"get a\r\n"), b"CLIENT_ERROR unauthenticated\r\n", "TLS, before auth")
        c.close()
        c = test_tls.TConn(srv.port)
        eq(c.request(b"set x 0 0 12\r\nalice secret\r\n"), b"STORED\r\n", "auth over TLS")
        eq(c.request(b"set a 0 0 1\r\nz\r\nget a\r\n", b"END\r\n"),
           b"STORED\r\nVALUE a 0 1\r\nz\r\nEND\r\n", "authenticated over TLS")
        c.close()
    finally:
        os.unlink(path)
