/*
 * Membership and the peer protocol: Hello, keepalive, peer exchange, one
 * connection per pair of nodes, reconnection with backoff, and serving chunks.
 * Runs on the loop thread; disk reads for GetChunk run on the worker pool.
 */
#include <errno.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "net/frame.h"
#include "net/wire.h"
#include "node/catalog.h"
#include "node/node.h"
#include "node/remote.h"
#include "node/serve.h"
#include "proto/manifest.h"
#include "util/encoding.h"
#include "util/error.h"
#include "util/log.h"

#define BACKOFF_MIN    0.25
#define SAVE_INTERVAL  2.0
#define SERVE_PER_LINK 4

static double jitter(double seconds)
{
	uint32_t r = 0;
	if (getrandom(&r, sizeof(r), GRND_NONBLOCK) != sizeof(r))
		r = (uint32_t)rand();
	/* Uniform in [0.5, 1.5) x seconds. */
	return seconds * (0.5 + (double)r / 4294967296.0);
}

static const char *short_id(const uint8_t id[NODE_ID_LEN], char out[17])
{
	char full[NODE_ID_STR_LEN + 1];
	node_id_format(id, full);
	memcpy(out, full, 16);
	out[16] = 0;
	return out;
}

struct member *member_find(struct node *n, const uint8_t id[NODE_ID_LEN])
{
	for (unsigned i = 0; i < n->nmembers; i++) {
		if (!memcmp(n->members[i].id, id, NODE_ID_LEN))
			return &n->members[i];
	}
	return NULL;
}

static struct member *member_add(struct node *n, const uint8_t id[NODE_ID_LEN], const char *addr)
{
	if (n->nmembers == NODE_MEMBERS_MAX || !memcmp(id, n->id, NODE_ID_LEN))
		return NULL;
	struct member *m = &n->members[n->nmembers++];
	memset(m, 0, sizeof(*m));
	m->down_since = node_now(); /* not seen up yet */
	memcpy(m->id, id, NODE_ID_LEN);
	snprintf(m->addr, sizeof(m->addr), "%s", addr ? addr : "");
	m->dirty = 1;
	return m;
}

size_t members_up_ids_returned(const struct node *n, uint8_t (*out)[NODE_ID_LEN], uint8_t *returned,
			       size_t max)
{
	size_t k = 0;
	for (unsigned i = 0; i < n->nmembers && k < max; i++) {
		const struct member *m = &n->members[i];
		if (m->state != MEMBER_UP || !m->link)
			continue;
		if (returned)
			returned[k] = (uint8_t)m->returned;
		memcpy(out[k++], m->id, NODE_ID_LEN);
	}
	return k;
}

size_t members_up_ids(const struct node *n, uint8_t (*out)[NODE_ID_LEN], size_t max)
{
	return members_up_ids_returned(n, out, NULL, max);
}

unsigned members_lost(const struct node *n, double now, unsigned *waiting)
{
	unsigned lost = 0, wait = 0;
	for (unsigned i = 0; i < n->nmembers; i++) {
		const struct member *m = &n->members[i];
		if (m->state == MEMBER_UP)
			continue;
		if (now - m->down_since >= n->cfg.grace_period)
			lost++;
		else
			wait++;
	}
	if (waiting)
		*waiting = wait;
	return lost;
}

void members_counts(const struct node *n, unsigned *up, unsigned *down)
{
	*up = *down = 0;
	for (unsigned i = 0; i < n->nmembers; i++) {
		if (n->members[i].state == MEMBER_UP)
			(*up)++;
		else
			(*down)++;
	}
}

static int load_one(const struct index_member *im, void *arg)
{
	struct node *n = arg;
	if (addr_check(im->addr))
		return 0;
	struct member *m = member_add(n, im->id, im->addr);
	if (m) {
		m->last_seen = im->last_seen;
		m->dirty = 0;
	}
	return 0;
}

int members_load(struct node *n)
{
	return index_members_foreach(n->ix, load_one, n);
}

/* ---- sending ---- */

static void send_msg(struct link *l, Shoal__Envelope *env)
{
	if (conn_send(l->c, env, NULL, 0))
		log_warnx("%s: cannot encode a message", conn_remote(l->c));
}

static void send_hello(struct link *l)
{
	struct node *n = l->n;
	Shoal__Envelope env = SHOAL__ENVELOPE__INIT;
	Shoal__Hello h = SHOAL__HELLO__INIT;
	h.version = SHOAL__PROTOCOL_VERSION__PROTOCOL_VERSION_1;
	h.node_id.data = n->id;
	h.node_id.len = NODE_ID_LEN;
	h.listen_addr = n->listen_addr;
	env.msg_case = SHOAL__ENVELOPE__MSG_HELLO;
	env.hello = &h;
	send_msg(l, &env);
}

static void send_peers(struct node *n, struct link *l)
{
	Shoal__Member items[WIRE_MEMBERS_MAX];
	Shoal__Member *ptrs[WIRE_MEMBERS_MAX];
	size_t count = 0, bytes = 0;
	for (unsigned i = 0; i < n->nmembers && count < WIRE_MEMBERS_MAX; i++) {
		struct member *m = &n->members[i];
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
	send_msg(l, &env);
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
	send_msg(m->link, &env);
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
	send_msg(l, &env);
}

/* ---- connection life ---- */

static void on_ready(struct conn *c, void *arg)
{
	struct link *l = arg;
	struct node *n = l->n;
	const uint8_t *id = conn_peer_id(c);
	char sid[17];
	l->authenticated = 1;
	l->ready_at = node_now();
	n->npending--;
	if (!memcmp(id, n->id, NODE_ID_LEN)) {
		/* A bootstrap or gossiped address that is this node. */
		if (l->bootstrap)
			l->bootstrap->self = 1;
		conn_close(c, 0, 0, NULL);
		return;
	}
	if (l->has_expect && CRYPTO_memcmp(id, l->expect, NODE_ID_LEN)) {
		log_warnx("%s: expected node %s but found %s; disconnecting", conn_remote(c),
			  short_id(l->expect, sid), short_id(id, (char[17]){0}));
		conn_close(c, SHOAL_EIDENTITY, 0, NULL);
		return;
	}
	send_hello(l);
}

/* Which of two connections between this node and a peer survives: the one the
 * node with the smaller id initiated; between two from the same side, the newer
 * (the older is a leftover the initiator has already given up). Both nodes
 * compute the same answer, so they close the same connection. */
static int keep_new(struct node *n, struct link *old, struct link *fresh)
{
	const uint8_t *peer = conn_peer_id(fresh->c);
	int self_smaller = memcmp(n->id, peer, NODE_ID_LEN) < 0;
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

static void establish(struct link *l, const Shoal__Hello *h)
{
	struct node *n = l->n;
	const uint8_t *id = conn_peer_id(l->c);
	char sid[17], addr[ADDR_MAX];
	addr_from_hello(l, h->listen_addr, addr, sizeof(addr));
	struct member *m = member_find(n, id);
	if (!m)
		m = member_add(n, id, addr);
	if (!m) {
		log_warnx("%s: member table full; disconnecting", conn_remote(l->c));
		conn_close(l->c, 0, SHOAL__ERROR__CODE__TOO_BUSY, "member table full");
		return;
	}
	if (l->bootstrap) {
		memcpy(l->bootstrap->id, id, NODE_ID_LEN);
		l->bootstrap->known = 1;
	}
	if (m->link) {
		if (!keep_new(n, m->link, l)) {
			log_debug("%s: duplicate connection to %s closed", conn_remote(l->c),
				  short_id(id, sid));
			conn_close(l->c, 0, 0, NULL);
			return;
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
	double now = node_now();
	m->last_heard = now;
	m->ping_sent = 0;
	m->backoff = 0;
	m->last_seen = (int64_t)time(NULL);
	m->dirty = 1;
	if (m->state != MEMBER_UP) {
		/* Back after being lost: copies were remade meanwhile, so its own
		 * are the surplus to let go (repair.c). */
		if (m->seen_up && now - m->down_since >= n->cfg.grace_period)
			m->returned = 1;
		m->state = MEMBER_UP;
		m->seen_up = 1;
		log_info("peer %s up at %s", short_id(id, sid), m->addr[0] ? m->addr : "?");
	}
	send_peers(n, l);
	catalog_on_link_up(n, l);
}

static void member_down(struct node *n, struct member *m, const char *why)
{
	char sid[17];
	if (m->state == MEMBER_UP)
		log_info("peer %s down: %s", short_id(m->id, sid), why);
	if (m->state == MEMBER_UP)
		m->down_since = node_now();
	m->state = MEMBER_DOWN;
	m->link = NULL;
	m->ping_sent = 0;
	m->rtt_us = 0;
	m->backoff = BACKOFF_MIN;
	m->next_dial = node_now() + jitter(m->backoff);
	(void)n;
}

static void unlink_link(struct node *n, struct link *l)
{
	if (l->prev)
		l->prev->next = l->next;
	else
		n->links = l->next;
	if (l->next)
		l->next->prev = l->prev;
	n->nlinks--;
	if (!l->authenticated)
		n->npending--;
}

static void grow_backoff(double *backoff, double *next_dial, double max)
{
	*backoff = *backoff <= 0 ? BACKOFF_MIN : *backoff * 2;
	if (*backoff > max)
		*backoff = max;
	*next_dial = node_now() + jitter(*backoff);
}

static void on_close(struct conn *c, int err, void *arg)
{
	(void)c;
	struct link *l = arg;
	struct node *n = l->n;
	remote_link_closed(l);
	if (l->member && l->member->link == l)
		member_down(n, l->member, err ? shoal_strerror(err) : "connection closed");
	for (unsigned i = 0; i < n->nmembers; i++) {
		struct member *m = &n->members[i];
		if (m->dialing == l) {
			m->dialing = NULL;
			if (m->state != MEMBER_UP)
				grow_backoff(&m->backoff, &m->next_dial, n->cfg.backoff_max);
		}
	}
	if (l->bootstrap && l->bootstrap->dialing == l) {
		l->bootstrap->dialing = NULL;
		grow_backoff(&l->bootstrap->backoff, &l->bootstrap->next_dial, n->cfg.backoff_max);
	}
	unlink_link(n, l);
	free(l);
}

/* ---- incoming frames ---- */

static void on_pong(struct link *l, const Shoal__Pong *p)
{
	struct member *m = l->member;
	if (m->ping_sent > 0 && p->nonce == m->ping_nonce) {
		m->rtt_us = (uint32_t)((node_now() - m->ping_sent) * 1e6);
		m->ping_sent = 0;
	}
}

static void on_peers(struct link *l, const Shoal__Peers *p)
{
	struct node *n = l->n;
	for (size_t i = 0; i < p->n_members; i++) {
		const Shoal__Member *g = p->members[i];
		if (!memcmp(g->node_id.data, n->id, NODE_ID_LEN))
			continue;
		struct member *m = member_find(n, g->node_id.data);
		if (!m) {
			m = member_add(n, g->node_id.data, g->addr);
			if (!m)
				break;
			m->last_seen = g->last_seen;
			m->next_dial = node_now();
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

/* GetChunk: the object is read and checked on a worker. */
struct serve_job {
	struct lw_job lw;
	struct node *n;
	uint64_t link_serial;
	uint64_t request_id;
	uint8_t id[CHUNK_ID_LEN];
	uint8_t *data;
	size_t len;
	int err;
};

static void serve_work(struct pool_job *pj)
{
	struct serve_job *j = (struct serve_job *)lw_job_of(pj);
	void *p = NULL;
	if (posix_memalign(&p, OBJECTS_ALIGN, objects_align_up(OBJECT_SIZE_MAX))) {
		j->err = -ENOMEM;
		return;
	}
	j->data = p;
	j->err = objects_read(&j->n->store->objects, j->id, j->data,
			      objects_align_up(OBJECT_SIZE_MAX), OBJECTS_DIRECT, &j->len);
}

static void serve_done(struct lw_msg *msg)
{
	struct serve_job *j = (struct serve_job *)lw_job_of_msg(msg);
	struct link *l = node_link_find(j->n, j->link_serial);
	if (l) {
		l->serving--;
		if (!conn_ready(l->c)) {
			/* closing: nothing to answer */
		} else if (j->err) {
			if (j->err == SHOAL_ECORRUPT) {
				char hex[2 * CHUNK_ID_LEN + 1];
				hex_encode(hex, j->id, CHUNK_ID_LEN);
				log_warnx("chunk %s is corrupt; not serving it", hex);
			}
			link_send_error(l, j->request_id, SHOAL__ERROR__CODE__NOT_FOUND,
					"chunk not stored here");
		} else {
			Shoal__Envelope env = SHOAL__ENVELOPE__INIT;
			Shoal__Chunk ch = SHOAL__CHUNK__INIT;
			ch.id.data = j->id;
			ch.id.len = CHUNK_ID_LEN;
			env.request_id = j->request_id;
			env.msg_case = SHOAL__ENVELOPE__MSG_CHUNK;
			env.chunk = &ch;
			conn_send_owned(l->c, &env, j->data, j->len);
			j->data = NULL;
		}
	}
	free(j->data);
	free(j);
}

static void on_get_chunk(struct link *l, uint64_t request_id, const Shoal__GetChunk *g)
{
	if (l->serving >= SERVE_PER_LINK) {
		link_send_error(l, request_id, SHOAL__ERROR__CODE__TOO_BUSY, "too many requests");
		return;
	}
	struct serve_job *j = calloc(1, sizeof(*j));
	if (!j) {
		link_send_error(l, request_id, SHOAL__ERROR__CODE__INTERNAL, "out of memory");
		return;
	}
	j->n = l->n;
	j->link_serial = l->serial;
	j->request_id = request_id;
	memcpy(j->id, g->id.data, CHUNK_ID_LEN);
	l->serving++;
	loopwork_submit(l->n->lw, &j->lw, serve_work, serve_done);
}

static void on_frame(struct conn *c, Shoal__Envelope *env, uint8_t *payload, size_t payload_len,
		     void *arg)
{
	struct link *l = arg;
	if (!l->hello_received) {
		if (env->msg_case == SHOAL__ENVELOPE__MSG_ERROR) {
			/* Our Hello was refused (another version, say). */
			log_warnx("%s: peer refused us: %s", conn_remote(c), env->error->text);
			conn_close(c, SHOAL_EPROTO, 0, NULL);
			goto out;
		}
		if (env->msg_case != SHOAL__ENVELOPE__MSG_HELLO) {
			log_warnx("%s: first message is not Hello; disconnecting", conn_remote(c));
			conn_close(c, SHOAL_EPROTO, SHOAL__ERROR__CODE__PROTOCOL, "expected Hello");
			goto out;
		}
		const Shoal__Hello *h = env->hello;
		if (h->version != SHOAL__PROTOCOL_VERSION__PROTOCOL_VERSION_1) {
			log_warnx("%s: speaks protocol version %u, this node %u; disconnecting",
				  conn_remote(c), h->version,
				  (unsigned)SHOAL__PROTOCOL_VERSION__PROTOCOL_VERSION_1);
			conn_close(c, SHOAL_EVERSION, SHOAL__ERROR__CODE__VERSION,
				   "incompatible protocol version");
			goto out;
		}
		if (CRYPTO_memcmp(h->node_id.data, conn_peer_id(c), NODE_ID_LEN)) {
			log_warnx("%s: Hello names another node than its certificate; "
				  "disconnecting",
				  conn_remote(c));
			conn_close(c, SHOAL_EPROTO, SHOAL__ERROR__CODE__PROTOCOL,
				   "node id does not match certificate");
			goto out;
		}
		l->hello_received = 1;
		establish(l, h);
		goto out;
	}
	if (!l->member) {
		/* A connection that lost the duplicate race; ignore until closed. */
		goto out;
	}
	l->member->last_heard = node_now();
	if (remote_on_reply(l, env, payload, payload_len))
		return;
	switch (env->msg_case) {
	case SHOAL__ENVELOPE__MSG_PUT_CHUNK:
	case SHOAL__ENVELOPE__MSG_HAVE:
	case SHOAL__ENVELOPE__MSG_UNPIN:
	case SHOAL__ENVELOPE__MSG_FETCH:
		serve_on_frame(l, env, payload, payload_len);
		return;
	case SHOAL__ENVELOPE__MSG_CATALOG_DELTA:
	case SHOAL__ENVELOPE__MSG_CATALOG_DIGEST:
	case SHOAL__ENVELOPE__MSG_CATALOG_REQUEST:
		catalog_on_frame(l->n, l, env);
		break;
	case SHOAL__ENVELOPE__MSG_PING: {
		Shoal__Envelope reply = SHOAL__ENVELOPE__INIT;
		Shoal__Pong pong = SHOAL__PONG__INIT;
		pong.nonce = env->ping->nonce;
		reply.msg_case = SHOAL__ENVELOPE__MSG_PONG;
		reply.pong = &pong;
		send_msg(l, &reply);
		break;
	}
	case SHOAL__ENVELOPE__MSG_PONG:
		on_pong(l, env->pong);
		break;
	case SHOAL__ENVELOPE__MSG_PEERS:
		on_peers(l, env->peers);
		break;
	case SHOAL__ENVELOPE__MSG_GET_CHUNK:
		on_get_chunk(l, env->request_id, env->get_chunk);
		break;
	case SHOAL__ENVELOPE__MSG_ERROR:
		if (env->error->code == SHOAL__ERROR__CODE__PROTOCOL ||
		    env->error->code == SHOAL__ERROR__CODE__VERSION) {
			log_warnx("%s: peer refused us: %s", conn_remote(c), env->error->text);
			conn_close(c, SHOAL_EPROTO, 0, NULL);
		} else {
			log_debug("%s: peer reports error %d: %s", conn_remote(c), env->error->code,
				  env->error->text);
		}
		break;
	case SHOAL__ENVELOPE__MSG_CHUNK:
	case SHOAL__ENVELOPE__MSG_PUT_ACK:
	case SHOAL__ENVELOPE__MSG_HAVE_REPLY:
	case SHOAL__ENVELOPE__MSG_FETCH_DONE:
		/* A reply without a request (remote_on_reply took the rest): dropped. */
		break;
	default:
		log_warnx("%s: unexpected %s message; disconnecting", conn_remote(c),
			  env->msg_case == SHOAL__ENVELOPE__MSG_HELLO ? "second Hello" : "unknown");
		conn_close(c, SHOAL_EPROTO, SHOAL__ERROR__CODE__PROTOCOL, "unexpected message");
		break;
	}
out:
	wire_free(env, NULL);
	free(payload);
}

const struct conn_ops node_peer_ops = {
	.on_ready = on_ready,
	.on_frame = on_frame,
	.on_close = on_close,
};

/* ---- the tick ---- */

struct save_job {
	struct lw_job lw;
	struct node *n;
	char home[PATH_MAX];
	struct index_member *list;
	size_t count;
	int err;
};

static void save_work(struct pool_job *pj)
{
	struct save_job *j = (struct save_job *)lw_job_of(pj);
	char path[PATH_MAX + 32];
	struct index *ix;
	snprintf(path, sizeof(path), "%s/index.sqlite", j->home);
	j->err = index_open(&ix, path);
	if (j->err)
		return;
	j->err = index_begin(ix);
	for (size_t i = 0; !j->err && i < j->count; i++)
		j->err = index_member_set(ix, &j->list[i]);
	if (!j->err)
		j->err = index_commit(ix);
	else
		index_rollback(ix);
	index_close(ix);
}

static void save_done(struct lw_msg *msg)
{
	struct save_job *j = (struct save_job *)lw_job_of_msg(msg);
	if (j->err)
		log_warnx("cannot save known members: %s", shoal_strerror(j->err));
	j->n->saving = 0;
	free(j->list);
	free(j);
}

/* Persists changed members on a worker (SQLite commits fsync). */
static void save_members(struct node *n, double now)
{
	if (n->saving || now - n->last_save < SAVE_INTERVAL)
		return;
	size_t dirty = 0;
	for (unsigned i = 0; i < n->nmembers; i++)
		dirty += n->members[i].dirty && n->members[i].addr[0];
	if (!dirty)
		return;
	struct save_job *j = calloc(1, sizeof(*j));
	if (!j || !(j->list = calloc(dirty, sizeof(*j->list)))) {
		free(j);
		return;
	}
	j->n = n;
	snprintf(j->home, sizeof(j->home), "%s", n->home);
	for (unsigned i = 0; i < n->nmembers; i++) {
		struct member *m = &n->members[i];
		if (!m->dirty || !m->addr[0])
			continue;
		memcpy(j->list[j->count].id, m->id, NODE_ID_LEN);
		snprintf(j->list[j->count].addr, sizeof(j->list[j->count].addr), "%s", m->addr);
		j->list[j->count].last_seen = m->last_seen;
		j->count++;
		m->dirty = 0;
	}
	n->saving = 1;
	n->last_save = now;
	loopwork_submit(n->lw, &j->lw, save_work, save_done);
}

static int bootstrap_satisfied(struct node *n, struct bootstrap *b)
{
	if (b->self)
		return 1;
	if (!b->known)
		return 0;
	struct member *m = member_find(n, b->id);
	return m && m->state == MEMBER_UP;
}

void members_tick(struct node *n, double now)
{
	char sid[17];
	/* An authenticated peer must say Hello promptly; one that stays silent
	 * (or stops halfway through a frame) holds a slot for nothing. */
	for (struct link *l = n->links; l; l = l->next) {
		if (l->authenticated && !l->hello_received && conn_ready(l->c) &&
		    now - l->ready_at > n->cfg.handshake_timeout) {
			log_warnx("%s: no Hello within %.1f s; disconnecting", conn_remote(l->c),
				  n->cfg.handshake_timeout);
			conn_close(l->c, -ETIMEDOUT, SHOAL__ERROR__CODE__PROTOCOL, "no Hello");
		}
	}
	for (unsigned i = 0; i < n->nmembers; i++) {
		struct member *m = &n->members[i];
		if (m->state == MEMBER_UP && m->link) {
			if (now - m->last_heard > n->cfg.peer_timeout) {
				log_warnx("peer %s silent for %.1f s; marking it down",
					  short_id(m->id, sid), now - m->last_heard);
				struct link *l = m->link;
				member_down(n, m, "timed out");
				l->member = NULL;
				conn_close(l->c, -ETIMEDOUT, 0, NULL);
			} else if (m->ping_sent == 0 &&
				   now - m->last_heard >= n->cfg.ping_interval) {
				send_ping(m, now);
			} else if (m->ping_sent > 0 && now - m->ping_sent >= n->cfg.ping_interval) {
				send_ping(m, now);
			}
		} else if (!m->link && !m->dialing && m->addr[0] && now >= m->next_dial) {
			m->dialing = node_dial(n, m->addr, m->id);
			if (!m->dialing)
				grow_backoff(&m->backoff, &m->next_dial, n->cfg.backoff_max);
		}
	}
	for (unsigned i = 0; i < n->nbootstraps; i++) {
		struct bootstrap *b = &n->bootstraps[i];
		if (b->dialing || bootstrap_satisfied(n, b) || now < b->next_dial)
			continue;
		b->dialing = node_dial(n, b->addr, NULL);
		if (b->dialing)
			b->dialing->bootstrap = b;
		else
			grow_backoff(&b->backoff, &b->next_dial, n->cfg.backoff_max);
	}
	if (now - n->last_gossip >= n->cfg.gossip_interval) {
		n->last_gossip = now;
		for (unsigned i = 0; i < n->nmembers; i++) {
			if (n->members[i].link)
				send_peers(n, n->members[i].link);
		}
	}
	save_members(n, now);
}
