/*
 * Logging with levels, on stderr. Every line starts with "shoal: " (the CLI
 * contract for errors); the daemon turns on timestamps and levels with
 * log_init(). log_warn() appends strerror(errno); the "x" variants do not.
 * fatal()/fatalx() log and exit(1); they are for start-up failures and
 * impossible states only.
 */
#ifndef SHOAL_UTIL_LOG_H
#define SHOAL_UTIL_LOG_H

enum log_level { LOG_LEVEL_ERROR, LOG_LEVEL_WARN, LOG_LEVEL_INFO, LOG_LEVEL_DEBUG };

/* Sets the most verbose level printed (default LOG_LEVEL_WARN) and whether each
 * line carries a UTC timestamp and its level. */
void log_init(enum log_level level, int timestamps);
/* Parses "error", "warn", "info" or "debug"; returns 0 or -1. */
int log_level_parse(const char *s, enum log_level *out);
enum log_level log_get_level(void);

#define SHOAL__PRINTF(a, b) __attribute__((format(printf, a, b)))
void log_error(const char *fmt, ...) SHOAL__PRINTF(1, 2);
void log_warn(const char *fmt, ...) SHOAL__PRINTF(1, 2);
void log_warnx(const char *fmt, ...) SHOAL__PRINTF(1, 2);
void log_info(const char *fmt, ...) SHOAL__PRINTF(1, 2);
void log_debug(const char *fmt, ...) SHOAL__PRINTF(1, 2);
_Noreturn void fatal(const char *fmt, ...) SHOAL__PRINTF(1, 2);
_Noreturn void fatalx(const char *fmt, ...) SHOAL__PRINTF(1, 2);

/* Makes a crash (SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT) leave a line
 * naming the signal and a backtrace on stderr before the process dies of
 * it as it would have. Not in a sanitizer build, whose own report says
 * more. For the daemon, whose stderr is its log. */
void log_crash_reports(void);

#endif
