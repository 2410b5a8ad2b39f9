/*
 * Keeping copies: re-replication after members are lost, and the background
 * scrub.
 *
 * Repair. Every repair_interval, when no member is merely down (a member down
 * for less than grace_period may come back; one down longer is lost and its
 * copies no longer count), the node walks the chunks it stores that want more
 * than one copy (the index's copies table: what puts and pinners asked for)
 * and asks the members that are up which of them they hold (Have). A chunk
 * with fewer live copies than wanted is repaired by exactly one node: the
 * holder that rendezvous hashing ranks first among the live holders. It reads
 * its copy (checking the hash: a damaged copy is never spread), pushes it to
 * the best-ranked live members without one, and records the placements, so
 * that releasing the chunk later unpins them too. A chunk with more live
 * copies than wanted (a lost member came back after the new copies were
 * acknowledged, which means verified and durable) has one placement of the
 * lead holder's let go per scan. Copying is rate-limited (repair_rate) and
 * every decision is logged once.
 *
 * Scrub. Every second, the chunks after a cursor are re-hashed up to
 * scrub_rate MiB/s. A damaged object is moved out of the object tree (into
 * objects/bad/, so it is never served again), its row dropped, and a verified
 * copy fetched from another holder put in its place; one no reachable node
 * has is reported as unrecoverable. store_repair_chunk() is the same
 * replacement, used by `verify --repair` too.
 *
 * Both run on the thread of the store operations (between them, like any
 * other operation), so they never race with a put placing or releasing the
 * same copies.
 */
#ifndef SHOAL_NODE_REPAIR_H
#define SHOAL_NODE_REPAIR_H

#include <stdint.h>

#include "crypto/seal.h"
#include "node/node.h"

/* Health counters (see CtlStatus in proto/shoal.proto). Loop thread. */
struct repair_stats {
	uint64_t under_replicated;
	uint64_t repairing;
	uint64_t repaired;
	uint64_t corrupt_found;
	uint64_t corrupt_fixed;
	uint64_t unrecoverable;
	uint64_t scrubbed;
};

int repair_start(struct node *n);
void repair_free(struct node *n);
/* Every tick: starts a repair scan or a scrub slice when one is due. */
void repair_tick(struct node *n, double now);
/* The counters, for status. */
const struct repair_stats *repair_stats(const struct node *n);

/*
 * On the operations thread: replaces the local copy of chunk id (bad or
 * missing) by a verified copy from one of peers[0..npeers), moving a damaged
 * file aside first. Returns 0 (replaced), SHOAL_EMISSING (no peer had a good
 * copy), or another error.
 */
int repair_replace_chunk(struct node *n, struct store *s, struct index *ix,
			 const uint8_t (*peers)[NODE_ID_LEN], size_t npeers,
			 const uint8_t id[CHUNK_ID_LEN]);

/* Adds to the counters from any thread (posted to the loop). */
void repair_count(struct node *n, uint64_t corrupt_found, uint64_t corrupt_fixed,
		  uint64_t unrecoverable);

#endif
