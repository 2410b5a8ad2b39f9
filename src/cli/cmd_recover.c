/*
 * shoal recovery-key and shoal recover: the secret that brings a node's
 * names back, and taking them over on a new node (src/node/recovery.h).
 */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/ctlclient.h"
#include "crypto/identity.h"
#include "crypto/recovery.h"
#include "node/recovery.h"
#include "util/error.h"
#include "util/progress.h"

static const char KEY_ADVICE[] =
	"Keep this key offline (printed, or in a password manager), away from this machine.\n"
	"With it, a new node of this network finds and decrypts every name of this node\n"
	"(shoal recover KEY); anyone holding it can read those files. To enroll the\n"
	"replacement node you also need the network's CA file (or its administrator).\n";

int cmd_recovery_key(struct cli *cli, int argc, char **argv)
{
	const struct command *cmd = cli_command("recovery-key");
	static const struct option opts[] = {
		{"help", no_argument, NULL, 'h'}, {"json", no_argument, NULL, 'j'}, {0}};
	int c, json = 0;
	optind = 0;
	while ((c = cli_getopt(cmd, argc, argv, "", opts)) != -1) {
		if (c == 'j')
			json = 1;
		else
			return cli_opt_exit(c);
	}
	if (optind != argc)
		return cli_usage(cmd, "unexpected argument '%s'", argv[optind]);
	int ret = cli_home(cli);
	if (ret)
		return ret;
	char key[RECOVERY_KEY_STR_LEN + 1] = "";
	int pending = 0, daemon = 0;
	uint64_t seq = 0, entries = 0;
	/* The key is in the home, made now if it is not (never over one the
	 * daemon made meanwhile); the daemon says what it placed. */
	uint8_t id[NODE_ID_LEN], secret[RECOVERY_SECRET_LEN];
	int err = identity_load_id(cli->home, id);
	if (err)
		return cli_fail(err, "%s is not a shoal node home", cli->home);
	err = recovery_key_load(cli->home, 1, secret);
	if (err)
		return cli_fail(err, "cannot read or make %s/%s", cli->home, RECOVERY_KEY_FILE);
	recovery_key_format(secret, key);
	OPENSSL_cleanse(secret, sizeof(secret));
	int fd = ctlclient_connect(cli->home);
	if (fd >= 0) {
		Shoal__CtlRequest req = SHOAL__CTL_REQUEST__INIT;
		Shoal__CtlRecoveryKeyRequest kr = SHOAL__CTL_RECOVERY_KEY_REQUEST__INIT;
		req.req_case = SHOAL__CTL_REQUEST__REQ_RECOVERY_KEY;
		req.recovery_key = &kr;
		Shoal__CtlReply *rep;
		err = ctlclient_call(fd, &req, NULL, &rep);
		close(fd);
		if (err)
			return cli_fail(err, "cannot reach the daemon of %s", cli->home);
		if (rep->err || rep->reply_case != SHOAL__CTL_REPLY__REPLY_RECOVERY_KEY) {
			ret = cli_failx("%s", rep->text && rep->text[0] ? rep->text
									: "recovery-key refused");
			shoal__ctl_reply__free_unpacked(rep, NULL);
			return ret;
		}
		snprintf(key, sizeof(key), "%s", rep->recovery_key->key);
		pending = rep->recovery_key->pending;
		seq = rep->recovery_key->seq;
		entries = rep->recovery_key->entries;
		daemon = 1;
		shoal__ctl_reply__free_unpacked(rep, NULL);
	} else {
		/* No daemon: it places the table once it runs. */
		pending = 1;
	}
	if (json) {
		json_t *o = json_pack("{s:s, s:b, s:b, s:I, s:I}", "key", key, "daemon", daemon,
				      "pending", pending, "seq", (json_int_t)seq, "versions",
				      (json_int_t)entries);
		OPENSSL_cleanse(key, sizeof(key));
		return cli_print_result(o);
	}
	printf("%s\n", key);
	OPENSSL_cleanse(key, sizeof(key));
	fputs(KEY_ADVICE, stderr);
	if (!daemon)
		fprintf(stderr, "No daemon runs on %s: the names go on the network once it does.\n",
			cli->home);
	else if (pending || !seq)
		fprintf(stderr, "The latest changes to the names are not on the network yet "
				"(within seconds while the daemon runs).\n");
	return EXIT_OK;
}

/* KEY, or "-": the first line of stdin (so the key stays off the command
 * line). */
static int read_key(const char *arg, char *out, size_t size)
{
	if (strcmp(arg, "-")) {
		snprintf(out, size, "%s", arg);
		return 0;
	}
	if (!fgets(out, (int)size, stdin))
		return -EIO;
	out[strcspn(out, "\r\n")] = 0;
	return 0;
}

int cmd_recover(struct cli *cli, int argc, char **argv)
{
	const struct command *cmd = cli_command("recover");
	static const struct option opts[] = {{"help", no_argument, NULL, 'h'},
					     {"json", no_argument, NULL, 'j'},
					     {"no-progress", no_argument, NULL, 'P'},
					     {0}};
	int c, json = 0, quiet = 0;
	optind = 0;
	while ((c = cli_getopt(cmd, argc, argv, "", opts)) != -1) {
		if (c == 'j')
			json = 1;
		else if (c == 'P')
			quiet = 1;
		else
			return cli_opt_exit(c);
	}
	if (argc - optind != 1)
		return cli_usage(cmd, "expected one KEY (or - to read it from stdin)");
	char key[256];
	uint8_t secret[RECOVERY_SECRET_LEN];
	if (read_key(argv[optind], key, sizeof(key)))
		return cli_failx("no recovery key on stdin");
	if (recovery_key_parse(key, secret))
		return cli_failx("not a recovery key (it is %s... as 'shoal recovery-key' prints "
				 "it)",
				 RECOVERY_PREFIX);
	OPENSSL_cleanse(secret, sizeof(secret));
	int ret = cli_home(cli);
	if (ret)
		return ret;
	int fd = ctlclient_connect(cli->home);
	if (fd == -ENOENT || fd == -ECONNREFUSED)
		return cli_failx("no daemon is running on %s (start it with --bootstrap: recover "
				 "asks the members)",
				 cli->home);
	if (fd < 0)
		return cli_fail(fd, "cannot reach the daemon of %s", cli->home);
	Shoal__CtlRequest req = SHOAL__CTL_REQUEST__INIT;
	Shoal__CtlRecoverRequest rr = SHOAL__CTL_RECOVER_REQUEST__INIT;
	rr.key = key;
	req.req_case = SHOAL__CTL_REQUEST__REQ_RECOVER;
	req.recover = &rr;
	struct cli_count_lines r = {.what = "recover", .counted = "versions taken over"};
	struct progress pr;
	progress_start(&pr, "recover", 0, 1);
	if (!quiet && !json) {
		pr.report = cli_count_line;
		pr.report_arg = &r;
	}
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	Shoal__CtlReply *rep;
	int err = ctlclient_call(fd, &req, &pr, &rep);
	close(fd);
	OPENSSL_cleanse(key, sizeof(key));
	if (err)
		return cli_fail(err, "the daemon of %s stopped during the recovery", cli->home);
	if (rep->err || rep->reply_case != SHOAL__CTL_REPLY__REPLY_RECOVERED) {
		ret = cli_failx("%s", rep->text && rep->text[0] ? rep->text : "recover failed");
		shoal__ctl_reply__free_unpacked(rep, NULL);
		return ret;
	}
	progress_finish(&pr);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	double secs = (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;
	const Shoal__CtlRecovered *d = rep->recovered;
	char owner[NODE_ID_STR_LEN + 1] = "";
	if (d->owner.len == NODE_ID_LEN)
		node_id_format(d->owner.data, owner);
	if (json) {
		json_t *o = json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:s, s:f}", "names",
				      (json_int_t)d->names, "versions", (json_int_t)d->versions,
				      "skipped", (json_int_t)d->skipped, "chunks",
				      (json_int_t)d->chunks, "fetched", (json_int_t)d->fetched,
				      "seq", (json_int_t)d->seq, "owner", owner, "seconds", secs);
		shoal__ctl_reply__free_unpacked(rep, NULL);
		return cli_print_result(o);
	}
	printf("recovered %llu names (%llu versions, %llu chunks) of node %s in %.1f s\n",
	       (unsigned long long)d->names, (unsigned long long)d->versions,
	       (unsigned long long)d->chunks, owner, secs);
	if (d->skipped)
		fprintf(stderr,
			"%llu names were left alone: this node has names of those names already "
			"(its own versions kept; the recovered ones are not merged in)\n",
			(unsigned long long)d->skipped);
	fprintf(stderr, "This node now uses the same recovery key: it keeps working for the "
			"names of both nodes.\n");
	shoal__ctl_reply__free_unpacked(rep, NULL);
	return EXIT_OK;
}
