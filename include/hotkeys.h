/*
 * hotkeys.h -- the most requested keys ("stats hotkeys"), from a sampled
 * Space-Saving sketch per worker thread.
 *
 * Hot path: every key lookup of the get family (get gets gat gats, mg,
 * binary Get/GetK/GAT/Touch) calls hotkeys_lookup().  It decrements a
 * thread-local countdown and does nothing else, so an unsampled lookup
 * writes no shared cache line.  When the countdown runs out (on average
 * one lookup in `sample`, at random gaps of 1 .. 2*sample-1 so that a
 * periodic request pattern cannot alias with the sampler) the key goes
 * into the calling thread's own sketch.
 *
 * The sketch is Space-Saving (Metwally, Agrawal, El Abbadi, "Efficient
 * computation of frequent and top-k elements in data streams", ICDT 2005):
 * `size` monitored keys, each with a count and an error; a key not
 * monitored takes the place of the one with the smallest count c and
 * starts at c + 1 with error c.  So for each monitored key
 *     count - error  <=  sampled lookups of it  <=  count,
 * and a key sampled more than (samples / size) times is always monitored.
 * Counts are kept in Space-Saving's stream summary (buckets of equal
 * count in a sorted list) and keys in an open-addressing index, so a
 * sampled update is O(1).
 *
 * Readers merge the sketches of all threads: counts add up; a key that
 * a full sketch does not monitor may have been seen there up to that
 * sketch's minimum times, which goes into its error.  Reported counts and
 * errors are scaled by `sample` (estimates of real lookups).
 *
 * Memory: a thread's sketch is allocated on its first sampled lookup:
 * hotkeys_info() reports the total.  Nothing at all when disabled.
 *
 * Thread safety: hotkeys_lookup() from any thread.  A sketch has a mutex
 * taken by its own thread on a sampled lookup only, and by readers
 * (hotkeys_top, hotkeys_reset, hotkeys_info).  Locks: reg_lock (the list
 * of sketches) -> sketch lock; both leaves otherwise.
 * hotkeys_setup() and hotkeys_teardown() run while no other thread looks
 * keys up (before the workers start, after they stopped).
 */
#ifndef MC_HOTKEYS_H
#define MC_HOTKEYS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HOTKEYS_KEY_MAX     250     /* the longest key (ITEM_KEY_MAX) */
#define HOTKEYS_TOP_DEFAULT 10      /* "stats hotkeys" without N */
#define HOTKEYS_TOP_MAX     100     /* the largest N "stats hotkeys" takes */
#define HOTKEYS_SAMPLE_MAX  1000000 /* -o hotkeys_sample */
#define HOTKEYS_SIZE_MIN    16      /* -o hotkeys_size */
#define HOTKEYS_SIZE_MAX    65536

struct hotkeys_options {
    bool     enabled;               /* -o hotkeys (on) */
    uint32_t sample;                /* sample one lookup in this many, 1.. */
    uint32_t size;                  /* keys monitored per worker thread */
};

/* One reported key. */
struct hotkey {
    uint64_t count;                 /* estimated lookups (scaled by sample) */
    uint64_t error;                 /* how far count may be off because of
                                     * the sketch (scaled; sampling adds its
                                     * own statistical error) */
    uint8_t  nkey;
    char     key[HOTKEYS_KEY_MAX];  /* raw bytes, not NUL-terminated */
};

struct hotkeys_info {
    bool     enabled;
    uint32_t sample, size;          /* as set up */
    uint64_t sampled;               /* lookups sampled since the last reset */
    uint64_t bytes;                 /* memory of all sketches */
    uint32_t sketches;              /* threads that have one */
};

/* Use these options (sample and size are clamped to their ranges).
 * Returns 0. */
int  hotkeys_setup(const struct hotkeys_options *o);
/* Free every sketch; hotkeys_lookup() is a no-op until the next setup. */
void hotkeys_teardown(void);

/* Take hotkeys_lookup()'s sample (internal; the slow path). */
void hotkeys_sample_(const char *key, size_t nkey);
extern _Thread_local int32_t hotkeys_countdown_;

/* A client asked for this key (hit or miss). */
static inline void
hotkeys_lookup(const char *key, size_t nkey)
{
    if (__builtin_expect(--hotkeys_countdown_ <= 0, 0))
        hotkeys_sample_(key, nkey);
}

/* The n (<= HOTKEYS_TOP_MAX) keys with the highest merged counts, in
 * out[0..n), highest first (equal counts: by key bytes).  Returns how
 * many were filled (fewer when fewer keys are monitored; 0 when
 * disabled).  Takes each sketch's lock in turn: a worker that samples
 * meanwhile waits for one copy of its sketch. */
size_t hotkeys_top(size_t n, struct hotkey *out);
/* Forget every count ("stats reset"). */
void hotkeys_reset(void);
void hotkeys_info(struct hotkeys_info *out);

#endif
