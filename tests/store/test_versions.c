/*
 * Tests for a name's versions (src/store/versions.c, with the index's
 * versions rows): restic's retention rules on crafted times (keep-last,
 * keep-daily over the days that have versions, ISO weeks across a year's
 * end, months, rules combined, the newest always kept, no rule keeping all),
 * and pruning a real store: a dry run changes nothing, a prune removes what
 * no rule keeps and releases only the chunks no kept version needs, a put
 * of the newest content adds no version. Times are UTC (TZ is set).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "store_fixture.h"
#include "crypto/hash.h"
#include "store/index.h"
#include "store/versions.h"
#include "util/error.h"

/* Unix seconds of a UTC date and hour. */
static int64_t at(int year, int month, int day, int hour)
{
	struct tm tm = {
		.tm_year = year - 1900, .tm_mon = month - 1, .tm_mday = day, .tm_hour = hour};
	return (int64_t)timegm(&tm);
}

/* Runs the rules over n times (newest first) and compares with want, a
 * string of '1' (kept) and '0'. */
static void expect(const int64_t *times, size_t n, struct retention r, const char *want)
{
	uint8_t keep[32];
	char got[33];
	assert_true(n < sizeof(keep));
	memset(keep, 7, sizeof(keep));
	retention_select(times, n, &r, keep);
	for (size_t i = 0; i < n; i++)
		got[i] = keep[i] == 1 ? '1' : keep[i] == 0 ? '0' : '?';
	got[n] = 0;
	assert_string_equal(got, want);
}

static void test_keep_last(void **state)
{
	(void)state;
	const int64_t t[] = {at(2024, 5, 5, 12), at(2024, 5, 5, 11), at(2024, 5, 5, 10),
			     at(2024, 5, 4, 10), at(2024, 5, 1, 10)};
	expect(t, 5, (struct retention){.last = 2}, "11000");
	expect(t, 5, (struct retention){.last = 1}, "10000");
	expect(t, 5, (struct retention){.last = 9}, "11111");
	/* No rule: every version stays. */
	expect(t, 5, (struct retention){0}, "11111");
	assert_int_equal(retention_set(&(struct retention){0}), 0);
	assert_int_equal(retention_set(&(struct retention){.monthly = 1}), 1);
}

static void test_keep_daily(void **state)
{
	(void)state;
	/* The newest of each day; days without versions do not count. */
	const int64_t t[] = {at(2024, 5, 10, 18), at(2024, 5, 10, 9), at(2024, 5, 9, 12),
			     at(2024, 5, 7, 12),  at(2024, 5, 7, 8),  at(2024, 5, 3, 23),
			     at(2024, 4, 30, 1)};
	expect(t, 7, (struct retention){.daily = 3}, "1011000");
	expect(t, 7, (struct retention){.daily = 1}, "1000000");
	expect(t, 7, (struct retention){.daily = 5}, "1011011");
	/* Midnight splits days: 23:00 and 01:00 the next day are two days. */
	const int64_t m[] = {at(2024, 5, 2, 1), at(2024, 5, 1, 23), at(2024, 5, 1, 22)};
	expect(m, 3, (struct retention){.daily = 2}, "110");
}

static void test_keep_weekly(void **state)
{
	(void)state;
	/* ISO weeks start on Monday: 2024-01-01 is the Monday of week 1, and
	 * Sunday 2023-12-31 is in 2023's week 52. */
	const int64_t t[] = {at(2024, 1, 14, 10), at(2024, 1, 8, 10),	at(2024, 1, 7, 10),
			     at(2024, 1, 1, 10),  at(2023, 12, 31, 10), at(2023, 12, 25, 10)};
	expect(t, 6, (struct retention){.weekly = 2}, "101000");
	expect(t, 6, (struct retention){.weekly = 3}, "101010");
	expect(t, 6, (struct retention){.weekly = 10}, "101010");
	/* 2020-12-31 (Thursday) and 2021-01-03 (Sunday) share ISO week
	 * 2020-W53: one week across the year's end. */
	const int64_t y[] = {at(2021, 1, 4, 10), at(2021, 1, 3, 10), at(2020, 12, 31, 10)};
	expect(y, 3, (struct retention){.weekly = 3}, "110");
}

static void test_keep_monthly(void **state)
{
	(void)state;
	const int64_t t[] = {at(2024, 3, 15, 10), at(2024, 3, 1, 10), at(2024, 2, 29, 10),
			     at(2024, 1, 31, 10), at(2023, 12, 31, 10)};
	expect(t, 5, (struct retention){.monthly = 2}, "10100");
	expect(t, 5, (struct retention){.monthly = 4}, "10111");
}

static void test_rules_combined(void **state)
{
	(void)state;
	/* A version any rule keeps is kept. */
	const int64_t t[] = {at(2024, 3, 15, 10), at(2024, 3, 1, 10), at(2024, 2, 29, 10),
			     at(2024, 1, 31, 10), at(2023, 12, 31, 10)};
	expect(t, 5, (struct retention){.last = 2, .monthly = 3}, "11110");
	expect(t, 5, (struct retention){.daily = 1, .monthly = 1}, "10000");
	expect(t, 5, (struct retention){.weekly = 2, .monthly = 5}, "11111");
	/* Order is the versions', not their times': the newest is kept even
	 * when a clock set back made it look older than the others. */
	const int64_t back[] = {at(2024, 1, 1, 0), at(2024, 6, 1, 0), at(2024, 6, 1, 1)};
	expect(back, 3, (struct retention){.daily = 1}, "100");
	expect(back, 3, (struct retention){.daily = 2}, "110");
}

/* ---- a store's versions ---- */

struct fixture {
	char home[STORE_FIXTURE_PATH];
	struct store *s;
};

static int setup(void **state)
{
	setenv("TZ", "UTC", 1);
	tzset();
	struct fixture *fx = calloc(1, sizeof(*fx));
	if (!fx || store_fixture_setup(fx->home, NULL, &fx->s, "versions")) {
		free(fx);
		return -1;
	}
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

static void id_of(const char *label, uint8_t id[CHUNK_ID_LEN])
{
	sha256(label, strlen(label), id);
}

/* Adds a version of name: manifest label m needing chunks (NULL-ended),
 * created at t. Returns its number, or 0 when none was added. */
static uint32_t add_version(struct fixture *fx, const char *name, const char *m,
			    const char *const *chunks, int64_t t)
{
	struct index *ix = fx->s->index;
	struct index_name n = {.size = 1, .created = t};
	snprintf(n.name, sizeof(n.name), "%s", name);
	snprintf(n.cap, sizeof(n.cap), "shoal:cap-of-%s", m);
	id_of(m, n.manifest);
	uint32_t version = 0;
	int added = -1;
	assert_int_equal(index_begin(ix), 0);
	assert_int_equal(index_chunk_add(ix, n.manifest, 1), 0);
	assert_int_equal(index_ref_add(ix, n.manifest, n.manifest), 0);
	for (size_t i = 0; chunks[i]; i++) {
		uint8_t c[CHUNK_ID_LEN];
		id_of(chunks[i], c);
		assert_int_equal(index_chunk_add(ix, c, 1), 0);
		assert_int_equal(index_ref_add(ix, n.manifest, c), 0);
	}
	assert_int_equal(index_name_set(ix, &n, &version, &added), 0);
	assert_int_equal(index_commit(ix), 0);
	return added ? version : 0;
}

static int has(struct fixture *fx, const char *label)
{
	uint8_t id[CHUNK_ID_LEN];
	id_of(label, id);
	return index_chunk_has(fx->s->index, id);
}

struct seen {
	char line[16][300];
	size_t n;
};

static int note_version(const struct index_name *v, int kept, void *arg)
{
	struct seen *s = arg;
	assert_true(s->n < 16);
	snprintf(s->line[s->n++], sizeof(s->line[0]), "%s %u %s", v->name, v->version,
		 kept ? "keep" : "drop");
	return 0;
}

static int count_versions(const struct index_name *v, void *arg)
{
	(void)v;
	(*(int *)arg)++;
	return 0;
}

static int versions_of(struct fixture *fx, const char *name)
{
	int n = 0;
	assert_int_equal(index_versions_foreach(fx->s->index, name, count_versions, &n), 0);
	return n;
}

static void test_store_versions(void **state)
{
	struct fixture *fx = *state;
	assert_int_equal(add_version(fx, "doc", "M1", (const char *const[]){"a", "s", NULL},
				     at(2024, 1, 1, 0)),
			 1);
	assert_int_equal(add_version(fx, "doc", "M2", (const char *const[]){"b", "s", NULL},
				     at(2024, 1, 2, 0)),
			 2);
	/* The newest content again: no version. */
	assert_int_equal(add_version(fx, "doc", "M2", (const char *const[]){"b", "s", NULL},
				     at(2024, 1, 3, 0)),
			 0);
	assert_int_equal(add_version(fx, "doc", "M3", (const char *const[]){"c", "s", NULL},
				     at(2024, 1, 3, 0)),
			 3);
	/* Older content again is a new version (it is not the newest). */
	assert_int_equal(add_version(fx, "doc", "M1", (const char *const[]){"a", "s", NULL},
				     at(2024, 1, 4, 0)),
			 4);
	assert_int_equal(
		add_version(fx, "other", "M9", (const char *const[]){"b", NULL}, at(2024, 1, 1, 0)),
		1);
	assert_int_equal(versions_of(fx, "doc"), 4);
	struct index_name got;
	assert_int_equal(index_name_get(fx->s->index, "doc", &got), 0);
	assert_int_equal(got.version, 4);
	assert_int_equal(got.versions, 4);
	assert_string_equal(got.cap, "shoal:cap-of-M1");
	assert_int_equal(index_version_get(fx->s->index, "doc", 2, &got), 0);
	assert_string_equal(got.cap, "shoal:cap-of-M2");
	assert_int_equal(index_version_get(fx->s->index, "doc", 5, &got), SHOAL_ENOTFOUND);

	/* A dry run lists and changes nothing. */
	struct retention last1 = {.last = 1};
	struct seen seen = {0};
	uint64_t removed = 99;
	assert_int_equal(versions_prune(fx->s, "doc", &last1, 1, note_version, &seen, &removed), 0);
	assert_int_equal(removed, 3);
	assert_int_equal(seen.n, 4);
	assert_string_equal(seen.line[0], "doc 4 keep");
	assert_string_equal(seen.line[3], "doc 1 drop");
	assert_int_equal(versions_of(fx, "doc"), 4);
	assert_int_equal(has(fx, "M2"), 1);

	/* Keep the last two: versions 1 (M1 again as 4 stays) and 2 go; M2's
	 * own chunk goes, b stays for "other", s and a for version 4. */
	struct retention last2 = {.last = 2};
	assert_int_equal(versions_prune(fx->s, "doc", &last2, 0, NULL, NULL, &removed), 0);
	assert_int_equal(removed, 2);
	assert_int_equal(versions_of(fx, "doc"), 2);
	assert_int_equal(has(fx, "M2"), 0);
	assert_int_equal(has(fx, "M1"), 1);
	assert_int_equal(has(fx, "M3"), 1);
	assert_int_equal(has(fx, "a"), 1);
	assert_int_equal(has(fx, "b"), 1);
	assert_int_equal(has(fx, "s"), 1);
	assert_int_equal(index_version_get(fx->s->index, "doc", 3, &got), 0);

	/* Every name at once, by day: "other" has one version, kept. */
	struct retention daily = {.daily = 1};
	assert_int_equal(versions_prune(fx->s, NULL, &daily, 0, NULL, NULL, &removed), 0);
	assert_int_equal(removed, 1);
	assert_int_equal(has(fx, "M3"), 0);
	assert_int_equal(has(fx, "c"), 0);
	assert_int_equal(versions_of(fx, "other"), 1);
	assert_int_equal(versions_prune(fx->s, "nothing", &daily, 0, NULL, NULL, &removed),
			 SHOAL_ENOTFOUND);

	/* Removing the newest version makes the next one the name's newest;
	 * the last one takes the name. */
	assert_int_equal(add_version(fx, "x", "X1", (const char *const[]){NULL}, 1), 1);
	assert_int_equal(add_version(fx, "x", "X2", (const char *const[]){NULL}, 2), 2);
	assert_int_equal(store_remove_version(fx->s, "x", 2), 0);
	assert_int_equal(index_name_get(fx->s->index, "x", &got), 0);
	assert_int_equal(got.version, 1);
	assert_string_equal(got.cap, "shoal:cap-of-X1");
	assert_int_equal(has(fx, "X2"), 0);
	assert_int_equal(store_remove_version(fx->s, "x", 2), SHOAL_ENOTFOUND);
	assert_int_equal(store_remove_version(fx->s, "x", 1), 0);
	assert_int_equal(index_name_get(fx->s->index, "x", &got), SHOAL_ENOTFOUND);
	/* A new name starts again at 1. */
	assert_int_equal(add_version(fx, "x", "X3", (const char *const[]){NULL}, 3), 1);
}

int main(void)
{
	setenv("TZ", "UTC", 1);
	tzset();
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_keep_last),
		cmocka_unit_test(test_keep_daily),
		cmocka_unit_test(test_keep_weekly),
		cmocka_unit_test(test_keep_monthly),
		cmocka_unit_test(test_rules_combined),
		cmocka_unit_test_setup_teardown(test_store_versions, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
