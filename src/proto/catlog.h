/*
 * The catalog log: how a node keeps its copy of the network catalog on disk
 * (home/catalog.log), one record appended per change instead of the whole
 * catalog rewritten. The file is
 *
 *   CATLOG_MAGIC (16 bytes) || record || record || ...
 *   record = length (4 bytes big-endian, 1..CATLOG_PAYLOAD_MAX)
 *            || payload (a packed CatalogEntry) || check (the first 8 bytes
 *            of the SHA-256 of the payload)
 *
 * A later record for the same (owner, name) supersedes an earlier one, as its
 * entry is newer. A crash while appending leaves a torn last record: readers
 * keep the intact records before it and the writer truncates the tail. A
 * record whose check fails (a flipped bit) is skipped; one whose length
 * cannot be right ends the readable part. This module knows the framing
 * only, nothing of entries or files.
 */
#ifndef SHOAL_PROTO_CATLOG_H
#define SHOAL_PROTO_CATLOG_H

#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"

#define CATLOG_MAGIC	   "shoal catlog v1\n"
#define CATLOG_MAGIC_LEN   16
#define CATLOG_CHECK_LEN   8
#define CATLOG_PAYLOAD_MAX 8192
#define CATLOG_RECORD_MAX  (4 + CATLOG_PAYLOAD_MAX + CATLOG_CHECK_LEN)

/* Appends the record of payload[0..len) (len 1..CATLOG_PAYLOAD_MAX) to out
 * (which, as every buf, grows or aborts). Returns 0 or SHOAL_ETOOBIG (len out
 * of range; out unchanged). */
int catlog_append(struct buf *out, const uint8_t *payload, size_t len);

/* Called for each intact record; the payload is borrowed for the call. A
 * non-zero return stops the walk and is returned by catlog_parse(). */
typedef int (*catlog_fn)(const uint8_t *payload, size_t len, void *arg);

/* What catlog_parse() found. */
struct catlog_scan {
	size_t records; /* intact records passed to fn */
	size_t skipped; /* records whose check failed */
	size_t intact;	/* bytes from the start that a writer may keep: the
			 * magic and every whole record (0 without the magic) */
};

/*
 * Walks the log data[0..len): calls fn(payload, len, arg) for every intact
 * record in order and fills *scan. Returns 0 (a torn or unreadable tail
 * included: scan->intact says where it starts), SHOAL_EVERSION (no magic: not
 * a catalog log; scan->intact is 0), or fn's non-zero value.
 */
int catlog_parse(const uint8_t *data, size_t len, catlog_fn fn, void *arg,
		 struct catlog_scan *scan);

#endif
