/*
 * Shared pieces of the command-line front end: the command table entry, the
 * context every command gets, and helpers for the error contract (one line on
 * stderr starting "shoal: ", exit status 1; 2 for usage errors).
 */
#ifndef SHOAL_CLI_CLI_H
#define SHOAL_CLI_CLI_H

#include <jansson.h>
#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "proto/capability.h"
#include "proto/shoal.pb-c.h"

enum { EXIT_OK = 0, EXIT_FAIL = 1, EXIT_USAGE = 2 };

struct cli {
	const char *home_flag; /* --home, or NULL */
	char home[PATH_MAX];   /* resolved by cli_home() */
};

struct command {
	const char *name;
	int (*run)(struct cli *cli, int argc, char **argv);
	const char *args;    /* synopsis of the arguments; several forms, one a line */
	const char *summary; /* one line */
	const char *help;    /* the options, one per line, or NULL */
};

/* Resolves the home directory into cli->home. Returns 0 or prints an error and
 * returns EXIT_FAIL. */
int cli_home(struct cli *cli);

/* Prints "shoal: <message>: <shoal_strerror(err)>" and returns EXIT_FAIL. */
int cli_fail(int err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Prints "shoal: <message>" and returns EXIT_FAIL. */
int cli_failx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Prints "shoal: <message> (see 'shoal CMD --help')" and returns EXIT_USAGE. */
int cli_usage(const struct command *cmd, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Prints cmd's help on stdout and returns EXIT_OK: a command with subcommands
 * shows the synopses of each. */
int cli_help(const struct command *cmd);
/* Returns the table entry of a command by name, or NULL. */
const struct command *cli_command(const char *name);
/* Returns the table entry of the subcommand name of the command parent ("sign"
 * of "network": the entry named "network sign"), or NULL. */
const struct command *cli_subcommand(const char *parent, const char *name);

/* Prints "shoal: warning: TEXT" on stderr (text quoted to stay one line);
 * nothing when text is NULL or empty. */
void cli_warn(const char *text);

/* Prints j on stdout as indented JSON and a newline. Returns 0 or -ENOMEM
 * (nothing printed). */
int cli_print_json(const json_t *j);
/* Prints j on stdout as one compact line (a command's --json result). */
int cli_print_json_line(const json_t *j);
/* Prints o (taken; NULL: out of memory) as a command's --json result line.
 * Returns EXIT_OK, or prints the error and returns EXIT_FAIL. */
int cli_print_result(json_t *o);

/* Sends req to the daemon of the home and reads its final reply into *rep
 * (free with shoal__ctl_reply__free_unpacked(*rep, NULL)); prints its
 * warning. Returns 0, or prints the error (no daemon, or the daemon's own
 * text) and returns EXIT_FAIL. */
int cli_ask(struct cli *cli, Shoal__CtlRequest *req, Shoal__CtlReply **rep);

/*
 * Finds the member text names: a whole node id (taken as it is), else a
 * unique nickname or a unique prefix of at least CLI_ID_PREFIX_MIN
 * characters of a member's id, as the daemon's peer list has them. Returns 0
 * with id filled, or prints why not (none, several, no daemon) and returns
 * EXIT_FAIL.
 */
#define CLI_ID_PREFIX_MIN 8
/* Whether text could name a node at all: 1..52 characters of letters,
 * digits, '.', '_' and '-'. */
int cli_node_text_ok(const char *text);
int cli_resolve_node(struct cli *cli, const char *text, uint8_t id[32]);

/* "45s", "9m 30s", "2h 05m", "3d 4h". */
void format_duration(int64_t seconds, char *out, size_t size);

/* Checks a CAP_OR_NAME argument: a capability string is parsed into cap,
 * anything else must be a valid name. Returns 0, or prints the error and
 * returns EXIT_FAIL. */
int cli_check_target(const char *arg, struct capability *cap);

/*
 * getopt_long for a command (call with optind reset to 0 before the first
 * call; options may appear anywhere). --help/-h print the command's help and
 * give 'H'; an unknown option or a missing value prints a usage error and gives
 * 'E'; -1 at the end. Otherwise the option's value, with optarg set.
 */
struct option;
int cli_getopt(const struct command *cmd, int argc, char **argv, const char *shortopts,
	       const struct option *longopts);
/* Common ends of an option loop: 'H' -> EXIT_OK, anything else -> EXIT_USAGE. */
static inline int cli_opt_exit(int c)
{
	return c == 'H' ? EXIT_OK : EXIT_USAGE;
}

/* Copies s into out for an error message: bytes outside printable ASCII
 * (control bytes, DEL, non-ASCII) are written as \xNN, and long text is cut
 * with "...", so one message stays one line. Returns out. */
const char *cli_quote(const char *s, char *out, size_t size);
#define CLI_QUOTE_MAX 96
/* Room for a daemon's text (a reply's error or warning) once quoted. */
#define CLI_TEXT_MAX 600

/* Prints the list of commands. */
void cli_print_overview(FILE *f);

/* Command implementations (cmd_*.c). */
int cmd_network(struct cli *cli, int argc, char **argv);
int cmd_network_create(struct cli *cli, int argc, char **argv);
int cmd_network_sign(struct cli *cli, int argc, char **argv);
int cmd_network_renew(struct cli *cli, int argc, char **argv);
int cmd_network_revoke(struct cli *cli, int argc, char **argv);
int cmd_network_revocations(struct cli *cli, int argc, char **argv);
int cmd_init(struct cli *cli, int argc, char **argv);
int cmd_id(struct cli *cli, int argc, char **argv);
int cmd_put(struct cli *cli, int argc, char **argv);
int cmd_get(struct cli *cli, int argc, char **argv);
int cmd_ls(struct cli *cli, int argc, char **argv);
int cmd_rm(struct cli *cli, int argc, char **argv);
int cmd_versions(struct cli *cli, int argc, char **argv);
int cmd_prune(struct cli *cli, int argc, char **argv);
int cmd_verify(struct cli *cli, int argc, char **argv);
int cmd_daemon(struct cli *cli, int argc, char **argv);
int cmd_status(struct cli *cli, int argc, char **argv);
int cmd_peers(struct cli *cli, int argc, char **argv);
int cmd_send(struct cli *cli, int argc, char **argv);
int cmd_locate(struct cli *cli, int argc, char **argv);
int cmd_explain(struct cli *cli, int argc, char **argv);
/* The arguments of a command on one file: CAP|NAME[@OWNER] and --json (and
 * --help). -1 with *json and *target set (target checked, cli_check_target)
 * to go on, or the exit status to end with (help or usage printed). */
int cli_parse_file_json(const struct command *cmd, int argc, char **argv, int *json,
			const char **target);
/* Progress of a long daemon job as lines on stderr, "WHAT: N of M COUNTED",
 * one a second at most and only when the count moved: a progress report
 * callback (struct progress .report) with a struct cli_count_lines as its
 * argument. */
struct progress;
struct cli_count_lines {
	const char *what, *counted;
	uint64_t done, total; /* last printed */
	double at;	      /* when, monotonic seconds */
};
void cli_count_line(struct progress *p, void *arg);
int cmd_forget(struct cli *cli, int argc, char **argv);
int cmd_drain(struct cli *cli, int argc, char **argv);
int cmd_recovery_key(struct cli *cli, int argc, char **argv);
int cmd_recover(struct cli *cli, int argc, char **argv);
int cmd_folder(struct cli *cli, int argc, char **argv);

#endif
