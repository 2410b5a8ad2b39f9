/*
 * The control socket, home/ctl.sock: how the CLI talks to its daemon. Status
 * and peer listings are answered on the loop; store operations (put, get, ls,
 * rm, verify) run one at a time on a dedicated thread, which builds the whole
 * reply and sends progress through the loop. A client that disconnects
 * cancels its operation.
 */
#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
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
#include "node/catalog.h"
#include "node/fetch.h"
#include "node/node.h"
#include "node/remote.h"
#include "node/repair.h"
#include "node/replicate.h"
#include "proto/capability.h"
#include "proto/name.h"
#include "store/files.h"
#include "util/encoding.h"
#include "util/error.h"
#include "util/log.h"

#define CTL_BAD_LIST_MAX 1000
#define DEFAULT_REPLICAS 3
#define GET_REPAIRS	 8 /* damaged local chunks a get replaces before giving up */

struct op;

struct ctl_client {
	struct ctl *ctl;
	struct bufferevent *bev;
	struct frame_reader reader;
	uint64_t serial;
	struct ctl_client *prev, *next;
	struct op *op; /* the operation running for it, or NULL */
	int closing;
};

struct ctl {
	struct node *n;
	struct evconnlistener *lis;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	struct ctl_client *clients;
	uint64_t next_serial;
	struct pool *ops;
	struct loopwork *lw;
};

/* One store operation; work on the ops thread, done on the loop. */
struct op {
	struct lw_job lw;
	struct ctl *ctl;
	uint64_t client_serial;
	uint64_t request_id;
	Shoal__CtlRequest *req;
	struct progress progress;
	volatile int cancel;
	struct buf reply; /* the packed final reply frame */
	/* taken on the loop when the request arrived */
	uint8_t (*peers)[NODE_ID_LEN]; /* members up */
	size_t npeers;
	struct capability cap; /* get, send, locate: the target resolved */
	int resolve_err;
	/* for the loop once done: what to publish */
	int done_err;
	uint64_t size;
	char captext[CAPABILITY_STR_LEN + 1];
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
	for (struct ctl_client *c = ctl->clients; c; c = c->next) {
		if (c->serial == serial)
			return c;
	}
	return NULL;
}

static void client_free(struct ctl_client *c)
{
	struct ctl *ctl = c->ctl;
	if (c->prev)
		c->prev->next = c->next;
	else
		ctl->clients = c->next;
	if (c->next)
		c->next->prev = c->prev;
	if (c->op)
		c->op->cancel = 1; /* its result is dropped when it finishes */
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

/* ---- answered on the loop ---- */

static void reply_status(struct ctl_client *c, uint64_t request_id)
{
	struct node *n = c->ctl->n;
	Shoal__CtlReply rep = SHOAL__CTL_REPLY__INIT;
	Shoal__CtlStatus st = SHOAL__CTL_STATUS__INIT;
	unsigned up, down;
	members_counts(n, &up, &down);
	st.node_id.data = n->id;
	st.node_id.len = NODE_ID_LEN;
	st.listen_addr = n->listen_addr;
	st.peers_up = up;
	st.peers_down = down;
	uint64_t chunks = 0, bytes = 0;
	index_chunk_stats(n->ix, &chunks, &bytes);
	st.chunks = chunks;
	st.bytes = bytes;
	const struct repair_stats *rs = repair_stats(n);
	st.under_replicated = rs->under_replicated;
	st.repairing = rs->repairing;
	st.repaired = rs->repaired;
	st.corrupt_found = rs->corrupt_found;
	st.corrupt_fixed = rs->corrupt_fixed;
	st.unrecoverable = rs->unrecoverable;
	st.scrubbed = rs->scrubbed;
	st.peers_lost = members_lost(n, node_now(), NULL);
	rep.request_id = request_id;
	rep.reply_case = SHOAL__CTL_REPLY__REPLY_STATUS;
	rep.status = &st;
	client_send(c, &rep);
}

static void reply_peers(struct ctl_client *c, uint64_t request_id)
{
	struct node *n = c->ctl->n;
	Shoal__CtlPeer *items = calloc(n->nmembers ? n->nmembers : 1, sizeof(*items));
	Shoal__CtlPeer **ptrs = calloc(n->nmembers ? n->nmembers : 1, sizeof(*ptrs));
	if (!items || !ptrs) {
		reply_error(c, request_id, -ENOMEM, "out of memory");
		goto out;
	}
	for (unsigned i = 0; i < n->nmembers; i++) {
		struct member *m = &n->members[i];
		shoal__ctl_peer__init(&items[i]);
		items[i].node_id.data = m->id;
		items[i].node_id.len = NODE_ID_LEN;
		items[i].addr = m->addr;
		items[i].up = m->state == MEMBER_UP;
		items[i].rtt_us = m->rtt_us;
		items[i].last_seen = m->last_seen;
		ptrs[i] = &items[i];
	}
	Shoal__CtlReply rep = SHOAL__CTL_REPLY__INIT;
	Shoal__CtlPeersReply pr = SHOAL__CTL_PEERS_REPLY__INIT;
	pr.n_peers = n->nmembers;
	pr.peers = ptrs;
	rep.request_id = request_id;
	rep.reply_case = SHOAL__CTL_REPLY__REPLY_PEERS;
	rep.peers = &pr;
	client_send(c, &rep);
out:
	free(items);
	free(ptrs);
}

/* ---- operations on the ops thread ---- */

static void progress_deliver(struct lw_msg *msg)
{
	struct progress_msg *m = (struct progress_msg *)msg;
	struct ctl_client *c = client_find(m->ctl, m->client_serial);
	if (c && !c->closing) {
		Shoal__CtlReply rep = SHOAL__CTL_REPLY__INIT;
		Shoal__CtlProgress pr = SHOAL__CTL_PROGRESS__INIT;
		pr.done = m->done;
		pr.total = m->total;
		rep.request_id = m->request_id;
		rep.reply_case = SHOAL__CTL_REPLY__REPLY_PROGRESS;
		rep.progress = &pr;
		client_send(c, &rep);
	}
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
	char text[WIRE_CTL_TEXT_MAX], warning[WIRE_CTL_TEXT_MAX];
	unsigned want = r->replicas ? r->replicas : DEFAULT_REPLICAS;
	size_t live = op->npeers + 1;
	if (want > live) {
		snprintf(warning, sizeof(warning),
			 "only %zu node%s up: keeping %zu cop%s instead of %u", live,
			 live == 1 ? " is" : "s are", live, live == 1 ? "y" : "ies", want);
		rep.warning = warning;
		want = (unsigned)live;
	}
	struct stat st;
	if (stat(r->path, &st) == 0 && S_ISREG(st.st_mode))
		op->progress.total = (uint64_t)st.st_size;
	struct replicate rp = {
		.n = op->ctl->n,
		.s = s,
		.peers = (const uint8_t(*)[NODE_ID_LEN])op->peers,
		.npeers = op->npeers,
		.copies = want - 1,
	};
	struct files_replica_ops ops;
	replicate_init(&rp, &ops);
	struct files_put_report report;
	int err = files_put_path_report(s, r->path, r->name, &op->progress, &ops, &report, &op->cap,
					&op->size);
	char skipped[WIRE_CTL_TEXT_MAX];
	files_put_report_warning(&report, skipped, sizeof(skipped));
	if (!err && skipped[0]) {
		if (rep.warning) {
			size_t used = strlen(warning);
			snprintf(warning + used, sizeof(warning) - used, "; %.500s", skipped);
		} else {
			snprintf(warning, sizeof(warning), "%s", skipped);
			rep.warning = warning;
		}
	}
	if (!err) {
		capability_format(&op->cap, op->captext);
		rep.reply_case = SHOAL__CTL_REPLY__REPLY_CAPABILITY;
		rep.capability = op->captext;
		rep.chunks = rp.nchunks;
	}
	if (rp.why[0])
		snprintf(text, sizeof(text), "cannot put %s: %s", r->path, rp.why);
	else if (err && report.where[0])
		snprintf(text, sizeof(text), "cannot put %.400s (at %.400s)", r->path,
			 report.where);
	else
		snprintf(text, sizeof(text), "cannot put %s", r->path);
	op->done_err = err;
	op_finish(op, &rep, err, text);
	replicate_release(&rp);
}

/* Finishes op when its target did not resolve (see resolve_target()). */
static int op_unresolved(struct op *op, Shoal__CtlReply *rep)
{
	if (!op->resolve_err)
		return 0;
	op_finish(op, rep, op->resolve_err,
		  op->resolve_err == SHOAL_EBADCAP ? "not a valid capability"
						   : "no such name here or in the network catalog");
	return 1;
}

/* A fetch on the ops thread, with this op's view of the network. */
static void op_fetch_init(struct op *op, struct store *s, struct fetch *f)
{
	memset(f, 0, sizeof(*f));
	f->n = op->ctl->n;
	f->s = s;
	f->ix = s->index;
	f->peers = (const uint8_t(*)[NODE_ID_LEN])op->peers;
	f->npeers = op->npeers;
	f->progress = &op->progress;
}

static void op_get(struct op *op, struct store *s)
{
	const Shoal__CtlGetRequest *r = op->req->get;
	Shoal__CtlReply rep = SHOAL__CTL_REPLY__INIT;
	char text[WIRE_CTL_TEXT_MAX];
	if (op_unresolved(op, &rep))
		return;
	struct fetch f;
	op_fetch_init(op, s, &f);
	struct files_failure failed = {0};
	/* What is all here is read without writing anything (a full disk
	 * still reads); a chunk found damaged is replaced from another node
	 * and the read tried again. */
	int err = files_get(s, &op->cap, r->out_path, &op->progress, &failed);
	for (int tries = 0; err == SHOAL_ECORRUPT && failed.set && tries < GET_REPAIRS; tries++) {
		char hex[2 * CHUNK_ID_LEN + 1];
		hex_encode(hex, failed.id, CHUNK_ID_LEN);
		log_warnx("get: chunk %.16s is damaged here; replacing it from another node", hex);
		int e = repair_replace_chunk(op->ctl->n, s, s->index,
					     (const uint8_t(*)[NODE_ID_LEN])op->peers, op->npeers,
					     failed.id);
		repair_count(op->ctl->n, 1, !e, !!e);
		if (e)
			break;
		op->progress.done = 0;
		err = files_get(s, &op->cap, r->out_path, &op->progress, &failed);
	}
	uint8_t token[CHUNK_ID_LEN];
	fetch_get_token(op->cap.id, token);
	if (err != SHOAL_EMISSING) {
		/* An earlier get, interrupted, may have left what it fetched: now
		 * that the file is out, let that go. */
		if (!err && index_pending_has(s->index, token) == 1)
			fetch_release(&f, token);
		f.chunks = 0;
		if (err && failed.set) {
			rep.failed_chunk.data = failed.id;
			rep.failed_chunk.len = CHUNK_ID_LEN;
		}
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
		err = files_get(s, &op->cap, r->out_path, &quiet, &failed);
	} else if (f.failed_set) {
		failed.set = 1;
		memcpy(failed.id, f.failed, CHUNK_ID_LEN);
	}
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
	char text[WIRE_CTL_TEXT_MAX], sid[NODE_ID_STR_LEN + 1];
	if (op_unresolved(op, &rep))
		return;
	node_id_format(r->to.data, sid);
	if (!memcmp(r->to.data, op->ctl->n->id, NODE_ID_LEN)) {
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
	struct rqueue q;
	rqueue_init(&q);
	struct rcall c = {.kind = RCALL_FETCH};
	memcpy(c.peer, r->to.data, NODE_ID_LEN);
	memcpy(c.id, op->cap.id, CHUNK_ID_LEN);
	memcpy(c.key, op->cap.key, CHUNK_KEY_LEN);
	remote_start(op->ctl->n, &c, &q);
	rqueue_wait(&q);
	rqueue_destroy(&q);
	int err = c.err;
	if (!err) {
		/* Removing the name here later unpins the copy there. */
		err = index_begin(s->index);
		if (!err)
			err = index_placed_add(s->index, op->cap.id, r->to.data);
		if (!err)
			err = index_commit(s->index);
		else
			index_rollback(s->index);
		rep.chunks = c.chunks;
		rep.fetched = c.fetched;
	}
	snprintf(text, sizeof(text), "node %.16s could not fetch the file", sid);
	op_finish(op, &rep, err, text);
}

static void op_locate(struct op *op, struct store *s)
{
	Shoal__CtlReply rep = SHOAL__CTL_REPLY__INIT;
	if (op_unresolved(op, &rep))
		return;
	struct fetch f;
	op_fetch_init(op, s, &f);
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
	if (!held || !items || !ptrs || !hold)
		err = -ENOMEM;
	struct rqueue q;
	rqueue_init(&q);
	for (size_t base = 0; !err && base < n; base += WIRE_IDS_MAX) {
		size_t cnt = n - base < WIRE_IDS_MAX ? n - base : WIRE_IDS_MAX;
		struct rcall *calls = calloc(op->npeers ? op->npeers : 1, sizeof(*calls));
		if (!calls) {
			err = -ENOMEM;
			break;
		}
		for (size_t k = 0; k < op->npeers; k++) {
			calls[k].kind = RCALL_HAVE;
			memcpy(calls[k].peer, op->peers[k], NODE_ID_LEN);
			calls[k].ids = (const uint8_t(*)[CHUNK_ID_LEN])ids[base];
			calls[k].nids = cnt;
			calls[k].timeout = 10;
			calls[k].user = (void *)(uintptr_t)k;
			remote_start(op->ctl->n, &calls[k], &q);
		}
		struct rcall *c;
		while ((c = rqueue_wait(&q))) {
			size_t k = (size_t)(uintptr_t)c->user;
			for (size_t i = 0; !c->err && i < cnt; i++) {
				if (c->have[i / 8] & (1u << (i % 8)))
					held[(base + i) * width + k] = 1;
			}
		}
		free(calls);
		for (size_t i = 0; i < cnt; i++)
			held[(base + i) * width + op->npeers] =
				objects_exists(&s->objects, ids[base + i]) == 1;
	}
	rqueue_destroy(&q);
	size_t used = 0;
	for (size_t i = 0; !err && i < n; i++) {
		shoal__ctl_chunk_holders__init(&items[i]);
		items[i].id.data = ids[i];
		items[i].id.len = CHUNK_ID_LEN;
		items[i].size = sizes[i];
		items[i].holders = &hold[used];
		for (size_t k = 0; k < width; k++) {
			if (!held[i * width + k])
				continue;
			hold[used].data = k == op->npeers ? op->ctl->n->id : op->peers[k];
			hold[used].len = NODE_ID_LEN;
			used++;
			items[i].n_holders++;
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
	}
	free(a->items);
	free(a->ptrs);
}

static int collect_name(const struct index_name *nm, void *arg)
{
	return names_add(arg, nm->name, nm->cap, nm->size, nm->created, NULL);
}

static void op_ls(struct op *op, struct store *s)
{
	Shoal__CtlReply rep = SHOAL__CTL_REPLY__INIT;
	struct names_acc a = {0};
	int err = names_reply(&a, &rep, index_names_foreach(s->index, collect_name, &a));
	op_finish(op, &rep, err, "cannot list names");
	names_release(&a);
}

static void op_rm(struct op *op, struct store *s)
{
	Shoal__CtlReply rep = SHOAL__CTL_REPLY__INIT;
	int err = store_remove_name(s, op->req->rm->name);
	op->done_err = err;
	op_finish(op, &rep, err, err == SHOAL_ENOTFOUND ? "no such name" : "cannot remove");
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
	int err = store_verify(s, collect_bad, a, &r);
	if (!err && op->req->verify->repair && a->n) {
		/* Replace each bad or missing chunk from the others; list what
		 * stays bad. */
		struct node *n = op->ctl->n;
		size_t kept = 0;
		for (size_t i = 0; i < a->n; i++) {
			if (progress_cancelled(&op->progress)) {
				err = -EINTR;
				break;
			}
			int e = repair_replace_chunk(n, s, s->index,
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
		repair_count(n, r.corrupt, v.repaired, v.unrecoverable);
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

static void op_work(struct pool_job *pj)
{
	struct op *op = (struct op *)lw_job_of(pj);
	struct store *s = op->ctl->n->store;
	switch (op->req->req_case) {
	case SHOAL__CTL_REQUEST__REQ_PUT:
		op_put(op, s);
		break;
	case SHOAL__CTL_REQUEST__REQ_GET:
		op_get(op, s);
		break;
	case SHOAL__CTL_REQUEST__REQ_LS:
		op_ls(op, s);
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
	default:
		break;
	}
}

/* What a finished operation changes in the catalog (on the loop). */
static void op_catalog(struct op *op)
{
	struct node *n = op->ctl->n;
	const Shoal__CtlRequest *req = op->req;
	if (op->done_err)
		return;
	if (req->req_case == SHOAL__CTL_REQUEST__REQ_PUT) {
		if (req->put->publish) {
			int err = catalog_publish(n, req->put->name, op->size, op->captext);
			if (err)
				log_warnx("cannot publish %s: %s", req->put->name,
					  shoal_strerror(err));
		} else {
			/* A name put again unpublished replaces what was published. */
			catalog_unpublish(n, req->put->name);
		}
	} else if (req->req_case == SHOAL__CTL_REQUEST__REQ_RM) {
		catalog_unpublish(n, req->rm->name);
	}
}

static void op_done(struct lw_msg *msg)
{
	struct op *op = (struct op *)lw_job_of_msg(msg);
	if (op->req->req_case == SHOAL__CTL_REQUEST__REQ_PUT ||
	    op->req->req_case == SHOAL__CTL_REQUEST__REQ_RM)
		op_catalog(op);
	struct ctl_client *c = client_find(op->ctl, op->client_serial);
	if (c) {
		c->op = NULL;
		if (op->reply.len)
			evbuffer_add(bufferevent_get_output(c->bev), op->reply.data, op->reply.len);
		else
			reply_error(c, op->request_id, SHOAL_EPROTO, "request not understood");
	}
	buf_release(&op->reply);
	shoal__ctl_request__free_unpacked(op->req, NULL);
	free(op->peers);
	free(op);
}

/* A get, send or locate target: a capability, this node's name, or a name
 * in the network catalog. */
static int resolve_target(struct node *n, const char *target, struct capability *cap)
{
	if (capability_looks_like(target))
		return capability_parse(cap, target);
	if (name_validate(target, strlen(target)))
		return SHOAL_ENOTFOUND;
	struct index_name nm;
	if (index_name_get(n->ix, target, &nm) == 0)
		return capability_parse(cap, nm.cap);
	char text[CAPABILITY_STR_LEN + 1];
	uint64_t size;
	if (catalog_lookup(n, target, text, &size) == 0)
		return capability_parse(cap, text);
	return SHOAL_ENOTFOUND;
}

static int collect_entry(const struct catalog_item *it, void *arg)
{
	/* The item is borrowed for this call only: names_add copies. */
	return names_add(arg, it->name, it->cap, it->size, it->time_us / 1000000, it->owner);
}

/* ls --network: the catalog, answered on the loop that owns it. */
static void reply_catalog(struct ctl_client *c, uint64_t request_id)
{
	Shoal__CtlReply rep = SHOAL__CTL_REPLY__INIT;
	struct names_acc a = {0};
	int err = names_reply(&a, &rep, catalog_foreach(c->ctl->n, collect_entry, &a));
	if (err) {
		reply_error(c, request_id, err, "cannot list the catalog");
	} else {
		rep.request_id = request_id;
		client_send(c, &rep);
	}
	names_release(&a);
}

/* ---- the socket ---- */

static void on_request(struct ctl_client *c, Shoal__CtlRequest *req)
{
	switch (req->req_case) {
	case SHOAL__CTL_REQUEST__REQ_STATUS:
		reply_status(c, req->request_id);
		break;
	case SHOAL__CTL_REQUEST__REQ_PEERS:
		reply_peers(c, req->request_id);
		break;
	case SHOAL__CTL_REQUEST__REQ_LS:
		if (req->ls->network) {
			reply_catalog(c, req->request_id);
			break;
		}
		/* fall through */
	default: {
		if (c->op) {
			reply_error(c, req->request_id, -EBUSY, "one operation at a time");
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
		struct node *n = c->ctl->n;
		op->peers = calloc(NODE_MEMBERS_MAX, sizeof(*op->peers));
		if (op->peers)
			op->npeers = members_up_ids(n, op->peers, NODE_MEMBERS_MAX);
		const char *target =
			req->req_case == SHOAL__CTL_REQUEST__REQ_GET	  ? req->get->target
			: req->req_case == SHOAL__CTL_REQUEST__REQ_SEND	  ? req->send->target
			: req->req_case == SHOAL__CTL_REQUEST__REQ_LOCATE ? req->locate->target
									  : NULL;
		if (target)
			op->resolve_err = resolve_target(n, target, &op->cap);
		c->op = op;
		loopwork_submit(c->ctl->lw, &op->lw, op_work, op_done);
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
	c->bev = bufferevent_socket_new(ctl->n->base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (!c->bev) {
		evutil_closesocket(fd);
		free(c);
		return;
	}
	c->ctl = ctl;
	c->serial = ++ctl->next_serial;
	frame_reader_init(&c->reader, wire_ctl_request_frame_decode, wire_ctl_request_frame_free,
			  NULL, 0);
	c->next = ctl->clients;
	if (ctl->clients)
		ctl->clients->prev = c;
	ctl->clients = c;
	bufferevent_setcb(c->bev, client_read, client_write, client_event, c);
	bufferevent_setwatermark(c->bev, EV_READ, 0, 4 + FRAME_HEADER_MAX);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
}

int ctl_start(struct node *n)
{
	struct ctl *ctl = calloc(1, sizeof(*ctl));
	if (!ctl)
		return -ENOMEM;
	ctl->n = n;
	n->ctl = ctl;
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	if ((size_t)snprintf(ctl->path, sizeof(ctl->path), "%s/ctl.sock", n->home) >=
	    sizeof(ctl->path)) {
		log_error("home path too long for its control socket: %s", n->home);
		return -ENAMETOOLONG;
	}
	memcpy(sun.sun_path, ctl->path, sizeof(sun.sun_path));
	/* We hold the store lock, so a socket left here is a dead daemon's. */
	unlink(ctl->path);
	mode_t old = umask(077);
	ctl->lis = evconnlistener_new_bind(n->base, on_accept, ctl,
					   LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, 16,
					   (struct sockaddr *)&sun, sizeof(sun));
	umask(old);
	if (!ctl->lis) {
		log_error("cannot create %s: %s", ctl->path, strerror(errno));
		return -errno;
	}
	ctl->ops = pool_new(1);
	ctl->lw = loopwork_new(n->base, ctl->ops);
	return 0;
}

struct loopwork *ctl_ops_lw(struct node *n)
{
	return n->ctl->lw;
}

void ctl_stop(struct node *n)
{
	struct ctl *ctl = n->ctl;
	if (!ctl)
		return;
	if (ctl->lis) {
		evconnlistener_free(ctl->lis);
		unlink(ctl->path);
	}
	/* Cancel what runs, let it end, then drop the clients. */
	for (struct ctl_client *c = ctl->clients; c; c = c->next) {
		if (c->op)
			c->op->cancel = 1;
	}
	pool_free(ctl->ops);
	loopwork_free(ctl->lw);
	while (ctl->clients)
		client_free(ctl->clients);
	free(ctl);
	n->ctl = NULL;
}
