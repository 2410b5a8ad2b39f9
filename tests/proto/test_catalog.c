/*
 * Tests for src/proto/catalog.c: catalog entries as signed by their
 * publisher. The signed bytes follow the layout of proto/shoal.proto byte for
 * byte; a signed entry survives the trip through protobuf and checks out with
 * its owner's id; every field changed after signing (name, size, capability,
 * time, removed, signature, certificate) makes the check fail; so do a
 * certificate from another network, invalid names, malformed capabilities, a
 * removal that carries a capability, a live entry without one, a time that is
 * not positive, and malformed shapes (lengths) in the protobuf message.
 * Each test makes its CAs in a temporary directory under /tmp.
 */
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "../fixture.h"
#include "crypto/hash.h"
#include "crypto/identity.h"
#include "proto/capability.h"
#include "proto/catalog.h"
#include "util/error.h"
#include "util/log.h"

#define NOW_US ((int64_t)1700000000 * 1000000 + 123456)

/* A network (CA) and a node of it: key, certificate, its DER and id. */
struct net {
	EVP_PKEY *ca_key;
	X509 *ca_cert;
	EVP_PKEY *key;
	X509 *cert;
	uint8_t *der;
	size_t der_len;
	uint8_t id[NODE_ID_LEN];
};

struct fixture {
	char dir[TEST_DIR_SIZE];
	struct net a, a2, b; /* a and a2: two nodes of one network; b: another network */
	char cap[CAPABILITY_STR_LEN + 1];
};

static void net_node(struct net *w, EVP_PKEY *ca_key, X509 *ca_cert)
{
	unsigned char *der = NULL;
	w->key = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	assert_non_null(w->key);
	assert_int_equal(identity_issue_cert(ca_key, ca_cert, w->key, -60, 3600, &w->cert), 0);
	int len = i2d_X509(w->cert, &der);
	assert_true(len > 0);
	w->der = der;
	w->der_len = (size_t)len;
	assert_int_equal(node_id_from_pkey(w->key, w->id), 0);
}

static void net_make(const char *dir, const char *name, struct net *w)
{
	char path[PATH_MAX];
	memset(w, 0, sizeof(*w));
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	assert_int_equal(network_create(path), 0);
	assert_int_equal(identity_load_key(path, &w->ca_key), 0);
	assert_int_equal(identity_load_cert(path, &w->ca_cert), 0);
	net_node(w, w->ca_key, w->ca_cert);
}

static void net_release(struct net *w)
{
	EVP_PKEY_free(w->ca_key);
	X509_free(w->ca_cert);
	EVP_PKEY_free(w->key);
	X509_free(w->cert);
	OPENSSL_free(w->der);
}

static int setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));
	if (!fx)
		return -1;
	if (test_dir_make(fx->dir, "catalog")) {
		free(fx);
		return -1;
	}
	net_make(fx->dir, "a.pem", &fx->a);
	/* A second node of network a: same CA, its own key. */
	memset(&fx->a2, 0, sizeof(fx->a2));
	net_node(&fx->a2, fx->a.ca_key, fx->a.ca_cert);
	net_make(fx->dir, "b.pem", &fx->b);
	struct capability cap;
	for (size_t i = 0; i < sizeof(cap.id); i++)
		cap.id[i] = (uint8_t)(i * 11 + 1);
	for (size_t i = 0; i < sizeof(cap.key); i++)
		cap.key[i] = (uint8_t)(i * 5 + 2);
	capability_format(&cap, fx->cap);
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *fx = *state;
	net_release(&fx->a);
	X509_free(fx->a2.cert);
	EVP_PKEY_free(fx->a2.key);
	OPENSSL_free(fx->a2.der);
	net_release(&fx->b);
	int err = test_dir_remove(fx->dir);
	free(fx);
	return err;
}

/* Signs an entry by node w. */
static void sign(const struct net *w, const char *name, uint64_t size, const char *cap,
		 int64_t time_us, int removed, struct catalog_entry *out)
{
	assert_int_equal(catalog_entry_sign(w->key, w->der, w->der_len, name, size, cap, time_us,
					    removed, out),
			 0);
}

/* Verifies e against ca, expecting want; with 0, also that the owner is id. */
static void expect(X509 *ca, struct catalog_entry *e, int want, const uint8_t *id)
{
	const char *why = NULL;
	int err = catalog_entry_verify(ca, e, &why);
	if (err != want)
		fail_msg("entry \"%s\": got %d (%s), wanted %d", e->name, err, why ? why : "-",
			 want);
	if (want == 0) {
		assert_memory_equal(e->owner, id, NODE_ID_LEN);
	} else {
		assert_non_null(why);
	}
}

/* Packs e into protobuf bytes and reads them back into a new entry. */
static void round_trip(const struct catalog_entry *e, struct catalog_entry *out)
{
	Shoal__CatalogEntry m;
	catalog_entry_to_pb(e, &m);
	size_t n = shoal__catalog_entry__get_packed_size(&m);
	uint8_t *bytes = malloc(n);
	assert_non_null(bytes);
	assert_int_equal(shoal__catalog_entry__pack(&m, bytes), n);
	Shoal__CatalogEntry *back = shoal__catalog_entry__unpack(NULL, n, bytes);
	assert_non_null(back);
	assert_int_equal(catalog_entry_from_pb(back, out, NULL), 0);
	shoal__catalog_entry__free_unpacked(back, NULL);
	free(bytes);
}

static void test_signed_bytes_layout(void **state)
{
	(void)state;
	struct catalog_entry e;
	uint8_t got[CATALOG_SIGNED_MAX], want[CATALOG_SIGNED_MAX];
	size_t n = 0;

	memset(&e, 0, sizeof(e));
	e.name = "ab";
	snprintf(e.cap, sizeof(e.cap), "xyz");
	e.size = 0x0102030405060708ULL;
	e.time_us = 0x1112131415161718LL;
	e.removed = 1;
	for (size_t i = 0; i < NODE_ID_LEN; i++)
		e.owner[i] = (uint8_t)(0xa0 + i);

	memcpy(want, "shoal catalog v1", 16);
	n = 16;
	want[n++] = 0;
	memcpy(want + n, e.owner, NODE_ID_LEN);
	n += NODE_ID_LEN;
	static const uint8_t rest[] = {0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18, /* time */
				       1,					       /* removed */
				       1,    2,	   3,	 4,    5,    6,	   7,	 8,    /* size */
				       0,    2,	   'a',	 'b',			       /* name */
				       0,    3,	   'x',	 'y',  'z'};		       /* cap */
	memcpy(want + n, rest, sizeof(rest));
	n += sizeof(rest);
	assert_int_equal(catalog_signed_bytes(&e, got), n);
	assert_memory_equal(got, want, n);

	/* A negative time is written in two's complement; removed is 0 or 1. */
	e.time_us = -2;
	e.removed = 7;
	catalog_signed_bytes(&e, got);
	for (size_t i = 0; i < 8; i++)
		assert_int_equal(got[17 + NODE_ID_LEN + i], i == 7 ? 0xfe : 0xff);
	assert_int_equal(got[17 + NODE_ID_LEN + 8], 1);

	/* The hash is SHA-256 of exactly these bytes. */
	uint8_t h[SHA256_LEN], h2[SHA256_LEN];
	catalog_entry_hash(&e, h);
	sha256(got, catalog_signed_bytes(&e, got), h2);
	assert_memory_equal(h, h2, SHA256_LEN);
}

static void test_longest_entry_fits(void **state)
{
	struct fixture *fx = *state;
	struct catalog_entry e;
	char name[NAME_MAX_LEN + 1];
	uint8_t bytes[CATALOG_SIGNED_MAX];

	memset(name, 'n', NAME_MAX_LEN);
	name[NAME_MAX_LEN] = 0;
	sign(&fx->a, name, UINT64_MAX, fx->cap, INT64_MAX, 0, &e);
	assert_int_equal(catalog_signed_bytes(&e, bytes), CATALOG_SIGNED_MAX);
	expect(fx->a.ca_cert, &e, 0, fx->a.id);
	catalog_entry_release(&e);
}

static void test_round_trip(void **state)
{
	struct fixture *fx = *state;
	struct catalog_entry e, back;
	uint8_t owner[NODE_ID_LEN];

	sign(&fx->a, "q3 report.pdf", 123456789, fx->cap, NOW_US, 0, &e);
	assert_memory_equal(e.owner, fx->a.id, NODE_ID_LEN);
	expect(fx->a.ca_cert, &e, 0, fx->a.id);

	round_trip(&e, &back);
	assert_string_equal(back.name, "q3 report.pdf");
	assert_int_equal(back.size, 123456789);
	assert_string_equal(back.cap, fx->cap);
	assert_int_equal(back.time_us, NOW_US);
	assert_int_equal(back.removed, 0);
	assert_int_equal(back.cert_len, fx->a.der_len);
	assert_memory_equal(back.cert, fx->a.der, fx->a.der_len);
	assert_memory_equal(back.sig, e.sig, CATALOG_SIG_LEN);
	/* The owner is not on the wire: it comes from the certificate. */
	uint8_t zero[NODE_ID_LEN] = {0};
	assert_memory_equal(back.owner, zero, NODE_ID_LEN);
	expect(fx->a.ca_cert, &back, 0, fx->a.id);

	/* The protobuf-level check says the same and names the owner. */
	Shoal__CatalogEntry m;
	catalog_entry_to_pb(&e, &m);
	memset(owner, 0, sizeof(owner));
	assert_int_equal(catalog_entry_check(fx->a.ca_cert, &m, owner), 0);
	assert_memory_equal(owner, fx->a.id, NODE_ID_LEN);

	/* Same content, same hash; the round trip changes nothing signed. */
	uint8_t h1[SHA256_LEN], h2[SHA256_LEN];
	catalog_entry_hash(&e, h1);
	catalog_entry_hash(&back, h2);
	assert_memory_equal(h1, h2, SHA256_LEN);

	catalog_entry_release(&back);
	catalog_entry_release(&e);
	catalog_entry_release(NULL);
}

static void test_removal_round_trip(void **state)
{
	struct fixture *fx = *state;
	struct catalog_entry e, back;

	sign(&fx->a2, "gone", 0, NULL, NOW_US + 1, 1, &e);
	assert_string_equal(e.cap, "");
	round_trip(&e, &back);
	assert_int_equal(back.removed, 1);
	assert_string_equal(back.cap, "");
	expect(fx->a.ca_cert, &back, 0, fx->a2.id);
	catalog_entry_release(&back);
	catalog_entry_release(&e);
}

/* A capability in upper case is the same capability, and is signed as typed. */
static void test_capability_case_kept(void **state)
{
	struct fixture *fx = *state;
	struct catalog_entry e, back;
	char upper[CAPABILITY_STR_LEN + 1];

	snprintf(upper, sizeof(upper), "%s", fx->cap);
	for (size_t i = strlen(CAPABILITY_PREFIX); upper[i]; i++) {
		if (upper[i] >= 'a' && upper[i] <= 'z')
			upper[i] = (char)(upper[i] - 'a' + 'A');
	}
	sign(&fx->a, "upper", 1, upper, NOW_US, 0, &e);
	round_trip(&e, &back);
	assert_string_equal(back.cap, upper);
	expect(fx->a.ca_cert, &back, 0, fx->a.id);
	catalog_entry_release(&back);
	catalog_entry_release(&e);
}

/* Each field changed after signing: the entry no longer checks out. */
static void test_tampered_fields_refused(void **state)
{
	struct fixture *fx = *state;
	struct catalog_entry e, t;
	char other_cap[CAPABILITY_STR_LEN + 1];
	struct capability c;

	sign(&fx->a, "report", 1000, fx->cap, NOW_US, 0, &e);
	assert_int_equal(capability_parse(&c, fx->cap), 0);
	c.key[0] ^= 1;
	capability_format(&c, other_cap);

	for (int field = 0; field < 12; field++) {
		round_trip(&e, &t);
		int want = SHOAL_EIDENTITY;
		switch (field) {
		case 0: /* name: another valid name */
			free(t.name);
			t.name = strdup("reporT");
			assert_non_null(t.name);
			break;
		case 1:
			t.size++;
			break;
		case 2:
			t.size = 0;
			break;
		case 3: /* another well-formed capability */
			snprintf(t.cap, sizeof(t.cap), "%s", other_cap);
			break;
		case 4:
			t.time_us++;
			break;
		case 5:
			t.time_us = NOW_US + ((int64_t)1 << 40);
			break;
		case 6: /* a live entry turned into a removal keeps its capability */
			t.removed = 1;
			want = SHOAL_EPROTO;
			break;
		case 7: /* ... or drops it: a well-formed removal, but not the one signed */
			t.removed = 1;
			t.cap[0] = 0;
			break;
		case 8:
			t.sig[0] ^= 0x01;
			break;
		case 9:
			t.sig[CATALOG_SIG_LEN - 1] ^= 0x80;
			break;
		case 10: /* another node's (valid) certificate */
			free(t.cert);
			t.cert = malloc(fx->a2.der_len);
			assert_non_null(t.cert);
			memcpy(t.cert, fx->a2.der, fx->a2.der_len);
			t.cert_len = fx->a2.der_len;
			break;
		case 11: /* the certificate's own bytes changed */
			t.cert[t.cert_len / 2] ^= 0x10;
			break;
		}
		const char *why = NULL;
		int err = catalog_entry_verify(fx->a.ca_cert, &t, &why);
		if (err != want)
			fail_msg("field %d tampered: got %d (%s), wanted %d", field, err,
				 why ? why : "-", want);
		catalog_entry_release(&t);
	}
	/* Untouched, it still passes. */
	round_trip(&e, &t);
	expect(fx->a.ca_cert, &t, 0, fx->a.id);
	catalog_entry_release(&t);
	catalog_entry_release(&e);
}

static void test_other_network_refused(void **state)
{
	struct fixture *fx = *state;
	struct catalog_entry e;
	uint8_t owner[NODE_ID_LEN];

	/* Properly signed, but by a node of network b. */
	sign(&fx->b, "report", 1, fx->cap, NOW_US, 0, &e);
	expect(fx->b.ca_cert, &e, 0, fx->b.id);
	expect(fx->a.ca_cert, &e, SHOAL_EIDENTITY, NULL);
	Shoal__CatalogEntry m;
	catalog_entry_to_pb(&e, &m);
	assert_int_equal(catalog_entry_check(fx->a.ca_cert, &m, owner), SHOAL_EIDENTITY);
	catalog_entry_release(&e);

	/* The CA's own certificate is not a node's. */
	unsigned char *ca_der = NULL;
	int ca_len = i2d_X509(fx->a.ca_cert, &ca_der);
	assert_true(ca_len > 0);
	assert_int_equal(catalog_entry_sign(fx->a.ca_key, ca_der, (size_t)ca_len, "ca", 1, fx->cap,
					    NOW_US, 0, &e),
			 0);
	expect(fx->a.ca_cert, &e, SHOAL_EIDENTITY, NULL);
	catalog_entry_release(&e);
	OPENSSL_free(ca_der);
}

static void test_certificate_shape(void **state)
{
	struct fixture *fx = *state;
	uint8_t owner[NODE_ID_LEN];
	uint8_t buf[CATALOG_CERT_MAX + 1];
	X509 *cert = NULL;

	assert_int_equal(catalog_cert_check(fx->a.ca_cert, fx->a.der, fx->a.der_len, &cert, owner),
			 0);
	assert_non_null(cert);
	assert_memory_equal(owner, fx->a.id, NODE_ID_LEN);
	X509_free(cert);
	/* Truncated, followed by a byte, empty, or junk. */
	assert_int_equal(
		catalog_cert_check(fx->a.ca_cert, fx->a.der, fx->a.der_len - 1, NULL, owner),
		SHOAL_EIDENTITY);
	memcpy(buf, fx->a.der, fx->a.der_len);
	buf[fx->a.der_len] = 0;
	assert_int_equal(catalog_cert_check(fx->a.ca_cert, buf, fx->a.der_len + 1, NULL, owner),
			 SHOAL_EIDENTITY);
	assert_int_equal(catalog_cert_check(fx->a.ca_cert, buf, 0, NULL, owner), SHOAL_EIDENTITY);
	memset(buf, 0x30, sizeof(buf));
	assert_int_equal(catalog_cert_check(fx->a.ca_cert, buf, sizeof(buf) - 1, NULL, owner),
			 SHOAL_EIDENTITY);
}

static void test_bad_names_refused(void **state)
{
	struct fixture *fx = *state;
	static const char *const bad[] = {"../x", "a/b", "..", "", ".", "/", "x\n", " lead"};
	struct catalog_entry e;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		/* Live or removed, correctly signed: the name alone is wrong. */
		for (int removed = 0; removed < 2; removed++) {
			sign(&fx->a, bad[i], 1, removed ? NULL : fx->cap, NOW_US, removed, &e);
			expect(fx->a.ca_cert, &e, SHOAL_EBADNAME, NULL);
			catalog_entry_release(&e);
		}
	}
	/* Too long to sign or to take off the wire. */
	char longname[NAME_MAX_LEN + 2];
	memset(longname, 'n', NAME_MAX_LEN + 1);
	longname[NAME_MAX_LEN + 1] = 0;
	assert_int_equal(catalog_entry_sign(fx->a.key, fx->a.der, fx->a.der_len, longname, 1,
					    fx->cap, NOW_US, 0, &e),
			 SHOAL_EBADNAME);
}

static void test_bad_capabilities_refused(void **state)
{
	struct fixture *fx = *state;
	char near[CAPABILITY_STR_LEN + 1], prefix[CAPABILITY_STR_LEN + 1];
	struct catalog_entry e;

	snprintf(near, sizeof(near), "%s", fx->cap);
	near[20] = '1'; /* not in the base32 alphabet */
	snprintf(prefix, sizeof(prefix), "%s", fx->cap);
	prefix[0] = 'S';
	const char *const bad[] = {"", "shoal:", "shoal:abc", near, prefix, "not a capability"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		sign(&fx->a, "file", 1, bad[i], NOW_US, 0, &e);
		expect(fx->a.ca_cert, &e, SHOAL_EBADCAP, NULL);
		catalog_entry_release(&e);
	}
	char longcap[CAPABILITY_STR_LEN + 2];
	memset(longcap, 'a', sizeof(longcap) - 1);
	longcap[sizeof(longcap) - 1] = 0;
	assert_int_equal(catalog_entry_sign(fx->a.key, fx->a.der, fx->a.der_len, "file", 1, longcap,
					    NOW_US, 0, &e),
			 SHOAL_EBADCAP);
}

static void test_removal_with_capability_refused(void **state)
{
	struct fixture *fx = *state;
	struct catalog_entry e;

	sign(&fx->a, "file", 0, fx->cap, NOW_US, 1, &e);
	expect(fx->a.ca_cert, &e, SHOAL_EPROTO, NULL);
	catalog_entry_release(&e);
	sign(&fx->a, "file", 0, "x", NOW_US, 1, &e);
	expect(fx->a.ca_cert, &e, SHOAL_EPROTO, NULL);
	catalog_entry_release(&e);
}

static void test_time_must_be_positive(void **state)
{
	struct fixture *fx = *state;
	struct catalog_entry e;
	static const int64_t bad[] = {0, -1, INT64_MIN};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		sign(&fx->a, "file", 1, fx->cap, bad[i], 0, &e);
		expect(fx->a.ca_cert, &e, SHOAL_EPROTO, NULL);
		catalog_entry_release(&e);
	}
	sign(&fx->a, "file", 1, fx->cap, 1, 0, &e);
	expect(fx->a.ca_cert, &e, 0, fx->a.id);
	catalog_entry_release(&e);
}

/* Shapes from the wire: lengths are checked before anything is copied. */
static void test_from_pb_shapes(void **state)
{
	struct fixture *fx = *state;
	struct catalog_entry e, out;
	char longname[NAME_MAX_LEN + 2], longcap[CAPABILITY_STR_LEN + 2];
	uint8_t bigcert[CATALOG_CERT_MAX + 1];
	const char *why;

	sign(&fx->a, "file", 1, fx->cap, NOW_US, 0, &e);
	Shoal__CatalogEntry m;

	memset(longname, 'n', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = 0;
	catalog_entry_to_pb(&e, &m);
	m.name = longname;
	why = NULL;
	assert_int_equal(catalog_entry_from_pb(&m, &out, &why), SHOAL_EBADNAME);
	assert_non_null(why);

	memset(longcap, 'c', sizeof(longcap) - 1);
	longcap[sizeof(longcap) - 1] = 0;
	catalog_entry_to_pb(&e, &m);
	m.capability = longcap;
	assert_int_equal(catalog_entry_from_pb(&m, &out, NULL), SHOAL_EBADCAP);

	catalog_entry_to_pb(&e, &m);
	m.owner_cert.len = 0;
	assert_int_equal(catalog_entry_from_pb(&m, &out, NULL), SHOAL_EPROTO);
	memset(bigcert, 0x30, sizeof(bigcert));
	m.owner_cert.data = bigcert;
	m.owner_cert.len = sizeof(bigcert);
	assert_int_equal(catalog_entry_from_pb(&m, &out, NULL), SHOAL_EPROTO);

	for (size_t len = 0; len <= CATALOG_SIG_LEN + 1; len++) {
		if (len == CATALOG_SIG_LEN)
			continue;
		catalog_entry_to_pb(&e, &m);
		m.signature.len = len;
		assert_int_equal(catalog_entry_from_pb(&m, &out, NULL), SHOAL_EPROTO);
	}

	/* Absent strings read as empty: a removal of nothing is a bad name. */
	catalog_entry_to_pb(&e, &m);
	m.name = NULL;
	m.capability = NULL;
	assert_int_equal(catalog_entry_from_pb(&m, &out, NULL), 0);
	assert_string_equal(out.name, "");
	assert_string_equal(out.cap, "");
	expect(fx->a.ca_cert, &out, SHOAL_EBADNAME, NULL);
	catalog_entry_release(&out);

	uint8_t owner[NODE_ID_LEN];
	catalog_entry_to_pb(&e, &m);
	m.signature.len = 3;
	assert_int_equal(catalog_entry_check(fx->a.ca_cert, &m, owner), SHOAL_EPROTO);
	catalog_entry_release(&e);
}

static void test_hash_covers_every_field(void **state)
{
	struct fixture *fx = *state;
	struct catalog_entry e;
	uint8_t base[SHA256_LEN], h[SHA256_LEN];

	sign(&fx->a, "file", 5, fx->cap, NOW_US, 0, &e);
	catalog_entry_hash(&e, base);
	for (int field = 0; field < 6; field++) {
		struct catalog_entry t = e;
		char name[] = "filf";
		switch (field) {
		case 0:
			t.name = name;
			break;
		case 1:
			t.size++;
			break;
		case 2:
			t.cap[CAPABILITY_STR_LEN - 1] ^= 1;
			break;
		case 3:
			t.time_us++;
			break;
		case 4:
			t.removed = 1;
			break;
		case 5:
			t.owner[0] ^= 1;
			break;
		}
		catalog_entry_hash(&t, h);
		assert_memory_not_equal(h, base, SHA256_LEN);
	}
	/* The signature and certificate are not signed over: not in the hash. */
	struct catalog_entry t = e;
	t.sig[0] ^= 1;
	catalog_entry_hash(&t, h);
	assert_memory_equal(h, base, SHA256_LEN);
	catalog_entry_release(&e);
}

static void test_sign_needs_private_key(void **state)
{
	struct fixture *fx = *state;
	struct catalog_entry e;
	memset(&e, 0x5a, sizeof(e));
	struct catalog_entry untouched = e;

	EVP_PKEY *x25519 = EVP_PKEY_Q_keygen(NULL, NULL, "X25519");
	assert_non_null(x25519);
	assert_int_equal(catalog_entry_sign(x25519, fx->a.der, fx->a.der_len, "f", 1, fx->cap,
					    NOW_US, 0, &e),
			 SHOAL_EIDENTITY);
	assert_int_equal(
		catalog_entry_sign(fx->a.key, fx->a.der, 0, "f", 1, fx->cap, NOW_US, 0, &e),
		SHOAL_EIDENTITY);
	assert_memory_equal(&e, &untouched, sizeof(e));
	EVP_PKEY_free(x25519);
}

int main(void)
{
	/* The refusals under test log at debug level or warn; keep to results. */
	log_init(LOG_LEVEL_ERROR, 0);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_signed_bytes_layout),
		cmocka_unit_test_setup_teardown(test_longest_entry_fits, setup, teardown),
		cmocka_unit_test_setup_teardown(test_round_trip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_removal_round_trip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_capability_case_kept, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tampered_fields_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_other_network_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_certificate_shape, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_names_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_capabilities_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_removal_with_capability_refused, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_time_must_be_positive, setup, teardown),
		cmocka_unit_test_setup_teardown(test_from_pb_shapes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hash_covers_every_field, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sign_needs_private_key, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
