/*
 * A name's versions beyond the index's rows: which versions a retention
 * policy keeps (restic's `forget --keep-*` rules), pruning the others, and
 * what a put under an existing name did to its versions. Removing versions
 * releases, like removing a name, the chunks nothing kept needs any more:
 * refs go, and the copies placed on other nodes move to the unpins outbox
 * (a chunk another version or name still needs stays, with its copies).
 *
 * Thread affinity: none of its own; the store functions run where the
 * store's writer does (the daemon's operations queue, or the offline CLI).
 */
#ifndef SHOAL_STORE_VERSIONS_H
#define SHOAL_STORE_VERSIONS_H

#include <stddef.h>
#include <stdint.h>

#include "proto/capability.h"
#include "store/store.h"

/* How many versions each rule keeps; 0 turns a rule off. */
struct retention {
	unsigned last;	  /* the newest N */
	unsigned daily;	  /* the newest of each of the last N days that have versions */
	unsigned weekly;  /* ... of the last N ISO weeks */
	unsigned monthly; /* ... of the last N months */
};

/* Whether any rule is on (none: keep everything). */
int retention_set(const struct retention *r);

/*
 * Which of n versions r keeps: created[0..n) are their times (Unix seconds),
 * newest first. keep[i] is set to 1 for each version some rule keeps, else
 * 0. Days, weeks (ISO 8601) and months are of the local time. The newest
 * version is always kept, and with no rule on every version is.
 */
void retention_select(const int64_t *created, size_t n, const struct retention *r, uint8_t *keep);

/* One version as a prune saw it: kept or (dry_run: would be) removed. */
typedef int (*versions_prune_fn)(const struct index_name *v, int kept, void *arg);

/*
 * Applies r to the versions of name (NULL: of every name), calling fn (may be
 * NULL) for each version, newest first; unless dry_run, removes the versions
 * no rule keeps and releases what only they needed. *removed (may be NULL)
 * gets how many versions went (or would go). With no rule on, nothing is
 * removed. Returns 0, SHOAL_ENOTFOUND (no such name), fn's non-zero return,
 * or an index error (nothing removed).
 */
int versions_prune(struct store *s, const char *name, const struct retention *r, int dry_run,
		   versions_prune_fn fn, void *arg, uint64_t *removed);

/*
 * After a put under name that stored cap, where before is what name was
 * before the put (NULL when it did not exist): writes into note (size
 * bytes) a line for the user when the put added no version (the content
 * was the newest version's), else prunes name's versions by r (may be NULL
 * or have no rule on) and says how many went, or "". 0 or an error of
 * versions_prune().
 */
int versions_after_put(struct store *s, const char *name, const struct index_name *before,
		       const struct capability *cap, const struct retention *r, char *note,
		       size_t size);

#endif
