/*
 * Commands that only a running daemon can carry out, because they involve
 * other nodes: send (make another node fetch and keep a file or tree) and
 * locate (which nodes hold each chunk of one). Both check their arguments
 * before opening the backend (see backend.h; offline, it refuses), so that
 * mistakes get a usage error even offline.
 */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <time.h>

#include "cli/backend.h"
#include "cli/cli.h"
#include "crypto/identity.h"
#include "util/encoding.h"
#include "util/error.h"
#include "util/progress.h"

/* Checks the CAP_OR_NAME argument, then opens the backend. Prints the error
 * itself. */
static int open_backend(struct cli *cli, const char *target, struct backend *b)
{
	struct capability cap;
	int ret = cli_check_target(target, &cap);
	return ret ? ret : backend_open(b, cli);
}

int cmd_send(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{"to", required_argument, NULL, 't'},
		{"no-progress", no_argument, NULL, 'P'},
		{"json", no_argument, NULL, 'j'},
		{"help", no_argument, NULL, 'h'},
		{0},
	};
	const struct command *cmd = cli_command("send");
	const char *to = NULL;
	int c, json = 0, no_progress = 0;
	optind = 0;
	while ((c = cli_getopt(cmd, argc, argv, "", opts)) != -1) {
		if (c == 't')
			to = optarg;
		else if (c == 'j')
			json = 1;
		else if (c == 'P')
			no_progress = 1;
		else
			return cli_opt_exit(c);
	}
	if (argc - optind != 1)
		return cli_usage(cmd, argc == optind ? "which capability or name?"
						     : "one file at a time");
	if (!to)
		return cli_usage(cmd, "--to NODE_ID is required");
	uint8_t id[NODE_ID_LEN];
	char quoted[CLI_QUOTE_MAX];
	if (!cli_node_text_ok(to))
		return cli_usage(cmd,
				 "--to: '%s' is not a node id, id prefix or nickname (see 'shoal "
				 "peers')",
				 cli_quote(to, quoted, sizeof(quoted)));
	int ret = cli_resolve_node(cli, to, id);
	if (ret)
		return ret;
	const char *target = argv[optind];
	struct backend b;
	ret = open_backend(cli, target, &b);
	if (ret)
		return ret;
	struct progress pr;
	progress_start(&pr, "send", 0, no_progress);
	struct backend_result result = {0};
	ret = b.ops->send(&b, target, id, to, &pr, &result);
	backend_close(&b);
	if (ret)
		return ret;
	if (!json) {
		/* On stderr: stdout stays empty, as scripts expect of send. The
		 * target's name for it, when another, came as a warning above.
		 * Both texts passed their checks (a capability or valid name, a
		 * node id or nickname): printed whole, a capability stays usable. */
		fprintf(stderr, "sent %s to %s (%llu chunk%s, %llu fetched)\n", target, to,
			(unsigned long long)result.chunks, result.chunks == 1 ? "" : "s",
			(unsigned long long)result.fetched);
		return ret;
	}
	char idtext[NODE_ID_STR_LEN + 1];
	node_id_format(id, idtext);
	json_t *o =
		json_pack("{s:s, s:s, s:b, s:I, s:I, s:I, s:I, s:I, s:f}", "target", target, "to",
			  idtext, "directory", result.directory, "size", (json_int_t)result.size,
			  "files", (json_int_t)result.files, "dirs", (json_int_t)result.dirs,
			  "chunks", (json_int_t)result.chunks, "fetched",
			  (json_int_t)result.fetched, "seconds", progress_elapsed(&pr));
	return cli_print_result(o);
}

/* Prints one chunk's holders as a line, or appends it to the JSON array
 * arg when there is one (a backend_holders_fn). */
static int print_holders(const struct backend_chunk *c, void *arg)
{
	json_t *list = arg;
	char hex[2 * CHUNK_ID_LEN + 1], id[NODE_ID_STR_LEN + 1];
	hex_encode(hex, c->id, CHUNK_ID_LEN);
	if (!list) {
		printf("%s\t%llu\t", hex, (unsigned long long)c->size);
		for (size_t i = 0; i < c->n; i++) {
			node_id_format(c->holders[i], id);
			printf("%s%s", i ? "," : "", id);
		}
		printf("\t");
		for (size_t i = 0; i < c->n; i++)
			printf("%s%s", i ? "," : "", c->nicks[i][0] ? c->nicks[i] : "-");
		printf("\n");
		return 0;
	}
	json_t *ids = json_array(), *names = json_array();
	if (!ids || !names) {
		json_decref(ids);
		json_decref(names);
		return -ENOMEM;
	}
	for (size_t i = 0; i < c->n; i++) {
		node_id_format(c->holders[i], id);
		json_array_append_new(ids, json_string(id));
		json_array_append_new(names, json_string(c->nicks[i]));
	}
	json_t *o = json_pack("{s:s, s:I, s:o, s:o, s:i}", "id", hex, "size", (json_int_t)c->size,
			      "holders", ids, "nicknames", names, "wanted", (int)c->wanted);
	return o && !json_array_append_new(list, o) ? 0 : -ENOMEM;
}

int cli_parse_file_json(const struct command *cmd, int argc, char **argv, int *json,
			const char **target)
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
	if (argc - optind != 1)
		return cli_usage(cmd, argc == optind ? "which capability or name?"
						     : "one file at a time");
	*target = argv[optind];
	struct capability cap;
	int ret = cli_check_target(*target, &cap);
	return ret ? ret : -1;
}

int cmd_locate(struct cli *cli, int argc, char **argv)
{
	const char *target;
	int json, ret = cli_parse_file_json(cli_command("locate"), argc, argv, &json, &target);
	struct backend b;
	if (ret >= 0 || (ret = backend_open(&b, cli)))
		return ret;
	json_t *list = json ? json_array() : NULL;
	ret = json && !list ? -ENOMEM : b.ops->locate(&b, target, print_holders, list);
	backend_close(&b);
	if (!ret && list)
		ret = cli_print_json(list);
	json_decref(list);
	return ret < 0 ? cli_fail(ret, "cannot list the chunks' holders") : ret;
}

void cli_count_line(struct progress *p, void *arg)
{
	struct cli_count_lines *r = arg;
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	double now = ts.tv_sec + ts.tv_nsec / 1e9;
	/* A line a second at most, but always the last one: a short run
	 * would otherwise end without any. */
	int last = p->total && p->done >= p->total;
	if ((p->done == r->done && p->total == r->total) || (now - r->at < 1.0 && !last))
		return;
	r->done = p->done;
	r->total = p->total;
	r->at = now;
	fprintf(stderr, "%s: %llu of %llu %s\n", r->what, (unsigned long long)p->done,
		(unsigned long long)p->total, r->counted);
}
