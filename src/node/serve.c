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
#include "proto/manifest.h"
#include "util/clock.h"
#include "util/encoding.h"
#include "util/error.h"
#include "util/log.h"

#define SERVING_PER_LINK  4  /* GetChunk reads in flight per link */
#define STORING_PER_LINK  64 /* PutChunk items in flight per link */
#define LOOKING_PER_LINK  16 /* Have lookups in flight per link */
#define FETCHING_PER_LINK 2
/* PutChunk payload bytes in flight per link (16 chunks of the largest). */
#define STORING_BYTES_PER_LINK (64ull << 20)
#define STORAGE_RECOUNT	       30.0 /* seconds between counts of what is stored */
#define REFUSAL_LOG_EVERY      60.0 /* one refusal line per member per minute */
#define OUTBOX_INTERVAL	       1.0
#define OUTBOX_BATCH	       4096

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
	STAILQ_ENTRY(item) next;
};

STAILQ_HEAD(item_list, item);

struct commit_job {
	struct lw_job lw;
	struct serve *sv;
	struct item_list items;
};

/* GetChunk: the object is read and checked on a worker. */
struct read_job {
	struct lw_job lw;
	struct serve *sv;
	uint64_t link_serial;
	uint64_t request_id;
	uint8_t id[CHUNK_ID_LEN];
	uint8_t *data;
	size_t len;
	int err;
};

/* Have: the lookups run on the reader. */
struct have_job {
	struct ops_job job;
	struct serve *sv;
	uint64_t link_serial;
	uint64_t request_id;
	uint8_t ids[WIRE_IDS_MAX][CHUNK_ID_LEN];
	size_t n;
	uint8_t bits[REMOTE_BITS], own[REMOTE_BITS], owned[REMOTE_BITS];
	/* the members gone lately, who may own what they pin here */
	uint8_t recent[MESH_MEMBERS_MAX][NODE_ID_LEN];
	size_t nrecent;
};

struct fetch_job {
	struct ops_job job;
	struct serve *sv;
	uint64_t link_serial;
	uint64_t request_id;
	uint8_t requester[NODE_ID_LEN];
	struct capability cap;
	char name[NAME_MAX_LEN + 1];  /* the sender's ("" for none) */
	char filed[NAME_MAX_LEN + 1]; /* the name it is kept under here */
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
	struct ops_job job;
	struct serve *sv;
	uint8_t (*up)[NODE_ID_LEN];
	size_t nup;
	struct unpin_pair *pairs;
	size_t npairs, cap;
	int err;
};

struct serve {
	struct store *s;
	struct mesh *mesh;
	struct ops *ops;
	struct remote *remote;
	struct loopwork *lw;	 /* with the worker pool */
	struct index *commit_ix; /* used by one commit job at a time */
	struct item_list queue;	 /* waiting for the next commit */
	int committing;
	int closing;
	int outbox_busy;
	double last_outbox;
	/* The storage ledger, kept when a limit is set (storage_limit,
	 * storage_per_member): bytes stored, as last counted plus what members
	 * pushed since (pushed, pushed_at_count: as for struct member). */
	uint64_t used, pushed, pushed_at_count;
	int counting;
	double last_count;
	int draining; /* leaving: no new copies taken */
};

/* A count of what is stored, on the reader. */
struct count_job {
	struct ops_job job;
	struct serve *sv;
	uint64_t bytes;
	struct {
		uint8_t node[NODE_ID_LEN];
		uint64_t bytes;
	} * rows;
	size_t n, cap;
	int err;
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
	link_send(l, &env);
}

/* Admits one more request of a kind bounded per link: a zeroed job of size
 * bytes, with *inflight counted; or NULL, the peer answered TOO_BUSY (past
 * max) or INTERNAL (out of memory). */
static void *admit(struct link *l, unsigned *inflight, unsigned max, uint64_t request_id,
		   size_t size)
{
	if (*inflight >= max) {
		link_send_error(l, request_id, SHOAL__ERROR__CODE__TOO_BUSY, "too many requests");
		return NULL;
	}
	void *j = calloc(1, size);
	if (!j) {
		link_send_error(l, request_id, SHOAL__ERROR__CODE__INTERNAL, "out of memory");
		return NULL;
	}
	(*inflight)++;
	return j;
}

static const char *hex_id(const uint8_t id[CHUNK_ID_LEN], char out[2 * CHUNK_ID_LEN + 1])
{
	hex_encode(out, id, CHUNK_ID_LEN);
	return out;
}

/* ---- the storage ledger ---- */

static int ledger_on(const struct serve *sv)
{
	const struct config *cfg = sv->mesh->cfg;
	return cfg->storage_limit || cfg->storage_per_member;
}

/* *v -= n, stopping at 0 (a count may have taken in what a failure undoes). */
static void sub_floor(uint64_t *v, uint64_t n)
{
	*v -= n < *v ? n : *v;
}

/* a - b, or 0 when a pushed chunk failed after the count began. */
static uint64_t since(uint64_t a, uint64_t b)
{
	return a > b ? a - b : 0;
}

/* Refuses a PutChunk from l: the error to the sender, and one log line per
 * member per minute. */
static void refuse(struct link *l, uint64_t request_id, Shoal__Error__Code code, const char *text,
		   const char *setting)
{
	link_send_error(l, request_id, code, text);
	struct member *m = l->member;
	double now = monotonic_seconds();
	if (m && m->refused_logged && now - m->refused_logged < REFUSAL_LOG_EVERY)
		return;
	if (m)
		m->refused_logged = now;
	char sid[17];
	log_warnx("%s: refusing its chunks: %s (%s); logged once a minute",
		  m ? short_node_id(m->id, sid) : conn_remote(l->c), text, setting);
}

/* Admits a PutChunk of len payload bytes (0: a pin) from l into the
 * ledger: 0, or -1 when refused (answered here). */
static int ledger_admit(struct serve *sv, struct link *l, uint64_t request_id, size_t len)
{
	const struct config *cfg = sv->mesh->cfg;
	struct member *m = l->member;
	if (l->storing_bytes + len > STORING_BYTES_PER_LINK) {
		link_send_error(l, request_id, SHOAL__ERROR__CODE__TOO_BUSY, "too many bytes");
		return -1;
	}
	if (len && cfg->storage_limit && sv->used + len > cfg->storage_limit) {
		refuse(l, request_id, SHOAL__ERROR__CODE__NO_SPACE,
		       "this node's storage limit is reached", "storage_limit");
		return -1;
	}
	if (m && cfg->storage_per_member &&
	    (len ? m->pinned_bytes + len > cfg->storage_per_member
		 : m->pinned_bytes >= cfg->storage_per_member)) {
		refuse(l, request_id, SHOAL__ERROR__CODE__REFUSED,
		       "this member's storage budget here is used up", "storage_per_member");
		return -1;
	}
	l->storing_bytes += len;
	if (ledger_on(sv)) {
		sv->used += len;
		sv->pushed += len;
		if (m) {
			m->pinned_bytes += len;
			m->pushed += len;
		}
	}
	return 0;
}

/* An admitted PutChunk is over (l: its link, if still open): its bytes
 * leave the link's count, and the ledger's too when it failed. */
static void ledger_settle(struct serve *sv, struct link *l, const struct item *it)
{
	if (l)
		sub_floor(&l->storing_bytes, it->len);
	if (!it->err || !ledger_on(sv))
		return;
	sub_floor(&sv->used, it->len);
	sub_floor(&sv->pushed, it->len);
	struct member *m = member_find(sv->mesh, it->peer);
	if (m) {
		sub_floor(&m->pinned_bytes, it->len);
		sub_floor(&m->pushed, it->len);
	}
}

static int count_row(const uint8_t node[NODE_ID_LEN], uint64_t bytes, void *arg)
{
	struct count_job *j = arg;
	if (j->n == j->cap) {
		size_t cap = j->cap ? 2 * j->cap : 64;
		void *rows = realloc(j->rows, cap * sizeof(*j->rows));
		if (!rows)
			return -ENOMEM;
		j->rows = rows;
		j->cap = cap;
	}
	memcpy(j->rows[j->n].node, node, NODE_ID_LEN);
	j->rows[j->n++].bytes = bytes;
	return 0;
}

static void count_work(struct ops_job *oj, struct index *ix)
{
	struct count_job *j = (struct count_job *)oj;
	uint64_t chunks;
	j->err = index_chunk_stats(ix, &chunks, &j->bytes);
	if (!j->err)
		j->err = index_pin_bytes(ix, count_row, j);
}

/* Takes a count: what it found plus what was pushed since it began. */
static void count_apply(struct serve *sv, struct count_job *j)
{
	struct mesh *mesh = sv->mesh;
	if (j->err) {
		log_warnx("cannot count what is stored here: %s", shoal_strerror(j->err));
		return;
	}
	sv->used = j->bytes + since(sv->pushed, sv->pushed_at_count);
	for (unsigned i = 0; i < mesh->nmembers; i++) {
		struct member *m = &mesh->members[i];
		m->pinned_bytes = since(m->pushed, m->pushed_at_count);
	}
	for (size_t i = 0; i < j->n; i++) {
		struct member *m = member_find(mesh, j->rows[i].node);
		if (m)
			m->pinned_bytes += j->rows[i].bytes;
	}
}

static void count_done(struct ops_job *oj)
{
	struct count_job *j = (struct count_job *)oj;
	j->sv->counting = 0;
	count_apply(j->sv, j);
	free(j->rows);
	free(j);
}

/* Marks where a count begins, for what is pushed meanwhile. */
static void count_begin(struct serve *sv)
{
	sv->pushed_at_count = sv->pushed;
	for (unsigned i = 0; i < sv->mesh->nmembers; i++)
		sv->mesh->members[i].pushed_at_count = sv->mesh->members[i].pushed;
}

static void ledger_tick(struct serve *sv, double now)
{
	if (!ledger_on(sv) || sv->counting || now - sv->last_count < STORAGE_RECOUNT)
		return;
	struct count_job *j = calloc(1, sizeof(*j));
	if (!j)
		return;
	j->sv = sv;
	sv->counting = 1;
	sv->last_count = now;
	count_begin(sv);
	ops_submit(sv->ops, OPS_READ, &j->job, count_work, count_done);
}

/* ---- group commit ---- */

static void commit_work(struct pool_job *pj)
{
	struct commit_job *j = (struct commit_job *)lw_job_of(pj);
	struct store *s = j->sv->s;
	struct index *ix = j->sv->commit_ix;
	struct item *it;
	int unpinned = 0;
	int err = objects_sync(&s->objects);
	if (!err)
		err = index_begin(ix);
	/* After the write lock (see gc_lock in store.h). */
	pthread_mutex_lock(&s->gc_lock);
	STAILQ_FOREACH(it, &j->items, next)
	{
		if (err)
			break;
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
	if (err)
		log_warnx("cannot record the chunks peers pushed or pinned: %s; refusing them",
			  shoal_strerror(err));
	if (!err && unpinned && index_begin(ix) == 0)
		store_commit_releasing_ix(s, ix);
	STAILQ_FOREACH(it, &j->items, next)
	{
		if (err && !it->err)
			it->err = err;
	}
}

static void kick_commit(struct serve *sv);

static void commit_done(struct lw_msg *msg)
{
	struct commit_job *j = (struct commit_job *)lw_job_of_msg(msg);
	struct serve *sv = j->sv;
	struct item *it;
	while ((it = STAILQ_FIRST(&j->items))) {
		STAILQ_REMOVE_HEAD(&j->items, next);
		struct link *l = link_find(sv->mesh, it->link_serial);
		if (l && l->storing && it->kind != ITEM_UNPIN)
			l->storing--;
		if (it->kind != ITEM_UNPIN)
			ledger_settle(sv, l, it);
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
	if (sv->committing || sv->closing || STAILQ_EMPTY(&sv->queue))
		return;
	struct commit_job *j = calloc(1, sizeof(*j));
	if (!j)
		return; /* retried on the next item */
	j->sv = sv;
	STAILQ_INIT(&j->items);
	STAILQ_CONCAT(&j->items, &sv->queue);
	sv->committing = 1;
	loopwork_submit(sv->lw, &j->lw, commit_work, commit_done);
}

static void enqueue(struct serve *sv, struct item *it)
{
	STAILQ_INSERT_TAIL(&sv->queue, it, next);
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
	it->err = objects_write(&it->sv->s->objects, it->id, it->payload, it->len,
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
	struct link *l = link_find(sv->mesh, it->link_serial);
	if (l && l->storing)
		l->storing--;
	ledger_settle(sv, l, it);
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

static void item_init(struct item *it, struct serve *sv, struct link *l, enum item_kind kind,
		      uint64_t request_id, const uint8_t id[CHUNK_ID_LEN])
{
	it->sv = sv;
	it->kind = kind;
	it->link_serial = l->serial;
	it->request_id = request_id;
	memcpy(it->peer, conn_peer_id(l->c), NODE_ID_LEN);
	memcpy(it->id, id, CHUNK_ID_LEN);
}

void serve_on_put_chunk(struct serve *sv, struct link *l, uint64_t request_id,
			const Shoal__PutChunk *p, uint8_t **payload, size_t len)
{
	/* Counted first (TOO_BUSY past the count), then the bytes and the
	 * budgets (ledger_admit). */
	size_t bytes = p->pin_only ? 0 : len;
	if (sv->draining) {
		link_send_error(l, request_id, SHOAL__ERROR__CODE__REFUSED,
				"this node is leaving the network");
		return;
	}
	struct item *it = admit(l, &l->storing, STORING_PER_LINK, request_id, sizeof(*it));
	if (!it)
		return;
	if (ledger_admit(sv, l, request_id, bytes)) {
		l->storing--;
		free(it);
		return;
	}
	item_init(it, sv, l, p->pin_only ? ITEM_PIN : ITEM_PUT, request_id, p->id.data);
	it->replicas = p->replicas > WIRE_REPLICAS_MAX ? WIRE_REPLICAS_MAX : p->replicas;
	if (p->pin_only) {
		/* The commit finds out whether the chunk is here (NOT_FOUND if
		 * not): no lookup on the loop. */
		enqueue(sv, it);
		return;
	}
	it->payload = *payload;
	it->len = len;
	*payload = NULL;
	loopwork_submit(sv->lw, &it->lw, write_work, write_done);
}

/* ---- GetChunk ---- */

static void read_work(struct pool_job *pj)
{
	struct read_job *j = (struct read_job *)lw_job_of(pj);
	j->data = NULL;
	j->err = store_read_object_alloc(j->sv->s, j->id, OBJECTS_DIRECT, &j->data, &j->len);
}

static void read_done(struct lw_msg *msg)
{
	struct read_job *j = (struct read_job *)lw_job_of_msg(msg);
	struct link *l = link_find(j->sv->mesh, j->link_serial);
	if (l && l->serving)
		l->serving--;
	if (l && conn_ready(l->c)) {
		if (j->err) {
			if (j->err == SHOAL_ECORRUPT) {
				char hex[2 * CHUNK_ID_LEN + 1];
				log_warnx("chunk %s is corrupt; not serving it",
					  hex_id(j->id, hex));
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
			if (conn_send_owned(l->c, &env, j->data, j->len))
				log_warnx("%s: cannot encode a chunk", conn_remote(l->c));
			j->data = NULL;
		}
	}
	free(j->data);
	free(j);
}

void serve_on_get_chunk(struct serve *sv, struct link *l, uint64_t request_id,
			const Shoal__GetChunk *g)
{
	struct read_job *j = admit(l, &l->serving, SERVING_PER_LINK, request_id, sizeof(*j));
	if (!j)
		return;
	j->sv = sv;
	j->link_serial = l->serial;
	j->request_id = request_id;
	memcpy(j->id, g->id.data, CHUNK_ID_LEN);
	loopwork_submit(sv->lw, &j->lw, read_work, read_done);
}

/* ---- Have, Unpin ---- */

static void have_work(struct ops_job *oj, struct index *ix)
{
	struct have_job *j = (struct have_job *)oj;
	for (size_t i = 0; i < j->n; i++) {
		if (index_chunk_has(ix, j->ids[i]) != 1)
			continue;
		uint8_t bit = (uint8_t)(1u << (i % 8));
		j->bits[i / 8] |= bit;
		if (index_chunk_referenced(ix, j->ids[i]) == 1)
			j->own[i / 8] |= bit;
		/* Kept for an owner: its own files, or a member gone lately. */
		if ((j->own[i / 8] & bit) ||
		    index_chunk_pinned_by(ix, j->ids[i], (const uint8_t(*)[NODE_ID_LEN])j->recent,
					  j->nrecent) == 1)
			j->owned[i / 8] |= bit;
	}
}

static void have_done(struct ops_job *oj)
{
	struct have_job *j = (struct have_job *)oj;
	struct link *l = link_find(j->sv->mesh, j->link_serial);
	if (l && l->looking)
		l->looking--;
	if (l && conn_ready(l->c)) {
		Shoal__Envelope env = SHOAL__ENVELOPE__INIT;
		Shoal__HaveReply r = SHOAL__HAVE_REPLY__INIT;
		r.have.data = j->bits;
		r.have.len = (j->n + 7) / 8;
		r.own.data = j->own;
		r.own.len = (j->n + 7) / 8;
		r.owned.data = j->owned;
		r.owned.len = (j->n + 7) / 8;
		env.request_id = j->request_id;
		env.msg_case = SHOAL__ENVELOPE__MSG_HAVE_REPLY;
		env.have_reply = &r;
		link_send(l, &env);
	}
	free(j);
}

void serve_on_have(struct serve *sv, struct link *l, uint64_t request_id, const Shoal__Have *h)
{
	struct have_job *j = admit(l, &l->looking, LOOKING_PER_LINK, request_id, sizeof(*j));
	if (!j)
		return;
	j->sv = sv;
	j->link_serial = l->serial;
	j->request_id = request_id;
	for (size_t i = 0; i < h->n_ids && i < WIRE_IDS_MAX; i++)
		memcpy(j->ids[j->n++], h->ids[i].data, CHUNK_ID_LEN);
	j->nrecent = mesh_gone_lately(sv->mesh, j->recent, MESH_MEMBERS_MAX);
	ops_submit(sv->ops, OPS_READ, &j->job, have_work, have_done);
}

void serve_on_unpin(struct serve *sv, struct link *l, const Shoal__Unpin *u)
{
	for (size_t i = 0; i < u->n_ids; i++) {
		struct item *it = calloc(1, sizeof(*it));
		if (!it)
			return;
		item_init(it, sv, l, ITEM_UNPIN, 0, u->ids[i].data);
		enqueue(sv, it);
	}
}

/* ---- Fetch ---- */

static void fetch_work(struct ops_job *oj, struct index *ix)
{
	struct fetch_job *j = (struct fetch_job *)oj;
	struct fetch f = {
		.r = j->sv->remote,
		.s = j->sv->s,
		.ix = ix,
		.peers = (const uint8_t(*)[NODE_ID_LEN])j->peers,
		.npeers = j->npeers,
	};
	/* The requester gives this node a file of its own (shoal send): no
	 * pin of the requester's keeps it, so its rm or prune cannot take it. */
	j->err =
		fetch_receive(&f, &j->cap, j->requester, j->name, INDEX_DEFAULT_REPLICAS, j->filed);
	if (j->err)
		snprintf(j->why, sizeof(j->why), "%s", f.why[0] ? f.why : shoal_strerror(j->err));
	j->chunks = f.chunks;
	j->fetched = f.fetched;
}

static void fetch_done(struct ops_job *oj)
{
	struct fetch_job *j = (struct fetch_job *)oj;
	struct link *l = link_find(j->sv->mesh, j->link_serial);
	if (l && l->fetching)
		l->fetching--;
	char hex[2 * CHUNK_ID_LEN + 1], from[17];
	short_node_id(j->requester, from);
	if (j->err)
		log_warnx("receiving %s from %s failed: %s", hex_id(j->cap.id, hex), from, j->why);
	else
		log_info("received %s from %s as '%s': %llu chunks, %llu from the network",
			 hex_id(j->cap.id, hex), from, j->filed, (unsigned long long)j->chunks,
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
			d.name = j->filed;
			env.request_id = j->request_id;
			env.msg_case = SHOAL__ENVELOPE__MSG_FETCH_DONE;
			env.fetch_done = &d;
			link_send(l, &env);
		}
	}
	free(j->peers);
	free(j);
}

void serve_on_fetch(struct serve *sv, struct link *l, uint64_t request_id, const Shoal__Fetch *f)
{
	/* What is sent becomes this node's own file, outside any member's
	 * budget: a node already at its limit takes none. */
	const struct config *cfg = sv->mesh->cfg;
	if (cfg->storage_limit && sv->used >= cfg->storage_limit) {
		link_send_error(l, request_id, SHOAL__ERROR__CODE__NO_SPACE,
				"this node's storage limit is reached");
		return;
	}
	struct fetch_job *j = admit(l, &l->fetching, FETCHING_PER_LINK, request_id, sizeof(*j));
	if (!j)
		return;
	j->peers = calloc(MESH_MEMBERS_MAX, sizeof(*j->peers));
	if (!j->peers) {
		l->fetching--;
		free(j);
		link_send_error(l, request_id, SHOAL__ERROR__CODE__INTERNAL, "out of memory");
		return;
	}
	j->sv = sv;
	j->link_serial = l->serial;
	j->request_id = request_id;
	memcpy(j->requester, conn_peer_id(l->c), NODE_ID_LEN);
	memcpy(j->cap.id, f->manifest_id.data, CHUNK_ID_LEN);
	memcpy(j->cap.key, f->key.data, CHUNK_KEY_LEN);
	/* Checked by the wire's rules: empty or a valid name. */
	snprintf(j->name, sizeof(j->name), "%s", f->name);
	j->npeers = mesh_up_ids(sv->mesh, j->peers, NULL, MESH_MEMBERS_MAX);
	ops_submit(sv->ops, OPS_FETCH, &j->job, fetch_work, fetch_done);
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

static void outbox_work(struct ops_job *oj, struct index *ix)
{
	struct outbox_job *j = (struct outbox_job *)oj;
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

static void outbox_done(struct ops_job *oj)
{
	struct outbox_job *j = (struct outbox_job *)oj;
	struct serve *sv = j->sv;
	if (j->err)
		log_warnx("cannot take the unpins owed to other nodes: %s", shoal_strerror(j->err));
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
		struct link *l = member_link(sv->mesh, j->pairs[i].node);
		if (l) {
			Shoal__Envelope env = SHOAL__ENVELOPE__INIT;
			Shoal__Unpin u = SHOAL__UNPIN__INIT;
			u.ids = ids;
			u.n_ids = k - i;
			env.msg_case = SHOAL__ENVELOPE__MSG_UNPIN;
			env.unpin = &u;
			if (link_send(l, &env) == 0)
				log_debug("sent %zu unpins", k - i);
		}
		i = k;
	}
	sv->outbox_busy = 0;
	free(j->up);
	free(j->pairs);
	free(j);
}

void serve_tick(struct serve *sv, double now)
{
	if (!sv)
		return;
	ledger_tick(sv, now);
	if (sv->outbox_busy || now - sv->last_outbox < OUTBOX_INTERVAL)
		return;
	sv->last_outbox = now;
	struct outbox_job *j = calloc(1, sizeof(*j));
	if (j)
		j->up = calloc(MESH_MEMBERS_MAX, sizeof(*j->up));
	if (!j || !j->up) {
		free(j);
		return;
	}
	j->sv = sv;
	j->nup = mesh_up_ids(sv->mesh, j->up, NULL, MESH_MEMBERS_MAX);
	if (!j->nup) {
		free(j->up);
		free(j);
		return;
	}
	sv->outbox_busy = 1;
	/* On the writer: between two puts, never during one, so an Unpin
	 * cannot overtake a put placing the same copy again. */
	ops_submit(sv->ops, OPS_BACKGROUND, &j->job, outbox_work, outbox_done);
}

int serve_start(struct serve **out, struct store *s, struct mesh *mesh, struct ops *ops,
		struct remote *remote, struct loopwork *lw)
{
	struct serve *sv = calloc(1, sizeof(*sv));
	if (!sv)
		return -ENOMEM;
	sv->s = s;
	sv->mesh = mesh;
	sv->ops = ops;
	sv->remote = remote;
	sv->lw = lw;
	STAILQ_INIT(&sv->queue);
	int err = store_index_open(s, &sv->commit_ix);
	if (err) {
		free(sv);
		return err;
	}
	if (ledger_on(sv)) {
		/* The first count before any chunk is admitted: at start-up, on
		 * the commit connection nothing else uses yet. */
		struct count_job j = {.sv = sv};
		count_work(&j.job, sv->commit_ix);
		count_apply(sv, &j);
		free(j.rows);
		sv->last_count = monotonic_seconds();
	}
	*out = sv;
	return 0;
}

void serve_drain(struct serve *sv)
{
	sv->draining = 1;
}

void serve_close(struct serve *sv)
{
	if (sv)
		sv->closing = 1;
}

void serve_free(struct serve *sv)
{
	if (!sv)
		return;
	struct item *it;
	while ((it = STAILQ_FIRST(&sv->queue))) {
		STAILQ_REMOVE_HEAD(&sv->queue, next);
		free(it->payload);
		free(it);
	}
	index_close(sv->commit_ix);
	free(sv);
}
