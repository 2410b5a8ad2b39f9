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
#include "store/restores.h"
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

/* ---- walking ---- */

/* One open directory of the walk: its children's names, sorted. */
struct level {
	int fd; /* owned, except the root's */
	struct buf names;
	size_t *offs;
	size_t n, next;
	size_t path_len; /* the directory's path is path[0..path_len) */
};

/* An inode with several links, and the first path it was listed under. */
struct inode_seen {
	dev_t dev;
	ino_t ino;
	size_t path; /* offset in links.paths + 1; 0: a free slot */
};

struct tree_walk {
	struct level levels[MANIFEST_DEPTH_MAX + 1];
	size_t depth;
	const struct stat *exclude;
	struct progress *progress;
	struct tree_stats stats;
	char path[TREE_PATH_SIZE];
	char target[TREE_PATH_SIZE];
	const char *base; /* the last entry's name, in path */
	struct {
		struct inode_seen *slots;
		size_t cap, count;
		struct buf paths;
	} links;
};

static int name_order(const void *a, const void *b, void *names)
{
	return strcmp((const char *)names + *(const size_t *)a,
		      (const char *)names + *(const size_t *)b);
}

/* Reads and sorts the names in directory fd (borrowed) into l. */
static int level_list(struct level *l, int fd)
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
	size_t cap = 0;
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
		if (l->n == cap) {
			cap = cap ? 2 * cap : 64;
			size_t *o = realloc(l->offs, cap * sizeof(*o));
			if (!o) {
				err = -ENOMEM;
				break;
			}
			l->offs = o;
		}
		l->offs[l->n++] = l->names.len;
		buf_add(&l->names, de->d_name, strlen(de->d_name) + 1);
	}
	closedir(dir);
	if (!err && l->n)
		qsort_r(l->offs, l->n, sizeof(*l->offs), name_order, l->names.data);
	return err;
}

static void level_release(struct level *l, int owned)
{
	if (owned && l->fd >= 0)
		close(l->fd);
	buf_release(&l->names);
	free(l->offs);
	memset(l, 0, sizeof(*l));
	l->fd = -1;
}

int tree_walk_new(struct tree_walk **out, int root, const struct stat *exclude,
		  struct progress *progress)
{
	struct tree_walk *w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	w->exclude = exclude;
	w->progress = progress;
	w->levels[0].fd = root;
	int err = level_list(&w->levels[0], root);
	if (err) {
		tree_walk_free(w);
		return err;
	}
	*out = w;
	return 0;
}

static void walk_skip(struct tree_walk *w)
{
	if (w->stats.skipped++ == 0)
		snprintf(w->stats.skipped_path, sizeof(w->stats.skipped_path), "%s", w->path);
}

static size_t inode_slot(const struct tree_walk *w, const struct stat *st)
{
	uint64_t h = ((uint64_t)st->st_ino * 0x9e3779b97f4a7c15ull) ^ (uint64_t)st->st_dev;
	return (size_t)(h ^ (h >> 29)) & (w->links.cap - 1);
}

static int links_grow(struct tree_walk *w)
{
	size_t cap = w->links.cap ? 2 * w->links.cap : 1024;
	struct inode_seen *old = w->links.slots;
	size_t old_cap = w->links.cap;
	w->links.slots = calloc(cap, sizeof(*old));
	if (!w->links.slots) {
		w->links.slots = old;
		return -ENOMEM;
	}
	w->links.cap = cap;
	for (size_t i = 0; i < old_cap; i++) {
		if (!old[i].path)
			continue;
		struct stat st = {.st_dev = old[i].dev, .st_ino = old[i].ino};
		size_t k = inode_slot(w, &st);
		while (w->links.slots[k].path)
			k = (k + 1) & (cap - 1);
		w->links.slots[k] = old[i];
	}
	free(old);
	return 0;
}

/* The first path listed for st's inode, or NULL after remembering the
 * current path as that (when there is room). */
static const char *links_seen(struct tree_walk *w, const struct stat *st)
{
	if (w->links.count * 2 >= w->links.cap) {
		if (w->links.count >= TREE_HARDLINKS_MAX || links_grow(w))
			return NULL;
	}
	size_t k = inode_slot(w, st);
	for (; w->links.slots[k].path; k = (k + 1) & (w->links.cap - 1)) {
		const struct inode_seen *s = &w->links.slots[k];
		if (s->dev == st->st_dev && s->ino == st->st_ino)
			return (const char *)w->links.paths.data + s->path - 1;
	}
	w->links.slots[k] = (struct inode_seen){st->st_dev, st->st_ino, w->links.paths.len + 1};
	buf_add(&w->links.paths, w->path, strlen(w->path) + 1);
	w->links.count++;
	return NULL;
}

/* Fills e for the entry at w->path whose lstat is st; 1: leave it out. */
static int walk_entry(struct tree_walk *w, int dirfd, const struct stat *st, struct dir_entry *e)
{
	*e = (struct dir_entry){.path = w->path,
				.mode = (uint32_t)(st->st_mode & 07777),
				.mtime = (int64_t)st->st_mtime,
				.mtime_ns = (uint32_t)st->st_mtim.tv_nsec};
	if (S_ISREG(st->st_mode)) {
		const char *first = st->st_nlink > 1 ? links_seen(w, st) : NULL;
		if (first) {
			e->kind = MANIFEST_HARDLINK;
			e->link = (char *)first;
			w->stats.links++;
		} else {
			e->kind = MANIFEST_FILE;
			e->size = (uint64_t)st->st_size;
			e->ctime_ns =
				(int64_t)st->st_ctim.tv_sec * 1000000000 + st->st_ctim.tv_nsec;
			e->inode = (uint64_t)st->st_ino;
			w->stats.files++;
			w->stats.size += e->size;
		}
	} else if (S_ISLNK(st->st_mode)) {
		ssize_t n = readlinkat(dirfd, w->base, w->target, sizeof(w->target));
		if (n < 0)
			return errno == ENOENT ? 1 : -errno;
		if (n == 0 || (size_t)n > MANIFEST_PATH_MAX) {
			walk_skip(w);
			return 1;
		}
		w->target[n] = 0;
		e->kind = MANIFEST_SYMLINK;
		e->target = w->target;
		w->stats.links++;
	} else if (S_ISFIFO(st->st_mode)) {
		e->kind = MANIFEST_FIFO;
		w->stats.links++;
	} else {
		walk_skip(w); /* sockets and devices */
		return 1;
	}
	return 0;
}

/* Opens and lists the directory at w->path (lstat st) as a new level;
 * 1 when it vanished. */
static int walk_push(struct tree_walk *w, int dirfd, size_t path_len)
{
	int fd = openat(dirfd, w->base, DIR_OPEN_FLAGS);
	if (fd < 0)
		return errno == ENOENT || errno == ENOTDIR || errno == ELOOP ? 1 : -errno;
	/* Levels past the depth are zeroed (never used, or released). */
	struct level *l = &w->levels[w->depth + 1];
	l->fd = fd;
	l->path_len = path_len;
	int err = level_list(l, fd);
	if (err) {
		level_release(l, 1);
		return err;
	}
	w->depth++;
	w->stats.dirs++;
	return 0;
}

int tree_walk_next(struct tree_walk *w, struct dir_entry *e)
{
	for (;;) {
		if (progress_cancelled(w->progress))
			return -EINTR;
		struct level *l = &w->levels[w->depth];
		if (l->next == l->n) {
			if (w->depth == 0)
				return 1;
			level_release(l, 1);
			w->depth--;
			continue;
		}
		const char *name = (const char *)l->names.data + l->offs[l->next++];
		size_t name_len = strlen(name);
		size_t at = l->path_len ? l->path_len + 1 : 0;
		if (at + name_len > MANIFEST_PATH_MAX) {
			snprintf(w->stats.where, sizeof(w->stats.where), "%.*s%s%s",
				 (int)l->path_len, w->path, at ? "/" : "", name);
			return SHOAL_ETOOBIG;
		}
		if (at)
			w->path[l->path_len] = '/';
		memcpy(w->path + at, name, name_len + 1);
		if (w->depth + 1 > MANIFEST_DEPTH_MAX) {
			snprintf(w->stats.where, sizeof(w->stats.where), "%s", w->path);
			return SHOAL_ETOOBIG;
		}
		w->base = w->path + at;
		struct stat st;
		if (fstatat(l->fd, name, &st, AT_SYMLINK_NOFOLLOW)) {
			if (errno == ENOENT)
				continue; /* deleted while we looked: not part of the tree */
			snprintf(w->stats.where, sizeof(w->stats.where), "%s", w->path);
			return -errno;
		}
		const struct stat *x = w->exclude;
		if (name_validate(name, name_len) ||
		    (x && st.st_dev == x->st_dev && st.st_ino == x->st_ino)) {
			walk_skip(w);
			continue;
		}
		int err;
		if (S_ISDIR(st.st_mode)) {
			*e = (struct dir_entry){.path = w->path,
						.kind = MANIFEST_DIRECTORY,
						.mode = (uint32_t)(st.st_mode & 07777),
						.mtime = (int64_t)st.st_mtime,
						.mtime_ns = (uint32_t)st.st_mtim.tv_nsec};
			err = walk_push(w, l->fd, at + name_len);
		} else {
			err = walk_entry(w, l->fd, &st, e);
		}
		if (err == 1)
			continue;
		if (err) {
			snprintf(w->stats.where, sizeof(w->stats.where), "%s", w->path);
			return err;
		}
		w->stats.entries++;
		return 0;
	}
}

const struct tree_stats *tree_walk_stats(const struct tree_walk *w)
{
	return &w->stats;
}

void tree_walk_free(struct tree_walk *w)
{
	if (!w)
		return;
	for (size_t i = 0; i <= w->depth; i++)
		level_release(&w->levels[i], i > 0);
	free(w->links.slots);
	buf_release(&w->links.paths);
	free(w);
}

/* ---- reading ---- */

struct tree_reader {
	struct tree_walk *walk;
	tree_entry_fn on_entry;
	void *arg;
	int cur;	/* there is a current file (its bytes not all passed) */
	int fd;		/* the current file once opened, or -1 */
	struct stat st; /* the current file's, when it was opened */
	uint64_t size;	/* the current file's, as walked */
	uint64_t left;	/* its bytes not yet read or skipped */
	int done;
	struct progress *progress;
	struct sparse_reader sparse; /* the current file's holes are not read */
};

int tree_reader_new(struct tree_reader **out, struct tree_walk *walk, tree_entry_fn on_entry,
		    void *arg, struct progress *progress)
{
	struct tree_reader *r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->walk = walk;
	r->on_entry = on_entry;
	r->arg = arg;
	r->fd = -1;
	r->progress = progress;
	*out = r;
	return 0;
}

/* Passes entries up to the next non-empty file, which becomes the current
 * one (opened only when its bytes are read); 0, or 1 at the end. */
static int reader_next(struct tree_reader *r)
{
	struct dir_entry e;
	for (;;) {
		if (r->done)
			return 1;
		int err = tree_walk_next(r->walk, &e);
		if (err == 1)
			r->done = 1;
		if (err)
			return err;
		if (r->on_entry && (err = r->on_entry(r->arg, &e)))
			return err;
		if (e.kind == MANIFEST_FILE && e.size)
			break;
	}
	r->cur = 1;
	r->left = e.size;
	r->size = e.size;
	return 0;
}

/* Opens the current file where its unread bytes begin. */
static int reader_open(struct tree_reader *r)
{
	const struct level *l = &r->walk->levels[r->walk->depth];
	/* O_NONBLOCK: should a FIFO have taken the file's place, opening it
	 * must not wait for a writer; the type check below then refuses it. */
	int fd = openat(l->fd, r->walk->base,
			O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (fd < 0)
		return errno == ELOOP || errno == ENOENT ? -EAGAIN : -errno;
	struct stat st;
	if (fstat(fd, &st)) {
		int err = -errno;
		close(fd);
		return err;
	}
	if (!S_ISREG(st.st_mode) || (uint64_t)st.st_size != r->size) {
		close(fd);
		return -EAGAIN;
	}
	r->fd = fd;
	r->st = st;
	sparse_reader_init(&r->sparse, fd, r->size - r->left, r->size);
	return 0;
}

/* Done with the current file: was it the same file throughout? */
static int reader_close(struct tree_reader *r)
{
	int err = 0;
	if (r->fd >= 0) {
		struct stat now;
		if (fstat(r->fd, &now) || stat_changed(&r->st, &now))
			err = -EAGAIN;
		close(r->fd);
		r->fd = -1;
	}
	r->cur = 0;
	return err;
}

ssize_t tree_reader_read(struct tree_reader *r, uint8_t *p, size_t n)
{
	for (;;) {
		if (!r->cur) {
			int err = reader_next(r);
			if (err)
				return err > 0 ? 0 : err;
		}
		if (r->fd < 0) {
			int err = reader_open(r);
			if (err)
				return err;
		}
		/* Read past the expected end too: a file that grew is caught. */
		size_t want = r->left ? (r->left < n ? (size_t)r->left : n) : 1;
		ssize_t got = sparse_read(&r->sparse, p, want);
		if (got < 0) {
			if (errno == EINTR && !progress_cancelled(r->progress))
				continue;
			return -errno;
		}
		if (r->left == 0) {
			/* Grown, or written to while being read (same size). */
			if (got > 0) {
				reader_close(r);
				return -EAGAIN;
			}
			int err = reader_close(r);
			if (err)
				return err;
			continue;
		}
		if (got == 0)
			return -EAGAIN; /* it shrank */
		r->left -= (uint64_t)got;
		return got;
	}
}

int tree_reader_skip(struct tree_reader *r, uint64_t n)
{
	while (n) {
		if (!r->cur) {
			int err = reader_next(r);
			if (err)
				return err > 0 ? -EAGAIN : err;
		}
		uint64_t step = r->left < n ? r->left : n;
		r->left -= step;
		n -= step;
		if (!r->left) {
			int err = reader_close(r);
			if (err)
				return err;
		}
	}
	return 0;
}

const char *tree_reader_where(const struct tree_reader *r)
{
	return r->walk->path;
}

void tree_reader_free(struct tree_reader *r)
{
	if (!r)
		return;
	if (r->fd >= 0)
		close(r->fd);
	free(r);
}

/* ---- writing ---- */

struct tree_writer {
	const struct manifest *m;
	struct tree_entries src;
	size_t next; /* m->entries: the next one, when src is theirs */
	char out[PATH_MAX];
	char parent[PATH_MAX];
	struct restore_temp tmp; /* the temporary directory, noted; path "" until made */
	int replace;		 /* an existing out is replaced */
	int root;		 /* the temporary directory, or -1 */
	int finished;		 /* put into place */
	int fd;			 /* the current file, or -1 */
	uint64_t left;
	uint64_t file_size; /* the current file's */
	uint32_t file_mode;
	int64_t file_mtime;
	uint32_t file_mtime_ns;
	uint32_t keep; /* mode bits kept of the stored modes */
	struct dirstack ds;
	struct dirstack links; /* where hard link targets are looked up */
	/* The directories the entries are inside, outermost first: each is
	 * open_path[0..len) and gets its mode and mtime when left. */
	struct open_dir {
		size_t len;
		uint32_t mode;
		int64_t mtime;
		uint32_t mtime_ns;
	} open[MANIFEST_DEPTH_MAX + 1];
	size_t nopen;
	char open_path[TREE_PATH_SIZE];
};

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

/* Checks a path as manifest_decode() does: 1..MANIFEST_PATH_MAX bytes and
 * at most MANIFEST_DEPTH_MAX components, each a valid name (so none is empty,
 * "." or "..", and the path is not absolute). */
static int path_safe(const char *path)
{
	if (!path)
		return SHOAL_EPROTO;
	size_t len = strnlen(path, MANIFEST_PATH_MAX + 1), depth = 0;
	if (len == 0 || len > MANIFEST_PATH_MAX)
		return SHOAL_EPROTO;
	for (size_t start = 0; start <= len;) {
		const char *slash = memchr(path + start, '/', len - start);
		size_t end = slash ? (size_t)(slash - path) : len;
		if (name_validate(path + start, end - start) || ++depth > MANIFEST_DEPTH_MAX)
			return SHOAL_EPROTO;
		start = end + 1;
	}
	return 0;
}

/*
 * Checks an entry as the manifest decoders do: a known kind, a safe path,
 * a target for a symbolic link and a safe link for a hard link. The writer
 * does not rely on its caller having decoded the manifest: whatever hands
 * it one, it writes nothing outside its temporary directory.
 */
static int entry_check(const struct dir_entry *e)
{
	switch (e->kind) {
	case MANIFEST_FILE:
	case MANIFEST_DIRECTORY:
	case MANIFEST_FIFO:
		break;
	case MANIFEST_SYMLINK:
		if (!e->target || !e->target[0] ||
		    strnlen(e->target, MANIFEST_PATH_MAX + 1) > MANIFEST_PATH_MAX)
			return SHOAL_EPROTO;
		break;
	case MANIFEST_HARDLINK:
		if (path_safe(e->link))
			return SHOAL_EPROTO;
		break;
	default:
		return SHOAL_EPROTO;
	}
	return path_safe(e->path);
}

/* The entries of m->entries, one by one. */
static int array_next(void *arg, struct dir_entry *e)
{
	struct tree_writer *w = arg;
	if (w->next == w->m->nentries)
		return 1;
	*e = w->m->entries[w->next++];
	return 0;
}

int tree_writer_new(struct tree_writer **out, const struct manifest *m,
		    const struct tree_entries *src, const char *out_path, uint32_t mode_keep,
		    const char *home, int replace)
{
	/* Before anything is created. */
	for (size_t i = 0; !src && i < m->nentries; i++) {
		if (entry_check(&m->entries[i]))
			return SHOAL_EPROTO;
	}
	struct tree_writer *w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	w->m = m;
	w->src = src ? *src : (struct tree_entries){.next = array_next, .arg = w};
	w->keep = mode_keep & 07777;
	w->root = -1;
	w->fd = -1;
	int err = strip_slashes(out_path, w->out, sizeof(w->out));
	if (err)
		goto fail;
	w->replace = replace;
	struct stat st;
	if (!replace && !lstat(w->out, &st)) {
		err = SHOAL_EEXIST;
		goto fail;
	}
	if (!replace && errno != ENOENT) {
		err = -errno;
		goto fail;
	}
	path_dirname(w->out, w->parent, sizeof(w->parent));
	/* Noted before it exists, so that a kill leaves nothing for good. */
	err = restore_temp_note(home, w->out, &w->tmp);
	if (err)
		goto fail;
	if (mkdir(w->tmp.path, 0700)) {
		err = -errno;
		restore_temp_forget(&w->tmp);
		w->tmp.path[0] = 0;
		goto fail;
	}
	w->root = open(w->tmp.path, DIR_OPEN_FLAGS);
	if (w->root < 0) {
		err = -errno;
		goto fail;
	}
	dirstack_init(&w->ds, w->root);
	dirstack_init(&w->links, w->root);
	*out = w;
	return 0;
fail:
	tree_writer_free(w);
	return err;
}

/* What a failed creation in the temporary tree says about the manifest: a
 * path through a link or a file, or a name listed twice, is its fault. */
static int create_error(int err)
{
	return err == -ELOOP || err == -ENOTDIR || err == -EEXIST ? SHOAL_EPROTO : err;
}

/* Gives the innermost open directory its mode and mtime and leaves it. */
static int writer_close_dir(struct tree_writer *w)
{
	size_t i = --w->nopen;
	int fd = dirstack_enter(&w->ds, w->open_path, w->open[i].len);
	if (fd < 0)
		return fd;
	struct timespec times[2] = {{.tv_nsec = UTIME_OMIT},
				    {.tv_sec = w->open[i].mtime, .tv_nsec = w->open[i].mtime_ns}};
	if (fchmod(fd, w->open[i].mode & w->keep) || futimens(fd, times))
		return -errno;
	w->open_path[i ? w->open[i - 1].len : 0] = 0;
	return 0;
}

/* Leaves the open directories that path is not inside. */
static int writer_leave(struct tree_writer *w, const char *path)
{
	while (w->nopen) {
		size_t len = w->open[w->nopen - 1].len;
		if (!strncmp(path, w->open_path, len) && path[len] == '/')
			return 0;
		int err = writer_close_dir(w);
		if (err)
			return err;
	}
	return 0;
}

/* Gives the finished current file its mode and mtime and closes it. */
static int writer_close_file(struct tree_writer *w)
{
	/* Zeros at the end were skipped: the size makes them a hole. */
	if (ftruncate(w->fd, (off_t)w->file_size))
		return -errno;
	struct timespec times[2] = {{.tv_nsec = UTIME_OMIT},
				    {.tv_sec = w->file_mtime, .tv_nsec = w->file_mtime_ns}};
	int err = 0;
	if (fchmod(w->fd, w->file_mode & w->keep) || futimens(w->fd, times))
		err = -errno;
	if (close(w->fd) && !err)
		err = -errno;
	w->fd = -1;
	return err;
}

/* Makes e, whose parent directory is open at dir, under the name base;
 * opens w->fd for a non-empty file. */
static int writer_create(struct tree_writer *w, int dir, const char *base,
			 const struct dir_entry *e)
{
	struct timespec times[2] = {{.tv_nsec = UTIME_OMIT},
				    {.tv_sec = e->mtime, .tv_nsec = e->mtime_ns}};
	switch (e->kind) {
	case MANIFEST_DIRECTORY: {
		if (mkdirat(dir, base, 0700))
			return -errno;
		if (w->nopen == MANIFEST_DEPTH_MAX)
			return SHOAL_EPROTO;
		size_t len = strlen(e->path);
		memcpy(w->open_path, e->path, len + 1);
		w->open[w->nopen++] = (struct open_dir){len, e->mode, e->mtime, e->mtime_ns};
		return 0;
	}
	case MANIFEST_FILE:
		w->fd = openat(dir, base, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
			       0600);
		if (w->fd < 0)
			return -errno;
		w->left = e->size;
		w->file_size = e->size;
		w->file_mode = e->mode;
		w->file_mtime = e->mtime;
		w->file_mtime_ns = e->mtime_ns;
		return w->left ? 0 : writer_close_file(w);
	case MANIFEST_SYMLINK:
		if (symlinkat(e->target, dir, base) ||
		    utimensat(dir, base, times, AT_SYMLINK_NOFOLLOW))
			return -errno;
		return 0;
	case MANIFEST_FIFO:
		/* The name is new in a directory only this restore writes, so
		 * the calls by name below reach the FIFO just made. */
		if (mkfifoat(dir, base, 0600) || fchmodat(dir, base, e->mode & w->keep, 0) ||
		    utimensat(dir, base, times, AT_SYMLINK_NOFOLLOW))
			return -errno;
		return 0;
	case MANIFEST_HARDLINK: {
		const char *tbase;
		int tdir = dirstack_parent(&w->links, e->link, &tbase);
		if (tdir < 0)
			return tdir == -ENOENT ? SHOAL_EPROTO : tdir;
		struct stat st;
		if (fstatat(tdir, tbase, &st, AT_SYMLINK_NOFOLLOW))
			return errno == ENOENT ? SHOAL_EPROTO : -errno;
		if (!S_ISREG(st.st_mode))
			return SHOAL_EPROTO; /* only a file restored before */
		if (linkat(tdir, tbase, dir, base, 0))
			return -errno;
		return 0;
	}
	}
	return SHOAL_EPROTO;
}

/* Creates the entries up to the next non-empty file (whose w->fd it
 * opens); 1 when no entry is left. */
static int writer_next(struct tree_writer *w)
{
	for (;;) {
		struct dir_entry e;
		int err = w->src.next(w->src.arg, &e);
		if (err)
			return err;
		if (entry_check(&e))
			return SHOAL_EPROTO;
		err = writer_leave(w, e.path);
		if (err)
			return err;
		const char *base;
		int dir = dirstack_parent(&w->ds, e.path, &base);
		if (dir < 0)
			return create_error(dir);
		err = writer_create(w, dir, base, &e);
		if (err)
			return create_error(err);
		if (w->fd >= 0)
			return 0;
	}
}

/* Writes (p) or skips (p NULL: zeros) the next n bytes of the stream. */
static int writer_put(struct tree_writer *w, const uint8_t *p, uint64_t n)
{
	while (n) {
		if (w->fd < 0) {
			int err = writer_next(w);
			if (err)
				return err > 0 ? SHOAL_EPROTO : err;
		}
		uint64_t part = w->left < n ? w->left : n;
		off_t at = (off_t)(w->file_size - w->left);
		int err = p ? pwrite_sparse(w->fd, p, (size_t)part, at) : 0;
		if (err)
			return err;
		if (p)
			p += part;
		n -= part;
		w->left -= part;
		if (w->left == 0 && (err = writer_close_file(w)))
			return err;
	}
	return 0;
}

int tree_writer_write(struct tree_writer *w, const uint8_t *p, size_t n)
{
	return writer_put(w, p, n);
}

int tree_writer_zeros(struct tree_writer *w, uint64_t n)
{
	return writer_put(w, NULL, n);
}

int tree_writer_finish(struct tree_writer *w)
{
	if (w->fd >= 0)
		return SHOAL_EPROTO; /* the stream ended inside a file */
	int err = writer_next(w);
	if (err <= 0)
		return err ? err : SHOAL_EPROTO; /* a non-empty file got no data */
	while (w->nopen) {
		err = writer_close_dir(w);
		if (err)
			return err;
	}
	dirstack_pop_all(&w->ds);
	dirstack_pop_all(&w->links);
	struct timespec times[2] = {{.tv_nsec = UTIME_OMIT},
				    {.tv_sec = w->m->mtime, .tv_nsec = w->m->mtime_ns}};
	if (fchmod(w->root, w->m->mode & w->keep) || futimens(w->root, times))
		return -errno;
	/* One syncfs writes every file and directory of the tree; the fsync
	 * reports a write-back error syncfs might not. */
	if (syncfs(w->root) || fsync(w->root))
		return -errno;
	err = restore_temp_install(&w->tmp, w->out, w->replace);
	if (err && err != SHOAL_EEXIST && !w->replace) {
		/* A file system without RENAME_NOREPLACE: check, then rename. */
		struct stat st;
		if (!lstat(w->out, &st))
			return SHOAL_EEXIST;
		if (rename(w->tmp.path, w->out))
			return -errno;
		restore_temp_forget(&w->tmp);
		err = fsync_dir(w->parent);
	}
	if (err)
		return err;
	w->finished = 1;
	return 0;
}

void tree_writer_free(struct tree_writer *w)
{
	if (!w)
		return;
	if (w->fd >= 0)
		close(w->fd);
	if (w->root >= 0) {
		dirstack_pop_all(&w->ds);
		dirstack_pop_all(&w->links);
		close(w->root);
	}
	if (!w->finished && w->tmp.path[0]) {
		int parent = open(w->parent, DIR_OPEN_FLAGS);
		if (parent >= 0) {
			const char *base = strrchr(w->tmp.path, '/') + 1;
			if (remove_tree_at(parent, base) == 0)
				restore_temp_forget(&w->tmp);
			close(parent);
		}
	}
	free(w);
}
