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

static void draw(struct progress *p, double now)
{
	char line[160], done[32], total[32], rate[32];
	unsigned filled = p->total ? (unsigned)(p->done * BAR_WIDTH / p->total) : BAR_WIDTH;
	if (filled > BAR_WIDTH)
		filled = BAR_WIDTH;
	char bar[BAR_WIDTH + 1];
	memset(bar, '#', filled);
	memset(bar + filled, '.', BAR_WIDTH - filled);
	bar[BAR_WIDTH] = 0;
	double elapsed = now - p->start;
	format_bytes(p->done, done, sizeof(done));
	format_bytes(p->total, total, sizeof(total));
	format_bytes(elapsed > 0 ? (uint64_t)((double)p->done / elapsed) : 0, rate, sizeof(rate));
	unsigned pct = p->total ? (unsigned)(p->done * 100 / p->total) : 100;
	int n = snprintf(line, sizeof(line), "\r%-4s [%s] %3u%%  %s / %s  %s/s\033[K", p->label,
			 bar, pct, done, total, rate);
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
		draw(p, now);
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
	draw(p, monotonic_seconds());
	ssize_t ignored = write(STDERR_FILENO, "\n", 1);
	(void)ignored;
	p->enabled = 0;
}
