/*
 * Tests for directory trees in and out of the store (src/store/tree.c through
 * files_put_path() and files_get()): a nested tree with empty directories,
 * empty files, a 5 MiB file among small ones and unusual modes round-trips
 * byte for byte with modes and mtimes (root, directories, files); symbolic
 * links, FIFOs, sockets, invalid names and the store's own home are skipped
 * and counted; 1,000 small files cost a handful of chunks and deduplicate;
 * the replication hook sees every chunk; an existing output is refused and
 * left alone; a damaged or missing chunk or an interrupted get leaves neither
 * output nor temporary tree; a file that changes between the scan and the
 * read, a tree too deep and an unreadable directory fail the put cleanly,
 * binding nothing; the writer, fed a manifest directly (never decoded), refuses
 * "..", absolute and other unsafe entry paths before it writes anything.
 * Each test gets a fresh node home and a scratch directory under /tmp.
 */
#include <dirent.h>
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
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "store_fixture.h"
#include "proto/capability.h"
#include "proto/manifest.h"
#include "store/files.h"
#include "store/index.h"
#include "store/objects.h"
#include "store/store.h"
#include "store/tree.h"
#include "util/error.h"
#include "util/log.h"
#include "util/progress.h"

#define MIB ((size_t)1024 * 1024)

struct fixture {
	char home[STORE_FIXTURE_PATH];
	char work[STORE_FIXTURE_PATH];
	struct store *s;
	size_t param; /* from the test's initial state, when it has one */
};

static int setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));
	if (!fx)
		return -1;
	if (*state)
		fx->param = *(const size_t *)*state;
	if (store_fixture_setup(fx->home, fx->work, &fx->s, "tree")) {
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

/* work/rel into out (PATH_MAX). */
static void work_path(const struct fixture *fx, const char *rel, char *out)
{
	int n = snprintf(out, PATH_MAX, "%s/%s", fx->work, rel);
	assert_true(n > 0 && n < PATH_MAX);
}

static uint64_t rng_next(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * UINT64_C(0x2545f4914f6cdd1d);
}

/* Writes size pseudo-random bytes from seed to work/rel with mode and mtime. */
static void make_file(const struct fixture *fx, const char *rel, size_t size, uint64_t seed,
		      mode_t mode, time_t mtime)
{
	char path[PATH_MAX];
	work_path(fx, rel, path);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	uint8_t *block = malloc(MIB);
	assert_non_null(block);
	uint64_t s = seed ? seed : 1;
	for (size_t done = 0; done < size;) {
		size_t n = size - done < MIB ? size - done : MIB;
		for (size_t i = 0; i < n; i += 8) {
			uint64_t x = rng_next(&s);
			memcpy(block + i, &x, n - i < 8 ? n - i : 8);
		}
		assert_int_equal(write(fd, block, n), (ssize_t)n);
		done += n;
	}
	free(block);
	assert_int_equal(close(fd), 0);
	struct timespec times[2] = {{.tv_sec = mtime}, {.tv_sec = mtime}};
	assert_int_equal(utimensat(AT_FDCWD, path, times, AT_SYMLINK_NOFOLLOW), 0);
	assert_int_equal(chmod(path, mode), 0);
}

static void make_dir(const struct fixture *fx, const char *rel)
{
	char path[PATH_MAX];
	work_path(fx, rel, path);
	assert_int_equal(mkdir(path, 0755), 0);
}

/* Sets a directory's mode and mtime (after its contents exist). */
static void set_dir_meta(const struct fixture *fx, const char *rel, mode_t mode, time_t mtime)
{
	char path[PATH_MAX];
	work_path(fx, rel, path);
	struct timespec times[2] = {{.tv_sec = mtime}, {.tv_sec = mtime}};
	assert_int_equal(utimensat(AT_FDCWD, path, times, 0), 0);
	assert_int_equal(chmod(path, mode), 0);
}

/* Asserts that the files at a and b hold the same bytes. */
static void assert_same_content(const char *a, const char *b)
{
	int fa = open(a, O_RDONLY), fb = open(b, O_RDONLY);
	assert_true(fa >= 0);
	assert_true(fb >= 0);
	uint8_t *ba = malloc(MIB), *bb = malloc(MIB);
	assert_non_null(ba);
	assert_non_null(bb);
	for (;;) {
		ssize_t na = read(fa, ba, MIB), nb = read(fb, bb, MIB);
		assert_true(na >= 0);
		assert_int_equal(na, nb);
		if (na == 0)
			break;
		assert_memory_equal(ba, bb, (size_t)na);
	}
	free(ba);
	free(bb);
	close(fa);
	close(fb);
}

/*
 * Asserts that the tree at out mirrors the one at in: the same regular files
 * (bytes, mode, mtime) and directories (mode, mtime), and nothing else; what
 * in holds besides (links, FIFOs, sockets) must be absent from out. Returns
 * the number of entries compared.
 */
static size_t assert_same_tree(const char *in, const char *out)
{
	struct stat si, so;
	assert_int_equal(lstat(in, &si), 0);
	assert_int_equal(lstat(out, &so), 0);
	assert_true(S_ISDIR(so.st_mode));
	assert_int_equal(si.st_mode & 07777, so.st_mode & 07777);
	/* Read with owner permissions whatever the modes say. */
	chmod(in, 0700);
	chmod(out, 0700);
	size_t count = 0;
	DIR *d = opendir(in);
	assert_non_null(d);
	struct dirent *de;
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		char a[PATH_MAX], b[PATH_MAX];
		snprintf(a, sizeof(a), "%s/%s", in, de->d_name);
		snprintf(b, sizeof(b), "%s/%s", out, de->d_name);
		struct stat sa, sb;
		assert_int_equal(lstat(a, &sa), 0);
		int there = lstat(b, &sb) == 0;
		if (!S_ISREG(sa.st_mode) && !S_ISDIR(sa.st_mode)) {
			assert_false(there);
			continue;
		}
		assert_true(there);
		count++;
		if (S_ISDIR(sa.st_mode)) {
			count += assert_same_tree(a, b);
		} else {
			assert_true(S_ISREG(sb.st_mode));
			assert_int_equal(sa.st_size, sb.st_size);
			assert_int_equal(sa.st_mode & 07777, sb.st_mode & 07777);
			assert_int_equal(sa.st_mtime, sb.st_mtime);
			assert_same_content(a, b);
		}
	}
	closedir(d);
	/* Nothing extra in out. */
	size_t extra = 0;
	d = opendir(out);
	assert_non_null(d);
	while ((de = readdir(d)))
		extra += strcmp(de->d_name, ".") && strcmp(de->d_name, "..");
	closedir(d);
	size_t here = 0;
	d = opendir(in);
	while ((de = readdir(d))) {
		char a[PATH_MAX];
		struct stat sa;
		snprintf(a, sizeof(a), "%s/%s", in, de->d_name);
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..") && !lstat(a, &sa) &&
		    (S_ISREG(sa.st_mode) || S_ISDIR(sa.st_mode)))
			here++;
	}
	closedir(d);
	assert_int_equal(extra, here);
	/* Modes and mtimes back as they were, after reading. */
	chmod(in, si.st_mode & 07777);
	chmod(out, so.st_mode & 07777);
	assert_int_equal(lstat(out, &so), 0);
	assert_int_equal(si.st_mtime, so.st_mtime);
	return count;
}

/* Number of entries of dir other than "." and "..". */
static int count_entries(const char *dir)
{
	DIR *d = opendir(dir);
	assert_non_null(d);
	int n = 0;
	struct dirent *de;
	while ((de = readdir(d)))
		n += strcmp(de->d_name, ".") && strcmp(de->d_name, "..");
	closedir(d);
	return n;
}

static uint64_t indexed_chunks(const struct fixture *fx)
{
	uint64_t count = 0, bytes = 0;
	assert_int_equal(index_chunk_stats(fx->s->index, &count, &bytes), 0);
	return count;
}

/* Puts work/rel under name; returns the result. */
static int put_tree(struct fixture *fx, const char *rel, const char *name,
		    struct files_put_report *report, struct capability *cap, uint64_t *size)
{
	char path[PATH_MAX];
	work_path(fx, rel, path);
	return files_put_path_report(fx->s, path, name, NULL, NULL, report, cap, size);
}

/* The nested tree most tests use, under work/in; returns its data size. */
static uint64_t make_nested(struct fixture *fx)
{
	make_dir(fx, "in");
	make_dir(fx, "in/docs");
	make_dir(fx, "in/docs/deep");
	make_dir(fx, "in/docs/deep/deeper");
	make_dir(fx, "in/empty dir");
	make_dir(fx, "in/locked");
	make_file(fx, "in/docs/a.txt", 1000, 1, 0644, 1500000000);
	make_file(fx, "in/docs/b.txt", 1, 2, 0600, 1500000001);
	make_file(fx, "in/docs/deep/deeper/c", 70000, 3, 0755, 1500000002);
	make_file(fx, "in/docs/deep/empty", 0, 4, 0444, 1500000003);
	make_file(fx, "in/big.bin", 5 * MIB, 5, 0640, 1500000004);
	make_file(fx, "in/h\xc3\xa9llo w\xc3\xb6rld", 12345, 6, 0604, 1500000005);
	make_file(fx, "in/locked/secret", 300, 7, 0400, 1500000006);
	make_file(fx, "in/zero", 0, 8, 0000, 1500000007);
	make_file(fx, "in/setgid", 10, 9, 02755, 1500000008);
	set_dir_meta(fx, "in/locked", 0500, 1400000000);
	set_dir_meta(fx, "in/empty dir", 0000, 1400000001);
	set_dir_meta(fx, "in/docs/deep/deeper", 0750, 1400000002);
	set_dir_meta(fx, "in/docs/deep", 0711, 1400000003);
	set_dir_meta(fx, "in/docs", 0755, 1400000004);
	set_dir_meta(fx, "in", 0751, 1400000005);
	return 1000 + 1 + 70000 + 5 * MIB + 12345 + 300 + 10;
}

/* ---- round trips ---- */

static void test_nested_round_trip(void **state)
{
	struct fixture *fx = *state;
	uint64_t want = make_nested(fx);
	struct capability cap;
	struct files_put_report report;
	uint64_t size = 0;
	assert_int_equal(put_tree(fx, "in", "tree", &report, &cap, &size), 0);
	assert_true(size == want);
	assert_int_equal(report.files, 9);
	assert_int_equal(report.dirs, 5);
	assert_int_equal(report.skipped, 0);

	/* The manifest lists the tree depth first, sorted by name. */
	struct manifest m = {0};
	assert_int_equal(files_read_manifest(fx->s, &cap, &m), 0);
	assert_int_equal(m.kind, MANIFEST_DIRECTORY);
	assert_true(m.size == want);
	assert_int_equal(m.mode, 0751);
	assert_int_equal(m.mtime, 1400000005);
	assert_int_equal(m.nentries, 14);
	const char *order[] = {"big.bin",
			       "docs",
			       "docs/a.txt",
			       "docs/b.txt",
			       "docs/deep",
			       "docs/deep/deeper",
			       "docs/deep/deeper/c",
			       "docs/deep/empty",
			       "empty dir",
			       "h\xc3\xa9llo w\xc3\xb6rld",
			       "locked",
			       "locked/secret",
			       "setgid",
			       "zero"};
	for (size_t i = 0; i < 14; i++)
		assert_string_equal(m.entries[i].path, order[i]);
	manifest_release(&m);

	struct index_name n;
	assert_int_equal(index_name_get(fx->s->index, "tree", &n), 0);
	assert_true(n.size == want);

	char in[PATH_MAX], out[PATH_MAX];
	work_path(fx, "in", in);
	work_path(fx, "out", out);
	struct progress p;
	progress_start(&p, "get", 0, 1);
	assert_int_equal(files_get(fx->s, &cap, out, NULL, &p, NULL), 0);
	assert_true(p.total == want);
	assert_true(p.done == want);
	assert_int_equal(assert_same_tree(in, out), 14);
	/* Only the input and the output are in the work directory. */
	assert_int_equal(count_entries(fx->work), 2);

	/* A trailing slash on the output is fine too. */
	work_path(fx, "out2/", out);
	assert_int_equal(files_get(fx->s, &cap, out, NULL, NULL, NULL), 0);
	work_path(fx, "out2", out);
	assert_int_equal(assert_same_tree(in, out), 14);
}

static void test_empty_tree(void **state)
{
	struct fixture *fx = *state;
	make_dir(fx, "in");
	set_dir_meta(fx, "in", 0700, 1234567890);
	struct capability cap;
	uint64_t size = 99;
	assert_int_equal(put_tree(fx, "in", "empty", NULL, &cap, &size), 0);
	assert_true(size == 0);
	char in[PATH_MAX], out[PATH_MAX];
	work_path(fx, "in", in);
	work_path(fx, "out", out);
	assert_int_equal(files_get(fx->s, &cap, out, NULL, NULL, NULL), 0);
	assert_int_equal(assert_same_tree(in, out), 0);
}

static void test_skips_special_files(void **state)
{
	struct fixture *fx = *state;
	make_dir(fx, "in");
	make_dir(fx, "in/sub");
	make_file(fx, "in/sub/kept", 10, 1, 0644, 1600000000);
	char path[PATH_MAX];
	work_path(fx, "in/a-link", path);
	assert_int_equal(symlink("/etc/passwd", path), 0);
	work_path(fx, "in/sub/dir-link", path);
	assert_int_equal(symlink("..", path), 0);
	work_path(fx, "in/fifo", path);
	assert_int_equal(mkfifo(path, 0600), 0);
	work_path(fx, "in/sub/sock", path);
	int sock = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_true(sock >= 0);
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	assert_true(strlen(path) < sizeof(sun.sun_path));
	memcpy(sun.sun_path, path, strlen(path) + 1);
	assert_int_equal(bind(sock, (struct sockaddr *)&sun, sizeof(sun)), 0);
	/* Names a tree cannot hold: a control character, an edge space. */
	make_file(fx, "in/bad\x01name", 5, 2, 0644, 1600000000);
	make_file(fx, "in/sub/trailing ", 5, 3, 0644, 1600000000);

	struct capability cap;
	struct files_put_report report;
	uint64_t size;
	assert_int_equal(put_tree(fx, "in", "special", &report, &cap, &size), 0);
	close(sock);
	assert_int_equal(report.files, 1);
	assert_int_equal(report.dirs, 1);
	assert_int_equal(report.skipped, 6);
	assert_string_equal(report.skipped_path, "a-link"); /* the first in order */
	assert_true(size == 10);
	char warning[256];
	files_put_report_warning(&report, warning, sizeof(warning));
	assert_non_null(strstr(warning, "skipped 6 entries"));
	assert_non_null(strstr(warning, "'a-link'"));

	char in[PATH_MAX], out[PATH_MAX];
	work_path(fx, "in", in);
	work_path(fx, "out", out);
	assert_int_equal(files_get(fx->s, &cap, out, NULL, NULL, NULL), 0);
	assert_int_equal(count_entries(out), 1);
	work_path(fx, "out/sub", path);
	assert_int_equal(count_entries(path), 1);
	work_path(fx, "out/sub/kept", out);
	work_path(fx, "in/sub/kept", in);
	assert_same_content(in, out);

	/* A report without skips warns about nothing. */
	memset(&report, 0, sizeof(report));
	files_put_report_warning(&report, warning, sizeof(warning));
	assert_string_equal(warning, "");
}

static void test_many_small_files(void **state)
{
	struct fixture *fx = *state;
	make_dir(fx, "in");
	uint64_t want = 0;
	for (int d = 0; d < 10; d++) {
		char rel[64];
		snprintf(rel, sizeof(rel), "in/d%d", d);
		make_dir(fx, rel);
		for (int f = 0; f < 100; f++) {
			size_t len = (size_t)((d * 100 + f) * 37 % 4000);
			snprintf(rel, sizeof(rel), "in/d%d/f%03d", d, f);
			make_file(fx, rel, len, (uint64_t)(d * 100 + f + 1), 0644, 1600000000 + f);
			want += len;
		}
	}
	struct capability cap, again;
	uint64_t size;
	assert_int_equal(put_tree(fx, "in", "many", NULL, &cap, &size), 0);
	assert_true(size == want);
	/* About 2 MiB of data: a handful of chunks, not one per file. */
	uint64_t chunks = indexed_chunks(fx);
	assert_true(chunks <= 1 + 2 * want / (256 * 1024) + 1);

	/* The same tree again: the same capability and nothing new stored. */
	assert_int_equal(put_tree(fx, "in", "many again", NULL, &again, &size), 0);
	assert_memory_equal(&cap, &again, sizeof(cap));
	assert_int_equal(indexed_chunks(fx), chunks);

	char in[PATH_MAX], out[PATH_MAX];
	work_path(fx, "in", in);
	work_path(fx, "out", out);
	assert_int_equal(files_get(fx->s, &cap, out, NULL, NULL, NULL), 0);
	assert_int_equal(assert_same_tree(in, out), 1010);
}

static void test_put_path_of_a_file(void **state)
{
	struct fixture *fx = *state;
	make_file(fx, "file", 3000, 11, 0640, 1600000000);
	struct capability cap;
	struct files_put_report report;
	uint64_t size;
	assert_int_equal(put_tree(fx, "file", "f", &report, &cap, &size), 0);
	assert_int_equal(report.files, 1);
	struct manifest m = {0};
	assert_int_equal(files_read_manifest(fx->s, &cap, &m), 0);
	assert_int_equal(m.kind, MANIFEST_FILE);
	assert_int_equal(m.nentries, 0);
	manifest_release(&m);
	char in[PATH_MAX], out[PATH_MAX];
	work_path(fx, "file", in);
	work_path(fx, "file.out", out);
	assert_int_equal(files_get(fx->s, &cap, out, NULL, NULL, NULL), 0);
	assert_same_content(in, out);
	/* A missing path. */
	assert_int_equal(put_tree(fx, "nothing", "n", &report, &cap, &size), -ENOENT);
}

static void test_skips_own_home(void **state)
{
	struct fixture *fx = *state;
	/* A store whose home lies inside the tree being put. */
	make_dir(fx, "in");
	make_dir(fx, "in/home");
	make_file(fx, "in/kept", 10, 1, 0644, 1600000000);
	char home[PATH_MAX], in[PATH_MAX];
	work_path(fx, "in/home", home);
	work_path(fx, "in", in);
	struct store *s;
	assert_int_equal(store_create(home), 0);
	assert_int_equal(store_open(&s, home, 0), 0);
	struct capability cap;
	struct files_put_report report;
	uint64_t size;
	assert_int_equal(files_put_path_report(s, in, "in", NULL, NULL, &report, &cap, &size), 0);
	assert_int_equal(report.files, 1);
	assert_int_equal(report.dirs, 0);
	assert_int_equal(report.skipped, 1);
	assert_string_equal(report.skipped_path, "home");
	store_close(s);
}

/* ---- replication hook ---- */

struct rep_log {
	int stored;
	int finished;
	int finish_result;
};

static int rep_stored(void *arg, const uint8_t id[CHUNK_ID_LEN], const uint8_t *data, size_t len)
{
	(void)id;
	(void)data;
	assert_true(len >= CHUNK_TAG_LEN);
	((struct rep_log *)arg)->stored++;
	return 0;
}

static int rep_finish(void *arg)
{
	struct rep_log *log = arg;
	log->finished++;
	return log->finish_result;
}

static void test_replication_hook(void **state)
{
	struct fixture *fx = *state;
	make_nested(fx);
	struct rep_log log = {0};
	struct files_replica_ops ops = {.stored = rep_stored, .finish = rep_finish, .arg = &log};
	char path[PATH_MAX];
	work_path(fx, "in", path);
	struct capability cap;
	uint64_t size;
	assert_int_equal(files_put_path(fx->s, path, "tree", NULL, &ops, &cap, &size), 0);
	/* Every data chunk and the manifest, once each. */
	assert_int_equal(log.stored, indexed_chunks(fx));
	assert_int_equal(log.finished, 1);

	/* A failing finish binds nothing. */
	log = (struct rep_log){.finish_result = SHOAL_ENOTFOUND};
	assert_int_equal(files_put_path(fx->s, path, "other", NULL, &ops, &cap, &size),
			 SHOAL_ENOTFOUND);
	assert_int_equal(log.finished, 1);
	struct index_name n;
	assert_int_equal(index_name_get(fx->s->index, "other", &n), SHOAL_ENOTFOUND);
}

/* ---- failing gets ---- */

static void test_existing_output_refused(void **state)
{
	struct fixture *fx = *state;
	make_nested(fx);
	struct capability cap;
	uint64_t size;
	assert_int_equal(put_tree(fx, "in", "tree", NULL, &cap, &size), 0);

	/* An existing directory, file or dangling link: refused, untouched. */
	make_dir(fx, "dir-out");
	make_file(fx, "dir-out/keep", 10, 1, 0644, 1600000000);
	make_file(fx, "file-out", 20, 2, 0600, 1600000000);
	char out[PATH_MAX];
	work_path(fx, "link-out", out);
	assert_int_equal(symlink("nowhere", out), 0);
	int before = count_entries(fx->work);
	const char *outs[] = {"dir-out", "file-out", "link-out"};
	for (size_t i = 0; i < 3; i++) {
		work_path(fx, outs[i], out);
		assert_int_equal(files_get(fx->s, &cap, out, NULL, NULL, NULL), SHOAL_EEXIST);
	}
	assert_int_equal(count_entries(fx->work), before);
	work_path(fx, "dir-out", out);
	assert_int_equal(count_entries(out), 1);
	struct stat st;
	work_path(fx, "file-out", out);
	assert_int_equal(stat(out, &st), 0);
	assert_int_equal(st.st_size, 20);

	/* A missing parent directory. */
	work_path(fx, "no/such/out", out);
	assert_int_equal(files_get(fx->s, &cap, out, NULL, NULL, NULL), -ENOENT);
	assert_int_equal(count_entries(fx->work), before);
}

/* Which chunk test_damaged_chunk spoils, and how. */
static const size_t flip_data = 0, flip_manifest = 1, remove_data = 2;

static void test_damaged_chunk(void **state)
{
	struct fixture *fx = *state;
	size_t how = fx->param;
	make_nested(fx);
	struct capability cap;
	uint64_t size;
	assert_int_equal(put_tree(fx, "in", "tree", NULL, &cap, &size), 0);
	struct manifest m = {0};
	assert_int_equal(files_read_manifest(fx->s, &cap, &m), 0);
	assert_true(m.nchunks >= 3);
	uint8_t victim[CHUNK_ID_LEN];
	/* The last data chunk: the get fails after most of the tree exists. */
	memcpy(victim, how == flip_manifest ? cap.id : m.chunks[m.nchunks - 1].id, CHUNK_ID_LEN);
	manifest_release(&m);
	char path[PATH_MAX];
	objects_path(&fx->s->objects, victim, path, sizeof(path));
	if (how == remove_data) {
		assert_int_equal(unlink(path), 0);
	} else {
		int fd = open(path, O_RDWR);
		assert_true(fd >= 0);
		uint8_t b;
		assert_int_equal(pread(fd, &b, 1, 50), 1);
		b ^= 0x10;
		assert_int_equal(pwrite(fd, &b, 1, 50), 1);
		close(fd);
	}

	make_dir(fx, "parent");
	char out[PATH_MAX], parent[PATH_MAX];
	work_path(fx, "parent/out", out);
	work_path(fx, "parent", parent);
	struct files_failure failed = {0};
	int err = files_get(fx->s, &cap, out, NULL, NULL, &failed);
	assert_int_equal(err, how == remove_data ? SHOAL_EMISSING : SHOAL_ECORRUPT);
	assert_true(failed.set);
	assert_memory_equal(failed.id, victim, CHUNK_ID_LEN);
	/* No output and no temporary tree. */
	assert_int_equal(count_entries(parent), 0);
}

static void test_interrupted_get_leaves_nothing(void **state)
{
	struct fixture *fx = *state;
	make_nested(fx);
	struct capability cap;
	uint64_t size;
	assert_int_equal(put_tree(fx, "in", "tree", NULL, &cap, &size), 0);
	make_dir(fx, "parent");
	char out[PATH_MAX], parent[PATH_MAX];
	work_path(fx, "parent/out", out);
	work_path(fx, "parent", parent);
	atomic_int cancel = 1;
	struct progress p;
	progress_start(&p, "get", 0, 1);
	p.cancel = &cancel;
	assert_int_equal(files_get(fx->s, &cap, out, NULL, &p, NULL), -EINTR);
	assert_int_equal(count_entries(parent), 0);
}

/* ---- failing puts ---- */

static void test_file_changed_while_read(void **state)
{
	struct fixture *fx = *state;
	make_dir(fx, "in");
	make_file(fx, "in/a", 100, 1, 0644, 1600000000);
	make_file(fx, "in/b", 200, 2, 0644, 1600000000);
	make_file(fx, "in/c", 300, 3, 0644, 1600000000);
	char path[PATH_MAX];
	work_path(fx, "in", path);
	int root = open(path, O_RDONLY | O_DIRECTORY);
	assert_true(root >= 0);

	/* Each way a file can change between the scan and the read. */
	for (int change = 0; change < 4; change++) {
		struct tree_scan t;
		assert_int_equal(tree_scan(&t, root, NULL, NULL), 0);
		assert_int_equal(t.nentries, 3);
		assert_true(t.size == 600);
		work_path(fx, "in/b", path);
		if (change == 0) {
			make_file(fx, "in/b", 201, 2, 0644, 1600000000); /* grew */
		} else if (change == 1) {
			make_file(fx, "in/b", 199, 2, 0644, 1600000000); /* shrank */
		} else if (change == 2) {
			assert_int_equal(unlink(path), 0); /* became a link */
			assert_int_equal(symlink("a", path), 0);
		} else {
			assert_int_equal(unlink(path), 0); /* became a FIFO */
			assert_int_equal(mkfifo(path, 0644), 0);
		}
		struct tree_reader *r;
		assert_int_equal(tree_reader_new(&r, root, t.entries, t.nentries, NULL), 0);
		uint8_t buf[1000];
		ssize_t got;
		size_t total = 0;
		while ((got = tree_reader_read(r, buf, sizeof(buf))) > 0)
			total += (size_t)got;
		assert_int_equal(got, -EAGAIN);
		assert_string_equal(tree_reader_where(r), "b");
		assert_true(total >= 100);
		tree_reader_free(r);
		tree_scan_release(&t);
		unlink(path);
		make_file(fx, "in/b", 200, 2, 0644, 1600000000);
	}
	/* Growing while being read (after the open) is caught too. */
	struct tree_scan t;
	assert_int_equal(tree_scan(&t, root, NULL, NULL), 0);
	struct tree_reader *r;
	assert_int_equal(tree_reader_new(&r, root, t.entries, t.nentries, NULL), 0);
	uint8_t buf[150];
	assert_int_equal(tree_reader_read(r, buf, sizeof(buf)), 100); /* a */
	assert_int_equal(tree_reader_read(r, buf, sizeof(buf)), 150); /* b, opened */
	work_path(fx, "in/b", path);
	int fd = open(path, O_WRONLY | O_APPEND);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "more", 4), 4);
	close(fd);
	assert_int_equal(tree_reader_read(r, buf, sizeof(buf)), 50);
	assert_int_equal(tree_reader_read(r, buf, sizeof(buf)), -EAGAIN);
	tree_reader_free(r);
	tree_scan_release(&t);
	close(root);
}

static void test_too_deep(void **state)
{
	struct fixture *fx = *state;
	char rel[PATH_MAX] = "in";
	make_dir(fx, rel);
	for (int i = 0; i < MANIFEST_DEPTH_MAX; i++) {
		strcat(rel, "/d");
		make_dir(fx, rel);
	}
	struct capability cap;
	struct files_put_report report;
	uint64_t size = 7;
	/* MANIFEST_DEPTH_MAX levels are fine. */
	assert_int_equal(put_tree(fx, "in", "deep", &report, &cap, &size), 0);
	assert_int_equal(report.dirs, MANIFEST_DEPTH_MAX);
	char out[PATH_MAX];
	work_path(fx, "out", out);
	assert_int_equal(files_get(fx->s, &cap, out, NULL, NULL, NULL), 0);
	/* One more is refused, naming it, and binds nothing. */
	strcat(rel, "/file");
	make_file(fx, rel, 1, 1, 0644, 1600000000);
	size = 7;
	assert_int_equal(put_tree(fx, "in", "deeper", &report, &cap, &size), SHOAL_ETOOBIG);
	assert_int_equal(size, 7);
	assert_int_equal(strlen(report.where), 2 * MANIFEST_DEPTH_MAX + 4);
	struct index_name n;
	assert_int_equal(index_name_get(fx->s->index, "deeper", &n), SHOAL_ENOTFOUND);
}

static void test_unreadable_directory(void **state)
{
	struct fixture *fx = *state;
	make_dir(fx, "in");
	make_dir(fx, "in/closed");
	make_file(fx, "in/closed/x", 1, 1, 0644, 1600000000);
	set_dir_meta(fx, "in/closed", 0000, 1600000000);
	if (geteuid() != 0) {
		struct capability cap;
		struct files_put_report report;
		uint64_t size;
		assert_int_equal(put_tree(fx, "in", "closed", &report, &cap, &size), -EACCES);
		assert_string_equal(report.where, "closed");
		struct index_name n;
		assert_int_equal(index_name_get(fx->s->index, "closed", &n), SHOAL_ENOTFOUND);
		return;
	}
	/* Root reads everything: scan as nobody, in a child. */
	char path[PATH_MAX];
	work_path(fx, "in", path);
	assert_int_equal(chmod(fx->work, 0755), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int root = open(path, O_RDONLY | O_DIRECTORY);
		if (root < 0 || setresgid(65534, 65534, 65534) || setresuid(65534, 65534, 65534))
			_exit(3);
		struct tree_scan t;
		int err = tree_scan(&t, root, NULL, NULL);
		int ok = err == -EACCES && !strcmp(t.where, "closed");
		tree_scan_release(&t);
		_exit(ok ? 0 : 1);
	}
	int status = 0;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

/* ---- the writer fed unsafe paths directly ---- */

static int counted;

static int count_one(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	(void)path;
	(void)st;
	(void)type;
	counted += ftw->level > 0;
	return 0;
}

/* Entries under dir at any depth, links not followed. */
static int count_all(const char *dir)
{
	counted = 0;
	assert_int_equal(nftw(dir, count_one, 16, FTW_PHYS), 0);
	return counted;
}

/*
 * Restores a directory manifest of the directories dirs[0..ndirs) and then
 * one entry (path, kind; a file gets 5 bytes) straight through the writer,
 * as a manifest that never went through manifest_decode() would be: returns
 * what tree_writer_new() returned, having carried on with the data and
 * finish() when it accepted the manifest.
 */
static int write_direct(const char *out, const char *const *dirs, size_t ndirs, const char *path,
			enum manifest_kind kind)
{
	struct dir_entry e[4] = {0};
	assert_true(ndirs < 4);
	for (size_t i = 0; i < ndirs; i++)
		e[i] = (struct dir_entry){.path = (char *)dirs[i],
					  .kind = MANIFEST_DIRECTORY,
					  .mode = 0755,
					  .mtime = 1500000000};
	e[ndirs] = (struct dir_entry){.path = (char *)path,
				      .kind = kind,
				      .mode = 0644,
				      .mtime = 1500000000,
				      .size = kind == MANIFEST_FILE ? 5 : 0};
	struct manifest m = {.kind = MANIFEST_DIRECTORY,
			     .size = e[ndirs].size,
			     .mode = 0755,
			     .mtime = 1500000000,
			     .entries = e,
			     .nentries = ndirs + 1};
	struct tree_writer *w = NULL;
	int err = tree_writer_new(&w, &m, out, 07777);
	if (err)
		return err;
	if (!tree_writer_write(w, (const uint8_t *)"evil\n", (size_t)e[ndirs].size))
		tree_writer_finish(w);
	tree_writer_free(w);
	return 0;
}

static void test_writer_refuses_unsafe_paths(void **state)
{
	struct fixture *fx = *state;
	/* The output two levels down, so that every escape below still lands
	 * inside work (where the teardown removes it). */
	make_dir(fx, "deep");
	make_dir(fx, "deep/er");
	char out[PATH_MAX], abs_path[PATH_MAX], abs_dir[PATH_MAX];
	work_path(fx, "deep/er/out", out);
	work_path(fx, "deep/er/abs-escape", abs_path);
	work_path(fx, "deep/er/abs-dir", abs_dir);
	const char *none[] = {NULL}, *a[] = {"a"};
	const struct {
		const char *const *dirs;
		size_t ndirs;
		const char *path;
		enum manifest_kind kind;
	} cases[] = {
		{none, 0, "../escape", MANIFEST_FILE},
		{none, 0, "../escape-dir", MANIFEST_DIRECTORY},
		{none, 0, "../../../escape", MANIFEST_FILE},
		{a, 1, "a/../../escape", MANIFEST_FILE},
		{a, 1, "a/../../escape-dir", MANIFEST_DIRECTORY},
		{none, 0, abs_path, MANIFEST_FILE},
		{none, 0, abs_dir, MANIFEST_DIRECTORY},
		{none, 0, "/abs", MANIFEST_FILE},
		{none, 0, "..", MANIFEST_DIRECTORY},
		{none, 0, "..", MANIFEST_FILE},
		{none, 0, ".", MANIFEST_FILE},
		{none, 0, "", MANIFEST_FILE},
		{a, 1, "a/..", MANIFEST_FILE},
		{a, 1, "a/", MANIFEST_FILE},
		{a, 1, "a//b", MANIFEST_FILE},
		{a, 1, "a/./b", MANIFEST_FILE},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int err = write_direct(out, cases[i].dirs, cases[i].ndirs, cases[i].path,
				       cases[i].kind);
		/* Nothing written anywhere: work still holds deep/er alone. */
		int left = count_all(fx->work);
		if (left != 2)
			fail_msg("%s \"%s\": %d entries under the work directory, want 2 "
				 "(nothing written)",
				 cases[i].kind == MANIFEST_FILE ? "file" : "directory",
				 cases[i].path, left);
		if (err != SHOAL_EPROTO)
			fail_msg("%s \"%s\": tree_writer_new() returned %d (%s), want SHOAL_EPROTO",
				 cases[i].kind == MANIFEST_FILE ? "file" : "directory",
				 cases[i].path, err, shoal_strerror(err));
	}

	/* Control: the same harness restores a safe tree. */
	assert_int_equal(write_direct(out, a, 1, "a/b", MANIFEST_FILE), 0);
	char restored[PATH_MAX];
	work_path(fx, "deep/er/out/a/b", restored);
	struct stat st;
	assert_int_equal(stat(restored, &st), 0);
	assert_int_equal(st.st_size, 5);
	assert_int_equal(count_all(fx->work), 5);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

#define P(f, label, param)                                       \
	{                                                        \
#f "_" label, f, setup, teardown, (void *)&param \
	}

int main(void)
{
	log_init(LOG_LEVEL_ERROR, 0);
	const struct CMUnitTest tests[] = {
		T(test_nested_round_trip),
		T(test_empty_tree),
		T(test_skips_special_files),
		T(test_many_small_files),
		T(test_put_path_of_a_file),
		T(test_skips_own_home),
		T(test_replication_hook),
		T(test_existing_output_refused),
		P(test_damaged_chunk, "flipped_data", flip_data),
		P(test_damaged_chunk, "flipped_manifest", flip_manifest),
		P(test_damaged_chunk, "removed_data", remove_data),
		T(test_interrupted_get_leaves_nothing),
		T(test_file_changed_while_read),
		T(test_too_deep),
		T(test_unreadable_directory),
		T(test_writer_refuses_unsafe_paths),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
