/*
 * Serving other nodes' storage requests; see serve.h.
 */
#include "node/serve.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/hash.h"
#include "node/fetch.h"
#include "node/remote.h"
#include "util/encoding.h"
#include "util/error.h"
#include "util/log.h"

#define STORING_PER_LINK  64 /* PutChunk / Unpin items in flight per link */
#define FETCHING_PER_LINK 2
#define OUTBOX_INTERVAL	  1.0
#define OUTBOX_BATCH	  4096

enum item_kind { ITEM_PUT, ITEM_PIN, ITEM_UNPIN };

/* One id of a PutChunk or an Unpin, from write to commit to answer. */
struct item {
	struct lw_job lw;
	struct serve *sv;
	enum item_kind kind;
	uint64_t link_serial;
	uint64_t request_id;
	uint8_t peer[NODE_ID_LEN];
	uint8_t id[CHUNK_ID_LEN];
	uint8_t *payload;
	size_t len;
	unsigned replicas;
	int err;
	struct item *next;
};

struct commit_job {
	struct lw_job lw;
	struct serve *sv;
	struct item *items;
};

struct fetch_job {
	struct lw_job lw;
	struct serve *sv;
	uint64_t link_serial;
	uint64_t request_id;
	uint8_t requester[NODE_ID_LEN];
	struct capability cap;
	uint8_t (*peers)[NODE_ID_LEN];
	size_t npeers;
	int err;
	char why[WIRE_TEXT_MAX];
	uint64_t chunks, fetched;
};

struct unpin_pair {
	uint8_t chunk[CHUNK_ID_LEN];
	uint8_t node[NODE_ID_LEN];
};

struct outbox_job {
	struct lw_job lw;
	struct serve *sv;
	uint8_t (*up)[NODE_ID_LEN];
	size_t nup;
	struct unpin_pair *pairs;
	size_t npairs, cap;
	int err;
};

struct serve {
	struct node *n;
	struct index *commit_ix; /* used by one commit job at a time */
	struct index *outbox_ix; /* used by one outbox job at a time */
	struct item *queue, *queue_tail;
	int committing;
	int outbox_busy;
	double last_outbox;
	struct pool *fetch_pool;
	struct loopwork *fetch_lw;
};

static void send_ack(struct link *l, uint64_t request_id, const uint8_t id[CHUNK_ID_LEN])
{
	Shoal__Envelope env = SHOAL__ENVELOPE__INIT;
	Shoal__PutAck ack = SHOAL__PUT_ACK__INIT;
	ack.id.data = (uint8_t *)id;
	ack.id.len = CHUNK_ID_LEN;
	env.request_id = request_id;
	env.msg_case = SHOAL__ENVELOPE__MSG_PUT_ACK;
	env.put_ack = &ack;
	conn_send(l->c, &env, NULL, 0);
}

static const char *hex_id(const uint8_t id[CHUNK_ID_LEN], char out[2 * CHUNK_ID_LEN + 1])
{
	hex_encode(out, id, CHUNK_ID_LEN);
	return out;
}

/* ---- group commit ---- */

static void commit_work(struct pool_job *pj)
{
	struct commit_job *j = (struct commit_job *)lw_job_of(pj);
	struct store *s = j->sv->n->store;
	struct index *ix = j->sv->commit_ix;
	int unpinned = 0;
	pthread_mutex_lock(&s->gc_lock);
	int err = objects_sync(&s->objects);
	if (!err)
		err = index_begin(ix);
	for (struct item *it = j->items; !err && it; it = it->next) {
		if (it->err)
			continue;
		switch (it->kind) {
		case ITEM_PUT:
		case ITEM_PIN: {
			/* Under the lock, a file that exists stays until its row is in. */
			int present = objects_exists(&s->objects, it->id);
			if (present < 0) {
				it->err = present;
				break;
			}
			if (!present) {
				it->err = SHOAL_ENOTFOUND;
				break;
			}
			if (it->kind == ITEM_PIN) {
				int has = index_chunk_has(ix, it->id);
				if (has <= 0) {
					it->err = has < 0 ? has : SHOAL_ENOTFOUND;
					break;
				}
			} else {
				err = index_chunk_add(ix, it->id, it->len);
			}
			if (!err)
				err = index_pin_add(ix, it->id, it->peer);
			if (!err && it->replicas > 1)
				err = index_copies_want(ix, it->id, it->replicas);
			break;
		}
		case ITEM_UNPIN:
			err = index_pin_remove(ix, it->id, it->peer);
			unpinned = 1;
			break;
		}
	}
	if (!err)
		err = index_commit(ix);
	else
		index_rollback(ix);
	pthread_mutex_unlock(&s->gc_lock);
	if (!err && unpinned && index_begin(ix) == 0)
		store_commit_releasing_ix(s, ix);
	for (struct item *it = j->items; err && it; it = it->next) {
		if (!it->err)
			it->err = err;
	}
}

static void kick_commit(struct serve *sv);

static void commit_done(struct lw_msg *msg)
{
	struct commit_job *j = (struct commit_job *)lw_job_of_msg(msg);
	struct serve *sv = j->sv;
	struct node *n = sv->n;
	while (j->items) {
		struct item *it = j->items;
		j->items = it->next;
		struct link *l = node_link_find(n, it->link_serial);
		if (l && l->storing && it->kind != ITEM_UNPIN)
			l->storing--;
		if (l && conn_ready(l->c) && it->kind != ITEM_UNPIN) {
			if (!it->err)
				send_ack(l, it->request_id, it->id);
			else if (it->err == SHOAL_ENOTFOUND)
				link_send_error(l, it->request_id, SHOAL__ERROR__CODE__NOT_FOUND,
						"chunk not stored here");
			else if (it->err == -ENOSPC)
				link_send_error(l, it->request_id, SHOAL__ERROR__CODE__NO_SPACE,
						"no space left");
			else
				link_send_error(l, it->request_id, SHOAL__ERROR__CODE__INTERNAL,
						shoal_strerror(it->err));
		}
		free(it->payload);
		free(it);
	}
	free(j);
	sv->committing = 0;
	kick_commit(sv);
}

static void kick_commit(struct serve *sv)
{
	if (sv->committing || !sv->queue)
		return;
	struct commit_job *j = calloc(1, sizeof(*j));
	if (!j)
		return; /* retried on the next item */
	j->sv = sv;
	j->items = sv->queue;
	sv->queue = sv->queue_tail = NULL;
	sv->committing = 1;
	loopwork_submit(sv->n->lw, &j->lw, commit_work, commit_done);
}

static void enqueue(struct serve *sv, struct item *it)
{
	it->next = NULL;
	if (sv->queue_tail)
		sv->queue_tail->next = it;
	else
		sv->queue = it;
	sv->queue_tail = it;
	kick_commit(sv);
}

/* ---- PutChunk ---- */

static void write_work(struct pool_job *pj)
{
	struct item *it = (struct item *)lw_job_of(pj);
	uint8_t got[CHUNK_ID_LEN];
	sha256(it->payload, it->len, got);
	if (memcmp(got, it->id, CHUNK_ID_LEN)) {
		it->err = SHOAL_ECORRUPT;
		return;
	}
	/* Frame payloads are page-aligned and padded (net/frame.h): direct I/O. */
	it->err = objects_write(&it->sv->n->store->objects, it->id, it->payload, it->len,
				OBJECTS_DIRECT | OBJECTS_DEFER, NULL);
}

static void write_done(struct lw_msg *msg)
{
	struct item *it = (struct item *)lw_job_of_msg(msg);
	struct serve *sv = it->sv;
	free(it->payload);
	it->payload = NULL;
	if (!it->err) {
		enqueue(sv, it);
		return;
	}
	struct link *l = node_link_find(sv->n, it->link_serial);
	if (l && l->storing)
		l->storing--;
	char hex[2 * CHUNK_ID_LEN + 1];
	if (l && conn_ready(l->c)) {
		if (it->err == SHOAL_ECORRUPT) {
			log_warnx("%s: pushed chunk %s does not match its id; refused",
				  conn_remote(l->c), hex_id(it->id, hex));
			link_send_error(l, it->request_id, SHOAL__ERROR__CODE__CORRUPT,
					"bytes do not match the id");
		} else {
			log_warnx("cannot store pushed chunk %s: %s", hex_id(it->id, hex),
				  shoal_strerror(it->err));
			link_send_error(l, it->request_id,
					it->err == -ENOSPC ? SHOAL__ERROR__CODE__NO_SPACE
							   : SHOAL__ERROR__CODE__INTERNAL,
					shoal_strerror(it->err));
		}
	}
	free(it);
}

static struct item *item_new(struct link *l, enum item_kind kind, uint64_t request_id,
			     const uint8_t id[CHUNK_ID_LEN])
{
	struct item *it = calloc(1, sizeof(*it));
	if (!it)
		return NULL;
	it->sv = l->n->serve;
	it->kind = kind;
	it->link_serial = l->serial;
	it->request_id = request_id;
	memcpy(it->peer, conn_peer_id(l->c), NODE_ID_LEN);
	memcpy(it->id, id, CHUNK_ID_LEN);
	if (kind != ITEM_UNPIN)
		l->storing++;
	return it;
}

static void on_put_chunk(struct link *l, uint64_t request_id, const Shoal__PutChunk *p,
			 uint8_t *payload, size_t len)
{
	if (l->storing >= STORING_PER_LINK) {
		link_send_error(l, request_id, SHOAL__ERROR__CODE__TOO_BUSY, "too many requests");
		free(payload);
		return;
	}
	struct item *it = item_new(l, p->pin_only ? ITEM_PIN : ITEM_PUT, request_id, p->id.data);
	if (it)
		it->replicas = p->replicas > WIRE_REPLICAS_MAX ? WIRE_REPLICAS_MAX : p->replicas;
	if (!it) {
		link_send_error(l, request_id, SHOAL__ERROR__CODE__INTERNAL, "out of memory");
		free(payload);
		return;
	}
	if (p->pin_only) {
		/* Not here: say so at once rather than after a commit. */
		if (index_chunk_has(l->n->ix, p->id.data) != 1) {
			l->storing--;
			free(it);
			link_send_error(l, request_id, SHOAL__ERROR__CODE__NOT_FOUND,
					"chunk not stored here");
			return;
		}
		enqueue(l->n->serve, it);
		return;
	}
	it->payload = payload;
	it->len = len;
	loopwork_submit(l->n->lw, &it->lw, write_work, write_done);
}

/* ---- Have, Unpin ---- */

static void on_have(struct link *l, uint64_t request_id, const Shoal__Have *h)
{
	uint8_t bits[(WIRE_IDS_MAX + 7) / 8] = {0}, own[(WIRE_IDS_MAX + 7) / 8] = {0};
	for (size_t i = 0; i < h->n_ids; i++) {
		if (index_chunk_has(l->n->ix, h->ids[i].data) != 1)
			continue;
		bits[i / 8] |= (uint8_t)(1u << (i % 8));
		if (index_chunk_referenced(l->n->ix, h->ids[i].data) == 1)
			own[i / 8] |= (uint8_t)(1u << (i % 8));
	}
	Shoal__Envelope env = SHOAL__ENVELOPE__INIT;
	Shoal__HaveReply r = SHOAL__HAVE_REPLY__INIT;
	r.have.data = bits;
	r.have.len = (h->n_ids + 7) / 8;
	r.own.data = own;
	r.own.len = (h->n_ids + 7) / 8;
	env.request_id = request_id;
	env.msg_case = SHOAL__ENVELOPE__MSG_HAVE_REPLY;
	env.have_reply = &r;
	conn_send(l->c, &env, NULL, 0);
}

static void on_unpin(struct link *l, const Shoal__Unpin *u)
{
	for (size_t i = 0; i < u->n_ids; i++) {
		struct item *it = item_new(l, ITEM_UNPIN, 0, u->ids[i].data);
		if (!it)
			return;
		enqueue(l->n->serve, it);
	}
}

/* ---- Fetch ---- */

static void fetch_work(struct pool_job *pj)
{
	struct fetch_job *j = (struct fetch_job *)lw_job_of(pj);
	struct node *n = j->sv->n;
	struct fetch f = {
		.n = n,
		.s = n->store,
		.peers = j->peers,
		.npeers = j->npeers,
	};
	j->err = store_index_open(n->store, &f.ix);
	if (j->err) {
		snprintf(j->why, sizeof(j->why), "cannot open the index");
		return;
	}
	j->err = fetch_keep(&f, &j->cap, j->requester);
	if (j->err)
		snprintf(j->why, sizeof(j->why), "%s", f.why[0] ? f.why : shoal_strerror(j->err));
	j->chunks = f.chunks;
	j->fetched = f.fetched;
	index_close(f.ix);
}

static void fetch_done(struct lw_msg *msg)
{
	struct fetch_job *j = (struct fetch_job *)lw_job_of_msg(msg);
	struct node *n = j->sv->n;
	struct link *l = node_link_find(n, j->link_serial);
	if (l && l->fetching)
		l->fetching--;
	char hex[2 * CHUNK_ID_LEN + 1];
	if (j->err)
		log_warnx("fetch of %s for a peer failed: %s", hex_id(j->cap.id, hex), j->why);
	else
		log_info("fetched %s for a peer: %llu chunks, %llu from the network",
			 hex_id(j->cap.id, hex), (unsigned long long)j->chunks,
			 (unsigned long long)j->fetched);
	if (l && conn_ready(l->c)) {
		if (j->err) {
			link_send_error(l, j->request_id,
					j->err == SHOAL_EUNREACHABLE ? SHOAL__ERROR__CODE__NOT_FOUND
								     : SHOAL__ERROR__CODE__INTERNAL,
					j->why);
		} else {
			Shoal__Envelope env = SHOAL__ENVELOPE__INIT;
			Shoal__FetchDone d = SHOAL__FETCH_DONE__INIT;
			d.chunks = j->chunks;
			d.fetched = j->fetched;
			env.request_id = j->request_id;
			env.msg_case = SHOAL__ENVELOPE__MSG_FETCH_DONE;
			env.fetch_done = &d;
			conn_send(l->c, &env, NULL, 0);
		}
	}
	free(j->peers);
	free(j);
}

static void on_fetch(struct link *l, uint64_t request_id, const Shoal__Fetch *f)
{
	struct node *n = l->n;
	if (l->fetching >= FETCHING_PER_LINK) {
		link_send_error(l, request_id, SHOAL__ERROR__CODE__TOO_BUSY, "too many fetches");
		return;
	}
	struct fetch_job *j = calloc(1, sizeof(*j));
	if (j)
		j->peers = calloc(NODE_MEMBERS_MAX, sizeof(*j->peers));
	if (!j || !j->peers) {
		if (j)
			free(j);
		link_send_error(l, request_id, SHOAL__ERROR__CODE__INTERNAL, "out of memory");
		return;
	}
	j->sv = n->serve;
	j->link_serial = l->serial;
	j->request_id = request_id;
	memcpy(j->requester, conn_peer_id(l->c), NODE_ID_LEN);
	memcpy(j->cap.id, f->manifest_id.data, CHUNK_ID_LEN);
	memcpy(j->cap.key, f->key.data, CHUNK_KEY_LEN);
	j->npeers = members_up_ids(n, j->peers, NODE_MEMBERS_MAX);
	l->fetching++;
	loopwork_submit(n->serve->fetch_lw, &j->lw, fetch_work, fetch_done);
}

void serve_on_frame(struct link *l, Shoal__Envelope *env, uint8_t *payload, size_t payload_len)
{
	switch (env->msg_case) {
	case SHOAL__ENVELOPE__MSG_PUT_CHUNK:
		on_put_chunk(l, env->request_id, env->put_chunk, payload, payload_len);
		payload = NULL;
		break;
	case SHOAL__ENVELOPE__MSG_HAVE:
		on_have(l, env->request_id, env->have);
		break;
	case SHOAL__ENVELOPE__MSG_UNPIN:
		on_unpin(l, env->unpin);
		break;
	case SHOAL__ENVELOPE__MSG_FETCH:
		on_fetch(l, env->request_id, env->fetch);
		break;
	default:
		break;
	}
	wire_free(env, NULL);
	free(payload);
}

/* ---- the unpins outbox ---- */

static int is_up(const struct outbox_job *j, const uint8_t node[NODE_ID_LEN])
{
	for (size_t i = 0; i < j->nup; i++) {
		if (!memcmp(j->up[i], node, NODE_ID_LEN))
			return 1;
	}
	return 0;
}

static int take_pair(const uint8_t chunk[CHUNK_ID_LEN], const uint8_t node[32], void *arg)
{
	struct outbox_job *j = arg;
	if (!is_up(j, node))
		return 0;
	if (j->npairs == j->cap) {
		size_t cap = j->cap ? 2 * j->cap : 256;
		void *p = realloc(j->pairs, cap * sizeof(*j->pairs));
		if (!p)
			return -ENOMEM;
		j->pairs = p;
		j->cap = cap;
	}
	memcpy(j->pairs[j->npairs].chunk, chunk, CHUNK_ID_LEN);
	memcpy(j->pairs[j->npairs].node, node, NODE_ID_LEN);
	j->npairs++;
	return 0;
}

static void outbox_work(struct pool_job *pj)
{
	struct outbox_job *j = (struct outbox_job *)lw_job_of(pj);
	struct index *ix = j->sv->outbox_ix;
	j->err = index_begin(ix);
	if (j->err)
		return;
	j->err = index_unpins_take(ix, OUTBOX_BATCH, take_pair, j);
	for (size_t i = 0; !j->err && i < j->npairs; i++)
		j->err = index_unpin_done(ix, j->pairs[i].chunk, j->pairs[i].node);
	if (!j->err)
		j->err = index_commit(ix);
	else
		index_rollback(ix);
	if (j->err)
		j->npairs = 0;
}

static void outbox_done(struct lw_msg *msg)
{
	struct outbox_job *j = (struct outbox_job *)lw_job_of_msg(msg);
	struct node *n = j->sv->n;
	/* Pairs come ordered by node: one Unpin per run of WIRE_IDS_MAX. */
	size_t i = 0;
	while (i < j->npairs) {
		size_t k = i;
		ProtobufCBinaryData ids[WIRE_IDS_MAX];
		while (k < j->npairs && k - i < WIRE_IDS_MAX &&
		       !memcmp(j->pairs[k].node, j->pairs[i].node, NODE_ID_LEN)) {
			ids[k - i].data = j->pairs[k].chunk;
			ids[k - i].len = CHUNK_ID_LEN;
			k++;
		}
		struct member *m = member_find(n, j->pairs[i].node);
		if (m && m->link && conn_ready(m->link->c)) {
			Shoal__Envelope env = SHOAL__ENVELOPE__INIT;
			Shoal__Unpin u = SHOAL__UNPIN__INIT;
			u.ids = ids;
			u.n_ids = k - i;
			env.msg_case = SHOAL__ENVELOPE__MSG_UNPIN;
			env.unpin = &u;
			conn_send(m->link->c, &env, NULL, 0);
			log_debug("sent %zu unpins", k - i);
		}
		i = k;
	}
	j->sv->outbox_busy = 0;
	free(j->up);
	free(j->pairs);
	free(j);
}

void serve_tick(struct node *n, double now)
{
	struct serve *sv = n->serve;
	if (!sv || sv->outbox_busy || now - sv->last_outbox < OUTBOX_INTERVAL)
		return;
	sv->last_outbox = now;
	struct outbox_job *j = calloc(1, sizeof(*j));
	if (j)
		j->up = calloc(NODE_MEMBERS_MAX, sizeof(*j->up));
	if (!j || !j->up) {
		free(j);
		return;
	}
	j->sv = sv;
	j->nup = members_up_ids(n, j->up, NODE_MEMBERS_MAX);
	if (!j->nup) {
		free(j->up);
		free(j);
		return;
	}
	sv->outbox_busy = 1;
	/* On the thread of the store operations: between two puts, never during
	 * one, so an Unpin cannot overtake a put placing the same copy again. */
	loopwork_submit(ctl_ops_lw(n), &j->lw, outbox_work, outbox_done);
}

int serve_start(struct node *n)
{
	struct serve *sv = calloc(1, sizeof(*sv));
	if (!sv)
		return -ENOMEM;
	sv->n = n;
	n->serve = sv;
	int err = store_index_open(n->store, &sv->commit_ix);
	if (!err)
		err = store_index_open(n->store, &sv->outbox_ix);
	if (err)
		return err;
	sv->fetch_pool = pool_new(1);
	sv->fetch_lw = loopwork_new(n->base, sv->fetch_pool);
	return 0;
}

void serve_stop(struct node *n)
{
	struct serve *sv = n->serve;
	if (!sv || !sv->fetch_pool)
		return;
	pool_free(sv->fetch_pool);
	loopwork_free(sv->fetch_lw);
	sv->fetch_pool = NULL;
	sv->fetch_lw = NULL;
}

void serve_free(struct node *n)
{
	struct serve *sv = n->serve;
	if (!sv)
		return;
	serve_stop(n);
	while (sv->queue) {
		struct item *it = sv->queue;
		sv->queue = it->next;
		free(it->payload);
		free(it);
	}
	index_close(sv->commit_ix);
	index_close(sv->outbox_ix);
	free(sv);
	n->serve = NULL;
}
