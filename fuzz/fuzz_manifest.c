/*
 * libFuzzer harness for the manifest codecs (src/proto/manifest.h), which parse
 * decrypted chunk bytes that came from a peer and so must survive any input.
 * Each input goes to manifest_decode(), chunklist_decode() and, as a listing
 * chunk, manifest_record_decode() with the listing check; whatever
 * decodes must name only safe paths (directory manifests) and re-encode, decode again to the same
 * value, and re-encode to the same bytes (the encoders are deterministic); what fails must leave
 * nothing behind. A broken property aborts. With fuzz/replay.c the same file replays the committed
 * corpus in normal builds.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/manifest.h"
#include "util/buf.h"
#include "util/error.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fail(const char *what, int err)
{
	fprintf(stderr, "fuzz_manifest: %s (%d: %s)\n", what, err, shoal_strerror(err));
	abort();
}

static int refs_equal(const struct chunk_ref *a, const struct chunk_ref *b, size_t n)
{
	/* Field by field: struct chunk_ref may carry padding. */
	for (size_t i = 0; i < n; i++) {
		if (memcmp(a[i].id, b[i].id, sizeof(a[i].id)) ||
		    memcmp(a[i].key, b[i].key, sizeof(a[i].key)) || a[i].size != b[i].size)
			return 0;
	}
	return 1;
}

static int opt_equal(const char *a, const char *b)
{
	return a && b ? !strcmp(a, b) : a == b;
}

static int entries_equal(const struct dir_entry *a, const struct dir_entry *b, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (strcmp(a[i].path, b[i].path) || a[i].kind != b[i].kind ||
		    a[i].mode != b[i].mode || a[i].mtime != b[i].mtime || a[i].size != b[i].size)
			return 0;
	}
	return 1;
}

/* A path never leads out of its tree. */
static void check_path(const char *p)
{
	{
		size_t len = strlen(p);
		if (!len || p[0] == '/' || p[len - 1] == '/' || strstr(p, "//") ||
		    !strcmp(p, "..") || !strncmp(p, "../", 3) || strstr(p, "/../") ||
		    (len >= 3 && !strcmp(p + len - 3, "/..")) || !strcmp(p, ".") ||
		    !strncmp(p, "./", 2) || strstr(p, "/./"))
			fail("a decoder accepted an unsafe path", 0);
	}
}

static void check_paths(const struct manifest *m)
{
	for (size_t i = 0; i < m->nentries; i++)
		check_path(m->entries[i].path);
}

static int manifests_equal(const struct manifest *a, const struct manifest *b)
{
	return a->version == b->version && a->kind == b->kind && a->size == b->size &&
	       a->mode == b->mode && a->mtime == b->mtime && a->nchunks == b->nchunks &&
	       a->nlists == b->nlists && a->nentries == b->nentries && a->nlisting == b->nlisting &&
	       a->entry_count == b->entry_count && refs_equal(a->chunks, b->chunks, a->nchunks) &&
	       refs_equal(a->lists, b->lists, a->nlists) &&
	       refs_equal(a->listing, b->listing, a->nlisting) &&
	       entries_equal(a->entries, b->entries, a->nentries);
}

static void check_manifest(const uint8_t *data, size_t size)
{
	struct manifest first, second;
	struct buf enc = BUF_INIT, reenc = BUF_INIT;
	int err;

	err = manifest_decode(&first, data, size);
	if (err) {
		/* The contract: a failed decode leaves nothing to release. */
		if (err > 0 || first.chunks || first.lists || first.nchunks || first.nlists ||
		    first.entries || first.nentries || first.paths)
			fail("manifest_decode failed without zeroing its output", err);
		return;
	}
	check_paths(&first);
	err = manifest_encode(&first, &enc);
	if (err)
		fail("manifest_encode rejected a decoded manifest", err);
	err = manifest_decode(&second, enc.data, enc.len);
	if (err)
		fail("manifest_decode rejected its own encoding", err);
	if (!manifests_equal(&first, &second))
		fail("manifest changed across encode and decode", 0);
	err = manifest_encode(&second, &reenc);
	if (err)
		fail("manifest_encode rejected a round-tripped manifest", err);
	if (reenc.len != enc.len || memcmp(reenc.data, enc.data, enc.len))
		fail("manifest_encode is not deterministic", 0);
	manifest_release(&first);
	manifest_release(&second);
	buf_release(&enc);
	buf_release(&reenc);
}

static void check_chunklist(const uint8_t *data, size_t size)
{
	struct chunk_ref *first = NULL, *second = NULL;
	size_t nfirst = 0, nsecond = 0;
	struct buf enc = BUF_INIT, reenc = BUF_INIT;
	int err;

	err = chunklist_decode(data, size, &first, &nfirst);
	if (err) {
		if (err > 0 || first || nfirst)
			fail("chunklist_decode failed without clearing its outputs", err);
		return;
	}
	if (nfirst == 0 || nfirst > CHUNKLIST_MAX || !first)
		fail("chunklist_decode returned a count out of range", 0);
	err = chunklist_encode(first, nfirst, &enc);
	if (err)
		fail("chunklist_encode rejected a decoded list", err);
	err = chunklist_decode(enc.data, enc.len, &second, &nsecond);
	if (err)
		fail("chunklist_decode rejected its own encoding", err);
	if (nsecond != nfirst || !refs_equal(first, second, nfirst))
		fail("chunk list changed across encode and decode", 0);
	err = chunklist_encode(second, nsecond, &reenc);
	if (err)
		fail("chunklist_encode rejected a round-tripped list", err);
	if (reenc.len != enc.len || memcmp(reenc.data, enc.data, enc.len))
		fail("chunklist_encode is not deterministic", 0);
	free(first);
	free(second);
	buf_release(&enc);
	buf_release(&reenc);
}

/* The input as a listing chunk: each record that decodes has safe paths and
 * survives encode and decode unchanged; the listing check never accepts an
 * entry under one that is not a directory. */
static void check_records(const uint8_t *data, size_t size)
{
	static struct manifest_record_store store, again;
	struct manifest_listing_check c;
	manifest_listing_check_init(&c);
	size_t pos = 0;
	struct dir_entry e;
	while (pos < size && !manifest_record_decode(data, size, &pos, &e, &store)) {
		check_path(e.path);
		if (e.link)
			check_path(e.link);
		if ((e.kind == MANIFEST_SYMLINK) != !!e.target ||
		    (e.kind == MANIFEST_HARDLINK) != !!e.link ||
		    (e.kind != MANIFEST_FILE && e.size))
			fail("manifest_record_decode accepted a bad entry", 0);
		struct buf enc = BUF_INIT;
		int err = manifest_record_encode(&e, &enc);
		if (err)
			fail("manifest_record_encode rejected a decoded record", err);
		size_t at = 0;
		struct dir_entry d;
		err = manifest_record_decode(enc.data, enc.len, &at, &d, &again);
		if (err || at != enc.len)
			fail("manifest_record_decode rejected its own encoding", err);
		if (strcmp(e.path, d.path) || e.kind != d.kind || e.mode != d.mode ||
		    e.mtime != d.mtime || e.size != d.size || !opt_equal(e.target, d.target) ||
		    !opt_equal(e.link, d.link))
			fail("record changed across encode and decode", 0);
		buf_release(&enc);
		/* An accepted entry's parent was the previous entry only when that
		 * was a directory. */
		size_t plen = strrchr(e.path, '/') ? (size_t)(strrchr(e.path, '/') - e.path) : 0;
		int under_prev = c.count && plen == c.prev_len && !memcmp(e.path, c.prev, plen);
		int bad_parent = under_prev && !c.prev_dir;
		if (manifest_listing_check(&c, &e))
			break;
		if (bad_parent)
			fail("the listing check accepted an entry under a non-directory", 0);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	check_manifest(data, size);
	check_chunklist(data, size);
	check_records(data, size);
	return 0;
}
