#!/usr/bin/env python3
"""Discover and run the integration tests.

usage: run.py [-k SUBSTR] [-v] [FILE[::TEST] ...]

Test functions are the `test_*` functions of tests/integration/test_*.py,
run in file order.  A test taking a parameter named `srv` gets a fresh
(ours, reference) pair of servers started with default flags.

Prints one PASS/FAIL/SKIP line per test and finally exactly
"N passed, N failed".  Skipped tests are never counted as passed.  Exit
status is non-zero if any test failed (or none ran).
"""

import importlib.util
import inspect
import os
import signal
import sys
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.dont_write_bytecode = True

import harness  # noqa: E402

PER_TEST_LIMIT = int(60 * harness.TIME_SCALE)

# The files a sanitizer build (ASan+UBSan, TSan: run.sh sets MC_SANITIZER)
# runs when no file is named; every other build runs them all.  These
# drive our own C code hard: the parsers and executors of the three
# protocols, storage, limits on buffers and connections, snapshots, TLS,
# UDP, and concurrency (pipelines, the watch ring, reliability).  The
# others -- client libraries (test_clients*), the twemproxy cluster, the
# status page in Chromium, memcached-tool, service management, hot keys
# accuracy, start-up option checks (test_config, test_listen; check_option
# covers the parser) -- mostly measure other programs or start many
# servers, cost about a third of a sanitizer run, and run in the plain and
# portable builds.  MC_ALL_TESTS=1 runs everything under a sanitizer too.
SANITIZED = [
    "test_arith", "test_auth", "test_binary", "test_errors", "test_limits",
    "test_meta", "test_metrics", "test_misc", "test_pipeline",
    "test_reliability", "test_snapshot", "test_stats", "test_storage",
    "test_tls", "test_transport", "test_udp", "test_watch",
]


class _Timeout(Exception):
    pass


def _alarm(signum, frame):
    raise _Timeout("test exceeded %ds" % PER_TEST_LIMIT)


def load(path):
    name = os.path.splitext(os.path.basename(path))[0]
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    tests = [(n, f) for n, f in vars(mod).items()
             if n.startswith("test_") and inspect.isfunction(f)
             and f.__module__ == mod.__name__]
    tests.sort(key=lambda t: t[1].__code__.co_firstlineno)
    return name, tests


def main(argv):
    verbose = False
    pattern = None
    targets = []
    args = list(argv)
    while args:
        a = args.pop(0)
        if a == "-v":
            verbose = True
        elif a == "-k" and args:
            pattern = args.pop(0)
        elif a in ("-h", "--help"):
            print(__doc__)
            return 0
        else:
            targets.append(a)
    files = {}
    if targets:
        for t in targets:
            f, _, tn = t.partition("::")
            if not os.path.exists(f):
                f = os.path.join(HERE, os.path.basename(f))
            if not f.endswith(".py"):
                f += ".py"
            files.setdefault(os.path.abspath(f), set())
            if tn:
                files[os.path.abspath(f)].add(tn)
    else:
        sanitizer = os.environ.get("MC_SANITIZER", "")
        subset = sanitizer and os.environ.get("MC_ALL_TESTS") != "1"
        names = sorted(f for f in os.listdir(HERE)
                       if f.startswith("test_") and f.endswith(".py"))
        for f in names:
            if not subset or f[:-3] in SANITIZED:
                files[os.path.join(HERE, f)] = set()
        if subset:
            print("# %s build: %d of %d files (run.py SANITIZED; MC_ALL_TESTS=1 for all)"
                  % (sanitizer, len(files), len(names)))

    print("# MC_BIN=%s  reference=%s" % (harness.MC_BIN, harness.REF_BIN))
    signal.signal(signal.SIGALRM, _alarm)
    passed = failed = skipped = 0
    t_all = time.monotonic()
    for path, only in files.items():
        try:
            modname, tests = load(path)
        except Exception:
            failed += 1
            print("FAIL %s (import error)" % os.path.basename(path))
            traceback.print_exc(file=sys.stdout)
            continue
        for name, fn in tests:
            full = "%s::%s" % (modname, name)
            if only and name not in only:
                continue
            if pattern and pattern not in full:
                continue
            t0 = time.monotonic()
            status, detail = "PASS", ""
            signal.alarm(PER_TEST_LIMIT)
            try:
                if "srv" in inspect.signature(fn).parameters:
                    with harness.pair() as srv:
                        fn(srv)
                else:
                    fn()
            except harness.TestSkip as e:
                status, detail = "SKIP", str(e)
            except Exception as e:  # noqa: BLE001 (includes TestFailure, _Timeout)
                status = "FAIL"
                if isinstance(e, harness.TestFailure) and not verbose:
                    tb = traceback.extract_tb(e.__traceback__)
                    where = next((fr for fr in reversed(tb)
                                  if os.path.abspath(fr.filename) == path), tb[-1])
                    detail = "%s (at %s:%d)" % (e, os.path.basename(where.filename), where.lineno)
                else:
                    detail = traceback.format_exc()
            finally:
                signal.alarm(0)
                harness._kill_all()
            dt = time.monotonic() - t0
            if status == "PASS":
                passed += 1
            elif status == "SKIP":
                skipped += 1
            else:
                failed += 1
            print("%s %s (%.2fs)" % (status, full, dt))
            if detail:
                for line in str(detail).rstrip().splitlines():
                    print("    " + line)
            sys.stdout.flush()
    print("# %d skipped, total %.1fs" % (skipped, time.monotonic() - t_all))
    print("%d passed, %d failed" % (passed, failed))
    sys.stdout.flush()
    return 0 if failed == 0 and passed > 0 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
