/*
 * Member candidates and the dial budget: what gossip may make a node do.
 *
 * A node id heard only in a Peers message is a candidate, not a member: it
 * takes no slot in the member table (mesh.h), is not saved in the index, is
 * not gossiped on, and is not shown by `shoal peers`. It becomes a member
 * only when a connection to it (or from it) completes the TLS handshake with
 * a certificate of the network whose key hashes to that id, and its Hello
 * (members.h). Until then it is a name and an address someone mentioned.
 *
 * The candidate list holds at most CANDIDATES_MAX entries. Each is charged
 * to the member whose Peers message first named it (its source), and one
 * source may hold at most CANDIDATES_PER_SOURCE of them: a source over its
 * budget can only replace one of its own entries, never push out what other
 * members told us. When the list is full, the entry that goes is the one
 * whose dials have failed most often, then the one heard of least recently;
 * one being dialled now is never evicted (a new id is dropped instead).
 * Hearing of a candidate again refreshes when it was heard and (only when the
 * report is fresher) its address; it never resets its backoff.
 *
 * Dialling: a candidate is dialled at most once per backoff period: at once
 * when first heard, then, after each failed dial, CANDIDATES_BACKOFF_MIN
 * doubling up to the caller's backoff_max, times a jitter factor in
 * [0.5, 1.5). Across every candidate (and every member not seen up since the
 * node started, see members.c) new dials spend tokens of one dial budget:
 * CANDIDATES_DIAL_RATE a second, at most CANDIDATES_DIAL_BURST saved up, and
 * of the entries due, the one due longest goes first. So a flood of gossiped
 * addresses costs at most CANDIDATES_DIAL_BURST dials at once and then
 * CANDIDATES_DIAL_RATE a second, however many ids it names.
 *
 * Why these numbers: 256 candidates is one whole Peers message
 * (WIRE_MEMBERS_MAX), more than a network Shoal is meant for tells a
 * newcomer at once. A budget of 64 per source keeps one member to a quarter
 * of the list; candidates leave it as they become members, so a larger
 * network still arrives, 64 at a time per member gossiping it. 4 dials a
 * second with a burst of 8 lets a small network mesh at once and a newcomer
 * to a few dozen nodes within seconds (members dial it too), while a node
 * never becomes a port scanner for someone else: a list full of dead
 * addresses is gone through about once a minute, never faster.
 *
 * Pure functions on the structs below: no I/O, no clock (now is passed in),
 * no randomness (the jitter factor is passed in), no locks. Their owner in
 * the daemon is the loop thread (struct mesh holds the list).
 */
#ifndef SHOAL_NODE_CANDIDATES_H
#define SHOAL_NODE_CANDIDATES_H

#include <stdint.h>

#include "crypto/identity.h"
#include "net/addr.h"

#define CANDIDATES_MAX	       256
#define CANDIDATES_PER_SOURCE  64
#define CANDIDATES_BACKOFF_MIN 1.0 /* seconds */
#define CANDIDATES_DIAL_RATE   4.0 /* new dials a second */
#define CANDIDATES_DIAL_BURST  8.0 /* dials that may go at once */

struct candidate {
	uint8_t id[NODE_ID_LEN];
	uint8_t source[NODE_ID_LEN]; /* the member that first named it */
	char addr[ADDR_MAX];
	int64_t last_seen; /* Unix seconds, as reported (never beyond our clock) */
	double heard;	   /* monotonic seconds it was last named */
	double next_dial;  /* not dialled before this */
	double backoff;	   /* 0 until a dial failed */
	unsigned failures; /* dials that ended without making it a member */
	uint64_t dial;	   /* the serial of the link dialling it now, 0 if none */
};

struct candidates {
	struct candidate list[CANDIDATES_MAX];
	unsigned count;
};

/* What candidates_heard() did with a gossiped id. */
enum candidate_news {
	CANDIDATE_ADDED,     /* a new candidate in a free slot */
	CANDIDATE_REPLACED,  /* a new candidate in place of an evicted one */
	CANDIDATE_REFRESHED, /* known already: heard and maybe address refreshed */
	CANDIDATE_DROPPED,   /* no room that this source may take */
};

void candidates_init(struct candidates *cs);

/* Whether a gossiped address may be dialled: a numeric IP:PORT. A node's
 * listen address is what it bound, so an honest one always is; a name would
 * be resolved on the loop, blocking it. */
int candidates_addr_ok(const char *addr);

/*
 * The member source named id at addr, last seen at last_seen (Unix seconds,
 * clamped by the caller to its clock). The caller has made sure id is
 * neither this node nor a member. An addr that candidates_addr_ok() refuses
 * is dropped; otherwise the budget and eviction rules above apply, and a new
 * candidate is due to be dialled at now.
 */
enum candidate_news candidates_heard(struct candidates *cs, const uint8_t id[NODE_ID_LEN],
				     const char *addr, int64_t last_seen,
				     const uint8_t source[NODE_ID_LEN], double now);

/* The candidate id, or NULL. The pointer is good until the next call that
 * adds or removes one. */
struct candidate *candidates_find(struct candidates *cs, const uint8_t id[NODE_ID_LEN]);

/* Forgets id (it became a member). Nothing happens when it is not listed. */
void candidates_remove(struct candidates *cs, const uint8_t id[NODE_ID_LEN]);

/* Of the candidates not being dialled and due at now, the one due longest,
 * or NULL. */
struct candidate *candidates_due(struct candidates *cs, double now);

/* The candidate that the link with this serial dials, or NULL (none: it
 * became a member meanwhile, or the link dials something else). */
struct candidate *candidates_dialled_by(struct candidates *cs, uint64_t serial);

/* A dial of c ended (or could not start) and c is still only a candidate:
 * one more failure, no dial in progress, and its next dial waits its backoff
 * (CANDIDATES_BACKOFF_MIN, doubling, at most backoff_max) times jitter. */
void candidate_failed(struct candidate *c, double now, double backoff_max, double jitter);

/* How many candidates were charged to source. */
unsigned candidates_of(const struct candidates *cs, const uint8_t source[NODE_ID_LEN]);

/*
 * The dial budget: a token bucket. Tokens accrue at rate a second up to
 * burst; each new dial takes one.
 */
struct dial_budget {
	double rate, burst;
	double tokens;
	double at;	/* monotonic seconds tokens was last brought up to date */
	uint64_t spent; /* dials made since the start */
};

/* A full budget at now. */
void dial_budget_init(struct dial_budget *b, double rate, double burst, double now);
/* Whether a token is there at now (nothing is taken). */
int dial_budget_ready(struct dial_budget *b, double now);
/* Takes a token at now: 1, or 0 when there is none. */
int dial_budget_take(struct dial_budget *b, double now);

#endif
