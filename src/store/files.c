/*
 * The put and get pipelines; see files.h. Both keep a ring of slots, each with
 * a buffer big enough for one chunk. The calling thread fills slots in order
 * (reading and chunking for put, walking the manifest for get) and hands them
 * to the worker pool; before reusing a slot it waits for that slot's job, so
 * results are retired in file order and memory stays at nslots chunks. Index
 * work happens only on the calling thread.
 */
#include "store/files.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>

#include "proto/manifest.h"
#include "store/chunker.h"
#include "store/tree.h"
#include "util/error.h"
#include "util/fsutil.h"
#include "util/log.h"

#define READ_BLOCK ((size_t)64 * 1024)
/* Chunk rows per index transaction during a put. */
#define PUT_BATCH      64
#define SLOT_PLAIN_CAP (CHUNK_SIZE_MAX + READ_BLOCK)
#define SLOT_CAP       (SLOT_PLAIN_CAP + CHUNK_TAG_LEN)
/* A directory keeps at most this many refs inline; a bigger tree's go to
 * ChunkLists, so that refs never crowd its listing out of the manifest. */
#define DIR_INLINE_MAX 1024

_Static_assert(CHUNK_MAX == CHUNK_SIZE_MAX, "chunker and manifest agree on the largest chunk");

struct slot {
	struct pool_job job; /* first: the pool hands this back */
	struct store *s;
	uint8_t *buf;
	size_t len;    /* put: plaintext bytes; get: unused */
	uint64_t off;  /* get: where the plaintext goes */
	int out_fd;    /* get: the output file */
	int direct_fd; /* get: the same, opened for direct I/O, or -1 */
	int busy;
	int err;
	int created; /* put: the object was new */
	struct chunk_ref ref;
};

struct ring {
	struct slot *slots;
	size_t n;
};

static int ring_init(struct ring *r, struct store *s, pool_job_fn fn)
{
	r->n = 2 * (size_t)pool_size(s->pool) + 1;
	r->slots = calloc(r->n, sizeof(*r->slots));
	if (!r->slots)
		return -ENOMEM;
	for (size_t i = 0; i < r->n; i++) {
		r->slots[i].s = s;
		r->slots[i].job.fn = fn;
		void *p = NULL;
		if (posix_memalign(&p, OBJECTS_ALIGN, SLOT_CAP))
			return -ENOMEM;
		r->slots[i].buf = p;
	}
	return 0;
}

/* Waits for every job still in flight (after an error) and frees the ring. */
static void ring_release(struct ring *r, struct store *s)
{
	for (size_t i = 0; r->slots && i < r->n; i++) {
		if (r->slots[i].busy)
			pool_wait(s->pool, &r->slots[i].job);
		free(r->slots[i].buf);
	}
	free(r->slots);
	r->slots = NULL;
}

static void slot_submit(struct slot *sl)
{
	sl->busy = 1;
	sl->err = 0;
	pool_submit(sl->s->pool, &sl->job);
}

/* Waits for sl's job; returns its result. */
static int slot_finish(struct slot *sl)
{
	pool_wait(sl->s->pool, &sl->job);
	sl->busy = 0;
	return sl->err;
}

/* ---- put ---- */

struct put {
	struct store *s;
	struct ring ring;
	/* refs not yet placed, inline or in the next ChunkList */
	struct chunk_ref *refs;
	size_t nrefs;
	struct chunk_ref *lists;
	size_t nlists;
	/* Until the manifest id is known, refs rows hang off this random token. */
	uint8_t token[CHUNK_ID_LEN];
	uint64_t size;
	struct progress *progress;
	const struct files_replica_ops *rep;
	/* Chunk rows waiting for the next batch commit. They are kept here, not
	 * in an open transaction, so that no write transaction spans the time
	 * rep->stored() may wait for other nodes (whose answers may wait on
	 * transactions of their own). */
	uint8_t (*created)[CHUNK_ID_LEN]; /* objects this put wrote anew */
	size_t ncreated, created_cap;
	uint8_t rows[PUT_BATCH][CHUNK_ID_LEN];
	uint64_t row_sizes[PUT_BATCH];
	size_t nrows;
	size_t inline_max; /* refs kept inline before they move to ChunkLists */
};

/* Where a put's bytes come from: a file descriptor or a tree's files. */
struct put_source {
	/* Reads up to n (>= 1) bytes into p: the count, 0 at the end, or a
	 * negative error. */
	ssize_t (*read)(void *arg, uint8_t *p, size_t n);
	void *arg;
};

struct fd_source {
	int fd;
	const struct stat *st; /* as the put began */
	struct progress *progress;
};

static ssize_t fd_source_read(void *arg, uint8_t *p, size_t n)
{
	struct fd_source *f = arg;
	for (;;) {
		ssize_t got = read(f->fd, p, n);
		/* At the end of a regular file: was it the same file throughout? */
		if (got == 0 && S_ISREG(f->st->st_mode)) {
			struct stat now;
			if (fstat(f->fd, &now))
				return -errno;
			if (stat_changed(f->st, &now))
				return -EAGAIN;
		}
		if (got >= 0)
			return got;
		if (errno != EINTR || progress_cancelled(f->progress))
			return -errno;
	}
}

/* A tree's files; remembers a failure so that only the reader's own is
 * blamed on the file it was reading. */
struct tree_source {
	struct tree_reader *reader;
	int err;
};

static ssize_t tree_source_read(void *arg, uint8_t *p, size_t n)
{
	struct tree_source *t = arg;
	ssize_t got = tree_reader_read(t->reader, p, n);
	if (got < 0)
		t->err = (int)got;
	return got;
}

static void put_work(struct pool_job *job)
{
	struct slot *sl = (struct slot *)job;
	struct store *s = sl->s;
	seal_key(s->secret, sl->buf, sl->len, sl->ref.key);
	sl->ref.size = (uint32_t)sl->len;
	sl->err = seal_encrypt(sl->ref.key, sl->buf, sl->len, sl->buf, sl->ref.id);
	if (!sl->err)
		sl->err = objects_write(&s->objects, sl->ref.id, sl->buf, sl->len + CHUNK_TAG_LEN,
					OBJECTS_DIRECT | OBJECTS_DEFER, &sl->created);
}

/* Commits the waiting chunk rows in one short transaction (see
 * store_record_chunks(): durable objects first, present under the gc lock; a
 * put that found a chunk already stored may race with garbage collection of
 * it, and then fails rather than the index naming a missing chunk). */
static int put_commit_batch(struct put *p)
{
	int err = store_record_chunks(p->s, p->s->index, p->token,
				      (const uint8_t(*)[CHUNK_ID_LEN])p->rows, p->row_sizes,
				      p->nrows, NULL);
	p->nrows = 0;
	return err;
}

/* Records a stored chunk under the put's token, committed in batches. */
static int put_record(struct put *p, const uint8_t id[CHUNK_ID_LEN], uint64_t stored_size)
{
	memcpy(p->rows[p->nrows], id, CHUNK_ID_LEN);
	p->row_sizes[p->nrows] = stored_size;
	if (++p->nrows == PUT_BATCH)
		return put_commit_batch(p);
	return 0;
}

/* Remembers an object this put wrote, to take it back if the put fails. */
static int put_note_created(struct put *p, const uint8_t id[CHUNK_ID_LEN])
{
	if (p->ncreated == p->created_cap) {
		size_t cap = p->created_cap ? 2 * p->created_cap : 64;
		void *q = realloc(p->created, cap * sizeof(*p->created));
		if (!q)
			return -ENOMEM;
		p->created = q;
		p->created_cap = cap;
	}
	memcpy(p->created[p->ncreated++], id, CHUNK_ID_LEN);
	return 0;
}

/* Encrypts and stores plain[0..n) (n <= CHUNK_SIZE_MAX) on this thread, filling ref.
 * Used for the manifest and ChunkLists, which are few. */
static int put_small(struct put *p, const uint8_t *plain, size_t n, struct chunk_ref *ref)
{
	int created = 0;
	uint8_t *sealed = malloc(n + CHUNK_TAG_LEN);
	if (!sealed)
		return -ENOMEM;
	seal_key(p->s->secret, plain, n, ref->key);
	ref->size = (uint32_t)n;
	int err = seal_encrypt(ref->key, plain, n, sealed, ref->id);
	if (!err)
		err = objects_write(&p->s->objects, ref->id, sealed, n + CHUNK_TAG_LEN, 0,
				    &created);
	if (!err && created)
		err = put_note_created(p, ref->id);
	if (!err)
		err = put_record(p, ref->id, n + CHUNK_TAG_LEN);
	if (!err && p->rep)
		err = p->rep->stored(p->rep->arg, ref->id, sealed, n + CHUNK_TAG_LEN);
	free(sealed);
	return err;
}

/* Moves the pending refs into a ChunkList chunk. */
static int put_flush_list(struct put *p)
{
	if (p->nlists == MANIFEST_LISTS_MAX)
		return SHOAL_ETOOBIG;
	struct buf plain = BUF_INIT;
	int err = chunklist_encode(p->refs, p->nrefs, &plain);
	if (!err)
		err = put_small(p, plain.data, plain.len, &p->lists[p->nlists]);
	buf_release(&plain);
	if (err)
		return err;
	p->nlists++;
	p->nrefs = 0;
	return 0;
}

static int put_retire(struct put *p, struct slot *sl)
{
	int err = slot_finish(sl);
	if (!err && sl->created)
		err = put_note_created(p, sl->ref.id);
	if (err)
		return err;
	err = put_record(p, sl->ref.id, sl->len + CHUNK_TAG_LEN);
	if (!err && p->rep)
		err = p->rep->stored(p->rep->arg, sl->ref.id, sl->buf, sl->len + CHUNK_TAG_LEN);
	if (err)
		return err;
	if (p->nrefs == (p->nlists ? CHUNKLIST_MAX : p->inline_max)) {
		err = put_flush_list(p);
		if (err)
			return err;
	}
	p->refs[p->nrefs++] = sl->ref;
	p->size += sl->len;
	if (p->progress)
		progress_add(p->progress, sl->len);
	return 0;
}

/* Reads and chunks src, keeping the workers busy; returns once every chunk is
 * retired. */
static int put_chunks(struct put *p, const struct put_source *src)
{
	struct ring *r = &p->ring;
	struct chunker ch;
	chunker_reset(&ch);
	size_t cur = 0;
	struct slot *sl = &r->slots[cur];
	sl->len = 0;
	int eof = 0, err = 0;
	for (;;) {
		size_t cut;
		while (!(cut = chunker_find(&ch, sl->buf, sl->len, eof)) && !eof) {
			size_t room = SLOT_PLAIN_CAP - sl->len;
			ssize_t got = src->read(src->arg, sl->buf + sl->len,
						room < READ_BLOCK ? room : READ_BLOCK);
			if (got < 0)
				return (int)got;
			if (got == 0)
				eof = 1;
			sl->len += (size_t)got;
		}
		if (cut == 0)
			break;
		if (progress_cancelled(p->progress))
			return -EINTR;
		struct slot *next = &r->slots[(cur + 1) % r->n];
		if (next->busy && (err = put_retire(p, next)))
			return err;
		/* The bytes past the cut start the next chunk; copy them out before
		 * the in-place encryption overwrites them with the tag. */
		next->len = sl->len - cut;
		memcpy(next->buf, sl->buf + cut, next->len);
		sl->len = cut;
		slot_submit(sl);
		chunker_reset(&ch);
		cur = (cur + 1) % r->n;
		sl = next;
	}
	for (size_t i = 1; i < r->n; i++) {
		struct slot *older = &r->slots[(cur + i) % r->n];
		if (older->busy && (err = put_retire(p, older)))
			return err;
	}
	return 0;
}

/* Writes the manifest (a directory's when entries is not NULL) and fills
 * cap. */
static int put_manifest(struct put *p, const struct stat *st, const struct tree_scan *entries,
			struct capability *cap)
{
	if (p->nlists && p->nrefs) {
		int err = put_flush_list(p);
		if (err)
			return err;
	}
	struct manifest m = {
		.kind = entries ? MANIFEST_DIRECTORY : MANIFEST_FILE,
		.size = p->size,
		.mode = (uint32_t)(st->st_mode & 07777),
		.mtime = (int64_t)st->st_mtime,
		.entries = entries ? entries->entries : NULL,
		.nentries = entries ? entries->nentries : 0,
	};
	if (p->nlists) {
		m.lists = p->lists;
		m.nlists = p->nlists;
	} else {
		m.chunks = p->refs;
		m.nchunks = p->nrefs;
	}
	struct buf plain = BUF_INIT;
	struct chunk_ref ref;
	int err = manifest_encode(&m, &plain);
	if (!err)
		err = put_small(p, plain.data, plain.len, &ref);
	buf_release(&plain);
	if (!err) {
		memcpy(cap->id, ref.id, CHUNK_ID_LEN);
		memcpy(cap->key, ref.key, CHUNK_KEY_LEN);
	}
	return err;
}

/* Binds name to the stored file, releasing the token and whatever an earlier
 * binding of the name alone needed. */
static int put_bind(struct put *p, const char *name, const struct capability *cap)
{
	struct store *s = p->s;
	struct index_name n = {.size = p->size, .created = (int64_t)time(NULL)};
	snprintf(n.name, sizeof(n.name), "%s", name);
	capability_format(cap, n.cap);
	memcpy(n.manifest, cap->id, CHUNK_ID_LEN);
	int err = index_begin(s->index);
	if (err)
		return err;
	err = index_refs_move(s->index, p->token, cap->id);
	if (!err)
		err = index_pending_set(s->index, p->token, 0);
	if (!err)
		err = index_name_set(s->index, &n);
	if (err) {
		index_rollback(s->index);
		return err;
	}
	return store_commit_releasing(s);
}

/* After a failure: drops the open batch and the token, releasing what only
 * this put stored. Objects written but never recorded may remain; the store is
 * marked so the next open reconciles them away. */
static void put_abandon(struct put *p)
{
	struct store *s = p->s;
	p->nrows = 0;
	s->unclean = 1;
	if (index_begin(s->index))
		return;
	if (index_pending_set(s->index, p->token, 0)) {
		index_rollback(s->index);
		return;
	}
	store_commit_releasing(s);
	/* Objects this put wrote that no row names (never recorded, or released
	 * just now) go at once rather than at the next open. */
	pthread_mutex_lock(&s->gc_lock);
	for (size_t i = 0; i < p->ncreated; i++) {
		if (index_chunk_has(s->index, p->created[i]) == 0)
			objects_delete(&s->objects, p->created[i]);
	}
	objects_sync(&s->objects);
	pthread_mutex_unlock(&s->gc_lock);
}

int files_put(struct store *s, int fd, const char *name, struct progress *progress,
	      struct capability *cap, uint64_t *size)
{
	return files_put_replicated(s, fd, name, progress, NULL, cap, size);
}

/*
 * The put pipeline: chunks and stores what src yields, writes the manifest
 * (a directory's when tree is not NULL; st gives its mode and mtime), hands
 * everything to rep and binds name.
 */
static int put_run(struct store *s, const struct put_source *src, const struct stat *st,
		   const struct tree_scan *tree, const char *name, struct progress *progress,
		   const struct files_replica_ops *rep, struct capability *cap, uint64_t *size)
{
	struct put p = {.s = s,
			.progress = progress,
			.rep = rep,
			.inline_max = tree ? DIR_INLINE_MAX : MANIFEST_INLINE_MAX};
	int err = random_bytes(p.token, sizeof(p.token));
	if (err)
		return err;
	p.refs = calloc(MANIFEST_INLINE_MAX, sizeof(*p.refs));
	p.lists = calloc(MANIFEST_LISTS_MAX, sizeof(*p.lists));
	if (!p.refs || !p.lists) {
		err = -ENOMEM;
		goto out;
	}
	err = ring_init(&p.ring, s, put_work);
	if (err)
		goto out;
	/* The token pins what this put stores until its name does. */
	err = index_pending_set(s->index, p.token, 1);
	if (err)
		goto out;
	err = put_chunks(&p, src);
	if (!err)
		err = put_manifest(&p, st, tree, cap);
	if (!err)
		err = put_commit_batch(&p);
	if (rep) {
		/* Always: it waits for what is in flight even after a failure. */
		int e = rep->finish(rep->arg);
		if (!err)
			err = e;
	}
	if (!err)
		err = put_bind(&p, name, cap);
	if (err) {
		put_abandon(&p);
		goto out;
	}
	*size = p.size;
out:
	ring_release(&p.ring, s);
	free(p.refs);
	free(p.lists);
	free(p.created);
	return err;
}

int files_put_replicated(struct store *s, int fd, const char *name, struct progress *progress,
			 const struct files_replica_ops *rep, struct capability *cap,
			 uint64_t *size)
{
	struct stat st;
	if (fstat(fd, &st))
		return -errno;
	if (S_ISDIR(st.st_mode))
		return -EISDIR;
	struct fd_source f = {.fd = fd, .st = &st, .progress = progress};
	struct put_source src = {.read = fd_source_read, .arg = &f};
	return put_run(s, &src, &st, NULL, name, progress, rep, cap, size);
}

/* The most refs a directory manifest of size bytes can carry. */
static size_t dir_refs_max(uint64_t size)
{
	uint64_t chunks = size / CHUNK_MIN + 1;
	if (chunks <= DIR_INLINE_MAX)
		return (size_t)chunks;
	uint64_t lists = (chunks - DIR_INLINE_MAX) / CHUNKLIST_MAX + 2;
	return lists < DIR_INLINE_MAX ? DIR_INLINE_MAX : (size_t)lists;
}

/* files_put_path() of the directory open at fd. */
static int put_tree(struct store *s, int fd, const struct stat *st, const char *name,
		    struct progress *progress, const struct files_replica_ops *rep,
		    struct files_put_report *report, struct capability *cap, uint64_t *size)
{
	struct tree_scan tree;
	struct tree_reader *reader = NULL;
	/* Never the store itself: its files change while the put runs. */
	struct stat home;
	int err = tree_scan(&tree, fd, stat(s->home, &home) ? NULL : &home, progress);
	report->files = tree.files;
	report->dirs = tree.dirs;
	report->skipped = tree.skipped;
	snprintf(report->skipped_path, sizeof(report->skipped_path), "%s", tree.skipped_path);
	if (err) {
		snprintf(report->where, sizeof(report->where), "%s", tree.where);
		goto out;
	}
	/* Fail before reading anything when the listing cannot fit. */
	err = manifest_dir_fits(tree.entries, tree.nentries, tree.size, dir_refs_max(tree.size));
	if (err)
		goto out;
	if (progress)
		progress->total = tree.size;
	err = tree_reader_new(&reader, fd, tree.entries, tree.nentries, progress);
	if (err)
		goto out;
	struct tree_source ts = {.reader = reader};
	struct put_source src = {.read = tree_source_read, .arg = &ts};
	err = put_run(s, &src, st, &tree, name, progress, rep, cap, size);
	if (err && err == ts.err)
		snprintf(report->where, sizeof(report->where), "%s", tree_reader_where(reader));
out:
	tree_reader_free(reader);
	tree_scan_release(&tree);
	return err;
}

/* One try of files_put_path_report(). */
static int put_path_once(struct store *s, const char *path, const char *name,
			 struct progress *progress, const struct files_replica_ops *rep,
			 struct files_put_report *report, struct capability *cap, uint64_t *size)
{
	memset(report, 0, sizeof(*report));
	int fd = open(path, O_RDONLY | O_NOCTTY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	struct stat st;
	int err = fstat(fd, &st) ? -errno : 0;
	if (!err && S_ISDIR(st.st_mode)) {
		err = put_tree(s, fd, &st, name, progress, rep, report, cap, size);
	} else if (!err) {
		if (progress && S_ISREG(st.st_mode) && !progress->total)
			progress->total = (uint64_t)st.st_size;
		err = files_put_replicated(s, fd, name, progress, rep, cap, size);
		report->files = !err;
	}
	close(fd);
	return err;
}

int files_put_path_report(struct store *s, const char *path, const char *name,
			  struct progress *progress, const struct files_replica_ops *rep,
			  struct files_put_report *report, struct capability *cap, uint64_t *size)
{
	struct files_put_report ignored;
	if (!report)
		report = &ignored;
	int err = put_path_once(s, path, name, progress, rep, report, cap, size);
	/* Changed while being read: once more, in case that was one save. */
	if (err == -EAGAIN) {
		log_info("%s changed while being read; reading it again", path);
		if (progress)
			progress->done = 0;
		err = put_path_once(s, path, name, progress, rep, report, cap, size);
	}
	return err;
}

int files_put_path(struct store *s, const char *path, const char *name, struct progress *progress,
		   const struct files_replica_ops *rep, struct capability *cap, uint64_t *size)
{
	return files_put_path_report(s, path, name, progress, rep, NULL, cap, size);
}

void files_put_report_warning(const struct files_put_report *r, char *out, size_t size)
{
	if (!r->skipped) {
		snprintf(out, size, "%s", "");
		return;
	}
	/* The path came from the file system: keep the line printable. */
	char shown[100];
	size_t o = 0;
	const unsigned char *c = (const unsigned char *)r->skipped_path;
	for (; *c && o + 8 < sizeof(shown); c++) {
		if (*c >= 0x20 && *c < 0x7f)
			shown[o++] = (char)*c;
		else
			o += (size_t)snprintf(shown + o, sizeof(shown) - o, "\\x%02x", *c);
	}
	shown[o] = 0;
	snprintf(out, size,
		 "skipped %llu %s that cannot be stored (symbolic links, special files, "
		 "invalid names, the node's home), first '%s%s'",
		 (unsigned long long)r->skipped, r->skipped == 1 ? "entry" : "entries", shown,
		 *c ? "..." : "");
}

/* ---- get ---- */

/* Reads, verifies and decrypts one small chunk (a manifest or ChunkList) on
 * this thread into plain (appending). */
static int get_small(struct store *s, const uint8_t id[CHUNK_ID_LEN],
		     const uint8_t key[CHUNK_KEY_LEN], struct buf *plain,
		     struct files_failure *failed)
{
	uint8_t *stored = malloc(OBJECT_SIZE_MAX);
	if (!stored)
		return -ENOMEM;
	size_t len = 0;
	int err = objects_read(&s->objects, id, stored, OBJECT_SIZE_MAX, 0, &len);
	if (!err && len < CHUNK_TAG_LEN)
		err = SHOAL_ECORRUPT;
	if (!err) {
		buf_grow(plain, len);
		err = seal_decrypt(key, stored, len, plain->data + plain->len);
		if (!err)
			buf_setlen(plain, plain->len + len - CHUNK_TAG_LEN);
	}
	free(stored);
	if (err && failed && !failed->set) {
		memcpy(failed->id, id, CHUNK_ID_LEN);
		failed->set = 1;
	}
	return err;
}

int files_read_manifest(struct store *s, const struct capability *cap, struct manifest *m)
{
	struct buf plain = BUF_INIT;
	int err = get_small(s, cap->id, cap->key, &plain, NULL);
	if (!err)
		err = manifest_decode(m, plain.data, plain.len);
	buf_release(&plain);
	return err;
}

struct get {
	struct store *s;
	struct ring ring;
	size_t next;		  /* slot to fill next */
	uint64_t off;		  /* plaintext offset of the next chunk */
	uint64_t size;		  /* the manifest's file size */
	int out_fd;		  /* a file's output, or -1 */
	int direct_fd;		  /* the same, opened for direct I/O, or -1 */
	struct tree_writer *tree; /* a directory's output, or NULL */
	int broken;		  /* a chunk failed: write nothing more */
	struct progress *progress;
	struct files_failure *failed;
};

/*
 * Writes a decrypted chunk at its offset. The whole blocks inside it go to disk
 * by direct I/O (no page-cache copy, nothing left for the final fsync); that
 * needs memory aligned like the file offset, so the plaintext is first shifted
 * by the offset's remainder. The partial blocks at either end, which it shares
 * with its neighbours, go through the page cache.
 */
static int get_write(struct slot *sl)
{
	size_t size = sl->ref.size;
	uint64_t off = sl->off;
	uint64_t start = (off + OBJECTS_ALIGN - 1) & ~(uint64_t)(OBJECTS_ALIGN - 1);
	uint64_t end = (off + size) & ~(uint64_t)(OBJECTS_ALIGN - 1);
	if (sl->direct_fd < 0 || end <= start)
		return pwrite_in_full(sl->out_fd, sl->buf, size, (off_t)off);
	size_t shift = (size_t)(off % OBJECTS_ALIGN);
	uint8_t *data = sl->buf + shift; /* file offset off is at data[0] */
	memmove(data, sl->buf, size);
	int err = pwrite_in_full(sl->direct_fd, data + (start - off), (size_t)(end - start),
				 (off_t)start);
	if (!err && start > off)
		err = pwrite_in_full(sl->out_fd, data, (size_t)(start - off), (off_t)off);
	if (!err && off + size > end)
		err = pwrite_in_full(sl->out_fd, data + (end - off), (size_t)(off + size - end),
				     (off_t)end);
	return err;
}

static void get_work(struct pool_job *job)
{
	struct slot *sl = (struct slot *)job;
	size_t len = 0;
	sl->err =
		objects_read(&sl->s->objects, sl->ref.id, sl->buf, SLOT_CAP, OBJECTS_DIRECT, &len);
	if (sl->err)
		return;
	/* The bytes are the ones the id names; a size the manifest disagrees with
	 * means the manifest lies. */
	if (len != (size_t)sl->ref.size + CHUNK_TAG_LEN) {
		sl->err = SHOAL_EPROTO;
		return;
	}
	sl->err = seal_decrypt(sl->ref.key, sl->buf, len, sl->buf);
	/* A tree's chunks are written by the calling thread, in order. */
	if (!sl->err && sl->out_fd >= 0)
		sl->err = get_write(sl);
}

static int get_retire(struct get *g, struct slot *sl)
{
	int err = slot_finish(sl);
	if (err && g->failed && !g->failed->set) {
		memcpy(g->failed->id, sl->ref.id, CHUNK_ID_LEN);
		g->failed->set = 1;
	}
	/* Retired in stream order, so each chunk continues where the last
	 * ended; after a failure the stream has a hole and nothing more goes. */
	if (!err && g->tree && !g->broken)
		err = tree_writer_write(g->tree, sl->buf, sl->ref.size);
	if (err)
		g->broken = 1;
	if (!err && g->progress)
		progress_add(g->progress, sl->ref.size);
	return err;
}

/* Queues one chunk, first retiring the slot's previous job. */
static int get_chunk(struct get *g, const struct chunk_ref *ref)
{
	if (ref->size > g->size - g->off)
		return SHOAL_EPROTO;
	if (progress_cancelled(g->progress))
		return -EINTR;
	struct slot *sl = &g->ring.slots[g->next];
	if (sl->busy) {
		int err = get_retire(g, sl);
		if (err)
			return err;
	}
	sl->ref = *ref;
	sl->off = g->off;
	sl->out_fd = g->out_fd;
	sl->direct_fd = g->direct_fd;
	g->off += ref->size;
	g->next = (g->next + 1) % g->ring.n;
	slot_submit(sl);
	return 0;
}

static int get_chunks(struct get *g, const struct manifest *m)
{
	int err = 0;
	for (size_t i = 0; !err && i < m->nchunks; i++)
		err = get_chunk(g, &m->chunks[i]);
	for (size_t l = 0; !err && l < m->nlists; l++) {
		struct buf plain = BUF_INIT;
		struct chunk_ref *refs = NULL;
		size_t count = 0;
		err = get_small(g->s, m->lists[l].id, m->lists[l].key, &plain, g->failed);
		if (!err)
			err = chunklist_decode(plain.data, plain.len, &refs, &count);
		buf_release(&plain);
		for (size_t i = 0; !err && i < count; i++)
			err = get_chunk(g, &refs[i]);
		free(refs);
	}
	for (size_t i = 0; i < g->ring.n; i++) {
		struct slot *sl = &g->ring.slots[(g->next + i) % g->ring.n];
		int e = sl->busy ? get_retire(g, sl) : 0;
		if (!err)
			err = e;
	}
	if (!err && g->off != g->size)
		err = SHOAL_EPROTO;
	return err;
}

/* Makes the finished temp file look like the original and puts it in place
 * (over an existing file only with how->replace). */
static int get_finish(int fd, const struct manifest *m, const struct files_restore *how,
		      const char *tmp, const char *out_path, const char *dir)
{
	struct timespec times[2] = {{.tv_nsec = UTIME_OMIT}, {.tv_sec = m->mtime}};
	if (fchmod(fd, m->mode & how->mode_keep & 07777))
		return -errno;
	if (futimens(fd, times))
		return -errno;
	if (fsync(fd))
		return -errno;
	if (how->replace) {
		struct stat st;
		if (!lstat(out_path, &st) && S_ISDIR(st.st_mode))
			return SHOAL_EEXIST;
		if (rename(tmp, out_path))
			return -errno;
	} else if (renameat2(AT_FDCWD, tmp, AT_FDCWD, out_path, RENAME_NOREPLACE)) {
		if (errno != EINVAL && errno != ENOSYS)
			return errno == EEXIST ? SHOAL_EEXIST : -errno;
		/* A file system without RENAME_NOREPLACE: link, then unlink. */
		if (link(tmp, out_path))
			return errno == EEXIST ? SHOAL_EEXIST : -errno;
		unlink(tmp);
	}
	return fsync_dir(dir);
}

uint32_t files_mode_keep(uint32_t umask, enum files_preserve preserve)
{
	switch (preserve) {
	case FILES_PRESERVE_SETID:
		return 07777;
	case FILES_PRESERVE_MODE:
		return 01777;
	default:
		return 0777 & ~umask;
	}
}

/* files_get() of a directory manifest. */
static int get_tree(struct store *s, const struct manifest *m, const char *out_path,
		    const struct files_restore *how, struct progress *progress,
		    struct files_failure *failed)
{
	struct get g = {.s = s,
			.size = m->size,
			.progress = progress,
			.out_fd = -1,
			.direct_fd = -1,
			.failed = failed};
	if (progress)
		progress->total = m->size;
	int err = tree_writer_new(&g.tree, m, out_path, how->mode_keep);
	if (err)
		return err;
	err = ring_init(&g.ring, s, get_work);
	if (!err)
		err = get_chunks(&g, m);
	ring_release(&g.ring, s);
	if (!err)
		err = tree_writer_finish(g.tree);
	tree_writer_free(g.tree);
	return err;
}

int files_get(struct store *s, const struct capability *cap, const char *out_path,
	      const struct files_restore *how, struct progress *progress,
	      struct files_failure *failed)
{
	static const struct files_restore exact = {.mode_keep = 07777, .replace = 1};
	struct manifest m;
	struct stat st;
	if (failed)
		failed->set = 0;
	if (!how)
		how = &exact;
	/* Refused before any work; the rename checks again. */
	if (!lstat(out_path, &st) && (!how->replace || S_ISDIR(st.st_mode)))
		return SHOAL_EEXIST;
	struct buf plain = BUF_INIT;
	int err = get_small(s, cap->id, cap->key, &plain, failed);
	if (!err)
		err = manifest_decode(&m, plain.data, plain.len);
	buf_release(&plain);
	if (err)
		return err;
	if (m.kind == MANIFEST_DIRECTORY) {
		err = get_tree(s, &m, out_path, how, progress, failed);
		manifest_release(&m);
		return err;
	}
	char dir[PATH_MAX], tmp[PATH_MAX + 64];
	path_dirname(out_path, dir, sizeof(dir));
	struct get g = {.s = s,
			.size = m.size,
			.progress = progress,
			.out_fd = -1,
			.direct_fd = -1,
			.failed = failed};
	g.out_fd = create_temp_file(dir, ".shoal-get-", 0600, tmp, sizeof(tmp));
	if (g.out_fd < 0) {
		err = g.out_fd;
		goto out;
	}
	if (progress)
		progress->total = m.size;
	if (ftruncate(g.out_fd, (off_t)m.size)) {
		err = -errno;
		goto out;
	}
	/* Without direct I/O (tmpfs, say) every write goes through out_fd. */
	g.direct_fd = open(tmp, O_WRONLY | O_DIRECT | O_CLOEXEC);
	err = ring_init(&g.ring, s, get_work);
	if (!err)
		err = get_chunks(&g, &m);
	ring_release(&g.ring, s);
	if (!err)
		err = get_finish(g.out_fd, &m, how, tmp, out_path, dir);
out:
	if (g.direct_fd >= 0)
		close(g.direct_fd);
	if (g.out_fd >= 0) {
		close(g.out_fd);
		if (err)
			unlink(tmp);
	}
	manifest_release(&m);
	return err;
}
