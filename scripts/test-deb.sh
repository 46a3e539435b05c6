#!/bin/sh
# test-deb.sh -- install, run, upgrade and purge the Debian package in a
# clean Debian 12 root (tests/deb/test_deb.py says what is checked).
#
#   scripts/test-deb.sh            (also: make test-deb)
#
# Needs root (chroot, mount) and scripts/deps.sh deb.  Uses, under
# build-deb/:
#   memcached-ng_V_ARCH.deb        the package (scripts/build-deb.sh, `make deb`)
#   upgrade/memcached-ng_V+upgradetest1_ARCH.deb
#                                  the same tree rebuilt with a higher
#                                  version (built here when missing or older)
#   cache/bookworm-minbase.tar     the base root: mmdebstrap minbase + logrotate
#                                  from the Debian mirror apt uses, apt lists
#                                  kept (built once; delete it to refresh)
#   cache/archives/                the packages apt downloaded into the root,
#                                  kept so reruns do not download them again
#   test-root/                     the root (removed when everything passed)
# The whole run is bounded by TEST_DEB_TIMEOUT seconds (default 900).
set -e
top=$(cd "$(dirname "$0")/.." && pwd)
out=$top/build-deb
cache=$out/cache
base=$cache/bookworm-minbase.tar

if [ "$(id -u)" != 0 ]; then
    echo "test-deb.sh: needs root (chroot, mount)" >&2
    echo "0 passed, 1 failed"
    exit 1
fi
for tool in mmdebstrap dpkg-buildpackage dh lintian unshare chroot; do
    command -v $tool >/dev/null 2>&1 || {
        echo "test-deb.sh: $tool missing: run scripts/deps.sh deb" >&2
        echo "0 passed, 1 failed"
        exit 1
    }
done
cd "$top"
start=$(date +%s)
version=$(dpkg-parsechangelog -S Version)
arch=$(dpkg --print-architecture)
deb=$out/memcached-ng_${version}_$arch.deb
[ -f "$deb" ] || scripts/build-deb.sh
version2=$version+upgradetest1
deb2=$out/upgrade/memcached-ng_${version2}_$arch.deb
if [ ! -f "$deb2" ] || [ "$deb2" -ot "$deb" ]; then
    echo "test-deb.sh: building the upgrade package $version2"
    timeout 1800 scripts/build-deb.sh --quick --version "$version2" --out "$out/upgrade" \
        > "$out/upgrade.log" 2>&1 || {
        tail -50 "$out/upgrade.log"; echo "0 passed, 1 failed"; exit 1; }
fi
if [ ! -f "$base" ]; then
    # The mirror: the Debian sources apt on this machine uses, else
    # mmdebstrap's default (deb.debian.org, with updates and security).
    mirror=""
    [ -f /etc/apt/sources.list.d/debian.sources ] && mirror=/etc/apt/sources.list.d/debian.sources
    mkdir -p "$cache"
    echo "test-deb.sh: creating $base (mmdebstrap, once)"
    timeout 900 mmdebstrap --variant=minbase --include=logrotate \
        --skip=cleanup/apt/lists \
        --aptopt='Acquire::Check-Valid-Until "false"' \
        bookworm "$cache/partial.tar" $mirror > "$cache/mmdebstrap.log" 2>&1 || {
        tail -30 "$cache/mmdebstrap.log"; rm -f "$cache/partial.tar"; echo "0 passed, 1 failed"; exit 1; }
    # mmdebstrap picks the output format from the name: keep ".tar".
    mv "$cache/partial.tar" "$base"
fi
echo "test-deb.sh: packages ready after $(( $(date +%s) - start ))s"
# A private mount namespace: /proc and the apt cache mounted into the root
# disappear with the test, whatever happens to it.
status=0
timeout "${TEST_DEB_TIMEOUT:-900}" unshare --mount --propagation private \
    python3 "$top/tests/deb/test_deb.py" --root "$out/test-root" --base "$base" \
        --archives "$cache/archives" --deb "$deb" --upgrade-deb "$deb2" || status=$?
echo "test-deb.sh: $(( $(date +%s) - start ))s in all"
exit $status
