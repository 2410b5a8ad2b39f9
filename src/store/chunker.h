/*
 * Content-defined chunking, FastCDC style: a gear rolling hash over the bytes of the current
 * chunk, the first CHUNK_MIN bytes skipped without hashing, a stricter mask before CHUNK_AVG
 * and a looser one after it (normalized chunking), and a hard cut at CHUNK_MAX. Cut points
 * depend only on the bytes since the previous cut, so an edit changes only the chunks near it
 * and identical content cuts identically on every node. The chunker is incremental: it never
 * sees a whole file, only the current chunk's bytes as they arrive, and it remembers how far
 * it has looked so that the total work is linear in the input. The gear table and the masks
 * are fixed forever: changing either changes every boundary and defeats deduplication.
 */
#ifndef SHOAL_STORE_CHUNKER_H
#define SHOAL_STORE_CHUNKER_H

#include <stddef.h>
#include <stdint.h>

#define CHUNK_MIN ((size_t)256 * 1024)
#define CHUNK_AVG ((size_t)1024 * 1024)
#define CHUNK_MAX ((size_t)4 * 1024 * 1024)

/* State of the chunk being cut. Plain data: no allocation, nothing to release. */
struct chunker {
	size_t scanned; /* bytes of the current chunk already examined */
	uint64_t fp;	/* rolling fingerprint */
};

/* Starts a new chunk. Call before the first chunker_find() and after every cut. */
void chunker_reset(struct chunker *c);

/*
 * p points at the start of the current chunk and holds n bytes of it (n only grows between
 * calls for the same chunk; the caller appends data and calls again with the same p or a
 * copy of the same bytes). Returns the chunk's length once decided: a cut point in
 * [CHUNK_MIN, min(n, CHUNK_MAX)] chosen by content, or CHUNK_MAX if n >= CHUNK_MAX and no
 * cut was found, or n when eof is true and no cut was found (so the last chunk may be
 * shorter than CHUNK_MIN, and n == 0 at eof returns 0). Returns 0 when more data is needed
 * (n < CHUNK_MAX and !eof). Work already done is remembered in c, so calling again with
 * more data continues where it stopped (total work is linear). After a cut the caller
 * calls chunker_reset() and starts the next chunk at p + returned length.
 *
 * Only p[0..min(n, CHUNK_MAX)) is read, and p is not kept after the call. A cut is decided
 * by the bytes of the chunk alone, never by how they were split across calls, so feeding
 * the same bytes in any pieces gives the same chunks. Calling again after a non-zero return
 * without chunker_reset() is a caller error (the state then describes a decided chunk).
 */
size_t chunker_find(struct chunker *c, const uint8_t *p, size_t n, int eof);

#endif
