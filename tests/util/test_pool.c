/*
 * Tests for src/util/pool.c: the worker pool. Many jobs must each run exactly
 * once, on a worker thread rather than the submitter; pool_wait must return
 * only once a job's work is visible; notify must fire once per job, after done
 * is set; a job can be resubmitted once done; and pool_free must run every job
 * still queued before it returns. No test sleeps: ordering is forced with
 * gates (mutex and condition variable) the jobs themselves wait on, and the
 * drain test opens its gate only once /proc shows pool_free() blocked.
 */
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cmocka.h>

#include "crypto/hash.h"
#include "util/pool.h"

/* A gate that jobs wait on until the test opens it. */
struct gate {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int open;
	int waiting; /* how many jobs have reached the gate */
};

static void gate_init(struct gate *g)
{
	pthread_mutex_init(&g->lock, NULL);
	pthread_cond_init(&g->cond, NULL);
	g->open = 0;
	g->waiting = 0;
}

static void gate_destroy(struct gate *g)
{
	pthread_cond_destroy(&g->cond);
	pthread_mutex_destroy(&g->lock);
}

static void gate_pass(struct gate *g)
{
	pthread_mutex_lock(&g->lock);
	g->waiting++;
	pthread_cond_broadcast(&g->cond);
	while (!g->open)
		pthread_cond_wait(&g->cond, &g->lock);
	pthread_mutex_unlock(&g->lock);
}

/* Blocks until n jobs are waiting at the gate. */
static void gate_await_waiting(struct gate *g, int n)
{
	pthread_mutex_lock(&g->lock);
	while (g->waiting < n)
		pthread_cond_wait(&g->cond, &g->lock);
	pthread_mutex_unlock(&g->lock);
}

static void gate_open(struct gate *g)
{
	pthread_mutex_lock(&g->lock);
	g->open = 1;
	pthread_cond_broadcast(&g->cond);
	pthread_mutex_unlock(&g->lock);
}

struct test_job {
	struct pool_job job; /* first, so a struct pool_job * converts back */
	atomic_int runs;
	atomic_int notifies;
	atomic_int done_at_notify; /* job.done as notify saw it */
	pthread_t ran_on;
	uint8_t input[64];
	uint8_t digest[SHA256_LEN];
	struct gate *gate; /* waited on before the work when set */
};

static atomic_int total_notifies;

static void job_work(struct pool_job *job)
{
	struct test_job *t = (struct test_job *)job;
	if (t->gate)
		gate_pass(t->gate);
	t->ran_on = pthread_self();
	sha256(t->input, sizeof(t->input), t->digest);
	atomic_fetch_add(&t->runs, 1);
}

static void job_notify(struct pool_job *job)
{
	struct test_job *t = (struct test_job *)job;
	atomic_store(&t->done_at_notify, job->done);
	atomic_fetch_add(&t->notifies, 1);
	atomic_fetch_add(&total_notifies, 1);
}

static struct test_job *make_jobs(size_t n, int with_notify)
{
	struct test_job *jobs = calloc(n, sizeof(*jobs));
	assert_non_null(jobs);
	for (size_t i = 0; i < n; i++) {
		jobs[i].job.fn = job_work;
		jobs[i].job.notify = with_notify ? job_notify : NULL;
		memcpy(jobs[i].input, &i, sizeof(i));
		/* A stale done flag must be reset by pool_submit. */
		jobs[i].job.done = 1;
	}
	return jobs;
}

static void assert_job_ran_once(const struct test_job *t)
{
	uint8_t expected[SHA256_LEN];
	assert_int_equal(atomic_load(&t->runs), 1);
	sha256(t->input, sizeof(t->input), expected);
	assert_memory_equal(t->digest, expected, SHA256_LEN);
}

static void test_pool_size(void **state)
{
	(void)state;
	struct pool *p = pool_new(3);
	assert_non_null(p);
	assert_int_equal(pool_size(p), 3);
	pool_free(p);

	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	p = pool_new(0);
	assert_int_equal(pool_size(p), cpus > 0 ? (unsigned)cpus : 1);
	pool_free(p);
	pool_free(NULL);
}

static void test_many_jobs_run_once(void **state)
{
	(void)state;
	enum { N = 5000 };
	struct pool *p = pool_new(4);
	struct test_job *jobs = make_jobs(N, 0);
	pthread_t self = pthread_self();

	for (size_t i = 0; i < N; i++)
		pool_submit(p, &jobs[i].job);
	/* Waiting in reverse order exercises jobs finishing before their wait. */
	for (size_t i = N; i-- > 0;) {
		pool_wait(p, &jobs[i].job);
		assert_int_equal(jobs[i].job.done, 1);
		assert_job_ran_once(&jobs[i]);
		assert_false(pthread_equal(jobs[i].ran_on, self));
	}
	pool_free(p);
	/* Nothing ran twice after the waits either. */
	for (size_t i = 0; i < N; i++)
		assert_int_equal(atomic_load(&jobs[i].runs), 1);
	free(jobs);
}

static void test_wait_blocks_until_done(void **state)
{
	(void)state;
	struct pool *p = pool_new(2);
	struct gate gate;
	struct test_job *jobs = make_jobs(1, 0);

	gate_init(&gate);
	jobs[0].gate = &gate;
	pool_submit(p, &jobs[0].job);
	/* The job is running but held at the gate: it is not done. */
	gate_await_waiting(&gate, 1);
	assert_int_equal(atomic_load(&jobs[0].runs), 0);
	gate_open(&gate);
	pool_wait(p, &jobs[0].job);
	assert_job_ran_once(&jobs[0]);
	pool_free(p);
	gate_destroy(&gate);
	free(jobs);
}

static void test_notify_called_once_after_done(void **state)
{
	(void)state;
	enum { N = 2000 };
	struct pool *p = pool_new(3);
	struct test_job *jobs = make_jobs(N, 1);
	pthread_t self = pthread_self();

	atomic_store(&total_notifies, 0);
	for (size_t i = 0; i < N; i++)
		pool_submit(p, &jobs[i].job);
	for (size_t i = 0; i < N; i++)
		pool_wait(p, &jobs[i].job);
	/* pool_free joins the workers, so every notify has returned. */
	pool_free(p);
	assert_int_equal(atomic_load(&total_notifies), N);
	for (size_t i = 0; i < N; i++) {
		assert_job_ran_once(&jobs[i]);
		assert_int_equal(atomic_load(&jobs[i].notifies), 1);
		assert_int_equal(atomic_load(&jobs[i].done_at_notify), 1);
		assert_false(pthread_equal(jobs[i].ran_on, self));
	}
	free(jobs);
}

static void test_resubmit(void **state)
{
	(void)state;
	struct pool *p = pool_new(1);
	struct test_job *jobs = make_jobs(1, 1);

	atomic_store(&total_notifies, 0);
	for (int round = 1; round <= 3; round++) {
		pool_submit(p, &jobs[0].job);
		pool_wait(p, &jobs[0].job);
		assert_int_equal(atomic_load(&jobs[0].runs), round);
	}
	pool_free(p);
	assert_int_equal(atomic_load(&jobs[0].notifies), 3);
	free(jobs);
}

struct freer {
	struct pool *pool;
	atomic_int entering;
	pid_t tid;
};

static void *freer_main(void *arg)
{
	struct freer *f = arg;
	f->tid = (pid_t)syscall(SYS_gettid);
	atomic_store(&f->entering, 1);
	pool_free(f->pool);
	return NULL;
}

/* Returns the scheduler state letter of thread tid ('R', 'S', ...). */
static char thread_state(pid_t tid)
{
	char path[64], text[512];
	snprintf(path, sizeof(path), "/proc/self/task/%d/stat", (int)tid);
	FILE *f = fopen(path, "r");
	if (!f)
		return '?';
	size_t n = fread(text, 1, sizeof(text) - 1, f);
	fclose(f);
	text[n] = 0;
	/* "tid (comm) S ...": the state follows the last ')'. */
	char *paren = strrchr(text, ')');
	return paren && paren[1] == ' ' ? paren[2] : '?';
}

static void test_free_drains_queue(void **state)
{
	(void)state;
	enum { N = 1000 };
	struct pool *p = pool_new(2);
	struct gate gate;
	struct test_job *jobs = make_jobs(N, 1);

	/* Both workers are held at the gate by the first two jobs, so the other
	 * N - 2 are certainly still queued when pool_free starts. */
	gate_init(&gate);
	jobs[0].gate = &gate;
	jobs[1].gate = &gate;
	atomic_store(&total_notifies, 0);
	for (size_t i = 0; i < N; i++)
		pool_submit(p, &jobs[i].job);
	gate_await_waiting(&gate, 2);

	struct freer f = {.pool = p};
	pthread_t thread;
	assert_int_equal(pthread_create(&thread, NULL, freer_main, &f), 0);
	while (!atomic_load(&f.entering))
		sched_yield();
	/* Let pool_free mark the pool stopping and block joining the workers
	 * (the thread goes to sleep) before the workers may continue. Should
	 * /proc be unreadable, this degrades to opening the gate at once. */
	for (int spins = 0; spins < 1000000; spins++) {
		char st = thread_state(f.tid);
		if (st == 'S' || st == '?')
			break;
		sched_yield();
	}
	gate_open(&gate);
	assert_int_equal(pthread_join(thread, NULL), 0);

	assert_int_equal(atomic_load(&total_notifies), N);
	for (size_t i = 0; i < N; i++) {
		assert_int_equal(jobs[i].job.done, 1);
		assert_job_ran_once(&jobs[i]);
		assert_int_equal(atomic_load(&jobs[i].notifies), 1);
	}
	gate_destroy(&gate);
	free(jobs);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pool_size),
		cmocka_unit_test(test_many_jobs_run_once),
		cmocka_unit_test(test_wait_blocks_until_done),
		cmocka_unit_test(test_notify_called_once_after_done),
		cmocka_unit_test(test_resubmit),
		cmocka_unit_test(test_free_drains_queue),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
