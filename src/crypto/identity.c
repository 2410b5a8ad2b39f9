/*
 * Node identity: CA and node key generation, certificate issuance, renewal and
 * verification, nicknames, and the PEM files that hold them; see identity.h.
 * Every OpenSSL failure that is ours (not bad input) becomes SHOAL_ECRYPTO and
 * is logged here; bad or missing material becomes SHOAL_EIDENTITY. The OpenSSL
 * error queue is always left empty, so that later TLS calls do not see stale
 * errors.
 */
#include "crypto/identity.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "crypto/crypto.h"
#include "util/buf.h"
#include "util/encoding.h"
#include "util/error.h"
#include "util/fsutil.h"
#include "util/log.h"

_Static_assert(NODE_ID_STR_LEN == (NODE_ID_LEN * 8 + 4) / 5, "NODE_ID_STR_LEN is base32_len");

/* Our PEM files hold one key and one certificate: a few kilobytes at most. */
#define PEM_FILE_MAX (1024 * 1024)
/* Certificates start an hour in the past so that peers whose clocks lag a
 * little behind the issuer's still accept them. */
#define CLOCK_SKEW_SECONDS 3600L
#define CA_LIFETIME_DAYS   36525 /* 100 years */
#define DAY_SECONDS	   86400L
#define PENDING_KEY_FILE   "node.key.pending"
#define CERT_FILE_MODE	   0644 /* a certificate file: no secret, made to be carried */
/* The CA subject is "shoal network " and this many characters of its key's id. */
#define CA_NAME_ID_CHARS 16
#define SERIAL_BYTES	 16

/* Returns SHOAL_EIDENTITY after dropping the errors OpenSSL queued while
 * rejecting the material. */
static int identity_error(void)
{
	ERR_clear_error();
	return SHOAL_EIDENTITY;
}

/* identity_error() that also gives the reason to a caller who asked. */
static int refuse(const char **why, const char *reason)
{
	if (why)
		*why = reason;
	return identity_error();
}

int nickname_check(const char *s)
{
	size_t n = strnlen(s, NICKNAME_MAX + 1);
	if (n == 0 || n > NICKNAME_MAX)
		return SHOAL_EPROTO;
	/* Spelled out rather than with <ctype.h>, whose classes follow the locale. */
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		int alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
		if (!alnum && (i == 0 || (c != '.' && c != '_' && c != '-')))
			return SHOAL_EPROTO;
	}
	return 0;
}

static int path_join(char *out, size_t size, const char *dir, const char *name)
{
	int n = snprintf(out, size, "%s/%s", dir, name);
	if (n < 0 || (size_t)n >= size)
		return -ENAMETOOLONG;
	return 0;
}

/* Wipes a buffer that may hold a private key before freeing it. */
static void buf_release_secret(struct buf *b)
{
	if (b->data)
		OPENSSL_cleanse(b->data, b->len);
	buf_release(b);
}

/* Our keys are never encrypted; refusing a passphrase keeps OpenSSL from
 * prompting on the terminal when it meets an encrypted one. */
static int no_passphrase(char *pass, int size, int rwflag, void *arg)
{
	(void)pass;
	(void)size;
	(void)rwflag;
	(void)arg;
	return -1;
}

static int key_from_pem(const struct buf *pem, EVP_PKEY **out)
{
	int err = 0;
	EVP_PKEY *key = NULL;
	BIO *bio = BIO_new_mem_buf(pem->data, (int)pem->len);
	if (!bio) {
		err = crypto_error("BIO_new_mem_buf");
		goto out;
	}
	key = PEM_read_bio_PrivateKey_ex(bio, NULL, no_passphrase, NULL, NULL, NULL);
	if (!key || !EVP_PKEY_is_a(key, "ED25519")) {
		err = identity_error();
		goto out;
	}
	*out = key;
	key = NULL;
out:
	EVP_PKEY_free(key);
	BIO_free(bio);
	return err;
}

static int cert_from_pem(const struct buf *pem, X509 **out)
{
	int err = 0;
	X509 *cert = NULL;
	BIO *bio = BIO_new_mem_buf(pem->data, (int)pem->len);
	if (!bio) {
		err = crypto_error("BIO_new_mem_buf");
		goto out;
	}
	cert = PEM_read_bio_X509(bio, NULL, NULL, NULL);
	if (!cert) {
		err = identity_error();
		goto out;
	}
	*out = cert;
	cert = NULL;
out:
	X509_free(cert);
	BIO_free(bio);
	return err;
}

int identity_load_key(const char *path, EVP_PKEY **out)
{
	struct buf pem = BUF_INIT;
	int err = read_file(path, &pem, PEM_FILE_MAX);
	if (err)
		goto out;
	err = key_from_pem(&pem, out);
	if (err == SHOAL_EIDENTITY)
		log_warnx("%s: no unencrypted Ed25519 private key", path);
out:
	buf_release_secret(&pem);
	return err;
}

int identity_load_cert(const char *path, X509 **out)
{
	const char *why = NULL;
	int err = identity_read_cert(path, out, &why);
	if (err == SHOAL_EIDENTITY)
		log_warnx("%s: %s", path, why);
	return err;
}

int identity_read_cert(const char *path, X509 **out, const char **why)
{
	struct buf pem = BUF_INIT;
	int err = read_file(path, &pem, PEM_FILE_MAX);
	if (err)
		goto out;
	err = cert_from_pem(&pem, out);
	if (err == SHOAL_EIDENTITY && why)
		*why = "no certificate";
out:
	/* The file may be a network file, with the CA key before the certificate. */
	buf_release_secret(&pem);
	return err;
}

int identity_key_new(EVP_PKEY **out)
{
	*out = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	if (!*out)
		return crypto_error("Ed25519 key generation");
	return 0;
}

int identity_public_raw(EVP_PKEY *pkey, uint8_t raw[IDENTITY_KEY_LEN])
{
	size_t raw_len = IDENTITY_KEY_LEN;
	if (!pkey || !EVP_PKEY_is_a(pkey, "ED25519"))
		return identity_error();
	if (EVP_PKEY_get_raw_public_key(pkey, raw, &raw_len) != 1 || raw_len != IDENTITY_KEY_LEN)
		return crypto_error("EVP_PKEY_get_raw_public_key");
	return 0;
}

int identity_public_from_raw(const uint8_t raw[IDENTITY_KEY_LEN], EVP_PKEY **out)
{
	*out = EVP_PKEY_new_raw_public_key_ex(NULL, "ED25519", NULL, raw, IDENTITY_KEY_LEN);
	if (!*out)
		return crypto_error("EVP_PKEY_new_raw_public_key");
	return 0;
}

int node_id_from_raw(const uint8_t raw[IDENTITY_KEY_LEN], uint8_t id[NODE_ID_LEN])
{
	if (EVP_Digest(raw, IDENTITY_KEY_LEN, id, NULL, EVP_sha256(), NULL) != 1)
		return crypto_error("SHA-256");
	return 0;
}

int node_id_from_pkey(EVP_PKEY *pkey, uint8_t id[NODE_ID_LEN])
{
	uint8_t raw[IDENTITY_KEY_LEN];
	int err = identity_public_raw(pkey, raw);
	return err ? err : node_id_from_raw(raw, id);
}

void node_id_format(const uint8_t id[NODE_ID_LEN], char out[NODE_ID_STR_LEN + 1])
{
	base32_encode(out, id, NODE_ID_LEN);
}

int node_id_parse(const char *s, uint8_t id[NODE_ID_LEN])
{
	size_t n = strnlen(s, NODE_ID_STR_LEN + 1);
	if (n != NODE_ID_STR_LEN)
		return SHOAL_EPROTO;
	return base32_decode(id, NODE_ID_LEN, s, n);
}

/* Gives x a random, positive 128-bit serial number. */
static int set_random_serial(X509 *x)
{
	uint8_t bytes[SERIAL_BYTES];
	int err = 0;
	BIGNUM *bn = NULL;
	if (RAND_bytes(bytes, sizeof(bytes)) != 1) {
		err = crypto_error("RAND_bytes");
		goto out;
	}
	bn = BN_bin2bn(bytes, sizeof(bytes), NULL);
	if (!bn) {
		err = crypto_error("BN_bin2bn");
		goto out;
	}
	/* RFC 5280 forbids a zero serial; 2^-128 odds, but one line to exclude. */
	if (BN_is_zero(bn) && !BN_one(bn)) {
		err = crypto_error("BN_one");
		goto out;
	}
	if (!BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)))
		err = crypto_error("BN_to_ASN1_INTEGER");
out:
	BN_free(bn);
	return err;
}

/*
 * Starts a v3 certificate for pub's public half with a random serial, subject
 * CN=cn (and pseudonym=nickname unless that is NULL or ""), valid from now +
 * not_before seconds to now + not_after_days days + not_after seconds. Issuer,
 * extensions and signature are left to the caller.
 */
static int cert_new(EVP_PKEY *pub, const char *cn, const char *nickname, long not_before,
		    int not_after_days, long not_after, X509 **out)
{
	int err = 0;
	X509 *x = X509_new();
	if (!x) {
		err = crypto_error("X509_new");
		goto out;
	}
	if (!X509_set_version(x, X509_VERSION_3)) {
		err = crypto_error("X509_set_version");
		goto out;
	}
	err = set_random_serial(x);
	if (err)
		goto out;
	if (!X509_time_adj_ex(X509_getm_notBefore(x), 0, not_before, NULL) ||
	    !X509_time_adj_ex(X509_getm_notAfter(x), not_after_days, not_after, NULL)) {
		err = crypto_error("certificate validity");
		goto out;
	}
	if (!X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_UTF8,
					(const unsigned char *)cn, -1, -1, 0) ||
	    (nickname && *nickname &&
	     !X509_NAME_add_entry_by_NID(X509_get_subject_name(x), NID_pseudonym, MBSTRING_UTF8,
					 (const unsigned char *)nickname, -1, -1, 0))) {
		err = crypto_error("certificate subject");
		goto out;
	}
	if (!X509_set_pubkey(x, pub)) {
		err = crypto_error("X509_set_pubkey");
		goto out;
	}
	*out = x;
	x = NULL;
out:
	X509_free(x);
	return err;
}

/* Adds the extension nid, written in openssl.cnf syntax, to subject as issued
 * by issuer (which may be subject itself). */
static int add_ext(X509 *issuer, X509 *subject, int nid, const char *value)
{
	X509V3_CTX ctx;
	X509V3_set_ctx(&ctx, issuer, subject, NULL, NULL, 0);
	X509_EXTENSION *ext = X509V3_EXT_nconf_nid(NULL, &ctx, nid, value);
	if (!ext)
		return crypto_error(OBJ_nid2sn(nid));
	int ok = X509_add_ext(subject, ext, -1);
	X509_EXTENSION_free(ext);
	if (!ok)
		return crypto_error("X509_add_ext");
	return 0;
}

/* Creates the self-signed CA certificate for ca_key. */
static int ca_cert_new(EVP_PKEY *ca_key, X509 **out)
{
	uint8_t ca_id[NODE_ID_LEN];
	char ca_id_str[NODE_ID_STR_LEN + 1];
	char cn[64];
	X509 *x = NULL;
	int err = node_id_from_pkey(ca_key, ca_id);
	if (err)
		goto out;
	node_id_format(ca_id, ca_id_str);
	snprintf(cn, sizeof(cn), "shoal network %.*s", CA_NAME_ID_CHARS, ca_id_str);
	err = cert_new(ca_key, cn, NULL, -CLOCK_SKEW_SECONDS, CA_LIFETIME_DAYS, 0, &x);
	if (err)
		goto out;
	if (!X509_set_issuer_name(x, X509_get_subject_name(x))) {
		err = crypto_error("X509_set_issuer_name");
		goto out;
	}
	if ((err = add_ext(x, x, NID_basic_constraints, "critical,CA:TRUE")) ||
	    (err = add_ext(x, x, NID_key_usage, "critical,keyCertSign,cRLSign")) ||
	    (err = add_ext(x, x, NID_subject_key_identifier, "hash")))
		goto out;
	if (X509_sign(x, ca_key, NULL) <= 0) {
		err = crypto_error("signing the CA certificate");
		goto out;
	}
	*out = x;
	x = NULL;
out:
	X509_free(x);
	return err;
}

/* identity_issue_named_cert(), valid until now + not_after_days days +
 * not_after seconds. */
static int issue_cert(EVP_PKEY *ca_key, X509 *ca_cert, EVP_PKEY *node_pub, const char *nickname,
		      long not_before, int not_after_days, long not_after, X509 **out)
{
	uint8_t id[NODE_ID_LEN];
	char cn[NODE_ID_STR_LEN + 1];
	X509 *x = NULL;
	int err = node_id_from_pkey(node_pub, id);
	if (err)
		goto out;
	node_id_format(id, cn);
	err = cert_new(node_pub, cn, nickname, not_before, not_after_days, not_after, &x);
	if (err)
		goto out;
	if (!X509_set_issuer_name(x, X509_get_subject_name(ca_cert))) {
		err = crypto_error("X509_set_issuer_name");
		goto out;
	}
	if ((err = add_ext(ca_cert, x, NID_basic_constraints, "critical,CA:FALSE")) ||
	    (err = add_ext(ca_cert, x, NID_key_usage, "critical,digitalSignature")) ||
	    (err = add_ext(ca_cert, x, NID_ext_key_usage, "serverAuth,clientAuth")) ||
	    (err = add_ext(ca_cert, x, NID_subject_key_identifier, "hash")) ||
	    (err = add_ext(ca_cert, x, NID_authority_key_identifier, "keyid")))
		goto out;
	if (X509_sign(x, ca_key, NULL) <= 0) {
		err = crypto_error("signing the node certificate");
		goto out;
	}
	*out = x;
	x = NULL;
out:
	X509_free(x);
	return err;
}

int identity_issue_named_cert(EVP_PKEY *ca_key, X509 *ca_cert, EVP_PKEY *node_pub,
			      const char *nickname, long not_before_offset, long not_after_offset,
			      X509 **out)
{
	return issue_cert(ca_key, ca_cert, node_pub, nickname, not_before_offset, 0,
			  not_after_offset, out);
}

int identity_issue_cert(EVP_PKEY *ca_key, X509 *ca_cert, EVP_PKEY *node_pub, long not_before_offset,
			long not_after_offset, X509 **out)
{
	return identity_issue_named_cert(ca_key, ca_cert, node_pub, NULL, not_before_offset,
					 not_after_offset, out);
}

int identity_cert_nickname(X509 *cert, char out[NICKNAME_MAX + 1])
{
	char nick[NICKNAME_MAX + 1];
	X509_NAME *name = cert ? X509_get_subject_name(cert) : NULL;
	int at = name ? X509_NAME_get_index_by_NID(name, NID_pseudonym, -1) : -1;
	out[0] = 0;
	/* None, or more than one: no nickname. */
	if (at < 0 || X509_NAME_get_index_by_NID(name, NID_pseudonym, at) >= 0)
		return 0;
	const ASN1_STRING *s = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, at));
	int type = s ? ASN1_STRING_type(s) : -1;
	int len = s ? ASN1_STRING_length(s) : 0;
	/* Only single-byte string types hold a nickname byte for byte. */
	if ((type != V_ASN1_UTF8STRING && type != V_ASN1_PRINTABLESTRING &&
	     type != V_ASN1_IA5STRING) ||
	    len < 1 || len > NICKNAME_MAX)
		return 0;
	memcpy(nick, ASN1_STRING_get0_data(s), (size_t)len);
	nick[len] = 0;
	/* A NUL inside would shorten the text that nickname_check() sees. */
	if (strlen(nick) != (size_t)len || nickname_check(nick))
		return 0;
	memcpy(out, nick, (size_t)len + 1);
	return 0;
}

int identity_cert_expiry(X509 *cert, int64_t *unix_seconds)
{
	struct tm tm;
	const ASN1_TIME *t = cert ? X509_get0_notAfter(cert) : NULL;
	if (!t || ASN1_TIME_to_tm(t, &tm) != 1)
		return identity_error();
	*unix_seconds = (int64_t)timegm(&tm);
	return 0;
}

int identity_load_nickname_expiry(const char *home, char nick[NICKNAME_MAX + 1], int64_t *expires)
{
	char path[PATH_MAX];
	X509 *cert = NULL;
	int err = path_join(path, sizeof(path), home, "node.crt");
	if (!err)
		err = identity_load_cert(path, &cert);
	if (!err)
		err = identity_cert_expiry(cert, expires);
	if (!err)
		err = identity_cert_nickname(cert, nick);
	X509_free(cert);
	return err;
}

/* What a failed X509_verify_cert() means for a node certificate, in words. */
static const char *verify_reason(int code)
{
	switch (code) {
	case X509_V_ERR_CERT_HAS_EXPIRED:
		return "the certificate has expired";
	case X509_V_ERR_CERT_NOT_YET_VALID:
		return "the certificate is not valid yet";
	case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
	case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
	case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
	case X509_V_ERR_CERT_SIGNATURE_FAILURE:
	case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
		return "the certificate was not issued by the CA certificate given";
	default:
		return X509_verify_cert_error_string(code);
	}
}

int identity_verify_cert(X509 *ca_cert, X509 *cert, uint8_t id[NODE_ID_LEN])
{
	const char *why = NULL;
	int err = identity_check_cert(ca_cert, cert, id, &why);
	if (err == SHOAL_EIDENTITY)
		log_debug("peer certificate rejected: %s", why);
	return err;
}

int identity_check_cert(X509 *ca_cert, X509 *cert, uint8_t id[NODE_ID_LEN], const char **why)
{
	int err = 0;
	X509_STORE *store = NULL;
	X509_STORE_CTX *ctx = NULL;
	EVP_PKEY *pub = X509_get0_pubkey(cert);
	if (!pub || !EVP_PKEY_is_a(pub, "ED25519")) {
		err = refuse(why, "not an Ed25519 key");
		goto out;
	}
	/* A CA certificate is never a node's: without this the CA's own
	 * certificate would pass as a leaf, since it is its own trust anchor. */
	if (X509_check_ca(cert) != 0) {
		err = refuse(why, "it is a CA certificate");
		goto out;
	}
	store = X509_STORE_new();
	ctx = X509_STORE_CTX_new();
	if (!store || !ctx) {
		err = crypto_error("X509_STORE_new");
		goto out;
	}
	if (!X509_STORE_add_cert(store, ca_cert) || !X509_STORE_CTX_init(ctx, store, cert, NULL) ||
	    !X509_STORE_CTX_set_purpose(ctx, X509_PURPOSE_ANY)) {
		err = crypto_error("X509_STORE_CTX_init");
		goto out;
	}
	X509_STORE_CTX_set_flags(ctx, X509_V_FLAG_X509_STRICT);
	if (X509_verify_cert(ctx) != 1) {
		err = refuse(why, verify_reason(X509_STORE_CTX_get_error(ctx)));
		goto out;
	}
	err = node_id_from_pkey(pub, id);
out:
	X509_STORE_CTX_free(ctx);
	X509_STORE_free(store);
	return err;
}

/* Appends the PEM encoding of key, cert and cert2 (each when not NULL, in that
 * order) to a new memory BIO; secure memory, since it may hold a private key. */
static int pem_encode(EVP_PKEY *key, X509 *cert, X509 *cert2, BIO **out)
{
	int err = 0;
	BIO *bio = BIO_new(BIO_s_secmem());
	if (!bio) {
		err = crypto_error("BIO_new");
		goto out;
	}
	if (key && !PEM_write_bio_PrivateKey(bio, key, NULL, NULL, 0, NULL, NULL)) {
		err = crypto_error("PEM_write_bio_PrivateKey");
		goto out;
	}
	if ((cert && !PEM_write_bio_X509(bio, cert)) ||
	    (cert2 && !PEM_write_bio_X509(bio, cert2))) {
		err = crypto_error("PEM_write_bio_X509");
		goto out;
	}
	*out = bio;
	bio = NULL;
out:
	BIO_free(bio);
	return err;
}

/* Writes the PEM encoding of key, cert and cert2 (pem_encode()) to path
 * atomically with mode and write_file_atomic_in()'s flags. */
static int write_pem(const char *path, EVP_PKEY *key, X509 *cert, X509 *cert2, mode_t mode,
		     int flags)
{
	char dir[PATH_MAX];
	BIO *pem = NULL;
	char *data;
	int err = pem_encode(key, cert, cert2, &pem);
	if (err)
		return err;
	long len = BIO_get_mem_data(pem, &data);
	if (len <= 0) {
		err = crypto_error("BIO_get_mem_data");
	} else {
		path_dirname(path, dir, sizeof(dir));
		err = write_file_atomic_in(dir, ".tmp-", path, data, (size_t)len, mode, flags);
	}
	BIO_free(pem);
	return err;
}

int network_create(const char *path)
{
	EVP_PKEY *key = NULL;
	X509 *cert = NULL;
	int err = identity_key_new(&key);
	if (!err)
		err = ca_cert_new(key, &cert);
	if (!err)
		err = write_pem(path, key, cert, NULL, 0600, ATOMIC_NOREPLACE);
	if (err == -EEXIST)
		err = SHOAL_EEXIST;
	X509_free(cert);
	EVP_PKEY_free(key);
	return err;
}

int network_load(const char *path, struct network *out, const char **why)
{
	struct buf pem = BUF_INIT;
	struct network net = {0};
	int err = read_file(path, &pem, PEM_FILE_MAX);
	if (err)
		goto out;
	err = key_from_pem(&pem, &net.ca_key);
	if (!err)
		err = cert_from_pem(&pem, &net.ca_cert);
	if (err == SHOAL_EIDENTITY)
		err = refuse(why, "not a network file (it needs the CA key and certificate)");
	if (err)
		goto out;
	if (X509_check_private_key(net.ca_cert, net.ca_key) != 1) {
		err = refuse(why, "the CA key does not match the CA certificate");
		goto out;
	}
	*out = net;
	memset(&net, 0, sizeof(net));
out:
	network_release(&net);
	buf_release_secret(&pem);
	return err;
}

void network_release(struct network *net)
{
	EVP_PKEY_free(net->ca_key);
	X509_free(net->ca_cert);
	net->ca_key = NULL;
	net->ca_cert = NULL;
}

int network_issue(const struct network *net, EVP_PKEY *node_pub, const char *nickname, int days,
		  X509 **out, const char **why)
{
	uint8_t id[NODE_ID_LEN];
	X509 *x = NULL;
	int err = 0;
	if (days < 1 || days > NODE_LIFETIME_DAYS_MAX)
		return -EINVAL;
	if (nickname && *nickname && nickname_check(nickname))
		return SHOAL_EPROTO;
	if (!node_pub || !EVP_PKEY_is_a(node_pub, "ED25519"))
		return refuse(why, "the node key is not an Ed25519 key");
	err = issue_cert(net->ca_key, net->ca_cert, node_pub, nickname, -CLOCK_SKEW_SECONDS, days,
			 0, &x);
	if (err)
		goto out;
	/* Check the result the way peers will; this also catches an expired or
	 * malformed CA certificate before anything is handed out. */
	err = identity_check_cert(net->ca_cert, x, id, NULL);
	if (err == SHOAL_EIDENTITY)
		err = refuse(why, "the network's CA certificate cannot issue valid node "
				  "certificates (has it expired?)");
	if (err)
		goto out;
	*out = x;
	x = NULL;
out:
	X509_free(x);
	return err;
}

int network_renew(const struct network *net, X509 *old, int days, X509 **out, const char **why)
{
	char nick[NICKNAME_MAX + 1];
	EVP_PKEY *pub = X509_get0_pubkey(old);
	if (!pub || !EVP_PKEY_is_a(pub, "ED25519") || X509_check_ca(old) != 0)
		return refuse(why, "not a node certificate");
	/* Issued by this CA: named as its issuer, with a signature the CA key
	 * checks. The validity period does not matter: renewing is what an
	 * expired certificate needs. */
	if (X509_check_issued(net->ca_cert, old) != X509_V_OK ||
	    X509_verify(old, X509_get0_pubkey(net->ca_cert)) != 1)
		return refuse(why, "the certificate was not issued by this network's CA");
	identity_cert_nickname(old, nick);
	return network_issue(net, pub, nick, days, out, why);
}

int identity_state(const char *home)
{
	char path[PATH_MAX];
	struct stat st;
	const char *names[] = {"node.key", PENDING_KEY_FILE};
	const int states[] = {IDENTITY_COMPLETE, IDENTITY_PENDING};
	for (size_t i = 0; i < 2; i++) {
		int err = path_join(path, sizeof(path), home, names[i]);
		if (err)
			return err;
		if (lstat(path, &st) == 0)
			return states[i];
		if (errno != ENOENT && errno != ENOTDIR)
			return -errno;
	}
	return IDENTITY_NONE;
}

int identity_pending_write(const char *home, EVP_PKEY *key)
{
	char path[PATH_MAX];
	int state = identity_state(home);
	if (state < 0)
		return state;
	if (state != IDENTITY_NONE)
		return SHOAL_EEXIST;
	int err = path_join(path, sizeof(path), home, PENDING_KEY_FILE);
	if (!err)
		err = write_pem(path, key, NULL, NULL, 0600, ATOMIC_NOREPLACE);
	return err == -EEXIST ? SHOAL_EEXIST : err;
}

int identity_pending_load(const char *home, EVP_PKEY **out)
{
	char path[PATH_MAX];
	int err = path_join(path, sizeof(path), home, PENDING_KEY_FILE);
	return err ? err : identity_load_key(path, out);
}

int identity_pending_commit(const char *home)
{
	char from[PATH_MAX], to[PATH_MAX];
	int err;
	if ((err = path_join(from, sizeof(from), home, PENDING_KEY_FILE)) ||
	    (err = path_join(to, sizeof(to), home, "node.key")))
		return err;
	err = rename_noreplace(from, to);
	if (err)
		return err == -EEXIST ? SHOAL_EEXIST : err;
	return fsync_dir(home);
}

void identity_pending_remove(const char *home)
{
	char path[PATH_MAX];
	if (!path_join(path, sizeof(path), home, PENDING_KEY_FILE))
		unlink(path);
}

int identity_write_certs(const char *home, X509 *node_cert, X509 *ca_cert)
{
	char crt_path[PATH_MAX], ca_path[PATH_MAX];
	int err;
	if ((err = path_join(crt_path, sizeof(crt_path), home, "node.crt")) ||
	    (err = path_join(ca_path, sizeof(ca_path), home, "ca.crt")))
		return err;
	err = write_pem(crt_path, NULL, node_cert, NULL, 0600, 0);
	if (!err && ca_cert)
		err = write_pem(ca_path, NULL, ca_cert, NULL, 0600, 0);
	return err;
}

int identity_bundle_write(const char *path, X509 *node_cert, X509 *ca_cert)
{
	int err = write_pem(path, NULL, node_cert, ca_cert, CERT_FILE_MODE, ATOMIC_NOREPLACE);
	return err == -EEXIST ? SHOAL_EEXIST : err;
}

int identity_bundle_load(const char *path, X509 **node_cert, X509 **ca_cert, const char **why)
{
	struct buf pem = BUF_INIT;
	X509 *certs[3] = {NULL, NULL, NULL};
	BIO *bio = NULL;
	int n = 0;
	int err = read_file(path, &pem, PEM_FILE_MAX);
	if (err)
		goto out;
	bio = BIO_new_mem_buf(pem.data, (int)pem.len);
	if (!bio) {
		err = crypto_error("BIO_new_mem_buf");
		goto out;
	}
	/* A third certificate is read only to be refused. */
	while (n < 3 && (certs[n] = PEM_read_bio_X509(bio, NULL, NULL, NULL)))
		n++;
	ERR_clear_error();
	if (n != 2) {
		err = refuse(why, "not a certificate file (it needs the node certificate, then the "
				  "CA certificate, and nothing else)");
		goto out;
	}
	/* A file holding a private key (a network file, say) is not one to pass
	 * around: refuse it rather than read past the key. */
	if (memmem(pem.data, pem.len, "PRIVATE KEY-----", 16)) {
		err = refuse(why, "it holds a private key; a certificate file must not");
		goto out;
	}
	*node_cert = certs[0];
	*ca_cert = certs[1];
	certs[0] = certs[1] = NULL;
out:
	for (int i = 0; i < 3; i++)
		X509_free(certs[i]);
	BIO_free(bio);
	buf_release_secret(&pem);
	return err;
}

int identity_init(const char *home, const char *network_path, uint8_t id[NODE_ID_LEN])
{
	char key_path[PATH_MAX];
	struct network net = {0};
	EVP_PKEY *node_key = NULL;
	X509 *node_cert = NULL;
	const char *why = NULL;
	int err = path_join(key_path, sizeof(key_path), home, "node.key");
	if (err)
		goto out;
	int state = identity_state(home);
	if (state < 0 || state == IDENTITY_COMPLETE) {
		err = state < 0 ? state : SHOAL_EEXIST;
		goto out;
	}
	err = network_load(network_path, &net, &why);
	if (err) {
		if (why)
			log_warnx("%s: %s", network_path, why);
		goto out;
	}
	if ((err = identity_key_new(&node_key)) ||
	    (err = network_issue(&net, node_key, NULL, NODE_LIFETIME_DAYS, &node_cert, &why))) {
		if (err == SHOAL_EIDENTITY)
			log_warnx("%s: %s", network_path, why);
		goto out;
	}
	/* node.key goes last: its presence marks a complete identity. */
	if ((err = identity_write_certs(home, node_cert, net.ca_cert)) ||
	    (err = write_pem(key_path, node_key, NULL, NULL, 0600, ATOMIC_NOREPLACE)) ||
	    (err = node_id_from_pkey(node_key, id)))
		goto out;
out:
	X509_free(node_cert);
	EVP_PKEY_free(node_key);
	network_release(&net);
	return err == -EEXIST ? SHOAL_EEXIST : err;
}

int identity_load_home(const char *home, X509 **cert, EVP_PKEY **key, X509 **ca)
{
	char key_path[PATH_MAX], crt_path[PATH_MAX], ca_path[PATH_MAX];
	EVP_PKEY *node_key = NULL;
	X509 *node_cert = NULL, *ca_cert = NULL;
	int err;

	if ((err = path_join(key_path, sizeof(key_path), home, "node.key")) ||
	    (err = path_join(crt_path, sizeof(crt_path), home, "node.crt")) ||
	    (err = path_join(ca_path, sizeof(ca_path), home, "ca.crt")))
		goto out;
	if ((err = identity_load_cert(crt_path, &node_cert)) ||
	    (err = identity_load_key(key_path, &node_key)) ||
	    (ca && (err = identity_load_cert(ca_path, &ca_cert))))
		goto out;
	if (X509_check_private_key(node_cert, node_key) != 1) {
		log_warnx("%s does not certify the key in %s", crt_path, key_path);
		err = identity_error();
		goto out;
	}
	*cert = node_cert;
	*key = node_key;
	if (ca)
		*ca = ca_cert;
	node_cert = ca_cert = NULL;
	node_key = NULL;
out:
	X509_free(ca_cert);
	X509_free(node_cert);
	EVP_PKEY_free(node_key);
	return err;
}

int identity_load_id(const char *home, uint8_t id[NODE_ID_LEN])
{
	EVP_PKEY *key = NULL;
	X509 *cert = NULL;
	int err = identity_load_home(home, &cert, &key, NULL);
	if (!err)
		err = node_id_from_pkey(key, id);
	X509_free(cert);
	EVP_PKEY_free(key);
	return err;
}

int identity_sign(EVP_PKEY *key, const uint8_t *msg, size_t len, uint8_t sig[IDENTITY_SIG_LEN])
{
	int err = 0;
	size_t sig_len = IDENTITY_SIG_LEN;
	EVP_MD_CTX *ctx = NULL;
	size_t priv_len = 0;
	/* Asking for the private key's length fails for a public-only key. */
	if (!key || !EVP_PKEY_is_a(key, "ED25519") ||
	    EVP_PKEY_get_raw_private_key(key, NULL, &priv_len) != 1) {
		err = identity_error();
		goto out;
	}
	ctx = EVP_MD_CTX_new();
	if (!ctx) {
		err = crypto_error("EVP_MD_CTX_new");
		goto out;
	}
	/* Ed25519 is a one-shot scheme: no digest, one EVP_DigestSign call. */
	if (EVP_DigestSignInit_ex(ctx, NULL, NULL, NULL, NULL, key, NULL) != 1 ||
	    EVP_DigestSign(ctx, sig, &sig_len, msg, len) != 1 || sig_len != IDENTITY_SIG_LEN)
		err = crypto_error("Ed25519 signing");
out:
	EVP_MD_CTX_free(ctx);
	return err;
}

int identity_verify_signature(X509 *cert, const uint8_t *msg, size_t len,
			      const uint8_t sig[IDENTITY_SIG_LEN])
{
	EVP_PKEY *pub = cert ? X509_get0_pubkey(cert) : NULL;
	if (!pub)
		return identity_error();
	return identity_verify_key_signature(pub, msg, len, sig);
}

int identity_verify_key_signature(EVP_PKEY *pub, const uint8_t *msg, size_t len,
				  const uint8_t sig[IDENTITY_SIG_LEN])
{
	int err = 0;
	EVP_MD_CTX *ctx = NULL;
	if (!pub || !EVP_PKEY_is_a(pub, "ED25519")) {
		err = identity_error();
		goto out;
	}
	ctx = EVP_MD_CTX_new();
	if (!ctx) {
		/* Cannot tell good from bad: refuse, as for a bad signature. */
		crypto_error("EVP_MD_CTX_new");
		err = SHOAL_EIDENTITY;
		goto out;
	}
	if (EVP_DigestVerifyInit_ex(ctx, NULL, NULL, NULL, NULL, pub, NULL) != 1 ||
	    EVP_DigestVerify(ctx, sig, IDENTITY_SIG_LEN, msg, len) != 1)
		err = identity_error();
out:
	EVP_MD_CTX_free(ctx);
	return err;
}
