/*
 * Membership: Hello, keepalive, peer exchange, one connection per pair of
 * nodes, reconnection with backoff; see members.h.
 */
#include "node/members.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "net/frame.h"
#include "net/wire.h"
#include "util/clock.h"
#include "util/error.h"
#include "util/log.h"

#define BACKOFF_MIN   0.25
#define SAVE_INTERVAL 2.0

static double jitter(double seconds)
{
	uint32_t r = 0;
	if (getrandom(&r, sizeof(r), GRND_NONBLOCK) != sizeof(r))
		r = (uint32_t)rand();
	/* Uniform in [0.5, 1.5) x seconds. */
	return seconds * (0.5 + (double)r / 4294967296.0);
}

void members_init(struct members *ms, struct mesh *mesh, const struct config *cfg,
		  struct event_base *base, const struct conn_params *dial, struct ops *ops,
		  const char *listen_addr)
{
	memset(ms, 0, sizeof(*ms));
	ms->mesh = mesh;
	ms->cfg = cfg;
	ms->base = base;
	ms->dial = *dial;
	ms->ops = ops;
	ms->listen_addr = listen_addr;
	char copy[CONFIG_BOOTSTRAP_MAX];
	snprintf(copy, sizeof(copy), "%s", cfg->bootstrap);
	char *save = NULL;
	for (char *tok = strtok_r(copy, ",", &save); tok && ms->nbootstraps < MEMBERS_BOOTSTRAP_MAX;
	     tok = strtok_r(NULL, ",", &save)) {
		struct bootstrap *b = &ms->bootstraps[ms->nbootstraps++];
		snprintf(b->addr, sizeof(b->addr), "%s", tok);
	}
}

/* Dials addr; expect (may be NULL) is the id it must turn out to have. */
static struct link *dial(struct members *ms, const char *addr, const uint8_t *expect)
{
	struct link *l = link_new(ms->mesh);
	if (!l)
		return NULL;
	if (expect) {
		memcpy(l->expect, expect, NODE_ID_LEN);
		l->has_expect = 1;
	}
	l->c = conn_connect(ms->base, addr, &ms->dial);
	if (!l->c) {
		/* Unusable address: forget the link; the caller backs off. */
		link_free(ms->mesh, l);
		return NULL;
	}
	conn_set_user(l->c, l);
	return l;
}

/* ---- sending ---- */

static void send_hello(struct members *ms, struct link *l)
{
	Shoal__Envelope env = SHOAL__ENVELOPE__INIT;
	Shoal__Hello h = SHOAL__HELLO__INIT;
	h.version = SHOAL__PROTOCOL_VERSION__PROTOCOL_VERSION_1;
	h.node_id.data = ms->mesh->self;
	h.node_id.len = NODE_ID_LEN;
	h.listen_addr = (char *)ms->listen_addr;
	env.msg_case = SHOAL__ENVELOPE__MSG_HELLO;
	env.hello = &h;
	link_send(l, &env);
}

static void send_peers(struct members *ms, struct link *l)
{
	struct mesh *mesh = ms->mesh;
	Shoal__Member items[WIRE_MEMBERS_MAX];
	Shoal__Member *ptrs[WIRE_MEMBERS_MAX];
	size_t count = 0, bytes = 0;
	for (unsigned i = 0; i < mesh->nmembers && count < WIRE_MEMBERS_MAX; i++) {
		struct member *m = &mesh->members[i];
		if (!m->addr[0] || (l->member == m))
			continue;
		/* Stay well inside one frame header: an entry is the id, the
		 * address and a few bytes of tags and lengths. */
		bytes += NODE_ID_LEN + strlen(m->addr) + 24;
		if (bytes > FRAME_HEADER_MAX / 2)
			break;
		shoal__member__init(&items[count]);
		items[count].node_id.data = m->id;
		items[count].node_id.len = NODE_ID_LEN;
		items[count].addr = m->addr;
		items[count].last_seen = m->last_seen;
		ptrs[count] = &items[count];
		count++;
	}
	Shoal__Envelope env = SHOAL__ENVELOPE__INIT;
	Shoal__Peers p = SHOAL__PEERS__INIT;
	p.n_members = count;
	p.members = ptrs;
	env.msg_case = SHOAL__ENVELOPE__MSG_PEERS;
	env.peers = &p;
	link_send(l, &env);
}

static void send_ping(struct member *m, double now)
{
	Shoal__Envelope env = SHOAL__ENVELOPE__INIT;
	Shoal__Ping p = SHOAL__PING__INIT;
	m->ping_nonce++;
	p.nonce = m->ping_nonce;
	m->ping_sent = now;
	m->last_ping = now;
	env.msg_case = SHOAL__ENVELOPE__MSG_PING;
	env.ping = &p;
	link_send(m->link, &env);
}

/* ---- connection life ---- */

void members_on_ready(struct members *ms, struct link *l)
{
	const uint8_t *id = conn_peer_id(l->c);
	char sid[17], fid[17];
	link_authenticated(ms->mesh, l);
	if (!memcmp(id, ms->mesh->self, NODE_ID_LEN)) {
		/* A bootstrap or gossiped address that is this node. */
		if (l->bootstrap)
			l->bootstrap->self = 1;
		conn_close(l->c, 0, 0, NULL);
		return;
	}
	if (l->has_expect && CRYPTO_memcmp(id, l->expect, NODE_ID_LEN)) {
		log_warnx("%s: expected node %s but found %s; disconnecting", conn_remote(l->c),
			  short_node_id(l->expect, sid), short_node_id(id, fid));
		conn_close(l->c, SHOAL_EIDENTITY, 0, NULL);
		return;
	}
	send_hello(ms, l);
}

/* Which of two connections between this node and a peer survives: the one the
 * node with the smaller id initiated; between two from the same side, the newer
 * (the older is a leftover the initiator has already given up). Both nodes
 * compute the same answer, so they close the same connection. */
static int keep_new(struct members *ms, struct link *old, struct link *fresh)
{
	const uint8_t *peer = conn_peer_id(fresh->c);
	int self_smaller = memcmp(ms->mesh->self, peer, NODE_ID_LEN) < 0;
	int old_mine = conn_outbound(old->c), new_mine = conn_outbound(fresh->c);
	if (old_mine == new_mine)
		return 1;
	/* Keep the one initiated by the smaller id. */
	return self_smaller ? new_mine : !new_mine;
}

static void addr_from_hello(struct link *l, const char *listen, char *out, size_t size)
{
	out[0] = 0;
	if (!listen || !listen[0])
		return;
	/* A node listening on every interface advertises 0.0.0.0 or [::]; the
	 * address it reached us from is the best guess for the host part. */
	const char *colon = strrchr(listen, ':');
	if (!strncmp(listen, "0.0.0.0:", 8) || !strncmp(listen, "[::]:", 5)) {
		const char *host = conn_remote_host(l->c);
		if (strchr(host, ':'))
			snprintf(out, size, "[%s]%s", host, colon);
		else
			snprintf(out, size, "%s%s", host, colon);
	} else {
		snprintf(out, size, "%s", listen);
	}
	if (addr_check(out))
		out[0] = 0;
}

int members_on_hello(struct members *ms, struct link *l, const Shoal__Hello *h)
{
	struct mesh *mesh = ms->mesh;
	const uint8_t *id = conn_peer_id(l->c);
	char sid[17], addr[ADDR_MAX];
	addr_from_hello(l, h->listen_addr, addr, sizeof(addr));
	struct member *m = member_find(mesh, id);
	if (!m)
		m = member_add(mesh, id, addr);
	if (!m) {
		log_warnx("%s: member table full; disconnecting", conn_remote(l->c));
		conn_close(l->c, 0, SHOAL__ERROR__CODE__TOO_BUSY, "member table full");
		return 0;
	}
	if (l->bootstrap) {
		memcpy(l->bootstrap->id, id, NODE_ID_LEN);
		l->bootstrap->known = 1;
	}
	if (m->link) {
		if (!keep_new(ms, m->link, l)) {
			log_debug("%s: duplicate connection to %s closed", conn_remote(l->c),
				  short_node_id(id, sid));
			conn_close(l->c, 0, 0, NULL);
			return 0;
		}
		struct link *old = m->link;
		old->member = NULL;
		m->link = NULL;
		conn_close(old->c, 0, 0, NULL);
	}
	l->member = m;
	m->link = l;
	if (addr[0] && strcmp(m->addr, addr)) {
		snprintf(m->addr, sizeof(m->addr), "%s", addr);
		m->dirty = 1;
	}
	double now = monotonic_seconds();
	m->last_heard = now;
	m->ping_sent = 0;
	m->backoff = 0;
	m->last_seen = (int64_t)time(NULL);
	m->dirty = 1;
	if (m->state != MEMBER_UP) {
		/* Back after being lost: copies were remade meanwhile, so its own
		 * are the surplus to let go (repair.c). */
		if (m->seen_up && now - m->down_since >= ms->cfg->grace_period)
			m->returned = 1;
		m->state = MEMBER_UP;
		m->seen_up = 1;
		log_info("peer %s up at %s", short_node_id(id, sid), m->addr[0] ? m->addr : "?");
	}
	send_peers(ms, l);
	return 1;
}

static void member_down(struct member *m, const char *why)
{
	char sid[17];
	if (m->state == MEMBER_UP) {
		log_info("peer %s down: %s", short_node_id(m->id, sid), why);
		m->down_since = monotonic_seconds();
		/* Last seen up now, not when it came up (repair_gone_days). */
		m->last_seen = (int64_t)time(NULL);
		m->dirty = 1;
	}
	m->state = MEMBER_DOWN;
	m->link = NULL;
	m->ping_sent = 0;
	m->rtt_us = 0;
	m->backoff = BACKOFF_MIN;
	m->next_dial = monotonic_seconds() + jitter(m->backoff);
}

static void grow_backoff(double *backoff, double *next_dial, double max)
{
	*backoff = *backoff <= 0 ? BACKOFF_MIN : *backoff * 2;
	if (*backoff > max)
		*backoff = max;
	*next_dial = monotonic_seconds() + jitter(*backoff);
}

void members_on_close(struct members *ms, struct link *l, int err)
{
	struct mesh *mesh = ms->mesh;
	if (l->member && l->member->link == l)
		member_down(l->member, err ? shoal_strerror(err) : "connection closed");
	for (unsigned i = 0; i < mesh->nmembers; i++) {
		struct member *m = &mesh->members[i];
		if (m->dialing == l) {
			m->dialing = NULL;
			if (m->state != MEMBER_UP)
				grow_backoff(&m->backoff, &m->next_dial, ms->cfg->backoff_max);
		}
	}
	if (l->bootstrap && l->bootstrap->dialing == l) {
		l->bootstrap->dialing = NULL;
		grow_backoff(&l->bootstrap->backoff, &l->bootstrap->next_dial,
			     ms->cfg->backoff_max);
	}
}

/* ---- incoming frames ---- */

void members_on_ping(struct members *ms, struct link *l, const Shoal__Ping *p)
{
	(void)ms;
	Shoal__Envelope reply = SHOAL__ENVELOPE__INIT;
	Shoal__Pong pong = SHOAL__PONG__INIT;
	pong.nonce = p->nonce;
	reply.msg_case = SHOAL__ENVELOPE__MSG_PONG;
	reply.pong = &pong;
	link_send(l, &reply);
}

void members_on_pong(struct members *ms, struct link *l, const Shoal__Pong *p)
{
	(void)ms;
	struct member *m = l->member;
	if (m->ping_sent > 0 && p->nonce == m->ping_nonce) {
		m->rtt_us = (uint32_t)((monotonic_seconds() - m->ping_sent) * 1e6);
		m->ping_sent = 0;
	}
}

void members_on_peers(struct members *ms, struct link *l, const Shoal__Peers *p)
{
	(void)l;
	struct mesh *mesh = ms->mesh;
	for (size_t i = 0; i < p->n_members; i++) {
		const Shoal__Member *g = p->members[i];
		if (!memcmp(g->node_id.data, mesh->self, NODE_ID_LEN))
			continue;
		struct member *m = member_find(mesh, g->node_id.data);
		if (!m) {
			m = member_add(mesh, g->node_id.data, g->addr);
			if (!m)
				break;
			m->last_seen = g->last_seen;
			m->next_dial = monotonic_seconds();
			continue;
		}
		/* A down member may have moved; trust the fresher report. */
		if (m->state != MEMBER_UP && g->last_seen > m->last_seen &&
		    strcmp(m->addr, g->addr)) {
			snprintf(m->addr, sizeof(m->addr), "%s", g->addr);
			m->last_seen = g->last_seen;
			m->dirty = 1;
		}
	}
}

/* ---- the tick ---- */

struct save_job {
	struct ops_job job;
	struct members *ms;
	struct index_member *list;
	size_t count;
	int err;
};

static void save_work(struct ops_job *oj, struct index *ix)
{
	struct save_job *j = (struct save_job *)oj;
	j->err = index_begin(ix);
	for (size_t i = 0; !j->err && i < j->count; i++)
		j->err = index_member_set(ix, &j->list[i]);
	if (!j->err)
		j->err = index_commit(ix);
	else
		index_rollback(ix);
}

static void save_done(struct ops_job *oj)
{
	struct save_job *j = (struct save_job *)oj;
	if (j->err)
		log_warnx("cannot save known members: %s", shoal_strerror(j->err));
	j->ms->saving = 0;
	free(j->list);
	free(j);
}

/* Persists changed members on the writer (SQLite commits fsync). */
static void save_members(struct members *ms, double now)
{
	struct mesh *mesh = ms->mesh;
	if (ms->saving || now - ms->last_save < SAVE_INTERVAL)
		return;
	size_t dirty = 0;
	for (unsigned i = 0; i < mesh->nmembers; i++)
		dirty += mesh->members[i].dirty && mesh->members[i].addr[0];
	if (!dirty)
		return;
	struct save_job *j = calloc(1, sizeof(*j));
	if (!j || !(j->list = calloc(dirty, sizeof(*j->list)))) {
		free(j);
		return;
	}
	j->ms = ms;
	for (unsigned i = 0; i < mesh->nmembers; i++) {
		struct member *m = &mesh->members[i];
		if (!m->dirty || !m->addr[0])
			continue;
		memcpy(j->list[j->count].id, m->id, NODE_ID_LEN);
		snprintf(j->list[j->count].addr, sizeof(j->list[j->count].addr), "%s", m->addr);
		j->list[j->count].last_seen = m->last_seen;
		j->count++;
		m->dirty = 0;
	}
	ms->saving = 1;
	ms->last_save = now;
	ops_submit(ms->ops, OPS_BACKGROUND, &j->job, save_work, save_done);
}

static int bootstrap_satisfied(struct members *ms, struct bootstrap *b)
{
	if (b->self)
		return 1;
	if (!b->known)
		return 0;
	struct member *m = member_find(ms->mesh, b->id);
	return m && m->state == MEMBER_UP;
}

void members_tick(struct members *ms, double now)
{
	struct mesh *mesh = ms->mesh;
	const struct config *cfg = ms->cfg;
	char sid[17];
	/* An authenticated peer must say Hello promptly; one that stays silent
	 * (or stops halfway through a frame) holds a slot for nothing. */
	struct link *l;
	LIST_FOREACH(l, &mesh->links, entry)
	{
		if (l->authenticated && !l->hello_received && conn_ready(l->c) &&
		    now - l->ready_at > cfg->handshake_timeout) {
			log_warnx("%s: no Hello within %.1f s; disconnecting", conn_remote(l->c),
				  cfg->handshake_timeout);
			conn_close(l->c, -ETIMEDOUT, SHOAL__ERROR__CODE__PROTOCOL, "no Hello");
		}
	}
	for (unsigned i = 0; i < mesh->nmembers; i++) {
		struct member *m = &mesh->members[i];
		if (m->state == MEMBER_UP && m->link) {
			if (now - m->last_heard > cfg->peer_timeout) {
				log_warnx("peer %s silent for %.1f s; marking it down",
					  short_node_id(m->id, sid), now - m->last_heard);
				struct link *ml = m->link;
				member_down(m, "timed out");
				ml->member = NULL;
				conn_close(ml->c, -ETIMEDOUT, 0, NULL);
			} else if (m->ping_sent == 0 && now - m->last_heard >= cfg->ping_interval) {
				send_ping(m, now);
			} else if (m->ping_sent > 0 && now - m->ping_sent >= cfg->ping_interval) {
				send_ping(m, now);
			}
		} else if (!m->link && !m->dialing && m->addr[0] && now >= m->next_dial) {
			m->dialing = dial(ms, m->addr, m->id);
			if (!m->dialing)
				grow_backoff(&m->backoff, &m->next_dial, cfg->backoff_max);
		}
	}
	for (unsigned i = 0; i < ms->nbootstraps; i++) {
		struct bootstrap *b = &ms->bootstraps[i];
		if (b->dialing || bootstrap_satisfied(ms, b) || now < b->next_dial)
			continue;
		b->dialing = dial(ms, b->addr, NULL);
		if (b->dialing)
			b->dialing->bootstrap = b;
		else
			grow_backoff(&b->backoff, &b->next_dial, cfg->backoff_max);
	}
	if (now - ms->last_gossip >= cfg->gossip_interval) {
		ms->last_gossip = now;
		for (unsigned i = 0; i < mesh->nmembers; i++) {
			if (mesh->members[i].link)
				send_peers(ms, mesh->members[i].link);
		}
	}
	save_members(ms, now);
}
