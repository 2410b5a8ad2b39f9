/*
 * Directory trees on the local file system, for the put and get pipelines of
 * files.c. A put walks a tree depth first (tree_walk), each directory's
 * children in bytewise order of their names, yielding one entry at a time,
 * and reads the contents of its files, in that order, as one byte stream
 * (tree_reader, which hands each entry to a callback as it passes). A get
 * does the reverse (tree_writer): it builds the tree in a temporary
 * directory beside the output from a stream of entries and the data stream,
 * and renames it into place only when everything was written and synced.
 * Neither side ever holds the whole listing: memory is bounded by the depth
 * of the tree and the widest directory on the current path.
 *
 * Every path is walked one component at a time through directory fds, with
 * O_NOFOLLOW: a symbolic link is never followed, whether it was in the tree
 * being read or was made by the restore itself, so a tree being read cannot
 * lead the reader elsewhere and a restore never writes outside its temporary
 * directory. At most 2 * MANIFEST_DEPTH_MAX + a few fds are open at once.
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

/* What a walk has seen so far. */
struct tree_stats {
	uint64_t entries;		   /* listed, the root not counted */
	uint64_t size;			   /* the files' bytes */
	uint64_t files;			   /* regular files listed (not hard links) */
	uint64_t dirs;			   /* directories listed (the root not counted) */
	uint64_t links;			   /* symbolic links, hard links and FIFOs listed */
	uint64_t skipped;		   /* left out: sockets, devices, names that
					    * are not valid (proto/name.h), the home */
	char skipped_path[TREE_PATH_SIZE]; /* the first one left out, or "" */
	char where[TREE_PATH_SIZE];	   /* after a failure: the path at fault, or "" */
};

/* A depth-first walk of a tree. */
struct tree_walk;

/*
 * Starts walking the tree under the directory open at root (borrowed; only
 * read through openat-style calls). The directory exclude names (its st_dev
 * and st_ino; may be NULL), say the node's own home, is left out and counted
 * as skipped. progress (may be NULL) can cancel.
 */
int tree_walk_new(struct tree_walk **out, int root, const struct stat *exclude,
		  struct progress *progress);
/*
 * Yields the next entry into e: its strings belong to the walk and last
 * until the next call. A regular file with more than one link whose inode
 * was listed before (up to TREE_HARDLINKS_MAX inodes are remembered) comes
 * as a MANIFEST_HARDLINK naming that first path. Entries that vanish while
 * walking are left out silently. Returns 0, 1 at the end, SHOAL_ETOOBIG (a
 * path longer than MANIFEST_PATH_MAX or deeper than MANIFEST_DEPTH_MAX),
 * -EINTR when progress says to stop, or -errno (a directory that cannot be
 * read); the stats' where then names the culprit.
 */
int tree_walk_next(struct tree_walk *w, struct dir_entry *e);
const struct tree_stats *tree_walk_stats(const struct tree_walk *w);
void tree_walk_free(struct tree_walk *w);

/* Inodes with several links that a walk remembers (to list their later
 * names as hard links); past that, further ones are stored as copies. */
#define TREE_HARDLINKS_MAX 262144

/* Reads the contents of a walked tree's files as one stream. */
struct tree_reader;

/* Called with each entry as the reader passes it (before a file's bytes);
 * non-zero stops the read with that error. */
typedef int (*tree_entry_fn)(void *arg, const struct dir_entry *e);

/* Starts reading the files of walk (borrowed), calling on_entry (may be
 * NULL) with every entry. A file is read only where SEEK_DATA/SEEK_HOLE say
 * data is; its holes come as zeros. progress (may be NULL) can cancel. */
int tree_reader_new(struct tree_reader **out, struct tree_walk *walk, tree_entry_fn on_entry,
		    void *arg, struct progress *progress);
/*
 * Reads up to n (>= 1) bytes of the stream into p. Returns the count, 0 at
 * the end of the last file, -EAGAIN when a file is not what the walk saw (its
 * size changed, it grew or shrank or was written to while read, or it is no
 * longer a regular file), -EINTR when cancelled, or -errno (the walk's too);
 * tree_reader_where() then names the entry.
 */
ssize_t tree_reader_read(struct tree_reader *r, uint8_t *p, size_t n);
/*
 * Passes the next n bytes of the stream without reading them (the files
 * they lie in are not even opened unless partly read), handing the entries
 * passed to on_entry as reading would. Returns 0, -EAGAIN when the stream
 * ends first or a file partly read changed, or the errors of reading.
 */
int tree_reader_skip(struct tree_reader *r, uint64_t n);
/* The path of the entry being read, or "". */
const char *tree_reader_where(const struct tree_reader *r);
void tree_reader_free(struct tree_reader *r);

/* Where a restore's entries come from: next() yields the next entry into e
 * (its strings lasting until the next call) and returns 0, 1 at the end, or
 * a negative error. */
struct tree_entries {
	int (*next)(void *arg, struct dir_entry *e);
	void *arg;
};

/* Restores a directory manifest's tree. */
struct tree_writer;

/*
 * Prepares restoring a tree to out_path, which must not exist (SHOAL_EEXIST)
 * unless replace: makes a temporary directory ".shoal-get-*" beside it,
 * noted under home first (NULL: not noted; see store/restores.h). The root's
 * mode and mtime are m's (borrowed until tree_writer_free()); the entries
 * come from src, or from m->entries when src is NULL (checked here before
 * anything is created). Entries are created as they come, in their order;
 * each is checked again whatever made it (a kind or path that breaks the
 * manifest rules, a path through a symbolic link or a non-directory, a name
 * that exists already, a hard link to anything but a regular file restored
 * before) and refused with SHOAL_EPROTO: nothing is ever written outside the
 * temporary directory. Every file, directory and FIFO gets its stored mode
 * ANDed with mode_keep (07777 restores the stored bits exactly; 0777 &
 * ~umask is what an ordinary restore asks for), and every entry but a hard
 * link its stored mtime with its nanoseconds. A directory gets its mode and
 * mtime once the entries have left it.
 */
int tree_writer_new(struct tree_writer **out, const struct manifest *m,
		    const struct tree_entries *src, const char *out_path, uint32_t mode_keep,
		    const char *home, int replace);
/* Writes the next n bytes of the tree's data stream into the file(s) they
 * belong to, creating files as the stream reaches them. Blocks of zeros are
 * left as holes. */
int tree_writer_write(struct tree_writer *w, const uint8_t *p, size_t n);
/* tree_writer_write() of n zero bytes, which become holes. */
int tree_writer_zeros(struct tree_writer *w, uint64_t n);
/*
 * After the whole stream: creates the remaining entries (none may be a
 * non-empty file), sets the open directories' modes and mtimes, syncs the
 * file system of the temporary tree, puts it at out_path (replacing what is
 * there only with replace, atomically: restore_temp_install()) and fsyncs
 * out_path's parent.
 */
int tree_writer_finish(struct tree_writer *w);
/* Frees w; unless tree_writer_finish() succeeded, removes the temporary tree. */
void tree_writer_free(struct tree_writer *w);

#endif
