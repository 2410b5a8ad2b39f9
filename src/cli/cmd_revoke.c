/*
 * network revoke and network revocations: placeholders until their
 * implementation replaces this file.
 */
#include "cli/cli.h"

int cmd_network_revoke(struct cli *cli, int argc, char **argv)
{
	(void)cli;
	(void)argc;
	(void)argv;
	return cli_failx("not implemented yet");
}

int cmd_network_revocations(struct cli *cli, int argc, char **argv)
{
	(void)cli;
	(void)argc;
	(void)argv;
	return cli_failx("not implemented yet");
}
