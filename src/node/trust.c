/*
 * Revocation, leave and forget carried out; see trust.h.
 */
#include "node/trust.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "net/wire.h"
#include "util/clock.h"
#include "util/error.h"
#include "util/log.h"

void trust_init(struct trust *t, struct mesh *mesh, struct members *members,
		struct catalog *catalog, struct revocations *rv, struct ops *ops,
		struct store *store)
{
	memset(t, 0, sizeof(*t));
	t->mesh = mesh;
	t->members = members;
	t->catalog = catalog;
	t->rv = rv;
	t->ops = ops;
	t->store = store;
}

/* Whether l is past its handshake and can take a frame. */
static int link_open(const struct link *l)
{
	return l->authenticated && conn_ready(l->c);
}

/* ---- releasing what a revoked node pinned here ---- */

struct drop_job {
	struct ops_job job;
	struct store *s;
	uint8_t node[NODE_ID_LEN];
	int err;
};

static void drop_work(struct ops_job *oj, struct index *ix)
{
	struct drop_job *j = (struct drop_job *)oj;
	j->err = index_begin(ix);
	if (j->err)
		return;
	j->err = index_node_drop(ix, j->node);
	if (j->err)
		index_rollback(ix);
	else
		j->err = store_commit_releasing_ix(j->s, ix);
}

static void drop_done(struct ops_job *oj)
{
	struct drop_job *j = (struct drop_job *)oj;
	char sid[17];
	if (j->err)
		log_warnx("cannot release what revoked node %s pinned here: %s",
			  short_node_id(j->node, sid), shoal_strerror(j->err));
	else
		log_info("released what revoked node %s pinned here", short_node_id(j->node, sid));
	free(j);
}

static void release_pins(struct trust *t, const uint8_t node[NODE_ID_LEN])
{
	struct drop_job *j = calloc(1, sizeof(*j));
	if (!j)
		return;
	j->s = t->store;
	memcpy(j->node, node, NODE_ID_LEN);
	ops_submit(t->ops, OPS_BACKGROUND, &j->job, drop_work, drop_done);
}

/* ---- revocation ---- */

static void flood_revocation(struct trust *t, const struct revocation *r, struct link *from)
{
	Shoal__Envelope env = SHOAL__ENVELOPE__INIT;
	Shoal__Revocations msg = SHOAL__REVOCATIONS__INIT;
	Shoal__Revocation pb;
	Shoal__Revocation *ptr = &pb;
	revocation_to_pb(r, &pb);
	msg.n_list = 1;
	msg.list = &ptr;
	env.msg_case = SHOAL__ENVELOPE__MSG_REVOCATIONS;
	env.revocations = &msg;
	struct link *l;
	/* The revoked node too, before its links close: it stops dialling. */
	LIST_FOREACH(l, &t->mesh->links, entry)
	{
		if (l != from && link_open(l))
			link_send(l, &env);
	}
}

/* Closes every link to node (established, dialled or accepted). */
static void close_links(struct trust *t, const uint8_t node[NODE_ID_LEN])
{
	struct link *l;
	LIST_FOREACH(l, &t->mesh->links, entry)
	{
		if (l->authenticated && !memcmp(conn_peer_id(l->c), node, NODE_ID_LEN))
			conn_close(l->c, SHOAL_EIDENTITY, SHOAL__ERROR__CODE__REFUSED, "revoked");
	}
}

static void carry_out(struct trust *t, const struct revocation *r)
{
	char sid[17];
	if (!memcmp(r->node, t->mesh->self, NODE_ID_LEN)) {
		if (!t->self_revoked_logged)
			log_error("this node was revoked by the network's CA%s%s; members refuse "
				  "it, so it dials nobody any more",
				  r->reason[0] ? ": " : "", r->reason);
		t->self_revoked_logged = 1;
		t->members->left = MEMBERS_REVOKED;
		return;
	}
	log_warnx("node %s revoked by the network's CA%s%s", short_node_id(r->node, sid),
		  r->reason[0] ? ": " : "", r->reason);
	struct member *m = member_find(t->mesh, r->node);
	if (m)
		m->revoked = 1;
	candidates_remove(&t->mesh->candidates, r->node);
	close_links(t, r->node);
	catalog_drop_owner(t->catalog, r->node);
	release_pins(t, r->node);
}

int trust_revoke(struct trust *t, const struct revocation *r, struct link *from)
{
	int err = revocations_add(t->rv, r);
	if (err != 1)
		return err;
	flood_revocation(t, r, from);
	carry_out(t, r);
	return 1;
}

void trust_on_revocations(struct trust *t, struct link *l, const Shoal__Revocations *m)
{
	for (size_t i = 0; i < m->n_list; i++) {
		struct revocation r;
		int err = revocation_from_pb(m->list[i], &r);
		if (!err)
			err = trust_revoke(t, &r, l);
		if (err == SHOAL_EIDENTITY || err == SHOAL_EPROTO) {
			log_warnx("%s: sent a revocation not signed by this network's CA; "
				  "disconnecting",
				  conn_remote(l->c));
			conn_close(l->c, SHOAL_EPROTO, SHOAL__ERROR__CODE__PROTOCOL,
				   "revocation not signed by the CA");
			return;
		}
		if (err < 0)
			log_warnx("cannot keep a revocation: %s", shoal_strerror(err));
	}
}

/* ---- leave and forget ---- */

static void flood_forget(struct trust *t, uint8_t (*ids)[NODE_ID_LEN], size_t n, struct link *from)
{
	if (!n)
		return;
	ProtobufCBinaryData pb[WIRE_MEMBERS_MAX];
	for (size_t i = 0; i < n; i++) {
		pb[i].data = ids[i];
		pb[i].len = NODE_ID_LEN;
	}
	Shoal__Envelope env = SHOAL__ENVELOPE__INIT;
	Shoal__Forget f = SHOAL__FORGET__INIT;
	f.n_node_ids = n;
	f.node_ids = pb;
	env.msg_case = SHOAL__ENVELOPE__MSG_FORGET;
	env.forget = &f;
	struct link *l;
	LIST_FOREACH(l, &t->mesh->links, entry)
	{
		if (l != from && link_usable(l))
			link_send(l, &env);
	}
}

/* Removes m (down) from the table; the index forgets it at the next save. */
static void remove_member(struct trust *t, struct member *m)
{
	if (m->dialing) {
		conn_close(m->dialing->c, 0, 0, NULL);
		m->dialing = NULL;
	}
	candidates_remove(&t->mesh->candidates, m->id);
	member_remove(t->mesh, m);
	t->members->forgot = 1;
}

void trust_on_leave(struct trust *t, struct link *l)
{
	struct member *m = l->member;
	uint8_t id[1][NODE_ID_LEN];
	char sid[17];
	memcpy(id[0], m->id, NODE_ID_LEN);
	log_info("peer %s is leaving the network; forgetting it", short_node_id(m->id, sid));
	/* Down first (as if the link closed), then gone from the table. */
	l->member = NULL;
	m->link = NULL;
	m->state = MEMBER_DOWN;
	conn_close(l->c, 0, 0, NULL);
	remove_member(t, m);
	flood_forget(t, id, 1, l);
}

void trust_on_forget(struct trust *t, struct link *l, const Shoal__Forget *m)
{
	uint8_t(*gone)[NODE_ID_LEN] = calloc(m->n_node_ids, NODE_ID_LEN);
	size_t n = 0;
	char sid[17], fid[17];
	double now = monotonic_seconds();
	if (!gone)
		return;
	for (size_t i = 0; i < m->n_node_ids; i++) {
		struct member *x = member_find(t->mesh, m->node_ids[i].data);
		if (!x || x->state == MEMBER_UP || x->link)
			continue;
		if (member_standing(t->mesh, x, now, NULL) == STANDING_DOWN) {
			/* Its copies still count here: it goes once lost. */
			if (!x->forget_pending)
				log_info("member %s forgotten by %s; forgetting it here once it is "
					 "lost",
					 short_node_id(x->id, sid),
					 short_node_id(l->member->id, fid));
			x->forget_pending = 1;
			continue;
		}
		log_info("forgetting member %s (forgotten by %s)", short_node_id(x->id, sid),
			 short_node_id(l->member->id, fid));
		memcpy(gone[n++], x->id, NODE_ID_LEN);
		remove_member(t, x);
	}
	flood_forget(t, gone, n, l);
	free(gone);
}

void trust_tick(struct trust *t, double now)
{
	char sid[17];
	for (unsigned i = 0; i < t->mesh->nmembers;) {
		struct member *x = &t->mesh->members[i];
		if (x->forget_pending && x->state == MEMBER_UP)
			x->forget_pending = 0;
		if (!x->forget_pending || x->link ||
		    member_standing(t->mesh, x, now, NULL) == STANDING_DOWN) {
			i++;
			continue;
		}
		uint8_t id[1][NODE_ID_LEN];
		memcpy(id[0], x->id, NODE_ID_LEN);
		log_info("forgetting member %s, lost now", short_node_id(id[0], sid));
		remove_member(t, x); /* another member takes slot i: looked at next */
		flood_forget(t, id, 1, NULL);
	}
}

int trust_forget(struct trust *t, const uint8_t id[NODE_ID_LEN])
{
	struct member *m = member_find(t->mesh, id);
	uint8_t ids[1][NODE_ID_LEN];
	char sid[17];
	if (!m)
		return SHOAL_ENOTFOUND;
	if (m->state == MEMBER_UP || m->link)
		return -EBUSY;
	memcpy(ids[0], id, NODE_ID_LEN);
	log_info("forgetting member %s", short_node_id(id, sid));
	remove_member(t, m);
	flood_forget(t, ids, 1, NULL);
	return 0;
}

/* Says Leave to every member up and stops talking to anyone. */
static void say_leave(struct trust *t)
{
	Shoal__Envelope env = SHOAL__ENVELOPE__INIT;
	Shoal__Leave lv = SHOAL__LEAVE__INIT;
	env.msg_case = SHOAL__ENVELOPE__MSG_LEAVE;
	env.leave = &lv;
	struct link *l;
	LIST_FOREACH(l, &t->mesh->links, entry)
	{
		if (link_usable(l))
			link_send(l, &env);
	}
	t->members->left = MEMBERS_LEFT;
}

struct leave_job {
	struct ops_job job;
	struct trust *t;
	void (*done)(void *arg);
	void *arg;
	int err;
};

static void leave_work(struct ops_job *oj, struct index *ix)
{
	struct leave_job *j = (struct leave_job *)oj;
	j->err = index_begin(ix);
	if (j->err)
		return;
	j->err = index_pins_clear(ix);
	if (j->err)
		index_rollback(ix);
	else
		j->err = store_commit_releasing_ix(j->t->store, ix);
}

static void leave_done(struct ops_job *oj)
{
	struct leave_job *j = (struct leave_job *)oj;
	if (j->err)
		log_warnx("drain: cannot release the chunks kept for others: %s",
			  shoal_strerror(j->err));
	else
		log_info("drain: released the chunks kept here for others");
	say_leave(j->t);
	j->done(j->arg);
	free(j);
}

void trust_leave(struct trust *t, void (*done)(void *arg), void *arg)
{
	struct leave_job *j = calloc(1, sizeof(*j));
	if (!j) {
		say_leave(t);
		done(arg);
		return;
	}
	j->t = t;
	j->done = done;
	j->arg = arg;
	ops_submit(t->ops, OPS_BACKGROUND, &j->job, leave_work, leave_done);
}
