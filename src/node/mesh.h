/*
 * The mesh: the node's connections (links) and the members it knows, with
 * what each module needs to find them and to write to them. It holds tables
 * and answers questions about them; it decides nothing. Membership (who is
 * up, dialling, Hello) is members.c's, the routing of frames peer.c's.
 *
 * Thread affinity: everything here, every field of every struct below
 * included, belongs to the loop thread. Workers never read a link or a
 * member; what they need (the ids of the members up, say) is copied out on
 * the loop when their job is made (mesh_up_ids()).
 *
 * Lifetime: a link lives from link_new() until its connection's on_close,
 * where link_free() ends it; work that finishes later finds it again by its
 * serial (link_find()), never by a pointer kept across the loop. A member
 * lives in the table until the node stops or, the table being full, its slot
 * is given to a newcomer (member_replace(): members.c decides whom); modules
 * key what they keep by node id, never by slot.
 *
 * The table holds members only: nodes that completed the TLS handshake and
 * Hello with this node, now or before (those saved in the index). Node ids
 * heard through gossip wait in the candidate list (candidates.h) until then.
 */
#ifndef SHOAL_NODE_MESH_H
#define SHOAL_NODE_MESH_H

#include <stdint.h>
#include <sys/queue.h>

#include "crypto/identity.h"
#include "net/addr.h"
#include "net/conn.h"
#include "node/candidates.h"
#include "node/config.h"
#include "store/index.h"

#define MESH_MEMBERS_MAX CONFIG_MEMBERS_MAX
/* Envelope message numbers are below this (proto/shoal.proto: 10..33). */
#define MESH_MSG_MAX 40

enum member_state { MEMBER_DOWN = 0, MEMBER_UP = 1 };

struct link;
struct bootstrap; /* members.c's */

struct member {
	uint8_t id[NODE_ID_LEN];
	char addr[ADDR_MAX];		 /* where it listens, "" if unknown */
	char nickname[NICKNAME_MAX + 1]; /* from its certificate, "" if none */
	int64_t last_seen;		 /* Unix seconds it was last up, 0 if never */
	struct link *link;		 /* the established connection, or NULL */
	struct link *dialing;		 /* an outbound attempt in progress, or NULL */
	enum member_state state;
	double last_heard; /* monotonic seconds of the last frame from it */
	double down_since; /* monotonic seconds it went down (or the node started) */
	int seen_up;	   /* up at some time since this node started */
	int returned;	   /* came back after being lost (down past the grace period) */
	double next_dial;
	double backoff;
	uint64_t ping_nonce;
	double ping_sent; /* 0 when no ping is outstanding */
	double last_ping; /* when the last ping went out */
	uint32_t rtt_us;
	int dirty; /* changed since last persisted */
	/* What it stores here (serve.c's ledger): the bytes it pins, as last
	 * counted in the index plus what it pushed since; pushed counts the
	 * bytes of its PutChunks admitted (less those that failed), and
	 * pushed_at_count what that was when the count began. */
	uint64_t pinned_bytes, pushed, pushed_at_count;
	double refused_logged; /* when a refusal of its chunks was last logged */
	int revoked;	       /* the network CA revoked it: never up again */
	int forget_pending;    /* a member forgot it: forgotten here too once lost */
};

/* How a member stands, for status and repair: up; down for less than the
 * grace period (its copies still count; repair waits); lost (down longer:
 * its copies are remade elsewhere); revoked (lost for good). */
enum member_standing { STANDING_UP, STANDING_DOWN, STANDING_LOST, STANDING_REVOKED };

/* What arrived on a link, for the dispatcher's admission checks and logs. */
struct link_counters {
	uint64_t frames[MESH_MSG_MAX]; /* by Envelope message number */
	uint64_t bytes;		       /* payload bytes */
	uint32_t warned;	       /* bit per reason, so each is logged once */
};

/* One connection and what the protocol knows of it. */
struct link {
	struct conn *c;
	uint64_t serial; /* stable handle for work finishing after a close */
	LIST_ENTRY(link) entry;
	struct member *member;	     /* set once Hello both ways made it a member's link */
	struct bootstrap *bootstrap; /* the bootstrap address it dials, or NULL */
	uint8_t expect[NODE_ID_LEN]; /* the id a dial was meant to reach */
	int has_expect;
	int authenticated;
	double ready_at; /* when the TLS handshake finished */
	int hello_received;
	/* requests of the peer's in progress here, bounded per link (serve.c) */
	unsigned serving;	/* GetChunk */
	unsigned storing;	/* PutChunk */
	uint64_t storing_bytes; /* ... and their payload bytes */
	unsigned looking;	/* Have */
	unsigned fetching;	/* Fetch */
	struct link_counters in;
	int gossip_warned; /* members.c logged that its gossip overflowed */
};

struct mesh {
	uint8_t self[NODE_ID_LEN];
	const struct config *cfg; /* borrowed for the mesh's life */
	LIST_HEAD(, link) links;
	unsigned nlinks;
	unsigned npending; /* links not yet authenticated */
	uint64_t next_serial;
	struct member members[MESH_MEMBERS_MAX]; /* cfg->max_members used */
	unsigned nmembers;
	struct candidates candidates; /* heard of through gossip, not members */
	struct dial_budget dials;     /* new dials: candidates, members not yet up */
};

void mesh_init(struct mesh *m, const uint8_t self[NODE_ID_LEN], const struct config *cfg);
/* Adds the members saved in the index (at start-up, on a connection no other
 * thread uses meanwhile); those with an unusable address are skipped.
 * Returns 0 or an index error. */
int mesh_load(struct mesh *m, struct index *ix);

/* A new, unauthenticated link (its connection not yet set); NULL when out of
 * memory. */
struct link *link_new(struct mesh *m);
/* Unlinks and frees l (its connection is the caller's to free or already
 * gone). */
void link_free(struct mesh *m, struct link *l);
/* The link with this serial, or NULL once it closed. */
struct link *link_find(struct mesh *m, uint64_t serial);
/* The TLS handshake of l finished: it no longer counts as pending. */
void link_authenticated(struct mesh *m, struct link *l);
/* Whether l is its member's established link and can take frames. */
int link_usable(const struct link *l);

/* Queues env on l (no payload); an envelope that cannot be encoded is logged
 * (a bug of ours, never the peer's) and dropped. Returns 0 or the error. */
int link_send(struct link *l, Shoal__Envelope *env);
/* Answers request_id on l with an Error frame. */
void link_send_error(struct link *l, uint64_t request_id, Shoal__Error__Code code,
		     const char *text);

struct member *member_find(struct mesh *m, const uint8_t id[NODE_ID_LEN]);
/* Adds a member (down, never seen) with addr (may be NULL). NULL when the
 * table is full (cfg->max_members) or id is this node's. */
struct member *member_add(struct mesh *m, const uint8_t id[NODE_ID_LEN], const char *addr);
/* Gives old's slot to a new member id (down, never seen) with addr (may be
 * NULL) and returns it. old must have no link and no dial in progress; what
 * other modules keep by old's id is theirs to let go. */
struct member *member_replace(struct mesh *m, struct member *old, const uint8_t id[NODE_ID_LEN],
			      const char *addr);
/* Removes mb from the table (forget, leave): it must have no link and no
 * dial in progress. Moves another member into its slot, so pointers to
 * members other than through links are stale afterwards. */
void member_remove(struct mesh *m, struct member *mb);
/* The established, usable link of member id, or NULL. */
struct link *member_link(struct mesh *m, const uint8_t id[NODE_ID_LEN]);

/* Copies the ids of the members that are up (at most max); returns how many.
 * returned (may be NULL) gets, for each, whether it came back after being
 * lost. */
size_t mesh_up_ids(const struct mesh *m, uint8_t (*out)[NODE_ID_LEN], uint8_t *returned,
		   size_t max);
/* mb's standing at now; *repair_in (may be NULL) gets, for a member down,
 * the seconds until it counts as lost, else 0. */
enum member_standing member_standing(const struct mesh *m, const struct member *mb, double now,
				     double *repair_in);
/* "up", "down", "lost", "revoked". */
const char *member_standing_name(enum member_standing s);
/* Members by standing; repair_in: the seconds until the first member down
 * counts as lost (0 when none is down). */
struct mesh_census {
	unsigned up, down, lost, revoked;
	double repair_in;
};
void mesh_census(const struct mesh *m, double now, struct mesh_census *c);
/* Members up, and the rest (down, lost or revoked). */
void mesh_counts(const struct mesh *m, unsigned *up, unsigned *down);
/* Copies the ids of the members down but seen up within the config's
 * repair_gone_days (at most max): those who may own what they pin here
 * (plan_want()). Returns how many. */
size_t mesh_gone_lately(const struct mesh *m, uint8_t (*out)[NODE_ID_LEN], size_t max);
/* Counts the members lost (down longer than cfg->grace_period: their copies
 * are remade elsewhere) or revoked, and those down for less (*waiting, may
 * be NULL). */
unsigned mesh_lost(const struct mesh *m, double now, unsigned *waiting);

/* The first 16 hex digits of a node id, for log lines. */
const char *short_node_id(const uint8_t id[NODE_ID_LEN], char out[17]);

#endif
