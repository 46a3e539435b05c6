/*
 * server.c -- start, run and stop the daemon: the setup/teardown order and
 * the main thread's event loop (clock tick, signals, listeners).
 *
 * Order: absolute paths -> logging -> root check -> limits -> fork (-d)
 * -> storage -> listeners and metrics_listen (bind as root) -> drop
 * privileges -> pid file -> workers -> snapshot and monitor threads ->
 * ready (READY=1, -d's parent exits 0, stdio to /dev/null).
 * Teardown is the reverse; SIGTERM/SIGINT and "shutdown" stop accepting,
 * let workers flush in-flight replies, and exit 0.  SIGHUP re-reads the
 * config file (runtime settings only) and reopens the log file.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "authfile.h"
#include "clock.h"
#include "hotkeys.h"
#include "item.h"
#include "log.h"
#include "monitor.h"
#include "net.h"
#include "option.h"
#include "platform.h"
#include "proto.h"
#include "server.h"
#include "snapshot.h"
#include "tls.h"
#include "watch.h"


/* Storage -> watch (item.h's observer; storage knows nothing of watch.h). */
static void
observe_fetch(const char *key, size_t nkey, enum item_fetch_result r, const struct item *it)
{
    watch_fetch(key, nkey, (int)r, it != NULL ? item_class(it) : 0,
                it != NULL ? item_nbytes(it) : 0);
}

static void
observe_evict(const struct item *it)
{
    watch_evict(item_key(it), item_nkey(it), item_fetched(it), item_exptime(it),
                item_atime(it), item_class(it), item_nbytes(it));
}

static struct settings *live;           /* runtime fields: live_lock */
/* live_lock: the runtime fields of *live (verbose, maxbytes, maxconns,
 * idle_timeout, write_timeout, snapshot_*), written by SIGHUP (main thread) and
 * cache_memlimit (workers), read by "stats settings" (workers). */
static pthread_mutex_t live_lock = PTHREAD_MUTEX_INITIALIZER;
static int saved_argc;                  /* for SIGHUP */
static char **saved_argv;
static char *start_cwd;                 /* cwd at start; -d chdir's to / */
static struct event_base *main_base;
static time_t started;
static struct event *tick_ev, *sigterm_ev, *sigint_ev, *sighup_ev, *wake_ev;
static _Atomic int stop_requested;
static int wake_fds[2] = { -1, -1 };

/* ---- hooks for the protocol layer ---- */

static void
server_stats(struct server_stats *s)
{
    s->pid = platform_getpid();
    s->started = started;
    platform_cpu_times(&s->rusage_user, &s->rusage_system);
    s->max_connections = (uint64_t)atomic_load(&net_counters.maxconns);
    s->curr_connections = atomic_load(&net_counters.curr_conns);
    s->total_connections = atomic_load(&net_counters.total_conns);
    s->rejected_connections = atomic_load(&net_counters.rejected_conns);
    s->connection_structures = atomic_load(&net_counters.conn_structures);
    s->reserved_fds = (uint64_t)atomic_load(&net_counters.reserved_fds);
    s->threads = (uint64_t)live->num_threads;
    s->accepting_conns = (uint64_t)atomic_load(&net_counters.accepting);
    s->listen_disabled_num = atomic_load(&net_counters.listen_disabled_num);
    s->read_buf_count = atomic_load(&net_counters.rbuf_count);
    s->read_buf_bytes = atomic_load(&net_counters.rbuf_bytes);
    s->ssl_enabled = live->ssl_enabled;
    s->ssl_session_cache = live->ssl_session_cache;
    if (s->ssl_enabled) {
        struct tls_stats ts;
        tls_stats_get(&ts);
        s->ssl_handshake_errors = ts.handshake_errors;
        s->ssl_new_sessions = ts.new_sessions;
        time_t now = time(NULL);
        s->ssl_cert_age = now > ts.last_refresh ? (uint64_t)(now - ts.last_refresh) : 0;
    }
}

/* "refresh_certs" (any worker) and SIGHUP. */
static bool
refresh_certs(char *err, size_t errlen)
{
    if (tls_refresh(err, errlen)) {
        log_notice("TLS certificates reloaded");
        return true;
    }
    log_error("TLS certificates not reloaded, keeping the running ones: %s", err);
    return false;
}

static void
settings_line(const char *name, const char *value, void *arg)
{
    struct obuf *o = arg;
    /* "verbosity N" changes the log level, not the settings */
    if (strcmp(name, "verbosity") == 0) {
        obuf_printf(o, "STAT %s %d\r\n", name, log_get_level());
        return;
    }
    obuf_printf(o, "STAT %s %s\r\n", name, value);
}

static void
stats_settings(struct obuf *o)
{
    pthread_mutex_lock(&live_lock);
    option_stats_settings(live, settings_line, o);
    pthread_mutex_unlock(&live_lock);
}

static void
reset_conn_stats(void)
{
    atomic_store(&net_counters.total_conns, 0);
    atomic_store(&net_counters.rejected_conns, 0);
    atomic_store(&net_counters.listen_disabled_num, 0);
}

/* From any thread (Windows service PARAMCHANGE): SIGHUP's reload, run
 * on the main thread like the signal. */
static void
request_reload(void)
{
    platform_wake(wake_fds[1], 'r');
}

static void
request_stop(void)
{
    atomic_store(&stop_requested, 1);
    platform_wake(wake_fds[1], 's');
}

/* cache_memlimit: also what "stats settings" maxbytes shows, as memcached */
static int
set_memlimit(size_t bytes)
{
    int rc = item_set_mem_limit(bytes);
    if (rc == 0) {
        pthread_mutex_lock(&live_lock);
        live->maxbytes = bytes;
        pthread_mutex_unlock(&live_lock);
    }
    return rc;
}

/* Replace *p (malloc'd, may be NULL) by its absolute form against the
 * start directory, so -d's chdir("/") and SIGHUP keep finding the file. */
static void
make_absolute(char **p)
{
    if (*p == NULL || strcmp(*p, "syslog") == 0)
        return;
    char *abs = platform_absolute_path(start_cwd, *p);
    if (abs != NULL) {
        free(*p);
        *p = abs;
    }
}

static void
absolute_paths(struct settings *s)
{
    make_absolute(&s->config_file);
    make_absolute(&s->pidfile);
    make_absolute(&s->logfile);
    make_absolute(&s->snapshot_path);
    make_absolute(&s->auth_file);
    make_absolute(&s->ssl_chain_cert);
    make_absolute(&s->ssl_key);
    make_absolute(&s->ssl_ca_cert);
}

/* ---- main loop events ---- */

static void
on_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd; (void)what; (void)arg;
    clock_tick();
}

static void
begin_stop(void)
{
    log_notice("shutting down");
    platform_notify("STOPPING=1");
    event_base_loopbreak(main_base);
}

static void
on_wake(evutil_socket_t fd, short what, void *arg)
{
    (void)what; (void)arg;
    char buf[16];
    ssize_t n = platform_wake_read(fd, buf, sizeof(buf));
    if (atomic_load(&stop_requested)) {
        begin_stop();
        return;
    }
    if (n > 0 && memchr(buf, 'r', (size_t)n) != NULL)
        server_reload();
}

static void
on_signal(evutil_socket_t sig, short what, void *arg)
{
    (void)what; (void)arg;
#ifdef SIGHUP
    if (sig == SIGHUP) {
        server_reload();
        return;
    }
#else
    (void)sig;
#endif
    begin_stop();
}

void
server_reload(void)
{
    if (log_reopen() != 0)
        log_error("reopening the log file failed: %s", strerror(errno));
    if (live->auth_file != NULL) {  /* as memcached: SIGHUP re-reads -Y's file */
        char aerr[1024];
        if (authfile_load(live->auth_file, aerr, sizeof(aerr)) != 0)
            log_error("SIGHUP: %s; keeping the credentials loaded before", aerr);
        else
            log_notice("SIGHUP: re-read %s (%zu entries)", live->auth_file, authfile_entries());
    }
    if (live->ssl_enabled) {        /* as memcached 1.6.40: SIGHUP reloads certificates */
        char terr[1024];
        refresh_certs(terr, sizeof(terr));
    }
    if (live->config_file == NULL) {
        log_notice("SIGHUP: log reopened; no config file to re-read");
        return;
    }
    /* Re-parse file + command line so the command line still wins.  The
     * file is the absolute path resolved at start (-d changed the cwd). */
    struct settings fresh;
    char err[1024];
    if (option_parse_config(&fresh, live->config_file, saved_argc, saved_argv,
                            err, sizeof(err)) != OPTION_OK) {
        log_error("reload rejected, keeping the running settings: %s", err);
        option_free(&fresh);
        return;
    }
    absolute_paths(&fresh);
    log_notice("SIGHUP: re-read %s", live->config_file);
    /* logfile can move at run time too (option_apply_runtime doesn't know) */
    if ((fresh.logfile == NULL) != (live->logfile == NULL) ||
        (fresh.logfile != NULL && strcmp(fresh.logfile, live->logfile) != 0)) {
        const char *from = live->logfile ? live->logfile : "stderr";
        const char *to = fresh.logfile ? fresh.logfile : "stderr";
        log_notice("reload: logging to %s from now on", to);
        if (log_open(fresh.logfile) != 0) {
            log_error("reload: cannot open log file %s: %s; still logging to %s",
                      to, strerror(errno), from);
        } else {
            log_notice("reload: logfile %s -> %s", from, to);
            char *copy = fresh.logfile ? strdup(fresh.logfile) : NULL;
            if (fresh.logfile == NULL || copy != NULL) {
                pthread_mutex_lock(&live_lock);
                free(live->logfile);
                live->logfile = copy;
                pthread_mutex_unlock(&live_lock);
            }
        }
    }
    char note[512] = "";
    pthread_mutex_lock(&live_lock);
    int old_verbose = live->verbose;
    size_t old_max = live->maxbytes;
    int old_conns = live->maxconns, old_idle = live->idle_timeout;
    int old_write = live->write_timeout;
    int restart = option_apply_runtime(live, &fresh, note, sizeof(note));
    int new_verbose = live->verbose;
    size_t new_max = live->maxbytes;
    int new_conns = live->maxconns, new_idle = live->idle_timeout;
    int new_write = live->write_timeout;
    pthread_mutex_unlock(&live_lock);
    if (new_verbose != old_verbose) {
        log_set_level(new_verbose);
        log_notice("reload: verbose %d -> %d", old_verbose, new_verbose);
    }
    if (new_max != old_max) {
        if (item_set_mem_limit(new_max) != 0) {
            log_error("reload: memory-limit %zu MB refused; keeping %zu MB",
                      new_max >> 20, old_max >> 20);
            pthread_mutex_lock(&live_lock);
            live->maxbytes = old_max;
            pthread_mutex_unlock(&live_lock);
        } else {
            log_notice("reload: memory-limit %zu -> %zu MB", old_max >> 20, new_max >> 20);
        }
    }
    if (new_conns != old_conns) {
        worker_set_maxconns(new_conns);
        log_notice("reload: conn-limit %d -> %d", old_conns, new_conns);
    }
    if (new_idle != old_idle) {
        worker_set_idle_timeout(new_idle);
        log_notice("reload: idle_timeout %d -> %d", old_idle, new_idle);
    }
    if (new_write != old_write) {
        worker_set_write_timeout(new_write);
        log_notice("reload: write_timeout %d -> %d", old_write, new_write);
    }
    snapshot_configure(live->snapshot_interval, live->snapshot_on_shutdown);
    if (restart > 0)
        log_warn("reload: %d setting(s) need a restart to change: %s", restart, note);
    option_free(&fresh);
}

/* ---- start / stop ---- */

static void
log_warnings(const struct settings *s)
{
    if (s->warnings == NULL)
        return;
    char *copy = strdup(s->warnings), *save = NULL;
    if (copy == NULL)
        return;
    for (char *l = strtok_r(copy, "\n", &save); l; l = strtok_r(NULL, "\n", &save))
        log_warn("%s", l);
    free(copy);
}

int
server_main(struct settings *s, int argc, char **argv)
{
    char err[512];
    live = s;
    saved_argc = argc;
    saved_argv = argv;
    start_cwd = platform_cwd();
    absolute_paths(s);
    log_set_level(s->verbose);
    if (s->logfile != NULL && log_open(s->logfile) != 0) {
        fprintf(stderr, "failed to open log file %s: %s\n", s->logfile, strerror(errno));
        return 1;
    }
    log_warnings(s);
    if (platform_is_root() && s->username == NULL) {
        fprintf(stderr, "can't run as root without the -u switch\n");
        return 1;
    }
    if (s->maxcore && platform_enable_coredumps(err, sizeof(err)) != 0) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    if (platform_raise_nofile(s->maxconns, err, sizeof(err)) != 0) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    platform_ignore_sigpipe();
    platform_ignore_sigxfsz();
    /* Fork before any thread exists (storage starts some); the parent
     * waits until we are ready, so bind errors still reach the terminal. */
    if (s->daemonize && platform_daemonize_begin(err, sizeof(err)) != 0) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    clock_setup();
    started = time(NULL);

    struct item_options io;
    item_options_default(&io);
    io.mem_limit = s->maxbytes;
    io.chunk_min = (uint32_t)s->chunk_size;
    io.growth_factor = s->factor;
    io.item_size_max = s->item_size_max;
    io.slab_chunk_max = s->slab_chunk_max;
    io.prealloc = s->prealloc;
    io.evict = s->evict_to_free;
    io.use_cas = s->use_cas;
    if (s->hashpower_init > 0)
        io.hashpower = (uint32_t)s->hashpower_init;
    io.hash_expand = s->hash_expand;
    if (s->snapshot_path != NULL && s->snapshot_load) {
        /* size the hash table for the snapshot about to be loaded */
        uint64_t n = snapshot_peek_items_max(s->snapshot_path, s->maxbytes);
        while (io.hashpower < 30 && ((uint64_t)1 << io.hashpower) * 3 / 2 < n)
            io.hashpower++;
    }
    io.crawler = s->lru_crawler;
    io.slab_reassign = s->slab_reassign;
    io.slab_automove = s->slab_automove;
    io.policy = s->eviction_policy != NULL && strcmp(s->eviction_policy, "clock") == 0 ?
                EVICT_CLOCK : EVICT_S3FIFO;
    /* watch (doc/watch.md): the logger thread, and the storage observer
     * installed before any storage thread runs */
    platform_event_threads();
    struct watch_options wo = { .watcher_buf = s->watcher_logbuf_size,
                                .thread_buf = s->worker_logbuf_size };
    if (watch_setup(&wo, err, sizeof(err)) != 0) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    static const struct item_observer obs = {
        .mask = &watch_mask, .fetch_bits = WATCH_FETCHERS | WATCH_DELETIONS,
        .evict_bits = WATCH_EVICTIONS, .fetch = observe_fetch, .evict = observe_evict,
    };
    item_set_observer(&obs);
    if (item_setup(&io, err, sizeof(err)) != 0) {
        fprintf(stderr, "failed to set up storage: %s\n", err);
        return 1;
    }
    /* persistence: load before any listener accepts (doc/snapshot.md) */
    struct snapshot_options so = {
        .path = s->snapshot_path, .interval = s->snapshot_interval,
        .on_shutdown = s->snapshot_on_shutdown, .load = s->snapshot_load,
        .refuse_corrupt = s->snapshot_refuse_corrupt, .mem_limit = s->maxbytes,
        .item_size_max = s->item_size_max, .chunk_min = (uint32_t)s->chunk_size,
        .factor = s->factor, .use_cas = s->use_cas,
    };
    if (snapshot_setup(&so, err, sizeof(err)) != 0 ||
        snapshot_load_at_start(err, sizeof(err)) != 0) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }

    main_base = event_base_new();
    if (main_base == NULL) {
        fprintf(stderr, "event_base_new failed\n");
        return 1;
    }
    /* Signals are caught before the port is open: a client (or a test)
     * that sees the port may signal us at once. */
    sigterm_ev = evsignal_new(main_base, SIGTERM, on_signal, NULL);
    sigint_ev = evsignal_new(main_base, SIGINT, on_signal, NULL);
    event_add(sigterm_ev, NULL);
    event_add(sigint_ev, NULL);
#ifdef SIGHUP
    sighup_ev = evsignal_new(main_base, SIGHUP, on_signal, NULL);
    event_add(sighup_ev, NULL);
#endif
    /* the monitoring listener binds before the memcached ones (so once
     * those accept, it does too; its thread starts later, connections
     * wait in its backlog) and before privileges are dropped; a refused
     * address stops the start */
    if (s->metrics_listen != NULL && monitor_setup(s->metrics_listen, err, sizeof(err)) != 0) {
        fprintf(stderr, "failed to listen: %s\n", err);
        return 1;
    }
    if (s->ssl_enabled) {
        struct tls_options to = {
            .chain_cert = s->ssl_chain_cert, .key = s->ssl_key,
            .keyformat = s->ssl_keyformat, .verify_mode = s->ssl_verify_mode,
            .ca_cert = s->ssl_ca_cert, .ciphers = s->ssl_ciphers,
            .min_version = s->ssl_min_version, .session_cache = s->ssl_session_cache,
            .kernel_tls = s->ssl_kernel_tls, .wbuf_size = s->ssl_wbuf_size,
        };
        if (tls_setup(&to, err, sizeof(err)) != 0) {
            fprintf(stderr, "%s\n", err);
            return 64;              /* memcached's EX_USAGE */
        }
        proto_env.refresh_certs = refresh_certs;
    }
    if (listener_setup(main_base, s->listen, s->nlisten, s->port, s->udp_port,
                       s->socketpath, s->access, s->backlog, s->ssl_enabled,
                       err, sizeof(err)) != 0) {
        fprintf(stderr, "failed to listen: %s\n", err);
        return 1;
    }
    if (s->username != NULL && platform_drop_privileges(s->username, err, sizeof(err)) != 0) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    if (s->lock_memory && platform_lock_memory(err, sizeof(err)) != 0)
        log_warn("%s", err);
    if (s->pidfile != NULL && platform_write_pidfile(s->pidfile, err, sizeof(err)) != 0)
        log_error("%s", err);       /* memcached carries on too */

    proto_env.flush_enabled = s->flush_enabled;
    proto_env.watch_enabled = s->watch_enabled;
    proto_env.dump_enabled = s->dump_enabled;
    proto_env.track_sizes = s->track_sizes;
    proto_env.enable_shutdown = s->enable_shutdown;
    proto_env.use_cas = s->use_cas;
    proto_env.item_size_max = s->item_size_max;
    proto_env.version = OPTION_VERSION;
    proto_env.libevent_version = event_get_version();
    proto_env.server_stats = server_stats;
    proto_env.stats_settings = stats_settings;
    proto_env.stats_conns = worker_stats_conns;
    proto_env.shutdown = request_stop;
    proto_env.stats_reset = reset_conn_stats;
    proto_env.set_memlimit = set_memlimit;
    if (s->auth_file != NULL) {
        if (authfile_load(s->auth_file, err, sizeof(err)) != 0) {
            fprintf(stderr, "%s\n", err);
            return 1;
        }
        proto_env.ascii_auth = true;
    }
    if (s->enable_sasl && proto_sasl_setup(err, sizeof(err)) != 0) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    if (s->snapshot_path != NULL) {
        proto_env.snapshot = snapshot_request;
        proto_env.stats_snapshot = snapshot_stats;
    }

    struct hotkeys_options ho = {
        .enabled = s->hotkeys, .sample = s->hotkeys_sample, .size = s->hotkeys_size,
    };
    hotkeys_setup(&ho);             /* before the workers look keys up */

    struct net_options no = {
        .nthreads = s->num_threads,
        .reqs_per_event = s->reqs_per_event,
        .maxconns = s->maxconns,
        .idle_timeout = s->idle_timeout,
        .write_timeout = s->write_timeout,
        .shutdown_timeout = s->shutdown_timeout,
        .backlog = s->backlog,
        .rbuf_max = s->read_buf_max,
        .rbuf_mem_limit = (size_t)s->read_buf_mem_limit << 20,
        .protocol = s->auth_file != NULL ? 1 : s->binding_protocol,   /* -Y: text only */
        .tls_handshake_timeout = s->ssl_handshake_timeout,
    };
    if (worker_setup(&no, err, sizeof(err)) != 0) {
        fprintf(stderr, "failed to start workers: %s\n", err);
        return 1;
    }

    if (snapshot_start(err, sizeof(err)) != 0) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    if (monitor_start(err, sizeof(err)) != 0) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }

    if (platform_wake_open(wake_fds, err, sizeof(err)) != 0) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    /* Windows: Ctrl+C, Ctrl+Break, service stop and PARAMCHANGE */
    platform_on_control(request_stop, request_reload);
    struct timeval sec = { 1, 0 };
    tick_ev = event_new(main_base, -1, EV_PERSIST, on_tick, NULL);
    event_add(tick_ev, &sec);
    wake_ev = event_new(main_base, wake_fds[0], EV_READ | EV_PERSIST, on_wake, NULL);
    event_add(wake_ev, NULL);

    /* listeners are bound and workers run: tell systemd, release -d's parent */
    platform_notify("READY=1");
    log_info("ready");
    platform_daemonize_done();
    event_base_dispatch(main_base);

    /* stop: no new clients, flush in-flight replies, join workers; the
     * listeners are closed last because workers read their list for
     * "stats conns" */
    listener_pause();
    monitor_shutdown();             /* no scrape reads what goes away next */
    worker_shutdown();
    listener_close();
    snapshot_shutdown();            /* workers are gone: a final snapshot */
    hotkeys_teardown();
    event_free(tick_ev);
    event_free(wake_ev);
    event_free(sigterm_ev);
    event_free(sigint_ev);
    if (sighup_ev != NULL)
        event_free(sighup_ev);
    event_base_free(main_base);
    platform_wake_close(wake_fds[0], wake_fds[1]);
    snapshot_teardown();
    tls_teardown();
    authfile_teardown();
    item_teardown();
    item_set_observer(NULL);
    watch_teardown();
    if (s->pidfile != NULL)
        platform_remove_pidfile(s->pidfile);
    log_notice("exit");
    free(start_cwd);
    start_cwd = NULL;
    return 0;
}
