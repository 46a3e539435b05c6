"""Configuration files, end to end: start the daemon with --config=FILE or
$MEMCACHED_CONFIG and check what it runs with through "stats settings";
bad files are refused with file:line and nothing starts.

(The parser itself is unit-tested in tests/unit/check_option.c; these
tests prove the daemon really uses what the file says.)
"""

import os
import re

import harness
from harness import check, eq, free_port
from svc import (EXAMPLE_CONF, Daemon, TempDir, listening, run_fail,
                 settings, write)

# example-file key -> (stats settings name, value converter)
MB = 1 << 20


def _size(v, unit):
    m = re.fullmatch(r"(\d+)([kmg]?)b?", v.strip().lower())
    return str(int(m.group(1)) * {"": unit, "k": 1024, "m": MB, "g": 1 << 30}[m.group(2)])


def _yesno(v):
    return "yes" if v.lower() in ("yes", "true", "on", "1") else "no"


EXAMPLE_TO_STATS = {
    "memory-limit": ("maxbytes", lambda v: _size(v, MB)),
    "conn-limit": ("maxconns", str),
    "udp-port": ("udpport", str),
    "listen": ("inter", str),
    "verbose": ("verbosity", str),
    "unix-mask": ("umask", str),
    "enable-shutdown": ("shutdown_command", _yesno),
    "disable-evictions": ("evictions", lambda v: "off" if _yesno(v) == "yes" else "on"),
    "slab-growth-factor": ("growth_factor", lambda v: "%.2f" % float(v)),
    "slab-min-size": ("chunk_size", str),
    "threads": ("num_threads", str),
    "max-reqs-per-event": ("reqs_per_event", str),
    "disable-cas": ("cas_enabled", lambda v: "no" if _yesno(v) == "yes" else "yes"),
    "listen-backlog": ("tcp_backlog", str),
    "protocol": ("binding_protocol", lambda v: "auto-negotiate" if v == "auto" else v),
    "max-item-size": ("item_size_max", lambda v: _size(v, 1)),
    "disable-flush-all": ("flush_enabled", lambda v: "no" if _yesno(v) == "yes" else "yes"),
    "disable-dumping": ("dump_enabled", lambda v: "no" if _yesno(v) == "yes" else "yes"),
    "maxconns_fast": ("maxconns_fast", _yesno),
    "hashpower": ("hashpower_init", str),
    "tail_repair_time": ("tail_repair_time", str),
    "hash_algorithm": ("hash_algorithm", str),
    "lru_crawler": ("lru_crawler", _yesno),
    "lru_crawler_sleep": ("lru_crawler_sleep", str),
    "lru_crawler_tocrawl": ("lru_crawler_tocrawl", str),
    "read_buf_mem_limit": ("read_buf_mem_limit", str),
    "lru_maintainer": ("lru_maintainer_thread", _yesno),
    "hot_lru_pct": ("hot_lru_pct", str),
    "warm_lru_pct": ("warm_lru_pct", str),
    "hot_max_factor": ("hot_max_factor", str),
    "warm_max_factor": ("warm_max_factor", str),
    "idle_timeout": ("idle_timeout", str),
    "write_timeout": ("write_timeout", str),
    "shutdown_timeout": ("shutdown_timeout", str),
    "read_buf_max": ("read_buf_max", lambda v: str(int(v) << 20)),
    "slab_chunk_max": ("slab_chunk_max", lambda v: _size(v, 1)),
    "watcher_logbuf_size": ("watcher_logbuf_size", lambda v: str(int(v) * 1024)),
    "worker_logbuf_size": ("worker_logbuf_size", lambda v: str(int(v) * 1024)),
    "track_sizes": ("track_sizes", _yesno),
    "slab_reassign": ("slab_reassign", _yesno),
    "slab_automove": ("slab_automove", str),
    "eviction_policy": ("eviction_policy", str),
    "hotkeys": ("hotkeys", _yesno),
    "hotkeys_sample": ("hotkeys_sample", str),
    "hotkeys_size": ("hotkeys_size", str),
    "snapshot_interval": ("snapshot_interval", str),
    "snapshot_on_shutdown": ("snapshot_on_shutdown", _yesno),
    "snapshot_load": ("snapshot_load", _yesno),
    "snapshot_refuse_corrupt": ("snapshot_refuse_corrupt", _yesno),
    "enable-ssl": ("ssl_enabled", _yesno),
    "ssl_keyformat": ("ssl_keyformat", str),
    "ssl_verify_mode": ("ssl_verify_mode", lambda v: str([0, 1, 3, 7][int(v)])),
    "ssl_wbuf_size": ("ssl_wbuf_size", lambda v: str(int(v) * 1024)),
    "ssl_session_cache": ("ssl_session_cache", _yesno),
    "ssl_kernel_tls": ("ssl_kernel_tls", _yesno),
    "ssl_min_version": ("ssl_min_version", lambda v: "tlsv1.%d" % int(v)),
    "ssl_handshake_timeout": ("ssl_handshake_timeout", str),
}


def _example_settings():
    """The active `name = value` lines of memcached.conf.example."""
    out = {}
    with open(EXAMPLE_CONF) as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            k, _, v = line.partition("=")
            out[k.strip()] = v.strip()
    return out


def test_example_file_as_shipped():
    """The repo's memcached.conf.example starts the server as it is (only
    the port overridden on the command line), every value it sets shows up
    in stats settings, and the result equals a server with no file."""
    conf = _example_settings()
    check(len(conf) > 30, "example file has only %d settings" % len(conf))
    missing = [k for k in conf if k not in EXAMPLE_TO_STATS and k != "port"]
    # every active line is either mapped here or a refused feature set "off"
    check(set(missing) <= {"enable-sasl", "daemon", "enable-coredumps",
                           "lock-memory", "enable-largepages", "disable-watch",
                           "hashexpand"},
          "unmapped example keys: %r" % missing)
    port = free_port()
    with Daemon(["--config=" + EXAMPLE_CONF, "-p", str(port)], port) as d:
        st = settings(port)
        eq(st["tcpport"], str(port), "tcpport (command line)")
        for k, v in conf.items():
            if k in EXAMPLE_TO_STATS:
                name, conv = EXAMPLE_TO_STATS[k]
                eq(st[name], conv(v), "stats settings %s (from %s = %s)" % (name, k, v))
        check("WARN" not in d.err() and "ERROR" not in d.err(),
              "example file produced warnings: %s" % d.err())
    # as shipped == the defaults (modulo the port)
    with harness.server() as plain:
        st2 = settings(plain.port)
    st.pop("tcpport")
    st2.pop("tcpport")
    eq(st, st2, "example-file settings vs. defaults")


def test_name_value_file():
    """`name = value` (and name=value, name value) lines; no -p/-l on the
    command line: port and listen come from the file."""
    port = free_port()
    with TempDir() as tmp:
        conf = write(os.path.join(tmp, "mc.conf"), """\
# a comment, then a blank line

memory-limit = 32
conn-limit=500
threads 3
max-item-size = 2m
slab-growth-factor = 1.5
port = %d
listen = 127.0.0.1
udp-port = 0
verbose = 2
idle_timeout = 30
""" % port)
        with Daemon(["--config=" + conf], port):
            st = settings(port)
    want = {"maxbytes": str(32 * MB), "maxconns": "500", "num_threads": "3",
            "item_size_max": str(2 * MB), "growth_factor": "1.50",
            "tcpport": str(port), "verbosity": "2", "idle_timeout": "30",
            "inter": "127.0.0.1", "udpport": "0"}
    eq({k: st[k] for k in want}, want, "stats settings from the file")


def test_debian_style_file_via_environment():
    """A Debian /etc/memcached.conf-style file named by MEMCACHED_CONFIG;
    its `logfile` line is honoured too."""
    port = free_port()
    with TempDir() as tmp:
        log = os.path.join(tmp, "memcached.log")
        conf = write(os.path.join(tmp, "debian.conf"), """\
# memcached default config file (Debian style)
# Be even more verbose (print client commands as well)
-vv
logfile %s
-m 48
-p %d
-l 127.0.0.1
-U 0
-c 300
-t 2
-o idle_timeout=20,hashpower=18
""" % (log, port))
        with Daemon([], port, env={"MEMCACHED_CONFIG": conf}):
            st = settings(port)
            with harness.Conn(port) as c:
                eq(harness.transact(c, b"get debian_key\r\n"), b"END\r\n")
        text = open(log).read()
    want = {"maxbytes": str(48 * MB), "tcpport": str(port), "maxconns": "300",
            "num_threads": "2", "verbosity": "2", "idle_timeout": "20",
            "hashpower_init": "18", "inter": "127.0.0.1"}
    eq({k: st[k] for k in want}, want, "stats settings from $MEMCACHED_CONFIG")
    check("get debian_key" in text, "-vv from the file: command not in the log:\n" + text)


def test_command_line_overrides_file():
    """File < command line, for values and for the port; --config wins over
    $MEMCACHED_CONFIG."""
    port, file_port = free_port(), free_port()
    with TempDir() as tmp:
        conf = write(os.path.join(tmp, "mc.conf"),
                     "memory-limit = 32\nconn-limit = 400\nport = %d\n"
                     "listen = 127.0.0.1\nthreads = 2\n" % file_port)
        other = write(os.path.join(tmp, "other.conf"), "memory-limit = 99\n")
        with Daemon(["-m", "16", "-p", str(port), "-t", "3", "--config", conf], port,
                     env={"MEMCACHED_CONFIG": other}):
            st = settings(port)
            check(not listening(file_port), "file's port %d is listening too" % file_port)
    want = {"maxbytes": str(16 * MB), "maxconns": "400", "tcpport": str(port),
            "num_threads": "3"}
    eq({k: st[k] for k in want}, want, "command line over file")


def test_daemon_no_overrides_file_dash_d():
    """What the systemd unit relies on: --daemon=no on the command line
    keeps a file's -d (Debian's has one) from forking."""
    port = free_port()
    with TempDir() as tmp:
        conf = write(os.path.join(tmp, "debian.conf"),
                     "-d\n-m 32\n-p %d\n-l 127.0.0.1\n-U 0\n" % port)
        with Daemon(["--config=" + conf, "--daemon=no"], port) as d:
            with harness.Conn(port) as c:
                eq(harness.stats(c)[0]["pid"], str(d.proc.pid), "server pid (no fork)")
            check(d.alive(), "foreground process exited")


def _refused(args, env, want_err):
    port = free_port()
    rc, out, err = run_fail(args + ["-p", str(port), "-l", "127.0.0.1", "-U", "0"], env)
    check(rc != 0, "started with %r (rc 0)" % (args,))
    eq(err, want_err, "stderr")
    eq(out, "", "stdout")
    check(not listening(port), "something listens on %d" % port)


def test_bad_value_refused():
    with TempDir() as tmp:
        conf = write(os.path.join(tmp, "bad.conf"),
                     "# line 1\nconn-limit = 100\nmemory-limit = lots\nthreads = 2\n")
        _refused(["--config=" + conf], None,
                 '%s:3: memory-limit: "lots" is not a size\n' % conf)
        # same through the environment, and a bad number
        conf2 = write(os.path.join(tmp, "bad2.conf"), "threads = 2x\n")
        _refused([], {"MEMCACHED_CONFIG": conf2},
                 '%s:1: threads: "2x" is not an integer\n' % conf2)


def test_unknown_key_refused():
    with TempDir() as tmp:
        conf = write(os.path.join(tmp, "unknown.conf"),
                     "port = 11211\n\nfrobnicate = 2\n")
        _refused(["--config=" + conf], None, "%s:3: frobnicate: unknown option\n" % conf)
        # a relative path is reported as given
        write(os.path.join(tmp, "dup.conf"), "-m 64\nmemory-limit = 32\n")
        port = free_port()
        rc, out, err = run_fail(["--config=dup.conf", "-p", str(port)], cwd=tmp)
        check(rc != 0, "duplicate key accepted")
        eq(err, "dup.conf:2: memory-limit: duplicate key (first set on line 1)\n", "stderr")


def test_missing_file_refused():
    with TempDir() as tmp:
        path = os.path.join(tmp, "nope.conf")
        port = free_port()
        rc, out, err = run_fail(["--config=" + path, "-p", str(port)])
        check(rc != 0, "started without its config file")
        check(err.startswith(path + ": cannot open: "), "stderr: %r" % err)
        check(not listening(port), "listening without a config file")
