/*
 * Worker-to-loop messages; see loopwork.h. A mutex-guarded list and one
 * persistent event that posters activate; the loop swaps the list out and runs
 * it in posting order.
 */
#include "net/loopwork.h"

#include <pthread.h>
#include <stddef.h>
#include <stdlib.h>

#include "util/log.h"

struct loopwork {
	struct event_base *base;
	struct pool *pool;
	struct event *ev;
	pthread_mutex_t lock;
	STAILQ_HEAD(lw_list, lw_msg) queue;
};

unsigned loopwork_drain(struct loopwork *lw)
{
	struct lw_list batch = STAILQ_HEAD_INITIALIZER(batch);
	pthread_mutex_lock(&lw->lock);
	STAILQ_CONCAT(&batch, &lw->queue);
	pthread_mutex_unlock(&lw->lock);
	unsigned ran = 0;
	struct lw_msg *m;
	while ((m = STAILQ_FIRST(&batch))) {
		STAILQ_REMOVE_HEAD(&batch, next);
		m->fn(m);
		ran++;
	}
	return ran;
}

static void drain(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	loopwork_drain(arg);
}

struct loopwork *loopwork_new(struct event_base *base, struct pool *pool)
{
	struct loopwork *lw = calloc(1, sizeof(*lw));
	if (!lw)
		fatalx("out of memory");
	lw->base = base;
	lw->pool = pool;
	pthread_mutex_init(&lw->lock, NULL);
	STAILQ_INIT(&lw->queue);
	lw->ev = event_new(base, -1, EV_PERSIST, drain, lw);
	if (!lw->ev)
		fatalx("cannot create the loop's work event");
	return lw;
}

void loopwork_free(struct loopwork *lw)
{
	if (!lw)
		return;
	/* Messages still queued own memory (finished jobs): run them. */
	loopwork_drain(lw);
	event_free(lw->ev);
	pthread_mutex_destroy(&lw->lock);
	free(lw);
}

void loopwork_post(struct loopwork *lw, struct lw_msg *m)
{
	pthread_mutex_lock(&lw->lock);
	STAILQ_INSERT_TAIL(&lw->queue, m, next);
	pthread_mutex_unlock(&lw->lock);
	event_active(lw->ev, EV_READ, 0);
}

static void job_notify(struct pool_job *pj)
{
	struct lw_job *j = lw_job_of(pj);
	loopwork_post(j->lw, &j->msg);
}

void loopwork_submit(struct loopwork *lw, struct lw_job *j, pool_job_fn work, lw_fn done)
{
	j->lw = lw;
	j->job.fn = work;
	j->job.notify = job_notify;
	j->msg.fn = done;
	pool_submit(lw->pool, &j->job);
}
