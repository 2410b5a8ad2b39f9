/*
 * Tests for src/crypto/identity.c: network files, node identity files and their
 * modes, node ids, certificate verification (foreign CA, expiry, tampering),
 * nicknames, lifetimes and renewal, the pending key of an enrolling node and
 * the certificate file handed to it. Each test runs in its own temporary
 * directory under /tmp, removed afterwards.
 */
#include <errno.h>
#include <dirent.h>
#include <ftw.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <openssl/asn1.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "../fixture.h"
#include "crypto/identity.h"
#include "util/buf.h"
#include "util/error.h"
#include "util/fsutil.h"
#include "util/log.h"

struct fixture {
	char dir[TEST_DIR_SIZE];
};

static int setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));
	if (!fx)
		return -1;
	if (test_dir_make(fx->dir, "identity")) {
		free(fx);
		return -1;
	}
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *fx = *state;
	int err = test_dir_remove(fx->dir);
	free(fx);
	return err;
}

/* Writes "<fixture dir>/<name>" into out (PATH_MAX bytes). */
static void fx_path(const struct fixture *fx, const char *name, char *out)
{
	int n = snprintf(out, PATH_MAX, "%s/%s", fx->dir, name);
	assert_true(n > 0 && n < PATH_MAX);
}

/* Creates and returns the path of a subdirectory to use as a node home. */
static void make_home(const struct fixture *fx, const char *name, char *out)
{
	fx_path(fx, name, out);
	assert_int_equal(mkdir(out, 0700), 0);
}

static void make_network(const struct fixture *fx, const char *name, char *out)
{
	fx_path(fx, name, out);
	assert_int_equal(network_create(out), 0);
}

static void home_file(const char *home, const char *name, char *out)
{
	int n = snprintf(out, PATH_MAX, "%s/%s", home, name);
	assert_true(n > 0 && n < PATH_MAX);
}

static mode_t file_mode(const char *path)
{
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	return st.st_mode & 07777;
}

static void read_text(const char *path, struct buf *out)
{
	assert_int_equal(read_file(path, out, 1 << 20), 0);
}

static void write_text(const char *path, const char *text)
{
	assert_int_equal(write_file_atomic(path, text, strlen(text), 0600), 0);
}

/* Returns the number of entries in dir other than "." and "..". */
static int count_entries(const char *dir)
{
	DIR *d = opendir(dir);
	assert_non_null(d);
	int n = 0;
	struct dirent *e;
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			n++;
	closedir(d);
	return n;
}

/* Copies the text of the first CN of cert's subject into out. */
static void subject_cn(X509 *cert, char *out, size_t size)
{
	int n = X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, out,
					  (int)size);
	assert_true(n > 0 && (size_t)n < size);
}

/* Returns the whole days from now until cert's notAfter. */
static int days_left(X509 *cert)
{
	int days = 0, secs = 0;
	assert_int_equal(ASN1_TIME_diff(&days, &secs, NULL, X509_get0_notAfter(cert)), 1);
	return days;
}

static void test_network_create_makes_private_file(void **state)
{
	struct fixture *fx = *state;
	char net[PATH_MAX];
	struct buf text = BUF_INIT;

	make_network(fx, "net.pem", net);
	assert_int_equal(file_mode(net), 0600);
	read_text(net, &text);
	const char *key = strstr(buf_str(&text), "-----BEGIN PRIVATE KEY-----");
	const char *cert = strstr(buf_str(&text), "-----BEGIN CERTIFICATE-----");
	assert_non_null(key);
	assert_non_null(cert);
	assert_true(key < cert);
	buf_release(&text);
}

static void test_network_create_refuses_overwrite(void **state)
{
	struct fixture *fx = *state;
	char net[PATH_MAX];
	struct buf before = BUF_INIT, after = BUF_INIT;

	make_network(fx, "net.pem", net);
	read_text(net, &before);
	assert_int_equal(network_create(net), SHOAL_EEXIST);
	read_text(net, &after);
	assert_int_equal(before.len, after.len);
	assert_memory_equal(before.data, after.data, before.len);
	assert_int_equal(file_mode(net), 0600);
	buf_release(&before);
	buf_release(&after);
}

static void test_network_ca_cert_fields(void **state)
{
	struct fixture *fx = *state;
	char net[PATH_MAX], cn[128], expected[128], ca_id_str[NODE_ID_STR_LEN + 1];
	uint8_t ca_id[NODE_ID_LEN];
	EVP_PKEY *key = NULL;
	X509 *cert = NULL;

	make_network(fx, "net.pem", net);
	assert_int_equal(identity_load_key(net, &key), 0);
	assert_int_equal(identity_load_cert(net, &cert), 0);
	assert_int_equal(X509_check_private_key(cert, key), 1);
	/* Self-signed, v3, a CA allowed to sign certificates and CRLs. */
	assert_int_equal(X509_verify(cert, key), 1);
	assert_int_equal(X509_get_version(cert), X509_VERSION_3);
	assert_int_equal(X509_check_ca(cert), 1);
	assert_true(X509_get_extension_flags(cert) & EXFLAG_CA);
	assert_int_equal(X509_get_key_usage(cert), KU_KEY_CERT_SIGN | KU_CRL_SIGN);
	/* Subject "shoal network <16 base32 chars of the CA key's id>". */
	assert_int_equal(node_id_from_pkey(key, ca_id), 0);
	node_id_format(ca_id, ca_id_str);
	snprintf(expected, sizeof(expected), "shoal network %.16s", ca_id_str);
	subject_cn(cert, cn, sizeof(cn));
	assert_string_equal(cn, expected);
	assert_int_equal(X509_NAME_cmp(X509_get_subject_name(cert), X509_get_issuer_name(cert)), 0);
	/* About a hundred years of validity, starting no later than now. */
	assert_in_range(days_left(cert), 36500, 36526);
	assert_true(X509_cmp_current_time(X509_get0_notBefore(cert)) < 0);
	/* A positive serial of at most 128 bits (and, with overwhelming odds,
	 * more than 64). */
	BIGNUM *serial = ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), NULL);
	assert_non_null(serial);
	assert_false(BN_is_negative(serial));
	assert_in_range(BN_num_bits(serial), 65, 128);
	BN_free(serial);
	X509_free(cert);
	EVP_PKEY_free(key);
}

static void test_network_serials_differ(void **state)
{
	struct fixture *fx = *state;
	char net_a[PATH_MAX], net_b[PATH_MAX];
	X509 *a = NULL, *b = NULL;

	make_network(fx, "a.pem", net_a);
	make_network(fx, "b.pem", net_b);
	assert_int_equal(identity_load_cert(net_a, &a), 0);
	assert_int_equal(identity_load_cert(net_b, &b), 0);
	assert_int_not_equal(ASN1_INTEGER_cmp(X509_get0_serialNumber(a), X509_get0_serialNumber(b)),
			     0);
	X509_free(a);
	X509_free(b);
}

static void test_identity_init_writes_files(void **state)
{
	struct fixture *fx = *state;
	char net[PATH_MAX], home[PATH_MAX], key[PATH_MAX], crt[PATH_MAX], ca[PATH_MAX];
	uint8_t id[NODE_ID_LEN];
	struct buf text = BUF_INIT;
	EVP_PKEY *pkey = NULL;
	X509 *ca_cert = NULL, *net_cert = NULL;

	make_network(fx, "net.pem", net);
	make_home(fx, "home", home);
	assert_int_equal(identity_init(home, net, id), 0);
	home_file(home, "node.key", key);
	home_file(home, "node.crt", crt);
	home_file(home, "ca.crt", ca);
	assert_int_equal(file_mode(key), 0600);
	assert_int_equal(file_mode(crt), 0600);
	assert_int_equal(file_mode(ca), 0600);
	/* Nothing else (no leftover temporary files). */
	assert_int_equal(count_entries(home), 3);

	/* ca.crt is the network's certificate and nothing more. */
	read_text(ca, &text);
	assert_null(strstr(buf_str(&text), "PRIVATE KEY"));
	assert_non_null(strstr(buf_str(&text), "-----BEGIN CERTIFICATE-----"));
	assert_int_equal(identity_load_key(ca, &pkey), SHOAL_EIDENTITY);
	assert_null(pkey);
	assert_int_equal(identity_load_cert(ca, &ca_cert), 0);
	assert_int_equal(identity_load_cert(net, &net_cert), 0);
	assert_int_equal(X509_cmp(ca_cert, net_cert), 0);
	buf_release(&text);

	/* node.key holds the node's key, node.crt no key. */
	read_text(crt, &text);
	assert_null(strstr(buf_str(&text), "PRIVATE KEY"));
	buf_release(&text);
	assert_int_equal(identity_load_key(key, &pkey), 0);
	uint8_t key_id[NODE_ID_LEN];
	assert_int_equal(node_id_from_pkey(pkey, key_id), 0);
	assert_memory_equal(key_id, id, NODE_ID_LEN);

	EVP_PKEY_free(pkey);
	X509_free(ca_cert);
	X509_free(net_cert);
}

static void test_node_cert_fields(void **state)
{
	struct fixture *fx = *state;
	char net[PATH_MAX], home[PATH_MAX], crt[PATH_MAX], cn[128], id_str[NODE_ID_STR_LEN + 1];
	uint8_t id[NODE_ID_LEN];
	X509 *ca = NULL, *cert = NULL;

	make_network(fx, "net.pem", net);
	make_home(fx, "home", home);
	assert_int_equal(identity_init(home, net, id), 0);
	home_file(home, "node.crt", crt);
	assert_int_equal(identity_load_cert(crt, &cert), 0);
	assert_int_equal(identity_load_cert(net, &ca), 0);

	node_id_format(id, id_str);
	subject_cn(cert, cn, sizeof(cn));
	assert_string_equal(cn, id_str);
	assert_int_equal(X509_NAME_cmp(X509_get_issuer_name(cert), X509_get_subject_name(ca)), 0);
	assert_int_equal(X509_get_version(cert), X509_VERSION_3);
	assert_int_equal(X509_check_ca(cert), 0);
	/* basicConstraints present and CA:FALSE. */
	assert_true(X509_get_extension_flags(cert) & EXFLAG_BCONS);
	assert_false(X509_get_extension_flags(cert) & EXFLAG_CA);
	assert_int_equal(X509_get_key_usage(cert), KU_DIGITAL_SIGNATURE);
	assert_int_equal(X509_get_extended_key_usage(cert), XKU_SSL_SERVER | XKU_SSL_CLIENT);
	assert_int_equal(X509_verify(cert, X509_get0_pubkey(ca)), 1);
	/* The default lifetime: one year. */
	assert_in_range(days_left(cert), NODE_LIFETIME_DAYS - 1, NODE_LIFETIME_DAYS);
	X509_free(cert);
	X509_free(ca);
}

static void test_identity_init_refuses_existing(void **state)
{
	struct fixture *fx = *state;
	char net[PATH_MAX], home[PATH_MAX];
	uint8_t first[NODE_ID_LEN], second[NODE_ID_LEN], loaded[NODE_ID_LEN];

	make_network(fx, "net.pem", net);
	make_home(fx, "home", home);
	assert_int_equal(identity_init(home, net, first), 0);
	memset(second, 0xaa, sizeof(second));
	assert_int_equal(identity_init(home, net, second), SHOAL_EEXIST);
	/* The existing identity is untouched. */
	assert_int_equal(identity_load_id(home, loaded), 0);
	assert_memory_equal(loaded, first, NODE_ID_LEN);
}

static void test_identity_load_id_matches_init(void **state)
{
	struct fixture *fx = *state;
	char net[PATH_MAX], home[PATH_MAX];
	uint8_t id[NODE_ID_LEN], loaded[NODE_ID_LEN];

	make_network(fx, "net.pem", net);
	make_home(fx, "home", home);
	assert_int_equal(identity_init(home, net, id), 0);
	memset(loaded, 0, sizeof(loaded));
	assert_int_equal(identity_load_id(home, loaded), 0);
	assert_memory_equal(loaded, id, NODE_ID_LEN);
}

static void test_identity_load_id_errors(void **state)
{
	struct fixture *fx = *state;
	char net[PATH_MAX], home_a[PATH_MAX], home_b[PATH_MAX], empty[PATH_MAX];
	char key_a[PATH_MAX], key_b[PATH_MAX];
	uint8_t id_a[NODE_ID_LEN], id_b[NODE_ID_LEN], loaded[NODE_ID_LEN];
	struct buf text = BUF_INIT;

	make_network(fx, "net.pem", net);
	make_home(fx, "empty", empty);
	assert_int_equal(identity_load_id(empty, loaded), -ENOENT);

	/* A node.crt that certifies another key is refused. */
	make_home(fx, "a", home_a);
	make_home(fx, "b", home_b);
	assert_int_equal(identity_init(home_a, net, id_a), 0);
	assert_int_equal(identity_init(home_b, net, id_b), 0);
	home_file(home_a, "node.key", key_a);
	home_file(home_b, "node.key", key_b);
	read_text(key_b, &text);
	assert_int_equal(write_file_atomic(key_a, text.data, text.len, 0600), 0);
	assert_int_equal(identity_load_id(home_a, loaded), SHOAL_EIDENTITY);
	buf_release(&text);
}

static void test_two_inits_differ(void **state)
{
	struct fixture *fx = *state;
	char net[PATH_MAX], home_a[PATH_MAX], home_b[PATH_MAX];
	uint8_t id_a[NODE_ID_LEN], id_b[NODE_ID_LEN];

	make_network(fx, "net.pem", net);
	make_home(fx, "a", home_a);
	make_home(fx, "b", home_b);
	assert_int_equal(identity_init(home_a, net, id_a), 0);
	assert_int_equal(identity_init(home_b, net, id_b), 0);
	assert_memory_not_equal(id_a, id_b, NODE_ID_LEN);
}

static void test_identity_init_bad_network(void **state)
{
	struct fixture *fx = *state;
	char net[PATH_MAX], other[PATH_MAX], ca_only[PATH_MAX], key_only[PATH_MAX], mixed[PATH_MAX],
		garbage[PATH_MAX], missing[PATH_MAX], home[PATH_MAX];
	uint8_t id[NODE_ID_LEN], untouched[NODE_ID_LEN];
	struct buf text = BUF_INIT, other_text = BUF_INIT, out = BUF_INIT;

	make_network(fx, "net.pem", net);
	make_network(fx, "other.pem", other);
	read_text(net, &text);
	read_text(other, &other_text);
	const char *cert = strstr(buf_str(&text), "-----BEGIN CERTIFICATE-----");
	const char *other_cert = strstr(buf_str(&other_text), "-----BEGIN CERTIFICATE-----");
	assert_non_null(cert);
	assert_non_null(other_cert);

	/* The CA certificate alone (what a node's ca.crt holds). */
	fx_path(fx, "ca-only.pem", ca_only);
	write_text(ca_only, cert);
	/* The CA key alone. */
	buf_add(&out, text.data, (size_t)(cert - buf_str(&text)));
	fx_path(fx, "key-only.pem", key_only);
	write_text(key_only, buf_str(&out));
	/* This network's key with another network's certificate. */
	buf_addstr(&out, other_cert);
	fx_path(fx, "mixed.pem", mixed);
	write_text(mixed, buf_str(&out));
	fx_path(fx, "garbage.pem", garbage);
	write_text(garbage, "-----BEGIN PRIVATE KEY-----\nnot base64\n-----END PRIVATE KEY-----\n");
	fx_path(fx, "missing.pem", missing);

	make_home(fx, "home", home);
	memset(untouched, 0x5a, sizeof(untouched));
	memcpy(id, untouched, sizeof(id));
	assert_int_equal(identity_init(home, ca_only, id), SHOAL_EIDENTITY);
	assert_int_equal(identity_init(home, key_only, id), SHOAL_EIDENTITY);
	assert_int_equal(identity_init(home, mixed, id), SHOAL_EIDENTITY);
	assert_int_equal(identity_init(home, garbage, id), SHOAL_EIDENTITY);
	assert_int_equal(identity_init(home, missing, id), -ENOENT);
	/* Failures write nothing and leave id alone. */
	assert_int_equal(count_entries(home), 0);
	assert_memory_equal(id, untouched, NODE_ID_LEN);
	/* And the home is still usable with a good network file. */
	assert_int_equal(identity_init(home, net, id), 0);

	buf_release(&text);
	buf_release(&other_text);
	buf_release(&out);
}

static void test_load_key_and_cert_any_order(void **state)
{
	struct fixture *fx = *state;
	char net[PATH_MAX], swapped[PATH_MAX];
	struct buf text = BUF_INIT, out = BUF_INIT;
	EVP_PKEY *key_a = NULL, *key_b = NULL;
	X509 *cert_a = NULL, *cert_b = NULL;

	make_network(fx, "net.pem", net);
	read_text(net, &text);
	const char *cert = strstr(buf_str(&text), "-----BEGIN CERTIFICATE-----");
	assert_non_null(cert);
	buf_addstr(&out, cert);
	buf_add(&out, text.data, (size_t)(cert - buf_str(&text)));
	fx_path(fx, "swapped.pem", swapped);
	write_text(swapped, buf_str(&out));

	assert_int_equal(identity_load_key(net, &key_a), 0);
	assert_int_equal(identity_load_key(swapped, &key_b), 0);
	assert_int_equal(EVP_PKEY_eq(key_a, key_b), 1);
	assert_int_equal(identity_load_cert(net, &cert_a), 0);
	assert_int_equal(identity_load_cert(swapped, &cert_b), 0);
	assert_int_equal(X509_cmp(cert_a, cert_b), 0);

	EVP_PKEY_free(key_a);
	EVP_PKEY_free(key_b);
	X509_free(cert_a);
	X509_free(cert_b);
	buf_release(&text);
	buf_release(&out);
}

/* A network (CA key and cert) and one node (key and cert) for verify tests. */
struct world {
	EVP_PKEY *ca_key;
	X509 *ca_cert;
	EVP_PKEY *node_key;
	X509 *node_cert;
	uint8_t node_id[NODE_ID_LEN];
};

static void world_make(const struct fixture *fx, const char *name, struct world *w)
{
	char net[PATH_MAX], home[PATH_MAX], path[PATH_MAX];

	memset(w, 0, sizeof(*w));
	make_network(fx, name, net);
	make_home(fx, name[0] == 'a' ? "home-a" : "home-b", home);
	assert_int_equal(identity_init(home, net, w->node_id), 0);
	assert_int_equal(identity_load_key(net, &w->ca_key), 0);
	assert_int_equal(identity_load_cert(net, &w->ca_cert), 0);
	home_file(home, "node.key", path);
	assert_int_equal(identity_load_key(path, &w->node_key), 0);
	home_file(home, "node.crt", path);
	assert_int_equal(identity_load_cert(path, &w->node_cert), 0);
}

static void world_release(struct world *w)
{
	EVP_PKEY_free(w->ca_key);
	X509_free(w->ca_cert);
	EVP_PKEY_free(w->node_key);
	X509_free(w->node_cert);
}

static void test_verify_accepts_node_cert(void **state)
{
	struct world w;
	uint8_t id[NODE_ID_LEN];

	world_make(*state, "a.pem", &w);
	memset(id, 0, sizeof(id));
	assert_int_equal(identity_verify_cert(w.ca_cert, w.node_cert, id), 0);
	assert_memory_equal(id, w.node_id, NODE_ID_LEN);
	world_release(&w);
}

static void test_verify_rejects_other_network(void **state)
{
	struct world a, b;
	uint8_t id[NODE_ID_LEN];
	X509 *forged = NULL;

	world_make(*state, "a.pem", &a);
	world_make(*state, "b.pem", &b);
	assert_int_equal(identity_verify_cert(a.ca_cert, b.node_cert, id), SHOAL_EIDENTITY);
	assert_int_equal(identity_verify_cert(b.ca_cert, a.node_cert, id), SHOAL_EIDENTITY);
	/* Signed by b's CA key but naming a's CA as issuer. */
	assert_int_equal(identity_issue_cert(b.ca_key, a.ca_cert, b.node_key, -60, 3600, &forged),
			 0);
	assert_int_equal(identity_verify_cert(a.ca_cert, forged, id), SHOAL_EIDENTITY);
	X509_free(forged);
	world_release(&a);
	world_release(&b);
}

static void test_verify_checks_validity_period(void **state)
{
	struct world w;
	uint8_t id[NODE_ID_LEN];
	X509 *expired = NULL, *future = NULL, *current = NULL;

	world_make(*state, "a.pem", &w);
	assert_int_equal(
		identity_issue_cert(w.ca_key, w.ca_cert, w.node_key, -2 * 86400, -86400, &expired),
		0);
	assert_int_equal(
		identity_issue_cert(w.ca_key, w.ca_cert, w.node_key, 86400, 2 * 86400, &future), 0);
	assert_int_equal(identity_issue_cert(w.ca_key, w.ca_cert, w.node_key, -60, 86400, &current),
			 0);
	assert_int_equal(identity_verify_cert(w.ca_cert, expired, id), SHOAL_EIDENTITY);
	assert_int_equal(identity_verify_cert(w.ca_cert, future, id), SHOAL_EIDENTITY);
	/* The same key and CA with a current period is accepted. */
	assert_int_equal(identity_verify_cert(w.ca_cert, current, id), 0);
	assert_memory_equal(id, w.node_id, NODE_ID_LEN);
	X509_free(expired);
	X509_free(future);
	X509_free(current);
	world_release(&w);
}

static void test_verify_rejects_tampered(void **state)
{
	struct world w;
	uint8_t id[NODE_ID_LEN];
	unsigned char *der = NULL;
	const unsigned char *p;
	X509 *copy = NULL, *tampered = NULL;

	world_make(*state, "a.pem", &w);
	int len = i2d_X509(w.node_cert, &der);
	assert_true(len > 64);

	/* The untouched DER re-parses into an accepted certificate. */
	p = der;
	copy = d2i_X509(NULL, &p, len);
	assert_non_null(copy);
	assert_int_equal(identity_verify_cert(w.ca_cert, copy, id), 0);

	/* The Ed25519 signature is the last 64 bytes of the DER. */
	der[len - 1] ^= 0x01;
	p = der;
	tampered = d2i_X509(NULL, &p, len);
	assert_non_null(tampered);
	assert_int_equal(identity_verify_cert(w.ca_cert, tampered, id), SHOAL_EIDENTITY);

	X509_free(copy);
	X509_free(tampered);
	OPENSSL_free(der);
	world_release(&w);
}

static void test_verify_rejects_ca_as_leaf(void **state)
{
	struct world w;
	uint8_t id[NODE_ID_LEN];

	world_make(*state, "a.pem", &w);
	assert_int_equal(identity_verify_cert(w.ca_cert, w.ca_cert, id), SHOAL_EIDENTITY);
	world_release(&w);
}

static void test_node_id_round_trip(void **state)
{
	(void)state;
	uint8_t id[NODE_ID_LEN], parsed[NODE_ID_LEN];
	char s[NODE_ID_STR_LEN + 1];

	for (int round = 0; round < 64; round++) {
		for (size_t i = 0; i < NODE_ID_LEN; i++)
			id[i] = (uint8_t)(round * 37 + i * 11);
		if (round == 1)
			memset(id, 0xff, sizeof(id));
		memset(s, '#', sizeof(s));
		node_id_format(id, s);
		assert_int_equal(strlen(s), NODE_ID_STR_LEN);
		assert_int_equal(strspn(s, "abcdefghijklmnopqrstuvwxyz234567"), NODE_ID_STR_LEN);
		memset(parsed, 0, sizeof(parsed));
		assert_int_equal(node_id_parse(s, parsed), 0);
		assert_memory_equal(parsed, id, NODE_ID_LEN);
	}
	memset(id, 0, sizeof(id));
	node_id_format(id, s);
	assert_string_equal(s, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
}

static void test_node_id_parse_rejects_bad(void **state)
{
	(void)state;
	uint8_t id[NODE_ID_LEN];
	char good[NODE_ID_STR_LEN + 1], bad[NODE_ID_STR_LEN + 8];

	memset(id, 0x42, sizeof(id));
	node_id_format(id, good);
	assert_int_equal(node_id_parse(good, id), 0);

	assert_int_equal(node_id_parse("", id), SHOAL_EPROTO);
	/* One character short, one too many. */
	snprintf(bad, sizeof(bad), "%.*s", NODE_ID_STR_LEN - 1, good);
	assert_int_equal(node_id_parse(bad, id), SHOAL_EPROTO);
	snprintf(bad, sizeof(bad), "%sa", good);
	assert_int_equal(node_id_parse(bad, id), SHOAL_EPROTO);
	/* Characters outside the alphabet. */
	const char invalid[] = {'0', '1', '8', '=', ' ', '-'};
	for (size_t i = 0; i < sizeof(invalid); i++) {
		memcpy(bad, good, sizeof(good));
		bad[10] = invalid[i];
		assert_int_equal(node_id_parse(bad, id), SHOAL_EPROTO);
	}
	/* The last character carries 4 unused bits, which must be zero. */
	memcpy(bad, good, sizeof(good));
	bad[NODE_ID_STR_LEN - 1] = 'b';
	assert_int_equal(node_id_parse(bad, id), SHOAL_EPROTO);
}

static void test_node_id_from_pkey(void **state)
{
	(void)state;
	uint8_t raw[32], expected[NODE_ID_LEN], from_priv[NODE_ID_LEN], from_pub[NODE_ID_LEN];
	size_t raw_len = sizeof(raw);
	EVP_PKEY *priv = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	EVP_PKEY *x25519 = EVP_PKEY_Q_keygen(NULL, NULL, "X25519");
	assert_non_null(priv);
	assert_non_null(x25519);
	assert_int_equal(EVP_PKEY_get_raw_public_key(priv, raw, &raw_len), 1);
	assert_int_equal(raw_len, sizeof(raw));
	EVP_PKEY *pub = EVP_PKEY_new_raw_public_key_ex(NULL, "ED25519", NULL, raw, raw_len);
	assert_non_null(pub);
	assert_int_equal(EVP_Q_digest(NULL, "SHA256", NULL, raw, raw_len, expected, NULL), 1);

	assert_int_equal(node_id_from_pkey(priv, from_priv), 0);
	assert_int_equal(node_id_from_pkey(pub, from_pub), 0);
	assert_memory_equal(from_priv, expected, NODE_ID_LEN);
	assert_memory_equal(from_pub, expected, NODE_ID_LEN);
	assert_int_equal(node_id_from_pkey(x25519, from_pub), SHOAL_EIDENTITY);

	EVP_PKEY_free(priv);
	EVP_PKEY_free(pub);
	EVP_PKEY_free(x25519);
}

static void test_sign_verify_round_trip(void **state)
{
	struct world w, other;
	uint8_t sig[IDENTITY_SIG_LEN], sig2[IDENTITY_SIG_LEN];
	static const uint8_t msg[] = "shoal catalog v1 test message";

	world_make(*state, "a.pem", &w);
	world_make(*state, "b.pem", &other);
	memset(sig, 0, sizeof(sig));
	assert_int_equal(identity_sign(w.node_key, msg, sizeof(msg), sig), 0);
	assert_int_equal(identity_verify_signature(w.node_cert, msg, sizeof(msg), sig), 0);
	/* Ed25519 is deterministic: the same message gives the same signature. */
	assert_int_equal(identity_sign(w.node_key, msg, sizeof(msg), sig2), 0);
	assert_memory_equal(sig, sig2, sizeof(sig));
	/* The empty message can be signed too. */
	assert_int_equal(identity_sign(w.node_key, msg, 0, sig2), 0);
	assert_int_equal(identity_verify_signature(w.node_cert, msg, 0, sig2), 0);
	assert_int_equal(identity_verify_signature(w.node_cert, msg, sizeof(msg), sig2),
			 SHOAL_EIDENTITY);
	/* Another node's certificate does not vouch for this signature. */
	assert_int_equal(identity_verify_signature(other.node_cert, msg, sizeof(msg), sig),
			 SHOAL_EIDENTITY);
	world_release(&w);
	world_release(&other);
}

static void test_verify_signature_rejects_tampering(void **state)
{
	struct world w;
	uint8_t sig[IDENTITY_SIG_LEN], bad[IDENTITY_SIG_LEN];
	uint8_t msg[100];

	world_make(*state, "a.pem", &w);
	for (size_t i = 0; i < sizeof(msg); i++)
		msg[i] = (uint8_t)(i * 7 + 3);
	assert_int_equal(identity_sign(w.node_key, msg, sizeof(msg), sig), 0);
	/* Every bit of the signature matters... */
	for (size_t i = 0; i < sizeof(sig); i++) {
		memcpy(bad, sig, sizeof(sig));
		bad[i] ^= (uint8_t)(1u << (i % 8));
		assert_int_equal(identity_verify_signature(w.node_cert, msg, sizeof(msg), bad),
				 SHOAL_EIDENTITY);
	}
	/* ... and every byte of the message, including its length. */
	for (size_t i = 0; i < sizeof(msg); i++) {
		msg[i] ^= 0x80;
		assert_int_equal(identity_verify_signature(w.node_cert, msg, sizeof(msg), sig),
				 SHOAL_EIDENTITY);
		msg[i] ^= 0x80;
	}
	assert_int_equal(identity_verify_signature(w.node_cert, msg, sizeof(msg) - 1, sig),
			 SHOAL_EIDENTITY);
	memset(bad, 0, sizeof(bad));
	assert_int_equal(identity_verify_signature(w.node_cert, msg, sizeof(msg), bad),
			 SHOAL_EIDENTITY);
	assert_int_equal(identity_verify_signature(w.node_cert, msg, sizeof(msg), sig), 0);
	world_release(&w);
}

static void test_sign_refuses_unusable_keys(void **state)
{
	(void)state;
	uint8_t sig[IDENTITY_SIG_LEN], raw[32];
	size_t raw_len = sizeof(raw);
	static const uint8_t msg[] = "m";

	EVP_PKEY *x25519 = EVP_PKEY_Q_keygen(NULL, NULL, "X25519");
	EVP_PKEY *priv = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	assert_non_null(x25519);
	assert_non_null(priv);
	assert_int_equal(EVP_PKEY_get_raw_public_key(priv, raw, &raw_len), 1);
	EVP_PKEY *pub = EVP_PKEY_new_raw_public_key_ex(NULL, "ED25519", NULL, raw, raw_len);
	assert_non_null(pub);

	assert_int_equal(identity_sign(NULL, msg, sizeof(msg), sig), SHOAL_EIDENTITY);
	assert_int_equal(identity_sign(x25519, msg, sizeof(msg), sig), SHOAL_EIDENTITY);
	/* A public key alone cannot sign. */
	assert_int_equal(identity_sign(pub, msg, sizeof(msg), sig), SHOAL_EIDENTITY);
	assert_int_equal(identity_verify_signature(NULL, msg, sizeof(msg), sig), SHOAL_EIDENTITY);
	/* Nothing is left on OpenSSL's error queue for later TLS calls to trip on. */
	assert_int_equal(ERR_peek_error(), 0);

	EVP_PKEY_free(pub);
	EVP_PKEY_free(priv);
	EVP_PKEY_free(x25519);
}

static void test_verify_signature_needs_ed25519_cert(void **state)
{
	struct world w;
	uint8_t sig[IDENTITY_SIG_LEN];
	static const uint8_t msg[] = "m";

	world_make(*state, "a.pem", &w);
	assert_int_equal(identity_sign(w.node_key, msg, sizeof(msg), sig), 0);
	/* An RSA certificate (OpenSSL made, self-signed) is refused outright. */
	EVP_PKEY *rsa = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	assert_non_null(rsa);
	X509 *x = X509_new();
	assert_non_null(x);
	assert_int_equal(X509_set_pubkey(x, rsa), 1);
	assert_int_equal(identity_verify_signature(x, msg, sizeof(msg), sig), SHOAL_EIDENTITY);
	assert_int_equal(ERR_peek_error(), 0);
	X509_free(x);
	EVP_PKEY_free(rsa);
	world_release(&w);
}

static void test_nickname_rules(void **state)
{
	(void)state;
	const char *good[] = {"a",
			      "7",
			      "laptop",
			      "nas-2",
			      "home.server_1",
			      "a-",
			      "0.",
			      "abcdefghijklmnopqrstuvwxyz012345"};
	const char *bad[] = {"",
			     "-a",
			     ".a",
			     "_a",
			     "Laptop",
			     "a b",
			     "a/b",
			     "a\n",
			     "caf\xc3\xa9",
			     "a:b",
			     "a@b",
			     "a\tb",
			     "abcdefghijklmnopqrstuvwxyz0123456"};
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		if (nickname_check(good[i]))
			fail_msg("refused nickname '%s'", good[i]);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (nickname_check(bad[i]) != SHOAL_EPROTO)
			fail_msg("accepted nickname '%s'", bad[i]);
	}
	assert_int_equal(strlen(good[7]), NICKNAME_MAX);
}

static void net_load(const struct fixture *fx, const char *name, struct network *net)
{
	char path[PATH_MAX];
	const char *why = NULL;
	make_network(fx, name, path);
	assert_int_equal(network_load(path, net, &why), 0);
	assert_null(why);
}

/* Checks that cert expires days days after now, give or take a few seconds. */
static void assert_expires_in(X509 *cert, int days)
{
	int64_t expires = 0;
	assert_int_equal(identity_cert_expiry(cert, &expires), 0);
	int64_t want = (int64_t)time(NULL) + (int64_t)days * 86400;
	assert_in_range(expires, want - 10, want + 1);
	assert_int_equal(days_left(cert), days - (expires < want ? 1 : 0));
}

static void test_issue_lifetime_and_nickname(void **state)
{
	struct network net;
	EVP_PKEY *key = NULL;
	X509 *cert = NULL, *plain = NULL;
	char nick[NICKNAME_MAX + 1], text[256];
	uint8_t id[NODE_ID_LEN], want[NODE_ID_LEN];

	net_load(*state, "net.pem", &net);
	assert_int_equal(identity_key_new(&key), 0);
	assert_int_equal(network_issue(&net, key, "laptop", 10, &cert, NULL), 0);
	assert_expires_in(cert, 10);
	assert_int_equal(identity_cert_nickname(cert, nick), 0);
	assert_string_equal(nick, "laptop");
	/* Next to the CN, as the pseudonym attribute. */
	assert_int_equal(X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_pseudonym, text,
						   sizeof(text)),
			 6);
	assert_string_equal(text, "laptop");
	assert_int_equal(identity_verify_cert(net.ca_cert, cert, id), 0);
	assert_int_equal(node_id_from_pkey(key, want), 0);
	assert_memory_equal(id, want, NODE_ID_LEN);

	/* No nickname: no pseudonym; the longest lifetime. */
	assert_int_equal(network_issue(&net, key, NULL, NODE_LIFETIME_DAYS_MAX, &plain, NULL), 0);
	assert_int_equal(identity_cert_nickname(plain, nick), 0);
	assert_string_equal(nick, "");
	assert_int_equal(
		X509_NAME_get_index_by_NID(X509_get_subject_name(plain), NID_pseudonym, -1), -1);
	assert_expires_in(plain, NODE_LIFETIME_DAYS_MAX);
	X509_free(plain);
	plain = NULL;

	/* What network_issue refuses. */
	assert_int_equal(network_issue(&net, key, NULL, 0, &plain, NULL), -EINVAL);
	assert_int_equal(network_issue(&net, key, NULL, NODE_LIFETIME_DAYS_MAX + 1, &plain, NULL),
			 -EINVAL);
	assert_int_equal(network_issue(&net, key, "Bad Name", 10, &plain, NULL), SHOAL_EPROTO);
	assert_null(plain);
	X509_free(cert);
	EVP_PKEY_free(key);
	network_release(&net);
}

static void test_cert_nickname_invalid_reads_empty(void **state)
{
	struct network net;
	EVP_PKEY *key = NULL;
	X509 *cert = NULL;
	char nick[NICKNAME_MAX + 1];
	int64_t expires = 0;

	net_load(*state, "net.pem", &net);
	assert_int_equal(identity_key_new(&key), 0);
	/* A CA that did not check: the reader still refuses what is no nickname. */
	const char *forged[] = {"Bad Name", "-dash", "abcdefghijklmnopqrstuvwxyz0123456", "a\x01"};
	for (size_t i = 0; i < sizeof(forged) / sizeof(forged[0]); i++) {
		assert_int_equal(identity_issue_named_cert(net.ca_key, net.ca_cert, key, forged[i],
							   -60, 3600, &cert),
				 0);
		memset(nick, 'x', sizeof(nick));
		assert_int_equal(identity_cert_nickname(cert, nick), 0);
		assert_string_equal(nick, "");
		X509_free(cert);
		cert = NULL;
	}
	/* No certificate at all. */
	assert_int_equal(identity_cert_nickname(NULL, nick), 0);
	assert_string_equal(nick, "");
	assert_int_equal(identity_cert_expiry(NULL, &expires), SHOAL_EIDENTITY);
	EVP_PKEY_free(key);
	network_release(&net);
}

static void test_renew_keeps_key_and_nickname(void **state)
{
	struct network net, other;
	EVP_PKEY *key = NULL;
	X509 *old = NULL, *expired = NULL, *renewed = NULL, *again = NULL, *foreign = NULL;
	char nick[NICKNAME_MAX + 1];
	int64_t old_end = 0, new_end = 0;
	const char *why = NULL;
	uint8_t id[NODE_ID_LEN];

	net_load(*state, "net.pem", &net);
	net_load(*state, "other.pem", &other);
	assert_int_equal(identity_key_new(&key), 0);
	assert_int_equal(network_issue(&net, key, "nas", 10, &old, NULL), 0);
	assert_int_equal(network_renew(&net, old, 400, &renewed, &why), 0);
	assert_true(EVP_PKEY_eq(X509_get0_pubkey(renewed), key) == 1);
	assert_int_equal(identity_cert_nickname(renewed, nick), 0);
	assert_string_equal(nick, "nas");
	assert_int_equal(identity_cert_expiry(old, &old_end), 0);
	assert_int_equal(identity_cert_expiry(renewed, &new_end), 0);
	assert_true(new_end >= old_end + 390 * 86400);
	assert_expires_in(renewed, 400);
	assert_int_equal(identity_verify_cert(net.ca_cert, renewed, id), 0);

	/* An expired certificate is what renewal is for. */
	assert_int_equal(identity_issue_named_cert(net.ca_key, net.ca_cert, key, "nas", -2 * 86400,
						   -86400, &expired),
			 0);
	assert_int_equal(identity_verify_cert(net.ca_cert, expired, id), SHOAL_EIDENTITY);
	assert_int_equal(network_renew(&net, expired, NODE_LIFETIME_DAYS, &again, NULL), 0);
	assert_int_equal(identity_verify_cert(net.ca_cert, again, id), 0);
	assert_expires_in(again, NODE_LIFETIME_DAYS);

	/* Another network's certificate, or the CA's own, is not renewed. */
	assert_int_equal(network_issue(&other, key, "nas", 10, &foreign, NULL), 0);
	why = NULL;
	assert_int_equal(network_renew(&net, foreign, 10, &renewed, &why), SHOAL_EIDENTITY);
	assert_non_null(why);
	assert_non_null(strstr(why, "not issued by this network"));
	assert_int_equal(network_renew(&net, net.ca_cert, 10, &renewed, &why), SHOAL_EIDENTITY);
	assert_int_equal(ERR_peek_error(), 0);

	X509_free(old);
	X509_free(expired);
	X509_free(renewed);
	X509_free(again);
	X509_free(foreign);
	EVP_PKEY_free(key);
	network_release(&net);
	network_release(&other);
}

static void test_check_cert_reasons(void **state)
{
	struct network net, other;
	EVP_PKEY *key = NULL;
	X509 *expired = NULL, *foreign = NULL;
	const char *why = NULL;
	uint8_t id[NODE_ID_LEN];

	net_load(*state, "net.pem", &net);
	net_load(*state, "other.pem", &other);
	assert_int_equal(identity_key_new(&key), 0);
	assert_int_equal(
		identity_issue_cert(net.ca_key, net.ca_cert, key, -2 * 86400, -86400, &expired), 0);
	assert_int_equal(identity_check_cert(net.ca_cert, expired, id, &why), SHOAL_EIDENTITY);
	assert_string_equal(why, "the certificate has expired");
	assert_int_equal(network_issue(&other, key, NULL, 1, &foreign, NULL), 0);
	assert_int_equal(identity_check_cert(net.ca_cert, foreign, id, &why), SHOAL_EIDENTITY);
	assert_string_equal(why, "the certificate was not issued by the CA certificate given");
	assert_int_equal(identity_check_cert(net.ca_cert, net.ca_cert, id, &why), SHOAL_EIDENTITY);
	assert_string_equal(why, "it is a CA certificate");
	X509_free(expired);
	X509_free(foreign);
	EVP_PKEY_free(key);
	network_release(&net);
	network_release(&other);
}

static void test_network_load_reasons(void **state)
{
	struct fixture *fx = *state;
	char net[PATH_MAX], ca_only[PATH_MAX], garbage[PATH_MAX];
	struct network loaded = {0};
	struct buf text = BUF_INIT;
	const char *why = NULL;

	make_network(fx, "net.pem", net);
	read_text(net, &text);
	/* The CA certificate alone: what a node's home holds as ca.crt. */
	const char *cert = strstr(buf_str(&text), "-----BEGIN CERTIFICATE");
	assert_non_null(cert);
	fx_path(fx, "ca-only.pem", ca_only);
	write_text(ca_only, cert);
	fx_path(fx, "garbage", garbage);
	write_text(garbage, "not pem at all\n");
	assert_int_equal(network_load(ca_only, &loaded, &why), SHOAL_EIDENTITY);
	assert_non_null(strstr(why, "not a network file"));
	assert_int_equal(network_load(garbage, &loaded, &why), SHOAL_EIDENTITY);
	assert_null(loaded.ca_key);
	assert_null(loaded.ca_cert);
	buf_release(&text);
}

static void test_load_nickname_expiry(void **state)
{
	struct fixture *fx = *state;
	struct network net;
	char home[PATH_MAX], nick[NICKNAME_MAX + 1];
	EVP_PKEY *key = NULL;
	X509 *cert = NULL;
	int64_t expires = 0;

	net_load(fx, "net.pem", &net);
	make_home(fx, "home", home);
	assert_int_equal(identity_load_nickname_expiry(home, nick, &expires), -ENOENT);
	assert_int_equal(identity_key_new(&key), 0);
	assert_int_equal(network_issue(&net, key, "desk", 30, &cert, NULL), 0);
	assert_int_equal(identity_write_certs(home, cert, net.ca_cert), 0);
	assert_int_equal(identity_load_nickname_expiry(home, nick, &expires), 0);
	assert_string_equal(nick, "desk");
	assert_in_range(expires, time(NULL) + 30 * 86400 - 10, time(NULL) + 30 * 86400);
	X509_free(cert);
	EVP_PKEY_free(key);
	network_release(&net);
}

static void test_pending_key_lifecycle(void **state)
{
	struct fixture *fx = *state;
	char home[PATH_MAX], path[PATH_MAX];
	EVP_PKEY *key = NULL, *loaded = NULL;

	make_home(fx, "home", home);
	assert_int_equal(identity_state(home), IDENTITY_NONE);
	fx_path(fx, "missing", path);
	assert_int_equal(identity_state(path), IDENTITY_NONE);
	assert_int_equal(identity_pending_load(home, &loaded), -ENOENT);
	assert_int_equal(identity_key_new(&key), 0);
	assert_int_equal(identity_pending_write(home, key), 0);
	assert_int_equal(identity_state(home), IDENTITY_PENDING);
	home_file(home, "node.key.pending", path);
	assert_int_equal(file_mode(path), 0600);
	assert_int_equal(identity_pending_write(home, key), SHOAL_EEXIST);
	assert_int_equal(identity_pending_load(home, &loaded), 0);
	assert_true(EVP_PKEY_eq(key, loaded) == 1);
	assert_int_equal(identity_pending_commit(home), 0);
	assert_int_equal(identity_state(home), IDENTITY_COMPLETE);
	assert_int_equal(access(path, F_OK), -1);
	home_file(home, "node.key", path);
	assert_int_equal(file_mode(path), 0600);
	/* A complete node takes no pending key, and a commit never replaces node.key. */
	assert_int_equal(identity_pending_write(home, key), SHOAL_EEXIST);
	assert_int_equal(identity_pending_commit(home), -ENOENT);
	EVP_PKEY_free(loaded);
	EVP_PKEY_free(key);
}

static void test_bundle_round_trip_and_refusals(void **state)
{
	struct fixture *fx = *state;
	struct network net;
	char bundle[PATH_MAX], single[PATH_MAX], three[PATH_MAX], net_path[PATH_MAX];
	EVP_PKEY *key = NULL;
	X509 *cert = NULL, *node = NULL, *ca = NULL;
	struct buf text = BUF_INIT;
	const char *why = NULL;

	net_load(fx, "net.pem", &net);
	fx_path(fx, "net.pem", net_path);
	assert_int_equal(identity_key_new(&key), 0);
	assert_int_equal(network_issue(&net, key, NULL, 1, &cert, NULL), 0);
	fx_path(fx, "node.pem", bundle);
	assert_int_equal(identity_bundle_write(bundle, cert, net.ca_cert), 0);
	/* No secret in it: readable by all, and never replaced. */
	assert_int_equal(file_mode(bundle), 0644);
	assert_int_equal(identity_bundle_write(bundle, cert, net.ca_cert), SHOAL_EEXIST);
	assert_int_equal(identity_bundle_load(bundle, &node, &ca, &why), 0);
	assert_int_equal(X509_cmp(node, cert), 0);
	assert_int_equal(X509_cmp(ca, net.ca_cert), 0);
	X509_free(node);
	X509_free(ca);

	/* One certificate, three, and a network file (key and certificate). */
	read_text(bundle, &text);
	const char *second = strstr(buf_str(&text) + 1, "-----BEGIN CERTIFICATE");
	assert_non_null(second);
	fx_path(fx, "single.pem", single);
	write_text(single, second);
	fx_path(fx, "three.pem", three);
	buf_addstr(&text, second);
	write_text(three, buf_str(&text));
	node = ca = NULL;
	assert_int_equal(identity_bundle_load(single, &node, &ca, &why), SHOAL_EIDENTITY);
	assert_non_null(strstr(why, "not a certificate file"));
	assert_int_equal(identity_bundle_load(three, &node, &ca, &why), SHOAL_EIDENTITY);
	assert_int_equal(identity_bundle_load(net_path, &node, &ca, &why), SHOAL_EIDENTITY);
	assert_null(node);
	assert_null(ca);
	buf_release(&text);
	X509_free(cert);
	EVP_PKEY_free(key);
	network_release(&net);
}

int main(void)
{
	/* The failure paths under test log warnings; keep the output to results. */
	log_init(LOG_LEVEL_ERROR, 0);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_network_create_makes_private_file, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_network_create_refuses_overwrite, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_network_ca_cert_fields, setup, teardown),
		cmocka_unit_test_setup_teardown(test_network_serials_differ, setup, teardown),
		cmocka_unit_test_setup_teardown(test_identity_init_writes_files, setup, teardown),
		cmocka_unit_test_setup_teardown(test_node_cert_fields, setup, teardown),
		cmocka_unit_test_setup_teardown(test_identity_init_refuses_existing, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_identity_load_id_matches_init, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_identity_load_id_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_two_inits_differ, setup, teardown),
		cmocka_unit_test_setup_teardown(test_identity_init_bad_network, setup, teardown),
		cmocka_unit_test_setup_teardown(test_load_key_and_cert_any_order, setup, teardown),
		cmocka_unit_test_setup_teardown(test_verify_accepts_node_cert, setup, teardown),
		cmocka_unit_test_setup_teardown(test_verify_rejects_other_network, setup, teardown),
		cmocka_unit_test_setup_teardown(test_verify_checks_validity_period, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_verify_rejects_tampered, setup, teardown),
		cmocka_unit_test_setup_teardown(test_verify_rejects_ca_as_leaf, setup, teardown),
		cmocka_unit_test(test_node_id_round_trip),
		cmocka_unit_test(test_node_id_parse_rejects_bad),
		cmocka_unit_test(test_node_id_from_pkey),
		cmocka_unit_test_setup_teardown(test_sign_verify_round_trip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_verify_signature_rejects_tampering, setup,
						teardown),
		cmocka_unit_test(test_sign_refuses_unusable_keys),
		cmocka_unit_test_setup_teardown(test_verify_signature_needs_ed25519_cert, setup,
						teardown),
		cmocka_unit_test(test_nickname_rules),
		cmocka_unit_test_setup_teardown(test_issue_lifetime_and_nickname, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cert_nickname_invalid_reads_empty, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_renew_keeps_key_and_nickname, setup, teardown),
		cmocka_unit_test_setup_teardown(test_check_cert_reasons, setup, teardown),
		cmocka_unit_test_setup_teardown(test_network_load_reasons, setup, teardown),
		cmocka_unit_test_setup_teardown(test_load_nickname_expiry, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pending_key_lifecycle, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bundle_round_trip_and_refusals, setup,
						teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
