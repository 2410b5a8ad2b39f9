/*
 * Keeping copies: re-replication after members are lost, and the background
 * scrub.
 *
 * Repair. Every repair_interval, when no member is merely down (a member down
 * for less than grace_period may come back; one down longer is lost and its
 * copies no longer count), a pass walks the chunks this node stores that
 * want more than one copy (the index's copies table: what puts and pinners
 * asked for), a batch at a time, and asks the members that are up which of
 * them they hold (Have). What to do with each chunk is plan.h's decision: an
 * under-replicated chunk is copied by its lead holder alone, which reads its
 * copy (checking the hash: a damaged copy is replaced first, never spread),
 * pushes it to the best-ranked live members without one, and records the
 * placements, so that releasing the chunk later unpins them too. A chunk
 * with more copies than wanted (a lost member came back after the new copies
 * were acknowledged, which means verified and durable) has one copy let go
 * per pass. A batch some member did not answer ends the pass: nothing is
 * decided on a partial view. Each chunk's decisions are logged once, at debug
 * level; a pass that copied, let go or found something ends with one info
 * line summing it up ("repair: scan of N chunks: K under-replicated, C copies
 * made (B MiB) to P members, S surplus released, U could not be copied"),
 * and a pass that found all well logs nothing. Of the per-chunk problems,
 * only a damaged or unreadable local copy is a warning, once per chunk.
 *
 * Scrub. Every second, the chunks after a cursor are re-hashed up to
 * scrub_rate MiB/s. A damaged object is moved out of the object tree (into
 * objects/bad/, so it is never served again), its row dropped, and a
 * verified copy fetched from another holder put in its place; one no
 * reachable node has is reported as unrecoverable. repair_replace_chunk() is
 * the same replacement, used by the CLI's get and `verify --repair` too.
 *
 * Both run on the operations queue's writer, background lane (ops.h), in
 * slices: a repair slice copies at most repair_rate x REPAIR_SLICE bytes
 * before it returns, and the next slice starts when the copying rate allows
 * it, so a CLI operation waiting for the writer waits for one slice at most,
 * and repair never races a put placing or releasing the same copies.
 *
 * Thread affinity: repair_start(), repair_tick(), repair_stats() and
 * repair_free() on the loop thread; repair_replace_chunk() on a thread of
 * the operations queue; repair_count() on any thread. Slices read nothing of
 * struct repair but what their job carries (the ids of the members up, the
 * cursor, the budget) and the `logged` table, which only the writer touches.
 */
#ifndef SHOAL_NODE_REPAIR_H
#define SHOAL_NODE_REPAIR_H

#include <event2/event.h>
#include <stdint.h>

#include "crypto/seal.h"
#include "node/mesh.h"
#include "node/ops.h"
#include "node/remote.h"

/* Seconds of copying (at repair_rate) one repair slice does at most. */
#define REPAIR_SLICE 0.5

/* Health counters (see CtlStatus in proto/shoal.proto). Loop thread. */
struct repair_stats {
	uint64_t under_replicated;
	uint64_t repairing;
	uint64_t repaired;
	uint64_t corrupt_found;
	uint64_t corrupt_fixed;
	uint64_t unrecoverable;
	uint64_t scrubbed;
	/* drain: under way; chunks of the pass in progress the others already
	 * hold as asked, of the chunks stored here */
	int draining;
	uint64_t drain_done, drain_total;
};

struct repair;

/* Sets up repair for the store s of the node with id self; everything is
 * borrowed for its life. base times the slices; lw posts repair_count()'s
 * news to the loop. Returns 0 with *out set, or -ENOMEM. */
int repair_start(struct repair **out, const uint8_t self[NODE_ID_LEN], struct store *s,
		 struct mesh *mesh, struct ops *ops, struct remote *remote, struct event_base *base,
		 struct loopwork *lw);
/* After ops_stop() (no slice may still run). NULL is fine. */
void repair_free(struct repair *rp);
/* Every tick: starts a repair pass, its next slice, or a scrub slice when one
 * is due. */
void repair_tick(struct repair *rp, double now);
/*
 * Starts the drain (shoal drain: this node leaves the network for good):
 * from now on every pass is a drain pass, which walks every chunk stored
 * here, asks the members up which they hold, and pushes each chunk the
 * others lack (this node's own copy counting for nothing) to the
 * best-ranked members without it, as many as the puts and pinners asked
 * for (replicas_max at most; every member up when fewer are up). Passes
 * follow each other at most DRAIN_INTERVAL apart, at repair_rate, and wait
 * for no member down. Once a whole pass finds nothing held only here,
 * drained(arg) is called on the loop thread, once. Loop thread.
 */
void repair_drain(struct repair *rp, void (*drained)(void *arg), void *arg);

/* The counters, for status. */
const struct repair_stats *repair_stats(const struct repair *rp);

/*
 * On a thread of the operations queue, with its index connection ix: replaces
 * the local copy of chunk id (bad or missing) by a verified copy from one of
 * peers[0..npeers), moving a damaged file aside first. Returns 0 (replaced,
 * or intact after all), SHOAL_EMISSING (no peer had a good copy), or another
 * error.
 */
int repair_replace_chunk(struct remote *remote, struct store *s, struct index *ix,
			 const uint8_t (*peers)[NODE_ID_LEN], size_t npeers,
			 const uint8_t id[CHUNK_ID_LEN]);

/* Adds to the counters from any thread (posted to the loop). */
void repair_count(struct repair *rp, uint64_t corrupt_found, uint64_t corrupt_fixed,
		  uint64_t unrecoverable);

#endif
