/*
 * The network catalog: the files members have published, replicated to every
 * member by gossip. The catalog maps (owner, name) to the entry with the
 * greatest time, a removal (tombstone) being an entry like any other, so it
 * wins over the older live entry it replaces and is kept. Entries are signed
 * by their owner (src/proto/catalog.h) and every entry received is checked; a
 * bad one is dropped with a warning naming the peer, which stays connected.
 *
 * What a member can do to the catalog: only its own names. A name belongs to
 * its owner: two owners publishing one name make two entries, and a lookup
 * without an owner refuses to choose between them. An entry dated more than
 * CATALOG_FUTURE_SECONDS past the receiver's clock is refused, so no owner
 * can make an entry that later ones never beat; an owner's republication and
 * removal are always newer than its entry before. Each owner may have at
 * most catalog_per_member entries here (config.h), removals included; more
 * are refused with one log line per owner a minute. A removal is kept
 * CATALOG_TOMBSTONE_DAYS, then forgotten by every member (and refused when
 * sent again); a member offline longer than that may bring back an entry
 * removed meanwhile, which its owner can remove again.
 *
 * Replication: a new or changed entry is flooded at once (CatalogDelta) to
 * every up member but the one it came from; a member whose link comes up gets
 * the whole catalog; every gossip_interval each up member gets a
 * CatalogDigest (count and XOR of the entries' hashes), and a member whose
 * digest differs from ours is asked for everything (CatalogRequest), so a node
 * that was down or joins later catches up. Whole-catalog sends go out a
 * bounded amount at a time, never congesting the connection.
 *
 * Persistence: home/catalog.log (src/proto/catlog.h), one record appended
 * per changed entry, on a worker at most every 2 s, and at catalog_close().
 * The log is rewritten whole (atomically) when it holds more than twice the
 * catalog's records, after removals were forgotten, and after a write
 * failed. Loading trusts the log's entries (checked when they arrived; each
 * record carries a checksum) but checks their certificates again; the
 * whole-file home/catalog of earlier versions is converted once.
 *
 * Per member the catalog keeps, by node id, the state of a whole-catalog
 * send and of its requests for everything; it holds no pointer into the
 * member table.
 *
 * Thread affinity: everything here runs on the loop thread (no locks); the
 * store operations, on the threads of the operations queue, never call in
 * here. Only the save of home/catalog runs on a worker, on a copy.
 */
#ifndef SHOAL_NODE_CATALOG_H
#define SHOAL_NODE_CATALOG_H

#include <stdint.h>

#include "net/loopwork.h"
#include "node/mesh.h"
#include "node/revoke.h"
#include "proto/capability.h"
#include "proto/shoal.pb-c.h"

/* Entries kept, removals included, whatever the owners' budgets: a bound on
 * memory. More are refused (with a rate-limited log line), our own
 * publications with SHOAL_ETOOBIG. */
#define CATALOG_ENTRIES_MAX 262144
/* Entries dated further past our clock than this are refused. */
#define CATALOG_FUTURE_SECONDS 300
/* Removals are kept this long, then forgotten. */
#define CATALOG_TOMBSTONE_DAYS 30
/* The shortest owner prefix a lookup accepts (base32 characters). */
#define CATALOG_OWNER_PREFIX_MIN 8
/* Owners a lookup reports when it cannot choose. */
#define CATALOG_OWNERS_SHOWN 4

struct catalog;

/*
 * Opens the catalog of home at start-up: loads home/ca.crt, home/node.crt
 * (its DER goes into our entries) and home/node.key, then the entries of
 * home/catalog, each checked again (those that fail are dropped, with one
 * summary line; a missing file is an empty catalog, an unreadable or corrupt
 * one is logged and replaced by what the network sends). mesh (who to flood
 * to), cfg (gossip_interval), rv (may be NULL: entries of the owners it
 * names are refused) and lw with its pool (where saves run) are
 * borrowed for the catalog's life. Returns 0 with *out set, or an error of
 * the identity files (-errno, SHOAL_EIDENTITY), logged, with *out NULL;
 * -ENOMEM.
 */
int catalog_open(struct catalog **out, const char *home, struct mesh *mesh,
		 const struct config *cfg, const struct revocations *rv, struct loopwork *lw,
		 struct pool *pool);

/* Drops every entry of owner (revoked: rv names it from now on, so no entry
 * of it is taken again) and rewrites the log; returns how many went. */
size_t catalog_drop_owner(struct catalog *cat, const uint8_t owner[NODE_ID_LEN]);

/*
 * Closes the catalog at stop: waits for a save in progress on the pool (so
 * call it before pool_free() of its pool, or after both pool_free() and
 * loopwork_free()), writes home/catalog if it changed since and frees
 * everything. NULL is fine.
 */
void catalog_close(struct catalog *cat);

/*
 * A member's link was just established (Hello both ways; l->member set):
 * sends it our whole catalog, in CatalogDelta frames of at most
 * WIRE_CATALOG_MAX entries and FRAME_HEADER_MAX / 2 bytes, some now and the
 * rest from catalog_tick() as the connection drains.
 */
void catalog_on_link_up(struct catalog *cat, struct link *l);

/*
 * A CatalogDelta, CatalogDigest or CatalogRequest arrived on l, a member's
 * established link (anything else, or a link without a member, is ignored).
 * env is borrowed. Never closes the connection: bad entries are dropped one
 * by one (one warning each, rate-limited), the rest of a delta still counts.
 */
void catalog_on_frame(struct catalog *cat, struct link *l, const Shoal__Envelope *env);

/*
 * The periodic work (call it every tick, now = monotonic_seconds()): every
 * cfg.gossip_interval a CatalogDigest to each up member, the next part of
 * whole-catalog sends in progress, and the save of home/catalog (on a worker)
 * when it changed, at most every 2 s.
 */
void catalog_tick(struct catalog *cat, double now);

/*
 * Publishes name (valid per name_validate()) as the file of size bytes that
 * capability cap (valid per capability_parse()) reads: signs an entry owned by
 * this node with time = now in microseconds (or one more than our previous
 * entry for name, if that is later), stores it and floods it to every up
 * member. Publishing again always makes a newer entry. Returns 0,
 * SHOAL_EBADNAME, SHOAL_EBADCAP, SHOAL_ETOOBIG (the catalog is full, or this
 * node has catalog_per_member entries in it), SHOAL_EIDENTITY (no catalog, or
 * our certificate no longer checks out), or another error of signing.
 */
int catalog_publish(struct catalog *cat, const char *name, uint64_t size, const char *cap);

/*
 * Withdraws our publication of name: replaces our live entry by a signed
 * removal (time greater than the entry's) and floods it. Other owners'
 * entries of the same name are not ours to remove. Returns 0, or
 * SHOAL_ENOTFOUND when this node has no live entry named name (never
 * published, or already withdrawn).
 */
int catalog_unpublish(struct catalog *cat, const char *name);

/* The owners of a name, as catalog_lookup() saw them. */
struct catalog_owners {
	size_t n;					/* live entries that matched */
	uint8_t ids[CATALOG_OWNERS_SHOWN][NODE_ID_LEN]; /* the first min(n, SHOWN) by id */
};

/*
 * Finds the live entry named name. owner, when not NULL, names its
 * publisher: its nickname (from its certificate), or a node id as
 * node_id_format() writes it, or a prefix of one of at least
 * CATALOG_OWNER_PREFIX_MIN characters, in either case. The entry
 * must be the only match: the name's one owner, or the one the prefix
 * chooses. Copies its capability into cap and its size into *size (either
 * may be NULL); fills *owners (when not NULL) with the owners that matched.
 * Returns 0, SHOAL_ENOTFOUND (no match, or a prefix too short) or
 * SHOAL_EAMBIGUOUS (several matched).
 */
int catalog_lookup(struct catalog *cat, const char *name, const char *owner,
		   char cap[CAPABILITY_STR_LEN + 1], uint64_t *size, struct catalog_owners *owners);

/* A live entry as catalog_foreach() shows it; every pointer is borrowed for
 * the call only. owner is NODE_ID_LEN bytes. */
struct catalog_item {
	const char *name;
	uint64_t size;
	const char *cap;
	const uint8_t *owner;
	const char *owner_nickname; /* from the owner's certificate, "" if none */
	int64_t time_us;
};

/* Called for each item; a non-zero return stops the walk. Must not change the
 * catalog. */
typedef int (*catalog_fn)(const struct catalog_item *it, void *arg);

/*
 * Calls fn for every live entry (removals are not shown), ordered by name
 * (bytewise), then owner id. Returns 0, the first non-zero value fn returned,
 * or -ENOMEM (fn not called). Without a catalog there is nothing to walk: 0.
 */
int catalog_foreach(struct catalog *cat, catalog_fn fn, void *arg);

#endif
