/*
 * Collaborative folders in the daemon; see folder.h.
 */
#include "node/folder.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <openssl/crypto.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "crypto/hash.h"
#include "node/catalog.h"
#include "node/fetch.h"
#include "node/folderapply.h"
#include "node/folderstore.h"
#include "node/watch.h"
#include "proto/folder.h"
#include "proto/folderjournal.h"
#include "store/files.h"
#include "store/folderdb.h"
#include "store/folderscan.h"
#include "util/buf.h"
#include "util/clock.h"
#include "util/encoding.h"
#include "util/error.h"
#include "util/fsutil.h"
#include "util/ignore.h"
#include "util/log.h"

#define IGNORE_FILE	  ".shoalignore"
#define IGNORE_LOCAL_FILE ".shoal/ignore.local"
#define IGNORE_TEXT_MAX	  ((size_t)1024 * 1024)
#define SERVE_FRAMES_MAX  8 /* frames one answer to a hello sends at most */
#define MEMBERS_MAX	  64

/* A member of a folder whose link is up and that proved it holds the
 * secret. */
/* What was sent a member on its link, of one author. */
struct fsent {
	uint8_t author[NODE_ID_LEN];
	uint64_t index_id, seq;
	double at;
};

struct fmember {
	uint8_t id[NODE_ID_LEN];
	uint64_t link_serial;
	double replied; /* when our hello last answered one of its */
	double probed;	/* ... one of its probes */
	int more;	/* its last batches said more follow (settle()) */
	/* its hellos that crossed the batches sent do not get them again */
	struct fsent *sent;
	size_t nsent, sent_cap;
};

/* Batches sent on a link are trusted to arrive for this long (TCP loses
 * nothing on a live link; a new link starts afresh): a hello saying less
 * within it crossed them on the way, or was sent while the member's store
 * was busy applying what came before. */
#define FOLDER_SENT_TRUST 120.0

struct fold {
	LIST_ENTRY(fold) entry;
	struct folders *fs;
	struct folderdb_folder f;
	struct folder_keys keys;
	struct watch *watch;
	struct event *debounce, *periodic;
	/* items left waiting are tried again after retry_wait seconds,
	 * doubled each time nothing came of it */
	struct event *retry;
	double retry_wait;
	/* pending while a member's batches are still coming
	 * (FolderBatches.more): passes wait for the last, so that both
	 * halves of a rename are in when the pass looks (settle()) */
	struct event *settle;
	double dirty_since; /* monotonic seconds of the first change not scanned, 0: none */
	int scan_due, cycle_due, cycling, accept_deletes, gone;
	unsigned jobs; /* jobs of its own queued or running: it is freed after the last */
	struct fmember members[MEMBERS_MAX];
	size_t nmembers;
	struct folderdb_author *authors; /* what this node holds of each author */
	size_t nauthors;
	/* for status */
	struct folderscan_result scan;
	struct folderapply_result apply;
	uint64_t index_in, index_out; /* batch bytes received and sent */
	/* deletes other members' batches made here lately: the breaker counts
	 * them together, so a mass delete split into many batches is held too */
	double deletes_since;
	uint64_t deletes_recent;
	uint64_t batches_in, refused;
	atomic_uint_least64_t fetched; /* chunks, counted by passes as they come */
	uint64_t rescans;	       /* the watcher said it missed changes */
	char error[256];
	/* storage nodes (replicas): the journal's publication, and what was
	 * read of the other members' journals (their catalog entries' times) */
	struct event *journal, *catchup;
	int journal_busy, journal_due, catchup_busy;
	uint64_t journal_seq, from_storage;
	struct {
		uint8_t owner[NODE_ID_LEN];
		int64_t time_us;
	} read[MEMBERS_MAX];
	size_t nread;
};

struct folders {
	struct folder_env env;
	EVP_PKEY *key;
	X509 *ca;
	uint8_t *cert;
	size_t cert_len;
	LIST_HEAD(, fold) list;
	struct event *hello_timer;
	int cancelled;
	atomic_int cancel_work;
};

static void cycle_start(struct fold *fd);
static void send_hello(struct fold *fd, struct link *l);
static void on_journal(evutil_socket_t sock, short what, void *arg);
static void on_catchup(evutil_socket_t sock, short what, void *arg);
static void on_retry(evutil_socket_t sock, short what, void *arg);
static void timer_arm(struct event *ev, double wait);
static unsigned fold_copies(const struct fold *fd);

static struct fold *fold_find(struct folders *fs, const uint8_t *id, size_t len)
{
	struct fold *fd;
	if (len != FOLDER_ID_LEN)
		return NULL;
	LIST_FOREACH(fd, &fs->list, entry)
	{
		if (!fd->gone && !memcmp(fd->f.invite.id, id, FOLDER_ID_LEN))
			return fd;
	}
	return NULL;
}

static const char *fold_name(const struct fold *fd, char out[FOLDER_ID_STR_LEN + 1])
{
	folder_id_format(fd->f.invite.id, out);
	return fd->f.invite.label[0] ? fd->f.invite.label : out;
}

static int fold_active(const struct fold *fd)
{
	return !fd->gone && !fd->f.paused && !fd->f.stopped[0] && !fd->fs->cancelled;
}

/* ---- watching ---- */

static void on_debounce(evutil_socket_t sock, short what, void *arg)
{
	struct fold *fd = arg;
	(void)sock;
	(void)what;
	fd->scan_due = 1;
	cycle_start(fd);
}

static void on_retry(evutil_socket_t sock, short what, void *arg)
{
	(void)sock;
	(void)what;
	cycle_start(arg);
}

static void on_settle(evutil_socket_t sock, short what, void *arg)
{
	struct fold *fd = arg;
	(void)sock;
	(void)what;
	/* Waited long enough: what came is applied, the rest when it comes. */
	for (size_t i = 0; i < fd->nmembers; i++)
		fd->members[i].more = 0;
	cycle_start(fd);
}

/* A change seen: the scan runs FOLDER_DEBOUNCE after the last one, at most
 * FOLDER_DEBOUNCE_MAX after the first. */
static void mark_dirty(struct fold *fd)
{
	double now = monotonic_seconds();
	if (!fd->dirty_since)
		fd->dirty_since = now;
	double wait = FOLDER_DEBOUNCE;
	if (now + wait > fd->dirty_since + FOLDER_DEBOUNCE_MAX)
		wait = fd->dirty_since + FOLDER_DEBOUNCE_MAX - now;
	if (wait < 0)
		wait = 0;
	struct timeval tv = {(time_t)wait, (suseconds_t)((wait - (double)(time_t)wait) * 1e6)};
	evtimer_add(fd->debounce, &tv);
}

static void on_watch(void *arg, const char *relpath, int flags)
{
	struct fold *fd = arg;
	(void)relpath;
	if (!fold_active(fd))
		return;
	if (flags & WATCH_ROOT_GONE) {
		/* The scan finds the marker gone and stops the folder. */
		fd->scan_due = 1;
		cycle_start(fd);
		return;
	}
	if (flags & WATCH_RESCAN) {
		char name[FOLDER_ID_STR_LEN + 1];
		fd->rescans++;
		log_info("folder %s: the watcher may have missed changes (its queue overflowed, or "
			 "a directory could not be watched); the next scan looks at everything",
			 fold_name(fd, name));
	}
	mark_dirty(fd);
}

static void periodic_arm(struct fold *fd)
{
	double every = fd->fs->env.scan_interval;
	if (every <= 0)
		return;
	/* 3/4 to 5/4 of the interval, so members do not scan in step. */
	uint32_t r = 0;
	random_bytes(&r, sizeof(r));
	double wait = every * (0.75 + 0.5 * (double)r / 4294967296.0);
	struct timeval tv = {(time_t)wait, (suseconds_t)((wait - (double)(time_t)wait) * 1e6)};
	evtimer_add(fd->periodic, &tv);
}

static void on_periodic(evutil_socket_t sock, short what, void *arg)
{
	struct fold *fd = arg;
	(void)sock;
	(void)what;
	fd->scan_due = 1;
	cycle_start(fd);
	periodic_arm(fd);
}

static void watch_stop(struct fold *fd)
{
	watch_free(fd->watch);
	fd->watch = NULL;
}

static void watch_begin(struct fold *fd)
{
	char why[256] = "";
	char name[FOLDER_ID_STR_LEN + 1];
	if (fd->watch || !fold_active(fd))
		return;
	if (watch_start(&fd->watch, fd->fs->env.base, fd->f.root, on_watch, fd, why, sizeof(why)))
		log_warnx("folder %s: not watched (%s); changes are found by the periodic scan",
			  fold_name(fd, name), why);
}

/* ---- the folders ---- */

static struct fold *fold_add(struct folders *fs, const struct folderdb_folder *f)
{
	struct fold *fd = calloc(1, sizeof(*fd));
	if (!fd)
		return NULL;
	fd->fs = fs;
	fd->f = *f;
	folder_keys_derive(&fd->f.invite, &fd->keys);
	fd->debounce = evtimer_new(fs->env.base, on_debounce, fd);
	fd->periodic = evtimer_new(fs->env.base, on_periodic, fd);
	fd->journal = evtimer_new(fs->env.base, on_journal, fd);
	fd->catchup = evtimer_new(fs->env.base, on_catchup, fd);
	fd->retry = evtimer_new(fs->env.base, on_retry, fd);
	fd->settle = evtimer_new(fs->env.base, on_settle, fd);
	fd->retry_wait = FOLDER_RETRY_FIRST;
	if (!fd->debounce || !fd->periodic || !fd->journal || !fd->catchup || !fd->retry ||
	    !fd->settle) {
		struct event *evs[] = {fd->debounce, fd->periodic, fd->journal,
				       fd->catchup,  fd->retry,	   fd->settle};
		for (size_t i = 0; i < sizeof(evs) / sizeof(evs[0]); i++)
			if (evs[i])
				event_free(evs[i]);
		free(fd);
		return NULL;
	}
	LIST_INSERT_HEAD(&fs->list, fd, entry);
	watch_begin(fd);
	periodic_arm(fd);
	if (fd->f.replicas)
		timer_arm(fd->journal, FOLDER_JOURNAL_DELAY);
	fd->scan_due = 1;
	cycle_start(fd);
	return fd;
}

static void fold_free(struct fold *fd)
{
	watch_stop(fd);
	event_free(fd->debounce);
	event_free(fd->periodic);
	event_free(fd->journal);
	event_free(fd->catchup);
	event_free(fd->retry);
	event_free(fd->settle);
	OPENSSL_cleanse(&fd->keys, sizeof(fd->keys));
	OPENSSL_cleanse(fd->f.invite.secret, sizeof(fd->f.invite.secret));
	for (size_t i = 0; i < fd->nmembers; i++)
		free(fd->members[i].sent);
	free(fd->authors);
	free(fd);
}

/* Drops fd now, or when its job ends. */
static void fold_drop(struct fold *fd)
{
	fd->gone = 1;
	watch_stop(fd);
	evtimer_del(fd->debounce);
	evtimer_del(fd->periodic);
	evtimer_del(fd->journal);
	evtimer_del(fd->catchup);
	evtimer_del(fd->retry);
	if (!fd->jobs) {
		LIST_REMOVE(fd, entry);
		fold_free(fd);
	}
}

/* A job of fd's ended: 1 when fd was dropped meanwhile (and is now freed). */
static int fold_job_done(struct fold *fd)
{
	fd->jobs--;
	if (!fd->gone)
		return 0;
	if (!fd->jobs) {
		LIST_REMOVE(fd, entry);
		fold_free(fd);
	}
	return 1;
}

/* ---- the cycle: scan, seal, apply, seal ---- */

struct ignore_set {
	struct ignore *ig;
};

static int is_ignored(void *arg, const char *path, int is_dir)
{
	struct ignore_set *s = arg;
	return s->ig && ignore_match(s->ig, path, is_dir);
}

/* Loads ROOT/.shoalignore and ROOT/.shoal/ignore.local (either may be
 * missing); a bad rule is logged and the rest still apply. */
static void ignore_load(struct ignore_set *s, const char *root)
{
	static const char *const files[] = {IGNORE_FILE, IGNORE_LOCAL_FILE};
	s->ig = NULL;
	if (ignore_new(&s->ig))
		return;
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		char path[PATH_MAX], why[256];
		struct buf b;
		buf_init(&b);
		snprintf(path, sizeof(path), "%s/%s", root, files[i]);
		if (!read_file(path, &b, IGNORE_TEXT_MAX) &&
		    ignore_add_text(s->ig, (const char *)b.data, b.len, files[i], why, sizeof(why)))
			log_warnx("folder %s: %s", root, why);
		buf_release(&b);
	}
}

struct cycle_job {
	struct ops_job job;
	struct fold *fd;
	struct folderdb_folder f;
	struct folder_keys keys;
	int scan, accept_deletes;
	unsigned copies;
	uint8_t (*peers)[NODE_ID_LEN];
	size_t npeers;
	/* results */
	int err;
	struct folderscan_result scan_res;
	struct folderapply_result apply_res;
	int scanned, applied;
	unsigned sealed;
	double scan_s, apply_s; /* seconds each took */
	struct folderdb_author *authors;
	size_t nauthors;
};

struct authors_acc {
	struct folderdb_author *v;
	size_t n, cap;
};

static int take_author(const struct folderdb_author *a, void *arg)
{
	struct authors_acc *acc = arg;
	if (acc->n == acc->cap) {
		size_t cap = acc->cap ? 2 * acc->cap : 8;
		if (cap > WIRE_FOLDER_HAVE_MAX)
			return 1;
		void *p = realloc(acc->v, cap * sizeof(*acc->v));
		if (!p)
			return -ENOMEM;
		acc->v = p;
		acc->cap = cap;
	}
	acc->v[acc->n++] = *a;
	return 0;
}

static int authors_read(struct index *ix, const uint8_t *fid, struct folderdb_author **out,
			size_t *n)
{
	struct authors_acc acc = {0};
	int err = folderdb_authors_foreach(ix, fid, take_author, &acc);
	if (err < 0) {
		free(acc.v);
		return err;
	}
	*out = acc.v;
	*n = acc.n;
	return 0;
}

static void cycle_work(struct ops_job *oj, struct index *ix)
{
	struct cycle_job *j = (struct cycle_job *)oj;
	struct folders *fs = j->fd->fs;
	const uint8_t *fid = j->f.invite.id;
	struct store *s = fs->env.store;
	int err = 0;
	uint64_t now = (uint64_t)time(NULL);
	struct ignore_set ig;
	ignore_load(&ig, j->f.root);
	/* Contents past their keeping go with the next release. */
	if (j->scan && (err = folderdb_kept_expire(ix, (int64_t)now)))
		log_warnx("folder: cannot forget old versions: %s", shoal_strerror(err));
	err = 0;
	if (j->scan) {
		struct folderscan_env env = {.s = s,
					     .f = &j->f,
					     .keys = &j->keys,
					     .self = fs->env.self,
					     .now = now,
					     .accept_deletes = j->accept_deletes,
					     .copies = j->copies,
					     .deadline = monotonic_seconds() + FOLDER_SCAN_SLICE,
					     .ignored = is_ignored,
					     .ignored_arg = &ig};
		double t0 = monotonic_seconds();
		err = folderscan_run(&env, &j->scan_res);
		j->scan_s = monotonic_seconds() - t0;
		j->scanned = 1;
		if (!err && j->scan_res.stopped[0]) {
			err = folderdb_set_state(ix, fid, j->f.paused, j->scan_res.stopped);
			goto out;
		}
	}
	if (!err)
		err = folderscan_seal(ix, &j->f, fs->env.self, fs->key, fs->cert, fs->cert_len,
				      j->accept_deletes ? FOLDER_BATCH_DELETES_ACCEPTED : 0,
				      &j->sealed);
	if (!err && !atomic_load(&fs->cancel_work)) {
		struct folderapply_env env = {.s = s,
					      .fetched = &j->fd->fetched,
					      .remote = fs->env.remote,
					      .f = &j->f,
					      .self = fs->env.self,
					      .peers = (const uint8_t(*)[NODE_ID_LEN])j->peers,
					      .npeers = j->npeers,
					      .now = now,
					      .copies = j->copies,
					      .cancel = &fs->cancel_work,
					      .ignored = is_ignored,
					      .ignored_arg = &ig};
		double t0 = monotonic_seconds();
		err = folderapply_run(&env, &j->apply_res);
		j->apply_s = monotonic_seconds() - t0;
		j->applied = 1;
		unsigned more = 0;
		if (!err)
			err = folderscan_seal(ix, &j->f, fs->env.self, fs->key, fs->cert,
					      fs->cert_len, 0, &more);
		j->sealed += more;
	}
out:
	ignore_free(ig.ig);
	if (!err)
		err = authors_read(ix, fid, &j->authors, &j->nauthors);
	j->err = err;
}

static void hello_all(struct fold *fd)
{
	for (size_t i = 0; i < fd->nmembers; i++) {
		struct link *l = link_find(fd->fs->env.mesh, fd->members[i].link_serial);
		if (l && link_usable(l))
			send_hello(fd, l);
	}
}

/* Items left waiting (a member not up yet, a chunk nobody up holds) are
 * tried again without waiting for news: soon after a pass that did
 * something, then less and less often. */
static void retry_arm(struct fold *fd, int progress)
{
	if (progress || !fd->apply.deferred)
		fd->retry_wait = FOLDER_RETRY_FIRST;
	if (!fd->apply.deferred) {
		evtimer_del(fd->retry);
		return;
	}
	double wait = fd->retry_wait;
	fd->retry_wait = wait * 2 < FOLDER_RETRY_MAX ? wait * 2 : FOLDER_RETRY_MAX;
	evtimer_del(fd->retry);
	timer_arm(fd->retry, wait);
}

static void cycle_done(struct ops_job *oj)
{
	struct cycle_job *j = (struct cycle_job *)oj;
	struct fold *fd = j->fd;
	char name[FOLDER_ID_STR_LEN + 1];
	fd->cycling = 0;
	free(j->peers);
	if (fold_job_done(fd)) {
		free(j->authors);
		free(j);
		return;
	}
	if (j->err) {
		snprintf(fd->error, sizeof(fd->error), "%s", shoal_strerror(j->err));
		log_warnx("folder %s: %s", fold_name(fd, name), fd->error);
	} else {
		fd->error[0] = 0;
	}
	if (j->scanned) {
		fd->scan = j->scan_res;
		if (j->accept_deletes && !j->scan_res.more)
			fd->accept_deletes = 0;
		if (j->scan_res.more)
			fd->scan_due = 1; /* the rest, once these rows are out */
		if (j->scan_res.stopped[0]) {
			snprintf(fd->f.stopped, sizeof(fd->f.stopped), "%s", j->scan_res.stopped);
			log_warnx("folder %s stopped: %s", fold_name(fd, name), fd->f.stopped);
			watch_stop(fd);
		} else if (j->scan_res.held) {
			log_warnx("folder %s: %llu deletes held (more than the breaker allows); "
				  "'shoal folder accept-deletes %s' releases them",
				  fold_name(fd, name), (unsigned long long)j->scan_res.held,
				  fd->f.root);
		}
		if (j->scan_res.full)
			log_info("folder %s: %llu changes not recorded: their version vectors "
				 "have no room for this node (%d members at most)",
				 fold_name(fd, name), (unsigned long long)j->scan_res.full,
				 FOLDER_VV_MAX);
	}
	if (j->scanned && (j->scan_res.changed || j->scan_res.deleted))
		log_info("folder %s: scan of %llu entries: %llu changed (%llu read, %llu moved), "
			 "%llu deleted, in %.2f s%s",
			 fold_name(fd, name), (unsigned long long)j->scan_res.entries,
			 (unsigned long long)j->scan_res.changed,
			 (unsigned long long)j->scan_res.stored,
			 (unsigned long long)j->scan_res.moved,
			 (unsigned long long)j->scan_res.deleted, j->scan_s,
			 j->scan_res.more ? "; the rest next" : "");
	int progress = j->apply_res.written || j->apply_res.removed;
	if (j->applied && (progress || j->apply_res.deferred != fd->apply.deferred))
		log_info("folder %s: applied %llu written (%llu moved here), %llu removed, %llu "
			 "conflicts, %llu waiting (%llu chunks fetched) in %.2f s",
			 fold_name(fd, name), (unsigned long long)j->apply_res.written,
			 (unsigned long long)j->apply_res.moved,
			 (unsigned long long)j->apply_res.removed,
			 (unsigned long long)j->apply_res.conflicts,
			 (unsigned long long)j->apply_res.deferred,
			 (unsigned long long)j->apply_res.fetched, j->apply_s);
	if (j->applied) {
		fd->apply = j->apply_res;
		if (j->apply_res.rescan)
			fd->scan_due = 1;
		if (j->apply_res.more)
			fd->cycle_due = 1;
		retry_arm(fd, progress);
	}
	if (!j->err) {
		free(fd->authors);
		fd->authors = j->authors;
		fd->nauthors = j->nauthors;
		j->authors = NULL;
	}
	free(j->authors);
	if (j->sealed)
		hello_all(fd);
	if (j->sealed && fd->f.replicas)
		timer_arm(fd->journal, FOLDER_JOURNAL_DELAY);
	free(j);
	if (fd->scan_due || fd->cycle_due)
		cycle_start(fd);
}

/* Runs a cycle now, or after the one running. */
static void cycle_start(struct fold *fd)
{
	struct folders *fs = fd->fs;
	if (!fold_active(fd))
		return;
	if (fd->cycling || evtimer_pending(fd->settle, NULL)) {
		fd->cycle_due = 1;
		return;
	}
	struct cycle_job *j = calloc(1, sizeof(*j));
	if (!j)
		return;
	j->fd = fd;
	j->f = fd->f;
	j->keys = fd->keys;
	j->scan = fd->scan_due;
	j->accept_deletes = fd->accept_deletes;
	j->copies = fold_copies(fd);
	j->peers = calloc(MESH_MEMBERS_MAX, sizeof(*j->peers));
	if (j->peers)
		j->npeers = mesh_up_ids(fs->env.mesh, j->peers, NULL, MESH_MEMBERS_MAX);
	if (fd->scan_due) {
		fd->dirty_since = 0;
		evtimer_del(fd->debounce);
	}
	fd->scan_due = fd->cycle_due = 0;
	fd->cycling = 1;
	fd->jobs++;
	ops_submit(fs->env.ops, OPS_BACKGROUND, &j->job, cycle_work, cycle_done);
}

/* ---- hellos ---- */

static struct fmember *member_of(struct fold *fd, const uint8_t id[NODE_ID_LEN])
{
	for (size_t i = 0; i < fd->nmembers; i++) {
		if (!memcmp(fd->members[i].id, id, NODE_ID_LEN))
			return &fd->members[i];
	}
	return NULL;
}

static struct fmember *member_note(struct fold *fd, struct link *l)
{
	struct fmember *m = member_of(fd, l->member->id);
	if (!m && fd->nmembers < MEMBERS_MAX) {
		m = &fd->members[fd->nmembers++];
		memset(m, 0, sizeof(*m));
		memcpy(m->id, l->member->id, NODE_ID_LEN);
	}
	if (m && m->link_serial != l->serial) {
		m->link_serial = l->serial;
		m->nsent = 0; /* a new link: nothing is on its way */
		m->more = 0;
	}
	return m;
}

static struct fsent *sent_of(struct fmember *m, const uint8_t *author, int add)
{
	for (size_t i = 0; m && i < m->nsent; i++) {
		if (!memcmp(m->sent[i].author, author, NODE_ID_LEN))
			return &m->sent[i];
	}
	if (!m || !add)
		return NULL;
	if (m->nsent == m->sent_cap) {
		size_t cap = m->sent_cap ? 2 * m->sent_cap : 4;
		void *p = realloc(m->sent, cap * sizeof(*m->sent));
		if (!p)
			return NULL;
		m->sent = p;
		m->sent_cap = cap;
	}
	struct fsent *s = &m->sent[m->nsent++];
	memset(s, 0, sizeof(*s));
	memcpy(s->author, author, NODE_ID_LEN);
	return s;
}

/* Our hello for fd on l: the whole hello to a member that proved itself on
 * this link, else a probe (the proof alone: only a member can tell which
 * folder, or that it is one, so a stranger learns no folder id and no
 * author). */
static void send_hello(struct fold *fd, struct link *l)
{
	struct folders *fs = fd->fs;
	if (!l->member)
		return;
	const struct fmember *mb = member_of(fd, l->member->id);
	int whole = mb && mb->link_serial == l->serial;
	Shoal__FolderHello h = SHOAL__FOLDER_HELLO__INIT;
	uint8_t proof[SHA256_LEN];
	folder_proof(&fd->keys, fd->f.invite.id, fs->env.self, l->member->id, proof);
	if (whole) {
		h.folder_id.data = fd->f.invite.id;
		h.folder_id.len = FOLDER_ID_LEN;
	}
	h.proof.data = proof;
	h.proof.len = sizeof(proof);
	size_t n = whole ? fd->nauthors : 0;
	Shoal__FolderHave *have = calloc(n ? n : 1, sizeof(*have));
	Shoal__FolderHave **ptrs = calloc(n ? n : 1, sizeof(*ptrs));
	if (!have || !ptrs)
		goto out;
	for (size_t i = 0; i < n; i++) {
		shoal__folder_have__init(&have[i]);
		have[i].author.data = fd->authors[i].author;
		have[i].author.len = NODE_ID_LEN;
		have[i].index_id = fd->authors[i].index_id;
		have[i].seq = fd->authors[i].seq;
		ptrs[i] = &have[i];
	}
	h.n_have = n;
	h.have = ptrs;
	Shoal__Envelope env = SHOAL__ENVELOPE__INIT;
	env.msg_case = SHOAL__ENVELOPE__MSG_FOLDER_HELLO;
	env.folder_hello = &h;
	link_send(l, &env);
out:
	free(have);
	free(ptrs);
}

void folder_on_link_up(struct folders *fs, struct link *l)
{
	struct fold *fd;
	LIST_FOREACH(fd, &fs->list, entry)
	{
		if (!fold_active(fd))
			continue;
		send_hello(fd, l);
		/* What waited for a member may come from this one. */
		if (fd->apply.deferred)
			cycle_start(fd);
		/* Once the catalog came over the link. */
		if (fd->f.replicas)
			timer_arm(fd->catchup, FOLDER_CATCHUP_DELAY);
	}
}

/* Every folder's hello to every member up. */
static void hello_everyone(struct folders *fs)
{
	struct link *l;
	LIST_FOREACH(l, &fs->env.mesh->links, entry)
	{
		if (l->member && link_usable(l))
			folder_on_link_up(fs, l);
	}
}

static void on_hello_timer(evutil_socket_t sock, short what, void *arg)
{
	struct folders *fs = arg;
	(void)sock;
	(void)what;
	/* Each link up also arms the catch-up of a folder with replicas. */
	hello_everyone(fs);
}

/* What a hello says of one author, against what this node holds. */
static const Shoal__FolderHave *have_of(const Shoal__FolderHello *m, const uint8_t *author)
{
	for (size_t i = 0; i < m->n_have; i++) {
		if (!memcmp(m->have[i]->author.data, author, NODE_ID_LEN))
			return m->have[i];
	}
	return NULL;
}

/* Batches a member lacks, collected on the reader. */
struct serve_job {
	struct ops_job job;
	struct folders *fs;
	uint8_t fid[FOLDER_ID_LEN];
	uint8_t to[NODE_ID_LEN];
	uint64_t link_serial;
	struct serve_want {
		uint8_t author[NODE_ID_LEN];
		uint64_t index_id, after;
		uint64_t sent; /* the last seq put in a frame, 0: none */
	} * wants;
	size_t nwants, cur;
	/* results: frames of batches */
	struct serve_frame {
		struct buf payload;
		uint32_t sizes[FOLDER_BATCHES_MAX];
		size_t n;
	} frames[SERVE_FRAMES_MAX];
	size_t nframes;
	int truncated; /* more than the frames hold: the rest at its next hello */
};

static int serve_batch(uint64_t first_seq, uint64_t last_seq, int64_t time_us, const uint8_t *data,
		       size_t len, void *arg)
{
	struct serve_job *j = arg;
	(void)first_seq;
	(void)time_us;
	struct serve_frame *fr = j->nframes ? &j->frames[j->nframes - 1] : NULL;
	if (!fr || fr->n == FOLDER_BATCHES_MAX || fr->payload.len + len > WIRE_FOLDER_PAYLOAD_MAX) {
		if (j->nframes == SERVE_FRAMES_MAX) {
			j->truncated = 1;
			return 1;
		}
		fr = &j->frames[j->nframes++];
		buf_init(&fr->payload);
		fr->n = 0;
	}
	buf_add(&fr->payload, data, len);
	fr->sizes[fr->n++] = (uint32_t)len;
	j->wants[j->cur].sent = last_seq;
	return 0;
}

static void serve_work(struct ops_job *oj, struct index *ix)
{
	struct serve_job *j = (struct serve_job *)oj;
	for (j->cur = 0; j->cur < j->nwants; j->cur++) {
		if (folderdb_batches_after(ix, j->fid, j->wants[j->cur].author,
					   j->wants[j->cur].after, serve_batch, j))
			break;
	}
}

static void serve_done(struct ops_job *oj)
{
	struct serve_job *j = (struct serve_job *)oj;
	struct link *l = link_find(j->fs->env.mesh, j->link_serial);
	struct fold *fd = fold_find(j->fs, j->fid, FOLDER_ID_LEN);
	struct fmember *m = fd ? member_of(fd, j->to) : NULL;
	if (m && m->link_serial != j->link_serial)
		m = NULL;
	for (size_t i = 0; m && l && i < j->nwants; i++) {
		struct fsent *s = j->wants[i].sent ? sent_of(m, j->wants[i].author, 1) : NULL;
		if (s) {
			s->index_id = j->wants[i].index_id;
			s->seq = j->wants[i].sent;
			s->at = monotonic_seconds();
		}
	}
	for (size_t i = 0; i < j->nframes; i++) {
		struct serve_frame *fr = &j->frames[i];
		if (l && link_usable(l) && fd) {
			Shoal__FolderBatches m = SHOAL__FOLDER_BATCHES__INIT;
			uint8_t proof[SHA256_LEN];
			folder_proof(&fd->keys, j->fid, j->fs->env.self, j->to, proof);
			m.folder_id.data = j->fid;
			m.folder_id.len = FOLDER_ID_LEN;
			m.proof.data = proof;
			m.proof.len = sizeof(proof);
			m.sizes = fr->sizes;
			m.n_sizes = fr->n;
			m.more = i + 1 < j->nframes || j->truncated;
			Shoal__Envelope env = SHOAL__ENVELOPE__INIT;
			env.msg_case = SHOAL__ENVELOPE__MSG_FOLDER_BATCHES;
			env.folder_batches = &m;
			env.payload_len = (uint32_t)fr->payload.len;
			size_t n = fr->payload.len;
			fd->index_out += n;
			conn_send_owned(l->c, &env, buf_detach(&fr->payload, NULL), n);
		} else {
			buf_release(&fr->payload);
		}
	}
	free(j->wants);
	free(j);
}

/* A probe (a hello without a folder id): the folder of ours whose proof it
 * is, or NULL. */
static struct fold *fold_of_probe(struct folders *fs, struct link *l, const Shoal__FolderHello *m)
{
	struct fold *fd;
	LIST_FOREACH(fd, &fs->list, entry)
	{
		if (fold_active(fd) &&
		    folder_proof_check(&fd->keys, fd->f.invite.id, l->member->id, fs->env.self,
				       m->proof.data, m->proof.len))
			return fd;
	}
	return NULL;
}

void folder_on_hello(struct folders *fs, struct link *l, const Shoal__FolderHello *m)
{
	if (!l->member)
		return;
	if (!m->folder_id.len) {
		/* A probe: a member answers with its whole hello, once a
		 * FOLDER_HELLO_REPLY_EVERY; anyone else hears nothing. */
		struct fold *fd = fold_of_probe(fs, l, m);
		struct fmember *mb = fd ? member_note(fd, l) : NULL;
		double now = monotonic_seconds();
		if (mb && now - mb->probed >= FOLDER_HELLO_REPLY_EVERY) {
			mb->probed = now;
			send_hello(fd, l);
		}
		return;
	}
	struct fold *fd = fold_find(fs, m->folder_id.data, m->folder_id.len);
	if (!fd || !fold_active(fd))
		return; /* not a folder of ours: nothing to say */
	if (!folder_proof_check(&fd->keys, fd->f.invite.id, l->member->id, fs->env.self,
				m->proof.data, m->proof.len)) {
		char name[FOLDER_ID_STR_LEN + 1];
		log_info("folder %s: %s sent a hello without the folder's secret",
			 fold_name(fd, name), conn_remote(l->c));
		fd->refused++;
		return;
	}
	struct fmember *mb = member_note(fd, l);
	double now = monotonic_seconds();
	/* What it lacks goes out; what we lack, we ask for with our hello.
	 * Another author's batches go only while that author is not up here:
	 * up, it answers for itself (so a member catching up does not get
	 * every batch from every member). */
	struct serve_job *j = calloc(1, sizeof(*j));
	if (j)
		j->wants = calloc(fd->nauthors ? fd->nauthors : 1, sizeof(*j->wants));
	int lacking = 0;
	for (size_t i = 0; j && j->wants && i < fd->nauthors; i++) {
		const struct folderdb_author *a = &fd->authors[i];
		const Shoal__FolderHave *h = have_of(m, a->author);
		uint64_t after = h && h->index_id == a->index_id ? h->seq : 0;
		const struct fsent *s = sent_of(mb, a->author, 0);
		if (s && s->index_id == a->index_id && now - s->at < FOLDER_SENT_TRUST &&
		    s->seq > after)
			after = s->seq;
		struct link *al = member_link(fs->env.mesh, a->author);
		if (memcmp(a->author, fs->env.self, NODE_ID_LEN) &&
		    memcmp(a->author, l->member->id, NODE_ID_LEN) && al && link_usable(al))
			continue;
		if (after < a->seq) {
			memcpy(j->wants[j->nwants].author, a->author, NODE_ID_LEN);
			j->wants[j->nwants].index_id = a->index_id;
			j->wants[j->nwants++].after = after;
		}
	}
	for (size_t i = 0; i < m->n_have; i++) {
		const Shoal__FolderHave *h = m->have[i];
		const struct folderdb_author *a = NULL;
		for (size_t k = 0; k < fd->nauthors; k++) {
			if (!memcmp(fd->authors[k].author, h->author.data, NODE_ID_LEN))
				a = &fd->authors[k];
		}
		if (memcmp(h->author.data, fs->env.self, NODE_ID_LEN) &&
		    (!a || a->index_id != h->index_id || a->seq < h->seq))
			lacking = 1;
	}
	if (j && j->wants && j->nwants) {
		j->fs = fs;
		memcpy(j->fid, fd->f.invite.id, FOLDER_ID_LEN);
		memcpy(j->to, l->member->id, NODE_ID_LEN);
		j->link_serial = l->serial;
		ops_submit(fs->env.ops, OPS_READ, &j->job, serve_work, serve_done);
	} else if (j) {
		free(j->wants);
		free(j);
	}
	if (lacking && mb && now - mb->replied >= FOLDER_HELLO_REPLY_EVERY) {
		mb->replied = now;
		send_hello(fd, l);
	}
}

/* ---- batches in ---- */

/* While a member up said more batches follow (FOLDER_SETTLE_MAX at most,
 * so a member cannot hold this node's passes), cycle_start() only notes
 * that a pass is due; its last frame lets it run. Else a pass between two
 * frames could apply a rename's new path before its old one's delete came,
 * and fetch what is here already. */
static void settle(struct fold *fd)
{
	int more = 0;
	for (size_t i = 0; i < fd->nmembers && !more; i++) {
		struct link *l = fd->members[i].more
					 ? link_find(fd->fs->env.mesh, fd->members[i].link_serial)
					 : NULL;
		more = l && link_usable(l);
	}
	if (more)
		timer_arm(fd->settle, FOLDER_SETTLE_MAX); /* from the first: kept, not re-armed */
	else
		evtimer_del(fd->settle);
}

struct ingest_job {
	struct ops_job job;
	struct folders *fs;
	struct fold *fd;
	struct folderdb_folder f;
	uint64_t link_serial;
	uint8_t *data;
	uint32_t *sizes;
	size_t n;
	int more; /* the sender said more batches follow */
	/* results */
	int err;
	int forged;
	char why[256];
	uint64_t accepted, held;
	uint64_t deletes_before; /* deletes let through lately, when submitted */
	uint64_t deletes_passed; /* ... and by this job */
	struct folderdb_author *authors;
	size_t nauthors;
	/* a catch-up from storage nodes (no link): the journals to read */
	struct catch_src *src;
	size_t nsrc;
	struct folder_keys keys;
	uint8_t (*peers)[NODE_ID_LEN];
	size_t npeers;
	char fetch_why[256];
};

/* Tombstones accepted that would remove what this node holds. */
struct doomed {
	char (*paths)[FOLDER_PATH_MAX + 1];
	uint8_t (*origins)[NODE_ID_LEN];
	size_t n, cap;
};

static int doomed_add(struct doomed *d, const char *path, const uint8_t *origin)
{
	if (d->n == d->cap) {
		size_t cap = d->cap ? 2 * d->cap : 64;
		void *p = realloc(d->paths, cap * sizeof(*d->paths));
		void *o = p ? realloc(d->origins, cap * sizeof(*d->origins)) : NULL;
		if (p)
			d->paths = p;
		if (!p || !o)
			return -ENOMEM;
		d->origins = o;
		d->cap = cap;
	}
	snprintf(d->paths[d->n], FOLDER_PATH_MAX + 1, "%s", path);
	memcpy(d->origins[d->n++], origin, NODE_ID_LEN);
	return 0;
}

static int other_path(const uint8_t device[NODE_ID_LEN], const struct folder_entry *e, void *arg)
{
	(void)device;
	return strcmp(e->path, arg) ? 1 : 0;
}

/* 1 when the content of tombstone e is live at another path: a move, which
 * the breaker does not count. */
static int moved_away(struct index *ix, const uint8_t *fid, const struct folder_entry *e)
{
	return folderdb_rows_by_content(ix, fid, e->content_id, other_path, (void *)e->path) == 1;
}

/* Keeps one opened batch if it follows what is held of its author: 1 kept,
 * 0 not (a duplicate or a gap), or an error. */
static int ingest_one(struct ingest_job *j, struct index *ix, const struct folder_batch *b,
		      const uint8_t *data, size_t len, struct doomed *d)
{
	const uint8_t *fid = j->f.invite.id;
	static const uint8_t zeros[SHA256_LEN];
	struct folderdb_author a;
	int err = folderdb_author_get(ix, fid, b->author, &a);
	if (err && err != SHOAL_ENOTFOUND)
		return err;
	int known = !err, reset = 0;
	if (!known || a.index_id != b->index_id) {
		if (memcmp(b->prev_hash, zeros, SHA256_LEN))
			return 0; /* not its first batch: wait for the ones before */
		reset = known;
	} else if (b->first_seq <= a.seq || memcmp(b->prev_hash, a.hash, SHA256_LEN)) {
		return 0;
	}
	struct folder_entry *e = malloc(sizeof(*e));
	if (!e)
		return -ENOMEM;
	if ((err = index_begin(ix))) {
		free(e);
		return err;
	}
	if (reset) {
		err = folderdb_rows_drop(ix, fid, b->author);
		if (!err)
			err = folderdb_batches_drop(ix, fid, b->author);
	}
	if (!err)
		err = folderdb_batch_add(ix, fid, b->author, b->first_seq, b->last_seq, b->time_us,
					 data, len);
	size_t rows = b->msg->n_entries;
	for (size_t i = 0; !err && i < rows; i++) {
		err = folder_batch_row(b, i, e);
		if (!err)
			err = folderdb_row_put(ix, fid, b->author, e);
		if (!err)
			err = folderdb_pending_add(ix, fid, e->path);
		if (!err && e->deleted && !(b->flags & FOLDER_BATCH_DELETES_ACCEPTED) &&
		    !(e->has_content && moved_away(ix, fid, e))) {
			struct folderdb_local l;
			if (!folderdb_local_get(ix, fid, e->path, &l))
				err = doomed_add(d, e->path, b->author);
		}
	}
	struct folderdb_author na = {.index_id = b->index_id, .seq = b->last_seq};
	memcpy(na.author, b->author, NODE_ID_LEN);
	memcpy(na.hash, b->hash, SHA256_LEN);
	if (!err)
		err = folderdb_author_set(ix, fid, &na);
	free(e);
	if (err) {
		index_rollback(ix);
		return err;
	}
	err = index_commit(ix);
	return err ? err : 1;
}

/* Counters are Unix seconds at most: one far past the clock would freeze
 * the path (no later change could pass it). NULL, or what is wrong. */
static const char *far_future(const struct folder_batch *b)
{
	uint64_t horizon = (uint64_t)time(NULL) + FOLDER_CLOCK_SKEW_MAX;
	for (size_t i = 0; i < b->msg->n_entries; i++) {
		const Shoal__FolderEntry *e = b->msg->entries[i];
		for (size_t k = 0; k < e->n_version; k++) {
			if (e->version[k]->value > horizon)
				return "a version counter far in the future";
		}
	}
	return NULL;
}

static void ingest_work(struct ops_job *oj, struct index *ix)
{
	struct ingest_job *j = (struct ingest_job *)oj;
	struct folders *fs = j->fs;
	const uint8_t *fid = j->f.invite.id;
	struct doomed d = {0};
	size_t off = 0;
	int err = 0;
	for (size_t i = 0; !err && i < j->n; i++) {
		struct folder_batch b;
		const char *why = NULL;
		const uint8_t *p = j->data + off;
		size_t len = j->sizes[i];
		off += len;
		int e = folder_batch_open(p, len, fid, fs->ca, &b, &why);
		if (!e && (why = far_future(&b))) {
			folder_batch_free(&b);
			e = SHOAL_EPROTO;
		}
		if (e) {
			j->forged = 1;
			snprintf(j->why, sizeof(j->why), "%s", why ? why : shoal_strerror(e));
			break;
		}
		if (memcmp(b.author, fs->env.self, NODE_ID_LEN)) {
			int r = ingest_one(j, ix, &b, p, len, &d);
			if (r < 0)
				err = r;
			else
				j->accepted += (uint64_t)r;
		}
		folder_batch_free(&b);
	}
	/* The breaker: a batch that would delete much of what is here holds
	 * those deletes until `folder accept-deletes`. */
	uint64_t total = 0;
	if (!err && d.n && !(err = folderdb_local_count(ix, fid, &total))) {
		uint64_t limit = total / 4 > FOLDERSCAN_HOLD_MIN ? total / 4 : FOLDERSCAN_HOLD_MIN;
		if (j->deletes_before + d.n <= limit)
			j->deletes_passed = d.n;
		else if (!(err = index_begin(ix))) {
			for (size_t i = 0; !err && i < d.n; i++)
				err = folderdb_held_add(ix, fid, d.paths[i], d.origins[i]);
			if (err)
				index_rollback(ix);
			else
				err = index_commit(ix);
			j->held = d.n;
		}
	}
	free(d.paths);
	free(d.origins);
	if (!err)
		err = authors_read(ix, fid, &j->authors, &j->nauthors);
	j->err = err;
}

static void ingest_done(struct ops_job *oj)
{
	struct ingest_job *j = (struct ingest_job *)oj;
	struct fold *fd = j->fd;
	char name[FOLDER_ID_STR_LEN + 1];
	struct link *l = link_find(j->fs->env.mesh, j->link_serial);
	if (fold_job_done(fd))
		goto out;
	if (j->forged) {
		fd->refused++;
		log_warnx("folder %s: refused a batch from %s: %s; link closed",
			  fold_name(fd, name), l ? conn_remote(l->c) : "a member", j->why);
		if (l)
			conn_close(l->c, SHOAL_EPROTO, SHOAL__ERROR__CODE__PROTOCOL,
				   "forged or broken folder batch");
	}
	if (j->held)
		log_warnx("folder %s: %llu incoming deletes held (more than the breaker allows); "
			  "'shoal folder accept-deletes %s' releases them",
			  fold_name(fd, name), (unsigned long long)j->held, fd->f.root);
	if (j->err) {
		snprintf(fd->error, sizeof(fd->error), "%s", shoal_strerror(j->err));
		log_warnx("folder %s: %s", fold_name(fd, name), fd->error);
	}
	if (!j->err) {
		free(fd->authors);
		fd->authors = j->authors;
		fd->nauthors = j->nauthors;
		j->authors = NULL;
	}
	fd->batches_in += j->accepted;
	double now = monotonic_seconds();
	if (now - fd->deletes_since > FOLDER_DELETES_WINDOW) {
		fd->deletes_since = now;
		fd->deletes_recent = 0;
	}
	fd->deletes_recent += j->deletes_passed;
	if (j->accepted) {
		fd->cycle_due = 1;
		/* More may be waiting where these came from. */
		if (l && link_usable(l) && !j->forged)
			send_hello(fd, l);
	}
	struct fmember *mb = l && l->member ? member_of(fd, l->member->id) : NULL;
	if (mb && mb->link_serial == j->link_serial)
		mb->more = j->more && !j->forged && !j->err;
	settle(fd);
	cycle_start(fd);
out:
	free(j->authors);
	free(j->data);
	free(j->sizes);
	free(j);
}

void folder_on_batches(struct folders *fs, struct link *l, const Shoal__FolderBatches *m,
		       const uint8_t *payload, size_t len)
{
	struct fold *fd = fold_find(fs, m->folder_id.data, m->folder_id.len);
	if (!fd || !fold_active(fd) || !l->member)
		return;
	if (!folder_proof_check(&fd->keys, fd->f.invite.id, l->member->id, fs->env.self,
				m->proof.data, m->proof.len)) {
		fd->refused++;
		log_info("folder: %s sent batches without the folder's secret; ignored",
			 conn_remote(l->c));
		return;
	}
	struct ingest_job *j = calloc(1, sizeof(*j));
	if (!j)
		return;
	j->data = malloc(len ? len : 1);
	j->sizes = malloc(m->n_sizes * sizeof(*j->sizes));
	if (!j->data || !j->sizes) {
		free(j->data);
		free(j->sizes);
		free(j);
		return;
	}
	memcpy(j->data, payload, len);
	memcpy(j->sizes, m->sizes, m->n_sizes * sizeof(*j->sizes));
	j->n = m->n_sizes;
	j->more = m->more;
	j->fs = fs;
	j->fd = fd;
	j->f = fd->f;
	j->link_serial = l->serial;
	if (monotonic_seconds() - fd->deletes_since <= FOLDER_DELETES_WINDOW)
		j->deletes_before = fd->deletes_recent;
	fd->index_in += len;
	member_note(fd, l);
	fd->jobs++;
	ops_submit(fs->env.ops, OPS_BACKGROUND, &j->job, ingest_work, ingest_done);
}

/* ---- storage nodes (folder create --replicas) ---- */

static void timer_arm(struct event *ev, double wait)
{
	if (evtimer_pending(ev, NULL))
		return;
	struct timeval tv = {(time_t)wait, (suseconds_t)((wait - (double)(time_t)wait) * 1e6)};
	evtimer_add(ev, &tv);
}

/* The copies a folder's chunks want in all: the members' and the
 * replicas (0: nobody asks for more than this node's). */
static unsigned fold_copies(const struct fold *fd)
{
	if (!fd->f.replicas)
		return 0;
	return fd->f.replicas + (unsigned)(fd->nauthors ? fd->nauthors : 1);
}

struct publish_job {
	struct ops_job job;
	struct fold *fd;
	struct folderdb_folder f;
	struct folder_keys keys;
	unsigned copies;
	int have_old;
	struct capability old;
	/* results */
	int err;
	struct capability pointer;
	uint64_t size, seq;
};

static void publish_work(struct ops_job *oj, struct index *ix)
{
	struct publish_job *j = (struct publish_job *)oj;
	struct folders *fs = j->fd->fs;
	(void)ix;
	struct folderstore_env env = {.s = fs->env.store,
				      .remote = fs->env.remote,
				      .f = &j->f,
				      .keys = &j->keys,
				      .self = fs->env.self};
	j->err = folderstore_publish(&env, j->copies, j->have_old ? &j->old : NULL, &j->pointer,
				     &j->size, &j->seq);
}

static void publish_done(struct ops_job *oj)
{
	struct publish_job *j = (struct publish_job *)oj;
	struct fold *fd = j->fd;
	fd->journal_busy = 0;
	if (fold_job_done(fd))
		goto out;
	char name[FOLDER_ID_STR_LEN + 1], jname[FOLDERJOURNAL_NAME_MAX];
	char cap[CAPABILITY_STR_LEN + 1];
	int err = j->err;
	if (!err) {
		folderjournal_name(&fd->keys, jname);
		capability_format(&j->pointer, cap);
		err = catalog_publish(fd->fs->env.catalog, jname, j->size, cap);
		if (!err)
			log_info("folder %s: journal published for the storage nodes (up to %llu)",
				 fold_name(fd, name), (unsigned long long)j->seq);
	}
	if (!err || err == SHOAL_EEXIST)
		fd->journal_seq = j->seq;
	else if (err != SHOAL_ENOTFOUND)
		log_warnx("folder %s: cannot publish its journal: %s", fold_name(fd, name),
			  shoal_strerror(err));
	if (fd->journal_due) {
		fd->journal_due = 0;
		timer_arm(fd->journal, FOLDER_JOURNAL_DELAY);
	}
out:
	OPENSSL_cleanse(j, sizeof(*j));
	free(j);
}

static void on_journal(evutil_socket_t sock, short what, void *arg)
{
	struct fold *fd = arg;
	struct folders *fs = fd->fs;
	(void)sock;
	(void)what;
	if (!fold_active(fd) || !fd->f.replicas || !fs->env.catalog)
		return;
	if (fd->journal_busy) {
		fd->journal_due = 1;
		return;
	}
	struct publish_job *j = calloc(1, sizeof(*j));
	if (!j)
		return;
	j->fd = fd;
	j->f = fd->f;
	j->keys = fd->keys;
	j->copies = fold_copies(fd);
	/* What our catalog entry names now goes once the new one is kept. */
	char jname[FOLDERJOURNAL_NAME_MAX], self[NODE_ID_STR_LEN + 1];
	char cap[CAPABILITY_STR_LEN + 1];
	folderjournal_name(&fd->keys, jname);
	node_id_format(fs->env.self, self);
	if (!catalog_lookup(fs->env.catalog, jname, self, cap, NULL, NULL) &&
	    !capability_parse(&j->old, cap))
		j->have_old = 1;
	fd->journal_busy = 1;
	fd->jobs++;
	ops_submit(fs->env.ops, OPS_BACKGROUND, &j->job, publish_work, publish_done);
}

/* A member's journal to read: its catalog entry. */
struct catch_src {
	uint8_t owner[NODE_ID_LEN];
	struct capability pointer;
	int64_t time_us;
	int read; /* read (or nothing new in it): not again until it changes */
};

/* 1 when some member of fd is connected: it answers our hellos itself. */
static int member_up(const struct fold *fd)
{
	for (size_t i = 0; i < fd->nmembers; i++) {
		struct link *l = link_find(fd->fs->env.mesh, fd->members[i].link_serial);
		if (l && link_usable(l))
			return 1;
	}
	return 0;
}

struct catch_acc {
	struct fold *fd;
	char name[FOLDERJOURNAL_NAME_MAX];
	struct catch_src *v;
	size_t n;
};

static int take_journal(const struct catalog_item *it, void *arg)
{
	struct catch_acc *a = arg;
	struct fold *fd = a->fd;
	if (strcmp(it->name, a->name) || !memcmp(it->owner, fd->fs->env.self, NODE_ID_LEN) ||
	    it->size != FOLDERJOURNAL_POINTER_LEN || a->n == MEMBERS_MAX)
		return 0;
	for (size_t i = 0; i < fd->nread; i++) {
		if (!memcmp(fd->read[i].owner, it->owner, NODE_ID_LEN) &&
		    fd->read[i].time_us >= it->time_us)
			return 0;
	}
	struct catch_src *c = &a->v[a->n];
	if (capability_parse(&c->pointer, it->cap))
		return 0;
	memcpy(c->owner, it->owner, NODE_ID_LEN);
	c->time_us = it->time_us;
	c->read = 0;
	a->n++;
	return 0;
}

/* Reads the journals of j->src and ingests their batches. */
static void catchup_work(struct ops_job *oj, struct index *ix)
{
	struct ingest_job *j = (struct ingest_job *)oj;
	struct folders *fs = j->fs;
	struct folderstore_env env = {.s = fs->env.store,
				      .remote = fs->env.remote,
				      .f = &j->f,
				      .keys = &j->keys,
				      .self = fs->env.self,
				      .peers = (const uint8_t(*)[NODE_ID_LEN])j->peers,
				      .npeers = j->npeers};
	struct buf data = BUF_INIT, journal = BUF_INIT, sizes = BUF_INIT;
	for (size_t i = 0; i < j->nsrc; i++) {
		struct catch_src *c = &j->src[i];
		struct folderjournal_pointer p;
		struct folderdb_author a;
		char why[256];
		int err = folderstore_pointer(&env, &c->pointer, &p, why, sizeof(why));
		if (!err && !folderdb_author_get(ix, j->f.invite.id, c->owner, &a) &&
		    a.index_id == p.index_id && a.seq >= p.last_seq) {
			c->read = 1; /* nothing we lack */
			continue;
		}
		if (!err)
			err = folderstore_journal(&env, &p, &journal, why, sizeof(why));
		size_t off = 0, len;
		const uint8_t *batch;
		int r = 0;
		while (!err && (r = folderjournal_next(journal.data, journal.len, &off, &batch,
						       &len)) == 1) {
			buf_add(&data, batch, len);
			uint32_t n32 = (uint32_t)len;
			buf_add(&sizes, &n32, sizeof(n32));
		}
		if (!err && r < 0) {
			err = r;
			snprintf(why, sizeof(why), "%s", "a journal cut short");
		}
		if (err)
			snprintf(j->fetch_why, sizeof(j->fetch_why), "%s", why);
		/* A bad one (not a member's, or broken) is not read again
		 * until its entry changes; one that could not be had is. */
		c->read = !err || err == SHOAL_EPROTO;
	}
	buf_release(&journal);
	j->n = sizes.len / sizeof(uint32_t);
	j->data = buf_detach(&data, NULL);
	j->sizes = (uint32_t *)(void *)buf_detach(&sizes, NULL);
	ingest_work(oj, ix);
}

static void catchup_done(struct ops_job *oj)
{
	struct ingest_job *j = (struct ingest_job *)oj;
	struct fold *fd = j->fd;
	char name[FOLDER_ID_STR_LEN + 1];
	fd->catchup_busy = 0;
	if (!fd->gone) {
		for (size_t i = 0; i < j->nsrc; i++) {
			struct catch_src *c = &j->src[i];
			size_t k = 0;
			while (k < fd->nread && memcmp(fd->read[k].owner, c->owner, NODE_ID_LEN))
				k++;
			if (!c->read || (k == fd->nread && fd->nread == MEMBERS_MAX))
				continue;
			if (k == fd->nread)
				memcpy(fd->read[fd->nread++].owner, c->owner, NODE_ID_LEN);
			fd->read[k].time_us = c->time_us;
		}
		fd->from_storage += j->accepted;
		if (j->accepted)
			log_info("folder %s: %llu batches taken from the journals on storage nodes",
				 fold_name(fd, name), (unsigned long long)j->accepted);
		if (j->fetch_why[0])
			log_warnx("folder %s: cannot read a journal from the storage nodes: %s",
				  fold_name(fd, name), j->fetch_why);
	}
	free(j->src);
	free(j->peers);
	OPENSSL_cleanse(&j->keys, sizeof(j->keys));
	ingest_done(oj);
}

/* No member connected: what the storage nodes hold of the others. */
static void on_catchup(evutil_socket_t sock, short what, void *arg)
{
	struct fold *fd = arg;
	struct folders *fs = fd->fs;
	(void)sock;
	(void)what;
	if (!fold_active(fd) || !fd->f.replicas || !fs->env.catalog || fd->catchup_busy ||
	    member_up(fd))
		return;
	struct catch_acc a = {.fd = fd, .v = calloc(MEMBERS_MAX, sizeof(*a.v))};
	if (!a.v)
		return;
	folderjournal_name(&fd->keys, a.name);
	catalog_foreach(fs->env.catalog, take_journal, &a);
	struct ingest_job *j = a.n ? calloc(1, sizeof(*j)) : NULL;
	if (j)
		j->peers = calloc(MESH_MEMBERS_MAX, sizeof(*j->peers));
	if (!j || !j->peers) {
		free(j);
		free(a.v);
		return;
	}
	j->npeers = mesh_up_ids(fs->env.mesh, j->peers, NULL, MESH_MEMBERS_MAX);
	j->fs = fs;
	j->fd = fd;
	j->f = fd->f;
	j->keys = fd->keys;
	j->src = a.v;
	j->nsrc = a.n;
	if (monotonic_seconds() - fd->deletes_since <= FOLDER_DELETES_WINDOW)
		j->deletes_before = fd->deletes_recent;
	fd->catchup_busy = 1;
	fd->jobs++;
	ops_submit(fs->env.ops, OPS_BACKGROUND, &j->job, catchup_work, catchup_done);
}

/* ---- shoal folder ... ---- */

/* What status shows of a folder that lives on the loop: the members whose
 * link is up, the counters. */
struct ups {
	uint8_t ids[MEMBERS_MAX][NODE_ID_LEN];
	size_t n;
	uint64_t index_in, index_out, batches_in, refused, fetched;
	uint64_t journal_seq, from_storage, rescans;
	char error[256];
};

struct req_job {
	struct ops_job job;
	struct folders *fs;
	struct fold *fd; /* the folder asked about (NULL: every one, or a new one) */
	Shoal__CtlFolderRequest__Op op;
	char path[PATH_MAX];
	char rel[FOLDER_PATH_MAX + 1]; /* path inside fd's root ("" for the root) */
	char invite[FOLDER_INVITE_MAX];
	char label[FOLDER_LABEL_MAX + 1];
	char keep[16];
	unsigned replicas, version;
	struct folderdb_folder f;    /* fd's, or the new folder's */
	struct folderdb_folder *all; /* STATUS/CONFLICTS of every folder */
	size_t nall;
	struct ups *up;		       /* per folder of all (STATUS) */
	uint8_t (*peers)[NODE_ID_LEN]; /* RESTORE: members up, to fetch from */
	size_t npeers;
	folder_reply_fn fn;
	void *arg;
	/* results */
	int err;
	char why[512];
	struct buf text;
	json_t *json;
	char invite_out[FOLDER_INVITE_MAX];
	int rescan; /* a scan of fd is due */
};

/* The request failed: err, and fmt with detail (a path, cut to its last
 * 200 bytes) as the line the CLI prints. */
static void req_fail(struct req_job *j, int err, const char *fmt, const char *detail)
{
	char cut[256];
	size_t n = strlen(detail);
	snprintf(cut, sizeof(cut), "%s%s", n > 200 ? "..." : "", detail + (n > 200 ? n - 200 : 0));
	j->err = err;
	snprintf(j->why, sizeof(j->why), fmt, cut);
}

/* 1 when path is root or inside it. */
static int path_under(const char *path, const char *root)
{
	size_t n = strlen(root);
	return !strncmp(path, root, n) && (path[n] == 0 || path[n] == '/' || !strcmp(root, "/"));
}

static struct fold *fold_holding(struct folders *fs, const char *path)
{
	struct fold *fd, *best = NULL;
	LIST_FOREACH(fd, &fs->list, entry)
	{
		if (!fd->gone && path_under(path, fd->f.root) &&
		    (!best || strlen(fd->f.root) > strlen(best->f.root)))
			best = fd;
	}
	return best;
}

static const char *state_of(const struct folderdb_folder *f)
{
	return f->stopped[0] ? "stopped" : f->paused ? "paused" : "active";
}

/* CREATE, JOIN: the folder set up at j->path. */
static void setup_work(struct req_job *j, struct index *ix)
{
	struct folderdb_folder *f = &j->f;
	memset(f, 0, sizeof(*f));
	int err;
	if (j->op == SHOAL__CTL_FOLDER_REQUEST__OP__CREATE) {
		err = folder_invite_new(&f->invite, j->label);
		if (err) {
			req_fail(j, err, "%s",
				 "a label is at most 64 printable characters, no '/'");
			return;
		}
	} else if (folder_invite_parse(j->invite, &f->invite)) {
		req_fail(j, SHOAL_EUSAGE, "%s",
			 "not a folder invite (it is " FOLDER_INVITE_PREFIX "... as 'shoal folder "
			 "create' prints it)");
		return;
	}
	struct folderdb_folder old;
	if (!folderdb_get(ix, f->invite.id, &old)) {
		req_fail(j, SHOAL_EEXIST, "this node is a member of that folder already, at %s",
			 old.root);
		return;
	}
	if ((err = mkdir_p(j->path, 0755))) {
		req_fail(j, err, "cannot make the folder's directory: %s", strerror(-err));
		return;
	}
	struct stat st;
	if (lstat(j->path, &st) || !S_ISDIR(st.st_mode)) {
		req_fail(j, -ENOTDIR, "%s is not a directory", j->path);
		return;
	}
	snprintf(f->root, sizeof(f->root), "%s", j->path);
	f->dev = (uint64_t)st.st_dev;
	f->created = (int64_t)time(NULL);
	if (j->op == SHOAL__CTL_FOLDER_REQUEST__OP__CREATE)
		f->invite.replicas = j->replicas; /* the invite passes it on */
	f->replicas = f->invite.replicas;
	if ((err = random_bytes(&f->index_id, sizeof(f->index_id))))
		goto fail;
	f->index_id &= INT64_MAX; /* SQLite keeps it signed */
	if ((err = folderscan_marker_write(j->path, f->invite.id))) {
		req_fail(j, err, "cannot write the folder's marker: %s", strerror(-err));
		return;
	}
	if ((err = index_begin(ix)))
		goto fail;
	err = folderdb_add(ix, f);
	if (err) {
		index_rollback(ix);
		goto fail;
	}
	if ((err = index_commit(ix)))
		goto fail;
	folder_invite_format(&f->invite, j->invite_out);
	char id[FOLDER_ID_STR_LEN + 1];
	folder_id_format(f->invite.id, id);
	if (j->op == SHOAL__CTL_FOLDER_REQUEST__OP__CREATE)
		buf_addf(&j->text,
			 "folder %s created at %s\n"
			 "invite (give it only to members; it reads everything in the folder):\n"
			 "%s\n",
			 id, f->root, j->invite_out);
	else
		buf_addf(&j->text, "joined folder %s%s%s at %s\n", id,
			 f->invite.label[0] ? " " : "", f->invite.label, f->root);
	j->json = json_pack("{s:s, s:s, s:s}", "id", id, "root", f->root, "label", f->invite.label);
	if (j->json && j->op == SHOAL__CTL_FOLDER_REQUEST__OP__CREATE)
		json_object_set_new(j->json, "invite", json_string(j->invite_out));
	return;
fail:
	req_fail(j, err, "%s", shoal_strerror(err));
}

static void leave_work(struct req_job *j, struct index *ix)
{
	int err = index_begin(ix);
	if (!err) {
		err = folderdb_remove(ix, j->f.invite.id);
		if (err)
			index_rollback(ix);
		else
			err = index_commit(ix);
	}
	if (err) {
		req_fail(j, err, "%s", shoal_strerror(err));
		return;
	}
	char marker[PATH_MAX + 32];
	snprintf(marker, sizeof(marker), "%s/%s", j->f.root, FOLDERSCAN_MARKER);
	unlink(marker);
	buf_addf(&j->text, "left the folder at %s; its files stay where they are\n", j->f.root);
}

static void state_work(struct req_job *j, struct index *ix)
{
	struct folderdb_folder *f = &j->f;
	const char *stopped = NULL;
	if (j->op == SHOAL__CTL_FOLDER_REQUEST__OP__RESUME) {
		char why[FOLDER_STOPPED_MAX + 1];
		if (folderscan_marker_check(f->root, f->invite.id, f->dev, why, sizeof(why))) {
			req_fail(j, SHOAL_ENOTFOUND,
				 "%s; the folder stays stopped (leave it and join again to start "
				 "over)",
				 why);
			return;
		}
		f->paused = 0;
		f->stopped[0] = 0;
		stopped = "";
	} else {
		f->paused = 1;
	}
	int err = folderdb_set_state(ix, f->invite.id, f->paused, stopped);
	if (err)
		req_fail(j, err, "%s", shoal_strerror(err));
	else
		buf_addf(&j->text, "folder at %s %s\n", f->root, f->paused ? "paused" : "resumed");
}

struct held_acc {
	struct index *ix;
	const uint8_t *fid, *self;
	char (*paths)[FOLDER_PATH_MAX + 1];
	size_t n, cap;
};

static int take_held(const char *path, const uint8_t *origin, const char *why, void *arg)
{
	struct held_acc *h = arg;
	(void)why;
	if (origin && !memcmp(origin, h->self, NODE_ID_LEN))
		return 0; /* a local delete: released by the next scan */
	if (h->n == h->cap) {
		size_t cap = h->cap ? 2 * h->cap : 64;
		void *p = realloc(h->paths, cap * sizeof(*h->paths));
		if (!p)
			return -ENOMEM;
		h->paths = p;
		h->cap = cap;
	}
	snprintf(h->paths[h->n++], FOLDER_PATH_MAX + 1, "%s", path);
	return 0;
}

static void accept_work(struct req_job *j, struct index *ix)
{
	const uint8_t *fid = j->f.invite.id;
	struct held_acc h = {.ix = ix, .fid = fid, .self = j->fs->env.self};
	uint64_t count = 0;
	int err = folderdb_held_count(ix, fid, &count);
	if (!err)
		err = folderdb_held_foreach(ix, fid, take_held, &h);
	if (!err && !(err = index_begin(ix))) {
		for (size_t i = 0; !err && i < h.n; i++)
			err = folderdb_pending_add(ix, fid, h.paths[i]);
		if (!err)
			err = folderdb_held_clear(ix, fid);
		if (err)
			index_rollback(ix);
		else
			err = index_commit(ix);
	}
	free(h.paths);
	if (err) {
		req_fail(j, err, "%s", shoal_strerror(err));
		return;
	}
	buf_addf(&j->text, "%llu held deletes released in %s (this once)\n",
		 (unsigned long long)count, j->f.root);
	j->rescan = 1;
}

/* ---- status ---- */

struct status_acc {
	struct req_job *j;
	const struct folderdb_folder *f;
	struct ignore_set ig;
	/* the rows of the path being looked at */
	char path[FOLDER_PATH_MAX + 1];
	struct folder_entry *rows;
	uint8_t (*devices)[NODE_ID_LEN];
	size_t nrows;
	/* per author: paths where its row is the one to have */
	struct folderdb_author *authors;
	size_t nauthors;
	uint64_t *synced;
	uint64_t paths;
	json_t *items;
	uint64_t nitems;
	json_t *conflicts; /* conflict copies: synced files, listed apart */
	struct buf conflict_text;
};

#define STATUS_ROWS	 64
#define STATUS_ITEMS_MAX 1000

static void status_item(struct status_acc *a, const char *path, const char *reason,
			const char *detail)
{
	a->nitems++;
	if (a->nitems > STATUS_ITEMS_MAX)
		return;
	buf_addf(&a->j->text, "    %s  %s%s%s\n", path, reason, detail[0] ? ": " : "", detail);
	json_array_append_new(a->items, json_pack("{s:s, s:s, s:s}", "path", path, "reason", reason,
						  "detail", detail));
}

/* The rows of one path gathered: who has what it should. */
static void status_path(struct status_acc *a)
{
	if (!a->nrows)
		return;
	if (a->ig.ig && ignore_match(a->ig.ig, a->path, 0))
		return;
	struct folder_entry *best = &a->rows[0];
	for (size_t i = 1; i < a->nrows; i++) {
		enum folder_decision d = folder_decide(best, &a->rows[i]);
		if (d == FOLDER_TAKE || d == FOLDER_CONFLICT_THEIRS)
			best = &a->rows[i];
	}
	if (best->deleted) {
		/* Gone everywhere it should be: a member without a row has it. */
		int anyone_live = 0;
		for (size_t i = 0; i < a->nrows; i++)
			anyone_live |= !a->rows[i].deleted;
		if (!anyone_live)
			return;
	}
	a->paths++;
	for (size_t k = 0; k < a->nauthors; k++) {
		int ok = best->deleted;
		for (size_t i = 0; i < a->nrows; i++) {
			if (memcmp(a->devices[i], a->authors[k].author, NODE_ID_LEN))
				continue;
			enum folder_order o = folder_vv_compare(&a->rows[i].vv, &best->vv);
			ok = o == FOLDER_EQUAL || o == FOLDER_AFTER ||
			     (a->rows[i].deleted == best->deleted &&
			      a->rows[i].has_content == best->has_content &&
			      !memcmp(a->rows[i].content_id, best->content_id, SHA256_LEN));
		}
		a->synced[k] += ok;
	}
}

static int status_row(const uint8_t device[NODE_ID_LEN], const struct folder_entry *e, void *arg)
{
	struct status_acc *a = arg;
	if (strcmp(a->path, e->path)) {
		status_path(a);
		a->nrows = 0;
		snprintf(a->path, sizeof(a->path), "%s", e->path);
	}
	if (a->nrows < STATUS_ROWS) {
		a->rows[a->nrows] = *e;
		memcpy(a->devices[a->nrows++], device, NODE_ID_LEN);
	}
	return 0;
}

static int status_pending(const char *path, const uint8_t *origin, const char *why, void *arg)
{
	(void)origin;
	status_item(arg, path, "waiting", why[0] ? why : "not applied yet");
	return 0;
}

static int status_held(const char *path, const uint8_t *origin, const char *why, void *arg)
{
	struct status_acc *a = arg;
	char who[17] = "";
	(void)why;
	if (origin)
		short_node_id(origin, who);
	char detail[128];
	snprintf(detail, sizeof(detail), "deleted by %s; 'shoal folder accept-deletes' releases it",
		 origin && !memcmp(origin, a->j->fs->env.self, NODE_ID_LEN) ? "this node" : who);
	status_item(a, path, "held delete", detail);
	return 0;
}

static int status_conflict(const uint8_t device[NODE_ID_LEN], const struct folder_entry *e,
			   void *arg)
{
	struct status_acc *a = arg;
	(void)device;
	if (e->deleted || !folder_is_conflict_name(e->path))
		return 0;
	if (json_array_size(a->conflicts) < STATUS_ITEMS_MAX) {
		buf_addf(&a->conflict_text, "    %s\n", e->path);
		json_array_append_new(a->conflicts, json_string(e->path));
	}
	return 0;
}

static int is_up(const struct ups *up, const uint8_t *id)
{
	for (size_t i = 0; up && i < up->n; i++) {
		if (!memcmp(up->ids[i], id, NODE_ID_LEN))
			return 1;
	}
	return 0;
}

static int status_one(struct req_job *j, struct index *ix, const struct folderdb_folder *f,
		      const struct ups *up, json_t *list)
{
	const uint8_t *fid = f->invite.id;
	struct status_acc a = {.j = j, .f = f};
	char id[FOLDER_ID_STR_LEN + 1];
	folder_id_format(fid, id);
	uint64_t local = 0, pending = 0, held = 0;
	int err = folderdb_local_count(ix, fid, &local);
	if (!err)
		err = folderdb_pending_count(ix, fid, &pending);
	if (!err)
		err = folderdb_held_count(ix, fid, &held);
	if (!err)
		err = authors_read(ix, fid, &a.authors, &a.nauthors);
	if (err)
		return err;
	a.rows = malloc(STATUS_ROWS * sizeof(*a.rows));
	a.devices = malloc(STATUS_ROWS * sizeof(*a.devices));
	a.synced = calloc(a.nauthors ? a.nauthors : 1, sizeof(*a.synced));
	a.items = json_array();
	a.conflicts = json_array();
	buf_init(&a.conflict_text);
	if (!a.conflicts || !a.rows || !a.devices || !a.synced || !a.items) {
		err = -ENOMEM;
		goto out;
	}
	ignore_load(&a.ig, f->root);
	err = folderdb_rows_foreach(ix, fid, NULL, status_row, &a);
	if (!err)
		status_path(&a);
	buf_addf(&j->text, "folder %s%s%s at %s: %s", id, f->invite.label[0] ? " " : "",
		 f->invite.label, f->root, state_of(f));
	if (f->stopped[0])
		buf_addf(&j->text, " (%s)", f->stopped);
	size_t mark = j->text.len;
	buf_addf(&j->text, "\n  %llu %s here, %llu waiting, %llu %s held\n",
		 (unsigned long long)local, local == 1 ? "entry" : "entries",
		 (unsigned long long)pending, (unsigned long long)held,
		 held == 1 ? "delete" : "deletes");
	json_t *members = json_array();
	buf_addf(&j->text, "  members:\n");
	if (!a.nauthors)
		buf_addf(&j->text, "    none has written to it yet\n");
	for (size_t k = 0; k < a.nauthors; k++) {
		char who[17];
		short_node_id(a.authors[k].author, who);
		int self = !memcmp(a.authors[k].author, j->fs->env.self, NODE_ID_LEN);
		double pct = a.paths ? 100.0 * (double)a.synced[k] / (double)a.paths : 100.0;
		buf_addf(&j->text, "    %s%s  %.1f%% (%llu of %llu %s)%s\n", who,
			 self ? " (this node)" : "", pct, (unsigned long long)a.synced[k],
			 (unsigned long long)a.paths, a.paths == 1 ? "item" : "items",
			 self				  ? ""
			 : is_up(up, a.authors[k].author) ? ", up"
							  : ", not connected");
		json_array_append_new(
			members,
			json_pack("{s:s, s:b, s:b, s:f, s:I, s:I}", "id", who, "self", self, "up",
				  self || is_up(up, a.authors[k].author), "completion", pct,
				  "synced", (json_int_t)a.synced[k], "items", (json_int_t)a.paths));
	}
	if (up)
		buf_addf(&j->text,
			 "  since the daemon started: %llu index bytes in, %llu out, %llu batches "
			 "taken, %llu refused, %llu chunks fetched%s%s\n",
			 (unsigned long long)up->index_in, (unsigned long long)up->index_out,
			 (unsigned long long)up->batches_in, (unsigned long long)up->refused,
			 (unsigned long long)up->fetched, up->error[0] ? "; last error: " : "",
			 up->error);
	if (up && f->replicas)
		buf_addf(&j->text,
			 "  storage nodes: %u copies wanted besides the members'; journal "
			 "published up to %llu; %llu batches taken from storage\n",
			 f->replicas, (unsigned long long)up->journal_seq,
			 (unsigned long long)up->from_storage);
	buf_addf(&j->text, "  not in sync:\n");
	size_t before = j->text.len;
	if (!err)
		err = folderdb_pending_foreach(ix, fid, STATUS_ITEMS_MAX, status_pending, &a);
	if (!err)
		err = folderdb_held_foreach(ix, fid, status_held, &a);
	if (!err)
		err = folderdb_rows_foreach(ix, fid, j->fs->env.self, status_conflict, &a);
	/* Conflict copies are synced files like any other: listed, not
	 * counted against "in sync". */
	int in_sync = !a.nitems && !f->stopped[0];
	if (j->text.len == before)
		buf_addf(&j->text, "    nothing\n");
	if (a.conflict_text.len)
		buf_addf(&j->text,
			 "  conflict copies ('shoal folder resolve PATH --keep mine|theirs|both' "
			 "settles each):\n%s",
			 buf_str(&a.conflict_text));
	(void)mark;
	json_array_append_new(
		list, json_pack("{s:s, s:s, s:s, s:s, s:s, s:b, s:I, s:I, s:I, s:o, s:o}", "id", id,
				"label", f->invite.label, "root", f->root, "state", state_of(f),
				"stopped", f->stopped, "in_sync", in_sync, "entries",
				(json_int_t)local, "waiting", (json_int_t)pending, "held",
				(json_int_t)held, "members", members, "items", a.items));
	json_object_set_new(json_array_get(list, json_array_size(list) - 1), "conflicts",
			    a.conflicts);
	a.conflicts = NULL;
	if (up)
		json_object_set_new(
			json_array_get(list, json_array_size(list) - 1), "counters",
			json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:s}", "index_in",
				  (json_int_t)up->index_in, "index_out", (json_int_t)up->index_out,
				  "batches_in", (json_int_t)up->batches_in, "refused",
				  (json_int_t)up->refused, "fetched", (json_int_t)up->fetched,
				  "journal_seq", (json_int_t)up->journal_seq, "from_storage",
				  (json_int_t)up->from_storage, "rescans", (json_int_t)up->rescans,
				  "error", up->error));
	a.items = NULL;
out:
	ignore_free(a.ig.ig);
	json_decref(a.items);
	json_decref(a.conflicts);
	buf_release(&a.conflict_text);
	free(a.rows);
	free(a.devices);
	free(a.synced);
	free(a.authors);
	return err;
}

static void status_work(struct req_job *j, struct index *ix)
{
	json_t *list = json_array();
	int err = 0;
	for (size_t i = 0; !err && i < j->nall; i++)
		err = status_one(j, ix, &j->all[i], j->up ? &j->up[i] : NULL, list);
	if (!j->nall)
		buf_addf(&j->text, "no folders (shoal folder create DIR makes one)\n");
	if (err)
		req_fail(j, err, "%s", shoal_strerror(err));
	j->json = json_pack("{s:o}", "folders", list);
}

static void list_work(struct req_job *j, struct index *ix)
{
	(void)ix;
	json_t *list = json_array();
	if (!j->nall)
		buf_addf(&j->text, "no folders (shoal folder create DIR makes one)\n");
	for (size_t i = 0; i < j->nall; i++) {
		const struct folderdb_folder *f = &j->all[i];
		char id[FOLDER_ID_STR_LEN + 1];
		folder_id_format(f->invite.id, id);
		buf_addf(&j->text, "%s  %-8s %s%s%s\n", id, state_of(f), f->root,
			 f->invite.label[0] ? "  " : "", f->invite.label);
		json_array_append_new(list,
				      json_pack("{s:s, s:s, s:s, s:s, s:i}", "id", id, "label",
						f->invite.label, "root", f->root, "state",
						state_of(f), "replicas", (int)f->replicas));
	}
	j->json = json_pack("{s:o}", "folders", list);
}

/* ---- conflicts and resolving them ---- */

struct conflicts_acc {
	struct req_job *j;
	const struct folderdb_folder *f;
	json_t *list;
	uint64_t n;
};

static int conflict_row(const uint8_t device[NODE_ID_LEN], const struct folder_entry *e, void *arg)
{
	struct conflicts_acc *c = arg;
	(void)device;
	if (e->deleted || !folder_is_conflict_name(e->path))
		return 0;
	char of[FOLDER_PATH_MAX + 1];
	snprintf(of, sizeof(of), "%s", e->path);
	char *mark = strstr(of, FOLDER_CONFLICT_MARK);
	char *dot = mark ? strchr(mark + strlen(FOLDER_CONFLICT_MARK), '.') : NULL;
	/* name.conflict-DATE-TIME-ID-CONTENT.ext: the original is name.ext */
	if (mark) {
		const char *ext = NULL;
		for (char *q = mark + 1; (q = strchr(q, '.')); q++)
			ext = q;
		(void)dot;
		memmove(mark, ext ? ext : "", strlen(ext ? ext : "") + 1);
	}
	c->n++;
	buf_addf(&c->j->text, "%s/%s  (a version of %s)\n", c->f->root, e->path, of);
	json_array_append_new(c->list, json_pack("{s:s, s:s, s:s}", "root", c->f->root, "copy",
						 e->path, "of", of));
	return 0;
}

static void conflicts_work(struct req_job *j, struct index *ix)
{
	struct conflicts_acc c = {.j = j, .list = json_array()};
	int err = 0;
	for (size_t i = 0; !err && i < j->nall; i++) {
		c.f = &j->all[i];
		err = folderdb_rows_foreach(ix, c.f->invite.id, j->fs->env.self, conflict_row, &c);
	}
	if (!err && !c.n)
		buf_addf(&j->text, "no conflicts\n");
	if (err)
		req_fail(j, err, "%s", shoal_strerror(err));
	j->json = json_pack("{s:o}", "conflicts", c.list);
}

/* The copies of rel: their relative paths. */
struct copies_acc {
	char prefix[FOLDER_PATH_MAX + 1], ext[NAME_MAX + 1];
	char (*v)[FOLDER_PATH_MAX + 1];
	size_t n;
};

static int take_copy(const uint8_t device[NODE_ID_LEN], const struct folder_entry *e, void *arg)
{
	struct copies_acc *c = arg;
	(void)device;
	size_t n = strlen(c->prefix), x = strlen(c->ext), len = strlen(e->path);
	if (e->deleted || !folder_is_conflict_name(e->path) || strncmp(e->path, c->prefix, n) ||
	    len < n + x || strcmp(e->path + len - x, c->ext) || c->n == FOLDERAPPLY_COPIES_MAX)
		return 0;
	snprintf(c->v[c->n++], FOLDER_PATH_MAX + 1, "%s", e->path);
	return 0;
}

static void resolve_work(struct req_job *j, struct index *ix)
{
	const char *rel = j->rel;
	char orig[FOLDER_PATH_MAX + 1];
	snprintf(orig, sizeof(orig), "%s", rel);
	/* Given a copy, resolve its original. */
	char *mark = strstr(orig, FOLDER_CONFLICT_MARK);
	if (mark) {
		const char *ext = NULL;
		for (char *q = mark + 1; (q = strchr(q, '.')); q++)
			ext = q;
		memmove(mark, ext ? ext : "", strlen(ext ? ext : "") + 1);
	}
	struct copies_acc c = {.v = calloc(FOLDERAPPLY_COPIES_MAX, sizeof(*c.v))};
	if (!c.v) {
		req_fail(j, -ENOMEM, "%s", "out of memory");
		return;
	}
	const char *base = strrchr(orig, '/') ? strrchr(orig, '/') + 1 : orig;
	const char *dot = strrchr(base, '.');
	if (dot == base)
		dot = NULL;
	snprintf(c.ext, sizeof(c.ext), "%s", dot ? dot : "");
	snprintf(c.prefix, sizeof(c.prefix), "%.*s%s", (int)(dot ? dot - orig : (long)strlen(orig)),
		 orig, FOLDER_CONFLICT_MARK);
	int err = folderdb_rows_foreach(ix, j->f.invite.id, j->fs->env.self, take_copy, &c);
	if (!err && !c.n) {
		req_fail(j, SHOAL_ENOTFOUND, "%s has no conflict copies", orig);
		free(c.v);
		return;
	}
	int dir = open(j->f.root, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dir < 0)
		err = -errno;
	for (size_t i = 0; !err && i < c.n; i++) {
		const char *copy = c.v[i];
		if (!strcmp(j->keep, "mine")) {
			if (unlinkat(dir, copy, 0) && errno != ENOENT)
				err = -errno;
		} else if (!strcmp(j->keep, "theirs")) {
			/* The newest copy replaces the file; the others go. */
			if (i == c.n - 1 ? renameat(dir, copy, dir, orig) : unlinkat(dir, copy, 0))
				err = errno == ENOENT ? 0 : -errno;
		} else {
			char kept[FOLDER_PATH_MAX + 1];
			snprintf(kept, sizeof(kept), "%s", copy);
			char *m = strstr(kept, FOLDER_CONFLICT_MARK);
			memcpy(m, ".kept-----", strlen(FOLDER_CONFLICT_MARK));
			if (renameat2(dir, copy, dir, kept, RENAME_NOREPLACE) && errno != ENOENT)
				err = -errno;
		}
	}
	if (dir >= 0) {
		fsync(dir);
		close(dir);
	}
	if (err)
		req_fail(j, err, "cannot resolve it: %s", strerror(-err));
	else
		buf_addf(&j->text,
			 "%s: %zu conflict cop%s settled (kept %s); the change goes to every "
			 "member\n",
			 orig, c.n, c.n == 1 ? "y" : "ies", j->keep);
	free(c.v);
	j->rescan = 1;
	(void)ix;
}

/* ---- history: log and restore ---- */

struct hist {
	int64_t time_us;
	uint8_t author[NODE_ID_LEN];
	struct folder_entry e;
};

struct hist_acc {
	const char *path;
	const uint8_t *author;
	struct hist *v;
	size_t n, cap;
	int err;
};

static int hist_batch(uint64_t first_seq, uint64_t last_seq, int64_t time_us, const uint8_t *data,
		      size_t len, void *arg)
{
	struct hist_acc *h = arg;
	(void)first_seq;
	(void)last_seq;
	Shoal__FolderBatch *b = shoal__folder_batch__unpack(NULL, len, data);
	if (!b)
		return 0;
	for (size_t i = 0; i < b->n_entries; i++) {
		/* A member's own changes only, not the rows it wrote applying
		 * another's. */
		if (!b->entries[i]->path || strcmp(b->entries[i]->path, h->path) ||
		    b->entries[i]->modified_by != folder_short_id(h->author))
			continue;
		if (h->n == h->cap) {
			size_t cap = h->cap ? 2 * h->cap : 8;
			void *p = realloc(h->v, cap * sizeof(*h->v));
			if (!p) {
				shoal__folder_batch__free_unpacked(b, NULL);
				return -ENOMEM;
			}
			h->v = p;
			h->cap = cap;
		}
		struct hist *x = &h->v[h->n];
		if (folder_entry_from_pb(&x->e, b->entries[i], NULL))
			continue;
		x->time_us = time_us;
		memcpy(x->author, h->author, NODE_ID_LEN);
		h->n++;
	}
	shoal__folder_batch__free_unpacked(b, NULL);
	return 0;
}

static int hist_cmp(const void *a, const void *b)
{
	const struct hist *x = a, *y = b;
	return x->time_us < y->time_us ? 1 : x->time_us > y->time_us ? -1 : 0;
}

/* Every row of rel any author announced, newest first. */
static int hist_read(struct req_job *j, struct index *ix, struct hist_acc *h)
{
	struct folderdb_author *authors = NULL;
	size_t n = 0;
	h->path = j->rel;
	int err = authors_read(ix, j->f.invite.id, &authors, &n);
	for (size_t i = 0; !err && i < n; i++) {
		h->author = authors[i].author;
		err = folderdb_batches_after(ix, j->f.invite.id, authors[i].author, 0, hist_batch,
					     h);
	}
	free(authors);
	if (!err)
		qsort(h->v, h->n, sizeof(*h->v), hist_cmp);
	return err;
}

static void log_work(struct req_job *j, struct index *ix)
{
	struct hist_acc h = {0};
	int err = hist_read(j, ix, &h);
	json_t *list = json_array();
	unsigned version = 0;
	for (size_t i = 0; !err && i < h.n; i++) {
		const struct folder_entry *e = &h.v[i].e;
		char who[17], when[32], cid[13] = "";
		short_node_id(h.v[i].author, who);
		time_t t = (time_t)(h.v[i].time_us / 1000000);
		struct tm tm;
		strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", localtime_r(&t, &tm));
		if (e->has_content)
			hex_encode(cid, e->content_id, 6);
		const char *what = e->deleted ? "deleted" : e->has_prev ? "changed" : "written";
		if (e->has_content && !e->deleted)
			version++;
		buf_addf(&j->text, "%s  %s  %-7s  %s%llu bytes  content %s%s\n", when, who, what,
			 e->kind == FOLDER_DIR ? "directory, " : "", (unsigned long long)e->size,
			 cid[0] ? cid : "-", e->has_content && !e->deleted ? "" : "");
		json_array_append_new(list, json_pack("{s:I, s:s, s:s, s:I, s:s, s:b}", "time_us",
						      (json_int_t)h.v[i].time_us, "member", who,
						      "change", what, "size", (json_int_t)e->size,
						      "content", cid, "deleted", e->deleted));
	}
	if (!err && !h.n)
		req_fail(j, SHOAL_ENOTFOUND, "no member ever announced %s", j->rel);
	else if (err)
		req_fail(j, err, "%s", shoal_strerror(err));
	j->json = json_pack("{s:s, s:o}", "path", j->rel, "log", list);
	free(h.v);
}

static void restore_work(struct req_job *j, struct index *ix)
{
	struct hist_acc h = {0};
	int err = hist_read(j, ix, &h);
	const struct folder_entry *pick = NULL;
	unsigned n = 0;
	for (size_t i = 0; !err && i < h.n && !pick; i++) {
		const struct folder_entry *e = &h.v[i].e;
		if (e->kind != FOLDER_FILE || !e->has_content)
			continue;
		/* The last content (a tombstone's), or version N counting the
		 * contents written, newest first. */
		if (j->version == 0 || (!e->deleted && ++n == j->version))
			pick = e;
	}
	if (!err && !pick) {
		req_fail(j, SHOAL_ENOTFOUND,
			 !h.n	      ? "no member ever announced %s"
			 : j->version ? "%s has no such version"
				      : "%s has no content to restore",
			 j->rel);
		free(h.v);
		return;
	}
	if (err) {
		req_fail(j, err, "%s", shoal_strerror(err));
		free(h.v);
		return;
	}
	struct files_restore how = {.mode_keep = 0777, .replace = 1};
	struct store *s = j->fs->env.store;
	/* What the file holds now stays restorable in turn. */
	err = store_keep_located(s, ix, j->path, NULL);
	if (!err)
		err = files_get(s, &pick->cap, j->path, &how, NULL, NULL);
	if (err == SHOAL_EMISSING && j->npeers) {
		/* Not kept here (a version overwritten here, whose content
		 * lived only in the file): the members that applied the
		 * change kept it. */
		uint8_t token[CHUNK_ID_LEN];
		struct fetch f = {.r = j->fs->env.remote,
				  .s = s,
				  .ix = ix,
				  .peers = (const uint8_t(*)[NODE_ID_LEN])j->peers,
				  .npeers = j->npeers};
		err = random_bytes(token, sizeof(token));
		if (!err && (err = fetch_into(&f, &pick->cap, token)) == SHOAL_EUNREACHABLE)
			err = SHOAL_EMISSING;
		if (!err)
			err = files_get(s, &pick->cap, j->path, &how, NULL, NULL);
		fetch_release(&f, token);
	}
	if (err == SHOAL_EMISSING)
		req_fail(j, err, "%s",
			 "that version's data is kept neither here nor by a member up");
	else if (err)
		req_fail(j, err, "cannot restore it: %s", shoal_strerror(err));
	else
		buf_addf(&j->text, "restored %s (%llu bytes); the change goes to every member\n",
			 j->path, (unsigned long long)pick->size);
	free(h.v);
	j->rescan = 1;
}

/* ---- requests ---- */

static void req_work(struct ops_job *oj, struct index *ix)
{
	struct req_job *j = (struct req_job *)oj;
	switch (j->op) {
	case SHOAL__CTL_FOLDER_REQUEST__OP__CREATE:
	case SHOAL__CTL_FOLDER_REQUEST__OP__JOIN:
		setup_work(j, ix);
		break;
	case SHOAL__CTL_FOLDER_REQUEST__OP__LEAVE:
		leave_work(j, ix);
		break;
	case SHOAL__CTL_FOLDER_REQUEST__OP__PAUSE:
	case SHOAL__CTL_FOLDER_REQUEST__OP__RESUME:
		state_work(j, ix);
		break;
	case SHOAL__CTL_FOLDER_REQUEST__OP__ACCEPT_DELETES:
		accept_work(j, ix);
		break;
	case SHOAL__CTL_FOLDER_REQUEST__OP__STATUS:
		status_work(j, ix);
		break;
	case SHOAL__CTL_FOLDER_REQUEST__OP__CONFLICTS:
		conflicts_work(j, ix);
		break;
	case SHOAL__CTL_FOLDER_REQUEST__OP__RESOLVE:
		resolve_work(j, ix);
		break;
	case SHOAL__CTL_FOLDER_REQUEST__OP__LOG:
		log_work(j, ix);
		break;
	case SHOAL__CTL_FOLDER_REQUEST__OP__RESTORE:
		restore_work(j, ix);
		break;
	default:
		list_work(j, ix);
		break;
	}
}

static void req_reply(struct req_job *j)
{
	char *json = j->json ? json_dumps(j->json, JSON_COMPACT) : NULL;
	if (j->err)
		j->fn(j->arg, j->err, j->why, NULL, NULL);
	else
		j->fn(j->arg, 0, buf_str(&j->text), json ? json : "{}",
		      j->invite_out[0] ? j->invite_out : NULL);
	free(json);
	json_decref(j->json);
	buf_release(&j->text);
	OPENSSL_cleanse(&j->f, sizeof(j->f));
	free(j->all);
	free(j->up);
	free(j->peers);
	free(j);
}

static void req_done(struct ops_job *oj)
{
	struct req_job *j = (struct req_job *)oj;
	struct folders *fs = j->fs;
	struct fold *fd = j->fd;
	if (fd && fold_job_done(fd))
		fd = NULL;
	if (!j->err) {
		switch (j->op) {
		case SHOAL__CTL_FOLDER_REQUEST__OP__CREATE:
		case SHOAL__CTL_FOLDER_REQUEST__OP__JOIN:
			if (!fold_add(fs, &j->f))
				req_fail(j, -ENOMEM, "%s", "out of memory");
			else
				hello_everyone(fs);
			break;
		case SHOAL__CTL_FOLDER_REQUEST__OP__LEAVE:
			if (fd)
				fold_drop(fd);
			break;
		case SHOAL__CTL_FOLDER_REQUEST__OP__PAUSE:
		case SHOAL__CTL_FOLDER_REQUEST__OP__RESUME:
			if (fd) {
				fd->f.paused = j->f.paused;
				snprintf(fd->f.stopped, sizeof(fd->f.stopped), "%s", j->f.stopped);
				if (fold_active(fd)) {
					watch_begin(fd);
					fd->scan_due = 1;
					cycle_start(fd);
					hello_all(fd);
				} else {
					watch_stop(fd);
				}
			}
			break;
		case SHOAL__CTL_FOLDER_REQUEST__OP__ACCEPT_DELETES:
			if (fd)
				fd->accept_deletes = 1;
			break;
		default:
			break;
		}
	}
	if (fd && j->rescan) {
		fd->scan_due = 1;
		cycle_start(fd);
	}
	req_reply(j);
}

void folder_request(struct folders *fs, const Shoal__CtlFolderRequest *req, folder_reply_fn fn,
		    void *arg)
{
	struct req_job *j = calloc(1, sizeof(*j));
	if (!j) {
		fn(arg, -ENOMEM, "out of memory", NULL, NULL);
		return;
	}
	buf_init(&j->text);
	j->fs = fs;
	j->fn = fn;
	j->arg = arg;
	j->op = req->op;
	snprintf(j->path, sizeof(j->path), "%s", req->path ? req->path : "");
	snprintf(j->invite, sizeof(j->invite), "%s", req->invite ? req->invite : "");
	snprintf(j->label, sizeof(j->label), "%s", req->label ? req->label : "");
	snprintf(j->keep, sizeof(j->keep), "%s", req->keep ? req->keep : "");
	j->replicas = req->replicas;
	j->version = req->version;
	enum ops_lane lane = OPS_STORE;
	struct fold *fd;
	switch (j->op) {
	case SHOAL__CTL_FOLDER_REQUEST__OP__CREATE:
	case SHOAL__CTL_FOLDER_REQUEST__OP__JOIN: {
		if (j->path[0] != '/') {
			req_fail(j, SHOAL_EUSAGE, "%s", "the folder's directory must be given");
			goto reply;
		}
		unsigned n = 0;
		LIST_FOREACH(fd, &fs->list, entry)
		{
			if (fd->gone)
				continue;
			n++;
			if (path_under(j->path, fd->f.root) || path_under(fd->f.root, j->path)) {
				req_fail(j, SHOAL_EEXIST,
					 "that directory is inside, or holds, the folder at %s",
					 fd->f.root);
				goto reply;
			}
		}
		if (path_under(j->path, fs->env.home) || path_under(fs->env.home, j->path)) {
			req_fail(j, SHOAL_EUSAGE, "%s",
				 "a folder cannot be in this node's home, nor hold it");
			goto reply;
		}
		if (n >= FOLDER_MAX) {
			req_fail(j, SHOAL_ETOOBIG, "%s",
				 "this node is a member of too many folders");
			goto reply;
		}
		break;
	}
	case SHOAL__CTL_FOLDER_REQUEST__OP__LIST:
	case SHOAL__CTL_FOLDER_REQUEST__OP__STATUS:
	case SHOAL__CTL_FOLDER_REQUEST__OP__CONFLICTS: {
		lane = OPS_READ;
		size_t n = 0;
		LIST_FOREACH(fd, &fs->list, entry) n++;
		j->all = calloc(n ? n : 1, sizeof(*j->all));
		j->up = calloc(n ? n : 1, sizeof(*j->up));
		if (!j->all || !j->up) {
			req_fail(j, -ENOMEM, "%s", "out of memory");
			goto reply;
		}
		fd = j->path[0] ? fold_holding(fs, j->path) : NULL;
		if (j->path[0] && !fd) {
			req_fail(j, SHOAL_ENOTFOUND, "%s is not in a folder of this node", j->path);
			goto reply;
		}
		struct fold *x;
		LIST_FOREACH(x, &fs->list, entry)
		{
			if (x->gone || (fd && x != fd))
				continue;
			struct ups *u = &j->up[j->nall];
			for (size_t i = 0; i < x->nmembers; i++) {
				struct link *l = link_find(fs->env.mesh, x->members[i].link_serial);
				if (l && link_usable(l))
					memcpy(u->ids[u->n++], x->members[i].id, NODE_ID_LEN);
			}
			u->index_in = x->index_in;
			u->index_out = x->index_out;
			u->batches_in = x->batches_in;
			u->refused = x->refused;
			u->fetched = atomic_load(&x->fetched);
			u->journal_seq = x->journal_seq;
			u->from_storage = x->from_storage;
			u->rescans = x->rescans;
			snprintf(u->error, sizeof(u->error), "%s", x->error);
			j->all[j->nall++] = x->f;
		}
		fd = NULL;
		break;
	}
	default: {
		fd = j->path[0] ? fold_holding(fs, j->path) : NULL;
		if (!fd) {
			req_fail(j, SHOAL_ENOTFOUND, "%s is not in a folder of this node",
				 j->path[0] ? j->path : "that");
			goto reply;
		}
		j->fd = fd;
		j->f = fd->f;
		size_t n = strlen(fd->f.root);
		snprintf(j->rel, sizeof(j->rel), "%s", j->path[n] == '/' ? j->path + n + 1 : "");
		int file_op = j->op == SHOAL__CTL_FOLDER_REQUEST__OP__RESOLVE ||
			      j->op == SHOAL__CTL_FOLDER_REQUEST__OP__RESTORE ||
			      j->op == SHOAL__CTL_FOLDER_REQUEST__OP__LOG;
		if (file_op && !j->rel[0]) {
			req_fail(j, SHOAL_EUSAGE, "%s", "give a file inside the folder");
			goto reply;
		}
		if (j->op == SHOAL__CTL_FOLDER_REQUEST__OP__RESOLVE && strcmp(j->keep, "mine") &&
		    strcmp(j->keep, "theirs") && strcmp(j->keep, "both")) {
			req_fail(j, SHOAL_EUSAGE, "%s", "--keep is mine, theirs or both");
			goto reply;
		}
		if (j->op == SHOAL__CTL_FOLDER_REQUEST__OP__LOG)
			lane = OPS_READ;
		if (j->op == SHOAL__CTL_FOLDER_REQUEST__OP__RESCAN) {
			fd->scan_due = 1;
			cycle_start(fd);
			buf_addf(&j->text, "scanning %s\n", fd->f.root);
			j->json = json_pack("{s:s}", "scanning", fd->f.root);
			j->fd = NULL;
			goto reply;
		}
		if (j->op == SHOAL__CTL_FOLDER_REQUEST__OP__RESTORE) {
			j->peers = calloc(MESH_MEMBERS_MAX, sizeof(*j->peers));
			if (j->peers)
				j->npeers =
					mesh_up_ids(fs->env.mesh, j->peers, NULL, MESH_MEMBERS_MAX);
		}
		fd->jobs++;
		break;
	}
	}
	ops_submit(fs->env.ops, lane, &j->job, req_work, req_done);
	return;
reply:
	req_reply(j);
}

/* ---- start and stop ---- */

struct load_acc {
	struct folderdb_folder *v;
	size_t n, cap;
};

static int take_folder(const struct folderdb_folder *f, void *arg)
{
	struct load_acc *a = arg;
	if (a->n == a->cap) {
		size_t cap = a->cap ? 2 * a->cap : 4;
		void *p = realloc(a->v, cap * sizeof(*a->v));
		if (!p)
			return -ENOMEM;
		a->v = p;
		a->cap = cap;
	}
	a->v[a->n++] = *f;
	return 0;
}

int folder_start(struct folders **out, const struct folder_env *env)
{
	struct folders *fs = calloc(1, sizeof(*fs));
	if (!fs)
		return -ENOMEM;
	fs->env = *env;
	LIST_INIT(&fs->list);
	X509 *own = NULL;
	int err = identity_load_home(env->home, &own, &fs->key, &fs->ca);
	if (!err) {
		int len = i2d_X509(own, &fs->cert);
		err = len <= 0 ? SHOAL_EIDENTITY : 0;
		fs->cert_len = len > 0 ? (size_t)len : 0;
	}
	X509_free(own);
	fs->hello_timer = event_new(env->base, -1, EV_PERSIST, on_hello_timer, fs);
	if (!err && !fs->hello_timer)
		err = -ENOMEM;
	/* The folders, read on this thread before the writer starts using the
	 * index: a short read of a few rows. */
	struct load_acc a = {0};
	struct index *ix = NULL;
	if (!err)
		err = store_index_open(env->store, &ix);
	if (!err)
		err = folderdb_foreach(ix, take_folder, &a);
	index_close(ix);
	if (err) {
		log_warnx("folders: cannot start: %s", shoal_strerror(err));
		free(a.v);
		folder_free(fs);
		return err;
	}
	struct timeval tv = {(time_t)FOLDER_HELLO_SECONDS, 0};
	event_add(fs->hello_timer, &tv);
	for (size_t i = 0; i < a.n; i++) {
		if (!fold_add(fs, &a.v[i]))
			err = -ENOMEM;
		OPENSSL_cleanse(&a.v[i], sizeof(a.v[i]));
	}
	free(a.v);
	*out = fs;
	return err;
}

void folder_cancel(struct folders *fs)
{
	if (!fs)
		return;
	fs->cancelled = 1;
	atomic_store(&fs->cancel_work, 1);
	struct fold *fd;
	LIST_FOREACH(fd, &fs->list, entry)
	{
		watch_stop(fd);
		evtimer_del(fd->debounce);
		evtimer_del(fd->periodic);
		evtimer_del(fd->journal);
		evtimer_del(fd->catchup);
	}
}

void folder_free(struct folders *fs)
{
	if (!fs)
		return;
	while (!LIST_EMPTY(&fs->list)) {
		struct fold *fd = LIST_FIRST(&fs->list);
		LIST_REMOVE(fd, entry);
		fold_free(fd);
	}
	if (fs->hello_timer)
		event_free(fs->hello_timer);
	EVP_PKEY_free(fs->key);
	X509_free(fs->ca);
	OPENSSL_free(fs->cert);
	free(fs);
}
