/*
 * Node identity. A network is defined by a CA: an Ed25519 key and a self-signed
 * X.509 certificate, kept together in a "network file". Each node has its own
 * Ed25519 key and a certificate issued by that CA; the node id is the SHA-256 of
 * the node's raw 32-byte public key, written in base32. A node certificate's
 * subject is CN = the node id, and pseudonym = the node's nickname when it has
 * one, so that peers learn the nickname from the TLS handshake and only the CA
 * can set it. This module creates and loads that material (home/node.key,
 * home/node.crt, home/ca.crt, and home/node.key.pending while a node waits for
 * its certificate), issues and renews certificates with a network's CA,
 * verifies a peer's certificate against the CA, and signs and checks messages
 * (catalog entries, enrollment requests) with node keys, with OpenSSL 3 EVP
 * APIs only.
 *
 * Functions that judge material a user hands over (a network file, a
 * certificate file) take `const char **why`: on refusal, when not NULL, it
 * receives a static one-line English reason, and nothing is logged, so that the
 * caller prints one line.
 */
#ifndef SHOAL_CRYPTO_IDENTITY_H
#define SHOAL_CRYPTO_IDENTITY_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/types.h>

#define NODE_ID_LEN	 32
#define NODE_ID_STR_LEN	 52 /* base32 of NODE_ID_LEN bytes */
#define IDENTITY_KEY_LEN 32 /* raw Ed25519 public key bytes */

/* Lifetime of a node certificate, in days: the default, and the most that
 * network_issue() accepts. */
#define NODE_LIFETIME_DAYS     365
#define NODE_LIFETIME_DAYS_MAX 36500

/* A nickname: 1..NICKNAME_MAX characters of [a-z0-9._-], the first a letter or
 * a digit. Short, lower case and free of spaces and control bytes, so that it
 * can be printed anywhere and typed back. */
#define NICKNAME_MAX 32

/* Checks s against the nickname rule above. Returns 0 or SHOAL_EPROTO. */
int nickname_check(const char *s);

/* A network file, loaded: the CA key and certificate, both owned. */
struct network {
	EVP_PKEY *ca_key;
	X509 *ca_cert;
};

/*
 * Creates a new network at path: a fresh CA key and self-signed CA certificate,
 * written as the CA private key PEM followed by the CA certificate PEM. The file
 * appears whole, mode 0600, never replacing one (a temp file renamed with
 * ATOMIC_NOREPLACE), and is fsynced with its directory before returning. Returns 0, SHOAL_EEXIST if
 * path exists, SHOAL_ECRYPTO, or -errno; on failure no file is left behind.
 */
int network_create(const char *path);

/*
 * Loads the network file at path into out: the CA key and certificate must
 * both be present and match. Returns 0 (release out with network_release()),
 * -errno (unreadable), SHOAL_ETOOBIG, or SHOAL_EIDENTITY (with *why).
 */
int network_load(const char *path, struct network *out, const char **why);

/* Frees what net holds and clears it. NULL members (and a cleared net) are fine. */
void network_release(struct network *net);

/*
 * Issues a node certificate for node_pub (only its public half is used) with
 * net's CA: identity_issue_named_cert() with nickname (NULL or "" for none; else
 * it must pass nickname_check()), valid from an hour ago until days days from
 * now (1..NODE_LIFETIME_DAYS_MAX), then checked the way peers will check it.
 * Returns 0 with *out set (free with X509_free()), -EINVAL (days out of range),
 * SHOAL_EPROTO (bad nickname), SHOAL_EIDENTITY (node_pub is not Ed25519, or the
 * CA cannot issue a valid certificate, say because it expired; with *why), or
 * SHOAL_ECRYPTO.
 */
int network_issue(const struct network *net, EVP_PKEY *node_pub, const char *nickname, int days,
		  X509 **out, const char **why);

/*
 * Renews old, a node certificate net's CA issued (whether or not it expired):
 * a new certificate for the same key and the same nickname, valid for days
 * days from now (network_issue()). Returns what network_issue() returns, and
 * SHOAL_EIDENTITY (with *why) when old is not a node certificate of this CA.
 */
int network_renew(const struct network *net, X509 *old, int days, X509 **out, const char **why);

/*
 * Initialises the node identity inside the existing directory home, in one
 * step: loads the network file (network_load(); its refusal is logged),
 * generates a node key, issues its certificate (network_issue(), no nickname,
 * NODE_LIFETIME_DAYS) and writes home/node.crt and home/ca.crt
 * (identity_write_certs()) and last home/node.key (0600), so that node.key
 * exists only once the identity is complete. Returns SHOAL_EEXIST if home/node.key
 * already exists, else as network_load() and network_issue(). On success fills
 * id with the new node id. (A node home also needs a store: see node/home.h.)
 */
int identity_init(const char *home, const char *network_path, uint8_t id[NODE_ID_LEN]);

/* What a home holds of an identity. */
enum identity_state {
	IDENTITY_NONE,	   /* no node key at all */
	IDENTITY_PENDING,  /* home/node.key.pending: a request waits for its certificate */
	IDENTITY_COMPLETE, /* home/node.key: a complete node */
};

/* Returns home's enum identity_state (>= 0; a missing home is IDENTITY_NONE),
 * or -errno. */
int identity_state(const char *home);

/* Generates a new Ed25519 key into *out (free with EVP_PKEY_free()). Returns 0
 * or SHOAL_ECRYPTO. */
int identity_key_new(EVP_PKEY **out);

/* Writes key (borrowed) as home/node.key.pending, atomically, mode 0600.
 * Returns 0, SHOAL_EEXIST (a pending key or node.key exists), SHOAL_ECRYPTO or
 * -errno. */
int identity_pending_write(const char *home, EVP_PKEY *key);

/* Loads home/node.key.pending into *out (free with EVP_PKEY_free()). Returns 0,
 * -errno (-ENOENT: none) or SHOAL_EIDENTITY. */
int identity_pending_load(const char *home, EVP_PKEY **out);

/* Completes the identity: renames home/node.key.pending to home/node.key (never
 * replacing one: SHOAL_EEXIST) and fsyncs home. Returns 0 or -errno. */
int identity_pending_commit(const char *home);

/* Removes home/node.key.pending, if any (a request given up). */
void identity_pending_remove(const char *home);

/*
 * Writes node_cert as home/node.crt and then, unless ca_cert is NULL, ca_cert
 * as home/ca.crt, each atomically with mode 0600 (both borrowed). Replaces the
 * files that exist: this is how a renewed certificate is installed. Returns 0,
 * SHOAL_ECRYPTO or -errno.
 */
int identity_write_certs(const char *home, X509 *node_cert, X509 *ca_cert);

/*
 * A certificate file, as `shoal network sign` writes it for a node: the node
 * certificate PEM, then the CA certificate PEM. identity_bundle_write() creates
 * path (never replacing a file: SHOAL_EEXIST) with mode 0644, since it holds no
 * secret and is meant to be carried to the node. identity_bundle_load() reads
 * exactly those two certificates and nothing else; on success *node_cert and
 * *ca_cert receive new certificates (free with X509_free()). Each returns 0,
 * -errno, SHOAL_ECRYPTO, or for load SHOAL_ETOOBIG or SHOAL_EIDENTITY (with *why).
 */
int identity_bundle_write(const char *path, X509 *node_cert, X509 *ca_cert);
int identity_bundle_load(const char *path, X509 **node_cert, X509 **ca_cert, const char **why);

/*
 * Computes the node id (SHA-256 of the raw public key) of an Ed25519 key, public
 * or private. pkey is borrowed. Returns 0, SHOAL_EIDENTITY if pkey is not an
 * Ed25519 key, or SHOAL_ECRYPTO.
 */
int node_id_from_pkey(EVP_PKEY *pkey, uint8_t id[NODE_ID_LEN]);

/* Computes the node id of a raw Ed25519 public key. Returns 0 or SHOAL_ECRYPTO. */
int node_id_from_raw(const uint8_t raw[IDENTITY_KEY_LEN], uint8_t id[NODE_ID_LEN]);

/* Writes the raw public half of the Ed25519 key pkey (borrowed) into raw.
 * Returns 0, SHOAL_EIDENTITY (not an Ed25519 key) or SHOAL_ECRYPTO. */
int identity_public_raw(EVP_PKEY *pkey, uint8_t raw[IDENTITY_KEY_LEN]);

/* Makes a public-only Ed25519 key from its raw bytes into *out (free with
 * EVP_PKEY_free()). Returns 0 or SHOAL_ECRYPTO. */
int identity_public_from_raw(const uint8_t raw[IDENTITY_KEY_LEN], EVP_PKEY **out);

/*
 * Loads home/node.crt and home/node.key, checks that the certificate carries the
 * key's public half, and fills id. Returns 0, -errno (e.g. -ENOENT when home has
 * no identity yet), or SHOAL_EIDENTITY (unparsable or mismatched material).
 */
int identity_load_id(const char *home, uint8_t id[NODE_ID_LEN]);

/*
 * Loads home/node.crt into *cert, home/node.key into *key and, when ca is not
 * NULL, home/ca.crt into *ca (each new: the caller frees them), and checks that
 * the certificate carries the key's public half. Returns 0, -errno, SHOAL_ETOOBIG
 * or SHOAL_EIDENTITY (logged); nothing is returned on failure.
 */
int identity_load_home(const char *home, X509 **cert, EVP_PKEY **key, X509 **ca);

/* Writes id as NODE_ID_STR_LEN base32 characters and a NUL into out. */
void node_id_format(const uint8_t id[NODE_ID_LEN], char out[NODE_ID_STR_LEN + 1]);

/*
 * Parses a node id written by node_id_format (exactly NODE_ID_STR_LEN base32
 * characters). Returns 0 or SHOAL_EPROTO; id is unspecified on failure.
 */
int node_id_parse(const char *s, uint8_t id[NODE_ID_LEN]);

/*
 * Loads the first PEM private key in the file at path (other PEM blocks, such as
 * certificates, may come before it). The key must be an unencrypted Ed25519 key.
 * On success *out receives a new key that the caller frees with EVP_PKEY_free().
 * Returns 0, -errno, SHOAL_ETOOBIG, or SHOAL_EIDENTITY (no usable key in the file).
 */
int identity_load_key(const char *path, EVP_PKEY **out);

/*
 * Loads the first PEM certificate in the file at path. On success *out receives
 * a new certificate that the caller frees with X509_free(). Returns 0, -errno,
 * SHOAL_ETOOBIG, or SHOAL_EIDENTITY (no certificate in the file).
 */
int identity_load_cert(const char *path, X509 **out);

/* identity_load_cert() that logs nothing: on SHOAL_EIDENTITY *why (when not
 * NULL) receives the reason. */
int identity_read_cert(const char *path, X509 **out, const char **why);

/*
 * Issues a node certificate for the Ed25519 key node_pub (only its public half is
 * used), signed by ca_key as the issuer named in ca_cert: CA:FALSE, keyUsage
 * digitalSignature, extendedKeyUsage serverAuth+clientAuth, subject CN = the node
 * id string and, when nickname is neither NULL nor "", pseudonym = nickname
 * (whatever it holds: checking it is the caller's business, so that tests can
 * forge bad ones), a random 128-bit serial, valid from now + not_before_offset
 * to now + not_after_offset seconds (negative offsets give certificates in the
 * past). All arguments are borrowed; on success *out receives a new certificate
 * that the caller frees with X509_free(). Returns 0, SHOAL_EIDENTITY (node_pub
 * is not Ed25519), or SHOAL_ECRYPTO.
 */
int identity_issue_named_cert(EVP_PKEY *ca_key, X509 *ca_cert, EVP_PKEY *node_pub,
			      const char *nickname, long not_before_offset, long not_after_offset,
			      X509 **out);

/* identity_issue_named_cert() without a nickname. */
int identity_issue_cert(EVP_PKEY *ca_key, X509 *ca_cert, EVP_PKEY *node_pub, long not_before_offset,
			long not_after_offset, X509 **out);

/*
 * The nickname in cert's subject (its one pseudonym attribute) into out, or ""
 * when it has none, several, or one that fails nickname_check(). cert is
 * borrowed. Returns 0.
 */
int identity_cert_nickname(X509 *cert, char out[NICKNAME_MAX + 1]);

/* The end of cert's validity (notAfter) as Unix seconds into *unix_seconds.
 * Returns 0 or SHOAL_EIDENTITY (an unreadable time). */
int identity_cert_expiry(X509 *cert, int64_t *unix_seconds);

/*
 * Reads home/node.crt and fills nick (identity_cert_nickname()) and *expires
 * (identity_cert_expiry()): what `shoal status` tells of the node's own
 * certificate. Returns 0, -errno, SHOAL_ETOOBIG or SHOAL_EIDENTITY.
 */
int identity_load_nickname_expiry(const char *home, char nick[NICKNAME_MAX + 1], int64_t *expires);

/*
 * Verifies that cert is a leaf (not a CA) certificate with an Ed25519 key that
 * chains to ca_cert and is valid now (X509_verify_cert, purpose any). Both are
 * borrowed. On success fills id from the certificate's public key. Returns 0,
 * SHOAL_EIDENTITY (rejected; the reason is logged at debug level), or
 * SHOAL_ECRYPTO (OpenSSL could not allocate the verification context).
 */
int identity_verify_cert(X509 *ca_cert, X509 *cert, uint8_t id[NODE_ID_LEN]);

/* identity_verify_cert() that logs nothing and, on SHOAL_EIDENTITY, sets *why
 * (when not NULL) to the reason: "the certificate has expired", "... was not
 * issued by the CA certificate given", and the like. */
int identity_check_cert(X509 *ca_cert, X509 *cert, uint8_t id[NODE_ID_LEN], const char **why);

#define IDENTITY_SIG_LEN 64 /* Ed25519 signature bytes */

/*
 * Signs msg[0..len) with the Ed25519 private key key (borrowed; EVP_DigestSign
 * with no digest, as Ed25519 hashes the message itself) and writes the
 * IDENTITY_SIG_LEN-byte signature into sig. Returns 0, SHOAL_EIDENTITY (key is
 * not an Ed25519 private key) or SHOAL_ECRYPTO.
 */
int identity_sign(EVP_PKEY *key, const uint8_t *msg, size_t len, uint8_t sig[IDENTITY_SIG_LEN]);

/*
 * Checks that sig is the Ed25519 signature of msg[0..len) by the key that cert
 * (borrowed) certifies. Only the signature is checked: whether cert belongs to
 * the network is identity_verify_cert()'s question. Returns 0, or
 * SHOAL_EIDENTITY (not an Ed25519 certificate, or a bad signature).
 */
int identity_verify_signature(X509 *cert, const uint8_t *msg, size_t len,
			      const uint8_t sig[IDENTITY_SIG_LEN]);

/* identity_verify_signature() with the public key pub (borrowed) itself. */
int identity_verify_key_signature(EVP_PKEY *pub, const uint8_t *msg, size_t len,
				  const uint8_t sig[IDENTITY_SIG_LEN]);

#endif
