/*
 * testcert: writes node keys and certificates, good and bad, for the integration
 * tests that play hostile clients. Each mode writes a fresh Ed25519 key (PEM,
 * mode 0600) and a certificate (PEM): a valid one issued by a network's CA, one
 * that expired yesterday, a valid one whose signature has one byte flipped, or a
 * self-signed one that no network CA issued. The mode expired-for instead
 * takes an existing key (a home's node.key or node.key.pending) and writes a
 * certificate file as `shoal network sign` does (the node certificate, then
 * the CA's) whose certificate expired yesterday. The certificates are made
 * with crypto/identity, so they differ from a real node's only in what is
 * asked.
 */
#include <stdio.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "crypto/identity.h"
#include "util/error.h"
#include "util/fsutil.h"

#define DAY (24L * 3600)
/* Valid certificates start an hour in the past, like a real node's, and last
 * long enough for any test run. */
#define VALID_FROM  (-3600L)
#define VALID_UNTIL (365L * DAY)
/* The Ed25519 signature is the last 64 bytes of a certificate's encoding; flip
 * a byte inside it. */
#define TAMPER_FROM_END 40

static const char usage[] = "usage: testcert expired|valid|tampered NETWORK_FILE OUT_KEY OUT_CERT"
			    " | testcert selfsigned OUT_KEY OUT_CERT"
			    " | testcert expired-for NETWORK_FILE KEY OUT_CERT_FILE\n";

/* Reports what failed, with err (nonzero) and OpenSSL's reason; returns err. */
static int fail(const char *what, int err)
{
	unsigned long e = ERR_peek_last_error();
	char reason[256] = "";
	if (e)
		ERR_error_string_n(e, reason, sizeof(reason));
	ERR_clear_error();
	fprintf(stderr, "testcert: %s: %s%s%s\n", what, shoal_strerror(err), e ? ": " : "", reason);
	return err;
}

/* Writes the PEM text in bio to path, atomically, with mode. */
static int write_bio(const char *path, BIO *bio, mode_t mode)
{
	char *data;
	long len = BIO_get_mem_data(bio, &data);
	if (len <= 0)
		return fail("empty PEM", SHOAL_ECRYPTO);
	int err = write_file_atomic(path, data, (size_t)len, mode);
	if (err)
		return fail(path, err);
	return 0;
}

static int write_key(const char *path, EVP_PKEY *key)
{
	int err = 0;
	BIO *bio = BIO_new(BIO_s_secmem());
	if (!bio || !PEM_write_bio_PrivateKey(bio, key, NULL, NULL, 0, NULL, NULL)) {
		err = fail("writing the key", SHOAL_ECRYPTO);
		goto out;
	}
	err = write_bio(path, bio, 0600);
out:
	BIO_free(bio);
	return err;
}

/* Writes cert as PEM; with tamper, one byte of its signature is flipped first. */
static int write_cert(const char *path, X509 *cert, int tamper)
{
	unsigned char *der = NULL;
	int err = 0;
	BIO *bio = BIO_new(BIO_s_mem());
	int len = i2d_X509(cert, &der);
	if (!bio || len <= TAMPER_FROM_END) {
		err = fail("encoding the certificate", SHOAL_ECRYPTO);
		goto out;
	}
	if (tamper)
		der[len - TAMPER_FROM_END] ^= 0xff;
	if (!PEM_write_bio(bio, PEM_STRING_X509, "", der, len)) {
		err = fail("writing the certificate", SHOAL_ECRYPTO);
		goto out;
	}
	err = write_bio(path, bio, 0644);
out:
	OPENSSL_free(der);
	BIO_free(bio);
	return err;
}

/* Issues a certificate for key from the CA in network_path. */
static int issue_from_network(const char *network_path, EVP_PKEY *key, long not_before,
			      long not_after, X509 **out)
{
	EVP_PKEY *ca_key = NULL;
	X509 *ca_cert = NULL;
	int err;
	if ((err = identity_load_key(network_path, &ca_key)) ||
	    (err = identity_load_cert(network_path, &ca_cert))) {
		err = fail(network_path, err);
		goto out;
	}
	err = identity_issue_cert(ca_key, ca_cert, key, not_before, not_after, out);
	if (err)
		err = fail("issuing the certificate", err);
out:
	X509_free(ca_cert);
	EVP_PKEY_free(ca_key);
	return err;
}

/*
 * Issues a certificate for key signed by key itself. identity_issue_cert takes
 * the issuer's name and key identifier from a certificate: a stub bearing key's
 * own name (CN = its node id) and key identifier makes the result self-signed.
 */
static int issue_self_signed(EVP_PKEY *key, X509 **out)
{
	uint8_t id[NODE_ID_LEN];
	char cn[NODE_ID_STR_LEN + 1];
	X509V3_CTX v3;
	X509_EXTENSION *ski = NULL;
	int err = node_id_from_pkey(key, id);
	X509 *stub = X509_new();
	if (err || !stub) {
		err = fail("making the stub issuer", err ? err : SHOAL_ECRYPTO);
		goto out;
	}
	node_id_format(id, cn);
	X509V3_set_ctx(&v3, stub, stub, NULL, NULL, 0);
	if (!X509_set_pubkey(stub, key) ||
	    !X509_NAME_add_entry_by_txt(X509_get_subject_name(stub), "CN", MBSTRING_UTF8,
					(const unsigned char *)cn, -1, -1, 0) ||
	    !(ski = X509V3_EXT_nconf_nid(NULL, &v3, NID_subject_key_identifier, "hash")) ||
	    !X509_add_ext(stub, ski, -1)) {
		err = fail("making the stub issuer", SHOAL_ECRYPTO);
		goto out;
	}
	err = identity_issue_cert(key, stub, key, VALID_FROM, VALID_UNTIL, out);
	if (err)
		err = fail("issuing the certificate", err);
out:
	X509_EXTENSION_free(ski);
	X509_free(stub);
	return err;
}

/* expired-for: a certificate file for the key in key_path, expired yesterday. */
static int expired_for(const char *network_path, const char *key_path, const char *out_path)
{
	EVP_PKEY *key = NULL;
	X509 *cert = NULL, *ca_cert = NULL;
	int err;
	if ((err = identity_load_key(key_path, &key))) {
		err = fail(key_path, err);
		goto out;
	}
	if ((err = issue_from_network(network_path, key, -2 * DAY, -DAY, &cert)))
		goto out;
	if ((err = identity_load_cert(network_path, &ca_cert))) {
		err = fail(network_path, err);
		goto out;
	}
	if ((err = identity_bundle_write(out_path, cert, ca_cert)))
		err = fail(out_path, err);
out:
	X509_free(ca_cert);
	X509_free(cert);
	EVP_PKEY_free(key);
	return err ? 1 : 0;
}

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "";
	int self_signed = !strcmp(mode, "selfsigned");
	int expired = !strcmp(mode, "expired");
	int tampered = !strcmp(mode, "tampered");
	int valid = !strcmp(mode, "valid");
	EVP_PKEY *key = NULL;
	X509 *cert = NULL;
	int err;

	if (!strcmp(mode, "expired-for") && argc == 5)
		return expired_for(argv[2], argv[3], argv[4]);
	if (!(self_signed && argc == 4) && !((expired || tampered || valid) && argc == 5)) {
		fputs(usage, stderr);
		return 2;
	}
	const char *key_path = argv[argc - 2];
	const char *cert_path = argv[argc - 1];

	key = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	if (!key) {
		err = fail("generating the key", SHOAL_ECRYPTO);
		goto out;
	}
	if (self_signed)
		err = issue_self_signed(key, &cert);
	else if (expired)
		err = issue_from_network(argv[2], key, -2 * DAY, -DAY, &cert);
	else
		err = issue_from_network(argv[2], key, VALID_FROM, VALID_UNTIL, &cert);
	if (err)
		goto out;
	err = write_key(key_path, key);
	if (!err)
		err = write_cert(cert_path, cert, tampered);
out:
	X509_free(cert);
	EVP_PKEY_free(key);
	return err ? 1 : 0;
}
