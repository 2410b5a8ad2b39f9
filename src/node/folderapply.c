/*
 * Applying other members' rows of a folder; see folderapply.h.
 */
#include "node/folderapply.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "crypto/hash.h"
#include "node/fetch.h"
#include "store/files.h"
#include "store/folderscan.h"
#include "store/located.h"
#include "util/encoding.h"
#include "util/error.h"
#include "util/fsutil.h"
#include "util/log.h"

#define ROWS_MAX 64 /* members' rows weighed for one path */

void folderapply_tmp_name(const char *name, char *out, size_t size)
{
	size_t n = strlen(name);
	if (n + strlen(FOLDERAPPLY_TMP_PREFIX) + 4 <= NAME_MAX) {
		snprintf(out, size, "%s%s.tmp", FOLDERAPPLY_TMP_PREFIX, name);
		return;
	}
	uint8_t h[SHA256_LEN];
	char hex[17];
	sha256(name, n, h);
	hex_encode(hex, h, 8);
	snprintf(out, size, "%s%s.tmp", FOLDERAPPLY_TMP_PREFIX, hex);
}

static int64_t stat_mtime_ns(const struct stat *st)
{
	return (int64_t)st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec;
}

struct pass {
	const struct folderapply_env *env;
	struct index *ix;
	struct folderapply_result *res;
	const uint8_t *fid;
	int root_fd;
	/* the path being applied */
	struct folder_entry *rows; /* ROWS_MAX */
	size_t nrows;
	struct folder_entry *mine; /* NULL, or into rows */
	struct folder_entry final; /* what the path must hold */
	struct folder_entry *losers[ROWS_MAX];
	size_t nlosers;
	/* fetched and waiting for the commit: tokens and their manifests */
	uint8_t tokens[2][CHUNK_ID_LEN];
	uint8_t manifests[2][CHUNK_ID_LEN];
	size_t ntokens;
	int wanting;		  /* in apply_wanting() or after it: no second time */
	struct store_group group; /* small files are committed in groups */
	/* Chunks located in the files written: their objects go once the
	 * pass is committed (store_drop_objects()). */
	uint8_t (*located)[CHUNK_ID_LEN];
	size_t nlocated, located_cap;
};

static void count_fetched(struct pass *p, uint64_t n)
{
	p->res->fetched += n;
	if (p->env->fetched)
		atomic_fetch_add(p->env->fetched, n);
}

static void defer(struct pass *p, const char *path, const char *fmt, const char *detail)
{
	char why[256];
	snprintf(why, sizeof(why), fmt, detail);
	p->res->deferred++;
	snprintf(p->res->why, sizeof(p->res->why), "%.120s: %.120s", path, why);
	folderdb_pending_note(p->ix, p->fid, path, why);
}

/* ---- weighing ---- */

static int take_row(const uint8_t device[NODE_ID_LEN], const struct folder_entry *e, void *arg)
{
	struct pass *p = arg;
	if (p->nrows == ROWS_MAX)
		return 0;
	p->rows[p->nrows] = *e;
	if (!memcmp(device, p->env->self, NODE_ID_LEN))
		p->mine = &p->rows[p->nrows];
	p->nrows++;
	return 0;
}

static int live_same(const struct folder_entry *a, const struct folder_entry *b)
{
	if (a->deleted || b->deleted || a->kind != b->kind)
		return 0;
	if (a->kind == FOLDER_FILE)
		return a->has_content && b->has_content &&
		       !memcmp(a->content_id, b->content_id, SHA256_LEN);
	if (a->kind == FOLDER_SYMLINK)
		return !strcmp(a->target, b->target);
	return 1;
}

/* Fills p->final and p->losers for path from every member's row. */
static int weigh(struct pass *p, const char *path)
{
	p->nrows = 0;
	p->mine = NULL;
	p->nlosers = 0;
	int err = folderdb_rows_of_path(p->ix, p->fid, path, take_row, p);
	if (err)
		return err;
	struct folder_entry *cur = p->mine;
	for (size_t i = 0; i < p->nrows; i++) {
		struct folder_entry *r = &p->rows[i];
		if (r == p->mine)
			continue;
		if (!cur) {
			cur = r;
			continue;
		}
		enum folder_decision d = folder_decide(cur, r);
		if (d == FOLDER_TAKE) {
			cur = r;
		} else if (d == FOLDER_CONFLICT_OURS) {
			p->losers[p->nlosers++] = r;
		} else if (d == FOLDER_CONFLICT_THEIRS) {
			p->losers[p->nlosers++] = cur;
			cur = r;
		}
		/* FOLDER_KEEP, FOLDER_MERGE: ours stays (merged below). */
	}
	if (!cur)
		return SHOAL_ENOTFOUND;
	p->final = *cur;
	/* Every row weighed that the winner does not follow is merged in: the
	 * same rows give every member the same vector. */
	for (size_t i = 0; i < p->nrows; i++) {
		enum folder_order o = folder_vv_compare(&p->rows[i].vv, &p->final.vv);
		if (o == FOLDER_CONCURRENT &&
		    (err = folder_vv_merge(&p->final.vv, &p->final.vv, &p->rows[i].vv)))
			return err;
	}
	return 0;
}

/* ---- the disk ---- */

/* Opens the directory holding path's last component (made when create is
 * set), never following a link; *base points at that component. */
static int take_dir_mode(const uint8_t device[NODE_ID_LEN], const struct folder_entry *e, void *arg)
{
	(void)device;
	if (e->kind != FOLDER_DIR || e->deleted)
		return 0;
	*(uint32_t *)arg = e->mode & 0777;
	return 1;
}

/* The mode a directory made for path gets: a member's row's for it, else
 * 0755 (whatever the daemon's umask). */
static uint32_t dir_mode(struct pass *p, const char *path)
{
	uint32_t mode = 0755;
	folderdb_rows_of_path(p->ix, p->fid, path, take_dir_mode, &mode);
	return mode;
}

static int open_parent(struct pass *p, const char *path, int create, const char **base)
{
	char buf[FOLDER_PATH_MAX + 1];
	snprintf(buf, sizeof(buf), "%s", path);
	int fd = dup(p->root_fd);
	if (fd < 0)
		return -errno;
	char *s = buf, *slash;
	while ((slash = strchr(s, '/'))) {
		*slash = 0;
		int next = openat(fd, s, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (next < 0 && errno == ENOENT && create && !mkdirat(fd, s, 0700)) {
			/* Before its own row is applied (a file moved into it
			 * came first): made as that row will want it, so
			 * that a scan meanwhile sees no change of mode. */
			char dir[FOLDER_PATH_MAX + 1];
			snprintf(dir, sizeof(dir), "%.*s", (int)(slash - buf), path);
			fchmodat(fd, s, dir_mode(p, dir), 0);
			next = openat(fd, s, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		}
		int e = errno;
		close(fd);
		if (next < 0)
			return -e;
		fd = next;
		s = slash + 1;
	}
	*base = path + (s - buf);
	return fd;
}

/* 1 when what is at (dir, name) is what the last scan recorded for path
 * (or nothing, when it recorded nothing); 0 when it changed. */
static int as_recorded(struct pass *p, int dir, const char *name, const char *path)
{
	struct folderdb_local l;
	int err = folderdb_local_get(p->ix, p->fid, path, &l);
	struct stat st;
	int there = !fstatat(dir, name, &st, AT_SYMLINK_NOFOLLOW);
	if (err == SHOAL_ENOTFOUND)
		return !there;
	if (err || !there)
		return 0;
	if (l.kind == FOLDER_DIR)
		return S_ISDIR(st.st_mode);
	return l.size == (uint64_t)st.st_size && l.mtime_ns == stat_mtime_ns(&st) &&
	       l.ino == (uint64_t)st.st_ino;
}

/* The local state of what now is at (dir, name) for path, holding e. */
static int record_local(struct pass *p, int dir, const char *name, const char *path,
			const struct folder_entry *e)
{
	struct stat st;
	if (fstatat(dir, name, &st, AT_SYMLINK_NOFOLLOW))
		return -errno;
	struct folderdb_local l = {.kind = e->kind,
				   .dev = (uint64_t)st.st_dev,
				   .ino = (uint64_t)st.st_ino,
				   .size = e->kind == FOLDER_DIR ? 0 : (uint64_t)st.st_size,
				   .mode = (uint32_t)(st.st_mode & 0777),
				   .mtime_ns = stat_mtime_ns(&st),
				   .ctime_ns = (int64_t)st.st_ctim.tv_sec * 1000000000 +
					       st.st_ctim.tv_nsec,
				   .has_content = e->has_content};
	snprintf(l.path, sizeof(l.path), "%s", path);
	memcpy(l.content_id, e->content_id, SHA256_LEN);
	return folderdb_local_put(p->ix, p->fid, &l);
}

/* ---- the working tree keeps the chunks (store/located.h) ---- */

struct locating {
	struct pass *p;
	struct located loc;
};

static int locate_ref(const struct chunk_ref *ref, uint64_t offset, void *arg)
{
	struct locating *c = arg;
	struct pass *p = c->p;
	c->loc.offset = offset;
	c->loc.size = ref->size;
	memcpy(c->loc.key, ref->key, CHUNK_KEY_LEN);
	int err = located_set(p->ix, ref->id, &c->loc);
	if (err)
		return err;
	if (p->nlocated == p->located_cap) {
		size_t cap = p->located_cap ? 2 * p->located_cap : 64;
		void *v = realloc(p->located, cap * sizeof(*p->located));
		if (!v)
			return -ENOMEM;
		p->located = v;
		p->located_cap = cap;
	}
	memcpy(p->located[p->nlocated++], ref->id, CHUNK_ID_LEN);
	return 0;
}

/* The file e just written at path holds its chunks: they are served from
 * it, and their objects go once this is committed. */
static int locate_file(struct pass *p, const char *path, const struct folder_entry *e)
{
	if (e->kind != FOLDER_FILE || !e->has_content)
		return 0;
	struct locating *c = malloc(sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->p = p;
	int err = folderdb_abs_path(p->env->f, path, c->loc.path, sizeof(c->loc.path));
	if (!err)
		err = files_data_refs(p->env->s, &e->cap, locate_ref, c);
	free(c);
	return err == -ENAMETOOLONG ? 0 : err;
}

/* Before the file at path is replaced or removed: the content it holds
 * for the store goes to objects/, so it stays restorable. */
static int keep_old(struct pass *p, const char *path)
{
	char where[PATH_MAX];
	if (folderdb_abs_path(p->env->f, path, where, sizeof(where)))
		return 0;
	return store_keep_located(p->env->s, p->ix, where, NULL);
}

/* Fetches e's chunks and restores the file into (dir, tmp). */
static int fetch_file(struct pass *p, const struct folder_entry *e, const char *path, int dir,
		      const char *tmp)
{
	const struct folderapply_env *env = p->env;
	if (p->ntokens == 2)
		return -ENOBUFS;
	uint8_t *token = p->tokens[p->ntokens];
	/* A big file is fetched with the index free for other writers. */
	int err = e->size > STORE_GROUP_FILE_MAX ? store_group_leave(env->s, &p->group, 1) : 0;
	if (!err)
		err = random_bytes(token, CHUNK_ID_LEN);
	if (err)
		return err;
	struct fetch f = {.r = env->remote,
			  .s = env->s,
			  .ix = p->ix,
			  .peers = env->peers,
			  .npeers = env->npeers};
	err = fetch_into(&f, &e->cap, token);
	count_fetched(p, f.fetched);
	p->res->chunks += f.chunks;
	if (err) {
		fetch_release(&f, token);
		defer(p, path, "%s", f.why[0] ? f.why : shoal_strerror(err));
		return 1;
	}
	memcpy(p->manifests[p->ntokens++], e->cap.id, CHUNK_ID_LEN);
	int fd = openat(dir, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	struct timespec ts[2] = {
		{.tv_sec = e->mtime_ns / 1000000000, .tv_nsec = e->mtime_ns % 1000000000},
		{.tv_sec = e->mtime_ns / 1000000000, .tv_nsec = e->mtime_ns % 1000000000}};
	err = files_get_into(env->s, &e->cap, fd, NULL);
	if (!err && (fchmod(fd, e->mode & 0777) || futimens(fd, ts)))
		err = -errno;
	close(fd);
	if (err) {
		unlinkat(dir, tmp, 0);
		defer(p, path, "cannot restore it: %s", shoal_strerror(err));
		return 1;
	}
	return 0;
}

static int weigh(struct pass *p, const char *path);
static int class_of(const struct pass *p);

/* 1 when what path holds here is to be deleted (and that delete is not
 * held): its file may then move to where its content is wanted. */
static int doomed(struct pass *p, const char *path)
{
	struct pass q = {.env = p->env,
			 .ix = p->ix,
			 .res = p->res,
			 .fid = p->fid,
			 .root_fd = p->root_fd,
			 .rows = malloc(ROWS_MAX * sizeof(*q.rows))};
	if (!q.rows)
		return -ENOMEM;
	int err = weigh(&q, path);
	int ret = !err && class_of(&q) == 3;
	free(q.rows);
	if (ret && (err = folderdb_held_has(p->ix, p->fid, path)))
		return err < 0 ? err : 0;
	return err && err != SHOAL_ENOTFOUND && err != SHOAL_ETOOBIG ? err : ret;
}

struct donor {
	struct pass *p;
	int dir; /* where the temp goes */
	const char *tmp;
	const char *path; /* the path it is for */
	int moved;
};

/* Moves l's file to the temp when it is to be deleted and unchanged since
 * the scan; 1 (stop) when it did. */
static int try_donor(const struct folderdb_local *l, void *arg)
{
	struct donor *d = arg;
	struct pass *p = d->p;
	int err = doomed(p, l->path);
	if (err <= 0)
		return err;
	const char *name;
	int dir = open_parent(p, l->path, 0, &name);
	if (dir < 0)
		return 0;
	if (as_recorded(p, dir, name, l->path) && !renameat(dir, name, d->dir, d->tmp)) {
		/* Gone from here as the delete to come would leave it; the
		 * delete then finds nothing to remove. A crash before the
		 * commit leaves a stray temp (removed by the next scan) and a
		 * file missing where it was to be deleted anyway. */
		err = fsync(dir) ? -errno : folderdb_local_remove(p->ix, p->fid, l->path);
		/* Its chunks are where it goes. */
		char from[PATH_MAX], to[PATH_MAX];
		if (!err && !folderdb_abs_path(p->env->f, l->path, from, sizeof(from)) &&
		    !folderdb_abs_path(p->env->f, d->path, to, sizeof(to)))
			err = located_move(p->ix, from, to);
		d->moved = !err;
	}
	close(dir);
	return err ? err : d->moved;
}

/* Where e's content is here already, in a file waiting to be deleted (the
 * other half of a rename or move), that file becomes (dir, tmp) instead of
 * fetching and writing the content again: 1 when it did, 0 when there is
 * none, or an error. */
static int take_donor(struct pass *p, const struct folder_entry *e, const char *path, int dir,
		      const char *tmp)
{
	if (!e->has_content)
		return 0;
	struct donor d = {.p = p, .dir = dir, .tmp = tmp, .path = path};
	int err = folderdb_local_pending_with(p->ix, p->fid, e->content_id, path, try_donor, &d);
	if (err < 0 || !d.moved)
		return err < 0 ? err : 0;
	struct timespec ts[2] = {
		{.tv_sec = e->mtime_ns / 1000000000, .tv_nsec = e->mtime_ns % 1000000000},
		{.tv_sec = e->mtime_ns / 1000000000, .tv_nsec = e->mtime_ns % 1000000000}};
	if (fchmodat(dir, tmp, e->mode & 0777, 0) || utimensat(dir, tmp, ts, AT_SYMLINK_NOFOLLOW))
		return -errno;
	p->res->moved++;
	return 1;
}

/* Puts (dir, tmp) in place of (dir, name): 0, or 1 (deferred: the target
 * changed; the temp is gone). What the target held, if anything, is
 * removed, unless it changed since the scan: then it is kept as a copy. */
static int swap_in(struct pass *p, int dir, const char *tmp, const char *name, const char *path)
{
	if (!as_recorded(p, dir, name, path)) {
		unlinkat(dir, tmp, 0);
		p->res->rescan = 1;
		defer(p, path, "%s", "changed here since the last scan; scanning first");
		return 1;
	}
	struct folderdb_local l;
	int had = !folderdb_local_get(p->ix, p->fid, path, &l);
	if (!had) {
		if (!renameat2(dir, tmp, dir, name, RENAME_NOREPLACE))
			return 0;
		int e = errno;
		if (e != EINVAL && e != ENOSYS) {
			unlinkat(dir, tmp, 0);
			if (e == EEXIST) {
				p->res->rescan = 1;
				defer(p, path, "%s", "created here meanwhile; scanning first");
				return 1;
			}
			return -e;
		}
		return renameat(dir, tmp, dir, name) ? -errno : 0;
	}
	if (l.kind == FOLDER_DIR) {
		unlinkat(dir, tmp, 0);
		defer(p, path, "%s", "a directory is in the way");
		return 1;
	}
	if (renameat2(dir, tmp, dir, name, RENAME_EXCHANGE)) {
		if (errno != EINVAL && errno != ENOSYS)
			return -errno;
		return renameat(dir, tmp, dir, name) ? -errno : 0;
	}
	/* The old file is at tmp now: still what the scan saw? */
	struct stat st;
	if (!fstatat(dir, tmp, &st, AT_SYMLINK_NOFOLLOW) && S_ISREG(st.st_mode) &&
	    (l.size != (uint64_t)st.st_size || l.mtime_ns != stat_mtime_ns(&st) ||
	     l.ino != (uint64_t)st.st_ino)) {
		struct folder_entry *keep = calloc(1, sizeof(*keep));
		char copy[FOLDER_PATH_MAX + 1];
		if (keep) {
			snprintf(keep->path, sizeof(keep->path), "%s", path);
			keep->mtime_ns = stat_mtime_ns(&st);
			keep->modified_by = folder_short_id(p->env->self);
			if (!folder_conflict_name(keep, copy)) {
				const char *slash = strrchr(copy, '/');
				if (!renameat2(dir, tmp, dir, slash ? slash + 1 : copy,
					       RENAME_NOREPLACE)) {
					log_info("folder: %s changed while it was replaced; kept "
						 "as %s",
						 path, copy);
					p->res->rescan = 1;
				}
			}
		}
		free(keep);
	}
	unlinkat(dir, tmp, 0);
	return 0;
}

/* Path went while being written (removed here): it waits, and the scan
 * that follows tells what happened; 1 (deferred). */
static int vanished(struct pass *p, const char *path)
{
	p->res->rescan = 1;
	defer(p, path, "%s", "removed here while being written; scanning first");
	return 1;
}

/* Writes e (live) at path; 0 (written), 1 (deferred) or an error. */
static int write_entry(struct pass *p, const struct folder_entry *e, const char *path)
{
	const char *name;
	int dir = open_parent(p, path, 1, &name);
	if (dir < 0) {
		defer(p, path, "cannot open its directory: %s", strerror(-dir));
		return 1;
	}
	int err = 0;
	char tmp[NAME_MAX + 1];
	folderapply_tmp_name(name, tmp, sizeof(tmp));
	unlinkat(dir, tmp, 0);
	if (e->kind == FOLDER_DIR) {
		struct stat st;
		if (fstatat(dir, name, &st, AT_SYMLINK_NOFOLLOW)) {
			if (mkdirat(dir, name, e->mode & 0777) && errno != EEXIST)
				err = -errno;
		} else if (!S_ISDIR(st.st_mode)) {
			defer(p, path, "%s", "a file is in the way of the directory");
			err = 1;
		}
		if (!err && fchmodat(dir, name, e->mode & 0777, 0))
			err = -errno;
	} else {
		if (e->kind == FOLDER_SYMLINK)
			err = symlinkat(e->target, dir, tmp) ? -errno : 0;
		else if ((err = take_donor(p, e, path, dir, tmp)) == 0)
			err = fetch_file(p, e, path, dir, tmp);
		else if (err == 1)
			err = 0;
		if (!err && e->kind == FOLDER_FILE) {
			int fd = openat(dir, tmp, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
			if (fd < 0 || fsync(fd))
				err = -errno;
			if (fd >= 0)
				close(fd);
		}
		if (!err)
			err = keep_old(p, path);
		if (!err)
			err = swap_in(p, dir, tmp, name, path);
	}
	if (!err && fsync(dir))
		err = -errno;
	if (!err)
		err = record_local(p, dir, name, path, e);
	if (err == -ENOENT)
		err = vanished(p, path);
	if (!err)
		err = locate_file(p, path, e);
	close(dir);
	return err;
}

/* Removes what is at path; 0, 1 (deferred) or an error. */
static int remove_entry(struct pass *p, const char *path)
{
	const char *name;
	int dir = open_parent(p, path, 0, &name);
	if (dir < 0)
		return dir == -ENOENT || dir == -ENOTDIR
			       ? folderdb_local_remove(p->ix, p->fid, path)
			       : dir;
	int err = 0;
	struct stat st;
	if (!as_recorded(p, dir, name, path)) {
		p->res->rescan = 1;
		defer(p, path, "%s", "changed here since the last scan; scanning first");
		err = 1;
	} else if (!fstatat(dir, name, &st, AT_SYMLINK_NOFOLLOW)) {
		if (S_ISREG(st.st_mode) && (err = keep_old(p, path))) {
			close(dir);
			return err;
		}
		if (unlinkat(dir, name, S_ISDIR(st.st_mode) ? AT_REMOVEDIR : 0)) {
			if (errno == ENOTEMPTY || errno == EEXIST) {
				defer(p, path, "%s", "the directory still holds files");
				err = 1;
			} else {
				err = -errno;
			}
		}
	}
	if (!err && fsync(dir))
		err = -errno;
	close(dir);
	if (!err) {
		p->res->removed++;
		err = folderdb_local_remove(p->ix, p->fid, path);
	}
	return err;
}

/* A row of our own: e with a sequence number of ours. */
static int own_row(struct pass *p, const struct folder_entry *e)
{
	struct folder_entry *row = malloc(sizeof(*row));
	if (!row)
		return -ENOMEM;
	*row = *e;
	int err = folderdb_next_seq(p->ix, p->fid, &row->seq);
	if (!err)
		err = folderdb_row_put(p->ix, p->fid, p->env->self, row);
	free(row);
	return err;
}

/* The chunks fetched are kept by the manifests the rows now name. */
static int keep_fetched(struct pass *p)
{
	int err = 0;
	for (size_t i = 0; !err && i < p->ntokens; i++) {
		err = index_refs_move(p->ix, p->tokens[i], p->manifests[i]);
		if (!err)
			err = index_pending_set(p->ix, p->tokens[i], 0);
		if (!err && p->env->copies > 1)
			err = index_copies_want_refs(p->ix, p->manifests[i], p->env->copies);
	}
	return err;
}

/* Keeps a conflict's loser as its copy; 0, 1 (deferred) or an error. */
static int keep_loser(struct pass *p, const char *path, const struct folder_entry *loser)
{
	if (loser->deleted || loser->kind != FOLDER_FILE || !loser->has_content ||
	    folder_is_conflict_name(path))
		return 0;
	char copy[FOLDER_PATH_MAX + 1], prefix[FOLDER_PATH_MAX + 1];
	if (folder_conflict_name(loser, copy))
		return 0;
	snprintf(prefix, sizeof(prefix), "%s", copy);
	char *mark = strstr(prefix + (strrchr(prefix, '/') ? strrchr(prefix, '/') - prefix : 0),
			    FOLDER_CONFLICT_MARK);
	if (mark)
		mark[strlen(FOLDER_CONFLICT_MARK)] = 0;
	struct folder_entry *row = malloc(sizeof(*row));
	if (!row)
		return -ENOMEM;
	uint64_t copies = 0;
	int err = folderdb_row_get(p->ix, p->fid, p->env->self, copy, row);
	if (!err && live_same(row, loser)) {
		free(row);
		return 0; /* made already */
	}
	err = folderdb_rows_prefix_count(p->ix, p->fid, p->env->self, prefix, &copies);
	if (!err && copies >= FOLDERAPPLY_COPIES_MAX) {
		log_info("folder: %s has %d conflict copies; no more are made", path,
			 FOLDERAPPLY_COPIES_MAX);
		free(row);
		return 0;
	}
	*row = *loser;
	snprintf(row->path, sizeof(row->path), "%s", copy);
	row->has_prev = 0;
	if (!err) {
		if (p->mine == loser && !p->mine->deleted) {
			/* Our file is the loser: it moves aside as it is. */
			const char *name, *cname;
			int dir = open_parent(p, path, 0, &name);
			int cdir = dir >= 0 ? open_parent(p, copy, 1, &cname) : -1;
			if (dir < 0 || cdir < 0) {
				err = 1;
			} else if (!as_recorded(p, dir, name, path)) {
				p->res->rescan = 1;
				defer(p, path, "%s",
				      "changed here since the last scan; scanning first");
				err = 1;
			} else if (renameat2(dir, name, cdir, cname, RENAME_NOREPLACE)) {
				defer(p, path, "cannot keep the conflict copy: %s",
				      strerror(errno));
				err = 1;
			} else if (fsync(dir) || fsync(cdir)) {
				err = -errno;
			} else {
				err = folderdb_local_remove(p->ix, p->fid, path);
				if (!err)
					err = record_local(p, cdir, cname, copy, row);
				char from[PATH_MAX], to[PATH_MAX];
				if (!err &&
				    !folderdb_abs_path(p->env->f, path, from, sizeof(from)) &&
				    !folderdb_abs_path(p->env->f, copy, to, sizeof(to)))
					err = located_move(p->ix, from, to);
			}
			if (dir >= 0)
				close(dir);
			if (cdir >= 0)
				close(cdir);
		} else {
			err = write_entry(p, row, copy);
		}
	}
	if (!err)
		err = own_row(p, row);
	if (!err) {
		p->res->conflicts++;
		log_info("folder: conflict on %s; the other version is kept as %s", path, copy);
	}
	free(row);
	return err;
}

/* What applying path means: 0 nothing on disk, 1 a directory, 2 a file or
 * link, 3 a delete. */
static int class_of(const struct pass *p)
{
	const struct folder_entry *m = p->mine, *f = &p->final;
	if (f->deleted)
		return m && !m->deleted ? 3 : 0;
	if (m && live_same(m, f) && (f->kind == FOLDER_SYMLINK || m->mode == f->mode))
		return 0;
	return f->kind == FOLDER_DIR ? 1 : 2;
}

static int apply_path(struct pass *p, const char *path, int want);

/* Before path's file is deleted: a path waiting for the same content is
 * applied first, so that it takes the file over (take_donor()) rather than
 * fetch it again; 1 when one was. */
static int apply_wanting(struct pass *p, const char *path)
{
	const struct folder_entry *m = p->mine;
	if (!m || m->deleted || m->kind != FOLDER_FILE || !m->has_content)
		return 0;
	char *other = malloc(FOLDER_PATH_MAX + 1);
	if (!other)
		return -ENOMEM;
	int err = folderdb_pending_wanting(p->ix, p->fid, m->content_id, path, other);
	if (!err)
		err = apply_path(p, other, 2);
	free(other);
	return err == SHOAL_ENOTFOUND ? 0 : err ? err : 1;
}

/* Applies path if its class is want; 1 when it is not (or is done). */
static int apply_path(struct pass *p, const char *path, int want)
{
	const struct folderapply_env *env = p->env;
	int err = weigh(p, path);
	if (err == SHOAL_ENOTFOUND)
		return folderdb_pending_remove(p->ix, p->fid, path);
	if (err == SHOAL_ETOOBIG) {
		/* Rows whose vectors have more than FOLDER_VV_MAX ids between
		 * them (a member may send such a row): this path waits, the
		 * others still apply (noted once: every round weighs it). */
		if (want == 1)
			defer(p, path, "%s", "version vectors too long to merge");
		return 0;
	}
	if (err)
		return err;
	if (env->ignored && env->ignored(env->ignored_arg, path, p->final.kind == FOLDER_DIR))
		return folderdb_pending_remove(p->ix, p->fid, path);
	int cls = class_of(p);
	if (cls != want && !(want == 2 && cls == 0))
		return 0;
	p->res->weighed++;
	if (cls == 3) {
		int held = folderdb_held_has(p->ix, p->fid, path);
		if (held)
			return held < 0 ? held : 0;
		if (!p->wanting) {
			/* Once: the path is weighed again after, with no hook. */
			p->wanting = 1;
			int taken = apply_wanting(p, path);
			if (taken > 0)
				err = apply_path(p, path, want);
			p->wanting = 0;
			if (taken)
				return taken < 0 ? taken : err;
		}
	}
	p->ntokens = 0;
	for (size_t i = 0; i < p->nlosers; i++) {
		if ((err = keep_loser(p, path, p->losers[i])))
			return err < 0 ? err : 0;
	}
	if (cls == 1 || cls == 2) {
		/* Only the mode changed: no need to fetch. */
		if (p->mine && live_same(p->mine, &p->final)) {
			const char *name;
			int dir = open_parent(p, path, 0, &name);
			if (dir >= 0) {
				err = fchmodat(dir, name, p->final.mode & 0777, 0) ? -errno : 0;
				if (!err)
					err = record_local(p, dir, name, path, &p->final);
				if (err == -ENOENT)
					err = vanished(p, path);
				close(dir);
			} else {
				err = dir == -ENOENT ? vanished(p, path) : dir;
			}
		} else {
			err = write_entry(p, &p->final, path);
		}
		if (!err)
			p->res->written++;
	} else if (cls == 3) {
		err = remove_entry(p, path);
	} else if (p->mine && folder_vv_compare(&p->mine->vv, &p->final.vv) == FOLDER_EQUAL) {
		return folderdb_pending_remove(p->ix, p->fid, path);
	} else {
		p->res->merged++;
	}
	if (err)
		return err < 0 ? err : 0;
	/* The disk holds the final row: ours says so. */
	if ((err = index_begin(p->ix)))
		return err;
	err = keep_fetched(p);
	if (!err)
		err = own_row(p, &p->final);
	if (!err)
		err = folderdb_pending_remove(p->ix, p->fid, path);
	if (err) {
		index_rollback(p->ix);
		return err;
	}
	return index_commit(p->ix);
}

struct paths {
	char (*v)[FOLDER_PATH_MAX + 1];
	size_t n;
};

static int take_path(const char *path, const uint8_t *origin, const char *why, void *arg)
{
	struct paths *ps = arg;
	(void)origin;
	(void)why;
	snprintf(ps->v[ps->n++], FOLDER_PATH_MAX + 1, "%s", path);
	return 0;
}

/* The chunks of the small files this pass writes, fetched together (a file
 * at a time costs a round trip for its manifest, then one for its data).
 * 1 when some were, under token, to let go after the pass. */
static int prefetch(struct pass *p, const struct paths *ps, uint8_t token[CHUNK_ID_LEN])
{
	const struct folderapply_env *env = p->env;
	struct capability *caps = malloc((ps->n ? ps->n : 1) * sizeof(*caps));
	size_t n = 0;
	if (!caps)
		return 0;
	for (size_t i = 0; i < ps->n; i++) {
		if (weigh(p, ps->v[i]))
			continue;
		const struct folder_entry *e = &p->final;
		if (class_of(p) == 2 && e->kind == FOLDER_FILE && e->has_content &&
		    e->size <= STORE_GROUP_FILE_MAX && !(p->mine && live_same(p->mine, e)))
			caps[n++] = e->cap;
	}
	int done = 0;
	if (n > 1 && env->npeers && !random_bytes(token, CHUNK_ID_LEN)) {
		struct fetch f = {.r = env->remote,
				  .s = env->s,
				  .ix = p->ix,
				  .peers = env->peers,
				  .npeers = env->npeers};
		done = !fetch_prefetch(&f, caps, n, token);
		count_fetched(p, f.fetched);
		if (!done)
			fetch_release(&f, token);
	}
	free(caps);
	return done;
}

int folderapply_run(const struct folderapply_env *env, struct folderapply_result *res)
{
	memset(res, 0, sizeof(*res));
	struct pass *p = calloc(1, sizeof(*p));
	struct paths ps = {.v = malloc(FOLDERAPPLY_PATHS * sizeof(*ps.v))};
	int err = !p || !ps.v ? -ENOMEM : 0;
	if (!err) {
		p->env = env;
		p->ix = env->s->index;
		p->res = res;
		p->fid = env->f->invite.id;
		p->rows = malloc(ROWS_MAX * sizeof(*p->rows));
		p->root_fd = open(env->f->root, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (!p->rows)
			err = -ENOMEM;
		else if (p->root_fd < 0)
			err = -errno;
	}
	if (!err)
		err = folderdb_pending_foreach(p->ix, p->fid, FOLDERAPPLY_PATHS, take_path, &ps);
	uint8_t token[CHUNK_ID_LEN];
	int prefetched = !err && prefetch(p, &ps, token);
	/* Directories (shallowest first), files and links, then deletes
	 * (deepest first). */
	for (int want = 1; !err && want <= 3; want++) {
		for (size_t k = 0; !err && k < ps.n; k++) {
			if (env->cancel && atomic_load(env->cancel))
				break;
			size_t i = want == 3 ? ps.n - 1 - k : k;
			err = store_group_enter(env->s, &p->group, FOLDERAPPLY_GROUP_WRITES,
						FOLDERAPPLY_GROUP_SECONDS);
			if (!err)
				err = apply_path(p, ps.v[i], want);
		}
	}
	if (p) {
		int e = store_group_leave(env->s, &p->group, !err);
		if (!err)
			err = e;
	}
	if (prefetched) {
		/* What the files took is theirs now; the rest goes. */
		struct fetch f = {.s = env->s, .ix = p->ix};
		fetch_release(&f, token);
	}
	if (!err && p->nlocated)
		err = store_drop_objects(env->s, (const uint8_t(*)[CHUNK_ID_LEN])p->located,
					 p->nlocated);
	uint64_t left = 0;
	if (!err && !folderdb_pending_count(p->ix, p->fid, &left))
		res->more = left > res->deferred;
	if (p && p->root_fd > 0)
		close(p->root_fd);
	if (p) {
		free(p->rows);
		free(p->located);
	}
	free(p);
	free(ps.v);
	return err;
}
