/*
 * Commands about the node itself: init (from a network file, or by request
 * and certificate) and id.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "crypto/identity.h"
#include "net/addr.h"
#include "node/config.h"
#include "node/home.h"
#include "util/error.h"

static const struct option help_only[] = {{"help", no_argument, NULL, 'h'}, {0}};

/* Prints the node id, alone on its line. */
static void print_id(const uint8_t id[NODE_ID_LEN])
{
	char text[NODE_ID_STR_LEN + 1];
	node_id_format(id, text);
	printf("%s\n", text);
}

/* The error of home_init() or home_request(), in one line. */
static int init_failed(const struct cli *cli, int err, const char *what, const char *why)
{
	if (err == SHOAL_EEXPOSED)
		return cli_failx("%s is open to other users and not empty; run 'chmod 700 %s' "
				 "first, or init into an empty directory",
				 cli->home, cli->home);
	if (why)
		return cli_failx("%s: %s", what, why);
	return cli_fail(err, "%s", what);
}

/* init --cert: completes the requested node, or installs a renewal. */
static int init_cert(struct cli *cli, const char *cert)
{
	uint8_t id[NODE_ID_LEN];
	const char *why = NULL;
	char what[PATH_MAX * 2 + 64];
	int renewed = 0;
	int err = home_enroll(cli->home, cert, id, &renewed, &why);
	snprintf(what, sizeof(what), "cannot complete the node in %s with %s", cli->home, cert);
	if (err)
		return why ? cli_failx("%s: %s", what, why) : cli_fail(err, "%s", what);
	print_id(id);
	if (renewed)
		cli_warn("installed a renewed certificate; restart the daemon, if it runs, so "
			 "that it presents it");
	return EXIT_OK;
}

int cmd_init(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{"network", required_argument, NULL, 'n'},
		{"request", required_argument, NULL, 'r'},
		{"cert", required_argument, NULL, 'c'},
		{"name", required_argument, NULL, 'N'},
		{"listen", required_argument, NULL, 'l'},
		{"bootstrap", required_argument, NULL, 'b'},
		{"help", no_argument, NULL, 'h'},
		{0},
	};
	const struct command *cmd = cli_command("init");
	const char *network = NULL, *request = NULL, *cert = NULL, *nickname = NULL;
	int addresses = 0;
	struct config cfg;
	config_defaults(&cfg);
	int c;
	optind = 0;
	while ((c = cli_getopt(cmd, argc, argv, "", opts)) != -1) {
		switch (c) {
		case 'n':
			network = optarg;
			break;
		case 'r':
			request = optarg;
			break;
		case 'c':
			cert = optarg;
			break;
		case 'N':
			if (nickname_check(optarg)) {
				char quoted[CLI_QUOTE_MAX];
				return cli_usage(
					cmd,
					"--name: '%s' is not a nickname (1 to 32 of a-z, "
					"0-9, '.', '_', '-', starting with a letter or digit)",
					cli_quote(optarg, quoted, sizeof(quoted)));
			}
			nickname = optarg;
			break;
		case 'l':
			if (addr_check(optarg))
				return cli_usage(cmd, "--listen: not HOST:PORT: '%s'", optarg);
			snprintf(cfg.listen, sizeof(cfg.listen), "%s", optarg);
			addresses = 1;
			break;
		case 'b':
			if (addr_check_list(optarg))
				return cli_usage(cmd, "--bootstrap: not a list of HOST:PORT: '%s'",
						 optarg);
			snprintf(cfg.bootstrap, sizeof(cfg.bootstrap), "%s", optarg);
			addresses = 1;
			break;
		default:
			return cli_opt_exit(c);
		}
	}
	if (optind != argc)
		return cli_usage(cmd, "unexpected argument '%s'", argv[optind]);
	if (!!network + !!request + !!cert != 1)
		return cli_usage(cmd, "one of --network NET, --request FILE or --cert CERT is "
				      "required, and only one");
	if (cert && (nickname || addresses))
		return cli_usage(cmd,
				 "--cert takes no --name, --listen or --bootstrap: the nickname "
				 "is in the certificate, the addresses were saved by --request");
	int err = cli_home(cli);
	if (err)
		return err;
	if (cert)
		return init_cert(cli, cert);

	uint8_t id[NODE_ID_LEN];
	const char *why = NULL;
	char what[PATH_MAX * 2 + 64];
	if (request) {
		err = home_request(cli->home, nickname, &cfg, request, id, &why);
		snprintf(what, sizeof(what), "cannot write the request %s for a node in %s",
			 request, cli->home);
	} else {
		err = home_init(cli->home, network, nickname, &cfg, id, &why);
		if (err == SHOAL_EEXIST)
			snprintf(what, sizeof(what), "cannot create a node in %s", cli->home);
		else
			snprintf(what, sizeof(what), "cannot create a node in %s with %s",
				 cli->home, network);
	}
	if (err)
		return init_failed(cli, err, what, why);
	print_id(id);
	return EXIT_OK;
}

int cmd_id(struct cli *cli, int argc, char **argv)
{
	const struct command *cmd = cli_command("id");
	int c;
	optind = 0;
	while ((c = cli_getopt(cmd, argc, argv, "", help_only)) != -1)
		return cli_opt_exit(c);
	if (optind != argc)
		return cli_usage(cmd, "unexpected argument '%s'", argv[optind]);
	int err = cli_home(cli);
	if (err)
		return err;
	uint8_t id[NODE_ID_LEN];
	err = identity_load_id(cli->home, id);
	if (err == -ENOENT)
		return cli_failx("%s is not a shoal node home (run 'shoal init' first)", cli->home);
	if (err)
		return cli_fail(err, "cannot read the identity in %s", cli->home);
	print_id(id);
	return EXIT_OK;
}
