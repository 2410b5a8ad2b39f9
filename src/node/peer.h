/*
 * The peer protocol's dispatcher: every frame a peer sends comes in here
 * and is routed, through one static table keyed by the Envelope's message
 * type, to the module that handles it (members.h, serve.h, catalog.h,
 * remote.h, trust.h, recovery.h). Each entry of the table names the message, its handler and
 * what it requires: whether it may come before Hello, whether only an
 * established member may send it, and how large a payload it may carry. The
 * per-link counters (struct link_counters in mesh.h) are kept here, and the
 * per-link limits of each kind of request are checked where its handler
 * admits it.
 *
 * Handlers borrow the envelope; a handler that keeps the payload takes it
 * through its out-parameter. The dispatcher frees what is left in one place,
 * and logs an unexpected message once per link. A frame the table refuses
 * (an unknown type, anything but Hello first, a second Hello, a payload
 * over its bound) closes the link with a PROTOCOL error; one from a link
 * that is not (or no longer) its member's established link is ignored.
 *
 * The dispatcher also owns the connection callbacks (peer_conn_ops): a
 * finished handshake goes to members, a closed link to remote (its calls
 * fail), members (its member goes down) and the mesh (the link is freed).
 *
 * Thread affinity: the loop thread only.
 */
#ifndef SHOAL_NODE_PEER_H
#define SHOAL_NODE_PEER_H

#include "net/conn.h"
#include "node/catalog.h"
#include "node/folder.h"
#include "node/members.h"
#include "node/mesh.h"
#include "node/recovery.h"
#include "node/remote.h"
#include "node/serve.h"
#include "node/trust.h"

/* The modules frames are routed to; all borrowed. */
struct peer {
	struct mesh *mesh;
	struct members *members;
	struct serve *serve;
	struct catalog *catalog;
	struct remote *remote;
	struct trust *trust;
	struct recovery *recovery;
	struct folders *folders;
};

/* Connection callbacks for every peer link: the conn's arg is the struct
 * peer, its user pointer (conn_set_user()) the struct link. */
extern const struct conn_ops peer_conn_ops;

enum peer_verdict {
	PEER_ROUTE,  /* hand it to its handler */
	PEER_IGNORE, /* drop it: the link is not its member's (it lost the race
		      * against another connection between the same nodes) */
	PEER_REFUSE, /* close the link with a PROTOCOL error */
};

/* What the table says of a frame of type msg_case carrying payload_len bytes
 * on l, given how far l got (Hello received, member). For PEER_REFUSE, *why
 * (may be NULL) says why, for the log line and the Error text. */
enum peer_verdict peer_admit(const struct link *l, int msg_case, size_t payload_len,
			     const char **why);

/* Routes one frame that arrived on l: takes env (and payload, freed here
 * unless a handler takes it). Returns the verdict acted on. */
enum peer_verdict peer_dispatch(struct peer *p, struct link *l, Shoal__Envelope *env,
				uint8_t *payload, size_t payload_len);

/* The name of a message type for log lines ("PutChunk"; "unknown"). */
const char *peer_msg_name(int msg_case);

#endif
