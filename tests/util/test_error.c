/*
 * Tests for src/util/error.c: the one table of error codes. Every SHOAL_E*
 * code (enumerated through the same X-macro the header uses, so a new code is
 * covered automatically) must be negative, sit below every errno value, and
 * have its own non-empty message that is neither "unknown" nor shared with
 * another code; negative errno values must give strerror()'s text, 0 gives
 * "success", and codes outside the table never alias a real message.
 */
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "util/error.h"

struct code {
	int value;
	const char *name;
};

#define CODE_ENTRY(name, msg) {SHOAL_E##name, #name},
static const struct code codes[] = {SHOAL_ERROR_MAP(CODE_ENTRY)};
#undef CODE_ENTRY

#define NCODES (sizeof(codes) / sizeof(codes[0]))

static void test_codes_are_distinct_and_below_errno(void **state)
{
	(void)state;
	assert_int_equal(NCODES, SHOAL__NERRORS);
	for (size_t i = 0; i < NCODES; i++) {
		/* Below SHOAL_EBASE, and so below -EHWPOISON (133), the largest
		 * Linux errno: no code can be mistaken for a -errno. */
		assert_true(codes[i].value < SHOAL_EBASE);
		assert_true(codes[i].value < -EHWPOISON);
		for (size_t j = 0; j < i; j++) {
			if (codes[i].value == codes[j].value)
				fail_msg("SHOAL_E%s and SHOAL_E%s share %d", codes[i].name,
					 codes[j].name, codes[i].value);
		}
	}
	assert_int_equal(SHOAL_ECORRUPT, SHOAL_EBASE - 1);
}

static void test_every_code_has_its_own_message(void **state)
{
	(void)state;
	const char *unknown = shoal_strerror(SHOAL_EBASE - 1 - SHOAL__NERRORS);

	for (size_t i = 0; i < NCODES; i++) {
		const char *msg = shoal_strerror(codes[i].value);
		assert_non_null(msg);
		if (msg[0] == 0)
			fail_msg("SHOAL_E%s has an empty message", codes[i].name);
		if (strstr(msg, "nknown") || strcmp(msg, unknown) == 0)
			fail_msg("SHOAL_E%s has the message \"%s\"", codes[i].name, msg);
		if (strcmp(msg, "success") == 0)
			fail_msg("SHOAL_E%s claims success", codes[i].name);
		for (size_t j = 0; j < i; j++) {
			if (strcmp(msg, shoal_strerror(codes[j].value)) == 0)
				fail_msg("SHOAL_E%s and SHOAL_E%s share \"%s\"", codes[i].name,
					 codes[j].name, msg);
		}
	}
	/* Spot checks that the table is not shifted by one. */
	assert_string_equal(shoal_strerror(SHOAL_ECORRUPT),
			    "stored data is corrupt (hash mismatch)");
	assert_string_equal(shoal_strerror(SHOAL_EMISSING), "chunk missing from the store");
	assert_string_equal(shoal_strerror(SHOAL_ETOOBIG), "size limit exceeded");
}

static void test_errno_values_map_to_strerror(void **state)
{
	(void)state;
	const int errnos[] = {EPERM,	    ENOENT,	EINTR,	 EIO,	    EBADF,  ENOMEM,
			      EACCES,	    EEXIST,	ENOTDIR, EISDIR,    EINVAL, ENOSPC,
			      ENAMETOOLONG, ECONNRESET, EPIPE,	 ETIMEDOUT, EAGAIN, ENOTEMPTY};
	char expected[256];

	for (size_t i = 0; i < sizeof(errnos) / sizeof(errnos[0]); i++) {
		/* strerror may reuse a static buffer: copy before calling again. */
		snprintf(expected, sizeof(expected), "%s", strerror(errnos[i]));
		const char *msg = shoal_strerror(-errnos[i]);
		assert_non_null(msg);
		assert_string_equal(msg, expected);
		for (size_t j = 0; j < NCODES; j++)
			assert_string_not_equal(msg, shoal_strerror(codes[j].value));
	}
}

static void test_success(void **state)
{
	(void)state;
	assert_string_equal(shoal_strerror(0), "success");
}

static void test_out_of_table_codes(void **state)
{
	(void)state;
	const int outside[] = {SHOAL_EBASE - 1 - SHOAL__NERRORS,
			       SHOAL_EBASE - 1000,
			       INT_MIN,
			       INT_MIN + 1,
			       1,
			       42,
			       INT_MAX};

	for (size_t i = 0; i < sizeof(outside) / sizeof(outside[0]); i++) {
		const char *msg = shoal_strerror(outside[i]);
		assert_non_null(msg);
		assert_true(msg[0] != 0);
		assert_string_not_equal(msg, "success");
		for (size_t j = 0; j < NCODES; j++) {
			if (strcmp(msg, shoal_strerror(codes[j].value)) == 0)
				fail_msg("%d aliases SHOAL_E%s", outside[i], codes[j].name);
		}
	}
	/* The codes themselves sit just below SHOAL_EBASE, which is not one. */
	assert_non_null(shoal_strerror(SHOAL_EBASE));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_codes_are_distinct_and_below_errno),
		cmocka_unit_test(test_every_code_has_its_own_message),
		cmocka_unit_test(test_errno_values_map_to_strerror),
		cmocka_unit_test(test_success),
		cmocka_unit_test(test_out_of_table_codes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
