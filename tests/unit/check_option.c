/*
 * check_option.c -- unit tests for src/config/option.c: defaults, every
 * option letter and long name, -o lists, sizes, validation messages, the
 * config file, reload, "stats settings" and the generated documents.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "option.h"

#ifndef OPTION_SRCDIR
#define OPTION_SRCDIR "."
#endif

static struct settings s;
static char err[512];
static char tmppath[64];

static void setup(void)
{
    memset(&s, 0, sizeof(s));
    err[0] = '\0';
    tmppath[0] = '\0';
    unsetenv("MEMCACHED_CONFIG");
}

static void teardown(void)
{
    option_free(&s);
    if (tmppath[0] != '\0')
        unlink(tmppath);
    unsetenv("MEMCACHED_CONFIG");
}

/* Parse a space-separated command line (argv[0] is added). */
static enum option_result parse(const char *line)
{
    char buf[1024], *argv[64], *p;
    int argc = 0;

    snprintf(buf, sizeof(buf), "%s", line);
    argv[argc++] = "memcached";
    for (p = strtok(buf, " "); p != NULL && argc < 63; p = strtok(NULL, " "))
        argv[argc++] = p;
    argv[argc] = NULL;
    option_free(&s);
    return option_parse(&s, argc, argv, err, sizeof(err));
}

/* Expect line to fail with exactly msg. */
static void fails(const char *line, const char *msg)
{
    enum option_result r = parse(line);
    ck_assert_msg(r == OPTION_ERROR, "\"%s\": result %d, want error", line, r);
    ck_assert_msg(strcmp(err, msg) == 0, "\"%s\": got '%s', want '%s'", line,
                  err, msg);
}

static void ok(const char *line)
{
    enum option_result r = parse(line);
    ck_assert_msg(r == OPTION_OK, "\"%s\": result %d: %s", line, r, err);
}

/* Write content to a fresh temp file; its name is in tmppath. */
static const char *write_file(const char *content)
{
    int fd;
    FILE *f;

    if (tmppath[0] != '\0')
        unlink(tmppath);
    snprintf(tmppath, sizeof(tmppath), "/tmp/check_option_XXXXXX");
    fd = mkstemp(tmppath);
    ck_assert_int_ge(fd, 0);
    f = fdopen(fd, "w");
    ck_assert_ptr_nonnull(f);
    fputs(content, f);
    fclose(f);
    return tmppath;
}

/* --- defaults ------------------------------------------------------------ */

START_TEST(test_defaults)
{
    option_defaults(&s);
    ck_assert_int_eq(s.port, 11211);
    ck_assert_int_eq(s.udp_port, 0);
    ck_assert_ptr_null(s.socketpath);
    ck_assert_int_eq(s.access, 0700);
    ck_assert_int_eq(s.nlisten, 1);
    ck_assert_str_eq(s.listen[0], "127.0.0.1");
    ck_assert_int_eq(s.backlog, 1024);
    ck_assert(!s.daemonize && !s.maxcore && !s.lock_memory && !s.enable_shutdown);
    ck_assert_int_eq(s.verbose, 0);
    ck_assert_uint_eq(s.maxbytes, 64u * 1024 * 1024);
    ck_assert(s.evict_to_free && s.use_cas && s.flush_enabled && s.dump_enabled);
    ck_assert(s.watch_enabled && s.maxconns_fast && s.hash_expand);
    ck_assert(s.lru_crawler && s.lru_maintainer && s.modern);
    ck_assert(s.factor == 1.25);
    ck_assert_int_eq(s.chunk_size, 48);
    ck_assert_uint_eq(s.item_size_max, 1024 * 1024);
    ck_assert_uint_eq(s.slab_chunk_max, 512 * 1024);
    ck_assert_uint_eq(s.slab_page_size, 1024 * 1024);
    ck_assert_int_eq(s.maxconns, 1024);
    ck_assert_int_eq(s.num_threads, 4);
    ck_assert_int_eq(s.reqs_per_event, 20);
    ck_assert_int_eq(s.idle_timeout, 0);
    ck_assert_int_eq(s.binding_protocol, 0);
    ck_assert_int_eq(s.hashpower_init, 0);
    ck_assert_int_eq(s.slab_reassign, 1);
    ck_assert_int_eq(s.slab_automove, 1);
    ck_assert_int_eq(s.lru_crawler_sleep, 100);
    ck_assert_int_eq(s.hot_lru_pct, 20);
    ck_assert_int_eq(s.warm_lru_pct, 40);
    ck_assert_int_eq(s.temporary_ttl, 61);
    ck_assert(!s.temp_lru && !s.detail_enabled);
    ck_assert_int_eq(s.prefix_delimiter, ':');
    ck_assert_uint_eq(s.watcher_logbuf_size, 256 * 1024);
    ck_assert_uint_eq(s.worker_logbuf_size, 64 * 1024);
    ck_assert_str_eq(s.hash_algorithm, "xxh3");
    ck_assert_ptr_null(s.snapshot_path);
    ck_assert(s.snapshot_on_shutdown && s.snapshot_load && !s.snapshot_refuse_corrupt);
    ck_assert_ptr_null(s.warnings);
    ck_assert_ptr_null(s.config_file);
    ok("");
    ck_assert_int_eq(s.port, 11211);
}
END_TEST

START_TEST(test_version_help)
{
    ck_assert_ptr_nonnull(freopen("/dev/null", "w", stdout));
    ck_assert_str_eq(OPTION_VERSION_STRING, "memcached " MEMCACHED_COMPAT_VERSION
                     "-ng-" PACKAGE_VERSION);
    ck_assert_str_eq(OPTION_VERSION, "1.6.18-ng-0.1.0");
    ck_assert_int_eq(parse("-V"), OPTION_EXIT_OK);
    ck_assert_int_eq(parse("--version"), OPTION_EXIT_OK);
    ck_assert_int_eq(parse("-h"), OPTION_EXIT_OK);
    ck_assert_int_eq(parse("--help"), OPTION_EXIT_OK);
    ck_assert_int_eq(parse("-i"), OPTION_EXIT_OK);
}
END_TEST

START_TEST(test_usage_text)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);

    option_usage(f);
    fclose(f);
    ck_assert_msg(strncmp(buf, OPTION_VERSION_STRING "\n", strlen(OPTION_VERSION_STRING) + 1) == 0,
                  "%s", buf);
    ck_assert_ptr_nonnull(strstr(buf, "\n-p, --port=<num>          TCP port to listen on"));
    ck_assert_ptr_nonnull(strstr(buf, "\n-m, --memory-limit=<num>  item memory in megabytes"));
    ck_assert_ptr_nonnull(strstr(buf, "\n-vv                       very verbose"));
    ck_assert_ptr_nonnull(strstr(buf, "\n   - idle_timeout:        timeout for idle"));
    ck_assert_ptr_nonnull(strstr(buf, "(default: 127.0.0.1)"));
    ck_assert_ptr_null(strstr(buf, "dump-man"));
    free(buf);
}
END_TEST

/* --- letters and long names ---------------------------------------------- */

START_TEST(test_letters)
{
    ok("-p 1234 -U 0 -s /tmp/mc.sock -a 755 -A -l 10.0.0.1 -d -r -u nobody "
       "-m 128 -M -c 99 -k -v -P /tmp/mc.pid -f 1.5 -n 64 -L -D # -t 8 -R 7 "
       "-C -b 77 -B ascii -I 2m -F -X -W -o idle_timeout=9");
    ck_assert_int_eq(s.port, 1234);
    ck_assert_str_eq(s.socketpath, "/tmp/mc.sock");
    ck_assert_int_eq(s.access, 0755);
    ck_assert(s.enable_shutdown && s.daemonize && s.maxcore && s.lock_memory);
    ck_assert_int_eq(s.nlisten, 1);
    ck_assert_str_eq(s.listen[0], "10.0.0.1");
    ck_assert_str_eq(s.username, "nobody");
    ck_assert_uint_eq(s.maxbytes, 128u * 1024 * 1024);
    ck_assert(!s.evict_to_free && !s.use_cas && !s.flush_enabled &&
              !s.dump_enabled && !s.watch_enabled);
    ck_assert_int_eq(s.maxconns, 99);
    ck_assert_int_eq(s.verbose, 1);
    ck_assert_str_eq(s.pidfile, "/tmp/mc.pid");
    ck_assert(s.factor == 1.5);
    ck_assert_int_eq(s.chunk_size, 64);
    ck_assert(s.prealloc);
    ck_assert_int_eq(s.prefix_delimiter, '#');
    ck_assert(s.detail_enabled);
    ck_assert_int_eq(s.num_threads, 8);
    ck_assert_int_eq(s.reqs_per_event, 7);
    ck_assert_int_eq(s.backlog, 77);
    ck_assert_int_eq(s.binding_protocol, 1);
    ck_assert_uint_eq(s.item_size_max, 2u * 1024 * 1024);
    ck_assert_int_eq(s.idle_timeout, 9);
    /* UDP: off by default, any port when asked for */
    ok("-U 11211");
    ck_assert_int_eq(s.udp_port, 11211);
    ok("--udp-port=11212 -l 127.0.0.1");
    ck_assert_int_eq(s.udp_port, 11212);
}
END_TEST

START_TEST(test_long_names)
{
    ok("--port=1234 --udp-port=0 --unix-socket=/tmp/s --unix-mask=711 "
       "--enable-shutdown --listen=::1 --daemon --enable-coredumps --user=mc "
       "--memory-limit=128 --disable-evictions --conn-limit=99 --lock-memory "
       "--verbose --pidfile=/tmp/p --slab-growth-factor=1.5 --slab-min-size=64 "
       "--enable-largepages --threads=8 --max-reqs-per-event=7 --disable-cas "
       "--listen-backlog=77 --protocol=auto --max-item-size=512k "
       "--disable-flush-all --disable-dumping --disable-watch "
       "--extended=idle_timeout=9 --logfile=/tmp/log --prefix-delimiter=/");
    ck_assert_int_eq(s.port, 1234);
    ck_assert_str_eq(s.socketpath, "/tmp/s");
    ck_assert_int_eq(s.access, 0711);
    ck_assert(s.enable_shutdown && s.daemonize && s.maxcore && s.lock_memory);
    ck_assert_str_eq(s.listen[0], "::1");
    ck_assert_str_eq(s.username, "mc");
    ck_assert_uint_eq(s.maxbytes, 128u * 1024 * 1024);
    ck_assert(!s.evict_to_free && !s.use_cas && !s.flush_enabled &&
              !s.dump_enabled && !s.watch_enabled);
    ck_assert_int_eq(s.maxconns, 99);
    ck_assert_int_eq(s.verbose, 1);
    ck_assert_str_eq(s.pidfile, "/tmp/p");
    ck_assert(s.factor == 1.5);
    ck_assert_int_eq(s.chunk_size, 64);
    ck_assert(s.prealloc);
    ck_assert_int_eq(s.num_threads, 8);
    ck_assert_int_eq(s.reqs_per_event, 7);
    ck_assert_int_eq(s.backlog, 77);
    ck_assert_int_eq(s.binding_protocol, 0);
    ck_assert_uint_eq(s.item_size_max, 512u * 1024);
    ck_assert_int_eq(s.idle_timeout, 9);
    ck_assert_str_eq(s.logfile, "/tmp/log");
    ck_assert_int_eq(s.prefix_delimiter, '/');
    /* separate-word values and underscores for dashes */
    ok("--port 99 --memory_limit 32 --threads 2");
    ck_assert_int_eq(s.port, 99);
    ck_assert_uint_eq(s.maxbytes, 32u * 1024 * 1024);
    ck_assert_int_eq(s.num_threads, 2);
}
END_TEST

START_TEST(test_clusters_and_verbose)
{
    ok("-vv");
    ck_assert_int_eq(s.verbose, 2);
    ok("-vvv");
    ck_assert_int_eq(s.verbose, 3);
    ok("-v -v");
    ck_assert_int_eq(s.verbose, 2);
    ok("-dvk");
    ck_assert(s.daemonize && s.lock_memory);
    ck_assert_int_eq(s.verbose, 1);
    ok("-m64 -p11212");
    ck_assert_uint_eq(s.maxbytes, 64u * 1024 * 1024);
    ck_assert_int_eq(s.port, 11212);
    ok("--verbose=2");
    ck_assert_int_eq(s.verbose, 2);
    ok("-p 1 -p 2");                /* last one wins on the command line */
    ck_assert_int_eq(s.port, 2);
}
END_TEST

START_TEST(test_listen)
{
    ok("-l 10.0.0.1,10.0.0.2 -l [::1]:11311");
    ck_assert_int_eq(s.nlisten, 3);
    ck_assert_str_eq(s.listen[0], "10.0.0.1");
    ck_assert_str_eq(s.listen[1], "10.0.0.2");
    ck_assert_str_eq(s.listen[2], "[::1]:11311");
    fails("-l a,,b", "listen: \"a,,b\" has an empty address");
    {
        char line[1024] = "-l a";
        int i;
        for (i = 0; i < OPTION_MAX_LISTEN; i++)
            strcat(line, ",a");
        fails(line, "listen: too many addresses (at most 32)");
    }
}
END_TEST

/* --- -o lists ------------------------------------------------------------ */

START_TEST(test_extended)
{
    ok("-o idle_timeout=5,hashpower=20,no_lru_crawler,lru_crawler_sleep=50,"
       "lru_crawler_tocrawl=1000,read_buf_mem_limit=8,no_lru_maintainer,"
       "hot_lru_pct=10,warm_lru_pct=30,hot_max_factor=0.5,warm_max_factor=3,"
       "temporary_ttl=30,slab_chunk_max=256k,track_sizes,no_hashexpand,"
       "no_maxconns_fast,slab_automove=2,tail_repair_time=0,"
       "watcher_logbuf_size=128,worker_logbuf_size=32");
    ck_assert_int_eq(s.idle_timeout, 5);
    ck_assert_int_eq(s.hashpower_init, 20);
    ck_assert(!s.lru_crawler && !s.lru_maintainer && !s.hash_expand && !s.maxconns_fast);
    ck_assert_int_eq(s.lru_crawler_sleep, 50);
    ck_assert_uint_eq(s.lru_crawler_tocrawl, 1000);
    ck_assert_int_eq(s.read_buf_mem_limit, 8);
    ck_assert_int_eq(s.hot_lru_pct, 10);
    ck_assert_int_eq(s.warm_lru_pct, 30);
    ck_assert(s.hot_max_factor == 0.5 && s.warm_max_factor == 3.0);
    ck_assert_int_eq(s.temporary_ttl, 30);
    ck_assert(s.temp_lru && s.track_sizes);
    ck_assert_uint_eq(s.slab_chunk_max, 256 * 1024);
    ck_assert_int_eq(s.slab_automove, 2);
    ck_assert_uint_eq(s.watcher_logbuf_size, 128 * 1024);
    ck_assert_uint_eq(s.worker_logbuf_size, 32 * 1024);
    ok("-o maxconns_fast,lru_crawler,lru_maintainer -o slab_reassign=no");
    ck_assert(s.maxconns_fast && s.lru_crawler && s.lru_maintainer);
    ck_assert_int_eq(s.slab_reassign, 0);
    ok("-o no_modern");
    ck_assert(!s.modern && !s.maxconns_fast && !s.lru_crawler && !s.lru_maintainer);
    ck_assert_int_eq(s.slab_reassign, 0);
    ck_assert_int_eq(s.slab_automove, 0);
    ok("-o modern");
    ck_assert(s.modern);
    ok("-o snapshot_path=/var/lib/mc.snap,snapshot_interval=300,"
       "no_snapshot_on_shutdown,snapshot_load=no,snapshot_refuse_corrupt");
    ck_assert_str_eq(s.snapshot_path, "/var/lib/mc.snap");
    ck_assert_int_eq(s.snapshot_interval, 300);
    ck_assert(!s.snapshot_on_shutdown && !s.snapshot_load && s.snapshot_refuse_corrupt);
    ok("");
    ck_assert(s.hotkeys);           /* on by default */
    ck_assert_uint_eq(s.hotkeys_sample, 16);
    ck_assert_uint_eq(s.hotkeys_size, 256);
    ok("-o no_hotkeys,hotkeys_sample=1,hotkeys_size=4096");
    ck_assert(!s.hotkeys);
    ck_assert_uint_eq(s.hotkeys_sample, 1);
    ck_assert_uint_eq(s.hotkeys_size, 4096);
    ok("-o hotkeys=off");
    ck_assert(!s.hotkeys);
    ok("-o hash_algorithm=xxh3");
    ck_assert_ptr_null(s.warnings);
    ok("-o hash_algorithm=murmur3");
    ck_assert_str_eq(s.warnings, "hash_algorithm=murmur3 accepted; this server "
                     "always uses xxh3\n");
    ok("-o tail_repair_time=60");
    ck_assert_str_eq(s.warnings, "tail_repair_time is accepted but has no effect\n");
    ok("-t 100");
    ck_assert_ptr_nonnull(s.warnings);
}
END_TEST

/* --- sizes --------------------------------------------------------------- */

START_TEST(test_sizes)
{
    ok("-m 1g");
    ck_assert_uint_eq(s.maxbytes, 1024u * 1024 * 1024);
    ok("-m 2048k");
    ck_assert_uint_eq(s.maxbytes, 2u * 1024 * 1024);
    ok("-m 100M");
    ck_assert_uint_eq(s.maxbytes, 100u * 1024 * 1024);
    ok("-m 100mb");
    ck_assert_uint_eq(s.maxbytes, 100u * 1024 * 1024);
    ok("-I 1k");
    ck_assert_uint_eq(s.item_size_max, 1024);
    ck_assert_uint_eq(s.slab_chunk_max, 1024);  /* lowered to fit */
    ok("-I 4096");
    ck_assert_uint_eq(s.item_size_max, 4096);
    ok("-I 1024m -m 2048");
    ck_assert_uint_eq(s.item_size_max, 1024u * 1024 * 1024);
    ok("-I 1m -m 2");
    ok("-o slab_chunk_max=1k");
    ck_assert_uint_eq(s.slab_chunk_max, 1024);
    fails("-m 12q", "memory-limit: \"12q\" is not a size");
    fails("-m -5", "memory-limit: \"-5\" is not a size");
    fails("-I 1x", "max-item-size: \"1x\" is not a size");
}
END_TEST

/* --- limits: sizes and counts the machine cannot hold ---------------------- */

/* The -m "too large" message for value v. */
static const char *maxbytes_msg(const char *v)
{
    static char m[256];
    uint64_t max = OPTION_MAXBYTES_MAX;

    snprintf(m, sizeof(m), "memory-limit: \"%s\" is too large: at most %llum "
             "(%llu %s) on this system", v, (unsigned long long)(max >> 20),
             (unsigned long long)(max >> (max >= (uint64_t)1 << 40 ? 40 : 30)),
             max >= (uint64_t)1 << 40 ? "TiB" : "GiB");
    return m;
}

static uint64_t phys_bytes(void)
{
    long pages = sysconf(_SC_PHYS_PAGES), psize = sysconf(_SC_PAGESIZE);
    return pages > 0 && psize > 0 ? (uint64_t)pages * (uint64_t)psize : 0;
}

START_TEST(test_limit_memory)
{
    char line[128], v[64];
    uint64_t max_mb = OPTION_MAXBYTES_MAX >> 20;

    /* the reported bug: 4294967297 MB used to be accepted; the slab
     * allocator then mapped one page and -L cleared 4 PB */
    fails("-m 4294967297 -L", maxbytes_msg("4294967297"));
    fails("-m 4294967297", maxbytes_msg("4294967297"));
    /* 2^44 MB = 2^64 bytes: used to wrap, now too large */
    fails("-m 17592186044416", maxbytes_msg("17592186044416"));
    fails("-m 17592186044415", maxbytes_msg("17592186044415"));
    fails("-m 99999999999999999999", maxbytes_msg("99999999999999999999"));
    fails("-m 18446744073709551615g", maxbytes_msg("18446744073709551615g"));
    fails("-m 70000g", maxbytes_msg("70000g"));
    /* the largest accepted value, exactly */
    snprintf(line, sizeof(line), "-m %llu", (unsigned long long)max_mb);
    ok(line);
    ck_assert_uint_eq(s.maxbytes, OPTION_MAXBYTES_MAX);
    snprintf(v, sizeof(v), "%llu", (unsigned long long)max_mb + 1);
    snprintf(line, sizeof(line), "-m %s", v);
    fails(line, maxbytes_msg(v));
    /* the same through a config file, and a reload keeps the old settings */
    const char *path = write_file("memory-limit = 4294967297\n");
    snprintf(line, sizeof(line), "--config=%s", path);
    ck_assert_int_eq(parse(line), OPTION_ERROR);
    char want[512];
    snprintf(want, sizeof(want), "%s:1: %s", path, maxbytes_msg("4294967297"));
    ck_assert_str_eq(err, want);
    struct settings base, out;
    option_defaults(&base);
    out = base;
    ck_assert_int_eq(option_load_file(&base, path, &out, err, sizeof(err)), -1);
    ck_assert_str_eq(err, want);
    ck_assert_uint_eq(out.maxbytes, 64u << 20);
    option_free(&base);

    /* -L touches all of -m at start: not more than the machine has */
    uint64_t phys = phys_bytes();
    if (phys != 0 && (phys >> 20) + 1 <= max_mb) {
        unsigned long long m = (unsigned long long)(phys >> 20) + 1;
        snprintf(line, sizeof(line), "-m %llu -L", m);
        snprintf(want, sizeof(want), "enable-largepages: memory-limit (%llum) is more "
                 "than the physical memory (%llum); -L allocates all of it at start",
                 m, (unsigned long long)(phys >> 20));
        fails(line, want);
        snprintf(line, sizeof(line), "-m %llu", m);
        ok(line);                   /* without -L memory is only reserved */
        ck_assert(!s.prealloc);
    }
    ok("-m 64 -L");
    ck_assert(s.prealloc);
}
END_TEST

START_TEST(test_limit_items_slabs)
{
    /* -I: range 1k..1g whatever the spelling (memcached's sentences) */
    fails("-I 99999999999999999999", "max-item-size: \"99999999999999999999\": Cannot "
          "set item size limit higher than a gigabyte.");
    fails("-I 4g -m 16g", "max-item-size: \"4g\": Cannot set item size limit higher "
          "than a gigabyte.");
    fails("-I 18446744073709551615k", "max-item-size: \"18446744073709551615k\": Cannot "
          "set item size limit higher than a gigabyte.");
    fails("-I 1023", "max-item-size: \"1023\": Item max size cannot be less than 1024 bytes.");
    ok("-I 1024m -m 2048");
    /* below 512k -I is also the largest chunk: the allocator wants 8-byte steps */
    fails("-I 1025", "max-item-size: 1025 must be a multiple of 8 when below "
          "slab_chunk_max (524288)");
    ok("-I 1032");
    ck_assert_uint_eq(s.slab_chunk_max, 1032);
    /* slab_chunk_max: within a 1 MB page, 8-byte steps (memcached's
     * sentence above the page size) */
    fails("-I 2m -o slab_chunk_max=2m", "slab_chunk_max: \"2m\": slab_chunk_max (bytes: "
          "2097152) must divide evenly into 1048576 (slab_page_size)");
    fails("-o slab_chunk_max=4294967297", "slab_chunk_max: \"4294967297\": slab_chunk_max "
          "(bytes: 4294967297) must divide evenly into 1048576 (slab_page_size)");
    fails("-o slab_chunk_max=99999999999999999999", "slab_chunk_max: "
          "\"99999999999999999999\": slab_chunk_max (bytes: 18446744073709551615) must "
          "divide evenly into 1048576 (slab_page_size)");
    fails("-o slab_chunk_max=16", "slab_chunk_max: \"16\" must be at least 1k");
    fails("-I 1028k -o slab_chunk_max=1028", "slab_chunk_max: \"1028\" must be a multiple of 8");
    ok("-I 2m -o slab_chunk_max=1m");
    ck_assert_uint_eq(s.slab_chunk_max, 1024u * 1024);
    /* -n: the first class (-n + 48) is at most half of the largest chunk */
    ok("-n 262096");
    fails("-n 262097", "slab-min-size: 262097 must be at most 262096 (slab_chunk_max "
          "524288 / 2 - 48)");
    fails("-n 2147483647", "slab-min-size: 2147483647 must be at most 262096 "
          "(slab_chunk_max 524288 / 2 - 48)");
    fails("-n 2147483648", "slab-min-size: \"2147483648\" is too large");
    fails("-n 99999999999999999999", "slab-min-size: \"99999999999999999999\" is too large");
    fails("-I 1k -n 465", "slab-min-size: 465 must be at most 464 (slab_chunk_max "
          "1024 / 2 - 48)");
    ok("-I 1k -n 464");
    /* -f: any finite factor above 1 (a huge one gives a single class) */
    ok("-f 1e308");
    fails("-f 1e400", "slab-growth-factor: \"1e400\" is not a number");
    fails("-f inf", "slab-growth-factor: \"inf\" is not a number");
    fails("-f nan", "slab-growth-factor: \"nan\" is not a number");
    /* hashpower: 12..32 (8 bytes a bucket; memcached's sentences) */
    ok("-o hashpower=32");
    ck_assert_int_eq(s.hashpower_init, 32);
    ok("-o hashpower=12");
    fails("-o hashpower=33", "hashpower: \"33\": Initial hashtable multiplier of 33 is too "
          "high (at most 32)");
    fails("-o hashpower=63", "hashpower: \"63\": Initial hashtable multiplier of 63 is too "
          "high (at most 32)");
    fails("-o hashpower=99999999999", "hashpower: \"99999999999\": Initial hashtable multiplier of "
          "99999999999 is too high (at most 32)");
    fails("-o hashpower=11", "hashpower: \"11\": Initial hashtable multiplier of 11 is too "
          "low (at least 12, or 0 for the default)");
    fails("-o hashpower=-1", "hashpower: \"-1\" must be at least 0");
}
END_TEST

START_TEST(test_limit_counts)
{
    char want[128];

    /* -c, -R, -b: int counts */
    ok("-c 2147483647 -R 2147483647 -b 2147483647");
    ck_assert_int_eq(s.maxconns, 2147483647);
    fails("-c 2147483648", "conn-limit: \"2147483648\" is too large");
    fails("-c 99999999999999999999", "conn-limit: \"99999999999999999999\" is too large");
    fails("-c -99999999999999999999", "conn-limit: \"-99999999999999999999\" must be at least 1");
    fails("-R 4294967297", "max-reqs-per-event: \"4294967297\" is too large");
    fails("-b 4294967297", "listen-backlog: \"4294967297\" is too large");
    /* -t: at most OPTION_THREADS_MAX */
    snprintf(want, sizeof(want), "-t %d", OPTION_THREADS_MAX);
    ok(want);
    ck_assert_int_eq(s.num_threads, OPTION_THREADS_MAX);
    snprintf(want, sizeof(want), "threads: \"100000\" is too many: at most %d",
             OPTION_THREADS_MAX);
    fails("-t 100000", want);
    snprintf(want, sizeof(want), "threads: \"4294967297\" is too many: at most %d",
             OPTION_THREADS_MAX);
    fails("-t 4294967297", want);
    /* read sizes and other counts */
    ok("-o read_buf_mem_limit=2147483647");
    snprintf(want, sizeof(want), "read_buf_max: \"4294967297\" is too large: at most "
             "%llum on this system", (unsigned long long)(OPTION_MAXBYTES_MAX >> 20));
    fails("-o read_buf_max=4294967297", want);
    ok("-o read_buf_max=1024");
    ck_assert_uint_eq(s.read_buf_max, 1024u << 20);
    fails("-o read_buf_mem_limit=2147483648", "read_buf_mem_limit: \"2147483648\" is too large");
    fails("-o lru_crawler_tocrawl=4294967296",
          "lru_crawler_tocrawl: \"4294967296\" must be between 0 and 4294967295");
    fails("-o worker_logbuf_size=4194304", "worker_logbuf_size: \"4194304\" is too large");
    fails("-o idle_timeout=4294967297", "idle_timeout: \"4294967297\" is too large");
    fails("-o snapshot_interval=99999999999999999999",
          "snapshot_interval: \"99999999999999999999\" is too large");
}
END_TEST

/* --- validation ---------------------------------------------------------- */

START_TEST(test_errors)
{
    fails("-m abc", "memory-limit: \"abc\" is not a size");
    fails("-m 0", "memory-limit: \"0\" must be at least 1m");
    fails("-m 1", "max-item-size: 1m cannot be larger than half of memory-limit (1m)");
    fails("-I 512", "max-item-size: \"512\": Item max size cannot be less than 1024 bytes.");
    fails("-I 2000m -m 8000", "max-item-size: \"2000m\": Cannot set item size limit "
          "higher than a gigabyte.");
    fails("-I 2m -m 2", "max-item-size: 2m cannot be larger than half of memory-limit (2m)");
    fails("-I 600k", "max-item-size: 614400 must be a multiple of slab_chunk_max (524288)");
    fails("-I 64k -o slab_chunk_max=128k",
          "slab_chunk_max: 131072 cannot be larger than max-item-size (65536)");
    fails("-o slab_chunk_max=2000",
          "max-item-size: 1048576 must be a multiple of slab_chunk_max (2000)");
    fails("-o slab_chunk_max=abc", "slab_chunk_max: \"abc\" is not a size");
    fails("-t 0", "threads: \"0\" must be at least 1");
    fails("-t -1", "threads: \"-1\" must be at least 1");
    fails("-t abc", "threads: \"abc\" is not an integer");
    fails("-t 4x", "threads: \"4x\" is not an integer");
    fails("-c 0", "conn-limit: \"0\" must be at least 1");
    fails("-c abc", "conn-limit: \"abc\" is not an integer");
    fails("-R 0", "max-reqs-per-event: \"0\" must be at least 1");
    fails("-f 1.0", "slab-growth-factor: \"1.0\" must be greater than 1");
    fails("-f 0.5", "slab-growth-factor: \"0.5\" must be greater than 1");
    fails("-f abc", "slab-growth-factor: \"abc\" is not a number");
    fails("-n 0", "slab-min-size: \"0\" must be at least 1");
    fails("-n 1000000", "slab-min-size: 1000000 must be at most 262096 (slab_chunk_max "
          "524288 / 2 - 48)");
    fails("-b 0", "listen-backlog: \"0\" must be at least 1");
    fails("-p 70000", "port: \"70000\" must be between 0 and 65535");
    fails("-p abc", "port: \"abc\" is not an integer");
    fails("-a 999", "unix-mask: \"999\" is not an octal mode");
    fails("-a 1777", "unix-mask: \"1777\" must be between 0 and 511");
    fails("-U 70000", "udp-port: \"70000\" must be between 0 and 65535");
    fails("-B foo", "protocol: \"foo\" is not one of auto, ascii, binary");
    /* SASL lives in the binary protocol only (memcached's rules) */
    fails("-S -B ascii", "enable-sasl: You cannot allow the ASCII protocol while using SASL.");
    fails("-S -B auto", "enable-sasl: You cannot allow the ASCII protocol while using SASL.");
    fails("-S -U 11211", "enable-sasl: Cannot enable UDP while using binary SASL authentication.");
    /* -Y speaks the text protocol; TLS options are checked like the rest */
    fails("-Y /tmp/auth -S", "auth-file: ASCII authentication (-Y) needs the ASCII protocol "
          "(not -S or -B binary)");
    fails("-Y /tmp/auth -B binary", "auth-file: ASCII authentication (-Y) needs the ASCII "
          "protocol (not -S or -B binary)");
    fails("-o ssl_verify_mode=4", "ssl_verify_mode: \"4\" must be between 0 and 3");
    fails("-o ssl_min_version=tlsv1.3", "ssl_min_version: \"tlsv1.3\" is not an integer");
    fails("-o ssl_keyformat=PEM", "ssl_keyformat: \"PEM\" is not an integer");
    fails("-e /tmp/mem", "memory-file: memory files are not supported by this "
          "server; use -o snapshot_path for a restartable cache");
    fails("-D ab", "prefix-delimiter: \"ab\" is not a single character");
    fails("-o foo", "foo: unknown option");
    fails("-o idle_timeout=1,,x", "extended: \"idle_timeout=1,,x\" has an empty option");
    fails("-o ext_path=/x:1G", "ext_path: extstore is not supported by this server");
    fails("-o idle_timeout", "idle_timeout: missing value");
    fails("-o idle_timeout=abc", "idle_timeout: \"abc\" is not an integer");
    fails("-o idle_timeout=-1", "idle_timeout: \"-1\" must be at least 0");
    fails("-o hashpower=5", "hashpower: \"5\": Initial hashtable multiplier of 5 is too "
          "low (at least 12, or 0 for the default)");
    fails("-o hashpower=64", "hashpower: \"64\": Initial hashtable multiplier of 64 is "
          "too high (at most 32)");
    fails("-o hash_algorithm=foo", "hash_algorithm: \"foo\" is not one of jenkins, murmur3, xxh3");
    fails("-o hot_lru_pct=90", "hot_lru_pct: \"90\" must be between 2 and 79");
    fails("-o warm_lru_pct=1", "warm_lru_pct: \"1\" must be between 2 and 79");
    fails("-o hot_lru_pct=50,warm_lru_pct=50",
          "hot_lru_pct: hot_lru_pct + warm_lru_pct (100) cannot be more than 80");
    fails("-o hot_max_factor=0", "hot_max_factor: \"0\" must be greater than 0");
    fails("-o lru_crawler_sleep=2000000",
          "lru_crawler_sleep: \"2000000\" must be between 0 and 1000000");
    fails("-o lru_crawler_tocrawl=abc", "lru_crawler_tocrawl: \"abc\" is not an integer");
    fails("-o slab_automove=5", "slab_automove: \"5\" must be between 0 and 2");
    fails("-o tail_repair_time=5", "tail_repair_time: \"5\" must be 0 (off) or at least 10");
    fails("-o track_sizes=maybe", "track_sizes: \"maybe\" is not yes or no");
    fails("-o hotkeys_sample=0", "hotkeys_sample: \"0\" must be between 1 and 1000000");
    fails("-o hotkeys_size=8", "hotkeys_size: \"8\" must be between 16 and 65536");
    fails("-o hotkeys=maybe", "hotkeys: \"maybe\" is not yes or no");
    fails("-o watcher_logbuf_size=abc", "watcher_logbuf_size: \"abc\" is not a size");
    fails("-x", "unrecognized option \"-x\" (see -h)");
    fails("--foo", "unrecognized option \"--foo\" (see -h)");
    fails("--help=1", "help: takes no value");
    fails("-p", "port: missing value");
    fails("--port", "port: missing value");
    fails("stray", "unexpected argument \"stray\"");
    /* features we lack are fine when left off */
    ok("-U 0 -B auto --enable-sasl=no --enable-ssl=no");
    ok("-B binary");
    ok("-S");                       /* binding_protocol becomes binary */
    ok("-S -B binary -U 0");
}
END_TEST

/* --- config file --------------------------------------------------------- */

START_TEST(test_file_name_value)
{
    const char *path = write_file(
        "# a comment\n"
        "\n"
        "port = 12000\n"
        "memory-limit = 256m\n"
        "threads=2\n"
        "  listen = 127.0.0.1,::1  \n"
        "daemon = yes\n"
        "disable-cas = true\n"
        "enable-shutdown\n"
        "idle_timeout = 30\n"
        "no_lru_crawler\n"
        "maxconns_fast = no\n"
        "snapshot_path = \"/var/lib/mc snap\"\n"
        "max-item-size = 2m\n"
        "verbose = 2\n"
        "logfile = /var/log/mc.log\n");
    char arg[128];
    char *argv[] = { "memcached", arg, NULL };

    snprintf(arg, sizeof(arg), "--config=%s", path);
    ck_assert_int_eq(option_parse(&s, 2, argv, err, sizeof(err)), OPTION_OK);
    ck_assert_int_eq(s.port, 12000);
    ck_assert_uint_eq(s.maxbytes, 256u * 1024 * 1024);
    ck_assert_int_eq(s.num_threads, 2);
    ck_assert_int_eq(s.nlisten, 2);
    ck_assert_str_eq(s.listen[1], "::1");
    ck_assert(s.daemonize && !s.use_cas && s.enable_shutdown);
    ck_assert_int_eq(s.idle_timeout, 30);
    ck_assert(!s.lru_crawler && !s.maxconns_fast);
    ck_assert_str_eq(s.snapshot_path, "/var/lib/mc snap");
    ck_assert_uint_eq(s.item_size_max, 2u * 1024 * 1024);
    ck_assert_int_eq(s.verbose, 2);
    ck_assert_str_eq(s.logfile, "/var/log/mc.log");
    ck_assert_str_eq(s.config_file, path);
}
END_TEST

START_TEST(test_file_debian)
{
    char arg[256];
    char *argv[] = { "memcached", arg, NULL };

    snprintf(arg, sizeof(arg), "--config=%s/tests/unit/option_debian.conf", OPTION_SRCDIR);
    ck_assert_msg(option_parse(&s, 2, argv, err, sizeof(err)) == OPTION_OK, "%s", err);
    ck_assert(s.daemonize);
    ck_assert_str_eq(s.logfile, "/var/log/memcached.log");
    ck_assert_uint_eq(s.maxbytes, 64u * 1024 * 1024);
    ck_assert_int_eq(s.port, 11211);
    ck_assert_str_eq(s.username, "memcache");
    ck_assert_int_eq(s.nlisten, 1);
    ck_assert_str_eq(s.listen[0], "127.0.0.1");
    ck_assert_str_eq(s.pidfile, "/var/run/memcached/memcached.pid");
    ck_assert_int_eq(s.verbose, 0);
    ck_assert_int_eq(s.maxconns, 1024);
}
END_TEST

START_TEST(test_file_mixed)
{
    char arg[128];
    char *argv[] = { "memcached", arg, NULL };
    const char *path = write_file(
        "-m 128\n"
        "-vv\n"
        "-v\n"
        "-o idle_timeout=7,hashpower=18\n"
        "--conn-limit=500\n"
        "--threads 3\n"
        "-l 10.0.0.1\n"
        "-l 10.0.0.2\n"
        "-dk\n"
        "enable-coredumps = 1\n"
        "slab_automove 0\n"
        "extended = no_lru_crawler,track_sizes\n");

    snprintf(arg, sizeof(arg), "--config=%s", path);
    ck_assert_msg(option_parse(&s, 2, argv, err, sizeof(err)) == OPTION_OK, "%s", err);
    ck_assert_uint_eq(s.maxbytes, 128u * 1024 * 1024);
    ck_assert_int_eq(s.verbose, 3);
    ck_assert_int_eq(s.idle_timeout, 7);
    ck_assert_int_eq(s.hashpower_init, 18);
    ck_assert_int_eq(s.maxconns, 500);
    ck_assert_int_eq(s.num_threads, 3);
    ck_assert_int_eq(s.nlisten, 2);
    ck_assert(s.daemonize && s.lock_memory && s.maxcore);
    ck_assert_int_eq(s.slab_automove, 0);
    ck_assert(!s.lru_crawler && s.track_sizes);
}
END_TEST

START_TEST(test_file_env_and_override)
{
    const char *path = write_file("memory-limit = 256\nport = 12000\n"
                                  "listen = 10.0.0.1\nthreads = 2\n");

    setenv("MEMCACHED_CONFIG", path, 1);
    ok("-p 13000 -l 10.0.0.9");
    ck_assert_uint_eq(s.maxbytes, 256u * 1024 * 1024);  /* file over default */
    ck_assert_int_eq(s.port, 13000);                     /* argv over file */
    ck_assert_int_eq(s.nlisten, 1);                      /* -l replaces, not appends */
    ck_assert_str_eq(s.listen[0], "10.0.0.9");
    ck_assert_int_eq(s.num_threads, 2);
    ck_assert_str_eq(s.config_file, path);
    /* --config beats the environment; --config comes after other flags */
    setenv("MEMCACHED_CONFIG", "/nonexistent/mc.conf", 1);
    {
        char arg[128], a1[] = "-t", a2[] = "6";
        char *argv[] = { "memcached", a1, a2, arg, NULL };
        snprintf(arg, sizeof(arg), "--config=%s", path);
        option_free(&s);
        ck_assert_int_eq(option_parse(&s, 4, argv, err, sizeof(err)), OPTION_OK);
        ck_assert_int_eq(s.num_threads, 6);
        ck_assert_int_eq(s.port, 12000);
    }
    fails("", "/nonexistent/mc.conf: cannot open: No such file or directory");
    unsetenv("MEMCACHED_CONFIG");
    {
        char a1[] = "--config", a2[] = "/nonexistent/x.conf";
        char *argv[] = { "memcached", a1, a2, NULL };
        option_free(&s);
        ck_assert_int_eq(option_parse(&s, 3, argv, err, sizeof(err)), OPTION_ERROR);
        ck_assert_str_eq(err, "/nonexistent/x.conf: cannot open: No such file or directory");
    }
}
END_TEST

/* option_parse_config: the given file replaces argv's --config and the
 * environment's (SIGHUP after -d moved the cwd); argv still wins. */
START_TEST(test_parse_config_override)
{
    const char *path = write_file("memory-limit = 32\nthreads = 2\n");
    char a1[] = "--config", a2[] = "relative/does-not-exist.conf", a3[] = "-t", a4[] = "5";
    char *argv[] = { "memcached", a1, a2, a3, a4, NULL };

    setenv("MEMCACHED_CONFIG", "/nonexistent/env.conf", 1);
    option_free(&s);
    ck_assert_int_eq(option_parse_config(&s, path, 5, argv, err, sizeof(err)), OPTION_OK);
    ck_assert_uint_eq(s.maxbytes, 32u * 1024 * 1024);
    ck_assert_int_eq(s.num_threads, 5);
    ck_assert_str_eq(s.config_file, path);
    option_free(&s);
    ck_assert_int_eq(option_parse_config(&s, NULL, 5, argv, err, sizeof(err)), OPTION_OK);
    ck_assert_ptr_null(s.config_file);
    ck_assert_uint_eq(s.maxbytes, 64u * 1024 * 1024);
    /* an error names the file given */
    write_file("threads = x\n");
    option_free(&s);
    ck_assert_int_eq(option_parse_config(&s, tmppath, 1, argv, err, sizeof(err)), OPTION_ERROR);
    ck_assert_msg(strstr(err, ":1: threads: ") != NULL && strncmp(err, tmppath, strlen(tmppath)) == 0,
                  "err '%s'", err);
}
END_TEST

/* Load content over the defaults; expect exactly msg (with the path). */
static void file_fails(const char *content, const char *msg)
{
    struct settings base, out;
    char want[512];
    const char *path = write_file(content);

    option_defaults(&base);
    memset(&out, 0x5a, sizeof(out));
    ck_assert_int_eq(option_load_file(&base, path, &out, err, sizeof(err)), -1);
    snprintf(want, sizeof(want), "%s%s", path, msg);
    ck_assert_msg(strcmp(err, want) == 0, "got '%s', want '%s'", err, want);
    ck_assert_int_eq(((unsigned char *)&out)[0], 0x5a);   /* untouched */
    option_free(&base);
}

START_TEST(test_file_errors)
{
    file_fails("port = 1\n# x\nmemory-limit = lots\n",
               ":3: memory-limit: \"lots\" is not a size");
    file_fails("port = 1\nfrobnicate = 3\n", ":2: frobnicate: unknown option");
    file_fails("-m 64\nport = 1\nmemory-limit = 32\n",
               ":3: memory-limit: duplicate key (first set on line 1)");
    file_fails("idle_timeout = 1\n-o idle_timeout=2\n",
               ":2: idle_timeout: duplicate key (first set on line 1)");
    file_fails("threads = 0\n", ":1: threads: \"0\" must be at least 1");
    file_fails("daemon = maybe\n", ":1: daemon: \"maybe\" is not yes or no");
    file_fails("port\n", ":1: port: missing value");
    file_fails("-m\n", ":1: memory-limit: missing value");
    file_fails("-q\n", ":1: unrecognized option \"-q\" (see -h)");
    file_fails("-h\n", ":1: help: not allowed in a config file");
    file_fails("-V\n", ":1: version: not allowed in a config file");
    file_fails("-o foo\n", ":1: foo: unknown option");
    file_fails("extended = idle_timeout=x\n", ":1: idle_timeout: \"x\" is not an integer");
    file_fails("config = /x\n", ":1: config: not allowed in a config file");
    file_fails("--config=/x\n", ":1: config: not allowed in a config file");
    file_fails("= 3\n", ":1: expected \"name = value\", got \"= 3\"");
    file_fails("port: 3\n", ":1: expected \"name = value\", got \"port: 3\"");
    file_fails("enable-sasl = yes\nprotocol = ascii\n", ": enable-sasl: You cannot allow the "
               "ASCII protocol while using SASL.");
    file_fails("memory-limit = 1\n", ": max-item-size: 1m cannot be larger than "
               "half of memory-limit (1m)");
}
END_TEST

START_TEST(test_file_nothing_applied)
{
    struct settings base, out;
    const char *path = write_file("port = 1\nthreads = 9\nbogus = 1\n");
    char arg[128];
    char *argv[] = { "memcached", arg, NULL };

    option_defaults(&base);
    ck_assert_int_eq(option_load_file(&base, path, &out, err, sizeof(err)), -1);
    ck_assert_int_eq(base.port, 11211);
    ck_assert_int_eq(base.num_threads, 4);
    snprintf(arg, sizeof(arg), "--config=%s", path);
    ck_assert_int_eq(option_parse(&s, 2, argv, err, sizeof(err)), OPTION_ERROR);
    option_free(&base);
}
END_TEST

START_TEST(test_load_file_over_base)
{
    struct settings base, out;
    const char *path = write_file("verbose = 1\nidle_timeout = 60\nconn-limit = 10\n"
                                  "threads = 16\n");
    char note[128];
    int n;

    ok("-p 2000 -m 100 -o idle_timeout=5");
    option_copy(&base, &s);
    ck_assert_int_eq(option_load_file(&base, path, &out, err, sizeof(err)), 0);
    ck_assert_int_eq(out.port, 2000);              /* from the base */
    ck_assert_uint_eq(out.maxbytes, 100u * 1024 * 1024);
    ck_assert_int_eq(out.idle_timeout, 60);        /* from the file */
    ck_assert_int_eq(out.verbose, 1);
    ck_assert_str_eq(out.config_file, path);
    ck_assert_int_eq(base.idle_timeout, 5);        /* base untouched */
    /* apply: runtime fields change, threads needs a restart */
    n = option_apply_runtime(&s, &out, note, sizeof(note));
    ck_assert_int_eq(n, 1);
    ck_assert_str_eq(note, "threads");
    ck_assert_int_eq(s.idle_timeout, 60);
    ck_assert_int_eq(s.maxconns, 10);
    ck_assert_int_eq(s.verbose, 1);
    ck_assert_int_eq(s.num_threads, 4);
    /* out may be the base itself */
    ck_assert_int_eq(option_load_file(&base, path, &base, err, sizeof(err)), 0);
    ck_assert_int_eq(base.idle_timeout, 60);
    option_free(&base);
    option_free(&out);
}
END_TEST

/* --- stats settings ---------------------------------------------------------- */

struct collect {
    char   *buf;
    size_t  len;
    FILE   *f;
};

static void collect_fn(const char *name, const char *value, void *arg)
{
    struct collect *c = arg;
    fprintf(c->f, "STAT %s %s\n", name, value);
}

static char *stats_text(const struct settings *st)
{
    struct collect c = { NULL, 0, NULL };

    c.f = open_memstream(&c.buf, &c.len);
    option_stats_settings(st, collect_fn, &c);
    fclose(c.f);
    return c.buf;
}

START_TEST(test_stats_settings)
{
    /* memcached 1.6.18's names and order, then ours */
    static const char *names[] = {
        "maxbytes", "maxconns", "tcpport", "udpport", "inter", "verbosity",
        "oldest", "evictions", "domain_socket", "umask", "shutdown_command",
        "growth_factor", "chunk_size", "num_threads", "num_threads_per_udp",
        "stat_key_prefix", "detail_enabled", "reqs_per_event", "cas_enabled",
        "tcp_backlog", "binding_protocol", "auth_enabled_sasl",
        "auth_enabled_ascii", "item_size_max", "maxconns_fast",
        "hashpower_init", "slab_reassign", "slab_automove",
        "slab_automove_ratio", "slab_automove_window", "slab_chunk_max",
        "lru_crawler", "lru_crawler_sleep", "lru_crawler_tocrawl",
        "tail_repair_time", "flush_enabled", "dump_enabled", "hash_algorithm",
        "lru_maintainer_thread", "lru_segmented", "hot_lru_pct",
        "warm_lru_pct", "hot_max_factor", "warm_max_factor", "temp_lru",
        "temporary_ttl", "idle_timeout", "watcher_logbuf_size",
        "worker_logbuf_size", "read_buf_mem_limit", "track_sizes",
        "inline_ascii_response", "ext_item_size", "ext_item_age",
        "ext_low_ttl", "ext_recache_rate", "ext_wbuf_size",
        "ext_compact_under", "ext_drop_under", "ext_max_sleep",
        "ext_max_frag", "slab_automove_freeratio", "ext_drop_unread",
        "ssl_enabled", "ssl_chain_cert", "ssl_key", "ssl_verify_mode",
        "ssl_keyformat", "ssl_ciphers", "ssl_ca_cert", "ssl_wbuf_size",
        "ssl_session_cache", "ssl_kernel_tls", "ssl_min_version",
        "num_napi_ids", "memory_file", "snapshot_path", "snapshot_interval",
        "snapshot_on_shutdown", "snapshot_load", "snapshot_refuse_corrupt",
        "write_timeout", "shutdown_timeout", "read_buf_max", "eviction_policy",
        "ssl_handshake_timeout",
        "hotkeys", "hotkeys_sample", "hotkeys_size",
        "metrics_listen",
    };
    char *text, *p;
    size_t i;

    ok("-p 22122 -l 127.0.0.1,::1 -o idle_timeout=3");
    text = stats_text(&s);
    p = text;
    for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        char want[64];
        snprintf(want, sizeof(want), "STAT %s ", names[i]);
        ck_assert_msg(strncmp(p, want, strlen(want)) == 0, "line %zu: want %s, got %.40s",
                      i, names[i], p);
        p = strchr(p, '\n') + 1;
    }
    ck_assert_str_eq(p, "");
    ck_assert_ptr_nonnull(strstr(text, "STAT maxbytes 67108864\n"));
    ck_assert_ptr_nonnull(strstr(text, "STAT tcpport 22122\n"));
    ck_assert_ptr_nonnull(strstr(text, "STAT inter 127.0.0.1,::1\n"));
    ck_assert_ptr_nonnull(strstr(text, "STAT evictions on\n"));
    ck_assert_ptr_nonnull(strstr(text, "STAT umask 700\n"));
    ck_assert_ptr_nonnull(strstr(text, "STAT growth_factor 1.25\n"));
    ck_assert_ptr_nonnull(strstr(text, "STAT binding_protocol auto-negotiate\n"));
    ck_assert_ptr_nonnull(strstr(text, "STAT item_size_max 1048576\n"));
    ck_assert_ptr_nonnull(strstr(text, "STAT slab_chunk_max 524288\n"));
    ck_assert_ptr_nonnull(strstr(text, "STAT slab_reassign yes\n"));
    ck_assert_ptr_nonnull(strstr(text, "STAT hot_max_factor 0.20\n"));
    ck_assert_ptr_nonnull(strstr(text, "STAT idle_timeout 3\n"));
    ck_assert_ptr_nonnull(strstr(text, "STAT watcher_logbuf_size 262144\n"));
    ck_assert_ptr_nonnull(strstr(text, "STAT hash_algorithm xxh3\n"));
    ck_assert_ptr_nonnull(strstr(text, "STAT snapshot_path NULL\n"));
    free(text);
    ok("-M -B ascii");
    text = stats_text(&s);
    ck_assert_ptr_nonnull(strstr(text, "STAT evictions off\n"));
    ck_assert_ptr_nonnull(strstr(text, "STAT binding_protocol ascii\n"));
    free(text);
}
END_TEST

/* --- generated documents ------------------------------------------------------ */

static char *read_all(const char *path)
{
    FILE *f = fopen(path, "r");
    char *buf;
    long n;

    ck_assert_msg(f != NULL, "cannot open %s", path);
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);
    buf = malloc((size_t)n + 1);
    ck_assert_ptr_nonnull(buf);
    ck_assert_int_eq(fread(buf, 1, (size_t)n, f), n);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

static void check_generated(const char *rel, void (*gen)(FILE *))
{
    char path[512], *want, *got = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&got, &len);

    gen(f);
    fclose(f);
    snprintf(path, sizeof(path), "%s/%s", OPTION_SRCDIR, rel);
    want = read_all(path);
    ck_assert_msg(strcmp(want, got) == 0, "%s differs from the option table; "
                  "run `make -C build gen-docs` and commit", rel);
    free(want);
    free(got);
}

START_TEST(test_example_file)
{
    struct settings def, out;
    char path[512], *a, *b;

    check_generated("memcached.conf.example", option_write_example);
    /* as shipped it starts the server exactly as the defaults do */
    snprintf(path, sizeof(path), "%s/memcached.conf.example", OPTION_SRCDIR);
    option_defaults(&def);
    ck_assert_msg(option_load_file(&def, path, &out, err, sizeof(err)) == 0, "%s", err);
    a = stats_text(&def);
    b = stats_text(&out);
    ck_assert_str_eq(a, b);
    ck_assert_int_eq(option_apply_runtime(&def, &out, NULL, 0), 0);
    free(a);
    free(b);
    option_free(&def);
    option_free(&out);
}
END_TEST

START_TEST(test_man_page)
{
    check_generated("doc/memcached.1", option_write_man);
}
END_TEST

static Suite *option_suite(void)
{
    Suite *su = suite_create("option");
    struct { const char *name; const TTest *t[4]; } areas[] = {
        { "defaults", { test_defaults, test_version_help, test_usage_text, NULL } },
        { "letters", { test_letters, test_long_names, test_clusters_and_verbose, test_listen } },
        { "extended", { test_extended, NULL, NULL, NULL } },
        { "sizes", { test_sizes, NULL, NULL, NULL } },
        { "validation", { test_errors, NULL, NULL, NULL } },
        { "limits", { test_limit_memory, test_limit_items_slabs, test_limit_counts, NULL } },
        { "file", { test_file_name_value, test_file_debian, test_file_mixed, test_file_env_and_override } },
        { "file_errors", { test_file_errors, test_file_nothing_applied, NULL, NULL } },
        { "reload", { test_load_file_over_base, test_parse_config_override, NULL, NULL } },
        { "stats", { test_stats_settings, NULL, NULL, NULL } },
        { "generated", { test_example_file, test_man_page, NULL, NULL } },
    };
    size_t i, j;

    for (i = 0; i < sizeof(areas) / sizeof(areas[0]); i++) {
        TCase *tc = tcase_create(areas[i].name);
        tcase_add_checked_fixture(tc, setup, teardown);
        for (j = 0; j < 4 && areas[i].t[j] != NULL; j++)
            tcase_add_test(tc, areas[i].t[j]);
        suite_add_tcase(su, tc);
    }
    return su;
}

int main(void)
{
    SRunner *sr = srunner_create(option_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
