/*
 * Tests for putting files into the store and getting them out (src/store/files.c): round
 * trips at every size around the chunker's limits and of 100 MiB (generated, compared and
 * never held whole), with mode and mtime restored; deduplication (the same content adds no
 * object, equal content gives equal capabilities); no plaintext on disk under the home;
 * damage, a wrong key or an unknown id makes a get fail with the right code, leaving neither
 * output nor temp file; bad output directories and directory inputs fail cleanly; a failed
 * or interrupted put binds nothing and keeps no chunk rows; a name put again keeps the old
 * file as its version 1 until that version is removed, which releases it. Sparse files:
 * holes are not read on put and stay holes on get, zeros written out become holes too, and
 * chunks of zeros cost one object; mtimes keep their nanoseconds. Files with more than
 * MANIFEST_INLINE_MAX chunks (ChunkLists) need over 4 GiB of input and are not tested here.
 * Each test gets a fresh node home and a scratch directory under /tmp, removed afterwards.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "store_fixture.h"
#include "crypto/hash.h"
#include "proto/capability.h"
#include "proto/manifest.h"
#include "store/chunker.h"
#include "store/files.h"
#include "store/index.h"
#include "store/located.h"
#include "store/objects.h"
#include "store/store.h"
#include "util/error.h"
#include "util/interrupt.h"
#include "util/log.h"
#include "util/progress.h"

#define MIB   ((size_t)1024 * 1024)
#define BLOCK MIB /* streaming granularity of the helpers */

struct fixture {
	char home[STORE_FIXTURE_PATH];
	char work[STORE_FIXTURE_PATH]; /* inputs and outputs, outside the home */
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
	if (store_fixture_setup(fx->home, fx->work, &fx->s, "files")) {
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

static void work_path(const struct fixture *fx, const char *name, char *out)
{
	int n = snprintf(out, PATH_MAX, "%s/%s", fx->work, name);
	assert_true(n > 0 && n < PATH_MAX);
}

/* xorshift64*: small, seeded, reproducible. */
static uint64_t rng_next(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * UINT64_C(0x2545f4914f6cdd1d);
}

/* Sets path's mode and mtime (through an fd, as the caller may have left none). */
static void set_meta(const char *path, mode_t mode, time_t mtime)
{
	struct timespec times[2] = {{.tv_sec = mtime}, {.tv_sec = mtime}};
	assert_int_equal(utimensat(AT_FDCWD, path, times, 0), 0);
	assert_int_equal(chmod(path, mode), 0);
}

/*
 * Writes size pseudo-random bytes from seed to path, a block at a time, then sets mode and
 * mtime. The same (size, seed) always gives the same bytes.
 */
static void write_random_file(const char *path, size_t size, uint64_t seed, mode_t mode,
			      time_t mtime)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	uint8_t *block = malloc(BLOCK);
	assert_non_null(block);
	uint64_t s = seed ? seed : 1;
	for (size_t done = 0; done < size;) {
		size_t n = size - done < BLOCK ? size - done : BLOCK;
		for (size_t i = 0; i < n; i += 8) {
			uint64_t x = rng_next(&s);
			memcpy(block + i, &x, n - i < 8 ? n - i : 8);
		}
		assert_int_equal(write(fd, block, n), (ssize_t)n);
		done += n;
	}
	free(block);
	assert_int_equal(close(fd), 0);
	set_meta(path, mode, mtime);
}

/* Reads up to n bytes (fewer only at end of file). */
static size_t read_block(int fd, uint8_t *p, size_t n)
{
	size_t got = 0;
	while (got < n) {
		ssize_t r = read(fd, p + got, n - got);
		assert_true(r >= 0);
		if (r == 0)
			break;
		got += (size_t)r;
	}
	return got;
}

/* Asserts that the files at a and b hold the same bytes, a block at a time. */
static void assert_same_content(const char *a, const char *b)
{
	int fa = open(a, O_RDONLY), fb = open(b, O_RDONLY);
	assert_true(fa >= 0);
	assert_true(fb >= 0);
	uint8_t *ba = malloc(BLOCK), *bb = malloc(BLOCK);
	assert_non_null(ba);
	assert_non_null(bb);
	for (;;) {
		size_t na = read_block(fa, ba, BLOCK), nb = read_block(fb, bb, BLOCK);
		assert_int_equal(na, nb);
		if (na == 0)
			break;
		assert_memory_equal(ba, bb, na);
	}
	free(ba);
	free(bb);
	close(fa);
	close(fb);
}

/* Puts the file at path under name; returns the capability and checks the size. */
static void put_path(struct fixture *fx, const char *path, const char *name, struct capability *cap)
{
	int fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	struct stat st;
	assert_int_equal(fstat(fd, &st), 0);
	uint64_t size = UINT64_MAX;
	assert_int_equal(files_put(fx->s, fd, name, NULL, cap, &size), 0);
	assert_int_equal(size, st.st_size);
	close(fd);
}

/* Makes work/name from (size, seed) and puts it under name. */
static void put_random(struct fixture *fx, const char *name, size_t size, uint64_t seed,
		       struct capability *cap)
{
	char path[PATH_MAX];
	work_path(fx, name, path);
	write_random_file(path, size, seed, 0644, 1600000000);
	put_path(fx, path, name, cap);
}

static int counted;
static int count_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	(void)path;
	(void)ftw;
	counted += type == FTW_F && S_ISREG(st->st_mode);
	return 0;
}

/* Number of regular files under home/objects (the tmp directory included). */
static int count_objects(const struct fixture *fx)
{
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/objects", fx->home);
	counted = 0;
	assert_int_equal(nftw(path, count_entry, 16, FTW_PHYS), 0);
	return counted;
}

static uint64_t indexed_chunks(const struct fixture *fx)
{
	uint64_t count = 0, bytes = 0;
	assert_int_equal(index_chunk_stats(fx->s->index, &count, &bytes), 0);
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

/* Makes an empty directory work/name for outputs; returns its path (256 bytes). */
static void make_out_dir(const struct fixture *fx, const char *name, char out[256])
{
	int n = snprintf(out, 256, "%s/%s", fx->work, name);
	assert_true(n > 0 && n < 256);
	assert_int_equal(mkdir(out, 0700), 0);
}

static void flip_byte(const char *path, off_t off)
{
	chmod(path, 0600);
	int fd = open(path, O_RDWR);
	assert_true(fd >= 0);
	uint8_t b;
	assert_int_equal(pread(fd, &b, 1, off), 1);
	b ^= 0x04;
	assert_int_equal(pwrite(fd, &b, 1, off), 1);
	assert_int_equal(close(fd), 0);
}

/* ---- round trips ---- */

static const size_t size_0 = 0, size_1 = 1, size_4095 = 4095, size_min_less = CHUNK_MIN - 1,
		    size_min = CHUNK_MIN, size_min_more = CHUNK_MIN + 1,
		    size_max_less = CHUNK_MAX - 1, size_max = CHUNK_MAX,
		    size_max_more = CHUNK_MAX + 1, size_100m = 100 * MIB;

static void test_round_trip(void **state)
{
	struct fixture *fx = *state;
	const size_t size = fx->param;
	/* Vary mode and mtime with the size so that a fixed value cannot pass. */
	const mode_t modes[] = {0644, 0600, 0755, 0640, 0400, 0751, 0664, 0700, 0444, 0604};
	const mode_t mode = modes[(size ^ (size >> 12)) % 10];
	const time_t mtime = 1234567890 + (time_t)(size % 100000);
	char in[PATH_MAX], out[PATH_MAX], outdir[256];
	work_path(fx, "input", in);
	write_random_file(in, size, 0x5eed0000 + size, mode, mtime);
	make_out_dir(fx, "out", outdir);
	snprintf(out, sizeof(out), "%s/output", outdir);

	struct capability cap;
	put_path(fx, in, "the file", &cap);

	/* The name is bound to the capability. */
	struct index_name n;
	assert_int_equal(index_name_get(fx->s->index, "the file", &n), 0);
	char text[CAPABILITY_STR_LEN + 1];
	capability_format(&cap, text);
	assert_string_equal(n.cap, text);
	assert_memory_equal(n.manifest, cap.id, CHUNK_ID_LEN);
	assert_int_equal(n.size, size);

	/* The manifest describes the file, cut within the chunker's bounds. */
	struct manifest m = {0};
	assert_int_equal(files_read_manifest(fx->s, &cap, &m), 0);
	assert_int_equal(m.kind, MANIFEST_FILE);
	assert_int_equal(m.size, size);
	assert_int_equal(m.mode, mode);
	assert_int_equal(m.mtime, mtime);
	assert_int_equal(m.nlists, 0);
	uint64_t sum = 0;
	for (size_t i = 0; i < m.nchunks; i++) {
		assert_true(m.chunks[i].size <= CHUNK_MAX);
		if (i + 1 < m.nchunks)
			assert_true(m.chunks[i].size >= CHUNK_MIN);
		sum += m.chunks[i].size;
	}
	assert_int_equal(sum, size);
	if (size == 0)
		assert_int_equal(m.nchunks, 0);
	else if (size <= CHUNK_MIN)
		assert_int_equal(m.nchunks, 1);
	else if (size > CHUNK_MAX)
		assert_true(m.nchunks >= 2);
	/* Every chunk and the manifest are stored and indexed, nothing else. */
	assert_int_equal(count_objects(fx), m.nchunks + 1);
	assert_int_equal(indexed_chunks(fx), m.nchunks + 1);
	manifest_release(&m);

	assert_int_equal(files_get(fx->s, &cap, out, NULL, NULL, NULL), 0);
	assert_same_content(in, out);
	struct stat st;
	assert_int_equal(stat(out, &st), 0);
	assert_int_equal(st.st_size, size);
	assert_int_equal(st.st_mode & 07777, mode);
	assert_int_equal(st.st_mtime, mtime);
	/* Only the output is left in its directory. */
	assert_int_equal(count_entries(outdir), 1);
}

/* ---- deduplication ---- */

static void test_same_file_twice_adds_nothing(void **state)
{
	struct fixture *fx = *state;
	struct capability first, second;
	put_random(fx, "file", 5 * MIB, 21, &first);
	int objects = count_objects(fx);
	assert_true(objects >= 3);
	uint64_t rows = indexed_chunks(fx);
	assert_int_equal(rows, objects);

	char path[PATH_MAX];
	work_path(fx, "file", path);
	put_path(fx, path, "the same file again", &second);
	assert_memory_equal(&first, &second, sizeof(first));
	assert_int_equal(count_objects(fx), objects);
	assert_int_equal(indexed_chunks(fx), rows);

	struct index_name a, b;
	assert_int_equal(index_name_get(fx->s->index, "file", &a), 0);
	assert_int_equal(index_name_get(fx->s->index, "the same file again", &b), 0);
	assert_string_equal(a.cap, b.cap);

	/* A third time, under an existing name, changes nothing either. */
	put_path(fx, path, "file", &second);
	assert_memory_equal(&first, &second, sizeof(first));
	assert_int_equal(count_objects(fx), objects);
}

static void test_equal_content_equal_capability(void **state)
{
	struct fixture *fx = *state;
	char a[PATH_MAX], b[PATH_MAX], c[PATH_MAX];
	work_path(fx, "a", a);
	work_path(fx, "b", b);
	work_path(fx, "c", c);
	/* a and b: two files with the same bytes, mode and mtime. */
	write_random_file(a, 3 * MIB + 17, 31, 0640, 1500000000);
	write_random_file(b, 3 * MIB + 17, 31, 0640, 1500000000);
	struct capability ca, cb, cc;
	put_path(fx, a, "a", &ca);
	int objects = count_objects(fx);
	put_path(fx, b, "b", &cb);
	assert_memory_equal(&ca, &cb, sizeof(ca));
	assert_int_equal(count_objects(fx), objects);

	/* Another mtime is another manifest over the very same chunks. */
	write_random_file(c, 3 * MIB + 17, 31, 0640, 1500000001);
	put_path(fx, c, "c", &cc);
	assert_memory_not_equal(cc.id, ca.id, CHUNK_ID_LEN);
	assert_int_equal(count_objects(fx), objects + 1);
	struct manifest ma = {0}, mc = {0};
	assert_int_equal(files_read_manifest(fx->s, &ca, &ma), 0);
	assert_int_equal(files_read_manifest(fx->s, &cc, &mc), 0);
	assert_int_equal(ma.nchunks, mc.nchunks);
	for (size_t i = 0; i < ma.nchunks; i++)
		assert_memory_equal(&ma.chunks[i], &mc.chunks[i], sizeof(ma.chunks[i]));
	manifest_release(&ma);
	manifest_release(&mc);
}

static void test_edit_stores_only_nearby_chunks(void **state)
{
	struct fixture *fx = *state;
	char a[PATH_MAX];
	work_path(fx, "a", a);
	write_random_file(a, 12 * MIB, 41, 0644, 1500000000);
	struct capability ca, cb;
	put_path(fx, a, "a", &ca);
	int objects = count_objects(fx);

	/* One byte changed in the middle. */
	flip_byte(a, 6 * MIB);
	set_meta(a, 0644, 1500000000);
	put_path(fx, a, "b", &cb);
	assert_memory_not_equal(ca.id, cb.id, CHUNK_ID_LEN);
	int added = count_objects(fx) - objects;
	/* The new manifest and at most three chunks around the edit. */
	assert_true(added >= 2);
	assert_true(added <= 4);
	assert_true(objects - 1 > 4);
}

/* ---- confidentiality ---- */

/* Returns 1 if needle occurs in the file at path, scanning a block at a time. */
static int file_contains(const char *path, const uint8_t *needle, size_t n)
{
	int fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	uint8_t *buf = malloc(BLOCK + n);
	assert_non_null(buf);
	size_t kept = 0;
	int found = 0;
	for (;;) {
		size_t got = read_block(fd, buf + kept, BLOCK);
		if (got == 0)
			break;
		if (memmem(buf, kept + got, needle, n)) {
			found = 1;
			break;
		}
		/* Keep the tail so a match across blocks is seen. */
		size_t total = kept + got;
		kept = total < n - 1 ? total : n - 1;
		memmove(buf, buf + total - kept, kept);
	}
	free(buf);
	close(fd);
	return found;
}

static const uint8_t *scan_needle;
static size_t scan_len;
static int scan_hits, scan_files;

static int scan_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	(void)ftw;
	if (type == FTW_F && S_ISREG(st->st_mode)) {
		scan_files++;
		if (file_contains(path, scan_needle, scan_len)) {
			fprintf(stderr, "plaintext found in %s\n", path);
			scan_hits++;
		}
	}
	return 0;
}

static void test_no_plaintext_on_disk(void **state)
{
	struct fixture *fx = *state;
	static const char marker[] = "SHOAL-PLAINTEXT-MARKER-0123456789";
	const size_t mlen = 32;
	char in[PATH_MAX];
	work_path(fx, "secret.txt", in);
	int fd = open(in, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	uint8_t *block = malloc(BLOCK);
	assert_non_null(block);
	for (size_t i = 0; i < BLOCK; i++)
		block[i] = (uint8_t)marker[i % mlen];
	for (int i = 0; i < 5; i++)
		assert_int_equal(write(fd, block, BLOCK), (ssize_t)BLOCK);
	free(block);
	assert_int_equal(close(fd), 0);
	/* The scanner does find the marker where it is. */
	assert_true(file_contains(in, (const uint8_t *)marker, mlen));

	struct capability cap;
	put_path(fx, in, "secret.txt", &cap);
	char out[PATH_MAX];
	work_path(fx, "secret.out", out);
	assert_int_equal(files_get(fx->s, &cap, out, NULL, NULL, NULL), 0);
	assert_same_content(in, out);

	/* With the store open and after closing it, WAL and all. */
	for (int round = 0; round < 2; round++) {
		scan_needle = (const uint8_t *)marker;
		scan_len = mlen;
		scan_hits = scan_files = 0;
		assert_int_equal(nftw(fx->home, scan_entry, 16, FTW_PHYS), 0);
		assert_int_equal(scan_hits, 0);
		assert_true(scan_files >= 3); /* secret, index, a chunk, the manifest */
		store_close(fx->s);
		fx->s = NULL;
	}
}

/* ---- failing gets ---- */

/* Which stored chunk test_corrupt_chunk damages. */
static const size_t damage_manifest = 0, damage_first = 1, damage_last = 2;

static void test_corrupt_chunk(void **state)
{
	struct fixture *fx = *state;
	struct capability cap;
	put_random(fx, "file", 5 * MIB, 51, &cap);
	struct manifest m = {0};
	assert_int_equal(files_read_manifest(fx->s, &cap, &m), 0);
	assert_true(m.nchunks >= 2);
	uint8_t victim[CHUNK_ID_LEN];
	if (fx->param == damage_manifest)
		memcpy(victim, cap.id, CHUNK_ID_LEN);
	else if (fx->param == damage_first)
		memcpy(victim, m.chunks[0].id, CHUNK_ID_LEN);
	else
		memcpy(victim, m.chunks[m.nchunks - 1].id, CHUNK_ID_LEN);
	manifest_release(&m);
	char path[PATH_MAX];
	objects_path(&fx->s->objects, victim, path, sizeof(path));
	flip_byte(path, 100);

	char outdir[256], out[PATH_MAX];
	make_out_dir(fx, "out", outdir);
	snprintf(out, sizeof(out), "%s/file", outdir);
	struct files_failure failed = {0};
	assert_int_equal(files_get(fx->s, &cap, out, NULL, NULL, &failed), SHOAL_ECORRUPT);
	assert_true(failed.set);
	assert_memory_equal(failed.id, victim, CHUNK_ID_LEN);
	assert_int_equal(count_entries(outdir), 0);

	/* Repaired, the same get works: the failure was the damage alone. */
	flip_byte(path, 100);
	assert_int_equal(files_get(fx->s, &cap, out, NULL, NULL, &failed), 0);
	assert_false(failed.set);
	work_path(fx, "file", path);
	assert_same_content(path, out);
}

static void test_failed_get_keeps_existing_output(void **state)
{
	struct fixture *fx = *state;
	struct capability cap;
	put_random(fx, "file", 2 * MIB, 52, &cap);
	char out[PATH_MAX];
	work_path(fx, "existing", out);
	write_random_file(out, 1000, 53, 0600, 1000000000);
	char copy[PATH_MAX];
	work_path(fx, "existing.copy", copy);
	write_random_file(copy, 1000, 53, 0600, 1000000000);
	int entries = count_entries(fx->work);

	struct manifest m = {0};
	assert_int_equal(files_read_manifest(fx->s, &cap, &m), 0);
	char path[PATH_MAX];
	objects_path(&fx->s->objects, m.chunks[m.nchunks - 1].id, path, sizeof(path));
	manifest_release(&m);
	flip_byte(path, 7);
	const struct files_restore replace = {.mode_keep = 07777, .replace = 1};
	assert_int_equal(files_get(fx->s, &cap, out, &replace, NULL, NULL), SHOAL_ECORRUPT);
	assert_same_content(out, copy);
	struct stat st;
	assert_int_equal(stat(out, &st), 0);
	assert_int_equal(st.st_mtime, 1000000000);
	assert_int_equal(count_entries(fx->work), entries);

	/* A good get replaces it; without replace it is refused. */
	flip_byte(path, 7);
	assert_int_equal(files_get(fx->s, &cap, out, NULL, NULL, NULL), SHOAL_EEXIST);
	assert_int_equal(files_get(fx->s, &cap, out, &replace, NULL, NULL), 0);
	work_path(fx, "file", path);
	assert_same_content(path, out);
	assert_int_equal(count_entries(fx->work), entries);
}

static void test_wrong_key(void **state)
{
	struct fixture *fx = *state;
	struct capability cap, other;
	put_random(fx, "file", MIB, 61, &cap);
	put_random(fx, "other", 1000, 62, &other);
	char outdir[256], out[PATH_MAX];
	make_out_dir(fx, "out", outdir);
	snprintf(out, sizeof(out), "%s/file", outdir);

	struct capability bad = cap;
	bad.key[17] ^= 0x20;
	struct files_failure failed = {0};
	assert_int_equal(files_get(fx->s, &bad, out, NULL, NULL, &failed), SHOAL_EDECRYPT);
	assert_true(failed.set);
	assert_memory_equal(failed.id, cap.id, CHUNK_ID_LEN);
	assert_int_equal(count_entries(outdir), 0);

	/* Another file's key does not open this manifest either. */
	memcpy(bad.key, other.key, CHUNK_KEY_LEN);
	assert_int_equal(files_get(fx->s, &bad, out, NULL, NULL, NULL), SHOAL_EDECRYPT);
	assert_int_equal(count_entries(outdir), 0);
	struct manifest m = {0};
	assert_int_equal(files_read_manifest(fx->s, &bad, &m), SHOAL_EDECRYPT);
}

static void test_unknown_id(void **state)
{
	struct fixture *fx = *state;
	struct capability cap;
	put_random(fx, "file", 1000, 71, &cap);
	char outdir[256], out[PATH_MAX];
	make_out_dir(fx, "out", outdir);
	snprintf(out, sizeof(out), "%s/file", outdir);

	struct capability unknown = cap;
	sha256("no such manifest", 16, unknown.id);
	struct files_failure failed = {0};
	assert_int_equal(files_get(fx->s, &unknown, out, NULL, NULL, &failed), SHOAL_EMISSING);
	assert_true(failed.set);
	assert_memory_equal(failed.id, unknown.id, CHUNK_ID_LEN);
	assert_int_equal(count_entries(outdir), 0);
	struct manifest m = {0};
	assert_int_equal(files_read_manifest(fx->s, &unknown, &m), SHOAL_EMISSING);

	/* A data chunk gone from disk is missing too. */
	assert_int_equal(files_read_manifest(fx->s, &cap, &m), 0);
	char path[PATH_MAX];
	objects_path(&fx->s->objects, m.chunks[0].id, path, sizeof(path));
	assert_int_equal(unlink(path), 0);
	assert_int_equal(files_get(fx->s, &cap, out, NULL, NULL, &failed), SHOAL_EMISSING);
	assert_memory_equal(failed.id, m.chunks[0].id, CHUNK_ID_LEN);
	assert_int_equal(count_entries(outdir), 0);
	manifest_release(&m);
}

static void test_get_into_missing_directory(void **state)
{
	struct fixture *fx = *state;
	struct capability cap;
	put_random(fx, "file", 300000, 81, &cap);
	int entries = count_entries(fx->work);
	char out[PATH_MAX], dir[PATH_MAX];
	work_path(fx, "no/such/dir/file", out);
	work_path(fx, "no", dir);
	assert_int_equal(files_get(fx->s, &cap, out, NULL, NULL, NULL), -ENOENT);
	assert_int_equal(access(dir, F_OK), -1);
	assert_int_equal(count_entries(fx->work), entries);

	/* The output path naming an existing directory fails, and leaves it be. */
	work_path(fx, "adir", dir);
	assert_int_equal(mkdir(dir, 0700), 0);
	assert_true(files_get(fx->s, &cap, dir, NULL, NULL, NULL) < 0);
	struct stat st;
	assert_int_equal(stat(dir, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(count_entries(fx->work), entries + 1);

	/* The store is still fine. */
	work_path(fx, "file.out", out);
	assert_int_equal(files_get(fx->s, &cap, out, NULL, NULL, NULL), 0);
}

/* ---- failing puts ---- */

static void test_get_into_fd(void **state)
{
	struct fixture *fx = *state;
	struct capability cap;
	put_random(fx, "file", 3 * MIB + 17, 61, &cap);
	char outdir[256], out[PATH_MAX], in[PATH_MAX];
	make_out_dir(fx, "into", outdir);
	snprintf(out, sizeof(out), "%s/file", outdir);
	/* What the file held before goes, longer or not. */
	write_random_file(out, 5 * MIB, 62, 0600, 1600000000);
	int fd = open(out, O_WRONLY);
	assert_true(fd >= 0);
	assert_int_equal(files_get_into(fx->s, &cap, fd, NULL), 0);
	close(fd);
	work_path(fx, "file", in);
	assert_same_content(in, out);

	/* A damaged chunk is refused and named. */
	struct manifest m = {0};
	assert_int_equal(files_read_manifest(fx->s, &cap, &m), 0);
	char path[PATH_MAX];
	objects_path(&fx->s->objects, m.chunks[0].id, path, sizeof(path));
	flip_byte(path, 10);
	struct files_failure failed = {0};
	fd = open(out, O_WRONLY);
	assert_int_equal(files_get_into(fx->s, &cap, fd, &failed), SHOAL_ECORRUPT);
	assert_true(failed.set);
	assert_memory_equal(failed.id, m.chunks[0].id, CHUNK_ID_LEN);
	close(fd);
	manifest_release(&m);
}

static void test_put_directory(void **state)
{
	struct fixture *fx = *state;
	int fd = open(fx->work, O_RDONLY | O_DIRECTORY);
	assert_true(fd >= 0);
	struct capability cap;
	uint64_t size = 77;
	assert_int_equal(files_put(fx->s, fd, "dir", NULL, &cap, &size), -EISDIR);
	close(fd);
	assert_int_equal(size, 77);
	struct index_name n;
	assert_int_equal(index_name_get(fx->s->index, "dir", &n), SHOAL_ENOTFOUND);
	assert_int_equal(count_objects(fx), 0);
	assert_int_equal(indexed_chunks(fx), 0);
}

static void test_failed_put_binds_nothing(void **state)
{
	struct fixture *fx = *state;
	struct capability cap;
	put_random(fx, "kept", 600000, 91, &cap);
	uint64_t rows = indexed_chunks(fx);

	/* An fd that cannot be read. */
	char path[PATH_MAX];
	work_path(fx, "unreadable", path);
	int fd = open(path, O_WRONLY | O_CREAT, 0600);
	assert_true(fd >= 0);
	struct capability bad;
	uint64_t size = 77;
	assert_int_equal(files_put(fx->s, fd, "kept", NULL, &bad, &size), -EBADF);
	close(fd);
	assert_int_equal(size, 77);
	struct index_name n;
	assert_int_equal(index_name_get(fx->s->index, "kept", &n), 0);
	assert_memory_equal(n.manifest, cap.id, CHUNK_ID_LEN);
	assert_int_equal(indexed_chunks(fx), rows);

	/* The failed put left no transaction behind: the next one works. */
	struct capability again;
	put_random(fx, "new", 1000, 92, &again);
	assert_int_equal(index_name_get(fx->s->index, "new", &n), 0);
}

/*
 * A put interrupted part way (SIGINT, in a child process so the flag does not outlive the
 * test) fails with -EINTR, binds nothing and leaves no chunk rows: those of batches it had
 * committed are released. Its input is a pipe, so the put is also a streaming one; after
 * the signal the parent keeps writing until the child hangs up, so the child's read wakes
 * whichever thread took the signal.
 */
static void test_interrupted_put_releases_chunks(void **state)
{
	struct fixture *fx = *state;
	struct capability kept;
	put_random(fx, "kept", 2 * MIB, 121, &kept);
	int kept_objects = count_objects(fx);
	store_close(fx->s);
	fx->s = NULL;

	int pipefd[2];
	assert_int_equal(pipe(pipefd), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(pipefd[1]);
		interrupt_install();
		struct store *s;
		struct capability cap;
		uint64_t size;
		int code = 3;
		if (store_open(&s, fx->home, 0) == 0) {
			int err = files_put(s, pipefd[0], "interrupted", NULL, &cap, &size);
			code = err == -EINTR ? 0 : err == 0 ? 1 : 2;
			store_close(s);
		}
		_exit(code);
	}
	close(pipefd[0]);
	signal(SIGPIPE, SIG_IGN);
	uint8_t *block = malloc(BLOCK);
	assert_non_null(block);
	uint64_t seed = 122;
	size_t sent = 0;
	for (;;) {
		for (size_t i = 0; i < BLOCK; i += 8) {
			uint64_t x = rng_next(&seed);
			memcpy(block + i, &x, 8);
		}
		ssize_t n = write(pipefd[1], block, BLOCK);
		if (n < 0) {
			assert_int_equal(errno, EPIPE);
			break;
		}
		sent += (size_t)n;
		/* Enough for a committed batch of chunk rows, then the signal. */
		if (sent == 96 * MIB)
			assert_int_equal(kill(pid, SIGINT), 0);
		assert_true(sent < 1024 * MIB);
	}
	free(block);
	close(pipefd[1]);
	signal(SIGPIPE, SIG_DFL);
	int status = 0;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);

	assert_int_equal(store_open(&fx->s, fx->home, 0), 0);
	struct index_name n;
	assert_int_equal(index_name_get(fx->s->index, "interrupted", &n), SHOAL_ENOTFOUND);
	assert_int_equal(indexed_chunks(fx), kept_objects);
	/* Files of the batch that never committed may remain until a recovery. */
	store_close(fx->s);
	fx->s = NULL;
	char marker[PATH_MAX];
	snprintf(marker, sizeof(marker), "%s/store.open", fx->home);
	int fd = open(marker, O_WRONLY | O_CREAT, 0600);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(store_open(&fx->s, fx->home, 0), 0);
	assert_int_equal(count_objects(fx), kept_objects);
	char out[PATH_MAX];
	work_path(fx, "kept.out", out);
	assert_int_equal(files_get(fx->s, &kept, out, NULL, NULL, NULL), 0);
}

static void test_old_version_kept_until_removed(void **state)
{
	struct fixture *fx = *state;
	struct capability old, new;
	put_random(fx, "one", 2 * MIB, 101, &old);
	put_random(fx, "two", 1 * MIB, 102, &new);
	int only_new = count_objects(fx);
	struct manifest m = {0};
	assert_int_equal(files_read_manifest(fx->s, &old, &m), 0);
	only_new -= (int)m.nchunks + 1;
	manifest_release(&m);

	/* Bind "one" to the second file's content: its version 2; version 1
	 * keeps the first file. */
	int both = count_objects(fx);
	char path[PATH_MAX];
	work_path(fx, "two", path);
	struct capability rebound;
	put_path(fx, path, "one", &rebound);
	assert_memory_equal(&rebound, &new, sizeof(new));
	assert_int_equal(count_objects(fx), both);
	char kept[PATH_MAX];
	work_path(fx, "kept.out", kept);
	assert_int_equal(files_get(fx->s, &old, kept, NULL, NULL, NULL), 0);
	/* Version 1 removed: the first file is unneeded. */
	assert_int_equal(store_remove_version(fx->s, "one", 1), 0);
	assert_int_equal(count_objects(fx), only_new);
	assert_int_equal(indexed_chunks(fx), only_new);
	assert_int_equal(objects_exists(&fx->s->objects, old.id), 0);
	char out[PATH_MAX];
	work_path(fx, "old.out", out);
	assert_int_equal(files_get(fx->s, &old, out, NULL, NULL, NULL), SHOAL_EMISSING);
}

static void test_progress_counts_bytes(void **state)
{
	struct fixture *fx = *state;
	char in[PATH_MAX], out[PATH_MAX];
	work_path(fx, "file", in);
	work_path(fx, "file.out", out);
	const size_t size = 3 * MIB + 5;
	write_random_file(in, size, 111, 0644, 1600000000);
	struct progress p;
	progress_start(&p, "put", size, 1);
	int fd = open(in, O_RDONLY);
	assert_true(fd >= 0);
	struct capability cap;
	uint64_t got = 0;
	assert_int_equal(files_put(fx->s, fd, "file", &p, &cap, &got), 0);
	close(fd);
	assert_int_equal(p.done, size);

	progress_start(&p, "get", 0, 1);
	assert_int_equal(files_get(fx->s, &cap, out, NULL, &p, NULL), 0);
	assert_int_equal(p.total, size);
	assert_int_equal(p.done, size);
}

/* Bytes the file at path has allocated on disk. */
static uint64_t allocated(const char *path)
{
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	return (uint64_t)st.st_blocks * 512;
}

static void test_sparse_round_trip(void **state)
{
	struct fixture *fx = *state;
	char in[PATH_MAX], out[PATH_MAX];
	work_path(fx, "sparse", in);
	/* 256 MiB holding 1 MiB of data at 100 MiB, and an mtime with ns. */
	int fd = open(in, O_RDWR | O_CREAT | O_EXCL, 0644);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, (off_t)(256 * MIB)), 0);
	uint8_t *data = malloc(MIB);
	assert_non_null(data);
	uint64_t seed = 99;
	for (size_t i = 0; i < MIB / 8; i++) {
		uint64_t v = rng_next(&seed);
		memcpy(data + 8 * i, &v, 8);
	}
	assert_int_equal(pwrite(fd, data, MIB, (off_t)(100 * MIB)), (ssize_t)MIB);
	struct timespec times[2] = {{.tv_sec = 1600000000, .tv_nsec = 123456789},
				    {.tv_sec = 1600000000, .tv_nsec = 123456789}};
	assert_int_equal(futimens(fd, times), 0);
	close(fd);
	free(data);
	int holes = allocated(in) < 4 * MIB; /* the file system keeps holes */

	int before = count_objects(fx);
	struct capability cap;
	put_path(fx, in, "sparse", &cap);
	/* The data's chunks, a few of zeros (one per size), the manifest. */
	assert_true(count_objects(fx) - before <= 8);
	work_path(fx, "sparse.out", out);
	assert_int_equal(files_get(fx->s, &cap, out, NULL, NULL, NULL), 0);
	assert_same_content(in, out);
	if (holes)
		assert_true(allocated(out) <= 2 * MIB);
	struct stat st;
	assert_int_equal(stat(out, &st), 0);
	assert_int_equal(st.st_mtim.tv_sec, 1600000000);
	assert_int_equal(st.st_mtim.tv_nsec, 123456789);

	/* Zeros written out (no holes in the source) come back as holes, and
	 * cost one object (and the manifest). */
	work_path(fx, "zeros", in);
	fd = open(in, O_WRONLY | O_CREAT | O_EXCL, 0644);
	assert_true(fd >= 0);
	uint8_t *zeros = calloc(1, MIB);
	assert_non_null(zeros);
	for (int i = 0; i < 20; i++)
		assert_int_equal(write(fd, zeros, MIB), (ssize_t)MIB);
	close(fd);
	free(zeros);
	before = count_objects(fx);
	put_path(fx, in, "zeros", &cap);
	assert_true(count_objects(fx) - before <= 3);
	work_path(fx, "zeros.out", out);
	assert_int_equal(files_get(fx->s, &cap, out, NULL, NULL, NULL), 0);
	assert_same_content(in, out);
	if (holes)
		assert_true(allocated(out) <= 64 * 1024);
}

/* ---- chunks kept in the file put (store/located.h) ---- */

static const uint8_t keeper[32] = {7};

static int keep_pinned(void *arg, struct index *ix, const struct capability *cap, uint64_t size)
{
	(void)arg;
	(void)size;
	return index_pin_add(ix, cap->id, keeper);
}

struct located_seen {
	struct fixture *fx;
	const char *path;
	size_t n;
	uint8_t ids[16][CHUNK_ID_LEN];
};

/* Locates each data chunk of a file (again) in the file at seen->path. */
static int relocate(const struct chunk_ref *ref, uint64_t offset, void *arg)
{
	struct located_seen *seen = arg;
	struct located loc = {.offset = offset, .size = ref->size};
	snprintf(loc.path, sizeof(loc.path), "%s", seen->path);
	memcpy(loc.key, ref->key, CHUNK_KEY_LEN);
	assert_true(seen->n < 16);
	memcpy(seen->ids[seen->n++], ref->id, CHUNK_ID_LEN);
	return located_set(seen->fx->s->index, ref->id, &loc);
}

static uint64_t located_rows(const struct fixture *fx)
{
	struct sqlite3_stmt *st;
	assert_int_equal(index_sql_prepare(fx->s->index, "SELECT count(*) FROM located", &st), 0);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	uint64_t n = (uint64_t)sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return n;
}

static void test_located_chunks(void **state)
{
	struct fixture *fx = *state;
	char in[PATH_MAX], out[PATH_MAX];
	work_path(fx, "tree.bin", in);
	work_path(fx, "tree.out", out);
	write_random_file(in, 5 * MIB, 71, 0644, 1600000000);
	int fd = open(in, O_RDONLY);
	assert_true(fd >= 0);
	struct files_binder binder = {.bind = keep_pinned, .located_path = in};
	struct capability cap;
	uint64_t size = 0;
	assert_int_equal(files_put_bound(fx->s, fd, &binder, &cap, &size), 0);
	close(fd);
	assert_int_equal(size, 5 * MIB);

	/* Only the manifest went to objects/; every data chunk is located. */
	struct located_seen seen = {.fx = fx, .path = in};
	assert_int_equal(files_data_refs(fx->s, &cap, relocate, &seen), 0);
	assert_true(seen.n >= 2);
	assert_int_equal(count_objects(fx), 1);
	assert_int_equal(indexed_chunks(fx), seen.n + 1);
	assert_int_equal(located_rows(fx), seen.n);
	assert_int_equal(store_object_present(fx->s, seen.ids[0]), 1);

	/* Read back from the file, sealed again and checked. */
	assert_int_equal(files_get(fx->s, &cap, out, NULL, NULL, NULL), 0);
	assert_same_content(in, out);
	unlink(out);

	/* A byte changed in the file: that chunk is not served. */
	flip_byte(in, 10);
	assert_int_equal(store_object_present(fx->s, seen.ids[0]), 0);
	assert_int_equal(files_get(fx->s, &cap, out, NULL, NULL, NULL), SHOAL_EMISSING);
	/* ... and objects are not dropped for a copy that does not check. */
	flip_byte(in, 10);
	unsigned kept = 0;
	assert_int_equal(store_keep_located(fx->s, fx->s->index, in, &kept), 0);
	assert_int_equal(kept, seen.n);
	assert_int_equal(located_rows(fx), 0);
	assert_int_equal(count_objects(fx), (int)seen.n + 1);
	seen.n = 0;
	assert_int_equal(files_data_refs(fx->s, &cap, relocate, &seen), 0);
	flip_byte(in, 10);
	assert_int_equal(
		store_drop_objects(fx->s, (const uint8_t(*)[CHUNK_ID_LEN])seen.ids, seen.n), 0);
	/* The manifest, and the first chunk, whose located copy no longer checks. */
	assert_int_equal(count_objects(fx), 2);

	/* Kept in objects/, the content outlives the file. */
	unlink(in);
	assert_int_equal(files_get(fx->s, &cap, out, NULL, NULL, NULL), SHOAL_EMISSING);
	write_random_file(in, 5 * MIB, 71, 0644, 1600000000);
	assert_int_equal(
		store_drop_objects(fx->s, (const uint8_t(*)[CHUNK_ID_LEN])seen.ids, seen.n), 0);
	assert_int_equal(count_objects(fx), 1);
	assert_int_equal(files_get(fx->s, &cap, out, NULL, NULL, NULL), 0);
	assert_same_content(in, out);

	/* The file renamed, its chunks follow it. */
	char moved[PATH_MAX];
	work_path(fx, "moved.bin", moved);
	assert_int_equal(rename(in, moved), 0);
	assert_int_equal(store_object_present(fx->s, seen.ids[1]), 0);
	assert_int_equal(located_move(fx->s->index, in, moved), 0);
	assert_int_equal(store_object_present(fx->s, seen.ids[1]), 1);
	unlink(out);
	assert_int_equal(files_get(fx->s, &cap, out, NULL, NULL, NULL), 0);
	assert_same_content(moved, out);

	/* A copy of the content is a second place to read it from. */
	char copy[PATH_MAX];
	work_path(fx, "copy.bin", copy);
	write_random_file(copy, 5 * MIB, 71, 0644, 1600000000);
	fd = open(copy, O_RDONLY);
	assert_true(fd >= 0);
	struct capability cap2;
	binder.located_path = copy;
	assert_int_equal(files_put_bound(fx->s, fd, &binder, &cap2, &size), 0);
	close(fd);
	assert_memory_equal(cap2.id, cap.id, CHUNK_ID_LEN);
	assert_int_equal(located_rows(fx), 2 * seen.n);
	unlink(moved);
	unlink(out);
	assert_int_equal(files_get(fx->s, &cap, out, NULL, NULL, NULL), 0);
	assert_same_content(copy, out);

	/* Released, the chunks' rows go with their locations. */
	assert_int_equal(index_begin(fx->s->index), 0);
	assert_int_equal(index_pin_remove(fx->s->index, cap.id, keeper), 0);
	assert_int_equal(store_commit_releasing(fx->s), 0);
	assert_int_equal(located_rows(fx), 0);
	assert_int_equal(indexed_chunks(fx), 0);
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
		P(test_round_trip, "0", size_0),
		P(test_round_trip, "1", size_1),
		P(test_round_trip, "4095", size_4095),
		P(test_round_trip, "chunk_min_minus_1", size_min_less),
		P(test_round_trip, "chunk_min", size_min),
		P(test_round_trip, "chunk_min_plus_1", size_min_more),
		P(test_round_trip, "chunk_max_minus_1", size_max_less),
		P(test_round_trip, "chunk_max", size_max),
		P(test_round_trip, "chunk_max_plus_1", size_max_more),
		P(test_round_trip, "100MiB", size_100m),
		T(test_same_file_twice_adds_nothing),
		T(test_equal_content_equal_capability),
		T(test_edit_stores_only_nearby_chunks),
		T(test_no_plaintext_on_disk),
		P(test_corrupt_chunk, "manifest", damage_manifest),
		P(test_corrupt_chunk, "first_data", damage_first),
		P(test_corrupt_chunk, "last_data", damage_last),
		T(test_failed_get_keeps_existing_output),
		T(test_wrong_key),
		T(test_unknown_id),
		T(test_get_into_missing_directory),
		T(test_get_into_fd),
		T(test_put_directory),
		T(test_failed_put_binds_nothing),
		T(test_sparse_round_trip),
		T(test_interrupted_put_releases_chunks),
		T(test_old_version_kept_until_removed),
		T(test_progress_counts_bytes),
		T(test_located_chunks),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
