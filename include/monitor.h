/*
 * monitor.h -- built-in HTTP monitoring (doc/monitoring.md): Prometheus
 * /metrics, /stats.json and a live status page at /, on one listener
 * (-o metrics_listen=HOST:PORT; off by default).
 *
 * Served by libevent's evhttp on a thread of its own with its own
 * event_base: a scrape never runs on a worker.  Every value comes from
 * the text of the "stats" groups (proto_stats_lines(), the same lines the
 * stats command sends), parsed and converted, so /metrics, /stats.json
 * and `stats` cannot disagree.  The exporter-compatible metrics have the
 * names, types, labels and meanings of prometheus/memcached_exporter
 * (src/monitor/metrics.c says which version and file); ours share the
 * memcached_ prefix.
 *
 * Lifecycle (daemon, main thread):
 *   monitor_setup(spec)   after evthread_use_pthreads(), before privileges
 *                         are dropped: binds (a refused bind fails start)
 *   monitor_add_family()  any number, before monitor_start()
 *   monitor_start()       the HTTP thread (also samples a 1 s history of
 *                         the main counters for the status page)
 *   monitor_shutdown()    stops the thread, closes the listener; safe to
 *                         call when setup was never called
 *
 * Adding a metric family: write a function that calls mon_family() once
 * and mon_sample_*() per series, register it with monitor_add_family();
 * it runs on the monitor thread at each scrape, after the built-in ones.
 * Families with no sample print nothing (like the Go client).
 *
 * Thread safety: setup/add/start/shutdown on the main thread only; the
 * mon_* writer calls only from inside a family function.
 */
#ifndef MC_MONITOR_H
#define MC_MONITOR_H

#include <stddef.h>
#include <stdint.h>

struct mon_writer;

/* Bind spec ("host:port", "[v6]:port" or a bare port = 127.0.0.1).  0, or
 * -1 with "metrics_listen <spec>: <why>" in err. */
int  monitor_setup(const char *spec, char *err, size_t errlen);
/* Start the HTTP thread (no-op without monitor_setup()).  0 or -1. */
int  monitor_start(char *err, size_t errlen);
/* Stop and join the thread, close the listener, free everything. */
void monitor_shutdown(void);

/* A family of our own: fn(w, arg) writes it at each scrape (monitor
 * thread).  At most 16; 0, or -1 when full. */
typedef void (*monitor_family_fn)(struct mon_writer *w, void *arg);
int  monitor_add_family(monitor_family_fn fn, void *arg);

/* Writer: start a family (type "counter" or "gauge"); its HELP and TYPE
 * lines are written before its first sample.  name must be a valid
 * Prometheus metric name. */
void mon_family(struct mon_writer *w, const char *name, const char *type, const char *help);
/* One sample of the current family.  labels: NULL-terminated pairs of
 * label name, label value (values are escaped here); value: a decimal
 * number as text (written as is), or an integer / a double. */
void mon_sample(struct mon_writer *w, const char *value, const char *const *labels);
void mon_sample_u64(struct mon_writer *w, uint64_t value, const char *const *labels);
void mon_sample_double(struct mon_writer *w, double value, const char *const *labels);

#endif
