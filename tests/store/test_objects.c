/*
 * Tests for the object directory (src/store/objects.c): written bytes read back, through
 * ordinary and direct I/O alike, and sit at objects/<2 hex>/<64 hex>; an existing id is not
 * rewritten; damage on disk (a flipped byte, a truncated file, a file over OBJECT_SIZE_MAX)
 * gives SHOAL_ECORRUPT from both read and verify, an absent id SHOAL_EMISSING; iteration visits
 * exactly the stored ids and skips names no write would produce; opening clears objects/tmp;
 * deleting is idempotent. Each test gets a fresh node home under /tmp (store_create + store_open),
 * removed afterwards.
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
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "store_fixture.h"
#include "crypto/hash.h"
#include "proto/manifest.h"
#include "store/objects.h"
#include "store/store.h"
#include "util/encoding.h"
#include "util/error.h"
#include "util/log.h"

/* Room for the largest object read with OBJECTS_DIRECT, and some. */
#define READ_CAP objects_align_up(OBJECT_SIZE_MAX + 100)

struct fixture {
	char home[STORE_FIXTURE_PATH];
	struct store *s;
	uint8_t *out; /* READ_CAP bytes, aligned for direct I/O */
};

static int setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));
	if (!fx)
		return -1;
	void *out = NULL;
	if (posix_memalign(&out, OBJECTS_ALIGN, READ_CAP)) {
		free(fx);
		return -1;
	}
	fx->out = out;
	if (store_fixture_setup(fx->home, NULL, &fx->s, "objects")) {
		free(fx->out);
		free(fx);
		return -1;
	}
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *fx = *state;
	int err = store_fixture_teardown(fx->home, NULL, fx->s);
	free(fx->out);
	free(fx);
	return err;
}

/* xorshift64*: small, seeded, reproducible. */
static uint64_t rng_next(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * UINT64_C(0x2545f4914f6cdd1d);
}

/* Returns n seeded pseudo-random bytes (caller frees). */
static uint8_t *random_bytes_seeded(size_t n, uint64_t seed)
{
	uint8_t *p = malloc(n ? n : 1);
	assert_non_null(p);
	uint64_t s = seed ? seed : 1;
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(rng_next(&s) >> 56);
	return p;
}

/* Writes the object's path into out (PATH_MAX bytes). */
static void object_path(const struct fixture *fx, const uint8_t id[CHUNK_ID_LEN], char *out)
{
	objects_path(&fx->s->objects, id, out, PATH_MAX);
}

/* Stores p[0..n) as an object and returns its id in id. */
static void put_object(struct fixture *fx, const uint8_t *p, size_t n, uint8_t id[CHUNK_ID_LEN])
{
	int created = -1;
	sha256(p, n, id);
	assert_int_equal(objects_write(&fx->s->objects, id, p, n, 0, &created), 0);
	assert_int_equal(created, 1);
	assert_int_equal(objects_sync(&fx->s->objects), 0);
}

/* Overwrites the file at path with p[0..n) (mode bits of objects notwithstanding). */
static void write_raw(const char *path, const void *p, size_t n)
{
	chmod(path, 0600);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, p, n), (ssize_t)n);
	assert_int_equal(close(fd), 0);
}

/* Reads id into fx->out both ways; both must give want (and, on success, n bytes). */
static void read_both(struct fixture *fx, const uint8_t id[CHUNK_ID_LEN], int want, size_t n)
{
	const int flags[] = {0, OBJECTS_DIRECT};
	for (size_t i = 0; i < 2; i++) {
		size_t len = 12345;
		assert_int_equal(
			objects_read(&fx->s->objects, id, fx->out, READ_CAP, flags[i], &len), want);
		if (!want)
			assert_int_equal(len, n);
		else
			assert_int_equal(len, 12345);
	}
}

static void flip_byte(const char *path, off_t off)
{
	chmod(path, 0600);
	int fd = open(path, O_RDWR);
	assert_true(fd >= 0);
	uint8_t b;
	assert_int_equal(pread(fd, &b, 1, off), 1);
	b ^= 0x01;
	assert_int_equal(pwrite(fd, &b, 1, off), 1);
	assert_int_equal(close(fd), 0);
}

static void test_write_read_round_trip(void **state)
{
	struct fixture *fx = *state;
	const size_t sizes[] = {0, 1, 4095, 4096, 4097, 100000, OBJECT_SIZE_MAX};
	uint8_t *in = NULL;
	assert_int_equal(posix_memalign((void **)&in, OBJECTS_ALIGN, READ_CAP), 0);
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		for (int direct = 0; direct < 2; direct++) {
			const size_t n = sizes[i];
			/* Bytes past n are padding a direct write may send; they must not
			 * end up in the object. */
			memset(in, 0xee, READ_CAP);
			uint8_t *p = random_bytes_seeded(n, 100 + 2 * i + (size_t)direct);
			if (n)
				memcpy(in, p, n);
			uint8_t id[CHUNK_ID_LEN];
			sha256(in, n, id);
			int created = -1;
			assert_int_equal(objects_write(&fx->s->objects, id, in, n,
						       direct ? OBJECTS_DIRECT : 0, &created),
					 0);
			assert_int_equal(created, 1);
			assert_int_equal(objects_sync(&fx->s->objects), 0);
			assert_int_equal(objects_exists(&fx->s->objects, id), 1);

			char path[PATH_MAX];
			object_path(fx, id, path);
			struct stat st;
			assert_int_equal(stat(path, &st), 0);
			assert_int_equal(st.st_size, n);

			const int flags[] = {0, OBJECTS_DIRECT};
			for (size_t f = 0; f < 2; f++) {
				size_t len = 12345;
				memset(fx->out, 0xaa, READ_CAP);
				assert_int_equal(objects_read(&fx->s->objects, id, fx->out,
							      READ_CAP, flags[f], &len),
						 0);
				assert_int_equal(len, n);
				if (n)
					assert_memory_equal(fx->out, p, n);
			}
			uint64_t size = 777;
			assert_int_equal(objects_verify(&fx->s->objects, id, &size), 0);
			assert_int_equal(size, n);
			assert_int_equal(objects_verify(&fx->s->objects, id, NULL), 0);
			/* Next round writes the same size afresh. */
			assert_int_equal(objects_delete(&fx->s->objects, id), 0);
			free(p);
		}
	}
	free(in);
}

static void test_path_layout(void **state)
{
	struct fixture *fx = *state;
	const char text[] = "the path of an object";
	uint8_t id[CHUNK_ID_LEN];
	put_object(fx, (const uint8_t *)text, sizeof(text), id);

	char hex[2 * CHUNK_ID_LEN + 1], want[PATH_MAX], got[PATH_MAX];
	hex_encode(hex, id, CHUNK_ID_LEN);
	assert_int_equal(strlen(hex), 64);
	snprintf(want, sizeof(want), "%s/objects/%.2s/%s", fx->home, hex, hex);
	object_path(fx, id, got);
	assert_string_equal(got, want);

	struct stat st;
	assert_int_equal(stat(want, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(st.st_size, sizeof(text));
	/* Nothing was left behind in the temp directory. */
	char tmpdir[PATH_MAX];
	snprintf(tmpdir, sizeof(tmpdir), "%s/objects/tmp", fx->home);
	DIR *d = opendir(tmpdir);
	assert_non_null(d);
	struct dirent *de;
	while ((de = readdir(d)))
		assert_true(de->d_name[0] == '.');
	closedir(d);
}

static void test_existing_id_not_rewritten(void **state)
{
	struct fixture *fx = *state;
	uint8_t *p = random_bytes_seeded(5000, 7);
	uint8_t id[CHUNK_ID_LEN];
	put_object(fx, p, 5000, id);
	char path[PATH_MAX];
	object_path(fx, id, path);
	struct stat before, after;
	assert_int_equal(stat(path, &before), 0);

	/* Same id again, with other bytes: the existing file must be left alone. */
	uint8_t *other = random_bytes_seeded(300, 8);
	int created = -1;
	assert_int_equal(objects_write(&fx->s->objects, id, other, 300, 0, &created), 0);
	assert_int_equal(created, 0);
	assert_int_equal(objects_write(&fx->s->objects, id, p, 5000, 0, NULL), 0);
	assert_int_equal(stat(path, &after), 0);
	assert_int_equal(after.st_ino, before.st_ino);
	assert_int_equal(after.st_size, 5000);

	read_both(fx, id, 0, 5000);
	assert_memory_equal(fx->out, p, 5000);
	free(p);
	free(other);
}

static void test_flipped_byte_is_corrupt(void **state)
{
	struct fixture *fx = *state;
	const size_t n = 70000;
	uint8_t *p = random_bytes_seeded(n, 11);
	const off_t offsets[] = {0, 33333, 65536, (off_t)n - 1};
	for (size_t i = 0; i < sizeof(offsets) / sizeof(offsets[0]); i++) {
		uint8_t id[CHUNK_ID_LEN];
		p[0] = (uint8_t)i; /* a distinct object each round */
		put_object(fx, p, n, id);
		char path[PATH_MAX];
		object_path(fx, id, path);
		flip_byte(path, offsets[i]);
		read_both(fx, id, SHOAL_ECORRUPT, n);
		assert_int_equal(objects_verify(&fx->s->objects, id, NULL), SHOAL_ECORRUPT);
		/* Flipping it back heals it: the check is on content, not on a flag. */
		flip_byte(path, offsets[i]);
		read_both(fx, id, 0, n);
		assert_int_equal(objects_verify(&fx->s->objects, id, NULL), 0);
	}
	free(p);
}

static void test_missing_id(void **state)
{
	struct fixture *fx = *state;
	uint8_t id[CHUNK_ID_LEN];
	sha256("never stored", 12, id);
	uint64_t size = 99;
	assert_int_equal(objects_exists(&fx->s->objects, id), 0);
	read_both(fx, id, SHOAL_EMISSING, 0);
	assert_int_equal(objects_verify(&fx->s->objects, id, &size), SHOAL_EMISSING);
	assert_int_equal(size, 99);
}

static void test_truncated_is_corrupt(void **state)
{
	struct fixture *fx = *state;
	const size_t n = 10000;
	uint8_t *p = random_bytes_seeded(n, 12);
	uint8_t id[CHUNK_ID_LEN];
	put_object(fx, p, n, id);
	char path[PATH_MAX];
	object_path(fx, id, path);
	const off_t lengths[] = {(off_t)n - 1, 8192, 4096, 1, 0};
	for (size_t i = 0; i < sizeof(lengths) / sizeof(lengths[0]); i++) {
		chmod(path, 0600);
		assert_int_equal(truncate(path, lengths[i]), 0);
		read_both(fx, id, SHOAL_ECORRUPT, 0);
		assert_int_equal(objects_verify(&fx->s->objects, id, NULL), SHOAL_ECORRUPT);
	}
	free(p);
}

static void test_oversized_is_corrupt(void **state)
{
	struct fixture *fx = *state;
	/* Named by its true hash, so only the size can be objected to. */
	const size_t n = OBJECT_SIZE_MAX + 1;
	uint8_t *p = random_bytes_seeded(n, 13);
	uint8_t id[CHUNK_ID_LEN];
	sha256(p, n, id);
	char path[PATH_MAX];
	object_path(fx, id, path);
	write_raw(path, p, n);
	read_both(fx, id, SHOAL_ECORRUPT, 0);
	assert_int_equal(objects_verify(&fx->s->objects, id, NULL), SHOAL_ECORRUPT);

	/* One byte less is the largest object there is, and it is fine. */
	sha256(p, n - 1, id);
	object_path(fx, id, path);
	write_raw(path, p, n - 1);
	read_both(fx, id, 0, OBJECT_SIZE_MAX);
	assert_memory_equal(fx->out, p, OBJECT_SIZE_MAX);
	assert_int_equal(objects_verify(&fx->s->objects, id, NULL), 0);
	free(p);
}

struct seen {
	uint8_t ids[16][CHUNK_ID_LEN];
	size_t n;
	int stop_after; /* 0: never */
};

static int collect_id(const uint8_t id[CHUNK_ID_LEN], void *arg)
{
	struct seen *v = arg;
	assert_true(v->n < 16);
	memcpy(v->ids[v->n++], id, CHUNK_ID_LEN);
	if (v->stop_after && (int)v->n == v->stop_after)
		return 42;
	return 0;
}

/* Number of times id occurs in v. */
static int seen_count(const struct seen *v, const uint8_t id[CHUNK_ID_LEN])
{
	int count = 0;
	for (size_t i = 0; i < v->n; i++)
		count += memcmp(v->ids[i], id, CHUNK_ID_LEN) == 0;
	return count;
}

static void test_iterate_visits_stored_ids(void **state)
{
	struct fixture *fx = *state;
	struct seen v = {0};
	assert_int_equal(objects_iterate(&fx->s->objects, collect_id, &v), 0);
	assert_int_equal(v.n, 0);

	uint8_t ids[6][CHUNK_ID_LEN];
	for (size_t i = 0; i < 6; i++) {
		char text[32];
		int n = snprintf(text, sizeof(text), "object number %zu", i);
		put_object(fx, (const uint8_t *)text, (size_t)n, ids[i]);
	}

	/* Junk the iteration must not report. */
	char path[PATH_MAX], hex[2 * CHUNK_ID_LEN + 1];
	snprintf(path, sizeof(path), "%s/objects/00/xyz", fx->home);
	write_raw(path, "junk", 4);
	hex_encode(hex, ids[0], CHUNK_ID_LEN);
	unsigned wrong = (ids[0][0] + 1) & 0xff;
	snprintf(path, sizeof(path), "%s/objects/%02x/%s", fx->home, wrong, hex);
	write_raw(path, "junk", 4);
	snprintf(path, sizeof(path), "%s/objects/%.2s/%.63s", fx->home, hex, hex);
	write_raw(path, "junk", 4); /* 63 digits */
	snprintf(path, sizeof(path), "%s/objects/%.2s/%sa", fx->home, hex, hex);
	write_raw(path, "junk", 4); /* 65 digits */
	snprintf(path, sizeof(path), "%s/objects/tmp/%s", fx->home, hex);
	write_raw(path, "junk", 4);

	assert_int_equal(objects_iterate(&fx->s->objects, collect_id, &v), 0);
	assert_int_equal(v.n, 6);
	for (size_t i = 0; i < 6; i++)
		assert_int_equal(seen_count(&v, ids[i]), 1);

	/* A non-zero return stops the walk and is passed through. */
	struct seen stop = {.stop_after = 2};
	assert_int_equal(objects_iterate(&fx->s->objects, collect_id, &stop), 42);
	assert_int_equal(stop.n, 2);
}

/*
 * A file named by 64 upper-case hex digits is not an object (objects_path spells ids in
 * lower case, so no read or delete would ever find it). Reporting it hands callers such
 * as store_verify an id that objects_verify answers with SHOAL_EMISSING.
 */
static void test_iterate_skips_uppercase_names(void **state)
{
	struct fixture *fx = *state;
	const char text[] = "upper";
	uint8_t id[CHUNK_ID_LEN];
	sha256(text, sizeof(text), id);
	char hex[2 * CHUNK_ID_LEN + 1], path[PATH_MAX];
	hex_encode(hex, id, CHUNK_ID_LEN);
	for (char *c = hex; *c; c++)
		if (*c >= 'a' && *c <= 'f')
			*c = (char)(*c - 'a' + 'A');
	snprintf(path, sizeof(path), "%s/objects/%02x/%s", fx->home, id[0], hex);
	write_raw(path, text, sizeof(text));

	struct seen v = {0};
	assert_int_equal(objects_iterate(&fx->s->objects, collect_id, &v), 0);
	assert_int_equal(v.n, 0);
}

static void test_open_removes_temp_files(void **state)
{
	struct fixture *fx = *state;
	const char text[] = "a real object survives";
	uint8_t id[CHUNK_ID_LEN];
	put_object(fx, (const uint8_t *)text, sizeof(text), id);

	char tmpdir[256], path[PATH_MAX];
	snprintf(tmpdir, sizeof(tmpdir), "%s/objects/tmp", fx->home);
	const char *names[] = {"stray", "0123456789abcdef", "ffffffffffffffff"};
	for (size_t i = 0; i < 3; i++) {
		snprintf(path, sizeof(path), "%s/%s", tmpdir, names[i]);
		write_raw(path, "half-written chunk", 18);
	}
	store_close(fx->s);
	fx->s = NULL;

	struct objects o;
	assert_int_equal(objects_open(&o, fx->home), 0);
	int left = 0;
	DIR *d = opendir(tmpdir);
	assert_non_null(d);
	struct dirent *de;
	while ((de = readdir(d)))
		left += strcmp(de->d_name, ".") && strcmp(de->d_name, "..");
	closedir(d);
	assert_int_equal(left, 0);
	assert_int_equal(objects_exists(&o, id), 1);
	assert_int_equal(objects_verify(&o, id, NULL), 0);

	assert_int_equal(store_open(&fx->s, fx->home, 0), 0);
}

static void test_delete(void **state)
{
	struct fixture *fx = *state;
	const char a[] = "delete me", b[] = "keep me";
	uint8_t ida[CHUNK_ID_LEN], idb[CHUNK_ID_LEN];
	put_object(fx, (const uint8_t *)a, sizeof(a), ida);
	put_object(fx, (const uint8_t *)b, sizeof(b), idb);

	assert_int_equal(objects_delete(&fx->s->objects, ida), 0);
	assert_int_equal(objects_sync(&fx->s->objects), 0);
	char path[PATH_MAX];
	object_path(fx, ida, path);
	assert_int_equal(access(path, F_OK), -1);
	assert_int_equal(errno, ENOENT);
	assert_int_equal(objects_exists(&fx->s->objects, ida), 0);
	read_both(fx, ida, SHOAL_EMISSING, 0);
	assert_int_equal(objects_exists(&fx->s->objects, idb), 1);

	/* Absent ids, deleted before or never stored, are fine. */
	assert_int_equal(objects_delete(&fx->s->objects, ida), 0);
	uint8_t never[CHUNK_ID_LEN];
	sha256("never", 5, never);
	assert_int_equal(objects_delete(&fx->s->objects, never), 0);
	assert_int_equal(objects_sync(&fx->s->objects), 0);

	/* It can be written again after a delete. */
	int created = 0;
	assert_int_equal(
		objects_write(&fx->s->objects, ida, (const uint8_t *)a, sizeof(a), 0, &created), 0);
	assert_int_equal(created, 1);
	read_both(fx, ida, 0, sizeof(a));
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
	log_init(LOG_LEVEL_ERROR, 0);
	const struct CMUnitTest tests[] = {
		T(test_write_read_round_trip),
		T(test_path_layout),
		T(test_existing_id_not_rewritten),
		T(test_flipped_byte_is_corrupt),
		T(test_missing_id),
		T(test_truncated_is_corrupt),
		T(test_oversized_is_corrupt),
		T(test_iterate_visits_stored_ids),
		T(test_iterate_skips_uppercase_names),
		T(test_open_removes_temp_files),
		T(test_delete),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
