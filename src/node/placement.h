/*
 * Placement: rendezvous (highest-random-weight) hashing. Every node scores
 * every chunk as the first 8 bytes of SHA-256(node id || chunk id), big
 * endian; a chunk's holders are the nodes with the highest scores. Any node
 * that knows the same members computes the same ranking, and a member coming
 * or going moves only the chunks it ranks for.
 *
 * Pure functions: any thread.
 */
#ifndef SHOAL_NODE_PLACEMENT_H
#define SHOAL_NODE_PLACEMENT_H

#include <stddef.h>
#include <stdint.h>

#include "crypto/identity.h"
#include "crypto/seal.h"

uint64_t placement_score(const uint8_t node[NODE_ID_LEN], const uint8_t chunk[CHUNK_ID_LEN]);

/* Fills order[0..n) with the indices of nodes[0..n), best first for chunk. */
void placement_rank(const uint8_t (*nodes)[NODE_ID_LEN], size_t n,
		    const uint8_t chunk[CHUNK_ID_LEN], size_t *order);

#endif
