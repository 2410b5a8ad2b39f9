/*
 * libFuzzer harness for collaborative folders (src/proto/folder.h): the same
 * input goes to folder_batch_open() (a FolderBatch as a member sends it,
 * checked against the fixed CA of fuzz/folder_net.h and its folder id), to
 * folder_invite_parse() and folder_id_parse() (as text, cut at its first NUL)
 * and to folder_vv_decode() (a vector as the index stores it). The
 * properties checked:
 *   - an opened batch holds last_seq - first_seq + 1 rows, each of which
 *     folder_batch_row() gives, folder_entry_check() passes, survives
 *     folder_entry_to_pb() and from_pb unchanged, is decided FOLDER_KEEP
 *     against itself, and has a conflict name that folder_is_conflict_name()
 *     knows (when it has one); the batch is refused for another folder id;
 *     its rows, signed again with the member's key, open again with the same
 *     rows;
 *   - a parsed invite formats to a text that parses back to it;
 *   - a decoded vector is valid, encodes to exactly the input, equals itself
 *     and its merge with itself, and stays valid when bumped, coming after
 *     the old one (unless the bumped counter is already UINT64_MAX);
 *   - read as a journal (proto/folderjournal.h), every batch lies inside the
 *     input and is at most FOLDER_BATCH_MAX bytes, and the walk ends; read
 *     as a journal's pointer under a fixed folder's key, one that opens
 *     seals again and opens to the same.
 * A broken property aborts.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "folder_net.h"
#include "proto/folder.h"
#include "proto/folderjournal.h"
#include "util/buf.h"
#include "util/error.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static X509 *ca_cert;
static EVP_PKEY *node_key;
static uint8_t *node_der;
static size_t node_der_len;
static struct folder_entry row, again;

static void fail(const char *what)
{
	fprintf(stderr, "fuzz_folder: %s\n", what);
	abort();
}

static void setup(void)
{
	if (ca_cert)
		return;
	BIO *bio = BIO_new_mem_buf(folder_net_ca_pem, -1);
	ca_cert = bio ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
	BIO_free(bio);
	bio = BIO_new_mem_buf(folder_net_key_pem, -1);
	node_key = bio ? PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL) : NULL;
	BIO_free(bio);
	bio = BIO_new_mem_buf(folder_net_cert_pem, -1);
	X509 *cert = bio ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
	BIO_free(bio);
	int len = cert ? i2d_X509(cert, &node_der) : -1;
	X509_free(cert);
	if (!ca_cert || !node_key || len <= 0)
		fail("the fixed network does not load");
	node_der_len = (size_t)len;
}

static void check_row(const struct folder_entry *e)
{
	Shoal__FolderEntry m;
	struct folder_entry_pb store;
	char name[FOLDER_PATH_MAX + 1];

	if (folder_entry_check(e, NULL) != 0)
		fail("an opened row breaks the rules");
	folder_entry_to_pb(e, &m, &store);
	if (folder_entry_from_pb(&again, &m, NULL) != 0 || memcmp(e, &again, sizeof(*e)))
		fail("a row changed across to_pb and from_pb");
	if (folder_decide(e, e) != FOLDER_KEEP)
		fail("a row is not kept against itself");
	if (folder_conflict_name(e, name) == 0 &&
	    (strlen(name) > FOLDER_PATH_MAX || !folder_is_conflict_name(name)))
		fail("a conflict name is not one");
}

static void check_batch(const uint8_t *data, size_t size)
{
	struct folder_batch b, b2;
	uint8_t other[FOLDER_ID_LEN], hash[SHA256_LEN];
	struct buf out = BUF_INIT;

	if (folder_batch_open(data, size, folder_net_id, ca_cert, &b, NULL) != 0)
		return;
	size_t n = b.msg->n_entries;
	if (n == 0 || n > FOLDER_BATCH_ENTRIES_MAX || b.last_seq < b.first_seq ||
	    b.last_seq - b.first_seq + 1 < n)
		fail("an opened batch's seqs do not cover its rows");
	struct folder_entry *rows = calloc(n, sizeof(*rows));
	if (!rows)
		fail("memory");
	for (size_t i = 0; i < n; i++) {
		if (folder_batch_row(&b, i, &row) != 0)
			fail("a row of an opened batch does not open");
		if ((i == 0 && row.seq != b.first_seq) || (i > 0 && row.seq <= rows[i - 1].seq) ||
		    (i == n - 1 && row.seq != b.last_seq))
			fail("the rows' seqs do not increase from first_seq to last_seq");
		check_row(&row);
		rows[i] = row;
	}
	if (folder_batch_row(&b, n, &row) == 0)
		fail("a row past the batch");
	memcpy(other, folder_net_id, FOLDER_ID_LEN);
	other[size % FOLDER_ID_LEN] ^= 1;
	if (folder_batch_open(data, size, other, ca_cert, &b2, NULL) == 0)
		fail("a batch opened for another folder");
	if (folder_batch_sign(folder_net_id, node_key, node_der, node_der_len, b.index_id,
			      b.prev_hash, b.time_us, rows, n, &out, hash) == 0) {
		if (folder_batch_open(out.data, out.len, folder_net_id, ca_cert, &b2, NULL) != 0)
			fail("rows signed again do not open");
		if (memcmp(b2.hash, hash, SHA256_LEN) || b2.msg->n_entries != n)
			fail("rows signed again open differently");
		for (size_t i = 0; i < n; i++)
			if (folder_batch_row(&b2, i, &row) != 0 ||
			    memcmp(&row, &rows[i], sizeof(row)))
				fail("a row changed when signed again");
		folder_batch_free(&b2);
	}
	buf_release(&out);
	free(rows);
	folder_batch_free(&b);
}

static void check_text(const uint8_t *data, size_t size)
{
	char s[FOLDER_INVITE_MAX + 2], text[FOLDER_INVITE_MAX];
	struct folder_invite inv, back;
	uint8_t id[FOLDER_ID_LEN];
	char id_text[FOLDER_ID_STR_LEN + 1];

	size_t n = size < sizeof(s) - 1 ? size : sizeof(s) - 1;
	memcpy(s, data, n);
	s[n] = 0;
	if (folder_invite_parse(s, &inv) == 0) {
		if (strlen(inv.label) > FOLDER_LABEL_MAX)
			fail("a parsed label is too long");
		folder_invite_format(&inv, text);
		if (strlen(text) >= FOLDER_INVITE_MAX || folder_invite_parse(text, &back) != 0 ||
		    memcmp(&inv, &back, sizeof(inv)))
			fail("an invite changed across format and parse");
	}
	if (folder_id_parse(s, id) == 0) {
		folder_id_format(id, id_text);
		if (strcasecmp(id_text, s))
			fail("a folder id changed across parse and format");
	}
}

static void check_vv(const uint8_t *data, size_t size)
{
	struct folder_vv vv, merged;
	uint8_t bytes[16 * FOLDER_VV_MAX];

	if (folder_vv_decode(&vv, data, size) != 0)
		return;
	if (!folder_vv_valid(&vv) || folder_vv_encode(&vv, bytes) != size ||
	    memcmp(bytes, data, size))
		fail("a vector changed across decode and encode");
	if (folder_vv_compare(&vv, &vv) != FOLDER_EQUAL)
		fail("a vector is not equal to itself");
	if (folder_vv_merge(&merged, &vv, &vv) != 0 ||
	    folder_vv_compare(&merged, &vv) != FOLDER_EQUAL)
		fail("a vector merged with itself changed");
	size_t at = vv.n ? size % vv.n : 0;
	uint64_t self = vv.n ? vv.c[at].id : 7;
	enum folder_order want = vv.n && vv.c[at].value == UINT64_MAX ? FOLDER_EQUAL : FOLDER_AFTER;
	if (folder_vv_bump(&merged, self, 1764843302) != 0 || !folder_vv_valid(&merged) ||
	    folder_vv_compare(&merged, &vv) != want)
		fail("a bumped vector is not after the old one");
}

static void check_journal(const uint8_t *data, size_t size)
{
	size_t off = 0, len = 0, steps = 0;
	const uint8_t *batch;
	int r;
	while ((r = folderjournal_next(data, size, &off, &batch, &len)) == 1) {
		if (batch < data || batch + len > data + size || len > FOLDER_BATCH_MAX || !len)
			fail("a journal's batch outside the input");
		if (++steps > size)
			fail("a journal walk that does not end");
	}
	if (r != 0 && r != SHOAL_EPROTO)
		fail("a journal walk ending otherwise than at its end or refused");
	static struct folder_keys keys;
	static int have_keys;
	if (!have_keys) {
		struct folder_invite inv = {.label = "fuzz"};
		memset(inv.id, 7, sizeof(inv.id));
		memset(inv.secret, 9, sizeof(inv.secret));
		folder_keys_derive(&inv, &keys);
		have_keys = 1;
	}
	struct folderjournal_pointer p, back;
	if (folderjournal_pointer_open(&keys, data, size, &p))
		return;
	struct buf b = BUF_INIT;
	if (folderjournal_pointer_seal(&keys, &p, &b) ||
	    folderjournal_pointer_open(&keys, b.data, b.len, &back) || memcmp(&p, &back, sizeof(p)))
		fail("an opened pointer does not seal and open again to the same");
	buf_release(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	setup();
	check_journal(data, size);
	check_batch(data, size);
	check_text(data, size);
	check_vv(data, size);
	return 0;
}
