#!/usr/bin/env python3
"""Correctness self-test of the bench tooling (no timing thresholds).

1. mcload --selftest (histogram buckets, value generator).
2. mcload against a real server (REF_BIN, default /usr/bin/memcached; or --server):
   several workload shapes must finish with 0 errors, exit 0, hit rate 1.0
   after --warmup.
3. mcload against a deliberately broken in-process fake server must report
   errors and exit 1 for each kind of corruption.
4. The null server (build/bench/nullsrv, compare.py --ceiling) answers
   compare.py's text workload shapes with every value checked by mcload,
   and refuses what it cannot hold, so its ceiling is of real replies.

Usage: bench/selftest.py [--server BIN] [--mcload PATH] [--nullsrv PATH]
"""
import argparse
import json
import os
import socket
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib as bl  # noqa: E402


class FakeServer:
    """Speaks just enough of the text protocol; corrupts replies per mode."""

    def __init__(self, mode):
        self.mode = mode
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(128)
        self.port = self.sock.getsockname()[1]
        self.store = {}
        self.stopped = False
        threading.Thread(target=self._accept, daemon=True).start()

    def close(self):
        self.stopped = True
        self.sock.close()

    def _accept(self):
        while not self.stopped:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    def _serve(self, c):
        buf = b""
        m = self.mode
        try:
            while True:
                d = c.recv(65536)
                if not d:
                    return
                buf += d
                out = []
                while b"\r\n" in buf:
                    line, rest = buf.split(b"\r\n", 1)
                    w = line.split()
                    if w and w[0] == b"set":
                        n = int(w[4])
                        if len(rest) < n + 2:
                            break
                        self.store[w[1]] = (w[2], rest[:n])
                        buf = rest[n + 2:]
                        out.append(b"SERVER_ERROR out of memory\r\n" if m == "server_error"
                                   else b"STORED\r\n")
                        continue
                    buf = rest
                    if not w or w[0] != b"get":
                        out.append(b"ERROR\r\n")
                        continue
                    for k in w[1:]:
                        if k not in self.store:
                            continue
                        fl, v = self.store[k]
                        if m == "flipbyte":
                            v = v[:-1] + (b"A" if v[-1:] != b"A" else b"B")
                        elif m == "wrongkey":
                            k = k + b"9"
                        elif m == "wronglen":
                            v = v + b"x"
                        elif m == "badframe":
                            out.append(b"VALUE %s %s %d\r\n%s\r\nEN" % (k, fl, len(v), v))
                            break
                        elif m == "swapflags":
                            fl = b"%d" % ((int(fl) + 1) & 0xffffffff)
                        out.append(b"VALUE %s %s %d\r\n%s\r\n" % (k, fl, len(v), v))
                    out.append(b"END\r\n")
                if out:
                    c.sendall(b"".join(out))
        except OSError:
            return
        finally:
            c.close()


def run(mcload, port, extra, timeout=120):
    rc, out, err = bl.run_bounded([mcload, "--port", str(port), "--quiet"] + extra, timeout)
    try:
        res = json.loads(out.strip().splitlines()[-1])
    except (ValueError, IndexError):
        res = None
    return rc, res, err


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--server", default=bl.DEFAULT_REF, help="server binary to test against")
    ap.add_argument("--mcload", default=os.environ.get(
        "MCLOAD", os.path.join(bl.REPO, "build", "bench", "mcload")))
    ap.add_argument("--nullsrv", default=os.path.join(bl.REPO, "build", "bench", "nullsrv"))
    a = ap.parse_args()
    fails = []

    def check(name, cond, detail=""):
        print("%-60s %s" % (name, "ok" if cond else "FAIL " + detail), flush=True)
        if not cond:
            fails.append(name)

    rc, out, err = bl.run_bounded([a.mcload, "--selftest"], 60)
    check("mcload --selftest", rc == 0, out + err)

    srv = bl.start_server("selftest", a.server, 64, 4096, 1)
    try:
        shapes = [
            ("get/set 9:1 depth 1", ["-n", "20000", "-c", "10", "-k", "1000", "--key-prefix", "s1:"]),
            ("depth 16, 2 threads", ["-n", "20000", "-c", "8", "-t", "2", "-P", "16", "-k", "1000",
                                     "--key-prefix", "s2:"]),
            ("multiget 100, sizes 1-3000", ["-n", "2000", "-c", "4", "-P", "4", "-m", "100",
                                            "-v", "1-3000", "-k", "1000", "--key-prefix", "s3:"]),
            ("1:1, 100 KB values", ["-n", "500", "-c", "4", "-r", "1:1", "-v", "100000",
                                    "-k", "50", "--key-prefix", "s4:"]),
            ("idle conns", ["-n", "2000", "-c", "10", "-i", "200", "-k", "1000", "--key-prefix", "s5:"]),
            ("duration bound", ["-d", "1", "-c", "4", "-k", "1000", "--key-prefix", "s6:"]),
        ]
        for name, extra in shapes:
            rc, res, err = run(a.mcload, srv.port, extra + ["--warmup"])
            good = (rc == 0 and res is not None and res["errors"] == 0 and res["hit_rate"] == 1.0
                    and res["requests"] > 0)
            if good and "-n" in extra:
                good = res["requests"] == int(extra[extra.index("-n") + 1])
            if good and "-m" in extra:
                good = res["get_keys"] == res["gets"] * int(extra[extra.index("-m") + 1])
            check("real server: " + name, good, "rc=%s res=%s %s" % (rc, res, err[-300:]))
        # a second run with other value sizes but the same prefix must be flagged
        rc, res, err = run(a.mcload, srv.port, ["-n", "2000", "-c", "2", "-k", "1000",
                                                "--key-prefix", "s1:", "-v", "33", "-r", "1:0"])
        check("stale values of another size are flagged", rc == 1 and res and res["err_value"] > 0,
              "rc=%s res=%s" % (rc, res))
    finally:
        bl.stop(srv)

    for mode, field in (("none", None), ("flipbyte", "err_value"), ("wrongkey", "err_value"),
                        ("wronglen", "err_value"), ("badframe", "err_protocol"),
                        ("swapflags", "err_value"), ("server_error", "err_server")):
        fake = FakeServer(mode)
        try:
            rc, res, err = run(a.mcload, fake.port, ["-n", "500", "-c", "2", "-k", "20", "--warmup",
                                                     "--drain-timeout", "2"], 60)
        finally:
            fake.close()
        if field is None:
            check("fake server, honest", rc == 0 and res and res["errors"] == 0,
                  "rc=%s res=%s %s" % (rc, res, err[-300:]))
        else:
            check("fake server, %s -> %s" % (mode, field),
                  rc == 1 and res is not None and res[field] > 0,
                  "rc=%s res=%s %s" % (rc, res, err[-300:]))


    null = bl.start_server("nullsrv", a.nullsrv, 64, 4096, 1)
    try:
        for name, extra in (("depth 1, 50 conns", ["-n", "20000", "-c", "50", "-k", "5000"]),
                            ("depth 16", ["-n", "50000", "-c", "50", "-P", "16", "-k", "5000"]),
                            ("100-key multiget", ["-n", "2000", "-c", "50", "-m", "100",
                                                  "-k", "5000"]),
                            ("1 KB values 1:1", ["-n", "5000", "-c", "10", "-r", "1:1",
                                                 "-v", "1024", "-k", "500"])):
            rc, res, err = run(a.mcload, null.port, extra + ["--warmup", "--key-prefix", "n:"])
            check("null server: " + name,
                  rc == 0 and res is not None and res["errors"] == 0 and res["hit_rate"] == 1.0,
                  "rc=%s res=%s %s" % (rc, res, err[-300:]))
        with socket.create_connection(("127.0.0.1", null.port), timeout=10) as c:
            c.sendall(b"set big1 0 0 100000\r\n")
            check("null server: a value it cannot hold is refused",
                  c.recv(100).startswith(b"CLIENT_ERROR"))
    finally:
        bl.stop(null)

    print("\nselftest: %s" % ("FAILED: " + ", ".join(fails) if fails else "all ok"))
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
