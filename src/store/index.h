/*
 * The node's index: a SQLite database (WAL, synchronous=FULL) beside the
 * objects. It records which chunks are stored (chunks), which manifests need
 * which chunks (refs: a manifest's own chunk, its ChunkLists and its data
 * chunks), and the names people gave their files: each name keeps its
 * versions (versions: name, number -> capability), the newest of which the
 * names table points at (names: name -> capability). A version another node
 * sent (shoal send) records that node (its sender); it is this node's file
 * all the same, kept until this node removes it.
 * A chunk is kept while some named manifest refers to it. The index never
 * names a chunk before that chunk is durable on disk; deleting goes the other
 * way round (rows first, files after).
 */
#ifndef SHOAL_STORE_INDEX_H
#define SHOAL_STORE_INDEX_H

#include <stddef.h>
#include <stdint.h>

#include "crypto/seal.h"

struct index;

/* Opens or creates the database at path, which (with its -wal and -shm files,
 * which SQLite creates with the database's mode) is made 0600: it holds
 * every capability. Returns 0 or SHOAL_EDB (logged). */
int index_open(struct index **out, const char *path);
/* The same; with exclusive, the connection is the only one the database will
 * have while it is open (SQLite's exclusive locking mode: no shared-memory
 * file is needed, so a full disk still opens an existing index). */
int index_open_mode(struct index **out, const char *path, int exclusive);
/* Closes (checkpointing the WAL). NULL is fine. */
void index_close(struct index *ix);

/* Transactions (BEGIN IMMEDIATE / COMMIT / ROLLBACK). 0 or SHOAL_EDB. One
 * begun inside another is a savepoint: its commit keeps its changes in the
 * outer one (durable only when that commits), its rollback undoes only
 * them. */
int index_begin(struct index *ix);
int index_commit(struct index *ix);
void index_rollback(struct index *ix);

/* For the store's modules that keep tables of their own in the index
 * (folderdb.h): prepare a statement (0 or the mapped error, logged), run
 * one that returns no rows and finalize it, and map the connection's last
 * error. */
struct sqlite3_stmt;
int index_sql_prepare(struct index *ix, const char *sql, struct sqlite3_stmt **st);
int index_sql_run(struct index *ix, struct sqlite3_stmt *st);
int index_sql_error(struct index *ix, const char *what);

/* Records a stored chunk of size bytes (no-op when present). */
int index_chunk_add(struct index *ix, const uint8_t id[CHUNK_ID_LEN], uint64_t size);
/* Returns 1 if the chunk is recorded, 0 if not, or SHOAL_EDB. */
int index_chunk_has(struct index *ix, const uint8_t id[CHUNK_ID_LEN]);
/* Forgets a chunk row. */
int index_chunk_remove(struct index *ix, const uint8_t id[CHUNK_ID_LEN]);
/* Calls fn for every recorded chunk until it returns non-zero (returned). */
typedef int (*index_chunk_fn)(const uint8_t id[CHUNK_ID_LEN], uint64_t size, void *arg);
int index_chunks_foreach(struct index *ix, index_chunk_fn fn, void *arg);
/* Like index_chunks_foreach(), for at most max chunks with ids after `after`. */
int index_chunks_after(struct index *ix, const uint8_t after[CHUNK_ID_LEN], size_t max,
		       index_chunk_fn fn, void *arg);
/* Counts recorded chunks and their bytes. */
int index_chunk_stats(struct index *ix, uint64_t *count, uint64_t *bytes);

/* Records that manifest needs chunk (no-op when present). */
int index_ref_add(struct index *ix, const uint8_t manifest[CHUNK_ID_LEN],
		  const uint8_t chunk[CHUNK_ID_LEN]);
/* Moves every ref of manifest from to manifest to (merging with refs to
 * already has). */
int index_refs_move(struct index *ix, const uint8_t from[CHUNK_ID_LEN],
		    const uint8_t to[CHUNK_ID_LEN]);
/* Calls fn for every referenced chunk that has no chunks row (missing data). */
int index_missing_foreach(struct index *ix, index_chunk_fn fn, void *arg);

#define INDEX_NICKNAME_MAX 32 /* identity.h's NICKNAME_MAX */

struct index_name {
	char name[256];
	char cap[128];
	uint8_t manifest[CHUNK_ID_LEN];
	uint64_t size;
	int64_t created;
	uint32_t version;  /* read: the version's number (a name: its newest's) */
	uint32_t versions; /* read: how many versions the name has */
	/* read back by index_names_foreach() and index_versions_foreach()
	 * only (0 elsewhere): the copies the file wants, and the fewest any of
	 * its chunks has (index_short_note()); equal when it is full */
	unsigned wanted, copies;
	/* received: the version came from another node (shoal send), sender
	 * (else all zero); read back with that node's nickname from members
	 * ("" if none). Written by index_name_set() when received is set. */
	int received;
	uint8_t sender[32];
	char sender_nickname[INDEX_NICKNAME_MAX + 1];
};

/* Adds a version of n->name bound to n's capability (number 1 for a new
 * name, else the newest's + 1), which becomes the name's newest, unless
 * n->manifest is the newest version's already: then nothing is added.
 * *version (may be NULL) gets the number of the version that now holds the
 * content, *added (may be NULL) whether one was added. 0 or an index
 * error. Run inside a transaction. */
int index_name_set(struct index *ix, const struct index_name *n, uint32_t *version, int *added);
/* Names tried by index_name_receive() before it gives up. */
#define INDEX_RECEIVE_TRIES 10
/* Files a file another node sent (n->sender) under n->name, a valid name,
 * without touching a file of this node's or of another sender: the first
 * of n->name, "n->name (from LABEL)", "n->name (from LABEL) 2", ... (LABEL:
 * the sender's nickname in members, else 16 characters of its node id; the name
 * cut to fit) that is free or whose newest version came from the same
 * sender gets the file as a new version (index_name_set()). n->name is set
 * to the name used, n->received to 1. 0, SHOAL_EEXIST (every name tried
 * is taken) or an index error. Run inside a transaction. */
int index_name_receive(struct index *ix, struct index_name *n, uint32_t *version, int *added);
/* Adds version n->version (>= 1) of n->name as it is given (a recovered
 * name keeps its numbers); the name's newest becomes whichever version is
 * the highest. 0, SHOAL_EEXIST (that version exists), SHOAL_EPROTO
 * (version 0) or SHOAL_EDB. Run inside a transaction. */
int index_version_insert(struct index *ix, const struct index_name *n);
/* Looks a name up (its newest version): 0, SHOAL_ENOTFOUND or SHOAL_EDB. */
int index_name_get(struct index *ix, const char *name, struct index_name *out);
/* Looks one version of a name up: 0, SHOAL_ENOTFOUND or SHOAL_EDB. */
int index_version_get(struct index *ix, const char *name, uint32_t version, struct index_name *out);
/* Removes a name and all its versions: 0, SHOAL_ENOTFOUND or SHOAL_EDB. */
int index_name_remove(struct index *ix, const char *name);
/* Removes one version of a name (the next newest left becomes the name's
 * newest; the name goes with its last version): 0, SHOAL_ENOTFOUND or
 * SHOAL_EDB. Run inside a transaction. */
int index_version_remove(struct index *ix, const char *name, uint32_t version);
/* Lists names in order, each as its newest version. */
typedef int (*index_name_fn)(const struct index_name *n, void *arg);
int index_names_foreach(struct index *ix, index_name_fn fn, void *arg);
/* Lists the versions of name, newest first (none: fn is never called). */
int index_versions_foreach(struct index *ix, const char *name, index_name_fn fn, void *arg);

/*
 * Pending tokens: a put in progress hangs its refs off a random token, which
 * keeps them (and their chunks) from garbage collection until the put binds a
 * name or gives up. set=1 adds token (committing at once when no transaction
 * is open), set=0 removes it. index_pending_clear() drops every token (after a
 * crash, no put can be in progress).
 */
int index_pending_set(struct index *ix, const uint8_t token[CHUNK_ID_LEN], int set);
int index_pending_clear(struct index *ix);
/* 1 when token is pending, 0 when not, or an error. */
int index_pending_has(struct index *ix, const uint8_t token[CHUNK_ID_LEN]);

/*
 * Pins: chunks this node keeps because another node asked it to (a replica
 * pushed with PutChunk, or a file fetched for a Fetch request: then the
 * manifest's id is pinned, which keeps the refs of that manifest). A chunk is
 * kept while a ref or a pin names it.
 */
int index_pin_add(struct index *ix, const uint8_t id[CHUNK_ID_LEN], const uint8_t node[32]);
/* 1 when node pins chunk id here, 0 when not, or an error. */
int index_pin_has(struct index *ix, const uint8_t id[CHUNK_ID_LEN], const uint8_t node[32]);
int index_pin_remove(struct index *ix, const uint8_t id[CHUNK_ID_LEN], const uint8_t node[32]);
/* 1 when any node pins chunk id here, 0 when none does, or an error. */
int index_chunk_pinned_any(struct index *ix, const uint8_t id[CHUNK_ID_LEN]);
/* Calls fn(node, bytes, arg) for every node pinning chunks here, with the
 * stored bytes of the chunks it pins; a non-zero return stops the walk and is
 * returned. */
typedef int (*index_pin_bytes_fn)(const uint8_t node[32], uint64_t bytes, void *arg);
int index_pin_bytes(struct index *ix, index_pin_bytes_fn fn, void *arg);
/* Whether one of nodes[0..n) pins chunk id here: 1, 0 (at once when n is
 * 0), or an index error. */
int index_chunk_pinned_by(struct index *ix, const uint8_t id[CHUNK_ID_LEN],
			  const uint8_t (*nodes)[32], size_t n);
/* 1 when a file of this node (a ref) needs chunk id, 0 when not, or an error. */
int index_chunk_referenced(struct index *ix, const uint8_t id[CHUNK_ID_LEN]);
/* A surplus copy held for others goes: every pin of chunk id, and the
 * placements this node made of it, are dropped without unpinning (the copies
 * placed stay where they are, counted by whoever scans them), so the next
 * garbage collection deletes it. SHOAL_EEXIST (nothing changed) when a file
 * of this node needs the chunk. Run inside a transaction. */
int index_surplus_drop(struct index *ix, const uint8_t id[CHUNK_ID_LEN]);

/* Forgets node (revoked): its pins here, the copies this node placed or
 * made on it and the unpins owed to it. Run inside a transaction; the
 * chunks left without a pin or ref are then garbage. */
int index_node_drop(struct index *ix, const uint8_t node[32]);
/* Drops every pin (this node leaves: what it kept for others is theirs to
 * keep elsewhere) and the wanted copies of chunks no file of its own needs.
 * Run inside a transaction; those chunks are then garbage. */
int index_pins_clear(struct index *ix);

/*
 * Placed: copies this node asked another node to keep (pushed chunks, sent
 * manifests). When garbage collection finds that no ref of this node needs
 * such a chunk any more, the placement moves to the unpins outbox, which the
 * daemon drains by sending Unpin to each holder.
 */
int index_placed_add(struct index *ix, const uint8_t id[CHUNK_ID_LEN], const uint8_t node[32]);
/* A placement made by repair (kept apart: those are the copies let go first
 * when a lost member comes back), and whether one is recorded. */
int index_repaired_add(struct index *ix, const uint8_t id[CHUNK_ID_LEN], const uint8_t node[32]);
int index_repaired_has(struct index *ix, const uint8_t id[CHUNK_ID_LEN], const uint8_t node[32]);
/* Moves a placement to the unpins outbox (a surplus copy to let go). */
int index_placed_release(struct index *ix, const uint8_t id[CHUNK_ID_LEN], const uint8_t node[32]);
/* 1 when id was placed on node (or released there and not yet unpinned),
 * 0 when not, or SHOAL_EDB. */
int index_placed_has(struct index *ix, const uint8_t id[CHUNK_ID_LEN], const uint8_t node[32]);
typedef int (*index_pair_fn)(const uint8_t chunk[CHUNK_ID_LEN], const uint8_t node[32], void *arg);
/* Drops outbox entries whose copy was placed again, then calls fn for at most
 * max entries, ordered by node. Run it in a transaction, serialized with the
 * puts that place copies (the daemon runs both on one thread). */
int index_unpins_take(struct index *ix, size_t max, index_pair_fn fn, void *arg);
/* Removes an outbox entry (the Unpin was sent). */
int index_unpin_done(struct index *ix, const uint8_t id[CHUNK_ID_LEN], const uint8_t node[32]);

/* The copies in all a file wants when its put does not say (--replicas). */
#define INDEX_DEFAULT_REPLICAS 3

/*
 * Copies: how many copies in all (this node's included) are wanted of a chunk
 * stored here, the largest any put or pinner asked for. Repair keeps that many.
 */
int index_copies_want(struct index *ix, const uint8_t id[CHUNK_ID_LEN], unsigned replicas);
/* The same for every chunk manifest refs (its own chunk, its ChunkLists and
 * its data): a file of this node wants that many copies, whether or not they
 * could be made when it was put. */
int index_copies_want_refs(struct index *ix, const uint8_t manifest[CHUNK_ID_LEN],
			   unsigned replicas);
/* The copies wanted of chunk id (1 when nobody asked for more). */
int index_copies_get(struct index *ix, const uint8_t id[CHUNK_ID_LEN], unsigned *replicas);
/*
 * Short: chunks known to have fewer copies than wanted, and how many they
 * have (this node's included), as the last repair pass or the put that
 * stored them counted. A put that could not make every copy marks its
 * chunks; each repair pass notes what it finds. Rows of chunks no longer
 * stored go with them.
 */
/* Notes chunk id's count: short while have < wanted, else not. */
int index_short_note(struct index *ix, const uint8_t id[CHUNK_ID_LEN], unsigned have,
		     unsigned wanted);
/* Marks every chunk manifest refs that wants more than have copies short,
 * with have. */
int index_short_refs(struct index *ix, const uint8_t manifest[CHUNK_ID_LEN], unsigned have);
/* 1 (with *have) when chunk id is short, 0 when not, or an error. */
int index_short_get(struct index *ix, const uint8_t id[CHUNK_ID_LEN], unsigned *have);
/* The short chunks this node's files need, and the named files needing one. */
int index_short_counts(struct index *ix, uint64_t *chunks, uint64_t *files);
/* Calls fn(id, replicas) for at most max stored chunks wanting more than one
 * copy, in id order, starting after `after` (all zero: from the start). */
int index_copies_foreach(struct index *ix, const uint8_t after[CHUNK_ID_LEN], size_t max,
			 index_chunk_fn fn, void *arg);
/* Calls fn(id, replicas) for at most max stored chunks, every one (replicas
 * 1 when nobody asked for more), in id order, starting after `after`. */
int index_wants_after(struct index *ix, const uint8_t after[CHUNK_ID_LEN], size_t max,
		      index_chunk_fn fn, void *arg);

/*
 * Drops refs of every manifest no name, version, pending token or pin points to, moves
 * placements of chunks no ref or pin needs to the unpins outbox, then drops every
 * chunk row no ref or pin points to, calling fn (may be NULL) with each chunk
 * dropped so the caller can delete its file after committing. Run inside a
 * transaction.
 */
int index_collect_garbage(struct index *ix, index_chunk_fn fn, void *arg);

/* Members of the network this node knows (kept so a restarted node can
 * reconnect without its bootstrap nodes). */
#define INDEX_ADDR_MAX 256
struct index_member {
	uint8_t id[32];
	char addr[INDEX_ADDR_MAX];
	int64_t last_seen;		       /* Unix seconds, 0 if never connected */
	char nickname[INDEX_NICKNAME_MAX + 1]; /* from its certificate, "" if none */
};
/* Inserts or updates a member. */
int index_member_set(struct index *ix, const struct index_member *m);
typedef int (*index_member_fn)(const struct index_member *m, void *arg);
int index_members_foreach(struct index *ix, index_member_fn fn, void *arg);
/* Deletes every member whose id is not among keep[0..n) (n may be 0).
 * Returns 0 or an index error. */
int index_members_retain(struct index *ix, const uint8_t (*keep)[32], size_t n);

/* Runs PRAGMA integrity_check: 0 when "ok", else SHOAL_EDB. */
int index_integrity_check(struct index *ix);

#endif
