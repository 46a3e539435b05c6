/*
 * stats.h -- per-thread request counters, summed when read.
 *
 * Each worker owns one struct thread_stats and is its only writer; it
 * bumps counters with STAT_INC/STAT_ADD, which are relaxed atomic
 * load+store (a plain add on x86, no lock prefix) so that a reader on
 * another thread (the "stats" command) sees torn-free values without a
 * lock.  Readers call stats_aggregate() to sum all registered threads.
 */
#ifndef MC_STATS_H
#define MC_STATS_H

#include <stdatomic.h>
#include <stdint.h>

/* Per-class counters: one slot per slab class id (storage.h MAX_CLASSES). */
#define STATS_MAX_CLASSES 200

/* name: the counter's "stats" name (also the struct field). */
#define THREAD_STATS(X)       \
    X(cmd_get)                \
    X(get_hits)               \
    X(get_misses)             \
    X(cmd_touch)              \
    X(touch_hits)             \
    X(touch_misses)           \
    X(cmd_set)                \
    X(delete_hits)            \
    X(delete_misses)          \
    X(incr_hits)              \
    X(incr_misses)            \
    X(decr_hits)              \
    X(decr_misses)            \
    X(cas_hits)               \
    X(cas_misses)             \
    X(cas_badval)             \
    X(cmd_flush)              \
    X(cmd_meta)               \
    X(store_too_large)        \
    X(store_no_memory)        \
    X(bytes_read)             \
    X(bytes_written)          \
    X(conn_yields)            \
    X(read_buf_oom)           \
    X(write_timeouts)         \
    X(out_of_memory)          \
    X(auth_cmds)              \
    X(auth_errors)            \
    COLL_STATS(X)

/* ARCUS collection commands ("stats collections"). */
#define COLL_STATS(X) \
    X(cmd_lop_create) X(cmd_lop_insert) X(cmd_lop_delete) X(cmd_lop_get) \
    X(cmd_sop_create) X(cmd_sop_insert) X(cmd_sop_delete) X(cmd_sop_exist) \
    X(cmd_sop_get) X(cmd_mop_create) X(cmd_mop_insert) X(cmd_mop_upsert) \
    X(cmd_mop_update) X(cmd_mop_delete) X(cmd_mop_get) X(cmd_getattr) \
    X(cmd_setattr) X(cmd_bop_create) X(cmd_bop_insert) X(cmd_bop_upsert) \
    X(cmd_bop_update) X(cmd_bop_delete) X(cmd_bop_get) X(cmd_bop_count) \
    X(cmd_bop_incr) X(cmd_bop_decr) X(cmd_bop_mget) X(cmd_bop_smget) \
    X(cmd_bop_position) X(cmd_bop_gbp) X(cmd_bop_pwg)

/* Per slab class, for "stats slabs". */
#define CLASS_STATS(X) \
    X(get_hits) X(cmd_set) X(delete_hits) X(incr_hits) X(decr_hits) \
    X(cas_hits) X(cas_badval) X(touch_hits)

struct class_stats {
#define X(n) _Atomic uint64_t n;
    CLASS_STATS(X)
#undef X
};

struct thread_stats {
#define X(n) _Atomic uint64_t n;
    THREAD_STATS(X)
#undef X
    struct class_stats cls[STATS_MAX_CLASSES];
};

/* Plain sums, for readers. */
struct stats_sum {
#define X(n) uint64_t n;
    THREAD_STATS(X)
#undef X
    struct { 
#define X(n) uint64_t n;
        CLASS_STATS(X)
#undef X
    } cls[STATS_MAX_CLASSES];
};

#define STAT_ADD(ts, field, v)                                              \
    atomic_store_explicit(&(ts)->field,                                     \
        atomic_load_explicit(&(ts)->field, memory_order_relaxed) + (v),     \
        memory_order_relaxed)
#define STAT_INC(ts, field) STAT_ADD(ts, field, 1)
#define STAT_CLS_INC(ts, c, field) do {                                      \
        unsigned c_ = (c);                                                   \
        if (c_ < STATS_MAX_CLASSES) STAT_INC(ts, cls[c_].field);             \
    } while (0)

/* Register a thread's block (kept until stats_teardown). */
void stats_register(struct thread_stats *ts);
/* Sum every registered block into out. */
void stats_aggregate(struct stats_sum *out);
/* Zero every registered block ("stats reset"; racy by nature, as in memcached). */
void stats_reset(void);
void stats_teardown(void);

#endif
