/*
 * fmt.h -- decimal formatting shared by the bench tools (mcload, nullsrv).
 */
#ifndef MC_BENCH_FMT_H
#define MC_BENCH_FMT_H

#include <stdint.h>

/* Write v in decimal at p (no terminator); returns the end. */
static inline char *u32_fmt(char *p, uint32_t v)
{
    char tmp[16];
    int n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (n)
        *p++ = tmp[--n];
    return p;
}

#endif
