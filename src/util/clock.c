/*
 * clock.c -- coarse server clock (see clock.h).
 */
#include "clock.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <sys/time.h>

static _Atomic rel_time_t current_time;   /* secs since process_started */
static _Atomic int32_t    skew;           /* test adjustment, secs */
static time_t             process_started;/* unix time of rel 0; set once */
static _Atomic bool       frozen;         /* tests: only clock_advance moves it */

void
clock_setup(void)
{
    /* Start two seconds in so "already expired" (1) is in the past. */
    process_started = time(NULL) - 2;
    atomic_store(&skew, 0);
    atomic_store(&frozen, false);
    clock_tick();
}

void
clock_tick(void)
{
    if (atomic_load(&frozen))
        return;
    struct timeval tv;
    gettimeofday(&tv, NULL);
    int64_t rel = (int64_t)tv.tv_sec - process_started + atomic_load(&skew);
    if (rel < 2)
        rel = 2;
    atomic_store_explicit(&current_time, (rel_time_t)rel, memory_order_relaxed);
}

void
clock_advance(int32_t delta)
{
    atomic_fetch_add(&skew, delta);
    if (atomic_load(&frozen))
        atomic_fetch_add(&current_time, (rel_time_t)delta);
    else
        clock_tick();
}

void
clock_freeze(void)
{
    atomic_store(&frozen, true);
}

rel_time_t
clock_now(void)
{
    return atomic_load_explicit(&current_time, memory_order_relaxed);
}

time_t
clock_process_started(void)
{
    return process_started;
}

time_t
clock_to_unix(rel_time_t t)
{
    return t == 0 ? 0 : process_started + (time_t)t;
}

rel_time_t
clock_from_unix(time_t t)
{
    if (t == 0)
        return 0;
    int64_t rel = (int64_t)t - process_started;
    return rel < 1 ? 1 : (rel_time_t)rel;
}

rel_time_t
clock_exptime(int64_t exptime)
{
    if (exptime == 0)
        return 0;
    if (exptime < 0)
        return 1;
    if (exptime > CLOCK_MAX_DELTA) {
        if (exptime <= (int64_t)process_started)
            return 1;
        return clock_from_unix((time_t)exptime);
    }
    return clock_now() + (rel_time_t)exptime;
}
