/*
 * Where the CLI's file commands do their work, chosen once per command:
 * through the daemon of the home when one runs (its control socket, see
 * ctlclient.h), on the home's store directly when none does (offline mode).
 * A command parses its options, opens a backend, calls one operation through
 * its table and prints the result; it never asks which backend it got. What
 * only a daemon can do (publishing, repair, the network catalog, other
 * nodes) the offline backend refuses, with the error line printed for it.
 *
 * Every operation keeps one contract for what is printed by whom:
 *  - 0: done. The results are in the out-parameters or were handed to the
 *    callback; the operation printed nothing on stdout (the command prints).
 *  - EXIT_FAIL: failed, and the operation has printed the one error line on
 *    stderr. These are the failures particular to a backend: the daemon
 *    cannot be reached, did not answer or explains the failure in its own
 *    words; the store cannot be opened; a CAP_OR_NAME is not valid or names
 *    nothing; an option needs a daemon and none runs.
 *  - a negative code (-errno or SHOAL_E*): the operation itself failed and
 *    nothing was printed; the command words the error, the same whichever
 *    backend ran it. Operations say what they fill in to help it.
 * A callback's non-zero return (a negative code) stops the operation, which
 * returns it. Warnings (entries a put skipped, copies an offline put could
 * not make) are printed by the operation, on stderr.
 */
#ifndef SHOAL_CLI_BACKEND_H
#define SHOAL_CLI_BACKEND_H

#include <stdint.h>

#include "cli/cli.h"
#include "crypto/identity.h"
#include "store/files.h"
#include "store/index.h"
#include "store/store.h"
#include "store/versions.h"
#include "util/progress.h"

struct backend_ops;

/* A command's backend, for one operation. The fields belong to the
 * implementations. */
struct backend {
	const struct backend_ops *ops;
	struct cli *cli; /* borrowed; cli->home is resolved */
	int fd;		 /* the daemon's control connection, or -1 */
};

/* What a put, get or send moved, for --json (filled on success). */
struct backend_result {
	int directory;	       /* a tree rather than one file */
	uint64_t size;	       /* bytes of the file, or of the tree's files */
	uint64_t files;	       /* regular files (1 for a plain file) */
	uint64_t dirs;	       /* directories, the root not counted */
	uint64_t skipped;      /* put: entries of a tree left out */
	uint32_t copies;       /* put: nodes holding every chunk, this one counted */
	uint64_t chunks;       /* daemon: put: chunks stored; get/send: chunks the file has */
	uint64_t fetched;      /* daemon: get/send: chunks fetched from other nodes */
	uint64_t reused;       /* put: unchanged files taken from the previous version */
	uint64_t reused_bytes; /* put: bytes taken from its chunks without reading */
};

/* What to put. */
struct backend_put {
	const char *path;	       /* the file or directory, as the user wrote it */
	const char *name;	       /* the (valid) name to store it under */
	int publish;		       /* also add it to the network catalog (daemon only) */
	uint32_t replicas;	       /* nodes to hold every chunk, 0 for the default */
	int full;		       /* read every file, even those unchanged (--full) */
	struct progress *progress;     /* fed and finished by the put */
	struct backend_result *result; /* filled on success; may be NULL */
};

/* What get writes. */
struct backend_get {
	const char *target;	       /* a capability or a name (NAME@OWNER too) */
	const char *out;	       /* the output path, as the user wrote it */
	uint32_t umask;		       /* the CLI's umask, applied to stored modes */
	enum files_preserve preserve;  /* --preserve-mode, and whether root asked */
	int replace;		       /* --force: an existing file is replaced */
	uint32_t version;	       /* a name's version (0: the newest) */
	struct progress *progress;     /* fed and finished by the get */
	struct backend_result *result; /* filled on success; may be NULL */
};

/* What verify found. */
struct backend_verify {
	struct store_verify_report store; /* chunks checked, corrupt and missing */
	uint64_t repaired;		  /* with repair: chunks replaced */
	uint64_t unrecoverable;		  /* with repair: chunks no node had intact */
};

/* One stored name; owner is the NODE_ID_LEN-byte id of the member that
 * published it (catalog entries) or NULL, owner_nick its nickname ("" if
 * none). */
typedef int (*backend_name_fn)(const struct index_name *n, const uint8_t *owner,
			       const char *owner_nick, void *arg);

/* One version of a name (versions, prune): copies as the index knows
 * them (see index_manifest_copies()); kept: a prune keeps it. */
struct backend_version {
	struct index_name v;
	int kept;
};
typedef int (*backend_version_fn)(const struct backend_version *v, void *arg);

/* One chunk of a located file: its id, stored size and the n nodes holding
 * it (NODE_ID_LEN bytes each, members up and this node), with their
 * nicknames ("" if none); the copies wanted in all, and the ndown members
 * down (not yet lost) this node placed a copy on. */
struct backend_chunk {
	const uint8_t *id;
	uint64_t size;
	const uint8_t *const *holders;
	const char *const *nicks;
	size_t n;
	unsigned wanted;
	const uint8_t *const *down;
	size_t ndown;
};
typedef int (*backend_holders_fn)(const struct backend_chunk *c, void *arg);

struct backend_ops {
	/* Stores put->path under put->name and fills *cap. A negative code
	 * leaves in *report (zeroed by the caller) which entry of a tree was at
	 * fault, when the backend knows. */
	int (*put)(struct backend *b, const struct backend_put *put, struct capability *cap,
		   struct files_put_report *report);
	/* Writes target (a capability or a name) to out, verified, feeding and
	 * finishing pr. A negative code sets *failed when one chunk was bad. */
	int (*get)(struct backend *b, const struct backend_get *get, struct files_failure *failed);
	/* Calls fn for each stored name, in order; with network, for each entry
	 * of the network catalog (daemon only). */
	int (*ls)(struct backend *b, int network, backend_name_fn fn, void *arg);
	/* Forgets name (version 0: with all its versions), or one version of
	 * it: SHOAL_ENOTFOUND when it names nothing. */
	int (*rm)(struct backend *b, const char *name, uint32_t version);
	/* Calls fn for each version of name, newest first: SHOAL_ENOTFOUND
	 * when the name has none. */
	int (*versions)(struct backend *b, const char *name, backend_version_fn fn, void *arg);
	/* Applies keep to the versions of name (NULL: every name), calling fn
	 * for each, and (unless dry_run) removes those no rule keeps; *removed
	 * gets how many. SHOAL_ENOTFOUND when name does not exist. */
	int (*prune)(struct backend *b, const char *name, const struct retention *keep, int dry_run,
		     backend_version_fn fn, void *arg, uint64_t *removed);
	/* Re-hashes every stored chunk, calling bad for each corrupt or missing
	 * one, feeding and finishing pr (may be NULL), and fills *report; with
	 * repair (daemon only) replaces them from other nodes. 0 even when
	 * chunks are bad. */
	int (*verify)(struct backend *b, int repair, store_bad_fn bad, void *arg,
		      struct progress *pr, struct backend_verify *report);
	/* Makes node to (to_text: as the user wrote it) fetch and keep target
	 * (daemon only), feeding and finishing pr (may be NULL) and filling
	 * *result (may be NULL) on success. Prints every failure itself. */
	int (*send)(struct backend *b, const char *target, const uint8_t to[NODE_ID_LEN],
		    const char *to_text, struct progress *pr, struct backend_result *result);
	/* Calls fn for each chunk of target with the nodes holding it (daemon
	 * only). */
	int (*locate)(struct backend *b, const char *target, backend_holders_fn fn, void *arg);
};

/* The two implementations (backend_daemon.c, backend_local.c). */
extern const struct backend_ops backend_daemon_ops;
extern const struct backend_ops backend_local_ops;

/*
 * Resolves the home and picks the backend: the daemon's when one listens on
 * the home's control socket, else the local one. Returns 0 with *b set (free
 * with backend_close), or prints the error (no home, a daemon that cannot be
 * reached) and returns EXIT_FAIL.
 */
int backend_open(struct backend *b, struct cli *cli);

/* Releases what b holds (a control connection no operation used). */
void backend_close(struct backend *b);

#endif
