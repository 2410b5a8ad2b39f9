/*
 * Tests for src/node/candidates.c: the bounded list of node ids heard through
 * gossip (budget per source, eviction, refresh, backoff, the order of dials)
 * and the dial budget, each rule alone and then together as the daemon uses
 * them under a flood: however many ids are gossiped, the list stays within
 * its bounds, other sources keep their entries, and dials stay within the
 * budget.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "node/candidates.h"

static struct candidates cs;

/* A node id made from a number (distinct numbers, distinct ids). */
static const uint8_t *id_of(unsigned n)
{
	static uint8_t ids[4][NODE_ID_LEN];
	static unsigned next;
	uint8_t *id = ids[next++ % 4];
	memset(id, 0xa5, NODE_ID_LEN);
	memcpy(id, &n, sizeof(n));
	return id;
}

static enum candidate_news hear(unsigned n, unsigned source, double now)
{
	uint8_t src[NODE_ID_LEN];
	memcpy(src, id_of(1000000 + source), NODE_ID_LEN);
	char addr[32];
	snprintf(addr, sizeof(addr), "127.0.0.1:%u", 1024 + n % 60000);
	return candidates_heard(&cs, id_of(n), addr, 100, src, now);
}

static unsigned of_source(unsigned source)
{
	return candidates_of(&cs, id_of(1000000 + source));
}

static int setup(void **state)
{
	(void)state;
	candidates_init(&cs);
	return 0;
}

static void test_heard_adds_then_refreshes(void **state)
{
	(void)state;
	uint8_t src[NODE_ID_LEN] = {1};
	assert_int_equal(candidates_heard(&cs, id_of(1), "10.0.0.1:7400", 50, src, 5.0),
			 CANDIDATE_ADDED);
	assert_int_equal(cs.count, 1);
	struct candidate *c = candidates_find(&cs, id_of(1));
	assert_non_null(c);
	assert_string_equal(c->addr, "10.0.0.1:7400");
	assert_true(c->next_dial == 5.0 && c->heard == 5.0 && c->failures == 0);
	/* A failed dial, then the same id again: its backoff stays. */
	candidate_failed(c, 6.0, 30.0, 1.0);
	assert_true(c->next_dial == 7.0);
	/* An older report: heard again, the address kept. */
	assert_int_equal(candidates_heard(&cs, id_of(1), "10.0.0.2:7400", 40, src, 6.5),
			 CANDIDATE_REFRESHED);
	assert_string_equal(c->addr, "10.0.0.1:7400");
	assert_true(c->heard == 6.5 && c->next_dial == 7.0 && c->failures == 1);
	/* A fresher one: it moved. */
	assert_int_equal(candidates_heard(&cs, id_of(1), "10.0.0.3:7400", 60, src, 6.6),
			 CANDIDATE_REFRESHED);
	assert_string_equal(c->addr, "10.0.0.3:7400");
	assert_true(c->last_seen == 60 && c->next_dial == 7.0);
	assert_int_equal(cs.count, 1);
	assert_null(candidates_find(&cs, id_of(2)));
}

static void test_only_numeric_addresses(void **state)
{
	(void)state;
	uint8_t src[NODE_ID_LEN] = {1};
	assert_true(candidates_addr_ok("127.0.0.1:7400"));
	assert_true(candidates_addr_ok("[::1]:7400"));
	assert_false(candidates_addr_ok("example.com:7400"));
	assert_false(candidates_addr_ok("localhost:7400"));
	assert_false(candidates_addr_ok(""));
	assert_false(candidates_addr_ok(NULL));
	assert_int_equal(candidates_heard(&cs, id_of(1), "example.com:7400", 1, src, 0),
			 CANDIDATE_DROPPED);
	assert_int_equal(cs.count, 0);
	/* A known candidate is not moved to a name either. */
	assert_int_equal(candidates_heard(&cs, id_of(1), "10.0.0.1:1", 1, src, 0), CANDIDATE_ADDED);
	assert_int_equal(candidates_heard(&cs, id_of(1), "slow.example:1", 9, src, 0),
			 CANDIDATE_DROPPED);
	assert_string_equal(candidates_find(&cs, id_of(1))->addr, "10.0.0.1:1");
}

static void test_one_source_keeps_to_its_budget(void **state)
{
	(void)state;
	/* Another member's candidates first. */
	for (unsigned i = 0; i < 10; i++)
		assert_int_equal(hear(50000 + i, 2, 1.0), CANDIDATE_ADDED);
	/* One member names 1,100 ids: it gets CANDIDATES_PER_SOURCE slots. */
	unsigned added = 0, replaced = 0;
	for (unsigned i = 0; i < 1100; i++) {
		enum candidate_news n = hear(i, 1, 2.0 + i * 0.001);
		added += n == CANDIDATE_ADDED;
		replaced += n == CANDIDATE_REPLACED;
	}
	assert_int_equal(added, CANDIDATES_PER_SOURCE);
	assert_int_equal(replaced, 1100 - CANDIDATES_PER_SOURCE);
	assert_int_equal(of_source(1), CANDIDATES_PER_SOURCE);
	assert_int_equal(cs.count, CANDIDATES_PER_SOURCE + 10);
	/* The other member's entries are all still there. */
	for (unsigned i = 0; i < 10; i++)
		assert_non_null(candidates_find(&cs, id_of(50000 + i)));
	/* Its own newest stay, its oldest went. */
	assert_non_null(candidates_find(&cs, id_of(1099)));
	assert_null(candidates_find(&cs, id_of(0)));
}

static void test_full_list_evicts_least_worth(void **state)
{
	(void)state;
	unsigned sources = CANDIDATES_MAX / CANDIDATES_PER_SOURCE;
	for (unsigned s = 0; s < sources; s++)
		for (unsigned i = 0; i < CANDIDATES_PER_SOURCE; i++)
			hear(s * 1000 + i, s, 10.0 + s + i * 0.01);
	assert_int_equal(cs.count, CANDIDATES_MAX);
	/* Failed dials go first, whoever named them and however fresh. */
	struct candidate *c = candidates_find(&cs, id_of(2 * 1000 + 5));
	candidate_failed(c, 20.0, 30.0, 1.0);
	candidate_failed(c, 20.0, 30.0, 1.0);
	candidate_failed(candidates_find(&cs, id_of(3 * 1000 + 7)), 20.0, 30.0, 1.0);
	assert_int_equal(hear(90000, sources, 30.0), CANDIDATE_REPLACED);
	assert_null(candidates_find(&cs, id_of(2 * 1000 + 5)));
	assert_int_equal(hear(90001, sources, 30.0), CANDIDATE_REPLACED);
	assert_null(candidates_find(&cs, id_of(3 * 1000 + 7)));
	/* Then the one heard of longest ago. */
	assert_int_equal(hear(90002, sources, 30.0), CANDIDATE_REPLACED);
	assert_null(candidates_find(&cs, id_of(0)));
	assert_non_null(candidates_find(&cs, id_of(1)));
	assert_int_equal(cs.count, CANDIDATES_MAX);
	/* Hearing of one again makes it fresh: it is no longer the oldest. */
	hear(1, 0, 31.0);
	assert_int_equal(hear(90003, sources, 31.0), CANDIDATE_REPLACED);
	assert_non_null(candidates_find(&cs, id_of(1)));
	assert_null(candidates_find(&cs, id_of(2)));
}

static void test_entries_being_dialled_stay(void **state)
{
	(void)state;
	for (unsigned i = 0; i < CANDIDATES_PER_SOURCE; i++) {
		hear(i, 1, 1.0);
		candidates_find(&cs, id_of(i))->dial = 100 + i;
	}
	/* The source's budget is spent and all of it is being dialled. */
	assert_int_equal(hear(5000, 1, 2.0), CANDIDATE_DROPPED);
	assert_int_equal(cs.count, CANDIDATES_PER_SOURCE);
	/* One dial fails: its entry may now make room. */
	struct candidate *c = candidates_dialled_by(&cs, 100 + 3);
	assert_non_null(c);
	assert_memory_equal(c->id, id_of(3), NODE_ID_LEN);
	candidate_failed(c, 3.0, 30.0, 1.0);
	assert_null(candidates_dialled_by(&cs, 100 + 3));
	assert_null(candidates_dialled_by(&cs, 0));
	assert_int_equal(hear(5000, 1, 4.0), CANDIDATE_REPLACED);
	assert_null(candidates_find(&cs, id_of(3)));
}

static void test_due_order_and_backoff(void **state)
{
	(void)state;
	hear(1, 1, 3.0);
	hear(2, 1, 1.0);
	hear(3, 1, 2.0);
	assert_null(candidates_due(&cs, 0.5));
	/* Due longest first. */
	struct candidate *c = candidates_due(&cs, 5.0);
	assert_memory_equal(c->id, id_of(2), NODE_ID_LEN);
	c->dial = 7; /* being dialled: not due */
	c = candidates_due(&cs, 5.0);
	assert_memory_equal(c->id, id_of(3), NODE_ID_LEN);
	/* Failed dials wait 1, 2, 4, ... seconds, at most backoff_max, times
	 * the jitter. */
	double want[] = {1, 2, 4, 8, 10, 10};
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		candidate_failed(c, 100.0, 10.0, 0.5);
		assert_true(c->backoff == want[i]);
		assert_true(c->next_dial == 100.0 + want[i] * 0.5);
	}
	assert_int_equal(c->failures, 6);
	c = candidates_due(&cs, 100.0);
	assert_memory_equal(c->id, id_of(1), NODE_ID_LEN);
	/* A backoff_max below the minimum wins. */
	candidate_failed(c, 100.0, 0.25, 1.0);
	assert_true(c->backoff == 0.25);
}

static void test_remove(void **state)
{
	(void)state;
	for (unsigned i = 0; i < 5; i++)
		hear(i, 1, 1.0);
	candidates_remove(&cs, id_of(1));
	candidates_remove(&cs, id_of(1)); /* not listed: nothing */
	candidates_remove(&cs, id_of(99));
	assert_int_equal(cs.count, 4);
	assert_null(candidates_find(&cs, id_of(1)));
	for (unsigned i = 0; i < 5; i++)
		assert_true(i == 1 || candidates_find(&cs, id_of(i)));
	assert_int_equal(of_source(1), 4);
}

static void test_dial_budget(void **state)
{
	(void)state;
	struct dial_budget b;
	dial_budget_init(&b, 4.0, 8.0, 100.0);
	for (int i = 0; i < 8; i++)
		assert_true(dial_budget_take(&b, 100.0));
	assert_false(dial_budget_ready(&b, 100.0));
	assert_false(dial_budget_take(&b, 100.1));
	/* A token every quarter of a second. */
	assert_true(dial_budget_take(&b, 100.25));
	assert_false(dial_budget_take(&b, 100.3));
	/* An earlier time read by the caller gives nothing back. */
	assert_false(dial_budget_take(&b, 50.0));
	assert_true(dial_budget_take(&b, 100.5));
	/* Idle for long: no more than the burst saved up. */
	int n = 0;
	while (dial_budget_take(&b, 1000.0))
		n++;
	assert_int_equal(n, 8);
	assert_int_equal(b.spent, 8 + 1 + 1 + 8);
}

/* The daemon's use under a flood: three members each name 1,100 new ids at
 * unreachable addresses every 5 s, an honest one names one real node; every
 * quarter of a second the dials of the last tick fail and the due
 * candidates are dialled while the budget allows. */
static void test_flood_stays_bounded(void **state)
{
	(void)state;
	struct dial_budget b;
	dial_budget_init(&b, CANDIDATES_DIAL_RATE, CANDIDATES_DIAL_BURST, 0.0);
	uint64_t serial = 0;
	unsigned dials = 0, honest_dialled = 0, round = 0;
	const unsigned honest = 777777;
	double t;
	for (t = 0.0; t < 60.0; t += 0.25) {
		if (((int)(t * 4)) % 20 == 0) {
			for (unsigned s = 0; s < 3; s++)
				for (unsigned i = 0; i < 1100; i++)
					hear(100000 * round + 10000 * s + i, s, t);
			hear(honest, 9, t);
			round++;
		}
		assert_true(cs.count <= CANDIDATES_MAX);
		for (unsigned s = 0; s < 3; s++)
			assert_int_equal(of_source(s), CANDIDATES_PER_SOURCE);
		assert_non_null(candidates_find(&cs, id_of(honest)));
		for (unsigned i = 0; i < cs.count; i++) {
			if (cs.list[i].dial)
				candidate_failed(&cs.list[i], t, 30.0, 1.0);
		}
		struct candidate *c;
		while (dial_budget_ready(&b, t) && (c = candidates_due(&cs, t))) {
			assert_true(dial_budget_take(&b, t));
			c->dial = ++serial;
			dials++;
			honest_dialled += !memcmp(c->id, id_of(honest), NODE_ID_LEN);
		}
	}
	assert_true(dials <= CANDIDATES_DIAL_BURST + CANDIDATES_DIAL_RATE * t);
	assert_true(dials >= CANDIDATES_DIAL_RATE * t / 2); /* the budget is used */
	/* The honest member's node kept its place and its turns. */
	assert_true(honest_dialled >= 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_heard_adds_then_refreshes, setup),
		cmocka_unit_test_setup(test_only_numeric_addresses, setup),
		cmocka_unit_test_setup(test_one_source_keeps_to_its_budget, setup),
		cmocka_unit_test_setup(test_full_list_evicts_least_worth, setup),
		cmocka_unit_test_setup(test_entries_being_dialled_stay, setup),
		cmocka_unit_test_setup(test_due_order_and_backoff, setup),
		cmocka_unit_test_setup(test_remove, setup),
		cmocka_unit_test_setup(test_dial_budget, setup),
		cmocka_unit_test_setup(test_flood_stays_bounded, setup),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
