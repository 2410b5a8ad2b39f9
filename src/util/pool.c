/*
 * Worker pool; see pool.h. One mutex guards the queue and every job's done
 * flag; jobs are chunk-sized (hundreds of microseconds or more), so one lock is
 * never the bottleneck.
 */
#include "util/pool.h"

#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

#include "util/log.h"

struct pool {
	pthread_mutex_t lock;
	pthread_cond_t work;	 /* signalled when a job is queued or on stop */
	pthread_cond_t finished; /* broadcast when a job is done */
	STAILQ_HEAD(, pool_job) queue;
	int stopping;
	unsigned nthreads;
	pthread_t threads[];
};

static void *worker_main(void *arg)
{
	struct pool *p = arg;
	pthread_mutex_lock(&p->lock);
	for (;;) {
		while (STAILQ_EMPTY(&p->queue) && !p->stopping)
			pthread_cond_wait(&p->work, &p->lock);
		struct pool_job *job = STAILQ_FIRST(&p->queue);
		if (!job)
			break;
		STAILQ_REMOVE_HEAD(&p->queue, next);
		pthread_mutex_unlock(&p->lock);

		job->fn(job);
		pool_job_fn notify = job->notify;

		pthread_mutex_lock(&p->lock);
		job->done = 1;
		pthread_cond_broadcast(&p->finished);
		if (notify) {
			/* After done is set the job may be freed by its owner, so
			 * notify gets it only while we still hold the lock. */
			notify(job);
		}
	}
	pthread_mutex_unlock(&p->lock);
	return NULL;
}

struct pool *pool_new(unsigned nthreads)
{
	if (nthreads == 0) {
		long n = sysconf(_SC_NPROCESSORS_ONLN);
		nthreads = n > 0 ? (unsigned)n : 1;
	}
	struct pool *p = calloc(1, sizeof(*p) + nthreads * sizeof(pthread_t));
	if (!p)
		fatalx("out of memory");
	pthread_mutex_init(&p->lock, NULL);
	STAILQ_INIT(&p->queue);
	pthread_cond_init(&p->work, NULL);
	pthread_cond_init(&p->finished, NULL);
	p->nthreads = nthreads;
	for (unsigned i = 0; i < nthreads; i++) {
		if (pthread_create(&p->threads[i], NULL, worker_main, p))
			fatalx("cannot start worker thread");
	}
	return p;
}

void pool_free(struct pool *p)
{
	if (!p)
		return;
	pthread_mutex_lock(&p->lock);
	p->stopping = 1;
	pthread_cond_broadcast(&p->work);
	pthread_mutex_unlock(&p->lock);
	for (unsigned i = 0; i < p->nthreads; i++)
		pthread_join(p->threads[i], NULL);
	pthread_cond_destroy(&p->finished);
	pthread_cond_destroy(&p->work);
	pthread_mutex_destroy(&p->lock);
	free(p);
}

unsigned pool_size(const struct pool *p)
{
	return p->nthreads;
}

void pool_submit(struct pool *p, struct pool_job *job)
{
	job->done = 0;
	pthread_mutex_lock(&p->lock);
	STAILQ_INSERT_TAIL(&p->queue, job, next);
	pthread_cond_signal(&p->work);
	pthread_mutex_unlock(&p->lock);
}

void pool_wait(struct pool *p, struct pool_job *job)
{
	pthread_mutex_lock(&p->lock);
	while (!job->done)
		pthread_cond_wait(&p->finished, &p->lock);
	pthread_mutex_unlock(&p->lock);
}
