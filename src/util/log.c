/*
 * Leveled logging to stderr; see log.h. Each message is formatted into one
 * buffer and written with a single call so lines from threads never interleave.
 */
#include "util/log.h"

#include <errno.h>
#include <execinfo.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static enum log_level max_level = LOG_LEVEL_WARN;
static int with_timestamps;

static const char *const level_names[] = {"error", "warn", "info", "debug"};

void log_init(enum log_level level, int timestamps)
{
	max_level = level;
	with_timestamps = timestamps;
}

enum log_level log_get_level(void)
{
	return max_level;
}

int log_level_parse(const char *s, enum log_level *out)
{
	for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++) {
		if (!strcmp(s, level_names[i])) {
			*out = (enum log_level)i;
			return 0;
		}
	}
	return -1;
}

static void vlog(enum log_level level, const char *errstr, const char *fmt, va_list ap)
{
	if (level > max_level)
		return;
	char line[2048];
	size_t n = 0;
	if (with_timestamps) {
		struct timespec ts;
		struct tm tm;
		clock_gettime(CLOCK_REALTIME, &ts);
		gmtime_r(&ts.tv_sec, &tm);
		n += strftime(line, sizeof(line), "%Y-%m-%dT%H:%M:%S", &tm);
		n += (size_t)snprintf(line + n, sizeof(line) - n,
				      ".%03ldZ shoal[%d] %s: ", ts.tv_nsec / 1000000, (int)getpid(),
				      level_names[level]);
	} else {
		n += (size_t)snprintf(line, sizeof(line), "shoal: ");
	}
	if (n < sizeof(line)) {
		int w = vsnprintf(line + n, sizeof(line) - n, fmt, ap);
		if (w > 0)
			n += (size_t)w;
	}
	if (errstr && n < sizeof(line))
		n += (size_t)snprintf(line + n, sizeof(line) - n, ": %s", errstr);
	if (n > sizeof(line) - 2)
		n = sizeof(line) - 2;
	line[n++] = '\n';
	ssize_t ignored = write(STDERR_FILENO, line, n);
	(void)ignored;
}

#define LOG_FN(fn, level, with_errno)                                       \
	void fn(const char *fmt, ...)                                       \
	{                                                                   \
		const char *errstr = (with_errno) ? strerror(errno) : NULL; \
		va_list ap;                                                 \
		va_start(ap, fmt);                                          \
		vlog(level, errstr, fmt, ap);                               \
		va_end(ap);                                                 \
	}

LOG_FN(log_error, LOG_LEVEL_ERROR, 0)
LOG_FN(log_warn, LOG_LEVEL_WARN, 1)
LOG_FN(log_warnx, LOG_LEVEL_WARN, 0)
LOG_FN(log_info, LOG_LEVEL_INFO, 0)
LOG_FN(log_debug, LOG_LEVEL_DEBUG, 0)

_Noreturn void fatal(const char *fmt, ...)
{
	const char *errstr = strerror(errno);
	va_list ap;
	va_start(ap, fmt);
	vlog(LOG_LEVEL_ERROR, errstr, fmt, ap);
	va_end(ap);
	exit(1);
}

_Noreturn void fatalx(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vlog(LOG_LEVEL_ERROR, NULL, fmt, ap);
	va_end(ap);
	exit(1);
}

/* ---- crash reports ---- */

#if defined(__SANITIZE_ADDRESS__)
#define SHOAL__SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SHOAL__SANITIZED 1
#endif
#endif

#ifndef SHOAL__SANITIZED
static const int crash_signals[] = {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT};

/* Async-signal-safe: write(2) and backtrace_symbols_fd() only (backtrace()
 * was called once before, so that it loads what it needs outside). */
static void on_crash(int sig)
{
	static const char head[] = "shoal: fatal: signal ";
	char num[4] = {(char)('0' + sig / 10 % 10), (char)('0' + sig % 10), '\n', 0};
	void *frames[48];
	ssize_t w = write(STDERR_FILENO, head, sizeof(head) - 1);
	w = write(STDERR_FILENO, sig >= 10 ? num : num + 1, sig >= 10 ? 3 : 2);
	(void)w;
	int n = backtrace(frames, 48);
	backtrace_symbols_fd(frames, n, STDERR_FILENO);
	/* SA_RESETHAND put the default back: die of it, core and all. */
	raise(sig);
}
#endif

void log_crash_reports(void)
{
#ifndef SHOAL__SANITIZED
	void *frame;
	backtrace(&frame, 1);
	/* A stack overflow needs a stack of its own to be reported from. */
	static char alt[64 * 1024];
	stack_t ss = {.ss_sp = alt, .ss_size = sizeof(alt)};
	sigaltstack(&ss, NULL);
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_crash;
	sa.sa_flags = SA_RESETHAND | SA_ONSTACK;
	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < sizeof(crash_signals) / sizeof(crash_signals[0]); i++)
		sigaction(crash_signals[i], &sa, NULL);
#endif
}
