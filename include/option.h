/*
 * option.h -- settings: one option table feeds the command line, the config
 * file, --help, memcached.conf.example, the man page and "stats settings".
 *
 * Precedence: defaults < config file (--config=FILE or $MEMCACHED_CONFIG)
 * < command line.  A file with any error applies nothing.
 *
 * Limits: every value that becomes a size or a count is checked against
 * what the machine can represent and address before it is stored, so no
 * later multiplication or narrowing can wrap (doc/configuration.md,
 * "Limits"): -m at most OPTION_MAXBYTES_MAX bytes (and with -L at most the
 * physical memory), other sizes too, -t at most OPTION_THREADS_MAX,
 * hashpower 12..32, slab_chunk_max and -n within what the slab allocator
 * accepts.  A refused value is an OPTION_ERROR, never a silent clamp.
 *
 * Thread safety: struct settings holds plain fields, no atomics and no
 * lock.  These functions keep no shared state (only -h/-V and the dump
 * flags write to stdout), so any thread may call them on settings it owns;
 * sharing one struct between threads is the caller's business.  The daemon
 * (server.c) fills its settings on the main thread before any other thread
 * starts; afterwards only the F_RUNTIME fields change (SIGHUP reload through
 * option_apply_runtime(), cache_memlimit for maxbytes), under server.c's
 * live_lock, and the modules that act on them (workers, storage, snapshots)
 * get the new values through their own setters, not by reading this struct.
 */
#ifndef MC_OPTION_H
#define MC_OPTION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "config.h"                 /* PACKAGE_VERSION, MEMCACHED_COMPAT_VERSION */

#define OPTION_MAX_LISTEN 32

/* Largest -m (and any other amount of memory), in bytes: 64 TiB on 64-bit systems (x86-64 and arm64 give a
 * process a 47/48-bit address space, 128/256 TiB, and the heap, stacks and
 * the allocator's side tables need the rest); 2 GiB on 32-bit systems.  It
 * also keeps the number of 1 MB slab pages far below 2^32. */
#define OPTION_MAXBYTES_MAX  (SIZE_MAX > 0xffffffffu ? (uint64_t)1 << 46 : (uint64_t)1 << 31)
/* Largest -t: worker threads each hold a thread, an event base, a notify
 * pipe and a 64 KB read buffer; memcached already warns above 64. */
#define OPTION_THREADS_MAX   1024

/* Our version as the protocol's "version" reply gives it ("1.6.18-ng-0.1.0"):
 * clients that gate features on the memcached version see 1.6.18. */
#define OPTION_VERSION        MEMCACHED_COMPAT_VERSION "-ng-" PACKAGE_VERSION
/* What -V prints: "memcached 1.6.18-ng-0.1.0". */
#define OPTION_VERSION_STRING "memcached " OPTION_VERSION

struct settings {
    /* network */
    int      port;                  /* -p, TCP port (11211); 0 = off */
    int      udp_port;              /* -U (0 = off) */
    char    *socketpath;            /* -s, unix socket; NULL = none */
    int      access;                /* -a, octal mode of the unix socket (0700) */
    bool     enable_shutdown;       /* -A */
    char    *listen[OPTION_MAX_LISTEN]; /* -l, each may hold "a,b"; host or [v6] with optional :port */
    int      nlisten;
    int      backlog;               /* -b (1024) */
    /* process */
    bool     daemonize;             /* -d */
    bool     maxcore;               /* -r */
    char    *username;              /* -u */
    char    *pidfile;               /* -P */
    bool     lock_memory;           /* -k */
    int      verbose;               /* -v count; runtime */
    char    *logfile;               /* logfile NAME (file or "syslog"); NULL = stderr */
    char    *config_file;           /* --config / $MEMCACHED_CONFIG; NULL = none */
    /* memory */
    size_t   maxbytes;              /* -m, bytes (64 MB); runtime */
    bool     evict_to_free;         /* false with -M */
    double   factor;                /* -f (1.25) */
    int      chunk_size;            /* -n (48) */
    bool     prealloc;              /* -L */
    bool     use_cas;               /* false with -C */
    uint32_t item_size_max;         /* -I (1 MB), 1 KB .. 1 GB */
    uint32_t slab_chunk_max;        /* -o slab_chunk_max (page/2 = 512 KB) */
    uint32_t slab_page_size;        /* 1 MB */
    int      hashpower_init;        /* -o hashpower (0 = default 16) */
    bool     hash_expand;           /* no_hashexpand clears */
    int      slab_reassign;         /* -o slab_reassign (1) */
    int      slab_automove;         /* -o slab_automove (1) */
    bool     lru_crawler;           /* no_lru_crawler clears */
    int      lru_crawler_sleep;     /* usecs */
    /* connections */
    int      maxconns;              /* -c (1024); runtime */
    int      num_threads;           /* -t (4) */
    int      reqs_per_event;        /* -R (20) */
    int      idle_timeout;          /* -o idle_timeout secs (0 = off); runtime */
    bool     maxconns_fast;         /* -o maxconns_fast (on) */
    int      read_buf_mem_limit;    /* -o read_buf_mem_limit MB, buffers > 16 KB (0 = unlimited) */
    size_t   read_buf_max;          /* -o read_buf_max, bytes: one connection's read buffer */
    int      write_timeout;         /* -o write_timeout secs (0 = off); runtime */
    int      shutdown_timeout;      /* -o shutdown_timeout secs: drain deadline */
    /* protocol */
    int      binding_protocol;      /* -B: 0 auto, 1 ascii, 2 binary (-S: 2) */
    bool     binding_protocol_given; /* -B was given (with -S only binary is allowed) */
    bool     enable_sasl;           /* -S */
    char    *auth_file;             /* -Y: ASCII authentication; NULL = off */
    bool     flush_enabled;         /* false with -F */
    bool     dump_enabled;          /* false with -X */
    /* TLS (doc/security.md) */
    bool     ssl_enabled;           /* -Z */
    char    *ssl_chain_cert;        /* PEM chain; NULL = none */
    char    *ssl_key;               /* NULL: the key is in ssl_chain_cert */
    int      ssl_keyformat;         /* 1 PEM, 2 DER */
    int      ssl_verify_mode;       /* 0 none, 1 request, 2 require, 3 once */
    char    *ssl_ciphers;           /* NULL = OpenSSL's default */
    char    *ssl_ca_cert;           /* client CAs; NULL = none */
    uint32_t ssl_wbuf_size;         /* bytes (16 KB) */
    bool     ssl_session_cache;
    bool     ssl_kernel_tls;
    int      ssl_min_version;       /* 0..3: TLS 1.0 .. 1.3 (2) */
    int      ssl_handshake_timeout; /* secs (10) */
    /* snapshots (doc/snapshot.md) */
    char    *snapshot_path;         /* NULL = no persistence */
    int      snapshot_interval;     /* secs, 0 = only on shutdown/demand; runtime */
    bool     snapshot_on_shutdown;  /* default yes when a path is set; runtime */
    bool     snapshot_load;         /* default yes */
    bool     snapshot_refuse_corrupt; /* refuse to start on a damaged file */

    /* --- additions (additive to the original contract) --- */
    bool     watch_enabled;         /* false with -W */
    char     prefix_delimiter;      /* -D (':'), per-prefix stats key delimiter */
    bool     detail_enabled;        /* true once -D is given */
    uint32_t lru_crawler_tocrawl;   /* -o lru_crawler_tocrawl, items per class per run (0 = all) */
    bool     lru_maintainer;        /* no_lru_maintainer clears */
    int      hot_lru_pct;           /* -o hot_lru_pct (20), percent of class memory */
    int      warm_lru_pct;          /* -o warm_lru_pct (40) */
    double   hot_max_factor;        /* -o hot_max_factor (0.20) */
    double   warm_max_factor;       /* -o warm_max_factor (2.00) */
    int      temporary_ttl;         /* -o temporary_ttl secs (61) */
    bool     temp_lru;              /* true once temporary_ttl is given */
    int      tail_repair_time;      /* -o tail_repair_time secs; accepted, no effect */
    char    *hash_algorithm;        /* -o hash_algorithm as given; we always use xxh3 */
    char    *eviction_policy;       /* -o eviction_policy: "s3fifo" (default) or "clock" */
    bool     track_sizes;           /* -o track_sizes */
    bool     modern;                /* no_modern clears (and sets 1.4-era defaults) */
    uint32_t watcher_logbuf_size;   /* bytes (-o value in KB, 256 KB) */
    uint32_t worker_logbuf_size;    /* bytes (-o value in KB, 64 KB) */
    bool     hotkeys;               /* -o hotkeys (on): "stats hotkeys" */
    uint32_t hotkeys_sample;        /* -o hotkeys_sample: 1 lookup in this many */
    uint32_t hotkeys_size;          /* -o hotkeys_size: keys per worker sketch */
    char    *metrics_listen;        /* -o metrics_listen host:port (or a bare port,
                                     * 127.0.0.1): HTTP monitoring; NULL = off */
    char    *warnings;              /* accepted-but-odd settings, one per line;
                                     * NULL = none; the daemon logs them */
};

/* Fill s with the defaults. */
void option_defaults(struct settings *s);

enum option_result {
    OPTION_OK = 0,                  /* go on and start the server */
    OPTION_EXIT_OK,                 /* -h/-V printed; exit 0 */
    OPTION_ERROR                    /* message in err; exit non-zero */
};

/* Parse argv over defaults, loading a config file first when --config or
 * $MEMCACHED_CONFIG names one (command-line values win).  s is always
 * initialised: option_free() it whatever the result.  Accepted settings
 * worth a warning are listed in s->warnings.  Hidden flags
 * --dump-config-example and --dump-man print the generated documents and
 * return OPTION_EXIT_OK. */
enum option_result option_parse(struct settings *s, int argc, char **argv,
                                char *err, size_t errlen);

/* option_parse(), but with the config file given as path (NULL = none)
 * instead of the one argv or $MEMCACHED_CONFIG names; any --config in argv
 * is ignored.  For SIGHUP after -d changed the working directory: the
 * daemon passes the absolute path it resolved at start. */
enum option_result option_parse_config(struct settings *s, const char *path,
                                       int argc, char **argv,
                                       char *err, size_t errlen);

/* Parse the config file at path over a copy of `base` into out (for
 * SIGHUP).  0, or -1 with "file:line: key: message" in err and out
 * untouched.  out may be base itself (it is then replaced). */
int option_load_file(const struct settings *base, const char *path,
                     struct settings *out, char *err, size_t errlen);

/* Print --help in memcached's style. */
void option_usage(FILE *out);

/* Call fn(name, value) for every "stats settings" line, in memcached's
 * order and naming. */
void option_stats_settings(const struct settings *s,
                           void (*fn)(const char *name, const char *value, void *arg),
                           void *arg);

/* Free the strings s owns. */
void option_free(struct settings *s);

/* --- additions (additive to the original contract) --- */

/* Deep-copy src into dst (dst is overwritten, not freed first). */
void option_copy(struct settings *dst, const struct settings *src);

/* After a reload, copy the runtime-changeable fields (verbose, maxbytes,
 * maxconns, idle_timeout, snapshot_interval, snapshot_on_shutdown) from
 * fresh into live; logfile is runtime too but neither copied nor counted:
 * the caller switches the log and then updates live->logfile.  Returns
 * how many other settings differ between the two
 * (they need a restart); their names go into
 * `note` ("threads, port", truncated to notelen) when note is not NULL. */
int option_apply_runtime(struct settings *live, const struct settings *fresh,
                         char *note, size_t notelen);

/* Split a host:port value (metrics_listen): "host:port", "[v6]:port" or
 * a bare port (host "127.0.0.1").  Port 1..65535.  0, or -1 with the
 * reason in err. */
int option_host_port(const char *spec, char *host, size_t hostlen, int *port,
                     char *err, size_t errlen);

/* Generated documents: memcached.conf.example and doc/memcached.1 are these
 * functions' output (scripts regenerate them; a unit test checks drift). */
void option_write_example(FILE *out);
void option_write_man(FILE *out);

/* "stats settings": the "oldest" line is runtime state the caller knows;
 * option_stats_settings() passes "0" for it and the caller's fn should
 * substitute its own value when name is "oldest". */

#endif
