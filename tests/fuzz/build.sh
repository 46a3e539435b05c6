#!/bin/sh
# build.sh -- build and run the libFuzzer target for the text protocol (the
# connection's byte loop, feed_run(), with input-chosen splits).
#   tests/fuzz/build.sh [seconds]   (default 60; needs clang and libclang-rt)
# `make test` runs it for FUZZ_SECONDS (15); a crash fails the run.
# New crashing inputs land in tests/fuzz/crash-*; minimise them and copy them
# into tests/fuzz/corpus/ so `make check` replays them forever.
set -e
cd "$(dirname "$0")/../.."
secs=${1:-60}
[ -f build/config.h ] || make build

out=build/fuzz_text
clang -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all -Iinclude -Ibuild \
    $(pkg-config --cflags libevent libxxhash) \
    tests/fuzz/fuzz_text.c src/proto/*.c src/storage/*.c src/util/*.c src/stats/*.c \
    $(pkg-config --libs libxxhash) -lpthread -o "$out"
mkdir -p build/fuzz-corpus
# -timeout: an input that runs for seconds is a hang, reported as a crash
"$out" -max_total_time="$secs" -timeout=10 -artifact_prefix=tests/fuzz/ \
    build/fuzz-corpus tests/fuzz/corpus
