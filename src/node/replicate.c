/*
 * Replicated put; see replicate.h.
 */
#include "node/replicate.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "node/placement.h"
#include "util/encoding.h"
#include "util/error.h"
#include "util/log.h"

#define PUT_TIMEOUT   60.0
#define HOLDERS_MAX   32
#define BUSY_RETRIES  100
#define BUSY_PAUSE_US 20000

/* One chunk on its way to its holders. */
struct pchunk {
	uint8_t id[CHUNK_ID_LEN];
	struct rbuf *buf; /* a copy, until every holder answered */
	size_t len;
	size_t *order; /* peers ranked for this chunk */
	size_t next;   /* next rank to try */
	unsigned acked, outstanding;
	unsigned busy_retries;
	uint16_t asked[HOLDERS_MAX]; /* peers sent a request (for placed rows) */
	unsigned nasked;
	struct pchunk *next_chunk;
};

/* The copies a chunk of the put wants in all (replicate.h). */
static unsigned wanted_of(const struct replicate *r)
{
	return r->wanted > r->copies + 1 ? r->wanted : r->copies + 1;
}

static void start(struct replicate *r, struct pchunk *pc, size_t peer, enum rcall_kind kind)
{
	struct rcall *c = calloc(1, sizeof(*c));
	if (!c) {
		r->err = -ENOMEM;
		return;
	}
	c->kind = kind;
	memcpy(c->peer, r->peers[peer], NODE_ID_LEN);
	memcpy(c->id, pc->id, CHUNK_ID_LEN);
	if (kind == RCALL_PUT)
		c->buf = pc->buf;
	c->timeout = PUT_TIMEOUT;
	c->replicas = wanted_of(r);
	c->user = pc;
	pc->outstanding++;
	if (pc->nasked < HOLDERS_MAX && (!pc->nasked || pc->asked[pc->nasked - 1] != peer))
		pc->asked[pc->nasked++] = (uint16_t)peer;
	remote_start(r->remote, c, &r->q);
}

static size_t peer_index(struct replicate *r, const uint8_t id[NODE_ID_LEN])
{
	for (size_t i = 0; i < r->npeers; i++) {
		if (!memcmp(r->peers[i], id, NODE_ID_LEN))
			return i;
	}
	return r->npeers;
}

/* Asks the next ranked peer; returns 0 when none is left. */
static int try_next(struct replicate *r, struct pchunk *pc)
{
	if (pc->next >= r->npeers || pc->nasked >= HOLDERS_MAX)
		return 0;
	/* A node this one placed the chunk on before probably still has it: ask
	 * it to pin its copy first. Otherwise send the bytes straight away (a
	 * holder that has them after all just pins its copy). */
	size_t peer = pc->order[pc->next++];
	int placed = index_placed_has(r->s->index, pc->id, r->peers[peer]);
	start(r, pc, peer, placed == 0 ? RCALL_PUT : RCALL_PIN);
	return 1;
}

static void chunk_settled(struct replicate *r, struct pchunk *pc)
{
	r->inflight_bytes -= pc->len;
	r->inflight_chunks--;
	rbuf_unref(pc->buf);
	pc->buf = NULL;
	free(pc->order);
	pc->order = NULL;
	if (pc->acked < r->copies && !r->err) {
		char hex[2 * CHUNK_ID_LEN + 1];
		hex_encode(hex, pc->id, CHUNK_ID_LEN);
		snprintf(r->why, sizeof(r->why),
			 "chunk %.16s reached %u of %u nodes (the others failed or left)", hex,
			 pc->acked + 1, r->copies + 1);
		r->err = SHOAL_EREPLICAS;
	}
}

/* Takes one finished call and acts on it. */
static void process_one(struct replicate *r)
{
	struct rcall *c = rqueue_wait(&r->q);
	if (!c)
		return;
	struct pchunk *pc = c->user;
	pc->outstanding--;
	size_t peer = peer_index(r, c->peer);
	if (!c->err) {
		pc->acked++;
		if (c->kind == RCALL_PUT)
			r->sent++;
		else
			r->pinned++;
	} else if (c->kind == RCALL_PIN && c->err == SHOAL_ENOTFOUND && peer < r->npeers) {
		start(r, pc, peer, RCALL_PUT); /* it lacks the bytes: send them */
	} else if (c->err == -EBUSY && peer < r->npeers && pc->busy_retries < BUSY_RETRIES) {
		/* The holder is working through a backlog: ask it again shortly. */
		pc->busy_retries++;
		usleep(BUSY_PAUSE_US);
		start(r, pc, peer, c->kind);
	} else {
		char sid[NODE_ID_STR_LEN + 1];
		node_id_format(c->peer, sid);
		log_info("replica of a chunk on %.16s failed: %s; trying another node", sid,
			 shoal_strerror(c->err));
		if (pc->acked + pc->outstanding < r->copies)
			try_next(r, pc);
	}
	free(c);
	if (pc->outstanding == 0 && pc->buf)
		chunk_settled(r, pc);
}

static int on_stored(void *arg, const uint8_t id[CHUNK_ID_LEN], const uint8_t *data, size_t len)
{
	struct replicate *r = arg;
	r->nchunks++;
	if (r->err)
		return r->err;
	if (!r->copies)
		return 0;
	while (r->inflight_chunks && (r->inflight_bytes + len > REPLICATE_WINDOW ||
				      r->inflight_chunks >= REPLICATE_CHUNKS))
		process_one(r);
	if (r->err)
		return r->err;
	struct pchunk *pc = calloc(1, sizeof(*pc));
	if (!pc)
		return -ENOMEM;
	pc->buf = rbuf_new(data, len);
	pc->order = malloc(r->npeers * sizeof(*pc->order));
	if (!pc->buf || !pc->order) {
		rbuf_unref(pc->buf);
		free(pc->order);
		free(pc);
		return -ENOMEM;
	}
	memcpy(pc->id, id, CHUNK_ID_LEN);
	pc->len = len;
	placement_rank(r->peers, r->npeers, id, pc->order);
	if (r->last)
		r->last->next_chunk = pc;
	else
		r->chunks = pc;
	r->last = pc;
	r->inflight_bytes += len;
	r->inflight_chunks++;
	for (unsigned i = 0; i < r->copies; i++)
		try_next(r, pc);
	return r->err;
}

static int on_finish(void *arg)
{
	struct replicate *r = arg;
	while (r->inflight_chunks)
		process_one(r);
	/* Record every node asked, acked or not: an unpin to a node that
	 * never pinned is harmless; a copy nobody would unpin is not. */
	struct index *ix = r->s->index;
	int err = r->chunks ? index_begin(ix) : 0;
	for (struct pchunk *pc = r->chunks; !err && pc; pc = pc->next_chunk) {
		for (unsigned i = 0; !err && i < pc->nasked; i++)
			err = index_placed_add(ix, pc->id, r->peers[pc->asked[i]]);
		/* How many copies to keep when holders are lost (repair). */
		if (!err)
			err = index_copies_want(ix, pc->id, wanted_of(r));
	}
	if (r->chunks) {
		if (!err)
			err = index_commit(ix);
		else
			index_rollback(ix);
	}
	return r->err ? r->err : err;
}

void replicate_init(struct replicate *r, struct files_replica_ops *ops)
{
	rqueue_init(&r->q);
	r->chunks = r->last = NULL;
	r->inflight_bytes = 0;
	r->inflight_chunks = 0;
	r->nchunks = r->sent = r->pinned = 0;
	r->err = 0;
	r->why[0] = 0;
	if (r->copies > r->npeers)
		r->copies = (unsigned)r->npeers;
	ops->stored = on_stored;
	ops->finish = on_finish;
	ops->arg = r;
}

void replicate_release(struct replicate *r)
{
	while (r->inflight_chunks)
		process_one(r);
	while (r->chunks) {
		struct pchunk *pc = r->chunks;
		r->chunks = pc->next_chunk;
		rbuf_unref(pc->buf);
		free(pc->order);
		free(pc);
	}
	rqueue_destroy(&r->q);
}
