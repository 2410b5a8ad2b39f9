/*
 * Commands on stored files and trees: put, get, ls, versions, prune, rm and
 * verify. Each
 * parses its arguments, hands the work to the backend chosen for the home
 * (the daemon's, or the store directly when none runs; see backend.h) and
 * prints the result, the same either way.
 */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/backend.h"
#include "crypto/identity.h"
#include "proto/name.h"
#include "store/files.h"
#include "util/encoding.h"
#include "util/error.h"
#include "util/progress.h"

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
		return cli_failx("cannot get %s: %s already exists (--force replaces it)", quoted,
				 out);
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

/* Parses a count from min to 1000000 (--version, --keep-*). */
static int parse_count(const char *s, unsigned min, uint32_t *out)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < (long)min || v > 1000000)
		return -1;
	*out = (uint32_t)v;
	return 0;
}

/* Prints why a put failed; report says where, when the backend knows. */
static int put_failed(const char *path, const char *name, int err, const struct files_put_report *r)
{
	char quoted[CLI_QUOTE_MAX], where[CLI_QUOTE_MAX];
	cli_quote(r->where, where, sizeof(where));
	if (err == -EINTR)
		return cli_failx("put of %s interrupted; nothing was stored under '%s'", path,
				 cli_quote(name, quoted, sizeof(quoted)));
	if (err == -EAGAIN && r->where[0])
		return cli_failx("cannot put %s: '%s' changed while being read (twice); nothing "
				 "was stored",
				 path, where);
	if (err == -EAGAIN)
		return cli_failx("cannot put %s: changed while being read (twice); nothing was "
				 "stored",
				 path);
	if (err == SHOAL_ETOOBIG && r->where[0])
		return cli_failx("cannot put %s: '%s' is nested too deep or its path is too long "
				 "(at most %d levels and %d bytes)",
				 path, where, MANIFEST_DEPTH_MAX, MANIFEST_PATH_MAX);
	if (err == SHOAL_ETOOBIG)
		return cli_fail(err, "cannot put %s: the tree has too many entries", path);
	if (r->where[0])
		return cli_fail(err, "cannot put %s: cannot read '%s'", path, where);
	return cli_fail(err, "cannot put %s", path);
}

int cmd_put(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{"name", required_argument, NULL, 'n'},	    {"publish", no_argument, NULL, 'p'},
		{"replicas", required_argument, NULL, 'r'}, {"full", no_argument, NULL, 'F'},
		{"no-progress", no_argument, NULL, 'P'},    {"json", no_argument, NULL, 'j'},
		{"help", no_argument, NULL, 'h'},	    {0},
	};
	const struct command *cmd = cli_command("put");
	const char *name = NULL;
	int no_progress = 0, publish = 0, json = 0, full = 0, c;
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
		case 'F':
			full = 1;
			break;
		case 'P':
			no_progress = 1;
			break;
		case 'j':
			json = 1;
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
	struct backend_result result = {0};
	struct backend_put put = {
		.path = path,
		.name = name,
		.publish = publish,
		.replicas = replicas,
		.full = full,
		.progress = &pr,
		.result = &result,
	};
	struct files_put_report report = {0};
	struct capability cap;
	struct backend b;
	int ret = backend_open(&b, cli);
	if (ret)
		return ret;
	ret = b.ops->put(&b, &put, &cap, &report);
	backend_close(&b);
	if (ret < 0)
		return put_failed(path, name, ret, &report);
	if (ret)
		return ret;
	char text[CAPABILITY_STR_LEN + 1];
	capability_format(&cap, text);
	if (!json) {
		printf("%s\n", text);
		return EXIT_OK;
	}
	json_t *o = json_pack(
		"{s:s, s:s, s:b, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:f}", "capability", text,
		"name", name, "directory", result.directory, "size", (json_int_t)result.size,
		"files", (json_int_t)result.files, "dirs", (json_int_t)result.dirs, "skipped",
		(json_int_t)result.skipped, "copies", (json_int_t)result.copies, "chunks",
		(json_int_t)result.chunks, "reused", (json_int_t)result.reused, "reused_bytes",
		(json_int_t)result.reused_bytes, "seconds", progress_elapsed(&pr));
	return cli_print_result(o);
}

int cmd_get(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{"output", required_argument, NULL, 'o'}, {"no-progress", no_argument, NULL, 'P'},
		{"force", no_argument, NULL, 'f'},	  {"preserve-mode", no_argument, NULL, 'M'},
		{"json", no_argument, NULL, 'j'},	  {"version", required_argument, NULL, 'V'},
		{"help", no_argument, NULL, 'h'},	  {0},
	};
	const struct command *cmd = cli_command("get");
	const char *out = NULL;
	int no_progress = 0, force = 0, preserve = 0, json = 0, c;
	uint32_t version = 0;
	optind = 0;
	while ((c = cli_getopt(cmd, argc, argv, "o:f", opts)) != -1) {
		if (c == 'o')
			out = optarg;
		else if (c == 'V' && parse_count(optarg, 1, &version))
			return cli_usage(cmd, "--version wants a version number, not '%s'", optarg);
		else if (c == 'V')
			continue;
		else if (c == 'P')
			no_progress = 1;
		else if (c == 'f')
			force = 1;
		else if (c == 'M')
			preserve = 1;
		else if (c == 'j')
			json = 1;
		else
			return cli_opt_exit(c);
	}
	if (argc - optind != 1)
		return cli_usage(cmd, argc == optind ? "which capability or name?"
						     : "one file at a time");
	if (!out || !*out)
		return cli_usage(cmd, "-o OUT is required");
	const char *target = argv[optind];
	if (version && capability_looks_like(target))
		return cli_usage(cmd, "--version picks a version of a NAME, not of a capability");
	struct progress pr;
	progress_start(&pr, "get", 0, no_progress);
	mode_t mask = umask(0);
	umask(mask);
	struct backend_result result = {0};
	struct backend_get get = {
		.target = target,
		.out = out,
		.umask = (uint32_t)mask,
		/* Setuid and setgid come back only when root asks for them. */
		.preserve = !preserve	     ? FILES_PRESERVE_NONE
			    : geteuid() == 0 ? FILES_PRESERVE_SETID
					     : FILES_PRESERVE_MODE,
		.replace = force,
		.version = version,
		.progress = &pr,
		.result = &result,
	};
	struct files_failure failed = {0};
	struct backend b;
	int ret = backend_open(&b, cli);
	if (ret)
		return ret;
	ret = b.ops->get(&b, &get, &failed);
	backend_close(&b);
	if (ret < 0)
		return get_failed(target, out, ret, failed.set ? failed.id : NULL);
	if (ret || !json)
		return ret;
	json_t *o =
		json_pack("{s:s, s:s, s:b, s:I, s:I, s:I, s:I, s:I, s:f}", "target", target, "out",
			  out, "directory", result.directory, "size", (json_int_t)result.size,
			  "files", (json_int_t)result.files, "dirs", (json_int_t)result.dirs,
			  "chunks", (json_int_t)result.chunks, "fetched",
			  (json_int_t)result.fetched, "seconds", progress_elapsed(&pr));
	return cli_print_result(o);
}

/* How ls prints: a JSON array being built, or lines; with owners for the
 * network catalog. */
struct listing {
	json_t *json;
	int network;
};

/* Prints one entry (a backend_name_fn); owner only for the catalog. */
static int print_entry(const struct index_name *n, const uint8_t *owner, const char *owner_nick,
		       void *arg)
{
	const struct listing *l = arg;
	char owner_text[NODE_ID_STR_LEN + 1] = "-";
	if (owner)
		node_id_format(owner, owner_text);
	const char *cap = n->cap[0] ? n->cap : "-";
	if (l->json) {
		json_t *o = json_pack("{s:s, s:I, s:s, s:I}", "name", n->name, "size",
				      (json_int_t)n->size, "capability", n->cap, "created",
				      (json_int_t)n->created);
		if (o && !l->network &&
		    (json_object_set_new(o, "copies", json_integer(n->copies)) ||
		     json_object_set_new(o, "wanted", json_integer(n->wanted)) ||
		     json_object_set_new(o, "full", json_boolean(n->copies >= n->wanted)) ||
		     json_object_set_new(o, "version", json_integer(n->version)) ||
		     json_object_set_new(o, "versions", json_integer(n->versions))))
			o = (json_decref(o), NULL);
		char sender[NODE_ID_STR_LEN + 1];
		if (n->received)
			node_id_format(n->sender, sender);
		if (o && !l->network &&
		    (json_object_set_new(o, "received", json_boolean(n->received)) ||
		     json_object_set_new(o, "sender",
					 n->received ? json_string(sender) : json_null()) ||
		     json_object_set_new(o, "sender_nickname", json_string(n->sender_nickname))))
			o = (json_decref(o), NULL);
		if (o && l->network &&
		    (json_object_set_new(o, "owner",
					 owner ? json_string(owner_text) : json_null()) ||
		     json_object_set_new(o, "owner_nickname", json_string(owner_nick))))
			o = (json_decref(o), NULL);
		if (!o || json_array_append_new(l->json, o))
			return -ENOMEM;
	} else if (l->network) {
		printf("%s\t%llu\t%s\t%s\t%s\n", n->name, (unsigned long long)n->size, cap,
		       owner_text, owner_nick[0] ? owner_nick : "-");
	} else {
		/* Health: full, or degraded with the fewest copies a chunk has. A
		 * file another node sent gets a sixth column, "from SENDER" (its
		 * nickname, else 16 hex digits of its id); the first five stay. */
		char from[NODE_ID_STR_LEN + 8] = "";
		if (n->received) {
			char sid[NODE_ID_STR_LEN + 1];
			node_id_format(n->sender, sid);
			snprintf(from, sizeof(from), "\tfrom %.*s",
				 n->sender_nickname[0] ? (int)sizeof(n->sender_nickname) : 16,
				 n->sender_nickname[0] ? n->sender_nickname : sid);
		}
		printf("%s\t%llu\t%s\t%s %u/%u\t%u%s\n", n->name, (unsigned long long)n->size,
		       n->cap, n->copies >= n->wanted ? "full" : "degraded", n->copies, n->wanted,
		       n->versions, from);
	}
	return 0;
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
	struct backend b;
	int ret = backend_open(&b, cli);
	if (ret)
		return ret;
	struct listing l = {.json = json ? json_array() : NULL, .network = network};
	ret = b.ops->ls(&b, network, print_entry, &l);
	backend_close(&b);
	if (!ret && l.json)
		ret = cli_print_json(l.json);
	json_decref(l.json);
	return ret < 0 ? cli_fail(ret, "cannot list names") : ret;
}

int cmd_rm(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{"version", required_argument, NULL, 'V'},
		{"help", no_argument, NULL, 'h'},
		{0},
	};
	const struct command *cmd = cli_command("rm");
	uint32_t version = 0;
	int c;
	optind = 0;
	while ((c = cli_getopt(cmd, argc, argv, "", opts)) != -1) {
		if (c != 'V')
			return cli_opt_exit(c);
		if (parse_count(optarg, 1, &version))
			return cli_usage(cmd, "--version wants a version number, not '%s'", optarg);
	}
	if (argc - optind != 1)
		return cli_usage(cmd, argc == optind ? "which NAME?" : "one NAME at a time");
	const char *name = argv[optind];
	char quoted[CLI_QUOTE_MAX];
	cli_quote(name, quoted, sizeof(quoted));
	if (name_validate(name, strlen(name)))
		return cli_failx("invalid name '%s'", quoted);
	struct backend b;
	int ret = backend_open(&b, cli);
	if (ret)
		return ret;
	ret = b.ops->rm(&b, name, version);
	backend_close(&b);
	if (ret == SHOAL_ENOTFOUND && version)
		return cli_failx("no version %u of '%s' (see 'shoal versions %s')", version, quoted,
				 quoted);
	if (ret == SHOAL_ENOTFOUND)
		return cli_failx("no file named '%s' (see 'shoal ls')", quoted);
	return ret < 0 ? cli_fail(ret, "cannot remove '%s'", quoted) : ret;
}

/* A version's time as printed: UTC, ISO 8601. */
static void format_created(int64_t t, char *out, size_t size)
{
	time_t tt = (time_t)t;
	struct tm tm;
	if (!gmtime_r(&tt, &tm) || !strftime(out, size, "%Y-%m-%dT%H:%M:%SZ", &tm))
		snprintf(out, size, "%lld", (long long)t);
}

/* How versions and prune print: a JSON array being built, or lines; prune
 * says what it keeps and removes. */
struct version_listing {
	json_t *json;
	int prune, dry_run;
};

static int print_version(const struct backend_version *bv, void *arg)
{
	const struct version_listing *l = arg;
	const struct index_name *v = &bv->v;
	int full = v->copies >= v->wanted;
	char when[32];
	format_created(v->created, when, sizeof(when));
	if (l->json) {
		json_t *o = json_pack(
			"{s:s, s:I, s:I, s:s, s:I, s:s, s:b, s:I, s:I}", "name", v->name, "version",
			(json_int_t)v->version, "created", (json_int_t)v->created, "time", when,
			"size", (json_int_t)v->size, "capability", v->cap, "full", full, "copies",
			(json_int_t)v->copies, "wanted", (json_int_t)v->wanted);
		if (o && l->prune && json_object_set_new(o, "kept", json_boolean(bv->kept)))
			o = (json_decref(o), NULL);
		if (!o || json_array_append_new(l->json, o))
			return -ENOMEM;
	} else if (l->prune) {
		printf("%s\t%s\t%u\t%s\n",
		       bv->kept	    ? "keep"
		       : l->dry_run ? "would remove"
				    : "remove",
		       v->name, v->version, when);
	} else {
		printf("%u\t%s\t%llu\t%s\t%s %u/%u\n", v->version, when,
		       (unsigned long long)v->size, v->cap, full ? "full" : "degraded", v->copies,
		       v->wanted);
	}
	return 0;
}

int cmd_versions(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{"json", no_argument, NULL, 'j'},
		{"help", no_argument, NULL, 'h'},
		{0},
	};
	const struct command *cmd = cli_command("versions");
	int json = 0, c;
	optind = 0;
	while ((c = cli_getopt(cmd, argc, argv, "", opts)) != -1) {
		if (c != 'j')
			return cli_opt_exit(c);
		json = 1;
	}
	if (argc - optind != 1)
		return cli_usage(cmd, argc == optind ? "which NAME?" : "one NAME at a time");
	const char *name = argv[optind];
	char quoted[CLI_QUOTE_MAX];
	cli_quote(name, quoted, sizeof(quoted));
	if (name_validate(name, strlen(name)))
		return cli_failx("invalid name '%s'", quoted);
	struct backend b;
	int ret = backend_open(&b, cli);
	if (ret)
		return ret;
	struct version_listing l = {.json = json ? json_array() : NULL};
	ret = b.ops->versions(&b, name, print_version, &l);
	backend_close(&b);
	if (!ret && l.json)
		ret = cli_print_json(l.json);
	json_decref(l.json);
	if (ret == SHOAL_ENOTFOUND)
		return cli_failx("no file named '%s' (see 'shoal ls')", quoted);
	return ret < 0 ? cli_fail(ret, "cannot list the versions of '%s'", quoted) : ret;
}

int cmd_prune(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{"keep-last", required_argument, NULL, 'l'},
		{"keep-daily", required_argument, NULL, 'd'},
		{"keep-weekly", required_argument, NULL, 'w'},
		{"keep-monthly", required_argument, NULL, 'm'},
		{"dry-run", no_argument, NULL, 'n'},
		{"json", no_argument, NULL, 'j'},
		{"help", no_argument, NULL, 'h'},
		{0},
	};
	const struct command *cmd = cli_command("prune");
	struct retention keep = {0};
	int dry_run = 0, json = 0, c;
	optind = 0;
	while ((c = cli_getopt(cmd, argc, argv, "", opts)) != -1) {
		unsigned *rule = c == 'l'   ? &keep.last
				 : c == 'd' ? &keep.daily
				 : c == 'w' ? &keep.weekly
				 : c == 'm' ? &keep.monthly
					    : NULL;
		if (rule && parse_count(optarg, 0, rule))
			return cli_usage(cmd,
					 "--keep-%s wants a number from 0 to 1000000, not '%s'",
					 c == 'l'   ? "last"
					 : c == 'd' ? "daily"
					 : c == 'w' ? "weekly"
						    : "monthly",
					 optarg);
		else if (c == 'n')
			dry_run = 1;
		else if (c == 'j')
			json = 1;
		else if (!rule)
			return cli_opt_exit(c);
	}
	if (argc - optind > 1)
		return cli_usage(cmd, "one NAME at a time (none: every name)");
	if (!retention_set(&keep))
		return cli_usage(cmd, "which versions to keep? give --keep-last, --keep-daily, "
				      "--keep-weekly or --keep-monthly");
	const char *name = optind < argc ? argv[optind] : NULL;
	char quoted[CLI_QUOTE_MAX] = "";
	if (name)
		cli_quote(name, quoted, sizeof(quoted));
	if (name && name_validate(name, strlen(name)))
		return cli_failx("invalid name '%s'", quoted);
	struct backend b;
	int ret = backend_open(&b, cli);
	if (ret)
		return ret;
	struct version_listing l = {
		.json = json ? json_array() : NULL, .prune = 1, .dry_run = dry_run};
	uint64_t removed = 0;
	ret = b.ops->prune(&b, name, &keep, dry_run, print_version, &l, &removed);
	backend_close(&b);
	if (!ret && l.json)
		ret = cli_print_json(l.json);
	else if (!ret)
		printf("%s %llu version%s\n", dry_run ? "would remove" : "removed",
		       (unsigned long long)removed, removed == 1 ? "" : "s");
	json_decref(l.json);
	if (ret == SHOAL_ENOTFOUND)
		return cli_failx("no file named '%s' (see 'shoal ls')", quoted);
	return ret < 0 ? cli_fail(ret, "cannot prune") : ret;
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
		{"no-progress", no_argument, NULL, 'P'},
		{"json", no_argument, NULL, 'j'},
		{"help", no_argument, NULL, 'h'},
		{0},
	};
	const struct command *cmd = cli_command("verify");
	int c, repair = 0, json = 0, no_progress = 0;
	optind = 0;
	while ((c = cli_getopt(cmd, argc, argv, "", opts)) != -1) {
		if (c == 'r')
			repair = 1;
		else if (c == 'j')
			json = 1;
		else if (c == 'P')
			no_progress = 1;
		else
			return cli_opt_exit(c);
	}
	if (optind != argc)
		return cli_usage(cmd, "unexpected argument '%s'", argv[optind]);
	struct backend_verify v = {0};
	struct backend b;
	int ret = backend_open(&b, cli);
	if (ret)
		return ret;
	struct progress pr;
	progress_start(&pr, "verify", 0, no_progress);
	ret = b.ops->verify(&b, repair, report_bad, NULL, &pr, &v);
	backend_close(&b);
	if (ret < 0)
		return cli_fail(ret, "verify stopped");
	if (ret)
		return ret;
	const struct store_verify_report *r = &v.store;
	int ok = repair ? r->corrupt + r->missing <= v.repaired : !r->corrupt && !r->missing;
	if (json) {
		json_t *o =
			json_pack("{s:b, s:I, s:I, s:I, s:I, s:I, s:I, s:f}", "ok", ok, "checked",
				  (json_int_t)r->checked, "bytes", (json_int_t)r->bytes, "corrupt",
				  (json_int_t)r->corrupt, "missing", (json_int_t)r->missing,
				  "repaired", (json_int_t)v.repaired, "unrecoverable",
				  (json_int_t)v.unrecoverable, "seconds", progress_elapsed(&pr));
		int err = cli_print_result(o);
		return err ? err : ok ? EXIT_OK : EXIT_FAIL;
	}
	char bytes[32];
	format_bytes(r->bytes, bytes, sizeof(bytes));
	if (repair) {
		printf("verified %llu chunks (%s): %llu corrupt, %llu missing; %llu repaired, %llu "
		       "unrecoverable\n",
		       (unsigned long long)r->checked, bytes, (unsigned long long)r->corrupt,
		       (unsigned long long)r->missing, (unsigned long long)v.repaired,
		       (unsigned long long)v.unrecoverable);
		return r->corrupt + r->missing > v.repaired ? EXIT_FAIL : EXIT_OK;
	}
	printf("verified %llu chunks (%s): %llu corrupt, %llu missing\n",
	       (unsigned long long)r->checked, bytes, (unsigned long long)r->corrupt,
	       (unsigned long long)r->missing);
	return r->corrupt || r->missing ? EXIT_FAIL : EXIT_OK;
}
