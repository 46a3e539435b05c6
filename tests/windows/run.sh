#!/bin/sh
# run.sh EXE -- the Windows build's tests, under Wine (make test-windows).
#
# Runs tests/windows/test_windows.py (what only Windows does: the service,
# drive-letter paths, Ctrl+C, refused Unix options) and a subset of the
# integration suite against memcached.exe through mc-wine.sh, comparing
# with Debian's memcached as those tests always do.  Left out: tests of
# Unix-only behaviour (unix sockets, fork, -u, rlimits, file size limits,
# exact pids), tests whose expected stderr has Unix line ends, and tests
# with tight wall-clock windows that Wine's start-up time breaks.
# Prints "N passed, N failed"; bounded by timeouts.
set -e
exe=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
[ -f "$exe" ] || { echo "run.sh: no $exe (make windows)"; echo "0 passed, 1 failed"; exit 1; }
command -v wine >/dev/null || { echo "run.sh: wine missing (scripts/deps.sh windows)"; echo "0 passed, 1 failed"; exit 1; }

# a private Wine prefix, made once (about 15 s) and kept in the build dir
WINEPREFIX=${WINEPREFIX:-$(dirname "$exe")/wineprefix}
WINEDEBUG=-all
export WINEPREFIX WINEDEBUG
if [ ! -d "$WINEPREFIX" ]; then
    wineboot -i >/dev/null 2>&1 || true
    wineserver -w                   # let wineboot's server go first
fi
# one wineserver for the whole run: without it every server start boots
# the prefix again
wineserver -p 60 >/dev/null 2>&1 || { echo "run.sh: wineserver -p failed"; echo "0 passed, 1 failed"; exit 1; }
trap 'wineserver -k >/dev/null 2>&1 || true' EXIT
# start the prefix's own processes now, away from the tests' pipes
wine cmd /c exit >/dev/null 2>&1 </dev/null || true

MC_EXE=$exe MC_BIN=$here/mc-wine.sh MC_STOP_SIGNAL=SIGINT MC_TIME_SCALE=${MC_TIME_SCALE:-3}
export MC_EXE MC_BIN MC_STOP_SIGNAL MC_TIME_SCALE
t0=$(date +%s)
rc=0
timeout 900 /usr/bin/python3 "$top/tests/integration/run.py" \
    "$here/test_windows.py" \
    test_storage.py::test_set_get_basic \
    test_storage.py::test_get_multi_keys_order_and_dups \
    test_storage.py::test_cas \
    test_storage.py::test_noreply_everywhere_keeps_sync \
    test_storage.py::test_key_length_limit \
    test_storage.py::test_touch_gat_gats \
    test_transport.py::test_pipelined_batch_one_write \
    test_transport.py::test_batch_sent_byte_by_byte \
    test_transport.py::test_one_megabyte_values \
    test_transport.py::test_large_multiget_100_keys \
    test_transport.py::test_many_concurrent_clients \
    test_pipeline.py::test_other_clients_served_while_one_pipelines_heavily \
    test_arith.py::test_incr_decr_basic \
    test_arith.py::test_incr_wraps_at_2_64 \
    test_stats.py::test_stats_required_names_present \
    test_stats.py::test_stats_counters_after_script \
    test_stats.py::test_stats_settings_names \
    test_stats.py::test_stats_slabs_after_known_set \
    test_config.py::test_name_value_file \
    test_config.py::test_command_line_overrides_file \
    test_snapshot.py::test_meta_marks_survive_restart \
    test_snapshot.py::test_snapshot_during_writes_not_torn \
    test_misc.py::test_flush_all_immediate \
    test_misc.py::test_shutdown_with_A_exits || rc=$?
echo "# Windows tests under Wine: $(( $(date +%s) - t0 )) s"
exit $rc
