/*
 * http.c -- the monitoring listener (see monitor.h): libevent's evhttp on
 * a thread of its own, and a 1 s history of the main counters for the
 * status page.
 *
 * Thread: everything here but setup/start/shutdown runs on the monitor
 * thread, in its own event_base (created and bound on the main thread
 * before the thread exists, then touched by that thread only; shutdown
 * only calls event_base_loopexit(), which is thread-safe because the
 * daemon called evthread_use_pthreads() first).
 *
 * Bounds: a request's headers at most 8 KB and its body 4 KB; a client
 * gets 10 s per request; the history is a fixed ring.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/util.h>

#include "log.h"
#include "mon.h"
#include "monitor.h"
#include "option.h"

#define MAX_FAMILIES 16
#define HISTORY      120            /* samples, one a second: 2 minutes */

/* The counters the status page charts over time, from "stats". */
static const char *const hist_keys[] = {
    "cmd_get", "get_hits", "get_misses", "cmd_set", "cmd_touch", "cmd_flush",
    "delete_hits", "delete_misses", "incr_hits", "incr_misses",
    "decr_hits", "decr_misses", "cas_hits", "cas_misses", "cas_badval",
    "touch_hits", "touch_misses", "cmd_meta", "bytes_read", "bytes_written",
    "curr_connections", "total_connections", "rejected_connections",
    "evictions", "curr_items", "bytes", "limit_maxbytes", "read_buf_bytes",
    "output_buf_bytes", "total_malloced",
};
#define NHIST (sizeof(hist_keys) / sizeof(hist_keys[0]))

static struct {
    struct event_base *base;
    struct evhttp     *http;
    struct event      *tick;
    pthread_t          thread;
    bool               running;
    char               spec[300];
    monitor_family_fn  fns[MAX_FAMILIES];
    void              *args[MAX_FAMILIES];
    int                nfns;
    /* history ring: monitor thread only */
    uint64_t           t_ms[HISTORY];           /* wall clock, ms */
    uint64_t           v[HISTORY][NHIST];
    int                hfirst, hcount;
} mon;

static uint64_t
now_ms(void)
{
    struct timeval tv;
    evutil_gettimeofday(&tv, NULL);
    return (uint64_t)tv.tv_sec * 1000 + (uint64_t)tv.tv_usec / 1000;
}

/* ---- history (monitor thread) ---- */

static void
on_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd; (void)what; (void)arg;
    struct mon_stats s;
    if (mon_stats_capture(&s) != 0) {
        mon_stats_free(&s);
        return;
    }
    int slot = (mon.hfirst + mon.hcount) % HISTORY;
    if (mon.hcount == HISTORY)
        mon.hfirst = (mon.hfirst + 1) % HISTORY;
    else
        mon.hcount++;
    mon.t_ms[slot] = now_ms();
    for (size_t k = 0; k < NHIST; k++) {
        const char *v = mon_stat_global(&s, hist_keys[k]);
        mon.v[slot][k] = v != NULL ? strtoull(v, NULL, 10) : 0;
    }
    mon_stats_free(&s);
}

static void
json_history(struct evbuffer *out)
{
    evbuffer_add(out, "{\"t\":[", 6);
    for (int i = 0; i < mon.hcount; i++)
        evbuffer_add_printf(out, "%s%" PRIu64, i ? "," : "", mon.t_ms[(mon.hfirst + i) % HISTORY]);
    evbuffer_add(out, "]", 1);
    for (size_t k = 0; k < NHIST; k++) {
        evbuffer_add_printf(out, ",\"%s\":[", hist_keys[k]);
        for (int i = 0; i < mon.hcount; i++)
            evbuffer_add_printf(out, "%s%" PRIu64, i ? "," : "",
                                mon.v[(mon.hfirst + i) % HISTORY][k]);
        evbuffer_add(out, "]", 1);
    }
    evbuffer_add(out, "}", 1);
}

/* ---- requests (monitor thread) ---- */

static void
reply(struct evhttp_request *req, const char *type, struct evbuffer *body)
{
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    evhttp_add_header(h, "Content-Type", type);
    evhttp_add_header(h, "Cache-Control", "no-store");
    evhttp_send_reply(req, HTTP_OK, "OK", body);
}

static void
on_request(struct evhttp_request *req, void *arg)
{
    (void)arg;
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
    const char *path = uri != NULL ? evhttp_uri_get_path(uri) : NULL;
    if (path == NULL || path[0] == '\0')
        path = "/";
    struct evbuffer *body = evbuffer_new();
    if (body == NULL) {
        evhttp_send_error(req, HTTP_INTERNAL, NULL);
        return;
    }
    if (strcmp(path, "/") == 0 || strcmp(path, "/index.html") == 0) {
        evbuffer_add_reference(body, monitor_page, monitor_page_len, NULL, NULL);
        reply(req, "text/html; charset=utf-8", body);
    } else if (strcmp(path, "/metrics") == 0 || strcmp(path, "/stats.json") == 0) {
        struct mon_stats s;
        if (mon_stats_capture(&s) != 0) {
            mon_stats_free(&s);
            evhttp_send_error(req, HTTP_INTERNAL, "out of memory");
            evbuffer_free(body);
            return;
        }
        if (path[1] == 'm') {
            mon_render_metrics(&s, body, mon.fns, mon.args, mon.nfns);
            reply(req, "text/plain; version=0.0.4; charset=utf-8", body);
        } else {
            mon_render_json(&s, body);
            evbuffer_add_printf(body, ",\"now_ms\":%" PRIu64 ",\"history\":", now_ms());
            json_history(body);
            evbuffer_add(body, "}\n", 2);
            reply(req, "application/json", body);
        }
        mon_stats_free(&s);
    } else {
        evhttp_send_error(req, HTTP_NOTFOUND, NULL);
    }
    evbuffer_free(body);
}

/* ---- lifecycle (main thread) ---- */

int
monitor_add_family(monitor_family_fn fn, void *arg)
{
    if (mon.nfns == MAX_FAMILIES)
        return -1;
    mon.fns[mon.nfns] = fn;
    mon.args[mon.nfns] = arg;
    mon.nfns++;
    return 0;
}

int
monitor_setup(const char *spec, char *err, size_t errlen)
{
    char host[256], why[128];
    int port;
    snprintf(mon.spec, sizeof(mon.spec), "%s", spec);
    if (option_host_port(spec, host, sizeof(host), &port, why, sizeof(why)) != 0) {
        snprintf(err, errlen, "metrics_listen %s: %s", spec, why);
        return -1;
    }
    mon.base = event_base_new();
    mon.http = mon.base != NULL ? evhttp_new(mon.base) : NULL;
    if (mon.http == NULL) {
        snprintf(err, errlen, "metrics_listen %s: cannot create the HTTP server", spec);
        monitor_shutdown();
        return -1;
    }
    evhttp_set_allowed_methods(mon.http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD);
    evhttp_set_max_headers_size(mon.http, 8192);
    evhttp_set_max_body_size(mon.http, 4096);
    evhttp_set_timeout(mon.http, 10);
    evhttp_set_gencb(mon.http, on_request, NULL);
    errno = 0;
    if (evhttp_bind_socket_with_handle(mon.http, host, (ev_uint16_t)port) == NULL) {
        int e = EVUTIL_SOCKET_ERROR();
        snprintf(err, errlen, "metrics_listen %s: cannot listen on %s port %d: %s", spec,
                 host, port, e ? evutil_socket_error_to_string(e) : "address not usable");
        monitor_shutdown();
        return -1;
    }
    mon.tick = event_new(mon.base, -1, EV_PERSIST, on_tick, NULL);
    if (mon.tick == NULL) {
        snprintf(err, errlen, "metrics_listen %s: out of memory", spec);
        monitor_shutdown();
        return -1;
    }
    return 0;
}

static void *
run(void *arg)
{
    (void)arg;
    on_tick(-1, 0, NULL);           /* a first point at once */
    event_base_dispatch(mon.base);
    return NULL;
}

int
monitor_start(char *err, size_t errlen)
{
    if (mon.base == NULL)
        return 0;
    struct timeval sec = { 1, 0 };
    event_add(mon.tick, &sec);
    int rc = pthread_create(&mon.thread, NULL, run, NULL);
    if (rc != 0) {
        snprintf(err, errlen, "metrics_listen %s: cannot start its thread: %s", mon.spec,
                 strerror(rc));
        return -1;
    }
    mon.running = true;
    log_info("metrics: serving /metrics, /stats.json and / on %s", mon.spec);
    return 0;
}

void
monitor_shutdown(void)
{
    if (mon.running) {
        event_base_loopexit(mon.base, NULL);
        pthread_join(mon.thread, NULL);
        mon.running = false;
    }
    mon_stats_scratch_free();
    if (mon.tick != NULL)
        event_free(mon.tick);
    if (mon.http != NULL)
        evhttp_free(mon.http);      /* closes the listener and connections */
    if (mon.base != NULL)
        event_base_free(mon.base);
    mon.tick = NULL;
    mon.http = NULL;
    mon.base = NULL;
    mon.hfirst = mon.hcount = 0;
    mon.nfns = 0;
}
