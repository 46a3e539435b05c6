#!/bin/sh
# Automake test driver for the integration suite.
#
# automake runs tests from the build directory; this script finds its python
# files through its own path ($0) and the binary under test through $MC_BIN
# or ./memcached in the current (build) directory.  Extra arguments are
# passed to run.py (e.g. a test file name, or -k SUBSTRING).
#
#   MC_BIN=/usr/bin/memcached tests/integration/run.sh      # validate suite
here=$(cd "$(dirname "$0")" && pwd)
if [ -z "$MC_BIN" ]; then
    if [ -x ./memcached ]; then
        MC_BIN=$(pwd)/memcached
    elif [ -x "$here/../../build/memcached" ]; then
        MC_BIN=$(cd "$here/../../build" && pwd)/memcached
    else
        echo "run.sh: no server binary: set MC_BIN or run from the build dir" >&2
        echo "0 passed, 1 failed"
        exit 1
    fi
fi
export MC_BIN
# Sanitizer builds are slower: stretch timeouts unless told otherwise,
# and run the subset of files that run.py names (SANITIZED).
if command -v nm >/dev/null 2>&1; then
    syms=$(nm -D "$MC_BIN" 2>/dev/null)
    case "$syms" in
    *__tsan_init*) san=tsan; scale=6 ;;     # ThreadSanitizer: 5-15x slower
    *__asan_init*) san=asan; scale=3 ;;
    *) san=; scale= ;;
    esac
    [ -z "$MC_TIME_SCALE" ] && [ -n "$scale" ] && export MC_TIME_SCALE=$scale
    [ -z "$MC_SANITIZER" ] && [ -n "$san" ] && export MC_SANITIZER=$san
fi
# Debian's python3 has python3-pymemcache / python3-pylibmc on its path.
PY=python3
[ -x /usr/bin/python3 ] && PY=/usr/bin/python3
exec "$PY" "$here/run.py" "$@"
