/*
 * Tests for src/node/watch.c with the real inotify, in a directory under
 * /tmp: files created, written, renamed and deleted are reported with their
 * paths; new directories (and what they already hold) get watched; a
 * renamed directory's events carry its new path; a directory moved out stops
 * being watched and one moved in starts; ".shoal" at the top and symbolic
 * links are left alone; losing the root, an overflow and running out of
 * watches are reported as such.
 *
 * The loop runs until the callbacks a case expects have come, at most
 * WAIT_MS; a case that expects silence waits QUIET_MS.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <fcntl.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <event2/event.h>

#include "../fixture.h"
#include "node/watch.h"
#include "util/error.h"

#define WAIT_MS	 2000
#define QUIET_MS 60
#define MAX_SEEN 256

/* snprintf() into an array, which must not truncate. */
#define FMT(buf, ...) assert_true(snprintf(buf, sizeof(buf), __VA_ARGS__) < (int)sizeof(buf))

struct seen {
	char path[256];
	int flags;
};

static char dir[TEST_DIR_SIZE];
static char root[TEST_DIR_SIZE + 16];
static struct event_base *base;
static struct watch *w;
static struct seen seen[MAX_SEEN];
static int nseen;
static int free_on_gone; /* the callback frees the watcher on WATCH_ROOT_GONE */

static void on_change(void *arg, const char *relpath, int flags)
{
	(void)arg;
	if (nseen < MAX_SEEN) {
		snprintf(seen[nseen].path, sizeof(seen[nseen].path), "%s", relpath);
		seen[nseen].flags = flags;
	}
	nseen++;
	if (free_on_gone && (flags & WATCH_ROOT_GONE)) {
		watch_free(w);
		w = NULL;
	}
}

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int find(const char *path, int flags)
{
	for (int i = 0; i < nseen && i < MAX_SEEN; i++)
		if (!strcmp(seen[i].path, path) && (seen[i].flags & flags) == flags)
			return 1;
	return 0;
}

/* Runs the loop once: until something happened, at most 10 ms. */
static void tick(void)
{
	struct timeval tv = {0, 10000};
	event_base_loopexit(base, &tv);
	event_base_loop(base, EVLOOP_ONCE);
}

/* Runs the loop until path was reported with (at least) flags. */
static int wait_for(const char *path, int flags)
{
	double end = now_ms() + WAIT_MS;
	while (!find(path, flags)) {
		if (now_ms() > end)
			return 0;
		tick();
	}
	return 1;
}

/* Runs the loop for QUIET_MS. */
static void settle(void)
{
	double end = now_ms() + QUIET_MS;
	while (now_ms() < end)
		tick();
}

static void forget(void)
{
	nseen = 0;
}

static void at(char *out, size_t size, const char *rel)
{
	assert_true(snprintf(out, size, "%s/%s", root, rel) < (int)size);
}

static void make_dir(const char *rel)
{
	char p[512];
	at(p, sizeof(p), rel);
	assert_int_equal(mkdir(p, 0700), 0);
}

static void write_file(const char *rel, const char *text, int flags)
{
	char p[512];
	at(p, sizeof(p), rel);
	int fd = open(p, O_WRONLY | O_CREAT | flags, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
}

static void move(const char *from, const char *to)
{
	char a[512], b[512];
	at(a, sizeof(a), from);
	at(b, sizeof(b), to);
	assert_int_equal(rename(a, b), 0);
}

static void start(void)
{
	char why[256] = "";
	int rc = watch_start(&w, base, root, on_change, NULL, why, sizeof(why));
	if (rc)
		fail_msg("watch_start: %s", why);
	assert_int_equal(nseen, 0);
}

static int setup(void **state)
{
	(void)state;
	if (test_dir_make(dir, "watch"))
		return -1;
	snprintf(root, sizeof(root), "%s/root", dir);
	if (mkdir(root, 0700))
		return -1;
	base = event_base_new();
	nseen = 0;
	free_on_gone = 0;
	w = NULL;
	return base ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	watch_free(w);
	w = NULL;
	watch_test_limit(0);
	event_base_free(base);
	return test_dir_remove(dir);
}

static void test_files_reported(void **state)
{
	(void)state;
	start();
	assert_int_equal(watch_count(w), 1);
	assert_int_equal(watch_degraded(w), 0);
	write_file("a.txt", "one", O_TRUNC);
	assert_true(wait_for("a.txt", WATCH_DIRTY));
	forget();
	write_file("a.txt", "two", O_APPEND);
	assert_true(wait_for("a.txt", WATCH_DIRTY));
	forget();
	move("a.txt", "b.txt");
	assert_true(wait_for("a.txt", WATCH_DIRTY));
	assert_true(wait_for("b.txt", WATCH_DIRTY));
	forget();
	char p[512];
	at(p, sizeof(p), "b.txt");
	assert_int_equal(chmod(p, 0640), 0);
	assert_true(wait_for("b.txt", WATCH_DIRTY));
	forget();
	assert_int_equal(unlink(p), 0);
	assert_true(wait_for("b.txt", WATCH_DIRTY));
	for (int i = 0; i < nseen; i++)
		assert_int_equal(seen[i].flags, WATCH_DIRTY);
}

static void test_existing_tree_watched(void **state)
{
	(void)state;
	make_dir("sub");
	make_dir("sub/deep");
	make_dir("other");
	start();
	assert_int_equal(watch_count(w), 4);
	write_file("sub/deep/f", "x", 0);
	assert_true(wait_for("sub/deep/f", WATCH_DIRTY));
	forget();
	char p[512];
	at(p, sizeof(p), "other");
	assert_int_equal(rmdir(p), 0);
	assert_true(wait_for("other", WATCH_DIRTY));
	settle();
	assert_int_equal(watch_count(w), 3);
}

static void test_new_dir_watched_with_contents(void **state)
{
	(void)state;
	start();
	/* Made and filled before the loop runs: the watch comes late. */
	make_dir("n");
	write_file("n/f1", "x", 0);
	make_dir("n/m");
	make_dir("n/m/k");
	assert_true(wait_for("n", WATCH_DIRTY));
	settle();
	assert_int_equal(watch_count(w), 4);
	forget();
	write_file("n/m/later", "y", 0);
	assert_true(wait_for("n/m/later", WATCH_DIRTY));
	write_file("n/m/k/deeper", "y", 0);
	assert_true(wait_for("n/m/k/deeper", WATCH_DIRTY));
}

static void test_renamed_dir_reports_new_path(void **state)
{
	(void)state;
	make_dir("old");
	make_dir("old/inner");
	start();
	move("old", "new");
	assert_true(wait_for("old", WATCH_DIRTY));
	assert_true(wait_for("new", WATCH_DIRTY));
	forget();
	write_file("new/inner/f", "x", 0);
	assert_true(wait_for("new/inner/f", WATCH_DIRTY));
	assert_false(find("old/inner/f", 0));
	/* Into another directory, renamed on the way. */
	make_dir("other");
	assert_true(wait_for("other", WATCH_DIRTY));
	move("new/inner", "other/moved");
	forget();
	write_file("other/moved/g", "x", 0);
	assert_true(wait_for("other/moved/g", WATCH_DIRTY));
	assert_int_equal(watch_count(w), 4);
}

static void test_moved_out_and_in(void **state)
{
	(void)state;
	char out[128], p[512];
	snprintf(out, sizeof(out), "%s/out", dir);
	assert_int_equal(mkdir(out, 0700), 0);
	make_dir("x");
	make_dir("x/y");
	start();
	assert_int_equal(watch_count(w), 3);
	snprintf(p, sizeof(p), "%s/x", out);
	char from[512];
	at(from, sizeof(from), "x");
	assert_int_equal(rename(from, p), 0);
	assert_true(wait_for("x", WATCH_DIRTY));
	settle();
	assert_int_equal(watch_count(w), 1);
	forget();
	snprintf(p, sizeof(p), "%s/x/y/f", out);
	int fd = open(p, O_WRONLY | O_CREAT, 0600);
	assert_true(fd >= 0);
	close(fd);
	settle();
	assert_int_equal(nseen, 0);
	/* And back in, under another name. */
	snprintf(p, sizeof(p), "%s/x", out);
	at(from, sizeof(from), "back");
	assert_int_equal(rename(p, from), 0);
	assert_true(wait_for("back", WATCH_DIRTY));
	assert_int_equal(watch_count(w), 3);
	forget();
	write_file("back/y/g", "x", 0);
	assert_true(wait_for("back/y/g", WATCH_DIRTY));
}

static void test_shoal_dir_and_links_skipped(void **state)
{
	(void)state;
	char out[128], p[512];
	snprintf(out, sizeof(out), "%s/out", dir);
	assert_int_equal(mkdir(out, 0700), 0);
	make_dir(".shoal");
	make_dir("sub");
	make_dir("sub/.shoal");
	at(p, sizeof(p), "link");
	assert_int_equal(symlink(out, p), 0);
	start();
	assert_int_equal(watch_count(w), 3); /* root, sub, sub/.shoal */
	write_file(".shoal/state", "x", 0);
	snprintf(p, sizeof(p), "%s/f", out);
	int fd = open(p, O_WRONLY | O_CREAT, 0600);
	assert_true(fd >= 0);
	close(fd);
	at(p, sizeof(p), ".shoal");
	assert_int_equal(chmod(p, 0750), 0);
	settle();
	assert_int_equal(nseen, 0);
	write_file("sub/.shoal/f", "x", 0);
	assert_true(wait_for("sub/.shoal/f", WATCH_DIRTY));
	/* A link made later is reported as an entry, not followed. */
	forget();
	at(p, sizeof(p), "link2");
	assert_int_equal(symlink(out, p), 0);
	assert_true(wait_for("link2", WATCH_DIRTY));
	assert_int_equal(watch_count(w), 3);
}

static void test_root_removed(void **state)
{
	(void)state;
	start();
	assert_int_equal(rmdir(root), 0);
	assert_true(wait_for("", WATCH_RESCAN | WATCH_ROOT_GONE));
	int n = nseen;
	settle();
	assert_int_equal(nseen, n);
	assert_int_equal(seen[nseen - 1].flags, WATCH_RESCAN | WATCH_ROOT_GONE);
	/* Told once only. */
	int gone = 0;
	for (int i = 0; i < nseen; i++)
		gone += (seen[i].flags & WATCH_ROOT_GONE) != 0;
	assert_int_equal(gone, 1);
}

static void test_root_moved_freed_in_callback(void **state)
{
	(void)state;
	make_dir("d");
	start();
	free_on_gone = 1;
	char p[512];
	snprintf(p, sizeof(p), "%s/elsewhere", dir);
	assert_int_equal(rename(root, p), 0);
	assert_true(wait_for("", WATCH_RESCAN | WATCH_ROOT_GONE));
	assert_null(w);
	/* Put back for the teardown's sake; nothing is watched any more. */
	assert_int_equal(rename(p, root), 0);
	forget();
	write_file("d/f", "x", 0);
	settle();
	assert_int_equal(nseen, 0);
}

static void test_overflow_rescans_and_goes_on(void **state)
{
	(void)state;
	make_dir("a");
	start();
	watch_inject_overflow(w);
	assert_int_equal(nseen, 0); /* from the loop, not from the call */
	assert_true(wait_for("", WATCH_RESCAN));
	assert_int_equal(seen[0].flags, WATCH_RESCAN);
	assert_int_equal(watch_count(w), 2);
	forget();
	write_file("a/f", "x", 0);
	assert_true(wait_for("a/f", WATCH_DIRTY));
}

/* A tree of more directories than the kernel's queue holds: an overflow
 * is one rebuild and one RESCAN, not a rebuild whose own removals overflow
 * the queue again. The queue is made small (max_queued_events, which an
 * instance takes when it is made) for the test when this user may. */
static void test_overflow_on_a_wide_tree_ends(void **state)
{
	(void)state;
	const char *knob = "/proc/sys/fs/inotify/max_queued_events";
	char old[32] = "";
	FILE *f = fopen(knob, "r");
	if (!f || !fgets(old, sizeof(old), f)) {
		if (f)
			fclose(f);
		skip();
	}
	fclose(f);
	f = fopen(knob, "w");
	if (!f || fputs("16\n", f) < 0 || fclose(f)) {
		if (f)
			fclose(f);
		skip();
	}
	char name[32];
	for (int i = 0; i < 40; i++) {
		FMT(name, "d%02d", i);
		make_dir(name);
	}
	start();
	/* Put back at once: the watcher's instance has its small queue. */
	f = fopen(knob, "w");
	if (f) {
		fputs(old, f);
		fclose(f);
	}
	forget();
	watch_inject_overflow(w);
	assert_true(wait_for("", WATCH_RESCAN));
	settle();
	int rescans = 0;
	for (int i = 0; i < nseen && i < MAX_SEEN; i++)
		rescans += (seen[i].flags & WATCH_RESCAN) != 0;
	assert_int_equal(rescans, 1);
	assert_int_equal(watch_count(w), 41);
	forget();
	write_file("d07/f", "x", 0);
	assert_true(wait_for("d07/f", WATCH_DIRTY));
}

static void test_out_of_watches_degrades(void **state)
{
	(void)state;
	make_dir("a");
	make_dir("b");
	make_dir("c");
	/* Too few at the start: it starts, degraded, and says nothing. */
	watch_test_limit(2);
	start();
	assert_int_equal(watch_degraded(w), 1);
	assert_int_equal(watch_count(w), 2);
	settle();
	assert_int_equal(nseen, 0);
	watch_free(w);
	w = NULL;
	/* Enough at the start, then one directory too many. */
	watch_test_limit(5);
	start();
	assert_int_equal(watch_degraded(w), 0);
	assert_int_equal(watch_count(w), 4);
	make_dir("d");
	assert_true(wait_for("d", WATCH_DIRTY));
	assert_int_equal(watch_count(w), 5);
	make_dir("e");
	assert_true(wait_for("", WATCH_RESCAN));
	assert_true(wait_for("e", WATCH_DIRTY));
	assert_int_equal(watch_degraded(w), 1);
	forget();
	/* Still degraded: no RESCAN for every refusal, but it goes on. */
	make_dir("f");
	assert_true(wait_for("f", WATCH_DIRTY));
	write_file("a/x", "x", 0);
	assert_true(wait_for("a/x", WATCH_DIRTY));
	assert_false(find("", WATCH_RESCAN));
	/* A rebuild with room again ends the state. */
	watch_test_limit(0);
	watch_inject_overflow(w);
	assert_true(wait_for("", WATCH_RESCAN));
	assert_int_equal(watch_degraded(w), 0);
	assert_int_equal(watch_count(w), 7);
}

static void test_replaced_dir(void **state)
{
	(void)state;
	make_dir("a");
	make_dir("a/in");
	make_dir("b");
	start();
	move("a", "b"); /* b was empty: replaced */
	assert_true(wait_for("b", WATCH_DIRTY));
	settle();
	assert_int_equal(watch_count(w), 3);
	forget();
	write_file("b/in/f", "x", 0);
	assert_true(wait_for("b/in/f", WATCH_DIRTY));
}

/* The directories under root (relative paths, "" first); returns how many. */
static int list_dirs(char dirs[][512], int max)
{
	int n = 0;
	dirs[n++][0] = 0;
	for (int i = 0; i < n; i++) {
		char p[512];
		at(p, sizeof(p), dirs[i]);
		DIR *d = opendir(p);
		assert_non_null(d);
		struct dirent *de;
		while ((de = readdir(d))) {
			if (de->d_type != DT_DIR || de->d_name[0] == '.')
				continue;
			assert_true(n < max);
			char sub[sizeof(dirs[0])];
			FMT(sub, "%s%s%s", dirs[i], dirs[i][0] ? "/" : "", de->d_name);
			memcpy(dirs[n], sub, sizeof(sub));
			n++;
		}
		closedir(d);
	}
	return n;
}

/* Random directory changes, some read between, some in one batch: then the
 * watches are exactly the tree's directories, each reported by its path. */
static void test_churn_stays_consistent(void **state)
{
	(void)state;
	static char dirs[512][512];
	char out[128], a[1024], b[1024];
	snprintf(out, sizeof(out), "%s/out", dir);
	assert_int_equal(mkdir(out, 0700), 0);
	unsigned seed = 7, names = 0, outside = 0;
	make_dir("s");
	start();
	for (int op = 0; op < 300; op++) {
		int n = list_dirs(dirs, 512);
		const char *d = dirs[rand_r(&seed) % n];
		switch (rand_r(&seed) % 6) {
		case 0:
		case 1:
			if (n < 60) {
				FMT(a, "%s/%s/d%u", root, d, names++);
				assert_int_equal(mkdir(a, 0700), 0);
			}
			break;
		case 2: { /* rename to somewhere not under itself */
			const char *to = dirs[rand_r(&seed) % n];
			size_t dl = strlen(d);
			if (!d[0] || (!strncmp(to, d, dl) && (to[dl] == '/' || !to[dl])))
				break;
			FMT(a, "%s/%s", root, d);
			FMT(b, "%s/%s/r%u", root, to, names++);
			assert_int_equal(rename(a, b), 0);
			break;
		}
		case 3:
			if (d[0]) {
				FMT(a, "%s/%s", root, d);
				rmdir(a); /* fails unless empty */
			}
			break;
		case 4:
			if (d[0]) {
				FMT(a, "%s/%s", root, d);
				FMT(b, "%s/o%u", out, outside++);
				assert_int_equal(rename(a, b), 0);
			}
			break;
		case 5:
			if (outside) {
				FMT(a, "%s/o%u", out, rand_r(&seed) % outside);
				FMT(b, "%s/%s/i%u", root, d, names++);
				rename(a, b); /* fails when moved in already */
			}
			break;
		}
		if (rand_r(&seed) % 4 == 0)
			tick();
	}
	settle();
	int n = list_dirs(dirs, 512);
	assert_int_equal(watch_count(w), (size_t)n);
	forget();
	for (int i = 0; i < n; i++) {
		char rel[600];
		FMT(rel, "%s%sprobe", dirs[i], dirs[i][0] ? "/" : "");
		write_file(rel, "x", 0);
	}
	for (int i = 0; i < n; i++) {
		char rel[600];
		FMT(rel, "%s%sprobe", dirs[i], dirs[i][0] ? "/" : "");
		if (!wait_for(rel, WATCH_DIRTY))
			fail_msg("no news of %s", rel);
	}
	assert_false(find("", WATCH_RESCAN));
}

static void test_start_refused(void **state)
{
	(void)state;
	char why[256] = "", p[512];
	snprintf(p, sizeof(p), "%s/missing", dir);
	assert_int_equal(watch_start(&w, base, p, on_change, NULL, why, sizeof(why)), -ENOENT);
	assert_null(w);
	assert_non_null(strstr(why, "missing"));
	write_file("file", "x", 0);
	at(p, sizeof(p), "file");
	assert_int_equal(watch_start(&w, base, p, on_change, NULL, NULL, 0), -ENOTDIR);
	assert_null(w);
	/* Through a link: its target is watched. */
	make_dir("real");
	FMT(p, "%s/link", dir);
	assert_int_equal(symlink(root, p), 0);
	assert_int_equal(watch_start(&w, base, p, on_change, NULL, why, sizeof(why)), 0);
	assert_int_equal(watch_count(w), 2);
	write_file("real/f", "x", 0);
	assert_true(wait_for("real/f", WATCH_DIRTY));
	watch_free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_files_reported, setup, teardown),
		cmocka_unit_test_setup_teardown(test_existing_tree_watched, setup, teardown),
		cmocka_unit_test_setup_teardown(test_new_dir_watched_with_contents, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_renamed_dir_reports_new_path, setup, teardown),
		cmocka_unit_test_setup_teardown(test_moved_out_and_in, setup, teardown),
		cmocka_unit_test_setup_teardown(test_shoal_dir_and_links_skipped, setup, teardown),
		cmocka_unit_test_setup_teardown(test_root_removed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_root_moved_freed_in_callback, setup, teardown),
		cmocka_unit_test_setup_teardown(test_overflow_rescans_and_goes_on, setup, teardown),
		cmocka_unit_test_setup_teardown(test_overflow_on_a_wide_tree_ends, setup, teardown),
		cmocka_unit_test_setup_teardown(test_out_of_watches_degrades, setup, teardown),
		cmocka_unit_test_setup_teardown(test_replaced_dir, setup, teardown),
		cmocka_unit_test_setup_teardown(test_churn_stays_consistent, setup, teardown),
		cmocka_unit_test_setup_teardown(test_start_refused, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
