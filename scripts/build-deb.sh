#!/bin/sh
# build-deb.sh [--version V] [--out DIR] -- build the Debian package.
#
# Copies the tree (git's tracked and untracked-but-not-ignored files, so
# no build directories) to OUT/memcached-ng-VERSION/ and runs
# dpkg-buildpackage there (source + binary, unsigned); the .deb, .dsc,
# .changes and .buildinfo land in OUT (default build-deb/).  Then runs
# lintian on the .changes: its output goes to OUT/lintian.txt and to the
# terminal, and any error fails the build.
#
# --version V builds the same tree as version V (a changelog entry is
# added to the copy only): scripts/test-deb.sh uses it for the upgrade.
# --quick: binary package only, no unit tests (nocheck), no lintian.
# Needs: scripts/deps.sh deb.
set -e
top=$(cd "$(dirname "$0")/.." && pwd)
out=$top/build-deb
version=""
quick=no
while [ $# -gt 0 ]; do
    case "$1" in
    --version) version=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --quick) quick=yes; shift ;;
    *) echo "usage: $0 [--version V] [--out DIR] [--quick]" >&2; exit 2 ;;
    esac
done
cd "$top"
[ -n "$version" ] || version=$(dpkg-parsechangelog -S Version)
src=$out/memcached-ng-$version
rm -rf "$src"
mkdir -p "$src"
if git rev-parse --git-dir >/dev/null 2>&1; then
    # Files deleted in the work tree but still tracked are skipped.
    git ls-files -z --cached --others --exclude-standard |
        xargs -0 sh -c 'for f; do [ -e "$f" ] && printf "%s\0" "$f"; done; true' sh |
        tar --null -T - -cf - | tar -xf - -C "$src"
else
    tar --exclude='./build*' --exclude=./configure --exclude=./autom4te.cache \
        --exclude=./Makefile.in --exclude=./aclocal.m4 -cf - . | tar -xf - -C "$src"
fi
if [ "$version" != "$(dpkg-parsechangelog -S Version)" ]; then
    {
        printf 'memcached-ng (%s) %s; urgency=medium\n\n' "$version" "$(dpkg-parsechangelog -S Distribution)"
        printf '  * Rebuild as %s (scripts/build-deb.sh --version).\n\n' "$version"
        printf ' -- %s  %s\n\n' "$(dpkg-parsechangelog -S Maintainer)" "$(date -R)"
        cat debian/changelog
    } > "$src/debian/changelog"
fi
cd "$src"
dpkg-checkbuilddeps
rm -f "$out"/memcached-ng_"$version"[._]*
arch=$(dpkg --print-architecture)
if [ $quick = yes ]; then
    DEB_BUILD_OPTIONS="nocheck $DEB_BUILD_OPTIONS" dpkg-buildpackage -b -us -uc
    ls -l "$out"/memcached-ng_"$version"_"$arch".deb
    exit 0
fi
dpkg-buildpackage -us -uc
cd "$out"
changes=memcached-ng_${version}_$arch.changes
# -I: also informational tags; --fail-on error: errors fail `make deb`.
status=0
lintian -I --fail-on error "$changes" > lintian.raw 2>&1 || status=$?
# lintian's own notice when run as root is not about the package.
grep -v '^running with root privileges is not recommended' lintian.raw > lintian.txt || true
rm -f lintian.raw
echo "lintian ($changes):"
if [ -s lintian.txt ]; then cat lintian.txt; else echo "  no tags"; fi
[ $status -eq 0 ] || { echo "build-deb.sh: lintian reports errors" >&2; exit 1; }
ls -l "$out"/memcached-ng_"$version"_"$arch".deb
