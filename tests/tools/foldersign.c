/*
 * foldersign: signs a collaborative folder's index batch (a FolderBatch,
 * proto/folder.h) with a node's key, as the folder module does, and prints
 * the packed batch in hex on stdout, for the hostile peers of
 * tests/cli/hostile.py (Python's standard library has no Ed25519). It signs
 * whatever it is asked to; the rows are made up here:
 *
 *   foldersign KEY CERT FOLDER_ID [--delete] [--dir] [--over NODE_ID]...
 *              [--counters N] [--seq N] [--index-id N] [--prev HEX] [--bad-sig]
 *              PATH...
 *
 * KEY and CERT are PEM files (a node's node.key and node.crt, or testcert's);
 * FOLDER_ID is the folder id as `shoal folder list` prints it. Each PATH
 * becomes one row, in order, with seq N, N+1, ... (N defaults to 1): a
 * live file of random content (a capability naming nothing), or with
 * --delete a tombstone. Each row's version vector has the signer's counter
 * at now (Unix seconds), and for each --over NODE_ID (base32) that member's
 * counter a day ahead, so the row comes after whatever that member wrote;
 * --counters N pads the vector with made-up members (ids 1, 2, ...) to N
 * counters (FOLDER_VV_MAX at most). With --dir the rows are directories.
 * The batch is chained to --prev (zeros: the author's first batch) under
 * --index-id (default 1). With --bad-sig one byte of the signature is
 * flipped after signing. A second line gives the batch's hash in hex (what
 * the next batch's --prev names).
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
#include "proto/folder.h"
#include "util/buf.h"
#include "util/encoding.h"
#include "util/error.h"

#define OVER_MAX 8
#define DAY	 (24ULL * 3600)

static const char usage[] = "usage: foldersign KEY CERT FOLDER_ID [--delete] [--dir] "
			    "[--over NODE_ID]... [--counters N] [--seq N] [--index-id N] "
			    "[--prev HEX] [--bad-sig] PATH...\n";

static int parse_num(const char *s, unsigned long long *out)
{
	char *end;
	errno = 0;
	*out = strtoull(s, &end, 10);
	return errno || end == s || *end ? -1 : 0;
}

static int counter_cmp(const void *a, const void *b)
{
	const struct folder_counter *x = a, *y = b;
	return x->id < y->id ? -1 : x->id > y->id;
}

int main(int argc, char **argv)
{
	uint8_t fid[FOLDER_ID_LEN], prev[SHA256_LEN] = {0}, self[NODE_ID_LEN];
	uint8_t over[OVER_MAX][NODE_ID_LEN];
	size_t nover = 0, npaths = 0;
	const char **paths = calloc((size_t)argc, sizeof(*paths));
	unsigned long long seq = 1, index_id = 1;
	unsigned long long ncounters = 0;
	int deleted = 0, dir = 0, bad_sig = 0, status = 1, err, len;
	EVP_PKEY *key = NULL;
	X509 *cert = NULL;
	unsigned char *der = NULL;
	struct folder_entry *rows = NULL;
	struct buf out;
	uint8_t hash[SHA256_LEN];

	buf_init(&out);
	if (argc < 5 || !paths || folder_id_parse(argv[3], fid)) {
		fputs(usage, stderr);
		return 2;
	}
	for (int i = 4; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		unsigned long long num;
		if (!strcmp(a, "--delete")) {
			deleted = 1;
		} else if (!strcmp(a, "--dir")) {
			dir = 1;
		} else if (!strcmp(a, "--counters") && v && !parse_num(v, &num) &&
			   num <= FOLDER_VV_MAX) {
			ncounters = num;
			i++;
		} else if (!strcmp(a, "--bad-sig")) {
			bad_sig = 1;
		} else if (!strcmp(a, "--over") && v && nover < OVER_MAX &&
			   !node_id_parse(v, over[nover])) {
			nover++;
			i++;
		} else if (!strcmp(a, "--seq") && v && !parse_num(v, &num) && num > 0) {
			seq = num;
			i++;
		} else if (!strcmp(a, "--index-id") && v && !parse_num(v, &num)) {
			index_id = num;
			i++;
		} else if (!strcmp(a, "--prev") && v &&
			   !hex_decode(prev, sizeof(prev), v, strlen(v))) {
			i++;
		} else if (a[0] != '-') {
			paths[npaths++] = a;
		} else {
			fputs(usage, stderr);
			return 2;
		}
	}
	if (!npaths) {
		fputs(usage, stderr);
		return 2;
	}
	if ((err = identity_load_key(argv[1], &key)) ||
	    (err = identity_load_cert(argv[2], &cert)) || (err = node_id_from_pkey(key, self))) {
		fprintf(stderr, "foldersign: %s\n", shoal_strerror(err));
		goto out;
	}
	len = i2d_X509(cert, &der);
	if (len <= 0) {
		fprintf(stderr, "foldersign: cannot encode %s\n", argv[2]);
		goto out;
	}
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	uint64_t now = (uint64_t)ts.tv_sec;
	int64_t now_ns = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
	rows = calloc(npaths, sizeof(*rows));
	if (!rows)
		goto out;
	for (size_t i = 0; i < npaths; i++) {
		struct folder_entry *e = &rows[i];
		snprintf(e->path, sizeof(e->path), "%s", paths[i]);
		e->kind = dir ? FOLDER_DIR : FOLDER_FILE;
		e->modified_by = folder_short_id(self);
		e->vv.c[e->vv.n++] = (struct folder_counter){e->modified_by, now};
		for (size_t k = 0; k < nover; k++)
			e->vv.c[e->vv.n++] =
				(struct folder_counter){folder_short_id(over[k]), now + DAY};
		for (uint64_t id = 1; e->vv.n < ncounters; id++)
			e->vv.c[e->vv.n++] = (struct folder_counter){id, now};
		qsort(e->vv.c, e->vv.n, sizeof(e->vv.c[0]), counter_cmp);
		e->deleted = deleted;
		if (!deleted && !dir) {
			e->has_content = 1;
			if (random_bytes(e->content_id, sizeof(e->content_id)) ||
			    random_bytes(&e->cap, sizeof(e->cap)))
				goto out;
			e->size = 1;
		}
		e->mode = dir ? 0755 : 0644;
		e->mtime_ns = now_ns;
		e->seq = seq + i;
	}
	err = folder_batch_sign(fid, key, der, (size_t)len, index_id, prev,
				(int64_t)(now_ns / 1000), rows, npaths, &out, hash);
	if (err) {
		fprintf(stderr, "foldersign: cannot sign: %s\n", shoal_strerror(err));
		goto out;
	}
	/* The signature is the packed batch's last field: its last 64 bytes. */
	if (bad_sig)
		out.data[out.len - IDENTITY_SIG_LEN / 2] ^= 0x01;
	char *hex = malloc(2 * out.len + 1);
	char hhex[2 * SHA256_LEN + 1];
	if (hex) {
		hex_encode(hex, out.data, out.len);
		hex_encode(hhex, hash, sizeof(hash));
		printf("%s\n%s\n", hex, hhex);
		status = 0;
	}
	free(hex);
out:
	buf_release(&out);
	free(rows);
	free(paths);
	OPENSSL_free(der);
	X509_free(cert);
	EVP_PKEY_free(key);
	return status;
}
