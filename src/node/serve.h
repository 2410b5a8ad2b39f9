/*
 * Serving other nodes' storage requests: PutChunk (a replica to keep, or a
 * pin on one already here), Have, Unpin and Fetch; and sending the Unpins
 * this node owes others (the index's unpins outbox).
 *
 * A pushed chunk is hashed and written on a worker; pins are recorded by
 * group commit: whatever arrived while the previous commit ran is committed
 * together (the touched object directories fsynced, then one SQLite
 * transaction), and only then is each PutAck sent, so an ack always means
 * durable. A Fetch runs on a thread of its own, one at a time, and pins the
 * fetched file (its manifest id) for the node that asked.
 */
#ifndef SHOAL_NODE_SERVE_H
#define SHOAL_NODE_SERVE_H

#include "node/node.h"

int serve_start(struct node *n);
/* Waits for the Fetch work in flight (after remote_shutdown). */
void serve_stop(struct node *n);
/* Frees the rest, once the node's workers and loop bridge are gone. */
void serve_free(struct node *n);

/* A request from an established member: PutChunk, Have, Unpin or Fetch.
 * Takes env and payload. */
void serve_on_frame(struct link *l, Shoal__Envelope *env, uint8_t *payload, size_t payload_len);

/* Periodic work: the unpins outbox. */
void serve_tick(struct node *n, double now);

#endif
