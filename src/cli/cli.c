/*
 * The command table, help texts and error helpers of the CLI; see cli.h.
 */
#include "cli/cli.h"

#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "node/home.h"
#include "proto/name.h"
#include "util/error.h"

#define NETWORK_OPTION "  --network NET         the network file (it holds the CA key)\n"
#define DAYS_OPTION                                                                        \
	"  --days N              the certificate's lifetime in days, 1 to 36500 (default " \
	"365)\n"

static const struct command commands[] = {
	{"network", cmd_network, "SUBCOMMAND [ARGS]",
	 "create a network (its CA); sign, renew and revoke node certificates", NULL},
	{"init", cmd_init,
	 "--network NET [--name NICK] [--listen HOST:PORT] [--bootstrap HOST:PORT,...]\n"
	 "--request FILE [--name NICK] [--listen HOST:PORT] [--bootstrap HOST:PORT,...]\n"
	 "--cert CERT",
	 "create a node in the home, signed here or by request and certificate; prints its id",
	 "  --network NET         the network file made by 'shoal network create': sign here\n"
	 "  --request FILE        write into FILE a request for the network file's holder to\n"
	 "                        sign ('shoal network sign'); the node key stays in the home\n"
	 "  --cert CERT           complete the requested node with the certificate file signed\n"
	 "                        for it, or install a renewal of this node's certificate\n"
	 "  --name NICK           the node's nickname, in its certificate: 1 to 32 of a-z, 0-9,\n"
	 "                        '.', '_', '-', starting with a letter or digit\n"
	 "  --listen HOST:PORT    address the daemon listens on (default " CONFIG_DEFAULT_LISTEN
	 ")\n"
	 "  --bootstrap LIST      comma-separated HOST:PORT of members to join through\n"},
	{"id", cmd_id, "", "print this node's id", NULL},
	{"daemon", cmd_daemon, "[--listen HOST:PORT] [--bootstrap HOST:PORT,...] [--set KEY=VALUE]",
	 "run the node in the foreground until SIGTERM or SIGINT; logs on stderr",
	 "  --listen HOST:PORT    listen here (default: the config's)\n"
	 "  --bootstrap LIST      join through these members (default: the config's)\n"
	 "  --set KEY=VALUE       override a config setting (peer_timeout, ping_interval,\n"
	 "                        handshake_timeout, gossip_interval, backoff_max,\n"
	 "                        grace_period, repair_interval, repair_rate, scrub_rate,\n"
	 "                        max_connections, max_pending, max_pending_per_host,\n"
	 "                        max_members, catalog_per_member, replicas_max,\n"
	 "                        repair_gone_days; storage_limit and\n"
	 "                        storage_per_member in bytes, K/M/G/T, 0: no limit)\n"
	 "  --log-level LEVEL     error, warn, info (default) or debug\n"},
	{"status", cmd_status, "[--json]",
	 "ask the daemon how the node is: id, address, peers, what it stores (exit 0 when it "
	 "answers)",
	 "  --json                print a JSON object\n"},
	{"peers", cmd_peers, "[--json]",
	 "list known members: node id, address, up or down, round-trip time",
	 "  --json                print a JSON array\n"},
	{"put", cmd_put, "FILE_OR_DIR [--name NAME] [--publish] [--replicas R] [--full]",
	 "store a file or a directory tree of any size (links, hard links, FIFOs and empty "
	 "folders kept; sockets and devices skipped); prints its capability (name: the base "
	 "name; a name put again gets a new version unless the content is its newest's). A "
	 "tree put again under its name is incremental: files whose size, mtime, ctime and "
	 "inode are those of the newest version are not read, its chunks are reused",
	 "  --name NAME           the name to store it under\n"
	 "  --publish             add it to the network catalog (needs a running daemon)\n"
	 "  --replicas R          distinct nodes to hold every chunk, 1 to 16 (default: the\n"
	 "                        daemon's, 3); without a daemon only this node stores it\n"
	 "  --full                read every file, even those unchanged since the newest\n"
	 "                        version\n"
	 "  --no-progress         never draw a progress bar\n"
	 "  --json                print one JSON line instead of the capability: capability,\n"
	 "                        name, directory, size, files, dirs, skipped, copies,\n"
	 "                        chunks (0 without a daemon), reused (unchanged files taken\n"
	 "                        from the newest version's chunks), reused_bytes (bytes\n"
	 "                        not read), seconds\n"},
	{"get", cmd_get,
	 "CAP|NAME[@OWNER] -o OUT [--version N] [--force] [--preserve-mode] [--json]",
	 "fetch a file or tree, verify it, write OUT atomically",
	 "  -o, --output OUT      where to write the file or directory (required); an\n"
	 "                        existing OUT is refused and left untouched\n"
	 "  --version N           version N of NAME (see 'shoal versions'), not the newest\n"
	 "  -f, --force           replace an existing OUT (a file or a directory tree),\n"
	 "                        atomically: the new one is complete before it takes its place\n"
	 "  --preserve-mode       the stored permission bits instead of the umask's (setuid\n"
	 "                        and setgid only when run as root)\n"
	 "  --no-progress         never draw a progress bar\n"
	 "  --json                print one JSON line: target, out, directory, size, files,\n"
	 "                        dirs, chunks and fetched (from other nodes; 0 without a\n"
	 "                        daemon), seconds\n"},
	{"ls", cmd_ls, "[--network] [--json]",
	 "list stored names, each as its newest version: name, size, capability, health (full "
	 "N/N, or degraded n/N: the fewest copies a chunk has of those wanted), number of "
	 "versions; a file another node sent (shoal send) gets a sixth column, 'from SENDER' "
	 "(its nickname, else the first 16 characters of its id) (--network: what members "
	 "published)",
	 "  --network             list what members published (needs a running daemon)\n"
	 "  --json                print a JSON array; this node's names also have received\n"
	 "                        (true for a file another node sent), sender (its node id,\n"
	 "                        or null) and sender_nickname (\"\" if none)\n"},
	{"send", cmd_send, "CAP|NAME[@OWNER] --to NODE [--json]",
	 "give another node its own copy of a file or tree: it fetches it and files it among "
	 "its names as received from this node (a capability as received-ID, 16 hex digits of "
	 "its manifest id), until its own rm: nothing done here removes it. A name it has for "
	 "a file of its own or from another node is left alone: it files this one as 'NAME "
	 "(from SENDER)' (then '... 2', ...), and send warns so; sent again, it becomes a new "
	 "version there. Says 'sent TARGET to NODE (N chunks, M fetched)' on stderr (needs a "
	 "running daemon)",
	 "  --to NODE             the node that is to keep a copy (required): its id, 8 or\n"
	 "                        more of its first characters, or its nickname\n"
	 "  --no-progress         never draw a progress bar\n"
	 "  --json                print one JSON line instead: target, to (node id),\n"
	 "                        directory, size, files, dirs, chunks, fetched (by that\n"
	 "                        node), seconds\n"},
	{"locate", cmd_locate, "CAP|NAME[@OWNER] [--json]",
	 "list a file's chunks and the nodes holding each (needs a running daemon)",
	 "  --json                print a JSON array\n"},
	{"explain", cmd_explain, "CAP|NAME[@OWNER] [--json]",
	 "say whether a file is safe: where each chunk is, how many copies it has of those "
	 "wanted, and what is being done or waited for (needs a running daemon)",
	 "  --json                print a JSON object (safe, why, and every chunk)\n"},
	{"drain", cmd_drain, "",
	 "leave the network for good: hand every chunk to other members, then stop (needs a "
	 "running daemon; safe to interrupt and run again)",
	 NULL},
	{"forget", cmd_forget, "NODE",
	 "forget a member that is down for good; the other members forget it too (needs a "
	 "running daemon)",
	 "  NODE                  its id, 8 or more of its first characters, or its nickname\n"},
	{"recovery-key", cmd_recovery_key, "[--json]",
	 "print the secret that brings this node's names back on a new node (keep it offline; "
	 "made once per home, in home/recovery.key)",
	 "  --json                print one JSON line: key, daemon, pending (changes not yet\n"
	 "                        on the network), seq (record placed last, 0: none),\n"
	 "                        versions (in the table placed)\n"},
	{"recover", cmd_recover, "KEY [--json] [--no-progress]",
	 "take over the names of a lost node on this one: fetch its record from the members, "
	 "check it, fetch and decrypt its name table and every version's chunks (needs a "
	 "running daemon with members up); names this node has already are left alone",
	 "  KEY                   shoal-recovery:... as 'shoal recovery-key' printed it, or -\n"
	 "                        to read it from stdin\n"
	 "  --no-progress         no progress lines on stderr\n"
	 "  --json                print one JSON line: names, versions, skipped, chunks,\n"
	 "                        fetched, seq, owner (the old node), seconds\n"},
	{"folder", cmd_folder, "SUBCOMMAND [ARGS]",
	 "collaborative folders: a directory several members edit, kept in sync (needs a "
	 "running daemon)",
	 NULL},
	{"versions", cmd_versions, "NAME [--json]",
	 "list a name's versions, newest first: number, time (UTC), size, capability, and "
	 "whether its chunks have their copies (full N/N, or degraded n/N: the fewest copies a "
	 "chunk has of those wanted)",
	 "  --json                print a JSON array\n"},
	{"prune", cmd_prune,
	 "[NAME] [--keep-last N] [--keep-daily N] [--keep-weekly N] [--keep-monthly N] "
	 "[--dry-run]",
	 "remove the versions of NAME (of every name) that no rule keeps, as restic's forget; "
	 "the newest version always stays",
	 "  --keep-last N         keep the newest N versions\n"
	 "  --keep-daily N        keep the newest version of each of the last N days that\n"
	 "                        have versions (local time)\n"
	 "  --keep-weekly N       ... of each of the last N weeks (ISO weeks)\n"
	 "  --keep-monthly N      ... of each of the last N months\n"
	 "                        a version any rule keeps is kept; the chunks only removed\n"
	 "                        versions needed are released here and on their holders\n"
	 "  --dry-run             only list what would be kept and removed\n"
	 "  --json                print a JSON array (each version with \"kept\")\n"},
	{"rm", cmd_rm, "NAME [--version N]",
	 "forget a name with all its versions (or one version) and release chunks nothing "
	 "else uses",
	 "  --version N           remove only version N of NAME\n"},
	{"verify", cmd_verify, "[--repair] [--json]",
	 "re-hash every stored chunk; non-zero exit while any is bad or missing",
	 "  --repair              replace bad and missing chunks by verified copies from other\n"
	 "                        nodes (needs a running daemon)\n"
	 "  --no-progress         never draw a progress bar\n"
	 "  --json                print one JSON line instead of the summary: ok, checked,\n"
	 "                        bytes, corrupt, missing, repaired, unrecoverable, seconds\n"},
};

/* Subcommands, named "COMMAND SUBCOMMAND": cmd_network dispatches to these. */
static const struct command subcommands[] = {
	{"network create", cmd_network_create, "FILE",
	 "create a new network: its CA key and certificate in FILE (a new file, mode 0600)", NULL},
	{"network sign", cmd_network_sign, "--network NET FILE -o CERT [--days N]",
	 "check a node's request FILE and sign it: CERT, for 'shoal init --cert CERT'",
	 NETWORK_OPTION
	 "  -o, --output CERT     the certificate file to write (a new file)\n" DAYS_OPTION},
	{"network renew", cmd_network_renew,
	 "--network NET [--days N]\n--network NET CERT_IN -o CERT_OUT [--days N]",
	 "renew a node certificate, same key and nickname: this home's, or CERT_IN's",
	 "  CERT_IN               a node certificate (say another machine's node.crt); without\n"
	 "                        it, this home's node certificate is renewed in place:\n"
	 "                        restart the daemon so that it presents the new "
	 "one\n" NETWORK_OPTION
	 "  -o, --output CERT_OUT the certificate file to write (a new file)\n" DAYS_OPTION},
	{"network revoke", cmd_network_revoke, "--network NET NODE [--reason TEXT]",
	 "revoke a member: no node accepts it any more (needs a running daemon to spread it)",
	 NETWORK_OPTION "  --reason TEXT         why, kept with the revocation\n"},
	{"network revocations", cmd_network_revocations, "[--json]",
	 "list the revoked members this node knows of: node id, date, reason",
	 "  --json                print a JSON array\n"},
	{"folder create", cmd_folder, "DIR [--name LABEL] [--replicas R] [--json]",
	 "make DIR (made if missing) a collaborative folder and print its invite, "
	 "shoal-folder:...; whoever holds the invite reads and writes the folder",
	 "  --name LABEL          a label shown by 'folder list' (64 characters at most)\n"
	 "  --replicas R          copies kept on other nodes besides the members' (0 to 16,\n"
	 "                        default 0): a member back while no other is up catches\n"
	 "                        up from them; the invite carries R to every member\n"
	 "  --json                print the answer as one JSON line\n"},
	{"folder join", cmd_folder, "INVITE DIR [--json]",
	 "become a member of the folder INVITE names, synced into DIR (made if missing; files "
	 "already in it are added to the folder)",
	 "  INVITE                shoal-folder:... as 'folder create' printed it, or - to read\n"
	 "                        it from stdin\n"
	 "  --json                print the answer as one JSON line\n"},
	{"folder list", cmd_folder, "[--json]", "list this node's folders: id, state, root, label",
	 "  --json                print the answer as one JSON line\n"},
	{"folder status", cmd_folder, "[DIR] [--json]",
	 "for each folder (or DIR's): its state, every member's completion, and every item not in "
	 "sync with the reason: waiting (and for what), held delete, conflict copy",
	 "  --json                print the answer as one JSON line\n"},
	{"folder leave", cmd_folder, "DIR",
	 "stop being a member of the folder at DIR; its files stay where they are", NULL},
	{"folder pause", cmd_folder, "DIR", "stop syncing the folder at DIR until resumed", NULL},
	{"folder resume", cmd_folder, "DIR",
	 "sync the folder at DIR again (a stopped folder resumes only when its root holds its "
	 "marker again)",
	 NULL},
	{"folder accept-deletes", cmd_folder, "DIR",
	 "apply, once, the deletes the breaker held in the folder at DIR (more than 100 files "
	 "and a quarter of the folder in one go)",
	 NULL},
	{"folder rescan", cmd_folder, "DIR", "scan the folder at DIR now", NULL},
	{"folder conflicts", cmd_folder, "[DIR] [--json]",
	 "list the conflict copies in every folder (or DIR's) and the file each is a version of",
	 "  --json                print the answer as one JSON line\n"},
	{"folder resolve", cmd_folder, "PATH --keep mine|theirs|both",
	 "settle the conflict copies of the file PATH (or of the file a copy PATH is of); the "
	 "result goes to every member",
	 "  --keep mine           keep the file as it is, remove the copies\n"
	 "  --keep theirs         the newest copy replaces the file, the others are removed\n"
	 "  --keep both           keep both: each copy is renamed NAME.kept-....EXT\n"},
	{"folder restore", cmd_folder, "PATH [--version N]",
	 "bring back a file deleted or overwritten in a folder: its last content, or version N "
	 "(1 the newest) of those 'folder log' lists; contents are kept 30 days after they "
	 "were replaced, here or by the members that applied the change",
	 "  --version N           the Nth content written, newest first\n"},
	{"folder log", cmd_folder, "PATH [--json]",
	 "who changed the file PATH, when and how, from every member's signed history",
	 "  --json                print the answer as one JSON line\n"},
};

const struct command *cli_command(const char *name)
{
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		if (!strcmp(commands[i].name, name))
			return &commands[i];
	}
	return NULL;
}

/* Whether sub is a subcommand of the command named parent. */
static int is_subcommand_of(const struct command *sub, const char *parent)
{
	size_t n = strlen(parent);
	return !strncmp(sub->name, parent, n) && sub->name[n] == ' ';
}

const struct command *cli_subcommand(const char *parent, const char *name)
{
	size_t n = strlen(parent);
	for (size_t i = 0; i < sizeof(subcommands) / sizeof(subcommands[0]); i++) {
		if (is_subcommand_of(&subcommands[i], parent) &&
		    !strcmp(subcommands[i].name + n + 1, name))
			return &subcommands[i];
	}
	return NULL;
}

void cli_print_overview(FILE *f)
{
	fprintf(f, "usage: shoal [--home DIR] COMMAND [ARGS]\n\n"
		   "Shoal stores files encrypted, content-addressed and replicated across the\n"
		   "nodes of a network. The node home is --home DIR, else $SHOAL_HOME, else\n"
		   "~/.shoal.\n\ncommands:\n");
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(f, "  %-8s %s\n", commands[i].name, commands[i].summary);
	fprintf(f, "\n'shoal COMMAND --help' describes a command.\n");
}

/* Prints one line per synopsis of cmd ("shoal NAME ARGS"), the first after
 * *lead, the others indented under it. */
static void print_synopses(const struct command *cmd, const char **lead)
{
	const char *args = cmd->args;
	for (;;) {
		const char *nl = strchr(args, '\n');
		int n = nl ? (int)(nl - args) : (int)strlen(args);
		printf("%s%s%s%.*s\n", *lead, cmd->name, n ? " " : "", n, args);
		*lead = "       shoal ";
		if (!nl)
			break;
		args = nl + 1;
	}
}

int cli_help(const struct command *cmd)
{
	const char *lead = "usage: shoal ";
	int nsub = 0;
	for (size_t i = 0; i < sizeof(subcommands) / sizeof(subcommands[0]); i++) {
		if (is_subcommand_of(&subcommands[i], cmd->name)) {
			print_synopses(&subcommands[i], &lead);
			nsub++;
		}
	}
	if (!nsub)
		print_synopses(cmd, &lead);
	printf("\n%s\n", cmd->summary);
	if (nsub)
		printf("\n'shoal %s SUBCOMMAND --help' describes a subcommand.\n", cmd->name);
	printf("\noptions:\n%s  --home DIR            the node home\n  -h, --help            "
	       "this help\n",
	       cmd->help ? cmd->help : "");
	return EXIT_OK;
}

static void vprint(const char *fmt, va_list ap, const char *suffix)
{
	char line[1024];
	int n = vsnprintf(line, sizeof(line), fmt, ap);
	if (n < 0)
		line[0] = 0;
	fprintf(stderr, "shoal: %s%s\n", line, suffix);
}

int cli_fail(int err, const char *fmt, ...)
{
	char suffix[300];
	snprintf(suffix, sizeof(suffix), ": %s", shoal_strerror(err));
	va_list ap;
	va_start(ap, fmt);
	vprint(fmt, ap, suffix);
	va_end(ap);
	return EXIT_FAIL;
}

int cli_failx(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vprint(fmt, ap, "");
	va_end(ap);
	return EXIT_FAIL;
}

int cli_usage(const struct command *cmd, const char *fmt, ...)
{
	char suffix[128];
	snprintf(suffix, sizeof(suffix), " (see 'shoal %s --help')", cmd->name);
	va_list ap;
	va_start(ap, fmt);
	vprint(fmt, ap, suffix);
	va_end(ap);
	return EXIT_USAGE;
}

int cli_home(struct cli *cli)
{
	int err = home_resolve(cli->home_flag, cli->home, sizeof(cli->home));
	if (err)
		return cli_fail(err, "cannot find the node home (use --home or SHOAL_HOME)");
	return 0;
}

void cli_warn(const char *text)
{
	if (!text || !*text)
		return;
	char quoted[CLI_TEXT_MAX];
	fprintf(stderr, "shoal: warning: %s\n", cli_quote(text, quoted, sizeof(quoted)));
}

int cli_print_json(const json_t *j)
{
	char *text = json_dumps(j, JSON_INDENT(2));
	if (!text)
		return -ENOMEM;
	printf("%s\n", text);
	free(text);
	return 0;
}

int cli_print_json_line(const json_t *j)
{
	char *text = json_dumps(j, JSON_COMPACT | JSON_REAL_PRECISION(9));
	if (!text)
		return -ENOMEM;
	printf("%s\n", text);
	free(text);
	return 0;
}

int cli_print_result(json_t *o)
{
	int err = o ? cli_print_json_line(o) : -ENOMEM;
	json_decref(o);
	return err ? cli_fail(err, "cannot print the result") : EXIT_OK;
}

int cli_check_target(const char *arg, struct capability *cap)
{
	if (capability_looks_like(arg)) {
		int err = capability_parse(cap, arg);
		return err ? cli_fail(err, "not a valid capability") : 0;
	}
	if (name_validate(arg, strlen(arg))) {
		char quoted[CLI_QUOTE_MAX];
		return cli_failx("'%s' is neither a capability nor a valid name",
				 cli_quote(arg, quoted, sizeof(quoted)));
	}
	return 0;
}

int cli_getopt(const struct command *cmd, int argc, char **argv, const char *shortopts,
	       const struct option *longopts)
{
	/* ':' first: report a missing value as ':' rather than '?'; "h" is
	 * always accepted. */
	char spec[64];
	snprintf(spec, sizeof(spec), ":h%s", shortopts);
	opterr = 0;
	int c = getopt_long(argc, argv, spec, longopts, NULL);
	switch (c) {
	case 'h':
		cli_help(cmd);
		return 'H';
	case ':':
		if (optopt)
			cli_usage(cmd, "option '-%c' needs a value", optopt);
		else
			cli_usage(cmd, "option '%s' needs a value", argv[optind - 1]);
		return 'E';
	case '?':
		/* Inside a group of short options (-xy) optind has not moved on
		 * yet; optopt names the culprit. */
		if (optopt)
			cli_usage(cmd, "unknown option '-%c'", optopt);
		else
			cli_usage(cmd, "unknown option '%s'", argv[optind - 1]);
		return 'E';
	default:
		return c;
	}
}

const char *cli_quote(const char *s, char *out, size_t size)
{
	static const char hex[] = "0123456789abcdef";
	size_t o = 0;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (o + 8 >= size) {
			memcpy(out + o, "...", 3);
			o += 3;
			break;
		}
		if (*p >= 0x20 && *p < 0x7f) {
			out[o++] = (char)*p;
		} else {
			out[o++] = '\\';
			out[o++] = 'x';
			out[o++] = hex[*p >> 4];
			out[o++] = hex[*p & 15];
		}
	}
	out[o] = 0;
	return out;
}
