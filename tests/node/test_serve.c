/*
 * Tests for src/node/serve.c: what a node does with other nodes' requests,
 * driven through the real protocol between two in-process nodes (fleet.h).
 * A pushed chunk is kept (object and index row) and acknowledged; one whose
 * bytes do not match its id is refused as CORRUPT and leaves nothing behind;
 * a pin of a chunk not stored is NOT_FOUND; GetChunk returns exactly the
 * stored bytes or NOT_FOUND; Have answers bit by bit; an Unpin of the only
 * pin lets the chunk go; Have lookups are bounded per link (TOO_BUSY past
 * the bound) and are answered by the reader while the writer is busy.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include <event2/thread.h>

#include "crypto/hash.h"
#include "fleet.h"
#include "node/ops.h"
#include "node/peer.h"
#include "util/error.h"
#include "util/log.h"

#define A 0
#define B 1

/* Random bytes and their chunk id. */
struct chunk {
	uint8_t id[CHUNK_ID_LEN];
	struct rbuf *buf;
};

static void chunk_make(struct chunk *c, size_t len, unsigned seed)
{
	uint8_t *p = malloc(len);
	assert_non_null(p);
	for (size_t i = 0; i < len; i++) {
		seed = seed * 1103515245u + 12345u;
		p[i] = (uint8_t)(seed >> 16);
	}
	sha256(p, len, c->id);
	c->buf = rbuf_new(p, len);
	assert_non_null(c->buf);
	free(p);
}

static int put(struct fleet *f, const struct chunk *c, const uint8_t *id)
{
	struct rcall call = {.kind = RCALL_PUT, .buf = c->buf, .replicas = 2};
	memcpy(call.id, id ? id : c->id, CHUNK_ID_LEN);
	return fleet_call(f, A, B, &call);
}

/* Whether node i's index has a row for id (and the object is there). */
static int stored(struct fleet *f, unsigned i, const uint8_t id[CHUNK_ID_LEN])
{
	struct store *s = node_store(f->nodes[i]);
	struct index *ix;
	assert_int_equal(store_index_open(s, &ix), 0);
	int row = index_chunk_has(ix, id);
	index_close(ix);
	int file = objects_exists(&s->objects, id);
	assert_true(row >= 0 && file >= 0);
	assert_int_equal(row, file); /* never a row without its object */
	return row;
}

static void test_put_kept_and_served(void **state)
{
	struct fleet *f = *state;
	struct chunk c;
	chunk_make(&c, 300000, 1);
	assert_int_equal(stored(f, B, c.id), 0);
	assert_int_equal(put(f, &c, NULL), 0);
	/* Acknowledged means durable and named. */
	assert_int_equal(stored(f, B, c.id), 1);

	struct rcall get = {.kind = RCALL_GET};
	memcpy(get.id, c.id, CHUNK_ID_LEN);
	assert_int_equal(fleet_call(f, A, B, &get), 0);
	assert_int_equal(get.len, c.buf->len);
	assert_memory_equal(get.data, c.buf->data, c.buf->len);
	free(get.data);

	/* Pinning what is there: acknowledged without the bytes. */
	struct rcall pin = {.kind = RCALL_PIN, .replicas = 2};
	memcpy(pin.id, c.id, CHUNK_ID_LEN);
	assert_int_equal(fleet_call(f, A, B, &pin), 0);
	rbuf_unref(c.buf);
}

static void test_corrupt_push_refused(void **state)
{
	struct fleet *f = *state;
	struct chunk c, other;
	chunk_make(&c, 5000, 2);
	chunk_make(&other, 5000, 3);
	/* c's bytes under other's id. */
	assert_int_equal(put(f, &c, other.id), SHOAL_ECORRUPT);
	assert_int_equal(stored(f, B, other.id), 0);
	assert_int_equal(stored(f, B, c.id), 0);
	rbuf_unref(c.buf);
	rbuf_unref(other.buf);
}

static void test_absent_chunk(void **state)
{
	struct fleet *f = *state;
	struct chunk c;
	chunk_make(&c, 1000, 4);
	struct rcall pin = {.kind = RCALL_PIN, .replicas = 2};
	memcpy(pin.id, c.id, CHUNK_ID_LEN);
	assert_int_equal(fleet_call(f, A, B, &pin), SHOAL_ENOTFOUND);
	struct rcall get = {.kind = RCALL_GET};
	memcpy(get.id, c.id, CHUNK_ID_LEN);
	assert_int_equal(fleet_call(f, A, B, &get), SHOAL_ENOTFOUND);
	assert_int_equal(stored(f, B, c.id), 0);
	rbuf_unref(c.buf);
}

static void test_have_bits(void **state)
{
	struct fleet *f = *state;
	struct chunk c[5];
	uint8_t ids[5][CHUNK_ID_LEN];
	for (int i = 0; i < 5; i++) {
		chunk_make(&c[i], 2000 + (size_t)i, 10 + (unsigned)i);
		memcpy(ids[i], c[i].id, CHUNK_ID_LEN);
		if (i % 2 == 0)
			assert_int_equal(put(f, &c[i], NULL), 0);
	}
	struct rcall have = {
		.kind = RCALL_HAVE, .ids = (const uint8_t(*)[CHUNK_ID_LEN])ids, .nids = 5};
	assert_int_equal(fleet_call(f, A, B, &have), 0);
	for (size_t i = 0; i < 5; i++) {
		assert_int_equal(remote_bit(have.have, i), i % 2 == 0);
		/* Kept for a peer, not for b's own files. */
		assert_int_equal(remote_bit(have.own, i), 0);
	}
	for (int i = 0; i < 5; i++)
		rbuf_unref(c[i].buf);
}

struct gone_wait {
	const uint8_t *id;
};

static int chunk_gone(struct fleet *f, void *arg)
{
	return stored(f, B, ((struct gone_wait *)arg)->id) == 0;
}

static void test_unpin_releases(void **state)
{
	struct fleet *f = *state;
	struct chunk c;
	chunk_make(&c, 8000, 20);
	assert_int_equal(put(f, &c, NULL), 0);
	assert_int_equal(stored(f, B, c.id), 1);
	/* a's only pin goes: b lets the chunk go. */
	Shoal__Envelope env = SHOAL__ENVELOPE__INIT;
	Shoal__Unpin u = SHOAL__UNPIN__INIT;
	ProtobufCBinaryData one = {CHUNK_ID_LEN, c.id};
	u.ids = &one;
	u.n_ids = 1;
	env.msg_case = SHOAL__ENVELOPE__MSG_UNPIN;
	env.unpin = &u;
	struct link *l = member_link(node_mesh(f->nodes[A]), f->ids[B]);
	assert_non_null(l);
	assert_int_equal(link_send(l, &env), 0);
	struct gone_wait w = {c.id};
	fleet_run_until(f, chunk_gone, &w, "b to let the unpinned chunk go");
	rbuf_unref(c.buf);
}

/* A job that holds a lane of b's until released. */
struct blocker {
	struct ops_job job;
	atomic_int release;
	atomic_int running;
	int done;
};

static void block_work(struct ops_job *oj, struct index *ix)
{
	(void)ix;
	struct blocker *b = (struct blocker *)oj;
	atomic_store(&b->running, 1);
	while (!atomic_load(&b->release))
		usleep(1000);
}

static void block_done(struct ops_job *oj)
{
	((struct blocker *)oj)->done = 1;
}

static int blocker_running(struct fleet *f, void *arg)
{
	(void)f;
	return atomic_load(&((struct blocker *)arg)->running);
}

static int blocker_done(struct fleet *f, void *arg)
{
	(void)f;
	return ((struct blocker *)arg)->done;
}

static void test_have_answered_while_writer_busy(void **state)
{
	struct fleet *f = *state;
	struct blocker blk = {0};
	ops_submit(node_ops(f->nodes[B]), OPS_STORE, &blk.job, block_work, block_done);
	fleet_run_until(f, blocker_running, &blk, "the writer to be busy");
	struct chunk c;
	chunk_make(&c, 1000, 30);
	struct rcall have = {
		.kind = RCALL_HAVE, .ids = (const uint8_t(*)[CHUNK_ID_LEN])c.id, .nids = 1};
	assert_int_equal(fleet_call(f, A, B, &have), 0);
	assert_int_equal(remote_bit(have.have, 0), 0);
	assert_false(blk.done);
	atomic_store(&blk.release, 1);
	fleet_run_until(f, blocker_done, &blk, "the writer's job to end");
	rbuf_unref(c.buf);
}

static void test_have_bounded_per_link(void **state)
{
	struct fleet *f = *state;
	struct blocker blk = {0};
	ops_submit(node_ops(f->nodes[B]), OPS_READ, &blk.job, block_work, block_done);
	fleet_run_until(f, blocker_running, &blk, "the reader to be busy");
	enum { CALLS = 20 };
	struct chunk c;
	chunk_make(&c, 1000, 40);
	struct rcall calls[CALLS];
	struct rqueue q;
	rqueue_init(&q);
	for (int i = 0; i < CALLS; i++) {
		memset(&calls[i], 0, sizeof(calls[i]));
		calls[i].kind = RCALL_HAVE;
		calls[i].ids = (const uint8_t(*)[CHUNK_ID_LEN])c.id;
		calls[i].nids = 1;
		calls[i].timeout = FLEET_WAIT_SECONDS;
		memcpy(calls[i].peer, f->ids[B], NODE_ID_LEN);
		remote_start(node_remote(f->nodes[A]), &calls[i], &q);
	}
	/* While b's reader is held, the calls past the per-link bound are
	 * answered TOO_BUSY at once, and the others wait. */
	int busy = 0, answered = 0;
	double deadline = monotonic_seconds() + FLEET_WAIT_SECONDS;
	while (busy < CALLS - 16 && monotonic_seconds() < deadline) {
		struct rcall *done = rqueue_poll(&q);
		if (!done) {
			event_base_loop(f->base, EVLOOP_ONCE);
			continue;
		}
		assert_int_equal(done->err, -EBUSY);
		busy++;
	}
	assert_int_equal(busy, CALLS - 16);
	fleet_run_for(f, 0.2);
	assert_null(rqueue_poll(&q));
	/* Released: every admitted lookup is answered. */
	atomic_store(&blk.release, 1);
	while (answered < 16 && monotonic_seconds() < deadline) {
		struct rcall *done = rqueue_poll(&q);
		if (!done) {
			event_base_loop(f->base, EVLOOP_ONCE);
			continue;
		}
		assert_int_equal(done->err, 0);
		answered++;
	}
	assert_int_equal(answered, 16);
	fleet_run_until(f, blocker_done, &blk, "the reader's job to end");
	rqueue_destroy(&q);
	rbuf_unref(c.buf);
}

int main(void)
{
	if (fleet_process_init())
		return 1;
	const struct CMUnitTest tests[] = {
		FLEET_PAIR_TEST(test_put_kept_and_served),
		FLEET_PAIR_TEST(test_corrupt_push_refused),
		FLEET_PAIR_TEST(test_absent_chunk),
		FLEET_PAIR_TEST(test_have_bits),
		FLEET_PAIR_TEST(test_unpin_releases),
		FLEET_PAIR_TEST(test_have_answered_while_writer_busy),
		FLEET_PAIR_TEST(test_have_bounded_per_link),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
