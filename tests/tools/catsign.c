/*
 * catsign: signs a network catalog entry with a node's key, as a node
 * publishing it would, and prints the Envelope carrying it (a CatalogDelta of
 * one entry; the frame without its 4-byte length) in hex on stdout, for the
 * hostile peers of tests/cli/hostile.py, which cannot sign Ed25519 in
 * Python's standard library. It signs whatever it is asked to (names the
 * catalog refuses, such as "../x", included: that is its purpose) and can
 * spoil the signature afterwards.
 *
 *   catsign KEY CERT NAME [CAP] [--removed] [--bad-sig] [--size N] [--time US]
 *
 * KEY and CERT are PEM files (a node's node.key and node.crt, or testcert's);
 * CAP defaults to a well-formed capability of random bytes ("" for a
 * removal), the size to 1 and the time to now, in microseconds.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "crypto/hash.h"
#include "crypto/identity.h"
#include "proto/capability.h"
#include "proto/catalog.h"
#include "util/encoding.h"
#include "util/error.h"

static const char usage[] =
	"usage: catsign KEY CERT NAME [CAP] [--removed] [--bad-sig] [--size N] [--time US]\n";

static int parse_num(const char *s, unsigned long long *out)
{
	char *end;
	errno = 0;
	*out = strtoull(s, &end, 10);
	return errno || end == s || *end ? -1 : 0;
}

int main(int argc, char **argv)
{
	const char *key_path, *cert_path, *name, *cap = NULL;
	int removed = 0, bad_sig = 0;
	unsigned long long size = 1, num;
	struct timespec ts;
	char random_cap[CAPABILITY_STR_LEN + 1];
	EVP_PKEY *key = NULL;
	X509 *cert = NULL;
	unsigned char *der = NULL;
	struct catalog_entry e;
	int status = 1, err, len;

	if (argc < 4) {
		fputs(usage, stderr);
		return 2;
	}
	key_path = argv[1];
	cert_path = argv[2];
	name = argv[3];
	clock_gettime(CLOCK_REALTIME, &ts);
	int64_t time_us = (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
	for (int i = 4; i < argc; i++) {
		if (!strcmp(argv[i], "--removed")) {
			removed = 1;
		} else if (!strcmp(argv[i], "--bad-sig")) {
			bad_sig = 1;
		} else if (!strcmp(argv[i], "--size") && i + 1 < argc &&
			   !parse_num(argv[i + 1], &num)) {
			size = num;
			i++;
		} else if (!strcmp(argv[i], "--time") && i + 1 < argc &&
			   !parse_num(argv[i + 1], &num)) {
			time_us = (int64_t)num;
			i++;
		} else if (!cap && argv[i][0] != '-') {
			cap = argv[i];
		} else {
			fputs(usage, stderr);
			return 2;
		}
	}
	if (!cap && !removed) {
		struct capability c;
		if (random_bytes(&c, sizeof(c))) {
			fprintf(stderr, "catsign: no random bytes\n");
			return 1;
		}
		capability_format(&c, random_cap);
		cap = random_cap;
	}

	if ((err = identity_load_key(key_path, &key)) ||
	    (err = identity_load_cert(cert_path, &cert))) {
		fprintf(stderr, "catsign: %s\n", shoal_strerror(err));
		goto out;
	}
	len = i2d_X509(cert, &der);
	if (len <= 0) {
		fprintf(stderr, "catsign: cannot encode %s\n", cert_path);
		goto out;
	}
	err = catalog_entry_sign(key, der, (size_t)len, name, size, cap, time_us, removed, &e);
	if (err) {
		fprintf(stderr, "catsign: cannot sign: %s\n", shoal_strerror(err));
		goto out;
	}
	if (bad_sig)
		e.sig[CATALOG_SIG_LEN / 2] ^= 0x01;

	Shoal__CatalogEntry item, *ptr = &item;
	Shoal__CatalogDelta d = SHOAL__CATALOG_DELTA__INIT;
	Shoal__Envelope env = SHOAL__ENVELOPE__INIT;
	catalog_entry_to_pb(&e, &item);
	d.n_entries = 1;
	d.entries = &ptr;
	env.msg_case = SHOAL__ENVELOPE__MSG_CATALOG_DELTA;
	env.catalog_delta = &d;
	size_t n = shoal__envelope__get_packed_size(&env);
	uint8_t *bytes = malloc(n);
	char *hex = malloc(2 * n + 1);
	if (bytes && hex) {
		shoal__envelope__pack(&env, bytes);
		hex_encode(hex, bytes, n);
		printf("%s\n", hex);
		status = 0;
	}
	free(hex);
	free(bytes);
	catalog_entry_release(&e);
out:
	OPENSSL_free(der);
	X509_free(cert);
	EVP_PKEY_free(key);
	return status;
}
