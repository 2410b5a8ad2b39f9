/*
 * Recovery: a node's names survive the node. Three jobs live here.
 *
 * The table. After a change to the names (recovery_names_changed(): a put
 * that binds a name, rm, prune), at most once every recovery_delay
 * seconds (the config key; 0 turns the table off), every version of every name is written as a
 * NameTable and stored like any file (chunked, encrypted, replicated to INDEX_DEFAULT_REPLICAS
 * nodes), kept by a pin of this node's own id instead of a name. The table
 * before the current one is released when a newer one is placed: the last
 * two stay, so a record still held somewhere always finds its table.
 *
 * The record. Once the table is placed, its capability is sealed with the
 * recovery secret (crypto/recovery.h) into a RecoveryRecord signed with the
 * node key (proto/recovery.h), kept in home/recovery.record and pushed to
 * every member up, to each member as its link comes up, and again every
 * RECOVERY_PUSH_SECONDS.
 *
 * The holding. Each member keeps, for every other member, the newest record
 * that member signed and pushed itself (the link's node must be the
 * record's owner): one per member, at most RECOVERY_HELD_MAX in all,
 * replaced at most once every RECOVERY_REPLACE_SECONDS, each checked
 * (certificate of this network, signature) before it is kept, and persisted
 * under home/records/ (one file per owner, written by the operations
 * queue). A RecoveryQuery by locator is answered with the newest record
 * held for it, or a NOT_FOUND error.
 *
 * The secret is home/recovery.key (the key's text, mode 0600), made with
 * the first table, once the node has a name (or when `shoal recovery-key`
 * runs): a node that never had a name writes no key, table or record. A node that recovers
 * another's names adopts that node's secret, so the key printed before keeps working for both sets
 * of names.
 *
 * Thread affinity: everything on the loop thread, except
 * recovery_key_load() (any thread, no daemon needed) and the work of
 * recovery_recover_work(), which runs on the writer of the operations queue.
 */
#ifndef SHOAL_NODE_RECOVERY_H
#define SHOAL_NODE_RECOVERY_H

#include <event2/event.h>
#include <stdint.h>

#include "crypto/recovery.h"
#include "node/mesh.h"
#include "node/ops.h"
#include "node/remote.h"
#include "proto/recovery.h"
#include "store/store.h"
#include "util/progress.h"

#define RECOVERY_KEY_FILE	 "recovery.key"
#define RECOVERY_RECORD_FILE	 "recovery.record"
#define RECOVERY_STATE_FILE	 "recovery.state"
#define RECOVERY_RECORDS_DIR	 "records"
#define RECOVERY_PUSH_SECONDS	 60.0 /* the record pushed again to every member */
#define RECOVERY_HELD_MAX	 1024 /* records kept for other members */
#define RECOVERY_REPLACE_SECONDS 1.0  /* a member's record replaced once a second at most */
#define RECOVERY_QUERY_TIMEOUT	 10.0

/*
 * Reads the secret of home (home/recovery.key), making one when there is
 * none and create is set. Returns 0, -ENOENT (none, create unset), SHOAL_EPROTO
 * (the file holds no key) or -errno.
 */
int recovery_key_load(const char *home, int create, uint8_t secret[RECOVERY_SECRET_LEN]);

struct recovery_env {
	const char *home;
	struct event_base *base;
	struct store *store;
	struct ops *ops;
	struct mesh *mesh;
	struct remote *remote;
	const uint8_t *self; /* this node's id */
	/* seconds from a change of the names to the table's upload (a burst
	 * costs one); 0: no table is ever placed (records of others are
	 * still held and answered) */
	double delay;
};

struct recovery;

/* Loads the secret (made if missing), the node's key and certificates, the
 * record placed last and the records held; arms the timers. Returns 0 with
 * *out set, or an error (logged). */
int recovery_start(struct recovery **out, const struct recovery_env *env);
/* Frees rc (after ops_stop()). NULL is fine. */
void recovery_free(struct recovery *rc);

/* The names changed: a table upload is due (debounced). */
void recovery_names_changed(struct recovery *rc);

/* What `shoal recovery-key` shows. */
struct recovery_info {
	char key[RECOVERY_KEY_STR_LEN + 1];
	int pending;	  /* a change is not in a placed table yet */
	uint64_t seq;	  /* of the record placed last, 0 if none */
	uint64_t entries; /* versions in that table */
};
/* Fills out; reads home/recovery.key if this daemon has not yet (the CLI
 * makes it before it asks). 0, or -ENOENT (no key yet) or another error of
 * recovery_key_load(). */
int recovery_info(struct recovery *rc, struct recovery_info *out);

/* ---- frames (peer.c) ---- */
/* l became a member's established link: it gets this node's record now
 * rather than at the next periodic push. */
void recovery_on_link_up(struct recovery *rc, struct link *l);
void recovery_on_record(struct recovery *rc, struct link *l, const Shoal__RecoveryRecord *m);
void recovery_on_query(struct recovery *rc, struct link *l, uint64_t request_id,
		       const Shoal__RecoveryQuery *m);

/* ---- shoal recover ---- */

/* What a recovery did, for the reply. */
struct recovery_result {
	uint64_t names, versions, skipped, chunks, fetched, seq;
	uint8_t owner[NODE_ID_LEN];
	char why[512]; /* on failure: the one line for the user */
};

/*
 * On the writer (ix: its connection): asks each of peers[0..npeers) for the
 * record of secret, keeps the newest that is validly signed and opens, fetches
 * its table and takes its names over (a name this node has already is left
 * alone and counted in skipped, unless a recovery interrupted before began
 * it: then its missing versions are added), each version's chunks fetched into this
 * store and kept with INDEX_DEFAULT_REPLICAS copies wanted; then adopts the
 * secret (home/recovery.key). progress (may be NULL) counts versions. Returns
 * 0 or an error with res->why set. ca is the network's certificate.
 */
int recovery_recover_work(struct recovery *rc, struct index *ix,
			  const uint8_t secret[RECOVERY_SECRET_LEN],
			  const uint8_t (*peers)[NODE_ID_LEN], size_t npeers,
			  struct progress *progress, struct recovery_result *res);

/* On the loop, after recovery_recover_work() succeeded: the secret is this
 * node's from now on, and a new table (with the names taken over) is due. */
void recovery_adopt(struct recovery *rc, const uint8_t secret[RECOVERY_SECRET_LEN], uint64_t seq);

#endif
