/*
 * Commands about the running node: daemon (run it), status and peers (ask it).
 */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/ctlclient.h"
#include "net/addr.h"
#include "crypto/identity.h"
#include "node/config.h"
#include "node/home.h"
#include "node/node.h"
#include "util/error.h"
#include "util/log.h"
#include "util/progress.h"

int cmd_daemon(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{"listen", required_argument, NULL, 'l'},
		{"bootstrap", required_argument, NULL, 'b'},
		{"set", required_argument, NULL, 's'},
		{"log-level", required_argument, NULL, 'L'},
		{"help", no_argument, NULL, 'h'},
		{0},
	};
	const struct command *cmd = cli_command("daemon");
	/* Flags win over the config file, so they are applied after loading it;
	 * keep them until then. */
	const char *listen = NULL, *bootstrap = NULL;
	const char *sets[32];
	size_t nsets = 0;
	enum log_level level = LOG_LEVEL_INFO;
	int c;
	optind = 0;
	while ((c = cli_getopt(cmd, argc, argv, "", opts)) != -1) {
		switch (c) {
		case 'l':
			listen = optarg;
			break;
		case 'b':
			bootstrap = optarg;
			break;
		case 's':
			if (nsets == sizeof(sets) / sizeof(sets[0]))
				return cli_usage(cmd, "too many --set options");
			if (!strchr(optarg, '='))
				return cli_usage(cmd, "--set wants KEY=VALUE, not '%s'", optarg);
			sets[nsets++] = optarg;
			break;
		case 'L':
			if (log_level_parse(optarg, &level))
				return cli_usage(cmd, "--log-level: error, warn, info or debug");
			break;
		default:
			return cli_opt_exit(c);
		}
	}
	if (optind != argc)
		return cli_usage(cmd, "unexpected argument '%s'", argv[optind]);
	int ret = cli_home(cli);
	if (ret)
		return ret;
	/* The home holds every capability and the node's key. */
	unsigned mode;
	if (home_private(cli->home, &mode) == SHOAL_EEXPOSED)
		return cli_failx("%s is open to other users (mode %04o); run 'chmod 700 %s' "
				 "and start the daemon again",
				 cli->home, mode, cli->home);
	struct config cfg;
	if (config_load(cli->home, &cfg))
		return cli_failx("%s/config is not valid", cli->home);
	if (listen && config_set(&cfg, "listen", listen))
		return cli_usage(cmd, "--listen: not HOST:PORT: '%s'", listen);
	if (bootstrap && config_set(&cfg, "bootstrap", bootstrap))
		return cli_usage(cmd, "--bootstrap: not a list of HOST:PORT: '%s'", bootstrap);
	for (size_t i = 0; i < nsets; i++) {
		char key[64];
		const char *eq = strchr(sets[i], '=');
		snprintf(key, sizeof(key), "%.*s", (int)(eq - sets[i]), sets[i]);
		if (config_set(&cfg, key, eq + 1))
			return cli_usage(cmd, "--set %s: not a valid setting", sets[i]);
	}
	log_init(level, 1);
	return node_run(cli->home, &cfg) ? EXIT_FAIL : EXIT_OK;
}

int cli_ask(struct cli *cli, Shoal__CtlRequest *req, Shoal__CtlReply **rep)
{
	int ret = cli_home(cli);
	if (ret)
		return ret;
	int fd = ctlclient_connect(cli->home);
	if (fd == -ENOENT || fd == -ECONNREFUSED)
		return cli_failx("no daemon is running on %s (start one with 'shoal daemon')",
				 cli->home);
	if (fd < 0)
		return cli_fail(fd, "cannot reach the daemon of %s", cli->home);
	int err = ctlclient_call(fd, req, NULL, rep);
	close(fd);
	if (err)
		return cli_fail(err, "the daemon of %s did not answer", cli->home);
	if ((*rep)->err) {
		int e = (*rep)->err;
		if ((*rep)->text && (*rep)->text[0])
			ret = cli_failx("%s", (*rep)->text);
		else
			ret = cli_fail(e, "the daemon refused");
		shoal__ctl_reply__free_unpacked(*rep, NULL);
		return ret;
	}
	cli_warn((*rep)->warning);
	return 0;
}

static int parse_json_flag(const struct command *cmd, int argc, char **argv, int *json)
{
	static const struct option opts[] = {
		{"json", no_argument, NULL, 'j'},
		{"help", no_argument, NULL, 'h'},
		{0},
	};
	int c;
	*json = 0;
	optind = 0;
	while ((c = cli_getopt(cmd, argc, argv, "", opts)) != -1) {
		if (c == 'j')
			*json = 1;
		else
			return cli_opt_exit(c);
	}
	if (optind != argc)
		return cli_usage(cmd, "unexpected argument '%s'", argv[optind]);
	return -1;
}

static int print_json(json_t *j)
{
	char *text = j ? json_dumps(j, JSON_INDENT(2)) : NULL;
	json_decref(j);
	if (!text)
		return cli_fail(-ENOMEM, "cannot format JSON");
	printf("%s\n", text);
	free(text);
	return EXIT_OK;
}

void format_duration(int64_t s, char *out, size_t size)
{
	if (s < 60)
		snprintf(out, size, "%llds", (long long)s);
	else if (s < 3600)
		snprintf(out, size, "%lldm %02llds", (long long)(s / 60), (long long)(s % 60));
	else if (s < 86400)
		snprintf(out, size, "%lldh %02lldm", (long long)(s / 3600),
			 (long long)(s % 3600 / 60));
	else
		snprintf(out, size, "%lldd %lldh", (long long)(s / 86400),
			 (long long)(s % 86400 / 3600));
}

/* The certificate line of status: a warning within NODE_CERT_WARN_DAYS. */
static void print_cert_expiry(int64_t expires)
{
	if (!expires)
		return;
	time_t t = (time_t)expires;
	struct tm tm;
	char date[32];
	gmtime_r(&t, &tm);
	strftime(date, sizeof(date), "%Y-%m-%d", &tm);
	int64_t left = expires - (int64_t)time(NULL);
	if (left <= 0)
		printf("cert    EXPIRED on %s; renew it with 'shoal network renew'\n", date);
	else if (left <= (int64_t)NODE_CERT_WARN_DAYS * 86400)
		printf("cert    expires in %lld days (%s); renew it with 'shoal network renew'\n",
		       (long long)(left / 86400), date);
	else
		printf("cert    valid until %s\n", date);
}

int cmd_status(struct cli *cli, int argc, char **argv)
{
	int json, ret = parse_json_flag(cli_command("status"), argc, argv, &json);
	if (ret >= 0)
		return ret;
	Shoal__CtlRequest req = SHOAL__CTL_REQUEST__INIT;
	Shoal__CtlStatusRequest sr = SHOAL__CTL_STATUS_REQUEST__INIT;
	req.req_case = SHOAL__CTL_REQUEST__REQ_STATUS;
	req.status = &sr;
	Shoal__CtlReply *rep;
	if ((ret = cli_ask(cli, &req, &rep)))
		return ret;
	if (rep->reply_case != SHOAL__CTL_REPLY__REPLY_STATUS ||
	    rep->status->node_id.len != NODE_ID_LEN) {
		shoal__ctl_reply__free_unpacked(rep, NULL);
		return cli_failx("the daemon sent a malformed status");
	}
	const Shoal__CtlStatus *st = rep->status;
	char id[NODE_ID_STR_LEN + 1], bytes[32];
	node_id_format(st->node_id.data, id);
	format_bytes(st->bytes, bytes, sizeof(bytes));
	if (json) {
		json_t *o = json_pack(
			"{s:s, s:s, s:s, s:i, s:i, s:i, s:i, s:I, s:I, s:I, s:i, s:I, s:I, s:b}",
			"node_id", id, "nickname", st->nickname, "listen", st->listen_addr,
			"peers_up", (int)st->peers_up, "peers_down", (int)st->peers_down,
			"peers_lost", (int)st->peers_lost, "peers_revoked", (int)st->peers_revoked,
			"repair_in", (json_int_t)st->repair_in, "chunks", (json_int_t)st->chunks,
			"bytes", (json_int_t)st->bytes, "candidates", (int)st->candidates,
			"new_dials", (json_int_t)st->new_dials, "cert_expires",
			(json_int_t)st->cert_expires, "draining", (int)st->draining);
		json_t *h = json_pack(
			"{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "under_replicated",
			(json_int_t)st->under_replicated, "under_files",
			(json_int_t)st->under_files, "repairing", (json_int_t)st->repairing,
			"repaired", (json_int_t)st->repaired, "corrupt_found",
			(json_int_t)st->corrupt_found, "corrupt_fixed",
			(json_int_t)st->corrupt_fixed, "unrecoverable",
			(json_int_t)st->unrecoverable, "scrubbed", (json_int_t)st->scrubbed);
		if (o && h)
			json_object_set_new(o, "health", h);
		else
			json_decref(h);
		ret = print_json(o);
	} else {
		char wait[64] = "";
		if (st->peers_down) {
			char d[32];
			format_duration(st->repair_in, d, sizeof(d));
			snprintf(wait, sizeof(wait), " (repair in %s)", d);
		}
		printf("node    %s%s%s%s\nlisten  %s\n", id, st->nickname[0] ? " (" : "",
		       st->nickname, st->nickname[0] ? ")" : "", st->listen_addr);
		print_cert_expiry(st->cert_expires);
		printf("peers   %u up, %u down%s, %u lost, %u revoked\n"
		       "stored  %llu chunks, %s\n",
		       st->peers_up, st->peers_down, wait, st->peers_lost, st->peers_revoked,
		       (unsigned long long)st->chunks, bytes);
		if (st->draining)
			printf("drain   under way: this node is handing its chunks to others and "
			       "leaving\n");
		printf("health  %llu file%s (%llu chunk%s) under-replicated, %llu being repaired, "
		       "%llu copies made; %llu corrupt found, %llu fixed, %llu unrecoverable; %llu "
		       "scrubbed\n",
		       (unsigned long long)st->under_files, st->under_files == 1 ? "" : "s",
		       (unsigned long long)st->under_replicated,
		       st->under_replicated == 1 ? "" : "s", (unsigned long long)st->repairing,
		       (unsigned long long)st->repaired, (unsigned long long)st->corrupt_found,
		       (unsigned long long)st->corrupt_fixed, (unsigned long long)st->unrecoverable,
		       (unsigned long long)st->scrubbed);
		ret = EXIT_OK;
	}
	shoal__ctl_reply__free_unpacked(rep, NULL);
	return ret;
}

int cmd_peers(struct cli *cli, int argc, char **argv)
{
	int json, ret = parse_json_flag(cli_command("peers"), argc, argv, &json);
	if (ret >= 0)
		return ret;
	Shoal__CtlRequest req = SHOAL__CTL_REQUEST__INIT;
	Shoal__CtlPeersRequest pr = SHOAL__CTL_PEERS_REQUEST__INIT;
	req.req_case = SHOAL__CTL_REQUEST__REQ_PEERS;
	req.peers = &pr;
	Shoal__CtlReply *rep;
	if ((ret = cli_ask(cli, &req, &rep)))
		return ret;
	if (rep->reply_case != SHOAL__CTL_REPLY__REPLY_PEERS) {
		shoal__ctl_reply__free_unpacked(rep, NULL);
		return cli_failx("the daemon sent a malformed peer list");
	}
	json_t *list = json ? json_array() : NULL;
	for (size_t i = 0; i < rep->peers->n_peers; i++) {
		const Shoal__CtlPeer *p = rep->peers->peers[i];
		if (p->node_id.len != NODE_ID_LEN)
			continue;
		char id[NODE_ID_STR_LEN + 1];
		node_id_format(p->node_id.data, id);
		const char *state = p->state[0] ? p->state : p->up ? "up" : "down";
		if (list) {
			json_array_append_new(
				list, json_pack("{s:s, s:s, s:s, s:s, s:f, s:I, s:I}", "node_id",
						id, "nickname", p->nickname, "addr", p->addr,
						"state", state, "rtt_ms", p->rtt_us / 1000.0,
						"repair_in", (json_int_t)p->repair_in, "last_seen",
						(json_int_t)p->last_seen));
			continue;
		}
		char detail[64] = "-";
		if (p->up && p->rtt_us) {
			snprintf(detail, sizeof(detail), "%.2fms", p->rtt_us / 1000.0);
		} else if (!strcmp(state, "down")) {
			char d[32];
			format_duration(p->repair_in, d, sizeof(d));
			snprintf(detail, sizeof(detail), "repair in %s", d);
		} else if (!strcmp(state, "lost")) {
			snprintf(detail, sizeof(detail), "its copies are being replaced");
		}
		printf("%s\t%s\t%s\t%s\t%s\n", id, p->addr[0] ? p->addr : "-", state, detail,
		       p->nickname[0] ? p->nickname : "-");
	}
	shoal__ctl_reply__free_unpacked(rep, NULL);
	return list ? print_json(list) : EXIT_OK;
}

int cli_node_text_ok(const char *text)
{
	size_t len = strlen(text);
	if (len == 0 || len > NODE_ID_STR_LEN)
		return 0;
	return strspn(text, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") ==
	       len;
}

int cli_resolve_node(struct cli *cli, const char *text, uint8_t id[NODE_ID_LEN])
{
	if (!node_id_parse(text, id))
		return 0;
	size_t len = strlen(text);
	Shoal__CtlRequest req = SHOAL__CTL_REQUEST__INIT;
	Shoal__CtlPeersRequest pr = SHOAL__CTL_PEERS_REQUEST__INIT;
	req.req_case = SHOAL__CTL_REQUEST__REQ_PEERS;
	req.peers = &pr;
	Shoal__CtlReply *rep;
	int ret = cli_ask(cli, &req, &rep);
	if (ret)
		return ret;
	size_t found = 0;
	char first[NODE_ID_STR_LEN + 1] = "", second[NODE_ID_STR_LEN + 1] = "";
	for (size_t i = 0;
	     rep->reply_case == SHOAL__CTL_REPLY__REPLY_PEERS && i < rep->peers->n_peers; i++) {
		const Shoal__CtlPeer *p = rep->peers->peers[i];
		char sid[NODE_ID_STR_LEN + 1];
		node_id_format(p->node_id.data, sid);
		int by_nick = p->nickname[0] && !strcmp(p->nickname, text);
		int by_prefix = len >= CLI_ID_PREFIX_MIN && !strncasecmp(sid, text, len);
		if (!by_nick && !by_prefix)
			continue;
		if (found++ == 0) {
			memcpy(id, p->node_id.data, NODE_ID_LEN);
			memcpy(first, sid, sizeof(sid));
		} else if (found == 2) {
			memcpy(second, sid, sizeof(sid));
		}
	}
	shoal__ctl_reply__free_unpacked(rep, NULL);
	if (found == 1)
		return 0;
	if (found > 1)
		return cli_failx(
			"'%s' matches %zu members (%.16s..., %.16s...); give more of the id", text,
			found, first, second);
	if (len < CLI_ID_PREFIX_MIN)
		return cli_failx("no member has the nickname '%s' (an id prefix needs %d or more "
				 "characters)",
				 text, CLI_ID_PREFIX_MIN);
	return cli_failx("no member matches '%s' (see 'shoal peers')", text);
}

int cmd_forget(struct cli *cli, int argc, char **argv)
{
	const struct command *cmd = cli_command("forget");
	static const struct option opts[] = {{"help", no_argument, NULL, 'h'}, {0}};
	int c;
	optind = 0;
	while ((c = cli_getopt(cmd, argc, argv, "", opts)) != -1)
		return cli_opt_exit(c);
	if (argc - optind != 1)
		return cli_usage(cmd, "expected one NODE (id, id prefix or nickname)");
	uint8_t id[NODE_ID_LEN];
	int ret = cli_resolve_node(cli, argv[optind], id);
	if (ret)
		return ret;
	Shoal__CtlRequest req = SHOAL__CTL_REQUEST__INIT;
	Shoal__CtlForgetRequest fr = SHOAL__CTL_FORGET_REQUEST__INIT;
	fr.node_id.data = id;
	fr.node_id.len = NODE_ID_LEN;
	req.req_case = SHOAL__CTL_REQUEST__REQ_FORGET;
	req.forget = &fr;
	Shoal__CtlReply *rep;
	if ((ret = cli_ask(cli, &req, &rep)))
		return ret;
	shoal__ctl_reply__free_unpacked(rep, NULL);
	char sid[NODE_ID_STR_LEN + 1];
	node_id_format(id, sid);
	printf("forgot %s; the other members forget it too\n", sid);
	return EXIT_OK;
}

int cmd_drain(struct cli *cli, int argc, char **argv)
{
	const struct command *cmd = cli_command("drain");
	static const struct option opts[] = {{"help", no_argument, NULL, 'h'}, {0}};
	int c;
	optind = 0;
	while ((c = cli_getopt(cmd, argc, argv, "", opts)) != -1)
		return cli_opt_exit(c);
	if (optind != argc)
		return cli_usage(cmd, "unexpected argument '%s'", argv[optind]);
	int ret = cli_home(cli);
	if (ret)
		return ret;
	int fd = ctlclient_connect(cli->home);
	if (fd == -ENOENT || fd == -ECONNREFUSED)
		return cli_failx("no daemon is running on %s (start it: the drain runs in the "
				 "daemon)",
				 cli->home);
	if (fd < 0)
		return cli_fail(fd, "cannot reach the daemon of %s", cli->home);
	Shoal__CtlRequest req = SHOAL__CTL_REQUEST__INIT;
	Shoal__CtlDrainRequest dr = SHOAL__CTL_DRAIN_REQUEST__INIT;
	req.req_case = SHOAL__CTL_REQUEST__REQ_DRAIN;
	req.drain = &dr;
	struct cli_count_lines r = {.what = "drain",
				    .counted = "chunks held by other members as asked"};
	struct progress pr;
	progress_start(&pr, "drain", 0, 1);
	pr.report = cli_count_line;
	pr.report_arg = &r;
	fprintf(stderr, "drain: handing every chunk to other members; this node then leaves "
			"(interrupting this command does not stop it)\n");
	Shoal__CtlReply *rep;
	int err = ctlclient_call(fd, &req, &pr, &rep);
	close(fd);
	if (err)
		return cli_fail(err,
				"the daemon of %s stopped before the drain ended; start it "
				"again and it carries on",
				cli->home);
	if (rep->err) {
		ret = cli_failx("%s", rep->text && rep->text[0] ? rep->text : "drain refused");
		shoal__ctl_reply__free_unpacked(rep, NULL);
		return ret;
	}
	shoal__ctl_reply__free_unpacked(rep, NULL);
	progress_finish(&pr);
	printf("drained: every chunk is held by other members as asked; this node has left the "
	       "network and its daemon stops\n");
	return EXIT_OK;
}
