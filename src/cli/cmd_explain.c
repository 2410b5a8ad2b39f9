/*
 * explain: why a file is, or is not yet, safe. It asks the daemon where each
 * chunk is (locate: the members up holding it, the copies wanted, and the
 * members down this node placed a copy on), then what the network is doing
 * (status and peers), and says in plain words how many copies each chunk
 * has of those wanted and what is being done or waited for:
 *
 *   - too few members up: the missing copies are made as soon as enough
 *     members are up (one joins or comes back);
 *   - a member only down: its copies still count until it is lost (the
 *     grace period), then repair copies them elsewhere;
 *   - otherwise repair is making the copies (its next pass).
 */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/backend.h"
#include "cli/cli.h"
#include "crypto/identity.h"
#include "util/encoding.h"
#include "util/error.h"

/* Chunk lines printed at most; past it, only the chunks short of copies. */
#define EXPLAIN_LINES 32

struct explain {
	json_t *json; /* the chunks, for --json */
	const Shoal__CtlPeersReply *peers;
	const uint8_t *self;
	size_t chunks, short_chunks, printed, unprinted;
	size_t short_on_down; /* short, but enough copies counting those on members down */
	uint64_t bytes;
	unsigned wanted, fewest;
};

/* A node as people know it: "this node", its nickname, or its id's start. */
static const char *who(const struct explain *x, const uint8_t *id, const char *nick, char *buf,
		       size_t size)
{
	if (!memcmp(id, x->self, NODE_ID_LEN))
		return "this node";
	if (nick && nick[0])
		return nick;
	for (size_t i = 0; x->peers && i < x->peers->n_peers; i++) {
		const Shoal__CtlPeer *p = x->peers->peers[i];
		if (p->node_id.len == NODE_ID_LEN && !memcmp(p->node_id.data, id, NODE_ID_LEN) &&
		    p->nickname[0])
			return p->nickname;
	}
	char text[NODE_ID_STR_LEN + 1];
	node_id_format(id, text);
	snprintf(buf, size, "%.16s", text);
	return buf;
}

/* One chunk (a backend_holders_fn): counted, and printed or kept for JSON. */
static int explain_chunk(const struct backend_chunk *c, void *arg)
{
	struct explain *x = arg;
	unsigned wanted = c->wanted ? c->wanted : 1, have = (unsigned)c->n;
	int is_short = have < wanted;
	x->chunks++;
	x->bytes += c->size;
	if (wanted > x->wanted)
		x->wanted = wanted;
	if (x->chunks == 1 || have < x->fewest)
		x->fewest = have;
	if (is_short) {
		x->short_chunks++;
		if (have + c->ndown >= wanted)
			x->short_on_down++;
	}
	char hex[2 * CHUNK_ID_LEN + 1], buf[20];
	hex_encode(hex, c->id, CHUNK_ID_LEN);
	if (x->json) {
		json_t *at = json_array(), *down = json_array();
		for (size_t i = 0; at && i < c->n; i++)
			json_array_append_new(at, json_string(who(x, c->holders[i], c->nicks[i],
								  buf, sizeof(buf))));
		for (size_t i = 0; down && i < c->ndown; i++)
			json_array_append_new(
				down, json_string(who(x, c->down[i], NULL, buf, sizeof(buf))));
		json_t *o = at && down
				    ? json_pack("{s:s, s:I, s:i, s:i, s:o, s:o}", "id", hex, "size",
						(json_int_t)c->size, "copies", (int)have, "wanted",
						(int)wanted, "holders", at, "on_members_down", down)
				    : NULL;
		if (!o) {
			json_decref(at);
			json_decref(down);
		}
		return o && !json_array_append_new(x->json, o) ? 0 : -ENOMEM;
	}
	if (x->printed >= EXPLAIN_LINES && !is_short) {
		x->unprinted++;
		return 0;
	}
	if (x->printed >= 2 * EXPLAIN_LINES) {
		x->unprinted++;
		return 0;
	}
	x->printed++;
	printf("  %.12s  %u of %u cop%s%s  on ", hex, have, wanted, wanted == 1 ? "y" : "ies",
	       is_short ? " (short)" : "");
	for (size_t i = 0; i < c->n; i++)
		printf("%s%s", i ? ", " : "", who(x, c->holders[i], c->nicks[i], buf, sizeof(buf)));
	if (!c->n)
		printf("no member up");
	for (size_t i = 0; i < c->ndown; i++)
		printf("%s%s (down)", i || c->n ? ", " : "",
		       who(x, c->down[i], NULL, buf, sizeof(buf)));
	printf("\n");
	return 0;
}

/* The members down, not lost, and the soonest one is lost (seconds). */
static unsigned members_down(const Shoal__CtlPeersReply *peers, int64_t *soonest)
{
	unsigned n = 0;
	*soonest = 0;
	for (size_t i = 0; peers && i < peers->n_peers; i++) {
		const Shoal__CtlPeer *p = peers->peers[i];
		if (strcmp(p->state, "down"))
			continue;
		if (!n++ || p->repair_in < *soonest)
			*soonest = p->repair_in;
	}
	return n;
}

/* What is being done or waited for, in words, into out. */
static void explain_why(const struct explain *x, const Shoal__CtlStatus *st,
			const Shoal__CtlPeersReply *peers, char *out, size_t size)
{
	int64_t soonest;
	unsigned down = members_down(peers, &soonest);
	unsigned up = st->peers_up + 1;
	char d[32];
	format_duration(soonest, d, sizeof(d));
	if (!x->short_chunks) {
		snprintf(out, size,
			 "safe: every chunk has the %u cop%s wanted, each on a different member",
			 x->wanted, x->wanted == 1 ? "y" : "ies");
	} else if (up < x->wanted) {
		int n = snprintf(out, size,
				 "not safe yet: %u cop%s wanted but only %u member%s up (this node "
				 "included); the other copies are made as soon as %u more member%s "
				 "up (one joins or comes back)",
				 x->wanted, x->wanted == 1 ? "y is" : "ies are", up,
				 up == 1 ? " is" : "s are", x->wanted - up,
				 x->wanted - up == 1 ? " is" : "s are");
		if (down && n > 0 && (size_t)n < size)
			snprintf(out + n, size - (size_t)n,
				 "; %u member%s down, lost in %s if not back", down,
				 down == 1 ? " is" : "s are", d);
	} else if (down && x->short_on_down == x->short_chunks) {
		snprintf(out, size,
			 "not safe yet: the missing copies are on %u member%s that %s down; they "
			 "still count, and if %s not back within %s %s lost and repair copies "
			 "them elsewhere",
			 down, down == 1 ? "" : "s", down == 1 ? "is" : "are",
			 down == 1 ? "it is" : "they are", d, down == 1 ? "it is" : "they are");
	} else if (down) {
		snprintf(out, size,
			 "not safe yet: repair waits while %u member%s down and may come back "
			 "with %s copies (lost, and repaired, within %s)",
			 down, down == 1 ? " is" : "s are", down == 1 ? "its" : "their", d);
	} else {
		snprintf(out, size,
			 "not safe yet: repair is making the missing copies (%llu chunk%s being "
			 "repaired now); they follow within its next pass",
			 (unsigned long long)st->repairing, st->repairing == 1 ? "" : "s");
	}
}

/* Asks the daemon one request of kind rc; *rep is its reply, checked to be
 * of reply case want. */
static int ask(struct cli *cli, Shoal__CtlRequest *req, int want, Shoal__CtlReply **rep)
{
	int ret = cli_ask(cli, req, rep);
	if (ret)
		return ret;
	if ((int)(*rep)->reply_case != want) {
		shoal__ctl_reply__free_unpacked(*rep, NULL);
		*rep = NULL;
		return cli_failx("the daemon sent a malformed reply");
	}
	return 0;
}

int cmd_explain(struct cli *cli, int argc, char **argv)
{
	const char *target;
	int json, ret = cli_parse_file_json(cli_command("explain"), argc, argv, &json, &target);
	if (ret >= 0)
		return ret;
	Shoal__CtlRequest req = SHOAL__CTL_REQUEST__INIT;
	Shoal__CtlStatusRequest sr = SHOAL__CTL_STATUS_REQUEST__INIT;
	Shoal__CtlPeersRequest pr = SHOAL__CTL_PEERS_REQUEST__INIT;
	Shoal__CtlReply *status = NULL, *peers = NULL;
	req.req_case = SHOAL__CTL_REQUEST__REQ_STATUS;
	req.status = &sr;
	if ((ret = ask(cli, &req, SHOAL__CTL_REPLY__REPLY_STATUS, &status)))
		return ret;
	if (status->status->node_id.len != NODE_ID_LEN) {
		shoal__ctl_reply__free_unpacked(status, NULL);
		return cli_failx("the daemon sent a malformed status");
	}
	req.req_case = SHOAL__CTL_REQUEST__REQ_PEERS;
	req.peers = &pr;
	if ((ret = ask(cli, &req, SHOAL__CTL_REPLY__REPLY_PEERS, &peers))) {
		shoal__ctl_reply__free_unpacked(status, NULL);
		return ret;
	}
	struct explain x = {
		.peers = peers->peers,
		.self = status->status->node_id.data,
		.json = json ? json_array() : NULL,
	};
	struct backend b;
	if (json && !x.json)
		ret = cli_fail(-ENOMEM, "cannot explain");
	else if (!(ret = backend_open(&b, cli))) {
		if (!json)
			printf("%s: where each chunk is, and how many copies it has of those "
			       "wanted:\n",
			       target);
		ret = b.ops->locate(&b, target, explain_chunk, &x);
		backend_close(&b);
		if (ret < 0)
			ret = cli_fail(ret, "cannot locate the file's chunks");
	}
	if (!ret) {
		char why[512];
		explain_why(&x, status->status, peers->peers, why, sizeof(why));
		if (json) {
			json_t *o = json_pack("{s:s, s:I, s:I, s:i, s:i, s:I, s:b, s:s, s:O}",
					      "target", target, "chunks", (json_int_t)x.chunks,
					      "bytes", (json_int_t)x.bytes, "wanted", (int)x.wanted,
					      "fewest", (int)x.fewest, "short",
					      (json_int_t)x.short_chunks, "safe", !x.short_chunks,
					      "why", why, "chunk_list", x.json);
			ret = o ? cli_print_json(o) : cli_fail(-ENOMEM, "cannot explain");
			json_decref(o);
		} else {
			if (x.unprinted)
				printf("  ... and %zu more chunk%s\n", x.unprinted,
				       x.unprinted == 1 ? "" : "s");
			printf("%zu chunk%s, %zu short of copies; %s\n", x.chunks,
			       x.chunks == 1 ? "" : "s", x.short_chunks, why);
		}
	}
	json_decref(x.json);
	shoal__ctl_reply__free_unpacked(status, NULL);
	shoal__ctl_reply__free_unpacked(peers, NULL);
	return ret;
}
