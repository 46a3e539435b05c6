/*
 * option.h -- settings: one option table feeds the command line, the config
 * file, --help, memcached.conf.example, the man page and "stats settings".
 *
 * Precedence: defaults < config file (--config=FILE or $MEMCACHED_CONFIG)
 * < command line.  A file with any error applies nothing.
 *
 * Thread safety: settings are filled in by the main thread before workers
 * start; afterwards only the fields marked "runtime" change (from the main
 * thread, on SIGHUP or by commands), and readers use atomic loads for those.
 */
#ifndef MC_OPTION_H
#define MC_OPTION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define OPTION_MAX_LISTEN 32

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
    int      read_buf_mem_limit;    /* -o read_buf_mem_limit MB (0 = unlimited) */
    /* protocol */
    int      binding_protocol;      /* -B: 0 auto, 1 ascii, 2 binary */
    bool     flush_enabled;         /* false with -F */
    bool     dump_enabled;          /* false with -X */
    /* snapshots (doc/snapshot.md) */
    char    *snapshot_path;         /* NULL = no persistence */
    int      snapshot_interval;     /* secs, 0 = only on shutdown/demand; runtime */
    bool     snapshot_on_shutdown;  /* default yes when a path is set; runtime */
    bool     snapshot_load;         /* default yes */
    bool     snapshot_refuse_corrupt; /* refuse to start on a damaged file */
};

/* Fill s with the defaults. */
void option_defaults(struct settings *s);

enum option_result {
    OPTION_OK = 0,                  /* go on and start the server */
    OPTION_EXIT_OK,                 /* -h/-V printed; exit 0 */
    OPTION_ERROR                    /* message in err; exit non-zero */
};

/* Parse argv over defaults, loading a config file first when --config or
 * $MEMCACHED_CONFIG names one (command-line values win). */
enum option_result option_parse(struct settings *s, int argc, char **argv,
                                char *err, size_t errlen);

/* Parse the config file at path over a copy of `base` into out (for
 * SIGHUP).  0, or -1 with "file:line: key: message" in err. */
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

#endif
