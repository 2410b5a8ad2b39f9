/*
 * A folder's scan: what changed on this node's disk becomes rows of its own
 * (store/folderdb.h), and its new rows become signed batches.
 *
 * The scan first checks that the root is still the folder's: the marker
 * ROOT/.shoal/folder must hold the folder id and the root must be on the
 * device it was set up on; otherwise the folder stops (the reason is kept)
 * rather than read an emptied or unmounted directory as "everything was
 * deleted". Then it walks the tree, never following a link: an entry whose
 * kind, size, mode, mtime, ctime and inode match what folder_local recorded
 * is not read. A regular file that changed is stored (chunked and encrypted
 * under the folder's convergence secret, store/files.h; its data chunks
 * stay in the file, located there, store/located.h) and the file is
 * stat'ed again before its row is written: a file written to while it was
 * read is left for the next scan. A new path whose (device, inode) is a
 * vanished path's, with the same size and mtime, is a move: its content is
 * taken from the old row without reading (its located chunks move with it). A changed entry gets a
 * row whose vector is this node's previous one bumped, or, when its content is what another
 * member's row for the path holds, that row's vector merged in (so a file an apply wrote, or a copy
 * of the same edit, adds no conflict).
 *
 * A scan past env->deadline stops once it read a file, leaving the rest to
 * the next one (res->more), which walks again from the top and skips what
 * is recorded. Only a scan that walked everything looks for deletes:
 * entries recorded and now gone become tombstones keeping their last
 * content, unless there are more than max(FOLDERSCAN_HOLD_MIN, a quarter of
 * the entries recorded): then they are held (folder_held) and nothing is
 * deleted until `folder accept-deletes`. Names the folder never syncs:
 * ".shoal" at the top, FOLDERSCAN_TEMP_PREFIX temp files, and whatever the
 * ignored callback says.
 *
 * Thread affinity: the store's writer (it writes the store and the index).
 */
#ifndef SHOAL_STORE_FOLDERSCAN_H
#define SHOAL_STORE_FOLDERSCAN_H

#include <stdint.h>

#include "proto/folder.h"
#include "store/folderdb.h"
#include "store/store.h"

#define FOLDERSCAN_MARKER_DIR  ".shoal"
#define FOLDERSCAN_MARKER      ".shoal/folder"
#define FOLDERSCAN_TEMP_PREFIX ".shoal."
#define FOLDERSCAN_HOLD_MIN    100
#define FOLDERSCAN_DEPTH_MAX   256
/* Changed entries are committed together (store_group_begin), up to this
 * many or this long a group: the index and the objects are synced once a
 * group, not once a file. */
#define FOLDERSCAN_GROUP_WRITES	 256
#define FOLDERSCAN_GROUP_SECONDS 0.5

struct folderscan_env {
	struct store *s; /* its index is the writer's connection */
	const struct folderdb_folder *f;
	const struct folder_keys *keys;
	const uint8_t *self; /* this node's id */
	uint64_t now;	     /* Unix seconds: the vectors' clock */
	int accept_deletes;  /* release the deletes held */
	unsigned copies;     /* > 1: copies in all the files' chunks want (replicas) */
	/* > 0: once this monotonic time is past and a file was read, the walk
	 * stops (res->more), and the deletes wait for a scan that ends: the
	 * rows so far are sealed and sent while the next scan goes on. */
	double deadline;
	/* 1 when path (relative, '/'-separated) is to be left out; may be NULL. */
	int (*ignored)(void *arg, const char *path, int is_dir);
	void *ignored_arg;
};

struct folderscan_result {
	uint64_t entries; /* entries on disk looked at */
	uint64_t stored;  /* files read and stored */
	uint64_t moved;	  /* files found moved: not read */
	uint64_t changed; /* rows written (stored, moved, dirs, links, modes) */
	uint64_t deleted; /* tombstones written */
	uint64_t held;	  /* deletes held by the breaker */
	uint64_t retry;	  /* files changing while read: left for the next scan */
	uint64_t full;	  /* changes not recorded: their vector has no room for us */
	int more;	  /* stopped at the deadline: scan again */
	char stopped[FOLDER_STOPPED_MAX + 1]; /* set: the folder must stop, why */
};

/* Writes the marker into root (made 0700 with its directory). 0 or -errno. */
int folderscan_marker_write(const char *root, const uint8_t id[FOLDER_ID_LEN]);
/* 0 when root holds the marker of id and is on device dev (dev 0: any), or
 * a reason in why and -1. */
int folderscan_marker_check(const char *root, const uint8_t id[FOLDER_ID_LEN], uint64_t dev,
			    char *why, size_t why_size);

/* One scan of env->f (see above). Returns 0 (the folder may have to stop:
 * res->stopped) or an error of the store or the index. */
int folderscan_run(const struct folderscan_env *env, struct folderscan_result *res);

/* The content id of a file's manifest: SHA-256 of "shoal folder content
 * v1", its size and the ids of its top-level chunk refs (data chunks or
 * ChunkLists). Equal contents under one convergence secret give equal ids. */
void folderscan_content_id(const struct manifest *m, uint8_t out[SHA256_LEN]);

/* Writes this node's rows newer than its last batch as signed batches
 * (proto/folder.h) into folder_batches and advances folder_authors for self.
 * key and cert (DER) are the node's; flags (FOLDER_BATCH_*) go into every
 * batch made. *made counts the batches. */
int folderscan_seal(struct index *ix, const struct folderdb_folder *f, const uint8_t *self,
		    EVP_PKEY *key, const uint8_t *cert, size_t cert_len, uint32_t flags,
		    unsigned *made);

#endif
