/*
 * Tests for src/node/plan.c, repair's decisions: counting copies, the lead
 * holder, where missing copies go, and which surplus copy goes. Besides the
 * cases one by one, each rule is checked the way it is used: every node of a
 * small network decides from its own side of the same Have answers, and
 * exactly one of them copies an under-replicated chunk, and all of them pick
 * the same single surplus copy.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "node/placement.h"
#include "node/plan.h"

#define NODES 6

struct world {
	uint8_t ids[NODES][NODE_ID_LEN];
	uint8_t chunk[CHUNK_ID_LEN];
	int holds[NODES];    /* node i has a copy */
	int keeps[NODES];    /* node i needs it for its own files */
	int returned[NODES]; /* node i came back after being lost */
};

static void fill(uint8_t *p, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++) {
		seed = seed * 1103515245u + 12345u;
		p[i] = (uint8_t)(seed >> 16);
	}
}

static void world_init(struct world *w, unsigned seed)
{
	memset(w, 0, sizeof(*w));
	for (int i = 0; i < NODES; i++)
		fill(w->ids[i], NODE_ID_LEN, seed * 97 + (unsigned)i);
	fill(w->chunk, CHUNK_ID_LEN, seed * 31 + 7);
}

/* Node self's view of w: every other node is a peer, in w's order. */
struct view {
	struct plan_view v;
	uint8_t peers[NODES][NODE_ID_LEN];
	uint8_t holds[NODES], keeps[NODES], returned[NODES];
	int index_of[NODES]; /* peer index -> node */
};

static void view_of(const struct world *w, int self, unsigned want, struct view *x)
{
	size_t k = 0;
	for (int i = 0; i < NODES; i++) {
		if (i == self)
			continue;
		memcpy(x->peers[k], w->ids[i], NODE_ID_LEN);
		x->holds[k] = (uint8_t)w->holds[i];
		x->keeps[k] = (uint8_t)w->keeps[i];
		x->returned[k] = (uint8_t)w->returned[i];
		x->index_of[k] = i;
		k++;
	}
	x->v = (struct plan_view){
		.self = w->ids[self],
		.peers = (const uint8_t(*)[NODE_ID_LEN])x->peers,
		.npeers = k,
		.holds = x->holds,
		.keeps = x->keeps,
		.returned = x->returned,
		.chunk = w->chunk,
		.want = want,
	};
}

/* The node placement ranks first among those holding the chunk. */
static int best_holder(const struct world *w)
{
	int best = -1;
	for (int i = 0; i < NODES; i++) {
		if (!w->holds[i])
			continue;
		if (best < 0 ||
		    placement_score(w->ids[i], w->chunk) > placement_score(w->ids[best], w->chunk))
			best = i;
	}
	return best;
}

static void test_copies_and_lead(void **state)
{
	(void)state;
	for (unsigned seed = 1; seed <= 200; seed++) {
		struct world w;
		world_init(&w, seed);
		int self = (int)(seed % NODES);
		w.holds[self] = 1;
		unsigned expect = 1;
		for (int i = 0; i < NODES; i++) {
			if (i != self && (seed >> i) % 2) {
				w.holds[i] = 1;
				expect++;
			}
		}
		struct view x;
		view_of(&w, self, 3, &x);
		assert_int_equal(plan_copies(&x.v), expect);
		size_t lead = plan_lead(&x.v);
		int lead_node = lead == PLAN_SELF ? self : x.index_of[lead];
		assert_int_equal(lead_node, best_holder(&w));
	}
}

/* Copies are kept for an owner that is up, never past the cap. */
static void test_want_needs_an_owner_up(void **state)
{
	(void)state;
	struct world w;
	world_init(&w, 5);
	w.holds[0] = w.holds[1] = 1;
	struct view x;
	view_of(&w, 0, 16, &x);
	/* Held only for members that are gone: nothing more is wanted. */
	assert_int_equal(plan_want(&x.v, 8, 0), 0);
	/* A holder keeps it for a member gone lately: as asked, capped. */
	uint8_t owns[NODES] = {0};
	owns[0] = 1;
	x.v.owns = owns;
	assert_int_equal(plan_want(&x.v, 8, 0), 8);
	x.v.owns = NULL;
	/* This node's own files need it: as asked, capped at 8. */
	assert_int_equal(plan_want(&x.v, 8, 1), 8);
	/* A member up needs it for its own files: the same for every node. */
	w.keeps[3] = 1;
	for (int self = 0; self < NODES; self++) {
		if (self == 3)
			continue;
		view_of(&w, self, 16, &x);
		assert_int_equal(plan_want(&x.v, 8, 0), 8);
		view_of(&w, self, 2, &x);
		assert_int_equal(plan_want(&x.v, 8, 0), 2);
	}
}

static void test_targets(void **state)
{
	(void)state;
	size_t order[NODES], targets[NODES];
	for (unsigned seed = 1; seed <= 200; seed++) {
		struct world w;
		world_init(&w, seed);
		/* Two holders; want 4: the lead copies to the two best-ranked
		 * non-holders, and nobody else copies at all. */
		int a = (int)(seed % NODES), b = (int)((seed + 1 + seed / NODES) % NODES);
		if (a == b)
			b = (a + 1) % NODES;
		w.holds[a] = w.holds[b] = 1;
		int copiers = 0;
		for (int self = 0; self < NODES; self++) {
			if (!w.holds[self])
				continue;
			struct view x;
			view_of(&w, self, 4, &x);
			unsigned nt = plan_targets(&x.v, order, targets);
			if (self != best_holder(&w)) {
				assert_int_equal(nt, 0);
				continue;
			}
			copiers++;
			assert_int_equal(nt, 2);
			/* The targets are the first non-holders in rank order. */
			size_t rank[NODES];
			placement_rank(x.v.peers, x.v.npeers, w.chunk, rank);
			size_t k = 0, t = 0;
			for (; k < x.v.npeers && t < nt; k++) {
				if (x.holds[rank[k]])
					continue;
				assert_int_equal(targets[t], rank[k]);
				assert_false(w.holds[x.index_of[targets[t]]]);
				t++;
			}
			assert_int_equal(t, nt);
			/* Enough copies already: nothing to do. */
			view_of(&w, self, 2, &x);
			assert_int_equal(plan_targets(&x.v, order, targets), 0);
			view_of(&w, self, 1, &x);
			assert_int_equal(plan_targets(&x.v, order, targets), 0);
		}
		assert_int_equal(copiers, 1);
	}
}

static void test_targets_capped_by_peers(void **state)
{
	(void)state;
	struct world w;
	world_init(&w, 5);
	for (int i = 0; i < NODES; i++)
		w.holds[i] = i < NODES - 1;
	int lead = best_holder(&w);
	struct view x;
	view_of(&w, lead, 10, &x);
	size_t order[NODES], targets[NODES];
	/* Only one node lacks a copy: one target, however many are wanted. */
	assert_int_equal(plan_targets(&x.v, order, targets), 1);
	assert_int_equal(x.index_of[targets[0]], NODES - 1);
}

static void test_targets_never_a_pinner(void **state)
{
	(void)state;
	size_t order[NODES], targets[NODES];
	for (unsigned seed = 1; seed <= 100; seed++) {
		struct world w;
		world_init(&w, seed);
		/* One holder left of three wanted; the node that owns the file
		 * (it pins the chunk here) let its own copy go. */
		int lead = (int)(seed % NODES), owner = (lead + 1 + (int)(seed % 3)) % NODES;
		w.holds[lead] = 1;
		struct view x;
		view_of(&w, lead, 3, &x);
		uint8_t pins[NODES] = {0};
		for (size_t p = 0; p < x.v.npeers; p++)
			pins[p] = x.index_of[p] == owner;
		x.v.pins = pins;
		unsigned nt = plan_targets(&x.v, order, targets);
		assert_int_equal(nt, 2);
		for (unsigned t = 0; t < nt; t++)
			assert_int_not_equal(x.index_of[targets[t]], owner);
		/* Without the pin the owner may be chosen like anyone. */
		x.v.pins = NULL;
		assert_int_equal(plan_targets(&x.v, order, targets), 2);
	}
}

static void test_handover_counts_no_own_copy(void **state)
{
	(void)state;
	size_t order[NODES], targets[NODES];
	for (unsigned seed = 1; seed <= 100; seed++) {
		struct world w;
		world_init(&w, seed);
		int self = (int)(seed % NODES), other = (self + 1) % NODES;
		/* Two copies wanted: this node's and one other. Leaving, it must
		 * make one more elsewhere. */
		w.holds[self] = w.holds[other] = 1;
		struct view x;
		view_of(&w, self, 2, &x);
		unsigned missing = 0;
		unsigned nt = plan_handover(&x.v, &missing, order, targets);
		assert_int_equal(missing, 1);
		/* Every peer without a copy, best-ranked first, never the holder. */
		assert_int_equal(nt, NODES - 2);
		for (unsigned t = 0; t < nt; t++) {
			assert_int_not_equal(x.index_of[targets[t]], other);
			if (t)
				assert_true(placement_score(x.v.peers[targets[t - 1]], w.chunk) >=
					    placement_score(x.v.peers[targets[t]], w.chunk));
		}
		/* Held as asked by the others: nothing to hand over. */
		w.holds[(self + 2) % NODES] = 1;
		view_of(&w, self, 2, &x);
		assert_int_equal(plan_handover(&x.v, &missing, order, targets), 0);
		assert_int_equal(missing, 0);
		/* want 0 (nobody asked) means one copy elsewhere. */
		memset(w.holds, 0, sizeof(w.holds));
		w.holds[self] = 1;
		view_of(&w, self, 0, &x);
		plan_handover(&x.v, &missing, order, targets);
		assert_int_equal(missing, 1);
	}
}

static void test_handover_capped_by_peers(void **state)
{
	(void)state;
	struct world w;
	world_init(&w, 9);
	w.holds[0] = 1;
	struct view x;
	view_of(&w, 0, 8, &x);
	size_t order[NODES], targets[NODES];
	unsigned missing = 0;
	/* Eight wanted, five peers: a copy on each of them is enough. */
	assert_int_equal(plan_handover(&x.v, &missing, order, targets), NODES - 1);
	assert_int_equal(missing, NODES - 1);
	/* A peer pinning it never takes one. */
	uint8_t pins[NODES] = {1};
	x.v.pins = pins;
	assert_int_equal(plan_handover(&x.v, &missing, order, targets), NODES - 2);
	for (unsigned t = 0; t < NODES - 2; t++)
		assert_int_not_equal(targets[t], 0);
}

/* What node self decides for a surplus: the node whose copy goes, or -1. */
static int surplus_choice(const struct world *w, int self, unsigned want)
{
	struct view x;
	size_t order[NODES], at = 0;
	view_of(w, self, want, &x);
	switch (plan_surplus(&x.v, w->keeps[self], order, &at)) {
	case PLAN_DROP_SELF:
		return self;
	case PLAN_RELEASE_AT:
		return x.index_of[at];
	case PLAN_KEEP:
		break;
	}
	return -1;
}

static void test_surplus_needs_a_returned_holder(void **state)
{
	(void)state;
	struct world w;
	world_init(&w, 11);
	for (int i = 0; i < 4; i++)
		w.holds[i] = 1;
	/* Four copies of three wanted, but nobody came back: keep them (they
	 * may be placements in progress). */
	for (int self = 0; self < 4; self++)
		assert_int_equal(surplus_choice(&w, self, 3), -1);
	/* Exactly as many as wanted: nothing goes, returned or not. */
	w.returned[2] = 1;
	for (int self = 0; self < 4; self++)
		assert_int_equal(surplus_choice(&w, self, 4), -1);
}

static void test_surplus_everyone_agrees(void **state)
{
	(void)state;
	for (unsigned seed = 1; seed <= 300; seed++) {
		struct world w;
		world_init(&w, seed);
		int holders = 0;
		for (int i = 0; i < NODES; i++) {
			w.holds[i] = (seed >> (i % 5)) % 2 || i < 2;
			holders += w.holds[i];
			w.keeps[i] = w.holds[i] && (seed * (unsigned)(i + 3)) % 7 == 0;
			w.returned[i] = w.holds[i] && (seed + (unsigned)i) % 4 == 0;
		}
		unsigned want = holders > 1 ? (unsigned)holders - 1 : 1;
		int returned_holder = 0;
		for (int i = 0; i < NODES; i++)
			returned_holder |= w.returned[i] && w.holds[i];
		/* The copy that goes: the last-ranked holder keeping it only for
		 * others (placement's order over every node). */
		int expect = -1;
		if (returned_holder && (unsigned)holders > want) {
			for (int i = 0; i < NODES; i++) {
				if (!w.holds[i] || w.keeps[i])
					continue;
				if (expect < 0 || placement_score(w.ids[i], w.chunk) <
							  placement_score(w.ids[expect], w.chunk))
					expect = i;
			}
		}
		for (int self = 0; self < NODES; self++) {
			if (!w.holds[self])
				continue;
			int got = surplus_choice(&w, self, want);
			/* Each holder either points at the same copy or does
			 * nothing. The copy's own holder drops it itself unless
			 * it is the only holder that came back (it does not
			 * know that it did: the others unpin it instead). */
			if (got >= 0)
				assert_int_equal(got, expect);
			if (self == expect && got != self) {
				for (int i = 0; i < NODES; i++)
					assert_false(i != self && w.holds[i] && w.returned[i]);
			}
			assert_true(got < 0 || !w.keeps[got]);
			if (expect >= 0 && self != expect && !w.returned[self] &&
			    w.returned[expect])
				assert_int_equal(got, expect);
		}
	}
}

static void test_surplus_never_a_needed_copy(void **state)
{
	(void)state;
	struct world w;
	world_init(&w, 42);
	for (int i = 0; i < NODES; i++) {
		w.holds[i] = 1;
		w.keeps[i] = 1;
	}
	w.returned[1] = 1;
	/* Every holder needs it for its own files: nothing can go. */
	for (int self = 0; self < NODES; self++)
		assert_int_equal(surplus_choice(&w, self, 2), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_copies_and_lead),
		cmocka_unit_test(test_want_needs_an_owner_up),
		cmocka_unit_test(test_targets),
		cmocka_unit_test(test_targets_capped_by_peers),
		cmocka_unit_test(test_targets_never_a_pinner),
		cmocka_unit_test(test_handover_counts_no_own_copy),
		cmocka_unit_test(test_handover_capped_by_peers),
		cmocka_unit_test(test_surplus_needs_a_returned_holder),
		cmocka_unit_test(test_surplus_everyone_agrees),
		cmocka_unit_test(test_surplus_never_a_needed_copy),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
