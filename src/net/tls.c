/*
 * The node's TLS context and peer naming; see tls.h. The identity files are
 * loaded through crypto/identity so that a bad file gets the same diagnosis as
 * everywhere else, then handed to OpenSSL. OpenSSL verifies the peer chain during
 * the handshake against a store that holds only the network CA; tls_peer_id()
 * checks the result again with identity_verify_cert(), so that the node id a
 * connection is known by never rests on a single check. The OpenSSL error queue
 * is left empty on every failure path here.
 */
#include "net/tls.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include "crypto/crypto.h"
#include "util/error.h"
#include "util/log.h"

static int tls__path(char *out, const char *home, const char *name)
{
	int n = snprintf(out, PATH_MAX, "%s/%s", home, name);
	if (n < 0 || n >= PATH_MAX) {
		log_warnx("%s/%s: path too long", home, name);
		return SHOAL_EIDENTITY;
	}
	return 0;
}

/*
 * Maps a failure of identity_load_key/_cert to SHOAL_EIDENTITY. Those functions
 * already log unparsable material (SHOAL_EIDENTITY); the other failures (a
 * missing file, a file too big) are logged here, so that each is logged once.
 */
static int tls__load_error(const char *path, int err)
{
	if (err == SHOAL_EIDENTITY || err == SHOAL_ECRYPTO)
		return err;
	log_warnx("%s: %s", path, shoal_strerror(err));
	return SHOAL_EIDENTITY;
}

/* Loads the node certificate, its key and the CA certificate from home, and
 * checks that they belong together. */
static int tls__load_identity(const char *home, X509 **cert_out, EVP_PKEY **key_out, X509 **ca_out)
{
	char crt_path[PATH_MAX], key_path[PATH_MAX], ca_path[PATH_MAX];
	uint8_t id[NODE_ID_LEN];
	X509 *cert = NULL, *ca = NULL;
	EVP_PKEY *key = NULL;
	int err;

	if ((err = tls__path(crt_path, home, "node.crt")) ||
	    (err = tls__path(key_path, home, "node.key")) ||
	    (err = tls__path(ca_path, home, "ca.crt")))
		goto out;
	if ((err = identity_load_cert(crt_path, &cert))) {
		err = tls__load_error(crt_path, err);
		goto out;
	}
	if ((err = identity_load_key(key_path, &key))) {
		err = tls__load_error(key_path, err);
		goto out;
	}
	if ((err = identity_load_cert(ca_path, &ca))) {
		err = tls__load_error(ca_path, err);
		goto out;
	}
	if (X509_check_private_key(cert, key) != 1) {
		ERR_clear_error();
		log_warnx("%s does not certify the key in %s", crt_path, key_path);
		err = SHOAL_EIDENTITY;
		goto out;
	}
	/* Peers would refuse this certificate at every handshake; say why once,
	 * at start-up. */
	const char *why = NULL;
	err = identity_check_cert(ca, cert, id, &why);
	if (err) {
		if (err == SHOAL_EIDENTITY)
			log_warnx("%s is not a valid node certificate of the network in %s: %s",
				  crt_path, ca_path, why);
		goto out;
	}
	*cert_out = cert;
	*key_out = key;
	*ca_out = ca;
	cert = NULL;
	key = NULL;
	ca = NULL;
out:
	X509_free(ca);
	EVP_PKEY_free(key);
	X509_free(cert);
	return err;
}

/* The SSL ex_data slot where tls_refusal_watch() puts its struct. */
static int tls__refusal_idx = -1;
static pthread_once_t tls__refusal_once = PTHREAD_ONCE_INIT;

static void tls__refusal_idx_new(void)
{
	tls__refusal_idx = SSL_get_ex_new_index(0, NULL, NULL, NULL, NULL);
}

/* Formats an ASN1_TIME as "YYYY-MM-DD HH:MM UTC" (what we print, never the
 * peer's own text); "an unknown date" when it does not parse. */
static void tls__date(const ASN1_TIME *t, char *out, size_t size)
{
	struct tm tm;
	if (!t || ASN1_TIME_to_tm(t, &tm) != 1 || !strftime(out, size, "%Y-%m-%d %H:%M UTC", &tm))
		snprintf(out, size, "an unknown date");
}

/* Notes in the watching struct (tls_refusal_watch()), if any, why the peer's
 * certificate cert was refused; the first refusal counts. */
static void tls__note_refusal(X509_STORE_CTX *store_ctx, X509 *cert, int depth, int error)
{
	SSL *ssl = X509_STORE_CTX_get_ex_data(store_ctx, SSL_get_ex_data_X509_STORE_CTX_idx());
	struct tls_refusal *r =
		ssl && tls__refusal_idx >= 0 ? SSL_get_ex_data(ssl, tls__refusal_idx) : NULL;
	if (!r || r->error)
		return;
	/* What a failed date or digest leaves goes; what was queued before stays. */
	ERR_set_mark();
	r->error = error;
	r->depth = depth;
	r->date[0] = 0;
	if (cert && error == X509_V_ERR_CERT_HAS_EXPIRED)
		tls__date(X509_get0_notAfter(cert), r->date, sizeof(r->date));
	else if (cert && error == X509_V_ERR_CERT_NOT_YET_VALID)
		tls__date(X509_get0_notBefore(cert), r->date, sizeof(r->date));
	unsigned len = 0;
	if (!cert || !X509_digest(cert, EVP_sha256(), r->fingerprint, &len))
		memset(r->fingerprint, 0, sizeof(r->fingerprint));
	ERR_pop_to_mark();
}

/*
 * Runs for each certificate of the peer's chain, trust anchor first, after
 * OpenSSL's own checks (preverify_ok). On top of them, the leaf must be an
 * Ed25519 key, not a CA (a node certificate is never the CA's own), and issued
 * by the CA directly (the verified chain is the leaf and the CA). Refusals
 * are logged at debug level: the caller sees the handshake fail and logs that.
 */
static int tls__verify_cb(int preverify_ok, X509_STORE_CTX *store_ctx)
{
	X509 *cert = X509_STORE_CTX_get_current_cert(store_ctx);
	int depth = X509_STORE_CTX_get_error_depth(store_ctx);
	char subject[256] = "(no certificate)";

	if (preverify_ok && depth == 0 && cert) {
		EVP_PKEY *pub = X509_get0_pubkey(cert);
		if (!pub || !EVP_PKEY_is_a(pub, "ED25519") || X509_check_ca(cert) != 0 ||
		    sk_X509_num(X509_STORE_CTX_get0_chain(store_ctx)) != 2) {
			X509_STORE_CTX_set_error(store_ctx, X509_V_ERR_APPLICATION_VERIFICATION);
			preverify_ok = 0;
		}
	}
	if (preverify_ok)
		return 1;
	/* X509_NAME_oneline escapes bytes outside printable ASCII, so a hostile
	 * subject cannot forge log lines. */
	if (cert)
		X509_NAME_oneline(X509_get_subject_name(cert), subject, sizeof(subject));
	int error = X509_STORE_CTX_get_error(store_ctx);
	tls__note_refusal(store_ctx, cert, depth, error);
	log_debug("tls: peer certificate refused at depth %d (%s): %s", depth, subject,
		  error == X509_V_ERR_APPLICATION_VERIFICATION
			  ? "not an Ed25519 node certificate issued by the CA"
			  : X509_verify_cert_error_string(error));
	return 0;
}

int tls_ctx_new(const char *home, SSL_CTX **out)
{
	X509 *cert = NULL, *ca = NULL;
	EVP_PKEY *key = NULL;
	SSL_CTX *ctx = NULL;
	X509_STORE *store;
	int err = tls__load_identity(home, &cert, &key, &ca);
	if (err)
		goto out;

	ctx = SSL_CTX_new_ex(NULL, NULL, TLS_method());
	if (!ctx) {
		err = crypto_error("tls: SSL_CTX_new");
		goto out;
	}
	if (!SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION) ||
	    !SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION)) {
		err = crypto_error("tls: setting the protocol version");
		goto out;
	}
	/* Every node key is Ed25519; offering nothing else keeps a peer from
	 * steering the handshake to another algorithm. */
	if (!SSL_CTX_set1_sigalgs_list(ctx, "ed25519")) {
		err = crypto_error("tls: setting the signature algorithms");
		goto out;
	}
	/* In TLS 1.3, SSL_OP_NO_TICKET alone still sends stateful tickets; zero
	 * tickets and no cache mean no session can ever be resumed, so that each
	 * connection is authenticated by a certificate. */
	SSL_CTX_set_options(ctx,
			    SSL_OP_NO_TICKET | SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	if (!SSL_CTX_set_num_tickets(ctx, 0) || !SSL_CTX_set_max_early_data(ctx, 0)) {
		err = crypto_error("tls: disabling session tickets");
		goto out;
	}

	if (SSL_CTX_use_certificate(ctx, cert) != 1 || SSL_CTX_use_PrivateKey(ctx, key) != 1 ||
	    SSL_CTX_check_private_key(ctx) != 1) {
		err = crypto_error("tls: installing the node certificate");
		goto out;
	}

	/* The context's store is empty (no default paths are loaded): ca.crt
	 * becomes the only trust anchor. */
	store = SSL_CTX_get_cert_store(ctx);
	if (!store || X509_STORE_add_cert(store, ca) != 1) {
		err = crypto_error("tls: installing the CA certificate");
		goto out;
	}
	if (!X509_VERIFY_PARAM_set_flags(SSL_CTX_get0_param(ctx), X509_V_FLAG_X509_STRICT)) {
		err = crypto_error("tls: setting the verification flags");
		goto out;
	}
	/* A node certificate is issued by the CA itself, so a chain is a leaf and
	 * the CA (the callback insists); the depth only bounds the search, since
	 * with depth 0 a certificate of another network would be reported as
	 * "chain too long" instead of "unable to get local issuer". */
	SSL_CTX_set_verify_depth(ctx, 1);
	/* The peer has ca.crt already: send only the leaf. */
	SSL_CTX_set_mode(ctx, SSL_MODE_NO_AUTO_CHAIN);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, tls__verify_cb);

	*out = ctx;
	ctx = NULL;
out:
	SSL_CTX_free(ctx);
	X509_free(ca);
	EVP_PKEY_free(key);
	X509_free(cert);
	return err;
}

/* Returns a new reference to the CA certificate in ctx's store (the only
 * certificate tls_ctx_new put there), or NULL. */
static X509 *tls__ctx_ca(SSL_CTX *ctx)
{
	X509 *ca = NULL;
	X509_STORE *store = SSL_CTX_get_cert_store(ctx);
	if (!store || !X509_STORE_lock(store))
		return NULL;
	STACK_OF(X509_OBJECT) *objects = X509_STORE_get0_objects(store);
	for (int i = 0; i < sk_X509_OBJECT_num(objects); i++) {
		X509 *x = X509_OBJECT_get0_X509(sk_X509_OBJECT_value(objects, i));
		if (x && X509_up_ref(x)) {
			ca = x;
			break;
		}
	}
	X509_STORE_unlock(store);
	return ca;
}

int tls_peer_id(SSL *ssl, uint8_t id[NODE_ID_LEN])
{
	X509 *ca = NULL;
	X509 *peer;
	long verify;
	int err = 0;

	if (!SSL_is_init_finished(ssl) || SSL_version(ssl) != TLS1_3_VERSION) {
		log_debug("tls: no completed TLS 1.3 handshake");
		err = SHOAL_EIDENTITY;
		goto out;
	}
	verify = SSL_get_verify_result(ssl);
	if (verify != X509_V_OK) {
		log_debug("tls: peer certificate failed verification: %s",
			  X509_verify_cert_error_string(verify));
		err = SHOAL_EIDENTITY;
		goto out;
	}
	peer = SSL_get0_peer_certificate(ssl);
	if (!peer) {
		log_debug("tls: the peer presented no certificate");
		err = SHOAL_EIDENTITY;
		goto out;
	}
	ca = tls__ctx_ca(SSL_get_SSL_CTX(ssl));
	if (!ca) {
		log_warnx("tls: the connection's context holds no CA certificate");
		err = SHOAL_EIDENTITY;
		goto out;
	}
	err = identity_verify_cert(ca, peer, id);
out:
	X509_free(ca);
	ERR_clear_error();
	return err;
}

int tls_refusal_watch(SSL *ssl, struct tls_refusal *r)
{
	memset(r, 0, sizeof(*r));
	pthread_once(&tls__refusal_once, tls__refusal_idx_new);
	if (tls__refusal_idx < 0 || !SSL_set_ex_data(ssl, tls__refusal_idx, r)) {
		ERR_clear_error();
		return SHOAL_ECRYPTO;
	}
	return 0;
}

const char *tls_refusal_text(const struct tls_refusal *r, char *out, size_t size)
{
	switch (r->error) {
	case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
	case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
	case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
	case X509_V_ERR_CERT_SIGNATURE_FAILURE:
	case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
	case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
	case X509_V_ERR_AKID_SKID_MISMATCH:
	case X509_V_ERR_AKID_ISSUER_SERIAL_MISMATCH:
		snprintf(out, size,
			 "node from another network (its certificate is not signed by "
			 "this network's CA)");
		break;
	case X509_V_ERR_CERT_HAS_EXPIRED:
		if (r->depth == 0)
			snprintf(out, size, "node whose certificate expired on %s", r->date);
		else
			snprintf(out, size, "this network's CA certificate expired on %s", r->date);
		break;
	case X509_V_ERR_CERT_NOT_YET_VALID:
		if (r->depth == 0)
			snprintf(out, size,
				 "node whose certificate is not valid until %s (is either clock "
				 "wrong?)",
				 r->date);
		else
			snprintf(out, size, "this network's CA certificate is not valid until %s",
				 r->date);
		break;
	case X509_V_ERR_CERT_REVOKED:
		snprintf(out, size, "node whose certificate is revoked");
		break;
	case X509_V_ERR_APPLICATION_VERIFICATION:
		snprintf(out, size,
			 "not a node certificate of this network (not an Ed25519 "
			 "certificate issued by the CA)");
		break;
	default:
		snprintf(out, size, "node certificate refused (%s)",
			 X509_verify_cert_error_string(r->error));
		break;
	}
	return out;
}

const char *tls_alert_text(unsigned long e)
{
	if (ERR_GET_LIB(e) != ERR_LIB_SSL)
		return NULL;
	switch (ERR_GET_REASON(e)) {
	case SSL_R_TLSV1_ALERT_UNKNOWN_CA:
	case SSL_R_SSLV3_ALERT_BAD_CERTIFICATE:
	case SSL_R_SSLV3_ALERT_CERTIFICATE_UNKNOWN:
	case SSL_R_SSLV3_ALERT_UNSUPPORTED_CERTIFICATE:
	case SSL_R_TLSV1_ALERT_DECRYPT_ERROR:
		return "refused by the peer: this node's certificate is not from its network "
		       "(another network, revoked, or expired)";
	case SSL_R_SSLV3_ALERT_CERTIFICATE_EXPIRED:
		return "refused by the peer: it says this node's certificate has expired (or "
		       "the clocks disagree)";
	case SSL_R_SSLV3_ALERT_CERTIFICATE_REVOKED:
		return "refused by the peer: it says this node's certificate is revoked";
	default:
		return NULL;
	}
}
