/*
 * The peer protocol's dispatcher; see peer.h. To find where a message is
 * handled, read the table `routes` below.
 */
#include "node/peer.h"

#include <openssl/crypto.h>
#include <stdlib.h>

#include "net/wire.h"
#include "proto/manifest.h"
#include "util/clock.h"
#include "util/error.h"
#include "util/log.h"

/* What a route requires of the link. */
enum {
	BEFORE_HELLO = 1, /* may (and, Hello, must) come before the peer's Hello */
	MEMBER = 2,	  /* only on a member's established link */
};

/* A frame as a handler gets it: the envelope borrowed; the payload taken
 * by setting *payload to NULL. */
struct inbound {
	const Shoal__Envelope *env;
	uint8_t **payload;
	size_t payload_len;
};

/* Returns 1 when handled, 0 when the message was not expected (a reply to
 * no request of ours): the dispatcher logs that once per link. */
typedef int (*route_fn)(struct peer *p, struct link *l, struct inbound *in);

struct route {
	const char *name;
	route_fn fn;
	unsigned need;
	size_t payload_max; /* 0: none allowed */
};

/* Reasons logged at most once per link (bits of link_counters.warned). */
enum warn { WARN_IGNORED, WARN_UNEXPECTED };

/* ---- handlers: one line into the module that owns the message ---- */

static int on_hello(struct peer *p, struct link *l, struct inbound *in)
{
	const Shoal__Hello *h = in->env->hello;
	if (h->version != SHOAL__PROTOCOL_VERSION__PROTOCOL_VERSION_1) {
		log_warnx("%s: speaks protocol version %u, this node %u; disconnecting",
			  conn_remote(l->c), h->version,
			  (unsigned)SHOAL__PROTOCOL_VERSION__PROTOCOL_VERSION_1);
		conn_close(l->c, SHOAL_EVERSION, SHOAL__ERROR__CODE__VERSION,
			   "incompatible protocol version");
		return 1;
	}
	if (CRYPTO_memcmp(h->node_id.data, conn_peer_id(l->c), NODE_ID_LEN)) {
		log_warnx("%s: Hello names another node than its certificate; disconnecting",
			  conn_remote(l->c));
		conn_close(l->c, SHOAL_EPROTO, SHOAL__ERROR__CODE__PROTOCOL,
			   "node id does not match certificate");
		return 1;
	}
	l->hello_received = 1;
	if (members_on_hello(p->members, l, h)) {
		catalog_on_link_up(p->catalog, l);
		recovery_on_link_up(p->recovery, l);
		folder_on_link_up(p->folders, l);
	}
	return 1;
}

static int on_error(struct peer *p, struct link *l, struct inbound *in)
{
	const Shoal__Error *e = in->env->error;
	if (!l->hello_received) {
		/* Our Hello was refused (another version, say). */
		log_warnx("%s: peer refused us: %s", conn_remote(l->c), e->text);
		conn_close(l->c, SHOAL_EPROTO, 0, NULL);
		return 1;
	}
	if (remote_on_reply(p->remote, l, in->env, in->payload, in->payload_len))
		return 1;
	if (e->code == SHOAL__ERROR__CODE__PROTOCOL || e->code == SHOAL__ERROR__CODE__VERSION) {
		log_warnx("%s: peer refused us: %s", conn_remote(l->c), e->text);
		conn_close(l->c, SHOAL_EPROTO, 0, NULL);
	} else {
		log_debug("%s: peer reports error %d: %s", conn_remote(l->c), e->code, e->text);
	}
	return 1;
}

static int on_ping(struct peer *p, struct link *l, struct inbound *in)
{
	members_on_ping(p->members, l, in->env->ping);
	return 1;
}

static int on_pong(struct peer *p, struct link *l, struct inbound *in)
{
	members_on_pong(p->members, l, in->env->pong);
	return 1;
}

static int on_peers(struct peer *p, struct link *l, struct inbound *in)
{
	members_on_peers(p->members, l, in->env->peers);
	return 1;
}

static int on_get_chunk(struct peer *p, struct link *l, struct inbound *in)
{
	serve_on_get_chunk(p->serve, l, in->env->request_id, in->env->get_chunk);
	return 1;
}

static int on_put_chunk(struct peer *p, struct link *l, struct inbound *in)
{
	serve_on_put_chunk(p->serve, l, in->env->request_id, in->env->put_chunk, in->payload,
			   in->payload_len);
	return 1;
}

static int on_have(struct peer *p, struct link *l, struct inbound *in)
{
	serve_on_have(p->serve, l, in->env->request_id, in->env->have);
	return 1;
}

static int on_unpin(struct peer *p, struct link *l, struct inbound *in)
{
	serve_on_unpin(p->serve, l, in->env->unpin);
	return 1;
}

static int on_fetch(struct peer *p, struct link *l, struct inbound *in)
{
	serve_on_fetch(p->serve, l, in->env->request_id, in->env->fetch);
	return 1;
}

/* Chunk, PutAck, HaveReply, FetchDone: answers to our requests. */
static int on_reply(struct peer *p, struct link *l, struct inbound *in)
{
	return remote_on_reply(p->remote, l, in->env, in->payload, in->payload_len);
}

static int on_catalog(struct peer *p, struct link *l, struct inbound *in)
{
	catalog_on_frame(p->catalog, l, in->env);
	return 1;
}

static int on_revocations(struct peer *p, struct link *l, struct inbound *in)
{
	trust_on_revocations(p->trust, l, in->env->revocations);
	return 1;
}

static int on_leave(struct peer *p, struct link *l, struct inbound *in)
{
	(void)in;
	trust_on_leave(p->trust, l);
	return 1;
}

static int on_forget(struct peer *p, struct link *l, struct inbound *in)
{
	trust_on_forget(p->trust, l, in->env->forget);
	return 1;
}

/* A push (no request id) is a member placing its record; with an id, the
 * answer to a query of ours. */
static int on_recovery_record(struct peer *p, struct link *l, struct inbound *in)
{
	if (in->env->request_id)
		return remote_on_reply(p->remote, l, in->env, in->payload, in->payload_len);
	recovery_on_record(p->recovery, l, in->env->recovery_record);
	return 1;
}

static int on_recovery_query(struct peer *p, struct link *l, struct inbound *in)
{
	recovery_on_query(p->recovery, l, in->env->request_id, in->env->recovery_query);
	return 1;
}

static int on_folder_hello(struct peer *p, struct link *l, struct inbound *in)
{
	folder_on_hello(p->folders, l, in->env->folder_hello);
	return 1;
}

static int on_folder_batches(struct peer *p, struct link *l, struct inbound *in)
{
	folder_on_batches(p->folders, l, in->env->folder_batches, *in->payload, in->payload_len);
	return 1;
}

/* ---- the table ---- */

_Static_assert(SHOAL__ENVELOPE__MSG_FOLDER_BATCHES < MESH_MSG_MAX,
	       "every message number fits the table and the link counters");

static const struct route routes[MESH_MSG_MAX] = {
	[SHOAL__ENVELOPE__MSG_HELLO] = {"Hello", on_hello, BEFORE_HELLO, 0},
	[SHOAL__ENVELOPE__MSG_ERROR] = {"Error", on_error, BEFORE_HELLO, 0},
	[SHOAL__ENVELOPE__MSG_PING] = {"Ping", on_ping, MEMBER, 0},
	[SHOAL__ENVELOPE__MSG_PONG] = {"Pong", on_pong, MEMBER, 0},
	[SHOAL__ENVELOPE__MSG_PEERS] = {"Peers", on_peers, MEMBER, 0},
	[SHOAL__ENVELOPE__MSG_GET_CHUNK] = {"GetChunk", on_get_chunk, MEMBER, 0},
	[SHOAL__ENVELOPE__MSG_CHUNK] = {"Chunk", on_reply, MEMBER, OBJECT_SIZE_MAX},
	[SHOAL__ENVELOPE__MSG_PUT_CHUNK] = {"PutChunk", on_put_chunk, MEMBER, OBJECT_SIZE_MAX},
	[SHOAL__ENVELOPE__MSG_PUT_ACK] = {"PutAck", on_reply, MEMBER, 0},
	[SHOAL__ENVELOPE__MSG_HAVE] = {"Have", on_have, MEMBER, 0},
	[SHOAL__ENVELOPE__MSG_HAVE_REPLY] = {"HaveReply", on_reply, MEMBER, 0},
	[SHOAL__ENVELOPE__MSG_UNPIN] = {"Unpin", on_unpin, MEMBER, 0},
	[SHOAL__ENVELOPE__MSG_FETCH] = {"Fetch", on_fetch, MEMBER, 0},
	[SHOAL__ENVELOPE__MSG_FETCH_DONE] = {"FetchDone", on_reply, MEMBER, 0},
	[SHOAL__ENVELOPE__MSG_CATALOG_DELTA] = {"CatalogDelta", on_catalog, MEMBER, 0},
	[SHOAL__ENVELOPE__MSG_CATALOG_DIGEST] = {"CatalogDigest", on_catalog, MEMBER, 0},
	[SHOAL__ENVELOPE__MSG_CATALOG_REQUEST] = {"CatalogRequest", on_catalog, MEMBER, 0},
	[SHOAL__ENVELOPE__MSG_REVOCATIONS] = {"Revocations", on_revocations, BEFORE_HELLO, 0},
	[SHOAL__ENVELOPE__MSG_LEAVE] = {"Leave", on_leave, MEMBER, 0},
	[SHOAL__ENVELOPE__MSG_FORGET] = {"Forget", on_forget, MEMBER, 0},
	[SHOAL__ENVELOPE__MSG_RECOVERY_RECORD] = {"RecoveryRecord", on_recovery_record, MEMBER, 0},
	[SHOAL__ENVELOPE__MSG_RECOVERY_QUERY] = {"RecoveryQuery", on_recovery_query, MEMBER, 0},
	[SHOAL__ENVELOPE__MSG_FOLDER_HELLO] = {"FolderHello", on_folder_hello, MEMBER, 0},
	[SHOAL__ENVELOPE__MSG_FOLDER_BATCHES] = {"FolderBatches", on_folder_batches, MEMBER,
						 WIRE_FOLDER_PAYLOAD_MAX},
};

static const struct route *route_of(int msg_case)
{
	if (msg_case <= 0 || msg_case >= MESH_MSG_MAX || !routes[msg_case].fn)
		return NULL;
	return &routes[msg_case];
}

const char *peer_msg_name(int msg_case)
{
	const struct route *r = route_of(msg_case);
	return r ? r->name : "unknown";
}

enum peer_verdict peer_admit(const struct link *l, int msg_case, size_t payload_len,
			     const char **why)
{
	const struct route *r = route_of(msg_case);
	const char *reason = NULL;
	enum peer_verdict v = PEER_ROUTE;
	if (!r) {
		reason = "unknown message";
		v = PEER_REFUSE;
	} else if (!l->hello_received && !(r->need & BEFORE_HELLO)) {
		reason = "expected Hello";
		v = PEER_REFUSE;
	} else if (l->hello_received && msg_case == SHOAL__ENVELOPE__MSG_HELLO) {
		reason = "second Hello";
		v = PEER_REFUSE;
	} else if (l->hello_received && !l->member) {
		v = PEER_IGNORE;
	} else if (payload_len > r->payload_max) {
		reason = r->payload_max ? "payload too large" : "unexpected payload";
		v = PEER_REFUSE;
	}
	if (why)
		*why = reason;
	return v;
}

/* Whether reason w is news on l (then remembered). */
static int first_time(struct link *l, enum warn w)
{
	uint32_t bit = 1u << w;
	if (l->in.warned & bit)
		return 0;
	l->in.warned |= bit;
	return 1;
}

enum peer_verdict peer_dispatch(struct peer *p, struct link *l, Shoal__Envelope *env,
				uint8_t *payload, size_t payload_len)
{
	int mc = (int)env->msg_case;
	const char *why = NULL;
	enum peer_verdict v = peer_admit(l, mc, payload_len, &why);
	switch (v) {
	case PEER_REFUSE:
		log_warnx("%s: %s (%s); disconnecting", conn_remote(l->c), why, peer_msg_name(mc));
		conn_close(l->c, SHOAL_EPROTO, SHOAL__ERROR__CODE__PROTOCOL, why);
		break;
	case PEER_IGNORE:
		if (first_time(l, WARN_IGNORED))
			log_debug("%s: %s on a duplicate connection ignored", conn_remote(l->c),
				  peer_msg_name(mc));
		break;
	case PEER_ROUTE: {
		l->in.frames[mc]++;
		l->in.bytes += payload_len;
		if (l->member)
			l->member->last_heard = monotonic_seconds();
		struct inbound in = {env, &payload, payload_len};
		if (!route_of(mc)->fn(p, l, &in) && first_time(l, WARN_UNEXPECTED))
			log_debug("%s: %s answering no request of ours (late?) dropped",
				  conn_remote(l->c), peer_msg_name(mc));
		break;
	}
	}
	wire_free(env, NULL);
	free(payload);
	return v;
}

/* ---- connection callbacks ---- */

static void on_ready(struct conn *c, void *arg)
{
	struct peer *p = arg;
	members_on_ready(p->members, conn_user(c));
}

static void on_frame(struct conn *c, Shoal__Envelope *env, uint8_t *payload, size_t payload_len,
		     void *arg)
{
	peer_dispatch(arg, conn_user(c), env, payload, payload_len);
}

static void on_close(struct conn *c, int err, void *arg)
{
	struct peer *p = arg;
	struct link *l = conn_user(c);
	remote_link_closed(p->remote, l);
	members_on_close(p->members, l, err);
	link_free(p->mesh, l);
}

const struct conn_ops peer_conn_ops = {
	.on_ready = on_ready,
	.on_frame = on_frame,
	.on_close = on_close,
};
