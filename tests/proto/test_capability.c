/*
 * Tests for src/proto/capability.c: the "shoal:<id>:<key>" text form. Format
 * and parse must round-trip and produce exactly 111 lowercase characters; the
 * parser takes exactly that form and nothing near it, leaving the capability
 * untouched on SHOAL_EBADCAP: the prefix is case-sensitive ("SHOAL:" is
 * refused), while the base32 parts accept either case, as every base32 in
 * Shoal does (encoding.h). Lengths off by one, a missing or misplaced ':',
 * characters outside the alphabet, non-zero padding bits and surrounding white
 * space are all refused. capability_looks_like() only checks the prefix.
 */
#include <ctype.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "proto/capability.h"
#include "util/error.h"

#define ID_AT  6  /* after "shoal:" */
#define SEP_AT 58 /* ID_AT + 52 */
#define KEY_AT 59

static const char b32_alphabet[] = "abcdefghijklmnopqrstuvwxyz234567";

static void make_cap(struct capability *cap, uint8_t seed)
{
	for (size_t i = 0; i < sizeof(cap->id); i++)
		cap->id[i] = (uint8_t)(seed * 31 + i * 7);
	for (size_t i = 0; i < sizeof(cap->key); i++)
		cap->key[i] = (uint8_t)(seed * 17 + i * 13 + 1);
}

/* Parses s, expecting SHOAL_EBADCAP and the output left alone. */
static void assert_rejected(const char *s)
{
	struct capability cap, untouched;
	memset(&untouched, 0x5a, sizeof(untouched));
	cap = untouched;
	int err = capability_parse(&cap, s);
	if (err != SHOAL_EBADCAP)
		fail_msg("\"%s\" gave %d, not SHOAL_EBADCAP", s, err);
	assert_memory_equal(&cap, &untouched, sizeof(cap));
}

static void test_format_shape(void **state)
{
	(void)state;
	struct capability cap;
	char s[CAPABILITY_STR_LEN + 2];

	for (uint8_t seed = 0; seed < 50; seed++) {
		make_cap(&cap, seed);
		memset(s, '#', sizeof(s));
		capability_format(&cap, s);
		assert_int_equal(strlen(s), CAPABILITY_STR_LEN);
		assert_int_equal(s[CAPABILITY_STR_LEN + 1], '#');
		assert_memory_equal(s, "shoal:", 6);
		assert_int_equal(s[SEP_AT], ':');
		assert_int_equal(strspn(s + ID_AT, b32_alphabet), 52);
		assert_int_equal(strspn(s + KEY_AT, b32_alphabet), 52);
		assert_true(capability_looks_like(s));
	}
}

static void test_format_known_values(void **state)
{
	(void)state;
	struct capability cap;
	char s[CAPABILITY_STR_LEN + 1], expected[CAPABILITY_STR_LEN + 1];

	memset(cap.id, 0, sizeof(cap.id));
	memset(cap.key, 0xff, sizeof(cap.key));
	capability_format(&cap, s);
	/* 256 bits: 51 full digits and one with a single data bit. */
	snprintf(expected, sizeof(expected), "shoal:%.52s:%.51s%c",
		 "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
		 "777777777777777777777777777777777777777777777777777777777", 'q');
	assert_string_equal(s, expected);
}

static void test_round_trip(void **state)
{
	(void)state;
	struct capability cap, parsed;
	char s[CAPABILITY_STR_LEN + 1];

	for (uint8_t seed = 0; seed < 200; seed++) {
		make_cap(&cap, seed);
		if (seed == 1)
			memset(&cap, 0, sizeof(cap));
		if (seed == 2)
			memset(&cap, 0xff, sizeof(cap));
		capability_format(&cap, s);
		memset(&parsed, 0x5a, sizeof(parsed));
		assert_int_equal(capability_parse(&parsed, s), 0);
		assert_memory_equal(parsed.id, cap.id, sizeof(cap.id));
		assert_memory_equal(parsed.key, cap.key, sizeof(cap.key));
	}
}

static void test_prefix_is_case_sensitive(void **state)
{
	(void)state;
	struct capability cap;
	char s[CAPABILITY_STR_LEN + 1];
	const char *prefixes[] = {"SHOAL:", "Shoal:", "shoaL:", "shoak:", "xhoal:", "shoal;"};

	make_cap(&cap, 3);
	for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++) {
		capability_format(&cap, s);
		memcpy(s, prefixes[i], 6);
		assert_rejected(s);
	}
}

static void test_uppercase_body_accepted(void **state)
{
	(void)state;
	struct capability cap, parsed;
	char s[CAPABILITY_STR_LEN + 1];

	make_cap(&cap, 4);
	capability_format(&cap, s);
	for (size_t i = ID_AT; i < CAPABILITY_STR_LEN; i++)
		s[i] = (char)toupper((unsigned char)s[i]);
	assert_int_equal(capability_parse(&parsed, s), 0);
	assert_memory_equal(&parsed, &cap, sizeof(cap));
}

static void test_wrong_lengths(void **state)
{
	(void)state;
	struct capability cap;
	char good[CAPABILITY_STR_LEN + 1], s[CAPABILITY_STR_LEN + 8];

	make_cap(&cap, 5);
	capability_format(&cap, good);

	/* Key one short (whole string one short) or one long. */
	snprintf(s, sizeof(s), "%.*s", CAPABILITY_STR_LEN - 1, good);
	assert_rejected(s);
	snprintf(s, sizeof(s), "%sa", good);
	assert_rejected(s);
	/* Id one short and key one long: right total, ':' misplaced. */
	snprintf(s, sizeof(s), "shoal:%.51s:%.52sa", good + ID_AT, good + KEY_AT);
	assert_int_equal(strlen(s), CAPABILITY_STR_LEN);
	assert_rejected(s);
	/* Id one long and key one short. */
	snprintf(s, sizeof(s), "shoal:%.52sa:%.51s", good + ID_AT, good + KEY_AT);
	assert_int_equal(strlen(s), CAPABILITY_STR_LEN);
	assert_rejected(s);
	/* Much shorter forms. */
	assert_rejected("");
	assert_rejected("shoal:");
	assert_rejected("shoal::");
	snprintf(s, sizeof(s), "shoal:%.52s", good + ID_AT);
	assert_rejected(s);
}

static void test_separator(void **state)
{
	(void)state;
	struct capability cap;
	char good[CAPABILITY_STR_LEN + 1], s[CAPABILITY_STR_LEN + 1];
	const char replacements[] = {'a', '/', ';', ' ', '2'};

	make_cap(&cap, 6);
	capability_format(&cap, good);
	for (size_t i = 0; i < sizeof(replacements); i++) {
		memcpy(s, good, sizeof(s));
		s[SEP_AT] = replacements[i];
		assert_rejected(s);
	}
	/* Missing altogether. */
	snprintf(s, sizeof(s), "shoal:%.52s%.52s", good + ID_AT, good + KEY_AT);
	assert_rejected(s);
}

static void test_bad_base32_chars(void **state)
{
	(void)state;
	struct capability cap;
	char good[CAPABILITY_STR_LEN + 1], s[CAPABILITY_STR_LEN + 1];
	const char bad[] = {'0', '1', '8', '9', '=', ':', '-', '_', ' ', '\t', '\x80', '\xff'};
	const size_t positions[] = {ID_AT,  ID_AT + 20,	 SEP_AT - 1,
				    KEY_AT, KEY_AT + 30, CAPABILITY_STR_LEN - 1};

	make_cap(&cap, 7);
	capability_format(&cap, good);
	for (size_t i = 0; i < sizeof(bad); i++) {
		for (size_t j = 0; j < sizeof(positions) / sizeof(positions[0]); j++) {
			memcpy(s, good, sizeof(s));
			s[positions[j]] = bad[i];
			assert_rejected(s);
		}
	}
}

static void test_padding_bits(void **state)
{
	(void)state;
	struct capability cap, parsed;
	char good[CAPABILITY_STR_LEN + 1], s[CAPABILITY_STR_LEN + 1];

	/* The last digit of each part carries one data bit and four padding
	 * bits: only 'a' (00000) and 'q' (10000) are canonical. */
	make_cap(&cap, 8);
	capability_format(&cap, good);
	const size_t lasts[] = {SEP_AT - 1, CAPABILITY_STR_LEN - 1};
	for (size_t j = 0; j < 2; j++) {
		int accepted = 0;
		for (int d = 0; d < 32; d++) {
			memcpy(s, good, sizeof(s));
			s[lasts[j]] = b32_alphabet[d];
			if (b32_alphabet[d] == 'a' || b32_alphabet[d] == 'q') {
				assert_int_equal(capability_parse(&parsed, s), 0);
				accepted++;
			} else {
				assert_rejected(s);
			}
		}
		assert_int_equal(accepted, 2);
	}
}

static void test_surrounding_white_space(void **state)
{
	(void)state;
	struct capability cap;
	char good[CAPABILITY_STR_LEN + 1], s[CAPABILITY_STR_LEN + 8];
	const char *around[][2] = {{"", "\n"}, {"", " "},  {"", "\r\n"}, {"", "\t"},
				   {" ", ""},  {"\t", ""}, {" ", " "}};

	make_cap(&cap, 9);
	capability_format(&cap, good);
	for (size_t i = 0; i < sizeof(around) / sizeof(around[0]); i++) {
		snprintf(s, sizeof(s), "%s%s%s", around[i][0], good, around[i][1]);
		assert_rejected(s);
	}
	/* A single character replaced by white space at the end too. */
	memcpy(s, good, sizeof(good));
	s[CAPABILITY_STR_LEN - 1] = '\n';
	assert_rejected(s);
}

static void test_looks_like(void **state)
{
	(void)state;
	struct capability cap;
	char s[CAPABILITY_STR_LEN + 1];

	make_cap(&cap, 10);
	capability_format(&cap, s);
	assert_true(capability_looks_like(s));
	/* It checks the prefix only: the parser decides the rest. */
	assert_true(capability_looks_like("shoal:"));
	assert_true(capability_looks_like("shoal:not-base32"));
	assert_false(capability_looks_like(""));
	assert_false(capability_looks_like("shoal"));
	assert_false(capability_looks_like("SHOAL:abc"));
	assert_false(capability_looks_like(" shoal:abc"));
	assert_false(capability_looks_like("holiday-photos.tar"));
	assert_false(capability_looks_like("shoalfile.txt"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_format_shape),
		cmocka_unit_test(test_format_known_values),
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_prefix_is_case_sensitive),
		cmocka_unit_test(test_uppercase_body_accepted),
		cmocka_unit_test(test_wrong_lengths),
		cmocka_unit_test(test_separator),
		cmocka_unit_test(test_bad_base32_chars),
		cmocka_unit_test(test_padding_bits),
		cmocka_unit_test(test_surrounding_white_space),
		cmocka_unit_test(test_looks_like),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
