/*
 * A progress bar for long transfers, drawn on stderr only when stderr is a
 * terminal (scripts and logs never see it). Redraws at most ten times a second.
 */
#ifndef SHOAL_UTIL_PROGRESS_H
#define SHOAL_UTIL_PROGRESS_H

#include <stdatomic.h>
#include <stdint.h>

struct progress {
	const char *label;
	uint64_t total;
	uint64_t done;
	double start;
	double last_draw;
	int enabled;
	/* Optional: called (at most ten times a second, and at the end) instead
	 * of drawing, e.g. to forward progress to a remote CLI. */
	void (*report)(struct progress *p, void *arg);
	void *report_arg;
	/* Optional: long operations stop with -EINTR once *cancel is non-zero
	 * (set from another thread). */
	const atomic_int *cancel;
};

/* Starts a bar labelled label (borrowed) for total bytes. force_off disables
 * it even on a terminal. */
void progress_start(struct progress *p, const char *label, uint64_t total, int force_off);
/* Adds n bytes done and redraws if due. */
void progress_add(struct progress *p, uint64_t n);
/* Draws the final state and ends the line (no-op when disabled). */
void progress_finish(struct progress *p);

/* Seconds since p started, rounded to milliseconds. */
double progress_elapsed(const struct progress *p);

/* Returns non-zero when the operation should stop: the user interrupted the
 * process, or p's cancel flag is set. p may be NULL. */
int progress_cancelled(const struct progress *p);

/* Formats n bytes as "12.3 MiB" into out. */
void format_bytes(uint64_t n, char *out, unsigned size);

#endif
