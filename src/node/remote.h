/*
 * Requests to other nodes, made from threads that are not the loop. A store
 * operation (a put replicating its chunks, a get fetching them) runs on a
 * thread of its own; it fills a struct rcall, hands it to remote_start(),
 * which posts it to the loop, and collects finished calls from its rqueue.
 * The loop owns the connections: it sends the request on the member's link,
 * matches the reply by request id, fails the call when the link closes or the
 * deadline passes, and pushes it onto the caller's queue. Chunk bytes that
 * come back are checked against their id on a worker before the call
 * finishes, and with RCALL_GET_STORE written into the store as well, so what
 * a caller receives is always the right bytes.
 */
#ifndef SHOAL_NODE_REMOTE_H
#define SHOAL_NODE_REMOTE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "crypto/identity.h"
#include "crypto/seal.h"
#include "net/loopwork.h"
#include "net/wire.h"

struct node;
struct link;

/* Chunk bytes shared between a caller and the connections sending them. */
struct rbuf {
	atomic_int refs;
	size_t len;
	uint8_t data[];
};
/* A copy of p[0..len) with one reference; NULL when out of memory. */
struct rbuf *rbuf_new(const uint8_t *p, size_t len);
/* Drops a reference (any thread); the last frees. NULL is fine. */
void rbuf_unref(struct rbuf *b);

/* Finished calls, in the order they finished. Thread-safe. */
struct rqueue {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct rcall *head, *tail;
	unsigned pending; /* started and not yet taken back */
};

void rqueue_init(struct rqueue *q);
void rqueue_destroy(struct rqueue *q);
/* Waits for the next finished call; NULL when none is pending. */
struct rcall *rqueue_wait(struct rqueue *q);

enum rcall_kind {
	RCALL_GET,	 /* GetChunk id: data/len receive the checked bytes (malloc'd) */
	RCALL_GET_STORE, /* GetChunk id, checked and written into the objects (no row) */
	RCALL_PUT,	 /* PutChunk id with buf's bytes (a reference is taken while sent) */
	RCALL_PIN,	 /* PutChunk id, pin_only: SHOAL_ENOTFOUND when the peer lacks it */
	RCALL_HAVE,	 /* Have ids[0..nids): have[] receives the answer bits */
	RCALL_FETCH,	 /* Fetch manifest id + key: chunks/fetched receive the counts */
};

struct rcall {
	/* set by the caller */
	enum rcall_kind kind;
	uint8_t peer[NODE_ID_LEN];
	uint8_t id[CHUNK_ID_LEN];
	uint8_t key[CHUNK_KEY_LEN]; /* RCALL_FETCH */
	uint8_t *data;		    /* see the kinds */
	size_t len;
	struct rbuf *buf;		    /* RCALL_PUT, borrowed */
	unsigned replicas;		    /* RCALL_PUT, RCALL_PIN: copies wanted in all */
	const uint8_t (*ids)[CHUNK_ID_LEN]; /* RCALL_HAVE, borrowed */
	size_t nids;
	double timeout; /* seconds; 0 for none (the link's failure ends it) */
	void *user;	/* the caller's */
	/* set when finished */
	int err; /* 0, SHOAL_ENOTFOUND, SHOAL_ECORRUPT (bad bytes or refused as
		  * such), -ENOTCONN (not connected), -ECONNRESET (link lost),
		  * -ETIMEDOUT, -ECANCELED (the node stops), SHOAL_EPROTO */
	uint8_t have[(WIRE_IDS_MAX + 7) / 8];
	uint8_t own[(WIRE_IDS_MAX + 7) / 8]; /* RCALL_HAVE: held for the peer's own files */
	uint64_t chunks, fetched;
	/* private */
	struct node *n;
	struct rqueue *q;
	struct lw_msg msg;
	struct pool_job job;
	int job_err;
	uint64_t request_id;
	uint64_t link_serial;
	double deadline;
	uint8_t *payload; /* received bytes, until checked */
	size_t payload_len;
	struct rcall *next;
};

/* Starts c (any thread but the loop's); it finishes onto q. */
void remote_start(struct node *n, struct rcall *c, struct rqueue *q);

/* ---- on the loop ---- */

/* Offers a reply frame to the calls in flight; returns 1 when it was one
 * (env and payload are then consumed), 0 when not. */
int remote_on_reply(struct link *l, Shoal__Envelope *env, uint8_t *payload, size_t payload_len);
/* The link closed: its calls fail. */
void remote_link_closed(struct link *l);
/* Fails calls past their deadline. */
void remote_tick(struct node *n, double now);
/* The node stops: every call in flight, and every later one, fails. */
void remote_shutdown(struct node *n);

#endif
