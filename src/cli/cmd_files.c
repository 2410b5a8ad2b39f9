/*
 * Commands on stored files and trees: put, get, ls, rm and verify. When a
 * daemon runs on the home they go through its control socket; otherwise they
 * work on the home's store directly (offline mode). Either way the output is
 * the same; what only a daemon can do (publishing, replicas on other nodes,
 * the network catalog) is refused or warned about offline.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/ctlclient.h"
#include "crypto/identity.h"
#include "proto/name.h"
#include "store/files.h"
#include "util/encoding.h"
#include "util/error.h"
#include "util/progress.h"

static const struct option help_only[] = {{"help", no_argument, NULL, 'h'}, {0}};

/* The default name of a put: the base name of path ("dir/" gives "dir"; ".",
 * ".." and the like give the real directory's name). "" when there is none
 * ("/"). */
static void default_name(const char *path, char *out, size_t size)
{
	size_t n = strlen(path);
	while (n > 1 && path[n - 1] == '/')
		n--;
	const char *slash = memrchr(path, '/', n);
	const char *base = slash ? slash + 1 : path;
	size_t len = n - (size_t)(base - path);
	if ((len == 1 && base[0] == '.') || (len == 2 && !memcmp(base, "..", 2))) {
		char real[PATH_MAX];
		if (realpath(path, real)) {
			const char *r = strrchr(real, '/');
			const char *b = r ? r + 1 : real;
			size_t blen = strlen(b) < size ? strlen(b) : size - 1;
			memcpy(out, b, blen);
			out[blen] = 0;
			return;
		}
	}
	snprintf(out, size, "%.*s", (int)len, base);
}

/* Makes path absolute (the daemon's working directory is not ours). */
static int absolute(const char *path, char *out, size_t size)
{
	if (path[0] == '/')
		return (size_t)snprintf(out, size, "%s", path) < size ? 0 : -ENAMETOOLONG;
	char cwd[PATH_MAX];
	if (!getcwd(cwd, sizeof(cwd)))
		return -errno;
	return (size_t)snprintf(out, size, "%s/%s", cwd, path) < size ? 0 : -ENAMETOOLONG;
}

/* Prints the error of a failed get (naming the chunk when one was bad). */
static int get_failed(const char *target, const char *out, int err, const uint8_t *chunk)
{
	char quoted[CLI_QUOTE_MAX];
	cli_quote(target, quoted, sizeof(quoted));
	if (chunk) {
		char hex[2 * CHUNK_ID_LEN + 1];
		hex_encode(hex, chunk, CHUNK_ID_LEN);
		return cli_fail(err, "cannot get %s: chunk sha256:%s", quoted, hex);
	}
	if (err == -EINTR)
		return cli_failx("get interrupted; %s was not written", out);
	if (err == SHOAL_ENOTFOUND)
		return cli_failx("no file named '%s' (see 'shoal ls')", quoted);
	if (err == SHOAL_EEXIST)
		return cli_failx("cannot get %s: %s already exists (a directory is restored only "
				 "into a new path)",
				 quoted, out);
	if (err == SHOAL_EPROTO || err == SHOAL_EVERSION || err == SHOAL_ETOOBIG)
		return cli_fail(err,
				"cannot get %s: its manifest is invalid or unsafe, nothing "
				"was written",
				quoted);
	return cli_fail(err, "cannot get %s into %s", quoted, out);
}

/* Parses --replicas: 1..16. */
static int parse_replicas(const char *s, uint32_t *out)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < 1 || v > 16)
		return -1;
	*out = (uint32_t)v;
	return 0;
}

/* Prints why an offline put failed. */
static int put_failed(const char *path, const char *name, int err, const struct files_put_report *r)
{
	char quoted[CLI_QUOTE_MAX], where[CLI_QUOTE_MAX];
	cli_quote(r->where, where, sizeof(where));
	if (err == -EINTR)
		return cli_failx("put of %s interrupted; nothing was stored under '%s'", path,
				 cli_quote(name, quoted, sizeof(quoted)));
	if (err == -EAGAIN && r->where[0])
		return cli_failx("cannot put %s: '%s' changed while it was read; try again", path,
				 where);
	if (err == SHOAL_ETOOBIG && r->where[0])
		return cli_failx("cannot put %s: '%s' is nested too deep or its path is too long "
				 "(at most %d levels and %d bytes)",
				 path, where, MANIFEST_DEPTH_MAX, MANIFEST_PATH_MAX);
	if (err == SHOAL_ETOOBIG)
		return cli_fail(err, "cannot put %s: too many entries for one directory manifest",
				path);
	if (r->where[0])
		return cli_fail(err, "cannot put %s: cannot read '%s'", path, where);
	return cli_fail(err, "cannot put %s", path);
}

int cmd_put(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{"name", required_argument, NULL, 'n'},	    {"publish", no_argument, NULL, 'p'},
		{"replicas", required_argument, NULL, 'r'}, {"no-progress", no_argument, NULL, 'P'},
		{"help", no_argument, NULL, 'h'},	    {0},
	};
	const struct command *cmd = cli_command("put");
	const char *name = NULL;
	int no_progress = 0, publish = 0, c;
	uint32_t replicas = 0;
	optind = 0;
	while ((c = cli_getopt(cmd, argc, argv, "", opts)) != -1) {
		switch (c) {
		case 'n':
			name = optarg;
			break;
		case 'p':
			publish = 1;
			break;
		case 'r':
			if (parse_replicas(optarg, &replicas))
				return cli_usage(cmd,
						 "--replicas wants a number from 1 to 16, not '%s'",
						 optarg);
			break;
		case 'P':
			no_progress = 1;
			break;
		default:
			return cli_opt_exit(c);
		}
	}
	if (argc - optind != 1)
		return cli_usage(cmd, argc == optind ? "which FILE_OR_DIR?"
						     : "one FILE_OR_DIR at a time");
	const char *path = argv[optind];
	char name_buf[NAME_MAX_LEN + 2];
	if (!name) {
		default_name(path, name_buf, sizeof(name_buf));
		if (!name_buf[0])
			return cli_usage(cmd, "%s has no name to store it under: give --name",
					 path);
		name = name_buf;
	}
	char quoted[CLI_QUOTE_MAX];
	if (name_validate(name, strlen(name)))
		return cli_failx("invalid name '%s': use 1-255 bytes of UTF-8 without '/', control "
				 "characters, or edge spaces, and not '.' or '..'",
				 cli_quote(name, quoted, sizeof(quoted)));
	struct stat st;
	if (stat(path, &st))
		return cli_fail(-errno, "cannot open %s", path);
	struct progress pr;
	progress_start(&pr, "put", S_ISREG(st.st_mode) ? (uint64_t)st.st_size : 0, no_progress);
	struct capability cap;
	int err, dfd;
	int ret = cli_daemon(cli, &dfd);
	if (ret)
		return ret;
	if (dfd >= 0) {
		char abs[PATH_MAX];
		if ((err = absolute(path, abs, sizeof(abs)))) {
			close(dfd);
			return cli_fail(err, "cannot put %s", path);
		}
		Shoal__CtlRequest req = SHOAL__CTL_REQUEST__INIT;
		Shoal__CtlPutRequest put = SHOAL__CTL_PUT_REQUEST__INIT;
		put.path = abs;
		put.name = (char *)name;
		put.publish = publish;
		put.replicas = replicas;
		req.req_case = SHOAL__CTL_REQUEST__REQ_PUT;
		req.put = &put;
		Shoal__CtlReply *rep;
		if ((ret = cli_call(dfd, &req, &pr, &rep)))
			return ret;
		cli_warn(rep->warning);
		err = rep->err;
		if (err == -EINTR) {
			ret = cli_failx("put of %s interrupted; nothing was stored under '%s'",
					path, cli_quote(name, quoted, sizeof(quoted)));
		} else if (err) {
			char fallback[PATH_MAX + 16];
			snprintf(fallback, sizeof(fallback), "cannot put %s", path);
			ret = cli_reply_failed(rep, fallback);
		} else if (rep->reply_case != SHOAL__CTL_REPLY__REPLY_CAPABILITY ||
			   capability_parse(&cap, rep->capability)) {
			ret = cli_failx("the daemon sent a malformed reply to put");
		}
		shoal__ctl_reply__free_unpacked(rep, NULL);
		if (ret)
			return ret;
	} else {
		if (publish)
			return cli_failx("--publish needs a running daemon (start one with 'shoal "
					 "daemon')");
		struct store *s;
		if ((ret = cli_open_store(cli, &s)))
			return ret;
		uint64_t size;
		struct files_put_report report;
		err = files_put_path_report(s, path, name, &pr, NULL, &report, &cap, &size);
		progress_finish(&pr);
		store_close(s);
		if (err)
			return put_failed(path, name, err, &report);
		char warning[512];
		files_put_report_warning(&report, warning, sizeof(warning));
		cli_warn(warning);
		if (replicas > 1)
			cli_warn("no daemon running; stored on this node only");
	}
	char text[CAPABILITY_STR_LEN + 1];
	capability_format(&cap, text);
	printf("%s\n", text);
	return EXIT_OK;
}

int cmd_get(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{"output", required_argument, NULL, 'o'},
		{"no-progress", no_argument, NULL, 'P'},
		{"help", no_argument, NULL, 'h'},
		{0},
	};
	const struct command *cmd = cli_command("get");
	const char *out = NULL;
	int no_progress = 0, c;
	optind = 0;
	while ((c = cli_getopt(cmd, argc, argv, "o:", opts)) != -1) {
		if (c == 'o')
			out = optarg;
		else if (c == 'P')
			no_progress = 1;
		else
			return cli_opt_exit(c);
	}
	if (argc - optind != 1)
		return cli_usage(cmd, argc == optind ? "which CAP_OR_NAME?" : "one file at a time");
	if (!out || !*out)
		return cli_usage(cmd, "-o OUT is required");
	const char *target = argv[optind];
	struct progress pr;
	progress_start(&pr, "get", 0, no_progress);
	int dfd;
	int ret = cli_daemon(cli, &dfd);
	if (ret)
		return ret;
	if (dfd >= 0) {
		char abs[PATH_MAX];
		int err = absolute(out, abs, sizeof(abs));
		if (err) {
			close(dfd);
			return cli_fail(err, "cannot write %s", out);
		}
		if (capability_looks_like(target)) {
			struct capability cap;
			if ((err = capability_parse(&cap, target))) {
				close(dfd);
				return cli_fail(err, "not a valid capability");
			}
		}
		Shoal__CtlRequest req = SHOAL__CTL_REQUEST__INIT;
		Shoal__CtlGetRequest get = SHOAL__CTL_GET_REQUEST__INIT;
		get.target = (char *)target;
		get.out_path = abs;
		req.req_case = SHOAL__CTL_REQUEST__REQ_GET;
		req.get = &get;
		Shoal__CtlReply *rep;
		if ((ret = cli_call(dfd, &req, &pr, &rep)))
			return ret;
		cli_warn(rep->warning);
		err = rep->err;
		ret = err ? get_failed(target, out, err,
				       rep->failed_chunk.len == CHUNK_ID_LEN
					       ? rep->failed_chunk.data
					       : NULL)
			  : EXIT_OK;
		shoal__ctl_reply__free_unpacked(rep, NULL);
		return ret;
	}
	struct store *s;
	if ((ret = cli_open_store(cli, &s)))
		return ret;
	struct capability cap;
	if ((ret = cli_resolve(s, target, &cap))) {
		store_close(s);
		return ret;
	}
	struct files_failure failed;
	int err = files_get(s, &cap, out, &pr, &failed);
	progress_finish(&pr);
	store_close(s);
	return err ? get_failed(target, out, err, failed.set ? failed.id : NULL) : EXIT_OK;
}

/* How ls prints: a JSON array being built, or lines; with owners for the
 * network catalog. */
struct listing {
	json_t *json;
	int network;
};

/* Prints one entry; owner (NODE_ID_LEN bytes) only for the catalog. */
static int print_entry(const struct listing *l, const struct index_name *n, const uint8_t *owner)
{
	char owner_text[NODE_ID_STR_LEN + 1] = "-";
	if (owner)
		node_id_format(owner, owner_text);
	const char *cap = n->cap[0] ? n->cap : "-";
	if (l->json) {
		json_t *o = json_pack("{s:s, s:I, s:s, s:I}", "name", n->name, "size",
				      (json_int_t)n->size, "capability", n->cap, "created",
				      (json_int_t)n->created);
		if (o && l->network &&
		    json_object_set_new(o, "owner", owner ? json_string(owner_text) : json_null()))
			o = (json_decref(o), NULL);
		if (!o || json_array_append_new(l->json, o))
			return -ENOMEM;
	} else if (l->network) {
		printf("%s\t%llu\t%s\t%s\n", n->name, (unsigned long long)n->size, cap, owner_text);
	} else {
		printf("%s\t%llu\t%s\n", n->name, (unsigned long long)n->size, n->cap);
	}
	return 0;
}

static int print_name(const struct index_name *n, void *arg)
{
	return print_entry(arg, n, NULL);
}

int cmd_ls(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{"json", no_argument, NULL, 'j'},
		{"network", no_argument, NULL, 'N'},
		{"help", no_argument, NULL, 'h'},
		{0},
	};
	const struct command *cmd = cli_command("ls");
	int json = 0, network = 0, c;
	optind = 0;
	while ((c = cli_getopt(cmd, argc, argv, "", opts)) != -1) {
		if (c == 'j')
			json = 1;
		else if (c == 'N')
			network = 1;
		else
			return cli_opt_exit(c);
	}
	if (optind != argc)
		return cli_usage(cmd, "unexpected argument '%s'", argv[optind]);
	int err = 0, dfd;
	int ret = network ? cli_daemon_required(cli, "ls --network", &dfd) : cli_daemon(cli, &dfd);
	if (ret)
		return ret;
	struct listing l = {.json = json ? json_array() : NULL, .network = network};
	if (dfd >= 0) {
		Shoal__CtlRequest req = SHOAL__CTL_REQUEST__INIT;
		Shoal__CtlLsRequest ls = SHOAL__CTL_LS_REQUEST__INIT;
		ls.network = network;
		req.req_case = SHOAL__CTL_REQUEST__REQ_LS;
		req.ls = &ls;
		Shoal__CtlReply *rep;
		if ((ret = cli_call(dfd, &req, NULL, &rep))) {
			json_decref(l.json);
			return ret;
		}
		cli_warn(rep->warning);
		if (rep->err) {
			ret = cli_reply_failed(rep, network ? "cannot list the network catalog"
							    : "cannot list names");
			shoal__ctl_reply__free_unpacked(rep, NULL);
			json_decref(l.json);
			return ret;
		}
		for (size_t i = 0; !err && rep->reply_case == SHOAL__CTL_REPLY__REPLY_NAMES &&
				   i < rep->names->n_names;
		     i++) {
			const Shoal__CtlName *x = rep->names->names[i];
			struct index_name nm = {.size = x->size, .created = x->created};
			snprintf(nm.name, sizeof(nm.name), "%s", x->name);
			snprintf(nm.cap, sizeof(nm.cap), "%s", x->capability);
			err = print_entry(&l, &nm,
					  x->owner.len == NODE_ID_LEN ? x->owner.data : NULL);
		}
		shoal__ctl_reply__free_unpacked(rep, NULL);
	} else {
		struct store *s;
		if ((ret = cli_open_store(cli, &s))) {
			json_decref(l.json);
			return ret;
		}
		err = index_names_foreach(s->index, print_name, &l);
		store_close(s);
	}
	if (!err && l.json) {
		char *text = json_dumps(l.json, JSON_INDENT(2));
		if (text)
			printf("%s\n", text);
		else
			err = -ENOMEM;
		free(text);
	}
	json_decref(l.json);
	return err ? cli_fail(err, "cannot list names") : EXIT_OK;
}

int cmd_rm(struct cli *cli, int argc, char **argv)
{
	const struct command *cmd = cli_command("rm");
	int c;
	optind = 0;
	while ((c = cli_getopt(cmd, argc, argv, "", help_only)) != -1)
		return cli_opt_exit(c);
	if (argc - optind != 1)
		return cli_usage(cmd, argc == optind ? "which NAME?" : "one NAME at a time");
	const char *name = argv[optind];
	char quoted[CLI_QUOTE_MAX];
	cli_quote(name, quoted, sizeof(quoted));
	if (name_validate(name, strlen(name)))
		return cli_failx("invalid name '%s'", quoted);
	int err, dfd;
	int ret = cli_daemon(cli, &dfd);
	if (ret)
		return ret;
	if (dfd >= 0) {
		Shoal__CtlRequest req = SHOAL__CTL_REQUEST__INIT;
		Shoal__CtlRmRequest rm = SHOAL__CTL_RM_REQUEST__INIT;
		rm.name = (char *)name;
		req.req_case = SHOAL__CTL_REQUEST__REQ_RM;
		req.rm = &rm;
		Shoal__CtlReply *rep;
		if ((ret = cli_call(dfd, &req, NULL, &rep)))
			return ret;
		err = rep->err;
		shoal__ctl_reply__free_unpacked(rep, NULL);
	} else {
		struct store *s;
		if ((ret = cli_open_store(cli, &s)))
			return ret;
		err = store_remove_name(s, name);
		store_close(s);
	}
	if (err == SHOAL_ENOTFOUND)
		return cli_failx("no file named '%s' (see 'shoal ls')", quoted);
	return err ? cli_fail(err, "cannot remove '%s'", quoted) : EXIT_OK;
}

static void report_bad(const uint8_t id[CHUNK_ID_LEN], int err, void *arg)
{
	(void)arg;
	char hex[2 * CHUNK_ID_LEN + 1];
	hex_encode(hex, id, CHUNK_ID_LEN);
	fprintf(stderr, "shoal: chunk sha256:%s is %s\n", hex,
		err == SHOAL_EMISSING ? "missing" : "corrupt");
}

int cmd_verify(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{"repair", no_argument, NULL, 'r'},
		{"help", no_argument, NULL, 'h'},
		{0},
	};
	const struct command *cmd = cli_command("verify");
	int c, repair = 0;
	optind = 0;
	while ((c = cli_getopt(cmd, argc, argv, "", opts)) != -1) {
		if (c == 'r')
			repair = 1;
		else
			return cli_opt_exit(c);
	}
	if (optind != argc)
		return cli_usage(cmd, "unexpected argument '%s'", argv[optind]);
	struct store_verify_report r = {0};
	uint64_t repaired = 0, unrecoverable = 0;
	int err, dfd;
	int ret = cli_daemon(cli, &dfd);
	if (ret)
		return ret;
	if (dfd < 0 && repair)
		return cli_failx("--repair needs a running daemon (the copies are on other nodes)");
	if (dfd >= 0) {
		Shoal__CtlRequest req = SHOAL__CTL_REQUEST__INIT;
		Shoal__CtlVerifyRequest v = SHOAL__CTL_VERIFY_REQUEST__INIT;
		v.repair = repair;
		req.req_case = SHOAL__CTL_REQUEST__REQ_VERIFY;
		req.verify = &v;
		Shoal__CtlReply *rep;
		if ((ret = cli_call(dfd, &req, NULL, &rep)))
			return ret;
		err = rep->err;
		if (!err && rep->reply_case == SHOAL__CTL_REPLY__REPLY_VERIFY) {
			const Shoal__CtlVerify *v = rep->verify;
			for (size_t i = 0; i < v->n_bad; i++)
				report_bad(v->bad[i]->id.data, v->bad[i]->err, NULL);
			r.checked = v->checked;
			r.bytes = v->bytes;
			r.corrupt = v->corrupt;
			r.missing = v->missing;
			repaired = v->repaired;
			unrecoverable = v->unrecoverable;
		}
		shoal__ctl_reply__free_unpacked(rep, NULL);
	} else {
		struct store *s;
		if ((ret = cli_open_store(cli, &s)))
			return ret;
		err = store_verify(s, report_bad, NULL, &r);
		store_close(s);
	}
	if (err)
		return cli_fail(err, "verify stopped");
	char bytes[32];
	format_bytes(r.bytes, bytes, sizeof(bytes));
	if (repair) {
		printf("verified %llu chunks (%s): %llu corrupt, %llu missing; %llu repaired, %llu "
		       "unrecoverable\n",
		       (unsigned long long)r.checked, bytes, (unsigned long long)r.corrupt,
		       (unsigned long long)r.missing, (unsigned long long)repaired,
		       (unsigned long long)unrecoverable);
		return r.corrupt + r.missing > repaired ? EXIT_FAIL : EXIT_OK;
	}
	printf("verified %llu chunks (%s): %llu corrupt, %llu missing\n",
	       (unsigned long long)r.checked, bytes, (unsigned long long)r.corrupt,
	       (unsigned long long)r.missing);
	return r.corrupt || r.missing ? EXIT_FAIL : EXIT_OK;
}
