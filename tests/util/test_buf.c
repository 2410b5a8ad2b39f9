/*
 * Tests for src/util/buf.c: the growable byte buffer. They check the contract
 * in buf.h: an initialised buffer allocates nothing and reads as "", every
 * append keeps the bytes exact (embedded NULs included) and a NUL just past
 * len, reset keeps the memory, detach hands it over and leaves an empty buffer,
 * and formatted appends work on both sides of the internal 256-byte fast path.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "util/buf.h"

/* Every buffer must keep data[len] == 0 once it owns memory. */
static void assert_terminated(const struct buf *b)
{
	assert_non_null(b->data);
	assert_true(b->len < b->cap);
	assert_int_equal(b->data[b->len], 0);
}

static void test_init_is_empty(void **state)
{
	(void)state;
	struct buf a = BUF_INIT, b;

	memset(&b, 0x5a, sizeof(b));
	buf_init(&b);
	assert_null(a.data);
	assert_int_equal(a.len, 0);
	assert_int_equal(a.cap, 0);
	assert_null(b.data);
	assert_int_equal(b.len, 0);
	assert_int_equal(b.cap, 0);
	assert_non_null(buf_str(&a));
	assert_string_equal(buf_str(&a), "");

	/* Appending nothing allocates nothing; resetting an empty buffer is fine. */
	buf_add(&a, "x", 0);
	buf_addstr(&a, "");
	buf_reset(&a);
	assert_null(a.data);
	assert_int_equal(a.len, 0);
	buf_release(&a);
	buf_release(&b);
}

static void test_add_bytes_with_nuls(void **state)
{
	(void)state;
	struct buf b = BUF_INIT;
	const uint8_t bytes[] = {0x00, 0x01, 0xff, 0x00, 0x7f};

	buf_add(&b, bytes, sizeof(bytes));
	assert_int_equal(b.len, sizeof(bytes));
	assert_memory_equal(b.data, bytes, sizeof(bytes));
	assert_terminated(&b);

	buf_add(&b, bytes, 2);
	assert_int_equal(b.len, sizeof(bytes) + 2);
	assert_memory_equal(b.data + sizeof(bytes), bytes, 2);
	assert_terminated(&b);
	buf_release(&b);
}

static void test_addstr_and_str(void **state)
{
	(void)state;
	struct buf b = BUF_INIT;

	buf_addstr(&b, "hello");
	buf_addstr(&b, ", ");
	buf_addstr(&b, "world");
	assert_int_equal(b.len, 12);
	assert_string_equal(buf_str(&b), "hello, world");
	assert_ptr_equal(buf_str(&b), (const char *)b.data);
	assert_terminated(&b);
	buf_release(&b);
}

static void test_addf_short_and_long(void **state)
{
	(void)state;
	struct buf b = BUF_INIT;
	char expected[2048];

	buf_addstr(&b, "[");
	buf_addf(&b, "%d-%s-%05.1f", -42, "x", 3.5);
	assert_string_equal(buf_str(&b), "[-42-x-003.5");
	assert_int_equal(b.len, strlen("[-42-x-003.5"));

	/* Around the 256-byte stack buffer buf_addf tries first. */
	size_t widths[] = {254, 255, 256, 257, 1000};
	for (size_t i = 0; i < sizeof(widths) / sizeof(widths[0]); i++) {
		buf_reset(&b);
		buf_addstr(&b, "pre:");
		buf_addf(&b, "%*d|%s", (int)widths[i], 7, "tail");
		snprintf(expected, sizeof(expected), "pre:%*d|%s", (int)widths[i], 7, "tail");
		assert_int_equal(b.len, strlen(expected));
		assert_string_equal(buf_str(&b), expected);
		assert_terminated(&b);
	}

	/* An empty format appends nothing. */
	size_t len = b.len;
	buf_addf(&b, "%s", "");
	assert_int_equal(b.len, len);
	buf_release(&b);
}

static void test_add_be32(void **state)
{
	(void)state;
	struct buf b = BUF_INIT;
	const uint8_t expected[] = {0x01, 0x02, 0x03, 0x04, 0x00, 0x00, 0x00, 0x00,
				    0xff, 0xff, 0xff, 0xff, 0x80, 0x00, 0x00, 0x01};

	buf_add_be32(&b, 0x01020304);
	buf_add_be32(&b, 0);
	buf_add_be32(&b, UINT32_MAX);
	buf_add_be32(&b, 0x80000001);
	assert_int_equal(b.len, sizeof(expected));
	assert_memory_equal(b.data, expected, sizeof(expected));
	buf_release(&b);
}

static void test_grow_and_setlen(void **state)
{
	(void)state;
	struct buf b = BUF_INIT;

	buf_addstr(&b, "ab");
	buf_grow(&b, 1000);
	assert_true(b.cap >= b.len + 1000 + 1);
	assert_string_equal(buf_str(&b), "ab");

	/* Writing into the grown space and then setting len (how readers fill it). */
	uint8_t *before = b.data;
	memset(b.data + b.len, 'z', 1000);
	buf_setlen(&b, b.len + 1000);
	assert_int_equal(b.len, 1002);
	assert_ptr_equal(b.data, before);
	assert_terminated(&b);
	assert_int_equal(b.data[1001], 'z');

	/* Shrinking len re-terminates. */
	buf_setlen(&b, 1);
	assert_string_equal(buf_str(&b), "a");

	/* A grow within the capacity does not move the data. */
	buf_grow(&b, 10);
	assert_ptr_equal(b.data, before);
	buf_release(&b);
}

static void test_reset_keeps_memory(void **state)
{
	(void)state;
	struct buf b = BUF_INIT;

	buf_addstr(&b, "some text that takes space");
	uint8_t *data = b.data;
	size_t cap = b.cap;
	buf_reset(&b);
	assert_int_equal(b.len, 0);
	assert_ptr_equal(b.data, data);
	assert_int_equal(b.cap, cap);
	assert_string_equal(buf_str(&b), "");
	buf_addstr(&b, "new");
	assert_string_equal(buf_str(&b), "new");
	buf_release(&b);
}

static void test_release_then_reuse(void **state)
{
	(void)state;
	struct buf b = BUF_INIT;

	buf_addstr(&b, "first");
	buf_release(&b);
	assert_null(b.data);
	assert_int_equal(b.len, 0);
	assert_int_equal(b.cap, 0);
	assert_string_equal(buf_str(&b), "");
	buf_addstr(&b, "second");
	assert_string_equal(buf_str(&b), "second");
	buf_release(&b);
	buf_release(&b);
}

static void test_detach(void **state)
{
	(void)state;
	struct buf b = BUF_INIT;
	size_t len = 12345;

	buf_add(&b, "a\0b", 3);
	uint8_t *p = buf_detach(&b, &len);
	assert_non_null(p);
	assert_int_equal(len, 3);
	assert_memory_equal(p, "a\0b", 4); /* terminated too */
	assert_null(b.data);
	assert_int_equal(b.len, 0);
	assert_int_equal(b.cap, 0);
	free(p);

	/* An empty, never-allocated buffer still detaches to a real "" string. */
	len = 12345;
	p = buf_detach(&b, &len);
	assert_non_null(p);
	assert_int_equal(len, 0);
	assert_int_equal(p[0], 0);
	free(p);

	/* len_out may be NULL. */
	buf_addstr(&b, "xyz");
	p = buf_detach(&b, NULL);
	assert_string_equal((char *)p, "xyz");
	free(p);
	assert_null(b.data);
}

static void test_many_appends(void **state)
{
	(void)state;
	struct buf b = BUF_INIT;
	size_t total = 0;
	uint8_t piece[997];

	/* Odd-sized pieces over many reallocations; the content must stay exact. */
	for (size_t i = 0; total < (1u << 20); i++) {
		size_t n = 1 + (i * 131) % sizeof(piece);
		for (size_t j = 0; j < n; j++)
			piece[j] = (uint8_t)(total + j);
		buf_add(&b, piece, n);
		total += n;
		assert_int_equal(b.len, total);
	}
	for (size_t i = 0; i < total; i++) {
		if (b.data[i] != (uint8_t)i)
			fail_msg("byte %zu is %u, expected %u", i, b.data[i], (uint8_t)i);
	}
	assert_terminated(&b);
	buf_release(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_init_is_empty),
		cmocka_unit_test(test_add_bytes_with_nuls),
		cmocka_unit_test(test_addstr_and_str),
		cmocka_unit_test(test_addf_short_and_long),
		cmocka_unit_test(test_add_be32),
		cmocka_unit_test(test_grow_and_setlen),
		cmocka_unit_test(test_reset_keeps_memory),
		cmocka_unit_test(test_release_then_reuse),
		cmocka_unit_test(test_detach),
		cmocka_unit_test(test_many_appends),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
