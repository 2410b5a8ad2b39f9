/*
 * Manifests: what a capability points at. A manifest records a file's size,
 * mode and mtime and its chunks in order, each as (id, plaintext size, key).
 * Files with more than MANIFEST_INLINE_MAX chunks keep their refs in ChunkList
 * chunks that the manifest names instead, so no manifest outgrows a chunk.
 * Encoders and decoders here work on plaintext protobuf bytes; encryption is
 * the caller's. Decoders trust nothing: every field and length is validated.
 */
#ifndef SHOAL_PROTO_MANIFEST_H
#define SHOAL_PROTO_MANIFEST_H

#include <stddef.h>
#include <stdint.h>

#include "crypto/seal.h"
#include "util/buf.h"

#define MANIFEST_VERSION 1
/* Largest plaintext chunk, and so the largest stored object. */
#define CHUNK_SIZE_MAX	((size_t)4 * 1024 * 1024)
#define OBJECT_SIZE_MAX (CHUNK_SIZE_MAX + CHUNK_TAG_LEN)
/* Refs a manifest carries inline; refs in one ChunkList; ChunkLists per manifest. */
#define MANIFEST_INLINE_MAX 16384
#define CHUNKLIST_MAX	    16384
#define MANIFEST_LISTS_MAX  16384

struct chunk_ref {
	uint8_t id[CHUNK_ID_LEN];
	uint8_t key[CHUNK_KEY_LEN];
	uint32_t size; /* plaintext bytes */
};

enum manifest_kind { MANIFEST_FILE = 0, MANIFEST_DIRECTORY = 1 };

struct manifest {
	enum manifest_kind kind;
	uint64_t size;
	uint32_t mode;
	int64_t mtime;
	/* Either chunks (inline refs, their sizes summing to size) or lists (refs of
	 * ChunkList chunks, whose size field is the list's plaintext length). */
	struct chunk_ref *chunks;
	size_t nchunks;
	struct chunk_ref *lists;
	size_t nlists;
};

/* Frees the arrays m owns and zeroes m. Safe on a zeroed manifest. */
void manifest_release(struct manifest *m);

/* Serializes m (which must satisfy the decoder's rules) into out (appending).
 * Returns 0, or SHOAL_EPROTO / SHOAL_ETOOBIG / SHOAL_EVERSION when m breaks
 * them. */
int manifest_encode(const struct manifest *m, struct buf *out);

/*
 * Parses and validates p[0..n) into m (which the caller releases). Rules:
 * n <= CHUNK_SIZE_MAX, version 1, SHA-256, kind file (directories come
 * later: SHOAL_EVERSION), mode <= 07777, size
 * >= 0; ids and keys exactly 32 bytes; chunk sizes 1..CHUNK_SIZE_MAX; at most
 * one of chunks/lists non-empty, within their limits; inline sizes sum to size.
 * Returns 0, or SHOAL_EPROTO / SHOAL_EVERSION / SHOAL_ETOOBIG with m zeroed.
 * Protobuf cannot tell a message cut at a field boundary from a shorter one,
 * so decode only bytes already authenticated (id checked, AEAD tag verified).
 */
int manifest_decode(struct manifest *m, const uint8_t *p, size_t n);

/* Serializes n refs (1..CHUNKLIST_MAX) as a ChunkList into out (appending). */
int chunklist_encode(const struct chunk_ref *refs, size_t n, struct buf *out);

/* Parses and validates a ChunkList: 1..CHUNKLIST_MAX refs, each valid as above.
 * On success *refs (caller frees with free()) and *count are set. */
int chunklist_decode(const uint8_t *p, size_t n, struct chunk_ref **refs, size_t *count);

#endif
