/*
 * shoal: the command-line entry point. Takes --home from anywhere on the
 * command line, then dispatches to the command named by the first argument.
 */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "util/interrupt.h"
#include "util/log.h"

/* Removes "--home DIR" / "--home=DIR" from argv, storing DIR. Returns the new
 * argc, or -1 when --home lacks its value. */
static int take_home(int argc, char **argv, const char **home)
{
	int out = 0;
	for (int i = 0; i < argc; i++) {
		if (!strcmp(argv[i], "--")) {
			while (i < argc)
				argv[out++] = argv[i++];
			break;
		}
		if (!strcmp(argv[i], "--home")) {
			if (i + 1 >= argc)
				return -1;
			*home = argv[++i];
		} else if (!strncmp(argv[i], "--home=", 7)) {
			*home = argv[i] + 7;
		} else {
			argv[out++] = argv[i];
		}
	}
	argv[out] = NULL;
	return out;
}

int main(int argc, char **argv)
{
	struct cli cli = {0};
	log_init(LOG_LEVEL_WARN, 0);
	argc = take_home(argc, argv, &cli.home_flag);
	if (argc < 0) {
		fprintf(stderr, "shoal: --home needs a directory\n");
		return EXIT_USAGE;
	}
	if (argc < 2) {
		cli_print_overview(stderr);
		return EXIT_USAGE;
	}
	const char *name = argv[1];
	if (!strcmp(name, "--help") || !strcmp(name, "-h") || !strcmp(name, "help")) {
		if (argc > 2 && cli_command(argv[2]))
			return cli_help(cli_command(argv[2]));
		cli_print_overview(stdout);
		return EXIT_OK;
	}
	const struct command *cmd = cli_command(name);
	if (!cmd) {
		fprintf(stderr, "shoal: unknown command '%s' (see 'shoal --help')\n", name);
		return EXIT_USAGE;
	}
	interrupt_install();
	return cmd->run(&cli, argc - 1, argv + 1);
}
