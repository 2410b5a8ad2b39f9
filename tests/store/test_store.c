/*
 * Tests for opening, recovering, verifying and releasing a store (src/store/store.c): a
 * directory that is not a node home is refused; the home lock excludes a second opener
 * (flock is per open file description, so one process can test it); a crash, simulated by
 * leaving the "store.open" marker behind, makes the next open delete object files no index
 * row names, drop rows whose files are gone and release what an interrupted put stored, and
 * a recovery that fails must leave the marker for the next try; store_verify reports corrupt and
 * missing chunks; removing a name releases only the chunks no other name needs. Each test gets a
 * fresh node home under /tmp (store_create + store_open) and a scratch directory, both removed
 * afterwards.
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
#include "proto/capability.h"
#include "proto/manifest.h"
#include "store/files.h"
#include "store/index.h"
#include "store/objects.h"
#include "store/store.h"
#include "util/encoding.h"
#include "util/error.h"
#include "util/log.h"

struct fixture {
	char home[STORE_FIXTURE_PATH];
	char work[STORE_FIXTURE_PATH]; /* input files, outside the home */
	struct store *s;
};

static int setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));
	if (!fx)
		return -1;
	if (store_fixture_setup(fx->home, fx->work, &fx->s, "store")) {
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

/* xorshift64*: small, seeded, reproducible. */
static uint64_t rng_next(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * UINT64_C(0x2545f4914f6cdd1d);
}

/* Writes size seeded pseudo-random bytes to work/name, with a fixed mtime; returns an fd
 * open for reading at its start. */
static int make_input(struct fixture *fx, const char *name, size_t size, uint64_t seed)
{
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/%s", fx->work, name);
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
	assert_true(fd >= 0);
	uint8_t block[65536];
	uint64_t s = seed ? seed : 1;
	for (size_t done = 0; done < size;) {
		size_t n = size - done < sizeof(block) ? size - done : sizeof(block);
		for (size_t i = 0; i < n; i += 8) {
			uint64_t x = rng_next(&s);
			memcpy(block + i, &x, n - i < 8 ? n - i : 8);
		}
		assert_int_equal(write(fd, block, n), (ssize_t)n);
		done += n;
	}
	struct timespec times[2] = {{.tv_sec = 1600000000}, {.tv_sec = 1600000000}};
	assert_int_equal(futimens(fd, times), 0);
	assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
	return fd;
}

/* Puts size bytes from seed under name; returns the capability. */
static void put_file(struct fixture *fx, const char *name, size_t size, uint64_t seed,
		     struct capability *cap)
{
	int fd = make_input(fx, name, size, seed);
	uint64_t got = 0;
	assert_int_equal(files_put(fx->s, fd, name, NULL, cap, &got), 0);
	assert_int_equal(got, size);
	close(fd);
}

static void home_path(const struct fixture *fx, const char *name, char *out)
{
	snprintf(out, PATH_MAX, "%s/%s", fx->home, name);
}

static int exists(const char *path)
{
	return access(path, F_OK) == 0;
}

static int count_object(const struct stat *st, int type)
{
	return type == FTW_F && S_ISREG(st->st_mode);
}

static int counted;
static int count_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	(void)path;
	(void)ftw;
	counted += count_object(st, type);
	return 0;
}

/* Number of regular files under home/objects. */
static int count_objects(const struct fixture *fx)
{
	char path[PATH_MAX];
	home_path(fx, "objects", path);
	counted = 0;
	assert_int_equal(nftw(path, count_entry, 16, FTW_PHYS), 0);
	return counted;
}

static void object_path(const struct fixture *fx, const uint8_t id[CHUNK_ID_LEN], char *out)
{
	objects_path(&fx->s->objects, id, out, PATH_MAX);
}

static void flip_byte(const char *path, off_t off)
{
	chmod(path, 0600);
	int fd = open(path, O_RDWR);
	assert_true(fd >= 0);
	uint8_t b;
	assert_int_equal(pread(fd, &b, 1, off), 1);
	b ^= 0x80;
	assert_int_equal(pwrite(fd, &b, 1, off), 1);
	assert_int_equal(close(fd), 0);
}

/* Closes the store cleanly, then leaves the marker a crash would have left. */
static void close_as_if_crashed(struct fixture *fx)
{
	char marker[PATH_MAX];
	home_path(fx, "store.open", marker);
	assert_true(exists(marker));
	store_close(fx->s);
	fx->s = NULL;
	assert_false(exists(marker));
	int fd = open(marker, O_WRONLY | O_CREAT | O_EXCL, 0600);
	assert_true(fd >= 0);
	close(fd);
}

/* Writes an object no index row names (as a put that never committed would). */
static void write_orphan(struct fixture *fx, const char *text, uint8_t id[CHUNK_ID_LEN])
{
	sha256(text, strlen(text), id);
	int created = 0;
	assert_int_equal(objects_write(&fx->s->objects, id, (const uint8_t *)text, strlen(text), 0,
				       &created),
			 0);
	assert_int_equal(created, 1);
	assert_int_equal(objects_sync(&fx->s->objects), 0);
}

static void test_open_not_a_home(void **state)
{
	struct fixture *fx = *state;
	struct store *s = (struct store *)&s; /* must stay untouched */
	struct store *before = s;
	assert_int_equal(store_open(&s, fx->work, 0), SHOAL_EIDENTITY);
	assert_ptr_equal(s, before);
	assert_int_equal(store_open(&s, fx->work, STORE_NOWAIT), SHOAL_EIDENTITY);
	/* Refusing did not turn the directory into a half home. */
	DIR *d = opendir(fx->work);
	assert_non_null(d);
	struct dirent *de;
	while ((de = readdir(d)))
		assert_true(!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."));
	closedir(d);

	/* Nor is a missing directory a home. */
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/absent", fx->work);
	assert_int_not_equal(store_open(&s, path, 0), 0);

	/* A home cannot be created twice. */
	assert_int_equal(store_create(fx->home), SHOAL_EEXIST);
}

static void test_lock_excludes_second_open(void **state)
{
	struct fixture *fx = *state;
	char marker[PATH_MAX];
	home_path(fx, "store.open", marker);
	assert_true(exists(marker));

	struct store *second = NULL;
	assert_int_equal(store_open(&second, fx->home, STORE_NOWAIT), -EWOULDBLOCK);
	assert_null(second);
	/* The refused open must not touch the holder's state. */
	assert_true(exists(marker));
	assert_int_equal(store_open(&second, fx->home, STORE_NOWAIT), -EWOULDBLOCK);

	store_close(fx->s);
	fx->s = NULL;
	assert_false(exists(marker));
	assert_int_equal(store_open(&fx->s, fx->home, STORE_NOWAIT), 0);
	assert_true(exists(marker));
	assert_int_equal(store_open(&second, fx->home, STORE_NOWAIT), -EWOULDBLOCK);
}

static void test_recovery_deletes_orphans(void **state)
{
	struct fixture *fx = *state;
	struct capability cap;
	put_file(fx, "kept", 600000, 1, &cap);
	int stored = count_objects(fx);
	assert_true(stored >= 2);

	uint8_t orphan[CHUNK_ID_LEN], orphan2[CHUNK_ID_LEN];
	write_orphan(fx, "written by a put that never committed", orphan);
	write_orphan(fx, "and another one", orphan2);
	char path[PATH_MAX], path2[PATH_MAX];
	object_path(fx, orphan, path);
	object_path(fx, orphan2, path2);
	assert_int_equal(count_objects(fx), stored + 2);

	close_as_if_crashed(fx);
	assert_int_equal(store_open(&fx->s, fx->home, 0), 0);
	assert_false(exists(path));
	assert_false(exists(path2));
	assert_int_equal(count_objects(fx), stored);

	/* What was committed survives the recovery, whole. */
	char out[PATH_MAX];
	snprintf(out, sizeof(out), "%s/kept.out", fx->work);
	assert_int_equal(files_get(fx->s, &cap, out, NULL, NULL, NULL), 0);
	struct stat st;
	assert_int_equal(stat(out, &st), 0);
	assert_int_equal(st.st_size, 600000);
	struct store_verify_report r;
	assert_int_equal(store_verify(fx->s, NULL, NULL, &r), 0);
	assert_int_equal(r.checked, stored);
	assert_int_equal(r.corrupt, 0);
	assert_int_equal(r.missing, 0);
}

static void test_recovery_drops_rows_of_deleted_files(void **state)
{
	struct fixture *fx = *state;
	/* Ten indexed objects a named manifest needs; every other file vanishes. */
	uint8_t ids[10][CHUNK_ID_LEN], manifest[CHUNK_ID_LEN];
	sha256("manifest", 8, manifest);
	assert_int_equal(index_begin(fx->s->index), 0);
	for (int i = 0; i < 10; i++) {
		char text[32];
		snprintf(text, sizeof(text), "indexed object %d", i);
		write_orphan(fx, text, ids[i]);
		assert_int_equal(index_chunk_add(fx->s->index, ids[i], strlen(text)), 0);
		assert_int_equal(index_ref_add(fx->s->index, manifest, ids[i]), 0);
	}
	struct index_name n = {.name = "name", .cap = "shoal:x", .size = 1};
	memcpy(n.manifest, manifest, CHUNK_ID_LEN);
	assert_int_equal(index_name_set(fx->s->index, &n, NULL, NULL), 0);
	assert_int_equal(index_commit(fx->s->index), 0);
	for (int i = 0; i < 10; i += 2) {
		char path[PATH_MAX];
		object_path(fx, ids[i], path);
		assert_int_equal(unlink(path), 0);
	}

	close_as_if_crashed(fx);
	assert_int_equal(store_open(&fx->s, fx->home, 0), 0);
	for (int i = 0; i < 10; i++) {
		assert_int_equal(index_chunk_has(fx->s->index, ids[i]), i % 2);
		assert_int_equal(objects_exists(&fx->s->objects, ids[i]), i % 2);
	}
	uint64_t count = 0, bytes = 0;
	assert_int_equal(index_chunk_stats(fx->s->index, &count, &bytes), 0);
	assert_int_equal(count, 5);
	/* The refs stay: the five are missing, not forgotten. */
	struct store_verify_report r;
	assert_int_equal(store_verify(fx->s, NULL, NULL, &r), 0);
	assert_int_equal(r.missing, 5);
	assert_int_equal(r.checked, 5);
	assert_int_equal(r.corrupt, 0);
}

/* A put cut short by a crash left chunk rows under a pending token: recovery releases
 * them, and their files, unless a name needs them too. */
static void test_recovery_releases_interrupted_put(void **state)
{
	struct fixture *fx = *state;
	struct capability cap;
	put_file(fx, "kept", 600000, 8, &cap);
	struct manifest m = {0};
	assert_int_equal(files_read_manifest(fx->s, &cap, &m), 0);
	uint8_t shared[CHUNK_ID_LEN];
	memcpy(shared, m.chunks[0].id, CHUNK_ID_LEN);
	manifest_release(&m);
	int stored = count_objects(fx);

	uint8_t token[CHUNK_ID_LEN], ids[3][CHUNK_ID_LEN];
	sha256("token", 5, token);
	assert_int_equal(index_pending_set(fx->s->index, token, 1), 0);
	assert_int_equal(index_begin(fx->s->index), 0);
	for (int i = 0; i < 3; i++) {
		char text[32];
		snprintf(text, sizeof(text), "interrupted %d", i);
		write_orphan(fx, text, ids[i]);
		assert_int_equal(index_chunk_add(fx->s->index, ids[i], strlen(text)), 0);
		assert_int_equal(index_ref_add(fx->s->index, token, ids[i]), 0);
	}
	assert_int_equal(index_ref_add(fx->s->index, token, shared), 0);
	assert_int_equal(index_commit(fx->s->index), 0);
	/* While the put is pending, collecting garbage keeps its chunks. */
	assert_int_equal(index_begin(fx->s->index), 0);
	assert_int_equal(store_commit_releasing(fx->s), 0);
	assert_int_equal(count_objects(fx), stored + 3);

	close_as_if_crashed(fx);
	assert_int_equal(store_open(&fx->s, fx->home, 0), 0);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(index_chunk_has(fx->s->index, ids[i]), 0);
		assert_int_equal(objects_exists(&fx->s->objects, ids[i]), 0);
	}
	assert_int_equal(index_chunk_has(fx->s->index, shared), 1);
	assert_int_equal(count_objects(fx), stored);
	char out[PATH_MAX];
	snprintf(out, sizeof(out), "%s/kept.out", fx->work);
	assert_int_equal(files_get(fx->s, &cap, out, NULL, NULL, NULL), 0);
}

struct bad_list {
	uint8_t ids[8][CHUNK_ID_LEN];
	int errs[8];
	size_t n;
};

static void note_bad(const uint8_t id[CHUNK_ID_LEN], int err, void *arg)
{
	struct bad_list *b = arg;
	assert_true(b->n < 8);
	memcpy(b->ids[b->n], id, CHUNK_ID_LEN);
	b->errs[b->n++] = err;
}

static void test_recovery_of_a_put_file(void **state)
{
	struct fixture *fx = *state;
	struct capability cap;
	put_file(fx, "file", 3 * 1024 * 1024, 2, &cap);
	struct manifest m = {0};
	assert_int_equal(files_read_manifest(fx->s, &cap, &m), 0);
	assert_true(m.nchunks >= 2);
	uint8_t gone[CHUNK_ID_LEN];
	memcpy(gone, m.chunks[1].id, CHUNK_ID_LEN);
	manifest_release(&m);
	char path[PATH_MAX];
	object_path(fx, gone, path);
	assert_int_equal(unlink(path), 0);

	close_as_if_crashed(fx);
	assert_int_equal(store_open(&fx->s, fx->home, 0), 0);
	assert_int_equal(index_chunk_has(fx->s->index, gone), 0);

	/* The name still needs the chunk, so verify says it is missing. */
	struct bad_list bad = {0};
	struct store_verify_report r;
	assert_int_equal(store_verify(fx->s, note_bad, &bad, &r), 0);
	assert_int_equal(r.missing, 1);
	assert_int_equal(r.corrupt, 0);
	assert_int_equal(bad.n, 1);
	assert_memory_equal(bad.ids[0], gone, CHUNK_ID_LEN);
	assert_int_equal(bad.errs[0], SHOAL_EMISSING);

	char out[PATH_MAX];
	snprintf(out, sizeof(out), "%s/file.out", fx->work);
	struct files_failure failed = {0};
	assert_int_equal(files_get(fx->s, &cap, out, NULL, NULL, &failed), SHOAL_EMISSING);
	assert_true(failed.set);
	assert_memory_equal(failed.id, gone, CHUNK_ID_LEN);
	assert_false(exists(out));
}

/*
 * A recovery that fails part way must leave the crash marker, so that the next open
 * recovers again. Here a directory where an object file should be makes deleting it
 * fail; once it is gone, opening must still delete the orphan.
 */
static void test_failed_recovery_is_retried(void **state)
{
	struct fixture *fx = *state;
	/* An orphan in a subdirectory the walk reaches after the obstacle in 00/. */
	uint8_t orphan[CHUNK_ID_LEN];
	char text[64];
	for (int i = 0;; i++) {
		snprintf(text, sizeof(text), "orphan %d", i);
		sha256(text, strlen(text), orphan);
		if (orphan[0] >= 0x80)
			break;
	}
	write_orphan(fx, text, orphan);
	char orphan_path[PATH_MAX], obstacle[PATH_MAX], inside[PATH_MAX + 16];
	object_path(fx, orphan, orphan_path);
	snprintf(obstacle, sizeof(obstacle), "%s/objects/00/00%062d", fx->home, 0);
	assert_int_equal(mkdir(obstacle, 0700), 0);
	snprintf(inside, sizeof(inside), "%s/x", obstacle);
	int fd = open(inside, O_WRONLY | O_CREAT, 0600);
	assert_true(fd >= 0);
	close(fd);

	close_as_if_crashed(fx);
	int err = store_open(&fx->s, fx->home, 0);
	if (err == 0) {
		store_close(fx->s);
		fx->s = NULL;
	}
	assert_int_equal(unlink(inside), 0);
	assert_int_equal(rmdir(obstacle), 0);
	assert_int_equal(store_open(&fx->s, fx->home, 0), 0);
	assert_false(exists(orphan_path));
}

static void test_verify_reports_corrupt(void **state)
{
	struct fixture *fx = *state;
	struct capability cap;
	put_file(fx, "one", 2 * 1024 * 1024, 3, &cap);
	put_file(fx, "two", 1000, 4, &cap);
	int stored = count_objects(fx);
	uint64_t count = 0, bytes = 0;
	assert_int_equal(index_chunk_stats(fx->s->index, &count, &bytes), 0);
	assert_int_equal(count, stored);

	struct bad_list bad = {0};
	struct store_verify_report r;
	assert_int_equal(store_verify(fx->s, note_bad, &bad, &r), 0);
	assert_int_equal(r.checked, stored);
	assert_int_equal(r.bytes, bytes);
	assert_int_equal(r.corrupt, 0);
	assert_int_equal(r.missing, 0);
	assert_int_equal(bad.n, 0);

	/* Damage one data chunk of "two". */
	struct manifest m = {0};
	assert_int_equal(files_read_manifest(fx->s, &cap, &m), 0);
	assert_int_equal(m.nchunks, 1);
	uint8_t victim[CHUNK_ID_LEN];
	memcpy(victim, m.chunks[0].id, CHUNK_ID_LEN);
	manifest_release(&m);
	char path[PATH_MAX];
	object_path(fx, victim, path);
	flip_byte(path, 500);

	assert_int_equal(store_verify(fx->s, note_bad, &bad, &r), 0);
	assert_int_equal(r.checked, stored);
	assert_int_equal(r.corrupt, 1);
	assert_int_equal(r.missing, 0);
	assert_int_equal(r.bytes, bytes - (1000 + CHUNK_TAG_LEN));
	assert_int_equal(bad.n, 1);
	assert_memory_equal(bad.ids[0], victim, CHUNK_ID_LEN);
	assert_int_equal(bad.errs[0], SHOAL_ECORRUPT);

	/* Without a callback the report alone still counts it. */
	assert_int_equal(store_verify(fx->s, NULL, NULL, &r), 0);
	assert_int_equal(r.corrupt, 1);
}

static void test_remove_name_releases_unshared_chunks(void **state)
{
	struct fixture *fx = *state;
	struct capability a, b, c;
	/* "a" and "b": the same file under two names; "c": other content. */
	put_file(fx, "a", 1500000, 5, &a);
	int one_file = count_objects(fx);
	assert_true(one_file >= 2);
	int fd = make_input(fx, "a", 1500000, 5);
	uint64_t size = 0;
	assert_int_equal(files_put(fx->s, fd, "b", NULL, &b, &size), 0);
	close(fd);
	assert_memory_equal(&a, &b, sizeof(a));
	assert_int_equal(count_objects(fx), one_file);
	put_file(fx, "c", 700000, 6, &c);
	int all = count_objects(fx);
	assert_true(all > one_file);

	assert_int_equal(store_remove_name(fx->s, "a"), 0);
	assert_int_equal(count_objects(fx), all);
	struct index_name n;
	assert_int_equal(index_name_get(fx->s->index, "a", &n), SHOAL_ENOTFOUND);
	char out[PATH_MAX];
	snprintf(out, sizeof(out), "%s/b.out", fx->work);
	assert_int_equal(files_get(fx->s, &b, out, NULL, NULL, NULL), 0);

	assert_int_equal(store_remove_name(fx->s, "b"), 0);
	assert_int_equal(count_objects(fx), all - one_file);
	assert_int_equal(objects_exists(&fx->s->objects, b.id), 0);
	assert_int_equal(index_chunk_has(fx->s->index, b.id), 0);
	snprintf(out, sizeof(out), "%s/b.again", fx->work);
	assert_int_equal(files_get(fx->s, &b, out, NULL, NULL, NULL), SHOAL_EMISSING);
	snprintf(out, sizeof(out), "%s/c.out", fx->work);
	assert_int_equal(files_get(fx->s, &c, out, NULL, NULL, NULL), 0);

	assert_int_equal(store_remove_name(fx->s, "b"), SHOAL_ENOTFOUND);
	assert_int_equal(store_remove_name(fx->s, "never"), SHOAL_ENOTFOUND);
	/* A failed remove leaves no transaction open behind it. */
	assert_int_equal(store_remove_name(fx->s, "c"), 0);
	assert_int_equal(count_objects(fx), 0);
	uint64_t count = 1, bytes = 1;
	assert_int_equal(index_chunk_stats(fx->s->index, &count, &bytes), 0);
	assert_int_equal(count, 0);
	assert_int_equal(bytes, 0);
}

/* Different files sharing data chunks (same content, another mtime): removing one name
 * drops only its manifest. */
static void test_remove_name_keeps_chunks_of_other_manifest(void **state)
{
	struct fixture *fx = *state;
	struct capability a, b;
	put_file(fx, "a", 1200000, 7, &a);
	int one_file = count_objects(fx);
	int fd = make_input(fx, "b", 1200000, 7);
	struct timespec times[2] = {{.tv_sec = 1700000000}, {.tv_sec = 1700000000}};
	assert_int_equal(futimens(fd, times), 0);
	uint64_t size = 0;
	assert_int_equal(files_put(fx->s, fd, "b", NULL, &b, &size), 0);
	close(fd);
	assert_memory_not_equal(a.id, b.id, CHUNK_ID_LEN);
	assert_int_equal(count_objects(fx), one_file + 1);

	assert_int_equal(store_remove_name(fx->s, "a"), 0);
	assert_int_equal(count_objects(fx), one_file);
	assert_int_equal(objects_exists(&fx->s->objects, a.id), 0);
	char out[PATH_MAX];
	snprintf(out, sizeof(out), "%s/b.out", fx->work);
	assert_int_equal(files_get(fx->s, &b, out, NULL, NULL, NULL), 0);
	struct store_verify_report r;
	assert_int_equal(store_verify(fx->s, NULL, NULL, &r), 0);
	assert_int_equal(r.missing, 0);
	assert_int_equal(r.corrupt, 0);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
	log_init(LOG_LEVEL_ERROR, 0);
	const struct CMUnitTest tests[] = {
		T(test_open_not_a_home),
		T(test_lock_excludes_second_open),
		T(test_recovery_deletes_orphans),
		T(test_recovery_drops_rows_of_deleted_files),
		T(test_recovery_releases_interrupted_put),
		T(test_recovery_of_a_put_file),
		T(test_failed_recovery_is_retried),
		T(test_verify_reports_corrupt),
		T(test_remove_name_releases_unshared_chunks),
		T(test_remove_name_keeps_chunks_of_other_manifest),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
