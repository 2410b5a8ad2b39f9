/*
 * Recovery records and name tables: the rules, nothing of the network.
 *
 * A RecoveryRecord says where a node's name table is: its sealed capability
 * (crypto/recovery.h) under a locator, with a sequence number, signed by the
 * node that placed it with its node key. The signed bytes are
 *
 *   "shoal recovery v1" 0x00 || owner (32) || seq (8 BE) || locator (32)
 *   || len(sealed) (2 BE) || sealed
 *
 * where owner is the node id of the certificate the record carries. A holder
 * checks the certificate against the network's CA and the signature before
 * it keeps a record; whoever recovers checks both again (a holder may lie),
 * and then opens the capability, which only the recovery secret can.
 *
 * A NameTable is every version of every name of a node, as a protobuf
 * message; it is stored as an ordinary file.
 */
#ifndef SHOAL_PROTO_RECOVERY_H
#define SHOAL_PROTO_RECOVERY_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/types.h>

#include "crypto/identity.h"
#include "crypto/recovery.h"
#include "proto/capability.h"
#include "proto/name.h"
#include "proto/shoal.pb-c.h"
#include "util/buf.h"

#define RECOVERY_DOMAIN	    "shoal recovery v1"
#define RECOVERY_CERT_MAX   2048 /* owner certificate DER bytes (the wire's WIRE_CERT_MAX) */
#define RECOVERY_SEALED_MAX 256	 /* sealed capability bytes (WIRE_SEALED_MAX) */
#define RECOVERY_SIG_LEN    IDENTITY_SIG_LEN
#define RECOVERY_SIGNED_MAX \
	(sizeof(RECOVERY_DOMAIN) + NODE_ID_LEN + 8 + RECOVERY_LOCATOR_LEN + 2 + RECOVERY_SEALED_MAX)
/* A packed record's largest size (a file in the home, a call's reply). */
#define RECOVERY_RECORD_MAX 4096
/* Versions one name table may list, and its packed size. */
#define RECOVERY_TABLE_ENTRIES_MAX 1000000
#define RECOVERY_TABLE_MAX	   ((size_t)256 * 1024 * 1024)

/* One record, self-contained (no pointers). owner is known once checked. */
struct recovery_record {
	uint8_t cert[RECOVERY_CERT_MAX];
	size_t cert_len;
	uint64_t seq;
	uint8_t locator[RECOVERY_LOCATOR_LEN];
	uint8_t sealed[RECOVERY_SEALED_MAX];
	size_t sealed_len;
	uint8_t sig[RECOVERY_SIG_LEN];
	uint8_t owner[NODE_ID_LEN];
};

/* Writes r's signed bytes (owner: r->owner) into out; returns their length. */
size_t recovery_signed_bytes(const struct recovery_record *r, uint8_t out[RECOVERY_SIGNED_MAX]);

/*
 * Fills out with a record signed by key (borrowed, the node's Ed25519 key)
 * for owner (key's node id), cert_der[0..cert_len) (its certificate), seq,
 * locator and sealed[0..sealed_len). Returns 0, SHOAL_ETOOBIG (cert or
 * sealed too long), SHOAL_EIDENTITY or SHOAL_ECRYPTO.
 */
int recovery_record_sign(EVP_PKEY *key, const uint8_t owner[NODE_ID_LEN], const uint8_t *cert_der,
			 size_t cert_len, uint64_t seq, const uint8_t locator[RECOVERY_LOCATOR_LEN],
			 const uint8_t *sealed, size_t sealed_len, struct recovery_record *out);

/* Copies m into out, checking shapes only (lengths): 0 or SHOAL_EPROTO. */
int recovery_record_from_pb(const Shoal__RecoveryRecord *m, struct recovery_record *out);

/* Fills m (initialising it) borrowing r's memory. */
void recovery_record_to_pb(const struct recovery_record *r, Shoal__RecoveryRecord *m);

/*
 * Checks r: its certificate is one of the network of ca_cert (borrowed) and
 * valid now (sets r->owner), and the signature is its key's over the signed
 * bytes. Returns 0, or SHOAL_EIDENTITY with *why (may be NULL) set to a
 * static phrase.
 */
int recovery_record_verify(X509 *ca_cert, struct recovery_record *r, const char **why);

/* Packs r as a RecoveryRecord message into out (appended). 0 or -ENOMEM. */
int recovery_record_pack(const struct recovery_record *r, struct buf *out);
/* Unpacks p[0..n) (at most RECOVERY_RECORD_MAX) into out: 0 or SHOAL_EPROTO. */
int recovery_record_unpack(const uint8_t *p, size_t n, struct recovery_record *out);

/* One version of a name in a table. */
struct recovery_entry {
	char name[NAME_MAX_LEN + 1];
	uint32_t version;
	char cap[CAPABILITY_STR_LEN + 1];
	uint64_t size;
	int64_t created;
};

/* Packs entries e[0..n) as a NameTable into out (appended). 0, SHOAL_ETOOBIG or
 * -ENOMEM. */
int recovery_table_pack(const struct recovery_entry *e, size_t n, struct buf *out);

/*
 * Unpacks p[0..n) as a NameTable into *out (malloc'd, *count entries; free()).
 * Every entry is checked: a valid name, version >= 1, a capability that
 * parses; format 1. Returns 0, SHOAL_EPROTO, SHOAL_EVERSION, SHOAL_ETOOBIG
 * or -ENOMEM.
 */
int recovery_table_unpack(const uint8_t *p, size_t n, struct recovery_entry **out, size_t *count);

#endif
