/*
 * A small worker pool for heavy work (hashing, encryption, disk I/O). Jobs are
 * caller-owned structs embedding struct pool_job; the pool runs job->fn on a
 * worker thread, then marks the job done and, when job->notify is set, calls
 * it on the worker (the daemon uses it to wake its event loop). The caller
 * bounds how many jobs it has in flight; the queue itself is unbounded.
 */
#ifndef SHOAL_UTIL_POOL_H
#define SHOAL_UTIL_POOL_H

#include <stddef.h>
#include <sys/queue.h>

struct pool;
struct pool_job;

typedef void (*pool_job_fn)(struct pool_job *job);

struct pool_job {
	pool_job_fn fn;		     /* the work; runs on a worker */
	pool_job_fn notify;	     /* optional; runs on the worker after done is set */
	STAILQ_ENTRY(pool_job) next; /* queue link, owned by the pool while queued */
	int done;		     /* set under the pool's lock; read via pool_wait() */
};

/* Starts nthreads workers (0 means one per online CPU). Aborts on failure. */
struct pool *pool_new(unsigned nthreads);
/* Waits for every queued job, stops the workers and frees p. NULL is fine. */
void pool_free(struct pool *p);
/* Number of worker threads. */
unsigned pool_size(const struct pool *p);
/* Queues job (done is reset to 0). job must stay valid until it is done. */
void pool_submit(struct pool *p, struct pool_job *job);
/* Blocks until job is done. */
void pool_wait(struct pool *p, struct pool_job *job);

#endif
