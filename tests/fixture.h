/*
 * The temporary directory the cmocka tests work in, shared by every test
 * program that touches the file system (header-only, so each test program
 * stays a single file). A test's setup makes /tmp/shoal-test-<tag>-XXXXXX
 * with test_dir_make() and its teardown removes it, whatever the test left
 * in it (read-only directories included), with test_dir_remove().
 */
#ifndef SHOAL_TESTS_FIXTURE_H
#define SHOAL_TESTS_FIXTURE_H

#include <dirent.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* Room for a test directory's path and its NUL. */
#define TEST_DIR_SIZE 64

/* Makes a fresh directory /tmp/shoal-test-<tag>-XXXXXX (mode 0700) and
 * writes its path into dir. Returns 0, or -1 (dir then holds no directory). */
static inline int test_dir_make(char dir[TEST_DIR_SIZE], const char *tag)
{
	int n = snprintf(dir, TEST_DIR_SIZE, "/tmp/shoal-test-%s-XXXXXX", tag);
	if (n < 0 || n >= TEST_DIR_SIZE || !mkdtemp(dir)) {
		dir[0] = 0;
		return -1;
	}
	return 0;
}

/* Makes dir and every directory under it writable and searchable again (a
 * test may have restored or made read-only directories), without following
 * links. */
static inline void test_dir__unlock(const char *dir)
{
	chmod(dir, 0700);
	DIR *d = opendir(dir);
	if (!d)
		return;
	struct dirent *de;
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		char path[PATH_MAX];
		int n = snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		struct stat st;
		if (n > 0 && (size_t)n < sizeof(path) && !lstat(path, &st) && S_ISDIR(st.st_mode))
			test_dir__unlock(path);
	}
	closedir(d);
}

static inline int test_dir__remove_entry(const char *path, const struct stat *st, int type,
					 struct FTW *ftw)
{
	(void)st;
	(void)type;
	(void)ftw;
	return remove(path);
}

/* Removes dir and everything under it (without following links). Returns 0,
 * or -1 when something could not be removed. An empty dir ("", a failed
 * test_dir_make()) is left alone and counts as removed. */
static inline int test_dir_remove(const char *dir)
{
	if (!dir[0])
		return 0;
	test_dir__unlock(dir);
	return nftw(dir, test_dir__remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

#endif
