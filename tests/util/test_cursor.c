/*
 * Tests for src/util/cursor.c: the bounded reader for untrusted bytes. Every
 * getter is tried with exactly the bytes it needs (succeeds, leaves nothing),
 * one byte short (SHOAL_EPROTO, cursor and output untouched), on an empty
 * cursor, and with lengths near SIZE_MAX that would wrap a careless
 * "p + n <= end" check.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "util/buf.h"
#include "util/cursor.h"
#include "util/error.h"

static const uint8_t data[16] = {0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08,
				 0x89, 0xab, 0xcd, 0xef, 0xfe, 0xdc, 0xba, 0x98};

/* Asserts that c still points at p with left bytes. */
static void assert_cursor_at(const struct cursor *c, const uint8_t *p, size_t left)
{
	assert_ptr_equal(c->p, p);
	assert_int_equal(c->left, left);
}

static void test_u8(void **state)
{
	(void)state;
	struct cursor c;
	uint8_t v = 0x5a;

	cursor_init(&c, data, 1);
	assert_int_equal(cursor_get_u8(&c, &v), 0);
	assert_int_equal(v, 0x01);
	assert_cursor_at(&c, data + 1, 0);

	v = 0x5a;
	assert_int_equal(cursor_get_u8(&c, &v), SHOAL_EPROTO);
	assert_int_equal(v, 0x5a);
	assert_cursor_at(&c, data + 1, 0);
}

static void test_be32(void **state)
{
	(void)state;
	struct cursor c;
	uint32_t v = 0x5a5a5a5a;

	/* Exactly four bytes. */
	cursor_init(&c, data + 8, 4);
	assert_int_equal(cursor_get_be32(&c, &v), 0);
	assert_int_equal(v, 0x89abcdef);
	assert_cursor_at(&c, data + 12, 0);

	/* One short, at every shortfall. */
	for (size_t n = 0; n < 4; n++) {
		cursor_init(&c, data, n);
		v = 0x5a5a5a5a;
		assert_int_equal(cursor_get_be32(&c, &v), SHOAL_EPROTO);
		assert_int_equal(v, 0x5a5a5a5a);
		assert_cursor_at(&c, data, n);
	}

	/* Consecutive reads walk the buffer. */
	cursor_init(&c, data, sizeof(data));
	uint32_t w[4];
	for (int i = 0; i < 4; i++)
		assert_int_equal(cursor_get_be32(&c, &w[i]), 0);
	assert_int_equal(w[0], 0x01020304);
	assert_int_equal(w[1], 0x05060708);
	assert_int_equal(w[2], 0x89abcdef);
	assert_int_equal(w[3], 0xfedcba98);
	assert_int_equal(cursor_get_be32(&c, &w[0]), SHOAL_EPROTO);
	assert_int_equal(w[0], 0x01020304);
}

static void test_be64(void **state)
{
	(void)state;
	struct cursor c;
	uint64_t v = 0x5a5a5a5a5a5a5a5a;

	cursor_init(&c, data + 8, 8);
	assert_int_equal(cursor_get_be64(&c, &v), 0);
	assert_true(v == 0x89abcdeffedcba98ull);
	assert_cursor_at(&c, data + 16, 0);

	cursor_init(&c, data, 8);
	assert_int_equal(cursor_get_be64(&c, &v), 0);
	assert_true(v == 0x0102030405060708ull);

	/* Short by 1..8: in particular 4..7, where the first half is there. */
	for (size_t n = 0; n < 8; n++) {
		cursor_init(&c, data, n);
		v = 0x5a5a5a5a5a5a5a5a;
		assert_int_equal(cursor_get_be64(&c, &v), SHOAL_EPROTO);
		assert_true(v == 0x5a5a5a5a5a5a5a5aull);
		assert_cursor_at(&c, data, n);
	}
}

static void test_bytes(void **state)
{
	(void)state;
	struct cursor c;
	uint8_t out[17];

	for (size_t n = 0; n <= sizeof(data); n++) {
		/* Exactly n bytes. */
		cursor_init(&c, data, n);
		memset(out, 0x5a, sizeof(out));
		assert_int_equal(cursor_get_bytes(&c, out, n), 0);
		assert_memory_equal(out, data, n);
		assert_int_equal(out[n], 0x5a);
		assert_cursor_at(&c, data + n, 0);

		/* One more than there is. */
		cursor_init(&c, data, n);
		memset(out, 0x5a, sizeof(out));
		assert_int_equal(cursor_get_bytes(&c, out, n + 1), SHOAL_EPROTO);
		for (size_t i = 0; i < sizeof(out); i++)
			assert_int_equal(out[i], 0x5a);
		assert_cursor_at(&c, data, n);
	}
}

static void test_ref(void **state)
{
	(void)state;
	struct cursor c;
	const uint8_t *ref = NULL;

	cursor_init(&c, data, sizeof(data));
	assert_int_equal(cursor_get_ref(&c, &ref, 3), 0);
	assert_ptr_equal(ref, data);
	assert_int_equal(cursor_get_ref(&c, &ref, 13), 0);
	assert_ptr_equal(ref, data + 3);
	assert_cursor_at(&c, data + 16, 0);

	/* A zero-length ref at the end succeeds and points at the end. */
	assert_int_equal(cursor_get_ref(&c, &ref, 0), 0);
	assert_ptr_equal(ref, data + 16);

	/* One short leaves ref alone. */
	cursor_init(&c, data, 5);
	ref = data + 7;
	assert_int_equal(cursor_get_ref(&c, &ref, 6), SHOAL_EPROTO);
	assert_ptr_equal(ref, data + 7);
	assert_cursor_at(&c, data, 5);
}

static void test_skip(void **state)
{
	(void)state;
	struct cursor c;
	uint8_t v;

	cursor_init(&c, data, sizeof(data));
	assert_int_equal(cursor_skip(&c, 15), 0);
	assert_cursor_at(&c, data + 15, 1);
	assert_int_equal(cursor_skip(&c, 2), SHOAL_EPROTO);
	assert_cursor_at(&c, data + 15, 1);
	assert_int_equal(cursor_get_u8(&c, &v), 0);
	assert_int_equal(v, 0x98);
	assert_int_equal(cursor_skip(&c, 0), 0);
	assert_int_equal(cursor_skip(&c, 1), SHOAL_EPROTO);
	assert_cursor_at(&c, data + 16, 0);
}

static void test_empty_cursor(void **state)
{
	(void)state;
	struct cursor c;
	uint8_t u8, bytes[1];
	uint32_t u32;
	uint64_t u64;
	const uint8_t *ref;

	cursor_init(&c, NULL, 0);
	assert_int_equal(cursor_get_u8(&c, &u8), SHOAL_EPROTO);
	assert_int_equal(cursor_get_be32(&c, &u32), SHOAL_EPROTO);
	assert_int_equal(cursor_get_be64(&c, &u64), SHOAL_EPROTO);
	assert_int_equal(cursor_get_bytes(&c, bytes, 1), SHOAL_EPROTO);
	assert_int_equal(cursor_get_ref(&c, &ref, 1), SHOAL_EPROTO);
	assert_int_equal(cursor_skip(&c, 1), SHOAL_EPROTO);
	assert_cursor_at(&c, NULL, 0);
}

/* Zero-length reads from an empty input whose pointer is NULL, as an empty
 * struct buf gives (its data is NULL): they succeed and touch nothing. Kept
 * last: under SAN=1 undefined behaviour here aborts the whole program. */
static void test_empty_cursor_zero_length(void **state)
{
	(void)state;
	struct buf empty = BUF_INIT;
	struct cursor c;
	uint8_t bytes[1] = {0x5a};
	const uint8_t *ref;

	cursor_init(&c, empty.data, empty.len);
	assert_int_equal(cursor_skip(&c, 0), 0);
	assert_int_equal(cursor_get_ref(&c, &ref, 0), 0);
	assert_int_equal(cursor_get_bytes(&c, bytes, 0), 0);
	assert_int_equal(bytes[0], 0x5a);
	assert_int_equal(c.left, 0);
}

static void test_huge_lengths(void **state)
{
	(void)state;
	struct cursor c;
	const uint8_t *ref = NULL;
	uint8_t out[4];
	/* Each would wrap a pointer or a "used + n" sum on 64-bit. */
	const size_t huge[] = {
		SIZE_MAX,	 SIZE_MAX - 1,		SIZE_MAX - 15,	       SIZE_MAX - 16,
		(size_t)1 << 63, ((size_t)1 << 63) + 1, (size_t)UINT32_MAX + 1};

	for (size_t i = 0; i < sizeof(huge) / sizeof(huge[0]); i++) {
		/* At the start, and after part of the input was consumed. */
		for (size_t used = 0; used <= 8; used += 8) {
			cursor_init(&c, data, sizeof(data));
			assert_int_equal(cursor_skip(&c, used), 0);
			assert_int_equal(cursor_get_ref(&c, &ref, huge[i]), SHOAL_EPROTO);
			assert_int_equal(cursor_skip(&c, huge[i]), SHOAL_EPROTO);
			assert_int_equal(cursor_get_bytes(&c, out, huge[i]), SHOAL_EPROTO);
			assert_cursor_at(&c, data + used, sizeof(data) - used);
			assert_null(ref);
		}
	}
}

static void test_parse_record(void **state)
{
	(void)state;
	/* A small record: u8 type, be32 length, that many bytes, be64 trailer. */
	const uint8_t rec[] = {0x07, 0x00, 0x00, 0x00, 0x03, 'a',  'b',	 'c',
			       0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x02};
	struct cursor c;
	uint8_t type;
	uint32_t len;
	const uint8_t *body;
	uint64_t trailer;

	cursor_init(&c, rec, sizeof(rec));
	assert_int_equal(cursor_get_u8(&c, &type), 0);
	assert_int_equal(cursor_get_be32(&c, &len), 0);
	assert_int_equal(cursor_get_ref(&c, &body, len), 0);
	assert_int_equal(cursor_get_be64(&c, &trailer), 0);
	assert_int_equal(type, 7);
	assert_int_equal(len, 3);
	assert_memory_equal(body, "abc", 3);
	assert_true(trailer == 0x0000000100000002ull);
	assert_int_equal(c.left, 0);

	/* The same record with an announced length past the end. */
	uint8_t bad[sizeof(rec)];
	memcpy(bad, rec, sizeof(rec));
	bad[4] = 0x0c; /* 12 > the 11 bytes left after the header */
	cursor_init(&c, bad, sizeof(bad));
	assert_int_equal(cursor_get_u8(&c, &type), 0);
	assert_int_equal(cursor_get_be32(&c, &len), 0);
	assert_int_equal(cursor_get_ref(&c, &body, len), SHOAL_EPROTO);
	assert_cursor_at(&c, bad + 5, sizeof(bad) - 5);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_u8),
		cmocka_unit_test(test_be32),
		cmocka_unit_test(test_be64),
		cmocka_unit_test(test_bytes),
		cmocka_unit_test(test_ref),
		cmocka_unit_test(test_skip),
		cmocka_unit_test(test_empty_cursor),
		cmocka_unit_test(test_huge_lengths),
		cmocka_unit_test(test_parse_record),
		cmocka_unit_test(test_empty_cursor_zero_length),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
