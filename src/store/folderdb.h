/*
 * Collaborative folders' tables in the node's index (index.h): every
 * update is a statement of the caller's transaction, so a folder's rows, its
 * local state and the store's chunks change together or not at all.
 *
 *   folders         one per folder this node is a member of: its secret,
 *                   root, device, state, this node's index id and the last
 *                   sequence number it gave a row of its own
 *   folder_rows     (folder, device, path) -> a row (proto/folder.h); the
 *                   device is the member the row is of, this node's own rows
 *                   being what its disk holds. A live row's manifest keeps
 *                   its chunks from garbage collection
 *   folder_local    (folder, path) -> what the scanner last saw there, and
 *                   what an apply last wrote: kind, device, inode, size,
 *                   mode, mtime, ctime, content
 *   folder_authors  (folder, author) -> the author's index id, the last
 *                   sequence number held and the hash of its last batch
 *   folder_batches  (folder, author, first seq) -> the signed batch as it
 *                   came (or was made), for passing on and for the log
 *   folder_pending  (folder, path): another member's row for path came in
 *                   and has not been looked at yet
 *   folder_held     (folder, path, origin): a delete held by the breaker
 *                   (origin: this node's id for a local delete, else the
 *                   author of the incoming tombstone)
 *   folder_kept     (folder, manifest) -> until when (Unix seconds) a
 *                   content no live row names any more is kept: a
 *                   tombstone's last content, or a version overwritten,
 *                   for FOLDERDB_KEEP_SECONDS after it stopped being live
 */
#ifndef SHOAL_STORE_FOLDERDB_H
#define SHOAL_STORE_FOLDERDB_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/folder.h"
#include "store/index.h"

/* The tables, made by the index's schema (index.c). */
#define FOLDERDB_SCHEMA                                                                            \
	"CREATE TABLE IF NOT EXISTS folders("                                                      \
	" id BLOB PRIMARY KEY, secret BLOB NOT NULL, label TEXT NOT NULL,"                         \
	" root TEXT NOT NULL UNIQUE, dev INTEGER NOT NULL, paused INTEGER NOT NULL DEFAULT 0,"     \
	" stopped TEXT NOT NULL DEFAULT '', index_id INTEGER NOT NULL,"                            \
	" seq INTEGER NOT NULL DEFAULT 0, created INTEGER NOT NULL,"                               \
	" replicas INTEGER NOT NULL DEFAULT 0) WITHOUT ROWID;"                                     \
	"CREATE TABLE IF NOT EXISTS folder_rows("                                                  \
	" folder BLOB NOT NULL, device BLOB NOT NULL, path TEXT NOT NULL, seq INTEGER NOT NULL,"   \
	" vv BLOB NOT NULL, kind INTEGER NOT NULL, modified_by INTEGER NOT NULL,"                  \
	" content_id BLOB, manifest BLOB, key BLOB, size INTEGER NOT NULL, mode INTEGER NOT NULL," \
	" mtime_ns INTEGER NOT NULL, deleted INTEGER NOT NULL, prev_content_id BLOB,"              \
	" target TEXT NOT NULL DEFAULT '', PRIMARY KEY(folder, device, path)) WITHOUT ROWID;"      \
	"CREATE INDEX IF NOT EXISTS folder_rows_by_seq ON folder_rows(folder, device, seq);"       \
	"CREATE INDEX IF NOT EXISTS folder_rows_by_path ON folder_rows(folder, path);"             \
	"CREATE INDEX IF NOT EXISTS folder_rows_by_manifest ON folder_rows(manifest);"             \
	"CREATE INDEX IF NOT EXISTS folder_rows_by_content ON folder_rows(folder, content_id);"    \
	"CREATE TABLE IF NOT EXISTS folder_local("                                                 \
	" folder BLOB NOT NULL, path TEXT NOT NULL, kind INTEGER NOT NULL, dev INTEGER NOT NULL,"  \
	" ino INTEGER NOT NULL, size INTEGER NOT NULL, mode INTEGER NOT NULL,"                     \
	" mtime_ns INTEGER NOT NULL, ctime_ns INTEGER NOT NULL, content_id BLOB,"                  \
	" PRIMARY KEY(folder, path)) WITHOUT ROWID;"                                               \
	"CREATE INDEX IF NOT EXISTS folder_local_by_inode ON folder_local(folder, dev, ino);"      \
	"CREATE INDEX IF NOT EXISTS folder_local_by_content ON folder_local(folder, content_id);"  \
	"CREATE TABLE IF NOT EXISTS folder_authors("                                               \
	" folder BLOB NOT NULL, author BLOB NOT NULL, index_id INTEGER NOT NULL,"                  \
	" seq INTEGER NOT NULL, hash BLOB NOT NULL, PRIMARY KEY(folder, author)) WITHOUT ROWID;"   \
	"CREATE TABLE IF NOT EXISTS folder_batches("                                               \
	" folder BLOB NOT NULL, author BLOB NOT NULL, first_seq INTEGER NOT NULL,"                 \
	" last_seq INTEGER NOT NULL, time INTEGER NOT NULL, data BLOB NOT NULL,"                   \
	" PRIMARY KEY(folder, author, first_seq)) WITHOUT ROWID;"                                  \
	"CREATE TABLE IF NOT EXISTS folder_pending("                                               \
	" folder BLOB NOT NULL, path TEXT NOT NULL, why TEXT NOT NULL DEFAULT '',"                 \
	" PRIMARY KEY(folder, path)) WITHOUT ROWID;"                                               \
	"CREATE TABLE IF NOT EXISTS folder_held("                                                  \
	" folder BLOB NOT NULL, path TEXT NOT NULL, origin BLOB NOT NULL,"                         \
	" PRIMARY KEY(folder, path, origin)) WITHOUT ROWID;"                                       \
	"CREATE TABLE IF NOT EXISTS folder_kept("                                                  \
	" folder BLOB NOT NULL, manifest BLOB NOT NULL, until INTEGER NOT NULL,"                   \
	" PRIMARY KEY(folder, manifest)) WITHOUT ROWID;"

/* How long a content stays restorable once no live row names it (a file
 * deleted or overwritten): 30 days. */
#define FOLDERDB_KEEP_SECONDS (30 * 24 * 3600)

#define FOLDER_STOPPED_MAX 255

/* One folder of this node. */
struct folderdb_folder {
	struct folder_invite invite; /* id, secret, label */
	char root[PATH_MAX];	     /* absolute, as created or joined */
	uint64_t dev;		     /* st_dev of the root when it was set up */
	int paused;
	char stopped[FOLDER_STOPPED_MAX + 1]; /* why the folder stopped, or "" */
	uint64_t index_id;		      /* this node's index id for the folder */
	uint64_t seq;			      /* the last sequence number of a row of its own */
	int64_t created;		      /* Unix seconds */
	unsigned replicas;		      /* copies kept on storage nodes (0: none) */
};

/* Adds f. SHOAL_EEXIST when its id or root is taken already. */
int folderdb_add(struct index *ix, const struct folderdb_folder *f);
/* Fills out for id: 0 or SHOAL_ENOTFOUND. */
int folderdb_get(struct index *ix, const uint8_t id[FOLDER_ID_LEN], struct folderdb_folder *out);
/* Calls fn for every folder (by root) until it returns non-zero (returned). */
typedef int (*folderdb_folder_fn)(const struct folderdb_folder *f, void *arg);
int folderdb_foreach(struct index *ix, folderdb_folder_fn fn, void *arg);
/* Sets paused and stopped (NULL: leaves it). 0 or SHOAL_ENOTFOUND. */
int folderdb_set_state(struct index *ix, const uint8_t id[FOLDER_ID_LEN], int paused,
		       const char *stopped);
/* Removes the folder and every row, state, batch, hold and kept content
 * of it. */
int folderdb_remove(struct index *ix, const uint8_t id[FOLDER_ID_LEN]);
/* Gives out the folder's next sequence number (stored at once). */
int folderdb_next_seq(struct index *ix, const uint8_t id[FOLDER_ID_LEN], uint64_t *seq);

/* ---- rows ---- */

/* device's row for path: 0 with *out filled, or SHOAL_ENOTFOUND. */
int folderdb_row_get(struct index *ix, const uint8_t id[FOLDER_ID_LEN],
		     const uint8_t device[NODE_ID_LEN], const char *path, struct folder_entry *out);
/* Sets device's row for e->path to e (replacing). */
int folderdb_row_put(struct index *ix, const uint8_t id[FOLDER_ID_LEN],
		     const uint8_t device[NODE_ID_LEN], const struct folder_entry *e);
/* Drops every row of device (an author whose index id changed). */
int folderdb_rows_drop(struct index *ix, const uint8_t id[FOLDER_ID_LEN],
		       const uint8_t device[NODE_ID_LEN]);
/* Calls fn for each row of path (every device's) until it returns non-zero. */
typedef int (*folderdb_row_fn)(const uint8_t device[NODE_ID_LEN], const struct folder_entry *e,
			       void *arg);
int folderdb_rows_of_path(struct index *ix, const uint8_t id[FOLDER_ID_LEN], const char *path,
			  folderdb_row_fn fn, void *arg);
/* device's rows with seq > after, at most max, by seq. */
int folderdb_rows_since(struct index *ix, const uint8_t id[FOLDER_ID_LEN],
			const uint8_t device[NODE_ID_LEN], uint64_t after, size_t max,
			folderdb_row_fn fn, void *arg);
/* device's rows (NULL: every device's), by path. */
int folderdb_rows_foreach(struct index *ix, const uint8_t id[FOLDER_ID_LEN], const uint8_t *device,
			  folderdb_row_fn fn, void *arg);
/* device's live rows whose path starts with prefix: how many. */
int folderdb_rows_prefix_count(struct index *ix, const uint8_t id[FOLDER_ID_LEN],
			       const uint8_t device[NODE_ID_LEN], const char *prefix,
			       uint64_t *count);
/* Rows of any device, live, whose content is content_id (by device, path). */
int folderdb_rows_by_content(struct index *ix, const uint8_t id[FOLDER_ID_LEN],
			     const uint8_t content_id[SHA256_LEN], folderdb_row_fn fn, void *arg);

/* ---- what this node saw on its disk ---- */

struct folderdb_local {
	char path[FOLDER_PATH_MAX + 1];
	enum folder_kind kind;
	uint64_t dev, ino, size;
	uint32_t mode;
	int64_t mtime_ns, ctime_ns;
	int has_content;
	uint8_t content_id[SHA256_LEN];
};
int folderdb_local_get(struct index *ix, const uint8_t id[FOLDER_ID_LEN], const char *path,
		       struct folderdb_local *out);
int folderdb_local_put(struct index *ix, const uint8_t id[FOLDER_ID_LEN],
		       const struct folderdb_local *l);
int folderdb_local_remove(struct index *ix, const uint8_t id[FOLDER_ID_LEN], const char *path);
/* An entry recorded with (dev, ino) at another path than except (NULL:
 * any), if any: 0 or SHOAL_ENOTFOUND. */
int folderdb_local_by_inode(struct index *ix, const uint8_t id[FOLDER_ID_LEN], uint64_t dev,
			    uint64_t ino, const char *except, struct folderdb_local *out);
typedef int (*folderdb_local_fn)(const struct folderdb_local *l, void *arg);
/* Files recorded with content_id at another path than except that wait to
 * be applied (in folder_pending), in path order, until fn returns non-zero
 * (returned). */
int folderdb_local_pending_with(struct index *ix, const uint8_t id[FOLDER_ID_LEN],
				const uint8_t content_id[SHA256_LEN], const char *except,
				folderdb_local_fn fn, void *arg);
/* Every entry, by path. */
int folderdb_local_foreach(struct index *ix, const uint8_t id[FOLDER_ID_LEN], folderdb_local_fn fn,
			   void *arg);
/* Entries recorded: files and all. */
int folderdb_local_count(struct index *ix, const uint8_t id[FOLDER_ID_LEN], uint64_t *count);

/* ---- authors and their batches ---- */

struct folderdb_author {
	uint8_t author[NODE_ID_LEN];
	uint64_t index_id;
	uint64_t seq; /* the last sequence number held */
	uint8_t hash[SHA256_LEN];
};
/* 0 with *out filled, or SHOAL_ENOTFOUND. */
int folderdb_author_get(struct index *ix, const uint8_t id[FOLDER_ID_LEN],
			const uint8_t author[NODE_ID_LEN], struct folderdb_author *out);
int folderdb_author_set(struct index *ix, const uint8_t id[FOLDER_ID_LEN],
			const struct folderdb_author *a);
typedef int (*folderdb_author_fn)(const struct folderdb_author *a, void *arg);
int folderdb_authors_foreach(struct index *ix, const uint8_t id[FOLDER_ID_LEN],
			     folderdb_author_fn fn, void *arg);
/* Keeps a batch (data: the packed FolderBatch). */
int folderdb_batch_add(struct index *ix, const uint8_t id[FOLDER_ID_LEN],
		       const uint8_t author[NODE_ID_LEN], uint64_t first_seq, uint64_t last_seq,
		       int64_t time_us, const uint8_t *data, size_t len);
/* author's batches whose last_seq > after, by seq, until fn returns non-zero. */
typedef int (*folderdb_batch_fn)(uint64_t first_seq, uint64_t last_seq, int64_t time_us,
				 const uint8_t *data, size_t len, void *arg);
int folderdb_batches_after(struct index *ix, const uint8_t id[FOLDER_ID_LEN],
			   const uint8_t author[NODE_ID_LEN], uint64_t after, folderdb_batch_fn fn,
			   void *arg);
/* Drops author's batches (its index id changed). */
int folderdb_batches_drop(struct index *ix, const uint8_t id[FOLDER_ID_LEN],
			  const uint8_t author[NODE_ID_LEN]);

/* ---- paths to look at, deletes held ---- */

int folderdb_pending_add(struct index *ix, const uint8_t id[FOLDER_ID_LEN], const char *path);
int folderdb_pending_remove(struct index *ix, const uint8_t id[FOLDER_ID_LEN], const char *path);
/* Notes why path is still waiting (for status). */
int folderdb_pending_note(struct index *ix, const uint8_t id[FOLDER_ID_LEN], const char *path,
			  const char *why);
/* Up to max pending paths, by path, until fn returns non-zero. origin is
 * NULL for a pending path, why "" for a hold. */
typedef int (*folderdb_path_fn)(const char *path, const uint8_t *origin, const char *why,
				void *arg);
int folderdb_pending_foreach(struct index *ix, const uint8_t id[FOLDER_ID_LEN], size_t max,
			     folderdb_path_fn fn, void *arg);
/* A path other than except, waiting to be applied, that some member's live
 * file row gives content_id (out: FOLDER_PATH_MAX + 1): 0 or
 * SHOAL_ENOTFOUND. */
int folderdb_pending_wanting(struct index *ix, const uint8_t id[FOLDER_ID_LEN],
			     const uint8_t content_id[SHA256_LEN], const char *except, char *out);
int folderdb_pending_count(struct index *ix, const uint8_t id[FOLDER_ID_LEN], uint64_t *count);

int folderdb_held_add(struct index *ix, const uint8_t id[FOLDER_ID_LEN], const char *path,
		      const uint8_t origin[NODE_ID_LEN]);
/* 1 when path has a hold, 0 when not, or an error. */
int folderdb_held_has(struct index *ix, const uint8_t id[FOLDER_ID_LEN], const char *path);
/* Every hold (path, origin), by path. */
int folderdb_held_foreach(struct index *ix, const uint8_t id[FOLDER_ID_LEN], folderdb_path_fn fn,
			  void *arg);
int folderdb_held_count(struct index *ix, const uint8_t id[FOLDER_ID_LEN], uint64_t *count);
/* Drops every hold of the folder. */
int folderdb_held_clear(struct index *ix, const uint8_t id[FOLDER_ID_LEN]);

/* Writes f's root joined with path (relative) into out: 0 or
 * -ENAMETOOLONG. */
int folderdb_abs_path(const struct folderdb_folder *f, const char *path, char *out, size_t size);

/* Forgets the contents kept (folder_kept) until before now (Unix
 * seconds), in every folder: the next release lets their chunks go. */
int folderdb_kept_expire(struct index *ix, int64_t now);

#endif
