/*
 * Tests for src/proto/name.c: name_validate(). Ordinary names, UTF-8 names in
 * several scripts and emoji, and names of exactly NAME_MAX_LEN bytes are
 * accepted; empty names, "." and "..", '/', control bytes, overlong names,
 * leading or trailing spaces and every kind of malformed UTF-8 (stray
 * continuation bytes, overlong forms, surrogates, values past U+10FFFF,
 * sequences cut short) are refused with SHOAL_EBADNAME. Names are byte ranges,
 * not C strings: only s[0..n) counts, and a NUL inside is refused.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "proto/name.h"
#include "util/error.h"

/* Validates a heap copy of exactly n bytes, so ASan sees any overread. */
static int validate(const char *s, size_t n)
{
	char *copy = malloc(n ? n : 1);
	assert_non_null(copy);
	memcpy(copy, s, n);
	int err = name_validate(copy, n);
	free(copy);
	return err;
}

static void assert_accepted(const char *s)
{
	int err = validate(s, strlen(s));
	if (err != 0)
		fail_msg("\"%s\" rejected (%d)", s, err);
}

static void assert_rejected_n(const char *s, size_t n)
{
	int err = validate(s, n);
	if (err != SHOAL_EBADNAME)
		fail_msg("%zu-byte name starting 0x%02x gave %d, not SHOAL_EBADNAME", n,
			 n ? (unsigned char)s[0] : 0, err);
}

static void assert_rejected(const char *s)
{
	assert_rejected_n(s, strlen(s));
}

static void test_ordinary_names(void **state)
{
	(void)state;
	const char *names[] = {"a",	      "report.pdf",  "My Photos 2024",
			       ".hidden",     "...",	     "..a",
			       "a..",	      ".a.",	     "a b",
			       "x-y_z+1=2,3", "~backup~",    "#tag",
			       "100%",	      "C:\\windows", "a\\b",
			       "quote\"d",    "tab-free.",   "-leading-dash"};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		assert_accepted(names[i]);
}

static void test_utf8_names(void **state)
{
	(void)state;
	const char *names[] = {
		"caf\xc3\xa9",					    /* café */
		"\xc3\xa9t\xc3\xa9",				    /* été */
		"\xe6\x97\xa5\xe6\x9c\xac",			    /* 日本 */
		"\xe6\x97\xa5\xe6\x9c\xac.txt",			    /* 日本.txt */
		"\xf0\x9f\x90\x9f",				    /* 🐟 */
		"fish \xf0\x9f\x90\x9f\xf0\x9f\x8c\x8a",	    /* fish 🐟🌊 */
		"\xd0\x9f\xd1\x80\xd0\xb8\xd0\xb2\xd0\xb5\xd1\x82", /* Привет */
		"\xc2\xa0nbsp\xc2\xa0", /* U+00A0 is not the ASCII space */
		"\xed\x9f\xbf",		/* U+D7FF, just below the surrogates */
		"\xee\x80\x80",		/* U+E000, just above them */
		"\xef\xbf\xbd",		/* U+FFFD */
		"\xf4\x8f\xbf\xbf",	/* U+10FFFF, the last code point */
		"\xdf\xbf",		/* U+07FF, the largest 2-byte form */
		"\xe0\xa0\x80",		/* U+0800, the smallest 3-byte form */
		"\xf0\x90\x80\x80",	/* U+10000, the smallest 4-byte form */
	};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		assert_accepted(names[i]);
}

static void test_length_limits(void **state)
{
	(void)state;
	char s[4097];

	memset(s, 'a', sizeof(s));
	assert_int_equal(validate(s, NAME_MAX_LEN), 0);
	assert_int_equal(validate(s, 1), 0);
	assert_rejected_n(s, NAME_MAX_LEN + 1);
	assert_rejected_n(s, 4096);
	assert_rejected_n(s, 0);
	assert_int_equal(name_validate(NULL, 0), SHOAL_EBADNAME);

	/* 255 bytes of three-byte characters (85 x 日). */
	for (size_t i = 0; i < 85; i++)
		memcpy(s + 3 * i, "\xe6\x97\xa5", 3);
	assert_int_equal(validate(s, 255), 0);
	/* 254 ASCII bytes and one 2-byte character: valid UTF-8, 256 bytes. */
	memset(s, 'b', 254);
	memcpy(s + 254, "\xc3\xa9", 2);
	assert_rejected_n(s, 256);
	/* 253 + 2 = 255 is fine. */
	memcpy(s + 253, "\xc3\xa9", 2);
	assert_int_equal(validate(s, 255), 0);
	/* A character cut by the length limit is not a valid name either. */
	memset(s, 'c', 254);
	memcpy(s + 254, "\xc3\xa9", 2);
	assert_rejected_n(s, 255);
}

static void test_dot_names(void **state)
{
	(void)state;
	assert_rejected(".");
	assert_rejected("..");
	assert_accepted("...");
	assert_accepted(".x");
}

static void test_slash(void **state)
{
	(void)state;
	assert_rejected("/");
	assert_rejected("/etc");
	assert_rejected("a/b");
	assert_rejected("dir/");
	assert_rejected("../x");
	assert_rejected("./x");
}

static void test_control_bytes(void **state)
{
	(void)state;
	char s[8];

	for (int c = 0; c < 0x80; c++) {
		int control = c < 0x20 || c == 0x7f;
		/* At the start, in the middle and at the end. */
		for (int pos = 0; pos < 3; pos++) {
			memcpy(s, "abc", 3);
			s[pos] = (char)c;
			int err = validate(s, 3);
			if (control || c == '/' || (c == ' ' && pos != 1))
				assert_int_equal(err, SHOAL_EBADNAME);
			else if (err != 0)
				fail_msg("byte 0x%02x at %d rejected", c, pos);
		}
	}
	/* Line breaks and tabs specifically, and a NUL inside the range. */
	assert_rejected("a\nb");
	assert_rejected("a\tb");
	assert_rejected("a\rb");
	assert_rejected("a\x1b[31mred");
	assert_rejected_n("a\0b", 3);
}

static void test_spaces(void **state)
{
	(void)state;
	assert_rejected(" ");
	assert_rejected("  ");
	assert_rejected(" leading");
	assert_rejected("trailing ");
	assert_rejected(" both ");
	assert_accepted("in side");
	assert_accepted("a  b");
}

static void test_invalid_utf8(void **state)
{
	(void)state;
	const char *bad[] = {
		"\x80",			    /* lone continuation byte */
		"a\x80",		    /* ... after ASCII */
		"\xbf",			    /* last continuation value */
		"\xc3\xa9\xa9",		    /* one continuation too many */
		"\xc0\xaf",		    /* overlong '/' */
		"\xc0\x80",		    /* overlong NUL */
		"\xc1\xbf",		    /* overlong 0x7f */
		"\xe0\x80\xaf",		    /* overlong 3-byte '/' */
		"\xe0\x9f\xbf",		    /* overlong U+07FF */
		"\xf0\x80\x80\xaf",	    /* overlong 4-byte '/' */
		"\xf0\x8f\xbf\xbf",	    /* overlong U+FFFF */
		"\xed\xa0\x80",		    /* U+D800, a surrogate */
		"\xed\xbf\xbf",		    /* U+DFFF */
		"\xed\xa0\xbd\xed\xb0\x9f", /* a surrogate pair (CESU-8) */
		"\xf4\x90\x80\x80",	    /* U+110000 */
		"\xf7\xbf\xbf\xbf",	    /* U+1FFFFF */
		"\xf8\x88\x80\x80\x80",	    /* 5-byte form */
		"\xfc\x84\x80\x80\x80\x80", /* 6-byte form */
		"\xfe",
		"\xff",
		"\xc3",		/* truncated 2-byte */
		"\xe6\x97",	/* truncated 3-byte at the end */
		"\xe6\x97x",	/* ... followed by ASCII */
		"\xf0\x9f\x90", /* truncated 4-byte */
		"ok\xf0\x9f",	/* truncated after valid text */
		"\xc3\xc3\xa9", /* lead byte where a continuation belongs */
		"caf\xe9",	/* Latin-1, not UTF-8 */
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_rejected(bad[i]);
}

static void test_only_n_bytes_count(void **state)
{
	(void)state;
	/* What follows s[n) does not matter: a '/', a space, half a character. */
	assert_int_equal(name_validate("abc/def", 3), 0);
	assert_int_equal(name_validate("abc ", 3), 0);
	assert_int_equal(name_validate("..", 1), SHOAL_EBADNAME);
	assert_int_equal(name_validate("...", 2), SHOAL_EBADNAME);
	/* ...but a character cut by n is invalid. */
	assert_int_equal(name_validate("\xe6\x97\xa5", 2), SHOAL_EBADNAME);
	assert_int_equal(name_validate("\xe6\x97\xa5", 3), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ordinary_names),
		cmocka_unit_test(test_utf8_names),
		cmocka_unit_test(test_length_limits),
		cmocka_unit_test(test_dot_names),
		cmocka_unit_test(test_slash),
		cmocka_unit_test(test_control_bytes),
		cmocka_unit_test(test_spaces),
		cmocka_unit_test(test_invalid_utf8),
		cmocka_unit_test(test_only_n_bytes_count),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
