/*
 * Clocks: the one monotonic clock every timer, deadline and rate limit reads.
 */
#ifndef SHOAL_UTIL_CLOCK_H
#define SHOAL_UTIL_CLOCK_H

/* Seconds on the monotonic clock (CLOCK_MONOTONIC); any thread. */
double monotonic_seconds(void);

#endif
