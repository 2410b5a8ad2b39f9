/*
 * Manifests: what a capability points at. A manifest records a file's size,
 * mode and mtime and its chunks in order, each as (id, plaintext size, key).
 * Files with more than MANIFEST_INLINE_MAX chunks keep their refs in ChunkList
 * chunks that the manifest names instead, so no manifest outgrows a chunk.
 * A directory manifest (kind MANIFEST_DIRECTORY) describes a whole tree: its
 * entries (relative paths, kinds, modes, mtimes, sizes) listed depth first,
 * and as its data the contents of all its files concatenated in entry order,
 * chunked like one file's data. Encoders and decoders here work on plaintext
 * protobuf bytes; encryption is the caller's. Decoders trust nothing: every
 * field and length is validated, and an entry path that could name anything
 * outside the tree never gets past them.
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

/* Directory listings: entries per manifest, bytes per entry path (without
 * the NUL) and components per path. In practice a listing is also bounded by
 * the manifest itself fitting one chunk and the decoder's allocation budget:
 * roughly 60,000 entries with 20-byte paths (manifest_encode() refuses more
 * with SHOAL_ETOOBIG). */
#define MANIFEST_ENTRIES_MAX 1000000
#define MANIFEST_PATH_MAX    4095
#define MANIFEST_DEPTH_MAX   256

/* One entry of a directory manifest. */
struct dir_entry {
	/* Relative to the tree's root: components joined by '/', each a valid
	 * name (proto/name.h), so never empty, ".", ".." or absolute. */
	char *path;
	enum manifest_kind kind; /* MANIFEST_FILE or MANIFEST_DIRECTORY */
	uint32_t mode;		 /* permission bits, <= 07777 */
	int64_t mtime;		 /* seconds since the epoch */
	uint64_t size;		 /* a file's bytes in the data stream; 0 for directories */
};

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
	/* Directories only: the tree's entries in order (none for a file). The
	 * root itself is not an entry: mode and mtime above are its own. */
	struct dir_entry *entries;
	size_t nentries;
	/* Set by the decoder: the block every entries[i].path points into. */
	char *paths;
};

/* Frees the arrays m owns (chunks, lists, entries, paths; not the strings
 * entries[i].path points to unless they lie in paths) and zeroes m. Safe on a
 * zeroed manifest. */
void manifest_release(struct manifest *m);

/* Serializes m (which must satisfy the decoder's rules) into out (appending).
 * Returns 0, or SHOAL_EPROTO / SHOAL_ETOOBIG / SHOAL_EVERSION when m breaks
 * them; then nothing is appended. A directory manifest is also checked to fit
 * one chunk and to decode within the decoder's allocation budget
 * (SHOAL_ETOOBIG otherwise), so whatever encodes, decodes. Entries are
 * written in the order given (callers sort them for determinism). */
int manifest_encode(const struct manifest *m, struct buf *out);

/*
 * Parses and validates p[0..n) into m (which the caller releases). Rules:
 * n <= CHUNK_SIZE_MAX, version 1, SHA-256, kind file or directory, mode <=
 * 07777, size >= 0; ids and keys exactly 32 bytes; chunk sizes
 * 1..CHUNK_SIZE_MAX; at most one of chunks/lists non-empty, within their
 * limits; inline sizes sum to size. A file has no entries. A directory has at
 * most MANIFEST_ENTRIES_MAX entries, each of kind file or directory with mode
 * <= 07777, a directory's size 0, a path of at most MANIFEST_PATH_MAX bytes
 * and MANIFEST_DEPTH_MAX components, each component a valid name (so no empty
 * component, no leading or trailing '/', no "." or ".."); paths are unique;
 * every entry's parent (the path up to its last '/') is a directory entry
 * listed before it; the file sizes sum to size. Breaking an entry rule gives
 * SHOAL_EPROTO (too many entries: SHOAL_ETOOBIG).
 * Returns 0, or SHOAL_EPROTO / SHOAL_EVERSION / SHOAL_ETOOBIG with m zeroed.
 * Protobuf cannot tell a message cut at a field boundary from a shorter one,
 * so decode only bytes already authenticated (id checked, AEAD tag verified).
 */
int manifest_decode(struct manifest *m, const uint8_t *p, size_t n);

/*
 * Checks early whether a directory manifest listing entries[0..n) of total
 * file size size, with at most nrefs refs (inline or ChunkList), would encode:
 * the entries obey the decoder's rules and the manifest fits its limits.
 * Returns 0, SHOAL_EPROTO or SHOAL_ETOOBIG.
 */
int manifest_dir_fits(const struct dir_entry *entries, size_t n, uint64_t size, size_t nrefs);

/* Serializes n refs (1..CHUNKLIST_MAX) as a ChunkList into out (appending). */
int chunklist_encode(const struct chunk_ref *refs, size_t n, struct buf *out);

/* Parses and validates a ChunkList: 1..CHUNKLIST_MAX refs, each valid as above.
 * On success *refs (caller frees with free()) and *count are set. */
int chunklist_decode(const uint8_t *p, size_t n, struct chunk_ref **refs, size_t *count);

#endif
