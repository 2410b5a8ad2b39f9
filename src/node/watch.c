/*
 * The inotify change hints of a folder; see watch.h.
 *
 * Each watched directory is a node: its watch descriptor, its parent and
 * its name, and its children (a doubly linked list, for unlinking in O(1)).
 * A table maps watch descriptors to nodes. Paths are made from the node
 * chain when needed, so a rename only changes one node.
 *
 * A rename of a directory inside the tree comes as IN_MOVED_FROM in the old
 * parent and IN_MOVED_TO in the new one, sharing a cookie. The node named in
 * IN_MOVED_FROM waits in the pending list; IN_MOVED_TO with its cookie moves
 * it under its new parent, under its new name (its watches stay: they are on
 * the directories, not on paths), and walks it for directories a missed
 * creation left unwatched. One that is still pending once the queue is read
 * empty went out of the tree: its watches are removed. A directory moved in
 * from outside, or created, is walked and watched like at the start.
 *
 * Walks go breadth first with a queue of nodes (no recursion, one directory
 * open at a time). A directory whose watch the kernel says we have already
 * (inotify_add_watch returns the existing descriptor) is moved to where the
 * walk found it, unless it is an ancestor of that place (a bind mount loop);
 * each node is walked at most once per walk.
 */
#include "node/watch.h"

#include "util/error.h"
#include "util/log.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#define WATCH_MASK                                                                          \
	(IN_CREATE | IN_DELETE | IN_CLOSE_WRITE | IN_MODIFY | IN_MOVED_FROM | IN_MOVED_TO | \
	 IN_ATTRIB | IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR | IN_DONT_FOLLOW | IN_EXCL_UNLINK)

#define READ_BUF      (64 * 1024)
#define READS_PER_RUN 16 /* buffers read per wake-up before yielding the loop */
#define SKIP_NAME     ".shoal"

struct node {
	int wd;
	char *name; /* "" for root */
	size_t name_len;
	struct node *parent; /* NULL for root */
	struct node *child, *prev, *next;
	unsigned walk; /* the walk that last visited it */
};

struct pending {
	uint32_t cookie;
	struct node *node;
};

struct watch {
	struct event_base *base;
	struct event *ev;
	int fd;
	char *root;
	size_t root_len;
	watch_fn fn;
	void *arg;
	struct node *top; /* the root's node; NULL once gone */

	/* wd -> node: open addressing, linear probing, wd -1 marks a free slot */
	struct slot {
		int wd;
		struct node *node;
	} * slots;
	size_t nslots, count;

	struct pending *pending;
	size_t npending, pending_cap;

	struct node **queue; /* a walk's queue */
	size_t queue_cap;
	unsigned walk;
	int walking; /* inside walk() */

	char *rel, *abs; /* path buffers */
	size_t rel_cap, abs_cap;

	int degraded;
	int nospc;  /* the kernel refused a watch for lack of room */
	int rescan; /* a walk could not add some watch: report WATCH_RESCAN */
	int inject; /* watch_inject_overflow() was called */
	int gone;   /* root is gone: no more calls of fn */
	int busy;   /* inside the read callback */
	int freed;  /* watch_free() was called from fn */
	unsigned char *buf;
};

static unsigned test_limit;

void watch_test_limit(unsigned max)
{
	test_limit = max;
}

/* The table. */

static size_t slot_of(const struct watch *w, int wd)
{
	return ((uint32_t)wd * 2654435761u) & (w->nslots - 1);
}

static struct node *lookup(const struct watch *w, int wd)
{
	if (!w->nslots || wd < 0)
		return NULL;
	for (size_t i = slot_of(w, wd);; i = (i + 1) & (w->nslots - 1)) {
		if (w->slots[i].wd == wd)
			return w->slots[i].node;
		if (w->slots[i].wd < 0)
			return NULL;
	}
}

static int table_put(struct watch *w, int wd, struct node *n)
{
	if ((w->count + 1) * 2 > w->nslots) {
		size_t nslots = w->nslots ? w->nslots * 2 : 64;
		struct slot *slots = malloc(nslots * sizeof(*slots));
		if (!slots)
			return -ENOMEM;
		for (size_t i = 0; i < nslots; i++)
			slots[i].wd = -1;
		struct slot *old = w->slots;
		size_t old_n = w->nslots;
		w->slots = slots;
		w->nslots = nslots;
		for (size_t i = 0; i < old_n; i++) {
			if (old[i].wd < 0)
				continue;
			size_t j = slot_of(w, old[i].wd);
			while (slots[j].wd >= 0)
				j = (j + 1) & (nslots - 1);
			slots[j] = old[i];
		}
		free(old);
	}
	size_t i = slot_of(w, wd);
	while (w->slots[i].wd >= 0)
		i = (i + 1) & (w->nslots - 1);
	w->slots[i].wd = wd;
	w->slots[i].node = n;
	w->count++;
	return 0;
}

static void table_del(struct watch *w, int wd)
{
	if (!w->nslots)
		return;
	size_t mask = w->nslots - 1, i = slot_of(w, wd);
	while (w->slots[i].wd != wd) {
		if (w->slots[i].wd < 0)
			return;
		i = (i + 1) & mask;
	}
	/* Backward shift: move later entries of the run into the hole. */
	for (size_t j = (i + 1) & mask; w->slots[j].wd >= 0; j = (j + 1) & mask) {
		size_t home = slot_of(w, w->slots[j].wd);
		if (((j - home) & mask) >= ((j - i) & mask)) {
			w->slots[i] = w->slots[j];
			i = j;
		}
	}
	w->slots[i].wd = -1;
	w->count--;
}

/* Nodes. */

static void unlink_node(struct node *n)
{
	if (n->prev)
		n->prev->next = n->next;
	else if (n->parent)
		n->parent->child = n->next;
	if (n->next)
		n->next->prev = n->prev;
	n->prev = n->next = NULL;
	n->parent = NULL;
}

static void link_node(struct node *parent, struct node *n)
{
	n->parent = parent;
	n->prev = NULL;
	n->next = parent->child;
	if (parent->child)
		parent->child->prev = n;
	parent->child = n;
}

static int set_name(struct node *n, const char *name, size_t len)
{
	char *copy = malloc(len + 1);
	if (!copy)
		return -ENOMEM;
	memcpy(copy, name, len);
	copy[len] = 0;
	free(n->name);
	n->name = copy;
	n->name_len = len;
	return 0;
}

static struct node *child_named(struct node *parent, const char *name, size_t len)
{
	for (struct node *c = parent->child; c; c = c->next)
		if (c->name_len == len && !memcmp(c->name, name, len))
			return c;
	return NULL;
}

static int is_ancestor(const struct node *a, const struct node *n)
{
	for (; n; n = n->parent)
		if (n == a)
			return 1;
	return 0;
}

/* Frees n and everything under it; with rm, their watches are removed too
 * (without it, n's own watch is already gone). */
static void drop(struct watch *w, struct node *n, int rm)
{
	while (n->child)
		drop(w, n->child, 1);
	for (size_t i = 0; i < w->npending;)
		if (w->pending[i].node == n)
			w->pending[i] = w->pending[--w->npending];
		else
			i++;
	if (rm && w->fd >= 0)
		inotify_rm_watch(w->fd, n->wd);
	table_del(w, n->wd);
	unlink_node(n);
	if (w->top == n)
		w->top = NULL;
	free(n->name);
	free(n);
}

/*
 * Puts n (unlinked from where it was) under parent. Another node under parent
 * with n's name is a directory that was replaced (its removal not yet read):
 * it goes, unless the current walk visited it (then the file system showed
 * both, and the events to come sort it out).
 */
static void place(struct watch *w, struct node *parent, struct node *n)
{
	unlink_node(n);
	struct node *old = child_named(parent, n->name, n->name_len);
	if (old && !(w->walking && old->walk == w->walk))
		drop(w, old, 1);
	link_node(parent, n);
}

/* Paths. */

static int grow(char **buf, size_t *cap, size_t need)
{
	if (need <= *cap)
		return 0;
	size_t cap2 = *cap ? *cap : 256;
	while (cap2 < need)
		cap2 *= 2;
	char *b = realloc(*buf, cap2);
	if (!b)
		return -ENOMEM;
	*buf = b;
	*cap = cap2;
	return 0;
}

/* Makes w->rel the path of name (len bytes; len 0: n itself) in n, relative
 * to root. Returns 0 or -ENOMEM. */
static int make_rel(struct watch *w, const struct node *n, const char *name, size_t len)
{
	size_t total = len, depth = 0;
	for (const struct node *m = n; m->parent; m = m->parent) {
		total += m->name_len;
		depth++;
	}
	if (depth)
		total += depth - 1 + (len ? 1 : 0);
	if (grow(&w->rel, &w->rel_cap, total + 1))
		return -ENOMEM;
	char *p = w->rel + total;
	*p = 0;
	if (len) {
		p -= len;
		memcpy(p, name, len);
		if (depth)
			*--p = '/';
	}
	for (const struct node *m = n; m->parent; m = m->parent) {
		p -= m->name_len;
		memcpy(p, m->name, m->name_len);
		if (m->parent->parent)
			*--p = '/';
	}
	return 0;
}

/* Makes w->abs the absolute path of name in n (len 0: n). */
static int make_abs(struct watch *w, const struct node *n, const char *name, size_t len)
{
	if (make_rel(w, n, name, len))
		return -ENOMEM;
	size_t rl = strlen(w->rel);
	if (grow(&w->abs, &w->abs_cap, w->root_len + 1 + rl + 1))
		return -ENOMEM;
	memcpy(w->abs, w->root, w->root_len);
	size_t at = w->root_len;
	if (rl) {
		w->abs[at++] = '/';
		memcpy(w->abs + at, w->rel, rl);
		at += rl;
	}
	w->abs[at] = 0;
	return 0;
}

/* Adding watches. */

static void enter_degraded(struct watch *w)
{
	if (!w->degraded)
		log_warnx("watch: out of inotify watches under %s (raise "
			  "/proc/sys/fs/inotify/max_user_watches); falling back to periodic scans",
			  w->root);
	if (!w->degraded)
		w->rescan = 1;
	w->degraded = 1;
}

/* inotify_add_watch() with the test limit: the wd, or -1 with errno set. */
static int add_watch(struct watch *w, const char *path)
{
	int wd = inotify_add_watch(w->fd, path, WATCH_MASK);
	if (wd >= 0 && test_limit && !lookup(w, wd) && w->count >= test_limit) {
		inotify_rm_watch(w->fd, wd);
		errno = ENOSPC;
		return -1;
	}
	return wd;
}

static int queue_push(struct watch *w, size_t at, struct node *n)
{
	if (at >= w->queue_cap) {
		size_t cap = w->queue_cap ? w->queue_cap * 2 : 64;
		struct node **q = realloc(w->queue, cap * sizeof(*q));
		if (!q)
			return -ENOMEM;
		w->queue = q;
		w->queue_cap = cap;
	}
	w->queue[at] = n;
	return 0;
}

/*
 * Watches the directory name (len bytes) in parent and gives its node, or
 * NULL when it is gone, replaced, not a directory, the loop of a bind mount
 * or could not be watched (then w->rescan or the degraded state says so).
 */
static struct node *attach(struct watch *w, struct node *parent, const char *name, size_t len)
{
	if (!parent->parent && len == sizeof(SKIP_NAME) - 1 && !memcmp(name, SKIP_NAME, len))
		return NULL;
	if (make_abs(w, parent, name, len)) {
		w->rescan = 1;
		return NULL;
	}
	int wd = add_watch(w, w->abs);
	if (wd < 0) {
		if (errno == ENOENT || errno == ENOTDIR || errno == ELOOP)
			return NULL;
		if (errno == ENOSPC) {
			w->nospc = 1;
			enter_degraded(w);
		} else {
			log_warn("watch: cannot watch %s", w->abs);
			w->rescan = 1;
		}
		return NULL;
	}
	struct node *n = lookup(w, wd);
	if (n) {
		/* Watched already: the walk found it where it is now. */
		if (is_ancestor(n, parent))
			return NULL;
		if (n->parent != parent || n->name_len != len || memcmp(n->name, name, len)) {
			if (set_name(n, name, len)) {
				w->rescan = 1;
				return NULL;
			}
			place(w, parent, n);
		}
		return n;
	}
	n = calloc(1, sizeof(*n));
	if (!n || set_name(n, name, len) || table_put(w, wd, n)) {
		if (n)
			free(n->name);
		free(n);
		inotify_rm_watch(w->fd, wd);
		w->rescan = 1;
		return NULL;
	}
	n->wd = wd;
	place(w, parent, n);
	return n;
}

static void walk_queue(struct watch *w, struct node *start, unsigned gen);

/* Watches every directory under start (watched already). */
static void walk(struct watch *w, struct node *start)
{
	unsigned gen = ++w->walk;
	w->nospc = 0;
	w->walking = 1;
	walk_queue(w, start, gen);
	w->walking = 0;
}

static void walk_queue(struct watch *w, struct node *start, unsigned gen)
{
	size_t head = 0, tail = 0;
	if (queue_push(w, tail++, start)) {
		w->rescan = 1;
		return;
	}
	start->walk = gen;
	while (head < tail) {
		struct node *n = w->queue[head++];
		if (make_abs(w, n, "", 0)) {
			w->rescan = 1;
			return;
		}
		int fd = open(w->abs, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0) {
			if (errno != ENOENT && errno != ENOTDIR && errno != ELOOP) {
				log_warn("watch: cannot list %s", w->abs);
				w->rescan = 1;
			}
			continue;
		}
		DIR *d = fdopendir(fd);
		if (!d) {
			close(fd);
			w->rescan = 1;
			continue;
		}
		struct dirent *de;
		while ((de = readdir(d))) {
			const char *name = de->d_name;
			if (name[0] == '.' && (!name[1] || (name[1] == '.' && !name[2])))
				continue;
			int is_dir = de->d_type == DT_DIR;
			if (de->d_type == DT_UNKNOWN) {
				struct stat st;
				is_dir = !fstatat(fd, name, &st, AT_SYMLINK_NOFOLLOW) &&
					 S_ISDIR(st.st_mode);
			}
			if (!is_dir)
				continue;
			struct node *c = attach(w, n, name, strlen(name));
			if (w->nospc) {
				closedir(d);
				return; /* out of watches: no use trying the rest */
			}
			if (!c || c->walk == gen)
				continue;
			c->walk = gen;
			if (queue_push(w, tail++, c)) {
				tail--;
				w->rescan = 1;
			}
		}
		closedir(d);
	}
}

/* Removes every watch and watches the tree afresh. Returns 0, or a negative
 * errno when root itself cannot be watched (w->top is then NULL). */
static int rebuild(struct watch *w)
{
	w->npending = 0;
	if (w->top)
		drop(w, w->top, 1);
	w->degraded = 0;
	int wd = add_watch(w, w->root);
	if (wd < 0) {
		int rc = -errno;
		if (rc == -ENOSPC)
			enter_degraded(w);
		w->rescan = 1;
		return rc;
	}
	struct node *n = calloc(1, sizeof(*n));
	if (!n || set_name(n, "", 0) || table_put(w, wd, n)) {
		inotify_rm_watch(w->fd, wd);
		if (n)
			free(n->name);
		free(n);
		w->rescan = 1;
		return -ENOMEM;
	}
	n->wd = wd;
	w->top = n;
	walk(w, n);
	return 0;
}

/* Events. */

static void tell(struct watch *w, const char *rel, int flags)
{
	if (w->gone || w->freed)
		return;
	if (flags & WATCH_ROOT_GONE)
		w->gone = 1;
	w->fn(w->arg, rel, flags);
}

static void tell_path(struct watch *w, const struct node *n, const char *name, size_t len)
{
	if (make_rel(w, n, name, len)) {
		tell(w, "", WATCH_RESCAN);
		return;
	}
	tell(w, w->rel, WATCH_DIRTY);
}

static void flush_rescan(struct watch *w)
{
	if (w->rescan) {
		w->rescan = 0;
		tell(w, "", WATCH_RESCAN);
	}
}

/* Trades the inotify instance for a new one under the same descriptor,
 * dropping every node without removing its watch: removing watches one by
 * one queues an IN_IGNORED each, and on a tree of more directories than the
 * queue holds that would overflow it again, for ever. Closing the old
 * instance removes them all at once, queueing nothing. */
static void renew(struct watch *w)
{
	int nfd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (nfd < 0)
		return; /* rebuild() removes the watches one by one, then */
	int fd = w->fd;
	if (w->ev)
		event_del(w->ev);
	w->fd = -1;
	if (w->top)
		drop(w, w->top, 0);
	w->npending = 0;
	if (dup2(nfd, fd) < 0)
		log_warn("watch: cannot renew the inotify instance of %s", w->root);
	close(nfd);
	w->fd = fd;
	if (w->ev)
		event_add(w->ev, NULL);
}

static void overflow(struct watch *w)
{
	renew(w);
	rebuild(w);
	w->rescan = 0;
	if (!w->top) {
		tell(w, "", WATCH_RESCAN | WATCH_ROOT_GONE);
		return;
	}
	tell(w, "", WATCH_RESCAN);
}

static void on_event(struct watch *w, const struct inotify_event *ev)
{
	if (ev->mask & IN_Q_OVERFLOW) {
		overflow(w);
		return;
	}
	struct node *n = lookup(w, ev->wd);
	if (!n)
		return; /* a watch removed since */
	if (ev->mask & IN_IGNORED) {
		if (n == w->top)
			tell(w, "", WATCH_RESCAN | WATCH_ROOT_GONE);
		drop(w, n, 0);
		return;
	}
	if (ev->mask & IN_UNMOUNT) {
		if (n == w->top)
			tell(w, "", WATCH_RESCAN | WATCH_ROOT_GONE);
		else
			w->inject = 1; /* what was under it changed wholesale */
		return;
	}
	if (ev->mask & (IN_DELETE_SELF | IN_MOVE_SELF)) {
		if (n == w->top)
			tell(w, "", WATCH_RESCAN | WATCH_ROOT_GONE);
		return; /* else reported by its parent */
	}
	size_t len = ev->len ? strnlen(ev->name, ev->len) : 0;
	if (!len) {
		/* The directory itself: only root's attributes (any other
		 * directory's parent reports them). */
		if (n == w->top && (ev->mask & IN_ATTRIB))
			tell(w, "", WATCH_DIRTY);
		return;
	}
	if (n == w->top && len == sizeof(SKIP_NAME) - 1 && !memcmp(ev->name, SKIP_NAME, len))
		return;
	if ((ev->mask & IN_ISDIR) && (ev->mask & IN_MOVED_FROM)) {
		struct node *c = child_named(n, ev->name, len);
		if (c) {
			if (w->npending == w->pending_cap) {
				size_t cap = w->pending_cap ? w->pending_cap * 2 : 8;
				struct pending *p = realloc(w->pending, cap * sizeof(*p));
				if (!p) {
					drop(w, c, 1);
					w->rescan = 1;
					goto report;
				}
				w->pending = p;
				w->pending_cap = cap;
			}
			w->pending[w->npending++] = (struct pending){ev->cookie, c};
		}
	} else if ((ev->mask & IN_ISDIR) && (ev->mask & (IN_MOVED_TO | IN_CREATE))) {
		struct node *c = NULL;
		for (size_t i = 0; i < w->npending; i++) {
			if ((ev->mask & IN_MOVED_TO) && ev->cookie &&
			    w->pending[i].cookie == ev->cookie) {
				c = w->pending[i].node;
				w->pending[i] = w->pending[--w->npending];
				break;
			}
		}
		if (c && !is_ancestor(c, n) && !set_name(c, ev->name, len)) {
			place(w, n, c);
		} else {
			if (c)
				drop(w, c, 1);
			c = attach(w, n, ev->name, len);
		}
		if (c)
			walk(w, c);
	}
report:
	tell_path(w, n, ev->name, len);
}

static void watch_free_now(struct watch *w);

static void on_read(evutil_socket_t fd, short what, void *arg)
{
	(void)what;
	struct watch *w = arg;
	w->busy = 1;
	int drained = 0;
	for (int runs = 0; runs < READS_PER_RUN && !w->freed && !w->gone; runs++) {
		if (w->inject) {
			w->inject = 0;
			overflow(w);
			continue;
		}
		ssize_t n = read(fd, w->buf, READ_BUF);
		if (n < 0 && errno == EINTR)
			continue;
		if (n == 0)
			break; /* inotify never says end of file; be safe */
		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK) {
				drained = 1;
			} else {
				log_warn("watch: reading inotify events of %s", w->root);
				w->rescan = 1;
			}
			break;
		}
		for (ssize_t at = 0; at < n && !w->freed && !w->gone;) {
			const struct inotify_event *ev = (const void *)(w->buf + at);
			at += (ssize_t)(sizeof(*ev) + ev->len);
			on_event(w, ev);
			flush_rescan(w);
			/* What follows was the old instance's (the overflow is
			 * the queue's last event anyway). */
			if (ev->mask & IN_Q_OVERFLOW)
				break;
		}
	}
	/* Renamed out of the tree: the other half of the move never came. */
	if (drained && w->npending) {
		while (w->npending)
			drop(w, w->pending[0].node, 1);
	}
	flush_rescan(w);
	w->busy = 0;
	if (w->freed)
		watch_free_now(w);
	else if (w->inject && !w->gone)
		event_active(w->ev, EV_READ, 0); /* an unmount asked for a rebuild */
}

static void say(char *why, size_t why_size, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void say(char *why, size_t why_size, const char *fmt, ...)
{
	if (!why || !why_size)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(why, why_size, fmt, ap);
	va_end(ap);
}

int watch_start(struct watch **out, struct event_base *base, const char *root, watch_fn fn,
		void *arg, char *why, size_t why_size)
{
	*out = NULL;
	struct watch *w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	w->fd = -1;
	w->base = base;
	w->fn = fn;
	w->arg = arg;
	w->buf = aligned_alloc(_Alignof(struct inotify_event), READ_BUF);
	int rc = -ENOMEM;
	if (!w->buf) {
		say(why, why_size, "cannot watch %s: %s", root, shoal_strerror(rc));
		goto fail;
	}
	/* Canonical: watches never follow a link, but root may be one. */
	w->root = realpath(root, NULL);
	struct stat st;
	rc = !w->root || stat(w->root, &st) ? -errno : S_ISDIR(st.st_mode) ? 0 : -ENOTDIR;
	if (rc < 0) {
		say(why, why_size, "cannot watch %s: %s", root, shoal_strerror(rc));
		goto fail;
	}
	w->root_len = strlen(w->root);
	w->fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (w->fd < 0) {
		rc = -errno;
		say(why, why_size, "cannot watch %s: inotify_init1: %s%s", w->root,
		    shoal_strerror(rc),
		    rc == -EMFILE ? " (see /proc/sys/fs/inotify/max_user_instances)" : "");
		goto fail;
	}
	rc = rebuild(w);
	if (rc < 0) {
		say(why, why_size, "cannot watch %s: %s%s", w->root, shoal_strerror(rc),
		    rc == -ENOSPC ? " (see /proc/sys/fs/inotify/max_user_watches)" : "");
		goto fail;
	}
	w->rescan = 0; /* the caller's first scan covers it; see watch_degraded() */
	w->ev = event_new(base, w->fd, EV_READ | EV_PERSIST, on_read, w);
	if (!w->ev || event_add(w->ev, NULL)) {
		rc = -ENOMEM;
		say(why, why_size, "cannot watch %s: no event", w->root);
		goto fail;
	}
	*out = w;
	return 0;
fail:
	watch_free_now(w);
	return rc;
}

int watch_degraded(const struct watch *w)
{
	return w->degraded;
}

size_t watch_count(const struct watch *w)
{
	return w->count;
}

void watch_inject_overflow(struct watch *w)
{
	w->inject = 1;
	event_active(w->ev, EV_READ, 0);
}

static void watch_free_now(struct watch *w)
{
	if (w->ev)
		event_free(w->ev);
	if (w->fd >= 0)
		close(w->fd); /* which removes every watch at once */
	w->fd = -1;
	if (w->top)
		drop(w, w->top, 0);
	free(w->slots);
	free(w->pending);
	free(w->queue);
	free(w->rel);
	free(w->abs);
	free(w->buf);
	free(w->root);
	free(w);
}

void watch_free(struct watch *w)
{
	if (!w)
		return;
	if (w->busy) {
		w->freed = 1;
		return;
	}
	watch_free_now(w);
}
