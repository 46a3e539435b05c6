/*
 * snapshot.h -- persistence: write every live item to a file and load it
 * back at start (format, guarantees and failure handling: doc/snapshot.md).
 *
 * Writing walks the cache with item_walk() while workers keep serving
 * (no fork, no global lock); the file is written as <path>.tmp.<pid>,
 * fsync'ed and renamed over <path>, so a crash at any moment leaves the
 * previous complete snapshot.  Loading verifies every checksum of the
 * whole file, and every field of every record, before inserting a single
 * item: a checksum proves the file is intact, not that it is honest, so a
 * value this server could not have written (a CAS of 2^63 or more, a key
 * with a space, a negative time...) makes the file damaged, and values
 * that depend on the clock (past expiries: skipped; expiries later than a
 * client could set: clamped) are fixed up at load (doc/snapshot.md).
 *
 * Lifecycle (daemon, main thread):
 *   snapshot_setup(opts)      after item_setup()
 *   snapshot_load_at_start()  before listeners accept
 *   snapshot_start()          periodic thread (if interval > 0)
 *   ...                       snapshot_request() from workers ("snapshot")
 *   snapshot_shutdown()       after workers stopped: final snapshot
 *   snapshot_teardown()
 * Thread safety: snapshot_request/snapshot_stats/snapshot_configure from
 * any thread; one snapshot runs at a time (a concurrent request gets
 * "snapshot in progress").
 */
#ifndef MC_SNAPSHOT_H
#define MC_SNAPSHOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct obuf;

struct snapshot_options {
    const char *path;               /* NULL = persistence off */
    int      interval;              /* secs between snapshots; 0 = none */
    bool     on_shutdown;           /* write one at graceful shutdown */
    bool     load;                  /* load at start */
    bool     refuse_corrupt;        /* damaged file: refuse to start */
    /* recorded in the header (informational; loading re-slabs items) */
    uint64_t mem_limit;             /* -m, bytes */
    uint32_t item_size_max;         /* -I */
    uint32_t chunk_min;             /* -n */
    double   factor;                /* -f */
    bool     use_cas;               /* !-C */
};

enum snapshot_status {
    SNAP_OK = 0,
    SNAP_ENOENT,                    /* no file to load */
    SNAP_EIO,                       /* open/read/write/fsync/rename failed */
    SNAP_ECORRUPT,                  /* bad magic, version, checksum, length,
                                     * or a field out of range */
    SNAP_EBUSY,                     /* another snapshot is running */
    SNAP_ENOMEM,
};

/* Result of one write or load (also what "stats snapshot" reports). */
struct snapshot_result {
    uint64_t items;                 /* written / loaded */
    uint64_t bytes;                 /* file bytes written / read */
    uint64_t skipped_expired;       /* load: expired while down */
    uint64_t skipped_nomem;         /* load: did not fit (-M, -I) */
    uint64_t bad_offset;            /* ECORRUPT: byte offset of the damage */
    uint64_t max_cas;               /* load: largest CAS loaded (< 2^63) */
    uint64_t clamped_exptime;       /* load: expiries past what a client can
                                     * set (see exptime limits), clamped */
    uint64_t fresh_cas;             /* load: records without a CAS given a
                                     * new one above the file's largest */
    double   write_secs;            /* write: walking + writing (page cache) */
    double   sync_secs;             /* write: fsync + rename + dir fsync */
    char     err[256];              /* message for a failure */
};

/* Remember the options (path is copied).  0, or -1 with err. */
int  snapshot_setup(const struct snapshot_options *o, char *err, size_t errlen);
/* Load <path> if configured.  A missing file is fine.  A damaged file is
 * logged (file + byte offset) and renamed to <path>.corrupt-<unixtime>;
 * with refuse_corrupt this returns -1 (err filled) and the daemon exits. */
int  snapshot_load_at_start(char *err, size_t errlen);
/* Start the periodic thread (no-op if persistence is off). 0 or -1. */
int  snapshot_start(char *err, size_t errlen);
/* Runtime settings (SIGHUP reload). */
void snapshot_configure(int interval, bool on_shutdown);
/* "snapshot" command: write one now and wait.  NULL on success, else a
 * message valid until the calling thread's next call. */
const char *snapshot_request(void);
/* "stats snapshot" lines (the caller appends END). */
void snapshot_stats(struct obuf *o);
/* Stop the periodic thread (waiting for a running snapshot) and write
 * the shutdown snapshot if configured.  Call after workers stopped. */
void snapshot_shutdown(void);
void snapshot_teardown(void);
/* Item count from the end record of path (checksummed), 0 if unknown:
 * lets the daemon size the hash table before item_setup(), so a big load
 * does not run against a table that is still growing.  Only the end
 * record is read (the rest is verified later), so the count is capped by
 * what the file has room for (41 bytes a record at least). */
uint64_t snapshot_peek_items(const char *path);
/* The same, also capped by what mem_limit bytes of item memory can hold
 * (no item takes less than 32 bytes): a crafted or foreign file cannot
 * make the daemon allocate a hash table larger than its cache needs. */
uint64_t snapshot_peek_items_max(const char *path, uint64_t mem_limit);

/* --- the file format itself (also used by the unit tests) --- */

/* Write all live items to path (via path.tmp.<pid> + durable rename). */
enum snapshot_status snapshot_write(const char *path,
                                    const struct snapshot_options *o,
                                    struct snapshot_result *r);
/* Verify all of path, then restore its items through item_restore(). */
enum snapshot_status snapshot_read(const char *path, struct snapshot_result *r);
/* Recompute every checksum of path in place (header, blocks, end record,
 * whose counts come from the block headers), trusting its lengths.  For
 * tests: edit a snapshot's bytes, reseal it, and the loader sees a file
 * with valid checksums whose fields must still be validated.  Never used
 * by the daemon. */
enum snapshot_status snapshot_reseal(const char *path, struct snapshot_result *r);

#endif
