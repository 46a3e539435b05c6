#!/bin/sh
# build-win-deps.sh [PREFIX] -- the libraries `make windows` links, built
# for x86_64-w64-mingw32 into PREFIX (default build-win/deps; never
# committed):
#   libevent  Debian's own source package (`apt-get source libevent`, with
#             Debian's patches; autoreconf as Debian's build does)
#             unpacked in PREFIX/src, configured
#             --host=x86_64-w64-mingw32 --disable-shared --disable-openssl
#             and installed into PREFIX (lib/libevent*.a, lib/pkgconfig).
#   xxhash    header-only: Debian's /usr/include/xxhash.h (libxxhash-dev)
#             copied to PREFIX/include; configure.ac builds with
#             XXH_INLINE_ALL.  /usr/include itself is never on the cross
#             compiler's path.
# Cached: does nothing once PREFIX/.done exists (rm -rf PREFIX to redo).
# Needs what `scripts/deps.sh windows` installs.
set -e
top=$(cd "$(dirname "$0")/.." && pwd)
prefix=${1:-$top/build-win/deps}
host=x86_64-w64-mingw32
cc=$host-gcc-posix

if [ -f "$prefix/.done" ]; then
    echo "build-win-deps.sh: $prefix is built (rm -rf it to rebuild)"
    exit 0
fi
command -v "$cc" >/dev/null 2>&1 || { echo "build-win-deps.sh: no $cc (scripts/deps.sh windows)" >&2; exit 1; }
t0=$(date +%s)
mkdir -p "$prefix/src" "$prefix/include"
prefix=$(cd "$prefix" && pwd)

# libevent: the source package, once
cd "$prefix/src"
src=$(ls -d libevent-*/ 2>/dev/null | head -n 1)
if [ -z "$src" ]; then
    echo "build-win-deps.sh: apt-get source libevent into $prefix/src"
    apt-get source -qq libevent >/dev/null
    src=$(ls -d libevent-*/ | head -n 1)
    echo "build-win-deps.sh: source fetched ($(( $(date +%s) - t0 ))s)"
fi
src=$prefix/src/${src%/}
# Debian's patches touch Makefile.am; regenerate as Debian's own build
# does (dh_autoreconf), else make would run a mismatched automake.
if [ ! -f "$src/.autoreconf-done" ]; then
    echo "build-win-deps.sh: autoreconf in $(basename "$src")"
    (cd "$src" && autoreconf -fi >/dev/null 2>&1) || { echo "build-win-deps.sh: autoreconf failed in $src" >&2; exit 1; }
    touch "$src/.autoreconf-done"
    echo "build-win-deps.sh: autoreconf done ($(( $(date +%s) - t0 ))s)"
fi
rm -rf "$prefix/src/build"
mkdir -p "$prefix/src/build"
cd "$prefix/src/build"
echo "build-win-deps.sh: libevent ($(basename "$src")) for $host"
"$src/configure" -q --host=$host CC=$cc --prefix="$prefix" \
    --disable-shared --enable-static --disable-openssl \
    --disable-samples --disable-libevent-regress --disable-debug-mode \
    --disable-dependency-tracking
echo "build-win-deps.sh: libevent configured ($(( $(date +%s) - t0 ))s)"
make -s -j"$(nproc 2>/dev/null || echo 2)" >/dev/null
make -s install >/dev/null

# xxhash: the header
cp /usr/include/xxhash.h "$prefix/include/xxhash.h"

touch "$prefix/.done"
echo "build-win-deps.sh: done: $prefix ($(( $(date +%s) - t0 ))s)"
