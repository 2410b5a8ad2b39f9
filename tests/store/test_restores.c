/*
 * Tests for src/store/restores.c: a temporary's note is written before it
 * exists and names it absolutely; installing never replaces without replace
 * (both left as they were) and with it replaces a file or a tree by a file
 * or a tree, leaving no temporary; the sweep removes noted temporaries (a
 * file, a tree with a read-only directory) and their notes, and nothing
 * else: not an unnoted ".shoal-get-*", not what a note names when its name
 * does not match the path, not what a link in a noted tree points to;
 * opening the store sweeps.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "store/restores.h"
#include "store_fixture.h"
#include "util/buf.h"
#include "util/error.h"
#include "util/fsutil.h"

struct fixture {
	char home[STORE_FIXTURE_PATH];
	char work[STORE_FIXTURE_PATH];
	struct store *s;
};

static int setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));
	if (!fx || store_fixture_setup(fx->home, fx->work, &fx->s, "restores")) {
		free(fx);
		return -1;
	}
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *fx = *state;
	int err = store_fixture_teardown(fx->home, fx->work, fx->s);
	free(fx);
	return err;
}

static void join(const char *dir, const char *name, char *out)
{
	int n = snprintf(out, PATH_MAX, "%s/%s", dir, name);
	assert_true(n > 0 && n < PATH_MAX);
}

static void put_text(const char *path, const char *text)
{
	assert_int_equal(write_file_atomic(path, text, strlen(text), 0600), 0);
}

/* The contents of the (small) file at path, or "" when there is none. */
static const char *text_of(const char *path)
{
	static char out[256];
	struct buf b = BUF_INIT;
	out[0] = 0;
	if (read_file(path, &b, sizeof(out) - 1) == 0) {
		memcpy(out, b.data, b.len);
		out[b.len] = 0;
	}
	buf_release(&b);
	return out;
}

/* Entries of dir whose names start with prefix. */
static int count_prefixed(const char *dir, const char *prefix)
{
	char cmd[PATH_MAX + 64];
	snprintf(cmd, sizeof(cmd), "ls -A '%s' | grep -c '^%s'", dir, prefix);
	FILE *f = popen(cmd, "r");
	assert_non_null(f);
	int n = -1;
	assert_int_equal(fscanf(f, "%d", &n), 1);
	pclose(f);
	return n;
}

static int notes(const struct fixture *fx)
{
	char dir[PATH_MAX];
	join(fx->home, "restores", dir);
	return access(dir, F_OK) ? 0 : count_prefixed(dir, "");
}

/* A noted temporary tree for out: dir/sub (read-only), dir/sub/file. */
static void make_temp_tree(struct fixture *fx, const char *out, struct restore_temp *t)
{
	assert_int_equal(restore_temp_note(fx->home, out, t), 0);
	char sub[PATH_MAX], file[PATH_MAX];
	assert_int_equal(mkdir(t->path, 0700), 0);
	join(t->path, "sub", sub);
	assert_int_equal(mkdir(sub, 0700), 0);
	join(sub, "file", file);
	put_text(file, "new tree");
	assert_int_equal(chmod(sub, 0500), 0);
}

static void test_note(void **state)
{
	struct fixture *fx = *state;
	char out[PATH_MAX];
	join(fx->work, "out", out);
	struct restore_temp t;
	assert_int_equal(restore_temp_note(fx->home, out, &t), 0);
	/* Beside out, with the prefix, absolute; noted, not created. */
	assert_int_equal(strncmp(t.path, fx->work, strlen(fx->work)), 0);
	assert_int_equal(strncmp(t.path + strlen(fx->work), "/" RESTORE_TEMP_PREFIX,
				 strlen(RESTORE_TEMP_PREFIX) + 1),
			 0);
	assert_int_equal(access(t.path, F_OK), -1);
	assert_string_equal(text_of(t.note), t.path);
	assert_int_equal(notes(fx), 1);
	restore_temp_forget(&t);
	restore_temp_forget(&t);
	assert_int_equal(notes(fx), 0);

	/* A relative output is noted absolutely; without a home, no note. */
	char cwd[PATH_MAX];
	assert_non_null(getcwd(cwd, sizeof(cwd)));
	assert_int_equal(chdir(fx->work), 0);
	assert_int_equal(restore_temp_note(NULL, "rel/", &t), 0);
	assert_int_equal(chdir(cwd), 0);
	assert_string_equal(t.note, "");
	assert_int_equal(strncmp(t.path, fx->work, strlen(fx->work)), 0);
	/* A missing directory: nothing noted. */
	join(fx->work, "no/such/out", out);
	assert_int_equal(restore_temp_note(fx->home, out, &t), -ENOENT);
	assert_int_equal(notes(fx), 0);
}

static void test_install_noreplace(void **state)
{
	struct fixture *fx = *state;
	char out[PATH_MAX];
	join(fx->work, "out", out);
	struct restore_temp t;
	assert_int_equal(restore_temp_note(fx->home, out, &t), 0);
	put_text(t.path, "new");
	put_text(out, "old");
	assert_int_equal(restore_temp_install(&t, out, 0), SHOAL_EEXIST);
	assert_string_equal(text_of(out), "old");
	assert_string_equal(text_of(t.path), "new");
	assert_int_equal(unlink(out), 0);
	assert_int_equal(restore_temp_install(&t, out, 0), 0);
	assert_string_equal(text_of(out), "new");
	assert_int_equal(notes(fx), 0);
	assert_int_equal(count_prefixed(fx->work, RESTORE_TEMP_PREFIX), 0);
}

static void test_install_replace(void **state)
{
	struct fixture *fx = *state;
	char out[PATH_MAX], path[PATH_MAX];
	struct restore_temp t;
	join(fx->work, "out", out);

	/* A file over a file. */
	put_text(out, "old");
	assert_int_equal(restore_temp_note(fx->home, out, &t), 0);
	put_text(t.path, "new file");
	assert_int_equal(restore_temp_install(&t, out, 1), 0);
	assert_string_equal(text_of(out), "new file");

	/* A tree over the file. */
	make_temp_tree(fx, out, &t);
	assert_int_equal(restore_temp_install(&t, out, 1), 0);
	join(out, "sub/file", path);
	assert_string_equal(text_of(path), "new tree");

	/* A tree over a tree: nothing of the old one is left. */
	join(out, "sub", path);
	assert_int_equal(chmod(path, 0700), 0);
	join(out, "sub/old", path);
	put_text(path, "old");
	make_temp_tree(fx, out, &t);
	assert_int_equal(restore_temp_install(&t, out, 1), 0);
	join(out, "sub/file", path);
	assert_string_equal(text_of(path), "new tree");
	join(out, "sub/old", path);
	assert_int_equal(access(path, F_OK), -1);

	/* A file over the tree; and onto nothing at all. */
	assert_int_equal(restore_temp_note(fx->home, out, &t), 0);
	put_text(t.path, "a file again");
	assert_int_equal(restore_temp_install(&t, out, 1), 0);
	assert_string_equal(text_of(out), "a file again");
	join(fx->work, "fresh", path);
	assert_int_equal(restore_temp_note(fx->home, path, &t), 0);
	put_text(t.path, "fresh");
	assert_int_equal(restore_temp_install(&t, path, 1), 0);
	assert_string_equal(text_of(path), "fresh");

	assert_int_equal(notes(fx), 0);
	assert_int_equal(count_prefixed(fx->work, RESTORE_TEMP_PREFIX), 0);
}

static void test_sweep(void **state)
{
	struct fixture *fx = *state;
	char out[PATH_MAX], path[PATH_MAX], outside[PATH_MAX];
	struct restore_temp tree, file, gone;
	join(fx->work, "out", out);
	join(fx->work, "outside", outside);
	put_text(outside, "keep me");

	/* A noted tree (with a link out of it) and file, and a note whose
	 * temporary was never made. */
	make_temp_tree(fx, out, &tree);
	join(tree.path, "link", path);
	assert_int_equal(symlink(outside, path), 0);
	assert_int_equal(restore_temp_note(fx->home, out, &file), 0);
	put_text(file.path, "partial");
	assert_int_equal(restore_temp_note(fx->home, out, &gone), 0);

	/* Not noted: left alone. */
	join(fx->work, RESTORE_TEMP_PREFIX "0123456789abcdef", path);
	put_text(path, "not mine");
	/* A note naming something other than its own temporary: left alone. */
	char forged[PATH_MAX];
	join(fx->home, "restores/00000000000000ff", forged);
	assert_int_equal(write_file_atomic(forged, outside, strlen(outside), 0600), 0);

	assert_int_equal(restore_temp_sweep(fx->home), 2);
	assert_int_equal(access(tree.path, F_OK), -1);
	assert_int_equal(access(file.path, F_OK), -1);
	assert_int_equal(access(tree.note, F_OK), -1);
	assert_int_equal(access(file.note, F_OK), -1);
	assert_int_equal(access(gone.note, F_OK), -1);
	assert_string_equal(text_of(path), "not mine");
	assert_string_equal(text_of(outside), "keep me");
	assert_int_equal(access(forged, F_OK), 0);
	assert_int_equal(restore_temp_sweep(fx->home), 0);
	assert_int_equal(unlink(forged), 0);
}

static void test_open_sweeps(void **state)
{
	struct fixture *fx = *state;
	char out[PATH_MAX];
	join(fx->work, "out", out);
	struct restore_temp t;
	make_temp_tree(fx, out, &t);
	store_close(fx->s);
	fx->s = NULL;
	assert_int_equal(access(t.path, F_OK), 0);
	assert_int_equal(store_open(&fx->s, fx->home, 0), 0);
	assert_int_equal(access(t.path, F_OK), -1);
	assert_int_equal(notes(fx), 0);
	assert_int_equal(count_prefixed(fx->work, ""), 0);
}

#define TEST(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		TEST(test_note),  TEST(test_install_noreplace), TEST(test_install_replace),
		TEST(test_sweep), TEST(test_open_sweeps),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
