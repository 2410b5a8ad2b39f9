/*
 * TLS for connections between nodes. Membership is cryptographic: every
 * connection is TLS 1.3 with mutual authentication, each side presenting its
 * node certificate (home/node.crt, key home/node.key) and accepting only a
 * certificate issued by the network CA (home/ca.crt, the sole trust anchor).
 * Sessions are never resumed, so every connection proves its certificate. After
 * the handshake the peer is named by its node id, the SHA-256 of the public key
 * in its certificate. OpenSSL 3 only; the transport (sockets, bufferevents) is
 * the caller's.
 */
#ifndef SHOAL_NET_TLS_H
#define SHOAL_NET_TLS_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/ssl.h>

#include "crypto/identity.h"

/*
 * Builds the SSL_CTX a node uses both to accept and to connect (the caller picks
 * the role per SSL with SSL_set_accept_state/SSL_set_connect_state):
 *  - TLS 1.3 only (minimum and maximum TLS1_3_VERSION), Ed25519 signatures only;
 *  - certificate home/node.crt with key home/node.key, which must match and
 *    which must itself verify against home/ca.crt (a node whose own certificate
 *    is expired or from another network fails here, not at every peer);
 *  - trust anchor home/ca.crt alone (no system store), X509_V_FLAG_X509_STRICT,
 *    no intermediate certificates (a node certificate is issued by the CA);
 *  - SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT in both directions, with a
 *    callback that also refuses a peer leaf that is a CA or not Ed25519, and
 *    logs at debug level why a peer certificate was refused;
 *  - no session tickets, no session cache, no resumption, no compression, no
 *    renegotiation.
 * Returns 0 with *out set to a new context that the caller frees with
 * SSL_CTX_free(); or SHOAL_EIDENTITY (missing, unreadable, unparsable, mismatched
 * or invalid identity files) or SHOAL_ECRYPTO (OpenSSL failed), either logged
 * once with the reason. On failure *out is not touched.
 */
int tls_ctx_new(const char *home, SSL_CTX **out);

/*
 * Names the peer of ssl, an SSL made from a context of tls_ctx_new() whose
 * handshake has completed: checks that the connection is TLS 1.3 and passed
 * certificate verification, takes the peer's certificate, verifies it again with
 * identity_verify_cert() against the context's CA (chain, validity, Ed25519 leaf,
 * not a CA) and fills id with the node id computed from its public key. ssl is
 * borrowed and not changed. Returns 0, SHOAL_EIDENTITY (no completed handshake,
 * no or refused certificate; logged at debug level), or SHOAL_ECRYPTO (OpenSSL
 * could not allocate). id is only written on success.
 */
int tls_peer_id(SSL *ssl, uint8_t id[NODE_ID_LEN]);

/*
 * Why a peer's certificate was refused, as the verify callback saw it, for a
 * log line in plain words. Only what is safe to print of an unauthenticated
 * certificate is kept: OpenSSL's verdict, a date formatted here, and a
 * fingerprint that tells one certificate from another (never printed).
 */
struct tls_refusal {
	long error;		 /* X509_V_ERR_*; 0 while nothing was refused */
	int depth;		 /* of the refused certificate in the chain (0: the leaf) */
	char date[32];		 /* expired: its notAfter; not yet valid: its notBefore */
	uint8_t fingerprint[32]; /* SHA-256 of the refused certificate (DER) */
};

/* Has the verify callback of ssl (an SSL of a tls_ctx_new() context, before
 * its handshake) fill *r, zeroed here, at the first certificate it refuses.
 * r is borrowed: it must outlive ssl or its handshake. Returns 0, or
 * SHOAL_ECRYPTO (then r is never written). */
int tls_refusal_watch(SSL *ssl, struct tls_refusal *r);
/* Writes into out (size bytes) why r's certificate was refused, in plain
 * words, e.g. "node from another network (its certificate is not signed by
 * this network's CA)" or "node whose certificate expired on 2024-05-01 12:00
 * UTC". Returns out. */
const char *tls_refusal_text(const struct tls_refusal *r, char *out, size_t size);
/* For an error code from the OpenSSL queue of a failed connection: when it is
 * a TLS alert by which the peer refused this node's certificate (unknown CA,
 * bad, unknown, unsupported, expired or revoked certificate, decrypt error),
 * the plain words saying so ("refused by the peer: ..."), a static string;
 * else NULL. */
const char *tls_alert_text(unsigned long e);

#endif
