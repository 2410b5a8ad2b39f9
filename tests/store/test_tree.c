/*
 * Tests for directory trees in and out of the store (src/store/tree.c through
 * files_put_path() and files_get()): a nested tree with empty directories,
 * empty files, a 5 MiB file among small ones and unusual modes round-trips
 * byte for byte with modes and mtimes (root, directories, files); symbolic
 * links, FIFOs, sockets, invalid names and the store's own home are skipped
 * and counted; 1,000 small files cost a handful of chunks and deduplicate;
 * the replication hook sees every chunk; a put over the name's tree reuses
 * the unchanged files (all of them, or none with full) and reads a file
 * whose only change shows in its ctime; an existing output is refused and
 * left alone; a damaged or missing chunk or an interrupted get leaves neither
 * output nor temporary tree; a file that changes between the scan and the
 * read, a tree too deep and an unreadable directory fail the put cleanly,
 * binding nothing; the writer, fed a manifest directly (never decoded), refuses
 * "..", absolute and other unsafe entry paths before it writes anything;
 * mtimes keep their nanoseconds, sparse files stay sparse, and a get with
 * replace puts a tree over an existing folder.
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
 * (bytes, mode, mtime), directories (mode, mtime), symbolic links (target)
 * and FIFOs (mode), and nothing else; sockets and devices in in must be
 * absent from out. Returns the number of entries compared.
 */
static int stored_kind(mode_t mode)
{
	return S_ISREG(mode) || S_ISDIR(mode) || S_ISLNK(mode) || S_ISFIFO(mode);
}

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
		if (!stored_kind(sa.st_mode)) {
			assert_false(there);
			continue;
		}
		assert_true(there);
		count++;
		if (S_ISLNK(sa.st_mode)) {
			char ta[PATH_MAX], tb[PATH_MAX];
			assert_true(S_ISLNK(sb.st_mode));
			ssize_t na = readlink(a, ta, sizeof(ta)), nb = readlink(b, tb, sizeof(tb));
			assert_true(na > 0);
			assert_int_equal(na, nb);
			assert_memory_equal(ta, tb, (size_t)na);
		} else if (S_ISFIFO(sa.st_mode)) {
			assert_true(S_ISFIFO(sb.st_mode));
			assert_int_equal(sa.st_mode & 07777, sb.st_mode & 07777);
		} else if (S_ISDIR(sa.st_mode)) {
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
		    stored_kind(sa.st_mode))
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
	struct files_put_report report = {0};
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
	assert_int_equal(m.version, MANIFEST_VERSION_LISTED);
	assert_int_equal(m.nentries, 0);
	assert_true(m.entry_count == 14);
	assert_int_equal(m.nlisting, 1);
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
	struct files_listing *l;
	assert_int_equal(files_listing_open(&l, fx->s, &m, NULL), 0);
	struct dir_entry e;
	for (size_t i = 0; i < 14; i++) {
		assert_int_equal(files_listing_next(l, &e), 0);
		assert_string_equal(e.path, order[i]);
	}
	assert_int_equal(files_listing_next(l, &e), 1);
	files_listing_free(l);
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

static void test_links_and_special_files(void **state)
{
	struct fixture *fx = *state;
	make_dir(fx, "in");
	make_dir(fx, "in/sub");
	make_dir(fx, "in/sub/empty");
	make_file(fx, "in/sub/kept", 10, 1, 0644, 1600000000);
	char path[PATH_MAX];
	work_path(fx, "in/a-link", path);
	assert_int_equal(symlink("/etc/passwd", path), 0);
	work_path(fx, "in/sub/dir-link", path);
	assert_int_equal(symlink("..", path), 0);
	work_path(fx, "in/sub/dangling", path);
	assert_int_equal(symlink("no/such/file", path), 0);
	work_path(fx, "in/sub/outside", path);
	assert_int_equal(symlink("../../../../elsewhere", path), 0);
	work_path(fx, "in/fifo", path);
	assert_int_equal(mkfifo(path, 0640), 0);
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
	/* Two names of one file, in different directories. */
	char other[PATH_MAX];
	work_path(fx, "in/sub/kept", path);
	work_path(fx, "in/also-kept", other);
	assert_int_equal(link(path, other), 0);

	struct capability cap;
	struct files_put_report report = {0};
	uint64_t size;
	assert_int_equal(put_tree(fx, "in", "special", &report, &cap, &size), 0);
	close(sock);
	assert_int_equal(report.files, 1);
	assert_int_equal(report.dirs, 2);
	assert_int_equal(report.links, 6); /* 4 symbolic, 1 FIFO, 1 hard */
	assert_int_equal(report.skipped, 3);
	assert_string_equal(report.skipped_path, "bad\x01name"); /* the first in order */
	assert_true(size == 10);				 /* the data once */
	char warning[256];
	files_put_report_warning(&report, warning, sizeof(warning));
	assert_non_null(strstr(warning, "skipped 3 entries"));
	assert_non_null(strstr(warning, "'bad\\x01name'"));

	char in[PATH_MAX], out[PATH_MAX];
	work_path(fx, "in", in);
	work_path(fx, "out", out);
	assert_int_equal(files_get(fx->s, &cap, out, NULL, NULL, NULL), 0);
	/* Links, the FIFO and the empty directory are back; the socket is not
	 * (the comparison checks), nor the invalid names (gone from in now). */
	struct stat in_st, sub_st;
	char sub[PATH_MAX];
	work_path(fx, "in/sub", sub);
	assert_int_equal(lstat(in, &in_st), 0);
	assert_int_equal(lstat(sub, &sub_st), 0);
	work_path(fx, "in/bad\x01name", path);
	assert_int_equal(unlink(path), 0);
	work_path(fx, "in/sub/trailing ", path);
	assert_int_equal(unlink(path), 0);
	/* The unlinks must not change the folders' mtimes the put saw. */
	struct timespec in_t[2] = {in_st.st_atim, in_st.st_mtim};
	struct timespec sub_t[2] = {sub_st.st_atim, sub_st.st_mtim};
	assert_int_equal(utimensat(AT_FDCWD, in, in_t, 0), 0);
	assert_int_equal(utimensat(AT_FDCWD, sub, sub_t, 0), 0);
	work_path(fx, "out/bad\x01name", path);
	assert_int_equal(access(path, F_OK), -1);
	assert_int_equal(assert_same_tree(in, out), 9);
	/* The hard link is one inode again; its first name in the listing is
	 * "also-kept" (sorted first), the later one links to it. */
	struct stat s1, s2;
	work_path(fx, "out/also-kept", path);
	assert_int_equal(lstat(path, &s1), 0);
	work_path(fx, "out/sub/kept", path);
	assert_int_equal(lstat(path, &s2), 0);
	assert_true(s1.st_ino == s2.st_ino);
	assert_int_equal(s2.st_nlink, 2);

	/* A report without skips warns about nothing. */
	memset(&report, 0, sizeof(report));
	files_put_report_warning(&report, warning, sizeof(warning));
	assert_string_equal(warning, "");
}

/* A listing of many entries spans several listing chunks and streams. */
static void test_listing_spans_chunks(void **state)
{
	struct fixture *fx = *state;
	make_dir(fx, "in");
	char name[300], rel[400];
	memset(name, 'n', 200);
	for (int d = 0; d < 20; d++) {
		snprintf(rel, sizeof(rel), "in/d%02d", d);
		make_dir(fx, rel);
		for (int f = 0; f < 400; f++) {
			snprintf(name + 200, 100, "%04d", f);
			snprintf(rel, sizeof(rel), "in/d%02d/%s", d, name);
			make_file(fx, rel, (size_t)(f % 3), (uint64_t)(d * 1000 + f), 0644,
				  1600000000);
		}
	}
	struct capability cap;
	struct files_put_report report = {0};
	uint64_t size;
	assert_int_equal(put_tree(fx, "in", "wide", &report, &cap, &size), 0);
	assert_int_equal(report.files, 8000);
	struct manifest m = {0};
	assert_int_equal(files_read_manifest(fx->s, &cap, &m), 0);
	assert_true(m.entry_count == 8020);
	/* About 1.8 MB of records: more than one chunk of at most 1 MiB. */
	assert_true(m.nlisting >= 2);
	for (size_t i = 0; i < m.nlisting; i++)
		assert_true(m.listing[i].size <= MANIFEST_LISTING_CHUNK_MAX);
	manifest_release(&m);
	char in[PATH_MAX], out[PATH_MAX];
	work_path(fx, "in", in);
	work_path(fx, "out", out);
	assert_int_equal(files_get(fx->s, &cap, out, NULL, NULL, NULL), 0);
	assert_int_equal(assert_same_tree(in, out), 8020);
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
	struct files_put_report report = {0};
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
	struct files_put_report report = {0};
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

/* ---- incremental puts ---- */

static void test_incremental(void **state)
{
	struct fixture *fx = *state;
	uint64_t want = make_nested(fx);
	struct capability cap1, cap2, cap3;
	struct files_put_report report = {0};
	uint64_t size = 0;
	assert_int_equal(put_tree(fx, "in", "tree", &report, &cap1, &size), 0);
	assert_int_equal(report.reused, 0);

	/* Unchanged: every file (the empty ones too), every byte, and so the
	 * same capability. */
	report = (struct files_put_report){0};
	assert_int_equal(put_tree(fx, "in", "tree", &report, &cap2, &size), 0);
	assert_int_equal(report.reused, 9);
	assert_true(report.reused_bytes == want);
	assert_memory_equal(cap1.id, cap2.id, CHUNK_ID_LEN);
	assert_true(size == want);

	/* full reads everything. */
	report = (struct files_put_report){.full = 1};
	assert_int_equal(put_tree(fx, "in", "tree", &report, &cap2, &size), 0);
	assert_int_equal(report.reused, 0);
	assert_true(report.reused_bytes == 0);

	/* big.bin rewritten at its size and mtime: only its ctime moved, and
	 * its new bytes are what comes back. */
	make_file(fx, "in/big.bin", 5 * MIB, 55, 0640, 1500000004);
	report = (struct files_put_report){0};
	assert_int_equal(put_tree(fx, "in", "tree", &report, &cap3, &size), 0);
	assert_true(report.reused < 9);
	assert_true(report.reused_bytes < want - 5 * MIB);
	assert_memory_not_equal(cap1.id, cap3.id, CHUNK_ID_LEN);
	char in[PATH_MAX], out[PATH_MAX];
	work_path(fx, "in", in);
	work_path(fx, "out", out);
	assert_int_equal(files_get(fx->s, &cap3, out, NULL, NULL, NULL), 0);
	assert_int_equal(assert_same_tree(in, out), 14);
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

/* Reads the tree at root through a walk until the reader fails or ends. */
static ssize_t read_tree(int root, size_t bufsize, const char *change, int how, size_t *total,
			 char *where)
{
	struct tree_walk *w;
	struct tree_reader *r;
	assert_int_equal(tree_walk_new(&w, root, NULL, NULL), 0);
	assert_int_equal(tree_reader_new(&r, w, NULL, NULL, NULL), 0);
	uint8_t buf[1000];
	ssize_t got;
	*total = 0;
	int changed = 0;
	while ((got = tree_reader_read(r, buf, bufsize)) > 0) {
		*total += (size_t)got;
		/* Once b is open (a is 100 bytes), change it. */
		if (how >= 0 && !changed && *total > 100) {
			changed = 1;
			if (how == 0) {
				int fd = open(change, O_WRONLY | O_APPEND);
				assert_true(fd >= 0);
				assert_int_equal(write(fd, "more", 4), 4);
				close(fd);
			} else {
				assert_int_equal(truncate(change, 120), 0);
			}
		}
	}
	snprintf(where, PATH_MAX, "%s", tree_reader_where(r));
	tree_reader_free(r);
	tree_walk_free(w);
	return got;
}

static void test_file_changed_while_read(void **state)
{
	struct fixture *fx = *state;
	make_dir(fx, "in");
	make_file(fx, "in/a", 100, 1, 0644, 1600000000);
	make_file(fx, "in/b", 200, 2, 0644, 1600000000);
	make_file(fx, "in/c", 300, 3, 0644, 1600000000);
	char path[PATH_MAX], where[PATH_MAX];
	work_path(fx, "in", path);
	int root = open(path, O_RDONLY | O_DIRECTORY);
	assert_true(root >= 0);
	work_path(fx, "in/b", path);
	/* Unchanged, the stream is the three files. */
	size_t total;
	assert_int_equal(read_tree(root, 50, path, -1, &total, where), 0);
	assert_int_equal(total, 600);
	/* Growing or shrinking while being read (after the open) is caught. */
	for (int how = 0; how < 2; how++) {
		assert_int_equal(read_tree(root, 50, path, how, &total, where), -EAGAIN);
		assert_string_equal(where, "b");
		make_file(fx, "in/b", 200, 2, 0644, 1600000000);
	}
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
	struct files_put_report report = {0};
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
		struct files_put_report report = {0};
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
		struct tree_walk *w;
		struct dir_entry e;
		int err = tree_walk_new(&w, root, NULL, NULL);
		while (!err)
			err = tree_walk_next(w, &e);
		int ok = err == -EACCES && !strcmp(tree_walk_stats(w)->where, "closed");
		tree_walk_free(w);
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
	int err = tree_writer_new(&w, &m, NULL, out, 07777, NULL, 0);
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

/* Restores entries e[0..n) through the writer (files get "evil!" each, in
 * one stream) and returns the first error of new, write or finish. */
static int write_entries(const char *out, struct dir_entry *e, size_t n)
{
	uint64_t size = 0;
	for (size_t i = 0; i < n; i++)
		size += e[i].size;
	struct manifest m = {.kind = MANIFEST_DIRECTORY,
			     .size = size,
			     .mode = 0755,
			     .mtime = 1500000000,
			     .entries = e,
			     .nentries = n};
	struct tree_writer *w = NULL;
	int err = tree_writer_new(&w, &m, NULL, out, 07777, NULL, 0);
	for (uint64_t i = 0; !err && i < size; i++)
		err = tree_writer_write(w, (const uint8_t *)"!", 1);
	if (!err)
		err = tree_writer_finish(w);
	tree_writer_free(w);
	return err;
}

static void test_writer_never_follows_links(void **state)
{
	struct fixture *fx = *state;
	make_dir(fx, "outside");
	make_file(fx, "outside/target", 3, 1, 0644, 1600000000);
	char out[PATH_MAX], outside[PATH_MAX], target[PATH_MAX];
	work_path(fx, "out", out);
	work_path(fx, "outside", outside);
	work_path(fx, "outside/target", target);
#define F(p)                                                              \
	{                                                                 \
		.path = p, .kind = MANIFEST_FILE, .mode = 0644, .size = 1 \
	}
#define D(p)                                                        \
	{                                                           \
		.path = p, .kind = MANIFEST_DIRECTORY, .mode = 0755 \
	}
#define L(p, t)                                                                \
	{                                                                      \
		.path = p, .kind = MANIFEST_SYMLINK, .mode = 0777, .target = t \
	}
#define H(p, to)                                                               \
	{                                                                      \
		.path = p, .kind = MANIFEST_HARDLINK, .mode = 0644, .link = to \
	}
	struct {
		const char *what;
		struct dir_entry e[3];
		size_t n;
	} cases[] = {
		{"a file through a link to an absolute directory", {L("a", outside), F("a/x")}, 2},
		{"a directory through a link", {L("a", outside), D("a/d")}, 2},
		{"a link through a link", {L("a", outside), L("a/l", "x")}, 2},
		{"a file through a relative link", {D("d"), L("d/up", "../.."), F("d/up/x")}, 3},
		{"a hard link through a link", {L("a", outside), H("h", "a/target")}, 2},
		{"a hard link to a link", {L("a", target), H("h", "a")}, 2},
		{"a hard link to a directory", {D("d"), H("h", "d")}, 2},
		{"a hard link to a later entry", {H("h", "z"), F("z")}, 2},
		{"a hard link to nothing", {H("h", "nowhere")}, 1},
		{"a link over a file", {F("a"), L("a", outside)}, 2},
		{"a file over a link", {L("a", target), F("a")}, 2},
		{"a link with no target", {L("a", ""), F("b")}, 2},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int err = write_entries(out, cases[i].e, cases[i].n);
		if (err != SHOAL_EPROTO)
			fail_msg("%s: %d (%s), want SHOAL_EPROTO", cases[i].what, err,
				 shoal_strerror(err));
		/* Nothing written: work holds outside/target alone, unchanged. */
		if (count_all(fx->work) != 2)
			fail_msg("%s: something was written", cases[i].what);
		struct stat st;
		assert_int_equal(stat(target, &st), 0);
		assert_int_equal(st.st_size, 3);
		assert_int_equal(st.st_nlink, 1);
	}
	/* Control: links, a FIFO and a hard link restore as such. */
	struct dir_entry good[] = {D("d"),
				   F("d/f"),
				   H("d/g", "d/f"),
				   L("d/l", "../x/../y"),
				   {.path = "p", .kind = MANIFEST_FIFO, .mode = 0600}};
	assert_int_equal(write_entries(out, good, 5), 0);
	struct stat st, st2;
	work_path(fx, "out/d/f", target);
	assert_int_equal(lstat(target, &st), 0);
	work_path(fx, "out/d/g", target);
	assert_int_equal(lstat(target, &st2), 0);
	assert_true(st.st_ino == st2.st_ino);
	work_path(fx, "out/d/l", target);
	char buf[64] = {0};
	assert_int_equal(readlink(target, buf, sizeof(buf) - 1), 9);
	assert_string_equal(buf, "../x/../y");
	work_path(fx, "out/p", target);
	assert_int_equal(lstat(target, &st), 0);
	assert_true(S_ISFIFO(st.st_mode));
#undef F
#undef D
#undef L
#undef H
}

/* Bytes the file at path has allocated on disk. */
static uint64_t allocated(const char *path)
{
	struct stat st;
	assert_int_equal(lstat(path, &st), 0);
	return (uint64_t)st.st_blocks * 512;
}

/* Sets work/rel's mtime to sec.ns, not following a link. */
static void set_mtime_ns(const struct fixture *fx, const char *rel, time_t sec, long ns)
{
	char path[PATH_MAX];
	work_path(fx, rel, path);
	struct timespec times[2] = {{.tv_sec = sec, .tv_nsec = ns}, {.tv_sec = sec, .tv_nsec = ns}};
	assert_int_equal(utimensat(AT_FDCWD, path, times, AT_SYMLINK_NOFOLLOW), 0);
}

static void assert_mtime_ns(const struct fixture *fx, const char *rel, time_t sec, long ns)
{
	char path[PATH_MAX];
	work_path(fx, rel, path);
	struct stat st;
	assert_int_equal(lstat(path, &st), 0);
	if (st.st_mtim.tv_sec != sec || st.st_mtim.tv_nsec != ns)
		fail_msg("%s: mtime %lld.%09ld, want %lld.%09ld", rel, (long long)st.st_mtim.tv_sec,
			 st.st_mtim.tv_nsec, (long long)sec, ns);
}

/*
 * Both branches' features at once in a version 2 tree: mtimes keep their
 * nanoseconds through the listing records for files, directories, links,
 * FIFOs and the root; a sparse file and a file of written zeros are read
 * only where data is and come back with holes; and a get with replace puts
 * the tree over an existing folder, leaving no temporary behind.
 */
static void test_sparse_ns_and_replace(void **state)
{
	struct fixture *fx = *state;
	make_dir(fx, "in");
	make_dir(fx, "in/sub");
	char path[PATH_MAX];
	/* 64 MiB holding 1 MiB of data at 10 MiB. */
	work_path(fx, "in/sparse", path);
	int fd = open(path, O_RDWR | O_CREAT | O_EXCL, 0644);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, (off_t)(64 * MIB)), 0);
	uint8_t *data = malloc(MIB);
	assert_non_null(data);
	uint64_t seed = 42;
	for (size_t i = 0; i < MIB / 8; i++) {
		uint64_t v = rng_next(&seed);
		memcpy(data + 8 * i, &v, 8);
	}
	assert_int_equal(pwrite(fd, data, MIB, (off_t)(10 * MIB)), (ssize_t)MIB);
	close(fd);
	/* 8 MiB of zeros written out, then a little data. */
	work_path(fx, "in/sub/zeros", path);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
	assert_true(fd >= 0);
	memset(data, 0, MIB);
	for (int i = 0; i < 8; i++)
		assert_int_equal(write(fd, data, MIB), (ssize_t)MIB);
	assert_int_equal(write(fd, "tail", 4), 4);
	close(fd);
	free(data);
	work_path(fx, "in/sub/link", path);
	assert_int_equal(symlink("../sparse", path), 0);
	work_path(fx, "in/fifo", path);
	assert_int_equal(mkfifo(path, 0640), 0);
	set_mtime_ns(fx, "in/sparse", 1600000000, 1);
	set_mtime_ns(fx, "in/sub/zeros", 1600000001, 999999999);
	set_mtime_ns(fx, "in/sub/link", 1600000002, 123456789);
	set_mtime_ns(fx, "in/fifo", 1600000003, 500000000);
	set_mtime_ns(fx, "in/sub", 1600000004, 42);
	set_mtime_ns(fx, "in", 1600000005, 777);
	char in[PATH_MAX];
	work_path(fx, "in/sparse", path);
	int holes = allocated(path) < 4 * MIB; /* the file system keeps holes */
	work_path(fx, "in", in);

	struct capability cap;
	uint64_t size;
	uint64_t objects = indexed_chunks(fx);
	assert_int_equal(put_tree(fx, "in", "mixed", NULL, &cap, &size), 0);
	assert_true(size == 64 * MIB + 8 * MIB + 4);
	/* Zeros cost a chunk per size, not one per chunk of zeros. */
	assert_true(indexed_chunks(fx) - objects < 24);

	/* The listing carries the nanoseconds. */
	struct manifest m = {0};
	assert_int_equal(files_read_manifest(fx->s, &cap, &m), 0);
	assert_int_equal(m.version, MANIFEST_VERSION_LISTED);
	assert_int_equal(m.mtime_ns, 777);
	struct files_listing *l;
	assert_int_equal(files_listing_open(&l, fx->s, &m, NULL), 0);
	struct dir_entry e;
	assert_int_equal(files_listing_next(l, &e), 0);
	assert_string_equal(e.path, "fifo");
	assert_int_equal(e.mtime_ns, 500000000);
	files_listing_free(l);
	manifest_release(&m);

	/* The summary counts a listed tree's entries. */
	struct files_summary sum;
	assert_int_equal(files_summarize(fx->s, &cap, &sum), 0);
	assert_true(sum.directory);
	assert_int_equal(sum.files, 2);
	assert_int_equal(sum.dirs, 1);

	/* Over an existing folder: refused without replace, replaced with. */
	make_dir(fx, "out");
	make_file(fx, "out/old", 10, 1, 0644, 1600000000);
	char out[PATH_MAX];
	work_path(fx, "out", out);
	assert_int_equal(files_get(fx->s, &cap, out, NULL, NULL, NULL), SHOAL_EEXIST);
	const struct files_restore force = {.mode_keep = 07777, .replace = 1};
	assert_int_equal(files_get(fx->s, &cap, out, &force, NULL, NULL), 0);
	assert_int_equal(assert_same_tree(in, out), 5);
	work_path(fx, "out/old", path);
	assert_int_equal(access(path, F_OK), -1);
	assert_int_equal(count_entries(fx->work), 2); /* in and out: no temporary */
	char notes[PATH_MAX];
	assert_true(snprintf(notes, sizeof(notes), "%s/restores", fx->home) < PATH_MAX);
	DIR *d = opendir(notes);
	if (d) {
		closedir(d);
		assert_int_equal(count_entries(notes), 0);
	}

	assert_mtime_ns(fx, "out/sparse", 1600000000, 1);
	assert_mtime_ns(fx, "out/sub/zeros", 1600000001, 999999999);
	assert_mtime_ns(fx, "out/sub/link", 1600000002, 123456789);
	assert_mtime_ns(fx, "out/fifo", 1600000003, 500000000);
	assert_mtime_ns(fx, "out/sub", 1600000004, 42);
	assert_mtime_ns(fx, "out", 1600000005, 777);
	if (holes) {
		work_path(fx, "out/sparse", path);
		assert_true(allocated(path) <= 2 * MIB);
		work_path(fx, "out/sub/zeros", path);
		assert_true(allocated(path) <= 64 * 1024);
	}
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
		T(test_links_and_special_files),
		T(test_listing_spans_chunks),
		T(test_many_small_files),
		T(test_put_path_of_a_file),
		T(test_skips_own_home),
		T(test_replication_hook),
		T(test_incremental),
		T(test_existing_output_refused),
		P(test_damaged_chunk, "flipped_data", flip_data),
		P(test_damaged_chunk, "flipped_manifest", flip_manifest),
		P(test_damaged_chunk, "removed_data", remove_data),
		T(test_interrupted_get_leaves_nothing),
		T(test_file_changed_while_read),
		T(test_too_deep),
		T(test_unreadable_directory),
		T(test_writer_refuses_unsafe_paths),
		T(test_writer_never_follows_links),
		T(test_sparse_ns_and_replace),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
