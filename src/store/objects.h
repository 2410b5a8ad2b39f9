/*
 * The object directory: one file per chunk at objects/<2 hex>/<64 hex>, named
 * by the SHA-256 of its contents. Writes are atomic and durable: a temp file in
 * objects/tmp is written, fsynced and renamed into place; the fsync of the
 * renamed-into directories is batched (objects_sync) so a put of many chunks
 * syncs each directory once. Reads re-hash and refuse to return bad bytes.
 * Safe to call from several threads at once. Writes, fsyncs (syncfs too) and
 * renames pass the test fault hook (util/fault.h; inert unless SHOAL_FAULTS).
 */
#ifndef SHOAL_STORE_OBJECTS_H
#define SHOAL_STORE_OBJECTS_H

#include <limits.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "crypto/seal.h"
#include "util/fsutil.h"

struct objects {
	char dir[3072];
	char tmpdir[3080];
	atomic_uint_fast64_t touched[4]; /* subdirectories awaiting fsync, a bit each */
	atomic_int deferred;		 /* OBJECTS_DEFER writes await objects_sync() */
};

/* Opens (creating when missing) home/objects with its 256 subdirectories and
 * tmp/, and removes every stray temp file left by a crash. */
int objects_open(struct objects *o, const char *home);

/* Writes the path of id's object into out. */
void objects_path(const struct objects *o, const uint8_t id[CHUNK_ID_LEN], char *out, size_t size);

/* Direct I/O: p is aligned to OBJECTS_ALIGN and has room up to n rounded up to
 * OBJECTS_ALIGN, so the bytes can go to disk without a copy through the page
 * cache (on file systems that support it; others get ordinary I/O). */
#define OBJECTS_ALIGN  DIRECT_IO_ALIGN
#define OBJECTS_DIRECT 1
/* Leave the data's durability to the next objects_sync() (see objects_write). */
#define OBJECTS_DEFER 2

static inline size_t objects_align_up(size_t n)
{
	return (n + OBJECTS_ALIGN - 1) & ~(size_t)(OBJECTS_ALIGN - 1);
}

/*
 * Stores p[0..n) as object id (the caller computed id = SHA-256 of p). When the
 * object already exists nothing is written. On return 0 the file's data is
 * durable and it has been renamed into place; the rename itself is durable
 * after the next objects_sync(). With OBJECTS_DEFER the data is not synced
 * here either: many writes then become durable together at the next
 * objects_sync(), one file-system sync instead of one per object (nothing may
 * name the object as stored before that). *created (may be NULL) tells
 * whether a new file was written.
 */
int objects_write(struct objects *o, const uint8_t id[CHUNK_ID_LEN], const uint8_t *p, size_t n,
		  int flags, int *created);

/* Makes what objects_write/objects_delete did before the call durable: the
 * changed subdirectories are fsynced, or, after OBJECTS_DEFER writes, the
 * whole file system is synced once (syncfs). */
int objects_sync(struct objects *o);

/*
 * Reads object id into out (cap bytes of room) and checks its hash. With
 * OBJECTS_DIRECT, out is aligned and cap covers the size rounded up. Returns 0
 * with *len set, SHOAL_EMISSING when there is no such object, SHOAL_ECORRUPT
 * when its bytes do not hash to id (or it is larger than OBJECT_SIZE_MAX), or
 * -errno.
 */
int objects_read(const struct objects *o, const uint8_t id[CHUNK_ID_LEN], uint8_t *out, size_t cap,
		 int flags, size_t *len);

/* objects_read() into a buffer of the object's own size (aligned for
 * OBJECTS_DIRECT), which *out receives and the caller frees. */
int objects_read_alloc(const struct objects *o, const uint8_t id[CHUNK_ID_LEN], int flags,
		       uint8_t **out, size_t *len);

/* Re-hashes object id without keeping its bytes. Same returns as objects_read;
 * *size (may be NULL) receives its length. */
int objects_verify(const struct objects *o, const uint8_t id[CHUNK_ID_LEN], uint64_t *size);

/* Returns 1 if object id exists, 0 if not, or -errno. */
int objects_exists(const struct objects *o, const uint8_t id[CHUNK_ID_LEN]);

/* Removes object id (absent is not an error). */
int objects_delete(struct objects *o, const uint8_t id[CHUNK_ID_LEN]);

/* Calls fn for every object file (names that are not 64 hex digits in the
 * right subdirectory are skipped). Stops early when fn returns non-zero and
 * returns that value; else 0 or -errno. */
typedef int (*objects_iter_fn)(const uint8_t id[CHUNK_ID_LEN], void *arg);
int objects_iterate(const struct objects *o, objects_iter_fn fn, void *arg);

#endif
