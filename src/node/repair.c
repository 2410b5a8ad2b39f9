/*
 * Re-replication and scrub; see repair.h.
 */
#include "node/repair.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "node/placement.h"
#include "node/plan.h"
#include "proto/manifest.h"
#include "store/located.h"
#include "util/clock.h"
#include "util/encoding.h"
#include "util/error.h"
#include "util/log.h"

#define SCAN_BATCH     WIRE_IDS_MAX
#define PUSH_TIMEOUT   60.0
#define SCRUB_SLICE    1.0 /* seconds between scrub slices */
#define DRAIN_INTERVAL 1.0 /* seconds between drain passes at most */
#define SCRUB_BATCH    256

/* What was last logged for a chunk, so each decision is logged once: its
 * copies (have of want, at debug level) and the last problem warned of. */
#define LOGGED_SLOTS 4096
enum problem { PROBLEM_NONE, PROBLEM_DAMAGED, PROBLEM_MISSING, PROBLEM_UNREADABLE };
struct logged {
	uint8_t id[8];
	uint16_t have, want;
	uint8_t problem; /* enum problem */
};

/* What a pass did, summed over its slices (on the loop), for its one log line. */
struct pass_totals {
	uint64_t scanned, under, made, bytes, released, short_of, no_target, corrupt, fixed;
	uint64_t handed;	    /* drain: chunks the others hold as asked */
	int last_err;		    /* the last failed copy's error, 0 if none */
	size_t nto;		    /* distinct members copies went to ... */
	uint8_t (*to)[NODE_ID_LEN]; /* ... (MESH_MEMBERS_MAX slots) */
};

struct repair {
	uint8_t self[NODE_ID_LEN];
	struct store *s;
	struct mesh *mesh;
	const struct config *cfg;
	struct ops *ops;
	struct remote *remote;
	struct loopwork *lw;
	struct repair_stats stats;
	struct logged logged[LOGGED_SLOTS]; /* touched by the writer only */
	/* the pass in progress */
	int scanning;	    /* a pass is under way */
	int slice_out;	    /* its slice is on the writer */
	double next_slice;  /* when its next slice may start (pacing) */
	struct event *pace; /* fires then */
	uint8_t scan_after[CHUNK_ID_LEN];
	struct pass_totals pass;
	uint64_t logged_short; /* chunks the last logged pass could not copy */
	double last_scan;
	/* drain: passes hand every chunk over; done() once one finds nothing
	 * held only here */
	int draining;
	void (*drained)(void *arg);
	void *drained_arg;
	uint64_t drain_total; /* chunks stored here when the pass began */
	/* the scrub */
	int scrubbing;
	double last_scrub;
	uint8_t scrub_after[CHUNK_ID_LEN];
};

enum job_kind { JOB_SCAN, JOB_SCRUB };

/* A slice, handed to the writer, and its results. */
struct repair_job {
	struct ops_job job;
	enum job_kind kind;
	struct repair *rp;
	uint8_t (*peers)[NODE_ID_LEN];
	uint8_t *returned; /* peers back after being lost */
	size_t npeers;
	uint8_t after[CHUNK_ID_LEN]; /* the cursor, moved by the slice */
	uint64_t budget;	     /* bytes to copy (scan) or re-hash (scrub) */
	unsigned replicas_max;	     /* scan: copies kept of a chunk at most */
	/* scan: the members down but up within repair_gone_days, who may own
	 * what they pin here (mesh_gone_lately()) */
	uint8_t (*recent)[NODE_ID_LEN];
	size_t nrecent;
	/* results */
	int drain;     /* scan: a drain pass (hand over), not a repair pass */
	int pass_done; /* scan: the last batch was seen, or a member was silent */
	int silent;    /* scan: ... the latter: a member did not answer Have */
	uint64_t moved;
	double seconds;
	uint64_t under, repaired, corrupt, fixed, unrecoverable, scrubbed;
	/* scan: chunks looked at, surplus copies let go, under-replicated chunks
	 * this node leads but left short (no_target of them for want of a member
	 * without a copy), the last copy's error, and which peers took copies */
	uint64_t scanned, released, short_of, no_target;
	uint64_t handed; /* drain: chunks the others now hold as asked */
	uint64_t total;	 /* drain: chunks stored here (first slice of a pass) */
	int last_err;
	uint8_t *got; /* [npeers] */
};

static const char *short_hex(const uint8_t id[CHUNK_ID_LEN], char out[17])
{
	char hex[2 * CHUNK_ID_LEN + 1];
	hex_encode(hex, id, CHUNK_ID_LEN);
	memcpy(out, hex, 16);
	out[16] = 0;
	return out;
}

/* Whether this state of a chunk is news (then remembered). */
static int news(struct repair *rp, const uint8_t id[CHUNK_ID_LEN], unsigned have, unsigned want)
{
	uint32_t h = (uint32_t)id[0] << 24 | (uint32_t)id[1] << 16 | (uint32_t)id[2] << 8 | id[3];
	struct logged *l = &rp->logged[h % LOGGED_SLOTS];
	if (!memcmp(l->id, id, sizeof(l->id)) && l->have == have && l->want == want)
		return 0;
	if (memcmp(l->id, id, sizeof(l->id)))
		l->problem = PROBLEM_NONE;
	memcpy(l->id, id, sizeof(l->id));
	l->have = (uint16_t)have;
	l->want = (uint16_t)want;
	return 1;
}

/* Whether problem p of a chunk is news (then remembered): a chunk that stays
 * damaged or unreadable is warned of once, not at every pass. */
static int problem_news(struct repair *rp, const uint8_t id[CHUNK_ID_LEN], enum problem p)
{
	uint32_t h = (uint32_t)id[0] << 24 | (uint32_t)id[1] << 16 | (uint32_t)id[2] << 8 | id[3];
	struct logged *l = &rp->logged[h % LOGGED_SLOTS];
	if (!memcmp(l->id, id, sizeof(l->id)) && l->problem == p)
		return 0;
	if (memcmp(l->id, id, sizeof(l->id))) {
		memcpy(l->id, id, sizeof(l->id));
		l->have = l->want = 0;
	}
	l->problem = (uint8_t)p;
	return 1;
}

/* ---- replacing a local copy ---- */

/* Moves a damaged object out of the tree so it is never read or served. */
static void move_aside(struct store *s, const uint8_t id[CHUNK_ID_LEN])
{
	char path[PATH_MAX], bad[PATH_MAX + 80], hex[2 * CHUNK_ID_LEN + 1];
	objects_path(&s->objects, id, path, sizeof(path));
	hex_encode(hex, id, CHUNK_ID_LEN);
	snprintf(bad, sizeof(bad), "%s/objects/bad", s->home);
	mkdir(bad, 0700);
	snprintf(bad, sizeof(bad), "%s/objects/bad/%s", s->home, hex);
	if (rename(path, bad) && errno != ENOENT)
		unlink(path);
}

/*
 * Whether chunk id, found missing here, was released meanwhile: garbage
 * collection on another thread (an Unpin's commit, a fetch letting its
 * cache go) dropped its row and then its file. Under gc_lock, which
 * collection holds from its commit until the files are gone, a row still
 * there means the file is truly missing. A read, so taking it after gc_lock
 * keeps the lock order (store.h).
 */
static int released_meanwhile(struct store *s, struct index *ix, const uint8_t id[CHUNK_ID_LEN])
{
	pthread_mutex_lock(&s->gc_lock);
	int gone = objects_exists(&s->objects, id) == 0 && index_chunk_has(ix, id) == 0;
	pthread_mutex_unlock(&s->gc_lock);
	return gone;
}

int repair_replace_chunk(struct remote *remote, struct store *s, struct index *ix,
			 const uint8_t (*peers)[NODE_ID_LEN], size_t npeers,
			 const uint8_t id[CHUNK_ID_LEN])
{
	/* The damaged copy goes first, and its row with it: the index never
	 * names what is not (intact) on disk. */
	pthread_mutex_lock(&s->gc_lock);
	int present = objects_exists(&s->objects, id);
	if (present == 1 && objects_verify(&s->objects, id, NULL) == SHOAL_ECORRUPT)
		move_aside(s, id);
	present = objects_exists(&s->objects, id) == 1;
	pthread_mutex_unlock(&s->gc_lock);
	if (present)
		return 0; /* intact after all */
	if (index_chunk_has(ix, id) == 1) {
		/* Outside gc_lock: it is taken after the write lock, never
		 * before (store.h). */
		int e = index_begin(ix);
		if (!e) {
			e = index_chunk_remove(ix, id);
			if (!e)
				e = index_commit(ix);
			else
				index_rollback(ix);
		}
		if (e)
			return e;
	}
	uint8_t(*bits)[REMOTE_BITS] = calloc(npeers ? npeers : 1, sizeof(*bits));
	if (!bits)
		return -ENOMEM;
	remote_have(remote, peers, npeers, (const uint8_t(*)[CHUNK_ID_LEN])id, 1, bits, NULL, NULL);
	int err = SHOAL_EMISSING;
	struct rqueue q;
	rqueue_init(&q);
	for (size_t p = 0; err && p < npeers; p++) {
		if (!remote_bit(bits[p], 0))
			continue;
		struct rcall c = {.kind = RCALL_GET_STORE, .timeout = PUSH_TIMEOUT};
		memcpy(c.peer, peers[p], NODE_ID_LEN);
		memcpy(c.id, id, CHUNK_ID_LEN);
		remote_start(remote, &c, &q);
		rqueue_wait(&q);
		if (c.err) {
			char sid[17], pid[17];
			log_warnx("chunk %s: the copy of %s is not usable (%s); trying another",
				  short_hex(id, sid), short_node_id(peers[p], pid),
				  shoal_strerror(c.err));
			continue;
		}
		/* Checked against its id and written; now durable, then named. */
		uint64_t size = c.len;
		err = store_record_chunks(s, ix, NULL, (const uint8_t(*)[CHUNK_ID_LEN])id, &size, 1,
					  NULL);
	}
	rqueue_destroy(&q);
	free(bits);
	return err;
}

/* ---- the scan ---- */

struct batch {
	uint8_t ids[SCAN_BATCH][CHUNK_ID_LEN];
	unsigned want[SCAN_BATCH];
	size_t n;
};

static int add_to_batch(const uint8_t id[CHUNK_ID_LEN], uint64_t replicas, void *arg)
{
	struct batch *b = arg;
	memcpy(b->ids[b->n], id, CHUNK_ID_LEN);
	b->want[b->n++] = (unsigned)replicas;
	return 0;
}

static void start_copy(struct repair_job *j, struct rcall *c, size_t peer,
		       const uint8_t id[CHUNK_ID_LEN], struct rbuf *rb, unsigned want,
		       struct rqueue *q)
{
	c->kind = RCALL_PUT;
	memcpy(c->peer, j->peers[peer], NODE_ID_LEN);
	memcpy(c->id, id, CHUNK_ID_LEN);
	c->buf = rb;
	c->replicas = want;
	c->timeout = PUSH_TIMEOUT;
	remote_start(j->rp->remote, c, q);
}

/* Whether this node keeps chunk id for an owner: its own files need it, or
 * a member gone lately pins it here (the HaveReply.owned bit serve.c sends
 * for the same chunk). */
static int owned_here(const struct repair_job *j, struct index *ix, const uint8_t *id)
{
	return index_chunk_referenced(ix, id) > 0 ||
	       index_chunk_pinned_by(ix, id, (const uint8_t(*)[NODE_ID_LEN])j->recent, j->nrecent) >
		       0;
}

/* Copies chunk id to need of the candidates (peer indices, best first): a
 * candidate that refuses (full, or our budget there used up) or fails gives
 * way to the next. Returns the copies made. */
static unsigned push_copies(struct repair_job *j, struct index *ix, const uint8_t id[CHUNK_ID_LEN],
			    unsigned want, unsigned need, const size_t *cands, unsigned ncands)
{
	struct repair *rp = j->rp;
	struct store *s = rp->s;
	char sid[17];
	short_hex(id, sid);
	uint8_t *buf = NULL;
	void *p = NULL;
	if (posix_memalign(&p, OBJECTS_ALIGN, objects_align_up(OBJECT_SIZE_MAX)))
		return 0;
	buf = p;
	size_t len = 0;
	int err = store_read_object(s, id, buf, objects_align_up(OBJECT_SIZE_MAX), OBJECTS_DIRECT,
				    &len);
	if (err == SHOAL_EMISSING && released_meanwhile(s, ix, id)) {
		free(buf);
		return 0; /* no longer held here: nothing to copy */
	}
	if (err == SHOAL_ECORRUPT || err == SHOAL_EMISSING) {
		/* Never spread a damaged copy: replace this one from a live holder
		 * (checked against the id), then copy that. */
		if (problem_news(rp, id, err == SHOAL_ECORRUPT ? PROBLEM_DAMAGED : PROBLEM_MISSING))
			log_warnx("repair: chunk %s is %s here; replacing it first", sid,
				  err == SHOAL_ECORRUPT ? "damaged" : "missing");
		int e = repair_replace_chunk(
			rp->remote, s, ix, (const uint8_t(*)[NODE_ID_LEN])j->peers, j->npeers, id);
		j->corrupt++;
		if (!e) {
			j->fixed++;
			err = store_read_object(s, id, buf, objects_align_up(OBJECT_SIZE_MAX),
						OBJECTS_DIRECT, &len);
		} else {
			j->unrecoverable++;
		}
	}
	if (err) {
		if (problem_news(rp, id, PROBLEM_UNREADABLE))
			log_warnx("repair: chunk %s cannot be copied from here: %s", sid,
				  shoal_strerror(err));
		j->last_err = err;
		free(buf);
		return 0;
	}
	struct rbuf *rb = rbuf_new(buf, len);
	free(buf);
	if (!rb)
		return 0;
	struct rqueue q;
	rqueue_init(&q);
	struct rcall *calls = calloc(ncands, sizeof(*calls));
	unsigned next = 0;
	for (; calls && next < ncands && next < need; next++)
		start_copy(j, &calls[next], cands[next], id, rb, want, &q);
	unsigned made = 0;
	struct rcall *c;
	while ((c = rqueue_wait(&q))) {
		char pid[17];
		short_node_id(c->peer, pid);
		if (c->err) {
			/* Per chunk, only at debug level: the pass's summary counts
			 * what could not be copied and says why. */
			if (c->err == -ENOSPC || c->err == -EPERM)
				log_debug("repair: %s refused chunk %s: %s", pid, sid,
					  shoal_strerror(c->err));
			else
				log_debug("repair: copy of chunk %s to %s failed: %s", sid, pid,
					  shoal_strerror(c->err));
			j->last_err = c->err;
			if (next < ncands) {
				start_copy(j, &calls[next], cands[next], id, rb, want, &q);
				next++;
			}
			continue;
		}
		made++;
		j->moved += len;
		j->got[cands[c - calls]] = 1;
		log_debug("repair: chunk %s copied to %s", sid, pid);
		int e = index_begin(ix);
		if (!e)
			e = index_repaired_add(ix, id, c->peer);
		if (!e)
			e = index_commit(ix);
		else
			index_rollback(ix);
		if (e)
			log_warnx("repair: cannot record the copy of chunk %s on %s: %s", sid, pid,
				  shoal_strerror(e));
	}
	rqueue_destroy(&q);
	free(calls);
	rbuf_unref(rb);
	return made;
}

/* Lets go of this node's own copy of a surplus chunk. Returns 1 if it did. */
static int drop_own_copy(struct index *ix, struct store *s, const uint8_t id[CHUNK_ID_LEN],
			 unsigned have, unsigned want)
{
	char sid[17];
	int err = index_begin(ix);
	if (err)
		return 0;
	err = index_surplus_drop(ix, id);
	if (err) {
		index_rollback(ix);
		return 0;
	}
	if (store_commit_releasing_ix(s, ix))
		return 0;
	log_debug("repair: chunk %s has %u of %u copies; letting this node's go",
		  short_hex(id, sid), have, want);
	return 1;
}

/* Unpins the copy this node placed on peer of a surplus chunk. Returns 1 if
 * it did. */
static int release_copy(struct index *ix, const uint8_t id[CHUNK_ID_LEN],
			const uint8_t peer[NODE_ID_LEN], unsigned have, unsigned want)
{
	char sid[17], pid[17];
	if (index_placed_has(ix, id, peer) != 1)
		return 0;
	int err = index_begin(ix);
	if (!err) {
		err = index_placed_release(ix, id, peer);
		if (!err)
			err = index_commit(ix);
		else
			index_rollback(ix);
	}
	if (err) {
		log_warnx("repair: cannot release the copy of chunk %s on %s: %s",
			  short_hex(id, sid), short_node_id(peer, pid), shoal_strerror(err));
		return 0;
	}
	log_debug("repair: chunk %s has %u of %u copies; releasing the copy on %s",
		  short_hex(id, sid), have, want, short_node_id(peer, pid));
	return 1;
}

/* Scratch for one batch's decisions. */
struct scan_scratch {
	struct batch b;
	uint8_t (*have)[REMOTE_BITS];
	uint8_t (*own)[REMOTE_BITS];
	uint8_t (*owned)[REMOTE_BITS];
	uint8_t *holds, *keeps, *owns, *pins;
	size_t *order, *targets;
	unsigned counted[SCAN_BATCH]; /* repair: copies each chunk has after the slice */
};

static int scratch_init(struct scan_scratch *x, size_t npeers)
{
	size_t n = npeers ? npeers : 1;
	x->have = calloc(n, sizeof(*x->have));
	x->own = calloc(n, sizeof(*x->own));
	x->owned = calloc(n, sizeof(*x->owned));
	x->holds = calloc(n, 1);
	x->keeps = calloc(n, 1);
	x->owns = calloc(n, 1);
	x->pins = calloc(n, 1);
	x->order = calloc(n, sizeof(*x->order));
	x->targets = calloc(n, sizeof(*x->targets));
	return x->have && x->own && x->owned && x->holds && x->keeps && x->owns && x->pins &&
			       x->order && x->targets
		       ? 0
		       : -ENOMEM;
}

static void scratch_release(struct scan_scratch *x)
{
	free(x->have);
	free(x->own);
	free(x->owned);
	free(x->holds);
	free(x->keeps);
	free(x->owns);
	free(x->pins);
	free(x->order);
	free(x->targets);
}

/* A drain slice's chunks of batch b, the others' answers in x: each chunk
 * the others lack copies of is pushed to the best-ranked of them (this
 * node's own copy counting for nothing); returns how many were looked at. */
static size_t drain_batch(struct repair_job *j, struct index *ix, struct scan_scratch *x,
			  struct plan_view *v)
{
	struct batch *b = &x->b;
	size_t i;
	for (i = 0; i < b->n && j->moved < j->budget; i++) {
		const uint8_t *id = b->ids[i];
		memcpy(j->after, id, CHUNK_ID_LEN);
		for (size_t p = 0; p < j->npeers; p++) {
			x->holds[p] = (uint8_t)remote_bit(x->have[p], i);
			x->pins[p] = !x->holds[p] && index_pin_has(ix, id, j->peers[p]) == 1;
		}
		v->chunk = id;
		v->want = b->want[i] < j->replicas_max ? b->want[i] : j->replicas_max;
		unsigned missing = 0;
		unsigned nt = plan_handover(v, &missing, x->order, x->targets);
		if (!missing) {
			j->handed++;
			continue;
		}
		j->under++;
		if (!nt) {
			j->short_of++;
			j->no_target++;
			continue;
		}
		unsigned made = push_copies(j, ix, id, v->want, missing, x->targets, nt);
		j->repaired += made;
		if (made < missing)
			j->short_of++;
		else
			j->handed++;
	}
	return i;
}

/* Notes the copies the first n chunks of the batch have (the index's short
 * table: what status, ls and explain report), in one transaction. */
static void note_short(struct repair_job *j, struct index *ix, const struct scan_scratch *x,
		       size_t n)
{
	if (!n || index_begin(ix))
		return;
	int err = 0;
	for (size_t i = 0; !err && i < n; i++) {
		unsigned want = x->b.want[i] < j->replicas_max ? x->b.want[i] : j->replicas_max;
		err = index_short_note(ix, x->b.ids[i], x->counted[i], want);
	}
	if (err || index_commit(ix))
		index_rollback(ix);
}

/* A repair slice's chunks of batch b, the members' answers in x: each chunk
 * under-replicated that this node leads is copied, one surplus copy let go;
 * returns how many were looked at. */
static size_t repair_batch(struct repair_job *j, struct index *ix, struct scan_scratch *x,
			   struct plan_view *v)
{
	struct repair *rp = j->rp;
	struct batch *b = &x->b;
	char sid[17];
	size_t i;
	for (i = 0; i < b->n && j->moved < j->budget; i++) {
		const uint8_t *id = b->ids[i];
		memcpy(j->after, id, CHUNK_ID_LEN);
		for (size_t p = 0; p < j->npeers; p++) {
			x->holds[p] = (uint8_t)remote_bit(x->have[p], i);
			x->keeps[p] = (uint8_t)remote_bit(x->own[p], i);
			x->owns[p] = (uint8_t)remote_bit(x->owned[p], i);
		}
		v->chunk = id;
		v->want = b->want[i];
		unsigned have = plan_copies(v);
		x->counted[i] = have;
		if (have < v->want && have < j->replicas_max) {
			/* Only for an owner that is up, and never past replicas_max. */
			unsigned want = plan_want(v, j->replicas_max, 0);
			if (!want) /* no other holder keeps it for an owner: this one? */
				want = plan_want(v, j->replicas_max, owned_here(j, ix, id));
			if (have >= want)
				continue;
			v->want = want;
			j->under++;
			if (plan_lead(v) != PLAN_SELF)
				continue; /* another holder acts */
			for (size_t p = 0; p < j->npeers; p++)
				x->pins[p] =
					!x->holds[p] && index_pin_has(ix, id, j->peers[p]) == 1;
			/* Every member that may take a copy, best first, so that one
			 * that refuses gives way to the next. */
			v->want = have + (unsigned)j->npeers;
			unsigned nt = plan_targets(v, x->order, x->targets);
			v->want = want;
			if (!nt) {
				/* no member is left to take a copy */
				j->short_of++;
				j->no_target++;
				continue;
			}
			if (news(rp, id, have, v->want))
				log_debug("repair: chunk %s has %u of %u copies; copying it to %u "
					  "more node%s",
					  short_hex(id, sid), have, v->want, want - have,
					  want - have == 1 ? "" : "s");
			unsigned made =
				push_copies(j, ix, id, v->want, want - have, x->targets, nt);
			x->counted[i] += made;
			j->repaired += made;
			if (made < want - have)
				j->short_of++;
		} else if (have > v->want) {
			size_t at = 0;
			switch (plan_surplus(v, index_chunk_referenced(ix, id) != 0, x->order,
					     &at)) {
			case PLAN_DROP_SELF:
				j->released +=
					(uint64_t)drop_own_copy(ix, rp->s, id, have, v->want);
				break;
			case PLAN_RELEASE_AT:
				j->released +=
					(uint64_t)release_copy(ix, id, j->peers[at], have, v->want);
				break;
			case PLAN_KEEP:
				break;
			}
		}
	}
	note_short(j, ix, x, i);
	return i;
}

static void scan_work(struct ops_job *oj, struct index *ix)
{
	struct repair_job *j = (struct repair_job *)oj;
	struct repair *rp = j->rp;
	double start = monotonic_seconds();
	struct scan_scratch *x = calloc(1, sizeof(*x));
	j->pass_done = 1;
	if (!x || scratch_init(x, j->npeers))
		goto out;
	struct batch *b = &x->b;
	if (j->drain) {
		uint64_t bytes;
		if (!memcmp(j->after, (uint8_t[CHUNK_ID_LEN]){0}, CHUNK_ID_LEN))
			index_chunk_stats(ix, &j->total, &bytes);
		if (index_wants_after(ix, j->after, SCAN_BATCH, add_to_batch, b) || !b->n)
			goto out;
	} else if (index_copies_foreach(ix, j->after, SCAN_BATCH, add_to_batch, b) || !b->n) {
		goto out;
	}
	/* A member that does not answer (frozen, say, and not yet timed out)
	 * may well hold copies: decide nothing on a partial view. */
	if (remote_have(rp->remote, (const uint8_t(*)[NODE_ID_LEN])j->peers, j->npeers,
			(const uint8_t(*)[CHUNK_ID_LEN])b->ids, b->n, x->have, x->own, x->owned)) {
		j->silent = 1;
		goto out;
	}
	struct plan_view v = {
		.self = rp->self,
		.peers = (const uint8_t(*)[NODE_ID_LEN])j->peers,
		.npeers = j->npeers,
		.holds = x->holds,
		.keeps = x->keeps,
		.owns = x->owns,
		.returned = j->returned,
		.pins = x->pins,
	};
	size_t i = j->drain ? drain_batch(j, ix, x, &v) : repair_batch(j, ix, x, &v);
	j->scanned += i;
	/* More after this batch, or the budget ran out within it. */
	j->pass_done = b->n < SCAN_BATCH && i == b->n;
out:
	if (x)
		scratch_release(x);
	free(x);
	j->seconds = monotonic_seconds() - start;
}

/* ---- the scrub ---- */

struct scrub_ctx {
	uint8_t ids[SCRUB_BATCH][CHUNK_ID_LEN];
	size_t n;
};

static int scrub_collect(const uint8_t id[CHUNK_ID_LEN], uint64_t size, void *arg)
{
	(void)size;
	struct scrub_ctx *x = arg;
	memcpy(x->ids[x->n++], id, CHUNK_ID_LEN);
	return 0;
}

static void scrub_work(struct ops_job *oj, struct index *ix)
{
	struct repair_job *j = (struct repair_job *)oj;
	struct repair *rp = j->rp;
	struct store *s = rp->s;
	struct scrub_ctx *x = calloc(1, sizeof(*x));
	if (!x)
		return;
	uint64_t bytes = 0;
	char sid[17];
	while (bytes < j->budget) {
		x->n = 0;
		if (index_chunks_after(ix, j->after, SCRUB_BATCH, scrub_collect, x))
			break;
		if (!x->n) {
			memset(j->after, 0, sizeof(j->after)); /* a pass is done: start over */
			break;
		}
		for (size_t i = 0; i < x->n && bytes < j->budget; i++) {
			const uint8_t *id = x->ids[i];
			memcpy(j->after, id, CHUNK_ID_LEN);
			uint64_t size = 0;
			int err = store_verify_object(s, id, &size);
			j->scrubbed++;
			bytes += size;
			if (err != SHOAL_ECORRUPT && err != SHOAL_EMISSING)
				continue;
			if (err == SHOAL_EMISSING && released_meanwhile(s, ix, id))
				continue; /* its owner let it go since the batch was read */
			struct located loc;
			size_t nloc;
			if (err == SHOAL_EMISSING && store_located(s, id, &loc, 1, &nloc) == 0) {
				/* A folder's file changed or went since it was
				 * scanned: an older content, which members keep. */
				log_info("scrub: chunk %s is no longer in its file; copying it "
					 "from another node",
					 short_hex(id, sid));
			} else {
				j->corrupt++;
				log_warnx("scrub: chunk %s is %s; replacing it from another node",
					  short_hex(id, sid),
					  err == SHOAL_ECORRUPT ? "corrupt" : "missing");
			}
			err = repair_replace_chunk(rp->remote, s, ix,
						   (const uint8_t(*)[NODE_ID_LEN])j->peers,
						   j->npeers, id);
			if (!err) {
				j->fixed++;
				log_info("scrub: chunk %s replaced by a verified copy", sid);
			} else {
				j->unrecoverable++;
				log_warnx("scrub: chunk %s could not be replaced: %s", sid,
					  shoal_strerror(err));
			}
		}
		if (x->n < SCRUB_BATCH && bytes < j->budget) {
			memset(j->after, 0, sizeof(j->after));
			break;
		}
	}
	free(x);
}

/* ---- on the loop ---- */

static void scan_continue(struct repair *rp, double now);

/* Adds a scan slice's results to the pass's totals. */
static void pass_add(struct pass_totals *t, const struct repair_job *j)
{
	t->scanned += j->scanned;
	t->under += j->under;
	t->made += j->repaired;
	t->bytes += j->moved;
	t->released += j->released;
	t->short_of += j->short_of;
	t->no_target += j->no_target;
	t->corrupt += j->corrupt;
	t->fixed += j->fixed;
	t->handed += j->handed;
	if (j->last_err)
		t->last_err = j->last_err;
	for (size_t p = 0; t->to && p < j->npeers; p++) {
		if (!j->got[p])
			continue;
		size_t k = 0;
		while (k < t->nto && memcmp(t->to[k], j->peers[p], NODE_ID_LEN))
			k++;
		if (k == t->nto && t->nto < MESH_MEMBERS_MAX)
			memcpy(t->to[t->nto++], j->peers[p], NODE_ID_LEN);
	}
}

/*
 * Ends the pass in progress (cut: why it stopped early, or NULL) with one
 * line summing it up: at info level when it did something (copies made or
 * let go, damage found) or left chunks short that the last line did not
 * report; at debug level when it only saw chunks that other holders copy;
 * none when all was well. Per-chunk lines are at debug level.
 */
static void pass_end(struct repair *rp, const char *cut)
{
	const struct pass_totals *t = &rp->pass;
	int acted = t->made || t->released || t->corrupt;
	int news = t->short_of && t->short_of != rp->logged_short;
	rp->logged_short = t->short_of;
	if (!acted && !news && !t->under && !t->short_of)
		return;
	char stopped[96] = "", why[192] = "", damage[96] = "";
	if (cut)
		snprintf(stopped, sizeof(stopped), " (stopped early: %s)", cut);
	if (t->no_target && t->no_target == t->short_of)
		snprintf(why, sizeof(why), " (no member without a copy is up)");
	else if (t->no_target)
		snprintf(why, sizeof(why), " (%llu for want of a member without a copy%s%s)",
			 (unsigned long long)t->no_target, t->last_err ? "; last error: " : "",
			 t->last_err ? shoal_strerror(t->last_err) : "");
	else if (t->last_err && t->short_of)
		snprintf(why, sizeof(why), " (last error: %s)", shoal_strerror(t->last_err));
	if (t->corrupt)
		snprintf(damage, sizeof(damage), "; %llu damaged here, %llu of them replaced",
			 (unsigned long long)t->corrupt, (unsigned long long)t->fixed);
	char line[640];
	snprintf(line, sizeof(line),
		 "scan of %llu chunks%s: %llu under-replicated, %llu copies made (%.1f MiB) to "
		 "%zu member%s, %llu surplus released, %llu could not be copied%s%s",
		 (unsigned long long)t->scanned, stopped, (unsigned long long)t->under,
		 (unsigned long long)t->made, (double)t->bytes / (1024 * 1024), t->nto,
		 t->nto == 1 ? "" : "s", (unsigned long long)t->released,
		 (unsigned long long)t->short_of, why, damage);
	if (acted || news)
		log_info("repair: %s", line);
	else
		log_debug("repair: %s", line);
}

/* Starts the totals of a new pass (keeping the buffer of members). */
static void pass_reset(struct pass_totals *t)
{
	uint8_t(*to)[NODE_ID_LEN] = t->to;
	memset(t, 0, sizeof(*t));
	t->to = to;
}

/* A drain pass ended: when every chunk was looked at and the others hold
 * each as asked (or nothing is stored here), the drain is over. */
static void drain_pass_end(struct repair *rp, const struct repair_job *j)
{
	const struct pass_totals *t = &rp->pass;
	if (!rp->draining || j->silent)
		return;
	if (t->short_of || (t->scanned && !j->npeers)) {
		log_info("drain: %llu of %llu chunks handed over; %llu still held only here%s",
			 (unsigned long long)t->handed, (unsigned long long)rp->drain_total,
			 (unsigned long long)t->short_of,
			 j->npeers ? "" : " (no member is up to take them)");
		return;
	}
	log_info("drain: all %llu chunks are held by other members as asked",
		 (unsigned long long)t->scanned);
	rp->draining = 0;
	rp->stats.drain_done = rp->stats.drain_total = t->scanned;
	rp->drained(rp->drained_arg);
}

static void job_done(struct ops_job *oj)
{
	struct repair_job *j = (struct repair_job *)oj;
	struct repair *rp = j->rp;
	if (j->kind == JOB_SCAN) {
		rp->slice_out = 0;
		pass_add(&rp->pass, j);
		rp->stats.repaired += j->repaired;
		memcpy(rp->scan_after, j->after, CHUNK_ID_LEN);
		/* The next slice waits until the bytes copied so far fit the rate. */
		double rate = rp->cfg->repair_rate * 1024 * 1024;
		double wait = rate > 0 ? (double)j->moved / rate - j->seconds : 0;
		rp->next_slice = monotonic_seconds() + (wait > 0 ? wait : 0);
		if (wait > 0 && !j->pass_done) {
			struct timeval tv = {(time_t)wait,
					     (suseconds_t)((wait - (time_t)wait) * 1e6)};
			evtimer_add(rp->pace, &tv);
		}
		if (j->drain && j->total)
			rp->drain_total = j->total;
		rp->stats.drain_done = rp->pass.handed;
		rp->stats.drain_total = rp->drain_total;
		if (j->pass_done) {
			rp->scanning = 0;
			rp->stats.under_replicated = rp->pass.under;
			rp->stats.repairing = 0;
			pass_end(rp, j->silent ? "a member did not answer" : NULL);
			if (j->drain)
				drain_pass_end(rp, j);
		}
		scan_continue(rp, monotonic_seconds());
	} else {
		rp->scrubbing = 0;
		memcpy(rp->scrub_after, j->after, CHUNK_ID_LEN);
		rp->stats.scrubbed += j->scrubbed;
	}
	rp->stats.corrupt_found += j->corrupt;
	rp->stats.corrupt_fixed += j->fixed;
	rp->stats.unrecoverable += j->unrecoverable;
	free(j->peers);
	free(j->returned);
	free(j->recent);
	free(j->got);
	free(j);
}

static struct repair_job *job_new(struct repair *rp, enum job_kind kind)
{
	struct repair_job *j = calloc(1, sizeof(*j));
	if (!j)
		return NULL;
	j->kind = kind;
	j->rp = rp;
	j->peers = calloc(MESH_MEMBERS_MAX, sizeof(*j->peers));
	j->returned = calloc(MESH_MEMBERS_MAX, 1);
	j->got = calloc(MESH_MEMBERS_MAX, 1);
	if (!j->peers || !j->returned || !j->got) {
		free(j->peers);
		free(j->returned);
		free(j->got);
		free(j);
		return NULL;
	}
	j->npeers = mesh_up_ids(rp->mesh, j->peers, j->returned, MESH_MEMBERS_MAX);
	return j;
}

/* Submits the next slice of the pass in progress. */
static void scan_slice(struct repair *rp)
{
	struct repair_job *j = job_new(rp, JOB_SCAN);
	if (!j)
		return; /* tried again at the next tick */
	memcpy(j->after, rp->scan_after, CHUNK_ID_LEN);
	j->drain = rp->draining;
	double budget = rp->cfg->repair_rate * 1024 * 1024 * REPAIR_SLICE;
	j->budget = budget >= 1 ? (uint64_t)budget : 1;
	j->replicas_max = rp->cfg->replicas_max;
	j->recent = calloc(MESH_MEMBERS_MAX, sizeof(*j->recent));
	if (j->recent)
		j->nrecent = mesh_gone_lately(rp->mesh, j->recent, MESH_MEMBERS_MAX);
	rp->slice_out = 1;
	ops_submit(rp->ops, OPS_BACKGROUND, &j->job, scan_work, job_done);
}

/* Submits the pass's next slice when it is due. */
static void scan_continue(struct repair *rp, double now)
{
	if (!rp->scanning || rp->slice_out || now < rp->next_slice)
		return;
	unsigned waiting = 0;
	mesh_lost(rp->mesh, now, &waiting);
	if (waiting && !rp->draining) {
		/* A member went down during the pass: wait for its grace period
		 * like a new pass would (a drain counts on the members up only:
		 * it waits for nobody). */
		rp->scanning = 0;
		rp->stats.repairing = 0;
		pass_end(rp, "a member went down");
		return;
	}
	scan_slice(rp);
}

void repair_tick(struct repair *rp, double now)
{
	if (!rp)
		return;
	const struct config *cfg = rp->cfg;
	double interval = rp->draining && cfg->repair_interval > DRAIN_INTERVAL
				  ? DRAIN_INTERVAL
				  : cfg->repair_interval;
	if (!rp->scanning && now - rp->last_scan >= interval) {
		rp->last_scan = now;
		unsigned waiting = 0;
		mesh_lost(rp->mesh, now, &waiting);
		/* A member down for less than the grace period may be back soon:
		 * its copies still count, so nothing is decided meanwhile. */
		if (!waiting || rp->draining) {
			rp->scanning = 1;
			pass_reset(&rp->pass);
			rp->next_slice = now;
			memset(rp->scan_after, 0, sizeof(rp->scan_after));
			rp->stats.repairing = rp->stats.under_replicated;
		}
	}
	scan_continue(rp, now);
	if (cfg->scrub_rate > 0 && !rp->scrubbing && now - rp->last_scrub >= SCRUB_SLICE) {
		rp->last_scrub = now;
		struct repair_job *j = job_new(rp, JOB_SCRUB);
		if (j) {
			j->budget = (uint64_t)(cfg->scrub_rate * 1024 * 1024 * SCRUB_SLICE);
			memcpy(j->after, rp->scrub_after, CHUNK_ID_LEN);
			rp->scrubbing = 1;
			ops_submit(rp->ops, OPS_BACKGROUND, &j->job, scrub_work, job_done);
		}
	}
}

struct count_msg {
	struct lw_msg m;
	struct repair *rp;
	uint64_t found, fixed, lost;
};

static void count_deliver(struct lw_msg *msg)
{
	struct count_msg *c = (struct count_msg *)msg;
	c->rp->stats.corrupt_found += c->found;
	c->rp->stats.corrupt_fixed += c->fixed;
	c->rp->stats.unrecoverable += c->lost;
	free(c);
}

void repair_count(struct repair *rp, uint64_t corrupt_found, uint64_t corrupt_fixed,
		  uint64_t unrecoverable)
{
	struct count_msg *c = calloc(1, sizeof(*c));
	if (!c)
		return;
	c->m.fn = count_deliver;
	c->rp = rp;
	c->found = corrupt_found;
	c->fixed = corrupt_fixed;
	c->lost = unrecoverable;
	loopwork_post(rp->lw, &c->m);
}

const struct repair_stats *repair_stats(const struct repair *rp)
{
	return &rp->stats;
}

static void on_pace(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	scan_continue(arg, monotonic_seconds());
}

int repair_start(struct repair **out, const uint8_t self[NODE_ID_LEN], struct store *s,
		 struct mesh *mesh, struct ops *ops, struct remote *remote, struct event_base *base,
		 struct loopwork *lw)
{
	struct repair *rp = calloc(1, sizeof(*rp));
	if (!rp)
		return -ENOMEM;
	rp->pace = evtimer_new(base, on_pace, rp);
	rp->pass.to = calloc(MESH_MEMBERS_MAX, sizeof(*rp->pass.to));
	if (!rp->pace || !rp->pass.to) {
		if (rp->pace)
			event_free(rp->pace);
		free(rp->pass.to);
		free(rp);
		return -ENOMEM;
	}
	memcpy(rp->self, self, NODE_ID_LEN);
	rp->s = s;
	rp->mesh = mesh;
	rp->cfg = mesh->cfg;
	rp->ops = ops;
	rp->remote = remote;
	rp->lw = lw;
	rp->last_scan = rp->last_scrub = monotonic_seconds();
	*out = rp;
	return 0;
}

void repair_drain(struct repair *rp, void (*drained)(void *arg), void *arg)
{
	if (rp->draining)
		return;
	rp->draining = 1;
	rp->drained = drained;
	rp->drained_arg = arg;
	rp->stats.draining = 1;
	/* A repair pass under way finishes first; the next is a drain pass,
	 * at once. */
	rp->last_scan = 0;
	log_info("drain: handing every chunk over to other members before leaving");
}

void repair_free(struct repair *rp)
{
	if (rp) {
		event_free(rp->pace);
		free(rp->pass.to);
	}
	free(rp);
}
