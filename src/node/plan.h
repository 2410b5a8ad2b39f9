/*
 * Repair's decisions, apart from the I/O that carries them out: given what
 * the members that are up answered to a Have query about a chunk (who holds
 * it, who keeps it for their own files, who came back after being lost),
 * how many copies it has, who acts on it, where new copies go and which copy
 * is surplus. Every node that sees the same answers decides the same, which
 * is what lets each act alone: exactly one node copies an under-replicated
 * chunk, and exactly one copy of a surplus goes at a time.
 *
 * Pure functions: no I/O, no clock, no locks; any thread.
 */
#ifndef SHOAL_NODE_PLAN_H
#define SHOAL_NODE_PLAN_H

#include <stddef.h>
#include <stdint.h>

#include "crypto/identity.h"
#include "crypto/seal.h"

#define PLAN_SELF ((size_t)-1)

/* One chunk as the members that are up see it. */
struct plan_view {
	const uint8_t *self;		     /* this node's id; it holds the chunk */
	const uint8_t (*peers)[NODE_ID_LEN]; /* the members up */
	size_t npeers;
	const uint8_t *holds;	 /* holds[p]: peer p has a copy */
	const uint8_t *keeps;	 /* keeps[p]: peer p needs it for its own files */
	const uint8_t *owns;	 /* owns[p]: peer p keeps it for an owner (may be NULL) */
	const uint8_t *returned; /* returned[p]: peer p came back after being lost */
	const uint8_t *pins;	 /* pins[p]: peer p pins the chunk here (may be NULL) */
	const uint8_t *chunk;	 /* CHUNK_ID_LEN bytes */
	unsigned want;		 /* copies wanted in all */
};

/* Copies that exist: this node's and every peer's that holds one. */
unsigned plan_copies(const struct plan_view *v);

/*
 * The copies repair keeps of the chunk: what was asked (v->want), at most
 * max (the config's replicas_max), and only while the chunk has an owner: a
 * holder keeps it for its own files or for a member pinning it there that was
 * up within repair_gone_days (it may be the owner, its machine lost): a peer
 * up answered so (keeps, owns), or owned says so of this node. A chunk kept
 * only for members gone longer, or by relays (a member up that copied it for
 * someone else), keeps the copies it has and is copied no further (0):
 * whoever stored it cannot make the network copy it for ever. Copies catch
 * up when an owner is back.
 */
unsigned plan_want(const struct plan_view *v, unsigned max, int owned);

/* The holder rendezvous hashing ranks first among this node and the peers
 * holding the chunk (ties: the smaller id): PLAN_SELF or a peer index. It
 * alone acts for an under-replicated chunk. */
size_t plan_lead(const struct plan_view *v);

/*
 * Where the missing copies of an under-replicated chunk go: the best-ranked
 * peers without one, as many as are missing (at most npeers), never a peer
 * that pins the chunk here: it is the chunk's owner (or placed it here), and
 * one that lacks it let its own copy go (its Unpin may still be on the way)
 * or, if it lost it, replaces it itself. Fills
 * targets[] with peer indices (room for npeers) using order[] (room for
 * npeers) as scratch; returns how many. 0 when this node is not the lead,
 * the chunk is not under-replicated, or no peer is left to take a copy.
 */
unsigned plan_targets(const struct plan_view *v, size_t *order, size_t *targets);

enum plan_surplus {
	PLAN_KEEP,	 /* nothing to let go (yet) */
	PLAN_DROP_SELF,	 /* this node lets its own copy go */
	PLAN_RELEASE_AT, /* the copy on peer *at goes: whoever placed it unpins it */
};

/*
 * For a chunk with more copies than wanted: which one copy goes. Only when a
 * peer that came back after being lost holds one (its copies were remade
 * while it was away). The copy that goes is the one on the holder ranked
 * last among those that keep it only for others (a holder whose own files
 * need it cannot let go); self_needs says whether this node's own files do.
 * order[] is scratch (room for npeers).
 */
enum plan_surplus plan_surplus(const struct plan_view *v, int self_needs, size_t *order,
			       size_t *at);

/*
 * Handing a chunk over before this node leaves (drain): its own copy counts
 * for nothing, so the others must hold what was asked (v->want, at least 1),
 * or a copy on every peer up when fewer are. *missing gets how many copies
 * the others lack (0: nothing held only here). Fills targets[] with every
 * peer that may take a copy, best-ranked first (as plan_targets() ranks
 * them; a peer pinning the chunk is never one), so that one refusing gives
 * way to the next; returns how many. order[] is scratch; both have room for
 * npeers.
 */
unsigned plan_handover(const struct plan_view *v, unsigned *missing, size_t *order,
		       size_t *targets);

#endif
