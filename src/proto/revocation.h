/*
 * Revocations: the network CA's word that a node is no member any more. This
 * module holds the rules and nothing of the network: the bytes the CA's
 * signature covers, signing, the checks every revocation received or loaded
 * must pass, and conversions between the protobuf message (Revocation in
 * proto/shoal.proto) and a plain struct. The signed bytes are
 *
 *   "shoal revocation v1" 0x00 || node id (32) || time (int64, 8 bytes
 *   big-endian) || len(reason) (2 BE) || reason
 *
 * signed with the CA's Ed25519 key and checked against the CA certificate
 * (the one in home/ca.crt): no other key can revoke, and a revocation names
 * its node for good.
 */
#ifndef SHOAL_PROTO_REVOCATION_H
#define SHOAL_PROTO_REVOCATION_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/types.h>

#include "crypto/identity.h"
#include "proto/shoal.pb-c.h"

#define REVOCATION_DOMAIN     "shoal revocation v1"
#define REVOCATION_REASON_MAX 256 /* bytes (the wire's WIRE_TEXT_MAX) */
#define REVOCATION_SIGNED_MAX \
	(sizeof(REVOCATION_DOMAIN) + NODE_ID_LEN + 8 + 2 + REVOCATION_REASON_MAX)
/* Revocations in one Revocations frame: each packs to at most ~370 bytes,
 * so a frame stays well inside FRAME_HEADER_MAX. */
#define REVOCATIONS_PER_FRAME 128

struct revocation {
	uint8_t node[NODE_ID_LEN];
	int64_t time; /* Unix seconds it was signed */
	char reason[REVOCATION_REASON_MAX + 1];
	uint8_t sig[IDENTITY_SIG_LEN];
};

/* Writes the signed bytes of r into out; returns their length. */
size_t revocation_signed_bytes(const struct revocation *r, uint8_t out[REVOCATION_SIGNED_MAX]);

/*
 * Fills out with a revocation of node, dated time, for reason (NULL: ""),
 * signed by ca_key (borrowed; the network's Ed25519 CA key). Returns 0,
 * SHOAL_ETOOBIG (reason longer than REVOCATION_REASON_MAX), SHOAL_EIDENTITY
 * (not an Ed25519 private key) or SHOAL_ECRYPTO.
 */
int revocation_sign(EVP_PKEY *ca_key, const uint8_t node[NODE_ID_LEN], int64_t time,
		    const char *reason, struct revocation *out);

/*
 * Checks r's signature against the CA certificate ca (borrowed). Returns 0 or
 * SHOAL_EIDENTITY.
 */
int revocation_verify(X509 *ca, const struct revocation *r);

/*
 * Converts a received message: the node id and signature of their exact
 * lengths, a reason of at most REVOCATION_REASON_MAX bytes without NUL bytes,
 * a time >= 0. Returns 0 or SHOAL_EPROTO (out unspecified). The signature is
 * not checked here (revocation_verify()).
 */
int revocation_from_pb(const Shoal__Revocation *pb, struct revocation *out);

/* Points pb's fields at r's (borrowed: valid while r is). */
void revocation_to_pb(const struct revocation *r, Shoal__Revocation *pb);

#endif
