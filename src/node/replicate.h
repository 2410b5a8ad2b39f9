/*
 * Replicated put: the files_replica_ops a put through the daemon runs with.
 * Every chunk the put stores locally is also placed on `copies` other nodes,
 * the first ones rendezvous hashing ranks for that chunk among the members
 * that were up when the put began. Each holder is first asked to pin the
 * chunk (PutChunk pin_only), and sent the bytes only when it does not have
 * them. A holder that fails is replaced by the next one in the ranking. Up to
 * REPLICATE_WINDOW bytes (and REPLICATE_CHUNKS chunks) are in flight at once;
 * finish() waits for every ack and records where each chunk went (the
 * index's placed table, so removing the file later unpins those copies).
 *
 * Runs on the thread of the put (the operations queue's writer, ops.h),
 * through the callbacks files_put_path_report() makes; never on the loop.
 */
#ifndef SHOAL_NODE_REPLICATE_H
#define SHOAL_NODE_REPLICATE_H

#include <stdint.h>

#include "crypto/identity.h"
#include "node/remote.h"
#include "store/files.h"

#define REPLICATE_WINDOW ((size_t)16 * 1024 * 1024)
#define REPLICATE_CHUNKS 32

struct pchunk;

struct replicate {
	/* set by the caller */
	struct remote *remote;
	struct store *s;
	const uint8_t (*peers)[NODE_ID_LEN];
	size_t npeers;
	unsigned copies; /* other nodes per chunk now; at most npeers */
	/* The copies each chunk wants in all, more than copies + 1 when too few
	 * members are up: every holder records it (PutChunk's replicas), so
	 * whichever holder leads the chunk's repair makes the rest as members
	 * come up (plan.h). 0: copies + 1. */
	unsigned wanted;
	/* state and results */
	struct rqueue q;
	struct pchunk *chunks, *last;
	size_t inflight_bytes;
	unsigned inflight_chunks;
	uint64_t nchunks, sent, pinned;
	int err;
	char why[256];
};

/* Initialises r (its caller-set fields already filled) and ops for a put. */
void replicate_init(struct replicate *r, struct files_replica_ops *ops);
/* Frees what r holds (after the put returned). */
void replicate_release(struct replicate *r);

#endif
