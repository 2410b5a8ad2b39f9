/*
 * The control socket; see ctl.h.
 */
#include "node/ctl.h"

#include <openssl/crypto.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/listener.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "net/frame.h"
#include "net/wire.h"
#include "node/fetch.h"
#include "node/replicate.h"
#include "proto/capability.h"
#include "proto/folderjournal.h"
#include "proto/name.h"
#include "store/files.h"
#include "store/versions.h"
#include "util/clock.h"
#include "util/encoding.h"
#include "util/error.h"
#include "util/log.h"

#define CTL_BAD_LIST_MAX 1000
#define GET_REPAIRS	 8 /* damaged local chunks a get replaces before giving up */

struct op;

struct ctl_client {
	struct ctl *ctl;
	struct bufferevent *bev;
	struct frame_reader reader;
	uint64_t serial;
	LIST_ENTRY(ctl_client) entry;
	struct op *op; /* the operation running for it, or NULL */
	int closing;
	uint64_t drain_request; /* waits for the drain's end (its request id), or 0 */
};

struct ctl {
	struct ctl_env env;
	struct evconnlistener *lis;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	LIST_HEAD(, ctl_client) clients;
	uint64_t next_serial;
	struct loopwork *lw; /* progress reports to the loop */
};

/* How a get, send or locate target was resolved on the loop. */
enum target_kind {
	TARGET_NONE,	   /* the request has none */
	TARGET_CAP,	   /* a capability: cap */
	TARGET_NAME,	   /* a name: this node's, else the catalog's (catalog_cap) */
	TARGET_UNRESOLVED, /* resolve_err says why */
};

/* One operation; work on a thread of the operations queue, done on the
 * loop. */
struct op {
	struct ops_job job;
	struct ctl *ctl;
	uint64_t client_serial;
	uint64_t request_id;
	Shoal__CtlRequest *req;
	struct progress progress;
	atomic_int cancel;
	struct buf reply; /* the packed final reply frame */
	/* taken on the loop when the request arrived */
	uint8_t (*peers)[NODE_ID_LEN];	 /* members up */
	char (*nicks)[NICKNAME_MAX + 1]; /* ... and their nicknames (locate) */
	size_t npeers;
	uint8_t (*down)[NODE_ID_LEN]; /* locate: members down, not yet lost */
	size_t ndown;
	enum target_kind target;
	const char *target_text;
	char catalog_cap[CAPABILITY_STR_LEN + 1]; /* the catalog's entry, when catalog_err is 0 */
	int catalog_err;			  /* of catalog_lookup() */
	struct capability cap;			  /* get, send, locate: the target resolved */
	char target_name[NAME_MAX_LEN + 1];	  /* a name target's name (no @OWNER), or "" */
	int resolve_err;
	char resolve_text[WIRE_CTL_TEXT_MAX]; /* why the catalog did not resolve it, or "" */
	/* for the loop once done: what to publish */
	int done_err;
	int unpublish;	   /* rm: the name's published (newest) version went */
	int names_changed; /* the names changed: the recovery table is due */
	uint8_t recover_secret[RECOVERY_SECRET_LEN]; /* recover: the key given */
	uint64_t recover_seq;			     /* ... and the record used */
	uint64_t size;
	char captext[CAPABILITY_STR_LEN + 1];
};

/* status: the counts of the index on the reader, the rest on the loop. */
struct status_job {
	struct ops_job job;
	struct ctl *ctl;
	uint64_t client_serial;
	uint64_t request_id;
	uint64_t chunks, bytes;
	uint64_t under_chunks, under_files;
};

struct progress_msg {
	struct lw_msg m;
	struct ctl *ctl;
	uint64_t client_serial;
	uint64_t request_id;
	uint64_t done, total;
};

static struct ctl_client *client_find(struct ctl *ctl, uint64_t serial)
{
	struct ctl_client *c;
	LIST_FOREACH(c, &ctl->clients, entry)
	{
		if (c->serial == serial)
			return c;
	}
	return NULL;
}

static void client_free(struct ctl_client *c)
{
	LIST_REMOVE(c, entry);
	if (c->op)
		atomic_store(&c->op->cancel, 1); /* its result is dropped when it finishes */
	bufferevent_free(c->bev);
	frame_reader_release(&c->reader);
	free(c);
}

/* Packs rep into out; when it cannot be packed (too long a list, say), packs
 * a short error reply instead, so the CLI is never left waiting. */
static void pack_reply(const Shoal__CtlReply *rep, struct buf *out)
{
	if (wire_ctl_reply_pack(rep, out) == 0)
		return;
	buf_reset(out);
	Shoal__CtlReply fallback = SHOAL__CTL_REPLY__INIT;
	fallback.request_id = rep->request_id;
	fallback.err = SHOAL_ETOOBIG;
	fallback.text = "the reply does not fit the control protocol";
	if (wire_ctl_reply_pack(&fallback, out))
		buf_reset(out);
}

static void client_send(struct ctl_client *c, const Shoal__CtlReply *rep)
{
	struct buf b = BUF_INIT;
	pack_reply(rep, &b);
	if (b.len)
		evbuffer_add(bufferevent_get_output(c->bev), b.data, b.len);
	buf_release(&b);
}

static void reply_error(struct ctl_client *c, uint64_t request_id, int err, const char *text)
{
	Shoal__CtlReply rep = SHOAL__CTL_REPLY__INIT;
	rep.request_id = request_id;
	rep.err = err;
	rep.text = (char *)text;
	client_send(c, &rep);
}

/* A progress frame (not final) for request_id. */
static void send_progress(struct ctl_client *c, uint64_t request_id, uint64_t done, uint64_t total)
{
	Shoal__CtlReply rep = SHOAL__CTL_REPLY__INIT;
	Shoal__CtlProgress pr = SHOAL__CTL_PROGRESS__INIT;
	pr.done = done;
	pr.total = total;
	rep.request_id = request_id;
	rep.reply_case = SHOAL__CTL_REPLY__REPLY_PROGRESS;
	rep.progress = &pr;
	client_send(c, &rep);
}

/* ---- answered on the loop ---- */

static void status_work(struct ops_job *oj, struct index *ix)
{
	struct status_job *j = (struct status_job *)oj;
	index_chunk_stats(ix, &j->chunks, &j->bytes);
	index_short_counts(ix, &j->under_chunks, &j->under_files);
}

static void status_done(struct ops_job *oj)
{
	struct status_job *j = (struct status_job *)oj;
	struct ctl *ctl = j->ctl;
	struct ctl_client *c = client_find(ctl, j->client_serial);
	if (!c) {
		free(j);
		return;
	}
	struct mesh *mesh = ctl->env.mesh;
	Shoal__CtlReply rep = SHOAL__CTL_REPLY__INIT;
	Shoal__CtlStatus st = SHOAL__CTL_STATUS__INIT;
	struct mesh_census mc;
	mesh_census(mesh, monotonic_seconds(), &mc);
	st.node_id.data = mesh->self;
	st.node_id.len = NODE_ID_LEN;
	st.listen_addr = (char *)ctl->env.listen_addr;
	st.peers_up = mc.up;
	st.peers_down = mc.down;
	st.peers_lost = mc.lost;
	st.peers_revoked = mc.revoked;
	st.repair_in = (int64_t)(mc.repair_in + 0.999);
	st.chunks = j->chunks;
	st.bytes = j->bytes;
	const struct repair_stats *rs = repair_stats(ctl->env.repair);
	st.under_replicated = j->under_chunks;
	st.under_files = j->under_files;
	st.repairing = rs->repairing;
	st.repaired = rs->repaired;
	st.corrupt_found = rs->corrupt_found;
	st.corrupt_fixed = rs->corrupt_fixed;
	st.unrecoverable = rs->unrecoverable;
	st.scrubbed = rs->scrubbed;
	st.draining = rs->draining;
	st.nickname = (char *)ctl->env.nickname;
	st.cert_expires = ctl->env.cert_expires;
	st.candidates = mesh->candidates.count;
	st.new_dials = mesh->dials.spent;
	rep.request_id = j->request_id;
	rep.reply_case = SHOAL__CTL_REPLY__REPLY_STATUS;
	rep.status = &st;
	client_send(c, &rep);
	free(j);
}

static void reply_peers(struct ctl_client *c, uint64_t request_id)
{
	struct mesh *mesh = c->ctl->env.mesh;
	Shoal__CtlPeer *items = calloc(mesh->nmembers ? mesh->nmembers : 1, sizeof(*items));
	Shoal__CtlPeer **ptrs = calloc(mesh->nmembers ? mesh->nmembers : 1, sizeof(*ptrs));
	if (!items || !ptrs) {
		reply_error(c, request_id, -ENOMEM, "out of memory");
		goto out;
	}
	double now = monotonic_seconds();
	for (unsigned i = 0; i < mesh->nmembers; i++) {
		struct member *m = &mesh->members[i];
		double in;
		shoal__ctl_peer__init(&items[i]);
		items[i].node_id.data = m->id;
		items[i].node_id.len = NODE_ID_LEN;
		items[i].addr = m->addr;
		items[i].up = m->state == MEMBER_UP;
		items[i].rtt_us = m->rtt_us;
		items[i].last_seen = m->last_seen;
		items[i].state = (char *)member_standing_name(member_standing(mesh, m, now, &in));
		items[i].nickname = m->nickname;
		items[i].repair_in = (int64_t)(in + 0.999);
		ptrs[i] = &items[i];
	}
	Shoal__CtlReply rep = SHOAL__CTL_REPLY__INIT;
	Shoal__CtlPeersReply pr = SHOAL__CTL_PEERS_REPLY__INIT;
	pr.n_peers = mesh->nmembers;
	pr.peers = ptrs;
	rep.request_id = request_id;
	rep.reply_case = SHOAL__CTL_REPLY__REPLY_PEERS;
	rep.peers = &pr;
	client_send(c, &rep);
out:
	free(items);
	free(ptrs);
}

/* ---- operations on the operations queue ---- */

static void progress_deliver(struct lw_msg *msg)
{
	struct progress_msg *m = (struct progress_msg *)msg;
	struct ctl_client *c = client_find(m->ctl, m->client_serial);
	if (c && !c->closing)
		send_progress(c, m->request_id, m->done, m->total);
	free(m);
}

static void op_progress(struct progress *p, void *arg)
{
	struct op *op = arg;
	struct progress_msg *m = calloc(1, sizeof(*m));
	if (!m)
		return;
	m->ctl = op->ctl;
	m->client_serial = op->client_serial;
	m->request_id = op->request_id;
	m->done = p->done;
	m->total = p->total;
	m->m.fn = progress_deliver;
	loopwork_post(op->ctl->lw, &m->m);
}

static void op_finish(struct op *op, Shoal__CtlReply *rep, int err, const char *text)
{
	/* Paths can be longer than a reply's text may be: cut, keep it valid. */
	char cut[WIRE_CTL_TEXT_MAX];
	rep->request_id = op->request_id;
	rep->err = err;
	if (err && text) {
		snprintf(cut, sizeof(cut), "%s", text);
		rep->text = cut;
	}
	pack_reply(rep, &op->reply);
}

static void op_put(struct op *op, struct store *s)
{
	const Shoal__CtlPutRequest *r = op->req->put;
	Shoal__CtlReply rep = SHOAL__CTL_REPLY__INIT;
	char text[WIRE_CTL_TEXT_MAX], warning[WIRE_CTL_TEXT_MAX] = "";
	unsigned wanted = r->replicas ? r->replicas : INDEX_DEFAULT_REPLICAS, want = wanted;
	size_t live = op->npeers + 1;
	if (want > live) {
		snprintf(warning, sizeof(warning),
			 "only %zu node%s up: %zu cop%s now, the other %zu once members join "
			 "(shoal explain %s)",
			 live, live == 1 ? " is" : "s are", live, live == 1 ? "y" : "ies",
			 (size_t)want - live, r->name[0] ? r->name : "NAME");
		want = (unsigned)live;
	}
	struct stat st;
	if (stat(r->path, &st) == 0 && S_ISREG(st.st_mode))
		op->progress.total = (uint64_t)st.st_size;
	struct replicate rp = {
		.remote = op->ctl->env.remote,
		.s = s,
		.peers = (const uint8_t(*)[NODE_ID_LEN])op->peers,
		.npeers = op->npeers,
		.copies = want - 1,
		.wanted = wanted,
	};
	struct files_replica_ops ops;
	replicate_init(&rp, &ops);
	struct files_put_report report = {.full = r->full};
	struct index_name before;
	int existed = index_name_get(s->index, r->name, &before) == 0;
	int err = files_put_path_report(s, r->path, r->name, &op->progress, &ops, &report, &op->cap,
					&op->size);
	char note[WIRE_CTL_TEXT_MAX] = "";
	if (!err && versions_after_put(s, r->name, existed ? &before : NULL, &op->cap,
				       &op->ctl->env.retention, note, sizeof(note)))
		log_warnx("put %s: the versions to prune were left as they were", r->name);
	if (note[0]) {
		size_t used = strlen(warning);
		snprintf(warning + used, sizeof(warning) - used, "%s%.500s", used ? "; " : "",
			 note);
	}
	char skipped[WIRE_CTL_TEXT_MAX];
	files_put_report_warning(&report, skipped, sizeof(skipped));
	if (!err && skipped[0]) {
		/* The same words as offline; after the copies warning, if any. */
		size_t used = strlen(warning);
		snprintf(warning + used, sizeof(warning) - used, "%s%.500s", used ? "; " : "",
			 skipped);
	}
	/* The file wants `wanted` copies, made now or not: repair makes the
	 * rest as members come up (index_copies_want_refs). */
	if (!err)
		err = index_copies_want_refs(s->index, op->cap.id, wanted);
	if (!err && want < wanted)
		err = index_short_refs(s->index, op->cap.id, want);
	if (warning[0])
		rep.warning = warning;
	Shoal__CtlTransfer transfer = SHOAL__CTL_TRANSFER__INIT;
	if (!err) {
		capability_format(&op->cap, op->captext);
		rep.reply_case = SHOAL__CTL_REPLY__REPLY_CAPABILITY;
		rep.capability = op->captext;
		rep.chunks = rp.nchunks;
		transfer.size = op->size;
		transfer.files = report.files;
		transfer.dirs = report.dirs;
		transfer.skipped = report.skipped;
		transfer.reused = report.reused;
		transfer.reused_bytes = report.reused_bytes;
		transfer.copies = want;
		transfer.directory = stat(r->path, &st) == 0 && S_ISDIR(st.st_mode);
		rep.transfer = &transfer;
	}
	if (rp.why[0])
		snprintf(text, sizeof(text), "cannot put %s: %s", r->path, rp.why);
	else if (err && report.where[0])
		snprintf(text, sizeof(text), "cannot put %.400s (at %.400s)", r->path,
			 report.where);
	else
		snprintf(text, sizeof(text), "cannot put %s", r->path);
	if (err && report.where[0])
		rep.where = report.where;
	op->done_err = err;
	op_finish(op, &rep, err, text);
	replicate_release(&rp);
}

/* Finishes resolving op's target on the writer (ix: its connection): a name
 * of this node's goes before one of the catalog's. */
static void resolve_name(struct op *op, struct index *ix)
{
	if (op->target != TARGET_NAME)
		return;
	struct index_name nm;
	uint32_t version =
		op->req->req_case == SHOAL__CTL_REQUEST__REQ_GET ? op->req->get->version : 0;
	int err = version ? index_version_get(ix, op->target_text, version, &nm)
			  : index_name_get(ix, op->target_text, &nm);
	if (err == 0) {
		op->resolve_text[0] = 0;
		/* This node's own name, taken whole even when it has an '@'. */
		snprintf(op->target_name, sizeof(op->target_name), "%s", op->target_text);
		op->resolve_err = capability_parse(&op->cap, nm.cap);
	} else if (version) {
		/* Versions are this node's: the catalog has only the newest. */
		op->resolve_err = err;
		snprintf(op->resolve_text, sizeof(op->resolve_text),
			 "no version %u of '%.255s' here (see 'shoal versions')", version,
			 op->target_text);
	} else if (!op->catalog_err) {
		op->resolve_err = capability_parse(&op->cap, op->catalog_cap);
	} else {
		op->resolve_err = op->catalog_err;
	}
}

/* Finishes op when its target did not resolve (see resolve_target()). */
static int op_unresolved(struct op *op, Shoal__CtlReply *rep)
{
	if (!op->resolve_err)
		return 0;
	op_finish(op, rep, op->resolve_err,
		  op->resolve_err == SHOAL_EBADCAP ? "not a valid capability"
		  : op->resolve_text[0]		   ? op->resolve_text
						   : "no such name here or in the network catalog");
	return 1;
}

/* A fetch on the ops thread whose connection is ix, with this op's view of
 * the network. */
static void op_fetch_init(struct op *op, struct store *s, struct index *ix, struct fetch *f)
{
	memset(f, 0, sizeof(*f));
	f->r = op->ctl->env.remote;
	f->s = s;
	f->ix = ix;
	f->peers = (const uint8_t(*)[NODE_ID_LEN])op->peers;
	f->npeers = op->npeers;
	f->progress = &op->progress;
}

/* Fills t with what cap is, for a reply that succeeded. */
static void transfer_of(struct store *s, const struct capability *cap, Shoal__CtlReply *rep,
			Shoal__CtlTransfer *t)
{
	struct files_summary sum;
	if (files_summarize(s, cap, &sum))
		return;
	t->directory = sum.directory;
	t->size = sum.size;
	t->files = sum.files;
	t->dirs = sum.dirs;
	rep->transfer = t;
}

/* On the getter (ops.h: OPS_GET), whose connection is ix. */
static void op_get(struct op *op, struct store *s, struct index *ix)
{
	const Shoal__CtlGetRequest *r = op->req->get;
	Shoal__CtlReply rep = SHOAL__CTL_REPLY__INIT;
	Shoal__CtlTransfer transfer = SHOAL__CTL_TRANSFER__INIT;
	char text[WIRE_CTL_TEXT_MAX];
	if (op_unresolved(op, &rep))
		return;
	struct fetch f;
	op_fetch_init(op, s, ix, &f);
	struct files_failure failed = {0};
	/* Modes as the asking CLI's umask (or --preserve-mode) has them: the
	 * daemon's own umask never reaches the user's files. */
	struct files_restore how = {
		.mode_keep = files_mode_keep(r->umask, (enum files_preserve)r->preserve),
		.replace = r->replace,
	};
	/* What is all here is read without writing anything (a full disk
	 * still reads); a chunk found damaged is replaced from another node
	 * and the read tried again. */
	int err = files_get(s, &op->cap, r->out_path, &how, &op->progress, &failed);
	for (int tries = 0; err == SHOAL_ECORRUPT && failed.set && tries < GET_REPAIRS; tries++) {
		char hex[2 * CHUNK_ID_LEN + 1];
		hex_encode(hex, failed.id, CHUNK_ID_LEN);
		log_warnx("get: chunk %.16s is damaged here; replacing it from another node", hex);
		int e = repair_replace_chunk(op->ctl->env.remote, s, ix,
					     (const uint8_t(*)[NODE_ID_LEN])op->peers, op->npeers,
					     failed.id);
		repair_count(op->ctl->env.repair, 1, !e, !!e);
		if (e)
			break;
		op->progress.done = 0;
		err = files_get(s, &op->cap, r->out_path, &how, &op->progress, &failed);
	}
	uint8_t token[CHUNK_ID_LEN];
	fetch_get_token(op->cap.id, token);
	if (err != SHOAL_EMISSING) {
		/* An earlier get, interrupted, may have left what it fetched: now
		 * that the file is out, let that go. */
		if (!err && index_pending_has(ix, token) == 1)
			fetch_release(&f, token);
		f.chunks = 0;
		if (err && failed.set) {
			rep.failed_chunk.data = failed.id;
			rep.failed_chunk.len = CHUNK_ID_LEN;
		}
		if (!err)
			transfer_of(s, &op->cap, &rep, &transfer);
		snprintf(text, sizeof(text), "cannot get into %s", r->out_path);
		op_finish(op, &rep, err, text);
		return;
	}
	/* Something is not stored here: fetch what is missing, then read. */
	memset(&failed, 0, sizeof(failed));
	op->progress.done = 0;
	err = fetch_into(&f, &op->cap, token);
	if (!err) {
		/* Everything is here now; the copy out only needs the cancel flag. */
		struct progress quiet = {.cancel = &op->cancel};
		err = files_get(s, &op->cap, r->out_path, &how, &quiet, &failed);
	} else if (f.failed_set) {
		failed.set = 1;
		memcpy(failed.id, f.failed, CHUNK_ID_LEN);
	}
	/* Before the release, which may drop the manifest again. */
	if (!err)
		transfer_of(s, &op->cap, &rep, &transfer);
	/* Kept on failure: a get run again resumes from what is stored. */
	if (!err)
		fetch_release(&f, token);
	if (err && failed.set) {
		rep.failed_chunk.data = failed.id;
		rep.failed_chunk.len = CHUNK_ID_LEN;
	}
	rep.chunks = f.chunks;
	rep.fetched = f.fetched;
	char hex[2 * CHUNK_ID_LEN + 1];
	hex_encode(hex, op->cap.id, CHUNK_ID_LEN);
	log_info("get %.16s: %llu chunks, %llu fetched from other nodes%s", hex,
		 (unsigned long long)f.chunks, (unsigned long long)f.fetched,
		 err ? "; failed (what was fetched is kept for the next try)" : "");
	if (f.why[0])
		snprintf(text, sizeof(text), "cannot get into %s: %s", r->out_path, f.why);
	else
		snprintf(text, sizeof(text), "cannot get into %s", r->out_path);
	op_finish(op, &rep, err, text);
}

static void op_send(struct op *op, struct store *s)
{
	const Shoal__CtlSendRequest *r = op->req->send;
	Shoal__CtlReply rep = SHOAL__CTL_REPLY__INIT;
	Shoal__CtlTransfer transfer = SHOAL__CTL_TRANSFER__INIT;
	char text[WIRE_CTL_TEXT_MAX], sid[NODE_ID_STR_LEN + 1];
	if (op_unresolved(op, &rep))
		return;
	node_id_format(r->to.data, sid);
	if (!memcmp(r->to.data, op->ctl->env.mesh->self, NODE_ID_LEN)) {
		op_finish(op, &rep, SHOAL_EUSAGE, "that node is this one");
		return;
	}
	int up = 0;
	for (size_t i = 0; i < op->npeers; i++)
		up |= !memcmp(op->peers[i], r->to.data, NODE_ID_LEN);
	if (!up) {
		snprintf(text, sizeof(text), "node %s is not connected", sid);
		op_finish(op, &rep, -ENOTCONN, text);
		return;
	}
	/* The bar: the file's size when its manifest is here, all of it once
	 * the target reports the whole file stored. */
	struct manifest m;
	if (files_read_manifest(s, &op->cap, &m) == 0) {
		op->progress.total = m.size;
		manifest_release(&m);
	}
	progress_add(&op->progress, 0);
	struct rqueue q;
	rqueue_init(&q);
	struct rcall c = {.kind = RCALL_FETCH};
	memcpy(c.peer, r->to.data, NODE_ID_LEN);
	memcpy(c.id, op->cap.id, CHUNK_ID_LEN);
	memcpy(c.key, op->cap.key, CHUNK_KEY_LEN);
	/* A name goes with the file; a bare capability lets the target name it. */
	c.name = op->target == TARGET_NAME ? op->target_name : "";
	remote_start(op->ctl->env.remote, &c, &q);
	rqueue_wait(&q);
	rqueue_destroy(&q);
	int err = c.err;
	char warning[WIRE_CTL_TEXT_MAX];
	if (!err && c.filed[0]) {
		/* The target keeps the file as its own: nothing to unpin there
		 * later. Say so when it filed it under another name than sent. */
		char sent[NAME_MAX_LEN + 1];
		if (op->target == TARGET_NAME)
			snprintf(sent, sizeof(sent), "%s", op->target_name);
		else
			fetch_receive_default_name(op->cap.id, sent);
		if (strcmp(sent, c.filed)) {
			snprintf(warning, sizeof(warning),
				 "node %.16s already has a file named '%.255s': it keeps this one "
				 "as '%.255s'",
				 sid, sent, c.filed);
			rep.warning = warning;
		}
	} else if (!err) {
		/* An older target keeps the file for this node only: removing the
		 * name here later unpins the copy there. */
		err = index_begin(s->index);
		if (!err)
			err = index_placed_add(s->index, op->cap.id, r->to.data);
		if (!err)
			err = index_commit(s->index);
		else
			index_rollback(s->index);
	}
	if (!err) {
		rep.chunks = c.chunks;
		rep.fetched = c.fetched;
		op->progress.done = op->progress.total;
		transfer_of(s, &op->cap, &rep, &transfer);
	}
	snprintf(text, sizeof(text), "node %.16s could not fetch the file", sid);
	op_finish(op, &rep, err, text);
}

/* The members down but not lost (their copies still count), into a new
 * array *out; returns how many (0 with *out NULL when none or no memory). */
static size_t down_ids(const struct mesh *mesh, uint8_t (**out)[NODE_ID_LEN])
{
	double now = monotonic_seconds();
	size_t n = 0;
	*out = calloc(mesh->nmembers ? mesh->nmembers : 1, sizeof(**out));
	for (unsigned i = 0; *out && i < mesh->nmembers; i++) {
		const struct member *mb = &mesh->members[i];
		if (member_standing(mesh, mb, now, NULL) == STANDING_DOWN)
			memcpy((*out)[n++], mb->id, NODE_ID_LEN);
	}
	return n;
}

static void op_locate(struct op *op, struct store *s)
{
	Shoal__CtlReply rep = SHOAL__CTL_REPLY__INIT;
	if (op_unresolved(op, &rep))
		return;
	struct fetch f;
	op_fetch_init(op, s, s->index, &f);
	uint8_t token[CHUNK_ID_LEN];
	fetch_get_token(op->cap.id, token);
	uint8_t(*ids)[CHUNK_ID_LEN] = NULL;
	uint64_t *sizes = NULL;
	size_t n = 0;
	int err = fetch_list_chunks(&f, &op->cap, &ids, &sizes, &n);
	if (err == SHOAL_EMISSING) {
		/* Not stored here: fetch the file, list it, let it go again. */
		err = fetch_into(&f, &op->cap, token);
		if (!err)
			err = fetch_list_chunks(&f, &op->cap, &ids, &sizes, &n);
		fetch_release(&f, token);
	}
	if (err) {
		op_finish(op, &rep, err, "cannot read the file's manifest");
		return;
	}
	/* holders[i * (npeers + 1) + k]: peer k (npeers: this node) holds chunk i */
	size_t width = op->npeers + 1;
	uint8_t *held = calloc(n * width, 1);
	Shoal__CtlChunkHolders *items = calloc(n ? n : 1, sizeof(*items));
	Shoal__CtlChunkHolders **ptrs = calloc(n ? n : 1, sizeof(*ptrs));
	ProtobufCBinaryData *hold = calloc(n * width + 1, sizeof(*hold));
	ProtobufCBinaryData *down = calloc(n * (op->ndown + 1) + 1, sizeof(*down));
	char **nick = calloc(n * width + 1, sizeof(*nick));
	if (!held || !items || !ptrs || !hold || !nick || !down)
		err = -ENOMEM;
	uint8_t(*bits)[REMOTE_BITS] = calloc(op->npeers ? op->npeers : 1, sizeof(*bits));
	if (!bits)
		err = -ENOMEM;
	for (size_t base = 0; !err && base < n; base += WIRE_IDS_MAX) {
		size_t cnt = n - base < WIRE_IDS_MAX ? n - base : WIRE_IDS_MAX;
		remote_have(op->ctl->env.remote, (const uint8_t(*)[NODE_ID_LEN])op->peers,
			    op->npeers, (const uint8_t(*)[CHUNK_ID_LEN])ids[base], cnt, bits, NULL,
			    NULL);
		for (size_t k = 0; k < op->npeers; k++) {
			for (size_t i = 0; i < cnt; i++)
				held[(base + i) * width + k] = (uint8_t)remote_bit(bits[k], i);
		}
		for (size_t i = 0; i < cnt; i++)
			held[(base + i) * width + op->npeers] =
				store_object_present(s, ids[base + i]) == 1;
	}
	free(bits);
	size_t used = 0;
	for (size_t i = 0; !err && i < n; i++) {
		shoal__ctl_chunk_holders__init(&items[i]);
		items[i].id.data = ids[i];
		items[i].id.len = CHUNK_ID_LEN;
		items[i].size = sizes[i];
		items[i].holders = &hold[used];
		items[i].nicknames = op->nicks ? &nick[used] : NULL;
		for (size_t k = 0; k < width; k++) {
			if (!held[i * width + k])
				continue;
			hold[used].data = k == op->npeers ? op->ctl->env.mesh->self : op->peers[k];
			hold[used].len = NODE_ID_LEN;
			nick[used] = op->nicks ? op->nicks[k] : "";
			used++;
			items[i].n_holders++;
		}
		items[i].n_nicknames = op->nicks ? items[i].n_holders : 0;
		index_copies_get(s->index, ids[i], &items[i].wanted);
		/* The copies placed on members down count until they are lost. */
		items[i].placed_down = &down[i * (op->ndown + 1)];
		for (size_t k = 0; k < op->ndown; k++) {
			if (index_placed_has(s->index, ids[i], op->down[k]) != 1)
				continue;
			items[i].placed_down[items[i].n_placed_down].data = op->down[k];
			items[i].placed_down[items[i].n_placed_down++].len = NODE_ID_LEN;
		}
		ptrs[i] = &items[i];
	}
	Shoal__CtlLocate loc = SHOAL__CTL_LOCATE__INIT;
	loc.chunks = ptrs;
	loc.n_chunks = err ? 0 : n;
	rep.reply_case = SHOAL__CTL_REPLY__REPLY_LOCATE;
	rep.locate = &loc;
	op_finish(op, &rep, err, "cannot locate the file's chunks");
	free(held);
	free(items);
	free(ptrs);
	free(hold);
	free(down);
	free(nick);
	free(ids);
	free(sizes);
}

/* A list of CtlNames being built (ls, ls --network); every string is a copy. */
struct names_acc {
	Shoal__CtlName *items;
	size_t n, cap;
	Shoal__CtlName **ptrs;
	Shoal__CtlNames names;
};

static int names_add(struct names_acc *a, const char *name, const char *cap, uint64_t size,
		     int64_t created, const uint8_t *owner)
{
	if (a->n == a->cap) {
		size_t ncap = a->cap ? a->cap * 2 : 64;
		void *p = realloc(a->items, ncap * sizeof(*a->items));
		if (!p)
			return -ENOMEM;
		a->items = p;
		a->cap = ncap;
	}
	Shoal__CtlName *x = &a->items[a->n++];
	shoal__ctl_name__init(x);
	x->name = strdup(name);
	x->capability = strdup(cap);
	x->size = size;
	x->created = created;
	if (owner && (x->owner.data = malloc(NODE_ID_LEN))) {
		memcpy(x->owner.data, owner, NODE_ID_LEN);
		x->owner.len = NODE_ID_LEN;
	}
	return x->name && x->capability && (!owner || x->owner.data) ? 0 : -ENOMEM;
}

/* Points rep at the list; returns err, or -ENOMEM. */
static int names_reply(struct names_acc *a, Shoal__CtlReply *rep, int err)
{
	a->ptrs = calloc(a->n ? a->n : 1, sizeof(*a->ptrs));
	if (!a->ptrs)
		return -ENOMEM;
	for (size_t i = 0; i < a->n; i++)
		a->ptrs[i] = &a->items[i];
	shoal__ctl_names__init(&a->names);
	a->names.n_names = a->n;
	a->names.names = a->ptrs;
	rep->reply_case = SHOAL__CTL_REPLY__REPLY_NAMES;
	rep->names = &a->names;
	return err;
}

static void names_release(struct names_acc *a)
{
	for (size_t i = 0; i < a->n; i++) {
		free(a->items[i].name);
		free(a->items[i].capability);
		free(a->items[i].owner.data);
		if (a->items[i].owner_nickname != protobuf_c_empty_string)
			free(a->items[i].owner_nickname);
		free(a->items[i].sender.data);
		if (a->items[i].sender_nickname != protobuf_c_empty_string)
			free(a->items[i].sender_nickname);
	}
	free(a->items);
	free(a->ptrs);
}

static int collect_name(const struct index_name *nm, void *arg)
{
	struct names_acc *a = arg;
	int err = names_add(a, nm->name, nm->cap, nm->size, nm->created, NULL);
	if (!err) {
		a->items[a->n - 1].copies = nm->copies;
		a->items[a->n - 1].wanted = nm->wanted;
		a->items[a->n - 1].version = nm->version;
		a->items[a->n - 1].versions = nm->versions;
	}
	Shoal__CtlName *x = err ? NULL : &a->items[a->n - 1];
	if (x && nm->received) {
		/* Freed with the owner's fields by names_release(). */
		if (!(x->sender.data = malloc(NODE_ID_LEN)))
			return -ENOMEM;
		memcpy(x->sender.data, nm->sender, NODE_ID_LEN);
		x->sender.len = NODE_ID_LEN;
		if (nm->sender_nickname[0] && !(x->sender_nickname = strdup(nm->sender_nickname)))
			return -ENOMEM;
	}
	return err;
}

static void op_ls(struct op *op, struct index *ix)
{
	Shoal__CtlReply rep = SHOAL__CTL_REPLY__INIT;
	struct names_acc a = {0};
	int err = names_reply(&a, &rep, index_names_foreach(ix, collect_name, &a));
	op_finish(op, &rep, err, "cannot list names");
	names_release(&a);
}

static void op_rm(struct op *op, struct store *s)
{
	Shoal__CtlReply rep = SHOAL__CTL_REPLY__INIT;
	const Shoal__CtlRmRequest *r = op->req->rm;
	struct index_name newest;
	int err = index_name_get(s->index, r->name, &newest);
	if (!err)
		err = store_remove_version(s, r->name, r->version);
	/* The catalog names the newest version: it goes when that does. */
	op->unpublish = !err && (!r->version || r->version == newest.version);
	op->done_err = err;
	op_finish(op, &rep, err,
		  err == SHOAL_ENOTFOUND ? (r->version ? "no such version" : "no such name")
					 : "cannot remove");
}

/* The versions being listed (versions, prune). */
struct versions_acc {
	struct index *ix;
	Shoal__CtlVersion *items;
	Shoal__CtlVersion **ptrs;
	size_t n, cap;
};

static int versions_add(const struct index_name *v, int kept, void *arg)
{
	struct versions_acc *a = arg;
	if (a->n == a->cap) {
		size_t cap = a->cap ? 2 * a->cap : 16;
		void *p = realloc(a->items, cap * sizeof(*a->items));
		if (!p)
			return -ENOMEM;
		a->items = p;
		a->cap = cap;
	}
	Shoal__CtlVersion *x = &a->items[a->n];
	shoal__ctl_version__init(x);
	if (!(x->name = strdup(v->name)) || !(x->capability = strdup(v->cap))) {
		free(x->name);
		return -ENOMEM;
	}
	a->n++;
	x->version = v->version;
	x->created = v->created;
	x->size = v->size;
	x->copies = v->copies;
	x->wanted = v->wanted;
	x->kept = kept;
	return 0;
}

static int collect_version(const struct index_name *v, void *arg)
{
	return versions_add(v, 1, arg);
}

/* Finishes op with the list in a (freed here) as the reply's case. */
static void versions_finish(struct op *op, struct versions_acc *a, int err, uint64_t removed,
			    const char *text)
{
	Shoal__CtlReply rep = SHOAL__CTL_REPLY__INIT;
	Shoal__CtlVersions list = SHOAL__CTL_VERSIONS__INIT;
	a->ptrs = calloc(a->n ? a->n : 1, sizeof(*a->ptrs));
	if (!a->ptrs && !err)
		err = -ENOMEM;
	for (size_t i = 0; a->ptrs && i < a->n; i++)
		a->ptrs[i] = &a->items[i];
	list.versions = a->ptrs;
	list.n_versions = err ? 0 : a->n;
	list.removed = removed;
	if (op->req->req_case == SHOAL__CTL_REQUEST__REQ_PRUNE) {
		rep.reply_case = SHOAL__CTL_REPLY__REPLY_PRUNED;
		rep.pruned = &list;
	} else {
		rep.reply_case = SHOAL__CTL_REPLY__REPLY_VERSIONS;
		rep.versions = &list;
	}
	op_finish(op, &rep, err, err == SHOAL_ENOTFOUND ? "no such name" : text);
	for (size_t i = 0; i < a->n; i++) {
		free(a->items[i].name);
		free(a->items[i].capability);
	}
	free(a->items);
	free(a->ptrs);
}

static void op_versions(struct op *op, struct index *ix)
{
	struct versions_acc a = {.ix = ix};
	int err = index_versions_foreach(ix, op->req->versions->name, collect_version, &a);
	if (!err && !a.n)
		err = SHOAL_ENOTFOUND;
	versions_finish(op, &a, err, 0, "cannot list the versions");
}

static void op_prune(struct op *op, struct store *s)
{
	const Shoal__CtlPruneRequest *r = op->req->prune;
	struct retention keep = {r->keep_last, r->keep_daily, r->keep_weekly, r->keep_monthly};
	struct versions_acc a = {.ix = s->index};
	uint64_t removed = 0;
	int err = versions_prune(s, r->name[0] ? r->name : NULL, &keep, r->dry_run, versions_add,
				 &a, &removed);
	op->names_changed = !r->dry_run && removed > 0;
	versions_finish(op, &a, err, removed, "cannot prune");
}

/* shoal recover, on the writer: see recovery_recover_work(). */
static void op_recover(struct op *op, struct index *ix)
{
	Shoal__CtlReply rep = SHOAL__CTL_REPLY__INIT;
	Shoal__CtlRecovered out = SHOAL__CTL_RECOVERED__INIT;
	struct recovery_result res = {0};
	int err = recovery_key_parse(op->req->recover->key, op->recover_secret);
	if (!err)
		err = recovery_recover_work(op->ctl->env.recovery, ix, op->recover_secret,
					    (const uint8_t(*)[NODE_ID_LEN])op->peers, op->npeers,
					    &op->progress, &res);
	else
		snprintf(res.why, sizeof(res.why), "not a recovery key");
	op->done_err = err;
	op->recover_seq = res.seq;
	op->names_changed = !err || res.versions > 0;
	out.names = res.names;
	out.versions = res.versions;
	out.skipped = res.skipped;
	out.chunks = res.chunks;
	out.fetched = res.fetched;
	out.seq = res.seq;
	out.owner.data = res.owner;
	out.owner.len = res.seq ? NODE_ID_LEN : 0;
	if (!err) {
		rep.reply_case = SHOAL__CTL_REPLY__REPLY_RECOVERED;
		rep.recovered = &out;
	}
	op_finish(op, &rep, err, res.why[0] ? res.why : "recover failed");
}

struct bad_acc {
	Shoal__CtlBadChunk items[CTL_BAD_LIST_MAX];
	uint8_t ids[CTL_BAD_LIST_MAX][CHUNK_ID_LEN];
	size_t n;
};

static void collect_bad(const uint8_t id[CHUNK_ID_LEN], int err, void *arg)
{
	struct bad_acc *a = arg;
	if (a->n == CTL_BAD_LIST_MAX)
		return;
	shoal__ctl_bad_chunk__init(&a->items[a->n]);
	memcpy(a->ids[a->n], id, CHUNK_ID_LEN);
	a->items[a->n].id.data = a->ids[a->n];
	a->items[a->n].id.len = CHUNK_ID_LEN;
	a->items[a->n].err = err;
	a->n++;
}

static void op_verify(struct op *op, struct store *s)
{
	Shoal__CtlReply rep = SHOAL__CTL_REPLY__INIT;
	Shoal__CtlVerify v = SHOAL__CTL_VERIFY__INIT;
	struct bad_acc *a = calloc(1, sizeof(*a));
	Shoal__CtlBadChunk *ptrs[CTL_BAD_LIST_MAX];
	if (!a) {
		op_finish(op, &rep, -ENOMEM, "out of memory");
		return;
	}
	struct store_verify_report r;
	int err = store_verify_progress(s, collect_bad, a, &op->progress, &r);
	if (!err && op->req->verify->repair && a->n) {
		/* Replace each bad or missing chunk from the others; list what
		 * stays bad. */
		struct ctl *ctl = op->ctl;
		size_t kept = 0;
		for (size_t i = 0; i < a->n; i++) {
			if (progress_cancelled(&op->progress)) {
				err = -EINTR;
				break;
			}
			int e = repair_replace_chunk(ctl->env.remote, s, s->index,
						     (const uint8_t(*)[NODE_ID_LEN])op->peers,
						     op->npeers, a->ids[i]);
			char hex[2 * CHUNK_ID_LEN + 1];
			hex_encode(hex, a->ids[i], CHUNK_ID_LEN);
			if (!e) {
				v.repaired++;
				log_info("verify: chunk %.16s replaced by a verified copy", hex);
				continue;
			}
			v.unrecoverable++;
			log_warnx("verify: chunk %.16s could not be replaced: %s", hex,
				  shoal_strerror(e));
			memmove(a->ids[kept], a->ids[i], CHUNK_ID_LEN);
			a->items[kept] = a->items[i];
			a->items[kept].id.data = a->ids[kept];
			kept++;
		}
		repair_count(ctl->env.repair, r.corrupt, v.repaired, v.unrecoverable);
		if (!err)
			a->n = kept;
	}
	for (size_t i = 0; i < a->n; i++)
		ptrs[i] = &a->items[i];
	v.checked = r.checked;
	v.bytes = r.bytes;
	v.corrupt = r.corrupt;
	v.missing = r.missing;
	v.n_bad = a->n;
	v.bad = ptrs;
	rep.reply_case = SHOAL__CTL_REPLY__REPLY_VERIFY;
	rep.verify = &v;
	op_finish(op, &rep, err, "verify stopped");
	free(a);
}

static void op_work(struct ops_job *oj, struct index *ix)
{
	struct op *op = (struct op *)oj;
	struct store *s = op->ctl->env.store;
	resolve_name(op, ix);
	switch (op->req->req_case) {
	case SHOAL__CTL_REQUEST__REQ_PUT:
		op_put(op, s);
		break;
	case SHOAL__CTL_REQUEST__REQ_GET:
		op_get(op, s, ix);
		break;
	case SHOAL__CTL_REQUEST__REQ_LS:
		op_ls(op, ix);
		break;
	case SHOAL__CTL_REQUEST__REQ_RM:
		op_rm(op, s);
		break;
	case SHOAL__CTL_REQUEST__REQ_VERIFY:
		op_verify(op, s);
		break;
	case SHOAL__CTL_REQUEST__REQ_SEND:
		op_send(op, s);
		break;
	case SHOAL__CTL_REQUEST__REQ_LOCATE:
		op_locate(op, s);
		break;
	case SHOAL__CTL_REQUEST__REQ_VERSIONS:
		op_versions(op, ix);
		break;
	case SHOAL__CTL_REQUEST__REQ_PRUNE:
		op_prune(op, s);
		break;
	case SHOAL__CTL_REQUEST__REQ_RECOVER:
		op_recover(op, ix);
		break;
	default:
		break;
	}
}

/* A put that stored its file but whose publication the catalog refused:
 * the reply becomes that failure, naming the capability. */
static void op_publish_failed(struct op *op, int err)
{
	Shoal__CtlReply rep = SHOAL__CTL_REPLY__INIT;
	char text[WIRE_CTL_TEXT_MAX];
	const char *name = op->req->put->name;
	log_warnx("cannot publish %s: %s", name, shoal_strerror(err));
	snprintf(text, sizeof(text), "%.255s is stored here as %s but was not published%s", name,
		 op->captext,
		 err == SHOAL_ETOOBIG ? " (this node has as many entries in the network catalog "
					"as a member may: catalog_per_member)"
				      : "");
	buf_reset(&op->reply);
	op_finish(op, &rep, err, text);
}

/* What a finished operation changes in the catalog (on the loop). */
static void op_catalog(struct op *op)
{
	struct catalog *cat = op->ctl->env.catalog;
	const Shoal__CtlRequest *req = op->req;
	if (op->done_err)
		return;
	if (req->req_case == SHOAL__CTL_REQUEST__REQ_PUT) {
		if (req->put->publish) {
			int err = catalog_publish(cat, req->put->name, op->size, op->captext);
			if (err)
				op_publish_failed(op, err);
		} else {
			/* A name put again unpublished replaces what was published. */
			catalog_unpublish(cat, req->put->name);
		}
	} else if (req->req_case == SHOAL__CTL_REQUEST__REQ_RM && op->unpublish) {
		catalog_unpublish(cat, req->rm->name);
	}
}

static void op_done(struct ops_job *oj)
{
	struct op *op = (struct op *)oj;
	Shoal__CtlRequest__ReqCase rc = op->req->req_case;
	if (rc == SHOAL__CTL_REQUEST__REQ_PUT || rc == SHOAL__CTL_REQUEST__REQ_RM)
		op_catalog(op);
	/* What changes names makes the recovery table due (a put's own prune
	 * included). */
	if ((rc == SHOAL__CTL_REQUEST__REQ_PUT || rc == SHOAL__CTL_REQUEST__REQ_RM) &&
	    !op->done_err)
		op->names_changed = 1;
	if (rc == SHOAL__CTL_REQUEST__REQ_RECOVER && !op->done_err)
		recovery_adopt(op->ctl->env.recovery, op->recover_secret, op->recover_seq);
	else if (op->names_changed)
		recovery_names_changed(op->ctl->env.recovery);
	OPENSSL_cleanse(op->recover_secret, sizeof(op->recover_secret));
	struct ctl_client *c = client_find(op->ctl, op->client_serial);
	if (c) {
		c->op = NULL;
		/* Progress frames are sent at most ten a second: the last one
		 * says where the operation ended, so a finished bar shows it. */
		if (op->progress.total || op->progress.done)
			send_progress(c, op->request_id, op->progress.done, op->progress.total);
		if (op->reply.len)
			evbuffer_add(bufferevent_get_output(c->bev), op->reply.data, op->reply.len);
		else
			reply_error(c, op->request_id, SHOAL_EPROTO, "request not understood");
	}
	buf_release(&op->reply);
	shoal__ctl_request__free_unpacked(op->req, NULL);
	free(op->peers);
	free(op->nicks);
	free(op->down);
	free(op);
}

/* A get, send or locate target, as far as the loop can resolve it: a
 * capability, or a name, which the writer looks up among this node's names
 * before it takes the network catalog's entry noted here (resolve_name()). */
static void resolve_target(struct ctl *ctl, struct op *op, const char *target)
{
	op->target_text = target;
	if (capability_looks_like(target)) {
		op->target = TARGET_CAP;
		op->resolve_err = capability_parse(&op->cap, target);
		return;
	}
	if (name_validate(target, strlen(target))) {
		op->target = TARGET_UNRESOLVED;
		op->resolve_err = SHOAL_ENOTFOUND;
		return;
	}
	op->target = TARGET_NAME;
	struct catalog_owners owners;
	const char *name = target, *owner = NULL;
	char base[NAME_MAX_LEN + 1];
	op->catalog_err =
		catalog_lookup(ctl->env.catalog, target, NULL, op->catalog_cap, NULL, &owners);
	/* NAME@OWNER, when the catalog has no one entry of that whole name. */
	const char *at = strrchr(target, '@');
	if (op->catalog_err && at && at > target && (size_t)(at - target) <= NAME_MAX_LEN &&
	    !name_validate(target, (size_t)(at - target))) {
		memcpy(base, target, (size_t)(at - target));
		base[at - target] = 0;
		struct catalog_owners of;
		int e = catalog_lookup(ctl->env.catalog, base, at + 1, op->catalog_cap, NULL, &of);
		if (e != SHOAL_ENOTFOUND || op->catalog_err == SHOAL_ENOTFOUND) {
			op->catalog_err = e;
			owners = of;
			name = base;
			owner = at + 1;
		}
	}
	snprintf(op->target_name, sizeof(op->target_name), "%s", name);
	if (op->catalog_err == SHOAL_EAMBIGUOUS) {
		struct buf ids = BUF_INIT;
		for (size_t i = 0; i < owners.n && i < CATALOG_OWNERS_SHOWN; i++) {
			char id[NODE_ID_STR_LEN + 1];
			node_id_format(owners.ids[i], id);
			buf_addf(&ids, "%s%.16s", i ? ", " : "", id);
		}
		snprintf(op->resolve_text, sizeof(op->resolve_text),
			 "%zu members publish %.255s in the network catalog (%s%s); name one as "
			 "%.255s@OWNER, with its nickname or %d or more characters of its node "
			 "id",
			 owners.n, name, buf_str(&ids),
			 owners.n > CATALOG_OWNERS_SHOWN ? ", ..." : "", name,
			 CATALOG_OWNER_PREFIX_MIN);
		buf_release(&ids);
	} else if (op->catalog_err && owner) {
		snprintf(op->resolve_text, sizeof(op->resolve_text),
			 "no name %.255s here, and no member named %.60s publishes %.255s (an "
			 "owner is its nickname or %d or more characters of its node id)",
			 target, owner, name, CATALOG_OWNER_PREFIX_MIN);
	}
}

static int collect_entry(const struct catalog_item *it, void *arg)
{
	/* The item is borrowed for this call only: names_add copies. */
	struct names_acc *a = arg;
	/* Folders' journal pointers are the daemons' business, not a file. */
	if (!strncmp(it->name, FOLDERJOURNAL_NAME_PREFIX, strlen(FOLDERJOURNAL_NAME_PREFIX)))
		return 0;
	int err = names_add(a, it->name, it->cap, it->size, it->time_us / 1000000, it->owner);
	if (!err && it->owner_nickname[0] &&
	    !(a->items[a->n - 1].owner_nickname = strdup(it->owner_nickname)))
		err = -ENOMEM;
	return err;
}

/* ls --network: the catalog, answered on the loop that owns it. */
static void reply_catalog(struct ctl_client *c, uint64_t request_id)
{
	Shoal__CtlReply rep = SHOAL__CTL_REPLY__INIT;
	struct names_acc a = {0};
	int err = names_reply(&a, &rep, catalog_foreach(c->ctl->env.catalog, collect_entry, &a));
	if (err) {
		reply_error(c, request_id, err, "cannot list the catalog");
	} else {
		rep.request_id = request_id;
		client_send(c, &rep);
	}
	names_release(&a);
}

/* ---- membership, answered on the loop ---- */

static void reply_revoke(struct ctl_client *c, uint64_t request_id, const Shoal__Revocation *pb)
{
	struct revocation r;
	int err = revocation_from_pb(pb, &r);
	if (!err && !memcmp(r.node, c->ctl->env.mesh->self, NODE_ID_LEN)) {
		reply_error(c, request_id, SHOAL_EUSAGE, "a node cannot revoke itself");
		return;
	}
	if (!err)
		err = trust_revoke(c->ctl->env.trust, &r, NULL);
	if (err < 0) {
		reply_error(c, request_id, err,
			    err == SHOAL_EIDENTITY ? "the revocation is not signed by this node's "
						     "network CA"
						   : "cannot keep the revocation");
		return;
	}
	Shoal__CtlReply rep = SHOAL__CTL_REPLY__INIT;
	rep.request_id = request_id;
	if (err == 0)
		rep.warning = "that node was revoked already";
	client_send(c, &rep);
}

static void reply_revocations(struct ctl_client *c, uint64_t request_id)
{
	const struct revocations *rv = c->ctl->env.trust->rv;
	size_t n = rv->count ? rv->count : 1;
	Shoal__Revocation *pbs = calloc(n, sizeof(*pbs));
	Shoal__Revocation **ptrs = calloc(n, sizeof(*ptrs));
	if (!pbs || !ptrs) {
		reply_error(c, request_id, -ENOMEM, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < rv->count; i++) {
		revocation_to_pb(&rv->list[i], &pbs[i]);
		ptrs[i] = &pbs[i];
	}
	Shoal__CtlReply rep = SHOAL__CTL_REPLY__INIT;
	Shoal__Revocations list = SHOAL__REVOCATIONS__INIT;
	list.n_list = rv->count;
	list.list = ptrs;
	rep.request_id = request_id;
	rep.reply_case = SHOAL__CTL_REPLY__REPLY_REVOCATIONS;
	rep.revocations = &list;
	client_send(c, &rep);
out:
	free(pbs);
	free(ptrs);
}

static void reply_forget(struct ctl_client *c, uint64_t request_id, const uint8_t *id)
{
	int err = trust_forget(c->ctl->env.trust, id);
	if (err == SHOAL_ENOTFOUND)
		reply_error(c, request_id, err, "no such member");
	else if (err == -EBUSY)
		reply_error(c, request_id, err,
			    "that member is up; only a member down is forgotten");
	else if (err)
		reply_error(c, request_id, err, "cannot forget it");
	else
		reply_error(c, request_id, 0, NULL);
}

/* ---- drain ---- */

static void reply_recovery_key(struct ctl_client *c, uint64_t request_id)
{
	Shoal__CtlReply rep = SHOAL__CTL_REPLY__INIT;
	Shoal__CtlRecoveryKey k = SHOAL__CTL_RECOVERY_KEY__INIT;
	struct recovery_info info;
	int err = recovery_info(c->ctl->env.recovery, &info);
	if (err) {
		reply_error(c, request_id, err, "cannot read the recovery key");
		return;
	}
	k.key = info.key;
	k.pending = info.pending;
	k.seq = info.seq;
	k.entries = info.entries;
	rep.request_id = request_id;
	rep.reply_case = SHOAL__CTL_REPLY__REPLY_RECOVERY_KEY;
	rep.recovery_key = &k;
	client_send(c, &rep);
	OPENSSL_cleanse(info.key, sizeof(info.key));
}

static void drain_progress(struct ctl_client *c)
{
	const struct repair_stats *rs = repair_stats(c->ctl->env.repair);
	send_progress(c, c->drain_request, rs->drain_done, rs->drain_total);
}

static void reply_drain(struct ctl_client *c, uint64_t request_id)
{
	c->drain_request = request_id;
	c->ctl->env.drain(c->ctl->env.drain_arg);
	drain_progress(c);
}

void ctl_drain_tick(struct ctl *ctl)
{
	struct ctl_client *c;
	LIST_FOREACH(c, &ctl->clients, entry)
	{
		if (c->drain_request && !c->closing)
			drain_progress(c);
	}
}

void ctl_drained(struct ctl *ctl)
{
	struct ctl_client *c;
	LIST_FOREACH(c, &ctl->clients, entry)
	{
		if (c->drain_request && !c->closing) {
			drain_progress(c);
			reply_error(c, c->drain_request, 0, NULL);
			c->drain_request = 0;
		}
	}
}

/* ---- folders ---- */

struct folder_wait {
	struct ctl *ctl;
	uint64_t client_serial, request_id;
};

static void folder_replied(void *arg, int err, const char *text, const char *json,
			   const char *invite)
{
	struct folder_wait *w = arg;
	struct ctl_client *c = client_find(w->ctl, w->client_serial);
	if (c && err) {
		reply_error(c, w->request_id, err, text);
	} else if (c) {
		Shoal__CtlReply rep = SHOAL__CTL_REPLY__INIT;
		Shoal__CtlFolderReply f = SHOAL__CTL_FOLDER_REPLY__INIT;
		f.text = (char *)(text ? text : "");
		f.json = (char *)(json ? json : "");
		f.invite = (char *)(invite ? invite : "");
		rep.request_id = w->request_id;
		rep.reply_case = SHOAL__CTL_REPLY__REPLY_FOLDER;
		rep.folder = &f;
		client_send(c, &rep);
	}
	free(w);
}

static void reply_folder(struct ctl_client *c, uint64_t request_id,
			 const Shoal__CtlFolderRequest *req)
{
	struct folder_wait *w = calloc(1, sizeof(*w));
	if (!w) {
		reply_error(c, request_id, -ENOMEM, "out of memory");
		return;
	}
	w->ctl = c->ctl;
	w->client_serial = c->serial;
	w->request_id = request_id;
	folder_request(c->ctl->env.folders, req, folder_replied, w);
}

/* ---- the socket ---- */

static void on_request(struct ctl_client *c, Shoal__CtlRequest *req)
{
	struct ctl *ctl = c->ctl;
	switch (req->req_case) {
	case SHOAL__CTL_REQUEST__REQ_STATUS: {
		struct status_job *j = calloc(1, sizeof(*j));
		if (!j) {
			reply_error(c, req->request_id, -ENOMEM, "out of memory");
			break;
		}
		j->ctl = ctl;
		j->client_serial = c->serial;
		j->request_id = req->request_id;
		ops_submit(ctl->env.ops, OPS_READ, &j->job, status_work, status_done);
		break;
	}
	case SHOAL__CTL_REQUEST__REQ_PEERS:
		reply_peers(c, req->request_id);
		break;
	case SHOAL__CTL_REQUEST__REQ_REVOKE:
		reply_revoke(c, req->request_id, req->revoke->revocation);
		break;
	case SHOAL__CTL_REQUEST__REQ_REVOCATIONS:
		reply_revocations(c, req->request_id);
		break;
	case SHOAL__CTL_REQUEST__REQ_FORGET:
		reply_forget(c, req->request_id, req->forget->node_id.data);
		break;
	case SHOAL__CTL_REQUEST__REQ_DRAIN:
		reply_drain(c, req->request_id);
		break;
	case SHOAL__CTL_REQUEST__REQ_RECOVERY_KEY:
		reply_recovery_key(c, req->request_id);
		break;
	case SHOAL__CTL_REQUEST__REQ_FOLDER:
		reply_folder(c, req->request_id, req->folder);
		break;
	case SHOAL__CTL_REQUEST__REQ_RECOVER: {
		uint8_t secret[RECOVERY_SECRET_LEN];
		if (recovery_key_parse(req->recover->key, secret)) {
			reply_error(c, req->request_id, SHOAL_EUSAGE,
				    "not a recovery key (it is " RECOVERY_PREFIX
				    "... as 'shoal recovery-key' prints it)");
			break;
		}
		OPENSSL_cleanse(secret, sizeof(secret));
		goto operation;
	}
	case SHOAL__CTL_REQUEST__REQ_LS:
		if (req->ls->network) {
			reply_catalog(c, req->request_id);
			break;
		}
		/* fall through */
	default:
	operation : {
		if (c->op) {
			reply_error(c, req->request_id, -EBUSY, "one operation at a time");
			break;
		}
		if (req->req_case == SHOAL__CTL_REQUEST__REQ_PUT &&
		    repair_stats(ctl->env.repair)->draining) {
			reply_error(
				c, req->request_id, -EPERM,
				"this node is draining (leaving the network): it stores nothing "
				"new");
			break;
		}
		struct op *op = calloc(1, sizeof(*op));
		if (!op) {
			reply_error(c, req->request_id, -ENOMEM, "out of memory");
			break;
		}
		op->ctl = c->ctl;
		op->client_serial = c->serial;
		op->request_id = req->request_id;
		op->req = req;
		op->progress.report = op_progress;
		op->progress.report_arg = op;
		op->progress.cancel = &op->cancel;
		op->peers = calloc(MESH_MEMBERS_MAX, sizeof(*op->peers));
		if (op->peers)
			op->npeers = mesh_up_ids(ctl->env.mesh, op->peers, NULL, MESH_MEMBERS_MAX);
		if (req->req_case == SHOAL__CTL_REQUEST__REQ_LOCATE &&
		    (op->nicks = calloc(op->npeers + 1, sizeof(*op->nicks)))) {
			for (size_t k = 0; k < op->npeers; k++) {
				struct member *m = member_find(ctl->env.mesh, op->peers[k]);
				memcpy(op->nicks[k], m ? m->nickname : "",
				       m ? sizeof(m->nickname) : 1);
			}
			snprintf(op->nicks[op->npeers], sizeof(op->nicks[0]), "%s",
				 ctl->env.nickname);
			op->ndown = down_ids(ctl->env.mesh, &op->down);
		}
		const char *target =
			req->req_case == SHOAL__CTL_REQUEST__REQ_GET	  ? req->get->target
			: req->req_case == SHOAL__CTL_REQUEST__REQ_SEND	  ? req->send->target
			: req->req_case == SHOAL__CTL_REQUEST__REQ_LOCATE ? req->locate->target
									  : NULL;
		if (target)
			resolve_target(ctl, op, target);
		c->op = op;
		/* A plain ls only reads: it never waits behind the writer; nor
		 * does a get, which may wait on other nodes (ops.h). */
		enum ops_lane lane =
			req->req_case == SHOAL__CTL_REQUEST__REQ_LS ||
					req->req_case == SHOAL__CTL_REQUEST__REQ_VERSIONS
				? OPS_READ
			: req->req_case == SHOAL__CTL_REQUEST__REQ_GET ? OPS_GET
								       : OPS_STORE;
		ops_submit(ctl->env.ops, lane, &op->job, op_work, op_done);
		return; /* op owns req */
	}
	}
	shoal__ctl_request__free_unpacked(req, NULL);
}

static void client_read(struct bufferevent *bev, void *arg)
{
	struct ctl_client *c = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	while (!c->closing) {
		struct frame f;
		int r = frame_reader_next(&c->reader, in, &f);
		if (r == 0)
			return;
		if (r < 0) {
			log_warnx("control socket: malformed request; disconnecting the client");
			c->closing = 1;
			bufferevent_disable(bev, EV_READ);
			if (evbuffer_get_length(bufferevent_get_output(bev)) == 0)
				client_free(c);
			return;
		}
		free(f.payload);
		on_request(c, f.msg);
	}
}

static void client_write(struct bufferevent *bev, void *arg)
{
	struct ctl_client *c = arg;
	if (c->closing && evbuffer_get_length(bufferevent_get_output(bev)) == 0)
		client_free(c);
}

static void client_event(struct bufferevent *bev, short what, void *arg)
{
	(void)bev;
	struct ctl_client *c = arg;
	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR))
		client_free(c);
}

static void on_accept(struct evconnlistener *lis, evutil_socket_t fd, struct sockaddr *sa,
		      int salen, void *arg)
{
	(void)lis;
	(void)sa;
	(void)salen;
	struct ctl *ctl = arg;
	struct ctl_client *c = calloc(1, sizeof(*c));
	if (!c) {
		evutil_closesocket(fd);
		return;
	}
	c->bev = bufferevent_socket_new(ctl->env.base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (!c->bev) {
		evutil_closesocket(fd);
		free(c);
		return;
	}
	c->ctl = ctl;
	c->serial = ++ctl->next_serial;
	frame_reader_init(&c->reader, wire_ctl_request_frame_decode, wire_ctl_request_frame_free,
			  NULL, 0);
	LIST_INSERT_HEAD(&ctl->clients, c, entry);
	bufferevent_setcb(c->bev, client_read, client_write, client_event, c);
	bufferevent_setwatermark(c->bev, EV_READ, 0, 4 + FRAME_HEADER_MAX);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
}

int ctl_start(struct ctl **out, const struct ctl_env *env)
{
	struct ctl *ctl = calloc(1, sizeof(*ctl));
	if (!ctl)
		return -ENOMEM;
	ctl->env = *env;
	LIST_INIT(&ctl->clients);
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	if ((size_t)snprintf(ctl->path, sizeof(ctl->path), "%s/ctl.sock", env->home) >=
	    sizeof(ctl->path)) {
		log_error("home path too long for its control socket: %s", env->home);
		free(ctl);
		return -ENAMETOOLONG;
	}
	memcpy(sun.sun_path, ctl->path, sizeof(sun.sun_path));
	/* We hold the store lock, so a socket left here is a dead daemon's. */
	unlink(ctl->path);
	mode_t old = umask(077);
	ctl->lis = evconnlistener_new_bind(env->base, on_accept, ctl,
					   LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, 16,
					   (struct sockaddr *)&sun, sizeof(sun));
	umask(old);
	if (!ctl->lis) {
		int err = -errno;
		log_error("cannot create %s: %s", ctl->path, strerror(errno));
		free(ctl);
		return err;
	}
	ctl->lw = loopwork_new(env->base, NULL);
	*out = ctl;
	return 0;
}

void ctl_cancel(struct ctl *ctl)
{
	if (!ctl)
		return;
	if (ctl->lis) {
		evconnlistener_free(ctl->lis);
		ctl->lis = NULL;
		unlink(ctl->path);
	}
	struct ctl_client *c;
	LIST_FOREACH(c, &ctl->clients, entry)
	{
		if (c->op)
			atomic_store(&c->op->cancel, 1);
	}
}

void ctl_stop(struct ctl *ctl)
{
	if (!ctl)
		return;
	ctl_cancel(ctl);
	/* Progress still queued refers to the clients: deliver it first. */
	loopwork_free(ctl->lw);
	struct ctl_client *c;
	while ((c = LIST_FIRST(&ctl->clients)))
		client_free(c);
	free(ctl);
}
