/*
 * Requests to other nodes on behalf of blocking threads; see remote.h.
 */
#include "node/remote.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/hash.h"
#include "node/node.h"
#include "store/objects.h"
#include "util/error.h"
#include "util/log.h"

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
}

void rqueue_destroy(struct rqueue *q)
{
	pthread_mutex_destroy(&q->mu);
	pthread_cond_destroy(&q->cv);
}

struct rcall *rqueue_wait(struct rqueue *q)
{
	pthread_mutex_lock(&q->mu);
	while (!q->head && q->pending)
		pthread_cond_wait(&q->cv, &q->mu);
	struct rcall *c = q->head;
	if (c) {
		q->head = c->next;
		if (!q->head)
			q->tail = NULL;
		c->next = NULL;
		q->pending--;
	}
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
	c->next = NULL;
	if (q->tail)
		q->tail->next = c;
	else
		q->head = c;
	q->tail = c;
	pthread_cond_signal(&q->cv);
	pthread_mutex_unlock(&q->mu);
}

/* ---- the loop's list of calls in flight ---- */

static void calls_add(struct node *n, struct rcall *c)
{
	c->next = n->calls;
	n->calls = c;
}

static struct rcall *calls_take(struct node *n, uint64_t link_serial, uint64_t request_id)
{
	for (struct rcall **pp = &n->calls; *pp; pp = &(*pp)->next) {
		struct rcall *c = *pp;
		if (c->request_id == request_id && c->link_serial == link_serial) {
			*pp = c->next;
			c->next = NULL;
			return c;
		}
	}
	return NULL;
}

static void send_request(struct node *n, struct rcall *c)
{
	struct member *m = member_find(n, c->peer);
	if (!m || m->state != MEMBER_UP || !m->link || !conn_ready(m->link->c)) {
		finish(c, -ENOTCONN);
		return;
	}
	Shoal__Envelope env = SHOAL__ENVELOPE__INIT;
	Shoal__GetChunk get = SHOAL__GET_CHUNK__INIT;
	Shoal__PutChunk put = SHOAL__PUT_CHUNK__INIT;
	Shoal__Have have = SHOAL__HAVE__INIT;
	Shoal__Fetch fetch = SHOAL__FETCH__INIT;
	ProtobufCBinaryData ids[WIRE_IDS_MAX];
	struct rbuf *payload = NULL;
	c->request_id = ++n->next_request_id;
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
		env.msg_case = SHOAL__ENVELOPE__MSG_FETCH;
		env.fetch = &fetch;
		break;
	}
	int err;
	if (payload) {
		atomic_fetch_add(&payload->refs, 1);
		err = conn_send_ref(m->link->c, &env, payload->data, payload->len, rbuf_sent,
				    payload);
	} else {
		err = conn_send(m->link->c, &env, NULL, 0);
	}
	if (err) {
		finish(c, SHOAL_EPROTO);
		return;
	}
	c->link_serial = m->link->serial;
	c->deadline = c->timeout > 0 ? node_now() + c->timeout : 0;
	calls_add(n, c);
}

static void on_start(struct lw_msg *msg)
{
	struct rcall *c = (struct rcall *)((char *)msg - offsetof(struct rcall, msg));
	if (c->n->remote_closed)
		finish(c, -ECANCELED);
	else
		send_request(c->n, c);
}

void remote_start(struct node *n, struct rcall *c, struct rqueue *q)
{
	c->n = n;
	c->q = q;
	c->err = 0;
	c->payload = NULL;
	c->next = NULL;
	pthread_mutex_lock(&q->mu);
	q->pending++;
	pthread_mutex_unlock(&q->mu);
	if (atomic_load(&n->remote_closed)) {
		finish(c, -ECANCELED);
		return;
	}
	c->msg.fn = on_start;
	loopwork_post(n->lw, &c->msg);
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
		c->job_err = objects_write(&c->n->store->objects, c->id, c->payload, c->payload_len,
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
	default:
		return SHOAL_EPROTO;
	}
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
	}
	return 0;
}

int remote_on_reply(struct link *l, Shoal__Envelope *env, uint8_t *payload, size_t payload_len)
{
	switch (env->msg_case) {
	case SHOAL__ENVELOPE__MSG_CHUNK:
	case SHOAL__ENVELOPE__MSG_PUT_ACK:
	case SHOAL__ENVELOPE__MSG_HAVE_REPLY:
	case SHOAL__ENVELOPE__MSG_FETCH_DONE:
	case SHOAL__ENVELOPE__MSG_ERROR:
		break;
	default:
		return 0;
	}
	if (env->request_id == 0)
		return 0;
	struct node *n = l->n;
	struct rcall *c = calls_take(n, l->serial, env->request_id);
	if (!c) {
		/* Late (timed out) or never asked: harmless, dropped. */
		if (env->msg_case == SHOAL__ENVELOPE__MSG_ERROR)
			return 0;
		wire_free(env, NULL);
		free(payload);
		return 1;
	}
	int err = 0;
	if (!reply_fits(c, env->msg_case)) {
		err = SHOAL_EPROTO;
	} else if (env->msg_case == SHOAL__ENVELOPE__MSG_ERROR) {
		err = error_to_err(env->error);
	} else if (env->msg_case == SHOAL__ENVELOPE__MSG_CHUNK) {
		if (memcmp(env->chunk->id.data, c->id, CHUNK_ID_LEN)) {
			err = SHOAL_ECORRUPT;
		} else {
			c->payload = payload;
			c->payload_len = payload_len;
			payload = NULL;
			c->job.fn = check_work;
			c->job.notify = check_notify;
			pool_submit(n->pool, &c->job);
			c = NULL;
		}
	} else if (env->msg_case == SHOAL__ENVELOPE__MSG_PUT_ACK) {
		if (memcmp(env->put_ack->id.data, c->id, CHUNK_ID_LEN))
			err = SHOAL_EPROTO;
	} else if (env->msg_case == SHOAL__ENVELOPE__MSG_HAVE_REPLY) {
		memset(c->have, 0, sizeof(c->have));
		size_t want = (c->nids + 7) / 8, got = env->have_reply->have.len;
		memcpy(c->have, env->have_reply->have.data, got < want ? got : want);
		memset(c->own, 0, sizeof(c->own));
		got = env->have_reply->own.len;
		memcpy(c->own, env->have_reply->own.data, got < want ? got : want);
	} else if (env->msg_case == SHOAL__ENVELOPE__MSG_FETCH_DONE) {
		c->chunks = env->fetch_done->chunks;
		c->fetched = env->fetch_done->fetched;
	}
	if (c)
		finish(c, err);
	wire_free(env, NULL);
	free(payload);
	return 1;
}

void remote_link_closed(struct link *l)
{
	struct node *n = l->n;
	for (struct rcall **pp = &n->calls; *pp;) {
		struct rcall *c = *pp;
		if (c->link_serial == l->serial) {
			*pp = c->next;
			finish(c, -ECONNRESET);
		} else {
			pp = &c->next;
		}
	}
}

void remote_tick(struct node *n, double now)
{
	for (struct rcall **pp = &n->calls; *pp;) {
		struct rcall *c = *pp;
		if (c->deadline > 0 && now > c->deadline) {
			*pp = c->next;
			finish(c, -ETIMEDOUT);
		} else {
			pp = &c->next;
		}
	}
}

void remote_shutdown(struct node *n)
{
	atomic_store(&n->remote_closed, 1);
	while (n->calls) {
		struct rcall *c = n->calls;
		n->calls = c->next;
		finish(c, -ECANCELED);
	}
}
