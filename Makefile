# Thin wrapper around the autotools build (see README.md).
#   make          install missing build deps, configure into build/, build
#   make test     build, run every test plain, under ASan+UBSan and under TSan,
#                 on a --enable-portable build (no Linux-only features),
#                 and fuzz the parsers for FUZZ_SECONDS
#   make run      build and run the server in the foreground on 127.0.0.1:11211
#   make install  PREFIX=/usr/local DESTDIR=
#   make deb      the Debian package (dpkg-buildpackage + lintian) into build-deb/
#   make test-deb install/start/upgrade/purge it in a clean Debian 12 root
#   make windows  cross-compile build-win/memcached.exe (mingw-w64)
PREFIX ?= /usr/local
DESTDIR ?=
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
CONFIGURE_FLAGS ?=

.PHONY: all deps test-deps deb-deps build test check test-plain test-asan test-tsan test-portable test-fuzz tsan run install clean distclean bench deb test-deb windows windows-build

all: build

deps:
	@./scripts/deps.sh build

test-deps:
	@./scripts/deps.sh test

configure: configure.ac Makefile.am $(wildcard */local.am */*/local.am)
	autoreconf -fi

build/Makefile: configure
	mkdir -p build && cd build && ../configure --prefix=$(PREFIX) $(CONFIGURE_FLAGS)

build-asan/Makefile: configure
	mkdir -p build-asan && cd build-asan && ../configure --enable-asan --enable-ubsan --enable-werror

build-tsan/Makefile: configure
	mkdir -p build-tsan && cd build-tsan && ../configure --enable-tsan --enable-werror

# Every Linux-specific feature check forced off (configure.ac, "portable
# fallbacks"): the code paths macOS and the BSDs take, tested on Linux.
build-portable/Makefile: configure
	mkdir -p build-portable && cd build-portable && ../configure --enable-portable --enable-werror

build: deps build/Makefile
	$(MAKE) -C build -j$(JOBS)

test check: test-deps
	$(MAKE) test-plain
	$(MAKE) test-fuzz
	$(MAKE) test-asan
	$(MAKE) test-tsan
	$(MAKE) test-portable
	$(MAKE) test-windows
	@./scripts/test-summary.sh build build-asan build-tsan build-portable build-win/test-windows.log

test-plain: build/Makefile
	$(MAKE) -C build -j$(JOBS) check || { cat build/test-suite.log; exit 1; }

test-asan: build-asan/Makefile
	$(MAKE) -C build-asan -j$(JOBS) check || { cat build-asan/test-suite.log; exit 1; }

test-tsan: build-tsan/Makefile
	$(MAKE) -C build-tsan -j$(JOBS) check || { cat build-tsan/test-suite.log; exit 1; }

test-portable: build-portable/Makefile
	$(MAKE) -C build-portable -j$(JOBS) check || { cat build-portable/test-suite.log; exit 1; }

# libFuzzer on every parser for a few seconds (longer: tests/fuzz/build.sh 600).
FUZZ_SECONDS ?= 15
test-fuzz: build/Makefile
	./tests/fuzz/build.sh $(FUZZ_SECONDS)

tsan: test-deps
	$(MAKE) test-tsan

run: build
	./build/memcached -l 127.0.0.1 -p 11211 $$( [ "$$(id -u)" = 0 ] && echo "-u root" ) $(ARGS)

install: build
	$(MAKE) -C build install prefix=$(PREFIX) DESTDIR=$(DESTDIR)

bench: build
	./bench/compare.sh

# Windows: one static x86_64 build-win/memcached.exe, cross-compiled with
# mingw-w64 (configure.ac, "Windows"); its libevent (Debian's source
# package) and xxhash.h go to build-win/deps once (scripts/build-win-deps.sh).
# Prints its own wall time.
WIN_HOST = x86_64-w64-mingw32
WIN_DEPS = $(CURDIR)/build-win/deps

windows:
	@start=$$(date +%s); \
	$(MAKE) --no-print-directory windows-build; rc=$$?; \
	echo "make windows: $$(( $$(date +%s) - start ))s, exit $$rc"; exit $$rc

windows-build: configure
	@./scripts/deps.sh windows
	@./scripts/build-win-deps.sh $(WIN_DEPS)
	$(MAKE) build-win/Makefile
	$(MAKE) -C build-win -j$(JOBS) memcached.exe
	@ls -l build-win/memcached.exe

# memcached.exe under Wine (tests/windows/run.sh; doc/service.md, "How it
# is tested"); the log is build-win/test-windows.log.
test-windows: windows
	@./tests/windows/run.sh build-win/memcached.exe > build-win/test-windows.log 2>&1; rc=$$?; \
	grep -v '^PASS' build-win/test-windows.log; exit $$rc

build-win/Makefile: configure
	mkdir -p build-win && cd build-win && ../configure --host=$(WIN_HOST) \
	    CC=$(WIN_HOST)-gcc-posix PKG_CONFIG=pkg-config PKG_CONFIG_PATH= \
	    PKG_CONFIG_LIBDIR=$(WIN_DEPS)/lib/pkgconfig \
	    CPPFLAGS=-I$(WIN_DEPS)/include LDFLAGS=-L$(WIN_DEPS)/lib

# Debian package (doc/service.md, "Debian package"): build-deb/ holds the
# .deb, the source package, lintian.txt and test-deb's cached base root.
deb-deps:
	@./scripts/deps.sh deb

deb: deb-deps
	./scripts/build-deb.sh

# Not part of `make test`: it needs root and a Debian mirror, and takes two
# package builds (see doc/service.md).
test-deb: deb
	./scripts/test-deb.sh

clean:
	-$(MAKE) -C build clean

distclean:
	rm -rf build build-asan build-tsan build-portable build-win build-deb configure Makefile.in aclocal.m4 autom4te.cache build-aux config.h.in
