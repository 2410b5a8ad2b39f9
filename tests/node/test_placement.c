/*
 * Tests for src/node/placement.c, rendezvous hashing. The score of a node for
 * a chunk matches fixed vectors computed independently (the first 8 bytes,
 * big endian, of `openssl dgst -sha256` over node id || chunk id); a ranking
 * is the nodes sorted by that score, best first; it depends on the chunk;
 * over 10,000 chunks each node comes first about 1/N of the time; the same
 * inputs always give the same order, whatever order the nodes are listed in;
 * and when one node joins N others, only about 1/(N+1) of the chunks change
 * their first-ranked node (always to the newcomer), the top-R sets change
 * for about R/(N+1) of them, and no chunk's order among the old nodes
 * changes. Ids come from a seeded generator, so every run sees the same ones.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "node/placement.h"

#define CHUNKS	   10000
#define NODES_MAX  16
#define NODE_COUNT 10

/* xorshift64*: small, seeded, reproducible. */
static uint64_t rng_next(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * UINT64_C(0x2545f4914f6cdd1d);
}

static void rng_fill(uint64_t *s, uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(rng_next(s) >> 56);
}

/* n random node ids. */
static void make_nodes(uint8_t (*nodes)[NODE_ID_LEN], size_t n, uint64_t seed)
{
	uint64_t s = seed;
	for (size_t i = 0; i < n; i++)
		rng_fill(&s, nodes[i], NODE_ID_LEN);
}

/* Bytes first, first + 1, ... (mod 256). */
static void counting(uint8_t *p, size_t n, unsigned first)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(first + i);
}

/* Scores computed with openssl dgst -sha256 over the 64 concatenated bytes. */
static void test_score_vectors(void **state)
{
	(void)state;
	uint8_t a[32], b[32];
	counting(a, 32, 0x00); /* 00 01 .. 1f */
	counting(b, 32, 0x20); /* 20 21 .. 3f */
	/* SHA-256(00 .. 3f) = fdeab9acf3710362 bd2658cd... */
	assert_true(placement_score(a, b) == UINT64_C(0xfdeab9acf3710362));
	/* The other way round, SHA-256(20 .. 3f 00 .. 1f) = 84e4bd6ca2af9641 ...:
	 * the node id comes first. */
	assert_true(placement_score(b, a) == UINT64_C(0x84e4bd6ca2af9641));
	/* SHA-256(aa * 32 || 55 * 32) = 914ee2daa364bbe6 ... */
	memset(a, 0xaa, sizeof(a));
	memset(b, 0x55, sizeof(b));
	assert_true(placement_score(a, b) == UINT64_C(0x914ee2daa364bbe6));
}

/* order[0..n) is a permutation of 0..n-1. */
static void assert_permutation(const size_t *order, size_t n)
{
	int seen[NODES_MAX] = {0};
	for (size_t i = 0; i < n; i++) {
		assert_true(order[i] < n);
		assert_int_equal(seen[order[i]], 0);
		seen[order[i]] = 1;
	}
}

static void test_rank_sorts_by_score(void **state)
{
	(void)state;
	uint8_t nodes[NODE_COUNT][NODE_ID_LEN];
	make_nodes(nodes, NODE_COUNT, 11);
	uint64_t s = 12;
	for (int c = 0; c < 1000; c++) {
		uint8_t chunk[CHUNK_ID_LEN];
		rng_fill(&s, chunk, sizeof(chunk));
		size_t order[NODE_COUNT];
		placement_rank((const uint8_t(*)[NODE_ID_LEN])nodes, NODE_COUNT, chunk, order);
		assert_permutation(order, NODE_COUNT);
		for (size_t i = 1; i < NODE_COUNT; i++)
			assert_true(placement_score(nodes[order[i - 1]], chunk) >
				    placement_score(nodes[order[i]], chunk));
	}
	/* One node is first; no node writes nothing. */
	uint8_t chunk[CHUNK_ID_LEN] = {1};
	size_t one = 99;
	placement_rank((const uint8_t(*)[NODE_ID_LEN])nodes, 1, chunk, &one);
	assert_int_equal(one, 0);
	one = 99;
	placement_rank((const uint8_t(*)[NODE_ID_LEN])nodes, 0, chunk, &one);
	assert_int_equal(one, 99);
}

/* Two orders as node ids are the same. */
static int same_order(const uint8_t (*a)[NODE_ID_LEN], const size_t *oa,
		      const uint8_t (*b)[NODE_ID_LEN], const size_t *ob, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (memcmp(a[oa[i]], b[ob[i]], NODE_ID_LEN))
			return 0;
	}
	return 1;
}

static void test_rank_depends_on_chunk(void **state)
{
	(void)state;
	enum { N = 8, SAMPLES = 100 };
	uint8_t nodes[N][NODE_ID_LEN];
	make_nodes(nodes, N, 21);
	static size_t orders[SAMPLES][N];
	uint64_t s = 22;
	int firsts[N] = {0};
	for (int c = 0; c < SAMPLES; c++) {
		uint8_t chunk[CHUNK_ID_LEN];
		rng_fill(&s, chunk, sizeof(chunk));
		placement_rank((const uint8_t(*)[NODE_ID_LEN])nodes, N, chunk, orders[c]);
		firsts[orders[c][0]] = 1;
	}
	/* 100 chunks over 8! = 40,320 orders: nearly all differ. */
	int distinct = 0;
	for (int c = 0; c < SAMPLES; c++) {
		int dup = 0;
		for (int d = 0; d < c && !dup; d++)
			dup = !memcmp(orders[c], orders[d], sizeof(orders[c]));
		distinct += !dup;
	}
	assert_true(distinct >= 90);
	/* And every node is first for some of them. */
	for (int i = 0; i < N; i++)
		assert_int_equal(firsts[i], 1);
}

/* Over CHUNKS chunks each of n nodes is first CHUNKS / n times, within
 * CHUNKS / n / 5 (at least 6 standard deviations for these sizes). */
static void check_first_place_share(size_t n, uint64_t seed)
{
	uint8_t nodes[NODES_MAX][NODE_ID_LEN];
	make_nodes(nodes, n, seed);
	unsigned first[NODES_MAX] = {0};
	uint64_t s = seed + 1;
	for (int c = 0; c < CHUNKS; c++) {
		uint8_t chunk[CHUNK_ID_LEN];
		size_t order[NODES_MAX];
		rng_fill(&s, chunk, sizeof(chunk));
		placement_rank((const uint8_t(*)[NODE_ID_LEN])nodes, n, chunk, order);
		first[order[0]]++;
	}
	double want = (double)CHUNKS / (double)n;
	for (size_t i = 0; i < n; i++) {
		double off = (double)first[i] - want;
		if (off < 0)
			off = -off;
		if (off > want / 5)
			fail_msg("node %zu of %zu is first for %u of %d chunks (want %.0f +- %.0f)",
				 i, n, first[i], CHUNKS, want, want / 5);
	}
}

static void test_first_place_is_uniform(void **state)
{
	(void)state;
	check_first_place_share(3, 31);
	check_first_place_share(5, 32);
	check_first_place_share(NODE_COUNT, 33);
}

static void test_rank_is_stable(void **state)
{
	(void)state;
	uint8_t nodes[NODE_COUNT][NODE_ID_LEN], shuffled[NODE_COUNT][NODE_ID_LEN],
		reversed[NODE_COUNT][NODE_ID_LEN];
	make_nodes(nodes, NODE_COUNT, 41);
	for (size_t i = 0; i < NODE_COUNT; i++)
		memcpy(reversed[i], nodes[NODE_COUNT - 1 - i], NODE_ID_LEN);
	uint64_t s = 42;
	for (int c = 0; c < 1000; c++) {
		uint8_t chunk[CHUNK_ID_LEN];
		rng_fill(&s, chunk, sizeof(chunk));
		/* A fresh shuffle of the list for every chunk (Fisher-Yates). */
		memcpy(shuffled, nodes, sizeof(nodes));
		for (size_t i = NODE_COUNT - 1; i > 0; i--) {
			size_t j = (size_t)(rng_next(&s) % (i + 1));
			uint8_t t[NODE_ID_LEN];
			memcpy(t, shuffled[i], NODE_ID_LEN);
			memcpy(shuffled[i], shuffled[j], NODE_ID_LEN);
			memcpy(shuffled[j], t, NODE_ID_LEN);
		}
		size_t o1[NODE_COUNT], o2[NODE_COUNT], o3[NODE_COUNT], o4[NODE_COUNT];
		placement_rank((const uint8_t(*)[NODE_ID_LEN])nodes, NODE_COUNT, chunk, o1);
		placement_rank((const uint8_t(*)[NODE_ID_LEN])nodes, NODE_COUNT, chunk, o2);
		placement_rank((const uint8_t(*)[NODE_ID_LEN])shuffled, NODE_COUNT, chunk, o3);
		placement_rank((const uint8_t(*)[NODE_ID_LEN])reversed, NODE_COUNT, chunk, o4);
		assert_memory_equal(o1, o2, sizeof(o1));
		assert_true(same_order((const uint8_t(*)[NODE_ID_LEN])nodes, o1,
				       (const uint8_t(*)[NODE_ID_LEN])shuffled, o3, NODE_COUNT));
		assert_true(same_order((const uint8_t(*)[NODE_ID_LEN])nodes, o1,
				       (const uint8_t(*)[NODE_ID_LEN])reversed, o4, NODE_COUNT));
	}
}

/* One node joins n: the new node is listed last (index n). */
static void check_join(size_t n, size_t r, uint64_t seed)
{
	uint8_t nodes[NODES_MAX][NODE_ID_LEN];
	make_nodes(nodes, n + 1, seed);
	unsigned first_moved = 0, set_changed = 0;
	uint64_t s = seed + 1;
	for (int c = 0; c < CHUNKS; c++) {
		uint8_t chunk[CHUNK_ID_LEN];
		size_t before[NODES_MAX], after[NODES_MAX];
		rng_fill(&s, chunk, sizeof(chunk));
		placement_rank((const uint8_t(*)[NODE_ID_LEN])nodes, n, chunk, before);
		placement_rank((const uint8_t(*)[NODE_ID_LEN])nodes, n + 1, chunk, after);
		if (after[0] != before[0]) {
			first_moved++;
			/* A chunk moves only to the newcomer. */
			assert_int_equal(after[0], n);
		}
		/* Without the newcomer, the order is exactly the old one. */
		size_t k = 0;
		for (size_t i = 0; i <= n; i++) {
			if (after[i] != n)
				assert_int_equal(after[i], before[k++]);
		}
		assert_int_equal(k, n);
		/* The top r change only when the newcomer enters them. */
		int in_top = 0;
		for (size_t i = 0; i < r; i++)
			in_top |= after[i] == n;
		set_changed += (unsigned)in_top;
	}
	double want = (double)CHUNKS / (double)(n + 1);
	if (first_moved > want * 1.2 || first_moved < want * 0.8)
		fail_msg("%zu -> %zu nodes: %u of %d chunks changed their first node (want %.0f +- "
			 "20%%)",
			 n, n + 1, first_moved, CHUNKS, want);
	want *= (double)r;
	if (set_changed > want * 1.2 || set_changed < want * 0.8)
		fail_msg("%zu -> %zu nodes: %u of %d chunks changed their top %zu (want %.0f +- "
			 "20%%)",
			 n, n + 1, set_changed, CHUNKS, r, want);
}

static void test_join_moves_few_chunks(void **state)
{
	(void)state;
	check_join(3, 2, 51);
	check_join(5, 3, 52);
	check_join(NODE_COUNT - 1, 3, 53);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_score_vectors),
		cmocka_unit_test(test_rank_sorts_by_score),
		cmocka_unit_test(test_rank_depends_on_chunk),
		cmocka_unit_test(test_first_place_is_uniform),
		cmocka_unit_test(test_rank_is_stable),
		cmocka_unit_test(test_join_moves_few_chunks),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
