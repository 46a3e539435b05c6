/*
 * mon.h -- internal to src/monitor: the stats text captured for one
 * scrape, parsed into (class, name, value) triples, and the renderers
 * that turn it into Prometheus text (metrics.c) and JSON (metrics.c),
 * plus the embedded status page (monitor_page.c, generated at build time
 * from src/monitor/page.html by scripts/embed.sh).
 *
 * Thread safety: a struct mon_stats belongs to the thread that filled
 * it (the monitor thread, or a unit test).
 */
#ifndef MC_MON_H
#define MC_MON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "monitor.h"

struct evbuffer;

/* The "stats" groups a scrape reads, each as the stats command sends it. */
enum mon_group {
    MG_GENERAL,                     /* stats */
    MG_SETTINGS,                    /* stats settings */
    MG_ITEMS,                       /* stats items: items:<cls>:<name> */
    MG_SLABS,                       /* stats slabs: <cls>:<name>, and two
                                     * global lines (active_slabs,
                                     * total_malloced) */
    MG_SNAPSHOT,                    /* stats snapshot (absent: no snapshots) */
    MG_HOTKEYS,                     /* stats hotkeys (the default top N) */
    MG_COUNT
};

struct mon_stat {
    unsigned    cls;                /* slab class, 0 = not per class */
    const char *name;               /* into the group's text */
    const char *value;              /* rest of the line */
};

struct mon_class {                  /* the lines of one class in a group */
    unsigned cls;
    size_t   first, end;            /* [first, end) in st[] */
};

struct mon_stats {
    bool             present[MG_COUNT];
    char            *text[MG_COUNT];    /* owned; NUL-split in place */
    struct mon_stat *st[MG_COUNT];      /* owned */
    size_t           n[MG_COUNT];
    struct mon_class *cls[MG_COUNT];    /* owned; classes in stats order */
    size_t           ncls[MG_COUNT];
};

/* Parse the STAT lines in text[0..len) (malloc'd; taken over, even on
 * failure) as group g.  Lines that are not "STAT name value" are
 * skipped.  0, or -1 on out of memory. */
int  mon_stats_parse(struct mon_stats *s, enum mon_group g, char *text, size_t len);
/* Fill s from proto_stats_lines(): every group above (snapshot only when
 * snapshots are configured).  0 or -1 (out of memory). */
int  mon_stats_capture(struct mon_stats *s);
void mon_stats_free(struct mon_stats *s);
/* Free the buffer mon_stats_capture() keeps between calls. */
void mon_stats_scratch_free(void);
/* Value of name in group g for class cls (0 = a global line); NULL if
 * absent. */
const char *mon_stat(const struct mon_stats *s, enum mon_group g, unsigned cls,
                     const char *name);
/* A global stat as the exporter's client sees it: "stats" merged with
 * the global lines of "stats slabs" (which win, being read later). */
const char *mon_stat_global(const struct mon_stats *s, const char *name);

/* /metrics: every family, built-in ones first, then those registered
 * with monitor_add_family() (fns[0..nfns)). */
void mon_render_metrics(const struct mon_stats *s, struct evbuffer *out,
                        const monitor_family_fn *fns, void *const *args, int nfns);
/* /stats.json without its closing brace: {"stats":{..},"settings":{..},
 * "snapshot":{..}|null,"hotkeys":{..},"items":{"<cls>":{..}},"slabs":{..}
 * -- the caller
 * appends more members (history) and the "}". */
void mon_render_json(const struct mon_stats *s, struct evbuffer *out);
/* A JSON string literal of s (quoted, escaped). */
void mon_json_string(struct evbuffer *out, const char *s);

/* The status page (generated from src/monitor/page.html). */
extern const unsigned char monitor_page[];
extern const size_t monitor_page_len;

#endif
