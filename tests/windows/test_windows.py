"""What only the Windows build does, run against memcached.exe under Wine.

Started by tests/windows/run.sh (which sets MC_EXE, WINEPREFIX and the
harness variables), beside a subset of the integration suite that runs
unchanged against the .exe through tests/windows/mc-wine.sh.  Paths are
given to the server the Windows way: Wine's drive Z: is the Unix root, so
/tmp/x is Z:\\tmp\\x.
"""

import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))

from harness import HOST, TIME_SCALE, Server, check, eq, exchange, free_port  # noqa: E402

EXE = os.environ.get("MC_EXE", "")
WRAP = os.path.join(HERE, "mc-wine.sh")


def winpath(p):
    """A Unix path as the Windows program sees it (Wine's Z: drive)."""
    return "Z:" + os.path.abspath(p).replace("/", "\\")


def wine(*args, timeout=60):
    """Run a Windows program (memcached.exe or one of Wine's tools).
    Output goes through files, not pipes: a Wine helper process started
    on the way (services.exe, ...) would inherit a pipe and keep it open."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        p = subprocess.run(["wine"] + list(args), stdin=subprocess.DEVNULL, stdout=out,
                           stderr=err, timeout=timeout * TIME_SCALE)
        out.seek(0)
        err.seek(0)
        return subprocess.CompletedProcess(p.args, p.returncode, out.read(), err.read())


def exe_fails(args, want_rc=None):
    """memcached.exe with args must refuse to start: its stderr (text)."""
    r = wine(EXE, *args)
    check(r.returncode != 0, "%r started (rc 0)" % (args,))
    if want_rc is not None:
        eq(r.returncode, want_rc, "exit status for %r" % (args,))
    return r.stderr.decode("latin1").replace("\r\n", "\n")


def listening(port):
    want = "%08X:%04X" % (0x0100007F, port)
    with open("/proc/net/tcp") as f:
        return any(ln.split()[1] == want and ln.split()[3] == "0A"
                   for ln in f.read().splitlines()[1:])


def wait_for(pred, what, secs=20):
    deadline = time.monotonic() + secs * TIME_SCALE
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.1)
    check(False, "timed out waiting for " + what)


def test_unix_only_options_refused_clearly():
    err = exe_fails(["-d", "-p", str(free_port())])
    check("not available on Windows" in err and "--service install" in err, "-d: %r" % err)
    err = exe_fails(["-s", "/tmp/mc.sock"])
    check("unix sockets" in err and "not available on Windows" in err, "-s: %r" % err)
    err = exe_fails(["-u", "nobody", "-p", str(free_port())])
    check("-u nobody is not available on Windows" in err, "-u: %r" % err)
    err = exe_fails(["-r", "-p", str(free_port())])
    check("-r is not available on Windows" in err, "-r: %r" % err)


def test_service_usage_error():
    err = exe_fails(["--service", "bogus"], want_rc=64)
    check(err.startswith("usage: memcached --service install"), err)
    err = exe_fails(["--service", "run", "-p", "1"])
    check("sc.exe start memcached" in err, "run outside the service manager: %r" % err)


def test_config_file_windows_paths_snapshot_and_ctrl_c():
    """A config file and snapshot/log paths with drive letters and
    backslashes; Ctrl+C (SIGINT under Wine) stops gracefully, writing the
    shutdown snapshot; a restart serves the data again."""
    d = tempfile.mkdtemp(prefix="mc-win-")
    try:
        snap, log, conf = (os.path.join(d, n) for n in ("cache.snap", "mc.log", "mc.conf"))
        port = free_port()
        with open(conf, "w") as f:
            f.write("# written by test_windows.py\r\n"
                    "port = %d\r\nlisten = %s\r\nudp-port = 0\r\nmemory-limit = 32\r\n"
                    "snapshot_path = %s\r\nlogfile = %s\r\nverbose = 1\r\n"
                    % (port, HOST, winpath(snap), winpath(log)))
        big = bytes(range(256)) * 4096                     # 1 MB
        for rnd in range(2):
            p = subprocess.Popen(["wine", EXE, "--config=" + winpath(conf), "-I", "2m"],
                                 stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL)
            try:
                wait_for(lambda: listening(port), "the port")
                if rnd == 0:
                    r = exchange(port, b"set big 9 0 %d\r\n%s\r\nset k 1 0 5\r\nhello\r\n"
                                 % (len(big), big), term=b"STORED\r\nSTORED\r\n")
                    eq(r, b"STORED\r\nSTORED\r\n", "stores")
                else:
                    want = b"VALUE k 1 5\r\nhello\r\nVALUE big 9 %d\r\n%s\r\nEND\r\n" % (len(big), big)
                    eq(exchange(port, b"get k big\r\n", term=b"END\r\n"), want,
                       "data back after restart")
                p.send_signal(2)                            # Ctrl+C
                eq(p.wait(timeout=20 * TIME_SCALE), 0, "exit status after Ctrl+C")
            finally:
                if p.poll() is None:
                    p.kill()
                    p.wait()
            check(os.path.exists(snap), "snapshot written at the Windows path")
        with open(log, "rb") as f:
            text = f.read()
        for line in (b"shutting down", b"loaded 2 items"):
            check(line in text, "log file lacks %r:\n%r" % (line, text[-2000:]))
    finally:
        shutil.rmtree(d, ignore_errors=True)


def test_service_install_start_stop_uninstall():
    """The Service Control Manager (Wine's): install with arguments, start,
    serve, stop (graceful: the shutdown snapshot is written), uninstall."""
    d = tempfile.mkdtemp(prefix="mc-svc-")
    port = free_port()
    snap = os.path.join(d, "svc.snap")
    installed = False
    try:
        r = wine(EXE, "--service", "install", "-U", "0", "-l", HOST, "-p", str(port),
                 "-o", "snapshot_path=" + winpath(snap))
        eq(r.returncode, 0, "install: %r" % r.stderr)
        installed = True
        check(b"--service run -U 0" in r.stdout, "install prints its command line: %r" % r.stdout)
        r = wine(EXE, "--service", "install")
        check(r.returncode != 0 and b"already installed" in r.stderr, "second install refused")
        r = wine("sc", "start", "memcached")
        eq(r.returncode, 0, "sc start: %r" % r.stdout)
        wait_for(lambda: listening(port), "the service's port")
        eq(exchange(port, b"set svc 3 0 2\r\nok\r\n"), b"STORED\r\n", "the service serves")
        r = wine("sc", "stop", "memcached")
        eq(r.returncode, 0, "sc stop: %r" % r.stdout)
        wait_for(lambda: not listening(port), "the service to stop")
        wait_for(lambda: b"STOPPED" in wine("sc", "query", "memcached").stdout,
                 "SERVICE_STOPPED")
        check(os.path.exists(snap), "the stop wrote the shutdown snapshot")
        # the data is there for the next start (console mode here)
        s = Server(WRAP, ["-o", "snapshot_path=" + winpath(snap)], "ours").start()
        try:
            eq(exchange(s.port, b"get svc\r\n", term=b"END\r\n"), b"VALUE svc 3 2\r\nok\r\nEND\r\n",
               "served from the service's snapshot")
        finally:
            s.stop()
        r = wine(EXE, "--service", "uninstall")
        eq(r.returncode, 0, "uninstall: %r" % r.stderr)
        installed = False
        r = wine(EXE, "--service", "uninstall")
        check(r.returncode != 0 and b"not installed" in r.stderr, "second uninstall refused")
    finally:
        if installed:
            wine(EXE, "--service", "uninstall")
        shutil.rmtree(d, ignore_errors=True)
