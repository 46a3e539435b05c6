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

# What a sanitizer build (ASan+UBSan, TSan: run.sh sets MC_SANITIZER to
# asan or tsan) runs when no file is named; the plain and portable builds
# run everything.  Sanitizers pay where our own C code is driven hard: the
# parsers and executors of the three protocols, storage, buffer and
# connection limits, snapshots, TLS, UDP; TSan where threads meet
# (pipelines, the watch ring, reliability, snapshots during writes).
# Left out, they cost about half of each sanitizer run: client libraries
# (test_clients*), the twemproxy cluster, the status page in Chromium,
# memcached-tool, service management, hot keys accuracy, start-up option
# checks (test_config, test_listen; check_option covers the parser) --
# other programs or many server starts -- and, under TSan, single-
# connection command tests.  MC_ALL_TESTS=1 runs everything.
SANITIZED = {                   # file: the sanitizers that run it
    "test_arith": "asan", "test_auth": "asan", "test_metrics": "asan",
    "test_misc": "asan", "test_stats": "asan", "test_transport": "asan",
    "test_binary": "asan tsan", "test_collections": "asan tsan", "test_errors": "asan tsan",
    "test_limits": "asan tsan", "test_meta": "asan tsan",
    "test_pipeline": "asan tsan", "test_reliability": "asan tsan",
    "test_snapshot": "asan tsan", "test_storage": "asan tsan",
    "test_tls": "asan tsan", "test_udp": "asan tsan", "test_watch": "asan tsan",
}
# Single tests of those files left to the plain build, with why.
SANITIZER_SKIP = {
    # durability across SIGKILL: the file system's part, ~40 s sanitized
    "test_snapshot::test_kill9_during_snapshot_keeps_previous": "asan tsan",
    # dozens of start-ups refused by option checks (check_option runs sanitized)
    "test_limits::test_limits_refused_at_start": "asan tsan",
    # resident-memory bounds: a sanitizer's own memory blurs them
    "test_reliability::test_metadump_unread_is_bounded": "asan tsan",
    "test_reliability::test_huge_multiget_unread_is_bounded": "asan tsan",
    "test_pipeline::test_client_that_does_not_read_is_bounded": "asan tsan",
    # an argument parser, one connection at a time
    "test_watch::test_watch_arguments": "tsan",
    # single-threaded paths (a deferred snapshot's wake-up, restart and
    # load timing, first-byte protocol choice), the longest under TSan;
    # the snapshot thread against writers stays (test_snapshot_during_writes_not_torn)
    "test_snapshot::test_snapshot_command_does_not_block_its_worker": "tsan",
    "test_snapshot::test_restart_round_trip": "tsan",
    "test_binary::test_B_auto_first_byte_decides": "tsan",
}


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
    sanitizer = os.environ.get("MC_SANITIZER", "")
    subset = bool(sanitizer) and not targets and os.environ.get("MC_ALL_TESTS") != "1"
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
        names = sorted(f for f in os.listdir(HERE)
                       if f.startswith("test_") and f.endswith(".py"))
        for f in names:
            if not subset or sanitizer in SANITIZED.get(f[:-3], "").split():
                files[os.path.join(HERE, f)] = set()
        if subset:
            print("# %s build: %d of %d files, %d single tests left out "
                  "(run.py SANITIZED, SANITIZER_SKIP; MC_ALL_TESTS=1 for all)"
                  % (sanitizer, len(files), len(names),
                     sum(sanitizer in v.split() for v in SANITIZER_SKIP.values())))

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
            if subset and sanitizer in SANITIZER_SKIP.get(full, "").split():
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
