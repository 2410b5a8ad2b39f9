/*
 * Files in and out of the store. files_put() streams a file descriptor through
 * the chunker, encrypts each chunk convergently on the worker pool, stores it
 * durably, writes the manifest (itself an encrypted chunk) and binds a name to
 * the resulting capability. files_put_path() does the same for a path, and
 * for a directory stores the whole tree: one directory manifest listing its
 * entries, whose data is the contents of all its files concatenated in entry
 * order, chunked exactly like a file's (so many small files share chunks).
 * files_get() reads a capability's manifest and chunks, verifying and
 * decrypting each on the pool, into a temp file (a temp directory for a tree)
 * renamed into place only when everything checked out. Neither holds a whole
 * file in memory: at most a few chunks per worker are in flight.
 */
#ifndef SHOAL_STORE_FILES_H
#define SHOAL_STORE_FILES_H

#include <stdint.h>

#include "proto/capability.h"
#include "proto/manifest.h"
#include "store/store.h"
#include "store/tree.h"
#include "util/progress.h"

/*
 * Stores what fd yields until end of file and binds name to it (replacing an
 * earlier binding and releasing chunks only that one used). progress may be
 * NULL. On return 0, every chunk is durable, the index committed, and *cap
 * and *size describe the file. On error nothing is bound and the index is
 * unchanged (objects already written are left for dedup or recovery).
 */
int files_put(struct store *s, int fd, const char *name, struct progress *progress,
	      struct capability *cap, uint64_t *size);

/*
 * Where a put's chunks go besides the local store. Both callbacks run on the
 * thread calling files_put_replicated().
 */
struct files_replica_ops {
	/* Chunk id (file data, a ChunkList or the manifest; each once, in the
	 * order they became durable here) has stored bytes data[0..len),
	 * borrowed for the call. Non-zero fails the put. */
	int (*stored)(void *arg, const uint8_t id[CHUNK_ID_LEN], const uint8_t *data, size_t len);
	/* Every chunk went through stored(); returns 0 once all are durable
	 * wherever they were sent, else an error that fails the put. Called
	 * inside no index transaction; may use the store's index. */
	int (*finish)(void *arg);
	void *arg;
};

/* files_put(), also handing every stored chunk to rep (NULL: none); the name
 * is bound only when rep->finish() succeeded. */
int files_put_replicated(struct store *s, int fd, const char *name, struct progress *progress,
			 const struct files_replica_ops *rep, struct capability *cap,
			 uint64_t *size);

/*
 * files_put_replicated() of the regular file fd (read from its start) that
 * binds no name: keeper (a node id, this node's) pins the manifest instead,
 * which keeps the file until index_pin_remove() and a release. What a node
 * stores for itself outside its names (its name table) goes this way.
 */
int files_put_kept(struct store *s, int fd, const uint8_t keeper[32], struct progress *progress,
		   const struct files_replica_ops *rep, struct capability *cap, uint64_t *size);

/*
 * How a put is bound when not to a name (collaborative folders): the
 * convergence secret its chunks are keyed with, and what keeps the result.
 */
struct files_binder {
	const uint8_t *secret; /* CONVERGENCE_SECRET_LEN bytes; NULL: the store's */
	/* Runs inside the transaction that records the put (ix is the
	 * store's index), once the manifest cap->id holds every chunk's refs:
	 * records whatever keeps cap->id from garbage collection. Non-zero
	 * fails the put (and is returned). */
	int (*bind)(void *arg, struct index *ix, const struct capability *cap, uint64_t size);
	void *arg;
	/* NULL, or the absolute path of the file being put: its data chunks
	 * are then not written to objects/ but recorded as located in that
	 * file (store/located.h), served from it while it holds them. The
	 * manifest and its lists are stored as usual. */
	const char *located_path;
};

/* Stores the regular file fd (read from its start) as files_put_kept() does,
 * bound by binder instead of a name or a pin. */
int files_put_bound(struct store *s, int fd, const struct files_binder *binder,
		    struct capability *cap, uint64_t *size);

/*
 * Stores path: a directory as a whole tree, anything else (a regular file, a
 * pipe) like files_put_replicated() does. path itself may be a symbolic link;
 * inside a tree none is followed. A tree's regular files and directories are
 * stored with their modes and mtimes (the root's are the manifest's own);
 * symbolic links, devices, sockets and FIFOs, entries whose names are not
 * valid names (proto/name.h) and the store's own home directory are skipped
 * and counted, not fatal. A regular file written to while the put reads
 * it (its size, mtime or ctime at the end of reading differ from the start)
 * is read once more, the whole put with it; changed again, the put fails
 * with -EAGAIN and stores nothing, so no version mixes two states. progress
 * (may be NULL) gets the tree's total size. Returns what files_put_replicated()
 * does, plus SHOAL_ETOOBIG for a tree past the manifest limits (entries,
 * path length, depth; checked before any data is read) and the -errno of a
 * directory that cannot be read.
 */
int files_put_path(struct store *s, const char *path, const char *name, struct progress *progress,
		   const struct files_replica_ops *rep, struct capability *cap, uint64_t *size);

/* What files_put_path_report() tells besides the result; full is what
 * the caller asks. */
struct files_put_report {
	/* In: read every file of a tree. Otherwise, over a name whose newest
	 * version is a tree, the files unchanged since (same size, mtime,
	 * ctime and inode; see store/reuse.h) are not read: that version's
	 * chunks holding only their bytes are reused. */
	int full;
	uint64_t files;			   /* regular files stored (1 for a plain file) */
	uint64_t dirs;			   /* directories stored, the root not counted */
	uint64_t links;			   /* symbolic links, hard links and FIFOs stored */
	uint64_t skipped;		   /* entries left out (see files_put_path()) */
	char skipped_path[TREE_PATH_SIZE]; /* the first of them, relative to the tree */
	char where[TREE_PATH_SIZE];	   /* after a failure: the entry at fault relative
					    * to the tree, or "" */
	uint64_t reused;		   /* unchanged files whose bytes came from the previous
					    * version's chunks (empty ones too) */
	uint64_t reused_bytes;		   /* bytes taken from those chunks without reading */
};

/* files_put_path(), also filling report (may be NULL) on success and
 * failure. */
int files_put_path_report(struct store *s, const char *path, const char *name,
			  struct progress *progress, const struct files_replica_ops *rep,
			  struct files_put_report *report, struct capability *cap, uint64_t *size);

/* Writes into out a one-line warning about the entries report says were
 * skipped (printable ASCII, without "warning: "), or "" when none were. */
void files_put_report_warning(const struct files_put_report *report, char *out, size_t size);

/* Reads and validates cap's manifest from the store into m (caller releases). */
int files_read_manifest(struct store *s, const struct capability *cap, struct manifest *m);

/* What a stored file or tree is, in short. */
struct files_summary {
	int directory;	/* a tree */
	uint64_t size;	/* bytes of the file, or of the tree's files */
	uint64_t files; /* regular files: 1 for a file, a tree's count */
	uint64_t dirs;	/* a tree's directories, its root not counted */
};

/* Reads cap's manifest (and a tree's listing chunks) from the store and
 * fills *out. Returns what
 * files_read_manifest() does. */
int files_summarize(struct store *s, const struct capability *cap, struct files_summary *out);

/* Which chunk made a get fail, when one did. */
struct files_failure {
	int set;
	uint8_t id[CHUNK_ID_LEN];
};

/* Reads a directory manifest's entries in order, in bounded memory: a
 * version 1 manifest's inline ones, or a version 2 manifest's listing
 * chunks one at a time, each record checked against the listing rules
 * (proto/manifest.h) as it comes. */
struct files_listing;

/* Starts reading m's entries (m borrowed until files_listing_free());
 * SHOAL_EPROTO when m is not a directory. failed (may be NULL) names a
 * listing chunk that could not be read. */
int files_listing_open(struct files_listing **out, struct store *s, const struct manifest *m,
		       struct files_failure *failed);
/* Yields the next entry into e (its strings last until the next call):
 * 0, 1 after the last (when the count and size matched m's), or an error
 * (SHOAL_EPROTO / SHOAL_ETOOBIG for a listing that breaks the rules, or
 * the chunk's SHOAL_EMISSING / SHOAL_ECORRUPT / SHOAL_EDECRYPT). */
int files_listing_next(struct files_listing *l, struct dir_entry *e);
void files_listing_free(struct files_listing *l);

/* How files_get() writes: which bits of the stored modes it keeps, and
 * whether an existing file at the output is replaced. */
struct files_restore {
	uint32_t mode_keep; /* 0777 & ~umask for an ordinary restore: no setuid,
			     * setgid or sticky bit; 07777: exactly as stored */
	int replace;	    /* 1: an existing output (file or tree) is replaced */
};

/* Writes the regular file cap names into fd (open for writing; what it held
 * is dropped), verified as files_get() does, for a caller that owns the
 * file it writes (a collaborative folder's temp): no note, no rename, no
 * sync, no mode or times. -EISDIR for a directory; else what files_get()
 * returns. */
int files_get_into(struct store *s, const struct capability *cap, int fd,
		   struct files_failure *failed);

/* Calls fn for each data chunk of the regular file cap names, in order,
 * with the offset of its plaintext in the file, until fn returns non-zero
 * (returned). The manifest and lists are read from the store: -EISDIR for
 * a directory, else what files_read_manifest() returns. */
typedef int (*files_ref_fn)(const struct chunk_ref *ref, uint64_t offset, void *arg);
int files_data_refs(struct store *s, const struct capability *cap, files_ref_fn fn, void *arg);

/* What get --preserve-mode asked (the values of CtlGetRequest.Preserve). */
enum files_preserve {
	FILES_PRESERVE_NONE = 0,  /* stored modes under the umask, no special bits */
	FILES_PRESERVE_MODE = 1,  /* the stored bits, sticky too, never setuid/setgid */
	FILES_PRESERVE_SETID = 2, /* the stored bits exactly (root asked) */
};

/* The mode_keep of a restore asked with umask and preserve. */
uint32_t files_mode_keep(uint32_t umask, enum files_preserve preserve);

/*
 * Writes the file cap names to out_path atomically: a temp file beside it
 * (noted in the home first, see store/restores.h) is filled, fsynced and
 * renamed; on any failure it is removed and out_path is untouched. With
 * how->replace 0 an existing out_path (checked before any work, and again by
 * the rename itself) gives SHOAL_EEXIST; with 1 whatever is there, a file or
 * a directory tree, is replaced atomically (restore_temp_install()). how NULL
 * means {07777, 0}: the stored modes exactly, never replacing (for tests and
 * internal copies). A directory capability restores its tree the same way:
 * a temp directory beside out_path is filled (never following a link, never
 * writing outside it), modes and mtimes set, synced and put in place. A
 * chunk that is all zeros is not written: the file keeps a hole there. Mtimes
 * keep their nanoseconds. Returns 0, SHOAL_EMISSING / SHOAL_ECORRUPT /
 * SHOAL_EDECRYPT when a chunk is absent, damaged or does not decrypt (failed,
 * when not NULL, then names that chunk), SHOAL_EPROTO / SHOAL_EVERSION /
 * SHOAL_ETOOBIG when the manifest is invalid (for a tree: an unsafe or
 * inconsistent listing), -EINTR when interrupted, or -errno.
 */
int files_get(struct store *s, const struct capability *cap, const char *out_path,
	      const struct files_restore *how, struct progress *progress,
	      struct files_failure *failed);

#endif
