/*
 * clock.h -- the coarse server clock.
 *
 * Hot paths never call time(): clock_now() reads a counter of seconds since
 * the process started, which the main thread's timer advances with
 * clock_tick() (about once a second).  rel_time_t values are such relative
 * seconds; 0 is reserved for "never" in exptimes.
 *
 * Thread safety: clock_now()/clock_exptime() from any thread (atomic loads);
 * clock_setup()/clock_tick() from the main thread.
 */
#ifndef MC_CLOCK_H
#define MC_CLOCK_H

#include <stdint.h>
#include <time.h>

typedef uint32_t rel_time_t;

/* Seconds past 30 days are absolute unix times in client exptimes. */
#define CLOCK_MAX_DELTA 2592000

/* Start the clock: process_started is set a little in the past so that
 * clock_now() starts above 0. */
void clock_setup(void);
/* Re-read the system clock and advance clock_now(). */
void clock_tick(void);
/* For tests: move the clock by delta seconds. */
void clock_advance(int32_t delta);
/* For tests: stop following the system clock, so that only
 * clock_advance() moves time (no second boundary can pass mid-test). */
void clock_freeze(void);

rel_time_t clock_now(void);
/* Unix time of rel_time_t 0. */
time_t clock_process_started(void);
/* Convert a rel_time_t to unix time, and back (0 stays 0). */
time_t clock_to_unix(rel_time_t t);
rel_time_t clock_from_unix(time_t t);

/* Client exptime -> rel_time_t following memcached: 0 = never; negative =
 * already expired; above CLOCK_MAX_DELTA an absolute unix time (in the past
 * = already expired); otherwise seconds from now.  "Already expired" is
 * returned as 1 (a time in the past), never 0. */
rel_time_t clock_exptime(int64_t exptime);

#endif
