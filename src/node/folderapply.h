/*
 * Applying other members' rows of a folder to this node's disk.
 *
 * For each path waiting (folder_pending), every member's row for it is
 * weighed against this node's own with folder_decide() (proto/folder.h):
 * the winner is what the path must hold, and a conflict's loser is kept
 * beside it under folder_conflict_name() (not for a tombstone, nor for a
 * conflict copy, nor past FOLDERAPPLY_COPIES_MAX copies of one file). The
 * vectors of every row weighed are merged into the row this node then
 * writes, so members resolving the same rows write the same row.
 *
 * Writing a file: its chunks are fetched (node/fetch.h) from any member
 * holding them and verified, the file is restored (store/files.h) into
 * ".shoal.<name>.tmp" beside the target and synced; the target is stat'ed
 * against what the last scan recorded (folder_local): if it changed, the
 * apply of that path is abandoned and a scan is asked for, so a local edit
 * is never overwritten unseen. The temp file then replaces the target with
 * renameat2(RENAME_EXCHANGE) where the file system has it; the file
 * swapped out is checked once more (changed in that window, it is kept as a
 * conflict copy instead of being removed). Then the directory is synced,
 * and only then the index committed: this node's row, folder_local, and
 * what keeps the chunks. A kill at any step leaves either the old file with
 * the old index, or the new file with the old index, which the next scan
 * takes for the same content as the winning row and adopts (folderscan.h);
 * no step loses a local change.
 *
 * A moved file is not written anew: when a local file waiting to be
 * deleted, unchanged since the scan, holds the content a path wants (the
 * other half of a rename), it is renamed to the temp instead of being
 * fetched and restored; and a delete first applies a path waiting for its
 * content, so a rename is applied as a move whatever pass its halves are in.
 *
 * Order in one pass: directories, then files and links, then deletes
 * (deepest first); a directory with something left in it is not removed.
 * A delete held by the breaker (folder_held) is not applied.
 * The tree keeps the chunks: a file written is recorded as holding its
 * chunks (store/located.h), whose objects are deleted once the pass is
 * committed; before a file is replaced or deleted, the content it holds
 * is written to objects/ (store_keep_located()), so a tombstone's last
 * content and an overwritten version stay restorable.
 *
 * Thread affinity: the store's writer.
 */
#ifndef SHOAL_NODE_FOLDERAPPLY_H
#define SHOAL_NODE_FOLDERAPPLY_H

#include <stdatomic.h>
#include <stdint.h>

#include "crypto/identity.h"
#include "proto/folder.h"
#include "store/folderdb.h"
#include "store/store.h"

#define FOLDERAPPLY_PATHS      256 /* paths weighed in one pass */
#define FOLDERAPPLY_COPIES_MAX 10  /* conflict copies kept of one file */
#define FOLDERAPPLY_TMP_PREFIX ".shoal."
/* Paths applied are committed together (store_group_begin), up to this
 * many or this long a group; a file bigger than STORE_GROUP_FILE_MAX is
 * fetched outside any group. */
#define FOLDERAPPLY_GROUP_WRITES  256
#define FOLDERAPPLY_GROUP_SECONDS 0.5

struct remote;

struct folderapply_env {
	struct store *s; /* its index is the writer's connection */
	struct remote *remote;
	const struct folderdb_folder *f;
	const uint8_t *self;
	const uint8_t (*peers)[NODE_ID_LEN]; /* members up, to fetch from */
	size_t npeers;
	uint64_t now;		  /* Unix seconds */
	unsigned copies;	  /* > 1: copies in all the chunks fetched want */
	const atomic_int *cancel; /* set: stop between paths (may be NULL) */
	/* the chunks fetched, added to as they come (status reads it while
	 * the pass runs); may be NULL */
	atomic_uint_least64_t *fetched;
	/* 1 when path is one this node leaves out (its ignore rules): never
	 * written here; may be NULL. */
	int (*ignored)(void *arg, const char *path, int is_dir);
	void *ignored_arg;
};

struct folderapply_result {
	uint64_t weighed;   /* paths looked at */
	uint64_t written;   /* files, links and directories written */
	uint64_t removed;   /* entries deleted */
	uint64_t conflicts; /* conflict copies made */
	uint64_t merged;    /* rows merged without a change on disk */
	uint64_t moved;	    /* files taken over from a path being deleted */
	uint64_t fetched;   /* chunks fetched from other nodes */
	uint64_t chunks;    /* chunks the files written have */
	uint64_t deferred;  /* paths left waiting: changed here, or a fetch failed */
	int rescan;	    /* something changed on disk under the apply: scan */
	int more;	    /* paths still waiting after this pass */
	char why[256];	    /* the last failure, for status */
};

/* One pass over the paths waiting (at most FOLDERAPPLY_PATHS). 0, or an
 * error of the index (a path that cannot be applied is counted in
 * deferred, its reason kept for status). */
int folderapply_run(const struct folderapply_env *env, struct folderapply_result *res);

/* The temp name beside name while it is written (out: NAME_MAX + 1). */
void folderapply_tmp_name(const char *name, char *out, size_t size);

#endif
