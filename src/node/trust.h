/*
 * The network's word on who is a member, carried out: revocations (signed by
 * the CA, from a peer's Revocations or the CLI's `network revoke`), Leave (a
 * member draining away for good) and Forget (a member down that a node's
 * owner let go).
 *
 * A revocation accepted (revoke.h checks it against the CA and keeps it) is
 * carried out at once: every link to the node is closed and it is never
 * dialled or admitted again (members.c refuses it after the handshake); its
 * catalog entries go (catalog.c refuses new ones); what it pinned here is
 * released, with the placements and unpins this node had with it, on the
 * writer; it counts as lost, so repair replaces the copies it held; and the
 * revocation floods to every other link.
 *
 * Leave comes only from the leaving node itself, over its own link: it is
 * forgotten (removed from the table, its copies not counted as lost, since
 * it handed them over first) and Forget of it floods on. Forget from a member
 * removes those of its ids that are lost or revoked here too, and those
 * merely down once they are lost (until then their copies count here, so a
 * member cannot make others skip the grace period); a member up here is
 * plainly alive and stays. What was removed floods on, so each id crosses
 * each link at most once per forgetting. What a forgotten node
 * pinned here stays: it may be its owner's only way back to its files.
 *
 * Thread affinity: the loop thread (the release of pins runs on the writer).
 */
#ifndef SHOAL_NODE_TRUST_H
#define SHOAL_NODE_TRUST_H

#include "node/catalog.h"
#include "node/members.h"
#include "node/mesh.h"
#include "node/ops.h"
#include "node/revoke.h"
#include "store/store.h"

struct trust {
	struct mesh *mesh;
	struct members *members;
	struct catalog *catalog;
	struct revocations *rv;
	struct ops *ops;
	struct store *store;
	int self_revoked_logged;
};

/* Everything is borrowed for t's life. */
void trust_init(struct trust *t, struct mesh *mesh, struct members *members,
		struct catalog *catalog, struct revocations *rv, struct ops *ops,
		struct store *store);

/*
 * Accepts and carries out r, flooding it to every link but from's (may be
 * NULL). Returns 1 (new), 0 (known already), SHOAL_EIDENTITY (not signed by
 * the network's CA) or another error of keeping it.
 */
int trust_revoke(struct trust *t, const struct revocation *r, struct link *from);

/* A peer's Revocations (before Hello too). One that is not the CA's closes
 * the link: only a forger sends it. */
void trust_on_revocations(struct trust *t, struct link *l, const Shoal__Revocations *m);
/* l's member leaves the network (Leave). */
void trust_on_leave(struct trust *t, struct link *l);
/* A member forgot these ids (Forget). */
void trust_on_forget(struct trust *t, struct link *l, const Shoal__Forget *m);

/* Periodic: the members others forgot that are lost now are forgotten. */
void trust_tick(struct trust *t, double now);

/*
 * This node's owner forgets member id (shoal forget). Returns 0, or
 * SHOAL_ENOTFOUND (no such member) or -EBUSY (it is up).
 */
int trust_forget(struct trust *t, const uint8_t id[NODE_ID_LEN]);

/* At the end of a drain: releases every chunk this node kept for others
 * (they hold it as asked: repair's drain checked), then says Leave to every
 * member up and calls done(arg) on the loop. From then on the node dials
 * nobody and takes no new link. */
void trust_leave(struct trust *t, void (*done)(void *arg), void *arg);

#endif
