/*
 * A running node: the daemon. node.c owns the node's life and nothing else:
 * it opens the store, the TLS context and the listener, starts the modules
 * in order, each given the narrow things it uses (mesh.h, ops.h, remote.h,
 * members.h, catalog.h, serve.h, repair.h, recovery.h, peer.h, ctl.h), accepts
 * connections within the configured limits, runs every module's tick, and
 * stops them in reverse order on SIGTERM or SIGINT.
 *
 * Leaving (shoal drain): node.c notes home/draining, serve refuses new
 * copies and repair's passes become drain passes; once nothing is held only
 * here, Leave goes to every member, home/left replaces home/draining and the
 * loop ends (exit 0). A daemon started on a home with home/draining resumes
 * the drain; one with home/left refuses to start.
 *
 * The modules, from the bottom up (each calls only those before it):
 *   config, home, placement, plan   pure parts
 *   candidates                      gossiped nodes, the dial budget (pure)
 *   revoke                          the revocation list (home/revocations)
 *   watch                           inotify hints of a folder's changes
 *   mesh                            links and members: the tables
 *   ops                             the threads that work on the store
 *   remote                          requests to other nodes from those threads
 *   fetch, replicate                a file's chunks from and to the network
 *   members                         Hello, keepalive, peer exchange, dialling
 *   catalog                         the network catalog and its gossip
 *   serve, repair                   serving peers; keeping copies (and the drain)
 *   recovery                        the name table on the network, records held
 *   trust                           revocation, leave and forget carried out
 *   peer                            the dispatcher: every frame, one table
 *   ctl                             the control socket
 *   node                            this: start, tick, stop
 *
 * Thread affinity: the loop thread (the one that calls node_open() and runs
 * base).
 */
#ifndef SHOAL_NODE_NODE_H
#define SHOAL_NODE_NODE_H

#include <event2/event.h>

#include "node/config.h"

/* The daemon warns this many days before its certificate expires. */
#define NODE_CERT_WARN_DAYS 30

/* The drain's notes in the home. */
#define NODE_DRAINING_FILE "draining"
#define NODE_LEFT_FILE	   "left"

struct node;
struct mesh;
struct ops;
struct peer;
struct remote;
struct store;

/*
 * Opens the node of home on base (evthread_use_pthreads() called before base
 * was made), with the effective settings cfg (copied): listens, starts every
 * module and its tick, and starts dialling. Returns 0 with *out set, or an
 * error (logged) with everything undone.
 */
int node_open(struct node **out, const char *home, const struct config *cfg,
	      struct event_base *base);

/* Stops every module in reverse order and frees n (the loop must not be
 * running). NULL is fine. */
void node_close(struct node *n);

/* Runs the node of home until SIGTERM or SIGINT, or the end of a drain.
 * Returns a process exit status (0 for those). */
int node_run(const char *home, const struct config *cfg);

/* The address the node listens on, as bound (the port resolved). */
const char *node_listen_addr(const struct node *n);
/* Its parts, for tests that drive a node in-process (loop thread). */
struct mesh *node_mesh(struct node *n);
struct ops *node_ops(struct node *n);
struct peer *node_peer(struct node *n);
struct remote *node_remote(struct node *n);
struct store *node_store(struct node *n);

#endif
