/*
 * Requests to other nodes on behalf of blocking threads; see remote.h.
 */
#include "node/remote.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/hash.h"
#include "util/clock.h"
#include "util/error.h"
#include "util/log.h"

void remote_init(struct remote *r, struct mesh *mesh, struct pool *pool, struct objects *objects,
		 struct loopwork *lw)
{
	memset(r, 0, sizeof(*r));
	r->mesh = mesh;
	r->pool = pool;
	r->objects = objects;
	r->lw = lw;
	LIST_INIT(&r->calls);
	atomic_init(&r->closed, 0);
}

struct rbuf *rbuf_new(const uint8_t *p, size_t len)
{
	struct rbuf *b = malloc(sizeof(*b) + len);
	if (!b)
		return NULL;
	atomic_init(&b->refs, 1);
	b->len = len;
	memcpy(b->data, p, len);
	return b;
}

void rbuf_unref(struct rbuf *b)
{
	if (b && atomic_fetch_sub(&b->refs, 1) == 1)
		free(b);
}

static void rbuf_sent(const void *data, size_t len, void *arg)
{
	(void)data;
	(void)len;
	rbuf_unref(arg);
}

void rqueue_init(struct rqueue *q)
{
	memset(q, 0, sizeof(*q));
	pthread_mutex_init(&q->mu, NULL);
	pthread_cond_init(&q->cv, NULL);
	STAILQ_INIT(&q->done);
}

void rqueue_destroy(struct rqueue *q)
{
	pthread_mutex_destroy(&q->mu);
	pthread_cond_destroy(&q->cv);
}

/* Takes the first finished call; q->mu held. */
static struct rcall *rqueue_take(struct rqueue *q)
{
	struct rcall *c = STAILQ_FIRST(&q->done);
	if (c) {
		STAILQ_REMOVE_HEAD(&q->done, finished);
		q->pending--;
	}
	return c;
}

struct rcall *rqueue_wait(struct rqueue *q)
{
	pthread_mutex_lock(&q->mu);
	while (STAILQ_EMPTY(&q->done) && q->pending)
		pthread_cond_wait(&q->cv, &q->mu);
	struct rcall *c = rqueue_take(q);
	pthread_mutex_unlock(&q->mu);
	return c;
}

struct rcall *rqueue_poll(struct rqueue *q)
{
	pthread_mutex_lock(&q->mu);
	struct rcall *c = rqueue_take(q);
	pthread_mutex_unlock(&q->mu);
	return c;
}

/* Hands c back to its caller (any thread). */
static void finish(struct rcall *c, int err)
{
	struct rqueue *q = c->q;
	c->err = err;
	free(c->payload);
	c->payload = NULL;
	pthread_mutex_lock(&q->mu);
	STAILQ_INSERT_TAIL(&q->done, c, finished);
	pthread_cond_signal(&q->cv);
	pthread_mutex_unlock(&q->mu);
}

/* ---- the loop's list of calls in flight ---- */

static struct rcall *calls_take(struct remote *r, uint64_t link_serial, uint64_t request_id)
{
	struct rcall *c;
	LIST_FOREACH(c, &r->calls, inflight)
	{
		if (c->request_id == request_id && c->link_serial == link_serial) {
			LIST_REMOVE(c, inflight);
			return c;
		}
	}
	return NULL;
}

static void send_request(struct remote *r, struct rcall *c)
{
	struct link *l = member_link(r->mesh, c->peer);
	if (!l) {
		finish(c, -ENOTCONN);
		return;
	}
	Shoal__Envelope env = SHOAL__ENVELOPE__INIT;
	Shoal__GetChunk get = SHOAL__GET_CHUNK__INIT;
	Shoal__PutChunk put = SHOAL__PUT_CHUNK__INIT;
	Shoal__Have have = SHOAL__HAVE__INIT;
	Shoal__Fetch fetch = SHOAL__FETCH__INIT;
	Shoal__RecoveryQuery query = SHOAL__RECOVERY_QUERY__INIT;
	ProtobufCBinaryData ids[WIRE_IDS_MAX];
	struct rbuf *payload = NULL;
	c->request_id = ++r->next_request_id;
	env.request_id = c->request_id;
	switch (c->kind) {
	case RCALL_GET:
	case RCALL_GET_STORE:
		get.id.data = c->id;
		get.id.len = CHUNK_ID_LEN;
		env.msg_case = SHOAL__ENVELOPE__MSG_GET_CHUNK;
		env.get_chunk = &get;
		break;
	case RCALL_PUT:
	case RCALL_PIN:
		put.id.data = c->id;
		put.id.len = CHUNK_ID_LEN;
		put.pin_only = c->kind == RCALL_PIN;
		put.replicas = c->replicas;
		if (c->kind == RCALL_PUT)
			payload = c->buf;
		env.msg_case = SHOAL__ENVELOPE__MSG_PUT_CHUNK;
		env.put_chunk = &put;
		break;
	case RCALL_HAVE:
		if (c->nids == 0 || c->nids > WIRE_IDS_MAX) {
			finish(c, SHOAL_EPROTO);
			return;
		}
		for (size_t i = 0; i < c->nids; i++) {
			ids[i].data = (uint8_t *)c->ids[i];
			ids[i].len = CHUNK_ID_LEN;
		}
		have.ids = ids;
		have.n_ids = c->nids;
		env.msg_case = SHOAL__ENVELOPE__MSG_HAVE;
		env.have = &have;
		break;
	case RCALL_FETCH:
		fetch.manifest_id.data = c->id;
		fetch.manifest_id.len = CHUNK_ID_LEN;
		fetch.key.data = c->key;
		fetch.key.len = CHUNK_KEY_LEN;
		fetch.name = c->name ? (char *)c->name : "";
		env.msg_case = SHOAL__ENVELOPE__MSG_FETCH;
		env.fetch = &fetch;
		break;
	case RCALL_RECOVERY:
		query.locator.data = c->id;
		query.locator.len = CHUNK_ID_LEN;
		env.msg_case = SHOAL__ENVELOPE__MSG_RECOVERY_QUERY;
		env.recovery_query = &query;
		break;
	}
	int err;
	if (payload) {
		atomic_fetch_add(&payload->refs, 1);
		err = conn_send_ref(l->c, &env, payload->data, payload->len, rbuf_sent, payload);
	} else {
		err = link_send(l, &env);
	}
	if (err) {
		finish(c, SHOAL_EPROTO);
		return;
	}
	c->link_serial = l->serial;
	c->deadline = c->timeout > 0 ? monotonic_seconds() + c->timeout : 0;
	LIST_INSERT_HEAD(&r->calls, c, inflight);
}

static void on_start(struct lw_msg *msg)
{
	struct rcall *c = (struct rcall *)((char *)msg - offsetof(struct rcall, msg));
	if (atomic_load(&c->r->closed))
		finish(c, -ECANCELED);
	else
		send_request(c->r, c);
}

void remote_start(struct remote *r, struct rcall *c, struct rqueue *q)
{
	c->r = r;
	c->q = q;
	c->err = 0;
	c->payload = NULL;
	pthread_mutex_lock(&q->mu);
	q->pending++;
	pthread_mutex_unlock(&q->mu);
	if (atomic_load(&r->closed)) {
		finish(c, -ECANCELED);
		return;
	}
	c->msg.fn = on_start;
	loopwork_post(r->lw, &c->msg);
}

size_t remote_have(struct remote *r, const uint8_t (*peers)[NODE_ID_LEN], size_t npeers,
		   const uint8_t (*ids)[CHUNK_ID_LEN], size_t nids, uint8_t (*have)[REMOTE_BITS],
		   uint8_t (*own)[REMOTE_BITS], uint8_t (*owned)[REMOTE_BITS])
{
	for (size_t p = 0; p < npeers; p++) {
		memset(have[p], 0, sizeof(have[p]));
		if (own)
			memset(own[p], 0, sizeof(own[p]));
		if (owned)
			memset(owned[p], 0, sizeof(owned[p]));
	}
	if (!npeers)
		return 0;
	struct rcall *calls = calloc(npeers, sizeof(*calls));
	if (!calls)
		return npeers;
	struct rqueue q;
	rqueue_init(&q);
	for (size_t p = 0; p < npeers; p++) {
		calls[p].kind = RCALL_HAVE;
		memcpy(calls[p].peer, peers[p], NODE_ID_LEN);
		calls[p].ids = ids;
		calls[p].nids = nids;
		calls[p].timeout = REMOTE_HAVE_TIMEOUT;
		remote_start(r, &calls[p], &q);
	}
	size_t silent = 0;
	struct rcall *c;
	while ((c = rqueue_wait(&q))) {
		size_t p = (size_t)(c - calls);
		if (c->err) {
			silent++;
			continue;
		}
		memcpy(have[p], c->have, sizeof(have[p]));
		if (own)
			memcpy(own[p], c->own, sizeof(own[p]));
		if (owned)
			memcpy(owned[p], c->owned, sizeof(owned[p]));
	}
	rqueue_destroy(&q);
	free(calls);
	return silent;
}

/* ---- replies ---- */

/* Received chunk bytes are checked (and stored) on a worker; the call
 * finishes from the pool's notify, after which the pool no longer touches
 * the job (the caller may free the call at once). */
static void check_work(struct pool_job *pj)
{
	struct rcall *c = (struct rcall *)((char *)pj - offsetof(struct rcall, job));
	uint8_t got[CHUNK_ID_LEN];
	sha256(c->payload, c->payload_len, got);
	if (memcmp(got, c->id, CHUNK_ID_LEN)) {
		c->job_err = SHOAL_ECORRUPT;
		return;
	}
	c->len = c->payload_len;
	if (c->kind == RCALL_GET_STORE) {
		/* Frame payloads are page-aligned and padded: direct I/O. */
		c->job_err = objects_write(c->r->objects, c->id, c->payload, c->payload_len,
					   OBJECTS_DIRECT | OBJECTS_DEFER, NULL);
		return;
	}
	c->data = c->payload;
	c->payload = NULL;
	c->job_err = 0;
}

static void check_notify(struct pool_job *pj)
{
	struct rcall *c = (struct rcall *)((char *)pj - offsetof(struct rcall, job));
	finish(c, c->job_err);
}

static int error_to_err(const Shoal__Error *e)
{
	switch (e->code) {
	case SHOAL__ERROR__CODE__NOT_FOUND:
		return SHOAL_ENOTFOUND;
	case SHOAL__ERROR__CODE__CORRUPT:
		return SHOAL_ECORRUPT;
	case SHOAL__ERROR__CODE__TOO_BUSY:
		return -EBUSY;
	case SHOAL__ERROR__CODE__NO_SPACE:
		return -ENOSPC;
	case SHOAL__ERROR__CODE__REFUSED:
		return -EPERM; /* it will not (a budget of ours there is used up) */
	case SHOAL__ERROR__CODE__INTERNAL:
		return -EREMOTEIO; /* it failed on its side (its disk, say) */
	default:
		return SHOAL_EPROTO;
	}
}

/* Copies the first want bytes of a bitmap from a reply into bits
 * (REMOTE_BITS bytes), zeros past what it holds. */
static void copy_bits(uint8_t bits[REMOTE_BITS], const ProtobufCBinaryData *from, size_t want)
{
	memset(bits, 0, REMOTE_BITS);
	size_t n = from->len < want ? from->len : want;
	if (n)
		memcpy(bits, from->data, n);
}

/* Whether a reply of this kind answers a call of c's kind. */
static int reply_fits(const struct rcall *c, Shoal__Envelope__MsgCase mc)
{
	if (mc == SHOAL__ENVELOPE__MSG_ERROR)
		return 1;
	switch (c->kind) {
	case RCALL_GET:
	case RCALL_GET_STORE:
		return mc == SHOAL__ENVELOPE__MSG_CHUNK;
	case RCALL_PUT:
	case RCALL_PIN:
		return mc == SHOAL__ENVELOPE__MSG_PUT_ACK;
	case RCALL_HAVE:
		return mc == SHOAL__ENVELOPE__MSG_HAVE_REPLY;
	case RCALL_FETCH:
		return mc == SHOAL__ENVELOPE__MSG_FETCH_DONE;
	case RCALL_RECOVERY:
		return mc == SHOAL__ENVELOPE__MSG_RECOVERY_RECORD;
	}
	return 0;
}

int remote_on_reply(struct remote *r, struct link *l, const Shoal__Envelope *env, uint8_t **payload,
		    size_t payload_len)
{
	if (env->request_id == 0)
		return 0;
	struct rcall *c = calls_take(r, l->serial, env->request_id);
	if (!c)
		return 0;
	int err = 0;
	if (!reply_fits(c, env->msg_case)) {
		err = SHOAL_EPROTO;
	} else if (env->msg_case == SHOAL__ENVELOPE__MSG_ERROR) {
		err = error_to_err(env->error);
	} else if (env->msg_case == SHOAL__ENVELOPE__MSG_CHUNK) {
		if (memcmp(env->chunk->id.data, c->id, CHUNK_ID_LEN)) {
			err = SHOAL_ECORRUPT;
		} else {
			c->payload = *payload;
			c->payload_len = payload_len;
			*payload = NULL;
			c->job.fn = check_work;
			c->job.notify = check_notify;
			pool_submit(r->pool, &c->job);
			return 1;
		}
	} else if (env->msg_case == SHOAL__ENVELOPE__MSG_PUT_ACK) {
		if (memcmp(env->put_ack->id.data, c->id, CHUNK_ID_LEN))
			err = SHOAL_EPROTO;
	} else if (env->msg_case == SHOAL__ENVELOPE__MSG_HAVE_REPLY) {
		/* Bits past the answer, or a bitmap left out (empty: all zero). */
		size_t want = (c->nids + 7) / 8;
		copy_bits(c->have, &env->have_reply->have, want);
		copy_bits(c->own, &env->have_reply->own, want);
		copy_bits(c->owned, &env->have_reply->owned, want);
	} else if (env->msg_case == SHOAL__ENVELOPE__MSG_FETCH_DONE) {
		c->chunks = env->fetch_done->chunks;
		c->fetched = env->fetch_done->fetched;
		/* Checked by the wire's rules: empty or a valid name. */
		snprintf(c->filed, sizeof(c->filed), "%s", env->fetch_done->name);
	} else if (env->msg_case == SHOAL__ENVELOPE__MSG_RECOVERY_RECORD) {
		/* Shape-checked by the wire; the caller checks the rest. */
		size_t n = shoal__recovery_record__get_packed_size(env->recovery_record);
		c->data = malloc(n ? n : 1);
		if (c->data) {
			c->len = shoal__recovery_record__pack(env->recovery_record, c->data);
		} else {
			err = -ENOMEM;
		}
	}
	finish(c, err);
	return 1;
}

void remote_link_closed(struct remote *r, struct link *l)
{
	struct rcall *c, *next;
	for (c = LIST_FIRST(&r->calls); c; c = next) {
		next = LIST_NEXT(c, inflight);
		if (c->link_serial == l->serial) {
			LIST_REMOVE(c, inflight);
			finish(c, -ECONNRESET);
		}
	}
}

void remote_tick(struct remote *r, double now)
{
	struct rcall *c, *next;
	for (c = LIST_FIRST(&r->calls); c; c = next) {
		next = LIST_NEXT(c, inflight);
		if (c->deadline > 0 && now > c->deadline) {
			LIST_REMOVE(c, inflight);
			finish(c, -ETIMEDOUT);
		}
	}
}

void remote_shutdown(struct remote *r)
{
	atomic_store(&r->closed, 1);
	struct rcall *c;
	while ((c = LIST_FIRST(&r->calls))) {
		LIST_REMOVE(c, inflight);
		finish(c, -ECANCELED);
	}
}
