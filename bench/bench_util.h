/* What the benchmark programs share: a monotonic clock in seconds. */
#ifndef NETSMITH_BENCH_UTIL_H
#define NETSMITH_BENCH_UTIL_H

#include <time.h>

static inline double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

#endif
