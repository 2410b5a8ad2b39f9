/*
 * Rendezvous hashing; see placement.h.
 */
#include "node/placement.h"

#include <stdlib.h>
#include <string.h>

#include "crypto/hash.h"

uint64_t placement_score(const uint8_t node[NODE_ID_LEN], const uint8_t chunk[CHUNK_ID_LEN])
{
	uint8_t in[NODE_ID_LEN + CHUNK_ID_LEN], out[32];
	memcpy(in, node, NODE_ID_LEN);
	memcpy(in + NODE_ID_LEN, chunk, CHUNK_ID_LEN);
	sha256(in, sizeof(in), out);
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v = v << 8 | out[i];
	return v;
}

void placement_rank(const uint8_t (*nodes)[NODE_ID_LEN], size_t n,
		    const uint8_t chunk[CHUNK_ID_LEN], size_t *order)
{
	uint64_t *score = malloc((n ? n : 1) * sizeof(*score));
	for (size_t i = 0; i < n; i++) {
		order[i] = i;
		if (score)
			score[i] = placement_score(nodes[i], chunk);
	}
	if (!score)
		return; /* unranked, still a valid order */
	/* Insertion sort: member lists are short. Ties go to the smaller id. */
	for (size_t i = 1; i < n; i++) {
		size_t k = order[i], j = i;
		while (j > 0 && (score[order[j - 1]] < score[k] ||
				 (score[order[j - 1]] == score[k] &&
				  memcmp(nodes[order[j - 1]], nodes[k], NODE_ID_LEN) > 0))) {
			order[j] = order[j - 1];
			j--;
		}
		order[j] = k;
	}
	free(score);
}
