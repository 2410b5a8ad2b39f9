/*
 * The revocation list: every revocation this node has accepted, each signed
 * by the network CA (proto/revocation.h), kept for ever in home/revocations
 * (a Revocations message, written atomically, 0600) and checked against
 * home/ca.crt again when loaded. The list only says who is revoked; what a
 * revocation does (closing links, dropping catalog entries and pins,
 * spreading it) is members.c's, catalog.c's and serve.c's.
 *
 * Thread affinity: the loop thread.
 */
#ifndef SHOAL_NODE_REVOKE_H
#define SHOAL_NODE_REVOKE_H

#include <stddef.h>
#include <stdint.h>

#include "crypto/identity.h"
#include "proto/revocation.h"

/* Revocations a node keeps at most (a network's whole history of them). */
#define REVOKE_MAX 4096

struct revocations {
	X509 *ca;
	char path[4096 + 16];
	struct revocation *list; /* in order of arrival */
	size_t count, cap;
};

/* Loads home/ca.crt and home/revocations (missing: none yet); a revocation
 * that does not check out against the CA is skipped with a warning. Returns
 * 0 or an error (the CA certificate unreadable, out of memory). */
int revocations_open(struct revocations *rv, const char *home);
void revocations_close(struct revocations *rv);

/* The revocation of node, or NULL when it is a member in good standing. */
const struct revocation *revocations_find(const struct revocations *rv,
					  const uint8_t node[NODE_ID_LEN]);

/*
 * Adds r after checking its signature against the CA, and saves the list.
 * Returns 1 (new: added and saved), 0 (known already), SHOAL_EIDENTITY (not
 * signed by this network's CA), SHOAL_ETOOBIG (the list is full) or the
 * error that kept it from being saved (then it is not added either, so a
 * later copy of it is news again).
 */
int revocations_add(struct revocations *rv, const struct revocation *r);

/*
 * Packs revocations [from, from + REVOCATIONS_PER_FRAME) as a Revocations
 * message into env (an Envelope), pointing at rv's memory and at pbs/ptrs
 * (room for REVOCATIONS_PER_FRAME each). Returns how many it took (0 when
 * from >= count).
 */
size_t revocations_frame(const struct revocations *rv, size_t from, Shoal__Envelope *env,
			 Shoal__Revocations *msg, Shoal__Revocation *pbs, Shoal__Revocation **ptrs);

#endif
