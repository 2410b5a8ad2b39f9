/*
 * Collaborative folders in the daemon: the folders this node is a member
 * of, kept in sync with the other members.
 *
 * Each folder (store/folderdb.h) is watched (node/watch.h: changes only mark
 * it dirty) and scanned after a debounce of FOLDER_DEBOUNCE seconds (at
 * most FOLDER_DEBOUNCE_MAX after the first change), and fully every
 * scan_interval seconds with jitter, whatever the watcher says. A scan
 * (store/folderscan.h) turns changes into this node's rows and seals them
 * into signed batches, pushed at once to every member whose link is up; a
 * scan reading many files stops after FOLDER_SCAN_SLICE seconds, so that
 * what it read goes out while the next scan reads the rest.
 *
 * Members find each other on the mesh's links: when a link comes up, and
 * every FOLDER_HELLO_SECONDS, each folder's FolderHello goes out, with the
 * proof that this node holds the folder's secret (bound to both node ids,
 * so it cannot be replayed to another) and what it holds of every author.
 * To a node that has not proved itself a member on that link the hello is
 * a probe, the proof alone: a member recognizes it (it finds the folder
 * whose proof it is) and answers with its whole hello; anyone else learns
 * no folder id and no author from it.
 * A member answers with the batches the other lacks (a delta from the
 * sequence numbers it announced, or everything of an author whose index id
 * changed), and with its own hello when it lacks something in turn. Batches
 * are checked (proto/folder.h: certificate, signature, rows) and chained to
 * what is held of their author before anything is kept; a link that sends a
 * forged batch is closed. A node that does not hold the folder's secret
 * gets nothing: it cannot make the proof.
 *
 * Rows that came in are applied (node/folderapply.h) on the writer, in
 * passes, after each ingest and scan. Incoming batches that would delete
 * more than max(FOLDERSCAN_HOLD_MIN, a quarter) of what this node holds,
 * counted together over FOLDER_DELETES_WINDOW seconds, have those deletes
 * held, as a local mass delete is (unless their author's user accepted
 * them: FOLDER_BATCH_DELETES_ACCEPTED). A batch with a version counter past
 * now + FOLDER_CLOCK_SKEW_MAX is refused as forged.
 *
 * A folder whose root lost its marker or changed device stops (the reason
 * is kept and shown) and does nothing until `folder resume` finds it whole.
 *
 * A folder with replicas (node/folderstore.h) also lives on storage nodes:
 * its chunks want replicas + members copies (repair places them), and
 * FOLDER_JOURNAL_DELAY after a scan or an apply sealed batches of ours, our
 * journal is stored and its pointer published in the catalog. When no
 * member is connected, FOLDER_CATCHUP_DELAY after a link comes up and every
 * FOLDER_HELLO_SECONDS, the catalog's entries of the other members'
 * journals newer than those read are read, and their batches ingested as
 * if a member had sent them.
 *
 * Thread affinity: the loop thread; the work runs on the operations queue.
 */
#ifndef SHOAL_NODE_FOLDER_H
#define SHOAL_NODE_FOLDER_H

#include <event2/event.h>
#include <openssl/types.h>

#include "node/mesh.h"
#include "node/ops.h"
#include "node/remote.h"
#include "proto/shoal.pb-c.h"
#include "store/store.h"

#define FOLDER_DEBOUNCE		 1.0
#define FOLDER_DEBOUNCE_MAX	 5.0
#define FOLDER_SCAN_SLICE	 2.0 /* a scan reading files sends what it has after this long */
#define FOLDER_HELLO_SECONDS	 30.0
#define FOLDER_HELLO_REPLY_EVERY 1.0   /* a hello answered with ours once a second at most */
#define FOLDER_MAX		 64    /* folders one node is a member of */
#define FOLDER_DELETES_WINDOW	 600.0 /* incoming deletes counted together by the breaker */
#define FOLDER_CLOCK_SKEW_MAX	 (366 * 86400) /* a version counter past now + this is refused */
#define FOLDER_JOURNAL_DELAY	 2.0	       /* a journal is published this long after a change */
#define FOLDER_CATCHUP_DELAY	 2.0	       /* journals are looked for this long after a link */
#define FOLDER_RETRY_FIRST	 2.0	       /* waiting items tried again after this, */
#define FOLDER_RETRY_MAX	 120.0	       /* doubling up to this */
#define FOLDER_SETTLE_MAX	 5.0 /* batches still coming hold a pass this long at most */

struct folder_env {
	const char *home;
	struct event_base *base;
	struct store *store;
	struct ops *ops;
	struct mesh *mesh;
	struct remote *remote;
	struct catalog *catalog; /* journals' pointers (replicas); may be NULL */
	const uint8_t *self;
	double scan_interval; /* seconds between full scans (jittered); 0: none */
};

struct folders;
struct catalog;

/* Loads the node's key and certificates and the folders, starts watching
 * them. Returns 0 with *out set, or an error (logged). */
int folder_start(struct folders **out, const struct folder_env *env);
/* Stops watching (before ops_stop()). */
void folder_cancel(struct folders *fs);
/* Frees fs (after ops_stop()). NULL is fine. */
void folder_free(struct folders *fs);

/* ---- frames (peer.c) ---- */
void folder_on_link_up(struct folders *fs, struct link *l);
void folder_on_hello(struct folders *fs, struct link *l, const Shoal__FolderHello *m);
/* payload (len bytes) is borrowed. */
void folder_on_batches(struct folders *fs, struct link *l, const Shoal__FolderBatches *m,
		       const uint8_t *payload, size_t len);

/* ---- shoal folder ... (ctl.c) ---- */

/* The answer to a request: err 0 with the reply, or an error and one line. */
typedef void (*folder_reply_fn)(void *arg, int err, const char *text, const char *json,
				const char *invite);
/* Carries out req; fn(arg, ...) is called once, on the loop (perhaps
 * before this returns). */
void folder_request(struct folders *fs, const Shoal__CtlFolderRequest *req, folder_reply_fn fn,
		    void *arg);

#endif
