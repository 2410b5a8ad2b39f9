/*
 * Enrollment requests: how a node gets its certificate without the CA key on
 * its machine. `shoal init --request` makes the node key and writes a request
 * (its public key, nickname, listen address and time, signed by that key as
 * proof of possession); whoever holds the network file checks it and signs a
 * certificate for the key (`shoal network sign`). This module holds the rules
 * and nothing of the files: the bytes the signature covers, signing, the text
 * form and its strict parser. The text is
 *
 *   -----BEGIN SHOAL NODE REQUEST-----
 *   base64 of an EnrollRequest message (proto/shoal.proto), 64 columns
 *   -----END SHOAL NODE REQUEST-----
 *
 * and the signed bytes are
 *
 *   "shoal enroll request v1" 0x00 || public_key (32) || time (int64, 8 bytes
 *   big-endian) || len(nickname) (1) || nickname || len(listen) (2 BE) || listen
 *
 * A request is no secret: anyone may read it. What it proves is that whoever
 * made it holds the private key; whether to sign it is the CA holder's call.
 */
#ifndef SHOAL_PROTO_ENROLL_H
#define SHOAL_PROTO_ENROLL_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/types.h>

#include "crypto/identity.h"
#include "util/buf.h"

#define ENROLL_PEM_NAME	   "SHOAL NODE REQUEST"
#define ENROLL_DOMAIN	   "shoal enroll request v1"
#define ENROLL_LISTEN_MAX  255	/* bytes of the listen address */
#define ENROLL_MESSAGE_MAX 512	/* bytes of the EnrollRequest message */
#define ENROLL_TEXT_MAX	   2048 /* bytes of the whole text */
#define ENROLL_SIGNED_MAX \
	(sizeof(ENROLL_DOMAIN) + IDENTITY_KEY_LEN + 8 + 1 + NICKNAME_MAX + 2 + ENROLL_LISTEN_MAX)

/*
 * One request. Invariants every function here keeps for a request it fills:
 * nickname is "" or passes nickname_check(); listen is 1..ENROLL_LISTEN_MAX
 * printable ASCII characters other than space; time > 0.
 */
struct enroll_request {
	uint8_t public_key[IDENTITY_KEY_LEN]; /* raw Ed25519 */
	char nickname[NICKNAME_MAX + 1];      /* "" for none */
	char listen[ENROLL_LISTEN_MAX + 1];   /* the address the node will listen on */
	int64_t time;			      /* Unix seconds it was made */
	uint8_t sig[IDENTITY_SIG_LEN];
};

/* Writes the signed bytes of r into out and returns their length (at most
 * ENROLL_SIGNED_MAX; the lengths are clamped to the invariants). */
size_t enroll_signed_bytes(const struct enroll_request *r, uint8_t out[ENROLL_SIGNED_MAX]);

/*
 * Fills out with a request for key (borrowed: the node's Ed25519 private key),
 * nickname (NULL or "" for none), listen and time, signed by key. Returns 0,
 * SHOAL_EPROTO (a nickname, listen address or time outside the invariants),
 * SHOAL_EIDENTITY (key is no Ed25519 private key) or SHOAL_ECRYPTO; out is
 * untouched on failure.
 */
int enroll_request_sign(EVP_PKEY *key, const char *nickname, const char *listen, int64_t time,
			struct enroll_request *out);

/*
 * Checks a request's fields against the invariants and its signature against
 * its public key. Returns 0, or SHOAL_EPROTO with *why (when not NULL) set to a
 * static one-line reason.
 */
int enroll_request_check(const struct enroll_request *r, const char **why);

/*
 * Appends the text form of r (what the parser reads, ending in a newline) to
 * out. r is written as it is, checked or not. Returns 0, -ENOMEM or
 * SHOAL_ECRYPTO.
 */
int enroll_request_format(const struct enroll_request *r, struct buf *out);

/*
 * Parses the text form strictly: at most ENROLL_TEXT_MAX bytes, no NUL,
 * nothing but white space around one BEGIN/END SHOAL NODE REQUEST block
 * without headers, valid base64 of at most ENROLL_MESSAGE_MAX bytes that
 * unpack to an EnrollRequest in its one canonical encoding (no unknown,
 * repeated or default-valued-but-present fields: packing it again gives the
 * same bytes), a 32-byte key, a 64-byte signature, and then
 * enroll_request_check(). Returns 0 with out filled, or SHOAL_ETOOBIG /
 * SHOAL_EPROTO with *why (when not NULL) set to a static one-line reason, or
 * SHOAL_ECRYPTO; out is untouched on failure.
 */
int enroll_request_parse(const void *text, size_t len, struct enroll_request *out,
			 const char **why);

#endif
