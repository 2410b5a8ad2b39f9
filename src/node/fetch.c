/*
 * Fetching a file's chunks into the local store; see fetch.h.
 */
#include "node/fetch.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "crypto/hash.h"
#include "node/placement.h"
#include "node/remote.h"
#include "proto/manifest.h"
#include "store/files.h"
#include "util/clock.h"
#include "util/encoding.h"
#include "util/error.h"
#include "util/log.h"

#define RECORD_BATCH 64
#define CAND_MAX     12

/* One chunk to have: where it might be and who was asked already. */
struct want {
	struct chunk_ref ref;
	uint16_t cand[CAND_MAX]; /* indices into f->peers */
	uint8_t ncand;
	uint16_t tried; /* bit i: cand[i] failed */
	int asked_have;
	int inflight;
	int done;
};

struct run {
	struct fetch *f;
	const uint8_t *token;
	struct rqueue q;
	unsigned *peer_load; /* calls in flight per peer */
	struct rcall calls[FETCH_WINDOW];
	int call_busy[FETCH_WINDOW];
	double call_start[FETCH_WINDOW];
	/* seconds per byte the chunks fetched so far took (a moving average;
	 * samples: how many it has seen) */
	double per_byte;
	unsigned samples;
	/* rows waiting for the next commit */
	uint8_t (*rows)[CHUNK_ID_LEN];
	uint64_t *row_sizes;
	size_t nrows;
};

static void fail_chunk(struct fetch *f, const uint8_t id[CHUNK_ID_LEN], const char *fmt)
{
	char hex[2 * CHUNK_ID_LEN + 1];
	hex_encode(hex, id, CHUNK_ID_LEN);
	if (!f->failed_set) {
		f->failed_set = 1;
		memcpy(f->failed, id, CHUNK_ID_LEN);
		snprintf(f->why, sizeof(f->why), fmt, hex);
	}
}

/* ---- recording ---- */

static int flush_rows(struct run *r)
{
	struct fetch *f = r->f;
	size_t missing = 0;
	int err =
		store_record_chunks(f->s, f->ix, r->token, (const uint8_t(*)[CHUNK_ID_LEN])r->rows,
				    r->row_sizes, r->nrows, &missing);
	if (err == SHOAL_EMISSING)
		fail_chunk(f, r->rows[missing], "chunk %s vanished while being fetched");
	r->nrows = 0;
	return err;
}

static int record(struct run *r, const uint8_t id[CHUNK_ID_LEN], uint64_t stored_size)
{
	memcpy(r->rows[r->nrows], id, CHUNK_ID_LEN);
	r->row_sizes[r->nrows] = stored_size;
	if (++r->nrows == RECORD_BATCH)
		return flush_rows(r);
	return 0;
}

/* ---- candidates ---- */

static void rank_candidates(struct run *r, struct want *w)
{
	struct fetch *f = r->f;
	w->ncand = 0;
	if (!f->npeers)
		return;
	size_t *order = malloc(f->npeers * sizeof(*order));
	if (!order)
		return;
	placement_rank(f->peers, f->npeers, w->ref.id, order);
	for (size_t i = 0; i < f->npeers && w->ncand < FETCH_RANKED; i++)
		w->cand[w->ncand++] = (uint16_t)order[i];
	free(order);
}

/* Asks every peer whether it holds w; adds those that do to its candidates. */
static void ask_have(struct run *r, struct want *w)
{
	struct fetch *f = r->f;
	w->asked_have = 1;
	if (!f->npeers)
		return;
	uint8_t(*bits)[REMOTE_BITS] = calloc(f->npeers, sizeof(*bits));
	if (!bits)
		return;
	remote_have(f->r, f->peers, f->npeers, (const uint8_t(*)[CHUNK_ID_LEN])w->ref.id, 1, bits,
		    NULL, NULL);
	for (size_t i = 0; i < f->npeers; i++) {
		if (!remote_bit(bits[i], 0))
			continue;
		int known = 0;
		for (unsigned k = 0; k < w->ncand; k++)
			known |= w->cand[k] == i;
		if (!known && w->ncand < CAND_MAX)
			w->cand[w->ncand++] = (uint16_t)i;
	}
	free(bits);
}

/* The candidate to ask next: untried, and not saturated unless all are.
 * Returns -1 when there is none left (ask Have, or give up). */
static int next_candidate(struct run *r, struct want *w, int *saturated)
{
	int best = -1;
	*saturated = 0;
	for (unsigned k = 0; k < w->ncand; k++) {
		if (w->tried & (1u << k))
			continue;
		if (r->peer_load[w->cand[k]] < FETCH_PER_PEER)
			return (int)k;
		if (best < 0)
			best = (int)k;
	}
	if (best >= 0)
		*saturated = 1;
	return best;
}

/* ---- the window ---- */

static int free_slot(struct run *r)
{
	for (int i = 0; i < FETCH_WINDOW; i++) {
		if (!r->call_busy[i])
			return i;
	}
	return -1;
}

/* The time a holder gets for a chunk of size bytes (fetch.h). */
static double get_timeout(const struct run *r, uint64_t size)
{
	if (!r->samples)
		return FETCH_TIMEOUT_FIRST;
	double t = 4 * (double)size * r->per_byte + 1.0;
	return t < FETCH_TIMEOUT_MIN   ? FETCH_TIMEOUT_MIN
	       : t > FETCH_TIMEOUT_MAX ? FETCH_TIMEOUT_MAX
				       : t;
}

/* A chunk of len bytes arrived seconds after it was asked for. */
static void observe(struct run *r, size_t len, double seconds)
{
	/* Small chunks say little of the rate: count them as 64 KiB. */
	double per_byte = seconds / (double)(len > 65536 ? len : 65536);
	r->per_byte = r->samples ? 0.7 * r->per_byte + 0.3 * per_byte : per_byte;
	r->samples++;
}

static void start_get(struct run *r, struct want *w, int k, int slot)
{
	struct rcall *c = &r->calls[slot];
	memset(c, 0, sizeof(*c));
	c->kind = RCALL_GET_STORE;
	memcpy(c->peer, r->f->peers[w->cand[k]], NODE_ID_LEN);
	memcpy(c->id, w->ref.id, CHUNK_ID_LEN);
	c->timeout = get_timeout(r, w->ref.size);
	r->call_start[slot] = monotonic_seconds();
	c->user = w;
	r->call_busy[slot] = 1;
	r->peer_load[w->cand[k]]++;
	w->inflight = 1;
	w->tried |= (uint16_t)(1u << k);
	remote_start(r->f->r, c, &r->q);
}

/* Handles one finished call; returns an error only for what stops the fetch. */
static int on_finished(struct run *r, struct rcall *c, struct want *wants, size_t *remaining)
{
	struct fetch *f = r->f;
	struct want *w = c->user;
	int slot = (int)(c - r->calls);
	r->call_busy[slot] = 0;
	for (size_t i = 0; i < f->npeers; i++) {
		if (!memcmp(f->peers[i], c->peer, NODE_ID_LEN)) {
			r->peer_load[i]--;
			break;
		}
	}
	w->inflight = 0;
	(void)wants;
	if (c->err) {
		char hex[2 * CHUNK_ID_LEN + 1], peer[NODE_ID_STR_LEN + 1];
		hex_encode(hex, c->id, CHUNK_ID_LEN);
		node_id_format(c->peer, peer);
		if (c->err == SHOAL_ECORRUPT)
			log_warnx("peer %.16s sent bytes that do not match chunk %.16s; asking "
				  "another holder",
				  peer, hex);
		else
			log_debug("chunk %.16s from %.16s: %s", hex, peer, shoal_strerror(c->err));
		return 0;
	}
	observe(r, c->len, monotonic_seconds() - r->call_start[slot]);
	w->done = 1;
	(*remaining)--;
	f->fetched++;
	if (f->progress)
		progress_add(f->progress, w->ref.size);
	return record(r, w->ref.id, c->len);
}

/* Fetches wants[0..n) (none of which is stored here). */
static int fetch_many(struct run *r, struct want *wants, size_t n)
{
	struct fetch *f = r->f;
	size_t remaining = n, next = 0;
	int err = 0;
	for (size_t i = 0; i < n; i++)
		rank_candidates(r, &wants[i]);
	while (remaining && !err) {
		/* Fill the window, in file order, skipping chunks that wait. */
		int progressed = 1;
		while (progressed && !err) {
			progressed = 0;
			if (progress_cancelled(f->progress)) {
				err = -EINTR;
				break;
			}
			int slot = free_slot(r);
			if (slot < 0)
				break;
			while (next < n && wants[next].done)
				next++;
			for (size_t i = next; i < n && i < next + 4 * FETCH_WINDOW; i++) {
				struct want *w = &wants[i];
				if (w->done || w->inflight)
					continue;
				int saturated;
				int k = next_candidate(r, w, &saturated);
				if (k < 0 && !w->asked_have) {
					ask_have(r, w);
					k = next_candidate(r, w, &saturated);
				}
				if (k < 0) {
					fail_chunk(f, w->ref.id,
						   "chunk %s is on no reachable node");
					err = SHOAL_EUNREACHABLE;
					break;
				}
				if (saturated)
					continue;
				start_get(r, w, k, slot);
				progressed = 1;
				break;
			}
		}
		if (err)
			break;
		struct rcall *c = rqueue_wait(&r->q);
		if (!c)
			break; /* nothing in flight and nothing could start */
		err = on_finished(r, c, wants, &remaining);
	}
	/* Let what is in flight end: the calls live in r. */
	struct rcall *c;
	while ((c = rqueue_wait(&r->q))) {
		int e = on_finished(r, c, wants, &remaining);
		if (!err)
			err = e;
	}
	int e = flush_rows(r);
	if (!err && remaining) {
		for (size_t i = 0; i < n; i++) {
			if (!wants[i].done) {
				fail_chunk(f, wants[i].ref.id, "chunk %s is on no reachable node");
				break;
			}
		}
		err = SHOAL_EUNREACHABLE;
	}
	return err ? err : e;
}

/* Makes sure one chunk (the manifest or a list) is stored here. */
static int have_one(struct run *r, const struct chunk_ref *ref)
{
	struct fetch *f = r->f;
	f->chunks++;
	int present = objects_exists(&f->s->objects, ref->id);
	if (present < 0)
		return present;
	if (present) {
		uint64_t size = 0;
		int err = objects_verify(&f->s->objects, ref->id, &size);
		if (!err)
			return record(r, ref->id, size);
		if (err != SHOAL_ECORRUPT)
			return err;
	}
	struct want w = {.ref = *ref};
	return fetch_many(r, &w, 1);
}

/* Reads and decrypts a small stored chunk (manifest or list) into plain. */
static int read_small(struct fetch *f, const struct chunk_ref *ref, struct buf *plain)
{
	uint8_t *stored = NULL;
	size_t len = 0;
	int err = objects_read_alloc(&f->s->objects, ref->id, 0, &stored, &len);
	if (!err && len < CHUNK_TAG_LEN)
		err = SHOAL_ECORRUPT;
	if (!err) {
		buf_grow(plain, len);
		err = seal_decrypt(ref->key, stored, len, plain->data);
		if (!err)
			buf_setlen(plain, len - CHUNK_TAG_LEN);
	}
	free(stored);
	return err;
}

static int ref_cmp(const void *a, const void *b)
{
	return memcmp(((const struct chunk_ref *)a)->id, ((const struct chunk_ref *)b)->id,
		      CHUNK_ID_LEN);
}

/* All data refs of m (a tree's listing chunks first), reading (and first
 * fetching) its ChunkLists. */
static int collect_refs(struct run *r, const struct manifest *m, struct chunk_ref **out,
			size_t *count)
{
	size_t n = m->nlisting + m->nchunks, cap = n ? n : 16;
	struct chunk_ref *refs = malloc(cap * sizeof(*refs));
	if (!refs)
		return -ENOMEM;
	if (m->nlisting)
		memcpy(refs, m->listing, m->nlisting * sizeof(*refs));
	if (m->nchunks)
		memcpy(refs + m->nlisting, m->chunks, m->nchunks * sizeof(*refs));
	int err = 0;
	for (size_t l = 0; !err && l < m->nlists; l++) {
		err = have_one(r, &m->lists[l]);
		struct buf plain = BUF_INIT;
		struct chunk_ref *part = NULL;
		size_t np = 0;
		if (!err)
			err = read_small(r->f, &m->lists[l], &plain);
		if (!err)
			err = chunklist_decode(plain.data, plain.len, &part, &np);
		buf_release(&plain);
		if (!err && n + np > cap) {
			while (n + np > cap)
				cap *= 2;
			void *p = realloc(refs, cap * sizeof(*refs));
			if (!p)
				err = -ENOMEM;
			else
				refs = p;
		}
		if (!err) {
			memcpy(refs + n, part, np * sizeof(*refs));
			n += np;
		}
		free(part);
	}
	if (err) {
		free(refs);
		return err;
	}
	*out = refs;
	*count = n;
	return 0;
}

static int run_init(struct run *r, struct fetch *f, const uint8_t *token)
{
	memset(r, 0, sizeof(*r));
	r->f = f;
	r->token = token;
	rqueue_init(&r->q);
	r->peer_load = calloc(f->npeers ? f->npeers : 1, sizeof(*r->peer_load));
	r->rows = malloc(RECORD_BATCH * sizeof(*r->rows));
	r->row_sizes = malloc(RECORD_BATCH * sizeof(*r->row_sizes));
	return r->peer_load && r->rows && r->row_sizes ? 0 : -ENOMEM;
}

static void run_release(struct run *r)
{
	rqueue_destroy(&r->q);
	free(r->peer_load);
	free(r->rows);
	free(r->row_sizes);
}

/* A run of f under token: f's results cleared, the token pending. */
static int run_start(struct run *r, struct fetch *f, const uint8_t *token)
{
	f->chunks = f->fetched = 0;
	f->failed_set = 0;
	f->why[0] = 0;
	int err = run_init(r, f, token);
	return err ? err : index_pending_set(f->ix, token, 1);
}

int fetch_into(struct fetch *f, const struct capability *cap, const uint8_t token[CHUNK_ID_LEN])
{
	struct run r;
	int err = run_start(&r, f, token);
	struct chunk_ref mref = {.size = 0};
	memcpy(mref.id, cap->id, CHUNK_ID_LEN);
	memcpy(mref.key, cap->key, CHUNK_KEY_LEN);
	if (!err)
		err = have_one(&r, &mref);
	int have_manifest = 0;
	struct manifest m;
	struct chunk_ref *refs = NULL;
	size_t nrefs = 0;
	if (!err) {
		err = files_read_manifest(f->s, cap, &m);
		if (err == SHOAL_EDECRYPT)
			snprintf(f->why, sizeof(f->why),
				 "the capability's key does not open "
				 "its manifest");
		have_manifest = !err;
	}
	if (!err)
		err = collect_refs(&r, &m, &refs, &nrefs);
	struct want *wants = NULL;
	size_t nwant = 0;
	if (!err && !(wants = calloc(nrefs ? nrefs : 1, sizeof(*wants))))
		err = -ENOMEM;
	if (!err && f->progress) {
		/* A tree's listing chunks count as they are fetched too. */
		f->progress->total = m.size;
		for (size_t i = 0; i < m.nlisting; i++)
			f->progress->total += m.listing[i].size;
	}
	/* A chunk listed more than once (a sparse file's zeros, repeated
	 * content) is fetched once: in id order, repeats are neighbours. */
	if (!err)
		qsort(refs, nrefs, sizeof(*refs), ref_cmp);
	for (size_t i = 0; !err && i < nrefs; i++) {
		f->chunks++;
		if (i && !memcmp(refs[i].id, refs[i - 1].id, CHUNK_ID_LEN)) {
			if (f->progress)
				progress_add(f->progress, refs[i].size);
			continue;
		}
		int present = store_object_present(f->s, refs[i].id);
		if (present < 0) {
			err = present;
		} else if (present) {
			err = record(&r, refs[i].id, (uint64_t)refs[i].size + CHUNK_TAG_LEN);
			if (f->progress)
				progress_add(f->progress, refs[i].size);
		} else {
			wants[nwant++].ref = refs[i];
		}
	}
	if (!err)
		err = flush_rows(&r);
	if (!err && nwant)
		err = fetch_many(&r, wants, nwant);
	else if (err)
		flush_rows(&r);
	free(wants);
	free(refs);
	if (have_manifest)
		manifest_release(&m);
	run_release(&r);
	return err;
}

/* Adds ref to wants (growing it) unless its chunk is stored here. */
static int want_missing(struct fetch *f, struct want **wants, size_t *n, size_t *cap,
			const struct chunk_ref *ref)
{
	int present = store_object_present(f->s, ref->id);
	if (present)
		return present < 0 ? present : 0;
	if (*n == *cap) {
		size_t c = *cap ? 2 * *cap : 64;
		void *p = realloc(*wants, c * sizeof(**wants));
		if (!p)
			return -ENOMEM;
		*wants = p;
		*cap = c;
	}
	memset(&(*wants)[*n], 0, sizeof(**wants));
	(*wants)[(*n)++].ref = *ref;
	return 0;
}

static int want_cmp(const void *a, const void *b)
{
	return ref_cmp(&((const struct want *)a)->ref, &((const struct want *)b)->ref);
}

/* Fetches wants[0..n) (sorted, each once), ignoring what no node has. */
static void fetch_wants(struct run *r, struct want *wants, size_t n)
{
	if (!n)
		return;
	qsort(wants, n, sizeof(*wants), want_cmp);
	size_t k = 0;
	for (size_t i = 0; i < n; i++) {
		if (!k || memcmp(wants[i].ref.id, wants[k - 1].ref.id, CHUNK_ID_LEN))
			wants[k++] = wants[i];
	}
	if (k)
		fetch_many(r, wants, k);
}

int fetch_prefetch(struct fetch *f, const struct capability *caps, size_t n,
		   const uint8_t token[CHUNK_ID_LEN])
{
	struct run r;
	int err = run_start(&r, f, token);
	struct want *wants = NULL;
	size_t nw = 0, cap = 0;
	for (size_t i = 0; !err && i < n; i++) {
		struct chunk_ref ref = {.size = 0};
		memcpy(ref.id, caps[i].id, CHUNK_ID_LEN);
		memcpy(ref.key, caps[i].key, CHUNK_KEY_LEN);
		err = want_missing(f, &wants, &nw, &cap, &ref);
	}
	if (!err)
		fetch_wants(&r, wants, nw);
	/* The data chunks the manifests list (those without ChunkLists). */
	nw = 0;
	for (size_t i = 0; !err && i < n; i++) {
		struct manifest m;
		if (files_read_manifest(f->s, &caps[i], &m))
			continue;
		for (size_t k = 0; !err && !m.nlists && k < m.nchunks; k++)
			err = want_missing(f, &wants, &nw, &cap, &m.chunks[k]);
		manifest_release(&m);
	}
	if (!err)
		fetch_wants(&r, wants, nw);
	free(wants);
	run_release(&r);
	return err;
}

void fetch_get_token(const uint8_t id[CHUNK_ID_LEN], uint8_t token[CHUNK_ID_LEN])
{
	uint8_t in[16 + CHUNK_ID_LEN];
	memcpy(in, "shoal get token", 16);
	memcpy(in + 16, id, CHUNK_ID_LEN);
	sha256(in, sizeof(in), token);
}

int fetch_release(struct fetch *f, const uint8_t token[CHUNK_ID_LEN])
{
	int err = index_begin(f->ix);
	if (err)
		return err;
	err = index_pending_set(f->ix, token, 0);
	if (err) {
		index_rollback(f->ix);
		return err;
	}
	return store_commit_releasing_ix(f->s, f->ix);
}

void fetch_receive_default_name(const uint8_t id[CHUNK_ID_LEN], char out[NAME_MAX_LEN + 1])
{
	char hex[2 * CHUNK_ID_LEN + 1];
	hex_encode(hex, id, CHUNK_ID_LEN);
	snprintf(out, NAME_MAX_LEN + 1, "received-%.16s", hex);
}

int fetch_receive(struct fetch *f, const struct capability *cap, const uint8_t sender[NODE_ID_LEN],
		  const char *name, unsigned replicas, char filed[NAME_MAX_LEN + 1])
{
	struct index_name n = {.created = (int64_t)time(NULL), .received = 1};
	if (name && name[0])
		snprintf(n.name, sizeof(n.name), "%s", name);
	else
		fetch_receive_default_name(cap->id, n.name);
	memcpy(n.sender, sender, NODE_ID_LEN);
	memcpy(n.manifest, cap->id, CHUNK_ID_LEN);
	capability_format(cap, n.cap);
	uint8_t token[CHUNK_ID_LEN];
	int err = random_bytes(token, sizeof(token));
	if (!err)
		err = fetch_into(f, cap, token);
	struct files_summary sum;
	if (!err && !(err = files_summarize(f->s, cap, &sum)))
		n.size = sum.size;
	if (!err)
		err = index_begin(f->ix);
	if (err) {
		fetch_release(f, token);
		return err;
	}
	/* The refs move from the token to the manifest and a version of a name
	 * of this node's points at it, in one transaction: the file is this
	 * node's own from then on, whatever the sender does. */
	err = index_refs_move(f->ix, token, cap->id);
	if (!err)
		err = index_name_receive(f->ix, &n, NULL, NULL);
	if (!err)
		err = index_copies_want_refs(f->ix, cap->id, replicas);
	if (!err)
		err = index_pending_set(f->ix, token, 0);
	if (!err)
		err = index_commit(f->ix);
	else
		index_rollback(f->ix);
	if (err) {
		if (err == SHOAL_EEXIST)
			snprintf(f->why, sizeof(f->why),
				 "'%.200s' and the other names tried are taken by other files",
				 n.name);
		fetch_release(f, token);
		return err;
	}
	snprintf(filed, NAME_MAX_LEN + 1, "%s", n.name);
	return 0;
}

int fetch_list_chunks(struct fetch *f, const struct capability *cap, uint8_t (**ids)[CHUNK_ID_LEN],
		      uint64_t **sizes, size_t *count)
{
	struct manifest m;
	int err = files_read_manifest(f->s, cap, &m);
	if (err)
		return err;
	size_t n = 1 + m.nlisting + m.nlists + m.nchunks;
	struct chunk_ref *refs = NULL;
	size_t nrefs = 0;
	if (m.nlists) {
		/* Lists are read from what is stored; nothing is fetched or recorded. */
		for (size_t l = 0; !err && l < m.nlists; l++) {
			struct buf plain = BUF_INIT;
			struct chunk_ref *part = NULL;
			size_t np = 0;
			err = read_small(f, &m.lists[l], &plain);
			if (!err)
				err = chunklist_decode(plain.data, plain.len, &part, &np);
			buf_release(&plain);
			if (!err) {
				void *p = realloc(refs, (nrefs + np) * sizeof(*refs));
				if (!p) {
					err = -ENOMEM;
				} else {
					refs = p;
					memcpy(refs + nrefs, part, np * sizeof(*refs));
					nrefs += np;
				}
			}
			free(part);
		}
		n = 1 + m.nlisting + m.nlists + nrefs;
	}
	*ids = err ? NULL : malloc(n * sizeof(**ids));
	*sizes = err ? NULL : malloc(n * sizeof(**sizes));
	if (!err && (!*ids || !*sizes))
		err = -ENOMEM;
	if (!err) {
		size_t k = 0;
		memcpy((*ids)[k], cap->id, CHUNK_ID_LEN);
		uint64_t msize = 0;
		objects_verify(&f->s->objects, cap->id, &msize);
		(*sizes)[k++] = msize;
		for (size_t l = 0; l < m.nlists; l++) {
			memcpy((*ids)[k], m.lists[l].id, CHUNK_ID_LEN);
			(*sizes)[k++] = (uint64_t)m.lists[l].size + CHUNK_TAG_LEN;
		}
		for (size_t l = 0; l < m.nlisting; l++) {
			memcpy((*ids)[k], m.listing[l].id, CHUNK_ID_LEN);
			(*sizes)[k++] = (uint64_t)m.listing[l].size + CHUNK_TAG_LEN;
		}
		const struct chunk_ref *data = m.nlists ? refs : m.chunks;
		size_t ndata = m.nlists ? nrefs : m.nchunks;
		for (size_t i = 0; i < ndata; i++) {
			memcpy((*ids)[k], data[i].id, CHUNK_ID_LEN);
			(*sizes)[k++] = (uint64_t)data[i].size + CHUNK_TAG_LEN;
		}
		*count = k;
	} else {
		free(*ids);
		free(*sizes);
	}
	free(refs);
	manifest_release(&m);
	return err;
}
