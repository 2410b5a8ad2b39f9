/*
 * Manifests: what a capability points at. A manifest records a file's size,
 * mode and mtime and its chunks in order, each as (id, plaintext size, key).
 * Files with more than MANIFEST_INLINE_MAX chunks keep their refs in ChunkList
 * chunks that the manifest names instead, so no manifest outgrows a chunk.
 * A directory manifest (kind MANIFEST_DIRECTORY) describes a whole tree: its
 * entries (relative paths, kinds, modes, mtimes, sizes) listed depth first,
 * and as its data the contents of all its files concatenated in entry order,
 * chunked like one file's data. A version 1 directory manifest lists its
 * entries inline, which bounds it to what fits one chunk (about 60,000
 * entries); version 2 (what puts write now) keeps them in listing chunks of
 * records, written and read one record at a time, so a tree of any size is
 * stored and restored in bounded memory (manifest_listing_* below). Only
 * version 2 has symbolic links, FIFOs and hard links. Both keep restoring.
 * Encoders and decoders here work on plaintext
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
/* The version of directory manifests whose listing is streamed. */
#define MANIFEST_VERSION_LISTED 2
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

/* What a manifest or a directory entry is. Symbolic links, FIFOs and hard
 * links are entries of version 2 listings only. */
enum manifest_kind {
	MANIFEST_FILE = 0,
	MANIFEST_DIRECTORY = 1,
	MANIFEST_SYMLINK = 2,
	MANIFEST_FIFO = 3,
	MANIFEST_HARDLINK = 4,
};

/* Directory listings: entries per manifest, bytes per entry path (without
 * the NUL) and components per path. In practice a listing is also bounded by
 * the manifest itself fitting one chunk and the decoder's allocation budget:
 * roughly 60,000 entries with 20-byte paths (manifest_encode() refuses more
 * with SHOAL_ETOOBIG). */
#define MANIFEST_ENTRIES_MAX 1000000
#define MANIFEST_PATH_MAX    4095
#define MANIFEST_DEPTH_MAX   256
/* mtime_ns fields are below this (manifests written before them have 0). */
#define MANIFEST_NS_MAX 1000000000u
/* Version 2: entries in one listing (a sanity cap far above any real tree),
 * the bytes of one encoded record, and the plaintext of one listing chunk. */
#define MANIFEST_LISTED_MAX	   ((uint64_t)1 << 32)
#define MANIFEST_RECORD_MAX	   16384
#define MANIFEST_LISTING_CHUNK_MAX ((size_t)1024 * 1024)

/* One entry of a directory manifest. */
struct dir_entry {
	/* Relative to the tree's root: components joined by '/', each a valid
	 * name (proto/name.h), so never empty, ".", ".." or absolute. */
	char *path;
	enum manifest_kind kind;
	uint32_t mode;	   /* permission bits, <= 07777 */
	int64_t mtime;	   /* seconds since the epoch */
	uint32_t mtime_ns; /* ... and nanoseconds, < MANIFEST_NS_MAX */
	uint64_t size;	   /* a file's bytes in the data stream; 0 for the other kinds */
	/* MANIFEST_SYMLINK: the target, 1..MANIFEST_PATH_MAX bytes; else NULL. */
	char *target;
	/* MANIFEST_HARDLINK: the path of the earlier file entry it names (the
	 * same rules as path); else NULL. */
	char *link;
	/* MANIFEST_FILE entries of version 2 listings (0 elsewhere, and in
	 * listings written before them): the file's ctime in nanoseconds since
	 * the epoch and its inode, which an incremental put compares. */
	int64_t ctime_ns;
	uint64_t inode;
};

struct manifest {
	/* 0 or MANIFEST_VERSION: entries inline (files, old directories);
	 * MANIFEST_VERSION_LISTED: a directory whose entries are in listing. */
	uint32_t version;
	enum manifest_kind kind;
	uint64_t size;
	uint32_t mode;
	int64_t mtime;
	uint32_t mtime_ns; /* < MANIFEST_NS_MAX */
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
	/* Version 2 only: the listing chunks in order, and how many entries
	 * they hold (1..MANIFEST_LISTED_MAX, or 0 with no chunk). */
	struct chunk_ref *listing;
	size_t nlisting;
	uint64_t entry_count;
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
 * n <= CHUNK_SIZE_MAX, version 1 (or 2 for a directory: no inline entries,
 * 0..MANIFEST_LISTS_MAX listing refs, at least one and at most entry_count
 * of them when entry_count (<= MANIFEST_LISTED_MAX) is not 0; version 1 has
 * neither), SHA-256, kind file or directory, mode <= 07777, mtime_ns <
 * MANIFEST_NS_MAX (entries' too), size >= 0; ids and keys exactly 32 bytes;
 * chunk sizes 1..CHUNK_SIZE_MAX; at most one of chunks/lists non-empty, within
 * their limits; inline sizes sum to size. A file has no entries. A directory
 * has at most MANIFEST_ENTRIES_MAX entries, each of kind file or directory
 * with mode <= 07777, a directory's size 0, a path of at most MANIFEST_PATH_MAX bytes
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

/*
 * Version 2 listings. A listing chunk is a run of records, each a varint
 * length (1..MANIFEST_RECORD_MAX) and that many bytes of DirEntry.
 */

/* Appends e's record to out. Returns 0, or SHOAL_EPROTO when e breaks the
 * entry rules of manifest_listing_check() (as a lone entry) or its record
 * would exceed MANIFEST_RECORD_MAX. */
int manifest_record_encode(const struct dir_entry *e, struct buf *out);

/* Room for one decoded entry's strings. */
struct manifest_record_store {
	char path[MANIFEST_PATH_MAX + 1];
	char target[MANIFEST_PATH_MAX + 1];
	char link[MANIFEST_PATH_MAX + 1];
};

/*
 * Decodes the record at *pos of p[0..n) into e, whose strings then point
 * into store (owned by the caller, valid until its next use), and advances
 * *pos past it. Checks the record's framing and the lone entry's rules
 * (kind, mode, mtime_ns, size, path, target, link), not its place in the
 * listing.
 * Returns 0, or SHOAL_EPROTO / SHOAL_ETOOBIG.
 */
int manifest_record_decode(const uint8_t *p, size_t n, size_t *pos, struct dir_entry *e,
			   struct manifest_record_store *store);

/*
 * Checks a listing entry by entry while keeping only the previous path: the
 * entries must come depth first, each directory's children sorted bytewise
 * by name (so paths are unique), every entry's parent the root or a
 * directory listed before it and still open in that order, at most
 * MANIFEST_LISTED_MAX of them.
 */
struct manifest_listing_check {
	char prev[MANIFEST_PATH_MAX + 1];
	size_t prev_len;
	int prev_dir; /* the previous entry is a directory */
	uint64_t count;
	uint64_t size; /* the files' bytes so far */
};

void manifest_listing_check_init(struct manifest_listing_check *c);
/* Checks the next entry (which passed the lone-entry rules). Returns 0 or
 * SHOAL_EPROTO / SHOAL_ETOOBIG. */
int manifest_listing_check(struct manifest_listing_check *c, const struct dir_entry *e);
/* After the last entry: SHOAL_EPROTO unless count entries of size file
 * bytes in all were listed. */
int manifest_listing_check_end(const struct manifest_listing_check *c, uint64_t count,
			       uint64_t size);

/* Serializes n refs (1..CHUNKLIST_MAX) as a ChunkList into out (appending). */
int chunklist_encode(const struct chunk_ref *refs, size_t n, struct buf *out);

/* Parses and validates a ChunkList: 1..CHUNKLIST_MAX refs, each valid as above.
 * On success *refs (caller frees with free()) and *count are set. */
int chunklist_decode(const uint8_t *p, size_t n, struct chunk_ref **refs, size_t *count);

#endif
