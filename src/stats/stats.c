/*
 * stats.c -- registry and summing of per-thread counters (see stats.h).
 */
#include "stats.h"

#include <pthread.h>
#include <string.h>

#define MAX_THREADS 1024

static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
static struct thread_stats *reg[MAX_THREADS];   /* reg_lock */
static int nreg;                                /* reg_lock */

void
stats_register(struct thread_stats *ts)
{
    pthread_mutex_lock(&reg_lock);
    if (nreg < MAX_THREADS)
        reg[nreg++] = ts;
    pthread_mutex_unlock(&reg_lock);
}

void
stats_aggregate(struct stats_sum *out)
{
    memset(out, 0, sizeof(*out));
    pthread_mutex_lock(&reg_lock);
    for (int i = 0; i < nreg; i++) {
        struct thread_stats *ts = reg[i];
#define X(n) out->n += atomic_load_explicit(&ts->n, memory_order_relaxed);
        THREAD_STATS(X)
#undef X
        for (int c = 0; c < STATS_MAX_CLASSES; c++) {
#define X(n) out->cls[c].n += atomic_load_explicit(&ts->cls[c].n, memory_order_relaxed);
            CLASS_STATS(X)
#undef X
        }
    }
    pthread_mutex_unlock(&reg_lock);
}

void
stats_reset(void)
{
    pthread_mutex_lock(&reg_lock);
    for (int i = 0; i < nreg; i++) {
        struct thread_stats *ts = reg[i];
#define X(n) atomic_store_explicit(&ts->n, 0, memory_order_relaxed);
        THREAD_STATS(X)
#undef X
        for (int c = 0; c < STATS_MAX_CLASSES; c++) {
#define X(n) atomic_store_explicit(&ts->cls[c].n, 0, memory_order_relaxed);
            CLASS_STATS(X)
#undef X
        }
    }
    pthread_mutex_unlock(&reg_lock);
}

void
stats_teardown(void)
{
    pthread_mutex_lock(&reg_lock);
    nreg = 0;
    pthread_mutex_unlock(&reg_lock);
}
