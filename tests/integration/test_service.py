"""Running as a service: SIGHUP reload, -d with a pid file, systemd's
readiness protocol, log file reopen, log levels, and the shipped unit
file and launchd plist (contrib/).
"""

import os
import plistlib
import re
import shutil
import signal
import socket
import subprocess
import time

import harness
from harness import TestFailure, TestSkip, check, eq, free_port, transact
from svc import (AS_ROOT, ROOT, Daemon, TempDir, kill_pid, listening, pid_alive,
                 read, scaled, settings, wait_for, write)

MB = 1 << 20


def _ask(port, data):
    with harness.Conn(port) as c:
        return transact(c, data)


# ---- SIGHUP -------------------------------------------------------------------

def test_sighup_changes_runtime_settings():
    """verbose and memory-limit change on SIGHUP (stats settings and the
    log say so); a non-runtime change is reported as needing a restart;
    the command line still wins over the re-read file."""
    port = free_port()
    with TempDir() as tmp:
        conf = os.path.join(tmp, "mc.conf")
        write(conf, "verbose = 0\nmemory-limit = 32\nthreads = 2\nconn-limit = 200\n")
        with Daemon(["--config=" + conf, "-p", str(port), "-l", "127.0.0.1", "-U", "0",
                     "-c", "300"], port) as d:
            st = settings(port)
            eq((st["verbosity"], st["maxbytes"], st["maxconns"]), ("0", str(32 * MB), "300"))
            write(conf, "verbose = 2\nmemory-limit = 48\nthreads = 3\nconn-limit = 100\n")
            d.signal(signal.SIGHUP)
            wait_for(lambda: settings(port)["verbosity"] == "2", what="verbosity 2")
            st = settings(port)
            eq((st["verbosity"], st["maxbytes"], st["num_threads"], st["maxconns"]),
               ("2", str(48 * MB), "2", "300"), "after SIGHUP (verbosity, maxbytes, threads, maxconns)")
            log = wait_for(lambda: "need a restart" in d.err() and d.err(), what="reload log")
            for want in ("NOTICE SIGHUP: re-read " + conf,
                         "NOTICE reload: verbose 0 -> 2",
                         "NOTICE reload: memory-limit 32 -> 48 MB",
                         "WARN reload: 1 setting(s) need a restart to change: threads"):
                check(want in log, "log lacks %r:\n%s" % (want, log))
            check("conn-limit" not in log, "command-line -c was overridden by the file:\n" + log)
            # the new level is in force: client commands are logged now
            eq(_ask(port, b"get after_hup\r\n"), b"END\r\n")
            wait_for(lambda: "get after_hup" in d.err(), what="-vv command log line")


def test_sighup_broken_file_keeps_settings():
    port = free_port()
    with TempDir() as tmp:
        conf = os.path.join(tmp, "mc.conf")
        write(conf, "verbose = 1\nmemory-limit = 32\n")
        with Daemon(["--config=" + conf, "-p", str(port), "-l", "127.0.0.1", "-U", "0"],
                    port) as d:
            before = settings(port)
            write(conf, "verbose = 2\nmemory-limit = 0x\n")
            d.signal(signal.SIGHUP)
            want = ('ERROR reload rejected, keeping the running settings: '
                    '%s:2: memory-limit: "0x" is not a size' % conf)
            wait_for(lambda: want in d.err(), what="rejection in the log:\n" + want)
            after = settings(port)
            eq(after, before, "stats settings after a rejected reload")
            # an unknown key is rejected the same way, and the server still works
            write(conf, "verbose = 2\nbogus_key = 1\n")
            d.signal(signal.SIGHUP)
            wait_for(lambda: "%s:2: bogus_key: unknown option" % conf in d.err(),
                     what="unknown-key rejection")
            eq(settings(port), before, "stats settings after the second rejected reload")
            eq(_ask(port, b"set k 0 0 1\r\nx\r\nget k\r\n"),
               b"STORED\r\nVALUE k 0 1\r\nx\r\nEND\r\n")
            check(d.alive(), "server died on a bad reload")


# ---- -d and the pid file ---------------------------------------------------

def test_daemonize_with_pidfile():
    """-d -P pidfile (relative path): the parent returns 0 once the daemon
    listens, the pid file holds the daemon's pid, the daemon answers and
    sits in /, and SIGTERM stops it and removes the pid file."""
    port = free_port()
    pid = None
    with TempDir() as tmp:
        try:
            p = subprocess.run([harness.MC_BIN] + AS_ROOT +
                               ["-d", "-P", "mc.pid", "-p", str(port), "-l", "127.0.0.1", "-U", "0"],
                               cwd=tmp, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, timeout=scaled(10))
            eq(p.returncode, 0, "exit code of `memcached -d` (stderr %r)" % p.stderr)
            pidfile = os.path.join(tmp, "mc.pid")
            # the parent waits for readiness: the file and the port are there now
            check(os.path.exists(pidfile), "no pid file when -d returned")
            text = read(pidfile)
            check(re.fullmatch(r"\d+\n", text), "pid file content %r" % text)
            pid = int(text)
            check(pid_alive(pid), "pid %d from the pid file is not running" % pid)
            check(listening(port), "not listening when -d returned")
            eq(_ask(port, b"set d 0 0 2\r\nhi\r\nget d\r\n"),
               b"STORED\r\nVALUE d 0 2\r\nhi\r\nEND\r\n")
            with harness.Conn(port) as c:
                eq(harness.stats(c)[0]["pid"], str(pid), "stats pid vs pid file")
            eq(os.readlink("/proc/%d/cwd" % pid), "/", "daemon cwd")
            os.kill(pid, signal.SIGTERM)
            wait_for(lambda: not pid_alive(pid), timeout=10, what="daemon exit")
            wait_for(lambda: not os.path.exists(pidfile), what="pid file removal")
            check(not listening(port), "still listening after SIGTERM")
        finally:
            kill_pid(pid)


def test_daemonize_reports_bind_failure():
    """With -d, a failure after the fork (port taken) still reaches the
    terminal and the exit code is non-zero."""
    blocker = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen(1)
        port = blocker.getsockname()[1]
        p = subprocess.run([harness.MC_BIN] + AS_ROOT +
                           ["-d", "-p", str(port), "-l", "127.0.0.1", "-U", "0"],
                           stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=scaled(10))
        check(p.returncode != 0, "memcached -d on a taken port exited 0")
        check(b"Address already in use" in p.stderr, "stderr: %r" % p.stderr)
    finally:
        blocker.close()


# ---- systemd readiness ------------------------------------------------------

def _notify_socket(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(path)
    s.settimeout(scaled(5))
    return s


def _recv(sock, timeout):
    sock.settimeout(timeout)
    try:
        return sock.recv(4096)
    except socket.timeout:
        return None


def test_notify_socket_ready_and_stopping():
    port = free_port()
    with TempDir() as tmp:
        path = os.path.join(tmp, "notify")
        sock = _notify_socket(path)
        try:
            d = Daemon(["-p", str(port), "-l", "127.0.0.1", "-U", "0"], port,
                       env={"NOTIFY_SOCKET": path}, wait=False).start()
            try:
                msg = _recv(sock, scaled(10))
                eq(msg, b"READY=1", "first notification")
                check(listening(port), "READY=1 sent before the port listens")
                eq(_ask(port, b"version\r\n")[:8], b"VERSION ", "answers after READY=1")
                # SIGHUP is not a state change; nothing else arrives
                d.signal(signal.SIGHUP)
                eq(_recv(sock, 0.3), None, "unexpected notification")
                d.signal(signal.SIGTERM)
                eq(_recv(sock, scaled(10)), b"STOPPING=1", "notification on SIGTERM")
                eq(d.wait_exit(10), 0, "exit code after SIGTERM")
            finally:
                d.kill()
        finally:
            sock.close()


def test_notify_socket_abstract_and_not_ready_on_failure():
    """Abstract-namespace "@name" sockets work; a server that fails to
    start never says READY=1.  A build without abstract sockets
    (--enable-portable, as on macOS) ignores "@name" and runs normally."""
    name = "mc-notify-test-%d-%d" % (os.getpid(), time.monotonic_ns())
    abstract = harness.built_with("HAVE_ABSTRACT_SOCKETS") is not False
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    try:
        sock.bind("\0" + name)
        port = free_port()
        with Daemon(["-p", str(port), "-l", "127.0.0.1", "-U", "0"], port,
                    env={"NOTIFY_SOCKET": "@" + name}) as d:
            if abstract:
                eq(_recv(sock, scaled(5)), b"READY=1", "READY=1 on an abstract socket")
            eq(_ask(port, b"version\r\n")[:8], b"VERSION ", "answers with an abstract NOTIFY_SOCKET")
            eq(d.terminate(), 0, "exit code after SIGTERM")
            if abstract:
                eq(_recv(sock, scaled(5)), b"STOPPING=1", "STOPPING=1 on an abstract socket")
            else:
                eq(_recv(sock, 0.3), None, "notification without abstract sockets")
        blocker = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            blocker.bind(("127.0.0.1", 0))
            blocker.listen(1)
            taken = blocker.getsockname()[1]
            d = Daemon(["-p", str(taken), "-l", "127.0.0.1", "-U", "0"], taken,
                       env={"NOTIFY_SOCKET": "@" + name}, wait=False).start()
            try:
                check(d.wait_exit(10) not in (0, None), "started on a taken port")
                eq(_recv(sock, 0.3), None, "notification from a failed start")
            finally:
                d.kill()
        finally:
            blocker.close()
    finally:
        sock.close()


# ---- log file -------------------------------------------------------------

def test_logfile_reopen_after_move():
    port = free_port()
    with TempDir() as tmp:
        log = os.path.join(tmp, "mc.log")
        with Daemon(["--logfile=" + log, "-vv", "-p", str(port), "-l", "127.0.0.1",
                     "-U", "0"], port) as d:
            eq(_ask(port, b"get before_move\r\n"), b"END\r\n")
            wait_for(lambda: "get before_move" in read(log), what="first log line")
            os.rename(log, log + ".1")
            eq(_ask(port, b"get while_moved\r\n"), b"END\r\n")
            d.signal(signal.SIGHUP)
            wait_for(lambda: os.path.exists(log), what="log file re-created on SIGHUP")
            eq(_ask(port, b"get after_reopen\r\n"), b"END\r\n")
            wait_for(lambda: "get after_reopen" in read(log), what="new line in the new file")
            new, old = read(log), read(log + ".1")
            check("SIGHUP: log reopened" in new, "new file:\n" + new)
            check("get before_move" in old and "get while_moved" in old, "old file:\n" + old)
            check("after_reopen" not in old and "before_move" not in new,
                  "lines in the wrong file:\nold:\n%s\nnew:\n%s" % (old, new))
            eq(d.err(), "", "stderr with a log file")
            # every line: ISO timestamp, level, message
            for line in new.splitlines() + old.splitlines():
                check(re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3} "
                               r"(ERROR|WARN|NOTICE|INFO|DEBUG|TRACE) \S", line),
                      "log line format: %r" % line)


def test_sighup_moves_logfile():
    """A changed `logfile` applies on SIGHUP: the old destination says
    where logging went, the new one picks up; back to stderr too.  A path
    that cannot be opened keeps the old destination."""
    port = free_port()
    with TempDir() as tmp:
        conf = os.path.join(tmp, "mc.conf")
        a, b = os.path.join(tmp, "a.log"), os.path.join(tmp, "b.log")
        write(conf, "logfile = a.log\nverbose = 2\n")
        with Daemon(["--config=mc.conf", "-p", str(port), "-l", "127.0.0.1", "-U", "0"],
                    port, cwd=tmp) as d:
            eq(_ask(port, b"get in_a\r\n"), b"END\r\n")
            write(conf, "logfile = b.log\nverbose = 2\n")
            d.signal(signal.SIGHUP)
            wait_for(lambda: "reload: logfile %s -> %s" % (a, b) in read(b), what="switch in b.log")
            eq(_ask(port, b"get in_b\r\n"), b"END\r\n")
            wait_for(lambda: "get in_b" in read(b), what="command in b.log")
            check("reload: logging to %s from now on" % b in read(a), "a.log:\n" + read(a))
            check("in_b" not in read(a) and "in_a" not in read(b), "lines in the wrong file")
            bad = os.path.join(tmp, "missing", "c.log")
            write(conf, "logfile = %s\nverbose = 2\n" % bad)
            d.signal(signal.SIGHUP)
            wait_for(lambda: "reload: cannot open log file %s" % bad in read(b),
                     what="open failure in b.log")
            write(conf, "verbose = 2\n")
            d.signal(signal.SIGHUP)
            wait_for(lambda: "reload: logfile %s -> stderr" % b in d.err(), what="switch to stderr")
            eq(_ask(port, b"get in_stderr\r\n"), b"END\r\n")
            wait_for(lambda: "get in_stderr" in d.err(), what="command on stderr")


def test_logfile_unwritable_refuses_start():
    port = free_port()
    with TempDir() as tmp:
        bad = os.path.join(tmp, "no", "such", "dir", "mc.log")
        from svc import run_fail
        rc, out, err = run_fail(["--logfile=" + bad, "-p", str(port), "-l", "127.0.0.1"])
        check(rc != 0, "started with an unwritable log file")
        check(err.startswith("failed to open log file %s: " % bad), "stderr %r" % err)


# ---- log levels -------------------------------------------------------------

def _levels_run(flags, payload=b"get lvl_key\r\n"):
    port = free_port()
    with Daemon(flags + ["-p", str(port), "-l", "127.0.0.1", "-U", "0"], port) as d:
        eq(_ask(port, payload), b"END\r\n")
        time.sleep(0.05)
        v = settings(port)["verbosity"]
        return d.err(), v


def test_log_levels():
    err0, v0 = _levels_run([])
    err1, v1 = _levels_run(["-v"])
    err2, v2 = _levels_run(["-vv"])
    err3, v3 = _levels_run(["-vvv"])
    eq((v0, v1, v2, v3), ("0", "1", "2", "3"), "stats settings verbosity")
    eq(err0, "", "stderr at -v0")
    check("INFO listening on tcp:127.0.0.1:" in err1 and "new client connection" in err1,
          "-v log:\n" + err1)
    check("get lvl_key" not in err1 and "DEBUG" not in err1, "-v logs commands:\n" + err1)
    check("DEBUG <" in err2 and "get lvl_key" in err2, "-vv lacks commands:\n" + err2)
    check("get lvl_key" in err3, "-vvv lacks commands:\n" + err3)


def test_verbosity_command_changes_logging():
    port = free_port()
    with Daemon(["-p", str(port), "-l", "127.0.0.1", "-U", "0"], port) as d:
        with harness.Conn(port) as c:
            eq(transact(c, b"get quiet_1\r\n"), b"END\r\n")
            eq(transact(c, b"verbosity 2\r\n"), b"OK\r\n")
            eq(transact(c, b"get loud_2\r\n"), b"END\r\n")
            eq(harness.stats(c, b"settings")[0]["verbosity"], "2", "verbosity after command")
            eq(transact(c, b"verbosity 0\r\n"), b"OK\r\n")
            eq(transact(c, b"get quiet_3\r\n"), b"END\r\n")
            eq(harness.stats(c, b"settings")[0]["verbosity"], "0", "verbosity after command")
        time.sleep(0.05)
        err = d.err()
    check("get loud_2" in err, "verbosity 2 did not log commands:\n" + err)
    check("quiet_1" not in err and "quiet_3" not in err, "logged at verbosity 0:\n" + err)


def test_verbosity_and_memlimit_in_stats_settings_match_reference(srv):
    """`verbosity N` and `cache_memlimit N` show in stats settings, as
    memcached 1.6.18 does."""
    def fn(s):
        with s.connect() as c:
            out = transact(c, b"verbosity 1\r\ncache_memlimit 100\r\n")
            st = harness.stats(c, b"settings")[0]
            transact(c, b"verbosity 0\r\n")
            return out + ("%s %s" % (st["verbosity"], st["maxbytes"])).encode()
    eq(harness.compare_fn(fn, srv=srv), b"OK\r\nOK\r\n1 %d" % (100 * MB))


# ---- contrib: systemd unit and launchd plist --------------------------------

UNIT = os.path.join(ROOT, "contrib", "memcached.service")
PLIST = os.path.join(ROOT, "contrib", "org.memcached.ng.plist")

# keys we accept per section (a subset of systemd.unit/service/exec/resource-control)
UNIT_KEYS = {
    "Unit": {"Description", "Documentation", "After", "Wants", "Before", "Requires"},
    "Service": {
        "Type", "ExecStart", "ExecReload", "Restart", "RestartSec", "TimeoutStopSec",
        "KillMode", "User", "Group", "DynamicUser", "Environment", "EnvironmentFile",
        "StateDirectory", "StateDirectoryMode", "LogsDirectory", "RuntimeDirectory",
        "NoNewPrivileges", "ProtectSystem", "ProtectHome", "PrivateTmp", "PrivateDevices",
        "ProtectKernelTunables", "ProtectKernelModules", "ProtectKernelLogs",
        "ProtectControlGroups", "ProtectClock", "ProtectHostname", "ProtectProc",
        "RestrictAddressFamilies", "RestrictNamespaces", "RestrictRealtime",
        "RestrictSUIDSGID", "MemoryDenyWriteExecute", "LockPersonality",
        "SystemCallArchitectures", "SystemCallFilter", "CapabilityBoundingSet",
        "AmbientCapabilities", "LimitNOFILE", "LimitMEMLOCK", "UMask", "NotifyAccess",
        "PrivateUsers", "RemoveIPC", "ReadWritePaths", "DevicePolicy"},
    "Install": {"WantedBy", "Alias"},
}


def _parse_unit(text):
    """Tiny systemd unit parser: {section: [(key, value)]}; raises on
    syntax errors (a key outside a section, a line without '=')."""
    out, section = {}, None
    for n, line in enumerate(text.splitlines(), 1):
        s = line.strip()
        if not s or s[0] in "#;":
            continue
        check(not s.endswith("\\"), "line %d: continuation lines not expected" % n)
        m = re.fullmatch(r"\[([A-Za-z]+)\]", s)
        if m:
            section = m.group(1)
            check(section not in out, "line %d: section [%s] twice" % (n, section))
            out[section] = []
            continue
        check(section is not None, "line %d: key outside a section" % n)
        k, eqs, v = s.partition("=")
        check(eqs and re.fullmatch(r"[A-Za-z]+", k.strip()), "line %d: not key=value: %r" % (n, s))
        out[section].append((k.strip(), v.strip()))
    return out


def test_systemd_unit_file():
    units = _parse_unit(open(UNIT).read())
    eq(sorted(units), ["Install", "Service", "Unit"], "sections")
    for sec, kvs in units.items():
        for k, _ in kvs:
            check(k in UNIT_KEYS[sec], "[%s] %s: not a key for that section" % (sec, k))
    svc = dict(units["Service"])
    want = {
        "Type": "notify", "ExecReload": "/bin/kill -HUP $MAINPID",
        "NoNewPrivileges": "yes", "ProtectSystem": "strict", "ProtectHome": "yes",
        "PrivateTmp": "yes", "PrivateDevices": "yes", "ProtectKernelTunables": "yes",
        "ProtectControlGroups": "yes", "RestrictAddressFamilies": "AF_INET AF_INET6 AF_UNIX",
        "MemoryDenyWriteExecute": "yes", "StateDirectory": "memcached",
    }
    eq({k: svc.get(k) for k in want}, want, "[Service] settings")
    check(re.fullmatch(r"/\S+/memcached --config=/etc/memcached.conf --daemon=no\b.*",
                       svc["ExecStart"]), "ExecStart %r" % svc["ExecStart"])
    eq(dict(units["Install"]).get("WantedBy"), "multi-user.target", "WantedBy")
    # the unit's ExecStart words parse as our options (no daemon started)
    words = svc["ExecStart"].split()[1:]
    with TempDir() as tmp:
        conf = write(os.path.join(tmp, "memcached.conf"), "memory-limit = 64\n")
        args = [a.replace("/etc/memcached.conf", conf) for a in words]
        p = subprocess.run([harness.MC_BIN] + args + ["--help"], stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=scaled(10))
        eq((p.returncode, p.stderr), (0, b""), "ExecStart options with --help")


def test_systemd_analyze_verify():
    tool = shutil.which("systemd-analyze")
    if tool is None:
        raise TestSkip("no systemd-analyze (the unit is still checked by test_systemd_unit_file)")
    with TempDir() as tmp:
        text = open(UNIT).read()
        # point ExecStart at the binary under test so "is executable" holds
        text = re.sub(r"^ExecStart=\S+", "ExecStart=" + harness.MC_BIN, text, flags=re.M)
        unit = write(os.path.join(tmp, "memcached.service"), text)
        p = subprocess.run([tool, "verify", unit], stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           timeout=scaled(30))
        out = p.stdout.decode("utf-8", "replace")
        # complaints about the unit itself name its file; the host's other units
        # (or a missing running systemd) are not ours to judge
        ours = [l for l in out.splitlines() if "memcached.service" in l]
        check(not ours, "systemd-analyze verify:\n" + out)
        # and the check has teeth: a misplaced key in a copy is reported
        bad = write(os.path.join(tmp, "broken-memcached.service"),
                    text.replace("[Install]", "[Install]\nProtectHome=yes"))
        p = subprocess.run([tool, "verify", bad], stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           timeout=scaled(30))
        out = p.stdout.decode("utf-8", "replace")
        check("broken-memcached.service" in out and "ProtectHome" in out,
              "systemd-analyze missed a misplaced key:\n" + out)


def test_launchd_plist():
    with open(PLIST, "rb") as f:
        pl = plistlib.load(f)
    eq(pl["Label"], "org.memcached.ng", "Label")
    args = pl["ProgramArguments"]
    check(args[0].endswith("/memcached"), "ProgramArguments[0] %r" % args[0])
    check(any(a.startswith("--config=") for a in args), "no --config in %r" % args)
    check("-d" not in args, "launchd jobs must not daemonize: %r" % args)
    eq((pl.get("RunAtLoad"), bool(pl.get("KeepAlive"))), (True, True), "RunAtLoad/KeepAlive")
