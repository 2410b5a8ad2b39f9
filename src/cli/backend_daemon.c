/*
 * The daemon backend: every operation is one request over the home's control
 * socket (see ctlclient.h and proto/shoal.proto, "Control protocol"); the
 * daemon does the work and the reply carries the result. Paths are made
 * absolute first, since the daemon's working directory is not ours. See
 * backend.h for the contract.
 */
#include "cli/backend.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/ctlclient.h"
#include "util/error.h"

/* Makes path absolute. */
static int absolute(const char *path, char *out, size_t size)
{
	if (path[0] == '/')
		return (size_t)snprintf(out, size, "%s", path) < size ? 0 : -ENAMETOOLONG;
	char cwd[PATH_MAX];
	if (!getcwd(cwd, sizeof(cwd)))
		return -errno;
	return (size_t)snprintf(out, size, "%s/%s", cwd, path) < size ? 0 : -ENAMETOOLONG;
}

/*
 * Sends req over b's connection (closed here) and waits for the final reply,
 * feeding progress to pr (may be NULL; finished here) and printing the
 * daemon's warning. Returns 0 with *rep set (free with
 * shoal__ctl_reply__free_unpacked), or prints the error and returns EXIT_FAIL.
 */
static int call(struct backend *b, Shoal__CtlRequest *req, struct progress *pr,
		Shoal__CtlReply **rep)
{
	int err = ctlclient_call(b->fd, req, pr, rep);
	close(b->fd);
	b->fd = -1;
	if (pr)
		progress_finish(pr);
	if (err == -EINTR)
		return cli_failx("interrupted; the daemon cancels the operation");
	if (err)
		return cli_fail(err, "the daemon did not answer");
	cli_warn((*rep)->warning);
	return 0;
}

/* Copies the reply's transfer counts into result (either may be absent). */
static void take_transfer(const Shoal__CtlReply *rep, struct backend_result *result)
{
	if (!result)
		return;
	*result = (struct backend_result){.chunks = rep->chunks, .fetched = rep->fetched};
	const Shoal__CtlTransfer *t = rep->transfer;
	if (!t)
		return;
	result->directory = t->directory;
	result->size = t->size;
	result->files = t->files;
	result->dirs = t->dirs;
	result->skipped = t->skipped;
	result->copies = t->copies;
	result->reused = t->reused;
	result->reused_bytes = t->reused_bytes;
}

/* For a reply with rep->err set: prints "shoal: <the daemon's text, else
 * fallback>: <message of rep->err>" and returns EXIT_FAIL. */
static int reply_failed(const Shoal__CtlReply *rep, const char *fallback)
{
	char quoted[CLI_TEXT_MAX];
	if (rep->text && *rep->text)
		return cli_fail(rep->err, "%s", cli_quote(rep->text, quoted, sizeof(quoted)));
	return cli_fail(rep->err, "%s", fallback);
}

static int daemon_put(struct backend *b, const struct backend_put *put, struct capability *cap,
		      struct files_put_report *report)
{
	char abs[PATH_MAX];
	int err = absolute(put->path, abs, sizeof(abs));
	if (err)
		return cli_fail(err, "cannot put %s", put->path);
	Shoal__CtlRequest req = SHOAL__CTL_REQUEST__INIT;
	Shoal__CtlPutRequest p = SHOAL__CTL_PUT_REQUEST__INIT;
	p.path = abs;
	p.name = (char *)put->name;
	p.publish = put->publish;
	p.replicas = put->replicas;
	p.full = put->full;
	req.req_case = SHOAL__CTL_REQUEST__REQ_PUT;
	req.put = &p;
	Shoal__CtlReply *rep;
	int ret = call(b, &req, put->progress, &rep);
	if (ret)
		return ret;
	if (rep->err == -EINTR || rep->err == -EAGAIN) {
		/* Worded by the command, as an offline put's. */
		ret = rep->err;
		snprintf(report->where, sizeof(report->where), "%s", rep->where);
	} else if (rep->err) {
		char fallback[PATH_MAX + 16];
		snprintf(fallback, sizeof(fallback), "cannot put %s", put->path);
		ret = reply_failed(rep, fallback);
	} else if (rep->reply_case != SHOAL__CTL_REPLY__REPLY_CAPABILITY ||
		   capability_parse(cap, rep->capability)) {
		ret = cli_failx("the daemon sent a malformed reply to put");
	} else {
		take_transfer(rep, put->result);
	}
	shoal__ctl_reply__free_unpacked(rep, NULL);
	return ret;
}

static int daemon_get(struct backend *b, const struct backend_get *g, struct files_failure *failed)
{
	const char *target = g->target;
	char abs[PATH_MAX];
	int err = absolute(g->out, abs, sizeof(abs));
	if (err)
		return cli_fail(err, "cannot write %s", g->out);
	/* A name is the daemon's to look up; a capability is checked here. */
	struct capability cap;
	int ret = capability_looks_like(target) ? cli_check_target(target, &cap) : 0;
	if (ret)
		return ret;
	Shoal__CtlRequest req = SHOAL__CTL_REQUEST__INIT;
	Shoal__CtlGetRequest get = SHOAL__CTL_GET_REQUEST__INIT;
	get.target = (char *)target;
	get.out_path = abs;
	get.umask = g->umask;
	get.replace = g->replace;
	get.preserve = (Shoal__CtlGetRequest__Preserve)g->preserve;
	get.version = g->version;
	req.req_case = SHOAL__CTL_REQUEST__REQ_GET;
	req.get = &get;
	Shoal__CtlReply *rep;
	if ((ret = call(b, &req, g->progress, &rep)))
		return ret;
	err = rep->err;
	if (err && rep->failed_chunk.len == CHUNK_ID_LEN) {
		failed->set = 1;
		memcpy(failed->id, rep->failed_chunk.data, CHUNK_ID_LEN);
	}
	/* A name the catalog could not resolve: the daemon says why (which
	 * owners, or which owner is unknown). */
	if (err == SHOAL_EAMBIGUOUS ||
	    (err == SHOAL_ENOTFOUND && (strchr(target, '@') || g->version)))
		err = reply_failed(rep, "cannot resolve the name");
	if (!err)
		take_transfer(rep, g->result);
	shoal__ctl_reply__free_unpacked(rep, NULL);
	return err;
}

static int daemon_ls(struct backend *b, int network, backend_name_fn fn, void *arg)
{
	Shoal__CtlRequest req = SHOAL__CTL_REQUEST__INIT;
	Shoal__CtlLsRequest ls = SHOAL__CTL_LS_REQUEST__INIT;
	ls.network = network;
	req.req_case = SHOAL__CTL_REQUEST__REQ_LS;
	req.ls = &ls;
	Shoal__CtlReply *rep;
	int ret = call(b, &req, NULL, &rep);
	if (ret)
		return ret;
	if (rep->err)
		ret = reply_failed(rep, network ? "cannot list the network catalog"
						: "cannot list names");
	for (size_t i = 0;
	     !ret && rep->reply_case == SHOAL__CTL_REPLY__REPLY_NAMES && i < rep->names->n_names;
	     i++) {
		const Shoal__CtlName *x = rep->names->names[i];
		struct index_name n = {.size = x->size,
				       .created = x->created,
				       .wanted = x->wanted,
				       .copies = x->copies,
				       .version = x->version,
				       .versions = x->versions};
		snprintf(n.name, sizeof(n.name), "%s", x->name);
		snprintf(n.cap, sizeof(n.cap), "%s", x->capability);
		if (x->sender.len == NODE_ID_LEN) {
			n.received = 1;
			memcpy(n.sender, x->sender.data, NODE_ID_LEN);
			snprintf(n.sender_nickname, sizeof(n.sender_nickname), "%s",
				 x->sender_nickname ? x->sender_nickname : "");
		}
		ret = fn(&n, x->owner.len == NODE_ID_LEN ? x->owner.data : NULL,
			 x->owner_nickname ? x->owner_nickname : "", arg);
	}
	shoal__ctl_reply__free_unpacked(rep, NULL);
	return ret;
}

static int daemon_rm(struct backend *b, const char *name, uint32_t version)
{
	Shoal__CtlRequest req = SHOAL__CTL_REQUEST__INIT;
	Shoal__CtlRmRequest rm = SHOAL__CTL_RM_REQUEST__INIT;
	rm.name = (char *)name;
	rm.version = version;
	req.req_case = SHOAL__CTL_REQUEST__REQ_RM;
	req.rm = &rm;
	Shoal__CtlReply *rep;
	int ret = call(b, &req, NULL, &rep);
	if (ret)
		return ret;
	int err = rep->err;
	shoal__ctl_reply__free_unpacked(rep, NULL);
	return err;
}

/* Hands each version of a versions or prune reply to fn. */
static int each_version(const Shoal__CtlVersions *list, backend_version_fn fn, void *arg)
{
	int ret = 0;
	for (size_t i = 0; !ret && i < list->n_versions; i++) {
		const Shoal__CtlVersion *x = list->versions[i];
		struct backend_version bv = {
			.v = {.size = x->size,
			      .created = x->created,
			      .version = x->version,
			      .wanted = x->wanted,
			      .copies = x->copies},
			.kept = x->kept,
		};
		snprintf(bv.v.name, sizeof(bv.v.name), "%s", x->name);
		snprintf(bv.v.cap, sizeof(bv.v.cap), "%s", x->capability);
		ret = fn(&bv, arg);
	}
	return ret;
}

static int daemon_versions(struct backend *b, const char *name, backend_version_fn fn, void *arg)
{
	Shoal__CtlRequest req = SHOAL__CTL_REQUEST__INIT;
	Shoal__CtlVersionsRequest v = SHOAL__CTL_VERSIONS_REQUEST__INIT;
	v.name = (char *)name;
	req.req_case = SHOAL__CTL_REQUEST__REQ_VERSIONS;
	req.versions = &v;
	Shoal__CtlReply *rep;
	int ret = call(b, &req, NULL, &rep);
	if (ret)
		return ret;
	ret = rep->err;
	if (!ret && rep->reply_case != SHOAL__CTL_REPLY__REPLY_VERSIONS)
		ret = cli_failx("the daemon sent a malformed reply to versions");
	else if (!ret)
		ret = each_version(rep->versions, fn, arg);
	shoal__ctl_reply__free_unpacked(rep, NULL);
	return ret;
}

static int daemon_prune(struct backend *b, const char *name, const struct retention *keep,
			int dry_run, backend_version_fn fn, void *arg, uint64_t *removed)
{
	Shoal__CtlRequest req = SHOAL__CTL_REQUEST__INIT;
	Shoal__CtlPruneRequest p = SHOAL__CTL_PRUNE_REQUEST__INIT;
	p.name = (char *)(name ? name : "");
	p.keep_last = keep->last;
	p.keep_daily = keep->daily;
	p.keep_weekly = keep->weekly;
	p.keep_monthly = keep->monthly;
	p.dry_run = dry_run;
	req.req_case = SHOAL__CTL_REQUEST__REQ_PRUNE;
	req.prune = &p;
	Shoal__CtlReply *rep;
	int ret = call(b, &req, NULL, &rep);
	if (ret)
		return ret;
	ret = rep->err;
	if (!ret && rep->reply_case != SHOAL__CTL_REPLY__REPLY_PRUNED) {
		ret = cli_failx("the daemon sent a malformed reply to prune");
	} else if (!ret) {
		*removed = rep->pruned->removed;
		ret = each_version(rep->pruned, fn, arg);
	}
	shoal__ctl_reply__free_unpacked(rep, NULL);
	return ret;
}

static int daemon_verify(struct backend *b, int repair, store_bad_fn bad, void *arg,
			 struct progress *pr, struct backend_verify *report)
{
	Shoal__CtlRequest req = SHOAL__CTL_REQUEST__INIT;
	Shoal__CtlVerifyRequest v = SHOAL__CTL_VERIFY_REQUEST__INIT;
	v.repair = repair;
	req.req_case = SHOAL__CTL_REQUEST__REQ_VERIFY;
	req.verify = &v;
	Shoal__CtlReply *rep;
	int ret = call(b, &req, pr, &rep);
	if (ret)
		return ret;
	int err = rep->err;
	if (!err && rep->reply_case == SHOAL__CTL_REPLY__REPLY_VERIFY) {
		const Shoal__CtlVerify *r = rep->verify;
		for (size_t i = 0; i < r->n_bad; i++) {
			if (r->bad[i]->id.len == CHUNK_ID_LEN)
				bad(r->bad[i]->id.data, r->bad[i]->err, arg);
		}
		report->store = (struct store_verify_report){
			.checked = r->checked,
			.bytes = r->bytes,
			.corrupt = r->corrupt,
			.missing = r->missing,
		};
		report->repaired = r->repaired;
		report->unrecoverable = r->unrecoverable;
	}
	shoal__ctl_reply__free_unpacked(rep, NULL);
	return err;
}

static int daemon_send(struct backend *b, const char *target, const uint8_t to[NODE_ID_LEN],
		       const char *to_text, struct progress *pr, struct backend_result *result)
{
	Shoal__CtlRequest req = SHOAL__CTL_REQUEST__INIT;
	Shoal__CtlSendRequest send = SHOAL__CTL_SEND_REQUEST__INIT;
	send.target = (char *)target;
	send.to.data = (uint8_t *)to;
	send.to.len = NODE_ID_LEN;
	req.req_case = SHOAL__CTL_REQUEST__REQ_SEND;
	req.send = &send;
	Shoal__CtlReply *rep;
	int ret = call(b, &req, pr, &rep);
	if (ret)
		return ret;
	if (rep->err) {
		char quoted[CLI_QUOTE_MAX], fallback[CLI_QUOTE_MAX + 64];
		snprintf(fallback, sizeof(fallback), "cannot send %s to %s",
			 cli_quote(target, quoted, sizeof(quoted)), to_text);
		ret = reply_failed(rep, fallback);
	} else {
		take_transfer(rep, result);
	}
	shoal__ctl_reply__free_unpacked(rep, NULL);
	return ret;
}

/* Hands one chunk of a locate reply to fn, with the holders whose ids have
 * the right length. */
static int chunk_holders(const Shoal__CtlChunkHolders *h, backend_holders_fn fn, void *arg)
{
	if (h->id.len != CHUNK_ID_LEN)
		return SHOAL_EPROTO;
	size_t most = (h->n_holders > h->n_placed_down ? h->n_holders : h->n_placed_down) + 1;
	const uint8_t **holders = calloc(most, sizeof(*holders));
	const uint8_t **down = calloc(most, sizeof(*down));
	const char **nicks = calloc(most, sizeof(*nicks));
	int err = -ENOMEM;
	if (holders && down && nicks) {
		struct backend_chunk c = {.id = h->id.data, .size = h->size, .wanted = h->wanted};
		for (size_t i = 0; i < h->n_holders; i++) {
			if (h->holders[i].len != NODE_ID_LEN)
				continue;
			nicks[c.n] = i < h->n_nicknames ? h->nicknames[i] : "";
			holders[c.n++] = h->holders[i].data;
		}
		for (size_t i = 0; i < h->n_placed_down; i++) {
			if (h->placed_down[i].len == NODE_ID_LEN)
				down[c.ndown++] = h->placed_down[i].data;
		}
		c.holders = holders;
		c.nicks = nicks;
		c.down = down;
		err = fn(&c, arg);
	}
	free(holders);
	free(down);
	free(nicks);
	return err;
}

static int daemon_locate(struct backend *b, const char *target, backend_holders_fn fn, void *arg)
{
	Shoal__CtlRequest req = SHOAL__CTL_REQUEST__INIT;
	Shoal__CtlLocateRequest locate = SHOAL__CTL_LOCATE_REQUEST__INIT;
	locate.target = (char *)target;
	req.req_case = SHOAL__CTL_REQUEST__REQ_LOCATE;
	req.locate = &locate;
	Shoal__CtlReply *rep;
	int ret = call(b, &req, NULL, &rep);
	if (ret)
		return ret;
	if (rep->err) {
		char quoted[CLI_QUOTE_MAX], fallback[CLI_QUOTE_MAX + 32];
		snprintf(fallback, sizeof(fallback), "cannot locate %s",
			 cli_quote(target, quoted, sizeof(quoted)));
		ret = reply_failed(rep, fallback);
	} else if (rep->reply_case != SHOAL__CTL_REPLY__REPLY_LOCATE) {
		ret = cli_failx("the daemon sent a malformed reply to locate");
	}
	/* ret is 0 only for a locate reply. */
	for (size_t i = 0; !ret && i < rep->locate->n_chunks; i++)
		ret = chunk_holders(rep->locate->chunks[i], fn, arg);
	shoal__ctl_reply__free_unpacked(rep, NULL);
	return ret;
}

const struct backend_ops backend_daemon_ops = {
	.put = daemon_put,
	.get = daemon_get,
	.ls = daemon_ls,
	.rm = daemon_rm,
	.versions = daemon_versions,
	.prune = daemon_prune,
	.verify = daemon_verify,
	.send = daemon_send,
	.locate = daemon_locate,
};
