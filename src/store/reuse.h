/*
 * Incremental puts of a tree: which bytes of the new tree's data stream can
 * be taken from the chunks of the name's newest version without reading the
 * files. A file is unchanged when the previous listing has a regular file at
 * the same path with the same size, mtime (with nanoseconds), ctime (in
 * nanoseconds) and inode. Runs of unchanged files that follow each other in
 * both streams are the same bytes in both; every previous chunk lying wholly
 * inside such a run is reused as it is (its ref copied, nothing read), and
 * only the bytes at a run's edges, sharing a chunk with changed data, are
 * read again.
 *
 * The plan is made in one merge-walk of the previous listing beside a walk
 * of the tree, both in listing order (reuse_path_cmp()), and one pass over
 * the previous data refs: memory is one span per run that reuses something
 * plus the reused refs (about 70 bytes per MiB reused), never the listing.
 * Each span carries a digest of what its run's files looked like
 * (reuse_hash_file()), so that the put's own walk can check that the files
 * it skips are still the ones planned. Pure logic: no I/O but the callbacks.
 */
#ifndef SHOAL_STORE_REUSE_H
#define SHOAL_STORE_REUSE_H

#include <stddef.h>
#include <stdint.h>

#include "crypto/hash.h"
#include "proto/manifest.h"

/* Compares two entry paths in listing order (depth first, each directory's
 * children bytewise by name): < 0, 0 or > 0. */
int reuse_path_cmp(const char *a, const char *b);

/* 1 when now (as walked) is the file old (as listed before) unchanged: both
 * MANIFEST_FILE, same size, mtime, mtime_ns, ctime_ns and inode, and old has
 * an inode recorded (listings written before have none: never unchanged). */
int reuse_entry_unchanged(const struct dir_entry *old, const struct dir_entry *now);

/* Adds file e, at offset off of the new data stream, to a run's digest. */
void reuse_hash_file(struct sha256_ctx *c, const struct dir_entry *e, uint64_t off);

/* A stretch of the new data stream taken from previous chunks. */
struct reuse_span {
	uint64_t run_off, run_len;  /* the run of unchanged files it lies in */
	uint64_t off, len;	    /* the reused bytes: [off, off + len) */
	size_t first, nrefs;	    /* its refs: plan->refs[first .. first + nrefs) */
	uint64_t files;		    /* unchanged files of the run */
	uint8_t digest[SHA256_LEN]; /* reuse_hash_file() of the run's non-empty files */
};

/* Yields the previous version's next data ref into ref: 0, 1 after the
 * last, or a negative error. */
typedef int (*reuse_ref_fn)(void *arg, struct chunk_ref *ref);
/* Whether a previous chunk can be reused (stored here): 1, 0 or an error. */
typedef int (*reuse_present_fn)(void *arg, const struct chunk_ref *ref);

struct reuse_plan {
	/* Results, in stream order. */
	struct reuse_span *spans;
	size_t nspans, spans_cap;
	struct chunk_ref *refs;
	size_t nrefs, refs_cap;
	uint64_t files; /* unchanged files taken from previous chunks (empty ones too) */
	uint64_t bytes; /* bytes of all spans */
	/* The merge so far. */
	uint64_t old_pos, new_pos; /* offsets in the previous and new streams */
	int run_open;
	uint64_t run_old, run_new, run_files;
	struct sha256_ctx run_hash;
	/* The previous refs. */
	reuse_ref_fn next_ref;
	reuse_present_fn present;
	void *arg;
	struct chunk_ref ref; /* the current one, starting at ref_off */
	uint64_t ref_off;
	int ref_state; /* 0: none read yet, 1: ref valid, 2: no more */
};

/* Starts a plan reading previous refs through next_ref and checking them
 * with present (may be NULL: all present); arg goes to both. */
void reuse_plan_init(struct reuse_plan *p, reuse_ref_fn next_ref, reuse_present_fn present,
		     void *arg);
/*
 * The next entry in listing order: old (the previous listing's) and now
 * (the walk's), either NULL when that side has no entry at this path; when
 * both are given their paths are equal. Returns 0 or a negative error (of
 * the callbacks, or -ENOMEM).
 */
int reuse_plan_step(struct reuse_plan *p, const struct dir_entry *old, const struct dir_entry *now);
/* After the last entry: closes the open run. 0 or a negative error. */
int reuse_plan_end(struct reuse_plan *p);
void reuse_plan_release(struct reuse_plan *p);

#endif
