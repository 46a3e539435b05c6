#!/usr/bin/env python3
"""test_deb.py -- the memcached-ng Debian package in a clean Debian 12 root.

usage: test_deb.py --root DIR --base TAR --archives DIR --deb DEB --upgrade-deb DEB

Run by scripts/test-deb.sh (as root, inside a private mount namespace, so
the mounts made here vanish with it).  Steps, in order; the first failure
stops the run (each step needs the state the previous ones left):

  unpack      the cached base tarball (mmdebstrap minbase + logrotate) into DIR
  install     apt-get install ./DEB: user, directories, conffiles, unit, man page
  edit        a local edit of /etc/memcached-ng.conf (a free port, verbose = 1)
  start       the daemon as the unit starts it: as memcached-ng, umask 077,
              no capabilities, --config=/etc/memcached-ng.conf --daemon=no,
              READY=1 on $NOTIFY_SOCKET (systemd is not running in a chroot)
  serve       set/get/multiget, exact bytes
  logrotate   logrotate -f: the log moves, the daemon reopens it on SIGHUP
  snapshot    `snapshot` writes /var/lib/memcached-ng/cache.snapshot
  upgrade     apt-get install ./UPGRADE-DEB (a rebuild with a higher version)
              while the daemon runs: the edited conffile and the snapshot kept
  restart     as the unit's restart after an upgrade: SIGTERM, start the new
              binary, every key comes back from the snapshot
  remove      apt-get remove: binary gone; conffile, snapshot, user kept
  purge       dpkg --purge: conffiles, log and state directories gone; the
              system user and group kept (doc/service.md)

Prints PASS/FAIL per step and finally "N passed, N failed".
Python 3 standard library only; every wait is bounded.
"""

import argparse
import hashlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
sys.dont_write_bytecode = True

from harness import Conn, TestFailure, check, eq, free_port  # noqa: E402

PKG = "memcached-ng"
USER = "memcached-ng"
CONF = "/etc/memcached-ng.conf"
LOGROTATE = "/etc/logrotate.d/memcached-ng"
STATE_DIR = "/var/lib/memcached-ng"
LOG_DIR = "/var/log/memcached-ng"
LOG = LOG_DIR + "/memcached-ng.log"
SNAPSHOT = STATE_DIR + "/cache.snapshot"
PIDFILE = "/run/memcached-ng/memcached-ng.pid"
NOTIFY = "/run/test-deb-notify.sock"
UNIT = "/lib/systemd/system/memcached-ng.service"
ENV = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
       "LANG": "C.UTF-8", "HOME": "/root", "DEBIAN_FRONTEND": "noninteractive"}
NKEYS = 100


class Ctx:
    """What the steps share: paths, the port, the running daemon."""

    def __init__(self, args):
        self.root = os.path.abspath(args.root)
        self.base = args.base
        self.archives = os.path.abspath(args.archives)
        self.deb = os.path.abspath(args.deb)
        self.deb2 = os.path.abspath(args.upgrade_deb)
        self.version = pkg_field(self.deb, "Version")
        self.version2 = pkg_field(self.deb2, "Version")
        self.port = None
        self.proc = None            # the daemon (subprocess.Popen)
        self.notify = None          # our end of $NOTIFY_SOCKET
        self.nstart = 0
        self.edited = None          # bytes of the locally edited conffile
        self.snap_sha = None

    def path(self, p):
        """Host path of a path inside the root."""
        return os.path.join(self.root, p.lstrip("/"))


def run(argv, timeout=300, ok=(0,)):
    """Run argv (stdin /dev/null); return its stdout+stderr as text.
    An exit status outside `ok` fails the step with the output."""
    try:
        p = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=timeout, env=ENV)
    except subprocess.TimeoutExpired:
        raise TestFailure("%s: no exit within %ds" % (" ".join(argv), timeout))
    out = p.stdout.decode("utf-8", "replace")
    if p.returncode not in ok:
        raise TestFailure("%s: exit %d\n%s" % (" ".join(argv), p.returncode, out[-3000:]))
    return out


def pkg_field(deb, field):
    return run(["dpkg-deb", "-f", deb, field]).strip()


def chroot(ctx, *argv, **kw):
    return run(["chroot", ctx.root] + list(argv), **kw)


def dpkg_status(ctx):
    """'<Status> <Version>' of the package in the root, '' if unknown."""
    out = chroot(ctx, "dpkg-query", "-W", "-f", "${Status} ${Version}", PKG, ok=(0, 1))
    return "" if "no packages found" in out else out.strip()


def getent(ctx, db, name):
    """The fields of `name` in the root's /etc/passwd or /etc/group, or None."""
    with open(ctx.path("/etc/" + db)) as f:
        for line in f:
            fields = line.rstrip("\n").split(":")
            if fields[0] == name:
                return fields
    return None


def user_ids(ctx):
    pw = getent(ctx, "passwd", USER)
    check(pw is not None, "no user %s in /etc/passwd" % USER)
    return int(pw[2]), int(pw[3])


def read_bytes(path):
    with open(path, "rb") as f:
        return f.read()


def sha256(path):
    return hashlib.sha256(read_bytes(path)).hexdigest()


def check_owned(ctx, p, mode):
    """p exists in the root, belongs to the service user and has `mode`."""
    uid, gid = user_ids(ctx)
    try:
        st = os.stat(ctx.path(p))
    except FileNotFoundError:
        raise TestFailure("%s does not exist" % p)
    eq((st.st_uid, st.st_gid, oct(st.st_mode & 0o7777)), (uid, gid, oct(mode)),
       "%s owner, group, mode" % p)


def check_gone(ctx, *paths):
    for p in paths:
        check(not os.path.lexists(ctx.path(p)), "%s still exists" % p)


def wait_until(pred, what, timeout=10.0, step=0.05):
    for _ in range(int(timeout / step) + 1):
        v = pred()
        if v:
            return v
        time.sleep(step)
    raise TestFailure("timed out after %.0fs waiting for %s" % (timeout, what))


# --- the service, as memcached-ng.service would run it ---------------------

def notify_messages(ctx, until=None, timeout=30.0):
    """Datagrams on $NOTIFY_SOCKET until one contains `until` (then return
    all of them), the daemon exits, or `timeout`."""
    got = []
    deadline = time.monotonic() + timeout
    for _ in range(int(timeout * 10) + 1):
        ctx.notify.settimeout(0.1)
        try:
            got.append(ctx.notify.recv(4096).decode("utf-8", "replace"))
        except socket.timeout:
            pass
        if until is not None and any(until in m.split("\n") for m in got):
            return got
        if ctx.proc.poll() is not None or time.monotonic() > deadline:
            break
    return got


def daemon_log(ctx):
    try:
        return read_bytes(ctx.errfile).decode("utf-8", "replace")[-3000:]
    except OSError:
        return ""


def start(ctx):
    """Start the daemon the way the unit does (User=, UMask=0077,
    CapabilityBoundingSet=, NoNewPrivileges=, RuntimeDirectory=,
    Type=notify) and wait for READY=1.  Returns its pid."""
    uid, gid = user_ids(ctx)
    chroot(ctx, "install", "-d", "-o", USER, "-g", USER, "-m", "0755", "/run/memcached-ng")
    if ctx.notify is None:
        sock_path = ctx.path(NOTIFY)
        if os.path.lexists(sock_path):
            os.unlink(sock_path)
        ctx.notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        ctx.notify.bind(sock_path)
        os.chmod(sock_path, 0o777)      # the daemon sends as memcached-ng
    ctx.nstart += 1
    ctx.errfile = "%s.daemon-%d.stderr" % (ctx.root, ctx.nstart)
    env = dict(ENV, NOTIFY_SOCKET=NOTIFY)
    del env["DEBIAN_FRONTEND"]
    argv = ["chroot", ctx.root, "setpriv", "--reuid=%d" % uid, "--regid=%d" % gid,
            "--init-groups", "--no-new-privs", "--inh-caps=-all", "--bounding-set=-all",
            "/usr/bin/memcached-ng", "--config=" + CONF, "--daemon=no"]
    with open(ctx.errfile, "wb") as err:
        ctx.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=err, stderr=err,
                                    env=env, preexec_fn=lambda: os.umask(0o077))
    msgs = notify_messages(ctx, until="READY=1")
    check(any("READY=1" in m.split("\n") for m in msgs),
          "no READY=1 on $NOTIFY_SOCKET (got %r, exit %r):\n%s"
          % (msgs, ctx.proc.poll(), daemon_log(ctx)))
    return ctx.proc.pid


def stop(ctx):
    """SIGTERM, as `systemctl stop`; exit 0 within TimeoutStopSec (30 s)."""
    ctx.proc.send_signal(signal.SIGTERM)
    msgs = notify_messages(ctx, until="STOPPING=1", timeout=30.0)
    try:
        rc = ctx.proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        raise TestFailure("daemon still running 30 s after SIGTERM")
    eq(rc, 0, "exit status after SIGTERM (stderr: %s)" % daemon_log(ctx))
    check(any("STOPPING=1" in m.split("\n") for m in msgs), "no STOPPING=1 (got %r)" % msgs)
    ctx.proc = None
    check_gone(ctx, PIDFILE)
    # systemd removes the RuntimeDirectory= when the service stops.
    shutil.rmtree(ctx.path("/run/memcached-ng"))


def proc_ids(pid):
    """(real, effective, saved uid), (same for gid) of a host pid."""
    ids = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("Uid", "Gid", "CapEff", "CapBnd", "NoNewPrivs"):
                ids[k] = v.split()
    return ids


def keys_request():
    return b"get " + b" ".join(b"pkg:%d" % i for i in range(NKEYS)) + b"\r\n"


def keys_reply():
    out = b""
    for i in range(NKEYS):
        v = b"value %d of the package test" % i
        out += b"VALUE pkg:%d %d %d\r\n%s\r\n" % (i, i, len(v), v)
    return out + b"END\r\n"


# --- steps ------------------------------------------------------------------

def step_unpack(ctx):
    if os.path.lexists(ctx.root):
        shutil.rmtree(ctx.root)
    os.makedirs(ctx.root)
    run(["tar", "-xf", ctx.base, "-C", ctx.root, "--numeric-owner"], timeout=300)
    run(["mount", "-t", "proc", "proc", ctx.path("/proc")])
    os.makedirs(os.path.join(ctx.archives, "partial"), exist_ok=True)
    run(["mount", "--bind", ctx.archives, ctx.path("/var/cache/apt/archives")])
    shutil.copyfile("/etc/resolv.conf", ctx.path("/etc/resolv.conf"))
    for deb in (ctx.deb, ctx.deb2):
        shutil.copy(deb, ctx.path("/tmp/"))
    eq(dpkg_status(ctx), "", "package state before install")
    check(getent(ctx, "passwd", USER) is None, "user %s exists before install" % USER)


def step_install(ctx):
    chroot(ctx, "apt-get", "install", "-y", "-q", "--no-install-recommends",
           "/tmp/" + os.path.basename(ctx.deb), timeout=600)
    eq(dpkg_status(ctx), "install ok installed " + ctx.version, "package state")
    pw = getent(ctx, "passwd", USER)
    check(pw is not None, "no user %s" % USER)
    uid, gid = int(pw[2]), int(pw[3])
    check(100 <= uid < 1000, "uid %d is not a system uid" % uid)
    eq((pw[5], pw[6]), (STATE_DIR, "/usr/sbin/nologin"), "home and shell of " + USER)
    gr = getent(ctx, "group", USER)
    check(gr is not None and int(gr[2]) == gid, "group %s is not the user's group" % USER)
    check_owned(ctx, STATE_DIR, 0o750)
    check_owned(ctx, LOG_DIR, 0o750)
    # Every file under /etc is a conffile, with the md5 dpkg recorded.
    conffiles = {}
    for line in chroot(ctx, "dpkg-query", "-W", "-f", "${Conffiles}", PKG).splitlines():
        f = line.split()
        if f:
            conffiles[f[0]] = f[1]
    eq(sorted(conffiles), sorted([CONF, LOGROTATE]), "conffiles")
    for p, md5 in conffiles.items():
        eq(hashlib.md5(read_bytes(ctx.path(p))).hexdigest(), md5, "md5 of " + p)
    conf = read_bytes(ctx.path(CONF)).decode()
    for line in ("user = memcached-ng", "port = 11211", "listen = 127.0.0.1",
                 "snapshot_path = " + SNAPSHOT, "logfile = " + LOG, "pidfile = " + PIDFILE):
        check(line in conf.split("\n"), "%s lacks the line %r" % (CONF, line))
    unit = read_bytes(ctx.path(UNIT)).decode()
    for line in ("Type=notify", "User=memcached-ng",
                 "ExecStart=/usr/bin/memcached-ng --config=/etc/memcached-ng.conf --daemon=no",
                 "StateDirectory=memcached-ng", "LogsDirectory=memcached-ng",
                 "RuntimeDirectory=memcached-ng", "ProtectSystem=strict", "NoNewPrivileges=yes"):
        check(line in unit.split("\n"), "%s lacks the line %r" % (UNIT, line))
    check(os.path.exists(ctx.path("/usr/share/man/man1/memcached-ng.1.gz")), "no man page")
    wants = ctx.path("/etc/systemd/system/multi-user.target.wants/memcached-ng.service")
    eq(os.readlink(wants) if os.path.islink(wants) else None, UNIT, "the unit's enable link")
    # Beside Debian's memcached: none of its names taken.
    check_gone(ctx, "/usr/bin/memcached", "/etc/memcached.conf",
               "/lib/systemd/system/memcached.service")
    eq(chroot(ctx, "memcached-ng", "--version"), "memcached 1.6.18-ng-%s\n"
       % ctx.version.split("+")[0], "memcached-ng --version")


def step_edit(ctx):
    conf = read_bytes(ctx.path(CONF))
    ctx.port = free_port()
    edited = conf.replace(b"\nport = 11211\n", b"\nport = %d\n" % ctx.port, 1)
    edited = edited.replace(b"\nverbose = 0\n", b"\nverbose = 1\n", 1)
    edited += b"# local edit by tests/deb/test_deb.py\n"
    check(edited.count(b"\nport = %d\n" % ctx.port) == 1 and b"\nverbose = 1\n" in edited,
          "port/verbose lines not found in " + CONF)
    with open(ctx.path(CONF), "wb") as f:
        f.write(edited)
    ctx.edited = edited


def step_start(ctx):
    pid = start(ctx)
    uid, gid = user_ids(ctx)
    ids = proc_ids(pid)
    eq(ids["Uid"], [str(uid)] * 4, "daemon uids (real, effective, saved, fs)")
    eq(ids["Gid"], [str(gid)] * 4, "daemon gids")
    eq(int(ids["CapEff"][0], 16), 0, "effective capabilities")
    eq(int(ids["CapBnd"][0], 16), 0, "bounding set")
    eq(read_bytes(ctx.path(PIDFILE)).strip(), str(pid).encode(), "pid file")
    wait_until(lambda: os.path.exists(ctx.path(LOG)), LOG)
    check_owned(ctx, LOG, 0o600)


def step_serve(ctx):
    with Conn(ctx.port) as c:
        eq(c.request(b"set pkg:hello 5 0 11\r\nhello world\r\n"), b"STORED\r\n", "set")
        eq(c.request(b"get pkg:hello\r\n", b"END\r\n"),
           b"VALUE pkg:hello 5 11\r\nhello world\r\nEND\r\n", "get")
        batch = b""
        for i in range(NKEYS):
            v = b"value %d of the package test" % i
            batch += b"set pkg:%d %d 0 %d\r\n%s\r\n" % (i, i, len(v), v)
        eq(c.request(batch, lambda b: b.count(b"\r\n") >= NKEYS), b"STORED\r\n" * NKEYS,
           "%d pipelined sets" % NKEYS)
        eq(c.request(keys_request(), b"END\r\n"), keys_reply(), "multiget")
        eq(c.request(b"version\r\n"), b"VERSION 1.6.18-ng-%s\r\n"
           % ctx.version.split("+")[0].encode(), "version")


def step_logrotate(ctx):
    chroot(ctx, "logrotate", "-f", LOGROTATE)
    rotated = LOG + ".1"
    check(os.path.exists(ctx.path(rotated)), "logrotate left no " + rotated)
    check(b"connection" in read_bytes(ctx.path(rotated)), rotated + " lacks the -v connection lines")

    def reopened():
        # The postrotate SIGHUP makes the daemon reopen LOG; a connection
        # then writes a line (verbose = 1).
        with Conn(ctx.port) as c:
            eq(c.request(b"get pkg:hello\r\n", b"END\r\n"),
               b"VALUE pkg:hello 5 11\r\nhello world\r\nEND\r\n", "get after logrotate")
        p = ctx.path(LOG)
        return os.path.exists(p) and os.path.getsize(p) > 0
    wait_until(reopened, "the daemon to reopen " + LOG, step=0.2)
    check_owned(ctx, LOG, 0o600)
    check(ctx.proc.poll() is None, "the daemon exited after logrotate")


def step_snapshot(ctx):
    with Conn(ctx.port) as c:
        eq(c.request(b"snapshot\r\n", timeout=60), b"OK\r\n", "snapshot")
    check_owned(ctx, SNAPSHOT, 0o600)
    ctx.snap_sha = sha256(ctx.path(SNAPSHOT))


def step_upgrade(ctx):
    uid_before = user_ids(ctx)
    old_pid = ctx.proc.pid
    chroot(ctx, "apt-get", "install", "-y", "-q", "--no-install-recommends",
           "/tmp/" + os.path.basename(ctx.deb2), timeout=600)
    eq(dpkg_status(ctx), "install ok installed " + ctx.version2, "package state after upgrade")
    eq(read_bytes(ctx.path(CONF)), ctx.edited, CONF + " after upgrade (the local edit)")
    leftovers = [f for f in os.listdir(ctx.path("/etc")) if ".dpkg-" in f or ".ucf-" in f]
    eq(leftovers, [], "conffile leftovers in /etc")
    eq(sha256(ctx.path(SNAPSHOT)), ctx.snap_sha, "snapshot after upgrade")
    check_owned(ctx, SNAPSHOT, 0o600)
    eq(user_ids(ctx), uid_before, "uid/gid of %s after upgrade" % USER)
    check_owned(ctx, STATE_DIR, 0o750)
    check_owned(ctx, LOG_DIR, 0o750)
    check(os.readlink("/proc/%d/exe" % old_pid).endswith(" (deleted)"),
          "the running daemon's binary was not replaced by the upgrade")


def step_restart(ctx):
    stop(ctx)
    pid = start(ctx)
    exe = os.readlink("/proc/%d/exe" % pid)
    eq(exe, ctx.path("/usr/bin/memcached-ng"), "binary of the restarted daemon")
    with Conn(ctx.port) as c:
        eq(c.request(keys_request(), b"END\r\n"), keys_reply(), "multiget after the upgrade")
        eq(c.request(b"get pkg:hello\r\n", b"END\r\n"),
           b"VALUE pkg:hello 5 11\r\nhello world\r\nEND\r\n", "get after the upgrade")


def step_remove(ctx):
    stop(ctx)       # the unit's prerm stops it (under systemd)
    chroot(ctx, "apt-get", "remove", "-y", "-q", PKG, timeout=300)
    eq(dpkg_status(ctx), "deinstall ok config-files " + ctx.version2, "package state after remove")
    check_gone(ctx, "/usr/bin/memcached-ng", UNIT)
    eq(read_bytes(ctx.path(CONF)), ctx.edited, CONF + " after remove")
    check(os.path.exists(ctx.path(LOGROTATE)), LOGROTATE + " removed before purge")
    check_owned(ctx, SNAPSHOT, 0o600)
    check(getent(ctx, "passwd", USER) is not None, "user removed by remove")


def step_purge(ctx):
    uid, gid = user_ids(ctx)
    chroot(ctx, "dpkg", "--purge", PKG, timeout=300)
    eq(dpkg_status(ctx), "", "package state after purge")
    check_gone(ctx, CONF, LOGROTATE, STATE_DIR, LOG_DIR,
               "/etc/systemd/system/multi-user.target.wants/memcached-ng.service")
    leftovers = [f for f in os.listdir(ctx.path("/etc")) if f.startswith("memcached-ng")]
    eq(leftovers, [], "files left in /etc")
    # Debian keeps system users on purge (doc/service.md).
    eq(user_ids(ctx), (uid, gid), "uid/gid of the kept user " + USER)
    check(getent(ctx, "group", USER) is not None, "group removed")
    owned = run(["find", ctx.root, "-xdev", "(", "-uid", str(uid), "-o", "-gid", str(gid), ")",
                 "-print"], timeout=120).split()
    eq(owned, [], "files still owned by %s after purge" % USER)


STEPS = [("unpack", step_unpack), ("install", step_install), ("edit", step_edit),
         ("start", step_start), ("serve", step_serve), ("logrotate", step_logrotate),
         ("snapshot", step_snapshot), ("upgrade", step_upgrade), ("restart", step_restart),
         ("remove", step_remove), ("purge", step_purge)]


def cleanup(ctx, ok):
    if ctx.proc is not None and ctx.proc.poll() is None:
        ctx.proc.kill()
        ctx.proc.wait(timeout=10)
    if ctx.notify is not None:
        ctx.notify.close()
    for m in ("/var/cache/apt/archives", "/proc"):
        subprocess.run(["umount", ctx.path(m)], stderr=subprocess.DEVNULL, timeout=60)
    if ok:
        shutil.rmtree(ctx.root, ignore_errors=True)
    else:
        print("test_deb.py: the root is left in %s for a look" % ctx.root)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--root", required=True)
    ap.add_argument("--base", required=True)
    ap.add_argument("--archives", required=True)
    ap.add_argument("--deb", required=True)
    ap.add_argument("--upgrade-deb", required=True)
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("test_deb.py: needs root (chroot, mount)")
        print("0 passed, 1 failed")
        return 1
    ctx = Ctx(args)
    # test-deb.sh's `timeout` sends SIGTERM: still stop the daemon.
    signal.signal(signal.SIGTERM, lambda *a: sys.exit("test_deb.py: SIGTERM"))
    passed = failed = 0
    t0 = time.monotonic()
    try:
        for name, fn in STEPS:
            t = time.monotonic()
            try:
                fn(ctx)
            except (TestFailure, OSError, subprocess.SubprocessError, SystemExit) as e:
                failed += 1
                print("FAIL %s (%.1fs): %s" % (name, time.monotonic() - t, e), flush=True)
                break
            passed += 1
            print("PASS %s (%.1fs)" % (name, time.monotonic() - t), flush=True)
    finally:
        cleanup(ctx, failed == 0)
    print("test_deb.py: %.1fs" % (time.monotonic() - t0))
    print("%d passed, %d failed" % (passed, failed))
    return 0 if failed == 0 and passed == len(STEPS) else 1


if __name__ == "__main__":
    sys.exit(main())
