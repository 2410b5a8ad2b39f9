/*
 * Change hints for a collaborative folder: an inotify watcher on a libevent
 * base. It only tells which paths may have changed; the scanner re-stats
 * them and decides. Nothing here reads file contents or metadata beyond
 * telling directories apart while it adds watches.
 *
 * watch_start() watches root and, recursively, every directory under it
 * (symbolic links are never followed; a directory named ".shoal" directly
 * under root is skipped, as is every event naming it). Each watch maps to a
 * directory node that knows its parent and its name, not its path, so a
 * renamed directory's events carry its new path at once.
 *
 * What fn is told, on the base's loop thread, as the kernel reports it (no
 * debouncing: the caller does that):
 *   WATCH_DIRTY, relpath   relpath, or something directly in it, may have
 *       changed: created, deleted, written and closed, modified, its
 *       attributes changed, or renamed from or to relpath (the old and the
 *       new name are each reported). A new directory (created, or moved in
 *       from outside the tree) is watched with every directory under it
 *       before it is reported, and it may already hold files: a DIRTY
 *       directory the scanner did not know must be scanned whole. relpath is
 *       relative to root, '/'-separated, "" for root itself.
 *   WATCH_RESCAN, ""   the whole tree must be rescanned: the kernel's queue
 *       overflowed (events were lost; the watches are rebuilt from scratch,
 *       on a new inotify instance, before fn is told), a watch could not be
 *       added, or the watcher entered the degraded state (below).
 *   WATCH_RESCAN | WATCH_ROOT_GONE, ""   root itself was deleted or moved
 *       away (or its file system unmounted). This is the last call fn gets;
 *       the caller should watch_free() the watcher.
 *
 * The watch mask is IN_CREATE, IN_DELETE, IN_CLOSE_WRITE, IN_MODIFY,
 * IN_MOVED_FROM, IN_MOVED_TO, IN_ATTRIB, IN_DELETE_SELF, IN_MOVE_SELF with
 * IN_ONLYDIR, IN_DONT_FOLLOW and IN_EXCL_UNLINK. IN_MODIFY is in it so that
 * a file written through a descriptor kept open (a log, a database) is seen
 * before it is closed; the kernel merges repeated identical events, and the
 * caller debounces.
 *
 * Degraded state: when the kernel refuses a watch for lack of room (ENOSPC:
 * the per-user limit in /proc/sys/fs/inotify/max_user_watches), one warning
 * is logged, fn gets WATCH_RESCAN (only on entering the state, not for each
 * later refusal), watch_degraded() returns 1 and the watcher goes on with
 * the watches it has: the caller then falls back to periodic scans. The
 * state ends only when a rebuild (after an overflow) gets every watch. Other
 * failures to add a watch (EACCES, ...) log a warning and report
 * WATCH_RESCAN; a directory that is gone or replaced before its watch is
 * added is skipped silently (its removal or move is reported by the events
 * that follow).
 *
 * Thread affinity: every function runs on the loop thread of the base
 * given to watch_start(), and fn is called there, from the base's loop.
 */
#ifndef SHOAL_NODE_WATCH_H
#define SHOAL_NODE_WATCH_H

#include <stddef.h>

#include <event2/event.h>

#define WATCH_DIRTY	0x1
#define WATCH_RESCAN	0x2
#define WATCH_ROOT_GONE 0x4

struct watch;

/* Told of changes; relpath is only good during the call. fn may call
 * watch_free() on its watcher: the free then happens once fn returns, and
 * fn is not called again. */
typedef void (*watch_fn)(void *arg, const char *relpath, int flags);

/*
 * Starts watching the directory root on base, telling fn(arg, ...) of
 * changes. root may be (or pass through) a symbolic link: its canonical path
 * is what is watched. Returns 0 with the watcher in *out; or a negative
 * errno (root is missing or not a directory, -EMFILE for the per-user limit
 * of inotify instances, -ENOSPC when not even root can be watched, ...)
 * with a one-line message in why (why may be NULL when why_size is 0).
 * When some directories under root cannot be watched, watch_start() still
 * succeeds: fn is not called from inside it, so the caller checks
 * watch_degraded() afterwards (its first full scan covers the rest).
 */
int watch_start(struct watch **out, struct event_base *base, const char *root, watch_fn fn,
		void *arg, char *why, size_t why_size);

/* 1 when some directory could not be watched for lack of inotify watches
 * (see the degraded state above), else 0. */
int watch_degraded(const struct watch *w);

/* How many directories are watched now (root included). */
size_t watch_count(const struct watch *w);

/*
 * Test hook, for integration tests: behaves as if the kernel had reported
 * IN_Q_OVERFLOW. The watches are rebuilt and fn gets WATCH_RESCAN, from the
 * base's loop (not from inside this call), as a real overflow would be.
 */
void watch_inject_overflow(struct watch *w);

/*
 * Test hook: from now on, every watcher in the process behaves as if the
 * kernel allowed it at most max watches (0: no limit, the default): a watch
 * beyond that fails with ENOSPC, as it would at max_user_watches. Not for
 * daemons; not thread-safe.
 */
void watch_test_limit(unsigned max);

/* Stops watching and frees w (NULL is fine); see watch_fn for a call from
 * inside fn. */
void watch_free(struct watch *w);

#endif
