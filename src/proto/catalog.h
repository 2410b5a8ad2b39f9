/*
 * Catalog entries: what a node publishes to the network catalog (name, size,
 * capability, owner, time, or a removal), signed by the publishing node. This
 * module holds the rules and nothing of the network: the bytes a signature
 * covers, signing, the checks every entry received or loaded must pass, and
 * conversions between the protobuf message (proto/shoal.proto, CatalogEntry)
 * and a plain struct. The signed bytes are
 *
 *   "shoal catalog v1" 0x00 || owner (32) || time (int64, 8 bytes big-endian)
 *   || removed (1 byte, 0 or 1) || size (8 BE) || len(name) (2 BE) || name
 *   || len(cap) (2 BE) || cap
 *
 * where owner is the node id of the certificate carried in the entry.
 */
#ifndef SHOAL_PROTO_CATALOG_H
#define SHOAL_PROTO_CATALOG_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/types.h>

#include "crypto/hash.h"
#include "crypto/identity.h"
#include "proto/capability.h"
#include "proto/name.h"
#include "proto/shoal.pb-c.h"

#define CATALOG_SIG_LEN	 IDENTITY_SIG_LEN
#define CATALOG_CERT_MAX 2048 /* owner certificate DER bytes (the wire's WIRE_CERT_MAX) */
#define CATALOG_DOMAIN	 "shoal catalog v1"
/* Longest signed byte string: domain and NUL, owner, time, removed, size, two
 * lengths, the longest name and capability. */
#define CATALOG_SIGNED_MAX                                                         \
	(sizeof(CATALOG_DOMAIN) + NODE_ID_LEN + 8 + 1 + 8 + 2 + NAME_MAX_LEN + 2 + \
	 CAPABILITY_STR_LEN)

/*
 * One entry in memory. An entry filled by catalog_entry_sign() or
 * catalog_entry_from_pb() owns name and cert (malloc'd; free with
 * catalog_entry_release()); one filled by hand may borrow them and is then
 * never released. Invariants every function here keeps: name is at most
 * NAME_MAX_LEN bytes, cap at most CAPABILITY_STR_LEN, cert_len
 * 1..CATALOG_CERT_MAX.
 */
struct catalog_entry {
	char *name; /* NUL-terminated */
	uint64_t size;
	char cap[CAPABILITY_STR_LEN + 1]; /* as signed (either case); "" in a removal */
	int64_t time_us;		  /* microseconds since the epoch */
	int removed;			  /* 0 or 1 */
	uint8_t owner[NODE_ID_LEN];	  /* the certificate's node id, once known */
	uint8_t *cert;			  /* DER certificate of the owner */
	size_t cert_len;
	uint8_t sig[CATALOG_SIG_LEN];
};

/*
 * Writes the signed bytes of e (with e->owner as the owner) into out and
 * returns their length (at most CATALOG_SIGNED_MAX).
 */
size_t catalog_signed_bytes(const struct catalog_entry *e, uint8_t out[CATALOG_SIGNED_MAX]);

/* SHA-256 of e's signed bytes: what the catalog digest XORs together. */
void catalog_entry_hash(const struct catalog_entry *e, uint8_t out[SHA256_LEN]);

/*
 * Fills out with a new entry signed by key (borrowed, the node's Ed25519
 * private key): owner = key's node id, cert = a copy of cert_der[0..cert_len)
 * (the DER certificate for key), name, size, cap (NULL means ""), time_us and
 * removed (0 or 1). It signs what it is given and checks only the lengths of
 * the invariants above: whether the content is acceptable is
 * catalog_entry_verify()'s question (test tools use this to forge entries).
 * Returns 0 (release out with catalog_entry_release()), SHOAL_EBADNAME (name
 * too long), SHOAL_EBADCAP (cap too long), SHOAL_EIDENTITY (cert length, or
 * key is no Ed25519 private key) or SHOAL_ECRYPTO; out is untouched on failure.
 */
int catalog_entry_sign(EVP_PKEY *key, const uint8_t *cert_der, size_t cert_len, const char *name,
		       uint64_t size, const char *cap, int64_t time_us, int removed,
		       struct catalog_entry *out);

/*
 * Copies the protobuf message m into out (name and cert allocated; owner
 * zeroed, as it is known only once the certificate is checked). Checks the
 * shapes only: name at most NAME_MAX_LEN bytes (SHOAL_EBADNAME), capability
 * at most CAPABILITY_STR_LEN (SHOAL_EBADCAP), certificate 1..CATALOG_CERT_MAX
 * bytes and signature CATALOG_SIG_LEN bytes (SHOAL_EPROTO). When why is not
 * NULL, a failure sets *why to a static phrase for logs. Returns 0 (release
 * out with catalog_entry_release()) or the code; out is untouched on failure.
 */
int catalog_entry_from_pb(const Shoal__CatalogEntry *m, struct catalog_entry *out,
			  const char **why);

/*
 * Fills m (initialising it) with e's fields. m borrows e's memory: it is valid
 * while e is and unchanged, and is never freed with protobuf-c's free
 * functions.
 */
void catalog_entry_to_pb(const struct catalog_entry *e, Shoal__CatalogEntry *m);

/* Frees what e owns and zeroes it. NULL is fine. */
void catalog_entry_release(struct catalog_entry *e);

/*
 * Parses der[0..len) as a certificate (exactly: nothing may follow it) and
 * verifies it against ca_cert with identity_verify_cert(). On success fills
 * owner with its node id and, when cert_out is not NULL, gives the parsed
 * certificate to the caller (X509_free()). Returns 0, SHOAL_EIDENTITY
 * (unparsable, or not a certificate of this network valid now) or
 * SHOAL_ECRYPTO.
 */
int catalog_cert_check(X509 *ca_cert, const uint8_t *der, size_t len, X509 **cert_out,
		       uint8_t owner[NODE_ID_LEN]);

/*
 * Checks everything but the certificate's standing: cert (borrowed) is the
 * already-verified certificate of e->owner. Rules, in order: name valid per
 * name_validate() (SHOAL_EBADNAME); a live entry's capability parses with
 * capability_parse() (SHOAL_EBADCAP), a removal's is empty (SHOAL_EPROTO);
 * time_us > 0 (SHOAL_EPROTO); sig is the Ed25519 signature by cert's key of
 * e's signed bytes (SHOAL_EIDENTITY). When why is not NULL, a failure sets it
 * to a static phrase for logs. Returns 0 or the code.
 */
int catalog_entry_check_signed(X509 *cert, const struct catalog_entry *e, const char **why);

/*
 * The whole check of an entry: catalog_cert_check() on e->cert, which sets
 * e->owner, then catalog_entry_check_signed(). Returns 0 or the code of the
 * first rule broken (see both); *why as for catalog_entry_check_signed().
 */
int catalog_entry_verify(X509 *ca_cert, struct catalog_entry *e, const char **why);

/*
 * The same check for a protobuf message: catalog_entry_from_pb() then
 * catalog_entry_verify(). On success fills owner (the publishing node's id).
 * Returns 0 or the code of the first rule broken.
 */
int catalog_entry_check(X509 *ca_cert, const Shoal__CatalogEntry *e, uint8_t owner[NODE_ID_LEN]);

#endif
