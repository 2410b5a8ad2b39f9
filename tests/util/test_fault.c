/*
 * Tests for src/util/fault.c, the test-only fault injection hook: the
 * SHOAL_FAULTS syntax (valid rules accepted, every malformed form refused and
 * leaving nothing armed), counting (only armed ops count; the Nth fails, the
 * others pass; "+" fails the Nth and every later one; several rules at once;
 * a new configuration restarts the counts), exactly one failure among many
 * threads, the environment read once at the first check (in a fresh child
 * process: this program run again), and the hook's effect where it is called: fsutil's writes (to
 * regular files only), fsyncs and atomic replacement, and the object
 * directory's writes, renames and syncfs, each failing without leaving a
 * temp file and working again once the fault has passed. (The object
 * directory is a store module; its hook calls are tested here, beside the
 * hook, rather than spread over the store's tests.) Each test gets a fresh
 * mkdtemp directory under /tmp and leaves the hook disarmed.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "../fixture.h"
#include "crypto/hash.h"
#include "store/objects.h"
#include "util/error.h"
#include "util/fault.h"
#include "util/fsutil.h"
#include "util/log.h"

struct fixture {
	char dir[TEST_DIR_SIZE];
};

static int setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));
	if (!fx)
		return -1;
	if (test_dir_make(fx->dir, "fault")) {
		free(fx);
		return -1;
	}
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *fx = *state;
	fault_configure(NULL);
	int err = test_dir_remove(fx->dir);
	free(fx);
	return err;
}

/* Entries in dir other than "." and "..". */
static int count_entries(const char *dir)
{
	DIR *d = opendir(dir);
	if (!d)
		return -1;
	int n = 0;
	struct dirent *de;
	while ((de = readdir(d))) {
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			n++;
	}
	closedir(d);
	return n;
}

static void test_parse_valid(void **state)
{
	(void)state;
	static const char *const good[] = {
		"write:1",
		"write:5",
		"fsync:3",
		"rename:2",
		"write:5+",
		"write:5:ENOSPC",
		"write:5+:enospc",
		"FSYNC:1:EIO",
		"write:1,fsync:2+,rename:3:EROFS",
		"write:999999999",
		"write:1:EDQUOT,write:2:EFBIG,write:3:ENOMEM,write:4:EACCES,write:5:EPERM",
	};
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		assert_int_equal(fault_configure(good[i]), 0);
		assert_true(fault_armed(FAULT_WRITE) || fault_armed(FAULT_FSYNC) ||
			    fault_armed(FAULT_RENAME));
	}
	assert_int_equal(fault_configure("fsync:2"), 0);
	assert_false(fault_armed(FAULT_WRITE));
	assert_true(fault_armed(FAULT_FSYNC));
	assert_false(fault_armed(FAULT_RENAME));
	assert_int_equal(fault_configure(""), 0);
	assert_false(fault_armed(FAULT_FSYNC));
	assert_int_equal(fault_configure("write:1"), 0);
	assert_int_equal(fault_configure(NULL), 0);
	assert_false(fault_armed(FAULT_WRITE));
	assert_false(fault_armed(FAULT_NOPS));
	assert_string_equal(fault_op_name(FAULT_WRITE), "write");
	assert_string_equal(fault_op_name(FAULT_FSYNC), "fsync");
	assert_string_equal(fault_op_name(FAULT_RENAME), "rename");
	assert_string_equal(fault_op_name(FAULT_NOPS), "?");
}

static void test_parse_malformed(void **state)
{
	(void)state;
	static const char *const bad[] = {
		"write",      "write:",	       "write:0",
		"write:-1",   "write:+1",      "write: 1",
		" write:1",   "write:1 ",      "write:x",
		"write:3++",  "write:3+x",     "write:3:EBOGUS",
		"write:3:",   "write:3:EIO:x", "disk:3",
		"write:3,",   ",write:3",      "write:3,,fsync:1",
		":3",	      "write::EIO",    "write:1000000000",
		"write:0x10", "write:3::EIO",  ":",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(fault_configure("write:1"), 0);
		if (fault_configure(bad[i]) != SHOAL_EUSAGE)
			fail_msg("accepted \"%s\"", bad[i]);
		/* Nothing stays armed, not even the earlier configuration. */
		assert_false(fault_armed(FAULT_WRITE));
		assert_int_equal(fault_check(FAULT_WRITE), 0);
	}
	/* More rules than fit. */
	char many[512] = "";
	for (int i = 0; i < 17; i++)
		strcat(many, i ? ",write:1" : "write:1");
	assert_int_equal(fault_configure(many), SHOAL_EUSAGE);
	/* Sixteen do. */
	many[strlen(many) - strlen(",write:1")] = 0;
	assert_int_equal(fault_configure(many), 0);
	/* Too long to be a spec at all. */
	char longer[600];
	memset(longer, '1', sizeof(longer) - 1);
	memcpy(longer, "write:", 6);
	longer[sizeof(longer) - 1] = 0;
	assert_int_equal(fault_configure(longer), SHOAL_EUSAGE);
}

static void test_inert_counts_nothing(void **state)
{
	(void)state;
	assert_int_equal(fault_configure(NULL), 0);
	for (int i = 0; i < 10; i++) {
		assert_int_equal(fault_check(FAULT_WRITE), 0);
		assert_int_equal(fault_check(FAULT_FSYNC), 0);
	}
	assert_int_equal(fault_count(FAULT_WRITE), 0);
	assert_int_equal(fault_count(FAULT_FSYNC), 0);
	/* Only ops some rule names are counted. */
	assert_int_equal(fault_configure("write:100"), 0);
	assert_int_equal(fault_check(FAULT_FSYNC), 0);
	assert_int_equal(fault_check(FAULT_WRITE), 0);
	assert_int_equal(fault_count(FAULT_FSYNC), 0);
	assert_int_equal(fault_count(FAULT_WRITE), 1);
}

static void test_nth_fails(void **state)
{
	(void)state;
	assert_int_equal(fault_configure("write:3"), 0);
	assert_int_equal(fault_check(FAULT_WRITE), 0);
	assert_int_equal(fault_check(FAULT_WRITE), 0);
	assert_int_equal(fault_check(FAULT_WRITE), -EIO);
	for (int i = 0; i < 5; i++)
		assert_int_equal(fault_check(FAULT_WRITE), 0);
	assert_int_equal(fault_count(FAULT_WRITE), 8);

	/* The first one, with another errno. */
	assert_int_equal(fault_configure("fsync:1:ENOSPC"), 0);
	assert_int_equal(fault_count(FAULT_WRITE), 0);
	assert_int_equal(fault_check(FAULT_FSYNC), -ENOSPC);
	assert_int_equal(fault_check(FAULT_FSYNC), 0);
	assert_int_equal(fault_check(FAULT_WRITE), 0);
}

static void test_plus_form(void **state)
{
	(void)state;
	assert_int_equal(fault_configure("fsync:2+:EROFS"), 0);
	assert_int_equal(fault_check(FAULT_FSYNC), 0);
	for (int i = 0; i < 20; i++)
		assert_int_equal(fault_check(FAULT_FSYNC), -EROFS);
	/* A new configuration restarts the count. */
	assert_int_equal(fault_configure("fsync:2+:EROFS"), 0);
	assert_int_equal(fault_check(FAULT_FSYNC), 0);
	assert_int_equal(fault_check(FAULT_FSYNC), -EROFS);
}

static void test_several_rules(void **state)
{
	(void)state;
	assert_int_equal(fault_configure("write:2,write:4:ENOSPC,rename:1,write:6+:EDQUOT"), 0);
	static const int want[] = {0, -EIO, 0, -ENOSPC, 0, -EDQUOT, -EDQUOT};
	assert_int_equal(fault_check(FAULT_RENAME), -EIO);
	assert_int_equal(fault_check(FAULT_RENAME), 0);
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
		assert_int_equal(fault_check(FAULT_WRITE), want[i]);
	assert_int_equal(fault_count(FAULT_RENAME), 2);
	assert_int_equal(fault_count(FAULT_WRITE), 7);
	/* The first matching rule decides. */
	assert_int_equal(fault_configure("write:2:ENOSPC,write:1+"), 0);
	assert_int_equal(fault_check(FAULT_WRITE), -EIO);
	assert_int_equal(fault_check(FAULT_WRITE), -ENOSPC);
	assert_int_equal(fault_check(FAULT_WRITE), -EIO);
}

#define THREADS	   8
#define PER_THREAD 1000

static void *check_many(void *arg)
{
	int *failures = arg;
	for (int i = 0; i < PER_THREAD; i++) {
		int err = fault_check(FAULT_WRITE);
		if (err == -EIO)
			(*failures)++;
		else if (err)
			(*failures) += 1000000;
	}
	return NULL;
}

static void test_threads_exactly_one(void **state)
{
	(void)state;
	assert_int_equal(fault_configure("write:4321"), 0);
	pthread_t t[THREADS];
	int failures[THREADS] = {0};
	for (int i = 0; i < THREADS; i++)
		assert_int_equal(pthread_create(&t[i], NULL, check_many, &failures[i]), 0);
	int total = 0;
	for (int i = 0; i < THREADS; i++) {
		pthread_join(t[i], NULL);
		total += failures[i];
	}
	assert_int_equal(total, 1);
	assert_int_equal(fault_count(FAULT_WRITE), THREADS * PER_THREAD);
}

/*
 * The child side of test_environment: a fresh process (this program run
 * again, so nothing has read the environment yet) whose first check reads
 * SHOAL_FAULTS. argv: the op's number, then the result each check must give.
 * Exit status 0 when they all do.
 */
static int env_child(int argc, char **argv)
{
	log_init(LOG_LEVEL_ERROR, 0); /* the malformed-spec warning is expected */
	enum fault_op op = (enum fault_op)atoi(argv[0]);
	for (int i = 1; i < argc; i++) {
		if (fault_check(op) != atoi(argv[i]))
			return 10 + i;
	}
	/* Read once: changing the environment later changes nothing. */
	setenv("SHOAL_FAULTS", "write:1+,fsync:1+,rename:1+", 1);
	if (fault_check(FAULT_RENAME))
		return 9;
	return 0;
}

/* Runs env_child with SHOAL_FAULTS=spec; returns its exit status or -1. */
static int child_with_env(const char *spec, enum fault_op op, const int *want, size_t n)
{
	char args[8][16];
	char *argv[12] = {"test_fault", "--env-child"};
	assert_true(n < 7);
	snprintf(args[0], sizeof(args[0]), "%d", (int)op);
	argv[2] = args[0];
	for (size_t i = 0; i < n; i++) {
		snprintf(args[i + 1], sizeof(args[i + 1]), "%d", want[i]);
		argv[3 + i] = args[i + 1];
	}
	argv[3 + n] = NULL;
	pid_t pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		setenv("SHOAL_FAULTS", spec, 1);
		execv("/proc/self/exe", argv);
		_exit(127);
	}
	int status;
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
		return -1;
	return WEXITSTATUS(status);
}

static void test_environment(void **state)
{
	(void)state;
	static const int write2[] = {0, -EIO, 0, 0};
	assert_int_equal(child_with_env("write:2", FAULT_WRITE, write2, 4), 0);
	static const int fsync1plus[] = {-ENOSPC, -ENOSPC, -ENOSPC};
	assert_int_equal(child_with_env("fsync:1+:ENOSPC", FAULT_FSYNC, fsync1plus, 3), 0);
	/* A wrong expectation is noticed (the child really checks). */
	static const int wrong[] = {0, 0};
	assert_int_equal(child_with_env("write:2", FAULT_WRITE, wrong, 2), 12);
	/* Malformed: reported, and nothing is injected. */
	static const int none[] = {0, 0, 0};
	assert_int_equal(child_with_env("write:two", FAULT_WRITE, none, 3), 0);
	assert_int_equal(child_with_env("", FAULT_WRITE, none, 3), 0);
}

static void test_fsutil_writes(void **state)
{
	struct fixture *fx = *state;
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/file", fx->dir);

	/* write_file_atomic: a failed write, fsync or rename leaves neither the
	 * file nor a temp file; the old contents stay. */
	assert_int_equal(write_file_atomic(path, "old", 3, 0600), 0);
	static const char *const specs[] = {"write:1", "fsync:1:ENOSPC", "rename:1"};
	static const int errs[] = {-EIO, -ENOSPC, -EIO};
	for (size_t i = 0; i < 3; i++) {
		assert_int_equal(fault_configure(specs[i]), 0);
		assert_int_equal(write_file_atomic(path, "new!", 4, 0600), errs[i]);
		assert_int_equal(count_entries(fx->dir), 1);
		struct buf b = BUF_INIT;
		assert_int_equal(read_file(path, &b, 100), 0);
		assert_int_equal(b.len, 3);
		assert_memory_equal(b.data, "old", 3);
		buf_release(&b);
		/* The fault has passed: the same call works. */
		assert_int_equal(write_file_atomic(path, "new!", 4, 0600), 0);
		assert_int_equal(write_file_atomic(path, "old", 3, 0600), 0);
	}

	/* write_in_full / pwrite_in_full count writes to regular files only. */
	assert_int_equal(fault_configure("write:1+:ENOSPC"), 0);
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(write_in_full(fd, "x", 1), -ENOSPC);
	assert_int_equal(pwrite_in_full(fd, "x", 1, 10), -ENOSPC);
	close(fd);
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_size, 3); /* nothing was written */
	int p[2];
	assert_int_equal(pipe(p), 0);
	assert_int_equal(write_in_full(p[1], "ab", 2), 0);
	char got[2];
	assert_int_equal(read_in_full(p[0], got, 2), 2);
	close(p[0]);
	close(p[1]);
	assert_int_equal(fault_count(FAULT_WRITE), 2);

	/* fsync_dir. */
	assert_int_equal(fault_configure("fsync:2"), 0);
	assert_int_equal(fsync_dir(fx->dir), 0);
	assert_int_equal(fsync_dir(fx->dir), -EIO);
	assert_int_equal(fsync_dir(fx->dir), 0);
}

/* An object's bytes and id. */
static void make_object(uint8_t *p, size_t n, uint8_t seed, uint8_t id[CHUNK_ID_LEN])
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(seed + i * 7 + (i >> 9));
	sha256(p, n, id);
}

static void test_objects(void **state)
{
	struct fixture *fx = *state;
	struct objects o;
	assert_int_equal(objects_open(&o, fx->dir), 0);
	size_t n = 100000;
	uint8_t *p = aligned_alloc(OBJECTS_ALIGN, objects_align_up(n));
	uint8_t *out = aligned_alloc(OBJECTS_ALIGN, objects_align_up(n));
	assert_non_null(p);
	assert_non_null(out);
	uint8_t id[CHUNK_ID_LEN];
	size_t len;

	/* Each way a write can fail, with each kind of write. */
	static const char *const specs[] = {"write:1", "fsync:1", "rename:1:ENOSPC"};
	static const int errs[] = {-EIO, -EIO, -ENOSPC};
	static const int flags[] = {0, OBJECTS_DIRECT, OBJECTS_DIRECT | OBJECTS_DEFER};
	uint8_t seed = 0;
	for (size_t s = 0; s < 3; s++) {
		for (size_t f = 0; f < 3; f++) {
			/* A deferred write has no fsync of its own. */
			int deferred_fsync = (flags[f] & OBJECTS_DEFER) && s == 1;
			make_object(p, n, ++seed, id);
			assert_int_equal(fault_configure(specs[s]), 0);
			int created = -1;
			int err = objects_write(&o, id, p, n, flags[f], &created);
			if (deferred_fsync) {
				assert_int_equal(err, 0);
				assert_int_equal(objects_sync(&o), -EIO);
				/* Still owed: the next sync syncs. */
				assert_int_equal(objects_sync(&o), 0);
				continue;
			}
			assert_int_equal(err, errs[s]);
			assert_int_equal(created, 0);
			assert_int_equal(count_entries(o.tmpdir), 0);
			assert_int_equal(objects_exists(&o, id), 0);
			/* Once the fault has passed the same write works. */
			assert_int_equal(objects_write(&o, id, p, n, flags[f], &created), 0);
			assert_int_equal(created, 1);
			assert_int_equal(objects_sync(&o), 0);
			assert_int_equal(objects_read(&o, id, out, objects_align_up(n), 0, &len),
					 0);
			assert_int_equal(len, n);
			assert_memory_equal(out, p, n);
		}
	}

	/* A failed directory fsync stays owed too. */
	make_object(p, n, ++seed, id);
	assert_int_equal(fault_configure("fsync:1"), 0);
	assert_int_equal(objects_write(&o, id, p, n, OBJECTS_DIRECT, NULL), -EIO);
	assert_int_equal(fault_configure("fsync:2"), 0);
	assert_int_equal(objects_write(&o, id, p, n, OBJECTS_DIRECT, NULL), 0);
	assert_int_equal(objects_sync(&o), -EIO);
	assert_int_equal(fault_count(FAULT_FSYNC), 2);
	assert_int_equal(objects_sync(&o), 0);
	assert_int_equal(fault_count(FAULT_FSYNC), 3);
	assert_int_equal(objects_sync(&o), 0);
	assert_int_equal(fault_count(FAULT_FSYNC), 3); /* nothing left to sync */
	free(p);
	free(out);
}

#define TEST(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(int argc, char **argv)
{
	if (argc >= 3 && strcmp(argv[1], "--env-child") == 0)
		return env_child(argc - 2, argv + 2);
	const struct CMUnitTest tests[] = {
		TEST(test_parse_valid),
		TEST(test_parse_malformed),
		TEST(test_inert_counts_nothing),
		TEST(test_nth_fails),
		TEST(test_plus_form),
		TEST(test_several_rules),
		TEST(test_threads_exactly_one),
		TEST(test_environment),
		TEST(test_fsutil_writes),
		TEST(test_objects),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
