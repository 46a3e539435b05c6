"""SASL setups for the integration tests, in a temporary directory only
(nothing under /etc is read or written).  doc/security.md ("## SASL")
describes the same recipes for administrators.

- sasldb(): the Cyrus recipe.  A directory holding memcached.conf
  (`mech_list: plain` and `sasldb_path: <dir>/sasldb2`) and a sasldb made
  by `saslpasswd2 -a memcached -c -f <dir>/sasldb2 -p USER` (password on
  stdin); the server finds it through SASL_CONF_PATH=<dir>.
- pwdb(): our simple password-file mode.  The same memcached.conf (the
  mechanism list still comes from it) and MEMCACHED_SASL_PWDB naming a
  file of `user:password` lines; the sasldb is then not consulted.
  Debian's memcached 1.6.18 is built without that mode (it ignores the
  variable), so a test comparing the two starts the reference with
  sasldb() holding the same user and password.

Each yields the environment (a dict) a server must be started with;
start(server, env) starts a harness.Server under it.
"""

import contextlib
import os
import shutil
import subprocess
import tempfile

from harness import TestFailure

USER = "mcuser"
PASSWORD = "mc-secret"
SASL_VARS = ("SASL_CONF_PATH", "MEMCACHED_SASL_PWDB")


def saslpasswd2():
    for path in (shutil.which("saslpasswd2"), "/usr/sbin/saslpasswd2"):
        if path and os.access(path, os.X_OK):
            return path
    raise TestFailure("saslpasswd2 not found (Debian package sasl2-bin; scripts/deps.sh test)")


def _conf(d, mechs):
    with open(os.path.join(d, "memcached.conf"), "w") as f:
        f.write("mech_list: %s\nsasldb_path: %s\n" % (mechs, os.path.join(d, "sasldb2")))


@contextlib.contextmanager
def _tmpdir():
    d = tempfile.mkdtemp(prefix="mc-sasl-")
    try:
        yield d
    finally:
        shutil.rmtree(d, ignore_errors=True)


@contextlib.contextmanager
def sasldb(user=USER, password=PASSWORD, mechs="plain"):
    tool = saslpasswd2()
    with _tmpdir() as d:
        _conf(d, mechs)
        p = subprocess.run([tool, "-a", "memcached", "-c", "-f", os.path.join(d, "sasldb2"),
                            "-p", user], input=password.encode(), timeout=10,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        if p.returncode != 0:
            raise TestFailure("saslpasswd2 failed (rc=%d): %r" % (p.returncode, p.stdout))
        yield {"SASL_CONF_PATH": d}


@contextlib.contextmanager
def pwdb(user=USER, password=PASSWORD, mechs="plain"):
    with _tmpdir() as d:
        _conf(d, mechs)
        path = os.path.join(d, "passwords")
        with open(path, "w") as f:
            f.write("%s:%s\n" % (user, password))
        yield {"SASL_CONF_PATH": d, "MEMCACHED_SASL_PWDB": path}


def start(server, env):
    """Start a harness.Server with exactly these SASL variables set (the
    process inherits os.environ; it is restored at once)."""
    saved = {k: os.environ.get(k) for k in SASL_VARS}
    try:
        for k in SASL_VARS:
            os.environ.pop(k, None)
        os.environ.update(env)
        return server.start()
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
