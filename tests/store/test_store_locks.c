/*
 * Tests for the store's two locks held together: garbage collection
 * (store_commit_releasing_ix, which takes gc_lock inside its caller's
 * transaction) and recording written objects (store_record_chunks) running
 * at once on two threads, each on its own index connection, as the daemon's
 * writer and its group commit do. Both orders of taking the SQLite write lock
 * and gc_lock would deadlock until SQLite's busy timeout (10 s) failed one
 * side with "index database error"; with the one order store.h prescribes,
 * every round of both succeeds, and the rows always name present objects.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "crypto/hash.h"
#include "store/store.h"
#include "store_fixture.h"
#include "util/clock.h"
#include "util/log.h"

#define ROUNDS 300

struct fixture {
	char home[STORE_FIXTURE_PATH];
	struct store *s;
};

static int setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));
	if (!fx || store_fixture_setup(fx->home, NULL, &fx->s, "locks"))
		return -1;
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *fx = *state;
	int err = store_fixture_teardown(fx->home, NULL, fx->s);
	free(fx);
	return err;
}

struct side {
	struct store *s;
	struct index *ix;
	unsigned tag;
	int err;
	unsigned rounds;
};

/* Writes an object of a few bytes unique to (tag, round); returns its id. */
static int write_object(struct store *s, unsigned tag, unsigned round, uint8_t id[CHUNK_ID_LEN])
{
	uint8_t bytes[64] = {0};
	snprintf((char *)bytes, sizeof(bytes), "object %u of side %u", round, tag);
	sha256(bytes, sizeof(bytes), id);
	return objects_write(&s->objects, id, bytes, sizeof(bytes), OBJECTS_DEFER, NULL);
}

/* Records objects (kept under a token) round after round. */
static void *recorder(void *arg)
{
	struct side *x = arg;
	uint8_t token[CHUNK_ID_LEN];
	memset(token, 0x5a, sizeof(token));
	/* A pending token keeps its chunks from collection, as a get's does. */
	x->err = index_pending_set(x->ix, token, 1);
	for (unsigned r = 0; r < ROUNDS && !x->err; r++) {
		uint8_t id[CHUNK_ID_LEN];
		uint64_t size = 64;
		x->err = write_object(x->s, x->tag, r, id);
		if (!x->err)
			x->err = store_record_chunks(x->s, x->ix, token,
						     (const uint8_t(*)[CHUNK_ID_LEN])id, &size, 1,
						     NULL);
		x->rounds++;
	}
	return NULL;
}

/* Adds a row nothing refers to, then collects it: a commit that releases
 * (and deletes) a chunk every round. */
static void *collector(void *arg)
{
	struct side *x = arg;
	for (unsigned r = 0; r < ROUNDS && !x->err; r++) {
		uint8_t id[CHUNK_ID_LEN];
		x->err = write_object(x->s, x->tag, r, id);
		if (!x->err)
			x->err = index_begin(x->ix);
		if (!x->err) {
			x->err = index_chunk_add(x->ix, id, 64);
			if (!x->err)
				x->err = store_commit_releasing_ix(x->s, x->ix);
			else
				index_rollback(x->ix);
		}
		if (!x->err && objects_exists(&x->s->objects, id) != 0)
			x->err = -1; /* released, so deleted */
		x->rounds++;
	}
	return NULL;
}

static void test_record_and_collect_at_once(void **state)
{
	struct fixture *fx = *state;
	struct side rec = {.s = fx->s, .tag = 1}, gc = {.s = fx->s, .tag = 2};
	assert_int_equal(store_index_open(fx->s, &rec.ix), 0);
	assert_int_equal(store_index_open(fx->s, &gc.ix), 0);
	pthread_t a, b;
	assert_int_equal(pthread_create(&a, NULL, recorder, &rec), 0);
	assert_int_equal(pthread_create(&b, NULL, collector, &gc), 0);
	pthread_join(a, NULL);
	pthread_join(b, NULL);
	/* A deadlock would have failed one side (SQLite's busy timeout): its
	 * err says so, however slow the machine is. */
	assert_int_equal(rec.err, 0);
	assert_int_equal(gc.err, 0);
	assert_int_equal(rec.rounds, ROUNDS);
	assert_int_equal(gc.rounds, ROUNDS);
	/* Every recorded object has its row and its file. */
	for (unsigned r = 0; r < ROUNDS; r++) {
		uint8_t id[CHUNK_ID_LEN];
		assert_int_equal(write_object(fx->s, 1, r, id), 0);
		assert_int_equal(index_chunk_has(rec.ix, id), 1);
		assert_int_equal(objects_exists(&fx->s->objects, id), 1);
	}
	index_close(rec.ix);
	index_close(gc.ix);
}

int main(void)
{
	log_init(LOG_LEVEL_INFO, 0);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_record_and_collect_at_once, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
