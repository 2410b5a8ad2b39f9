/*
 * Directory trees for the put and get pipelines; see tree.h. Everything here
 * runs on the thread of the put or get: scanning and reading on the put side,
 * creating and writing files on the get side (the pool only seals and
 * unseals chunks). Directories are reached through a stack of directory fds
 * (struct dirstack) that follows the depth-first order of the entries, so
 * consecutive entries share the open fds of their common ancestors.
 */
#include "store/tree.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "proto/name.h"
#include "util/error.h"
#include "util/fsutil.h"

#define DIR_OPEN_FLAGS (O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)

/* ---- the directory stack ---- */

/* fds[0] is the root (borrowed); fds[i] (1 <= i <= depth) is the directory
 * path[0..ends[i]), a descendant of fds[i - 1]. */
struct dirstack {
	int fds[MANIFEST_DEPTH_MAX + 1];
	size_t ends[MANIFEST_DEPTH_MAX + 1];
	size_t depth;
	char path[TREE_PATH_SIZE];
};

static void dirstack_init(struct dirstack *d, int root)
{
	d->fds[0] = root;
	d->ends[0] = 0;
	d->depth = 0;
	d->path[0] = 0;
}

/* Closes every directory but the root. */
static void dirstack_pop_all(struct dirstack *d)
{
	while (d->depth > 0)
		close(d->fds[d->depth--]);
	d->path[0] = 0;
}

/*
 * Returns an fd (borrowed from d) of the directory dir[0..len) ("" for the
 * root), opening the components not yet open one at a time without
 * following links. Returns -errno or SHOAL_EPROTO / SHOAL_ETOOBIG for a path
 * the manifest rules do not allow (never the case after validation).
 */
static int dirstack_enter(struct dirstack *d, const char *dir, size_t len)
{
	/* Keep the deepest open directory that is dir or one of its ancestors. */
	size_t keep = d->depth;
	while (keep > 0) {
		size_t end = d->ends[keep];
		if (end <= len && !memcmp(d->path, dir, end) && (end == len || dir[end] == '/'))
			break;
		keep--;
	}
	while (d->depth > keep)
		close(d->fds[d->depth--]);
	size_t pos = d->depth ? d->ends[d->depth] + 1 : 0;
	while (pos < len) {
		const char *slash = memchr(dir + pos, '/', len - pos);
		size_t end = slash ? (size_t)(slash - dir) : len;
		if (name_validate(dir + pos, end - pos))
			return SHOAL_EPROTO;
		if (d->depth == MANIFEST_DEPTH_MAX || end >= sizeof(d->path))
			return SHOAL_ETOOBIG;
		memcpy(d->path, dir, end);
		d->path[end] = 0;
		int fd = openat(d->fds[d->depth], d->path + pos, DIR_OPEN_FLAGS);
		if (fd < 0) {
			int err = -errno;
			d->path[d->ends[d->depth]] = 0;
			return err;
		}
		d->fds[++d->depth] = fd;
		d->ends[d->depth] = end;
		pos = end + 1;
	}
	return d->fds[d->depth];
}

/* Splits path at its last '/': the parent's length (0 for the root) and the
 * base name. */
static const char *path_split(const char *path, size_t *parent_len)
{
	const char *slash = strrchr(path, '/');
	*parent_len = slash ? (size_t)(slash - path) : 0;
	return slash ? slash + 1 : path;
}

/* Opens the parent directory of path (through d); *base gets the last
 * component. SHOAL_EPROTO when the last component is not a valid name or the
 * path is absolute (dirstack_enter() checks the others). */
static int dirstack_parent(struct dirstack *d, const char *path, const char **base)
{
	size_t len;
	*base = path_split(path, &len);
	if ((len == 0 && *base != path) || name_validate(*base, strlen(*base)))
		return SHOAL_EPROTO;
	return dirstack_enter(d, path, len);
}

/* ---- scanning ---- */

/* A directory's children, read in full before the scan descends. */
struct child {
	size_t name; /* offset in the names buffer */
	struct stat st;
	int gone; /* vanished between readdir and fstatat */
};

struct scan {
	struct tree_scan *t;
	struct dirstack ds;
	struct progress *progress;
	const struct stat *exclude;
	char cur[TREE_PATH_SIZE]; /* the directory being scanned */
};

static int child_order(const void *a, const void *b, void *names)
{
	const struct child *x = a, *y = b;
	return strcmp((const char *)names + x->name, (const char *)names + y->name);
}

static void scan_skip(struct tree_scan *t, const char *path)
{
	if (t->skipped++ == 0)
		snprintf(t->skipped_path, sizeof(t->skipped_path), "%s", path);
}

static int scan_add(struct tree_scan *t, const char *path, size_t len, const struct stat *st)
{
	if (t->nentries == MANIFEST_ENTRIES_MAX)
		return SHOAL_ETOOBIG;
	if (t->nentries == t->cap) {
		size_t cap = t->cap ? 2 * t->cap : 256;
		struct dir_entry *e = realloc(t->entries, cap * sizeof(*e));
		if (!e)
			return -ENOMEM;
		t->entries = e;
		size_t *o = realloc(t->offsets, cap * sizeof(*o));
		if (!o)
			return -ENOMEM;
		t->offsets = o;
		t->cap = cap;
	}
	int dir = S_ISDIR(st->st_mode);
	t->offsets[t->nentries] = t->paths.len;
	buf_add(&t->paths, path, len + 1);
	t->entries[t->nentries++] = (struct dir_entry){
		.kind = dir ? MANIFEST_DIRECTORY : MANIFEST_FILE,
		.mode = (uint32_t)(st->st_mode & 07777),
		.mtime = (int64_t)st->st_mtime,
		.size = dir ? 0 : (uint64_t)st->st_size,
	};
	if (dir) {
		t->dirs++;
	} else {
		t->files++;
		t->size += (uint64_t)st->st_size;
	}
	return 0;
}

/* Reads the names in directory fd (borrowed) with their lstat data. */
static int scan_list(int fd, struct buf *names, struct child **out, size_t *count)
{
	int dfd = openat(fd, ".", DIR_OPEN_FLAGS);
	if (dfd < 0)
		return -errno;
	DIR *dir = fdopendir(dfd);
	if (!dir) {
		int err = -errno;
		close(dfd);
		return err;
	}
	struct child *kids = NULL;
	size_t n = 0, cap = 0;
	int err = 0;
	for (;;) {
		errno = 0;
		struct dirent *de = readdir(dir);
		if (!de) {
			err = -errno;
			break;
		}
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (n == cap) {
			cap = cap ? 2 * cap : 64;
			struct child *k = realloc(kids, cap * sizeof(*k));
			if (!k) {
				err = -ENOMEM;
				break;
			}
			kids = k;
		}
		kids[n].name = names->len;
		kids[n].gone = 0;
		buf_add(names, de->d_name, strlen(de->d_name) + 1);
		n++;
	}
	closedir(dir);
	for (size_t i = 0; !err && i < n; i++) {
		const char *name = (const char *)names->data + kids[i].name;
		if (fstatat(fd, name, &kids[i].st, AT_SYMLINK_NOFOLLOW) == 0)
			continue;
		if (errno == ENOENT)
			kids[i].gone = 1;
		else
			err = -errno;
	}
	if (!err && n)
		qsort_r(kids, n, sizeof(*kids), child_order, names->data);
	if (err) {
		free(kids);
		return err;
	}
	*out = kids;
	*count = n;
	return 0;
}

/* Records where a scan failed: the directory sc->cur[0..len) or, when name is
 * not NULL, that entry of it. */
static void scan_where(struct scan *sc, size_t len, const char *name)
{
	if (!name)
		snprintf(sc->t->where, sizeof(sc->t->where), "%.*s", (int)len, sc->cur);
	else
		snprintf(sc->t->where, sizeof(sc->t->where), "%.*s%s%s", (int)len, sc->cur,
			 len ? "/" : "", name);
}

/* Scans the directory sc->cur[0..len), of depth components, depth first. */
static int scan_dir(struct scan *sc, size_t len, size_t depth)
{
	struct tree_scan *t = sc->t;
	if (progress_cancelled(sc->progress))
		return -EINTR;
	int fd = dirstack_enter(&sc->ds, sc->cur, len);
	if (fd < 0) {
		scan_where(sc, len, NULL);
		return fd;
	}
	struct buf names = BUF_INIT;
	struct child *kids = NULL;
	size_t n = 0;
	int err = scan_list(fd, &names, &kids, &n);
	if (err)
		scan_where(sc, len, NULL);
	for (size_t i = 0; !err && i < n; i++) {
		const char *name = (const char *)names.data + kids[i].name;
		mode_t mode = kids[i].st.st_mode;
		size_t name_len = strlen(name);
		size_t path_len = len ? len + 1 + name_len : name_len;
		if (kids[i].gone)
			continue; /* deleted while we looked: not part of the tree */
		if (path_len > MANIFEST_PATH_MAX) {
			scan_where(sc, len, name);
			err = SHOAL_ETOOBIG;
			break;
		}
		if (len)
			sc->cur[len] = '/';
		memcpy(sc->cur + (len ? len + 1 : 0), name, name_len + 1);
		const struct stat *x = sc->exclude;
		if ((!S_ISREG(mode) && !S_ISDIR(mode)) || name_validate(name, name_len) ||
		    (x && kids[i].st.st_dev == x->st_dev && kids[i].st.st_ino == x->st_ino)) {
			scan_skip(t, sc->cur);
		} else if (depth + 1 > MANIFEST_DEPTH_MAX) {
			scan_where(sc, path_len, NULL);
			err = SHOAL_ETOOBIG;
		} else {
			err = scan_add(t, sc->cur, path_len, &kids[i].st);
			if (err)
				scan_where(sc, path_len, NULL);
			else if (S_ISDIR(mode))
				err = scan_dir(sc, path_len, depth + 1);
		}
		sc->cur[len] = 0;
	}
	free(kids);
	buf_release(&names);
	return err;
}

int tree_scan(struct tree_scan *t, int root, const struct stat *exclude, struct progress *progress)
{
	memset(t, 0, sizeof(*t));
	struct scan *sc = calloc(1, sizeof(*sc));
	if (!sc)
		return -ENOMEM;
	sc->t = t;
	sc->progress = progress;
	sc->exclude = exclude;
	dirstack_init(&sc->ds, root);
	int err = scan_dir(sc, 0, 0);
	dirstack_pop_all(&sc->ds);
	free(sc);
	if (err)
		return err;
	/* The path buffer has stopped moving: point the entries into it. */
	for (size_t i = 0; i < t->nentries; i++)
		t->entries[i].path = (char *)t->paths.data + t->offsets[i];
	return 0;
}

void tree_scan_release(struct tree_scan *t)
{
	free(t->entries);
	free(t->offsets);
	buf_release(&t->paths);
	memset(t, 0, sizeof(*t));
}

/* ---- reading ---- */

struct tree_reader {
	const struct dir_entry *entries;
	size_t n;
	size_t next;	/* the entry after the current file */
	int fd;		/* the current file, or -1 */
	struct stat st; /* the current file's, when it was opened */
	uint64_t left;
	const char *where;
	struct progress *progress;
	struct dirstack ds;
};

int tree_reader_new(struct tree_reader **out, int root, const struct dir_entry *entries, size_t n,
		    struct progress *progress)
{
	struct tree_reader *r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->entries = entries;
	r->n = n;
	r->fd = -1;
	r->where = "";
	r->progress = progress;
	dirstack_init(&r->ds, root);
	*out = r;
	return 0;
}

/* Opens the next non-empty file; 0 with r->fd open, 1 at the end. */
static int reader_next(struct tree_reader *r)
{
	while (r->next < r->n &&
	       (r->entries[r->next].kind != MANIFEST_FILE || r->entries[r->next].size == 0))
		r->next++;
	if (r->next == r->n)
		return 1;
	const struct dir_entry *e = &r->entries[r->next++];
	r->where = e->path;
	const char *base;
	int dir = dirstack_parent(&r->ds, e->path, &base);
	if (dir < 0)
		return dir;
	/* O_NONBLOCK: should a FIFO have taken the file's place, opening it
	 * must not wait for a writer; the type check below then refuses it. */
	int fd = openat(dir, base, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (fd < 0)
		return errno == ELOOP ? -EAGAIN : -errno;
	struct stat st;
	if (fstat(fd, &st)) {
		int err = -errno;
		close(fd);
		return err;
	}
	if (!S_ISREG(st.st_mode) || (uint64_t)st.st_size != e->size) {
		close(fd);
		return -EAGAIN;
	}
	r->fd = fd;
	r->st = st;
	r->left = e->size;
	return 0;
}

ssize_t tree_reader_read(struct tree_reader *r, uint8_t *p, size_t n)
{
	for (;;) {
		if (r->fd < 0) {
			int err = reader_next(r);
			if (err)
				return err > 0 ? 0 : err;
		}
		/* Read past the expected end too: a file that grew is caught. */
		size_t want = r->left ? (r->left < n ? (size_t)r->left : n) : 1;
		ssize_t got = read(r->fd, p, want);
		if (got < 0) {
			if (errno == EINTR && !progress_cancelled(r->progress))
				continue;
			return -errno;
		}
		if (r->left == 0) {
			/* Grown, or written to while being read (same size). */
			struct stat now;
			if (got > 0 || fstat(r->fd, &now) || stat_changed(&r->st, &now))
				return -EAGAIN;
			close(r->fd);
			r->fd = -1;
			continue;
		}
		if (got == 0)
			return -EAGAIN; /* it shrank */
		r->left -= (uint64_t)got;
		return got;
	}
}

const char *tree_reader_where(const struct tree_reader *r)
{
	return r->where;
}

void tree_reader_free(struct tree_reader *r)
{
	if (!r)
		return;
	if (r->fd >= 0)
		close(r->fd);
	dirstack_pop_all(&r->ds);
	free(r);
}

/* ---- writing ---- */

struct tree_writer {
	const struct manifest *m;
	char out[PATH_MAX];
	char parent[PATH_MAX];
	char tmp[PATH_MAX];
	int root;     /* the temporary directory, or -1 */
	int finished; /* renamed into place */
	size_t next;  /* the entry after the current file */
	int fd;	      /* the current file, or -1 */
	uint64_t left;
	uint32_t keep; /* mode bits kept of the stored modes */
	struct dirstack ds;
};

/*
 * Removes name (in directory parent) and everything under it, without
 * following links; directories whose restored mode forbids it are made
 * writable first. Depth is bounded by the tree's (MANIFEST_DEPTH_MAX).
 */
static int remove_tree(int parent, const char *name)
{
	if (!unlinkat(parent, name, 0) || errno == ENOENT)
		return 0;
	if (errno != EISDIR && errno != EPERM)
		return -errno;
	int fd = openat(parent, name, DIR_OPEN_FLAGS);
	if (fd < 0 && errno == EACCES && !fchmodat(parent, name, 0700, 0))
		fd = openat(parent, name, DIR_OPEN_FLAGS);
	if (fd < 0)
		return -errno;
	fchmod(fd, 0700);
	DIR *dir = fdopendir(fd);
	if (!dir) {
		int err = -errno;
		close(fd);
		return err;
	}
	int err = 0;
	for (;;) {
		/* Collect a batch of names, then remove them: removing while
		 * reading may make readdir skip entries. */
		struct buf names = BUF_INIT;
		size_t count = 0;
		rewinddir(dir);
		struct dirent *de;
		while ((de = readdir(dir)) && count < 4096) {
			if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
				continue;
			buf_add(&names, de->d_name, strlen(de->d_name) + 1);
			count++;
		}
		const char *at = (const char *)names.data;
		for (size_t i = 0; !err && i < count; i++, at += strlen(at) + 1)
			err = remove_tree(dirfd(dir), at);
		buf_release(&names);
		if (err || count == 0)
			break;
	}
	closedir(dir);
	if (!err && unlinkat(parent, name, AT_REMOVEDIR))
		err = -errno;
	return err;
}

/* Removes trailing slashes (but not a lone "/") into out. */
static int strip_slashes(const char *path, char *out, size_t size)
{
	size_t n = strlen(path);
	while (n > 1 && path[n - 1] == '/')
		n--;
	if (n == 0 || n >= size)
		return -ENAMETOOLONG;
	memcpy(out, path, n);
	out[n] = 0;
	return 0;
}

/*
 * Checks an entry as manifest_decode() does (proto/manifest.h): a file or a
 * directory, whose path has 1..MANIFEST_PATH_MAX bytes and at most
 * MANIFEST_DEPTH_MAX components, each a valid name (so none is empty, "." or
 * "..", and the path is not absolute). The writer does not rely on its
 * caller having decoded the manifest: whatever hands it one, it writes
 * nothing outside its temporary directory.
 */
static int entry_check(const struct dir_entry *e)
{
	if ((e->kind != MANIFEST_FILE && e->kind != MANIFEST_DIRECTORY) || !e->path)
		return SHOAL_EPROTO;
	size_t len = strnlen(e->path, MANIFEST_PATH_MAX + 1), depth = 0;
	if (len == 0 || len > MANIFEST_PATH_MAX)
		return SHOAL_EPROTO;
	for (size_t start = 0; start <= len;) {
		const char *slash = memchr(e->path + start, '/', len - start);
		size_t end = slash ? (size_t)(slash - e->path) : len;
		if (name_validate(e->path + start, end - start) || ++depth > MANIFEST_DEPTH_MAX)
			return SHOAL_EPROTO;
		start = end + 1;
	}
	return 0;
}

int tree_writer_new(struct tree_writer **out, const struct manifest *m, const char *out_path,
		    uint32_t mode_keep)
{
	/* Before anything is created. */
	for (size_t i = 0; i < m->nentries; i++) {
		if (entry_check(&m->entries[i]))
			return SHOAL_EPROTO;
	}
	struct tree_writer *w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	w->m = m;
	w->keep = mode_keep & 07777;
	w->root = -1;
	w->fd = -1;
	int err = strip_slashes(out_path, w->out, sizeof(w->out));
	if (err)
		goto fail;
	struct stat st;
	if (!lstat(w->out, &st)) {
		err = SHOAL_EEXIST;
		goto fail;
	}
	if (errno != ENOENT) {
		err = -errno;
		goto fail;
	}
	path_dirname(w->out, w->parent, sizeof(w->parent));
	if ((size_t)snprintf(w->tmp, sizeof(w->tmp), "%s/.shoal-get-XXXXXX", w->parent) >=
	    sizeof(w->tmp)) {
		err = -ENAMETOOLONG;
		goto fail;
	}
	if (!mkdtemp(w->tmp)) {
		err = -errno;
		w->tmp[0] = 0;
		goto fail;
	}
	w->root = open(w->tmp, DIR_OPEN_FLAGS);
	if (w->root < 0) {
		err = -errno;
		goto fail;
	}
	dirstack_init(&w->ds, w->root);
	for (size_t i = 0; i < m->nentries; i++) {
		const struct dir_entry *e = &m->entries[i];
		if (e->kind != MANIFEST_DIRECTORY)
			continue;
		const char *base;
		int dir = dirstack_parent(&w->ds, e->path, &base);
		if (dir < 0) {
			err = dir;
			goto fail;
		}
		if (mkdirat(dir, base, 0700)) {
			err = -errno;
			goto fail;
		}
	}
	*out = w;
	return 0;
fail:
	tree_writer_free(w);
	return err;
}

/* Gives the finished current file its mode and mtime and closes it. */
static int writer_close_file(struct tree_writer *w)
{
	const struct dir_entry *e = &w->m->entries[w->next - 1];
	struct timespec times[2] = {{.tv_nsec = UTIME_OMIT}, {.tv_sec = e->mtime}};
	int err = 0;
	if (fchmod(w->fd, e->mode & w->keep) || futimens(w->fd, times))
		err = -errno;
	if (close(w->fd) && !err)
		err = -errno;
	w->fd = -1;
	return err;
}

/* Creates the next file (empty ones are finished at once); 1 when no file
 * is left. */
static int writer_next(struct tree_writer *w)
{
	for (;;) {
		while (w->next < w->m->nentries && w->m->entries[w->next].kind != MANIFEST_FILE)
			w->next++;
		if (w->next == w->m->nentries)
			return 1;
		const struct dir_entry *e = &w->m->entries[w->next++];
		const char *base;
		int dir = dirstack_parent(&w->ds, e->path, &base);
		if (dir < 0)
			return dir;
		w->fd = openat(dir, base, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
			       0600);
		if (w->fd < 0)
			return -errno;
		w->left = e->size;
		if (w->left)
			return 0;
		int err = writer_close_file(w);
		if (err)
			return err;
	}
}

int tree_writer_write(struct tree_writer *w, const uint8_t *p, size_t n)
{
	while (n) {
		if (w->fd < 0) {
			int err = writer_next(w);
			if (err)
				return err > 0 ? SHOAL_EPROTO : err;
		}
		size_t part = w->left < n ? (size_t)w->left : n;
		int err = write_in_full(w->fd, p, part);
		if (err)
			return err;
		p += part;
		n -= part;
		w->left -= part;
		if (w->left == 0 && (err = writer_close_file(w)))
			return err;
	}
	return 0;
}

int tree_writer_finish(struct tree_writer *w)
{
	if (w->fd >= 0)
		return SHOAL_EPROTO; /* the stream ended inside a file */
	int err = writer_next(w);
	if (err <= 0)
		return err ? err : SHOAL_EPROTO; /* a non-empty file got no data */
	/* Directories last, deepest first (the reverse of the listing): their
	 * modes may forbid writing into them, and filling them changed their
	 * mtimes. */
	for (size_t i = w->m->nentries; i-- > 0;) {
		const struct dir_entry *e = &w->m->entries[i];
		if (e->kind != MANIFEST_DIRECTORY)
			continue;
		const char *base;
		int dir = dirstack_parent(&w->ds, e->path, &base);
		if (dir < 0)
			return dir;
		int fd = openat(dir, base, DIR_OPEN_FLAGS);
		if (fd < 0)
			return -errno;
		struct timespec times[2] = {{.tv_nsec = UTIME_OMIT}, {.tv_sec = e->mtime}};
		err = fchmod(fd, e->mode & w->keep) || futimens(fd, times) ? -errno : 0;
		close(fd);
		if (err)
			return err;
	}
	dirstack_pop_all(&w->ds);
	struct timespec times[2] = {{.tv_nsec = UTIME_OMIT}, {.tv_sec = w->m->mtime}};
	if (fchmod(w->root, w->m->mode & w->keep) || futimens(w->root, times))
		return -errno;
	/* One syncfs writes every file and directory of the tree; the fsync
	 * reports a write-back error syncfs might not. */
	if (syncfs(w->root) || fsync(w->root))
		return -errno;
	if (renameat2(AT_FDCWD, w->tmp, AT_FDCWD, w->out, RENAME_NOREPLACE)) {
		if (errno != EINVAL && errno != ENOSYS)
			return errno == EEXIST ? SHOAL_EEXIST : -errno;
		/* A file system without RENAME_NOREPLACE: check, then rename. */
		struct stat st;
		if (!lstat(w->out, &st))
			return SHOAL_EEXIST;
		if (rename(w->tmp, w->out))
			return -errno;
	}
	w->finished = 1;
	return fsync_dir(w->parent);
}

void tree_writer_free(struct tree_writer *w)
{
	if (!w)
		return;
	if (w->fd >= 0)
		close(w->fd);
	if (w->root >= 0) {
		dirstack_pop_all(&w->ds);
		close(w->root);
	}
	if (!w->finished && w->tmp[0]) {
		int parent = open(w->parent, DIR_OPEN_FLAGS);
		if (parent >= 0) {
			const char *base = strrchr(w->tmp, '/') + 1;
			remove_tree(parent, base);
			close(parent);
		}
	}
	free(w);
}
