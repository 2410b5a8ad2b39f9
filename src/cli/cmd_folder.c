/*
 * shoal folder ...: collaborative folders (src/node/folder.h). Every
 * subcommand is one request to the daemon, which does the work and writes
 * the text (and the JSON) shown.
 */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "proto/folder.h"
#include "util/error.h"
#include "util/fsutil.h"

/* What each subcommand takes. */
enum folder_args {
	ARGS_NONE,	/* list */
	ARGS_DIR,	/* DIR */
	ARGS_DIR_OPT,	/* [DIR] */
	ARGS_FILE,	/* PATH inside a folder */
	ARGS_INVITE_DIR /* INVITE DIR */
};

struct folder_sub {
	const char *name;
	Shoal__CtlFolderRequest__Op op;
	enum folder_args args;
};

static const struct folder_sub subs[] = {
	{"create", SHOAL__CTL_FOLDER_REQUEST__OP__CREATE, ARGS_DIR},
	{"join", SHOAL__CTL_FOLDER_REQUEST__OP__JOIN, ARGS_INVITE_DIR},
	{"list", SHOAL__CTL_FOLDER_REQUEST__OP__LIST, ARGS_NONE},
	{"status", SHOAL__CTL_FOLDER_REQUEST__OP__STATUS, ARGS_DIR_OPT},
	{"leave", SHOAL__CTL_FOLDER_REQUEST__OP__LEAVE, ARGS_DIR},
	{"pause", SHOAL__CTL_FOLDER_REQUEST__OP__PAUSE, ARGS_DIR},
	{"resume", SHOAL__CTL_FOLDER_REQUEST__OP__RESUME, ARGS_DIR},
	{"accept-deletes", SHOAL__CTL_FOLDER_REQUEST__OP__ACCEPT_DELETES, ARGS_DIR},
	{"rescan", SHOAL__CTL_FOLDER_REQUEST__OP__RESCAN, ARGS_DIR},
	{"conflicts", SHOAL__CTL_FOLDER_REQUEST__OP__CONFLICTS, ARGS_DIR_OPT},
	{"resolve", SHOAL__CTL_FOLDER_REQUEST__OP__RESOLVE, ARGS_FILE},
	{"restore", SHOAL__CTL_FOLDER_REQUEST__OP__RESTORE, ARGS_FILE},
	{"log", SHOAL__CTL_FOLDER_REQUEST__OP__LOG, ARGS_FILE},
};

/*
 * path made absolute without following its last component (which need not
 * exist): the real path of its directory, then its name. A directory
 * given for create or join need not exist either: its nearest existing
 * ancestor is resolved.
 */
static int absolute(const char *path, char out[PATH_MAX])
{
	char dir[PATH_MAX], real[PATH_MAX];
	size_t n = strlen(path);
	while (n > 1 && path[n - 1] == '/')
		n--;
	if (n == 0 || n >= PATH_MAX)
		return -ENAMETOOLONG;
	char copy[PATH_MAX];
	memcpy(copy, path, n);
	copy[n] = 0;
	if (!strcmp(copy, "/")) {
		snprintf(out, PATH_MAX, "/");
		return 0;
	}
	const char *slash = strrchr(copy, '/');
	const char *name = slash ? slash + 1 : copy;
	if (!strcmp(name, ".") || !strcmp(name, "..")) {
		if (!realpath(copy, real))
			return -errno;
		snprintf(out, PATH_MAX, "%s", real);
		return 0;
	}
	if (slash == copy)
		snprintf(dir, sizeof(dir), "/");
	else if (slash)
		snprintf(dir, sizeof(dir), "%.*s", (int)(slash - copy), copy);
	else
		snprintf(dir, sizeof(dir), ".");
	if (!realpath(dir, real)) {
		/* A directory to be made: resolve what exists of it. */
		int err = -errno;
		if (err != -ENOENT || absolute(dir, real))
			return err;
	}
	if ((size_t)snprintf(out, PATH_MAX, "%s/%s", strcmp(real, "/") ? real : "", name) >=
	    PATH_MAX)
		return -ENAMETOOLONG;
	return 0;
}

/* Reads an invite from stdin ("-"). */
static int read_invite(char *out, size_t size)
{
	if (!fgets(out, (int)size, stdin))
		return -1;
	out[strcspn(out, "\r\n")] = 0;
	return 0;
}

static int folder_sub_run(struct cli *cli, const struct folder_sub *sub, int argc, char **argv)
{
	char full[64];
	snprintf(full, sizeof(full), "folder %s", sub->name);
	const struct command *cmd = cli_subcommand("folder", sub->name);
	static const struct option opts[] = {{"help", no_argument, NULL, 'h'},
					     {"json", no_argument, NULL, 'j'},
					     {"name", required_argument, NULL, 'n'},
					     {"replicas", required_argument, NULL, 'r'},
					     {"keep", required_argument, NULL, 'k'},
					     {"version", required_argument, NULL, 'v'},
					     {0}};
	Shoal__CtlFolderRequest fr = SHOAL__CTL_FOLDER_REQUEST__INIT;
	fr.op = sub->op;
	int c, json = 0;
	char *end;
	optind = 0;
	while ((c = cli_getopt(cmd, argc, argv, "", opts)) != -1) {
		switch (c) {
		case 'j':
			json = 1;
			break;
		case 'n':
			if (sub->op != SHOAL__CTL_FOLDER_REQUEST__OP__CREATE)
				return cli_usage(cmd, "--name is for 'folder create'");
			fr.label = optarg;
			break;
		case 'r': {
			unsigned long r = strtoul(optarg, &end, 10);
			if (sub->op != SHOAL__CTL_FOLDER_REQUEST__OP__CREATE)
				return cli_usage(cmd, "--replicas is for 'folder create'");
			if (*end || !optarg[0] || r > 16)
				return cli_usage(cmd, "--replicas takes 0 to 16");
			fr.replicas = (uint32_t)r;
			break;
		}
		case 'k':
			if (sub->op != SHOAL__CTL_FOLDER_REQUEST__OP__RESOLVE)
				return cli_usage(cmd, "--keep is for 'folder resolve'");
			if (strcmp(optarg, "mine") && strcmp(optarg, "theirs") &&
			    strcmp(optarg, "both"))
				return cli_usage(cmd, "--keep takes mine, theirs or both");
			fr.keep = optarg;
			break;
		case 'v': {
			unsigned long v = strtoul(optarg, &end, 10);
			if (sub->op != SHOAL__CTL_FOLDER_REQUEST__OP__RESTORE)
				return cli_usage(cmd, "--version is for 'folder restore'");
			if (*end || !optarg[0] || v == 0 || v > UINT32_MAX)
				return cli_usage(cmd,
						 "--version takes a number from 1 (the newest)");
			fr.version = (uint32_t)v;
			break;
		}
		default:
			return cli_opt_exit(c);
		}
	}
	int nargs = argc - optind;
	char path[PATH_MAX] = "", invite[FOLDER_INVITE_MAX + 2] = "";
	const char *target = NULL;
	switch (sub->args) {
	case ARGS_NONE:
		if (nargs)
			return cli_usage(cmd, "unexpected argument '%s'", argv[optind]);
		break;
	case ARGS_DIR:
	case ARGS_FILE:
		if (nargs != 1)
			return cli_usage(cmd, sub->args == ARGS_DIR ? "expected one DIR"
								    : "expected one PATH");
		target = argv[optind];
		break;
	case ARGS_DIR_OPT:
		if (nargs > 1)
			return cli_usage(cmd, "expected at most one DIR");
		target = nargs ? argv[optind] : NULL;
		break;
	case ARGS_INVITE_DIR:
		if (nargs != 2)
			return cli_usage(cmd, "expected INVITE DIR");
		if (!strcmp(argv[optind], "-")) {
			if (read_invite(invite, sizeof(invite)))
				return cli_failx("no invite on stdin");
		} else {
			snprintf(invite, sizeof(invite), "%s", argv[optind]);
		}
		struct folder_invite inv;
		if (folder_invite_parse(invite, &inv))
			return cli_failx(
				"not a folder invite (it is %s... as 'shoal folder create' "
				"prints it)",
				FOLDER_INVITE_PREFIX);
		fr.invite = invite;
		target = argv[optind + 1];
		break;
	}
	if (sub->op == SHOAL__CTL_FOLDER_REQUEST__OP__RESOLVE && !fr.keep)
		return cli_usage(cmd, "--keep mine|theirs|both is needed");
	if (target) {
		int err = absolute(target, path);
		if (err)
			return cli_fail(err, "cannot resolve %s", target);
		fr.path = path;
	}
	Shoal__CtlRequest req = SHOAL__CTL_REQUEST__INIT;
	req.req_case = SHOAL__CTL_REQUEST__REQ_FOLDER;
	req.folder = &fr;
	Shoal__CtlReply *rep;
	int ret = cli_ask(cli, &req, &rep);
	if (ret)
		return ret;
	if (rep->reply_case != SHOAL__CTL_REPLY__REPLY_FOLDER) {
		shoal__ctl_reply__free_unpacked(rep, NULL);
		return cli_failx("the daemon gave no answer to '%s'", full);
	}
	if (json) {
		json_error_t e;
		json_t *o = json_loads(rep->folder->json, 0, &e);
		shoal__ctl_reply__free_unpacked(rep, NULL);
		return cli_print_result(o);
	}
	fputs(rep->folder->text, stdout);
	shoal__ctl_reply__free_unpacked(rep, NULL);
	return EXIT_OK;
}

int cmd_folder(struct cli *cli, int argc, char **argv)
{
	const struct command *cmd = cli_command("folder");
	if (argc < 2)
		return cli_usage(cmd, "expected a subcommand: create, join, list, status, leave, "
				      "pause, resume, accept-deletes, rescan, conflicts, resolve, "
				      "restore or log");
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))
		return cli_help(cmd);
	for (size_t i = 0; i < sizeof(subs) / sizeof(subs[0]); i++) {
		if (!strcmp(argv[1], subs[i].name))
			return folder_sub_run(cli, &subs[i], argc - 1, argv + 1);
	}
	char quoted[CLI_QUOTE_MAX];
	return cli_usage(cmd, "unknown subcommand '%s'",
			 cli_quote(argv[1], quoted, sizeof(quoted)));
}
