#!/bin/sh
# build.sh -- build and run the libFuzzer targets (needs clang and libclang-rt):
#   text  the connection's byte loop, feed_run(), on arbitrary bytes with
#         input-chosen splits (fuzz_text.c, corpus tests/fuzz/corpus/)
#   meta  meta requests built from the input: commands, keys, flags, tokens,
#         data blocks (fuzz_meta.c, corpus tests/fuzz/corpus-meta/)
#   binary  binary packets built from the input: opcodes, keys, extras,
#         values, CAS, headers that disagree (fuzz_binary.c,
#         corpus tests/fuzz/corpus-binary/)
#   coll  ARCUS collection requests built from the input: lop sop mop bop
#         getattr setattr, bkeys, eflag filters, data blocks (fuzz_coll.c,
#         corpus tests/fuzz/corpus-coll/)
#
#   tests/fuzz/build.sh [seconds] [target...]
# Without targets it runs all of them, the seconds (default 60) split
# between them; `make test` runs it for FUZZ_SECONDS (15) in all.  A crash
# fails the run.
#   FUZZ_BUILD=dir  where the binaries and the working corpora go (default
#                   build; config.h comes from there, else from build/)
# New crashing inputs land in tests/fuzz/<target>-crash-*; minimise them
# (<binary> -minimize_crash=1 -runs=10000 <file>) and copy them into the
# target's corpus so `make check` replays them forever.
set -e
cd "$(dirname "$0")/../.."
secs=60
targets=
for a in "$@"; do
    case $a in
    *[!0-9]*|'')
        [ -f "tests/fuzz/fuzz_$a.c" ] || { echo "build.sh: no fuzz target '$a'" >&2; exit 2; }
        targets="$targets $a" ;;
    *)  secs=$a ;;
    esac
done
[ -n "$targets" ] || targets="text meta binary coll"

out=${FUZZ_BUILD:-build}
if [ -f "$out/config.h" ]; then
    cfg=$out
else
    [ -f build/config.h ] || make build
    cfg=build
fi
mkdir -p "$out"
# libraries the sources need beyond libxxhash, as configure found them
libs=$(pkg-config --libs libxxhash libevent libevent_pthreads)    # libevent: watch.c's logger
if grep -q '^#define HAVE_SASL 1' "$cfg/config.h"; then
    libs="$libs $(pkg-config --libs libsasl2)"
fi

corpus() {
    if [ "$1" = text ]; then echo tests/fuzz/corpus; else echo "tests/fuzz/corpus-$1"; fi
}

# build every target (in parallel), then run them one after the other
pids=
for t in $targets; do
    clang -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
        -Wall -Wextra -Iinclude -I"$cfg" $(pkg-config --cflags libevent libxxhash) \
        "tests/fuzz/fuzz_$t.c" tests/fuzz/fuzz_common.c \
        src/proto/*.c src/storage/*.c src/util/*.c src/stats/*.c \
        src/platform/common.c src/platform/posix.c \
        $libs -lpthread -o "$out/fuzz_$t" &
    pids="$pids $!"
done
for p in $pids; do
    wait "$p"
done

set -- $targets
n=$#
each=$((secs / n))
[ "$each" -gt 0 ] || each=1
for t in $targets; do
    mkdir -p "$out/fuzz-corpus-$t"
    # -timeout: an input that runs for seconds is a hang, reported as a crash
    "$out/fuzz_$t" -max_total_time="$each" -timeout=10 \
        -artifact_prefix="tests/fuzz/$t-" "$out/fuzz-corpus-$t" "$(corpus "$t")"
done
