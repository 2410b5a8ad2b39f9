/*
 * A folder's scan and its batches; see folderscan.h.
 */
#include "store/folderscan.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "crypto/hash.h"
#include "proto/name.h"
#include "store/files.h"
#include "store/located.h"
#include "util/buf.h"
#include "util/clock.h"
#include "util/error.h"
#include "util/fsutil.h"
#include "util/log.h"

/* Rows signed into one batch (each row is a few KiB in memory). */
#define SEAL_ROWS 256

static int64_t stat_mtime_ns(const struct stat *st)
{
	return (int64_t)st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec;
}

static int64_t stat_ctime_ns(const struct stat *st)
{
	return (int64_t)st->st_ctim.tv_sec * 1000000000 + st->st_ctim.tv_nsec;
}

static enum folder_kind kind_of(mode_t m)
{
	return S_ISDIR(m) ? FOLDER_DIR : S_ISLNK(m) ? FOLDER_SYMLINK : FOLDER_FILE;
}

/* ---- the marker ---- */

int folderscan_marker_write(const char *root, const uint8_t id[FOLDER_ID_LEN])
{
	char dir[PATH_MAX], path[PATH_MAX], text[FOLDER_ID_STR_LEN + 2];
	if ((size_t)snprintf(dir, sizeof(dir), "%s/%s", root, FOLDERSCAN_MARKER_DIR) >=
		    sizeof(dir) ||
	    (size_t)snprintf(path, sizeof(path), "%s/%s", root, FOLDERSCAN_MARKER) >= sizeof(path))
		return -ENAMETOOLONG;
	if (mkdir(dir, 0700) && errno != EEXIST)
		return -errno;
	folder_id_format(id, text);
	strcat(text, "\n");
	return write_file_atomic(path, text, strlen(text), 0600);
}

int folderscan_marker_check(const char *root, const uint8_t id[FOLDER_ID_LEN], uint64_t dev,
			    char *why, size_t why_size)
{
	struct stat st;
	char path[PATH_MAX], want[FOLDER_ID_STR_LEN + 2];
	if (lstat(root, &st) || !S_ISDIR(st.st_mode)) {
		snprintf(why, why_size, "the folder's root %s is gone", root);
		return -1;
	}
	if (dev && (uint64_t)st.st_dev != dev) {
		snprintf(why, why_size,
			 "%s is on another device than when it was set up (unmounted?)", root);
		return -1;
	}
	snprintf(path, sizeof(path), "%s/%s", root, FOLDERSCAN_MARKER);
	struct buf b;
	buf_init(&b);
	int err = read_file(path, &b, 256);
	folder_id_format(id, want);
	strcat(want, "\n");
	int ok = !err && b.len == strlen(want) && !memcmp(b.data, want, b.len);
	buf_release(&b);
	if (!ok) {
		snprintf(why, why_size,
			 "%s/%s is missing or not this folder's (root removed or replaced?)", root,
			 FOLDERSCAN_MARKER);
		return -1;
	}
	return 0;
}

/* ---- content ids ---- */

void folderscan_content_id(const struct manifest *m, uint8_t out[SHA256_LEN])
{
	static const char domain[] = "shoal folder content v1";
	struct sha256_ctx c;
	if (sha256_init(&c)) {
		memset(out, 0, SHA256_LEN);
		return;
	}
	uint8_t be[8];
	for (int i = 0; i < 8; i++)
		be[i] = (uint8_t)(m->size >> (56 - 8 * i));
	sha256_update(&c, domain, sizeof(domain));
	sha256_update(&c, be, sizeof(be));
	for (size_t i = 0; i < m->nchunks; i++)
		sha256_update(&c, m->chunks[i].id, CHUNK_ID_LEN);
	for (size_t i = 0; i < m->nlists; i++)
		sha256_update(&c, m->lists[i].id, CHUNK_ID_LEN);
	sha256_final(&c, out);
	sha256_release(&c);
}

/* ---- rows ---- */

struct scan {
	const struct folderscan_env *env;
	struct index *ix;
	struct folderscan_result *res;
	uint64_t self_short;
	int root_fd;
	struct store_group group;	/* the changed entries' group commit */
	char path[FOLDER_PATH_MAX + 1]; /* the entry being looked at */
};

/* What an entry on disk holds, for its row. */
struct seen {
	enum folder_kind kind;
	const struct stat *st;
	int has_content;
	uint8_t content_id[SHA256_LEN];
	struct capability cap;
	const char *target; /* SYMLINK */
};

struct adopt {
	const uint8_t *self;
	const struct seen *seen;
	const struct folder_vv *mine; /* NULL: no row of our own */
	const struct folder_entry *found;
	struct folder_entry row;
};

static int same_content(const struct folder_entry *e, const struct seen *v)
{
	if (e->deleted || e->kind != v->kind)
		return 0;
	if (v->kind == FOLDER_FILE)
		return e->has_content && !memcmp(e->content_id, v->content_id, SHA256_LEN);
	if (v->kind == FOLDER_SYMLINK)
		return !strcmp(e->target, v->target);
	return 1;
}

/* Another member's row with this content, newer than (or concurrent with)
 * ours: its vector is merged in rather than ours bumped. */
static int find_adoptable(const uint8_t device[NODE_ID_LEN], const struct folder_entry *e,
			  void *arg)
{
	struct adopt *a = arg;
	if (!memcmp(device, a->self, NODE_ID_LEN) || !same_content(e, a->seen))
		return 0;
	/* The same mode too: a mode changed here is a change of ours. */
	if (a->seen->kind != FOLDER_SYMLINK && e->mode != (uint32_t)(a->seen->st->st_mode & 0777))
		return 0;
	if (a->mine) {
		enum folder_order o = folder_vv_compare(&e->vv, a->mine);
		if (o == FOLDER_BEFORE || o == FOLDER_EQUAL)
			return 0;
	}
	a->row = *e;
	a->found = &a->row;
	return 1;
}

static void local_from_stat(struct folderdb_local *l, const char *path, const struct seen *v)
{
	memset(l, 0, sizeof(*l));
	snprintf(l->path, sizeof(l->path), "%s", path);
	l->kind = v->kind;
	l->dev = (uint64_t)v->st->st_dev;
	l->ino = (uint64_t)v->st->st_ino;
	l->size = v->kind == FOLDER_DIR ? 0 : (uint64_t)v->st->st_size;
	l->mode = (uint32_t)(v->st->st_mode & 0777);
	l->mtime_ns = stat_mtime_ns(v->st);
	l->ctime_ns = stat_ctime_ns(v->st);
	l->has_content = v->has_content;
	memcpy(l->content_id, v->content_id, SHA256_LEN);
}

/* Records what is at sc->path (inside the caller's transaction): a new row
 * of our own when it differs from our row, and the local state. */
static int record(struct scan *sc, const struct seen *v)
{
	const struct folderscan_env *env = sc->env;
	const uint8_t *fid = env->f->invite.id;
	struct folder_entry *mine = malloc(sizeof(*mine)), *e = malloc(sizeof(*e));
	struct adopt *a = malloc(sizeof(*a));
	int err = !mine || !e || !a ? -ENOMEM : 0;
	if (err)
		goto out;
	err = folderdb_row_get(sc->ix, fid, env->self, sc->path, mine);
	int have = !err;
	if (err && err != SHOAL_ENOTFOUND)
		goto out;
	err = 0;
	uint32_t mode = (uint32_t)(v->st->st_mode & 0777);
	if (!(have && same_content(mine, v) && (v->kind == FOLDER_SYMLINK || mine->mode == mode))) {
		memset(e, 0, sizeof(*e));
		snprintf(e->path, sizeof(e->path), "%s", sc->path);
		e->kind = v->kind;
		e->has_content = v->has_content;
		memcpy(e->content_id, v->content_id, SHA256_LEN);
		e->cap = v->cap;
		e->size = v->kind == FOLDER_FILE ? (uint64_t)v->st->st_size : 0;
		e->mode = v->kind == FOLDER_SYMLINK ? 0 : mode;
		e->mtime_ns = stat_mtime_ns(v->st);
		if (v->target)
			snprintf(e->target, sizeof(e->target), "%s", v->target);
		if (have) {
			e->vv = mine->vv;
			if (mine->has_content) {
				e->has_prev = 1;
				memcpy(e->prev_content_id, mine->content_id, SHA256_LEN);
			}
		}
		memset(a, 0, sizeof(*a));
		a->self = env->self;
		a->seen = v;
		a->mine = have ? &mine->vv : NULL;
		err = folderdb_rows_of_path(sc->ix, fid, sc->path, find_adoptable, a);
		if (err < 0)
			goto out;
		if (a->found) {
			err = folder_vv_merge(&e->vv, &e->vv, &a->found->vv);
			e->modified_by = a->found->modified_by;
		} else {
			err = folder_vv_bump(&e->vv, sc->self_short, env->now);
			e->modified_by = sc->self_short;
		}
		if (err == SHOAL_ETOOBIG) {
			/* The vector has no room for this node (FOLDER_VV_MAX
			 * ids): the change is not recorded, and the local
			 * state not either, so the next scan looks again. */
			sc->res->full++;
			err = 0;
			goto out;
		}
		if (!err)
			err = folderdb_next_seq(sc->ix, fid, &e->seq);
		if (!err)
			err = folderdb_row_put(sc->ix, fid, env->self, e);
		if (err)
			goto out;
		sc->res->changed++;
	}
	struct folderdb_local l;
	local_from_stat(&l, sc->path, v);
	err = folderdb_local_put(sc->ix, fid, &l);
out:
	free(mine);
	free(e);
	free(a);
	return err;
}

/* record() in a transaction of its own. */
static int tombstone(struct scan *sc, const char *path);

/* record() in a transaction of its own, with the delete of gone (a moved
 * file's old path; NULL: none). */
static int record_alone(struct scan *sc, const struct seen *v, const char *gone)
{
	int err = index_begin(sc->ix);
	if (err)
		return err;
	err = record(sc, v);
	if (!err && gone)
		err = tombstone(sc, gone);
	if (err) {
		index_rollback(sc->ix);
		return err;
	}
	return index_commit(sc->ix);
}

/* ---- files ---- */

struct stored {
	struct scan *sc;
	int fd;
	struct stat before;
};

static int stored_bind(void *arg, struct index *ix, const struct capability *cap, uint64_t size)
{
	struct stored *b = arg;
	struct stat after;
	if (fstat(b->fd, &after))
		return -errno;
	if (stat_changed(&b->before, &after) || (uint64_t)after.st_size != size)
		return -EAGAIN;
	struct manifest m;
	int err = files_read_manifest(b->sc->env->s, cap, &m);
	if (err)
		return err;
	struct seen v = {.kind = FOLDER_FILE, .st = &after, .has_content = 1, .cap = *cap};
	folderscan_content_id(&m, v.content_id);
	manifest_release(&m);
	/* More copies wanted: short until repair placed them. */
	if (b->sc->env->copies > 1 &&
	    ((err = index_copies_want_refs(ix, cap->id, b->sc->env->copies)) ||
	     (err = index_short_refs(ix, cap->id, 1))))
		return err;
	return record(b->sc, &v);
}

/* Our own live file row for path, when its content is known. */
static int own_content(struct scan *sc, const char *path, struct folder_entry *out)
{
	int err = folderdb_row_get(sc->ix, sc->env->f->invite.id, sc->env->self, path, out);
	if (err)
		return err;
	return out->has_content && out->kind == FOLDER_FILE ? 0 : SHOAL_ENOTFOUND;
}

/* A file at sc->path that moved from a vanished path: 1 (recorded), 0 (not
 * a move), or an error. Where nothing is at the old path any more, its
 * delete is recorded with the move, so that the two go out together even
 * when the scan sends what it has before its end (a member applying the
 * new path then takes its file over rather than fetching it). */
static int try_move(struct scan *sc, const struct stat *st)
{
	struct folderdb_local old;
	int err = folderdb_local_by_inode(sc->ix, sc->env->f->invite.id, (uint64_t)st->st_dev,
					  (uint64_t)st->st_ino, sc->path, &old);
	if (err)
		return err == SHOAL_ENOTFOUND ? 0 : err;
	if (!strcmp(old.path, sc->path) || old.kind != FOLDER_FILE ||
	    old.size != (uint64_t)st->st_size || old.mtime_ns != stat_mtime_ns(st) ||
	    !old.has_content)
		return 0;
	struct stat there;
	int gone = fstatat(sc->root_fd, old.path, &there, AT_SYMLINK_NOFOLLOW) ? errno : 0;
	int vacated = gone == ENOENT || gone == ENOTDIR;
	if (!gone && there.st_ino == st->st_ino && there.st_dev == st->st_dev)
		return 0; /* a hard link, not a move */
	struct folder_entry *e = malloc(sizeof(*e));
	if (!e)
		return -ENOMEM;
	err = own_content(sc, old.path, e);
	if (!err && memcmp(e->content_id, old.content_id, SHA256_LEN))
		err = SHOAL_ENOTFOUND;
	if (!err) {
		struct seen v = {.kind = FOLDER_FILE, .st = st, .has_content = 1, .cap = e->cap};
		memcpy(v.content_id, e->content_id, SHA256_LEN);
		err = record_alone(sc, &v, vacated ? old.path : NULL);
		if (!err)
			sc->res->moved++;
		/* Its chunks are served from where it is now. */
		char from[PATH_MAX], to[PATH_MAX];
		if (!err && !folderdb_abs_path(sc->env->f, old.path, from, sizeof(from)) &&
		    !folderdb_abs_path(sc->env->f, sc->path, to, sizeof(to)))
			err = located_move(sc->ix, from, to);
	}
	free(e);
	return err == SHOAL_ENOTFOUND ? 0 : err ? err : 1;
}

static int scan_file(struct scan *sc, int dir_fd, const char *name, const struct stat *st)
{
	int err = try_move(sc, st);
	if (err)
		return err < 0 ? err : 0;
	int fd = openat(dir_fd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? 0 : -errno;
	struct stored b = {.sc = sc, .fd = fd};
	if (fstat(fd, &b.before) || !S_ISREG(b.before.st_mode)) {
		close(fd);
		return 0;
	}
	/* The data stays in the file (store/located.h), not in objects/. */
	char where[PATH_MAX];
	struct files_binder binder = {
		.secret = sc->env->keys->convergence,
		.bind = stored_bind,
		.arg = &b,
		.located_path = folderdb_abs_path(sc->env->f, sc->path, where, sizeof(where))
					? NULL
					: where};
	struct capability cap;
	uint64_t size;
	err = files_put_bound(sc->env->s, fd, &binder, &cap, &size);
	close(fd);
	if (err == -EAGAIN) {
		sc->res->retry++;
		return 0;
	}
	if (!err)
		sc->res->stored++;
	return err;
}

/* ---- the walk ---- */

static int unchanged(const struct folderdb_local *l, const struct stat *st)
{
	enum folder_kind k = kind_of(st->st_mode);
	if (l->kind != k)
		return 0;
	if (k == FOLDER_DIR)
		return l->mode == (uint32_t)(st->st_mode & 0777);
	return l->size == (uint64_t)st->st_size && l->mtime_ns == stat_mtime_ns(st) &&
	       l->ctime_ns == stat_ctime_ns(st) && l->ino == (uint64_t)st->st_ino &&
	       l->dev == (uint64_t)st->st_dev && l->mode == (uint32_t)(st->st_mode & 0777);
}

static int is_temp(const char *name)
{
	size_t n = strlen(name), p = strlen(FOLDERSCAN_TEMP_PREFIX);
	return n > p + 4 && !strncmp(name, FOLDERSCAN_TEMP_PREFIX, p) &&
	       !strcmp(name + n - 4, ".tmp");
}

static int walk(struct scan *sc, int dir_fd, size_t len, int depth);

/* One entry of a directory; sc->path[0..len) is the directory's path. */
static int entry(struct scan *sc, int dir_fd, size_t len, int depth, const char *name)
{
	const struct folderscan_env *env = sc->env;
	size_t n = strlen(name);
	if (is_temp(name)) {
		/* An apply's temp file: scans and applies take turns, so this
		 * one was left by a daemon killed mid-apply. */
		if (!unlinkat(dir_fd, name, 0))
			log_info("folder: removed %s/%s, left by an interrupted apply",
				 sc->env->f->root, name);
		return 0;
	}
	if (name_validate(name, n) || (depth == 0 && !strcmp(name, FOLDERSCAN_MARKER_DIR)) ||
	    len + 1 + n > FOLDER_PATH_MAX)
		return 0;
	if (len)
		sc->path[len++] = '/';
	memcpy(sc->path + len, name, n + 1);
	struct stat st;
	if (fstatat(dir_fd, name, &st, AT_SYMLINK_NOFOLLOW))
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode) && !S_ISLNK(st.st_mode))
		return 0;
	if (env->ignored && env->ignored(env->ignored_arg, sc->path, S_ISDIR(st.st_mode)))
		return 0;
	sc->res->entries++;
	struct folderdb_local l;
	int err = folderdb_local_get(sc->ix, env->f->invite.id, sc->path, &l);
	if (err && err != SHOAL_ENOTFOUND)
		return err;
	if (err || !unchanged(&l, &st)) {
		if (S_ISREG(st.st_mode) && st.st_size > STORE_GROUP_FILE_MAX)
			err = store_group_leave(env->s, &sc->group, 1);
		else
			err = store_group_enter(env->s, &sc->group, FOLDERSCAN_GROUP_WRITES,
						FOLDERSCAN_GROUP_SECONDS);
		if (err)
			return err;
		if (S_ISREG(st.st_mode)) {
			err = scan_file(sc, dir_fd, name, &st);
		} else if (S_ISLNK(st.st_mode)) {
			char target[FOLDER_PATH_MAX + 1];
			ssize_t t = readlinkat(dir_fd, name, target, sizeof(target) - 1);
			if (t <= 0)
				return t < 0 && errno != ENOENT ? -errno : 0;
			target[t] = 0;
			struct seen v = {.kind = FOLDER_SYMLINK, .st = &st, .target = target};
			err = record_alone(sc, &v, NULL);
		} else {
			struct seen v = {.kind = FOLDER_DIR, .st = &st};
			err = record_alone(sc, &v, NULL);
		}
		if (err)
			return err;
	}
	if (!S_ISDIR(st.st_mode))
		return 0;
	if (depth + 1 >= FOLDERSCAN_DEPTH_MAX)
		return 0;
	int fd = openat(dir_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT || errno == ENOTDIR ? 0 : -errno;
	return walk(sc, fd, len + n, depth + 1);
}

/* Walks the directory fd (closed here) at sc->path[0..len). */
static int walk(struct scan *sc, int fd, size_t len, int depth)
{
	DIR *d = fdopendir(fd);
	if (!d) {
		int err = -errno;
		close(fd);
		return err;
	}
	int err = 0;
	struct dirent *de;
	while (!err && (errno = 0, de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (sc->env->deadline > 0 && sc->res->stored &&
		    monotonic_seconds() > sc->env->deadline) {
			sc->res->more = 1;
			break;
		}
		err = entry(sc, dirfd(d), len, depth, de->d_name);
		sc->path[len] = 0;
	}
	if (!err && errno)
		err = -errno;
	closedir(d);
	return err;
}

/* ---- deletes ---- */

struct gone {
	struct scan *sc;
	char (*paths)[FOLDER_PATH_MAX + 1];
	size_t n, cap;
	uint64_t total;
	uint64_t moved; /* of those, entries whose inode is at a new path now */
	int err;
};

static int find_gone(const struct folderdb_local *l, void *arg)
{
	struct gone *g = arg;
	struct stat st;
	g->total++;
	if (!fstatat(g->sc->root_fd, l->path, &st, AT_SYMLINK_NOFOLLOW))
		return 0;
	if (errno != ENOENT && errno != ENOTDIR)
		return 0;
	if (g->n == g->cap) {
		size_t cap = g->cap ? 2 * g->cap : 64;
		void *p = realloc(g->paths, cap * sizeof(*g->paths));
		if (!p)
			return -ENOMEM;
		g->paths = p;
		g->cap = cap;
	}
	snprintf(g->paths[g->n++], FOLDER_PATH_MAX + 1, "%s", l->path);
	/* Moved, not deleted: the breaker does not count it (a renamed
	 * directory of a thousand files is no mass delete). */
	struct folderdb_local *now = malloc(sizeof(*now));
	if (!now)
		return -ENOMEM;
	if (!folderdb_local_by_inode(g->sc->ix, g->sc->env->f->invite.id, l->dev, l->ino, l->path,
				     now))
		g->moved++;
	free(now);
	return 0;
}

/* A tombstone for path (inside a transaction). */
static int tombstone(struct scan *sc, const char *path)
{
	const struct folderscan_env *env = sc->env;
	const uint8_t *fid = env->f->invite.id;
	struct folder_entry *e = malloc(sizeof(*e));
	if (!e)
		return -ENOMEM;
	int err = folderdb_row_get(sc->ix, fid, env->self, path, e);
	if (!err && !e->deleted) {
		e->deleted = 1;
		e->has_prev = e->has_content;
		memcpy(e->prev_content_id, e->content_id, SHA256_LEN);
		e->modified_by = sc->self_short;
		err = folder_vv_bump(&e->vv, sc->self_short, env->now);
		if (err == SHOAL_ETOOBIG) {
			/* No room for this node in the vector (as in
			 * record()): the path stays in the local state, so the
			 * next scan looks again; the other deletes go on. */
			sc->res->full++;
			free(e);
			return 0;
		}
		if (!err)
			err = folderdb_next_seq(sc->ix, fid, &e->seq);
		if (!err)
			err = folderdb_row_put(sc->ix, fid, env->self, e);
		if (!err)
			sc->res->deleted++;
	} else if (err == SHOAL_ENOTFOUND) {
		err = 0;
	}
	free(e);
	if (!err)
		err = folderdb_local_remove(sc->ix, fid, path);
	return err;
}

static int scan_deletes(struct scan *sc)
{
	const struct folderscan_env *env = sc->env;
	const uint8_t *fid = env->f->invite.id;
	struct gone g = {.sc = sc};
	int err = folderdb_local_foreach(sc->ix, fid, find_gone, &g);
	if (err || !g.n)
		goto out;
	uint64_t limit = g.total / 4 > FOLDERSCAN_HOLD_MIN ? g.total / 4 : FOLDERSCAN_HOLD_MIN;
	if ((err = index_begin(sc->ix)))
		goto out;
	if (g.n - g.moved > limit && !env->accept_deletes) {
		for (size_t i = 0; !err && i < g.n; i++)
			err = folderdb_held_add(sc->ix, fid, g.paths[i], env->self);
		sc->res->held = g.n;
	} else {
		for (size_t i = 0; !err && i < g.n; i++)
			err = tombstone(sc, g.paths[i]);
	}
	if (err)
		index_rollback(sc->ix);
	else
		err = index_commit(sc->ix);
out:
	free(g.paths);
	return err;
}

int folderscan_run(const struct folderscan_env *env, struct folderscan_result *res)
{
	memset(res, 0, sizeof(*res));
	const struct folderdb_folder *f = env->f;
	if (folderscan_marker_check(f->root, f->invite.id, f->dev, res->stopped,
				    sizeof(res->stopped)))
		return 0;
	struct scan *sc = calloc(1, sizeof(*sc));
	if (!sc)
		return -ENOMEM;
	sc->env = env;
	sc->ix = env->s->index;
	sc->res = res;
	sc->self_short = folder_short_id(env->self);
	sc->root_fd = open(f->root, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	int err = sc->root_fd < 0 ? -errno : 0;
	if (!err) {
		int fd = dup(sc->root_fd);
		err = fd < 0 ? -errno : walk(sc, fd, 0, 0);
	}
	int e = store_group_leave(env->s, &sc->group, !err);
	if (!err)
		err = e;
	if (!err && env->accept_deletes && !res->more)
		err = folderdb_held_clear(sc->ix, f->invite.id);
	if (!err && !res->more)
		err = scan_deletes(sc);
	if (sc->root_fd >= 0)
		close(sc->root_fd);
	free(sc);
	return err;
}

/* ---- batches ---- */

struct seal_rows {
	struct folder_entry *rows;
	size_t n;
};

static int take_row(const uint8_t device[NODE_ID_LEN], const struct folder_entry *e, void *arg)
{
	struct seal_rows *r = arg;
	(void)device;
	r->rows[r->n++] = *e;
	return 0;
}

int folderscan_seal(struct index *ix, const struct folderdb_folder *f, const uint8_t *self,
		    EVP_PKEY *key, const uint8_t *cert, size_t cert_len, uint32_t flags,
		    unsigned *made)
{
	const uint8_t *fid = f->invite.id;
	struct seal_rows r = {.rows = malloc(SEAL_ROWS * sizeof(*r.rows))};
	if (!r.rows)
		return -ENOMEM;
	int err = 0;
	*made = 0;
	for (;;) {
		struct folderdb_author a = {.index_id = f->index_id};
		memcpy(a.author, self, NODE_ID_LEN);
		err = folderdb_author_get(ix, fid, self, &a);
		if (err == SHOAL_ENOTFOUND || (!err && a.index_id != f->index_id)) {
			a.index_id = f->index_id;
			a.seq = 0;
			memset(a.hash, 0, sizeof(a.hash));
			err = 0;
		}
		r.n = 0;
		if (!err)
			err = folderdb_rows_since(ix, fid, self, a.seq, SEAL_ROWS, take_row, &r);
		if (err || !r.n)
			break;
		struct buf out;
		buf_init(&out);
		uint8_t hash[SHA256_LEN];
		struct timespec now;
		clock_gettime(CLOCK_REALTIME, &now);
		int64_t us = (int64_t)now.tv_sec * 1000000 + now.tv_nsec / 1000;
		err = folder_batch_sign_flags(fid, key, cert, cert_len, f->index_id, a.hash, us,
					      flags, r.rows, r.n, &out, hash);
		if (!err && !(err = index_begin(ix))) {
			err = folderdb_batch_add(ix, fid, self, r.rows[0].seq, r.rows[r.n - 1].seq,
						 us, out.data, out.len);
			a.seq = r.rows[r.n - 1].seq;
			memcpy(a.hash, hash, SHA256_LEN);
			if (!err)
				err = folderdb_author_set(ix, fid, &a);
			if (err)
				index_rollback(ix);
			else
				err = index_commit(ix);
		}
		buf_release(&out);
		if (err)
			break;
		(*made)++;
	}
	free(r.rows);
	return err;
}
