/*
 * The operations queue; see ops.h. One mutex guards every lane's queue; each
 * thread sleeps on its own condition variable.
 */
#include "node/ops.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>

#include "util/log.h"

enum thread_kind { WRITER, READER, FETCHER, GETTER, THREADS };

struct ops;

struct ops_thread {
	struct ops *o;
	enum thread_kind kind;
	pthread_t tid;
	pthread_cond_t cv;
	struct index *ix;
	int own_ix; /* opened here (the writer borrows the store's) */
	int started;
};

struct ops {
	pthread_mutex_t mu;
	STAILQ_HEAD(, ops_job) queue[OPS_LANES];
	unsigned queued[OPS_LANES];
	int stopping;
	struct ops_thread threads[THREADS];
	struct loopwork *lw;
};

static enum thread_kind thread_of(enum ops_lane lane)
{
	switch (lane) {
	case OPS_READ:
		return READER;
	case OPS_FETCH:
		return FETCHER;
	case OPS_GET:
		return GETTER;
	default:
		return WRITER;
	}
}

static void deliver(struct lw_msg *m)
{
	struct ops_job *j = (struct ops_job *)((char *)m - offsetof(struct ops_job, msg));
	j->done(j);
}

/* The next job for thread t, in lane order; NULL when there is none. Called
 * with o->mu held. */
static struct ops_job *take(struct ops *o, enum thread_kind t)
{
	for (int lane = 0; lane < OPS_LANES; lane++) {
		if (thread_of((enum ops_lane)lane) != t)
			continue;
		struct ops_job *j = STAILQ_FIRST(&o->queue[lane]);
		if (j) {
			STAILQ_REMOVE_HEAD(&o->queue[lane], entry);
			o->queued[lane]--;
			return j;
		}
	}
	return NULL;
}

static void *thread_main(void *arg)
{
	struct ops_thread *t = arg;
	struct ops *o = t->o;
	pthread_mutex_lock(&o->mu);
	for (;;) {
		struct ops_job *j = take(o, t->kind);
		if (!j) {
			if (o->stopping)
				break;
			pthread_cond_wait(&t->cv, &o->mu);
			continue;
		}
		pthread_mutex_unlock(&o->mu);
		j->work(j, t->ix);
		loopwork_post(o->lw, &j->msg);
		pthread_mutex_lock(&o->mu);
	}
	pthread_mutex_unlock(&o->mu);
	return NULL;
}

int ops_start(struct ops **out, struct store *s, struct event_base *base)
{
	struct ops *o = calloc(1, sizeof(*o));
	if (!o)
		return -ENOMEM;
	pthread_mutex_init(&o->mu, NULL);
	for (int lane = 0; lane < OPS_LANES; lane++)
		STAILQ_INIT(&o->queue[lane]);
	o->lw = loopwork_new(base, NULL);
	int err = 0;
	for (int k = 0; k < THREADS; k++) {
		struct ops_thread *t = &o->threads[k];
		t->o = o;
		t->kind = (enum thread_kind)k;
		pthread_cond_init(&t->cv, NULL);
		if (k == WRITER) {
			t->ix = s->index;
		} else if (!err) {
			err = store_index_open(s, &t->ix);
			t->own_ix = !err;
		}
	}
	for (int k = 0; !err && k < THREADS; k++) {
		struct ops_thread *t = &o->threads[k];
		if (pthread_create(&t->tid, NULL, thread_main, t))
			err = -EAGAIN;
		else
			t->started = 1;
	}
	if (err) {
		log_warnx("cannot start the store threads: %s",
			  err == -EAGAIN ? "out of threads" : "cannot open the index");
		ops_stop(o);
		return err;
	}
	*out = o;
	return 0;
}

void ops_submit(struct ops *o, enum ops_lane lane, struct ops_job *j, ops_work_fn work,
		ops_done_fn done)
{
	j->work = work;
	j->done = done;
	j->msg.fn = deliver;
	pthread_mutex_lock(&o->mu);
	STAILQ_INSERT_TAIL(&o->queue[lane], j, entry);
	o->queued[lane]++;
	pthread_cond_signal(&o->threads[thread_of(lane)].cv);
	pthread_mutex_unlock(&o->mu);
}

unsigned ops_queued(struct ops *o, enum ops_lane lane)
{
	pthread_mutex_lock(&o->mu);
	unsigned n = o->queued[lane];
	pthread_mutex_unlock(&o->mu);
	return n;
}

void ops_stop(struct ops *o)
{
	if (!o)
		return;
	pthread_mutex_lock(&o->mu);
	o->stopping = 1;
	for (int k = 0; k < THREADS; k++)
		pthread_cond_signal(&o->threads[k].cv);
	pthread_mutex_unlock(&o->mu);
	for (int k = 0; k < THREADS; k++) {
		struct ops_thread *t = &o->threads[k];
		if (t->started)
			pthread_join(t->tid, NULL);
	}
	/* What is still queued (the threads never started, or a done callback
	 * run here submitted more) runs here, until nothing is left, so every
	 * done callback fires. */
	for (;;) {
		unsigned ran = 0;
		for (int lane = 0; lane < OPS_LANES; lane++) {
			struct ops_job *j;
			while ((j = STAILQ_FIRST(&o->queue[lane]))) {
				STAILQ_REMOVE_HEAD(&o->queue[lane], entry);
				j->work(j, o->threads[thread_of((enum ops_lane)lane)].ix);
				loopwork_post(o->lw, &j->msg);
				ran++;
			}
		}
		ran += loopwork_drain(o->lw);
		if (!ran)
			break;
	}
	loopwork_free(o->lw);
	for (int k = 0; k < THREADS; k++) {
		struct ops_thread *t = &o->threads[k];
		if (t->own_ix)
			index_close(t->ix);
		pthread_cond_destroy(&t->cv);
	}
	pthread_mutex_destroy(&o->mu);
	free(o);
}
