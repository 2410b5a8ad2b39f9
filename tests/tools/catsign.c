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
 *           [--count N]
 *
 * KEY and CERT are PEM files (a node's node.key and node.crt, or testcert's);
 * CAP defaults to a well-formed capability of random bytes ("" for a
 * removal), the size to 1 and the time to now, in microseconds. With
 * --count N it signs N entries named NAME-0 .. NAME-<N-1> and prints them as
 * Envelopes of WIRE_CATALOG_MAX entries at most, one hex line each (a flood).
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
#include "net/wire.h"
#include "proto/catalog.h"
#include "util/encoding.h"
#include "util/error.h"

static const char usage[] = "usage: catsign KEY CERT NAME [CAP] [--removed] [--bad-sig] "
			    "[--size N] [--time US] [--count N]\n";

static int parse_num(const char *s, unsigned long long *out)
{
	char *end;
	errno = 0;
	*out = strtoull(s, &end, 10);
	return errno || end == s || *end ? -1 : 0;
}

/* Prints the Envelope carrying e[0..n) as a CatalogDelta, in hex. 0 or 1. */
static int print_delta(struct catalog_entry *e, size_t n)
{
	Shoal__CatalogEntry items[WIRE_CATALOG_MAX], *ptrs[WIRE_CATALOG_MAX];
	Shoal__CatalogDelta d = SHOAL__CATALOG_DELTA__INIT;
	Shoal__Envelope env = SHOAL__ENVELOPE__INIT;
	for (size_t i = 0; i < n; i++) {
		catalog_entry_to_pb(&e[i], &items[i]);
		ptrs[i] = &items[i];
	}
	d.n_entries = n;
	d.entries = ptrs;
	env.msg_case = SHOAL__ENVELOPE__MSG_CATALOG_DELTA;
	env.catalog_delta = &d;
	size_t len = shoal__envelope__get_packed_size(&env);
	uint8_t *bytes = malloc(len);
	char *hex = malloc(2 * len + 1);
	int status = 1;
	if (bytes && hex) {
		shoal__envelope__pack(&env, bytes);
		hex_encode(hex, bytes, len);
		printf("%s\n", hex);
		status = 0;
	}
	free(hex);
	free(bytes);
	return status;
}

int main(int argc, char **argv)
{
	const char *key_path, *cert_path, *name, *cap = NULL;
	int removed = 0, bad_sig = 0;
	unsigned long long size = 1, num, count = 0;
	struct timespec ts;
	char random_cap[CAPABILITY_STR_LEN + 1];
	EVP_PKEY *key = NULL;
	X509 *cert = NULL;
	unsigned char *der = NULL;
	struct catalog_entry e[WIRE_CATALOG_MAX];
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
		} else if (!strcmp(argv[i], "--count") && i + 1 < argc &&
			   !parse_num(argv[i + 1], &num) && num > 0 && num <= 10000000) {
			count = num;
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
	status = 0;
	for (unsigned long long done = 0; !status && done < (count ? count : 1);) {
		size_t n = 0;
		for (; n < WIRE_CATALOG_MAX && done < (count ? count : 1); n++, done++) {
			char numbered[NAME_MAX_LEN + 32];
			if (count)
				snprintf(numbered, sizeof(numbered), "%s-%llu", name, done);
			err = catalog_entry_sign(key, der, (size_t)len, count ? numbered : name,
						 size, cap, time_us, removed, &e[n]);
			if (err) {
				fprintf(stderr, "catsign: cannot sign: %s\n", shoal_strerror(err));
				status = 1;
				break;
			}
			if (bad_sig)
				e[n].sig[CATALOG_SIG_LEN / 2] ^= 0x01;
		}
		if (!status)
			status = print_delta(e, n);
		for (size_t i = 0; i < n; i++)
			catalog_entry_release(&e[i]);
	}
out:
	OPENSSL_free(der);
	X509_free(cert);
	EVP_PKEY_free(key);
	return status;
}
