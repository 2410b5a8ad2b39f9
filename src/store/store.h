/*
 * One node's store: the object directory, the SQLite index and the convergence
 * secret of a node home, opened together under an exclusive lock on
 * home/lock. Opening recovers from a crash: stray temp files are removed and,
 * when the previous holder did not close cleanly, the index is reconciled with
 * the disk (rows naming absent objects dropped, objects no row names deleted).
 */
#ifndef SHOAL_STORE_STORE_H
#define SHOAL_STORE_STORE_H

#include <limits.h>
#include <pthread.h>
#include <stdint.h>

#include "crypto/seal.h"
#include "store/index.h"
#include "store/objects.h"
#include "util/pool.h"
#include "util/progress.h"

#define STORE_READERS 4

struct located;

struct store {
	char home[3000];
	int lock_fd;
	struct objects objects;
	struct index *index;
	struct pool *pool;
	uint8_t secret[CONVERGENCE_SECRET_LEN];
	int opened;  /* store_open() finished: closing may mark the store clean */
	int unclean; /* unindexed objects may exist: reconcile at the next open */
	/* Held by garbage collection from its commit until the dropped files
	 * are deleted, and by whoever records a chunk written without a row
	 * yet: so a file seen present stays present until its row is
	 * committed. Lock order: a thread that needs both takes the index's
	 * write lock (index_begin(), BEGIN IMMEDIATE) first and gc_lock
	 * second, and never waits for the write lock while holding gc_lock
	 * (the two would deadlock until SQLite's busy timeout failed one). */
	pthread_mutex_t gc_lock;
	int grouped;   /* a group commit is open on s->index (store_group_begin) */
	int exclusive; /* opened STORE_EXCLUSIVE: s->index is the only connection */
	/* Connections kept for short reads from any thread (store_located()). */
	pthread_mutex_t readers_lock;
	struct index *readers[STORE_READERS];
	unsigned nreaders;
};

enum store_open_flags {
	STORE_NOWAIT = 1,    /* fail with -EWOULDBLOCK instead of waiting for the lock */
	STORE_EXCLUSIVE = 2, /* s->index is the only index connection (no store_index_open) */
};

/* Creates the store parts of a new home (the directory must exist): a fresh
 * convergence secret (home/secret, mode 0600), the object tree and the index. */
int store_create(const char *home);

/* Opens the store of home (see the file comment). Returns 0 with *out set, or
 * SHOAL_EIDENTITY when home is not an initialised node home, -EWOULDBLOCK (with
 * STORE_NOWAIT) when another process holds it, SHOAL_EDB, or -errno. */
int store_open(struct store **out, const char *home, int flags);

/* Closes the store, marking it cleanly closed. NULL is fine. */
void store_close(struct store *s);

/* Report of store_verify(). */
struct store_verify_report {
	uint64_t checked; /* objects re-hashed */
	uint64_t bytes;	  /* their bytes */
	uint64_t corrupt; /* objects whose bytes do not match their id */
	uint64_t missing; /* chunks a manifest needs that are not stored */
};

/* Called once per bad chunk: err is SHOAL_ECORRUPT or SHOAL_EMISSING. */
typedef void (*store_bad_fn)(const uint8_t id[CHUNK_ID_LEN], int err, void *arg);

/* Re-hashes every stored object and checks that every chunk a named file needs
 * is present. Fills report; returns 0 (even when chunks are bad) or -errno. */
int store_verify(struct store *s, store_bad_fn bad, void *arg, struct store_verify_report *report);

/* store_verify(), feeding progress (may be NULL) with the bytes re-hashed:
 * its total starts as the bytes the index lists and, once every object was
 * read, becomes what was read, so a finished verify ends at 100%. Stops with
 * -EINTR when progress says to. */
int store_verify_progress(struct store *s, store_bad_fn bad, void *arg, struct progress *progress,
			  struct store_verify_report *report);

/*
 * Inside a transaction the caller began: drops refs of manifests no name
 * points to and chunks no ref points to, commits, then deletes the dropped
 * chunks' files. Rolls back on error. 0 or SHOAL_EDB.
 */
int store_commit_releasing(struct store *s);
/* The same on another connection to the store's index (one per thread). */
int store_commit_releasing_ix(struct store *s, struct index *ix);

/*
 * Records objects already written (ids[i], stored sizes[i]) in the index, each
 * also as a ref of token when token is not NULL, in one transaction on ix
 * (the calling thread's connection). The objects are made durable first
 * (objects_sync), and each must still exist: under the store's gc_lock (taken
 * after the transaction began), which garbage collection holds while it
 * deletes, an object seen present stays until its row is committed. Returns 0, SHOAL_EMISSING
 * (*missing, when not NULL, is the index of the first object gone; nothing was recorded), SHOAL_EDB
 * or -errno.
 */
int store_record_chunks(struct store *s, struct index *ix, const uint8_t *token,
			const uint8_t (*ids)[CHUNK_ID_LEN], const uint64_t *sizes, size_t n,
			size_t *missing);

/*
 * Group commit, for many small puts on the writer's connection: between
 * store_group_begin() and store_group_commit() every transaction on
 * s->index is nested in one, the objects written are not synced one put at
 * a time and nothing is released: the commit syncs the objects once, then
 * releases and commits everything together (one syncfs and one index sync
 * for the group instead of several per put). Until then none of it is
 * durable, and other writers wait for the index. Abort rolls the group back
 * (its objects are reconciled away at the next open). 0, SHOAL_EDB or
 * -errno.
 */
int store_group_begin(struct store *s);
int store_group_commit(struct store *s);
void store_group_abort(struct store *s);

/* Groups bounded in size and age, for a loop of writes. A file bigger
 * than STORE_GROUP_FILE_MAX is better put or written outside a group:
 * the group holds the index's write lock while it is read. */
#define STORE_GROUP_FILE_MAX (1 << 20)
struct store_group {
	int open;
	unsigned writes; /* writes in the open group */
	double start;	 /* when it was opened (monotonic seconds) */
};
/* Before a write: opens a group, or commits the open one first when it
 * already holds max writes or is older than seconds. */
int store_group_enter(struct store *s, struct store_group *g, unsigned max, double seconds);
/* After the loop: commits the open group (ok set) or aborts it. Returns
 * the commit's result. */
int store_group_leave(struct store *s, struct store_group *g, int ok);

/* Opens another connection to the store's index, for a thread of its own. */
int store_index_open(struct store *s, struct index **out);

/* Removes name (all its versions) and releases the chunks no other name or
 * version needs. 0 or SHOAL_ENOTFOUND. */
int store_remove_name(struct store *s, const char *name);
/* Removes one version of name (0: all of them), the same way. */
int store_remove_version(struct store *s, const char *name, uint32_t version);

/*
 * Chunks kept in a working tree (store/located.h). store_located() looks
 * up to max of id's locations up on a connection of its own (any thread):
 * 0, SHOAL_ENOTFOUND or an error. store_read_object() is objects_read() that
 * falls back on a located chunk's plaintext, sealed again and checked
 * (SHOAL_EMISSING when neither is there, or the file changed since).
 * store_object_present() is 1 when id's object file exists or its located
 * plaintext still seals to id (read and checked), else 0 or -errno.
 */
int store_located(struct store *s, const uint8_t id[CHUNK_ID_LEN], struct located *out, size_t max,
		  size_t *n);
int store_read_object(struct store *s, const uint8_t id[CHUNK_ID_LEN], uint8_t *out, size_t cap,
		      int flags, size_t *len);
int store_object_present(struct store *s, const uint8_t id[CHUNK_ID_LEN]);
/* store_read_object() into a buffer of the chunk's own size, which *out
 * receives and the caller frees. */
int store_read_object_alloc(struct store *s, const uint8_t id[CHUNK_ID_LEN], int flags,
			    uint8_t **out, size_t *len);
/* objects_verify() that checks a located chunk by reading it (see
 * store_read_object()). */
int store_verify_object(struct store *s, const uint8_t id[CHUNK_ID_LEN], uint64_t *size);

/*
 * Before the file at path (absolute) is replaced or removed: each chunk
 * located in it (store/located.h) whose object file is absent is read,
 * checked and written to objects/, so the content the file held stays
 * (a tombstone's last content, an overwritten version); a chunk the file
 * no longer holds is left to other holders. The file's located rows go,
 * on ix, in the caller's transaction. *kept (may be NULL) is increased by
 * the objects written. 0 or an error.
 */
int store_keep_located(struct store *s, struct index *ix, const char *path, unsigned *kept);

/*
 * Once rows locating ids[0..n) in a working tree are committed: each
 * one's object file is deleted when its located copy checks out and no
 * node pins it (a copy kept for another node stays whole). 0 or an
 * error.
 */
int store_drop_objects(struct store *s, const uint8_t (*ids)[CHUNK_ID_LEN], size_t n);

#endif
