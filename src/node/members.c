/*
 * Membership: Hello, keepalive, peer exchange, one connection per pair of
 * nodes, reconnection with backoff; see members.h.
 */
#include "node/members.h"

#include <ctype.h>
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
		  const struct revocations *rv, const char *listen_addr)
{
	memset(ms, 0, sizeof(*ms));
	ms->mesh = mesh;
	ms->rv = rv;
	for (unsigned i = 0; i < mesh->nmembers; i++)
		mesh->members[i].revoked = revocations_find(rv, mesh->members[i].id) != NULL;
	if (revocations_find(rv, mesh->self)) {
		log_error("this node was revoked by the network's CA; members refuse it, so it "
			  "dials nobody");
		ms->left = MEMBERS_REVOKED;
	}
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
		/* Only members seen up since the start: one merely remembered
		 * may be what an older version took from gossip. */
		if (!m->addr[0] || !m->seen_up || l->member == m)
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

/* Every revocation we know, before anything else: a node that was away
 * learns them from the first member it meets. */
static void send_revocations(struct members *ms, struct link *l)
{
	Shoal__Revocation pbs[REVOCATIONS_PER_FRAME];
	Shoal__Revocation *ptrs[REVOCATIONS_PER_FRAME];
	for (size_t from = 0; from < ms->rv->count;) {
		Shoal__Envelope env = SHOAL__ENVELOPE__INIT;
		Shoal__Revocations msg;
		from += revocations_frame(ms->rv, from, &env, &msg, pbs, ptrs);
		link_send(l, &env);
	}
}

/* ---- connection life ---- */

void members_on_ready(struct members *ms, struct link *l)
{
	const uint8_t *id = conn_peer_id(l->c);
	char sid[17], fid[17];
	link_authenticated(ms->mesh, l);
	if (ms->left) {
		conn_close(l->c, 0, SHOAL__ERROR__CODE__REFUSED,
			   ms->left == MEMBERS_REVOKED ? "this node was revoked"
						       : "this node left the network");
		return;
	}
	send_revocations(ms, l);
	const struct revocation *r = revocations_find(ms->rv, id);
	if (r) {
		log_info("%s: node %s was revoked%s%s; refusing it", conn_remote(l->c),
			 short_node_id(id, sid), r->reason[0] ? ": " : "", r->reason);
		conn_close(l->c, SHOAL_EIDENTITY, SHOAL__ERROR__CODE__REFUSED, "revoked");
		return;
	}
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

/* The member to forget for a newcomer when the table is full: one down,
 * with no connection and no dial in progress; of those, first one not seen
 * up since this node started (remembered from the index: the one seen
 * longest ago), else the one down longest, if it is lost (down past
 * grace_period). NULL when every member is up, being dialled or only lately
 * down: the table is full of members that count. */
static struct member *least_valuable(struct members *ms, double now)
{
	struct mesh *mesh = ms->mesh;
	struct member *never = NULL, *lost = NULL;
	for (unsigned i = 0; i < mesh->nmembers; i++) {
		struct member *m = &mesh->members[i];
		if (m->state == MEMBER_UP || m->link || m->dialing)
			continue;
		if (!m->seen_up) {
			if (!never || m->last_seen < never->last_seen)
				never = m;
		} else if (m->revoked || now - m->down_since >= ms->cfg->grace_period) {
			if (!lost || m->down_since < lost->down_since)
				lost = m;
		}
	}
	return never ? never : lost;
}

/* The member id, which has just proved who it is (TLS and Hello): found in
 * the table, or added, or given the slot of the least valuable member when
 * the table is full. No longer a candidate either way. NULL when there is
 * no room (or id is this node's). */
static struct member *admit(struct members *ms, const uint8_t id[NODE_ID_LEN], const char *addr)
{
	struct mesh *mesh = ms->mesh;
	char sid[17], oid[17];
	struct member *m = member_find(mesh, id);
	if (!m)
		m = member_add(mesh, id, addr);
	if (!m && memcmp(id, mesh->self, NODE_ID_LEN)) {
		struct member *old = least_valuable(ms, monotonic_seconds());
		if (!old)
			return NULL;
		log_info("member table full: forgetting %s (%s) to make room for %s",
			 short_node_id(old->id, oid), old->seen_up ? "lost" : "not up since start",
			 short_node_id(id, sid));
		m = member_replace(mesh, old, id, addr);
		/* The index forgets it at the next save. */
		ms->forgot = 1;
	}
	if (m)
		candidates_remove(&mesh->candidates, id);
	return m;
}

int members_on_hello(struct members *ms, struct link *l, const Shoal__Hello *h)
{
	const uint8_t *id = conn_peer_id(l->c);
	char sid[17], addr[ADDR_MAX];
	addr_from_hello(l, h->listen_addr, addr, sizeof(addr));
	struct member *m = admit(ms, id, addr);
	if (!m) {
		log_warnx("%s: member table full of members up or lately down; disconnecting",
			  conn_remote(l->c));
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
	/* The CA put it in the certificate: nobody else can claim it. */
	char nick[NICKNAME_MAX + 1];
	identity_cert_nickname(conn_peer_cert(l->c), nick);
	if (strcmp(m->nickname, nick)) {
		memcpy(m->nickname, nick, sizeof(nick));
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

/* Backs off from bootstrap b after a failed dial and says when the next try
 * is, once a try (the backoff grows): at info level when the address cannot
 * be reached (unreachable), a dead bootstrap being the operator's to fix but
 * no fault of this node; else at debug level, the failed handshake having
 * been logged where it failed (net/conn.c). */
static void bootstrap_failed(struct members *ms, struct bootstrap *b, int unreachable,
			     const char *reason)
{
	grow_backoff(&b->backoff, &b->next_dial, ms->cfg->backoff_max);
	double in = b->next_dial - monotonic_seconds();
	char why[128];
	snprintf(why, sizeof(why), "%s", reason);
	why[0] = (char)tolower((unsigned char)why[0]);
	if (unreachable)
		log_info("bootstrap %s unreachable (%s); retrying in %.*f s", b->addr, why,
			 in < 1 ? 1 : 0, in);
	else
		log_debug("bootstrap %s failed (%s); retrying in %.*f s", b->addr, why,
			  in < 1 ? 1 : 0, in);
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
	struct candidate *c = candidates_dialled_by(&mesh->candidates, l->serial);
	if (c)
		candidate_failed(c, monotonic_seconds(), ms->cfg->backoff_max, jitter(1.0));
	if (l->bootstrap && l->bootstrap->dialing == l) {
		l->bootstrap->dialing = NULL;
		if (l->authenticated)
			grow_backoff(&l->bootstrap->backoff, &l->bootstrap->next_dial,
				     ms->cfg->backoff_max);
		else
			bootstrap_failed(ms, l->bootstrap, err < 0 && err > SHOAL_EBASE,
					 err ? shoal_strerror(err) : "closed during the handshake");
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
	struct mesh *mesh = ms->mesh;
	double now = monotonic_seconds();
	int64_t wall = (int64_t)time(NULL);
	unsigned replaced = 0;
	for (size_t i = 0; i < p->n_members; i++) {
		const Shoal__Member *g = p->members[i];
		const uint8_t *id = g->node_id.data;
		if (!memcmp(id, mesh->self, NODE_ID_LEN))
			continue;
		/* No peer's clock is trusted beyond ours. */
		int64_t last_seen = g->last_seen < wall ? g->last_seen : wall;
		struct member *m = member_find(mesh, id);
		if (!m) {
			/* Only a handshake makes a member (members_on_hello()). */
			replaced += candidates_heard(&mesh->candidates, id, g->addr, last_seen,
						     l->member->id, now) == CANDIDATE_REPLACED;
			continue;
		}
		/* A down member may have moved; trust the fresher report. */
		if (m->state != MEMBER_UP && last_seen > m->last_seen && strcmp(m->addr, g->addr) &&
		    candidates_addr_ok(g->addr)) {
			snprintf(m->addr, sizeof(m->addr), "%s", g->addr);
			m->last_seen = last_seen;
			m->dirty = 1;
		}
	}
	if (replaced && !l->gossip_warned) {
		char sid[17];
		l->gossip_warned = 1;
		log_warnx("peer %s gossips more new nodes than fit (%u candidates per member, %u "
			  "in all); older candidates make room",
			  short_node_id(l->member->id, sid), CANDIDATES_PER_SOURCE, CANDIDATES_MAX);
	}
}

/* ---- the tick ---- */

struct save_job {
	struct ops_job job;
	struct members *ms;
	struct index_member *list; /* changed members */
	size_t count;
	uint8_t (*keep)[NODE_ID_LEN]; /* when members were forgotten: every member, else NULL */
	size_t nkeep;
	int err;
};

static void save_work(struct ops_job *oj, struct index *ix)
{
	struct save_job *j = (struct save_job *)oj;
	j->err = index_begin(ix);
	for (size_t i = 0; !j->err && i < j->count; i++)
		j->err = index_member_set(ix, &j->list[i]);
	if (!j->err && j->keep)
		j->err = index_members_retain(ix, (const uint8_t(*)[32])j->keep, j->nkeep);
	if (!j->err)
		j->err = index_commit(ix);
	else
		index_rollback(ix);
}

static void save_done(struct ops_job *oj)
{
	struct save_job *j = (struct save_job *)oj;
	if (j->err) {
		log_warnx("cannot save known members: %s", shoal_strerror(j->err));
		/* Forget them at the next save, then. */
		if (j->keep)
			j->ms->forgot = 1;
	}
	j->ms->saving = 0;
	free(j->list);
	free(j->keep);
	free(j);
}

/* Persists changed members, and forgets those no longer in the table, on the
 * writer (SQLite commits fsync): every SAVE_INTERVAL, or now when forced. */
static void save_members(struct members *ms, double now, int force)
{
	struct mesh *mesh = ms->mesh;
	if (!force && (ms->saving || now - ms->last_save < SAVE_INTERVAL))
		return;
	size_t dirty = 0;
	for (unsigned i = 0; i < mesh->nmembers; i++)
		dirty += mesh->members[i].dirty && mesh->members[i].addr[0];
	if (!dirty && !ms->forgot)
		return;
	struct save_job *j = calloc(1, sizeof(*j));
	if (!j || (dirty && !(j->list = calloc(dirty, sizeof(*j->list)))) ||
	    (ms->forgot && !(j->keep = calloc(mesh->nmembers + 1, sizeof(*j->keep))))) {
		if (j) {
			free(j->list);
			free(j->keep);
		}
		free(j);
		return;
	}
	j->ms = ms;
	for (unsigned i = 0; i < mesh->nmembers; i++) {
		struct member *m = &mesh->members[i];
		if (j->keep)
			memcpy(j->keep[j->nkeep++], m->id, NODE_ID_LEN);
		if (!m->dirty || !m->addr[0])
			continue;
		memcpy(j->list[j->count].id, m->id, NODE_ID_LEN);
		snprintf(j->list[j->count].addr, sizeof(j->list[j->count].addr), "%s", m->addr);
		memcpy(j->list[j->count].nickname, m->nickname, sizeof(m->nickname));
		j->list[j->count].last_seen = m->last_seen;
		j->count++;
		m->dirty = 0;
	}
	ms->forgot = 0;
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

static int dial_due(const struct member *m, double now)
{
	return !m->revoked && !m->link && !m->dialing && m->addr[0] && now >= m->next_dial;
}

static void dial_member(struct members *ms, struct member *m)
{
	m->dialing = dial(ms, m->addr, m->id);
	if (!m->dialing)
		grow_backoff(&m->backoff, &m->next_dial, ms->cfg->backoff_max);
}

/* Dials what has not been up since this node started, candidates and
 * members remembered from the index alike, within the dial budget
 * (candidates.h): while a token is there, the one due longest goes. */
static void dial_unproven(struct members *ms, double now)
{
	struct mesh *mesh = ms->mesh;
	while (dial_budget_ready(&mesh->dials, now)) {
		struct member *m = NULL;
		for (unsigned i = 0; i < mesh->nmembers; i++) {
			struct member *x = &mesh->members[i];
			if (!x->seen_up && x->state != MEMBER_UP && dial_due(x, now) &&
			    (!m || x->next_dial < m->next_dial))
				m = x;
		}
		struct candidate *c = candidates_due(&mesh->candidates, now);
		if (!m && !c)
			return;
		dial_budget_take(&mesh->dials, now);
		if (m && (!c || m->next_dial <= c->next_dial)) {
			dial_member(ms, m);
			continue;
		}
		struct link *l = dial(ms, c->addr, c->id);
		if (l)
			c->dial = l->serial;
		else
			candidate_failed(c, now, ms->cfg->backoff_max, jitter(1.0));
	}
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
		} else if (!ms->left && m->seen_up && dial_due(m, now)) {
			dial_member(ms, m);
		}
	}
	if (ms->left)
		goto save;
	dial_unproven(ms, now);
	for (unsigned i = 0; i < ms->nbootstraps; i++) {
		struct bootstrap *b = &ms->bootstraps[i];
		if (b->dialing || bootstrap_satisfied(ms, b) || now < b->next_dial)
			continue;
		b->dialing = dial(ms, b->addr, NULL);
		if (b->dialing)
			b->dialing->bootstrap = b;
		else
			bootstrap_failed(ms, b, 1, "cannot resolve or connect to the address");
	}
	if (now - ms->last_gossip >= cfg->gossip_interval) {
		ms->last_gossip = now;
		for (unsigned i = 0; i < mesh->nmembers; i++) {
			if (mesh->members[i].link)
				send_peers(ms, mesh->members[i].link);
		}
	}
save:
	save_members(ms, now, 0);
}

void members_flush(struct members *ms)
{
	save_members(ms, monotonic_seconds(), 1);
}
