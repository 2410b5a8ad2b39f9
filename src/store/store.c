/*
 * Opening, recovering, verifying and releasing the store; see store.h.
 */
#include "store/store.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "crypto/hash.h"
#include "store/located.h"
#include "store/restores.h"
#include "util/clock.h"
#include "util/encoding.h"
#include "util/error.h"
#include "util/fsutil.h"
#include "util/log.h"

#define SECRET_FILE "secret"
#define INDEX_FILE  "index.sqlite"
#define LOCK_FILE   "lock"
/* Present while a process has the store open; left behind by a crash. */
#define OPEN_MARKER "store.open"
/* Space kept aside so that removing names (which frees space, but must
 * first write to the index) still works on a full disk. */
#define RESERVE_FILE "reserve"
#define RESERVE_SIZE ((off_t)4 * 1024 * 1024)

static int home_path(const char *home, const char *name, char *out, size_t size)
{
	if ((size_t)snprintf(out, size, "%s/%s", home, name) >= size)
		return -ENAMETOOLONG;
	return 0;
}

int store_create(const char *home)
{
	char path[PATH_MAX];
	uint8_t secret[CONVERGENCE_SECRET_LEN];
	int err = home_path(home, SECRET_FILE, path, sizeof(path));
	if (err)
		return err;
	if (access(path, F_OK) == 0)
		return SHOAL_EEXIST;
	err = random_bytes(secret, sizeof(secret));
	if (!err)
		err = write_file_atomic(path, secret, sizeof(secret), 0600);
	if (err)
		return err;
	struct store *s;
	err = store_open(&s, home, STORE_NOWAIT);
	if (!err)
		store_close(s);
	return err;
}

static int load_secret(struct store *s)
{
	char path[PATH_MAX];
	struct buf b = BUF_INIT;
	int err = home_path(s->home, SECRET_FILE, path, sizeof(path));
	if (!err)
		err = read_file(path, &b, 64);
	if (err == -ENOENT) {
		err = SHOAL_EIDENTITY;
	} else if (!err && b.len != CONVERGENCE_SECRET_LEN) {
		log_warnx("%s: wrong length", path);
		err = SHOAL_EIDENTITY;
	}
	if (!err)
		memcpy(s->secret, b.data, CONVERGENCE_SECRET_LEN);
	buf_release(&b);
	return err;
}

static int take_lock(struct store *s, int flags)
{
	char path[PATH_MAX];
	int err = home_path(s->home, LOCK_FILE, path, sizeof(path));
	if (err)
		return err;
	s->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (s->lock_fd < 0)
		return -errno;
	int op = LOCK_EX | ((flags & STORE_NOWAIT) ? LOCK_NB : 0);
	while (flock(s->lock_fd, op)) {
		if (errno != EINTR)
			return -errno;
	}
	return 0;
}

/* Reconciliation: an object file no chunk row names is left over from a put
 * that never committed, so it is deleted. */
static int drop_unindexed(const uint8_t id[CHUNK_ID_LEN], void *arg)
{
	struct store *s = arg;
	int has = index_chunk_has(s->index, id);
	if (has < 0)
		return has;
	if (!has)
		return objects_delete(&s->objects, id);
	return 0;
}

/* Reconciliation: a chunk row whose file is gone cannot be served; the row is
 * dropped (refs stay, so verify reports the chunk missing). */
static int drop_absent(const uint8_t id[CHUNK_ID_LEN], uint64_t size, void *arg)
{
	(void)size;
	struct store *s = arg;
	int exists = objects_exists(&s->objects, id);
	if (exists < 0)
		return exists;
	struct located loc;
	size_t n;
	if (!exists && located_get(s->index, id, &loc, 1, &n) == 0)
		return 0; /* kept in a working tree */
	if (!exists) {
		char hex[2 * CHUNK_ID_LEN + 1];
		hex_encode(hex, id, CHUNK_ID_LEN);
		log_warnx("index names chunk %s but its file is missing", hex);
		return index_chunk_remove(s->index, id);
	}
	return 0;
}

static int reconcile(struct store *s)
{
	log_info("%s was not closed cleanly; reconciling index with disk", s->home);
	int err = objects_iterate(&s->objects, drop_unindexed, s);
	if (err)
		return err;
	err = index_begin(s->index);
	if (err)
		return err;
	err = index_chunks_foreach(s->index, drop_absent, s);
	if (err) {
		index_rollback(s->index);
		return err;
	}
	/* Puts cut short by the crash: release what only they stored. */
	err = index_pending_clear(s->index);
	if (err) {
		index_rollback(s->index);
		return err;
	}
	return store_commit_releasing(s);
}

/* Makes sure the reserve exists (best effort: a full disk goes without). */
static void reserve_space(struct store *s)
{
	char path[PATH_MAX];
	if (home_path(s->home, RESERVE_FILE, path, sizeof(path)))
		return;
	struct stat st;
	if (stat(path, &st) == 0 && st.st_size >= RESERVE_SIZE)
		return;
	int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return;
	if (posix_fallocate(fd, 0, RESERVE_SIZE))
		unlink(path);
	close(fd);
}

/* Gives the reserve back to the file system; 1 if there was one. */
static int release_reserve(struct store *s)
{
	char path[PATH_MAX];
	if (home_path(s->home, RESERVE_FILE, path, sizeof(path)))
		return 0;
	return unlink(path) == 0;
}

int store_open(struct store **out, const char *home, int flags)
{
	struct store *s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	pthread_mutex_init(&s->gc_lock, NULL);
	pthread_mutex_init(&s->readers_lock, NULL);
	s->lock_fd = -1;
	int err = 0;
	char path[PATH_MAX];
	if ((size_t)snprintf(s->home, sizeof(s->home), "%s", home) >= sizeof(s->home)) {
		err = -ENAMETOOLONG;
		goto out;
	}
	err = load_secret(s);
	if (err)
		goto out;
	err = take_lock(s, flags);
	if (err)
		goto out;
	err = objects_open(&s->objects, home);
	if (err)
		goto out;
	home_path(home, INDEX_FILE, path, sizeof(path));
	s->exclusive = !!(flags & STORE_EXCLUSIVE);
	err = index_open_mode(&s->index, path, s->exclusive);
	if (err)
		goto out;
	home_path(home, OPEN_MARKER, path, sizeof(path));
	if (access(path, F_OK) == 0) {
		err = reconcile(s);
		if (err == -ENOSPC) {
			/* The index never names what is not on disk, so reading is
			 * safe without it: leave the clean-up for an open with room. */
			log_warnx("the disk is full: the store's clean-up after an unclean close "
				  "waits for space");
			s->unclean = 1;
			err = 0;
		}
		if (err)
			goto out;
	} else {
		int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
		if (fd < 0) {
			err = -errno;
			goto out;
		}
		close(fd);
		err = fsync_dir(home);
		if (err)
			goto out;
	}
	/* Outputs of gets that were killed; only this process has the home. */
	int swept = restore_temp_sweep(home);
	if (swept < 0)
		log_warnx("cannot read the notes of unfinished restores: %s",
			  shoal_strerror(swept));
	reserve_space(s);
	/* Twice the CPUs: workers spend part of each job waiting on direct I/O
	 * and fsync, and the others keep the cores busy meanwhile. */
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	s->pool = pool_new(ncpu > 0 ? 2 * (unsigned)ncpu : 2);
	s->opened = 1;
out:
	if (err) {
		store_close(s);
		return err;
	}
	*out = s;
	return 0;
}

void store_close(struct store *s)
{
	if (!s)
		return;
	pool_free(s->pool);
	for (unsigned i = 0; i < s->nreaders; i++)
		index_close(s->readers[i]);
	int clean = s->opened && !s->unclean;
	index_close(s->index);
	if (clean && objects_sync(&s->objects) == 0) {
		char path[PATH_MAX];
		home_path(s->home, OPEN_MARKER, path, sizeof(path));
		unlink(path);
	}
	if (s->lock_fd >= 0)
		close(s->lock_fd);
	memset(s->secret, 0, sizeof(s->secret));
	pthread_mutex_destroy(&s->gc_lock);
	pthread_mutex_destroy(&s->readers_lock);
	free(s);
}

struct verify_ctx {
	struct store *s;
	store_bad_fn bad;
	void *arg;
	struct store_verify_report *report;
	struct progress *progress;
};

static int verify_one(const uint8_t id[CHUNK_ID_LEN], void *arg)
{
	struct verify_ctx *v = arg;
	uint64_t size = 0;
	int err = objects_verify(&v->s->objects, id, &size);
	if (err == SHOAL_EMISSING)
		return 0; /* deleted while we walked the directory */
	v->report->checked++;
	if (err == SHOAL_ECORRUPT) {
		v->report->corrupt++;
		if (v->bad)
			v->bad(id, err, v->arg);
		return 0;
	}
	if (err)
		return err;
	v->report->bytes += size;
	if (v->progress)
		progress_add(v->progress, size);
	return progress_cancelled(v->progress) ? -EINTR : 0;
}

/* A chunk row whose file is gone is as missing as a chunk with no row. */
static int check_present(const uint8_t id[CHUNK_ID_LEN], uint64_t size, void *arg)
{
	(void)size;
	struct verify_ctx *v = arg;
	int exists = store_object_present(v->s, id);
	if (exists < 0)
		return exists;
	if (!exists) {
		v->report->missing++;
		if (v->bad)
			v->bad(id, SHOAL_EMISSING, v->arg);
	}
	return 0;
}

static int report_missing(const uint8_t id[CHUNK_ID_LEN], uint64_t size, void *arg)
{
	(void)size;
	struct verify_ctx *v = arg;
	v->report->missing++;
	if (v->bad)
		v->bad(id, SHOAL_EMISSING, v->arg);
	return 0;
}

int store_verify(struct store *s, store_bad_fn bad, void *arg, struct store_verify_report *report)
{
	return store_verify_progress(s, bad, arg, NULL, report);
}

int store_verify_progress(struct store *s, store_bad_fn bad, void *arg, struct progress *progress,
			  struct store_verify_report *report)
{
	memset(report, 0, sizeof(*report));
	struct verify_ctx v = {s, bad, arg, report, progress};
	if (progress) {
		uint64_t chunks = 0, bytes = 0;
		index_chunk_stats(s->index, &chunks, &bytes);
		progress->total = bytes;
	}
	int err = objects_iterate(&s->objects, verify_one, &v);
	/* What the index lists and what is on disk can differ (a missing
	 * chunk, an object no row names): once done, the total is what was
	 * read. */
	if (!err && progress)
		progress->total = progress->done;
	if (!err)
		err = index_chunks_foreach(s->index, check_present, &v);
	if (!err)
		err = index_missing_foreach(s->index, report_missing, &v);
	return err;
}

/* Garbage collection hands each dropped chunk here; files go after commit. */
struct dropped {
	uint8_t (*ids)[CHUNK_ID_LEN];
	size_t n, cap;
};

static int collect_dropped(const uint8_t id[CHUNK_ID_LEN], uint64_t size, void *arg)
{
	(void)size;
	struct dropped *d = arg;
	if (d->n == d->cap) {
		size_t cap = d->cap ? d->cap * 2 : 64;
		void *p = realloc(d->ids, cap * sizeof(*d->ids));
		if (!p)
			return -ENOMEM;
		d->ids = p;
		d->cap = cap;
	}
	memcpy(d->ids[d->n++], id, CHUNK_ID_LEN);
	return 0;
}

int store_commit_releasing(struct store *s)
{
	return store_commit_releasing_ix(s, s->index);
}

int store_commit_releasing_ix(struct store *s, struct index *ix)
{
	if (s->grouped && ix == s->index) {
		/* Released at the group's commit. */
		int err = index_commit(ix);
		if (err)
			index_rollback(ix);
		return err;
	}
	struct dropped d = {0};
	pthread_mutex_lock(&s->gc_lock);
	int err = index_collect_garbage(ix, collect_dropped, &d);
	if (err) {
		index_rollback(ix);
		goto out;
	}
	err = index_commit(ix);
	if (err)
		goto out;
	/* The rows are gone; a crash from here on leaves unindexed files, which
	 * the next open after an unclean close deletes. */
	for (size_t i = 0; i < d.n; i++) {
		int e = objects_delete(&s->objects, d.ids[i]);
		if (e)
			log_warnx("cannot delete released chunk: %s", shoal_strerror(e));
	}
out:
	pthread_mutex_unlock(&s->gc_lock);
	if (!err && d.n)
		objects_sync(&s->objects);
	free(d.ids);
	return err;
}

int store_record_chunks(struct store *s, struct index *ix, const uint8_t *token,
			const uint8_t (*ids)[CHUNK_ID_LEN], const uint64_t *sizes, size_t n,
			size_t *missing)
{
	if (!n)
		return 0;
	/* In a group the objects are synced at its commit, before any of
	 * these rows is. */
	int err = s->grouped && ix == s->index ? 0 : objects_sync(&s->objects);
	if (!err)
		err = index_begin(ix);
	if (err)
		return err;
	/* After the write lock (see gc_lock). */
	pthread_mutex_lock(&s->gc_lock);
	for (size_t i = 0; !err && i < n; i++) {
		/* Under the lock, a file seen present stays until its row is in. */
		int present = objects_exists(&s->objects, ids[i]);
		struct located loc;
		size_t nloc;
		if (present == 0 && located_get(ix, ids[i], &loc, 1, &nloc) == 0)
			present = 1; /* kept in a working tree */
		if (present <= 0) {
			err = present < 0 ? present : SHOAL_EMISSING;
			if (missing)
				*missing = i;
			index_rollback(ix);
			goto out;
		}
		err = index_chunk_add(ix, ids[i], sizes[i]);
		if (!err && token)
			err = index_ref_add(ix, token, ids[i]);
		if (err)
			index_rollback(ix);
	}
	if (!err) {
		err = index_commit(ix);
		if (err)
			index_rollback(ix);
	}
out:
	pthread_mutex_unlock(&s->gc_lock);
	return err;
}

int store_group_begin(struct store *s)
{
	int err = index_begin(s->index);
	if (!err)
		s->grouped = 1;
	return err;
}

int store_group_commit(struct store *s)
{
	s->grouped = 0;
	int err = objects_sync(&s->objects);
	if (err) {
		index_rollback(s->index);
		s->unclean = 1;
		return err;
	}
	return store_commit_releasing(s);
}

void store_group_abort(struct store *s)
{
	s->grouped = 0;
	index_rollback(s->index);
	s->unclean = 1;
}

int store_group_enter(struct store *s, struct store_group *g, unsigned max, double seconds)
{
	if (g->open && (g->writes >= max || monotonic_seconds() - g->start >= seconds)) {
		int err = store_group_leave(s, g, 1);
		if (err)
			return err;
	}
	if (!g->open) {
		int err = store_group_begin(s);
		if (err)
			return err;
		g->open = 1;
		g->writes = 0;
		g->start = monotonic_seconds();
	}
	g->writes++;
	return 0;
}

int store_group_leave(struct store *s, struct store_group *g, int ok)
{
	if (!g->open)
		return 0;
	g->open = 0;
	if (ok)
		return store_group_commit(s);
	store_group_abort(s);
	return 0;
}

int store_index_open(struct store *s, struct index **out)
{
	char path[PATH_MAX];
	int err = home_path(s->home, INDEX_FILE, path, sizeof(path));
	return err ? err : index_open(out, path);
}

/* ---- located chunks ---- */

/* A connection for a short read from any thread: one kept, or a new one. */
static int reader_take(struct store *s, struct index **out)
{
	pthread_mutex_lock(&s->readers_lock);
	struct index *ix = s->nreaders ? s->readers[--s->nreaders] : NULL;
	pthread_mutex_unlock(&s->readers_lock);
	if (ix) {
		*out = ix;
		return 0;
	}
	return store_index_open(s, out);
}

static void reader_give(struct store *s, struct index *ix)
{
	pthread_mutex_lock(&s->readers_lock);
	if (s->nreaders < STORE_READERS) {
		s->readers[s->nreaders++] = ix;
		ix = NULL;
	}
	pthread_mutex_unlock(&s->readers_lock);
	index_close(ix);
}

int store_located(struct store *s, const uint8_t id[CHUNK_ID_LEN], struct located *out, size_t max,
		  size_t *n)
{
	if (s->exclusive) {
		/* The only connection there is, one reader at a time (SQLite
		 * serializes a connection's calls across threads). */
		pthread_mutex_lock(&s->readers_lock);
		int err = located_get(s->index, id, out, max, n);
		pthread_mutex_unlock(&s->readers_lock);
		return err;
	}
	struct index *ix;
	int err = reader_take(s, &ix);
	if (err)
		return err;
	err = located_get(ix, id, out, max, n);
	reader_give(s, ix);
	return err;
}

/* Locations of one chunk a read tries, at most. */
#define LOCATIONS_TRIED 4

/* Reads located chunk id from the first of its files that still holds
 * it: into out (cap bytes) or, out NULL, into a buffer of its own
 * (*alloc). SHOAL_EMISSING when none does. */
static int read_located(struct store *s, const uint8_t id[CHUNK_ID_LEN], uint8_t *out, size_t cap,
			uint8_t **alloc, size_t *len)
{
	struct located *locs = malloc(LOCATIONS_TRIED * sizeof(*locs));
	if (!locs)
		return -ENOMEM;
	size_t n = 0;
	if (store_located(s, id, locs, LOCATIONS_TRIED, &n))
		n = 0; /* none (or none to be had): missing */
	int err = SHOAL_EMISSING;
	for (size_t i = 0; err == SHOAL_EMISSING && i < n; i++)
		err = out ? located_read(&locs[i], id, out, cap, len)
			  : located_read_alloc(&locs[i], id, alloc, len);
	free(locs);
	return err;
}

int store_read_object(struct store *s, const uint8_t id[CHUNK_ID_LEN], uint8_t *out, size_t cap,
		      int flags, size_t *len)
{
	int err = objects_read(&s->objects, id, out, cap, flags, len);
	return err == SHOAL_EMISSING ? read_located(s, id, out, cap, NULL, len) : err;
}

int store_read_object_alloc(struct store *s, const uint8_t id[CHUNK_ID_LEN], int flags,
			    uint8_t **out, size_t *len)
{
	int err = objects_read_alloc(&s->objects, id, flags, out, len);
	return err == SHOAL_EMISSING ? read_located(s, id, NULL, 0, out, len) : err;
}

int store_verify_object(struct store *s, const uint8_t id[CHUNK_ID_LEN], uint64_t *size)
{
	int err = objects_verify(&s->objects, id, size);
	if (err != SHOAL_EMISSING)
		return err;
	uint8_t *buf = NULL;
	size_t len = 0;
	err = read_located(s, id, NULL, 0, &buf, &len);
	free(buf);
	if (!err && size)
		*size = len;
	return err;
}

int store_object_present(struct store *s, const uint8_t id[CHUNK_ID_LEN])
{
	int exists = objects_exists(&s->objects, id);
	if (exists)
		return exists;
	uint8_t *buf = NULL;
	size_t len;
	int err = read_located(s, id, NULL, 0, &buf, &len);
	free(buf);
	return err == -ENOMEM ? err : err == 0;
}

static int remove_name(struct store *s, const char *name, uint32_t version)
{
	int err = index_begin(s->index);
	if (err)
		return err;
	err = version ? index_version_remove(s->index, name, version)
		      : index_name_remove(s->index, name);
	if (err) {
		index_rollback(s->index);
		return err;
	}
	return store_commit_releasing(s);
}

int store_remove_version(struct store *s, const char *name, uint32_t version)
{
	int err = remove_name(s, name, version);
	/* A full disk: spend the reserve on this removal, which frees space,
	 * and take it back afterwards if there is room. */
	if (err == -ENOSPC && release_reserve(s)) {
		log_info("the disk is full: using the reserve to remove '%s'", name);
		err = remove_name(s, name, version);
		reserve_space(s);
	}
	return err;
}

int store_remove_name(struct store *s, const char *name)
{
	return store_remove_version(s, name, 0);
}

struct kept {
	uint8_t (*ids)[CHUNK_ID_LEN];
	struct located *locs;
	size_t n, cap;
};

static int kept_add(const uint8_t id[CHUNK_ID_LEN], const struct located *loc, void *arg)
{
	struct kept *k = arg;
	if (k->n == k->cap) {
		size_t cap = k->cap ? 2 * k->cap : 16;
		void *a = realloc(k->ids, cap * sizeof(*k->ids));
		if (a)
			k->ids = a;
		void *b = a ? realloc(k->locs, cap * sizeof(*k->locs)) : NULL;
		if (!b)
			return -ENOMEM;
		k->locs = b;
		k->cap = cap;
	}
	memcpy(k->ids[k->n], id, CHUNK_ID_LEN);
	k->locs[k->n++] = *loc;
	return 0;
}

int store_keep_located(struct store *s, struct index *ix, const char *path, unsigned *kept)
{
	struct kept k = {0};
	int err = located_in(ix, path, kept_add, &k);
	int flags = s->grouped && ix == s->index ? OBJECTS_DEFER : 0;
	for (size_t i = 0; !err && i < k.n; i++) {
		uint8_t *buf = NULL;
		size_t len;
		int has = objects_exists(&s->objects, k.ids[i]);
		if (has < 0) {
			err = has;
			break;
		}
		if (!has && !located_read_alloc(&k.locs[i], k.ids[i], &buf, &len)) {
			err = objects_write(&s->objects, k.ids[i], buf, len, flags, NULL);
			free(buf);
			if (!err && kept)
				(*kept)++;
		}
		/* Not there any more: other holders may have it; the row would
		 * only mislead. */
		if (!err)
			err = located_remove(ix, k.ids[i], path);
	}
	if (!err && k.n && !flags)
		err = objects_sync(&s->objects);
	free(k.ids);
	free(k.locs);
	return err;
}

int store_drop_objects(struct store *s, const uint8_t (*ids)[CHUNK_ID_LEN], size_t n)
{
	struct index *ix;
	int err = n ? reader_take(s, &ix) : 0;
	if (err || !n)
		return err;
	unsigned dropped = 0;
	for (size_t i = 0; !err && i < n; i++) {
		struct located loc;
		uint8_t *buf = NULL;
		size_t len, nloc;
		if (located_get(ix, ids[i], &loc, 1, &nloc) ||
		    objects_exists(&s->objects, ids[i]) != 1 ||
		    index_chunk_pinned_any(ix, ids[i]) != 0)
			continue;
		int bad = located_read_alloc(&loc, ids[i], &buf, &len);
		free(buf);
		if (bad)
			continue;
		/* Under gc_lock: a put that found the object present records
		 * its row meanwhile, and it stays present (located). */
		pthread_mutex_lock(&s->gc_lock);
		err = objects_delete(&s->objects, ids[i]);
		pthread_mutex_unlock(&s->gc_lock);
		dropped += !err;
	}
	if (dropped)
		objects_sync(&s->objects);
	reader_give(s, ix);
	return err;
}
