/*
 * The control socket, home/ctl.sock (mode 0600): how the CLI talks to its
 * daemon, with the framing of the peer protocol and the control messages of
 * proto/shoal.proto. `peers` and `ls --network` are answered on the loop
 * (the member table and the catalog live there); `status`, `ls` and `versions` on the
 * operations queue's reader, so they never wait behind store work; put,
 * get, rm, prune, verify, send and locate run one at a time on its writer (ops.h),
 * which builds the whole reply and reports progress through the loop. A
 * client that disconnects cancels its operation; one operation per client
 * at a time.
 *
 * Thread affinity: ctl_start(), ctl_cancel() and ctl_stop() on the loop
 * thread. The operations run on the threads of the operations queue and
 * read only what they carry: the request, the ids of the members up when it
 * arrived, and the target as resolved on the loop.
 */
#ifndef SHOAL_NODE_CTL_H
#define SHOAL_NODE_CTL_H

#include <event2/event.h>

#include "node/catalog.h"
#include "node/folder.h"
#include "node/mesh.h"
#include "node/ops.h"
#include "node/recovery.h"
#include "node/remote.h"
#include "node/repair.h"
#include "node/trust.h"
#include "store/versions.h"

/* What the control socket works with; all borrowed for its life. */
struct ctl_env {
	const char *home;
	struct event_base *base;
	struct store *store;
	struct ops *ops;
	struct mesh *mesh;
	struct remote *remote;
	struct repair *repair;
	struct catalog *catalog;
	struct trust *trust;
	struct recovery *recovery;
	struct folders *folders;
	const char *listen_addr;
	const char *nickname;	    /* this node's, "" if none */
	int64_t cert_expires;	    /* Unix seconds this node's certificate expires */
	struct retention retention; /* the prune run after each put (none: keep all) */
	/* shoal drain: starts (or joins) the drain; node.c's */
	void (*drain)(void *arg);
	void *drain_arg;
};

struct ctl;

/* Creates home/ctl.sock (a socket left by a dead daemon is replaced: the
 * caller holds the store's lock) and listens. Returns 0 with *out set, or
 * -errno (logged). */
int ctl_start(struct ctl **out, const struct ctl_env *env);
/* Stops listening and asks every running operation to stop (its client
 * still gets its reply when it ends). */
void ctl_cancel(struct ctl *ctl);
/* Every second while a drain runs: progress to the clients waiting for it. */
void ctl_drain_tick(struct ctl *ctl);
/* The drain is over: the clients waiting for it get their final reply. */
void ctl_drained(struct ctl *ctl);
/* Drops the clients and frees ctl, after ops_stop(). NULL is fine. */
void ctl_stop(struct ctl *ctl);

#endif
