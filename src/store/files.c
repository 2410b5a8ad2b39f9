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
#include "store/located.h"
#include "store/restores.h"
#include "store/reuse.h"
#include "store/tree.h"
#include "util/error.h"
#include "util/fsutil.h"
#include "util/log.h"

#define READ_BLOCK ((size_t)64 * 1024)
/* Chunk rows per index transaction during a put. */
#define PUT_BATCH      64
#define SLOT_PLAIN_CAP (CHUNK_SIZE_MAX + READ_BLOCK)
#define SLOT_CAP       (SLOT_PLAIN_CAP + CHUNK_TAG_LEN)
/* A directory keeps at most this many data refs inline; a bigger tree's go
 * to ChunkLists, leaving the manifest room for its listing refs. */
#define DIR_INLINE_MAX 1024

_Static_assert(CHUNK_MAX == CHUNK_SIZE_MAX, "chunker and manifest agree on the largest chunk");

struct slot {
	struct pool_job job; /* first: the pool hands this back */
	struct store *s;
	const uint8_t *secret; /* put: the convergence secret */
	uint8_t *buf;
	size_t len;    /* put: plaintext bytes; get: unused */
	uint64_t off;  /* get: where the plaintext goes */
	int out_fd;    /* get: the output file */
	int direct_fd; /* get: the same, opened for direct I/O, or -1 */
	int busy;
	int err;
	size_t cap;  /* bytes at buf (the ring's cap) */
	int created; /* put: the object was new */
	int located; /* put: the chunk stays in the file put, not in objects/ */
	int zero;    /* the plaintext is all zeros */
	int reused;  /* no job: ref is a zero chunk already stored or read */
	int prior;   /* no job either: ref is a chunk of the name's previous
		      * version, reused without reading (see reuse.h) */
	struct chunk_ref ref;
};

struct ring {
	struct slot *slots;
	size_t n;
	size_t plain_cap; /* plaintext a slot holds: SLOT_PLAIN_CAP, or less */
	size_t cap;	  /* the slot's buffer, the tag and alignment included */
};

/* The ring's slots hold plain_cap bytes of plaintext (at most
 * SLOT_PLAIN_CAP). A small file's operation asks for less: its buffers
 * then come from the heap, not one mapping each made and unmapped. */
static int ring_init(struct ring *r, struct store *s, pool_job_fn fn, size_t plain_cap)
{
	r->plain_cap = plain_cap < SLOT_PLAIN_CAP ? plain_cap : SLOT_PLAIN_CAP;
	r->cap = objects_align_up(r->plain_cap + CHUNK_TAG_LEN);
	r->n = 2 * (size_t)pool_size(s->pool) + 1;
	r->slots = calloc(r->n, sizeof(*r->slots));
	if (!r->slots)
		return -ENOMEM;
	for (size_t i = 0; i < r->n; i++) {
		r->slots[i].s = s;
		r->slots[i].secret = s->secret;
		r->slots[i].job.fn = fn;
		void *p = NULL;
		if (posix_memalign(&p, OBJECTS_ALIGN, r->cap))
			return -ENOMEM;
		r->slots[i].buf = p;
		r->slots[i].cap = r->cap;
	}
	return 0;
}

/* Waits for every job still in flight (after an error) and frees the ring. */
static void ring_release(struct ring *r, struct store *s)
{
	for (size_t i = 0; r->slots && i < r->n; i++) {
		if (r->slots[i].busy && !r->slots[i].reused)
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
	sl->reused = 0;
	sl->prior = 0;
	pool_submit(sl->s->pool, &sl->job);
}

/* Takes the place of slot_submit() for a chunk of zeros whose ref is known:
 * no work, but retired in order like the others. */
static void slot_reuse(struct slot *sl, const struct chunk_ref *ref)
{
	sl->busy = 1;
	sl->err = 0;
	sl->reused = 1;
	sl->prior = 0;
	sl->zero = 1;
	sl->ref = *ref;
}

/* Waits for sl's job; returns its result. */
static int slot_finish(struct slot *sl)
{
	if (!sl->reused)
		pool_wait(sl->s->pool, &sl->job);
	sl->busy = 0;
	return sl->err;
}

/*
 * Chunks of zeros (a sparse file's holes, or zeros written out) are common
 * and all alike: the same plaintext gives the same ref. A few are
 * remembered per operation, so that the next one costs no encryption and no
 * write on put, and no read on get.
 */
#define ZERO_REFS 4

struct zero_refs {
	struct chunk_ref refs[ZERO_REFS];
	size_t n;
};

/* The remembered ref of size zeros, or NULL. */
static const struct chunk_ref *zero_find(const struct zero_refs *z, uint32_t size)
{
	for (size_t i = 0; i < z->n; i++) {
		if (z->refs[i].size == size)
			return &z->refs[i];
	}
	return NULL;
}

static void zero_note(struct zero_refs *z, const struct chunk_ref *ref)
{
	if (z->n < ZERO_REFS && !zero_find(z, ref->size))
		z->refs[z->n++] = *ref;
}

/* ---- put ---- */

struct put {
	struct store *s;
	const uint8_t *secret;		   /* the convergence secret: the store's, or a folder's */
	const struct files_binder *binder; /* binds the result instead of a name (or NULL) */
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
	/* With binder->located_path: data chunks left in that file, whose
	 * rows wait for the next batch commit too. */
	struct located_row {
		uint8_t id[CHUNK_ID_LEN];
		uint64_t offset;
		uint32_t size;
		uint8_t key[CHUNK_KEY_LEN];
	} lrows[PUT_BATCH];
	size_t nlrows;
	size_t inline_max; /* refs kept inline before they move to ChunkLists */
	struct zero_refs zeros;
	/* A tree's listing: records not yet in a chunk, the chunks so far, and
	 * the listing's rules checked as it grows. */
	int listed;
	struct buf listing;
	struct chunk_ref *listing_refs;
	size_t nlisting, listing_cap;
	struct manifest_listing_check check;
	/* An incremental put: the stretches of the stream taken from the
	 * previous version (NULL: none). */
	const struct reuse_plan *plan;
};

/* Where a put's bytes come from: a file descriptor or a tree's files. */
struct put_source {
	/* Reads up to n (>= 1) bytes into p: the count, 0 at the end, or a
	 * negative error. */
	ssize_t (*read)(void *arg, uint8_t *p, size_t n);
	/* Passes n bytes without reading them (only with a plan): 0 or a
	 * negative error. */
	int (*skip)(void *arg, uint64_t n);
	void *arg;
};

struct fd_source {
	int fd;
	const struct stat *st; /* as the put began */
	struct progress *progress;
	struct sparse_reader sparse; /* a regular file: its holes are not read */
};

static ssize_t fd_source_read(void *arg, uint8_t *p, size_t n)
{
	struct fd_source *f = arg;
	for (;;) {
		ssize_t got =
			S_ISREG(f->st->st_mode) ? sparse_read(&f->sparse, p, n) : read(f->fd, p, n);
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
 * blamed on the file it was reading. put is the put its entries go to. */
struct tree_source {
	struct tree_reader *reader;
	int err;
	struct put *put;
	/* With a plan: the new stream's offset of the next file, the span
	 * whose run is being checked, and the digest of its files so far. */
	const struct reuse_plan *plan;
	uint64_t off;
	size_t run;
	int hashing;
	struct sha256_ctx hash;
};

static ssize_t tree_source_read(void *arg, uint8_t *p, size_t n)
{
	struct tree_source *t = arg;
	ssize_t got = tree_reader_read(t->reader, p, n);
	if (got < 0)
		t->err = (int)got;
	return got;
}

static int tree_source_skip(void *arg, uint64_t n)
{
	struct tree_source *t = arg;
	int err = tree_reader_skip(t->reader, n);
	if (err)
		t->err = err;
	return err;
}

/* Checks the runs of the plan ending at or before upto: the files the walk
 * found in each must be the ones planned (same paths, offsets and stat),
 * else the tree changed since the plan and the put starts over. */
static int tree_source_check_runs(struct tree_source *t, uint64_t upto)
{
	const struct reuse_plan *plan = t->plan;
	while (t->run < plan->nspans) {
		const struct reuse_span *span = &plan->spans[t->run];
		if (span->run_off + span->run_len > upto)
			break;
		uint8_t digest[SHA256_LEN];
		if (!t->hashing && sha256_init(&t->hash))
			return -ENOMEM;
		sha256_final(&t->hash, digest);
		t->hashing = 0;
		t->run++;
		if (memcmp(digest, span->digest, SHA256_LEN))
			return -EAGAIN;
	}
	return 0;
}

/* Adds a walked file to the digest of the run it lies in, if any. */
static int tree_source_note(struct tree_source *t, const struct dir_entry *e)
{
	if (!t->plan || e->kind != MANIFEST_FILE || !e->size)
		return 0;
	uint64_t off = t->off;
	t->off += e->size;
	int err = tree_source_check_runs(t, off);
	if (err || t->run == t->plan->nspans)
		return err;
	const struct reuse_span *span = &t->plan->spans[t->run];
	if (off < span->run_off || off + e->size > span->run_off + span->run_len)
		return 0;
	if (!t->hashing) {
		if (sha256_init(&t->hash))
			return -ENOMEM;
		t->hashing = 1;
	}
	reuse_hash_file(&t->hash, e, off);
	return 0;
}

static void put_work(struct pool_job *job)
{
	struct slot *sl = (struct slot *)job;
	struct store *s = sl->s;
	sl->zero = is_zero(sl->buf, sl->len);
	seal_key(sl->secret, sl->buf, sl->len, sl->ref.key);
	sl->ref.size = (uint32_t)sl->len;
	sl->err = seal_encrypt(sl->ref.key, sl->buf, sl->len, sl->buf, sl->ref.id);
	sl->created = 0;
	if (!sl->err && !sl->located)
		sl->err = objects_write(&s->objects, sl->ref.id, sl->buf, sl->len + CHUNK_TAG_LEN,
					OBJECTS_DIRECT | OBJECTS_DEFER, &sl->created);
}

/* Commits the waiting chunk rows in one short transaction (see
 * store_record_chunks(): durable objects first, present under the gc lock; a
 * put that found a chunk already stored may race with garbage collection of
 * it, and then fails rather than the index naming a missing chunk). */
static int put_commit_located(struct put *p);

static int put_commit_batch(struct put *p)
{
	int err = store_record_chunks(p->s, p->s->index, p->token,
				      (const uint8_t(*)[CHUNK_ID_LEN])p->rows, p->row_sizes,
				      p->nrows, NULL);
	p->nrows = 0;
	return err ? err : put_commit_located(p);
}

/* Commits the waiting located chunks' rows (store/located.h) under the
 * put's token: nothing on disk to wait for, the file is there. */
static int put_commit_located(struct put *p)
{
	if (!p->nlrows)
		return 0;
	struct index *ix = p->s->index;
	struct located loc;
	snprintf(loc.path, sizeof(loc.path), "%s", p->binder->located_path);
	int err = index_begin(ix);
	for (size_t i = 0; !err && i < p->nlrows; i++) {
		const struct located_row *r = &p->lrows[i];
		loc.offset = r->offset;
		loc.size = r->size;
		memcpy(loc.key, r->key, CHUNK_KEY_LEN);
		err = located_set(ix, r->id, &loc);
		if (!err)
			err = index_chunk_add(ix, r->id, (uint64_t)r->size + CHUNK_TAG_LEN);
		if (!err)
			err = index_ref_add(ix, p->token, r->id);
	}
	p->nlrows = 0;
	if (err) {
		index_rollback(ix);
		return err;
	}
	err = index_commit(ix);
	if (err)
		index_rollback(ix);
	return err;
}

/* Notes a data chunk left in the file put, at the stream's offset. */
static int put_locate(struct put *p, const struct slot *sl)
{
	struct located_row *r = &p->lrows[p->nlrows];
	memcpy(r->id, sl->ref.id, CHUNK_ID_LEN);
	r->offset = p->size;
	r->size = (uint32_t)sl->len;
	memcpy(r->key, sl->ref.key, CHUNK_KEY_LEN);
	if (++p->nlrows == PUT_BATCH)
		return put_commit_located(p);
	return 0;
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
	seal_key(p->secret, plain, n, ref->key);
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
	int reused = sl->reused;
	int err = slot_finish(sl);
	if (!err && !reused && sl->created)
		err = put_note_created(p, sl->ref.id);
	if (err)
		return err;
	/* A reused chunk was recorded and handed on when it was first stored.
	 * One of the previous version's is recorded for this version too, so
	 * that garbage collection keeps it; it went to its replicas when that
	 * version was put. */
	if (sl->prior) {
		err = put_record(p, sl->ref.id, (uint64_t)sl->ref.size + CHUNK_TAG_LEN);
		if (err)
			return err;
	} else if (!reused && sl->located) {
		err = put_locate(p, sl);
		if (err)
			return err;
		if (sl->zero)
			zero_note(&p->zeros, &sl->ref);
	} else if (!reused) {
		err = put_record(p, sl->ref.id, sl->len + CHUNK_TAG_LEN);
		if (!err && p->rep)
			err = p->rep->stored(p->rep->arg, sl->ref.id, sl->buf,
					     sl->len + CHUNK_TAG_LEN);
		if (err)
			return err;
		if (sl->zero)
			zero_note(&p->zeros, &sl->ref);
	}
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

/* Puts the refs of span (the previous version's chunks) in the stream
 * after the chunks cut so far, each through a slot of its own so that
 * they retire in order; *cur is the current, empty slot. */
static int put_prior(struct put *p, size_t *cur, const struct reuse_span *span)
{
	struct ring *r = &p->ring;
	for (size_t i = 0; i < span->nrefs; i++) {
		struct slot *sl = &r->slots[*cur];
		struct slot *next = &r->slots[(*cur + 1) % r->n];
		int err;
		if (next->busy && (err = put_retire(p, next)))
			return err;
		sl->busy = 1;
		sl->err = 0;
		sl->reused = 1;
		sl->prior = 1;
		sl->zero = 0;
		sl->ref = p->plan->refs[span->first + i];
		sl->len = sl->ref.size;
		*cur = (*cur + 1) % r->n;
		next->len = 0;
	}
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
	/* With a plan, reading stops where the next span begins: the chunk
	 * being cut ends there, the span's refs follow, and the chunker starts
	 * afresh after its bytes. */
	const struct reuse_span *span = p->plan && p->plan->nspans ? p->plan->spans : NULL;
	const struct reuse_span *spans_end = span ? span + p->plan->nspans : NULL;
	uint64_t pos = 0; /* bytes of the stream read or skipped */
	for (;;) {
		size_t cut;
		int stop;
		while (!(cut = chunker_find(&ch, sl->buf, sl->len,
					    (stop = eof || (span && pos == span->off)))) &&
		       !stop) {
			size_t room = r->plain_cap - sl->len;
			size_t want = room < READ_BLOCK ? room : READ_BLOCK;
			if (span && span->off - pos < want)
				want = (size_t)(span->off - pos);
			ssize_t got = src->read(src->arg, sl->buf + sl->len, want);
			if (got < 0)
				return (int)got;
			if (got == 0)
				eof = 1;
			sl->len += (size_t)got;
			pos += (uint64_t)got;
		}
		if (cut == 0 && !eof) {
			/* At a span, with every byte before it cut. */
			if ((err = put_prior(p, &cur, span)))
				return err;
			sl = &r->slots[cur];
			if ((err = src->skip(src->arg, span->len)))
				return err;
			pos += span->len;
			chunker_reset(&ch);
			if (++span == spans_end)
				span = NULL;
			continue;
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
		const struct chunk_ref *z = zero_find(&p->zeros, (uint32_t)cut);
		if (z && is_zero(sl->buf, cut))
			slot_reuse(sl, z);
		else
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
	/* The stream ended before a span: the tree changed since the plan. */
	return span ? -EAGAIN : 0;
}

/* Stores the listing records gathered so far as one listing chunk. */
static int put_flush_listing(struct put *p)
{
	if (p->nlisting == MANIFEST_LISTS_MAX)
		return SHOAL_ETOOBIG;
	if (p->nlisting == p->listing_cap) {
		size_t cap = p->listing_cap ? 2 * p->listing_cap : 64;
		void *q = realloc(p->listing_refs, cap * sizeof(*p->listing_refs));
		if (!q)
			return -ENOMEM;
		p->listing_refs = q;
		p->listing_cap = cap;
	}
	int err = put_small(p, p->listing.data, p->listing.len, &p->listing_refs[p->nlisting]);
	if (err)
		return err;
	p->nlisting++;
	buf_setlen(&p->listing, 0);
	return 0;
}

/* Listing chunks are cut at record boundaries chosen by content (a record
 * whose hash has its low bits clear, once LISTING_MIN bytes are gathered),
 * so that an unchanged stretch of a tree yields the same chunks next time,
 * and always before MANIFEST_LISTING_CHUNK_MAX. */
#define LISTING_MIN  ((size_t)256 * 1024)
#define LISTING_MASK 1023u

/* Adds a tree entry to the put's listing. */
static int put_listing_add(struct put *p, const struct dir_entry *e)
{
	size_t old = p->listing.len;
	int err = manifest_record_encode(e, &p->listing);
	if (!err)
		err = manifest_listing_check(&p->check, e);
	if (err)
		return err;
	uint32_t h = 2166136261u; /* FNV-1a of the record */
	for (size_t i = old; i < p->listing.len; i++)
		h = (h ^ p->listing.data[i]) * 16777619u;
	if ((p->listing.len >= LISTING_MIN && !(h & LISTING_MASK)) ||
	    p->listing.len + MANIFEST_RECORD_MAX + 8 > MANIFEST_LISTING_CHUNK_MAX)
		return put_flush_listing(p);
	return 0;
}

static int tree_source_entry(void *arg, const struct dir_entry *e)
{
	struct tree_source *t = arg;
	int err = put_listing_add(t->put, e);
	return err ? err : tree_source_note(t, e);
}

/* Writes the manifest (a directory's, with its listing, when p->listed) and
 * fills cap. */
static int put_manifest(struct put *p, const struct stat *st, struct capability *cap)
{
	if (p->nlists && p->nrefs) {
		int err = put_flush_list(p);
		if (err)
			return err;
	}
	if (p->listed && p->listing.len) {
		int err = put_flush_listing(p);
		if (err)
			return err;
	}
	struct manifest m = {
		.version = p->listed ? MANIFEST_VERSION_LISTED : MANIFEST_VERSION,
		.kind = p->listed ? MANIFEST_DIRECTORY : MANIFEST_FILE,
		.size = p->size,
		.mode = (uint32_t)(st->st_mode & 07777),
		.mtime = (int64_t)st->st_mtime,
		.mtime_ns = (uint32_t)st->st_mtim.tv_nsec,
		.listing = p->listing_refs,
		.nlisting = p->nlisting,
		.entry_count = p->check.count,
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

/* Binds name to the stored file (a new version of it, unless the newest
 * is this file already), releasing the token; with keeper instead of a
 * name, keeper pins the manifest (files_put_kept()). */
static int put_bind(struct put *p, const char *name, const uint8_t *keeper,
		    const struct capability *cap)
{
	struct store *s = p->s;
	struct index_name n = {.size = p->size, .created = (int64_t)time(NULL)};
	snprintf(n.name, sizeof(n.name), "%s", name ? name : "");
	capability_format(cap, n.cap);
	memcpy(n.manifest, cap->id, CHUNK_ID_LEN);
	int err = index_begin(s->index);
	if (err)
		return err;
	err = index_refs_move(s->index, p->token, cap->id);
	if (!err)
		err = index_pending_set(s->index, p->token, 0);
	if (!err && p->binder)
		err = p->binder->bind(p->binder->arg, s->index, cap, p->size);
	else if (!err)
		err = keeper ? index_pin_add(s->index, cap->id, keeper)
			     : index_name_set(s->index, &n, NULL, NULL);
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
	p->nlrows = 0;
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
 * (a directory's when tree is not NULL: its entries reach the put through
 * tree->put; st gives its mode and mtime), hands everything to rep and binds
 * name.
 */
static int put_run(struct store *s, const struct put_source *src, const struct stat *st,
		   struct tree_source *tree, const char *name, const uint8_t *keeper,
		   const struct files_binder *binder, struct progress *progress,
		   const struct files_replica_ops *rep, struct capability *cap, uint64_t *size)
{
	struct put p = {.s = s,
			.secret = binder && binder->secret ? binder->secret : s->secret,
			.binder = binder,
			.progress = progress,
			.rep = rep,
			.listed = tree != NULL,
			.plan = tree ? tree->plan : NULL,
			.inline_max = tree ? DIR_INLINE_MAX : MANIFEST_INLINE_MAX};
	if (tree)
		tree->put = &p;
	int err = random_bytes(p.token, sizeof(p.token));
	if (err)
		return err;
	p.refs = calloc(MANIFEST_INLINE_MAX, sizeof(*p.refs));
	p.lists = calloc(MANIFEST_LISTS_MAX, sizeof(*p.lists));
	if (!p.refs || !p.lists) {
		err = -ENOMEM;
		goto out;
	}
	/* A regular file smaller than a chunk needs no more room than itself
	 * and a read's worth. Should it grow meanwhile, its put ends where the
	 * room does, and the caller's check of the file after reading (size,
	 * mtime, ctime) finds it changed. */
	size_t plain_cap = SLOT_PLAIN_CAP;
	if (!tree && st && S_ISREG(st->st_mode) && (uint64_t)st->st_size < CHUNK_SIZE_MAX)
		plain_cap = (size_t)st->st_size + READ_BLOCK;
	err = ring_init(&p.ring, s, put_work, plain_cap);
	if (err)
		goto out;
	for (size_t i = 0; i < p.ring.n; i++) {
		p.ring.slots[i].secret = p.secret;
		p.ring.slots[i].located = binder && binder->located_path;
	}
	/* The token pins what this put stores until its name does. */
	err = index_pending_set(s->index, p.token, 1);
	if (err)
		goto out;
	err = put_chunks(&p, src);
	/* The runs ending with the stream are checked only now. */
	if (!err && tree && tree->plan)
		err = tree_source_check_runs(tree, UINT64_MAX);
	if (!err)
		err = put_manifest(&p, st, cap);
	if (!err)
		err = put_commit_batch(&p);
	if (rep) {
		/* Always: it waits for what is in flight even after a failure. */
		int e = rep->finish(rep->arg);
		if (!err)
			err = e;
	}
	if (!err)
		err = put_bind(&p, name, keeper, cap);
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
	free(p.listing_refs);
	buf_release(&p.listing);
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
	if (S_ISREG(st.st_mode)) {
		off_t at = lseek(fd, 0, SEEK_CUR);
		sparse_reader_init(&f.sparse, fd, at > 0 ? (uint64_t)at : 0, (uint64_t)st.st_size);
	}
	struct put_source src = {.read = fd_source_read, .arg = &f};
	return put_run(s, &src, &st, NULL, name, NULL, NULL, progress, rep, cap, size);
}

int files_put_kept(struct store *s, int fd, const uint8_t keeper[32], struct progress *progress,
		   const struct files_replica_ops *rep, struct capability *cap, uint64_t *size)
{
	struct stat st;
	if (fstat(fd, &st))
		return -errno;
	if (!S_ISREG(st.st_mode))
		return -EINVAL;
	struct fd_source f = {.fd = fd, .st = &st, .progress = progress};
	sparse_reader_init(&f.sparse, fd, 0, (uint64_t)st.st_size);
	struct put_source src = {.read = fd_source_read, .arg = &f};
	return put_run(s, &src, &st, NULL, NULL, keeper, NULL, progress, rep, cap, size);
}

int files_put_bound(struct store *s, int fd, const struct files_binder *binder,
		    struct capability *cap, uint64_t *size)
{
	struct stat st;
	if (fstat(fd, &st))
		return -errno;
	if (!S_ISREG(st.st_mode))
		return -EINVAL;
	struct fd_source f = {.fd = fd, .st = &st};
	sparse_reader_init(&f.sparse, fd, 0, (uint64_t)st.st_size);
	struct put_source src = {.read = fd_source_read, .arg = &f};
	return put_run(s, &src, &st, NULL, NULL, NULL, binder, NULL, NULL, cap, size);
}

static void report_stats(struct files_put_report *report, const struct tree_stats *t)
{
	report->files = t->files;
	report->dirs = t->dirs;
	report->links = t->links;
	report->skipped = t->skipped;
	snprintf(report->skipped_path, sizeof(report->skipped_path), "%s", t->skipped_path);
}

/* Walks the tree at fd once without reading any file: the total size for
 * progress, and a tree too deep or with too long a path fails before any
 * data is read. */
static int get_small(struct store *s, const uint8_t id[CHUNK_ID_LEN],
		     const uint8_t key[CHUNK_KEY_LEN], struct buf *plain,
		     struct files_failure *failed);

/* The previous version of a name, for an incremental put: its manifest,
 * its listing being merged, and its data refs read one ChunkList at a
 * time. */
struct prior {
	struct store *s;
	struct manifest m;
	struct files_listing *listing;
	struct dir_entry e; /* the listing's current entry, when have */
	int have;
	size_t next;		/* inline: the next ref; else the next ChunkList */
	struct chunk_ref *list; /* the current ChunkList's refs */
	size_t nlist, at;
};

static int prior_next_ref(void *arg, struct chunk_ref *ref)
{
	struct prior *pr = arg;
	if (!pr->m.nlists) {
		if (pr->next == pr->m.nchunks)
			return 1;
		*ref = pr->m.chunks[pr->next++];
		return 0;
	}
	while (pr->at == pr->nlist) {
		if (pr->next == pr->m.nlists)
			return 1;
		struct buf plain = BUF_INIT;
		const struct chunk_ref *l = &pr->m.lists[pr->next++];
		int err = get_small(pr->s, l->id, l->key, &plain, NULL);
		free(pr->list);
		pr->list = NULL;
		pr->nlist = pr->at = 0;
		if (!err)
			err = chunklist_decode(plain.data, plain.len, &pr->list, &pr->nlist);
		buf_release(&plain);
		if (err)
			return err;
	}
	*ref = pr->list[pr->at++];
	return 0;
}

static int prior_present(void *arg, const struct chunk_ref *ref)
{
	struct prior *pr = arg;
	return objects_exists(&pr->s->objects, ref->id);
}

static int prior_advance(struct prior *pr)
{
	int err = files_listing_next(pr->listing, &pr->e);
	pr->have = err == 0;
	return err < 0 ? err : 0;
}

/* Opens name's newest version when it is a streamed tree; 1 when there is
 * none to compare with. */
static int prior_open(struct prior *pr, struct store *s, const char *name)
{
	pr->s = s;
	struct index_name n;
	struct capability cap;
	int err = index_name_get(s->index, name, &n);
	if (err)
		return err == SHOAL_ENOTFOUND ? 1 : err;
	if (capability_parse(&cap, n.cap) || files_read_manifest(s, &cap, &pr->m))
		return 1;
	if (pr->m.kind != MANIFEST_DIRECTORY || pr->m.version != MANIFEST_VERSION_LISTED ||
	    files_listing_open(&pr->listing, s, &pr->m, NULL))
		return 1;
	return prior_advance(pr) ? 1 : 0;
}

static void prior_close(struct prior *pr)
{
	files_listing_free(pr->listing);
	manifest_release(&pr->m);
	free(pr->list);
}

/* One entry of the survey's merge-walk: the previous entries before it in
 * listing order, then it (beside the previous one at its path, if any). */
static int survey_merge(struct prior *pr, struct reuse_plan *plan, const struct dir_entry *e)
{
	int cmp = -1, err = 0;
	while (!err && pr->have && (cmp = reuse_path_cmp(pr->e.path, e->path)) < 0) {
		err = reuse_plan_step(plan, &pr->e, NULL);
		if (!err)
			err = prior_advance(pr);
	}
	if (err)
		return err;
	if (pr->have && cmp == 0) {
		err = reuse_plan_step(plan, &pr->e, e);
		return err ? err : prior_advance(pr);
	}
	return reuse_plan_step(plan, NULL, e);
}

/* Walks the tree at fd once without reading any file: the total size for
 * progress, and a tree too deep or with too long a path fails before any
 * data is read. With plan (else NULL), also merges the walk with the
 * listing of name's newest version to plan what is reused; a previous
 * version that cannot be read only leaves the plan empty. */
static int put_tree_survey(struct store *s, int fd, const struct stat *exclude, const char *name,
			   struct reuse_plan *plan, struct progress *progress,
			   struct files_put_report *report, uint64_t *total)
{
	struct tree_walk *walk;
	struct prior pr = {0};
	int err = tree_walk_new(&walk, fd, exclude, progress);
	if (err)
		return err;
	if (plan && prior_open(&pr, s, name)) {
		prior_close(&pr);
		memset(&pr, 0, sizeof(pr));
		plan = NULL;
	}
	if (plan)
		reuse_plan_init(plan, prior_next_ref, prior_present, &pr);
	struct dir_entry e;
	while (!(err = tree_walk_next(walk, &e))) {
		if (plan && survey_merge(&pr, plan, &e)) {
			/* Read everything rather than fail over the old version. */
			reuse_plan_release(plan);
			plan = NULL;
		}
	}
	if (err == 1 && plan && reuse_plan_end(plan))
		reuse_plan_release(plan);
	if (pr.s)
		prior_close(&pr);
	const struct tree_stats *t = tree_walk_stats(walk);
	report_stats(report, t);
	snprintf(report->where, sizeof(report->where), "%s", t->where);
	*total = t->size;
	tree_walk_free(walk);
	return err == 1 ? 0 : err;
}

/* files_put_path() of the directory open at fd: one walk that lists each
 * entry into the manifest's listing as it reads the files' contents. */
static int put_tree(struct store *s, int fd, const struct stat *st, const char *name,
		    struct progress *progress, const struct files_replica_ops *rep,
		    struct files_put_report *report, struct capability *cap, uint64_t *size)
{
	struct tree_walk *walk = NULL;
	struct tree_reader *reader = NULL;
	/* Never the store itself: its files change while the put runs. */
	struct stat home;
	const struct stat *exclude = stat(s->home, &home) ? NULL : &home;
	uint64_t total = 0;
	struct reuse_plan plan = {0};
	struct tree_source ts = {.plan = &plan};
	int err = put_tree_survey(s, fd, exclude, name, report->full ? NULL : &plan, progress,
				  report, &total);
	if (err)
		goto out;
	if (progress)
		progress->total = total;
	err = tree_walk_new(&walk, fd, exclude, progress);
	if (!err)
		err = tree_reader_new(&reader, walk, tree_source_entry, &ts, progress);
	if (err)
		goto out;
	ts.reader = reader;
	struct put_source src = {.read = tree_source_read, .skip = tree_source_skip, .arg = &ts};
	err = put_run(s, &src, st, &ts, name, NULL, NULL, progress, rep, cap, size);
	report_stats(report, tree_walk_stats(walk));
	if (!err) {
		report->reused = plan.files;
		report->reused_bytes = plan.bytes;
	}
	if (err && err == ts.err)
		snprintf(report->where, sizeof(report->where), "%s", tree_reader_where(reader));
out:
	if (ts.hashing)
		sha256_release(&ts.hash);
	reuse_plan_release(&plan);
	tree_reader_free(reader);
	tree_walk_free(walk);
	return err;
}

/* One try of files_put_path_report(). */
static int put_path_once(struct store *s, const char *path, const char *name,
			 struct progress *progress, const struct files_replica_ops *rep,
			 struct files_put_report *report, struct capability *cap, uint64_t *size)
{
	int full = report->full;
	memset(report, 0, sizeof(*report));
	report->full = full;
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
	struct files_put_report ignored = {0};
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
		 "skipped %llu %s that cannot be stored (sockets, devices, invalid names, "
		 "the node's home), first '%s%s'",
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
	uint8_t *stored = NULL;
	size_t len = 0;
	int err = objects_read_alloc(&s->objects, id, 0, &stored, &len);
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

/* files_read_manifest(), naming a bad chunk in failed (may be NULL). */
static int read_manifest(struct store *s, const struct capability *cap, struct manifest *m,
			 struct files_failure *failed)
{
	struct buf plain = BUF_INIT;
	int err = get_small(s, cap->id, cap->key, &plain, failed);
	if (!err)
		err = manifest_decode(m, plain.data, plain.len);
	buf_release(&plain);
	return err;
}

int files_read_manifest(struct store *s, const struct capability *cap, struct manifest *m)
{
	return read_manifest(s, cap, m, NULL);
}

int files_summarize(struct store *s, const struct capability *cap, struct files_summary *out)
{
	struct manifest m;
	int err = files_read_manifest(s, cap, &m);
	if (err)
		return err;
	*out = (struct files_summary){.directory = m.kind == MANIFEST_DIRECTORY,
				      .size = m.size,
				      .files = m.kind == MANIFEST_DIRECTORY ? 0 : 1};
	/* Inline entries, or a version 2 listing read chunk by chunk. */
	struct files_listing *ls = NULL;
	if (m.kind == MANIFEST_DIRECTORY)
		err = files_listing_open(&ls, s, &m, NULL);
	struct dir_entry e;
	while (ls && !err && !(err = files_listing_next(ls, &e))) {
		if (e.kind == MANIFEST_DIRECTORY)
			out->dirs++;
		else if (e.kind == MANIFEST_FILE)
			out->files++;
	}
	if (err == 1)
		err = 0;
	files_listing_free(ls);
	manifest_release(&m);
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
	struct zero_refs zeros; /* chunks read that were all zeros */
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
	/* The file was cut to its size: blocks of zeros stay holes. */
	if (sl->direct_fd < 0 || end <= start)
		return pwrite_sparse(sl->out_fd, sl->buf, size, (off_t)off);
	size_t shift = (size_t)(off % OBJECTS_ALIGN);
	uint8_t *data = sl->buf + shift; /* file offset off is at data[0] */
	memmove(data, sl->buf, size);
	int err = pwrite_sparse(sl->direct_fd, data + (start - off), (size_t)(end - start),
				(off_t)start);
	if (!err && start > off)
		err = pwrite_sparse(sl->out_fd, data, (size_t)(start - off), (off_t)off);
	if (!err && off + size > end)
		err = pwrite_sparse(sl->out_fd, data + (end - off), (size_t)(off + size - end),
				    (off_t)end);
	return err;
}

static void get_work(struct pool_job *job)
{
	struct slot *sl = (struct slot *)job;
	size_t len = 0;
	sl->err = store_read_object(sl->s, sl->ref.id, sl->buf, sl->cap, OBJECTS_DIRECT, &len);
	if (sl->err)
		return;
	/* The bytes are the ones the id names; a size the manifest disagrees with
	 * means the manifest lies. */
	if (len != (size_t)sl->ref.size + CHUNK_TAG_LEN) {
		sl->err = SHOAL_EPROTO;
		return;
	}
	sl->err = seal_decrypt(sl->ref.key, sl->buf, len, sl->buf);
	sl->zero = !sl->err && is_zero(sl->buf, sl->ref.size);
	/* A tree's chunks are written by the calling thread, in order; a
	 * file's zeros are its holes already. */
	if (!sl->err && sl->out_fd >= 0 && !sl->zero)
		sl->err = get_write(sl);
}

static int get_retire(struct get *g, struct slot *sl)
{
	int reused = sl->reused;
	int err = slot_finish(sl);
	if (err && g->failed && !g->failed->set) {
		memcpy(g->failed->id, sl->ref.id, CHUNK_ID_LEN);
		g->failed->set = 1;
	}
	if (!err && sl->zero && !reused)
		zero_note(&g->zeros, &sl->ref);
	/* Retired in stream order, so each chunk continues where the last
	 * ended; after a failure the stream has a hole and nothing more goes. */
	if (!err && g->tree && !g->broken && sl->zero)
		err = tree_writer_zeros(g->tree, sl->ref.size);
	else if (!err && g->tree && !g->broken)
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
	sl->off = g->off;
	sl->out_fd = g->out_fd;
	sl->direct_fd = g->direct_fd;
	g->off += ref->size;
	g->next = (g->next + 1) % g->ring.n;
	/* The very chunk (id and key) read before as zeros is zeros again. */
	const struct chunk_ref *z = zero_find(&g->zeros, ref->size);
	if (z && !memcmp(z->id, ref->id, CHUNK_ID_LEN) &&
	    !memcmp(z->key, ref->key, CHUNK_KEY_LEN)) {
		slot_reuse(sl, ref);
		return 0;
	}
	sl->ref = *ref;
	slot_submit(sl);
	return 0;
}

/* Calls fn for each data chunk of file manifest m, in order, with the
 * offset of its plaintext, until fn returns non-zero (returned): the inline
 * refs, then each ChunkList, read one at a time. */
static int walk_data_refs(struct store *s, const struct manifest *m, files_ref_fn fn, void *arg,
			  struct files_failure *failed)
{
	int err = 0;
	uint64_t off = 0;
	for (size_t i = 0; !err && i < m->nchunks; off += m->chunks[i].size, i++)
		err = fn(&m->chunks[i], off, arg);
	for (size_t l = 0; !err && l < m->nlists; l++) {
		struct buf plain = BUF_INIT;
		struct chunk_ref *refs = NULL;
		size_t count = 0;
		err = get_small(s, m->lists[l].id, m->lists[l].key, &plain, failed);
		if (!err)
			err = chunklist_decode(plain.data, plain.len, &refs, &count);
		buf_release(&plain);
		for (size_t i = 0; !err && i < count; off += refs[i].size, i++)
			err = fn(&refs[i], off, arg);
		free(refs);
	}
	return err;
}

static int get_chunk_ref(const struct chunk_ref *ref, uint64_t offset, void *arg)
{
	(void)offset; /* get_chunk() keeps its own */
	return get_chunk(arg, ref);
}

static int get_chunks(struct get *g, const struct manifest *m)
{
	int err = walk_data_refs(g->s, m, get_chunk_ref, g, g->failed);
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
 * (over an existing one only with how->replace). */
static int get_finish(int fd, const struct manifest *m, const struct files_restore *how,
		      struct restore_temp *tmp, const char *out_path)
{
	struct timespec times[2] = {{.tv_nsec = UTIME_OMIT},
				    {.tv_sec = m->mtime, .tv_nsec = m->mtime_ns}};
	if (fchmod(fd, m->mode & how->mode_keep & 07777))
		return -errno;
	if (futimens(fd, times))
		return -errno;
	if (fsync(fd))
		return -errno;
	return restore_temp_install(tmp, out_path, how->replace);
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

/* A directory manifest's entries: inline (version 1), or read one listing
 * chunk at a time and checked record by record (version 2). */
struct files_listing {
	struct store *s;
	const struct manifest *m;
	struct files_failure *failed;
	size_t next;  /* version 1: the next entry */
	size_t chunk; /* version 2: the next listing chunk */
	struct buf plain;
	size_t pos;
	struct manifest_listing_check check;
	struct manifest_record_store store;
};

int files_listing_open(struct files_listing **out, struct store *s, const struct manifest *m,
		       struct files_failure *failed)
{
	if (m->kind != MANIFEST_DIRECTORY)
		return SHOAL_EPROTO;
	struct files_listing *l = calloc(1, sizeof(*l));
	if (!l)
		return -ENOMEM;
	l->s = s;
	l->m = m;
	l->failed = failed;
	manifest_listing_check_init(&l->check);
	*out = l;
	return 0;
}

int files_listing_next(struct files_listing *l, struct dir_entry *e)
{
	if (l->m->version != MANIFEST_VERSION_LISTED) {
		if (l->next == l->m->nentries)
			return 1;
		*e = l->m->entries[l->next++];
		return 0;
	}
	while (l->pos == l->plain.len) {
		if (l->chunk == l->m->nlisting) {
			int err = manifest_listing_check_end(&l->check, l->m->entry_count,
							     l->m->size);
			return err ? err : 1;
		}
		buf_setlen(&l->plain, 0);
		l->pos = 0;
		const struct chunk_ref *ref = &l->m->listing[l->chunk++];
		int err = get_small(l->s, ref->id, ref->key, &l->plain, l->failed);
		if (err)
			return err;
		if (l->plain.len != ref->size)
			return SHOAL_EPROTO;
	}
	int err = manifest_record_decode(l->plain.data, l->plain.len, &l->pos, e, &l->store);
	if (!err)
		err = manifest_listing_check(&l->check, e);
	if (!err && (l->check.count > l->m->entry_count || l->check.size > l->m->size))
		err = SHOAL_EPROTO;
	return err;
}

void files_listing_free(struct files_listing *l)
{
	if (!l)
		return;
	buf_release(&l->plain);
	free(l);
}

static int listing_next(void *arg, struct dir_entry *e)
{
	return files_listing_next(arg, e);
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
	struct files_listing *ls = NULL;
	int err = files_listing_open(&ls, s, m, failed);
	if (err)
		return err;
	struct tree_entries src = {.next = listing_next, .arg = ls};
	/* Inline entries are checked before anything is created. */
	err = tree_writer_new(&g.tree, m, m->version == MANIFEST_VERSION_LISTED ? &src : NULL,
			      out_path, how->mode_keep, s->home, how->replace);
	if (err)
		goto out;
	err = ring_init(&g.ring, s, get_work, SLOT_PLAIN_CAP);
	if (!err)
		err = get_chunks(&g, m);
	ring_release(&g.ring, s);
	if (!err)
		err = tree_writer_finish(g.tree);
	tree_writer_free(g.tree);
out:
	files_listing_free(ls);
	return err;
}

/* Writes the file m describes into fd (sized first), through direct_fd
 * (closed here) when it is not -1. */
static int get_file(struct store *s, const struct manifest *m, int fd, int direct_fd,
		    struct progress *progress, struct files_failure *failed)
{
	struct get g = {.s = s,
			.size = m->size,
			.progress = progress,
			.out_fd = fd,
			.direct_fd = direct_fd,
			.failed = failed};
	if (progress)
		progress->total = m->size;
	int err = ftruncate(fd, (off_t)m->size) ? -errno : 0;
	/* No chunk is bigger than the file (get_chunk() checks). */
	if (!err)
		err = ring_init(&g.ring, s, get_work,
				m->size < SLOT_PLAIN_CAP ? (size_t)m->size : SLOT_PLAIN_CAP);
	if (!err)
		err = get_chunks(&g, m);
	ring_release(&g.ring, s);
	if (direct_fd >= 0)
		close(direct_fd);
	return err;
}

int files_get_into(struct store *s, const struct capability *cap, int fd,
		   struct files_failure *failed)
{
	struct manifest m;
	if (failed)
		failed->set = 0;
	int err = read_manifest(s, cap, &m, failed);
	if (err)
		return err;
	if (m.kind == MANIFEST_DIRECTORY)
		err = -EISDIR;
	else if (!(err = ftruncate(fd, 0) ? -errno : 0))
		err = get_file(s, &m, fd, -1, NULL, failed);
	manifest_release(&m);
	return err;
}

int files_data_refs(struct store *s, const struct capability *cap, files_ref_fn fn, void *arg)
{
	struct manifest m;
	int err = read_manifest(s, cap, &m, NULL);
	if (err)
		return err;
	err = m.kind == MANIFEST_DIRECTORY ? -EISDIR : walk_data_refs(s, &m, fn, arg, NULL);
	manifest_release(&m);
	return err;
}

int files_get(struct store *s, const struct capability *cap, const char *out_path,
	      const struct files_restore *how, struct progress *progress,
	      struct files_failure *failed)
{
	static const struct files_restore exact = {.mode_keep = 07777, .replace = 0};
	struct manifest m;
	struct stat st;
	if (failed)
		failed->set = 0;
	if (!how)
		how = &exact;
	/* Refused before any work; the rename checks again. */
	if (!how->replace && !lstat(out_path, &st))
		return SHOAL_EEXIST;
	int err = read_manifest(s, cap, &m, failed);
	if (err)
		return err;
	if (m.kind == MANIFEST_DIRECTORY) {
		err = get_tree(s, &m, out_path, how, progress, failed);
		manifest_release(&m);
		return err;
	}
	struct restore_temp tmp;
	/* Noted before it exists, so that a kill leaves nothing for good. */
	err = restore_temp_note(s->home, out_path, &tmp);
	if (err)
		goto out;
	int fd = open(tmp.path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0) {
		err = -errno;
		restore_temp_forget(&tmp);
		goto out;
	}
	/* Without direct I/O (tmpfs, say) every write goes through fd. */
	err = get_file(s, &m, fd, open(tmp.path, O_WRONLY | O_DIRECT | O_CLOEXEC), progress,
		       failed);
	if (!err)
		err = get_finish(fd, &m, how, &tmp, out_path);
	close(fd);
	if (err) {
		unlink(tmp.path);
		restore_temp_forget(&tmp);
	}
out:
	manifest_release(&m);
	return err;
}
