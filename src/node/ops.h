/*
 * The operations queue: the threads that work on the store for the daemon,
 * and the order they keep, in the manner of redis' bio.c. Every job is
 * submitted from the loop to a lane; its work runs on that lane's thread
 * with that thread's own index connection; its done callback then runs on
 * the loop.
 *
 * The lanes:
 *  - OPS_STORE and OPS_BACKGROUND share one thread, the writer, which runs
 *    one job at a time: every operation that changes what the store holds
 *    or for whom (the CLI's put, rm, send, verify and locate; repair and
 *    scrub; the unpin outbox; saving the member table), except get. This is the
 *    one-writer rule: a put placing a copy and an unpin or a surplus release
 *    of the same copy never interleave. A waiting OPS_STORE job (the CLI's)
 *    always runs before a waiting OPS_BACKGROUND one, and background work is
 *    submitted in slices, so a CLI operation waits for at most the slice that
 *    is running.
 *  - OPS_READ has a thread of its own, the reader: ls, the counts of status
 *    and the lookups behind a peer's Have. It only reads (SQLite's WAL gives
 *    it a consistent snapshot while the writer writes), so reads never queue
 *    behind bulk copying.
 *  - OPS_FETCH has a thread of its own: files fetched at another node's
 *    request (Fetch), which can take minutes and must not hold the writer.
 *  - OPS_GET has a thread of its own: the CLI's get, which reads what is
 *    here and fetches the rest (recorded under its own token, as a Fetch's
 *    is), so that waiting on a slow or stalled holder never holds up a put,
 *    an rm or another CLI operation on the writer. A get racing an rm of the
 *    same file may fail (every chunk is verified), never restore wrong bytes.
 *
 * Chunks pushed by other nodes are not written here: they are hashed and
 * written on the worker pool and committed by serve.c's group commit, which
 * the store's gc_lock orders against garbage collection (store.h).
 *
 * Thread affinity: ops_start(), ops_submit() and ops_stop() run on the loop
 * thread; work on its lane's thread; done on the loop thread.
 */
#ifndef SHOAL_NODE_OPS_H
#define SHOAL_NODE_OPS_H

#include <sys/queue.h>

#include "net/loopwork.h"
#include "store/store.h"

enum ops_lane {
	OPS_STORE,	/* the writer: the CLI's operations */
	OPS_BACKGROUND, /* the writer, after every waiting OPS_STORE job */
	OPS_READ,	/* the reader */
	OPS_FETCH,	/* fetches for other nodes */
	OPS_GET,	/* the CLI's get */
	OPS_LANES
};

struct ops;
struct ops_job;

/* Runs on the lane's thread; ix is that thread's index connection. */
typedef void (*ops_work_fn)(struct ops_job *j, struct index *ix);
/* Runs on the loop once work returned; owns j from then on. */
typedef void (*ops_done_fn)(struct ops_job *j);

/* A job: embed it in the module's own job struct (container_of to get back). */
struct ops_job {
	ops_work_fn work;
	ops_done_fn done;
	/* private */
	struct lw_msg msg;
	STAILQ_ENTRY(ops_job) entry;
};

/*
 * Starts the threads. The writer uses s->index (nothing else may use it
 * while ops runs); the reader and the fetcher open connections of their own
 * (store_index_open()). Completions are posted to the loop of base.
 * Returns 0 with *out set, or an error of opening the index.
 */
int ops_start(struct ops **out, struct store *s, struct event_base *base);

/* Queues j on lane; work(j, ix) runs on the lane's thread, then done(j) on
 * the loop. j must stay valid until done is called, which it always is. */
void ops_submit(struct ops *o, enum ops_lane lane, struct ops_job *j, ops_work_fn work,
		ops_done_fn done);

/* Jobs waiting on lane (not counting one running). Loop thread. */
unsigned ops_queued(struct ops *o, enum ops_lane lane);

/*
 * Runs every job still queued, stops the threads, runs the done callbacks
 * still pending (so every module their jobs refer to must still exist),
 * closes the connections and frees o. Cancel long jobs first (their own
 * flags; remote_shutdown() for the ones waiting on other nodes). NULL is
 * fine.
 */
void ops_stop(struct ops *o);

#endif
