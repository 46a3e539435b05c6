#!/bin/sh
# deps.sh [build|test|deb|windows] -- install what building (and testing,
# building and testing the Debian package, or cross-compiling for Windows:
# `make windows`) needs.
#
# Debian/Ubuntu: apt-get; macOS: brew.  Prints exactly what it installs and
# does nothing when everything is present, so it is cheap to run every time.
set -e
what=${1:-build}

if command -v dpkg-query >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1; then
    pkgs="autoconf automake libtool pkg-config libevent-dev libxxhash-dev check libsasl2-dev libssl-dev"
    if [ "$what" = test ]; then
        # memcached: the reference the integration tests compare against
        # (it also ships memcached-tool, a perl script, and depends on perl:
        # test_memcached_tool.py);
        # libmemcached-tools: memccapable; python3 clients for client tests.
        # clang + libclang-rt-14-dev: libFuzzer for the fuzz targets.
        pkgs="$pkgs memcached libmemcached-tools python3 python3-pymemcache python3-pylibmc netcat-openbsd"
        pkgs="$pkgs clang libclang-rt-14-dev"
        # openssl: the command line makes the TLS tests' certificates and
        # runs s_client (tests/integration/test_tls.py).
        pkgs="$pkgs openssl"
        # scale-out tests (tests/integration/test_cluster.py): twemproxy and
        # a Perl client beside the Python and Node.js ones
        pkgs="$pkgs nutcracker libcache-memcached-fast-perl"
        # binary-protocol clients (tests/integration/test_clients_binary.py):
        # bmemcached, ruby-dalli (needs ruby, which it does not depend on),
        # SASL tools and mechanisms; Node.js for memjs (below).
        pkgs="$pkgs python3-binary-memcached ruby ruby-dalli sasl2-bin libsasl2-modules"
        # monitoring (tests/integration/test_metrics.py, test_status_page.py):
        # the Prometheus client's text parser, headless Chromium for the page
        pkgs="$pkgs python3-prometheus-client chromium"
        # node/npm by command: a Node.js from elsewhere (NodeSource's bundles
        # npm and conflicts with Debian's npm package) is fine as it is.
        command -v node >/dev/null 2>&1 || pkgs="$pkgs nodejs"
        command -v npm >/dev/null 2>&1 || pkgs="$pkgs npm"
    fi
    if [ "$what" = deb ]; then
        # `make deb` (scripts/build-deb.sh): Debian's packaging tools;
        # `make test-deb` (scripts/test-deb.sh): mmdebstrap for the clean
        # Debian 12 root, python3 for tests/deb/test_deb.py.
        pkgs="$pkgs debhelper dpkg-dev lintian mmdebstrap python3"
    fi
    if [ "$what" = windows ]; then
        # `make windows`: mingw-w64 (its -posix compiler, for winpthreads
        # and C11 atomics), Wine to run the result, dpkg-dev for
        # `apt-get source libevent` (scripts/build-win-deps.sh; xxhash.h
        # comes from libxxhash-dev above).  wine64 is the 64-bit loader;
        # the `wine` package gives the wine, wineboot and wineserver
        # commands tests/windows/run.sh calls (wine64 alone puts none of
        # them on PATH).
        pkgs="$pkgs gcc-mingw-w64-x86-64 gcc-mingw-w64-x86-64-posix wine64 wine dpkg-dev xz-utils"
    fi
    missing=""
    for p in $pkgs; do
        st=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
        case "$st" in *"ok installed"*) ;; *) missing="$missing $p" ;; esac
    done
    if [ -n "$missing" ]; then
        echo "deps.sh: installing missing Debian packages:$missing"
        SUDO=""
        [ "$(id -u)" -ne 0 ] && SUDO=sudo
        $SUDO apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing
    fi
    if [ "$what" = windows ] && ! grep -rqsE '^[[:space:]]*(deb-src[[:space:]]|Types:.*deb-src)' \
            /etc/apt/sources.list /etc/apt/sources.list.d/; then
        # apt-get source needs a deb-src entry: bookworm's, from the same
        # mirror as the first "deb" entry (one-line or deb822 format).
        SUDO=""
        [ "$(id -u)" -ne 0 ] && SUDO=sudo
        uri=$(sed -nE 's/^[[:space:]]*deb[[:space:]]+(\[[^]]*\][[:space:]]+)?([a-z]+:[^[:space:]]+).*/\2/p' \
                  /etc/apt/sources.list 2>/dev/null | head -n 1)
        [ -n "$uri" ] || uri=$(cat /etc/apt/sources.list.d/*.sources 2>/dev/null |
                                   sed -nE 's/^URIs:[[:space:]]*([^[:space:]]+).*/\1/p' | grep -v security | head -n 1)
        [ -n "$uri" ] || uri=http://deb.debian.org/debian
        echo "deps.sh: adding a bookworm deb-src entry for $uri (/etc/apt/sources.list.d/memcached-ng-src.sources)"
        printf 'Types: deb-src\nURIs: %s\nSuites: bookworm bookworm-updates\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' "$uri" |
            $SUDO tee /etc/apt/sources.list.d/memcached-ng-src.sources >/dev/null
        $SUDO apt-get update -qq
    fi
    if [ "$what" = test ]; then
        # memjs from the npm registry into build/npm/node_modules (never
        # committed; test_clients_binary.py looks there).
        npmdir=$(cd "$(dirname "$0")/.." && pwd)/build/npm
        if [ ! -f "$npmdir/node_modules/memjs/package.json" ]; then
            echo "deps.sh: npm install memjs@1.3.2 into $npmdir"
            npm install --prefix "$npmdir" --no-audit --no-fund --loglevel=error memjs@1.3.2
        fi
        # the npm "memcached" client (hash ring) for test_cluster.py
        if [ ! -f "$npmdir/node_modules/memcached/package.json" ]; then
            echo "deps.sh: npm install memcached@2.2.2 into $npmdir"
            npm install --prefix "$npmdir" --no-audit --no-fund --loglevel=error memcached@2.2.2
        fi
    fi
    # Debian starts the reference memcached as a service on 11211; the tests
    # start their own on free ports, so leave a running one alone.
elif command -v brew >/dev/null 2>&1; then
    pkgs="autoconf automake libtool pkg-config libevent xxhash check cyrus-sasl openssl@3"
    [ "$what" = test ] && pkgs="$pkgs memcached libmemcached"
    for p in $pkgs; do
        brew list "$p" >/dev/null 2>&1 || { echo "deps.sh: brew install $p"; brew install "$p"; }
    done
else
    echo "deps.sh: no apt-get or brew; install by hand: autoconf automake libtool pkg-config libevent(>=2.1) xxhash check" >&2
fi
