/*
 * Commands about the network, run where the network file (the CA key) is:
 * network create, sign and renew. cmd_network dispatches every network
 * subcommand, revoke and revocations (cmd_revoke.c) included.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/x509.h>

#include "cli/cli.h"
#include "crypto/identity.h"
#include "net/addr.h"
#include "node/home.h"
#include "proto/enroll.h"
#include "util/error.h"
#include "util/fsutil.h"

int cmd_network(struct cli *cli, int argc, char **argv)
{
	const struct command *cmd = cli_command("network");
	if (argc < 2)
		return cli_usage(cmd, "expected a subcommand: create, sign, renew, revoke or "
				      "revocations");
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))
		return cli_help(cmd);
	const struct command *sub = cli_subcommand("network", argv[1]);
	if (!sub) {
		char quoted[CLI_QUOTE_MAX];
		return cli_usage(cmd, "unknown subcommand '%s'",
				 cli_quote(argv[1], quoted, sizeof(quoted)));
	}
	return sub->run(cli, argc - 1, argv + 1);
}

int cmd_network_create(struct cli *cli, int argc, char **argv)
{
	static const struct option help_only[] = {{"help", no_argument, NULL, 'h'}, {0}};
	(void)cli;
	const struct command *cmd = cli_subcommand("network", "create");
	int c;
	optind = 0;
	while ((c = cli_getopt(cmd, argc, argv, "", help_only)) != -1)
		return cli_opt_exit(c);
	if (argc - optind != 1)
		return cli_usage(cmd, "expected 'network create FILE'");
	const char *path = argv[optind];
	int err = network_create(path);
	if (err == SHOAL_EEXIST)
		return cli_failx("%s already exists; not overwriting a network file", path);
	if (err)
		return cli_fail(err, "cannot create network file %s", path);
	return EXIT_OK;
}

/* The options sign and renew share, as parsed. */
struct sign_opts {
	const char *network;
	const char *output;
	int days;
};

/* What sign_opts_parse() returns when the command goes on. */
#define GO_ON (-1)

/*
 * Parses --network, -o/--output and --days of cmd into o, leaving optind at the
 * first argument. Returns GO_ON, or the exit status of a usage error or of
 * --help (printed).
 */
static int sign_opts_parse(const struct command *cmd, int argc, char **argv, struct sign_opts *o)
{
	static const struct option opts[] = {
		{"network", required_argument, NULL, 'n'},
		{"output", required_argument, NULL, 'o'},
		{"days", required_argument, NULL, 'd'},
		{"help", no_argument, NULL, 'h'},
		{0},
	};
	int c;
	*o = (struct sign_opts){.days = NODE_LIFETIME_DAYS};
	optind = 0;
	while ((c = cli_getopt(cmd, argc, argv, "o:", opts)) != -1) {
		char *end;
		long days;
		switch (c) {
		case 'n':
			o->network = optarg;
			break;
		case 'o':
			o->output = optarg;
			break;
		case 'd':
			errno = 0;
			days = strtol(optarg, &end, 10);
			if (errno || end == optarg || *end || days < 1 ||
			    days > NODE_LIFETIME_DAYS_MAX)
				return cli_usage(cmd,
						 "--days: a whole number from 1 to %d, not '%s'",
						 NODE_LIFETIME_DAYS_MAX, optarg);
			o->days = (int)days;
			break;
		default:
			return cli_opt_exit(c);
		}
	}
	if (!o->network)
		return cli_usage(cmd, "--network NET is required");
	return GO_ON;
}

/* Loads the network file of o; prints the error itself. */
static int load_network(const struct sign_opts *o, struct network *net)
{
	const char *why = NULL;
	int err = network_load(o->network, net, &why);
	if (err && why)
		return cli_failx("%s: %s", o->network, why);
	if (err)
		return cli_fail(err, "cannot read the network file %s", o->network);
	return 0;
}

static void format_time(int64_t t, char *out, size_t size)
{
	time_t tt = (time_t)t;
	struct tm tm;
	if (!gmtime_r(&tt, &tm) || !strftime(out, size, "%Y-%m-%d %H:%M UTC", &tm))
		snprintf(out, size, "%lld", (long long)t);
}

/* Prints what cert says: node id, nickname, the listen address and time of the
 * request when known (NULL, 0 if not), and when it expires. */
static int print_cert(X509 *cert, const char *listen, int64_t requested)
{
	uint8_t id[NODE_ID_LEN];
	char id_text[NODE_ID_STR_LEN + 1], nick[NICKNAME_MAX + 1], date[64];
	int64_t expires;
	int err = node_id_from_pkey(X509_get0_pubkey(cert), id);
	if (!err)
		err = identity_cert_expiry(cert, &expires);
	if (err)
		return cli_fail(err, "cannot read the new certificate");
	identity_cert_nickname(cert, nick);
	node_id_format(id, id_text);
	printf("node       %s\n", id_text);
	printf("nickname   %s\n", nick[0] ? nick : "(none)");
	if (listen)
		printf("listen     %s\n", listen);
	if (requested) {
		format_time(requested, date, sizeof(date));
		printf("requested  %s\n", date);
	}
	format_time(expires, date, sizeof(date));
	/* Rounded: the certificate was made a moment ago. */
	printf("expires    %s (in %lld days)\n", date,
	       (long long)((expires - (int64_t)time(NULL) + 43200) / 86400));
	return 0;
}

/* Writes the certificate file for a node: its certificate, then the CA's. */
static int write_cert_file(const char *path, X509 *cert, const struct network *net)
{
	int err = identity_bundle_write(path, cert, net->ca_cert);
	if (err == SHOAL_EEXIST)
		return cli_failx("%s already exists; not replacing it", path);
	if (err)
		return cli_fail(err, "cannot write %s", path);
	return 0;
}

int cmd_network_sign(struct cli *cli, int argc, char **argv)
{
	(void)cli;
	const struct command *cmd = cli_subcommand("network", "sign");
	struct sign_opts o;
	struct network net = {0};
	struct enroll_request req;
	struct buf text = BUF_INIT;
	EVP_PKEY *pub = NULL;
	X509 *cert = NULL;
	const char *why = NULL;
	int ret = sign_opts_parse(cmd, argc, argv, &o);
	if (ret != GO_ON)
		return ret;
	if (argc - optind != 1)
		return cli_usage(cmd, "expected one request FILE");
	if (!o.output)
		return cli_usage(cmd, "-o CERT is required");
	const char *path = argv[optind];

	/* Twice the cap, so that the parser itself says a file is too big. */
	int err = read_file(path, &text, 2 * ENROLL_TEXT_MAX);
	if (err) {
		ret = cli_fail(err, "cannot read the request %s", path);
		goto out;
	}
	err = enroll_request_parse(text.data, text.len, &req, &why);
	if (err) {
		ret = why ? cli_failx("%s: %s", path, why) : cli_fail(err, "%s", path);
		goto out;
	}
	if (addr_check(req.listen)) {
		ret = cli_failx("%s: the listen address is not HOST:PORT", path);
		goto out;
	}
	if ((ret = load_network(&o, &net)))
		goto out;
	err = identity_public_from_raw(req.public_key, &pub);
	if (!err)
		err = network_issue(&net, pub, req.nickname, o.days, &cert, &why);
	if (err) {
		ret = why ? cli_failx("%s: %s", o.network, why) : cli_fail(err, "cannot sign");
		goto out;
	}
	if ((ret = write_cert_file(o.output, cert, &net)))
		goto out;
	ret = print_cert(cert, req.listen, req.time);
out:
	X509_free(cert);
	EVP_PKEY_free(pub);
	network_release(&net);
	buf_release(&text);
	return ret;
}

int cmd_network_renew(struct cli *cli, int argc, char **argv)
{
	const struct command *cmd = cli_subcommand("network", "renew");
	struct sign_opts o;
	struct network net = {0};
	X509 *old = NULL, *cert = NULL;
	const char *why = NULL;
	int ret = sign_opts_parse(cmd, argc, argv, &o);
	if (ret != GO_ON)
		return ret;
	if (argc - optind > 1)
		return cli_usage(cmd, "unexpected argument '%s'", argv[optind + 1]);
	const char *in = argc - optind == 1 ? argv[optind] : NULL;
	if (in && !o.output)
		return cli_usage(cmd, "-o CERT_OUT is required with CERT_IN");
	if (!in && o.output)
		return cli_usage(cmd, "-o goes with CERT_IN; without it the home's node is renewed "
				      "in place");
	if (!in && (ret = cli_home(cli)))
		return ret;
	if ((ret = load_network(&o, &net)))
		goto out;

	int err;
	if (in) {
		err = identity_read_cert(in, &old, &why);
		if (!err)
			err = network_renew(&net, old, o.days, &cert, &why);
		if (err) {
			ret = why ? cli_failx("%s: %s", in, why)
				  : cli_fail(err, "cannot renew the certificate in %s", in);
			goto out;
		}
		if ((ret = write_cert_file(o.output, cert, &net)))
			goto out;
		ret = print_cert(cert, NULL, 0);
		goto out;
	}
	err = home_renew(cli->home, &net, o.days, &cert, &why);
	if (err) {
		ret = why ? cli_failx("cannot renew the node in %s: %s", cli->home, why)
			  : cli_fail(err, "cannot renew the node in %s", cli->home);
		goto out;
	}
	ret = print_cert(cert, NULL, 0);
	if (!ret)
		printf("renewed %s/node.crt; restart the daemon, if it runs, so that it presents "
		       "the new certificate\n",
		       cli->home);
out:
	X509_free(cert);
	X509_free(old);
	network_release(&net);
	return ret;
}
