/*
 * The bridge from worker threads back to the event loop. Heavy work runs on the
 * pool; when it is done, or when a worker has news for the loop (progress of a
 * long operation), it posts a message here and the loop thread runs the
 * message's callback. Callbacks therefore never run on workers, and protocol
 * state stays owned by the loop alone.
 */
#ifndef SHOAL_NET_LOOPWORK_H
#define SHOAL_NET_LOOPWORK_H

#include <event2/event.h>
#include <stddef.h>
#include <sys/queue.h>

#include "util/pool.h"

struct loopwork;
struct lw_msg;

typedef void (*lw_fn)(struct lw_msg *m);

/* A message to the loop; the poster owns it until fn runs, which then owns it. */
struct lw_msg {
	lw_fn fn; /* runs on the loop thread */
	STAILQ_ENTRY(lw_msg) next;
};

/* A job: work runs on a worker, then done on the loop. Embed it. */
struct lw_job {
	struct pool_job job; /* job.fn is the work */
	struct lw_msg msg;   /* msg.fn is the completion */
	struct loopwork *lw;
};

/* Creates the bridge for base (evthread_use_pthreads() must have been called
 * before base was made); pool runs loopwork_submit()'s work (NULL when only
 * loopwork_post() is used). Aborts on failure. */
struct loopwork *loopwork_new(struct event_base *base, struct pool *pool);
/* Runs the messages still queued, then frees lw. The pool must be idle. */
void loopwork_free(struct loopwork *lw);

/* Runs the messages posted so far (not those their callbacks post), on the
 * loop thread; returns how many ran. The loop calls it when woken; callers
 * tearing down call it until it returns 0. */
unsigned loopwork_drain(struct loopwork *lw);

/* Posts m from any thread; m->fn runs soon on the loop thread. */
void loopwork_post(struct loopwork *lw, struct lw_msg *m);

/* Runs work(job) on the pool, then done(msg) on the loop. */
void loopwork_submit(struct loopwork *lw, struct lw_job *j, pool_job_fn work, lw_fn done);

/* The lw_job that embeds a pool_job or an lw_msg. */
static inline struct lw_job *lw_job_of(struct pool_job *pj)
{
	return (struct lw_job *)pj;
}
static inline struct lw_job *lw_job_of_msg(struct lw_msg *m)
{
	return (struct lw_job *)((char *)m - offsetof(struct lw_job, msg));
}

#endif
