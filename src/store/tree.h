/*
 * Directory trees on the local file system, for the put and get pipelines of
 * files.c. A put scans a tree into the entries of a directory manifest
 * (tree_scan), then reads the contents of its files, in entry order, as one
 * byte stream (tree_reader). A get does the reverse (tree_writer): it builds
 * the tree in a temporary directory beside the output from that stream and
 * renames it into place only when everything was written and synced.
 *
 * Every path is walked one component at a time through directory fds, with
 * O_NOFOLLOW: a symbolic link is never followed, so a tree being read cannot
 * lead the reader elsewhere and a restore never writes outside its temporary
 * directory. At most MANIFEST_DEPTH_MAX + a few fds are open at once.
 */
#ifndef SHOAL_STORE_TREE_H
#define SHOAL_STORE_TREE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "proto/manifest.h"
#include "util/buf.h"
#include "util/progress.h"

/* Room for an entry path and its NUL. */
#define TREE_PATH_SIZE (MANIFEST_PATH_MAX + 1)

/* What tree_scan() found. */
struct tree_scan {
	/* Depth first, each directory's entries sorted bytewise by name; the
	 * paths point into storage the scan owns. */
	struct dir_entry *entries;
	size_t nentries;
	uint64_t size;			   /* the files' bytes */
	uint64_t files;			   /* regular files listed */
	uint64_t dirs;			   /* directories listed (the root not counted) */
	uint64_t skipped;		   /* left out: symbolic links, devices, sockets, FIFOs, and
					    * names that are not valid (proto/name.h) */
	char skipped_path[TREE_PATH_SIZE]; /* the first one left out, or "" */
	char where[TREE_PATH_SIZE];	   /* after a failure: the path at fault, or "" */
	/* internal */
	size_t cap;
	size_t *offsets;
	struct buf paths;
};

/*
 * Lists the tree under the directory open at root (borrowed; only read
 * through openat-style calls). Entries that vanish while scanning are left
 * out silently; the directory exclude names (its st_dev and st_ino; may be
 * NULL), say the node's own home, is left out and counted as skipped. Returns 0, SHOAL_ETOOBIG
 * (more than MANIFEST_ENTRIES_MAX entries, a path longer than MANIFEST_PATH_MAX or deeper than
 * MANIFEST_DEPTH_MAX), -EINTR when progress says to stop, or -errno (a
 * directory that cannot be read); t->where then names the culprit. Release t
 * with tree_scan_release() either way.
 */
int tree_scan(struct tree_scan *t, int root, const struct stat *exclude, struct progress *progress);
void tree_scan_release(struct tree_scan *t);

/* Reads the contents of a scanned tree's files as one stream. */
struct tree_reader;

/* Starts reading entries[0..n) (borrowed, as tree_scan() made them) of the tree at
 * root (borrowed). progress (may be NULL) can cancel. */
int tree_reader_new(struct tree_reader **out, int root, const struct dir_entry *entries, size_t n,
		    struct progress *progress);
/*
 * Reads up to n (>= 1) bytes of the stream into p. Returns the count, 0 at
 * the end of the last file, -EAGAIN when a file is not what the scan saw (its
 * size changed, it grew or shrank or was written to while read, or it is no
 * longer a regular file), -EINTR when cancelled, or -errno; tree_reader_where() then names the
 * file.
 */
ssize_t tree_reader_read(struct tree_reader *r, uint8_t *p, size_t n);
/* The path of the file being read, or "". */
const char *tree_reader_where(const struct tree_reader *r);
void tree_reader_free(struct tree_reader *r);

/* Restores a directory manifest's tree. */
struct tree_writer;

/*
 * Prepares restoring m (borrowed until tree_writer_free()) to out_path, which
 * must not exist (SHOAL_EEXIST): makes a temporary directory
 * ".shoal-get-XXXXXX" beside it and creates every directory of the tree in
 * it. m normally passed manifest_decode(), but the writer checks its entries
 * again: an entry whose kind or path breaks the decoder's rules (a path that
 * is empty, absolute, or has an empty, "." or ".." component, say) gives
 * SHOAL_EPROTO before anything is created. Every file and directory gets
 * its stored mode ANDed with mode_keep (07777 restores the stored bits
 * exactly; 0777 & ~umask is what an ordinary restore asks for).
 */
int tree_writer_new(struct tree_writer **out, const struct manifest *m, const char *out_path,
		    uint32_t mode_keep);
/* Writes the next n bytes of the tree's data stream into the file(s) they
 * belong to, creating files as the stream reaches them. */
int tree_writer_write(struct tree_writer *w, const uint8_t *p, size_t n);
/*
 * After the whole stream: creates the remaining (empty) files, sets the
 * directories' modes and mtimes deepest first, syncs the file system of the
 * temporary tree, renames it to out_path (never replacing anything) and
 * fsyncs out_path's parent.
 */
int tree_writer_finish(struct tree_writer *w);
/* Frees w; unless tree_writer_finish() succeeded, removes the temporary tree. */
void tree_writer_free(struct tree_writer *w);

#endif
