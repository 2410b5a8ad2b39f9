/*
 * File-system helpers with full error handling: reads and writes that retry
 * short transfers and EINTR, directory fsync, recursive mkdir, and whole-file
 * atomic replacement (temp file, fsync, rename, fsync of the directory).
 * All return 0 or -errno unless stated otherwise. Writes to regular files,
 * fsyncs and the rename of write_file_atomic_in() pass the test fault hook
 * (util/fault.h), which is inert unless SHOAL_FAULTS is set.
 */
#ifndef SHOAL_UTIL_FSUTIL_H
#define SHOAL_UTIL_FSUTIL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "util/buf.h"

/* Reads up to n bytes, stopping early only at end of file. Returns the number
 * of bytes read (>= 0) or -errno. A read that a signal interrupts is retried,
 * unless the user asked to stop (util/interrupt.h): then it gives -EINTR, so
 * that Ctrl-C ends a wait on a socket or pipe. */
ssize_t read_in_full(int fd, void *p, size_t n);
/* Writes all n bytes. */
int write_in_full(int fd, const void *p, size_t n);
/* Writes all n bytes at offset off. */
int pwrite_in_full(int fd, const void *p, size_t n, off_t off);
/* Reads exactly n bytes at offset off; a short file gives SHOAL_ECORRUPT. */
int pread_exact(int fd, void *p, size_t n, off_t off);

struct stat;
/* Whether b shows a different file, or the same file written to, than a: the
 * device, inode, size, modification or change time differ. 1 or 0. */
int stat_changed(const struct stat *a, const struct stat *b);

/* fsyncs the directory at path (so renames and creations in it are durable). */
int fsync_dir(const char *path);
/* Creates path and its missing parents with mode; existing dirs are fine. */
int mkdir_p(const char *path, mode_t mode);

/* Replaces path with the n bytes at p, atomically and durably, file mode mode:
 * write_file_atomic_in() with a temp file beside path and no flags. */
int write_file_atomic(const char *path, const void *p, size_t n, mode_t mode);

/* Renames from to to unless to exists (-EEXIST: both left alone). Where the
 * file system has no RENAME_NOREPLACE, a hard link and an unlink do the same. */
int rename_noreplace(const char *from, const char *to);

/* Direct I/O works on whole blocks of this size (see ATOMIC_DIRECT). */
#define DIRECT_IO_ALIGN 4096

/* Flags of write_file_atomic_in(). */
enum {
	/* Write with O_DIRECT, without a copy through the page cache, where the
	 * file system supports it (others get ordinary writes): p is aligned to
	 * DIRECT_IO_ALIGN and has room up to n rounded up to it. */
	ATOMIC_DIRECT = 1,
	/* Leave the data unsynced: the caller syncs it later (syncfs), before
	 * anything names the file as stored. */
	ATOMIC_NOSYNC = 2,
	/* Leave the fsync of path's directory, which makes the rename durable,
	 * to the caller (who may batch it over many files). */
	ATOMIC_NODIRSYNC = 4,
	/* Never replace an existing path: the rename fails with -EEXIST and
	 * leaves it alone (for files a user names, such as a network file). */
	ATOMIC_NOREPLACE = 8,
};

/*
 * The one sequence by which a file is written atomically: a new temp file
 * "<tmpdir>/<prefix><random>" (tmpdir on path's file system) receives the n
 * bytes at p and mode, is fsynced and closed, and is renamed to path; then
 * path's directory is fsynced. On failure the temp file is removed and path
 * is left as it was. flags (ATOMIC_*) leave parts to the caller. The write,
 * the fsync of the file and of the directory and the rename each pass the
 * fault hook once.
 */
int write_file_atomic_in(const char *tmpdir, const char *prefix, const char *path, const void *p,
			 size_t n, mode_t mode, int flags);
/* Reads a whole regular file of at most max bytes into out (appending). A
 * larger file gives SHOAL_ETOOBIG. */
int read_file(const char *path, struct buf *out, size_t max);

/*
 * Creates a new file "<dir>/<prefix><random>" with O_EXCL and mode, writing its
 * path into path_out (which receives at most path_size bytes). Returns the open
 * fd (>= 0) or -errno.
 */
int create_temp_file(const char *dir, const char *prefix, mode_t mode, char *path_out,
		     size_t path_size);

/* Whether p[0..n) is all zero bytes: 1 or 0. */
int is_zero(const void *p, size_t n);

/*
 * pwrite_in_full(), leaving out every DIRECT_IO_ALIGN block (at file offsets
 * that are multiples of it) whose bytes in p are all zeros, so that the
 * file keeps holes there. Only for a file that reads zeros wherever nothing
 * is written yet: a new one, cut to its size. Writes that do happen are
 * whole blocks where p's are, so a direct-I/O descriptor gets aligned ones.
 */
int pwrite_sparse(int fd, const void *p, size_t n, off_t off);

/*
 * Reads a regular file from an offset on, through its holes without reading
 * them: SEEK_DATA and SEEK_HOLE tell where data is, and a hole gives zeros
 * from memory. Where the file system cannot tell, every byte is read.
 */
struct sparse_reader {
	int fd;		  /* borrowed */
	uint64_t pos;	  /* the next byte to read */
	uint64_t size;	  /* the file's size as the reading began */
	uint64_t seg_end; /* the end of the data or hole pos is in */
	int seg_hole;	  /* that segment is a hole */
	int plain;	  /* SEEK_DATA unsupported: read everything */
};

/* Starts reading fd (a regular file of size bytes) at offset pos. */
void sparse_reader_init(struct sparse_reader *r, int fd, uint64_t pos, uint64_t size);
/* Like read(2) at r->pos: the count, 0 at the end of the file, or -1 with
 * errno set. Past the size given, reads ordinarily (a file that grew). */
ssize_t sparse_read(struct sparse_reader *r, void *p, size_t n);

/*
 * Removes name (in the directory open at parent) and everything under it,
 * without following links; directories whose mode forbids it are made
 * writable first. A missing name is fine. Recursion is as deep as the tree.
 */
int remove_tree_at(int parent, const char *name);

/* Copies the directory part of path ("." when there is none) into out. */
void path_dirname(const char *path, char *out, size_t out_size);

#endif
