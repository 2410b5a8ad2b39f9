/*
 * Tests for src/node/ops.c, the operations queue, on a real store and event
 * loop: each job's work runs on its lane's thread with that thread's own
 * index connection and its done on the loop; while the writer is held, a
 * waiting CLI job (OPS_STORE) goes before background jobs queued earlier,
 * and the reader and the fetcher still run; ops_stop() runs every job still
 * queued, including one a done callback submits during the stop, so every
 * done fires.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include <event2/event.h>
#include <event2/thread.h>

#include "../store/store_fixture.h"
#include "node/ops.h"
#include "util/clock.h"
#include "util/log.h"

#define WAIT_SECONDS 10.0

struct world {
	char home[STORE_FIXTURE_PATH];
	struct store *s;
	struct event_base *base;
	struct event *wake;
	struct ops *ops;
	pthread_t loop_thread;
	/* the order in which work ran, by job tag */
	pthread_mutex_t mu;
	char order[64];
	size_t norder;
};

struct job {
	struct ops_job job;
	struct world *w;
	char tag;
	atomic_int release; /* hold the lane until set (when hold is set) */
	int hold;
	atomic_int running;
	pthread_t ran_on;
	struct index *ix;
	int done;
	struct job *then; /* submitted from done, to OPS_BACKGROUND */
};

static void on_wake(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
}

static int setup(void **state)
{
	struct world *w = calloc(1, sizeof(*w));
	assert_non_null(w);
	assert_int_equal(store_fixture_setup(w->home, NULL, &w->s, "ops"), 0);
	w->base = event_base_new();
	assert_non_null(w->base);
	w->wake = event_new(w->base, -1, EV_PERSIST, on_wake, NULL);
	struct timeval tv = {0, 10000};
	event_add(w->wake, &tv);
	pthread_mutex_init(&w->mu, NULL);
	w->loop_thread = pthread_self();
	assert_int_equal(ops_start(&w->ops, w->s, w->base), 0);
	*state = w;
	return 0;
}

static int teardown(void **state)
{
	struct world *w = *state;
	ops_stop(w->ops);
	event_free(w->wake);
	event_base_free(w->base);
	pthread_mutex_destroy(&w->mu);
	int err = store_fixture_teardown(w->home, NULL, w->s);
	free(w);
	return err;
}

static void work(struct ops_job *oj, struct index *ix)
{
	struct job *j = (struct job *)oj;
	j->ran_on = pthread_self();
	j->ix = ix;
	atomic_store(&j->running, 1);
	while (j->hold && !atomic_load(&j->release))
		usleep(1000);
	/* The connection works on this thread. */
	uint64_t count = 0, bytes = 0;
	assert_int_equal(index_chunk_stats(ix, &count, &bytes), 0);
	pthread_mutex_lock(&j->w->mu);
	j->w->order[j->w->norder++] = j->tag;
	pthread_mutex_unlock(&j->w->mu);
}

static void done(struct ops_job *oj)
{
	struct job *j = (struct job *)oj;
	/* On the loop thread. */
	assert_true(pthread_equal(pthread_self(), j->w->loop_thread));
	j->done = 1;
	if (j->then)
		ops_submit(j->w->ops, OPS_BACKGROUND, &j->then->job, work, done);
}

static void run_until(struct world *w, int *flag)
{
	double deadline = monotonic_seconds() + WAIT_SECONDS;
	while (!*flag) {
		if (monotonic_seconds() > deadline)
			fail_msg("timed out waiting for a job");
		event_base_loop(w->base, EVLOOP_ONCE);
	}
}

static void wait_running(struct job *j)
{
	double deadline = monotonic_seconds() + WAIT_SECONDS;
	while (!atomic_load(&j->running)) {
		if (monotonic_seconds() > deadline)
			fail_msg("timed out waiting for a job to start");
		usleep(1000);
	}
}

static void test_foreground_before_background(void **state)
{
	struct world *w = *state;
	struct job hold = {.w = w, .tag = 'H', .hold = 1};
	struct job bg1 = {.w = w, .tag = 'b'}, bg2 = {.w = w, .tag = 'c'};
	struct job fg = {.w = w, .tag = 'F'};
	ops_submit(w->ops, OPS_BACKGROUND, &hold.job, work, done);
	wait_running(&hold);
	ops_submit(w->ops, OPS_BACKGROUND, &bg1.job, work, done);
	ops_submit(w->ops, OPS_BACKGROUND, &bg2.job, work, done);
	ops_submit(w->ops, OPS_STORE, &fg.job, work, done);
	assert_int_equal(ops_queued(w->ops, OPS_BACKGROUND), 2);
	assert_int_equal(ops_queued(w->ops, OPS_STORE), 1);
	atomic_store(&hold.release, 1);
	run_until(w, &bg2.done);
	run_until(w, &fg.done);
	assert_int_equal(w->norder, 4);
	assert_memory_equal(w->order, "HFbc", 4);
	/* One writer thread, on the store's own connection. */
	assert_true(pthread_equal(hold.ran_on, fg.ran_on));
	assert_true(pthread_equal(hold.ran_on, bg2.ran_on));
	assert_ptr_equal(fg.ix, w->s->index);
}

static void test_reader_and_fetcher_run_beside_the_writer(void **state)
{
	struct world *w = *state;
	struct job hold = {.w = w, .tag = 'H', .hold = 1};
	struct job rd = {.w = w, .tag = 'r'}, fe = {.w = w, .tag = 'f'};
	ops_submit(w->ops, OPS_STORE, &hold.job, work, done);
	wait_running(&hold);
	ops_submit(w->ops, OPS_READ, &rd.job, work, done);
	ops_submit(w->ops, OPS_FETCH, &fe.job, work, done);
	run_until(w, &rd.done);
	run_until(w, &fe.done);
	assert_false(hold.done);
	/* Each on a thread and connection of its own. */
	assert_false(pthread_equal(rd.ran_on, hold.ran_on));
	assert_false(pthread_equal(fe.ran_on, hold.ran_on));
	assert_false(pthread_equal(rd.ran_on, fe.ran_on));
	assert_ptr_not_equal(rd.ix, w->s->index);
	assert_ptr_not_equal(fe.ix, w->s->index);
	assert_ptr_not_equal(rd.ix, fe.ix);
	atomic_store(&hold.release, 1);
	run_until(w, &hold.done);
}

static void test_stop_runs_what_is_queued(void **state)
{
	struct world *w = *state;
	struct job hold = {.w = w, .tag = 'H', .hold = 1};
	struct job later = {.w = w, .tag = 'l'}, chained = {.w = w, .tag = 'x'};
	struct job queued = {.w = w, .tag = 'q', .then = &chained};
	ops_submit(w->ops, OPS_STORE, &hold.job, work, done);
	wait_running(&hold);
	ops_submit(w->ops, OPS_BACKGROUND, &queued.job, work, done);
	ops_submit(w->ops, OPS_READ, &later.job, work, done);
	atomic_store(&hold.release, 1);
	ops_stop(w->ops);
	w->ops = NULL;
	/* Every done ran, the one submitted from a done during the stop too. */
	assert_true(hold.done && queued.done && later.done && chained.done);
	assert_int_equal(w->norder, 4);
}

int main(void)
{
	log_init(LOG_LEVEL_ERROR, 0);
	if (evthread_use_pthreads())
		return 1;
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_foreground_before_background, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reader_and_fetcher_run_beside_the_writer,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_stop_runs_what_is_queued, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
