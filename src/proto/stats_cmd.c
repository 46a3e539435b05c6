/*
 * stats_cmd.c -- the "stats" family of text commands.
 *
 * Names and order follow memcached 1.6.18 so that monitoring tools that
 * scrape memcached work unchanged.  Counters memcached keeps for its
 * HOT/WARM/COLD LRU, which our CLOCK eviction does not have, are reported
 * as 0 (and every item as "cold"); see doc/protocol.md.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "exec.h"
#include "hotkeys.h"
#include "item.h"
#include "proto.h"
#include "watch.h"

void proto_stats(struct proto_conn *pc, const struct request *r);

static void
stat_u64(struct obuf *o, const char *name, uint64_t v)
{
    obuf_printf(o, "STAT %s %" PRIu64 "\r\n", name, v);
}

static void
stats_general(struct obuf *o)
{
    struct server_stats sv;
    memset(&sv, 0, sizeof(sv));
    if (proto_env.server_stats != NULL)
        proto_env.server_stats(&sv);
    struct stats_sum ts;
    stats_aggregate(&ts);
    struct item_global_stats is;
    item_global_stats(&is);
    time_t now = clock_to_unix(clock_now());

    stat_u64(o, "pid", (uint64_t)sv.pid);
    stat_u64(o, "uptime", (uint64_t)(now - sv.started));
    stat_u64(o, "time", (uint64_t)now);
    obuf_printf(o, "STAT version %s\r\n", proto_env.version);
    obuf_printf(o, "STAT libevent %s\r\n", proto_env.libevent_version ? proto_env.libevent_version : "");
    stat_u64(o, "pointer_size", 8 * sizeof(void *));
    obuf_printf(o, "STAT rusage_user %.6f\r\n", sv.rusage_user);
    obuf_printf(o, "STAT rusage_system %.6f\r\n", sv.rusage_system);
    stat_u64(o, "max_connections", sv.max_connections);
    stat_u64(o, "curr_connections", sv.curr_connections);
    stat_u64(o, "total_connections", sv.total_connections);
    stat_u64(o, "rejected_connections", sv.rejected_connections);
    stat_u64(o, "connection_structures", sv.connection_structures);
    stat_u64(o, "response_obj_oom", 0);
    stat_u64(o, "response_obj_count", 0);
    stat_u64(o, "response_obj_bytes", 0);
    stat_u64(o, "read_buf_count", sv.read_buf_count);
    stat_u64(o, "read_buf_bytes", sv.read_buf_bytes);
    stat_u64(o, "read_buf_bytes_free", 0);
    stat_u64(o, "read_buf_oom", ts.read_buf_oom);
    stat_u64(o, "reserved_fds", sv.reserved_fds);
    stat_u64(o, "cmd_get", ts.cmd_get);
    stat_u64(o, "cmd_set", ts.cmd_set);
    stat_u64(o, "cmd_flush", ts.cmd_flush);
    stat_u64(o, "cmd_touch", ts.cmd_touch);
    stat_u64(o, "cmd_meta", ts.cmd_meta);
    stat_u64(o, "get_hits", ts.get_hits);
    stat_u64(o, "get_misses", ts.get_misses);
    stat_u64(o, "get_expired", is.get_expired);
    stat_u64(o, "get_flushed", is.get_flushed);
    stat_u64(o, "delete_misses", ts.delete_misses);
    stat_u64(o, "delete_hits", ts.delete_hits);
    stat_u64(o, "incr_misses", ts.incr_misses);
    stat_u64(o, "incr_hits", ts.incr_hits);
    stat_u64(o, "decr_misses", ts.decr_misses);
    stat_u64(o, "decr_hits", ts.decr_hits);
    stat_u64(o, "cas_misses", ts.cas_misses);
    stat_u64(o, "cas_hits", ts.cas_hits);
    stat_u64(o, "cas_badval", ts.cas_badval);
    stat_u64(o, "touch_hits", ts.touch_hits);
    stat_u64(o, "touch_misses", ts.touch_misses);
    stat_u64(o, "store_too_large", ts.store_too_large);
    stat_u64(o, "store_no_memory", ts.store_no_memory);
    stat_u64(o, "auth_cmds", ts.auth_cmds);
    stat_u64(o, "auth_errors", ts.auth_errors);
    stat_u64(o, "bytes_read", ts.bytes_read);
    stat_u64(o, "bytes_written", ts.bytes_written);
    stat_u64(o, "limit_maxbytes", is.limit_maxbytes);
    stat_u64(o, "accepting_conns", sv.accepting_conns);
    stat_u64(o, "listen_disabled_num", sv.listen_disabled_num);
    stat_u64(o, "time_in_listen_disabled_us", sv.time_in_listen_disabled_us);
    stat_u64(o, "threads", sv.threads);
    stat_u64(o, "conn_yields", ts.conn_yields);
    stat_u64(o, "write_timeouts", ts.write_timeouts);
    stat_u64(o, "hash_power_level", is.hash_power_level);
    stat_u64(o, "hash_bytes", is.hash_bytes);
    stat_u64(o, "hash_is_expanding", is.hash_is_expanding);
    stat_u64(o, "slab_reassign_rescues", 0);
    stat_u64(o, "slab_reassign_chunk_rescues", 0);
    stat_u64(o, "slab_reassign_evictions_nomem", 0);
    stat_u64(o, "slab_reassign_inline_reclaim", 0);
    stat_u64(o, "slab_reassign_busy_items", 0);
    stat_u64(o, "slab_reassign_busy_deletes", 0);
    stat_u64(o, "slab_reassign_running", 0);
    stat_u64(o, "slabs_moved", is.slabs_moved);
    stat_u64(o, "lru_crawler_running", 0);
    stat_u64(o, "lru_crawler_starts", is.crawler_starts);
    stat_u64(o, "lru_maintainer_juggles", 0);
    stat_u64(o, "malloc_fails", ts.out_of_memory);
    struct watch_stats ws;
    watch_stats(&ws);
    stat_u64(o, "log_worker_dropped", ws.worker_dropped);
    stat_u64(o, "log_worker_written", ws.worker_written);
    stat_u64(o, "log_watcher_skipped", ws.watcher_skipped);
    stat_u64(o, "log_watcher_sent", ws.watcher_sent);
    stat_u64(o, "log_watchers", ws.watchers);
    if (sv.ssl_enabled) {
        if (sv.ssl_session_cache)
            stat_u64(o, "ssl_new_sessions", sv.ssl_new_sessions);
        stat_u64(o, "ssl_handshake_errors", sv.ssl_handshake_errors);
        stat_u64(o, "time_since_server_cert_refresh", sv.ssl_cert_age);
    }
    stat_u64(o, "unexpected_napi_ids", 0);
    stat_u64(o, "round_robin_fallback", 0);
    stat_u64(o, "bytes", is.bytes);
    stat_u64(o, "curr_items", is.curr_items);
    stat_u64(o, "total_items", is.total_items);
    stat_u64(o, "slab_global_page_pool", 0);
    stat_u64(o, "expired_unfetched", is.expired_unfetched);
    stat_u64(o, "evicted_unfetched", is.evicted_unfetched);
    stat_u64(o, "evicted_active", is.evicted_active);
    stat_u64(o, "evictions", is.evictions);
    stat_u64(o, "reclaimed", is.reclaimed);
    stat_u64(o, "crawler_reclaimed", is.crawler_reclaimed);
    stat_u64(o, "crawler_items_checked", is.crawler_items_checked);
    stat_u64(o, "lrutail_reflocked", 0);
    stat_u64(o, "moves_to_cold", 0);
    stat_u64(o, "moves_to_warm", 0);
    stat_u64(o, "moves_within_lru", 0);
    stat_u64(o, "direct_reclaims", 0);
    stat_u64(o, "lru_bumps_dropped", 0);
    /* ours: the eviction policy (doc/storage.md "Eviction") */
    stat_u64(o, "probation_items", is.probation_items);
    stat_u64(o, "probation_hits", is.probation_hits);
    stat_u64(o, "main_hits", is.main_hits);
    stat_u64(o, "probation_promoted", is.promoted);
    stat_u64(o, "ghost_hits", is.ghost_hits);
    stat_u64(o, "evicted_probation", is.evicted_probation);
    stat_u64(o, "evicted_main", is.evicted_main);
    stat_u64(o, "evicted_slab_move", is.evicted_slab_move);
    stat_u64(o, "eviction_policy_bytes", is.policy_bytes);
    /* ours: reply memory (read buffers are read_buf_bytes above) */
    stat_u64(o, "output_buf_bytes", obuf_mem_bytes());
}

static void
stats_items(struct obuf *o)
{
    unsigned n = item_nclasses();
    for (unsigned id = 1; id <= n; id++) {
        struct item_class_stats c;
        if (!item_class_stats(id, &c) || c.number == 0)
            continue;
#define L(name, v) obuf_printf(o, "STAT items:%u:%s %" PRIu64 "\r\n", id, name, (uint64_t)(v))
        L("number", c.number);
        L("number_hot", 0);
        L("number_warm", 0);
        L("number_cold", c.number);
        L("age_hot", 0);
        L("age_warm", 0);
        L("age", c.age);
        L("mem_requested", c.mem_requested);
        L("evicted", c.evicted);
        L("evicted_nonzero", c.evicted_nonzero);
        L("evicted_time", c.evicted_time);
        L("outofmemory", c.outofmemory);
        L("tailrepairs", 0);
        L("reclaimed", c.reclaimed);
        L("expired_unfetched", c.expired_unfetched);
        L("evicted_unfetched", c.evicted_unfetched);
        L("evicted_active", c.evicted_active);
        L("crawler_reclaimed", c.crawler_reclaimed);
        L("crawler_items_checked", c.crawler_items_checked);
        L("lrutail_reflocked", 0);
        L("moves_to_cold", 0);
        L("moves_to_warm", 0);
        L("moves_within_lru", 0);
        L("direct_reclaims", 0);
        L("hits_to_hot", 0);
        L("hits_to_warm", 0);
        L("hits_to_cold", 0);
        L("hits_to_temp", 0);
        L("number_probation", c.probation_items);
        L("probation_promoted", c.promoted);
        L("ghost_hits", c.ghost_hits);
        L("evicted_probation", c.evicted_probation);
        L("evicted_main", c.evicted_main);
        L("evicted_slab_move", c.evicted_slab_move);
#undef L
    }
}

static void
stats_slabs(struct obuf *o)
{
    unsigned n = item_nclasses();
    unsigned active = 0;
    struct stats_sum ts;
    stats_aggregate(&ts);
    for (unsigned id = 1; id <= n; id++) {
        struct item_class_stats c;
        if (!item_class_stats(id, &c) || c.total_pages == 0)
            continue;
        active++;
        unsigned k = id < STATS_MAX_CLASSES ? id : 0;
#define L(name, v) obuf_printf(o, "STAT %u:%s %" PRIu64 "\r\n", id, name, (uint64_t)(v))
        L("chunk_size", c.chunk_size);
        L("chunks_per_page", c.chunks_per_page);
        L("total_pages", c.total_pages);
        L("total_chunks", c.total_chunks);
        L("used_chunks", c.used_chunks);
        L("free_chunks", c.free_chunks);
        L("free_chunks_end", 0);
        L("get_hits", ts.cls[k].get_hits);
        L("cmd_set", ts.cls[k].cmd_set);
        L("delete_hits", ts.cls[k].delete_hits);
        L("incr_hits", ts.cls[k].incr_hits);
        L("decr_hits", ts.cls[k].decr_hits);
        L("cas_hits", ts.cls[k].cas_hits);
        L("cas_badval", ts.cls[k].cas_badval);
        L("touch_hits", ts.cls[k].touch_hits);
#undef L
    }
    struct item_global_stats is;
    item_global_stats(&is);
    obuf_printf(o, "STAT active_slabs %u\r\n", active);
    stat_u64(o, "total_malloced", is.total_malloced);
}

static void
size_line(uint32_t size, uint64_t count, void *arg)
{
    obuf_printf(arg, "STAT %u %" PRIu64 "\r\n", size, count);
}

/* "stats hotkeys [N]" (doc/protocol.md): the sampler's state, then the
 * top n keys, two lines each, highest count first. */
static void
stats_hotkeys(struct obuf *o, uint32_t n)
{
    struct hotkeys_info hi;
    hotkeys_info(&hi);
    if (!hi.enabled) {
        obuf_add(o, "STAT hotkeys_status disabled\r\n", 30);
        return;
    }
    stat_u64(o, "hotkeys_sample", hi.sample);
    stat_u64(o, "hotkeys_sampled", hi.sampled);
    stat_u64(o, "hotkeys_bytes", hi.bytes);
    struct hotkey *top = malloc((size_t)n * sizeof(*top));
    if (top == NULL)
        return;                     /* the state lines only */
    size_t got = hotkeys_top(n, top);
    for (size_t i = 0; i < got; i++) {
        obuf_printf(o, "STAT hotkey:%zu:key ", i + 1);
        proto_uri_key(o, top[i].key, top[i].nkey);
        obuf_printf(o, "\r\nSTAT hotkey:%zu:count %" PRIu64 "\r\n", i + 1, top[i].count);
    }
    free(top);
}

void
proto_stats_reset(void)
{
    hotkeys_reset();
    stats_reset();
    item_stats_reset();
    if (proto_env.stats_reset != NULL)
        proto_env.stats_reset();
}

void
proto_stats_lines(struct obuf *o, enum req_sub sub)
{
    switch (sub) {
    case SUB_STATS_COLLECTIONS: {
        struct stats_sum ts;
        stats_aggregate(&ts);
#define X(n) stat_u64(o, #n, ts.n);
        COLL_STATS(X)
#undef X
        uint64_t by_type[COLL_BTREE + 1];
        coll_type_counts(by_type);
        stat_u64(o, "curr_lists", by_type[COLL_LIST]);
        stat_u64(o, "curr_sets", by_type[COLL_SET]);
        stat_u64(o, "curr_maps", by_type[COLL_MAP]);
        stat_u64(o, "curr_btrees", by_type[COLL_BTREE]);
        break;
    }
    case SUB_STATS_SNAPSHOT:
        if (proto_env.stats_snapshot != NULL)
            proto_env.stats_snapshot(o);
        break;
    case SUB_STATS_SETTINGS:
        if (proto_env.stats_settings != NULL)
            proto_env.stats_settings(o);
        break;
    case SUB_STATS_ITEMS:
        stats_items(o);
        break;
    case SUB_STATS_SLABS:
        stats_slabs(o);
        break;
    case SUB_STATS_SIZES:
        if (proto_env.track_sizes)
            item_sizes(size_line, o);
        else
            obuf_add(o, "STAT sizes_status disabled\r\n", 28);
        break;
    case SUB_STATS_CONNS:
        if (proto_env.stats_conns != NULL)
            proto_env.stats_conns(o);
        break;
    case SUB_STATS_GENERAL:
        stats_general(o);
        break;
    case SUB_STATS_HOTKEYS:
        stats_hotkeys(o, HOTKEYS_TOP_DEFAULT);
        break;
    default:
        /* detail dump: per-prefix stats are not kept, an empty dump */
        break;
    }
}

void
proto_stats(struct proto_conn *pc, const struct request *r)
{
    struct obuf *o = pc->out;
    switch (r->admin.sub) {
    case SUB_STATS_RESET:
        proto_stats_reset();
        obuf_add(o, "RESET\r\n", 7);
        return;
    case SUB_STATS_DETAIL_SET:
        obuf_add(o, "OK\r\n", 4);
        return;
    case SUB_STATS_HOTKEYS:
        stats_hotkeys(o, r->admin.level);
        obuf_add(o, "END\r\n", 5);
        return;
    case SUB_STATS_SNAPSHOT:
        if (proto_env.stats_snapshot == NULL) {
            obuf_add(o, "ERROR\r\n", 7);
            return;
        }
        break;
    default:
        break;
    }
    proto_stats_lines(o, r->admin.sub);
    obuf_add(o, "END\r\n", 5);
}
