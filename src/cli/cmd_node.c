/*
 * Commands about the node itself: network create, init and id.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "crypto/identity.h"
#include "net/addr.h"
#include "node/config.h"
#include "node/home.h"
#include "util/error.h"

static const struct option help_only[] = {{"help", no_argument, NULL, 'h'}, {0}};

int cmd_network(struct cli *cli, int argc, char **argv)
{
	if (argc >= 2 && !strcmp(argv[1], "revoke"))
		return cmd_network_revoke(cli, argc - 1, argv + 1);
	if (argc >= 2 && !strcmp(argv[1], "revocations"))
		return cmd_network_revocations(cli, argc - 1, argv + 1);
	const struct command *cmd = cli_command("network");
	int c;
	optind = 0;
	while ((c = cli_getopt(cmd, argc, argv, "", help_only)) != -1)
		return cli_opt_exit(c);
	if (argc - optind != 2 || strcmp(argv[optind], "create"))
		return cli_usage(cmd, "expected 'network create FILE'");
	const char *path = argv[optind + 1];
	int err = network_create(path);
	if (err == SHOAL_EEXIST)
		return cli_failx("%s already exists; not overwriting a network file", path);
	if (err)
		return cli_fail(err, "cannot create network file %s", path);
	return EXIT_OK;
}

int cmd_init(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{"network", required_argument, NULL, 'n'},
		{"listen", required_argument, NULL, 'l'},
		{"bootstrap", required_argument, NULL, 'b'},
		{"help", no_argument, NULL, 'h'},
		{0},
	};
	const struct command *cmd = cli_command("init");
	const char *network = NULL;
	struct config cfg;
	config_defaults(&cfg);
	int c;
	optind = 0;
	while ((c = cli_getopt(cmd, argc, argv, "", opts)) != -1) {
		switch (c) {
		case 'n':
			network = optarg;
			break;
		case 'l':
			if (addr_check(optarg))
				return cli_usage(cmd, "--listen: not HOST:PORT: '%s'", optarg);
			snprintf(cfg.listen, sizeof(cfg.listen), "%s", optarg);
			break;
		case 'b':
			if (addr_check_list(optarg))
				return cli_usage(cmd, "--bootstrap: not a list of HOST:PORT: '%s'",
						 optarg);
			snprintf(cfg.bootstrap, sizeof(cfg.bootstrap), "%s", optarg);
			break;
		default:
			return cli_opt_exit(c);
		}
	}
	if (optind != argc)
		return cli_usage(cmd, "unexpected argument '%s'", argv[optind]);
	if (!network)
		return cli_usage(cmd, "--network FILE is required");
	int err = cli_home(cli);
	if (err)
		return err;
	uint8_t id[NODE_ID_LEN];
	err = home_init(cli->home, network, &cfg, id);
	if (err == SHOAL_EEXIST)
		return cli_failx("%s already holds a node", cli->home);
	if (err == SHOAL_EEXPOSED)
		return cli_failx("%s is open to other users and not empty; run 'chmod 700 %s' "
				 "first, or init into an empty directory",
				 cli->home, cli->home);
	if (err)
		return cli_fail(err, "cannot create a node in %s", cli->home);
	char text[NODE_ID_STR_LEN + 1];
	node_id_format(id, text);
	printf("%s\n", text);
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
	char text[NODE_ID_STR_LEN + 1];
	node_id_format(id, text);
	printf("%s\n", text);
	return EXIT_OK;
}
