/*
 * Fetching a file's chunks from the network into the local store, on a
 * thread that may block: a thread of the operations queue (the writer for
 * the CLI's get, send and locate; the fetcher for a peer's Fetch). Never on
 * the loop thread. Everything it uses is given in struct fetch.
 *
 * The manifest, then its ChunkLists, then the data chunks: each one already
 * stored here is used as it is; the others are asked of the members that
 * placement ranks first for that chunk (rendezvous hashing over the members
 * that were up when the fetch began), then of whoever answers a Have query.
 * Up to FETCH_WINDOW chunks are in flight at once, at most FETCH_PER_PEER from
 * one holder, so several holders serve at the same time; a holder that fails,
 * dies, stalls (FETCH_TIMEOUT_*) or sends bytes that do not match the id is
 * replaced by the next one.
 * Fetched bytes are checked against their id before they are written
 * (remote.h). Every chunk is recorded under a token (refs token -> chunk) so
 * garbage collection keeps it; a fetch run again with the same token finds
 * what an interrupted run already stored and fetches only the rest.
 */
#ifndef SHOAL_NODE_FETCH_H
#define SHOAL_NODE_FETCH_H

#include <stdint.h>

#include "crypto/identity.h"
#include "proto/capability.h"
#include "proto/name.h"
#include "store/store.h"
#include "util/progress.h"

#define FETCH_WINDOW   16
#define FETCH_PER_PEER 4
#define FETCH_RANKED   4 /* placement's first holders tried before a Have query */

/* How long a holder gets to send a chunk before the next one is asked: 4
 * times what the chunks fetched so far took per byte, plus a second, kept
 * between the floor and the ceiling; before the first chunk arrives,
 * FETCH_TIMEOUT_FIRST. So a holder that claims a chunk and stalls costs
 * seconds, while a slow link still gets the time its rate needs. */
#define FETCH_TIMEOUT_FIRST 10.0
#define FETCH_TIMEOUT_MIN   2.0
#define FETCH_TIMEOUT_MAX   60.0

struct remote;

struct fetch {
	/* set by the caller */
	struct remote *r;
	struct store *s;
	struct index *ix; /* this thread's own connection */
	const uint8_t (*peers)[NODE_ID_LEN];
	size_t npeers;
	struct progress *progress; /* may be NULL; total is set to the file size */
	/* results */
	uint64_t chunks;  /* chunks the file has (manifest and lists included) */
	uint64_t fetched; /* of which came from the network */
	int failed_set;
	uint8_t failed[CHUNK_ID_LEN]; /* the chunk that could not be had */
	char why[256];		      /* what went wrong, for the user */
};

/* Makes every chunk of cap present here, recorded under token. Returns 0,
 * SHOAL_EUNREACHABLE (a chunk no reachable member has: failed names it),
 * SHOAL_ECORRUPT / SHOAL_EPROTO (the manifest or a ChunkList is bad), -EINTR
 * (cancelled), or another error. */
int fetch_into(struct fetch *f, const struct capability *cap, const uint8_t token[CHUNK_ID_LEN]);

/* Makes the chunks of many small files present here at once, recorded
 * under token: their manifests fetched together, then the data chunks they
 * list (files with ChunkLists are left to fetch_into()). Best effort: what
 * no node up has is left out (the fetch_into() of that file says so).
 * Returns 0, or an error of the store or the index. */
int fetch_prefetch(struct fetch *f, const struct capability *caps, size_t n,
		   const uint8_t token[CHUNK_ID_LEN]);

/* The token a get of manifest id uses, so that a get run again resumes. */
void fetch_get_token(const uint8_t id[CHUNK_ID_LEN], uint8_t token[CHUNK_ID_LEN]);

/* Drops token and collects what only it kept. */
int fetch_release(struct fetch *f, const uint8_t token[CHUNK_ID_LEN]);

/* The name a file sent without one is filed under: "received-" and 16 hex
 * digits of its manifest id (out: NAME_MAX_LEN + 1 bytes). */
void fetch_receive_default_name(const uint8_t id[CHUNK_ID_LEN], char out[NAME_MAX_LEN + 1]);

/* Fetches cap, sent by sender (shoal send), and makes it this node's own
 * file: a version of one of its names, received from sender (see
 * index_name_receive(): name, or when "" fetch_receive_default_name(); a
 * name taken by another file is left alone), wanting replicas copies so
 * repair keeps them. Nothing the sender does later removes it; this node's
 * rm does. filed (NAME_MAX_LEN + 1 bytes) gets the name used. Returns 0,
 * SHOAL_EEXIST (every name tried is taken; f->why says so) or an error as
 * fetch_into(); on failure nothing is filed and what was fetched goes. */
int fetch_receive(struct fetch *f, const struct capability *cap, const uint8_t sender[NODE_ID_LEN],
		  const char *name, unsigned replicas, char filed[NAME_MAX_LEN + 1]);

/* The chunk ids of cap's file (manifest, lists, data) in file order, reading
 * what is stored here (call fetch_into first). *ids is malloc'd. */
int fetch_list_chunks(struct fetch *f, const struct capability *cap, uint8_t (**ids)[CHUNK_ID_LEN],
		      uint64_t **sizes, size_t *count);

#endif
