"""Helpers for the configuration and service tests (test_config.py,
test_service.py): start our daemon with exactly the arguments and
environment a test chooses (no implied -p/-l), poll files and logs with
bounded waits, run a start that must fail.

Only our server is started here; the reference is not involved.
"""

import os
import shutil
import signal
import subprocess
import tempfile
import time

import harness
from harness import TestFailure, check

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EXAMPLE_CONF = os.path.join(ROOT, "memcached.conf.example")
AS_ROOT = ["-u", "root"] if os.geteuid() == 0 else []
T = harness.TIME_SCALE


def scaled(secs):
    return secs * T


class TempDir:
    """A temp dir removed on exit, whatever happened."""

    def __enter__(self):
        self.path = tempfile.mkdtemp(prefix="mc-svc-")
        return self.path

    def __exit__(self, *a):
        shutil.rmtree(self.path, ignore_errors=True)


def write(path, text):
    with open(path, "w") as f:
        f.write(text)
    return path


def read(path):
    try:
        with open(path, "rb") as f:
            return f.read().decode("utf-8", "replace")
    except OSError:
        return ""


def wait_for(pred, timeout=5.0, step=0.01, what="condition"):
    """Poll pred() until true (returns its value) or raise after timeout."""
    deadline = time.monotonic() + scaled(timeout)
    for _ in range(int(scaled(timeout) / step) + 2):
        v = pred()
        if v:
            return v
        if time.monotonic() > deadline:
            break
        time.sleep(step)
    v = pred()
    if v:
        return v
    raise TestFailure("timed out waiting for " + what)


def listening(port):
    s = harness.Server(harness.MC_BIN)
    s.port = port
    return s._listening()


class Daemon(harness.Server):
    """Our server started with exactly `args` (plus -u root when root).
    stderr goes to a temp file (err()); sanitizer reports in it fail the
    test at stop(), as in harness.Server."""

    def __init__(self, args, port, env=None, cwd=None, wait=True):
        super().__init__(harness.MC_BIN, args, "ours")
        self.port = port
        self.env = env
        self.cwd = cwd
        self.wait = wait

    def start(self, attempts=1):
        fd, self.stderr_path = tempfile.mkstemp(prefix="mc-ours-", suffix=".err")
        os.close(fd)
        env = dict(os.environ)
        env.pop("MEMCACHED_CONFIG", None)
        env.pop("NOTIFY_SOCKET", None)
        env.update(self.env or {})
        with open(self.stderr_path, "wb") as errf:
            self.proc = subprocess.Popen([self.binary] + AS_ROOT + self.args,
                                         stdin=subprocess.DEVNULL,
                                         stdout=subprocess.DEVNULL, stderr=errf,
                                         env=env, cwd=self.cwd)
        harness._live.append(self)
        if self.wait and not self._wait_ready():
            rc = self.proc.poll()
            msg = self.err()
            self.kill()
            raise TestFailure("server failed to start (rc=%r): %s" % (rc, msg[-2000:]))
        return self

    def err(self):
        return read(self.stderr_path) if self.stderr_path else ""

    def signal(self, sig):
        self.proc.send_signal(sig)

    def __enter__(self):
        return self.start()

    def __exit__(self, *a):
        self.kill()


def settings(port):
    with harness.Conn(port) as c:
        return harness.stats(c, b"settings")[0]


def run_fail(args, env=None, timeout=10.0, cwd=None):
    """Run a start that must fail: returns (rc, stdout, stderr); raises if
    it is still running after timeout (it is killed)."""
    e = dict(os.environ)
    e.pop("MEMCACHED_CONFIG", None)
    e.pop("NOTIFY_SOCKET", None)
    e.update(env or {})
    p = subprocess.Popen([harness.MC_BIN] + AS_ROOT + args, stdin=subprocess.DEVNULL,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=e, cwd=cwd)
    try:
        out, err = p.communicate(timeout=scaled(timeout))
    except subprocess.TimeoutExpired:
        p.kill()
        p.communicate()
        raise TestFailure("%r did not exit" % (args,))
    return p.returncode, out.decode("utf-8", "replace"), err.decode("utf-8", "replace")


def pid_alive(pid):
    """True while pid exists and is not a zombie (a daemon's parent is
    gone, so whoever reaps it may be slow)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open("/proc/%d/stat" % pid) as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
        return state not in ("Z", "X")
    except (OSError, IndexError):
        return True


def kill_pid(pid):
    """Best-effort cleanup of a daemon that is not our child."""
    if pid and pid_alive(pid):
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
