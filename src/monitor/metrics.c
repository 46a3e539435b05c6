/*
 * metrics.c -- stats text -> Prometheus text exposition and JSON.
 *
 * Exporter compatibility: the families below are those that
 * prometheus/memcached_exporter (pkg/exporter/exporter.go, the v0.16
 * layout: slab collector, proxy and extstore families) emits for a server
 * whose stats have our keys, with the same names, types and labels, and a
 * sample only where the exporter would have one: a key missing from the
 * stats means no sample, as its parseAndNewMetric() skips missing keys.
 * Its client (grobie/gomemcache) merges the global lines of "stats slabs"
 * into the "stats" map, so total_malloced is read from there too
 * (mon_stat_global()).  Families the exporter emits only for stats we
 * never report (extstore_*, proxy_*: gated on extstore_limit_maxbytes /
 * proxy_backend_total) are not written.  HELP texts are ours.
 *
 * Values are written as the stats text has them (same digits), converted
 * only where the exporter converts: yes/no -> 1/0, and the computed
 * set hits (cmd_set minus the cas commands, which memcached counts in
 * cmd_set too).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "mon.h"
#include "obuf.h"
#include "proto.h"

/* ---- parsed stats ---- */

/* "items:3:number" -> 3, "number"; "3:chunk_size" -> 3, "chunk_size". */
static unsigned
split_class(enum mon_group g, const char **name)
{
    const char *p = *name;
    if (g == MG_ITEMS) {
        if (strncmp(p, "items:", 6) != 0)
            return 0;
        p += 6;
    } else if (g != MG_SLABS) {
        return 0;
    }
    unsigned cls = 0;
    const char *d = p;
    while (*d >= '0' && *d <= '9' && cls < 100000)
        cls = cls * 10 + (unsigned)(*d++ - '0');
    if (d == p || *d != ':')
        return 0;
    *name = d + 1;
    return cls;
}

int
mon_stats_parse(struct mon_stats *s, enum mon_group g, char *text, size_t len)
{
    free(s->text[g]);
    free(s->st[g]);
    free(s->cls[g]);
    s->text[g] = text;
    s->st[g] = NULL;
    s->cls[g] = NULL;
    s->n[g] = s->ncls[g] = 0;
    s->present[g] = true;
    size_t lines = 0;
    for (size_t i = 0; i < len; i++)
        lines += text[i] == '\n';
    if (lines == 0)
        return 0;
    s->st[g] = malloc(lines * sizeof(*s->st[g]));
    s->cls[g] = malloc(lines * sizeof(*s->cls[g]));
    if (s->st[g] == NULL || s->cls[g] == NULL)
        return -1;
    char *p = text, *end = text + len;
    while (p < end) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        if (nl == NULL)
            break;
        char *line = p;
        p = nl + 1;
        *nl = '\0';
        if (nl > line && nl[-1] == '\r')
            nl[-1] = '\0';
        if (strncmp(line, "STAT ", 5) != 0)
            continue;
        char *name = line + 5, *sp = strchr(name, ' ');
        if (sp == NULL || sp == name)
            continue;
        *sp = '\0';
        const char *n = name;
        unsigned cls = split_class(g, &n);
        struct mon_stat *e = &s->st[g][s->n[g]];
        e->cls = cls;
        e->name = n;
        e->value = sp + 1;
        /* classes come grouped; a new run starts a class entry */
        struct mon_class *c = s->ncls[g] ? &s->cls[g][s->ncls[g] - 1] : NULL;
        if (cls != 0 && (c == NULL || c->cls != cls || c->end != s->n[g])) {
            c = &s->cls[g][s->ncls[g]++];
            c->cls = cls;
            c->first = s->n[g];
        }
        if (cls != 0)
            c->end = s->n[g] + 1;
        s->n[g]++;
    }
    return 0;
}

/* The buffer stats are rendered into: kept from scrape to scrape (monitor
 * thread only), so the reply memory "stats" reports (output_buf_bytes)
 * does not change because a scrape is running. */
static struct obuf scratch;

/* The text of one stats group, NUL-terminated, malloc'd; NULL on OOM. */
static char *
group_text(enum req_sub sub, size_t *len)
{
    struct obuf *o = &scratch;
    proto_stats_lines(o, sub);
    char *t = NULL;
    if (!o->oom && (t = malloc(o->pending + 1)) != NULL) {
        size_t n = 0;
        for (int i = o->iov_done; i < o->niov; i++) {
            memcpy(t + n, o->iov[i].iov_base, o->iov[i].iov_len);
            n += o->iov[i].iov_len;
        }
        t[n] = '\0';
        *len = n;
    }
    obuf_reset(o);
    return t;
}

void
mon_stats_scratch_free(void)
{
    obuf_deinit(&scratch);
}

int
mon_stats_capture(struct mon_stats *s)
{
    static const struct { enum mon_group g; enum req_sub sub; } groups[] = {
        { MG_GENERAL, SUB_STATS_GENERAL }, { MG_SETTINGS, SUB_STATS_SETTINGS },
        { MG_ITEMS, SUB_STATS_ITEMS }, { MG_SLABS, SUB_STATS_SLABS },
        { MG_SNAPSHOT, SUB_STATS_SNAPSHOT }, { MG_HOTKEYS, SUB_STATS_HOTKEYS },
    };
    memset(s, 0, sizeof(*s));
    for (size_t i = 0; i < sizeof(groups) / sizeof(groups[0]); i++) {
        if (groups[i].g == MG_SNAPSHOT && proto_env.stats_snapshot == NULL)
            continue;               /* "stats snapshot" is an ERROR then */
        size_t len = 0;
        char *t = group_text(groups[i].sub, &len);
        if (t == NULL || mon_stats_parse(s, groups[i].g, t, len) != 0)
            return -1;
    }
    return 0;
}

void
mon_stats_free(struct mon_stats *s)
{
    for (int g = 0; g < MG_COUNT; g++) {
        free(s->text[g]);
        free(s->st[g]);
        free(s->cls[g]);
    }
    memset(s, 0, sizeof(*s));
}

const char *
mon_stat(const struct mon_stats *s, enum mon_group g, unsigned cls, const char *name)
{
    size_t first = 0, end = s->n[g];
    if (cls != 0) {
        size_t i;
        for (i = 0; i < s->ncls[g] && s->cls[g][i].cls != cls; i++)
            ;
        if (i == s->ncls[g])
            return NULL;
        first = s->cls[g][i].first;
        end = s->cls[g][i].end;
    }
    for (size_t i = first; i < end; i++)
        if (s->st[g][i].cls == cls && strcmp(s->st[g][i].name, name) == 0)
            return s->st[g][i].value;
    return NULL;
}

const char *
mon_stat_global(const struct mon_stats *s, const char *name)
{
    const char *v = mon_stat(s, MG_SLABS, 0, name);
    return v != NULL ? v : mon_stat(s, MG_GENERAL, 0, name);
}

/* ---- the writer ---- */

struct mon_writer {
    struct evbuffer *out;
    const char      *name, *type, *help;
    bool             started;       /* HELP/TYPE written */
};

void
mon_family(struct mon_writer *w, const char *name, const char *type, const char *help)
{
    w->name = name;
    w->type = type;
    w->help = help;
    w->started = false;
}

static void
label_value(struct evbuffer *out, const char *v)
{
    for (; *v; v++) {
        if (*v == '\\')
            evbuffer_add(out, "\\\\", 2);
        else if (*v == '"')
            evbuffer_add(out, "\\\"", 2);
        else if (*v == '\n')
            evbuffer_add(out, "\\n", 2);
        else
            evbuffer_add(out, v, 1);
    }
}

void
mon_sample(struct mon_writer *w, const char *value, const char *const *labels)
{
    if (!w->started) {
        evbuffer_add_printf(w->out, "# HELP %s %s\n# TYPE %s %s\n",
                            w->name, w->help, w->name, w->type);
        w->started = true;
    }
    evbuffer_add(w->out, w->name, strlen(w->name));
    if (labels != NULL && labels[0] != NULL) {
        evbuffer_add(w->out, "{", 1);
        for (int i = 0; labels[i] != NULL && labels[i + 1] != NULL; i += 2) {
            evbuffer_add_printf(w->out, "%s%s=\"", i ? "," : "", labels[i]);
            label_value(w->out, labels[i + 1]);
            evbuffer_add(w->out, "\"", 1);
        }
        evbuffer_add(w->out, "}", 1);
    }
    evbuffer_add_printf(w->out, " %s\n", value);
}

void
mon_sample_u64(struct mon_writer *w, uint64_t value, const char *const *labels)
{
    char b[24];
    snprintf(b, sizeof(b), "%" PRIu64, value);
    mon_sample(w, b, labels);
}

void
mon_sample_double(struct mon_writer *w, double value, const char *const *labels)
{
    char b[40];
    snprintf(b, sizeof(b), "%.17g", value);
    mon_sample(w, b, labels);
}

/* A stats value usable as a sample: a decimal number. */
static bool
is_number(const char *v)
{
    const char *p = v;
    if (*p == '-')
        p++;
    const char *d = p;
    while (*p >= '0' && *p <= '9')
        p++;
    if (p == d)
        return false;
    if (*p == '.') {
        const char *f = ++p;
        while (*p >= '0' && *p <= '9')
            p++;
        if (p == f)
            return false;
    }
    return *p == '\0';
}

/* How a stats value becomes a sample. */
enum conv { CONV_NUM, CONV_BOOL };

/* Sample v (NULL: the key is absent: no sample, as the exporter). */
static void
sample_stat(struct mon_writer *w, const char *v, enum conv c, const char *const *labels)
{
    if (v == NULL)
        return;
    if (c == CONV_BOOL) {
        if (strcmp(v, "yes") == 0 || strcmp(v, "no") == 0)
            mon_sample(w, v[0] == 'y' ? "1" : "0", labels);
        return;
    }
    if (is_number(v))
        mon_sample(w, v, labels);
}

/* ---- the families ---- */

/* One row per sample of a family without a slab label; consecutive rows
 * with the same name are one family.  src: where the key is read. */
enum src { GLOBAL, SETTINGS, SNAPSHOT };
struct row {
    const char *name, *type, *help;
    enum src    src;
    const char *key;
    enum conv   conv;
    const char *lname, *lvalue;     /* one label, or NULL */
};

#define C "counter"
#define G "gauge"

/* Exporter, from "stats" (after memcached_commands_total, which is code). */
static const struct row exporter_rows[] = {
    { "memcached_uptime_seconds", C, "Seconds since the server started.", GLOBAL, "uptime", CONV_NUM, 0, 0 },
    { "memcached_time_seconds", G, "Current UNIX time according to the server.", GLOBAL, "time", CONV_NUM, 0, 0 },
    { "memcached_process_user_cpu_seconds_total", C, "User CPU time of the process, seconds.", GLOBAL, "rusage_user", CONV_NUM, 0, 0 },
    { "memcached_process_system_cpu_seconds_total", C, "System CPU time of the process, seconds.", GLOBAL, "rusage_system", CONV_NUM, 0, 0 },
    { "memcached_current_bytes", G, "Bytes used to store items now.", GLOBAL, "bytes", CONV_NUM, 0, 0 },
    { "memcached_limit_bytes", G, "Bytes the server may use for items (-m).", GLOBAL, "limit_maxbytes", CONV_NUM, 0, 0 },
    { "memcached_current_items", G, "Items stored now.", GLOBAL, "curr_items", CONV_NUM, 0, 0 },
    { "memcached_items_total", C, "Items stored since start.", GLOBAL, "total_items", CONV_NUM, 0, 0 },
    { "memcached_read_bytes_total", C, "Bytes read from the network.", GLOBAL, "bytes_read", CONV_NUM, 0, 0 },
    { "memcached_written_bytes_total", C, "Bytes written to the network.", GLOBAL, "bytes_written", CONV_NUM, 0, 0 },
    { "memcached_current_connections", G, "Open client connections.", GLOBAL, "curr_connections", CONV_NUM, 0, 0 },
    { "memcached_connections_total", C, "Connections opened since start.", GLOBAL, "total_connections", CONV_NUM, 0, 0 },
    { "memcached_connections_rejected_total", C, "Connections refused at the -c limit.", GLOBAL, "rejected_connections", CONV_NUM, 0, 0 },
    { "memcached_connections_yielded_total", C, "Times a connection yielded at the -R limit.", GLOBAL, "conn_yields", CONV_NUM, 0, 0 },
    { "memcached_connections_listener_disabled_total", C, "Times the listener stopped accepting at the connection limit.", GLOBAL, "listen_disabled_num", CONV_NUM, 0, 0 },
    { "memcached_items_evicted_total", C, "Valid items evicted to make room.", GLOBAL, "evictions", CONV_NUM, 0, 0 },
    { "memcached_items_reclaimed_total", C, "Items stored in the memory of an expired item.", GLOBAL, "reclaimed", CONV_NUM, 0, 0 },
    { "memcached_item_too_large_total", C, "Stores refused: item larger than -I.", GLOBAL, "store_too_large", CONV_NUM, 0, 0 },
    { "memcached_item_no_memory_total", C, "Stores refused: out of memory.", GLOBAL, "store_no_memory", CONV_NUM, 0, 0 },
    { "memcached_lru_crawler_starts_total", C, "Times the LRU crawler started.", GLOBAL, "lru_crawler_starts", CONV_NUM, 0, 0 },
    { "memcached_direct_reclaims_total", C, "Times a worker reclaimed or evicted items itself.", GLOBAL, "direct_reclaims", CONV_NUM, 0, 0 },
    { "memcached_lru_crawler_items_checked_total", C, "Items the LRU crawler examined.", GLOBAL, "crawler_items_checked", CONV_NUM, 0, 0 },
    { "memcached_lru_crawler_reclaimed_total", C, "Items the LRU crawler freed.", GLOBAL, "crawler_reclaimed", CONV_NUM, 0, 0 },
    { "memcached_lru_crawler_moves_to_cold_total", C, "Items moved from HOT/WARM to COLD.", GLOBAL, "moves_to_cold", CONV_NUM, 0, 0 },
    { "memcached_lru_crawler_moves_to_warm_total", C, "Items moved from COLD to WARM.", GLOBAL, "moves_to_warm", CONV_NUM, 0, 0 },
    { "memcached_lru_crawler_moves_within_lru_total", C, "Items bumped within HOT or WARM.", GLOBAL, "moves_within_lru", CONV_NUM, 0, 0 },
    { "memcached_malloced_bytes", G, "Bytes of slab pages allocated.", GLOBAL, "total_malloced", CONV_NUM, 0, 0 },
    { "memcached_accepting_connections", G, "1 if the server accepts new connections.", GLOBAL, "accepting_conns", CONV_NUM, 0, 0 },
    { "memcached_max_connections", G, "Client connection limit (-c).", SETTINGS, "maxconns", CONV_NUM, 0, 0 },
};

/* Exporter, from "stats settings", written only when lru_crawler is yes. */
static const struct row crawler_rows[] = {
    { "memcached_lru_crawler_enabled", G, "1 if the LRU crawler is enabled.", SETTINGS, "lru_crawler", CONV_BOOL, 0, 0 },
    { "memcached_lru_crawler_sleep", G, "Microseconds the crawler sleeps between items.", SETTINGS, "lru_crawler_sleep", CONV_NUM, 0, 0 },
    { "memcached_lru_crawler_to_crawl", G, "Items to crawl per class per run.", SETTINGS, "lru_crawler_tocrawl", CONV_NUM, 0, 0 },
    { "memcached_lru_crawler_maintainer_thread", G, "1 with a background LRU maintainer.", SETTINGS, "lru_maintainer_thread", CONV_BOOL, 0, 0 },
    { "memcached_lru_crawler_hot_percent", G, "Percent of class memory for the HOT LRU.", SETTINGS, "hot_lru_pct", CONV_NUM, 0, 0 },
    { "memcached_lru_crawler_warm_percent", G, "Percent of class memory for the WARM LRU.", SETTINGS, "warm_lru_pct", CONV_NUM, 0, 0 },
    { "memcached_lru_crawler_hot_max_factor", G, "HOT idle age limit as a factor of the COLD age.", SETTINGS, "hot_max_factor", CONV_NUM, 0, 0 },
    { "memcached_lru_crawler_warm_max_factor", G, "WARM idle age limit as a factor of the COLD age.", SETTINGS, "warm_max_factor", CONV_NUM, 0, 0 },
};

/* Ours (doc/monitoring.md), from "stats". */
static const struct row our_rows[] = {
    { "memcached_read_buffer_bytes", G, "Bytes of connection read buffers allocated.", GLOBAL, "read_buf_bytes", CONV_NUM, 0, 0 },
    { "memcached_read_buffers", G, "Connections holding a read buffer of their own.", GLOBAL, "read_buf_count", CONV_NUM, 0, 0 },
    { "memcached_read_buffer_oom_total", C, "Requests refused: read buffer limits reached.", GLOBAL, "read_buf_oom", CONV_NUM, 0, 0 },
    { "memcached_output_buffer_bytes", G, "Bytes of reply buffers allocated.", GLOBAL, "output_buf_bytes", CONV_NUM, 0, 0 },
    { "memcached_write_timeouts_total", C, "Connections closed: output stood still for write_timeout.", GLOBAL, "write_timeouts", CONV_NUM, 0, 0 },
    { "memcached_eviction_policy_probation_items", G, "Items in the probation queues now (s3fifo).", GLOBAL, "probation_items", CONV_NUM, 0, 0 },
    { "memcached_eviction_policy_hits_total", C, "Hits by the queue the item was in.", GLOBAL, "probation_hits", CONV_NUM, "queue", "probation" },
    { "memcached_eviction_policy_hits_total", C, "Hits by the queue the item was in.", GLOBAL, "main_hits", CONV_NUM, "queue", "main" },
    { "memcached_eviction_policy_promoted_total", C, "Items promoted from probation to main.", GLOBAL, "probation_promoted", CONV_NUM, 0, 0 },
    { "memcached_eviction_policy_ghost_hits_total", C, "Items stored straight into main: their key was evicted from probation recently.", GLOBAL, "ghost_hits", CONV_NUM, 0, 0 },
    { "memcached_eviction_policy_evictions_total", C, "Evictions by reason.", GLOBAL, "evicted_probation", CONV_NUM, "reason", "probation" },
    { "memcached_eviction_policy_evictions_total", C, "Evictions by reason.", GLOBAL, "evicted_main", CONV_NUM, "reason", "main" },
    { "memcached_eviction_policy_evictions_total", C, "Evictions by reason.", GLOBAL, "evicted_slab_move", CONV_NUM, "reason", "slab_move" },
    { "memcached_eviction_policy_memory_bytes", G, "Bytes of the probation queues and the ghost table.", GLOBAL, "eviction_policy_bytes", CONV_NUM, 0, 0 },
};

/* Ours, from "stats snapshot" (doc/snapshot.md): only with snapshot_path. */
static const struct row snapshot_rows[] = {
    { "memcached_snapshot_in_progress", G, "1 while a snapshot is being written.", SNAPSHOT, "in_progress", CONV_NUM, 0, 0 },
    { "memcached_snapshot_interval_seconds", G, "Seconds between periodic snapshots (0: none).", SNAPSHOT, "interval", CONV_NUM, 0, 0 },
    { "memcached_snapshot_last_success_timestamp_seconds", G, "UNIX time the last good snapshot finished (0: none yet).", SNAPSHOT, "last_success", CONV_NUM, 0, 0 },
    { "memcached_snapshot_last_start_timestamp_seconds", G, "UNIX time the last snapshot started (0: none yet).", SNAPSHOT, "last_start", CONV_NUM, 0, 0 },
    { "memcached_snapshot_last_duration_seconds", G, "Seconds the last snapshot took.", SNAPSHOT, "last_duration", CONV_NUM, 0, 0 },
    { "memcached_snapshot_last_items", G, "Items in the last snapshot.", SNAPSHOT, "last_items", CONV_NUM, 0, 0 },
    { "memcached_snapshot_last_bytes", G, "Bytes written by the last snapshot.", SNAPSHOT, "last_bytes", CONV_NUM, 0, 0 },
    { "memcached_snapshot_successes_total", C, "Snapshots written.", SNAPSHOT, "successes", CONV_NUM, 0, 0 },
    { "memcached_snapshot_failures_total", C, "Snapshots that failed (the previous file was kept).", SNAPSHOT, "failures", CONV_NUM, 0, 0 },
    { "memcached_snapshot_file_bytes", G, "Size of the snapshot file now (0: none).", SNAPSHOT, "file_bytes", CONV_NUM, 0, 0 },
    { "memcached_snapshot_filesystem_avail_bytes", G, "Bytes available on the snapshot's filesystem.", SNAPSHOT, "fs_avail_bytes", CONV_NUM, 0, 0 },
    { "memcached_snapshot_filesystem_size_bytes", G, "Size of the snapshot's filesystem, bytes.", SNAPSHOT, "fs_total_bytes", CONV_NUM, 0, 0 },
};

static const char *
row_value(const struct mon_stats *s, const struct row *r)
{
    switch (r->src) {
    case SETTINGS: return mon_stat(s, MG_SETTINGS, 0, r->key);
    case SNAPSHOT: return mon_stat(s, MG_SNAPSHOT, 0, r->key);
    default:       return mon_stat_global(s, r->key);
    }
}

static void
write_rows(struct mon_writer *w, const struct mon_stats *s, const struct row *rows, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const struct row *r = &rows[i];
        if (i == 0 || strcmp(rows[i - 1].name, r->name) != 0)
            mon_family(w, r->name, r->type, r->help);
        const char *labels[] = { r->lname, r->lvalue, NULL };
        sample_stat(w, row_value(s, r), r->conv, r->lname ? labels : NULL);
    }
}

static bool
sum_u64(const char *const vals[], int n, uint64_t *out)
{
    uint64_t t = 0;
    for (int i = 0; i < n; i++) {
        if (vals[i] == NULL || !is_number(vals[i]) || vals[i][0] == '-')
            return false;
        t += strtoull(vals[i], NULL, 10);
    }
    *out = t;
    return true;
}

/* cmd_set less the cas commands in it, as a decimal string. */
static bool
set_hits(const char *cmd_set, const char *const cas[], int ncas, char *buf, size_t len)
{
    uint64_t set, c;
    const char *v[] = { cmd_set };
    if (!sum_u64(v, 1, &set) || !sum_u64(cas, ncas, &c))
        return false;
    if (set >= c)
        snprintf(buf, len, "%" PRIu64, set - c);
    else
        snprintf(buf, len, "-%" PRIu64, c - set);
    return true;
}

static const char *const ops[] = { "get", "delete", "incr", "decr", "cas", "touch" };
#define NOPS (sizeof(ops) / sizeof(ops[0]))

static void
write_commands(struct mon_writer *w, const struct mon_stats *s)
{
    char key[32];
    mon_family(w, "memcached_commands_total", C,
               "Requests by command and status (as the exporter derives them from stats).");
    for (size_t i = 0; i < NOPS; i++) {
        const char *hit[] = { "command", ops[i], "status", "hit", NULL };
        const char *miss[] = { "command", ops[i], "status", "miss", NULL };
        snprintf(key, sizeof(key), "%s_hits", ops[i]);
        sample_stat(w, mon_stat_global(s, key), CONV_NUM, hit);
        snprintf(key, sizeof(key), "%s_misses", ops[i]);
        sample_stat(w, mon_stat_global(s, key), CONV_NUM, miss);
    }
    const char *badval[] = { "command", "cas", "status", "badval", NULL };
    sample_stat(w, mon_stat_global(s, "cas_badval"), CONV_NUM, badval);
    const char *flush[] = { "command", "flush", "status", "hit", NULL };
    sample_stat(w, mon_stat_global(s, "cmd_flush"), CONV_NUM, flush);
    const char *cas[] = { mon_stat_global(s, "cas_misses"), mon_stat_global(s, "cas_hits"),
                          mon_stat_global(s, "cas_badval") };
    char b[32];
    const char *set[] = { "command", "set", "status", "hit", NULL };
    if (set_hits(mon_stat_global(s, "cmd_set"), cas, 3, b, sizeof(b)))
        mon_sample(w, b, set);
}

/* Per-class families: one row per family; lru (hits_to_*) and the
 * commands are code. */
struct crow {
    const char *name, *type, *help;
    enum mon_group g;
    const char *key;
};

static const struct crow item_rows[] = {
    { "memcached_slab_current_items", G, "Items stored in this slab class.", MG_ITEMS, "number" },
    { "memcached_slab_items_age_seconds", G, "Idle time of the oldest item in the class, seconds.", MG_ITEMS, "age" },
    { "memcached_slab_items_crawler_reclaimed_total", C, "Items of the class freed by the LRU crawler.", MG_ITEMS, "crawler_reclaimed" },
    { "memcached_slab_items_evicted_total", C, "Items of the class evicted before they expired.", MG_ITEMS, "evicted" },
    { "memcached_slab_items_evicted_nonzero_total", C, "Items with an expiry time evicted before it.", MG_ITEMS, "evicted_nonzero" },
    { "memcached_slab_items_evicted_time_seconds", C, "Idle time of the last item evicted from the class, seconds.", MG_ITEMS, "evicted_time" },
    { "memcached_slab_items_evicted_unfetched_total", C, "Items of the class evicted without ever being read.", MG_ITEMS, "evicted_unfetched" },
    { "memcached_slab_items_expired_unfetched_total", C, "Items of the class expired without ever being read.", MG_ITEMS, "expired_unfetched" },
    { "memcached_slab_items_outofmemory_total", C, "Stores in the class that failed for memory.", MG_ITEMS, "outofmemory" },
    { "memcached_slab_items_reclaimed_total", C, "Items stored in the memory of an expired item of the class.", MG_ITEMS, "reclaimed" },
    { "memcached_slab_items_tailrepairs_total", C, "LRU tail repairs in the class.", MG_ITEMS, "tailrepairs" },
    /* the exporter maps items' mem_requested as a counter */
    { "memcached_slab_mem_requested_bytes", C, "Bytes the items of the class take.", MG_ITEMS, "mem_requested" },
    { "memcached_slab_items_moves_to_cold", C, "Items of the class moved from HOT or WARM to COLD.", MG_ITEMS, "moves_to_cold" },
    { "memcached_slab_items_moves_to_warm", C, "Items of the class moved from COLD to WARM.", MG_ITEMS, "moves_to_warm" },
    { "memcached_slab_items_moves_within_lru", C, "Items of the class bumped within HOT or WARM.", MG_ITEMS, "moves_within_lru" },
    { "memcached_slab_hot_items", G, "Items of the class in the HOT LRU.", MG_ITEMS, "number_hot" },
    { "memcached_slab_warm_items", G, "Items of the class in the WARM LRU.", MG_ITEMS, "number_warm" },
    { "memcached_slab_cold_items", G, "Items of the class in the COLD LRU.", MG_ITEMS, "number_cold" },
    { "memcached_slab_temporary_items", G, "Items of the class in the TEMPORARY LRU.", MG_ITEMS, "number_temp" },
    { "memcached_slab_hot_age_seconds", G, "Age of the oldest item in the HOT LRU, seconds.", MG_ITEMS, "age_hot" },
    { "memcached_slab_warm_age_seconds", G, "Age of the oldest item in the WARM LRU, seconds.", MG_ITEMS, "age_warm" },
};

static const struct crow slab_rows[] = {
    { "memcached_slab_chunk_size_bytes", G, "Bytes of each chunk of the class.", MG_SLABS, "chunk_size" },
    { "memcached_slab_chunks_per_page", G, "Chunks in one page of the class.", MG_SLABS, "chunks_per_page" },
    { "memcached_slab_current_pages", G, "Pages assigned to the class.", MG_SLABS, "total_pages" },
    { "memcached_slab_current_chunks", G, "Chunks in the pages of the class.", MG_SLABS, "total_chunks" },
    { "memcached_slab_chunks_used", G, "Chunks of the class holding an item.", MG_SLABS, "used_chunks" },
    { "memcached_slab_chunks_free", G, "Chunks of the class not holding an item.", MG_SLABS, "free_chunks" },
    { "memcached_slab_chunks_free_end", G, "Free chunks at the end of the last page of the class.", MG_SLABS, "free_chunks_end" },
};

/* Our per-class eviction-policy counters, from "stats items". */
static const struct crow our_item_rows[] = {
    { "memcached_slab_eviction_policy_probation_items", G, "Items of the class on probation now (s3fifo).", MG_ITEMS, "number_probation" },
    { "memcached_slab_eviction_policy_promoted_total", C, "Items of the class promoted from probation to main.", MG_ITEMS, "probation_promoted" },
    { "memcached_slab_eviction_policy_ghost_hits_total", C, "Items of the class stored straight into main (ghost hits).", MG_ITEMS, "ghost_hits" },
};

static void
write_class_rows(struct mon_writer *w, const struct mon_stats *s, const struct crow *rows, size_t n)
{
    char id[16];
    for (size_t i = 0; i < n; i++) {
        const struct crow *r = &rows[i];
        mon_family(w, r->name, r->type, r->help);
        for (size_t k = 0; k < s->ncls[r->g]; k++) {
            unsigned cls = s->cls[r->g][k].cls;
            snprintf(id, sizeof(id), "%u", cls);
            const char *labels[] = { "slab", id, NULL };
            sample_stat(w, mon_stat(s, r->g, cls, r->key), CONV_NUM, labels);
        }
    }
}

static void
write_lru_hits(struct mon_writer *w, const struct mon_stats *s)
{
    static const char *const lru[][2] = {
        { "hits_to_hot", "hot" }, { "hits_to_warm", "warm" },
        { "hits_to_cold", "cold" }, { "hits_to_temp", "temporary" },
    };
    char id[16];
    mon_family(w, "memcached_slab_lru_hits_total", C, "Hits by slab class and LRU.");
    for (size_t k = 0; k < s->ncls[MG_ITEMS]; k++) {
        unsigned cls = s->cls[MG_ITEMS][k].cls;
        snprintf(id, sizeof(id), "%u", cls);
        for (size_t j = 0; j < 4; j++) {
            const char *labels[] = { "slab", id, "lru", lru[j][1], NULL };
            sample_stat(w, mon_stat(s, MG_ITEMS, cls, lru[j][0]), CONV_NUM, labels);
        }
    }
}

static void
write_class_evictions(struct mon_writer *w, const struct mon_stats *s)
{
    static const char *const why[][2] = {
        { "evicted_probation", "probation" }, { "evicted_main", "main" },
        { "evicted_slab_move", "slab_move" },
    };
    char id[16];
    mon_family(w, "memcached_slab_eviction_policy_evictions_total", C,
               "Evictions by slab class and reason.");
    for (size_t k = 0; k < s->ncls[MG_ITEMS]; k++) {
        unsigned cls = s->cls[MG_ITEMS][k].cls;
        snprintf(id, sizeof(id), "%u", cls);
        for (size_t j = 0; j < 3; j++) {
            const char *labels[] = { "slab", id, "reason", why[j][1], NULL };
            sample_stat(w, mon_stat(s, MG_ITEMS, cls, why[j][0]), CONV_NUM, labels);
        }
    }
}

static void
write_slab_commands(struct mon_writer *w, const struct mon_stats *s)
{
    char id[16], key[32], b[32];
    mon_family(w, "memcached_slab_commands_total", C,
               "Requests by slab class, command and status.");
    for (size_t k = 0; k < s->ncls[MG_SLABS]; k++) {
        unsigned cls = s->cls[MG_SLABS][k].cls;
        snprintf(id, sizeof(id), "%u", cls);
        for (size_t i = 0; i < NOPS; i++) {
            const char *labels[] = { "slab", id, "command", ops[i], "status", "hit", NULL };
            snprintf(key, sizeof(key), "%s_hits", ops[i]);
            sample_stat(w, mon_stat(s, MG_SLABS, cls, key), CONV_NUM, labels);
        }
        const char *badval[] = { "slab", id, "command", "cas", "status", "badval", NULL };
        sample_stat(w, mon_stat(s, MG_SLABS, cls, "cas_badval"), CONV_NUM, badval);
        /* per class the exporter subtracts cas hits and badval only */
        const char *cas[] = { mon_stat(s, MG_SLABS, cls, "cas_hits"),
                              mon_stat(s, MG_SLABS, cls, "cas_badval") };
        const char *set[] = { "slab", id, "command", "set", "status", "hit", NULL };
        if (set_hits(mon_stat(s, MG_SLABS, cls, "cmd_set"), cas, 2, b, sizeof(b)))
            mon_sample(w, b, set);
    }
}

/* Ours, from "stats hotkeys" (doc/protocol.md): the sampler and the most
 * requested keys, ranked, with their estimated request counts (sampled
 * estimates: a gauge, not a counter; a key leaves the list when others
 * overtake it).  Keys are URI-encoded as "stats hotkeys" prints them. */
static void
write_hotkeys(struct mon_writer *w, const struct mon_stats *s)
{
    const char *v;
    if (!s->present[MG_HOTKEYS] || mon_stat(s, MG_HOTKEYS, 0, "hotkeys_status") != NULL)
        return;                     /* -o no_hotkeys */
    if ((v = mon_stat(s, MG_HOTKEYS, 0, "hotkeys_sample")) != NULL) {
        mon_family(w, "memcached_hotkeys_sample_interval", G,
                   "One key lookup in this many is sampled for the hot-key counts.");
        mon_sample(w, v, NULL);
    }
    if ((v = mon_stat(s, MG_HOTKEYS, 0, "hotkeys_sampled")) != NULL) {
        mon_family(w, "memcached_hotkeys_sampled_total", C,
                   "Key lookups sampled since the last stats reset.");
        mon_sample(w, v, NULL);
    }
    if ((v = mon_stat(s, MG_HOTKEYS, 0, "hotkeys_bytes")) != NULL) {
        mon_family(w, "memcached_hotkeys_memory_bytes", G, "Memory of the hot-key sketches.");
        mon_sample(w, v, NULL);
    }
    mon_family(w, "memcached_hotkey_requests", G,
               "Estimated requests for each of the most requested keys since the last "
               "stats reset (sampled).");
    for (unsigned rank = 1; rank <= 1000; rank++) {
        char kname[32], cname[32], r[16];
        snprintf(kname, sizeof(kname), "hotkey:%u:key", rank);
        snprintf(cname, sizeof(cname), "hotkey:%u:count", rank);
        const char *key = mon_stat(s, MG_HOTKEYS, 0, kname);
        const char *count = mon_stat(s, MG_HOTKEYS, 0, cname);
        if (key == NULL || count == NULL)
            break;
        snprintf(r, sizeof(r), "%u", rank);
        const char *labels[] = { "key", key, "rank", r, NULL };
        mon_sample(w, count, labels);
    }
}

void
mon_render_metrics(const struct mon_stats *s, struct evbuffer *out,
                   const monitor_family_fn *fns, void *const *args, int nfns)
{
    struct mon_writer w = { .out = out };
#define N(a) (sizeof(a) / sizeof((a)[0]))
    mon_family(&w, "memcached_up", G, "1: the server answered (always, when it is the server).");
    mon_sample(&w, "1", NULL);
    const char *version = mon_stat_global(s, "version");
    if (version != NULL) {
        const char *labels[] = { "version", version, NULL };
        mon_family(&w, "memcached_version", G, "The server's version, as a label.");
        mon_sample(&w, "1", labels);
    }
    write_commands(&w, s);
    write_rows(&w, s, exporter_rows, N(exporter_rows));
    const char *crawler = mon_stat(s, MG_SETTINGS, 0, "lru_crawler");
    if (crawler != NULL && strcmp(crawler, "yes") == 0)
        write_rows(&w, s, crawler_rows, N(crawler_rows));
    write_class_rows(&w, s, item_rows, N(item_rows));
    write_lru_hits(&w, s);
    write_class_rows(&w, s, slab_rows, N(slab_rows));
    write_slab_commands(&w, s);
    /* ours */
    write_rows(&w, s, our_rows, N(our_rows));
    write_class_rows(&w, s, our_item_rows, N(our_item_rows));
    write_class_evictions(&w, s);
    mon_family(&w, "memcached_snapshot_enabled", G, "1 if snapshots are configured (snapshot_path).");
    mon_sample(&w, s->present[MG_SNAPSHOT] ? "1" : "0", NULL);
    if (s->present[MG_SNAPSHOT])
        write_rows(&w, s, snapshot_rows, N(snapshot_rows));
    write_hotkeys(&w, s);
    for (int i = 0; i < nfns; i++)
        fns[i](&w, args[i]);
#undef N
}

/* ---- JSON ---- */

void
mon_json_string(struct evbuffer *out, const char *s)
{
    evbuffer_add(out, "\"", 1);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            evbuffer_add_printf(out, "\\%c", *p);
        else if (*p < 0x20 || *p == 0x7f)
            evbuffer_add_printf(out, "\\u%04x", *p);
        else
            evbuffer_add(out, p, 1);
    }
    evbuffer_add(out, "\"", 1);
}

static void
json_value(struct evbuffer *out, const char *v)
{
    /* numbers as numbers: JSON has no leading zeros ("007") */
    const char *d = v[0] == '-' ? v + 1 : v;
    if (is_number(v) && !(d[0] == '0' && d[1] >= '0' && d[1] <= '9'))
        evbuffer_add(out, v, strlen(v));
    else
        mon_json_string(out, v);
}

/* {"name":value,...} of the lines of group g for class cls. */
static void
json_lines(struct evbuffer *out, const struct mon_stats *s, enum mon_group g, size_t first,
           size_t end, unsigned cls)
{
    bool any = false;
    evbuffer_add(out, "{", 1);
    for (size_t i = first; i < end; i++) {
        const struct mon_stat *e = &s->st[g][i];
        if (e->cls != cls)
            continue;
        if (any)
            evbuffer_add(out, ",", 1);
        any = true;
        mon_json_string(out, e->name);
        evbuffer_add(out, ":", 1);
        json_value(out, e->value);
    }
    evbuffer_add(out, "}", 1);
}

static void
json_classes(struct evbuffer *out, const struct mon_stats *s, enum mon_group g)
{
    evbuffer_add(out, "{", 1);
    for (size_t k = 0; k < s->ncls[g]; k++) {
        const struct mon_class *c = &s->cls[g][k];
        evbuffer_add_printf(out, "%s\"%u\":", k ? "," : "", c->cls);
        json_lines(out, s, g, c->first, c->end, c->cls);
    }
    evbuffer_add(out, "}", 1);
}

void
mon_render_json(const struct mon_stats *s, struct evbuffer *out)
{
    evbuffer_add(out, "{\"stats\":", 9);
    json_lines(out, s, MG_GENERAL, 0, s->n[MG_GENERAL], 0);
    evbuffer_add(out, ",\"settings\":", 12);
    json_lines(out, s, MG_SETTINGS, 0, s->n[MG_SETTINGS], 0);
    evbuffer_add(out, ",\"snapshot\":", 12);
    if (s->present[MG_SNAPSHOT])
        json_lines(out, s, MG_SNAPSHOT, 0, s->n[MG_SNAPSHOT], 0);
    else
        evbuffer_add(out, "null", 4);
    evbuffer_add(out, ",\"hotkeys\":", 11);
    json_lines(out, s, MG_HOTKEYS, 0, s->n[MG_HOTKEYS], 0);
    evbuffer_add(out, ",\"items\":", 9);
    json_classes(out, s, MG_ITEMS);
    evbuffer_add(out, ",\"slabs\":", 9);
    json_classes(out, s, MG_SLABS);
    evbuffer_add(out, ",\"slabs_global\":", 16);
    json_lines(out, s, MG_SLABS, 0, s->n[MG_SLABS], 0);
}
