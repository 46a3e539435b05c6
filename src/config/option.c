/*
 * option.c -- the option table and everything generated from it: the
 * command line, the config file, --help, "stats settings",
 * memcached.conf.example and the man page.
 *
 * One X-macro table (OPTION_TABLE) lists every option once.  A value, from
 * whichever source, goes through set_value(), which parses it by type,
 * checks the range in the table and then the few rules that need code
 * (check_special()).  Rules that span options run once at the end
 * (finish()).  Errors are one line in the caller's buffer:
 *
 *     memory-limit: "lots" is not a size              (command line)
 *     mc.conf:3: memory-limit: "lots" is not a size   (config file)
 *
 * Nothing here exits or touches global state; -h/-V print to stdout.
 */
#include "option.h"
#include "platform.h"
#include "tls.h"                    /* verify flags and version names for "stats settings" */

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>                /* strcasecmp */

/* --- the table ----------------------------------------------------------- */

enum otype {
    T_INT,          /* int */
    T_U32,          /* uint32_t, plain integer */
    T_SIZE,         /* size_t bytes; plain number times `unit`, or k/m/g suffix */
    T_SIZE32,       /* uint32_t bytes, same syntax as T_SIZE */
    T_DOUBLE,       /* double; min is exclusive */
    T_STR,          /* char *, owned; "" = NULL */
    T_CHAR,         /* one character */
    T_BOOL,         /* bool; as a flag sets true */
    T_NBOOL,        /* bool stored inverted: "disable-x" sets the field false */
    T_IBOOL,        /* int 0/1 */
    T_COUNT,        /* int; as a flag adds one (-v, -vv) */
    T_LIST,         /* listen[]: comma-separated, repeatable */
    T_OCTAL,        /* int, octal digits */
    T_PROTO,        /* binding_protocol: auto, ascii, binary */
    T_REFUSE,       /* feature we lack, flag: "no" is fine, "yes" an error */
    T_REFUSE_ARG,   /* feature we lack, takes a value: any value is an error */
    T_ACTION        /* -h, -V, -o, --config...: handled by the parser */
};

enum {
    F_EXT     = 1 << 0,  /* a -o extended option */
    F_RUNTIME = 1 << 1,  /* changeable by reload (SIGHUP) */
    F_HIDDEN  = 1 << 2,  /* not in --help, the example or the man page */
    F_NOFILE  = 1 << 3,  /* command line only */
    F_REPEAT  = 1 << 4,  /* may appear more than once in a file */
    F_SIDE    = 1 << 5   /* giving it has a side effect: commented out in the example */
};

#define OFF(f) offsetof(struct settings, f)
#define NOFF   ((size_t)-1)
#define KB     1024.0
#define MB     (1024.0 * 1024.0)
#define GB     (1024.0 * 1024.0 * 1024.0)
#define NOMAX  -1.0
#define HASHPOWER_MIN 12    /* -o hashpower: 2^12 buckets */
#define HASHPOWER_MAX 32    /* 2^32 buckets x 8 bytes = 32 GB, as memcached */

/*
 * X(id, short, name, flags, type, offset, default, unit, min, max, arg, help)
 *
 * name is the long option (--name) and the config file key; for F_EXT it
 * is the -o name.  default is a string parsed like user input (NULL = none).
 * unit scales a plain number for sizes; min/max bound the value (bytes for
 * sizes; NOMAX = unbounded).  help lines are separated by '\n'.
 */
#define OPTION_TABLE(X) \
X(port, 'p', "port", 0, T_INT, OFF(port), "11211", 1, 0, 65535, "<num>", \
  "TCP port to listen on, 0 = off") \
X(udp_port, 'U', "udp-port", 0, T_INT, OFF(udp_port), "0", 1, 0, 65535, "<num>", \
  "UDP port to listen on, on the -l addresses only; 0 = off.\n" \
  "Exposed UDP can be abused for traffic amplification\n" \
  "(doc/security.md)") \
X(socketpath, 's', "unix-socket", 0, T_STR, OFF(socketpath), NULL, 1, 0, NOMAX, "<file>", \
  "UNIX socket to listen on (disables network support)") \
X(access, 'a', "unix-mask", 0, T_OCTAL, OFF(access), "700", 1, 0, 0777, "<mask>", \
  "access mask for UNIX socket, in octal") \
X(enable_shutdown, 'A', "enable-shutdown", 0, T_BOOL, OFF(enable_shutdown), "no", 1, 0, NOMAX, NULL, \
  "enable ascii \"shutdown\" command") \
X(listen, 'l', "listen", F_REPEAT, T_LIST, OFF(listen), "127.0.0.1", 1, 0, NOMAX, "<addr>", \
  "interface to listen on: host, [v6addr], either with\n" \
  ":port; a comma-separated list or repeated -l.  Unlike\n" \
  "memcached (all interfaces) the default is loopback") \
X(daemonize, 'd', "daemon", 0, T_BOOL, OFF(daemonize), "no", 1, 0, NOMAX, NULL, \
  "run as a daemon") \
X(maxcore, 'r', "enable-coredumps", 0, T_BOOL, OFF(maxcore), "no", 1, 0, NOMAX, NULL, \
  "maximize core file limit") \
X(username, 'u', "user", 0, T_STR, OFF(username), NULL, 1, 0, NOMAX, "<user>", \
  "assume identity of <username> (only when run as root)") \
X(maxbytes, 'm', "memory-limit", F_RUNTIME, T_SIZE, OFF(maxbytes), "64", MB, MB, NOMAX, "<num>", \
  "item memory in megabytes (or with a k/m/g suffix)") \
X(evict_to_free, 'M', "disable-evictions", 0, T_NBOOL, OFF(evict_to_free), "no", 1, 0, NOMAX, NULL, \
  "return error on memory exhausted instead of evicting") \
X(maxconns, 'c', "conn-limit", F_RUNTIME, T_INT, OFF(maxconns), "1024", 1, 1, NOMAX, "<num>", \
  "max simultaneous connections") \
X(lock_memory, 'k', "lock-memory", 0, T_BOOL, OFF(lock_memory), "no", 1, 0, NOMAX, NULL, \
  "lock down all paged memory") \
X(verbose, 'v', "verbose", F_RUNTIME | F_REPEAT, T_COUNT, OFF(verbose), "0", 1, 0, 3, NULL, \
  "verbose (print errors/warnings while in event loop)") \
X(help, 'h', "help", F_NOFILE, T_ACTION, NOFF, NULL, 1, 0, NOMAX, NULL, \
  "print this help and exit") \
X(license, 'i', "license", F_NOFILE, T_ACTION, NOFF, NULL, 1, 0, NOMAX, NULL, \
  "print license information and exit") \
X(version, 'V', "version", F_NOFILE, T_ACTION, NOFF, NULL, 1, 0, NOMAX, NULL, \
  "print version and exit") \
X(pidfile, 'P', "pidfile", 0, T_STR, OFF(pidfile), NULL, 1, 0, NOMAX, "<file>", \
  "save PID in <file>, only used with -d option") \
X(factor, 'f', "slab-growth-factor", 0, T_DOUBLE, OFF(factor), "1.25", 1, 1.0, NOMAX, "<num>", \
  "chunk size growth factor") \
X(chunk_size, 'n', "slab-min-size", 0, T_INT, OFF(chunk_size), "48", 1, 1, NOMAX, "<bytes>", \
  "min space used for key+value+flags") \
X(prealloc, 'L', "enable-largepages", 0, T_BOOL, OFF(prealloc), "no", 1, 0, NOMAX, NULL, \
  "try to use large memory pages (if available)") \
X(prefix_delimiter, 'D', "prefix-delimiter", F_SIDE, T_CHAR, OFF(prefix_delimiter), ":", 1, 0, NOMAX, "<char>", \
  "use <char> as the delimiter between key prefixes and IDs\n" \
  "for per-prefix stats; giving it turns detail stats on\n" \
  "(otherwise \"stats detail on\" does)") \
X(num_threads, 't', "threads", 0, T_INT, OFF(num_threads), "4", 1, 1, NOMAX, "<num>", \
  "number of threads to use") \
X(reqs_per_event, 'R', "max-reqs-per-event", 0, T_INT, OFF(reqs_per_event), "20", 1, 1, NOMAX, "<num>", \
  "maximum number of requests per event, limits the\n" \
  "requests processed per connection to prevent\n" \
  "starvation") \
X(use_cas, 'C', "disable-cas", 0, T_NBOOL, OFF(use_cas), "no", 1, 0, NOMAX, NULL, \
  "disable use of CAS") \
X(backlog, 'b', "listen-backlog", 0, T_INT, OFF(backlog), "1024", 1, 1, NOMAX, "<num>", \
  "set the backlog queue limit") \
X(binding_protocol, 'B', "protocol", 0, T_PROTO, OFF(binding_protocol), "auto", 1, 0, NOMAX, "<name>", \
  "protocol - one of ascii, binary, or auto") \
X(item_size_max, 'I', "max-item-size", 0, T_SIZE32, OFF(item_size_max), "1m", 1, KB, GB, "<num>", \
  "adjusts max item size, bytes or with a k/m suffix\n" \
  "(min: 1k, max: 1024m, at most half of -m)") \
X(enable_sasl, 'S', "enable-sasl", 0, T_BOOL, OFF(enable_sasl), "no", 1, 0, NOMAX, NULL, \
  "turn on Sasl authentication (binary protocol only; doc/security.md)") \
X(flush_enabled, 'F', "disable-flush-all", 0, T_NBOOL, OFF(flush_enabled), "no", 1, 0, NOMAX, NULL, \
  "disable flush_all command") \
X(dump_enabled, 'X', "disable-dumping", 0, T_NBOOL, OFF(dump_enabled), "no", 1, 0, NOMAX, NULL, \
  "disable stats cachedump and lru_crawler metadump") \
X(watch_enabled, 'W', "disable-watch", 0, T_NBOOL, OFF(watch_enabled), "no", 1, 0, NOMAX, NULL, \
  "disable watch commands (live logging)") \
X(auth_file, 'Y', "auth-file", 0, T_STR, OFF(auth_file), NULL, 1, 0, NOMAX, "<file>", \
  "(EXPERIMENTAL) enable ASCII protocol authentication. format:\n" \
  "user:pass\\nuser2:pass2\\n (re-read on SIGHUP)") \
X(memory_file, 'e', "memory-file", 0, T_REFUSE_ARG, NOFF, NULL, 1, 0, NOMAX, "<file>", \
  "mmap a file for item memory: not supported, refused;\n" \
  "use -o snapshot_path for a restartable cache") \
X(enable_ssl, 'Z', "enable-ssl", 0, T_BOOL, OFF(ssl_enabled), "no", 1, 0, NOMAX, NULL, \
  "enable TLS/SSL (needs -o ssl_chain_cert; doc/security.md)") \
X(logfile, 0, "logfile", F_RUNTIME, T_STR, OFF(logfile), NULL, 1, 0, NOMAX, "<file>", \
  "log to <file> (or \"syslog\") instead of stderr") \
X(config, 0, "config", F_NOFILE, T_ACTION, NOFF, NULL, 1, 0, NOMAX, "<file>", \
  "read settings from <file> first (also $MEMCACHED_CONFIG);\n" \
  "the command line overrides the file") \
X(dump_example, 0, "dump-config-example", F_NOFILE | F_HIDDEN, T_ACTION, NOFF, NULL, 1, 0, NOMAX, NULL, "") \
X(dump_man, 0, "dump-man", F_NOFILE | F_HIDDEN, T_ACTION, NOFF, NULL, 1, 0, NOMAX, NULL, "") \
X(extended, 'o', "extended", 0, T_ACTION, NOFF, NULL, 1, 0, NOMAX, "<opts>", \
  "comma separated list of extended options\n" \
  "booleans take a 'no_' prefix to disable") \
X(maxconns_fast, 0, "maxconns_fast", F_EXT, T_BOOL, OFF(maxconns_fast), "yes", 1, 0, NOMAX, NULL, \
  "immediately close new connections after limit") \
X(hashpower_init, 0, "hashpower", F_EXT, T_INT, OFF(hashpower_init), "0", 1, 0, NOMAX, "<num>", \
  "initial hash table size as a power of two (12..32);\n" \
  "normally grows at runtime; 0 = start at 16.\n" \
  "set based on \"STAT hash_power_level\"") \
X(tail_repair_time, 0, "tail_repair_time", F_EXT, T_INT, OFF(tail_repair_time), "0", 1, 0, NOMAX, "<secs>", \
  "accepted for compatibility; has no effect\n" \
  "(this server does not leak item references)") \
X(hash_algorithm, 0, "hash_algorithm", F_EXT, T_STR, OFF(hash_algorithm), "xxh3", 1, 0, NOMAX, "<name>", \
  "the hash table algorithm; jenkins, murmur3 and xxh3\n" \
  "are accepted, this server always uses xxh3") \
X(eviction_policy, 0, "eviction_policy", F_EXT, T_STR, OFF(eviction_policy), "s3fifo", 1, 0, NOMAX, "<name>", \
  "s3fifo: new items wait in a small probation queue and\n" \
  "only those hit there join the main CLOCK (resists scans\n" \
  "and one-hit wonders); clock: CLOCK alone") \
X(lru_crawler, 0, "lru_crawler", F_EXT, T_BOOL, OFF(lru_crawler), "yes", 1, 0, NOMAX, NULL, \
  "LRU Crawler background thread (no_lru_crawler: off)") \
X(lru_crawler_sleep, 0, "lru_crawler_sleep", F_EXT, T_INT, OFF(lru_crawler_sleep), "100", 1, 0, 1000000, "<usecs>", \
  "microseconds to sleep between items") \
X(lru_crawler_tocrawl, 0, "lru_crawler_tocrawl", F_EXT, T_U32, OFF(lru_crawler_tocrawl), "0", 1, 0, 4294967295.0, "<num>", \
  "max items to crawl per slab per run (0 = unlimited)") \
X(read_buf_mem_limit, 0, "read_buf_mem_limit", F_EXT, T_INT, OFF(read_buf_mem_limit), "256", 1, 0, NOMAX, "<mb>", \
  "limit in megabytes for all connection read buffers above\n" \
  "16 KB together (long multiget lines); a request that\n" \
  "would pass it is refused.  0 means unlimited") \
X(read_buf_max, 0, "read_buf_max", F_EXT, T_SIZE, OFF(read_buf_max), "16", MB, MB, NOMAX, "<mb>", \
  "largest read buffer of one connection (its longest\n" \
  "multiget line), megabytes") \
X(lru_maintainer, 0, "lru_maintainer", F_EXT, T_BOOL, OFF(lru_maintainer), "yes", 1, 0, NOMAX, NULL, \
  "segmented LRU + background thread (no_lru_maintainer: off)") \
X(hot_lru_pct, 0, "hot_lru_pct", F_EXT, T_INT, OFF(hot_lru_pct), "20", 1, 2, 79, "<pct>", \
  "pct of slab memory to reserve for hot lru") \
X(warm_lru_pct, 0, "warm_lru_pct", F_EXT, T_INT, OFF(warm_lru_pct), "40", 1, 2, 79, "<pct>", \
  "pct of slab memory to reserve for warm lru") \
X(hot_max_factor, 0, "hot_max_factor", F_EXT, T_DOUBLE, OFF(hot_max_factor), "0.20", 1, 0, NOMAX, "<num>", \
  "items idle > cold lru age * this drop from hot lru") \
X(warm_max_factor, 0, "warm_max_factor", F_EXT, T_DOUBLE, OFF(warm_max_factor), "2.00", 1, 0, NOMAX, "<num>", \
  "items idle > cold lru age * this drop from warm") \
X(temporary_ttl, 0, "temporary_ttl", F_EXT | F_SIDE, T_INT, OFF(temporary_ttl), "61", 1, 0, NOMAX, "<secs>", \
  "TTLs below this get a separate LRU and are not evicted;\n" \
  "giving it turns the temporary LRU on") \
X(idle_timeout, 0, "idle_timeout", F_EXT | F_RUNTIME, T_INT, OFF(idle_timeout), "0", 1, 0, NOMAX, "<secs>", \
  "timeout for idle connections, 0 = no timeout") \
X(write_timeout, 0, "write_timeout", F_EXT | F_RUNTIME, T_INT, OFF(write_timeout), "30", 1, 0, NOMAX, "<secs>", \
  "close a connection whose pending replies have not moved\n" \
  "for this long (a client that stopped reading), 0 = never") \
X(shutdown_timeout, 0, "shutdown_timeout", F_EXT, T_INT, OFF(shutdown_timeout), "1", 1, 0, 3600, "<secs>", \
  "on SIGTERM or shutdown, connections get this long to\n" \
  "finish the request in flight and read its reply") \
X(slab_chunk_max, 0, "slab_chunk_max", F_EXT, T_SIZE32, OFF(slab_chunk_max), "512k", 1, KB, NOMAX, "<bytes>", \
  "maximum slab chunk size, bytes or with a k/m suffix;\n" \
  "larger items are chained.  use extreme care") \
X(watcher_logbuf_size, 0, "watcher_logbuf_size", F_EXT, T_SIZE32, OFF(watcher_logbuf_size), "256", KB, KB, NOMAX, "<kb>", \
  "size in kilobytes of per-watcher write buffer") \
X(worker_logbuf_size, 0, "worker_logbuf_size", F_EXT, T_SIZE32, OFF(worker_logbuf_size), "64", KB, KB, NOMAX, "<kb>", \
  "size in kilobytes of per-worker-thread log buffer") \
X(track_sizes, 0, "track_sizes", F_EXT, T_BOOL, OFF(track_sizes), "no", 1, 0, NOMAX, NULL, \
  "enable dynamic reports for 'stats sizes' command") \
X(hash_expand, 0, "hashexpand", F_EXT, T_BOOL, OFF(hash_expand), "yes", 1, 0, NOMAX, NULL, \
  "grow the hash table; no_hashexpand disables (dangerous)") \
X(modern, 0, "modern", F_EXT | F_SIDE, T_BOOL, OFF(modern), "yes", 1, 0, NOMAX, NULL, \
  "no_modern: 1.4-era defaults (no slab_reassign,\n" \
  "slab_automove, maxconns_fast, lru_maintainer, lru_crawler)") \
X(slab_reassign, 0, "slab_reassign", F_EXT, T_IBOOL, OFF(slab_reassign), "yes", 1, 0, NOMAX, NULL, \
  "allow moving slab pages between classes") \
X(slab_automove, 0, "slab_automove", F_EXT, T_INT, OFF(slab_automove), "1", 1, 0, 2, "<0-2>", \
  "automatic slab page moves: 0 off, 1 normal, 2 aggressive") \
X(ssl_chain_cert, 0, "ssl_chain_cert", F_EXT, T_STR, OFF(ssl_chain_cert), NULL, 1, 0, NOMAX, "<file>", \
  "certificate chain file in PEM format") \
X(ssl_key, 0, "ssl_key", F_EXT, T_STR, OFF(ssl_key), NULL, 1, 0, NOMAX, "<file>", \
  "private key, if not part of the -ssl_chain_cert") \
X(ssl_keyformat, 0, "ssl_keyformat", F_EXT, T_INT, OFF(ssl_keyformat), "1", 1, 1, 2, "<num>", \
  "private key format: 1 PEM, 2 DER (ASN.1)") \
X(ssl_verify_mode, 0, "ssl_verify_mode", F_EXT, T_INT, OFF(ssl_verify_mode), "0", 1, 0, 3, "<0-3>", \
  "peer certificate verification mode, default is 0(None).\n" \
  "valid values are 0(None), 1(Request), 2(Require)\n" \
  "or 3(Once)") \
X(ssl_ciphers, 0, "ssl_ciphers", F_EXT, T_STR, OFF(ssl_ciphers), NULL, 1, 0, NOMAX, "<list>", \
  "specify cipher list to be used (TLS 1.2 and older)") \
X(ssl_ca_cert, 0, "ssl_ca_cert", F_EXT, T_STR, OFF(ssl_ca_cert), NULL, 1, 0, NOMAX, "<file>", \
  "PEM format file of acceptable client CA's") \
X(ssl_wbuf_size, 0, "ssl_wbuf_size", F_EXT, T_SIZE32, OFF(ssl_wbuf_size), "16", KB, KB, 16 * MB, "<kb>", \
  "size in kilobytes of the buffer that coalesces small\n" \
  "replies into one TLS record (one per worker thread)") \
X(ssl_session_cache, 0, "ssl_session_cache", F_EXT, T_BOOL, OFF(ssl_session_cache), "no", 1, 0, NOMAX, NULL, \
  "enable server-side SSL session cache, to support session\n" \
  "resumption") \
X(ssl_kernel_tls, 0, "ssl_kernel_tls", F_EXT, T_BOOL, OFF(ssl_kernel_tls), "no", 1, 0, NOMAX, NULL, \
  "enable kernel TLS offload (when the kernel has it)") \
X(ssl_min_version, 0, "ssl_min_version", F_EXT, T_INT, OFF(ssl_min_version), "2", 1, 0, 3, "<0-3>", \
  "minimum protocol version to accept (default: tlsv1.2)\n" \
  "valid values are 0(tlsv1.0), 1(tlsv1.1), 2(tlsv1.2), or 3(tlsv1.3).") \
X(ssl_handshake_timeout, 0, "ssl_handshake_timeout", F_EXT, T_INT, OFF(ssl_handshake_timeout), "10", 1, 1, 3600, "<secs>", \
  "close a TLS connection whose handshake has not finished\n" \
  "after this long (counted in ssl_handshake_errors)") \
X(snapshot_path, 0, "snapshot_path", F_EXT, T_STR, OFF(snapshot_path), NULL, 1, 0, NOMAX, "<file>", \
  "save the cache to <file> and load it at start\n" \
  "(see doc/snapshot.md); unset = no persistence") \
X(snapshot_interval, 0, "snapshot_interval", F_EXT | F_RUNTIME, T_INT, OFF(snapshot_interval), "0", 1, 0, NOMAX, "<secs>", \
  "also snapshot every <secs> seconds; 0 = only on\n" \
  "shutdown or on demand") \
X(snapshot_on_shutdown, 0, "snapshot_on_shutdown", F_EXT | F_RUNTIME, T_BOOL, OFF(snapshot_on_shutdown), "yes", 1, 0, NOMAX, NULL, \
  "write a snapshot on clean shutdown (needs snapshot_path)") \
X(snapshot_load, 0, "snapshot_load", F_EXT, T_BOOL, OFF(snapshot_load), "yes", 1, 0, NOMAX, NULL, \
  "load the snapshot at start (needs snapshot_path)") \
X(snapshot_refuse_corrupt, 0, "snapshot_refuse_corrupt", F_EXT, T_BOOL, OFF(snapshot_refuse_corrupt), "no", 1, 0, NOMAX, NULL, \
  "refuse to start when the snapshot is damaged\n" \
  "(otherwise log it and start empty)") \
X(hotkeys, 0, "hotkeys", F_EXT, T_BOOL, OFF(hotkeys), "yes", 1, 0, NOMAX, NULL, \
  "sample key lookups to report the most requested keys\n" \
  "('stats hotkeys'); no_hotkeys: off") \
X(hotkeys_sample, 0, "hotkeys_sample", F_EXT, T_U32, OFF(hotkeys_sample), "16", 1, 1, 1000000, "<num>", \
  "hot keys: sample one lookup in <num> on average") \
X(hotkeys_size, 0, "hotkeys_size", F_EXT, T_U32, OFF(hotkeys_size), "256", 1, 16, 65536, "<num>", \
  "hot keys: keys each worker thread keeps count of\n" \
  "(about 300 bytes each)") \
X(metrics_listen, 0, "metrics_listen", F_EXT, T_STR, OFF(metrics_listen), NULL, 1, 0, NOMAX, "<host:port>", \
  "serve Prometheus /metrics, /stats.json and a live status\n" \
  "page over HTTP on host:port (a bare port means\n" \
  "127.0.0.1); unset = off (doc/monitoring.md)")

enum opt_id {
#define X_ID(id, ...) OPT_##id,
    OPTION_TABLE(X_ID)
#undef X_ID
    OPT_COUNT
};

struct opt {
    char        shortc;
    const char *name;
    int         flags;
    enum otype  type;
    size_t      off;
    const char *def;
    double      unit, min, max;
    const char *arg;
    const char *help;
};

static const struct opt opts[OPT_COUNT] = {
#define X_ENT(id, sc, nm, fl, ty, of, df, un, mn, mx, ar, hl) \
    { sc, nm, fl, ty, of, df, un, mn, mx, ar, hl },
    OPTION_TABLE(X_ENT)
#undef X_ENT
};

/* --- parse state ----------------------------------------------------------- */

/* One parse session: the defaults, one file, or one command line. */
struct pstate {
    const char *file;               /* NULL = command line */
    int         line;
    bool        defaults;           /* filling in defaults: no side effects */
    bool        listen_reset;       /* first listen of this session replaces */
    int         seen[OPT_COUNT];    /* line each option was set on (files) */
    char       *err;
    size_t      errlen;
};

static void *field(struct settings *s, const struct opt *o)
{
    return (char *)s + o->off;
}

static const void *cfield(const struct settings *s, const struct opt *o)
{
    return (const char *)s + o->off;
}

/* Write "[file:line: ]key: message" into ps->err; returns -1. */
static int fail(struct pstate *ps, const char *key, const char *fmt, ...)
{
    size_t n = 0;
    int w;
    va_list ap;

    ps->err[0] = '\0';
    if (ps->file != NULL && ps->line > 0)
        w = snprintf(ps->err, ps->errlen, "%s:%d: ", ps->file, ps->line);
    else if (ps->file != NULL)
        w = snprintf(ps->err, ps->errlen, "%s: ", ps->file);
    else
        w = 0;
    if (w > 0)
        n = (size_t)w < ps->errlen ? (size_t)w : ps->errlen;
    if (key != NULL && n < ps->errlen) {
        w = snprintf(ps->err + n, ps->errlen - n, "%s: ", key);
        if (w > 0)
            n += (size_t)w < ps->errlen - n ? (size_t)w : ps->errlen - n;
    }
    if (n < ps->errlen) {
        va_start(ap, fmt);
        vsnprintf(ps->err + n, ps->errlen - n, fmt, ap);
        va_end(ap);
    }
    return -1;
}

/* Append one line to s->warnings. */
static void warn(struct settings *s, const char *fmt, ...)
{
    char line[256];
    size_t old = s->warnings ? strlen(s->warnings) : 0;
    va_list ap;
    char *p;

    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    if (s->warnings != NULL && strstr(s->warnings, line) != NULL)
        return;                     /* same warning from file and argv */
    p = realloc(s->warnings, old + strlen(line) + 2);
    if (p == NULL)
        return;
    memcpy(p + old, line, strlen(line));
    p[old + strlen(line)] = '\n';
    p[old + strlen(line) + 1] = '\0';
    s->warnings = p;
}

/* Names compare with '-' and '_' equal, case-insensitively. */
static bool name_eq(const char *a, const char *b, size_t blen)
{
    size_t i;

    for (i = 0; i < blen; i++) {
        char x = a[i], y = b[i];
        if (x == '\0')
            return false;
        if (x == '-')
            x = '_';
        if (y == '-')
            y = '_';
        if (tolower((unsigned char)x) != tolower((unsigned char)y))
            return false;
    }
    return a[blen] == '\0';
}

static int find_name(const char *name, size_t len, bool ext)
{
    int i;

    for (i = 0; i < OPT_COUNT; i++) {
        if (ext != ((opts[i].flags & F_EXT) != 0))
            continue;
        if (name_eq(opts[i].name, name, len))
            return i;
    }
    return -1;
}

static int find_short(char c)
{
    int i;

    for (i = 0; i < OPT_COUNT; i++)
        if (opts[i].shortc == c && c != 0)
            return i;
    return -1;
}

static bool is_flag(const struct opt *o)
{
    return o->type == T_BOOL || o->type == T_NBOOL || o->type == T_IBOOL ||
           o->type == T_COUNT || o->type == T_REFUSE ||
           (o->type == T_ACTION && o->arg == NULL);
}

/* --- value parsers: 0 or -1 ------------------------------------------------ */

/* An integer; one too large for long long saturates (LLONG_MAX/MIN), so
 * that the range check reports it as out of range, not as malformed. */
static int parse_ll(const char *v, long long *out)
{
    char *end;

    if (*v == '\0' || isspace((unsigned char)*v))
        return -1;
    errno = 0;
    *out = strtoll(v, &end, 10);
    if (end == v || *end != '\0')
        return -1;
    return (errno != 0 && errno != ERANGE) ? -1 : 0;
}

static int parse_double(const char *v, double *out)
{
    char *end;

    if (*v == '\0' || isspace((unsigned char)*v))
        return -1;
    errno = 0;
    *out = strtod(v, &end);
    return (errno != 0 || *end != '\0' || !isfinite(*out)) ? -1 : 0;
}

/* "64" (times unit), "64k", "64M", "1g", "2mb"; bytes in *out.  A
 * well-formed size that does not fit in 64 bits (the number itself, or
 * once multiplied by its unit) gives UINT64_MAX, which every range check
 * refuses as too large: nothing here can wrap. */
static int parse_size(const char *v, double unit, uint64_t *out)
{
    char *end;
    unsigned long long n;
    double mult = unit;
    bool overflow;

    if (!isdigit((unsigned char)*v))
        return -1;
    errno = 0;
    n = strtoull(v, &end, 10);
    if (errno != 0 && errno != ERANGE)
        return -1;
    overflow = errno == ERANGE;
    if (*end != '\0') {
        switch (tolower((unsigned char)*end)) {
        case 'k': mult = KB; break;
        case 'm': mult = MB; break;
        case 'g': mult = GB; break;
        default: return -1;
        }
        end++;
        if (tolower((unsigned char)*end) == 'b')
            end++;
        if (*end != '\0')
            return -1;
    }
    /* units are 1 or powers of 1024: exact as integers */
    if (overflow || (mult >= 1.0 && n > UINT64_MAX / (uint64_t)mult))
        *out = UINT64_MAX;
    else
        *out = (uint64_t)n * (uint64_t)mult;
    return 0;
}

static int parse_bool(const char *v, bool *out)
{
    static const char *yes[] = { "yes", "true", "on", "1" };
    static const char *no[] = { "no", "false", "off", "0" };
    size_t i;

    for (i = 0; i < 4; i++) {
        if (strcasecmp(v, yes[i]) == 0) {
            *out = true;
            return 0;
        }
        if (strcasecmp(v, no[i]) == 0) {
            *out = false;
            return 0;
        }
    }
    return -1;
}

/* 1048576 -> "1m", 1024 -> "1k", 1000 -> "1000". */
static const char *fmt_size(double bytes, char *buf, size_t len)
{
    unsigned long long b = (unsigned long long)bytes;

    if (b != 0 && b % (1024 * 1024) == 0)
        snprintf(buf, len, "%llum", b / (1024 * 1024));
    else if (b != 0 && b % 1024 == 0)
        snprintf(buf, len, "%lluk", b / 1024);
    else
        snprintf(buf, len, "%llu", b);
    return buf;
}

/* --- setting one value ----------------------------------------------------- */

static int range_fail(struct pstate *ps, const struct opt *o, const char *v,
                      bool size)
{
    char a[32], b[32];

    if (size) {
        fmt_size(o->min, a, sizeof(a));
        fmt_size(o->max, b, sizeof(b));
    } else {
        snprintf(a, sizeof(a), "%.0f", o->min);
        snprintf(b, sizeof(b), "%.0f", o->max);
    }
    if (o->max == NOMAX)
        return fail(ps, o->name, "\"%s\" must be at least %s", v, a);
    return fail(ps, o->name, "\"%s\" must be between %s and %s", v, a, b);
}

static int listen_add(struct settings *s, struct pstate *ps,
                      const struct opt *o, const char *v)
{
    const char *p = v;
    int i;

    if (!ps->listen_reset) {
        for (i = 0; i < s->nlisten; i++) {
            free(s->listen[i]);
            s->listen[i] = NULL;
        }
        s->nlisten = 0;
        ps->listen_reset = true;
    }
    for (;;) {
        size_t n = strcspn(p, ",");
        char *a;

        if (n == 0)
            return fail(ps, o->name, "\"%s\" has an empty address", v);
        if (s->nlisten >= OPTION_MAX_LISTEN)
            return fail(ps, o->name, "too many addresses (at most %d)",
                        OPTION_MAX_LISTEN);
        a = malloc(n + 1);
        if (a == NULL)
            return fail(ps, o->name, "out of memory");
        memcpy(a, p, n);
        a[n] = '\0';
        s->listen[s->nlisten++] = a;
        if (p[n] == '\0')
            return 0;
        p += n + 1;
    }
}

/* The 1.4-era defaults no_modern selects. */
static void legacy_defaults(struct settings *s)
{
    s->slab_reassign = 0;
    s->slab_automove = 0;
    s->maxconns_fast = false;
    s->lru_maintainer = false;
    s->lru_crawler = false;
}

/* Rules for one value that the table cannot express.  Runs after the value
 * was parsed and range-checked, before it is stored. */
static int check_special(struct settings *s, struct pstate *ps, int id,
                         const char *v, long long n)
{
    const struct opt *o = &opts[id];

    switch (id) {
    case OPT_hashpower_init:
        /* memcached 1.6.18's sentences and range: the hash table cannot
         * start above 2^32 buckets (hash_setup() used to clamp silently) */
        if (n != 0 && n < HASHPOWER_MIN)
            return fail(ps, o->name, "\"%s\": Initial hashtable multiplier of %lld "
                        "is too low (at least %d, or 0 for the default)", v, n,
                        HASHPOWER_MIN);
        if (n > HASHPOWER_MAX)
            return fail(ps, o->name, "\"%s\": Initial hashtable multiplier of %lld "
                        "is too high (at most %d)", v, n, HASHPOWER_MAX);
        break;
    case OPT_read_buf_mem_limit:
        /* megabytes: the byte count must fit in size_t */
        if ((unsigned long long)n > (unsigned long long)(SIZE_MAX >> 20))
            return fail(ps, o->name, "\"%s\" is too large: at most %llu on this "
                        "system", v, (unsigned long long)(SIZE_MAX >> 20));
        break;
    case OPT_tail_repair_time:
        if (n != 0 && n < 10)
            return fail(ps, o->name, "\"%s\" must be 0 (off) or at least 10", v);
        if (n != 0)
            warn(s, "tail_repair_time is accepted but has no effect");
        break;
    case OPT_hash_algorithm:
        if (strcmp(v, "xxh3") != 0 && strcmp(v, "murmur3") != 0 &&
            strcmp(v, "jenkins") != 0)
            return fail(ps, o->name, "\"%s\" is not one of jenkins, murmur3, "
                        "xxh3", v);
        if (strcmp(v, "xxh3") != 0)
            warn(s, "hash_algorithm=%s accepted; this server always uses xxh3", v);
        break;
    case OPT_eviction_policy:
        if (strcmp(v, "s3fifo") != 0 && strcmp(v, "clock") != 0)
            return fail(ps, o->name, "\"%s\" is not one of s3fifo, clock", v);
        break;
    case OPT_metrics_listen: {
        char host[256], why[128];
        int port;
        if (*v != '\0' && option_host_port(v, host, sizeof(host), &port, why, sizeof(why)) != 0)
            return fail(ps, o->name, "\"%s\": %s", v, why);
        break;
    }
    case OPT_num_threads:
        if (n > OPTION_THREADS_MAX)
            return fail(ps, o->name, "\"%s\" is too many: at most %d", v,
                        OPTION_THREADS_MAX);
        if (n > 64)
            warn(s, "setting a high number of worker threads (%lld) is not "
                 "recommended; use the number of cores or less", n);
        break;
    case OPT_temporary_ttl:
        if (!ps->defaults)
            s->temp_lru = true;
        break;
    case OPT_prefix_delimiter:
        if (!ps->defaults)
            s->detail_enabled = true;
        break;
    default:
        break;
    }
    return 0;
}

/* Physical memory in bytes, 0 if unknown. */
static uint64_t physical_memory(void)
{
    return platform_physical_memory();
}

/* Rules for one size (bytes in z) beyond the table's range.  Runs before
 * the range check (so that its messages win), before the value is stored.
 * Where memcached 1.6.18 refuses the same value with a sentence of its
 * own, the message carries that sentence. */
static int check_size(struct settings *s, struct pstate *ps, int id,
                      const char *v, uint64_t z)
{
    const struct opt *o = &opts[id];
    char a[32];

    switch (id) {
    case OPT_maxbytes:
        if (z > OPTION_MAXBYTES_MAX) {
            uint64_t m = OPTION_MAXBYTES_MAX;
            return fail(ps, o->name, "\"%s\" is too large: at most %s (%llu %s) "
                        "on this system", v, fmt_size((double)m, a, sizeof(a)),
                        (unsigned long long)(m >> (m >= (uint64_t)1 << 40 ? 40 : 30)),
                        m >= (uint64_t)1 << 40 ? "TiB" : "GiB");
        }
        break;
    case OPT_item_size_max:
        if (z < 1024)
            return fail(ps, o->name, "\"%s\": Item max size cannot be less than "
                        "1024 bytes.", v);
        if (z > 1024u * 1024 * 1024)
            return fail(ps, o->name, "\"%s\": Cannot set item size limit higher "
                        "than a gigabyte.", v);
        break;
    case OPT_slab_chunk_max:
        /* what the slab allocator takes: a chunk fits in a page */
        if (z > s->slab_page_size)
            return fail(ps, o->name, "\"%s\": slab_chunk_max (bytes: %llu) must "
                        "divide evenly into %u (slab_page_size)", v,
                        (unsigned long long)z, s->slab_page_size);
        if (z % 8 != 0)
            return fail(ps, o->name, "\"%s\" must be a multiple of 8", v);
        break;
    default:
        /* any other amount of memory: what -m may be at most */
        if (o->type == T_SIZE && z > OPTION_MAXBYTES_MAX)
            return fail(ps, o->name, "\"%s\" is too large: at most %s on this "
                        "system", v, fmt_size((double)OPTION_MAXBYTES_MAX, a, sizeof(a)));
        break;
    }
    return 0;
}

static int refuse(struct pstate *ps, int id)
{
    const struct opt *o = &opts[id];

    switch (id) {
    case OPT_enable_ssl:
        return fail(ps, o->name, "TLS/SSL is not supported by this server");
    case OPT_memory_file:
        return fail(ps, o->name, "memory files are not supported by this "
                    "server; use -o snapshot_path for a restartable cache");
    case OPT_auth_file:
        return fail(ps, o->name, "ASCII authentication is not supported by this server");
    default:
        return fail(ps, o->name, "not supported by this server");
    }
}

/* Parse v for option id and store it in s.  v is the text after "name=" or
 * the option's argument; for flags used as flags the caller passes "yes". */
static int set_value(struct settings *s, struct pstate *ps, int id, const char *v)
{
    const struct opt *o = &opts[id];
    long long n = 0;
    double d;
    uint64_t z;
    bool b;

    switch (o->type) {
    case T_INT:
    case T_U32:
    case T_OCTAL:
    case T_COUNT:
        if (o->type == T_OCTAL) {
            char *end;
            errno = 0;
            n = strtoll(v, &end, 8);
            if (*v == '\0' || *v == '-' || *v == '+' || *end != '\0' || errno != 0)
                return fail(ps, o->name, "\"%s\" is not an octal mode", v);
        } else if (parse_ll(v, &n) < 0) {
            return fail(ps, o->name, "\"%s\" is not an integer", v);
        }
        if (n < o->min || (o->max != NOMAX && n > o->max))
            return range_fail(ps, o, v, false);
        if (check_special(s, ps, id, v, n) < 0)
            return -1;
        if (n > 2147483647LL && o->type != T_U32)
            return fail(ps, o->name, "\"%s\" is too large", v);
        if (o->type == T_U32)
            *(uint32_t *)field(s, o) = (uint32_t)n;
        else
            *(int *)field(s, o) = (int)n;
        return 0;
    case T_SIZE:
    case T_SIZE32:
        if (parse_size(v, o->unit, &z) < 0)
            return fail(ps, o->name, "\"%s\" is not a size", v);
        if (check_size(s, ps, id, v, z) < 0)
            return -1;
        if ((double)z < o->min || (o->max != NOMAX && (double)z > o->max))
            return range_fail(ps, o, v, true);
        if ((o->type == T_SIZE32 && z > UINT32_MAX) || z > SIZE_MAX)
            return fail(ps, o->name, "\"%s\" is too large", v);
        if (o->type == T_SIZE)
            *(size_t *)field(s, o) = (size_t)z;
        else
            *(uint32_t *)field(s, o) = (uint32_t)z;
        return 0;
    case T_DOUBLE:
        if (parse_double(v, &d) < 0)
            return fail(ps, o->name, "\"%s\" is not a number", v);
        if (d <= o->min)
            return fail(ps, o->name, "\"%s\" must be greater than %g", v, o->min);
        *(double *)field(s, o) = d;
        return 0;
    case T_STR: {
        char **p = field(s, o);
        char *c = NULL;
        if (check_special(s, ps, id, v, 0) < 0)
            return -1;
        if (*v != '\0' && (c = strdup(v)) == NULL)
            return fail(ps, o->name, "out of memory");
        free(*p);
        *p = c;
        return 0;
    }
    case T_CHAR:
        if (strlen(v) != 1)
            return fail(ps, o->name, "\"%s\" is not a single character", v);
        if (check_special(s, ps, id, v, 0) < 0)
            return -1;
        *(char *)field(s, o) = v[0];
        return 0;
    case T_BOOL:
    case T_NBOOL:
    case T_IBOOL:
    case T_REFUSE:
        if (parse_bool(v, &b) < 0)
            return fail(ps, o->name, "\"%s\" is not yes or no", v);
        if (o->type == T_REFUSE) {
            if (b)
                return refuse(ps, id);
        } else if (o->type == T_IBOOL) {
            *(int *)field(s, o) = b;
        } else {
            *(bool *)field(s, o) = o->type == T_NBOOL ? !b : b;
        }
        if (id == OPT_modern && !b && !ps->defaults)
            legacy_defaults(s);
        return 0;
    case T_REFUSE_ARG:
        if (*v == '\0')
            return 0;
        return refuse(ps, id);
    case T_LIST:
        return listen_add(s, ps, o, v);
    case T_PROTO:
        s->binding_protocol_given = !ps->defaults;
        if (strcmp(v, "auto") == 0 || strcmp(v, "auto-negotiate") == 0)
            s->binding_protocol = 0;
        else if (strcmp(v, "ascii") == 0)
            s->binding_protocol = 1;
        else if (strcmp(v, "binary") == 0)
            s->binding_protocol = 2;
        else
            return fail(ps, o->name, "\"%s\" is not one of auto, ascii, "
                        "binary", v);
        return 0;
    case T_ACTION:
        return fail(ps, o->name, "not allowed in a config file");
    }
    return fail(ps, o->name, "internal error: bad type");
}

/* Set from a file, refusing a second setting of the same key. */
static int set_checked(struct settings *s, struct pstate *ps, int id, const char *v)
{
    const struct opt *o = &opts[id];

    if (ps->file != NULL) {
        if (o->flags & F_NOFILE)
            return fail(ps, o->name, "not allowed in a config file");
        if (ps->seen[id] != 0 && !(o->flags & F_REPEAT))
            return fail(ps, o->name, "duplicate key (first set on line %d)",
                        ps->seen[id]);
        ps->seen[id] = ps->line;
    }
    return set_value(s, ps, id, v);
}

/* "name[=value]" from -o or a file; "no_name" turns a boolean off. */
static int set_ext(struct settings *s, struct pstate *ps, const char *name,
                   size_t len, const char *v)
{
    int id = find_name(name, len, true);
    bool neg = false;
    char key[64];

    snprintf(key, sizeof(key), "%.*s", (int)(len < 63 ? len : 63), name);
    if (id < 0 && len > 3 && strncasecmp(name, "no_", 3) == 0) {
        id = find_name(name + 3, len - 3, true);
        if (id >= 0 && opts[id].type != T_BOOL && opts[id].type != T_IBOOL)
            id = -1;
        neg = true;
    }
    if (id < 0) {
        if (strncasecmp(key, "ext_", 4) == 0)
            return fail(ps, key, "extstore is not supported by this server");
        return fail(ps, key, "unknown option");
    }
    if (v == NULL) {
        if (!is_flag(&opts[id]))
            return fail(ps, opts[id].name, "missing value");
        v = "yes";
    }
    if (neg) {
        bool b;
        if (parse_bool(v, &b) < 0)
            return fail(ps, opts[id].name, "\"%s\" is not yes or no", v);
        v = b ? "no" : "yes";
    }
    return set_checked(s, ps, id, v);
}

/* -o a=1,b,no_c */
static int set_ext_list(struct settings *s, struct pstate *ps, const char *list)
{
    const char *p = list;

    for (;;) {
        size_t n = strcspn(p, ",");
        const char *eq = memchr(p, '=', n);
        char val[1024];

        if (n == 0)
            return fail(ps, "extended", "\"%s\" has an empty option", list);
        if (eq != NULL) {
            size_t vl = n - (size_t)(eq + 1 - p);
            if (vl >= sizeof(val))
                return fail(ps, "extended", "value too long");
            memcpy(val, eq + 1, vl);
            val[vl] = '\0';
        }
        if (set_ext(s, ps, p, eq ? (size_t)(eq - p) : n, eq ? val : NULL) < 0)
            return -1;
        if (p[n] == '\0')
            return 0;
        p += n + 1;
    }
}

/* --- argv-style parsing (command line and "-x" lines of a file) --------- */

static void print_license(FILE *out)
{
    fprintf(out, "%s\n"
            "A memcached-compatible server written from scratch; see the\n"
            "LICENSE file in its source distribution.  It uses libevent\n"
            "(3-clause BSD license) and xxHash (2-clause BSD license).\n",
            OPTION_VERSION_STRING);
}

/* Run a flag-type or action option. */
static enum option_result run_flag(struct settings *s, struct pstate *ps, int id,
                                   const char *arg)
{
    const struct opt *o = &opts[id];

    if (ps->file != NULL && (o->flags & F_NOFILE)) {
        fail(ps, o->name, "not allowed in a config file");
        return OPTION_ERROR;
    }
    switch (id) {
    case OPT_help:
        option_usage(stdout);
        return OPTION_EXIT_OK;
    case OPT_version:
        printf("%s\n", OPTION_VERSION_STRING);
        return OPTION_EXIT_OK;
    case OPT_license:
        print_license(stdout);
        return OPTION_EXIT_OK;
    case OPT_dump_example:
        option_write_example(stdout);
        return OPTION_EXIT_OK;
    case OPT_dump_man:
        option_write_man(stdout);
        return OPTION_EXIT_OK;
    case OPT_config:
        return OPTION_OK;           /* read before the command line */
    case OPT_extended:
        if (ps->file != NULL && ps->seen[id] == 0)
            ps->seen[id] = ps->line;    /* -o may repeat; its keys may not */
        return set_ext_list(s, ps, arg) < 0 ? OPTION_ERROR : OPTION_OK;
    default:
        break;
    }
    if (o->type == T_COUNT) {
        if (ps->file != NULL)
            ps->seen[id] = ps->line;
        if (*(int *)field(s, o) < 3)
            (*(int *)field(s, o))++;
        return OPTION_OK;
    }
    return set_checked(s, ps, id, arg ? arg : "yes") < 0 ? OPTION_ERROR : OPTION_OK;
}

static enum option_result parse_args(struct settings *s, struct pstate *ps,
                                     int argc, char **argv, int first)
{
    int i;

    for (i = first; i < argc; i++) {
        const char *a = argv[i];
        enum option_result r;

        if (a[0] != '-' || a[1] == '\0') {
            fail(ps, NULL, "unexpected argument \"%s\"", a);
            return OPTION_ERROR;
        }
        if (a[1] == '-') {          /* --name[=value] */
            const char *name = a + 2;
            const char *eq = strchr(name, '=');
            size_t len = eq ? (size_t)(eq - name) : strlen(name);
            int id = find_name(name, len, false);
            const char *v = eq ? eq + 1 : NULL;

            if (len == 0) {
                fail(ps, NULL, "unexpected argument \"--\"");
                return OPTION_ERROR;
            }
            if (id < 0) {
                fail(ps, NULL, "unrecognized option \"%s\" (see -h)", a);
                return OPTION_ERROR;
            }
            if (is_flag(&opts[id])) {
                if (v != NULL) {
                    if (opts[id].type == T_ACTION) {
                        fail(ps, opts[id].name, "takes no value");
                        return OPTION_ERROR;
                    }
                    if (set_checked(s, ps, id, v) < 0)
                        return OPTION_ERROR;
                    continue;
                }
                r = run_flag(s, ps, id, NULL);
            } else {
                if (v == NULL) {
                    if (i + 1 >= argc) {
                        fail(ps, opts[id].name, "missing value");
                        return OPTION_ERROR;
                    }
                    v = argv[++i];
                }
                if (opts[id].type == T_ACTION)
                    r = run_flag(s, ps, id, v);
                else
                    r = set_checked(s, ps, id, v) < 0 ? OPTION_ERROR : OPTION_OK;
            }
            if (r != OPTION_OK)
                return r;
            continue;
        }
        for (a++; *a != '\0'; a++) {    /* -abc, -m64, -m 64 */
            int id = find_short(*a);
            const char *v;

            if (id < 0) {
                fail(ps, NULL, "unrecognized option \"-%c\" (see -h)", *a);
                return OPTION_ERROR;
            }
            if (is_flag(&opts[id])) {
                r = run_flag(s, ps, id, NULL);
                if (r != OPTION_OK)
                    return r;
                continue;
            }
            if (a[1] != '\0') {
                v = a + 1;
            } else if (i + 1 < argc) {
                v = argv[++i];
            } else {
                fail(ps, opts[id].name, "missing value");
                return OPTION_ERROR;
            }
            if (opts[id].type == T_ACTION)
                r = run_flag(s, ps, id, v);
            else
                r = set_checked(s, ps, id, v) < 0 ? OPTION_ERROR : OPTION_OK;
            if (r != OPTION_OK)
                return r;
            break;
        }
    }
    return OPTION_OK;
}

/* --- rules across options --------------------------------------------------- */

static int finish(struct settings *s, struct pstate *ps)
{
    ps->line = 0;
    /* SASL exists only in the binary protocol (memcached's rule) */
    if (s->enable_sasl) {
        if (s->binding_protocol_given && s->binding_protocol != 2)
            return fail(ps, "enable-sasl", "You cannot allow the ASCII protocol while using SASL.");
        if (s->udp_port != 0)
            return fail(ps, "enable-sasl", "Cannot enable UDP while using binary SASL authentication.");
        s->binding_protocol = 2;
    }
    /* -Y authenticates in the text protocol: a binary packet gets its
     * text error (memcached), so binary alone cannot work */
    if (s->auth_file != NULL && (s->enable_sasl ||
                                 (s->binding_protocol_given && s->binding_protocol == 2)))
        return fail(ps, "auth-file", "ASCII authentication (-Y) needs the ASCII protocol "
                    "(not -S or -B binary)");
    if (s->item_size_max > s->maxbytes / 2) {
        char a[32], b[32];
        return fail(ps, "max-item-size", "%s cannot be larger than half of "
                    "memory-limit (%s)", fmt_size(s->item_size_max, a, sizeof(a)),
                    fmt_size((double)s->maxbytes, b, sizeof(b)));
    }
    if (s->slab_chunk_max > s->item_size_max) {
        /* memcached refuses -I below 512k unless slab_chunk_max is lowered
         * too; we lower the default for the user. */
        if (s->slab_chunk_max == s->slab_page_size / 2)
            s->slab_chunk_max = s->item_size_max;
        else
            return fail(ps, "slab_chunk_max", "%u cannot be larger than "
                        "max-item-size (%u)", s->slab_chunk_max, s->item_size_max);
        if (s->slab_chunk_max % 8 != 0)
            return fail(ps, "max-item-size", "%u must be a multiple of 8 when "
                        "below slab_chunk_max (%u)", s->item_size_max,
                        s->slab_page_size / 2);
    }
    if (s->item_size_max % s->slab_chunk_max != 0)
        return fail(ps, "max-item-size", "%u must be a multiple of "
                    "slab_chunk_max (%u)", s->item_size_max, s->slab_chunk_max);
    if (s->hot_lru_pct + s->warm_lru_pct > 80)
        return fail(ps, "hot_lru_pct", "hot_lru_pct + warm_lru_pct (%d) cannot "
                    "be more than 80", s->hot_lru_pct + s->warm_lru_pct);
    /* the slab allocator's rule (item_setup): the first class, -n plus
     * 48 bytes, is at most half of the largest chunk */
    if ((uint64_t)s->chunk_size + 48 > s->slab_chunk_max / 2)
        return fail(ps, "slab-min-size", "%d must be at most %u "
                    "(slab_chunk_max %u / 2 - 48)", s->chunk_size,
                    s->slab_chunk_max / 2 - 48, s->slab_chunk_max);
    if (s->prealloc) {
        /* -L touches every page of -m at start: more than the machine
         * has cannot end well (the kernel's OOM killer, not an error) */
        uint64_t phys = physical_memory();
        if (phys != 0 && s->maxbytes > phys) {
            char a[32];
            return fail(ps, "enable-largepages", "memory-limit (%s) is more than "
                        "the physical memory (%llum); -L allocates all of it at "
                        "start", fmt_size((double)s->maxbytes, a, sizeof(a)),
                        (unsigned long long)(phys >> 20));
        }
    }
    return 0;
}

/* --- public API -------------------------------------------------------------- */

void option_defaults(struct settings *s)
{
    struct pstate ps;
    char err[256];
    int i;

    memset(s, 0, sizeof(*s));
    memset(&ps, 0, sizeof(ps));
    ps.defaults = true;
    ps.err = err;
    ps.errlen = sizeof(err);
    s->slab_page_size = 1024 * 1024;
    for (i = 0; i < OPT_COUNT; i++) {
        if (opts[i].def == NULL || opts[i].off == NOFF)
            continue;
        if (set_value(s, &ps, i, opts[i].def) < 0) {
            fprintf(stderr, "option table: bad default: %s\n", err);
            abort();
        }
    }
}

void option_free(struct settings *s)
{
    int i;

    for (i = 0; i < OPT_COUNT; i++)
        if (opts[i].type == T_STR && opts[i].off != NOFF) {
            char **p = field(s, &opts[i]);
            free(*p);
            *p = NULL;
        }
    for (i = 0; i < s->nlisten; i++) {
        free(s->listen[i]);
        s->listen[i] = NULL;
    }
    s->nlisten = 0;
    free(s->config_file);
    s->config_file = NULL;
    free(s->warnings);
    s->warnings = NULL;
}

static char *dup_or_null(const char *p)
{
    return p ? strdup(p) : NULL;
}

void option_copy(struct settings *dst, const struct settings *src)
{
    int i;

    *dst = *src;
    for (i = 0; i < OPT_COUNT; i++)
        if (opts[i].type == T_STR && opts[i].off != NOFF) {
            char *const *sp = cfield(src, &opts[i]);
            *(char **)field(dst, &opts[i]) = dup_or_null(*sp);
        }
    for (i = 0; i < src->nlisten; i++)
        dst->listen[i] = dup_or_null(src->listen[i]);
    dst->config_file = dup_or_null(src->config_file);
    dst->warnings = dup_or_null(src->warnings);
}

/* Split a "-x value" line into words (in place). */
static int split_words(char *line, char **words, int max)
{
    int n = 0;

    for (;;) {
        while (isspace((unsigned char)*line))
            line++;
        if (*line == '\0' || n == max)
            return *line == '\0' ? n : -1;
        words[n++] = line;
        while (*line != '\0' && !isspace((unsigned char)*line))
            line++;
        if (*line != '\0')
            *line++ = '\0';
    }
}

/* One non-comment line: "name = value", "name value", "name" or "-x ...". */
static int parse_line(struct settings *s, struct pstate *ps, char *line)
{
    if (line[0] == '-') {
        char *words[64];
        int n = split_words(line, words, 64);

        if (n < 0)
            return fail(ps, NULL, "too many words");
        return parse_args(s, ps, n, words, 0) == OPTION_OK ? 0 : -1;
    } else {
        char *name = line, *v, *end;
        size_t len = 0;
        int id;

        while (isalnum((unsigned char)name[len]) || name[len] == '_' ||
               name[len] == '-')
            len++;
        if (len == 0)
            return fail(ps, NULL, "expected \"name = value\", got \"%s\"", line);
        v = name + len;
        if (*v != '\0' && *v != '=' && !isspace((unsigned char)*v))
            return fail(ps, NULL, "expected \"name = value\", got \"%s\"", line);
        while (isspace((unsigned char)*v))
            v++;
        if (*v == '=') {
            v++;
            while (isspace((unsigned char)*v))
                v++;
        }
        end = v + strlen(v);
        if (end - v >= 2 && *v == '"' && end[-1] == '"') {
            v++;
            *--end = '\0';
        }
        id = find_name(name, len, false);
        if (id < 0) {
            char save = name[len];
            int r;
            name[len] = '\0';       /* v starts after it, unharmed */
            r = set_ext(s, ps, name, len, *v ? v : NULL);
            name[len] = save;
            return r;
        }
        if (*v == '\0') {
            if (!is_flag(&opts[id])) {
                char key[64];
                snprintf(key, sizeof(key), "%s", opts[id].name);
                return fail(ps, key, "missing value");
            }
            v = "yes";
        }
        if (id == OPT_extended)
            return set_ext_list(s, ps, v);
        if (opts[id].type == T_COUNT && ps->seen[id] == 0 &&
            (strcasecmp(v, "yes") == 0 || strcasecmp(v, "true") == 0))
            v = "1";
        return set_checked(s, ps, id, v);
    }
}

/* Parse the file at path into s (which already holds the base). */
static int load_into(struct settings *s, const char *path, char *err, size_t errlen)
{
    struct pstate ps;
    char buf[4096];
    FILE *f;
    int rc = 0;

    memset(&ps, 0, sizeof(ps));
    ps.file = path;
    ps.err = err;
    ps.errlen = errlen;
    f = fopen(path, "r");
    if (f == NULL)
        return fail(&ps, NULL, "cannot open: %s", strerror(errno));
    while (fgets(buf, sizeof(buf), f) != NULL) {
        size_t n = strlen(buf);
        char *p = buf;

        ps.line++;
        if (n == sizeof(buf) - 1 && buf[n - 1] != '\n') {
            rc = fail(&ps, NULL, "line too long");
            break;
        }
        while (n > 0 && isspace((unsigned char)buf[n - 1]))
            buf[--n] = '\0';
        while (isspace((unsigned char)*p))
            p++;
        if (*p == '\0' || *p == '#')
            continue;
        if (parse_line(s, &ps, p) < 0) {
            rc = -1;
            break;
        }
    }
    if (rc == 0 && ferror(f))
        rc = fail(&ps, NULL, "read error: %s", strerror(errno));
    fclose(f);
    if (rc == 0)
        rc = finish(s, &ps);
    return rc;
}

int option_load_file(const struct settings *base, const char *path,
                     struct settings *out, char *err, size_t errlen)
{
    struct settings tmp;

    option_copy(&tmp, base);
    if (load_into(&tmp, path, err, errlen) < 0) {
        option_free(&tmp);
        return -1;
    }
    free(tmp.config_file);
    tmp.config_file = strdup(path);
    if (out == base)
        option_free(out);
    *out = tmp;
    return 0;
}

enum option_result option_parse(struct settings *s, int argc, char **argv,
                                char *err, size_t errlen)
{
    const char *path = NULL;
    int i;

    /* --config first: the command line must override the file. */
    for (i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0)
            break;
        if (strncmp(argv[i], "--config=", 9) == 0)
            path = argv[i] + 9;
        else if (strcmp(argv[i], "--config") == 0 && i + 1 < argc)
            path = argv[++i];
    }
    if (path == NULL) {
        path = getenv("MEMCACHED_CONFIG");
        if (path != NULL && *path == '\0')
            path = NULL;
    }
    return option_parse_config(s, path, argc, argv, err, errlen);
}

enum option_result option_parse_config(struct settings *s, const char *path,
                                       int argc, char **argv,
                                       char *err, size_t errlen)
{
    struct pstate ps;
    enum option_result r;

    option_defaults(s);
    if (errlen > 0)
        err[0] = '\0';
    if (path != NULL) {
        if (load_into(s, path, err, errlen) < 0)
            return OPTION_ERROR;
        s->config_file = strdup(path);
    }
    memset(&ps, 0, sizeof(ps));
    ps.err = err;
    ps.errlen = errlen;
    r = parse_args(s, &ps, argc, argv, 1);
    if (r != OPTION_OK)
        return r;
    return finish(s, &ps) < 0 ? OPTION_ERROR : OPTION_OK;
}

/* --- comparing and reloading ---------------------------------------------- */

static bool same(const struct settings *a, const struct settings *b, int id)
{
    const struct opt *o = &opts[id];
    int i;

    switch (o->type) {
    case T_INT: case T_OCTAL: case T_COUNT: case T_IBOOL: case T_PROTO:
        return *(const int *)cfield(a, o) == *(const int *)cfield(b, o);
    case T_U32: case T_SIZE32:
        return *(const uint32_t *)cfield(a, o) == *(const uint32_t *)cfield(b, o);
    case T_SIZE:
        return *(const size_t *)cfield(a, o) == *(const size_t *)cfield(b, o);
    case T_DOUBLE:
        return *(const double *)cfield(a, o) == *(const double *)cfield(b, o);
    case T_CHAR:
        return *(const char *)cfield(a, o) == *(const char *)cfield(b, o);
    case T_BOOL: case T_NBOOL:
        return *(const bool *)cfield(a, o) == *(const bool *)cfield(b, o);
    case T_STR: {
        const char *x = *(char *const *)cfield(a, o);
        const char *y = *(char *const *)cfield(b, o);
        return x == y || (x && y && strcmp(x, y) == 0);
    }
    case T_LIST:
        if (a->nlisten != b->nlisten)
            return false;
        for (i = 0; i < a->nlisten; i++)
            if (strcmp(a->listen[i], b->listen[i]) != 0)
                return false;
        return true;
    default:
        return true;
    }
}

int option_apply_runtime(struct settings *live, const struct settings *fresh,
                         char *note, size_t notelen)
{
    int i, differ = 0;
    size_t n = 0;

    if (note != NULL && notelen > 0)
        note[0] = '\0';
    for (i = 0; i < OPT_COUNT; i++) {
        const struct opt *o = &opts[i];

        if (o->off == NOFF || same(live, fresh, i))
            continue;
        if (o->flags & F_RUNTIME) {
            /* plain scalars; strings (logfile) are the caller's */
            switch (o->type) {
            case T_INT: case T_COUNT:
                *(int *)field(live, o) = *(const int *)cfield(fresh, o);
                break;
            case T_SIZE:
                *(size_t *)field(live, o) = *(const size_t *)cfield(fresh, o);
                break;
            case T_BOOL:
                *(bool *)field(live, o) = *(const bool *)cfield(fresh, o);
                break;
            default:
                break;
            }
            continue;
        }
        differ++;
        if (note != NULL && n < notelen) {
            int w = snprintf(note + n, notelen - n, "%s%s", n ? ", " : "", o->name);
            if (w > 0)
                n += (size_t)w;
        }
    }
    return differ;
}

/* --- --help ------------------------------------------------------------------ */

#define HELP_COL 26

/* The "(default: ...)" text for an option, or NULL. */
static const char *default_text(const struct opt *o, char *buf, size_t len)
{
    if (o->def == NULL || o->type == T_REFUSE || o->type == T_NBOOL ||
        o->type == T_COUNT)
        return NULL;
    if (o->type == T_BOOL || o->type == T_IBOOL) {
        if (!(o->flags & F_EXT))
            return NULL;
        return strcmp(o->def, "yes") == 0 ? "enabled" : "disabled";
    }
    if (o->type == T_PROTO)
        return "auto-negotiate";
    snprintf(buf, len, "%s", o->def);
    return buf;
}

/* Print lines of text, the first after `used` columns, the rest at col. */
static void print_wrapped(FILE *out, int used, int col, const char *text,
                          const char *suffix)
{
    const char *p = text;

    if (used >= col) {
        fputc(' ', out);
    } else {
        fprintf(out, "%*s", col - used, "");
    }
    for (;;) {
        size_t n = strcspn(p, "\n");
        fwrite(p, 1, n, out);
        if (p[n] == '\0') {
            if (suffix != NULL && (used > col ? used + 1 : col) + n +
                                  strlen(suffix) + 12 > 80)
                fprintf(out, "\n%*s(default: %s)", col, "", suffix);
            else if (suffix != NULL)
                fprintf(out, " (default: %s)", suffix);
            fputc('\n', out);
            return;
        }
        fprintf(out, "\n%*s", col, "");
        p += n + 1;
        used = col;
    }
}

/* The name an -o option is listed under: booleans that default on are
 * listed as their "no_" form, as memcached does. */
static void ext_name(const struct opt *o, char *buf, size_t len)
{
    snprintf(buf, len, "%s", o->name);
}

void option_usage(FILE *out)
{
    char left[96], dbuf[64];
    int i;

    fprintf(out, "%s\n", OPTION_VERSION_STRING);
    for (i = 0; i < OPT_COUNT; i++) {
        const struct opt *o = &opts[i];
        int w;

        if (o->flags & (F_HIDDEN | F_EXT))
            continue;
        if (o->shortc)
            w = snprintf(left, sizeof(left), "-%c, --%s%s%s", o->shortc,
                         o->name, o->arg ? "=" : "", o->arg ? o->arg : "");
        else
            w = snprintf(left, sizeof(left), "    --%s%s%s", o->name,
                         o->arg ? "=" : "", o->arg ? o->arg : "");
        fputs(left, out);
        print_wrapped(out, w, HELP_COL, o->help, default_text(o, dbuf, sizeof(dbuf)));
        if (i == OPT_verbose) {
            fprintf(out, "%-*s%s\n", HELP_COL, "-vv",
                    "very verbose (also print client commands/responses)");
            fprintf(out, "%-*s%s\n", HELP_COL, "-vvv",
                    "extremely verbose (internal state transitions)");
        }
        if (i == OPT_extended) {
            int j;
            for (j = 0; j < OPT_COUNT; j++) {
                const struct opt *e = &opts[j];
                char nm[64];
                if (!(e->flags & F_EXT))
                    continue;
                ext_name(e, nm, sizeof(nm));
                w = snprintf(left, sizeof(left), "   - %s:", nm);
                fputs(left, out);
                print_wrapped(out, w, HELP_COL, e->help,
                              default_text(e, dbuf, sizeof(dbuf)));
            }
        }
    }
}

/* --- stats settings ---------------------------------------------------------- */

void option_stats_settings(const struct settings *s,
                           void (*fn)(const char *name, const char *value, void *arg),
                           void *arg)
{
    static const char *proto[] = { "auto-negotiate", "ascii", "binary" };
    char v[1024];
    size_t n = 0;
    int i;

#define YN(b) ((b) ? "yes" : "no")
#define EMIT(name, ...) do { snprintf(v, sizeof(v), __VA_ARGS__); fn(name, v, arg); } while (0)
    EMIT("maxbytes", "%zu", s->maxbytes);
    EMIT("maxconns", "%d", s->maxconns);
    EMIT("tcpport", "%d", s->port);
    EMIT("udpport", "%d", s->udp_port);
    v[0] = '\0';
    for (i = 0; i < s->nlisten; i++) {
        int w = snprintf(v + n, sizeof(v) - n, "%s%s", i ? "," : "", s->listen[i]);
        if (w < 0 || (size_t)w >= sizeof(v) - n)
            break;
        n += (size_t)w;
    }
    fn("inter", s->nlisten ? v : "NULL", arg);
    EMIT("verbosity", "%d", s->verbose);
    fn("oldest", "0", arg);         /* runtime: the caller substitutes it */
    fn("evictions", s->evict_to_free ? "on" : "off", arg);
    fn("domain_socket", s->socketpath ? s->socketpath : "NULL", arg);
    EMIT("umask", "%o", (unsigned)s->access);
    fn("shutdown_command", YN(s->enable_shutdown), arg);
    EMIT("growth_factor", "%.2f", s->factor);
    EMIT("chunk_size", "%d", s->chunk_size);
    EMIT("num_threads", "%d", s->num_threads);
    EMIT("num_threads_per_udp", "%d", s->num_threads);
    EMIT("stat_key_prefix", "%c", s->prefix_delimiter);
    fn("detail_enabled", YN(s->detail_enabled), arg);
    EMIT("reqs_per_event", "%d", s->reqs_per_event);
    fn("cas_enabled", YN(s->use_cas), arg);
    EMIT("tcp_backlog", "%d", s->backlog);
    fn("binding_protocol", proto[s->binding_protocol >= 0 && s->binding_protocol <= 2 ?
                                 s->binding_protocol : 0], arg);
    fn("auth_enabled_sasl", YN(s->enable_sasl), arg);
    fn("auth_enabled_ascii", s->auth_file != NULL ? s->auth_file : "no", arg);
    EMIT("item_size_max", "%u", s->item_size_max);
    fn("maxconns_fast", YN(s->maxconns_fast), arg);
    EMIT("hashpower_init", "%d", s->hashpower_init);
    fn("slab_reassign", YN(s->slab_reassign), arg);
    EMIT("slab_automove", "%d", s->slab_automove);
    fn("slab_automove_ratio", "0.80", arg);
    fn("slab_automove_window", "30", arg);
    EMIT("slab_chunk_max", "%u", s->slab_chunk_max);
    fn("lru_crawler", YN(s->lru_crawler), arg);
    EMIT("lru_crawler_sleep", "%d", s->lru_crawler_sleep);
    EMIT("lru_crawler_tocrawl", "%u", s->lru_crawler_tocrawl);
    EMIT("tail_repair_time", "%d", s->tail_repair_time);
    fn("flush_enabled", YN(s->flush_enabled), arg);
    fn("dump_enabled", YN(s->dump_enabled), arg);
    fn("hash_algorithm", "xxh3", arg);
    fn("lru_maintainer_thread", YN(s->lru_maintainer), arg);
    fn("lru_segmented", YN(s->lru_maintainer), arg);
    EMIT("hot_lru_pct", "%d", s->hot_lru_pct);
    EMIT("warm_lru_pct", "%d", s->warm_lru_pct);
    EMIT("hot_max_factor", "%.2f", s->hot_max_factor);
    EMIT("warm_max_factor", "%.2f", s->warm_max_factor);
    fn("temp_lru", YN(s->temp_lru), arg);
    EMIT("temporary_ttl", "%d", s->temporary_ttl);
    EMIT("idle_timeout", "%d", s->idle_timeout);
    EMIT("watcher_logbuf_size", "%u", s->watcher_logbuf_size);
    EMIT("worker_logbuf_size", "%u", s->worker_logbuf_size);
    EMIT("read_buf_mem_limit", "%d", s->read_buf_mem_limit);
    fn("track_sizes", YN(s->track_sizes), arg);
    fn("inline_ascii_response", "no", arg);
    /* extstore and TLS are not supported: memcached's values when off */
    fn("ext_item_size", "512", arg);
    fn("ext_item_age", "4294967295", arg);
    fn("ext_low_ttl", "0", arg);
    fn("ext_recache_rate", "2000", arg);
    fn("ext_wbuf_size", "4194304", arg);
    fn("ext_compact_under", "0", arg);
    fn("ext_drop_under", "0", arg);
    fn("ext_max_sleep", "1000000", arg);
    fn("ext_max_frag", "0.80", arg);
    fn("slab_automove_freeratio", "0.010", arg);
    fn("ext_drop_unread", "no", arg);
    fn("ssl_enabled", YN(s->ssl_enabled), arg);
    fn("ssl_chain_cert", s->ssl_chain_cert ? s->ssl_chain_cert : "(null)", arg);
    fn("ssl_key", s->ssl_key ? s->ssl_key : "(null)", arg);
    EMIT("ssl_verify_mode", "%d", tls_verify_flags(s->ssl_verify_mode));
    EMIT("ssl_keyformat", "%d", s->ssl_keyformat);
    fn("ssl_ciphers", s->ssl_ciphers ? s->ssl_ciphers : "NULL", arg);
    fn("ssl_ca_cert", s->ssl_ca_cert ? s->ssl_ca_cert : "NULL", arg);
    EMIT("ssl_wbuf_size", "%u", s->ssl_wbuf_size);
    fn("ssl_session_cache", YN(s->ssl_session_cache), arg);
    fn("ssl_kernel_tls", YN(s->ssl_kernel_tls), arg);
    fn("ssl_min_version", tls_version_name(s->ssl_min_version), arg);
    fn("num_napi_ids", "(null)", arg);
    fn("memory_file", "(null)", arg);
    /* ours */
    fn("snapshot_path", s->snapshot_path ? s->snapshot_path : "NULL", arg);
    EMIT("snapshot_interval", "%d", s->snapshot_interval);
    fn("snapshot_on_shutdown", YN(s->snapshot_on_shutdown), arg);
    fn("snapshot_load", YN(s->snapshot_load), arg);
    fn("snapshot_refuse_corrupt", YN(s->snapshot_refuse_corrupt), arg);
    EMIT("write_timeout", "%d", s->write_timeout);
    EMIT("shutdown_timeout", "%d", s->shutdown_timeout);
    EMIT("read_buf_max", "%zu", s->read_buf_max);
    fn("eviction_policy", s->eviction_policy != NULL ? s->eviction_policy : "s3fifo", arg);
    EMIT("ssl_handshake_timeout", "%d", s->ssl_handshake_timeout);
    fn("hotkeys", YN(s->hotkeys), arg);
    EMIT("hotkeys_sample", "%u", s->hotkeys_sample);
    EMIT("hotkeys_size", "%u", s->hotkeys_size);
    fn("metrics_listen", s->metrics_listen ? s->metrics_listen : "NULL", arg);
#undef EMIT
#undef YN
}

int option_host_port(const char *spec, char *host, size_t hostlen, int *port,
                     char *err, size_t errlen)
{
    const char *p = spec, *h = NULL, *digits;
    size_t hn = 0;

    if (spec[0] == '[') {
        const char *end = strchr(spec, ']');
        if (end == NULL || end == spec + 1 || end[1] != ':') {
            snprintf(err, errlen, "expected [v6address]:port");
            return -1;
        }
        h = spec + 1;
        hn = (size_t)(end - h);
        digits = end + 2;
    } else if ((p = strrchr(spec, ':')) != NULL) {
        if (strchr(spec, ':') != p) {
            snprintf(err, errlen, "an IPv6 address goes in brackets: [v6address]:port");
            return -1;
        }
        if (p == spec) {
            snprintf(err, errlen, "no host before ':'");
            return -1;
        }
        h = spec;
        hn = (size_t)(p - spec);
        digits = p + 1;
    } else {
        h = "127.0.0.1";            /* a bare port: loopback only */
        hn = strlen(h);
        digits = spec;
    }
    long n = 0;
    const char *d = digits;
    for (; *d >= '0' && *d <= '9' && n <= 65535; d++)
        n = n * 10 + (*d - '0');
    if (d == digits || *d != '\0' || n < 1 || n > 65535) {
        snprintf(err, errlen, "port must be a number from 1 to 65535");
        return -1;
    }
    if (hn >= hostlen) {
        snprintf(err, errlen, "host name too long");
        return -1;
    }
    for (size_t i = 0; i < hn; i++) {
        unsigned char c = (unsigned char)h[i];
        if (c <= ' ' || c == '/' || c >= 0x7f) {
            snprintf(err, errlen, "bad character in host");
            return -1;
        }
    }
    memcpy(host, h, hn);
    host[hn] = '\0';
    *port = (int)n;
    return 0;
}

/* --- generated documents ------------------------------------------------------ */

static void comment_lines(FILE *out, const char *prefix, const char *text)
{
    const char *p = text;

    for (;;) {
        size_t n = strcspn(p, "\n");
        fprintf(out, "%s%.*s\n", prefix, (int)n, p);
        if (p[n] == '\0')
            return;
        p += n + 1;
    }
}

void option_write_example(FILE *out)
{
    int i;

    fprintf(out,
        "# memcached.conf.example -- every setting with its default.\n"
        "# GENERATED from the option table (src/config/option.c) by\n"
        "# `make -C build gen-docs`; do not edit by hand.\n"
        "#\n"
        "# Use with --config=FILE or MEMCACHED_CONFIG=FILE.  The command line\n"
        "# overrides this file; this file overrides the built-in defaults.\n"
        "# Lines are \"name = value\" (a long option name or an -o name),\n"
        "# or Debian /etc/memcached.conf style (\"-m 64\", \"-vv\", \"logfile FILE\").\n"
        "# Sizes take k/m/g suffixes; booleans take yes/no/true/false/1/0.\n"
        "# Settings marked \"runtime\" change on SIGHUP (doc/configuration.md).\n"
        "# As shipped, this file starts the server exactly as the defaults do.\n");
    for (i = 0; i < OPT_COUNT; i++) {
        const struct opt *o = &opts[i];
        const char *d;

        if (o->flags & (F_HIDDEN | F_NOFILE) || o->type == T_ACTION)
            continue;
        fprintf(out, "\n# %s", o->name);
        if (o->shortc)
            fprintf(out, " (-%c)", o->shortc);
        else if (o->flags & F_EXT)
            fprintf(out, " (-o %s)", o->name);
        if (o->flags & F_RUNTIME)
            fprintf(out, " [runtime]");
        fputc('\n', out);
        comment_lines(out, "#   ", o->help);
        d = o->def;
        if (o->type == T_NBOOL || o->type == T_REFUSE)
            d = "no";
        if (d == NULL || (o->flags & F_SIDE)) {
            if (d != NULL)
                fprintf(out, "#   default: %s\n", d);
            if (d != NULL)
                fprintf(out, "#%s = %s\n", o->name, d);
            else
                fprintf(out, "#%s =\n", o->name);
        } else {
            fprintf(out, "%s = %s\n", o->name, d);
        }
    }
}

/* troff-escape text: '-' and '\\' need escaping. */
static void man_text(FILE *out, const char *p)
{
    for (; *p; p++) {
        if (*p == '-')
            fputs("\\-", out);
        else if (*p == '\\')
            fputs("\\e", out);
        else if (*p == '\n')
            fputc(' ', out);
        else
            fputc(*p, out);
    }
}

/* The part of a man page entry after the option's name: its argument,
 * help text and default. */
static void
man_entry_rest(FILE *out, const struct opt *o)
{
    char dbuf[64];
    const char *d;

    if (o->arg) {
        fputs("=\\fI", out);
        man_text(out, o->arg);
        fputs("\\fR", out);
    }
    fputc('\n', out);
    man_text(out, o->help);
    d = default_text(o, dbuf, sizeof(dbuf));
    if (d)
        fprintf(out, " (default: %s)", d);
    fputs(".\n", out);
}

void option_write_man(FILE *out)
{
    int i;

    fprintf(out,
        ".\\\" GENERATED from the option table (src/config/option.c) by\n"
        ".\\\" `make -C build gen-docs`; do not edit by hand.\n"
        ".TH MEMCACHED 1 \"\" \"memcached-ng %s\" \"User Commands\"\n"
        ".SH NAME\n"
        "memcached \\- memcached\\-compatible in\\-memory key\\-value cache\n"
        ".SH SYNOPSIS\n"
        ".B memcached\n"
        ".RI [ options ]\n"
        ".SH DESCRIPTION\n"
        ".B memcached\n"
        "is a memcached %s compatible cache server.  It speaks the memcached\n"
        "text and meta protocols over TCP or a UNIX socket.  By default it\n"
        "listens on 127.0.0.1 only (memcached listens on all interfaces).\n"
        ".SH OPTIONS\n", PACKAGE_VERSION, MEMCACHED_COMPAT_VERSION);
    for (i = 0; i < OPT_COUNT; i++) {
        const struct opt *o = &opts[i];

        if (o->flags & (F_HIDDEN | F_EXT))
            continue;
        fputs(".TP\n", out);
        if (o->shortc)
            fprintf(out, "\\fB\\-%c\\fR, ", o->shortc);
        fputs("\\fB\\-\\-", out);
        man_text(out, o->name);
        fputs("\\fR", out);
        man_entry_rest(out, o);
        if (i == OPT_verbose)
            fputs("Repeat (\\fB\\-vv\\fR, \\fB\\-vvv\\fR) for more detail.\n", out);
        if (i == OPT_extended) {
            fputs("The extended options are listed below.\n", out);
        }
    }
    fputs(".SH EXTENDED OPTIONS\n"
          "Given as \\fB\\-o\\fR \\fIname\\fR[=\\fIvalue\\fR][,...], or as\n"
          "\\fIname\\fR = \\fIvalue\\fR in a configuration file.  Boolean options\n"
          "take a \\fBno_\\fR prefix to turn them off.\n", out);
    for (i = 0; i < OPT_COUNT; i++) {
        const struct opt *o = &opts[i];

        if (!(o->flags & F_EXT) || (o->flags & F_HIDDEN))
            continue;
        fputs(".TP\n\\fB", out);
        man_text(out, o->name);
        fputs("\\fR", out);
        man_entry_rest(out, o);
    }
    fputs(".SH CONFIGURATION FILE\n"
          "Settings may also come from the file named by \\fB\\-\\-config\\fR or\n"
          "the \\fBMEMCACHED_CONFIG\\fR environment variable.  The command line\n"
          "overrides the file, which overrides the defaults.  Lines are\n"
          "\\fIname\\fR = \\fIvalue\\fR (a long option name or an extended option\n"
          "name) or Debian /etc/memcached.conf style (\\fB\\-m 64\\fR,\n"
          "\\fBlogfile\\fR \\fIfile\\fR); \\fB#\\fR starts a comment line.  A file\n"
          "with any error is rejected as a whole.  See memcached.conf.example.\n"
          ".SH SIGNALS\n"
          "\\fBSIGHUP\\fR re\\-reads the configuration file; \\fBverbose\\fR,\n"
          "\\fBmemory\\-limit\\fR, \\fBconn\\-limit\\fR, \\fBidle_timeout\\fR and the\n"
          "\\fBsnapshot_*\\fR runtime settings take effect, other changes need a\n"
          "restart.\n"
          ".SH ENVIRONMENT\n"
          ".TP\n"
          ".B MEMCACHED_CONFIG\n"
          "configuration file to read when \\fB\\-\\-config\\fR is not given.\n"
          ".SH SEE ALSO\n"
          "doc/configuration.md, doc/snapshot.md, memcached.conf.example\n", out);
}
