/*
 * Requests to other nodes, made from threads that are not the loop. A store
 * operation (a put replicating its chunks, a get fetching them, repair) runs
 * on a thread of the operations queue (ops.h); it fills a struct rcall, hands
 * it to remote_start(), which posts it to the loop, and collects finished
 * calls from its rqueue. The loop owns the connections: it sends the request
 * on the member's link, matches the reply by request id, fails the call when
 * the link closes or the deadline passes, and pushes it onto the caller's
 * queue. Chunk bytes that come back are checked against their id on a worker
 * before the call finishes, and with RCALL_GET_STORE written into the store
 * as well, so what a caller receives is always the right bytes.
 *
 * Thread affinity: remote_start(), remote_have(), rqueue_*() and rbuf_*()
 * on any thread but the loop's (they post to it and may wait); the rest on
 * the loop thread. Workers read nothing of struct remote but `closed`.
 */
#ifndef SHOAL_NODE_REMOTE_H
#define SHOAL_NODE_REMOTE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>

#include "crypto/identity.h"
#include "crypto/seal.h"
#include "net/loopwork.h"
#include "net/wire.h"
#include "node/mesh.h"
#include "proto/name.h"
#include "store/objects.h"

/* Seconds a Have query waits for each peer's answer. */
#define REMOTE_HAVE_TIMEOUT 10.0
/* Bytes of a Have answer's bitmap. */
#define REMOTE_BITS ((WIRE_IDS_MAX + 7) / 8)

struct rcall;

struct remote {
	struct mesh *mesh;
	struct pool *pool;	  /* checks received chunks */
	struct objects *objects;  /* where RCALL_GET_STORE writes */
	struct loopwork *lw;	  /* posts calls to the loop */
	LIST_HEAD(, rcall) calls; /* in flight, loop thread */
	uint64_t next_request_id;
	atomic_int closed;
};

/* Sets up r; everything is borrowed for r's life. Loop thread, before use. */
void remote_init(struct remote *r, struct mesh *mesh, struct pool *pool, struct objects *objects,
		 struct loopwork *lw);

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
	STAILQ_HEAD(, rcall) done;
	unsigned pending; /* started and not yet taken back */
};

void rqueue_init(struct rqueue *q);
void rqueue_destroy(struct rqueue *q);
/* Waits for the next finished call; NULL when none is pending. */
struct rcall *rqueue_wait(struct rqueue *q);
/* The next finished call if there is one, without waiting; NULL otherwise. */
struct rcall *rqueue_poll(struct rqueue *q);

enum rcall_kind {
	RCALL_GET,	 /* GetChunk id: data/len receive the checked bytes (malloc'd) */
	RCALL_GET_STORE, /* GetChunk id, checked and written into the objects (no row) */
	RCALL_PUT,	 /* PutChunk id with buf's bytes (a reference is taken while sent) */
	RCALL_PIN,	 /* PutChunk id, pin_only: SHOAL_ENOTFOUND when the peer lacks it */
	RCALL_HAVE,	 /* Have ids[0..nids): have[] receives the answer bits */
	RCALL_FETCH,	 /* Fetch manifest id + key: chunks/fetched receive the counts */
	RCALL_RECOVERY,	 /* RecoveryQuery locator id: data/len receive the record packed
			  * (malloc'd; shape-checked only) */
};

struct rcall {
	/* set by the caller */
	enum rcall_kind kind;
	uint8_t peer[NODE_ID_LEN];
	uint8_t id[CHUNK_ID_LEN];
	uint8_t key[CHUNK_KEY_LEN]; /* RCALL_FETCH */
	const char *name;	    /* RCALL_FETCH: the name sent, NULL or "" for none */
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
		  * -ETIMEDOUT, -ECANCELED (the node stops), -EBUSY, -ENOSPC,
		  * -EREMOTEIO (it failed on its side), SHOAL_EPROTO */
	uint8_t have[REMOTE_BITS];
	uint8_t own[REMOTE_BITS];   /* RCALL_HAVE: held for the peer's own files */
	uint8_t owned[REMOTE_BITS]; /* ... held for an owner (HaveReply.owned) */
	uint64_t chunks, fetched;
	/* RCALL_FETCH: the name the peer filed the file under ("" from a peer
	 * that only keeps it for this node) */
	char filed[NAME_MAX_LEN + 1];
	/* private */
	struct remote *r;
	struct rqueue *q;
	struct lw_msg msg;
	struct pool_job job;
	int job_err;
	uint64_t request_id;
	uint64_t link_serial;
	double deadline;
	uint8_t *payload; /* received bytes, until checked */
	size_t payload_len;
	LIST_ENTRY(rcall) inflight;
	STAILQ_ENTRY(rcall) finished;
};

/* Starts c (any thread but the loop's, or the loop's when it then runs the
 * loop until c is back); it finishes onto q. */
void remote_start(struct remote *r, struct rcall *c, struct rqueue *q);

/*
 * Asks each of peers[0..npeers) which of ids[0..nids) (1..WIRE_IDS_MAX) it
 * holds, all at once, and waits for every answer (REMOTE_HAVE_TIMEOUT each).
 * have[p] gets peer p's bits (bit i % 8 of byte i / 8: it holds ids[i]);
 * own[p] (own may be NULL) which of those it keeps for its own files, and
 * owned[p] (may be NULL) which it keeps for an owner (its own files, or a
 * member gone lately: HaveReply.owned). A peer that does not answer gets all
 * zeros. Returns how many peers did not
 * answer, or npeers when out of memory. Any thread but the loop's.
 */
size_t remote_have(struct remote *r, const uint8_t (*peers)[NODE_ID_LEN], size_t npeers,
		   const uint8_t (*ids)[CHUNK_ID_LEN], size_t nids, uint8_t (*have)[REMOTE_BITS],
		   uint8_t (*own)[REMOTE_BITS], uint8_t (*owned)[REMOTE_BITS]);

/* Bit i of an answer's bitmap. */
static inline int remote_bit(const uint8_t *bits, size_t i)
{
	return (bits[i / 8] >> (i % 8)) & 1;
}

/* ---- on the loop ---- */

/* A reply frame (Chunk, PutAck, HaveReply, FetchDone or Error) arrived on l:
 * returns 1 when it answered a call in flight (a Chunk's payload is then
 * taken: *payload set to NULL), 0 when no call of l has its request id
 * (late, after a timeout, or never asked). env is borrowed. */
int remote_on_reply(struct remote *r, struct link *l, const Shoal__Envelope *env, uint8_t **payload,
		    size_t payload_len);
/* The link closed: its calls fail. */
void remote_link_closed(struct remote *r, struct link *l);
/* Fails calls past their deadline. */
void remote_tick(struct remote *r, double now);
/* The node stops: every call in flight, and every later one, fails. */
void remote_shutdown(struct remote *r);

#endif
