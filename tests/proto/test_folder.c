/*
 * Tests for src/proto/folder.c and folderjournal.c: invites go round trip
 * (with their replicas) and bad ones are refused; journals' names, pointers
 * and batches; keys and proofs are deterministic and bound to the folder, the
 * secret and both members; version vectors compare, merge, bump and encode
 * by their rules; each rule of a row is checked, and rows survive their
 * message; folder_decide() follows each numbered rule, tie-breaks included;
 * conflict copies get their names; a signed batch opens with its rows, its
 * author and its hash, and is refused whole when a byte, the folder, the
 * certificate, the chain of seqs, a row or the size is wrong.
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
#include "proto/folder.h"
#include "proto/folderjournal.h"
#include "proto/name.h"
#include "util/encoding.h"
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
	uint8_t folder[FOLDER_ID_LEN];
	uint8_t zeros[SHA256_LEN];
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
	if (!fx || test_dir_make(fx->dir, "folder")) {
		free(fx);
		return -1;
	}
	net_make(fx->dir, "a.pem", &fx->a);
	net_make(fx->dir, "b.pem", &fx->b);
	for (size_t i = 0; i < sizeof(fx->folder); i++)
		fx->folder[i] = (uint8_t)(i * 7 + 3);
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

static void fill(uint8_t *p, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(seed * 31 + i * 7 + 1);
}

/* A live file row at path by member 5, seq seq, content from seed. */
static void file_row(struct folder_entry *e, const char *path, uint64_t seq, unsigned seed)
{
	memset(e, 0, sizeof(*e));
	snprintf(e->path, sizeof(e->path), "%s", path);
	e->kind = FOLDER_FILE;
	e->vv.n = 1;
	e->vv.c[0].id = 5;
	e->vv.c[0].value = 1700000000;
	e->modified_by = 5;
	e->has_content = 1;
	fill(e->content_id, SHA256_LEN, seed);
	fill(e->cap.id, sizeof(e->cap.id), seed + 1);
	fill(e->cap.key, sizeof(e->cap.key), seed + 2);
	e->size = 1234;
	e->mode = 0644;
	e->mtime_ns = 1764843302123456789; /* 2025-12-04 10:15:02 UTC */
	e->seq = seq;
}

static void vv_set(struct folder_vv *vv, size_t n, const uint64_t *ids, const uint64_t *values)
{
	vv->n = n;
	for (size_t i = 0; i < n; i++) {
		vv->c[i].id = ids[i];
		vv->c[i].value = values[i];
	}
}

/* ---- invites and keys ---- */

static void test_invite_round_trip(void **state)
{
	(void)state;
	struct folder_invite inv, back;
	char text[FOLDER_INVITE_MAX];
	assert_int_equal(folder_invite_new(&inv, "Team docs 2026"), 0);
	folder_invite_format(&inv, text);
	assert_int_equal(strncmp(text, FOLDER_INVITE_PREFIX, strlen(FOLDER_INVITE_PREFIX)), 0);
	assert_int_equal(folder_invite_parse(text, &back), 0);
	assert_memory_equal(&back, &inv, sizeof(inv));
	/* Either case of the base32. */
	for (char *p = text + strlen(FOLDER_INVITE_PREFIX); *p; p++)
		if (*p >= 'a' && *p <= 'z')
			*p = (char)(*p - 'a' + 'A');
	assert_int_equal(folder_invite_parse(text, &back), 0);
	assert_memory_equal(&back, &inv, sizeof(inv));
	/* No label, and the longest. */
	assert_int_equal(folder_invite_new(&inv, NULL), 0);
	assert_string_equal(inv.label, "");
	folder_invite_format(&inv, text);
	assert_int_equal(folder_invite_parse(text, &back), 0);
	assert_memory_equal(&back, &inv, sizeof(inv));
	char label[FOLDER_LABEL_MAX + 1];
	memset(label, '~', FOLDER_LABEL_MAX);
	label[FOLDER_LABEL_MAX] = 0;
	assert_int_equal(folder_invite_new(&inv, label), 0);
	folder_invite_format(&inv, text);
	assert_true(strlen(text) < FOLDER_INVITE_MAX);
	assert_int_equal(folder_invite_parse(text, &back), 0);
	assert_string_equal(back.label, label);
	/* Two invites differ. */
	struct folder_invite other;
	assert_int_equal(folder_invite_new(&other, label), 0);
	assert_memory_not_equal(other.id, inv.id, FOLDER_ID_LEN);
	assert_memory_not_equal(other.secret, inv.secret, FOLDER_SECRET_LEN);
}

static void test_invite_refused(void **state)
{
	(void)state;
	struct folder_invite inv, back;
	char text[FOLDER_INVITE_MAX], bad[FOLDER_INVITE_MAX + 8];
	char label[FOLDER_LABEL_MAX + 2];
	memset(label, 'x', FOLDER_LABEL_MAX + 1);
	label[FOLDER_LABEL_MAX + 1] = 0;
	assert_int_equal(folder_invite_new(&inv, label), SHOAL_EUSAGE);
	assert_int_equal(folder_invite_new(&inv, "a/b"), SHOAL_EUSAGE);
	assert_int_equal(folder_invite_new(&inv, "tab\there"), SHOAL_EUSAGE);
	assert_int_equal(folder_invite_new(&inv, "caf\xc3\xa9"), SHOAL_EUSAGE);

	assert_int_equal(folder_invite_new(&inv, "docs"), 0);
	folder_invite_format(&inv, text);
	size_t plen = strlen(FOLDER_INVITE_PREFIX);
	/* Wrong prefix. */
	snprintf(bad, sizeof(bad), "shoal-folders:%s", text + plen);
	assert_int_equal(folder_invite_parse(bad, &back), SHOAL_EPROTO);
	snprintf(bad, sizeof(bad), "Shoal-folder:%s", text + plen);
	assert_int_equal(folder_invite_parse(bad, &back), SHOAL_EPROTO);
	snprintf(bad, sizeof(bad), "%s", text + plen);
	assert_int_equal(folder_invite_parse(bad, &back), SHOAL_EPROTO);
	/* Bad base32: a digit outside the alphabet, a space around. */
	snprintf(bad, sizeof(bad), "%s", text);
	bad[plen + 3] = '1';
	assert_int_equal(folder_invite_parse(bad, &back), SHOAL_EPROTO);
	snprintf(bad, sizeof(bad), "%s ", text);
	assert_int_equal(folder_invite_parse(bad, &back), SHOAL_EPROTO);
	snprintf(bad, sizeof(bad), " %s", text);
	assert_int_equal(folder_invite_parse(bad, &back), SHOAL_EPROTO);
	/* Bad lengths: one character short (no length of bytes spells so), only
	 * the id, nothing. */
	snprintf(bad, sizeof(bad), "%s", text);
	bad[strlen(bad) - 1] = 0;
	assert_int_equal(folder_invite_parse(bad, &back), SHOAL_EPROTO);
	snprintf(bad, sizeof(bad), "%.*s", (int)(plen + base32_len(FOLDER_ID_LEN)), text);
	assert_int_equal(folder_invite_parse(bad, &back), SHOAL_EPROTO);
	assert_int_equal(folder_invite_parse(FOLDER_INVITE_PREFIX, &back), SHOAL_EPROTO);
	/* Too long a label, and bad labels, written by hand. */
	struct folder_invite forged = inv;
	snprintf(forged.label, sizeof(forged.label), "a/b");
	folder_invite_format(&forged, text);
	assert_int_equal(folder_invite_parse(text, &back), SHOAL_EPROTO);
	snprintf(forged.label, sizeof(forged.label), "bell\a");
	folder_invite_format(&forged, text);
	assert_int_equal(folder_invite_parse(text, &back), SHOAL_EPROTO);
	/* A text of FOLDER_INVITE_MAX characters or more. */
	char *huge = malloc(FOLDER_INVITE_MAX + 1);
	assert_non_null(huge);
	memcpy(huge, FOLDER_INVITE_PREFIX, plen);
	memset(huge + plen, 'a', FOLDER_INVITE_MAX - plen);
	huge[FOLDER_INVITE_MAX] = 0;
	assert_int_equal(folder_invite_parse(huge, &back), SHOAL_EPROTO);
	free(huge);
}

static void test_invite_replicas(void **state)
{
	(void)state;
	struct folder_invite inv, back;
	char text[FOLDER_INVITE_MAX], plain[FOLDER_INVITE_MAX];
	assert_int_equal(folder_invite_new(&inv, "backed up"), 0);
	folder_invite_format(&inv, plain);
	inv.replicas = 3;
	folder_invite_format(&inv, text);
	assert_string_not_equal(text, plain);
	assert_int_equal(folder_invite_parse(text, &back), 0);
	assert_int_equal(back.replicas, 3);
	assert_string_equal(back.label, "backed up");
	assert_int_equal(folder_invite_parse(plain, &back), 0);
	assert_int_equal(back.replicas, 0);
	inv.replicas = FOLDER_REPLICAS_MAX;
	folder_invite_format(&inv, text);
	assert_int_equal(folder_invite_parse(text, &back), 0);
	assert_int_equal(back.replicas, FOLDER_REPLICAS_MAX);
	/* Past the limit, or a NUL not followed by exactly one byte. */
	inv.replicas = FOLDER_REPLICAS_MAX + 1;
	folder_invite_format(&inv, text);
	assert_int_equal(folder_invite_parse(text, &back), SHOAL_EPROTO);
	uint8_t bytes[FOLDER_ID_LEN + FOLDER_SECRET_LEN + 8] = {0};
	size_t n = FOLDER_ID_LEN + FOLDER_SECRET_LEN;
	memcpy(bytes + n, "ab\0\3\4", 5);
	size_t plen = strlen(FOLDER_INVITE_PREFIX);
	memcpy(text, FOLDER_INVITE_PREFIX, plen);
	base32_encode(text + plen, bytes, n + 5);
	assert_int_equal(folder_invite_parse(text, &back), SHOAL_EPROTO);
	base32_encode(text + plen, bytes, n + 3);
	assert_int_equal(folder_invite_parse(text, &back), SHOAL_EPROTO);
	base32_encode(text + plen, bytes, n + 4);
	assert_int_equal(folder_invite_parse(text, &back), 0);
	assert_int_equal(back.replicas, 3);
}

static void test_journal(void **state)
{
	(void)state;
	struct folder_invite inv, other;
	struct folder_keys keys, okeys;
	assert_int_equal(folder_invite_new(&inv, "j"), 0);
	assert_int_equal(folder_invite_new(&other, "j"), 0);
	folder_keys_derive(&inv, &keys);
	folder_keys_derive(&other, &okeys);
	assert_memory_not_equal(keys.journal, keys.index, FOLDER_KEY_LEN);
	/* Names: fixed per folder, different between folders, valid names. */
	char name[FOLDERJOURNAL_NAME_MAX], again[FOLDERJOURNAL_NAME_MAX],
		oname[FOLDERJOURNAL_NAME_MAX];
	folderjournal_name(&keys, name);
	folderjournal_name(&keys, again);
	folderjournal_name(&okeys, oname);
	assert_string_equal(name, again);
	assert_string_not_equal(name, oname);
	assert_int_equal(
		strncmp(name, FOLDERJOURNAL_NAME_PREFIX, strlen(FOLDERJOURNAL_NAME_PREFIX)), 0);
	assert_int_equal(strlen(name), strlen(FOLDERJOURNAL_NAME_PREFIX) + 26);
	assert_int_equal(name_validate(name, strlen(name)), 0);

	/* Pointers: round trip, a fresh salt each time, only under the key. */
	struct folderjournal_pointer p = {.size = 12345, .index_id = 77, .last_seq = 9}, got;
	memset(p.journal.id, 0x11, CHUNK_ID_LEN);
	memset(p.journal.key, 0x22, CHUNK_KEY_LEN);
	struct buf a = BUF_INIT, b = BUF_INIT;
	assert_int_equal(folderjournal_pointer_seal(&keys, &p, &a), 0);
	assert_int_equal(folderjournal_pointer_seal(&keys, &p, &b), 0);
	assert_int_equal(a.len, FOLDERJOURNAL_POINTER_LEN);
	assert_memory_not_equal(a.data, b.data, a.len);
	assert_int_equal(folderjournal_pointer_open(&keys, a.data, a.len, &got), 0);
	assert_memory_equal(&got, &p, sizeof(p));
	assert_int_equal(folderjournal_pointer_open(&okeys, a.data, a.len, &got), SHOAL_EPROTO);
	a.data[FOLDERJOURNAL_SALT_LEN + 3] ^= 1;
	assert_int_equal(folderjournal_pointer_open(&keys, a.data, a.len, &got), SHOAL_EPROTO);
	a.data[FOLDERJOURNAL_SALT_LEN + 3] ^= 1;
	a.data[0] ^= 1; /* the salt picks the key */
	assert_int_equal(folderjournal_pointer_open(&keys, a.data, a.len, &got), SHOAL_EPROTO);
	assert_int_equal(folderjournal_pointer_open(&keys, b.data, b.len - 1, &got), SHOAL_EPROTO);
	/* No plaintext of the capability in the sealed bytes. */
	for (size_t i = 0; i + 8 <= b.len; i++)
		assert_memory_not_equal(b.data + i, p.journal.key, 8);
	/* A size past the limit is refused even when sealed right. */
	p.size = FOLDERJOURNAL_MAX + 1;
	buf_reset(&b);
	assert_int_equal(folderjournal_pointer_seal(&keys, &p, &b), 0);
	assert_int_equal(folderjournal_pointer_open(&keys, b.data, b.len, &got), SHOAL_EPROTO);

	/* Journals: batches back in order; a truncated one is refused. */
	buf_reset(&a);
	folderjournal_add(&a, (const uint8_t *)"first", 5);
	folderjournal_add(&a, (const uint8_t *)"second!", 7);
	size_t off = 0, len = 0;
	const uint8_t *batch;
	assert_int_equal(folderjournal_next(a.data, a.len, &off, &batch, &len), 1);
	assert_int_equal(len, 5);
	assert_memory_equal(batch, "first", 5);
	assert_int_equal(folderjournal_next(a.data, a.len, &off, &batch, &len), 1);
	assert_int_equal(len, 7);
	assert_memory_equal(batch, "second!", 7);
	assert_int_equal(folderjournal_next(a.data, a.len, &off, &batch, &len), 0);
	off = 0;
	assert_int_equal(folderjournal_next(a.data, a.len - 1, &off, &batch, &len), 1);
	assert_int_equal(folderjournal_next(a.data, a.len - 1, &off, &batch, &len), SHOAL_EPROTO);
	off = 0;
	assert_int_equal(folderjournal_next(a.data, 3, &off, &batch, &len), SHOAL_EPROTO);
	/* A zero length, and one past FOLDER_BATCH_MAX. */
	uint8_t zero[4] = {0}, big[8] = {0x7f, 0xff, 0xff, 0xff};
	off = 0;
	assert_int_equal(folderjournal_next(zero, 4, &off, &batch, &len), SHOAL_EPROTO);
	off = 0;
	assert_int_equal(folderjournal_next(big, 8, &off, &batch, &len), SHOAL_EPROTO);
	buf_release(&a);
	buf_release(&b);
}

static void test_folder_id_text(void **state)
{
	struct fixture *fx = *state;
	char text[FOLDER_ID_STR_LEN + 1];
	uint8_t back[FOLDER_ID_LEN];
	folder_id_format(fx->folder, text);
	assert_int_equal(strlen(text), FOLDER_ID_STR_LEN);
	assert_int_equal(folder_id_parse(text, back), 0);
	assert_memory_equal(back, fx->folder, FOLDER_ID_LEN);
	text[FOLDER_ID_STR_LEN - 1] = 0;
	assert_int_equal(folder_id_parse(text, back), SHOAL_EPROTO);
	folder_id_format(fx->folder, text);
	text[0] = '0';
	assert_int_equal(folder_id_parse(text, back), SHOAL_EPROTO);
	assert_int_equal(folder_id_parse("", back), SHOAL_EPROTO);
}

static void test_keys(void **state)
{
	(void)state;
	struct folder_invite inv, other;
	struct folder_keys k1, k2, k3;
	assert_int_equal(folder_invite_new(&inv, "x"), 0);
	folder_keys_derive(&inv, &k1);
	folder_keys_derive(&inv, &k2);
	assert_memory_equal(&k1, &k2, sizeof(k1));
	assert_memory_not_equal(k1.convergence, k1.index, FOLDER_KEY_LEN);
	/* The label is not part of them. */
	other = inv;
	snprintf(other.label, sizeof(other.label), "y");
	folder_keys_derive(&other, &k3);
	assert_memory_equal(&k1, &k3, sizeof(k1));
	/* Another id, another secret. */
	other = inv;
	other.id[0] ^= 1;
	folder_keys_derive(&other, &k3);
	assert_memory_not_equal(k1.convergence, k3.convergence, sizeof(k1.convergence));
	assert_memory_not_equal(k1.index, k3.index, sizeof(k1.index));
	other = inv;
	other.secret[31] ^= 1;
	folder_keys_derive(&other, &k3);
	assert_memory_not_equal(k1.convergence, k3.convergence, sizeof(k1.convergence));
	assert_memory_not_equal(k1.index, k3.index, sizeof(k1.index));
}

static void test_proof(void **state)
{
	struct fixture *fx = *state;
	struct folder_invite inv, other;
	struct folder_keys k, k2;
	uint8_t proof[SHA256_LEN], again[SHA256_LEN];
	const uint8_t *from = fx->a.id, *to = fx->b.id;
	assert_int_equal(folder_invite_new(&inv, NULL), 0);
	folder_keys_derive(&inv, &k);
	folder_proof(&k, inv.id, from, to, proof);
	folder_proof(&k, inv.id, from, to, again);
	assert_memory_equal(proof, again, SHA256_LEN);
	assert_int_equal(folder_proof_check(&k, inv.id, from, to, proof, SHA256_LEN), 1);
	/* Wrong direction, from, to, folder, key, length, byte. */
	assert_int_equal(folder_proof_check(&k, inv.id, to, from, proof, SHA256_LEN), 0);
	assert_int_equal(folder_proof_check(&k, inv.id, to, to, proof, SHA256_LEN), 0);
	assert_int_equal(folder_proof_check(&k, inv.id, from, from, proof, SHA256_LEN), 0);
	assert_int_equal(folder_proof_check(&k, fx->folder, from, to, proof, SHA256_LEN), 0);
	other = inv;
	other.secret[0] ^= 1;
	folder_keys_derive(&other, &k2);
	assert_int_equal(folder_proof_check(&k2, inv.id, from, to, proof, SHA256_LEN), 0);
	assert_int_equal(folder_proof_check(&k, inv.id, from, to, proof, SHA256_LEN - 1), 0);
	assert_int_equal(folder_proof_check(&k, inv.id, from, to, proof, 0), 0);
	proof[17] ^= 0x80;
	assert_int_equal(folder_proof_check(&k, inv.id, from, to, proof, SHA256_LEN), 0);
}

/* ---- version vectors ---- */

static void test_short_id(void **state)
{
	(void)state;
	uint8_t id[NODE_ID_LEN] = {0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0xff};
	assert_true(folder_short_id(id) == 0x0102030405060708ull);
}

static void test_vv_compare(void **state)
{
	(void)state;
	struct folder_vv a, b;
	const uint64_t ids[] = {1, 2, 3};
	vv_set(&a, 0, ids, NULL);
	vv_set(&b, 0, ids, NULL);
	assert_int_equal(folder_vv_compare(&a, &b), FOLDER_EQUAL);
	vv_set(&a, 2, ids, (const uint64_t[]){5, 7});
	vv_set(&b, 2, ids, (const uint64_t[]){5, 7});
	assert_int_equal(folder_vv_compare(&a, &b), FOLDER_EQUAL);
	vv_set(&b, 2, ids, (const uint64_t[]){5, 8});
	assert_int_equal(folder_vv_compare(&a, &b), FOLDER_BEFORE);
	assert_int_equal(folder_vv_compare(&b, &a), FOLDER_AFTER);
	vv_set(&b, 2, ids, (const uint64_t[]){6, 6});
	assert_int_equal(folder_vv_compare(&a, &b), FOLDER_CONCURRENT);
	assert_int_equal(folder_vv_compare(&b, &a), FOLDER_CONCURRENT);
	/* A missing counter counts as 0. */
	vv_set(&b, 3, ids, (const uint64_t[]){5, 7, 1});
	assert_int_equal(folder_vv_compare(&a, &b), FOLDER_BEFORE);
	assert_int_equal(folder_vv_compare(&b, &a), FOLDER_AFTER);
	vv_set(&a, 0, ids, NULL);
	assert_int_equal(folder_vv_compare(&a, &b), FOLDER_BEFORE);
	assert_int_equal(folder_vv_compare(&b, &a), FOLDER_AFTER);
	/* Disjoint ids: each has one the other lacks. */
	vv_set(&a, 1, ids, (const uint64_t[]){9});
	vv_set(&b, 1, ids + 2, (const uint64_t[]){1});
	assert_int_equal(folder_vv_compare(&a, &b), FOLDER_CONCURRENT);
	assert_int_equal(folder_vv_compare(&b, &a), FOLDER_CONCURRENT);
	/* Missing in a, smaller elsewhere in b. */
	vv_set(&a, 2, ids, (const uint64_t[]){9, 9});
	vv_set(&b, 3, ids, (const uint64_t[]){9, 8, 1});
	assert_int_equal(folder_vv_compare(&a, &b), FOLDER_CONCURRENT);
}

static void test_vv_merge(void **state)
{
	(void)state;
	struct folder_vv a, b, out;
	memset(&out, 0, sizeof(out)); /* compared whole below */
	vv_set(&a, 3, (const uint64_t[]){1, 3, 5}, (const uint64_t[]){10, 1, 7});
	vv_set(&b, 3, (const uint64_t[]){2, 3, 5}, (const uint64_t[]){4, 9, 2});
	assert_int_equal(folder_vv_merge(&out, &a, &b), 0);
	assert_int_equal(out.n, 4);
	const uint64_t want_ids[] = {1, 2, 3, 5}, want_values[] = {10, 4, 9, 7};
	for (size_t i = 0; i < 4; i++) {
		assert_true(out.c[i].id == want_ids[i]);
		assert_true(out.c[i].value == want_values[i]);
	}
	assert_true(folder_vv_valid(&out));
	assert_int_equal(folder_vv_compare(&out, &a), FOLDER_AFTER);
	assert_int_equal(folder_vv_compare(&out, &b), FOLDER_AFTER);
	/* out may be a. */
	assert_int_equal(folder_vv_merge(&a, &a, &b), 0);
	assert_int_equal(folder_vv_compare(&a, &out), FOLDER_EQUAL);
	/* Too many ids: out unchanged. */
	struct folder_vv big1, big2;
	big1.n = big2.n = FOLDER_VV_MAX;
	for (size_t i = 0; i < FOLDER_VV_MAX; i++) {
		big1.c[i] = (struct folder_counter){2 * i + 1, 1};
		big2.c[i] = (struct folder_counter){2 * i + 2, 1};
	}
	struct folder_vv keep = out;
	assert_int_equal(folder_vv_merge(&out, &big1, &big2), SHOAL_ETOOBIG);
	assert_memory_equal(&out, &keep, sizeof(out));
	/* The same FOLDER_VV_MAX ids fit. */
	assert_int_equal(folder_vv_merge(&out, &big1, &big1), 0);
	assert_int_equal(out.n, FOLDER_VV_MAX);
}

static void test_vv_bump(void **state)
{
	(void)state;
	struct folder_vv vv;
	vv_set(&vv, 2, (const uint64_t[]){10, 30}, (const uint64_t[]){100, 2000});
	/* now below the counter: counter + 1. */
	assert_int_equal(folder_vv_bump(&vv, 30, 1500), 0);
	assert_true(vv.c[1].value == 2001);
	/* now above: now. */
	assert_int_equal(folder_vv_bump(&vv, 10, 1500), 0);
	assert_true(vv.c[0].value == 1500);
	/* A new id goes in its place. */
	assert_int_equal(folder_vv_bump(&vv, 20, 1600), 0);
	assert_int_equal(vv.n, 3);
	assert_true(vv.c[1].id == 20 && vv.c[1].value == 1600);
	assert_true(folder_vv_valid(&vv));
	assert_int_equal(folder_vv_bump(&vv, 5, 0), 0);
	assert_true(vv.c[0].id == 5 && vv.c[0].value == 1);
	assert_true(folder_vv_valid(&vv));
	/* Full: a new id does not fit, a known one bumps. */
	vv.n = FOLDER_VV_MAX;
	for (size_t i = 0; i < FOLDER_VV_MAX; i++)
		vv.c[i] = (struct folder_counter){i + 1, 7};
	struct folder_vv keep = vv;
	assert_int_equal(folder_vv_bump(&vv, 1000, 9), SHOAL_ETOOBIG);
	assert_memory_equal(&vv, &keep, sizeof(vv));
	assert_int_equal(folder_vv_bump(&vv, 64, 3), 0);
	assert_true(vv.c[63].value == 8);
}

static void test_vv_encode(void **state)
{
	(void)state;
	struct folder_vv vv, back;
	uint8_t bytes[16 * FOLDER_VV_MAX + 16];
	vv_set(&vv, 3, (const uint64_t[]){1, 0x0102030405060708ull, UINT64_MAX},
	       (const uint64_t[]){UINT64_MAX, 2, 3});
	size_t n = folder_vv_encode(&vv, bytes);
	assert_int_equal(n, 48);
	assert_int_equal(bytes[16], 0x01);
	assert_int_equal(bytes[23], 0x08);
	assert_int_equal(folder_vv_decode(&back, bytes, n), 0);
	assert_int_equal(folder_vv_compare(&vv, &back), FOLDER_EQUAL);
	assert_int_equal(back.n, 3);
	/* Empty is a vector. */
	assert_int_equal(folder_vv_decode(&back, bytes, 0), 0);
	assert_int_equal(back.n, 0);
	/* Lengths not a multiple of 16. */
	assert_int_equal(folder_vv_decode(&back, bytes, 15), SHOAL_EPROTO);
	assert_int_equal(folder_vv_decode(&back, bytes, 17), SHOAL_EPROTO);
	/* Unsorted, duplicate, zero. */
	uint8_t t[48];
	memcpy(t, bytes, 48);
	memcpy(t, bytes + 16, 16);
	memcpy(t + 16, bytes, 16);
	assert_int_equal(folder_vv_decode(&back, t, 48), SHOAL_EPROTO);
	memcpy(t, bytes, 48);
	memcpy(t + 16, bytes, 16);
	assert_int_equal(folder_vv_decode(&back, t, 48), SHOAL_EPROTO);
	memcpy(t, bytes, 48);
	memset(t + 24, 0, 8);
	assert_int_equal(folder_vv_decode(&back, t, 48), SHOAL_EPROTO);
	/* Too many counters. */
	vv.n = FOLDER_VV_MAX;
	for (size_t i = 0; i < FOLDER_VV_MAX; i++)
		vv.c[i] = (struct folder_counter){i + 1, 1};
	n = folder_vv_encode(&vv, bytes);
	assert_int_equal(folder_vv_decode(&back, bytes, n), 0);
	memset(bytes + n, 0xff, 16);
	assert_int_equal(folder_vv_decode(&back, bytes, n + 16), SHOAL_EPROTO);
	/* folder_vv_valid() itself. */
	vv_set(&vv, 2, (const uint64_t[]){2, 1}, (const uint64_t[]){1, 1});
	assert_false(folder_vv_valid(&vv));
	vv.n = FOLDER_VV_MAX + 1;
	assert_false(folder_vv_valid(&vv));
}

/* ---- rows ---- */

static int check(const struct folder_entry *e)
{
	const char *why = NULL;
	int err = folder_entry_check(e, &why);
	if (err)
		assert_non_null(why);
	return err;
}

static void test_entry_check(void **state)
{
	(void)state;
	struct folder_entry *e = malloc(sizeof(*e)), *r = malloc(sizeof(*r));
	assert_non_null(e);
	assert_non_null(r);
	file_row(r, "docs/report.txt", 1, 1);
	assert_int_equal(check(r), 0);
	/* Paths. */
	static const char *const bad_paths[] = {
		"",   "/abs",	"trail/",   "a//b",    "./a",	  "a/./b", "a/../b",
		"..", ".shoal", ".shoal/x", "ctl\x01", "bad\xff", " lead",
	};
	for (size_t i = 0; i < sizeof(bad_paths) / sizeof(bad_paths[0]); i++) {
		*e = *r;
		snprintf(e->path, sizeof(e->path), "%s", bad_paths[i]);
		assert_int_equal(check(e), SHOAL_EPROTO);
	}
	static const char *const good_paths[] = {"a", "a/.shoal", ".shoalx", "x/y/z.tar.gz",
						 "caf\xc3\xa9"};
	for (size_t i = 0; i < sizeof(good_paths) / sizeof(good_paths[0]); i++) {
		*e = *r;
		snprintf(e->path, sizeof(e->path), "%s", good_paths[i]);
		assert_int_equal(check(e), 0);
	}
	/* A component over NAME_MAX_LEN; a path of FOLDER_PATH_MAX bytes, and one
	 * without its NUL. */
	*e = *r;
	memset(e->path, 'n', NAME_MAX_LEN + 1);
	e->path[NAME_MAX_LEN + 1] = 0;
	assert_int_equal(check(e), SHOAL_EPROTO);
	*e = *r;
	for (size_t i = 0; i < FOLDER_PATH_MAX; i++)
		e->path[i] = i % 101 == 100 ? '/' : 'p';
	e->path[FOLDER_PATH_MAX] = 0;
	assert_int_equal(check(e), 0);
	e->path[FOLDER_PATH_MAX] = 'p';
	assert_int_equal(check(e), SHOAL_EPROTO);
	/* Kind. */
	*e = *r;
	e->kind = (enum folder_kind)99;
	assert_int_equal(check(e), SHOAL_EPROTO);
	/* Vector: empty, invalid, modified_by not in it. */
	*e = *r;
	e->vv.n = 0;
	assert_int_equal(check(e), SHOAL_EPROTO);
	*e = *r;
	e->vv.c[0].value = 0;
	assert_int_equal(check(e), SHOAL_EPROTO);
	*e = *r;
	e->modified_by = 6;
	assert_int_equal(check(e), SHOAL_EPROTO);
	/* Content: a live file needs it, its tombstone may keep it or not. */
	*e = *r;
	e->has_content = 0;
	assert_int_equal(check(e), SHOAL_EPROTO);
	e->deleted = 1;
	assert_int_equal(check(e), 0);
	e->has_content = 1;
	assert_int_equal(check(e), 0);
	/* A directory or link has none. */
	*e = *r;
	e->kind = FOLDER_DIR;
	assert_int_equal(check(e), SHOAL_EPROTO);
	e->has_content = 0;
	assert_int_equal(check(e), 0);
	snprintf(e->target, sizeof(e->target), "x");
	assert_int_equal(check(e), SHOAL_EPROTO);
	*e = *r;
	e->has_content = 0;
	e->kind = FOLDER_SYMLINK;
	assert_int_equal(check(e), SHOAL_EPROTO); /* no target */
	e->deleted = 1;
	assert_int_equal(check(e), 0);
	e->deleted = 0;
	snprintf(e->target, sizeof(e->target), "../elsewhere");
	assert_int_equal(check(e), 0);
	e->has_content = 1;
	assert_int_equal(check(e), SHOAL_EPROTO);
	e->has_content = 0;
	memset(e->target, 't', sizeof(e->target)); /* no NUL */
	assert_int_equal(check(e), SHOAL_EPROTO);
	*e = *r;
	snprintf(e->target, sizeof(e->target), "x");
	assert_int_equal(check(e), SHOAL_EPROTO); /* a file with a target */
	/* Mode and seq. */
	*e = *r;
	e->mode = 01777;
	assert_int_equal(check(e), SHOAL_EPROTO);
	e->mode = 0777;
	assert_int_equal(check(e), 0);
	e->seq = 0;
	assert_int_equal(check(e), SHOAL_EPROTO);
	free(e);
	free(r);
}

/* e through its message and back into back. */
static int through_pb(const struct folder_entry *e, struct folder_entry *back)
{
	Shoal__FolderEntry m;
	struct folder_entry_pb store;
	folder_entry_to_pb(e, &m, &store);
	size_t n = shoal__folder_entry__get_packed_size(&m);
	uint8_t *p = malloc(n + 1);
	assert_non_null(p);
	shoal__folder_entry__pack(&m, p);
	Shoal__FolderEntry *u = shoal__folder_entry__unpack(NULL, n, p);
	assert_non_null(u);
	int err = folder_entry_from_pb(back, u, NULL);
	shoal__folder_entry__free_unpacked(u, NULL);
	free(p);
	return err;
}

static void test_entry_pb(void **state)
{
	(void)state;
	struct folder_entry *e = malloc(sizeof(*e)), *back = malloc(sizeof(*back));
	assert_non_null(e);
	assert_non_null(back);
	/* A file with a previous content and several counters. */
	file_row(e, "a/b c/d.txt", 42, 3);
	e->has_prev = 1;
	fill(e->prev_content_id, SHA256_LEN, 9);
	vv_set(&e->vv, 3, (const uint64_t[]){5, 9, UINT64_MAX}, (const uint64_t[]){1, 2, 3});
	e->mtime_ns = -5;
	assert_int_equal(through_pb(e, back), 0);
	assert_memory_equal(back, e, sizeof(*e));
	/* A tombstone keeping its content. */
	e->deleted = 1;
	assert_int_equal(through_pb(e, back), 0);
	assert_memory_equal(back, e, sizeof(*e));
	/* A link and a directory. */
	file_row(e, "link", 1, 4);
	e->has_content = 0;
	memset(e->content_id, 0, sizeof(e->content_id));
	memset(&e->cap, 0, sizeof(e->cap));
	e->kind = FOLDER_SYMLINK;
	memset(e->target, 'q', FOLDER_PATH_MAX);
	assert_int_equal(through_pb(e, back), 0);
	assert_memory_equal(back, e, sizeof(*e));
	e->kind = FOLDER_DIR;
	memset(e->target, 0, sizeof(e->target));
	e->mode = 0755;
	assert_int_equal(through_pb(e, back), 0);
	assert_memory_equal(back, e, sizeof(*e));

	/* Fields of the wrong length, a bad vector, a bad row. */
	Shoal__FolderEntry m;
	struct folder_entry_pb store;
	const char *why = NULL;
	file_row(e, "f", 1, 5);
	e->has_prev = 1;
	folder_entry_to_pb(e, &m, &store);
	assert_int_equal(folder_entry_from_pb(back, &m, &why), 0);
	m.content_id.len = 31;
	assert_int_equal(folder_entry_from_pb(back, &m, &why), SHOAL_EPROTO);
	folder_entry_to_pb(e, &m, &store);
	m.manifest.len = 0;
	assert_int_equal(folder_entry_from_pb(back, &m, &why), SHOAL_EPROTO);
	folder_entry_to_pb(e, &m, &store);
	m.content_id.len = 0; /* a manifest without content id */
	assert_int_equal(folder_entry_from_pb(back, &m, &why), SHOAL_EPROTO);
	folder_entry_to_pb(e, &m, &store);
	m.prev_content_id.len = 5;
	assert_int_equal(folder_entry_from_pb(back, &m, &why), SHOAL_EPROTO);
	folder_entry_to_pb(e, &m, &store);
	m.kind = SHOAL__ENTRY_KIND__ENTRY_KIND_SYMLINK;
	m.content_id.len = m.manifest.len = 0;
	m.target.data = (uint8_t *)"a\0b";
	m.target.len = 3;
	assert_int_equal(folder_entry_from_pb(back, &m, &why), SHOAL_EPROTO);
	m.target.len = 1;
	assert_int_equal(folder_entry_from_pb(back, &m, &why), 0);
	folder_entry_to_pb(e, &m, &store);
	store.counters[0].value = 0;
	assert_int_equal(folder_entry_from_pb(back, &m, &why), SHOAL_EPROTO);
	folder_entry_to_pb(e, &m, &store);
	m.n_version = FOLDER_VV_MAX + 1; /* refused before it is read */
	assert_int_equal(folder_entry_from_pb(back, &m, &why), SHOAL_EPROTO);
	folder_entry_to_pb(e, &m, &store);
	m.seq = 0;
	why = NULL;
	assert_int_equal(folder_entry_from_pb(back, &m, &why), SHOAL_EPROTO);
	assert_non_null(why);
	free(e);
	free(back);
}

/* ---- conflicts ---- */

/* decide(a, b) and decide(b, a) name the same winner. */
static void assert_symmetric(const struct folder_entry *a, const struct folder_entry *b)
{
	enum folder_decision ab = folder_decide(a, b), ba = folder_decide(b, a);
	switch (ab) {
	case FOLDER_KEEP:
		assert_int_equal(ba, FOLDER_TAKE);
		break;
	case FOLDER_TAKE:
		assert_int_equal(ba, FOLDER_KEEP);
		break;
	case FOLDER_MERGE:
		assert_int_equal(ba, FOLDER_MERGE);
		break;
	case FOLDER_CONFLICT_OURS:
		assert_int_equal(ba, FOLDER_CONFLICT_THEIRS);
		break;
	case FOLDER_CONFLICT_THEIRS:
		assert_int_equal(ba, FOLDER_CONFLICT_OURS);
		break;
	}
}

/* ours by member 5 and theirs by member 7, concurrent, different files. */
static void concurrent_pair(struct folder_entry *ours, struct folder_entry *theirs)
{
	file_row(ours, "p", 1, 1);
	file_row(theirs, "p", 1, 2);
	theirs->vv.c[0].id = 7;
	theirs->modified_by = 7;
}

static void test_decide_ordered(void **state)
{
	(void)state;
	struct folder_entry *o = malloc(sizeof(*o)), *t = malloc(sizeof(*t));
	assert_non_null(o);
	assert_non_null(t);
	/* Rule 1: the later vector wins whatever the rows say. */
	file_row(o, "p", 1, 1);
	file_row(t, "p", 1, 2);
	t->vv.c[0].value++;
	t->mtime_ns = 0;
	assert_int_equal(folder_decide(o, t), FOLDER_TAKE);
	assert_int_equal(folder_decide(t, o), FOLDER_KEEP);
	t->deleted = 1; /* a later delete is taken */
	assert_int_equal(folder_decide(o, t), FOLDER_TAKE);
	t->vv.c[0].value -= 2;
	assert_int_equal(folder_decide(o, t), FOLDER_KEEP);
	/* Equal vectors: ours stays. */
	t->vv = o->vv;
	assert_int_equal(folder_decide(o, t), FOLDER_KEEP);
	assert_int_equal(folder_decide(t, o), FOLDER_KEEP);
	free(o);
	free(t);
}

static void test_decide_merge(void **state)
{
	(void)state;
	struct folder_entry *o = malloc(sizeof(*o)), *t = malloc(sizeof(*t));
	assert_non_null(o);
	assert_non_null(t);
	/* Rule 2: both deleted, whatever they held. */
	concurrent_pair(o, t);
	o->deleted = t->deleted = 1;
	assert_int_equal(folder_decide(o, t), FOLDER_MERGE);
	assert_symmetric(o, t);
	/* The same content. */
	concurrent_pair(o, t);
	memcpy(t->content_id, o->content_id, SHA256_LEN);
	t->mtime_ns += 1000;
	assert_int_equal(folder_decide(o, t), FOLDER_MERGE);
	assert_symmetric(o, t);
	/* Directories always; links with the same target. */
	concurrent_pair(o, t);
	o->kind = t->kind = FOLDER_DIR;
	o->has_content = t->has_content = 0;
	assert_int_equal(folder_decide(o, t), FOLDER_MERGE);
	o->kind = t->kind = FOLDER_SYMLINK;
	snprintf(o->target, sizeof(o->target), "x");
	snprintf(t->target, sizeof(t->target), "x");
	assert_int_equal(folder_decide(o, t), FOLDER_MERGE);
	snprintf(t->target, sizeof(t->target), "y");
	assert_int_equal(folder_decide(o, t), FOLDER_CONFLICT_THEIRS); /* "y" > "x" */
	assert_symmetric(o, t);
	/* Not the same kind: a conflict, even with nothing else to tell them. */
	concurrent_pair(o, t);
	t->kind = FOLDER_DIR;
	t->has_content = 0;
	t->modified_by = 5;
	t->vv.c[0].id = 5;
	t->vv.c[0].value = 1;
	t->vv.n = 2;
	t->vv.c[1] = (struct folder_counter){7, 1}; /* {5:1, 7:1} vs {5:1700000000} */
	memset(t->content_id, 0, SHA256_LEN);
	assert_int_equal(folder_vv_compare(&o->vv, &t->vv), FOLDER_CONCURRENT);
	assert_true(folder_decide(o, t) == FOLDER_CONFLICT_OURS ||
		    folder_decide(o, t) == FOLDER_CONFLICT_THEIRS);
	assert_symmetric(o, t);
	free(o);
	free(t);
}

static void test_decide_prev_content(void **state)
{
	(void)state;
	struct folder_entry *o = malloc(sizeof(*o)), *t = malloc(sizeof(*t));
	assert_non_null(o);
	assert_non_null(t);
	/* Rule 3: theirs replaced exactly our content: take it, even older. */
	concurrent_pair(o, t);
	t->has_prev = 1;
	memcpy(t->prev_content_id, o->content_id, SHA256_LEN);
	t->mtime_ns = o->mtime_ns - 1000;
	assert_int_equal(folder_decide(o, t), FOLDER_TAKE);
	assert_symmetric(o, t);
	/* ... a delete of exactly our content too. */
	t->deleted = 1;
	assert_int_equal(folder_decide(o, t), FOLDER_TAKE);
	assert_symmetric(o, t);
	/* But not when ours is a tombstone: then a conflict, the live row wins. */
	t->deleted = 0;
	o->deleted = 1;
	assert_int_equal(folder_decide(o, t), FOLDER_CONFLICT_THEIRS);
	assert_symmetric(o, t);
	/* The other way round: ours replaced theirs. */
	concurrent_pair(o, t);
	o->has_prev = 1;
	memcpy(o->prev_content_id, t->content_id, SHA256_LEN);
	o->mtime_ns = t->mtime_ns - 1000;
	assert_int_equal(folder_decide(o, t), FOLDER_KEEP);
	assert_symmetric(o, t);
	/* Each replaced the other's: neither, rule 4 (theirs later). */
	t->has_prev = 1;
	memcpy(t->prev_content_id, o->content_id, SHA256_LEN);
	assert_int_equal(folder_decide(o, t), FOLDER_CONFLICT_THEIRS);
	assert_symmetric(o, t);
	/* A prev naming something else changes nothing. */
	concurrent_pair(o, t);
	t->has_prev = 1;
	fill(t->prev_content_id, SHA256_LEN, 77);
	t->mtime_ns = o->mtime_ns - 1;
	assert_int_equal(folder_decide(o, t), FOLDER_CONFLICT_OURS);
	free(o);
	free(t);
}

static void test_decide_conflict(void **state)
{
	(void)state;
	struct folder_entry *o = malloc(sizeof(*o)), *t = malloc(sizeof(*t));
	assert_non_null(o);
	assert_non_null(t);
	/* Modify beats delete, whatever the times and ids. */
	concurrent_pair(o, t);
	o->deleted = 1;
	o->mtime_ns = t->mtime_ns + 1000000000;
	assert_int_equal(folder_decide(o, t), FOLDER_CONFLICT_THEIRS);
	assert_symmetric(o, t);
	concurrent_pair(o, t);
	t->deleted = 1;
	t->mtime_ns = o->mtime_ns + 1000000000;
	t->modified_by = t->vv.c[0].id = 99;
	assert_int_equal(folder_decide(o, t), FOLDER_CONFLICT_OURS);
	assert_symmetric(o, t);
	/* Then the later mtime. */
	concurrent_pair(o, t);
	o->mtime_ns = t->mtime_ns + 1;
	assert_int_equal(folder_decide(o, t), FOLDER_CONFLICT_OURS);
	assert_symmetric(o, t);
	t->mtime_ns = o->mtime_ns + 1;
	assert_int_equal(folder_decide(o, t), FOLDER_CONFLICT_THEIRS);
	assert_symmetric(o, t);
	/* Then the higher modified_by (7 > 5). */
	concurrent_pair(o, t);
	assert_int_equal(folder_decide(o, t), FOLDER_CONFLICT_THEIRS);
	assert_symmetric(o, t);
	/* Then the larger content_id. */
	concurrent_pair(o, t);
	t->vv.c[0].id = t->modified_by = 5;
	t->vv.c[0].value = 1;
	t->vv.n = 2;
	t->vv.c[1] = (struct folder_counter){6, 1};
	assert_int_equal(folder_vv_compare(&o->vv, &t->vv), FOLDER_CONCURRENT);
	o->content_id[0] = 0x10;
	t->content_id[0] = 0x20;
	assert_int_equal(folder_decide(o, t), FOLDER_CONFLICT_THEIRS);
	assert_symmetric(o, t);
	o->content_id[0] = 0x30;
	assert_int_equal(folder_decide(o, t), FOLDER_CONFLICT_OURS);
	assert_symmetric(o, t);
	free(o);
	free(t);
}

static void test_conflict_name(void **state)
{
	(void)state;
	struct folder_entry *e = malloc(sizeof(*e));
	char out[FOLDER_PATH_MAX + 1];
	assert_non_null(e);
	file_row(e, "docs/report.txt", 1, 1);
	e->modified_by = e->vv.c[0].id = 0x0a1b2c3d4e5f6071ull;
	e->content_id[0] = 0x9f;
	e->content_id[1] = 0x8e;
	e->content_id[2] = 0x7d;
	assert_int_equal(folder_conflict_name(e, out), 0);
	assert_string_equal(out, "docs/report.conflict-20251204-101502-0a1b2c3d-9f8e7d.txt");
	assert_int_equal(folder_is_conflict_name(out), 1);
	snprintf(e->path, sizeof(e->path), "Makefile");
	assert_int_equal(folder_conflict_name(e, out), 0);
	assert_string_equal(out, "Makefile.conflict-20251204-101502-0a1b2c3d-9f8e7d");
	assert_int_equal(folder_is_conflict_name(out), 1);
	snprintf(e->path, sizeof(e->path), "home/.bashrc");
	assert_int_equal(folder_conflict_name(e, out), 0);
	assert_string_equal(out, "home/.bashrc.conflict-20251204-101502-0a1b2c3d-9f8e7d");
	snprintf(e->path, sizeof(e->path), "a.b/c.tar.gz");
	assert_int_equal(folder_conflict_name(e, out), 0);
	assert_string_equal(out, "a.b/c.tar.conflict-20251204-101502-0a1b2c3d-9f8e7d.gz");
	snprintf(e->path, sizeof(e->path), "x/y/noext");
	assert_int_equal(folder_conflict_name(e, out), 0);
	assert_string_equal(out, "x/y/noext.conflict-20251204-101502-0a1b2c3d-9f8e7d");
	/* Before the epoch; without content (zeros). */
	e->mtime_ns = -1;
	e->has_content = 0;
	e->kind = FOLDER_DIR;
	assert_int_equal(folder_conflict_name(e, out), 0);
	assert_string_equal(out, "x/y/noext.conflict-19691231-235959-0a1b2c3d-000000");
	/* The result's component or path too long. */
	memset(e->path, 'n', NAME_MAX_LEN - 10);
	e->path[NAME_MAX_LEN - 10] = 0;
	assert_int_equal(folder_conflict_name(e, out), SHOAL_ETOOBIG);
	for (size_t i = 0; i < FOLDER_PATH_MAX - 20; i++)
		e->path[i] = i % 100 == 99 ? '/' : 'p';
	e->path[FOLDER_PATH_MAX - 20] = 0;
	assert_int_equal(folder_conflict_name(e, out), SHOAL_ETOOBIG);
	/* What is not a copy's name. */
	assert_int_equal(folder_is_conflict_name("report.txt"), 0);
	assert_int_equal(folder_is_conflict_name("a.conflict-x.txt"), 0);
	assert_int_equal(folder_is_conflict_name("a.conflict-20251204-101502-0a1b2c3d-9f8e7"), 0);
	assert_int_equal(folder_is_conflict_name("a.conflict-20251204-101502-0a1b2c3d-9f8e7dx"), 0);
	assert_int_equal(folder_is_conflict_name("a.conflict-20251204-101502-0A1B2C3D-9f8e7d"), 0);
	assert_int_equal(
		folder_is_conflict_name("d.conflict-20251204-101502-0a1b2c3d-9f8e7d/file.txt"), 0);
	assert_int_equal(
		folder_is_conflict_name("d/a.conflict-1.conflict-20251204-101502-0a1b2c3d-9f8e7d"),
		1);
	free(e);
}

/* ---- batches ---- */

static void sign_a(struct fixture *fx, const struct folder_entry *rows, size_t n,
		   const uint8_t prev[SHA256_LEN], struct buf *out, uint8_t hash[SHA256_LEN])
{
	assert_int_equal(folder_batch_sign(fx->folder, fx->a.key, fx->a.der, fx->a.der_len, 11,
					   prev, 1764843302000000, rows, n, out, hash),
			 0);
}

/* Packs m into out signed by key the way folder_batch_sign() does, whatever
 * m holds: what a member breaking the rules could send. */
static void forge(EVP_PKEY *key, Shoal__FolderBatch *m, struct buf *out)
{
	uint8_t sig[IDENTITY_SIG_LEN], hash[SHA256_LEN];
	uint8_t bytes[sizeof(FOLDER_DOMAIN) + SHA256_LEN];
	m->signature.data = NULL;
	m->signature.len = 0;
	size_t n = shoal__folder_batch__get_packed_size(m);
	uint8_t *p = malloc(n + 1);
	assert_non_null(p);
	shoal__folder_batch__pack(m, p);
	sha256(p, n, hash);
	free(p);
	memcpy(bytes, FOLDER_DOMAIN, sizeof(FOLDER_DOMAIN));
	memcpy(bytes + sizeof(FOLDER_DOMAIN), hash, SHA256_LEN);
	assert_int_equal(identity_sign(key, bytes, sizeof(bytes), sig), 0);
	m->signature.data = sig;
	m->signature.len = IDENTITY_SIG_LEN;
	n = shoal__folder_batch__get_packed_size(m);
	buf_reset(out);
	buf_grow(out, n);
	shoal__folder_batch__pack(m, out->data);
	buf_setlen(out, n);
	m->signature.data = NULL;
	m->signature.len = 0;
}

static int open_a(struct fixture *fx, const struct buf *b, const char **why)
{
	struct folder_batch ob;
	int err = folder_batch_open(b->data, b->len, fx->folder, fx->a.ca_cert, &ob, why);
	if (!err)
		folder_batch_free(&ob);
	return err;
}

/* Three rows, seq first.. : a file, a directory, a link. */
static struct folder_entry *three_rows(uint64_t first)
{
	struct folder_entry *rows = calloc(3, sizeof(*rows));
	assert_non_null(rows);
	file_row(&rows[0], "docs/a.txt", first, 1);
	file_row(&rows[1], "docs", first + 1, 2);
	rows[1].kind = FOLDER_DIR;
	rows[1].has_content = 0;
	memset(rows[1].content_id, 0, SHA256_LEN);
	memset(&rows[1].cap, 0, sizeof(rows[1].cap));
	rows[1].mode = 0755;
	rows[2] = rows[1];
	rows[2].seq = first + 2;
	rows[2].kind = FOLDER_SYMLINK;
	snprintf(rows[2].path, sizeof(rows[2].path), "docs/link");
	snprintf(rows[2].target, sizeof(rows[2].target), "a.txt");
	return rows;
}

static void test_batch_round_trip(void **state)
{
	struct fixture *fx = *state;
	struct folder_entry *rows = three_rows(5), *back = malloc(sizeof(*back));
	struct buf b = BUF_INIT, b2 = BUF_INIT;
	uint8_t hash[SHA256_LEN], hash2[SHA256_LEN];
	struct folder_batch ob;
	const char *why = NULL;
	assert_non_null(back);
	sign_a(fx, rows, 3, fx->zeros, &b, hash);
	assert_true(b.len <= FOLDER_BATCH_MAX);
	assert_int_equal(folder_batch_open(b.data, b.len, fx->folder, fx->a.ca_cert, &ob, &why), 0);
	assert_memory_equal(ob.author, fx->a.id, NODE_ID_LEN);
	assert_memory_equal(ob.hash, hash, SHA256_LEN);
	assert_memory_equal(ob.prev_hash, fx->zeros, SHA256_LEN);
	assert_true(ob.index_id == 11);
	assert_true(ob.first_seq == 5 && ob.last_seq == 7);
	assert_true(ob.time_us == 1764843302000000);
	for (size_t i = 0; i < 3; i++) {
		assert_int_equal(folder_batch_row(&ob, i, back), 0);
		assert_memory_equal(back, &rows[i], sizeof(*back));
	}
	assert_int_equal(folder_batch_row(&ob, 3, back), SHOAL_EPROTO);
	folder_batch_free(&ob);
	assert_null(ob.msg);
	folder_batch_free(&ob); /* twice is fine */
	/* The same batch signs to the same bytes; the next one chains to it. */
	sign_a(fx, rows, 3, fx->zeros, &b2, hash2);
	assert_int_equal(b2.len, b.len);
	assert_memory_equal(b2.data, b.data, b.len);
	free(rows);
	rows = three_rows(8);
	sign_a(fx, rows, 3, hash, &b2, hash2);
	assert_memory_not_equal(hash2, hash, SHA256_LEN);
	assert_int_equal(folder_batch_open(b2.data, b2.len, fx->folder, fx->a.ca_cert, &ob, &why),
			 0);
	assert_memory_equal(ob.prev_hash, hash, SHA256_LEN);
	assert_memory_equal(ob.hash, hash2, SHA256_LEN);
	assert_true(ob.first_seq == 8 && ob.last_seq == 10);
	folder_batch_free(&ob);
	/* One row is a batch. */
	sign_a(fx, rows + 2, 1, hash, &b2, hash2);
	assert_int_equal(open_a(fx, &b2, NULL), 0);
	buf_release(&b);
	buf_release(&b2);
	free(rows);
	free(back);
}

static void test_batch_tampered(void **state)
{
	struct fixture *fx = *state;
	struct folder_entry *rows = three_rows(1);
	struct buf b = BUF_INIT;
	uint8_t hash[SHA256_LEN];
	sign_a(fx, rows, 1, fx->zeros, &b, hash);
	/* Any bit changed anywhere: the batch is refused. */
	for (size_t i = 0; i < b.len; i++) {
		for (unsigned bit = 0; bit < 8; bit++) {
			b.data[i] ^= (uint8_t)(1u << bit);
			assert_int_not_equal(open_a(fx, &b, NULL), 0);
			b.data[i] ^= (uint8_t)(1u << bit);
		}
	}
	assert_int_equal(open_a(fx, &b, NULL), 0);
	/* Cut short, or with a byte more. */
	for (size_t n = 0; n < b.len; n += 7) {
		struct folder_batch ob;
		assert_int_not_equal(
			folder_batch_open(b.data, n, fx->folder, fx->a.ca_cert, &ob, NULL), 0);
	}
	buf_add(&b, "\x00", 1);
	assert_int_not_equal(open_a(fx, &b, NULL), 0);
	buf_release(&b);
	free(rows);
}

static void test_batch_refused(void **state)
{
	struct fixture *fx = *state;
	struct folder_entry *rows = three_rows(1);
	struct buf b = BUF_INIT;
	uint8_t hash[SHA256_LEN], other[FOLDER_ID_LEN];
	struct folder_batch ob;
	const char *why = NULL;
	sign_a(fx, rows, 3, fx->zeros, &b, hash);
	/* Another folder. */
	memcpy(other, fx->folder, FOLDER_ID_LEN);
	other[0] ^= 1;
	assert_int_equal(folder_batch_open(b.data, b.len, other, fx->a.ca_cert, &ob, &why),
			 SHOAL_EPROTO);
	assert_non_null(strstr(why, "folder"));
	/* Another network's member, checked against a's CA. */
	assert_int_equal(folder_batch_sign(fx->folder, fx->b.key, fx->b.der, fx->b.der_len, 1,
					   fx->zeros, 1, rows, 3, &b, hash),
			 0);
	assert_int_equal(folder_batch_open(b.data, b.len, fx->folder, fx->b.ca_cert, &ob, NULL), 0);
	folder_batch_free(&ob);
	assert_int_equal(open_a(fx, &b, &why), SHOAL_EIDENTITY);
	assert_non_null(strstr(why, "certificate"));
	/* a's certificate, b's key. */
	assert_int_equal(folder_batch_sign(fx->folder, fx->b.key, fx->a.der, fx->a.der_len, 1,
					   fx->zeros, 1, rows, 3, &b, hash),
			 0);
	assert_int_equal(open_a(fx, &b, &why), SHOAL_EIDENTITY);
	assert_string_equal(why, "bad signature");
	/* An expired certificate of a's network. */
	X509 *old = NULL;
	unsigned char *der = NULL;
	assert_int_equal(
		identity_issue_cert(fx->a.ca_key, fx->a.ca_cert, fx->a.key, -7200, -3600, &old), 0);
	int der_len = i2d_X509(old, &der);
	assert_true(der_len > 0);
	assert_int_equal(folder_batch_sign(fx->folder, fx->a.key, der, (size_t)der_len, 1,
					   fx->zeros, 1, rows, 3, &b, hash),
			 0);
	assert_int_equal(open_a(fx, &b, NULL), SHOAL_EIDENTITY);
	OPENSSL_free(der);
	X509_free(old);
	/* Too large, and not a batch. */
	uint8_t *big = calloc(1, FOLDER_BATCH_MAX + 1);
	assert_non_null(big);
	assert_int_equal(
		folder_batch_open(big, FOLDER_BATCH_MAX + 1, fx->folder, fx->a.ca_cert, &ob, NULL),
		SHOAL_ETOOBIG);
	memset(big, 0xff, 16);
	assert_int_equal(folder_batch_open(big, 16, fx->folder, fx->a.ca_cert, &ob, NULL),
			 SHOAL_EPROTO);
	free(big);

	/* Validly signed messages that break a rule. */
	Shoal__FolderEntry pe[4];
	Shoal__FolderEntry *pp[FOLDER_BATCH_ENTRIES_MAX + 1];
	struct folder_entry_pb *store = calloc(4, sizeof(*store));
	assert_non_null(store);
	struct folder_entry *four = calloc(4, sizeof(*four));
	assert_non_null(four);
	memcpy(four, rows, 3 * sizeof(*four));
	file_row(&four[3], "z", 4, 9);
	for (size_t i = 0; i < 4; i++) {
		folder_entry_to_pb(&four[i], &pe[i], &store[i]);
		pp[i] = &pe[i];
	}
	Shoal__FolderBatch m = SHOAL__FOLDER_BATCH__INIT;
	m.folder_id.data = fx->folder;
	m.folder_id.len = FOLDER_ID_LEN;
	m.author_cert.data = fx->a.der;
	m.author_cert.len = fx->a.der_len;
	m.prev_hash.data = fx->zeros;
	m.prev_hash.len = SHA256_LEN;
	m.entries = pp;
	m.n_entries = 4;
	forge(fx->a.key, &m, &b);
	assert_int_equal(open_a(fx, &b, NULL), 0); /* the forger itself is sound */
	/* A gap in the seqs is fine (a row changed twice before a batch was
	 * made keeps only its last seq); seqs going down or the same seq twice
	 * are not. */
	pe[2].seq = 4;
	pe[3].seq = 5;
	forge(fx->a.key, &m, &b);
	assert_int_equal(open_a(fx, &b, NULL), 0);
	pe[2].seq = 2;
	pe[3].seq = 3;
	forge(fx->a.key, &m, &b);
	assert_int_equal(open_a(fx, &b, NULL), SHOAL_EPROTO);
	pe[2].seq = 3;
	pe[3].seq = 3;
	forge(fx->a.key, &m, &b);
	assert_int_equal(open_a(fx, &b, NULL), SHOAL_EPROTO);
	pe[3].seq = 4;
	/* One bad row refuses the whole batch. */
	pe[3].path = "../escape";
	forge(fx->a.key, &m, &b);
	assert_int_equal(open_a(fx, &b, NULL), SHOAL_EPROTO);
	pe[3].path = four[3].path;
	/* No rows, too many rows. */
	m.n_entries = 0;
	forge(fx->a.key, &m, &b);
	assert_int_equal(open_a(fx, &b, NULL), SHOAL_EPROTO);
	for (size_t i = 0; i <= FOLDER_BATCH_ENTRIES_MAX; i++)
		pp[i] = &pe[0];
	m.n_entries = FOLDER_BATCH_ENTRIES_MAX + 1;
	forge(fx->a.key, &m, &b);
	assert_int_equal(open_a(fx, &b, NULL), SHOAL_ETOOBIG);
	for (size_t i = 0; i < 4; i++)
		pp[i] = &pe[i];
	m.n_entries = 4;
	/* A prev_hash, folder id or certificate of the wrong length. */
	m.prev_hash.len = SHA256_LEN - 1;
	forge(fx->a.key, &m, &b);
	assert_int_equal(open_a(fx, &b, NULL), SHOAL_EPROTO);
	m.prev_hash.len = SHA256_LEN;
	m.folder_id.len = FOLDER_ID_LEN - 1;
	forge(fx->a.key, &m, &b);
	assert_int_equal(open_a(fx, &b, NULL), SHOAL_EPROTO);
	m.folder_id.len = FOLDER_ID_LEN;
	m.author_cert.len = 0;
	forge(fx->a.key, &m, &b);
	assert_int_equal(open_a(fx, &b, NULL), SHOAL_EPROTO);
	free(store);
	free(four);
	buf_release(&b);
	free(rows);
}

static void test_batch_sign_refused(void **state)
{
	struct fixture *fx = *state;
	struct folder_entry *rows = three_rows(1);
	struct buf b = BUF_INIT;
	uint8_t hash[SHA256_LEN];
	/* No rows, rows out of order, a bad row, no certificate. */
	assert_int_equal(folder_batch_sign(fx->folder, fx->a.key, fx->a.der, fx->a.der_len, 1,
					   fx->zeros, 1, rows, 0, &b, hash),
			 SHOAL_EUSAGE);
	rows[2].seq = 2;
	assert_int_equal(folder_batch_sign(fx->folder, fx->a.key, fx->a.der, fx->a.der_len, 1,
					   fx->zeros, 1, rows, 3, &b, hash),
			 SHOAL_EUSAGE);
	rows[2].seq = 3;
	rows[1].mode = 04755;
	assert_int_equal(folder_batch_sign(fx->folder, fx->a.key, fx->a.der, fx->a.der_len, 1,
					   fx->zeros, 1, rows, 3, &b, hash),
			 SHOAL_EUSAGE);
	rows[1].mode = 0755;
	assert_int_equal(folder_batch_sign(fx->folder, fx->a.key, fx->a.der, 0, 1, fx->zeros, 1,
					   rows, 3, &b, hash),
			 SHOAL_EUSAGE);
	free(rows);
	/* Too many rows; too many bytes. */
	size_t n = FOLDER_BATCH_ENTRIES_MAX + 1;
	rows = calloc(n, sizeof(*rows));
	assert_non_null(rows);
	for (size_t i = 0; i < n; i++)
		file_row(&rows[i], "f", i + 1, 1);
	assert_int_equal(folder_batch_sign(fx->folder, fx->a.key, fx->a.der, fx->a.der_len, 1,
					   fx->zeros, 1, rows, n, &b, hash),
			 SHOAL_ETOOBIG);
	for (size_t i = 0; i < 300; i++) {
		rows[i].kind = FOLDER_SYMLINK;
		rows[i].has_content = 0;
		memset(rows[i].target, 't', FOLDER_PATH_MAX);
	}
	assert_int_equal(folder_batch_sign(fx->folder, fx->a.key, fx->a.der, fx->a.der_len, 1,
					   fx->zeros, 1, rows, 300, &b, hash),
			 SHOAL_ETOOBIG);
	assert_int_equal(folder_batch_sign(fx->folder, fx->a.key, fx->a.der, fx->a.der_len, 1,
					   fx->zeros, 1, rows, 200, &b, hash),
			 0);
	assert_true(b.len <= FOLDER_BATCH_MAX);
	assert_int_equal(open_a(fx, &b, NULL), 0);
	free(rows);
	buf_release(&b);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
	log_init(LOG_LEVEL_ERROR, 0);
	const struct CMUnitTest tests[] = {
		T(test_invite_round_trip),
		T(test_invite_refused),
		T(test_invite_replicas),
		T(test_journal),
		T(test_folder_id_text),
		T(test_keys),
		T(test_proof),
		T(test_short_id),
		T(test_vv_compare),
		T(test_vv_merge),
		T(test_vv_bump),
		T(test_vv_encode),
		T(test_entry_check),
		T(test_entry_pb),
		T(test_decide_ordered),
		T(test_decide_merge),
		T(test_decide_prev_content),
		T(test_decide_conflict),
		T(test_conflict_name),
		T(test_batch_round_trip),
		T(test_batch_tampered),
		T(test_batch_refused),
		T(test_batch_sign_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
