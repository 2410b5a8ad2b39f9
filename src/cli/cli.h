/*
 * Shared pieces of the command-line front end: the command table entry, the
 * context every command gets, and helpers for the error contract (one line on
 * stderr starting "shoal: ", exit status 1; 2 for usage errors).
 */
#ifndef SHOAL_CLI_CLI_H
#define SHOAL_CLI_CLI_H

#include <limits.h>
#include <stdio.h>

#include "proto/capability.h"
#include "proto/shoal.pb-c.h"
#include "store/store.h"
#include "util/progress.h"

enum { EXIT_OK = 0, EXIT_FAIL = 1, EXIT_USAGE = 2 };

struct cli {
	const char *home_flag; /* --home, or NULL */
	char home[PATH_MAX];   /* resolved by cli_home() */
};

struct command {
	const char *name;
	int (*run)(struct cli *cli, int argc, char **argv);
	const char *args;    /* one-line synopsis of the arguments */
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
/* Prints cmd's help on stdout and returns EXIT_OK. */
int cli_help(const struct command *cmd);
/* Returns the table entry of a command by name, or NULL. */
const struct command *cli_command(const char *name);

/* Finds out whether a daemon runs on the home: 0 with *fd connected to its
 * control socket, 0 with *fd = -1 when none runs (offline mode), or prints an
 * error and returns EXIT_FAIL. */
int cli_daemon(struct cli *cli, int *fd);

/* For commands that only a daemon can carry out: 0 with *fd connected, or
 * prints "shoal: WHAT needs a running daemon ..." (or why it cannot be
 * reached) and returns EXIT_FAIL. */
int cli_daemon_required(struct cli *cli, const char *what, int *fd);

/* Sends req to the daemon on fd (closing it) and waits for its reply, feeding
 * progress to pr (may be NULL; finished here). Returns 0 with *rep set (free
 * with shoal__ctl_reply__free_unpacked(*rep, NULL)), or prints the error line
 * itself and returns EXIT_FAIL. */
int cli_call(int fd, Shoal__CtlRequest *req, struct progress *pr, Shoal__CtlReply **rep);

/* Prints "shoal: warning: TEXT" on stderr (text quoted to stay one line);
 * nothing when text is NULL or empty. */
void cli_warn(const char *text);

/* For a reply with rep->err set: prints "shoal: <the daemon's text, else
 * fallback>: <message of rep->err>" and returns EXIT_FAIL. */
int cli_reply_failed(const Shoal__CtlReply *rep, const char *fallback);

/* Opens the home's store, printing a clear error on failure. */
int cli_open_store(struct cli *cli, struct store **out);

/* Turns a CLI argument into a capability: a capability string is parsed, anything
 * else is looked up as a name in s. Prints the error itself. */
int cli_resolve(struct store *s, const char *arg, struct capability *cap);

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

/* Prints the list of commands. */
void cli_print_overview(FILE *f);

/* Command implementations (cmd_*.c). */
int cmd_network(struct cli *cli, int argc, char **argv);
int cmd_init(struct cli *cli, int argc, char **argv);
int cmd_id(struct cli *cli, int argc, char **argv);
int cmd_put(struct cli *cli, int argc, char **argv);
int cmd_get(struct cli *cli, int argc, char **argv);
int cmd_ls(struct cli *cli, int argc, char **argv);
int cmd_rm(struct cli *cli, int argc, char **argv);
int cmd_verify(struct cli *cli, int argc, char **argv);
int cmd_daemon(struct cli *cli, int argc, char **argv);
int cmd_status(struct cli *cli, int argc, char **argv);
int cmd_peers(struct cli *cli, int argc, char **argv);
int cmd_send(struct cli *cli, int argc, char **argv);
int cmd_locate(struct cli *cli, int argc, char **argv);

#endif
