/*
 * The fixture the store tests share: a fresh node store in a temporary home,
 * plus a temporary work directory outside it for inputs and outputs.
 */
#ifndef SHOAL_TESTS_STORE_FIXTURE_H
#define SHOAL_TESTS_STORE_FIXTURE_H

#include <stdio.h>
#include <stdlib.h>

#include "../testutil.h"
#include "store/store.h"

#define STORE_FIXTURE_PATH 64

/* Makes /tmp/shoal-test-<tag>-XXXXXX (the home, with a store created and
 * opened into *s) and /tmp/shoal-test-<tag>-work-XXXXXX. 0 or -1. */
static inline int store_fixture_setup(char home[STORE_FIXTURE_PATH], char work[STORE_FIXTURE_PATH],
				      struct store **s, const char *tag)
{
	snprintf(home, STORE_FIXTURE_PATH, "/tmp/shoal-test-%s-XXXXXX", tag);
	snprintf(work, STORE_FIXTURE_PATH, "/tmp/shoal-test-%s-work-XXXXXX", tag);
	if (!mkdtemp(home))
		return -1;
	if (!mkdtemp(work) || store_create(home) || store_open(s, home, 0)) {
		test_rmtree(home);
		return -1;
	}
	return 0;
}

/* Closes s and removes both directories. 0 or -1. */
static inline int store_fixture_teardown(const char *home, const char *work, struct store *s)
{
	store_close(s);
	int err = test_rmtree(home);
	if (test_rmtree(work))
		err = -1;
	return err;
}

#endif
