/*
 * Chunks kept in a working tree instead of the object directory. A
 * collaborative folder's files are already on disk, in clear, in the
 * folder itself: keeping their encrypted chunks in objects/ as well would
 * store the folder twice. A located chunk has its row in the index's
 * chunks table like any other (so refs, pins, copies and garbage collection
 * treat it alike) and no object file; its row in the located table says
 * where its plaintext is (an absolute path, an offset and a length) and
 * which key seals it. Reading one re-encrypts that plaintext and checks the
 * result against the chunk's id, so a file changed since it was scanned is
 * never served as the chunk: the read fails as if the chunk were missing.
 *
 *   located   (chunk, path) -> offset, size (plaintext bytes), key
 *
 * A chunk may be in several files (copies of one content); a read tries
 * each until one still holds it. Rows are dropped with their chunk's row
 * (index_chunk_remove(), garbage collection).
 */
#ifndef SHOAL_STORE_LOCATED_H
#define SHOAL_STORE_LOCATED_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>

#include "crypto/seal.h"
#include "store/index.h"

/* The table, made by the index's schema (index.c). */
#define LOCATED_SCHEMA                                                                        \
	"CREATE TABLE IF NOT EXISTS located("                                                 \
	" chunk BLOB NOT NULL, path TEXT NOT NULL, offset INTEGER NOT NULL,"                  \
	" size INTEGER NOT NULL, key BLOB NOT NULL, PRIMARY KEY(chunk, path)) WITHOUT ROWID;" \
	"CREATE INDEX IF NOT EXISTS located_by_path ON located(path);"

struct located {
	char path[PATH_MAX];
	uint64_t offset;
	uint32_t size; /* plaintext bytes; the chunk is size + CHUNK_TAG_LEN */
	uint8_t key[CHUNK_KEY_LEN];
};

/* Records chunk id at loc (replacing what said it is in that file). 0 or
 * the index's error. */
int located_set(struct index *ix, const uint8_t id[CHUNK_ID_LEN], const struct located *loc);
/* Fills out[0..*n) with up to max of chunk id's locations: 0 (*n > 0),
 * SHOAL_ENOTFOUND, or the index's error. */
int located_get(struct index *ix, const uint8_t id[CHUNK_ID_LEN], struct located *out, size_t max,
		size_t *n);
/* Forgets that chunk id is in the file at path (no-op when not). */
int located_remove(struct index *ix, const uint8_t id[CHUNK_ID_LEN], const char *path);
/* The chunks located in the file at from are now in the file at to (a
 * rename). 0 or the index's error. */
int located_move(struct index *ix, const char *from, const char *to);
/* Calls fn for every chunk located in the file at path until it returns
 * non-zero (returned). */
typedef int (*located_fn)(const uint8_t id[CHUNK_ID_LEN], const struct located *loc, void *arg);
int located_in(struct index *ix, const char *path, located_fn fn, void *arg);

/*
 * Reads loc's plaintext (the file opened without following a final
 * symbolic link), seals it into out (room for cap >= loc->size +
 * CHUNK_TAG_LEN bytes) and checks it is chunk id: 0 with *len set, or
 * SHOAL_EMISSING when the file is gone or no longer holds the chunk there,
 * SHOAL_ETOOBIG when cap is too small, SHOAL_ECRYPTO or -errno.
 */
int located_read(const struct located *loc, const uint8_t id[CHUNK_ID_LEN], uint8_t *out,
		 size_t cap, size_t *len);
/* located_read() into a buffer of the chunk's size, which *out receives
 * and the caller frees. */
int located_read_alloc(const struct located *loc, const uint8_t id[CHUNK_ID_LEN], uint8_t **out,
		       size_t *len);

#endif
