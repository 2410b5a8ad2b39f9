/*
 * Serving other nodes: GetChunk (a chunk read and sent), PutChunk (a replica
 * to keep, or a pin on one already here), Have (which of these ids are
 * here), Unpin and Fetch (fetch a file the asking node sends into this store
 * and file it among this node's own names, received from that node; refused
 * when this node's storage_limit is reached); and sending the Unpins this node owes others (the
 * index's unpins outbox).
 *
 * A pushed chunk is hashed and written on the worker pool; pins are recorded
 * by group commit: whatever arrived while the previous commit ran is
 * committed together (the touched object directories synced, then one SQLite
 * transaction), and only then is each PutAck sent, so an ack always means
 * durable. GetChunk reads on the worker pool; Have looks up on the operations
 * queue's reader; a Fetch runs on its fetcher, one at a time; the outbox is
 * drained on the writer, between two store operations, so an Unpin never
 * overtakes a put placing the same copy again. Each kind of request is
 * bounded per link (the counters in struct link); past the bound the peer is
 * answered TOO_BUSY.
 *
 * Thread affinity: every function here runs on the loop thread. The jobs
 * read only what they carry (ids, payloads, the ids of the members up) and
 * the store, never a link or a member; their completions find the link again
 * by serial.
 */
#ifndef SHOAL_NODE_SERVE_H
#define SHOAL_NODE_SERVE_H

#include "node/mesh.h"
#include "node/ops.h"
#include "node/remote.h"

struct serve;

/* Sets up serving for store s; everything is borrowed for its life (lw and
 * its worker pool run the chunk reads, writes and commits). Returns 0 with
 * *out set, or an error of opening the commit's index connection. */
int serve_start(struct serve **out, struct store *s, struct mesh *mesh, struct ops *ops,
		struct remote *remote, struct loopwork *lw);
/* This node is leaving (drain): every PutChunk is refused from now on
 * (REFUSED), so pushers take the next member. */
void serve_drain(struct serve *sv);

/* The node stops: the completions still to come start no new commit. */
void serve_close(struct serve *sv);
/* Frees what is left, once ops, pool and lw are stopped. NULL is fine. */
void serve_free(struct serve *sv);

/* A request from l, an established member's link. env's message is
 * borrowed; serve_on_put_chunk() takes the payload (*payload set to NULL). */
void serve_on_get_chunk(struct serve *sv, struct link *l, uint64_t request_id,
			const Shoal__GetChunk *g);
void serve_on_put_chunk(struct serve *sv, struct link *l, uint64_t request_id,
			const Shoal__PutChunk *p, uint8_t **payload, size_t len);
void serve_on_have(struct serve *sv, struct link *l, uint64_t request_id, const Shoal__Have *h);
void serve_on_unpin(struct serve *sv, struct link *l, const Shoal__Unpin *u);
void serve_on_fetch(struct serve *sv, struct link *l, uint64_t request_id, const Shoal__Fetch *f);

/* Periodic work: the unpins outbox. */
void serve_tick(struct serve *sv, double now);

#endif
