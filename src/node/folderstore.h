/*
 * A folder's copies on storage nodes (folder create --replicas R): this
 * member's journal published, and the other members' journals read back by
 * a member that finds none of them up (proto/folderjournal.h).
 *
 * Publishing: the journal (every batch of this node's own) is stored under
 * the folder's convergence secret, its pointer sealed under the folder's
 * journal key and stored beside it, both kept by this node (pinned by its
 * own id, as files_put_kept() does) and wanting `copies` copies in all, so
 * repair places them on other nodes; the previous journal and pointer are
 * let go. The caller publishes the pointer's capability in the catalog
 * under folderjournal_name(). The folder's file chunks want the same copies
 * (node/folder.c passes them to the scan and the apply).
 *
 * Reading: the pointer a catalog entry names is fetched (from any node up),
 * opened and checked, then the journal it names, and the batches are handed
 * over as they came; the caller checks each one (folder_batch_open()) and
 * keeps what follows what it holds. What was fetched is let go afterwards:
 * only the batches are kept.
 *
 * Thread affinity: the store's writer (the operations queue).
 */
#ifndef SHOAL_NODE_FOLDERSTORE_H
#define SHOAL_NODE_FOLDERSTORE_H

#include <stdint.h>

#include "proto/folderjournal.h"
#include "store/folderdb.h"
#include "store/store.h"
#include "util/buf.h"

struct remote;

struct folderstore_env {
	struct store *s; /* its index is the writer's connection */
	struct remote *remote;
	const struct folderdb_folder *f;
	const struct folder_keys *keys;
	const uint8_t *self;
	const uint8_t (*peers)[NODE_ID_LEN]; /* nodes up, to fetch from */
	size_t npeers;
};

/*
 * Stores this node's journal of env->f and a pointer to it (see above),
 * wanting copies copies of each; old (NULL: none) is the pointer published
 * before, let go with its journal once the new ones are kept. Returns 0 with
 * *pointer and *pointer_size set (the pointer to publish) and *last_seq the
 * last sequence number in the journal, SHOAL_ENOTFOUND when this node has no
 * batch yet, or an error of the store.
 */
int folderstore_publish(const struct folderstore_env *env, unsigned copies,
			const struct capability *old, struct capability *pointer,
			uint64_t *pointer_size, uint64_t *last_seq);

/*
 * Reads the pointer capability names into *p (fetched from the nodes up,
 * then let go), and the journal a pointer names into journal. Return 0,
 * SHOAL_EPROTO (a pointer that does not open under the folder's key, or a
 * journal of another size than it says), SHOAL_EUNREACHABLE (a chunk no
 * node up has), or another error of fetching; why (may be NULL) says what
 * went wrong.
 */
int folderstore_pointer(const struct folderstore_env *env, const struct capability *pointer,
			struct folderjournal_pointer *p, char *why, size_t why_size);
int folderstore_journal(const struct folderstore_env *env, const struct folderjournal_pointer *p,
			struct buf *journal, char *why, size_t why_size);

#endif
