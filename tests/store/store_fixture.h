/*
 * The fixture the store tests share: a fresh node store in a temporary home
 * (tests/fixture.h), plus, for the tests that want one, a temporary work
 * directory outside it for inputs and outputs.
 */
#ifndef SHOAL_TESTS_STORE_FIXTURE_H
#define SHOAL_TESTS_STORE_FIXTURE_H

#include <stdio.h>
#include <stdlib.h>

#include "../fixture.h"
#include "store/store.h"

#define STORE_FIXTURE_PATH TEST_DIR_SIZE

/* Makes /tmp/shoal-test-<tag>-XXXXXX (the home, with a store created and
 * opened into *s) and, unless work is NULL, /tmp/shoal-test-<tag>-work-XXXXXX.
 * 0 or -1 (then nothing is left behind). */
static inline int store_fixture_setup(char home[STORE_FIXTURE_PATH], char work[STORE_FIXTURE_PATH],
				      struct store **s, const char *tag)
{
	char work_tag[TEST_DIR_SIZE];
	snprintf(work_tag, sizeof(work_tag), "%s-work", tag);
	if (test_dir_make(home, tag))
		return -1;
	if ((work && test_dir_make(work, work_tag)) || store_create(home) ||
	    store_open(s, home, 0)) {
		test_dir_remove(home);
		if (work)
			test_dir_remove(work);
		return -1;
	}
	return 0;
}

/* Closes s and removes both directories (work may be NULL). 0 or -1. */
static inline int store_fixture_teardown(const char *home, const char *work, struct store *s)
{
	store_close(s);
	int err = test_dir_remove(home);
	if (work && test_dir_remove(work))
		err = -1;
	return err;
}

#endif
