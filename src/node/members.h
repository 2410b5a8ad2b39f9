/*
 * Membership: who the node's peers are and whether they are up. Hello both
 * ways makes a connection a member's link (one per pair of nodes: when both
 * dial at once, both ends keep the one the smaller id initiated); pings keep
 * it alive and measure the round trip; a member silent past peer_timeout is
 * marked down and dialled again with exponential backoff and jitter; peer
 * exchange (Peers) gossips the members each node knows; the bootstrap
 * addresses are dialled until they turn out to be members that are up (or
 * this node), with backoff; one that cannot be reached is logged at info
 * level, with when it is tried next, once a try. Changed members are saved
 * to the index every few seconds, on the operations queue's writer
 * (background lane).
 *
 * What gossip can do: a node id heard in Peers is only a candidate
 * (candidates.h); it is dialled, and becomes a member when the handshake and
 * Hello prove it, like a node that dials us. New dials (candidates, and
 * members remembered from the index but not up since the start) spend the
 * dial budget (candidates.h); members that have been up redial on their own
 * backoff. When the member table is full, a newcomer that proved itself
 * takes the slot of a member not up since the start (the one seen longest
 * ago), else of the member lost longest (down past grace_period); only when
 * every member is up or lately down is it refused. A forgotten member leaves
 * the index at the next save.
 *
 * Thread affinity: everything here runs on the loop thread. The frames come
 * from the dispatcher (peer.h); members.c never routes frames itself.
 */
#ifndef SHOAL_NODE_MEMBERS_H
#define SHOAL_NODE_MEMBERS_H

#include "net/conn.h"
#include "node/mesh.h"
#include "node/ops.h"
#include "node/revoke.h"

#define MEMBERS_BOOTSTRAP_MAX 32

/* A bootstrap address and what dialling it has found out. */
struct bootstrap {
	char addr[ADDR_MAX];
	struct link *dialing;
	uint8_t id[NODE_ID_LEN]; /* learnt once connected */
	int known;		 /* id is set */
	int self;		 /* it turned out to be this node */
	double next_dial;
	double backoff;
};

struct members {
	/* set by members_init() */
	struct mesh *mesh;
	const struct config *cfg;
	struct event_base *base;
	struct conn_params dial; /* how to dial: TLS context, ops, arg */
	struct ops *ops;
	const struct revocations *rv; /* sent first on every link; revoked ids refused */
	const char *listen_addr;      /* what our Hello says */
	/* state */
	struct bootstrap bootstraps[MEMBERS_BOOTSTRAP_MAX];
	unsigned nbootstraps;
	double last_gossip;
	double last_save;
	int saving;
	int forgot; /* a member was forgotten since the last save */
	/* this node said Leave (MEMBERS_LEFT) or learnt it was revoked
	 * (MEMBERS_REVOKED): it dials nobody and takes no link */
	enum { MEMBERS_IN, MEMBERS_LEFT, MEMBERS_REVOKED } left;
};

/* Sets up ms; everything is borrowed for ms's life (the members already in
 * the table that rv names are marked revoked). The bootstrap addresses
 * are cfg->bootstrap's. dial->arg is passed to the connection callbacks of
 * the links ms dials (the link itself is the connection's user pointer). */
void members_init(struct members *ms, struct mesh *mesh, const struct config *cfg,
		  struct event_base *base, const struct conn_params *dial, struct ops *ops,
		  const struct revocations *rv, const char *listen_addr);

/* l's TLS handshake finished: every revocation we know goes out first; then
 * a link to this node itself, to another id than the dial expected or to a
 * revoked node is closed; otherwise our Hello goes out. */
void members_on_ready(struct members *ms, struct link *l);

/* The peer's Hello arrived on l (its version and id already checked by the
 * dispatcher): makes l its member's link (the peer becomes a member if it
 * was not, no longer a candidate), or closes it (the member table is full of
 * members up or lately down, or it lost the race against another connection
 * between the same two nodes). Returns 1 when l is now a member's
 * established link. */
int members_on_hello(struct members *ms, struct link *l, const Shoal__Hello *h);

/* A member's Ping, Pong or Peers (l->member is set). */
void members_on_ping(struct members *ms, struct link *l, const Shoal__Ping *p);
void members_on_pong(struct members *ms, struct link *l, const Shoal__Pong *p);
/* Peers: ids not members become or refresh candidates, charged to l's
 * member; a down member's address follows a fresher report. */
void members_on_peers(struct members *ms, struct link *l, const Shoal__Peers *p);

/* l is closing (on_close): its member goes down, dials through it end. */
void members_on_close(struct members *ms, struct link *l, int err);

/* Submits the save of what changed now (at stop, before ops_stop(), which
 * runs it). */
void members_flush(struct members *ms);
/* Periodic: Hello deadlines, pings, timeouts, dialling, gossip, saving. */
void members_tick(struct members *ms, double now);

#endif
