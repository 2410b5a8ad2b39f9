/*
 * Node identity. A network is defined by a CA: an Ed25519 key and a self-signed
 * X.509 certificate, kept together in a "network file". Each node has its own
 * Ed25519 key and a certificate issued by that CA; the node id is the SHA-256 of
 * the node's raw 32-byte public key, written in base32. This module creates and
 * loads that material (home/node.key, home/node.crt, home/ca.crt) and verifies a
 * peer's certificate against the CA, and signs and checks messages (catalog
 * entries) with node keys, with OpenSSL 3 EVP APIs only.
 */
#ifndef SHOAL_CRYPTO_IDENTITY_H
#define SHOAL_CRYPTO_IDENTITY_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/types.h>

#define NODE_ID_LEN	32
#define NODE_ID_STR_LEN 52 /* base32 of NODE_ID_LEN bytes */

/*
 * Creates a new network at path: a fresh CA key and self-signed CA certificate,
 * written as the CA private key PEM followed by the CA certificate PEM. The file
 * is created with O_EXCL and mode 0600, written fully and fsynced (with its
 * directory) before returning. Returns 0, SHOAL_EEXIST if path exists,
 * SHOAL_ECRYPTO, or -errno; on failure no file is left behind.
 */
int network_create(const char *path);

/*
 * Initialises the node identity inside the existing directory home. Reads the CA
 * key and certificate from network_path (both must be present and match, else
 * SHOAL_EIDENTITY; an unreadable file gives -errno), generates a node key, issues
 * its certificate and writes, each atomically: home/node.crt (0600), home/ca.crt
 * (the CA certificate only, never the CA key; 0600) and last home/node.key (0600),
 * so that node.key exists only once the identity is complete. Returns SHOAL_EEXIST
 * if home/node.key already exists. On success fills id with the new node id.
 */
int identity_init(const char *home, const char *network_path, uint8_t id[NODE_ID_LEN]);

/*
 * Computes the node id (SHA-256 of the raw public key) of an Ed25519 key, public
 * or private. pkey is borrowed. Returns 0, SHOAL_EIDENTITY if pkey is not an
 * Ed25519 key, or SHOAL_ECRYPTO.
 */
int node_id_from_pkey(EVP_PKEY *pkey, uint8_t id[NODE_ID_LEN]);

/*
 * Loads home/node.crt and home/node.key, checks that the certificate carries the
 * key's public half, and fills id. Returns 0, -errno (e.g. -ENOENT when home has
 * no identity yet), or SHOAL_EIDENTITY (unparsable or mismatched material).
 */
int identity_load_id(const char *home, uint8_t id[NODE_ID_LEN]);

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

/*
 * Issues a node certificate for the Ed25519 key node_pub (only its public half is
 * used), signed by ca_key as the issuer named in ca_cert: CA:FALSE, keyUsage
 * digitalSignature, extendedKeyUsage serverAuth+clientAuth, subject CN = the node
 * id string, a random 128-bit serial, valid from now + not_before_offset to now +
 * not_after_offset seconds (negative offsets give certificates in the past). All
 * arguments are borrowed; on success *out receives a new certificate that the
 * caller frees with X509_free(). Returns 0, SHOAL_EIDENTITY (node_pub is not
 * Ed25519), or SHOAL_ECRYPTO.
 */
int identity_issue_cert(EVP_PKEY *ca_key, X509 *ca_cert, EVP_PKEY *node_pub, long not_before_offset,
			long not_after_offset, X509 **out);

/*
 * Verifies that cert is a leaf (not a CA) certificate with an Ed25519 key that
 * chains to ca_cert and is valid now (X509_verify_cert, purpose any). Both are
 * borrowed. On success fills id from the certificate's public key. Returns 0,
 * SHOAL_EIDENTITY (rejected; the reason is logged at debug level), or
 * SHOAL_ECRYPTO (OpenSSL could not allocate the verification context).
 */
int identity_verify_cert(X509 *ca_cert, X509 *cert, uint8_t id[NODE_ID_LEN]);

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

#endif
