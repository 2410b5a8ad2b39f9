/*
 * The node's links and members; see mesh.h.
 */
#include "node/mesh.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util/clock.h"

_Static_assert(INDEX_NICKNAME_MAX == NICKNAME_MAX, "the index keeps whole nicknames");
#include "util/log.h"

void mesh_init(struct mesh *m, const uint8_t self[NODE_ID_LEN], const struct config *cfg)
{
	memset(m, 0, sizeof(*m));
	memcpy(m->self, self, NODE_ID_LEN);
	m->cfg = cfg;
	LIST_INIT(&m->links);
	candidates_init(&m->candidates);
	dial_budget_init(&m->dials, CANDIDATES_DIAL_RATE, CANDIDATES_DIAL_BURST,
			 monotonic_seconds());
}

static int load_one(const struct index_member *im, void *arg)
{
	struct mesh *m = arg;
	if (addr_check(im->addr))
		return 0;
	struct member *mb = member_add(m, im->id, im->addr);
	if (mb) {
		mb->last_seen = im->last_seen;
		snprintf(mb->nickname, sizeof(mb->nickname), "%s", im->nickname);
		mb->dirty = 0;
	}
	return 0;
}

int mesh_load(struct mesh *m, struct index *ix)
{
	return index_members_foreach(ix, load_one, m);
}

struct link *link_new(struct mesh *m)
{
	struct link *l = calloc(1, sizeof(*l));
	if (!l)
		return NULL;
	l->serial = ++m->next_serial;
	LIST_INSERT_HEAD(&m->links, l, entry);
	m->nlinks++;
	m->npending++;
	return l;
}

void link_free(struct mesh *m, struct link *l)
{
	LIST_REMOVE(l, entry);
	m->nlinks--;
	if (!l->authenticated)
		m->npending--;
	free(l);
}

struct link *link_find(struct mesh *m, uint64_t serial)
{
	struct link *l;
	LIST_FOREACH(l, &m->links, entry)
	{
		if (l->serial == serial)
			return l;
	}
	return NULL;
}

void link_authenticated(struct mesh *m, struct link *l)
{
	if (l->authenticated)
		return;
	l->authenticated = 1;
	l->ready_at = monotonic_seconds();
	m->npending--;
}

int link_usable(const struct link *l)
{
	return l && l->member && l->member->link == l && conn_ready(l->c);
}

int link_send(struct link *l, Shoal__Envelope *env)
{
	int err = conn_send(l->c, env, NULL, 0);
	if (err)
		log_warnx("%s: cannot encode a message (type %d)", conn_remote(l->c),
			  (int)env->msg_case);
	return err;
}

void link_send_error(struct link *l, uint64_t request_id, Shoal__Error__Code code, const char *text)
{
	Shoal__Envelope env = SHOAL__ENVELOPE__INIT;
	Shoal__Error e = SHOAL__ERROR__INIT;
	e.code = code;
	e.text = (char *)text;
	env.request_id = request_id;
	env.msg_case = SHOAL__ENVELOPE__MSG_ERROR;
	env.error = &e;
	link_send(l, &env);
}

struct member *member_find(struct mesh *m, const uint8_t id[NODE_ID_LEN])
{
	for (unsigned i = 0; i < m->nmembers; i++) {
		if (!memcmp(m->members[i].id, id, NODE_ID_LEN))
			return &m->members[i];
	}
	return NULL;
}

/* Makes mb a new member id (down, never seen) at addr (may be NULL). */
static void member_fill(struct member *mb, const uint8_t id[NODE_ID_LEN], const char *addr)
{
	memset(mb, 0, sizeof(*mb));
	mb->down_since = monotonic_seconds(); /* not seen up yet */
	memcpy(mb->id, id, NODE_ID_LEN);
	snprintf(mb->addr, sizeof(mb->addr), "%s", addr ? addr : "");
	mb->dirty = 1;
}

struct member *member_add(struct mesh *m, const uint8_t id[NODE_ID_LEN], const char *addr)
{
	unsigned max =
		m->cfg->max_members < MESH_MEMBERS_MAX ? m->cfg->max_members : MESH_MEMBERS_MAX;
	if (m->nmembers >= max || !memcmp(id, m->self, NODE_ID_LEN))
		return NULL;
	struct member *mb = &m->members[m->nmembers++];
	member_fill(mb, id, addr);
	return mb;
}

struct member *member_replace(struct mesh *m, struct member *old, const uint8_t id[NODE_ID_LEN],
			      const char *addr)
{
	(void)m;
	member_fill(old, id, addr);
	return old;
}

void member_remove(struct mesh *m, struct member *mb)
{
	struct member *last = &m->members[m->nmembers - 1];
	if (mb != last) {
		*mb = *last;
		if (mb->link)
			mb->link->member = mb;
	}
	m->nmembers--;
}

struct link *member_link(struct mesh *m, const uint8_t id[NODE_ID_LEN])
{
	struct member *mb = member_find(m, id);
	if (!mb || mb->state != MEMBER_UP || !link_usable(mb->link))
		return NULL;
	return mb->link;
}

size_t mesh_up_ids(const struct mesh *m, uint8_t (*out)[NODE_ID_LEN], uint8_t *returned, size_t max)
{
	size_t k = 0;
	for (unsigned i = 0; i < m->nmembers && k < max; i++) {
		const struct member *mb = &m->members[i];
		if (mb->state != MEMBER_UP || !mb->link)
			continue;
		if (returned)
			returned[k] = (uint8_t)mb->returned;
		memcpy(out[k++], mb->id, NODE_ID_LEN);
	}
	return k;
}

size_t mesh_gone_lately(const struct mesh *m, uint8_t (*out)[NODE_ID_LEN], size_t max)
{
	int64_t since = (int64_t)time(NULL) - (int64_t)(m->cfg->repair_gone_days * 86400);
	size_t n = 0;
	for (unsigned i = 0; i < m->nmembers && n < max; i++) {
		const struct member *mb = &m->members[i];
		if (mb->state != MEMBER_UP && !mb->revoked && mb->last_seen > since)
			memcpy(out[n++], mb->id, NODE_ID_LEN);
	}
	return n;
}

enum member_standing member_standing(const struct mesh *m, const struct member *mb, double now,
				     double *repair_in)
{
	if (repair_in)
		*repair_in = 0;
	if (mb->revoked)
		return STANDING_REVOKED;
	if (mb->state == MEMBER_UP)
		return STANDING_UP;
	double left = m->cfg->grace_period - (now - mb->down_since);
	if (left <= 0)
		return STANDING_LOST;
	if (repair_in)
		*repair_in = left;
	return STANDING_DOWN;
}

const char *member_standing_name(enum member_standing s)
{
	static const char *const names[] = {"up", "down", "lost", "revoked"};
	return names[s];
}

void mesh_census(const struct mesh *m, double now, struct mesh_census *c)
{
	memset(c, 0, sizeof(*c));
	for (unsigned i = 0; i < m->nmembers; i++) {
		double in;
		switch (member_standing(m, &m->members[i], now, &in)) {
		case STANDING_UP:
			c->up++;
			break;
		case STANDING_DOWN:
			c->down++;
			if (!c->repair_in || in < c->repair_in)
				c->repair_in = in;
			break;
		case STANDING_LOST:
			c->lost++;
			break;
		case STANDING_REVOKED:
			c->revoked++;
			break;
		}
	}
}

void mesh_counts(const struct mesh *m, unsigned *up, unsigned *down)
{
	struct mesh_census c;
	mesh_census(m, monotonic_seconds(), &c);
	*up = c.up;
	*down = c.down + c.lost + c.revoked;
}

unsigned mesh_lost(const struct mesh *m, double now, unsigned *waiting)
{
	struct mesh_census c;
	mesh_census(m, now, &c);
	if (waiting)
		*waiting = c.down;
	return c.lost + c.revoked;
}

const char *short_node_id(const uint8_t id[NODE_ID_LEN], char out[17])
{
	char full[NODE_ID_STR_LEN + 1];
	node_id_format(id, full);
	memcpy(out, full, 16);
	out[16] = 0;
	return out;
}
