/*
 * Commands on stored files: put, get, ls, rm and verify. When a daemon runs on
 * the home they go through its control socket; otherwise they work on the
 * home's store directly (offline mode). Either way the output is the same.
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
#include "proto/name.h"
#include "store/files.h"
#include "util/encoding.h"
#include "util/error.h"
#include "util/progress.h"

static const struct option help_only[] = {{"help", no_argument, NULL, 'h'}, {0}};

/* The default name of a put: the file's base name. */
static const char *base_name(const char *path)
{
	size_t n = strlen(path);
	while (n > 1 && path[n - 1] == '/')
		n--;
	const char *slash = memrchr(path, '/', n);
	return slash ? slash + 1 : path;
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

/* Sends req to the daemon on fd (closing it) and returns its reply, printing
 * the error line itself when the daemon cannot be asked. */
static int call_daemon(int fd, Shoal__CtlRequest *req, struct progress *pr, Shoal__CtlReply **rep)
{
	int err = ctlclient_call(fd, req, pr, rep);
	close(fd);
	if (pr)
		progress_finish(pr);
	if (err == -EINTR)
		return cli_failx("interrupted; the daemon cancels the operation");
	if (err)
		return cli_fail(err, "the daemon did not answer");
	return 0;
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
	return cli_fail(err, "cannot get %s into %s", quoted, out);
}

int cmd_put(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{"name", required_argument, NULL, 'n'},
		{"no-progress", no_argument, NULL, 'P'},
		{"help", no_argument, NULL, 'h'},
		{0},
	};
	const struct command *cmd = cli_command("put");
	const char *name = NULL;
	int no_progress = 0, c;
	optind = 0;
	while ((c = cli_getopt(cmd, argc, argv, "", opts)) != -1) {
		if (c == 'n')
			name = optarg;
		else if (c == 'P')
			no_progress = 1;
		else
			return cli_opt_exit(c);
	}
	if (argc - optind != 1)
		return cli_usage(cmd, argc == optind ? "which FILE?" : "one FILE at a time");
	const char *path = argv[optind];
	char default_name[NAME_MAX_LEN + 1];
	if (!name) {
		snprintf(default_name, sizeof(default_name), "%s", base_name(path));
		name = default_name;
	}
	char quoted[CLI_QUOTE_MAX];
	if (name_validate(name, strlen(name)))
		return cli_failx("invalid name '%s': use 1-255 bytes of UTF-8 without '/', control "
				 "characters, or edge spaces, and not '.' or '..'",
				 cli_quote(name, quoted, sizeof(quoted)));
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return cli_fail(-errno, "cannot open %s", path);
	struct stat st;
	if (fstat(fd, &st) || S_ISDIR(st.st_mode)) {
		close(fd);
		return cli_fail(-EISDIR, "cannot put %s", path);
	}
	struct progress pr;
	progress_start(&pr, "put", S_ISREG(st.st_mode) ? (uint64_t)st.st_size : 0, no_progress);
	struct capability cap;
	int err;
	int dfd;
	int ret = cli_daemon(cli, &dfd);
	if (ret) {
		close(fd);
		return ret;
	}
	if (dfd >= 0) {
		close(fd);
		char abs[PATH_MAX];
		if ((err = absolute(path, abs, sizeof(abs))))
			return cli_fail(err, "cannot put %s", path);
		Shoal__CtlRequest req = SHOAL__CTL_REQUEST__INIT;
		Shoal__CtlPutRequest put = SHOAL__CTL_PUT_REQUEST__INIT;
		put.path = abs;
		put.name = (char *)name;
		req.req_case = SHOAL__CTL_REQUEST__REQ_PUT;
		req.put = &put;
		Shoal__CtlReply *rep;
		if ((ret = call_daemon(dfd, &req, &pr, &rep)))
			return ret;
		err = rep->err;
		if (!err && (rep->reply_case != SHOAL__CTL_REPLY__REPLY_CAPABILITY ||
			     capability_parse(&cap, rep->capability)))
			err = SHOAL_EPROTO;
		shoal__ctl_reply__free_unpacked(rep, NULL);
	} else {
		struct store *s;
		if ((ret = cli_open_store(cli, &s))) {
			close(fd);
			return ret;
		}
		uint64_t size;
		err = files_put(s, fd, name, &pr, &cap, &size);
		progress_finish(&pr);
		close(fd);
		store_close(s);
	}
	if (err == -EINTR)
		return cli_failx("put of %s interrupted; nothing was stored under '%s'", path,
				 cli_quote(name, quoted, sizeof(quoted)));
	if (err)
		return cli_fail(err, "cannot put %s", path);
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
		if ((ret = call_daemon(dfd, &req, &pr, &rep)))
			return ret;
		err = rep->err;
		ret = err ? get_failed(target, out, err,
				       rep->failed_chunk.len ? rep->failed_chunk.data : NULL)
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

static int print_name(const struct index_name *n, void *arg)
{
	json_t *list = arg;
	if (list) {
		json_t *o = json_pack("{s:s, s:I, s:s, s:I}", "name", n->name, "size",
				      (json_int_t)n->size, "capability", n->cap, "created",
				      (json_int_t)n->created);
		if (!o || json_array_append_new(list, o))
			return -ENOMEM;
	} else {
		printf("%s\t%llu\t%s\n", n->name, (unsigned long long)n->size, n->cap);
	}
	return 0;
}

int cmd_ls(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{"json", no_argument, NULL, 'j'},
		{"help", no_argument, NULL, 'h'},
		{0},
	};
	const struct command *cmd = cli_command("ls");
	int json = 0, c;
	optind = 0;
	while ((c = cli_getopt(cmd, argc, argv, "", opts)) != -1) {
		if (c == 'j')
			json = 1;
		else
			return cli_opt_exit(c);
	}
	if (optind != argc)
		return cli_usage(cmd, "unexpected argument '%s'", argv[optind]);
	json_t *list = json ? json_array() : NULL;
	int err = 0, dfd;
	int ret = cli_daemon(cli, &dfd);
	if (ret)
		return ret;
	if (dfd >= 0) {
		Shoal__CtlRequest req = SHOAL__CTL_REQUEST__INIT;
		Shoal__CtlLsRequest ls = SHOAL__CTL_LS_REQUEST__INIT;
		req.req_case = SHOAL__CTL_REQUEST__REQ_LS;
		req.ls = &ls;
		Shoal__CtlReply *rep;
		if ((ret = call_daemon(dfd, &req, NULL, &rep)))
			return ret;
		err = rep->err;
		for (size_t i = 0; !err && rep->reply_case == SHOAL__CTL_REPLY__REPLY_NAMES &&
				   i < rep->names->n_names;
		     i++) {
			const Shoal__CtlName *x = rep->names->names[i];
			struct index_name nm = {.size = x->size, .created = x->created};
			snprintf(nm.name, sizeof(nm.name), "%s", x->name);
			snprintf(nm.cap, sizeof(nm.cap), "%s", x->capability);
			err = print_name(&nm, list);
		}
		shoal__ctl_reply__free_unpacked(rep, NULL);
	} else {
		struct store *s;
		if ((ret = cli_open_store(cli, &s))) {
			json_decref(list);
			return ret;
		}
		err = index_names_foreach(s->index, print_name, list);
		store_close(s);
	}
	if (!err && list) {
		char *text = json_dumps(list, JSON_INDENT(2));
		if (text)
			printf("%s\n", text);
		else
			err = -ENOMEM;
		free(text);
	}
	json_decref(list);
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
		if ((ret = call_daemon(dfd, &req, NULL, &rep)))
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
	const struct command *cmd = cli_command("verify");
	int c;
	optind = 0;
	while ((c = cli_getopt(cmd, argc, argv, "", help_only)) != -1)
		return cli_opt_exit(c);
	if (optind != argc)
		return cli_usage(cmd, "unexpected argument '%s'", argv[optind]);
	struct store_verify_report r = {0};
	int err, dfd;
	int ret = cli_daemon(cli, &dfd);
	if (ret)
		return ret;
	if (dfd >= 0) {
		Shoal__CtlRequest req = SHOAL__CTL_REQUEST__INIT;
		Shoal__CtlVerifyRequest v = SHOAL__CTL_VERIFY_REQUEST__INIT;
		req.req_case = SHOAL__CTL_REQUEST__REQ_VERIFY;
		req.verify = &v;
		Shoal__CtlReply *rep;
		if ((ret = call_daemon(dfd, &req, NULL, &rep)))
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
	printf("verified %llu chunks (%s): %llu corrupt, %llu missing\n",
	       (unsigned long long)r.checked, bytes, (unsigned long long)r.corrupt,
	       (unsigned long long)r.missing);
	return r.corrupt || r.missing ? EXIT_FAIL : EXIT_OK;
}
