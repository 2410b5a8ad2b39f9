/*
 * Tests for src/proto/catlog.c, the framing of the catalog log: records
 * appended then parsed come back in order and byte for byte; a log cut at
 * every possible byte keeps exactly the whole records before the cut and says
 * where they end; a flipped bit costs only its own record; a length no writer
 * writes ends the readable part; a file without the magic is refused; the
 * callback can stop the walk.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "proto/catlog.h"
#include "util/buf.h"
#include "util/error.h"

#define NREC 5

/* Record i's payload: i + 1 bytes times 37, each byte i ^ position. */
static size_t payload_len(size_t i)
{
	return (i + 1) * 37;
}

static void payload_fill(uint8_t *p, size_t i)
{
	for (size_t k = 0; k < payload_len(i); k++)
		p[k] = (uint8_t)(i ^ k);
}

/* A log of NREC records; ends[i] is the offset just past record i. */
static void build_log(struct buf *log, size_t ends[NREC])
{
	uint8_t p[NREC * 37];
	buf_init(log);
	buf_add(log, CATLOG_MAGIC, CATLOG_MAGIC_LEN);
	for (size_t i = 0; i < NREC; i++) {
		payload_fill(p, i);
		assert_int_equal(catlog_append(log, p, payload_len(i)), 0);
		ends[i] = log->len;
	}
}

struct seen {
	size_t n;
	size_t index[NREC];
	int stop_after; /* 0: never */
};

/* Checks that each payload seen is one of the records, and notes which. */
static int collect(const uint8_t *payload, size_t len, void *arg)
{
	struct seen *s = arg;
	uint8_t want[NREC * 37];
	size_t i = len / 37 - 1;
	assert_true(len % 37 == 0 && i < NREC);
	payload_fill(want, i);
	assert_memory_equal(payload, want, len);
	assert_true(s->n < NREC);
	s->index[s->n++] = i;
	if (s->stop_after && (int)s->n == s->stop_after)
		return 42;
	return 0;
}

static void test_round_trip(void **state)
{
	(void)state;
	struct buf log;
	size_t ends[NREC];
	build_log(&log, ends);
	struct seen s = {0};
	struct catlog_scan scan;
	assert_int_equal(catlog_parse(log.data, log.len, collect, &s, &scan), 0);
	assert_int_equal(scan.records, NREC);
	assert_int_equal(scan.skipped, 0);
	assert_int_equal(scan.intact, log.len);
	for (size_t i = 0; i < NREC; i++)
		assert_int_equal(s.index[i], i);
	buf_release(&log);
}

static void test_every_cut(void **state)
{
	(void)state;
	struct buf log;
	size_t ends[NREC];
	build_log(&log, ends);
	for (size_t cut = CATLOG_MAGIC_LEN; cut <= log.len; cut++) {
		/* A heap copy of exactly cut bytes, so ASan sees any overread. */
		uint8_t *copy = malloc(cut);
		assert_non_null(copy);
		memcpy(copy, log.data, cut);
		size_t whole = 0, end = CATLOG_MAGIC_LEN;
		while (whole < NREC && ends[whole] <= cut)
			end = ends[whole++];
		struct seen s = {0};
		struct catlog_scan scan;
		assert_int_equal(catlog_parse(copy, cut, collect, &s, &scan), 0);
		assert_int_equal(scan.records, whole);
		assert_int_equal(s.n, whole);
		assert_int_equal(scan.intact, end);
		free(copy);
	}
	buf_release(&log);
}

static void test_flipped_bit_costs_one_record(void **state)
{
	(void)state;
	struct buf log;
	size_t ends[NREC];
	build_log(&log, ends);
	log.data[ends[1] + 4 + 3] ^= 0x10; /* inside record 2's payload */
	struct seen s = {0};
	struct catlog_scan scan;
	assert_int_equal(catlog_parse(log.data, log.len, collect, &s, &scan), 0);
	assert_int_equal(scan.records, NREC - 1);
	assert_int_equal(scan.skipped, 1);
	assert_int_equal(scan.intact, log.len);
	assert_int_equal(s.index[1], 1);
	assert_int_equal(s.index[2], 3);
	buf_release(&log);
}

static void test_bad_length_ends_the_log(void **state)
{
	(void)state;
	struct buf log;
	size_t ends[NREC];
	build_log(&log, ends);
	/* Record 3's length made zero, then past the maximum. */
	for (int k = 0; k < 2; k++) {
		uint8_t *p = log.data + ends[2];
		uint32_t n = k == 0 ? 0 : CATLOG_PAYLOAD_MAX + 1;
		p[0] = (uint8_t)(n >> 24), p[1] = (uint8_t)(n >> 16);
		p[2] = (uint8_t)(n >> 8), p[3] = (uint8_t)n;
		struct seen s = {0};
		struct catlog_scan scan;
		assert_int_equal(catlog_parse(log.data, log.len, collect, &s, &scan), 0);
		assert_int_equal(scan.records, 3);
		assert_int_equal(scan.intact, ends[2]);
	}
	buf_release(&log);
}

static void test_magic_required(void **state)
{
	(void)state;
	struct buf log;
	size_t ends[NREC];
	build_log(&log, ends);
	struct seen s = {0};
	struct catlog_scan scan;
	log.data[3] ^= 1;
	assert_int_equal(catlog_parse(log.data, log.len, collect, &s, &scan), SHOAL_EVERSION);
	assert_int_equal(scan.intact, 0);
	assert_int_equal(s.n, 0);
	assert_int_equal(catlog_parse(log.data, 5, collect, &s, &scan), SHOAL_EVERSION);
	assert_int_equal(catlog_parse((const uint8_t *)"", 0, collect, &s, &scan), SHOAL_EVERSION);
	/* The magic alone is an empty log. */
	assert_int_equal(
		catlog_parse((const uint8_t *)CATLOG_MAGIC, CATLOG_MAGIC_LEN, collect, &s, &scan),
		0);
	assert_int_equal(scan.records, 0);
	assert_int_equal(scan.intact, CATLOG_MAGIC_LEN);
	buf_release(&log);
}

static void test_callback_stops(void **state)
{
	(void)state;
	struct buf log;
	size_t ends[NREC];
	build_log(&log, ends);
	struct seen s = {.stop_after = 2};
	struct catlog_scan scan;
	assert_int_equal(catlog_parse(log.data, log.len, collect, &s, &scan), 42);
	assert_int_equal(s.n, 2);
	assert_int_equal(scan.records, 2);
	buf_release(&log);
}

static void test_append_bounds(void **state)
{
	(void)state;
	struct buf out;
	static uint8_t big[CATLOG_PAYLOAD_MAX + 1];
	buf_init(&out);
	assert_int_equal(catlog_append(&out, big, 0), SHOAL_ETOOBIG);
	assert_int_equal(catlog_append(&out, big, CATLOG_PAYLOAD_MAX + 1), SHOAL_ETOOBIG);
	assert_int_equal(out.len, 0);
	assert_int_equal(catlog_append(&out, big, CATLOG_PAYLOAD_MAX), 0);
	assert_int_equal(out.len, CATLOG_RECORD_MAX);
	buf_release(&out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_every_cut),
		cmocka_unit_test(test_flipped_bit_costs_one_record),
		cmocka_unit_test(test_bad_length_ends_the_log),
		cmocka_unit_test(test_magic_required),
		cmocka_unit_test(test_callback_stops),
		cmocka_unit_test(test_append_bounds),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
