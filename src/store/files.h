/*
 * Files in and out of the store. files_put() streams a file descriptor through
 * the chunker, encrypts each chunk convergently on the worker pool, stores it
 * durably, writes the manifest (itself an encrypted chunk) and binds a name to
 * the resulting capability. files_get() reads a capability's manifest and
 * chunks, verifying and decrypting each on the pool, into a temp file renamed
 * over the output only when everything checked out. Neither holds a whole file
 * in memory: at most a few chunks per worker are in flight.
 */
#ifndef SHOAL_STORE_FILES_H
#define SHOAL_STORE_FILES_H

#include <stdint.h>

#include "proto/capability.h"
#include "proto/manifest.h"
#include "store/store.h"
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

/* Reads and validates cap's manifest from the store into m (caller releases). */
int files_read_manifest(struct store *s, const struct capability *cap, struct manifest *m);

/* Which chunk made a get fail, when one did. */
struct files_failure {
	int set;
	uint8_t id[CHUNK_ID_LEN];
};

/*
 * Writes the file cap names to out_path atomically: a temp file beside it is
 * filled, fsynced and renamed; on any failure it is removed and out_path is
 * untouched. Returns 0, SHOAL_EMISSING / SHOAL_ECORRUPT / SHOAL_EDECRYPT when
 * a chunk is absent, damaged or does not decrypt (failed, when not NULL,
 * then names that chunk), -EINTR when interrupted, or -errno.
 */
int files_get(struct store *s, const struct capability *cap, const char *out_path,
	      struct progress *progress, struct files_failure *failed);

#endif
