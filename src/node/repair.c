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
#include "node/remote.h"
#include "proto/manifest.h"
#include "util/encoding.h"
#include "util/error.h"
#include "util/fsutil.h"
#include "util/log.h"
#include "util/progress.h"

#define SCAN_BATCH   WIRE_IDS_MAX
#define PUSH_TIMEOUT 60.0
#define SCRUB_SLICE  1.0 /* seconds between scrub slices */
#define SCRUB_BATCH  256
#define HAVE_TIMEOUT 10.0
#define SELF	     ((size_t)-1)

/* What was last logged for a chunk, so each decision is logged once. */
#define LOGGED_SLOTS 4096
struct logged {
	uint8_t id[8];
	uint16_t have, want;
};

struct repair {
	struct node *n;
	struct repair_stats stats;
	struct logged logged[LOGGED_SLOTS]; /* touched by the operations thread only */
	int scanning, scrubbing;
	double last_scan, last_scrub;
	uint8_t scrub_after[CHUNK_ID_LEN]; /* the scrub's cursor */
};

/* Work handed to the operations thread, and its results. */
struct repair_job {
	struct lw_job lw;
	struct repair *rp;
	uint8_t (*peers)[NODE_ID_LEN];
	uint8_t *returned; /* peers back after being lost */
	size_t npeers;
	double rate; /* bytes per second */
	/* scrub */
	uint8_t after[CHUNK_ID_LEN];
	uint64_t budget; /* bytes */
	/* results */
	uint64_t under, repaired, corrupt, fixed, unrecoverable, scrubbed;
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
	memcpy(l->id, id, sizeof(l->id));
	l->have = (uint16_t)have;
	l->want = (uint16_t)want;
	return 1;
}

/* Asks every peer which of ids[0..n) it holds; bits[p][i/8] bit i%8.
 * Returns how many peers did not answer (their bits are all zero). */
static size_t ask_have(struct node *n, const uint8_t (*peers)[NODE_ID_LEN], size_t npeers,
		       const uint8_t (*ids)[CHUNK_ID_LEN], size_t count,
		       uint8_t (*bits)[(WIRE_IDS_MAX + 7) / 8],
		       uint8_t (*own)[(WIRE_IDS_MAX + 7) / 8])
{
	struct rqueue q;
	rqueue_init(&q);
	struct rcall *calls = calloc(npeers ? npeers : 1, sizeof(*calls));
	for (size_t p = 0; calls && p < npeers; p++) {
		calls[p].kind = RCALL_HAVE;
		memcpy(calls[p].peer, peers[p], NODE_ID_LEN);
		calls[p].ids = ids;
		calls[p].nids = count;
		calls[p].timeout = HAVE_TIMEOUT;
		calls[p].user = (void *)(uintptr_t)p;
		remote_start(n, &calls[p], &q);
	}
	size_t silent = calls ? 0 : npeers;
	struct rcall *c;
	while ((c = rqueue_wait(&q))) {
		size_t p = (size_t)(uintptr_t)c->user;
		memset(bits[p], 0, sizeof(bits[p]));
		if (own)
			memset(own[p], 0, sizeof(own[p]));
		if (!c->err) {
			memcpy(bits[p], c->have, sizeof(bits[p]));
			if (own)
				memcpy(own[p], c->own, sizeof(own[p]));
		} else {
			silent++;
		}
	}
	free(calls);
	rqueue_destroy(&q);
	return silent;
}

static int has_bit(const uint8_t *bits, size_t i)
{
	return (bits[i / 8] >> (i % 8)) & 1;
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

int repair_replace_chunk(struct node *n, struct store *s, struct index *ix,
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
	int had_row = index_chunk_has(ix, id) == 1;
	if (!present && had_row)
		index_chunk_remove(ix, id);
	pthread_mutex_unlock(&s->gc_lock);
	if (present)
		return 0; /* intact after all */
	uint8_t(*bits)[(WIRE_IDS_MAX + 7) / 8] = calloc(npeers ? npeers : 1, sizeof(*bits));
	if (!bits)
		return -ENOMEM;
	ask_have(n, peers, npeers, (const uint8_t(*)[CHUNK_ID_LEN])id, 1, bits, NULL);
	int err = SHOAL_EMISSING;
	struct rqueue q;
	rqueue_init(&q);
	for (size_t p = 0; err && p < npeers; p++) {
		if (!has_bit(bits[p], 0))
			continue;
		struct rcall c = {.kind = RCALL_GET_STORE, .timeout = PUSH_TIMEOUT};
		memcpy(c.peer, peers[p], NODE_ID_LEN);
		memcpy(c.id, id, CHUNK_ID_LEN);
		remote_start(n, &c, &q);
		rqueue_wait(&q);
		if (c.err) {
			char sid[17], pid[NODE_ID_STR_LEN + 1];
			node_id_format(peers[p], pid);
			log_warnx("chunk %s: the copy of %.16s is not usable (%s); trying another",
				  short_hex(id, sid), pid, shoal_strerror(c.err));
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

/* Sleeps as needed so that bytes moved since start stay within rate. */
static void pace(double start, uint64_t bytes, double rate)
{
	double ahead = (double)bytes / rate - (monotonic_seconds() - start);
	if (ahead > 0)
		usleep((useconds_t)(ahead * 1e6));
}

/* Copies chunk id to targets; returns the copies made. */
static unsigned push_copies(struct repair_job *j, struct store *s, const uint8_t id[CHUNK_ID_LEN],
			    unsigned want, const size_t *targets, unsigned ntargets,
			    uint64_t *moved)
{
	struct node *n = j->rp->n;
	char sid[17];
	short_hex(id, sid);
	uint8_t *buf = NULL;
	void *p = NULL;
	if (posix_memalign(&p, OBJECTS_ALIGN, objects_align_up(OBJECT_SIZE_MAX)))
		return 0;
	buf = p;
	size_t len = 0;
	int err = objects_read(&s->objects, id, buf, objects_align_up(OBJECT_SIZE_MAX),
			       OBJECTS_DIRECT, &len);
	if (err == SHOAL_ECORRUPT || err == SHOAL_EMISSING) {
		/* Never spread a damaged copy: replace this one from a live holder
		 * (checked against the id), then copy that. */
		log_warnx("repair: chunk %s is %s here; replacing it first", sid,
			  err == SHOAL_ECORRUPT ? "damaged" : "missing");
		int e = repair_replace_chunk(
			n, s, s->index, (const uint8_t(*)[NODE_ID_LEN])j->peers, j->npeers, id);
		j->corrupt++;
		if (!e) {
			j->fixed++;
			err = objects_read(&s->objects, id, buf, objects_align_up(OBJECT_SIZE_MAX),
					   OBJECTS_DIRECT, &len);
		} else {
			j->unrecoverable++;
		}
	}
	if (err) {
		log_warnx("repair: chunk %s cannot be copied from here: %s", sid,
			  shoal_strerror(err));
		free(buf);
		return 0;
	}
	struct rbuf *rb = rbuf_new(buf, len);
	free(buf);
	if (!rb)
		return 0;
	struct rqueue q;
	rqueue_init(&q);
	struct rcall *calls = calloc(ntargets, sizeof(*calls));
	for (unsigned t = 0; calls && t < ntargets; t++) {
		calls[t].kind = RCALL_PUT;
		memcpy(calls[t].peer, j->peers[targets[t]], NODE_ID_LEN);
		memcpy(calls[t].id, id, CHUNK_ID_LEN);
		calls[t].buf = rb;
		calls[t].replicas = want;
		calls[t].timeout = PUSH_TIMEOUT;
		remote_start(n, &calls[t], &q);
	}
	unsigned made = 0;
	struct rcall *c;
	while ((c = rqueue_wait(&q))) {
		char pid[NODE_ID_STR_LEN + 1];
		node_id_format(c->peer, pid);
		if (c->err) {
			log_warnx("repair: copy of chunk %s to %.16s failed: %s", sid, pid,
				  shoal_strerror(c->err));
			continue;
		}
		made++;
		*moved += len;
		log_info("repair: chunk %s copied to %.16s", sid, pid);
		if (index_begin(s->index) == 0) {
			if (index_repaired_add(s->index, id, c->peer) == 0)
				index_commit(s->index);
			else
				index_rollback(s->index);
		}
	}
	rqueue_destroy(&q);
	free(calls);
	rbuf_unref(rb);
	return made;
}

/* The holder placement ranks first for id among self and the peers holding it. */
static size_t lead_holder(struct node *n, const uint8_t (*peers)[NODE_ID_LEN], size_t npeers,
			  const uint8_t (*bits)[(WIRE_IDS_MAX + 7) / 8], size_t i,
			  const uint8_t id[CHUNK_ID_LEN])
{
	size_t lead = SELF;
	uint64_t best = placement_score(n->id, id);
	const uint8_t *best_id = n->id;
	for (size_t p = 0; p < npeers; p++) {
		if (!has_bit(bits[p], i))
			continue;
		uint64_t sc = placement_score(peers[p], id);
		if (sc > best || (sc == best && memcmp(peers[p], best_id, NODE_ID_LEN) < 0)) {
			best = sc;
			best_id = peers[p];
			lead = p;
		}
	}
	return lead;
}

static void scan_work(struct pool_job *pj)
{
	struct repair_job *j = (struct repair_job *)lw_job_of(pj);
	struct node *n = j->rp->n;
	struct store *s = n->store;
	struct batch *b = malloc(sizeof(*b));
	uint8_t(*bits)[(WIRE_IDS_MAX + 7) / 8] = calloc(j->npeers ? j->npeers : 1, sizeof(*bits));
	uint8_t(*own)[(WIRE_IDS_MAX + 7) / 8] = calloc(j->npeers ? j->npeers : 1, sizeof(*own));
	size_t *order = malloc((j->npeers ? j->npeers : 1) * sizeof(*order));
	size_t *targets = malloc((j->npeers ? j->npeers : 1) * sizeof(*targets));
	uint8_t after[CHUNK_ID_LEN] = {0};
	double start = monotonic_seconds();
	uint64_t moved = 0;
	char sid[17];
	while (b && bits && own && order && targets) {
		b->n = 0;
		if (index_copies_foreach(s->index, after, SCAN_BATCH, add_to_batch, b) || !b->n)
			break;
		memcpy(after, b->ids[b->n - 1], CHUNK_ID_LEN);
		/* A member that does not answer (frozen, say, and not yet timed
		 * out) may well hold copies: decide nothing on a partial view. */
		if (ask_have(n, (const uint8_t(*)[NODE_ID_LEN])j->peers, j->npeers,
			     (const uint8_t(*)[CHUNK_ID_LEN])b->ids, b->n, bits, own))
			break;
		for (size_t i = 0; i < b->n; i++) {
			const uint8_t *id = b->ids[i];
			unsigned have = 1; /* this node */
			for (size_t p = 0; p < j->npeers; p++)
				have += has_bit(bits[p], i);
			unsigned want = b->want[i];
			if (have == want)
				continue;
			size_t lead =
				lead_holder(n, (const uint8_t(*)[NODE_ID_LEN])j->peers, j->npeers,
					    (const uint8_t(*)[(WIRE_IDS_MAX + 7) / 8]) bits, i, id);
			if (have < want)
				j->under++;
			if (have < want) {
				if (lead != SELF)
					continue; /* another holder acts for this chunk */
				placement_rank((const uint8_t(*)[NODE_ID_LEN])j->peers, j->npeers,
					       id, order);
				unsigned nt = 0;
				for (size_t k = 0; k < j->npeers && have + nt < want; k++) {
					if (!has_bit(bits[order[k]], i))
						targets[nt++] = order[k];
				}
				if (!nt)
					continue; /* no live member left to take a copy */
				if (news(j->rp, id, have, want))
					log_info("repair: chunk %s has %u of %u copies; copying it "
						 "to %u more node%s",
						 short_hex(id, sid), have, want, nt,
						 nt == 1 ? "" : "s");
				j->repaired += push_copies(j, s, id, want, targets, nt, &moved);
				pace(start, moved, j->rate);
				continue;
			}
			/* Surplus: a member came back after its copies were remade.
			 * One copy goes at a time: the one on the holder rendezvous
			 * hashing ranks last among the live holders that keep it
			 * only for others. Every node computes the same holder; it
			 * drops its copy, and whoever placed a copy there lets go of
			 * it too, so however many act, that one copy is all that
			 * goes (a placement let go is no longer one: no second time). */
			int back = 0;
			for (size_t p = 0; p < j->npeers; p++)
				back |= j->returned[p] && has_bit(bits[p], i);
			if (!back)
				continue;
			placement_rank((const uint8_t(*)[NODE_ID_LEN])j->peers, j->npeers, id,
				       order);
			/* The holder ranked last among those that keep it only for
			 * others (a holder whose own files need it cannot let go). */
			size_t last = SELF;
			for (size_t k = j->npeers; k-- > 0 && last == SELF;) {
				if (has_bit(bits[order[k]], i) && !has_bit(own[order[k]], i))
					last = order[k];
			}
			int self_free = index_chunk_referenced(s->index, id) == 0;
			if (self_free &&
			    (last == SELF ||
			     placement_score(n->id, id) < placement_score(j->peers[last], id))) {
				/* This node is that holder: it lets its own copy go. */
				if (index_begin(s->index))
					continue;
				if (index_surplus_drop(s->index, id)) {
					index_rollback(s->index);
					continue;
				}
				if (store_commit_releasing(s) == 0)
					log_info("repair: chunk %s has %u of %u copies; "
						 "letting this node's go",
						 short_hex(id, sid), have, want);
				continue;
			}
			if (last == SELF)
				continue;
			if (index_placed_has(s->index, id, j->peers[last]) != 1)
				continue;
			char pid[NODE_ID_STR_LEN + 1];
			node_id_format(j->peers[last], pid);
			if (index_begin(s->index) == 0) {
				if (index_placed_release(s->index, id, j->peers[last]) == 0)
					index_commit(s->index);
				else
					index_rollback(s->index);
			}
			log_info(
				"repair: chunk %s has %u of %u copies; releasing the copy on %.16s",
				short_hex(id, sid), have, want, pid);
		}
		if (b->n < SCAN_BATCH)
			break;
	}
	free(b);
	free(bits);
	free(own);
	free(order);
	free(targets);
}

/* ---- the scrub ---- */

struct scrub_ctx {
	struct repair_job *j;
	uint64_t bytes;
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

static void scrub_work(struct pool_job *pj)
{
	struct repair_job *j = (struct repair_job *)lw_job_of(pj);
	struct node *n = j->rp->n;
	struct store *s = n->store;
	struct scrub_ctx *x = calloc(1, sizeof(*x));
	if (!x)
		return;
	x->j = j;
	char sid[17];
	while (x->bytes < j->budget) {
		x->n = 0;
		if (index_chunks_after(s->index, j->after, SCRUB_BATCH, scrub_collect, x))
			break;
		if (!x->n) {
			memset(j->after, 0, sizeof(j->after)); /* a pass is done: start over */
			break;
		}
		for (size_t i = 0; i < x->n && x->bytes < j->budget; i++) {
			const uint8_t *id = x->ids[i];
			memcpy(j->after, id, CHUNK_ID_LEN);
			uint64_t size = 0;
			int err = objects_verify(&s->objects, id, &size);
			j->scrubbed++;
			x->bytes += size;
			if (err != SHOAL_ECORRUPT && err != SHOAL_EMISSING)
				continue;
			j->corrupt++;
			log_warnx("scrub: chunk %s is %s; replacing it from another node",
				  short_hex(id, sid),
				  err == SHOAL_ECORRUPT ? "corrupt" : "missing");
			err = repair_replace_chunk(n, s, s->index,
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
		if (x->n < SCRUB_BATCH && x->bytes < j->budget) {
			memset(j->after, 0, sizeof(j->after));
			break;
		}
	}
	free(x);
}

/* ---- on the loop ---- */

static void job_done(struct lw_msg *msg)
{
	struct repair_job *j = (struct repair_job *)lw_job_of_msg(msg);
	struct repair *rp = j->rp;
	if (j->lw.job.fn == scan_work) {
		rp->scanning = 0;
		rp->stats.under_replicated = j->under;
		rp->stats.repaired += j->repaired;
		rp->stats.repairing = 0;
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
	free(j);
}

static struct repair_job *job_new(struct repair *rp)
{
	struct repair_job *j = calloc(1, sizeof(*j));
	if (j)
		j->peers = calloc(NODE_MEMBERS_MAX, sizeof(*j->peers));
	if (!j || !j->peers) {
		free(j);
		return NULL;
	}
	j->rp = rp;
	j->returned = calloc(NODE_MEMBERS_MAX, 1);
	if (!j->returned) {
		free(j->peers);
		free(j);
		return NULL;
	}
	j->npeers = members_up_ids_returned(rp->n, j->peers, j->returned, NODE_MEMBERS_MAX);
	return j;
}

void repair_tick(struct node *n, double now)
{
	struct repair *rp = n->repair;
	if (!rp)
		return;
	if (!rp->scanning && now - rp->last_scan >= n->cfg.repair_interval) {
		rp->last_scan = now;
		unsigned waiting = 0;
		members_lost(n, now, &waiting);
		/* A member down for less than the grace period may be back soon:
		 * its copies still count, so nothing is decided meanwhile. */
		struct repair_job *j = waiting ? NULL : job_new(rp);
		if (j) {
			j->rate = n->cfg.repair_rate * 1024 * 1024;
			rp->scanning = 1;
			rp->stats.repairing = rp->stats.under_replicated;
			loopwork_submit(ctl_ops_lw(n), &j->lw, scan_work, job_done);
		}
	}
	if (n->cfg.scrub_rate > 0 && !rp->scrubbing && now - rp->last_scrub >= SCRUB_SLICE) {
		rp->last_scrub = now;
		struct repair_job *j = job_new(rp);
		if (j) {
			j->budget = (uint64_t)(n->cfg.scrub_rate * 1024 * 1024 * SCRUB_SLICE);
			memcpy(j->after, rp->scrub_after, CHUNK_ID_LEN);
			rp->scrubbing = 1;
			loopwork_submit(ctl_ops_lw(n), &j->lw, scrub_work, job_done);
		}
	}
}

struct count_msg {
	struct lw_msg m;
	struct node *n;
	uint64_t found, fixed, lost;
};

static void count_deliver(struct lw_msg *msg)
{
	struct count_msg *c = (struct count_msg *)msg;
	if (c->n->repair) {
		c->n->repair->stats.corrupt_found += c->found;
		c->n->repair->stats.corrupt_fixed += c->fixed;
		c->n->repair->stats.unrecoverable += c->lost;
	}
	free(c);
}

void repair_count(struct node *n, uint64_t corrupt_found, uint64_t corrupt_fixed,
		  uint64_t unrecoverable)
{
	struct count_msg *c = calloc(1, sizeof(*c));
	if (!c)
		return;
	c->m.fn = count_deliver;
	c->n = n;
	c->found = corrupt_found;
	c->fixed = corrupt_fixed;
	c->lost = unrecoverable;
	loopwork_post(n->lw, &c->m);
}

const struct repair_stats *repair_stats(const struct node *n)
{
	static const struct repair_stats none;
	return n->repair ? &n->repair->stats : &none;
}

int repair_start(struct node *n)
{
	struct repair *rp = calloc(1, sizeof(*rp));
	if (!rp)
		return -ENOMEM;
	rp->n = n;
	rp->last_scan = rp->last_scrub = node_now();
	n->repair = rp;
	return 0;
}

void repair_free(struct node *n)
{
	free(n->repair);
	n->repair = NULL;
}
