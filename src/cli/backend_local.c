/*
 * The local backend, for when no daemon runs on the home: every operation
 * opens the home's store (waiting a while for another shoal process holding
 * it), works on it directly and closes it. What needs other nodes is refused
 * before the store is opened. See backend.h for the contract.
 */
#include "cli/backend.h"

#include <errno.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "node/config.h"
#include "util/error.h"

/* How long an offline command waits for another one holding the store. */
#define STORE_WAIT_SECONDS 30

/* Opens the home's store, printing a clear error on failure. */
static int open_store(struct cli *cli, struct store **out)
{
	int err = cli_home(cli);
	if (err)
		return err;
	for (int waited = 0;; waited++) {
		err = store_open(out, cli->home, STORE_NOWAIT | STORE_EXCLUSIVE);
		if (err != -EWOULDBLOCK || waited == STORE_WAIT_SECONDS * 10)
			break;
		if (waited == 10)
			fprintf(stderr, "shoal: waiting for another shoal process using %s\n",
				cli->home);
		usleep(100 * 1000);
	}
	if (err == -EWOULDBLOCK)
		return cli_failx("%s is in use by another shoal process", cli->home);
	if (err == SHOAL_EIDENTITY || err == -ENOENT)
		return cli_failx("%s is not a shoal node home (run 'shoal init' first)", cli->home);
	if (err)
		return cli_fail(err, "cannot open the store in %s", cli->home);
	return 0;
}

/* Turns a CLI argument into a capability: a capability string is parsed,
 * anything else is looked up as a name in s (its version, unless 0: its
 * newest). Prints the error itself. */
static int resolve(struct store *s, const char *arg, uint32_t version, struct capability *cap)
{
	int ret = cli_check_target(arg, cap);
	if (ret || capability_looks_like(arg))
		return ret;
	char quoted[CLI_QUOTE_MAX];
	cli_quote(arg, quoted, sizeof(quoted));
	struct index_name n;
	int err = version ? index_version_get(s->index, arg, version, &n)
			  : index_name_get(s->index, arg, &n);
	if (err == SHOAL_ENOTFOUND && version)
		return cli_failx("no version %u of '%s' here (see 'shoal versions')", version,
				 quoted);
	if (err == SHOAL_ENOTFOUND)
		return cli_failx("no file named '%s' (see 'shoal ls')", quoted);
	if (!err)
		err = capability_parse(cap, n.cap);
	return err ? cli_fail(err, "cannot look up '%s'", quoted) : 0;
}

/* Prints that what (a command) needs a running daemon; returns EXIT_FAIL. */
static int needs_daemon(const struct backend *b, const char *what)
{
	return cli_failx("%s needs a running daemon; none runs on %s (start one with "
			 "'shoal daemon')",
			 what, b->cli->home);
}

static int local_put(struct backend *b, const struct backend_put *put, struct capability *cap,
		     struct files_put_report *report)
{
	if (put->publish)
		return cli_failx(
			"--publish needs a running daemon (start one with 'shoal daemon')");
	struct store *s;
	int ret = open_store(b->cli, &s);
	if (ret)
		return ret;
	uint64_t size;
	struct index_name before;
	int existed = index_name_get(s->index, put->name, &before) == 0;
	report->full = put->full;
	int err = files_put_path_report(s, put->path, put->name, put->progress, NULL, report, cap,
					&size);
	progress_finish(put->progress);
	/* The file wants its copies all the same: the daemon makes them once
	 * it runs with members up (index_short_refs: it is short until then). */
	unsigned wanted = put->replicas ? put->replicas : INDEX_DEFAULT_REPLICAS;
	if (!err)
		err = index_copies_want_refs(s->index, cap->id, wanted);
	if (!err)
		err = index_short_refs(s->index, cap->id, 1);
	/* The node's retention, as its daemon would run it after the put. */
	struct config cfg;
	char note[512] = "";
	if (!err && !config_load(b->cli->home, &cfg)) {
		struct retention keep = {cfg.prune_keep_last, cfg.prune_keep_daily,
					 cfg.prune_keep_weekly, cfg.prune_keep_monthly};
		if (versions_after_put(s, put->name, existed ? &before : NULL, cap, &keep, note,
				       sizeof(note)))
			cli_warn("the versions to prune were left as they were");
	}
	store_close(s);
	if (err)
		return err;
	struct stat st;
	if (put->result)
		*put->result = (struct backend_result){.size = size,
						       .directory = !stat(put->path, &st) &&
								    S_ISDIR(st.st_mode),
						       .files = report->files,
						       .dirs = report->dirs,
						       .skipped = report->skipped,
						       .reused = report->reused,
						       .reused_bytes = report->reused_bytes,
						       .copies = 1};
	char warning[512];
	files_put_report_warning(report, warning, sizeof(warning));
	cli_warn(warning);
	cli_warn(note);
	if (put->replicas > 1)
		cli_warn("no daemon running; stored on this node only until one runs with "
			 "members up");
	return 0;
}

static int local_get(struct backend *b, const struct backend_get *get, struct files_failure *failed)
{
	struct store *s;
	int ret = open_store(b->cli, &s);
	if (ret)
		return ret;
	struct capability cap;
	ret = resolve(s, get->target, get->version, &cap);
	if (!ret) {
		struct files_restore how = {
			.mode_keep = files_mode_keep(get->umask, get->preserve),
			.replace = get->replace,
		};
		ret = files_get(s, &cap, get->out, &how, get->progress, failed);
		progress_finish(get->progress);
		struct files_summary sum;
		if (!ret && get->result && !files_summarize(s, &cap, &sum))
			*get->result = (struct backend_result){.directory = sum.directory,
							       .size = sum.size,
							       .files = sum.files,
							       .dirs = sum.dirs};
	}
	store_close(s);
	return ret;
}

/* Hands an index entry to the command's callback (a local name has no
 * owner). */
struct names {
	backend_name_fn fn;
	void *arg;
};

static int each_name(const struct index_name *n, void *arg)
{
	const struct names *names = arg;
	return names->fn(n, NULL, "", names->arg);
}

static int local_ls(struct backend *b, int network, backend_name_fn fn, void *arg)
{
	if (network)
		return needs_daemon(b, "ls --network");
	struct store *s;
	int ret = open_store(b->cli, &s);
	if (ret)
		return ret;
	struct names names = {.fn = fn, .arg = arg};
	ret = index_names_foreach(s->index, each_name, &names);
	store_close(s);
	return ret;
}

static int local_rm(struct backend *b, const char *name, uint32_t version)
{
	struct store *s;
	int ret = open_store(b->cli, &s);
	if (ret)
		return ret;
	ret = store_remove_version(s, name, version);
	store_close(s);
	return ret;
}

/* Hands a version to the command's callback with its copies. */
struct each_version {
	struct index *ix;
	backend_version_fn fn;
	void *arg;
};

static int version_kept(const struct index_name *v, int kept, void *arg)
{
	const struct each_version *e = arg;
	struct backend_version bv = {.v = *v, .kept = kept};
	return e->fn(&bv, e->arg);
}

static int version_listed(const struct index_name *v, void *arg)
{
	return version_kept(v, 1, arg);
}

static int local_versions(struct backend *b, const char *name, backend_version_fn fn, void *arg)
{
	struct store *s;
	int ret = open_store(b->cli, &s);
	if (ret)
		return ret;
	struct index_name newest;
	struct each_version e = {.ix = s->index, .fn = fn, .arg = arg};
	ret = index_name_get(s->index, name, &newest);
	if (!ret)
		ret = index_versions_foreach(s->index, name, version_listed, &e);
	store_close(s);
	return ret;
}

static int local_prune(struct backend *b, const char *name, const struct retention *keep,
		       int dry_run, backend_version_fn fn, void *arg, uint64_t *removed)
{
	struct store *s;
	int ret = open_store(b->cli, &s);
	if (ret)
		return ret;
	struct each_version e = {.ix = s->index, .fn = fn, .arg = arg};
	ret = versions_prune(s, name, keep, dry_run, version_kept, &e, removed);
	store_close(s);
	return ret;
}

static int local_verify(struct backend *b, int repair, store_bad_fn bad, void *arg,
			struct progress *pr, struct backend_verify *report)
{
	if (repair)
		return cli_failx("--repair needs a running daemon (the copies are on other nodes)");
	struct store *s;
	int ret = open_store(b->cli, &s);
	if (ret)
		return ret;
	ret = store_verify_progress(s, bad, arg, pr, &report->store);
	if (pr)
		progress_finish(pr);
	store_close(s);
	return ret;
}

static int local_send(struct backend *b, const char *target, const uint8_t to[NODE_ID_LEN],
		      const char *to_text, struct progress *pr, struct backend_result *result)
{
	(void)target, (void)to, (void)to_text, (void)pr, (void)result;
	return needs_daemon(b, "send");
}

static int local_locate(struct backend *b, const char *target, backend_holders_fn fn, void *arg)
{
	(void)target, (void)fn, (void)arg;
	return needs_daemon(b, "locate");
}

const struct backend_ops backend_local_ops = {
	.put = local_put,
	.get = local_get,
	.ls = local_ls,
	.rm = local_rm,
	.versions = local_versions,
	.prune = local_prune,
	.verify = local_verify,
	.send = local_send,
	.locate = local_locate,
};
