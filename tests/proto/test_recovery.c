/*
 * Tests for src/proto/recovery.c: a signed record survives packing and
 * checks out with its owner's id; every field changed after signing (seq,
 * locator, sealed capability, signature, certificate) makes the check fail;
 * a certificate of another network is refused; shapes (lengths) are checked
 * when unpacking. A name table goes round trip and a table with a bad name,
 * a version 0, a bad capability or another format is refused.
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
#include "crypto/identity.h"
#include "proto/recovery.h"
#include "util/error.h"
#include "util/log.h"

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
	struct net a, b; /* two networks */
	uint8_t locator[RECOVERY_LOCATOR_LEN];
	uint8_t sealed[100];
	char cap[CAPABILITY_STR_LEN + 1];
};

static void net_make(const char *dir, const char *name, struct net *w)
{
	char path[PATH_MAX];
	unsigned char *der = NULL;
	memset(w, 0, sizeof(*w));
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	assert_int_equal(network_create(path), 0);
	assert_int_equal(identity_load_key(path, &w->ca_key), 0);
	assert_int_equal(identity_load_cert(path, &w->ca_cert), 0);
	w->key = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	assert_non_null(w->key);
	assert_int_equal(identity_issue_cert(w->ca_key, w->ca_cert, w->key, -60, 3600, &w->cert),
			 0);
	int len = i2d_X509(w->cert, &der);
	assert_true(len > 0);
	w->der = der;
	w->der_len = (size_t)len;
	assert_int_equal(node_id_from_pkey(w->key, w->id), 0);
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
	if (!fx || test_dir_make(fx->dir, "recovery")) {
		free(fx);
		return -1;
	}
	net_make(fx->dir, "a.pem", &fx->a);
	net_make(fx->dir, "b.pem", &fx->b);
	for (size_t i = 0; i < sizeof(fx->locator); i++)
		fx->locator[i] = (uint8_t)(i * 3 + 1);
	for (size_t i = 0; i < sizeof(fx->sealed); i++)
		fx->sealed[i] = (uint8_t)(i * 13 + 5);
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
	net_release(&fx->b);
	int err = test_dir_remove(fx->dir);
	free(fx);
	return err;
}

static void sign_a(struct fixture *fx, struct recovery_record *r)
{
	assert_int_equal(recovery_record_sign(fx->a.key, fx->a.id, fx->a.der, fx->a.der_len, 77,
					      fx->locator, fx->sealed, sizeof(fx->sealed), r),
			 0);
}

static void test_round_trip(void **state)
{
	struct fixture *fx = *state;
	struct recovery_record r, back;
	struct buf b = BUF_INIT;
	sign_a(fx, &r);
	assert_int_equal(recovery_record_pack(&r, &b), 0);
	assert_true(b.len <= RECOVERY_RECORD_MAX);
	assert_int_equal(recovery_record_unpack((const uint8_t *)b.data, b.len, &back), 0);
	assert_int_equal(back.seq, 77);
	assert_memory_equal(back.locator, fx->locator, RECOVERY_LOCATOR_LEN);
	assert_int_equal(back.sealed_len, sizeof(fx->sealed));
	assert_memory_equal(back.sealed, fx->sealed, sizeof(fx->sealed));
	assert_int_equal(recovery_record_verify(fx->a.ca_cert, &back, NULL), 0);
	assert_memory_equal(back.owner, fx->a.id, NODE_ID_LEN);
	buf_release(&b);
}

static void test_tampered_refused(void **state)
{
	struct fixture *fx = *state;
	struct recovery_record r, t;
	const char *why = NULL;
	sign_a(fx, &r);
	t = r;
	t.seq++;
	assert_int_equal(recovery_record_verify(fx->a.ca_cert, &t, &why), SHOAL_EIDENTITY);
	assert_string_equal(why, "bad signature");
	t = r;
	t.locator[5] ^= 1;
	assert_int_equal(recovery_record_verify(fx->a.ca_cert, &t, NULL), SHOAL_EIDENTITY);
	t = r;
	t.sealed[50] ^= 1;
	assert_int_equal(recovery_record_verify(fx->a.ca_cert, &t, NULL), SHOAL_EIDENTITY);
	t = r;
	t.sealed_len--;
	assert_int_equal(recovery_record_verify(fx->a.ca_cert, &t, NULL), SHOAL_EIDENTITY);
	t = r;
	t.sig[0] ^= 1;
	assert_int_equal(recovery_record_verify(fx->a.ca_cert, &t, NULL), SHOAL_EIDENTITY);
	t = r;
	t.cert[t.cert_len / 2] ^= 1;
	assert_int_equal(recovery_record_verify(fx->a.ca_cert, &t, NULL), SHOAL_EIDENTITY);
	/* A record of network b checked against a's CA. */
	assert_int_equal(recovery_record_sign(fx->b.key, fx->b.id, fx->b.der, fx->b.der_len, 1,
					      fx->locator, fx->sealed, sizeof(fx->sealed), &t),
			 0);
	assert_int_equal(recovery_record_verify(fx->b.ca_cert, &t, NULL), 0);
	assert_int_equal(recovery_record_verify(fx->a.ca_cert, &t, &why), SHOAL_EIDENTITY);
	assert_non_null(strstr(why, "certificate"));
	/* b's certificate with a's signature. */
	t = r;
	memcpy(t.cert, fx->b.der, fx->b.der_len);
	t.cert_len = fx->b.der_len;
	assert_int_equal(recovery_record_verify(fx->b.ca_cert, &t, NULL), SHOAL_EIDENTITY);
}

static void test_shapes(void **state)
{
	struct fixture *fx = *state;
	struct recovery_record r, back;
	Shoal__RecoveryRecord m;
	sign_a(fx, &r);
	assert_int_equal(recovery_record_sign(fx->a.key, fx->a.id, fx->a.der, fx->a.der_len, 1,
					      fx->locator, fx->sealed, RECOVERY_SEALED_MAX + 1,
					      &back),
			 SHOAL_ETOOBIG);
	assert_int_equal(recovery_record_sign(fx->a.key, fx->a.id, fx->a.der, 0, 1, fx->locator,
					      fx->sealed, 10, &back),
			 SHOAL_ETOOBIG);
	recovery_record_to_pb(&r, &m);
	m.locator.len = 31;
	assert_int_equal(recovery_record_from_pb(&m, &back), SHOAL_EPROTO);
	recovery_record_to_pb(&r, &m);
	m.signature.len = 63;
	assert_int_equal(recovery_record_from_pb(&m, &back), SHOAL_EPROTO);
	recovery_record_to_pb(&r, &m);
	m.sealed_capability.len = 0;
	assert_int_equal(recovery_record_from_pb(&m, &back), SHOAL_EPROTO);
	recovery_record_to_pb(&r, &m);
	m.owner_cert.len = 0;
	assert_int_equal(recovery_record_from_pb(&m, &back), SHOAL_EPROTO);
	/* Not a record at all, and too large. */
	static const uint8_t junk[] = {0xff, 0xff, 0xff};
	assert_int_equal(recovery_record_unpack(junk, sizeof(junk), &back), SHOAL_EPROTO);
	assert_int_equal(recovery_record_unpack(junk, RECOVERY_RECORD_MAX + 1, &back),
			 SHOAL_EPROTO);
}

static void test_table_round_trip(void **state)
{
	struct fixture *fx = *state;
	struct recovery_entry in[3] = {0}, *out = NULL;
	size_t n = 0;
	struct buf b = BUF_INIT;
	for (int i = 0; i < 3; i++) {
		snprintf(in[i].name, sizeof(in[i].name), "name %d", i / 2);
		in[i].version = (uint32_t)(i + 1);
		snprintf(in[i].cap, sizeof(in[i].cap), "%s", fx->cap);
		in[i].size = 1000u * (unsigned)i;
		in[i].created = 1700000000 + i;
	}
	assert_int_equal(recovery_table_pack(in, 3, &b), 0);
	assert_int_equal(recovery_table_unpack((const uint8_t *)b.data, b.len, &out, &n), 0);
	assert_int_equal(n, 3);
	assert_memory_equal(out, in, sizeof(in));
	free(out);
	/* An empty table is a table. */
	buf_reset(&b);
	assert_int_equal(recovery_table_pack(in, 0, &b), 0);
	assert_int_equal(recovery_table_unpack((const uint8_t *)b.data, b.len, &out, &n), 0);
	assert_int_equal(n, 0);
	free(out);
	buf_release(&b);
}

/* Packs one entry e as a table (format fmt) and unpacks it. */
static int table_of(const Shoal__NameTableEntry *e, uint32_t fmt)
{
	Shoal__NameTable t = SHOAL__NAME_TABLE__INIT;
	Shoal__NameTableEntry *pe = (Shoal__NameTableEntry *)e;
	t.format = fmt;
	t.entries = &pe;
	t.n_entries = 1;
	uint8_t buf[1024];
	size_t len = shoal__name_table__pack(&t, buf);
	struct recovery_entry *out = NULL;
	size_t n;
	int err = recovery_table_unpack(buf, len, &out, &n);
	free(out);
	return err;
}

static void test_table_refused(void **state)
{
	struct fixture *fx = *state;
	Shoal__NameTableEntry e = SHOAL__NAME_TABLE_ENTRY__INIT;
	e.name = "good";
	e.version = 1;
	e.capability = fx->cap;
	assert_int_equal(table_of(&e, 1), 0);
	assert_int_equal(table_of(&e, 2), SHOAL_EVERSION);
	e.name = "a/b";
	assert_int_equal(table_of(&e, 1), SHOAL_EPROTO);
	e.name = "";
	assert_int_equal(table_of(&e, 1), SHOAL_EPROTO);
	e.name = "good";
	e.version = 0;
	assert_int_equal(table_of(&e, 1), SHOAL_EPROTO);
	e.version = 1;
	e.capability = "shoal:nothing";
	assert_int_equal(table_of(&e, 1), SHOAL_EPROTO);
	static const uint8_t junk[] = {0x0a, 0xff};
	struct recovery_entry *out = NULL;
	size_t n;
	assert_int_equal(recovery_table_unpack(junk, sizeof(junk), &out, &n), SHOAL_EPROTO);
}

int main(void)
{
	log_init(LOG_LEVEL_ERROR, 0);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_round_trip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tampered_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_shapes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_table_round_trip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_table_refused, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
