/*
 * Small helpers the cmocka tests share (header-only, so each test program
 * stays a single file): removing a test's temporary tree.
 */
#ifndef SHOAL_TESTS_TESTUTIL_H
#define SHOAL_TESTS_TESTUTIL_H

#include <ftw.h>
#include <stdio.h>
#include <sys/stat.h>

static inline int testutil__remove_entry(const char *path, const struct stat *st, int type,
					 struct FTW *ftw)
{
	(void)st;
	(void)type;
	(void)ftw;
	return remove(path);
}

/* Removes dir and everything under it (without following links). 0 or -1. */
static inline int test_rmtree(const char *dir)
{
	return nftw(dir, testutil__remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

#endif
