/*
 * Tests for src/util/fsutil.c: atomic whole-file writes (contents and mode
 * replaced, no temp file left behind, on success or failure; the temp file
 * elsewhere, direct I/O, and the syncs left to the caller, as the fault hook
 * counts them), bounded whole-file reads, recursive mkdir, unique temp files,
 * path_dirname, and the full-transfer read/write helpers, including
 * read_in_full on a pipe that can only deliver a little at a time and one
 * that a signal interrupts; the sparse helpers (is_zero, pwrite_sparse
 * leaving blocks of zeros as holes, sparse_read giving a file's bytes
 * without reading its holes, also past the size it began with) and
 * remove_tree_at. Each test runs in its own mkdtemp directory under
 * /tmp, removed afterwards.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "../fixture.h"
#include "util/buf.h"
#include "util/error.h"
#include "util/fault.h"
#include "util/fsutil.h"
#include "util/interrupt.h"

struct fixture {
	char dir[TEST_DIR_SIZE];
};

static int setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));
	if (!fx)
		return -1;
	if (test_dir_make(fx->dir, "fsutil")) {
		free(fx);
		return -1;
	}
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *fx = *state;
	int err = test_dir_remove(fx->dir);
	free(fx);
	return err;
}

/* Writes "<dir>/<name>" into out (PATH_MAX bytes). */
static void join(const char *dir, const char *name, char *out)
{
	int n = snprintf(out, PATH_MAX, "%s/%s", dir, name);
	assert_true(n > 0 && n < PATH_MAX);
}

/* Returns the number of entries in dir (without "." and ".."); when only is
 * not NULL, fails the test on any entry with another name. */
static int count_entries(const char *dir, const char *only)
{
	DIR *d = opendir(dir);
	assert_non_null(d);
	int n = 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		if (only && strcmp(e->d_name, only) != 0)
			fail_msg("unexpected entry \"%s\" in %s", e->d_name, dir);
		n++;
	}
	closedir(d);
	return n;
}

static mode_t file_mode(const char *path)
{
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	return st.st_mode & 07777;
}

static void assert_file_is(const char *path, const void *p, size_t n)
{
	struct buf b = BUF_INIT;
	assert_int_equal(read_file(path, &b, n + 1), 0);
	assert_int_equal(b.len, n);
	if (n)
		assert_memory_equal(b.data, p, n);
	buf_release(&b);
}

static void test_write_file_atomic_creates_and_replaces(void **state)
{
	struct fixture *fx = *state;
	char path[PATH_MAX];

	join(fx->dir, "file", path);
	assert_int_equal(write_file_atomic(path, "first version\n", 14, 0600), 0);
	assert_file_is(path, "first version\n", 14);
	assert_int_equal(file_mode(path), 0600);
	assert_int_equal(count_entries(fx->dir, "file"), 1);

	/* Shorter contents and a different mode: nothing of the old file stays. */
	assert_int_equal(write_file_atomic(path, "v2", 2, 0644), 0);
	assert_file_is(path, "v2", 2);
	assert_int_equal(file_mode(path), 0644);
	assert_int_equal(count_entries(fx->dir, "file"), 1);

	/* The mode is set exactly, whatever the umask would have allowed. */
	mode_t old = umask(077);
	assert_int_equal(write_file_atomic(path, "v3", 2, 0664), 0);
	umask(old);
	assert_int_equal(file_mode(path), 0664);

	/* Empty contents. */
	assert_int_equal(write_file_atomic(path, "", 0, 0600), 0);
	assert_file_is(path, "", 0);
	assert_int_equal(count_entries(fx->dir, "file"), 1);
}

static void test_write_file_atomic_large(void **state)
{
	struct fixture *fx = *state;
	char path[PATH_MAX];
	size_t n = (1u << 20) + 7;
	uint8_t *data = malloc(n);
	assert_non_null(data);
	for (size_t i = 0; i < n; i++)
		data[i] = (uint8_t)(i * 7 + (i >> 8));

	join(fx->dir, "big", path);
	assert_int_equal(write_file_atomic(path, data, n, 0600), 0);
	assert_file_is(path, data, n);
	assert_int_equal(count_entries(fx->dir, "big"), 1);
	free(data);
}

static void test_write_file_atomic_failure_leaves_nothing(void **state)
{
	struct fixture *fx = *state;
	char path[PATH_MAX], sub[PATH_MAX];

	/* The target's directory does not exist. */
	join(fx->dir, "missing/file", path);
	assert_int_equal(write_file_atomic(path, "x", 1, 0600), -ENOENT);
	assert_int_equal(count_entries(fx->dir, NULL), 0);

	/* The target is a non-empty directory: the rename fails, and the temp
	 * file must be cleaned up. */
	join(fx->dir, "dir", path);
	assert_int_equal(mkdir(path, 0700), 0);
	join(path, "inside", sub);
	assert_int_equal(write_file_atomic(sub, "y", 1, 0600), 0);
	int err = write_file_atomic(path, "x", 1, 0600);
	assert_true(err < 0);
	assert_int_equal(count_entries(fx->dir, "dir"), 1);
	assert_int_equal(count_entries(path, "inside"), 1);
}

static void test_write_file_atomic_in(void **state)
{
	struct fixture *fx = *state;
	char tmpdir[PATH_MAX], path[PATH_MAX];
	join(fx->dir, "tmp", tmpdir);
	assert_int_equal(mkdir(tmpdir, 0700), 0);
	join(fx->dir, "obj", path);

	/* Direct I/O: an aligned buffer with room up to whole blocks, and a
	 * size that is not a whole number of blocks; the file gets exactly n
	 * bytes (or ordinary writes, where /tmp has no direct I/O). */
	size_t n = 3 * DIRECT_IO_ALIGN + 123;
	uint8_t *data = aligned_alloc(DIRECT_IO_ALIGN, 4 * DIRECT_IO_ALIGN);
	assert_non_null(data);
	for (size_t i = 0; i < 4 * DIRECT_IO_ALIGN; i++)
		data[i] = (uint8_t)(i * 13 + 1);
	assert_int_equal(write_file_atomic_in(tmpdir, "", path, data, n, 0400, ATOMIC_DIRECT), 0);
	assert_file_is(path, data, n);
	assert_int_equal(file_mode(path), 0400);
	assert_int_equal(count_entries(tmpdir, NULL), 0);
	assert_int_equal(unlink(path), 0);

	/* The syncs left to the caller are not done, so the fault hook does
	 * not count them: only the rename is. */
	assert_int_equal(fault_configure("fsync:1,rename:2"), 0);
	assert_int_equal(write_file_atomic_in(tmpdir, "p-", path, data, 100, 0600,
					      ATOMIC_NOSYNC | ATOMIC_NODIRSYNC),
			 0);
	assert_int_equal(fault_count(FAULT_FSYNC), 0);
	assert_int_equal(fault_count(FAULT_RENAME), 1);
	assert_file_is(path, data, 100);

	/* A failing rename leaves path as it was and no temp file. */
	assert_int_equal(write_file_atomic_in(tmpdir, "p-", path, "new", 3, 0600, ATOMIC_NODIRSYNC),
			 -EIO);
	assert_file_is(path, data, 100);
	assert_int_equal(count_entries(tmpdir, NULL), 0);

	/* Without flags: the file's fsync, then the directory's, are counted
	 * (and the first fails the write before the rename). */
	assert_int_equal(fault_configure("fsync:1"), 0);
	assert_int_equal(write_file_atomic_in(tmpdir, "p-", path, "new", 3, 0600, 0), -EIO);
	assert_int_equal(fault_count(FAULT_FSYNC), 1);
	assert_file_is(path, data, 100);
	assert_int_equal(count_entries(tmpdir, NULL), 0);
	assert_int_equal(write_file_atomic_in(tmpdir, "p-", path, "new", 3, 0600, 0), 0);
	assert_int_equal(fault_count(FAULT_FSYNC), 3);
	assert_file_is(path, "new", 3);
	assert_int_equal(fault_configure(NULL), 0);
	free(data);
}

static void test_read_file_limits(void **state)
{
	struct fixture *fx = *state;
	char path[PATH_MAX], empty[PATH_MAX], missing[PATH_MAX];
	struct buf b = BUF_INIT;

	join(fx->dir, "ten", path);
	assert_int_equal(write_file_atomic(path, "0123456789", 10, 0600), 0);

	/* Exactly max bytes is fine, and read_file appends. */
	buf_addstr(&b, "prefix:");
	assert_int_equal(read_file(path, &b, 10), 0);
	assert_string_equal(buf_str(&b), "prefix:0123456789");

	/* One byte over: SHOAL_ETOOBIG and the buffer is untouched. */
	assert_int_equal(read_file(path, &b, 9), SHOAL_ETOOBIG);
	assert_string_equal(buf_str(&b), "prefix:0123456789");
	assert_int_equal(read_file(path, &b, 0), SHOAL_ETOOBIG);
	assert_int_equal(b.len, 17);

	join(fx->dir, "empty", empty);
	assert_int_equal(write_file_atomic(empty, "", 0, 0600), 0);
	assert_int_equal(read_file(empty, &b, 0), 0);
	assert_int_equal(b.len, 17);

	join(fx->dir, "missing", missing);
	assert_int_equal(read_file(missing, &b, 100), -ENOENT);
	/* Not a regular file. */
	assert_true(read_file(fx->dir, &b, 100) < 0);
	assert_true(read_file("/dev/zero", &b, 100) < 0);
	assert_int_equal(b.len, 17);
	buf_release(&b);
}

static void test_mkdir_p(void **state)
{
	struct fixture *fx = *state;
	char path[PATH_MAX], file[PATH_MAX], under_file[PATH_MAX];
	struct stat st;

	join(fx->dir, "a/b/c/d", path);
	assert_int_equal(mkdir_p(path, 0700), 0);
	assert_int_equal(stat(path, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(st.st_mode & 0777, 0700);

	/* Existing directories, the whole path or a prefix, are fine. */
	assert_int_equal(mkdir_p(path, 0700), 0);
	join(fx->dir, "a/b", path);
	assert_int_equal(mkdir_p(path, 0700), 0);
	assert_int_equal(mkdir_p(fx->dir, 0700), 0);

	/* A trailing slash and doubled slashes. */
	join(fx->dir, "x//y/", path);
	assert_int_equal(mkdir_p(path, 0700), 0);
	join(fx->dir, "x/y", path);
	assert_int_equal(stat(path, &st), 0);
	assert_true(S_ISDIR(st.st_mode));

	/* A file in the way, at the end or in the middle. */
	join(fx->dir, "file", file);
	assert_int_equal(write_file_atomic(file, "f", 1, 0600), 0);
	assert_int_equal(mkdir_p(file, 0700), -ENOTDIR);
	join(fx->dir, "file/sub", under_file);
	assert_int_equal(mkdir_p(under_file, 0700), -ENOTDIR);

	assert_true(mkdir_p("", 0700) < 0);
}

static void test_create_temp_file_unique(void **state)
{
	struct fixture *fx = *state;
	enum { N = 200 };
	static char paths[N][PATH_MAX];
	char prefix[PATH_MAX];

	join(fx->dir, "tmp-", prefix);
	for (int i = 0; i < N; i++) {
		int fd = create_temp_file(fx->dir, "tmp-", 0600, paths[i], PATH_MAX);
		assert_true(fd >= 0);
		assert_int_equal(strncmp(paths[i], prefix, strlen(prefix)), 0);
		assert_true(strlen(paths[i]) > strlen(prefix));
		assert_int_equal(file_mode(paths[i]), 0600);
		/* The fd is open for writing on the named file. */
		char text[16];
		int n = snprintf(text, sizeof(text), "%d", i);
		assert_int_equal(write_in_full(fd, text, (size_t)n), 0);
		assert_int_equal(close(fd), 0);
		assert_file_is(paths[i], text, (size_t)n);
		for (int j = 0; j < i; j++)
			assert_string_not_equal(paths[i], paths[j]);
	}
	assert_int_equal(count_entries(fx->dir, NULL), N);
}

static void test_create_temp_file_errors(void **state)
{
	struct fixture *fx = *state;
	char missing[PATH_MAX], path[PATH_MAX], small[16];

	join(fx->dir, "missing", missing);
	assert_int_equal(create_temp_file(missing, "t", 0600, path, sizeof(path)), -ENOENT);
	assert_int_equal(create_temp_file(fx->dir, "t", 0600, small, sizeof(small)), -ENAMETOOLONG);
	assert_int_equal(count_entries(fx->dir, NULL), 0);
}

static void test_path_dirname(void **state)
{
	(void)state;
	const struct {
		const char *path, *dir;
	} cases[] = {
		{"a/b/c", "a/b"},
		{"/a/b/c", "/a/b"},
		{"/a", "/"},
		{"/", "/"},
		{"file", "."},
		{"", "."},
		{"./file", "."},
		{"../x/y", "../x"},
		{"/tmp/shoal-test/.tmp-0123", "/tmp/shoal-test"},
	};
	char out[PATH_MAX];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		memset(out, '#', sizeof(out));
		path_dirname(cases[i].path, out, sizeof(out));
		assert_string_equal(out, cases[i].dir);
	}

	/* A short output buffer gets a truncated, terminated prefix. */
	char small[4];
	memset(small, '#', sizeof(small));
	path_dirname("abcdef/g", small, sizeof(small));
	assert_string_equal(small, "abc");
}

struct pipe_writer {
	int fd;
	const uint8_t *data;
	size_t n;
	int err;
};

/* Writes the data in odd-sized pieces, then closes the pipe. */
static void *pipe_writer_main(void *arg)
{
	struct pipe_writer *w = arg;
	size_t done = 0;
	for (size_t i = 0; done < w->n && !w->err; i++) {
		size_t piece = 1 + (i * 7919) % 5003;
		if (piece > w->n - done)
			piece = w->n - done;
		w->err = write_in_full(w->fd, w->data + done, piece);
		done += piece;
	}
	close(w->fd);
	return NULL;
}

static void test_read_in_full_pipe(void **state)
{
	(void)state;
	/* Far more than a pipe holds (64 KiB), so the reader must see many short
	 * reads whatever the scheduling. */
	size_t n = 1u << 20;
	uint8_t *data = malloc(n), *got = malloc(n + 100);
	assert_non_null(data);
	assert_non_null(got);
	for (size_t i = 0; i < n; i++)
		data[i] = (uint8_t)(i ^ (i >> 9));

	int fds[2];
	assert_int_equal(pipe(fds), 0);
	struct pipe_writer w = {.fd = fds[1], .data = data, .n = n};
	pthread_t thread;
	assert_int_equal(pthread_create(&thread, NULL, pipe_writer_main, &w), 0);

	/* First an exact amount, then ask for more than is left: the rest is
	 * returned at end of file, short. */
	assert_int_equal(read_in_full(fds[0], got, 100000), 100000);
	assert_int_equal(read_in_full(fds[0], got + 100000, n), n - 100000);
	assert_int_equal(pthread_join(thread, NULL), 0);
	assert_int_equal(w.err, 0);
	assert_memory_equal(got, data, n);

	/* At end of file. */
	assert_int_equal(read_in_full(fds[0], got, 10), 0);
	assert_int_equal(read_in_full(fds[0], got, 0), 0);
	close(fds[0]);

	assert_int_equal(read_in_full(-1, got, 10), -EBADF);
	free(data);
	free(got);
}

struct signaller {
	pthread_t target;
	int sig;
	int times;    /* signals to send, a few milliseconds apart */
	int write_fd; /* then, unless stopped, "12345678" is written here */
	atomic_int stop;
};

/* Signals the target thread until stopped or s->times signals are sent (so
 * that one arrives while the target waits in read()), then ends that wait by
 * writing 8 bytes. */
static void *signaller_main(void *arg)
{
	struct signaller *s = arg;
	for (int i = 0; !s->stop && i < s->times; i++) {
		pthread_kill(s->target, s->sig);
		usleep(5000);
	}
	if (!s->stop && write_in_full(s->write_fd, "12345678", 8))
		abort();
	return NULL;
}

static void on_usr1(int sig)
{
	(void)sig;
}

static void test_read_in_full_signals(void **state)
{
	(void)state;
	int fds[2];
	uint8_t got[8];
	assert_int_equal(pipe(fds), 0);

	/* A signal that is not a request to stop is retried: the read still
	 * gets the bytes written after it. */
	struct sigaction sa = {.sa_handler = on_usr1}; /* without SA_RESTART */
	assert_int_equal(sigaction(SIGUSR1, &sa, NULL), 0);
	struct signaller s = {
		.target = pthread_self(), .sig = SIGUSR1, .times = 10, .write_fd = fds[1]};
	pthread_t thread;
	assert_int_equal(pthread_create(&thread, NULL, signaller_main, &s), 0);
	assert_int_equal(read_in_full(fds[0], got, 8), 8);
	assert_int_equal(pthread_join(thread, NULL), 0);
	assert_memory_equal(got, "12345678", 8);

	/* Ctrl-C (here SIGINT, through interrupt_install()) ends a read that
	 * would otherwise wait for the bytes written after two seconds. The
	 * flag it sets stays for the rest of the process: this test runs last. */
	interrupt_install();
	s = (struct signaller){
		.target = pthread_self(), .sig = SIGINT, .times = 400, .write_fd = fds[1]};
	assert_int_equal(pthread_create(&thread, NULL, signaller_main, &s), 0);
	assert_int_equal(read_in_full(fds[0], got, 8), -EINTR);
	s.stop = 1;
	assert_int_equal(pthread_join(thread, NULL), 0);
	assert_true(interrupt_pending());
	close(fds[0]);
	close(fds[1]);
}

static void test_pread_pwrite(void **state)
{
	struct fixture *fx = *state;
	char path[PATH_MAX];
	uint8_t got[16];

	join(fx->dir, "p", path);
	int fd = open(path, O_RDWR | O_CREAT | O_EXCL, 0600);
	assert_true(fd >= 0);
	assert_int_equal(pwrite_in_full(fd, "world", 5, 6), 0);
	assert_int_equal(pwrite_in_full(fd, "hello ", 6, 0), 0);
	assert_int_equal(pread_exact(fd, got, 11, 0), 0);
	assert_memory_equal(got, "hello world", 11);
	assert_int_equal(pread_exact(fd, got, 3, 8), 0);
	assert_memory_equal(got, "rld", 3);
	/* Past the end of the file: corrupt, not a short success. */
	assert_int_equal(pread_exact(fd, got, 4, 8), SHOAL_ECORRUPT);
	assert_int_equal(pread_exact(fd, got, 1, 11), SHOAL_ECORRUPT);
	assert_int_equal(pread_exact(fd, got, 0, 11), 0);
	close(fd);
	assert_int_equal(write_in_full(-1, "x", 1), -EBADF);
}

static void test_fsync_dir(void **state)
{
	struct fixture *fx = *state;
	char path[PATH_MAX];

	assert_int_equal(fsync_dir(fx->dir), 0);
	join(fx->dir, "missing", path);
	assert_int_equal(fsync_dir(path), -ENOENT);
	join(fx->dir, "file", path);
	assert_int_equal(write_file_atomic(path, "f", 1, 0600), 0);
	assert_int_equal(fsync_dir(path), -ENOTDIR);
}

static void test_is_zero(void **state)
{
	(void)state;
	uint8_t b[8192] = {0};
	assert_true(is_zero(b, 0));
	assert_true(is_zero(b, sizeof(b)));
	b[8191] = 1;
	assert_false(is_zero(b, sizeof(b)));
	assert_true(is_zero(b, 8191));
	b[0] = 1;
	assert_false(is_zero(b, 1));
}

/* Blocks allocated for the file at path, in 512-byte units. */
static long long blocks_of(const char *path)
{
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	return (long long)st.st_blocks;
}

static void test_pwrite_sparse(void **state)
{
	struct fixture *fx = *state;
	char path[PATH_MAX];
	join(fx->dir, "sparse", path);
	int fd = open(path, O_RDWR | O_CREAT | O_EXCL, 0600);
	assert_true(fd >= 0);
	const size_t size = 64 * DIRECT_IO_ALIGN;
	assert_int_equal(ftruncate(fd, (off_t)size), 0);
	/* 40 blocks of zeros with data in blocks 3 and 20, and 10 bytes
	 * straddling blocks 30 and 31, written from offset 100 on. */
	size_t n = 40 * DIRECT_IO_ALIGN;
	uint8_t *p = calloc(1, n);
	assert_non_null(p);
	memset(p + 3 * DIRECT_IO_ALIGN, 'a', DIRECT_IO_ALIGN);
	memset(p + 20 * DIRECT_IO_ALIGN + 7, 'b', 3);
	memset(p + 31 * DIRECT_IO_ALIGN - 105, 'c', 10);
	assert_int_equal(pwrite_sparse(fd, p, n, 100), 0);
	uint8_t *back = malloc(size);
	assert_non_null(back);
	assert_int_equal(pread_exact(fd, back, size, 0), 0);
	assert_true(is_zero(back, 100));
	assert_memory_equal(back + 100, p, n);
	assert_true(is_zero(back + 100 + n, size - 100 - n));
	close(fd);
	/* At most the 5 blocks touched by data were written (where the file
	 * system keeps holes at all). */
	long long written = blocks_of(path) * 512 / DIRECT_IO_ALIGN;
	assert_true(written <= 5 || written >= 64);
	free(p);
	free(back);
}

static void test_sparse_read(void **state)
{
	struct fixture *fx = *state;
	char path[PATH_MAX];
	join(fx->dir, "holes", path);
	int fd = open(path, O_RDWR | O_CREAT | O_EXCL, 0600);
	assert_true(fd >= 0);
	/* 8 MiB: a hole, data at 2 MiB, a hole, data at the end. */
	const size_t size = 8u << 20;
	assert_int_equal(ftruncate(fd, (off_t)size), 0);
	assert_int_equal(pwrite_in_full(fd, "middle", 6, 2 << 20), 0);
	assert_int_equal(pwrite_in_full(fd, "end", 3, (off_t)size - 3), 0);
	uint8_t *want = calloc(1, size), *got = malloc(size);
	assert_non_null(want);
	assert_non_null(got);
	memcpy(want + (2 << 20), "middle", 6);
	memcpy(want + size - 3, "end", 3);
	struct sparse_reader r;
	sparse_reader_init(&r, fd, 0, size);
	size_t at = 0;
	for (;;) {
		/* Odd lengths, so reads straddle the segments. */
		ssize_t k = sparse_read(&r, got + at, size - at < 77777 ? size - at : 77777);
		assert_true(k >= 0);
		if (k == 0)
			break;
		at += (size_t)k;
	}
	assert_int_equal(at, size);
	assert_memory_equal(got, want, size);
	/* From an offset, and past the size the reading began with. */
	assert_int_equal(pwrite_in_full(fd, "grown", 5, (off_t)size), 0);
	sparse_reader_init(&r, fd, size - 3, size);
	assert_int_equal(sparse_read(&r, got, 100), 3);
	assert_memory_equal(got, "end", 3);
	assert_int_equal(sparse_read(&r, got, 100), 5);
	assert_memory_equal(got, "grown", 5);
	assert_int_equal(sparse_read(&r, got, 100), 0);
	close(fd);
	free(want);
	free(got);
}

static void test_remove_tree_at(void **state)
{
	struct fixture *fx = *state;
	char path[PATH_MAX], inner[PATH_MAX], outside[PATH_MAX];
	join(fx->dir, "outside", outside);
	assert_int_equal(write_file_atomic(outside, "keep", 4, 0600), 0);
	join(fx->dir, "t/a/b", path);
	assert_int_equal(mkdir_p(path, 0700), 0);
	join(fx->dir, "t/a/b/file", inner);
	assert_int_equal(write_file_atomic(inner, "x", 1, 0600), 0);
	join(fx->dir, "t/link", inner);
	assert_int_equal(symlink(outside, inner), 0);
	join(fx->dir, "t/a", path);
	assert_int_equal(chmod(path, 0500), 0); /* made writable to empty it */
	int dir = open(fx->dir, O_RDONLY | O_DIRECTORY);
	assert_true(dir >= 0);
	assert_int_equal(remove_tree_at(dir, "t"), 0);
	assert_int_equal(remove_tree_at(dir, "t"), 0); /* gone: fine */
	join(fx->dir, "t", path);
	assert_int_equal(access(path, F_OK), -1);
	/* The link went, not what it pointed to. */
	struct buf b = BUF_INIT;
	assert_int_equal(read_file(outside, &b, 100), 0);
	assert_int_equal(b.len, 4);
	buf_release(&b);
	close(dir);
}

#define TEST(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		TEST(test_write_file_atomic_creates_and_replaces),
		TEST(test_write_file_atomic_large),
		TEST(test_write_file_atomic_failure_leaves_nothing),
		TEST(test_write_file_atomic_in),
		TEST(test_read_file_limits),
		TEST(test_mkdir_p),
		TEST(test_create_temp_file_unique),
		TEST(test_create_temp_file_errors),
		cmocka_unit_test(test_path_dirname),
		cmocka_unit_test(test_read_in_full_pipe),
		TEST(test_pread_pwrite),
		TEST(test_fsync_dir),
		cmocka_unit_test(test_is_zero),
		TEST(test_pwrite_sparse),
		TEST(test_sparse_read),
		TEST(test_remove_tree_at),
		/* Last: it leaves the interruption flag set. */
		cmocka_unit_test(test_read_in_full_signals),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
