/*
 * Node identity: CA and node key generation, certificate issuance and
 * verification, and the PEM files that hold them; see identity.h. Every OpenSSL
 * failure that is ours (not bad input) becomes SHOAL_ECRYPTO and is logged here;
 * bad or missing material becomes SHOAL_EIDENTITY. The OpenSSL error queue is
 * always left empty, so that later TLS calls do not see stale errors.
 */
#include "crypto/identity.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
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
#define CLOCK_SKEW_SECONDS    3600L
#define CA_LIFETIME_DAYS      36525			  /* 100 years */
#define NODE_LIFETIME_SECONDS (20L * 36525 / 100 * 86400) /* 20 years */
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
	struct buf pem = BUF_INIT;
	int err = read_file(path, &pem, PEM_FILE_MAX);
	if (err)
		goto out;
	err = cert_from_pem(&pem, out);
	if (err == SHOAL_EIDENTITY)
		log_warnx("%s: no certificate", path);
out:
	/* The file may be a network file, with the CA key before the certificate. */
	buf_release_secret(&pem);
	return err;
}

static int generate_key(EVP_PKEY **out)
{
	*out = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	if (!*out)
		return crypto_error("Ed25519 key generation");
	return 0;
}

int node_id_from_pkey(EVP_PKEY *pkey, uint8_t id[NODE_ID_LEN])
{
	uint8_t raw[32];
	size_t raw_len = sizeof(raw);
	if (!pkey || !EVP_PKEY_is_a(pkey, "ED25519"))
		return identity_error();
	if (EVP_PKEY_get_raw_public_key(pkey, raw, &raw_len) != 1 || raw_len != sizeof(raw))
		return crypto_error("EVP_PKEY_get_raw_public_key");
	if (EVP_Digest(raw, raw_len, id, NULL, EVP_sha256(), NULL) != 1)
		return crypto_error("SHA-256");
	return 0;
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
 * CN=cn, valid from now + not_before seconds to now + not_after_days days +
 * not_after seconds. Issuer, extensions and signature are left to the caller.
 */
static int cert_new(EVP_PKEY *pub, const char *cn, long not_before, int not_after_days,
		    long not_after, X509 **out)
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
					(const unsigned char *)cn, -1, -1, 0)) {
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
	err = cert_new(ca_key, cn, -CLOCK_SKEW_SECONDS, CA_LIFETIME_DAYS, 0, &x);
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

int identity_issue_cert(EVP_PKEY *ca_key, X509 *ca_cert, EVP_PKEY *node_pub, long not_before_offset,
			long not_after_offset, X509 **out)
{
	uint8_t id[NODE_ID_LEN];
	char cn[NODE_ID_STR_LEN + 1];
	X509 *x = NULL;
	int err = node_id_from_pkey(node_pub, id);
	if (err)
		goto out;
	node_id_format(id, cn);
	err = cert_new(node_pub, cn, not_before_offset, 0, not_after_offset, &x);
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

int identity_verify_cert(X509 *ca_cert, X509 *cert, uint8_t id[NODE_ID_LEN])
{
	int err = 0;
	X509_STORE *store = NULL;
	X509_STORE_CTX *ctx = NULL;
	EVP_PKEY *pub = X509_get0_pubkey(cert);
	if (!pub || !EVP_PKEY_is_a(pub, "ED25519")) {
		log_debug("peer certificate rejected: not an Ed25519 key");
		err = identity_error();
		goto out;
	}
	/* A CA certificate is never a node's: without this the CA's own
	 * certificate would pass as a leaf, since it is its own trust anchor. */
	if (X509_check_ca(cert) != 0) {
		log_debug("peer certificate rejected: it is a CA certificate");
		err = identity_error();
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
		log_debug("peer certificate rejected: %s",
			  X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx)));
		err = identity_error();
		goto out;
	}
	err = node_id_from_pkey(pub, id);
out:
	X509_STORE_CTX_free(ctx);
	X509_STORE_free(store);
	return err;
}

/* Appends the PEM encoding of key (when not NULL) then cert (when not NULL) to a
 * new memory BIO; secure memory, since it may hold a private key. */
static int pem_encode(EVP_PKEY *key, X509 *cert, BIO **out)
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
	if (cert && !PEM_write_bio_X509(bio, cert)) {
		err = crypto_error("PEM_write_bio_X509");
		goto out;
	}
	*out = bio;
	bio = NULL;
out:
	BIO_free(bio);
	return err;
}

/* Writes the contents of the memory BIO pem to path with write_file_atomic. */
static int write_pem_atomic(const char *path, BIO *pem, mode_t mode)
{
	char *data;
	long len = BIO_get_mem_data(pem, &data);
	if (len <= 0)
		return crypto_error("BIO_get_mem_data");
	return write_file_atomic(path, data, (size_t)len, mode);
}

int network_create(const char *path)
{
	EVP_PKEY *key = NULL;
	X509 *cert = NULL;
	BIO *pem = NULL;
	int fd = -1;
	int created = 0;
	char dir[PATH_MAX];
	char *data;
	long len;

	int err = generate_key(&key);
	if (err)
		goto out;
	err = ca_cert_new(key, &cert);
	if (err)
		goto out;
	err = pem_encode(key, cert, &pem);
	if (err)
		goto out;
	len = BIO_get_mem_data(pem, &data);
	if (len <= 0) {
		err = crypto_error("BIO_get_mem_data");
		goto out;
	}

	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		err = errno == EEXIST ? SHOAL_EEXIST : -errno;
		goto out;
	}
	created = 1;
	err = write_in_full(fd, data, (size_t)len);
	if (err)
		goto out;
	/* The umask may have narrowed the mode; the owner must be able to read. */
	if (fchmod(fd, 0600) || fsync(fd)) {
		err = -errno;
		goto out;
	}
	if (close(fd)) {
		fd = -1;
		err = -errno;
		goto out;
	}
	fd = -1;
	path_dirname(path, dir, sizeof(dir));
	err = fsync_dir(dir);
out:
	if (fd >= 0)
		close(fd);
	if (err && created)
		unlink(path);
	BIO_free(pem);
	X509_free(cert);
	EVP_PKEY_free(key);
	return err;
}

int identity_init(const char *home, const char *network_path, uint8_t id[NODE_ID_LEN])
{
	char key_path[PATH_MAX], crt_path[PATH_MAX], ca_path[PATH_MAX];
	struct buf network = BUF_INIT;
	EVP_PKEY *ca_key = NULL, *node_key = NULL;
	X509 *ca_cert = NULL, *node_cert = NULL;
	BIO *key_pem = NULL, *crt_pem = NULL, *ca_pem = NULL;
	uint8_t new_id[NODE_ID_LEN];
	struct stat st;
	int err;

	if ((err = path_join(key_path, sizeof(key_path), home, "node.key")) ||
	    (err = path_join(crt_path, sizeof(crt_path), home, "node.crt")) ||
	    (err = path_join(ca_path, sizeof(ca_path), home, "ca.crt")))
		goto out;
	if (lstat(key_path, &st) == 0) {
		err = SHOAL_EEXIST;
		goto out;
	}
	if (errno != ENOENT) {
		err = -errno;
		goto out;
	}

	err = read_file(network_path, &network, PEM_FILE_MAX);
	if (err)
		goto out;
	if ((err = key_from_pem(&network, &ca_key)) || (err = cert_from_pem(&network, &ca_cert))) {
		if (err == SHOAL_EIDENTITY)
			log_warnx("%s: not a network file (needs the CA key and certificate)",
				  network_path);
		goto out;
	}
	if (X509_check_private_key(ca_cert, ca_key) != 1) {
		log_warnx("%s: the CA key does not match the CA certificate", network_path);
		err = identity_error();
		goto out;
	}

	if ((err = generate_key(&node_key)) ||
	    (err = identity_issue_cert(ca_key, ca_cert, node_key, -CLOCK_SKEW_SECONDS,
				       NODE_LIFETIME_SECONDS, &node_cert)))
		goto out;
	/* Check the result the way peers will; this also catches an expired or
	 * malformed CA certificate before anything is written. */
	err = identity_verify_cert(ca_cert, node_cert, new_id);
	if (err) {
		if (err == SHOAL_EIDENTITY)
			log_warnx("%s: the CA certificate cannot issue valid node certificates",
				  network_path);
		goto out;
	}

	if ((err = pem_encode(node_key, NULL, &key_pem)) ||
	    (err = pem_encode(NULL, node_cert, &crt_pem)) ||
	    (err = pem_encode(NULL, ca_cert, &ca_pem)))
		goto out;
	/* node.key goes last: its presence marks a complete identity. */
	if ((err = write_pem_atomic(crt_path, crt_pem, 0600)) ||
	    (err = write_pem_atomic(ca_path, ca_pem, 0600)) ||
	    (err = write_pem_atomic(key_path, key_pem, 0600)))
		goto out;
	memcpy(id, new_id, NODE_ID_LEN);
out:
	BIO_free(ca_pem);
	BIO_free(crt_pem);
	BIO_free(key_pem);
	X509_free(node_cert);
	X509_free(ca_cert);
	EVP_PKEY_free(node_key);
	EVP_PKEY_free(ca_key);
	buf_release_secret(&network);
	return err;
}

int identity_load_id(const char *home, uint8_t id[NODE_ID_LEN])
{
	char key_path[PATH_MAX], crt_path[PATH_MAX];
	EVP_PKEY *key = NULL;
	X509 *cert = NULL;
	int err;

	if ((err = path_join(key_path, sizeof(key_path), home, "node.key")) ||
	    (err = path_join(crt_path, sizeof(crt_path), home, "node.crt")))
		goto out;
	if ((err = identity_load_cert(crt_path, &cert)) ||
	    (err = identity_load_key(key_path, &key)))
		goto out;
	if (X509_check_private_key(cert, key) != 1) {
		log_warnx("%s does not certify the key in %s", crt_path, key_path);
		err = identity_error();
		goto out;
	}
	err = node_id_from_pkey(key, id);
out:
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
	int err = 0;
	EVP_MD_CTX *ctx = NULL;
	EVP_PKEY *pub = cert ? X509_get0_pubkey(cert) : NULL;
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
