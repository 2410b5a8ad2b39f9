/*
 * A folder's journals on storage nodes: how a member coming back while every
 * other member is offline still learns what they changed.
 *
 * Each member of a folder with replicas keeps its own signed batches
 * (proto/folder.h) as one file, its journal: every batch as a 4-byte
 * big-endian length and the batch's bytes, in sequence order. The journal is
 * stored under the folder's convergence secret, like the folder's files, so
 * its chunks are ciphertext to every non-member, and a journal that only grew
 * at its end shares all but its last chunks with the one before. Its chunks
 * and those of the folder's files are kept in more copies than there are
 * members (repair places them on storage nodes).
 *
 * The journal's capability is sealed into a small pointer, published in the
 * network catalog under a name derived from the folder's secret
 * (folderjournal_name()), so the catalog reveals neither the folder id nor
 * anything a non-member can read:
 *
 *   salt (32 random bytes) || AES-256-GCM under HMAC-SHA256(journal key,
 *   "shoal folder pointer v1" || salt) of: the journal capability (64) ||
 *   its size (8) || the author's index id (8) || its last sequence number
 *   (8), big-endian, with the 16-byte tag
 *
 * A fresh salt gives every pointer its own key. A reader takes nothing from
 * a journal on trust: each batch is checked and chained as one from the
 * network (folder_batch_open()).
 */
#ifndef SHOAL_PROTO_FOLDERJOURNAL_H
#define SHOAL_PROTO_FOLDERJOURNAL_H

#include <stddef.h>
#include <stdint.h>

#include "proto/capability.h"
#include "proto/folder.h"
#include "util/buf.h"

#define FOLDERJOURNAL_NAME_PREFIX ".shoal-folder-"
#define FOLDERJOURNAL_NAME_MAX	  (sizeof(FOLDERJOURNAL_NAME_PREFIX) + 32)
#define FOLDERJOURNAL_SALT_LEN	  32
#define FOLDERJOURNAL_PLAIN_LEN	  (CHUNK_ID_LEN + CHUNK_KEY_LEN + 24)
#define FOLDERJOURNAL_POINTER_LEN (FOLDERJOURNAL_SALT_LEN + FOLDERJOURNAL_PLAIN_LEN + CHUNK_TAG_LEN)
#define FOLDERJOURNAL_MAX	  ((uint64_t)64 * 1024 * 1024) /* a journal's bytes */

/* What a pointer holds. */
struct folderjournal_pointer {
	struct capability journal;
	uint64_t size;	   /* the journal's bytes */
	uint64_t index_id; /* its author's index id */
	uint64_t last_seq; /* the last sequence number it holds */
};

/* The catalog name of the folder's journals (every member's: the catalog
 * tells them apart by owner): FOLDERJOURNAL_NAME_PREFIX and 26 base32
 * characters of an HMAC under the journal key. */
void folderjournal_name(const struct folder_keys *keys, char out[FOLDERJOURNAL_NAME_MAX]);

/* Seals p into out (FOLDERJOURNAL_POINTER_LEN bytes, appended). 0 or an
 * error of the random source or the cipher. */
int folderjournal_pointer_seal(const struct folder_keys *keys,
			       const struct folderjournal_pointer *p, struct buf *out);
/* Opens a pointer: 0, or SHOAL_EPROTO (wrong length, wrong key, tampered). */
int folderjournal_pointer_open(const struct folder_keys *keys, const uint8_t *data, size_t len,
			       struct folderjournal_pointer *out);

/* Appends one batch to a journal being built. */
void folderjournal_add(struct buf *journal, const uint8_t *batch, size_t len);
/* The batch at *off of journal[0..len): 1 with *batch, *batch_len set and
 * *off moved past it, 0 at the end, or SHOAL_EPROTO (a length past the end,
 * or past FOLDER_BATCH_MAX). */
int folderjournal_next(const uint8_t *journal, size_t len, size_t *off, const uint8_t **batch,
		       size_t *batch_len);

#endif
