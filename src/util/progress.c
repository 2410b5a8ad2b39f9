/*
 * Terminal progress bar; see progress.h.
 */
#include "util/progress.h"

#include "util/clock.h"
#include "util/interrupt.h"

#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define BAR_WIDTH 30

void format_bytes(uint64_t n, char *out, unsigned size)
{
	static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
	double v = (double)n;
	unsigned u = 0;
	while (v >= 1024 && u < sizeof(units) / sizeof(units[0]) - 1) {
		v /= 1024;
		u++;
	}
	if (u == 0)
		snprintf(out, size, "%llu B", (unsigned long long)n);
	else
		snprintf(out, size, "%.1f %s", v, units[u]);
}

/* Formats a duration of seconds as "42s", "3m 07s" or "2h 05m" into out. */
static void format_duration(double seconds, char *out, unsigned size)
{
	unsigned long long s = seconds > 0 ? (unsigned long long)(seconds + 0.5) : 0;
	if (s < 60)
		snprintf(out, size, "%llus", s);
	else if (s < 3600)
		snprintf(out, size, "%llum %02llus", s / 60, s % 60);
	else
		snprintf(out, size, "%lluh %02llum", s / 3600, s / 60 % 60);
}

static void draw(struct progress *p, double now, int final)
{
	char line[192], done[32], total[32], rate[32], when[48] = "";
	unsigned filled = p->total ? (unsigned)(p->done * BAR_WIDTH / p->total) : BAR_WIDTH;
	if (filled > BAR_WIDTH)
		filled = BAR_WIDTH;
	char bar[BAR_WIDTH + 1];
	memset(bar, '#', filled);
	memset(bar + filled, '.', BAR_WIDTH - filled);
	bar[BAR_WIDTH] = 0;
	double elapsed = now - p->start;
	double speed = elapsed > 0 ? (double)p->done / elapsed : 0;
	format_bytes(p->done, done, sizeof(done));
	format_bytes(p->total, total, sizeof(total));
	format_bytes((uint64_t)speed, rate, sizeof(rate));
	unsigned pct = p->total ? (unsigned)(p->done * 100 / p->total) : 100;
	if (pct > 100)
		pct = 100;
	/* The time left at the rate so far; once finished, the time it took. */
	char span[32];
	if (final) {
		format_duration(elapsed, span, sizeof(span));
		snprintf(when, sizeof(when), "  in %s", span);
	} else if (p->total > p->done && speed > 0 && elapsed >= 0.5) {
		format_duration((double)(p->total - p->done) / speed, span, sizeof(span));
		snprintf(when, sizeof(when), "  ETA %s", span);
	}
	int n = snprintf(line, sizeof(line), "\r%-4s [%s] %3u%%  %s / %s  %s/s%s\033[K", p->label,
			 bar, pct, done, total, rate, when);
	if (n > 0) {
		ssize_t ignored = write(STDERR_FILENO, line,
					(size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1);
		(void)ignored;
	}
	p->last_draw = now;
}

void progress_start(struct progress *p, const char *label, uint64_t total, int force_off)
{
	memset(p, 0, sizeof(*p));
	p->label = label;
	p->total = total;
	p->enabled = !force_off && isatty(STDERR_FILENO);
	p->start = monotonic_seconds();
}

double progress_elapsed(const struct progress *p)
{
	return (double)(long long)((monotonic_seconds() - p->start) * 1000 + 0.5) / 1000;
}

int progress_cancelled(const struct progress *p)
{
	return interrupt_pending() || (p && p->cancel && atomic_load(p->cancel));
}

void progress_add(struct progress *p, uint64_t n)
{
	p->done += n;
	if (!p->enabled && !p->report)
		return;
	double now = monotonic_seconds();
	if (now - p->last_draw < 0.1)
		return;
	if (p->report) {
		p->last_draw = now;
		p->report(p, p->report_arg);
	} else {
		draw(p, now, 0);
	}
}

void progress_finish(struct progress *p)
{
	if (p->report) {
		p->report(p, p->report_arg);
		return;
	}
	if (!p->enabled)
		return;
	draw(p, monotonic_seconds(), 1);
	ssize_t ignored = write(STDERR_FILENO, "\n", 1);
	(void)ignored;
	p->enabled = 0;
}
