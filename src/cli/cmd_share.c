/*
 * Commands that only a running daemon can carry out, because they involve
 * other nodes: send (make another node fetch and keep a file or tree) and
 * locate (which nodes hold each chunk of one). Both check their arguments
 * before asking the daemon, so that mistakes get a usage error even offline.
 */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "crypto/identity.h"
#include "proto/name.h"
#include "util/encoding.h"
#include "util/error.h"

/* Checks a CAP_OR_NAME argument: a well-formed capability or a valid name.
 * Prints the error itself. */
static int check_target(const char *target)
{
	if (capability_looks_like(target)) {
		struct capability cap;
		int err = capability_parse(&cap, target);
		return err ? cli_fail(err, "not a valid capability") : 0;
	}
	if (name_validate(target, strlen(target))) {
		char quoted[CLI_QUOTE_MAX];
		return cli_failx("'%s' is neither a capability nor a valid name",
				 cli_quote(target, quoted, sizeof(quoted)));
	}
	return 0;
}

int cmd_send(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{"to", required_argument, NULL, 't'},
		{"help", no_argument, NULL, 'h'},
		{0},
	};
	const struct command *cmd = cli_command("send");
	const char *to = NULL;
	int c;
	optind = 0;
	while ((c = cli_getopt(cmd, argc, argv, "", opts)) != -1) {
		if (c == 't')
			to = optarg;
		else
			return cli_opt_exit(c);
	}
	if (argc - optind != 1)
		return cli_usage(cmd, argc == optind ? "which CAP_OR_NAME?" : "one file at a time");
	if (!to)
		return cli_usage(cmd, "--to NODE_ID is required");
	uint8_t id[NODE_ID_LEN];
	char quoted[CLI_QUOTE_MAX];
	if (node_id_parse(to, id))
		return cli_usage(cmd,
				 "--to: '%s' is not a node id (52 base32 characters, see "
				 "'shoal peers')",
				 cli_quote(to, quoted, sizeof(quoted)));
	const char *target = argv[optind];
	int ret = check_target(target);
	if (ret)
		return ret;
	int fd;
	if ((ret = cli_daemon_required(cli, "send", &fd)))
		return ret;
	Shoal__CtlRequest req = SHOAL__CTL_REQUEST__INIT;
	Shoal__CtlSendRequest send = SHOAL__CTL_SEND_REQUEST__INIT;
	send.target = (char *)target;
	send.to.data = id;
	send.to.len = NODE_ID_LEN;
	req.req_case = SHOAL__CTL_REQUEST__REQ_SEND;
	req.send = &send;
	Shoal__CtlReply *rep;
	if ((ret = cli_call(fd, &req, NULL, &rep)))
		return ret;
	cli_warn(rep->warning);
	char fallback[CLI_QUOTE_MAX + 64];
	snprintf(fallback, sizeof(fallback), "cannot send %s to %s",
		 cli_quote(target, quoted, sizeof(quoted)), to);
	ret = rep->err ? cli_reply_failed(rep, fallback) : EXIT_OK;
	shoal__ctl_reply__free_unpacked(rep, NULL);
	return ret;
}

/* Prints one chunk's holders as a line or appends it to list. */
static int print_holders(const Shoal__CtlChunkHolders *h, json_t *list)
{
	char hex[2 * CHUNK_ID_LEN + 1];
	hex_encode(hex, h->id.data, CHUNK_ID_LEN);
	json_t *holders = list ? json_array() : NULL;
	if (list && !holders)
		return -ENOMEM;
	if (!list)
		printf("%s\t%llu\t", hex, (unsigned long long)h->size);
	size_t shown = 0;
	for (size_t i = 0; i < h->n_holders; i++) {
		if (h->holders[i].len != NODE_ID_LEN)
			continue;
		char id[NODE_ID_STR_LEN + 1];
		node_id_format(h->holders[i].data, id);
		if (holders)
			json_array_append_new(holders, json_string(id));
		else
			printf("%s%s", shown ? "," : "", id);
		shown++;
	}
	if (!list) {
		printf("\n");
		return 0;
	}
	json_t *o = json_pack("{s:s, s:I, s:o}", "id", hex, "size", (json_int_t)h->size, "holders",
			      holders);
	return o && !json_array_append_new(list, o) ? 0 : -ENOMEM;
}

int cmd_locate(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{"json", no_argument, NULL, 'j'},
		{"help", no_argument, NULL, 'h'},
		{0},
	};
	const struct command *cmd = cli_command("locate");
	int json = 0, c;
	optind = 0;
	while ((c = cli_getopt(cmd, argc, argv, "", opts)) != -1) {
		if (c == 'j')
			json = 1;
		else
			return cli_opt_exit(c);
	}
	if (argc - optind != 1)
		return cli_usage(cmd, argc == optind ? "which CAP_OR_NAME?" : "one file at a time");
	const char *target = argv[optind];
	int ret = check_target(target);
	if (ret)
		return ret;
	int fd;
	if ((ret = cli_daemon_required(cli, "locate", &fd)))
		return ret;
	Shoal__CtlRequest req = SHOAL__CTL_REQUEST__INIT;
	Shoal__CtlLocateRequest locate = SHOAL__CTL_LOCATE_REQUEST__INIT;
	locate.target = (char *)target;
	req.req_case = SHOAL__CTL_REQUEST__REQ_LOCATE;
	req.locate = &locate;
	Shoal__CtlReply *rep;
	if ((ret = cli_call(fd, &req, NULL, &rep)))
		return ret;
	cli_warn(rep->warning);
	if (rep->err) {
		char quoted[CLI_QUOTE_MAX], fallback[CLI_QUOTE_MAX + 32];
		snprintf(fallback, sizeof(fallback), "cannot locate %s",
			 cli_quote(target, quoted, sizeof(quoted)));
		ret = cli_reply_failed(rep, fallback);
		shoal__ctl_reply__free_unpacked(rep, NULL);
		return ret;
	}
	if (rep->reply_case != SHOAL__CTL_REPLY__REPLY_LOCATE) {
		shoal__ctl_reply__free_unpacked(rep, NULL);
		return cli_failx("the daemon sent a malformed reply to locate");
	}
	json_t *list = json ? json_array() : NULL;
	int err = json && !list ? -ENOMEM : 0;
	for (size_t i = 0; !err && i < rep->locate->n_chunks; i++) {
		const Shoal__CtlChunkHolders *h = rep->locate->chunks[i];
		if (h->id.len != CHUNK_ID_LEN) {
			err = SHOAL_EPROTO;
			break;
		}
		err = print_holders(h, list);
	}
	shoal__ctl_reply__free_unpacked(rep, NULL);
	if (!err && list) {
		char *text = json_dumps(list, JSON_INDENT(2));
		if (text)
			printf("%s\n", text);
		else
			err = -ENOMEM;
		free(text);
	}
	json_decref(list);
	return err ? cli_fail(err, "cannot list the chunks' holders") : EXIT_OK;
}
